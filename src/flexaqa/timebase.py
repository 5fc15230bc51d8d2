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

import math
from collections.abc import Callable

import numpy as np

# Nominal FLEX rates (paper section 3.2).
CINEMA_FPS = 120.0
PHONE_FPS = 60.0
EMG_HZ = 2000.0

# CoRe (Yu et al. 2021) feeds I3D 103 frames as 10 overlapping 16-frame clips starting at these frames:
# ``start_idx = [0,10,20,30,40,50,60,70,80,86]`` in ``I3D_backbone.forward`` of CoRe's code (yuxumin/CoRe,
# models/Backbone.py, commit 0fdb37e). The last clip is frames 86..101 of 0..102: CoRe never reads frame 102.
CORE_NUM_FRAMES = 103
CORE_CLIP_LEN = 16
CORE_CLIP_STARTS = (0, 10, 20, 30, 40, 50, 60, 70, 80, 86)


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


def rate_filter(pose_fps: float | None, rate: float | None = None) -> Callable[[float], bool]:
    """A predicate ``keep(t)`` that keeps one frame per ``1 / pose_fps`` seconds, counted from the first frame.

    ``rate`` is the stream's nominal frame rate: frames whose time stamp is up to a quarter frame early still
    count for the next slot, so jittery time stamps do not skip frames. With ``pose_fps`` unset, or not below
    ``rate``, every frame is kept. Kept frames keep their own time stamps (no resampling).

    >>> keep = rate_filter(30, 60)
    >>> [i for i in range(8) if keep(i / 60)]
    [0, 2, 4, 6]
    """
    if not pose_fps:
        return lambda t: True
    if pose_fps <= 0:
        raise ValueError(f"pose_fps must be positive, got {pose_fps}")
    if rate and pose_fps >= rate * 0.999:
        return lambda t: True
    tol = 0.25 * pose_fps / rate if rate else 0.0
    state = {"t0": None, "slot": -1}

    def keep(t: float) -> bool:
        if state["t0"] is None:
            state["t0"] = t
        slot = math.floor((t - state["t0"]) * pose_fps + tol + 1e-9)
        if slot > state["slot"]:
            state["slot"] = slot
            return True
        return False

    return keep
