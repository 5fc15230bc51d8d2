"""The streaming coach: feed frames (or poses) one at a time, get events as repetitions finish.

>>> from flexaqa.coach.synthetic import synthetic_set
>>> s = synthetic_set("squat", n_reps=2, errors=[(), ("AK44:ET056",)])
>>> coach = Coach("squat", view="3d")
>>> events = [e for i, t in enumerate(s.pose.t) for e in coach.update_pose(s.pose.joints[i], None, t)]
>>> events += coach.flush()
>>> [(e.kind, e.rep) for e in events if e.kind == "rep"]
[('rep', 0), ('rep', 1)]
>>> [e.data["slot"] for e in events if e.kind == "error"]
['AK44:ET056']
"""

from __future__ import annotations

import itertools
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from flexaqa.coach import frames as frame_sources  # frame_sources.open_camera: tests put a fake camera there
from flexaqa.coach._types import CoachError, NoRepetitionError
from flexaqa.coach.analyse import analyse_pose
from flexaqa.coach.frames import capture_frames, latest_only
from flexaqa.coach.pose import PoseEstimator, clean_pose, detect_view, ground_pose, landmarks_to_flex
from flexaqa.coach.segment import signal_segmenter
from flexaqa.coach.summary import format_summary
from flexaqa.kg import load_kg
from flexaqa.pose_rules.sequence import PoseSequence, Rep, Segmenter
from flexaqa.skeleton import NUM_JOINTS


@dataclass
class CoachEvent:
    """``kind``: ``person_found``, ``person_lost``, ``rep`` (a repetition finished: score, errors) or
    ``error`` (one error of that repetition: slot, text, cue, confidence)."""

    kind: str
    t: float
    rep: int | None = None
    data: dict = field(default_factory=dict)


