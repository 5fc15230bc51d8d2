"""Evaluation of predicted answers (paper Table 5): per question type and overall, bad prediction files, CLI."""

from __future__ import annotations

import json

import pytest

from flexaqa.cli import main
from flexaqa.kg import load_kg
from flexaqa.metrics import relative_l2_error
from flexaqa.vqa import QUESTION_TYPES, VQAError, build_qa_set, load_qa_set
from flexaqa.vqa.answerers import KGCoachAnswerer, write_predictions
from flexaqa.vqa.evaluate import evaluate_answers, format_markdown, read_predictions
from flexaqa.vqa.metrics import bleu_score
from flexaqa.vqa.synthetic import make_predictions, make_sources

KG = load_kg()
FAST = ("bleu", "chrf_pp", "rouge_l")


@pytest.fixture(scope="module")
def qa_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("vqa")
    sources = make_sources(root / "media", 8, seed=0, splits=("test",))
    build_qa_set(sources, root / "qa", kg=KG)
    write_predictions(
        root / "coach.jsonl",
        KGCoachAnswerer({p["sample_id"]: p for p in make_predictions(sources, seed=1, slot_flip=0.1)}).answer(
            load_qa_set(root / "qa", "test")
        ),
    )
    return root


def test_perfect_answers_score_perfectly(qa_dir):
    refs = load_qa_set(qa_dir / "qa", "test")
    res = evaluate_answers(refs, {q.id: q.answer for q in refs}, metrics=FAST)
    assert list(res["per_type"]) == list(QUESTION_TYPES)
    assert res["n_questions"] == 32 and res["n_samples"] == 8
    for block in [*res["per_type"].values(), res["overall"]]:
        assert block["bleu"] == pytest.approx(1.0) and block["rouge_l"] == pytest.approx(1.0)
        assert block["chrf_pp"] == pytest.approx(100.0)
    # answers state scores to 2 decimals: at most 0.005 points off, i.e. R-l2 x 100 below 2.5e-7
    assert (
        res["overall"]["r_l2"] == pytest.approx(0.0, abs=2.5e-7) and res["overall"]["score_unparsable"] == 0
    )
    assert "r_l2" not in res["per_type"]["recognition"]


def test_per_type_values_are_the_library_values_on_that_subset(qa_dir):
    refs = load_qa_set(qa_dir / "qa", "test")
    preds = read_predictions(qa_dir / "coach.jsonl", refs)
    res = evaluate_answers(refs, preds, metrics=FAST)
    for qtype in QUESTION_TYPES:
        sub = [q for q in refs if q.qtype == qtype]
        assert res["per_type"][qtype]["bleu"] == pytest.approx(
            bleu_score([q.answer for q in sub], [preds[q.id] for q in sub])
        )
    assert res["overall"]["bleu"] == pytest.approx(
        bleu_score([q.answer for q in refs], [preds[q.id] for q in refs])
    )


def test_r_l2_uses_parsed_scores_and_counts_unparsable(qa_dir):
    refs = load_qa_set(qa_dir / "qa", "test")
    scoring = [q for q in refs if q.qtype == "scoring"]
    preds = {q.id: q.answer for q in refs}
    preds[scoring[0].id] = "Hard to say."
    preds[scoring[1].id] = f"The score is {scoring[1].score - 10:.2f} out of 100."
    res = evaluate_answers(refs, preds, metrics=("bleu",), score_range=(0.0, 100.0))
    block = res["per_type"]["scoring"]
    assert block["score_unparsable"] == 1 and block["score_parsed"] == len(scoring) - 1
    true = [q.score for q in scoring[1:]]
    pred = [round(true[0] - 10, 2), *(round(t, 2) for t in true[1:])]
    assert block["r_l2"] == pytest.approx(
        relative_l2_error(true, pred, score_range=(0, 100), percent=True), abs=1e-6
    )
    assert res["overall"]["r_l2"] == block["r_l2"]


def test_markdown_table_like_table5(qa_dir):
    refs = load_qa_set(qa_dir / "qa", "test")
    preds = {q.id: q.answer for q in refs}
    results = {
        "reference": evaluate_answers(refs, preds, metrics=FAST),
        "coach": evaluate_answers(refs, preds, metrics=FAST),
    }
    md = format_markdown(results)
    assert "| metric | recognition | standards | evaluation | scoring | overall |" in md
    assert "| BLEU ↑ |" in md and "| R-l2 (x100) ↓ |" in md and "### overall" in md
    assert "| metric | reference | coach |" in md
    assert "METEOR" not in md  # metrics not computed are not shown


def _write(path, lines):
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))
    return path


