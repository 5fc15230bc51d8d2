"""Knowledge-graph load time and scoring throughput; CLI start-up of `flexaqa score` and `flexaqa kg list`.

The CLI wall times are compared, in the same run, with the start of a bare Python interpreter (the reference: the
part flexaqa cannot change); the heavy modules a `score` imports (must be none) and its peak memory are recorded.
Writes benchmarks/results/kg.json.
"""

from __future__ import annotations

import ast
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from flexaqa.kg import load_kg_file, score, score_from_mask
from flexaqa.kg._load import default_path

OUT = Path(__file__).resolve().parent / "results" / "kg.json"
HEAVY = ("scipy", "torch", "matplotlib", "av", "mediapipe", "pandas", "sqlalchemy", "ray", "fastapi", "cv2")
PROBE = (  # run one command in a fresh interpreter; report the heavy modules it imported and its peak RSS
    "import resource, sys\nfrom flexaqa.cli import main\nmain(sys.argv[1:])\n"
    f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])\n"
    "print('RSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    kg = load_kg_file(default_path())
    load_s = best_of(lambda: load_kg_file(default_path()))
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(2000):
        a = kg.actions[rng.integers(len(kg.actions))]
        k = rng.integers(0, 6)
        cases.append((a, [s.id for s in rng.choice(np.array(a.slots, dtype=object), size=k, replace=False)]))
    score_s = best_of(lambda: [score(a, e, kg=kg) for a, e in cases], repeat=3) / len(cases)
    squat = kg.action("squat")
    masks = rng.random((100_000, len(squat.slots)))
    mask_s = best_of(lambda: score_from_mask(squat, masks), repeat=3) / len(masks)

    def wall(*argv: str) -> float:
        return best_of(
            lambda: subprocess.run([sys.executable, *argv], check=True, capture_output=True), repeat=5
        )

    python_s = wall("-c", "pass")
    cli = wall("-m", "flexaqa", "score", "A01", "ET001")
    kg_list = wall("-m", "flexaqa", "kg", "list")
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, "score", "A01", "ET001"], check=True, capture_output=True, text=True
    ).stdout
    heavy = ast.literal_eval(probe.split("HEAVY ", 1)[1].splitlines()[0])
    rss_mib = int(probe.split("RSS_KIB ", 1)[1].split()[0]) / 1024
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "kg_load_and_validate_ms": round(load_s * 1e3, 2),
        "score_with_breakdown_us": round(score_s * 1e6, 2),
        "score_from_mask_batched_ns_per_sample": round(mask_s * 1e9, 1),
        "python_startup_wall_ms": round(python_s * 1e3, 1),
        "cli_score_wall_ms": round(cli * 1e3, 1),
        "cli_score_over_python_startup_ms": round((cli - python_s) * 1e3, 1),
        "cli_kg_list_wall_ms": round(kg_list * 1e3, 1),
        "cli_score_peak_rss_mib": round(rss_mib, 1),
        "cli_score_heavy_modules": heavy,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
