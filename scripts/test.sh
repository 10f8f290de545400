#!/usr/bin/env bash
# Sets up (idempotently) and runs every check: formatting, clippy, and all tests, which use the
# real models on the real shared photos (../shared/data/faces, or $FACE_DATA_DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
export FACE_DATA_DIR="${FACE_DATA_DIR:-$root/../shared/data/faces}"
[ -f "$FACE_DATA_DIR/pairs.csv" ] || { echo "test data not found in $FACE_DATA_DIR: set FACE_DATA_DIR" >&2; exit 1; }

echo "== ui: vitest, type check, build" >&2
npm --prefix ui test
npm --prefix ui run build
# The operators' console: access-server embeds console/dist (and its browser test drives it).
echo "== console: npm ci, vitest, type check, build" >&2
npm --prefix console ci --no-audit --no-fund
npm --prefix console test
npm --prefix console run build

echo "== cargo fmt --check" >&2
cargo fmt --all --check
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo build (the app binary the end-to-end tests launch)" >&2
cargo build -p access-kiosk-app
echo "== .deb bundle (tauri CLI from ui/node_modules; --debug reuses the test build)" >&2
rm -rf target/debug/bundle/deb
(cd src-tauri && ../ui/node_modules/.bin/tauri build --debug --bundles deb --ci >/dev/null)
deb=$(ls target/debug/bundle/deb/*.deb)
dpkg-deb -c "$deb" | grep -q 'usr/bin/access-kiosk$' || { echo "no app binary in $deb" >&2; exit 1; }
echo "bundle: $deb" >&2

echo "== cargo test" >&2
# Tests that would skip for a missing tool (chromedriver, the built console) fail instead.
export ACCESS_TEST_STRICT=1
cargo test --workspace

echo "== the server suite again, on PostgreSQL (a throwaway cluster on loopback)" >&2
pgdir=$(mktemp -d /tmp/access-pg.XXXXXX)
trap 'scripts/pg.sh stop "$pgdir"' EXIT
pg_url=$(scripts/pg.sh start "$pgdir")
ACCESS_TEST_PG="$pg_url" cargo test -p access-server --test it
