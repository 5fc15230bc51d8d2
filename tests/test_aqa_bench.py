"""``flexaqa bench aqa`` runs unchanged on the official release layout (View-1 only, no slot labels, Split_4)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flexaqa.aqa.bench import ROWS, markdown  # noqa: E402
from flexaqa.cli import main  # noqa: E402
from flexaqa.testing import make_tiny_dataset  # noqa: E402


def test_bench_on_the_release_layout(tmp_path, capsys):
    tiny = make_tiny_dataset(
        tmp_path / "release", layout="release", subjects=("P01", "P02", "A01", "N01", "N02")
    )
    out = tmp_path / "res" / "aqa"
    before = torch.get_num_threads()
    try:
        code = main(
            [
                "bench",
                "aqa",
                "--data",
                str(tiny.root),
                "--seeds",
                "0,1",
                "--epochs",
                "2",
                "--quiet",
                "--out",
                str(out),
                "--set",
                "model_args.voters=2",
                "--set",
                "model_args.hidden=16",
                "--no-i3d-timing",
            ]
        )
    finally:
        torch.set_num_threads(before)
    assert code == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["split"] == "official" and doc["layout"] == "release" and doc["seeds"] == [0, 1]
    assert len(doc["actions"]) == 2 and doc["hardware"]["cpu_count"] >= 1 and doc["wall_s"] > 0
    rows = {r["row"]: r for r in doc["rows"]}
    assert set(rows) == {r[0] for r in ROWS}
    for name, model, variant in ROWS:
        r = rows[name]
        if "mv" in variant:  # the release copy holds View-1 only
            assert "View-2" in r["skipped"]
        elif model == "error_aware":
            assert "keystep, error" in r["skipped"]
        elif model.startswith("coach_rules"):  # the default pose feature is the statistics vector
            assert "--pose keysteps" in r["skipped"]
        else:
            assert r["skipped"] is None and set(r["seeds"]) == {"0", "1"}
            for seed in r["seeds"].values():
                assert set(seed["per_action"]) == set(doc["actions"])
                assert all(-1 <= m["spearman"] <= 1 and m["rl2"] >= 0 for m in seed["per_action"].values())
            assert r["rl2_mean"]["std"] >= 0 and r["fit_s_per_action_epoch"] > 0
    md = out.with_suffix(".md").read_text()
    assert md == markdown(doc) and "| Single view (SV) |" in md and "skipped" in md
    assert "Wall time" in capsys.readouterr().out


def test_coach_rules_row_needs_no_training(tmp_path):
    from flexaqa.aqa.bench import run_benchmark
    from flexaqa.aqa.features import FeatureSpec

    tiny = make_tiny_dataset(tmp_path / "d", subjects=("P01", "P02", "A01", "N01", "N02"))
    rows = [r for r in ROWS if r[1] in ("coach_rules", "coach_rules_cal", "error_aware")]
    doc = run_benchmark(
        tiny.root,
        seeds=(0,),
        epochs=2,
        rows=rows,
        spec=FeatureSpec(pose="keysteps"),
        measure_i3d=False,
        progress=False,
        overrides={"model_args.hidden": 16},
    )
    by = {r["row"]: r for r in doc["rows"]}
    rules = by["Coach rules (no training), pose"]
    assert rules["skipped"] is None and rules["seeds"]["0"]["fit_s"] == 0.0
    assert 0.0 <= rules["et_macro_f1"]["mean"] <= 1.0
    assert all(m["rl2"] >= 0 for m in rules["seeds"]["0"]["per_action"].values())
    assert "— (no training)" in markdown(doc)
    cal = by["Coach rules + linear calibration, pose"]["seeds"]["0"]["per_action"]
    for act, m in rules["seeds"]["0"]["per_action"].items():  # a positive linear map keeps the ranking
        assert m["spearman"] == pytest.approx(cal[act]["spearman"]) or np.isnan(m["spearman"])
