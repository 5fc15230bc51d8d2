"""Failure labels from hand-made trials, the features read only repetitions 1..k, AUROC/F1."""

from __future__ import annotations

import numpy as np
import pytest

from flexaqa.failure import (
    FEATURE_NAMES,
    FailureError,
    FailureRule,
    TrialReps,
    build_rows,
    later_failure,
    reference_score,
    rep_failures,
    trial_features,
)
from flexaqa.metrics import f1_score, roc_auc_score


def _trial(scores, weights, tid="T1", durations=None) -> TrialReps:
    n = len(scores)
    return TrialReps(
        tid,
        "squat",
        "P01",
        np.asarray(scores, float),
        np.asarray(weights, float),
        np.ones(n),
        np.asarray(durations if durations is not None else np.full(n, 2.0), float),
        np.full(n, 0.8),
        np.linspace(100, 80, n),
        np.linspace(0.2, 0.3, n),
    )


STEADY = [90, 91, 89, 90, 92, 90, 88, 91, 90, 89]  # never drops 15 points, light errors only
COLLAPSE = [90, 92, 88, 90, 86, 80, 77, 74, 72, 70]  # falls 15+ below the early mean at rep 8
W_LIGHT = [5] * 10
W_HEAVY_AT_6 = [5, 5, 5, 5, 5, 9, 5, 5, 5, 5]


def test_score_drop_against_each_reference():
    drop_only = FailureRule(drop=15, error_weight=None, reference="observed_mean")
    # the mean of reps 1..4 is 90: reps scoring 75 or less fail -> reps 8, 9, 10
    assert rep_failures(COLLAPSE, W_LIGHT, drop_only, k=4).nonzero()[0].tolist() == [7, 8, 9]
    assert later_failure(COLLAPSE, W_LIGHT, k=4, rule=drop_only)
    assert not later_failure(STEADY, W_LIGHT, k=4, rule=drop_only)
    first = FailureRule(drop=15, error_weight=None, reference="first")
    assert rep_failures(COLLAPSE, W_LIGHT, first).nonzero()[0].tolist() == [7, 8, 9]  # 90 - 15 = 75
    best = FailureRule(drop=15, error_weight=None, reference="observed_max")
    assert reference_score(COLLAPSE, 3, best) == 92.0
    assert rep_failures(COLLAPSE, W_LIGHT, best, k=3).nonzero()[0].tolist() == [6, 7, 8, 9]  # <= 77
    # once the collapse is observed, the mean follows it down: at k=9 rep 10 (70) is no longer 15 below 83.2
    assert not later_failure(COLLAPSE, W_LIGHT, k=9, rule=drop_only)


def test_heavy_error_and_combined_rule():
    heavy_only = FailureRule(drop=None, error_weight=9)
    assert rep_failures(STEADY, W_HEAVY_AT_6, heavy_only).nonzero()[0].tolist() == [5]
    assert later_failure(STEADY, W_HEAVY_AT_6, k=5, rule=heavy_only)
    assert not later_failure(STEADY, W_HEAVY_AT_6, k=6, rule=heavy_only)  # it happened already
    both = FailureRule(drop=15, error_weight=9)
    assert later_failure(COLLAPSE, W_HEAVY_AT_6, k=6, rule=both)  # the drop still comes
    assert not later_failure(STEADY, W_LIGHT, k=1, rule=both)
    assert later_failure(STEADY, W_LIGHT, k=1, rule=FailureRule(drop=15, error_weight=5))


def test_bad_rules_and_k_raise():
    with pytest.raises(FailureError, match="reference"):
        FailureRule(reference="median")
    with pytest.raises(FailureError, match="needs"):
        FailureRule(drop=None, error_weight=None)
    with pytest.raises(FailureError, match="k must be"):
        later_failure(STEADY, W_LIGHT, k=10, rule=FailureRule())
    with pytest.raises(FailureError, match="one length"):
        rep_failures([1, 2], [1], FailureRule())


def test_features_read_only_the_observed_repetitions():
    rule = FailureRule()
    a, b = _trial(COLLAPSE, W_LIGHT), _trial(COLLAPSE[:5] + [0] * 5, [5] * 5 + [10] * 5)
    np.testing.assert_array_equal(trial_features(a, 5, rule), trial_features(b, 5, rule))
    f = dict(
        zip(
            FEATURE_NAMES,
            trial_features(_trial(COLLAPSE, W_LIGHT, durations=np.arange(2, 12)), 4, rule),
            strict=True,
        )
    )
    assert f["k"] == 4 and f["remaining"] == 6 and f["score_last"] == 90 and f["score_min"] == 88
    assert f["tempo_ratio"] == pytest.approx(5 / 2)
    assert f["mdf_slope_pct"] < 0 and f["amp_ratio"] > 1  # falling median frequency, growing envelope
    assert f["margin_last"] == pytest.approx(90 - (90 - 15))


def test_rows_labels_and_last_repetition_baseline():
    rule = FailureRule(drop=15, error_weight=9)
    rows = build_rows([_trial(STEADY, W_LIGHT, "A"), _trial(COLLAPSE, W_HEAVY_AT_6, "B")], rule)
    assert len(rows.k) == 18 and rows.X.shape == (18, len(FEATURE_NAMES))
    b = [i for i, t in enumerate(rows.trial) if t == "B"]
    assert rows.flag[b].tolist() == [
        later_failure(COLLAPSE, W_HEAVY_AT_6, k=k, rule=rule) for k in range(1, 10)
    ]
    assert not rows.flag[[i for i, t in enumerate(rows.trial) if t == "A"]].any()
    k6 = b[5]
    assert rows.last_failed[k6] and rows.last_score[k6] == 80 and len(rows.future[k6]) == 4


def test_auroc_and_f1():
    assert roc_auc_score([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]) == 1.0
    assert roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert np.isnan(roc_auc_score([1, 1], [0.2, 0.3]))
    assert f1_score([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.5)
