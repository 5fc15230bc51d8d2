import numpy as np
import pytest

pytest.importorskip("av")

from flexaqa.data import CorruptSampleError, DataError
from flexaqa.data.video import moving_blob_video, probe_video, read_frames, write_mp4


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
    with pytest.raises(CorruptSampleError, match="missing"):
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
