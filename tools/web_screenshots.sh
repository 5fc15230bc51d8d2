#!/usr/bin/env bash
# Screenshots of every page of the web app into docs/img/ (run after a user-visible change to the pages):
# the browser tests take them while they drive headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
FLEXAQA_SCREENSHOTS="$PWD/docs/img" "$PY" -m pytest -q -p no:xdist tests/test_web_browser.py "$@"
ls -1 docs/img/web-*.png
