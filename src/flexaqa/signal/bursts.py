"""Onset/offset detection of sEMG activation bursts, per-burst spectra and a fatigue summary.

Detection is a double threshold with hysteresis on the envelope: a burst is a run above the *off* threshold
that reaches the *on* threshold somewhere, lasting at least ``min_duration``; runs closer than ``min_gap`` are
merged. Thresholds come from robust statistics of each channel (noise floor from the quietest 30 % of the
envelope, activity level from its 99th percentile), so they adapt to gain, noise and recording length.
Band-pass filtering before the envelope removes drift and motion artefacts (< 20 Hz); spikes are clipped and,
being far shorter than ``min_duration``, never count as bursts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexaqa.signal._common import SignalError, as_signal, check_rate, runs
from flexaqa.signal.emg import EmgConfig, ProcessedEmg, process_emg, spectral_frequencies

__all__ = [
    "BurstThresholds",
    "Bursts",
    "FatigueSummary",
    "burst_frequencies",
    "burst_thresholds",
    "detect_bursts",
    "fatigue_summary",
    "find_bursts",
    "refine_edges",
]


@dataclass(frozen=True)
class BurstThresholds:
    """Per-channel envelope levels: ``base`` (noise floor), ``on`` and ``off`` thresholds, each ``(C,)``."""

    base: np.ndarray
    on: np.ndarray
    off: np.ndarray


def burst_thresholds(
    envelope, *, k: float = 6.0, fraction: float = 0.1, hysteresis: float = 0.5, quiet: float = 30.0
) -> BurstThresholds:
    """Robust on/off thresholds per channel.

    ``on = base + max(k * noise_sd, fraction * (p99 - base))`` and ``off = base + hysteresis * (on - base)``,
    where ``base`` and ``noise_sd`` are the median and MAD-based spread of the quietest ``quiet`` % of samples.
    """
    env = as_signal(envelope, name="envelope")
    env2 = env.reshape(env.shape[0], -1)  # (T, C)
    cut = np.percentile(env2, quiet, axis=0)
    low = np.where(env2 <= cut, env2, np.nan)
    base = np.nanmedian(low, axis=0)
    sd = 1.4826 * np.nanmedian(np.abs(low - base), axis=0)
    peak = np.percentile(env2, 99, axis=0)
    span = np.maximum(k * sd, fraction * (peak - base))
    span = np.maximum(span, 1e-12 + 1e-9 * np.abs(base))
    on = base + span
    return BurstThresholds(base=base, on=on, off=base + hysteresis * span)


@dataclass(frozen=True)
class Bursts:
    """Activation bursts of all channels, one entry per burst, sorted by channel then onset.

    Indices are samples at ``fs`` (``offset`` exclusive); ``amplitude`` is the envelope at ``peak``.
    """

    channel: np.ndarray  # (N,) int
    onset: np.ndarray  # (N,) int
    offset: np.ndarray  # (N,) int
    peak: np.ndarray  # (N,) int
    amplitude: np.ndarray  # (N,) float
    fs: float
    n_channels: int

    def __len__(self) -> int:
        return int(self.onset.shape[0])

    @property
    def onset_s(self) -> np.ndarray:
        return self.onset / self.fs

    @property
    def offset_s(self) -> np.ndarray:
        return self.offset / self.fs

    @property
    def duration_s(self) -> np.ndarray:
        return (self.offset - self.onset) / self.fs

    def of(self, channel: int) -> Bursts:
        """The bursts of one channel."""
        if not 0 <= channel < self.n_channels:
            raise SignalError(
                f"channel {channel} does not exist: the recording has channels 0-{self.n_channels - 1}"
            )
        keep = self.channel == channel
        return Bursts(
            self.channel[keep],
            self.onset[keep],
            self.offset[keep],
            self.peak[keep],
            self.amplitude[keep],
            self.fs,
            self.n_channels,
        )

    def count(self) -> np.ndarray:
        """Number of bursts per channel ``(C,)``."""
        return np.bincount(self.channel, minlength=self.n_channels)

    def to_records(self) -> list[dict]:
        return [
            {
                "channel": int(c),
                "onset": int(a),
                "offset": int(b),
                "peak": int(p),
                "onset_s": a / self.fs,
                "offset_s": b / self.fs,
                "peak_s": p / self.fs,
                "amplitude": float(v),
            }
            for c, a, b, p, v in zip(
                self.channel, self.onset, self.offset, self.peak, self.amplitude, strict=True
            )
        ]


def detect_bursts(
    envelope,
    fs: float,
    *,
    thresholds: BurstThresholds | None = None,
    min_duration: float = 0.1,
    min_gap: float = 0.1,
    min_active: float = 0.03,
    **threshold_kw,
) -> Bursts:
    """Bursts in an envelope ``(T,)`` or ``(T, C)`` (e.g. :func:`~flexaqa.signal.emg.rms_envelope`).

    A burst must stay above the on threshold for ``min_active`` s in all (a lone spike's envelope does not)
    and above the off threshold for ``min_duration`` s. ``threshold_kw`` go to :func:`burst_thresholds`
    unless ``thresholds`` is given.
    """
    fs = check_rate(fs)
    env = as_signal(envelope, name="envelope")
    env2 = env.reshape(env.shape[0], -1)  # (T, C)
    _n, c = env2.shape
    th = thresholds or burst_thresholds(env2, **threshold_kw)
    ch, start, stop = runs(env2 > th.off)
    # keep runs that reach the on threshold: count above-on samples inside each run via a cumulative sum
    above = np.concatenate([np.zeros((1, c)), np.cumsum(env2 > th.on, axis=0)])  # (T+1, C)
    keep = above[stop, ch] - above[start, ch] >= max(round(min_active * fs), 1)
    ch, start, stop = ch[keep], start[keep], stop[keep]
    # merge runs of the same channel separated by less than min_gap
    if len(start):
        gap = start[1:] - stop[:-1]
        merge = (ch[1:] == ch[:-1]) & (gap < round(min_gap * fs))
        first = np.concatenate([[True], ~merge])
        last = np.concatenate([~merge, [True]])
        ch, start, stop = ch[first], start[first], stop[last]
    long = stop - start >= max(round(min_duration * fs), 1)
    ch, start, stop = ch[long], start[long], stop[long]
    peak = np.array(
        [a + int(np.argmax(env2[a:b, k])) for k, a, b in zip(ch, start, stop, strict=True)], dtype=np.int64
    )
    amp = env2[peak, ch] if len(peak) else np.zeros(0)
    return Bursts(ch, start, stop, peak, amp, fs, c)


def refine_edges(filtered, bursts: Bursts, *, window: float = 0.01, search: float = 0.05) -> Bursts:
    """Move each onset/offset to where a short (``window`` s) RMS envelope crosses its own off threshold,
    searching ``search`` s inward from the detected edge. This removes the half-window lead/lag a long
    smoothing window puts on the edges, without letting the noisier short envelope trigger bursts itself.
    """
    from flexaqa.signal.emg import rms_envelope

    x = as_signal(filtered, name="filtered sEMG")
    env = rms_envelope(x, bursts.fs, window).reshape(x.shape[0], -1)
    th = burst_thresholds(env)
    reach = max(round(search * bursts.fs), 1)
    onset, offset = bursts.onset.copy(), bursts.offset.copy()
    for i, (k, a, b) in enumerate(zip(bursts.channel, bursts.onset, bursts.offset, strict=True)):
        head = env[a : min(a + reach, b), k] > th.off[k]
        if head.any():
            onset[i] = a + int(np.argmax(head))
        tail = env[max(b - reach, onset[i] + 1) : b, k] > th.off[k]
        if tail.any():
            offset[i] = b - int(np.argmax(tail[::-1]))
    return Bursts(bursts.channel, onset, offset, bursts.peak, bursts.amplitude, bursts.fs, bursts.n_channels)


def find_bursts(
    emg, fs: float, config: EmgConfig | None = None, *, refine: bool = True, **detect_kw
) -> tuple[Bursts, ProcessedEmg]:
    """Process a raw recording with :func:`process_emg`, detect bursts on its envelope and (``refine``)
    sharpen their edges with :func:`refine_edges`."""
    proc = process_emg(emg, fs, config)
    bursts = detect_bursts(proc.envelope, fs, **detect_kw)
    if refine and len(bursts):
        bursts = refine_edges(proc.filtered, bursts)
    return bursts, proc


def burst_frequencies(filtered, bursts: Bursts) -> tuple[np.ndarray, np.ndarray]:
    """Median and mean frequency (Hz) of the filtered signal inside each burst, ``(N,)`` each."""
    x = as_signal(filtered, name="filtered sEMG")
    x2 = x.reshape(x.shape[0], -1)
    out = np.full((2, len(bursts)), np.nan)
    for i, (k, a, b) in enumerate(zip(bursts.channel, bursts.onset, bursts.offset, strict=True)):
        if b - a >= 16:
            out[:, i] = spectral_frequencies(x2[a:b, k], bursts.fs)
    return out[0], out[1]


@dataclass(frozen=True)
class FatigueSummary:
    """Trend of the median frequency across one channel's bursts: a negative slope suggests fatigue."""

    channel: int
    n_bursts: int
    slope_hz_per_burst: float
    slope_hz_per_s: float
    first_hz: float
    last_hz: float
    change_percent: float
    r: float  # correlation of median frequency with burst order

    @property
    def trend(self) -> str:
        if self.n_bursts < 3 or not np.isfinite(self.slope_hz_per_burst):
            return "too few bursts"
        if abs(self.r) < 0.5:
            return "no clear trend"
        return "falling (fatigue)" if self.slope_hz_per_burst < 0 else "rising"

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["trend"] = self.trend
        return d


def fatigue_summary(bursts: Bursts, median_hz) -> list[FatigueSummary]:
    """Least-squares slope of the per-burst median frequency against burst order and time, per channel."""
    mdf = np.asarray(median_hz, dtype=float)
    out = []
    for k in range(bursts.n_channels):
        sel = (bursts.channel == k) & np.isfinite(mdf)
        y = mdf[sel]
        t = bursts.onset_s[sel]
        n = len(y)
        if n >= 2:
            i = np.arange(n, dtype=float)
            slope_i = float(np.polyfit(i, y, 1)[0])
            slope_t = float(np.polyfit(t, y, 1)[0]) if np.ptp(t) > 0 else float("nan")
            r = float(np.corrcoef(i, y)[0, 1]) if np.std(y) > 0 else 0.0
            fit = np.polyval(np.polyfit(i, y, 1), [0, n - 1])
            first, last = float(fit[0]), float(fit[1])
            change = 100.0 * (last - first) / first if first else float("nan")
        else:
            slope_i = slope_t = r = change = float("nan")
            first = last = float(y[0]) if n else float("nan")
        out.append(FatigueSummary(k, n, slope_i, slope_t, first, last, change, r))
    return out
