"""The end-to-end AQA model and its raw-sample data (see :mod:`flexaqa.aqa.endtoend`, which re-exports them).

:class:`EndToEndSpec` says which encoders and inputs; :class:`EndToEndAQA` is encoders + adapters + a registry
head; :class:`RawAQADataset` turns dataset samples into fixed-size model inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from flexaqa.aqa import AQAError
from flexaqa.aqa.features import EMG_FEATURES, _check_views, emg_feature
from flexaqa.aqa.protocol import from_model_scale
from flexaqa.data.datasets import FlexSampleDataset
from flexaqa.errors import reject_unknown_keys
from flexaqa.kg import load_kg
from flexaqa.models.fusion import VIDEO_KEYS
from flexaqa.train.checkpoint import load_checkpoint

MODEL_NAME = "aqa_end_to_end"  # checkpoint model name; rebuilt by load_end_to_end, not by the registry
VIDEO_MODELS = ("small3d", "i3d", "small3d_tiny", "i3d_tiny")
POSE_MODELS = ("stgcn", "stgcn_tiny")


@dataclass
class EndToEndSpec:
    """What the end-to-end model reads and which encoders it trains (saved in ``run.json``)."""

    video: str = "small3d"  # registry name of the video encoder: small3d | i3d (+ _tiny for tests)
    video_weights: str | None = None  # Kinetics I3D checkpoint to start from
    views: tuple[str, str] = ("View-1", "View-2")  # the views behind video_v1, video_v2
    frames: int | None = None  # frames per repetition, video and pose (default 32; 103 for i3d)
    size: int | None = None  # short side of the frames (default 64; 224 for i3d)
    pose: str = "stgcn"  # stgcn | stgcn_tiny
    pose_weights: str | None = None  # st-gcn NTU checkpoint to start from
    emg: str = "official"  # official | envelope: the fixed 2-d relative muscle contribution

    def __post_init__(self):
        if self.pose in ("stats", "stgcn+stats", "keysteps", "keysteps+stats"):
            raise AQAError(
                f"--pose {self.pose} has nothing to fine-tune (pose statistics and keystep margins are fixed "
                "functions); use --pose stgcn with --end-to-end, or train them in the frozen mode (no --end-to-end)"
            )
        for name, allowed in (("video", VIDEO_MODELS), ("pose", POSE_MODELS), ("emg", EMG_FEATURES)):
            if getattr(self, name) not in allowed:
                raise AQAError(
                    f"end-to-end {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        self.views = tuple(self.views)
        if len(self.views) != 2:
            raise AQAError(
                f"views must name the two views behind video_v1 and video_v2, got {list(self.views)}"
            )
        big = self.video.startswith("i3d")
        self.frames = int(self.frames or (103 if big else 32))
        self.size = int(self.size or (224 if big else 64))
        if self.frames < 2 or self.size < 8:
            raise AQAError(f"frames must be >= 2 and size >= 8, got {self.frames} and {self.size}")
        for name in ("video_weights", "pose_weights"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise AQAError(f"{name}: no file at {path}")

    def to_dict(self) -> dict:
        return {**asdict(self), "views": list(self.views)}

    @classmethod
    def from_dict(cls, d: dict) -> EndToEndSpec:
        """The spec of ``to_dict``; an unknown key (``video_frams``) is refused with a suggestion."""
        reject_unknown_keys(d, (f.name for f in fields(cls)), what="EndToEndSpec", error=AQAError)
        return cls(**d)


# ----------------------------------------------------------------------------------------------- model


class EndToEndAQA(nn.Module):
    """Per-modality encoders + (adapters) + a registry scoring head; ``forward(batch)`` is the head's output.

    Batch keys: ``video_v1``/``video_v2`` (B, 3, T, H, W) uint8 or float in [0, 1], ``pose`` (B, 3, T, 25, 1)
    (:func:`flexaqa.models.flex21_to_stgcn_input`), ``emg`` (B, 2), and the targets the head reads (``score``,
    ``slots``, ``row``). Rebuilds from its ``model_args`` alone (:func:`load_end_to_end`).
    """

    def __init__(
        self,
        *,
        head: str,
        head_args: dict,
        keys: Sequence[str],
        video: str | None = None,
        pose: str | None = None,
        emg_dim: int = 2,
    ):
        super().__init__()
        from flexaqa.models import create_model
        from flexaqa.models.fusion import AQAHead
        from flexaqa.models.video import IMAGENET_MEAN, IMAGENET_STD

        self.keys = tuple(keys)
        self.video_clips = bool(video and video.startswith("i3d"))  # CoRe's 10 x 16-frame clip protocol
        want_video = any(k in VIDEO_KEYS for k in self.keys)
        self.video_encoder = create_model(video) if want_video else None
        self.pose_encoder = create_model(pose) if "pose" in self.keys else None
        for enc in (self.video_encoder, self.pose_encoder):
            for name in ("fcn", "logits"):  # classifiers the features never pass through
                if enc is not None and hasattr(enc, name):
                    getattr(enc, name).requires_grad_(False)
        self.head = create_model(head, **head_args)
        widths = {"pose": getattr(self.pose_encoder, "feature_dim", 0), "emg": emg_dim}
        widths.update({k: getattr(self.video_encoder, "feature_dim", 0) for k in VIDEO_KEYS})
        dims = self.head.fusion.dims
        self.adapters = nn.ModuleDict(
            {k: nn.Linear(widths[k], dims[k]) for k in dims if widths[k] != dims[k]}
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1), persistent=False)
        self.needs_bank = type(self.head).prepare is not AQAHead.prepare  # CoRe's exemplar bank
        self.model_name = MODEL_NAME
        self.model_args = dict(
            head=head,
            head_args=dict(head_args),
            keys=list(self.keys),
            video=video,
            pose=pose,
            emg_dim=emg_dim,
        )

    def encoder_parameters(self) -> list[nn.Parameter]:
        encs = [e for e in (self.video_encoder, self.pose_encoder) if e is not None]
        return [p for e in encs for p in e.parameters() if p.requires_grad]

    def head_parameters(self) -> list[nn.Parameter]:
        return [p for m in (self.head, self.adapters) for p in m.parameters() if p.requires_grad]

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The head's input features ``{key: (B, d_key)}`` of a raw batch."""
        feats: dict[str, torch.Tensor] = {}
        views = [k for k in VIDEO_KEYS if k in self.keys]
        if views:
            x = torch.cat([batch[k] for k in views])  # (V*B, 3, T, H, W)
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            x = (x - self.mean) / self.std
            enc = self.video_encoder
            if self.video_clips and x.shape[2] >= 102:
                from flexaqa.models import clip_features

                f = clip_features(enc, x)
            else:
                f = enc(x)
            for k, part in zip(views, f.chunk(len(views)), strict=True):  # (B, D) each
                feats[k] = part
        if "pose" in self.keys:
            feats["pose"] = self.pose_encoder(batch["pose"].float())  # (B, Dp)
        if "emg" in self.keys:
            feats["emg"] = batch["emg"].float()  # (B, 2)
        for key, adapter in self.adapters.items():
            feats[key] = adapter(feats[key])
        return feats

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        targets = {k: batch[k] for k in ("score", "slots", "row") if k in batch}
        return self.head({**self.encode(batch), **targets})

    @torch.no_grad()
    def refresh_bank(self, loader, device) -> None:
        """Re-encode the training split (in row order) and hand it to the head's ``prepare`` (CoRe's bank)."""
        was = self.training
        self.eval()
        parts: dict[str, list] = {}
        for batch in loader:
            batch = _to(batch, device)
            for k, v in {**self.encode(batch), "score": batch["score"]}.items():
                parts.setdefault(k, []).append(v.float())
        self.head.prepare({k: torch.cat(v) for k, v in parts.items()})
        self.train(was)


