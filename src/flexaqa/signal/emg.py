"""sEMG conditioning: filters, rectification, envelopes, normalisation and spectral fatigue indices.

Every function takes ``(T,)`` or ``(T, C)`` arrays with time on axis 0 (the layout of FLEX ``EMG.csv``: one
column per channel) and works on all channels at once.

>>> import numpy as np
>>> fs = 2000.0
>>> t = np.arange(4000) / fs
>>> x = np.sin(2 * np.pi * 100 * t) + 0.5 * np.sin(2 * np.pi * 50 * t)  # 100 Hz "EMG" + 50 Hz hum
>>> y = notch(x, fs, 50.0)
>>> bool(abs(y[1000:3000].std() - np.sqrt(0.5)) < 0.02)
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import signal as sps

from flexaqa.signal._common import SignalError, as_signal, check_rate, moving_sum, window_count

__all__ = [
    "EmgConfig",
    "ProcessedEmg",
    "bandpass",
    "check_band",
    "highpass",
    "linear_envelope",
    "lowpass",
    "mean_frequency",
    "median_frequency",
    "normalize",
    "notch",
    "process_emg",
    "rectify",
    "remove_dc",
    "rms_envelope",
    "spectral_frequencies",
    "suppress_spikes",
    "windowed_frequencies",
]


def check_band(fs: float, low: float | None, high: float | None) -> None:
    """Raise :class:`SignalError` unless ``0 < low < high < fs / 2`` (either edge may be ``None``)."""
    fs = check_rate(fs)
    nyq = fs / 2
    if low is not None and not 0 < low < nyq:
        raise SignalError(
            f"low cut-off {low} Hz must lie in (0, {nyq:g}) Hz for a sampling rate of {fs:g} Hz"
        )
    if high is not None and not 0 < high < nyq:
        raise SignalError(
            f"sampling rate {fs:g} Hz is too low for a {high:g} Hz upper band edge: it needs more than "
            f"{2 * high:g} Hz (Nyquist). Lower the band or check --fs."
        )
    if low is not None and high is not None and low >= high:
        raise SignalError(f"band ({low}, {high}) Hz: the low edge must be below the high edge")


def _filter(sos: np.ndarray, x: np.ndarray, zero_phase: bool, padlen: int | None = None) -> np.ndarray:
    if zero_phase:
        padlen = min(padlen or 3 * (2 * len(sos) + 1), x.shape[0] - 1)
        return sps.sosfiltfilt(sos, x, axis=0, padlen=max(padlen, 0))
    return sps.sosfilt(sos, x, axis=0)


def bandpass(
    x, fs: float, low: float = 20.0, high: float = 450.0, *, order: int = 4, zero_phase: bool = True
):
    """Butterworth band-pass (default 20–450 Hz, the usual sEMG band); zero-phase unless ``zero_phase=False``."""
    x = as_signal(x, name="sEMG", min_len=2)
    check_band(fs, low, high)
    sos = sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    return _filter(sos, x, zero_phase)


def highpass(x, fs: float, cutoff: float = 20.0, *, order: int = 4, zero_phase: bool = True):
    """Butterworth high-pass: removes baseline drift and most motion artefact energy (below ~20 Hz)."""
    x = as_signal(x, min_len=2)
    check_band(fs, cutoff, None)
    return _filter(sps.butter(order, cutoff, btype="highpass", fs=fs, output="sos"), x, zero_phase)


def lowpass(x, fs: float, cutoff: float, *, order: int = 4, zero_phase: bool = True):
    """Butterworth low-pass."""
    x = as_signal(x, min_len=2)
    check_band(fs, None, cutoff)
    return _filter(sps.butter(order, cutoff, btype="lowpass", fs=fs, output="sos"), x, zero_phase)


def notch_sos(fs: float, freq: float = 50.0, *, q: float = 30.0, harmonics: int = 1) -> np.ndarray:
    """Second-order sections of a mains notch at ``freq`` and its first ``harmonics - 1`` harmonics."""
    fs = check_rate(fs)
    if not 0 < freq < fs / 2:
        raise SignalError(
            f"a notch at {freq:g} Hz needs a sampling rate above {2 * freq:g} Hz (Nyquist), got {fs:g}"
        )
    sections = []
    for k in range(1, max(int(harmonics), 1) + 1):
        f = freq * k
        if f >= fs / 2:
            break
        b, a = sps.iirnotch(f, q, fs=fs)
        sections.append(sps.tf2sos(b, a))
    return np.concatenate(sections)


def notch(x, fs: float, freq: float = 50.0, *, q: float = 30.0, harmonics: int = 1, zero_phase: bool = True):
    """Remove mains hum at ``freq`` (50 or 60 Hz) and optionally its harmonics (``harmonics=3``: f, 2f, 3f)."""
    x = as_signal(x, name="sEMG", min_len=2)
    # a narrow notch rings for about q / (pi f) s: pad by several of those so the edges do not ring
    padlen = round(3 * q / freq * check_rate(fs))
    return _filter(notch_sos(fs, freq, q=q, harmonics=harmonics), x, zero_phase, padlen)


def remove_dc(x) -> np.ndarray:
    """Subtract each channel's mean."""
    x = as_signal(x)
    return x - x.mean(axis=0)


