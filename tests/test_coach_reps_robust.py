"""Repetitions that a real set produces: set-up and re-racking around it, a pause, partial repetitions, a body
half out of frame, 10 fps, a shaking hand-held camera, a slow zoom and a passer-by. Each case is made from the
simulator's set filmed through a phone camera into OpenPose keypoints (with OpenPose-like noise), read by the
coach's keypoint path and segmented by :mod:`flexaqa.signal`; the true repetitions come from the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.coach import synthetic_set
from flexaqa.coach.evaluate import match_reps
from flexaqa.coach.formats import synthetic as fx
from flexaqa.coach.keypoints import coach_keypoints

LAYOUT = "openpose_body25"


def _run(tmp_path, s, *, fps: float | None = None, others=(), **film):
    """Film ``s`` (and ``others``) into OpenPose files, run the coach; ``(report, true reps)``."""
    fps_in = s.pose.fps
    x = s.pose.joints
    step = 1
    if fps is not None:
        step = round(fps_in / fps)
        x = x[::step]
    bodies = [x, *[o[::step] for o in others]]
    people: list[list] = [[] for _ in range(len(x))]
    for b, body in enumerate(bodies):
        px, conf = fx.film(body, LAYOUT, seed=b, fps=fps_in / step, **film)
        for t in range(len(x)):
            if np.isfinite(px[t]).any():
                people[t].append((px[t], conf[t]))
    path = fx.write_openpose(tmp_path / "op", people)
    r = coach_keypoints(path, "openpose", s.action, fps=fps_in / step).report
    return r, [(q.start, q.end) for q in s.reps]


def _assert_counted(r, true):
    """Exactly the true repetitions: as many, each matched one-to-one with overlap (IoU) at least 0.5."""
    found = [(q["start"], q["end"]) for q in r["repetitions"]]
    assert len(found) == len(true), (found, true)
    assert len(match_reps(true, found, min_iou=0.5)) == len(true), (found, true)


@pytest.fixture(scope="module")
def curl():
    return synthetic_set("barbell-biceps-curl", n_reps=4, seed=3)


@pytest.fixture(scope="module")
def squat():
    return synthetic_set("squat", n_reps=4, seed=3)


@pytest.mark.parametrize(("name", "bend"), [("curl", (75.0, 60.0)), ("squat", (15.0, 25.0))])
def test_walking_in_picking_up_and_reracking_are_not_repetitions(name, bend, request, tmp_path):
    """The curl's bar is picked up from the floor (a deep bend), the squat's taken from a rack (a small dip)."""
    s = fx.with_setup(request.getfixturevalue(name), hinge=bend[0], knees=bend[1])
    r, true = _run(tmp_path, s)
    _assert_counted(r, true)


def test_a_pause_at_the_top_and_between_repetitions(curl, tmp_path):
    s = fx.with_pause(fx.with_pause(curl, 1, 2.0, at="turn"), 2, 3.0, at="end")
    r, true = _run(tmp_path, s)
    _assert_counted(r, true)


def test_a_partial_repetition_is_reported_as_partial_and_scored(squat, tmp_path):
    s = fx.with_partial(squat, 2, 0.45)
    r, true = _run(tmp_path, s)
    _assert_counted(r, true)
    reps = r["repetitions"]
    assert 0.3 < reps[2]["partial"] < 0.6 and all("partial" not in reps[i] for i in (0, 1, 3))
    assert reps[2]["score"] is not None and any("partial repetition" in w for w in r["warnings"])


@pytest.mark.parametrize("crop", [(0.0, 0.78), (0.28, 1.0)], ids=["feet cut off", "head cut off"])
def test_head_or_feet_out_of_the_picture(crop, squat, tmp_path):
    r, true = _run(tmp_path, squat, crop=crop)
    _assert_counted(r, true)
    vis = r["pose"]["joint_visibility"]
    hidden = ("left_ankle", "right_toe") if crop[1] < 1 else ("head",)
    assert all(vis[j] < 0.5 for j in hidden)  # what is out of the picture (most of the time) is not seen ...
    reasons = " ".join(n["reason"] for n in r["coverage"]["not_assessed"])
    assert "joints not visible" in reasons  # ... and the rules reading it say so


@pytest.mark.parametrize("name", ["curl", "squat"])
def test_ten_frames_per_second(name, request, tmp_path):
    r, true = _run(tmp_path, request.getfixturevalue(name), fps=10.0)
    assert r["input"]["fps"] == pytest.approx(10.0)
    _assert_counted(r, true)


@pytest.mark.parametrize("name", ["curl", "squat"])
def test_a_shaking_hand_held_camera(name, request, tmp_path):
    r, true = _run(tmp_path, request.getfixturevalue(name), shake=15.0)
    _assert_counted(r, true)


def test_a_slow_zoom(squat, tmp_path):
    r, true = _run(tmp_path, squat, zoom=0.3)
    _assert_counted(r, true)


def test_a_second_person_walking_through(curl, tmp_path):
    other = fx.walker(len(curl.pose), curl.pose.fps, start=3.0)
    r, true = _run(tmp_path, curl, others=[other])
    _assert_counted(r, true)
    assert any("followed the lifter" in w for w in r["warnings"])
