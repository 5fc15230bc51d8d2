import json

import numpy as np
import pytest

pytest.importorskip("av")

from flexaqa.data import CorruptSampleError, DataError, Stream, Trial
from flexaqa.data.base import open_dataset, uniform_times
from flexaqa.data.native import NativeDataset, finalize_dataset, read_subjects, write_trial
from flexaqa.kg import load_kg
from flexaqa.testing import decode_frame_index, make_tiny_dataset, tiny_trial


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("native"))


def small(tmp_path):
    return make_tiny_dataset(tmp_path / "ds", subjects=("P01", "N01"), actions=("squat",), reps=2)


def test_manifest_lists_every_repetition_with_its_fkg_score(tiny):
    ds = open_dataset(tiny.root)
    assert isinstance(ds, NativeDataset) and ds.layout == "native"
    assert sorted(r.id for r in ds.records) == sorted(tiny.sample_ids)
    kg = load_kg()
    for r in ds.records:
        assert r.score == pytest.approx(tiny.scores[r.id], abs=1e-4)
        ann = ds.annotation(r)
        assert ann.score_problem(kg) is None
        assert r.class_index == kg.action(r.action).index
        assert r.duration == pytest.approx(0.5)
    assert ds.view_names == ("View-1", "View-5")


def test_subjects_and_loads_roundtrip(tiny):
    subj = read_subjects(tiny.root)
    assert set(subj) == {s.id for s in tiny.subjects}
    for s in tiny.subjects:
        assert subj[s.id].skill == s.skill and subj[s.id].height_cm == s.height_cm
        assert subj[s.id].loads_kg == pytest.approx(s.loads_kg)


def test_load_cuts_the_repetition_out_of_the_trial(tiny):
    ds = open_dataset(tiny.root)
    rec = next(r for r in ds.records if r.rep == 2)
    s = ds.load(rec, modalities=("video", "pose", "emg", "heart_rate", "breath"))
    t0, t1 = s.annotation.keyframes.start, s.annotation.keyframes.end
    assert (t0, t1) == pytest.approx((0.7, 1.2))
    # every frame of the repetition: 120 fps -> frames 84..143, 60 fps -> frames 42..71
    np.testing.assert_array_equal(decode_frame_index(s.video["View-1"]), np.arange(84, 144))
    np.testing.assert_array_equal(decode_frame_index(s.video["View-5"]), np.arange(42, 72))
    np.testing.assert_allclose(s.frame_times["View-1"], np.arange(84, 144) / 120)
    assert s.pose.data.shape == (60, 21, 3)
    np.testing.assert_allclose(s.pose.data[:, 0, 0], np.arange(84, 144) / 120, atol=1e-6)  # x = time
    assert s.emg.data.shape == (1000, len(load_kg().action(rec.action).emg_channels))
    np.testing.assert_allclose(s.emg.data[0], 0.7 * np.arange(1, s.emg.data.shape[1] + 1), atol=1e-5)
    assert s.emg.names == tuple(c.label for c in load_kg().action(rec.action).emg_channels)
    np.testing.assert_allclose(s.heart_rate.data, 80 + np.arange(7, 12) / 10)
    assert len(s.breath) == 25 and s.missing == ()


def test_uniform_frames_and_resize(tiny):
    ds = open_dataset(tiny.root)
    rec = next(r for r in ds.records if r.rep == 1)
    s = ds.load(rec, modalities=("video",), views=["View-1"], num_frames=103, size=16)
    v = s.video["View-1"]
    assert v.shape == (103, 16, 16, 3)
    want = np.floor(uniform_times(0.1, 0.6, 103) * 120 + 1e-9).astype(int)
    assert list(s.frame_times) == ["View-1"]
    np.testing.assert_array_equal(np.round(s.frame_times["View-1"] * 120).astype(int), want)


def test_write_trial_rejects_wrong_channel_count(tmp_path):
    t = tiny_trial("P01", "squat", reps=1)
    t.emg.data = t.emg.data[:, :2]
    with pytest.raises(DataError, match="sEMG must be"):
        write_trial(tmp_path, t)


def test_finalize_without_trials_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no trials"):
        finalize_dataset(tmp_path)


def test_trial_without_video_or_streams_reports_missing(tmp_path):
    t = tiny_trial("N02", "A01", reps=1)
    bare = Trial(subject=t.subject, action=t.action, views=t.views, reps=t.reps, pose=t.pose)
    write_trial(tmp_path, bare)
    finalize_dataset(tmp_path)
    ds = open_dataset(tmp_path)
    s = ds.load(0, modalities=("video", "pose", "emg"))
    assert set(s.missing) == {"video:View-1", "video:View-5", "emg"}
    assert s.pose is not None


