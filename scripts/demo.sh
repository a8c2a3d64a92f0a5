#!/usr/bin/env bash
# The main job end to end: a simulated greenhouse site (examples/site_simulator: an SDM630-style energy meter
# and greenhouse sensors on Modbus TCP at 127.0.0.1, an RS-485 line behind a transparent serial server with a
# DL/T 645 electricity meter and a CJ/T 188 water meter, a simulated GPIO chip with the meter's S0 output, a
# rain gauge, a tank float switch and the irrigation valve), the gateway examples/edgecore_gateway forwarding
# every journaled reading of examples/site-simulated.yaml with QoS 1 to a local mosquitto (Debian's, its own
# configuration in a temporary folder, 127.0.0.1 only, a password required, persistence on), and a
# persistent-session QoS 1 subscriber (mosquitto_sub into scripts/demo_subscriber.py) that shows one line
# per message. It sends commands (the vent fan and the irrigation on; after the outage, the water meter's
# valve closed) and shows the answers. Midway it stops the broker for 10 s (SIGTERM) and starts it again:
# the subscriber shows the backlog arriving from the journal. At the end it stops the gateway (SIGTERM) and prints the newest reading
# of every channel, the count check against the journal (readings journaled, delivered, duplicates,
# missing) and what the simulated site saw; it exits with 1 when a reading is missing.
# Installs what it needs first (Debian 12).
#
#   scripts/demo.sh [--seconds N] [--json]           the gateway demo; default 40 seconds (at least 20)
#   scripts/demo.sh --controller [--seconds N] [--json]
#                                                    the gateway demo with the greenhouse controller on it
#                                                    (--controller examples/greenhouse-rules.yaml,
#                                                    docs/greenhouse-controller.md): its decisions and alarms
#                                                    arrive as readings; the commands are manual overrides
#                                                    (zone1.override, climate.fan_override) instead of
#                                                    direct writes
#   scripts/demo.sh --watch [--seconds N] [--json]   the live view: examples/edgecore_watch samples the site,
#                                                    sets the meter's clock (DL/T 645 time sync), opens the
#                                                    irrigation valve and starts the fan, closes the water
#                                                    meter's valve halfway, shows every reading and the
#                                                    statistics; default 20 seconds
#
# For a real site: build/x86_64/examples/edgecore_watch [--json] examples/site-real.yaml (edit it first).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
usage="usage: scripts/demo.sh [--watch | --controller] [--seconds N] [--json]"
seconds=""
watch=0
controller=0
json_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] || { echo "$usage" >&2; exit 2; }; seconds=$2; shift 2 ;;
    --watch) watch=1; shift ;;
    --controller) controller=1; shift ;;
    --json) json_args+=(--json); shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then export PATH=/opt/swift/usr/bin:$PATH; fi

scripts/install-deps.sh >&2
make -s examples >&2
examples=build/x86_64/examples

# ---- --watch: the live view ----
if [ "$watch" = 1 ]; then
  seconds=${seconds:-20}
  log=$(mktemp)
  $examples/site_simulator --seconds $((seconds + 60)) >"$log" 2>&1 &
  simulator=$!
  trap 'kill "$simulator" 2>/dev/null; wait "$simulator" 2>/dev/null; rm -f "$log"' EXIT
  for _ in $(seq 50); do grep -q READY "$log" && break; sleep 0.1; done
  grep -q READY "$log" || { echo "demo: the simulator did not start:"; cat "$log"; exit 1; } >&2
  echo "demo: simulated site running (pid $simulator): $(head -1 "$log")" >&2

  $examples/edgecore_watch "${json_args[@]}" --seconds "$seconds" --stats --time-sync meter-line \
    --write greenhouse.irrigation_valve=1 --write greenhouse.vent_fan=1 \
    --write "water.valve_state=1@$((seconds / 2))" examples/site-simulated.yaml
  sleep 0.3
  echo "demo: the simulated site saw:" >&2
  sed -n '2,$p' "$log" | sed 's/^/  site: /' >&2
  exit 0
