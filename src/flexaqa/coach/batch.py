"""The coach over a folder of videos (``flexaqa coach DIR/ --out REPORTS/``): one report folder per video, the same
files ``flexaqa coach VIDEO --out X`` writes (:func:`~flexaqa.coach.pipeline.coach_to_folder`), plus a summary
table; the videos run as tasks (:func:`flexaqa._tasks.map_tasks`: in this process, local processes or Ray).

- Videos: every ``*.mp4``, ``*.mov``, ``*.avi``, ``*.mkv`` and ``*.webm`` (any case) under ``DIR``, subfolders
  included, hidden files and folders left out, in sorted order of their path under ``DIR``.
- Their action: ``--action``, else the name of the folder the video is in (``videos/squat/monday.mp4``).
- Report folders: ``REPORTS/<path under DIR without the extension>/`` (``REPORTS/squat/monday/``); two videos that
  differ only by extension keep it (``monday.mp4/``, ``monday.mov/``).
- A report folder is written under ``REPORTS/.staging/`` and renamed into place when complete, so it is whole or
  absent. ``summary.csv`` and ``summary.md`` are rebuilt from the report folders at the end.
- Resume: running the same command again (same options, recorded in ``REPORTS/batch.json``) redoes only the
  videos without a report folder; with other options every video is redone.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flexaqa._io import (
    atomic_write_text,
    check_input_dir,
    clear_staging,
    json_text,
    output_dir,
    publish_dir,
    staging_dir,
    write_json,
)
from flexaqa._tasks import map_tasks
from flexaqa._text import format_table
from flexaqa.coach._types import (
    EXIT_USAGE,
    BadVideoError,
    CoachError,
    MissingPieceError,
    NoPersonError,
    NoRepetitionError,
    PersonLostError,
    SeveralPeopleError,
)
from flexaqa.coach.pipeline import CoachOptions, coach_to_folder, write_failure_report
from flexaqa.coach.pose import set_native_logs
from flexaqa.errors import InputError, KGError, UsageError
from flexaqa.kg import load_kg

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
SUMMARY_COLUMNS = ("video", "action", "status", "exit_code", "reps", "score", "errors", "reason", "report")
BATCH_FILE = "batch.json"
EXIT_BY_PROBLEM = {
    cls.problem: cls.exit_code
    for cls in (
        BadVideoError,
        NoPersonError,
        SeveralPeopleError,
        PersonLostError,
        NoRepetitionError,
        MissingPieceError,
    )
}


@dataclass(frozen=True)
class VideoJob:
    """One video of the folder: where it is, its action (``None``: unknown) and its report folder's name."""

    video: str
    action: str | None
    name: str
    out: str  # the REPORTS folder (absolute: a Ray worker's working folder is not ours)
    options: CoachOptions
    run: str | None = None
    verbose: bool = False
    cwd: str = ""  # the driver's working folder: a relative ``video`` is relative to it (and kept as given)


@dataclass
class BatchResult:
    rows: list[dict]
    resumed: int  # videos whose report folder a previous run had finished
    failed: list[dict]

    @property
    def exit_code(self) -> int:
        """0 when every video has its report; else the first failed video's exit code."""
        return int(self.failed[0]["exit_code"]) if self.failed else 0


def find_videos(folder: str | Path) -> list[Path]:
    """The videos under ``folder`` (see the module), sorted by their path under it."""
    root = Path(folder)
    found = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file():
            found.append(rel)
    return [root / rel for rel in sorted(found, key=lambda r: r.as_posix())]


def report_names(videos: Sequence[Path], folder: str | Path) -> list[str]:
    """The report folder of each video: its path under ``folder`` without the extension, unless two share it."""
    rels = [v.relative_to(folder) for v in videos]
    stems = [r.with_suffix("").as_posix() for r in rels]
    taken = {"summary.csv", "summary.md", BATCH_FILE}  # REPORTS' own files
    return [
        s if stems.count(s) == 1 and s not in taken else r.as_posix()
        for s, r in zip(stems, rels, strict=True)
    ]


def _action_of(video: Path, folder: Path, action: str | None) -> str | None:
    if action is not None:
        return load_kg().action(action).slug
    parent = video.parent.relative_to(folder)
    if not parent.parts:
        return None
    try:
        return load_kg().action(parent.name).slug
    except KGError:
        return None


def coach_one(job: VideoJob) -> str:
    """Coach one video into ``REPORTS/<name>/`` (written under ``.staging/``, then renamed); returns the name.
    A video the coach refuses (no person, corrupt, ...) gets its partial report, as ``flexaqa coach`` writes."""
    with _working_folder(job.cwd):
        return _coach_one(job)


@contextlib.contextmanager
def _working_folder(cwd: str):
    """Run in the driver's working folder, so a relative video path means what it meant there (a Ray worker
    starts elsewhere); on a cluster that folder must be on the shared filesystem."""
    here = os.getcwd()
    if not cwd or cwd == here:
        yield
        return
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise InputError(
            f"{cwd}: the folder the command ran in is not on this node; run it from a folder every node mounts "
            "at the same path, or give DIR as an absolute path"
        ) from exc
    try:
        yield
    finally:
        os.chdir(here)


