"""CoRe: contrastive regression with a group-aware regression tree (GART), Yu et al., ICCV 2021.

Written from the algorithm description (``shared/reference/core-gart.md``) and checked against the public
``yuxumin/CoRe`` code's behaviour: ``tests/data/gart_core_reference.json`` holds the group edges and leaf
labels that code produces for three score lists, and ``tests/test_models_gart.py`` compares with them.

Conventions: scores are normalised to ``0..theta`` (theta = 100); a pair feature is
``[f_exemplar ‖ f_query ‖ s_exemplar / theta]`` and its target is ``Δ = s_query − s_exemplar``.
One deliberate difference from the reference: a Δ equal to ±theta (the best query against the worst
exemplar) matches no half-open group there and silently trains leaf 0 with no regression target; here it
goes to the outermost leaf of its sign with target 1 (or 0 for −theta).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from flexaqa.models._registry import ModelError, register_model
from flexaqa.models.fusion import AQAHead, FeatureFusion, variant_dims


def build_groups(scores, *, num_leaves: int = 16, theta: float = 100.0) -> np.ndarray:
    """Score-difference intervals of the leaves, ``(num_leaves, 2)`` rows ``[left, right]``.

    ``D`` = sorted ``|s_i − s_j|`` over pairs ``i < j``; the positive half takes equal-count bins of ``D``
    with the first left edge 0 and the last right edge ``theta``; the negative half mirrors it.

    >>> build_groups([0, 10, 30], num_leaves=4).tolist()
    [[-100.0, -20.0], [-20.0, 0.0], [0.0, 20.0], [20.0, 100.0]]
    """
    s = np.asarray(scores, dtype=float).reshape(-1)
    if s.size < 2:
        raise ModelError(f"GART groups need at least 2 training scores, got {s.size}")
    if num_leaves < 2 or num_leaves % 2:
        raise ModelError(f"num_leaves must be an even number >= 2, got {num_leaves}")
    i, j = np.triu_indices(s.size, k=1)
    d = np.sort(np.abs(s[i] - s[j]))  # (P,)
    half = num_leaves // 2
    # Same float expression as the reference, so the quantile indices agree exactly: int((k / half) * (P - 1)).
    pos = np.floor((np.arange(half + 1) / half) * (d.size - 1)).astype(int)
    edges = d[pos]
    left, right = edges[:-1].copy(), edges[1:].copy()
    left[0], right[-1] = 0.0, float(theta)
    positive = np.stack([left, right], axis=1)  # (half, 2)
    negative = -positive[::-1, ::-1]
    return np.concatenate([negative, positive]) + 0.0  # + 0.0 turns -0.0 into 0.0


def leaf_targets(delta: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaf index ``k*`` (B,) and regression target ``t`` (B,) of each score difference ``delta`` (B,).

    Δ ≥ 0 falls in ``l ≤ Δ < r``, Δ < 0 in ``l < Δ ≤ r``; ``t = (Δ − l) / (r − l)``, or ``Δ − l`` for a
    zero-width group. Δ outside every group (±theta) goes to the outermost leaf of its sign, t clamped to [0, 1].
    """
    left, right = groups[:, 0], groups[:, 1]  # (L,)
    d = delta.to(groups.dtype)[:, None]  # (B, 1)
    match = torch.where(d >= 0, (left <= d) & (d < right), (left < d) & (d <= right))  # (B, L)
    first = match.to(torch.int8).argmax(dim=1)  # the first matching leaf, as the reference's argmax
    outer = torch.where(delta >= 0, groups.shape[0] - 1, 0)
    leaf = torch.where(match.any(dim=1), first, outer)
    lo, width = left[leaf], right[leaf] - left[leaf]
    off = d[:, 0] - lo
    target = torch.where(width > 0, off / torch.where(width > 0, width, 1.0), off)
    target = torch.where(match.any(dim=1), target, target.clamp(0.0, 1.0))
    return leaf, target.float()


