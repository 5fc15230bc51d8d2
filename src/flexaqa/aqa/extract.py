"""Batched feature extraction into the feature store (:mod:`flexaqa.data.featurestore`).

The job knows nothing of what a feature is: it gets :class:`StoreJob` entries (a store, its keys, a modality)
and a picklable ``factory(modality, device) -> encoder`` (:func:`flexaqa.aqa.features.feature_encoder`); an
encoder has ``load(source, sample_id, key)`` (runs in DataLoader workers: decoding, numpy features) and
``encode(items) -> (B, D)`` (runs in the job's process: one batched forward pass on the device, AMP on
CUDA). Samples are grouped into shards of ``shard_size``; a shard is the unit of work, written atomically
when all its samples are done, so a killed run redone skips every complete shard and never reads a partial
one.

Engines (identical features within float tolerance, whatever the batch size, worker count or engine):

- local (``ray=None``): one DataLoader over every sample of every unfinished shard, ``workers`` decoding
  processes (1: decode in this process), pinned memory on CUDA, batches of ``batch_size``;
- Ray (``ray="auto"|ADDRESS``): each shard is one task of :func:`flexaqa._tasks.map_tasks` (a lost worker's
  shard is redone); the store root must be on a filesystem every node sees.

A sample that cannot be read (:class:`~flexaqa.data.schema.CorruptSampleError`, a missing view or modality)
is recorded with its id and file; its shard completes without it and :class:`ExtractReport` lists it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from flexaqa._tasks import map_tasks
from flexaqa.aqa import AQAError
from flexaqa.data import open_dataset
from flexaqa.data.featurestore import FeatureStore
from flexaqa.data.schema import DataError
from flexaqa.errors import EXIT_BAD_DATA, BadDataError

SHARD_SIZE = 64  # samples per shard: the unit of work and of resume


def resolve_device(device: str | None) -> str:
    """``auto`` (or None) -> ``cuda`` when a GPU is visible, else ``cpu``; refuses ``cuda`` without one."""
    import torch

    device = device or "auto"
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AQAError(f"--device {device}: no CUDA GPU is visible to torch {torch.__version__}")
    return device


class MissingFeaturesError(AQAError, BadDataError):
    """Samples that could not be read: the others were stored; ``failed`` lists ``{"id", "key", "path",
    "error"}`` (exit code 3)."""

    exit_code = EXIT_BAD_DATA

    def __init__(self, failed: Sequence[dict], *, where: str = ""):
        self.failed = list(failed)
        ids = sorted({f["id"] for f in self.failed})
        first = "; ".join(
            f"{f['id']} ({f['key']}): {f['error']}"
            if f["path"] is None or f["path"] in f["error"]
            else f"{f['id']} ({f['key']}, {f['path']}): {f['error']}"
            for f in self.failed[:5]
        )
        more = f"; ... {len(self.failed) - 5} more" if len(self.failed) > 5 else ""
        super().__init__(
            f"{len(ids)} sample(s) could not be extracted: {', '.join(ids)}. {first}{more}. The other samples "
            f"are stored{where}; fix or remove these and run again (complete shards are skipped)"
        )


@dataclass(frozen=True)
class StoreJob:
    """The keys of one store to fill from one modality (``video``: the views; ``pose``/``emg``: itself)."""

    extractor: str
    config: dict
    modality: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to rebuild the job (picklable: it travels to Ray tasks)."""

    data: str  # dataset folder
    root: str  # feature cache root
    stores: tuple[StoreJob, ...]
    factory: Callable  # (modality, device) -> encoder
    device: str = "auto"
    batch_size: int = 8
    amp: bool = True

    def store(self, n: int) -> FeatureStore:
        s = self.stores[n]
        return FeatureStore(self.root, s.extractor, s.config)


