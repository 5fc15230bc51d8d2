"""Typed model of a FLEX recording: subjects, views, trials (one subject doing one action 10 times, recorded
continuously) and samples (one repetition cut out of a trial by its keyframes).

All times are seconds on the trial clock (0 = first video frame). Streams keep time on axis 0:
pose ``(T, 21, 3)`` metres in the FLEX-21 layout of :mod:`flexaqa.skeleton`, sEMG ``(N, C)`` with one column per
knowledge-graph channel (``load_kg().action(a).emg_channels``), heart rate ``(N,)`` in bpm, breath ``(N,)``.
Video frames are ``(T, H, W, 3)`` uint8 RGB. Rates are converted with :mod:`flexaqa.timebase` only at the edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from flexaqa.errors import BadDataError, KGError, MissingFileError
from flexaqa.kg import score
from flexaqa.timebase import CINEMA_FPS, EMG_HZ, PHONE_FPS, seconds_to_index


class DataError(BadDataError, ValueError):
    """Bad dataset content or bad use of the data layer (exit code 3)."""


class MissingDatasetError(MissingFileError, DataError):
    """A dataset folder or one of its files does not exist (exit code 9)."""


class CorruptSampleError(DataError):
    """A file of a sample cannot be read or does not hold what it should; ``path`` names the file."""

    def __init__(self, path, expected: str):
        self.path = str(path)
        self.expected = expected
        super().__init__(f"{self.path}: {expected}")


# ----------------------------------------------------------------------------------------------- subjects

SKILL_LEVELS = ("expert", "amateur", "novice")
_SKILL_PREFIX = {"P": "expert", "A": "amateur", "N": "novice"}

# Paper section 3.1 / 7.2: 10 experts P01-P10, 8 amateurs A01-A10 without A06 and A09, 20 novices N01-N20.
FLEX_SUBJECT_IDS: tuple[str, ...] = (
    *(f"P{i:02d}" for i in range(1, 11)),
    *(f"A{i:02d}" for i in range(1, 11) if i not in (6, 9)),
    *(f"N{i:02d}" for i in range(1, 21)),
)


def skill_of(subject_id: str) -> str:
    """Skill level from a FLEX subject id's prefix: ``P`` expert, ``A`` amateur, ``N`` novice."""
    level = _SKILL_PREFIX.get(str(subject_id)[:1].upper())
    if level is None:
        raise DataError(
            f"cannot tell the skill level of subject {subject_id!r}: FLEX ids start with P, A or N"
        )
    return level


@dataclass
class Subject:
    """A person in the dataset. ``skill`` is one of :data:`SKILL_LEVELS` (``None`` = unknown, e.g. a new lab's
    subject id that is not P/A/N-prefixed); ``loads_kg`` maps action slug -> load (barbell: including the 20 kg
    bar; dumbbell: one side)."""

    id: str
    skill: str | None
    height_cm: float | None = None
    weight_kg: float | None = None
    age: float | None = None
    body_fat_pct: float | None = None
    loads_kg: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if self.skill is not None and self.skill not in SKILL_LEVELS:
            raise DataError(
                f"subject {self.id}: skill must be one of {', '.join(SKILL_LEVELS)}, got {self.skill!r}"
            )


def flex_roster() -> tuple[Subject, ...]:
    """The 38 FLEX subjects with their skill levels (body metrics and loads unknown)."""
    return tuple(Subject(id=s, skill=skill_of(s)) for s in FLEX_SUBJECT_IDS)


# ----------------------------------------------------------------------------------------------- views


