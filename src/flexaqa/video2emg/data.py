"""Video2EMG examples: one repetition's per-frame input (pose features or video frames) and its per-frame sEMG
target, from any dataset reader or straight from a simulated trial. numpy only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flexaqa.data import open_dataset
from flexaqa.data.schema import sample_id
from flexaqa.kg import load_kg
from flexaqa.video2emg.targets import DEFAULT_WINDOW, Video2EMGError, emg_targets, pose_features

INPUTS = ("pose", "video")


@dataclass
class Example:
    """One repetition. ``x``: ``(T, F)`` pose features or ``(T, H, W, 3)`` uint8 frames; ``y``: ``(T, C)``
    sEMG target in the recording's unit (mV); ``fps``: the frame rate of ``x`` and ``y``."""

    id: str
    action: str  # slug
    action_index: int  # 1..20
    channels: tuple[str, ...]  # KG channel labels, one per column of y
    x: np.ndarray
    y: np.ndarray
    fps: float
    subject: str | None = None

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise Video2EMGError(f"{self.id}: {len(self.x)} input frames but {len(self.y)} targets")


def check_input(kind: str) -> str:
    if kind not in INPUTS:
        raise Video2EMGError(f"--input must be 'pose' or 'video', got {kind!r}")
    return kind


def make_example(
    sid: str,
    action,
    *,
    input: str,
    data: np.ndarray,
    times: np.ndarray,
    emg: np.ndarray,
    emg_fs: float,
    emg_start: float,
    stride: int = 1,
    window: float | None = DEFAULT_WINDOW,
    bandpass: bool = True,
    subject: str | None = None,
) -> Example:
    """Build an :class:`Example` from per-frame ``data`` at ``times`` (s, trial clock; regular spacing) and the
    sEMG ``(N, C)`` that starts at ``emg_start`` s on the same clock. Keeps every ``stride``-th frame."""
    act = load_kg().action(action)
    check_input(input)
    data, times = np.asarray(data)[::stride], np.asarray(times, dtype=float)[::stride]
    if len(times) < 2:
        raise Video2EMGError(f"{sid}: needs at least 2 frames after stride {stride}, got {len(times)}")
    fps = 1.0 / float(np.median(np.diff(times)))
    x = pose_features(data, fps) if input == "pose" else np.asarray(data, dtype=np.uint8)
    y = emg_targets(
        emg, emg_fs, fps, n_frames=len(times), start=emg_start - times[0], window=window, bandpass=bandpass
    )
    if np.isnan(y).any():
        raise Video2EMGError(
            f"{sid}: the sEMG does not cover every frame (frames {times[0]:.3f}-{times[-1]:.3f} s)"
        )
    labels = tuple(c.label for c in act.emg_channels)
    if y.shape[1] != len(labels):
        raise Video2EMGError(
            f"{sid}: sEMG has {y.shape[1]} channels, {act.name} has {len(labels)} ({labels})"
        )
    return Example(sid, act.slug, act.index, labels, x, y, fps, subject)


def load_examples(
    source,
    ids: Sequence[str],
    *,
    input: str,
    stride: int = 1,
    view: str | None = None,
    size: tuple[int, int] | None = (64, 64),
    window: float | None = DEFAULT_WINDOW,
    bandpass: bool = True,
    progress: bool = False,
) -> list[Example]:
    """Examples of the samples ``ids`` of a dataset (a folder or an opened reader): pose at its own rate or the
    frames of ``view`` (default the first view) resized to ``size`` (H, W), with their sEMG targets."""
    from tqdm import tqdm

    check_input(input)
    source = open_dataset(source) if not hasattr(source, "load") else source
    view = view or (source.view_names[0] if input == "video" else None)
    out = []
    for sid in tqdm(ids, desc=f"load {input}", unit="rep", disable=not progress):
        rec = source.record(sid)
        s = source.load(rec, modalities=(input, "emg"), views=[view] if view else None, size=size)
        if (
            s.emg is None
            or (input == "pose" and s.pose is None)
            or (input == "video" and view not in s.video)
        ):
            raise Video2EMGError(
                f"{source.root}: sample {sid} lacks {input} or sEMG ({', '.join(s.missing)})"
            )
        if input == "pose":
            data, times = s.pose.data, s.pose.times()
        else:
            data, times = s.video[view], s.frame_times[view]
        out.append(
            make_example(
                sid,
                rec.action,
                input=input,
                data=data,
                times=times,
                emg=s.emg.data,
                emg_fs=s.emg.rate,
                emg_start=s.emg.start,
                stride=stride,
                window=window,
                bandpass=bandpass,
                subject=rec.subject,
            )
        )
    return out


def examples_from_sim(
    sim, *, input: str = "pose", stride: int = 4, window: float | None = DEFAULT_WINDOW, frames=None, fps=None
) -> list[Example]:
    """Examples of every kept repetition of a :class:`~flexaqa.synth.SimTrial` (no files involved). For video
    give the rendered ``frames`` ``(T, H, W, 3)`` and their ``fps``; pose is read at the simulator's 120 Hz."""
    out = []
    for r in sim.reps:
        if r.dropped:
            continue
        rate = sim.fps if input == "pose" else float(fps)
        i0, i1 = int(np.ceil(r.start * rate)), int(np.ceil(r.end * rate))
        data = sim.joints[i0:i1] if input == "pose" else frames[i0:i1]
        out.append(
            make_example(
                sample_id(sim.subject.id, sim.action.class_id, r.index),
                sim.action.slug,
                input=input,
                data=data,
                times=np.arange(i0, i1) / rate,
                emg=sim.emg,
                emg_fs=sim.emg_rate,
                emg_start=0.0,
                stride=stride,
                window=window,
                subject=sim.subject.id,
            )
        )
    return out
