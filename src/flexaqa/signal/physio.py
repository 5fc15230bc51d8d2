"""Physiology: breath phase from a breath waveform and its timing against the movement phases, heart-rate
smoothing and an exertion summary.

The knowledge graph's breathing rule (:mod:`flexaqa.kg.breathing`) is: exhale during the effort (concentric),
inhale while lowering (eccentric). Inhaling through a concentric phase is error ET014 ("Inhalation"), exhaling
through an eccentric phase ET017 ("Exhalation").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from flexaqa.kg.breathing import BREATHING, EXHALE, HOLD, INHALE
from flexaqa.signal._common import SignalError, as_signal, check_rate
from flexaqa.signal.features import resample

__all__ = [
    "BREATH_ERRORS",
    "ExertionSummary",
    "PhaseBreathing",
    "breath_phase",
    "breathing_by_phase",
    "exertion_summary",
    "smooth_heart_rate",
]

# movement phase -> (expected breath, error code when the opposite breath dominates): the KG's table
BREATH_ERRORS = BREATHING


def breath_phase(
    breath, fs: float, *, cutoff: float = 1.0, hold: float = 0.05, inhale_sign: int = 1
) -> np.ndarray:
    """Per-sample breath phase of a breath waveform ``(T,)``: +1 inhale, -1 exhale, 0 hold.

    The waveform is low-passed at ``cutoff`` Hz (zero-phase) and the phase is the sign of its slope; slopes
    under ``hold`` of the 95th-percentile slope count as a hold. ``inhale_sign=-1`` for sensors whose signal
    falls on inhalation (e.g. some pressure belts).
    """
    fs = check_rate(fs)
    y = as_signal(breath, name="breath waveform", min_len=16)
    if y.ndim != 1:
        raise SignalError(f"breath waveform must be 1-D, got shape {y.shape}")
    if cutoff < fs / 2:
        y = sps.sosfiltfilt(
            sps.butter(2, cutoff, fs=fs, output="sos"), y, padlen=min(len(y) - 1, round(3 * fs))
        )
    slope = np.gradient(y) * fs * inhale_sign
    ref = np.percentile(np.abs(slope), 95)
    out = np.sign(slope).astype(np.int64)
    out[np.abs(slope) < hold * max(ref, 1e-12)] = HOLD
    return out


@dataclass(frozen=True)
class PhaseBreathing:
    """Breathing during one movement phase: shares of inhale/exhale/hold and the error it implies, if any."""

    rep: int
    phase: str
    inhale: float
    exhale: float
    hold: float
    error: str | None  # ET014 / ET017 when the wrong breath dominates the phase
    lag_s: (
        float  # when the expected breath began, relative to the phase start (s; < 0: before it; NaN: never)
    )

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def breathing_by_phase(
    breath, fs: float, segmentation, *, start: float = 0.0, **phase_kw
) -> list[PhaseBreathing]:
    """Breath phase during every concentric and eccentric phase of a :class:`~flexaqa.signal.segment.Segmentation`.

    ``breath`` ``(T,)`` at ``fs`` Hz starts at ``start`` s on the video clock. A phase is flagged when the
    breath opposite to the expected one (exhale in concentric, inhale in eccentric) covers more of it than
    the expected one does. ``lag_s`` times the expected breath against the phase start: negative when it
    was already under way (e.g. exhaling just before the lift), positive when it came late.
    """
    ph = breath_phase(breath, fs, **phase_kw)
    frames = np.arange(segmentation.n_frames) / segmentation.fps
    per_frame = resample(ph.astype(float), fs, frames, start=start, method="nearest")  # (F,)
    out = []
    for seg in segmentation.phases():
        if seg.phase not in BREATH_ERRORS:
            continue
        v = per_frame[seg.start : seg.end]
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        shares = {s: float(np.mean(v == s)) for s in (INHALE, EXHALE, HOLD)}
        expected, code = BREATH_ERRORS[seg.phase]
        wrong = shares[-expected] > shares[expected]
        lag = _lag(per_frame, seg.start, seg.end, expected) / segmentation.fps
        error = code if wrong else None
        out.append(
            PhaseBreathing(seg.rep, seg.phase, shares[INHALE], shares[EXHALE], shares[HOLD], error, lag)
        )
    return out


def _lag(labels: np.ndarray, start: int, end: int, expected: int) -> float:
    """Frames from ``start`` to the onset of the ``expected`` breath run in effect there (or next, in the phase)."""
    is_exp = labels == expected
    if is_exp[start]:
        before = np.flatnonzero(~is_exp[:start])
        return float(-(start - (before[-1] + 1 if len(before) else 0)))
    inside = np.flatnonzero(is_exp[start:end])
    return float(inside[0]) if len(inside) else float("nan")


def smooth_heart_rate(
    hr, fs: float, *, window: float = 5.0, lo: float = 30.0, hi: float = 230.0, max_dev: float = 20.0
) -> np.ndarray:
    """Clean a heart-rate series (beats/min) ``(T,)``: drop values outside ``[lo, hi]`` or more than ``max_dev``
    bpm from the running median (dropouts, doubled or halved beats), interpolate the gaps, then average over
    ``window`` s (centred). NaNs in the input count as gaps."""
    fs = check_rate(fs)
    x = as_signal(hr, name="heart rate", allow_nan=True)
    if x.ndim != 1:
        raise SignalError(f"heart rate must be 1-D, got shape {x.shape}")
    ok = np.isfinite(x) & (x >= lo) & (x <= hi)
    if ok.sum() < 2:
        raise SignalError(f"heart rate has fewer than 2 plausible values in [{lo}, {hi}] bpm")
    t = np.arange(len(x))
    filled = np.interp(t, t[ok], x[ok])
    width = max(round(window * fs) | 1, 3)
    med = ndimage.median_filter(filled, size=width, mode="nearest")
    ok &= np.abs(x - med) <= max_dev
    filled = np.interp(t, t[ok], x[ok])
    return ndimage.uniform_filter1d(filled, size=width, mode="nearest")


@dataclass(frozen=True)
class ExertionSummary:
    """Heart-rate response of a trial. ``percent_hrmax`` uses ``hr_max`` (given, or 208 - 0.7 x age);
    ``percent_reserve`` uses ``hr_rest`` too (Karvonen)."""

    start_bpm: float
    end_bpm: float
    mean_bpm: float
    peak_bpm: float
    rise_bpm: float
    time_to_peak_s: float
    slope_bpm_per_min: float
    percent_hrmax: float | None
    percent_reserve: float | None
    zone: str | None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_ZONES = ((0.6, "very light"), (0.7, "light"), (0.8, "moderate"), (0.9, "hard"), (np.inf, "maximal"))


def exertion_summary(
    hr,
    fs: float,
    *,
    age: float | None = None,
    hr_max: float | None = None,
    hr_rest: float | None = None,
    smooth: bool = True,
) -> ExertionSummary:
    """Summarise a heart-rate series ``(T,)`` in bpm: level, rise, slope and (with ``age`` or ``hr_max``) the
    share of maximum and the intensity zone of the peak."""
    fs = check_rate(fs)
    x = smooth_heart_rate(hr, fs) if smooth else as_signal(hr, name="heart rate")
    n = len(x)
    edge = max(round(2.0 * fs), 1)
    start, end = float(x[:edge].mean()), float(x[-edge:].mean())
    peak_i = int(np.argmax(x))
    t = np.arange(n) / fs
    slope = float(np.polyfit(t, x, 1)[0] * 60.0) if n > 1 else 0.0
    if hr_max is None and age is not None:
        hr_max = 208.0 - 0.7 * float(age)
    pmax = preserve = None
    zone = None
    if hr_max:
        pmax = float(100 * x[peak_i] / hr_max)
        zone = next(name for bound, name in _ZONES if pmax / 100 < bound)
        if hr_rest is not None and hr_max > hr_rest:
            preserve = float(100 * (x[peak_i] - hr_rest) / (hr_max - hr_rest))
    return ExertionSummary(
        start_bpm=start,
        end_bpm=end,
        mean_bpm=float(x.mean()),
        peak_bpm=float(x[peak_i]),
        rise_bpm=end - start,
        time_to_peak_s=peak_i / fs,
        slope_bpm_per_min=slope,
        percent_hrmax=pmax,
        percent_reserve=preserve,
        zone=zone,
    )
