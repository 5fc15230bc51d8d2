"""The coach: a person's own video -> pose -> repetitions -> errors, FKG score and feedback per repetition.

Light at import time: MediaPipe and PyAV are imported only when a video is analysed.

>>> from flexaqa.coach import analyse_pose, synthetic_set
>>> s = synthetic_set("barbell-biceps-curl", n_reps=1, errors=["AK08:ET022"])
>>> analyse_pose(s.pose, "barbell-biceps-curl", segmenter=s.segmenter)["repetitions"][0]["detected"]
['AK08:ET022']
"""

from flexaqa.coach._types import (
    BadVideoError,
    CoachError,
    MissingPieceError,
    NoPersonError,
    NoRepetitionError,
    PersonLostError,
    SeveralPeopleError,
)
from flexaqa.coach.analyse import analyse_pose
from flexaqa.coach.schema import report_problems, validate_report
from flexaqa.coach.segment import signal_segmenter
from flexaqa.coach.stream import Coach, CoachEvent
from flexaqa.coach.synthetic import SyntheticSet, synthetic_set
from flexaqa.pose_rules import FEATURES, PoseSequence, Rep, RuleSet, Segmenter, compute_features, load_rules

__all__ = [
    "FEATURES",
    "BadVideoError",
    "Coach",
    "CoachError",
    "CoachEvent",
    "MissingPieceError",
    "NoPersonError",
    "NoRepetitionError",
    "PersonLostError",
    "PoseSequence",
    "Rep",
    "RuleSet",
    "Segmenter",
    "SeveralPeopleError",
    "SyntheticSet",
    "analyse_pose",
    "compute_features",
    "load_rules",
    "report_problems",
    "signal_segmenter",
    "synthetic_set",
    "validate_report",
]
