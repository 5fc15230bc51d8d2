#!/usr/bin/env bash
# Label Studio 1.23 in its own virtual environment (it pins Django and friends, so it cannot share flexaqa's), for
# the round-trip test tests/test_annotation_labelstudio_server.py. Also writes a migrated empty database that the
# test copies, so its server starts in seconds instead of spending ~30 s on migrations at every run.
#   FLEXAQA_LABEL_STUDIO   the venv folder (default .venv-labelstudio in the repository)
#   PYTHON                 the interpreter that creates it (default python3)
# Idempotent: an existing venv with Label Studio 1.23.x and its template are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
LS_VENV="${FLEXAQA_LABEL_STUDIO:-.venv-labelstudio}"
PYTHON="${PYTHON:-python3}"
LS_PY="$LS_VENV/bin/python"

has_ls() {
    "$LS_PY" -c 'import importlib.metadata as m, sys; sys.exit(not m.version("label-studio").startswith("1.23."))' \
        2>/dev/null
}

start=$(date +%s)
if ! has_ls; then
    "$PYTHON" -m venv "$LS_VENV"
    "$LS_PY" -m pip install -q --disable-pip-version-check "label-studio==1.23.*"
    has_ls
fi
installed=$(date +%s)

template="$LS_VENV/flexaqa-template"
if [ ! -f "$template/label_studio.sqlite3" ]; then
    work="$(mktemp -d "${TMPDIR:-/tmp}/ls-template.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    manage="$("$LS_PY" -c 'import label_studio, os; print(os.path.join(os.path.dirname(label_studio.__file__), "manage.py"))')"
    if ! LABEL_STUDIO_BASE_DATA_DIR="$work/data" LATEST_VERSION_CHECK=false COLLECT_ANALYTICS=false \
        "$LS_PY" "$manage" migrate -v 0 >"$work/migrate.log" 2>&1; then
        cat "$work/migrate.log" >&2
        echo "setup_labelstudio: migrating the template database failed (log above)" >&2
        exit 1
    fi
    mkdir -p "$template"
    mv "$work/data/label_studio.sqlite3" "$template/label_studio.sqlite3.tmp"
    mv "$template/label_studio.sqlite3.tmp" "$template/label_studio.sqlite3"
fi
done_at=$(date +%s)
version="$("$LS_PY" -c 'import importlib.metadata as m; print(m.version("label-studio"))')"
echo "Label Studio $version in $LS_VENV (install $((installed - start)) s, template $((done_at - installed)) s)"
