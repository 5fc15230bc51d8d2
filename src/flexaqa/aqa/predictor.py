"""One trained action of a frozen-feature AQA run as a predictor: raw features in, scores (and slots) out.

The public way for code outside :mod:`flexaqa.aqa` (the coach, a web app, a script) to use a run, without
reading its files: :func:`load_predictor` checks the run and loads the action's best weights, and
:meth:`Predictor.predict` standardises the features with the run's training statistics before the model sees
them, so a caller never redoes aqa's preprocessing by hand.

>>> # p = load_predictor("runs/pose", "squat")
>>> # p.predict({"pose": np.stack([p.encode_pose(joints, fps)])})["score"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexaqa.aqa import AQAError
from flexaqa.aqa.features import FeatureSpec, _pose_encoder
from flexaqa.aqa.runs import load_action_model, needs_slots, predict_arrays, read_run, run_mode, standardize
from flexaqa.kg import load_kg


@dataclass
class Predictor:
    """The model of one action of a run, with what it needs to turn raw features into predictions."""

    run: str
    action: str  # slug
    doc: dict  # the run's run.json
    meta: dict  # the action's meta.json: split ids, score range, standardisation, test metrics
    model: object = field(repr=False)  # the torch module, in eval mode
    spec: FeatureSpec = field(repr=False)
    _pose: object = field(
        default=None, repr=False, compare=False
    )  # the run's pose encoder, built on first use

    @property
    def keys(self) -> tuple[str, ...]:
        """The feature keys the model reads (``video_v1``, ``video_v2``, ``pose``, ``emg``), in its order."""
        return tuple(self.meta["keys"])

    @property
    def slots(self) -> list[str]:
        """Slot ids in the order of ``slot_probs`` (the action's slots); empty for a score-only model."""
        return [s.id for s in load_kg().action(self.action).slots] if needs_slots(self.doc["model"]) else []

    @property
    def test_metrics(self) -> dict:
        """The action's test-split metrics written at training (``spearman``, ``rl2``, ``n``)."""
        return dict(self.meta.get("test", {}))

    def encode_pose(self, joints: np.ndarray, fps: float) -> np.ndarray:
        """``(D,)`` the run's pose feature of one repetition's FLEX-21 joints ``(T, 21, 3)`` at ``fps``, as at
        training. The ``keysteps`` feature needs a dataset sample (its keyframes) and is refused here."""
        if "keysteps" in self.spec.pose:
            raise AQAError(
                f"{self.run}: the run's pose feature {self.spec.pose!r} needs a dataset sample's keyframes; "
                "encode_pose works on joints alone (stats, stgcn)"
            )
        if self._pose is None:
            self._pose = _pose_encoder(self.spec)
        return self._pose(joints, fps)

    def predict(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{"score": (N,) on the original scale, ["slot_probs": (N, S)]}`` from raw (unstandardised) features
        ``{key: (N, D)}``, one entry per key in :attr:`keys`. Features are standardised with the training
        split's mean/std; a value the extractor could not compute (NaN) is put at the training mean."""
        missing = [k for k in self.keys if k not in features]
        extra = sorted(set(features) - set(self.keys))
        if missing or extra:
            raise AQAError(
                f"{self.run}: the {self.action} model reads the features {list(self.keys)}; "
                f"missing {missing}, unexpected {extra}"
            )
        x = standardize({k: np.asarray(features[k]) for k in self.keys}, self.meta)
        x = {k: np.nan_to_num(v) for k, v in x.items()}
        n = len(next(iter(x.values())))
        pred = predict_arrays(self.model, {**x, "score": np.zeros(n, np.float32)}, self.meta)
        if "slot_probs" in pred:
            pred["slot_probs"] = pred["slot_probs"][:, : len(self.slots)]
        return pred


def load_predictor(run: str | Path, action) -> Predictor:
    """The predictor of ``action`` (any key the FKG accepts) in the frozen-feature run folder ``run``; raises
    :class:`~flexaqa.aqa.AQAError` when ``run`` is not an AQA run, is end to end, or has no model for it."""
    doc = read_run(run)
    if run_mode(doc) != "frozen":
        raise AQAError(
            f"{run}: an {run_mode(doc)} run reads video clips, not features; a predictor needs a run trained on "
            "cached features (flexaqa train without --end-to-end)"
        )
    act = load_kg().action(action)
    if act.slug not in doc.get("actions", []):
        raise AQAError(
            f"{run}: the run has no model for {act.name} ({act.slug}); it has {', '.join(doc['actions'])}"
        )
    model, meta = load_action_model(run, act.slug)
    return Predictor(str(run), act.slug, doc, meta, model, FeatureSpec.from_dict(doc["features"]))
