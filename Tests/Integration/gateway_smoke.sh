#!/usr/bin/env bash
# The cross-built gateway end to end: build/ARCH/examples/edgecore_gateway (aarch64 or armv7, under
# qemu-user with ARCH's libEdgeCore and Debian's ARCH libmosquitto from the sysroot) forwards the simulated
# site (the host's site_simulator) through a private mosquitto (127.0.0.1, password, free port) to a
# persistent QoS 1 subscriber for 6 s; every journaled reading must arrive.
#   Tests/Integration/gateway_smoke.sh ARCH RUN-PREFIX LIBRARY-PATH
# $EDGECORE_GATEWAY, when set, is the gateway run instead of build/ARCH/examples/edgecore_gateway (the
# installed /usr/bin/edgecore-gateway of the Debian package test).
# Prints "gateway-ARCH: 1 passed, 0 failed" (or 0 passed, 1 failed), counted by scripts/test.sh.
set -uo pipefail
arch=$1 run=$2 libpath=$3
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/edgecore-gateway-smoke.XXXXXX)
chmod 777 "$work"   # mosquitto, started as root, drops to its own user
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "gateway smoke ($arch): $*"; echo "gateway-$arch: 0 passed, 1 failed"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mosquitto_passwd -b -c "$work/passwd" smoke "smoke-$$" >/dev/null 2>&1 || fail "mosquitto_passwd failed"
echo "smoke-$$" > "$work/password"
printf 'listener %s 127.0.0.1\nallow_anonymous false\npassword_file %s/passwd\n' "$port" "$work" > "$work/mosquitto.conf"
/usr/sbin/mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & pids+=($!)
# The simulated site on free ports, its journal and chip in the work folder.
meter=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
greenhouse=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
line=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$top/build/x86_64/examples/site_simulator" --meter-port "$meter" --greenhouse-port "$greenhouse" --meter-line-port "$line" \
  --gpio-dir "$work/gpio" --seconds 60 > "$work/site.log" 2>&1 & pids+=($!)
{ printf 'journal:\n  path: %s/journal\n  sync_interval_ms: 200\n\n' "$work"
  sed -e "s#/tmp/edgecore-site-gpio#$work/gpio#g" -e "s/port: 15020/port: $meter/" -e "s/port: 15021/port: $greenhouse/" \
      -e "s/port: 15022/port: $line/" -e '/^journal:/,/^$/d' "$top/examples/site-simulated.yaml"; } > "$work/site.yaml"
for _ in $(seq 50); do grep -q READY "$work/site.log" && break; sleep 0.1; done
grep -q READY "$work/site.log" || fail "the site simulator did not start: $(cat "$work/site.log")"
mosquitto_sub -p "$port" -u smoke -P "smoke-$$" -c -i "smoke-viewer-$$" -q 1 -t 'edgecore/smoke/readings' \
  > "$work/received" 2>&1 & pids+=($!)
sleep 0.5
# shellcheck disable=SC2086  # RUN-PREFIX is a command with arguments
LD_LIBRARY_PATH=$libpath timeout 120 $run "${EDGECORE_GATEWAY:-$top/build/$arch/examples/edgecore_gateway}" --port "$port" --id smoke \
  --username smoke --password-file "$work/password" --seconds 6 --stats-interval 0 "$work/site.yaml" \
  2> "$work/gateway.log"
status=$?
sleep 0.5
[ "$status" -eq 0 ] || fail "the gateway exited with $status: $(cat "$work/gateway.log")"
journaled=$(sed -nE 's/.*stopped: journaled ([0-9]+) .*/\1/p' "$work/gateway.log")
[ -n "$journaled" ] && [ "$journaled" -gt 0 ] || fail "no readings journaled: $(cat "$work/gateway.log")"
summary=$(python3 - "$work/received" "$journaled" <<'PY'
import json, sys
seen = set()
for line in open(sys.argv[1]):
    message = json.loads(line)
    assert len(message["readings"]) == message["last"] - message["first"] + 1
    seen.update(range(message["first"], message["last"] + 1))
journaled = int(sys.argv[2])
missing = sorted(set(range(1, journaled + 1)) - seen)
print(f"journaled {journaled}, delivered {len(seen)}, missing {len(missing)}")
sys.exit(1 if missing else 0)
PY
) || fail "$summary"
echo "gateway smoke ($arch): $summary"
echo "gateway-$arch: 1 passed, 0 failed"
