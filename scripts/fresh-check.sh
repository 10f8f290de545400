#!/usr/bin/env bash
# Proves the README's two commands' set-up and build on a truly fresh Debian 12 (or 13), for
# releases, not CI (half an hour to an hour on 2 cores, 12 GB). It builds a bookworm (or trixie)
# root with debootstrap (minbase, as a container image has it), puts this repository in
# (`git archive HEAD`: committed files only, uncommitted changes are NOT in it), bind-mounts
# ../shared read-only beside it, and runs inside it, with chroot, what scripts/test.sh runs before
# its tests: scripts/setup.sh, the UI and console npm builds, and `cargo test --workspace
# --no-run` (every test binary), then the opencv-parity tests (OpenCV's core and imgproc at run
# time). It ends with what was installed and a table of each step's time.
#
# rustup's servers cannot be reached from here nor from CI: the check copies this machine's
# toolchain whose rustc has the version rust-toolchain.toml pins into the root, under its own name
# (e.g. stable), with rustup beside it, as on CI's machines; inside, rustup's servers are made
# unreachable. Everything else comes from the registries: Debian's packages, npm, PyPI, crates.io.
#
# Usage (as root): scripts/fresh-check.sh [--fresh] [--clippy] [--suite trixie] [DIR]
#   DIR       where the check keeps its Debian root (DIR/debian), logs (DIR/logs) and figures
#             (default /var/tmp/access-fresh); a later run reuses the root (the idempotent case:
#             set-up finds everything done)
#   --fresh   delete the root first and start again from debootstrap
#   --clippy  also run `cargo clippy --workspace --all-targets -- -D warnings`
#   --suite S Debian release of a new root: bookworm (12, the default) or trixie (13)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

fresh=0 clippy=0 dir=/var/tmp/access-fresh suite=bookworm
while [ $# -gt 0 ]; do
  arg="$1"
  shift
  case "$arg" in
    --suite) suite="${1:?--suite needs bookworm or trixie}"; shift ;;
    --fresh) fresh=1 ;;
    --clippy) clippy=1 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $arg (see --help)" >&2; exit 2 ;;
    *) dir="$arg" ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "fresh-check: run as root (debootstrap, chroot, mount)" >&2; exit 1; }
mkdir -p "$dir"
state="$(cd "$dir" && pwd -P)" # logs and figures
root="$state/debian"
shared="$(cd "$repo/.." && pwd)/shared"
[ -d "$shared/models" ] || { echo "fresh-check: $shared/models not found" >&2; exit 1; }
work="$root/work/access-kiosk" # ../shared is then /work/shared, as setup.sh expects

say() { printf '[fresh-check] %s\n' "$*" >&2; }

# --- Mounts and processes: all undone on exit, whatever happens ------------------------------
mounts_under_root() { awk -v r="$root/" 'index($2 "/", r) == 1 { print $2 }' /proc/self/mounts; }
kill_root_processes() { # processes the steps left running in the root (none expected)
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill "${p#/proc/}" 2>/dev/null
  done
  return 0
}
unmount_all() {
  kill_root_processes
  local m
  for m in $(mounts_under_root | sort -r); do umount -R "$m" 2>/dev/null || umount -l "$m" || true; done
}
trap unmount_all EXIT
mount_all() {
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
  mountpoint -q "$root/sys" || mount -t sysfs sysfs "$root/sys"
  if ! mountpoint -q "$root/dev"; then mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"; fi
  mkdir -p "$root/work/shared"
  if ! mountpoint -q "$root/work/shared"; then
    mount --bind "$shared" "$root/work/shared" && mount -o remount,bind,ro "$root/work/shared"
  fi
  cp /etc/resolv.conf "$root/etc/resolv.conf"
}

# Where this machine reaches the registries through a TLS proxy, the root needs the same trust:
# the machine's own CA certificates (/usr/local/share/ca-certificates, taken in when set-up
# installs ca-certificates) and the variables that point its tools at them (Node.js reads
# NODE_EXTRA_CA_CERTS, not the system's store). A machine without them passes nothing.
ca_vars=()
for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE PIP_CERT REQUESTS_CA_BUNDLE; do
  if [ -n "${!v:-}" ]; then ca_vars+=("$v=${!v}"); fi
