#!/usr/bin/env bash
# Assemble a target "sysroot overlay" for cross-building libEdgeCore: Debian's own libmodbus, libgpiod and libyaml
# packages (and libmosquitto with libssl, for the gateway example) for ARCH (arm64 or armhf), downloaded with a private APT configuration (the host's dpkg and
# multiarch setup are never touched) and unpacked with dpkg-deb -x.
#
#   toolchain/make-sysroot.sh arm64|armhf|amd64 [OUTDIR]
#   toolchain/make-sysroot.sh --gpiod2 arm64|armhf|amd64 [OUTDIR]   libgpiod 2.x (libgpiod3 + libgpiod-dev from
#                                                                   bookworm-backports) only, for GPIOD=2 builds
#
# Result: OUTDIR/usr/include/{modbus/,gpiod.h,yaml.h}  OUTDIR/usr/lib/<triplet>/{libmodbus,libgpiod,libyaml}.so*
# The C library itself comes from Debian's cross packages (/usr/<triplet>, libc6-dev-<arch>-cross).
set -euo pipefail
flavor=""
if [ "${1:-}" = "--gpiod2" ]; then flavor=-gpiod2; shift; fi
arch=${1:?usage: make-sysroot.sh [--gpiod2] arm64|armhf|amd64 [outdir]}
case "$arch" in arm64|armhf|amd64) ;; *) echo "make-sysroot: unknown arch '$arch' (arm64, armhf or amd64)" >&2; exit 2;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$top/.build-sysroot/$arch$flavor}
# libmosquitto and OpenSSL (which it links; the gateway checks its TLS files with it) for the MQTT gateway.
packages=(libmodbus5 libmodbus-dev libgpiod2 libgpiod-dev libyaml-0-2 libyaml-dev libmosquitto1 libmosquitto-dev libssl3
          libssl-dev)
[ -n "$flavor" ] && packages=(libgpiod3 libgpiod-dev/bookworm-backports)
# .complete holds the package list it was made with: a sysroot made with another list is made again.
[ -f "$out/.complete" ] && [ "$(cat "$out/.complete")" = "${packages[*]}" ] && { echo "$out"; exit 0; }
case "$out" in "$top"/.build-sysroot/*) rm -rf "$out" ;; esac

apt_root=$top/.build-sysroot/apt-$arch$flavor
mkdir -p "$apt_root"/{etc/sources.list.d,etc/preferences.d,state/lists/partial,cache/archives/partial,debs} "$out"
# The machine's own Debian sources (deb822 or one-line), nothing else (third-party repos are not multi-arch).
if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
  cp /etc/apt/sources.list.d/debian.sources "$apt_root/etc/sources.list.d/" 2>/dev/null ||
    cp /etc/apt/sources.list.d/*.sources "$apt_root/etc/sources.list.d/"
fi
[ -s /etc/apt/sources.list ] && grep -E '^deb .*debian' /etc/apt/sources.list > "$apt_root/etc/sources.list" || true
if [ -n "$flavor" ]; then
  # The same Debian mirrors, suite bookworm-backports (libgpiod 2.1.3); the security suite has no backports.
  for f in "$apt_root"/etc/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; ORS = "\n\n" } !/debian-security/' "$f" |
      sed -E 's/^Suites: .*/Suites: bookworm-backports/' > "$f.tmp" && mv "$f.tmp" "$f"
  done
  [ -s "$apt_root/etc/sources.list" ] &&
    sed -i -E '/debian-security/d; s/^(deb [^ ]+ )[a-z-]+( .*)$/\1bookworm-backports\2/' "$apt_root/etc/sources.list"
fi
cat > "$apt_root/apt.conf" <<CONF
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
Dir::Etc::SourceList "$apt_root/etc/sources.list";
Dir::Etc::SourceParts "$apt_root/etc/sources.list.d";
Dir::Etc::Preferences "$apt_root/etc/preferences";
Dir::Etc::PreferencesParts "$apt_root/etc/preferences.d";
Dir::State "$apt_root/state";
Dir::State::status "$apt_root/state/status";
Dir::Cache "$apt_root/cache";
CONF
touch "$apt_root/state/status" "$apt_root/etc/sources.list"
export APT_CONFIG=$apt_root/apt.conf
apt_opts=(-qq -o APT::Sandbox::User=root)
# A mirror in the middle of a sync can fail one suite's index; retry, and let the download below be the
# judge (it fails loudly if a package really cannot be had).
for attempt in 1 2 3; do
  apt-get "${apt_opts[@]}" update && break
  echo "make-sysroot: apt-get update failed (attempt $attempt), retrying" >&2
  sleep $((attempt * 5))
done
rm -f "$apt_root"/debs/*.deb
for attempt in 1 2 3; do
  (cd "$apt_root/debs" && apt-get "${apt_opts[@]}" download "${packages[@]}") && break
  [ "$attempt" -eq 3 ] && { echo "make-sysroot: cannot download ${packages[*]} for $arch" >&2; exit 1; }
  sleep $((attempt * 5))
  apt-get "${apt_opts[@]}" update || true
done
if [ -n "$flavor" ] && [ "$arch" != amd64 ]; then
  # A cross build needs the whole target sysroot with libgpiod 2.x in place of 1.6.
  base=$("$0" "$arch")
  cp -a "$base/." "$out/"
  rm -f "$out/.complete" "$out/usr/include/gpiod.h" "$out"/usr/lib/*/libgpiod.so* "$out"/usr/lib/*/pkgconfig/libgpiod.pc
fi
for deb in "$apt_root"/debs/*.deb; do dpkg-deb -x "$deb" "$out"; done
echo "${packages[*]}" > "$out/.complete"
echo "$out"
