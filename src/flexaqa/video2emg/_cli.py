"""``flexaqa video2emg train|eval``. Light at import: torch and the data layer load inside the handlers."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from flexaqa._args import (
    VIEWS,
    add_data,
    add_deprecated,
    add_device,
    add_out,
    add_progress,
    add_protocol,
    add_seed,
    add_size,
    add_split,
    non_negative_int,
    positive_float,
    positive_int,
)
from flexaqa._io import json_text
from flexaqa.data.splits import hold_out


def add_commands(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser(
        "video2emg",
        help="estimate per-frame sEMG envelopes from video or pose (Video2EMG / Pose2EMG)",
        description="Train and evaluate Video2EMG (per-frame ResNet -> temporal conv -> LSTM) and Pose2EMG "
        "(the same head on FLEX-21 pose features). Metrics: MAE, RMSE, Pearson per channel, muscle and overall, "
        "against the per-action mean-envelope baseline. See docs/video2emg.md.",
    )
    vsub = v.add_subparsers(dest="v2e_command", metavar="COMMAND", required=True)

    p = vsub.add_parser("train", help="train on the train split, pick the epoch on val, report on test")
    _data_args(p)
    p.add_argument("--input", choices=("pose", "video"), default="pose", help="model input (default: pose)")
    add_out(p, required=True, help="run folder: best.pt, history.json, metrics.json, plot")
    p.add_argument("--model", help="registered model (default: pose2emg or video2emg)")
    p.add_argument("--backbone", help="video: resnet_small (default, from scratch), resnet18 or resnet50")
    p.add_argument(
        "--backbone-weights", help="video: an ImageNet state dict for the backbone (e.g. ResNet-50)"
    )
    p.add_argument("--freeze-backbone", action="store_true", help="video: keep the backbone fixed")
    p.add_argument("--hidden", type=positive_int, help="width of the temporal head (default 128)")
    p.add_argument("--epochs", type=positive_int, default=30, help="training epochs (default 30)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="examples per batch (default 8)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate (default 0.001)")
    p.add_argument(
        "--stride",
        type=positive_int,
        help="keep every N-th frame (default 4 for pose at 120 Hz, 1 for video)",
    )
    p.add_argument(
        "--window", type=positive_float, default=0.1, help="sEMG averaging window around a frame, s (> 0)"
    )
    add_size(p, default=(64, 64), help="video frame size WxH, as in `flexaqa synth`")
    p.add_argument(
        "--view",
        choices=VIEWS,
        metavar="VIEW",
        help="video view, View-1 ... View-5 (default: the dataset's first)",
    )
    add_seed(p, help="seed of the model initialisation and the batch order (default 0)")
    add_device(p, default="cpu")
    p.set_defaults(func=cmd_train)

    p = vsub.add_parser("eval", help="metrics and plot of a trained checkpoint on a split")
    _data_args(p)
    p.add_argument("--checkpoint", required=True, help="best.pt written by `flexaqa video2emg train`")
    add_out(p, required=True, help="folder for metrics.json, metrics.md and envelopes.png")
    p.set_defaults(func=cmd_eval)


def _data_args(p: argparse.ArgumentParser) -> None:
    add_data(p)
    add_protocol(p, default="cross_subject")
    p.add_argument(
        "--split-seed", type=non_negative_int, default=0, help="seed of a generated split (default 0)"
    )
    add_split(p, default="test", help="split to report on (default: test)")
    p.add_argument("--limit", type=positive_int, help="use at most N samples per split (quick runs)")
    p.add_argument(
        "--plot-samples",
        type=non_negative_int,
        default=4,
        metavar="N",
        help="samples in the envelope plot envelopes.png (0: no plot; default 4)",
    )
    add_deprecated(p, "--plot", new="--plot-samples", dest="plot_samples", type=non_negative_int, metavar="N")
    add_progress(p)


def _splits(args):
    from flexaqa.data import open_dataset
    from flexaqa.data.splits import require_samples

    source = open_dataset(args.data)
    splits = source.splits(args.protocol, seed=args.split_seed)
    require_samples(source, splits, ["train", args.split], args.protocol)
    if not splits.get("val"):  # carve a validation set from train (whole subjects when we know them)
        train, val = hold_out(
            splits["train"],
            1 / 8,
            np.random.default_rng(args.split_seed),
            group_of=lambda i: source.record(i).subject or i,
        )
        splits = dict(splits, train=train, val=val)
    if args.limit:
        splits = {k: v[: args.limit] for k, v in splits.items()}
    if not splits.get(args.split):
        from flexaqa.video2emg.targets import Video2EMGError

        raise Video2EMGError(
            f"{args.data}: split {args.split!r} is empty or unknown (splits: {', '.join(splits)})"
        )
    return source, splits


def _report(run, examples, out, n_plot: int) -> dict:

    from flexaqa._io import atomic_write_text
    from flexaqa.video2emg.evaluate import plot_envelopes
    from flexaqa.video2emg.train import evaluate_run

    report, pred, env = evaluate_run(run, examples)
    report["n_samples"] = len(examples)
    report["input"] = run.config.input
    out = Path(out)
    atomic_write_text(out / "metrics.json", json_text(report, indent=1))
    atomic_write_text(out / "metrics.md", format_report(report))
    if n_plot > 0:
        plot_envelopes(examples, pred, out / "envelopes.png", baseline=env, n=n_plot)
    print(format_report(report))
    return report


def format_report(report: dict) -> str:
    """Markdown summary: overall rows for the model and baselines, then per-muscle rows of the model."""
    from flexaqa._text import format_table

    rows = [
        (name, f"{r['overall']['mae']:.4f}", f"{r['overall']['rmse']:.4f}", f"{r['overall']['pearson']:.3f}")
        for name, r in ((k, report[k]) for k in ("model", "baseline_envelope", "baseline_constant"))
    ]
    lines = [format_table(("predictor", "MAE", "RMSE", "Pearson r"), rows, align="<>>>"), ""]
    lines.append(
        "the model beats the mean-envelope baseline"
        if report["beats_baseline"]
        else "the model does NOT beat the per-action mean-envelope baseline: it has learned nothing useful"
    )
    muscles = report["model"]["per_muscle"]
    mrows = [
        (m, f"{s['mae']:.4f}", f"{s['rmse']:.4f}", f"{s['pearson']:.3f}", s["n"]) for m, s in muscles.items()
    ]
    lines += ["", format_table(("muscle", "MAE", "RMSE", "Pearson r", "frames"), mrows, align="<>>>>")]
    return "\n".join(lines) + "\n"


def cmd_train(args) -> int:
    from flexaqa._io import check_output_dir, output_dir

    check_output_dir(args.out)
    source, splits = _splits(args)
    cfg = _config(args)  # checked before the folder's lock: a refused command leaves an earlier run as it was
    with output_dir(args.out, mode="overwrite"):
        return _train(args, source, splits, cfg)


def _config(args):
    from flexaqa.video2emg.train import Video2EMGConfig

    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    margs = {
        k: v
        for k, v in {
            "backbone": args.backbone,
            "backbone_weights": args.backbone_weights,
            "freeze_backbone": args.freeze_backbone or None,
            "hidden": args.hidden,
        }.items()
        if v is not None
    }
    return Video2EMGConfig(
        input=args.input,
        model=args.model,
        model_args=margs,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        stride=args.stride or (4 if args.input == "pose" else 1),
        window=args.window,
        size=(args.size[1], args.size[0]),
        view=args.view,
        device=device,
        progress=not args.no_progress,
    )


def _train(args, source, splits, cfg) -> int:
    from flexaqa.video2emg.data import load_examples
    from flexaqa.video2emg.train import fit_video2emg

    kw = dict(
        input=cfg.input,
        stride=cfg.stride,
        view=cfg.view,
        size=cfg.size,
        window=cfg.window,
        progress=cfg.progress,
    )
    train = load_examples(source, splits["train"], **kw)
    val = load_examples(source, splits["val"], **kw)
    run = fit_video2emg(cfg, train, val, run_dir=args.out)
    print(f"best epoch {run.best_epoch + 1}/{cfg.epochs}; checkpoint {args.out}/best.pt")
    test = load_examples(source, splits[args.split], **kw)
    _report(run, test, args.out, args.plot_samples)
    return 0


def cmd_eval(args) -> int:

    from flexaqa._io import check_input_file, check_output_dir, output_dir, require_complete
    from flexaqa.video2emg.data import load_examples
    from flexaqa.video2emg.train import load_model

    check_output_dir(args.out)
    require_complete(
        Path(check_input_file(args.checkpoint, "checkpoint file (best.pt)")).parent, "run folder"
    )
    run = load_model(args.checkpoint)
    cfg = run.config
    source, splits = _splits(args)
    examples = load_examples(
        source,
        splits[args.split],
        input=cfg.input,
        stride=cfg.stride,
        view=cfg.view,
        size=tuple(cfg.size),
        window=cfg.window,
        progress=not args.no_progress,
    )
    with output_dir(args.out, mode="overwrite"):
        _report(run, examples, args.out, args.plot_samples)
    return 0
