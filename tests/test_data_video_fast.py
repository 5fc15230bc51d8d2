"""The fast decoding paths (issue #14 part 3): kept video handles, decoding on instead of seeking, views and JPEG
files in threads, the simplejpeg/OpenCV JPEG decoders against PIL."""

import importlib.util
import pickle
import threading

import numpy as np
import pytest

pytest.importorskip("av")

from flexaqa.data import CorruptSampleError, DataError
from flexaqa.data._threads import thread_map
from flexaqa.data.base import open_dataset
from flexaqa.data.release import jpeg_decoder, read_jpeg_frames
from flexaqa.data.video import EncodedVideo, VideoHandles, moving_blob_video, read_frames, write_mp4
from flexaqa.testing import decode_frame_index, make_tiny_dataset

HAVE_SIMPLEJPEG = importlib.util.find_spec("simplejpeg") is not None
HAVE_CV2 = importlib.util.find_spec("cv2") is not None


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """300 frames at 120 fps, lossless, a keyframe every 30 frames; frame i shows i % 256 top left."""
    frames = moving_blob_video(300, 32, 48)
    path = write_mp4(tmp_path_factory.mktemp("v") / "clip.mp4", frames, 120.0, lossless=True, gop=30)
    return path, frames


@pytest.fixture(scope="module")
def lossy(tmp_path_factory):
    frames = moving_blob_video(300, 64, 96, seed=3)
    return write_mp4(tmp_path_factory.mktemp("v") / "lossy.mp4", frames, 120.0, crf=23, gop=30)


READS = [[40, 45, 50], [51, 52, 58], [59, 60], [100, 101], [100, 101], [5, 3], [299], [31, 29, 30], [35, 60]]


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_one_handle_reading_on_gives_the_frames_fresh_handles_give(clip, lossy, threads):
    path, frames = clip
    with EncodedVideo(path, threads=threads) as video:
        for idx in READS:
            np.testing.assert_array_equal(video.get_frames(idx), frames[idx])
    with EncodedVideo(lossy, threads=threads) as video:
        for idx in READS:
            np.testing.assert_array_equal(
                video.get_frames(idx, size=(24, 36)), read_frames(lossy, idx, size=(24, 36))
            )


def test_a_read_right_after_the_last_decodes_on_without_seeking(clip):
    path, frames = clip
    with EncodedVideo(path) as video:
        video.get_frames([40, 45])
        decoder = video._frames
        np.testing.assert_array_equal(video.get_frames([45, 46, 50]), frames[[45, 46, 50]])  # 45 again: held
        assert video._frames is decoder  # went on from frame 45
        video.get_frames([70])  # a keyframe (60) lies between: seeking there decodes less
        assert video._frames is not decoder
        decoder = video._frames
        video.get_frames([65])  # behind the last frame read: seeks back
        assert video._frames is not decoder


def test_time_windows_read_on_keep_every_frame(clip):
    path, frames = clip
    with EncodedVideo(path) as video:
        a = video.get_clip(0.5, 0.6)  # frames 60..71; frame 72 was decoded to find the end
        b = video.get_clip(0.6, 0.7)  # must still start at frame 72
        np.testing.assert_array_equal(np.concatenate([a.frames, b.frames]), frames[60:84])


def test_handles_are_kept_reused_evicted_and_reopened(tmp_path):
    paths = [
        write_mp4(tmp_path / f"{k}.mp4", moving_blob_video(40, 16, 16, seed=k), 30.0, lossless=True)
        for k in range(3)
    ]
    handles = VideoHandles(2)
    with handles.video(paths[0]) as first:
        first.get_frames([3])
    with handles.video(paths[0]) as again:
        assert again is first
        with handles.video(paths[0]) as other:  # the same file in use: a second handle
            assert other is not first
    for p in paths[1:]:
        with handles.video(p) as v:
            v.get_frames([0])
    assert len(handles) == 2  # the least recently used (paths[0]) was closed
    with handles.video(paths[0]) as v:
        assert v is not first
    new = moving_blob_video(40, 16, 16, seed=9)
    write_mp4(paths[2], new, 30.0, lossless=True)  # rewritten in place: the kept handle is stale
    with handles.video(paths[2]) as v:
        np.testing.assert_array_equal(v.get_frames([5]), new[[5]])
    copy = pickle.loads(pickle.dumps(handles))
    assert (copy.size, copy.threads, len(copy)) == (2, 1, 0)
    handles._pid = -1  # as in a forked child: the parent's handles are never read
    assert len(handles) == 0
    with handles.video(paths[1]) as v:
        assert v.get_frames([1]).shape == (1, 16, 16, 3)
    handles.close()
    assert len(handles) == 0


