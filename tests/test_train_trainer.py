"""The generic trainer on tiny synthetic features: it learns, selects on validation, checkpoints, resumes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flexaqa.metrics import spearman_score  # noqa: E402
from flexaqa.models.synthetic import make_feature_set, split_feature_set  # noqa: E402
from flexaqa.train import load_config  # noqa: E402
from flexaqa.train.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint  # noqa: E402
from flexaqa.train.trainer import TrainError, evaluate, fit, predict  # noqa: E402


@pytest.fixture(scope="module")
def splits():
    return split_feature_set(make_feature_set("A01", 100, seed=0), seed=0)


def _cfg(model, epochs=20, **kw):
    over = [f"model={model}", f"epochs={epochs}", "batch_size=8", "lr=3e-3", "progress=false"]
    return load_config(overrides=over + [f"{k}={v}" for k, v in kw.items()])


@pytest.mark.parametrize("model", ["core_gart_tiny", "usdl_tiny", "error_aware_tiny"])
def test_training_lowers_the_loss_and_beats_a_constant(splits, model):
    train, val, test = splits
    result = fit(_cfg(model), train, val)
    losses = [h["loss"] for h in result.history]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:2])
    metrics = evaluate(result.model, test)
    if model == "error_aware_tiny":
        assert 0.3 < metrics["slot_micro_f1"] <= 1.0
    constant = spearman_score(test["score"], np.full(len(test["score"]), train["score"].mean()))
    assert metrics["spearman"] > constant + 0.4
    best_row = result.history[
        result.best_epoch
    ]  # chosen on validation, and the returned model is that epoch's
    assert best_row["val_spearman"] == max(h["val_spearman"] for h in result.history)
    assert evaluate(result.model, val)["spearman"] == pytest.approx(best_row["val_spearman"])


def test_checkpoint_round_trip_and_resume(splits, tmp_path):
    train, val, test = splits
    run = tmp_path / "run"
    first = fit(_cfg("core_gart_tiny", epochs=3), train, val, run_dir=run)
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "last.pt", "best.pt", "history.json"}
    rebuilt = model_from_checkpoint(run / "best.pt")  # from the file alone: name, arguments, bank, groups
    assert np.allclose(predict(rebuilt, test)["score"], predict(first.model, test)["score"])
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["config"]["epochs"] == 3 and ckpt["epoch"] == 2
    # resume to 5 epochs == training 5 epochs straight
    resumed = fit(_cfg("core_gart_tiny", epochs=5), train, val, run_dir=run, resume=True)
    straight = fit(_cfg("core_gart_tiny", epochs=5), train, val)
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3, 4]
    assert resumed.history[-1]["loss"] == pytest.approx(straight.history[-1]["loss"], rel=1e-5)
    for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)


def test_bad_checkpoints_are_reported(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a flexaqa checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_ragged_split_is_reported(splits):
    train, val, _ = splits
    bad = dict(train, score=train["score"][:-1])
    with pytest.raises(TrainError, match="one length"):
        fit(_cfg("usdl_tiny", epochs=1), bad, val)
