"""Cost and sanity benchmark of the AQA models on CPU, with synthetic features (no dataset needed).

Measures (writes benchmarks/results/bench_models.json and .md):
1. encoder cost: one forward of each encoder at its real input size (I3D: one 16x224x224 clip);
2. head training cost: seconds per epoch of CoRe-GART / USDL / error-aware over full-width features
   (2 x 1024 video + 256 pose + 2 EMG) for one action's training split;
3. inference cost per test sample with cached exemplar features (CoRe, 3 voters) versus re-running I3D on the
   query's and the exemplars' clips as the CoRe code does, and the ratio;
4. a small variant table: ρ / R-ℓ2 (x100) mean ± std over 3 seeds of each head and Table-4 variant on
   ``make_feature_set`` features. These features are synthetic projections of error masks, so the numbers
   check the pipeline, not the paper.

Usage: ``python benchmarks/bench_models.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from flexaqa._io import atomic_write_text
from flexaqa.models import CORE_CLIP_STARTS, create_model
from flexaqa.models.synthetic import make_feature_set, split_feature_set
from flexaqa.train import load_config
from flexaqa.train.trainer import evaluate, fit

OUT = Path(__file__).parent / "results"


def format_table(headers, rows) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def timed(fn, repeat: int = 3) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


@torch.no_grad()
def encoder_costs(quick: bool) -> list[dict]:
    rows = []
    cases = [
        ("i3d", (1, 3, 16, 224, 224), "one 16-frame clip"),
        ("small3d", (1, 3, 16, 112, 112), "one 16-frame clip at 112²"),
        ("stgcn", (1, 3, 103, 25, 1), "103 frames, one person"),
        ("resnet50", (1, 3, 224, 224), "one frame"),
        ("emg_envelope", (1, 4, 200), "4 channels x 200 steps"),
    ]
    for name, shape, what in cases:
        model = create_model(name).eval()
        x = torch.randn(*shape)
        sec = timed(lambda m=model, x=x: m(x), repeat=1 if quick else 3)
        rows.append(
            {
                "model": name,
                "input": what,
                "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
                "ms": 1000 * sec,
            }
        )
    return rows


def full_width_set(n: int, seed: int):
    return make_feature_set("A01", n, seed=seed, video_dim=1024, pose_dim=256, emg_dim=2)


def head_costs(quick: bool) -> list[dict]:
    train, val, test = split_feature_set(full_width_set(200, 0), (0.7, 0.1, 0.2))
    rows = []
    for name in ("core_gart", "usdl", "error_aware"):
        cfg = load_config(overrides=[f"model={name}", "epochs=2", "batch_size=2", "progress=false"])
        t = time.perf_counter()
        result = fit(cfg, train, val)
        per_epoch = (time.perf_counter() - t) / cfg.epochs
        model = result.model
        one = {k: torch.as_tensor(v[:1]) for k, v in test.items()}
        with torch.no_grad():
            infer = timed(lambda m=model, b=one: m(b), repeat=5)
        rows.append(
            {
                "model": name,
                "train_samples": len(train["score"]),
                "sec_per_epoch": per_epoch,
                "infer_ms_per_sample": 1000 * infer,
            }
        )
    return rows


def variant_table(quick: bool) -> list[dict]:
    seeds = (0, 1, 2)
    epochs = 15 if quick else 40
    rows = []
    for model in ("core_gart_tiny", "usdl_tiny", "error_aware_tiny"):
        for variant in ("sv", "mv", "mv+pose", "mv+pose+emg", "pose"):
            rhos, rl2s = [], []
            t = time.perf_counter()
            for seed in seeds:
                data = make_feature_set("A01", 150, seed=100 + seed, visible=0.35)
                train, val, test = split_feature_set(data, seed=seed)
                cfg = load_config(
                    overrides=[
                        f"model={model}",
                        f"model_args.variant={variant}",
                        f"epochs={epochs}",
                        "batch_size=8",
                        "lr=3e-3",
                        f"seed={seed}",
                        "progress=false",
                    ]
                )
                m = evaluate(fit(cfg, train, val).model, test)
                rhos.append(m["spearman"])
                rl2s.append(m["rl2"])
            rows.append(
                {
                    "model": model,
                    "variant": variant,
                    "rho_mean": float(np.mean(rhos)),
                    "rho_std": float(np.std(rhos)),
                    "rl2_mean": float(np.mean(rl2s)),
                    "rl2_std": float(np.std(rl2s)),
                    "sec": time.perf_counter() - t,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and epochs")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: stable on shared machines)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    started = time.perf_counter()
    enc = encoder_costs(args.quick)
    heads = head_costs(args.quick)
    i3d_clip_ms = next(r["ms"] for r in enc if r["model"] == "i3d")
    core_ms = next(r["infer_ms_per_sample"] for r in heads if r["model"] == "core_gart")
    voters, clips = 3, len(CORE_CLIP_STARTS)
    # CoRe's test path runs I3D on the query and on every voter exemplar, each 10 clips; FLEX has 2 views.
    rerun_clips = (1 + voters) * clips * 2
    inference = {
        "voters": voters,
        "views": 2,
        "i3d_clip_passes_rerun": rerun_clips,
        "rerun_ms": rerun_clips * i3d_clip_ms + core_ms,
        "cached_ms": clips * 2 * i3d_clip_ms + core_ms,
        "head_only_ms": core_ms,
    }
    inference["speedup_cached_vs_rerun"] = inference["rerun_ms"] / inference["cached_ms"]
    table = variant_table(args.quick)
    result = {
        "hardware": {
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "quick": args.quick,
        "encoders": enc,
        "heads": heads,
        "inference": inference,
        "variants": table,
        "wall_s": time.perf_counter() - started,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "bench_models.json", json.dumps(result, indent=1))
    md = [
        "# bench_models",
        "",
        f"CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
        f"wall {result['wall_s']:.0f} s{' (quick)' if args.quick else ''}.",
        "",
        "## Encoders (one forward)",
        "",
    ]
    md.append(
        format_table(
            ["model", "input", "params (M)", "ms"],
            [(r["model"], r["input"], f"{r['params_M']:.2f}", f"{r['ms']:.1f}") for r in enc],
        )
    )
    md += ["", "## Heads on cached features (A01, full widths)", ""]
    md.append(
        format_table(
            ["model", "train samples", "s / epoch", "ms / test sample"],
            [
                (
                    r["model"],
                    r["train_samples"],
                    f"{r['sec_per_epoch']:.2f}",
                    f"{r['infer_ms_per_sample']:.2f}",
                )
                for r in heads
            ],
        )
    )
    md += [
        "",
        "## Inference per test sample (CoRe, 3 voters, 2 views)",
        "",
        f"- re-running I3D on query + exemplars: {rerun_clips} clip passes, {inference['rerun_ms']:.0f} ms",
        f"- exemplar features cached (query still encoded): {inference['cached_ms']:.0f} ms",
        f"- head only (all features cached): {core_ms:.2f} ms",
        f"- speed-up cached vs re-run: {inference['speedup_cached_vs_rerun']:.1f}x",
        "",
        "## Variants on synthetic features (mean ± std over 3 seeds; not the paper's data)",
        "",
    ]
    md.append(
        format_table(
            ["model", "variant", "ρ", "R-ℓ2 (x100)"],
            [
                (
                    r["model"],
                    r["variant"],
                    f"{r['rho_mean']:.3f} ± {r['rho_std']:.3f}",
                    f"{r['rl2_mean']:.3f} ± {r['rl2_std']:.3f}",
                )
                for r in table
            ],
        )
    )
    atomic_write_text(OUT / "bench_models.md", "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
