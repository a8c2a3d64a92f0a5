#!/usr/bin/env bash
# Debian packages of EdgeCore, built with dpkg-deb from `make install` (docs/packaging.md):
#   libedgecoreN      the shared library (N: the SONAME's major, libEdgeCore.so.N), shlibs and symbols
#   libedgecore-dev   header, libEdgeCore.so link, libEdgeCore.a, pkg-config file, edgecore.h(3)
#   edgecore-tools    /usr/bin/edgecore, /usr/bin/edgecore-gateway, profiles, man pages, bash completion,
#                     the systemd unit, /etc/default/edgecore-gateway (a conffile), sysusers.d entry
#
#   scripts/make-deb.sh [amd64] [arm64] [armhf]      (default: all three) -> build/deb/*.deb
#
# Each architecture's packaged tool then runs `--version` and `check examples/site-simulated.yaml` against
# its packaged library (ARM under qemu-user), and the packaged gateway `--version`.
# Depends are computed from each ELF file's NEEDED libraries (readelf), mapped to Debian 12's packages by
# the table below; an unknown library stops the build. Every package is then checked by lintian when it is
# installed: errors fail the build, warnings are listed. Env: DEB_MAINTAINER, DEB_REVISION (1),
# SOURCE_DATE_EPOCH (default: the last commit's time), LINTIAN=0 to skip lintian.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64 armhf)

version=$(sed -n 's/^#define EDGECORE_VERSION_STRING "\(.*\)"/\1/p' include/edgecore.h)
major=${version%%.*}
debversion=$version-${DEB_REVISION:-1}
libpkg=libedgecore$major
maintainer=${DEB_MAINTAINER:-EdgeCore maintainers <maintainers@edgecore.example.org>}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
date_rfc2822=$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
first_year=$(git log --max-parents=0 --format=%cd --date=format:%Y 2>/dev/null | sort | sed -n 1p || true)
last_year=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
years=${first_year:-$last_year}
[ "$years" = "$last_year" ] || years=$years-$last_year
out=build/deb
mkdir -p "$out"

# NEEDED library -> the Debian 12 package (and version) providing it (their shlibs files).
declare -A provider=(
  [libc.so.6]=libc6 [libm.so.6]=libc6 [libpthread.so.0]=libc6 [libdl.so.2]=libc6 [librt.so.1]=libc6
  [ld-linux-x86-64.so.2]=libc6 [ld-linux-aarch64.so.1]=libc6 [ld-linux-armhf.so.3]=libc6
  [libgcc_s.so.1]="libgcc-s1 (>= 3.0)"
  [libmodbus.so.5]="libmodbus5 (>= 3.1.6)" [libyaml-0.so.2]="libyaml-0-2 (>= 0.2.5)"
  [libgpiod.so.2]="libgpiod2 (>= 1.6.3)" [libgpiod.so.3]="libgpiod3 (>= 2.1)"
  [libmosquitto.so.1]="libmosquitto1 (>= 2.0.11)" [libssl.so.3]="libssl3 (>= 3.0.0)" [libcrypto.so.3]="libssl3 (>= 3.0.0)"
  [libEdgeCore.so.$major]="$libpkg (= $debversion)"
)

# Depends of the ELF files under a package tree: one package per library, libc6 at the newest GLIBC_x.y
# symbol version the files need.
depends_of() {
  local tree=$1 f lib glibc="" deps=()
  while IFS= read -r f; do
    file -b "$f" | grep -q '^ELF' || continue
    for lib in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [ -n "${provider[$lib]:-}" ] || { echo "make-deb: $f needs $lib: no Debian package known for it (scripts/make-deb.sh)" >&2; return 1; }
      deps+=("${provider[$lib]}")
    done
    glibc=$(printf '%s\n' "$glibc" $(readelf -V "$f" | grep -oE 'GLIBC_[0-9]+\.[0-9]+(\.[0-9]+)?' | sed 's/GLIBC_//') |
            sed '/^$/d' | sort -V | tail -n 1)
  done < <(find "$tree" -type f ! -path '*/DEBIAN/*')
  printf '%s\n' "${deps[@]}" | sort -u | while IFS= read -r d; do
    if [ "$d" = libc6 ]; then echo "libc6 (>= ${glibc:-2.36})"; else echo "$d"; fi
  done | paste -sd, | sed 's/,/, /g'
}

