"""Reading labels into :class:`LabelSubmission` rows: flexaqa's own JSON Lines / JSON / CSV files, and the
per-annotator labels a native dataset already holds (``annotations.json``, e.g. the simulator's annotators).

Every row keeps its ``source`` (``file: line N``) so that an error names it. A file that cannot be read or a
row that is malformed raises :class:`AnnotationError`; nothing is returned half-read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from pathlib import Path

from flexaqa._io import atomic_write_text, json_text
from flexaqa.annotation.records import (
    AnnotationDataError,
    AnnotationError,
    LabelSubmission,
    MissingAnnotationInputError,
)
from flexaqa.data.native import read_manifest

FIELDS = tuple(f.name for f in fields(LabelSubmission))
REQUIRED = ("annotator", "stage", "sample_id")


def read_submissions(
    path: str | Path,
    *,
    stage: int | None = None,
    annotator: str | None = None,
    rename: str | None = None,
) -> list[LabelSubmission]:
    """Labels from ``path``.

    Args:
        path: a ``.jsonl``, ``.json`` (a list of objects) or ``.csv`` file with the fields of
            :class:`LabelSubmission` (``slots`` a list, or in CSV a ``;``/space separated string), or a native
            dataset folder, whose labels of ``annotator`` are read.
        stage: the stage of rows that leave it out; for a dataset folder, the stage of the labels to read
            (default 1).
        annotator: only rows of this annotator (required for a dataset folder).
        rename: store the rows under this annotator name instead.
    """
    path = Path(path)
    if path.is_dir():
        if not annotator:
            raise AnnotationError(f"{path} is a dataset folder: name whose labels to import with --annotator")
        subs = _from_native(path, annotator, stage or 1)
    elif not path.is_file():
        raise MissingAnnotationInputError(f"{path}: no such file")
    else:
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            subs = _from_jsonl(path, stage)
        elif suffix == ".json":
            subs = _from_json(path, stage)
        elif suffix == ".csv":
            subs = _from_csv(path, stage)
        else:
            raise AnnotationError(f"{path}: expected a .jsonl, .json or .csv file or a dataset folder")
        if annotator:
            subs = [s for s in subs if s.annotator == annotator]
    if rename:
        subs = [replace(s, annotator=rename) for s in subs]
    if not subs:
        who = f" of {annotator}" if annotator else ""
        raise AnnotationError(f"{path}: no labels{who} to import")
    return subs


def write_submissions(path: str | Path, subs: Sequence[LabelSubmission]) -> Path:
    """Write rows as JSON Lines (atomically), the format :func:`read_submissions` reads back."""
    lines = []
    for s in subs:
        d = asdict(s)
        d["slots"] = list(s.slots)
        d.pop("source")
        lines.append(json_text(d, indent=None))
    return atomic_write_text(path, "\n".join(lines) + "\n")


def _row(d, where: str, stage: int | None) -> LabelSubmission:
    if not isinstance(d, dict):
        raise AnnotationDataError(
            f"{where}: expected an object with {', '.join(REQUIRED)}, got {type(d).__name__}"
        )
    unknown = sorted(set(d) - set(FIELDS))
    if unknown:
        raise AnnotationDataError(
            f"{where}: unknown field(s) {', '.join(unknown)}; fields are {', '.join(FIELDS)}"
        )
    d = dict(d)
    if d.get("stage") in (None, "") and stage is not None:
        d["stage"] = stage
    missing = [k for k in REQUIRED if d.get(k) in (None, "")]
    if missing:
        raise AnnotationDataError(f"{where}: missing {', '.join(missing)}")
    slots = d.get("slots") or ()
    if isinstance(slots, str):
        slots = slots.replace(";", " ").replace(",", " ").split()
    if not isinstance(slots, (list, tuple)) or not all(isinstance(s, str) for s in slots):
        raise AnnotationDataError(f"{where}: slots must be a list of AKxx:ETyyy strings, got {slots!r}")
    try:
        st = int(d["stage"])
        score = None if d.get("score") in (None, "") else float(d["score"])
        rep = None if d.get("repetition") in (None, "") else int(d["repetition"])
    except (TypeError, ValueError) as exc:
        raise AnnotationDataError(f"{where}: stage, score and repetition must be numbers ({exc})") from exc
    accept = d.get("accept", False)
    if isinstance(accept, str):
        accept = accept.strip().lower() in ("1", "true", "yes")
    if stage is not None and st != stage:
        raise AnnotationDataError(f"{where}: stage {st}, but --stage {stage} was asked for")
    return LabelSubmission(
        annotator=str(d["annotator"]),
        stage=st,
        sample_id=str(d["sample_id"]),
        slots=tuple(slots),
        score=score,
        feedback=str(d.get("feedback") or ""),
        repetition=rep,
        source=where,
        accept=bool(accept),
    )


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationDataError(f"{path}: cannot read ({exc})") from exc


def _from_jsonl(path: Path, stage) -> list[LabelSubmission]:
    out = []
    for n, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AnnotationDataError(f"{path.name}: line {n}: not valid JSON ({exc})") from exc
        out.append(_row(d, f"{path.name}: line {n}", stage))
    return out


def _from_json(path: Path, stage) -> list[LabelSubmission]:
    try:
        data = json.loads(_text(path))
    except json.JSONDecodeError as exc:
        raise AnnotationDataError(f"{path.name}: not valid JSON ({exc})") from exc
    if not isinstance(data, list):
        raise AnnotationDataError(f"{path.name}: expected a JSON list of labels, got {type(data).__name__}")
    return [_row(d, f"{path.name}: item {k}", stage) for k, d in enumerate(data, start=1)]


def _from_csv(path: Path, stage) -> list[LabelSubmission]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AnnotationDataError(f"{path}: cannot read as CSV ({exc})") from exc
    out = []
    for n, r in enumerate(rows, start=2):
        if None in r:
            raise AnnotationDataError(f"{path.name}: line {n}: more cells than the header has columns")
        out.append(_row({k: v for k, v in r.items() if v != ""}, f"{path.name}: line {n}", stage))
    return out


def _from_native(root: Path, annotator: str, stage: int) -> list[LabelSubmission]:
    trials = sorted({r.trial for r in read_manifest(root)})
    out = []
    for trial in trials:
        path = root / "trials" / trial / "annotations.json"
        try:
            reps = json.loads(_text(path))["reps"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AnnotationDataError(f"{path}: expected {{'reps': [...]}} ({exc!r})") from exc
        for r in reps:
            for lab in r.get("annotators", ()):
                if lab.get("annotator") == annotator and int(lab.get("stage", 1)) == stage:
                    out.append(
                        LabelSubmission(
                            annotator=annotator,
                            stage=stage,
                            sample_id=r["sample_id"],
                            slots=tuple(lab.get("slots", ())),
                            repetition=r.get("rep"),
                            source=f"{path}: {r['sample_id']} ({annotator})",
                        )
                    )
    return out
