"""Repetitions of a pose sequence, through :mod:`flexaqa.signal`'s segmentation.

The coach never segments by itself: :func:`signal_segmenter` adapts ``flexaqa.signal.segment_pose`` to the
coach's :data:`~flexaqa.pose_rules.Segmenter` signature, and any other segmenter (ground truth in tests, a
streaming counter) can be passed instead.
"""

from __future__ import annotations

from dataclasses import replace

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
    filled = _fill_for_trace(pose.joints)
    seg = segment_pose(filled, fps, action, **kw)
    reps = reps_from_keyframes(pose, seg.keyframes, seg.phase_names[1:])
    return mark_partial(reps, pose, _trace(filled, action, seg.phase_names))


PARTIAL_SHARE = 0.6  # a repetition moving through under this share of the set's median range is partial


def _trace(joints: np.ndarray, action, phase_names) -> np.ndarray:
    """The segmentation trace, oriented so that it grows away from rest (as :func:`segment_signal` reads it)."""
    from flexaqa.signal.segment import rep_signal

    y = rep_signal(joints, action)
    return y if phase_names[1] == "concentric" else -y


def mark_partial(
    reps: list[Rep], pose: PoseSequence, d: np.ndarray, *, share: float = PARTIAL_SHARE
) -> list[Rep]:
    """Mark repetitions whose range (the trace's excursion from its start) is under ``share`` of the set's median
    range as partial (``Rep.partial`` = the share reached). They are kept and scored: a half repetition is
    reported, never dropped. Needs at least 3 repetitions to know the set's usual range."""
    if len(reps) < 3:
        return reps
    amp = []
    for r in reps:
        a, b = pose.frame_at(r.start), pose.frame_at(r.end)
        seg = d[a : b + 1]
        amp.append(float(np.nanmax(seg) - 0.5 * (seg[0] + seg[-1])) if seg.size else 0.0)
    med = float(np.median(amp))
    if med <= 0:
        return reps
    return [replace(r, partial=a / med) if a < share * med else r for r, a in zip(reps, amp, strict=True)]


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
