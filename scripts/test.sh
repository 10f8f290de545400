#!/usr/bin/env bash
# Sets up (idempotently) and runs every check: formatting, clippy, and all tests, which use the
# real models on the real shared photos (../shared/data/faces, or $FACE_DATA_DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Each phase's time, printed at the end (CI's budget is 90 minutes on 2 cores).
phases=()
phase_name=""
phase_start=$SECONDS
run_start=$SECONDS
phase() {
  [ -n "$phase_name" ] && phases+=("$(printf '%6ss  %s' $((SECONDS - phase_start)) "$phase_name")")
  phase_name="$1"
  phase_start=$SECONDS
  [ -n "$1" ] && echo "== $1" >&2
  return 0
}
report_phases() {
  phase ""
  echo "== phase times" >&2
  printf '%s\n' "${phases[@]}" >&2
  printf '%6ss  total\n' $((SECONDS - run_start)) >&2
}

phase "set-up (scripts/setup.sh)"
scripts/setup.sh
. scripts/env.sh # Node.js from .local/node (if set-up put it there) and cargo first on PATH
export FACE_DATA_DIR="${FACE_DATA_DIR:-$root/../shared/data/faces}"
[ -f "$FACE_DATA_DIR/pairs.csv" ] || { echo "test data not found in $FACE_DATA_DIR: set FACE_DATA_DIR" >&2; exit 1; }

phase "ui: vitest, type check, build"
npm --prefix ui test
npm --prefix ui run build
# The operators' console: access-server embeds console/dist (and its browser test drives it).
phase "console: npm ci, vitest, type check, build"
npm --prefix console ci --no-audit --no-fund
npm --prefix console test
npm --prefix console run build

phase "cargo fmt --check"
cargo fmt --all --check
phase "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
phase "cargo build (the app binary the end-to-end tests launch)"
cargo build -p access-kiosk-app
phase ".deb bundle (tauri CLI from ui/node_modules; --debug reuses the test build)"
rm -rf target/debug/bundle/deb
(cd src-tauri && ../ui/node_modules/.bin/tauri build --debug --bundles deb --ci >/dev/null)
deb=$(ls target/debug/bundle/deb/*.deb)
dpkg-deb -c "$deb" | grep -q 'usr/bin/access-kiosk$' || { echo "no app binary in $deb" >&2; exit 1; }
echo "bundle: $deb" >&2

phase "cargo test"
# Tests that would skip for a missing tool (chromedriver, the built console) fail instead.
export ACCESS_TEST_STRICT=1
cargo test --workspace

phase "the server suite again, on PostgreSQL (a throwaway cluster on loopback)"
pgdir=$(mktemp -d /tmp/access-pg.XXXXXX)
trap 'scripts/pg.sh stop "$pgdir"' EXIT
pg_url=$(scripts/pg.sh start "$pgdir")
# The very test binary `cargo test --workspace` built: `cargo test -p access-server` would
# unify features differently and rebuild about 110 crates for it.
it_bin=$(cargo test --workspace --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and m["target"]["name"] == "it"
            and m["manifest_path"].endswith("crates/access-server/Cargo.toml")):
        print(m["executable"])
')
[ -x "$it_bin" ] || { echo "the access-server test binary was not found" >&2; exit 1; }
pg_log="$pgdir/suite.log"
(cd crates/access-server && ACCESS_TEST_PG="$pg_url" "$it_bin") 2>&1 | tee "$pg_log"
report_phases
# The test runner's closing line last, for whoever reads the end of this output.
grep '^test result' "$pg_log" | tail -n 1
