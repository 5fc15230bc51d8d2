"""Every registered model: tiny variants run forward and backward; the registry's contract."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import flexaqa.video2emg.models  # noqa: E402, F401  (registers the video2emg family: the list is the same in every process)
from flexaqa.models import ModelError, create_model, list_models, model_entry  # noqa: E402

TINY = [n for n in list_models() if n.endswith("_tiny")] + ["emg_head"]


def test_every_model_has_a_tiny_variant():
    full = [n for n in list_models() if not n.endswith("_tiny")]
    families = {"emg_head": "emg_mlp", "resnet18": "resnet", "resnet50": "resnet"}
    for name in full:
        assert f"{families.get(name, name)}_tiny" in list_models(), f"{name} has no tiny variant"


@pytest.mark.parametrize("name", TINY)
def test_tiny_forward_backward(name):
    torch.manual_seed(0)
    model = create_model(name)
    assert model.model_name == name
    if model_entry(name).kind == "aqa":
        batch = model.example_batch(6)
        model.prepare(batch)
        model.train()
        out = model(batch)
        assert out["score"].shape == (6,)
        assert torch.isfinite(out["loss"])
        out["loss"].backward()
        model.eval()
        with torch.no_grad():
            pred = model(batch)["score"]
        assert pred.shape == (6,) and torch.isfinite(pred).all()
    elif model_entry(name).kind == "video2emg":  # one value per muscle channel per frame
        x = model.example_input(2)
        model.train()
        y = model(x, torch.tensor([16, 1]))  # with the action index, so its embedding gets a gradient too
        assert y.shape == (*x.shape[:2], 4) and torch.isfinite(y).all()
        y.square().mean().backward()
    else:
        x = model.example_input(2).requires_grad_(True)
        model.train()
        y = model(x)
        assert y.shape == (2, model.feature_dim)
        loss = y.square().mean()
        if hasattr(model, "classify"):  # the classifier layer of a published layout sits beside the features
            loss = loss + model.classify(x).square().mean()
        loss.backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), "some parameters got no gradient"


def test_create_model_drops_none_and_rejects_unknown_arguments():
    model = create_model("usdl_tiny", variant=None, predict="argmax")
    assert model.model_args == {"predict": "argmax"} and model.predict == "argmax"
    with pytest.raises(ModelError, match="no argument"):
        create_model("usdl_tiny", bins=3)
    with pytest.raises(ModelError, match="did you mean"):
        create_model("core_gartt")
    with pytest.raises(ModelError, match="unknown variant"):
        create_model("usdl_tiny", variant="rgb")


def test_list_models_filters():
    assert "i3d" in list_models(kind="video") and "i3d" not in list_models(kind="aqa")
    assert list_models("core_*") == ["core_gart", "core_gart_tiny"]


def test_resnet_matches_torchvision_parameter_counts():
    # torchvision's published parameter counts of resnet18 / resnet50, and its key layout
    r18, r50 = create_model("resnet18"), create_model("resnet50")
    assert sum(p.numel() for p in r18.parameters()) == 11_689_512
    assert sum(p.numel() for p in r50.parameters()) == 25_557_032
    keys = r50.state_dict()
    assert tuple(keys["fc.weight"].shape) == (1000, 2048)
    assert tuple(keys["layer1.0.downsample.0.weight"].shape) == (256, 64, 1, 1)
    assert tuple(keys["layer4.2.bn3.running_var"].shape) == (2048,)
    assert tuple(r18.state_dict()["layer2.0.downsample.1.weight"].shape) == (128,)
