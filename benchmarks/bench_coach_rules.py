"""The detection parts of the coach benchmark (pose rules on simulated poses), without the video path.

    .venv/bin/python benchmarks/bench_coach_rules.py [--quick] [--out NAME] [--before PATH]

Runs ``detection_coach_synthetic`` and ``detection_simulator`` of ``benchmarks/bench_coach.py`` and writes
``benchmarks/results/<NAME>.json`` (default ``coach_rules``) and a Markdown table that compares every error type
with ``--before`` (default ``benchmarks/results/coach_rules_before.json``, when it exists).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

from flexaqa._io import atomic_write_text

HERE = Path(__file__).parent
OUT = HERE / "results"
SECTIONS = {
    "detection_coach_synthetic": "SYNTH_SLOTS (synthetic_set, 1 cm jitter + cleaning)",
    "detection_simulator": "flexaqa.synth simulated poses (all assessable slots)",
}


def _bench_coach():
    """``benchmarks/bench_coach.py`` (a script beside this one, not a package module), loaded by path."""
    spec = importlib.util.spec_from_file_location("bench_coach", HERE / "bench_coach.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fmt(t: dict | None) -> str:
    if not t:
        return "-"
    return f"{t['precision']} / {t['recall']} / {t['f1']} ({t['tp']}/{t['fp']}/{t['fn']})"


def to_markdown(res: dict, before: dict | None) -> str:
    """Per-error-type P / R / F1 (tp/fp/fn) before and after, for both detection benchmarks."""
    lines = ["# Coach pose rules: detection on simulated poses", "", f"Machine: {res['machine']}", ""]
    if before:
        lines += [f"Before: {before.get('note', '')}", ""]
    for key, title in SECTIONS.items():
        after = res.get(key) or {}
        if "per_error" not in after:
            continue
        b = (before or {}).get(key) or {"per_error": {}, "total": None}
        lines += [
            f"## {title}",
            "",
            "| error | before P / R / F1 (tp/fp/fn) | after P / R / F1 (tp/fp/fn) |",
            "|---|---|---|",
            f"| **all** | {_fmt(b['total'])} | {_fmt(after['total'])} |",
        ]
        for et in sorted(set(b["per_error"]) | set(after["per_error"])):
            lines.append(f"| {et} | {_fmt(b['per_error'].get(et))} | {_fmt(after['per_error'].get(et))} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 trial / 1 subject instead of 3")
    ap.add_argument("--out", default="coach_rules", help="results file stem under benchmarks/results")
    ap.add_argument("--before", type=Path, default=OUT / "coach_rules_before.json")
    args = ap.parse_args(argv)
    bench_coach = _bench_coach()

    n = 1 if args.quick else 3
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}"}
    t0 = time.perf_counter()
    res["detection_coach_synthetic"] = bench_coach.detection_coach_synthetic(n, noise=0.01)
    res["detection_simulator"] = bench_coach.detection_simulator(n, severity=1.0)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    before = json.loads(args.before.read_text()) if args.before.is_file() else None
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / f"{args.out}.json", json.dumps(res, indent=2))
    md = to_markdown(res, before)
    atomic_write_text(OUT / f"{args.out}.md", md)
    print(md)


if __name__ == "__main__":
    main()
