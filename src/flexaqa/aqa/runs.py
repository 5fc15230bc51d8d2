"""The frozen-feature mode of the AQA protocol and the public train / eval / predict entry points.

The frozen mode encodes every sample once into the feature cache (:mod:`flexaqa.aqa.features`) and trains only
the scoring head on the cached, standardised features; :class:`FrozenMode` is its :class:`~flexaqa.aqa.protocol.Mode`
for the one runner in :mod:`flexaqa.aqa.protocol`. :func:`eval_run` and :func:`predict_samples` read the run's
``mode`` and hand end-to-end runs (:mod:`flexaqa.aqa.endtoend`) to that mode. The protocol's shared pieces
(splits, standardisation, metrics, the run folder) live in :mod:`flexaqa.aqa.protocol` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flexaqa.aqa import AQAError
from flexaqa.aqa.features import FeatureSpec, check_feature_keys, extract_features
from flexaqa.aqa.protocol import (
    RUN_FORMAT,
    VAL_FRACTION,
    ActionData,
    RandomInitWarning,
    action_list,
    action_split,
    check_model,
    check_resume_mode,
    check_run_folder,
    et_reports,
    eval_actions,
    fit_transform,
    from_model_scale,
    load_action_meta,
    model_args_for,
    needs_slots,
    predict_actions,
    prediction_item,
    prediction_records,
    random_init_encoders,
    read_run,
    resolve_split,
    run_mode,
    score_metrics,
    slot_matrix,
    standardize,
    summarize,
    to_model_scale,
    train_actions,
    transform,
)
from flexaqa.train import RunConfig, config_from_dict
from flexaqa.train.checkpoint import model_from_checkpoint
from flexaqa.train.distributed import on_rank_zero
from flexaqa.train.trainer import fit, predict

__all__ = [
    "RUN_FORMAT",
    "VAL_FRACTION",
    "ActionData",
    "FrozenMode",
    "RandomInitWarning",
    "action_list",
    "action_split",
    "check_model",
    "check_resume_mode",
    "check_run_folder",
    "et_reports",
    "eval_run",
    "fit_transform",
    "from_model_scale",
    "load_action_data",
    "load_action_meta",
    "load_action_model",
    "mode_of_run",
    "model_args_for",
    "needs_slots",
    "predict_arrays",
    "predict_samples",
    "prediction_item",
    "prediction_records",
    "random_init_encoders",
    "read_run",
    "resolve_split",
    "run_mode",
    "run_split_ids",
    "score_metrics",
    "slot_matrix",
    "standardize",
    "summarize",
    "to_model_scale",
    "train_run",
    "transform",
]


def load_action_data(
    source,
    ids: dict[str, list[str]],
    action: str,
    spec: FeatureSpec,
    *,
    keys: Sequence[str],
    cache_root=None,
    with_slots: bool = False,
    progress: bool = True,
    require_scores: bool = True,
) -> ActionData:
    """Features of ``keys`` for every split of one action (extracting what the cache lacks)."""
    allids = [i for k in ("train", "val", "test") for i in ids[k]]
    feats = extract_features(source, allids, spec, keys=keys, cache_root=cache_root, progress=progress)
    scores = np.array([np.nan if source.record(i).score is None else source.record(i).score for i in allids])
    if require_scores and not np.isfinite(scores).all():
        bad = allids[int(np.flatnonzero(~np.isfinite(scores))[0])]
        raise AQAError(f"sample {bad} has no score; AQA training needs a score for every sample")
    slots = slot_matrix(source, allids, action) if with_slots else None
    out = ActionData(action, ids, {}, {}, {} if with_slots else None, tuple(keys))
    start = 0
    for k in ("train", "val", "test"):
        sl = slice(start, start + len(ids[k]))
        out.features[k] = {key: v[sl] for key, v in feats.items()}
        out.scores[k] = scores[sl].astype(np.float32)
        if slots is not None:
            out.slots[k] = slots[sl]
        start += len(ids[k])
    return out


def predict_arrays(model, arrays: dict, meta: dict) -> dict[str, np.ndarray]:
    """``{"score": original scale, ["slot_probs"]}`` of the model on one split's arrays."""
    out = predict(model, {k: v for k, v in arrays.items() if k != "slots"})
    res = {"score": from_model_scale(out["score"], meta)}
    if "slot_logits" in out:
        from scipy.special import expit  # a sigmoid that does not overflow on large logits

        res["slot_probs"] = expit(out["slot_logits"])
    return res


