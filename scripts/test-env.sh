#!/usr/bin/env bash
# Sourced by scripts/test.sh: installs and exports what the tests need. Idempotent and quick when all is installed.

# --- UI browser tests (cli/tests/ui_browser.rs): Debian's headless Chromium and its WebDriver. ---
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "test-env: installing chromium and chromium-driver" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi
RUNLOG_CHROMIUM=$(command -v chromium || echo /usr/bin/chromium)
RUNLOG_CHROMEDRIVER=$(command -v chromedriver || echo /usr/bin/chromedriver)
export RUNLOG_CHROMIUM RUNLOG_CHROMEDRIVER
# --- end UI browser tests ---

# --- sync tests (cli/tests/sync_e2e.rs): python3 runs the fault proxy, openssl makes test TLS certificates. ---
_runlog_sync_missing=()
command -v python3 >/dev/null 2>&1 || _runlog_sync_missing+=(python3)
command -v openssl >/dev/null 2>&1 || _runlog_sync_missing+=(openssl)
if [ ${#_runlog_sync_missing[@]} -gt 0 ]; then
  echo "test-env: installing ${_runlog_sync_missing[*]}" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${_runlog_sync_missing[@]}" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${_runlog_sync_missing[@]}" >/dev/null
  fi
fi
unset _runlog_sync_missing
# The fault proxy lives in the shared harness next to the repository (CI: ../shared/harness/faultproxy.py).
RUNLOG_SHARED=${RUNLOG_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared}
export RUNLOG_SHARED
if [ ! -f "$RUNLOG_SHARED/harness/faultproxy.py" ]; then
  echo "test-env: warning: $RUNLOG_SHARED/harness/faultproxy.py is missing; the sync fault tests will fail" >&2
fi
# --- end sync tests ---

# --- MLflow sync tests (sync/tests/mlflow_*.rs, cli/tests/mlflow_*.rs): a real MLflow tracking server on loopback. ---
# mlflow_server.sh installs MLflow into /tmp/mlflow-venv the first time (about 2 minutes). scripts/test.sh stops the
# server on exit through MLFLOW_DATA. A server that cannot start leaves MLFLOW_TRACKING_URI unset: the MLflow tests
# then try to start their own and fail with the reason.
if [ -z "${MLFLOW_TRACKING_URI:-}" ] && [ -f "$RUNLOG_SHARED/harness/mlflow_server.sh" ]; then
  MLFLOW_DATA=${MLFLOW_DATA:-${TMPDIR:-/tmp}/runlog-mlflow-test}
  export MLFLOW_DATA
  if bash "$RUNLOG_SHARED/harness/mlflow_server.sh" status "$MLFLOW_DATA" >/dev/null 2>&1 && [ -f "$MLFLOW_DATA/port" ]; then
    _runlog_mlflow_port=$(cat "$MLFLOW_DATA/port")
  else
    rm -rf "$MLFLOW_DATA"
    mkdir -p "$MLFLOW_DATA"
    _runlog_mlflow_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "$_runlog_mlflow_port" > "$MLFLOW_DATA/port"
  fi
  if bash "$RUNLOG_SHARED/harness/mlflow_server.sh" start "$_runlog_mlflow_port" "$MLFLOW_DATA" >/dev/null; then
    export MLFLOW_TRACKING_URI="http://127.0.0.1:$_runlog_mlflow_port"
  else
    echo "test-env: warning: the MLflow server did not start (see $MLFLOW_DATA/server.log); the MLflow tests will fail" >&2
  fi
  unset _runlog_mlflow_port
elif [ -z "${MLFLOW_TRACKING_URI:-}" ]; then
  echo "test-env: warning: $RUNLOG_SHARED/harness/mlflow_server.sh is missing; the MLflow tests will fail" >&2
fi
# MLflow's basic-auth app (sync/tests/mlflow_auth.rs) needs Flask-WTF in the same virtual environment.
_runlog_mlflow_venv=${MLFLOW_VENV:-/tmp/mlflow-venv}
if [ -x "$_runlog_mlflow_venv/bin/python" ] && ! "$_runlog_mlflow_venv/bin/python" -c 'import flask_wtf' 2>/dev/null; then
  "$_runlog_mlflow_venv/bin/pip" install -q Flask-WTF >&2 || echo "test-env: warning: cannot install Flask-WTF; sync/tests/mlflow_auth.rs will fail" >&2
fi
unset _runlog_mlflow_venv
# --- end MLflow sync tests ---
