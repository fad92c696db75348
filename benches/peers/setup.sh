#!/usr/bin/env bash
# Builds the venv of the Python peers (benches/peers/requirements.txt) and prints its python.
#   bash benches/peers/setup.sh [VENV]     default VENV: target/venvs/peers in this repository
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$here/../../target/venvs/peers}
if ! cmp -s "$here/requirements.txt" "$venv/.runlog-requirements" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
  cp "$here/requirements.txt" "$venv/.runlog-requirements"
fi
echo "$venv/bin/python"
