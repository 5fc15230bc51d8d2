"""The AQA protocol's guarantees: validation carved out of training, standardisation by the training split,
resume that follows last.pt, byte-reproducible checkpoints, the split seed that was used, refusals to mix runs,
random-init encoders marked and refused by the benchmark."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flexaqa._io import atomic_write_bytes  # noqa: E402
from flexaqa.aqa import AQAError  # noqa: E402
from flexaqa.aqa.bench import markdown, run_benchmark  # noqa: E402
from flexaqa.aqa.features import FeatureSpec  # noqa: E402
from flexaqa.aqa.protocol import ActionData, RandomInitWarning, action_split, fit_transform  # noqa: E402
from flexaqa.aqa.runs import train_run  # noqa: E402
from flexaqa.data import open_dataset  # noqa: E402
from flexaqa.data.splits import hold_out  # noqa: E402
from flexaqa.models.synthetic import make_feature_set, split_feature_set  # noqa: E402
from flexaqa.testing import make_tiny_dataset  # noqa: E402
from flexaqa.train import load_config  # noqa: E402
from flexaqa.train.checkpoint import load_checkpoint  # noqa: E402
from flexaqa.train.trainer import TrainError, fit  # noqa: E402

SPEC = FeatureSpec(views=("View-1", "View-5"), video_frames=8, video_size=32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("proto") / "tiny"
    return make_tiny_dataset(root, subjects=("P01", "P02", "A01", "N01", "N02"), actions=("squat",), reps=3)


def _cfg(*extra):
    return load_config(overrides=["progress=false", "epochs=2", "batch_size=4", *extra])


def test_validation_is_carved_out_of_training(tiny):
    source = open_dataset(tiny.root)
    splits = dict(source.splits("random", seed=0), val=[])
    ids = action_split(source, splits, "squat", seed=0)
    train_before = sorted(i for i in splits["train"] if source.record(i).action == "squat")
    assert ids["val"] and not set(ids["val"]) & set(ids["train"])
    assert sorted(ids["train"] + ids["val"]) == train_before


def test_hold_out_keeps_groups_whole_and_leaves_enough():
    items = [f"{s}-{r}" for s in "abcdefgh" for r in range(3)]
    rest, taken = hold_out(items, 0.25, np.random.default_rng(1), group_of=lambda i: i[0])
    assert len({i[0] for i in taken}) == 2 and not {i[0] for i in taken} & {i[0] for i in rest}
    assert sorted(rest + taken) == sorted(items)
    assert hold_out(["a", "b"], 0.5, np.random.default_rng(0), min_rest=2) == (["a", "b"], [])


def test_every_split_is_standardised_with_the_training_statistics():
    rng = np.random.default_rng(0)
    feats = {
        k: {"pose": rng.normal(loc, scale, (20, 3))}
        for k, loc, scale in (("train", 5.0, 2.0), ("val", -3.0, 0.5), ("test", 10.0, 4.0))
    }
    data = ActionData("squat", {}, feats, {k: rng.uniform(0, 10, 20) for k in feats})
    arrays, _ = fit_transform(data, normalize=True)
    mu, sd = feats["train"]["pose"].mean(0), feats["train"]["pose"].std(0)
    for k in ("val", "test"):
        assert np.allclose(arrays[k]["pose"], (feats[k]["pose"] - mu) / sd, atol=1e-5)
        assert not np.allclose(arrays[k]["pose"].mean(0), 0, atol=0.5)  # not its own statistics
    lo, hi = data.scores["train"].min(), data.scores["train"].max()
    assert np.allclose(arrays["val"]["score"], (data.scores["val"] - lo) / (hi - lo) * 100, atol=1e-3)


def _perturb_last(run_dir, marker=1234.5):
    """last.pt says only epoch 0 is done, with a marked history row and shifted weights."""
    ckpt = load_checkpoint(run_dir / "last.pt")
    ckpt["epoch"], ckpt["history"] = 0, [dict(ckpt["history"][0], loss=marker)]
    ckpt["state_dict"] = {k: v + 0.5 if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    import io

    buf = io.BytesIO()
    torch.save(ckpt, buf)
    atomic_write_bytes(run_dir / "last.pt", buf.getvalue())


def test_trainer_resume_follows_last_pt(tmp_path):
    train, val, _ = split_feature_set(make_feature_set("A01", 60, seed=0), seed=0)
    cfg = load_config(overrides=["model=usdl_tiny", "epochs=3", "progress=false", "batch_size=8"])
    straight = fit(cfg, train, val, run_dir=tmp_path / "r")
    _perturb_last(tmp_path / "r")
    resumed = fit(cfg, train, val, run_dir=tmp_path / "r", resume=True)
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2]
    assert resumed.history[0]["loss"] == 1234.5  # epoch 0 was not run again
    assert resumed.history[1]["loss"] != pytest.approx(
        straight.history[1]["loss"]
    )  # from the shifted weights
    with pytest.raises(TrainError, match="lr"):
        fit(
            load_config(
                overrides=["model=usdl_tiny", "epochs=3", "progress=false", "batch_size=8", "lr=0.5"]
            ),
            train,
            val,
            run_dir=tmp_path / "r",
            resume=True,
        )
    with pytest.raises(TrainError, match="already trained"):
        fit(
            load_config(overrides=["model=usdl_tiny", "epochs=1", "progress=false", "batch_size=8"]),
            train,
            val,
            run_dir=tmp_path / "r",
            resume=True,
        )


def test_end_to_end_resume_follows_last_pt(tiny, tmp_path):
    from flexaqa.aqa.endtoend import EndToEndSpec, train_end_to_end

    spec = EndToEndSpec(
        video="small3d_tiny", pose="stgcn_tiny", views=("View-1", "View-5"), frames=6, size=32
    )
    kw = dict(model="usdl_tiny", variant="pose+emg", spec=spec, progress=False)
    cfg = load_config(overrides=["progress=false", "batch_size=4", "epochs=2", "device=cpu"])
    with pytest.warns(RandomInitWarning):
        train_end_to_end(tiny.root, out=tmp_path / "e", config=cfg, **kw)
    _perturb_last(tmp_path / "e" / "squat")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomInitWarning)
        train_end_to_end(tiny.root, out=tmp_path / "e", config=cfg, resume=True, **kw)
    hist = json.loads((tmp_path / "e" / "squat" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [0, 1] and hist[0]["loss"] == 1234.5


def test_same_seed_gives_byte_identical_checkpoints(tmp_path):
    train, val, _ = split_feature_set(make_feature_set("A01", 40, seed=0), seed=0)
    cfg = load_config(overrides=["model=usdl_tiny", "epochs=2", "progress=false", "batch_size=8"])
    for name in ("a", "b"):
        fit(cfg, train, val, run_dir=tmp_path / name)
    for f in ("best.pt", "last.pt"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_run_json_records_the_split_seed_used(tmp_path):
    tiny = make_tiny_dataset(
        tmp_path / "d", subjects=("P01", "P02", "A01", "N01"), actions=("squat",), reps=3
    )
    import shutil

    shutil.rmtree(tiny.root / "splits", ignore_errors=True)
    open_dataset(tiny.root).splits("random", seed=1)  # saved with the dataset: seed 1
    train_run(
        tiny.root,
        out=tmp_path / "r",
        model="usdl",
        variant="pose",
        config=_cfg("seed=0"),
        spec=SPEC,
        progress=False,
    )
    assert json.loads((tmp_path / "r" / "run.json").read_text())["split_seed"] == 1


def test_a_run_folder_holds_one_run(tiny, tmp_path):
    out = tmp_path / "r"
    kw = dict(out=out, variant="pose", spec=SPEC, progress=False)
    train_run(tiny.root, model="usdl", config=_cfg(), **kw)
    with pytest.raises(AQAError, match="--force"):  # another model: refused
        train_run(tiny.root, model="core_gart", config=_cfg(), **kw)
    with pytest.raises(AQAError, match="only epochs may grow"):  # resume with other settings: refused
        train_run(tiny.root, model="usdl", config=_cfg("lr=0.5"), resume=True, **kw)
    train_run(tiny.root, model="usdl", config=_cfg("epochs=3"), resume=True, **kw)  # more epochs: continues
    saved = load_config(out / "squat" / "config.yaml")
    assert saved.epochs == 3 == json.loads((out / "run.json").read_text())["config"]["epochs"]
    train_run(tiny.root, model="core_gart", config=_cfg(), force=True, **kw)  # --force: replaced
    assert load_checkpoint(out / "squat" / "last.pt")["model_name"] == "core_gart"
    assert len(json.loads((out / "squat" / "history.json").read_text())) == 2


def test_random_init_encoders_are_marked_and_refused_by_the_benchmark(tiny, tmp_path):
    spec = FeatureSpec(views=("View-1", "View-5"), video_frames=8, video_size=32, pose="stgcn")
    with pytest.warns(RandomInitWarning, match="pose stgcn"):
        train_run(
            tiny.root,
            out=tmp_path / "r",
            model="usdl",
            variant="pose",
            config=_cfg(),
            spec=spec,
            progress=False,
        )
    assert json.loads((tmp_path / "r" / "run.json").read_text())["random_init"] == ["pose stgcn"]
    assert json.loads((tmp_path / "r" / "train_results.json").read_text())["random_init"] == ["pose stgcn"]
    rows = [("Pose", "usdl", "pose"), ("SV", "usdl", "sv")]
    with pytest.raises(AQAError, match="--allow-random-encoders"):
        run_benchmark(
            tiny.root, seeds=(0,), epochs=1, rows=rows, spec=spec, measure_i3d=False, progress=False
        )
    doc = run_benchmark(
        tiny.root,
        seeds=(0,),
        epochs=1,
        rows=rows,
        spec=spec,
        measure_i3d=False,
        progress=False,
        allow_random_encoders=True,
    )
    by = {r["row"]: r for r in doc["rows"]}
    assert by["Pose"]["random_init"] == ["pose stgcn"] and by["SV"]["random_init"] == []
    assert "| Pose (random init: pose stgcn) |" in markdown(doc)
