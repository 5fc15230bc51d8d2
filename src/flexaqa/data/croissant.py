"""Croissant 1.0 (JSON-LD) metadata for a native dataset, so ML tooling can discover and load it.

The record sets mirror the CSV tables (``samples`` from ``manifest.csv``, ``subjects``, ``loads``) and list the
per-trial files (``videos``, ``arrays``, ``annotations``) by path. Generating needs nothing beyond the standard
library; validating and iterating need ``mlcroissant`` (extra ``croissant``).
"""

from __future__ import annotations

import json
from pathlib import Path

from flexaqa._io import atomic_write_text, file_sha256, json_text
from flexaqa.data.schema import DataError
from flexaqa.errors import require

CROISSANT_CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "equivalentProperty": "cr:equivalentProperty",
    "samplingRate": "cr:samplingRate",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

# manifest.csv column -> (schema.org data type, description)
SAMPLE_FIELDS = {
    "sample_id": ("sc:Text", "Unique sample id <subject>-<class id>-r<rep>, e.g. P01-A16-r03."),
    "trial": ("sc:Text", "Trial folder under trials/: <subject>-<class id>."),
    "subject": ("sc:Text", "Subject id (P.. expert, A.. amateur, N.. novice)."),
    "skill": ("sc:Text", "Skill level: expert, amateur or novice."),
    "action": ("sc:Text", "Action slug from the Fitness Knowledge Graph."),
    "class_index": ("sc:Integer", "Action index 1..20 (paper Table 7 order)."),
    "rep": ("sc:Integer", "Repetition number within the trial (1..10)."),
    "start": ("sc:Float", "Repetition start, seconds on the trial clock."),
    "end": ("sc:Float", "Repetition end, seconds on the trial clock."),
    "duration": ("sc:Float", "end - start, seconds."),
    "score": ("sc:Float", "Quality score 0..100 from the FKG penalty function."),
    "n_errors": ("sc:Integer", "Number of observed (keystep, error) slots."),
    "load_kg": ("sc:Float", "Load in kg (barbell incl. 20 kg bar; dumbbell one side)."),
    "split": ("sc:Text", "Default split of the random protocol: train, val or test."),
}
SUBJECT_FIELDS = {
    "id": ("sc:Text", "Subject id."),
    "skill": ("sc:Text", "Skill level."),
    "height_cm": ("sc:Float", "Height in cm."),
    "weight_kg": ("sc:Float", "Body mass in kg."),
    "age": ("sc:Float", "Age in years."),
    "body_fat_pct": ("sc:Float", "Body fat percentage."),
}
LOAD_FIELDS = {
    "subject": ("sc:Text", "Subject id."),
    "action": ("sc:Text", "Action slug."),
    "load_kg": ("sc:Float", "Load in kg."),
}
FILE_FIELDS = {
    "trial": ("sc:Text", "Trial folder under trials/."),
    "modality": ("sc:Text", "video, pose, emg, heart_rate, breath or annotations."),
    "view": ("sc:Text", "View name for video files (View-1 .. View-5), empty otherwise."),
    "path": ("sc:Text", "File path relative to the dataset folder."),
    "rate": ("sc:Float", "Frames or samples per second."),
    "length": ("sc:Integer", "Number of frames or samples (time axis)."),
}


def _csv_record_set(name: str, file_id: str, fields: dict, description: str, key: str | None = None) -> dict:
    rs = {
        "@type": "cr:RecordSet",
        "@id": name,
        "name": name,
        "description": description,
        "field": [
            {
                "@type": "cr:Field",
                "@id": f"{name}/{col}",
                "name": col,
                "description": desc,
                "dataType": dtype,
                "source": {"fileObject": {"@id": file_id}, "extract": {"column": col}},
            }
            for col, (dtype, desc) in fields.items()
        ],
    }
    if key:
        rs["key"] = {"@id": f"{name}/{key}"}
    return rs


