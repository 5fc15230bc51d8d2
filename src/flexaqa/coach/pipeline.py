"""The whole coach on a video file: decode -> pose -> clean -> checks -> repetitions -> errors -> report files.

Bad input never ends in a traceback: every problem raises a :class:`~flexaqa.coach.CoachError` subclass
whose ``code`` is the documented exit code and whose ``report`` says what could and could not be done.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexaqa import __version__
from flexaqa._io import atomic_save, atomic_write_text, json_text
from flexaqa.coach._types import (
    BadVideoError,
    CoachError,
    MissingPieceError,
    NoPersonError,
    PersonLostError,
    SeveralPeopleError,
)
from flexaqa.coach.analyse import SCHEMA_ID, analyse_pose, pose_summary
from flexaqa.coach.annotate import write_annotated_video
from flexaqa.coach.frames import iter_video
from flexaqa.coach.frames import prefetch as read_ahead
from flexaqa.coach.html import render_html
from flexaqa.coach.pose import PoseEstimator, clean_pose, detect_view, estimate_pose
from flexaqa.coach.schema import report_problems, validate_report
from flexaqa.errors import MissingExtraError
from flexaqa.kg import load_kg
from flexaqa.pose_rules.sequence import PoseSequence, Segmenter

MIN_PERSON_SHARE = 0.05  # below: "no person found"
MIN_TRACKED_SHARE = 0.5  # below: "the person left the frame for most of the video"
MAX_JUMPS = 2  # more body jumps than this: "several people"


@dataclass(frozen=True)
class CoachOptions:
    """How ``flexaqa coach`` analyses one video and what it writes (the options of :func:`coach_to_folder`)."""

    view: str = "auto"
    max_frames: int | None = None
    stride: int = 1
    pose_fps: float | None = 30.0  # None: every frame
    max_width: int | None = 640
    html: bool = True
    annotate: bool = False


@dataclass
class CoachResult:
    report: dict
    pose: PoseSequence
    files: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _partial(
    problem: str, message: str, *, action=None, pose: PoseSequence | None = None, source: str = ""
) -> dict:
    """A report for a run that stopped early: what was done, what was not."""
    rep = {
        "schema": SCHEMA_ID,
        "flexaqa_version": __version__,
        "status": "failed",
        "problems": [{"code": problem, "message": message}],
        "warnings": [],
        "input": {"source": source, "frames": len(pose) if pose is not None else 0},
    }
    if action is not None:
        rep["action"] = {
            "slug": action.slug,
            "name": action.name,
            "class_id": action.class_id,
            "total_weight": action.total_weight,
        }
    if pose is not None:
        rep["input"].update(fps=round(pose.fps, 3), duration=round(pose.duration, 3))
        rep["pose"] = pose_summary(pose)
    rep["done"] = ["read the video"] + (["estimated the pose"] if pose is not None else [])
    rep["not_done"] = ["repetitions", "error detection", "score", "feedback"]
    return rep


def check_pose(pose: PoseSequence, action, *, source: str = "") -> list[str]:
    """Raise for unusable pose (no person, several people, person lost); return warnings otherwise."""
    n = len(pose)
    if n == 0:
        raise BadVideoError(
            f"{source}: the video holds no frames",
            report=_partial("bad_video", "no frames", action=action, source=source),
        )
    share = float(pose.present.mean())
    if share < MIN_PERSON_SHARE:
        msg = f"{source}: no person found ({pose.present.sum()} of {n} frames); film the whole body, well lit"
        raise NoPersonError(msg, report=_partial("no_person", msg, action=action, pose=pose, source=source))
    jumps = int(pose.flag("jump").sum())
    if jumps > MAX_JUMPS:
        msg = (
            f"{source}: the tracked body jumped {jumps} times, as when several people are in view; "
            "film one person at a time"
        )
        raise SeveralPeopleError(
            msg, report=_partial("several_people", msg, action=action, pose=pose, source=source)
        )
    if share < MIN_TRACKED_SHARE:
        msg = f"{source}: the person is in view in only {100 * share:.0f}% of the frames; keep the whole body in the frame"
        raise PersonLostError(
            msg, report=_partial("person_lost", msg, action=action, pose=pose, source=source)
        )
    warnings = []
    if share < 0.98:
        warnings.append(
            f"the person is out of view in {100 * (1 - share):.0f}% of the frames; those frames are not assessed"
        )
    if jumps:
        warnings.append(f"the tracked body jumped {jumps} time(s); check that only one person is in view")
    return warnings


def video_pose(
    path: str | Path,
    *,
    max_width: int | None = 640,
    max_frames: int | None = None,
    stride: int = 1,
    pose_fps: float | None = 30.0,
    prefetch: int = 8,
    progress: bool = False,
    timings: dict | None = None,
    on_frame: Callable[[float], None] | None = None,
) -> PoseSequence:
    """The raw (uncleaned) MediaPipe pose of a video file, ``image_size`` the file's own.

    A background thread decodes and downscales up to ``prefetch`` frames ahead (0: in line) while MediaPipe
    works on the current one; frames are analysed at ``pose_fps`` at most (``None``: every frame). ``timings``
    receives ``pose_s`` (inside MediaPipe), ``decode_wait_s`` (MediaPipe waiting for frames) and
    ``decode_and_pose_s``. ``on_frame(t)`` is called with each analysed frame's time (progress in a web app).
    """
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    reader: dict = {}
    # iter_video opens the file now: a missing or unreadable video fails before MediaPipe loads
    frames = read_ahead(
        iter_video(path, max_width=max_width, max_frames=max_frames, stride=stride, pose_fps=pose_fps),
        prefetch,
        stats=reader,
    )
    sizes: list = []

    def pairs():
        for img, t, size in frames:
            if not sizes:
                sizes.append(size)
            if on_frame is not None:
                on_frame(t)
            yield img, t

    with PoseEstimator() as est, contextlib.closing(frames):
        raw = estimate_pose(pairs(), estimator=est, source=str(path), progress=progress, timings=timings)
    timings["decode_and_pose_s"] = time.perf_counter() - t0
    timings["decode_wait_s"] = reader.get("wait_s", 0.0)
    if sizes:
        raw.image_size = sizes[0]
    return raw


def coach_video(
    path: str | Path,
    action,
    *,
    view: str = "auto",
    segmenter: Segmenter | None = None,
    max_width: int | None = 640,
    max_frames: int | None = None,
    stride: int = 1,
    pose_fps: float | None = 30.0,
    prefetch: int = 8,
    progress: bool = False,
    run=None,
    on_frame: Callable[[float], None] | None = None,
) -> CoachResult:
    """Run the coach on a video file and return the report (not yet written anywhere); ``run`` (a run folder
    or a loaded :class:`~flexaqa.coach.model.RunModel`) combines a trained error-aware pose model with the
    rules.

    Frames are analysed at ``pose_fps`` at most (``None``: every frame) and decoded ``prefetch`` frames ahead in a
    background thread while MediaPipe works (0: decode in line). ``timings`` of the result: ``pose_s`` (inside
    MediaPipe), ``decode_wait_s`` (pose waiting for frames), ``decode_and_pose_s``, ``analyse_s``."""
    act = load_kg().action(action)  # unknown action: KGError before any decoding
    source = str(path)
    timings: dict[str, float] = {}
    raw = video_pose(
        path,
        max_width=max_width,
        max_frames=max_frames,
        stride=stride,
        pose_fps=pose_fps,
        prefetch=prefetch,
        progress=progress,
        timings=timings,
        on_frame=on_frame,
    )
    if len(raw) == 0:
        msg = f"{source}: the video holds no frames"
        raise BadVideoError(msg, report=_partial("bad_video", msg, action=act, source=source))
    pose = clean_pose(raw)
    warnings = check_pose(pose, act, source=source)
    detected = detect_view(pose)
    use_view = detected if view == "auto" else view
    t1 = time.perf_counter()
    try:
        report = analyse_pose(pose, act, segmenter=segmenter, view=use_view, run=run)
    except CoachError as exc:
        if exc.report is not None:
            exc.report["warnings"] = warnings + exc.report.get("warnings", [])
            exc.report["input"].update(
                view=use_view, view_detected=detected, width=raw.image_size[0], height=raw.image_size[1]
            )
        raise
    timings["analyse_s"] = time.perf_counter() - t1
    report["warnings"] = warnings + report["warnings"]
    report["input"].update(
        view=use_view, view_detected=detected, width=raw.image_size[0], height=raw.image_size[1]
    )
    if use_view != "3d":
        report["warnings"].append(
            "pose from a single camera: depth (forward/backward) is estimated, so side-view measures from a "
            "front video and width measures from a side video are not assessed"
        )
    return CoachResult(report, pose, timings=timings)


def write_outputs(
    result: CoachResult,
    out_dir: str | Path,
    *,
    video: str | Path | None = None,
    html: bool = True,
    annotate: bool = False,
) -> dict[str, str]:
    """Write ``report.json`` (validated), ``report.html``, ``pose.npz`` and, with ``annotate``, an annotated
    ``annotated.mp4`` under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    validate_report(result.report)
    files = {
        "json": str(
            atomic_write_text(out / "report.json", json_text(result.report, indent=2, ensure_ascii=False))
        )
    }
    p = result.pose
    files["pose"] = str(
        atomic_save(
            out / "pose.npz",
            lambda tmp: np.savez_compressed(
                tmp, t=p.t, joints=p.joints, visibility=p.visibility, present=p.present
            ),
            suffix=".npz",
        )
    )
    if html:
        files["html"] = str(
            atomic_write_text(out / "report.html", render_html(result.report, result.pose, video=video))
        )
    if annotate and video is not None:
        files["video"] = str(write_annotated_video(video, result.pose, result.report, out / "annotated.mp4"))
    result.files.update(files)
    return files


