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
