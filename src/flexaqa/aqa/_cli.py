"""``flexaqa aqa train|eval|predict`` and ``flexaqa bench aqa`` (heavy imports inside handlers).

``flexaqa aqa train|eval|predict`` (the first release's spellings) still work for one release and print a deprecation
line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flexaqa._args import (
    add_data,
    add_deprecated,
    add_device,
    add_json,
    add_out,
    add_progress,
    add_protocol,
    add_seed,
    add_short_side,
    add_split,
    int_list,
    int_range,
    name_list,
    non_negative_float,
    positive_float,
    positive_int,
    probability,
)
from flexaqa._io import json_text
from flexaqa.aqa._options import add_feature_options, spec_kwargs

_E2E_ONLY = ("frames", "short_side", "workers", "clip_grad", "no_amp", "encoder_lr", "memory_cache")


def _end_to_end_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("end-to-end fine-tuning (encoders train with the head from raw samples)")
    g.add_argument(
        "--end-to-end",
        action="store_true",
        help="fine-tune the video/pose encoders jointly with the head (GPU recommended)",
    )
    g.add_argument(
        "--frames", type=positive_int, help="frames per repetition (default 32; 103 with --video i3d)"
    )
    add_short_side(g, help="resize frames to this short side (default 64; 224 with --video i3d)")
    g.add_argument(
        "--encoder-lr", type=positive_float, help="encoder learning rate (shortcut for --set encoder_lr=X)"
    )
    g.add_argument(
        "--workers",
        type=int_range(0),
        metavar="N",
        help="DataLoader worker processes (default 0: load in the training process)",
    )
    g.add_argument(
        "--clip-grad", type=non_negative_float, help="clip the gradient norm (default 5; 0 turns it off)"
    )
    g.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA (never used on CPU)")
    g.add_argument(
        "--memory-cache",
        type=non_negative_float,
        metavar="MB",
        help="keep decoded samples in memory up to MB per process (default 1024)",
    )


def _protocol(p: argparse.ArgumentParser) -> None:
    add_protocol(
        p,
        default="auto",
        extra=("auto",),
        help="split protocol: auto (official if Split_4 exists, else random), random, cross_subject, "
        "cross_skill, official",
    )
    add_deprecated(p, "--split", new="--protocol", dest="protocol", metavar="PROTOCOL")


def _train_args(p: argparse.ArgumentParser) -> None:
    add_data(p)
    p.add_argument(
        "--model", default="core_gart", help="scoring head: core_gart, usdl, error_aware (+ *_tiny)"
    )
    p.add_argument("--variant", default="mv+pose+emg", help="sv, mv, mv+pose, mv+pose+emg, pose, pose+emg")
    p.add_argument("--action", default="all", help="action key (A01, index, slug), comma-separated, or all")
    _protocol(p)
    p.add_argument("--config", help="run config YAML (flexaqa.train.RunConfig keys)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, e.g. epochs=100 or model_args.voters=5 (repeatable)",
    )
    p.add_argument("--epochs", type=positive_int, help="shortcut for --set epochs=N")
    add_seed(p, default=None, help="seed of the split, the encoders and training (default: the config's, 0)")
    add_out(p, required=True, help="run folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue each action from its last.pt (same settings; only --epochs may grow)",
    )
    p.add_argument(
        "--force", action="store_true", help="OUT holds another run: delete its checkpoints and start over"
    )
    add_device(
        p,
        default=None,
        help="auto (a CUDA GPU when one is visible), cuda or cpu (default: cpu for "
        "frozen heads, auto for --end-to-end)",
    )
    add_feature_options(p)
    _end_to_end_options(p)
    p.set_defaults(func=cmd_train)


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run folder written by flexaqa aqa train")
    add_data(p, required=False, help="dataset folder (default: the one the run was trained on)")
    add_split(p, default="test", help="split to evaluate (default test)")
    add_json(p, help="print JSON instead of a table")
    add_progress(p, quiet_alias=True)
    p.set_defaults(func=cmd_eval)


def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run folder written by flexaqa aqa train")
    p.add_argument("samples", nargs="*", metavar="SAMPLE", help="sample ids of the dataset")
    add_split(p, default=None, extra=("all",), help="predict every sample of this split of the run")
    p.add_argument(
        "--jsonl",
        help="also write one prediction per line {sample_id, action, slots, score}, the input of "
        "`flexaqa vqa answer --kg-coach`",
    )
    add_data(p, required=False, help="dataset folder (default: the one the run was trained on)")
    p.add_argument(
        "--threshold",
        type=probability,
        default=0.5,
        help="slot probability in [0, 1] that counts as an error",
    )
    add_json(p, help="print JSON instead of text")
    p.set_defaults(func=cmd_predict)


_AQA_COMMANDS = {
    "train": (
        _train_args,
        "train one AQA model per action (paper Table 4 protocol): heads on cached features, or --end-to-end",
    ),
    "eval": (_eval_args, "per-action rho, R-l2 (x100), Fisher-z average, per-ET P/R/F1 of a trained run"),
    "predict": (_predict_args, "score samples with a trained run (+ predicted errors and feedback)"),
}


def add_commands(sub: argparse._SubParsersAction) -> None:
    aqa = sub.add_parser("aqa", help="AQA models: train, eval, predict (paper Table 4 protocol)")
    asub = aqa.add_subparsers(dest="aqa_command", metavar="AQA_COMMAND", required=True)
    for name, (add_args, help) in _AQA_COMMANDS.items():
        add_args(asub.add_parser(name, help=help, description=help))
    for name, (add_args, _) in _AQA_COMMANDS.items():  # the first release's spellings, for one more release
        p = sub.add_parser(name, help=f"deprecated: use `flexaqa aqa {name}`")
        add_args(p)
        p.set_defaults(deprecated_command=f"flexaqa aqa {name}")

    bench = sub.add_parser("bench", help="benchmarks that write results files")
    bsub = bench.add_subparsers(dest="bench_command", metavar="BENCH", required=True)
    p = bsub.add_parser(
        "aqa", help="paper Table 4 protocol: every variant x seeds x actions, markdown + JSON"
    )
    add_data(p)
    p.add_argument("--quick", action="store_true", help="1 seed, 15 epochs, the first 3 actions")
    p.add_argument(
        "--seeds", type=int_list, default="0,1,2", help="comma-separated training seeds (default 0,1,2)"
    )
    p.add_argument("--epochs", type=positive_int, default=40, help="training epochs per run (default 40)")
    p.add_argument(
        "--actions",
        type=name_list(what="action"),
        default="all",
        help="comma-separated distinct actions (keys), or all",
    )
    _protocol(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="run-config override")
    add_out(p, default="benchmarks/results/aqa", help="results path without suffix")
    p.add_argument(
        "--no-i3d-timing", action="store_true", help="skip timing one I3D clip (the CoRe cost ratio)"
    )
    p.add_argument(
        "--allow-random-encoders",
        action="store_true",
        help="run i3d / stgcn features without their pretrained weights (rows marked 'random init')",
    )
    add_feature_options(p)
    p.set_defaults(func=cmd_bench_aqa)


def _spec(args, seed: int = 0):
    from flexaqa.aqa.features import FeatureSpec

    return FeatureSpec(**spec_kwargs(args, seed))


def _threads(n: int) -> None:
    from flexaqa.errors import require

    require("torch", "train", "AQA training").set_num_threads(max(1, n))


def _train_end_to_end(args, config):
    from flexaqa.aqa import AQAError
    from flexaqa.aqa.endtoend import EndToEndSpec, train_end_to_end

    if args.cache:
        raise AQAError("--cache has no use with --end-to-end: the encoders re-encode raw samples every epoch")
    spec = EndToEndSpec(
        video=args.video,
        video_weights=args.video_weights,
        views=tuple(args.views),
        frames=args.frames,
        size=args.short_side,
        pose=args.pose or "stgcn",
        pose_weights=args.pose_weights,
        emg=args.emg_feature,
    )
    return train_end_to_end(
        args.data,
        out=args.out,
        model=args.model,
        variant=args.variant,
        action=args.action,
        split=args.protocol,
        config=config,
        spec=spec,
        resume=args.resume,
        force=args.force,
        progress=not args.no_progress,
        workers=args.workers or 0,
        clip_grad=5.0 if args.clip_grad is None else args.clip_grad,
        amp=not args.no_amp,
        cache_mb=1024.0 if args.memory_cache is None else args.memory_cache,
    )


def cmd_train(args) -> int:
    from flexaqa.aqa.runs import AQAError
    from flexaqa.train import load_config

    _threads(args.threads)
    overrides = list(args.set) + [f"epochs={args.epochs}"] * (args.epochs is not None)
    overrides += [f"seed={args.seed}"] * (args.seed is not None) + ["progress=false"] * args.no_progress
    overrides += [f"encoder_lr={args.encoder_lr}"] * (args.encoder_lr is not None)
    if args.device is not None or args.end_to_end:
        from flexaqa.aqa.endtoend import resolve_device

        overrides.append(f"device={resolve_device(args.device)}")
    if not args.end_to_end:
        used = [n for n in _E2E_ONLY if getattr(args, n) not in (None, False)]
        if used:
            flag = "--" + used[0].replace("_", "-")
            raise AQAError(
                f"{flag} only applies with --end-to-end (the frozen mode trains on cached features)"
            )
    config = load_config(args.config, overrides=overrides)
    _check_cache(args)
    return _train(
        args, config
    )  # the run folder is checked, then locked, in flexaqa.aqa.protocol.train_actions


def _check_cache(args) -> None:
    """A feature cache that cannot be written fails now, not after the first action."""
    if getattr(args, "end_to_end", False):
        return

    from flexaqa._io import check_input_dir
    from flexaqa.aqa.features import cache_writer

    data = check_input_dir(args.data, "dataset folder")
    cache_writer(Path(args.cache) if args.cache else data / "features", default=not args.cache)


def _train(args, config) -> int:
    from flexaqa.aqa.runs import summarize, train_run
    from flexaqa.train.distributed import cleanup_distributed

    try:
        if args.end_to_end:
            results = _train_end_to_end(args, config)
        else:
            results = train_run(
                args.data,
                out=args.out,
                model=args.model,
                variant=args.variant,
                action=args.action,
                split=args.protocol,
                config=config,
                spec=_spec(args, config.seed),
                cache_root=args.cache,
                resume=args.resume,
                force=args.force,
                progress=not args.no_progress,
            )
        import torch.distributed as dist

        if dist.is_initialized() and dist.get_rank() != 0:
            return 0
    finally:
        cleanup_distributed()
    _print_metrics(results, summarize(results))
    print(f"run written to {args.out}")
    return 0


def _print_metrics(per_action: dict, summary: dict) -> None:
    from flexaqa._text import format_table

    rows = [[a, m["n"], f"{m['spearman']:.4f}", f"{m['rl2']:.4f}"] for a, m in per_action.items()]
    rows.append(["Fisher-z / mean", "", f"{summary['spearman_fisher_z']:.4f}", f"{summary['rl2_mean']:.4f}"])
    print(format_table(["action", "n test", "rho", "R-l2 x100"], rows))


def cmd_eval(args) -> int:
    from flexaqa.aqa.runs import eval_run

    res = eval_run(args.run, data=args.data, split=args.split, progress=not args.no_progress)
    if args.json:
        print(json_text(res, indent=1))
        return 0
    _print_metrics(res["per_action"], res["summary"])
    if "errors" in res:
        from flexaqa._text import format_table

        rows = [
            [e["error"], e["support"], f"{e['precision']:.3f}", f"{e['recall']:.3f}", f"{e['f1']:.3f}"]
            for e in res["errors"]
        ]
        print(format_table(["error", "support", "precision", "recall", "F1"], rows))
    return 0


def cmd_predict(args) -> int:
    from flexaqa._io import atomic_write_text
    from flexaqa.aqa.runs import AQAError, predict_samples, prediction_records, run_split_ids

    samples = list(args.samples) + (run_split_ids(args.run, args.split) if args.split else [])
    if not samples:
        raise AQAError("give sample ids or --split train|val|test|all")
    if args.jsonl:
        from flexaqa._io import check_output_file

        check_output_file(args.jsonl)
    items = predict_samples(args.run, samples, data=args.data, threshold=args.threshold)
    if args.jsonl:
        lines = [json_text(r, indent=None) for r in prediction_records(items)]
        atomic_write_text(args.jsonl, "\n".join(lines) + "\n")
        print(f"wrote {len(lines)} predictions to {args.jsonl}", file=sys.stderr)
    if args.json:
        print(json_text(items, indent=1))
        return 0
    for it in items:
        true = "" if it["true_score"] is None else f" (annotated {it['true_score']:.2f})"
        print(f"{it['sample']} [{it['action']}]: score {it['score']:.2f}{true}")
        for e in it.get("errors", []):
            print(f"  - {e['keystep']} {e['error']} p={e['probability']:.2f} (-{e['weight']}): {e['text']}")
            print(f"    feedback: {e['feedback']}")
        if "errors" in it and not it["errors"]:
            print("  no error predicted")
    return 0


def cmd_bench_aqa(args) -> int:
    from flexaqa._io import check_output_file
    from flexaqa.aqa.bench import run_benchmark, write_results
    from flexaqa.train.config import parse_overrides

    for suffix in (".json", ".md"):
        check_output_file(args.out + suffix)
    _check_cache(args)
    _threads(args.threads)
    seeds = (0,) if args.quick else args.seeds
    epochs = 15 if args.quick else args.epochs
    actions = ",".join(args.actions)
    if args.quick and actions == "all":
        from flexaqa.aqa.runs import action_list
        from flexaqa.data import open_dataset

        actions = ",".join(action_list(open_dataset(args.data))[:3])
    doc = run_benchmark(
        args.data,
        seeds=seeds,
        epochs=epochs,
        actions=actions,
        split=args.protocol,
        spec=_spec(args),
        cache_root=args.cache,
        overrides=parse_overrides(args.set),
        measure_i3d=not (args.quick or args.no_i3d_timing),
        progress=not args.no_progress,
        allow_random_encoders=args.allow_random_encoders,
    )
    doc["command"] = (
        f"flexaqa bench aqa --data {args.data}"
        + " --quick" * args.quick
        + f" --seeds {','.join(map(str, seeds))} --epochs {epochs} --actions {actions}"
    )
    j, m = write_results(doc, args.out)
    print(m.read_text(encoding="utf-8"))
    print(f"wrote {j} and {m}")
    return 0
