"""Shared test settings. Fixtures with data live in ``flexaqa.testing``, next to the code they exercise."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def _torch_one_thread():
    """Tests use tiny tensors: one torch thread is faster and steadier on shared 2-core CI machines."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def torchrun() -> str:
    """The ``torchrun`` launcher next to this Python (it ships with torch, so a missing one is a broken install)."""
    import shutil
    from pathlib import Path

    path = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    assert Path(path).is_file(), f"torch is installed but torchrun is not: looked for {path}"
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server (Debian's ``postgresql`` binaries) on a unix socket in a temporary folder.

    Yields a URL template with ``{db}``. As root (CI) the server runs as the ``postgres`` user. Without the
    binaries the test is skipped, except in CI (``CI=true``), where that is a failure: .ci/run installs them.
    """
    import glob
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
    initdb = found[-1]
    if not initdb or not Path(initdb).is_file():
        msg = "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI: {msg} (.ci/run installs it)")
        pytest.skip(msg)
    bindir = Path(initdb).resolve().parent
    base = Path(tempfile.mkdtemp(prefix="flexaqa-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, but there is no 'postgres' user to run the server as")
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*cmd):
        res = subprocess.run([*as_user, *map(str, cmd)], capture_output=True, text=True, timeout=120)
        if res.returncode:
            log = (base / "server.log").read_text() if (base / "server.log").is_file() else ""
            raise RuntimeError(f"{cmd[0]} failed ({res.returncode}): {res.stdout}{res.stderr}{log}")

    port = 5432 + os.getpid() % 1000
    run(bindir / "initdb", "-D", base / "data", "-A", "trust", "-U", "flexaqa", "-E", "UTF8", "--no-sync")
    run(
        bindir / "pg_ctl",
        "-D",
        base / "data",
        "-l",
        base / "server.log",
        "-w",
        "-t",
        "60",
        "-o",
        f"-k {base} -p {port} -c listen_addresses='' -c fsync=off -c max_connections=50",
        "start",
    )
    try:
        yield f"postgresql://flexaqa@/{{db}}?host={base}&port={port}"
    finally:
        run(bindir / "pg_ctl", "-D", base / "data", "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh database on the throwaway server, for one test."""
    import re
    import uuid

    import psycopg

    name = "t_" + re.sub(r"\W", "_", request.node.name)[:40].lower() + "_" + uuid.uuid4().hex[:6]
    with psycopg.connect(postgres_server.format(db="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.format(db=name)


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs for the module's tests (``--ray auto`` in the tests then reuses it); shut down after.

    Ray's workers import the tests' module-level functions by name, so ``tests/`` goes on their ``PYTHONPATH``.
    """
    import os
    from pathlib import Path

    ray = pytest.importorskip("ray")
    env = {k: os.environ.get(k) for k in ("PYTHONPATH", "RAY_USAGE_STATS_ENABLED")}
    paths = [str(Path(__file__).parent), *sys.path]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
