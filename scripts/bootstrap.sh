#!/usr/bin/env bash
# Idempotent set-up of everything the project needs on a fresh machine: a virtualenv in .venv
# with the project (editable) and its pinned dependencies. Later parts of the project (the live
# stack) add their system packages here, so the README's two commands stay the only set-up.
# Re-running is cheap: nothing is reinstalled unless pyproject.toml or the pins changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "bootstrap: need Python 3.11 or newer as \$PYTHON (found: $("$PYTHON" --version 2>&1))" >&2
    exit 2
fi

if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PYTHON" -m venv .venv
fi

stamp=.venv/.mwaa-drill-installed
want=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: installing mwaa-drill and pinned dependencies into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        -c requirements/constraints.txt -e '.[dev,live,dask,browser]' tox
    echo "$want" > "$stamp"
fi

# The live stack's real Airflow runs in its own venv (.airflow/venv) with PostgreSQL from apt,
# so Airflow's pins never fight the harness's. Cheap when already done.
scripts/install-airflow.sh
