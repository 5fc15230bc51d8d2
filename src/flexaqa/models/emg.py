"""EMG feature heads. The relative muscle contribution itself is computed by the signal package; these
modules map it (or an envelope sequence) to a feature the scoring heads concatenate."""

from __future__ import annotations

import torch
from torch import nn

from flexaqa.models._registry import ModelError, register_model


class EMGFeatureHead(nn.Module):
    """Identity (``hidden=0``, the FLEX baseline: the 2-d contribution is used as is) or a small MLP."""

    def __init__(self, *, in_dim: int = 2, hidden: int = 0, out_dim: int = 2):
        super().__init__()
        self.in_dim = in_dim
        if hidden <= 0:
            if out_dim != in_dim:
                raise ModelError(
                    f"an identity EMG head keeps its width: out_dim must be {in_dim}, got {out_dim}"
                )
            self.net = nn.Identity()
        else:
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
        self.feature_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, out_dim)."""
        return self.net(x.float())

    def example_input(self, batch: int = 2) -> torch.Tensor:
        return torch.rand(batch, self.in_dim)


class EnvelopeEncoder(nn.Module):
    """sEMG envelope sequence (B, channels, T) -> (B, feature_dim): 1D convolutions then a GRU (last state).

    Works for any T >= 1; resample envelopes to a common rate (e.g. 50 Hz) before.
    """

    def __init__(self, *, channels: int = 4, width: int = 32, feature_dim: int = 64):
        super().__init__()
        self.channels = channels
        self.conv = nn.Sequential(
            nn.Conv1d(channels, width, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(width, width, 5, padding=2),
            nn.ReLU(),
        )
        self.gru = nn.GRU(width, feature_dim, batch_first=True)
        self.feature_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.channels:
            raise ModelError(f"envelopes must be (batch, {self.channels}, time), got {tuple(x.shape)}")
        h = self.conv(x.float()).transpose(1, 2)  # (B, T, W)
        _, last = self.gru(h)  # (1, B, F)
        return last[0]

    def example_input(self, batch: int = 2) -> torch.Tensor:
        return torch.rand(batch, self.channels, 20)


@register_model("emg")
def emg_head(*, in_dim: int = 2, hidden: int = 0, out_dim: int | None = None) -> EMGFeatureHead:
    """EMG feature head: identity over the 2-d relative muscle contribution (or an MLP with ``hidden``)."""
    return EMGFeatureHead(in_dim=in_dim, hidden=hidden, out_dim=in_dim if out_dim is None else out_dim)


@register_model("emg")
def emg_mlp_tiny(*, in_dim: int = 2) -> EMGFeatureHead:
    """A 2 → 8 → 4 MLP EMG head, for tests."""
    return EMGFeatureHead(in_dim=in_dim, hidden=8, out_dim=4)


@register_model("emg")
def emg_envelope(*, channels: int = 4, width: int = 32, feature_dim: int = 64) -> EnvelopeEncoder:
    """sEMG envelope-sequence encoder: two 1D convolutions + GRU."""
    return EnvelopeEncoder(channels=channels, width=width, feature_dim=feature_dim)


@register_model("emg")
def emg_envelope_tiny(*, channels: int = 2) -> EnvelopeEncoder:
    """An envelope encoder with 4 conv channels and an 8-d GRU, for tests."""
    return EnvelopeEncoder(channels=channels, width=4, feature_dim=8)
