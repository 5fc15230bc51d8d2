"""sEMG features for AQA and Video2EMG: the FLEX "relative muscle contribution", its envelope-based variant,
one sEMG value per video frame, and resampling of any signal onto another time base in seconds.

The official baseline (``HaoYin116/FLEX_AQA_Dataset``) reduces a recording ``(T, C)`` to two numbers: the left
and right activation peaks ``L``, ``R`` of a class-dependent choice of columns, as ``(L/(L+R), R/(L+R))``.
The column choice is a table (:data:`OFFICIAL_CONTRIBUTION_COLUMNS`), written once here.
"""

from __future__ import annotations

import numpy as np

from flexaqa.kg import load_kg
from flexaqa.signal._common import SignalError, as_signal, check_rate

__all__ = [
    "OFFICIAL_CONTRIBUTION_COLUMNS",
    "contribution_columns",
    "emg_per_frame",
    "relative_muscle_contribution",
    "relative_muscle_contribution_envelope",
    "resample",
]

# (classes, left columns, right columns), as the official code reads them. A side with two columns averages
# their rectified values sample by sample before taking the peak. Note: for several classes these columns
# do not match the sides the knowledge graph gives the electrodes (e.g. class 1 compares column 0, left
# anterior deltoid, with column 2, left medial deltoid); use ``source="kg"`` for a side-true variant.
_OFFICIAL_GROUPS: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...] = (
    ((1, 2, 4, 5, 14, 16), (0,), (2,)),
    ((3, 6, 15, 20), (1,), (3,)),
    ((7, 17, 18, 19), (0,), (1,)),
    ((8, 9, 10, 11, 12, 13), (0, 1), (2, 3)),
)
OFFICIAL_CONTRIBUTION_COLUMNS: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {
    cls: (left, right) for classes, left, right in _OFFICIAL_GROUPS for cls in classes
}


