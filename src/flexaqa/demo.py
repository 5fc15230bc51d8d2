"""The end-to-end demo behind ``make demo`` and ``flexaqa demo``. It grows with each capability."""

from __future__ import annotations

from pathlib import Path

from flexaqa import __version__


def _section(title: str) -> None:
    print(f"\n=== {title} ===")


def run_demo(out: str | Path = "runs/demo") -> Path:
    from flexaqa.kg import load_kg, score
    from flexaqa.kg._cli import format_score
    from flexaqa.kg.draw import draw_action
    from flexaqa.kg.export import write_export
    from flexaqa.testing import FIGURE6_EXAMPLE

    out = Path(out)
    kg = load_kg()
    print(f"flexaqa {__version__}: FLEX Fitness Knowledge Graph {kg.version}")
    n_slots = sum(len(a.slots) for a in kg.actions)
    print(
        f"{len(kg.actions)} actions, {len(kg.keysteps)} keysteps, {len(kg.errors)} error types, {n_slots} slots"
    )

    _section("Paper Figure 6: a barbell overhead press with six errors")
    action, errors, expected = FIGURE6_EXAMPLE
    result = score(action, errors, kg=kg)
    print(format_score(result))
    print(f"(the paper reports {expected:.2f})")

    _section("A flawless squat and one with caving knees and a shallow descent")
    for errs in ([], ["ET056", "ET039"]):
        r = score("squat", errs, kg=kg)
        print(f"squat {errs or 'no errors'}: {r.score:.2f}")

    _section("Outputs")
    png = draw_action(kg, kg.action("squat"), out / "squat_fkg.png")
    js = write_export(kg, "jsonld", out / "fkg.jsonld")
    gml = write_export(kg, "graphml", out / "fkg.graphml")
    for p in (png, js, gml):
        print(f"wrote {p}")
    return out
