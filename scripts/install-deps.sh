#!/usr/bin/env bash
# Install what building and testing EdgeCore needs on Debian 12 (bookworm), beyond the Swift 6.3 toolchain:
# C libraries EdgeCore wraps, ARM cross compilers and C libraries, qemu-user, benchmark peers,
# Modbus integration test tools (socat pty pairs, Debian python3 venv for pymodbus/pytest), the MQTT broker
# and client library of the gateway (mosquitto; openssl makes the TLS tests' certificates),
# the GPIO real-kernel rig (Tests/GPIO/vm: qemu system emulators, out-of-tree kernel module build, cpio),
# tshark (the sniff tests check that Wireshark decodes `edgecore sniff --pcap` as Modbus RTU; about 22 MB),
# the Debian packages' checks (lintian, file) and the manual's (man-db, groff, mandoc -Tlint).
# Idempotent: does nothing when everything is present.
set -euo pipefail
packages=(
  build-essential pkg-config make ca-certificates
  libmodbus-dev libgpiod-dev libyaml-dev
  gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross
  gcc-arm-linux-gnueabihf binutils-arm-linux-gnueabihf libc6-dev-armhf-cross
  qemu-user-static
  libboost-dev libck-dev libsqlite3-dev
  socat python3-venv python3-pip
  mosquitto mosquitto-clients libmosquitto-dev libssl-dev openssl
  qemu-system-x86 qemu-system-arm cpio xz-utils bc flex bison libelf-dev kmod
  tshark
  lintian man-db groff-base mandoc file
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "install-deps: all ${#packages[@]} packages present"; exit 0; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
# wireshark-common asks whether non-root users may capture: answer no, without a question
echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
for attempt in 1 2 3; do
  $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" && exit 0
  echo "install-deps: apt-get install failed (attempt $attempt), retrying" >&2
  sleep $((attempt * 10))
done
exit 1
