"""Train and run Video2EMG / Pose2EMG (the ``train`` extra): MSE on per-channel normalised targets, Adam, the
best epoch chosen on the validation split, checkpoints that carry the config and the normalisation statistics.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import flexaqa.video2emg.models  # noqa: F401  (registers video2emg / pose2emg)
from flexaqa._io import atomic_write_text, json_text
from flexaqa.models import create_model
from flexaqa.train.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_checkpoint
from flexaqa.train.trainer import seed_everything
from flexaqa.video2emg.evaluate import regression_report
from flexaqa.video2emg.models import MAX_CHANNELS
from flexaqa.video2emg.targets import ChannelNorm, MeanEnvelope, Video2EMGError


@dataclass
class Video2EMGConfig:
    """Everything that decides a Video2EMG run (saved in its checkpoint)."""

    input: str = "pose"  # "pose" | "video"
    model: str | None = None  # default: pose2emg / video2emg
    model_args: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0
    stride: int = 4  # keep every stride-th frame (pose at 120 Hz -> 30 fps)
    window: float | None = 0.1  # s, sEMG averaging window around each frame
    size: tuple[int, int] = (64, 64)  # video frames (H, W)
    view: str | None = None
    max_frames: int = 256  # training crops longer repetitions to a random window of this many frames
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self):
        if self.input not in ("pose", "video"):
            raise Video2EMGError(f"input must be 'pose' or 'video', got {self.input!r}")
        self.model = self.model or ("pose2emg" if self.input == "pose" else "video2emg")
        self.size = tuple(int(v) for v in self.size)
        for name in ("epochs", "batch_size", "stride", "max_frames"):
            if int(getattr(self, name)) < 1:
                raise Video2EMGError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        return d


def _x(ex, cfg_input: str) -> np.ndarray:
    if cfg_input == "video":  # (T, H, W, 3) uint8 -> (T, 3, H, W) float in [0, 1]
        return np.ascontiguousarray(ex.x.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
    return ex.x


def _batch(examples, norm: ChannelNorm | None, kind: str, crop: int | None = None, rng=None):
    """Pad a list of examples to (B, T_max, ...) tensors; mask (B, T_max, C) marks real frames and channels."""
    xs, ys, spans, where = [], [], [], []
    for ex in examples:
        x, y = _x(ex, kind), ex.y
        s = 0
        if crop is not None and len(x) > crop:
            s = int(rng.integers(0, len(x) - crop + 1))
            x, y = x[s : s + crop], y[s : s + crop]
        xs.append(x)
        ys.append(norm.transform(ex.action, y) if norm is not None else y)
        spans.append(len(x))
        where.append((s, len(ex.y)))
    t = max(spans)
    x = np.zeros((len(xs), t, *xs[0].shape[1:]), np.float32)
    y = np.zeros((len(xs), t, MAX_CHANNELS), np.float32)
    mask = np.zeros((len(xs), t, MAX_CHANNELS), np.float32)
    for i, (a, b) in enumerate(zip(xs, ys, strict=True)):
        x[i, : len(a)] = a
        y[i, : len(b), : b.shape[1]] = b
        mask[i, : len(b), : b.shape[1]] = 1.0
    action = torch.tensor([ex.action_index for ex in examples])
    lengths = torch.tensor(where)  # (B, 2): crop offset and full length, for the progress encoding
    return torch.from_numpy(x), action, torch.from_numpy(y), torch.from_numpy(mask), lengths


def masked_mse(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return ((pred - y) ** 2 * mask).sum() / mask.sum().clamp_min(1.0)


@torch.no_grad()
def predict_examples(
    model, examples: Sequence, norm: ChannelNorm, *, batch_size: int = 8
) -> list[np.ndarray]:
    """Predictions ``(T, C)`` per example in the targets' unit (inverse-normalised)."""
    model.eval()
    device = next(model.parameters()).device
    kind = model.input_kind
    out = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        x, action, _, _, lengths = _batch(chunk, None, kind)
        z = model(x.to(device), action.to(device), lengths).cpu().numpy()  # (B, T, C)
        for ex, zi in zip(chunk, z, strict=True):
            out.append(norm.inverse_transform(ex.action, zi[: len(ex.y), : len(ex.channels)]))
    return out


def _val_loss(model, examples, norm, batch_size: int) -> float:
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            x, action, y, mask, lengths = _batch(examples[i : i + batch_size], norm, model.input_kind)
            pred = model(x.to(device), action.to(device), lengths)
            total += float(((pred - y.to(device)) ** 2 * mask.to(device)).sum())
            count += float(mask.sum())
    return total / max(count, 1.0)


