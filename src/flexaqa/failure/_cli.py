"""``flexaqa failure train|eval``: early failure prediction across a trial's repetitions. numpy only."""

from __future__ import annotations

import argparse
from pathlib import Path

from flexaqa._args import (
    add_data,
    add_out,
    add_progress,
    add_protocol,
    add_split,
    non_negative_float,
    non_negative_int,
    positive_int,
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser(
        "failure",
        help="predict later repetitions' scores and failures from the first k (early failure prediction)",
        description="From repetitions 1..k of a trial predict the scores of k+1..R and whether a later "
        "repetition fails (score drop or heavy error), compared with 'the last repetition persists'. "
        "See docs/failure.md.",
    )
    fsub = f.add_subparsers(dest="failure_command", metavar="COMMAND", required=True)

    p = fsub.add_parser("train", help="fit on the train (+val) trials and report on the test trials")
    _common(p)
    add_out(p, required=True, help="run folder: failure.json (the model), metrics.json/.md, plot")
    p.add_argument(
        "--drop",
        type=non_negative_float,
        default=15.0,
        help="failure: score this many points below the reference",
    )
    p.add_argument("--no-drop", action="store_true", help="do not use the score-drop test")
    p.add_argument(
        "--error-weight", type=positive_int, default=9, help="failure: an error slot at least this heavy"
    )
    p.add_argument("--no-error-weight", action="store_true", help="do not use the heavy-error test")
    p.add_argument(
        "--reference",
        default="observed_mean",
        choices=("first", "observed_mean", "observed_max"),
        help="score the drop is measured from: first, observed_mean, observed_max",
    )
    p.add_argument(
        "--alpha", type=non_negative_float, default=1.0, help="L2 penalty of the regressions (>= 0)"
    )
    p.add_argument("--exclude", default="", help="comma-separated feature names to leave out (ablation)")
    p.set_defaults(func=cmd_train)

    p = fsub.add_parser("eval", help="metrics of a trained model on a split, as a function of k")
    _common(p)
    p.add_argument("--model", required=True, help="failure.json written by `flexaqa failure train`")
    add_out(p, required=True, help="folder for metrics.json, metrics.md and by_k.png")
    p.set_defaults(func=cmd_eval)


def _common(p: argparse.ArgumentParser) -> None:
    add_data(p, help="dataset folder (native layout: trials of repetitions)")
    add_protocol(p, default="cross_subject")
    p.add_argument(
        "--split-seed", type=non_negative_int, default=0, help="seed of a generated split (default 0)"
    )
    add_split(p, default="test", help="split to report on (default: test)")
    add_progress(p)


def _trials(args, names):
    from flexaqa.data import open_dataset
    from flexaqa.data.splits import require_samples
    from flexaqa.failure.features import trial_reps_from_source
    from flexaqa.failure.labels import FailureError

    source = open_dataset(args.data)
    splits = source.splits(args.protocol, seed=args.split_seed)
    bad = [n for n in names if n not in splits]
    if bad:
        raise FailureError(f"split {bad[0]!r} does not exist; {args.data} has {', '.join(splits)}")
    require_samples(source, splits, [n for n in names if n != "val"], args.protocol)
    ids = [i for n in names for i in splits[n]]
    return trial_reps_from_source(source, ids=ids, progress=not args.no_progress)


def format_report(report: dict) -> str:
    from flexaqa._text import format_table

    rows = []
    for k, b in [("all", report["overall"]), *report["by_k"].items()]:
        m, base = b["model"], b["last_persists"]
        rows.append(
            (
                k,
                b["n"],
                f"{b['positive_rate']:.2f}",
                f"{m['mae']:.2f}",
                f"{base['mae']:.2f}",
                f"{m['auroc']:.3f}",
                f"{base['auroc']:.3f}",
                f"{m['f1']:.3f}",
                f"{base['f1']:.3f}",
            )
        )
    head = ("k", "rows", "fail rate", "MAE", "MAE last", "AUROC", "AUROC last", "F1", "F1 last")
    return format_table(head, rows, align="<" + ">" * 8) + "\n"


def _report(model, trials, out) -> None:

    from flexaqa._io import atomic_write_text, write_json
    from flexaqa.failure.model import evaluate_failure, plot_by_k

    report = evaluate_failure(model, trials)
    report["n_trials"] = len(trials)
    out = Path(out)
    write_json(out / "metrics.json", report)
    atomic_write_text(out / "metrics.md", format_report(report))
    plot_by_k(report, out / "by_k.png")
    print(format_report(report))


def cmd_train(args) -> int:
    from flexaqa.failure.labels import FailureRule
    from flexaqa.failure.model import FailurePredictor

    rule = FailureRule(
        drop=None if args.no_drop else args.drop,
        error_weight=None if args.no_error_weight else args.error_weight,
        reference=args.reference,
    )
    from flexaqa._io import check_output_dir, output_dir

    check_output_dir(args.out)
    train = _trials(args, ["train", "val"])
    test = _trials(args, [args.split])
    exclude = tuple(n.strip() for n in args.exclude.split(",") if n.strip())
    model = FailurePredictor(rule=rule, alpha=args.alpha, exclude=exclude).fit(train)
    with output_dir(args.out, mode="overwrite"):
        model.save(Path(args.out) / "failure.json")
        print(f"trained on {len(train)} trials; model {args.out}/failure.json")
        _report(model, test, args.out)
    return 0


def cmd_eval(args) -> int:
    from flexaqa._io import check_input_file, check_output_dir, output_dir
    from flexaqa.failure.model import FailurePredictor

    check_output_dir(args.out)

    from flexaqa._io import require_complete

    require_complete(Path(check_input_file(args.model, "model file (failure.json)")).parent, "run folder")
    model = FailurePredictor.load(args.model)
    trials = _trials(args, [args.split])
    with output_dir(args.out, mode="overwrite"):
        _report(model, trials, args.out)
    return 0
