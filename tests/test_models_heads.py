"""USDL and the FKG error-aware head."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flexaqa.kg import load_kg, score  # noqa: E402
from flexaqa.models import ModelError, create_model, gaussian_soft_labels  # noqa: E402
from flexaqa.testing import FIGURE6_EXAMPLE  # noqa: E402


def test_usdl_soft_labels_are_normalised_gaussians():
    soft = gaussian_soft_labels(torch.tensor([30.0, 71.5]))
    assert soft.shape == (2, 101)
    assert torch.allclose(soft.sum(1), torch.ones(2))
    assert soft[0].argmax().item() == 30
    grid = torch.arange(101.0)
    mean = (soft * grid).sum(1)
    std = ((soft * (grid - mean[:, None]) ** 2).sum(1)).sqrt()
    assert mean.tolist() == pytest.approx([30.0, 71.5], abs=1e-3)
    assert std.tolist() == pytest.approx([5.0, 5.0], abs=0.05)


def test_usdl_predictions_are_expected_or_argmax_bins():
    model = create_model("usdl_tiny", predict="argmax").eval()
    batch = model.example_batch(4)
    with torch.no_grad():
        out = model(batch)
    assert torch.equal(out["score"], out["log_probs"].argmax(1).float())
    model.predict = "expected"
    with torch.no_grad():
        out = model(batch)
    assert torch.allclose(out["score"], (out["log_probs"].exp() * torch.arange(101.0)).sum(1), atol=1e-4)


def test_expected_score_equals_fkg_score_on_hard_labels():
    action, errors, paper_score = FIGURE6_EXAMPLE
    model = create_model("error_aware_tiny", actions=[action]).eval()
    act = model.kg_actions[0]
    mask = torch.tensor([[1.0 if s.id in errors else 0.0 for s in act.slots]])
    # make the head output saturated logits of exactly this mask
    head = model.heads[act.class_id]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_((mask[0] * 2 - 1) * 40.0)
        out = model(model.example_batch(1))
    assert out["score"].item() == pytest.approx(score(action, list(errors)).score, abs=1e-3)
    assert out["score"].item() == pytest.approx(paper_score, abs=0.01)


def test_explain_gives_score_errors_and_feedback():
    action, errors, paper_score = FIGURE6_EXAMPLE
    model = create_model("error_aware_tiny", actions=[action])
    act = model.kg_actions[0]
    probs = [0.9 if s.id in errors else 0.1 for s in act.slots]
    report = model.explain(probs)
    assert report["score"] == pytest.approx(paper_score, abs=0.01)
    assert {e["slot"] for e in report["errors"]} == set(errors)
    kg = load_kg()
    for e in report["errors"]:
        assert e["feedback"] == kg.feedback(e["error"], e["keystep"]) and e["probability"] == pytest.approx(
            0.9
        )
    assert report["expected_score"] < 100.0


def test_error_aware_multi_action_heads_and_loss():
    model = create_model("error_aware_tiny", actions=["A01", "squat"])
    sizes = {k: h.out_features for k, h in model.heads.items()}
    kg = load_kg()
    assert sizes == {"A01": len(kg.action("A01").slots), "A16": len(kg.action("A16").slots)}
    batch = model.example_batch(6)
    with pytest.raises(ModelError, match="must carry 'action'"):
        model(batch)
    batch["action"] = torch.tensor([0, 0, 0, 0, 0, 0])
    model.train()
    out = model(batch)
    out["loss"].backward()
    assert model.heads["A01"].weight.grad.abs().sum() > 0 and model.heads["A16"].weight.grad is None
    assert np.isfinite(out["bce"].item())