class Coach:
    """Online coach for one action. ``update(frame, t)`` runs MediaPipe on an RGB frame; ``update_pose``
    takes FLEX-21 joints directly. Repetitions are found by re-segmenting the recent ``buffer`` seconds every
    ``every`` seconds; a repetition is reported once it ended at least ``settle`` seconds ago and ``confirm``
    earlier analyses found the same boundaries (within 1.5 frames). These live reports are provisional;
    :meth:`report` segments the whole buffer at once and is the final word.

    ``view`` is the camera view or ``auto`` (detected from the buffer at each analysis, as the file pipeline
    does for a whole video). ``estimator`` replaces MediaPipe in :meth:`update`: any callable ``frame ->
    (world (33, 3), image (33, 3), visibility (33,))`` or ``None``, like
    :class:`~flexaqa.coach.pose.PoseEstimator`. The frames' MediaPipe world joints are put on the floor over the
    buffer (:func:`~flexaqa.coach.pose.ground_pose`), exactly as :func:`~flexaqa.coach.pose.estimate_pose` does
    over a whole video: on the same frames the streaming pose is the file pipeline's, and :meth:`report` has
    the repetitions, errors and scores of ``coach_video``'s report.
    """

    def __init__(
        self,
        action,
        *,
        view: str = "front",
        segmenter: Segmenter | None = None,
        buffer: float = 30.0,
        every: float = 0.5,
        settle: float = 0.4,
        confirm: int = 1,
        estimator: Callable | None = None,
    ):
        self.action = load_kg().action(action)
        self.view = view
        self.segmenter = segmenter
        self.buffer, self.every, self.settle, self.confirm = buffer, every, settle, confirm
        self._seen: dict[tuple[float, float], int] = {}  # (start, end) -> analyses in a row that found it
        self._t: deque[float] = deque()
        self._j: deque[np.ndarray] = deque()
        self._v: deque[np.ndarray] = deque()
        self._p: deque[bool] = deque()
        self._img: deque[np.ndarray] = deque()
        self._raw: deque[bool] = deque()  # MediaPipe world joints, not yet put on the floor
        self._last_run = -np.inf
        self._done_until = -np.inf  # end time of the last reported repetition
        self._present = None
        self._size: tuple[int, int] | None = None  # (width, height) of the frames given to update()
        self._estimator = estimator
        self._own_estimator = estimator is None
        self.n_reps = 0
        self.reports: list[dict] = []

    def update(self, frame: np.ndarray, t: float) -> list[CoachEvent]:
        """Pose-estimate ``frame`` (H, W, 3) uint8 RGB taken at ``t`` seconds and update."""
        if self._estimator is None:
            self._estimator = PoseEstimator()
        out = self._estimator(frame)
        if out is None:
            return self.update_pose(None, None, t)
        # exactly as estimate_pose does for a file (world landmarks; planar=False is its default)
        j, img, vis = landmarks_to_flex(*out)
        self._size = (int(frame.shape[1]), int(frame.shape[0]))  # for the side view's image scale
        return self._add(j, vis, t, img, raw=True)

    def update_pose(self, joints, visibility, t: float, *, image=None) -> list[CoachEvent]:
        """Add one frame's FLEX-21 ``joints`` (21, 3) (``None`` when nobody is in view)."""
        return self._add(joints, visibility, t, image, raw=False)

    def _add(self, joints, visibility, t: float, image, *, raw: bool) -> list[CoachEvent]:
        events: list[CoachEvent] = []
        present = joints is not None
        if present != self._present:
            events.append(CoachEvent("person_found" if present else "person_lost", float(t)))
            self._present = present
        self._t.append(float(t))
        self._j.append(np.asarray(joints, float) if present else np.full((NUM_JOINTS, 3), np.nan))
        vis = np.ones(NUM_JOINTS) if visibility is None else np.asarray(visibility, float)
        self._v.append(vis if present else np.zeros(NUM_JOINTS))
        self._p.append(present)
        self._img.append(np.asarray(image, float) if image is not None else np.full((NUM_JOINTS, 2), np.nan))
        self._raw.append(raw and present)
        while self._t and self._t[-1] - self._t[0] > self.buffer:
            for buf in (self._t, self._j, self._v, self._p, self._img, self._raw):
                buf.popleft()
        if t - self._last_run >= self.every:
            self._last_run = float(t)
            events.extend(self._analyse(final=False))
        return events

    def flush(self) -> list[CoachEvent]:
        """Report repetitions still pending at the end of the stream."""
        return self._analyse(final=True)

    def report(self) -> dict:
        """The file pipeline's report on the whole buffer (the last ``buffer`` seconds): segmented at once, as
        ``coach_video`` segments a file, so on the same frames it gives the same repetitions, errors and scores.

        The live ``rep`` events are provisional: each was segmented on the frames seen so far, and a boundary
        can still move when later repetitions change the trace's rest level (the benchmark counts how often).
        Raises :class:`~flexaqa.coach.NoRepetitionError` when the buffer holds no repetition.
        """
        if not any(self._p):
            raise NoRepetitionError("no person was seen")
        pose = self.pose()
        view = detect_view(pose) if self.view == "auto" else self.view
        report = analyse_pose(pose, self.action, segmenter=self.segmenter, view=view)
        report["input"].update(view=view, source="stream")
        return report

    def close(self) -> None:
        if self._estimator is not None and self._own_estimator:
            self._estimator.close()
            self._estimator = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def pose(self) -> PoseSequence:
        """The buffered pose, grounded and cleaned as the file pipeline does."""
        img = np.asarray(self._img)  # (T, 21, 2)
        joints, vis = np.asarray(self._j), np.asarray(self._v)  # (T, 21, 3), (T, 21)
        raw = np.asarray(self._raw, bool)
        if raw.any():
            joints[raw] = ground_pose(joints[raw], vis[raw])
        pose = PoseSequence(
            np.asarray(self._t),
            joints,
            vis,
            np.asarray(self._p, bool),
            image=None if np.isnan(img).all() else img,
            image_size=self._size,
            source="stream",
        )
        return clean_pose(pose)

    def _analyse(self, *, final: bool) -> list[CoachEvent]:
        if len(self._t) < 8 or sum(self._p) < 8:
            return []
        pose = self.pose()
        if self.segmenter is None:
            reps = signal_segmenter(pose, self.action)
        else:
            reps = self.segmenter(pose, self.action)
        now = self._t[-1]
        # a repetition is new when its middle lies after the last reported one: continuous sets have
        # repetitions that start exactly where the previous one ended
        tol = 1.5 / max(pose.fps, 1.0)  # boundaries within 1.5 frames count as the same
        seen: dict[tuple[float, float], int] = {}
        for r in reps:
            prev = [
                n for (a, b), n in self._seen.items() if abs(a - r.start) <= tol and abs(b - r.end) <= tol
            ]
            seen[(r.start, r.end)] = 1 + max(prev, default=0)
        self._seen = seen
        new = [
            r
            for r in reps
            if 0.5 * (r.start + r.end) > self._done_until + 1e-6
            and (final or (r.end <= now - self.settle and seen[(r.start, r.end)] > self.confirm))
        ]
        if not new:
            return []
        view = self.view
        if view == "auto":
            view = detect_view(pose)
        new = [Rep(self.n_reps + k, r.start, r.end, r.phases) for k, r in enumerate(new)]
        report = analyse_pose(pose, self.action, reps=new, view=view)
        events = []
        for r in report["repetitions"]:
            self.reports.append(r)
            events.append(
                CoachEvent(
                    "rep",
                    r["end"],
                    r["index"],
                    {"score": r["score"], "score_range": r["score_range"], "errors": r["detected"]},
                )
            )
            for e in r["errors"]:
                events.append(
                    CoachEvent(
                        "error",
                        r["end"],
                        r["index"],
                        {
                            "slot": e["slot"],
                            "text": e["text"],
                            "cue": e["feedback"],
                            "confidence": e["confidence"],
                        },
                    )
                )
        self.n_reps += len(new)
        self._done_until = max(r.end for r in new)
        return events


