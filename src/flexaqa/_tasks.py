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

import contextlib
import multiprocessing as mp
import os
import signal
import socket
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from flexaqa.errors import EXIT_OS_ERROR, EXIT_USAGE, FlexaqaError, UsageError, require

RETRIES = 3  # times an item is redone after its worker process died


@dataclass(frozen=True)
class TaskResult:
    """What one call of the function gave: its ``value``, or the ``error`` it raised (message, kind)."""

    index: int
    item: Any
    value: Any = None
    error: str | None = None
    error_type: str | None = None
    exit_code: int | None = None  # the flexaqa exit code the error maps to (74 for an OSError)

    @property
    def ok(self) -> bool:
        return self.error is None


class WorkerLostError(FlexaqaError):
    """A worker died (killed, out of memory) more often than :data:`RETRIES` while running an item."""


class TasksFailedError(FlexaqaError):
    """Some items raised; the exit code is that of the first failure (its error class's, 74 for an OSError)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, FlexaqaError):
        return int(exc.exit_code)
    return EXIT_OS_ERROR if isinstance(exc, OSError) else EXIT_USAGE


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
        return TaskResult(
            index,
            item,
            error=msg or type(exc).__name__,
            error_type=type(exc).__name__,
            exit_code=_exit_code(exc),
        )


def raise_failures(results: Sequence[TaskResult], what: str = "item", *, total: int | None = None) -> None:
    """Raise :class:`TasksFailedError` naming the failed items (for jobs where any failure fails the job);
    ``total``: how many items the job had (default ``len(results)``)."""
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        n = len(results) if total is None else total
        raise TasksFailedError(
            f"{len(failed)} of {n} {what}(s) failed; {what} {first.item!r}: {first.error}{more}",
            first.exit_code or EXIT_USAGE,
        )


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
    num_gpus: float = 0,
) -> list[TaskResult]:
    """``fn`` over ``items`` on the engine chosen by ``ray``/``workers`` (see the module); results in item order.

    ``num_cpus`` and ``num_gpus`` are what one Ray task reserves (Ray sets the task's ``CUDA_VISIBLE_DEVICES``
    to the GPUs it got; a task that asks for none sees none). ``desc`` labels the progress bar (items done,
    rate, ETA).
    """
    done = iter_tasks(
        fn,
        items,
        workers=workers,
        ray=ray,
        desc=desc,
        progress=progress,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )
    return sorted(done, key=lambda r: r.index)


def iter_tasks(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    workers: int = 1,
    ray: str | None = None,
    desc: str | None = None,
    progress: bool = True,
    num_cpus: float = 1,
    num_gpus: float = 0,
) -> Iterator[TaskResult]:
    """As :func:`map_tasks`, but each result as soon as it is done (in any order: ``index`` says which item), so
    a caller can write big results away while the others run. Leaving the loop early stops the job."""
    items = list(items)
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    engine = engine_name(ray, workers)
    run = {"inline": _run_inline, "processes": _run_processes, "ray": _run_ray}[engine]
    from tqdm.auto import tqdm

    if num_gpus and engine != "ray":
        raise UsageError(
            "reserving GPUs per task needs Ray (--ray); local processes share the machine's GPUs"
        )
    kwargs = {"ray": ray, "num_cpus": num_cpus, "num_gpus": num_gpus} if engine == "ray" else {}
    with (
        tqdm(total=len(items), desc=desc, disable=not progress or not items, unit="task") as bar,
        contextlib.closing(run(fn, items, workers, **kwargs)) as results,
    ):
        for res in results:
            bar.update(1)
            yield res


def _run_inline(fn, items: Sequence, workers: int) -> Iterator[TaskResult]:
    for i, item in enumerate(items):
        yield _call(fn, i, item)


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them and reports once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's processes now (Ctrl-C, an error in the parent): nothing waits for running items."""
    for proc in list(getattr(pool, "_processes", {}).values()):
        with contextlib.suppress(OSError, ValueError):
            proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _run_processes(fn, items: Sequence, workers: int) -> Iterator[TaskResult]:
    todo = dict(enumerate(items))
    deaths: dict[int, int] = {}
    ctx = mp.get_context("spawn")  # fork after torch/OpenMP started threads can hang the child
    while todo:
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(todo)), mp_context=ctx, initializer=_ignore_sigint
        )
        try:
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
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown(wait=True, cancel_futures=True)
        if broken:  # which item killed the worker is unknown: every unfinished one counts a death
            for i in todo:
                deaths[i] = deaths.get(i, 0) + 1
            lost = [i for i, n in deaths.items() if n > RETRIES and i in todo]
            if lost:
                raise WorkerLostError(
                    f"a worker process died {RETRIES + 1} times while running item {lost[0]} "
                    f"({todo[lost[0]]!r}); out of memory? try fewer --workers"
                )


def require_ray_gpus(ray: str, workers: int = 1) -> int:
    """The number of GPUs of the Ray cluster ``ray`` (connecting to it); :class:`UsageError` when it has none."""
    rt = init_ray(ray, workers if ray == "auto" else None)
    gpus = int(rt.cluster_resources().get("GPU", 0))
    if not gpus:
        raise UsageError(
            f"--ray {ray}: the cluster has no GPU (`ray status` lists its resources); use --device cpu or auto"
        )
    return gpus


def init_ray(ray: str, num_cpus: int | None = None):
    """The ``ray`` module, connected: ``"auto"`` starts (or reuses) a local Ray with ``num_cpus`` CPUs (``None``:
    all), anything else is the address of a running cluster (``ray start --head`` printed it)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    rt = require("ray", "dist", "running on Ray (--ray)")
    if not rt.is_initialized():
        if ray != "auto":
            _check_reachable(ray)
        try:
            if ray == "auto":  # Ray's own address="auto" would join a cluster: "local" always starts one
                rt.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
            else:
                rt.init(address=ray, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(
                f"--ray {ray}: cannot start or join Ray ({exc}); give the address `ray start --head` printed "
                "(HOST:6379) or `auto`"
            ) from exc
    return rt


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Refuse at once a ``HOST:PORT`` nobody listens on (Ray itself waits minutes for it)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # not HOST:PORT (e.g. ray://...): Ray judges it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UsageError(
            f"--ray {address}: nothing answers there ({exc.strerror or exc}); start the cluster with "
            "`ray start --head` on that machine and give the address it prints, or use --ray auto"
        ) from exc


def _run_ray(
    fn, items: Sequence, workers: int, *, ray: str, num_cpus: float, num_gpus: float
) -> Iterator[TaskResult]:
    rt = init_ray(ray, workers if ray == "auto" else None)
    if num_gpus:
        require_ray_gpus(ray, workers)
    opts = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": RETRIES, "retry_exceptions": False}
    remote = rt.remote(**opts)(_call)
    fn_ref = rt.put(fn)
    refs = [remote.remote(fn_ref, i, item) for i, item in enumerate(items)]
    index = {ref: i for i, ref in enumerate(refs)}
    pending = list(refs)
    try:
        while pending:
            done, pending = rt.wait(pending, num_returns=1)
            for ref in done:
                try:
                    yield rt.get(ref)
                except rt.exceptions.RayError as exc:  # the worker died more than max_retries times
                    i = index[ref]
                    raise WorkerLostError(f"Ray could not run item {i} ({items[i]!r}): {exc}") from exc
    except BaseException:  # Ctrl-C or a lost item: the job's other tasks stop too
        for ref in pending:
            with contextlib.suppress(Exception):
                rt.cancel(ref, force=True)
        raise
