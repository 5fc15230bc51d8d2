"""AQA training, evaluation and prediction: learning on features with a known relation, the train -> eval ->
predict round trip through the CLI on a tiny dataset, and the CLI's error paths."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flexaqa._io import WRITER_NAME  # noqa: E402
from flexaqa.aqa.runs import (  # noqa: E402
    ActionData,
    fit_transform,
    from_model_scale,
    model_args_for,
    predict_arrays,
    score_metrics,
)
from flexaqa.cli import main  # noqa: E402
from flexaqa.data.splits import save_splits  # noqa: E402
from flexaqa.metrics import spearman_score  # noqa: E402
from flexaqa.models.synthetic import make_feature_set  # noqa: E402
from flexaqa.testing import make_tiny_dataset  # noqa: E402
from flexaqa.train import config_from_dict  # noqa: E402
from flexaqa.train.trainer import fit  # noqa: E402


def _action_data(n: int = 120) -> ActionData:
    """Features that are noisy linear images of the slots, scores = FKG scores of the slots (known relation);
    scores shifted to 40..90 so the 0-100 normalisation is exercised."""
    d = make_feature_set("A16", n, seed=3, video_dim=12, pose_dim=6)
    rows = {"train": slice(0, 80), "val": slice(80, 96), "test": slice(96, n)}
    keys = ("video_v1", "video_v2", "pose", "emg")
    return ActionData(
        action="squat",
        ids={k: [f"s{i}" for i in range(n)[r]] for k, r in rows.items()},
        features={k: {key: d[key][r] * 5 + 3 for key in keys} for k, r in rows.items()},  # unstandardised
        scores={k: 40 + 0.5 * d["score"][r] for k, r in rows.items()},
        slots={k: d["slots"][r] for k, r in rows.items()},
        keys=keys,
    )


@pytest.mark.parametrize("model", ["core_gart", "usdl", "error_aware"])
def test_short_training_lowers_the_loss_and_beats_a_constant(model):
    data = _action_data()
    if model != "error_aware":
        data.slots = None
    arrays, meta = fit_transform(data, normalize=model != "error_aware")
    tr = arrays["train"]
    assert np.allclose(tr["video_v1"].mean(0), 0, atol=1e-5) and np.allclose(
        tr["video_v1"].std(0), 1, atol=1e-4
    )
    if meta["normalized"]:
        assert tr["score"].min() == pytest.approx(0) and tr["score"].max() == pytest.approx(100)
        assert np.allclose(from_model_scale(tr["score"], meta), data.scores["train"], atol=1e-3)
    args = model_args_for(model, "mv+pose+emg", data, {} if model == "usdl" else {"hidden": 32})
    assert (args["video_dim"], args["pose_dim"], args["emg_dim"]) == (12, 6, 2)
    cfg = config_from_dict(
        {
            "model": model,
            "model_args": args,
            "epochs": 15,
            "lr": 3e-3,
            "progress": False,
            "score_range": [0, 100] if meta["normalized"] else meta["score_range"],
        }
    )
    res = fit(cfg, arrays["train"], arrays["val"])
    losses = [h["loss"] for h in res.history]
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:2])
    pred = predict_arrays(res.model, arrays["test"], meta)
    m = score_metrics(data.scores["test"], pred["score"], meta["score_range"])
    constant = spearman_score(data.scores["test"], np.full(len(pred["score"]), data.scores["train"].mean()))
    assert m["spearman"] > constant + 0.4
    assert 30 < pred["score"].mean() < 100  # back on the original scale


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("aqa") / "tiny"
    return make_tiny_dataset(
        root, subjects=("P01", "P02", "A01", "N01", "N02", "N03"), actions=("squat",), reps=3
    )


def _train(tiny, out, *extra):
    return main(
        [
            "train",
            "--data",
            str(tiny.root),
            "--out",
            str(out),
            "--epochs",
            "3",
            "--quiet",
            "--set",
            "model_args.hidden=16",
            "--views",
            "View-1,View-5",
            *extra,
        ]
    )


def test_train_eval_predict_round_trip(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(tiny, run, "--model", "error_aware", "--variant", "mv+pose+emg") == 0
    assert {p.name for p in (run / "squat").iterdir()} >= {"best.pt", "last.pt", "config.yaml", "meta.json"}
    meta = json.loads((run / "squat" / "meta.json").read_text())
    train_scores = [tiny.scores[i] for i in meta["ids"]["train"]]
    assert meta["score_range"] == pytest.approx([min(train_scores), max(train_scores)])
    trained = json.loads((run / "train_results.json").read_text())["per_action"]["squat"]
    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--json", "--quiet"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["per_action"]["squat"]["spearman"] == pytest.approx(trained["spearman"])  # reloaded = in memory
    assert ev["per_action"]["squat"]["rl2"] == pytest.approx(trained["rl2"], rel=1e-5)
    assert ev["per_action"]["squat"]["n"] == len(meta["ids"]["test"])
    assert {e["error"] for e in ev["errors"]} and all(0 <= e["f1"] <= 1 for e in ev["errors"])
    sid = meta["ids"]["test"][0]
    assert main(["predict", "--run", str(run), sid, "--json", "--threshold", "0.0"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["sample"] == sid and item["true_score"] == pytest.approx(tiny.scores[sid])
    assert 0 <= item["score"] <= 100
    assert item["errors"] and all(e["feedback"] and e["keystep"].startswith("AK") for e in item["errors"])
    assert item["fkg_score_of_errors"] < 100  # threshold 0: every slot counts as an error
    assert main(["predict", "--run", str(run), sid]) == 0
    assert "feedback:" in capsys.readouterr().out

    # the run's predictions feed the VideoQA KG-coach answerer
    preds = tmp_path / "preds.jsonl"
    assert (
        main(["predict", "--run", str(run), "--split", "all", "--jsonl", str(preds), "--threshold", "0.5"])
        == 0
    )
    records = [json.loads(line) for line in preds.read_text().splitlines()]
    assert sorted(r["sample_id"] for r in records) == sorted(tiny.sample_ids)
    assert all(r["action"] == "squat" and all(":" in s for s in r["slots"]) for r in records)
    qa, answers = tmp_path / "qa", tmp_path / "answers.jsonl"
    assert main(["vqa", "build", "--data", str(tiny.root), "--out", str(qa)]) == 0
    assert main(["vqa", "answer", "--refs", str(qa), "--kg-coach", str(preds), "--out", str(answers)]) == 0
    n_test_qa = len((qa / "qa_test.jsonl").read_text().splitlines())
    assert len(answers.read_text().splitlines()) == n_test_qa


def test_core_gart_run_and_resume(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(tiny, run, "--variant", "pose+emg") == 0
    assert _train(tiny, run, "--variant", "pose+emg", "--resume") == 0  # all epochs done: nothing to redo
    hist = json.loads((run / "squat" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    capsys.readouterr()
    assert main(["eval", "--run", str(run)]) == 0
    assert "Fisher-z" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "core_gartt"], "did you mean core_gart"),
        (["--model", "small3d"], "not a scoring head"),
        (["--variant", "mv+emg"], "unknown variant"),
        (["--variant", "mv", "--views", "View-1,View-2"], "View-2"),  # the tiny set has View-1 and View-5
        (["--split", "empty", "--variant", "pose"], "0 training samples"),
    ],
)
def test_cli_error_paths(tiny, tmp_path, capsys, args, message):
    save_splits(tiny.root, "empty", {"train": [], "val": [], "test": list(tiny.sample_ids)})
    code = main(
        ["train", "--data", str(tiny.root), "--out", str(tmp_path / "r"), "--epochs", "1", "--quiet", *args]
    )
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before the run folder was made


def _files(folder):
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*") if p.name != "eval.json"}


def test_a_refused_train_leaves_a_finished_run_finished(tiny, tmp_path, capsys):
    """A command refused in a folder that holds a finished run (unknown variant, other settings, --resume with
    other settings, --resume with --force, an empty split) changes nothing in it: no incomplete marker, eval and
    predict still read it."""
    run = tmp_path / "run"
    assert _train(tiny, run, "--variant", "pose+emg") == 0
    files = _files(run)
    save_splits(tiny.root, "empty", {"train": [], "val": [], "test": list(tiny.sample_ids)})
    refused = [
        (["--variant", "mv+emg"], "unknown variant"),
        (["--variant", "pose"], "it holds another run"),
        (["--variant", "pose+emg", "--model", "usdl"], "it holds another run"),
        (["--variant", "pose+emg", "--resume", "--set", "lr=0.5"], "--resume continues the run"),
        (["--variant", "pose+emg", "--resume", "--force"], "give one of them"),
        (["--variant", "pose+emg", "--split", "empty", "--force"], "0 training samples"),
    ]
    for extra, message in refused:
        capsys.readouterr()
        assert _train(tiny, run, *extra) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "incomplete" not in err, (extra, err)
        assert not (run / WRITER_NAME).exists(), extra
        assert _files(run) == files, extra  # not a file touched
        assert main(["eval", "--run", str(run), "--quiet"]) == 0, extra


def test_a_train_that_fails_after_writing_leaves_the_run_incomplete(tiny, tmp_path, capsys, monkeypatch):
    """The other side of the guarantee: a run that started writing (here --force replaced the old run) and then
    failed stays marked incomplete, and eval refuses it (exit 65) naming the command that redoes it."""
    import flexaqa.aqa.runs as runs

    run = tmp_path / "run"
    assert _train(tiny, run, "--variant", "pose+emg") == 0

    def broken_fit(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "fit", broken_fit)
    assert _train(tiny, run, "--variant", "pose", "--force") == 74
    assert "incomplete" in capsys.readouterr().err
    assert (run / WRITER_NAME).is_file()
    assert main(["eval", "--run", str(run), "--quiet"]) == 65
    assert "did not finish" in capsys.readouterr().err
    monkeypatch.undo()
    assert _train(tiny, run, "--variant", "pose", "--force") == 0
    assert not (run / WRITER_NAME).exists() and main(["eval", "--run", str(run), "--quiet"]) == 0


def test_eval_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["eval", "--run", str(tmp_path)]) == 2
    assert "not a flexaqa AQA run" in capsys.readouterr().err


def _train_rank(rank: int, world: int, port: int, data: str, out: str, cache: str) -> None:
    """One rank of ``flexaqa train`` as torchrun starts it; rank 1 starts only once rank 0 wrote ``run.json``."""
    import os
    import time
    from pathlib import Path

    from flexaqa.train.distributed import init_distributed

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    torch.set_num_threads(1)
    init_distributed()
    if rank == 1:  # the slow rank: it looks at the run folder after rank 0 (which holds its lock) started it
        deadline = time.monotonic() + 120
        while not (Path(out) / "run.json").is_file():
            assert time.monotonic() < deadline, "rank 0 wrote no run.json"
            time.sleep(0.05)
    argv = [
        "aqa",
        "train",
        "--data",
        data,
        "--out",
        out,
        "--cache",
        cache,
        "--variant",
        "pose+emg",
        "--epochs",
        "1",
    ]
    code = main([*argv, "--no-progress", "--set", "model_args.hidden=16"])
    (Path(out).parent / f"code{rank}").write_text(str(code))


def test_a_rank_that_starts_after_rank_0_wrote_the_run_folder_trains(tiny, tmp_path):
    """The torchrun flake made deterministic: rank 1 reached the run-folder check after rank 0 had written
    ``run.json`` under the folder's lock and exited 75 (busy). Only rank 0 checks and writes the folder; the others
    wait for it, also while rank 0 fills a new feature cache."""
    import socket
    import time

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run, cache = tmp_path / "run", tmp_path / "cache"
    args = (2, port, str(tiny.root), str(run), str(cache))
    ctx = mp.start_processes(_train_rank, args=args, nprocs=2, start_method="spawn", join=False)
    codes = {r: tmp_path / f"code{r}" for r in (0, 1)}
    deadline = time.monotonic() + 240
    try:  # a rank that failed leaves the other one waiting at a collective: stop as soon as one fails
        while not ctx.join(timeout=0.5):
            failed = [f.read_text() for f in codes.values() if f.is_file() and f.read_text() != "0"]
            if failed or time.monotonic() > deadline:
                break
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.terminate()
    assert {r: f.read_text() if f.is_file() else None for r, f in codes.items()} == {0: "0", 1: "0"}
    assert json.loads((run / "run.json").read_text())["actions"] == ["squat"]
    assert (run / "squat" / "best.pt").is_file()
    assert list(cache.rglob("shard-*.ids.json"))  # rank 0 filled the new cache while rank 1 waited


def test_torchrun_two_processes_train_from_the_cli(tiny, tmp_path, torchrun):
    """``torchrun --nproc_per_node=2 -m flexaqa train`` on CPU (gloo): one run folder, one report."""
    import subprocess

    run = tmp_path / "ddp"
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "flexaqa",
        "train",
        "--data",
        str(tiny.root),
        "--out",
        str(run),
        "--variant",
        "pose+emg",
        "--epochs",
        "2",
        "--quiet",
        "--set",
        "model_args.hidden=16",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("run written to") == 1  # rank 0 reports
    hist = json.loads((run / "squat" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [0, 1]