@dataclass
class Camera:
    """Pinhole camera: ``K`` (3, 3) intrinsics in pixels, world->camera ``R`` (3, 3) and ``t`` (3,) metres,
    optional distortion coefficients (OpenCV order k1, k2, p1, p2, k3)."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    dist: np.ndarray | None = None

    def __post_init__(self):
        self.K = np.asarray(self.K, dtype=float).reshape(3, 3)
        self.R = np.asarray(self.R, dtype=float).reshape(3, 3)
        self.t = np.asarray(self.t, dtype=float).reshape(3)
        if self.dist is not None:
            self.dist = np.asarray(self.dist, dtype=float).ravel()

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> pixel coordinates ``(..., 2)`` (no distortion)."""
        cam = np.asarray(points, dtype=float) @ self.R.T + self.t  # (..., 3)
        uvw = cam @ self.K.T
        return uvw[..., :2] / uvw[..., 2:3]

    def to_dict(self) -> dict:
        d = {"K": self.K.tolist(), "R": self.R.tolist(), "t": self.t.tolist()}
        if self.dist is not None:
            d["dist"] = self.dist.tolist()
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> Camera:
        return cls(K=d["K"], R=d["R"], t=d["t"], dist=d.get("dist"))


@dataclass
class View:
    """One camera view: its name (``View-1`` ... ``View-5``), kind, rate, resolution and calibration if known."""

    name: str
    fps: float
    width: int
    height: int
    kind: str = "cinema"  # "cinema" | "phone"
    camera: Camera | None = None

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "kind": self.kind,
        }
        d["camera"] = self.camera.to_dict() if self.camera is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> View:
        cam = d.get("camera")
        return cls(
            name=str(d["name"]),
            fps=float(d["fps"]),
            width=int(d["width"]),
            height=int(d["height"]),
            kind=str(d.get("kind", "cinema")),
            camera=Camera.from_dict(cam) if cam else None,
        )


# Paper section 3.2: four ZCAM E2M4 cinema cameras (4K, 120 fps) and a OnePlus 7 phone (1080p, 60 fps).
FLEX_VIEWS: tuple[View, ...] = (
    *(View(f"View-{i}", CINEMA_FPS, 3840, 2160, "cinema") for i in range(1, 5)),
    View("View-5", PHONE_FPS, 1920, 1080, "phone"),
)


# ----------------------------------------------------------------------------------------------- streams


@dataclass
class Stream:
    """A regularly sampled signal with time on axis 0, ``rate`` Hz, first sample at ``start`` seconds.

    ``names`` labels the columns (e.g. sEMG channel labels); ``unit`` is free text (``"mV"``, ``"bpm"``, ``"m"``).
    """

    data: np.ndarray
    rate: float
    start: float = 0.0
    names: tuple[str, ...] = ()
    unit: str = ""

    def __post_init__(self):
        self.data = np.asarray(self.data)
        self.rate = float(self.rate)
        self.names = tuple(self.names)
        if not np.isfinite(self.rate) or self.rate <= 0:
            raise DataError(f"a stream's rate must be a positive number of Hz, got {self.rate!r}")

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def duration(self) -> float:
        return len(self) / self.rate

    @property
    def end(self) -> float:
        return self.start + self.duration

    def times(self) -> np.ndarray:
        return self.start + np.arange(len(self)) / self.rate

    def slice(self, t0: float, t1: float) -> Stream:
        """The samples with times in ``[t0, t1)`` (seconds, trial clock), rebased to start at ``t0``'s sample."""
        i0 = max(seconds_to_index(t0, self.rate, start=self.start, rounding="ceil"), 0)
        i1 = min(seconds_to_index(t1, self.rate, start=self.start, rounding="ceil"), len(self))
        i1 = max(i1, i0)
        return replace(self, data=self.data[i0:i1], start=self.start + i0 / self.rate)

    def at(self, t: np.ndarray, rounding: str = "floor") -> np.ndarray:
        """Samples at times ``t`` (seconds) -> ``(len(t), ...)``: the last sample at or before each time (the same
        rule the readers use for video frames); ``rounding="nearest"`` picks the closest. Clamped to the ends."""
        idx = seconds_to_index(np.asarray(t, dtype=float), self.rate, start=self.start, rounding=rounding)
        return self.data[np.clip(idx, 0, max(len(self) - 1, 0))]


# ----------------------------------------------------------------------------------------------- annotation


