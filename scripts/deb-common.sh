# Sourced by scripts/server-deb.sh and scripts/kiosk-deb.sh: the parts of a .deb that lintian
# checks in every package (stripped binaries with their debug info in a -dbgsym package beside,
# Depends from dpkg-shlibdeps, copyright, changelog, man pages), done one way for both.
# Needs $root (the repository). Call deb_begin PACKAGE first; it sets $stage and $dbg_stage.
# shellcheck shell=bash
: "${root:?set root to the repository before sourcing deb-common.sh}"

DEB_MAINTAINER="Access Kiosk <dev@accesskiosk.co>"
DEB_ARCH=amd64

deb_die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# Upstream version from Cargo.toml, then a Debian revision (DEB_REVISION, default 1): a
# packaging-only fix gets a new revision without a new release of the code.
deb_version() {
  local v
  v=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
  echo "$v-${DEB_REVISION:-1}"
}

# The ONNX Runtime release scripts/setup.sh fetches, and its library file.
deb_ort_version() {
  sed -n 's/^ORT_VERSION=\([0-9.]*\).*/\1/p' "$root/scripts/setup.sh"
}
deb_ort_library() {
  local f
  f="$root/.local/onnxruntime/libonnxruntime.so.$(deb_ort_version)"
  [ -f "$f" ] || deb_die "no ONNX Runtime at $f: run scripts/setup.sh"
  echo "$f"
}

deb_begin() {
  deb_pkg=$1
  deb_build_ids=()
  deb_work=$(mktemp -d)
  trap 'rm -rf "$deb_work"' EXIT
  stage="$deb_work/$deb_pkg"
  dbg_stage="$deb_work/$deb_pkg-dbgsym"
  install -d -m 0755 "$stage/DEBIAN" "$dbg_stage/DEBIAN"
}

# deb_install_elf SRC DEST: SRC stripped to DEST (a path in the package), its debug info to
# /usr/lib/debug/.build-id/ in the -dbgsym package (where gdb and debuginfod look), as dh_strip
# does. DEB_DBGSYM=0 only strips (quick test builds).
deb_install_elf() {
  local src=$1 dest="$stage$2" id dbg
  id=$(readelf -n "$src" | sed -n 's/^ *Build ID: \([0-9a-f]*\)$/\1/p' | head -1)
  [ -n "$id" ] || deb_die "$src has no build id (needed to place its debug info)"
  install -d "$(dirname "$dest")"
  if [ "${DEB_DBGSYM:-1}" != 0 ]; then
    dbg="$dbg_stage/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
    install -d "$(dirname "$dbg")"
    objcopy --only-keep-debug --compress-debug-sections "$src" "$dbg"
    chmod 0644 "$dbg"
    [[ " ${deb_build_ids[*]} " == *" $id "* ]] || deb_build_ids+=("$id")
  fi
  strip --remove-section=.comment --remove-section=.note --remove-section=.gnu_debuglink \
    -o "$dest" "$src"
  [ -z "${dbg:-}" ] || objcopy --add-gnu-debuglink="$dbg" "$dest"
  chmod 0755 "$dest"
}

# deb_shlibdeps FILE...: the libraries FILEs link against, as one Depends list (dpkg-shlibdeps
# merges them). It needs a debian/control to read, hence the scratch folder.
deb_shlibdeps() {
  local d="$deb_work/shlibdeps" args=() f
  install -d "$d/debian"
  printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$deb_pkg" "$deb_pkg" >"$d/debian/control"
  for f in "$@"; do args+=("-e$f"); done
  (cd "$d" && dpkg-shlibdeps -O "${args[@]}" 2>"$d/err") | sed -n 's/^shlibs:Depends=//p' \
    | grep . || { cat "$d/err" >&2; deb_die "dpkg-shlibdeps failed on $*"; }
}

