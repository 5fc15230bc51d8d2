"""Score heads besides CoRe: USDL (Tang et al., CVPR 2020) and the FKG error-aware model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from flexaqa.kg import load_kg, score, score_from_mask
from flexaqa.models._registry import ModelError, register_model
from flexaqa.models.fusion import AQAHead, FeatureFusion, variant_dims


def gaussian_soft_labels(scores: torch.Tensor, *, bins: int = 101, sigma: float = 5.0, theta: float = 100.0):
    """USDL targets: a normalised Gaussian around each score over ``bins`` points of ``0..theta``, (B, bins).

    ``sigma`` is in score units (5 on 0-100, as USDL).
    """
    grid = torch.linspace(0.0, theta, bins, device=scores.device)  # (K,)
    logits = -0.5 * ((grid[None, :] - scores.float()[:, None]) / sigma) ** 2
    return torch.softmax(logits, dim=1)


class USDL(AQAHead):
    """Uncertainty-aware score distribution learning: MLP ``in → 256 → 128 → bins``, KL(soft ‖ predicted).

    Predicts the expected score (``predict="expected"``) or the best bin (``"argmax"``).
    """

    def __init__(self, dims, *, bins=101, sigma=5.0, theta=100.0, hidden=(256, 128), predict="expected"):
        super().__init__()
        if predict not in ("expected", "argmax"):
            raise ModelError(f"USDL predict must be 'expected' or 'argmax', got {predict!r}")
        self.fusion = FeatureFusion(dims)
        self.bins, self.sigma, self.theta, self.predict = int(bins), float(sigma), float(theta), predict
        layers, width = [], self.fusion.out_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.mlp = nn.Sequential(*layers, nn.Linear(width, self.bins))
        self.register_buffer("grid", torch.linspace(0.0, self.theta, self.bins))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logp = F.log_softmax(self.mlp(self.fusion(batch)), dim=1)  # (B, K)
        expected = (logp.exp() * self.grid).sum(1)
        pred = expected if self.predict == "expected" else self.grid[logp.argmax(1)]
        out = {"score": pred, "log_probs": logp}
        if self.training and "score" in batch:
            soft = gaussian_soft_labels(batch["score"], bins=self.bins, sigma=self.sigma, theta=self.theta)
            out["loss"] = F.kl_div(logp, soft, reduction="batchmean")
        return out


class ErrorAwareAQA(AQAHead):
    """Multi-label prediction of an action's (keystep, error) slots, scored through the FKG penalty.

    A shared MLP trunk feeds one linear head per action sized ``len(action.slots)``. The score is the
    expected FKG score of the slot probabilities (differentiable); the loss is BCE on the slots plus
    ``score_weight`` x the squared score error on a 0-1 scale. With several actions the batch carries
    ``action`` (B,): indices into ``actions``.
    """

    def __init__(
        self, dims, *, actions: Sequence[str] = ("A01",), hidden: int = 256, score_weight: float = 1.0
    ):
        super().__init__()
        kg = load_kg()
        self.fusion = FeatureFusion(dims)
        self.kg_actions = [kg.action(a) for a in ([actions] if isinstance(actions, str) else actions)]
        if not self.kg_actions:
            raise ModelError("ErrorAwareAQA needs at least one action")
        self.actions = tuple(a.class_id for a in self.kg_actions)
        self.score_weight = float(score_weight)
        self.trunk = nn.Sequential(
            nn.Linear(self.fusion.out_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.heads = nn.ModuleDict({a.class_id: nn.Linear(hidden, len(a.slots)) for a in self.kg_actions})

    def _action_index(self, batch, b: int, device) -> torch.Tensor:
        if "action" in batch:
            return batch["action"].to(device).long().view(b)
        if len(self.actions) > 1:
            raise ModelError(f"this model covers {len(self.actions)} actions: the batch must carry 'action'")
        return torch.zeros(b, dtype=torch.long, device=device)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = self.trunk(self.fusion(batch))  # (B, H)
        b = h.shape[0]
        which = self._action_index(batch, b, h.device)
        width = max(len(a.slots) for a in self.kg_actions)
        logits = h.new_full((b, width), float("-inf"))  # (B, S_max); padding never fires
        pred = h.new_zeros(b)
        for i, act in enumerate(self.kg_actions):
            rows = (which == i).nonzero()[:, 0]
            if rows.numel() == 0:
                continue
            lg = self.heads[act.class_id](h[rows])  # (b_i, S_i)
            logits = logits.index_put((rows[:, None], torch.arange(lg.shape[1], device=h.device)), lg)
            pred = pred.index_put((rows,), score_from_mask(act, torch.sigmoid(lg)))
        out = {"score": pred, "slot_logits": logits}
        if self.training and "slots" in batch:
            target = batch["slots"].float()
            valid = torch.isfinite(logits)
            bce = F.binary_cross_entropy_with_logits(logits[valid], target[:, :width][valid])
            loss = bce
            if "score" in batch:
                loss = loss + self.score_weight * F.mse_loss(pred / 100.0, batch["score"].float() / 100.0)
            out["loss"], out["bce"] = loss, bce.detach()
        return out

    def explain(self, slot_probs, action: str | int = 0, *, threshold: float = 0.5) -> dict:
        """Turn one sample's slot probabilities into a score with its errors and their feedback.

        Returns ``{"score", "expected_score", "errors": [{slot, keystep, error, text, probability,
        weight, feedback}, ...]}``; ``action`` is an index into ``actions`` or any action key.
        """
        act = self.kg_actions[action] if isinstance(action, int) else load_kg().action(action)
        p = torch.as_tensor(slot_probs, dtype=torch.float32).reshape(-1)[: len(act.slots)]
        chosen = [s for s, v in zip(act.slots, p.tolist(), strict=True) if v >= threshold]
        result = score(act, [s.id for s in chosen])
        probs = {s.id: v for s, v in zip(act.slots, p.tolist(), strict=True)}
        errors = [
            {
                "slot": f"{e.keystep}:{e.error}",
                "keystep": e.keystep,
                "error": e.error,
                "text": e.text,
                "probability": probs[f"{e.keystep}:{e.error}"],
                "weight": e.weight,
                "feedback": e.feedback,
            }
            for e in result.errors
        ]
        return {"score": result.score, "expected_score": float(score_from_mask(act, p)), "errors": errors}


@register_model("aqa")
def usdl(
    *,
    variant: str = "sv",
    video_dim: int = 1024,
    pose_dim: int = 256,
    emg_dim: int = 2,
    bins: int = 101,
    sigma: float = 5.0,
    theta: float = 100.0,
    predict: str = "expected",
) -> USDL:
    """USDL: 101 bins, Gaussian soft labels (σ = 5 on 0-100), KL loss, MLP in → 256 → 128 → bins."""
    dims = variant_dims(variant, video_dim=video_dim, pose_dim=pose_dim, emg_dim=emg_dim)
    return USDL(dims, bins=bins, sigma=sigma, theta=theta, predict=predict)


@register_model("aqa")
def usdl_tiny(*, variant: str = "mv+pose+emg", predict: str = "expected") -> USDL:
    """A tiny USDL (MLP 26 → 16 → 8 → 101) for tests."""
    dims = variant_dims(variant, video_dim=16, pose_dim=8, emg_dim=2)
    return USDL(dims, hidden=(16, 8), predict=predict)


@register_model("aqa")
def error_aware(
    *,
    variant: str = "mv+pose+emg",
    actions: Sequence[str] | str = ("A01",),
    video_dim: int = 1024,
    pose_dim: int = 256,
    emg_dim: int = 2,
    hidden: int = 256,
    score_weight: float = 1.0,
) -> ErrorAwareAQA:
    """FKG error-aware model: slot probabilities → expected penalty score, with errors and feedback."""
    dims = variant_dims(variant, video_dim=video_dim, pose_dim=pose_dim, emg_dim=emg_dim)
    return ErrorAwareAQA(dims, actions=actions, hidden=hidden, score_weight=score_weight)


@register_model("aqa")
def error_aware_tiny(
    *, variant: str = "mv+pose+emg", actions: Sequence[str] | str = ("A01",)
) -> ErrorAwareAQA:
    """A tiny error-aware model (hidden 16) for tests."""
    dims = variant_dims(variant, video_dim=16, pose_dim=8, emg_dim=2)
    return ErrorAwareAQA(dims, actions=actions, hidden=16)