def _coach_one(job: VideoJob) -> str:
    set_native_logs(job.verbose)
    run = None
    if job.run:
        from flexaqa.coach.model import load_run_model  # needs torch (the train extra)

        run = load_run_model(job.run, job.action)
    stage = staging_dir(job.out, job.name)
    try:
        try:
            coach_to_folder(job.video, job.action, stage, job.options, run=run)
        except CoachError as exc:
            if write_failure_report(exc, stage, source=job.video, html=job.options.html) is None:
                raise
        publish_dir(stage, Path(job.out) / job.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # gone already when published
    return job.name


def _row(video: str, action: str | None, name: str, out: Path) -> dict:
    """The summary row of a finished video, read from its report folder."""
    rep = json.loads((out / name / "report.json").read_text(encoding="utf-8"))
    row = {
        "video": video,
        "action": (rep.get("action") or {}).get("slug", action),
        "report": f"{name}/",
    }
    if rep.get("status") == "failed":
        problem = rep["problems"][0] if rep.get("problems") else {"code": "error", "message": ""}
        return {
            **row,
            "status": "failed",
            "exit_code": EXIT_BY_PROBLEM.get(problem["code"], BadVideoError.exit_code),
            "reps": None,
            "score": None,
            "errors": None,
            "reason": f"{problem['code']}: {problem['message']}",
        }
    found: dict[str, int] = {}
    for r in rep["repetitions"]:
        for e in r["errors"]:
            found[e["slot"]] = found.get(e["slot"], 0) + 1
    s = rep["set"]
    return {
        **row,
        "status": "ok",
        "exit_code": 0,
        "reps": s["n_reps"],
        "score": round(s["score_mean"], 1) if s.get("score_mean") is not None else None,
        "errors": "; ".join(f"{k} x{n}" for k, n in sorted(found.items())),
        "reason": None,
    }


def _failed_row(video: str, action: str | None, exit_code: int, reason: str) -> dict:
    return {
        "video": video,
        "action": action,
        "status": "failed",
        "exit_code": exit_code,
        "reps": None,
        "score": None,
        "errors": None,
        "reason": reason,
        "report": None,
    }


def coach_folder(
    folder: str | Path,
    out: str | Path,
    *,
    action: str | None = None,
    options: CoachOptions | None = None,
    run: str | None = None,
    workers: int = 1,
    ray: str | None = None,
    progress: bool = True,
    verbose: bool = False,
) -> BatchResult:
    """Coach every video under ``folder`` into ``out`` (see the module); returns the summary rows (also written
    to ``out/summary.csv`` and ``out/summary.md``)."""
    options = options or CoachOptions()
    folder = check_input_dir(folder, "folder of videos")
    videos = find_videos(folder)
    if not videos:
        raise InputError(f"{folder}: no video ({', '.join(VIDEO_SUFFIXES)}) in this folder or its subfolders")
    if action is not None:
        load_kg().action(action)  # an unknown --action: exit 2 before any work
    names = report_names(videos, folder)
    actions = [_action_of(v, folder, action) for v in videos]
    if run:
        from flexaqa.coach.model import load_run_model

        for a in sorted({a for a in actions if a}):
            try:
                load_run_model(run, a)  # a bad run folder fails now, not once per video
            except CoachError as exc:
                raise UsageError(str(exc)) from exc
    settings = json.loads(
        json_text(
            {
                "input": str(folder.resolve()),
                "action": action,
                "run": run,
                "options": dataclasses.asdict(options),
            }
        )
    )
    with output_dir(out, mode="overwrite", inputs=[folder]) as dest:
        dest = dest.resolve()
        same = _read_settings(dest / BATCH_FILE) == settings  # then a rerun: keep the finished reports
        clear_staging(dest)  # what a killed run was writing
        write_json(dest / BATCH_FILE, settings)
        done = {n for n in names if same and (dest / n / "report.json").is_file()}
        jobs = [
            VideoJob(str(v), a, n, str(dest), options, run, verbose, os.getcwd())
            for v, a, n in zip(videos, actions, names, strict=True)
            if a is not None and n not in done
        ]
        results = {
            r.item.name: r
            for r in map_tasks(coach_one, jobs, workers=workers, ray=ray, desc="coach", progress=progress)
        }
        clear_staging(dest)  # empty unless a task failed midway
        rows = []
        for v, a, n in zip(videos, actions, names, strict=True):
            res = results.get(n)
            if a is None:
                reason = (
                    "no action: pass --action, or put the video in a folder named after its action (squat/)"
                )
                rows.append(_failed_row(str(v), None, EXIT_USAGE, reason))
            elif res is not None and not res.ok:
                rows.append(_failed_row(str(v), a, res.exit_code or EXIT_USAGE, res.error or "failed"))
            else:
                rows.append(_row(str(v), a, n, dest))
        rows = [{c: r[c] for c in SUMMARY_COLUMNS} for r in rows]
        write_summary(rows, dest)
    failed = [r for r in rows if r["status"] != "ok"]
    return BatchResult(rows, len(done), failed)


def _read_settings(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def summary_table(rows: Sequence[dict]) -> str:
    """The rows as a plain-text table (what ``flexaqa coach DIR/`` prints)."""
    cols = ("video", "action", "status", "reps", "score", "errors", "reason")
    return format_table(cols, [["" if r[c] is None else r[c] for c in cols] for r in rows], align="<<<>><<")


def summary_markdown(rows: Sequence[dict]) -> str:
    def cell(v) -> str:
        return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(SUMMARY_COLUMNS) + " |", "|" + "---|" * len(SUMMARY_COLUMNS)]
    lines += ["| " + " | ".join(cell(r[c]) for c in SUMMARY_COLUMNS) + " |" for r in rows]
    return "# Coach reports\n\n" + "\n".join(lines) + "\n"


def write_summary(rows: Sequence[dict], out: str | Path) -> None:
    """``summary.csv`` (every column of :data:`SUMMARY_COLUMNS`) and ``summary.md`` under ``out``."""
    out = Path(out)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUMMARY_COLUMNS)
    w.writerows([r[c] for c in SUMMARY_COLUMNS] for r in rows)
    atomic_write_text(out / "summary.csv", buf.getvalue())
    atomic_write_text(out / "summary.md", summary_markdown(rows))
