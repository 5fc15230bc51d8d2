"""Synchronisation of modalities recorded at different rates and start times.

A :class:`Stream` is samples on a shared clock: ``data`` ``(T, ...)``, ``rate`` Hz and ``start`` s. Put any set
of streams on one time base (:func:`align_streams`), cut the same window from each (:func:`cut_window`), and
estimate an unknown offset between two streams by cross-correlation (:func:`estimate_offset`), e.g. the speed
of a joint in the pose against the sEMG envelope (:func:`pose_speed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import signal as sps

from flexaqa.signal._common import SignalError, check_rate
from flexaqa.signal.features import resample

__all__ = [
    "OffsetEstimate",
    "Stream",
    "align_streams",
    "common_window",
    "cut_window",
    "estimate_offset",
    "pose_speed",
]


@dataclass(frozen=True)
class Stream:
    """Samples ``data`` ``(T, ...)`` at ``rate`` Hz whose first sample is at ``start`` s on the shared clock."""

    data: np.ndarray
    rate: float
    start: float = 0.0
    name: str = ""

    def __post_init__(self):
        object.__setattr__(self, "data", np.asarray(self.data))
        object.__setattr__(self, "rate", check_rate(self.rate, f"rate of stream {self.name or '?'}"))
        if self.data.ndim == 0 or self.data.shape[0] == 0:
            raise SignalError(f"stream {self.name or '?'} is empty")

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def end(self) -> float:
        """Time just after the last sample (``start + T / rate``)."""
        return self.start + len(self) / self.rate

    @property
    def times(self) -> np.ndarray:
        return self.start + np.arange(len(self)) / self.rate

    def shifted(self, offset: float) -> Stream:
        """The same samples ``offset`` s later on the shared clock."""
        return replace(self, start=self.start + float(offset))

    def window(self, t0: float, t1: float) -> Stream:
        """Samples whose times lie in ``[t0, t1)``; ``start`` becomes the first kept sample's time."""
        i0 = max(int(np.ceil((t0 - self.start) * self.rate - 1e-9)), 0)
        i1 = min(int(np.ceil((t1 - self.start) * self.rate - 1e-9)), len(self))
        if i1 <= i0:
            raise SignalError(
                f"stream {self.name or '?'} ({self.start:.3f}-{self.end:.3f} s) has no sample in [{t0:.3f}, {t1:.3f}) s"
            )
        return replace(self, data=self.data[i0:i1], start=self.start + i0 / self.rate)


def _as_streams(streams) -> dict[str, Stream]:
    if isinstance(streams, Mapping):
        return {k: (replace(s, name=s.name or k)) for k, s in streams.items()}
    return {s.name or f"stream{i}": s for i, s in enumerate(streams)}


def common_window(streams) -> tuple[float, float]:
    """The time span ``(t0, t1)`` that every stream covers (the intersection)."""
    ss = _as_streams(streams)
    t0 = max(s.start for s in ss.values())
    t1 = min(s.end for s in ss.values())
    if t1 <= t0:
        spans = ", ".join(f"{k}: {s.start:.3f}-{s.end:.3f} s" for k, s in ss.items())
        raise SignalError(f"the streams do not overlap in time ({spans})")
    return t0, t1


def cut_window(streams, t0: float, t1: float) -> dict[str, Stream]:
    """The same time window ``[t0, t1)`` cut from every stream (each keeps its own rate)."""
    return {k: s.window(t0, t1) for k, s in _as_streams(streams).items()}


