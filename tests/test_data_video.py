import hashlib
import os

import numpy as np
import pytest

pytest.importorskip("av")

from flexaqa.data import CorruptSampleError, DataError
from flexaqa.data.video import EncodedVideo, moving_blob_video, probe_video, read_frames, write_mp4


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames = moving_blob_video(300, 32, 48)
    path = write_mp4(tmp_path_factory.mktemp("v") / "clip.mp4", frames, 120.0, lossless=True)
    return path, frames


def test_lossless_roundtrip_is_exact(clip):
    path, frames = clip
    info = probe_video(path)
    assert (info.n_frames, info.fps, info.width, info.height) == (300, 120.0, 48, 32)
    np.testing.assert_array_equal(read_frames(path), frames)


def test_selected_frames_any_order_with_seek(clip):
    path, frames = clip
    idx = [250, 3, 251, 250, 299]
    got = read_frames(path, idx)
    np.testing.assert_array_equal(got, frames[idx])
    assert got[:, 0, 0, 0].tolist() == [i % 256 for i in idx]


def test_resize_short_side_and_exact(clip):
    path, _ = clip
    assert read_frames(path, [0, 1], size=16).shape == (2, 16, 24, 3)
    assert read_frames(path, [0], size=(20, 10)).shape == (1, 20, 10, 3)


def test_lossy_yuv_is_close(tmp_path):
    frames = moving_blob_video(30, 32, 32)
    path = write_mp4(tmp_path / "lossy.mp4", frames, 60.0, crf=10)
    got = read_frames(path, [10, 20])
    assert np.abs(got.astype(int) - frames[[10, 20]].astype(int)).mean() < 8


def test_bad_input_errors(tmp_path, clip):
    with pytest.raises(DataError, match="even width and height"):
        write_mp4(tmp_path / "odd.mp4", np.zeros((2, 31, 32, 3), np.uint8), 30)
    with pytest.raises(DataError, match="uint8"):
        write_mp4(tmp_path / "f.mp4", np.zeros((2, 32, 32, 3), np.float32), 30)
    with pytest.raises(CorruptSampleError, match="no such file"):
        read_frames(tmp_path / "none.mp4", [0])
    path, _ = clip
    with pytest.raises(CorruptSampleError, match="frame 400 is missing"):
        read_frames(path, [1, 400])


def test_truncated_file_names_the_file(tmp_path, clip):
    path, _ = clip
    data = path.read_bytes()
    bad = tmp_path / "trunc.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptSampleError) as err:
        read_frames(bad, [0, 299])
    assert str(bad) in str(err.value)


def test_encoded_video_window_by_time_seeks_and_keeps_times(clip):
    path, frames = clip  # 300 frames at 120 fps, frame i shows i % 256 in its top-left pixel
    with EncodedVideo(path) as video:
        assert video.duration == 2.5
        late = video.get_clip(2.1, 2.2)  # past SEEK_AFTER_S: decoding starts at a keyframe, not frame 0
        np.testing.assert_array_equal(late.frames, frames[252:264])
        np.testing.assert_allclose(late.times, np.arange(252, 264) / 120)
        early = video.get_clip(0.0, 0.05, fps=60)  # one frame in two, with the frames' own times
        assert early.frames[:, 0, 0, 0].tolist() == [0, 2, 4]
        np.testing.assert_allclose(early.times, [0, 2 / 120, 4 / 120])
        # the same open file read again from the start (a second pass seeks back)
        strided = [int(f[0, 0, 0]) for f, _ in video.iter_frames(stride=100)]
        assert strided == [0, 100, 200 % 256]
        assert video.get_clip(0.0, 0.1, max_frames=3).frames.shape == (3, 32, 48, 3)
        assert video.get_clip(1.0, 1.0).frames.shape == (0, 32, 48, 3)
        assert video.get_clip(0, 0.01, max_width=24).frames.shape == (2, 16, 24, 3)


def test_encoded_video_errors_name_the_file_with_the_callers_error(tmp_path):
    class Mine(Exception):
        pass

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 30)
    for path, words in ((tmp_path / "gone.mp4", "no such file"), (bad, "cannot open as a video")):
        with pytest.raises(Mine, match=words) as err:
            EncodedVideo(path, error=lambda p, m: Mine(f"{p}: {m}"))
        assert str(path) in str(err.value)


def test_write_mp4_streams_an_iterable_of_frames(tmp_path, clip):
    _, frames = clip
    path = write_mp4(tmp_path / "it.mp4", (f for f in frames[:20]), 30.0, lossless=True)
    np.testing.assert_array_equal(read_frames(path), frames[:20])
    assert probe_video(path).fps == 30.0
    with pytest.raises(DataError, match="every frame must be 48x32"):
        write_mp4(tmp_path / "mixed.mp4", iter([frames[0], frames[1, :16]]), 30.0, lossless=True)
    with pytest.raises(DataError, match="no frames"):
        write_mp4(tmp_path / "none.mp4", iter([]), 30.0)
    assert not (tmp_path / "mixed.mp4").exists()


def _noisy_clip(n: int, h: int, w: int) -> np.ndarray:
    """A moving square over noise: content x264's rate control has to work at (a flat clip encodes trivially)."""
    rng = np.random.default_rng(3)
    frames = moving_blob_video(n, h, w)
    return np.clip(frames.astype(int) + rng.integers(-40, 40, frames.shape), 0, 255).astype(np.uint8)


def test_write_mp4_gives_the_same_bytes_every_time_in_one_process(tmp_path):
    """x264's mb-tree made about 1 small encode in 10 differ, by what the process had allocated before: a dataset
    written by killed-and-restarted workers did not match the one-process run byte for byte."""
    frames = _noisy_clip(15, 32, 32)
    rng, junk, seen = np.random.default_rng(0), [], set()
    for i in range(60):
        junk.append(
            np.full(int(rng.integers(1, 200_000)), 255, np.uint8)
        )  # what earlier work left in the heap
        if rng.random() < 0.3:
            junk.pop(0)
        seen.add(
            hashlib.sha256(write_mp4(tmp_path / f"{i}.mp4", frames, 3.0, gop=3).read_bytes()).hexdigest()
        )
    assert len(seen) == 1


def _encode_on_one_cpu(path: str, frames: np.ndarray) -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    write_mp4(path, frames, 10.0)


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs and Linux"
)
def test_write_mp4_bytes_do_not_depend_on_the_cpu_count(tmp_path):
    """x264 picks 1.5 threads per CPU by default, and its bitstream changes with the thread count."""
    import multiprocessing as mp

    frames = _noisy_clip(20, 144, 176)
    here = write_mp4(tmp_path / "here.mp4", frames, 10.0).read_bytes()
    p = mp.get_context("spawn").Process(target=_encode_on_one_cpu, args=(str(tmp_path / "one.mp4"), frames))
    p.start()
    p.join(120)
    assert p.exitcode == 0
    assert (tmp_path / "one.mp4").read_bytes() == here
