"""The one video reader and writer of flexaqa: H.264 mp4 with PyAV (extra ``video``).

:class:`EncodedVideo` (after pytorchvideo's class of that name) is an open video file: its :attr:`~EncodedVideo.info`
(frame count, rate, size), the frames between two times at a given size and rate (:meth:`~EncodedVideo.iter_frames`,
:meth:`~EncodedVideo.get_clip`) and frames by index (:meth:`~EncodedVideo.get_frames`). The dataset readers, the
coach's background decoder (:func:`flexaqa.coach.frames.iter_video`) and the VideoQA export all read through it;
:func:`write_mp4` is the one encoder. :class:`VideoHandles` keeps a reader's recently used files open, so that
the repetitions of one trial are read through one handle (timings: ``docs/scale.md``, Decoding).

Frames are ``(T, H, W, 3)`` uint8 RGB. Frame ``i`` of a file written at ``fps`` has presentation time
``i / fps`` seconds; the reader finds frames by that time, so a clip can be cut out of a long trial video by
seeking to the nearest keyframe instead of decoding from the start. Every problem with a file raises the
reader's ``error`` (by default :class:`~flexaqa.data.schema.CorruptSampleError`) naming the file.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from flexaqa._io import temp_sibling
from flexaqa.data.schema import CorruptSampleError, DataError
from flexaqa.errors import require
from flexaqa.timebase import rate_filter

# a seek costs a keyframe search; decoding from the start is cheaper when the first wanted frame is this close
SEEK_AFTER_S = 2.0
# x264 options that make the bytes a function of the frames alone (see write_mp4): one encoder thread, whatever
# the machine's CPU count, and no macroblock-tree rate control, whose SIMD code gives frames of a few dozen
# pixels a side different bits from one encode to the next (it reads memory it did not write)
DETERMINISTIC_X264 = {"threads": "1", "mbtree": "0"}


def _av():
    return require("av", "video", "reading and writing mp4 video")


@dataclass(frozen=True)
class VideoInfo:
    n_frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps


def write_mp4(
    path: str | Path,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    *,
    crf: int = 18,
    lossless: bool = False,
    gop: int | None = None,
    preset: str = "veryfast",
) -> Path:
    """Encode ``frames`` ``(T, H, W, 3)`` uint8 RGB as an H.264 mp4 at ``fps``; atomic (temp file + rename).

    ``frames`` may also be an iterable of ``(H, W, 3)`` frames, encoded as they come (a long clip never has
    to fit in memory).

    ``lossless`` uses libx264rgb at crf 0 (exact RGB round trip, for tests); otherwise libx264 yuv420p at ``crf``
    (even width and height required). ``gop`` is the keyframe interval in frames (default: about 1 s), which
    bounds how much a seek has to decode.

    The same frames give the same bytes in any process on any machine (so a dataset written by many workers
    matches one written by one): x264 runs one thread (its default, 1.5 per CPU, changes the bitstream with the
    CPU count) and without mb-tree (at small sizes its output otherwise depends on what the process did before:
    about 1 encode in 10 of a 32x32 clip comes out different). Costs: up to ~15% more bytes at the same ``crf``,
    and one core per encode (run encodes in parallel instead, e.g. with :func:`flexaqa._tasks.map_tasks`).
    """

    av = _av()
    if isinstance(frames, np.ndarray) or not isinstance(frames, Iterable):
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise DataError(f"write_mp4 expects (T, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise DataError(f"{path}: cannot write a video with no frames")
    h, w = _check_frame(first, None)
    if not lossless and (h % 2 or w % 2):
        raise DataError(f"{path}: H.264 yuv420p needs even width and height, got {w}x{h}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path, ".mp4")  # mode from the umask, unlike mkstemp's 0600
    rate = Fraction(float(fps)).limit_denominator(1001)
    try:
        with av.open(tmp, mode="w", format="mp4") as out:
            stream = out.add_stream("libx264rgb" if lossless else "libx264", rate=rate)
            stream.width, stream.height = w, h
            stream.pix_fmt = "rgb24" if lossless else "yuv420p"
            stream.time_base = Fraction(1, 1) / rate
            opts = {"crf": "0" if lossless else str(crf), "preset": preset, **DETERMINISTIC_X264}
            opts["g"] = str(gop or max(round(float(fps)), 1))
            opts["bf"] = "0"  # no B-frames: pts == decode order, simple and seek-friendly
            stream.options = opts
            for i, img in enumerate(itertools.chain([first], it)):
                _check_frame(img, (h, w))
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_frame(img: np.ndarray, hw: tuple[int, int] | None) -> tuple[int, int]:
    """``(height, width)`` of one RGB frame; :class:`DataError` unless it is ``(H, W, 3)`` uint8 (of size ``hw``)."""
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
        got = f"{getattr(img, 'shape', '?')} {getattr(img, 'dtype', type(img).__name__)}"
        raise DataError(f"write_mp4 expects (H, W, 3) uint8 frames, got {got}")
    if hw is not None and img.shape[:2] != hw:
        raise DataError(f"write_mp4: every frame must be {hw[1]}x{hw[0]}, got {img.shape[1]}x{img.shape[0]}")
    return img.shape[0], img.shape[1]


ErrorFactory = Callable[[Path, str], Exception]


def _corrupt(path: Path, message: str) -> Exception:
    return CorruptSampleError(path, message)


def output_size(
    size: int | tuple[int, int] | None, h: int, w: int, *, max_width: int | None = None
) -> tuple[int, int] | None:
    """``(height, width)`` of frames read at ``size`` from an ``h`` x ``w`` video; ``None``: the video's own.

    ``size``: an int is the short side (aspect kept), ``(height, width)`` is exact. ``max_width`` instead
    downscales to at most that width, the height rounded to even (what the coach asks for).

    >>> output_size(16, 32, 48), output_size((20, 10), 32, 48), output_size(None, 720, 1280, max_width=640)
    ((16, 24), (20, 10), (360, 640))
    """
    if max_width is not None and size is not None:
        raise ValueError("give size or max_width, not both")
    if max_width:
        return (round(h * max_width / w / 2) * 2, max_width) if w > max_width else None
    if size is None:
        return None
    if isinstance(size, int):
        if h <= w:
            return size, max(round(w * size / h), 1)
        return max(round(h * size / w), 1), size
    return int(size[0]), int(size[1])


@dataclass(frozen=True)
class Clip:
    """Frames ``(T, H, W, 3)`` uint8 RGB and their presentation times ``(T,)`` in seconds."""

    frames: np.ndarray
    times: np.ndarray


class EncodedVideo:
    """An open video file (its first video stream); use ``with`` or call :meth:`close`.

    Opening checks that the file exists, opens as a video and holds a video stream; ``error(path, message)``
    builds the exception raised for those and for decoding errors later (default
    :class:`~flexaqa.data.schema.CorruptSampleError`).

    ``threads`` is the H.264 decoder's thread count: ``None`` lets FFmpeg choose (frame and slice threads, one
    per core); ``1`` decodes in the calling thread only, fastest when several files are decoded at once
    (:meth:`flexaqa.data.native.NativeDataset.load` decodes the views concurrently); ``n > 1``: ``n`` slice
    threads (frame threads delay every frame by ``n - 1``, which a short clip pays for without gain).

    One handle may serve many reads (the native reader keeps recent handles open): a read that starts after the
    frame the previous read stopped at, with no keyframe in between, goes on decoding instead of seeking back to
    the keyframe; a read from anywhere else seeks to the keyframe at or before its first frame (found in the
    container's index). Both give the same frames. A handle is not thread-safe: one reader at a time.
    """

    def __init__(self, path: str | Path, *, error: ErrorFactory = _corrupt, threads: int | None = None):
        av = _av()
        self.path = Path(path)
        self._error = error
        self._fresh = True  # nothing decoded yet: reading from the start needs no seek
        self._frames: Iterator | None = None  # the decoder's frames since the last seek (or the start)
        self._held: tuple[object, float] | None = None  # the last frame taken from it, and its time
        self._before = -math.inf  # frames before the held one that were decoded or skipped are before this
        self._count = 0  # frames taken from it (their times when the stream has no time stamps)
        self._scaler = None  # one swscale context for every frame (see _rgb)
        if not self.path.is_file():
            raise error(self.path, "no such file")
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as exc:
            raise error(self.path, f"cannot open as a video ({exc})") from exc
        if not self._container.streams.video:
            self._container.close()
            raise error(self.path, "the file holds no video stream")
        s = self._stream = self._container.streams.video[0]
        if threads is None:
            s.thread_type = "AUTO"
        else:
            s.thread_type = "NONE" if threads == 1 else "SLICE"  # frame threads only add latency to a clip
            s.thread_count = max(int(threads), 0)
        fps = float(s.average_rate or s.guessed_rate or 0)
        n = int(s.frames or 0)
        if n <= 0 and s.duration is not None and fps > 0:
            n = round(float(s.duration * s.time_base) * fps)
        self.info = VideoInfo(n, fps, int(s.codec_context.width), int(s.codec_context.height))
        self._tb = float(s.time_base) if s.time_base else None
        self._index = getattr(s, "index_entries", None)  # PyAV >= 17: the container's (keyframe) index
        if self._index is not None and not len(self._index):
            self._index = None

    @classmethod
    def from_path(cls, path: str | Path, *, error: ErrorFactory = _corrupt) -> EncodedVideo:
        return cls(path, error=error)

    @property
    def duration(self) -> float:
        """Seconds, from the frame count and rate of the stream's header."""
        return self.info.duration

    def close(self) -> None:
        self._frames = self._held = None
        self._container.close()

    def __enter__(self) -> EncodedVideo:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _keyframe_time(self, t: float) -> float | None:
        """Seconds of the keyframe at or before ``t`` from the container's index; ``None`` when unknown."""
        if self._index is None or self._tb is None:
            return None
        k = self._index.search_timestamp(int(max(t, 0.0) / self._tb), backward=True)
        if k < 0:
            return 0.0
        return self._index[k].timestamp * self._tb

    def _goes_on(self, start_sec: float, needed_from: float) -> bool:
        """Whether decoding on from the last frame read reaches ``start_sec`` no later than a seek would: the
        frames passed before it are all before ``needed_from`` and it is at or after the keyframe a seek would
        land on."""
        if self._frames is None or self._held is None or self._before >= needed_from:
            return False
        kf = self._keyframe_time(start_sec)
        return kf is not None and kf <= self._held[1]

    def _decode(
        self, start_sec: float, rate: float, needed_from: float | None = None
    ) -> Iterator[tuple[object, float]]:
        """``(PyAV frame, t seconds)`` in decoding order, from the keyframe at or before ``start_sec`` (or on from
        the previous read, see :meth:`_goes_on`); the caller needs no frame before ``needed_from`` (default
        ``start_sec``) and skips the frames before the ones it wants."""
        av = _av()
        c, s = self._container, self._stream
        try:
            if self._goes_on(start_sec, start_sec if needed_from is None else needed_from):
                yield self._held  # the frame the last read stopped at may be the first this one wants
            else:
                kf = self._keyframe_time(start_sec)
                seek = not self._fresh or (start_sec > SEEK_AFTER_S if kf is None else kf > 0.0)
                if seek:
                    # seek targets are in stream time_base units; backward: the keyframe at or before the time
                    c.seek(int(max(start_sec, 0.0) / s.time_base), stream=s, backward=True, any_frame=False)
                self._fresh = False
                self._frames, self._held, self._count = c.decode(s), None, 0
                self._before = math.inf if seek else -math.inf  # after a seek: set at the first frame
            for frame in self._frames:
                t = float(frame.pts * s.time_base) if frame.pts is not None else self._count / rate
                self._count += 1
                if self._held is not None:
                    self._before = self._held[1]
                elif self._before == math.inf:  # the seek skipped every frame before this one
                    self._before = math.nextafter(t, -math.inf)
                self._held = (frame, t)
                yield self._held
        except av.error.FFmpegError as exc:
            self._frames = self._held = None
            raise self._error(self.path, f"the video does not decode ({exc})") from exc

    def _rgb(self, frame, out_hw: tuple[int, int] | None, interpolation: str | None) -> np.ndarray:
        """One swscale call converts (and scales) a decoded frame straight to packed RGB uint8.

        The scaler is kept for the whole file and runs in the calling thread: PyAV's ``frame.reformat`` builds
        a new one per frame, and since PyAV 17 each starts a pool of one thread per core (most of the time of a
        small frame)."""
        if self._scaler is None:
            from av.video.reformatter import VideoReformatter

            self._scaler = VideoReformatter()
            major = int(_av().__version__.split(".")[0])
            self._scaler_kw = {"threads": 1} if major >= 17 else {}  # older PyAV scales in one thread anyway
        h, w = out_hw or (self.info.height, self.info.width)
        kw = self._scaler_kw
        return self._scaler.reformat(
            frame, width=w, height=h, format="rgb24", interpolation=interpolation, **kw
        ).to_ndarray()

    def iter_frames(
        self,
        start_sec: float = 0.0,
        end_sec: float | None = None,
        *,
        size: int | tuple[int, int] | None = None,
        max_width: int | None = None,
        fps: float | None = None,
        stride: int = 1,
        max_frames: int | None = None,
        interpolation: str | None = None,
    ) -> Iterator[tuple[np.ndarray, float]]:
        """``(frame (H, W, 3) uint8 RGB, t seconds)`` for the frames with ``start_sec <= t < end_sec``.

        ``size``/``max_width`` resize while decoding (see :func:`output_size`; ``interpolation`` is PyAV's
        name, e.g. ``"AREA"``; default bilinear). ``stride`` keeps every n-th frame of the window, ``fps``
        one frame per ``1 / fps`` seconds (:func:`~flexaqa.timebase.rate_filter`); ``t`` is always the frame's
        own time stamp. ``max_frames`` counts the window's decoded frames. Frames that are not kept are decoded
        (the codec needs them) but never converted.
        """
        rate = self.info.fps or 30.0
        keep = rate_filter(fps, rate / max(stride, 1))
        out_hw = output_size(size, self.info.height, self.info.width, max_width=max_width)
        i = 0
        for frame, t in self._decode(start_sec, rate):
            if t < start_sec:
                continue
            if (end_sec is not None and t >= end_sec) or (max_frames is not None and i >= max_frames):
                break
            i += 1
            if (i - 1) % stride or not keep(t):
                continue
            yield self._rgb(frame, out_hw, interpolation), t

    def get_clip(self, start_sec: float = 0.0, end_sec: float | None = None, **kwargs) -> Clip:
        """The frames of ``[start_sec, end_sec)`` as one :class:`Clip` (keywords as :meth:`iter_frames`)."""
        pairs = list(self.iter_frames(start_sec, end_sec, **kwargs))
        if not pairs:
            h, w = self.info.height, self.info.width
            hw = output_size(kwargs.get("size"), h, w, max_width=kwargs.get("max_width")) or (h, w)
            return Clip(np.zeros((0, *hw, 3), np.uint8), np.zeros(0))
        return Clip(np.stack([f for f, _ in pairs]), np.array([t for _, t in pairs]))

    def get_frames(
        self,
        indices=None,
        *,
        size: int | tuple[int, int] | None = None,
        fps: float | None = None,
        interpolation: str | None = None,
    ) -> np.ndarray:
        """The frames at ``indices`` (any order, repeats allowed; ``None`` = all) -> ``(N, H, W, 3)`` uint8.

        Frame ``i`` is the one whose time stamp is nearest ``i / fps`` (``fps``: the stream's own rate when
        ``None``). Raises ``error`` when the file holds fewer frames than asked.

        Decodes from the keyframe at or before the first wanted frame (or on from the previous read) and stops
        at the last; only wanted frames are converted, each by one swscale call straight to RGB at the output
        size, into one preallocated array.
        """
        want = None if indices is None else np.asarray(indices, dtype=np.int64).ravel()
        if want is not None and want.size and want.min() < 0:
            raise DataError(f"{self.path}: negative frame index {int(want.min())}")
        rate = float(fps or self.info.fps)
        if not rate > 0:
            raise self._error(self.path, "the video has no frame rate; pass fps")
        out_hw = output_size(size, self.info.height, self.info.width)
        if want is None:
            frames = [self._rgb(f, out_hw, interpolation) for f, _ in self._decode(0.0, rate, -1.0)]
            if not frames:
                raise self._error(self.path, "video holds no frames")
            return np.stack(frames)
        if want.size == 0:
            h, w = out_hw or (0, 0)
            return np.zeros((0, h, w, 3), np.uint8)
        h, w = out_hw or (self.info.height, self.info.width)
        out = np.empty((want.size, h, w, 3), np.uint8)  # (N, H, W, 3)
        slots: dict[int, list[int]] = {}
        for k, i in enumerate(want.tolist()):
            slots.setdefault(i, []).append(k)
        first, last = int(want.min()), int(want.max())
        for frame, t in self._decode(first / rate, rate, (first - 0.5) / rate):
            i = round(t * rate)
            ks = slots.pop(i, None)
            if ks is not None:
                out[ks[0]] = self._rgb(frame, out_hw, interpolation)
                out[ks[1:]] = out[ks[0]]
            if i >= last:
                break
        if slots:
            raise self._error(
                self.path,
                f"expected frames up to index {last}, but frame {min(slots)} is missing (truncated?)",
            )
        return out

    def count_frames(self) -> int:
        """Number of frames that actually decode (slow; used by validation to catch truncated files)."""
        return sum(1 for _ in self._decode(0.0, self.info.fps or 30.0, -1.0))

    def count_keyframes(self) -> int:
        """Decode only the keyframes of the whole file and count them: a cheap pass over all of it (one frame
        per GOP) in which damage to any keyframe, or packets the decoder refuses, raise ``error``."""
        cc = self._stream.codec_context
        cc.skip_frame = "NONKEY"
        try:
            return sum(1 for _ in self._decode(0.0, self.info.fps or 30.0, -1.0))
        finally:
            cc.skip_frame = "DEFAULT"
            self._frames = self._held = None  # the next read seeks: nothing decoded here is reused
            self._fresh = False


class VideoHandles:
    """The ``size`` most recently used open :class:`EncodedVideo` handles of a reader, by path (an LRU).

    Many repetitions of one trial share a file: reading them through one handle saves the open and, when they
    come in order, the seek (:class:`EncodedVideo` decodes on). ``with handles.video(path) as v:`` takes a
    handle for the block: a handle serves one thread at a time (two threads reading one file get two handles),
    is closed instead of kept when the block raises, and is reopened when the file changed on disk. A forked
    child (a DataLoader worker) starts with no handles, and a pickled copy holds only the settings.
    """

    def __init__(self, size: int = 8, *, threads: int | None = 1, error: ErrorFactory = _corrupt):
        self.size, self.threads, self._error = int(size), threads, error
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._free: OrderedDict[Path, tuple[tuple, EncodedVideo]] = OrderedDict()

    def __getstate__(self) -> dict:
        return {"size": self.size, "threads": self.threads, "_error": self._error}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()

    def __len__(self) -> int:
        return len(self._free) if self._pid == os.getpid() else 0

    @contextmanager
    def video(self, path: str | Path, *, threads: int | None = None) -> Iterator[EncodedVideo]:
        """An open handle of ``path`` for the ``with`` block (``threads``: the decoder's, when a new handle
        is opened; default the pool's)."""
        path = Path(path)
        if self._pid != os.getpid():
            self._reset()  # the parent's handles share its file offsets: never read them here
        try:
            st = path.stat()
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None  # EncodedVideo names the missing file
        with self._lock:
            old = self._free.pop(path, None)
        if old is not None and old[0] != stamp:
            old[1].close()
            old = None
        video = old[1] if old is not None else None
        if video is None:
            video = EncodedVideo(
                path, error=self._error, threads=self.threads if threads is None else threads
            )
        try:
            yield video
        except BaseException:
            video.close()
            raise
        if self.size <= 0:
            video.close()
            return
        with self._lock:
            if path in self._free:  # another thread gave one back meanwhile: keep that one
                video.close()
                return
            self._free[path] = (stamp, video)
            while len(self._free) > self.size:
                self._free.popitem(last=False)[1][1].close()

    def close(self) -> None:
        """Close every kept handle."""
        with self._lock:
            free, self._free = self._free, OrderedDict()
        for _, video in free.values():
            video.close()


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, rate and size of a video file; :class:`CorruptSampleError` if it cannot be opened."""
    with EncodedVideo(path) as video:
        return video.info


def count_frames(path: str | Path) -> int:
    """Number of frames that actually decode (slow; used by validation to catch truncated files)."""
    with EncodedVideo(path) as video:
        return video.count_frames()


def read_frames(
    path: str | Path,
    indices=None,
    *,
    size: int | tuple[int, int] | None = None,
    fps: float | None = None,
) -> np.ndarray:
    """Decode the frames at ``indices`` (any order, repeats allowed; ``None`` = all) -> ``(N, H, W, 3)`` uint8.

    ``size`` resizes while decoding: an int is the short side (aspect kept), ``(height, width)`` is exact.
    ``fps`` is the file's frame rate (read from the file when ``None``). Raises :class:`CorruptSampleError`
    naming the file when it is missing, does not decode or holds fewer frames than asked.
    """
    with EncodedVideo(path) as video:
        return video.get_frames(indices, size=size, fps=fps)


def moving_blob_video(n_frames: int, height: int = 32, width: int = 32, *, seed: int = 0) -> np.ndarray:
    """A tiny test clip ``(T, H, W, 3)`` uint8: a bright square moving right over a dim gradient; each frame
    also encodes its own index in the top-left pixel's red channel (``frame[i, 0, 0, 0] == i % 256`` in a
    lossless file), so a reader can be checked frame by frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 200 // max(width, 1), yy * 200 // max(height, 1), np.full_like(xx, 40)], -1)
    frames = np.repeat(base[None], n_frames, 0).astype(np.uint8)  # (T, H, W, 3)
    side = max(min(height, width) // 4, 2)
    y0 = int(rng.integers(0, max(height - side, 1)))
    for i in range(n_frames):
        x0 = (i * 2) % max(width - side, 1)
        frames[i, y0 : y0 + side, x0 : x0 + side] = 255
        frames[i, 0, 0] = (i % 256, 0, 0)
    return frames