def test_a_handle_that_failed_is_not_kept(tmp_path, clip):
    path, _ = clip
    bad = tmp_path / "trunc.mp4"
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    handles = VideoHandles(4)
    with pytest.raises(CorruptSampleError) as err, handles.video(bad) as v:
        v.get_frames([0, 299])
    assert str(bad) in str(err.value)
    assert len(handles) == 0
    with pytest.raises(CorruptSampleError, match="no such file"), handles.video(tmp_path / "gone.mp4"):
        pass


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    return make_tiny_dataset(
        tmp_path_factory.mktemp("nat"), subjects=("P01", "N01"), actions=("squat",), reps=3
    )


def test_native_views_in_threads_with_kept_handles_give_the_frames_of_plain_reads(native):
    concurrent = open_dataset(native.root)
    serial = open_dataset(native.root)
    serial.decode_threads, serial.open_videos = 1, 0
    order = [0, 1, 2, 1, 5, 3, 0, 4]
    for i in order:
        a = concurrent.load(i, modalities=("video",), num_frames=20, size=(16, 16))
        b = serial.load(i, modalities=("video",), num_frames=20, size=(16, 16))
        assert set(a.video) == {"View-1", "View-5"}
        for v in a.video:
            np.testing.assert_array_equal(a.video[v], b.video[v])
            np.testing.assert_array_equal(a.frame_times[v], b.frame_times[v])
            idx = np.round(b.frame_times[v] * concurrent.views(b.record.trial)[v].fps).astype(int)
            path = concurrent.video_path(b.record.trial, v)
            np.testing.assert_array_equal(a.video[v], read_frames(path, idx, size=(16, 16)))
    assert len(concurrent._videos) == 4  # 2 trials x 2 views, kept open
    assert len(serial._videos) == 0
    restored = pickle.loads(pickle.dumps(concurrent))  # a DataLoader worker started by spawn
    assert len(restored._videos) == 0
    assert decode_frame_index(restored.load(0, modalities=("video",), num_frames=5).video["View-1"]).size == 5


def test_native_truncated_video_names_the_file(tmp_path):
    tiny = make_tiny_dataset(tmp_path / "ds", subjects=("P01",), actions=("squat",), reps=2)
    ds = open_dataset(tiny.root)
    rec = ds.records[-1]
    path = ds.video_path(rec.trial, "View-5")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(CorruptSampleError) as err:
        ds.load(rec, modalities=("video",))
    assert str(path) in str(err.value)


def test_thread_map_keeps_order_raises_the_first_error_and_runs_nested_calls_inline():
    assert thread_map(lambda x: x * x, range(10), 3) == [x * x for x in range(10)]
    names = thread_map(lambda _: threading.current_thread().name, range(4), 2)
    assert any(n.startswith("flexaqa-decode") for n in names)
    inner = thread_map(
        lambda _: thread_map(lambda _: threading.current_thread().name, range(3), 2), range(2), 2
    )
    assert all(len(set(names)) == 1 for names in inner)  # no waiting on the pool from inside the pool

    def boom(x):
        if x in (2, 5):
            raise ValueError(f"item {x}")
        return x

    with pytest.raises(ValueError, match="item 2"):
        thread_map(boom, range(8), 2)


# ------------------------------------------------------------------------------------------------------ JPEG


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    """JPEG frames (q 90) of a smooth moving scene, 160x96 like a small camera image."""
    from PIL import Image

    root = tmp_path_factory.mktemp("jpg")
    frames = moving_blob_video(6, 96, 160, seed=1)
    yy, xx = np.mgrid[0:96, 0:160]
    paths = []
    for k, f in enumerate(frames):
        img = f.astype(np.int16)
        img[..., 2] += (40 * np.sin(xx / 9.0 + k) * np.cos(yy / 7.0)).astype(np.int16)
        path = root / f"img_{k + 1:05d}.JPG"
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


