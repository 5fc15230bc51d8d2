"""Video2EMG metrics after inverse normalisation: MAE, RMSE and Pearson correlation (the authors' later "CCP")
per channel, per muscle and overall, the mean-envelope baselines, and a plot of predicted vs measured envelopes.

>>> import numpy as np
>>> y = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])
>>> s = channel_scores(y[:, 0], y[:, 1])
>>> s["mae"], s["rmse"], round(s["pearson"], 6)
(2.0, 2.160247, 1.0)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_save
from flexaqa.metrics import mean_absolute_error, pearson_score, root_mean_squared_error
from flexaqa.video2emg.targets import MeanEnvelope


def channel_scores(y_true, y_pred) -> dict[str, float]:
    """MAE, RMSE and Pearson r of two 1-D arrays (:mod:`flexaqa.metrics`; r is 0 when either side is constant)."""
    return {
        "mae": round(mean_absolute_error(y_true, y_pred), 6),
        "rmse": round(root_mean_squared_error(y_true, y_pred), 6),
        "pearson": pearson_score(y_true, y_pred),
        "n": int(np.size(y_true)),
    }


def muscle_of(label: str) -> str:
    """``Left pectoralis major (2)`` -> ``Left pectoralis major``: one of the 18 left/right muscles."""
    return re.sub(r"\s*\(\d+\)$", "", label)


def regression_report(examples: Sequence, preds: Sequence[np.ndarray]) -> dict:
    """Scores of ``preds`` (one ``(T, C)`` array per example, in the targets' unit) against the examples'
    targets: ``overall``, ``per_channel`` (``action/label``) and ``per_muscle`` (18 left/right muscles).

    MAE and RMSE pool every frame; Pearson r pools the frames of one channel (overall: the mean of the
    per-channel r, since r pooled over channels would mostly tell loud muscles from quiet ones)."""
    by_channel: dict[str, list] = {}
    by_muscle: dict[str, list] = {}
    all_t, all_p = [], []
    for ex, p in zip(examples, preds, strict=True):
        for c, label in enumerate(ex.channels):
            t, q = ex.y[:, c], np.asarray(p)[:, c]
            by_channel.setdefault(f"{ex.action}/{label}", []).append((t, q))
            by_muscle.setdefault(muscle_of(label), []).append((t, q))
            all_t.append(t)
            all_p.append(q)

    def pooled(pairs):
        return channel_scores(np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs]))

    per_channel = {k: pooled(v) for k, v in sorted(by_channel.items())}
    overall = channel_scores(np.concatenate(all_t), np.concatenate(all_p))
    # pooled over channels, r would mostly measure which muscle is louder: average the per-channel r instead
    overall["pearson"] = float(np.mean([s["pearson"] for s in per_channel.values()]))
    return {
        "overall": overall,
        "per_channel": per_channel,
        "per_muscle": {k: pooled(v) for k, v in sorted(by_muscle.items())},
    }


def baseline_predictions(train: Sequence, test: Sequence, *, kind: str = "envelope") -> list[np.ndarray]:
    """Predictions of the per-action baselines fitted on ``train``: ``"envelope"`` (mean envelope over
    normalised time, :class:`MeanEnvelope`) or ``"constant"`` (each channel's mean level)."""
    if kind == "envelope":
        base = MeanEnvelope().fit((e.action, e.y) for e in train)
        return [base.predict(e.action, len(e.y)) for e in test]
    if kind == "constant":
        levels: dict[str, list] = {}
        for e in train:
            levels.setdefault(e.action, []).append(e.y)
        mean = {a: np.concatenate(v).mean(axis=0) for a, v in levels.items()}
        return [np.broadcast_to(mean[e.action], e.y.shape).copy() for e in test]
    raise ValueError(f"baseline kind must be 'envelope' or 'constant', got {kind!r}")


def plot_envelopes(
    examples: Sequence, preds: Sequence[np.ndarray], path: str | Path, *, baseline=None, n: int = 4
) -> Path:
    """Measured vs predicted envelope (and the baseline, dashed) of the first channel pair of ``n`` samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(n, len(examples))
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.2 * n), squeeze=False)
    for i in range(n):
        ax, ex = axes[i, 0], examples[i]
        t = np.arange(len(ex.y)) / ex.fps
        for c in range(min(2, ex.y.shape[1])):
            (line,) = ax.plot(t, ex.y[:, c], lw=1.2, label=f"measured {ex.channels[c]}")
            ax.plot(
                t,
                preds[i][:, c],
                lw=1.2,
                ls="-",
                alpha=0.8,
                color=line.get_color(),
                marker=".",
                ms=2,
                label="predicted",
            )
            if baseline is not None:
                ax.plot(
                    t, baseline[i][:, c], lw=1, ls="--", color=line.get_color(), alpha=0.6, label="baseline"
                )
        ax.set_title(f"{ex.id} ({ex.action})", fontsize=9)
        ax.set_ylabel("sEMG (mV)")
        ax.legend(fontsize=6, ncol=3, loc="upper right")
    axes[-1, 0].set_xlabel("time in repetition (s)")
    fig.tight_layout()
    out = atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=110), suffix=".png")
    plt.close(fig)
    return out
