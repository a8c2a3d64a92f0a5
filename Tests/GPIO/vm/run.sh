#!/usr/bin/env bash
# Boot Debian's 6.1 kernel under qemu (TCG) with gpio-sim chips and run GPIO test binaries in it.
#
#   Tests/GPIO/vm/run.sh amd64|arm64 1|2 TEST_BINARY... [-- ARGS...]
#
# The binaries are built for ARCH against libgpiod generation GPIOD (1: libgpiod 1.6, libgpiod.so.2;
# 2: libgpiod 2.x, libgpiod.so.3), e.g. with build-test.sh. Each is run in turn inside the guest with ARGS
# and the GPIOSIM_* environment (README.md); their "PASS x" / "FAIL x" lines are reported here, then
# "vm-ARCH-gpiodN: N passed, N failed". Exit status 1 on any FAIL, non-zero test exit, missing sentinel or
# timeout.
#
# Environment:
#   EXTRA_LIB_DIRS  colon-separated folders searched for the binaries' shared libraries (libEdgeCore.so...)
#                   after libgpiod of generation GPIOD and before glibc, libmodbus.so.5 and libyaml-0.so.2,
#                   which come from the ARCH .debs that prepare.sh unpacked
#   EXTRA_FILES     colon-separated files copied into the guest's /data (test fixtures)
#   EXTRA_BINARIES  colon-separated programs for the tests to run (e.g. the edgecore tool), copied into the
#                   guest's /bin (on PATH) with their shared libraries; not run as tests themselves
#   VM_TIMEOUT      seconds for the whole boot+tests (default 240); TEST_TIMEOUT per binary (default 180)
#   VM_MEM          guest memory in MiB (default 512)
#   KERNEL_APPEND   extra kernel command line
#   VERBOSE=1       print the whole guest console; VM_LOG=FILE keeps a copy of it
#   KEEP_VM_DIR=1   keep the temporary folder (initramfs.cpio, root/, console.log) for debugging
set -euo pipefail
usage="usage: run.sh amd64|arm64 1|2 TEST_BINARY... [-- ARGS...]"
arch=${1:?$usage}
gen=${2:?$usage}
shift 2
case "$arch" in amd64|arm64) ;; *) echo "run: unknown arch '$arch'" >&2; exit 2 ;; esac
case "$gen" in 1|2) ;; *) echo "run: GPIOD must be 1 or 2, not '$gen'" >&2; exit 2 ;; esac
tests=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do tests+=("$1"); shift; done
[ $# -gt 0 ] && shift   # the "--"
args=("$@")
[ ${#tests[@]} -gt 0 ] || { echo "$usage" >&2; exit 2; }
for v in "${VM_TIMEOUT:-240}" "${TEST_TIMEOUT:-180}" "${VM_MEM:-512}"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "run: VM_TIMEOUT, TEST_TIMEOUT and VM_MEM are whole numbers, not '$v'" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
rig=${GPIO_VM_CACHE:-$top/.build-gpio-vm}/$arch
[ -f "$rig/.complete" ] || "$here/prepare.sh" "$arch"
# shellcheck disable=SC1091
. "$rig/rig.env"
tag=vm-$arch-gpiod$gen
t0=$(date +%s.%N)

work=$(mktemp -d "${TMPDIR:-/tmp}/gpio-vm-$arch-$gen.XXXXXX")
qpid=
cleanup() {
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then kill "$qpid" 2>/dev/null || true; fi
  if [ "${KEEP_VM_DIR:-0}" = 1 ]; then echo "run: kept $work (initramfs.cpio, root/, console.log)" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
root=$work/root
mkdir -p "$root"/{bin,sbin,lib,dev,proc,sys,tmp,run,tests,data,etc}
ln -s lib "$root/lib64"
cp "$rig/target/bin/busybox" "$root/bin/busybox"
cp "$rig/kernel/modules/configfs.ko" "$rig/kernel/modules/gpio-sim.ko" "$root/lib/"

# --- shared libraries: the NEEDED closure of the test binaries, found in libgpiod of the chosen generation,
# EXTRA_LIB_DIRS, then the target's glibc, libmodbus5 and libyaml-0-2 .debs. All go to the guest's /lib.
# libgpiod of the generation under test always wins, so that a libgpiod in EXTRA_LIB_DIRS cannot shadow it.
libdirs=("$rig/gpiod$gen/usr/lib/$RIG_TRIPLET")
IFS=: read -r -a extra <<< "${EXTRA_LIB_DIRS:-}"
for d in "${extra[@]}"; do [ -n "$d" ] && libdirs+=("$d"); done
libdirs+=("$rig/target/lib/$RIG_TRIPLET" "$rig/target/usr/lib/$RIG_TRIPLET")
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
declare -A have=()
queue=()
names=()
for t in "${tests[@]}"; do
  [ -f "$t" ] || { echo "run: no test binary $t" >&2; exit 2; }
  n=$(basename "$t")
  [[ "$n" =~ ^[A-Za-z0-9._+-]+$ ]] || { echo "run: test binary name '$n': use letters, digits, . _ + -" >&2; exit 2; }
  [ -e "$root/tests/$n" ] && { echo "run: two test binaries named $n" >&2; exit 2; }
  machine=$(readelf -h "$t" | sed -n 's/.*Machine: *//p')
  case "$arch:$machine" in
    amd64:*X86-64*|arm64:*AArch64*) ;;
    *) echo "run: $t is for '$machine', not $arch" >&2; exit 2 ;;
  esac
  cp "$t" "$root/tests/$n"
  chmod +x "$root/tests/$n"
  names+=("$n")
  queue+=("$t")
  interp=$(readelf -l "$t" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
  if [ -n "$interp" ] && [ ! -e "$root$interp" ]; then
    src=$rig/target/lib/$RIG_TRIPLET/$(basename "$interp")
    [ -f "$src" ] || { echo "run: no program interpreter $interp in libc6 for $arch" >&2; exit 1; }
    mkdir -p "$root$(dirname "$interp")"
    cp -L "$src" "$root$interp"
  fi
done
# Programs the tests run (EXTRA_BINARIES): into the guest's /bin, their libraries with the tests' own.
IFS=: read -r -a programs <<< "${EXTRA_BINARIES:-}"
for p in "${programs[@]}"; do
  [ -n "$p" ] || continue
  [ -f "$p" ] || { echo "run: no program $p (EXTRA_BINARIES)" >&2; exit 2; }
  cp -L "$p" "$root/bin/$(basename "$p")"
  chmod +x "$root/bin/$(basename "$p")"
  queue+=("$p")
done
while [ ${#queue[@]} -gt 0 ]; do
  f=${queue[0]}
  queue=("${queue[@]:1}")
  for lib in $(needed "$f"); do
    [ -n "${have[$lib]:-}" ] && continue
    found=
    for d in "${libdirs[@]}"; do
      if [ -e "$d/$lib" ]; then found=$d/$lib; break; fi
    done
    [ -n "$found" ] || { echo "run: $lib (needed by $(basename "$f")) not found in: ${libdirs[*]}" >&2; exit 1; }
    cp -L "$found" "$root/lib/$lib"
    have[$lib]=$found
    queue+=("$found")
  done
done
if [ -n "${EXTRA_FILES:-}" ]; then
  IFS=: read -r -a files <<< "$EXTRA_FILES"
  for f in "${files[@]}"; do [ -n "$f" ] && cp -L "$f" "$root/data/"; done
fi

# --- /init: modules, gpio-sim chips through configfs, the GPIOSIM_* environment, the tests, power off
quoted_args=
[ ${#args[@]} -gt 0 ] && quoted_args=$(printf '%q ' "${args[@]}")
{
  cat <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin HOME=/tmp TMPDIR=/tmp LD_LIBRARY_PATH=/lib
export GPIOSIM_ARCH=$arch GPIOSIM_GPIOD=$gen
test_timeout=${TEST_TIMEOUT:-180}
INIT
  cat <<'INIT'
die() { echo "@@GPIOVM-SETUP-FAILED $*"; dmesg | tail -n 30; poweroff -f; sleep 5; exit 1; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# tracefs: tests read the kernel's interrupt times from it (the edges' own timestamps, README)
mount -t tracefs tracefs /sys/kernel/tracing || die "mount tracefs"
insmod /lib/configfs.ko || die "insmod configfs.ko"
mount -t configfs configfs /sys/kernel/config || die "mount configfs"
insmod /lib/gpio-sim.ko || die "insmod gpio-sim.ko"
cfg=/sys/kernel/config/gpio-sim/edgecore
mkdir "$cfg" || die "mkdir $cfg"
# bank0: 16 lines, line0 "s0-meter", line1 "valve"; bank1: 8 lines
mkdir "$cfg/bank0" "$cfg/bank1" || die "mkdir banks"
echo 16 > "$cfg/bank0/num_lines" && echo edgecore-sim0 > "$cfg/bank0/label" || die "bank0 attributes"
mkdir "$cfg/bank0/line0" "$cfg/bank0/line1" || die "mkdir lines"
echo s0-meter > "$cfg/bank0/line0/name" && echo valve > "$cfg/bank0/line1/name" || die "line names"
echo 8 > "$cfg/bank1/num_lines" && echo edgecore-sim1 > "$cfg/bank1/label" || die "bank1 attributes"
echo 1 > "$cfg/live" || die "live=1"
dev=$(cat "$cfg/dev_name")
export GPIOSIM_DEV_NAME=$dev GPIOSIM_CONFIGFS=$cfg
for b in 0 1; do
  chip=$(cat "$cfg/bank$b/chip_name")
  [ -n "$chip" ] && [ "$chip" != none ] || die "bank$b has no chip"
  i=0
  while [ ! -c "/dev/$chip" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  [ -c "/dev/$chip" ] || die "/dev/$chip missing"
  [ -d "/sys/devices/platform/$dev/$chip/sim_gpio0" ] || die "no /sys/devices/platform/$dev/$chip/sim_gpio0"
  export GPIOSIM_CHIP$b=/dev/$chip GPIOSIM_CHIP${b}_NAME=$chip GPIOSIM_SYSFS$b=/sys/devices/platform/$dev/$chip
  export GPIOSIM_LABEL$b=$(cat "$cfg/bank$b/label") GPIOSIM_NUM_LINES$b=$(cat "$cfg/bank$b/num_lines")
done
echo
echo "@@GPIOVM-READY $(uname -r) dev=$dev chip0=$GPIOSIM_CHIP0_NAME chip1=$GPIOSIM_CHIP1_NAME uptime=$(cut -d' ' -f1 /proc/uptime)"
cd /tmp
INIT
  for n in "${names[@]}"; do
    printf 'echo "@@GPIOVM-RUN %s"\n' "$n"
    printf 'timeout "$test_timeout" /tests/%s %s\n' "$n" "$quoted_args"
    printf 'echo "@@GPIOVM-EXIT %s $?"\n' "$n"
  done
  cat <<'INIT'
echo "@@GPIOVM-DMESG"
dmesg | tail -n 40
echo "@@GPIOVM-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
INIT
} > "$root/init"
chmod +x "$root/init"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$work/initramfs.cpio"

# --- boot
log=$work/console.log
kernel=$rig/kernel/vmlinuz
if [ -f "$rig/kernel/vmlinux" ]; then kernel=$rig/kernel/vmlinux; fi  # amd64: PVH boot, no TCG-time decompression
case "$arch" in
  amd64) qemu=(qemu-system-x86_64); console=ttyS0 ;;
  arm64) qemu=(qemu-system-aarch64 -M virt -cpu cortex-a53); console=ttyAMA0 ;;
esac
qemu+=(-accel tcg -smp 1 -m "${VM_MEM:-512}" -nographic -no-reboot -nic none
       -kernel "$kernel" -initrd "$work/initramfs.cpio"
       -append "console=$console quiet panic=-1 ${KERNEL_APPEND:-}")
vm_timeout=${VM_TIMEOUT:-240}
echo "run: $tag: booting $RIG_KREL with ${#names[@]} test binaries (timeout ${vm_timeout}s)"
set +e
timeout --kill-after=10 "$vm_timeout" "${qemu[@]}" < /dev/null > "$log" 2>&1 &
qpid=$!
wait "$qpid"
qrc=$?
qpid=
set -e
t1=$(date +%s.%N)
# Console to text: no CRs, no terminal escapes (SeaBIOS clears the screen on the line the guest then uses).
sed -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[()][0-9A-Z]//g' -e 's/\x1bc//g' "$log" > "$log.txt"
[ -n "${VM_LOG:-}" ] && cp "$log.txt" "$VM_LOG"
[ "${VERBOSE:-0}" = 1 ] && cat "$log.txt"

# --- report
passed=0
failed=0
problems=()
if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then problems+=("qemu timed out after ${vm_timeout}s"); fi
setup=$(grep -m1 '^@@GPIOVM-SETUP-FAILED' "$log.txt" || true)
[ -n "$setup" ] && problems+=("guest setup failed: ${setup#@@GPIOVM-SETUP-FAILED }")
ready=$(grep -m1 '^@@GPIOVM-READY' "$log.txt" || true)
[ -n "$ready" ] && echo "run: $tag: guest ${ready#@@GPIOVM-READY }"
for n in "${names[@]}"; do
  section=$(awk -v n="$n" '$0 == "@@GPIOVM-RUN " n { on = 1; next } on && /^@@GPIOVM-(EXIT|RUN|DMESG|DONE)/ { exit } on' "$log.txt")
  p=$(grep -cE '^PASS( |$)' <<< "$section" || true)
  f=$(grep -cE '^FAIL( |$)' <<< "$section" || true)
  grep -E '^(PASS|FAIL)( |$)|^  [^ ]' <<< "$section" || true  # and the figures and failed checks, indented
  passed=$((passed + p))
  failed=$((failed + f))
  exitline=$(grep -m1 "^@@GPIOVM-EXIT $n " "$log.txt" || true)
  if [ -z "$exitline" ]; then
    problems+=("$n: no exit sentinel (crashed guest or timeout)")
    [ "$f" -gt 0 ] || failed=$((failed + 1))
  else
    rc=${exitline##* }
    echo "run: $tag: $n exited $rc"
    if [ "$rc" != 0 ]; then
      why="exit status $rc"
      [ "$rc" = 143 ] && why="$why (killed after TEST_TIMEOUT=${TEST_TIMEOUT:-180}s)"
      [ "$rc" -gt 128 ] && [ "$rc" != 143 ] && why="$why (signal $((rc - 128)))"
      problems+=("$n: $why")
      [ "$f" -gt 0 ] || failed=$((failed + 1))
    elif [ "$p" -eq 0 ]; then
      problems+=("$n: exited 0 without any PASS line")
      failed=$((failed + 1))
    fi
  fi
done
grep -q '^@@GPIOVM-DONE' "$log.txt" || problems+=("no final sentinel @@GPIOVM-DONE (qemu exit $qrc)")
if [ ${#problems[@]} -gt 0 ] || [ "$failed" -gt 0 ]; then
  for p in "${problems[@]}"; do echo "run: $tag: PROBLEM: $p"; done
  if [ "${VERBOSE:-0}" != 1 ]; then
    echo "run: $tag: ---- guest console (last 150 lines) ----"
    tail -n 150 "$log.txt"
    echo "run: $tag: ---- end of guest console ----"
  fi
fi
printf 'run: %s: boot+tests %.1f s\n' "$tag" "$(echo "$t1 - $t0" | bc)"
[ "$failed" -gt 0 ] || [ ${#problems[@]} -eq 0 ] || failed=1
echo "$tag: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#problems[@]} -eq 0 ]
