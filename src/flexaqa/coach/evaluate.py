"""``flexaqa coach eval --labels LABELS.csv``: measure the coach on your own labelled clips or keypoint files.

``LABELS.csv`` has one row per labelled repetition (a clip with no repetition: one row with empty
``start``/``end``). Columns:

| column | required | meaning |
|---|---|---|
| ``file`` | yes | a video, or a keypoint file/folder (relative to the CSV's folder) |
| ``action`` | yes | the FLEX action (index, class id, slug or name) |
| ``start``, ``end`` | yes (may be empty) | the repetition's start and end, in seconds or frame index (``unit``) |
| ``unit`` | no | ``s`` (default) or ``frame`` |
| ``errors`` | no | the errors seen in this repetition: slots ``AK08:ET023`` or error ids ``ET023``, separated by spaces or ``;`` |
| ``pose_format`` | no | ``openpose``/``coco``/``mediapipe``/``h36m``/``flex`` for keypoint files (else ``--pose-format``; none: a video) |
| ``fps`` | no | frame rate for keypoint formats without time, and for ``unit=frame`` |

Each clip runs through the coach; its repetitions are matched one-to-one to the labelled ones (greatest temporal
overlap, intersection over union at least 0.5). Reported: repetition-count accuracy (clips whose count is exact),
the mean absolute count error, matched repetitions, and per error type (``ETxxx``) true/false positives, misses,
precision, recall and F1 over matched repetitions, plus how often a labelled error was not assessable (those count
as misses: the coach did not find them).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

from flexaqa.coach._types import CoachError
from flexaqa.coach.keypoints import coach_keypoints
from flexaqa.coach.pipeline import coach_video
from flexaqa.errors import FlexaqaError

REQUIRED = ("file", "action", "start", "end")
OPTIONAL = ("unit", "errors", "pose_format", "fps")


class LabelsError(FlexaqaError, ValueError):
    """The labels CSV breaks its format (the message names the file, row and column)."""


def read_labels(path: str | Path) -> list[dict]:
    """The labelled clips of ``path``: ``[{file, action, pose_format, fps, reps: [(start, end, unit, errors)]}]``."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
            cols = rows[0].keys() if rows else []
    except OSError as exc:
        raise LabelsError(f"{path}: cannot read ({exc})") from exc
    if not rows:
        raise LabelsError(f"{path}: no labelled row; expected columns {', '.join(REQUIRED)}")
    missing = [c for c in REQUIRED if c not in cols]
    unknown = [c for c in cols if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        raise LabelsError(
            f"{path}: columns missing {missing}, unknown {unknown}; expected {REQUIRED} and optionally {OPTIONAL}"
        )
    clips: dict[tuple, dict] = {}
    for i, r in enumerate(rows, start=2):
        where = f"{path}: row {i}"
        key = (r["file"].strip(), r["action"].strip())
        if not all(key):
            raise LabelsError(f"{where}: file and action must not be empty")
        clip = clips.setdefault(
            key,
            {
                "file": str(path.parent / key[0]),
                "name": key[0],
                "action": key[1],
                "reps": [],
                "pose_format": (r.get("pose_format") or "").strip() or None,
                "fps": _float(r.get("fps"), where, "fps"),
            },
        )
        s, e = (r["start"] or "").strip(), (r["end"] or "").strip()
        if not s and not e:
            continue
        unit = (r.get("unit") or "s").strip() or "s"
        if unit not in ("s", "frame"):
            raise LabelsError(f"{where}: unit must be s or frame, got {unit!r}")
        a, b = _float(s, where, "start"), _float(e, where, "end")
        if a is None or b is None or not b > a:
            raise LabelsError(f"{where}: start and end must be numbers with end > start, got {s!r}, {e!r}")
        if unit == "frame":
            if not clip["fps"]:
                raise LabelsError(f"{where}: unit=frame needs the clip's fps column")
            a, b = a / clip["fps"], b / clip["fps"]
        errs = tuple(x for x in re.split(r"[;\s,]+", (r.get("errors") or "").strip()) if x)
        bad = [x for x in errs if not re.fullmatch(r"(AK\d{2}:)?ET\d{3}", x)]
        if bad:
            raise LabelsError(f"{where}: errors must be slots (AK08:ET023) or error ids (ET023), got {bad}")
        clip["reps"].append((a, b, errs))
    return list(clips.values())


def _float(v, where: str, col: str) -> float | None:
    v = (v or "").strip()
    if not v:
        return None
    try:
        return float(v)
    except ValueError as exc:
        raise LabelsError(f"{where}: {col} must be a number, got {v!r}") from exc


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def match_reps(
    true: list[tuple[float, float]], pred: list[tuple[float, float]], min_iou: float = 0.5
) -> list[tuple[int, int]]:
    """One-to-one ``(true index, predicted index)`` pairs, greatest overlap first, IoU at least ``min_iou``."""
    pairs = sorted(((_iou(t, p), i, j) for i, t in enumerate(true) for j, p in enumerate(pred)), reverse=True)
    used_t, used_p, out = set(), set(), []
    for iou, i, j in pairs:
        if iou < min_iou or i in used_t or j in used_p:
            continue
        used_t.add(i)
        used_p.add(j)
        out.append((i, j))
    return sorted(out)


def _run(clip: dict, pose_format: str | None, fps: float | None, view: str, segmenter=None) -> dict:
    fmt = clip["pose_format"] or pose_format
    if fmt:
        return coach_keypoints(
            clip["file"], fmt, clip["action"], fps=clip["fps"] or fps, view=view, segmenter=segmenter
        ).report

    return coach_video(clip["file"], clip["action"], view=view, segmenter=segmenter).report


def evaluate_labels(
    labels: str | Path,
    *,
    pose_format: str | None = None,
    fps: float | None = None,
    view: str = "auto",
    segmenter=None,
) -> dict:
    """Run the coach on every clip of ``labels`` and score it against the labels (see the module docstring)."""
    clips = read_labels(labels)
    per_error: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "not_assessed": 0})
    rows = []
    for clip in clips:
        true = [(a, b) for a, b, _ in clip["reps"]]
        try:
            rep = _run(clip, pose_format, fps, view, segmenter)
            pred_reps = rep["repetitions"]
            problem = ""
        except CoachError as exc:
            pred_reps, problem = [], f"{exc.problem}: {exc}"
        pred = [(r["start"], r["end"]) for r in pred_reps]
        pairs = match_reps(true, pred)
        matched_true = {i for i, _ in pairs}
        for i, j in pairs:
            labelled = set(clip["reps"][i][2])
            r = pred_reps[j]
            found_slots = set(r["detected"])
            found_et = {s.split(":")[1] for s in found_slots}
            assessed_slots = {x["slot"] for x in r["clean"]} | found_slots
            lab_et = {x.split(":")[-1] for x in labelled}
            for et in sorted(lab_et | found_et):
                want, got = et in lab_et, et in found_et
                c = per_error[et]
                if want and got:
                    c["tp"] += 1
                elif want:
                    c["fn"] += 1
                    if not any(x.endswith(":" + et) for x in assessed_slots):
                        c["not_assessed"] += 1
                else:
                    c["fp"] += 1
        for i, (_a, _b, errs) in enumerate(clip["reps"]):
            if i not in matched_true:
                for et in {x.split(":")[-1] for x in errs}:
                    per_error[et]["fn"] += 1
        rows.append(
            {
                "file": clip["name"],
                "action": clip["action"],
                "true_reps": len(true),
                "found_reps": len(pred),
                "matched": len(pairs),
                "problem": problem,
            }
        )
    n = len(rows)
    errors = {et: {**c, **_prf(c)} for et, c in sorted(per_error.items())}
    tot = {k: sum(c[k] for c in per_error.values()) for k in ("tp", "fp", "fn", "not_assessed")}
    return {
        "labels": str(labels),
        "clips": n,
        "rep_count_accuracy": round(sum(r["true_reps"] == r["found_reps"] for r in rows) / n, 4)
        if n
        else None,
        "rep_count_mae": round(sum(abs(r["true_reps"] - r["found_reps"]) for r in rows) / n, 4)
        if n
        else None,
        "true_reps": sum(r["true_reps"] for r in rows),
        "found_reps": sum(r["found_reps"] for r in rows),
        "matched_reps": sum(r["matched"] for r in rows),
        "errors_total": {**tot, **_prf(tot)},
        "errors": errors,
        "per_clip": rows,
    }


