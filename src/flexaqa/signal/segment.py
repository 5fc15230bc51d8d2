"""Repetition and phase segmentation of a continuous trial, from pose and/or sEMG bursts.

A trial is a preparation followed by repetitions. Each repetition starts when the tracked point leaves its rest
position, turns around, and ends when it is back at rest and (nearly) still. Its two movement phases take the
names and order the knowledge graph gives (``load_kg().action(a).phase_names``): a squat or a barbell bench
press goes preparation → eccentric → concentric, a curl preparation → concentric → eccentric.

Keyframes are ``(R, 3)`` frame indices: start, turnaround, end of each repetition (end exclusive of the next).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from flexaqa.kg import load_kg
from flexaqa.signal._common import SignalError, as_signal, check_rate
from flexaqa.skeleton import UP_AXIS, J, joint_angle
from flexaqa.timebase import convert_index

__all__ = [
    "REP_SIGNALS",
    "PhaseSegment",
    "RepSignal",
    "Segmentation",
    "SegmentationReport",
    "rep_signal",
    "segment_emg",
    "segment_pose",
    "segment_signal",
    "segmentation_report",
]


@dataclass(frozen=True)
class RepSignal:
    """Which 1-D trace of the pose drives segmentation for an action.

    ``kind="height"``: the mean +z of ``joints`` minus the mean +z of ``ref`` (if any: a height relative to the
    body cancels trunk sway); ``kind="distance"``: the mean distance between the joints of each pair in
    ``joints``; ``kind="angle"``: the mean angle (degrees) at the middle joint of each ``(a, b, c)`` triple.
    ``concentric`` is the sign of the trace's change during the concentric phase (+1: it grows).
    ``min_amplitude``: the smallest movement that counts as a repetition (metres, or degrees for angles).
    """

    kind: str
    joints: tuple
    ref: tuple = ()
    concentric: int = 1
    min_amplitude: float = 0.05


_WRISTS = RepSignal("height", ("left_wrist", "right_wrist"))
_HIPS = RepSignal("height", ("left_hip", "right_hip"))
_PULL = RepSignal(
    "distance", (("left_wrist", "left_shoulder"), ("right_wrist", "right_shoulder")), concentric=-1
)
_ELBOWS = RepSignal(
    "angle",
    (("left_shoulder", "left_elbow", "left_wrist"), ("right_shoulder", "right_elbow", "right_wrist")),
    min_amplitude=15.0,
)
# The bar or dumbbells (wrists) rise in the concentric phase of the presses, curls, raises and fly; squat and
# deadlift are tracked at the hips; rows by the wrist-to-shoulder distance (it shrinks as the weight is
# pulled in, whatever the trunk angle); the bent-over triceps extension by the elbow angle (it opens).
# Actions not listed use the wrists.
REP_SIGNALS: dict[str, RepSignal] = {
    "squat": _HIPS,
    "deadlift": _HIPS,
    "barbell-bent-over-row": _PULL,
    "t-bar-row": _PULL,
    "dumbbell-bent-over-row": _PULL,
    "dumbbell-bent-over-triceps-extension": _ELBOWS,
}


def rep_signal(pose, action) -> np.ndarray:
    """The segmentation trace ``(T,)`` of a FLEX-21 pose ``(T, 21, 3)`` for ``action``, oriented so that it
    rises during the concentric phase."""
    a = load_kg().action(action)
    spec = REP_SIGNALS.get(a.slug, _WRISTS)
    p = np.asarray(pose, dtype=float)
    if p.ndim != 3 or p.shape[1:] != (21, 3):
        raise SignalError(f"pose must be FLEX-21 joints shaped (T, 21, 3), got {p.shape}")
    if spec.kind == "height":
        y = p[:, [J[j] for j in spec.joints], UP_AXIS].mean(axis=1)
        if spec.ref:
            y = y - p[:, [J[j] for j in spec.ref], UP_AXIS].mean(axis=1)
    elif spec.kind == "distance":
        y = np.mean([np.linalg.norm(p[:, J[i]] - p[:, J[j]], axis=-1) for i, j in spec.joints], axis=0)
    else:
        y = np.mean([joint_angle(p[:, J[i]], p[:, J[j]], p[:, J[k]]) for i, j, k in spec.joints], axis=0)
    return spec.concentric * y


@dataclass(frozen=True)
class PhaseSegment:
    rep: int  # 0 for the preparation, 1..R for repetitions
    phase: str
    start: int  # frame, inclusive
    end: int  # frame, exclusive
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Segmentation:
    """Repetitions of one trial: ``keyframes`` ``(R, 3)`` (start, turnaround, end) at ``fps``."""

    keyframes: np.ndarray
    fps: float
    phase_names: tuple[str, ...]
    n_frames: int

    @property
    def n_reps(self) -> int:
        return int(self.keyframes.shape[0])

    @property
    def times(self) -> np.ndarray:
        """Keyframe times in seconds, ``(R, 3)``."""
        return self.keyframes / self.fps

    def phases(self) -> list[PhaseSegment]:
        """Preparation, then both movement phases of every repetition, in time order."""
        out = []
        first = int(self.keyframes[0, 0]) if self.n_reps else self.n_frames
        if first > 0:
            out.append(PhaseSegment(0, self.phase_names[0], 0, first, 0.0, first / self.fps))
        for r, (s, m, e) in enumerate(self.keyframes.tolist(), start=1):
            out.append(PhaseSegment(r, self.phase_names[1], s, m, s / self.fps, m / self.fps))
            out.append(PhaseSegment(r, self.phase_names[2], m, e, m / self.fps, e / self.fps))
        return out

    def phase_labels(self) -> np.ndarray:
        """Per-frame phase index into ``phase_names`` (``-1`` between or after repetitions), ``(n_frames,)``."""
        lab = np.full(self.n_frames, -1, dtype=np.int64)
        t = np.arange(self.n_frames)
        for ph in self.phases():
            lab[(t >= ph.start) & (t < ph.end)] = self.phase_names.index(ph.phase)
        return lab

    def to_dict(self) -> dict:
        return {
            "fps": self.fps,
            "n_reps": self.n_reps,
            "phase_names": list(self.phase_names),
            "keyframes": self.keyframes.tolist(),
            "times": self.times.round(4).tolist(),
        }


def _phase_names(action, phase_names) -> tuple[str, ...]:
    if phase_names is not None:
        return tuple(phase_names)
    if action is None:
        return ("preparation", "concentric", "eccentric")

    return load_kg().action(action).phase_names


def segment_signal(
    y,
    fps: float,
    *,
    action=None,
    phase_names: tuple[str, ...] | None = None,
    min_rep: float = 0.8,
    cutoff: float = 5.0,
    prominence: float = 0.35,
    rest_tol: float = 0.3,
    still_tol: float = 0.05,
    min_amplitude: float = 0.0,
) -> Segmentation:
    """Segment a 1-D trace ``(T,)`` that rises in the concentric phase (see :func:`rep_signal`).

    The first movement phase comes from the knowledge graph (``action``) or ``phase_names``. The trace is
    low-passed at ``cutoff`` Hz; turnarounds are peaks of the distance from rest with a prominence of at least
    ``prominence`` of the trace's 5–95 % range, at least ``min_rep`` s apart. A repetition's start (end) is the
    last (first) frame before (after) its turnaround that is within ``rest_tol`` of the rest level and moves at
    under ``still_tol`` of the peak speed; with no such frame, the lowest point between turnarounds.
    Movements smaller than ``min_amplitude`` (trace units, e.g. metres) are not repetitions.
    """
    fps = check_rate(fps, "frame rate")
    y = as_signal(y, name="trace", min_len=8)
    if y.ndim != 1:
        raise SignalError(f"segment_signal needs a 1-D trace, got shape {y.shape}")
    names = _phase_names(action, phase_names)
    if len(names) != 3 or "concentric" not in names[1:]:
        raise SignalError(f"phase names must be (preparation, concentric|eccentric, ...), got {names}")
    sign = 1.0 if names[1] == "concentric" else -1.0
    n = y.shape[0]
    if cutoff < fps / 2 and n > 15:
        sos = sps.butter(2, cutoff, fs=fps, output="sos")
        y = sps.sosfiltfilt(sos, y, padlen=min(n - 1, round(fps)))
    d = sign * y  # distance from rest grows during the first movement phase
    lo, hi = np.percentile(d, [5, 95])
    span = hi - lo
    if span <= 1e-9 * max(1.0, float(np.abs(d).max())) or span < min_amplitude:
        return Segmentation(np.zeros((0, 3), dtype=np.int64), fps, names, n)
    prom = max(prominence * span, min_amplitude)
    peaks, _ = sps.find_peaks(d, prominence=prom, distance=max(round(min_rep * fps / 2), 1))
    if len(peaks) == 0:
        return Segmentation(np.zeros((0, 3), dtype=np.int64), fps, names, n)
    # rest level: median of the valleys between turnarounds (or the low percentile with one rep)
    valleys = [a + int(np.argmin(d[a:b])) for a, b in itertools.pairwise(peaks)]
    rest = float(np.median(d[valleys])) if valleys else float(lo)
    amp = float(np.median(d[peaks]) - rest)
    speed = np.abs(np.gradient(d)) * fps
    vmax = float(np.percentile(speed, 95))
    calm = (d <= rest + rest_tol * amp) & (speed <= still_tol * max(vmax, 1e-12))  # (T,)
    near = d <= rest + rest_tol * amp
    # where jitter that survives the cutoff (2D keypoints) leaves no still frame near rest, stillness is judged
    # on a slower trace (2 Hz) before falling back to "near rest" alone
    slow = d
    if min(cutoff, fps / 2) > 2.0 and n > 15:
        slow = sps.sosfiltfilt(sps.butter(2, 2.0, fs=fps, output="sos"), d, padlen=min(n - 1, round(fps)))
    slow_speed = np.abs(np.gradient(slow)) * fps
    calm_slow = near & (slow_speed <= still_tol * max(float(np.percentile(slow_speed, 95)), 1e-12))
    bounds = np.concatenate([[0], valleys, [n - 1]]).astype(np.int64)
    keys = np.empty((len(peaks), 3), dtype=np.int64)
    idx = np.arange(n)
    for r, p in enumerate(peaks):
        a, b = bounds[r], bounds[r + 1]  # search span left/right of this peak
        left = calm[a:p] if calm[a:p].any() else (calm_slow[a:p] if calm_slow[a:p].any() else near[a:p])
        keys[r, 0] = a + int(idx[: p - a][left].max()) if left.any() else a + int(np.argmin(d[a : p + 1]))
        right = calm[p : b + 1] if calm[p : b + 1].any() else calm_slow[p : b + 1]
        right = right if right.any() else near[p : b + 1]
        keys[r, 2] = (
            p + int(idx[: b + 1 - p][right].min()) if right.any() else p + int(np.argmin(d[p : b + 1]))
        )
        keys[r, 1] = p
    return Segmentation(keys, fps, names, n)


def segment_pose(pose, fps: float, action, **kw) -> Segmentation:
    """Segment a FLEX-21 pose trial ``(T, 21, 3)`` with the action's trace (:data:`REP_SIGNALS`)."""
    kw.setdefault("min_amplitude", REP_SIGNALS.get(load_kg().action(action).slug, _WRISTS).min_amplitude)
    return segment_signal(rep_signal(pose, action), fps, action=action, **kw)


