"""``flexaqa synth``: generate a synthetic FLEX dataset. Heavy imports stay inside the handler."""

from __future__ import annotations

import argparse

from flexaqa._args import (
    VIEWS,
    add_progress,
    add_ray,
    add_seed,
    add_size,
    add_workers,
    int_range,
    name_list,
    positive_float,
    positive_int,
)


def add_commands(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="generate a synthetic FLEX dataset (simulated subjects, pose, sEMG, physiology, video, labels)",
        description="Simulate FLEX: the 38-subject roster, 20 actions, 10 continuous repetitions per trial, "
        "all 63 error types with measurable signatures, three annotators + majority vote, FKG scores, sEMG at "
        "2000 Hz, heart rate and breath, and five rendered camera views. The output says it is synthetic.",
    )
    p.add_argument("--out", help="output folder (required unless --list-errors)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--subjects",
        type=int_range(1, 38),
        help="number of subjects, drawn evenly across skill levels (1-38)",
    )
    g.add_argument("--scale", choices=("mini", "full"), default="mini", help="preset (default: mini)")
    p.add_argument(
        "--actions",
        type=name_list(what="action"),
        help="comma-separated distinct actions (index, class id, slug); default all 20",
    )
    p.add_argument("--reps", type=positive_int, default=10, help="repetitions per trial (default 10)")
    p.add_argument(
        "--views", type=name_list(VIEWS, what="view"), help="comma-separated views, e.g. View-1,View-2,View-5"
    )
    p.add_argument("--video", action=argparse.BooleanOptionalAction, default=True, help="render mp4 video")
    add_size(p, help="frame size WxH (even numbers; default 128x96 mini, 320x180 full)")
    p.add_argument("--fps", type=positive_float, help="cinema view frame rate; the phone view runs at half")
    p.add_argument(
        "--layout",
        choices=("native", "release"),
        default="native",
        help="native (dataset.json, trials/) or the official release layout (default native)",
    )
    add_seed(p)
    add_workers(
        p, default=1, help="parallel worker processes (default 1; with --ray auto: the local Ray's CPUs)"
    )
    add_ray(p)
    add_progress(p, quiet_alias=True)
    p.add_argument(
        "--force", action="store_true", help="replace the contents of a non-empty or incomplete --out folder"
    )
    p.add_argument(
        "--list-errors", action="store_true", help="print each error type's simulated signature and exit"
    )
    p.set_defaults(func=cmd_synth)


def cmd_synth(args) -> int:
    from flexaqa.synth.generate import SynthError, config_for_scale, generate

    if args.list_errors:
        from flexaqa._text import format_table
        from flexaqa.synth.errors import error_table

        rows = [
            (code, modality, signature, measure) for code, _, modality, signature, measure in error_table()
        ]
        print(format_table(("code", "modality", "simulated signature", "measure"), rows))
        return 0
    if not args.out:
        raise SynthError("--out is required: the folder to write the synthetic dataset to")

    scale = "full" if args.scale == "full" else "mini"
    cfg = config_for_scale(
        scale,
        args.out,
        subjects=args.subjects,
        actions=args.actions or (),
        reps=args.reps,
        views=args.views,
        video=args.video,
        size=args.size,
        fps=args.fps,
        layout=args.layout,
        seed=args.seed,
        workers=args.workers,
        ray=args.ray,
    )
    s = generate(cfg, progress=not args.no_progress, force=args.force)
    print(
        f"wrote {s['n_samples']} samples ({s['n_trials']} trials, {s['n_dropped']} repetitions dropped) to {args.out}"
    )
    print(
        f"score {s['score_mean']:.1f} ± {s['score_std']:.1f} [{s['score_min']:.0f}, {s['score_max']:.0f}]; "
        f"repetition {s['duration_frames_mean']:.0f} frames at 120 fps; "
        f"annotator agreement (Jaccard) {s['annotator_pairwise_jaccard']:.2f}; "
        f"{s['frames_rendered']} frames rendered; {s['bytes_written'] / 1e6:.1f} MB in {s['elapsed_s']:.1f} s "
        f"({s['engine']})"
    )
    print("SYNTHETIC data: see SYNTHETIC.md in the output folder.")
    return 0
