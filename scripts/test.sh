#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need (Chromium for the UI tests, MLflow for
# the MLflow sync tests, PostgreSQL, Azurite and moto for the server tests), starts the servers they use on loopback,
# runs every test, and stops the servers again.
# Everything comes from this repository's own files.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

# Servers started here are stopped on any exit.
cleanup() {
  if [ -n "${MLFLOW_DATA:-}" ]; then
    bash scripts/mlflow-server.sh stop "$MLFLOW_DATA" >/dev/null 2>&1 || true
    rm -rf "$MLFLOW_DATA"
  fi
  if [ -n "${RUNLOG_SERVICES_DIR:-}" ]; then
    bash scripts/services.sh stop "$RUNLOG_SERVICES_DIR" >/dev/null 2>&1 || true
    rm -rf "$RUNLOG_SERVICES_DIR"
  fi
}
trap cleanup EXIT

# shellcheck source=scripts/test-env.sh
source scripts/test-env.sh

# The core tests run the test_worker example as a child process: build the examples as programs first
# (--all-targets builds them only in test mode).
cargo build --workspace --release --examples
cargo test --workspace --release --all-targets
cargo test --workspace --release --doc

# The Python package, installed into a fresh venv as a user installs it (pip install ./py), then its pytest suite.
bash py/test.sh

# The suite never reads the user's runlog configuration (issue 13): the crash test and the CLI tests again, as a user
# whose global configuration holds a remote that refuses connections. Cargo and rustup keep their own homes.
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo} RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
hostile=$(mktemp -d "${TMPDIR:-/tmp}/runlog-hostile-home-XXXXXX")
mkdir -p "$hostile/.config/runlog"
echo '{"remotes": [{"name": "down", "url": "http://127.0.0.1:9", "token": "t"}]}' >"$hostile/.config/runlog/remotes.json"
# --workspace: the same feature set as the run above, so these reuse its test binaries instead of building others.
HOME=$hostile XDG_CONFIG_HOME=$hostile/.config RUNLOG_REMOTE=down \
  cargo test --workspace --release --test core crash
HOME=$hostile XDG_CONFIG_HOME=$hostile/.config RUNLOG_REMOTE=down \
  cargo test --workspace --release --test cli_commands
rm -rf "$hostile"
