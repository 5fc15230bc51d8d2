"""Never lose, mix or half-write data: output locks, interrupted writers, umask, strict JSON, resumable remote
work, checks before work. Concurrency and interruption use real processes and real signals."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from flexaqa._io import LOCK_NAME, WRITER_NAME, json_text, output_dir, require_complete, write_json
from flexaqa.cli import main
from flexaqa.data.synthetic import make_tiny_dataset
from flexaqa.errors import BusyError, IncompleteError, OutputError


def flexaqa(*argv, **kw) -> subprocess.Popen:
    """A ``flexaqa`` process in its own process group, so :func:`ctrl_c` reaches it and its children alike."""
    return subprocess.Popen(
        [sys.executable, "-m", "flexaqa", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kw,
    )


def ctrl_c(p: subprocess.Popen) -> None:
    """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
    os.killpg(p.pid, signal.SIGINT)


def run(*argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flexaqa", *map(str, argv)], capture_output=True, text=True, timeout=300, **kw
    )


def _wait_for(cond, timeout=120.0):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


SYNTH = ("synth", "--subjects", "1", "--views", "View-1", "--size", "32x32", "--no-progress")


# ------------------------------------------------------------------------------------------------ 1. locks


def test_second_writer_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "ds"
    with output_dir(out, mode="new"):
        r = run(*SYNTH, "--out", out, "--no-video")
        assert r.returncode == 75, r.stderr
        assert f"pid {os.getpid()}" in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        # a reader is refused too while the folder is being written
        r = run("data", "info", out)
        assert r.returncode == 75 and "being written" in r.stderr
    assert not out.exists()  # the holder wrote nothing: its empty folder is gone


