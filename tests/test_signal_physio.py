"""Breath phase and its timing against movement phases; heart-rate cleaning and exertion summary."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.signal import (
    SignalError,
    breath_phase,
    breathing_by_phase,
    exertion_summary,
    make_breath,
    make_rep_trajectory,
    segment_signal,
    smooth_heart_rate,
)


def test_breath_phase_matches_the_waveform():
    wave, truth = make_breath(fs=50.0, duration=30.0)
    ph = breath_phase(wave, 50.0)
    assert np.mean(ph == truth) > 0.9
    inverted = breath_phase(-wave, 50.0, inhale_sign=-1)
    assert np.mean(inverted == truth) > 0.9
    with pytest.raises(SignalError, match="1-D"):
        breath_phase(np.ones((100, 2)), 50.0)


def breath_locked_to(trial, fs, good=True):
    """A breath waveform that exhales during every concentric half (or inhales, when not ``good``)."""
    t = np.arange(round(len(trial.signal) / trial.fps * fs)) / fs
    lung = np.zeros_like(t)
    rising = np.zeros_like(t)  # +1 when the lungs should fill
    for s, m, e in trial.keyframes / trial.fps:
        rising[(t >= s) & (t < m)] = -1.0 if good else 1.0  # concentric first: exhale
        rising[(t >= m) & (t < e)] = 1.0 if good else -1.0
    lung = np.cumsum(rising) / fs
    return lung


@pytest.mark.parametrize("good", [True, False])
def test_breathing_errors_by_phase(good):
    trial = make_rep_trajectory(n_reps=5, first_phase="concentric", seed=0, noise=0.0)
    seg = segment_signal(trial.signal, trial.fps, phase_names=("preparation", "concentric", "eccentric"))
    fs = 25.0
    res = breathing_by_phase(breath_locked_to(trial, fs, good), fs, seg, cutoff=2.0)
    assert len(res) == 10 and {r.phase for r in res} == {"concentric", "eccentric"}
    errors = [r.error for r in res]
    if good:
        assert errors == [None] * 10
        assert all(r.exhale > 0.6 for r in res if r.phase == "concentric")
        assert all(abs(r.lag_s) < 0.2 for r in res)  # breath turns with the movement
    else:
        assert errors == ["ET014", "ET017"] * 5
        assert all(r.lag_s > 0.3 or np.isnan(r.lag_s) for r in res)  # the right breath never comes in time


def test_breath_lag_measures_a_late_exhale():
    trial = make_rep_trajectory(n_reps=3, first_phase="concentric", seed=0, noise=0.0)
    seg = segment_signal(trial.signal, trial.fps, phase_names=("preparation", "concentric", "eccentric"))
    fs = 50.0
    t = np.arange(round(len(trial.signal) / trial.fps * fs)) / fs
    rising = np.ones_like(t)
    for s, m, _ in seg.keyframes / trial.fps:
        rising[(t >= s + 0.3) & (t < m)] = -1.0  # exhale starts 0.3 s into each concentric phase
    res = breathing_by_phase(np.cumsum(rising) / fs, fs, seg, cutoff=5.0)
    lags = [r.lag_s for r in res if r.phase == "concentric"]
    np.testing.assert_allclose(lags, 0.3, atol=0.06)


def test_heart_rate_cleaning_and_exertion():
    fs = 1.0
    t = np.arange(180.0)
    true = 80 + 60 * (1 - np.exp(-t / 60))
    hr = true + np.random.default_rng(0).normal(0, 2, t.size)
    hr[[20, 90]] = [210, 0]  # a doubled beat and a dropout
    hr[100:103] = np.nan
    clean = smooth_heart_rate(hr, fs)
    assert np.isfinite(clean).all() and np.abs(clean - true)[5:-5].max() < 4
    s = exertion_summary(hr, fs, age=30, hr_rest=60)
    assert s.start_bpm == pytest.approx(81, abs=3) and s.peak_bpm == pytest.approx(true.max(), abs=3)
    assert s.rise_bpm > 40 and s.slope_bpm_per_min > 0
    hrmax = 208 - 0.7 * 30
    assert s.percent_hrmax == pytest.approx(100 * s.peak_bpm / hrmax)
    assert s.percent_reserve == pytest.approx(100 * (s.peak_bpm - 60) / (hrmax - 60))
    assert s.zone == "moderate"  # ~75 % of HRmax
    assert exertion_summary(hr, fs).zone is None
    with pytest.raises(SignalError, match="plausible"):
        smooth_heart_rate(np.zeros(10), fs)
