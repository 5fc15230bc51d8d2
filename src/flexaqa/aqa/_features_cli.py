"""``flexaqa features extract|info|verify|migrate``: the feature store (heavy imports inside handlers).

The feature options (``--video``, ``--pose``, ``--emg-feature``, ``--views``, ``--cache``...) are those of
``flexaqa aqa train``: the same flags pick the same store folder, so training reads what ``extract`` wrote.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from flexaqa._args import (
    add_batch_size,
    add_data,
    add_device,
    add_json,
    add_ray,
    add_seed,
    add_workers,
    name_list,
    positive_int,
)
from flexaqa._io import json_text
from flexaqa.aqa._options import add_feature_options, spec_kwargs

# flexaqa.aqa.features.FEATURE_KEYS (kept here so the parser stays light; a test checks that they agree)
FEATURE_KEYS = ("video_v1", "video_v2", "pose", "emg")


def _root_options(p: argparse.ArgumentParser) -> None:
    add_data(
        p, required=False, help="dataset folder (its samples are the ones expected; default cache inside it)"
    )
    p.add_argument("--cache", help="feature cache folder (default DATA/features)")
    add_json(p)


def _extract_args(p: argparse.ArgumentParser) -> None:
    add_data(p)
    add_feature_options(p, quiet_alias=False)
    p.add_argument(
        "--keys",
        type=name_list(FEATURE_KEYS, what="feature key"),
        help="feature keys to extract (default: every key the dataset has: video_v1,video_v2 of --views, pose, emg)",
    )
    add_seed(p, help="initialisation of encoders without weights: the training run's seed (default 0)")
    add_device(
        p,
        default="auto",
        help="auto (a CUDA GPU when one is visible), cuda or cpu (default auto); with --ray: cuda makes every "
        "shard a task holding one GPU, auto and cpu CPU tasks",
    )
    add_batch_size(p, default=8, help="(sample, view) items per forward pass (default 8)")
    add_workers(
        p,
        default=1,
        help="decoding processes (DataLoader workers; 1: decode in this process); with --ray auto: CPUs",
    )
    add_ray(p)
    p.add_argument(
        "--shard-size", type=positive_int, default=64, metavar="N", help="samples per shard (default 64)"
    )
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA (never used on CPU)")
    add_json(p, help="print the summary as JSON")
    p.set_defaults(func=cmd_extract)


def _root(args) -> Path:
    from flexaqa.errors import UsageError

    if args.cache:
        return Path(args.cache)
    if args.data:
        return Path(args.data) / "features"
    raise UsageError("give --data DIR (cache in DIR/features) or --cache FOLDER")


def cmd_extract(args) -> int:
    from flexaqa._tasks import require_ray_gpus
    from flexaqa.aqa.extract import MissingFeaturesError, resolve_device
    from flexaqa.aqa.features import FeatureSpec, build_features, cache_writer
    from flexaqa.data import open_dataset
    from flexaqa.errors import require

    require("torch", "train", "feature extraction").set_num_threads(max(1, args.threads))
    spec = FeatureSpec(**spec_kwargs(args, args.seed))  # a missing weights file: exit 9 before any work
    source = open_dataset(args.data)
    keys = args.keys
    if keys is None:  # the video keys of the views this dataset has
        keys = tuple(k for i, k in enumerate(FEATURE_KEYS[:2]) if spec.views[i] in source.view_names)
        keys += ("pose", "emg")
    ids = [r.id for r in source.records]
    root = _root(args)
    if args.ray:  # a shard is a CPU task, or with --device cuda a task holding one GPU of its node
        device = "cuda" if args.device == "cuda" else "cpu"
        if device == "cuda":
            require_ray_gpus(args.ray, args.workers)  # before anything is written
    else:
        device = resolve_device(args.device)
    t0 = time.perf_counter()
    with cache_writer(root, default=not args.cache):
        report = build_features(
            source,
            ids,
            spec,
            keys=keys,
            root=root,
            device=device,
            batch_size=args.batch_size,
            workers=args.workers,
            ray=args.ray,
            shard_size=args.shard_size,
            progress=not args.no_progress,
            amp=not args.no_amp,
        )
    secs = time.perf_counter() - t0
    summary = {
        "keys": list(keys),
        "samples": len(ids),
        "extracted": report.extracted,  # rows: (sample, key) pairs
        "skipped": report.skipped,
        "shards": report.shards,
        "failed": report.failed,
        "seconds": round(secs, 3),
        "rows_per_s": round(report.extracted / secs, 2) if secs > 0 else None,
        "cache": str(root),
    }
    if args.json:
        print(json_text(summary))
    else:
        print(
            f"features {','.join(keys)} of {len(ids)} samples in {root}: {report.extracted} rows extracted "
            f"({summary['rows_per_s']}/s) in {report.shards} shard(s), {report.skipped} already stored"
        )
    if report.failed:
        raise MissingFeaturesError(
            report.failed, where=f" in {root} (the missing.json of each feature folder lists the failed ones)"
        )
    return 0


def _stores(args):
    from flexaqa.data.featurestore import stores_under

    root = _root(args)
    stores = stores_under(root)
    ids = None
    if args.data:
        from flexaqa.data import open_dataset

        ids = [r.id for r in open_dataset(args.data).records]
    return root, stores, ids


def cmd_info(args) -> int:
    root, stores, ids = _stores(args)
    rows = []
    for store in stores:
        info = store.info()
        info["legacy_pending"] = {k: len(v) for k, v in store.legacy_pending().items()}
        info["legacy_keys"] = store.legacy_keys()
        info["failed"] = {k: [f["id"] for f in v] for k, v in store.failed().items()}
        if ids is not None:
            for key, row in info["keys"].items():
                row["absent"] = len(store.missing(ids, key))
        rows.append(info)
    if args.json:
        print(json_text({"cache": str(root), "stores": rows}))
        return 0
    print(f"{root}: {len(rows)} feature folder(s)")
    for info in rows:
        print(f"{Path(info['folder']).name}  ({info['extractor']})")
        for key, row in info["keys"].items():
            absent = f", {row['absent']} of the dataset's samples absent" if "absent" in row else ""
            print(
                f"  {key}: {row['samples']} samples x {row['dim']} in {row['shards']} shard(s), "
                f"{row['bytes'] / 1e6:.2f} MB{absent}"
            )
        if info["legacy_samples"]:
            print(
                f"  old per-sample layout: {info['legacy_samples']} samples (run `flexaqa features migrate`)"
            )
        for key, failed in info["failed"].items():
            print(f"  {key}: {len(failed)} sample(s) failed in the last extraction: {', '.join(failed)}")
    return 0


def cmd_verify(args) -> int:
    from flexaqa.errors import CheckFailedError

    root, stores, ids = _stores(args)
    reports = [s.verify(ids) for s in stores]
    if args.json:
        doc = [
            {
                "folder": str(r.folder),
                "ok": r.ok,
                "keys": r.keys,
                "problems": r.problems,
                "leftovers": r.leftovers,
                "absent": r.absent,
                "failed": r.failed,
            }
            for r in reports
        ]
        print(json_text({"cache": str(root), "stores": doc}))
    else:
        for r in reports:
            keys = ", ".join(f"{k} {v['samples']}" for k, v in r.keys.items()) or "no shards"
            print(f"{r.folder.name}: {'ok' if r.ok else 'BAD'} ({keys})")
            for p in r.problems:
                print(f"  problem: {p}")
            if r.leftovers:
                print(
                    f"  {len(r.leftovers)} file(s) of an interrupted run (invisible; the next extract removes them)"
                )
            for key, absent in r.absent.items():
                if absent:
                    print(f"  {key}: {len(absent)} of the dataset's samples not extracted")
    bad = [r for r in reports if not r.ok]
    if bad:
        raise CheckFailedError(
            f"{len(bad)} feature folder(s) under {root} failed verification: {bad[0].problems[0]}"
        )
    if not reports:
        print(f"{root}: no feature folders", file=sys.stderr)
    return 0


def cmd_migrate(args) -> int:
    from flexaqa.aqa.features import cache_writer
    from flexaqa.data.featurestore import migrate_cache

    root, stores, _ = _stores(args)
    old = [s for s in stores if s.legacy_pending() or (args.remove_old and s.legacy_keys())]
    done = []
    with cache_writer(root, default=not args.cache):
        for s in old:
            store = migrate_cache(s.dir, remove_old=args.remove_old)
            done.append(store.info())
            if not args.json:
                rows = ", ".join(f"{k} {v['samples']}" for k, v in done[-1]["keys"].items())
                print(f"{s.dir.name}: {rows}{' (old files removed)' if args.remove_old else ''}")
    if args.json:
        print(json_text({"cache": str(root), "migrated": done}))
    elif not old:
        print(f"{root}: nothing in the old per-sample layout")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    feats = sub.add_parser(
        "features", help="the feature store: extract (batched, resumable), info, verify, migrate"
    )
    fsub = feats.add_subparsers(dest="features_command", metavar="FEATURES_COMMAND", required=True)
    help = "extract features of every sample into the feature store (batched, resumable; --ray for a cluster)"
    _extract_args(fsub.add_parser("extract", help=help, description=help))
    for name, func, help in (
        ("info", cmd_info, "what the feature store under the cache folder holds"),
        ("verify", cmd_verify, "re-hash every shard; report corrupt, duplicate and absent samples (exit 1)"),
        ("migrate", cmd_migrate, "copy old per-sample cache folders into shards (once; no re-extraction)"),
    ):
        p = fsub.add_parser(name, help=help, description=help)
        _root_options(p)
        if name == "migrate":
            p.add_argument(
                "--remove-old", action="store_true", help="delete the per-sample files once verified"
            )
        p.set_defaults(func=func)
