"""One tested utility converts between 120 fps, 60 fps and 2000 Hz (time is seconds everywhere else)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flexaqa.timebase import (
    CINEMA_FPS,
    EMG_HZ,
    PHONE_FPS,
    convert_index,
    index_to_seconds,
    n_samples,
    sample_times,
    seconds_to_index,
)


def test_known_conversions():
    assert convert_index(120, CINEMA_FPS, PHONE_FPS) == 60
    assert convert_index(103, CINEMA_FPS, EMG_HZ) == round(103 / 120 * 2000)
    assert convert_index(np.array([0, 60, 61]), PHONE_FPS, CINEMA_FPS).tolist() == [0, 120, 122]
    assert seconds_to_index(0.1, 120) == 12  # not 11 from floating-point error
    assert seconds_to_index(0.1, 120, rounding="floor") == 12
    assert seconds_to_index(1 / 240, 120, rounding="floor") == 0
    assert seconds_to_index(1 / 240 + 1e-6, 120, rounding="ceil") == 1
    assert index_to_seconds(240, 120, start=2.0) == 4.0
    assert n_samples(2.5, EMG_HZ) == 5000


def test_start_offsets():
    assert seconds_to_index(3.0, 60, start=1.0) == 120
    t = sample_times(4, 2000, start=0.5)
    assert t[0] == 0.5 and t[-1] == pytest.approx(0.5 + 3 / 2000)


@given(st.integers(0, 10**6), st.sampled_from([CINEMA_FPS, PHONE_FPS, EMG_HZ, 25.0, 100.0]))
def test_round_trip_at_the_same_rate(i, rate):
    assert seconds_to_index(index_to_seconds(i, rate), rate) == i


@given(st.integers(0, 10**5))
def test_upsample_then_downsample_is_identity(i):
    up = convert_index(i, CINEMA_FPS, EMG_HZ)
    assert convert_index(up, EMG_HZ, CINEMA_FPS) == i


@pytest.mark.parametrize("rate", [0, -1, float("nan"), float("inf")])
def test_bad_rates_are_rejected(rate):
    with pytest.raises(ValueError, match="positive number of Hz"):
        seconds_to_index(1.0, rate)


def test_bad_rounding():
    with pytest.raises(ValueError, match="rounding"):
        seconds_to_index(1.0, 10, rounding="up")