def _prf(c: dict) -> dict:
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
    return {"precision": _round(p), "recall": _round(r), "f1": _round(f)}


def _round(x):
    return None if x is None else round(x, 4)


def format_markdown(res: dict) -> str:
    """The evaluation as markdown: the repetition counts, then one row per error type."""
    f = lambda x: "–" if x is None else f"{x:.2f}"  # noqa: E731
    lines = [
        f"# Coach evaluation on `{res['labels']}`",
        "",
        f"{res['clips']} clip(s): repetition count exact in {f(res['rep_count_accuracy'])} of them (mean absolute "
        f"count error {f(res['rep_count_mae'])}); {res['found_reps']} repetitions found for {res['true_reps']} "
        f"labelled, {res['matched_reps']} matched (IoU >= 0.5).",
        "",
        "| error | tp | fp | fn | of which not assessable | precision | recall | F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for et, c in [*res["errors"].items(), ("all", res["errors_total"])]:
        lines.append(
            f"| {et} | {c['tp']} | {c['fp']} | {c['fn']} | {c['not_assessed']} | {f(c['precision'])} | "
            f"{f(c['recall'])} | {f(c['f1'])} |"
        )
    lines += [
        "",
        "| clip | action | labelled reps | found | matched | problem |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['file']} | {r['action']} | {r['true_reps']} | {r['found_reps']} | {r['matched']} | {r['problem']} |"
        for r in res["per_clip"]
    ]
    return "\n".join(lines) + "\n"
