"""Feature store: the features of one extractor + config as a few large arrays read at memory speed.

Same folder rule as :class:`~flexaqa.data.cache.FeatureCache` (``<root>/<extractor>-<hash>/``, ``hash`` from
:func:`~flexaqa.data.cache.config_hash`), so one config has one folder whichever format it holds. Inside:

- ``config.json``: ``{"extractor", "hash", "config"}``;
- ``shards/<key>/shard-NNNNN.npy``: ``(N, D)`` float32 rows, one per sample (``key``: a view such as ``View-1``,
  or a modality: ``pose``, ``emg``);
- ``shards/<key>/shard-NNNNN.ids.json``: the manifest ``{"ids": [...], "sha256": ..., "shape": [N, D]}``, the
  sample id of every row and the SHA-256 of the ``.npy`` file. Both are written atomically (temporary file, then
  ``os.replace``) and the manifest **last**: a shard without its manifest is invisible to readers and is
  redone by the next run (a killed writer never leaves a partial shard that can be read);
- ``missing.json``: the samples the last extraction could not read (id, file, reason), per key.

Readers memory-map every complete shard (``np.load(mmap_mode="r")``: zero copy, the OS page cache shares it
between processes) and index sample id -> (shard, row); :meth:`FeatureReader.take` gathers many rows at once.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexaqa._io import atomic_write_bytes, atomic_write_text, file_sha256, json_text
from flexaqa.data.cache import FeatureCache
from flexaqa.data.schema import CorruptSampleError, DataError

SHARDS = "shards"
_SHARD = re.compile(r"shard-(\d{5,})\.ids\.json")
_KEY = re.compile(r"[A-Za-z0-9_.+-]+")


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


@dataclass(frozen=True)
class Shard:
    """One complete shard: its number, its files and the sample id of each row."""

    key: str
    number: int
    npy: Path
    manifest: Path
    ids: tuple[str, ...]
    sha256: str
    shape: tuple[int, ...]


class FeatureStore:
    """The sharded features of one extractor + config (module doc). Writers hold the cache root's lock."""

    def __init__(self, root: str | Path, extractor: str, config: Mapping | None = None):
        legacy = FeatureCache(root, extractor, config)  # the same name check and folder rule
        self.root = Path(root)
        self.extractor, self.config, self.hash, self.dir = (
            legacy.extractor,
            legacy.config,
            legacy.hash,
            legacy.dir,
        )

    @classmethod
    def open(cls, folder: str | Path) -> FeatureStore:
        """The store (or old per-sample cache) in ``folder``, from its ``config.json``."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            store = cls(folder.parent, meta["extractor"], meta["config"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptSampleError(folder / "config.json", f"not a feature store config ({exc})") from exc
        if store.dir.name != folder.name:
            raise CorruptSampleError(
                folder / "config.json", f"its config hashes to {store.dir.name}, not {folder.name}"
            )
        return store

    # ----------------------------------------------------------------------------------------------- reading

    def keys(self) -> list[str]:
        base = self.dir / SHARDS
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def shards(self, key: str) -> list[Shard]:
        """The complete shards of ``key`` (those whose manifest exists), by number."""
        out = []
        folder = self.dir / SHARDS / key
        for manifest in sorted(folder.glob("shard-*.ids.json")) if folder.is_dir() else ():
            m = _SHARD.fullmatch(manifest.name)
            if not m:
                continue
            try:
                doc = json.loads(manifest.read_text(encoding="utf-8"))
                ids, sha, shape = tuple(doc["ids"]), str(doc["sha256"]), tuple(int(x) for x in doc["shape"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CorruptSampleError(manifest, f"unreadable shard manifest ({exc})") from exc
            npy = manifest.with_name(f"shard-{m.group(1)}.npy")
            out.append(Shard(key, int(m.group(1)), npy, manifest, ids, sha, shape))
        return sorted(out, key=lambda s: s.number)

    def reader(self, key: str) -> FeatureReader:
        return FeatureReader(self, key)

    def missing(self, ids: Iterable[str], key: str) -> list[str]:
        have = {i for s in self.shards(key) for i in s.ids}
        return [i for i in ids if i not in have]

    def failed(self) -> dict[str, list[dict]]:
        """``{key: [{"id", "path", "error"}]}`` of the last extraction (``missing.json``)."""
        path = self.dir / "missing.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def legacy_ids(self, key: str) -> list[str]:
        """Sample ids with an old per-sample file ``<sample_id>/<key>.npy`` in this folder."""
        if not self.dir.is_dir():
            return []
        return sorted(p.parent.name for p in self.dir.glob(f"*/{key}.npy") if p.parent.name != SHARDS)

    def legacy_keys(self) -> list[str]:
        """The keys (views, modalities) with old per-sample files in this folder."""
        if not self.dir.is_dir():
            return []
        return sorted({p.stem for p in self.dir.glob("*/*.npy") if p.parent.name != SHARDS})

    def legacy_pending(self) -> dict[str, list[str]]:
        """``{key: sample ids}`` in the old per-sample layout and not in a shard yet (what migrate copies)."""
        out = {k: self.missing(self.legacy_ids(k), k) for k in self.legacy_keys()}
        return {k: v for k, v in out.items() if v}

    # ----------------------------------------------------------------------------------------------- writing

    def write_config(self) -> None:
        if not (self.dir / "config.json").is_file():
            meta = {"extractor": self.extractor, "hash": self.hash, "config": self.config}
            atomic_write_text(self.dir / "config.json", json_text(meta, indent=1) + "\n")

    def next_number(self, key: str) -> int:
        folder = self.dir / SHARDS / key
        nums = [int(p.name[6:].split(".")[0]) for p in folder.glob("shard-*")] if folder.is_dir() else []
        return max(nums, default=-1) + 1

    def write_shard(self, key: str, number: int, ids: Sequence[str], features: np.ndarray) -> Shard:
        """Write shard ``number`` of ``key``: rows ``features (len(ids), D)``; the manifest goes last."""
        if not _KEY.fullmatch(key):
            raise DataError(f"feature key {key!r} must use letters, digits, '_', '.', '+' or '-' only")
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2 or len(x) != len(ids):
            raise DataError(f"a shard needs one row per sample: {len(ids)} ids, features of shape {x.shape}")
        if len(set(ids)) != len(ids):
            raise DataError(f"shard {number} of {key} lists a sample twice")
        self.write_config()
        data = _npy_bytes(x)
        npy = self.dir / SHARDS / key / f"shard-{number:05d}.npy"
        manifest = npy.with_name(f"shard-{number:05d}.ids.json")
        manifest.unlink(missing_ok=True)  # an old manifest must never describe the new array
        atomic_write_bytes(npy, data)
        sha = hashlib.sha256(data).hexdigest()
        doc = {"ids": list(ids), "sha256": sha, "shape": list(x.shape), "dtype": "float32"}
        atomic_write_text(manifest, json_text(doc, indent=None) + "\n")
        return Shard(key, number, npy, manifest, tuple(ids), sha, x.shape)

    def write_failed(self, failed: Mapping[str, Sequence[Mapping]]) -> None:
        """Record the samples of the last extraction that could not be read (none: the file is removed)."""
        path = self.dir / "missing.json"
        rows = {k: list(v) for k, v in failed.items() if v}
        if rows:
            self.write_config()
            atomic_write_text(path, json_text(rows, indent=1) + "\n")
        else:
            path.unlink(missing_ok=True)

    def clean(self) -> list[Path]:
        """Remove what a killed writer left (temporary files, arrays without a manifest); returns them."""
        gone = []
        for key in self.keys():
            folder = self.dir / SHARDS / key
            for p in sorted(folder.glob(".*.tmp")) + sorted(folder.glob("shard-*.npy")):
                if p.suffix == ".tmp" or not p.with_name(p.name[:-4] + ".ids.json").is_file():
                    p.unlink(missing_ok=True)
                    gone.append(p)
        return gone

    # ----------------------------------------------------------------------------------------------- checking

    def verify(self, ids: Iterable[str] | None = None) -> VerifyReport:
        """Re-hash every shard; report bad hashes/shapes, duplicate ids, leftovers and (given ``ids``) the
        samples a key lacks."""
        rep = VerifyReport(self.dir)
        for key in self.keys():
            seen: set[str] = set()
            rows, dims = 0, set()
            for s in self.shards(key):
                if not s.npy.is_file():
                    rep.problems.append(f"{s.manifest}: its array {s.npy.name} is missing")
                    continue
                if file_sha256(s.npy) != s.sha256:
                    rep.problems.append(f"{s.npy}: SHA-256 differs from its manifest (corrupt or replaced)")
                    continue
                arr = np.load(s.npy, mmap_mode="r", allow_pickle=False)
                if tuple(arr.shape) != s.shape or len(s.ids) != len(arr):
                    rep.problems.append(f"{s.npy}: shape {arr.shape}, manifest says {s.shape}")
                dup = seen.intersection(s.ids)
                rep.problems += [
                    f"{key}: sample {i} is in more than one shard ({s.npy.name})" for i in sorted(dup)
                ]
                seen.update(s.ids)
                rows += len(s.ids)
                dims.add(arr.shape[1] if arr.ndim == 2 else -1)
            rep.keys[key] = {"shards": len(self.shards(key)), "samples": len(seen), "dim": _dim(dims)}
            if ids is not None:
                rep.absent[key] = [i for i in ids if i not in seen]
        leftovers = [p for k in self.keys() for p in (self.dir / SHARDS / k).glob("*") if p.is_file()]
        rep.leftovers = sorted(
            str(p)
            for p in leftovers
            if p.name.startswith(".") or (p.suffix == ".npy" and not p.with_suffix(".ids.json").is_file())
        )
        rep.failed = self.failed()
        return rep

    def info(self) -> dict:
        keys = {}
        for key in self.keys():
            shards = self.shards(key)
            keys[key] = {
                "shards": len(shards),
                "samples": sum(len(s.ids) for s in shards),
                "dim": _dim({s.shape[1] for s in shards}),
                "bytes": sum(s.npy.stat().st_size for s in shards if s.npy.is_file()),
            }
        return {
            "folder": str(self.dir),
            "extractor": self.extractor,
            "config": self.config,
            "keys": keys,
            "legacy_samples": len({i for k in self.legacy_keys() for i in self.legacy_ids(k)}),
            "failed": {k: [f["id"] for f in v] for k, v in self.failed().items()},
        }


def _dim(dims: set[int]) -> int | list[int]:
    """The feature size of a key: one number, or the sorted sizes where they differ (``keysteps``: per action)."""
    return sorted(dims) if len(dims) > 1 else next(iter(dims), 0)


@dataclass
class VerifyReport:
    """What :meth:`FeatureStore.verify` found; ``ok`` when no shard is corrupt or duplicated."""

    folder: Path
    keys: dict[str, dict] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    leftovers: list[str] = field(
        default_factory=list
    )  # a killed writer's files: invisible, removed on resume
    absent: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


class FeatureReader:
    """Memory-mapped rows of one key of a store: ``get(sample_id)`` and vectorised ``take(ids)``."""

    def __init__(self, store: FeatureStore, key: str):
        self.store, self.key = store, key
        self.shards = store.shards(key)
        self._arrays = []
        self.index: dict[str, tuple[int, int]] = {}
        for n, s in enumerate(self.shards):
            try:
                arr = np.load(s.npy, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise CorruptSampleError(
                    s.npy, f"unreadable feature shard ({exc}); run `flexaqa features verify`"
                ) from exc
            if arr.ndim != 2 or tuple(arr.shape) != s.shape or len(arr) != len(s.ids):
                raise CorruptSampleError(s.npy, f"shape {arr.shape} but its manifest says {s.shape}")
            self._arrays.append(arr)
            for row, sid in enumerate(s.ids):
                self.index.setdefault(sid, (n, row))  # a duplicate (verify reports it): the first shard wins
        self.dims = [a.shape[1] for a in self._arrays]
        self.dim = _dim(set(self.dims))  # a list where shards differ (keysteps: one size per action)

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self.index

    @property
    def ids(self) -> list[str]:
        return list(self.index)

    def _locate(self, sample_id: str) -> tuple[int, int]:
        try:
            return self.index[sample_id]
        except KeyError:
            raise DataError(
                f"no {self.store.extractor} features of sample {sample_id} ({self.key}) in {self.store.dir}; "
                "run `flexaqa features extract`"
            ) from None

    def get(self, sample_id: str) -> np.ndarray:
        shard, row = self._locate(sample_id)
        return np.array(self._arrays[shard][row], dtype=np.float32)

    def take(self, ids: Sequence[str]) -> np.ndarray:
        """Rows of ``ids`` in order, ``(len(ids), D)`` float32 (one gather per shard)."""
        loc = np.array([self._locate(i) for i in ids], dtype=np.int64).reshape(-1, 2)
        dims = {self.dims[s] for s in np.unique(loc[:, 0])}
        if len(dims) > 1:
            raise DataError(
                f"{self.store.dir} ({self.key}): these samples have features of different sizes {sorted(dims)} "
                "(keysteps features: one size per action); take one action's samples at a time"
            )
        width = dims.pop() if dims else (self.dim if isinstance(self.dim, int) else 0)
        out = np.empty((len(loc), width), dtype=np.float32)
        for shard in np.unique(loc[:, 0]):
            sel = np.flatnonzero(loc[:, 0] == shard)
            rows = loc[sel, 1]
            order = np.argsort(rows, kind="stable")  # read the mapped file front to back
            out[sel[order]] = self._arrays[shard][rows[order]]
        return out


def migrate_cache(
    old_cache_dir: str | Path, *, shard_size: int = 1024, remove_old: bool = False
) -> FeatureStore:
    """Copy an old per-sample cache folder (``<sample_id>/<view>.npy``) into shards in the same folder.

    Entries already in a shard are skipped (run it again after an interruption). ``remove_old`` deletes the
    per-sample files once the store verifies. The caller holds the cache root's lock.
    """
    store = FeatureStore.open(old_cache_dir)
    store.clean()
    old = FeatureCache(store.root, store.extractor, store.config)
    for key, todo in store.legacy_pending().items():
        number = store.next_number(key)
        for start in range(0, len(todo), shard_size):
            chunk = todo[start : start + shard_size]
            rows = np.stack([np.asarray(old.get(i, key), dtype=np.float32).ravel() for i in chunk])
            store.write_shard(key, number, chunk, rows)
            number += 1
    if remove_old:
        rep = store.verify()
        if not rep.ok:
            raise DataError(f"{store.dir}: the new shards do not verify ({rep.problems[0]}); old files kept")
        for key, lost in store.legacy_pending().items():
            raise DataError(f"{store.dir}: {lost[0]} ({key}) is not in a shard; old files kept")
        for p in store.dir.glob("*/*.npy"):
            if p.parent.name != SHARDS:
                p.unlink()
        for d in store.dir.iterdir():
            if d.is_dir() and d.name != SHARDS and not any(d.iterdir()):
                d.rmdir()
    return store


def stores_under(root: str | Path) -> list[FeatureStore]:
    """Every store or old cache folder (a ``config.json``) directly under the cache root ``root``."""
    root = Path(root)
    return [FeatureStore.open(p.parent) for p in sorted(root.glob("*/config.json"))] if root.is_dir() else []
