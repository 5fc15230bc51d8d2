"""Feature variants of paper Table 4 and the base class of the scoring heads.

A *batch* is a dict of tensors, one row per sample: feature keys (``video_v1``, ``video_v2``, ``pose``,
``emg``), and targets (``score`` (B,), ``slots`` (B, S)) when known. A variant names the feature keys a head
concatenates, in a fixed order.
"""

from __future__ import annotations

import torch
from torch import nn

from flexaqa.models._registry import ModelError
from flexaqa.models.synthetic import make_feature_set

VIDEO_KEYS = ("video_v1", "video_v2")
VARIANTS: dict[str, tuple[str, ...]] = {
    "sv": ("video_v1",),
    "mv": ("video_v1", "video_v2"),
    "mv+pose": ("video_v1", "video_v2", "pose"),
    "mv+pose+emg": ("video_v1", "video_v2", "pose", "emg"),
    "pose": ("pose",),
    "pose+emg": ("pose", "emg"),
}


def variant_dims(variant: str, *, video_dim: int, pose_dim: int, emg_dim: int) -> dict[str, int]:
    """``{feature key: width}`` of a variant, e.g. ``mv`` -> ``{"video_v1": 1024, "video_v2": 1024}``."""
    if variant not in VARIANTS:
        raise ModelError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    width = {"video_v1": video_dim, "video_v2": video_dim, "pose": pose_dim, "emg": emg_dim}
    return {k: int(width[k]) for k in VARIANTS[variant]}


class FeatureFusion(nn.Module):
    """Concatenate the variant's per-sample features: ``{key: (B, d_k)}`` -> ``(B, sum d_k)``."""

    def __init__(self, dims: dict[str, int]):
        super().__init__()
        self.dims = dict(dims)
        self.out_dim = sum(self.dims.values())

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        for key, dim in self.dims.items():
            if key not in batch:
                raise ModelError(f"the batch has no feature {key!r} (has {', '.join(sorted(batch))})")
            x = batch[key]
            if x.ndim != 2 or x.shape[1] != dim:
                raise ModelError(f"feature {key!r} must be (batch, {dim}), got {tuple(x.shape)}")
            parts.append(x.float())
        return torch.cat(parts, dim=1)


class AQAHead(nn.Module):
    """Base of the scoring heads: ``forward(batch)`` returns ``{"score": (B,), ...}`` and, in training mode
    with targets in the batch, ``"loss"`` too. ``prepare(train_batch)`` sees the whole training set once
    before training (CoRe builds its groups and exemplar bank there); by default it does nothing.
    """

    fusion: FeatureFusion
    score_key = "score"

    def prepare(self, train_batch: dict[str, torch.Tensor]) -> None:
        pass

    def example_batch(self, n: int = 8, *, seed: int = 0) -> dict[str, torch.Tensor]:
        """A small synthetic batch with every key this head reads (for tests and smoke runs)."""
        dims = self.fusion.dims
        video = dims.get("video_v1", dims.get("video_v2", 4))
        data = make_feature_set(
            getattr(self, "actions", ("A01",))[0],
            n,
            seed=seed,
            video_dim=video,
            pose_dim=dims.get("pose", 4),
            emg_dim=dims.get("emg", 2),
        )
        return {k: torch.as_tensor(v) for k, v in data.items()}
