"""Video2EMG targets and inputs as numpy arrays: the sEMG envelope per video frame, per-channel normalisation
with training-split statistics, FLEX-21 pose features, and the per-action mean-envelope baseline.

>>> import numpy as np
>>> fs, fps = 2000.0, 60.0
>>> emg = np.ones((4000, 2)) * [1.0, -2.0]  # 2 s of constant sEMG on two channels
>>> emg_targets(emg, fs, fps, n_frames=120, bandpass=False).shape
(120, 2)
>>> norm = ChannelNorm.fit([("squat", np.array([[1.0, 2.0], [3.0, 6.0]]))])
>>> norm.inverse_transform("squat", norm.transform("squat", np.array([[2.0, 4.0]]))).tolist()
[[2.0, 4.0]]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from flexaqa.errors import BadDataError
from flexaqa.signal import emg_per_frame
from flexaqa.skeleton import J, joint_angle

DEFAULT_WINDOW = 0.1  # s, width of the sliding window that averages the rectified sEMG around each frame


class Video2EMGError(BadDataError, ValueError):
    """Bad input to Video2EMG / Pose2EMG: missing modality, mismatched lengths, unknown action statistics."""


def emg_targets(
    emg,
    fs: float,
    fps: float,
    *,
    n_frames: int,
    start: float = 0.0,
    window: float | None = DEFAULT_WINDOW,
    bandpass: bool = True,
) -> np.ndarray:
    """The Video2EMG target: rectified sEMG ``(N, C)`` averaged in a sliding window around each of ``n_frames``
    frames at ``fps`` (frame ``i`` at ``i / fps`` s; the sEMG starts at ``start`` s on the same clock).

    ``bandpass`` first removes DC, drift and out-of-band noise (20-450 Hz); ``window`` is the averaging width in
    seconds (``None``: one frame period, windows tile the signal). Frames without sEMG around them are NaN.
    Returns ``(n_frames, C)`` float32, one target per frame at any frame rate (the alignment is
    :func:`flexaqa.signal.emg_per_frame`).
    """
    from flexaqa.signal import bandpass as _bandpass  # scipy

    x = np.asarray(emg, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 2:
        raise Video2EMGError(f"sEMG must be (samples, channels) with at least 2 samples, got {x.shape}")
    if bandpass and x.shape[0] > 30:
        x = _bandpass(x - x.mean(axis=0), fs, 20.0, min(450.0, 0.45 * fs))
    window = window if window is None else max(float(window), 1.0 / fps)
    return emg_per_frame(x, fs, fps, n_frames=n_frames, window=window, start=start).astype(np.float32)


@dataclass
class ChannelNorm:
    """Per-channel z-scoring of targets with statistics of the training split, kept per action (the same column
    is a different muscle in different actions, paper Table 8). ``mean_``/``std_`` map action slug -> ``(C,)``."""

    mean_: dict[str, np.ndarray] = field(default_factory=dict)
    std_: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def fit(cls, items: Iterable[tuple[str, np.ndarray]], *, eps: float = 1e-6) -> ChannelNorm:
        """Statistics over every frame of ``(action, targets (T, C))`` pairs (NaN frames ignored)."""
        groups: dict[str, list[np.ndarray]] = {}
        for action, y in items:
            groups.setdefault(action, []).append(np.asarray(y, dtype=float))
        norm = cls()
        for action, ys in groups.items():
            y = np.concatenate(ys)
            norm.mean_[action] = np.nanmean(y, axis=0)
            norm.std_[action] = np.maximum(np.nanstd(y, axis=0), eps)
        return norm

    def _stats(self, action: str) -> tuple[np.ndarray, np.ndarray]:
        if action not in self.mean_:
            raise Video2EMGError(
                f"no training statistics for action {action!r} (trained on: {', '.join(sorted(self.mean_))}); "
                "train on a split that contains this action"
            )
        return self.mean_[action], self.std_[action]

    def transform(self, action: str, y: np.ndarray) -> np.ndarray:
        mean, std = self._stats(action)
        return ((np.asarray(y, dtype=float) - mean) / std).astype(np.float32)

    def inverse_transform(self, action: str, z: np.ndarray) -> np.ndarray:
        mean, std = self._stats(action)
        c = np.asarray(z).shape[-1]
        return np.asarray(z, dtype=float)[..., : len(mean)] * std[:c] + mean[:c]

    def to_dict(self) -> dict:
        return {
            "mean": {k: v.tolist() for k, v in self.mean_.items()},
            "std": {k: v.tolist() for k, v in self.std_.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> ChannelNorm:
        return cls(
            {k: np.asarray(v, float) for k, v in d["mean"].items()},
            {k: np.asarray(v, float) for k, v in d["std"].items()},
        )


# (a, b, c): the angle at b, degrees. Elbows, shoulders (upper arm vs trunk), hips, knees.
POSE_ANGLES: tuple[tuple[str, str, str], ...] = (
    ("right_shoulder", "right_elbow", "right_wrist"),
    ("left_shoulder", "left_elbow", "left_wrist"),
    ("right_elbow", "right_shoulder", "right_hip"),
    ("left_elbow", "left_shoulder", "left_hip"),
    ("spine_shoulder", "right_hip", "right_knee"),
    ("spine_shoulder", "left_hip", "left_knee"),
    ("right_hip", "right_knee", "right_ankle"),
    ("left_hip", "left_knee", "left_ankle"),
)
POSE_FEATURE_DIM = 21 * 3 * 2 + len(POSE_ANGLES) * 2  # positions, velocities, angles, angular velocities


def pose_features(joints, fps: float) -> np.ndarray:
    """FLEX-21 pose ``(T, 21, 3)`` metres -> ``(T, 142)`` float32 Pose2EMG input.

    Columns: joint positions relative to the hip centre (63), their velocities in m/s (63), eight joint angles
    in radians (:data:`POSE_ANGLES`) and their angular velocities in rad/s (8 + 8).
    """
    x = np.asarray(joints, dtype=float)
    if x.ndim != 3 or x.shape[1:] != (21, 3):
        raise Video2EMGError(f"pose must be (T, 21, 3) FLEX-21 joints, got {x.shape}")
    if len(x) == 0:
        raise Video2EMGError("pose has no frames")
    rel = x - 0.5 * (x[:, J["left_hip"]] + x[:, J["right_hip"]])[:, None]  # (T, 21, 3)
    ang = np.radians(
        np.stack([joint_angle(x[:, J[a]], x[:, J[b]], x[:, J[c]]) for a, b, c in POSE_ANGLES], 1)
    )

    def vel(a):
        return np.gradient(a, axis=0) * fps if len(a) > 1 else np.zeros_like(a)

    feats = [rel.reshape(len(x), -1), vel(rel).reshape(len(x), -1), ang, vel(ang)]
    return np.concatenate(feats, axis=1).astype(np.float32)


@dataclass
class MeanEnvelope:
    """Per-action mean envelope over normalised time: the baseline any Video2EMG model must beat.

    ``fit`` stretches each training target ``(T, C)`` to ``bins`` points of its repetition's progress and
    averages per action; ``predict`` stretches the template back to a sample's length (it is told the length,
    so it knows the repetition's duration, but nothing about how the movement went).
    """

    bins: int = 50
    templates_: dict[str, np.ndarray] = field(default_factory=dict)

    @staticmethod
    def _stretch(y: np.ndarray, n: int) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        src = np.linspace(0.0, 1.0, len(y))
        dst = np.linspace(0.0, 1.0, n)
        return np.stack([np.interp(dst, src, y[:, c]) for c in range(y.shape[1])], axis=1)

    def fit(self, items: Iterable[tuple[str, np.ndarray]]) -> MeanEnvelope:
        acc: dict[str, list[np.ndarray]] = {}
        for action, y in items:
            y = np.asarray(y, dtype=float)
            if len(y) >= 2 and np.isfinite(y).all():
                acc.setdefault(action, []).append(self._stretch(y, self.bins))
        self.templates_ = {a: np.mean(v, axis=0) for a, v in acc.items()}
        return self

    def predict(self, action: str, n_frames: int) -> np.ndarray:
        if action not in self.templates_:
            raise Video2EMGError(f"the mean-envelope baseline saw no training sample of {action!r}")
        return self._stretch(self.templates_[action], int(n_frames))
