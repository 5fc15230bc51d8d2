"""The coach on your own keypoints (``flexaqa coach --pose PATH --pose-format FORMAT``): everything after pose
estimation (cleaning, view, repetitions, rules, score, feedback, report) on a keypoint file instead of a video.

2D formats (OpenPose, COCO) go through the single-camera path with the view read from the body's 2D
proportions; MediaPipe's world landmarks through the single-camera path with the view from the body's yaw (as
the video path); 3D formats (Human3.6M-17, FLEX-21) through the 3D path. A rule that reads a joint the format
lacks is *not assessable*, with the format's reason (``coach/formats/data/formats.yaml``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from flexaqa.coach._types import BadVideoError, CoachError
from flexaqa.coach.analyse import analyse_pose
from flexaqa.coach.formats import KeypointInput, PoseFormatError, read_keypoints
from flexaqa.coach.pipeline import CoachResult, _partial, check_pose
from flexaqa.coach.pose import clean_pose
from flexaqa.kg import load_kg
from flexaqa.pose_rules.calibration import geometry_limit
from flexaqa.pose_rules.rules import RuleSet, load_rules
from flexaqa.pose_rules.sequence import Segmenter


class BadKeypointsError(BadVideoError):
    """A keypoint file that does not read (exit 3, as an unreadable video)."""

    problem = "bad_keypoints"


def restrict_rules(rs: RuleSet, missing: dict[str, str], fmt: str) -> RuleSet:
    """``rs`` with every slot whose rules read a joint in ``missing`` moved to ``skipped``, the reason naming the
    joints and why the ``fmt`` format lacks them."""
    if not missing:
        return rs
    rules, skipped = dict(rs.rules), dict(rs.skipped)
    for sid, rr in rs.rules.items():
        lacking = sorted({j for r in rr for j in r.joints if j in missing})
        if lacking:
            why = "; ".join(dict.fromkeys(missing[j] for j in lacking))
            skipped[sid] = (
                f"not assessable from --pose-format {fmt}: it reads {', '.join(lacking)}, and {why}"
            )
            del rules[sid]
    return replace(rs, rules=rules, skipped=skipped)


def restrict_to_geometry(rs: RuleSet, view: str) -> RuleSet:
    """For 2D keypoints (no depth estimate at all): every slot with a rule the camera geometry keeps ``view``
    from seeing is not assessable, with the geometric reason (the video path may instead trust MediaPipe's depth
    where its calibration measured it)."""
    rules, skipped = dict(rs.rules), dict(rs.skipped)
    for sid, rr in rs.rules.items():
        why = [w for w in (geometry_limit(r, view, rs.action) for r in rr) if w]
        if why:
            skipped[sid] = "; ".join(dict.fromkeys(why))
            del rules[sid]
    return replace(rs, rules=rules, skipped=skipped)


def coach_keypoints(
    path: str | Path,
    fmt: str,
    action,
    *,
    fps: float | None = None,
    view: str = "auto",
    segmenter: Segmenter | None = None,
    run=None,
) -> CoachResult:
    """Run the coach on a keypoint file; ``view="auto"`` takes the view the reader found (``3d`` for a 3D
    format). Raises :class:`BadKeypointsError` (exit 3) for a file that does not read, and the video path's
    :class:`~flexaqa.coach._types.CoachError` subclasses for no person, several people, no repetition."""

    act = load_kg().action(action)
    source = str(path)
    t0 = time.perf_counter()
    try:
        ki = read_keypoints(path, fmt, fps=fps)
    except PoseFormatError as exc:
        raise BadKeypointsError(
            str(exc), report=_partial("bad_keypoints", str(exc), action=act, source=source)
        ) from exc
    use_view = ki.view if view == "auto" else view
    if ki.dims == 2 and use_view == "3d":
        raise CoachError(f"{source}: a 2D keypoint file is one camera's view; --view 3d needs a 3D pose")
    if ki.dims == 3 and ki.view == "3d" and use_view != "3d":
        raise CoachError(f"{source}: a {fmt} pose is 3D (no camera); use --view auto or 3d")
    pose = clean_pose(ki.pose, planar="never")
    warnings = check_pose(pose, act, source=source) + list(ki.notes)
    rs = restrict_rules(load_rules(act), ki.missing, fmt)
    if ki.dims == 2:
        rs = restrict_to_geometry(rs, use_view)
    t1 = time.perf_counter()
    extra = {"view": use_view, "view_detected": ki.view if ki.view != "camera" else use_view}
    if ki.info.get("image_size") and not ki.info.get("image_size_estimated"):
        extra.update(width=int(ki.info["image_size"][0]), height=int(ki.info["image_size"][1]))
    try:
        report = analyse_pose(pose, act, segmenter=segmenter, view=use_view, rules=rs, run=run)
    except CoachError as exc:
        if exc.report is not None:
            exc.report["warnings"] = warnings + exc.report.get("warnings", [])
            exc.report["input"].update(extra)
            exc.report["keypoints"] = keypoint_summary(ki)
        raise
    report["warnings"] = warnings + report["warnings"]
    report["input"].update(extra)
    report["keypoints"] = keypoint_summary(ki)
    if ki.dims == 2:
        report["warnings"].append(
            "2D keypoints from one camera: nothing along the camera's line of sight is measured; measures that "
            f"need it are not assessed from this {use_view} view"
        )
    timings = {"read_s": t1 - t0, "analyse_s": time.perf_counter() - t1}
    return CoachResult(report, pose, timings=timings)


def keypoint_summary(ki: KeypointInput) -> dict:
    """The report's ``keypoints`` section: the format, its layout, 2D or 3D, the lacking joints and notes."""
    info = {
        k: v
        for k, v in ki.info.items()
        if k in ("yaw", "facing", "scale_m_per_px", "image_size", "several_people")
    }
    return {
        "format": ki.fmt,
        "layout": ki.layout,
        "dims": ki.dims,
        "view_detected": ki.view,
        "missing_joints": dict(ki.missing),
        "notes": list(ki.notes),
        **info,
    }
