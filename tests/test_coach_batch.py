"""`flexaqa coach DIR/ --out REPORTS/`: one report folder per video, the files `flexaqa coach VIDEO --out X` writes;
a failing video is a row with its reason and the others complete; the same bytes inline, with `--workers 2` and
on a local Ray with 2 CPUs; a killed run is marked incomplete and its rerun redoes only the unfinished videos."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from flexaqa._io import WRITER_NAME, require_complete
from flexaqa.cli import main
from flexaqa.errors import IncompleteError
from proc_helpers import descendants

pytest.importorskip("mediapipe")
pytest.importorskip("av")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """A person doing 2 squats, a wall (no person), a corrupt file, a video in no action's folder, and what is
    not a video (a text file, a hidden folder)."""
    from flexaqa.data.video import write_mp4
    from flexaqa.testing import rendered_set_video

    root = tmp_path_factory.mktemp("videos")
    (root / "squat").mkdir()
    rendered_set_video(root / "squat" / "good.mp4", errors=[{}, {"AK44:ET056": 1.5}], size=(320, 240), fps=10)
    write_mp4(root / "squat" / "wall.MP4", np.full((6, 64, 64, 3), 120, np.uint8), 30)
    (root / "squat" / "broken.mkv").write_bytes(b"not a video" * 10)
    (root / "loose.webm").write_bytes(b"\x1a\x45\xdf\xa3")
    (root / "notes.txt").write_text("not a video")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "skip.mp4").write_bytes(b"x")
    return root


@pytest.fixture(scope="module")
def reference(videos, tmp_path_factory) -> tuple[Path, int, str, str]:
    """The single-process run every engine must match: (REPORTS, exit code, stdout, stderr)."""
    out = tmp_path_factory.mktemp("ref") / "reports"
    r = subprocess.run(
        [sys.executable, "-m", "flexaqa", "coach", str(videos), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return out, r.returncode, r.stdout, r.stderr


def test_one_report_per_video_and_a_summary(videos, reference, tmp_path, capsys):
    out, code, stdout, stderr = reference
    assert code == 2, stderr  # the first failed video's exit code: loose.webm has no action
    rows = list(csv.DictReader((out / "summary.csv").open()))
    got = [(r["video"], r["action"], r["status"], r["exit_code"]) for r in rows]
    assert got == [
        (str(videos / "loose.webm"), "", "failed", "2"),
        (str(videos / "squat" / "broken.mkv"), "squat", "failed", "3"),
        (str(videos / "squat" / "good.mp4"), "squat", "ok", "0"),
        (str(videos / "squat" / "wall.MP4"), "squat", "failed", "4"),
    ]
    good = rows[2]
    assert good["reps"] == "2" and float(good["score"]) > 0 and good["report"] == "squat/good/"
    assert "no_person" in rows[3]["reason"] and "no action" in rows[0]["reason"]
    assert sorted(p.relative_to(out).as_posix() for p in out.iterdir()) == [
        "batch.json",
        "squat",
        "summary.csv",
        "summary.md",
    ]
    assert sorted(p.name for p in (out / "squat").iterdir()) == ["broken", "good", "wall"]
    md = (out / "summary.md").read_text()
    assert md.count("\n| ") == 5 and "| squat/good/ |" in md
    for name in ("loose.webm", "broken.mkv", "good.mp4", "wall.MP4"):
        assert name in stdout
    assert "3 of 4 video(s) failed" in stderr and "wall.MP4 (exit 4)" in stderr

    # each report folder holds what `flexaqa coach VIDEO --out X` writes for that video
    for name, action, rc in (("good.mp4", "squat", 0), ("wall.MP4", "squat", 4), ("broken.mkv", "squat", 3)):
        single = tmp_path / name
        assert main(["coach", str(videos / "squat" / name), "--action", action, "--out", str(single)]) == rc
        assert _files(single) == _files(out / "squat" / Path(name).stem)
    capsys.readouterr()


def test_processes_and_ray_write_the_inline_bytes(videos, reference, local_ray, tmp_path, capsys):
    want = _files(reference[0])
    for engine in (["--workers", "2"], ["--workers", "2", "--ray", "auto"]):
        out = tmp_path / engine[-1]
        assert main(["coach", str(videos), "--out", str(out), "--no-progress", *engine]) == 2
        assert _files(out) == want, engine
    capsys.readouterr()


def test_a_worker_killed_mid_video_has_it_redone(videos, reference, tmp_path):
    out = tmp_path / "k"
    cmd = [
        sys.executable,
        "-m",
        "flexaqa",
        "coach",
        str(videos),
        "--out",
        str(out),
        "--no-progress",
        "--workers",
        "2",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed, deadline = None, time.monotonic() + 120
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        if any((out / ".staging").glob("squat__good.*")):  # the slow video is being written
            workers = descendants(proc.pid, b"spawn_main")
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed = workers[0]
        time.sleep(0.005)
    _, err = proc.communicate(timeout=300)
    assert killed is not None, "no worker was caught coaching a video"
    assert proc.returncode == 2, err.decode()
    assert _files(out) == _files(reference[0])


def test_relative_paths_mean_the_same_in_every_worker(videos, local_ray, tmp_path, monkeypatch, capsys):
    """Ray's workers started in another folder: a relative DIR still names the videos, and the reports keep the
    paths as given (as `flexaqa coach VIDEO` does)."""
    monkeypatch.chdir(videos.parent)
    out = tmp_path / "rel"
    assert (
        main(["coach", videos.name, "--out", str(out), "--no-progress", "--workers", "2", "--ray", "auto"])
        == 2
    )
    rows = {r["video"]: r for r in csv.DictReader((out / "summary.csv").open())}
    good = rows[f"{videos.name}/squat/good.mp4"]
    assert good["status"] == "ok" and good["reps"] == "2"
    report = json.loads((out / "squat" / "good" / "report.json").read_text())
    assert report["input"]["source"] == f"{videos.name}/squat/good.mp4"
    capsys.readouterr()


def test_a_killed_run_is_incomplete_and_its_rerun_redoes_only_the_unfinished(videos, reference, tmp_path):
    out = tmp_path / "reports"
    cmd = [sys.executable, "-m", "flexaqa", "coach", str(videos), "--out", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "squat" / "broken").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # while the slow video (good.mp4) is being analysed
    proc.wait(timeout=60)
    assert (out / "squat" / "broken" / "report.json").is_file()
    assert not (out / "squat" / "good").exists() and not (out / "summary.csv").exists()
    with pytest.raises(IncompleteError, match="did not finish"):
        require_complete(out)
    first = (out / "squat" / "broken" / "report.json").stat().st_ino

    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "1 video(s) kept the report of an earlier run" in r.stderr
    assert (out / "squat" / "broken" / "report.json").stat().st_ino == first  # not redone
    assert not (out / WRITER_NAME).exists()
    assert _files(out) == _files(reference[0])

    # other options: every video is redone
    r = subprocess.run([*cmd, "--no-html"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "earlier run" not in r.stderr
    assert not (out / "squat" / "good" / "report.html").exists()
    assert json.loads((out / "batch.json").read_text())["options"]["html"] is False


def test_bad_folder_options(videos, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["coach", str(empty), "--out", str(tmp_path / "r")]) == 9
    assert "no video" in capsys.readouterr().err
    assert main(["coach", str(videos), "--action", "nope", "--out", str(tmp_path / "r")]) == 2
    assert main(["coach", str(videos), "--out", str(videos / "reports")]) == 73  # inside the input
    assert main(["coach", str(videos / "squat" / "good.mp4"), "--action", "squat", "--workers", "2"]) == 2
    assert "give DIR" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (videos / "reports").exists()


def test_report_folder_names():
    from flexaqa.coach.batch import report_names

    videos = [Path(f"d/{n}") for n in ("a.mp4", "a.mov", "s/b.MP4", "summary.md.mp4", "s/summary.md.mkv")]
    assert report_names(videos, "d") == ["a.mp4", "a.mov", "s/b", "summary.md.mp4", "s/summary.md"]
