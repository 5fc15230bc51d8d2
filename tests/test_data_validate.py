"""Every validation error path: each test breaks one thing and expects a line naming the broken file."""

import csv
import json

import numpy as np
import pytest

pytest.importorskip("av")

from flexaqa.cli import main
from flexaqa.data.validate import validate_dataset
from flexaqa.testing import make_tiny_dataset


@pytest.fixture
def ds(tmp_path):
    return make_tiny_dataset(tmp_path / "ds", subjects=("P01", "N01"), actions=("squat",), reps=2).root


@pytest.fixture(scope="module")
def rel(tmp_path_factory):
    return make_tiny_dataset(
        tmp_path_factory.mktemp("rel"), layout="release", subjects=("P01",), actions=("squat",), reps=4
    ).root


def problems(root, **kw):
    return [str(p) for p in validate_dataset(root, **kw)]


def one(root, needle, path):
    found = [p for p in problems(root) if needle in p]
    assert found, f"no problem mentioning {needle!r}: {problems(root)}"
    assert any(p.startswith(str(path)) for p in found), found


def edit_json(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def edit_manifest(root, fn):
    path = root / "manifest.csv"
    rows = list(csv.DictReader(path.open()))
    rows = fn(rows)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_clean_datasets_have_no_problems(ds, rel):
    assert problems(ds) == []
    assert problems(ds, deep=True) == []
    assert problems(rel) == []
    assert problems(rel, deep=True) == []


def test_missing_files(ds):
    (ds / "trials" / "P01-A16" / "video" / "View-5.mp4").unlink()
    (ds / "subjects.csv").unlink()
    (ds / "trials" / "N01-A16" / "breath.npy").unlink()
    one(ds, "missing", ds / "trials" / "P01-A16" / "video" / "View-5.mp4")
    one(ds, "missing", ds / "subjects.csv")
    one(ds, "missing", ds / "trials" / "N01-A16" / "breath.npy")


def test_frame_count_disagrees_with_trial_json(ds):
    edit_json(ds / "trials" / "P01-A16" / "trial.json", lambda d: d["views"][0].update(n_frames=999))
    one(ds, "trial.json says 999", ds / "trials" / "P01-A16" / "video" / "View-1.mp4")


def test_emg_duration_vs_video(ds):
    path = ds / "trials" / "P01-A16" / "emg.npy"
    emg = np.load(path)[:1000]  # 0.5 s instead of 1.5 s
    np.save(path, emg)
    edit_json(
        ds / "trials" / "P01-A16" / "trial.json", lambda d: d["streams"]["emg"].update(shape=list(emg.shape))
    )
    one(ds, "emg lasts 0.500 s", ds / "trials" / "P01-A16" / "trial.json")


def test_pose_frames_vs_video(ds):
    path = ds / "trials" / "N01-A16" / "pose.npy"
    pose = np.load(path)[:100]
    np.save(path, pose)
    edit_json(
        ds / "trials" / "N01-A16" / "trial.json",
        lambda d: d["streams"]["pose"].update(shape=list(pose.shape)),
    )
    one(ds, "pose lasts", ds / "trials" / "N01-A16" / "trial.json")


def test_nan_and_inf(ds):
    path = ds / "trials" / "N01-A16" / "heart_rate.npy"
    hr = np.load(path)
    hr[2], hr[3] = np.nan, np.inf
    np.save(path, hr)
    one(ds, "2 NaN/inf", path)


def test_shape_differs_from_trial_json_and_channels(ds):
    path = ds / "trials" / "N01-A16" / "emg.npy"
    np.save(path, np.load(path)[:, :3])
    one(ds, "trial.json says", path)
    one(ds, "must have 4 channels", path)


def test_unknown_action_and_class_mismatch(ds):
    def fn(rows):
        rows[0]["action"] = "moonwalk"
        rows[1]["class_index"] = "3"
        return rows

    edit_manifest(ds, fn)
    one(ds, "unknown action 'moonwalk'", ds / "manifest.csv")
    one(ds, "class_index 3", ds / "manifest.csv")


def test_unknown_error_code_and_bad_score(ds):
    ann = ds / "trials" / "P01-A16" / "annotations.json"

    def fn(d):
        d["reps"][0]["slots"] = ["AK01:ET999"]
        d["reps"][1]["score"] = 12.0
        d["reps"][1]["annotators"][0]["slots"] = ["ET777"]

    edit_json(ann, fn)
    one(ds, "ET999", ann)
    one(ds, "disagrees with the FKG", ann)
    one(ds, "annotator ann1", ann)
    one(ds, "differs from manifest.csv", ann)


def test_duplicate_ids(ds):
    edit_manifest(ds, lambda rows: [*rows, rows[0]])
    one(ds, "duplicate sample id", ds / "manifest.csv")
    ann = ds / "trials" / "P01-A16" / "annotations.json"
    edit_json(ann, lambda d: d["reps"].append(d["reps"][0]))
    one(ds, "duplicate sample id P01-A16-r01", ann)


def test_keyframes_outside_the_recording(ds):
    ann = ds / "trials" / "N01-A16" / "annotations.json"
    edit_json(ann, lambda d: d["reps"][1]["keyframes"].update(end=9.0))
    one(ds, "after the end of the recording", ann)
    edit_json(ann, lambda d: d["reps"][0]["keyframes"].update(start=0.9, end=0.2))
    one(ds, "start < end", ann)
    edit_json(ann, lambda d: d["reps"][0]["keyframes"]["phases"][0].update(start=-1.0))
    one(ds, "outside the repetition", ann)


def test_truncated_video_and_npy(ds):
    mp4 = ds / "trials" / "P01-A16" / "video" / "View-1.mp4"
    mp4.write_bytes(mp4.read_bytes()[:2000])
    npy = ds / "trials" / "N01-A16" / "pose.npy"
    npy.write_bytes(npy.read_bytes()[:300])
    one(ds, "video", mp4)
    one(ds, "truncated", npy)


def test_unreadable_json_and_unlisted_trial(ds):
    (ds / "trials" / "N01-A16" / "trial.json").write_text("{")
    import shutil

    shutil.copytree(ds / "trials" / "P01-A16", ds / "trials" / "P09-A16")
    one(ds, "not valid JSON", ds / "trials" / "N01-A16" / "trial.json")
    one(ds, "not in manifest.csv", ds / "trials" / "P09-A16")


def test_overlapping_splits(ds):
    path = ds / "splits" / "random.json"
    edit_json(path, lambda d: d["test"].append(d["train"][0]))
    one(ds, "is in both train and test", path)
    edit_json(path, lambda d: d.update(val=[]))
    one(ds, "in no split", path)


def test_release_problems(tmp_path, rel):
    import shutil

    root = tmp_path / "r"
    shutil.copytree(rel, root)
    (root / "A16" / "001" / "View-1" / "img_00103.JPG").unlink()
    jpg = root / "A16" / "002" / "View-1" / "img_00010.JPG"
    jpg.write_bytes(jpg.read_bytes()[:40])
    sk = root / "Skeleton" / "A16" / "003" / "skeleton_points.csv"
    sk.write_text(sk.read_text().replace("0.000000", "nan", 1))
    emg = root / "EMG" / "A16" / "004" / "EMG.csv"
    emg.write_text("1,2\n3,4\n")
    from flexaqa.data.release import read_split_mat, write_official_split

    tr = read_split_mat(root / "Split_4" / "split_4_train_list.mat", "consolidated_train_list")
    write_official_split(root, [*tr.tolist(), tr[0].tolist(), [21, 1, 50.0]], [[16, 99, 120.0]])
    found = problems(root)
    expect = [
        (root / "A16" / "001" / "View-1", "expected 103"),
        (jpg, "JPEG"),
        (sk, "NaN"),
        (emg, "2 columns"),
        (root / "Split_4" / "split_4_train_list.mat", "listed twice"),
        (root / "Split_4" / "split_4_train_list.mat", "class 21"),
        (root / "Split_4" / "split_4_test_list.mat", "no data folder"),
        (root / "Split_4" / "split_4_test_list.mat", "outside 0..100"),
    ]
    for path, needle in expect:
        assert any(p.startswith(str(path)) and needle in p for p in found), (path, needle, found)


def test_cli_prints_one_line_per_problem_and_exits_1(ds, capsys):
    assert main(["data", "validate", str(ds)]) == 0
    assert "OK" in capsys.readouterr().out
    (ds / "trials" / "P01-A16" / "pose.npy").unlink()
    (ds / "trials" / "N01-A16" / "emg.npy").unlink()
    assert main(["data", "validate", str(ds)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(str(ds / "trials") in line for line in lines)


def test_durations_may_differ_by_one_sample_period(ds):
    # a 60 fps phone view may end one frame earlier than the 120 fps views: not a problem, a second is
    path = ds / "trials" / "P01-A16" / "pose.npy"
    pose = np.load(path)
    meta = json.loads((ds / "trials" / "P01-A16" / "trial.json").read_text())
    period = 1.0 / meta["streams"]["pose"]["rate"]
    for cut, expect_problem in ((1, False), (round(0.2 / period) + 2, True)):
        shorter = pose[:-cut]
        np.save(path, shorter)
        shape = list(shorter.shape)
        edit_json(
            ds / "trials" / "P01-A16" / "trial.json", lambda d, s=shape: d["streams"]["pose"].update(shape=s)
        )
        found = [p for p in problems(ds) if "pose lasts" in p]
        assert bool(found) == expect_problem, found
