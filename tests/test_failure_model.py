"""The failure predictor learns from early fatigue markers, saves and loads, and the CLI runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flexaqa.failure import FEATURE_NAMES, FailureError, FailurePredictor, FailureRule, evaluate_failure
from flexaqa.failure.synthetic import make_fatigue_trials


def test_predictor_beats_last_repetition_persists_on_fatigue_trials(tmp_path):
    rule = FailureRule(drop=15, error_weight=None)
    model = FailurePredictor(rule=rule).fit(make_fatigue_trials(200, seed=0))
    test = make_fatigue_trials(100, seed=1)
    rep = evaluate_failure(model, test)
    m, base = rep["overall"]["model"], rep["overall"]["last_persists"]
    assert 0.1 < rep["overall"]["positive_rate"] < 0.9
    assert m["mae"] < base["mae"] and m["auroc"] > base["auroc"] + 0.05 and m["f1"] > base["f1"]
    # without the fatigue markers and tempo the early warning is gone
    markers = tuple(n for n in FEATURE_NAMES if n.startswith(("mdf", "amp", "tempo", "concentric")))
    blind = evaluate_failure(FailurePredictor(rule=rule, exclude=markers).fit(make_fatigue_trials(200)), test)
    assert blind["by_k"][3]["model"]["auroc"] < rep["by_k"][3]["model"]["auroc"] - 0.1
    # early on (k = 3) the collapse has not started: only the fatigue markers can tell
    k3 = rep["by_k"][3]
    assert k3["model"]["auroc"] > 0.75 and k3["model"]["auroc"] > k3["last_persists"]["auroc"]
    again = FailurePredictor.load(model.save(tmp_path / "failure.json"))
    assert evaluate_failure(again, test)["overall"]["model"] == pytest.approx(m)
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(FailureError, match="not a flexaqa failure model"):
        FailurePredictor.load(tmp_path / "bad.json")
    with pytest.raises(FailureError, match="unknown feature"):
        FailurePredictor(exclude=("mdf",)).fit(test)
    with pytest.raises(FailureError, match="not fitted"):
        FailurePredictor().flag_proba(np.zeros((1, 3)))


def test_cli_on_a_simulated_dataset(tmp_path, capsys):
    from flexaqa.cli import main
    from flexaqa.synth import SynthConfig, generate

    generate(
        SynthConfig(out=str(tmp_path / "d"), subjects=8, actions=("squat",), reps=10, video=False),
        progress=False,
    )
    args = ["--data", str(tmp_path / "d"), "--no-progress"]
    assert main(["failure", "train", *args, "--out", str(tmp_path / "run"), "--error-weight", "10"]) == 0
    rep = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert rep["rule"]["error_weight"] == 10 and rep["n_trials"] >= 1
    assert set(rep["by_k"]) <= {str(k) for k in range(1, 10)}
    assert (tmp_path / "run" / "by_k.png").is_file()
    out = tmp_path / "ev"
    assert (
        main(["failure", "eval", *args, "--model", str(tmp_path / "run" / "failure.json"), "--out", str(out)])
        == 0
    )
    again = json.loads((out / "metrics.json").read_text())["overall"]
    assert again["model"] == pytest.approx(rep["overall"]["model"], nan_ok=True)
    assert "AUROC" in capsys.readouterr().out
    assert main(["failure", "eval", *args, "--model", str(tmp_path / "none.json"), "--out", str(out)]) == 9
