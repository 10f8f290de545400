#!/usr/bin/env bash
# Packs the Access API server as a Debian package: the binary, the face models and the ONNX
# Runtime it loads, a hardened systemd unit, a commented /etc/access-server/server.toml, man
# pages; and access-server-dbgsym beside it with the debug info.
#   scripts/server-deb.sh [BINARY] [OUT_DIR]
# BINARY defaults to target/release/access-server (built here when missing); OUT_DIR to the
# binary's folder. Prints the .debs' paths. dpkg-deb rather than cargo-deb: the package holds
# files cargo does not build (models, runtime), and dpkg-deb is on every Debian machine.
# DEB_COMPRESS, DEB_DBGSYM, DEB_REVISION, MAN_DIR: see scripts/deb-common.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/deb-common.sh
. "$root/scripts/deb-common.sh"
bin="${1:-$root/target/release/access-server}"
if [ ! -x "$bin" ]; then
  [ $# -ge 1 ] && deb_die "no server binary at $bin"
  # The console's files are embedded in a release binary: build them first.
  (cd "$root/console" && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; } && npm run build --silent >/dev/null)
  (cd "$root" && cargo build -q --release -p access-server)
fi
out="${2:-$(dirname "$bin")}"
ort=$(deb_ort_library)
pkg="$root/packaging/access-server"

deb_begin access-server
deb_install_elf "$bin" /usr/bin/access-server
install -d "$stage/usr/lib/access-server/models" "$stage/usr/lib/access-server/lib"
# Every model the manifest names (the binary checks each sha256 again when it loads it).
awk -F'\t' '!/^#/ && NF > 2 { print $2 }' "$root/models/manifest.tsv" | while read -r f; do
  install -m 0644 "$root/models/$f" "$stage/usr/lib/access-server/models/$f"
done
install -m 0644 "$ort" "$stage/usr/lib/access-server/lib/"
install -D -m 0644 "$pkg/server.toml" "$stage/etc/access-server/server.toml"
install -D -m 0644 "$pkg/access-server.service" "$stage/lib/systemd/system/access-server.service"
install -D -m 0644 "$pkg/README.Debian" "$stage/usr/share/doc/access-server/README.Debian"
deb_docs "$pkg"
deb_man_pages "$bin" access-server
install -m 0755 "$pkg/postinst" "$pkg/prerm" "$pkg/postrm" "$stage/DEBIAN/"
echo /etc/access-server/server.toml >"$stage/DEBIAN/conffiles"
# The runtime's libraries count too: it is loaded with dlopen, so no binary names it.
shlibs=$(deb_shlibdeps "$stage/usr/bin/access-server" "$stage/usr/lib/access-server/lib/$(basename "$ort")")
deb_control \
  "Depends: $shlibs, adduser, systemd" \
  "Section: net" \
  "Priority: optional" \
  "Description: Access API server for sign-in kiosks" \
  " The Access API (/v2/access) for the Access Kiosk app and custom integrations:" \
  " one-time codes by email, SMS and WhatsApp, and face enrolment, verification" \
  " and liveness on the device's CPU (ONNX Runtime and the face models are" \
  " included). An operators' web console and the API reference are served by the" \
  " same binary." \
  " ." \
  " Runs as a hardened systemd service under its own user, with its state (an" \
  " SQLite database holding the signing keys) in /var/lib/access-server; several" \
  " replicas can share a PostgreSQL database instead."
deb_build "$out"