@dataclass(frozen=True)
class ShardTask:
    """One shard of one store: sample ids and, per key, the shard number and the ids that key still lacks."""

    store: int
    ids: tuple[str, ...]
    todo: tuple[tuple[str, int, tuple[str, ...]], ...]  # (key, shard number, ids)

    @property
    def size(self) -> int:
        return sum(len(ids) for _, _, ids in self.todo)


@dataclass
class ExtractReport:
    """What a run did: samples extracted and skipped (already stored), and the ones that failed."""

    extracted: int = 0
    skipped: int = 0
    shards: int = 0
    failed: list[dict] = field(default_factory=list)  # {"id", "key", "path", "error"}

    def merge(self, other: ExtractReport) -> None:
        self.extracted += other.extracted
        self.shards += other.shards
        self.failed += other.failed


def _chunks(ids: list[str], size: int, group: Mapping[str, str] | None) -> list[tuple[str, ...]]:
    """Consecutive runs of ``ids`` of at most ``size``, a new one wherever ``group`` (e.g. the action) changes."""
    out: list[list[str]] = []
    for i in ids:
        if not out or len(out[-1]) == size or (group is not None and group[i] != group[out[-1][0]]):
            out.append([])
        out[-1].append(i)
    return [tuple(c) for c in out]


def plan(
    job: Job, ids: Sequence[str], *, shard_size: int = SHARD_SIZE, group: Mapping[str, str] | None = None
) -> tuple[list[ShardTask], int]:
    """The unfinished shards of ``ids`` (in order, ``shard_size`` samples each, never across two values of
    ``group``: a shard's rows share one feature size) and the count already stored."""
    tasks, skipped = [], 0
    ids = list(dict.fromkeys(ids))
    for n, sj in enumerate(job.stores):
        store = job.store(n)
        store.clean()  # what a killed writer left is invisible; remove it before numbering new shards
        lacking = {k: set(store.missing(ids, k)) for k in sj.keys}
        skipped += sum(len(ids) - len(v) for v in lacking.values())
        todo = [i for i in ids if any(i in v for v in lacking.values())]
        if group is not None:  # one action's samples together (stable): full shards, not one per trial
            todo.sort(key=lambda i: group[i])
        number = {k: store.next_number(k) for k in sj.keys}
        for chunk in _chunks(todo, shard_size, group):
            per_key = []
            for k in sj.keys:
                need = tuple(i for i in chunk if i in lacking[k])
                if need:
                    per_key.append((k, number[k], need))
                    number[k] += 1
            tasks.append(ShardTask(n, chunk, tuple(per_key)))
    return tasks, skipped


def run(
    job: Job,
    tasks: Sequence[ShardTask],
    *,
    workers: int = 1,
    ray: str | None = None,
    progress: bool = True,
    source=None,
) -> ExtractReport:
    """Run ``tasks`` (from :func:`plan`) on the engine ``workers``/``ray`` pick; write ``missing.json``."""
    report = ExtractReport()
    if ray:
        results = map_tasks(
            functools.partial(run_shard, job),
            tasks,
            workers=workers,
            ray=ray,
            desc="feature shards",
            progress=progress,
            num_gpus=1 if job.device == "cuda" else 0,  # a GPU task: Ray gives it one GPU of its node
        )
        for res in results:
            if not res.ok:
                raise AQAError(f"shard {res.index} failed: {res.error}")
            report.merge(res.value)
    elif tasks:
        report.merge(_run_local(job, tasks, workers=workers, progress=progress, source=source))
    for n in range(len(job.stores)):
        store = job.store(n)
        failed: dict[str, list] = {}
        for f in report.failed:
            if f["store"] == n:
                failed.setdefault(f["key"], []).append({k: f[k] for k in ("id", "path", "error")})
        store.write_failed(failed)
    return report


def run_shard(job: Job, task: ShardTask) -> ExtractReport:
    """One shard in this process (the function of a Ray task)."""
    return _run_local(job, [task], workers=1, progress=False, source=None)


