"""Speed of the FLEX simulator (``flexaqa synth``), in one run:

(a) the default mini dataset (3 subjects x 20 actions x 10 reps, video: 3 views at 128x96, 10/5 fps) as used by
the demo and tests - target under 2 minutes on 2 cores; (b) the full 38-subject roster with pose, sEMG and
physiology but no video - target under 10 minutes. Reports wall time, frames rendered per second, MB written
and the dataset statistics next to FLEX's. Writes ``benchmarks/results/synth.json`` and ``synth.md``.

    .venv/bin/python benchmarks/bench_synth.py              # both, ~4 minutes on 2 cores
    .venv/bin/python benchmarks/bench_synth.py --only mini
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

from flexaqa._io import atomic_write_text
from flexaqa.synth import config_for_scale, generate

RESULTS = Path(__file__).resolve().parent / "results"
FLEX = {"n_samples": 7512, "score_mean": 68.15, "duration_frames_mean": 233.76}


def run(name: str, cfg) -> dict:
    t0 = time.perf_counter()
    s = generate(cfg, progress=True)
    wall = time.perf_counter() - t0
    return {
        "name": name,
        "wall_s": round(wall, 1),
        "workers": cfg.workers,
        "video": cfg.video,
        "views": list(cfg.views) if cfg.video else [],
        "size": list(cfg.size),
        "fps": cfg.fps,
        "trials": s["n_trials"],
        "samples": s["n_samples"],
        "dropped": s["n_dropped"],
        "frames_rendered": s["frames_rendered"],
        "frames_per_s_wall": round(s["frames_rendered"] / wall, 1) if cfg.video else None,
        "frames_per_s_cpu": round(s["frames_rendered"] / max(s["render_s"], 1e-9), 1) if cfg.video else None,
        "mb_written": round(s["bytes_written"] / 1e6, 1),
        "score_mean": round(s["score_mean"], 2),
        "score_std": round(s["score_std"], 2),
        "score_range": [round(s["score_min"], 1), round(s["score_max"], 1)],
        "duration_frames_mean": round(s["duration_frames_mean"], 1),
        "duration_frames_range": [round(s["duration_frames_min"]), round(s["duration_frames_max"])],
        "top_errors": s["top_errors"][:10],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("mini", "full"))
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    try:
        if args.only in (None, "mini"):
            rows.append(
                run("mini (video)", config_for_scale("mini", str(tmp / "mini"), workers=args.workers))
            )
        if args.only in (None, "full"):
            cfg = config_for_scale("full", str(tmp / "full"), workers=args.workers, video=False)
            rows.append(run("full (no video)", cfg))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "flex_reference": FLEX,
        "runs": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    atomic_write_text(RESULTS / "synth.json", json.dumps(info, indent=1))
    lines = [
        "# flexaqa synth benchmark",
        "",
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (the machine is shared).",
        "",
        "| run | workers | wall s | trials | samples | frames rendered | frames/s (wall) | MB written | "
        "score mean ± std [range] | rep frames mean |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['workers']} | {r['wall_s']} | {r['trials']} | {r['samples']} | "
            f"{r['frames_rendered']} | {r['frames_per_s_wall'] or '-'} | {r['mb_written']} | "
            f"{r['score_mean']} ± {r['score_std']} [{r['score_range'][0]}, {r['score_range'][1]}] | "
            f"{r['duration_frames_mean']} |"
        )
    lines += [
        "",
        f"FLEX (paper): {FLEX['n_samples']} samples, mean score {FLEX['score_mean']}, "
        f"mean repetition {FLEX['duration_frames_mean']} frames at 120 fps.",
        "",
    ]
    atomic_write_text(RESULTS / "synth.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
