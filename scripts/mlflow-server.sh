#!/usr/bin/env bash
# A real MLflow tracking server on loopback for the MLflow tests and benchmarks.
#
#   scripts/mlflow-server.sh install            # the venv only (idempotent); prints its python
#   scripts/mlflow-server.sh start PORT DIR     # install if needed, start, wait until it answers
#   scripts/mlflow-server.sh stop DIR
#
# The venv is $RUNLOG_MLFLOW_VENV (default: target/venvs/mlflow in this repository), built from
# scripts/requirements-mlflow.txt. The server keeps its SQLite backend in DIR/mlflow.db and proxies artifacts into
# DIR/artifacts (clients upload them over HTTP). Its process group id is in DIR/server.pid; its log in DIR/server.log.
# The last line `start` prints is MLFLOW_TRACKING_URI=http://127.0.0.1:PORT.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${RUNLOG_MLFLOW_VENV:-$repo/target/venvs/mlflow}
req=$repo/scripts/requirements-mlflow.txt

install() {
  # The stamp holds the requirements the venv was built from: a changed pin rebuilds it.
  if [ -x "$venv/bin/mlflow" ] && cmp -s "$req" "$venv/.runlog-requirements" 2>/dev/null; then
    return 0
  fi
  echo "mlflow-server: installing $(grep -v '^#' "$req" | tr '\n' ' ')into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
  cp "$req" "$venv/.runlog-requirements"
}

stop() {
  local pidfile=$1/server.pid
  [ -f "$pidfile" ] || return 0
  local pgid; pgid=$(cat "$pidfile")
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-}" in
  install)
    install
    echo "$venv/bin/python"
    ;;
  start)
    port=${2:?port}; dir=${3:?data directory}
    install
    mkdir -p "$dir/artifacts"
    stop "$dir"
    # setsid: the server and its workers form one process group, stopped together. Job execution is off: metric and
    # artifact tests never use it, and its runner processes cost over a GB of memory.
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid "$venv/bin/mlflow" server \
      --backend-store-uri "sqlite:///$dir/mlflow.db" --serve-artifacts --artifacts-destination "$dir/artifacts" \
      --host 127.0.0.1 --port "$port" --workers 1 >"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
    url=http://127.0.0.1:$port
    for _ in $(seq 1 300); do
      if python3 - "$url" <<'PY' 2>/dev/null; then
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/2.0/mlflow/experiments/search", data=json.dumps({"max_results": 1}).encode(),
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=2).read()
PY
        echo "MLFLOW_TRACKING_URI=$url"
        exit 0
      fi
      if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
        echo "mlflow-server: the server exited; its log:" >&2; tail -n 30 "$dir/server.log" >&2; exit 1
      fi
      sleep 0.5
    done
    echo "mlflow-server: no answer from $url after 150 s; its log:" >&2; tail -n 30 "$dir/server.log" >&2
    stop "$dir"; exit 1
    ;;
  stop)
    stop "${2:?data directory}"
    ;;
  *)
    echo "usage: $0 install | start PORT DIR | stop DIR" >&2; exit 2
    ;;
esac
