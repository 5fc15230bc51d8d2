"""`flexaqa features extract|info|verify|migrate` and the batched extraction job behind training's features:
identical rows whatever the batch size, worker count or engine; resume after SIGKILL with no partial shard ever
visible; a corrupt video reported by id and path while the rest completes; both dataset layouts."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from flexaqa.aqa import AQAError
from flexaqa.aqa.extract import MissingFeaturesError
from flexaqa.aqa.features import FEATURE_KEYS, FeatureSpec, build_features, extract_features, stores_for
from flexaqa.cli import main
from flexaqa.data import FeatureCache, open_dataset
from flexaqa.data.featurestore import stores_under
from flexaqa.testing import make_tiny_dataset

SPEC = FeatureSpec(video_frames=4, video_size=16, views=("View-1", "View-5"))
KEYS = ("video_v1", "video_v2", "pose", "emg")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny") / "d"
    return make_tiny_dataset(root, subjects=("P01", "A01", "N01"), actions=("squat",), reps=3)  # 9 samples


def _features(root, ids, spec=SPEC, keys=KEYS) -> dict[str, np.ndarray]:
    return {k: store.reader(key).take(ids) for k, (store, key) in stores_for(spec, keys, root).items()}


def _assert_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_rows_are_the_same_whatever_the_batch_size_workers_or_engine(tiny, tmp_path, monkeypatch):
    src = open_dataset(tiny.root)
    ids = tiny.sample_ids
    ref_root = tmp_path / "ref"
    rep = build_features(src, ids, SPEC, root=ref_root, batch_size=1, workers=1, shard_size=4, progress=False)
    assert (rep.extracted, rep.skipped, rep.failed) == (9 * 4, 0, [])
    ref = _features(ref_root, ids)
    assert {k: v.shape for k, v in ref.items()} == {
        "video_v1": (9, 256),
        "video_v2": (9, 256),
        "pose": (9, 62),
        "emg": (9, 2),
    }
    assert np.abs(ref["video_v1"] - ref["video_v2"]).max() > 1e-4  # the two views are not one array twice
    # one encoder call per sample: what the per-sample loop of the old cache computed
    from flexaqa.aqa.features import feature_encoder

    enc = feature_encoder(json.dumps(SPEC.to_dict(), sort_keys=True), "video", "cpu")
    import torch

    one = np.stack([enc.encode([torch.from_numpy(enc.load(src, i, "View-1"))])[0] for i in ids])
    np.testing.assert_allclose(one, ref["video_v1"], rtol=1e-5, atol=1e-6)
    for n, kw in enumerate(
        [dict(batch_size=5, workers=2, shard_size=2), dict(batch_size=16, workers=1, shard_size=64)]
    ):
        root = tmp_path / f"local{n}"
        build_features(src, ids, SPEC, root=root, progress=False, **kw)
        _assert_close(_features(root, ids), ref)
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():  # another test's Ray: start ours with exactly 2 CPUs
        ray.shutdown()
    try:
        build_features(
            src,
            ids,
            SPEC,
            root=tmp_path / "ray",
            batch_size=3,
            workers=2,
            ray="auto",
            shard_size=3,
            progress=False,
        )
        assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2
    finally:
        ray.shutdown()
    _assert_close(_features(tmp_path / "ray", ids), ref)
    emg, _ = stores_for(SPEC, ["emg"], tmp_path / "ray")["emg"]
    assert [len(s.ids) for s in emg.shards("emg")] == [3, 3, 3]  # one Ray task per shard


def _visible_shards_are_whole(cache: Path) -> int:
    """Every shard a reader can see (its manifest exists) has the array its manifest hashes; returns how many."""
    n = 0
    for manifest in cache.glob("*/shards/*/shard-*.ids.json"):
        try:
            doc = json.loads(manifest.read_text())
        except FileNotFoundError:
            continue
        npy = manifest.with_name(manifest.name.replace(".ids.json", ".npy"))
        assert hashlib.sha256(npy.read_bytes()).hexdigest() == doc["sha256"], npy
        n += 1
    return n


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "flexaqa", "features", *args]


def test_a_killed_run_resumes_to_the_same_features(tmp_path):
    d = make_tiny_dataset(tmp_path / "d", subjects=("P01", "A01", "N01", "N02"), reps=3)  # 24 samples
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    args = ["extract", "--data", str(d.root), "--device", "cpu", "--shard-size", "2", "--no-progress"]
    args += ["--views", "View-1,View-5", "--keys", "video_v1,video_v2"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*args, "--cache", str(killed)), env=env, stderr=subprocess.PIPE)
    seen = 0
    try:
        while proc.poll() is None and seen < 6:
            seen = _visible_shards_are_whole(killed)
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert _visible_shards_are_whole(killed) >= 6
    partial = {s.dir.name: s.verify(d.sample_ids) for s in stores_under(killed)}
    assert all(r.ok for r in partial.values())
    assert sum(len(v) for r in partial.values() for v in r.absent.values()) > 0  # it really stopped midway
    before = {p: p.stat().st_mtime_ns for p in killed.glob("*/shards/*/shard-*.ids.json")}
    assert main([*["features", *args], "--cache", str(killed)]) == 0  # resume: complete shards are skipped
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    whole = tmp_path / "whole"
    assert main(["features", *args, "--cache", str(whole), "--batch-size", "3"]) == 0
    spec = FeatureSpec(views=("View-1", "View-5"))
    keys = ("video_v1", "video_v2")
    _assert_close(_features(killed, d.sample_ids, spec, keys), _features(whole, d.sample_ids, spec, keys))
    assert all(
        s.verify(d.sample_ids).ok and not any(s.verify(d.sample_ids).absent.values())
        for s in stores_under(killed)
    )
    assert not list(killed.glob("*/shards/*/.*"))  # the killed writer's temporary files are gone


def test_a_corrupt_video_is_reported_and_the_rest_completes(tiny, tmp_path, capsys):
    root = tmp_path / "d"
    shutil.copytree(tiny.root, root)
    trial = sorted({i.rsplit("-", 1)[0] for i in tiny.sample_ids})[1]  # the middle trial of three
    mp4 = root / "trials" / trial / "video" / "View-1.mp4"
    good = mp4.read_bytes()
    mp4.write_bytes(good[: len(good) // 3])
    bad = sorted(i for i in tiny.sample_ids if i.startswith(trial))
    argv = [
        "features",
        "extract",
        "--data",
        str(root),
        "--device",
        "cpu",
        "--shard-size",
        "4",
        "--no-progress",
        "--views",
        "View-1,View-5",
    ]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.startswith("flexaqa: error: 3 sample(s) could not be extracted: " + ", ".join(bad))
    assert str(mp4) in err and "Traceback" not in err
    spec = FeatureSpec(views=("View-1", "View-5"))
    where = stores_for(spec, KEYS, root / "features")
    store, _ = where["video_v1"]
    assert [f["id"] for f in store.failed()["View-1"]] == bad and store.failed()["View-1"][0]["path"] == str(
        mp4
    )
    others = [i for i in tiny.sample_ids if i not in bad]
    assert store.missing(tiny.sample_ids, "View-1") == bad and len(store.reader("View-1").take(others)) == 6
    assert store.missing(tiny.sample_ids, "View-5") == [] and list(store.failed()) == ["View-1"]
    for k in ("pose", "emg"):
        s, key = where[k]
        assert s.missing(tiny.sample_ids, key) == [] and s.failed() == {}
    with pytest.raises(MissingFeaturesError, match=bad[0]) as info:  # training says the same
        extract_features(open_dataset(root), tiny.sample_ids, spec, progress=False)
    assert info.value.exit_code == 3 and {f["id"] for f in info.value.failed} == set(bad)
    mp4.write_bytes(good)  # repaired: only the three are extracted, and the record of failures goes
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["extracted"], out["skipped"], out["failed"]) == (3, 9 * 4 - 3, [])
    assert store.failed() == {} and store.missing(tiny.sample_ids, "View-1") == []


def test_a_missing_weights_file_is_a_clear_error(tiny, tmp_path, capsys):
    argv = [
        "features",
        "extract",
        "--data",
        str(tiny.root),
        "--cache",
        str(tmp_path / "c"),
        "--video",
        "i3d",
        "--video-weights",
        str(tmp_path / "nope.pth"),
    ]
    assert main(argv) == 9
    err = capsys.readouterr().err
    assert f"video_weights: no file at {tmp_path / 'nope.pth'}" in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()
    assert main([*argv[:6], "--pose", "stgcn", "--pose-weights", str(tmp_path / "st.pt")]) == 9


def test_ray_with_cuda_runs_gpu_tasks_and_refuses_a_cluster_without_gpus(tiny, tmp_path, capsys, monkeypatch):
    from flexaqa import _tasks
    from flexaqa.aqa import extract

    argv = ["features", "extract", "--data", str(tiny.root), "--cache", str(tmp_path / "c"), "--no-progress"]
    calls = []

    def fake_map_tasks(fn, items, **kw):  # what the tasks would be asked to reserve
        calls.append((fn.args[0].device, kw))
        return [_tasks.TaskResult(i, t, value=extract.ExtractReport()) for i, t in enumerate(items)]

    monkeypatch.setattr(extract, "map_tasks", fake_map_tasks)
    monkeypatch.setattr(_tasks, "require_ray_gpus", lambda ray, workers=1: 1)
    main([*argv, "--ray", "10.0.0.1:6379", "--device", "cuda"])
    main([*argv, "--ray", "10.0.0.1:6379", "--device", "auto", "--cache", str(tmp_path / "c2")])
    assert [(dev, kw["num_gpus"], kw["ray"]) for dev, kw in calls] == [
        ("cuda", 1, "10.0.0.1:6379"),
        ("cpu", 0, "10.0.0.1:6379"),  # auto under Ray: CPU tasks (a GPU is only used when reserved)
    ]
    monkeypatch.undo()
    ray = pytest.importorskip("ray")
    try:  # a real local Ray of this machine: no GPU, refused before anything is written
        assert main([*argv, "--ray", "auto", "--device", "cuda"]) == 2
    finally:
        ray.shutdown()
    assert "the cluster has no GPU" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_training_reads_what_extract_wrote_and_points_old_caches_to_migrate(tiny, tmp_path, capsys):
    cache = tmp_path / "c"
    argv = ["--data", str(tiny.root), "--cache", str(cache), "--views", "View-1,View-5"]
    assert main(["features", "extract", *argv, "--device", "cpu", "--no-progress"]) == 0
    spec = FeatureSpec(views=("View-1", "View-5"))
    stamp = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    feats = extract_features(open_dataset(tiny.root), tiny.sample_ids, spec, cache_root=cache, progress=False)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == stamp  # read, not rebuilt
    assert {k: v.shape[0] for k, v in feats.items()} == dict.fromkeys(FEATURE_KEYS, 9)
    capsys.readouterr()
    assert main(["features", "verify", *argv[:4]]) == 0
    assert capsys.readouterr().out.count(": ok (") == 3
    assert main(["features", "info", *argv[:4], "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert sorted(k for s in info["stores"] for k in s["keys"]) == ["View-1", "View-5", "emg", "pose"]
    assert all(row["absent"] == 0 for s in info["stores"] for row in s["keys"].values())
    n_actions = len(
        {r.action for r in open_dataset(tiny.root).records}
    )  # one shard per action, not per trial
    assert all(row["shards"] == n_actions for s in info["stores"] for row in s["keys"].values())
    assert main(["features", "info", *argv[:4]]) == 0
    text = capsys.readouterr().out
    assert f"View-1: 9 samples x 256 in {n_actions} shard(s)" in text and "old per-sample" not in text
    # an old per-sample cache of the same config: training names the command that converts it
    old_root = tmp_path / "old"
    store, _ = stores_for(spec, ["pose"], old_root)["pose"]
    old = FeatureCache(old_root, store.extractor, store.config)
    for i, sid in enumerate(tiny.sample_ids):
        old.put(sid, "pose", feats["pose"][i])
    assert main(["features", "info", "--cache", str(old_root)]) == 0
    assert "old per-sample layout: 9 samples (run `flexaqa features migrate`)" in capsys.readouterr().out
    with pytest.raises(AQAError, match="flexaqa features migrate"):
        extract_features(open_dataset(tiny.root), tiny.sample_ids, spec, keys=["pose"], cache_root=old_root)
    assert main(["features", "migrate", "--cache", str(old_root)]) == 0
    again = extract_features(
        open_dataset(tiny.root), tiny.sample_ids, spec, keys=["pose"], cache_root=old_root
    )
    np.testing.assert_array_equal(again["pose"], feats["pose"])
    # verify fails (exit 1) on a shard whose bytes changed
    npy = next(cache.glob("pose-*/shards/pose/shard-00000.npy"))
    npy.write_bytes(npy.read_bytes()[:-4] + b"\0\0\0\0")
    capsys.readouterr()
    assert main(["features", "verify", "--cache", str(cache)]) == 1
    assert "SHA-256 differs" in capsys.readouterr().out


def test_the_release_layout(tmp_path, capsys):
    rel = make_tiny_dataset(
        tmp_path / "r", layout="release", subjects=("P01", "N01"), actions=("squat",), reps=2
    )
    assert (
        main(["features", "extract", "--data", str(rel.root), "--device", "cpu", "--no-progress", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (
        out["keys"] == ["video_v1", "pose", "emg"] and out["extracted"] == 4 * 3
    )  # the release keeps View-1
    feats = extract_features(
        open_dataset(rel.root), rel.sample_ids, FeatureSpec(), keys=["video_v1", "pose", "emg"]
    )
    assert {k: v.shape for k, v in feats.items()} == {"video_v1": (4, 256), "pose": (4, 62), "emg": (4, 2)}
    assert main(["features", "verify", "--data", str(rel.root)]) == 0
    assert main(["features", "extract", "--data", str(rel.root), "--keys", "video_v2"]) == 2  # no View-2


def test_the_parser_lists_the_library_keys():
    from flexaqa.aqa import _features_cli

    assert _features_cli.FEATURE_KEYS == FEATURE_KEYS


def test_a_batch_holds_every_view_of_its_samples_in_one_forward_pass(tiny, tmp_path, monkeypatch):
    from flexaqa.aqa import features

    calls = []
    real = features._VideoEncoder.encode

    def counting(self, frames):
        calls.append(len(frames))
        return real(self, frames)

    monkeypatch.setattr(features._VideoEncoder, "encode", counting)
    src = open_dataset(tiny.root)
    keys = ("video_v1", "video_v2")
    build_features(src, tiny.sample_ids, SPEC, keys=keys, root=tmp_path, batch_size=4, progress=False)
    assert calls == [4, 4, 4, 4, 2]  # 9 samples x 2 views; one view per call would need 6 or more calls


def test_a_shard_holds_one_actions_samples_whatever_the_dataset_order(tmp_path, capsys):
    ds = make_tiny_dataset(
        tmp_path / "d", subjects=("P01", "N01"), actions=("squat", "dumbbell-bent-over-row"), reps=2
    )
    actions = [r.action for r in open_dataset(ds.root).records]
    assert actions != sorted(actions)  # trials of the two actions alternate on disk
    argv = ["features", "extract", "--data", str(ds.root), "--cache", str(tmp_path / "c"), "--keys", "pose"]
    assert main([*argv, "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["extracted"] == len(actions)
    assert main(["features", "info", "--data", str(ds.root), "--cache", str(tmp_path / "c"), "--json"]) == 0
    (store,) = json.loads(capsys.readouterr().out)["stores"]
    assert store["keys"]["pose"]["shards"] == 2 and store["keys"]["pose"]["samples"] == len(actions)
