"""`flexaqa coach` on bad input: each case a clear message, a documented exit code and a partial report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flexaqa.cli import main
from flexaqa.coach import PersonLostError, PoseSequence, SeveralPeopleError, report_problems
from flexaqa.coach.pipeline import check_pose
from flexaqa.kg import load_kg


def _run(capsys, *argv):
    code = main(["coach", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _report(out_dir):
    rep = json.loads((out_dir / "report.json").read_text())
    assert report_problems(rep) == []
    return rep


def test_unknown_action_exits_2(tmp_path, capsys):
    code, _, err = _run(capsys, tmp_path / "x.mp4", "--action", "sqat")
    assert code == 2 and "unknown action 'sqat'" in err and "squat" in err


def test_run_that_is_not_a_run_folder_exits_2(tmp_path, capsys):
    code, _, err = _run(capsys, tmp_path / "x.mp4", "--action", "squat", "--run", tmp_path / "runs" / "x")
    assert code == 2 and "not a flexaqa AQA run folder" in err


@pytest.fixture
def no_mediapipe(monkeypatch):
    """Bad video files are caught before MediaPipe loads: these tests need PyAV only."""
    import sys

    pytest.importorskip("av")
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # `import mediapipe` raises ImportError


@pytest.mark.parametrize("content", [b"", b"this is not a video" * 20])
def test_unreadable_video_exits_3(tmp_path, capsys, content, no_mediapipe):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    code, _, err = _run(capsys, bad, "--action", "squat", "--out", tmp_path / "out")
    assert code == 3 and "cannot open as a video" in err
    rep = _report(tmp_path / "out")
    assert rep["problems"][0]["code"] == "bad_video" and "pose" in rep["not_done"]
    assert "Could not finish" in (tmp_path / "out" / "report.html").read_text()


def test_missing_video_exits_3(tmp_path, capsys, no_mediapipe):
    code, _, err = _run(capsys, tmp_path / "nope.mp4", "--action", "squat", "--out", tmp_path / "out")
    assert code == 9 and "no such video file" in err


def test_video_without_a_person_exits_4(tmp_path, capsys):
    pytest.importorskip("mediapipe")
    from flexaqa.data.video import write_mp4

    path = write_mp4(tmp_path / "wall.mp4", np.full((6, 64, 64, 3), 120, np.uint8), 30)
    code, _, err = _run(capsys, path, "--action", "squat", "--out", tmp_path / "out")
    assert code == 4 and "no person found" in err
    assert _report(tmp_path / "out")["pose"]["frames_with_person"] == 0


def test_too_short_for_a_repetition_exits_7(tmp_path, capsys):
    pytest.importorskip("mediapipe")
    from flexaqa.coach.synthetic import panned_photo_video
    from flexaqa.data.video import write_mp4

    path = write_mp4(tmp_path / "pan.mp4", panned_photo_video(8, step=4), 30)
    code, _, err = _run(capsys, path, "--action", "squat", "--out", tmp_path / "out")
    assert code == 7 and "no complete repetition" in err
    rep = _report(tmp_path / "out")
    assert rep["pose"]["frames_with_person"] == 8
    assert rep["repetitions"] == [] and rep["coverage"]["share"] == 0.0


def _pose_with(present, image):
    n = len(present)
    j = np.zeros((n, 21, 3))
    return PoseSequence(np.arange(n) / 30, j, np.ones((n, 21)), present, image=image, image_size=(64, 64))


def test_person_out_of_view_most_of_the_time():
    present = np.zeros(100, bool)
    present[:30] = True
    pose = _pose_with(present, np.full((100, 21, 2), 0.5))
    with pytest.raises(PersonLostError) as info:
        check_pose(pose, load_kg().action("squat"), source="v.mp4")
    assert info.value.code == 6 and "30%" in str(info.value)
    assert report_problems(info.value.report) == []


def test_person_briefly_out_of_view_is_a_warning():
    present = np.ones(100, bool)
    present[40:50] = False
    warnings = check_pose(_pose_with(present, np.full((100, 21, 2), 0.5)), load_kg().action("squat"))
    assert any("out of view in 10%" in w for w in warnings)


def test_several_people():
    n = 40
    img = np.full((n, 21, 2), 0.3)
    img[np.arange(n) % 8 >= 4] += 0.4  # the tracker keeps switching between two bodies
    from flexaqa.coach.pose import clean_pose

    pose = clean_pose(_pose_with(np.ones(n, bool), img))
    with pytest.raises(SeveralPeopleError) as info:
        check_pose(pose, load_kg().action("squat"))
    assert info.value.code == 5 and "several people" in str(info.value)


def test_iter_video_stride_keeps_times(tmp_path):
    pytest.importorskip("av")
    from flexaqa.coach.frames import iter_video
    from flexaqa.data.video import moving_blob_video, write_mp4

    path = write_mp4(tmp_path / "blob.mp4", moving_blob_video(10, 32, 32), 30, lossless=True)
    got = list(iter_video(path, stride=3))
    assert [round(t * 30) for _, t, _ in got] == [0, 3, 6, 9]
    assert [int(f[0, 0, 0]) for f, _, _ in got] == [0, 3, 6, 9]  # the clip encodes its frame index


def test_iter_video_pose_fps_keeps_exact_times(tmp_path):
    pytest.importorskip("av")
    from flexaqa.coach.frames import iter_video
    from flexaqa.data.video import moving_blob_video, write_mp4

    path = write_mp4(tmp_path / "blob60.mp4", moving_blob_video(12, 32, 32), 60, lossless=True)
    got = list(iter_video(path, pose_fps=30))
    assert [round(t * 60, 6) for _, t, _ in got] == [0, 2, 4, 6, 8, 10]  # the frames' own times
    assert [int(f[0, 0, 0]) for f, _, _ in got] == [0, 2, 4, 6, 8, 10]
    assert len(list(iter_video(path, pose_fps=None))) == len(list(iter_video(path, pose_fps=60))) == 12


class _Camera:
    """An OpenCV-like webcam that plays BGR frames of a real person (the panned photograph)."""

    def __init__(self, frames):
        self.frames, self.released = list(frames), False

    def read(self):
        return (True, self.frames.pop(0)[:, :, ::-1].copy()) if self.frames else (False, None)

    def release(self):
        self.released = True


def test_camera_path_with_an_injected_camera(tmp_path, capsys, monkeypatch):
    pytest.importorskip("mediapipe")
    from flexaqa.coach import frames
    from flexaqa.coach.synthetic import panned_photo_video

    cam = _Camera(panned_photo_video(6, step=4))
    opened = []
    monkeypatch.setattr(frames, "open_camera", lambda index: opened.append(index) or cam)
    code, out, _ = _run(capsys, "--camera", 3, "--action", "squat", "--out", tmp_path / "out")
    assert code == 0 and opened == [3] and cam.released
    assert "person found" in out and "frame(s) analysed" in out and "update latency median" in out


def test_camera_without_opencv_names_what_to_install(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` raises ImportError
    code, _, err = _run(capsys, "--camera", 0, "--action", "squat", "--out", tmp_path / "out")
    assert code == 8 and "pip install 'flexaqa[pose]'" in err and "opencv-python" in err


def test_bad_pose_fps_is_a_usage_error(tmp_path, capsys):
    for option, value in (("--pose-fps", "-5"), ("--stride", "0"), ("--max-width", "0"), ("--camera", "-1")):
        with pytest.raises(SystemExit) as info:
            _run(capsys, tmp_path / "x.mp4", "--action", "squat", option, value)
        assert info.value.code == 2 and f"argument {option}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pose", "kp.npy"], "go together"),  # --pose without --pose-format
        (["x.mp4", "--pose", "kp.npy", "--pose-format", "h36m"], "not several"),
        ([], "give a VIDEO file or --camera"),
        (["x.mp4", "--run", "not-a-run"], "not a flexaqa AQA run folder"),
    ],
)
def test_a_refused_coach_leaves_the_report_folder_as_it_was(tmp_path, capsys, monkeypatch, argv, message):
    """Refused before its lock: a finished report folder stays finished and untouched, one that an interrupted
    run left incomplete stays incomplete (an exit code inside the lock used to clear its marker)."""
    from flexaqa._io import WRITER_NAME, output_dir, require_complete
    from flexaqa.errors import IncompleteError

    monkeypatch.chdir(tmp_path)
    done, killed = tmp_path / "done", tmp_path / "killed"
    with output_dir(done, mode="overwrite"):
        (done / "report.json").write_text("{}")
    with pytest.raises(KeyboardInterrupt), output_dir(killed, mode="overwrite"):
        (killed / "report.json").write_text("{half")
        raise KeyboardInterrupt
    stamp = (done / "report.json").stat().st_mtime_ns
    for out in (done, killed):
        code, _, err = _run(capsys, *argv, "--action", "squat", "--out", out)
        assert code == 2 and message in err, err
    assert not (done / WRITER_NAME).exists() and (done / "report.json").stat().st_mtime_ns == stamp
    require_complete(done)
    with pytest.raises(IncompleteError):
        require_complete(killed)
