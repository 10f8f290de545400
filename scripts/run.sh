#!/usr/bin/env bash
# Sets up (idempotently) and runs the whole system on this machine: the Access API server on
# loopback (dev outbox, a seeded demo project with an active login flow, a paired kiosk), then
# the kiosk app pointed at it, with the camera if one is attached, else a replay of the shared
# sample photos. Ctrl+C (or closing the app) stops both.
#
# Demo data lives in .local/demo (delete it to start over). Administrator PIN: 246810.
# The operators' console is at http://127.0.0.1:8787/console/ (the first run prints a password).
# Codes sent by email/SMS/WhatsApp land in the dev outbox:
#   curl -H "Authorization: Bearer $(cat .local/demo/admin.token)" \
#     "http://127.0.0.1:8787/v2/access/dev/outbox?to=you@example.com"
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
. scripts/env.sh # Node.js from .local/node (if set-up put it there) and cargo first on PATH

port="${ACCESS_PORT:-8787}"
demo="$root/.local/demo"
faces="${FACE_DATA_DIR:-$root/../shared/data/faces}"
mkdir -p "$demo"

echo "== building the UI, the server and the app" >&2
npm --prefix ui run build --silent >/dev/null
[ -d console/node_modules ] || npm --prefix console ci --no-audit --no-fund --silent >/dev/null
npm --prefix console run build --silent >/dev/null
cargo build -q -p access-server -p access-kiosk-app -p kiosk-cli
bin="$root/target/debug"

"$bin/access-server" serve --addr "127.0.0.1:$port" --db "$demo/access.db" --dev-outbox \
  >"$demo/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$demo/server.log" >&2; exit 1; }
  sleep 0.1
done
api="http://127.0.0.1:$port/v2/access"

# The first operator of the console, once: its random password is printed this one time (and
# never stored). A re-run finds an operator and adds none.
password=$("$bin/access-server" admins add --if-none --db "$demo/access.db" admin@localhost 2>/dev/null)
echo "== console: http://127.0.0.1:$port/console/" >&2
if [ -n "$password" ]; then
  echo "   sign in as admin@localhost with password: $password  (shown only now)" >&2
else
  echo "   sign in as admin@localhost (forgot the password? target/debug/access-server admins reset-password --db $demo/access.db admin@localhost)" >&2
fi

admin=$("$bin/access-server" token --db "$demo/access.db" --subject demo-admin --ttl 1h)
# The body comes on stdin: a face image is too long for a command line.
post() { curl -fsS -X POST "$api$1" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' --data-binary @-; }
if [ ! -s "$demo/project.id" ]; then
  echo "== seeding the demo project" >&2
  project=$(echo '{"name":"Demo lobby"}' | post /projects | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')
  echo "{\"project_id\":\"$project\",\"type\":\"login\",\"status\":\"active\",
    \"login\":{\"email\":true,\"sms\":true,\"whatsapp\":true,\"face\":true}}" | post /project-flows >/dev/null
  # One person enrolled at the server, so face sign-in works on the replayed photos at once.
  for f in obama.jpg obama1.jpg obama3.jpg; do
    python3 -c 'import base64,json,sys; print(json.dumps({"user_id": "obama", "project_id": sys.argv[1],
      "face_image": base64.b64encode(open(sys.argv[2], "rb").read()).decode()}))' \
      "$project" "$faces/face_recognition_examples/obama/$f" | post /biometric/register-face >/dev/null
  done
  echo "$project" >"$demo/project.id"
fi
project=$(cat "$demo/project.id")
# The kiosk pairs itself (once) with a one-time code: it registers its device key and then
# renews its own short-lived tokens. No kiosk token is minted or stored here.
# The code goes through the environment, not the command line: other local users see every
# process's arguments, and a code seen is a code someone else could pair with first.
KIOSK_PAIRING_CODE="$("$bin/access-server" kiosks pair --db "$demo/access.db" --project "$project" --name "Demo kiosk" 2>/dev/null)" \
  "$bin/kiosk" --data-dir "$demo/kiosk" --api-url "$api" status --json >/dev/null

# The administrator PIN (only the first time; later runs keep what was set).
KIOSK_NEW_PIN=246810 "$bin/kiosk" --data-dir "$demo/kiosk" admin set-pin >/dev/null 2>&1 || true

if ls /dev/video* >/dev/null 2>&1; then
  camera="${KIOSK_CAMERA:-v4l:0}"
else
  camera="${KIOSK_CAMERA:-replay:$faces/face_recognition_examples/obama@5}"
fi
echo "== Access Kiosk: API $api, project $project, camera $camera, admin PIN 246810" >&2
export KIOSK_DATA_DIR="$demo/kiosk" KIOSK_API_URL="$api" KIOSK_PROJECT="$project" KIOSK_CAMERA="$camera"
echo "== codes sent land in the dev outbox (admin token, 1 h): .local/demo/admin.token" >&2
(umask 077; "$bin/access-server" token --db "$demo/access.db" --subject demo-outbox --ttl 1h >"$demo/admin.token")
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  "$bin/access-kiosk"
else
  echo "(no display: running the app on a virtual one; screenshot with DISPLAY=:... import -window root)" >&2
  xvfb-run -a -s "-screen 0 1280x800x24" "$bin/access-kiosk"
fi
