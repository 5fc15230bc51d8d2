"""flexaqa._tasks.map_tasks: the same results inline, in local processes and as Ray tasks (a local Ray with 2
CPUs); an exception stays with its item; a worker killed mid-task has its item redone on both engines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flexaqa._tasks import TaskResult, TasksFailedError, WorkerLostError, map_tasks, raise_failures
from flexaqa.errors import EXIT_OS_ERROR, MissingExtraError, UsageError

ITEMS = [3, 1, 4, 1, 5, 9, 2, 6]


def _square(x: int) -> int:
    return x * x


def _fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError(f"no twos ({x})")
    if x == 9:
        raise FileNotFoundError(2, "No such file", f"/nowhere/{x}")
    return x


def _killed_first_time(arg: tuple[str, int]) -> tuple[int, bool]:
    """Item 4's first attempt kills its own worker (SIGKILL: no cleanup, no exception); the marker file lets the
    second attempt through. Returns (value, whether this attempt found the marker)."""
    folder, x = arg
    marker = Path(folder) / f"{x}.started"
    redone = marker.exists()
    marker.touch()
    if x == 4 and not redone:
        os.kill(os.getpid(), signal.SIGKILL)
    return x * 10, redone


def _always_killed(x: int) -> int:
    if x == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


ENGINES = {"inline": {}, "processes": {"workers": 2}, "ray": {"workers": 2, "ray": "auto"}}


@pytest.fixture(params=list(ENGINES))
def engine(request) -> dict:
    if request.param == "ray":
        request.getfixturevalue("local_ray")  # started once for the module, shut down after it
    return ENGINES[request.param]


@pytest.fixture(params=["processes", "ray"])
def pool(request) -> dict:
    """The engines that run items in other processes."""
    if request.param == "ray":
        request.getfixturevalue("local_ray")
    return ENGINES[request.param]


def test_every_engine_gives_the_inline_results(engine):
    want = map_tasks(_square, ITEMS, progress=False)
    assert [r.value for r in want] == [x * x for x in ITEMS]
    assert [(r.index, r.item) for r in want] == list(enumerate(ITEMS))
    assert map_tasks(_square, ITEMS, progress=False, **engine) == want
    assert map_tasks(_square, [], progress=False, **engine) == []


def test_an_exception_stays_with_its_item(engine):
    res = map_tasks(_fail_on_two, ITEMS, progress=False, **engine)
    failed = {r.item: r for r in res if not r.ok}
    assert sorted(failed) == [2, 9]
    assert failed[2].error_type == "ValueError" and "no twos (2)" in failed[2].error
    assert failed[9].exit_code == EXIT_OS_ERROR and "/nowhere/9" in failed[9].error
    assert [r.value for r in res if r.ok] == [x for x in ITEMS if x not in (2, 9)]
    with pytest.raises(
        TasksFailedError, match=r"2 of 8 item\(s\) failed; item 9: FileNotFoundError.*1 more"
    ) as ei:
        raise_failures(res)
    assert ei.value.exit_code == EXIT_OS_ERROR  # the first failure's (in item order)
    with pytest.raises(TasksFailedError, match=r"item 2: ValueError: no twos") as ei:
        raise_failures([r for r in res if r.item != 9])
    assert ei.value.exit_code == 2  # a ValueError is not a filesystem error
    raise_failures([r for r in res if r.ok])  # nothing failed: nothing raised


def test_a_killed_worker_has_its_item_redone(pool, tmp_path):
    items = [(str(tmp_path), x) for x in range(6)]
    res = map_tasks(_killed_first_time, items, progress=False, **pool)
    assert [r.value[0] for r in res] == [x * 10 for x in range(6)] and all(r.ok for r in res)
    by_item = {r.item[1]: r.value[1] for r in res}
    assert by_item[4] is True  # the value came from the second attempt: the first one died
    assert (tmp_path / "4.started").is_file()


def test_an_item_that_always_kills_its_worker_fails_the_job(pool):
    with pytest.raises(WorkerLostError, match="item 1"):
        map_tasks(_always_killed, [0, 1], progress=False, **pool)


def test_bad_options_and_a_missing_extra(monkeypatch):
    with pytest.raises(UsageError, match="--workers must be at least 1"):
        map_tasks(_square, ITEMS, workers=0, progress=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(MissingExtraError, match="dist"):
        map_tasks(_square, ITEMS, ray="auto", progress=False)


def test_an_address_nobody_answers_is_refused_at_once():
    from flexaqa import _tasks

    with pytest.raises(UsageError, match="nothing answers there"):
        _tasks._check_reachable("127.0.0.1:1")
    _tasks._check_reachable("ray://head:10001")  # not HOST:PORT: left to Ray


def test_results_carry_what_the_caller_reports():
    r = TaskResult(0, "a.mp4", error="boom", error_type="ValueError", exit_code=2)
    assert not r.ok and TaskResult(1, "b.mp4", value=1).ok


def test_processes_do_not_import_ray():
    code = (
        "import sys\nfrom flexaqa._tasks import map_tasks\n"
        "from test_tasks import _square\n"
        "r = map_tasks(_square, [1, 2, 3], workers=2, progress=False)\n"
        "print('VALUES', [x.value for x in r], 'ray' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "VALUES [1, 4, 9] False" in proc.stdout


GPU_SCRIPT = """
import os, ray
from flexaqa._tasks import map_tasks

def where(_):
    return ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")

ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
res = map_tasks(where, range(3), ray="auto", num_gpus=1, progress=False)
print([r.value for r in res])
"""


def test_a_gpu_task_holds_one_gpu_of_its_node():
    # a Ray of its own, told it has one GPU (Ray counts GPUs; none needs to be there to schedule on it)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    out = subprocess.run(
        [sys.executable, "-c", GPU_SCRIPT], env=env, capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str([([0], "0")] * 3)


def test_gpu_tasks_need_ray_and_a_cluster_with_a_gpu(local_ray):
    with pytest.raises(UsageError, match="needs Ray"):
        map_tasks(_square, [1], workers=2, num_gpus=1, progress=False)
    with pytest.raises(UsageError, match="the cluster has no GPU"):  # the module's Ray has 2 CPUs, no GPU
        map_tasks(_square, [1], ray="auto", num_gpus=1, progress=False)
