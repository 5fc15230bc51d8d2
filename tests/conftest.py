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
