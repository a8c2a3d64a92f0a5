#!/usr/bin/env bash
# The main job: start a simulated greenhouse site (an SDM630-style energy meter with float32 input registers
# and greenhouse sensors with scaled integers on Modbus TCP at 127.0.0.1, and a simulated GPIO chip with
# the meter's S0 pulse output, a rain gauge, a tank float switch and the irrigation valve's relay), sample
# it live through libEdgeCore with examples/edgecore_watch, open the valve and start the vent fan with
# writes, and show every reading with its status, then the statistics of each bus, device and pulse
# counter, and what the simulated site saw of the valve (closed again when EdgeCore stops).
# Installs what it needs first (Debian 12).
#
#   scripts/demo.sh [--seconds N] [--json]          default: 20 seconds, text
#
# For a real site: build/x86_64/examples/edgecore_watch [--json] examples/site-real.yaml (edit it first).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
seconds=20
watch_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --json) watch_args+=(--json); shift ;;
    *) echo "usage: scripts/demo.sh [--seconds N] [--json]" >&2; exit 2 ;;
  esac
done
if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then export PATH=/opt/swift/usr/bin:$PATH; fi

scripts/install-deps.sh >&2
make -s examples >&2

log=$(mktemp)
build/x86_64/examples/site_simulator --seconds $((seconds + 60)) >"$log" 2>&1 &
simulator=$!
trap 'kill "$simulator" 2>/dev/null; wait "$simulator" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q READY "$log" && break; sleep 0.1; done
grep -q READY "$log" || { echo "demo: the simulator did not start:"; cat "$log"; exit 1; } >&2
echo "demo: simulated site running (pid $simulator): $(head -1 "$log")" >&2

build/x86_64/examples/edgecore_watch "${watch_args[@]}" --seconds "$seconds" --stats \
  --write greenhouse.irrigation_valve=1 --write greenhouse.vent_fan=1 examples/site-simulated.yaml
sleep 0.3
echo "demo: the simulated site saw:" >&2
sed -n '2,$p' "$log" | sed 's/^/  site: /' >&2