DECODERS = [
    "pil",
    pytest.param(
        "simplejpeg", marks=pytest.mark.skipif(not HAVE_SIMPLEJPEG, reason="simplejpeg not installed")
    ),
    pytest.param("opencv", marks=pytest.mark.skipif(not HAVE_CV2, reason="OpenCV not installed")),
]


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("size", [None, (48, 48), 24, (20, 40)])
def test_jpeg_decoders_agree_with_pil(jpegs, decoder, size):
    ref = read_jpeg_frames(jpegs, size, decoder="pil", threads=1)
    got = read_jpeg_frames(jpegs, size, decoder=decoder, threads=3)
    assert got.shape == ref.shape and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - ref)
    # full size: the same libjpeg-turbo; scaled: DCT scaling then bilinear vs PIL's bilinear from full size
    assert diff.mean() < (1.0 if size is None else 4.0), diff.mean()
    if decoder == "pil":
        np.testing.assert_array_equal(got, ref)  # threads change nothing


@pytest.mark.parametrize("decoder", DECODERS)
def test_jpeg_truncated_or_garbage_names_the_file(tmp_path, jpegs, decoder):
    trunc = tmp_path / "img_00002.JPG"
    trunc.write_bytes(jpegs[0].read_bytes()[:700])
    junk = tmp_path / "img_00003.JPG"
    junk.write_bytes(b"not a jpeg" * 50)
    for bad in (trunc, junk, tmp_path / "img_00009.JPG"):
        with pytest.raises(CorruptSampleError) as err:
            read_jpeg_frames([jpegs[1], bad, jpegs[2]], (24, 24), decoder=decoder, threads=2)
        assert str(bad) in str(err.value)


def test_jpeg_decoder_names(monkeypatch):
    assert jpeg_decoder("auto") == ("simplejpeg" if HAVE_SIMPLEJPEG else "pil")
    with pytest.raises(DataError, match="unknown JPEG decoder 'turbo'"):
        jpeg_decoder("turbo")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert jpeg_decoder("auto") == "pil"


def test_release_reader_uses_the_configured_decoder(tmp_path):
    tiny = make_tiny_dataset(
        tmp_path / "rel", layout="release", subjects=("P01",), actions=("squat",), reps=1
    )
    fast, pil = open_dataset(tiny.root), open_dataset(tiny.root)
    pil.jpeg_decoder, pil.read_threads = "pil", 1
    a = fast.load(0, modalities=("video",), num_frames=30, size=(16, 16))
    b = pil.load(0, modalities=("video",), num_frames=30, size=(16, 16))
    for v in b.video:
        assert a.video[v].shape == b.video[v].shape == (30, 16, 16, 3)
        assert np.abs(a.video[v].astype(int) - b.video[v]).mean() < 6
    pil.jpeg_decoder = "nope"
    with pytest.raises(DataError, match="unknown JPEG decoder"):
        pil.load(0, modalities=("video",))


def test_after_a_seek_the_frames_before_its_keyframe_are_still_read(clip):
    path, frames = clip
    with EncodedVideo(path) as video:
        assert (
            video.get_clip(1.0, 1.0).frames.shape[0] == 0
        )  # seeks to the keyframe at 1.0 s, reads one frame
        np.testing.assert_array_equal(video.get_clip(0.9, 1.01).frames, frames[108:122])
        video.get_frames([150])  # seeks to the keyframe at frame 150
        np.testing.assert_array_equal(video.get_frames([149, 150]), frames[[149, 150]])


def test_dataloader_workers_read_through_their_own_handles(native):
    torch = pytest.importorskip("torch")
    from flexaqa.data.datasets import FlexSampleDataset

    src = open_dataset(native.root)
    ds = FlexSampleDataset(src, modalities=("video",), frames=12, size=16, video_dtype="uint8")
    want = [ds[i]["video"] for i in range(len(ds))]  # the parent keeps handles open
    assert len(src._videos) > 0
    ctx = torch.multiprocessing.get_context("fork")
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=ctx)
    got = [item["video"] for item in loader]
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b)