def load_end_to_end(path: str | Path, *, state: str = "state_dict") -> EndToEndAQA:
    """Rebuild an :class:`EndToEndAQA` from its checkpoint (eval mode, on CPU)."""
    ckpt = load_checkpoint(path)
    if ckpt.get("model_name") != MODEL_NAME:
        raise AQAError(f"{path} holds a {ckpt.get('model_name')!r} model, not an end-to-end AQA model")
    model = EndToEndAQA(**ckpt["model_args"])
    model.load_state_dict(ckpt[state])
    return model.eval()


# ----------------------------------------------------------------------------------------------- data


class RawAQADataset(torch.utils.data.Dataset):
    """Model-ready raw items of one action's samples over :class:`~flexaqa.data.datasets.FlexSampleDataset`.

    Item: ``row`` (index in ``ids``), ``score`` (model scale; 0 when unknown), ``slots`` when given, and the
    inputs of ``keys``: ``video_v1``/``video_v2`` (3, T, H, W) uint8, ``pose`` (3, T, 25, 1), ``emg`` (2,).
    Decoded inputs are kept in memory up to ``cache_mb`` megabytes (per process), so later epochs skip the
    video decoding; the encoders still see the raw frames every step.
    """

    def __init__(
        self,
        source,
        ids: Sequence[str],
        *,
        keys: Sequence[str],
        spec: EndToEndSpec,
        scores=None,
        slots=None,
        cache_mb: float = 1024.0,
    ):

        self.keys, self.spec = tuple(keys), spec
        views = _check_views(source, spec, self.keys)  # {key: view}, names what the dataset lacks
        mods = ["video"] * bool(views) + [m for m in ("pose", "emg") if m in self.keys]
        self.samples = FlexSampleDataset(
            source,
            ids=list(ids),
            modalities=mods,
            views=tuple(views.values()) or None,
            frames=spec.frames,
            size=spec.size,
            video_dtype="uint8",
        )
        self.view_keys = tuple(views)
        self.scores = np.zeros(len(ids), np.float32) if scores is None else np.asarray(scores, np.float32)
        self.slots = slots
        self.kg = load_kg()
        self.cache_bytes, self._cache, self._cached = float(cache_mb) * 2**20, {}, 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        out = {"row": torch.tensor(i), "score": torch.tensor(self.scores[i])}
        if self.slots is not None:
            out["slots"] = torch.from_numpy(np.asarray(self.slots[i], np.float32))
        inputs = self._cache.get(i)
        if inputs is None:
            inputs = self._inputs(i)
            size = sum(t.numel() * t.element_size() for t in inputs.values())
            if self._cached + size <= self.cache_bytes:
                self._cache[i], self._cached = inputs, self._cached + size
        return {**out, **inputs}

    def _inputs(self, i: int) -> dict[str, torch.Tensor]:
        from flexaqa.models import flex21_to_stgcn_input

        it, out = self.samples[i], {}
        for v, key in enumerate(self.view_keys):
            out[key] = it["video"][v]  # (3, T, H, W) uint8
        if "pose" in self.keys:
            out["pose"] = flex21_to_stgcn_input(it["pose"].numpy())[0]  # (3, T, 25, 1)
        if "emg" in self.keys:
            act = self.kg.action(it["action"])
            f = emg_feature(it["emg"].numpy().T, float(it["emg_fs"]), act, self.spec.emg)
            out["emg"] = torch.from_numpy(f)
        return out


