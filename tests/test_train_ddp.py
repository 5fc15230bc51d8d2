"""Two-process DDP on CPU (gloo): both ranks end with identical weights although they draw different exemplars."""

from __future__ import annotations

import json
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


def _rank_zero_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    import os
    import time
    from pathlib import Path

    from flexaqa.errors import OutputError
    from flexaqa.train.distributed import RankZeroFailed, cleanup_distributed, init_distributed, on_rank_zero

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    out = Path(out_dir)

    def step():
        time.sleep(1.0)  # a slow step (extracting features): the other rank must not go on meanwhile
        (out / f"ran{rank}").write_text("done")
        return "result"

    def failing():
        raise OutputError("the run folder holds another run")

    assert init_distributed() == (rank, world)
    try:
        got = on_rank_zero(step)
        seen = (out / "ran0").read_text()  # rank 1 comes back only after rank 0's step finished
        try:
            on_rank_zero(failing)
            raised = None
        except (OutputError, RankZeroFailed) as exc:
            raised = [type(exc).__name__, exc.exit_code, str(exc)]
        (out / f"rank{rank}.json").write_text(json.dumps({"got": got, "seen": seen, "raised": raised}))
    finally:
        cleanup_distributed()


def test_on_rank_zero_runs_a_step_once_while_the_others_wait_and_shares_its_failure(tmp_path):
    import torch.multiprocessing as mp

    mp.start_processes(
        _rank_zero_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, start_method="spawn"
    )
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert not (tmp_path / "ran1").exists()  # the step ran on rank 0 only
    assert (r0["got"], r1["got"]) == ("result", None)
    assert r0["seen"] == r1["seen"] == "done"
    assert r0["raised"] == ["OutputError", 73, "the run folder holds another run"]
    assert r1["raised"][:2] == ["RankZeroFailed", 73]  # same exit code: the job fails, nobody hangs
    assert "rank 0 failed: OutputError: the run folder holds another run" in r1["raised"][2]
