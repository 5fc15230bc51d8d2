"""AQA feature extraction: interpretable pose statistics on hand-made poses, the EMG feature, the cache."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.aqa import AQAError
from flexaqa.aqa.features import POSE_STAT_NAMES, FeatureSpec, emg_feature, pose_statistics
from flexaqa.skeleton import J


def _pose(t: int = 41, grip: float = 0.6, stance: float = 0.3) -> np.ndarray:
    """A standing body (trunk 0.5 m, hips at 1 m) whose wrists rise 0.4 m and come back; straight limbs."""
    x = np.zeros((t, 21, 3))
    lift = 0.4 * np.sin(np.linspace(0, np.pi, t))  # turning point at the middle frame
    for side, s in (("left", 1.0), ("right", -1.0)):
        x[:, J[f"{side}_hip"]] = (0, s * 0.1, 1.0)
        x[:, J[f"{side}_knee"]] = (0, s * stance / 2, 0.5)
        x[:, J[f"{side}_ankle"]] = (0, s * stance / 2, 0.0)
        x[:, J[f"{side}_heel"]] = (-0.05, s * stance / 2, 0.0)
        x[:, J[f"{side}_toe"]] = (0.15, s * stance / 2, 0.0)
        x[:, J[f"{side}_shoulder"]] = (0, s * 0.2, 1.5)
        x[:, J[f"{side}_elbow"]] = (0, s * grip / 2, 1.5)
        x[:, J[f"{side}_wrist"]] = np.stack([np.zeros(t), np.full(t, s * grip / 2), 1.5 + lift], 1)
        x[:, J[f"{side}_hand"]] = x[:, J[f"{side}_wrist"]] + (0, 0, 0.05)
    x[:, J["neck"]] = (0, 0, 1.5)
    x[:, J["spine_shoulder"]] = (0, 0, 1.45)
    x[:, J["head"]] = (0, 0, 1.7)
    return x


def test_pose_statistics_measure_what_they_say():
    f = dict(zip(POSE_STAT_NAMES, pose_statistics(_pose(), fps=20.0), strict=True))
    assert len(POSE_STAT_NAMES) == len(set(POSE_STAT_NAMES))
    assert f["duration_s"] == pytest.approx(41 / 20)
    assert f["turn_fraction"] == pytest.approx(0.5)
    assert f["stance_width"] == pytest.approx(0.3 / 0.5)  # in trunk lengths
    assert f["grip_width_mean"] == pytest.approx(0.6 / 0.5)
    assert f["trunk_pitch_max"] == pytest.approx(0.0, abs=1e-6)  # upright
    # knee 5 cm outside the hip, ankle under the knee: 180° minus the thigh's 0.05/0.5 tilt
    assert f["r_knee_min"] == pytest.approx((180 - np.degrees(np.arctan(0.1))) / 100, abs=1e-5)
    assert f["wrist_height_asym_max"] == pytest.approx(0.0)
    assert f["elbow_asym"] == pytest.approx(0.0, abs=1e-9)
    wide = dict(zip(POSE_STAT_NAMES, pose_statistics(_pose(stance=0.6), fps=20.0), strict=True))
    assert wide["stance_width"] > f["stance_width"]


def test_pose_statistics_see_one_sided_errors():
    x = _pose()
    x[:, J["left_wrist"], 2] -= 0.1  # one arm lags: left/right wrist height asymmetry
    f = dict(zip(POSE_STAT_NAMES, pose_statistics(x, fps=20.0), strict=True))
    assert f["wrist_height_asym_mean"] == pytest.approx(-0.1 / 0.5)


def test_pose_statistics_reject_bad_shapes():
    with pytest.raises(AQAError, match="21, 3"):
        pose_statistics(np.zeros((10, 17, 3)), fps=30.0)


def test_emg_feature_is_the_official_contribution_and_flat_is_neutral():
    emg = np.zeros((100, 4))
    emg[10, 0], emg[20, 2] = 3.0, 1.0  # class 1 compares columns 0 and 2
    assert emg_feature(emg, 2000.0, "A01").tolist() == pytest.approx([0.75, 0.25])
    assert emg_feature(np.zeros((100, 4)), 2000.0, "A01").tolist() == [0.5, 0.5]


def test_feature_spec_rejects_unknown_choices(tmp_path):
    with pytest.raises(AQAError, match="pose feature"):
        FeatureSpec(pose="openpose")
    with pytest.raises(AQAError, match="no file"):
        FeatureSpec(video="i3d", video_weights=str(tmp_path / "missing.pth"))
    spec = FeatureSpec(views=("View-1", "View-5"))
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_extract_features_caches_and_names_missing_views(tmp_path):
    pytest.importorskip("torch")
    from flexaqa.aqa.features import extract_features
    from flexaqa.data import open_dataset
    from flexaqa.testing import make_tiny_dataset

    tiny = make_tiny_dataset(tmp_path / "d", subjects=("P01", "N01"), actions=("squat",), reps=2)
    src = open_dataset(tiny.root)
    spec = FeatureSpec(video_frames=4, video_size=16, views=("View-1", "View-5"))
    feats = extract_features(src, tiny.sample_ids, spec, cache_root=tmp_path / "c", progress=False)
    assert {k: v.shape for k, v in feats.items()} == {
        "video_v1": (4, 256),
        "video_v2": (4, 256),
        "pose": (4, len(POSE_STAT_NAMES)),
        "emg": (4, 2),
    }
    assert len(list((tmp_path / "c").glob("*/shards/*/shard-*.ids.json"))) == 4  # one shard per key
    again = extract_features(src, tiny.sample_ids, spec, cache_root=tmp_path / "c", progress=False)
    for k in feats:
        assert np.array_equal(feats[k], again[k])
    with pytest.raises(AQAError, match="View-2"):
        extract_features(src, tiny.sample_ids, FeatureSpec(), keys=("video_v2",), cache_root=tmp_path / "c")


def test_emg_envelope_feature_follows_the_stronger_side():
    rng = np.random.default_rng(0)
    emg = rng.normal(size=(4000, 4)) * np.array(
        [0.4, 0.1, 0.1, 0.1]
    )  # column 0 (left for class 1) 4x stronger
    left, right = emg_feature(emg, 2000.0, "A01", "envelope")
    assert left + right == pytest.approx(1.0) and left > 0.7
