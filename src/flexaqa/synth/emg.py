"""Synthetic sEMG at 2000 Hz on an action's Table-8 channels.

Activation envelopes follow the phases (concentric > eccentric > holding), the load relative to the subject's
maximum and fatigue; the raw signal is band-limited noise modulated by the envelope, plus baseline noise, 50 Hz
mains hum and occasional motion artefacts. Fatigue shifts power towards a compressed spectrum (slower muscle-fibre
conduction), lowering the median frequency by about 10-20 % over a set of ten repetitions, the range reported for
dynamic sets at moderate loads (e.g. Cifrek et al., Clin. Biomech. 2009); fresh median frequency is about 110 Hz.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from flexaqa.timebase import EMG_HZ

# Antagonists and secondary muscles: activation gain by (action slug, Table-8 muscle). Default: the action's
# first muscle 1.0, others 0.7.
_GAIN = {
    ("barbell-biceps-curl", "triceps brachii"): 0.2,
    ("dumbbell-biceps-curl", "triceps brachii"): 0.2,
    ("dumbbell-bent-over-triceps-extension", "biceps brachii"): 0.2,
    ("squat", "biceps femoris"): 0.4,
    ("deadlift", "vastus lateralis"): 0.75,
}
PEAK_MV = 0.6  # envelope amplitude (mV RMS) of a fully active agonist
_BANDS = ((20.0, 200.0), (15.0, 135.0))  # fresh spectrum (median ~113 Hz) and compressed one (~75 Hz)


def channel_gains(action) -> np.ndarray:
    """Relative activation of each of ``action.emg_channels``."""
    first = action.emg_channels[0].muscle
    return np.array(
        [_GAIN.get((action.slug, c.muscle), 1.0 if c.muscle == first else 0.7) for c in action.emg_channels]
    )


def side_channels(action) -> tuple[list[int], list[int]]:
    """Column indices of the left and right channels of the action's first (agonist) muscle."""
    first = action.emg_channels[0].muscle
    left = [i for i, c in enumerate(action.emg_channels) if c.muscle == first and c.side == "left"]
    right = [i for i, c in enumerate(action.emg_channels) if c.muscle == first and c.side == "right"]
    return left, right


def envelope(
    t_frames: np.ndarray, drive: np.ndarray, t: np.ndarray, delay: np.ndarray | None = None
) -> np.ndarray:
    """Resample a per-frame activation ``drive`` to times ``t`` (s), optionally delayed by ``delay`` (s, per frame)."""
    if delay is not None:
        t = t - np.interp(t, t_frames, delay)
    return np.interp(t, t_frames, drive)


def synth_emg(
    action,
    t_frames: np.ndarray,
    activity: np.ndarray,
    knobs: dict,
    fatigue: np.ndarray,
    rng: np.random.Generator,
    *,
    gain: float = 1.0,
    rate: float = EMG_HZ,
) -> np.ndarray:
    """Raw sEMG ``(N, C)`` in mV.

    Args:
        t_frames: ``(T,)`` frame times (s) of the per-frame inputs.
        activity: ``(T,)`` 0..1 phase-driven activation of the agonists.
        knobs: per-frame ``emg_asym`` (signed left/right imbalance), ``emg_delay`` (s, delays the agonist),
            ``emg_biceps`` (extra biceps drive).
        fatigue: ``(T,)`` 0..1, raises the envelope and lowers the median frequency.
    """
    n = round(t_frames[-1] * rate) + 1
    t = np.arange(n) / rate
    gains = channel_gains(action)
    asym = np.interp(t, t_frames, knobs.get("emg_asym", np.zeros_like(t_frames)))
    fat = np.interp(t, t_frames, fatigue)
    bic = np.interp(t, t_frames, knobs.get("emg_biceps", np.zeros_like(t_frames)))
    delay = knobs.get("emg_delay")
    first = action.emg_channels[0].muscle
    sos = [sps.butter(4, band, btype="bandpass", fs=rate, output="sos") for band in _BANDS]
    w = np.clip(0.1 + 0.55 * fat, 0, 1)  # share of the compressed band
    out = np.empty((n, len(gains)), dtype=np.float32)
    for c, ch in enumerate(action.emg_channels):
        env = envelope(t_frames, activity, t, delay if ch.muscle == first and delay is not None else None)
        env = gains[c] * env * (1 + 0.25 * fat)
        if ch.muscle == "biceps brachii":
            env = env * (1 + bic)
        if ch.muscle == first:
            env = env * (1 + (asym if ch.side == "left" else -asym))
        hi = sps.sosfilt(sos[0], rng.standard_normal(n))
        lo = sps.sosfilt(sos[1], rng.standard_normal(n))
        raw = np.sqrt(1 - w) * hi / hi.std() + np.sqrt(w) * lo / lo.std()
        x = PEAK_MV * gain * (0.03 + np.maximum(env, 0)) * raw
        x += 0.004 * rng.standard_normal(n) + 0.008 * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi))
        out[:, c] = x
    for _ in range(rng.poisson(0.4 * t[-1] / 10)):  # motion artefacts: damped low-frequency transients
        i0 = int(rng.integers(0, max(n - 400, 1)))
        k = np.arange(min(400, n - i0)) / rate
        art = rng.uniform(0.3, 1.0) * np.exp(-k / 0.04) * np.sin(2 * np.pi * rng.uniform(5, 15) * k)
        out[i0 : i0 + len(k), int(rng.integers(len(gains)))] += art.astype(np.float32)
    return out
