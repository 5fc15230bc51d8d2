"""Early failure prediction across the ten repetitions of a FLEX trial (the paper's "AQA-based early failure
prediction"): from repetitions 1..k, predict the scores of k+1..R and whether a later repetition fails.
numpy only. See ``docs/failure.md``.
"""

from flexaqa.failure.features import (
    FEATURE_NAMES,
    TrialReps,
    emg_markers,
    trial_features,
    trial_reps_from_sim,
    trial_reps_from_source,
)
from flexaqa.failure.labels import (
    REFERENCES,
    FailureError,
    FailureRule,
    later_failure,
    reference_score,
    rep_failures,
)
from flexaqa.failure.model import (
    FailurePredictor,
    Rows,
    build_rows,
    evaluate_failure,
    plot_by_k,
)

__all__ = [
    "FEATURE_NAMES",
    "REFERENCES",
    "FailureError",
    "FailurePredictor",
    "FailureRule",
    "Rows",
    "TrialReps",
    "build_rows",
    "emg_markers",
    "evaluate_failure",
    "later_failure",
    "plot_by_k",
    "reference_score",
    "rep_failures",
    "trial_features",
    "trial_reps_from_sim",
    "trial_reps_from_source",
]
