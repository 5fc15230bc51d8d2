"""A trained error-aware AQA run as extra evidence for the coach (``flexaqa coach --run RUN``).

The coach has a FLEX-21 pose and nothing else, so only runs whose variant reads pose alone (``pose``) can be
used: for each repetition the run's pose features are computed from the repetition's frames with the same
extractor as training and the action's model gives one probability per (keystep, error) slot, both through
the run's public predictor (:func:`flexaqa.aqa.predictor.load_predictor`, which standardises the features with
the run's training statistics). :func:`flexaqa.coach.analyse.analyse_pose` combines them with the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flexaqa.aqa import AQAError
from flexaqa.aqa.predictor import Predictor, load_predictor
from flexaqa.aqa.runs import needs_slots, read_run
from flexaqa.coach._types import EXIT_USAGE, CoachError
from flexaqa.kg import load_kg
from flexaqa.models import VARIANTS  # requires torch: MissingExtraError naming the train extra without it
from flexaqa.pose_rules.sequence import PoseSequence, Rep

THRESHOLD = 0.5  # probability at which the model calls a slot an error


class RunModelError(CoachError):
    """A ``--run`` folder the coach cannot use (not error-aware, needs video/EMG, other action)."""

    exit_code, problem = EXIT_USAGE, "error"


@dataclass
class RunModel:
    """One action's trained error-aware model of a run, ready for pose-only prediction."""

    predictor: Predictor

    @property
    def run(self) -> str:
        return self.predictor.run

    @property
    def action(self) -> str:  # slug
        return self.predictor.action

    @property
    def slots(self) -> list[str]:
        """Slot ids in the model's output order (the action's slots)."""
        return self.predictor.slots

    def describe(self) -> dict:
        """The report's ``model`` section (without the per-repetition predictions)."""
        doc, test = self.predictor.doc, self.predictor.test_metrics
        return {
            "run": self.run,
            "model": doc["model"],
            "variant": doc["variant"],
            "features": {"pose": doc["features"].get("pose", "stats")},
            "threshold": THRESHOLD,
            "trained_slots": list(self.slots),
            "test": {k: test[k] for k in ("spearman", "rl2", "n") if k in test},
        }


def load_run_model(run: str | Path, action, *, kg=None) -> RunModel:
    """The trained model of ``action`` in the run folder ``run``; raises :class:`RunModelError` when the run is
    not an error-aware model on pose features only, or has no model for the action."""
    kg = kg or load_kg()
    act = kg.action(action)
    try:
        doc = read_run(run)
    except AQAError as exc:
        raise RunModelError(str(exc)) from exc
    if not needs_slots(doc.get("model", "")):
        raise RunModelError(
            f"{run}: the run's model is {doc.get('model')!r}, which predicts only a score; the coach needs an "
            "error-aware run (flexaqa train --model error_aware --variant pose)"
        )
    keys = VARIANTS.get(doc.get("variant"), ())
    if tuple(keys) != ("pose",):
        other = [k for k in keys if k != "pose"]
        raise RunModelError(
            f"{run}: the run's variant {doc.get('variant')!r} needs {', '.join(other) or 'other'} features "
            "(video views / EMG) that the coach does not have; it has a pose only. Train a run with "
            "--variant pose"
        )
    if act.slug not in doc.get("actions", []):
        raise RunModelError(
            f"{run}: the run has no model for {act.name} ({act.slug}); it has {', '.join(doc['actions'])}"
        )
    try:
        return RunModel(load_predictor(run, act.slug))
    except AQAError as exc:
        raise RunModelError(str(exc)) from exc


def predict_reps(rm: RunModel, pose: PoseSequence, reps: list[Rep]) -> list[dict | None]:
    """Per repetition ``{"probs": {slot: p}, "score": model score}``, or ``None`` for a repetition with fewer
    than 2 frames with a person."""
    rows, keep = [], []
    for j, rep in enumerate(reps):
        a, b = pose.frame_at(rep.start), pose.frame_at(rep.end)
        idx = np.arange(a, b + 1)
        idx = idx[pose.present[idx]]
        if len(idx) < 2:
            continue
        rows.append(rm.predictor.encode_pose(pose.joints[idx], pose.fps))  # (D,)
        keep.append(j)
    out: list[dict | None] = [None] * len(reps)
    if not rows:
        return out
    pred = rm.predictor.predict({"pose": np.stack(rows)})  # (R, D) raw features
    probs = pred["slot_probs"]  # (R, S)
    for k, j in enumerate(keep):
        out[j] = {
            "probs": {s: round(float(p), 4) for s, p in zip(rm.slots, probs[k], strict=True)},
            "score": round(float(pred["score"][k]), 2),
        }
    return out


def model_evidence(p: float) -> dict:
    """The model's probability as one evidence entry (same fields as a rule's)."""
    return {
        "feature": "model_probability",
        "stat": "error-aware model",
        "window": "repetition",
        "test": "above",
        "threshold": [THRESHOLD],
        "unit": "probability",
        "assessed": True,
        "value": p,
        "fired": p >= THRESHOLD,
        "confidence": round(p if p >= THRESHOLD else 1 - p, 4),
    }
