"""Distributed data parallel set-up: ``torchrun --nproc_per_node=N ...`` sets the environment, this joins it.

:func:`flexaqa.train.trainer.fit` notices an initialised process group by itself and wraps the model in DDP.
"""

from __future__ import annotations

import os

from flexaqa.errors import require


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group described by ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``.

    Backend: ``nccl`` when CUDA is available, else ``gloo`` (CPU). Without those variables (a plain run)
    nothing happens. Returns ``(rank, world_size)``.
    """
    torch = require("torch", "train", "distributed training")
    dist = torch.distributed
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend=backend)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def cleanup_distributed() -> None:
    """Leave the process group if one was joined."""
    torch = require("torch", "train", "distributed training")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
