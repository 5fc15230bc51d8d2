"""Repetition and phase segmentation against synthetic trials with known keyframes, and the report."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from flexaqa.kg import load_kg
from flexaqa.signal import (
    SignalError,
    make_emg,
    make_rep_trajectory,
    segment_emg,
    segment_pose,
    segment_signal,
    segmentation_report,
)
from flexaqa.skeleton import J


def phase_names(first):
    return ("preparation", first, "eccentric" if first == "concentric" else "concentric")


@pytest.mark.parametrize("first", ["concentric", "eccentric"])
@pytest.mark.parametrize("pause", [0.0, 0.6])
def test_reps_and_boundaries_on_varying_tempo(first, pause):
    truth, pred = [], []
    for seed in range(4):
        trial = make_rep_trajectory(first_phase=first, pause=pause, tempo_jitter=0.3, noise=0.01, seed=seed)
        seg = segment_signal(trial.signal, trial.fps, phase_names=phase_names(first))
        truth.append(trial.keyframes)
        pred.append(seg)
    rep = segmentation_report(truth, pred)
    assert rep.count_accuracy == 1.0 and rep.recall == 1.0 and rep.precision == 1.0
    assert rep.boundary_mae < 6 and max(rep.per_keyframe_mae) < 8  # frames at 120 fps


def test_phases_follow_the_knowledge_graph_order():
    kg = load_kg()
    squat = kg.action("squat")
    assert squat.phase_names == ("preparation", "eccentric", "concentric")
    trial = make_rep_trajectory(first_phase="eccentric", n_reps=4, seed=1)
    seg = segment_signal(trial.signal, trial.fps, action="squat")
    phases = seg.phases()
    assert [p.phase for p in phases[:3]] == ["preparation", "eccentric", "concentric"]
    assert [p.rep for p in phases] == [0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert all(a.end <= b.start for a, b in itertools.pairwise(phases))
    labels = seg.phase_labels()
    assert labels[0] == 0 and labels[seg.keyframes[0, 0]] == 1 and labels[seg.keyframes[0, 1]] == 2
    np.testing.assert_allclose(seg.times, seg.keyframes / trial.fps)
    assert seg.to_dict()["n_reps"] == 4


def test_segment_pose_squat_and_curl():
    fps = 120.0
    for action, first, joints in (
        ("squat", "eccentric", ("left_hip", "right_hip")),
        ("A02", "concentric", ("left_wrist", "right_wrist")),
    ):
        trial = make_rep_trajectory(first_phase=first, seed=2)
        pose = np.zeros((len(trial.signal), 21, 3))
        pose[:, :, 2] = 1.0
        for j in joints:
            pose[:, J[j], 2] = trial.signal
        seg = segment_pose(pose, fps, action)
        rep = segmentation_report(trial.keyframes, seg)
        assert seg.n_reps == 10 and rep.boundary_mae < 6, action


def test_no_movement_and_bad_input():
    flat = np.ones(600) + 1e-4 * np.random.default_rng(0).standard_normal(600)
    assert segment_signal(flat, 120.0, min_amplitude=0.01).n_reps == 0
    pose = np.zeros((600, 21, 3))
    pose[:, :, 2] = flat[:, None]
    assert segment_pose(pose, 120.0, "squat").n_reps == 0  # millimetre jitter is no repetition
    assert segment_signal(np.ones(600), 120.0).n_reps == 0
    with pytest.raises(SignalError, match="1-D"):
        segment_signal(np.ones((100, 2)), 120.0)
    with pytest.raises(SignalError, match="FLEX-21"):
        segment_pose(np.ones((100, 17, 3)), 120.0, "squat")


def test_segment_from_emg_bursts_counts_reps():
    rec = make_emg(n_bursts=10, duration=22.0, n_channels=4, drift=1.0, hum=0.3, seed=4)
    seg = segment_emg(rec.emg, rec.fs, action="A01", fps=120.0)
    assert seg.n_reps == 10 and seg.fps == 120.0
    true = np.stack([rec.onsets, (rec.onsets + rec.offsets) // 2, rec.offsets], 1) * 120 // 2000
    rep = segmentation_report(true, seg)
    assert rep.count_accuracy == 1.0 and rep.per_keyframe_mae[0] < 12  # onset within 0.1 s


@pytest.mark.parametrize("first", ["concentric", "eccentric"])
@pytest.mark.parametrize("relax", [0.03, 0.2], ids=["full-relaxation", "shallow-dips"])
def test_segment_emg_finds_turnaround_from_activation_levels(first, relax):
    """Concentric work needs more drive than eccentric: the turnaround is where the activation level steps."""
    fs, rng = 2000.0, np.random.default_rng(5)
    trial = make_rep_trajectory(n_reps=6, fps=fs / 10, first_phase=first, pause=0.2, seed=5)
    keys = trial.keyframes * 10  # at fs
    amp = np.full(keys[-1, 2] + 2000, relax)
    amp[: keys[0, 0]] = amp[keys[-1, 2] :] = 0.03  # rest before and after the set
    high, low = (1.0, 0.5) if first == "concentric" else (0.5, 1.0)
    for s, m, e in keys:
        amp[s:m], amp[m:e] = high, low
    emg = rng.standard_normal((len(amp), 2)) * amp[:, None]
    action = "A05" if first == "concentric" else "squat"
    seg = segment_emg(emg, fs, action=action, fps=120.0)
    true = np.round(keys / fs * 120).astype(int)
    rep = segmentation_report(true, seg)
    assert seg.n_reps == 6 and rep.count_accuracy == 1.0
    assert max(rep.per_keyframe_mae) < (6 if relax < 0.1 else 10)  # frames at 120 fps; dips cut less sharply


def test_report_counts_misses_and_extras():
    true = np.array([[0, 10, 20], [20, 30, 40], [40, 50, 60]])
    pred = np.array([[2, 11, 21], [41, 52, 60], [70, 80, 90]])
    rep = segmentation_report(true, pred)
    assert rep.n_true == 3 and rep.n_pred == 3 and rep.n_matched == 2
    assert rep.count_accuracy == 1.0  # same count, though one rep is missed and one is extra
    assert rep.recall == pytest.approx(2 / 3) and rep.precision == pytest.approx(2 / 3)
    assert rep.per_keyframe_mae == pytest.approx((1.5, 1.5, 0.5))
    many = segmentation_report([true, true], [pred[:2], true])
    assert many.n_trials == 2 and many.count_accuracy == 0.5 and many.count_mae == 0.5
    with pytest.raises(SignalError, match="trials"):
        segmentation_report([true, true], [true])
