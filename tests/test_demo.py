"""`flexaqa demo` runs offline on built-in data and writes its outputs."""

from __future__ import annotations

from flexaqa.cli import main


def test_demo_runs(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "score 77.02" in out
    for name in ("squat_fkg.png", "fkg.jsonld", "fkg.graphml"):
        assert (tmp_path / name).stat().st_size > 0
