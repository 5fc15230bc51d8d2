"""Coach frame sources and the streaming coach: read-ahead, analysis frame rate, camera path, offline parity."""

from __future__ import annotations

import io
import itertools
import threading
import time

import numpy as np
import pytest

from flexaqa.coach import Coach, analyse_pose
from flexaqa.coach.frames import capture_frames, latest_only, prefetch
from flexaqa.coach.pose import clean_pose, estimate_pose
from flexaqa.coach.stream import run_camera
from flexaqa.coach.synthetic import synthetic_set
from flexaqa.skeleton import MEDIAPIPE33_TO_FLEX21, J
from flexaqa.timebase import rate_filter


def test_prefetch_keeps_order_and_reports_waiting():
    stats: dict = {}
    assert list(prefetch(iter(range(50)), 4, stats=stats)) == list(range(50))
    assert stats["wait_s"] >= 0.0
    assert list(prefetch(range(5), 0)) == list(range(5))  # in line


def test_prefetch_raises_the_producers_error_in_order():
    def items():
        yield from (1, 2)
        raise ValueError("broken frame")

    got = []
    with pytest.raises(ValueError, match="broken frame"):
        for x in prefetch(items(), 2):
            got.append(x)
    assert got == [1, 2]


def test_prefetch_stops_and_closes_the_producer_when_the_consumer_leaves():
    closed = threading.Event()

    def items():
        try:
            yield from range(10**6)
        finally:
            closed.set()

    gen = prefetch(items(), 2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    assert closed.wait(2.0)
    assert not any(t.name == "flexaqa-frames" for t in threading.enumerate())


@pytest.mark.parametrize(
    ("rate", "pose_fps", "jitter", "expected"),
    [
        (60.0, 30.0, 0.0, 30),
        (60.0, 30.0, 0.003, 30),
        (30.0, 30.0, 0.0, 30),
        (50.0, 30.0, 0.0, 30),
        (120, 30, 0, 30),
    ],
)
def test_rate_filter_keeps_one_frame_per_slot(rate, pose_fps, jitter, expected):
    t = np.arange(int(rate)) / rate + np.random.default_rng(0).uniform(-jitter, jitter, int(rate))
    keep = rate_filter(pose_fps, rate)
    kept = t[[keep(x) for x in t]]
    assert len(kept) == expected
    assert np.all(np.diff(kept) >= 1 / pose_fps - 1 / rate - 2 * jitter - 1e-9)  # never two in one slot


def test_rate_filter_off_keeps_everything():
    keep = rate_filter(None)
    assert all(keep(t) for t in np.arange(10) / 60)
    with pytest.raises(ValueError, match="pose_fps"):
        rate_filter(-1.0, 30.0)


@pytest.mark.parametrize(
    ("action", "slot"), [("barbell-biceps-curl", "AK09:ET018"), ("deadlift", "AK42:ET018")]
)
def test_tempo_rules_hold_at_the_analysis_frame_rate(action, slot):
    """A 60 fps video analysed at 30 fps: the same repetitions and the same errors, tempo ones included."""
    s = synthetic_set(action, n_reps=3, errors=[(), (slot,), ()], fps=60.0)
    keep = rate_filter(30.0, 60.0)
    idx = [i for i, t in enumerate(s.pose.t) if keep(t)]
    assert len(idx) == (len(s.pose) + 1) // 2
    p = s.pose
    half = type(p)(p.t[idx], p.joints[idx], p.visibility[idx], p.present[idx], source="30fps")
    full = analyse_pose(clean_pose(p), action, view="3d")
    sub = analyse_pose(clean_pose(half), action, view="3d")
    assert [r["detected"] for r in sub["repetitions"]] == [r["detected"] for r in full["repetitions"]]
    assert slot in sub["repetitions"][1]["detected"] and slot not in sub["repetitions"][0]["detected"]
    for a, b in zip(sub["repetitions"], full["repetitions"], strict=True):
        assert abs(a["start"] - b["start"]) <= 1 / 30 + 1e-6 and abs(a["end"] - b["end"]) <= 1 / 30 + 1e-6


# --- a fake camera and a fake pose estimator: the camera path without hardware or MediaPipe ---------------


def _index_frame(i: int) -> np.ndarray:
    """A tiny BGR frame that carries its index (survives the BGR -> RGB flip)."""
    f = np.zeros((8, 12, 3), np.uint8)  # not square: image and world landmarks differ in scale per axis
    f[0, 0] = (i % 256, i // 256, i % 256)
    f[1, 1] = (255, 0, 0)  # pure blue in BGR
    return f


def _frame_index(rgb: np.ndarray) -> int:
    return int(rgb[0, 0, 0]) + 256 * int(rgb[0, 0, 1])


class FakeCapture:
    """OpenCV-like: ``read() -> (ok, BGR frame)`` for ``n`` frames, then ``(False, None)``."""

    def __init__(self, n: int, delay: float = 0.0):
        self.n, self.i, self.delay, self.released = n, 0, delay, False

    def read(self):
        if self.i >= self.n:
            return False, None
        time.sleep(self.delay)
        self.i += 1
        return True, _index_frame(self.i - 1)

    def release(self):
        self.released = True


_FLEX_TO_MP33 = np.linalg.pinv(MEDIAPIPE33_TO_FLEX21)  # (33, 21): mediapipe_to_flex21 undoes it


class FakeEstimator:
    """Stands in for MediaPipe: the frame's index -> that frame of a known 3D pose, as MediaPipe would report it
    (world landmarks centred on the hips, y down, z away from the camera; image landmarks of a front view)."""

    def __init__(self, joints: np.ndarray):
        self.joints, self.seen = joints, []

    def __call__(self, rgb):
        i = _frame_index(rgb)
        self.seen.append(rgb)
        j = self.joints[i]  # (21, 3) +z up
        hip = 0.5 * (j[J["left_hip"]] + j[J["right_hip"]])
        w = _FLEX_TO_MP33 @ (j - hip)  # (33, 3) flex axes
        world = np.stack([w[:, 0], -w[:, 2], w[:, 1]], -1)  # flex (x, y, z) -> MediaPipe (x, -z, y)
        img = np.stack([(w[:, 0] + 1.0) / 3.0, (1.5 - w[:, 2]) / 3.0, 0 * w[:, 0]], -1)
        return world, img, np.full(33, 0.9)

    def close(self):
        pass


def test_capture_frames_flips_bgr_and_releases():
    cap = FakeCapture(5)
    clock = iter(np.arange(10) * 0.04 + 100.0)
    got = list(capture_frames(cap, max_frames=3, clock=lambda: next(clock)))
    assert [_frame_index(f) for f, _ in got] == [0, 1, 2]
    assert np.allclose([t for _, t in got], [0.0, 0.04, 0.08])
    assert tuple(got[0][0][1, 1]) == (0, 0, 255)  # blue is last in RGB
    assert cap.released


def test_latest_only_hands_a_slow_consumer_the_newest_frame():
    stats: dict = {}
    got = []
    for x in latest_only(capture_frames(FakeCapture(30, delay=0.005)), stats=stats):
        got.append(_frame_index(x[0]))
        time.sleep(0.03)  # the consumer is 6x slower than the camera
    assert got == sorted(got) and got[-1] == 29  # in order, and the last frame is never lost
    assert stats["read"] == 30 and stats["dropped"] == 30 - len(got) > 0


def test_run_camera_with_an_injected_capture():
    s = synthetic_set("squat", n_reps=2, errors=[(), ("AK44:ET056",)])
    cap, est, out = FakeCapture(len(s.pose)), FakeEstimator(s.pose.joints), io.StringIO()
    clock = itertools.count(0.0, 1 / 30).__next__  # a camera at 30 fps
    summary = run_camera(
        0, "squat", capture=cap, estimator=est, view="3d", drop_late=False, clock=clock, out=out
    )
    assert cap.released and summary["frames"] == len(s.pose) and summary["dropped"] == 0
    assert [_frame_index(f) for f in est.seen] == list(range(len(s.pose)))
    assert tuple(est.seen[0][1, 1]) == (0, 0, 255)  # the coach got RGB
    reps = [e for e in summary["events"] if e.kind == "rep"]
    assert [e.rep for e in reps] == [0, 1] and "AK44:ET056" in reps[1].data["errors"]
    text = out.getvalue()
    assert "person found" in text and "rep 2:" in text and "update latency median" in text
    assert "the whole set:" in text and summary["report"]["set"]["n_reps"] == 2
    assert summary["latency_ms"]["p95"] >= summary["latency_ms"]["median"] > 0


def test_streaming_equals_offline_on_the_same_frames():
    """The same frames through Coach.update and through the file pipeline's estimate_pose + clean_pose +
    analyse_pose: the same grounded pose, the same repetitions, errors and scores."""
    s = synthetic_set("squat", n_reps=3, errors=[(), ("AK44:ET056",), ("AK56:ET003",)], noise=0.004, seed=3)
    frames = [(_index_frame(i)[:, :, ::-1], t) for i, t in enumerate(s.pose.t)]
    raw = estimate_pose(frames, estimator=FakeEstimator(s.pose.joints))
    offline = analyse_pose(clean_pose(raw), "squat", segmenter=s.segmenter, view="3d")
    coach = Coach("squat", view="3d", segmenter=s.segmenter, estimator=FakeEstimator(s.pose.joints))
    for f, t in frames:
        coach.update(f, t)
    coach.flush()
    assert np.allclose(coach.pose().joints, clean_pose(raw).joints, equal_nan=True)
    assert np.nanmin(coach.pose().joints[..., 2]) == pytest.approx(0.0, abs=0.02)  # on the floor
    keys = ("start", "end", "detected", "score", "score_range")
    assert [{k: r[k] for k in keys} for r in coach.reports] == [
        {k: r[k] for k in keys} for r in offline["repetitions"]
    ]
    assert coach.reports[1]["detected"] == ["AK44:ET056"]


def test_streaming_with_the_signal_segmenter_matches_offline():
    """Default segmentation of the growing buffer: the same number of repetitions as the whole video, each
    reported once, after it ended, with the same errors; the final report is exactly the offline one."""
    s = synthetic_set("squat", n_reps=4, errors=[(), ("AK44:ET056",), (), ()], noise=0.004, seed=1)
    offline = analyse_pose(clean_pose(s.pose), "squat", view="3d")["repetitions"]
    coach = Coach("squat", view="3d")
    reported_at = []
    for i, t in enumerate(s.pose.t):
        reported_at += [t for e in coach.update_pose(s.pose.joints[i], None, t) if e.kind == "rep"]
    coach.flush()
    assert len(coach.reports) == len(offline) == 4
    for on, off in zip(coach.reports, offline, strict=True):
        assert abs(on["start"] - off["start"]) <= 0.05 and abs(on["end"] - off["end"]) <= 0.05
        assert on["detected"] == off["detected"]
    assert all(at >= r["end"] for at, r in zip(reported_at, coach.reports, strict=False))
    assert coach.report()["repetitions"] == offline  # the whole set at once: exactly the file pipeline's


def test_streaming_update_on_real_mediapipe_matches_the_file_pipeline(tmp_path):
    pytest.importorskip("mediapipe")
    from flexaqa.coach.pipeline import video_pose
    from flexaqa.coach.synthetic import panned_photo_video
    from flexaqa.data.video import write_mp4

    path = write_mp4(tmp_path / "pan.mp4", panned_photo_video(8, step=4), 30, lossless=True)
    raw = video_pose(path, max_width=None)
    coach = Coach("squat")
    from flexaqa.coach.frames import iter_video

    for f, t, _ in iter_video(path, max_width=None):
        coach.update(f, t)
    coach.close()
    assert raw.present.all() and np.allclose(coach.pose().joints, clean_pose(raw).joints, atol=1e-6)
