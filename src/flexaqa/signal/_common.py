"""Shared checks and tiny vectorised helpers of :mod:`flexaqa.signal`. Time is always axis 0."""

from __future__ import annotations

import numpy as np

from flexaqa.errors import BadDataError, MissingFileError


class SignalError(BadDataError, ValueError):
    """Bad input to a signal function: wrong shape, NaNs, a sampling rate too low for a filter, ... (exit 3)"""


class MissingSignalFileError(MissingFileError, SignalError):
    """A recording file that does not exist (exit code 9)."""


def check_rate(fs: float, what: str = "sampling rate") -> float:
    """``fs`` as a positive finite float, or a :class:`SignalError` naming ``what``."""
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise SignalError(f"the {what} must be a number of Hz, got {fs!r}") from None
    if not np.isfinite(fs) or fs <= 0:
        raise SignalError(f"the {what} must be a positive number of Hz, got {fs!r}")
    return fs


def as_signal(x, *, name: str = "signal", min_len: int = 1, allow_nan: bool = False) -> np.ndarray:
    """``x`` as a float array with time on axis 0: ``(T,)`` or ``(T, C)``; checks length and NaNs."""
    x = np.asarray(x, dtype=float)
    if x.ndim not in (1, 2):
        raise SignalError(f"{name} must be (T,) or (T, channels) with time on axis 0, got shape {x.shape}")
    if x.shape[0] < min_len:
        raise SignalError(f"{name} has {x.shape[0]} samples; at least {min_len} are needed")
    if not allow_nan and not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        where = f"sample {bad[0]}" + (f", channel {bad[1]}" if x.ndim == 2 else "")
        raise SignalError(
            f"{name} contains NaN or infinite values (first at {where}); clean or interpolate it first"
        )
    return x


def moving_sum(x: np.ndarray, width: int, *, centered: bool = True) -> np.ndarray:
    """Sum over a window of ``width`` samples along axis 0 (edges use the part of the window inside).

    ``centered`` puts the window around each sample, otherwise it ends at the sample (causal).
    """
    width = max(int(width), 1)
    n = x.shape[0]
    cs = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)])  # (T+1, ...)
    t = np.arange(n)
    lo = t - width // 2 if centered else t - width + 1
    hi = lo + width
    lo, hi = np.clip(lo, 0, n), np.clip(hi, 0, n)
    return cs[hi] - cs[lo]


def window_count(n: int, width: int, *, centered: bool = True) -> np.ndarray:
    """Number of samples inside each window of :func:`moving_sum`, shaped ``(T,)``."""
    return moving_sum(np.ones(n), width, centered=centered)


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of ``True`` along axis 0 of a ``(T,)`` or ``(T, C)`` mask: ``(channel, start, stop)`` arrays.

    ``stop`` is exclusive. Vectorised over channels (each channel is padded and the columns are flattened).
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim == 1:
        m = m[:, None]
    n, c = m.shape
    padded = np.zeros((c, n + 2), dtype=np.int8)
    padded[:, 1:-1] = m.T
    d = np.diff(padded, axis=1)  # (C, T+1)
    ch_s, start = np.nonzero(d == 1)
    _, stop = np.nonzero(d == -1)
    return ch_s.astype(np.int64), start.astype(np.int64), stop.astype(np.int64)