def test_corrupt_array_raises_naming_the_file(tmp_path):
    t = small(tmp_path)
    path = t.root / "trials" / "P01-A16" / "emg.npy"
    path.write_bytes(path.read_bytes()[:100])
    ds = open_dataset(t.root)
    with pytest.raises(CorruptSampleError) as err:
        ds.load("P01-A16-r01")
    assert str(path) in str(err.value) and "shape" in str(err.value)


def test_nan_in_pose_raises_naming_the_file(tmp_path):
    t = small(tmp_path)
    path = t.root / "trials" / "N01-A16" / "pose.npy"
    arr = np.load(path)
    arr[20] = np.nan  # inside repetition 1 (0.1..0.6 s)
    np.save(path, arr)
    with pytest.raises(CorruptSampleError, match="NaN") as err:
        open_dataset(t.root).load("N01-A16-r01", modalities=("pose",))
    assert str(path) in str(err.value)
    open_dataset(t.root).load("N01-A16-r02", modalities=("pose",))  # the other repetition is fine


def test_broken_json_names_the_file(tmp_path):
    t = small(tmp_path)
    path = t.root / "trials" / "P01-A16" / "annotations.json"
    path.write_text("{not json")
    with pytest.raises(CorruptSampleError, match="valid JSON") as err:
        open_dataset(t.root).load("P01-A16-r01")
    assert str(path) in str(err.value)


def test_trial_json_records_rates_and_shapes(tiny):
    meta = json.loads((tiny.root / "trials" / "P01-A16" / "trial.json").read_text())
    assert meta["streams"]["emg"]["rate"] == 2000.0
    assert meta["streams"]["pose"]["shape"][1:] == [21, 3]
    assert {v["name"]: v["fps"] for v in meta["views"]} == {"View-1": 120.0, "View-5": 60.0}


def test_open_dataset_rejects_unknown_folders(tmp_path):
    with pytest.raises(DataError, match="neither"):
        open_dataset(tmp_path)


def test_slow_physiology_gives_the_sample_before_a_short_repetition(tmp_path):
    t = tiny_trial("P03", "squat", reps=2)
    t.heart_rate = Stream(np.array([70.0, 71.0]), rate=1.0)  # 1 Hz: samples at 0 s and 1 s
    write_trial(tmp_path, t)
    finalize_dataset(tmp_path)
    s = open_dataset(tmp_path).load("P03-A16-r01", modalities=("heart_rate",))  # 0.1..0.6 s: none inside
    assert s.heart_rate.data.tolist() == [70.0] and s.heart_rate.start == 0.0
    s = open_dataset(tmp_path).load("P03-A16-r02", modalities=("heart_rate",))  # 0.7..1.2 s: the 1 s sample
    assert s.heart_rate.data.tolist() == [71.0] and s.heart_rate.start == 1.0


def test_parquet_manifest_is_read_when_csv_is_absent(tmp_path):
    pytest.importorskip("pyarrow")
    t = tiny_trial("N05", "deadlift", reps=2)
    write_trial(tmp_path, t)
    finalize_dataset(tmp_path, parquet=True)
    from_csv = open_dataset(tmp_path).records
    (tmp_path / "manifest.csv").unlink()
    from_parquet = NativeDataset(tmp_path).records
    assert from_parquet == from_csv and len(from_parquet) == 2


def test_missing_report_lists_absent_modalities(tmp_path):
    t = tiny_trial("N02", "A01", reps=1)
    write_trial(tmp_path, Trial(subject=t.subject, action=t.action, views=t.views, reps=t.reps, pose=t.pose))
    write_trial(tmp_path, tiny_trial("N03", "A01", reps=1))
    finalize_dataset(tmp_path)
    rep = open_dataset(tmp_path).missing_report()
    want = ["N02-A01-r01"]
    assert rep == {
        "video:View-1": want,
        "video:View-5": want,
        "emg": want,
        "heart_rate": want,
        "breath": want,
    }


def test_write_trial_checks_before_writing(tmp_path):
    t = tiny_trial("P01", "squat", reps=2)
    t.reps = (t.reps[0], t.reps[0])
    with pytest.raises(DataError, match="not unique"):
        write_trial(tmp_path, t)
    t = tiny_trial("P01", "squat", reps=1)
    t.frames["View-9"] = t.frames["View-1"]
    with pytest.raises(DataError, match="View-9"):
        write_trial(tmp_path, t)
    t = tiny_trial("P01", "squat", reps=1)
    t.pose.data = t.pose.data[:, :17]
    with pytest.raises(DataError, match="FLEX-21"):
        write_trial(tmp_path, t)
    assert not (tmp_path / "trials").exists()


def test_dataset_json_keeps_the_dataset_name(tmp_path):
    # regression: a loop variable once shadowed the `name` argument ("breath" ended up as the dataset name)
    ds = make_tiny_dataset(tmp_path / "ds", subjects=("P01",), actions=("squat",), reps=1)
    meta = json.loads((ds.root / "dataset.json").read_text(encoding="utf-8"))
    assert meta["name"] == "flexaqa-tiny"
    assert meta["n_samples"] == 1
