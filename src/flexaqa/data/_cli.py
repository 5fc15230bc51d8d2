"""``flexaqa data ...``: inspect, validate, split, describe (Croissant) and summarise datasets.
Light imports only; each handler imports what it needs."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from flexaqa._args import (
    VIEWS,
    add_deprecated,
    add_json,
    add_out,
    add_progress,
    add_protocol,
    add_seed,
    add_short_side,
    name_list,
    non_negative_float,
    positive_int,
)
from flexaqa._io import json_text

_DIR_HELP = "dataset folder (native or official release layout)"


def add_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="FLEX datasets: info, validate, splits, croissant, stats, tiny")
    dsub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    p = dsub.add_parser("info", help="layout, sample counts per action/skill, views and missing modalities")
    p.add_argument("dir", help=_DIR_HELP)
    add_json(p)
    p.set_defaults(func=cmd_info)

    p = dsub.add_parser("validate", help="check every file of a dataset; one line per problem, exit 1 if any")
    p.add_argument("dir", help=_DIR_HELP)
    p.add_argument(
        "--tol",
        type=non_negative_float,
        default=0.1,
        help="tolerance in seconds between video, pose and sEMG durations",
    )
    p.add_argument(
        "--deep", action="store_true", help="decode every video frame and JPEG (slow) instead of probing"
    )
    add_progress(p, progress_alias=True)
    p.set_defaults(func=cmd_validate)

    p = dsub.add_parser("splits", help="generate (seeded) and save split files, or show the official Split_4")
    p.add_argument("dir", help=_DIR_HELP)
    add_protocol(p, default="all", extra=("all",))
    add_seed(
        p,
        default=None,
        help="seed of generated splits (default 0); a saved split made with another "
        "seed is refused unless --force regenerates it",
    )
    p.add_argument("--force", action="store_true", help="overwrite saved split files")
    p.set_defaults(func=cmd_splits)

    p = dsub.add_parser("croissant", help="write croissant.json (Croissant 1.0 JSON-LD) for a native dataset")
    p.add_argument("dir", help="native dataset folder")
    add_out(p, help="output file inside DIR (default DIR/croissant.json)")
    p.add_argument("--no-validate", action="store_true", help="skip validation with mlcroissant")
    p.set_defaults(func=cmd_croissant)

    p = dsub.add_parser("stats", help="paper Figure 7/8 analyses as PNG plots and a JSON summary")
    p.add_argument("dir", help=_DIR_HELP)
    add_out(p, required=True, help="output folder")
    p.set_defaults(func=cmd_stats)

    p = dsub.add_parser("export-release", help="write a native dataset in the official release layout")
    p.add_argument("dir", help="native dataset folder")
    p.add_argument("out", help="output folder")
    p.add_argument(
        "--views",
        type=name_list(VIEWS, what="view"),
        default="View-1,View-2",
        help="comma-separated views the dataset has (default View-1,View-2)",
    )
    add_short_side(p, help="resize frames to this short side (default: keep)")
    add_protocol(
        p,
        default="random",
        help="split protocol written as Split_4: random, cross_subject, cross_skill (default random)",
    )
    add_seed(p, help="seed of the generated split (default 0)")
    p.add_argument("--force", action="store_true", help="replace the contents of a non-empty OUT folder")
    p.set_defaults(func=cmd_export_release)

    p = dsub.add_parser("tiny", help="write a tiny synthetic dataset (for trying commands and bug reports)")
    p.add_argument("out", help="output folder")
    p.add_argument(
        "--layout",
        choices=("native", "release"),
        default="native",
        help="native (dataset.json, trials/) or the official release layout (default native)",
    )
    p.add_argument(
        "--subject-ids",
        type=name_list(what="subject"),
        default="P01,P02,A01,A02,N01,N02,N03,N04",
        help="comma-separated distinct subject ids",
    )
    add_deprecated(p, "--subjects", new="--subject-ids", dest="subject_ids", type=name_list(what="subject"))
    p.add_argument(
        "--actions",
        type=name_list(what="action"),
        default="squat,dumbbell-bent-over-row",
        help="comma-separated distinct actions",
    )
    p.add_argument("--reps", type=positive_int, default=3, help="repetitions per trial (>= 1)")
    add_seed(p)
    p.add_argument("--force", action="store_true", help="replace the contents of a non-empty OUT folder")
    p.set_defaults(func=cmd_tiny)


def cmd_info(args) -> int:
    from flexaqa._text import format_table
    from flexaqa.data.base import open_dataset

    ds = open_dataset(args.dir)
    per_action = Counter(r.action for r in ds.records)
    skills = Counter(r.skill or "unknown" for r in ds.records)
    missing = ds.missing_report() if hasattr(ds, "missing_report") else {}
    summary = {
        "root": str(ds.root),
        "layout": ds.layout,
        "samples": len(ds),
        "subjects": len({r.subject for r in ds.records if r.subject}),
        "views": list(ds.view_names),
        "per_action": dict(sorted(per_action.items())),
        "per_skill": dict(skills),
        "missing": {k: len(v) for k, v in missing.items()},
    }
    if args.json:
        print(json_text(summary, indent=2))
        return 0
    print(
        f"{summary['root']}: {ds.layout} layout, {len(ds)} samples, {summary['subjects']} subjects, views {', '.join(ds.view_names)}"
    )
    print(format_table(("action", "samples"), sorted(per_action.items()), align="<>"))
    print("skill levels: " + ", ".join(f"{k} {v}" for k, v in skills.items()))
    for k, v in missing.items():
        print(f"missing {k}: {len(v)} sample(s), e.g. {', '.join(v[:3])}")
    return 0


def cmd_validate(args) -> int:
    from flexaqa.data.validate import validate_dataset

    problems = validate_dataset(
        args.dir, duration_tol=args.tol, deep=args.deep, progress=not args.no_progress
    )
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in {args.dir}", file=sys.stderr)
        return 1
    print(f"{args.dir}: OK")
    return 0


def cmd_splits(args) -> int:
    from flexaqa._io import output_dir
    from flexaqa.data.base import open_dataset

    ds = open_dataset(args.dir)
    with output_dir(ds.root, mode="update"):  # split files are written into the dataset
        return _splits(ds, args)


def _splits(ds, args) -> int:
    from flexaqa.data.splits import PROTOCOLS, generate_splits, save_splits, saved_seed
    from flexaqa.errors import UsageError

    seed = 0 if args.seed is None else args.seed
    if args.protocol != "all":
        protocols = [args.protocol]
    elif ds.layout == "release":  # the release names no subjects: only random, plus Split_4 when present
        protocols = ["random"] + (["official"] if (ds.root / "Split_4").is_dir() else [])
    else:
        protocols = list(PROTOCOLS)
    for protocol in protocols:
        if protocol == "official":
            sp = ds.splits("official")
        elif args.force:
            sp = generate_splits(ds.records, protocol, seed=seed)
            save_splits(ds.root, protocol, sp, seed=seed)
        else:
            stored = saved_seed(ds.root, protocol)
            if args.seed is not None and stored is not None and stored != args.seed:
                raise UsageError(
                    f"{ds.root}: the saved {protocol} split was made with seed {stored}; --seed {args.seed} "
                    "regenerates it only with --force"
                )
            sp = ds.splits(protocol, seed=seed)
        print(f"{protocol}: " + ", ".join(f"{k} {len(v)}" for k, v in sp.items()))
    return 0


def cmd_croissant(args) -> int:
    from flexaqa._io import check_input_dir, check_output_file, output_dir, require_complete
    from flexaqa.data.croissant import validate_croissant, write_croissant

    require_complete(check_input_dir(args.dir, "dataset folder"), "dataset")
    if args.out:
        check_output_file(args.out)
    with output_dir(args.dir, mode="update"):
        path = write_croissant(args.dir, args.out)
    print(f"wrote {path}")
    if not args.no_validate:
        problems = validate_croissant(path)
        for p in problems:
            print(p)
        if problems:
            return 1
        print("mlcroissant: valid")
    return 0


def cmd_stats(args) -> int:
    from flexaqa._io import output_dir
    from flexaqa.data.base import open_dataset
    from flexaqa.data.stats import write_stats

    open_dataset(args.dir)  # a missing, incomplete or foreign folder fails before the output is touched
    with output_dir(args.out, mode="overwrite"):
        paths = write_stats(args.dir, args.out)
    for p in paths:
        print(f"wrote {p}")
    return 0


def cmd_export_release(args) -> int:
    from flexaqa.data.base import open_dataset
    from flexaqa.data.release import export_release
    from flexaqa.errors import UsageError

    ds = open_dataset(args.dir)
    missing = [v for v in args.views if v not in ds.view_names]
    if missing:
        raise UsageError(
            f"--views {missing[0]}: {args.dir} has no such view (it has {', '.join(ds.view_names)})"
        )
    if args.protocol == "official":
        raise UsageError(
            "--protocol official: a native dataset has no official split; use random, "
            "cross_subject or cross_skill"
        )
    export_release(
        ds,
        args.out,
        views=list(args.views),
        size=args.short_side,
        protocol=args.protocol,
        seed=args.seed,
        force=args.force,
    )
    print(f"wrote {len(open_dataset(args.out))} samples in the release layout to {args.out}")
    return 0


def cmd_tiny(args) -> int:
    from flexaqa.data.synthetic import make_tiny_dataset

    t = make_tiny_dataset(
        args.out,
        layout=args.layout,
        subjects=list(args.subject_ids),
        actions=list(args.actions),
        reps=args.reps,
        seed=args.seed,
        force=args.force,
    )
    from flexaqa.data.base import open_dataset

    print(f"wrote {len(open_dataset(t.root))} samples ({args.layout} layout) to {t.root}")
    return 0
