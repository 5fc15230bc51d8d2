"""ST-GCN (Yan et al., AAAI 2018) over the NTU RGB+D 25-joint graph: the pose encoder of the FLEX baseline.

FLEX-21 skeletons are remapped with :func:`flexaqa.skeleton.flex21_to_ntu25`. Module names and the
adjacency buffer ``A`` follow ``yysijie/st-gcn`` ``net/st_gcn.py`` (``data_bn``, ``st_gcn_networks.{i}.gcn.conv``,
``.tcn.{0,2,3}``, ``.residual.{0,1}``, ``edge_importance.{i}``, ``fcn``), so its NTU checkpoints
(``st_gcn.ntu-xsub.pt``) load with :func:`load_stgcn_weights`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from flexaqa.models._registry import ModelError, register_model
from flexaqa.models._weights import load_checked, read_state_dict
from flexaqa.skeleton import flex21_to_ntu25

# NTU RGB+D bones (0-based joint indices; the order of flexaqa.skeleton.NTU25_JOINTS); centre = spine_shoulder.
NTU25_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 20),
    (2, 20),
    (3, 2),
    (4, 20),
    (5, 4),
    (6, 5),
    (7, 6),
    (8, 20),
    (9, 8),
    (10, 9),
    (11, 10),
    (12, 0),
    (13, 12),
    (14, 13),
    (15, 14),
    (16, 0),
    (17, 16),
    (18, 17),
    (19, 18),
    (21, 22),
    (22, 7),
    (23, 24),
    (24, 11),
)
NTU25_CENTER = 20
# (out channels, temporal stride) of the ten ST-GCN blocks
STGCN_BLOCKS = (
    (64, 1),
    (64, 1),
    (64, 1),
    (64, 1),
    (128, 2),
    (128, 1),
    (128, 1),
    (256, 2),
    (256, 1),
    (256, 1),
)


def spatial_adjacency(num_nodes: int = 25, edges=NTU25_EDGES, center: int = NTU25_CENTER, max_hop: int = 1):
    """ST-GCN's "spatial configuration" partitioning: ``(1 + 2 * max_hop, V, V)`` normalised adjacency.

    Partition 0 is each node itself; for every hop ``h`` ≥ 1, neighbours at least as close to the centre as
    the root go to one partition and farther ones to the next. Columns are normalised by degree
    (``A D⁻¹``). As in st-gcn, distances are only known up to ``max_hop``, so nodes farther than that from the
    centre count as equally far (their neighbours fall in the "close" partition).
    """
    adj = np.eye(num_nodes)
    for i, j in edges:
        adj[i, j] = adj[j, i] = 1.0
    hop = np.full((num_nodes, num_nodes), np.inf)
    reach = [np.linalg.matrix_power(adj, d) > 0 for d in range(max_hop + 1)]
    for d in range(max_hop, -1, -1):
        hop[reach[d]] = d
    within = (hop <= max_hop).astype(float)
    degree = within.sum(0)
    norm = within / np.where(degree > 0, degree, 1.0)[None, :]  # (V, V): A D^-1
    to_center = hop[:, center]  # (V,)
    parts = []
    for h in range(max_hop + 1):
        at = hop == h
        j_dist, i_dist = to_center[:, None], to_center[None, :]  # entry [j, i]
        same = at & (j_dist == i_dist)
        closer = at & (j_dist > i_dist)
        farther = at & (j_dist < i_dist)
        if h == 0:
            parts.append(norm * same)
        else:
            parts += [norm * (same | closer), norm * farther]
    return np.stack(parts)


class STGCNBlock(nn.Module):
    """Graph convolution (1x1 conv to K partitions, summed over the adjacency) + temporal conv (9x1)."""

    def __init__(
        self, cin: int, cout: int, partitions: int, stride: int = 1, *, residual: bool = True, dropout=0.0
    ):
        super().__init__()
        self.partitions = partitions
        self.gcn = nn.Module()
        self.gcn.conv = nn.Conv2d(cin, cout * partitions, kernel_size=1)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, (9, 1), (stride, 1), (4, 0)),
            nn.BatchNorm2d(cout),
            nn.Dropout(dropout),
        )
        self.mode = "none" if not residual else ("identity" if cin == cout and stride == 1 else "conv")
        if self.mode == "conv":
            self.residual = nn.Sequential(nn.Conv2d(cin, cout, 1, (stride, 1)), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """x (N, C, T, V), adj (K, V, V) -> (N, C', T', V)."""
        res = 0 if self.mode == "none" else (x if self.mode == "identity" else self.residual(x))
        y = self.gcn.conv(x)
        n, kc, t, v = y.shape
        y = torch.einsum("nkctv,kvw->nctw", y.view(n, self.partitions, kc // self.partitions, t, v), adj)
        return torch.relu(self.tcn(y) + res)


class STGCN(nn.Module):
    """ST-GCN; ``forward`` gives the pose feature (N, 256): last block mean-pooled over time, joints, persons.

    Input (N, C, T, V, M) as st-gcn (M persons), or (N, C, T, V) for one person.
    """

    def __init__(
        self, *, in_channels=3, num_classes=60, blocks=STGCN_BLOCKS, edge_importance=True, dropout=0.5
    ):
        super().__init__()
        self.register_buffer("A", torch.tensor(spatial_adjacency(), dtype=torch.float32))
        k, v = self.A.shape[:2]
        self.data_bn = nn.BatchNorm1d(in_channels * v)
        layers, cin = [], in_channels
        for i, (cout, stride) in enumerate(blocks):
            layers.append(STGCNBlock(cin, cout, k, stride, residual=i > 0, dropout=dropout if i > 0 else 0.0))
            cin = cout
        self.st_gcn_networks = nn.ModuleList(layers)
        self.edge_importance = nn.ParameterList(
            nn.Parameter(torch.ones_like(self.A), requires_grad=edge_importance) for _ in layers
        )
        self.feature_dim = cin
        self.fcn = nn.Conv2d(cin, num_classes, kernel_size=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V[, M]) -> (N, M, C', T', V)."""
        if x.ndim == 4:
            x = x[..., None]
        n, c, t, v, m = x.shape
        if v != self.A.shape[1]:
            raise ModelError(f"ST-GCN expects {self.A.shape[1]} joints (NTU-25), got {v}")
        x = x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t)
        x = self.data_bn(x).view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        for block, importance in zip(self.st_gcn_networks, self.edge_importance, strict=True):
            x = block(x, self.A * importance)
        return x.view(n, m, *x.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean(dim=(1, 3, 4))  # (N, C')

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        f = self.forward(x)[:, :, None, None]  # (N, C', 1, 1)
        return self.fcn(f).flatten(1)

    def example_input(self, batch: int = 2) -> torch.Tensor:
        return torch.randn(batch, 3, 12, 25, 1)


def flex21_to_stgcn_input(joints) -> torch.Tensor:
    """FLEX-21 joints ``(T, 21, 3)`` or ``(N, T, 21, 3)`` -> ST-GCN input ``(N, 3, T, 25, 1)`` (NTU remap,
    centred on the spine base and scaled by the spine length, as the FLEX baseline)."""
    ntu = np.asarray(flex21_to_ntu25(np.asarray(joints, dtype=float)), dtype=np.float32)
    if ntu.ndim == 3:
        ntu = ntu[None]
    return torch.from_numpy(ntu).permute(0, 3, 1, 2)[..., None].contiguous()


def load_stgcn_weights(model: STGCN, path: str | Path, *, strict: bool = True, keep_head: bool = True):
    """Load an st-gcn checkpoint (e.g. ``st_gcn.ntu-xsub.pt``) into ``model``; returns the key report.

    With ``keep_head=False`` the classifier ``fcn`` is skipped (for a different class count).
    """
    state = read_state_dict(path, what="ST-GCN")
    if not keep_head:
        state = {k: v for k, v in state.items() if not k.startswith("fcn.")}

    def ignore(key: str) -> bool:
        return key.endswith("num_batches_tracked") or (not keep_head and key.startswith("fcn."))

    return load_checked(model, state, source=str(path), strict=strict, ignore=ignore)


@register_model("pose")
def stgcn(*, num_classes: int = 60, edge_importance: bool = True, dropout: float = 0.5) -> STGCN:
    """ST-GCN on the NTU-25 graph (spatial partitioning), st-gcn's NTU checkpoint layout; 256-d features."""
    return STGCN(num_classes=num_classes, edge_importance=edge_importance, dropout=dropout)


@register_model("pose")
def stgcn_tiny(*, num_classes: int = 5) -> STGCN:
    """A 4-block ST-GCN with 8/16 channels, for tests."""
    return STGCN(num_classes=num_classes, blocks=((8, 1), (8, 1), (16, 2), (16, 1)), dropout=0.0)
