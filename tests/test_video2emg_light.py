"""``import flexaqa.video2emg`` / ``flexaqa.failure`` and their CLI registration never import torch."""

from __future__ import annotations

import subprocess
import sys


def test_packages_and_cli_stay_light():
    code = (
        "import sys, flexaqa.video2emg, flexaqa.failure, flexaqa.cli as c; c.build_parser();"
        "assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
