"""One function over a few items in threads, for the readers' decoding (PyAV, libjpeg and swscale release the
GIL while they work): the views of a sample, the JPEG frames of a view.

The pools are shared by the process and rebuilt in a forked child (a DataLoader worker), whose copy of a parent's
pool has no threads.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_lock = threading.Lock()
_inside = threading.local()


def usable_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def in_loader_worker() -> bool:
    """Whether this process is a PyTorch DataLoader worker (the workers are then the parallelism)."""
    torch = sys.modules.get("torch")  # never imported here: a process without torch has no workers
    try:
        return torch is not None and torch.utils.data.get_worker_info() is not None
    except AttributeError:
        return False


def default_threads(n_items: int) -> int:
    """Threads for ``n_items`` concurrent decodes: one per item, at most one per core this process may use, and
    one in a DataLoader worker."""
    if in_loader_worker():
        return 1
    return max(1, min(n_items, usable_cores()))


def _pool(threads: int) -> ThreadPoolExecutor:
    key = (os.getpid(), threads)
    with _lock:
        pool = _pools.get(key)
        if pool is None:
            for k in [k for k in _pools if k[0] != key[0]]:  # a parent's pools: their threads are not here
                del _pools[k]
            pool = _pools[key] = ThreadPoolExecutor(threads, thread_name_prefix="flexaqa-decode")
        return pool


def _run(fn: Callable[[T], R], item: T) -> R:
    _inside.active = True
    try:
        return fn(item)
    finally:
        _inside.active = False


def thread_map(fn: Callable[[T], R], items: Iterable[T], threads: int) -> list[R]:
    """``[fn(x) for x in items]``, computed on ``threads`` threads; the first item's exception (in order) is
    raised. Inline for one thread, one item, or a call from inside another ``thread_map`` (no nested waits)."""
    items = list(items)
    if threads <= 1 or len(items) < 2 or getattr(_inside, "active", False):
        return [fn(x) for x in items]
    futures = [_pool(threads).submit(_run, fn, x) for x in items]
    return [f.result() for f in futures]
