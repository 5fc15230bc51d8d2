"""Tiny synthetic recordings that carry their own ground truth, for tests, benchmarks and bug reports.

These are deliberately simple (band-limited noise bursts, smooth rep trajectories); the full simulator lives in
:mod:`flexaqa.synth`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

__all__ = ["SyntheticEmg", "SyntheticTrial", "make_breath", "make_emg", "make_rep_trajectory"]


@dataclass(frozen=True)
class SyntheticEmg:
    """An sEMG recording ``emg`` ``(T, C)`` at ``fs`` Hz with bursts at known sample indices.

    ``onsets``/``offsets`` are ``(B,)`` sample indices (offset exclusive) shared by every channel;
    ``mdf_scale`` ``(B,)`` is the factor applied to the spectrum of each burst (falls with simulated fatigue).
    """

    emg: np.ndarray
    fs: float
    onsets: np.ndarray
    offsets: np.ndarray
    amplitudes: np.ndarray
    mdf_scale: np.ndarray


def _band_noise(rng, n: int, c: int, fs: float, lo: float, hi: float) -> np.ndarray:
    sos = sps.butter(4, [lo, min(hi, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    z = sps.sosfilt(sos, rng.standard_normal((n + 400, c)), axis=0)[400:]
    return z / z.std(axis=0)


def make_emg(
    *,
    fs: float = 2000.0,
    duration: float = 12.0,
    n_channels: int = 2,
    n_bursts: int = 5,
    burst_duration: float = 0.8,
    first_onset: float = 1.0,
    period: float = 2.0,
    amplitude: float = 1.0,
    noise: float = 0.02,
    fatigue: float = 0.0,
    drift: float = 0.0,
    hum: float = 0.0,
    mains: float = 50.0,
    spikes: int = 0,
    seed: int = 0,
) -> SyntheticEmg:
    """Bursts of 20–450 Hz noise over a white noise floor, with optional nuisances of known size.

    ``fatigue`` in [0, 1) lowers the spectrum of the last burst by that fraction (linearly across bursts);
    ``drift`` adds a slow baseline wander of that amplitude, ``hum`` a mains sine (``mains`` Hz, + harmonics),
    ``spikes`` that many isolated 10x-amplitude spikes between bursts.
    """
    rng = np.random.default_rng(seed)
    n = round(duration * fs)
    t = np.arange(n) / fs
    onsets = np.round((first_onset + period * np.arange(n_bursts)) * fs).astype(np.int64)
    offsets = onsets + round(burst_duration * fs)
    if offsets[-1] > n:
        raise ValueError("bursts do not fit in the duration")
    scales = 1.0 - fatigue * np.linspace(0.0, 1.0, n_bursts)
    amps = amplitude * (1.0 + 0.2 * rng.uniform(-1, 1, n_bursts))
    x = noise * rng.standard_normal((n, n_channels))
    base = _band_noise(rng, n, n_channels, fs, 40.0, 300.0)
    for b, (on, off) in enumerate(zip(onsets, offsets, strict=True)):
        seg = base[on:off]
        if scales[b] != 1.0:  # compress the spectrum: resample the burst slower
            seg = _band_noise(rng, off - on, n_channels, fs, 40.0 * scales[b], 300.0 * scales[b])
        ramp = np.minimum(1.0, np.minimum(np.arange(off - on), np.arange(off - on)[::-1]) / (0.05 * fs))
        x[on:off] += amps[b] * seg * (0.3 + 0.7 * ramp)[:, None]
    if drift:
        x += drift * np.sin(2 * np.pi * 0.15 * t[:, None] + rng.uniform(0, 6.3, n_channels))
    if hum:
        for k, share in ((1, 1.0), (3, 0.3)):
            x += hum * share * np.sin(2 * np.pi * mains * k * t)[:, None]
    if spikes:
        gaps = np.concatenate([[0], offsets[:-1]]), onsets
        for i in range(spikes):
            g = i % len(onsets)
            lo, hi = gaps[0][g] + round(0.1 * fs), gaps[1][g] - round(0.1 * fs)
            at = rng.integers(lo, max(hi, lo + 1))
            x[at : at + 3] += 10 * amplitude * rng.choice([-1, 1], size=(1, n_channels))
    return SyntheticEmg(x, float(fs), onsets, offsets, amps, scales)


@dataclass(frozen=True)
class SyntheticTrial:
    """A continuous trial's tracked-point height ``signal`` ``(T,)`` at ``fps`` with true keyframes.

    ``keyframes`` ``(R, 3)``: start, turnaround and end frame of each repetition. ``first_phase`` is
    ``"concentric"`` (the point rises first, e.g. a curl) or ``"eccentric"`` (it sinks first, e.g. a squat).
    """

    signal: np.ndarray
    fps: float
    keyframes: np.ndarray
    first_phase: str


def make_rep_trajectory(
    *,
    n_reps: int = 10,
    fps: float = 120.0,
    rep_duration: float = 2.5,
    tempo_jitter: float = 0.2,
    pause: float = 0.0,
    prep: float = 2.0,
    amplitude: float = 0.5,
    noise: float = 0.005,
    first_phase: str = "concentric",
    seed: int = 0,
) -> SyntheticTrial:
    """A smooth height trace: a preparation segment (set-up wobble), then ``n_reps`` cosine-shaped
    repetitions whose durations vary by ``±tempo_jitter`` and whose up/down halves differ, then a short rest.
    """
    rng = np.random.default_rng(seed)
    sign = 1.0 if first_phase == "concentric" else -1.0
    rest = 1.0
    pieces = []
    n_prep = round(prep * fps)
    tp = np.arange(n_prep) / fps
    # preparation: getting into position, a small hump well below a rep's amplitude, ending at rest
    pieces.append(
        rest
        + sign * 0.15 * amplitude * np.sin(np.pi * tp / max(prep, 1e-9)) ** 2
        - sign * 0.1 * amplitude * (tp < prep / 3)
    )
    keys = []
    cursor = n_prep
    for _ in range(n_reps):
        d = rep_duration * (1 + tempo_jitter * rng.uniform(-1, 1))
        split = rng.uniform(0.35, 0.5)  # the first half is quicker than the second
        n1, n2 = round(d * split * fps), round(d * (1 - split) * fps)
        up = 0.5 - 0.5 * np.cos(np.pi * np.arange(n1) / n1)
        down = 0.5 + 0.5 * np.cos(np.pi * np.arange(n2) / n2)
        a = amplitude * (1 + 0.1 * rng.uniform(-1, 1))
        pieces.append(rest + sign * a * np.concatenate([up, down]))
        keys.append((cursor, cursor + n1, cursor + n1 + n2))
        cursor += n1 + n2
        n_pause = round(pause * (1 + 0.3 * rng.uniform(-1, 1)) * fps)
        if n_pause:
            pieces.append(np.full(n_pause, rest))
            cursor += n_pause
    pieces.append(np.full(round(1.0 * fps), rest))
    y = np.concatenate(pieces)
    y = y + noise * rng.standard_normal(y.shape)
    return SyntheticTrial(y, float(fps), np.asarray(keys, dtype=np.int64), first_phase)


def make_breath(
    *,
    fs: float = 50.0,
    duration: float = 30.0,
    rate_bpm: float = 15.0,
    inhale_share: float = 0.4,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A breath waveform (rises on inhale) and its true phase per sample (+1 inhale, -1 exhale)."""
    rng = np.random.default_rng(seed)
    n = round(duration * fs)
    period = 60.0 / rate_bpm
    cyc = (np.arange(n) / fs / period) % 1.0
    phase = np.where(cyc < inhale_share, 1, -1)
    wave = np.where(
        cyc < inhale_share,
        0.5 - 0.5 * np.cos(np.pi * cyc / inhale_share),
        0.5 + 0.5 * np.cos(np.pi * (cyc - inhale_share) / (1 - inhale_share)),
    )
    return wave + 0.01 * rng.standard_normal(n), phase.astype(np.int64)
