"""The pose-rule layer's data types: a pose sequence in FLEX-21 joints, one repetition, a segmenter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from flexaqa.errors import BadDataError
from flexaqa.skeleton import NUM_JOINTS


class PoseRulesError(BadDataError, ValueError):
    """The pose-rule data (the rules file, its ``video:`` calibration) breaks its format."""


@dataclass
class PoseSequence:
    """A person's pose over time, in FLEX-21 joints.

    ``joints`` are metres in a right-handed frame with +z up (NaN where unknown); ``visibility`` is 0..1 per
    joint; ``present`` says whether a person was found in the frame; ``image`` holds the joints' normalised
    image coordinates (x right, y down, 0..1) when the pose came from video; ``flags`` names per-frame problems
    (``lost``: no person, ``gap``: a long gap left unfilled, ``jump``: the body jumped as if another person was
    tracked, ``filled``: a short gap interpolated).
    """

    t: np.ndarray  # (T,) seconds
    joints: np.ndarray  # (T, 21, 3)
    visibility: np.ndarray  # (T, 21)
    present: np.ndarray  # (T,) bool
    image: np.ndarray | None = None  # (T, 21, 2)
    image_size: tuple[int, int] | None = None  # (width, height) in pixels
    flags: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (T,) bool
    source: str = ""

    def __post_init__(self):
        self.t = np.asarray(self.t, dtype=float)
        self.joints = np.asarray(self.joints, dtype=float)
        self.visibility = np.asarray(self.visibility, dtype=float)
        self.present = np.asarray(self.present, dtype=bool)
        n = self.t.shape[0]
        if self.joints.shape != (n, NUM_JOINTS, 3):
            raise ValueError(f"PoseSequence.joints must be ({n}, {NUM_JOINTS}, 3), got {self.joints.shape}")
        if self.visibility.shape != (n, NUM_JOINTS):
            raise ValueError(
                f"PoseSequence.visibility must be ({n}, {NUM_JOINTS}), got {self.visibility.shape}"
            )
        if self.present.shape != (n,):
            raise ValueError(f"PoseSequence.present must be ({n},), got {self.present.shape}")
        if n > 1 and np.any(np.diff(self.t) <= 0):
            raise ValueError("PoseSequence.t must increase strictly")

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def fps(self) -> float:
        """Median frame rate (Hz) from the time stamps."""
        return float(1.0 / np.median(np.diff(self.t))) if len(self) > 1 else 0.0

    @property
    def duration(self) -> float:
        return float(self.t[-1] - self.t[0]) if len(self) else 0.0

    def frame_at(self, t: float) -> int:
        """Index of the frame nearest to time ``t`` (seconds)."""
        return int(np.clip(np.searchsorted(self.t, t), 0, len(self) - 1)) if len(self) else 0

    def flag(self, name: str) -> np.ndarray:
        return self.flags.get(name, np.zeros(len(self), bool))


@dataclass(frozen=True)
class Rep:
    """One repetition: start and end times (s) and its moving phases as ``(name, t0, t1)`` in time order."""

    index: int  # 0-based
    start: float
    end: float
    phases: tuple[tuple[str, float, float], ...] = ()
    partial: float | None = None  # share of the set's usual range this repetition reached, when clearly short

    def phase(self, name: str) -> tuple[float, float] | None:
        for p, t0, t1 in self.phases:
            if p == name:
                return t0, t1
        return None

    @property
    def turn(self) -> float:
        """The turning point (s): the end of the first moving phase (the bottom of a squat, top of a curl)."""
        return self.phases[0][2] if self.phases else 0.5 * (self.start + self.end)

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "start": round(self.start, 4),
            "end": round(self.end, 4),
            "phases": [{"name": p, "start": round(a, 4), "end": round(b, 4)} for p, a, b in self.phases],
            **({} if self.partial is None else {"partial": round(self.partial, 3)}),
        }


# A segmenter turns a pose sequence of one action into repetitions; the coach takes it as an argument so the
# segmentation of flexaqa.signal, a ground truth (tests, benchmarks) or a user's own can be plugged in.
Segmenter = Callable[[PoseSequence, object], list[Rep]]
