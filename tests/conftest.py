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
