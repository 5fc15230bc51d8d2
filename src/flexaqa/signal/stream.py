"""Streaming (chunked, causal) variants for a real-time coach: envelope, burst detection, repetition counting.

Each class keeps its filter and detector state between calls, so feeding a recording in chunks of any size
gives the same output as feeding it at once (up to float rounding). All work inside a chunk is vectorised.

>>> import numpy as np
>>> env = StreamingEnvelope(2000.0, n_channels=2)
>>> x = np.random.default_rng(0).standard_normal((4000, 2))
>>> whole = StreamingEnvelope(2000.0, n_channels=2).process(x)
>>> parts = np.concatenate([env.process(c) for c in np.array_split(x, 7)])
>>> bool(np.allclose(whole, parts))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from flexaqa.signal._common import SignalError, check_rate
from flexaqa.signal.emg import EmgConfig, check_band, notch_sos

__all__ = ["BurstEvent", "RepEvent", "StreamingBurstDetector", "StreamingEnvelope", "StreamingRepCounter"]


def _chunk(x, n_channels: int, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != n_channels:
        raise SignalError(f"{what} chunk must be (n, {n_channels}), got shape {x.shape}")
    return x


class StreamingEnvelope:
    """Causal band-pass + spike clipping + notch + envelope of ``n_channels`` sEMG channels, chunk by chunk.

    Uses the same :class:`~flexaqa.signal.emg.EmgConfig` as the offline path, with causal filters: the RMS
    window ends at the current sample (a delay of half a window against the centred offline envelope).
    Spikes are clipped causally, after the band-pass and before the notch (which would ring on them), then again
    after the notch: samples beyond ``spike_k`` times the RMS of the quietest of three 25 ms windows ending
    ``guard`` s earlier are clipped to that limit (``spike_k=None`` turns this off). The first tens of ms of a very sudden burst are clipped as well, which lowers its envelope there
    but rarely delays detection (the on threshold sits far below ``spike_k`` times the rest level).
    """

    def __init__(
        self,
        fs: float,
        n_channels: int = 1,
        config: EmgConfig | None = None,
        *,
        spike_k: float | None = 5.0,
        guard: float = 0.005,
    ):
        self.fs = check_rate(fs)
        self.n_channels = int(n_channels)
        self.config = cfg = config or EmgConfig()
        self._bp = None
        if cfg.band is not None:
            check_band(self.fs, *cfg.band)
            self._bp = sps.butter(cfg.order, list(cfg.band), btype="bandpass", fs=self.fs, output="sos")
        self._notch = None
        if cfg.mains is not None and cfg.mains < self.fs / 2:
            self._notch = notch_sos(self.fs, cfg.mains, q=cfg.notch_q, harmonics=cfg.mains_harmonics)
        self._env_sos = (
            sps.butter(2, cfg.lowpass, fs=self.fs, output="sos") if cfg.envelope == "linear" else None
        )
        self._width = max(round(cfg.rms_window * self.fs), 1)
        self.spike_k = spike_k
        self._guard = max(round(guard * self.fs), 1)
        self._ref = max(round(0.025 * self.fs), 1)
        self.reset()

    def reset(self) -> None:
        c = self.n_channels
        self._bp_zi = None if self._bp is None else np.zeros((len(self._bp), 2, c))
        self._notch_zi = None if self._notch is None else np.zeros((len(self._notch), 2, c))
        self._env_zi = None if self._env_sos is None else np.zeros((len(self._env_sos), 2, c))
        self._tail = np.zeros((0, c))  # last width-1 squared samples (RMS envelope)
        self._ref_tails = [
            np.zeros((0, c)),
            np.zeros((0, c)),
        ]  # recent squared samples before/after the notch
        self.n_seen = 0

    @staticmethod
    def _window_sums(tail: np.ndarray, sq: np.ndarray, lag: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Sum and count of ``sq`` over ``[t - lag - width + 1, t - lag]`` for each new sample ``t``."""
        allsq = np.concatenate([tail, sq])  # (tail + n, C)
        cs = np.concatenate([np.zeros((1, allsq.shape[1])), np.cumsum(allsq, axis=0)])
        hi = np.arange(len(tail), len(allsq)) + 1 - lag  # exclusive end
        lo = hi - width
        hi_c, lo_c = np.clip(hi, 0, len(allsq)), np.clip(lo, 0, len(allsq))
        return cs[hi_c] - cs[lo_c], (hi_c - lo_c)[:, None]

    def _clip(self, x: np.ndarray, stage: int) -> np.ndarray:
        """Clip spikes. Reference level: the quietest of three 25 ms windows ending ``guard`` before each sample,
        so a spike (shorter than a window) never raises its own limit; no recursion, so chunking is exact."""
        n = len(x)
        sq = x * x
        refs = []
        for m in range(3):
            lag = self._guard + m * self._ref
            total, count = self._window_sums(self._ref_tails[stage], sq, lag, self._ref)
            count = np.minimum(count, np.maximum(self.n_seen + np.arange(n)[:, None] + 1 - lag, 0))
            refs.append(np.where(count > 0, total / np.maximum(count, 1), np.inf))
        limit = self.spike_k * np.sqrt(np.minimum(np.minimum(refs[0], refs[1]), refs[2]))
        self._ref_tails[stage] = np.concatenate([self._ref_tails[stage], sq])[
            -(self._guard + 3 * self._ref) :
        ]
        return np.clip(x, -limit, limit)

    def process(self, chunk) -> np.ndarray:
        """Envelope ``(n, C)`` of the next ``(n, C)`` chunk of raw sEMG."""
        x = _chunk(chunk, self.n_channels, "sEMG")
        n = len(x)
        if self._bp is not None:
            x, self._bp_zi = sps.sosfilt(self._bp, x, axis=0, zi=self._bp_zi)
        if self.spike_k is not None:
            x = self._clip(x, 0)
        if self._notch is not None:
            x, self._notch_zi = sps.sosfilt(self._notch, x, axis=0, zi=self._notch_zi)
            if self.spike_k is not None:
                x = self._clip(x, 1)  # again without the hum, which set a loose first limit
        if self._env_sos is not None:
            env, self._env_zi = sps.sosfilt(self._env_sos, np.abs(x), axis=0, zi=self._env_zi)
            env = np.maximum(env, 0.0)
        else:
            total, _ = self._window_sums(self._tail, x * x, 0, self._width)
            count = np.minimum(self.n_seen + np.arange(1, n + 1), self._width)[:, None]
            env = np.sqrt(np.maximum(total, 0.0) / count)
            self._tail = (
                np.concatenate([self._tail, x * x])[-(self._width - 1) :]
                if self._width > 1
                else self._tail[:0]
            )
        self.n_seen += n
        return env