def segment_emg(
    emg,
    fs: float,
    *,
    action=None,
    fps: float | None = None,
    channels=None,
    on: float = 0.35,
    off: float = 0.25,
    min_rep: float = 0.5,
    min_gap: float = 0.05,
    cutoff: float = 3.0,
    split: float = 0.15,
) -> Segmentation:
    """Repetitions from sEMG alone: one active stretch of the summed normalised envelope per repetition.

    The envelopes (:func:`~flexaqa.signal.emg.process_emg`) are normalised to their 99th percentile, averaged
    over channels and low-passed at ``cutoff`` Hz. A repetition is a stretch above ``off`` that reaches ``on``,
    both as fractions of the way from the rest floor (5th percentile) to the activity level (90th percentile),
    lasting ``min_rep`` s; the short relaxation between repetitions (or rest) separates them. A stretch is also
    split at every dip that falls below 35 % of the way to the activity level with a prominence of ``split`` of
    that range (a relaxation too shallow to reach the off level). The turnaround is
    where activation changes most steeply inside the repetition: concentric work needs more drive than
    eccentric, so it falls there in concentric-first actions and rises in eccentric-first ones. Keyframes are
    returned at ``fps`` (default: the sEMG rate).
    """
    from flexaqa.signal.bursts import BurstThresholds, detect_bursts
    from flexaqa.signal.emg import lowpass, normalize, process_emg

    fs = check_rate(fs)
    x = as_signal(emg, name="sEMG", min_len=16)
    if x.ndim == 1:
        x = x[:, None]
    if channels is not None:
        x = x[:, list(channels)]
    names = _phase_names(action, None)
    raw = normalize(process_emg(x, fs).envelope, method="p99").mean(axis=1)  # (T,)
    env = lowpass(raw, fs, cutoff, order=2) if cutoff < fs / 2 else raw
    floor, level = np.percentile(env, [5, 90])
    span = max(level - floor, 1e-12)
    th = BurstThresholds(np.array([floor]), np.array([floor + on * span]), np.array([floor + off * span]))
    b = detect_bursts(env, fs, thresholds=th, min_duration=min_rep, min_gap=min_gap, min_active=0.02)
    n = len(env)
    # stretch edges: where the unsmoothed envelope crosses the off level (within 0.15 s of the smoothed one)
    reach = round(0.15 * fs)
    above = raw > th.off[0]
    pieces = []
    for s0, e0 in zip(b.onset.tolist(), b.offset.tolist(), strict=True):
        lo, hi = max(s0 - reach, 0), min(e0 + reach, n)
        head = np.flatnonzero(~above[lo : s0 + reach])
        tail = np.flatnonzero(~above[e0 - reach : hi])
        s1 = lo + head[-1] + 1 if len(head) and lo + head[-1] + 1 < e0 else s0
        e1 = e0 - reach + tail[0] if len(tail) and e0 - reach + tail[0] > s1 else e0
        pieces += _split_at_dips(env, s1, e1, floor, span, split, round(min_rep * fs))
    slope = np.gradient(env) * (1.0 if names[1] == "eccentric" else -1.0)  # rises at the turnaround
    keys = np.zeros((len(pieces), 3), dtype=np.int64)
    for r, (s0, e0) in enumerate(pieces):
        margin = (e0 - s0) // 6  # skip the on/off edges themselves
        m = (
            s0 + margin + int(np.argmax(slope[s0 + margin : e0 - margin]))
            if e0 - s0 > 2 * margin + 1
            else (s0 + e0) // 2
        )
        keys[r] = (s0, m, e0)
    out_fps = fps or fs
    if out_fps != fs:
        keys = np.asarray(convert_index(keys, fs, out_fps), dtype=np.int64).reshape(-1, 3)
    n = round(x.shape[0] / fs * out_fps)
    return Segmentation(keys, float(out_fps), names, n)