def rectify(x) -> np.ndarray:
    """Full-wave rectification ``|x|``."""
    return np.abs(as_signal(x))


def suppress_spikes(x, *, k: float = 3.0, q: float = 99.0, spread: int = 3) -> np.ndarray:
    """Replace isolated spikes (electrode pops, cable knocks) by straight lines between their neighbours.

    A spike is a jump: a sample whose first difference exceeds ``k`` times the channel's ``q``-th percentile of
    ``|diff|``; it and ``spread`` samples either side are replaced. Working on differences makes the test blind
    to DC offset and drift, and genuine sEMG (band-limited, near-Gaussian) almost never jumps by three times its
    99th-percentile step, so bursts are left intact. Interpolating rather than clipping keeps the later filters
    (especially a narrow notch) from ringing on the spike.
    """
    x = as_signal(x)
    if x.shape[0] < 3:
        return x
    d = np.abs(np.diff(x, axis=0))  # (T-1, ...)
    limit = k * np.percentile(d, q, axis=0)
    limit = np.where(limit > 0, limit, np.inf)
    jump = d > limit
    if not jump.any():
        return x
    bad = np.zeros(x.shape, dtype=bool)
    bad[1:] |= jump
    bad[:-1] |= jump
    if spread > 0:
        bad = moving_sum(bad.astype(float), 2 * int(spread) + 1) > 0
    out = x.copy()
    x2, b2, o2 = x.reshape(len(x), -1), bad.reshape(len(x), -1), out.reshape(len(x), -1)
    t = np.arange(len(x))
    for c in np.nonzero(b2.any(axis=0))[0]:  # per affected channel, vectorised over samples
        good = ~b2[:, c]
        if good.sum() >= 2:
            o2[:, c] = np.where(good, x2[:, c], np.interp(t, t[good], x2[good, c]))
    return out


def rms_envelope(x, fs: float, window: float = 0.05, *, centered: bool = True) -> np.ndarray:
    """Moving root-mean-square over ``window`` seconds (centred, or causal with ``centered=False``)."""
    x = as_signal(x)
    width = max(round(window * check_rate(fs)), 1)
    count = window_count(x.shape[0], width, centered=centered).reshape(-1, *([1] * (x.ndim - 1)))
    return np.sqrt(np.maximum(moving_sum(x * x, width, centered=centered) / count, 0.0))


def linear_envelope(x, fs: float, cutoff: float = 6.0, *, order: int = 2, zero_phase: bool = True):
    """Linear envelope: full-wave rectification followed by a Butterworth low-pass at ``cutoff`` Hz."""
    env = lowpass(np.abs(as_signal(x)), fs, cutoff, order=order, zero_phase=zero_phase)
    return np.maximum(env, 0.0)


def normalize(envelope, *, mvc=None, method: str = "peak") -> np.ndarray:
    """Normalise an envelope per channel: to ``mvc`` (a scalar or one value per channel, e.g. the envelope
    peak of a maximal voluntary contraction) or, without ``mvc``, to the trial's ``"peak"`` (max) or ``"p99"``.
    """
    env = as_signal(envelope, name="envelope")
    if mvc is not None:
        ref = np.broadcast_to(np.asarray(mvc, dtype=float), env.shape[1:])
        if np.any(~np.isfinite(ref)) or np.any(ref <= 0):
            raise SignalError(f"MVC reference values must be positive, got {np.asarray(mvc).tolist()}")
    elif method == "peak":
        ref = env.max(axis=0)
    elif method == "p99":
        ref = np.percentile(env, 99, axis=0)
    else:
        raise SignalError(f"normalisation method must be 'peak' or 'p99' (or give mvc=), got {method!r}")
    ref = np.where(ref > 0, ref, 1.0)
    return env / ref


