"""Early failure prediction from repetitions ``1..k``: ridge regressions for the scores of repetitions
``k+1..R`` (one per horizon) and a logistic regression for "some later repetition fails", compared with the
"last repetition persists" baseline. numpy only; models save as JSON. Metrics come from :mod:`flexaqa.metrics`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_save, atomic_write_text, json_text
from flexaqa.failure.features import FEATURE_NAMES, TrialReps, trial_features
from flexaqa.failure.labels import (
    FailureError,
    FailureRule,
    MissingFailureModelError,
    later_failure,
    reference_score,
    rep_failures,
)
from flexaqa.metrics import f1_score, mean_absolute_error, roc_auc_score


@dataclass
class Rows:
    """Design rows: one per (trial, k). ``future[i]`` holds the true scores of repetitions k+1..R."""

    trial: list[str]
    k: np.ndarray
    X: np.ndarray  # (N, F)
    future: list[np.ndarray]
    flag: np.ndarray  # (N,) bool
    last_score: np.ndarray
    last_margin: np.ndarray  # baseline flag score: how far the last repetition is below the failure line
    last_failed: np.ndarray  # baseline flag: the last repetition fails


def build_rows(trials: Sequence[TrialReps], rule: FailureRule, ks: Sequence[int] | None = None) -> Rows:
    """Features and labels for every trial at every ``k`` in ``ks`` (default 1..R-1)."""
    out = Rows([], [], [], [], [], [], [], [])
    for tr in trials:
        if len(tr) < 2:
            continue
        for k in ks or range(1, len(tr)):
            if not 1 <= k < len(tr):
                continue
            out.trial.append(tr.id)
            out.k.append(k)
            out.X.append(trial_features(tr, k, rule))
            out.future.append(tr.scores[k:])
            out.flag.append(later_failure(tr.scores, tr.max_weights, k=k, rule=rule))
            ref = reference_score(tr.scores, k, rule)
            drop = rule.drop if rule.drop is not None else np.inf
            heavy = rule.error_weight is not None and tr.max_weights[k - 1] >= rule.error_weight
            out.last_score.append(tr.scores[k - 1])
            out.last_margin.append((ref - tr.scores[k - 1]) / min(drop, 100.0) + float(heavy))
            out.last_failed.append(bool(rep_failures(tr.scores[:k], tr.max_weights[:k], rule, k=k)[-1]))
    if not out.trial:
        raise FailureError("no trial with at least 2 repetitions to learn from")
    return Rows(
        out.trial,
        np.asarray(out.k),
        np.asarray(out.X),
        out.future,
        np.asarray(out.flag, bool),
        np.asarray(out.last_score, float),
        np.asarray(out.last_margin, float),
        np.asarray(out.last_failed, bool),
    )


def _ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Weights (F+1,) of ridge regression on standardised X with an unpenalised intercept (last)."""
    A = np.c_[X, np.ones(len(X))]
    reg = alpha * np.eye(A.shape[1])
    reg[-1, -1] = 0.0
    return np.linalg.solve(A.T @ A + reg, A.T @ y)


def _logistic(X: np.ndarray, y: np.ndarray, alpha: float, iters: int = 50) -> np.ndarray:
    """L2-penalised logistic regression by Newton's method (IRLS); weights (F+1,), intercept last."""
    A = np.c_[X, np.ones(len(X))]
    w = np.zeros(A.shape[1])
    reg = alpha * np.eye(A.shape[1])
    reg[-1, -1] = 1e-6
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ w, -30, 30)))
        grad = A.T @ (p - y) + reg @ w
        hess = (A * (p * (1 - p))[:, None]).T @ A + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


