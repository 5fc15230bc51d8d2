import numpy as np
import pytest

from flexaqa.data import CorruptSampleError, DataError
from flexaqa.data.base import open_dataset, uniform_times
from flexaqa.data.release import (
    ReleaseDataset,
    read_official_split,
    write_official_split,
    write_release_sample,
)
from flexaqa.data.synthetic import pose_at
from flexaqa.kg import load_kg
from flexaqa.testing import decode_frame_index, make_tiny_dataset


@pytest.fixture(scope="module")
def rel(tmp_path_factory):
    return make_tiny_dataset(
        tmp_path_factory.mktemp("release"), layout="release", subjects=("P01", "N01"), reps=2
    )


def test_layout_is_exactly_the_documented_one(rel):
    root = rel.root
    assert (root / "Split_4" / "split_4_train_list.mat").is_file()
    assert (root / "Split_4" / "split_4_test_list.mat").is_file()
    frames = sorted((root / "A16" / "001" / "View-1").iterdir())
    assert [p.name for p in frames] == [f"img_{k:05d}.JPG" for k in range(1, 104)]
    lines = (root / "Skeleton" / "A16" / "001" / "skeleton_points.csv").read_text().splitlines()
    assert len(lines) == 104 and len(lines[1].split(",")) == 63
    emg = (root / "EMG" / "A19" / "001" / "EMG.csv").read_text().splitlines()
    assert len(emg[0].split(",")) == 2  # dumbbell bent-over row: two channels, no header
    assert float(emg[0].split(",")[0]) >= 0


def test_records_scores_and_official_split(rel):
    ds = open_dataset(rel.root)
    assert isinstance(ds, ReleaseDataset)
    assert sorted(r.id for r in ds.records) == sorted(rel.sample_ids)
    for r in ds.records:
        assert r.score == pytest.approx(rel.scores[r.id], abs=1e-3)
    sp = read_official_split(rel.root, ds.records)
    assert set(sp["train"]) | set(sp["test"]) == set(rel.sample_ids)
    assert not set(sp["train"]) & set(sp["test"]) and sp["val"] == []
    assert ds.missing_report() == {}


def test_load_sample_frames_pose_emg(rel):
    ds = open_dataset(rel.root)
    s = ds.load("A16_002", modalities=("video", "pose", "emg", "heart_rate"))
    v = s.video["View-1"]
    assert v.shape == (103, 32, 32, 3)
    # repetition 2 spans 0.7..1.2 s; frames were picked at 103 evenly spread instants of a 120 fps trial video
    want = np.floor(uniform_times(0.7, 1.2, 103) * 120 + 1e-9).astype(int)
    got = decode_frame_index(v)
    assert np.abs(got - want).max() <= 2  # JPEG noise on the encoded pixel
    np.testing.assert_allclose(s.pose.data, pose_at(want / 120), atol=1e-5)  # same instants as the frames
    assert s.emg.data.shape == (1000, 4)
    assert s.emg.names[0] == load_kg().action("squat").emg_channels[0].label
    assert s.missing == ("heart_rate",)
    few = ds.load("A16_002", modalities=("video",), num_frames=10, size=16)
    assert few.video["View-1"].shape == (10, 16, 16, 3)


def test_missing_modalities_are_reported(tmp_path):
    write_release_sample(tmp_path, 3, 7, skeleton=np.zeros((103, 21, 3)))
    write_release_sample(
        tmp_path, 3, 8, emg=np.ones((50, 4)), frames={"View-1": np.zeros((103, 8, 8, 3), np.uint8)}
    )
    ds = ReleaseDataset(tmp_path)
    rep = ds.missing_report()
    assert rep["pose"] == ["A03_008"] and rep["emg"] == ["A03_007"] and rep["video:View-1"] == ["A03_007"]
    assert rep["score"] == ["A03_007", "A03_008"]
    s = ds.load("A03_007")
    assert "emg" in s.missing and "video:View-1" in s.missing and s.pose.data.shape == (103, 21, 3)


def test_corrupt_files_raise_naming_the_file(tmp_path):
    write_release_sample(
        tmp_path, 1, 1, skeleton=np.zeros((103, 21, 3)), frames={"View-1": np.zeros((103, 8, 8, 3), np.uint8)}
    )
    sk = tmp_path / "Skeleton" / "A01" / "001" / "skeleton_points.csv"
    sk.write_text("h\n1,2,3\n")
    with pytest.raises(CorruptSampleError, match="63 columns") as err:
        ReleaseDataset(tmp_path).load("A01_001", modalities=("pose",))
    assert str(sk) in str(err.value)
    jpg = tmp_path / "A01" / "001" / "View-1" / "img_00050.JPG"
    jpg.write_bytes(jpg.read_bytes()[:30])
    with pytest.raises(CorruptSampleError) as err:
        ReleaseDataset(tmp_path).load("A01_001", modalities=("video",))
    assert str(jpg) in str(err.value)


def test_split_mat_roundtrip_and_unknown_ids(tmp_path):
    write_release_sample(tmp_path, 2, 1, skeleton=np.zeros((103, 21, 3)))
    write_official_split(tmp_path, [(2, 1, 55.5)], [(2, 9, 60.0)])
    with pytest.raises(DataError, match="A02_009"):
        read_official_split(tmp_path, ReleaseDataset(tmp_path).records)
    assert ReleaseDataset(tmp_path).records[0].score == 55.5


def test_export_native_to_release(tmp_path):
    pytest.importorskip("av")
    from flexaqa.data.release import export_release

    t = make_tiny_dataset(tmp_path / "n", subjects=("P01", "N01"), actions=("squat",), reps=2)
    src = open_dataset(t.root)
    ids = export_release(src, tmp_path / "r", views=("View-1", "View-5"), progress=False)
    rel = open_dataset(tmp_path / "r")
    assert sorted(ids.values()) == sorted(r.id for r in rel.records) and len(ids) == 4
    for nid, rid in ids.items():
        assert rel.record(rid).score == pytest.approx(src.record(nid).score)
        native, release = src.load(nid, num_frames=103), rel.load(rid)
        np.testing.assert_array_equal(
            decode_frame_index(release.video["View-1"]), decode_frame_index(native.video["View-1"])
        )
        rec = src.record(nid)
        np.testing.assert_allclose(
            release.pose.data, native.pose.at(uniform_times(rec.start, rec.end, 103)), atol=1e-5
        )
        np.testing.assert_allclose(release.emg.data, native.emg.data, rtol=1e-5)
    sp, official = src.splits("random"), read_official_split(tmp_path / "r")
    assert sorted(official["test"]) == sorted(ids[i] for i in sp["test"])
    from flexaqa.data.validate import validate_dataset

    assert validate_dataset(tmp_path / "r") == []