def test_bad_prediction_files(qa_dir, tmp_path):
    refs = load_qa_set(qa_dir / "qa", "test")
    good = [{"id": q.id, "answer": q.answer} for q in refs]
    cases = [
        (_write(tmp_path / "missing.jsonl", good[:-2]), "2 of 32 reference questions have no prediction"),
        (
            _write(tmp_path / "empty.jsonl", [*good[:-1], {"id": refs[-1].id, "answer": "  "}]),
            "1 empty answer",
        ),
        (
            _write(tmp_path / "unknown.jsonl", [*good, {"id": "Z99/000:scoring", "answer": "x"}]),
            "not questions",
        ),
        (_write(tmp_path / "twice.jsonl", [*good, good[0]]), "predicted twice"),
        (_write(tmp_path / "fields.jsonl", [{"qid": "a", "text": "b"}]), "needs 'id' and 'answer'"),
        (_write(tmp_path / "type.jsonl", [{"id": refs[0].id, "answer": 3}]), "must be a string"),
        (_write(tmp_path / "array.jsonl", [json.dumps(good)]), "expected a JSON object per line"),
        (_write(tmp_path / "csv.jsonl", ["id,answer", "a,b"]), "not a JSON line"),
        (_write(tmp_path / "preds.json", good), "must be a .jsonl file"),
        (_write(tmp_path / "blank.jsonl", [""]), "no predictions"),
        (tmp_path / "nowhere.jsonl", "no such predictions file"),
    ]
    for path, match in cases:
        with pytest.raises(VQAError, match=match):
            read_predictions(path, refs)
    with pytest.raises(VQAError, match="unknown metric"):
        evaluate_answers(refs, {q.id: q.answer for q in refs}, metrics=("cider",))


def test_cli_eval_full_table(qa_dir, tmp_path, capsys):
    """All metrics through the CLI, on a two-sample split (BERTScore and METEOR load once)."""
    small = tmp_path / "qa"
    small.mkdir()
    lines = (qa_dir / "qa" / "qa_test.jsonl").read_text().splitlines()[:8]
    (small / "qa_test.jsonl").write_text("\n".join(lines) + "\n")
    refs = load_qa_set(small, "test")
    write_predictions(tmp_path / "perfect.jsonl", {q.id: q.answer for q in refs})
    out = tmp_path / "table5"
    rc = main(
        [
            "vqa",
            "eval",
            "--refs",
            str(small),
            "--preds",
            f"ref={tmp_path / 'perfect.jsonl'}",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "BERTScore model: all-MiniLM-L6-v2" in printed and "| METEOR ↑ |" in printed
    res = json.loads(out.with_suffix(".json").read_text())["ref"]
    ov = res["overall"]
    assert (
        ov["bleu"] == pytest.approx(1.0)
        and ov["meteor"] > 0.99
        and ov["bertscore_f1"] == pytest.approx(1.0, abs=1e-4)
    )
    assert out.with_suffix(".md").read_text().startswith("### ref")


def test_cli_errors_are_reported_not_raised(qa_dir, tmp_path, capsys):
    _write(tmp_path / "bad.jsonl", ["{oops"])
    rc = main(
        [
            "vqa",
            "eval",
            "--refs",
            str(qa_dir / "qa"),
            "--preds",
            str(tmp_path / "bad.jsonl"),
            "--metrics",
            "bleu",
        ]
    )
    assert rc == 3  # bad input data
    assert "flexaqa: error:" in capsys.readouterr().err


def test_cli_synth_build_answer_eval(tmp_path, capsys):
    assert main(["vqa", "synth", "--out", str(tmp_path / "syn"), "--samples", "6"]) == 0
    assert (
        main(
            [
                "vqa",
                "build",
                "--sources",
                str(tmp_path / "syn" / "sources.jsonl"),
                "--out",
                str(tmp_path / "qa"),
            ]
        )
        == 0
    )
    assert "wrote 24 QA pairs" in capsys.readouterr().out
    assert main(["vqa", "export", "--qa", str(tmp_path / "qa"), "--out", str(tmp_path / "lf")]) == 0
    assert (tmp_path / "lf" / "flex_videoqa_test.json").is_file()
    coach = [
        "vqa",
        "answer",
        "--refs",
        str(tmp_path / "qa"),
        "--kg-coach",
        str(tmp_path / "syn" / "predictions.jsonl"),
    ]
    assert main([*coach, "--out", str(tmp_path / "coach.jsonl")]) == 0
    rc = main(
        [
            "vqa",
            "eval",
            "--refs",
            str(tmp_path / "qa"),
            "--preds",
            str(tmp_path / "coach.jsonl"),
            "--metrics",
            "bleu,rouge_l",
        ]
    )
    assert rc == 0
    assert "### coach" in capsys.readouterr().out
