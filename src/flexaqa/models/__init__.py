"""AQA models as plain ``nn.Module`` s in an explicit registry (needs the ``train`` extra: torch).

Example (``create_model`` drops ``None`` arguments and records name and arguments on the model)::

    from flexaqa.models import create_model, list_models
    model = create_model("core_gart", variant="mv", voters=3)
    list_models(kind="aqa")

Scoring heads (kind ``aqa``) read a dict of per-sample features (see :mod:`flexaqa.models.fusion`);
encoders (kinds ``video``, ``pose``, ``emg``, ``image``) turn raw inputs into those features.
"""

from flexaqa.errors import require

require("torch", "train", "the AQA models")

# Importing a module registers its builders (explicit imports, never import *).
from flexaqa.models import emg, gart, heads, i3d, resnet, stgcn, video  # noqa: E402
from flexaqa.models._registry import ModelError, create_model, list_models, model_entry, register_model  # noqa: E402
from flexaqa.models._weights import load_checked, read_state_dict  # noqa: E402
from flexaqa.models.fusion import VARIANTS, AQAHead, FeatureFusion, variant_dims  # noqa: E402
from flexaqa.models.gart import CoReGART, RegressionTree, build_groups, decode_delta, leaf_targets  # noqa: E402
from flexaqa.models.heads import USDL, ErrorAwareAQA, gaussian_soft_labels  # noqa: E402
from flexaqa.models.i3d import CORE_CLIP_STARTS, InceptionI3d, clip_features, load_i3d_weights  # noqa: E402
from flexaqa.models.stgcn import STGCN, flex21_to_stgcn_input, load_stgcn_weights  # noqa: E402

__all__ = [
    "CORE_CLIP_STARTS",
    "STGCN",
    "USDL",
    "VARIANTS",
    "AQAHead",
    "CoReGART",
    "ErrorAwareAQA",
    "FeatureFusion",
    "InceptionI3d",
    "ModelError",
    "RegressionTree",
    "build_groups",
    "clip_features",
    "create_model",
    "decode_delta",
    "emg",
    "flex21_to_stgcn_input",
    "gart",
    "gaussian_soft_labels",
    "heads",
    "i3d",
    "leaf_targets",
    "list_models",
    "load_checked",
    "load_i3d_weights",
    "load_stgcn_weights",
    "model_entry",
    "read_state_dict",
    "register_model",
    "resnet",
    "stgcn",
    "variant_dims",
    "video",
]