def _split_at_dips(
    env, s: int, e: int, floor: float, span: float, split: float, min_len: int, depth: float = 0.35
) -> list:
    """Cut ``[s, e)`` at deep dips of ``env``; each cut ends the piece before the dip and starts the next after
    it, where the envelope is 30 % of the way back up to the lower of the two neighbouring peaks."""
    if e - s < 2 * min_len:
        return [(s, e)]
    seg = env[s:e]
    dips, _ = sps.find_peaks(-seg, prominence=split * span, distance=max(min_len // 2, 1))
    dips = [d for d in dips if seg[d] < floor + depth * span and min_len // 2 <= d < len(seg) - min_len // 2]
    out, start = [], s
    for d in dips:
        v = s + d
        w = max(min_len // 2, 1)
        left, right = env[max(v - w, start) : v], env[v + 1 : min(v + 1 + w, e)]
        if not len(left) or not len(right):
            continue
        level = env[v] + 0.3 * (min(left.max(), right.max()) - env[v])
        up_l = np.flatnonzero(left >= level)
        up_r = np.flatnonzero(right >= level)
        end = max(v - w, start) + (up_l[-1] + 1 if len(up_l) else 0)
        nxt = v + 1 + (up_r[0] if len(up_r) else 0)
        if end - start >= min_len:
            out.append((start, end))
            start = nxt
    out.append((start, e))
    return [p for p in out if p[1] - p[0] >= min_len]


@dataclass(frozen=True)
class SegmentationReport:
    """Segmentation quality over one or more trials (e.g. against simulator ground truth).

    ``count_accuracy``: share of trials whose repetition count is exact; ``count_mae``: mean absolute count
    error; ``boundary_mae``/``boundary_median``: absolute error in frames of the keyframes of matched
    repetitions (``per_keyframe_mae``: start, turnaround, end); ``recall``/``precision``: matched repetitions
    over true/predicted ones (a match needs its turnaround within ``tolerance`` frames).
    """

    n_trials: int
    n_true: int
    n_pred: int
    n_matched: int
    count_accuracy: float
    count_mae: float
    boundary_mae: float
    boundary_median: float
    per_keyframe_mae: tuple[float, ...]
    recall: float
    precision: float

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _match(true: np.ndarray, pred: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import linear_sum_assignment

    if len(true) == 0 or len(pred) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    mid_t = true[:, true.shape[1] // 2].astype(float)
    mid_p = pred[:, pred.shape[1] // 2].astype(float)
    cost = np.abs(mid_t[:, None] - mid_p[None, :])
    rows, cols = linear_sum_assignment(np.where(cost <= tolerance, cost, 1e9))
    ok = cost[rows, cols] <= tolerance
    return rows[ok], cols[ok]


def segmentation_report(
    true_keyframes, pred_keyframes, *, tolerance: float | None = None
) -> SegmentationReport:
    """Compare predicted keyframes with the truth. Each argument is one trial's ``(R, K)`` frame array (or a
    :class:`Segmentation`), or a list of them (one per trial, same order). Repetitions are matched one-to-one
    by their middle keyframe (turnaround), within ``tolerance`` frames (default: half the median true
    repetition length)."""

    def trials(x):
        if isinstance(x, Segmentation):
            return [x.keyframes]
        if isinstance(x, np.ndarray) and x.ndim == 2:
            return [x]
        if isinstance(x, (list, tuple)) and x and np.ndim(x[0]) == 1 and not isinstance(x[0], Segmentation):
            return [np.asarray(x)]
        return [k.keyframes if isinstance(k, Segmentation) else np.asarray(k) for k in x]

    t_all, p_all = trials(true_keyframes), trials(pred_keyframes)
    if len(t_all) != len(p_all):
        raise SignalError(f"{len(t_all)} true trials but {len(p_all)} predicted ones")
    t_all = [np.asarray(t, dtype=np.int64).reshape(-1, np.shape(t)[-1] if np.size(t) else 3) for t in t_all]
    p_all = [np.asarray(p, dtype=np.int64).reshape(-1, np.shape(p)[-1] if np.size(p) else 3) for p in p_all]
    errs, exact, cerr, n_match = [], [], [], 0
    for t, p in zip(t_all, p_all, strict=True):
        if len(t) and len(p) and t.shape[1] != p.shape[1]:
            raise SignalError(f"true keyframes have {t.shape[1]} columns, predicted ones {p.shape[1]}")
        tol = tolerance
        if tol is None:
            tol = 0.5 * float(np.median(t[:, -1] - t[:, 0])) if len(t) else 0.0
        rows, cols = _match(t, p, tol)
        n_match += len(rows)
        if len(rows):
            errs.append(np.abs(t[rows] - p[cols]))
        exact.append(len(t) == len(p))
        cerr.append(abs(len(t) - len(p)))
    e = np.concatenate(errs) if errs else np.zeros((0, 3))
    n_true = sum(len(t) for t in t_all)
    n_pred = sum(len(p) for p in p_all)
    return SegmentationReport(
        n_trials=len(t_all),
        n_true=n_true,
        n_pred=n_pred,
        n_matched=n_match,
        count_accuracy=float(np.mean(exact)),
        count_mae=float(np.mean(cerr)),
        boundary_mae=float(e.mean()) if e.size else float("nan"),
        boundary_median=float(np.median(e)) if e.size else float("nan"),
        per_keyframe_mae=tuple(float(v) for v in e.mean(axis=0)) if e.size else (),
        recall=n_match / n_true if n_true else float("nan"),
        precision=n_match / n_pred if n_pred else float("nan"),
    )
