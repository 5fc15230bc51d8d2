"""Coach video path: view-dependent assessability from the ``video:`` calibration, and MediaPipe on rendered
simulator video tracking the simulator's true joints."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.coach import analyse_pose, compute_features, load_rules, synthetic_set
from flexaqa.coach.video import VideoCalibrationError, load_video_calibration, view_limit
from flexaqa.kg import load_kg


def _limited_slot(view: str):
    """An ``(action slug, slot)`` whose every rule reads a feature the calibration says ``view`` cannot measure
    (and that the rule's own views would otherwise allow)."""
    calib = load_video_calibration()
    for act in load_kg().actions:
        rs = load_rules(act)
        for slot, rules in rs.rules.items():
            if all(
                r.feature and view in r.views and r.feature not in calib.features(view, act.slug)
                for r in rules
            ):
                return act.slug, slot
    pytest.skip(f"the calibration limits no rule from a {view} view")


@pytest.mark.parametrize("view", ["front", "side"])
def test_unmeasurable_rule_is_reported_not_assessed(view):
    slug, slot = _limited_slot(view)
    s = synthetic_set(slug, n_reps=1)
    rep3d = analyse_pose(s.pose, slug, segmenter=s.segmenter, view="3d")
    rep = analyse_pose(s.pose, slug, segmenter=s.segmenter, view=view)
    r3d, r = rep3d["repetitions"][0], rep["repetitions"][0]
    assert slot not in {n["slot"] for n in r3d["not_assessed"]}  # a true 3D pose assesses it
    reasons = {n["slot"]: n["reason"] for n in r["not_assessed"]}
    assert f"not measurable from a single {view} camera" in reasons[slot]
    assert slot not in r["detected"] and slot not in {c["slot"] for c in r["clean"]}
    assert rep["coverage"]["share"] < rep3d["coverage"]["share"]  # coverage drops honestly


def test_view_limit_spares_3d_and_timing_follows_the_trace():
    from flexaqa.coach.video import trace_feature

    calib = load_video_calibration()
    assert trace_feature("squat") == "hip_height" and trace_feature("barbell-biceps-curl") == "hand_height"
    for slug in ("squat", "barbell-biceps-curl", "dumbbell-lateral-raise"):
        rs = load_rules(slug)
        for rules in rs.rules.values():
            for r in rules:
                assert view_limit(r, "3d", rs.action) == ""
                if r.feature is None:  # duration / tempo: as measurable as the repetition trace
                    for view in ("front", "side", "oblique"):
                        ok = trace_feature(slug) in calib.features(view, slug)
                        why = view_limit(r, view, rs.action)
                        assert (why == "") == ok and (ok or "phase timing" in why)


def test_calibration_names_known_features(tmp_path):
    calib = load_video_calibration()
    assert set(calib.measurable) <= {"front", "side", "oblique"} and calib.measurable
    base = "errors: {}\nactions: {}\nnot_assessable: {}\nscales: {}\n"
    bad = tmp_path / "rules.yaml"
    bad.write_text(base + "video:\n  measurable:\n    front: [knee_angle, knee_wobble]\n")
    with pytest.raises(VideoCalibrationError, match="knee_wobble"):
        load_video_calibration(bad)
    bad = tmp_path / "rules2.yaml"  # (rules files are cached by path)
    bad.write_text(base + "video:\n  measurable:\n    top: [knee_angle]\n")
    with pytest.raises(VideoCalibrationError, match="top"):
        load_video_calibration(bad)


def _render_track(view_name: str, action: str = "squat"):
    """MediaPipe on a short rendering of one simulated repetition: ``(truth joints, cleaned pose)``."""
    from flexaqa.coach.pose import clean_pose, estimate_pose
    from flexaqa.synth.kinematics import PROGRAMS
    from flexaqa.synth.render import make_view, render
    from flexaqa.synth.simulate import simulate_trial
    from flexaqa.synth.subjects import make_roster

    kg = load_kg()
    act = kg.action(action)
    sim = simulate_trial(
        make_roster(["N01"], 0)[0], act, reps=1, seed=1, fps=30.0, with_signals=False, errors=[{}], kg=kg
    )
    gt = sim.joints[::3]  # 10 fps
    v = make_view(view_name, width=240, height=320, fps=10)
    frames = render(gt, v, equipment=act.equipment, load=sim.load_kg, bench=PROGRAMS[act.slug].bench)
    pose = clean_pose(estimate_pose((f, i / 10) for i, f in enumerate(frames)))
    return gt, pose


def test_rendered_side_view_tracks_the_true_knee_angle():
    pytest.importorskip("mediapipe")
    from flexaqa.coach.pose import detect_view

    gt, pose = _render_track("Phone-side")
    assert pose.present.mean() > 0.9 and detect_view(pose) == "side"
    truth = compute_features(gt, ["knee_angle"])["knee_angle"]
    video = compute_features(pose.joints, ["knee_angle"])["knee_angle"]
    ok = pose.present & np.isfinite(video)
    assert np.ptp(truth) > 60  # a real squat: the test has something to track
    assert np.median(np.abs(video[ok] - truth[ok])) < 10  # degrees
    assert np.corrcoef(video[ok], truth[ok])[0, 1] > 0.9


def test_video_margin_comes_from_the_calibration():
    from flexaqa.coach.rules import Rule
    from flexaqa.coach.video import VideoCalibration, video_margin

    calib = VideoCalibration({}, margin={"side": {"knee_valgus": 0.05}})
    valgus = Rule("knee_valgus", "rep", "max", "above", (0.1,), 0.1)
    knee = Rule("knee_angle", "turn", "mean", "above", (95.0,), 10.0)
    assert video_margin(valgus, "side", 0.12, calib=calib) == 0.05  # the feature's own, smaller margin
    assert video_margin(knee, "side", 12.0, calib=calib) == 12.0  # none: the unit's margin
    assert video_margin(valgus, "front", 0.12, calib=calib) == 0.12
    assert video_margin(valgus, "3d", 0.12, calib=calib) == 0.0  # a true 3D pose is not widened


def test_planar_world_scales_the_image_to_metres_and_keeps_depth():
    from flexaqa.coach.pose import planar_world

    rng = np.random.default_rng(0)
    image = np.concatenate([rng.uniform(0.2, 0.8, (33, 2)), np.zeros((33, 1))], axis=1)  # normalised x, y
    px = image[:, :2] * (640, 480)
    world = np.concatenate([0.004 * px, rng.normal(0, 0.2, (33, 1))], axis=1)  # 4 mm per pixel, some depth
    world[:, :2] -= 0.5 * (world[23, :2] + world[24, :2])  # MediaPipe's origin: between the hips
    noisy = world.copy()
    noisy[:, :2] += rng.normal(0, 0.03, (33, 2))  # the world model's in-image error
    out = planar_world(noisy, image, (640, 480))
    np.testing.assert_allclose(out[:, 2], noisy[:, 2])  # depth kept
    shape = out[:, :2] - 0.5 * (out[23, :2] + out[24, :2])  # the hips' centre stays MediaPipe's origin
    assert np.abs(shape - world[:, :2]).max() < 0.5 * np.abs(noisy[:, :2] - world[:, :2]).max()
