"""`flexaqa demo` runs offline on built-in synthetic data, end to end, and writes its outputs."""

from __future__ import annotations

import pytest

from flexaqa.cli import main


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "score 77.02" in out
    assert "skipped" not in out.split("=== Done ===")[1]  # the test environment has every extra
    assert f"{tmp_path / 'data'}: OK" in out  # the simulator's output passes validation
    assert "emg.npy: 10 burst(s)" in out  # one activation per repetition of the 10-rep set
    for name in (
        "squat_fkg.png",
        "fkg.jsonld",
        "aqa.md",
        "coach/report.html",
        "qa/qa_test.jsonl",
        "stats/stats.json",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
