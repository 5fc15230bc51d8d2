"""``flexaqa coach VIDEO --action ACTION``, ``flexaqa coach DIR/ --out REPORTS/`` (every video of a folder:
:mod:`flexaqa.coach.batch`), ``flexaqa coach --pose PATH --pose-format F --action ACTION`` and
``flexaqa coach eval --labels LABELS.csv``. Light at import time: MediaPipe and PyAV load inside the handler.

Exit codes: 0 report written; 2 usage error or unknown action; 3 unreadable or empty video; 4 no person
found; 5 several people; 6 the person is out of view most of the time; 7 no complete repetition; 8 a missing
optional dependency (``pip install 'flexaqa[pose,video]'``); 9 no such video file; 73 the ``--out`` folder cannot
be written (checked before the video is read); 75 another process writes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flexaqa._args import (
    add_json,
    add_out,
    add_progress,
    add_ray,
    add_workers,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from flexaqa._io import json_text
from flexaqa.coach.summary import format_summary


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "coach",
        help="your own video -> pose -> repetitions -> errors, FKG score and feedback per repetition",
        description=(
            "Analyse a video of one FLEX action: MediaPipe pose, repetitions, rule-based error detection per "
            "repetition, FKG scores with their coverage, feedback. Writes report.json, report.html and pose.npz. "
            "Exit codes: 0 ok, 2 usage/unknown action, 3 bad video, 4 no person, 5 several people, "
            "6 person out of view, 7 no repetition, 8 missing dependency, 9 no such video file, "
            "73 --out cannot be written, 75 --out is being written by another process. Given a folder, it "
            "coaches every video in it into REPORTS/<name>/ plus summary.csv and summary.md, and exits with the "
            "first failed video's code (docs/coach.md)."
        ),
    )
    p.add_argument(
        "video",
        nargs="?",
        help="video file (mp4, mov, ...); a folder: coach every video in it and its subfolders into one report "
        "folder each under --out, plus summary.csv/summary.md; or `eval` to measure the coach on labelled clips",
    )
    p.add_argument(
        "--action",
        help="index (1-20), class id (A16), slug (squat) or name; for a folder of videos: of every video (default: "
        "the name of the folder each video is in, e.g. videos/squat/)",
    )
    p.add_argument("--pose", metavar="PATH", help="your own keypoints instead of a video (see --pose-format)")
    p.add_argument(
        "--pose-format",
        choices=("openpose", "coco", "mediapipe", "h36m", "flex"),
        help="format of --pose: openpose (folder of *_keypoints.json), coco (keypoint results JSON), mediapipe "
        "(pose.npz, .npy or .json of 33 landmarks), h36m ((T, 17, 3) .npy), flex (skeleton_points.csv, pose.npy)",
    )
    p.add_argument("--fps", type=positive_float, help="frame rate of --pose where the format carries no time")
    p.add_argument(
        "--labels", metavar="CSV", help="coach eval: labelled clips (file, action, start, end, errors, ...)"
    )
    add_out(p, default="coach-report", help="output folder (default: coach-report)")
    p.add_argument(
        "--view", default="auto", choices=("auto", "front", "side", "oblique", "3d"), help="camera view"
    )
    p.add_argument(
        "--run",
        help="a run folder of `flexaqa aqa train --model error_aware --variant pose` whose predictions are "
        "combined with the rules (needs the train extra)",
    )
    p.add_argument(
        "--camera",
        type=non_negative_int,
        metavar="INDEX",
        help="live webcam instead of a file (needs OpenCV)",
    )
    p.add_argument("--max-frames", type=positive_int, help="analyse at most this many frames")
    p.add_argument(
        "--max-width",
        type=positive_int,
        default=640,
        help="downscale frames to this width for pose (default 640)",
    )
    p.add_argument(
        "--pose-fps",
        type=non_negative_float,
        default=30.0,
        help="analyse at most this many frames per second, with their exact times (default 30: a 60 fps "
        "phone video is analysed at 30 fps; 0 analyses every frame)",
    )
    p.add_argument(
        "--stride", type=positive_int, default=1, help="analyse every n-th frame (applied before --pose-fps)"
    )
    p.add_argument("--no-html", action="store_true", help="skip the HTML report")
    p.add_argument(
        "--annotate", action="store_true", help="also write annotated.mp4: skeleton, rep counter, error flags"
    )
    add_workers(p, default=None, help="a folder of videos: coach this many videos at once in local processes")
    add_ray(p)
    add_json(p, help="print the JSON report on stdout (a folder of videos: the summary rows)")
    add_progress(p)
    p.add_argument(
        "--verbose", action="store_true", help="show the log lines of MediaPipe/TensorFlow Lite/OpenCV"
    )
    p.set_defaults(func=cmd_coach)


def _fail(exc, args) -> int:
    from flexaqa.coach.pipeline import write_failure_report

    print(f"flexaqa: error: {exc}", file=sys.stderr)
    source = str(args.video or args.pose or "")
    report = write_failure_report(exc, args.out, source=source, html=not args.no_html)
    if report is not None:
        print(f"wrote the partial report {Path(args.out) / 'report.json'}", file=sys.stderr)
        if args.json:
            print(json_text(report, indent=2, ensure_ascii=False))
    return int(exc.exit_code)


def cmd_coach(args) -> int:
    from flexaqa._io import check_output_dir, output_dir
    from flexaqa.coach._types import EXIT_USAGE, CoachError
    from flexaqa.coach.pose import set_native_logs
    from flexaqa.kg import load_kg

    if args.video == "eval":
        return cmd_eval(args)
    if args.video and Path(args.video).is_dir():
        return cmd_folder(args)
    if args.workers is not None or args.ray:
        print(
            "flexaqa: error: --workers and --ray coach a folder of videos: give DIR instead of VIDEO",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not args.action:
        print("flexaqa: error: coach needs --action ACTION", file=sys.stderr)
        return EXIT_USAGE
    load_kg().action(args.action)  # unknown action -> KGError -> exit 2 before any heavy import
    if args.run and args.camera is not None:
        print("flexaqa: error: --run works on a VIDEO file, not with --camera", file=sys.stderr)
        return EXIT_USAGE
    check_output_dir(args.out)  # a bad --out fails now, not after the whole video was analysed
    # every refusal before the folder's lock, so a refused command leaves an earlier report in --out as it was
    usage = _usage_error(args)
    if usage is not None:
        print(f"flexaqa: error: {usage}", file=sys.stderr)
        return EXIT_USAGE
    try:
        run = _run_model(args)  # check the run before decoding any video
    except CoachError as exc:
        print(f"flexaqa: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    set_native_logs(args.verbose)
    with output_dir(args.out, mode="overwrite"):
        return _coach(args, run)


def _usage_error(args) -> str | None:
    """What is wrong with the combination of VIDEO, --camera and --pose, or ``None``."""
    if args.pose or args.pose_format:
        if not (args.pose and args.pose_format):
            return "--pose PATH and --pose-format FORMAT go together"
        if args.video or args.camera is not None:
            return "give a VIDEO, --camera or --pose, not several"
    elif args.camera is None and not args.video:
        return "give a VIDEO file or --camera INDEX"
    return None


def _run_model(args):
    """The model of ``--run`` (``None`` without it); a missing train extra is returned, to be reported in the
    failure report, and a bad run folder raises :class:`~flexaqa.coach.model.RunModelError`."""
    from flexaqa.errors import MissingExtraError

    if not args.run:
        return None
    try:
        from flexaqa.coach.model import load_run_model  # needs torch (the train extra)

        return load_run_model(args.run, args.action)
    except MissingExtraError as exc:
        return exc


def _coach(args, run) -> int:
    from flexaqa.coach._types import EXIT_USAGE, CoachError, MissingPieceError
    from flexaqa.errors import MissingExtraError

    if isinstance(run, MissingExtraError):
        return _fail(MissingPieceError(str(run)), args)
    if args.pose or args.pose_format:
        return cmd_pose(args, EXIT_USAGE, run)
    if args.camera is not None:
        from flexaqa.coach.stream import run_camera

        try:
            run_camera(args.camera, args.action, view=args.view, max_frames=args.max_frames)
            return 0
        except MissingExtraError as exc:
            return _fail(MissingPieceError(str(exc)), args)
        except CoachError as exc:
            return _fail(exc, args)
    from flexaqa.coach.pipeline import coach_to_folder

    try:
        result, files = coach_to_folder(
            args.video,
            args.action,
            args.out,
            _options(args),
            run=run,
            progress=not (args.json or args.no_progress),
        )
    except CoachError as exc:
        return _fail(exc, args)
    r = result.report
    if args.json:
        print(json_text(r, indent=2, ensure_ascii=False))
        return 0
    print(format_summary(r))
    for kind, path in files.items():
        print(f"wrote {kind}: {path}")
    return 0


def cmd_folder(args) -> int:
    """``flexaqa coach DIR/ --out REPORTS/``: every video of the folder (see :mod:`flexaqa.coach.batch`)."""
    from flexaqa.coach._types import EXIT_USAGE
    from flexaqa.coach.batch import coach_folder, summary_table
    from flexaqa.coach.pose import set_native_logs

    if args.camera is not None or args.pose or args.pose_format:
        print("flexaqa: error: give a folder of videos, --camera or --pose, not several", file=sys.stderr)
        return EXIT_USAGE
    set_native_logs(args.verbose)
    res = coach_folder(
        args.video,
        args.out,
        action=args.action,
        options=_options(args),
        run=args.run,
        workers=args.workers or 1,
        ray=args.ray,
        progress=not (args.json or args.no_progress),
        verbose=args.verbose,
    )
    print(json_text(res.rows, indent=2, ensure_ascii=False) if args.json else summary_table(res.rows))
    if res.resumed:
        print(f"{res.resumed} video(s) kept the report of an earlier run of this command", file=sys.stderr)
    print(f"wrote {Path(args.out) / 'summary.csv'} and summary.md: {len(res.rows)} video(s)", file=sys.stderr)
    if res.failed:
        which = ", ".join(f"{r['video']} (exit {r['exit_code']})" for r in res.failed)
        print(
            f"flexaqa: error: {len(res.failed)} of {len(res.rows)} video(s) failed: {which}", file=sys.stderr
        )
    return res.exit_code


def _options(args):
    from flexaqa.coach.pipeline import CoachOptions

    return CoachOptions(
        view=args.view,
        max_frames=args.max_frames,
        stride=args.stride,
        pose_fps=args.pose_fps or None,
        max_width=args.max_width,
        html=not args.no_html,
        annotate=args.annotate,
    )


def cmd_pose(args, usage: int, run=None) -> int:
    """``flexaqa coach --pose PATH --pose-format FORMAT --action A``: the coach on your own keypoints (``run``:
    the checked model of ``--run``)."""
    from flexaqa.coach._types import CoachError
    from flexaqa.coach.keypoints import coach_keypoints
    from flexaqa.coach.pipeline import write_outputs
    from flexaqa.errors import MissingExtraError

    try:
        result = coach_keypoints(
            args.pose, args.pose_format, args.action, fps=args.fps, view=args.view, run=run
        )
        files = write_outputs(result, args.out, html=not args.no_html)
    except MissingExtraError as exc:
        from flexaqa.coach._types import MissingPieceError

        return _fail(MissingPieceError(str(exc)), args)
    except CoachError as exc:
        if exc.report is None and type(exc) is CoachError:  # a usage problem (e.g. --view 3d on 2D keypoints)
            print(f"flexaqa: error: {exc}", file=sys.stderr)
            return usage
        return _fail(exc, args)
    if args.json:
        print(json_text(result.report, indent=2, ensure_ascii=False))
        return 0
    print(format_summary(result.report))
    for kind, path in files.items():
        print(f"wrote {kind}: {path}")
    return 0


def cmd_eval(args) -> int:
    """``flexaqa coach eval --labels LABELS.csv``: repetition counts and per-error precision/recall/F1."""
    from flexaqa._io import atomic_write_text
    from flexaqa.coach.evaluate import evaluate_labels, format_markdown

    if not args.labels:
        print("flexaqa: error: coach eval needs --labels LABELS.csv", file=sys.stderr)
        return 2
    res = evaluate_labels(args.labels, pose_format=args.pose_format, fps=args.fps, view=args.view)
    out = Path(args.out)
    md = format_markdown(res)
    atomic_write_text(out / "eval.json", json_text(res, indent=2, ensure_ascii=False))
    atomic_write_text(out / "eval.md", md)
    print(json_text(res, indent=2, ensure_ascii=False) if args.json else md)
    print(f"wrote {out / 'eval.json'} and {out / 'eval.md'}", file=sys.stderr)
    return 0
