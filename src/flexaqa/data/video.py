"""H.264 mp4 writing and frame-accurate reading with PyAV (extra ``video``).

Frames are ``(T, H, W, 3)`` uint8 RGB. Frame ``i`` of a file written at ``fps`` has presentation time
``i / fps`` seconds; the reader finds frames by that time, so a clip can be cut out of a long trial video by
seeking to the nearest keyframe instead of decoding from the start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from flexaqa._io import temp_sibling
from flexaqa.data.schema import CorruptSampleError, DataError
from flexaqa.errors import require


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
    frames: np.ndarray,
    fps: float,
    *,
    crf: int = 18,
    lossless: bool = False,
    gop: int | None = None,
    preset: str = "veryfast",
) -> Path:
    """Encode ``frames`` ``(T, H, W, 3)`` uint8 RGB as an H.264 mp4 at ``fps``; atomic (temp file + rename).

    ``lossless`` uses libx264rgb at crf 0 (exact RGB round trip, for tests); otherwise libx264 yuv420p at ``crf``
    (even width and height required). ``gop`` is the keyframe interval in frames (default: about 1 s), which
    bounds how much a seek has to decode.
    """

    av = _av()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise DataError(f"write_mp4 expects (T, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    t, h, w, _ = frames.shape
    if t == 0:
        raise DataError(f"{path}: cannot write a video with no frames")
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
            opts = {"crf": "0" if lossless else str(crf), "preset": preset}
            opts["g"] = str(gop or max(round(float(fps)), 1))
            opts["bf"] = "0"  # no B-frames: pts == decode order, simple and seek-friendly
            stream.options = opts
            for i in range(t):
                frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, rate and size of a video file; :class:`CorruptSampleError` if it cannot be opened."""
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise CorruptSampleError(path, "video file is missing")
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            fps = float(s.average_rate or s.guessed_rate or 0)
            n = int(s.frames or 0)
            if n <= 0 and s.duration is not None and fps > 0:
                n = round(float(s.duration * s.time_base) * fps)
            return VideoInfo(n, fps, int(s.codec_context.width), int(s.codec_context.height))
    except (av.error.FFmpegError, IndexError) as exc:
        raise CorruptSampleError(path, f"cannot open as a video ({exc})") from exc


def count_frames(path: str | Path) -> int:
    """Number of frames that actually decode (slow; used by validation to catch truncated files)."""
    av = _av()
    try:
        with av.open(str(path)) as c:
            return sum(1 for _ in c.decode(video=0))
    except av.error.FFmpegError as exc:
        raise CorruptSampleError(path, f"video does not decode ({exc})") from exc


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
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise CorruptSampleError(path, "video file is missing")
    want = None if indices is None else np.asarray(indices, dtype=np.int64).ravel()
    if want is not None and want.size and want.min() < 0:
        raise DataError(f"{path}: negative frame index {int(want.min())}")
    got: dict[int, np.ndarray] = {}
    frames_all: list[np.ndarray] = []
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            rate = float(fps or s.average_rate or s.guessed_rate)
            out_hw = _out_size(size, s.codec_context.height, s.codec_context.width)
            targets = None if want is None else set(want.tolist())
            if want is not None and want.size and want.min() > 2 * rate:
                # seek to the keyframe before the first wanted frame (seek targets are in stream time_base units)
                c.seek(int((want.min() / rate) / s.time_base), stream=s, backward=True, any_frame=False)
            last = None if want is None else int(want.max())
            for frame in c.decode(s):
                i = round(float(frame.pts * s.time_base) * rate) if frame.pts is not None else len(frames_all)
                if targets is None:
                    frames_all.append(_to_rgb(frame, out_hw))
                    continue
                if i in targets:
                    got[i] = _to_rgb(frame, out_hw)
                if i >= last:
                    break
    except av.error.FFmpegError as exc:
        raise CorruptSampleError(path, f"video does not decode ({exc})") from exc
    if want is None:
        if not frames_all:
            raise CorruptSampleError(path, "video holds no frames")
        return np.stack(frames_all)
    if want.size == 0:
        h, w = out_hw or (0, 0)
        return np.zeros((0, h, w, 3), np.uint8)
    missing = sorted(set(want.tolist()) - set(got))
    if missing:
        raise CorruptSampleError(
            path,
            f"expected frames up to index {int(want.max())}, but frame {missing[0]} is missing (truncated?)",
        )
    return np.stack([got[int(i)] for i in want])


def _out_size(size, h: int, w: int) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        if h <= w:
            return size, max(round(w * size / h), 1)
        return max(round(h * size / w), 1), size
    return int(size[0]), int(size[1])


def _to_rgb(frame, out_hw) -> np.ndarray:
    if out_hw is None:
        return frame.to_ndarray(format="rgb24")
    return frame.reformat(width=out_hw[1], height=out_hw[0], format="rgb24").to_ndarray()


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
