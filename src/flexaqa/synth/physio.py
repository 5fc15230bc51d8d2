"""Synthetic heart rate and breath waveform, tied to the repetition phases.

The keysteps prescribe exhaling in the concentric phase and inhaling in the eccentric phase; the breath
waveform (chest expansion, arbitrary units) rises while inhaling and falls while exhaling, unless a breathing
error (ET014, ET017) flips a phase. Heart rate relaxes toward an exertion-dependent target with a 20 s time
constant and recovers at rest.
"""

from __future__ import annotations

import numpy as np

PHYSIO_HZ = 50.0


def breath_waveform(
    t_frames: np.ndarray, direction: np.ndarray, rng: np.random.Generator, rate: float = PHYSIO_HZ
):
    """Breath ``(N,)`` from a per-frame ``direction`` (+1 inhale, -1 exhale, 0 hold)."""
    n = round(t_frames[-1] * rate) + 1
    t = np.arange(n) / rate
    d = np.interp(t, t_frames, direction)
    flow = d * 0.9 + 0.03 * rng.standard_normal(n)
    b = np.cumsum(flow) / rate
    return (b - b.min()) / max(np.ptp(b), 1e-6)


def heart_rate(
    t_frames: np.ndarray,
    exertion: np.ndarray,
    hr_rest: float,
    rng: np.random.Generator,
    rate: float = PHYSIO_HZ,
) -> np.ndarray:
    """Heart rate (bpm) ``(N,)`` from per-frame ``exertion`` 0..1 (first-order response, tau 20 s)."""
    n = round(t_frames[-1] * rate) + 1
    t = np.arange(n) / rate
    target = hr_rest + 15 + 70 * np.interp(t, t_frames, exertion)
    hr = np.empty(n)
    hr[0] = hr_rest + 15 + rng.normal(0, 3)
    a = 1 / (20.0 * rate)
    for i in range(1, n):  # cheap: n is a few thousand samples per trial
        hr[i] = hr[i - 1] + a * (target[i] - hr[i - 1])
    return hr + 1.5 * np.sin(2 * np.pi * 0.25 * t) + 0.3 * rng.standard_normal(n)
