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

import sys
from dataclasses import dataclass, field

import numpy as np

from flexaqa.coach._types import PoseSequence, Rep, Segmenter
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
    takes FLEX-21 joints directly. Repetitions are found by re-segmenting the recent buffer every
    ``every`` seconds; a repetition is reported once it ended at least ``settle`` seconds ago."""

    def __init__(
        self,
        action,
        *,
        view: str = "front",
        segmenter: Segmenter | None = None,
        buffer: float = 30.0,
        every: float = 0.5,
        settle: float = 0.4,
    ):
        from flexaqa.kg import load_kg

        self.action = load_kg().action(action)
        self.view = view
        self.segmenter = segmenter
        self.buffer, self.every, self.settle = buffer, every, settle
        self._t: list[float] = []
        self._j: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._p: list[bool] = []
        self._img: list[np.ndarray] = []
        self._last_run = -np.inf
        self._done_until = -np.inf  # end time of the last reported repetition
        self._present = None
        self._estimator = None
        self.n_reps = 0
        self.reports: list[dict] = []

    def update(self, frame: np.ndarray, t: float) -> list[CoachEvent]:
        """Pose-estimate ``frame`` (H, W, 3) uint8 RGB taken at ``t`` seconds and update."""
        from flexaqa.coach.pose import PoseEstimator, landmarks_to_flex

        if self._estimator is None:
            self._estimator = PoseEstimator()
        out = self._estimator(frame)
        if out is None:
            return self.update_pose(None, None, t)
        j, img, vis = landmarks_to_flex(*out)
        return self.update_pose(j, vis, t, image=img)

    def update_pose(self, joints, visibility, t: float, *, image=None) -> list[CoachEvent]:
        """Add one frame's FLEX-21 ``joints`` (21, 3) (``None`` when nobody is in view)."""
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
        while self._t and self._t[-1] - self._t[0] > self.buffer:
            for buf in (self._t, self._j, self._v, self._p, self._img):
                buf.pop(0)
        if t - self._last_run >= self.every:
            self._last_run = float(t)
            events.extend(self._analyse(final=False))
        return events

    def flush(self) -> list[CoachEvent]:
        """Report repetitions still pending at the end of the stream."""
        return self._analyse(final=True)

    def close(self) -> None:
        if self._estimator is not None:
            self._estimator.close()
            self._estimator = None

    def _pose(self) -> PoseSequence:
        from flexaqa.coach.pose import clean_pose

        img = np.asarray(self._img)
        raw = PoseSequence(
            np.asarray(self._t), np.asarray(self._j), np.asarray(self._v), np.asarray(self._p, bool),
            image=None if np.isnan(img).all() else img, source="stream",
        )  # fmt: skip
        return clean_pose(raw)

    def _analyse(self, *, final: bool) -> list[CoachEvent]:
        from flexaqa.coach.analyse import analyse_pose

        if len(self._t) < 8 or sum(self._p) < 8:
            return []
        pose = self._pose()
        if self.segmenter is None:
            from flexaqa.coach.segment import signal_segmenter

            reps = signal_segmenter(pose, self.action)
        else:
            reps = self.segmenter(pose, self.action)
        now = self._t[-1]
        # a repetition is new when its middle lies after the last reported one: continuous sets have
        # repetitions that start exactly where the previous one ended
        new = [
            r
            for r in reps
            if 0.5 * (r.start + r.end) > self._done_until + 1e-6 and (final or r.end <= now - self.settle)
        ]
        if not new:
            return []
        new = [Rep(self.n_reps + k, r.start, r.end, r.phases) for k, r in enumerate(new)]
        report = analyse_pose(pose, self.action, reps=new, view=self.view)
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


def run_camera(index: int, action, *, max_frames: int | None = None) -> int:
    """Coach live from webcam ``index`` (OpenCV, installed with the ``pose`` extra), printing events."""
    import time

    from flexaqa.coach._types import BadVideoError
    from flexaqa.errors import require

    cv2 = require("cv2", "pose", "reading a webcam")
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise BadVideoError(f"no camera at index {index}")
    coach = Coach(action)
    t0, n = time.perf_counter(), 0
    try:
        while max_frames is None or n < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            n += 1
            for ev in coach.update(bgr[:, :, ::-1], time.perf_counter() - t0):
                print(_event_line(ev), flush=True)
        for ev in coach.flush():
            print(_event_line(ev), flush=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        print("stopped", file=sys.stderr)
    finally:
        cap.release()
        coach.close()
    return 0


def _event_line(ev: CoachEvent) -> str:
    if ev.kind == "rep":
        return f"[{ev.t:7.2f}s] rep {ev.rep + 1}: score {ev.data['score']:.1f}"
    if ev.kind == "error":
        return f"[{ev.t:7.2f}s]   {ev.data['text']} -> {ev.data['cue']}"
    return f"[{ev.t:7.2f}s] {ev.kind.replace('_', ' ')}"
