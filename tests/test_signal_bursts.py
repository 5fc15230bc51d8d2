"""Burst detection against recordings whose bursts we construct, with drift, spikes, hum and noise."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.signal import (
    SignalError,
    burst_frequencies,
    detect_bursts,
    fatigue_summary,
    find_bursts,
    make_emg,
)

TOL = 0.075  # seconds; onset detectors commonly differ by tens of ms


@pytest.mark.parametrize(
    "nuisance",
    [{}, {"drift": 2.0}, {"hum": 0.5}, {"hum": 0.5, "mains": 60.0}, {"spikes": 5}, {"noise": 0.2}],
    ids=["clean", "drift", "hum50", "hum60", "spikes", "noisy"],
)
def test_bursts_found_at_known_onsets(nuisance):
    rec = make_emg(seed=3, **nuisance)
    from flexaqa.signal import EmgConfig

    cfg = EmgConfig(mains=nuisance.get("mains", 50.0))
    bursts, _ = find_bursts(rec.emg, rec.fs, cfg)
    assert bursts.count().tolist() == [len(rec.onsets)] * 2
    for k in range(2):
        b = bursts.of(k)
        assert np.all(np.abs(b.onset - rec.onsets) / rec.fs < TOL)
        assert np.all(np.abs(b.offset - rec.offsets) / rec.fs < 2 * TOL)
        assert np.all((b.peak >= b.onset) & (b.peak < b.offset))


def test_everything_at_once_and_silence():
    rec = make_emg(drift=2.0, hum=0.5, spikes=6, noise=0.05, seed=5)
    bursts, _ = find_bursts(rec.emg, rec.fs)
    assert bursts.count().tolist() == [5, 5]
    quiet = np.random.default_rng(0).standard_normal((20000, 1)) * 0.01
    assert len(find_bursts(quiet, 2000.0)[0]) == 0


def test_detect_bursts_merges_gaps_and_drops_short_runs():
    env = np.zeros(3000)
    env[100:400] = 1.0
    env[430:700] = 1.0  # 30-sample gap: merged at min_gap 0.1 s (fs 1000)
    env[1500:1530] = 1.0  # 30 ms: too short
    b = detect_bursts(env + 0.001 * np.random.default_rng(0).standard_normal(3000), 1000.0)
    assert len(b) == 1 and b.onset[0] == 100 and b.offset[0] == 700
    assert b.to_records()[0]["onset_s"] == pytest.approx(0.1)
    with pytest.raises(SignalError, match="channel 3"):
        b.of(3)


def test_fatigue_slope_is_negative_when_spectrum_falls():
    rec = make_emg(fatigue=0.4, n_bursts=8, duration=18.0, seed=2)
    bursts, proc = find_bursts(rec.emg, rec.fs)
    mdf, mnf = burst_frequencies(proc.filtered, bursts)
    assert np.all(mnf > 0) and len(mdf) == 16
    for s in fatigue_summary(bursts, mdf):
        assert s.n_bursts == 8 and s.slope_hz_per_burst < 0 and s.change_percent < -20
        assert s.trend == "falling (fatigue)"
    steady = make_emg(n_bursts=8, duration=18.0, seed=2)
    b2, p2 = find_bursts(steady.emg, steady.fs)
    f2 = fatigue_summary(b2, burst_frequencies(p2.filtered, b2)[0])
    assert all(abs(s.change_percent) < 15 for s in f2)
