#!/usr/bin/env bash
# Creates (once) the Python virtual environment of the TensorBoard tests and prints its python's path.
# Usage: RUNLOG_TB_PYTHON=$(bash scripts/tb-venv.sh)   (cli/tests/tensorboard.rs reads RUNLOG_TB_PYTHON)
# The venv lives in ${RUNLOG_TB_VENV:-/tmp/runlog-tb-venv}; it is rebuilt when scripts/tb-requirements.txt changes.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
req="$here/tb-requirements.txt"
venv=${RUNLOG_TB_VENV:-${TMPDIR:-/tmp}/runlog-tb-venv}
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  cp "$req" "$stamp"
fi
echo "$venv/bin/python"
