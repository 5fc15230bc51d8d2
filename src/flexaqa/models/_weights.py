"""Loading published weights into our modules with a clear report of what did not fit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from flexaqa.models._registry import ModelError


def read_state_dict(path: str | Path, *, what: str) -> dict[str, torch.Tensor]:
    """Read a weights file: a bare state dict, or a dict holding one under ``state_dict``/``model``."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no {what} weights file at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ModelError(f"cannot read {what} weights {path}: {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ModelError(f"{path} does not hold a state dict (found {type(state).__name__})")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_checked(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    *,
    source: str,
    strict: bool = True,
    ignore: Callable[[str], bool] = lambda k: k.endswith("num_batches_tracked"),
) -> dict[str, list[str]]:
    """Load the keys of ``state`` that fit ``model``; report ``missing``, ``unexpected`` and ``mismatched``.

    Keys for which ``ignore`` is true never count as missing (old checkpoints lack ``num_batches_tracked``).
    With ``strict``, any difference raises :class:`ModelError` naming the keys, before anything is loaded.
    """
    own = model.state_dict()
    mismatched = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = [k for k in own if k not in state and not ignore(k)]
    unexpected = [k for k in state if k not in own]
    report = {"missing": missing, "unexpected": unexpected, "mismatched": mismatched}
    if strict and (missing or unexpected or mismatched):
        lines = [
            f"{name} ({len(keys)}): {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}"
            for name, keys in report.items()
            if keys
        ]
        raise ModelError(f"{source} does not fit {type(model).__name__}:\n  " + "\n  ".join(lines))
    keep = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    model.load_state_dict(keep, strict=False)
    return report