@dataclass
class FailurePredictor:
    """Ridge per horizon for future scores (as a change from the last observed score) and logistic
    regression for the later-failure flag; the flag threshold maximises F1 on the training rows."""

    rule: FailureRule = field(default_factory=FailureRule)
    alpha: float = 1.0
    exclude: tuple[str, ...] = ()  # feature names left out (ablations), e.g. the sEMG markers
    mean_: np.ndarray | None = None
    scale_: np.ndarray | None = None
    score_w_: dict[int, np.ndarray] = field(default_factory=dict)  # horizon -> weights
    flag_w_: np.ndarray | None = None
    threshold_: float = 0.5

    def _z(self, X: np.ndarray) -> np.ndarray:
        keep = [i for i, n in enumerate(FEATURE_NAMES) if n not in self.exclude]
        return ((np.asarray(X, float) - self.mean_) / self.scale_)[:, keep]

    def fit(self, trials: Sequence[TrialReps]) -> FailurePredictor:
        unknown = sorted(set(self.exclude) - set(FEATURE_NAMES))
        if unknown:
            raise FailureError(
                f"unknown feature(s) to exclude: {', '.join(unknown)}; known: {', '.join(FEATURE_NAMES)}"
            )
        self.exclude = tuple(self.exclude)
        rows = build_rows(trials, self.rule)
        self.mean_ = rows.X.mean(0)
        self.scale_ = np.where(rows.X.std(0) > 1e-9, rows.X.std(0), 1.0)
        Z = self._z(rows.X)
        horizons = max(len(f) for f in rows.future)
        for h in range(1, horizons + 1):
            sel = np.array([len(f) >= h for f in rows.future])
            if sel.sum() >= 2:
                y = (
                    np.array([f[h - 1] for f, s in zip(rows.future, sel, strict=True) if s])
                    - rows.last_score[sel]
                )
                self.score_w_[h] = _ridge(Z[sel], y, self.alpha * sel.sum() / 100)
        if rows.flag.all() or not rows.flag.any():
            self.flag_w_ = np.r_[np.zeros(Z.shape[1]), 30.0 if rows.flag.all() else -30.0]
        else:
            self.flag_w_ = _logistic(Z, rows.flag.astype(float), self.alpha)
        p = self.flag_proba(rows.X)
        cands = np.unique(np.r_[p, 0.5])
        f1s = [f1_score(rows.flag, p >= c) for c in cands]
        self.threshold_ = float(cands[int(np.argmax(f1s))])
        return self

    def _check(self):
        if self.flag_w_ is None:
            raise FailureError("the failure predictor is not fitted yet: call fit() or load a model file")

    def flag_proba(self, X: np.ndarray) -> np.ndarray:
        self._check()
        A = np.c_[self._z(X), np.ones(len(X))]
        return 1.0 / (1.0 + np.exp(-np.clip(A @ self.flag_w_, -30, 30)))

    def predict_scores(
        self, X: np.ndarray, last_score: np.ndarray, horizons: Sequence[int]
    ) -> list[np.ndarray]:
        """Predicted scores of the next ``horizons[i]`` repetitions for each row (clipped to 0..100)."""
        self._check()
        A = np.c_[self._z(X), np.ones(len(X))]
        hmax = max(self.score_w_)
        out = []
        for a, last, n in zip(A, last_score, horizons, strict=True):
            d = [a @ self.score_w_[min(h, hmax)] for h in range(1, n + 1)]
            out.append(np.clip(last + np.asarray(d), 0.0, 100.0))
        return out

    def to_dict(self) -> dict:
        self._check()
        return {
            "format": "flexaqa-failure/1",
            "rule": self.rule.to_dict(),
            "alpha": self.alpha,
            "exclude": list(self.exclude),
            "features": list(FEATURE_NAMES),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "score_w": {str(h): w.tolist() for h, w in self.score_w_.items()},
            "flag_w": self.flag_w_.tolist(),
            "threshold": self.threshold_,
        }

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, json_text(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> FailurePredictor:
        if not Path(path).is_file():
            raise MissingFailureModelError(
                f"{path}: no such failure model (write one with `flexaqa failure train`)"
            )
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FailureError(f"cannot read failure model {path}: {exc}") from exc
        if not isinstance(d, dict) or d.get("format") != "flexaqa-failure/1":
            raise FailureError(f"{path} is not a flexaqa failure model (expected format 'flexaqa-failure/1')")
        if d["features"] != list(FEATURE_NAMES):
            raise FailureError(f"{path} was trained on other features: {d['features']}")
        return cls(
            rule=FailureRule(**d["rule"]),
            alpha=d["alpha"],
            exclude=tuple(d.get("exclude", ())),
            mean_=np.asarray(d["mean"]),
            scale_=np.asarray(d["scale"]),
            score_w_={int(h): np.asarray(w) for h, w in d["score_w"].items()},
            flag_w_=np.asarray(d["flag_w"]),
            threshold_=float(d["threshold"]),
        )


def evaluate_failure(model: FailurePredictor, trials: Sequence[TrialReps]) -> dict:
    """MAE of future scores, AUROC and F1 of the flag, per k and overall, for the model and the "last
    repetition persists" baseline (future scores = the last score; flag = the last repetition fails)."""
    rows = build_rows(trials, model.rule)
    proba = model.flag_proba(rows.X)
    scores = model.predict_scores(rows.X, rows.last_score, [len(f) for f in rows.future])

    def block(sel: np.ndarray) -> dict:
        fut = [rows.future[i] for i in np.nonzero(sel)[0]]
        pred = [scores[i] for i in np.nonzero(sel)[0]]
        last = rows.last_score[sel]
        flag = rows.flag[sel]
        return {
            "n": int(sel.sum()),
            "positive_rate": float(flag.mean()),
            "model": {
                "mae": mean_absolute_error(np.concatenate(fut), np.concatenate(pred)),
                "auroc": roc_auc_score(flag, proba[sel]),
                "f1": f1_score(flag, proba[sel] >= model.threshold_),
            },
            "last_persists": {
                "mae": mean_absolute_error(
                    np.concatenate(fut),
                    np.concatenate([np.full(len(f), s) for f, s in zip(fut, last, strict=True)]),
                ),
                "auroc": roc_auc_score(flag, rows.last_margin[sel]),
                "f1": f1_score(flag, rows.last_failed[sel]),
            },
        }

    return {
        "rule": model.rule.to_dict(),
        "overall": block(np.ones(len(rows.k), bool)),
        "by_k": {int(k): block(rows.k == k) for k in np.unique(rows.k)},
    }


def plot_by_k(report: dict, path: str | Path) -> Path:
    """MAE, AUROC and F1 against k for the model and the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(report["by_k"], key=int)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, metric in zip(axes, ("mae", "auroc", "f1"), strict=True):
        for who, style in (("model", "-o"), ("last_persists", "--s")):
            ax.plot(
                [int(k) for k in ks], [report["by_k"][k][who][metric] for k in ks], style, label=who, ms=4
            )
        ax.set_xlabel("observed repetitions k")
        ax.set_title(metric.upper() if metric != "mae" else "MAE of future scores")
    axes[0].legend()
    fig.tight_layout()
    out = atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=110), suffix=".png")
    plt.close(fig)
    return out
