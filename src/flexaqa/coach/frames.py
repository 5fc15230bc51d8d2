"""Frame sources for the coach: video files, a background reader, the analysis frame rate, and cameras.

* :func:`iter_video` reads a video file through :class:`flexaqa.data.video.EncodedVideo`, downscaled and at the
  analysis frame rate (:func:`flexaqa.timebase.rate_filter` keeps one frame per ``1 / pose_fps`` seconds of the
  stream's own time stamps: a 60 fps phone video is analysed at 30 fps with its exact times).
* :func:`prefetch` runs a frame iterator (PyAV decoding and downscaling) in a thread, a bounded number of frames
  ahead, so decoding overlaps with pose estimation (MediaPipe releases the GIL while it works).
* :func:`capture_frames` turns an OpenCV-like capture (``read() -> (ok, BGR frame)``) into ``(RGB frame, t)``
  pairs; :func:`latest_only` hands a slow consumer the newest frame and drops the ones it had no time for, as a live
  coach must. :func:`open_camera` is the one place that imports OpenCV, so tests can put a fake camera there.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from flexaqa._io import missing_file_message
from flexaqa.coach._types import BadVideoError, MissingVideoError
from flexaqa.data.video import EncodedVideo
from flexaqa.errors import require

_END = object()


def open_video(path: str | Path) -> EncodedVideo:
    """Open a video file for the coach: a :class:`~flexaqa.coach._types.MissingVideoError` when there is no such
    file, a :class:`~flexaqa.coach._types.BadVideoError` naming the file when it does not open as a video or
    does not decode."""
    if not Path(path).is_file():
        raise MissingVideoError(missing_file_message(Path(path), "video file"))
    return EncodedVideo(path, error=lambda p, message: BadVideoError(f"{p}: {message}"))


def iter_video(
    path: str | Path | EncodedVideo,
    *,
    max_width: int | None = 640,
    max_frames: int | None = None,
    stride: int = 1,
    pose_fps: float | None = None,
) -> Iterator:
    """Yield ``(frame (H, W, 3) uint8 RGB, t seconds, (width, height) of the file)`` from a video file,
    downscaled to at most ``max_width`` pixels wide (MediaPipe works at 256 px anyway); ``stride`` keeps every
    n-th frame; ``pose_fps`` keeps one frame per ``1 / pose_fps`` s (a 60 fps video is read at 30 fps). ``t``
    is always the frame's own time stamp. ``max_frames`` counts decoded frames.

    The file is opened (and checked) at the call, not at the first frame: a missing or unreadable file fails
    before any model is loaded.
    """
    video = path if isinstance(path, EncodedVideo) else open_video(path)
    return _video_frames(video, max_width=max_width, max_frames=max_frames, stride=stride, pose_fps=pose_fps)


def _video_frames(video: EncodedVideo, *, max_width, max_frames, stride, pose_fps) -> Iterator:
    size = (video.info.width, video.info.height)
    with video:
        frames = video.iter_frames(
            max_width=max_width, fps=pose_fps, stride=stride, max_frames=max_frames, interpolation="AREA"
        )
        for img, t in frames:
            yield img, t, size


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; ``False`` when the consumer went away."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def prefetch(items: Iterable, size: int = 8, *, stats: dict | None = None) -> Iterator:
    """Iterate ``items`` in a background thread, at most ``size`` items ahead; ``size <= 0`` iterates in place.

    Exceptions of the producer are raised in the consumer at the point they happened. Closing the returned
    generator (or leaving a ``for`` loop over it) stops the producer and closes ``items`` in its own thread.
    ``stats`` (a dict) receives ``wait_s``: the seconds the consumer waited for a frame (decoding was the
    bottleneck for that long).
    """
    if size <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def work() -> None:
        it = iter(items)
        try:
            for x in it:
                if not _put(q, (x, None), stop):
                    return
            _put(q, (_END, None), stop)
        except BaseException as exc:  # handed to the consumer, re-raised there
            _put(q, (_END, exc), stop)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    th = threading.Thread(target=work, name="flexaqa-frames", daemon=True)
    th.start()
    waited = 0.0
    try:
        while True:
            t0 = time.perf_counter()
            x, exc = q.get()
            waited += time.perf_counter() - t0
            if x is _END:
                if exc is not None:
                    raise exc
                return
            yield x
    finally:
        stop.set()
        th.join(timeout=5.0)
        if stats is not None:
            stats["wait_s"] = waited


def open_camera(index: int):
    """An OpenCV ``VideoCapture`` on webcam ``index``; OpenCV comes with the ``pose`` extra (MediaPipe needs it)."""

    cv2 = require("cv2", "pose", "reading a webcam needs OpenCV, the opencv-python package")
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        cap.release()
        raise BadVideoError(f"no camera at index {index} (or it is in use by another program)")
    return cap


def capture_frames(
    capture: Any,
    *,
    max_frames: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
    bgr: bool = True,
) -> Iterator[tuple[Any, float]]:
    """``(RGB frame (H, W, 3) uint8, t seconds)`` from an OpenCV-like ``capture`` until ``read()`` fails.

    ``t`` is ``clock()`` at the read, counted from the first frame; ``bgr`` (OpenCV's order) is flipped to RGB
    as a view, without a copy. The capture is released at the end.
    """
    t0, n = None, 0
    try:
        while max_frames is None or n < max_frames:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            now = clock()
            t0 = now if t0 is None else t0
            n += 1
            yield (frame[:, :, ::-1] if bgr else frame), now - t0
    finally:
        release = getattr(capture, "release", None)
        if release is not None:
            release()


def latest_only(items: Iterable, *, stats: dict | None = None) -> Iterator:
    """Read ``items`` in a background thread and yield only the newest one each time the consumer asks.

    A live source runs at its own pace: when the consumer is slower, frames it had no time for are dropped
    (counted in ``stats["dropped"]``) instead of piling up and delaying the coach's feedback.
    """
    cond = threading.Condition()
    box: dict = {"item": _END, "fresh": False, "done": False, "exc": None}
    stop = threading.Event()
    counts = {"read": 0, "dropped": 0}

    def work() -> None:
        it = iter(items)
        try:
            for x in it:
                with cond:
                    counts["read"] += 1
                    counts["dropped"] += box["fresh"]
                    box["item"], box["fresh"] = x, True
                    cond.notify()
                if stop.is_set():
                    return
        except BaseException as exc:
            box["exc"] = exc
        finally:
            with cond:
                box["done"] = True
                cond.notify()
            close = getattr(it, "close", None)
            if close is not None:
                close()

    th = threading.Thread(target=work, name="flexaqa-camera", daemon=True)
    th.start()
    try:
        while True:
            with cond:
                cond.wait_for(lambda: box["fresh"] or box["done"])
                if box["fresh"]:
                    x, box["fresh"] = box["item"], False
                elif box["exc"] is not None:
                    raise box["exc"]
                else:
                    return
            yield x
    finally:
        stop.set()
        th.join(timeout=5.0)
        if stats is not None:
            stats.update(counts)
