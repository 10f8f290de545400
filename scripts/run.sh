#!/usr/bin/env bash
# Sets up (idempotently) and runs the kiosk's face pipeline on the shared sample photos:
# verification accuracy, liveness and detection, then the per-stage latency table.
# (The kiosk app replaces this once it exists; see ARCHITECTURE.md.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
data="${FACE_DATA_DIR:-$root/../shared/data/faces}"
cargo build --release -q -p kiosk-cli
kiosk="$root/target/release/kiosk"

echo "== verification on $data/pairs.csv"
"$kiosk" eval verify --pairs "$data/pairs.csv"
echo
echo "== liveness on $data/liveness_labels.csv"
"$kiosk" eval liveness --labels "$data/liveness_labels.csv"
echo
for xml in training testing; do
  echo "== detection on dlib_faces/$xml.xml"
  "$kiosk" eval detect --voc "$data/dlib_faces/$xml.xml"
  echo
done
echo "== latency (640x480 frames, one core)"
"$kiosk" bench --images "$data"