@dataclass(frozen=True)
class BurstEvent:
    channel: int
    onset: int  # sample index since the stream started
    offset: int  # exclusive


class StreamingBurstDetector:
    """Causal double-threshold burst detection on envelope chunks.

    Thresholds are ``on``/``off`` per channel, or learnt from the first ``calibration`` s of the stream,
    assumed at rest, less its first quarter where the causal filters warm up (``on = base + k x noise_sd``,
    ``off`` halfway). While the envelope has been high in the last ``memory`` s, the off threshold rises to
    ``rel_off`` of that recent peak, so a burst ends when its envelope has fallen by 90 % even if filter ringing
    keeps it above the noise floor for a while. A burst is reported once it has ended and stayed off for ``min_gap`` s (so a short dip does not split it), if it lasted ``min_duration`` s and spent
    ``min_active`` s above the on threshold (longer than the envelope window plus the filters' ringing, so
    that what is left of a lone spike after :class:`StreamingEnvelope` clips it never counts).
    """

    def __init__(
        self,
        fs: float,
        n_channels: int = 1,
        *,
        on=None,
        off=None,
        calibration: float = 1.0,
        k: float = 8.0,
        min_duration: float = 0.1,
        min_gap: float = 0.1,
        min_active: float = 0.15,
        rel_off: float = 0.1,
        memory: float = 1.0,
    ):
        self.fs = check_rate(fs)
        self.n_channels = int(n_channels)
        self.k = k
        self.min_active = max(round(min_active * self.fs), 1)
        self.rel_off = float(rel_off)
        self._half = max(round(memory * self.fs) // 2, 1)  # causal moving max over 2 * half + 1 samples
        self._env_tail = np.zeros((0, int(n_channels)))
        self.min_len = max(round(min_duration * self.fs), 1)
        self.gap = max(round(min_gap * self.fs), 1)
        self.calibration = max(round(calibration * self.fs), 1)
        self.on = None if on is None else np.broadcast_to(np.asarray(on, float), (self.n_channels,)).copy()
        self.off = None if off is None else np.broadcast_to(np.asarray(off, float), (self.n_channels,)).copy()
        if self.on is not None and self.off is None:
            self.off = 0.5 * self.on
        self._calib: list[np.ndarray] = []
        self.n_seen = 0
        c = self.n_channels
        # carried state: last sample above on, above off, below off, and last sample the detector was reset
        self._last_on = np.full(c, -1, dtype=np.int64)
        self._last_hi = np.full(c, -1, dtype=np.int64)
        self._last_lo = np.full(c, -1, dtype=np.int64)
        self._last_off = np.full(c, -1, dtype=np.int64)
        self._active = np.zeros(c, dtype=bool)
        self._onset = np.full(c, -1, dtype=np.int64)
        self._cum_on = np.zeros(c, dtype=np.int64)  # above-on samples seen so far
        self._on_base = np.zeros(c, dtype=np.int64)  # _cum_on when the current burst started

    def _calibrate(self, env: np.ndarray) -> None:
        base = np.median(env, axis=0)
        sd = 1.4826 * np.median(np.abs(env - base), axis=0)
        sd = np.maximum(sd, 1e-12 + 1e-6 * np.abs(base))
        self.on = base + self.k * sd
        self.off = base + 0.5 * self.k * sd

    def process(self, envelope_chunk) -> list[BurstEvent]:
        """Feed the next ``(n, C)`` envelope chunk; returns the bursts completed in it."""
        e = _chunk(envelope_chunk, self.n_channels, "envelope")
        t0 = self.n_seen
        self.n_seen += len(e)
        if self.on is None:
            self._calib.append(e)
            have = sum(len(c) for c in self._calib)
            if have < self.calibration:
                return []
            allc = np.concatenate(self._calib)
            self._calibrate(allc[self.calibration // 4 : self.calibration])  # skip the filters' warm-up
            self._calib = []
            e, t0 = allc[self.calibration :], self.n_seen - (have - self.calibration)
            self._last_off[:] = t0 - 1
        if len(e) == 0:
            return []
        idx = t0 + np.arange(len(e))[:, None]  # (n, 1) global sample index

        def last(mask, carry):  # (n, C) index of the latest True so far, carried across chunks
            return np.maximum(np.maximum.accumulate(np.where(mask, idx, -1), axis=0), carry[None, :])

        above_on = e > self.on
        cum_on = self._cum_on[None, :] + np.cumsum(above_on, axis=0)  # (n, C)
        last_on = last(above_on, self._last_on)
        off = self.off
        if self.rel_off > 0:
            h = self._half
            allx = np.concatenate([self._env_tail, e])  # (tail + n, C)
            mx = ndimage.maximum_filter1d(allx, size=2 * h + 1, axis=0, mode="nearest")  # centred
            pos = len(self._env_tail) + np.arange(len(e)) - h  # the centred window at t - h ends at t
            early = np.maximum.accumulate(allx, axis=0)[
                len(self._env_tail) :
            ]  # whole history is in the window
            recent = np.where(pos[:, None] >= 0, mx[np.maximum(pos, 0)], early)
            off = np.maximum(self.off, self.off + self.rel_off * (recent - self.off))  # (n, C)
            self._env_tail = allx[-2 * h :]
        last_hi = last(e > off, self._last_hi)
        last_lo = last(e <= off, self._last_lo)
        # off once the envelope has stayed below the off threshold for min_gap; on after an above-on sample
        last_off = last((idx - last_hi >= self.gap) & (last_lo >= last_hi), self._last_off)
        active = last_on > last_off  # (n, C)
        prev = np.concatenate([self._active[None, :], active[:-1]])
        onset_here = last_lo + 1  # the above-off run that reached the on threshold started here
        events: list[BurstEvent] = []
        js, cs = np.nonzero(active != prev)  # transitions in time order: a handful per chunk
        for j, c in zip(js, cs, strict=True):
            if active[j, c]:
                self._onset[c] = onset_here[j, c]
                self._on_base[c] = cum_on[j, c] - 1
            else:
                stop = int(last_hi[j, c]) + 1
                n_on = cum_on[j, c] - self._on_base[c]
                if stop - self._onset[c] >= self.min_len and n_on >= self.min_active:
                    events.append(BurstEvent(int(c), int(self._onset[c]), stop))
        self._active = active[-1].copy()
        self._last_on, self._last_hi = last_on[-1].copy(), last_hi[-1].copy()
        self._last_lo, self._last_off = last_lo[-1].copy(), last_off[-1].copy()
        self._cum_on = cum_on[-1].copy()
        return events


@dataclass(frozen=True)
class RepEvent:
    rep: int  # 1-based count
    turnaround: int  # frame of the farthest point from rest
    end: int  # frame at which the repetition was confirmed (back near rest)


class StreamingRepCounter:
    """Causal repetition counter on a 1-D trace (e.g. :func:`~flexaqa.signal.segment.rep_signal` per frame).

    The trace is low-passed causally; ``sign`` is +1 when the first movement phase moves the trace up
    (concentric-first actions with a rising trace), -1 otherwise. A repetition is counted when the distance
    from rest passes ``high`` of the running range and then falls back under ``low`` of it. The running range
    needs at least ``min_range`` (trace units, e.g. 0.05 m) before anything counts.
    """

    def __init__(
        self,
        fps: float,
        *,
        sign: int = 1,
        cutoff: float = 3.0,
        low: float = 0.3,
        high: float = 0.7,
        min_range: float = 0.05,
    ):
        self.fps = check_rate(fps, "frame rate")
        self.sign = 1.0 if sign >= 0 else -1.0
        self.low, self.high, self.min_range = low, high, min_range
        self._sos = sps.butter(2, cutoff, fs=self.fps, output="sos") if cutoff < self.fps / 2 else None
        self._zi = None
        self.count = 0
        self.n_seen = 0
        self._lo = np.inf
        self._hi = -np.inf
        self._up = False  # currently past the high mark
        self._peak = (-np.inf, -1)

    def process(self, chunk) -> list[RepEvent]:
        """Feed the next frames ``(n,)``; returns the repetitions completed in them."""
        y = np.asarray(chunk, dtype=float).reshape(-1) * self.sign
        if y.size == 0:
            return []
        if self._sos is not None:
            if self._zi is None:
                self._zi = sps.sosfilt_zi(self._sos) * y[0]
            y, self._zi = sps.sosfilt(self._sos, y, zi=self._zi)
        idx = self.n_seen + np.arange(len(y))
        self.n_seen += len(y)
        lo = np.minimum(np.minimum.accumulate(y), self._lo)
        hi = np.maximum(np.maximum.accumulate(y), self._hi)
        span = hi - lo
        valid = span >= self.min_range
        up = valid & (y >= lo + self.high * span)
        down = valid & (y <= lo + self.low * span)
        # keep only the crossings that change the state (up -> down -> up ...): a few per chunk
        cand = np.nonzero(up | down)[0]
        lab = up[cand]
        change = lab != np.concatenate([[self._up], lab[:-1]])
        events = []
        start = 0  # where the current "up" stretch began inside this chunk
        for j, is_up in zip(cand[change], lab[change], strict=True):
            if is_up:
                start = j
                self._peak = (-np.inf, -1)
            else:
                peak = self._peak
                if j > start:
                    k = start + int(np.argmax(y[start:j]))
                    peak = (y[k], int(idx[k])) if y[k] > peak[0] else peak
                self.count += 1
                events.append(RepEvent(self.count, peak[1], int(idx[j])))
                self._peak = (-np.inf, -1)
        self._up = bool(lab[change][-1]) if change.any() else self._up
        if self._up:
            k = start + int(np.argmax(y[start:]))
            if y[k] > self._peak[0]:
                self._peak = (y[k], int(idx[k]))
        self._lo, self._hi = float(lo[-1]), float(hi[-1])
        return events
