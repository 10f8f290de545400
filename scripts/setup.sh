#!/usr/bin/env bash
# Installs everything the kiosk needs on a fresh Debian 12 machine, idempotently: Debian packages,
# the ONNX Runtime library (from the pinned PyPI wheel, hash-checked) and the face models (copied
# from ../shared/models or $MODELS_DIR, hash-checked). A second run only checks and takes seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ORT_VERSION=1.32.0
ORT_WHEEL=onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHEEL_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
ORT_DIR="$root/.local/onnxruntime"

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- Debian packages -------------------------------------------------------------------------
# The build (gcc, clang for the camera's V4L2 bindings), the app (WebKitGTK) and its tests
# (Xvfb, WebKitWebDriver; libopencv-dev for the test-only crates/opencv-parity, which also needs
# clang and libclang-dev to generate its bindings; nothing shipped links OpenCV; PostgreSQL for
# the server suite's second pass, started by scripts/pg.sh in a temp dir); the server's console is
# tested in headless Chromium through its chromedriver.
packages=(build-essential pkg-config python3 python3-pip ca-certificates clang libclang-dev linux-libc-dev libopencv-dev
  libwebkit2gtk-4.1-dev libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev
  xvfb xauth webkit2gtk-driver imagemagick postgresql chromium chromium-driver)
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
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Node.js (the UI: Vite 7 needs Node >= 20) ------------------------------------------------
node_major() { node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }
if [ -z "$(node_major)" ] || [ "$(node_major)" -lt 20 ]; then
  say "installing Node.js from Debian"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  [ "$(node_major)" -ge 20 ] || die "Node.js >= 20 is needed for the UI (found $(node --version 2>/dev/null || echo none))"
fi

# --- Rust ------------------------------------------------------------------------------------
if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  say "installing Rust with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
    --component rustfmt,clippy || die "no cargo and rustup could not be fetched: install Rust >= 1.92"
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# --- ONNX Runtime ----------------------------------------------------------------------------
if [ ! -f "$ORT_DIR/libonnxruntime.so.$ORT_VERSION" ]; then
  say "fetching ONNX Runtime $ORT_VERSION (PyPI wheel)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
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
