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
