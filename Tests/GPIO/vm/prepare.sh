#!/usr/bin/env bash
# Prepare the GPIO real-kernel rig for one guest architecture: Debian's own 6.1 kernel, an out-of-tree
# gpio-sim.ko built for it, busybox-static, glibc and both libgpiod generations for the guest.
#
#   Tests/GPIO/vm/prepare.sh amd64|arm64
#
# Everything is downloaded with a private APT configuration (the host's dpkg state is never touched; same
# technique as toolchain/make-sysroot.sh) and cached in .build-gpio-vm/ARCH/ (git-ignored via .build*/).
# A second run with .build-gpio-vm/ARCH/.complete present returns at once; delete the folder to refresh.
# GPIO_VM_CACHE=DIR puts the cache elsewhere (all three scripts honour it).
# KERNEL_VERSION=6.1.x-y pins the Debian kernel package version (default: the candidate of linux-source-6.1).
#
# Result (.build-gpio-vm/ARCH/):
#   rig.env                 KVER, ABI, ARCH, paths (sourced by run.sh and build-test.sh)
#   kernel/vmlinuz          the Debian kernel image (linux-image-ABI-ARCH-unsigned)
#   kernel/vmlinux          amd64: the same kernel unpacked from the bzImage (qemu boots it via PVH, faster)
#   kernel/modules/*.ko     configfs.ko (from the image package) and gpio-sim.ko (built here)
#   target/                 busybox-static, libc6, libmodbus5, libyaml-0-2 for ARCH, unpacked
#   gpiod1/  gpiod2/        libgpiod2 + libgpiod-dev 1.6 (bookworm) / libgpiod3 + libgpiod-dev 2.x (backports)
set -euo pipefail
arch=${1:?usage: prepare.sh amd64|arm64}
case "$arch" in
  amd64) karch=x86;   triplet=x86_64-linux-gnu ;;
  arm64) karch=arm64; triplet=aarch64-linux-gnu ;;
  *) echo "prepare: unknown arch '$arch' (amd64 or arm64)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
base=${GPIO_VM_CACHE:-$top/.build-gpio-vm}
out=$base/$arch
if [ -f "$out/.complete" ]; then echo "prepare: $arch cached in $out"; exit 0; fi
t0=$(date +%s)
log() { echo "prepare[$arch] +$(( $(date +%s) - t0 ))s: $*" >&2; }
codename=bookworm   # linux 6.1 and libgpiod 1.6 are bookworm's; libgpiod 2.x comes from bookworm-backports
host_arch=$(dpkg --print-architecture)

rm -rf "$out.tmp"
mkdir -p "$out.tmp" "$base"
work=$out.tmp
apt_root=$work/apt
mkdir -p "$apt_root"/{etc/sources.list.d,etc/preferences.d,state/lists/partial,cache/archives/partial} "$work/debs"

