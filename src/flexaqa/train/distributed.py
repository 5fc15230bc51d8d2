"""Distributed data parallel set-up: ``torchrun --nproc_per_node=N ...`` sets the environment, this joins it.

:func:`flexaqa.train.trainer.fit` notices an initialised process group by itself and wraps the model in DDP.
Files are written by rank 0 alone: :func:`on_rank_zero` runs a step (check and start a run folder, fill the
feature cache) on rank 0 while the other ranks wait, so no rank reads what rank 0 is still writing.
"""

from __future__ import annotations

import contextlib
import datetime
import os

from flexaqa.errors import EXIT_INTERRUPTED, FlexaqaError, require

# How long the other ranks wait for rank 0's step: it may extract a whole dataset's features meanwhile, far
# longer than the process group's collective timeout (30 min for gloo, 10 for nccl) allows.
WAIT_FOR_RANK_ZERO = datetime.timedelta(hours=48)

_waiting: tuple[object, object] | None = None  # (the default group, the gloo group the other ranks wait in)


class RankZeroFailed(FlexaqaError):
    """Rank 0 failed the step the other ranks waited for (rank 0 reports the error); same exit code."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group described by ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``.

    Backend: ``nccl`` when CUDA is available, else ``gloo`` (CPU). Without those variables (a plain run)
    nothing happens. Returns ``(rank, world_size)``. Also makes the group :func:`on_rank_zero` waits in.
    """
    torch = require("torch", "train", "distributed training")
    dist = torch.distributed
    if not dist.is_initialized():
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return 0, 1
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend=backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if dist.get_world_size() > 1:
        _waiting_group(dist)  # now, while every rank is here, not later inside a rank-0 step
    return dist.get_rank(), dist.get_world_size()


def _waiting_group(dist):
    """A gloo group over every rank with a long timeout (made once per process group, by every rank)."""
    global _waiting
    world = dist.group.WORLD
    if _waiting is None or _waiting[0] is not world:
        _waiting = (world, dist.new_group(backend="gloo", timeout=WAIT_FOR_RANK_ZERO))
    return _waiting[1]


def on_rank_zero(fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` on rank 0 alone while the other ranks wait for it to return.

    Every rank must call this at the same point. Returns ``fn``'s result on rank 0 and ``None`` on the others.
    When ``fn`` raises, rank 0 raises that error and the other ranks :class:`RankZeroFailed` with its exit code,
    so no rank goes on (or hangs) after a failed step. Without a process group (a plain run) it just calls
    ``fn``.
    """
    torch = require("torch", "train", "distributed training")
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return fn(*args, **kwargs)
    group = _waiting_group(dist)
    rank = dist.get_rank()
    if rank != 0:
        box: list = [None]
        dist.broadcast_object_list(box, src=0, group=group)
        if box[0] is not None:
            code, what = box[0]
            raise RankZeroFailed(f"rank {rank}: stopped because rank 0 failed: {what}", code)
        return None
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        if isinstance(exc, FlexaqaError):
            code = int(exc.exit_code)
        else:
            code = EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else 1
        with contextlib.suppress(Exception):  # a broken group: rank 0's own error is the one to see
            dist.broadcast_object_list([(code, f"{type(exc).__name__}: {exc}")], src=0, group=group)
        raise
    dist.broadcast_object_list([None], src=0, group=group)
    return result


def cleanup_distributed() -> None:
    """Leave the process group if one was joined."""
    torch = require("torch", "train", "distributed training")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
