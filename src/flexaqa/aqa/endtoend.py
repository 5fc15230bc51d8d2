"""End-to-end fine-tuning: the encoders train jointly with the scoring head from raw samples.

The frozen mode (:mod:`flexaqa.aqa.runs`) encodes every sample once into the feature cache and trains only the
head. Here :class:`EndToEndAQA` puts trainable encoders — one video encoder shared by the two views
(``small3d`` or ``i3d``), ``stgcn`` for pose — in front of the very same registry head (``core_gart``,
``usdl``, ``error_aware``); the EMG feature stays the fixed relative muscle contribution (2-d, nothing to
train). A linear adapter maps an encoder's width to the head's input width only when the two differ (the
``*_tiny`` heads). Pose statistics (``--pose stats``) are a fixed function with nothing to fine-tune: they
are refused here (use ``stgcn``, or the frozen mode).

CoRe + GART keeps its exemplar bank of fused features in the head's buffers (:meth:`CoReGART.prepare`). With
trainable encoders the bank goes stale, so it is rebuilt with the current encoders (eval mode, no gradients)
before the first epoch and after every epoch, before validation: a training pair pairs the query's live
features with a detached bank row, so gradients reach the encoders through the query side only (half the
activation memory of encoding both sides each step). Pairing, groups, voting and losses are the head's own.

This module is the end-to-end :class:`~flexaqa.aqa.protocol.Mode` (:class:`EndToEndMode`) of the one protocol
runner; the training steps are :func:`flexaqa.train.trainer.train_loop` (AMP, gradient clipping and the
encoder learning rate are its options; the bank refresh is one of its hooks).

A run folder has the frozen mode's layout (``run.json`` with ``"mode": "end_to_end"``, per action
``config.yaml``, ``best.pt``, ``last.pt``, ``history.json``, ``meta.json``); the checkpoints hold the whole
model (encoders + adapters + head), so ``flexaqa eval``/``predict`` re-encode raw samples with them. The model
and its dataset live in :mod:`flexaqa.aqa._endtoend_model` and are re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flexaqa.aqa import AQAError
from flexaqa.aqa._endtoend_model import (
    MODEL_NAME,
    POSE_MODELS,
    VIDEO_KEYS,
    VIDEO_MODELS,
    EndToEndAQA,
    EndToEndSpec,
    RawAQADataset,
    _loader,
    _outputs,
    _to,
    load_end_to_end,
    predict_loader,
)
from flexaqa.aqa.extract import resolve_device
from flexaqa.aqa.features import _check_views
from flexaqa.aqa.protocol import (
    ActionData,
    check_model,
    eval_actions,
    model_args_for,
    needs_slots,
    predict_actions,
    random_init_encoders,
    read_run,
    score_metrics,
    slot_matrix,
    train_actions,
)
from flexaqa.models import create_model, load_i3d_weights, load_stgcn_weights
from flexaqa.train import RunConfig, config_from_dict
from flexaqa.train.distributed import init_distributed
from flexaqa.train.trainer import LoopHooks, LoopOptions, rank_and_world, seed_everything, train_loop

__all__ = [
    "MODEL_NAME",
    "POSE_MODELS",
    "VIDEO_MODELS",
    "EndToEndAQA",
    "EndToEndMode",
    "EndToEndSpec",
    "RawAQADataset",
    "build_model",
    "eval_end_to_end",
    "fit_end_to_end",
    "load_end_to_end",
    "predict_end_to_end",
    "predict_loader",
    "resolve_device",
    "train_end_to_end",
]

# ----------------------------------------------------------------------------------------------- training


class _OnDevice:
    """A loader whose batches arrive on ``device``. An iterable, not an iterator: ``tqdm.auto`` opens an
    iterator of it when the epoch's bar is made (one draw from the loader's generator) and the loop opens
    another; the shuffle order of every epoch, and so every result, depends on that."""

    def __init__(self, loader, device):
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        return (_to(batch, self.device) for batch in self.loader)


def fit_end_to_end(
    config,
    model: EndToEndAQA,
    train_ds,
    val_ds,
    *,
    val_true,
    meta: dict,
    run_dir=None,
    resume: bool = False,
    workers: int = 0,
    clip_grad: float = 5.0,
    amp: bool = True,
    desc: str = "",
):
    """Train ``model`` (encoders at ``config.encoder_lr``, head at ``config.lr``) and pick the epoch with the
    best validation ``config.select_metric`` (original score scale); returns a trainer ``FitResult``.

    :func:`~flexaqa.train.trainer.train_loop` with AMP (bfloat16, or float16 with a grad scaler; CUDA only),
    gradients clipped to ``clip_grad`` (0: off) and, for CoRe, the exemplar bank rebuilt with the current
    encoders before the first epoch and after every epoch (its hooks). ``run_dir`` and ``resume`` are the
    loop's; under ``torch.distributed`` each rank trains on its shard.
    """
    rank, world = rank_and_world()
    device = torch.device(config.device)
    model.to(device)
    sampler = None
    if world > 1:
        sampler = torch.utils.data.distributed.DistributedSampler(train_ds, world, rank, seed=config.seed)
    train_dl = _loader(
        train_ds, config.batch_size, workers=workers, shuffle=True, seed=config.seed, sampler=sampler
    )
    bank_dl = _loader(train_ds, config.batch_size, workers=workers)  # row order
    val_dl = _loader(val_ds, config.batch_size, workers=workers)

    def batches(epoch: int):
        train_dl.generator.manual_seed(config.seed * 100_003 + epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        return _OnDevice(train_dl, device)

    def validate(m) -> dict:
        pred = _outputs(predict_loader(m, val_dl, device), meta)["score"]
        return score_metrics(val_true, pred, meta["score_range"])

    refresh = (lambda m: m.refresh_bank(bank_dl, device)) if model.needs_bank else None
    return train_loop(
        config,
        model,
        batches=batches,
        steps=len(train_dl),
        validate=validate,
        run_dir=run_dir,
        resume=resume,
        options=LoopOptions(amp=amp, clip_grad=clip_grad, desc=desc, per_epoch_bar=True, timing=True),
        hooks=LoopHooks(on_fresh_start=refresh, before_validation=refresh),
    )


def _scores(source, ids: Sequence[str], *, required: bool = True) -> np.ndarray:
    s = [source.record(i).score for i in ids]
    if required and any(v is None for v in s):
        bad = next(i for i, v in zip(ids, s, strict=True) if v is None)
        raise AQAError(f"sample {bad} has no score; training and evaluation need scored samples")
    return np.array([np.nan if v is None else v for v in s], dtype=np.float64)


def build_model(model: str, variant: str, spec: EndToEndSpec, action: str, model_args: dict | None = None):
    """An :class:`EndToEndAQA` for ``model`` (head) x ``variant`` x ``spec`` (loads the spec's weights)."""
    keys = check_model(model, variant)
    width = {}
    if any(k in VIDEO_KEYS for k in keys):
        width.update(dict.fromkeys(VIDEO_KEYS, create_model(spec.video).feature_dim))
    if "pose" in keys:
        width["pose"] = create_model(spec.pose).feature_dim
    width["emg"] = 2
    probe = ActionData(action, {}, {"train": {k: np.zeros((1, width[k]), np.float32) for k in keys}}, {})
    head_args = model_args_for(model, variant, probe, model_args)
    net = EndToEndAQA(
        head=model,
        head_args=head_args,
        keys=keys,
        video=spec.video if any(k in VIDEO_KEYS for k in keys) else None,
        pose=spec.pose if "pose" in keys else None,
    )
    if net.video_encoder is not None and spec.video_weights:
        if not spec.video.startswith("i3d"):
            raise AQAError("--video-weights loads Kinetics I3D weights: use it with --video i3d")
        load_i3d_weights(net.video_encoder, spec.video_weights)
    if net.pose_encoder is not None and spec.pose_weights:
        load_stgcn_weights(net.pose_encoder, spec.pose_weights, keep_head=False)
    return net


@dataclass
class EndToEndMode:
    """Encoders fine-tuned with the head from raw samples (:class:`~flexaqa.aqa.protocol.Mode`)."""

    spec: EndToEndSpec
    device: str = "cpu"
    workers: int = 0
    clip_grad: float = 5.0
    amp: bool = True
    cache_mb: float = 1024.0
    name: str = "end_to_end"

    def settings(self) -> dict:
        opts = {
            "workers": int(self.workers),
            "clip_grad": float(self.clip_grad),
            "amp": bool(self.amp),
            "device": self.device,
            "cache_mb": float(self.cache_mb),
        }
        return {"end_to_end": {**self.spec.to_dict(), **opts}}

    def random_init(self, keys) -> list[str]:
        s = self.spec
        return random_init_encoders(s.video, s.video_weights, s.pose, s.pose_weights, keys)

    def check(self, source, keys) -> None:
        _check_views(source, self.spec, keys)

    def prepare(self, source, ids, action, *, model, keys, progress) -> ActionData:
        slots = {k: slot_matrix(source, ids[k], action) for k in ids} if needs_slots(model) else None
        scores = {k: _scores(source, ids[k]) for k in ids}
        return ActionData(action, ids, {k: {} for k in ids}, scores, slots, keys)

    def _dataset(self, source, data: ActionData, split: str, arrays: dict) -> RawAQADataset:
        a = arrays[split]
        return RawAQADataset(
            source,
            data.ids[split],
            keys=data.keys,
            spec=self.spec,
            scores=a["score"],
            slots=a.get("slots"),
            cache_mb=self.cache_mb if split != "test" else 0.0,
        )

    def fit(self, config, source, data, arrays, meta, *, model, variant, run_dir, resume):
        cfg = config.to_dict()
        cfg.update(
            device=self.device, score_range=[0.0, 100.0] if meta["normalized"] else meta["score_range"]
        )
        seed_everything(config.seed)
        net = build_model(model, variant, self.spec, data.action, config.model_args)
        cfg.update(model=model, model_args=net.model_args["head_args"])
        cfg = config_from_dict(cfg)
        res = fit_end_to_end(
            cfg,
            net,
            self._dataset(source, data, "train", arrays),
            self._dataset(source, data, "val", arrays),
            val_true=data.scores["val"],
            meta=meta,
            run_dir=run_dir,
            resume=resume,
            workers=self.workers,
            clip_grad=self.clip_grad,
            amp=self.amp,
            desc=data.action,
        )
        return res, cfg

    def fit_metrics(self, result) -> dict:
        secs = [h["seconds"] for h in result.history]
        return {"seconds_per_epoch": float(np.mean(secs)) if secs else None}

    def predict(self, fitted, source, data, split, arrays, meta, *, batch_size, progress=False) -> dict:
        if arrays is not None:  # right after training: the training run's loader settings
            loader = _loader(self._dataset(source, data, split, arrays), batch_size, workers=self.workers)
        else:
            loader = _loader(
                RawAQADataset(source, data.ids[split], keys=meta["keys"], spec=self.spec), batch_size
            )
        device = torch.device(self.device)
        return _outputs(predict_loader(fitted.to(device), loader, device, progress=progress), meta)

    def load(self, run, action):
        d = Path(run) / action
        if not (d / "best.pt").is_file() or not (d / "meta.json").is_file():
            raise AQAError(f"{d}: action {action} has no trained model (best.pt and meta.json)")
        return load_end_to_end(d / "best.pt"), json.loads((d / "meta.json").read_text(encoding="utf-8"))

    def load_split(self, source, ids, action, meta, *, require_scores, progress) -> ActionData:
        scores = {"test": _scores(source, ids, required=require_scores)}
        return ActionData(action, {"train": [], "val": [], "test": list(ids)}, {"test": {}}, scores)

    def head(self, model):
        return model.head

    @classmethod
    def from_run(cls, doc: dict) -> EndToEndMode:
        return cls(_saved_spec(doc), device=resolve_device("auto"))


def _saved_spec(doc: dict) -> EndToEndSpec:
    """The run's spec; the starting weights files are not needed any more (the checkpoints hold the weights)."""
    options = ("workers", "clip_grad", "amp", "device", "cache_mb")  # EndToEndMode.settings beside the spec
    spec = {k: v for k, v in doc["end_to_end"].items() if k not in options}  # the rest: from_dict checks
    return EndToEndSpec.from_dict({**spec, "video_weights": None, "pose_weights": None})


def train_end_to_end(
    data: str | Path,
    *,
    out: str | Path,
    model: str = "core_gart",
    variant: str = "mv+pose+emg",
    action: str = "all",
    split: str = "auto",
    config=None,
    spec: EndToEndSpec | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    workers: int = 0,
    clip_grad: float = 5.0,
    amp: bool = True,
    cache_mb: float = 1024.0,
) -> dict:
    """Fine-tune encoders + ``model`` end to end, one model per action; returns ``{action: test metrics}``.

    Same runner, split, validation carving, score normalisation and run layout as
    :func:`flexaqa.aqa.runs.train_run`; ``config.device`` may be ``auto``. The best epoch is picked on
    validation, never on test.
    """
    config = config or RunConfig()
    _, world = init_distributed()
    device = resolve_device(config.device)
    if world > 1 and device == "cuda":
        device = f"cuda:{torch.cuda.current_device()}"
    mode = EndToEndMode(
        spec or EndToEndSpec(),
        device=device,
        workers=int(workers),
        clip_grad=float(clip_grad),
        amp=bool(amp),
        cache_mb=float(cache_mb),
    )
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


def eval_end_to_end(run: str | Path, *, data=None, split: str = "test", progress: bool = True) -> dict:
    """:func:`flexaqa.aqa.runs.eval_run` for an end-to-end run: re-encodes the raw samples of ``split`` with
    the fine-tuned encoders. Writes ``eval.json`` in the run."""
    return eval_actions(EndToEndMode.from_run(read_run(run)), run, data=data, split=split, progress=progress)


def predict_end_to_end(run: str | Path, samples, *, data=None, threshold: float = 0.5) -> list[dict]:
    """:func:`flexaqa.aqa.runs.predict_samples` for an end-to-end run (same item layout)."""
    mode = EndToEndMode.from_run(read_run(run))
    return predict_actions(mode, run, samples, data=data, threshold=threshold)