# --- private APT configuration: the machine's own Debian sources, plus the same with suite bookworm-backports
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$apt_root/etc/sources.list.d/"
elif ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
  cp /etc/apt/sources.list.d/*.sources "$apt_root/etc/sources.list.d/"
fi
touch "$apt_root/etc/sources.list"
[ -s /etc/apt/sources.list ] && { grep -E '^deb .*debian' /etc/apt/sources.list > "$apt_root/etc/sources.list" || true; }
# Backports: every deb822 stanza (or one-line entry) whose suites include "$codename" itself (the main
# archive, not -security/-updates), with that suite replaced by $codename-backports.
for f in "$apt_root"/etc/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  awk -v c="$codename" 'BEGIN { RS=""; ORS="\n\n" }
    { n = split($0, L, "\n"); keep = 0; s = ""
      for (i = 1; i <= n; i++) {
        if (L[i] ~ /^Suites:/) { m = split(L[i], w, /[ \t]+/); for (j = 2; j <= m; j++) if (w[j] == c) keep = 1
                                 L[i] = "Suites: " c "-backports" }
        s = s L[i] "\n" }
      if (keep) printf "%s\n", s }' "$f"
done > "$apt_root/etc/sources.list.d/backports.sources"
awk -v c="$codename" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i == c) { $i = c "-backports"; print; next } }' \
  "$apt_root/etc/sources.list" > "$apt_root/etc/sources.list.d/backports.list"
[ -s "$apt_root/etc/sources.list.d/backports.sources" ] || rm -f "$apt_root/etc/sources.list.d/backports.sources"
[ -s "$apt_root/etc/sources.list.d/backports.list" ] || rm -f "$apt_root/etc/sources.list.d/backports.list"
archs="\"$arch\";"
[ "$arch" = "$host_arch" ] || archs="$archs \"$host_arch\";"   # the kernel's build tools run on the host
cat > "$apt_root/apt.conf" <<CONF
APT::Architecture "$arch";
APT::Architectures { $archs };
Dir::Etc::SourceList "$apt_root/etc/sources.list";
Dir::Etc::SourceParts "$apt_root/etc/sources.list.d";
Dir::Etc::Preferences "$apt_root/etc/preferences";
Dir::Etc::PreferencesParts "$apt_root/etc/preferences.d";
Dir::State "$apt_root/state";
Dir::State::status "$apt_root/state/status";
Dir::Cache "$apt_root/cache";
Acquire::Languages "none";
CONF
touch "$apt_root/state/status"
export APT_CONFIG=$apt_root/apt.conf
apt_opts=(-qq -o APT::Sandbox::User=root)
log "apt-get update (private config)"
for attempt in 1 2 3; do
  apt-get "${apt_opts[@]}" update && break
  [ "$attempt" -eq 3 ] && { echo "prepare: apt-get update failed" >&2; exit 1; }
  echo "prepare: apt-get update failed (attempt $attempt), retrying" >&2
  sleep $((attempt * 5))
done
download() {  # download DIR PKG[:ARCH][=VERSION|/SUITE]...: apt-get download into DIR, retried, checked
  local dir=$1; shift
  local spec name missing
  mkdir -p "$dir"
  for attempt in 1 2 3; do
    if (cd "$dir" && apt-get "${apt_opts[@]}" download "$@"); then
      missing=
      for spec in "$@"; do
        name=${spec%%[:=/]*}
        compgen -G "$dir/${name}_*.deb" >/dev/null || missing="$missing $name"
      done
      [ -z "$missing" ] && return 0
      echo "prepare: apt-get download left out$missing (attempt $attempt)" >&2
    fi
    sleep $((attempt * 5))
  done
  echo "prepare: cannot download $* for $arch" >&2; exit 1
}

# --- which kernel: the version of linux-source-6.1, and the ABI whose headers/image carry that version
kver=${KERNEL_VERSION:-$(apt-cache policy linux-source-6.1 | awk '/Candidate:/ { print $2 }')}
if [ -z "$kver" ] || [ "$kver" = "(none)" ]; then echo "prepare: no linux-source-6.1 in the Debian sources" >&2; exit 1; fi
abi=$(apt-cache show "linux-headers-$arch=$kver" 2>/dev/null |
      sed -n "s/^Depends:.*linux-headers-\(6\.1\.0-[0-9]*\)-$arch .*/\1/p" | head -n1)
