"""Coach video path: view-dependent assessability from the ``video:`` calibration, and MediaPipe on rendered
simulator video tracking the simulator's true joints."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.coach import FEATURES, PoseSequence, analyse_pose, compute_features, load_rules, synthetic_set
from flexaqa.kg import load_kg
from flexaqa.pose_rules.calibration import VideoCalibrationError, load_video_calibration, view_limit
from flexaqa.skeleton import J


def _limited_slot(view: str):
    """An ``(action slug, slot)`` whose every rule reads a feature the camera geometry keeps ``view`` from
    measuring (and that the rule's own views would otherwise allow)."""
    for act in load_kg().actions:
        rs = load_rules(act)
        for slot, rules in rs.rules.items():
            if all(r.feature and view in r.views and view_limit(r, view, act.slug) for r in rules):
                return act.slug, slot
    raise AssertionError(f"the geometry limits no rule from a {view} view: nothing here to test")


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
    from flexaqa.pose_rules.calibration import trace_feature
    from flexaqa.pose_rules.geometry import trace_limit

    assert trace_feature("squat") == "hip_height" and trace_feature("barbell-biceps-curl") == "hand_height"
    for slug in ("squat", "barbell-biceps-curl", "dumbbell-lateral-raise"):
        rs = load_rules(slug)
        for rules in rs.rules.values():
            for r in rules:
                assert view_limit(r, "3d", rs.action) == ""
                if r.feature is None:  # duration / tempo: as measurable as the repetition trace
                    for view in ("front", "side", "oblique"):
                        f = trace_feature(slug)
                        m = rs.monocular_margin[FEATURES[f].unit]
                        assert view_limit(r, view, rs.action) == trace_limit(f, view, slug, m)


def test_geometry_decides_what_a_view_sees_and_the_calibration_never_silences_it():
    """Seen from the side the curl's elbow angle and upper-arm swing lie in the image plane: measurable, even
    though the rendered-video calibration does not list them; from the front they are not, and the reason is
    geometric. For every rule of every action, a view limits it only when the geometry does, and then unless the
    calibration found MediaPipe's depth measuring it (a 2D pose has none: the geometry alone)."""
    from flexaqa.pose_rules.calibration import calibrated, geometry_limit, video_margin
    from flexaqa.pose_rules.geometry import geometric_limit

    rs = load_rules("barbell-biceps-curl")
    rules = {(sid, r.feature): r for sid, rr in rs.rules.items() for r in rr}
    for key in (("AK07:ET008", "elbow_angle"), ("AK08:ET023", "upper_arm_flexion")):
        r = rules[key]
        assert view_limit(r, "side", rs.action) == ""
        why = view_limit(r, "front", rs.action)
        assert "not measurable from a single front camera" in why and "line of sight" in why
        assert "moves by up to" in why and "margin" in why  # the geometric error, with its size
    elbow = rules[("AK07:ET008", "elbow_angle")]
    assert not calibrated(elbow, "side", rs.action)  # MediaPipe erred past the margin on rendered video ...
    assert video_margin(elbow, "side", 12.0, action=rs.action) == 24.0  # ... so it is only widened, twice
    n = 0
    for act in load_kg().actions:
        rs = load_rules(act)
        for rr in rs.rules.values():
            for r in rr:
                if r.feature is None:
                    continue
                for view in ("front", "side", "oblique"):
                    m = rs.monocular_margin[r.unit]
                    geo = geometric_limit(r, view, act.slug, m)
                    assert geometry_limit(r, view, act.slug) == geo  # 2D keypoints: the geometry alone
                    why = view_limit(r, view, act.slug)
                    assert (
                        not why or why == geo
                    )  # never silenced unless the geometry says so, with its reason
                    assert why == ("" if calibrated(r, view, act.slug) else geo)  # the estimator's depth adds
                    n += bool(why)
    assert n > 50  # the geometry does limit many rules


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
    raw = estimate_pose((f, i / 10) for i, f in enumerate(frames))
    return gt, clean_pose(raw), clean_pose(raw, planar="never")


def _errors(gt, pose, names):
    """Per feature, ``(median, max)`` absolute error of ``pose`` against the true joints ``gt``."""
    truth, video = compute_features(gt, names), compute_features(pose.joints, names)
    out = {}
    for n in names:
        ok = pose.present & np.isfinite(video[n])
        d = np.abs(video[n][ok] - truth[n][ok])
        out[n] = (float(np.median(d)), float(d.max()))
    return out


def test_rendered_side_view_tracks_the_true_knee_angle():
    pytest.importorskip("mediapipe")
    from flexaqa.coach.pose import detect_view

    gt, pose, world = _render_track("Phone-side")
    assert pose.present.mean() > 0.9 and detect_view(pose) == "side" and detect_view(world) == "side"
    truth = compute_features(gt, ["knee_angle"])["knee_angle"]
    assert np.ptp(truth) > 60  # a real squat: the test has something to track
    video = compute_features(pose.joints, ["knee_angle"])["knee_angle"]
    ok = pose.present & np.isfinite(video)
    assert np.corrcoef(video[ok], truth[ok])[0, 1] > 0.9
    names = ["knee_angle", "hip_angle", "knee_forward"]
    planar, mp_world = _errors(gt, pose, names), _errors(gt, world, names)
    assert planar["knee_angle"][0] < 10 and planar["knee_angle"][1] < mp_world["knee_angle"][1]  # degrees
    assert planar["hip_angle"][0] < mp_world["hip_angle"][0]
    # knees ahead of the toes: forward is across the picture from the side, the image gets it right
    assert planar["knee_forward"][0] < 0.6 * mp_world["knee_forward"][0]


def test_rendered_side_view_sees_the_upper_arm_swing():
    pytest.importorskip("mediapipe")
    gt, pose, world = _render_track("Phone-side", "barbell-biceps-curl")
    planar, mp_world = (_errors(gt, p, ["upper_arm_flexion"])["upper_arm_flexion"] for p in (pose, world))
    assert planar[1] < 8 and planar[1] < 0.5 * mp_world[1], (planar, mp_world)  # worst frame, degrees


def _projected_squat(scale_px: float = 250.0):
    """A side-on squat seen by an orthographic camera: ``(true joints, pose with noisy world joints and exact
    image landmarks)``; the image is ``scale_px`` pixels per metre."""
    s = synthetic_set("squat", n_reps=1)
    gt = s.pose.joints  # (T, 21, 3), x right, y forward, z up
    size = (640, 480)
    # camera at the side (looking along +x): image x = the body's y (forward), image y = down
    img = np.stack([gt[..., 1] * scale_px + 320, 440 - gt[..., 2] * scale_px], axis=-1) / size  # (T, 21, 2)
    world = gt[..., [1, 0, 2]].copy()  # camera-aligned: x across the image, y depth, z up
    rng = np.random.default_rng(0)
    world[..., [0, 2]] += rng.normal(0, 0.04, world[..., [0, 2]].shape)  # the world model's in-image error
    pose = PoseSequence(s.pose.t, world, np.ones(gt.shape[:2]), np.ones(len(gt), bool), img, size)
    return gt[..., [1, 0, 2]], pose


def test_planar_pose_uses_one_scale_and_keeps_depth():
    from flexaqa.coach.pose import planar_pose, sequence_scale

    truth, pose = _projected_squat(250.0)
    assert abs(sequence_scale(pose) - 1 / 250.0) < 0.05 / 250.0  # metres per pixel, within 5 %
    out = planar_pose(pose)
    np.testing.assert_allclose(out.joints[..., 1], pose.joints[..., 1])  # depth kept from the world model
    assert np.nanmin(out.joints[..., 2], axis=1) == pytest.approx(0.0, abs=1e-9)  # feet on the floor
    ka = {n: compute_features(p, ["knee_angle"])["knee_angle"] for n, p in (("t", truth), ("o", out.joints))}
    kw = compute_features(pose.joints, ["knee_angle"])["knee_angle"]
    assert np.abs(ka["o"] - ka["t"]).max() < np.abs(kw - ka["t"]).max()
    assert np.median(np.abs(ka["o"] - ka["t"])) < 3  # degrees
    # the squat's descent survives (a per-frame scale would absorb it from the front)
    hip = lambda j: j[:, [J["left_hip"], J["right_hip"]], 2].mean(axis=1)  # noqa: E731
    assert np.ptp(hip(out.joints)) == pytest.approx(np.ptp(hip(truth)), rel=0.1)


def test_clean_pose_planar_only_from_the_side():
    from flexaqa.coach.pose import clean_pose, detect_view

    _, side = _projected_squat()
    assert detect_view(side) == "side"
    assert not np.allclose(clean_pose(side).joints, clean_pose(side, planar="never").joints)
    # the same body facing the camera: the world pose is kept
    front = PoseSequence(
        side.t, side.joints[..., [1, 0, 2]], side.visibility, side.present, side.image, side.image_size
    )
    assert detect_view(front) == "front"
    np.testing.assert_allclose(clean_pose(front).joints, clean_pose(front, planar="never").joints)
    with pytest.raises(ValueError, match="planar"):
        clean_pose(side, planar="sometimes")


def test_video_margin_comes_from_the_calibration():
    from flexaqa.pose_rules.calibration import VideoCalibration, video_margin
    from flexaqa.pose_rules.rules import Rule

    calib = VideoCalibration({}, margin={"side": {"knee_valgus": 0.05}})
    valgus = Rule("knee_valgus", "rep", "max", "above", (0.1,), 0.1)
    knee = Rule("knee_angle", "turn", "mean", "above", (95.0,), 10.0)
    assert video_margin(valgus, "side", 0.12, calib=calib) == 0.05  # the feature's own, smaller margin
    assert video_margin(knee, "side", 12.0, calib=calib) == 12.0  # none: the unit's margin
    assert video_margin(valgus, "front", 0.12, calib=calib) == 0.12
    assert video_margin(valgus, "3d", 0.12, calib=calib) == 0.0  # a true 3D pose is not widened
    calib = VideoCalibration(
        {}, margin={"side": {"torso_pitch": 12.0, "torso_pitch.change": 3.0, "torso_pitch.wobble": 1.5}}
    )
    wobble = Rule("torso_pitch", "concentric", "wobble", "above", (1.9,), 2.0)
    drop = Rule("torso_pitch", "concentric", "drop", "above", (8.0,), 5.0)
    level = Rule("torso_pitch", "concentric", "max", "above", (55.0,), 5.0)
    assert [video_margin(r, "side", 12.0, calib=calib) for r in (wobble, drop, level)] == [1.5, 3.0, 12.0]


def test_change_only_calibration_widens_levels_twice(tmp_path):
    from flexaqa.pose_rules.calibration import VideoCalibration, calibrated, video_margin
    from flexaqa.pose_rules.rules import Rule

    calib = VideoCalibration({"side": frozenset({"knee_angle.change", "hip_height.change"})})
    drop = Rule("knee_angle", "concentric", "drop", "above", (12.0,), 10.0)
    level = Rule("knee_angle", "turn", "mean", "above", (95.0,), 10.0)
    tempo = Rule(None, "eccentric", "tempo_ratio", "below", (0.75,), 0.3)
    assert calibrated(drop, "side", "squat", calib=calib)  # a constant bias cancels in a drop
    assert not calibrated(level, "side", "squat", calib=calib)
    assert calibrated(tempo, "side", "squat", calib=calib)  # the squat's trace (hip height) changes well
    assert video_margin(drop, "side", 12.0, action="squat", calib=calib) == 12.0
    assert video_margin(level, "side", 12.0, action="squat", calib=calib) == 24.0  # widened, never silenced
    assert view_limit(level, "side", "squat") == ""  # the knee bends in a side camera's image plane
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "errors: {}\nactions: {}\nnot_assessable: {}\nscales: {}\nvideo:\n  measurable:\n    side: [knee_angle.chnage]\n"
    )
    with pytest.raises(VideoCalibrationError, match="chnage"):
        load_video_calibration(bad)