def make_croissant(
    root: str | Path,
    *,
    name: str | None = None,
    description: str | None = None,
    url: str = "https://arxiv.org/abs/2506.03198",
    license: str = "https://creativecommons.org/licenses/by-nc/4.0/",
    version: str = "1.0.0",
) -> dict:
    """The Croissant document of the native dataset at ``root`` (file checksums computed now)."""
    root = Path(root)
    if not (root / "manifest.csv").is_file():
        raise DataError(f"{root}: no manifest.csv; Croissant metadata is generated for native datasets")
    info = {}
    if (root / "dataset.json").is_file():
        info = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    name = name or info.get("name") or root.name
    description = description or info.get("description") or "A FLEX-format fitness action quality dataset."
    distribution = []
    for fname, fid, fmt in (
        ("manifest.csv", "manifest", "text/csv"),
        ("subjects.csv", "subjects-csv", "text/csv"),
        ("loads.csv", "loads-csv", "text/csv"),
        ("files.csv", "files-csv", "text/csv"),
        ("dataset.json", "dataset-json", "application/json"),
    ):
        if (root / fname).is_file():
            distribution.append(
                {
                    "@type": "cr:FileObject",
                    "@id": fid,
                    "name": fid,
                    "description": f"{fname} of the dataset.",
                    "contentUrl": fname,
                    "encodingFormat": fmt,
                    "sha256": file_sha256(root / fname),
                }
            )
    for fid, pattern, fmt, desc in (
        ("videos", "trials/*/video/*.mp4", "video/mp4", "H.264 video, one file per trial and view."),
        (
            "arrays",
            "trials/*/*.npy",
            "application/x-npy",
            "Pose, sEMG and physiology arrays, time on axis 0.",
        ),
        (
            "annotations",
            "trials/*/annotations.json",
            "application/json",
            "Per-repetition keyframes, slots, scores, feedback.",
        ),
        (
            "trial-metadata",
            "trials/*/trial.json",
            "application/json",
            "Views, rates and stream shapes of each trial.",
        ),
    ):
        distribution.append(
            {
                "@type": "cr:FileSet",
                "@id": fid,
                "name": fid,
                "description": desc,
                "encodingFormat": fmt,
                "includes": pattern,
            }
        )
    record_sets = [
        _csv_record_set("samples", "manifest", SAMPLE_FIELDS, "One repetition per record.", key="sample_id"),
    ]
    if (root / "subjects.csv").is_file():
        record_sets.append(
            _csv_record_set(
                "subjects", "subjects-csv", SUBJECT_FIELDS, "Subjects and body metrics.", key="id"
            )
        )
    if (root / "loads.csv").is_file():
        record_sets.append(_csv_record_set("loads", "loads-csv", LOAD_FIELDS, "Load per subject and action."))
    if (root / "files.csv").is_file():
        record_sets.append(
            _csv_record_set("files", "files-csv", FILE_FIELDS, "Every data file of every trial.")
        )
    return {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "name": name,
        "description": description,
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "citeAs": "@inproceedings{flex2025, title={FLEX: A Large-Scale Multi-Modal Multi-Action Dataset for Fitness "
        "Action Quality Assessment}, year={2025}}",
        "license": license,
        "url": url,
        "version": version,
        "datePublished": info.get("created", "2025-06-03"),
        "distribution": distribution,
        "recordSet": record_sets,
    }


def write_croissant(root: str | Path, out: str | Path | None = None, **kw) -> Path:
    """Write ``croissant.json`` (default ``<root>/croissant.json``) and return its path."""
    root = Path(root)
    out = Path(out) if out else root / "croissant.json"
    doc = make_croissant(root, **kw)
    if out.resolve().parent != root.resolve():
        raise DataError(
            f"{out}: croissant.json must sit in the dataset folder ({root}) so its relative paths resolve"
        )
    return atomic_write_text(out, json_text(doc, indent=2) + "\n")


def validate_croissant(path: str | Path) -> list[str]:
    """Problems mlcroissant reports for the file (empty = valid)."""
    mlc = require("mlcroissant", "croissant", "validating Croissant metadata")
    try:
        mlc.Dataset(jsonld=str(path))
    except mlc.ValidationError as exc:
        return [line for line in str(exc).splitlines() if line.strip()]
    return []


def iter_records(path: str | Path, record_set: str = "samples", limit: int | None = None) -> list[dict]:
    """Records of ``record_set`` as mlcroissant yields them (bytes decoded to str)."""
    mlc = require("mlcroissant", "croissant", "reading Croissant record sets")
    ds = mlc.Dataset(jsonld=str(path))
    out = []
    for rec in ds.records(record_set=record_set):
        out.append({k.split("/")[-1]: (v.decode() if isinstance(v, bytes) else v) for k, v in rec.items()})
        if limit is not None and len(out) >= limit:
            break
    return out
