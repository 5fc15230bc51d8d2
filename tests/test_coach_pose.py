"""Coach pose: MediaPipe on a real photograph and a panned clip, the FLEX-21 mapping, cleaning, view."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.coach import PoseSequence
from flexaqa.coach.pose import (
    body_yaw,
    clean_pose,
    detect_jumps,
    detect_view,
    landmarks_to_flex,
    mediapipe_world_to_flex,
)
from flexaqa.coach.synthetic import panned_photo_video, sample_photo
from flexaqa.skeleton import MEDIAPIPE33, J


def test_world_axes_become_z_up_right_handed():
    # MediaPipe world: y down, z away from the camera
    mp = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(mediapipe_world_to_flex(mp), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    x, y, z = mediapipe_world_to_flex(np.eye(3))
    assert np.allclose(np.cross(x, y), z * np.linalg.det(np.stack([x, y, z])))


def test_landmarks_to_flex_maps_joints_and_visibility():
    world = np.zeros((33, 3))
    image = np.full((33, 3), 0.5)
    vis = np.ones(33)
    world[MEDIAPIPE33["left_knee"]] = (0.1, 0.5, 0.0)  # 0.5 m below the hips (y down)
    vis[MEDIAPIPE33["right_ear"]] = 0.2
    image[MEDIAPIPE33["left_ankle"], 1] = 1.3  # below the image
    j, img, v = landmarks_to_flex(world, image, vis)
    np.testing.assert_allclose(j[J["left_knee"]], (0.1, 0.0, -0.5))
    assert v[J["head"]] == pytest.approx(0.2)  # built from both ears: the least visible wins
    assert v[J["left_ankle"]] <= 0.1 and v[J["right_ankle"]] == 1.0
    assert img.shape == (21, 2)


def _pose(n=30, present=None, image=None):
    t = np.arange(n) / 30.0
    j = np.tile(np.linspace(0, 1, 63).reshape(1, 21, 3), (n, 1, 1)) + t[:, None, None]
    p = np.ones(n, bool) if present is None else present
    j[~p] = np.nan
    return PoseSequence(
        t, j, np.where(p[:, None], 1.0, 0.0) * np.ones((n, 21)), p, image=image, image_size=(640, 480)
    )


def test_short_gaps_are_filled_long_gaps_are_not():
    present = np.ones(60, bool)
    present[10:13] = False  # 0.1 s
    present[30:45] = False  # 0.5 s
    out = clean_pose(_pose(60, present), max_gap=0.25)
    assert out.flag("filled")[10:13].all() and np.isfinite(out.joints[10:13]).all()
    np.testing.assert_allclose(out.joints[11, 0, 0], _pose(60).joints[11, 0, 0], atol=1e-6)  # linear motion
    assert out.flag("gap")[30:45].all() and np.isnan(out.joints[30:45]).all()
    assert not out.flag("filled")[30:45].any()


def test_jumps_are_flagged():
    n = 20
    image = np.tile(np.linspace(0.3, 0.6, 42).reshape(1, 21, 2), (n, 1, 1))
    image[12:] += 0.35  # the tracked body jumps across the image
    jumps = detect_jumps(_pose(n, image=image))
    assert jumps.tolist() == [i == 12 for i in range(n)]


def test_view_from_body_yaw():
    """The view is how far the hips and shoulders turn out of the image plane (camera axes: x right, y away)."""
    n = 5

    def turned(deg):
        j = np.zeros((n, 21, 3))
        c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        for side, sign in (("left", -1), ("right", 1)):
            for part, half, z in (("hip", 0.12, 1.0), ("shoulder", 0.2, 1.5)):
                j[:, J[f"{side}_{part}"]] = (sign * half * c, sign * half * s, z)
        return PoseSequence(
            np.arange(n) / 30, j, np.ones((n, 21)), np.ones(n, bool), np.full((n, 21, 2), 0.5), (640, 480)
        )

    assert [detect_view(turned(d)) for d in (0, -10, 40, -40, 80, 95)] == [
        "front",
        "front",
        "oblique",
        "oblique",
        "side",
        "side",
    ]
    assert body_yaw(turned(30)) == pytest.approx(30)
    assert detect_view(_pose(n)) == "3d"  # no image coordinates: a true 3D pose


def test_mediapipe_finds_the_person_in_a_photograph():
    pytest.importorskip("mediapipe")
    from flexaqa.coach.pose import PoseEstimator

    img = sample_photo()
    with PoseEstimator(tracking=False) as est:
        out = est(img)
    assert out is not None
    j, xy, vis = landmarks_to_flex(*out)
    # a head-and-shoulders portrait: face and shoulders visible, legs out of frame
    assert vis[J["head"]] > 0.9 and vis[J["left_shoulder"]] > 0.9
    assert vis[J["left_ankle"]] < 0.3 and vis[J["right_knee"]] < 0.3
    assert xy[J["head"], 1] < xy[J["spine_shoulder"], 1] < 1.0  # head above the shoulders in the image
    assert j[J["head"], 2] > j[J["spine_shoulder"], 2]  # and above them in the world (+z up)
    # the subject's right shoulder is on the image's left
    assert xy[J["right_shoulder"], 0] < xy[J["left_shoulder"], 0]


def test_mediapipe_tracks_a_panned_clip():
    pytest.importorskip("mediapipe")
    from flexaqa.coach.pose import estimate_pose

    frames = panned_photo_video(6, step=6)
    pose = estimate_pose(((f, i / 30) for i, f in enumerate(frames)))
    assert len(pose) == 6 and pose.present.all()
    head_x = pose.image[:, J["head"], 0]
    assert np.all(np.diff(head_x) < 0)  # the window pans right, so the person drifts left
    assert pose.image_size == (frames.shape[2], frames.shape[1])
    assert not detect_jumps(pose).any()


def test_full_video_path_counts_rendered_squats(tmp_path):
    """flexaqa.synth renders a body MediaPipe detects: the whole coach must find its repetitions."""
    pytest.importorskip("mediapipe")
    from flexaqa.coach.pipeline import coach_video
    from flexaqa.coach.schema import report_problems
    from flexaqa.data.video import write_mp4
    from flexaqa.synth.render import make_view, render
    from flexaqa.synth.simulate import simulate_trial
    from flexaqa.synth.subjects import make_roster

    sim = simulate_trial(make_roster(["N01"], 0)[0], "squat", reps=2, seed=1, fps=30.0, with_signals=False)
    frames = render(sim.joints[::3], make_view("View-5", width=240, height=320, fps=10), load=sim.load_kg)
    res = coach_video(write_mp4(tmp_path / "squat.mp4", frames, 10), "squat")
    r = res.report
    assert report_problems(r) == []
    assert r["pose"]["share_with_person"] > 0.9
    assert len(r["repetitions"]) == 2
    for found, true in zip(r["repetitions"], sim.reps, strict=True):
        turn = next(b for name, a, b in true.phases if name == "eccentric")
        assert found["start"] < turn < found["end"]  # each found repetition holds a true bottom
    assert r["input"]["view"] in ("front", "oblique", "side") and r["coverage"]["share"] > 0.3
