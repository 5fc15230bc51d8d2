"""End-to-end fine-tuning on the tiny dataset with tiny encoders: the encoders learn, the loss falls, the run
evaluates and predicts from raw samples, CoRe's exemplar bank follows the encoders, resume continues the same
run exactly, and combinations that make no sense are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flexaqa.aqa import AQAError  # noqa: E402
from flexaqa.aqa.endtoend import (  # noqa: E402
    EndToEndSpec,
    RawAQADataset,
    _loader,
    build_model,
    load_end_to_end,
    train_end_to_end,
)
from flexaqa.aqa.runs import eval_run, predict_samples  # noqa: E402
from flexaqa.cli import main  # noqa: E402
from flexaqa.data import open_dataset  # noqa: E402
from flexaqa.testing import make_tiny_dataset  # noqa: E402
from flexaqa.train import config_from_dict, load_config  # noqa: E402
from flexaqa.train.checkpoint import load_checkpoint  # noqa: E402
from flexaqa.train.trainer import make_optimizer, seed_everything  # noqa: E402

SPEC = dict(video="small3d_tiny", pose="stgcn_tiny", views=("View-1", "View-5"), frames=6, size=32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "tiny"
    return make_tiny_dataset(
        root, subjects=("P01", "P02", "A01", "N01", "N02", "N03"), actions=("squat",), reps=3
    )


def _config(*extra):
    return load_config(overrides=["progress=false", "batch_size=4", *extra])


def _state(model, prefix):
    return {
        k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefix) and v.is_floating_point()
    }


def test_fine_tuning_moves_the_encoders_lowers_the_loss_and_the_run_evaluates(tiny, tmp_path):
    run = tmp_path / "run"
    spec = EndToEndSpec(**SPEC)
    cfg = _config("epochs=6", "lr=0.01", "encoder_lr=0.003")
    res = train_end_to_end(
        tiny.root, out=run, model="usdl_tiny", variant="mv+pose+emg", config=cfg, spec=spec, progress=False
    )["squat"]
    doc = json.loads((run / "run.json").read_text())
    assert doc["mode"] == "end_to_end" and doc["end_to_end"]["video"] == "small3d_tiny"
    hist = json.loads((run / "squat" / "history.json").read_text())
    losses = [h["loss"] for h in hist]
    assert np.mean(losses[-2:]) < 0.97 * losses[0], losses

    seed_everything(cfg.seed)  # the initial weights, rebuilt the way training built them
    init = build_model("usdl_tiny", "mv+pose+emg", spec, "squat")
    trained = load_end_to_end(run / "squat" / "last.pt")
    for prefix in ("video_encoder.", "pose_encoder.", "head.", "adapters."):
        before, after = _state(init, prefix), _state(trained, prefix)
        assert before and before.keys() == after.keys()
        moved = [k for k in before if not torch.equal(before[k], after[k])]
        assert len(moved) > len(before) // 2, (prefix, moved)
    assert trained.adapters.keys() == {"pose"}  # stgcn_tiny is 16-d, the tiny head reads 8-d pose features
    assert not trained.pose_encoder.fcn.weight.requires_grad  # the classifier the features skip stays frozen

    ev = eval_run(run, progress=False)["per_action"]["squat"]  # re-encodes raw test samples
    assert np.isfinite(ev["spearman"]) and np.isfinite(ev["rl2"]) and ev["n"] == res["n"]
    assert ev["spearman"] == pytest.approx(res["spearman"]) and ev["rl2"] == pytest.approx(
        res["rl2"], rel=1e-4
    )
    meta = json.loads((run / "squat" / "meta.json").read_text())
    items = predict_samples(run, meta["ids"]["test"][:2])
    assert [it["sample"] for it in items] == meta["ids"]["test"][:2]
    lo, hi = meta["score_range"]
    assert all(
        lo - 1 <= it["score"] <= hi + 1 for it in items
    )  # USDL's expectation stays in the training range


def test_core_gart_bank_follows_the_encoders_and_resume_continues_exactly(tiny, tmp_path):
    spec = EndToEndSpec(**SPEC)
    kw = dict(model="core_gart_tiny", variant="pose+emg", spec=spec, progress=False)
    train_end_to_end(tiny.root, out=tmp_path / "a", config=_config("epochs=4"), **kw)
    train_end_to_end(tiny.root, out=tmp_path / "b", config=_config("epochs=2"), **kw)
    train_end_to_end(tiny.root, out=tmp_path / "b", config=_config("epochs=4"), resume=True, **kw)
    hist = json.loads((tmp_path / "b" / "squat" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [0, 1, 2, 3]
    a, b = (load_checkpoint(tmp_path / r / "squat" / "last.pt") for r in ("a", "b"))
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k, v in a["state_dict"].items():
        assert torch.allclose(v.float(), b["state_dict"][k].float(), atol=1e-6), k
    assert a["config"]["encoder_lr"] == pytest.approx(1e-4)  # checkpoints carry their config

    # the saved exemplar bank is the training split encoded by the saved encoders
    model = load_end_to_end(tmp_path / "a" / "squat" / "best.pt")
    meta = json.loads((tmp_path / "a" / "squat" / "meta.json").read_text())
    ds = RawAQADataset(open_dataset(tiny.root), meta["ids"]["train"], keys=meta["keys"], spec=spec)
    with torch.no_grad():
        feats = [model.head.fusion(model.encode(b)) for b in _loader(ds, 4)]
    assert torch.allclose(torch.cat(feats), model.head.bank_features, atol=1e-5)
    assert model.head.bank_scores.numel() == len(meta["ids"]["train"])

    ev = eval_run(tmp_path / "a", split="val", progress=False)
    assert ev["mode"] == "end_to_end" and np.isfinite(ev["per_action"]["squat"]["rl2"])


def test_cli_error_aware_round_trip_on_cpu(tiny, tmp_path, capsys):
    run = tmp_path / "cli"
    code = main(
        [
            "train",
            "--data",
            str(tiny.root),
            "--out",
            str(run),
            "--end-to-end",
            "--device",
            "cpu",
            "--model",
            "error_aware",
            "--variant",
            "mv+pose+emg",
            "--views",
            "View-1,View-5",
            "--frames",
            "4",
            "--size",
            "32",
            "--epochs",
            "1",
            "--quiet",
            "--set",
            "model_args.hidden=8",
        ]
    )
    assert code == 0
    assert "run written to" in capsys.readouterr().out
    ckpt = load_checkpoint(run / "squat" / "best.pt")
    assert ckpt["model_args"]["video"] == "small3d" and ckpt["model_args"]["pose"] == "stgcn"
    assert main(["eval", "--run", str(run), "--json", "--quiet"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert np.isfinite(ev["per_action"]["squat"]["spearman"]) and ev["errors"]
    sid = json.loads((run / "squat" / "meta.json").read_text())["ids"]["test"][0]
    assert main(["predict", "--run", str(run), sid, "--json", "--threshold", "0.0"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["sample"] == sid and item["errors"] and all(e["feedback"] for e in item["errors"])


def test_encoder_and_head_learning_rates_and_old_configs():
    cfg = config_from_dict({"lr": 0.01, "progress": False})  # a config written before encoder_lr existed
    assert cfg.encoder_lr == pytest.approx(1e-4)
    net = build_model("usdl_tiny", "pose+emg", EndToEndSpec(**SPEC), "squat")
    groups = {g["name"]: g for g in make_optimizer(net, cfg).param_groups}
    assert groups["encoders"]["lr"] == pytest.approx(1e-4) and groups["head"]["lr"] == pytest.approx(0.01)
    n_enc = sum(p.numel() for p in groups["encoders"]["params"])
    assert n_enc == sum(p.numel() for p in net.pose_encoder.parameters() if p.requires_grad) > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--end-to-end", "--pose", "stats"], "nothing to fine-tune"),
        (["--end-to-end", "--pose", "stgcn+stats"], "nothing to fine-tune"),
        (["--end-to-end", "--variant", "mv", "--views", "View-1,View-2"], "View-2"),
        (["--end-to-end", "--cache", "somewhere"], "--cache has no use"),
        (["--frames", "8"], "only applies with --end-to-end"),
        (["--end-to-end", "--frames", "1"], "frames must be >= 2"),
    ],
)
def test_cli_refusals(tiny, tmp_path, capsys, args, message):
    code = main(
        [
            "train",
            "--data",
            str(tiny.root),
            "--out",
            str(tmp_path / "r"),
            "--epochs",
            "1",
            "--quiet",
            "--variant",
            "pose+emg",
            *args,
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_resume_refuses_a_run_of_the_other_mode(tiny, tmp_path, capsys):
    frozen, e2e = tmp_path / "frozen", tmp_path / "e2e"
    base = [
        "train",
        "--data",
        str(tiny.root),
        "--epochs",
        "1",
        "--quiet",
        "--variant",
        "pose+emg",
        "--set",
        "model_args.hidden=8",
    ]
    assert main([*base, "--out", str(frozen)]) == 0
    assert main([*base, "--out", str(frozen), "--end-to-end", "--frames", "4", "--resume"]) == 2
    assert "frozen-encoder run: --resume it without --end-to-end" in capsys.readouterr().err
    with pytest.raises(AQAError, match="not an end-to-end AQA model"):
        load_end_to_end(frozen / "squat" / "best.pt")
    train_end_to_end(
        tiny.root,
        out=e2e,
        model="usdl_tiny",
        variant="pose+emg",
        spec=EndToEndSpec(**SPEC),
        config=_config("epochs=1"),
        progress=False,
    )
    assert main([*base, "--out", str(e2e), "--resume"]) == 2
    assert "end-to-end run: --resume it with --end-to-end" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_device_without_a_gpu_is_refused(tiny, tmp_path, capsys):
    code = main(
        [
            "train",
            "--data",
            str(tiny.root),
            "--out",
            str(tmp_path / "r"),
            "--end-to-end",
            "--device",
            "cuda",
            "--quiet",
        ]
    )
    assert code == 2 and "no CUDA GPU" in capsys.readouterr().err


def test_torchrun_two_processes_fine_tune_from_the_cli(tiny, tmp_path, torchrun):
    """``torchrun --nproc_per_node=2 -m flexaqa train --end-to-end`` on CPU (gloo): DDP, one run folder, one report."""
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
        "--end-to-end",
        "--variant",
        "pose+emg",
        "--frames",
        "4",
        "--epochs",
        "2",
        "--quiet",
        "--set",
        "model_args.hidden=8",
        "--set",
        "batch_size=4",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("run written to") == 1  # rank 0 reports
    hist = json.loads((run / "squat" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [0, 1]
    assert json.loads((run / "run.json").read_text())["mode"] == "end_to_end"
    assert np.isfinite(eval_run(run, progress=False)["per_action"]["squat"]["spearman"])


def test_i3d_weights_with_another_video_encoder_are_refused(tiny, tmp_path, capsys):
    weights = tmp_path / "model_rgb.pth"
    weights.write_bytes(b"not used")
    code = main(
        [
            "train",
            "--data",
            str(tiny.root),
            "--out",
            str(tmp_path / "r"),
            "--end-to-end",
            "--quiet",
            "--variant",
            "mv",
            "--views",
            "View-1,View-5",
            "--video-weights",
            str(weights),
        ]
    )
    assert code == 2 and "use it with --video i3d" in capsys.readouterr().err
