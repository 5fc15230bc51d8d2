"""A small mutation check: change one line of a module, run the tests that cover it, count the mutants they kill.

Each mutant flips one operator, keyword or constant on one line of code (``<`` -> ``<=``, ``and`` -> ``or``,
``True`` -> ``False``, ``0`` -> ``1``, ``+`` -> ``-``, ``not x`` -> ``x``, ...); a mutant that does not compile is
not counted. The module is mutated in a copy of ``src/`` (the working tree is never touched) and the tests run
against that copy with ``pytest -x``. A mutant is *killed* when the tests fail (or run past ``--timeout``),
*survives* when they pass. Mutants are drawn at random (``--seed``) from every candidate, ``--max`` per module.

Usage::

    python tools/mutation_check.py src/flexaqa/coach/analyse.py --tests tests/test_coach_report.py --max 30
    python tools/mutation_check.py MODULE [MODULE ...] --tests TEST [TEST ...] [--json out.json]

Prints one line per mutant (``killed``/``SURVIVED``, file:line, the change) and the kill rate per module.
Not part of the package: a developer's tool, slow (one test run per mutant).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from dataclasses import asdict, dataclass
from pathlib import Path

# one token -> what it becomes in its mutant (one mutant per alternative)
SWAPS: dict[str, tuple[str, ...]] = {
    "<": ("<=",),
    "<=": ("<",),
    ">": (">=",),
    ">=": (">",),
    "==": ("!=",),
    "!=": ("==",),
    "+": ("-",),
    "-": ("+",),
    "*": ("/",),
    "/": ("*",),
    "//": ("/",),
    "%": ("//",),
    "and": ("or",),
    "or": ("and",),
    "True": ("False",),
    "False": ("True",),
    "is": ("is not",),
    "in": ("not in",),
    "min": ("max",),
    "max": ("min",),
    "any": ("all",),
    "all": ("any",),
    "break": ("continue",),
    "continue": ("break",),
}


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the source root
    line: int  # 1-based
    col: int
    old: str
    new: str

    def apply(self, text: str) -> str:
        lines = text.splitlines(keepends=True)
        row = lines[self.line - 1]
        if row[self.col : self.col + len(self.old)] != self.old:
            raise ValueError(f"{self.path}:{self.line}: expected {self.old!r} at column {self.col}")
        lines[self.line - 1] = row[: self.col] + self.new + row[self.col + len(self.old) :]
        return "".join(lines)


def candidates(path: str, text: str) -> list[Mutant]:
    """Every single-token mutant of ``text`` that still compiles (strings, comments and docstrings are left)."""
    out: list[Mutant] = []
    lines = text.splitlines(keepends=True)
    toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    for k, tok in enumerate(toks):
        (row, col), s = tok.start, tok.string
        prev = toks[k - 1].string if k else ""
        changes: list[tuple[str, str]] = []  # (old, new)
        if tok.type in (tokenize.OP, tokenize.NAME) and s in SWAPS:
            if s in ("-", "+") and prev in ("(", "[", ",", "=", "return", ":"):
                continue  # a sign, not an operator: the NUMBER rule covers it
            if (s == "in" and prev == "for") or (s in ("is", "in") and prev == "not"):
                continue
            nxt = toks[k + 1].string if k + 1 < len(toks) else ""
            if s in ("*", "/") and (prev in ("(", ",") or nxt in (",", ")")):
                continue  # a keyword-only or positional-only marker in a signature, not an operator
            changes = [(s, new) for new in SWAPS[s]]
        elif tok.type == tokenize.NAME and s == "not" and lines[row - 1][col : col + 4] == "not ":
            changes = [("not ", "")]
        elif tok.type == tokenize.NUMBER and s.isdigit():
            changes = [(s, str(int(s) + 1))]
        elif tok.type == tokenize.NUMBER and s.replace(".", "", 1).isdigit():
            changes = [(s, repr(float(s) * 2) if float(s) else "1.0")]
        for old, new in changes:
            m = Mutant(path, row, col, old, new)
            try:
                compile(m.apply(text), path, "exec")
            except SyntaxError:
                continue
            out.append(m)
    return out


def run_tests(src: Path, tests: list[str], timeout: float) -> tuple[bool, float]:
    """``True`` when the tests fail against ``src`` (the mutant is killed)."""
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
    t0 = time.perf_counter()
    try:
        rc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return True, time.perf_counter() - t0
    if rc not in (0, 1):  # 2..5: the run itself broke (collection error, usage): a mutant that breaks import
        return True, time.perf_counter() - t0
    return rc != 0, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="+", help="source files under src/ to mutate")
    ap.add_argument(
        "--tests", nargs="+", required=True, help="test files (or node ids) to run on each mutant"
    )
    ap.add_argument("--max", type=int, default=30, help="mutants drawn per module (default 30)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    ap.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per test run; longer counts as killed"
    )
    ap.add_argument("--src", default="src", help="the source root the modules are under (default src)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)

    root = Path(args.src).resolve()
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        clean, _ = run_tests(copy, args.tests, args.timeout)
        if clean:
            print("the tests fail without any mutant: fix them first", file=sys.stderr)
            return 2
        results: dict = {}
        for module in args.modules:
            rel = str(Path(module).resolve().relative_to(root))
            target = copy / rel
            text = target.read_text()
            pool = candidates(rel, text)
            picked = sorted(
                random.Random(args.seed).sample(pool, min(args.max, len(pool))), key=lambda m: m.line
            )
            rows = []
            try:
                for m in picked:
                    target.write_text(m.apply(text))
                    killed, secs = run_tests(copy, args.tests, args.timeout)
                    rows.append({**asdict(m), "killed": killed, "seconds": round(secs, 1)})
                    word = "killed  " if killed else "SURVIVED"
                    print(f"{word} {rel}:{m.line}  {m.old.strip()!r} -> {m.new.strip()!r}", flush=True)
            finally:
                target.write_text(text)
            n_killed = sum(r["killed"] for r in rows)
            rate = n_killed / len(rows) if rows else float("nan")
            results[rel] = {"candidates": len(pool), "mutants": len(rows), "killed": n_killed, "rate": rate}
            results[rel]["survivors"] = [r for r in rows if not r["killed"]]
            print(f"== {rel}: killed {n_killed}/{len(rows)} ({100 * rate:.0f}%) of {len(pool)} candidates")
    total = sum(r["mutants"] for r in results.values())
    killed = sum(r["killed"] for r in results.values())
    print(f"== total: killed {killed}/{total} ({100 * killed / max(total, 1):.0f}%)")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"tests": args.tests, "seed": args.seed, "modules": results}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
