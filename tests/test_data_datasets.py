import math

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("av")

import torch

from flexaqa.data import DataError
from flexaqa.data.base import CORE_CLIP_STARTS, core_clip_indices, open_dataset, uniform_times
from flexaqa.data.cache import FeatureCache, build_feature_cache, config_hash
from flexaqa.data.datasets import FlexPairDataset, FlexSampleDataset, pad_collate
from flexaqa.testing import decode_frame_index, make_tiny_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("torch"), subjects=("P01", "A01", "N01", "N02"), reps=3)


def to_uint8(video):  # (..., 3, H, W) float -> (..., H, W, 3) uint8
    return (video * 255).round().to(torch.uint8).movedim(-3, -1).numpy()


def test_core_clips_are_the_103_frames_in_10x16(tiny):
    assert (
        core_clip_indices().shape == (10, 16) and core_clip_indices()[-1, -1] == 101
    )  # CoRe: last clip starts at 86
    ds = FlexSampleDataset(
        tiny.root, views=["View-1"], frames="core", size=None, modalities=("video", "pose")
    )
    item = ds[0]
    assert item["video"].shape == (1, 10, 3, 16, 32, 32)
    rec = ds.records[0]
    want = np.floor(uniform_times(rec.start, rec.end, 103) * 120 + 1e-9).astype(int)
    for k, start in enumerate(CORE_CLIP_STARTS):
        clip = item["video"][0, k].permute(1, 0, 2, 3)  # (16, 3, H, W)
        np.testing.assert_array_equal(decode_frame_index(to_uint8(clip)), want[start : start + 16])
    # pose is taken at the same instants as the frames
    np.testing.assert_allclose(item["pose"][:, 0, 0].numpy(), want / 120, atol=1e-5)


def test_uniform_frames_views_and_sizes(tiny):
    ds = FlexSampleDataset(tiny.root, split="train", frames=8, size=16, views=["View-1", "View-5"])
    item = ds[1]
    assert item["video"].shape == (2, 3, 8, 16, 16) and item["video"].dtype == torch.float32
    assert item["video"].min() >= 0.0 and item["video"].max() <= 1.0
    assert item["emg"].shape[0] == 4 and item["emg_fs"] == 2000
    assert item["class_index"].dtype == torch.long and not math.isnan(item["score"].item())
    assert {r.id for r in ds.records} == set(open_dataset(tiny.root).splits("random")["train"])


def test_transforms_target_one_key(tiny):
    ds = FlexSampleDataset(tiny.root, modalities=("emg",), transforms={"emg": lambda x: x.abs() * 0 + 7})
    item = ds[0]
    assert (item["emg"] == 7).all() and "video" not in item


def test_pad_collate_pads_variable_length_and_channels(tiny):
    ds = FlexSampleDataset(tiny.root, modalities=("pose", "emg", "breath"), frames=None)
    squat = next(i for i, r in enumerate(ds.records) if r.action == "squat")
    row = next(i for i, r in enumerate(ds.records) if r.action == "dumbbell-bent-over-row")
    a, b = ds[squat], ds[row]
    b["pose"] = b["pose"][:40]
    b["emg"] = b["emg"][:, :700]
    batch = pad_collate([a, b])
    assert batch["pose"].shape == (2, 60, 21, 3) and batch["pose_lengths"].tolist() == [60, 40]
    assert batch["emg"].shape == (2, 4, 1000) and batch["emg_lengths"].tolist() == [1000, 700]
    assert batch["emg_channels"].tolist() == [4, 2]
    assert (batch["emg"][1, 2:] == 0).all() and (batch["emg"][1, :, 700:] == 0).all()
    torch.testing.assert_close(batch["emg"][1, :2, :700], b["emg"])
    assert batch["id"] == [a["id"], b["id"]]
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=pad_collate)
    assert next(iter(loader))["pose"].shape[0] == 3


def test_pair_dataset_train_exemplars(tiny):
    pairs = FlexPairDataset(tiny.root, split="train", frames=4, size=16, modalities=("pose",))
    train_ids = set(open_dataset(tiny.root).splits("random")["train"])
    seen = set()
    for epoch in range(3):
        pairs.set_epoch(epoch)
        for i in range(len(pairs)):
            (j,) = pairs.exemplar_indices(i)
            q, e = pairs.queries.records[i], pairs.pool.records[j]
            assert e.action == q.action and e.id in train_ids and e.id != q.id
            seen.add((i, j))
    assert len(seen) > len(pairs)  # exemplars change across epochs
    item = pairs[0]
    assert len(item["exemplars"]) == 1 and item["exemplar_scores"].shape == (1,)


def test_pair_dataset_test_voters_are_fixed(tiny):
    pairs = FlexPairDataset(
        tiny.root, split="test", voters=3, seed=4, frames=4, size=16, modalities=("pose", "emg")
    )
    again = FlexPairDataset(
        tiny.root, split="test", voters=3, seed=4, frames=4, size=16, modalities=("pose", "emg")
    )
    for i in range(len(pairs)):
        assert pairs.exemplar_indices(i) == again.exemplar_indices(i)
        assert len(set(pairs.exemplar_indices(i))) == 3
    batch = pad_collate([pairs[0], pairs[1]])
    assert len(batch["exemplars"]) == 3 and batch["exemplars"][0]["pose"].shape == (2, 4, 21, 3)
    assert batch["exemplar_scores"].shape == (2, 3)
    with pytest.raises(DataError, match="voters"):
        FlexPairDataset(tiny.root, split="test", voters=0)