fi

# ---- the gateway demo ----
seconds=${seconds:-40}
outage=10
[ "$seconds" -ge 20 ] || { echo "demo: --seconds must be at least 20 (the broker is away for ${outage} s)" >&2; exit 2; }
gateway_id=greenhouse-demo
topics="edgecore/$gateway_id"
tmp=$(mktemp -d /tmp/edgecore-demo.XXXXXX)
simulator="" broker="" subscriber="" viewer="" gateway=""

# SIGTERM, then up to 5 s for the process to go, then SIGKILL.
stop() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$gateway"; stop "$viewer"; stop "$subscriber"; stop "$broker"; stop "$simulator"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Four free ports of 127.0.0.1 (held together while they are chosen, so they differ; closed before they
# are printed, so that they are free when the site and the broker bind them).
read -r meter_port greenhouse_port line_port broker_port < <(python3 -c '
import socket
sockets = [socket.socket() for _ in range(4)]
for s in sockets: s.bind(("127.0.0.1", 0))
ports = [s.getsockname()[1] for s in sockets]
for s in sockets: s.close()
print(*ports)')

# The site file on free ports, with its chip and a fresh journal in the temporary folder.
site="$tmp/site.yaml"
sed -e "s|port: 15020|port: $meter_port|" -e "s|port: 15021|port: $greenhouse_port|" \
    -e "s|port: 15022|port: $line_port|" \
    -e "s|/tmp/edgecore-site-gpio|$tmp/gpio|g" -e "s|/tmp/edgecore-site-journal|$tmp/journal|" \
    examples/site-simulated.yaml >"$site"

$examples/site_simulator --meter-port "$meter_port" --greenhouse-port "$greenhouse_port" \
  --meter-line-port "$line_port" --gpio-dir "$tmp/gpio" --seconds $((seconds + 60)) >"$tmp/site.log" 2>&1 &
simulator=$!
for _ in $(seq 50); do grep -q READY "$tmp/site.log" && break; sleep 0.1; done
grep -q READY "$tmp/site.log" || { echo "demo: the simulator did not start:"; cat "$tmp/site.log"; exit 1; } >&2
echo "demo: simulated site running (pid $simulator): $(head -1 "$tmp/site.log")" >&2

# The broker: a user with a password, persistence (the subscriber's session and its queued messages survive
# the restart). Started as root, mosquitto would switch to the user "mosquitto": it stays who we are.
printf 'demo-password\n' >"$tmp/password"
touch "$tmp/passwd"
chmod 600 "$tmp/passwd" "$tmp/password"
mosquitto_passwd -b "$tmp/passwd" demo demo-password
cat >"$tmp/mosquitto.conf" <<EOF
user $(id -un)
listener $broker_port 127.0.0.1
allow_anonymous false
password_file $tmp/passwd
persistence true
persistence_location $tmp/
log_dest stderr
EOF
start_broker() {
  /usr/sbin/mosquitto -c "$tmp/mosquitto.conf" >>"$tmp/broker.log" 2>&1 &
  broker=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$broker_port") 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: mosquitto did not start:" >&2; cat "$tmp/broker.log" >&2; exit 1
}
start_broker
echo "demo: mosquitto running (pid $broker) on 127.0.0.1:$broker_port, user demo with a password" >&2

# The subscriber: a persistent session (-c) with QoS 1, made before the gateway starts so that it misses
# nothing, then kept by a long-running mosquitto_sub (which reconnects after the broker's restart).
# (The clients take this loopback broker's throwaway password on the command line; the gateway reads its own
# from a file, as on a site.)
mqtt=(-h 127.0.0.1 -p "$broker_port" -u demo -P demo-password)
subscription=("${mqtt[@]}" -c -i "$gateway_id-viewer" -q 1 -t "$topics/readings" -t "$topics/response" -t "$topics/status")
mosquitto_sub "${subscription[@]}" -E
mkfifo "$tmp/messages"
python3 scripts/demo_subscriber.py "${json_args[@]}" --journal "$tmp/journal" --library build/x86_64/libEdgeCore.so \
  --stop-file "$tmp/gateway-stopped" <"$tmp/messages" &
viewer=$!
mosquitto_sub "${subscription[@]}" -F %j >"$tmp/messages" &
subscriber=$!
echo "demo: subscriber running (pid $subscriber) into its viewer (pid $viewer): $topics/readings, response and status" >&2

controller_args=()
[ "$controller" = 0 ] || controller_args=(--controller examples/greenhouse-rules.yaml)
$examples/edgecore_gateway --id "$gateway_id" --port "$broker_port" --username demo \
  --password-file "$tmp/password" --batch-age-ms 1000 --reconnect-max-ms 2000 "${controller_args[@]}" "$site" &
gateway=$!
echo "demo: gateway running (pid $gateway), id $gateway_id, journal $tmp/journal; for ${seconds} s" >&2

# The gateway subscribes to its command topic when it connects (clean session: a command sent before is not
# carried out). Its retained status says when it is online (up to 5 s).
await_online() {
  for _ in $(seq 10); do
    kill -0 "$gateway" 2>/dev/null || { echo "demo: the gateway stopped early" >&2; exit 1; }
    [ "$(mosquitto_sub "${mqtt[@]}" -t "$topics/status" -C 1 -W 1 2>/dev/null)" = online ] && return 0
    sleep 0.5
  done
}
send_command() {
  echo "demo: command to $topics/command: $1" >&2
  mosquitto_pub "${mqtt[@]}" -q 1 -t "$topics/command" -m "$1"
}
sleep 2
await_online
sleep 0.5
# The fan on, the irrigation on (the water meter's flow grows fast). With the controller: as manual overrides
# (local channels), which it obeys until their timeout; the interlocks hold meanwhile.
if [ "$controller" = 1 ]; then
  send_command '{"id":"demo-1","channel":"climate.fan_override","value":1}'
  send_command '{"id":"demo-2","channel":"zone1.override","value":1}'
else
  send_command '{"id":"demo-1","channel":"greenhouse.vent_fan","value":1}'
  send_command '{"id":"demo-2","channel":"greenhouse.irrigation_valve","value":1}'
fi

outage_at=$(( (seconds - outage) / 2 ))
sleep $((outage_at - 3))
stop "$broker"
broker=""
echo "demo: mosquitto stopped (SIGTERM) for ${outage} s; the gateway keeps journaling" >&2
sleep "$outage"
start_broker
echo "demo: mosquitto started again (pid $broker): the backlog follows" >&2
restarted=$SECONDS
# Once the gateway is back, the water meter's valve closed (CJ/T 188 valve control): its flow stops.
await_online
send_command '{"id":"demo-3","channel":"water.valve_state","value":1}'

remaining=$((seconds - outage_at - outage - (SECONDS - restarted)))
[ "$remaining" -le 0 ] || sleep "$remaining"
kill -TERM "$gateway"
status=0
wait "$gateway" || status=$?
gateway=""
echo "demo: gateway stopped (SIGTERM), exit code $status" >&2
touch "$tmp/gateway-stopped"
check=0
wait "$viewer" || check=$?
viewer=""
[ "$status" -eq 0 ] || check=1
echo "demo: the simulated site saw:" >&2
sed -n '2,$p' "$tmp/site.log" | sed 's/^/  site: /' >&2
if [ "$check" -ne 0 ]; then
  echo "demo: FAILED; the broker's log ends:" >&2
  tail -n 20 "$tmp/broker.log" | sed 's/^/  mosquitto: /' >&2
fi
exit "$check"