if [ -z "$abi" ]; then  # no meta package of that version: look for the ABI package that has it
  for p in $(apt-cache pkgnames "linux-headers-6.1.0-" | grep -E "^linux-headers-6\.1\.0-[0-9]+-$arch\$" | sort -V -r); do
    if apt-cache show "$p=$kver" >/dev/null 2>&1; then abi=${p#linux-headers-}; abi=${abi%-"$arch"}; break; fi
  done
fi
[ -n "$abi" ] || { echo "prepare: no linux-headers-6.1.0-*-$arch of version $kver" >&2; exit 1; }
krel=$abi-$arch
log "kernel $kver, ABI $abi ($krel)"

# --- linux-source-6.1: only the three files gpio-sim needs, shared by both arches
src=$base/src/linux-source-$kver
exec 9>"$base/src.lock"
flock 9
if [ ! -f "$src/.complete" ]; then
  log "downloading linux-source-6.1=$kver (~140 MB)"
  rm -rf "$src" "$base/src/deb"
  download "$base/src/deb" "linux-source-6.1=$kver"
  mkdir -p "$src"
  # tar stops reading once it has all three (--occurrence), which breaks the pipe: judge by the files.
  (set +o pipefail
   dpkg-deb --fsys-tarfile "$base"/src/deb/linux-source-6.1_*.deb 2>/dev/null |
     tar -xOf - ./usr/src/linux-source-6.1.tar.xz 2>/dev/null |
     tar -xJf - -C "$src" --strip-components=1 --occurrence=1 \
       linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h \
       linux-source-6.1/kernel/irq/irq_sim.c) || true
  for f in drivers/gpio/gpio-sim.c drivers/gpio/gpiolib.h kernel/irq/irq_sim.c; do
    [ -s "$src/$f" ] || { echo "prepare: $f missing from linux-source-6.1=$kver" >&2; exit 1; }
  done
  rm -rf "$base/src/deb"
  touch "$src/.complete"
fi
flock -u 9

# --- target packages
log "downloading kernel image, headers, busybox, libc, libgpiod for $arch"
download "$work/debs/kernel" "linux-image-$krel-unsigned=$kver" "linux-headers-$krel=$kver" \
  "linux-headers-$abi-common=$kver" "linux-kbuild-6.1:$host_arch=$kver"
download "$work/debs/target" busybox-static libc6 libmodbus5 libyaml-0-2
download "$work/debs/gpiod1" libgpiod2 libgpiod-dev
download "$work/debs/gpiod2" "libgpiod3/$codename-backports" "libgpiod-dev/$codename-backports"

log "unpacking"
mkdir -p "$work/kernel/modules" "$work/headers" "$work/target" "$work/gpiod1" "$work/gpiod2"
# The image: vmlinuz, config and the modules the guest needs (no full 400 MB unpack).
dpkg-deb --fsys-tarfile "$work"/debs/kernel/linux-image-"$krel"-unsigned_*.deb |
  tar -xf - -C "$work/headers" --wildcards "./boot/vmlinuz-$krel" "./boot/config-$krel" \
    "./lib/modules/$krel/kernel/fs/configfs/configfs.ko*"
mv "$work/headers/boot/vmlinuz-$krel" "$work/kernel/vmlinuz"
mv "$work/headers/boot/config-$krel" "$work/kernel/config"
if [ "$arch" = amd64 ]; then
  # The bzImage spends ~3.5 s of TCG time decompressing itself; qemu boots the bare ELF vmlinux through
  # its PVH entry (CONFIG_PVH=y) in a fraction of that. run.sh prefers kernel/vmlinux when present.
  python3 - "$work/kernel/vmlinuz" "$work/kernel/vmlinux" <<'PY' || rm -f "$work/kernel/vmlinux"
import lzma, sys
data = open(sys.argv[1], 'rb').read()
at = data.find(b'\xfd7zXZ\x00')
elf = lzma.LZMADecompressor().decompress(data[at:]) if at >= 0 else b''
if elf[:4] != b'\x7fELF':
    sys.exit('prepare: no xz-compressed ELF vmlinux in the bzImage; run.sh will boot the bzImage')
open(sys.argv[2], 'wb').write(elf)
PY
fi
for m in "$work/headers/lib/modules/$krel/kernel/fs/configfs/"configfs.ko*; do
  case "$m" in
    *.ko) cp "$m" "$work/kernel/modules/configfs.ko" ;;
    *.ko.xz) xz -dc "$m" > "$work/kernel/modules/configfs.ko" ;;
    *.ko.zst) zstd -qdc "$m" > "$work/kernel/modules/configfs.ko" ;;
  esac
done
rm -rf "$work/headers/boot" "$work/headers/lib"
for deb in "$work"/debs/kernel/linux-headers-*.deb "$work"/debs/kernel/linux-kbuild-*.deb; do
  dpkg-deb -x "$deb" "$work/headers"
