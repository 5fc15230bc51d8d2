"""Every metric of flexaqa, named the scikit-learn way: ``*_score`` is better higher, ``*_error`` better lower.

Every metric takes ``(y_true, y_pred, *, ...)``. numpy/scipy only: importing this module never pulls torch.

NaN behaviour, the same for every metric: a NaN or infinite input, mismatched lengths or an empty input raise
:class:`MetricError`; nothing NaN goes in silently. A metric that is *undefined* on valid input (a correlation
with a constant side, an F1 with nothing to find and nothing flagged, an AUROC with one class absent) returns
its ``zero_division`` argument (scikit-learn's name): 0.0 by default ("no correlation", "nothing found"), except
:func:`roc_auc_score`, whose default is NaN (0.0 would read as "always wrong"; a NaN is visible in a report).

>>> round(spearman_score([10, 20, 30, 40], [1.0, 2.5, 2.0, 4.0]), 6)
0.8
>>> round(relative_l2_error([40, 60], [50, 60], score_range=(0, 100), percent=True), 6)
0.5
>>> round(fisher_z_mean([0.5, 0.9]), 4)
0.7661
>>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
>>> mean_absolute_error([0.0, 1.0, 2.0], [1.0, 3.0, 5.0]), round(root_mean_squared_error([0, 1, 2], [1, 3, 5]), 6)
(2.0, 2.160247)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flexaqa.errors import BadDataError


class MetricError(BadDataError, ValueError):
    """Bad input to a metric: mismatched shapes, an empty set, a degenerate score range."""


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=float).reshape(-1)
    p = np.asarray(y_pred, dtype=float).reshape(-1)
    if t.shape != p.shape:
        raise MetricError(f"y_true has {t.size} values but y_pred has {p.size}")
    if t.size == 0:
        raise MetricError("cannot compute a metric over zero samples")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise MetricError("y_true and y_pred must be finite (found NaN or inf)")
    return t, p


def _has_spread(t: np.ndarray, p: np.ndarray) -> bool:
    return t.size > 1 and np.ptp(t) > 0 and np.ptp(p) > 0


def spearman_score(y_true, y_pred, *, zero_division: float = 0.0) -> float:
    """Spearman rank correlation ρ between true and predicted scores (paper Table 4, higher is better).

    A constant ``y_pred`` (or ``y_true``) has no ranking and gives ``zero_division`` (0.0) instead of scipy's
    NaN, so a constant predictor scores as "no correlation" in averages.

    >>> spearman_score([1, 2, 3], [3, 2, 1])
    -1.0
    >>> spearman_score([1, 2, 3], [5, 5, 5])
    0.0
    """
    from scipy.stats import spearmanr

    t, p = _pair(y_true, y_pred)
    if not _has_spread(t, p):
        return float(zero_division)
    return float(spearmanr(t, p).statistic)


def pearson_score(y_true, y_pred, *, zero_division: float = 0.0) -> float:
    """Pearson correlation r (``zero_division`` when either side is constant).

    >>> pearson_score([0, 1, 2], [1, 3, 5]), pearson_score([1, 2, 3], [2, 2, 2])
    (1.0, 0.0)
    """
    t, p = _pair(y_true, y_pred)
    if not _has_spread(t, p):
        return float(zero_division)
    return float(np.corrcoef(t, p)[0, 1])


def mean_absolute_error(y_true, y_pred) -> float:
    """mean(|ŷ − y|), lower is better."""
    t, p = _pair(y_true, y_pred)
    return float(np.abs(p - t).mean())


def root_mean_squared_error(y_true, y_pred) -> float:
    """sqrt(mean((ŷ − y)²)), lower is better."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(((p - t) ** 2).mean()))


def relative_l2_error(y_true, y_pred, *, score_range: tuple[float, float], percent: bool = False) -> float:
    """R-ℓ2 = mean(((ŝ − s) / (s_max − s_min))²), lower is better.

    Args:
        score_range: ``(s_min, s_max)`` of the action's scores, given explicitly (CoRe silently uses the
            test split's range, which changes with the split).
        percent: multiply by 100, the unit of paper Table 4.

    >>> round(relative_l2_error([0, 100], [10, 90], score_range=(0, 100)), 6)
    0.01
    """
    t, p = _pair(y_true, y_pred)
    lo, hi = (float(v) for v in score_range)
    if not hi > lo:
        raise MetricError(f"score_range must be (min, max) with max > min, got {score_range!r}")
    value = float(np.mean(((p - t) / (hi - lo)) ** 2))
    return value * 100.0 if percent else value