@dataclass
class Video2EMGRun:
    model: torch.nn.Module  # best validation weights, eval mode
    norm: ChannelNorm
    config: Video2EMGConfig
    history: list[dict]
    best_epoch: int
    baseline: MeanEnvelope  # the per-action mean envelope of the training split


def fit_video2emg(
    cfg: Video2EMGConfig, train: Sequence, val: Sequence, *, run_dir: str | Path | None = None
) -> Video2EMGRun:
    """Fit ``cfg.model`` on ``train`` examples; the epoch with the lowest validation MSE (normalised units) wins.
    With ``run_dir``, saves ``best.pt`` (model, config, normalisation) and ``history.json``."""
    from tqdm.auto import tqdm

    if not train or not val:
        raise Video2EMGError(f"need training and validation samples, got {len(train)} and {len(val)}")
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    norm = ChannelNorm.fit((e.action, e.y) for e in train)
    baseline = MeanEnvelope().fit((e.action, e.y) for e in train)
    args = dict(cfg.model_args)
    if cfg.input == "pose":
        args.setdefault("in_dim", int(train[0].x.shape[1]))
    model = create_model(cfg.model, **args).to(cfg.device)
    model.model_args.pop("backbone_weights", None)  # the weights travel in the checkpoint's state dict
    if getattr(model, "input_kind", None) != cfg.input:
        raise Video2EMGError(f"model {cfg.model!r} does not take {cfg.input} input")
    if cfg.input == "pose":
        allx = np.concatenate([e.x for e in train])
        model.set_input_stats(allx.mean(0), allx.std(0))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    history, best, best_state, best_epoch = [], np.inf, None, -1
    bar = tqdm(range(cfg.epochs), desc=cfg.model, disable=not cfg.progress)
    for epoch in bar:
        model.train()
        order = rng.permutation(len(train))
        total = 0.0
        for i in range(0, len(order), cfg.batch_size):
            chunk = [train[j] for j in order[i : i + cfg.batch_size]]
            x, action, y, mask, lengths = _batch(chunk, norm, cfg.input, crop=cfg.max_frames, rng=rng)
            loss = masked_mse(
                model(x.to(cfg.device), action.to(cfg.device), lengths), y.to(cfg.device), mask.to(cfg.device)
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(x)
        val_loss = _val_loss(model, val, norm, cfg.batch_size)
        history.append({"epoch": epoch, "loss": total / len(train), "val_mse": val_loss})
        bar.set_postfix(loss=f"{total / len(train):.3f}", val=f"{val_loss:.3f}")
        if val_loss < best:
            best, best_epoch = val_loss, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
    model.load_state_dict(best_state)
    model.eval()
    if run_dir is not None:
        run_dir = Path(run_dir)
        templates = {a: t.tolist() for a, t in baseline.templates_.items()}
        save_checkpoint(
            run_dir / "best.pt",
            model,
            config=cfg,
            norm=norm.to_dict(),
            best_epoch=best_epoch,
            history=history,
            baseline=templates,
        )
        atomic_write_text(run_dir / "history.json", json_text(history, indent=1))
    return Video2EMGRun(model, norm, cfg, history, best_epoch, baseline)


def load_model(path: str | Path) -> Video2EMGRun:
    """The model (eval mode), normalisation, config and baseline of a checkpoint written by :func:`fit_video2emg`."""
    ckpt = load_checkpoint(path)
    if "norm" not in ckpt or not isinstance(ckpt.get("config"), dict):
        raise CheckpointError(f"{path} is not a Video2EMG checkpoint (no normalisation statistics)")
    cfg = Video2EMGConfig(**ckpt["config"])
    base = MeanEnvelope(templates_={a: np.asarray(t) for a, t in ckpt.get("baseline", {}).items()})
    return Video2EMGRun(
        model_from_checkpoint(ckpt),
        ChannelNorm.from_dict(ckpt["norm"]),
        cfg,
        ckpt.get("history", []),
        int(ckpt.get("best_epoch", -1)),
        base,
    )


def evaluate_run(run: Video2EMGRun, examples: Sequence) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """Metrics of the model and of the two per-action baselines of its training split (mean envelope over
    normalised time; constant channel mean) on ``examples``; also returns the model and envelope predictions."""
    pred = predict_examples(run.model, examples, run.norm)
    env = [run.baseline.predict(e.action, len(e.y)) for e in examples]
    const = [np.broadcast_to(run.norm.mean_[e.action], e.y.shape) for e in examples]
    report = {
        "model": regression_report(examples, pred),
        "baseline_envelope": regression_report(examples, env),
        "baseline_constant": regression_report(examples, const),
    }
    o, b = report["model"]["overall"], report["baseline_envelope"]["overall"]
    report["beats_baseline"] = bool(o["mae"] < b["mae"] and o["rmse"] < b["rmse"])
    return report, pred, env