class _Items:
    """``(task, sample_id, key)`` items as a torch Dataset: the encoder's ``load`` or the failure it raised."""

    def __init__(self, job: Job, tasks: Sequence[ShardTask], source, device: str):
        self.job, self.source, self.device = job, source, device
        self.items = []  # every view of a sample side by side: a batch holds all views of its samples
        for t, task in enumerate(tasks):
            need = {key: set(ids) for key, _, ids in task.todo}
            self.items += [(t, sid, key) for sid in task.ids for key in need if sid in need[key]]
        self.modality = [job.stores[tasks[t].store].modality for t, _, _ in self.items]
        self._encoders: dict = {}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        import torch

        _, sid, key = self.items[i]
        if self.source is None:
            self.source = open_dataset(self.job.data)
        mod = self.modality[i]
        if mod not in self._encoders:  # one per worker process, built on its first item
            self._encoders[mod] = self.job.factory(mod, "cpu", load_only=True)
        try:
            x = self._encoders[mod].load(self.source, sid, key)
        except (DataError, AQAError) as exc:  # a CorruptSampleError names its file; a missing view does not
            return {"i": i, "error": str(exc), "path": getattr(exc, "path", None)}
        return {"i": i, "x": torch.from_numpy(x)}


def _collate(batch: list) -> list:
    return batch


def _run_local(
    job: Job, tasks: Sequence[ShardTask], *, workers: int, progress: bool, source
) -> ExtractReport:
    import torch
    from tqdm.auto import tqdm

    device = resolve_device(job.device)
    items = _Items(job, tasks, source, device)
    loader = torch.utils.data.DataLoader(
        items,
        batch_size=job.batch_size,
        num_workers=workers if workers > 1 else 0,
        collate_fn=_collate,
        pin_memory=device.startswith("cuda"),
    )
    encoders: dict = {}
    results: list[dict] = [{} for _ in tasks]  # task -> {(key, sid): row}
    left = [t.size for t in tasks]
    report = ExtractReport()
    stores = {n: job.store(n) for n in {t.store for t in tasks}}
    with tqdm(total=len(items), desc="features", unit="sample", disable=not progress) as bar:
        for batch in loader:
            groups: dict = {}
            for item in batch:
                t, sid, key = items.items[item["i"]]
                if "error" in item:
                    report.failed.append(
                        {
                            "store": tasks[t].store,
                            "id": sid,
                            "key": key,
                            "path": item["path"],
                            "error": item["error"],
                        }
                    )
                    results[t][key, sid] = None
                else:
                    shape = tuple(item["x"].shape)
                    groups.setdefault((items.modality[item["i"]], shape), []).append((t, sid, key, item["x"]))
            for (mod, _), group in groups.items():  # every view of the batch in one forward pass
                if mod not in encoders:
                    encoders[mod] = job.factory(mod, device, amp=job.amp)
                rows = encoders[mod].encode([x for *_, x in group])  # (B, D)
                for (t, sid, key, _), row in zip(group, rows, strict=True):
                    results[t][key, sid] = np.asarray(row, dtype=np.float32)
            for item in batch:
                t = items.items[item["i"]][0]
                left[t] -= 1
                if left[t] == 0:  # the shard is complete: write it and free its rows
                    samples, shards = _write(stores[tasks[t].store], tasks[t], results[t])
                    report.extracted += samples
                    report.shards += shards
                    results[t] = {}
            bar.update(len(batch))
    return report


def _write(store: FeatureStore, task: ShardTask, rows: dict) -> tuple[int, int]:
    """Write the shard of every key of ``task`` (its samples that did not fail); ``(samples, shards)``."""
    samples = shards = 0
    for key, number, ids in task.todo:
        keep = [i for i in ids if rows.get((key, i)) is not None]
        if keep:
            store.write_shard(key, number, keep, np.stack([rows[key, i] for i in keep]))
            samples, shards = samples + len(keep), shards + 1
    return samples, shards
