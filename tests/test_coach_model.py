"""`flexaqa coach --run`: a trained error-aware pose model combined with the rules, and runs the coach refuses."""

from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")

from flexaqa.cli import main  # noqa: E402
from flexaqa.coach import analyse_pose, report_problems, synthetic_set  # noqa: E402
from flexaqa.coach.html import render_html  # noqa: E402
from flexaqa.coach.model import THRESHOLD, RunModelError, load_run_model, predict_reps  # noqa: E402
from flexaqa.kg import load_kg  # noqa: E402
from flexaqa.pose_rules.rules import load_rules  # noqa: E402
from flexaqa.testing import make_tiny_dataset  # noqa: E402


@pytest.fixture(scope="module")
def pose_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("coach_run")
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
            "3",
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
    return run


@pytest.fixture(scope="module")
def squat_set():
    return synthetic_set("squat", n_reps=2, errors=[(), ("AK44:ET056",)])


def _edited_run(run, tmp_path, **changes):
    out = tmp_path / "edited"
    shutil.copytree(run, out)
    doc = json.loads((out / "run.json").read_text())
    doc.update(changes)
    (out / "run.json").write_text(json.dumps(doc))
    return out


def test_model_evidence_is_combined_with_the_rules(pose_run, squat_set):
    s, act = squat_set, load_kg().action("squat")
    plain = analyse_pose(s.pose, "squat", segmenter=s.segmenter, view="front")
    rep = analyse_pose(s.pose, "squat", segmenter=s.segmenter, view="front", run=pose_run)
    assert report_problems(rep) == []
    m = rep["model"]
    assert m["variant"] == "pose" and m["model"] == "error_aware"
    assert m["trained_slots"] == [x.id for x in act.slots]
    rm = load_run_model(pose_run, "squat")
    direct = predict_reps(rm, s.pose, s.segmenter(s.pose, act))
    rs = load_rules(act)
    for r, p, d in zip(rep["repetitions"], plain["repetitions"], direct, strict=True):
        assert r["model_score"] == pytest.approx(d["score"])
        # the rules' decisions are kept unchanged, with the model's probability beside them
        by_rules = {e["slot"] for e in r["errors"] if e["source"] == "rules"}
        assert by_rules == set(p["detected"])
        assert {c["slot"] for c in r["clean"] if c["source"] == "rules"} == {c["slot"] for c in p["clean"]}
        for item in r["errors"] + r["clean"]:
            assert item["model_probability"] == pytest.approx(d["probs"][item["slot"]])
        # slots the rules could not assess are decided by the model, at its threshold
        unassessed = {n["slot"] for n in p["not_assessed"]} | set(rs.skipped)
        for e in r["errors"]:
            if e["source"] == "model":
                assert e["slot"] in unassessed and e["model_probability"] >= THRESHOLD
                assert e["confidence"] == e["model_probability"]
                assert e["evidence"][0]["feature"] == "model_probability"
        for c in r["clean"]:
            if c["source"] == "model":
                assert c["slot"] in unassessed and c["model_probability"] < THRESHOLD
                assert c["confidence"] == pytest.approx(1 - c["model_probability"], abs=1e-4)
        model_slots = {x["slot"] for x in r["errors"] + r["clean"] if x["source"] == "model"}
        assert model_slots == unassessed
        assert r["not_assessed"] == [] and r["assessed_share"] == 1.0  # the model was trained on every slot
    assert set(rep["coverage"]["by_model"]) == set(m["decided_slots"]) and rep["coverage"]["share"] == 1.0
    assert plain["coverage"]["share"] < 1.0
    assert any("decided by the trained model alone" in w for w in rep["warnings"])
    model_good = [g for g in rep["feedback"]["went_well"] if g["slot"] in m["decided_slots"]]
    assert all(g["text"].endswith("(trained model only).") for g in model_good)
    assert "Trained model" in render_html(rep)


def test_run_is_refused_when_it_needs_video(pose_run, tmp_path, squat_set):
    bad = _edited_run(pose_run, tmp_path, variant="mv+pose")
    with pytest.raises(RunModelError, match="video_v1, video_v2") as info:
        load_run_model(bad, "squat")
    assert "pose only" in str(info.value)
    with pytest.raises(RunModelError, match="video_v1"):
        analyse_pose(squat_set.pose, "squat", segmenter=squat_set.segmenter, run=bad)


def test_cli_refuses_unusable_runs_before_reading_the_video(pose_run, tmp_path, capsys):
    other = next(a for a in load_kg().actions if a.slug != "squat")
    cases = [
        (_edited_run(pose_run, tmp_path, variant="pose+emg"), "squat", "emg"),
        (tmp_path, "squat", "not a flexaqa AQA run"),
        (pose_run, other.slug, "has no model for"),
    ]
    for run, action, message in cases:
        code = main(["coach", str(tmp_path / "missing.mp4"), "--action", action, "--run", str(run)])
        err = capsys.readouterr().err
        assert code == 2 and message in err, err
    shutil.rmtree(tmp_path / "edited")
    bad = _edited_run(pose_run, tmp_path, model="core_gart")
    assert main(["coach", str(tmp_path / "missing.mp4"), "--action", "squat", "--run", str(bad)]) == 2
    assert "error-aware" in capsys.readouterr().err