def test_far_side_joints_borrow_the_near_sides_visibility():
    from flexaqa.coach.pose import far_side_visibility

    vis = np.full((3, 21), 0.9)
    vis[1, J["right_knee"]] = 0.1  # hidden behind the left knee
    vis[2, [J["left_knee"], J["right_knee"]]] = 0.2  # both knees hidden: nothing to borrow
    out, hidden = far_side_visibility(vis)
    assert out[1, J["right_knee"]] == pytest.approx(0.75 * 0.9) and out[1, J["left_knee"]] == 0.9
    assert out[2, J["right_knee"]] == 0.2 and hidden.tolist() == [False, True, False]
    np.testing.assert_array_equal(
        np.delete(out, J["right_knee"], axis=1), np.delete(vis, J["right_knee"], axis=1)
    )


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


def test_streaming_matches_the_file_path_from_the_side():
    """The streaming coach cleans its buffer with the same planar side-view pose as the file pipeline."""
    pytest.importorskip("mediapipe")
    from flexaqa.coach import Coach
    from flexaqa.coach.pose import clean_pose, estimate_pose
    from flexaqa.synth.render import make_view, render
    from flexaqa.synth.simulate import simulate_trial
    from flexaqa.synth.subjects import make_roster

    sim = simulate_trial(make_roster(["N01"], 0)[0], "squat", reps=1, seed=1, fps=30.0, with_signals=False)
    frames = render(sim.joints[::3], make_view("Phone-side", width=240, height=320, fps=10), load=sim.load_kg)
    pose = clean_pose(estimate_pose((f, i / 10) for i, f in enumerate(frames)))
    coach = Coach("squat", view="auto")
    for i, f in enumerate(frames):
        coach.update(f, i / 10)
    coach.close()
    streamed = coach.pose()
    assert streamed.flags["far_side"].any()  # the planar side pose was used
    np.testing.assert_allclose(streamed.joints, pose.joints, atol=1e-6)
    np.testing.assert_allclose(streamed.visibility, pose.visibility, atol=1e-6)
