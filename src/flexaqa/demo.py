"""The end-to-end tour behind ``make demo`` and ``flexaqa demo``, on built-in synthetic data only (offline).

Every step is a real ``flexaqa`` command or public API call, so the tour doubles as a smoke test of the whole
system: knowledge graph → synthetic FLEX → validation and statistics → sEMG → AQA models (Table 4 protocol) →
coach → FLEX-VideoQA. A step whose optional dependency is missing is skipped with the extra to install.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from flexaqa import __version__
from flexaqa._io import atomic_write_text, json_text
from flexaqa.coach import analyse_pose, synthetic_set
from flexaqa.coach.html import render_html
from flexaqa.errors import MissingExtraError
from flexaqa.kg import format_score, load_kg, score
from flexaqa.kg.draw import draw_action
from flexaqa.kg.export import write_export

DEMO_ACTIONS = "squat,flat-barbell-bench-press,dumbbell-biceps-curl"


def _section(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


Cli = Callable[[list[str]], int]  # the flexaqa entry point: argv -> exit code


def _run(cli: Cli, *argv: str) -> None:
    print("$ flexaqa " + " ".join(argv), flush=True)
    _check(cli(list(argv)))


def _step(title: str, fn: Callable[[], None], skipped: list[str]) -> None:
    _section(title)
    t0 = time.perf_counter()
    try:
        fn()
    except (MissingExtraError, ImportError) as exc:
        print(f"skipped: {exc}")
        skipped.append(title)
        return
    print(f"({time.perf_counter() - t0:.1f} s)")


def run_demo(out: str | Path = "runs/demo", *, cli: Cli) -> Path:
    """Run the tour, writing under ``out``; ``cli`` is the ``flexaqa`` entry point (:func:`flexaqa.cli.main`)
    that runs its command steps (passed in: ``cli.py`` registers the demo, so the demo cannot import it)."""
    out = Path(out)
    data = out / "data"
    skipped: list[str] = []
    print(f"flexaqa {__version__}: a tour on built-in synthetic data; outputs go to {out}/")

    _step(
        "1. The Fitness Knowledge Graph and the paper's Figure 6 score",
        lambda: _knowledge_graph(out),
        skipped,
    )
    _step("2. A synthetic FLEX dataset (flexaqa synth)", lambda: _synthesise(cli, data), skipped)
    _step(
        "3. Validate it and compute the paper's statistics",
        lambda: _validate_and_stats(cli, data, out),
        skipped,
    )
    _step("4. sEMG: activation bursts and fatigue of one trial", lambda: _emg(cli, data), skipped)
    _step(
        "5. AQA models on cached features (paper Table 4 protocol, quick)",
        lambda: _aqa(cli, data, out),
        skipped,
    )
    _step("6. The coach on a simulated set with known errors", lambda: _coach(out), skipped)
    _step(
        "7. FLEX-VideoQA: four questions per sample from labels + FKG", lambda: _vqa(cli, data, out), skipped
    )

    _section("Done")
    print(f"outputs under {out}/ (data/, stats/, aqa.md, coach/report.html, qa/, squat_fkg.png, fkg.jsonld)")
    if skipped:
        print("skipped (install the named extra to run them): " + "; ".join(skipped))
    return out


def _knowledge_graph(out: Path) -> None:
    from flexaqa.testing import FIGURE6_EXAMPLE

    kg = load_kg()
    n_slots = sum(len(a.slots) for a in kg.actions)
    print(
        f"FKG {kg.version}: {len(kg.actions)} actions, {len(kg.keysteps)} keysteps, {len(kg.errors)} error types, "
        f"{n_slots} slots"
    )
    action, errors, expected = FIGURE6_EXAMPLE
    print(format_score(score(action, errors, kg=kg)))
    print(f"(the paper reports {expected:.2f})")
    for p in (
        draw_action(kg, kg.action("squat"), out / "squat_fkg.png"),
        write_export(kg, "jsonld", out / "fkg.jsonld"),
    ):
        print(f"wrote {p}")


def _synthesise(cli: Cli, data: Path) -> None:
    if (data / "SYNTHETIC.md").is_file() and (data / "manifest.csv").is_file():
        print(f"reusing the synthetic dataset in {data} (delete it to regenerate)")
        return
    args = [
        "synth",
        "--out",
        str(data),
        "--subjects",
        "3",
        "--actions",
        DEMO_ACTIONS,
        "--views",
        "View-1,View-2",
    ]
    _run(cli, *args, "--size", "160x120", "--seed", "0", "--no-progress")


def _validate_and_stats(cli: Cli, data: Path, out: Path) -> None:
    _run(cli, "data", "validate", str(data), "--no-progress")
    _run(cli, "data", "stats", str(data), "--out", str(out / "stats"))


def _emg(cli: Cli, data: Path) -> None:
    trial = sorted((data / "trials").glob("*-A16"))[0]
    # the quadriceps stay partly active through a continuous set of squats: tell the detector so
    emg = str(trial / "emg.npy")
    _run(
        cli,
        "emg",
        "bursts",
        emg,
        "--fs",
        "2000",
        "--channel",
        "0",
        "--quiet-percent",
        "10",
        "--min-fraction",
        "0.25",
    )


def _aqa(cli: Cli, data: Path, out: Path) -> None:
    _run(
        cli,
        "bench",
        "aqa",
        "--data",
        str(data),
        "--quick",
        "--no-i3d-timing",
        "--no-progress",
        "--out",
        str(out / "aqa"),
    )


def _coach(out: Path) -> None:
    errors = [(), ("AK44:ET056",), ("AK44:ET039", "AK44:ET005")]
    s = synthetic_set("squat", n_reps=3, errors=errors)
    report = analyse_pose(s.pose, "squat", segmenter=s.segmenter)
    for rep, truth in zip(report["repetitions"], errors, strict=True):
        print(
            f"rep {rep['index'] + 1}: score {rep['score']:.2f}, detected {rep['detected'] or 'none'} "
            f"(simulated: {list(truth) or 'none'})"
        )
    cov = report["coverage"]
    print(
        f"assessed {cov['assessed_weight']} of {cov['total_weight']} weight ({cov['share']:.0%}); the rest "
        "(grip, breathing, lumbar curve...) is listed as not assessed, never as absent"
    )
    for f in report["feedback"]["fix"]:
        print(f"  fix [{f['slot']}, w {f['weight']}]: {f['cue']}")
    (out / "coach").mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "coach" / "report.json", json_text(report, indent=2, ensure_ascii=False))
    print(f"wrote {atomic_write_text(out / 'coach' / 'report.html', render_html(report, s.pose))}")


def _vqa(cli: Cli, data: Path, out: Path) -> None:
    qa = out / "qa"
    _run(cli, "vqa", "build", "--data", str(data), "--out", str(qa))
    first = [json.loads(line) for line in (qa / "qa_test.jsonl").read_text(encoding="utf-8").splitlines()[:4]]
    for q in first:
        print(f"Q: {q['question']}\nA: {q['answer'][:300]}{'…' if len(q['answer']) > 300 else ''}")


def _check(code: int) -> None:
    if code != 0:
        raise SystemExit(f"demo step failed with exit code {code}")
