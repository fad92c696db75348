#!/usr/bin/env bash
# The storage services the server tests need (issue 11), all on loopback and all from this repository's own pins:
# PostgreSQL 15 (Debian's package), Azurite's blob service (Azure Storage emulator; npm, scripts/azurite/) and moto's
# S3 server (PyPI, scripts/requirements-moto.txt).
#
#   scripts/services.sh install     # idempotent; quick when all is installed
#   scripts/services.sh start DIR   # install if needed, start all three, wait until each answers, print the exports
#   scripts/services.sh stop DIR    # stop whatever of them runs from DIR
#
# `start` prints `export NAME=VALUE` lines for a shell to eval (also kept in DIR/env.sh):
#   RUNLOG_TEST_POSTGRES=postgres://runlog@127.0.0.1:PORT/runlog   (role runlog is a superuser: tests CREATE DATABASE)
#   RUNLOG_TEST_S3=s3://runlog-test and the AWS_* variables object_store's AmazonS3Builder::from_env reads
#   RUNLOG_TEST_AZURE=az://runlog-test and the AZURE_*/AZURITE_* variables MicrosoftAzureBuilder::from_env reads
# Each service runs in its own process group: DIR/NAME.pid holds its id, DIR/NAME.log its output. PostgreSQL's cluster
# is DIR/postgres/data (socket there too, trust auth, fsync off: test data only); initdb and pg_ctl refuse root, so as
# root they run as the postgres user (DIR must be reachable by it: a mktemp dir under /tmp is). A service that cannot
# start makes `start` stop the others and fail with its log: under CI a missing service fails the run, never a skip.
# The venv is $RUNLOG_MOTO_VENV (default target/venvs/moto); PostgreSQL's programs are in $RUNLOG_PG_BIN.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pg_bin=${RUNLOG_PG_BIN:-/usr/lib/postgresql/15/bin}
moto_venv=${RUNLOG_MOTO_VENV:-$repo/target/venvs/moto}
moto_req=$repo/scripts/requirements-moto.txt
azurite_dir=$repo/scripts/azurite
bucket=runlog-test
# The emulator's well-known account and key (public, the same for every Azurite).
azure_account=devstoreaccount1
azure_key=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==

say() { echo "services: $*" >&2; }

# Runs a PostgreSQL program as the postgres user when we are root (initdb and pg_ctl refuse root), else as ourselves.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install() {
  if [ ! -x "$pg_bin/initdb" ]; then
    say "apt-get install postgresql-15"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql-15 >/dev/null
  fi
  # Stamps hold what each was installed from: a changed pin reinstalls it.
  if ! { [ -x "$azurite_dir/node_modules/.bin/azurite-blob" ] &&
         cmp -s "$azurite_dir/package-lock.json" "$azurite_dir/node_modules/.runlog-package-lock.json"; }; then
    say "npm ci in scripts/azurite (azurite $(sed -n 's/.*"azurite": "\(.*\)".*/\1/p' "$azurite_dir/package.json" | head -n 1))"
    # Azurite 3.37 declares Node 22 but runs on the machine's Node 20: the engine check only warns.
    (cd "$azurite_dir" && npm ci --no-audit --no-fund --engine-strict=false --loglevel=error >&2)
    cp "$azurite_dir/package-lock.json" "$azurite_dir/node_modules/.runlog-package-lock.json"
  fi
  if ! { [ -x "$moto_venv/bin/moto_server" ] && cmp -s "$moto_req" "$moto_venv/.runlog-requirements" 2>/dev/null; }; then
    say "installing $(grep -m 1 '^moto' "$moto_req") into $moto_venv"
    rm -rf "$moto_venv"
    python3 -m venv "$moto_venv"
    "$moto_venv/bin/pip" install -q --disable-pip-version-check -r "$moto_req" >&2
    cp "$moto_req" "$moto_venv/.runlog-requirements"
  fi
}

# Ends the process groups in DIR/NAME.pid for each NAME: TERM to all at once, up to 5 s to go, then KILL.
stop_groups() { # DIR NAME...
  local dir=$1 name pgids=()
  shift
  for name in "$@"; do
    if [ -s "$dir/$name.pid" ]; then pgids+=("$(cat "$dir/$name.pid")"); fi
  done
  local pgid
  for pgid in "${pgids[@]}"; do kill -TERM -- "-$pgid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for pgid in "${pgids[@]}"; do kill -0 -- "-$pgid" 2>/dev/null && alive=1; done
    [ $alive = 1 ] || break
    sleep 0.1
  done
  for pgid in "${pgids[@]}"; do kill -KILL -- "-$pgid" 2>/dev/null || true; done
  for name in "$@"; do rm -f "$dir/$name.pid"; done
}

stop() {
  local dir=$1 name
  # moto and Azurite take a second or two to close: they do so while PostgreSQL stops.
  for name in moto azurite; do
    if [ -s "$dir/$name.pid" ]; then kill -TERM -- "-$(cat "$dir/$name.pid")" 2>/dev/null || true; fi
  done
  if [ -f "$dir/postgres/data/postmaster.pid" ]; then
    as_pg "$pg_bin/pg_ctl" stop -D "$dir/postgres/data" -m fast -w -t 30 >/dev/null 2>&1 || true
  fi
  # What pg_ctl left (a postmaster that never finished starting, say) goes with the others.
  stop_groups "$dir" moto azurite postgres
}

