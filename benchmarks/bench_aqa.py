"""Paper Table 4 protocol on the mini synthetic dataset with cached features (``flexaqa bench aqa``).

Simulates the mini dataset (3 subjects x 20 actions x 10 reps, 3 views of video) into a temporary folder unless
``--data`` names one, then runs every variant (SV, MV, MV+Pose, MV+Pose+EMG, Pose, Pose+EMG, USDL, error-aware)
x 3 seeds x 20 actions and writes ``benchmarks/results/aqa.json`` and ``aqa.md`` (``aqa_quick.*`` with
``--quick``). Target: under 30 minutes on 2 cores.

    .venv/bin/python benchmarks/bench_aqa.py                 # full protocol, ~20 minutes on 2 cores
    .venv/bin/python benchmarks/bench_aqa.py --quick         # 1 seed, 3 actions, ~1 minute
    .venv/bin/python benchmarks/bench_aqa.py --data DIR      # an existing dataset (native or release layout)
    .venv/bin/python benchmarks/bench_aqa.py --pose keysteps # coach-rule margins as the pose feature (aqa_keysteps.*)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from flexaqa.cli import main as flexaqa

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="existing dataset folder (default: simulate the mini dataset)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--pose", default="stats", help="pose feature (results go to aqa_<pose>.md unless stats)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = str(Path(tmp) / "mini")
            t0 = time.perf_counter()
            rc = flexaqa(["synth", "--out", data, "--scale", "mini", "--workers", "2", "--no-progress"])
            if rc:
                return rc
            print(f"simulated the mini dataset in {time.perf_counter() - t0:.0f} s")
        stem = "aqa" if args.pose == "stats" else "aqa_" + args.pose.replace("+", "_")
        out = RESULTS / (stem + "_quick" if args.quick else stem)
        cmd = [
            "bench",
            "aqa",
            "--data",
            data,
            "--out",
            str(out),
            "--epochs",
            str(args.epochs),
            "--pose",
            args.pose,
        ]
        return flexaqa(cmd + ["--quick"] * args.quick)


if __name__ == "__main__":
    raise SystemExit(main())