def decode_delta(leaf: torch.Tensor, delta_hat: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Score difference from the chosen leaf (B,) and its regression output (B,): ``l + (r − l)·δ``."""
    lo, width = groups[leaf, 0], groups[leaf, 1] - groups[leaf, 0]
    return (lo + torch.where(width > 0, width, 1.0) * delta_hat.to(groups.dtype)).float()


class RegressionTree(nn.Module):
    """``Linear(in → hidden) + ReLU`` then a binary tree with ``depth − 1`` decision levels.

    Node ``j`` of level ``d`` emits 2 logits and two child features (``Linear + ReLU`` each); its children are
    nodes ``2j`` and ``2j + 1`` of level ``d + 1``. Leaf log-probability = sum of the log-softmax values along
    the path; each leaf has its own linear head giving δ_k.
    """

    def __init__(self, in_dim: int, *, hidden: int = 256, depth: int = 5):
        super().__init__()
        if depth < 2:
            raise ModelError(f"tree depth must be >= 2, got {depth}")
        self.depth, self.hidden = depth, hidden
        self.num_leaves = 2 ** (depth - 1)
        self.stem = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU())
        levels = range(depth - 1)
        bound = 1.0 / math.sqrt(hidden)  # nn.Linear's default init range

        def param(*shape):
            return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))

        self.split_w = nn.ParameterList(param(2**d, hidden, 2) for d in levels)
        self.split_b = nn.ParameterList(param(2**d, 2) for d in levels)
        self.child_w = nn.ParameterList(param(2**d, hidden, 2 * hidden) for d in levels)
        self.child_b = nn.ParameterList(param(2**d, 2 * hidden) for d in levels)
        self.leaf_w = param(self.num_leaves, hidden)
        self.leaf_b = param(self.num_leaves)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, in) -> leaf log-probabilities (B, L) and leaf regressions δ (B, L)."""
        h = self.stem(x)[:, None, :]  # (B, 1, H): one node at level 0
        logp = x.new_zeros(x.shape[0], 1)  # (B, nodes)
        for d in range(self.depth - 1):
            split = torch.einsum("bnh,nho->bno", h, self.split_w[d]) + self.split_b[d]  # (B, n, 2)
            logp = (logp[:, :, None] + F.log_softmax(split, dim=-1)).flatten(1)  # (B, 2n)
            child = torch.relu(
                torch.einsum("bnh,nho->bno", h, self.child_w[d]) + self.child_b[d]
            )  # (B, n, 2H)
            h = child.reshape(x.shape[0], -1, self.hidden)  # (B, 2n, H)
        delta = (h * self.leaf_w).sum(-1) + self.leaf_b  # (B, L)
        return logp, delta


class CoReGART(AQAHead):
    """CoRe's pairwise regressor over fused per-sample features, with an exemplar bank in its buffers.

    ``prepare(train_batch)`` builds the groups from the training scores and stores the training features
    and scores as the exemplar bank, so a checkpoint predicts on its own. Training pairs each query with one
    random exemplar (never itself when the batch carries ``row``, its row in the training split) and sums the loss over both
    orderings; evaluation averages ``s_m + Δ̂_m`` over ``voters`` exemplars drawn with a fixed seed.
    """

    def __init__(self, dims: dict[str, int], *, hidden=256, depth=5, theta=100.0, voters=3, voter_seed=0):
        super().__init__()
        self.fusion = FeatureFusion(dims)
        self.theta, self.voters, self.voter_seed = float(theta), int(voters), int(voter_seed)
        self.tree = RegressionTree(2 * self.fusion.out_dim + 1, hidden=hidden, depth=depth)
        self.register_buffer("groups", torch.zeros(self.tree.num_leaves, 2, dtype=torch.float64))
        self.register_buffer("bank_features", torch.zeros(0, self.fusion.out_dim))
        self.register_buffer("bank_scores", torch.zeros(0))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("bank_features", "bank_scores"):  # the bank's size is the training set's
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def prepare(self, train_batch: dict[str, torch.Tensor]) -> None:
        scores = train_batch["score"].float()
        groups = build_groups(scores.cpu().numpy(), num_leaves=self.tree.num_leaves, theta=self.theta)
        self.groups = torch.as_tensor(groups, device=self.groups.device)
        self.bank_features = self.fusion(train_batch).to(self.groups.device)
        self.bank_scores = scores.to(self.groups.device)

    def pair(self, exemplar: torch.Tensor, query: torch.Tensor, s_exemplar: torch.Tensor) -> torch.Tensor:
        return torch.cat([exemplar, query, (s_exemplar / self.theta)[:, None]], dim=1)  # (B, 2D + 1)

    def _check_ready(self):
        if self.bank_scores.numel() < 2:
            raise ModelError("CoReGART has no exemplar bank: call model.prepare(train_batch) before use")

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self._check_ready()
        x = self.fusion(batch)  # (B, D)
        b, n = x.shape[0], self.bank_scores.numel()
        if self.training and "score" in batch:
            if "row" in batch:  # any other bank row, uniformly
                idx = (batch["row"].to(x.device) + torch.randint(1, n, (b,), device=x.device)) % n
            else:
                idx = torch.randint(0, n, (b,), device=x.device)
            ex, s_ex, s_q = self.bank_features[idx], self.bank_scores[idx], batch["score"].float()
            logp, delta = self.tree(torch.cat([self.pair(ex, x, s_ex), self.pair(x, ex, s_q)]))  # (2B, L)
            leaf, target = leaf_targets(torch.cat([s_q - s_ex, s_ex - s_q]), self.groups)
            nll = F.nll_loss(logp, leaf, reduction="none").view(2, b).mean(1).sum()
            reg = ((delta.gather(1, leaf[:, None])[:, 0] - target) ** 2).view(2, b).mean(1).sum()
            with torch.no_grad():  # the query's score seen from its exemplar, for monitoring
                k = logp[:b].argmax(1)
                pred = s_ex + decode_delta(k, delta[:b].gather(1, k[:, None])[:, 0], self.groups)
            return {"score": pred, "loss": nll + reg, "nll": nll.detach(), "reg": reg.detach()}
        m = min(self.voters, n)
        gen = torch.Generator(device="cpu").manual_seed(self.voter_seed)
        idx = torch.stack([torch.randperm(n, generator=gen)[:m] for _ in range(b)]).to(x.device)  # (B, M)
        ex, s_ex = self.bank_features[idx].flatten(0, 1), self.bank_scores[idx].flatten()  # (B*M, D), (B*M,)
        logp, delta = self.tree(self.pair(ex, x.repeat_interleave(m, 0), s_ex))
        leaf = logp.argmax(1)
        rel = decode_delta(leaf, delta.gather(1, leaf[:, None])[:, 0], self.groups)
        return {"score": (s_ex + rel).view(b, m).mean(1), "leaf": leaf.view(b, m)}


@register_model("aqa")
def core_gart(
    *,
    variant: str = "mv+pose+emg",
    video_dim: int = 1024,
    pose_dim: int = 256,
    emg_dim: int = 2,
    hidden: int = 256,
    depth: int = 5,
    theta: float = 100.0,
    voters: int = 3,
    voter_seed: int = 0,
) -> CoReGART:
    """CoRe + GART (16 leaves) over the features of a Table-4 variant; 3 voters as the FLEX baseline."""
    dims = variant_dims(variant, video_dim=video_dim, pose_dim=pose_dim, emg_dim=emg_dim)
    return CoReGART(dims, hidden=hidden, depth=depth, theta=theta, voters=voters, voter_seed=voter_seed)


@register_model("aqa")
def core_gart_tiny(*, variant: str = "mv+pose+emg", voters: int = 3) -> CoReGART:
    """A tiny CoRe + GART (16 leaves, hidden 16) over 16/8/2-d features, for tests."""
    dims = variant_dims(variant, video_dim=16, pose_dim=8, emg_dim=2)
    return CoReGART(dims, hidden=16, depth=5, voters=voters)