# The exported functions with the first version whose header had them: the frozen headers of
# Tests/CABI/abi/X.Y (oldest first; a function in X.Y's is there since X.Y.0), the others this version.
symbols_file() {
  local soname=$1 f since frozen
  local -a versions=() lists=()
  for frozen in $(ls -d Tests/CABI/abi/*/ | sort -V); do
    versions+=("$(basename "$frozen").0")
    lists+=("$(toolchain/header-functions.sh "$frozen/edgecore.h")")
  done
  echo "$soname $libpkg #MINVER#"
  echo "* Build-Depends-Package: libedgecore-dev"
  while IFS= read -r f; do
    since=$version
    for i in "${!versions[@]}"; do
      if grep -qx "$f" <<<"${lists[$i]}"; then since=${versions[$i]}; break; fi
    done
    echo " $f@Base $since"
  done < <(toolchain/header-functions.sh)
}

doc_files() {   # copyright and changelog.Debian.gz into PACKAGE's doc folder
  local tree=$1 package=$2 doc
  doc=$tree/usr/share/doc/$package
  install -d "$doc"
  cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: EdgeCore
Upstream-Contact: $maintainer

Files: *
Copyright: $years the EdgeCore authors
License: EdgeCore
 Copyright the EdgeCore authors (include/edgecore.h). The EdgeCore repository
 states no license of its own: these packages are the project's work, distributed
 by the project, under whatever terms the EdgeCore authors set for it.
EOF
  printf '%s (%s) unstable; urgency=medium\n\n  * EdgeCore %s, packaged by make deb (scripts/make-deb.sh).\n\n -- %s  %s\n' \
    edgecore "$debversion" "$version" "$maintainer" "$date_rfc2822" | gzip -9n > "$doc/changelog.Debian.gz"
  # Not an upload to Debian: no ITP bug to close.
  install -d "$tree/usr/share/lintian/overrides"
  echo "$package: initial-upload-closes-no-bugs" > "$tree/usr/share/lintian/overrides/$package"
  chmod 644 "$doc/copyright" "$doc/changelog.Debian.gz" "$tree/usr/share/lintian/overrides/$package"
}

# control, md5sums, build. Args: tree package arch section multiarch depends short long...
build_package() {
  local tree=$1 package=$2 arch=$3 section=$4 multiarch=$5 depends=$6 short=$7 long=$8
  doc_files "$tree" "$package"
  find "$tree" -type d -exec chmod 755 {} +
  install -d "$tree/DEBIAN"
  {
    echo "Package: $package"
    echo "Source: edgecore"
    echo "Version: $debversion"
    echo "Architecture: $arch"
    [ -n "$multiarch" ] && echo "Multi-Arch: $multiarch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$tree" | cut -f1)"
    [ -n "$depends" ] && echo "Depends: $depends"
    echo "Section: $section"
    echo "Priority: optional"
    echo "Description: $short"
    printf '%s\n' "$long" | fold -s -w 78 | sed -e 's/ *$//' -e 's/^/ /' -e 's/^ $/ ./'
  } > "$tree/DEBIAN/control"
  (cd "$tree" && find . -type f ! -path './DEBIAN/*' -printf '%P\n' | LC_ALL=C sort | xargs -r md5sum) > "$tree/DEBIAN/md5sums"
  chmod 644 "$tree"/DEBIAN/*
  [ ! -e "$tree/DEBIAN/postinst" ] || chmod 755 "$tree/DEBIAN/postinst"
  dpkg-deb --root-owner-group -Zxz --build "$tree" "$out/${package}_${debversion}_${arch}.deb" >/dev/null
  echo "make-deb: $out/${package}_${debversion}_${arch}.deb"
}

declare -A make_arch=([amd64]=x86_64 [arm64]=aarch64 [armhf]=armv7)
declare -A triplet=([amd64]=x86_64-linux-gnu [arm64]=aarch64-linux-gnu [armhf]=arm-linux-gnueabihf)
built=()
for arch in "${arches[@]}"; do
  [ -n "${make_arch[$arch]:-}" ] || { echo "make-deb: unknown architecture '$arch': expected amd64, arm64 or armhf" >&2; exit 2; }
  start=$SECONDS
  m=${make_arch[$arch]} t=${triplet[$arch]}
  stage=build/deb/stage-$arch
  rm -rf "$stage" "build/deb/tree-$arch"
  make -s lib dist man ARCH="$m" >/dev/null
  make -s install ARCH="$m" DESTDIR="$top/$stage" PREFIX=/usr LIBDIR="/usr/lib/$t" SYSTEMDDIR=/lib/systemd/system \
    SYSCONFDIR=/etc >/dev/null
  gzip -9n "$stage"/usr/share/man/man*/*

  lib=build/deb/tree-$arch/$libpkg dev=build/deb/tree-$arch/libedgecore-dev tools=build/deb/tree-$arch/edgecore-tools
  install -d "$lib/usr/lib/$t" "$dev/usr/lib/$t" "$dev/usr/share/man" "$tools/usr/share/man" "$tools/usr/lib"
  mv "$stage/usr/lib/$t"/libEdgeCore.so.* "$lib/usr/lib/$t/"
  mv "$stage/usr/include" "$dev/usr/"
  mv "$stage/usr/lib/$t"/libEdgeCore.so "$stage/usr/lib/$t"/libEdgeCore.a "$stage/usr/lib/$t/pkgconfig" "$dev/usr/lib/$t/"
  mv "$stage/usr/share/man/man3" "$dev/usr/share/man/"
  mv "$stage/usr/bin" "$tools/usr/"
  mv "$stage/etc" "$stage/lib" "$tools/"
  mv "$stage/usr/share/man/man1" "$tools/usr/share/man/"
  mv "$stage/usr/share/edgecore" "$stage/usr/share/bash-completion" "$tools/usr/share/"
  mv "$stage/usr/lib/sysusers.d" "$tools/usr/lib/"
  rmdir "$stage/usr/share/man" "$stage/usr/share" "$stage/usr/lib/$t" "$stage/usr/lib" "$stage/usr" "$stage"

  # libedgecoreN: ldconfig trigger, shlibs, symbols.
  soname=libEdgeCore.so.$major
  install -d "$lib/DEBIAN"
  echo "activate-noawait ldconfig" > "$lib/DEBIAN/triggers"
  echo "libEdgeCore $major $libpkg (>= $version)" > "$lib/DEBIAN/shlibs"
  symbols_file "$soname" > "$lib/DEBIAN/symbols"
  build_package "$lib" "$libpkg" "$arch" libs same "$(depends_of "$lib")" \
    "sensor and meter sampling for Linux edge devices (shared library)" \
    "EdgeCore samples sensors on Linux edge devices: GPIO lines, Modbus RTU and TCP slaves, DL/T 645 electricity meters and CJ/T 188 water, heat and gas meters. It keeps every reading with its status in a lock-free ring buffer, can keep them on flash in a journal that survives power cuts, and hands them to C programs through edgecore.h.

This package holds the shared library libEdgeCore.so.$major."

  build_package "$dev" libedgecore-dev "$arch" libdevel same \
    "$libpkg (= $debversion), libmodbus-dev, libyaml-dev, libgpiod-dev" \
    "sensor and meter sampling for Linux edge devices (development files)" \
    "EdgeCore samples sensors on Linux edge devices: GPIO lines, Modbus RTU and TCP slaves, DL/T 645 and CJ/T 188 meters, into a lock-free ring buffer and an optional journal on flash.

This package holds what building C programs against EdgeCore needs: the header edgecore.h, the libEdgeCore.so link, the static library libEdgeCore.a, the pkg-config file edgecore.pc and the edgecore.h(3) manual page."

  # edgecore-tools: the gateway's configuration is a conffile; its user and the gpio group come from
  # sysusers.d (created at once by postinst where systemd-sysusers exists, else at the next boot).
  install -d "$tools/DEBIAN"
  echo /etc/default/edgecore-gateway > "$tools/DEBIAN/conffiles"
  cat > "$tools/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# The gateway service's user (edgecore) and the gpio group (usr/lib/sysusers.d/edgecore-tools.conf).
set -e
if [ "$1" = configure ] && command -v systemd-sysusers >/dev/null; then
    systemd-sysusers ${DPKG_ROOT:+--root="$DPKG_ROOT"} edgecore-tools.conf || true
fi
EOF
  build_package "$tools" edgecore-tools "$arch" utils "" "$(depends_of "$tools")" \
    "EdgeCore technicians' tool and MQTT gateway" \
    "EdgeCore samples sensors on Linux edge devices: GPIO lines, Modbus RTU and TCP slaves, DL/T 645 and CJ/T 188 meters.

This package holds edgecore, the technicians' tool (check a site file, read and write registers, coils and meter items, watch a site, scan a line for devices, GPIO, journals, sniff an RS-485 line), and edgecore-gateway, which forwards every reading of a site to an MQTT broker with store-and-forward through a journal, with its systemd unit (not enabled: edit /etc/default/edgecore-gateway and /etc/edgecore/site.yaml first), the device profiles, manual pages and bash completion."
  # The packaged tool and gateway start against the packaged library (ARM: under qemu-user, the other
  # libraries from the sysroot).
  run=() libpath=$top/$lib/usr/lib/$t
  case $arch in
    arm64) run=(qemu-aarch64-static -L /usr/aarch64-linux-gnu) libpath+=:$top/.build-sysroot/arm64/usr/lib/$t ;;
    armhf) run=(qemu-arm-static -L /usr/arm-linux-gnueabihf) libpath+=:$top/.build-sysroot/armhf/usr/lib/$t ;;
  esac
  said=$(LD_LIBRARY_PATH=$libpath "${run[@]}" "$tools/usr/bin/edgecore" --version 2>&1)
  [ "$said" = "edgecore $version (libEdgeCore $version)" ] ||
    { echo "make-deb: the packaged edgecore ($arch) does not start: $said" >&2; exit 1; }
  LD_LIBRARY_PATH=$libpath "${run[@]}" "$tools/usr/bin/edgecore-gateway" --version >/dev/null 2>&1 ||
    { echo "make-deb: the packaged edgecore-gateway ($arch) does not start" >&2; exit 1; }
  LD_LIBRARY_PATH=$libpath "${run[@]}" "$tools/usr/bin/edgecore" check examples/site-simulated.yaml >/dev/null 2>&1 ||
    { echo "make-deb: the packaged edgecore ($arch) cannot check examples/site-simulated.yaml" >&2; exit 1; }
  echo "make-deb: $arch: $said; checks examples/site-simulated.yaml"
  built+=("$out/${libpkg}_${debversion}_$arch.deb" "$out/libedgecore-dev_${debversion}_$arch.deb" "$out/edgecore-tools_${debversion}_$arch.deb")
  echo "make-deb: $arch built in $((SECONDS - start)) s"
done

if [ "${LINTIAN:-1}" != 0 ]; then
  if ! command -v lintian >/dev/null; then
    echo "make-deb: lintian is not installed (scripts/install-deps.sh): packages not checked" >&2
  else
    start=$SECONDS
    set +e
    report=$(lintian --fail-on error --tag-display-limit 0 "${built[@]}" 2>&1)
    status=$?
    set -e
    report=$(printf '%s\n' "$report" | grep -v '^running with root privileges' || true)
    errors=$(printf '%s\n' "$report" | grep -c '^E: ' || true)
    warnings=$(printf '%s\n' "$report" | grep -c '^W: ' || true)
    [ -z "$report" ] || printf '%s\n' "$report"
    echo "make-deb: lintian on ${#built[@]} packages: $errors errors, $warnings warnings ($((SECONDS - start)) s)"
    [ "$status" -eq 0 ] || { echo "make-deb: lintian found errors" >&2; exit 1; }
  fi
fi
