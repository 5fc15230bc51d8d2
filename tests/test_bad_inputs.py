"""A sweep of bad inputs across every subcommand, run in-process through ``flexaqa.cli.main``.

Each case asserts: the documented exit code (the table in ``flexaqa.errors``), no traceback, a message on
stderr naming the file or the argument, and nothing written (the fixtures are unchanged and no new path
appears), except where a command documents a partial report. The cases use only the CLI, so the same file
runs against an older flexaqa to count how many of them it fails.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from flexaqa.cli import main
from flexaqa.data.synthetic import make_tiny_dataset

DOCUMENTED = {1, 2, 3, 4, 5, 6, 7, 8, 9, 65, 73, 74, 75, 130}


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-inputs")
    fx = {"root": root}
    fx["ds"] = make_tiny_dataset(
        root / "ds", subjects=("P01", "A01", "N01", "N02"), actions=("squat",), reps=2
    ).root
    fx["ds2"] = make_tiny_dataset(root / "ds2", subjects=("P01", "N01"), actions=("squat",), reps=3).root
    fx["rel"] = make_tiny_dataset(
        root / "rel", layout="release", subjects=("P01", "N01"), actions=("squat",), reps=2
    ).root
    inc = root / "incomplete"
    shutil.copytree(fx["ds2"], inc)
    (inc / "manifest.csv").unlink()
    (inc / ".flexaqa-writer.json").write_text(
        json.dumps(
            {"command": f"flexaqa synth --out {inc}", "pid": 999999999, "host": "elsewhere", "mode": "new"}
        )
    )
    fx["incomplete"] = inc
    (root / "notes.txt").write_text("just text\n")
    fx["file"] = root / "notes.txt"
    (root / "empty").mkdir()
    fx["dir"] = root / "empty"
    (root / "full").mkdir()
    (root / "full" / "keep.txt").write_text("mine\n")
    fx["full"] = root / "full"
    (root / "doc.json").write_text('{"a": [1,\n 2]}\n')
    fx["json"] = root / "doc.json"
    t = np.arange(4000) / 2000
    np.savetxt(root / "emg.csv", np.column_stack([np.sin(90 * t), np.cos(70 * t)]), delimiter=",")
    fx["csv"] = root / "emg.csv"
    (root / "bad.csv").write_text("a,b\nx,y\n")
    fx["bad_csv"] = root / "bad.csv"
    assert main(["vqa", "synth", "--out", str(root / "vs"), "--samples", "4"]) == 0
    assert (
        main(["vqa", "build", "--sources", str(root / "vs" / "sources.jsonl"), "--out", str(root / "qa")])
        == 0
    )
    fx["qa"], fx["preds"] = root / "qa", root / "vs" / "predictions.jsonl"
    assert (
        main(
            [
                "vqa",
                "answer",
                "--refs",
                str(fx["qa"]),
                "--kg-coach",
                str(fx["preds"]),
                "--out",
                str(root / "answers.jsonl"),
            ]
        )
        == 0
    )
    fx["answers"] = root / "answers.jsonl"
    (root / "mdir" / "r.md").mkdir(parents=True)  # a folder where an output file goes
    fx["mdir"] = root / "mdir"
    fx["new"], fx["new2"] = root / "new-out", root / "new-out2"
    return fx


# (argv, exit code, words the message must contain); {name} is a fixture path. A case whose argv holds
# "!report" may leave the coach's partial report in {new2} (documented: report.json says what failed).
CASES = [
    # knowledge graph and score
    ("kg show nope", 2, ["nope"]),
    ("kg --file {new}/kg.yaml list", 9, ["{new}/kg.yaml"]),
    ("kg --file {dir} list", 9, ["{dir}", "folder"]),
    ("kg --file {file} list", 3, ["{file}"]),
    ("kg export --format json --out {dir}", 73, ["{dir}", "folder"]),
    ("kg export --format json --out {file}/x.json", 73, ["{file}", "is a file"]),
    ("kg draw squat --out {dir}", 73, ["{dir}"]),
    ("kg draw squat --out {file}/x.png", 73, ["{file}"]),
    ("kg draw nope --out {new}/x.png", 2, ["nope"]),
    ("score nope", 2, ["nope"]),
    ("score squat ET999", 2, ["ET999"]),
    ("score squat --file {new}", 9, ["{new}"]),
    # data
    ("data info {new}", 9, ["{new}", "no such dataset folder"]),
    ("data info {file}", 9, ["{file}", "is a file"]),
    ("data info {dir}", 3, ["{dir}", "neither"]),
    ("data info {incomplete}", 65, ["{incomplete}", "incomplete", "--force"]),
    ("data info {incomplete} --json", 65, ["incomplete"]),
    ("data validate {new}", 1, ["{new}", "no such dataset folder"]),
    ("data validate {file}", 1, ["{file}", "is a file"]),
    ("data validate {incomplete}", 1, ["{incomplete}", "incomplete"]),
    ("data splits {new}", 9, ["{new}"]),
    ("data splits {file}", 9, ["{file}", "is a file"]),
    ("data splits {incomplete}", 65, ["incomplete"]),
    ("data splits {ds} --protocol nope", 3, ["nope"]),
    ("data croissant {new}", 9, ["{new}"]),
    ("data croissant {file}", 9, ["{file}"]),
    ("data croissant {incomplete}", 65, ["incomplete"]),
    ("data croissant {ds} --out {dir}", 73, ["{dir}", "folder"]),
    ("data stats {new} --out {new2}", 9, ["{new}"]),
    ("data stats {ds} --out {file}", 73, ["{file}", "is a file"]),
    ("data stats {ds} --out {file}/sub", 73, ["{file}"]),
    ("data stats {incomplete} --out {new}", 65, ["incomplete"]),
    ("data stats {dir} --out {new}", 3, ["{dir}"]),
    ("data export-release {ds} {ds} --views View-1", 73, ["inside the input"]),
    ("data export-release {ds} {ds}/release --views View-1", 73, ["inside the input"]),
    ("data export-release {ds} {full} --views View-1", 73, ["{full}", "not empty", "--force"]),
    ("data export-release {ds} {file} --views View-1", 73, ["{file}", "is a file"]),
    ("data export-release {ds} {file}/x --views View-1", 73, ["{file}"]),
    ("data export-release {new} {new2}", 9, ["{new}"]),
    ("data export-release {incomplete} {new}", 65, ["incomplete"]),
    ("data export-release {ds} {new} --views View-1 --protocol nope", 3, ["nope"]),
    ("data export-release {ds} {new} --views View-9", 2, ["View-9"]),
    ("data export-release {ds} {fx_root} --views View-1 --force", 73, ["inside the output"]),
    ("data tiny {full}", 73, ["{full}", "not empty"]),
    ("data tiny {file}", 73, ["{file}", "is a file"]),
    ("data tiny {file}/sub", 73, ["{file}"]),
    ("data tiny {incomplete}", 73, ["{incomplete}", "--force"]),
    ("data tiny {new} --subject-ids P01,P01", 2, ["P01", "twice"]),
    ("data tiny {new} --actions squat,squat", 2, ["squat", "twice"]),
    ("data tiny {new} --reps 0", 2, ["reps"]),
    ("data tiny {new} --actions nope", 2, ["nope"]),
    ("data tiny {new} --subject-ids X99", 3, ["X99"]),
    ("data tiny {new} --layout nope", 2, ["--layout"]),
    ("data tiny {new} --subject-ids ,", 2, ["--subject-ids"]),
    # synth
    ("synth --out {full} --no-video", 73, ["{full}", "not empty"]),
    ("synth --out {file} --no-video", 73, ["{file}", "is a file"]),
    ("synth --out {file}/x --no-video", 73, ["{file}"]),
    ("synth --out {incomplete} --no-video", 73, ["incomplete", "--force"]),
    ("synth --out {new} --actions squat,squat", 2, ["squat", "twice"]),
    ("synth --out {new} --actions nope", 2, ["nope"]),
    ("synth --out {new} --subjects 0", 2, ["--subjects"]),
    ("synth --out {new} --subjects 39", 2, ["--subjects"]),
    ("synth --out {new} --reps 0", 2, ["--reps"]),
    ("synth --out {new} --size 31x20", 2, ["--size"]),
    ("synth --out {new} --size abc", 2, ["--size"]),
    ("synth --out {new} --views View-9", 2, ["View-9"]),
    ("synth --out {new} --fps -1", 2, ["--fps"]),
    ("synth", 2, ["--out"]),
    # emg
    ("emg process {new}.csv --fs 2000", 9, ["{new}.csv"]),
    ("emg process {dir} --fs 2000", 9, ["{dir}", "is a folder"]),
    ("emg process {bad_csv} --fs 2000", 3, ["{bad_csv}"]),
    ("emg process {csv} --fs 2000 --out {dir}", 73, ["{dir}", "folder"]),
    ("emg process {csv} --fs 2000 --out {file}/x.csv", 73, ["{file}"]),
    ("emg process {csv} --fs 2000 --plot {dir}", 73, ["{dir}"]),
    ("emg process {csv} --fs 2000 --plot {file}/x.png", 73, ["{file}"]),
    ("emg process {csv} --fs 2000 --band 500 20", 2, ["--band"]),
    ("emg process {csv} --fs 100", 2, ["--fs 100"]),
    ("emg bursts {csv} --fs 2000 --channel 5", 2, ["--channel"]),
    ("emg bursts {csv} --fs 2000 --quiet-percent 0", 2, ["--quiet-percent"]),
    ("emg bursts {csv} --fs 2000 --min-fraction 1.5", 2, ["--min-fraction"]),
    ("emg bursts {dir} --fs 2000", 9, ["{dir}", "is a folder"]),
    ("emg bursts {json} --fs 2000", 3, ["{json}"]),
    ("emg bursts {new}.npy --fs 2000", 9, ["{new}.npy"]),
    ("emg bursts {csv}", 2, ["--fs"]),
    # vqa
    ("vqa build --data {new} --out {new2}", 9, ["{new}"]),
    ("vqa build --data {ds} --out {file}", 73, ["{file}", "is a file"]),
    ("vqa build --data {incomplete} --out {new}", 65, ["incomplete"]),
    ("vqa build --sources {new}.jsonl --out {new2}", 9, ["{new}.jsonl"]),
    ("vqa build --sources {json} --out {new2}", 3, ["{json}"]),
    ("vqa build --sources {dir} --out {new2}", 9, ["{dir}", "is a folder"]),
    ("vqa build --sources {file} --out {new2}", 3, ["{file}"]),
    ("vqa build --data {ds} --out {new} --protocol nope", 3, ["nope"]),
    ("vqa export --qa {new} --out {new2}", 9, ["{new}"]),
    ("vqa export --qa {qa} --out {file}", 73, ["{file}"]),
    ("vqa export --qa {qa} --out {qa}", 73, ["inside the input"]),
    ("vqa export --qa {qa} --out {new} --split nope", 2, ["nope"]),
    ("vqa answer --refs {qa} --out {dir} --kg-coach {preds}", 73, ["{dir}", "folder"]),
    ("vqa answer --refs {qa} --out {file}/p.jsonl --kg-coach {preds}", 73, ["{file}"]),
    ("vqa answer --refs {qa} --out {new}.jsonl --kg-coach {new2}.jsonl", 9, ["{new2}.jsonl"]),
    ("vqa answer --refs {qa} --out {new}.jsonl --kg-coach {dir}", 9, ["{dir}", "is a folder"]),
    ("vqa answer --refs {qa} --out {new}.jsonl --endpoint http://127.0.0.1:1/v1", 3, ["--model"]),
    ("vqa answer --refs {qa} --out {new}.jsonl --endpoint ftp://x --model m", 3, ["http"]),
    ("vqa answer --refs {new} --out {new2}.jsonl --kg-coach {preds}", 9, ["{new}"]),
    ("vqa answer --refs {qa} --split nope --out {new}.jsonl --kg-coach {preds}", 2, ["nope"]),
    ("vqa eval --refs {qa} --preds {new}.jsonl --metrics bleu", 9, ["{new}.jsonl"]),
    ("vqa eval --refs {qa} --preds {dir} --metrics bleu", 9, ["{dir}", "is a folder"]),
    ("vqa eval --refs {qa} --preds {json} --metrics bleu", 3, ["{json}"]),
    (
        "vqa eval --refs {qa} --preds {answers} --metrics bleu --out {mdir}/r",
        73,
        ["{mdir}/r.md", "is a folder"],
    ),
    ("vqa eval --refs {qa} --preds {answers} --metrics bleu --out {file}/x", 73, ["{file}"]),
    ("vqa eval --refs {new} --preds {answers} --metrics bleu", 9, ["{new}"]),
    ("vqa eval --refs {qa} --preds {preds} --metrics bleu", 3, ["{preds}", "'id' and 'answer'"]),
    ("vqa synth --out {file}", 73, ["{file}"]),
    ("vqa synth --out {file}/x", 73, ["{file}"]),
    ("vqa setup-wordnet --source {new} --dest {new2}", 8, ["{new}", "wordnet-base"]),
    # train, eval, predict, bench
    ("train --data {new} --out {new2}", 9, ["{new}"]),
    ("train --data {file} --out {new2}", 9, ["{file}"]),
    ("train --data {incomplete} --out {new}", 65, ["incomplete"]),
    ("train --data {ds} --out {file} --epochs 1", 73, ["{file}", "is a file"]),
    ("train --data {ds} --out {file}/r --epochs 1", 73, ["{file}"]),
    ("train --data {ds} --out {new} --model nope", 2, ["nope"]),
    ("train --data {ds} --out {new} --variant nope", 2, ["nope"]),
    ("train --data {ds} --out {new} --action nope", 2, ["nope"]),
    ("train --data {ds} --out {new} --split nope", 3, ["nope"]),
    ("train --data {ds} --out {new} --cache {file}", 73, ["{file}"]),
    ("train --data {ds} --out {new} --config {new2}.yaml", 9, ["{new2}.yaml"]),
    ("train --data {ds} --out {new} --set nokey=1", 2, ["nokey"]),
    ("train --data {ds} --out {new} --frames 8", 2, ["--frames"]),
    ("eval --run {new}", 2, ["{new}"]),
    ("eval --run {file}", 2, ["{file}"]),
    ("eval --run {ds}", 2, ["{ds}", "run"]),
    ("predict --run {new} P01-A16-r01", 2, ["{new}"]),
    ("bench aqa --data {new} --out {new2}/b", 9, ["{new}"]),
    ("bench aqa --data {ds} --out {file}/b", 73, ["{file}"]),
    ("bench aqa --data {ds} --out {mdir}/r --quick", 73, ["{mdir}/r.md", "is a folder"]),
    # coach
    ("coach {new}.mp4 --action squat --out {new2} !report", 9, ["{new}.mp4"]),
    ("coach {dir} --action squat --out {new2}", 9, ["{dir}", "no video"]),  # a folder: its videos, none here
    ("coach {file} --action squat --out {new2} !report", 3, ["{file}"]),
    ("coach {file} --action nope --out {new2}", 2, ["nope"]),
    ("coach {file} --action squat --out {file}", 73, ["{file}", "is a file"]),
    ("coach {file} --action squat --out {file}/x", 73, ["{file}"]),
    ("coach --action squat --out {new2}", 2, ["VIDEO"]),
    ("coach {file} --action squat --pose-fps -1 --out {new2}", 2, ["--pose-fps"]),
    ("coach {file} --action squat --run {new} --out {new2}", 2, ["{new}"]),
    ("coach {file} --action squat --run {ds} --out {new2}", 2, ["{ds}"]),
    # video2emg
    ("video2emg train --data {new} --out {new2}", 9, ["{new}"]),
    ("video2emg train --data {ds} --out {file}", 73, ["{file}"]),
    ("video2emg train --data {ds2} --out {new} --no-progress", 3, ["--protocol random", "only 2"]),
    ("video2emg train --data {ds} --out {new} --protocol nope", 3, ["nope"]),
    ("video2emg train --data {ds} --out {new} --size abc", 2, ["--size"]),
    ("video2emg eval --data {ds} --checkpoint {new}.pt --out {new2}", 9, ["{new}.pt"]),
    ("video2emg eval --data {ds} --checkpoint {dir} --out {new2}", 9, ["{dir}", "is a folder"]),
    ("video2emg eval --data {ds} --checkpoint {file} --out {new2}", 3, ["{file}"]),
    ("video2emg eval --data {ds} --checkpoint {file} --out {file}", 73, ["{file}", "is a file"]),
    # failure
    ("failure train --data {new} --out {new2}", 9, ["{new}"]),
    ("failure train --data {ds} --out {file}", 73, ["{file}"]),
    ("failure train --data {ds2} --out {new} --no-progress", 3, ["--protocol random", "only 2"]),
    ("failure train --data {ds} --out {new} --protocol random --exclude nope", 3, ["nope", "known:"]),
    ("failure train --data {ds} --out {new} --protocol nope", 3, ["nope"]),
    ("failure eval --data {ds} --model {new}.json --out {new2}", 9, ["{new}.json"]),
    ("failure eval --data {ds} --model {dir} --out {new2}", 9, ["{dir}", "is a folder"]),
    ("failure eval --data {ds} --model {file} --out {new2}", 3, ["{file}"]),
    ("failure eval --data {ds} --model {file} --out {file}", 73, ["{file}"]),
    # annotate
    ("annotate agreement --data {ds} --out {file}", 73, ["{file}", "is a file"]),
    ("annotate agreement --data {ds} --out {file}/x", 73, ["{file}"]),
    ("annotate labelstudio config squat --out {dir}", 73, ["{dir}", "folder"]),
    ("annotate labelstudio config nope --out {new}.xml", 2, ["nope"]),
    ("annotate labelstudio tasks --data {ds} --document-root {fx_root} --out {dir}", 73, ["{dir}", "folder"]),
    ("annotate labelstudio tasks --data {new} --document-root {fx_root} --out {new2}.json", 9, ["{new}"]),
    ("annotate import {new}.jsonl --db sqlite:///{new2}.sqlite", 9, ["{new}.jsonl"]),
    # demo
    ("demo --out {file}", 73, ["{file}"]),
    ("demo --out {file}/x", 73, ["{file}"]),
]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file with its size and time, every folder (a lock taken and given back changes only folder times)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (0, 0)
        for p in root.rglob("*")
    }


@pytest.mark.parametrize(("argv", "code", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(fx, capsys, argv, code, words):
    names = {k: str(v) for k, v in fx.items()}
    names["fx_root"] = str(fx["root"])
    report = "!report" in argv
    args = [a.format(**names) for a in argv.replace("!report", "").split()]
    before = _snapshot(fx["root"])
    try:
        try:
            rc = main(args)
        except SystemExit as exc:  # argparse
            rc = exc.code
        cap = capsys.readouterr()
        err = cap.err + cap.out
        assert rc in DOCUMENTED, f"exit code {rc} is not documented"
        assert rc == code, f"exit code {rc}, expected {code}: {err}"
        assert "Traceback" not in err
        for w in words:
            assert w.format(**names) in err, f"{w.format(**names)!r} not in: {err}"
        assert not fx["new"].exists() and not Path(names["new"] + ".jsonl").exists(), "an output was written"
        if not report:
            assert not fx["new2"].exists(), "an output was written"
        after = _snapshot(fx["root"])
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        changed = [k for k in changed if not k.startswith("new-out")]  # checked above
        assert not changed, f"files changed: {changed[:5]}"
    finally:
        for p in fx["root"].glob("new-out*"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def test_the_sweep_is_large_enough():
    commands = {c[0].split()[0] for c in CASES}
    assert len(CASES) >= 100
    assert commands >= {
        "kg",
        "score",
        "data",
        "synth",
        "emg",
        "vqa",
        "train",
        "eval",
        "predict",
        "bench",
        "coach",
        "video2emg",
        "failure",
        "demo",
        "annotate",
    }
