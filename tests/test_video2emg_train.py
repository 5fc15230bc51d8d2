"""Video2EMG / Pose2EMG networks: shapes, a ResNet-50 backbone from a user checkpoint, a tiny training run that
beats the mean-envelope baseline on simulated data, checkpoints and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flexaqa.models import ModelError, create_model  # noqa: E402

# flexaqa.video2emg.train (which registers the models) is imported inside the tests, not at collection: the
# registry's generic test expects (batch, feature_dim) encoders, and these models return one value per frame.


@pytest.fixture(scope="module")
def v2e():
    import flexaqa.video2emg.train as v2e

    return v2e


@pytest.mark.parametrize("name", ["video2emg_tiny", "pose2emg_tiny"])
def test_one_output_per_frame_and_channel(name, v2e):
    torch.manual_seed(0)
    model = create_model(name)
    x = model.example_input(3)
    y = model(x, torch.tensor([1, 16, 20]))
    assert y.shape == (3, x.shape[1], v2e.MAX_CHANNELS)
    y.square().mean().backward()
    unused = "backbone.fc."  # the ResNet's classifier is kept for the torchvision key layout, not used here
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith(unused))
    # unidirectional: frames after t never change the output at t
    with torch.no_grad():
        model.eval()
        x2 = x.clone()
        x2[:, -1] = x2[:, -1] + 1.0
        a, b = model(x, None), model(x2, None)
    kernel_reach = model.head.conv.padding[0]  # the temporal convolution looks this many frames ahead
    np.testing.assert_allclose(a[:, : -1 - kernel_reach], b[:, : -1 - kernel_reach], atol=1e-6)


def test_resnet50_backbone_loads_a_user_checkpoint(tmp_path, v2e):
    torch.manual_seed(0)
    ref = create_model("resnet50")  # stands in for an ImageNet checkpoint (torchvision key layout)
    path = tmp_path / "resnet50_imagenet.pth"
    torch.save(ref.state_dict(), path)
    model = create_model("video2emg", backbone="resnet50", backbone_weights=str(path), freeze_backbone=True)
    for k, v in ref.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(model.backbone.state_dict()[k], v), k
    assert not any(p.requires_grad for p in model.backbone.parameters())
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ModelError, match="does not fit"):
        create_model("video2emg", backbone="resnet50", backbone_weights=str(tmp_path / "bad.pth"))


def _sim_examples(seed: int):
    """Simulated curls where half the repetitions are lowered too quickly (ET018), so the timing of the sEMG
    bursts follows the motion and a fixed template cannot follow it."""
    from flexaqa.synth import make_roster, simulate_trial
    from flexaqa.video2emg import examples_from_sim

    subj = make_roster(["P01"], seed=0)[0]
    errors = [{"AK18:ET018": 1.0} if (r + seed) % 2 else {} for r in range(10)]
    sim = simulate_trial(subj, "dumbbell-biceps-curl", reps=10, seed=seed, errors=errors)
    return examples_from_sim(sim, stride=8)


def test_tiny_pose2emg_beats_the_mean_envelope_baseline(tmp_path, v2e):
    torch.set_num_threads(1)
    train = [e for s in range(4) for e in _sim_examples(s)]
    val, test = _sim_examples(10), _sim_examples(11) + _sim_examples(12)
    cfg = v2e.Video2EMGConfig(input="pose", model="pose2emg_tiny", epochs=30, lr=1e-2, progress=False)
    run = v2e.fit_video2emg(cfg, train, val, run_dir=tmp_path)
    report, pred, env = v2e.evaluate_run(run, test)
    model, base = report["model"]["overall"], report["baseline_envelope"]["overall"]
    assert report["beats_baseline"], (model, base)
    assert model["mae"] < 0.95 * base["mae"]
    assert report["baseline_envelope"]["overall"]["mae"] < report["baseline_constant"]["overall"]["mae"]
    assert all(p.shape == b.shape == e.y.shape for p, b, e in zip(pred, env, test, strict=True))
    # the checkpoint rebuilds the same predictor, normalisation and baseline
    again = v2e.load_model(tmp_path / "best.pt")
    report2, _, _ = v2e.evaluate_run(again, test)
    assert report2["model"]["overall"] == pytest.approx(report["model"]["overall"])
    assert report2["baseline_envelope"]["overall"] == pytest.approx(base)


def test_cli_trains_and_evaluates_on_a_tiny_dataset(tmp_path, capsys):
    pytest.importorskip("av")
    import json

    from flexaqa.cli import main
    from flexaqa.testing import make_tiny_dataset

    make_tiny_dataset(tmp_path / "data", subjects=("P01", "P02", "N01", "N02"), actions=("squat",), reps=2)
    run = tmp_path / "run"
    args = ["--data", str(tmp_path / "data"), "--protocol", "random", "--no-progress", "--plot-samples", "2"]
    assert (
        main(
            [
                "video2emg",
                "train",
                *args,
                "--input",
                "video",
                "--model",
                "video2emg_tiny",
                "--size",
                "32x24",
                "--epochs",
                "2",
                "--stride",
                "6",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    assert (run / "best.pt").is_file() and (run / "envelopes.png").is_file()
    # refused before its first write (a video model given pose input): the finished run stays finished
    from flexaqa._io import WRITER_NAME

    stamp = (run / "best.pt").stat().st_mtime_ns
    refused = ["video2emg", "train", *args, "--input", "pose", "--model", "video2emg_tiny", "--out", str(run)]
    assert main(refused) == 2
    assert "video2emg_tiny" in capsys.readouterr().err
    assert not (run / WRITER_NAME).exists() and (run / "best.pt").stat().st_mtime_ns == stamp
    from flexaqa.video2emg.train import load_model

    # --size is WxH; the config keeps (H, W)
    assert tuple(load_model(run / "best.pt").config.size) == (24, 32)
    assert (
        main(
            ["video2emg", "eval", *args, "--checkpoint", str(run / "best.pt"), "--out", str(tmp_path / "ev")]
        )
        == 0
    )
    rep = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert rep["input"] == "video" and rep["n_samples"] > 0
    assert set(rep["model"]["per_muscle"]) == {
        "Left vastus lateralis",
        "Right vastus lateralis",
        "Left biceps femoris",
        "Right biceps femoris",
    }
    assert "baseline" in capsys.readouterr().out
    assert main(["video2emg", "eval", *args, "--checkpoint", str(tmp_path / "nope.pt"), "--out", "x"]) == 9


def test_progress_encoding_of_a_cropped_window_matches_the_full_repetition(v2e):
    from flexaqa.video2emg.models import progress_encoding

    full = progress_encoding(1, 50, torch.tensor([50]), "cpu")  # (1, 50, E)
    window = progress_encoding(1, 20, torch.tensor([[12, 50]]), "cpu")  # frames 12..31 of the repetition
    torch.testing.assert_close(window, full[:, 12:32])
    padded = progress_encoding(2, 50, torch.tensor([50, 30]), "cpu")
    torch.testing.assert_close(padded[1, 29], full[0, 49])  # the last real frame is at progress 1
