#!/usr/bin/env bash
# Packs the Access API server as a Debian package: the binary, the face models and the ONNX
# Runtime it loads, a hardened systemd unit, a commented /etc/access-server/server.toml.
#   scripts/server-deb.sh [BINARY] [OUT_DIR]
# BINARY defaults to target/release/access-server (built here when missing); OUT_DIR to the
# binary's folder. Prints the .deb's path. dpkg-deb rather than cargo-deb: the package holds
# files cargo does not build (models, runtime), and dpkg-deb is on every Debian machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/target/release/access-server}"
if [ ! -x "$bin" ]; then
  [ $# -ge 1 ] && { echo "no server binary at $bin" >&2; exit 1; }
  # The console's files are embedded in a release binary: build them first.
  (cd "$root/console" && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; } && npm run build --silent >/dev/null)
  (cd "$root" && cargo build -q --release -p access-server)
fi
out="${2:-$(dirname "$bin")}"
ort_version=$(sed -n 's/^ORT_VERSION=\([0-9.]*\).*/\1/p' "$root/scripts/setup.sh")
ort="$root/.local/onnxruntime/libonnxruntime.so.$ort_version"
[ -f "$ort" ] || { echo "no ONNX Runtime at $ort: run scripts/setup.sh" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
pkg="$root/packaging/access-server"

stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
install -D -m 0755 "$bin" "$stage/usr/bin/access-server"
install -d "$stage/usr/lib/access-server/models" "$stage/usr/lib/access-server/lib"
# Every model the manifest names (the binary checks each sha256 again when it loads it).
awk -F'\t' '!/^#/ && NF > 2 { print $2 }' "$root/models/manifest.tsv" | while read -r f; do
  install -m 0644 "$root/models/$f" "$stage/usr/lib/access-server/models/$f"
done
install -m 0644 "$ort" "$stage/usr/lib/access-server/lib/"
install -D -m 0644 "$pkg/server.toml" "$stage/etc/access-server/server.toml"
install -D -m 0644 "$pkg/access-server.service" "$stage/lib/systemd/system/access-server.service"
install -D -m 0644 "$pkg/README.Debian" "$stage/usr/share/doc/access-server/README.Debian"
install -d "$stage/DEBIAN"
install -m 0755 "$pkg/postinst" "$pkg/prerm" "$pkg/postrm" "$stage/DEBIAN/"
echo /etc/access-server/server.toml >"$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: access-server
Version: $version
Architecture: amd64
Maintainer: Access Kiosk <dev@accesskiosk.co>
Installed-Size: $size
Depends: libc6 (>= 2.36), adduser, systemd
Section: net
Priority: optional
Description: Access API server for sign-in kiosks
 One-time codes by email, SMS and WhatsApp, and face enrolment, verification and
 liveness, for the Access Kiosk app and custom integrations (the Access API /v2/access).
 Runs as a hardened systemd service with its state in /var/lib/access-server.
CONTROL
deb="$out/access-server_${version}_amd64.deb"
# DEB_COMPRESS: e.g. "-Zgzip -z1" for a quick test build.
# shellcheck disable=SC2086
dpkg-deb --root-owner-group ${DEB_COMPRESS:-} --build "$stage" "$deb" >/dev/null
echo "$deb"
