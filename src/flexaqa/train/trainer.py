"""A generic trainer over in-memory feature tensors: features dict per sample -> model -> loss.

It knows nothing about datasets: give it ``train`` and ``val`` dicts of equal-length arrays (the keys the
model reads plus ``score``, and ``slots`` for error-aware models). The best epoch is chosen on ``val``
(never on a test split). Under ``torch.distributed`` (gloo on CPU, nccl on GPU) each rank trains on its
shard of every epoch and DDP averages the gradients, so all ranks end with the same weights.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from flexaqa._io import atomic_write_text, json_text
from flexaqa.errors import FlexaqaError
from flexaqa.metrics import micro_f1_score, relative_l2_error, spearman_score
from flexaqa.train.checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from flexaqa.train.config import RunConfig, save_config

Batch = dict[str, torch.Tensor]


class TrainError(FlexaqaError, ValueError):
    """Training inputs that cannot work: ragged splits, too few samples for the processes, ..."""


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (the global RNGs; only the trainer calls this, never a dataset)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_tensors(data: Mapping, device: str | torch.device = "cpu") -> Batch:
    """numpy arrays (or tensors) -> tensors on ``device``; floats become float32."""
    out = {}
    for key, value in data.items():
        t = torch.as_tensor(value)
        out[key] = (t.float() if t.is_floating_point() else t).to(device)
    return out


def _rows(data: Batch, idx: torch.Tensor) -> Batch:
    return {k: v[idx] for k, v in data.items()}


def _size(data: Batch) -> int:
    sizes = {k: len(v) for k, v in data.items()}
    if len(set(sizes.values())) != 1:
        raise TrainError(f"all arrays of a split must have one length, got {sizes}")
    return next(iter(sizes.values()))


@torch.no_grad()
def predict(model, data: Mapping, *, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Run ``model`` in eval mode over ``data``; returns every per-sample output as numpy, concatenated."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    data = to_tensors(data, device)
    n, parts = _size(data), {}
    for start in range(0, n, batch_size):
        out = model(_rows(data, torch.arange(start, min(n, start + batch_size), device=device)))
        for k, v in out.items():
            if v.ndim >= 1 and v.shape[0] == min(batch_size, n - start):
                parts.setdefault(k, []).append(v.detach().cpu().numpy())
    model.train(was_training)
    return {k: np.concatenate(v) for k, v in parts.items()}


def evaluate(model, data: Mapping, *, score_range=(0.0, 100.0), batch_size: int = 64) -> dict[str, float]:
    """Spearman ρ and R-ℓ2 (x100, over the explicit ``score_range``) of the model's scores on ``data``;
    plus ``slot_micro_f1`` for models that predict error slots."""
    out = predict(model, data, batch_size=batch_size)
    true = np.asarray(data["score"], dtype=float)
    metrics = {
        "spearman": spearman_score(true, out["score"]),
        "rl2": relative_l2_error(true, out["score"], score_range=score_range, percent=True),
        "n": len(true),
    }
    if "slot_logits" in out and "slots" in data:  # error-aware models: pooled F1 of the slot decisions
        logits = out["slot_logits"]
        slots = np.asarray(data["slots"], dtype=float)[:, : logits.shape[1]]
        metrics["slot_micro_f1"] = micro_f1_score(slots, logits, threshold=0.0)  # logit 0 = probability 0.5
    return metrics


@dataclass
class FitResult:
    model: torch.nn.Module  # with the best validation weights loaded
    best_epoch: int
    best: dict[str, float]
    history: list[dict] = field(default_factory=list)


def _better(metric: str, new: dict, old: dict | None) -> bool:
    if old is None:
        return True
    if metric == "spearman":
        return new["spearman"] > old["spearman"] or (
            new["spearman"] == old["spearman"] and new["rl2"] < old["rl2"]
        )
    return new["rl2"] < old["rl2"]


def make_optimizer(model, config: RunConfig) -> torch.optim.Optimizer:
    """Adam over the trainable parameters, fused when the device supports it (about 10x faster per step on CPU
    for the heads). A model with ``encoder_parameters()``/``head_parameters()`` (end-to-end fine-tuning) gets
    two groups: its encoders at ``config.encoder_lr``, its head at ``config.lr``."""
    if hasattr(model, "encoder_parameters"):
        groups = [
            {"params": model.encoder_parameters(), "lr": config.encoder_lr, "name": "encoders"},
            {"params": model.head_parameters(), "lr": config.lr, "name": "head"},
        ]
        groups = [g for g in groups if g["params"]]
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": config.lr}]
    try:
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch or an unsupported device
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)


def rank_and_world():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


@dataclass
class LoopOptions:
    """How :func:`train_loop` steps: mixed precision, gradient clipping, progress display."""

    amp: bool = False  # bfloat16 (or float16 with a grad scaler) autocast on CUDA; never used on CPU
    clip_grad: float = 0.0  # clip the gradient norm to this (0: off)
    desc: str = ""  # progress-bar label
    per_epoch_bar: bool = False  # a bar over each epoch's batches and one line per epoch (slow epochs)
    timing: bool = False  # add wall and CPU seconds to every history row


@dataclass
class LoopHooks:
    """Calls at fixed points of :func:`train_loop` (each gets the unwrapped model)."""

    on_fresh_start: Callable[[torch.nn.Module], None] | None = None  # before the first epoch of a new run
    before_validation: Callable[[torch.nn.Module], None] | None = None  # after each epoch's last step


# settings a resumed run may differ in: where it runs and how it shows progress; epochs may only grow
RESUME_FREE = ("progress", "device")


def check_resume_config(saved: Mapping, config: RunConfig, *, done_epochs: int, where) -> None:
    """Refuse to resume a run whose saved config differs from ``config`` in anything but :data:`RESUME_FREE`
    and a larger ``epochs`` (the old state would continue under settings it was not trained with)."""
    new = config.to_dict()
    diff = [k for k in new if k not in (*RESUME_FREE, "epochs") and saved.get(k) != new[k]]
    if diff:
        k = diff[0]
        raise TrainError(
            f"{where}: --resume continues a run with its own settings, but {k} is {saved.get(k)!r} there and "
            f"{new[k]!r} now; resume with the same settings, train into a new folder, or start over with --force"
        )
    if config.epochs < done_epochs:
        raise TrainError(
            f"{where}: --resume with epochs={config.epochs}, but {done_epochs} epochs are already trained; "
            "give epochs >= that, or start over with --force"
        )


def train_loop(
    config: RunConfig,
    model: torch.nn.Module,
    *,
    batches: Callable[[int], Iterable[Batch]],
    steps: int,
    validate: Callable[[torch.nn.Module], dict],
    run_dir: str | Path | None = None,
    resume: bool = False,
    options: LoopOptions | None = None,
    hooks: LoopHooks | None = None,
) -> FitResult:
    """The one training loop: ``config.epochs`` epochs of ``steps`` optimiser micro-steps over
    ``batches(epoch)`` (batches on the model's device; ``model(batch)["loss"]``), ``validate(model)`` after
    every epoch, the best epoch by ``config.select_metric`` (never chosen on test).

    With ``run_dir``: ``config.yaml``, ``last.pt`` every epoch (weights, optimiser, grad scaler, RNG, history,
    best weights), ``best.pt`` and ``history.json``; ``resume`` continues from ``last.pt`` (only ``epochs`` may
    differ from the saved config, and only upwards). Under ``torch.distributed`` the model trains wrapped in
    DDP; ``batches`` gives each rank its shard.
    """
    from tqdm.auto import tqdm

    options, hooks = options or LoopOptions(), hooks or LoopHooks()
    rank, world = rank_and_world()
    device = next(model.parameters()).device
    opt = make_optimizer(model, config)
    use_amp = bool(options.amp) and device.type == "cuda"
    dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and dtype == torch.float16)
    history: list[dict] = []
    best, best_epoch, best_state, start = None, -1, None, 0
    run_dir = Path(run_dir) if run_dir is not None else None
    if run_dir is not None and resume and (run_dir / "last.pt").is_file():
        ckpt = load_checkpoint(run_dir / "last.pt")
        check_resume_config(ckpt["config"], config, done_epochs=ckpt["epoch"] + 1, where=run_dir)
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt.get("scaler", {}) or scaler.state_dict())
        history, best, best_epoch = ckpt["history"], ckpt["best"], ckpt["best_epoch"]
        best_state, start = ckpt["best_state_dict"], ckpt["epoch"] + 1
        restore_rng_state(ckpt["rng"], device)
    if run_dir is not None and rank == 0:
        save_config(config, run_dir / "config.yaml")  # on resume: the grown epochs, as run.json says
    net = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    if start == 0 and hooks.on_fresh_start is not None:
        hooks.on_fresh_start(model)
    params = [p for g in opt.param_groups for p in g["params"]]
    quiet = not config.progress or rank != 0
    epochs = range(start, config.epochs)
    bar = tqdm(epochs, desc=options.desc or config.model, disable=quiet or options.per_epoch_bar)
    for epoch in bar:
        t0, c0 = time.perf_counter(), time.process_time()
        net.train()
        total = 0.0
        opt.zero_grad(set_to_none=True)
        inner = tqdm(
            batches(epoch),
            total=steps,
            disable=quiet or not options.per_epoch_bar,
            leave=False,
            desc=f"{options.desc} epoch {epoch + 1}/{config.epochs}".strip(),
        )
        for step, batch in enumerate(inner):
            with torch.autocast(device.type, dtype=dtype, enabled=use_amp):
                out = net(batch)
            scaler.scale(out["loss"].float() / config.grad_accum).backward()
            if (step + 1) % config.grad_accum == 0 or step + 1 == steps:
                if options.clip_grad > 0:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, options.clip_grad)
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
            total += float(out["loss"].detach())
            inner.set_postfix(loss=f"{total / (step + 1):.3f}")
        if hooks.before_validation is not None:
            hooks.before_validation(model)
        metrics = validate(model)
        row = {"epoch": epoch, "loss": total / max(steps, 1), **{f"val_{k}": v for k, v in metrics.items()}}
        if options.timing:
            row.update(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
        history.append(row)
        if _better(config.select_metric, metrics, best):
            best, best_epoch = metrics, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            if run_dir is not None and rank == 0:
                save_checkpoint(run_dir / "best.pt", model, config=config, epoch=epoch, best=best)
        bar.set_postfix(loss=f"{row['loss']:.3f}", val_rho=f"{metrics['spearman']:.3f}")
        if options.per_epoch_bar and not quiet:
            tqdm.write(
                f"{options.desc} epoch {epoch + 1}: loss {row['loss']:.4f}  val rho "
                f"{metrics['spearman']:.4f}  R-l2 {metrics['rl2']:.3f}  ({time.perf_counter() - t0:.1f} s)"
            )
        if run_dir is not None and rank == 0:
            save_checkpoint(
                run_dir / "last.pt",
                model,
                config=config,
                optimizer=opt.state_dict(),
                scaler=scaler.state_dict(),
                epoch=epoch,
                history=history,
                best=best,
                best_epoch=best_epoch,
                best_state_dict=best_state,
                rng=rng_state(device),
            )
            atomic_write_text(run_dir / "history.json", json_text(history, indent=1))
    if best_state is not None:
        model.load_state_dict(best_state)
    return FitResult(model=model.eval(), best_epoch=best_epoch, best=best or {}, history=history)


def fit(
    config: RunConfig,
    train: Mapping,
    val: Mapping,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
) -> FitResult:
    """Train ``config.model`` on in-memory ``train`` arrays, pick the epoch with the best ``val`` metric, return
    that model (:func:`train_loop` does the epochs; ``run_dir`` and ``resume`` are its)."""
    from flexaqa.models import create_model

    rank, world = rank_and_world()
    seed_everything(config.seed)
    device = torch.device(config.device)
    train_t, val_t = to_tensors(train, device), dict(val)
    n = _size(train_t)
    train_t["row"] = torch.arange(n, device=device)  # lets CoRe pair a sample with any exemplar but itself
    model = create_model(config.model, **config.model_args).to(device)
    model.prepare(train_t)
    per_rank = n // world  # equal shards so every rank makes the same number of steps
    if per_rank < 1:
        raise TrainError(f"{n} training samples cannot be shared by {world} processes")
    steps = math.ceil(per_rank / config.batch_size)

    def batches(epoch: int):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch))
        shard = order[rank * per_rank : (rank + 1) * per_rank].to(device)
        for step in range(steps):
            yield _rows(train_t, shard[step * config.batch_size : (step + 1) * config.batch_size])

    return train_loop(
        config,
        model,
        batches=batches,
        steps=steps,
        run_dir=run_dir,
        resume=resume,
        validate=lambda m: evaluate(m, val_t, score_range=config.score_range),
    )
