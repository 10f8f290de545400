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
# One build for everything: the test binaries, and the plain binaries the packages carry and
# the end-to-end tests launch (access-kiosk, access-server, kiosk: their crates' integration
# tests need them, so cargo builds them here). A separate `cargo build -p` would resolve
# features for one package and compile ~130 shared crates a second time.
phase "cargo test --no-run (every test binary, and the binaries the packages and e2e tests use)"
cargo test --workspace --no-run
phase "packages: both .debs from the debug binaries, lintian on each"
rm -rf target/debug/deb
# gzip -1 keeps it quick; the e2e tests unpack the kiosk's (tests/e2e/app.rs).
DEB_COMPRESS="-Zgzip -z1" scripts/server-deb.sh target/debug/access-server target/debug/deb >&2
DEB_COMPRESS="-Zgzip -z1" scripts/kiosk-deb.sh target/debug/access-kiosk target/debug/kiosk target/debug/deb >&2
# Without the spelling check of binaries' strings: a third of lintian's time, info tags only.
lintian --fail-on error --tag-display-limit 0 -X binaries/spelling target/debug/deb/*.deb >&2
deb=$(ls target/debug/deb/access-kiosk_*.deb)
files=$(dpkg-deb -c "$deb")
for f in usr/bin/access-kiosk usr/bin/kiosk usr/libexec/access-kiosk/kiosk; do
  grep -q " \./$f\$" <<<"$files" || { echo "no $f in $deb" >&2; exit 1; }
done

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