def test_two_synth_processes_never_mix(tmp_path):
    out = tmp_path / "ds"
    procs = [flexaqa(*SYNTH, "--out", out, "--no-video", "--seed", str(s)) for s in (1, 2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes[0] == 0 and codes[1] in (73, 75), (
        results
    )  # one wins; the other is refused, busy or not empty
    assert not any("Traceback" in e for _, e in results)
    seed = json.loads((out / "synth.json").read_text())["config"]["seed"]
    truths = {json.loads(p.read_text())["subject"] for p in out.glob("trials/*/synth.json")}
    assert len(truths) == 1 and main(["data", "validate", str(out)]) == 0
    assert seed in (1, 2) and not (out / WRITER_NAME).exists() and not (out / LOCK_NAME).exists()


def test_two_coach_runs_cannot_share_an_out_folder(tmp_path):
    out = tmp_path / "rep"
    with output_dir(out, mode="overwrite"):
        r = run("coach", tmp_path / "v.mp4", "--action", "squat", "--out", out)
    assert r.returncode == 75 and str(out) in r.stderr


# ------------------------------------------------------------------------------------- 2. interrupted writes


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_leaves_a_marked_folder_that_readers_refuse(tmp_path, workers):
    out = tmp_path / "ds"
    p = flexaqa(*SYNTH, "--out", out, "--workers", workers)
    _wait_for(lambda: any(out.glob("trials/*/trial.json")) or p.poll() is not None)
    ctrl_c(p)
    rc, err = p.wait(timeout=120), p.stderr.read()
    assert rc == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("synth")]
    assert len(lines) == 1 and "interrupted" in lines[0] and "--force" in lines[0], err
    assert (out / WRITER_NAME).is_file() and not (out / "manifest.csv").exists()
    r = run("data", "info", out)
    assert r.returncode == 65 and "incomplete" in r.stderr and "synth" in r.stderr and "--force" in r.stderr
    assert main(["data", "validate", str(out)]) == 1
    r = run(*SYNTH, "--out", out, "--no-video")
    assert r.returncode == 73 and "incomplete" in r.stderr and "--force" in r.stderr
    r = run(*SYNTH, "--out", out, "--no-video", "--force")
    assert r.returncode == 0, r.stderr
    assert not (out / WRITER_NAME).exists() and main(["data", "validate", str(out)]) == 0


def test_failure_inside_a_folder_marks_it_incomplete(tmp_path):
    out = tmp_path / "x"
    with pytest.raises(RuntimeError), output_dir(out, mode="new"):
        (out / "half.txt").write_text("half")
        raise RuntimeError("disk on fire")
    with pytest.raises(IncompleteError, match="did not finish"):
        require_complete(out)
    with pytest.raises(OutputError, match="--force"), output_dir(out, mode="new"):
        pass
    with output_dir(out, mode="new", force=True):
        assert not (out / "half.txt").exists()
    require_complete(out)


def _finished(folder):
    with output_dir(folder, mode="overwrite"):
        (folder / "sub").mkdir()
        (folder / "sub" / "a.txt").write_text("a")
        (folder / "b.txt").write_text("b")
    require_complete(folder)


def test_a_writer_refused_before_its_first_write_leaves_a_finished_folder_finished(tmp_path):
    out = tmp_path / "rep"
    _finished(out)
    with pytest.raises(OutputError) as info, output_dir(out, mode="overwrite"):
        raise OutputError("bad option")  # a check that runs under the lock
    assert "incomplete" not in "".join(getattr(info.value, "__notes__", []))
    assert not (out / WRITER_NAME).exists() and not (out / LOCK_NAME).exists()
    require_complete(out)
    with pytest.raises(KeyboardInterrupt), output_dir(out, mode="overwrite"):
        raise KeyboardInterrupt  # Ctrl-C before the first write: the folder is still the earlier output
    require_complete(out)


@pytest.mark.parametrize(
    "write",
    [
        lambda out: (out / "c.txt").write_text("c"),  # a new file
        lambda out: (out / "sub" / "a.txt").write_text("a2"),  # a file rewritten in place, in a subfolder
        lambda out: write_json(out / "sub" / "a.txt", "a"),  # ... or atomically, with the same bytes
        lambda out: (out / "b.txt").unlink(),  # a file removed
        lambda out: (out / "sub" / "new").mkdir(),  # an empty folder made
    ],
)
def test_a_writer_that_changed_something_and_failed_leaves_the_folder_incomplete(tmp_path, write):
    out = tmp_path / "rep"
    _finished(out)
    time.sleep(0.01)  # past the file system's time granularity
    with pytest.raises(RuntimeError) as info, output_dir(out, mode="overwrite"):
        write(out)
        raise RuntimeError("disk on fire")
    assert "is incomplete" in "".join(info.value.__notes__)
    with pytest.raises(IncompleteError, match="did not finish"):
        require_complete(out)


def test_an_incomplete_folder_stays_incomplete_after_a_writer_that_changed_nothing(tmp_path):
    out = tmp_path / "rep"
    with pytest.raises(RuntimeError), output_dir(out, mode="overwrite"):
        (out / "half.txt").write_text("half")
        raise RuntimeError("killed")
    marker = (out / WRITER_NAME).read_bytes()
    with pytest.raises(OutputError), output_dir(out, mode="overwrite"):
        raise OutputError("bad option")
    assert (
        out / WRITER_NAME
    ).read_bytes() == marker  # the command that left it incomplete, for the redo hint
    with output_dir(out, mode="overwrite"):
        pass  # returned an exit code before its first write
    assert (out / WRITER_NAME).read_bytes() == marker
    with pytest.raises(IncompleteError):
        require_complete(out)
    with output_dir(out, mode="overwrite"):
        (out / "half.txt").write_text("whole")
    require_complete(out)


def test_a_folder_too_large_to_compare_stays_marked_after_a_failure(tmp_path, monkeypatch):
    import flexaqa._io as io

    out = tmp_path / "rep"
    _finished(out)
    monkeypatch.setattr(io, "SNAPSHOT_LIMIT", 2)
    with pytest.raises(RuntimeError), output_dir(out, mode="overwrite"):
        raise RuntimeError("refused")
    with pytest.raises(IncompleteError):  # unknown whether it changed: the safe side
        require_complete(out)


def test_ctrl_c_in_training_exits_130(tmp_path):
    pytest.importorskip("torch")
    data = tmp_path / "d"
    make_tiny_dataset(data, subjects=("P01", "A01", "N01", "N02"), actions=("squat",), reps=2)
    run_dir = tmp_path / "run"
    p = flexaqa(
        "aqa",
        "train",
        "--data",
        data,
        "--out",
        run_dir,
        "--model",
        "error_aware",
        "--variant",
        "pose",
        "--set",
        "model_args.hidden=16",
        "--epochs",
        "100000",
        "--protocol",
        "random",
        "--no-progress",
    )
    _wait_for(lambda: (run_dir / WRITER_NAME).exists() or p.poll() is not None)
    time.sleep(3.0)  # inside the training loop
    ctrl_c(p)
    rc, err = p.wait(timeout=120), p.stderr.read()
    assert rc == 130 and "Traceback" not in err and "interrupted" in err, err


# ------------------------------------------------------------------------------------ 3. writing into itself


def test_export_release_refuses_its_own_input_and_non_empty_folders(tmp_path, capsys):
    pytest.importorskip("av")
    src = tmp_path / "native"
    make_tiny_dataset(src, subjects=("P01", "N01"), actions=("squat",), reps=2)
    before = sorted(p.relative_to(src) for p in src.rglob("*"))
    for out in (src, src / "release"):
        assert main(["data", "export-release", str(src), str(out), "--views", "View-1"]) == 73
        assert "inside the input" in capsys.readouterr().err
    assert sorted(p.relative_to(src) for p in src.rglob("*")) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["data", "export-release", str(src), str(other), "--views", "View-1"]) == 73
    assert "not empty" in capsys.readouterr().err and (other / "keep.txt").read_text() == "mine"
    assert main(["data", "export-release", str(src), str(other), "--views", "View-1", "--force"]) == 0
    assert not (other / "keep.txt").exists() and main(["data", "validate", str(other)]) == 0


