"""Encoders: I3D and ST-GCN key layouts against the public checkpoints' code, numerics, weight loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flexaqa.models import (  # noqa: E402
    CORE_CLIP_STARTS,
    ModelError,
    clip_features,
    create_model,
    flex21_to_stgcn_input,
    load_i3d_weights,
    load_stgcn_weights,
)
from flexaqa.models.i3d import convert_i3d_state_dict  # noqa: E402
from flexaqa.models.stgcn import spatial_adjacency  # noqa: E402

DATA = Path(__file__).parent / "data"


def _keys(name):
    return [(k, tuple(s)) for k, s in json.loads((DATA / name).read_text())["keys"]]


def _ours(model):
    return [
        (k, tuple(v.shape)) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")
    ]


@pytest.fixture(scope="module")
def i3d():
    return create_model("i3d").eval()


def test_i3d_keys_match_pytorch_i3d(i3d):
    assert sorted(_ours(i3d)) == sorted(_keys("i3d_rgb_state_dict_keys.json"))


def test_i3d_kinetics_i3d_pytorch_layout_is_renamed(i3d):
    # model_rgb.pth (the file CoRe and FLEX use) has the kinetics_i3d_pytorch names
    theirs = {k: torch.zeros(s) for k, s in _keys("i3d_kinetics_i3d_pytorch_keys.json")}
    converted = convert_i3d_state_dict(theirs)
    assert sorted((k, tuple(v.shape)) for k, v in converted.items()) == sorted(_ours(i3d))


def test_i3d_forward_matches_the_reference(i3d):
    ref = json.loads((DATA / "i3d_reference_forward.json").read_text())
    gen = torch.Generator().manual_seed(0)
    state = {}
    for k, v in sorted(i3d.state_dict().items()):  # the weight recipe written in the fixture's "source"
        if k.endswith("num_batches_tracked"):
            state[k] = v
        elif k.endswith("running_var"):
            state[k] = 0.5 + torch.rand(v.shape, generator=gen)
        else:
            state[k] = 0.1 * torch.randn(v.shape, generator=gen, dtype=torch.float32)
    i3d.load_state_dict(state)
    x = torch.randn(1, 3, 16, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feat = i3d(x)[0]
    np.testing.assert_allclose(feat.numpy(), np.array(ref["feature"]), rtol=1e-4, atol=1e-5)


def test_load_i3d_weights_round_trip_and_report(tmp_path):
    src, dst = create_model("i3d_tiny"), create_model("i3d_tiny")
    path = tmp_path / "w.pt"
    torch.save({"state_dict": src.state_dict()}, path)
    report = load_i3d_weights(dst, path)
    assert report == {"missing": [], "unexpected": [], "mismatched": []}
    assert torch.equal(dst.Mixed_5c.b1b.conv3d.weight, src.Mixed_5c.b1b.conv3d.weight)
    state = src.state_dict()
    state.pop("logits.conv3d.bias")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(ModelError, match=r"missing \(1\): logits.conv3d.bias") as err:
        load_i3d_weights(dst, path)
    assert "unexpected (1): extra.weight" in str(err.value)
    assert load_i3d_weights(dst, path, strict=False)["unexpected"] == ["extra.weight"]
    with pytest.raises(ModelError, match="no I3D weights file"):
        load_i3d_weights(dst, tmp_path / "absent.pt")


def test_clip_protocol_averages_ten_clips():
    assert CORE_CLIP_STARTS == (0, 10, 20, 30, 40, 50, 60, 70, 80, 86)

    class FirstFrameMean(torch.nn.Module):  # records the clips it sees
        def forward(self, x):
            self.seen = x.shape
            return x[:, :, 0].mean(dim=(2, 3))

    enc = FirstFrameMean()
    video = torch.arange(103, dtype=torch.float32).view(1, 1, 103, 1, 1).expand(2, 3, 103, 2, 2)
    out = clip_features(enc, video)
    assert enc.seen == (20, 3, 16, 2, 2)
    assert torch.allclose(out, torch.full((2, 3), float(np.mean(CORE_CLIP_STARTS))))
    with pytest.raises(ModelError, match="102 frames"):
        clip_features(enc, video[:, :, :90])


def test_stgcn_keys_and_adjacency_match_st_gcn():
    ref = json.loads((DATA / "stgcn_ntu_state_dict_keys.json").read_text())
    model = create_model("stgcn")
    assert _ours(model) == [(k, tuple(s)) for k, s in ref["keys"]]
    expected = np.zeros((3, 25, 25))
    for k, i, j, v in ref["A_nonzero"]:
        expected[k, i, j] = v
    np.testing.assert_allclose(spatial_adjacency(), expected, atol=1e-8)
    np.testing.assert_allclose(model.A.numpy(), expected, atol=1e-6)


def test_stgcn_loads_a_checkpoint_and_encodes_flex_poses(tmp_path):
    src, dst = create_model("stgcn_tiny"), create_model("stgcn_tiny", num_classes=7)
    path = tmp_path / "st_gcn.pt"
    torch.save(src.state_dict(), path)
    with pytest.raises(ModelError, match="mismatched"):
        load_stgcn_weights(dst, path)
    assert load_stgcn_weights(dst, path, keep_head=False)["missing"] == []
    assert torch.equal(dst.st_gcn_networks[2].gcn.conv.weight, src.st_gcn_networks[2].gcn.conv.weight)
    joints = np.random.default_rng(0).normal(size=(2, 12, 21, 3))
    x = flex21_to_stgcn_input(joints)
    assert x.shape == (2, 3, 12, 25, 1)
    assert torch.allclose(x[:, :, :, 0, 0], torch.zeros(2, 3, 12), atol=1e-6)  # centred on the spine base
    assert dst.eval()(x).shape == (2, 16)


def test_stgcn_forward_matches_the_reference():
    ref = json.loads((DATA / "stgcn_reference_forward.json").read_text())
    model = create_model("stgcn").eval()
    gen = torch.Generator().manual_seed(0)
    state = {}
    for k, v in sorted(model.state_dict().items()):  # the weight recipe written in the fixture's "source"
        if k.endswith("num_batches_tracked") or k == "A":
            state[k] = v
        elif k.endswith("running_var"):
            state[k] = 0.5 + torch.rand(v.shape, generator=gen)
        else:
            state[k] = 0.1 * torch.randn(v.shape, generator=gen, dtype=torch.float32)
    model.load_state_dict(state)
    x = torch.randn(1, 3, 12, 25, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feat, logits = model(x)[0], model.classify(x)[0]
    np.testing.assert_allclose(feat.numpy(), np.array(ref["feature"]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logits.numpy(), np.array(ref["logits"]), rtol=1e-4, atol=1e-5)
