"""Video2EMG and Pose2EMG networks (paper section 8.3), registered in :mod:`flexaqa.models` when this module is
imported (``import flexaqa.video2emg.models``; the CLI and :func:`load_model` do it for you).

Video2EMG: a 2D ResNet on every frame (ResNet-50 loadable from a user's ImageNet checkpoint, or a small ResNet
trained from scratch, the offline default) -> a light temporal convolution -> a single-layer unidirectional
LSTM -> one value per sEMG channel per frame. Pose2EMG: the same temporal head on per-frame pose features
(:func:`flexaqa.video2emg.targets.pose_features`). Both take an action index so one network serves all actions
(the same column is a different muscle in different actions). Needs the ``train`` extra (torch).
"""

from __future__ import annotations

import torch
from torch import nn

from flexaqa.models import ModelError, create_model, load_checked, read_state_dict, register_model
from flexaqa.models.resnet import BasicBlock, ResNet
from flexaqa.models.video import IMAGENET_MEAN, IMAGENET_STD

MAX_CHANNELS = 4  # most sEMG channels of any FLEX action (Table 8)
NUM_ACTIONS = 20


PROGRESS_BANDS = 4


def progress_encoding(b: int, t: int, lengths: torch.Tensor | None, device) -> torch.Tensor:
    """(B, T, 2 * PROGRESS_BANDS) sin/cos of pi * k * u, u = frame / (length - 1) in [0, 1] (past the end: 1).

    ``lengths`` is (B,) real lengths, or (B, 2) ``(offset, full length)`` for a window cropped out of a longer
    repetition (frame i of the window is frame offset + i of the repetition).
    """
    n = torch.full((b,), t, device=device) if lengths is None else lengths.to(device)
    off = torch.zeros_like(n) if n.ndim == 1 else n[:, 0]
    n = n if n.ndim == 1 else n[:, 1]
    u = (torch.arange(t, device=device)[None, :] + off[:, None]) / (n[:, None] - 1).clamp_min(1)  # (B, T)
    ang = torch.pi * u.clamp(max=1.0)[..., None] * torch.arange(1, PROGRESS_BANDS + 1, device=device)
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1).float()


