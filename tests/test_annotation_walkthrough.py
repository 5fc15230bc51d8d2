"""docs/annotation.md's walk-through, command by command, on a simulated dataset: init, assign, segment, three
stage-1 imports, review, resolve, agreement, export, then `data validate` and `bench aqa --quick`."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from flexaqa.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "annotation.md"


def walkthrough_commands() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Walk-through", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("flexaqa ")]


@pytest.mark.slow
def test_the_documented_walkthrough_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")  # bench aqa trains
    import torch

    monkeypatch.chdir(tmp_path)
    cmds = walkthrough_commands()
    assert [c[1] for c in cmds if c[0] == "annotate"].count("import") == 3
    outputs = []
    threads = torch.get_num_threads()
    try:
        for argv in cmds:
            code = main(argv)
            out = capsys.readouterr().out
            assert code == 0, (argv, out)
            outputs.append((argv, out))
    finally:
        torch.set_num_threads(threads)
    by = {}
    for argv, out in outputs:
        by.setdefault(" ".join(argv[:2]), []).append(out)
    assert "178 new task(s)" in by["annotate init"][0]
    first, second = by["annotate resolve"]
    assert first.startswith("resolved 0 of 178") and "missing" in first
    assert second.startswith("resolved 178 of 178") and "'review majority': 1" in second
    assert "0 file(s) changed" in by["annotate export"][1] and "0 file(s)" not in by["annotate export"][0]
    assert "sim: OK" in by["data validate"][0]
    agreement = json.loads((tmp_path / "agreement" / "agreement.json").read_text())
    assert agreement["n_samples"] == 178 and 0.5 < agreement["rows"][0]["fleiss_kappa"] < 0.9
    from flexaqa.data import open_dataset

    ds = open_dataset(tmp_path / "sim")
    ann = ds.annotation("N01-A16-r01")
    assert [a.slots for a in ann.annotators if a.annotator == "annotator-3"] == [("AK56:ET003", "AK43:ET010")]
    assert [a.feedback for a in ann.annotators if a.annotator == "annotator-3"] == ["second look"]
    assert {a.annotator for a in ann.annotators if a.stage == 2} == {"senior-1", "senior-2", "senior-3"}
    bench = json.loads((tmp_path / "results" / "aqa.json").read_text())
    ran = [r for r in bench["rows"] if r["skipped"] is None]
    assert ran and all(r["rl2_mean"]["mean"] >= 0 for r in ran if "rl2_mean" in r)
