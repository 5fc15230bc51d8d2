"""Streams at 120 fps, 60 fps, 2000 Hz and 1 Hz on one time base; a known offset is recovered."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.signal import (
    SignalError,
    Stream,
    align_streams,
    common_window,
    cut_window,
    estimate_offset,
    pose_speed,
    rms_envelope,
)


def smooth(t):
    return (
        np.sin(2 * np.pi * 0.3 * t)
        + 0.5 * np.sin(2 * np.pi * 0.77 * t + 1)
        + 0.3 * np.sin(2 * np.pi * 1.9 * t)
    )


def sampled(rate, start, duration, fn=smooth):
    t = start + np.arange(round(duration * rate)) / rate
    return Stream(fn(t), rate, start)


def test_align_streams_on_common_time_base():
    streams = {
        "cinema": sampled(120, 0.0, 10),
        "phone": sampled(60, 0.5, 10),
        "emg": sampled(2000, 0.25, 9),
        "hr": sampled(1, 0.0, 12, fn=lambda t: 80 + t),
    }
    assert common_window(streams) == pytest.approx((0.5, 9.25))
    times, out = align_streams(streams, 60)
    assert times[0] == pytest.approx(0.5) and times[-1] < 9.25
    for k in ("cinema", "phone", "emg"):
        assert out[k].shape == times.shape
        np.testing.assert_allclose(out[k], smooth(times), atol=0.02)  # averaging over 1/60 s barely smooths
    np.testing.assert_allclose(out["hr"], 80 + times, atol=1e-9)  # linear interpolation of a slow stream
    pose = Stream(np.broadcast_to(np.arange(1200.0)[:, None, None], (1200, 21, 3)), 120.0, name="pose")
    t2, out2 = align_streams([pose, streams["emg"]], 60)
    assert out2["pose"].shape == (len(t2), 21, 3)  # any trailing shape survives
    np.testing.assert_allclose(out2["pose"][:, 0, 0], t2 * 120, atol=1e-9)


def test_cut_window_gives_the_same_span_from_each():
    streams = [Stream(np.arange(240), 120, 0.0, "a"), Stream(np.arange(4000), 2000, 0.0, "b")]
    cut = cut_window(streams, 0.5, 1.5)
    assert len(cut["a"]) == 120 and len(cut["b"]) == 2000
    assert cut["a"].start == pytest.approx(0.5) and cut["b"].data[0] == 1000
    with pytest.raises(SignalError, match="no sample"):
        streams[0].window(5, 6)
    with pytest.raises(SignalError, match="do not overlap"):
        common_window([Stream(np.ones(10), 10, 0), Stream(np.ones(10), 10, 5)])


@pytest.mark.parametrize("true_offset", [-0.8, 0.0, 0.37, 1.1])
def test_estimate_offset_recovers_a_known_shift(true_offset):
    rng = np.random.default_rng(0)
    a = sampled(120, 0.0, 30)
    a = Stream(a.data + 0.05 * rng.standard_normal(len(a)), 120)
    # b really starts at true_offset but its clock says 0
    tb = true_offset + np.arange(25 * 2000) / 2000
    b = Stream(smooth(tb) + 0.3 * rng.standard_normal(tb.size), 2000, 0.0)
    est = estimate_offset(a, b)
    assert est.offset == pytest.approx(true_offset, abs=0.01)
    assert est.correlation > 0.9 and est.confidence > 0.3
    _times, out = align_streams([a, b.shifted(est.offset)], 60)
    assert np.corrcoef(out["stream0"], out["stream1"])[0, 1] > 0.95


def test_periodic_signals_give_low_confidence_and_noise_gives_none():
    per = lambda t: np.sin(2 * np.pi * 0.5 * t)  # noqa: E731
    est = estimate_offset(sampled(120, 0, 20, per), sampled(200, 0, 20, per), max_lag=3.0)
    assert est.correlation > 0.99 and est.confidence < 0.2  # one period away fits as well
    rng = np.random.default_rng(1)
    noise = estimate_offset(Stream(rng.standard_normal(2000), 100), Stream(rng.standard_normal(2000), 100))
    assert noise.confidence < 0.3


def test_pose_speed_against_emg_envelope():
    """A limb moving in bursts and the sEMG that drives it, recorded with an unknown 0.2 s offset."""
    fps, fs = 120.0, 2000.0
    rng = np.random.default_rng(2)
    dur = 20.0
    active = lambda t: (np.sin(2 * np.pi * t / 2.5 + 0.3 * np.sin(t)) > 0.3).astype(float)  # noqa: E731
    tp = np.arange(round(dur * fps)) / fps
    pos = np.cumsum(active(tp)) / fps  # the wrist moves only while the muscle is active
    pose = np.zeros((len(tp), 2, 3))
    pose[:, 0, 2] = pos
    te = 0.2 + np.arange(round(18 * fs)) / fs
    emg = rng.standard_normal(te.size) * (0.05 + active(te))
    speed = Stream(pose_speed(pose[:, :1], fps), fps)
    env = Stream(rms_envelope(emg, fs, 0.1), fs)
    est = estimate_offset(speed, env)
    assert est.offset == pytest.approx(0.2, abs=0.03) and est.confidence > 0.3
    with pytest.raises(SignalError, match="1-D"):
        estimate_offset(Stream(np.ones((10, 2)), 10), env)
