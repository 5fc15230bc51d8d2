"""sEMG conditioning: filters remove what they should and keep the rest, envelopes and spectra are right."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.signal import (
    EmgConfig,
    SignalError,
    bandpass,
    linear_envelope,
    mean_frequency,
    median_frequency,
    normalize,
    notch,
    process_emg,
    rectify,
    remove_dc,
    rms_envelope,
    suppress_spikes,
    windowed_frequencies,
)

FS = 2000.0
T = np.arange(8000) / FS


def sine(f, a=1.0):
    return a * np.sin(2 * np.pi * f * T)


def mid(x):
    return x[1000:-1000]


def test_bandpass_keeps_band_and_removes_drift_and_high_frequencies():
    x = np.column_stack([sine(100) + sine(2, 5.0), sine(100) + sine(700)])
    y = bandpass(x, FS)
    assert y.shape == x.shape
    np.testing.assert_allclose(mid(y).std(axis=0), [np.sqrt(0.5)] * 2, rtol=0.03)


def test_notch_removes_mains_and_harmonics_only():
    x = sine(120) + sine(50, 0.7) + sine(150, 0.3)
    y = notch(x, FS, 50.0, harmonics=3)
    assert abs(mid(y).std() - np.sqrt(0.5)) < 0.02
    y60 = notch(sine(60), FS, 60.0)
    assert mid(y60).std() < 0.02
    with pytest.raises(SignalError, match="Nyquist"):
        notch(x, 80.0, 50.0)


def test_dc_rectify_and_envelopes():
    x = np.column_stack([sine(100) + 3.0, 2 * sine(100)])
    z = remove_dc(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-9)
    assert rectify(-z).min() >= 0
    env = rms_envelope(z, FS, 0.05)
    np.testing.assert_allclose(mid(env).mean(axis=0), [np.sqrt(0.5), np.sqrt(2)], rtol=0.01)
    lin = linear_envelope(z, FS, 6.0)
    np.testing.assert_allclose(mid(lin).mean(axis=0), [2 / np.pi, 4 / np.pi], rtol=0.02)  # mean of |sin|
    causal = rms_envelope(np.r_[np.zeros(100), np.ones(100)], FS, 0.01, centered=False)
    assert causal[99] == 0 and causal[100] > 0  # a causal window never sees the future


def test_normalize_to_mvc_and_peak():
    env = np.column_stack([np.linspace(0, 2, 50), np.linspace(0, 4, 50)])
    np.testing.assert_allclose(normalize(env).max(axis=0), [1, 1])
    np.testing.assert_allclose(normalize(env, mvc=[4, 8]).max(axis=0), [0.5, 0.5])
    with pytest.raises(SignalError, match="MVC"):
        normalize(env, mvc=[0, 1])


def test_median_and_mean_frequency_of_known_spectra():
    x = np.column_stack([sine(80), sine(200)])
    np.testing.assert_allclose(median_frequency(x, FS), [80, 200], atol=5)
    np.testing.assert_allclose(mean_frequency(x, FS), [80, 200], atol=8)
    two = sine(60) + sine(180)  # equal power: the mean sits between them
    assert 110 < mean_frequency(two, FS) < 130
    t, mdf, _ = windowed_frequencies(np.r_[sine(80)[:4000], sine(160)[:4000]], FS, window=0.5)
    assert (
        mdf.shape == t.shape and mdf[0] == pytest.approx(80, abs=5) and mdf[-1] == pytest.approx(160, abs=5)
    )


def test_suppress_spikes_removes_spikes_but_not_bursts_or_drift():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4000)
    x[1000:3000] *= 3  # a burst
    x += np.linspace(0, 50, 4000)  # drift does not look like a spike
    x[500:503] += 40.0
    y = suppress_spikes(x)
    assert np.abs(y[495:510] - np.linspace(0, 50, 4000)[495:510]).max() < 5
    changed = np.flatnonzero(y != x)
    assert len(changed) < 20 and np.all((changed > 490) & (changed < 515))


def test_process_emg_and_errors():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4000, 3)) * [1, 2, 3]
    out = process_emg(x, FS, EmgConfig(envelope="linear"))
    assert out.filtered.shape == out.envelope.shape == (4000, 3)
    assert np.all(np.diff(out.envelope[1000:3000].mean(axis=0)) > 0)  # channel gains preserved in order
    with pytest.raises(SignalError, match="too low"):
        process_emg(x, 500.0)
    bad = x.copy()
    bad[7, 1] = np.nan
    with pytest.raises(SignalError, match="sample 7, channel 1"):
        process_emg(bad, FS)
    with pytest.raises(SignalError, match="envelope"):
        EmgConfig(envelope="hilbert")