@dataclass
class PhaseSpan:
    """One phase of a repetition (``preparation``/``concentric``/``eccentric``) from ``start`` to ``end`` s."""

    name: str
    start: float
    end: float


@dataclass
class Keyframes:
    """Where a repetition lies in its trial: ``start``/``end`` seconds and its phase boundaries."""

    start: float
    end: float
    phases: tuple[PhaseSpan, ...] = ()

    def __post_init__(self):
        self.start, self.end = float(self.start), float(self.end)
        self.phases = tuple(p if isinstance(p, PhaseSpan) else PhaseSpan(**p) for p in self.phases)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def problems(self) -> list[str]:
        """What is wrong with these keyframes (empty when consistent)."""
        out = []
        if not (np.isfinite(self.start) and np.isfinite(self.end)) or self.end <= self.start:
            out.append(f"keyframes must have start < end, got start={self.start} end={self.end}")
        for p in self.phases:
            if p.end < p.start or p.start < self.start - 1e-6 or p.end > self.end + 1e-6:
                out.append(
                    f"phase {p.name} [{p.start}, {p.end}] lies outside the repetition [{self.start}, {self.end}]"
                )
        return out

    def to_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "phases": [{"name": p.name, "start": p.start, "end": p.end} for p in self.phases],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Keyframes:
        return cls(start=d["start"], end=d["end"], phases=tuple(PhaseSpan(**p) for p in d.get("phases", ())))


