"""A small 3D CNN that trains from scratch on CPU: the offline default video encoder."""

from __future__ import annotations

import torch
from torch import nn

from flexaqa.models._registry import register_model

# torchvision's ImageNet statistics of RGB in [0, 1]: every pretrained image/video encoder's input normalisation
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _block(cin: int, cout: int, stride: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU()
    )


class Small3DCNN(nn.Module):
    """Conv3d-BN-ReLU stages (the first keeps time, later ones halve it), global average pool, linear.

    Input (B, C, T, H, W) -> feature (B, feature_dim). Any T, H, W >= 1 works.
    """

    def __init__(self, *, in_channels: int = 3, widths=(16, 32, 64, 128), feature_dim: int = 256):
        super().__init__()
        stages, cin = [], in_channels
        for i, w in enumerate(widths):
            stages.append(_block(cin, w, (1, 2, 2) if i == 0 else (2, 2, 2)))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.proj = nn.Linear(cin, feature_dim)
        self.feature_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.stages(x).mean(dim=(2, 3, 4)))

    def example_input(self, batch: int = 2) -> torch.Tensor:
        return torch.randn(batch, 3, 8, 32, 32)


@register_model("video")
def small3d(*, in_channels: int = 3, feature_dim: int = 256) -> Small3DCNN:
    """Small 3D CNN (16-32-64-128 channels, ~0.6 M parameters) trained from scratch; the CPU default."""
    return Small3DCNN(in_channels=in_channels, feature_dim=feature_dim)


@register_model("video")
def small3d_tiny(*, feature_dim: int = 16) -> Small3DCNN:
    """Small 3D CNN with 4-8 channels, for tests."""
    return Small3DCNN(widths=(4, 8), feature_dim=feature_dim)