class TemporalHead(nn.Module):
    """(B, T, in_dim) features + (B,) action index (1..20, 0 = unknown) -> (B, T, out_channels).

    Linear projection plus an action embedding and a progress encoding (frame / (length - 1): where the frame
    lies in its repetition, which is known offline from the keyframes), one temporal convolution (``kernel``
    frames, same length), a single-layer unidirectional LSTM, and a linear read-out per frame.
    """

    def __init__(self, *, in_dim: int, hidden: int = 128, kernel: int = 5, out_channels: int = MAX_CHANNELS):
        super().__init__()
        self.proj = nn.Linear(in_dim, hidden)
        self.action = nn.Embedding(NUM_ACTIONS + 1, hidden)
        self.progress = nn.Linear(PROGRESS_BANDS * 2, hidden)
        self.conv = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden, out_channels)

    def forward(
        self, feats: torch.Tensor, action: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = self.proj(feats)  # (B, T, H)
        if action is not None:
            h = h + self.action(action.long())[:, None, :]
        h = h + self.progress(progress_encoding(feats.shape[0], feats.shape[1], lengths, feats.device))
        h = torch.relu(self.conv(h.transpose(1, 2))).transpose(1, 2)  # (B, T, H)
        h, _ = self.lstm(h)
        return self.out(h)  # (B, T, C)


class Pose2EMG(nn.Module):
    """Pose features (B, T, in_dim) -> sEMG envelope (B, T, C). Input statistics live in buffers (set by
    :meth:`set_input_stats` from the training split) so a checkpoint carries them."""

    input_kind = "pose"

    def __init__(self, *, in_dim: int, hidden: int = 128, kernel: int = 5, out_channels: int = MAX_CHANNELS):
        super().__init__()
        self.in_dim = in_dim
        self.register_buffer("in_mean", torch.zeros(in_dim))
        self.register_buffer("in_std", torch.ones(in_dim))
        self.head = TemporalHead(in_dim=in_dim, hidden=hidden, kernel=kernel, out_channels=out_channels)

    def set_input_stats(self, mean, std) -> None:
        self.in_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.in_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-6))

    def forward(
        self, x: torch.Tensor, action: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.in_dim:
            raise ModelError(
                f"Pose2EMG expects (batch, frames, {self.in_dim}) features, got {tuple(x.shape)}"
            )
        return self.head((x.float() - self.in_mean) / self.in_std, action, lengths)

    def example_input(self, batch: int = 2) -> torch.Tensor:
        return torch.randn(batch, 12, self.in_dim)


class Video2EMG(nn.Module):
    """Frames (B, T, 3, H, W) in [0, 1] -> sEMG envelope (B, T, C): a 2D ResNet per frame (ImageNet
    normalisation inside), then :class:`TemporalHead`. ``freeze_backbone`` keeps the CNN fixed (the paper used
    pre-extracted ResNet-50 features), running it in eval mode without gradients."""

    input_kind = "video"

    def __init__(
        self,
        backbone: ResNet,
        *,
        hidden: int = 128,
        kernel: int = 5,
        out_channels: int = MAX_CHANNELS,
        freeze_backbone: bool = False,
    ):
        super().__init__()
        backbone.fc = nn.Identity()  # only the pooled features are used: drop the ImageNet classifier
        self.backbone = backbone
        self.freeze_backbone = freeze_backbone
        self.register_buffer("pix_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("pix_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.head = TemporalHead(
            in_dim=backbone.feature_dim, hidden=hidden, kernel=kernel, out_channels=out_channels
        )
        if freeze_backbone:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(
        self, x: torch.Tensor, action: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``lengths`` (B,) gives each padded sequence's real length (default: all frames are real)."""
        if x.ndim != 5 or x.shape[2] != 3:
            raise ModelError(f"Video2EMG expects frames (batch, time, 3, H, W), got {tuple(x.shape)}")
        b, t = x.shape[:2]
        frames = (x.flatten(0, 1).float() - self.pix_mean) / self.pix_std  # (B*T, 3, H, W)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            feats = self.backbone(frames)  # (B*T, F)
        return self.head(feats.view(b, t, -1), action, lengths)

    def example_input(self, batch: int = 2) -> torch.Tensor:
        return torch.rand(batch, 4, 3, 32, 32)


def _backbone(name: str, weights: str | None) -> ResNet:
    if name == "resnet_small":  # ResNet-18 layout, one block per stage, 16 base channels (128-d features)
        net = ResNet(BasicBlock, (1, 1, 1, 1), base=16, num_classes=10)
    else:
        net = create_model(name)
        if not isinstance(net, ResNet):
            raise ModelError(f"backbone {name!r} is not a 2D ResNet; use resnet_small, resnet18 or resnet50")
    if weights:
        state = read_state_dict(weights, what=f"{name} backbone")
        # an ImageNet checkpoint's classifier (fc) is not used by Video2EMG: accept any classifier size
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        load_checked(
            net, state, source=str(weights), ignore=lambda k: k.startswith("fc.") or "num_batches" in k
        )
    return net


@register_model("video2emg")
def video2emg(
    *,
    backbone: str = "resnet_small",
    backbone_weights: str | None = None,
    freeze_backbone: bool = False,
    hidden: int = 128,
    kernel: int = 5,
) -> Video2EMG:
    """Video2EMG: per-frame 2D ResNet (``resnet_small`` from scratch by default; ``resnet50`` +
    ``backbone_weights=imagenet.pth`` for the paper's setup) -> temporal conv -> LSTM -> sEMG per frame."""
    return Video2EMG(
        _backbone(backbone, backbone_weights), hidden=hidden, kernel=kernel, freeze_backbone=freeze_backbone
    )


@register_model("video2emg")
def video2emg_tiny() -> Video2EMG:
    """Video2EMG with the 8-channel test ResNet and a 16-d head, for tests."""
    return Video2EMG(_backbone("resnet_tiny", None), hidden=16, kernel=3)


@register_model("video2emg")
def pose2emg(*, in_dim: int = 142, hidden: int = 128, kernel: int = 5) -> Pose2EMG:
    """Pose2EMG: FLEX-21 pose features (positions, velocities, angles) -> temporal conv -> LSTM -> sEMG."""
    return Pose2EMG(in_dim=in_dim, hidden=hidden, kernel=kernel)


@register_model("video2emg")
def pose2emg_tiny(*, in_dim: int = 142) -> Pose2EMG:
    """Pose2EMG with a 16-d head, for tests."""
    return Pose2EMG(in_dim=in_dim, hidden=16, kernel=3)