done
trust_like_host() {
  local cas=(/usr/local/share/ca-certificates/*.crt)
  [ -e "${cas[0]}" ] || return 0
  say "this machine's TLS goes through its own CA (${#cas[@]} in /usr/local/share/ca-certificates): the root trusts them too"
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp "${cas[@]}" "$root/usr/local/share/ca-certificates/"
  if [ -x "$root/usr/sbin/update-ca-certificates" ]; then chroot "$root" update-ca-certificates >/dev/null 2>&1; fi
}

# Runs a command in the root as a fresh login would have it (root, a plain PATH), with rustup's
# servers made unreachable (a closed local port), as they are on CI.
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUSTUP_DIST_SERVER=http://127.0.0.1:9 RUSTUP_UPDATE_ROOT=http://127.0.0.1:9/rustup \
    "${ca_vars[@]}" /bin/bash -c "set -euo pipefail; $1"
}

# --- Steps, each timed and logged to $state/logs ---------------------------------------------
rows=()
total_start=$SECONDS
report() {
  printf '\n== fresh-check: %s\n' "$1" >&2
  printf '%8s  %s\n' seconds step "${rows[@]}" >&2
  printf '%8s  %s\n' $((SECONDS - total_start)) total >&2
}
step() { # name, command (run on the host; in_root for the root)
  local name="$1" log start
  shift
  log="$state/logs/$(printf '%02d' $((${#rows[@]} / 2 + 1)))-$(printf '%s' "${name%% *}" | tr -c 'A-Za-z0-9._-' _).log"
  say "$name"
  start=$SECONDS
  # In the background, so that set -e holds inside a function (it does not in an if condition).
  "$@" >"$log" 2>&1 &
  if ! wait $!; then
    rows+=($((SECONDS - start)) "$name: FAILED")
    tail -n 40 "$log" >&2
    report "FAILED at: $name (log: $log)"
    exit 1
  fi
  rows+=($((SECONDS - start)) "$name")
}

# --- The root ---------------------------------------------------------------------------------
if [ "$fresh" = 1 ]; then
  unmount_all
  [ -z "$(mounts_under_root)" ] || { echo "fresh-check: still mounted under $root" >&2; exit 1; }
  rm -rf --one-file-system "$root" "$state/logs" "$state/created"
fi
mkdir -p "$root" "$state/logs"

# The mirror this machine's apt uses (deb.debian.org unless configured otherwise).
mirror="$(sed -n 's|^URIs: *\(https\{0,1\}://[^ ]*/debian\)/*$|\1|p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)"
mirror="${mirror:-http://deb.debian.org/debian}"

debootstrap_root() {
  rm -rf --one-file-system "$root" && mkdir -p "$root" # what an interrupted run left
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
  fi
  debootstrap --variant=minbase "$suite" "$root" "$mirror"
  # What a new Debian lists: the release, its updates and security.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # No services start inside a chroot (PostgreSQL's package would start its cluster).
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod 755 "$root/usr/sbin/policy-rc.d"
  chroot "$root" apt-get clean
  packages_now >"$state/packages-before.txt"
  date -u '+%Y-%m-%dT%H:%M:%SZ' >"$state/created"
}
# shellcheck disable=SC2016 # the ${...} are dpkg-query's fields
packages_now() { chroot "$root" dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Installed-Size}\n' | awk '$1 == "ii"'; }

if [ ! -f "$state/created" ]; then
  new_root=1
  step "debootstrap: Debian $suite minbase from $mirror" debootstrap_root
else
  new_root=0
  say "reusing the root made $(cat "$state/created") in $root (--fresh starts again)"
fi

# --- The repository, the toolchain, rustup ------------------------------------------------------
copy_repo() {
  # Replaces the tracked files; build output (target/, .local/, node_modules) is kept for reuse.
  mkdir -p "$work"
  git -C "$repo" archive --format=tar HEAD | tar -x -C "$work"
}
want="$(sed -nE 's/^channel *= *"([^"]+)".*/\1/p' "$repo/rust-toolchain.toml")"
toolchain_src=""
for d in "${RUSTUP_HOME:-$HOME/.rustup}"/toolchains/*; do
  d="$(readlink -f "$d")"
  case "$("$d/bin/rustc" --version 2>/dev/null)" in "rustc $want "*) toolchain_src="$d"; break ;; esac
done
[ -n "$toolchain_src" ] || { echo "fresh-check: no toolchain here has rustc $want (rust-toolchain.toml)" >&2; exit 1; }
toolchain_name="$(basename "$toolchain_src")"
copy_toolchain() {
  # rustup's own installer, run offline (no toolchain), then the toolchain without its HTML docs.
  cp "$(readlink -f "$(command -v rustup)")" "$root/tmp/rustup-init"
  in_root "/tmp/rustup-init -y -q --no-modify-path --profile minimal --default-toolchain none"
  rm -f "$root/tmp/rustup-init"
  mkdir -p "$root/root/.rustup/toolchains/$toolchain_name"
  tar -C "$toolchain_src" --exclude=./share/doc -cf - . | tar -C "$root/root/.rustup/toolchains/$toolchain_name" -xf -
  in_root "cd / && ~/.cargo/bin/rustup default $toolchain_name"
}

mount_all
[ -z "$(git -C "$repo" status --porcelain --untracked-files=no)" ] \
  || say "warning: uncommitted changes in $repo are not copied (git archive HEAD)"
step "copy the repository (git archive HEAD $(git -C "$repo" rev-parse --short HEAD))" copy_repo
if [ ! -x "$root/root/.cargo/bin/rustup" ]; then
  say "rustup cannot be reached: copying this machine's $toolchain_name toolchain (rustc $want) into the root"
  step "copy Rust $want ($toolchain_name, no docs) and rustup" copy_toolchain
fi

# --- What scripts/test.sh does before its tests ------------------------------------------------
trust_like_host
step "scripts/setup.sh" in_root "cd /work/access-kiosk && scripts/setup.sh"
step "ui: npm run build (svelte-check, vite)" in_root "cd /work/access-kiosk && . scripts/env.sh && npm --prefix ui run build"
step "console: npm ci, npm run build" \
  in_root "cd /work/access-kiosk && . scripts/env.sh && npm --prefix console ci --no-audit --no-fund && npm --prefix console run build"
step "cargo test --workspace --no-run" in_root "cd /work/access-kiosk && . scripts/env.sh && cargo test --workspace --no-run"
# The test binary the build above made (found as scripts/test.sh finds its PostgreSQL pass's).
parity_tests() {
  in_root "cd /work/access-kiosk && . scripts/env.sh && cargo test --workspace --no-run --message-format=json >/tmp/artifacts.json"
  local bin
  bin="$(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("executable") and m["target"]["name"] == "parity" and "/opencv-parity/" in m["manifest_path"]:
        print(m["executable"])' "$root/tmp/artifacts.json")"
  [ -n "$bin" ]
  in_root "cd /work/access-kiosk/crates/opencv-parity && FACE_DATA_DIR=/work/shared/data/faces $bin"
}
step "opencv-parity tests (OpenCV core + imgproc at run time)" parity_tests
if [ "$clippy" = 1 ]; then
  step "cargo clippy --workspace --all-targets -- -D warnings" \
    in_root "cd /work/access-kiosk && . scripts/env.sh && cargo clippy --workspace --all-targets -- -D warnings"
fi

# --- Figures -----------------------------------------------------------------------------------
packages_now >"$state/packages-after.txt"
unmount_all
mb() { echo $((($1 + 1023) / 1024)); } # KiB to MiB
count_before=$(wc -l <"$state/packages-before.txt")
count_after=$(wc -l <"$state/packages-after.txt")
kib_before=$(awk -F'\t' '{ s += $3 } END { print s + 0 }' "$state/packages-before.txt")
kib_after=$(awk -F'\t' '{ s += $3 } END { print s + 0 }' "$state/packages-after.txt")
kib_debs=$(du -sk "$root/var/cache/apt/archives" | cut -f1)
awk -F'\t' 'NR == FNR { had[$2] = 1; next } !($2 in had) { print $2 }' \
  "$state/packages-before.txt" "$state/packages-after.txt" >"$state/installed.txt"
say "installed Debian packages: $((count_after - count_before)) on top of debootstrap's $count_before ($(mb "$kib_debs") MB downloaded, $(mb $((kib_after - kib_before))) MB installed; list: $state/installed.txt)"
say "from the other registries: npm cache $(du -sm "$root/root/.npm" 2>/dev/null | cut -f1) MB, cargo registry $(du -sm "$root/root/.cargo/registry" 2>/dev/null | cut -f1) MB, .local (ONNX Runtime, Node.js) $(du -sm "$work/.local" | cut -f1) MB"
say "disk: the root $(du -sm "$root" | cut -f1) MB in all, of which target/ $(du -sm "$work/target" 2>/dev/null | cut -f1) MB and the Rust toolchain $(du -sm "$root/root/.rustup" | cut -f1) MB"
if [ "$new_root" = 1 ]; then
  report "passed (a new root: set-up started with nothing of ours installed)"
else
  report "passed (a reused root made $(cat "$state/created"))"
fi