@dataclass
class AnnotatorLabel:
    """One annotator's raw label of a sample: the slots they marked at ``stage`` 1 (initial) or 2 (review).

    Optional: ``score``, the FKG score of these slots; ``manual_score``, a score the annotator typed;
    ``feedback``, their free text (written by ``flexaqa annotate export``).
    """

    annotator: str
    slots: tuple[str, ...]
    stage: int = 1
    score: float | None = None
    manual_score: float | None = None
    feedback: str = ""

    def __post_init__(self):
        self.slots = tuple(self.slots)

    def to_dict(self) -> dict:
        d = {"annotator": self.annotator, "stage": self.stage, "slots": list(self.slots)}
        for k in ("score", "manual_score"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.feedback:
            d["feedback"] = self.feedback
        return d


@dataclass
class Annotation:
    """The final label of one repetition.

    ``slots`` are observed ``AKxx:ETyyy`` pairs of the action (bare ``ETyyy`` allowed); ``score`` is the stored
    score, which must equal the FKG's penalty score of ``slots`` (checked by :meth:`score_problem`).
    """

    action: str
    rep: int
    keyframes: Keyframes
    slots: tuple[str, ...] = ()
    score: float | None = None
    annotators: tuple[AnnotatorLabel, ...] = ()
    feedback: tuple[str, ...] = ()

    def __post_init__(self):
        self.slots = tuple(self.slots)
        self.feedback = tuple(self.feedback)
        self.annotators = tuple(
            a if isinstance(a, AnnotatorLabel) else AnnotatorLabel(**a) for a in self.annotators
        )

    def fkg_score(self, kg=None) -> float:
        """The FKG penalty score of ``slots`` (raises ``KGError`` for codes the action does not have)."""
        return score(self.action, self.slots, kg=kg).score

    def score_problem(self, kg=None, tol: float = 0.01) -> str | None:
        """A message when the stored score disagrees with the FKG or the slots are invalid, else ``None``."""
        try:
            expected = self.fkg_score(kg)
        except KGError as exc:
            return str(exc)
        if self.score is not None and abs(float(self.score) - expected) > tol:
            return f"stored score {self.score:.2f} disagrees with the FKG score {expected:.2f} of slots {list(self.slots)}"
        return None

    def to_dict(self) -> dict:
        return {
            "action": self.action,
            "rep": self.rep,
            "keyframes": self.keyframes.to_dict(),
            "slots": list(self.slots),
            "score": self.score,
            "annotators": [a.to_dict() for a in self.annotators],
            "feedback": list(self.feedback),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Annotation:
        return cls(
            action=str(d["action"]),
            rep=int(d["rep"]),
            keyframes=Keyframes.from_dict(d["keyframes"]),
            slots=tuple(d.get("slots", ())),
            score=None if d.get("score") is None else float(d["score"]),
            annotators=tuple(AnnotatorLabel(**a) for a in d.get("annotators", ())),
            feedback=tuple(d.get("feedback", ())),
        )


# ----------------------------------------------------------------------------------------------- trial / sample


def trial_id(subject: str, class_id: str) -> str:
    """``P01-A16``: subject id and action class id (amateur ids like ``A01`` never collide: subject first)."""
    return f"{subject}-{class_id}"


def sample_id(subject: str, class_id: str, rep: int) -> str:
    """``P01-A16-r03``: one repetition of a trial."""
    return f"{trial_id(subject, class_id)}-r{int(rep):02d}"


@dataclass
class Trial:
    """One subject performing one action (usually 10 times), recorded continuously.

    ``frames`` holds in-memory video per view name, ``(T, H, W, 3)`` uint8, used when writing; readers leave it
    empty and decode on demand. ``reps`` are the annotated repetitions with their keyframes.
    """

    subject: str
    action: str  # slug (any key load_kg().action accepts is normalised on write)
    views: tuple[View, ...] = ()
    frames: dict[str, np.ndarray] = field(default_factory=dict)
    pose: Stream | None = None  # (T, 21, 3) metres, FLEX-21
    emg: Stream | None = None  # (N, C), names = KG channel labels
    heart_rate: Stream | None = None  # (N,) bpm
    breath: Stream | None = None  # (N,) arbitrary units (chest expansion)
    load_kg: float | None = None
    reps: tuple[Annotation, ...] = ()

    def view(self, name: str) -> View:
        for v in self.views:
            if v.name == name:
                return v
        raise DataError(
            f"trial {self.subject}/{self.action} has no view {name!r}; it has {[v.name for v in self.views]}"
        )


@dataclass(frozen=True)
class SampleRecord:
    """One row of a dataset's index: enough to list, split and choose samples without loading arrays."""

    id: str
    action: str  # slug
    class_index: int  # 1..20 (paper Table 7 order)
    subject: str | None = None
    skill: str | None = None
    trial: str | None = None
    rep: int | None = None
    start: float | None = None  # seconds on the trial clock
    end: float | None = None
    score: float | None = None
    load_kg: float | None = None
    split: str | None = None  # the dataset's default split, if any

    @property
    def duration(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start


@dataclass
class Sample:
    """A loaded repetition. ``video`` maps view name -> ``(T, H, W, 3)`` uint8 frames at ``frame_times[view]``
    (seconds); streams are cut to the repetition; ``missing`` lists requested modalities that are absent."""

    record: SampleRecord
    annotation: Annotation | None = None
    views: dict[str, View] = field(default_factory=dict)
    video: dict[str, np.ndarray] = field(default_factory=dict)
    frame_times: dict[str, np.ndarray] = field(default_factory=dict)
    pose: Stream | None = None
    emg: Stream | None = None
    heart_rate: Stream | None = None
    breath: Stream | None = None
    missing: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def score(self) -> float | None:
        return self.record.score


MODALITIES = ("video", "pose", "emg", "heart_rate", "breath")


def check_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    bad = [m for m in modalities if m not in MODALITIES]
    if bad:
        raise DataError(f"unknown modality {bad[0]!r}; choose from {', '.join(MODALITIES)}")
    return tuple(modalities)


__all__ = [
    "EMG_HZ",
    "FLEX_SUBJECT_IDS",
    "FLEX_VIEWS",
    "MODALITIES",
    "SKILL_LEVELS",
    "Annotation",
    "AnnotatorLabel",
    "Camera",
    "CorruptSampleError",
    "DataError",
    "Keyframes",
    "PhaseSpan",
    "Sample",
    "SampleRecord",
    "Stream",
    "Subject",
    "Trial",
    "View",
    "check_modalities",
    "flex_roster",
    "sample_id",
    "skill_of",
    "trial_id",
]
