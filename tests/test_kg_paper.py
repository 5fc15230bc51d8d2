"""The shipped FKG against the paper's own text, when the paper is at hand (maintainers' machines and CI)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT.parent / "shared" / "reference" / "FLEX-paper.txt"


@pytest.mark.skipif(not PAPER.exists(), reason="the FLEX paper's text is not next to this checkout")
def test_fkg_agrees_with_the_paper_text():
    compare = runpy.run_path(str(ROOT / "tools" / "check_fkg_against_paper.py"))["compare"]
    assert compare(PAPER) == []
