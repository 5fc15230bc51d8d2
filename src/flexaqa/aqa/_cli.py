"""``flexaqa train``, ``flexaqa eval``, ``flexaqa predict`` and ``flexaqa bench aqa`` (heavy imports inside handlers)."""

from __future__ import annotations

import argparse
import json
import sys


def _feature_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("features (frozen encoders, cached per extractor + config)")
    g.add_argument("--video", choices=("small3d", "i3d"), default="small3d",
                   help="video encoder: small3d (random init, weak, offline) or i3d (give --video-weights)")  # fmt: skip
    g.add_argument("--video-weights", help="Kinetics I3D checkpoint (model_rgb.pth or rgb_imagenet.pt)")
    g.add_argument("--views", default="View-1,View-2", help="the two views behind MV (default View-1,View-2)")
    g.add_argument("--pose", choices=("stats", "stgcn", "stgcn+stats", "keysteps", "keysteps+stats"), default=None,
                   help="pose feature (default: stats; stgcn with --pose-weights or --end-to-end); keysteps: the coach "
                   "rules' margins against their FKG-keystep thresholds")  # fmt: skip
    g.add_argument("--pose-weights", help="st-gcn NTU checkpoint (st_gcn.ntu-xsub.pt)")
    g.add_argument("--emg-feature", choices=("official", "envelope"), default="official",
                   help="relative muscle contribution: official raw peaks or conditioned envelopes")  # fmt: skip
    g.add_argument("--cache", help="feature cache folder (default DATA/features)")
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is fastest for the small heads)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


_E2E_ONLY = ("frames", "size", "workers", "clip_grad", "no_amp", "encoder_lr", "memory_cache")


def _end_to_end_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("end-to-end fine-tuning (encoders train with the head from raw samples)")
    g.add_argument("--end-to-end", action="store_true",
                   help="fine-tune the video/pose encoders jointly with the head (GPU recommended)")  # fmt: skip
    g.add_argument("--frames", type=int, help="frames per repetition (default 32; 103 with --video i3d)")
    g.add_argument("--size", type=int, help="frame short side (default 64; 224 with --video i3d)")
    g.add_argument("--encoder-lr", type=float, help="encoder learning rate (shortcut for --set encoder_lr=X)")
    g.add_argument("--workers", type=int, help="DataLoader worker processes (default 0)")
    g.add_argument("--clip-grad", type=float, help="clip the gradient norm (default 5; 0 turns it off)")
    g.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA (never used on CPU)")
    g.add_argument("--memory-cache", type=float, metavar="MB",
                   help="keep decoded samples in memory up to MB per process (default 1024)")  # fmt: skip


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one AQA model per action (paper Table 4 protocol): heads on cached features, or --end-to-end",
    )
    p.add_argument("--data", required=True, help="dataset folder (native or official release layout)")
    p.add_argument(
        "--model", default="core_gart", help="scoring head: core_gart, usdl, error_aware (+ *_tiny)"
    )
    p.add_argument("--variant", default="mv+pose+emg", help="sv, mv, mv+pose, mv+pose+emg, pose, pose+emg")
    p.add_argument("--action", default="all", help="action key (A01, index, slug), comma-separated, or all")
    p.add_argument("--split", default="auto", help="auto (official if Split_4 exists, else random), random, "
                   "cross_subject, cross_skill, official")  # fmt: skip
    p.add_argument("--config", help="run config YAML (flexaqa.train.RunConfig keys)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. epochs=100 or model_args.voters=5 (repeatable)")  # fmt: skip
    p.add_argument("--epochs", type=int, help="shortcut for --set epochs=N")
    p.add_argument("--seed", type=int, help="seed of the split, the encoders and training")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue each action from its last.pt")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"),
                   help="training device (default: cpu for frozen heads, auto for --end-to-end)")  # fmt: skip
    _feature_options(p)
    _end_to_end_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval", help="per-action ρ, R-ℓ2 (x100), Fisher-z average, per-ET P/R/F1 of a trained run"
    )
    p.add_argument("--run", required=True, help="run folder written by flexaqa train")
    p.add_argument("--data", help="dataset folder (default: the one the run was trained on)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="score samples with a trained run (+ predicted errors and feedback)")
    p.add_argument("--run", required=True, help="run folder written by flexaqa train")
    p.add_argument("samples", nargs="*", metavar="SAMPLE", help="sample ids of the dataset")
    p.add_argument(
        "--split",
        choices=("train", "val", "test", "all"),
        help="predict every sample of this split of the run",
    )
    p.add_argument(
        "--jsonl",
        help="also write one prediction per line {sample_id, action, slots, score}, the input of "
        "`flexaqa vqa answer --kg-coach`",
    )
    p.add_argument("--data", help="dataset folder (default: the one the run was trained on)")
    p.add_argument("--threshold", type=float, default=0.5, help="slot probability that counts as an error")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    bench = sub.add_parser("bench", help="benchmarks that write results files")
    bsub = bench.add_subparsers(dest="bench_command", metavar="BENCH", required=True)
    p = bsub.add_parser(
        "aqa", help="paper Table 4 protocol: every variant x seeds x actions, markdown + JSON"
    )
    p.add_argument("--data", required=True, help="dataset folder (native or official release layout)")
    p.add_argument("--quick", action="store_true", help="1 seed, 15 epochs, the first 3 actions")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--actions", default="all", help="actions (comma-separated keys) or all")
    p.add_argument("--split", default="auto")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="run-config override")
    p.add_argument("--out", default="benchmarks/results/aqa", help="results path without suffix")
    p.add_argument(
        "--no-i3d-timing", action="store_true", help="skip timing one I3D clip (the CoRe cost ratio)"
    )
    _feature_options(p)
    p.set_defaults(func=cmd_bench_aqa)


