"""The feature store: sharded, memory-mapped rows; invisible partial shards; verify; migration of the old cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flexaqa.data import FeatureCache, FeatureStore, migrate_cache
from flexaqa.data.featurestore import stores_under
from flexaqa.data.schema import CorruptSampleError, DataError


def _rows(n: int, d: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.fixture
def store(tmp_path):
    s = FeatureStore(tmp_path, "video-small3d", {"seed": 0, "num_frames": 4})
    x = _rows(7)
    s.write_shard("View-1", 0, [f"s{i}" for i in range(4)], x[:4])
    s.write_shard("View-1", 1, [f"s{i}" for i in range(4, 7)], x[4:])
    return s, x


def test_same_folder_rule_as_the_old_cache(tmp_path):
    cfg = {"b": 1, "a": [1, 2]}
    assert FeatureStore(tmp_path, "pose-stats", cfg).dir == FeatureCache(tmp_path, "pose-stats", cfg).dir
    with pytest.raises(DataError, match="letters"):
        FeatureStore(tmp_path, "bad name")


def test_get_and_take_read_every_row_in_the_order_asked(store):
    s, x = store
    r = s.reader("View-1")
    assert len(r) == 7 and r.dim == 5 and "s6" in r and "s7" not in r
    np.testing.assert_array_equal(r.get("s5"), x[5])
    ids = ["s6", "s0", "s4", "s3", "s0"]
    out = r.take(ids)
    assert out.dtype == np.float32 and out.shape == (5, 5)
    np.testing.assert_array_equal(out, x[[6, 0, 4, 3, 0]])
    assert r.take([]).shape == (0, 5)
    with pytest.raises(DataError, match=r"s9.*features extract"):
        r.take(["s1", "s9"])
    assert s.missing(["s0", "s9", "s6"], "View-1") == ["s9"]
    assert FeatureStore.open(s.dir).hash == s.hash and [t.dir for t in stores_under(s.root)] == [s.dir]


def test_a_shard_without_its_manifest_is_invisible_and_cleaned(store):
    s, _ = store
    folder = s.dir / "shards" / "View-1"
    (folder / "shard-00002.npy").write_bytes(b"half a shard")  # a writer killed before its manifest
    (folder / ".shard-00003.npy.x1.tmp").write_bytes(b"half")  # ... or during the write
    r = s.reader("View-1")
    assert len(r) == 7 and s.next_number("View-1") == 3  # never reuse a leftover number
    rep = s.verify()
    assert rep.ok and len(rep.leftovers) == 2
    gone = s.clean()
    assert sorted(p.name for p in gone) == [".shard-00003.npy.x1.tmp", "shard-00002.npy"]
    assert s.next_number("View-1") == 2 and s.verify().leftovers == []


def test_verify_finds_bad_hashes_duplicates_and_absent_samples(store):
    s, x = store
    assert s.verify(["s0", "s1"]).absent == {"View-1": []}
    s.write_shard("View-1", 2, ["s9", "s3"], x[:2])  # s3 twice
    rep = s.verify([f"s{i}" for i in range(11)])
    assert not rep.ok and any("s3 is in more than one shard" in p for p in rep.problems)
    assert rep.absent == {"View-1": ["s7", "s8", "s10"]}
    assert rep.keys["View-1"] == {"shards": 3, "samples": 8, "dim": 5}
    assert s.reader("View-1").get("s3").tolist() == x[3].tolist()  # the first shard wins
    npy = s.dir / "shards" / "View-1" / "shard-00001.npy"
    data = bytearray(npy.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last float
    npy.write_bytes(bytes(data))
    assert any("shard-00001.npy: SHA-256 differs" in p for p in s.verify().problems)


def test_a_shard_that_disagrees_with_its_manifest_is_refused(store):
    s, _ = store
    manifest = s.dir / "shards" / "View-1" / "shard-00000.ids.json"
    doc = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**doc, "shape": [5, 5], "ids": [*doc["ids"], "s99"]}))
    with pytest.raises(CorruptSampleError, match=r"shard-00000\.npy: shape"):
        s.reader("View-1")
    manifest.write_text("{")
    with pytest.raises(CorruptSampleError, match="manifest"):
        s.shards("View-1")


def test_write_shard_checks_rows_and_ids(tmp_path):
    s = FeatureStore(tmp_path, "emg-official", {})
    with pytest.raises(DataError, match="one row per sample"):
        s.write_shard("emg", 0, ["a", "b"], _rows(3))
    with pytest.raises(DataError, match="twice"):
        s.write_shard("emg", 0, ["a", "a"], _rows(2))
    with pytest.raises(DataError, match="feature key"):
        s.write_shard("../x", 0, ["a"], _rows(1))


def test_failed_samples_are_recorded_and_cleared(tmp_path):
    s = FeatureStore(tmp_path, "emg-official", {})
    s.write_failed({"emg": [{"id": "a", "path": "x.mp4", "error": "bad"}]})
    assert s.failed() == {"emg": [{"id": "a", "path": "x.mp4", "error": "bad"}]}
    assert s.verify().failed == s.failed()
    s.write_failed({"emg": []})
    assert s.failed() == {} and not (s.dir / "missing.json").exists()


def test_migrate_copies_the_old_cache_and_can_remove_it(tmp_path):
    cfg = {"seed": 0, "num_frames": 8, "size": 16}
    old = FeatureCache(tmp_path, "video-small3d", cfg)
    x = _rows(5, d=6)
    ids = [f"P01-A16-r0{i}" for i in range(5)]
    for i, sid in enumerate(ids):
        old.put(sid, "View-1", x[i])
        if i % 2 == 0:
            old.put(sid, "View-5", -x[i])
    store = migrate_cache(old.dir, shard_size=2)
    assert store.dir == old.dir and store.legacy_pending() == {}
    np.testing.assert_array_equal(store.reader("View-1").take(ids), x)
    np.testing.assert_array_equal(store.reader("View-5").take(ids[::2]), -x[::2])
    assert [len(sh.ids) for sh in store.shards("View-1")] == [2, 2, 1]
    old.put("N01-A16-r01", "View-1", x[0] * 2)  # a later addition: a second run copies only it
    store = migrate_cache(old.dir, shard_size=2)
    assert (
        len(store.shards("View-1")) == 4
        and store.reader("View-1").get("N01-A16-r01").tolist() == (x[0] * 2).tolist()
    )
    store = migrate_cache(old.dir, remove_old=True)
    assert store.legacy_keys() == [] and sorted(p.name for p in store.dir.iterdir()) == [
        "config.json",
        "shards",
    ]
    assert store.verify().ok and len(store.reader("View-1")) == 6


def test_open_refuses_a_folder_whose_config_hashes_elsewhere(tmp_path):
    s = FeatureStore(tmp_path, "pose-stats", {"a": 1})
    s.write_shard("pose", 0, ["x"], _rows(1))
    moved = tmp_path / "pose-stats-000000000000"
    s.dir.rename(moved)
    with pytest.raises(CorruptSampleError, match="hashes to"):
        FeatureStore.open(moved)


def test_rows_of_different_sizes_live_in_different_shards(tmp_path):
    """``keysteps`` pose features have one size per action: a key may hold shards of several sizes."""
    s = FeatureStore(tmp_path, "pose-keysteps", {})
    s.write_shard("pose", 0, ["a1", "a2"], _rows(2, d=3))
    s.write_shard("pose", 1, ["b1"], _rows(1, d=5))
    r = s.reader("pose")
    assert r.dim == [3, 5] and r.take(["a2", "a1"]).shape == (2, 3) and r.take(["b1"]).shape == (1, 5)
    with pytest.raises(DataError, match="different sizes"):
        r.take(["a1", "b1"])
    rep = s.verify()
    assert rep.ok and rep.keys["pose"]["dim"] == [3, 5] and s.info()["keys"]["pose"]["dim"] == [3, 5]


def test_shards_never_cross_a_group():
    from flexaqa.aqa.extract import _chunks

    ids = ["a1", "a2", "a3", "b1", "b2", "a4"]
    group = {i: i[0] for i in ids}
    assert _chunks(ids, 2, group) == [("a1", "a2"), ("a3",), ("b1", "b2"), ("a4",)]
    assert _chunks(ids, 4, None) == [("a1", "a2", "a3", "b1"), ("b2", "a4")]


@pytest.mark.parametrize("dies_in", ["array", "manifest"])
def test_a_writer_dying_inside_write_shard_leaves_nothing_visible(store, monkeypatch, dies_in):
    """The array goes first and the manifest last: dying while writing either never shows the new shard."""
    from flexaqa.data import featurestore

    s, _ = store
    target = "atomic_write_bytes" if dies_in == "array" else "atomic_write_text"
    real = getattr(featurestore, target)

    def dying(path, *a, **kw):
        if "shard-00002" in str(path):
            raise KeyboardInterrupt  # SIGKILL-like: nothing after this line runs
        return real(path, *a, **kw)

    monkeypatch.setattr(featurestore, target, dying)
    with pytest.raises(KeyboardInterrupt):
        s.write_shard("View-1", 2, ["n1", "n2"], _rows(2))
    monkeypatch.undo()
    r = s.reader("View-1")
    assert len(r) == 7 and "n1" not in r and s.verify().ok
    s.clean()
    s.write_shard("View-1", s.next_number("View-1"), ["n1", "n2"], _rows(2))
    assert len(s.reader("View-1")) == 9 and s.verify().ok
