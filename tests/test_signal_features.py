"""The official FLEX EMG feature exactly, its envelope variant, Video2EMG per-frame values and resampling."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.kg import load_kg
from flexaqa.signal import (
    OFFICIAL_CONTRIBUTION_COLUMNS,
    SignalError,
    contribution_columns,
    emg_per_frame,
    make_emg,
    relative_muscle_contribution,
    relative_muscle_contribution_envelope,
    resample,
)


def test_official_table_covers_every_class_once():
    assert sorted(OFFICIAL_CONTRIBUTION_COLUMNS) == list(range(1, 21))
    assert OFFICIAL_CONTRIBUTION_COLUMNS[16] == ((0,), (2,))
    assert OFFICIAL_CONTRIBUTION_COLUMNS[15] == ((1,), (3,))
    assert OFFICIAL_CONTRIBUTION_COLUMNS[17] == ((0,), (1,))
    assert OFFICIAL_CONTRIBUTION_COLUMNS[8] == ((0, 1), (2, 3))
    # the official columns exist in every action's channel list
    for a in load_kg().actions:
        left, right = contribution_columns(a)
        assert max(left + right) < len(a.emg_channels)
    # the knowledge-graph variant really splits by side
    left, right = contribution_columns("A01", source="kg")
    assert left == (0, 2) and right == (1, 3)


def official_by_hand(x, cls):
    a = np.abs(x)
    if cls in (1, 2, 4, 5, 14, 16):
        lr = a[:, 0].max(), a[:, 2].max()
    elif cls in (3, 6, 15, 20):
        lr = a[:, 1].max(), a[:, 3].max()
    elif cls in (7, 17, 18, 19):
        lr = a[:, 0].max(), a[:, 1].max()
    else:
        lr = ((a[:, 0] + a[:, 1]) / 2).max(), ((a[:, 2] + a[:, 3]) / 2).max()
    return np.array(lr) / sum(lr)


@pytest.mark.parametrize("cls", range(1, 21))
def test_official_feature_matches_the_formula(cls):
    x = np.random.default_rng(cls).standard_normal((500, 4)) * [1, 2, 3, 4]
    got = relative_muscle_contribution(x, cls)
    np.testing.assert_allclose(got, official_by_hand(x, cls))
    assert got.sum() == pytest.approx(1.0)


def test_official_feature_errors_and_flat_input():
    with pytest.raises(SignalError, match=r"columns \[0, 2\]"):
        relative_muscle_contribution(np.ones((10, 2)), "squat")
    assert np.isnan(relative_muscle_contribution(np.zeros((10, 4)), 1)).all()


def test_envelope_variant_ignores_a_single_spike():
    rec = make_emg(n_channels=4, seed=0)
    x = rec.emg * [1.0, 1.0, 2.0, 1.0]  # right side (column 2 for class 1) twice as active
    spiky = x.copy()
    spiky[100:103, 0] = 60.0  # one artefact on the left channel
    base = relative_muscle_contribution_envelope(x, rec.fs, 1)
    assert base[1] == pytest.approx(2 / 3, abs=0.03)
    np.testing.assert_allclose(relative_muscle_contribution_envelope(spiky, rec.fs, 1), base, atol=0.02)
    assert relative_muscle_contribution(spiky, 1)[0] > 0.85  # the official raw peak is dominated by the spike
    assert relative_muscle_contribution_envelope(np.zeros((4000, 4)), rec.fs, 1).tolist() == [0.5, 0.5]


@pytest.mark.parametrize("fps", [120.0, 60.0])
def test_emg_per_frame_averages_each_frame_window(fps):
    fs = 2000.0
    n = 4000  # 2 s
    x = np.column_stack([np.arange(n, dtype=float), -np.ones(n)])
    y = emg_per_frame(x, fs, fps)
    assert y.shape == (int(2 * fps), 2)
    assert np.all(y[:, 1] == 1.0)  # rectified
    # a ramp averaged over a window centred on frame i is the ramp's value at the frame's time
    np.testing.assert_allclose(y[1:-1, 0], np.arange(1, len(y) - 1) / fps * fs, atol=0.01)
    # windows tile the signal: every sample is used once (the first frame's window starts before the data)
    per = fs / fps
    r = np.abs(np.random.default_rng(0).standard_normal(n))
    yr = emg_per_frame(r, fs, fps)
    total = yr[1:].sum() * per + yr[0] * (per / 2 + 0.5)  # frame 0 is clipped at the first sample
    edge = (len(yr) - 0.5) * per + 0.5  # end of the last frame's window, in samples
    k = int(edge)
    assert total == pytest.approx(r[:k].sum() + (edge - k) * r[k], rel=1e-9)
    longer = emg_per_frame(x, fs, fps, window=0.1, n_frames=5)
    assert longer.shape == (5, 2) and np.all(np.isfinite(longer))


def test_resample_methods():
    fs = 100.0
    x = np.arange(100, dtype=float)  # value = sample index
    t = np.array([0.0, 0.105, 0.5, 0.99, 1.2])
    lin = resample(x, fs, t)
    np.testing.assert_allclose(lin[:4], [0, 10.5, 50, 99])
    assert np.isnan(lin[4])
    np.testing.assert_allclose(resample(x, fs, t[:4], method="nearest"), [0, 10, 50, 99])
    m = resample(x, fs, [0.5, 0.505], method="mean", window=0.1)
    np.testing.assert_allclose(m, [50, 50.5])
    shifted = resample(x, fs, [1.0], start=0.5)
    assert shifted[0] == pytest.approx(50)
    two = resample(np.column_stack([x, 2 * x]), fs, [0.25])
    np.testing.assert_allclose(two, [[25, 50]])
    with pytest.raises(SignalError, match="method"):
        resample(x, fs, t, method="cubic")
