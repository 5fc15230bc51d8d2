"""Data-loading throughput of flexaqa's datasets, in samples per second, in one run:

(a) pose + sEMG only; (b) 2 views x 103 frames at 224x224 decoded from H.264 mp4 (native layout);
(c) the same samples from a feature cache (no decoding); (d) the same 2 x 103 frames decoded from 103-JPEG
folders with PIL (the official release layout), and the ratio (b) / (d). (b) and (d) are measured with float32
output in [0, 1] and with raw uint8 output (decoding only).

Synthetic trials: a panning textured background + moving block, ``--width x --height`` at 120 fps, repetitions of
``--rep-len`` seconds (FLEX's mean is 233.76 frames = 1.95 s). Writes ``benchmarks/results/data_loading.json``
and ``.md``.

    .venv/bin/python benchmarks/bench_data.py            # ~2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_text
from flexaqa.data import View
from flexaqa.data.base import open_dataset
from flexaqa.data.cache import build_feature_cache
from flexaqa.data.native import finalize_dataset, write_trial
from flexaqa.data.release import ReleaseWriter
from flexaqa.data.synthetic import tiny_trial

RESULTS = Path(__file__).resolve().parent / "results"


def textured_frames(n: int, h: int, w: int, seed: int) -> np.ndarray:
    """``(n, h, w, 3)`` uint8: a window panning 1 px per frame over a random texture (so inter frames carry
    motion and residuals, like a hand-held or tracking shot) with a bright block sweeping across it."""
    rng = np.random.default_rng(seed)
    W = w + n + 8
    small = rng.integers(0, 255, size=(h // 8 + 1, W // 8 + 1, 3)).astype(np.uint8)
    tex = np.repeat(np.repeat(small, 8, 0), 8, 1)[:h, :W]
    tex = (tex.astype(np.int16) + rng.integers(-6, 7, size=tex.shape)).clip(0, 255).astype(np.uint8)
    out = np.empty((n, h, w, 3), np.uint8)
    side = h // 4
    for i in range(n):
        out[i] = tex[:, i : i + w]
        x0 = int((i * 3) % max(w - side, 1))
        out[i, h // 3 : h // 3 + side, x0 : x0 + side] = 255
    return out


def make_data(root: Path, *, subjects, actions, reps, rep_len, h, w) -> None:
    views = (View("View-1", 120.0, w, h), View("View-2", 120.0, w, h))
    rel = ReleaseWriter(root / "release", views=("View-1", "View-2"))
    for k, (s, a) in enumerate((s, a) for s in subjects for a in actions):
        t = tiny_trial(s, a, reps=reps, rep_len=rep_len, views=(View("View-1", 120.0, 32, 32),))
        n = len(t.frames["View-1"])
        t.views = views
        t.frames = {v.name: textured_frames(n, h, w, seed=10 * k + j) for j, v in enumerate(views)}
        write_trial(root / "native", t, crf=23)
        rel.add_trial(t)
    finalize_dataset(root / "native", name="bench")
    rel.close()


def throughput(runs: dict, passes: int) -> dict[str, tuple[float, int]]:
    """Samples per second of each dataset in ``runs``, timed interleaved (sample i of every path, then sample
    i + 1, ...) so that all paths see the same machine load."""
    spent = dict.fromkeys(runs, 0.0)
    count = dict.fromkeys(runs, 0)
    for _ in range(passes):
        for i in range(min(len(ds) for ds in runs.values())):
            for name, ds in runs.items():
                t = time.perf_counter()
                ds[i]
                spent[name] += time.perf_counter() - t
                count[name] += 1
    return {name: (count[name] / spent[name], count[name]) for name in runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--rep-len", type=float, default=1.95)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "data_loading"))
    ap.add_argument("--keep", help="write the synthetic data here and keep it")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from flexaqa.data.datasets import FlexSampleDataset

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="flexaqa-bench-"))
    try:
        t0 = time.perf_counter()
        make_data(
            tmp,
            subjects=("P01", "N01"),
            actions=("squat", "deadlift"),
            reps=args.reps,
            rep_len=args.rep_len,
            h=args.height,
            w=args.width,
        )
        t_make = time.perf_counter() - t0
        native = open_dataset(tmp / "native")
        release = open_dataset(tmp / "release")
        # (d) is the reference: PIL, one file after another (bench_decode.py times the fast JPEG decoders)
        release.jpeg_decoder, release.read_threads = "pil", 1
        views = ("View-1", "View-2")
        common = dict(views=views, frames="core", size=(224, 224))
        rng = np.random.default_rng(0)
        proj = rng.standard_normal((3 * 16 * 16, 1024)).astype(np.float32)

        def extractor(frames):  # (103, 224, 224, 3) -> (10, 1024): a stand-in for I3D clip features
            x = frames[:, ::14, ::14].reshape(103, -1).astype(np.float32) / 255.0
            clips = np.stack([x[s : s + 16].mean(0) for s in (0, 10, 20, 30, 40, 50, 60, 70, 80, 87)])
            return clips @ proj[: clips.shape[1]]

        t0 = time.perf_counter()
        cache = build_feature_cache(
            native,
            extractor,
            name="bench-proj",
            num_frames=103,
            size=(224, 224),
            views=views,
            root=tmp / "features",
            progress=False,
        )
        t_cache = time.perf_counter() - t0
        runs = {
            "a_pose_emg": FlexSampleDataset(native, modalities=("pose", "emg"), **common),
            "b_video_mp4": FlexSampleDataset(native, modalities=("video",), **common),
            "b_video_mp4_uint8": FlexSampleDataset(
                native, modalities=("video",), video_dtype="uint8", **common
            ),
            "c_cached_features": FlexSampleDataset(
                native, modalities=("video", "pose", "emg"), features=cache, **common
            ),
            "d_video_jpeg_pil": FlexSampleDataset(release, modalities=("video",), **common),
            "d_video_jpeg_pil_uint8": FlexSampleDataset(
                release, modalities=("video",), video_dtype="uint8", **common
            ),
        }
        for ds in runs.values():  # warm the page cache and lazy imports
            ds[0]
        results = {}
        for name, (sps, n) in throughput(runs, args.passes).items():
            results[name] = {"samples_per_s": round(sps, 2), "samples_timed": n}
            print(f"{name:>24}: {sps:8.2f} samples/s ({n} samples)")
        ratio = results["b_video_mp4"]["samples_per_s"] / results["d_video_jpeg_pil"]["samples_per_s"]
        ratio_u8 = (
            results["b_video_mp4_uint8"]["samples_per_s"] / results["d_video_jpeg_pil_uint8"]["samples_per_s"]
        )
        doc = {
            "benchmark": "flexaqa data loading",
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "settings": {
                "source_resolution": f"{args.width}x{args.height}",
                "fps": 120,
                "rep_len_s": args.rep_len,
                "samples": len(native),
                "passes": args.passes,
                "views": list(views),
                "frames": "CoRe 103 (10 x 16 clips)",
                "size": [224, 224],
                "torch_threads": 1,
                "jpeg_quality": 90,
                "h264_crf": 23,
            },
            "results": results,
            "mp4_over_jpeg_ratio": round(ratio, 3),
            "mp4_over_jpeg_ratio_uint8": round(ratio_u8, 3),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "cache_build_s": round(t_cache, 2),
            "data_generation_s": round(t_make, 2),
            "bytes_on_disk": {
                "native_video_mp4": sum(p.stat().st_size for p in (tmp / "native").rglob("*.mp4")),
                "release_jpeg": sum(p.stat().st_size for p in (tmp / "release").rglob("*.JPG")),
            },
        }
        print(f"mp4 / JPEG throughput ratio: {ratio:.2f} (float32 output), {ratio_u8:.2f} (uint8 output)")
        out = Path(args.out)
        atomic_write_text(out.with_suffix(".json"), json.dumps(doc, indent=1) + "\n")
        lines = [
            "# flexaqa data-loading benchmark",
            "",
            f"{doc['machine']['cpus']} CPUs, Python {doc['machine']['python']}; {len(native)} synthetic samples of "
            f"{args.rep_len} s at {args.width}x{args.height}, 120 fps; 2 views x 103 frames resized to 224x224; "
            f"{args.passes} passes, one process, torch 1 thread.",
            "",
            "| path | samples/s |",
            "|---|---:|",
            *(f"| {k} | {v['samples_per_s']} |" for k, v in results.items()),
            "",
            f"mp4 (PyAV) / JPEG folders (PIL) ratio: **{ratio:.2f}** with float32 output, **{ratio_u8:.2f}** with uint8 "
            "output (decoding only; normalise on the GPU).",
            "",
            f"Load average after the run: {doc['load_average_after']} (a shared machine: absolute numbers are "
            "pessimistic; the paths are timed interleaved, sample by sample, so the ratio compares like with like).",
            "",
            f"Disk: mp4 {doc['bytes_on_disk']['native_video_mp4'] / 1e6:.1f} MB (whole trials, every frame) vs "
            f"JPEG {doc['bytes_on_disk']['release_jpeg'] / 1e6:.1f} MB (103 frames per sample).",
            "",
        ]
        atomic_write_text(out.with_suffix(".md"), "\n".join(lines))
        print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
