"""Seconds per epoch of end-to-end fine-tuning vs frozen encoders + feature cache, on CPU, for one action.

Simulates a small synthetic dataset (one action, ``--subjects`` subjects x 10 repetitions, two rendered views)
unless ``--data`` names one, then trains the same encoders (small3d for both views at 32 frames of 64 px;
ST-GCN over the pose, end-to-end at the same 32 instants, frozen at the extractor's 103 resampled frames; the
fixed 2-d EMG feature) and heads (CoRe + GART, USDL) both ways, variant MV + Pose + EMG, and writes
``benchmarks/results/aqa_endtoend.json`` and ``.md``:

- frozen: feature extraction once (cold cache), then the head's epochs on cached features (warm cache);
- end-to-end: first epoch (decodes video), steady epochs (decoded samples kept in memory), and steady epochs
  with the memory cache off (video decoded every epoch, the situation of a dataset larger than memory).

A few minutes on 2 cores:

    .venv/bin/python benchmarks/bench_aqa_endtoend.py
    .venv/bin/python benchmarks/bench_aqa_endtoend.py --epochs 3 --subjects 3   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from flexaqa.cli import main as flexaqa

RESULTS = Path(__file__).resolve().parent / "results"
VARIANT = "mv+pose+emg"


def _frozen(data: str, out: Path, model: str, epochs: int, cache: Path) -> dict:
    from flexaqa.aqa.features import FeatureSpec
    from flexaqa.aqa.runs import train_run
    from flexaqa.train import load_config

    spec = FeatureSpec(video="small3d", pose="stgcn", video_frames=32, video_size=64)
    wall, cpu, results = [], [], []
    # cold cache (extraction + E epochs), warm (E epochs), warm (2E epochs): an epoch = the last two's difference
    for k, n in enumerate((epochs, epochs, 2 * epochs)):
        cfg = load_config(overrides=[f"epochs={n}", "progress=false"])
        t0, c0 = time.perf_counter(), time.process_time()
        results.append(
            train_run(
                data,
                out=out / f"{model}-{k}",
                model=model,
                variant=VARIANT,
                action="squat",
                config=cfg,
                spec=spec,
                cache_root=cache,
                progress=False,
            )["squat"]
        )
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    res = results[1]
    return {
        "mode": "frozen",
        "model": model,
        "epochs": epochs,
        "extract_s": wall[0] - wall[1],
        "extract_cpu_s": cpu[0] - cpu[1],
        "s_per_epoch": max(wall[2] - wall[1], 0.0) / epochs,
        "cpu_s_per_epoch": max(cpu[2] - cpu[1], 0.0) / epochs,
        "test_spearman": res["spearman"],
        "test_rl2": res["rl2"],
    }


def _end_to_end(data: str, out: Path, model: str, epochs: int, cache_mb: float) -> dict:
    from flexaqa.aqa.endtoend import EndToEndSpec, train_end_to_end
    from flexaqa.train import load_config

    spec = EndToEndSpec(video="small3d", pose="stgcn", frames=32, size=64)
    cfg = load_config(overrides=[f"epochs={epochs}", "progress=false", "device=cpu"])
    t0 = time.perf_counter()
    res = train_end_to_end(
        data,
        out=out / f"{model}-e2e-{int(cache_mb)}",
        model=model,
        variant=VARIANT,
        action="squat",
        config=cfg,
        spec=spec,
        progress=False,
        cache_mb=cache_mb,
    )["squat"]
    total = time.perf_counter() - t0
    hist = json.loads((out / f"{model}-e2e-{int(cache_mb)}" / "squat" / "history.json").read_text())
    wall, cpu = [h["seconds"] for h in hist], [h["cpu_seconds"] for h in hist]
    return {
        "mode": "end_to_end",
        "model": model,
        "epochs": epochs,
        "memory_cache_mb": cache_mb,
        "first_epoch_s": wall[0],
        "first_epoch_cpu_s": cpu[0],
        "s_per_epoch": statistics.median(wall[1:] or wall),
        "cpu_s_per_epoch": statistics.median(cpu[1:] or cpu),
        "wall_s": total,
        "test_spearman": res["spearman"],
        "test_rl2": res["rl2"],
    }


def _markdown(doc: dict) -> str:
    lines = [
        "# AQA: end-to-end fine-tuning vs frozen encoders (CPU)",
        "",
        "**Synthetic data** (flexaqa simulator), one action, not FLEX numbers; "
        f"{doc['samples']} samples, variant MV + Pose + EMG, small3d (2 views, 32 x 64 px) + ST-GCN (32 frames end-to-end, 103 frozen), "
        f"{doc['epochs']} epochs, batch 8.",
        "",
        "CPU s: CPU time of the training process, steadier than wall time on a shared machine; wall seconds in "
        "brackets. Steady epoch: the median of epochs 2..N.",
        "",
        "| model | mode | CPU s / epoch (wall) | first epoch | one-off | test ρ | test R-ℓ2 ×100 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        mode = r["mode"] if r["mode"] == "frozen" else f"end-to-end, memory cache {r['memory_cache_mb']:g} MB"
        first = f"{r['first_epoch_cpu_s']:.2f} ({r['first_epoch_s']:.2f})" if "first_epoch_s" in r else "—"
        once = (
            f"{r['extract_cpu_s']:.1f} ({r['extract_s']:.1f}) feature extraction" if "extract_s" in r else "—"
        )
        lines.append(
            f"| {r['model']} | {mode} | {r['cpu_s_per_epoch']:.3f} ({r['s_per_epoch']:.3f}) | {first} | "
            f"{once} | {r['test_spearman']:.3f} | {r['test_rl2']:.2f} |"
        )
    lines += [
        "",
        "CPU-time ratio, steady end-to-end epoch with the memory cache / frozen epoch: "
        + ", ".join(f"{m} {v:.0f}x" for m, v in doc["ratio"].items())
        + ".",
        "",
        f"{doc['machine']}. Command: `{doc['command']}`. Wall time {doc['wall_s']:.0f} s.",
        "",
        "A few epochs on 30-60 samples: the accuracy columns only show that both modes run, not which is better.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", help="existing dataset with the squat action and View-1, View-2 (default: simulate)"
    )
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "aqa_endtoend"), help="results path without suffix")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = args.data
        if data is None:
            data = str(tmp / "data")
            rc = flexaqa(
                [
                    "synth",
                    "--out",
                    data,
                    "--subjects",
                    str(args.subjects),
                    "--actions",
                    "squat",
                    "--video",
                    "--views",
                    "View-1,View-2",
                    "--workers",
                    "2",
                    "--no-progress",
                ]
            )
            if rc:
                return rc
        from flexaqa.data import open_dataset

        n = sum(r.action == "squat" for r in open_dataset(data).records)
        rows = []
        for model in ("core_gart", "usdl"):
            rows.append(_frozen(data, tmp / "runs", model, args.epochs, tmp / f"cache-{model}"))
            rows.append(_end_to_end(data, tmp / "runs", model, args.epochs, 1024.0))
            rows.append(_end_to_end(data, tmp / "runs", model, args.epochs, 0.0))
            print(json.dumps(rows[-3:], indent=1))
    frozen = {r["model"]: r["cpu_s_per_epoch"] for r in rows if r["mode"] == "frozen"}
    e2e = {
        r["model"]: r["cpu_s_per_epoch"] for r in rows if r["mode"] == "end_to_end" and r["memory_cache_mb"]
    }
    doc = {
        "samples": n,
        "epochs": args.epochs,
        "variant": VARIANT,
        "rows": rows,
        "ratio": {m: e2e[m] / frozen[m] for m in frozen},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({args.threads} thread(s)), load average {[round(x, 2) for x in os.getloadavg()]}",
        "command": "python benchmarks/bench_aqa_endtoend.py"
        + (f" --subjects {args.subjects}" if args.data is None else f" --data {args.data}")
        + f" --epochs {args.epochs} --threads {args.threads}",
        "wall_s": time.perf_counter() - t_all,
    }
    out = Path(args.out)
    from flexaqa._io import atomic_write_text

    atomic_write_text(out.with_suffix(".json"), json.dumps(doc, indent=1) + "\n")
    atomic_write_text(out.with_suffix(".md"), _markdown(doc))
    print(_markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
