#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need (Chromium for the UI tests, MLflow for
# the MLflow sync tests), starts the servers they use on loopback, runs every test, and stops the servers again.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
shared=${RUNLOG_SHARED:-$here/../shared}

# Servers started here are stopped on any exit.
cleanup() {
  if [ -n "${MLFLOW_DATA:-}" ] && [ -f "$shared/harness/mlflow_server.sh" ]; then
    bash "$shared/harness/mlflow_server.sh" stop "$MLFLOW_DATA" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [ -f scripts/test-env.sh ]; then
  # shellcheck source=/dev/null
  source scripts/test-env.sh
fi

# The core tests run the test_worker example as a child process: build the examples as programs first
# (--all-targets builds them only in test mode).
cargo build --workspace --release --examples
cargo test --workspace --release --all-targets
cargo test --workspace --release --doc
