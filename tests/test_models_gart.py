"""CoRe GART: groups, leaf targets and decoding, checked against the public CoRe code's outputs.

``tests/data/gart_core_reference.json`` was produced by running ``utils/Group_helper.py`` of yuxumin/CoRe
(commit in the file) on three score lists: its groups (``Group_helper(deltas, 5, Symmetrical=True,
Max=100, Min=0)``) and ``produce_label`` leaf/target for every signed pair difference and every group edge.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flexaqa.models import ModelError, build_groups, create_model, decode_delta, leaf_targets  # noqa: E402

REFERENCE = json.loads((Path(__file__).parent / "data" / "gart_core_reference.json").read_text())
CASES = sorted(REFERENCE["cases"])


@pytest.mark.parametrize("case", CASES)
def test_groups_match_the_reference(case):
    ref = REFERENCE["cases"][case]
    ours = build_groups(ref["scores"], num_leaves=16, theta=REFERENCE["theta"])
    np.testing.assert_array_equal(ours, np.array(ref["groups"], dtype=float))


@pytest.mark.parametrize("case", CASES)
def test_leaves_and_targets_match_the_reference(case):
    ref = REFERENCE["cases"][case]
    groups = torch.as_tensor(build_groups(ref["scores"]), dtype=torch.float64)
    deltas = torch.tensor([row[0] for row in ref["labels"]], dtype=torch.float64)
    leaf, target = leaf_targets(deltas, groups)
    for (d, ref_leaf, ref_t), k, t in zip(ref["labels"], leaf.tolist(), target.tolist(), strict=True):
        if ref_leaf is None:  # ±theta: matches no group in CoRe; we use the outermost leaf (documented)
            assert abs(d) == REFERENCE["theta"]
            assert (k, t) == ((15, 1.0) if d > 0 else (0, 0.0))
        else:
            assert k == ref_leaf, f"delta {d}"
            assert t == pytest.approx(ref_t, abs=1e-6), f"delta {d}"


def test_hand_made_groups_with_ties_and_negative_differences():
    # pairs of [0, 10, 10, 30]: |d| = 10, 10, 30, 0, 20, 20 -> sorted [0, 10, 10, 20, 20, 30]
    g = build_groups([0, 10, 10, 30], num_leaves=4)
    # positive bins: indices floor(k/2 * 5) = 0, 2, 5 -> [0, d2=10], [10, theta]
    assert g.tolist() == [[-100, -10], [-10, 0], [0, 10], [10, 100]]
    leaf, t = leaf_targets(torch.tensor([0.0, 10.0, -10.0, -4.0, 5.0, 55.0]), torch.as_tensor(g))
    # 10 opens bin 3 (l ≤ Δ < r); its mirror -10 closes bin 0 (l < Δ ≤ r), so the halves stay symmetric
    assert leaf.tolist() == [2, 3, 0, 1, 2, 3]
    assert t.tolist() == pytest.approx([0.0, 0.0, 1.0, 0.6, 0.5, 0.5])


def test_zero_width_groups_decode_by_offset():
    g = build_groups([50, 50, 50, 60], num_leaves=4)  # |d| = 0,0,10,0,10,10 -> many zero differences
    assert g[2].tolist() == [0.0, 0.0]  # a zero-width group, never a training target
    groups = torch.as_tensor(g)
    assert decode_delta(torch.tensor([2]), torch.tensor([0.25]), groups).tolist() == [0.25]
    leaf, t = leaf_targets(torch.tensor([0.0]), groups)
    assert leaf.item() == 3 and t.item() == 0.0


def test_decode_inverts_the_target():
    groups = torch.as_tensor(build_groups(np.linspace(0, 100, 30)))
    deltas = torch.linspace(-99, 99, 41, dtype=torch.float64)
    leaf, t = leaf_targets(deltas, groups)
    assert torch.allclose(decode_delta(leaf, t, groups).double(), deltas, atol=1e-4)


def test_build_groups_rejects_too_few_scores():
    with pytest.raises(ModelError, match="at least 2"):
        build_groups([50.0])


def test_leaf_log_probs_normalise_and_tree_has_16_leaves():
    model = create_model("core_gart_tiny")
    x = torch.randn(5, model.tree.stem[0].in_features)
    logp, delta = model.tree(x)
    assert logp.shape == delta.shape == (5, 16)
    assert torch.allclose(logp.exp().sum(1), torch.ones(5), atol=1e-5)


def test_core_needs_prepare_and_votes_with_a_fixed_seed():
    model = create_model("core_gart_tiny", voters=4)
    batch = model.example_batch(10)
    with pytest.raises(ModelError, match="prepare"):
        model(batch)
    model.prepare(batch)
    model.eval()
    with torch.no_grad():
        a, b = model(batch), model(batch)
    assert a["leaf"].shape == (10, 4)
    assert torch.equal(a["score"], b["score"])


def test_core_loss_covers_both_orderings():
    model = create_model("core_gart_tiny")
    batch = model.example_batch(6)
    model.prepare(batch)
    model.train()
    out = model(batch)
    # each ordering adds an NLL >= 0 and a squared error; with 16 leaves the NLL of one ordering is ~log 16
    assert out["nll"].item() == pytest.approx(2 * np.log(16), rel=0.3)
    out["loss"].backward()
    assert model.tree.leaf_w.grad is not None and model.tree.split_w[0].grad.abs().sum() > 0
