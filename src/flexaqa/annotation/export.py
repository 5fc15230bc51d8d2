"""Write the store's final labels into a native dataset: ``annotations.json`` of every trial (final slots,
FKG score, feedback cues, every annotator's label with its score, corrected keyframes) and the matching
``manifest.csv`` columns. Then ``flexaqa data``, training and ``vqa build`` read them at once.

Every file is written atomically and only when its content changes, so a second export writes nothing. All
new contents are computed before the first write; ``manifest.csv`` is written last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_text, json_text
from flexaqa.annotation.records import AnnotationError
from flexaqa.data.base import read_csv_dicts, write_csv_text
from flexaqa.data.native import MANIFEST_COLUMNS
from flexaqa.data.schema import Annotation, AnnotatorLabel, Keyframes
from flexaqa.errors import FlexaqaError
from flexaqa.kg import load_kg


@dataclass
class ExportReport:
    root: Path
    n_samples: int  # samples whose final label was written
    changed: list[Path] = field(default_factory=list)  # files whose content changed
    unresolved: list[str] = field(default_factory=list)  # samples left as they were (--partial)


def _remap(t: float, old: list[float], new: list[float]) -> float:
    return round(float(np.interp(t, old, new)), 6)


def _keyframes(kf: dict, seg: dict | None) -> dict:
    """``kf`` moved to the corrected boundaries ``seg``; phases follow piecewise-linearly."""
    if seg is None:
        return kf
    old, new = [kf["start"], kf["end"]], [seg["start"], seg["end"]]
    phases = kf.get("phases", [])
    if seg.get("turn") is not None and len(phases) >= 2 and kf["start"] < phases[1]["end"] < kf["end"]:
        old.insert(1, phases[1]["end"])
        new.insert(1, seg["turn"])
    return {
        "start": float(seg["start"]),
        "end": float(seg["end"]),
        "phases": [
            {"name": p["name"], "start": _remap(p["start"], old, new), "end": _remap(p["end"], old, new)}
            for p in phases
        ],
    }


def export_labels(store, data_dir: str | Path | None = None, *, partial: bool = False) -> ExportReport:
    """Write every resolved sample's labels into the native dataset (default: the one ``init`` recorded).

    Raises :class:`AnnotationError` when some samples are not resolved yet, unless ``partial`` (they are then
    left as they are and listed in the report).
    """
    kg = load_kg()
    cfg = store.config()
    root = Path(data_dir or cfg.dataset)
    tasks = {t.sample_id: t for t in store.tasks()}
    recorded = store.resolutions()
    now = {d.sample_id: d for d in store.decisions()}
    # a recorded decision counts only while the labels it was made from are still the current ones
    final = {
        sid: r
        for sid, r in recorded.items()
        if now[sid].status == "resolved" and (now[sid].slots, now[sid].votes) == (r["slots"], r["votes"])
    }
    unresolved = sorted(set(tasks) - set(final))
    if unresolved and not partial:
        first = "; ".join(
            f"{sid} ({now[sid].status}{': ' + now[sid].detail if now[sid].detail else ''})"
            if now[sid].status != "resolved"
            else f"{sid} (labels changed since `resolve`)"
            for sid in unresolved[:3]
        )
        raise AnnotationError(
            f"{len(unresolved)} of {len(tasks)} sample(s) are not resolved on their current labels: {first}; "
            "run `annotate resolve` and `annotate status`, or export with --partial"
        )
    current = store.current_labels()
    assigned = store.assignments()
    corrections = store.segments()
    by_trial: dict[str, list[str]] = {}
    for sid in final:
        by_trial.setdefault(tasks[sid].trial, []).append(sid)
    writes: list[tuple[Path, str]] = []
    new_rows: dict[str, dict] = {}
    for trial, sids in sorted(by_trial.items()):
        path = root / "trials" / trial / "annotations.json"
        try:
            old_text = path.read_text(encoding="utf-8")
            doc = json.loads(old_text)
            reps = {r["sample_id"]: r for r in doc["reps"]}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AnnotationError(f"{path}: cannot read the trial's annotations ({exc!r})") from exc
        for sid in sids:
            if sid not in reps:
                raise AnnotationError(f"{path}: has no repetition {sid}, which the store labelled")
            r, t, dec = reps[sid], tasks[sid], final[sid]
            act = kg.action(t.action)
            labs = []
            for stage in (1, 2):
                for who in assigned.get((sid, stage), ()):
                    row = current.get((sid, who, stage))
                    if row is not None:
                        labs.append(
                            AnnotatorLabel(
                                who, row.slots, stage, round(row.fkg_score, 4), row.score, row.feedback
                            )
                        )
            ann = Annotation(
                action=act.slug,
                rep=int(r["rep"]),
                keyframes=Keyframes.from_dict(r["keyframes"]),
                slots=dec["slots"],
                score=round(dec["score"], 4),
                annotators=tuple(labs),
                feedback=tuple(kg.feedback(s.split(":")[1], s.split(":")[0]) for s in dec["slots"]),
            )
            d = ann.to_dict()
            d["keyframes"] = _keyframes(r["keyframes"], corrections.get((trial, t.rep)))
            d = {"sample_id": sid, **{k: v for k, v in d.items()}}
            try:
                msg = Annotation.from_dict(d).score_problem(kg)
            except (FlexaqaError, KeyError, TypeError, ValueError) as exc:
                msg = str(exc)
            if msg:
                raise AnnotationError(f"{sid}: final label does not check out: {msg}")
            reps[sid] = {**{k: v for k, v in r.items() if k not in d}, **d}
            kf = d["keyframes"]
            new_rows[sid] = {
                "score": d["score"],
                "n_errors": len(d["slots"]),
                "start": kf["start"],
                "end": kf["end"],
                "duration": kf["end"] - kf["start"],
            }
        doc["reps"] = [reps[r["sample_id"]] for r in doc["reps"]]
        text = json_text(doc, indent=1)
        if text != old_text:
            writes.append((path, text))
    manifest = root / "manifest.csv"
    rows = read_csv_dicts(manifest)
    for row in rows:
        row.update(new_rows.get(row["sample_id"], {}))
    text = write_csv_text(MANIFEST_COLUMNS, [[_cell(row.get(c)) for c in MANIFEST_COLUMNS] for row in rows])
    if text != manifest.read_text(encoding="utf-8"):
        writes.append((manifest, text))
    for path, text in writes:
        atomic_write_text(path, text)
    return ExportReport(
        root=root, n_samples=len(final), changed=[p for p, _ in writes], unresolved=unresolved
    )


def _cell(v):
    """Manifest cells back to numbers where they are numbers, so re-writing keeps their formatting."""
    if isinstance(v, str):
        if v == "":
            return None
        try:
            f = float(v)
        except ValueError:
            return v
        return int(f) if v.lstrip("-").isdigit() else f
    return v
