#!/usr/bin/env bash
# The clean build time of a trainer that depends on `runlog` with default features, at one or more git
# revisions, side by side (a figure, not a test). Each build gets a fresh target directory and the revision's own
# Cargo.lock; the crates already downloaded are reused, nothing else is.
#   bash benches/trainer-build.sh [REV ...]        (default: HEAD)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -gt 0 ] || set -- HEAD
for rev in "$@"; do
  work=$(mktemp -d "${TMPDIR:-/tmp}/runlog-trainer-XXXXXX")
  git -C "$root" worktree add --detach "$work/runlog" "$rev" >/dev/null 2>&1
  mkdir -p "$work/trainer/src"
  cat >"$work/trainer/Cargo.toml" <<'TOML'
[package]
name = "trainer"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
runlog = { path = "../runlog" }
TOML
  cat >"$work/trainer/src/main.rs" <<'RS'
fn main() -> runlog::Result<()> {
    let store = runlog::Store::open("runlog.db")?;
    let run = store.start_run("trainer")?;
    run.log("loss", 0.5)?;
    run.complete()
}
RS
  cp "$work/runlog/Cargo.lock" "$work/trainer/Cargo.lock"
  start=$(date +%s.%N)
  (cd "$work/trainer" && CARGO_TARGET_DIR="$work/target" cargo build --release --quiet)
  end=$(date +%s.%N)
  units=$(find "$work/target/release/deps" -name '*.rlib' | wc -l)
  axum=$(cd "$work/trainer" && cargo tree -e normal --prefix none 2>/dev/null | grep -c '^axum ' || true)
  printf '%s (%s): clean build %.1f s, %d library crates, axum in the tree: %d\n' \
    "$rev" "$(git -C "$root" rev-parse --short "$rev")" "$(echo "$end - $start" | bc)" "$units" "$axum"
  git -C "$root" worktree remove --force "$work/runlog"
  rm -rf "$work"
done
