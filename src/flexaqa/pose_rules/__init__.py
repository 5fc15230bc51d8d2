"""The pose-rule layer: what the FKG's keystep standards mean on a body pose, shared by the coach and AQA.

A :class:`PoseSequence` (FLEX-21 joints over time) and its repetitions (:class:`Rep`); per-frame joint-angle
features (:mod:`~flexaqa.pose_rules.features`); the threshold rules per FKG slot and their data file
``pose_rules/data/rules.yaml`` (:mod:`~flexaqa.pose_rules.rules`), validated when loaded; and what one camera
can measure from each view (:mod:`~flexaqa.pose_rules.calibration`, the file's ``video:`` section). Numpy and
the knowledge graph only: no MediaPipe, no video, no torch.
"""

from flexaqa.pose_rules.calibration import (
    VideoCalibration,
    VideoCalibrationError,
    load_video_calibration,
    video_margin,
    view_limit,
)
from flexaqa.pose_rules.features import FEATURES, compute_features
from flexaqa.pose_rules.rules import (
    RULES_PATH,
    Rule,
    RuleResult,
    RulesError,
    RuleSet,
    evaluate_rule,
    load_rules,
    widen,
)
from flexaqa.pose_rules.sequence import PoseRulesError, PoseSequence, Rep, Segmenter

__all__ = [
    "FEATURES",
    "RULES_PATH",
    "PoseRulesError",
    "PoseSequence",
    "Rep",
    "Rule",
    "RuleResult",
    "RuleSet",
    "RulesError",
    "Segmenter",
    "VideoCalibration",
    "VideoCalibrationError",
    "compute_features",
    "evaluate_rule",
    "load_rules",
    "load_video_calibration",
    "video_margin",
    "view_limit",
    "widen",
]
