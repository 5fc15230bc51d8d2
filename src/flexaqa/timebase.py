"""Time in seconds, converted to frame or sample indices only at the edges.

FLEX mixes 120 fps cinema video, 60 fps phone video, 2000 Hz sEMG and slower physiological signals. Every
conversion between them goes through these functions.

>>> seconds_to_index(1.0, 120.0)
120
>>> convert_index(240, 120.0, 2000.0)
4000
>>> convert_index(4000, 2000.0, 60.0)
120
"""

from __future__ import annotations

import numpy as np

# Nominal FLEX rates (paper section 3.2).
CINEMA_FPS = 120.0
PHONE_FPS = 60.0
EMG_HZ = 2000.0


def _check_rate(rate: float) -> float:
    rate = float(rate)
    if not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"a sampling rate must be a positive number of Hz, got {rate!r}")
    return rate


def seconds_to_index(t, rate: float, *, start: float = 0.0, rounding: str = "nearest"):
    """Index of the sample at time ``t`` (seconds) in a stream sampled at ``rate`` Hz that starts at ``start``.

    ``rounding`` is ``"nearest"``, ``"floor"`` or ``"ceil"``. Scalars give an ``int``, arrays an int array.
    """
    rate = _check_rate(rate)
    x = (np.asarray(t, dtype=float) - start) * rate
    # snap values within 1e-9 of an integer first, so 0.1 s * 120 Hz is exactly 12, not 11.999999
    x = np.where(np.abs(x - np.round(x)) < 1e-9, np.round(x), x)
    op = {"nearest": np.round, "floor": np.floor, "ceil": np.ceil}.get(rounding)
    if op is None:
        raise ValueError(f"rounding must be 'nearest', 'floor' or 'ceil', got {rounding!r}")
    out = op(x).astype(np.int64)
    return int(out) if out.ndim == 0 else out


def index_to_seconds(i, rate: float, *, start: float = 0.0):
    """Time in seconds of sample ``i`` of a stream at ``rate`` Hz starting at ``start``."""
    rate = _check_rate(rate)
    out = start + np.asarray(i, dtype=float) / rate
    return float(out) if out.ndim == 0 else out


def convert_index(i, from_rate: float, to_rate: float, *, rounding: str = "nearest"):
    """Index in a ``to_rate`` stream of the same instant as index ``i`` of a ``from_rate`` stream."""
    return seconds_to_index(index_to_seconds(i, from_rate), to_rate, rounding=rounding)


def sample_times(n: int, rate: float, *, start: float = 0.0) -> np.ndarray:
    """Times (seconds) of ``n`` samples at ``rate`` Hz starting at ``start``."""
    return start + np.arange(int(n)) / _check_rate(rate)


def n_samples(duration: float, rate: float) -> int:
    """Number of samples covering ``duration`` seconds at ``rate`` Hz (rounded to nearest)."""
    return seconds_to_index(duration, rate)