def run_camera(
    index: int,
    action,
    *,
    view: str = "auto",
    max_frames: int | None = None,
    capture=None,
    frames: Iterable[tuple[np.ndarray, float]] | None = None,
    estimator: Callable | None = None,
    drop_late: bool = True,
    clock: Callable[[], float] = time.perf_counter,
    out: TextIO | None = None,
) -> dict:
    """Coach live from webcam ``index``, printing events to ``out`` (stdout); returns the run's summary.

    The frame source is injectable: ``capture`` (an OpenCV-like object with ``read() -> (ok, BGR frame)``,
    default :func:`~flexaqa.coach.frames.open_camera`, its frames timed by ``clock``) or ``frames`` (``(RGB
    frame, t)`` pairs). With
    ``drop_late`` a thread reads the camera and the coach always takes the newest frame, dropping those it
    had no time for, so feedback never lags behind the person. The summary holds the live events, the final
    :meth:`Coach.report` of the set (``None`` without a repetition), the number of frames read, analysed and
    dropped, and the per-frame latency of :meth:`Coach.update` (median, p95, ms).
    """
    out = sys.stdout if out is None else out
    if frames is None:
        cap = frame_sources.open_camera(index) if capture is None else capture
        frames = capture_frames(cap, max_frames=max_frames, clock=clock)
    elif max_frames is not None:
        frames = itertools.islice(frames, max_frames)
    stats: dict = {}
    source = latest_only(frames, stats=stats) if drop_late else iter(frames)
    events: list[CoachEvent] = []
    final: dict | None = None
    lat: list[float] = []
    coach = Coach(action, view=view, estimator=estimator)
    try:
        for frame, t in source:
            a = time.perf_counter()
            new = coach.update(frame, t)
            lat.append(time.perf_counter() - a)
            events += new
            for ev in new:
                print(_event_line(ev), file=out, flush=True)
        for ev in coach.flush():
            events.append(ev)
            print(_event_line(ev), file=out, flush=True)
        try:  # the whole set, segmented at once as for a file: the final word on each repetition
            final = coach.report()
        except CoachError as exc:
            final = None
            print(f"no complete repetition in the set ({exc})", file=out, flush=True)
        if final is not None:
            print("the whole set:\n" + format_summary(final), file=out, flush=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        print("stopped", file=sys.stderr)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
        coach.close()
    ms = np.asarray(lat) * 1000
    summary = {
        "events": events,
        "frames": len(lat),
        "read": stats.get("read", len(lat)),
        "dropped": stats.get("dropped", 0),
        "reps": coach.n_reps,
        "report": final,
        "latency_ms": {
            "median": round(float(np.median(ms)), 3) if len(ms) else None,
            "p95": round(float(np.percentile(ms, 95)), 3) if len(ms) else None,
        },
    }
    print(
        f"{summary['frames']} frame(s) analysed, {summary['dropped']} dropped, {summary['reps']} repetition(s); "
        f"update latency median {summary['latency_ms']['median']} ms, p95 {summary['latency_ms']['p95']} ms",
        file=out,
        flush=True,
    )
    return summary


def _event_line(ev: CoachEvent) -> str:
    if ev.kind == "rep":
        return f"[{ev.t:7.2f}s] rep {ev.rep + 1}: score {ev.data['score']:.1f}"
    if ev.kind == "error":
        return f"[{ev.t:7.2f}s]   {ev.data['text']} -> {ev.data['cue']}"
    return f"[{ev.t:7.2f}s] {ev.kind.replace('_', ' ')}"