@dataclass
class FrozenMode:
    """Heads trained on cached frozen-encoder features (:class:`~flexaqa.aqa.protocol.Mode`)."""

    spec: FeatureSpec
    cache_root: str | Path | None = None
    name: str = "frozen"

    def settings(self) -> dict:
        root = None if self.cache_root is None else str(Path(self.cache_root).resolve())
        return {"features": self.spec.to_dict(), "cache_root": root}

    def random_init(self, keys) -> list[str]:
        s = self.spec
        return random_init_encoders(s.video, s.video_weights, s.pose, s.pose_weights, keys)

    def check(self, source, keys) -> None:
        check_feature_keys(source, self.spec, keys)  # a missing view fails before the run folder is touched

    def prepare(self, source, ids, action, *, model, keys, progress) -> ActionData:
        load = dict(keys=keys, cache_root=self.cache_root, with_slots=needs_slots(model), progress=progress)
        # rank 0 fills the feature cache (holding its lock) while the other ranks wait; then they only read it
        ad = on_rank_zero(load_action_data, source, ids, action, self.spec, **load)
        if ad is None:
            ad = load_action_data(source, ids, action, self.spec, **{**load, "progress": False})
        return ad

    def fit(self, config, source, data, arrays, meta, *, model, variant, run_dir, resume):
        cfg = config.to_dict()
        cfg.update(model=model, model_args=model_args_for(model, variant, data, config.model_args))
        cfg["score_range"] = [0.0, 100.0] if meta["normalized"] else meta["score_range"]
        cfg = config_from_dict(cfg)
        return fit(cfg, arrays["train"], arrays["val"], run_dir=run_dir, resume=resume), cfg

    def fit_metrics(self, result) -> dict:
        return {}

    def predict(self, fitted, source, data, split, arrays, meta, *, batch_size, progress=False) -> dict:
        a = arrays[split] if arrays is not None else transform(data, split, meta)
        if not np.isfinite(a["score"]).all():  # unscored samples (predict): the score input is unused
            a = {**a, "score": np.zeros(len(a["score"]), np.float32)}
        return predict_arrays(fitted, a, meta)

    def load(self, run, action):
        return load_action_model(run, action)

    def load_split(self, source, ids, action, meta, *, require_scores, progress) -> ActionData:
        return load_action_data(
            source,
            {"train": [], "val": [], "test": list(ids)},
            action,
            self.spec,
            keys=meta["keys"],
            cache_root=self.cache_root,
            progress=progress,
            require_scores=require_scores,
        )

    def head(self, model):
        return model

    @classmethod
    def from_run(cls, doc: dict) -> FrozenMode:
        return cls(FeatureSpec.from_dict(doc["features"]), doc.get("cache_root"))


def mode_of_run(doc: dict):
    """The :class:`~flexaqa.aqa.protocol.Mode` that trained a run (from its ``run.json``)."""
    if run_mode(doc) == "end_to_end":
        # torch-heavy, so imported here; endtoend imports only the protocol, never this module
        from flexaqa.aqa.endtoend import EndToEndMode

        return EndToEndMode.from_run(doc)
    return FrozenMode.from_run(doc)


# ----------------------------------------------------------------------------------------------- train


def train_run(
    data: str | Path,
    *,
    out: str | Path,
    model: str = "core_gart",
    variant: str = "mv+pose+emg",
    action: str = "all",
    split: str = "auto",
    config=None,
    spec: FeatureSpec | None = None,
    cache_root: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Train one ``model`` per action on frozen cached features; returns ``{action: test metrics}``.

    ``config`` is a :class:`~flexaqa.train.RunConfig` (model name and arguments are filled in here); its seed
    also seeds the split. ``force`` replaces another run in ``out`` (see
    :func:`~flexaqa.aqa.protocol.check_run_folder`). Under ``torchrun`` rank 0 extracts the features first and
    writes the files.
    """
    config = config or RunConfig()
    mode = FrozenMode(spec or FeatureSpec(seed=config.seed), cache_root)
    return train_actions(
        mode,
        data,
        out=out,
        model=model,
        variant=variant,
        action=action,
        split=split,
        config=config,
        resume=resume,
        force=force,
        progress=progress,
    )


# ----------------------------------------------------------------------------------------------- eval/predict


def load_action_model(run: str | Path, action: str):
    """``(model, meta)`` of one trained action of a run (best validation weights)."""
    d = Path(run) / action
    if not (d / "best.pt").is_file() or not (d / "meta.json").is_file():
        raise AQAError(f"{d}: action {action} has no trained model (best.pt and meta.json)")
    return model_from_checkpoint(d / "best.pt"), load_action_meta(run, action)


def run_split_ids(run: str | Path, split: str) -> list[str]:
    """Every sample id of ``split`` (train, val, test or all) over the run's actions, as the run saw them."""
    doc = read_run(run)
    names = ("train", "val", "test") if split == "all" else (split,)
    if not set(names) <= {"train", "val", "test"}:
        raise AQAError(f"split must be train, val, test or all, got {split!r}")
    ids: list[str] = []
    for action in doc["actions"]:
        meta = load_action_meta(run, action)
        ids += [i for name in names for i in meta["ids"][name]]
    return ids


def eval_run(run: str | Path, *, data=None, split: str = "test", progress: bool = True) -> dict:
    """Per-action ρ and R-ℓ2 (x100, training range) on ``split``, their Fisher-z / mean summary and, for
    error-aware models, per-error-type precision/recall/F1, for a run of either mode. Writes ``eval.json``."""
    return eval_actions(mode_of_run(read_run(run)), run, data=data, split=split, progress=progress)


def predict_samples(
    run: str | Path, samples: Sequence[str], *, data=None, threshold: float = 0.5
) -> list[dict]:
    """Score of each sample id with the run's model for its action; error-aware runs add the predicted
    (keystep, error) slots with their feedback (:meth:`ErrorAwareAQA.explain`)."""
    return predict_actions(mode_of_run(read_run(run)), run, samples, data=data, threshold=threshold)
