#!/usr/bin/env bash
# Packs the kiosk as a Debian package, access-kiosk: the app (access-kiosk) with its desktop
# entry and icons, the headless `kiosk` command administrators pair and check it with, the
# face models and the ONNX Runtime both load, a commented /etc/access-kiosk/kiosk.toml, man
# pages; and access-kiosk-dbgsym beside it with the debug info.
#   scripts/kiosk-deb.sh [APP_BINARY] [KIOSK_BINARY] [OUT_DIR]
# The binaries default to target/release/{access-kiosk,kiosk} (built here when missing);
# OUT_DIR to the app binary's folder. Prints the .debs' paths. dpkg-deb, not the Tauri
# bundler: that cannot set a file's mode (the 0600 conffile), split the debug info into a
# -dbgsym or take Depends from dpkg-shlibdeps.
# DEB_COMPRESS, DEB_DBGSYM, DEB_REVISION, MAN_DIR: see scripts/deb-common.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/deb-common.sh
. "$root/scripts/deb-common.sh"
app="${1:-$root/target/release/access-kiosk}"
cli="${2:-$root/target/release/kiosk}"
if [ ! -x "$app" ] || [ ! -x "$cli" ]; then
  [ $# -ge 1 ] && deb_die "no app binary at $app or no kiosk binary at $cli"
  # The UI is embedded in the app binary (custom-protocol): build it first.
  (cd "$root/ui" && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; } && npm run build --silent >/dev/null)
  (cd "$root" && cargo build -q --release -p access-kiosk-app -p kiosk-cli)
fi
out="${3:-$(dirname "$app")}"
ort=$(deb_ort_library)
pkg="$root/packaging/kiosk"
lib=/usr/lib/access-kiosk

deb_begin access-kiosk
deb_install_elf "$app" /usr/bin/access-kiosk
# /usr/bin/kiosk is a script that points the command at the engine below.
deb_install_elf "$cli" /usr/libexec/access-kiosk/kiosk
sed "s/@ORT_LIBRARY@/$(basename "$ort")/" "$pkg/kiosk" >"$stage/usr/bin/kiosk"
chmod 0755 "$stage/usr/bin/kiosk"
# The app finds these through Tauri's resource dir, /usr/lib/<productName> (src-tauri/src/main.rs).
install -d "$stage$lib/models" "$stage$lib/lib"
awk -F'\t' '!/^#/ && NF > 2 { print $2 }' "$root/models/manifest.tsv" | while read -r f; do
  install -m 0644 "$root/models/$f" "$stage$lib/models/$f"
done
install -m 0644 "$ort" "$stage$lib/lib/"
install -D -m 0644 "$pkg/access-kiosk.desktop" "$stage/usr/share/applications/access-kiosk.desktop"
icons="$root/src-tauri/icons"
for i in 32x32:32x32 128x128:128x128 256x256:128x128@2x 512x512:icon; do
  install -D -m 0644 "$icons/${i#*:}.png" "$stage/usr/share/icons/hicolor/${i%%:*}/apps/access-kiosk.png"
done
# Root-only as shipped (it may hold a token); postinst opens it to the group access-kiosk.
install -D -m 0600 "$pkg/kiosk.toml" "$stage/etc/access-kiosk/kiosk.toml"
install -D -m 0644 "$pkg/README.Debian" "$stage/usr/share/doc/access-kiosk/README.Debian"
deb_docs "$pkg"
deb_man_pages "$cli" kiosk
gzip -9n <"$pkg/access-kiosk.1" >"$stage/usr/share/man/man1/access-kiosk.1.gz"
chmod 0644 "$stage/usr/share/man/man1/access-kiosk.1.gz"
install -m 0755 "$pkg/postinst" "$pkg/postrm" "$stage/DEBIAN/"
echo /etc/access-kiosk/kiosk.toml >"$stage/DEBIAN/conffiles"
# The runtime's libraries count too: it is loaded with dlopen, so no binary names it.
shlibs=$(deb_shlibdeps "$stage/usr/bin/access-kiosk" "$stage/usr/libexec/access-kiosk/kiosk" "$stage$lib/lib/$(basename "$ort")")
deb_control \
  "Depends: $shlibs, adduser" \
  "Section: misc" \
  "Priority: optional" \
  "Description: sign-in kiosk by face or one-time code" \
  " Access Kiosk is a full-screen app for a touch screen with a camera: a person" \
  " signs in by face (matched on the device, with a liveness check) or by a code" \
  " sent by email, SMS or WhatsApp through an Access API server (the" \
  " access-server package). It keeps deciding faces offline for a while and" \
  " sends what happened when the server is back." \
  " ." \
  " The package holds the app, the face models and the ONNX Runtime they run on," \
  " and the kiosk command an administrator pairs the kiosk with, checks its" \
  " camera, status and queue, and enrols or signs in people from photos."
deb_build "$out"