def align_streams(
    streams: Mapping[str, Stream] | Sequence[Stream],
    rate: float,
    *,
    t0: float | None = None,
    t1: float | None = None,
    method: str = "auto",
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Resample every stream onto one time base of ``rate`` Hz over ``[t0, t1)`` (default: their overlap).

    ``method="auto"`` averages over each output sample's period when a stream is faster than ``rate`` (no
    aliasing; e.g. 2000 Hz sEMG onto 120 fps) and interpolates linearly when it is slower (e.g. 1 Hz heart
    rate). Returns ``(times, {name: (N, ...) array})``.
    """
    rate = check_rate(rate, "target rate")
    ss = _as_streams(streams)
    w0, w1 = common_window(ss)
    t0 = w0 if t0 is None else t0
    t1 = w1 if t1 is None else t1
    times = t0 + np.arange(int(np.floor((t1 - t0) * rate + 1e-9))) / rate
    out = {}
    for k, s in ss.items():
        m = method if method != "auto" else ("mean" if s.rate > rate else "linear")
        flat = s.data.reshape(len(s), -1).astype(float)
        r = resample(flat, s.rate, times, start=s.start, method=m, window=1.0 / rate if m == "mean" else None)
        out[k] = r.reshape(len(times), *s.data.shape[1:])
    return times, out


@dataclass(frozen=True)
class OffsetEstimate:
    """Estimated offset between two streams and how much to trust it.

    ``offset``: seconds to add to the second stream's ``start`` so that it lines up with the first.
    ``correlation``: Pearson correlation at that lag; ``distinctness``: how far that peak stands above the best
    correlation at lags outside its main lobe (0 = an equally good alternative exists, 1 = unique);
    ``confidence`` = ``max(correlation, 0) * distinctness``, in [0, 1].
    """

    offset: float
    correlation: float
    distinctness: float
    confidence: float
    lags: np.ndarray  # (L,) seconds
    curve: np.ndarray  # (L,) correlation at each lag

    def to_dict(self) -> dict:
        return {k: float(getattr(self, k)) for k in ("offset", "correlation", "distinctness", "confidence")}


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def estimate_offset(
    a: Stream,
    b: Stream,
    *,
    rate: float | None = None,
    max_lag: float = 2.0,
    min_overlap: float = 0.5,
) -> OffsetEstimate:
    """Offset of stream ``b`` relative to ``a`` by normalised cross-correlation of two 1-D signals.

    Both are resampled to ``rate`` Hz (default: the slower stream's rate, at most 200 Hz) on their own clocks;
    the correlation is the Pearson coefficient over the overlapping part at each lag within ``±max_lag`` s
    (overlaps shorter than ``min_overlap`` of the shorter signal are ignored). Sub-sample precision comes from
    a parabola through the peak. Periodic signals (10 similar repetitions) correlate almost as well one period
    away; ``distinctness`` and ``confidence`` then drop, so check them before trusting ``offset``.
    """
    if a.data.reshape(len(a), -1).shape[1] != 1 or b.data.reshape(len(b), -1).shape[1] != 1:
        raise SignalError("estimate_offset needs two 1-D signals; reduce channels first (e.g. mean envelope)")
    r = check_rate(rate or min(a.rate, b.rate, 200.0), "correlation rate")
    xa = _grid(a, r)
    xb = _grid(b, r)
    na, nb = len(xa), len(xb)
    # Pearson correlation per lag from running sums over the overlap (all via FFT correlations)
    ones_a, ones_b = np.ones(na), np.ones(nb)
    n = sps.correlate(ones_a, ones_b, mode="full", method="fft")
    sab = sps.correlate(xa, xb, mode="full", method="fft")
    sa = sps.correlate(xa, ones_b, mode="full", method="fft")
    sb = sps.correlate(ones_a, xb, mode="full", method="fft")
    saa = sps.correlate(xa * xa, ones_b, mode="full", method="fft")
    sbb = sps.correlate(ones_a, xb * xb, mode="full", method="fft")
    n = np.round(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sab - sa * sb / n
        var = (saa - sa**2 / n) * (sbb - sb**2 / n)
        rho = cov / np.sqrt(np.maximum(var, 1e-30))
    k = np.arange(-(nb - 1), na)  # lag in samples: a[i + k] pairs with b[i]
    # b's sample i sits at b.start + i/r; it matches a's sample i + k at a.start + (i + k)/r, so b must move by
    # offset = a.start - b.start + k / r
    base = a.start - b.start
    lag_s = base + k / r
    valid = (n >= min_overlap * min(na, nb)) & (np.abs(lag_s) <= max_lag) & np.isfinite(rho)
    if not valid.any():
        raise SignalError(
            f"no lag within ±{max_lag} s leaves {min_overlap:.0%} overlap between the two streams"
        )
    rho = np.where(valid, rho, -np.inf)
    i = int(np.argmax(rho))
    peak = float(rho[i])
    shift = 0.0
    if 0 < i < len(rho) - 1 and np.isfinite(rho[i - 1]) and np.isfinite(rho[i + 1]):
        den = rho[i - 1] - 2 * rho[i] + rho[i + 1]
        shift = float(0.5 * (rho[i - 1] - rho[i + 1]) / den) if den < 0 else 0.0
    # main lobe: walk out from the peak until the curve stops falling
    d = np.diff(np.where(valid, rho, np.nan))
    right = i + int(np.argmax(~(d[i:] < 0))) if i < len(d) else i
    left_run = ~(d[:i][::-1] > 0)
    left = i - (int(np.argmax(left_run)) if left_run.any() else i)
    outside = valid.copy()
    outside[max(left, 0) : right + 1] = False
    second = float(rho[outside].max()) if outside.any() else -1.0
    distinct = float(np.clip((peak - max(second, 0.0)) / peak, 0, 1)) if peak > 0 else 0.0
    return OffsetEstimate(
        offset=float(base + (k[i] + shift) / r),
        correlation=peak,
        distinctness=distinct,
        confidence=float(max(peak, 0.0) * distinct),
        lags=lag_s[valid],
        curve=rho[valid],
    )


def _grid(s: Stream, r: float) -> np.ndarray:
    flat = s.data.reshape(len(s), -1)[:, 0].astype(float)
    if s.rate == r:
        return _zscore(flat)
    t = np.arange(int(np.floor(len(s) / s.rate * r))) / r
    m = "mean" if s.rate > r else "linear"
    y = resample(flat, s.rate, t, method=m, window=1.0 / r if m == "mean" else None)
    return _zscore(np.nan_to_num(y, nan=float(np.nanmean(y))))


def pose_speed(joints, fps: float, *, joints_idx: Sequence[int] | None = None) -> np.ndarray:
    """Speed (units/s) of a pose ``(T, J, 3)``: the mean over ``joints_idx`` (default all) of each joint's
    speed, central differences. ``(T,)``."""
    p = np.asarray(joints, dtype=float)
    if p.ndim != 3 or p.shape[-1] != 3:
        raise SignalError(f"pose must be (T, joints, 3), got shape {p.shape}")
    if joints_idx is not None:
        p = p[:, list(joints_idx)]
    v = np.gradient(p, 1.0 / check_rate(fps, "frame rate"), axis=0)
    return np.linalg.norm(v, axis=-1).mean(axis=1)
