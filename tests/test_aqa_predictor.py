"""`flexaqa.aqa.predictor`: a run's action model on raw features, standardised with the run's training stats."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flexaqa.aqa import AQAError  # noqa: E402
from flexaqa.aqa.features import FeatureSpec  # noqa: E402
from flexaqa.aqa.predictor import load_predictor  # noqa: E402
from flexaqa.aqa.runs import load_action_data, predict_samples  # noqa: E402
from flexaqa.cli import main  # noqa: E402
from flexaqa.data import open_dataset  # noqa: E402
from flexaqa.kg import load_kg  # noqa: E402
from flexaqa.testing import make_tiny_dataset  # noqa: E402


@pytest.fixture(scope="module")
def pose_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("predictor_run")
    tiny = make_tiny_dataset(
        root / "tiny", subjects=("P01", "P02", "A01", "N01", "N02", "N03"), actions=("squat",), reps=3
    )
    run = root / "run"
    code = main(
        [
            "train",
            "--data",
            str(tiny.root),
            "--out",
            str(run),
            "--epochs",
            "2",
            "--quiet",
            "--set",
            "model_args.hidden=16",
            "--model",
            "error_aware",
            "--variant",
            "pose",
        ]
    )
    assert code == 0
    return run, tiny.root


def _raw_test_features(run, data):
    p = load_predictor(run, "squat")
    ids = {"train": [], "val": [], "test": p.meta["ids"]["test"]}
    ad = load_action_data(
        open_dataset(data),
        ids,
        "squat",
        p.spec,
        keys=p.keys,
        cache_root=p.doc.get("cache_root"),
        progress=False,
    )
    return p, ids["test"], ad.features["test"]


def test_predict_standardises_with_the_training_statistics(pose_run):
    run, data = pose_run
    p, ids, raw = _raw_test_features(run, data)
    assert len(ids) >= 2
    pred = p.predict(raw)
    # the run's own prediction path (features standardised inside aqa.runs) gives the same scores
    direct = predict_samples(run, ids, data=data)
    assert pred["score"] == pytest.approx([d["score"] for d in direct], abs=1e-4)
    assert pred["slot_probs"].shape == (len(ids), len(load_kg().action("squat").slots))
    assert p.slots == [s.id for s in load_kg().action("squat").slots]
    # standardised with the batch's own statistics instead, the predictions would move
    own = {k: (v - v.mean(0)) / np.where(v.std(0) > 1e-8, v.std(0), 1.0) for k, v in raw.items()}
    train_stats = {"mean": 0.0, "std": 1.0}
    p.meta["standardize"] = {k: train_stats for k in raw}
    assert not np.allclose(p.predict(own)["score"], pred["score"], atol=1e-4)


def test_encode_pose_is_the_training_extractor(pose_run):
    run, data = pose_run
    p, ids, raw = _raw_test_features(run, data)
    sample = open_dataset(data).load(ids[0], modalities=("pose",))
    enc = p.encode_pose(sample.pose.data, sample.pose.rate)
    assert enc == pytest.approx(raw["pose"][0], rel=1e-5, abs=1e-5)


def test_predict_refuses_wrong_feature_keys(pose_run):
    run, data = pose_run
    p, _, raw = _raw_test_features(run, data)
    with pytest.raises(AQAError, match=r"missing \['pose'\]"):
        p.predict({})
    with pytest.raises(AQAError, match=r"unexpected \['emg'\]"):
        p.predict({**raw, "emg": np.zeros((len(raw["pose"]), 2))})


def test_encode_pose_refuses_the_keysteps_feature(pose_run):
    run, _ = pose_run
    p = load_predictor(run, "squat")
    p.spec = FeatureSpec.from_dict({**p.doc["features"], "pose": "keysteps"})
    with pytest.raises(AQAError, match="keyframes"):
        p.encode_pose(np.zeros((10, 21, 3)), 30.0)


def test_load_predictor_refuses_other_actions_and_end_to_end_runs(pose_run, tmp_path):
    run, _ = pose_run
    with pytest.raises(AQAError, match="no model for"):
        load_predictor(run, "dumbbell-biceps-curl")
    e2e = tmp_path / "e2e"
    shutil.copytree(run, e2e)
    doc = json.loads((e2e / "run.json").read_text())
    (e2e / "run.json").write_text(json.dumps({**doc, "mode": "end_to_end"}))
    with pytest.raises(AQAError, match="end_to_end run reads video"):
        load_predictor(e2e, "squat")