def write_failure_report(
    exc: CoachError, out_dir: str | Path, *, source: str = "", html: bool = True
) -> dict | None:
    """Write the partial report of a run that stopped early (``report.json``, ``report.html``): what was done and
    what was not. Returns it, or ``None`` (nothing written) when it would not be a valid report."""
    report = exc.report
    if report is None:
        report = _partial(exc.problem, str(exc), source=source)
        report["done"], report["not_done"] = (
            [],
            ["pose", "repetitions", "error detection", "score", "feedback"],
        )
    if report_problems(report):
        return None
    out = Path(out_dir)
    atomic_write_text(out / "report.json", json_text(report, indent=2, ensure_ascii=False))
    if html:
        atomic_write_text(out / "report.html", render_html(report))
    return report


def coach_to_folder(
    video: str | Path,
    action,
    out_dir: str | Path,
    options: CoachOptions | None = None,
    *,
    run=None,
    progress: bool = False,
) -> tuple[CoachResult, dict[str, str]]:
    """``flexaqa coach VIDEO --out DIR``: :func:`coach_video` then :func:`write_outputs`; returns the result and
    the files written. A :class:`CoachError` (a missing extra becomes :class:`MissingPieceError`) is raised with
    nothing written: :func:`write_failure_report` writes its partial report."""
    options = options or CoachOptions()
    try:
        result = coach_video(
            video,
            action,
            view=options.view,
            max_frames=options.max_frames,
            stride=options.stride,
            pose_fps=options.pose_fps,
            max_width=options.max_width,
            progress=progress,
            run=run,
        )
        files = write_outputs(result, out_dir, video=video, html=options.html, annotate=options.annotate)
    except MissingExtraError as exc:
        raise MissingPieceError(str(exc)) from exc
    return result, files
