"""Knowledge-graph load time and scoring throughput; CLI start-up time of `flexaqa score`.

Writes benchmarks/results/kg.json.
"""

from __future__ import annotations

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
    cli = best_of(
        lambda: subprocess.run([sys.executable, "-m", "flexaqa", "score", "A01", "ET001"], check=True,
                               capture_output=True),
        repeat=3,
    )  # fmt: skip
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "kg_load_and_validate_ms": round(load_s * 1e3, 2),
        "score_with_breakdown_us": round(score_s * 1e6, 2),
        "score_from_mask_batched_ns_per_sample": round(mask_s * 1e9, 1),
        "cli_score_wall_ms": round(cli * 1e3, 1),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
