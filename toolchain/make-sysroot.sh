#!/usr/bin/env bash
# Assemble a target "sysroot overlay" for cross-building libEdgeCore: Debian's own libmodbus, libgpiod and libyaml
# packages for ARCH (arm64 or armhf), downloaded with a private APT configuration (the host's dpkg and
# multiarch setup are never touched) and unpacked with dpkg-deb -x.
#
#   toolchain/make-sysroot.sh arm64|armhf [OUTDIR]
#
# Result: OUTDIR/usr/include/{modbus/,gpiod.h,yaml.h}  OUTDIR/usr/lib/<triplet>/{libmodbus,libgpiod,libyaml}.so*
# The C library itself comes from Debian's cross packages (/usr/<triplet>, libc6-dev-<arch>-cross).
set -euo pipefail
arch=${1:?usage: make-sysroot.sh arm64|armhf [outdir]}
case "$arch" in arm64|armhf) ;; *) echo "make-sysroot: unknown arch '$arch' (arm64 or armhf)" >&2; exit 2;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$top/.build-sysroot/$arch}
[ -f "$out/.complete" ] && { echo "$out"; exit 0; }

apt_root=$top/.build-sysroot/apt-$arch
mkdir -p "$apt_root"/{etc/sources.list.d,etc/preferences.d,state/lists/partial,cache/archives/partial,debs} "$out"
# The machine's own Debian sources (deb822 or one-line), nothing else (third-party repos are not multi-arch).
if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
  cp /etc/apt/sources.list.d/debian.sources "$apt_root/etc/sources.list.d/" 2>/dev/null ||
    cp /etc/apt/sources.list.d/*.sources "$apt_root/etc/sources.list.d/"
fi
[ -s /etc/apt/sources.list ] && grep -E '^deb .*debian' /etc/apt/sources.list > "$apt_root/etc/sources.list" || true
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
packages=(libmodbus5 libmodbus-dev libgpiod2 libgpiod-dev libyaml-0-2 libyaml-dev)
for attempt in 1 2 3; do
  (cd "$apt_root/debs" && apt-get "${apt_opts[@]}" download "${packages[@]}") && break
  [ "$attempt" -eq 3 ] && { echo "make-sysroot: cannot download ${packages[*]} for $arch" >&2; exit 1; }
  sleep $((attempt * 5))
  apt-get "${apt_opts[@]}" update || true
done
for deb in "$apt_root"/debs/*.deb; do dpkg-deb -x "$deb" "$out"; done
touch "$out/.complete"
echo "$out"