def spectral_frequencies(x, fs: float, *, nperseg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Median and mean power frequency (Hz) of a whole segment, per channel (Welch spectrum).

    Returns ``(median, mean)``, each ``()`` or ``(C,)``. The median frequency splits the spectrum's power in
    two halves; both fall as a muscle fatigues.
    """
    x = as_signal(x, min_len=8)
    fs = check_rate(fs)
    nper = min(nperseg or max(int(0.25 * fs), 8), x.shape[0])
    f, p = sps.welch(x, fs=fs, nperseg=nper, axis=0)  # p: (F, ...)
    return _mdf_mnf(f, p, axis=0)


def _mdf_mnf(f: np.ndarray, p: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    p = np.moveaxis(p, axis, -1)  # (..., F)
    total = p.sum(axis=-1)
    safe = np.where(total > 0, total, 1.0)
    mnf = (p * f).sum(axis=-1) / safe
    cum = np.cumsum(p, axis=-1)
    idx = np.argmax(cum >= 0.5 * safe[..., None], axis=-1)
    # linear interpolation inside the bin where the cumulative power crosses one half
    prev = np.take_along_axis(cum, np.maximum(idx - 1, 0)[..., None], -1)[..., 0]
    prev = np.where(idx > 0, prev, 0.0)
    cur = np.take_along_axis(cum, idx[..., None], -1)[..., 0]
    f_lo = f[np.maximum(idx - 1, 0)]
    frac = np.clip((0.5 * safe - prev) / np.where(cur > prev, cur - prev, 1.0), 0, 1)
    mdf = np.where(idx > 0, f_lo + frac * (f[idx] - f_lo), f[0])
    nan = np.where(total > 0, 1.0, np.nan)
    return mdf * nan, mnf * nan


def median_frequency(x, fs: float, **kw) -> np.ndarray:
    """Median power frequency (Hz) of a segment per channel; see :func:`spectral_frequencies`."""
    return spectral_frequencies(x, fs, **kw)[0]


def mean_frequency(x, fs: float, **kw) -> np.ndarray:
    """Mean power frequency (Hz) of a segment per channel; see :func:`spectral_frequencies`."""
    return spectral_frequencies(x, fs, **kw)[1]


def windowed_frequencies(x, fs: float, *, window: float = 0.5, step: float | None = None):
    """Median and mean frequency in consecutive windows of ``window`` seconds (hop ``step``, default window).

    Returns ``(times, median, mean)``: window centres in seconds ``(W,)`` and ``(W,)`` or ``(W, C)`` arrays.
    Vectorised: all windows and channels go through one FFT.
    """
    x = as_signal(x)
    fs = check_rate(fs)
    width = max(round(window * fs), 8)
    hop = max(round((step or window) * fs), 1)
    if x.shape[0] < width:
        raise SignalError(f"signal of {x.shape[0]} samples is shorter than one {window} s window")
    frames = np.lib.stride_tricks.sliding_window_view(x, width, axis=0)[::hop]  # (W, [C,] width)
    frames = frames - frames.mean(axis=-1, keepdims=True)
    spec = np.abs(np.fft.rfft(frames * np.hanning(width), axis=-1)) ** 2  # (W, [C,] F)
    f = np.fft.rfftfreq(width, 1 / fs)
    mdf, mnf = _mdf_mnf(f, spec, axis=-1)
    times = (np.arange(frames.shape[0]) * hop + width / 2) / fs
    return times, mdf, mnf


@dataclass(frozen=True)
class EmgConfig:
    """How :func:`process_emg` conditions a recording. Windows and cut-offs are in seconds and Hz."""

    band: tuple[float, float] | None = (20.0, 450.0)  # band-pass; None skips it
    order: int = 4
    mains: float | None = 50.0  # 50 or 60 Hz notch; None skips it
    mains_harmonics: int = 3
    notch_q: float = 30.0
    despike: float | None = 3.0  # interpolate over jumps beyond despike x p99(|diff|); None skips it
    envelope: str = "rms"  # "rms" or "linear"
    rms_window: float = 0.05
    lowpass: float = 6.0  # linear-envelope cut-off
    zero_phase: bool = True  # offline default; streaming code uses causal filters

    def __post_init__(self):
        if self.envelope not in ("rms", "linear"):
            raise SignalError(f"envelope must be 'rms' or 'linear', got {self.envelope!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ProcessedEmg:
    """Result of :func:`process_emg`: the conditioned signal and its envelope, both ``(T,)`` or ``(T, C)``."""

    filtered: np.ndarray
    envelope: np.ndarray
    fs: float
    config: EmgConfig = field(default_factory=EmgConfig)

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.filtered.shape[0]) / self.fs


def process_emg(x, fs: float, config: EmgConfig | None = None) -> ProcessedEmg:
    """DC removal, band-pass, mains notch, spike suppression and envelope, for all channels at once."""
    cfg = config or EmgConfig()
    fs = check_rate(fs)
    x = as_signal(x, name="sEMG", min_len=16)
    if cfg.band is not None:
        check_band(fs, *cfg.band)
    y = x - x.mean(axis=0)
    if cfg.despike is not None:
        y = suppress_spikes(y, k=cfg.despike)
    if cfg.band is not None:
        y = bandpass(y, fs, *cfg.band, order=cfg.order, zero_phase=cfg.zero_phase)
    if cfg.mains is not None and cfg.mains < fs / 2:
        y = notch(y, fs, cfg.mains, q=cfg.notch_q, harmonics=cfg.mains_harmonics, zero_phase=cfg.zero_phase)
    if cfg.envelope == "rms":
        env = rms_envelope(y, fs, cfg.rms_window, centered=cfg.zero_phase)
    else:
        env = linear_envelope(y, fs, cfg.lowpass, zero_phase=cfg.zero_phase)
    return ProcessedEmg(filtered=y, envelope=env, fs=fs, config=cfg)
