"""Hand-made trials with a known fatigue law, for tests and bug reports: a latent fatigability ``f`` makes the
median frequency fall, the envelope grow and the tempo slow from the first repetitions on, and the score
collapse later, so the early markers carry real information about failures to come.

>>> trials = make_fatigue_trials(4, seed=0)
>>> len(trials), len(trials[0])
(4, 10)
"""

from __future__ import annotations

import numpy as np

from flexaqa.failure.features import TrialReps


def make_fatigue_trials(n: int, *, reps: int = 10, seed: int = 0, action: str = "squat") -> list[TrialReps]:
    """``n`` trials; trial i has fatigability ``f_i ~ U(0, 1)``. Repetition r (0-based) scores
    ``85 + noise - 40 f (r / reps)^2``, has median frequency ``100 (1 - 0.04 f r)`` Hz, amplitude
    ``0.2 (1 + 0.06 f r)`` mV and duration ``2 (1 + 0.05 f r)`` s (each with a little noise)."""
    rng = np.random.default_rng(seed)
    r = np.arange(reps)
    out = []
    for i in range(n):
        f = float(rng.uniform(0, 1))
        noise = lambda s: rng.normal(0, s, reps)  # noqa: E731
        scores = np.clip(85 + noise(3.0) - 40 * f * (r / reps) ** 2, 0, 100).round(2)
        weights = np.where(rng.random(reps) < 0.1 + 0.3 * f * r / reps, 8.0, 5.0)
        dur = 2 * (1 + 0.05 * f * r) * (1 + noise(0.02))
        out.append(
            TrialReps(
                f"T{i:03d}",
                action,
                f"S{i:03d}",
                scores,
                weights,
                np.ones(reps),
                dur,
                0.4 * dur,
                100 * (1 - 0.04 * f * r) + noise(1.0),
                0.2 * (1 + 0.06 * f * r) * (1 + noise(0.02)),
            )
        )
    return out
