"""Two-process DDP on CPU (gloo): both ranks end with identical weights although they draw different exemplars."""

from __future__ import annotations

import socket

import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():  # pragma: no cover - depends on the torch build
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    import os

    import torch

    from flexaqa.models.synthetic import make_feature_set, split_feature_set
    from flexaqa.train import load_config
    from flexaqa.train.distributed import cleanup_distributed, init_distributed
    from flexaqa.train.trainer import fit

    # what torchrun would set
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    assert init_distributed() == (rank, world)
    try:
        train, val, _ = split_feature_set(make_feature_set("A01", 60, seed=1), seed=1)
        cfg = load_config(overrides=["model=core_gart_tiny", "epochs=3", "batch_size=4", "progress=false"])
        cfg.seed = rank  # different random exemplars per rank: only gradient averaging keeps weights equal
        result = fit(cfg, train, val)
        torch.save(result.model.state_dict(), f"{out_dir}/rank{rank}.pt")
        torch.save(result.history, f"{out_dir}/history{rank}.pt")
    finally:
        cleanup_distributed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_end_with_identical_weights(tmp_path):
    import torch.multiprocessing as mp

    from flexaqa.models import create_model

    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, start_method="spawn")
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    torch.manual_seed(0)  # rank 0's initial weights (DDP broadcasts them): training moved them
    start = create_model("core_gart_tiny").state_dict()
    assert not torch.equal(start["tree.leaf_w"], a["tree.leaf_w"])
    hist = torch.load(tmp_path / "history0.pt")
    assert len(hist) == 3 and all(h["loss"] > 0 for h in hist)
