"""Tiny synthetic feature sets whose scores are known: the inputs of the model and trainer tests.

numpy only. Each sample draws which (keystep, error) slots of an action it shows; its score is the FKG
penalty score of that mask, so error-aware models have exact targets. Each feature key is a noisy random
linear image of a subset of the slots (``visible``), which mimics modalities that see different errors.
"""

from __future__ import annotations

import numpy as np

from flexaqa.kg import load_kg, score_from_mask


def make_feature_set(
    action: str = "A01",
    n: int = 64,
    *,
    seed: int = 0,
    video_dim: int = 16,
    pose_dim: int = 8,
    emg_dim: int = 2,
    error_rate: float = 0.15,
    noise: float = 0.1,
    visible: float = 0.7,
) -> dict[str, np.ndarray]:
    """Features ``video_v1``, ``video_v2``, ``pose``, ``emg`` (float32, (n, d)), ``slots`` (n, S) 0/1,
    ``score`` (n,) FKG score in 0..100.

    Train, validation and test rows must share one feature-to-score relation: make one set and split it
    with :func:`split_feature_set`.
    """
    act = load_kg().action(action)
    rng = np.random.default_rng(seed)
    n_slots = len(act.slots)
    weights = np.array([s.weight for s in act.slots], dtype=float)
    # Heavier errors are rarer, so the score distribution resembles a graded dataset's.
    p = error_rate * (weights.mean() / weights)
    slots = (rng.random((n, n_slots)) < np.clip(p, 0.01, 0.9)).astype(np.float32)
    out: dict[str, np.ndarray] = {}
    for key, dim in (("video_v1", video_dim), ("video_v2", video_dim), ("pose", pose_dim), ("emg", emg_dim)):
        seen = (rng.random(n_slots) < visible).astype(float)
        proj = rng.normal(size=(n_slots, dim)) * seen[:, None]  # (S, d)
        feat = (slots - slots.mean(0)) @ proj + noise * rng.normal(size=(n, dim))
        out[key] = feat.astype(np.float32)
    out["slots"] = slots
    out["score"] = np.asarray(score_from_mask(act, slots), dtype=np.float32)
    return out


def split_feature_set(data: dict[str, np.ndarray], fractions=(0.6, 0.2, 0.2), *, seed: int = 0):
    """Split a feature set into (train, val, test) dicts of rows drawn at random with ``seed``."""
    n = len(data["score"])
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.cumsum([round(f * n) for f in fractions[:-1]])
    parts = []
    for rows in np.split(order, cuts):
        parts.append({k: v[rows] for k, v in data.items()})
    return tuple(parts)
