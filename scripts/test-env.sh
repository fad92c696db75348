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
