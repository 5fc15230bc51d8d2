"""Bring your own pose: every keypoint format reads the simulator's poses filmed through a camera, agrees with
the video-free 3D path within the stated tolerance, and a malformed file fails naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flexaqa.coach import analyse_pose, synthetic_set
from flexaqa.coach.formats import PoseFormatError, load_tables, read_keypoints
from flexaqa.coach.formats import synthetic as fx
from flexaqa.coach.keypoints import coach_keypoints
from flexaqa.skeleton import MEDIAPIPE_TO_FLEX21_SOURCES, J
from flexaqa.testing import keypoint_file, walker

CURL = "barbell-biceps-curl"
FMT_OF = {
    "openpose": "openpose",
    "openpose18": "openpose",
    "coco": "coco",
    "mediapipe": "mediapipe",
    "h36m": "h36m",
    "flex": "flex",
}


@pytest.fixture(scope="module")
def curl():
    return synthetic_set(CURL, n_reps=3, errors=[(), ("AK08:ET023",), ()])


@pytest.fixture(scope="module")
def reference(curl):
    return analyse_pose(curl.pose, CURL, view="3d")  # the video-free 3D path, its own segmentation


def _values(report) -> dict:
    """(repetition, slot, feature, stat) -> rule value, for the assessed rules."""
    out = {}
    for rep in report["repetitions"]:
        for e in rep["errors"]:
            for ev in e["evidence"]:
                if ev["assessed"]:
                    out[rep["index"], e["slot"], ev["feature"], ev["stat"]] = ev["value"]
    return out


def test_tables_load_and_mediapipe_table_matches_the_skeleton():
    t = load_tables()
    lay = t.layout("mediapipe33")
    for name, src in MEDIAPIPE_TO_FLEX21_SOURCES.items():
        assert sorted(lay.sources[name]) == sorted(src)
        np.testing.assert_allclose(lay.matrix[J[name], sorted(src)], [src[k] for k in sorted(src)])
    assert (
        t.by_count("openpose", 25).name == "openpose_body25"
        and t.by_count("openpose", 18).name == "openpose_coco18"
    )
    assert "heel" in t.layout("coco17").missing["left_heel"]


def test_a_bad_table_is_refused(tmp_path):
    from flexaqa.coach.formats.tables import TABLES_PATH

    text = TABLES_PATH.read_text().replace(
        "left_toe: [left_big_toe, left_small_toe]", "left_toe: [left_big_tow]"
    )
    bad = tmp_path / "formats.yaml"
    bad.write_text(text)
    with pytest.raises(PoseFormatError, match="left_big_tow"):
        load_tables(bad)
    bad2 = tmp_path / "formats2.yaml"
    bad2.write_text(
        TABLES_PATH.read_text().replace(
            "      left_hand: OpenPose BODY_25", "      left_hend: OpenPose BODY_25", 1
        )
    )
    with pytest.raises(PoseFormatError, match="left_hend"):
        load_tables(bad2)


@pytest.mark.parametrize("fmt", ["openpose", "openpose18", "coco", "mediapipe", "h36m", "flex"])
def test_every_format_agrees_with_the_3d_path(fmt, curl, reference, tmp_path):
    """Tolerance: the same number of repetitions with boundaries within 0.5 s (the end of a repetition is where
    the trace comes to rest, which keypoint noise moves); 3D formats give the 3D path's
    decisions; 2D (and MediaPipe world) formats, filmed from the side with OpenPose-like noise, give rule values
    within half the single-camera margin of the 3D values in at least 90 % of the rules both assess (median
    within a quarter), and never report an error the 3D path does not (their thresholds are only widened)."""
    path = keypoint_file(tmp_path, fmt, curl)
    res = coach_keypoints(path, FMT_OF[fmt], CURL, fps=30.0)
    r, ref = res.report, reference
    assert r["set"]["n_reps"] == ref["set"]["n_reps"] == 3
    for a, b in zip(r["repetitions"], ref["repetitions"], strict=True):
        assert abs(a["start"] - b["start"]) < 0.5 and abs(a["end"] - b["end"]) < 0.5
    assert r["keypoints"]["format"] == FMT_OF[fmt]
    if fmt in ("h36m", "flex"):
        assert r["input"]["view"] == "3d"
        assert [x["detected"] for x in r["repetitions"]] == [x["detected"] for x in ref["repetitions"]]
        return
    assert r["input"]["view"] == "side"
    assert r["coverage"]["share"] > 0.4  # the side view measures the curl (elbow, upper arm, lean, knees)
    margin = {"deg": 12.0, "torso": 0.12, "ratio": 0.3}
    units = {
        (e["feature"], e["stat"]): e["unit"]
        for rep in ref["repetitions"]
        for x in rep["errors"]
        for e in x["evidence"]
    }
    va, vb = _values(r), _values(ref)
    common = [k for k in va if k in vb and units.get(k[2:]) in margin]
    rel = np.array([abs(va[k] - vb[k]) / margin[units[k[2:]]] for k in common])
    for a, b in zip(r["repetitions"], ref["repetitions"], strict=True):
        assert set(a["detected"]) <= set(b["detected"])
    assert "AK08:ET023" in r["repetitions"][1]["detected"]  # the upper-arm swing, seen from the side
    if len(rel):
        assert np.median(rel) <= 0.25 and np.mean(rel <= 0.5) >= 0.9


def _assessed_values(report) -> dict:
    """(repetition, slot, feature, stat) -> value of every assessed rule (errors and clean slots alike)."""
    out = {}
    for rep in report["repetitions"]:
        for e in rep["errors"]:
            for ev in e["evidence"]:
                if ev["assessed"]:
                    out[rep["index"], e["slot"], ev["feature"], ev["stat"]] = ev["value"]
    return out


def test_a_missing_joint_is_not_assessable_with_the_formats_reason(tmp_path):
    s = synthetic_set("flat-barbell-bench-press", n_reps=2)
    path = keypoint_file(tmp_path, "coco", s, noise=False)
    r = coach_keypoints(path, "coco", "flat-barbell-bench-press", fps=30.0).report
    reasons = {n["slot"]: n["reason"] for n in r["coverage"]["not_assessed"]}
    assert "AK24:ET036" in reasons  # feet flat on the floor: COCO-17 has no heel or toe
    assert "--pose-format coco" in reasons["AK24:ET036"] and "no heel or toe" in reasons["AK24:ET036"]
    assert r["keypoints"]["missing_joints"]["left_heel"]
    body25 = coach_keypoints(
        keypoint_file(tmp_path / "b", "openpose", s, noise=False),
        "openpose",
        "flat-barbell-bench-press",
        fps=30.0,
    ).report
    assert "AK24:ET036" not in {n["slot"] for n in body25["coverage"]["not_assessed"]}  # BODY_25 has heels


@pytest.mark.parametrize(
    ("camera", "view"), [("Phone-side", "side"), ("Phone-front", "front"), ("View-5", "oblique")]
)
def test_view_is_read_from_2d_proportions(camera, view, tmp_path):
    s = synthetic_set("squat", n_reps=1)
    ki = read_keypoints(keypoint_file(tmp_path, "coco", s, view=camera), "coco", fps=30.0)
    assert ki.view == view and ki.dims == 2


def test_several_people_the_lifter_is_followed_and_the_report_says_so(curl, reference, tmp_path):
    other = walker(len(curl.pose), 30.0, start=2.0)  # crosses the picture nearer the camera
    path = keypoint_file(tmp_path, "openpose", curl, others=[other])
    r = coach_keypoints(path, "openpose", CURL, fps=30.0).report
    assert r["set"]["n_reps"] == 3 and r["keypoints"]["several_people"]
    assert any("several people" in w and "followed the lifter" in w for w in r["warnings"])
    # the lifter's keypoints, not the walker's: the hips stay where the lifter stands
    ki = read_keypoints(path, "openpose", fps=30.0)
    alone = read_keypoints(keypoint_file(tmp_path / "alone", "openpose", curl), "openpose", fps=30.0)
    hx = lambda k: np.nanmedian(k.pose.image[:, J["left_hip"], 0])  # noqa: E731
    assert abs(hx(ki) - hx(alone)) < 0.02


def test_coco_frames_by_frame_field_and_mmpose_predictions(curl, tmp_path):
    a = read_keypoints(keypoint_file(tmp_path, "coco", curl, key="frame"), "coco", fps=30.0)
    kp = fx.layout_points(curl.pose.joints, "coco17")
    px, _ = fx.project(kp)
    mm = [
        {"frame_id": t, "instances": [{"keypoints": px[t].tolist(), "keypoint_scores": [0.9] * 17}]}
        for t in range(len(px))
    ]
    (tmp_path / "mm.json").write_text(json.dumps(mm))
    b = read_keypoints(tmp_path / "mm.json", "coco", fps=30.0)
    assert len(a.pose) == len(b.pose) == len(curl.pose)
    assert np.nanmax(np.abs(b.pose.image[:, J["left_knee"]] * b.pose.image_size - px[:, 13])) < 1e-6


def test_mediapipe_reads_the_coachs_own_pose_npz_and_json(curl, tmp_path):
    from flexaqa.coach.pipeline import write_outputs

    res = coach_keypoints(keypoint_file(tmp_path, "mediapipe", curl), "mediapipe", CURL, fps=30.0)
    files = write_outputs(res, tmp_path / "out", html=True)
    again = coach_keypoints(files["pose"], "mediapipe", CURL)  # pose.npz carries its times
    assert again.report["set"]["n_reps"] == 3 and again.report["input"]["view"] == "side"
    lm = fx.mediapipe_world(curl.pose.joints)
    frames = [None] + [
        [{"x": p[0], "y": p[1], "z": p[2], "visibility": p[3]} for p in f] for f in lm[1:].tolist()
    ]
    (tmp_path / "lm.json").write_text(json.dumps(frames))
    ki = read_keypoints(tmp_path / "lm.json", "mediapipe", fps=30.0)
    assert not ki.pose.present[0] and ki.pose.present[1:].all()


def test_native_pose_npy_takes_its_rate_from_trial_json(curl, tmp_path):
    d = tmp_path / "trial"
    d.mkdir()
    fx.write_npy(d / "pose.npy", curl.pose.joints)
    (d / "trial.json").write_text(json.dumps({"streams": {"pose": {"file": "pose.npy", "rate": 30.0}}}))
    ki = read_keypoints(d, "flex")
    assert ki.pose.fps == pytest.approx(30.0) and ki.view == "3d"


@pytest.mark.parametrize(
    ("fmt", "make", "match"),
    [
        ("openpose", lambda p: p.mkdir(), "no \\*_keypoints.json"),
        (
            "openpose",
            lambda p: (p.mkdir(), (p / "a_keypoints.json").write_text("{not json")),
            "not valid JSON",
        ),
        (
            "openpose",
            lambda p: (
                p.mkdir(),
                (p / "a_keypoints.json").write_text('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}'),
            ),
            "expected 25 \\(BODY_25\\) or 18",
        ),
        (
            "openpose",
            lambda p: (p.mkdir(), (p / "a_keypoints.json").write_text('{"people": []}')),
            "no person",
        ),
        ("coco", lambda p: p.write_text('[{"keypoints": [0, 0, 0]}]'), "neither 'frame' nor 'image_id'"),
        ("coco", lambda p: p.write_text('[{"image_id": 1, "keypoints": [0, 0, 1]}]'), "expected 51 numbers"),
        ("coco", lambda p: p.write_text("{}"), "non-empty JSON list"),
        ("h36m", lambda p: np.save(p, np.zeros((10, 21, 3))), "Human3.6M-17 pose shaped \\(T, 17, 3\\)"),
        ("mediapipe", lambda p: np.save(p, np.zeros((10, 21, 3))), "\\(T, 33, 3\\) or \\(T, 33, 4\\)"),
        ("flex", lambda p: p.write_text("h\n1,2,3\n"), "63 columns"),
    ],
)
def test_a_malformed_file_names_the_file_and_what_was_expected(fmt, make, match, tmp_path):
    suffix = {"coco": ".json", "h36m": ".npy", "mediapipe": ".npy", "flex": ".csv", "openpose": ""}[fmt]
    p = tmp_path / f"bad{suffix}"
    make(p)
    with pytest.raises(PoseFormatError, match=match) as ei:
        read_keypoints(p, fmt, fps=30.0)
    assert "bad" in str(ei.value)


def test_fps_is_required_where_the_format_has_no_time(curl, tmp_path):
    path = keypoint_file(tmp_path, "h36m", curl)
    with pytest.raises(PoseFormatError, match="--fps"):
        read_keypoints(path, "h36m")


def test_cli_pose_and_exit_codes(curl, tmp_path, capsys):
    from flexaqa.cli import main

    path = keypoint_file(tmp_path, "coco", curl)
    out = tmp_path / "rep"
    rc = main(
        [
            "coach",
            "--pose",
            str(path),
            "--pose-format",
            "coco",
            "--fps",
            "30",
            "--action",
            CURL,
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["keypoints"]["format"] == "coco" and rep["set"]["n_reps"] == 3
    assert (out / "report.html").is_file() and (out / "pose.npz").is_file()
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    rc = main(
        [
            "coach",
            "--pose",
            str(bad),
            "--pose-format",
            "coco",
            "--fps",
            "30",
            "--action",
            CURL,
            "--out",
            str(tmp_path / "b"),
        ]
    )
    assert rc == 3
    assert "bad.json" in capsys.readouterr().err
    assert json.loads((tmp_path / "b" / "report.json").read_text())["problems"][0]["code"] == "bad_keypoints"
    assert main(["coach", "--pose", str(path), "--action", CURL]) == 2  # --pose-format missing


def test_went_well_lists_each_error_type_once():
    s = synthetic_set("dumbbell-biceps-curl", n_reps=2)
    r = analyse_pose(s.pose, "dumbbell-biceps-curl", segmenter=s.segmenter)
    errors = [g["error"] for g in r["feedback"]["went_well"]]
    assert len(errors) == len(set(errors))
    shared = [g for g in r["feedback"]["went_well"] if len(g["slots"]) > 1]
    assert shared  # the curl checks ET008 (and others) in several keysteps: said once, all slots listed
    assert all(len({sl.split(":")[1] for sl in g["slots"]}) == 1 for g in shared)


@pytest.mark.parametrize("fmt", ["h36m", "flex", "openpose"])
def test_a_squat_counts_through_every_path(fmt, tmp_path):
    """The squat's trace is the hips' height: a root-relative 3D lifter output must be put on the floor per frame,
    2D keypoints at one scale, or the hips would never move."""
    s = synthetic_set("squat", n_reps=3, errors=[(), ("AK44:ET039",), ()])
    ref = analyse_pose(s.pose, "squat", view="3d")
    r = coach_keypoints(keypoint_file(tmp_path, fmt, s), FMT_OF[fmt], "squat", fps=30.0).report
    assert r["set"]["n_reps"] == ref["set"]["n_reps"] == 3
    if fmt != "openpose":
        assert [x["detected"] for x in r["repetitions"]] == [x["detected"] for x in ref["repetitions"]]


@pytest.mark.parametrize("turn", [0.0, 180.0], ids=["faces left", "faces right"])
def test_2d_side_view_keeps_which_way_the_body_faces(turn, tmp_path):
    """A bent-over row filmed from the side, the lifter facing either way: the lifted 2D pose leans forward (the
    body's forward axis comes from the facing read off the picture), as the 3D pose does."""
    from flexaqa.pose_rules.features import compute_features

    s = synthetic_set("barbell-bent-over-row", n_reps=1)
    x = s.pose.joints.copy()
    c = x[:, [J["left_hip"], J["right_hip"]]].mean(axis=(0, 1))
    a = np.radians(turn)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    s.pose.joints = (x - c) @ rot.T + c
    ki = read_keypoints(keypoint_file(tmp_path, "openpose", s, noise=False), "openpose", fps=30.0)
    assert ki.view == "side" and ki.info["facing"] == (-1.0 if turn == 0 else 1.0)
    lean2d = np.nanmedian(compute_features(ki.pose.joints)["torso_pitch"])
    lean3d = np.nanmedian(compute_features(s.pose.joints)["torso_pitch"])
    assert lean3d > 30 and abs(lean2d - lean3d) < 6
