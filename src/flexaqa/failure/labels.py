"""Failure labels across the repetitions of a trial: a repetition *fails* when its score drops ``drop`` points
below a reference, or when it shows an error whose knowledge-graph weight is at least ``error_weight``.

>>> rule = FailureRule(drop=15.0, error_weight=9, reference="first")
>>> rep_failures([90, 88, 74, 80], [3, 3, 3, 9], rule).tolist()
[False, False, True, True]
>>> later_failure([90, 88, 74, 80], [3, 3, 3, 9], k=1, rule=rule)
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from flexaqa.errors import BadDataError, MissingFileError

REFERENCES = ("first", "observed_mean", "observed_max")


class FailureError(BadDataError, ValueError):
    """Bad input to early failure prediction: a bad rule, too few repetitions, an unreadable model file."""


class MissingFailureModelError(MissingFileError, FailureError):
    """No failure model file at the path (exit code 9)."""


@dataclass(frozen=True)
class FailureRule:
    """When a repetition counts as a failure.

    ``drop``: points below the reference score (``None`` disables the score test); ``error_weight``: any error
    slot at least this heavy (``None`` disables it); ``reference``: the score the drop is measured from —
    ``"first"`` repetition, or the mean / max of the observed repetitions 1..k (``"observed_mean"``,
    ``"observed_max"``).
    """

    drop: float | None = 15.0
    error_weight: int | None = 9
    reference: str = "observed_mean"

    def __post_init__(self):
        if self.reference not in REFERENCES:
            raise FailureError(f"reference must be one of {', '.join(REFERENCES)}, got {self.reference!r}")
        if self.drop is None and self.error_weight is None:
            raise FailureError("a failure rule needs a score drop, an error weight or both")
        if self.drop is not None and not self.drop > 0:
            raise FailureError(f"drop must be a positive number of points, got {self.drop}")

    def to_dict(self) -> dict:
        return asdict(self)


def reference_score(scores, k: int, rule: FailureRule) -> float:
    """The score drops are measured from, knowing repetitions ``1..k``."""
    s = np.asarray(scores, dtype=float)
    if not 1 <= k <= len(s):
        raise FailureError(f"k must be in 1..{len(s)} for a trial of {len(s)} repetitions, got {k}")
    if rule.reference == "first":
        return float(s[0])
    return float(s[:k].mean() if rule.reference == "observed_mean" else s[:k].max())


def rep_failures(scores, max_weights, rule: FailureRule, *, k: int | None = None) -> np.ndarray:
    """``(R,)`` bool: which repetitions fail. ``max_weights[r]`` is the heaviest error weight of repetition r
    (0 when flawless); ``k`` (default: all) is how many repetitions the reference may look at."""
    s = np.asarray(scores, dtype=float)
    w = np.asarray(max_weights, dtype=float)
    if s.shape != w.shape or s.ndim != 1:
        raise FailureError(
            f"scores and max_weights must be (R,) arrays of one length, got {s.shape}, {w.shape}"
        )
    fail = np.zeros(len(s), dtype=bool)
    if rule.drop is not None:
        fail |= s <= reference_score(s, k or len(s), rule) - rule.drop
    if rule.error_weight is not None:
        fail |= w >= rule.error_weight
    return fail


def later_failure(scores, max_weights, *, k: int, rule: FailureRule) -> bool:
    """Whether any repetition after the first ``k`` fails (reference computed from repetitions ``1..k``)."""
    if not 1 <= k < len(scores):
        raise FailureError(f"k must be in 1..{len(scores) - 1} to leave later repetitions, got {k}")
    return bool(rep_failures(scores, max_weights, rule, k=k)[k:].any())