# -------------------------------------------------------------------------------------- 4. filesystem errors


def _as_nobody(cmd: list[str]) -> subprocess.CompletedProcess:
    """Run as an unprivileged user (root ignores file permissions)."""
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "HOME": "/tmp"}
    )


@pytest.fixture()
def read_only_dataset():
    root = Path(tempfile.mkdtemp(prefix="flexaqa-ro-"))
    try:
        make_tiny_dataset(root / "d", subjects=("P01", "A01", "N01", "N02"), actions=("squat",), reps=2)
        for p in [root, *root.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        yield root / "d"
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def test_read_only_dataset_points_to_cache(read_only_dataset, tmp_path):
    pytest.importorskip("torch")
    if os.geteuid() == 0 and subprocess.run(["setpriv", "--help"], capture_output=True).returncode != 0:
        pytest.skip("needs setpriv to drop root")
    out = Path(tempfile.mkdtemp(prefix="flexaqa-run-"))
    out.chmod(0o777)
    base = [
        sys.executable,
        "-m",
        "flexaqa",
        "aqa",
        "train",
        "--data",
        str(read_only_dataset),
        "--model",
        "error_aware",
        "--set",
        "model_args.hidden=16",
        "--variant",
        "pose",
        "--epochs",
        "1",
        "--protocol",
        "random",
        "--no-progress",
    ]
    r = _as_nobody([*base, "--out", str(out / "run")])
    assert r.returncode == 73 and "--cache" in r.stderr and str(read_only_dataset) in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (out / "run").exists()
    r = _as_nobody([*base, "--out", str(out / "run"), "--cache", str(out / "cache")])
    assert r.returncode == 0, r.stderr
    r = _as_nobody([sys.executable, "-m", "flexaqa", "data", "splits", str(read_only_dataset), "--force"])
    assert r.returncode == 73 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_coach_checks_its_output_before_the_video(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    t0 = time.perf_counter()
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        assert main(["coach", str(tmp_path / "missing.mp4"), "--action", "squat", "--out", str(out)]) == 73
        assert str(tmp_path / "file") in capsys.readouterr().err
    assert time.perf_counter() - t0 < 5


def test_os_errors_are_one_line_with_the_path(tmp_path, capsys, monkeypatch):
    import flexaqa.data.stats as stats

    def boom(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path / "st" / "stats.json"))

    monkeypatch.setattr(stats, "write_stats", boom)
    make_tiny_dataset(tmp_path / "d", subjects=("P01",), actions=("squat",), reps=1)
    assert main(["data", "stats", str(tmp_path / "d"), "--out", str(tmp_path / "st")]) == 74
    err = capsys.readouterr().err
    assert "stats.json: permission denied" in err and err.count("\n") == 1


# -------------------------------------------------------------------------------------------- 6. counts


def test_counts_come_from_what_was_written(tmp_path, capsys):
    from flexaqa.synth.generate import SynthConfig, SynthError, generate

    with pytest.raises(SynthError, match="squat more than once"):  # the library refuses what the parser does
        generate(SynthConfig(out=str(tmp_path / "s"), actions=("squat", "A16"), video=False))
    assert not (tmp_path / "s").exists()
    with pytest.raises(ValueError, match="P01 more than once"):  # the library refuses what the parser does
        make_tiny_dataset(tmp_path / "t", subjects=("P01", "P01", "N01"))
    with pytest.raises(ValueError, match="reps must be at least 1"):
        make_tiny_dataset(tmp_path / "t", reps=0)
    assert not (tmp_path / "t").exists()
    assert main(["data", "tiny", str(tmp_path / "t"), "--subject-ids", "P01,N01", "--actions", "squat"]) == 0
    assert "wrote 6 samples" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- 7. validation


def test_validate_decodes_frames_inside_the_video(tmp_path):
    pytest.importorskip("av")
    from flexaqa.data.video import write_mp4

    root = tmp_path / "d"
    make_tiny_dataset(
        root, subjects=("P01", "N01"), actions=("squat",), reps=4
    )  # > 2 s: the last frame seeks
    tdir = next((root / "trials").iterdir())
    meta = json.loads((tdir / "trial.json").read_text())
    view = meta["views"][0]
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (view["n_frames"], view["height"], view["width"], 3), dtype=np.uint8)
    path = write_mp4(tdir / view["file"], frames, view["fps"], gop=2)  # many keyframes: seeks skip the middle
    assert main(["data", "validate", str(root)]) == 0
    data = bytearray(path.read_bytes())
    mid = len(data) // 3
    data[mid : mid + 600] = rng.integers(0, 256, 600, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    assert main(["data", "validate", str(root)]) == 1


def test_release_without_skeleton_or_split_and_native_without_emg(tmp_path, capsys):
    pytest.importorskip("scipy")
    import shutil

    rel = tmp_path / "rel"
    make_tiny_dataset(rel, layout="release", subjects=("P01", "N01"), actions=("squat",), reps=2)
    assert main(["data", "validate", str(rel)]) == 0
    shutil.rmtree(rel / "Skeleton")
    shutil.rmtree(rel / "Split_4")
    capsys.readouterr()
    assert main(["data", "validate", str(rel)]) == 1
    out = capsys.readouterr().out
    assert "Skeleton: folder is missing" in out and "Split_4: folder is missing" in out
    nat = tmp_path / "nat"
    make_tiny_dataset(nat, subjects=("P01", "N01"), actions=("squat",), reps=2)
    next((nat / "trials").iterdir()).joinpath("emg.npy").unlink()
    capsys.readouterr()
    assert main(["data", "info", str(nat), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["missing"] == {"emg": 2}


# ------------------------------------------------------------------------------------ 9. the umask is kept


@pytest.mark.parametrize(("umask", "mode"), [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    out = tmp_path / "d"
    code = f"import os; os.umask({umask}); from flexaqa.cli import main; raise SystemExit(main(['data', 'tiny', {str(out)!r}, '--subject-ids', 'P01', '--actions', 'squat', '--reps', '1']))"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()}
    assert modes == {mode}


# ----------------------------------------------------------------------------------------- 10. strict JSON


def _strict(text: str):
    def refuse(name):
        raise AssertionError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_writer_writes_null_for_nan(tmp_path):
    doc = {"a": float("nan"), "b": [np.float32("inf"), np.int64(3)], "c": np.array([1.5, np.nan])}
    assert _strict(json_text(doc)) == {"a": None, "b": [None, 3], "c": [1.5, None]}
    assert _strict(write_json(tmp_path / "x.json", doc).read_text())["a"] is None


def test_emg_bursts_json_is_strict(tmp_path, capsys):
    x = np.random.default_rng(0).normal(0, 0.01, (4000, 1))
    x[1000:1600] *= 40  # a single burst: the fatigue slope is undefined (NaN)
    np.save(tmp_path / "emg.npy", x)
    assert main(["emg", "bursts", str(tmp_path / "emg.npy"), "--fs", "2000", "--json"]) == 0
    doc = _strict(capsys.readouterr().out)
    assert doc["count"] == 1 and doc["fatigue"][0]["slope_hz_per_burst"] is None


def test_readme_emg_bursts_example_finds_the_simulators_repetitions(tmp_path, capsys):
    from flexaqa.synth.generate import synth_trial

    line = next(
        ln
        for ln in (Path(__file__).parents[1] / "README.md").read_text().splitlines()
        if ln.startswith("$ flexaqa emg bursts") and "continuous set" in ln
    )
    argv = line.split("#")[0].split()[2:]
    for action in ("squat", "dumbbell-bent-over-row"):
        trial, _ = synth_trial(action, reps=10, seed=0)
        np.save(tmp_path / "emg.npy", np.asarray(trial.emg.data))
        argv[argv.index(next(a for a in argv if a.endswith(".npy")))] = str(tmp_path / "emg.npy")
        assert main([*argv, "--json"]) == 0
        assert _strict(capsys.readouterr().out)["count"] == len(trial.reps)


# ------------------------------------------------------------------------- 11. long remote work keeps answers


class FlakyChat:
    """A chat endpoint on 127.0.0.1 whose replies follow ``script`` (a status per request, then 200s)."""

    def __init__(self, script=(), fail_after: int | None = None):
        self.script, self.fail_after, self.count = list(script), fail_after, 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                fake.count += 1
                status = fake.script.pop(0) if fake.script else 200
                if fake.fail_after is not None and fake.count > fake.fail_after:
                    status = 500
                body = json.dumps({"choices": [{"message": {"content": "A squat."}}]}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        import threading

        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def qa_dir(tmp_path):
    from flexaqa.vqa import build_qa_set
    from flexaqa.vqa.synthetic import make_sources

    build_qa_set(make_sources(tmp_path / "media", 6, seed=0, splits=("test",)), tmp_path / "qa")
    return tmp_path / "qa"


def test_endpoint_answers_survive_a_failure_and_resume(qa_dir, tmp_path, capsys, monkeypatch):
    import flexaqa.vqa.answerers as answerers

    out = tmp_path / "preds.jsonl"
    argv = ["vqa", "answer", "--refs", str(qa_dir), "--out", str(out), "--model", "m", "--workers", "1"]
    orig = answerers.ChatEndpointAnswerer.__init__

    def fast(self, *a, **k):  # the retry policy without the waiting
        orig(self, *a, **{**k, "retries": 1, "backoff": 0.0})

    monkeypatch.setattr(answerers.ChatEndpointAnswerer, "__init__", fast)
    with FlakyChat(fail_after=8) as chat:  # 2 dialogues of 4 turns, then the server breaks
        assert main([*argv, "--endpoint", chat.url]) == 3
    err = capsys.readouterr().err
    assert "4 of 6 dialogue(s) have no answer" in err and "run the same command again" in err
    kept = [json.loads(ln)["id"] for ln in out.read_text().splitlines()]
    assert len(kept) == 8
    with FlakyChat() as chat:
        assert main([*argv, "--endpoint", chat.url]) == 0
        assert chat.count == 16  # only the 4 missing dialogues were asked
    assert "resuming: keeping the 8 answers" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 24


def test_endpoint_retries_transient_errors(qa_dir):
    from flexaqa.vqa import load_qa_set
    from flexaqa.vqa.answerers import ChatEndpointAnswerer

    refs = load_qa_set(qa_dir, "test")[:4]
    with FlakyChat(script=[429, 503, 502]) as chat:
        answers = ChatEndpointAnswerer(chat.url, "m", retries=3, backoff=0.0).answer(refs)
    assert len(answers) == 4 and chat.count == 7


# -------------------------------------------------------------------------------------------- 12. messages


def test_paths_of_the_wrong_kind_say_so(tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "dir").mkdir()
    assert main(["data", "info", str(tmp_path / "f.txt")]) == 9
    assert "is a file; expected a dataset folder" in capsys.readouterr().err
    assert main(["emg", "bursts", str(tmp_path / "dir"), "--fs", "2000"]) != 0
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["video2emg", "train", "--epochs", "1"], ["failure", "train"]])
def test_default_cross_subject_split_on_two_subjects_suggests_random(tmp_path, capsys, command):
    if command[0] == "video2emg":
        pytest.importorskip("torch")
    make_tiny_dataset(tmp_path / "d", subjects=("P01", "N01"), actions=("squat",), reps=3)
    argv = [*command, "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(argv) == 3  # the data does not fit the protocol
    err = capsys.readouterr().err
    assert "only 2 (N01, P01)" in err and "--protocol random" in err and not (tmp_path / "o").exists()


def test_hints_name_commands_not_python_internals(tmp_path, capsys):
    (tmp_path / "d" / "trials").mkdir(parents=True)
    (tmp_path / "d" / "dataset.json").write_text("{}")
    assert main(["data", "info", str(tmp_path / "d")]) != 0
    err = capsys.readouterr().err
    assert "finalize_dataset" not in err and "flexaqa synth" in err
    from flexaqa.failure import FailureError, FailurePredictor

    with pytest.raises(FailureError) as exc:
        FailurePredictor(exclude=("nope",)).fit([])
    assert "FEATURE_NAMES" not in str(exc.value) and "known:" in str(exc.value)


def test_coach_is_quiet_unless_verbose(tmp_path):
    pytest.importorskip("mediapipe")
    from flexaqa.data.video import write_mp4
    from flexaqa.synth.render import make_view, render
    from flexaqa.synth.simulate import simulate_trial
    from flexaqa.synth.subjects import make_roster

    sim = simulate_trial(make_roster(["N01"], 0)[0], "squat", reps=2, seed=1, fps=30.0, with_signals=False)
    frames = render(sim.joints[::3], make_view("View-5", width=240, height=320, fps=10), load=sim.load_kg)
    video = write_mp4(tmp_path / "squat.mp4", frames, 10)
    r = run("coach", video, "--action", "squat", "--out", tmp_path / "rep")
    assert r.returncode == 0, r.stderr
    for noise in ("TensorFlow Lite", "W0000", "absl", "inference_feedback_manager"):
        assert noise not in r.stderr
    r = run("coach", video, "--action", "squat", "--out", tmp_path / "rep", "--verbose")
    assert r.returncode == 0 and "TensorFlow Lite" in r.stderr


def test_busy_and_incomplete_errors_have_their_codes():
    assert BusyError.exit_code == 75 and IncompleteError.exit_code == 65 and OutputError.exit_code == 73
