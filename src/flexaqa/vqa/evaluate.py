"""Score predicted answers against the reference QA set: a table like the paper's Table 5, per question type
and overall, as markdown and JSON.

Predictions are JSONL, one ``{"id": "<qa id>", "answer": "..."}`` per line, covering every reference question of
the evaluated split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flexaqa._io import atomic_write_text, json_text, missing_file_message
from flexaqa.metrics import relative_l2_error
from flexaqa.vqa._records import QA, QUESTION_TYPES, MissingVQAFileError, VQAError, iter_jsonl
from flexaqa.vqa.metrics import (
    BertScoreModel,
    bertscore_f1_scores,
    bleu_score,
    chrf_pp_score,
    default_bertscore_model,
    meteor_scores,
    parse_score,
    rouge_l_scores,
)

# Table 5's rows: key, label, higher is better.
METRICS = (
    ("bleu", "BLEU", True),
    ("rouge_l", "ROUGE-L", True),
    ("meteor", "METEOR", True),
    ("chrf_pp", "chrF++", True),
    ("bertscore_f1", "BERTScore-F1", True),
    ("r_l2", "R-l2 (x100)", False),
)
TEXT_METRICS = ("bleu", "rouge_l", "meteor", "chrf_pp", "bertscore_f1")


def read_predictions(path: str | Path, refs: Sequence[QA]) -> dict[str, str]:
    """QA id -> predicted answer, checked against ``refs``: every id known, none missing, none twice, no empty."""
    path = Path(path)
    if not path.is_file():
        raise MissingVQAFileError(missing_file_message(path, "predictions file (.jsonl)"))
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise VQAError(
            f"{path}: predictions must be a .jsonl file with one {{'id', 'answer'}} object per line"
        )
    known = {q.id for q in refs}
    preds: dict[str, str] = {}
    empty, unknown = [], []
    for lineno, obj in iter_jsonl(path):
        if "id" not in obj or "answer" not in obj:
            raise VQAError(f"{path}:{lineno}: each line needs 'id' and 'answer'; got keys {sorted(obj)}")
        qid, answer = str(obj["id"]), obj["answer"]
        if not isinstance(answer, str):
            raise VQAError(
                f"{path}:{lineno}: 'answer' of {qid!r} must be a string, got {type(answer).__name__}"
            )
        if qid in preds:
            raise VQAError(f"{path}:{lineno}: id {qid!r} is predicted twice")
        if qid not in known:
            unknown.append(qid)
        if not answer.strip():
            empty.append(f"{qid} (line {lineno})")
        preds[qid] = answer
    if not preds:
        raise VQAError(f"{path}: no predictions")
    if unknown:
        raise VQAError(
            f"{path}: {len(unknown)} id(s) are not questions of the reference split, e.g. {', '.join(unknown[:3])}"
        )
    if empty:
        raise VQAError(
            f"{path}: {len(empty)} empty answer(s), e.g. {', '.join(empty[:3])}; "
            "a model that gives no answer should be scored on a placeholder such as 'no answer'"
        )
    missing = [q.id for q in refs if q.id not in preds]
    if missing:
        raise VQAError(
            f"{path}: {len(missing)} of {len(refs)} reference questions have no prediction, "
            f"e.g. {', '.join(missing[:3])}"
        )
    return preds


def evaluate_answers(
    refs: Sequence[QA],
    preds: Mapping[str, str],
    *,
    metrics: Sequence[str] = TEXT_METRICS,
    bertscore_model: BertScoreModel | None = None,
    score_range: tuple[float, float] = (0.0, 100.0),
) -> dict[str, Any]:
    """Metrics per question type and overall for one system.

    R-l2 (x100) compares the score parsed from each *scoring* answer with the true FKG score; answers without a
    readable score are left out of it and counted in ``score_unparsable``.
    """
    unknown = set(metrics) - set(TEXT_METRICS)
    if unknown:
        raise VQAError(f"unknown metric(s) {sorted(unknown)}; choose from {', '.join(TEXT_METRICS)}")
    refs = list(refs)
    missing = [q.id for q in refs if q.id not in preds]
    if missing:
        raise VQAError(
            f"{len(missing)} reference question(s) have no prediction, e.g. {', '.join(missing[:3])}"
        )
    ref_text = [q.answer for q in refs]
    hyp_text = [preds[q.id] for q in refs]
    qtypes = np.array([q.qtype for q in refs])
    per_pair: dict[str, np.ndarray] = {}
    if "rouge_l" in metrics:
        per_pair["rouge_l"] = rouge_l_scores(ref_text, hyp_text)
    if "meteor" in metrics:
        per_pair["meteor"] = meteor_scores(ref_text, hyp_text)
    model = None
    if "bertscore_f1" in metrics:
        model = bertscore_model or default_bertscore_model()
        per_pair["bertscore_f1"] = bertscore_f1_scores(ref_text, hyp_text, model=model)

    def block(mask: np.ndarray) -> dict[str, Any]:
        idx = np.flatnonzero(mask)
        r, h = [ref_text[i] for i in idx], [hyp_text[i] for i in idx]
        out: dict[str, Any] = {"n": len(idx)}
        if "bleu" in metrics:
            out["bleu"] = bleu_score(r, h)
        if "chrf_pp" in metrics:
            out["chrf_pp"] = chrf_pp_score(r, h)
        for key, values in per_pair.items():
            out[key] = float(values[idx].mean())
        scoring = [i for i in idx if refs[i].qtype == "scoring"]
        if scoring:
            parsed = [(refs[i].score, parse_score(hyp_text[i])) for i in scoring]
            ok = [(t, p) for t, p in parsed if p is not None]
            out["score_parsed"] = len(ok)
            out["score_unparsable"] = len(parsed) - len(ok)
            out["r_l2"] = (
                relative_l2_error(
                    [t for t, _ in ok], [p for _, p in ok], score_range=score_range, percent=True
                )
                if ok
                else None
            )
        return out

    per_type = {t: block(qtypes == t) for t in QUESTION_TYPES if (qtypes == t).any()}
    return {
        "n_questions": len(refs),
        "n_samples": len({q.sample_id for q in refs}),
        "per_type": per_type,
        "overall": block(np.ones(len(refs), dtype=bool)),
        "bertscore_model": model.describe() if model else None,
        "score_range": list(score_range),
    }


def _cell(value: Any, key: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if key == "chrf_pp" else f"{value:.4f}"


def format_markdown(results: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown tables: per system, metrics x (question types, overall); then, for several systems, the overall
    scores side by side like the paper's Table 5."""
    lines: list[str] = []
    for name, res in results.items():
        cols = [*res["per_type"], "overall"]
        blocks = [*res["per_type"].values(), res["overall"]]
        lines += [f"### {name}", "", "| metric | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for key, label, up in METRICS:
            if all(key not in b for b in blocks):
                continue
            arrow = "↑" if up else "↓"
            lines.append(f"| {label} {arrow} | " + " | ".join(_cell(b.get(key), key) for b in blocks) + " |")
        ov = res["overall"]
        notes = [f"{res['n_questions']} questions from {res['n_samples']} samples"]
        if "score_unparsable" in ov:
            notes.append(
                f"scores parsed from {ov['score_parsed']} answers, unparsable in {ov['score_unparsable']}"
            )
        if res.get("bertscore_model"):
            notes.append(f"BERTScore model: {res['bertscore_model']}")
        lines += ["", "; ".join(notes) + ".", ""]
    if len(results) > 1:
        names = list(results)
        lines += [
            "### overall",
            "",
            "| metric | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        for key, label, up in METRICS:
            vals = [results[n]["overall"].get(key) for n in names]
            if all(v is None for v in vals):
                continue
            lines.append(
                f"| {label} {'↑' if up else '↓'} | " + " | ".join(_cell(v, key) for v in vals) + " |"
            )
        lines.append("")
    return "\n".join(lines)


def write_report(results: Mapping[str, Any], out_prefix: str | Path) -> tuple[Path, Path]:
    """Write ``<prefix>.md`` and ``<prefix>.json``."""
    out_prefix = Path(out_prefix)
    md = atomic_write_text(out_prefix.with_suffix(".md"), format_markdown(results))
    js = atomic_write_text(out_prefix.with_suffix(".json"), json_text(results, indent=2) + "\n")
    return md, js
