#!/usr/bin/env bash
# Installs everything the test suite needs that is not Rust, all at once and idempotently: Debian's Chromium and
# ChromeDriver, python3-venv, openssl and PostgreSQL 15 (apt, one install at a time), the three Python venvs (the
# MLflow server's, TensorBoard's and the Python package's test tools) and the server tests' storage services (Azurite
# and moto: scripts/services.sh install), each from its pinned requirements in this repository. The pip and npm
# installs run in parallel: they wait on the network and the disk, not the CPU.
#   bash scripts/prepare.sh        (.ci/run starts it in the background while clippy compiles)
# scripts/test-env.sh checks the same things again and finds them installed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
if [ ${#need[@]} -gt 0 ]; then
  echo "prepare: apt-get install ${need[*]}" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

pids=()
bash scripts/mlflow-server.sh install >/dev/null & pids+=($!)
bash scripts/tb-venv.sh >/dev/null & pids+=($!)
bash py/test.sh --prepare & pids+=($!)
bash scripts/services.sh install & pids+=($!)
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
