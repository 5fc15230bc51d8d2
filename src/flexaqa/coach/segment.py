"""Repetitions of a pose sequence, through :mod:`flexaqa.signal`'s segmentation.

The coach never segments by itself: :func:`signal_segmenter` adapts ``flexaqa.signal.segment_pose`` to the
coach's :data:`~flexaqa.pose_rules.Segmenter` signature, and any other segmenter (ground truth in tests, a
streaming counter) can be passed instead.
"""

from __future__ import annotations

import numpy as np

from flexaqa.coach._types import MissingPieceError
from flexaqa.pose_rules.sequence import PoseSequence, Rep


def _fill_for_trace(joints: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN frames, per coordinate, only to build the 1-D segmentation trace (the
    pose used for error detection keeps its gaps)."""
    x = joints.reshape(len(joints), -1).copy()
    t = np.arange(len(x))
    for k in range(x.shape[1]):
        ok = np.isfinite(x[:, k])
        if ok.any() and not ok.all():
            x[:, k] = np.interp(t, t[ok], x[ok, k])
        elif not ok.any():
            x[:, k] = 0.0
    return x.reshape(joints.shape)


def signal_segmenter(pose: PoseSequence, action, **kw) -> list[Rep]:
    """Repetitions and phases of ``pose`` from ``flexaqa.signal.segment_pose`` (keyword arguments go to it)."""
    try:
        from flexaqa.signal.segment import segment_pose
    except ImportError as exc:  # pragma: no cover - the signal package ships with flexaqa
        raise MissingPieceError(f"repetition segmentation needs flexaqa.signal ({exc})") from exc
    if len(pose) < 8:
        return []
    fps = pose.fps
    seg = segment_pose(_fill_for_trace(pose.joints), fps, action, **kw)
    return reps_from_keyframes(pose, seg.keyframes, seg.phase_names[1:])


def reps_from_keyframes(pose: PoseSequence, keyframes, phase_names) -> list[Rep]:
    """``(R, 3)`` frame indices (start, turn, end) -> :class:`Rep` list with times from ``pose.t``."""
    t = pose.t
    out = []
    for _i, (s, m, e) in enumerate(np.asarray(keyframes, dtype=np.int64).reshape(-1, 3).tolist()):
        s, m, e = (int(np.clip(v, 0, len(t) - 1)) for v in (s, m, e))
        if not s < m < e:
            continue
        a, b, c = float(t[s]), float(t[m]), float(t[e])
        out.append(Rep(len(out), a, c, ((phase_names[0], a, b), (phase_names[1], b, c))))
    return out
