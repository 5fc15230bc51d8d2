"""PyTorch datasets over any :class:`~flexaqa.data.base.DatasetSource` (extra ``train``).

An item is a dict with fixed keys (only the requested modalities appear):

- ``id`` (str), ``action`` (slug), ``class_index`` (long, 1..20), ``score`` (float, NaN when unknown)
- ``video`` float32 in [0, 1] (or raw uint8): ``(V, 3, T, H, W)``, or with ``frames="core"`` CoRe's
  ``(V, 10, 3, 16, H, W)``
- ``video_features`` ``(V, ...)`` from a :class:`~flexaqa.data.cache.FeatureCache` instead of ``video``
- ``pose`` ``(T, 21, 3)`` metres, at the sampled video instants when frames are sampled, else native rate
- ``emg`` ``(C, N)`` at its native 2000 Hz rate, with ``emg_fs``; ``heart_rate`` ``(N,)``, ``breath`` ``(N,)``

:func:`pad_collate` stacks items and zero-pads variable-length ``pose``/``emg``/physiology (and ``video`` when
``frames=None``), adding ``<key>_lengths``; ``emg_channels`` gives each item's channel count.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from flexaqa.data.base import CORE_NUM_FRAMES, DatasetSource, core_clip_indices, open_dataset, uniform_times
from flexaqa.data.schema import DataError, check_modalities
from flexaqa.errors import require

torch = require("torch", "train", "PyTorch datasets")
log = logging.getLogger(__name__)


def _as_source(source) -> DatasetSource:
    return source if isinstance(source, DatasetSource) else open_dataset(Path(source))


class FlexSampleDataset(torch.utils.data.Dataset):
    """Samples of a split with selectable modalities, views and frame sampling.

    Args:
        source: a dataset folder or an opened :class:`DatasetSource`.
        split: ``train``/``val``/``test`` of ``protocol`` (``None`` = every sample, or ``ids``).
        frames: ``"core"`` (103 frames as 10 x 16-frame clips), an int N (uniform N frames) or ``None``
            (every frame of the repetition; variable length).
        size: frame size, an int short side or ``(H, W)``.
        transforms: per-key callables applied last, e.g. ``{"video": normalize, "emg": rectify}``.
        features: read ``video_features`` from this cache instead of decoding video.
        skip_bad: replace a sample that fails to load by the next good one; every skip is logged, warned and
            kept in ``self.skipped`` as ``(sample_id, message)`` (in DataLoader worker processes the log and
            the warning are the report: each worker has its own copy of ``skipped``).
        video_dtype: ``"float32"`` (scaled to [0, 1]) or ``"uint8"`` (raw; normalise on the GPU, 4x less memory).
    """

    def __init__(
        self,
        source,
        *,
        split: str | None = None,
        protocol: str = "random",
        seed: int = 0,
        ids: Sequence[str] | None = None,
        modalities: Sequence[str] = ("video", "pose", "emg"),
        views: Sequence[str] | None = None,
        frames: str | int | None = "core",
        size: int | tuple[int, int] | None = 224,
        transforms: Mapping[str, Callable] | None = None,
        features=None,
        skip_bad: bool = False,
        video_dtype: str = "float32",
    ):
        self.source = _as_source(source)
        if video_dtype not in ("float32", "uint8"):
            raise DataError(f"video_dtype must be 'float32' or 'uint8', got {video_dtype!r}")
        self.video_dtype = video_dtype
        self.modalities = check_modalities(modalities)
        if ids is None:
            ids = (
                [r.id for r in self.source.records]
                if split is None
                else self.source.splits(protocol, seed=seed)[split]
            )
        self.records = self.source.select(ids)
        self.views = tuple(views or self.source.view_names[:2])
        if frames == "core":
            self.num_frames = CORE_NUM_FRAMES
        elif frames is None or (isinstance(frames, int) and frames > 0):
            self.num_frames = frames
        else:
            raise DataError(f"frames must be 'core', a positive int or None, got {frames!r}")
        self.core = frames == "core"
        self.size = size
        self.transforms = dict(transforms or {})
        self.features = features
        self.skip_bad = skip_bad
        self.skipped: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.records)

    def ids_by_action(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(self.records):
            out[r.action].append(i)
        return out

    def __getitem__(self, index: int) -> dict:
        if not self.skip_bad:
            return self._item(index)
        for k in range(len(self)):
            j = (index + k) % len(self)
            try:
                return self._item(j)
            except DataError as exc:  # CorruptSampleError included
                rec = self.records[j]
                if all(s[0] != rec.id for s in self.skipped):
                    self.skipped.append((rec.id, str(exc)))
                    log.warning("skipping bad sample %s: %s", rec.id, exc)
                    warnings.warn(f"skipping bad sample {rec.id}: {exc}", stacklevel=2)
        raise DataError(f"{self.source.root}: every sample failed to load; first: {self.skipped[0][1]}")

    def _item(self, index: int) -> dict:
        rec = self.records[index]
        want_video = "video" in self.modalities and self.features is None
        mods = [m for m in self.modalities if m != "video" or want_video]
        sample = self.source.load(
            rec, modalities=mods, views=self.views, num_frames=self.num_frames, size=self.size
        )
        bad_views = [m for m in sample.missing if m.startswith("video:")]
        if want_video and bad_views:
            raise DataError(f"{rec.id}: missing {', '.join(bad_views)}")
        item: dict = {
            "id": rec.id,
            "action": rec.action,
            "class_index": torch.tensor(rec.class_index, dtype=torch.long),
            "score": torch.tensor(math.nan if rec.score is None else rec.score, dtype=torch.float32),
        }
        if want_video:
            vid = np.stack([sample.video[v] for v in self.views])  # (V, T, H, W, 3) uint8
            if self.core:
                t = torch.from_numpy(vid[:, core_clip_indices()]).permute(
                    0, 1, 5, 2, 3, 4
                )  # (V, 10, 3, 16, H, W)
            else:
                t = torch.from_numpy(vid).permute(0, 4, 1, 2, 3)  # (V, 3, T, H, W)
            if self.video_dtype == "uint8":
                item["video"] = t.contiguous()
            else:  # one copy into the final layout, then scale in place
                item["video"] = t.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)
        if "video" in self.modalities and self.features is not None:
            item["video_features"] = torch.from_numpy(
                np.stack([self.features.get(rec.id, v) for v in self.views])
            )
        if "pose" in self.modalities and sample.pose is not None:
            p = sample.pose
            t0, t1 = (
                (rec.start, rec.end) if rec.start is not None and rec.end is not None else (p.start, p.end)
            )
            data = (
                p.data if not self.num_frames else p.at(uniform_times(t0, t1, self.num_frames))
            )  # video instants
            item["pose"] = torch.from_numpy(np.asarray(data, dtype=np.float32))  # (T, 21, 3)
        if "emg" in self.modalities and sample.emg is not None:
            item["emg"] = torch.from_numpy(np.asarray(sample.emg.data, dtype=np.float32).T.copy())  # (C, N)
            item["emg_fs"] = torch.tensor(sample.emg.rate, dtype=torch.float32)
        for name in ("heart_rate", "breath"):
            s = getattr(sample, name)
            if name in self.modalities and s is not None:
                item[name] = torch.from_numpy(np.asarray(s.data, dtype=np.float32))
                item[f"{name}_fs"] = torch.tensor(s.rate, dtype=torch.float32)
        missing = [m for m in self.modalities if m != "video" and m not in item]
        if missing:
            raise DataError(f"{rec.id}: missing modality {', '.join(missing)} in {self.source.root}")
        for key, fn in self.transforms.items():
            if key in item:
                item[key] = fn(item[key])
        return item


_TIME_AXIS = {"pose": 0, "emg": 1, "heart_rate": 0, "breath": 0}


def pad_collate(batch: Sequence[dict]) -> dict:
    """Collate item dicts: stack tensors, zero-pad ``pose``/``emg``/physiology to the longest (and, for sEMG, to
    the most channels), add ``<key>_lengths`` (B,) and ``emg_channels`` (B,); strings become lists; nested
    ``query``/``exemplars`` of pair items are collated recursively."""
    if not batch:
        raise DataError("cannot collate an empty batch")
    out: dict = {}
    for key in batch[0]:
        vals = [b[key] for b in batch]
        if key == "exemplars":
            out[key] = [pad_collate([v[m] for v in vals]) for m in range(len(vals[0]))]
        elif isinstance(vals[0], dict):
            out[key] = pad_collate(vals)
        elif isinstance(vals[0], torch.Tensor):
            ragged = len({tuple(v.shape) for v in vals}) > 1
            if ragged and key not in _TIME_AXIS and key != "video":
                raise DataError(f"cannot batch {key!r}: shapes differ {[tuple(v.shape) for v in vals]}")
            out[key] = _pad_stack(vals) if ragged else torch.stack(vals)
            if key in _TIME_AXIS or (key == "video" and ragged):  # video (V, 3, T, H, W) with frames=None
                axis = _TIME_AXIS.get(key, 2)
                out[f"{key}_lengths"] = torch.tensor([v.shape[axis] for v in vals], dtype=torch.long)
            if key == "emg":
                out["emg_channels"] = torch.tensor([v.shape[0] for v in vals], dtype=torch.long)
        else:
            out[key] = vals
    return out


def _pad_stack(vals: Sequence) -> object:
    shape = [max(v.shape[d] for v in vals) for d in range(vals[0].dim())]
    out = vals[0].new_zeros((len(vals), *shape))
    for i, v in enumerate(vals):
        out[(i, *(slice(0, s) for s in v.shape))] = v
    return out


class FlexPairDataset(torch.utils.data.Dataset):
    """Query/exemplar pairs for contrastive regression (CoRe).

    The exemplars of a query come from the *training* split of the same action. When ``split == "train"`` one
    random exemplar is drawn per access (different each epoch; call :meth:`set_epoch`), never the query itself;
    otherwise ``voters`` exemplars are fixed per query by ``seed``. Items: ``{"query": item, "exemplars":
    [item] * M, "exemplar_scores": (M,)}``. Extra keyword arguments go to :class:`FlexSampleDataset`.
    """

    def __init__(
        self,
        source,
        *,
        split: str = "train",
        protocol: str = "random",
        voters: int = 3,
        seed: int = 0,
        **sample_kwargs,
    ):
        src = _as_source(source)
        splits = src.splits(protocol, seed=seed)
        self.queries = FlexSampleDataset(src, ids=splits[split], **sample_kwargs)
        self.pool = FlexSampleDataset(src, ids=splits["train"], **sample_kwargs)
        self.train = split == "train"
        self.voters = 1 if self.train else int(voters)
        if self.voters < 1:
            raise DataError(f"voters must be >= 1, got {voters}")
        self.seed = seed
        self.epoch = 0
        self._pool_by_action = self.pool.ids_by_action()
        for r in self.queries.records:
            if not self._pool_by_action.get(r.action) or (
                self.train and len(self._pool_by_action[r.action]) < 2
            ):
                raise DataError(
                    f"no training exemplar of action {r.action} for {r.id} under protocol {protocol}"
                )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.queries)

    def exemplar_indices(self, index: int) -> list[int]:
        rec = self.queries.records[index]
        pool = self._pool_by_action[rec.action]
        if self.train:
            pool = [i for i in pool if self.pool.records[i].id != rec.id]
            rng = np.random.default_rng([self.seed, self.epoch, index])
            return [pool[int(rng.integers(len(pool)))]]
        rng = np.random.default_rng([self.seed, index])
        replace = len(pool) < self.voters
        return [pool[int(k)] for k in rng.choice(len(pool), size=self.voters, replace=replace)]

    def __getitem__(self, index: int) -> dict:
        ex = [self.pool[i] for i in self.exemplar_indices(index)]
        return {
            "query": self.queries[index],
            "exemplars": ex,
            "exemplar_scores": torch.stack([e["score"] for e in ex]),
        }
