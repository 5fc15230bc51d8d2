"""`flexaqa synth` on every engine: in this process, `--workers 2` local processes and `--ray auto` (a local Ray
with 2 CPUs) write byte-identical datasets; a worker killed while it writes a trial has that trial redone (nothing
half-written is read); a killed run is marked incomplete; without `--ray` Ray is never imported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flexaqa._io import WRITER_NAME
from flexaqa.cli import main
from proc_helpers import descendants

SMALL = ["synth", "--subjects", "2", "--actions", "squat,A07", "--reps", "2", "--no-progress", "--seed", "5"]
VIDEO = ["--views", "View-1,View-5", "--size", "32x32", "--fps", "6"]
LONGER = ["synth", "--subjects", "3", "--actions", "squat,A07,A01", "--reps", "2", "--no-progress", *VIDEO]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _cli(*argv) -> list[str]:
    return [sys.executable, "-m", "flexaqa", *map(str, argv)]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, Path]:
    """The single-process datasets every engine must match, byte for byte."""
    pytest.importorskip("av")  # H.264 video: the [video] extra
    root = tmp_path_factory.mktemp("reference")
    outs = {"video": root / "video", "release": root / "release", "longer": root / "longer"}
    assert main([*SMALL, *VIDEO, "--out", str(outs["video"])]) == 0
    assert main([*SMALL, "--no-video", "--layout", "release", "--out", str(outs["release"])]) == 0
    assert main([*LONGER, "--out", str(outs["longer"])]) == 0
    return outs


def test_processes_and_ray_write_the_inline_bytes(reference, local_ray, tmp_path, capsys):
    want = _files(reference["video"])
    assert any(k.endswith(".mp4") for k in want) and "manifest.csv" in want and "synth.json" in want
    assert not any(k.startswith(".") or "/." in k for k in want)  # no lock, marker or staging left behind
    assert main([*SMALL, *VIDEO, "--out", str(tmp_path / "p"), "--workers", "2"]) == 0
    assert main([*SMALL, *VIDEO, "--out", str(tmp_path / "r"), "--workers", "2", "--ray", "auto"]) == 0
    out = capsys.readouterr().out
    assert "(processes)" in out and "(ray)" in out
    assert _files(tmp_path / "p") == want
    assert _files(tmp_path / "r") == want
    rel = _files(reference["release"])
    assert (
        main([*SMALL, "--no-video", "--layout", "release", "--out", str(tmp_path / "rr"), "--ray", "auto"])
        == 0
    )
    assert _files(tmp_path / "rr") == rel


def test_a_worker_process_killed_mid_trial_has_it_redone(reference, tmp_path):
    out = tmp_path / "k"
    proc = subprocess.Popen(
        _cli(*LONGER, "--out", out, "--workers", "2"),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        if any((out / ".staging").glob("*")):  # a trial is being written right now
            workers = descendants(proc.pid, b"spawn_main")
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed = workers[0]
        time.sleep(0.005)
    _, err = proc.communicate(timeout=300)
    assert killed is not None, "no worker was caught writing a trial"
    assert proc.returncode == 0, err.decode()
    assert _files(out) == _files(reference["longer"])
    assert main(["data", "validate", str(out)]) == 0


def test_a_ray_worker_killed_mid_trial_has_it_redone(reference, local_ray, tmp_path):
    out, killed = tmp_path / "k", []

    def killer():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            if any((out / ".staging").glob("*")):
                workers = descendants(os.getpid(), b"ray::_call")
                if workers:
                    os.kill(workers[0], signal.SIGKILL)
                    killed.append(workers[0])
            time.sleep(0.005)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    assert main([*LONGER, "--out", str(out), "--workers", "2", "--ray", "auto"]) == 0
    t.join(timeout=5)
    assert killed, "no Ray worker was caught writing a trial"
    assert _files(out) == _files(reference["longer"])


def test_a_killed_run_never_looks_complete(tmp_path):
    out = tmp_path / "d"
    proc = subprocess.Popen(
        _cli(*LONGER, "--out", out, "--workers", "2"),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not any(out.glob("trials/*/trial.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, with no chance to clean up
    proc.wait(timeout=60)
    assert (out / WRITER_NAME).is_file() and not (out / "manifest.csv").exists()
    r = subprocess.run(_cli("data", "info", out), env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 65 and "incomplete" in r.stderr and "--force" in r.stderr
    assert main([*LONGER, "--out", str(out), "--workers", "2"]) == 73  # refused without --force
    assert main([*LONGER, "--out", str(out), "--workers", "2", "--force"]) == 0
    assert not (out / WRITER_NAME).exists() and not (out / ".staging").exists()


def test_without_ray_ray_is_never_imported(tmp_path):
    code = (
        "import sys\nfrom flexaqa.cli import main\n"
        f"rc = main({[*SMALL, '--no-video', '--workers', '2', '--out', str(tmp_path / 'd')]!r})\n"
        "print('RC', rc, 'RAY', 'ray' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=300)
    assert "RC 0 RAY False" in r.stdout, r.stderr
