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

A run folder has the frozen mode's layout (``run.json`` with ``"mode": "end_to_end"``, per action
``config.yaml``, ``best.pt``, ``last.pt``, ``history.json``, ``meta.json``); the checkpoints hold the whole
model (encoders + adapters + head), so ``flexaqa eval``/``predict`` re-encode raw samples with them. The model
and its dataset live in :mod:`flexaqa.aqa._endtoend_model` and are re-exported here.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Sequence
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
from flexaqa.aqa.features import _check_views
from flexaqa.aqa.runs import (
    RUN_FORMAT,
    ActionData,
    _write_json,
    action_list,
    action_split,
    check_model,
    check_resume_mode,
    et_reports,
    fit_transform,
    model_args_for,
    needs_slots,
    prediction_item,
    read_run,
    resolve_split,
    score_metrics,
    slot_matrix,
    summarize,
)
from flexaqa.data import open_dataset
from flexaqa.train import RunConfig, config_from_dict
from flexaqa.train.checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from flexaqa.train.config import save_config
from flexaqa.train.distributed import init_distributed

__all__ = [
    "MODEL_NAME",
    "POSE_MODELS",
    "VIDEO_MODELS",
    "EndToEndAQA",
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


def resolve_device(device: str | None) -> str:
    """``auto`` (or None) -> ``cuda`` when a GPU is visible, else ``cpu``; refuses ``cuda`` without one."""
    device = device or "auto"
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AQAError(f"--device {device}: no CUDA GPU is visible to torch {torch.__version__}")
    return device


def _optimizer(model: EndToEndAQA, config) -> torch.optim.Optimizer:
    groups = [{"params": model.encoder_parameters(), "lr": config.encoder_lr, "name": "encoders"},
              {"params": model.head_parameters(), "lr": config.lr, "name": "head"}]  # fmt: skip
    groups = [g for g in groups if g["params"]]
    try:
        return torch.optim.Adam(groups, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch or an unsupported device
        return torch.optim.Adam(groups, weight_decay=config.weight_decay)


def fit_end_to_end(
    config, model: EndToEndAQA, train_ds, val_ds, *, val_true, meta: dict, run_dir=None, resume: bool = False,
    workers: int = 0, clip_grad: float = 5.0, amp: bool = True, desc: str = "",
):  # fmt: skip
    """Train ``model`` (encoders at ``config.encoder_lr``, head at ``config.lr``) and pick the epoch with the
    best validation ``config.select_metric`` (original score scale); returns a trainer ``FitResult``.

    AMP (bfloat16, or float16 with a grad scaler) on CUDA only; gradients clipped to ``clip_grad`` (0: off);
    ``run_dir`` gets ``config.yaml``, ``best.pt``, ``last.pt`` and ``history.json``; ``resume`` continues from
    ``last.pt``. Under ``torch.distributed`` the model is wrapped in DDP and each rank trains on its shard.
    """
    from tqdm.auto import tqdm

    from flexaqa.train.trainer import FitResult, _better, _dist

    rank, world = _dist()
    device = torch.device(config.device)
    model.to(device)
    opt = _optimizer(model, config)
    use_amp = bool(amp) and device.type == "cuda"
    dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and dtype == torch.float16)
    history, best, best_epoch, best_state, start = [], None, -1, None, 0
    run_dir = Path(run_dir) if run_dir is not None else None
    if run_dir is not None and resume and (run_dir / "last.pt").is_file():
        ckpt = load_checkpoint(run_dir / "last.pt")
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt.get("scaler", {}) or scaler.state_dict())
        history, best, best_epoch = ckpt["history"], ckpt["best"], ckpt["best_epoch"]
        best_state, start = ckpt["best_state_dict"], ckpt["epoch"] + 1
        restore_rng_state(ckpt["rng"], device)
    elif run_dir is not None and rank == 0:
        save_config(config, run_dir / "config.yaml")
    sampler = None
    if world > 1:
        sampler = torch.utils.data.distributed.DistributedSampler(train_ds, world, rank, seed=config.seed)
    train_dl = _loader(
        train_ds, config.batch_size, workers=workers, shuffle=True, seed=config.seed, sampler=sampler
    )
    bank_dl = _loader(train_ds, config.batch_size, workers=workers)  # row order
    val_dl = _loader(val_ds, config.batch_size, workers=workers)
    net = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    if model.needs_bank and start == 0:
        model.refresh_bank(bank_dl, device)
    params = model.encoder_parameters() + model.head_parameters()
    quiet = not config.progress or rank != 0
    for epoch in range(start, config.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        train_dl.generator.manual_seed(config.seed * 100_003 + epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        total, steps = 0.0, len(train_dl)
        opt.zero_grad(set_to_none=True)
        bar = tqdm(
            train_dl, desc=f"{desc} epoch {epoch + 1}/{config.epochs}".strip(), disable=quiet, leave=False
        )
        for step, batch in enumerate(bar):
            with torch.autocast(device.type, dtype=dtype, enabled=use_amp):
                out = net(_to(batch, device))
            scaler.scale(out["loss"].float() / config.grad_accum).backward()
            if (step + 1) % config.grad_accum == 0 or step + 1 == steps:
                if clip_grad > 0:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, clip_grad)
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
            total += float(out["loss"].detach())
            bar.set_postfix(loss=f"{total / (step + 1):.3f}")
        if model.needs_bank:
            model.refresh_bank(bank_dl, device)
        pred = _outputs(predict_loader(model, val_dl, device), meta)["score"]
        metrics = score_metrics(val_true, pred, meta["score_range"])
        row = {"epoch": epoch, "loss": total / max(steps, 1), **{f"val_{k}": v for k, v in metrics.items()},
               "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}  # fmt: skip
        history.append(row)
        if _better(config.select_metric, metrics, best):
            best, best_epoch = metrics, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            if run_dir is not None and rank == 0:
                save_checkpoint(run_dir / "best.pt", model, config=config, epoch=epoch, best=best)
        if rank == 0 and not quiet:
            tqdm.write(f"{desc} epoch {epoch + 1}: loss {row['loss']:.4f}  val rho {metrics['spearman']:.4f}  "
                       f"R-l2 {metrics['rl2']:.3f}  ({row['seconds']:.1f} s)")  # fmt: skip
        if run_dir is not None and rank == 0:
            save_checkpoint(
                run_dir / "last.pt", model, config=config, optimizer=opt.state_dict(), scaler=scaler.state_dict(),
                epoch=epoch, history=history, best=best, best_epoch=best_epoch, best_state_dict=best_state, rng=rng_state(device),
            )  # fmt: skip
            _write_json(run_dir / "history.json", history)
    if best_state is not None:
        model.load_state_dict(best_state)
    return FitResult(model=model.eval(), best_epoch=best_epoch, best=best or {}, history=history)


def _scores(source, ids: Sequence[str], *, required: bool = True) -> np.ndarray:
    s = [source.record(i).score for i in ids]
    if required and any(v is None for v in s):
        bad = next(i for i, v in zip(ids, s, strict=True) if v is None)
        raise AQAError(f"sample {bad} has no score; training and evaluation need scored samples")
    return np.array([np.nan if v is None else v for v in s], dtype=np.float64)


def build_model(model: str, variant: str, spec: EndToEndSpec, action: str, model_args: dict | None = None):
    """An :class:`EndToEndAQA` for ``model`` (head) x ``variant`` x ``spec`` (loads the spec's weights)."""
    from flexaqa.models import create_model, load_i3d_weights, load_stgcn_weights

    keys = check_model(model, variant)
    width = {}
    if any(k in VIDEO_KEYS for k in keys):
        width.update(dict.fromkeys(VIDEO_KEYS, create_model(spec.video).feature_dim))
    if "pose" in keys:
        width["pose"] = create_model(spec.pose).feature_dim
    width["emg"] = 2
    probe = ActionData(action, {}, {"train": {k: np.zeros((1, width[k]), np.float32) for k in keys}}, {})
    head_args = model_args_for(model, variant, probe, model_args)
    net = EndToEndAQA(head=model, head_args=head_args, keys=keys, video=spec.video if any(
        k in VIDEO_KEYS for k in keys) else None, pose=spec.pose if "pose" in keys else None)  # fmt: skip
    if net.video_encoder is not None and spec.video_weights:
        if not spec.video.startswith("i3d"):
            raise AQAError("--video-weights loads Kinetics I3D weights: use it with --video i3d")
        load_i3d_weights(net.video_encoder, spec.video_weights)
    if net.pose_encoder is not None and spec.pose_weights:
        load_stgcn_weights(net.pose_encoder, spec.pose_weights, keep_head=False)
    return net


def train_end_to_end(
    data: str | Path, *, out: str | Path, model: str = "core_gart", variant: str = "mv+pose+emg",
    action: str = "all", split: str = "auto", config=None, spec: EndToEndSpec | None = None,
    resume: bool = False, progress: bool = True, workers: int = 0, clip_grad: float = 5.0, amp: bool = True,
    cache_mb: float = 1024.0,
) -> dict:  # fmt: skip
    """Fine-tune encoders + ``model`` end to end, one model per action; returns ``{action: test metrics}``.

    Same split, validation carving, score normalisation and run layout as :func:`flexaqa.aqa.runs.train_run`;
    ``config.device`` may be ``auto``. The best epoch is picked on validation, never on test.
    """
    from flexaqa.train.trainer import seed_everything

    keys = check_model(model, variant)
    config = config or RunConfig()
    spec = spec or EndToEndSpec()
    rank, world = init_distributed()
    device = resolve_device(config.device)
    if world > 1 and device == "cuda":
        device = f"cuda:{torch.cuda.current_device()}"
    source = open_dataset(data)
    _check_views(source, spec, keys)
    protocol, splits = resolve_split(source, split, seed=config.seed)
    actions = action_list(source, action)
    out = Path(out)
    if resume:
        check_resume_mode(out, "end_to_end")
    opts = {"workers": int(workers), "clip_grad": float(clip_grad), "amp": bool(amp), "device": device,
            "cache_mb": float(cache_mb)}  # fmt: skip
    if rank == 0:
        _write_json(out / "run.json", {
            "format": RUN_FORMAT, "mode": "end_to_end", "data": str(Path(data).resolve()), "layout": source.layout,
            "model": model, "variant": variant, "split": protocol, "split_seed": config.seed,
            "end_to_end": {**spec.to_dict(), **opts}, "actions": actions, "config": config.to_dict(),
        })  # fmt: skip
    results = {}
    for act in actions:
        ids = action_split(source, splits, act, seed=config.seed, protocol=protocol)
        if not ids["test"]:
            raise AQAError(f"action {act}: the {protocol} split has no test samples")
        slots = None
        if needs_slots(model):
            slots = {k: slot_matrix(source, ids[k], act) for k in ids}
        scores = {k: _scores(source, ids[k]) for k in ids}
        ad = ActionData(act, ids, {k: {} for k in ids}, scores, slots, keys)
        arrays, meta = fit_transform(ad, normalize=not needs_slots(model))
        cfg = config.to_dict()
        cfg.update(device=device, score_range=[0.0, 100.0] if meta["normalized"] else meta["score_range"])
        seed_everything(config.seed)
        net = build_model(model, variant, spec, act, config.model_args)
        cfg.update(model=model, model_args=net.model_args["head_args"])
        cfg = config_from_dict(cfg)

        def dataset(k, arrays=arrays, ids=ids):
            a = arrays[k]
            return RawAQADataset(source, ids[k], keys=keys, spec=spec, scores=a["score"], slots=a.get("slots"),
                                 cache_mb=cache_mb if k != "test" else 0.0)  # fmt: skip

        res = fit_end_to_end(
            cfg, net, dataset("train"), dataset("val"), val_true=scores["val"], meta=meta, run_dir=out / act,
            resume=resume, workers=workers, clip_grad=clip_grad, amp=amp, desc=act,
        )  # fmt: skip
        test_dl = _loader(dataset("test"), cfg.batch_size, workers=workers)
        pred = _outputs(predict_loader(res.model, test_dl, torch.device(device)), meta)
        metrics = score_metrics(scores["test"], pred["score"], meta["score_range"])
        secs = [h["seconds"] for h in res.history]
        metrics.update(
            best_epoch=res.best_epoch, val=res.best, seconds_per_epoch=float(np.mean(secs)) if secs else None
        )
        results[act] = metrics
        if rank == 0:
            _write_json(out / act / "meta.json", {**meta, "mode": "end_to_end", "variant": variant, "model": model,
                                                 "split": protocol, "ids": ids, "keys": list(keys), "test": metrics})  # fmt: skip
    if rank == 0:
        _write_json(out / "train_results.json", {"per_action": results, "summary": summarize(results)})
    return results


# ----------------------------------------------------------------------------------------------- eval/predict


# Training options stored beside the spec in run.json's "end_to_end" section (see train_end_to_end).
_TRAINING_OPTIONS = ("workers", "clip_grad", "amp", "device", "cache_mb")


def _saved_spec(doc: dict) -> EndToEndSpec:
    """The run's spec; the starting weights files are not needed any more (the checkpoints hold the weights)."""
    spec = {
        k: v for k, v in doc["end_to_end"].items() if k not in _TRAINING_OPTIONS
    }  # the rest: from_dict checks
    return EndToEndSpec.from_dict({**spec, "video_weights": None, "pose_weights": None})


def _action_model(run: Path, action: str):
    d = run / action
    if not (d / "best.pt").is_file() or not (d / "meta.json").is_file():
        raise AQAError(f"{d}: action {action} has no trained model (best.pt and meta.json)")
    return load_end_to_end(d / "best.pt"), json.loads((d / "meta.json").read_text(encoding="utf-8"))


def eval_end_to_end(run: str | Path, *, data=None, split: str = "test", progress: bool = True) -> dict:
    """:func:`flexaqa.aqa.runs.eval_run` for an end-to-end run: re-encodes the raw samples of ``split`` with
    the fine-tuned encoders. Writes ``eval.json`` in the run."""
    doc = read_run(run)
    run = Path(run)
    source = open_dataset(data or doc["data"])
    spec = _saved_spec(doc)
    device = torch.device(resolve_device("auto"))
    per_action, truth, probs, acts = {}, [], [], []
    for act in doc["actions"]:
        model, meta = _action_model(run, act)
        ids = meta["ids"][split]
        if not ids:
            raise AQAError(f"action {act}: the run's {split} split is empty")
        true = _scores(source, ids)
        ds = RawAQADataset(source, ids, keys=meta["keys"], spec=spec)
        raw = predict_loader(model.to(device), _loader(ds, 8), device, progress=progress)
        pred = _outputs(raw, meta)
        per_action[act] = score_metrics(true, pred["score"], meta["score_range"])
        if "slot_probs" in pred and getattr(source, "annotation", None) is not None:
            slots = slot_matrix(source, ids, act)
            truth.append(slots)
            probs.append(pred["slot_probs"][:, : slots.shape[1]])
            acts.append(act)
    result = {"run": str(run), "split": split, "mode": "end_to_end", "per_action": per_action,
              "summary": summarize(per_action)}  # fmt: skip
    if acts:
        result["errors"] = et_reports(truth, probs, acts)
    _write_json(run / "eval.json", result)
    return result


def predict_end_to_end(
    run: str | Path, samples: Sequence[str], *, data=None, threshold: float = 0.5
) -> list[dict]:
    """:func:`flexaqa.aqa.runs.predict_samples` for an end-to-end run (same item layout)."""
    doc = read_run(run)
    source = open_dataset(data or doc["data"])
    spec = _saved_spec(doc)
    device = torch.device(resolve_device("auto"))
    models: dict[str, tuple] = {}
    out = []
    for sid in samples:
        rec = source.record(sid)
        if rec.action not in doc["actions"]:
            raise AQAError(
                f"sample {sid} is a {rec.action}; the run has models for {', '.join(doc['actions'])}"
            )
        if rec.action not in models:
            model, meta = _action_model(Path(run), rec.action)
            models[rec.action] = (model.to(device), meta)
        model, meta = models[rec.action]
        ds = RawAQADataset(source, [sid], keys=meta["keys"], spec=spec)
        pred = _outputs(predict_loader(model, _loader(ds, 1), device), meta)
        item = prediction_item(rec, pred, model.head, threshold)
        if not math.isfinite(item["score"]):
            raise AQAError(f"sample {sid}: the model gave a non-finite score")
        out.append(item)
    return out