def _spec(args, seed: int = 0):
    from flexaqa.aqa.features import FeatureSpec

    pose = args.pose or ("stgcn" if args.pose_weights else "stats")
    return FeatureSpec(
        video=args.video, video_weights=args.video_weights, views=tuple(args.views.split(",")), pose=pose,
        pose_weights=args.pose_weights, emg=args.emg_feature, seed=seed,
    )  # fmt: skip


def _threads(n: int) -> None:
    from flexaqa.errors import require

    require("torch", "train", "AQA training").set_num_threads(max(1, n))


def _train_end_to_end(args, config):
    from flexaqa.aqa import AQAError
    from flexaqa.aqa.endtoend import EndToEndSpec, train_end_to_end

    if args.cache:
        raise AQAError("--cache has no use with --end-to-end: the encoders re-encode raw samples every epoch")
    spec = EndToEndSpec(
        video=args.video, video_weights=args.video_weights, views=tuple(args.views.split(",")),
        frames=args.frames, size=args.size, pose=args.pose or "stgcn", pose_weights=args.pose_weights,
        emg=args.emg_feature,
    )  # fmt: skip
    return train_end_to_end(
        args.data, out=args.out, model=args.model, variant=args.variant, action=args.action, split=args.split,
        config=config, spec=spec, resume=args.resume, progress=not args.quiet, workers=args.workers or 0,
        clip_grad=5.0 if args.clip_grad is None else args.clip_grad, amp=not args.no_amp,
        cache_mb=1024.0 if args.memory_cache is None else args.memory_cache,
    )  # fmt: skip


def cmd_train(args) -> int:
    from flexaqa.aqa.runs import AQAError, summarize, train_run
    from flexaqa.train import load_config

    _threads(args.threads)
    overrides = list(args.set) + [f"epochs={args.epochs}"] * (args.epochs is not None)
    overrides += [f"seed={args.seed}"] * (args.seed is not None) + ["progress=false"] * args.quiet
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
    from flexaqa.train.distributed import cleanup_distributed

    try:
        if args.end_to_end:
            results = _train_end_to_end(args, config)
        else:
            results = train_run(
                args.data, out=args.out, model=args.model, variant=args.variant, action=args.action,
                split=args.split, config=config, spec=_spec(args, config.seed), cache_root=args.cache,
                resume=args.resume, progress=not args.quiet,
            )  # fmt: skip
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

    res = eval_run(args.run, data=args.data, split=args.split, progress=not args.quiet)
    if args.json:
        print(json.dumps(res, indent=1, default=float))
        return 0
    _print_metrics(res["per_action"], res["summary"])
    if "errors" in res:
        from flexaqa._text import format_table

        rows = [[e["error"], e["support"], f"{e['precision']:.3f}", f"{e['recall']:.3f}", f"{e['f1']:.3f}"]
                for e in res["errors"]]  # fmt: skip
        print(format_table(["error", "support", "precision", "recall", "F1"], rows))
    return 0


def cmd_predict(args) -> int:
    from flexaqa._io import atomic_write_text
    from flexaqa.aqa.runs import AQAError, predict_samples, prediction_records, run_split_ids

    samples = list(args.samples) + (run_split_ids(args.run, args.split) if args.split else [])
    if not samples:
        raise AQAError("give sample ids or --split train|val|test|all")
    items = predict_samples(args.run, samples, data=args.data, threshold=args.threshold)
    if args.jsonl:
        lines = [json.dumps(r) for r in prediction_records(items)]
        atomic_write_text(args.jsonl, "\n".join(lines) + "\n")
        print(f"wrote {len(lines)} predictions to {args.jsonl}", file=sys.stderr)
    if args.json:
        print(json.dumps(items, indent=1, default=float))
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
    from flexaqa.aqa.bench import run_benchmark, write_results
    from flexaqa.train.config import parse_overrides

    _threads(args.threads)
    seeds = (0,) if args.quick else tuple(int(s) for s in args.seeds.split(","))
    epochs = 15 if args.quick else args.epochs
    actions = args.actions
    if args.quick and actions == "all":
        from flexaqa.aqa.runs import action_list
        from flexaqa.data import open_dataset

        actions = ",".join(action_list(open_dataset(args.data))[:3])
    doc = run_benchmark(
        args.data, seeds=seeds, epochs=epochs, actions=actions, split=args.split, spec=_spec(args),
        cache_root=args.cache, overrides=parse_overrides(args.set), measure_i3d=not (args.quick or args.no_i3d_timing),
        progress=not args.quiet,
    )  # fmt: skip
    doc["command"] = (
        f"flexaqa bench aqa --data {args.data}" + " --quick" * args.quick
        + f" --seeds {','.join(map(str, seeds))} --epochs {epochs} --actions {actions}"
    )  # fmt: skip
    j, m = write_results(doc, args.out)
    print(m.read_text(encoding="utf-8"))
    print(f"wrote {j} and {m}")
    return 0
