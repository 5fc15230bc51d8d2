"""flexaqa.metrics: AQA metrics against scipy / hand-computed values."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy.stats import spearmanr

import flexaqa.metrics as M
from flexaqa.errors import FlexaqaError


def test_doctests_pass():
    assert doctest.testmod(M).failed == 0


def test_spearman_matches_scipy_and_handles_constants():
    rng = np.random.default_rng(0)
    t, p = rng.normal(size=50), rng.normal(size=50)
    assert M.spearman_score(t, p) == pytest.approx(spearmanr(t, p).statistic)
    assert M.spearman_score(t, 2 * t + 1) == pytest.approx(1.0)
    assert M.spearman_score(t, np.full(50, 3.0)) == 0.0


def test_correlations_against_values_worked_out_by_hand():
    # no ties: rho = 1 - 6 sum(d^2) / (n (n^2 - 1)) with rank differences d = (-1, 1, -1, 1, 0)
    assert M.spearman_score([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(1 - 6 * 4 / (5 * 24))
    # ties take the mean rank: ranks (1, 2.5, 2.5, 4) vs (1, 3, 2, 4), whose Pearson r is 4.5 / sqrt(4.5 * 5)
    assert M.spearman_score([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(3 / np.sqrt(10))
    # r of (1, 2, 3) and (1, 2, 4): cov 3, variances 2 and 42/9
    assert M.pearson_score([1, 2, 3], [1, 2, 4]) == pytest.approx(9 / np.sqrt(84))
    assert M.pearson_score([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_errors_and_auroc_against_values_worked_out_by_hand():
    assert M.mean_absolute_error([0, 0, 0, 0], [1, -1, 2, 0]) == 1.0
    assert M.root_mean_squared_error([0, 0, 0, 0], [1, -1, 2, 0]) == pytest.approx(np.sqrt(6 / 4))
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of the 4 pairs ordered right
    assert M.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert M.roc_auc_score([1, 0, 1, 0], [0.3, 0.3, 0.9, 0.1]) == pytest.approx(
        (1 + 1 + 0.5 + 1) / 4
    )  # a tie
    # F1 = 2 tp / (2 tp + fp + fn): tp 2, fp 1, fn 2
    assert M.f1_score([1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 1, 0]) == pytest.approx(4 / 7)
    assert M.micro_f1_score([[1, 1], [1, 1], [0, 0]], [[0.9, 0.6], [0.2, 0.1], [0.7, 0.0]]) == pytest.approx(
        4 / 7
    )


def test_a_probability_at_the_threshold_counts_as_predicted():
    assert M.micro_f1_score([[1, 0]], [[0.5, 0.2]]) == 1.0
    assert M.precision_recall_f1([[1]], [[0.6]], threshold=0.6)[0].recall == 1.0


# every metric of the module on (y_true, y_pred): the NaN behaviour documented in its docstring
_ALL = {
    "spearman_score": M.spearman_score,
    "pearson_score": M.pearson_score,
    "mean_absolute_error": M.mean_absolute_error,
    "root_mean_squared_error": M.root_mean_squared_error,
    "relative_l2_error": lambda t, p: M.relative_l2_error(t, p, score_range=(0, 10)),
    "f1_score": M.f1_score,
    "roc_auc_score": M.roc_auc_score,
}


@pytest.mark.parametrize("name", sorted(_ALL))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_every_metric_rejects_nan_and_inf_input(name, bad):
    with pytest.raises(M.MetricError, match="finite"):
        _ALL[name]([0, 1, 1], [0, bad, 1])
    with pytest.raises(M.MetricError, match="finite"):
        _ALL[name]([0, bad, 1], [0, 1, 1])
    with pytest.raises(M.MetricError, match="zero samples"):
        _ALL[name]([], [])


@pytest.mark.parametrize(
    ("metric", "t", "p", "default"),
    [
        (M.spearman_score, [1, 2, 3], [4, 4, 4], 0.0),
        (M.pearson_score, [5, 5, 5], [1, 2, 3], 0.0),
        (M.f1_score, [0, 0, 0], [0, 0, 0], 0.0),
        (M.roc_auc_score, [1, 1, 1], [0.2, 0.5, 0.9], np.nan),
    ],
)
def test_undefined_values_are_zero_division(metric, t, p, default):
    assert metric(t, p) == pytest.approx(default, nan_ok=True)
    assert metric(t, p, zero_division=0.25) == 0.25


def test_relative_l2_uses_the_explicit_range():
    t, p = np.array([40.0, 60.0, 80.0]), np.array([50.0, 60.0, 70.0])
    expected = np.mean(((p - t) / 50.0) ** 2)
    assert M.relative_l2_error(t, p, score_range=(30, 80)) == pytest.approx(expected)
    assert M.relative_l2_error(t, p, score_range=(30, 80), percent=True) == pytest.approx(100 * expected)
    assert M.relative_l2_error(t, t, score_range=(0, 1)) == 0.0
    with pytest.raises(M.MetricError, match="max > min"):
        M.relative_l2_error(t, p, score_range=(5, 5))


def test_fisher_z_mean():
    rhos = [0.2, 0.5, 0.8]
    assert M.fisher_z_mean(rhos) == pytest.approx(np.tanh(np.mean(np.arctanh(rhos))))
    assert M.fisher_z_mean([1.0, 1.0]) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(M.MetricError):
        M.fisher_z_mean([1.5])


def test_slot_precision_recall_f1_against_counts():
    rng = np.random.default_rng(1)
    t = (rng.random((40, 5)) < 0.3).astype(float)
    p = rng.random((40, 5))
    reports = M.precision_recall_f1(t, p, threshold=0.6)
    for j, r in enumerate(reports):
        pred = p[:, j] >= 0.6
        tp = np.sum(pred & (t[:, j] == 1))
        prec = tp / pred.sum() if pred.sum() else 0.0
        rec = tp / t[:, j].sum() if t[:, j].sum() else 0.0
        assert (r.precision, r.recall, r.support) == (
            pytest.approx(prec),
            pytest.approx(rec),
            int(t[:, j].sum()),
        )
        assert r.f1 == pytest.approx(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    assert M.micro_f1_score(t, t) == 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: M.spearman_score([1, 2], [1, 2, 3]),
        lambda: M.spearman_score([], []),
        lambda: M.relative_l2_error([1, np.nan], [1, 2], score_range=(0, 1)),
        lambda: M.precision_recall_f1([[2, 0]], [[1, 0]]),
        lambda: M.precision_recall_f1([[1, 0]], [[1, 0]], labels=["a"]),
    ],
)
def test_bad_input_raises_a_user_error(call):
    with pytest.raises(FlexaqaError):
        call()


def test_metrics_import_no_torch():
    import subprocess
    import sys

    code = "import sys, flexaqa.metrics; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