def fisher_z_mean(rhos: Sequence[float], *, clip: float = 0.999999) -> float:
    """Average correlations across actions through Fisher's z: ``tanh(mean(atanh(ρ_c)))``.

    ``clip`` keeps ρ = ±1 finite (atanh(1) is infinite).

    >>> fisher_z_mean([0.3, 0.3])
    0.3
    """
    r = np.asarray(rhos, dtype=float).reshape(-1)
    if r.size == 0:
        raise MetricError("fisher_z_mean needs at least one correlation")
    if not np.isfinite(r).all() or (np.abs(r) > 1).any():
        raise MetricError(f"correlations must be finite and within [-1, 1], got {r.tolist()}")
    return float(np.round(np.tanh(np.arctanh(np.clip(r, -clip, clip)).mean()), 12))


@dataclass(frozen=True)
class SlotReport:
    """Precision, recall and F1 of one (keystep, error) slot over a set of samples."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int  # samples where the slot is truly present


def precision_recall_f1(
    y_true, y_pred, *, labels: Sequence[str] | None = None, threshold: float = 0.5, zero_division: float = 0.0
) -> list[SlotReport]:
    """Per-slot precision/recall/F1 of multi-label error predictions (one column per slot).

    Args:
        y_true: ``(N, S)`` 0/1 matrix of the slots truly present.
        y_pred: ``(N, S)`` 0/1 predictions or probabilities (thresholded at ``threshold``).
        labels: a name per column, e.g. ``"AK04:ET005"``; defaults to the column index.
        zero_division: value used when a ratio has a zero denominator (scikit-learn's convention).

    >>> r = precision_recall_f1([[1, 0], [1, 1], [0, 0]], [[0.9, 0.8], [0.2, 0.7], [0.1, 0.1]], labels=["a", "b"])
    >>> [(x.label, x.precision, x.recall, x.f1, x.support) for x in r]
    [('a', 1.0, 0.5, 0.6666666666666666, 2), ('b', 0.5, 1.0, 0.6666666666666666, 1)]
    """
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    if t.ndim != 2 or t.shape != p.shape:
        raise MetricError(
            f"y_true and y_pred must be (N, S) matrices of one shape, got {t.shape} and {p.shape}"
        )
    if not np.isin(t, (0.0, 1.0)).all():
        raise MetricError("y_true must hold only 0 and 1")
    truth, pred = t > 0.5, p >= threshold
    tp = (truth & pred).sum(0)
    fp = (~truth & pred).sum(0)
    fn = (truth & ~pred).sum(0)
    names = list(labels) if labels is not None else [str(i) for i in range(t.shape[1])]
    if len(names) != t.shape[1]:
        raise MetricError(f"{len(names)} labels given for {t.shape[1]} columns")

    def ratio(num, den):
        return float(num / den) if den > 0 else float(zero_division)

    out = []
    for j, name in enumerate(names):
        prec, rec = ratio(tp[j], tp[j] + fp[j]), ratio(tp[j], tp[j] + fn[j])
        f1 = ratio(2 * prec * rec, prec + rec)
        out.append(SlotReport(name, prec, rec, f1, int(truth[:, j].sum())))
    return out


def micro_f1_score(y_true, y_pred, *, threshold: float = 0.5, zero_division: float = 0.0) -> float:
    """F1 over all (sample, slot) decisions pooled; ``zero_division`` when nothing is present or predicted.

    >>> micro_f1_score([[1, 0], [1, 1]], [[1, 1], [0, 1]])
    0.6666666666666666
    """
    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if t.shape != p.shape:
        raise MetricError(f"y_true and y_pred shapes differ: {t.shape} vs {p.shape}")
    return f1_score(t.reshape(-1), p.reshape(-1) >= threshold, zero_division=zero_division)


def f1_score(y_true, y_pred, *, zero_division: float = 0.0) -> float:
    """F1 of the positive class of 0/1 (or boolean) labels; ``zero_division`` when there is nothing to find and
    nothing is flagged.

    >>> f1_score([1, 1, 0, 0], [1, 0, 1, 0])
    0.5
    """
    t, p = _pair(y_true, y_pred)
    t, p = t > 0.5, p > 0.5
    tp, fp, fn = (t & p).sum(), (~t & p).sum(), (t & ~p).sum()
    return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn > 0 else float(zero_division)


def roc_auc_score(y_true, y_score, *, zero_division: float = float("nan")) -> float:
    """Area under the ROC curve: the Mann-Whitney U of the scores of the positives against the negatives, tied
    scores counted half; ``zero_division`` (NaN) when one class is absent.

    >>> roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    0.5
    """
    from scipy.stats import rankdata

    t, s = _pair(y_true, y_score)
    t = t > 0.5
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return float(zero_division)
    r = rankdata(s)
    return float((r[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