def test_skip_bad_reports_every_skipped_sample(tmp_path):
    t = make_tiny_dataset(tmp_path / "d", subjects=("P01", "N01"), actions=("squat",), reps=2)
    pose = t.root / "trials" / "P01-A16" / "pose.npy"
    pose.write_bytes(pose.read_bytes()[:64])
    strict = FlexSampleDataset(t.root, modalities=("pose",), frames=None)
    bad = [i for i, r in enumerate(strict.records) if r.trial == "P01-A16"]
    with pytest.raises(DataError) as err:
        strict[bad[0]]
    assert str(pose) in str(err.value)
    lenient = FlexSampleDataset(t.root, modalities=("pose",), frames=None, skip_bad=True)
    with pytest.warns(UserWarning, match="skipping bad sample"):
        items = [lenient[i] for i in range(len(lenient))]
    assert all(not it["id"].startswith("P01") for it in items)
    assert sorted(s[0] for s in lenient.skipped) == sorted(lenient.records[i].id for i in bad)
    assert all(str(pose) in s[1] for s in lenient.skipped)


def test_feature_cache_keys_and_training_without_decoding(tiny, tmp_path, monkeypatch):
    assert (
        config_hash({"a": 1, "b": [2]}) == config_hash({"b": [2], "a": 1}) != config_hash({"a": 2, "b": [2]})
    )
    with pytest.raises(DataError, match="extractor name"):
        FeatureCache(tmp_path, "bad name")
    src = open_dataset(tiny.root)
    ids = [r.id for r in src.records[:4]]
    calls = []

    def mean_rgb(frames):  # (T, H, W, 3) -> (3,)
        calls.append(frames.shape)
        return frames.reshape(-1, 3).mean(0).astype(np.float32)

    cache = build_feature_cache(
        src,
        mean_rgb,
        name="meanrgb",
        config={"v": 1},
        root=tmp_path,
        ids=ids,
        views=["View-1", "View-5"],
        num_frames=8,
        size=16,
        progress=False,
    )
    assert len(calls) == 8 and calls[0] == (8, 16, 16, 3)
    assert (cache.dir / "config.json").is_file() and cache.missing(ids, ["View-1", "View-5"]) == []
    build_feature_cache(
        src,
        mean_rgb,
        name="meanrgb",
        config={"v": 1},
        root=tmp_path,
        ids=ids,
        views=["View-1", "View-5"],
        num_frames=8,
        size=16,
        progress=False,
    )
    assert len(calls) == 8  # nothing recomputed
    other = FeatureCache(tmp_path, "meanrgb", {"v": 2, "num_frames": 8, "size": 16})
    assert other.dir != cache.dir and not other.has(ids[0], "View-1")

    import flexaqa.data.native as native

    monkeypatch.setattr(
        native.NativeDataset, "_read_views", lambda *a, **k: pytest.fail("decoded video despite the cache")
    )
    ds = FlexSampleDataset(
        src, ids=ids, views=["View-1", "View-5"], features=cache, modalities=("video", "emg")
    )
    item = ds[0]
    assert item["video_features"].shape == (2, 3) and "video" not in item
    np.testing.assert_allclose(item["video_features"][0].numpy(), cache.get(ids[0], "View-1"))


def test_release_layout_pairs_use_the_official_split(tmp_path):
    t = make_tiny_dataset(
        tmp_path / "rel", layout="release", subjects=("P01", "N01"), actions=("squat",), reps=4
    )
    src = open_dataset(t.root)
    official = src.splits("official")
    pairs = FlexPairDataset(src, split="test", protocol="official", voters=2, frames=4, size=16)
    assert [r.id for r in pairs.queries.records] == official["test"]
    item = pairs[0]
    assert all(e["id"] in official["train"] for e in item["exemplars"])
    assert item["query"]["video"].shape == (1, 3, 4, 16, 16)
    torch.testing.assert_close(
        item["exemplar_scores"], torch.tensor([t.scores[e["id"]] for e in item["exemplars"]])
    )


def test_dataloader_with_worker_processes(tiny):
    ds = FlexSampleDataset(tiny.root, modalities=("pose", "emg"), frames=16)
    loader = torch.utils.data.DataLoader(ds, batch_size=5, collate_fn=pad_collate, num_workers=2)
    ids = [i for batch in loader for i in batch["id"]]
    assert ids == [r.id for r in ds.records]


def test_every_frame_mode_pads_video(tiny):
    ds = FlexSampleDataset(tiny.root, frames=None, size=16, views=["View-5"], modalities=("video",))
    a, b = ds[0], ds[1]
    assert a["video"].shape == (1, 3, 30, 16, 16)  # 0.5 s at 60 fps
    b["video"] = b["video"][:, :, :20]
    batch = pad_collate([a, b])
    assert batch["video"].shape == (2, 1, 3, 30, 16, 16) and batch["video_lengths"].tolist() == [30, 20]
    assert "video_lengths" not in pad_collate([a, a])
    with pytest.raises(DataError, match="cannot batch"):
        pad_collate([{"x": torch.zeros(2)}, {"x": torch.zeros(3)}])