def _loader(ds, batch_size: int, *, workers: int = 0, shuffle: bool = False, seed: int = 0, sampler=None):
    # Items are fixed-size (frames sampled to spec.frames, sEMG reduced to its 2-d feature): plain stacking.
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        generator=gen,
        num_workers=workers,
        collate_fn=torch.utils.data.default_collate,
        persistent_workers=workers > 0,
    )


def _to(batch: dict, device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}


@torch.no_grad()
def predict_loader(model: EndToEndAQA, loader, device, *, progress: bool = False) -> dict[str, np.ndarray]:
    """``{"score" (model scale), ["slot_logits"]}`` of ``model`` (eval mode) over a loader, in order."""
    from tqdm.auto import tqdm

    was = model.training
    model.eval()
    parts: dict[str, list] = {}
    for batch in tqdm(loader, desc="encode + score", disable=not progress, leave=False):
        out = model(_to(batch, device))
        for k in ("score", "slot_logits"):
            if k in out:
                parts.setdefault(k, []).append(out[k].float().cpu().numpy())
    model.train(was)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _outputs(raw: dict[str, np.ndarray], meta: dict) -> dict[str, np.ndarray]:
    """Model outputs -> ``{"score": original scale, ["slot_probs"]}`` (as :func:`runs.predict_arrays`)."""
    res = {"score": from_model_scale(raw["score"], meta)}
    if "slot_logits" in raw:
        from scipy.special import expit

        res["slot_probs"] = expit(raw["slot_logits"])
    return res
