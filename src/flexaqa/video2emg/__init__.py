"""Video2EMG and Pose2EMG (paper sections 4.3 and 8.3): estimate each sEMG channel's envelope per video frame
from the video or from the FLEX-21 pose. See ``docs/video2emg.md``.

numpy parts (targets, normalisation, pose features, baselines, metrics) import here; the networks and the
training loop need the ``train`` extra: :mod:`flexaqa.video2emg.models`, :mod:`flexaqa.video2emg.train`.
"""

from flexaqa.video2emg.data import INPUTS, Example, examples_from_sim, load_examples, make_example
from flexaqa.video2emg.evaluate import (
    baseline_predictions,
    channel_scores,
    muscle_of,
    plot_envelopes,
    regression_report,
)
from flexaqa.video2emg.targets import (
    DEFAULT_WINDOW,
    POSE_ANGLES,
    POSE_FEATURE_DIM,
    ChannelNorm,
    MeanEnvelope,
    Video2EMGError,
    emg_targets,
    pose_features,
)

__all__ = [
    "DEFAULT_WINDOW",
    "INPUTS",
    "POSE_ANGLES",
    "POSE_FEATURE_DIM",
    "ChannelNorm",
    "Example",
    "MeanEnvelope",
    "Video2EMGError",
    "baseline_predictions",
    "channel_scores",
    "emg_targets",
    "examples_from_sim",
    "load_examples",
    "make_example",
    "muscle_of",
    "plot_envelopes",
    "pose_features",
    "regression_report",
]
