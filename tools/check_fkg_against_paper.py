"""Cross-check the shipped FKG against the FLEX paper's text (Tables 8, 9, 10).

Usage: python tools/check_fkg_against_paper.py PATH/TO/FLEX-paper.txt
Prints one line per disagreement and exits 1 if there is any. Merged Table 9 rows (several keysteps in one row)
are compared as the union of their keysteps' errors.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_tables import load

from flexaqa.kg import load_kg


def compare(paper_path: str | Path) -> list[str]:
    paper = load(paper_path)
    kg = load_kg()
    problems = []
    names = [a["name"] for a in paper["table9"]]
    if names != [a.name for a in kg.actions]:
        problems.append(f"action names/order differ: {names}")
    for code, (text, weight) in paper["table10"].items():
        et = kg.errors.get(code)
        if et is None or (et.text, et.weight) != (text, weight):
            problems.append(f"{code}: paper has ({text!r}, {weight}), FKG has {et and (et.text, et.weight)}")
    for pa, action in zip(paper["table9"], kg.actions, strict=False):
        chans = [f"{c.side.capitalize()} {c.muscle}" for c in action.emg_channels]
        if paper["table8"].get(pa["name"]) != chans:
            problems.append(
                f"{action.name}: sEMG channels differ: {paper['table8'].get(pa['name'])} vs {chans}"
            )
        rows = {}
        for r in pa["rows"]:
            for k, text in r["keysteps"]:
                if kg.keysteps[k].text != text:
                    problems.append(f"{k}: keystep text differs")
            rows[tuple(k for k, _ in r["keysteps"])] = (r["phase"], Counter(e for e, _ in r["errors"]))
        for keys, (phase, errs) in rows.items():
            got = Counter(s.error for s in action.slots if s.keystep in keys)
            phases = {action.phase_of(k) for k in keys}
            if got != errs or phases != {phase}:
                problems.append(
                    f"{action.name} {'+'.join(keys)}: paper {dict(errs)} in {phase}, FKG {dict(got)}"
                )
        if len(action.slots) != sum(sum(e.values()) for _, e in rows.values()):
            problems.append(f"{action.name}: slot count differs from the paper")
    return problems


if __name__ == "__main__":
    found = compare(sys.argv[1])
    print("\n".join(found) or "FKG agrees with the paper's Tables 8, 9 and 10.")
    sys.exit(1 if found else 0)
