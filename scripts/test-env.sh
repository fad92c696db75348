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

# --- sync tests: openssl makes test TLS certificates; python3 builds the MLflow venv. ---
_runlog_missing=()
command -v python3 >/dev/null 2>&1 || _runlog_missing+=(python3 python3-venv)
command -v openssl >/dev/null 2>&1 || _runlog_missing+=(openssl)
if [ ${#_runlog_missing[@]} -gt 0 ]; then
  echo "test-env: installing ${_runlog_missing[*]}" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${_runlog_missing[@]}" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${_runlog_missing[@]}" >/dev/null
  fi
fi
unset _runlog_missing
# --- end sync tests ---

# --- MLflow tests (sync/tests/mlflow_*.rs, cli/tests/mlflow_e2e.rs): a real MLflow tracking server on loopback, from
# the project's own scripts/mlflow-server.sh (its venv: scripts/requirements-mlflow.txt, about 2 minutes the first
# time). scripts/test.sh stops it on exit through MLFLOW_DATA. A server that cannot start fails the run here.
RUNLOG_MLFLOW_VENV=${RUNLOG_MLFLOW_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/venvs/mlflow}
export RUNLOG_MLFLOW_VENV
if [ -z "${MLFLOW_TRACKING_URI:-}" ]; then
  MLFLOW_DATA=$(mktemp -d "${TMPDIR:-/tmp}/runlog-mlflow-XXXXXX")
  export MLFLOW_DATA
  _runlog_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  _runlog_uri=$(bash "$(dirname "${BASH_SOURCE[0]}")/mlflow-server.sh" start "$_runlog_port" "$MLFLOW_DATA" | tail -n 1)
  export MLFLOW_TRACKING_URI=${_runlog_uri#MLFLOW_TRACKING_URI=}
  unset _runlog_port _runlog_uri
fi
# --- end MLflow tests ---

# --- server storage tests (issue 11): PostgreSQL 15, Azurite's blob service and moto's S3 on loopback, from the
# project's own scripts/services.sh, which exports RUNLOG_TEST_POSTGRES, RUNLOG_TEST_S3 and RUNLOG_TEST_AZURE with the
# AWS_* and AZURE_* variables object_store reads. scripts/test.sh stops them on exit through RUNLOG_SERVICES_DIR.
# Services that cannot start fail the run here. Already set RUNLOG_TEST_POSTGRES: services of one's own, not started.
if [ -z "${RUNLOG_TEST_POSTGRES:-}" ]; then
  RUNLOG_SERVICES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/runlog-services-XXXXXX")
  export RUNLOG_SERVICES_DIR
  if ! _runlog_exports=$(bash "$(dirname "${BASH_SOURCE[0]}")/services.sh" start "$RUNLOG_SERVICES_DIR"); then
    echo "test-env: the storage services did not start" >&2
    unset _runlog_exports
    return 1
  fi
  eval "$_runlog_exports"
  unset _runlog_exports
fi
# --- end server storage tests ---

# --- TensorBoard tests (cli/tests/tensorboard.rs): tensorboardX writes event files, TensorBoard's EventAccumulator
# reads ours; their venv comes from scripts/tb-requirements.txt. ---
RUNLOG_TB_PYTHON=$(bash "$(dirname "${BASH_SOURCE[0]}")/tb-venv.sh")
export RUNLOG_TB_PYTHON
# --- end TensorBoard tests ---