done
for deb in "$work"/debs/target/*.deb; do dpkg-deb -x "$deb" "$work/target"; done
for g in gpiod1 gpiod2; do for deb in "$work/debs/$g"/*.deb; do dpkg-deb -x "$deb" "$work/$g"; done; done

# --- gpio-sim.ko (with irq_sim built into the same module: Debian's kernels have no CONFIG_IRQ_SIM)
kdir=$work/headers/usr/src/linux-headers-$krel
# The arch folder's Makefile includes the common one by its absolute /usr/src path: point it here.
sed -i "s#/usr/src/linux-headers-$abi-common#$work/headers/usr/src/linux-headers-$abi-common#" "$kdir/Makefile"
if grep -q '^CONFIG_IRQ_SIM=y' "$kdir/.config"; then
  echo "prepare: $krel has CONFIG_IRQ_SIM=y: its irq_sim symbols would clash with ours" >&2; exit 1
fi
mb=$work/build/gpio-sim
mkdir -p "$mb"
cp "$src/drivers/gpio/gpio-sim.c" "$mb/gpio-sim-main.c"
cp "$src/drivers/gpio/gpiolib.h" "$mb/gpiolib.h"
# irq_to_desc() is not exported to modules; generic_handle_irq() is, and does the same here.
sed 's/handle_simple_irq(irq_to_desc(irqnum))/generic_handle_irq(irqnum)/' "$src/kernel/irq/irq_sim.c" > "$mb/irq_sim.c"
grep -q 'generic_handle_irq(irqnum)' "$mb/irq_sim.c" || { echo "prepare: irq_sim.c patch did not apply" >&2; exit 1; }
cat > "$mb/Kbuild" <<'KBUILD'
obj-m := gpio-sim.o
gpio-sim-y := gpio-sim-main.o irq_sim.o
KBUILD
cross=()
if [ "$arch" != "$host_arch" ]; then cross=(CROSS_COMPILE="$triplet-"); fi
log "building gpio-sim.ko against $krel"
make -s -C "$kdir" ARCH="$karch" "${cross[@]}" M="$mb" -j"$(nproc)" modules > "$work/build/gpio-sim.log" 2>&1 ||
  { cat "$work/build/gpio-sim.log" >&2; echo "prepare: gpio-sim.ko build failed" >&2; exit 1; }
if grep -E 'undefined!|ERROR' "$work/build/gpio-sim.log" >&2; then
  echo "prepare: gpio-sim.ko has unresolved symbols" >&2; exit 1
fi
cp "$mb/gpio-sim.ko" "$work/kernel/modules/gpio-sim.ko"
# Hand-built modules are unsigned: the kernel only taints itself (CONFIG_MODULE_SIG_FORCE is off).
grep -q '^CONFIG_MODULE_SIG_FORCE=y' "$kdir/.config" && { echo "prepare: $krel forces module signatures" >&2; exit 1; }

vermagic=$(modinfo -F vermagic "$work/kernel/modules/gpio-sim.ko")
[ "${vermagic%% *}" = "$krel" ] ||
  { echo "prepare: gpio-sim.ko vermagic does not match $krel" >&2; exit 1; }
gpiod1_version=$(dpkg-deb -f "$work"/debs/gpiod1/libgpiod2_*.deb Version)
gpiod2_version=$(dpkg-deb -f "$work"/debs/gpiod2/libgpiod3_*.deb Version)
rm -rf "$work/debs" "$work/apt"   # all unpacked; the lists and .debs are 100+ MB
cat > "$work/rig.env" <<ENV
RIG_ARCH=$arch
RIG_TRIPLET=$triplet
RIG_KVER=$kver
RIG_ABI=$abi
RIG_KREL=$krel
RIG_GPIOD1_VERSION=$gpiod1_version
RIG_GPIOD2_VERSION=$gpiod2_version
ENV
rm -rf "$out"
mv "$work" "$out"
# the Makefile edit above names the temporary folder: point it at the final one
sed -i "s#$work/#$out/#" "$out/headers/usr/src/linux-headers-$krel/Makefile"
touch "$out/.complete"
log "done: $out ($(du -sh "$out" | cut -f1))"
