"""Video2EMG targets: one sEMG value per video frame at 120 and 60 fps, normalisation round trip, pose
features, the mean-envelope baseline and the metrics (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.video2emg import (
    POSE_FEATURE_DIM,
    ChannelNorm,
    MeanEnvelope,
    Video2EMGError,
    channel_scores,
    emg_targets,
    muscle_of,
    pose_features,
    regression_report,
)
from flexaqa.video2emg.data import Example


@pytest.mark.parametrize("fps", [120.0, 60.0])
def test_one_target_per_frame_on_a_ramp(fps):
    fs, dur = 2000.0, 2.0
    t = np.arange(int(dur * fs)) / fs
    emg = np.stack([-(c + 1) * t for c in range(3)], 1)  # rectified: (c + 1) t
    n = int(dur * fps)
    y = emg_targets(emg, fs, fps, n_frames=n, window=None, bandpass=False)
    assert y.shape == (n, 3)
    ft = np.arange(n) / fps
    # a centred window over a ramp averages to the ramp's value at the frame (edges excluded: cut windows)
    np.testing.assert_allclose(y[1:-1], (ft[1:-1, None] * np.arange(1, 4)), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("fps", [120.0, 60.0])
def test_targets_follow_the_emg_clock_offset(fps):
    fs = 2000.0
    emg = np.zeros((4000, 1))
    emg[2000:] = 1.0  # a step 1 s into the recording
    # the recording starts 0.5 s after the first frame: the step is at 1.5 s on the frame clock
    y = emg_targets(emg, fs, fps, n_frames=int(2.5 * fps), start=0.5, window=None, bandpass=False)[:, 0]
    ft = np.arange(len(y)) / fps
    assert np.isnan(y[ft < 0.5 - 1 / fps]).all()  # no sEMG yet
    assert np.all(y[(ft > 0.5 + 1 / fps) & (ft < 1.5 - 1 / fps)] == 0.0)
    assert np.all(y[ft > 1.5 + 1 / fps] == 1.0)


@pytest.mark.parametrize("view", ["View-1", "View-5"])  # 120 fps cinema and 60 fps phone
def test_video_examples_align_frames_and_targets(tmp_path, view):
    pytest.importorskip("av")
    from flexaqa.data.synthetic import decode_frame_index
    from flexaqa.testing import make_tiny_dataset
    from flexaqa.video2emg import load_examples

    tiny = make_tiny_dataset(tmp_path, subjects=("P01",), actions=("squat",), reps=2)
    fps = {"View-1": 120.0, "View-5": 60.0}[view]
    exs = load_examples(
        tmp_path, tiny.sample_ids, input="video", view=view, size=None, window=None, bandpass=False
    )
    trial = tiny.trials[0]
    for ex, ann in zip(exs, trial.reps, strict=True):
        assert ex.fps == pytest.approx(fps) and len(ex.y) == len(ex.x) and ex.y.shape[1] == 4
        t = decode_frame_index(ex.x) / fps  # each frame says which frame it is
        k0, k1 = ann.keyframes.start, ann.keyframes.end
        b0, b1 = k0 + 0.4 * (k1 - k0), k0 + 0.6 * (k1 - k0)  # the tiny sEMG's burst
        expect = t[:, None] * np.arange(1, 5) + 0.5 * ((t >= b0) & (t < b1))[:, None]
        ok = (np.abs(t - b0) > 1 / fps) & (np.abs(t - b1) > 1 / fps)
        ok[[0, -1]] = False
        np.testing.assert_allclose(ex.y[ok], expect[ok], rtol=1e-3, atol=1e-3)


def test_channel_norm_round_trip_and_training_statistics():
    rng = np.random.default_rng(0)
    train = [
        ("squat", rng.normal(3.0, 2.0, (50, 4))),
        ("squat", rng.normal(3.0, 2.0, (30, 4))),
        ("t-bar-row", rng.normal(-1.0, 0.5, (40, 2))),
    ]
    norm = ChannelNorm.fit(train)
    z = np.concatenate([norm.transform("squat", y) for a, y in train if a == "squat"])
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1.0, atol=1e-4)
    test = rng.normal(5.0, 3.0, (20, 2))
    back = norm.inverse_transform("t-bar-row", norm.transform("t-bar-row", test))
    np.testing.assert_allclose(back, test, rtol=1e-5, atol=1e-5)
    again = ChannelNorm.from_dict(norm.to_dict())
    np.testing.assert_allclose(again.inverse_transform("squat", z[:5]), train[0][1][:5], rtol=1e-5)
    with pytest.raises(Video2EMGError, match="no training statistics"):
        norm.transform("deadlift", test)


def test_pose_features_shape_angles_and_velocities():
    fps, n = 30.0, 10
    joints = np.zeros((n, 21, 3))
    from flexaqa.skeleton import J

    joints[:, J["right_shoulder"]] = [0.0, 0.0, 1.4]
    joints[:, J["right_elbow"]] = [0.0, 0.0, 1.1]
    joints[:, J["right_wrist"]] = [0.3, 0.0, 1.1]  # a right angle at the elbow
    joints[:, :, 0] += np.arange(n)[:, None] / fps * 0.6  # the whole body moves at 0.6 m/s along x
    f = pose_features(joints, fps)
    assert f.shape == (n, POSE_FEATURE_DIM) and f.dtype == np.float32
    assert f[0, 126] == pytest.approx(np.pi / 2, abs=1e-6)  # first angle column: right elbow
    # velocities of positions relative to the hip centre: a rigid translation gives none
    np.testing.assert_allclose(f[:, 63:126], 0.0, atol=1e-5)
    with pytest.raises(Video2EMGError, match="21, 3"):
        pose_features(np.zeros((5, 17, 3)), fps)


def test_mean_envelope_averages_over_normalised_time():
    up = np.linspace(0, 1, 20)[:, None]
    base = MeanEnvelope(bins=20).fit([("squat", up), ("squat", 3 * np.linspace(0, 1, 40)[:, None])])
    pred = base.predict("squat", 11)
    np.testing.assert_allclose(pred[:, 0], 2 * np.linspace(0, 1, 11), atol=1e-9)
    with pytest.raises(Video2EMGError, match="no training sample"):
        base.predict("deadlift", 5)


def test_regression_report_per_channel_muscle_and_overall():
    y = np.stack([np.linspace(0, 1, 30), np.linspace(1, 0, 30)], 1)
    ex = [
        Example("s1", "squat", 16, ("Left vastus lateralis", "Right vastus lateralis"), y, y, 30.0),
        Example(
            "s2",
            "flat-barbell-bench-press",
            8,
            ("Left pectoralis major (2)", "Right pectoralis major"),
            y,
            y,
            30.0,
        ),
    ]
    pred = [y + 0.1, y * 2]
    rep = regression_report(ex, pred)
    assert set(rep["per_muscle"]) == {
        "Left vastus lateralis",
        "Right vastus lateralis",
        "Left pectoralis major",
        "Right pectoralis major",
    }
    assert rep["per_channel"]["squat/Left vastus lateralis"]["mae"] == pytest.approx(0.1)
    assert rep["per_channel"]["squat/Left vastus lateralis"]["pearson"] == pytest.approx(1.0)
    err = np.concatenate([np.full(60, 0.1), y.ravel()])
    assert rep["overall"]["mae"] == pytest.approx(err.mean(), abs=1e-6)
    assert rep["overall"]["rmse"] == pytest.approx(np.sqrt((err**2).mean()), abs=1e-6)
    assert muscle_of("Left pectoralis major (2)") == "Left pectoralis major"
    assert channel_scores([1, 2, 3], [2, 2, 2])["pearson"] == 0.0
