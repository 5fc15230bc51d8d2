"""Run one function over many items: inline, in local processes, or as Ray tasks on a cluster (extra ``dist``).

Every caller (feature extraction, the full simulator, batch coaching) hands :func:`map_tasks` a picklable
module-level function and its items; each call writes its own output atomically, so a call that dies (a killed
worker, a lost node) is simply run again and nothing half-written is ever read. Without ``ray`` the same code
runs in a process pool and Ray is never imported.

- ``ray=None, workers<=1``: in this process, in order (the reference every engine must match);
- ``ray=None, workers=N``: ``N`` spawned local processes (a process that dies is restarted and its items redone);
- ``ray="auto"``: start a local Ray with ``workers`` CPUs (or reuse the one this process started);
- ``ray="ADDRESS"``: join the cluster at ``ADDRESS`` (``ray start --head`` printed it); Ray retries a task whose
  worker died (``max_retries``).

An exception inside ``fn`` is not a crash of the job: it comes back as that item's :attr:`TaskResult.error`
(the caller reports which items failed and exits non-zero), while the other items complete.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from flexaqa.errors import FlexaqaError, UsageError, require

RETRIES = 3  # times an item is redone after its worker process died


@dataclass(frozen=True)
class TaskResult:
    """What one call of the function gave: its ``value``, or the ``error`` it raised (message, kind)."""

    index: int
    item: Any
    value: Any = None
    error: str | None = None
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class WorkerLostError(FlexaqaError):
    """A worker died (killed, out of memory) more often than :data:`RETRIES` while running an item."""


def _call(fn: Callable, index: int, item: Any) -> TaskResult:
    """Run ``fn(item)`` and capture an exception as the result (runs inside the worker)."""
    try:
        return TaskResult(index, item, value=fn(item))
    except Exception as exc:  # reported per item; the job goes on
        msg = (
            str(exc)
            if isinstance(exc, FlexaqaError)
            else "".join(traceback.format_exception_only(exc)).strip()
        )
        return TaskResult(index, item, error=msg or type(exc).__name__, error_type=type(exc).__name__)


def engine_name(ray: str | None, workers: int) -> str:
    """``"inline"``, ``"processes"`` or ``"ray"`` for these options."""
    return "ray" if ray else ("processes" if workers > 1 else "inline")


def map_tasks(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    workers: int = 1,
    ray: str | None = None,
    desc: str | None = None,
    progress: bool = True,
    num_cpus: float = 1,
) -> list[TaskResult]:
    """``fn`` over ``items`` on the engine chosen by ``ray``/``workers`` (see the module); results in item order.

    ``num_cpus`` is what one Ray task reserves. ``desc`` labels the progress bar (items done, rate, ETA).
    """
    items = list(items)
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    engine = engine_name(ray, workers)
    run = {"inline": _run_inline, "processes": _run_processes, "ray": _run_ray}[engine]
    from tqdm.auto import tqdm

    results: list[TaskResult | None] = [None] * len(items)
    with tqdm(total=len(items), desc=desc, disable=not progress or not items, unit="task") as bar:
        kwargs = {"ray": ray, "num_cpus": num_cpus} if engine == "ray" else {}
        for res in run(fn, items, workers, **kwargs):
            results[res.index] = res
            bar.update(1)
    return [r for r in results if r is not None]


def _run_inline(fn, items: Sequence, workers: int) -> Iterator[TaskResult]:
    for i, item in enumerate(items):
        yield _call(fn, i, item)


def _run_processes(fn, items: Sequence, workers: int) -> Iterator[TaskResult]:
    todo = dict(enumerate(items))
    deaths: dict[int, int] = {}
    ctx = mp.get_context("spawn")  # fork after torch/OpenMP started threads can hang the child
    while todo:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
            futures = {pool.submit(_call, fn, i, item): i for i, item in todo.items()}
            pending = set(futures)
            broken = False
            while pending and not broken:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = futures[fut]
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    todo.pop(i, None)
                    yield res
            if broken:  # which item killed the worker is unknown: every unfinished one counts a death
                for fut in pending:
                    fut.cancel()
                for i in todo:
                    deaths[i] = deaths.get(i, 0) + 1
                lost = [i for i, n in deaths.items() if n > RETRIES and i in todo]
                if lost:
                    raise WorkerLostError(
                        f"a worker process died {RETRIES + 1} times while running item {lost[0]} "
                        f"({todo[lost[0]]!r}); out of memory? try fewer --workers"
                    )


def init_ray(ray: str, num_cpus: int | None = None):
    """The ``ray`` module, connected: ``"auto"`` starts (or reuses) a local Ray, anything else is an address."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    rt = require("ray", "dist", "running on Ray (--ray)")
    if not rt.is_initialized():
        if ray == "auto":
            rt.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        else:
            rt.init(address=ray, log_to_driver=False)
    return rt


def _run_ray(fn, items: Sequence, workers: int, *, ray: str, num_cpus: float) -> Iterator[TaskResult]:
    rt = init_ray(ray, workers if ray == "auto" else None)
    remote = rt.remote(num_cpus=num_cpus, max_retries=RETRIES, retry_exceptions=False)(_call)
    fn_ref = rt.put(fn)
    refs = [remote.remote(fn_ref, i, item) for i, item in enumerate(items)]
    pending = list(refs)
    while pending:
        done, pending = rt.wait(pending, num_returns=1)
        for ref in done:
            try:
                yield rt.get(ref)
            except rt.exceptions.RayError as exc:  # the worker died more than max_retries times
                i = refs.index(ref)
                raise WorkerLostError(f"Ray could not run item {i} ({items[i]!r}): {exc}") from exc
