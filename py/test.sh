#!/usr/bin/env bash
# Builds the Python package into a fresh virtual environment the way a user installs it (`pip install ./py`), then
# runs its pytest suite with a real interpreter. Called from scripts/test.sh; runs on its own too:
#   bash py/test.sh [pytest args...]    (or --prepare: the venv only)
# RUNLOG_PY_VENV names the venv (default: target/py-venv under the repository); PYTHON the interpreter (python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="${RUNLOG_PY_VENV:-$root/target/py-venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# The venv first on PATH: the build backend runs its `maturin`, the tests run its `runlog`.
export PATH="$venv/bin:$PATH"
# The stamp holds the requirements the venv was installed from: nothing is reinstalled while they are the same.
if ! cmp -s "$here/requirements-test.txt" "$venv/.runlog-requirements" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements-test.txt"
    cp "$here/requirements-test.txt" "$venv/.runlog-requirements"
fi
# `--prepare`: the venv and its pinned tools only (scripts/prepare.sh), no build, no tests.
if [ "${1:-}" = "--prepare" ]; then
    exit 0
fi
# maturin builds the extension (release) and installs it with the `runlog` console script.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps --no-build-isolation "$here"
cd "$here"
# The tests run from py/ against the installed package, never the source tree (python/ is not on sys.path).
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" tests
