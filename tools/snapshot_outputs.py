"""Snapshot the outputs of the demo, ``bench aqa --quick`` and the coach, to compare two versions of the code.

Runs, in a temporary folder and in fresh processes of this checkout (``src/`` first on ``PYTHONPATH``):

1. ``flexaqa demo``: the synthetic FLEX dataset (``flexaqa synth``), ``data validate``/``stats``, sEMG bursts,
   ``bench aqa --quick`` on that dataset, the coach on the demo's simulated squat set and ``vqa build``;
2. ``flexaqa train --model error_aware --variant pose`` on the demo's dataset and the coach on the demo's
   simulated set with and without that run (``analyse_pose(..., run=RUN)``).

Every output file is then written under OUT: JSON (``.json``, ``.jsonl``, ``.jsonld``) normalised (timings and
load averages dropped, the temporary folder replaced by ``<OUT>``, keys sorted), other text files with the
folder replaced and the timing lines of ``aqa.md`` dropped, and binary files (arrays, videos, figures,
checkpoints) as one sha256 each in ``binary.sha256.json``. Two snapshots compare with ``diff -r``::

    python tools/snapshot_outputs.py /tmp/before    # on the old code
    python tools/snapshot_outputs.py /tmp/after     # on the new code
    diff -r /tmp/before /tmp/after
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JSON_SUFFIXES = {".json", ".jsonl", ".jsonld"}
TEXT_SUFFIXES = {".md", ".csv", ".html", ".txt", ".yaml", ".yml"}
# keys whose values are measurements of this machine, not outputs of the code
TIMING_KEY = re.compile(
    r"(_s|_ms|_ms_per_sample|_seconds|_wall|_hours|_s_per_action_epoch|_cached)$|^(load_average|wall|time|ratio_)"
)
TIMING_LINE = re.compile(r"^(Wall time|Cost:|CoRe inference)")

COACH_SCRIPT = """
import json, sys
from flexaqa.coach import analyse_pose, synthetic_set
from flexaqa.coach.html import render_html

out, run = sys.argv[1], sys.argv[2]
errors = [(), ("AK44:ET056",), ("AK44:ET039", "AK44:ET005")]
s = synthetic_set("squat", n_reps=3, errors=errors)
for name, kw in (("rules", {}), ("front", {"view": "front"}), ("with_run", {"view": "front", "run": run})):
    report = analyse_pose(s.pose, "squat", segmenter=s.segmenter, **kw)
    with open(f"{out}/coach_{name}.json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
    with open(f"{out}/coach_{name}.html", "w", encoding="utf-8") as f:
        f.write(render_html(report, s.pose))
"""


def _run(argv: list[str], log: Path, src: Path = ROOT / "src") -> None:
    env = dict(os.environ, PYTHONPATH=str(src) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("PYTHONHASHSEED", "0")
    with log.open("a", encoding="utf-8") as f:
        f.write("$ " + " ".join(argv) + "\n")
        f.flush()
        code = subprocess.call(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed with exit code {code}; see {log}")


def _normalise(obj, tmp: str):
    if isinstance(obj, dict):
        return {k: _normalise(v, tmp) for k, v in sorted(obj.items()) if not TIMING_KEY.search(str(k))}
    if isinstance(obj, list):
        return [_normalise(v, tmp) for v in obj]
    if isinstance(obj, str):
        return obj.replace(tmp, "<OUT>")
    return obj


def _checkpoint(path: Path, tmp: str) -> object:
    """A torch checkpoint as JSON: tensors and arrays as their dtype, shape and sha256, timings dropped."""
    import numpy as np
    import torch

    def walk(x):
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        if isinstance(x, np.ndarray):
            return {
                "dtype": str(x.dtype),
                "shape": list(x.shape),
                "sha256": hashlib.sha256(x.tobytes()).hexdigest(),
            }
        if isinstance(x, dict):
            return {str(k): walk(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [walk(v) for v in x]
        if isinstance(x, bytes):
            return hashlib.sha256(x).hexdigest()
        return x if isinstance(x, str | int | float | bool | type(None)) else repr(x)

    return _normalise(walk(torch.load(path, map_location="cpu", weights_only=False)), tmp)


def _dump(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _text(path: Path, tmp: str) -> str:
    lines = []
    for line in path.read_text(encoding="utf-8").replace(tmp, "<OUT>").splitlines():
        if path.name == "aqa.md":
            if TIMING_LINE.match(line):
                continue
            if line.startswith("|"):  # the table's last column is the fit time
                line = line.rstrip().rstrip("|").rsplit("|", 1)[0] + "|"
        lines.append(line)
    return "\n".join(lines) + "\n"


def collect(tmp: Path, out: Path) -> int:
    """Write the normalised copy of every file under ``tmp`` to ``out``; returns the number of files."""
    hashes: dict[str, str] = {}
    n = 0
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        rel = path.relative_to(tmp).as_posix()
        if rel == "log.txt":
            continue
        n += 1
        target = out / rel
        if path.suffix in JSON_SUFFIXES:
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".jsonl":
                rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
                target.write_text("".join(_dump(_normalise(r, str(tmp))) for r in rows), encoding="utf-8")
            else:
                doc = json.loads(path.read_text(encoding="utf-8"))
                target.write_text(_dump(_normalise(doc, str(tmp))), encoding="utf-8")
        elif path.suffix == ".pt":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.with_suffix(".pt.json").write_text(_dump(_checkpoint(path, str(tmp))), encoding="utf-8")
        elif path.suffix in TEXT_SUFFIXES:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_text(path, str(tmp)), encoding="utf-8")
        else:
            hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    (out / "binary.sha256.json").write_text(_dump(hashes), encoding="utf-8")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder for the normalised snapshot (replaced if it exists)")
    ap.add_argument("--keep", type=Path, help="also keep the raw outputs in this folder")
    ap.add_argument(
        "--src", type=Path, default=ROOT / "src", help="the src/ folder to run (default: this checkout's)"
    )
    args = ap.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="flexaqa-snapshot-") as t:
        tmp = Path(t)
        log = tmp / "log.txt"
        demo = tmp / "demo"
        _run([py, "-m", "flexaqa", "demo", "--out", str(demo)], log, args.src)
        run = tmp / "pose_run"
        _run(
            [
                py,
                "-m",
                "flexaqa",
                "train",
                "--data",
                str(demo / "data"),
                "--out",
                str(run),
                "--epochs",
                "3",
                "--quiet",  # the old spelling: this tool also runs on code from before --no-progress
                "--set",
                "model_args.hidden=16",
                "--model",
                "error_aware",
                "--variant",
                "pose",
                "--action",
                "squat",
            ],
            log,
            args.src,
        )
        coach = tmp / "coach"
        coach.mkdir()
        _run([py, "-c", COACH_SCRIPT, str(coach), str(run)], log, args.src)
        if args.out.exists():
            shutil.rmtree(args.out)
        args.out.mkdir(parents=True)
        n = collect(tmp, args.out)
        if args.keep:
            shutil.copytree(tmp, args.keep, dirs_exist_ok=True)
    print(f"wrote the snapshot of {n} output files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
