"""Checkpoints that carry their model name, model arguments and run config: a model rebuilds from one file."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np

from flexaqa._io import atomic_write_bytes
from flexaqa.errors import BadDataError, MissingFileError, require

FORMAT = "flexaqa-checkpoint/1"


class CheckpointError(BadDataError, ValueError):
    """A checkpoint file that is missing, unreadable or not a flexaqa checkpoint (exit code 3)."""


class MissingCheckpointError(MissingFileError, CheckpointError):
    """No checkpoint file at the path (exit code 9)."""


def save_checkpoint(path: str | Path, model, *, config=None, **extra: Any) -> Path:
    """Save ``model`` (built by ``create_model``) with its config and any ``extra`` entries, atomically."""
    torch = require("torch", "train", "checkpoints")
    if not hasattr(model, "model_name"):
        raise CheckpointError("only models built by flexaqa.models.create_model can be checkpointed")
    payload = {
        "format": FORMAT,
        "model_name": model.model_name,
        "model_args": dict(model.model_args),
        "config": config.to_dict() if hasattr(config, "to_dict") else config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    # into memory first: saved to a path, torch names the archive after the (random) temporary file, so the
    # same weights would give different bytes; from a buffer the archive is always "archive" (byte-reproducible)
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (on CPU). Checkpoints are pickles (they hold
    the RNG states for resume): load only files you trust."""
    torch = require("torch", "train", "checkpoints")
    path = Path(path)
    if not path.is_file():
        raise MissingCheckpointError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a flexaqa checkpoint (expected format {FORMAT!r})")
    return ckpt


def model_from_checkpoint(path_or_ckpt, *, state: str = "state_dict"):
    """Rebuild the model of a checkpoint (name + arguments) and load its weights; returns it in eval mode.

    ``state`` picks which weights: ``"state_dict"`` (as saved) or ``"best_state_dict"`` when present.
    """
    from flexaqa.models import create_model

    ckpt = path_or_ckpt if isinstance(path_or_ckpt, dict) else load_checkpoint(path_or_ckpt)
    if state not in ckpt:
        raise CheckpointError(f"the checkpoint has no {state!r} (has {', '.join(sorted(ckpt))})")
    model = create_model(ckpt["model_name"], **ckpt["model_args"])
    model.load_state_dict(ckpt[state])
    return model.eval()


def rng_state(device=None) -> dict:
    """The torch, numpy and Python random states (and the CUDA one on a CUDA ``device``), for ``last.pt``."""
    import torch

    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if device is not None and torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: dict, device=None) -> None:
    """Undo :func:`rng_state`: a resumed run continues with the random numbers it would have drawn."""
    import torch

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if device is not None and torch.device(device).type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
