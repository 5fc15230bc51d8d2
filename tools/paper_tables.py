"""Parse Tables 8, 9 and 10 of the FLEX paper's text into plain Python structures.

Used by ``check_fkg_against_paper.py`` to cross-check the shipped knowledge graph against
the paper. Not part of the package: the paper's text is not shipped.
"""

from __future__ import annotations

import re
from pathlib import Path

PHASES = ("preparation", "concentric", "eccentric")
_AK = re.compile(r"(AK\d{2}):\s*")
_ET = re.compile(r"(ET\d{3}):\s*")


def _strip(cell: str) -> str:
    return re.sub(r"</?b>", "", cell).strip()


def _split_codes(cell: str, pattern: re.Pattern) -> list[tuple[str, str]]:
    parts = pattern.split(cell)
    # parts = [prefix, code1, text1, code2, text2, ...]
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def parse_table9(text: str) -> list[dict]:
    """Actions in table order; each row keeps its raw keystep and error lists (merged rows stay merged)."""
    body = text.split("Table 9: Full list of the FLEX annotation rules.")[1]
    body = body.split("Table 10: Full list")[0]
    actions: list[dict] = []
    phase = None
    for raw in body.splitlines():
        if not raw.strip():
            continue
        cells = [_strip(c) for c in raw.split("\t")]
        cells_nonempty = [c for c in cells if c]
        if "Action Keystep" in cells_nonempty:
            actions.append({"name": cells_nonempty[0], "rows": []})
            phase = None
            continue
        first = cells_nonempty[0]
        if first.lower() in PHASES:
            phase = first.lower()
            cells_nonempty = cells_nonempty[1:]
        ks_cell, et_cell = cells_nonempty
        actions[-1]["rows"].append(
            {
                "phase": phase,
                "keysteps": _split_codes(ks_cell, _AK),
                "errors": _split_codes(et_cell, _ET),
            }
        )
    return actions


def parse_table10(text: str) -> dict[str, tuple[str, int]]:
    body = text.split("Table 10: Full list of the FLEX error types' weight.")[1]
    out = {}
    for line in body.splitlines():
        m = re.match(r"(ET\d{3})\t(.+)\t(\d+)\s*$", line)
        if m:
            out[m.group(1)] = (m.group(2).strip(), int(m.group(3)))
    return out


def parse_table8(text: str) -> dict[str, list[str]]:
    body = text.split("Table 8: Muscles Recorded by the sEMG Device in the FLEX Dataset.")[1]
    body = body.split("## 9 Data Availability")[0]
    out = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        if len(cells) >= 3 and cells[0] != "Action":
            out[cells[0]] = cells[1:]
    return out


def load(path: str | Path) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    return {"table8": parse_table8(text), "table9": parse_table9(text), "table10": parse_table10(text)}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(load(sys.argv[1]), indent=1)[:3000])