# The log of a service that failed, then everything stopped and a failing exit.
fail() { # DIR NAME MESSAGE
  say "$3; the end of $1/$2.log:"
  tail -n 30 "$1/$2.log" >&2 || true
  stop "$1"
  exit 1
}

# Waits until URL gives any HTTP answer (an error status counts: the server is up); fails if the service exits first.
wait_http() { # DIR NAME URL
  local pid; pid=$(cat "$1/$2.pid")
  for _ in $(seq 1 300); do
    if python3 - "$3" <<'PY' 2>/dev/null; then
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2).read()
except urllib.error.HTTPError:
    pass
PY
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || fail "$1" "$2" "$2 exited"
    sleep 0.1
  done
  fail "$1" "$2" "no answer from $3 after 30 s"
}

start() {
  local dir=$1
  install
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  stop "$dir"
  rm -rf "$dir/postgres" "$dir/azurite" "$dir/env.sh"
  local pg_port s3_port az_port
  read -r pg_port s3_port az_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

  # The two HTTP servers boot (about a second each) while initdb runs. setsid: each its own process group.
  setsid "$moto_venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" >"$dir/moto.log" 2>&1 </dev/null &
  echo $! >"$dir/moto.pid"
  mkdir -p "$dir/azurite"
  setsid "$azurite_dir/node_modules/.bin/azurite-blob" --disableTelemetry --skipApiVersionCheck --loose \
    --blobHost 127.0.0.1 --blobPort "$az_port" --location "$dir/azurite" >"$dir/azurite.log" 2>&1 </dev/null &
  echo $! >"$dir/azurite.pid"

  # PostgreSQL: a fresh cluster owned by the user that runs it; the server logs to DIR/postgres.log.
  mkdir -p "$dir/postgres"
  : >"$dir/postgres.log"
  if [ "$(id -u)" = 0 ]; then
    chmod o+x "$dir"
    chown postgres: "$dir/postgres" "$dir/postgres.log"
    runuser -u postgres -- test -w "$dir/postgres" ||
      fail "$dir" postgres "the postgres user cannot reach $dir/postgres (make DIR under /tmp)"
  fi
  as_pg "$pg_bin/initdb" -D "$dir/postgres/data" --auth=trust --username=postgres --encoding=UTF8 --locale=C \
    --no-sync >>"$dir/postgres.log" 2>&1 || fail "$dir" postgres "initdb failed"
  # Loopback only, the socket in the data dir (not /var/run), durability off (test data), room for parallel tests.
  as_pg "$pg_bin/pg_ctl" start -D "$dir/postgres/data" -l "$dir/postgres.log" -w -t 60 -o \
    "-c listen_addresses=127.0.0.1 -p $pg_port -k $dir/postgres/data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null 2>&1 || fail "$dir" postgres "PostgreSQL did not start"
  # pg_ctl puts the postmaster in a session of its own: its pid is the process group to end.
  head -n 1 "$dir/postgres/data/postmaster.pid" >"$dir/postgres.pid"
  "$pg_bin/psql" -q -X -v ON_ERROR_STOP=1 "postgres://postgres@127.0.0.1:$pg_port/postgres" \
    -c "CREATE ROLE runlog LOGIN SUPERUSER" -c "CREATE DATABASE runlog OWNER runlog" >>"$dir/postgres.log" 2>&1 ||
    fail "$dir" postgres "could not create the role and database runlog"

  # moto: the bucket (moto takes an unsigned create; the tests' requests are signed).
  local s3_url=http://127.0.0.1:$s3_port
  wait_http "$dir" moto "$s3_url/"
  python3 - "$s3_url" "$bucket" <<'PY' >>"$dir/moto.log" 2>&1 || fail "$dir" moto "could not create the bucket $bucket"
import sys, urllib.request
url, bucket = sys.argv[1:]
urllib.request.urlopen(urllib.request.Request(f"{url}/{bucket}", data=b"", method="PUT"), timeout=10).read()
listing = urllib.request.urlopen(url + "/", timeout=10).read().decode()
assert f"<Name>{bucket}</Name>" in listing, listing
PY

  # Azurite: the container, with a Shared Key signed request.
  local az_url=http://127.0.0.1:$az_port
  wait_http "$dir" azurite "$az_url/$azure_account?comp=list"
  python3 "$azurite_dir/shared_key.py" PUT "$az_url/$azure_account/$bucket?restype=container" --expect 201 \
    >>"$dir/azurite.log" 2>&1 || fail "$dir" azurite "could not create the container $bucket"

  {
    printf 'export %s=%q\n' \
      RUNLOG_TEST_POSTGRES "postgres://runlog@127.0.0.1:$pg_port/runlog" \
      RUNLOG_TEST_S3 "s3://$bucket" \
      AWS_ENDPOINT "$s3_url" \
      AWS_ALLOW_HTTP true \
      AWS_REGION us-east-1 \
      AWS_ACCESS_KEY_ID testing \
      AWS_SECRET_ACCESS_KEY testing \
      AWS_CONDITIONAL_PUT etag \
      RUNLOG_TEST_AZURE "az://$bucket" \
      AZURE_STORAGE_USE_EMULATOR true \
      AZURITE_BLOB_STORAGE_URL "$az_url" \
      AZURE_STORAGE_ACCOUNT_NAME "$azure_account" \
      AZURE_STORAGE_ACCOUNT_KEY "$azure_key"
  } | tee "$dir/env.sh"
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?data directory}" ;;
  stop) stop "${2:?data directory}" ;;
  *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
