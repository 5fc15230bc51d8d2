"""Feature cache: per-sample, per-view feature arrays written once and reused, so training on cached features
needs no video decoding.

Layout: ``<cache_root>/<extractor>-<hash>/config.json`` and ``<sample_id>/<view>.npy``, where ``hash`` is the
first 12 hex digits of the SHA-256 of the extractor's config as sorted JSON; change any config value and a new
folder is used, so stale features are never read.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_bytes, atomic_write_text, json_text
from flexaqa.data.schema import CorruptSampleError, DataError


def config_hash(config: Mapping) -> str:
    """12 hex digits identifying ``config`` (JSON-serialisable, key order irrelevant)."""
    try:
        text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError) as exc:
        raise DataError(f"feature-extractor config must be JSON-serialisable ({exc})") from exc
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class FeatureCache:
    """Features of one extractor + config. ``get``/``put`` one ``(sample_id, view)`` array."""

    def __init__(self, root: str | Path, extractor: str, config: Mapping | None = None):
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", extractor):
            raise DataError(
                f"extractor name {extractor!r} must use letters, digits, '_', '.', '+' or '-' only"
            )
        self.extractor = extractor
        self.config = dict(config or {})
        self.hash = config_hash(self.config)
        self.dir = Path(root) / f"{extractor}-{self.hash}"

    def path(self, sample_id: str, view: str) -> Path:
        return self.dir / sample_id / f"{view}.npy"

    def has(self, sample_id: str, view: str) -> bool:
        return self.path(sample_id, view).is_file()

    def put(self, sample_id: str, view: str, features: np.ndarray) -> Path:
        if not (self.dir / "config.json").is_file():
            meta = {"extractor": self.extractor, "hash": self.hash, "config": self.config}
            atomic_write_text(self.dir / "config.json", json_text(meta, indent=1) + "\n")
        buf = io.BytesIO()
        np.save(buf, np.asarray(features), allow_pickle=False)
        return atomic_write_bytes(self.path(sample_id, view), buf.getvalue())

    def get(self, sample_id: str, view: str) -> np.ndarray:
        path = self.path(sample_id, view)
        if not path.is_file():
            raise CorruptSampleError(
                path, f"no cached {self.extractor} features for {sample_id} {view}; build the cache first"
            )
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise CorruptSampleError(path, f"unreadable cached features ({exc})") from exc

    def missing(self, sample_ids: Iterable[str], views: Sequence[str]) -> list[tuple[str, str]]:
        return [(s, v) for s in sample_ids for v in views if not self.has(s, v)]


def build_feature_cache(
    source,
    extractor: Callable[[np.ndarray], np.ndarray],
    *,
    name: str,
    config: Mapping | None = None,
    root: str | Path | None = None,
    ids: Sequence[str] | None = None,
    views: Sequence[str] | None = None,
    num_frames: int | None = 103,
    size: int | tuple[int, int] | None = 224,
    overwrite: bool = False,
    progress: bool = True,
) -> FeatureCache:
    """Run ``extractor`` on every sample's frames ``(T, H, W, 3)`` uint8 per view and cache the result.

    ``config`` should hold everything that changes the features (weights, frame count, size...); ``num_frames``
    and ``size`` are added to it. Already cached entries are skipped unless ``overwrite``.
    """
    from tqdm import tqdm

    cfg = {**(config or {}), "num_frames": num_frames, "size": size}
    cache = FeatureCache(root or Path(source.root) / "features", name, cfg)
    views = tuple(views or source.view_names)
    for sid in tqdm(
        list(ids or [r.id for r in source.records]), desc=f"features {name}", disable=not progress
    ):
        todo = [v for v in views if overwrite or not cache.has(sid, v)]
        if not todo:
            continue
        sample = source.load(sid, modalities=("video",), views=todo, num_frames=num_frames, size=size)
        for v in todo:
            if v in sample.video:
                cache.put(sid, v, extractor(sample.video[v]))
    return cache