# deb_docs DIR: /usr/share/doc/PACKAGE/{copyright, changelog.Debian.gz}, and the lintian
# overrides of both packages plus this one's (DIR/lintian-overrides, if any).
# The changelog has one entry: this build, from which commit (the code's history is git's).
deb_docs() {
  local doc="$stage/usr/share/doc/$deb_pkg" commit date extra=/dev/null
  install -D -m 0644 "$root/packaging/copyright" "$doc/copyright"
  commit=$(git -C "$root" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
  date=$(git -C "$root" log -1 --format=%aD 2>/dev/null || date -R)
  printf '%s (%s) stable; urgency=medium\n\n  * Built from commit %s of the Access Kiosk repository.\n\n -- %s  %s\n' \
    "$deb_pkg" "$(deb_version)" "$commit" "$DEB_MAINTAINER" "$date" \
    | gzip -9n >"$doc/changelog.Debian.gz"
  chmod 0644 "$doc/changelog.Debian.gz"
  install -d "$stage/usr/share/lintian/overrides"
  [ -f "$1/lintian-overrides" ] && extra="$1/lintian-overrides"
  cat "$root/packaging/lintian-overrides" "$extra" | sed "s/^PACKAGE:/$deb_pkg:/" \
    >"$stage/usr/share/lintian/overrides/$deb_pkg"
  chmod 0644 "$stage/usr/share/lintian/overrides/$deb_pkg"
}

# deb_man_pages BINARY NAME: the pages clap_mangen writes (`BINARY man DIR`: NAME.1 and one
# NAME-SUBCOMMAND.1 each), gzipped into /usr/share/man/man1. MAN_DIR: take them from that folder
# instead (a binary from before the `man` subcommand).
deb_man_pages() {
  local bin=$1 name=$2 dir page gz
  if [ -n "${MAN_DIR:-}" ]; then
    dir=$MAN_DIR
  else
    dir="$deb_work/man-$name"
    install -d "$dir"
    "$bin" man "$dir" >/dev/null 2>"$dir.err" || {
      sed 's/^/  /' "$dir.err" >&2
      deb_die "$bin cannot write its man pages (\`$name man DIR\`, clap_mangen); a binary from before that subcommand can be packed with MAN_DIR=<folder of $name*.1 pages>"
    }
  fi
  [ -f "$dir/$name.1" ] || deb_die "no $name.1 in $dir"
  install -d "$stage/usr/share/man/man1"
  for page in "$dir/$name.1" "$dir/$name"-*.1; do
    [ -f "$page" ] || continue
    gz="$stage/usr/share/man/man1/${page##*/}.gz"
    gzip -9n <"$page" >"$gz"
    chmod 0644 "$gz"
  done
}

# deb_control FIELDS...: DEBIAN/control with the common fields and Installed-Size; FIELDS are
# lines (Depends, Section, Description...).
deb_control() {
  local size
  size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
  {
    printf 'Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\nInstalled-Size: %s\n' \
      "$deb_pkg" "$(deb_version)" "$DEB_ARCH" "$DEB_MAINTAINER" "$size"
    printf '%s\n' "$@"
  } >"$stage/DEBIAN/control"
}

# DEBIAN/md5sums, for `debsums` and `dpkg --verify`; conffiles (all of /etc here) are left
# out: dpkg keeps their sums itself.
deb_md5sums() {
  (cd "$1" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' \
    | LC_ALL=C sort -z | xargs -0r md5sum) >"$1/DEBIAN/md5sums"
}

# deb_build OUT_DIR: the package, and its -dbgsym beside when there is debug info; prints the
# paths. DEB_COMPRESS: e.g. "-Zgzip -z1" for a quick test build.
deb_build() {
  local out=$1 version deb ids
  version=$(deb_version)
  install -d "$out"
  deb="$out/${deb_pkg}_${version}_$DEB_ARCH.deb"
  deb_md5sums "$stage"
  # shellcheck disable=SC2086
  dpkg-deb --root-owner-group ${DEB_COMPRESS:-} --build "$stage" "$deb" >/dev/null
  echo "$deb"
  [ ${#deb_build_ids[@]} -gt 0 ] || return 0
  # The -dbgsym as Debian's debhelper makes it (Auto-Built-Package, Build-Ids, doc symlink).
  ids="${deb_build_ids[*]}"
  install -d "$dbg_stage/usr/share/doc"
  ln -s "$deb_pkg" "$dbg_stage/usr/share/doc/$deb_pkg-dbgsym"
  cat >"$dbg_stage/DEBIAN/control" <<CONTROL
Package: $deb_pkg-dbgsym
Source: $deb_pkg
Version: $version
Auto-Built-Package: debug-symbols
Architecture: $DEB_ARCH
Maintainer: $DEB_MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$dbg_stage" | cut -f1)
Depends: $deb_pkg (= $version)
Section: debug
Priority: optional
Description: debug symbols for $deb_pkg
Build-Ids: $ids
CONTROL
  deb="$out/${deb_pkg}-dbgsym_${version}_$DEB_ARCH.deb"
  deb_md5sums "$dbg_stage"
  # shellcheck disable=SC2086
  dpkg-deb --root-owner-group ${DEB_COMPRESS:-} --build "$dbg_stage" "$deb" >/dev/null
  echo "$deb"
}