def contribution_columns(action, *, source: str = "official") -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Left and right column indices used for ``action`` (index, class id, slug or name).

    ``source="official"`` follows the FLEX baseline code; ``"kg"`` takes every channel the knowledge graph
    places on the left versus every channel on the right.
    """
    a = load_kg().action(action)
    if source == "official":
        return OFFICIAL_CONTRIBUTION_COLUMNS[a.index]
    if source == "kg":
        left = tuple(c.index for c in a.emg_channels if c.side == "left")
        right = tuple(c.index for c in a.emg_channels if c.side == "right")
        return left, right
    raise SignalError(f"source must be 'official' or 'kg', got {source!r}")


def _columns(x: np.ndarray, cols: tuple[int, ...], what: str) -> np.ndarray:
    if x.ndim != 2 or x.shape[1] <= max(cols):
        raise SignalError(
            f"{what} needs sEMG columns {list(cols)}, but the recording has shape {x.shape} (time, channels)"
        )
    return x[:, list(cols)]


def relative_muscle_contribution(emg, action) -> np.ndarray:
    """The FLEX baseline's EMG feature: ``(L/(L+R), R/(L+R))`` from raw peaks, exactly as the official code.

    ``L = max_t mean_{k in left} |x_k|`` and likewise ``R`` (columns from :data:`OFFICIAL_CONTRIBUTION_COLUMNS`).
    No filtering is applied; a flat recording (``L + R = 0``) gives NaNs, as the original division does.
    """
    x = as_signal(emg, name="sEMG")
    left, right = contribution_columns(action)
    _columns(x, tuple(sorted(set(left + right))), "the official feature")
    lr = np.array(
        [np.abs(_columns(x, cols, "the official feature")).mean(axis=1).max() for cols in (left, right)]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return lr / lr.sum()


def relative_muscle_contribution_envelope(
    emg,
    fs: float,
    action,
    *,
    source: str = "official",
    statistic: str = "p95",
    config=None,
) -> np.ndarray:
    """Improved left/right contribution from conditioned envelopes instead of one raw peak.

    The recording is band-passed, notched and de-spiked and its RMS envelope taken
    (:func:`~flexaqa.signal.emg.process_emg`, ``config``); each side's envelope (mean over its columns) is
    reduced by ``statistic`` — ``"p95"`` (95th percentile: the sustained activation level, insensitive to a
    single spike or motion artefact), ``"mean"`` (the mean, proportional to integrated EMG) or ``"peak"``.
    A silent recording gives ``(0.5, 0.5)``. Compare with the official feature in the AQA benchmark.
    """
    from flexaqa.signal.emg import process_emg

    x = as_signal(emg, name="sEMG")
    left, right = contribution_columns(action, source=source)
    cols = sorted(set(left) | set(right))
    _columns(x, tuple(cols), "the envelope feature")
    env = process_emg(x[:, cols], fs, config).envelope  # (T, len(cols))
    pos = {c: i for i, c in enumerate(cols)}
    sides = np.stack(
        [env[:, [pos[c] for c in side]].mean(axis=1) for side in (left, right)], axis=1
    )  # (T, 2)
    if statistic == "p95":
        lr = np.percentile(sides, 95, axis=0)
    elif statistic == "mean":
        lr = sides.mean(axis=0)
    elif statistic == "peak":
        lr = sides.max(axis=0)
    else:
        raise SignalError(f"statistic must be 'p95', 'mean' or 'peak', got {statistic!r}")
    total = lr.sum()
    return lr / total if total > 0 else np.full(2, 0.5)


def _bin_edges(
    times: np.ndarray, fs: float, start: float, n: int, window: float
) -> tuple[np.ndarray, np.ndarray]:
    """Window edges in fractional sample units, where sample ``i`` covers ``[i, i + 1)`` (its time +- half)."""
    pos = (np.asarray(times, dtype=float) - start) * fs + 0.5
    half = window * fs / 2
    return np.clip(pos - half, 0, n), np.clip(pos + half, 0, n)


def _window_mean(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of the piecewise-constant signal over ``[lo, hi)`` (fractional samples weigh by their overlap), so
    windows that tile the time axis split every sample exactly and the average has no half-sample bias."""
    n = x.shape[0]
    cs = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)])  # (T+1, ...)
    shape = (-1, *([1] * (x.ndim - 1)))

    def integral(u):  # integral of the signal over [0, u)
        k = np.minimum(np.floor(u).astype(np.int64), n - 1)
        return cs[k] + (u - k).reshape(shape) * x[k]

    width = (hi - lo).reshape(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(width > 0, (integral(hi) - integral(lo)) / np.where(width > 0, width, 1.0), np.nan)


def emg_per_frame(
    emg,
    fs: float,
    fps: float,
    *,
    n_frames: int | None = None,
    window: float | None = None,
    rectify: bool = True,
    start: float = 0.0,
) -> np.ndarray:
    """Video2EMG target: the sliding-window average of the (rectified) sEMG around each video frame.

    Frame ``i`` is at ``i / fps`` s; the sEMG stream starts at ``start`` s on the same clock. The window is
    centred on the frame and ``window`` s wide (default one frame period, so windows tile the signal: 16.7
    samples per frame at 2000 Hz and 120 fps, 33.3 at 60 fps); a sample cut by a window edge counts in
    proportion to its overlap, so every sample is used exactly once. Frames whose window holds no sample are
    NaN.
    Returns ``(n_frames,)`` or ``(n_frames, C)``.
    """
    fs, fps = check_rate(fs), check_rate(fps, "frame rate")
    x = as_signal(emg, name="sEMG")
    if rectify:
        x = np.abs(x)
    if n_frames is None:
        n_frames = int(np.floor((start + x.shape[0] / fs) * fps + 1e-9))
    times = np.arange(int(n_frames)) / fps
    lo, hi = _bin_edges(times, fs, start, x.shape[0], window or 1.0 / fps)
    return _window_mean(x, lo, hi)


def resample(x, fs: float, times, *, start: float = 0.0, method: str = "linear", window: float | None = None):
    """Values of a signal sampled at ``fs`` Hz (first sample at ``start`` s) at arbitrary ``times`` (s).

    ``method``: ``"linear"`` interpolation, ``"nearest"`` sample, or ``"mean"`` over a window centred on each
    time (``window`` s, default the median spacing of ``times``: use it to go down in rate without aliasing).
    Times outside the signal give NaN. Returns ``(len(times),)`` or ``(len(times), C)``.
    """
    fs = check_rate(fs)
    x = as_signal(x, allow_nan=True)
    t = np.asarray(times, dtype=float)
    n = x.shape[0]
    pos = (t - start) * fs  # fractional sample index
    inside = (pos >= -1e-9) & (pos <= n - 1 + 1e-9)
    shape = (-1, *([1] * (x.ndim - 1)))
    if method == "linear":
        p = np.clip(pos, 0, n - 1)
        i0 = np.minimum(np.floor(p).astype(np.int64), max(n - 2, 0))
        frac = (p - i0).reshape(shape)
        i1 = np.minimum(i0 + 1, n - 1)
        out = x[i0] * (1 - frac) + x[i1] * frac
    elif method == "nearest":
        out = x[np.clip(np.round(pos).astype(np.int64), 0, n - 1)]
    elif method == "mean":
        w = window if window is not None else (float(np.median(np.diff(t))) if t.size > 1 else 1.0 / fs)
        lo, hi = _bin_edges(t, fs, start, n, max(w, 1.0 / fs))
        out = _window_mean(x, lo, hi)
        inside = inside | (hi > lo)
    else:
        raise SignalError(f"method must be 'linear', 'nearest' or 'mean', got {method!r}")
    return np.where(inside.reshape(shape), out, np.nan)
