#!/usr/bin/env bash
# The gateway benchmark (benchmarks/README.md, "Gateway"; issue 11 item 4): N edgecore_gateway processes,
# each with its own 100-channel site at 1 Hz and its own journal, publish into one local mosquitto; a QoS 1
# persistent-session subscriber checks and times every reading. Measures delivered readings/s, CPU and RSS
# per gateway, latency p50/p99, in a steady window and again while the broker is stopped and restarted,
# against reference publishers (libmosquitto, no EdgeCore) in the same run. Not part of `make check`.
#
#   benchmarks/gateway_bench.sh ROOT     (make bench-gateway builds everything and runs it)
#
# Environment (defaults in brackets): GATEWAY_BENCH_GATEWAYS [50], GATEWAY_BENCH_CHANNELS [100],
# GATEWAY_BENCH_REFS [5] reference publishers, GATEWAY_BENCH_WARMUP [20] s, GATEWAY_BENCH_WINDOW [60] s
# steady window, GATEWAY_BENCH_DOWN [7] s the broker is down, GATEWAY_BENCH_AFTER [30] s measured after it
# is back, GATEWAY_BENCH_SYNC_MS [1000] the journals' sync_interval_ms, GATEWAY_BENCH_ARGS extra gateway
# options, GATEWAY_BENCH_DIR [/var/tmp] where the scratch folder goes (journals: a real disk, not tmpfs),
# GATEWAY_BENCH_KEEP=1 keeps the scratch folder, GATEWAY_BENCH_SUBSCRIBER_ARGS more subscriber options
# (GATEWAY_BENCH_SUBSCRIBER_ARGS="--inject-drop 20" checks the checker: the run must report a loss).
#
# Every process it starts is stopped by its PID (SIGTERM, SIGKILL after 3 s), also on an error or Ctrl-C;
# every wait is bounded; the gateways, subscriber and reference publishers also stop by themselves after
# 900 s. Exit status 0: every target met; 1: a target missed or a reading lost; 2: could not set up.
set -u

ROOT=${1:?usage: gateway_bench.sh ROOT}
N=${GATEWAY_BENCH_GATEWAYS:-50}
CHANNELS=${GATEWAY_BENCH_CHANNELS:-100}
REFS=${GATEWAY_BENCH_REFS:-5}
WARMUP=${GATEWAY_BENCH_WARMUP:-20}
WINDOW=${GATEWAY_BENCH_WINDOW:-60}
DOWN=${GATEWAY_BENCH_DOWN:-7}
AFTER=${GATEWAY_BENCH_AFTER:-30}
SYNC_MS=${GATEWAY_BENCH_SYNC_MS:-1000}
EXTRA=${GATEWAY_BENCH_ARGS:-}
SAFETY=900

GATEWAY=$ROOT/build/x86_64/examples/edgecore_gateway
SERVER=$ROOT/build/peers/modbus_server
BENCH=$ROOT/build/bench
RSS_TARGET_KB=5859        # 6 MB = 6,000,000 bytes (the project writes MB for 10^6 bytes) = 5859 KiB
CPU_TARGET_PCT=1.0
HZ=$(getconf CLK_TCK)

[ -d /usr/sbin ] && PATH=$PATH:/usr/sbin   # Debian's mosquitto
for f in "$GATEWAY" "$SERVER" "$BENCH/gateway_subscriber" "$BENCH/gateway_refpub" "$BENCH/gateway_journal_check"; do
    [ -x "$f" ] || { echo "gateway_bench: $f is missing (make bench-gateway builds it)" >&2; exit 2; }
done
command -v mosquitto >/dev/null || { echo "gateway_bench: mosquitto is not installed (scripts/install-deps.sh)" >&2; exit 2; }
command -v mosquitto_passwd >/dev/null || { echo "gateway_bench: mosquitto_passwd is missing" >&2; exit 2; }

DIR=$(mktemp -d "${GATEWAY_BENCH_DIR:-/var/tmp}/edgecore-gateway-bench.XXXXXX") || exit 2
PIDS=()           # every process started, stopped at exit
GW_PIDS=()
REF_PIDS=()
BROKER_PID=
SUB_PID=
SERVER_PID=

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# A PID is signalled only while it is still one of ours: every process the benchmark starts has the
# scratch folder in its command line, so a PID reused by another program after ours ended is left alone.
ours() { { tr '\0' ' ' < "/proc/$1/cmdline"; } 2>/dev/null | grep -qF "$DIR"; }
sig() { ours "$2" && kill "-$1" "$2" 2>/dev/null; }

# Stops one process: SIGTERM, then SIGKILL after 3 s; bounded.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    ours "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    sig TERM "$pid"
    for i in $(seq 30); do ours "$pid" || break; sleep 0.1; done
    sig KILL "$pid"
    wait "$pid" 2>/dev/null
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do sig TERM "$pid"; done
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [ "${GATEWAY_BENCH_KEEP:-0}" = 1 ]; then echo "scratch folder kept: $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# Two free ports on 127.0.0.1: bound to port 0 and read back.
read -r MQTT_PORT MODBUS_PORT < <(python3 - <<'EOF'
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))
EOF
)
[ -n "${MODBUS_PORT:-}" ] || { echo "gateway_bench: no free port" >&2; exit 2; }

wait_port() { # PORT: until it accepts a connection, 10 s at most
    local i
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

wait_line() { # FILE LINE: until FILE has LINE, 10 s at most
    local i
    for i in $(seq 100); do grep -qx "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# --- the broker -----------------------------------------------------------------------------------------
mkdir -p "$DIR/broker"
echo "bench-$$-$RANDOM" > "$DIR/password"
mosquitto_passwd -b -c "$DIR/passwd" bench "$(cat "$DIR/password")" || exit 2
chmod 600 "$DIR/passwd"
cat > "$DIR/mosquitto.conf" <<EOF
# gateway benchmark broker: loopback only, password required, persistence on (a SIGTERM saves the sessions)
listener $MQTT_PORT 127.0.0.1
allow_anonymous false
password_file $DIR/passwd
persistence true
persistence_location $DIR/broker/
max_queued_messages 100000
log_dest file $DIR/mosquitto.log
user $(id -un)
EOF

start_broker() {
    mosquitto -c "$DIR/mosquitto.conf" >>"$DIR/mosquitto.out" 2>&1 &
    BROKER_PID=$!
    PIDS+=("$BROKER_PID")
    wait_port "$MQTT_PORT" || { echo "gateway_bench: mosquitto does not listen on $MQTT_PORT:" >&2; tail -5 "$DIR/mosquitto.log" "$DIR/mosquitto.out" >&2; exit 2; }
}

# --- the site: one Modbus TCP server with CHANNELS input registers --------------------------------------
{
    printf '1 input 0'
    for ((c = 0; c < CHANNELS; c++)); do printf ' %d' $((2300 + c)); done
    printf '\n'
} > "$DIR/site.map"

# The channels of every site file: CHANNELS u16 input registers of unit 1, each at 1 s (the planner merges
# them into one request of CHANNELS registers).
{
    for ((c = 0; c < CHANNELS; c++)); do
        printf '          - {name: site.ch%03d, function: input, address: %d, type: u16, scale: 0.1, unit: V, interval_ms: 1000}\n' "$c" "$c"
    done
} > "$DIR/channels.yaml"

site_file() { # ID
    mkdir -p "$DIR/$1"
    {
        cat <<EOF
# gateway benchmark: a simulated $CHANNELS-channel site at 1 Hz
journal:
  path: $DIR/$1/journal
  sync_interval_ms: $SYNC_MS
  cursors: [uplink]
buses:
  - name: site
    type: tcp
    host: 127.0.0.1
    port: $MODBUS_PORT
    devices:
      - name: meter
        unit_id: 1
        channels:
EOF
        cat "$DIR/channels.yaml"
    } > "$DIR/$1/site.yaml"
}

# --- /proc sampling -------------------------------------------------------------------------------------
cpu_ticks() { # PID: utime + stime of every thread, in clock ticks (1/HZ s)
    local stat
    stat=$( { cat "/proc/$1/stat"; } 2>/dev/null) || { echo -1; return; }
    stat=${stat##*) }
    set -- $stat
    echo $(( ${12} + ${13} ))
}
cpu_ns() { # PID: nanoseconds on a CPU, summed over its threads (schedstat: exact where ticks are 10 ms)
    local f v t=0
    [ -d "/proc/$1/task" ] || { echo -1; return; }
    for f in /proc/"$1"/task/*/schedstat; do
        { read -r v _ < "$f"; } 2>/dev/null && t=$((t + v))
    done
    echo $t
}
rss_kb() { { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; } 2>/dev/null || echo -1; }
anon_kb() { { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"; } 2>/dev/null || echo -1; }
pss_kb() { { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; } 2>/dev/null || echo -1; }
now_s() { date +%s.%N; }

declare -A T0 N0
mark_cpu() { local pid; for pid in "$@"; do T0[$pid]=$(cpu_ticks "$pid"); N0[$pid]=$(cpu_ns "$pid"); done; }

# Prints one line per pid: cpu% (utime+stime) rss_kb pss_kb cpu% (schedstat) rss_anon_kb, CPU of one core
# over the time since mark_cpu.
sample() { # SECONDS PID...
    local secs=$1 pid; shift
    for pid in "$@"; do
        awk -v a="${T0[$pid]}" -v b="$(cpu_ticks "$pid")" -v na="${N0[$pid]}" -v nb="$(cpu_ns "$pid")" -v s="$secs" \
            -v hz="$HZ" -v r="$(rss_kb "$pid")" -v p="$(pss_kb "$pid")" -v an="$(anon_kb "$pid")" 'BEGIN {
            t = (a < 0 || b < 0) ? "nan" : sprintf("%.3f", (b - a) / hz / s * 100)
            n = (na < 0 || nb < 0) ? "nan" : sprintf("%.4f", (nb - na) / 1e9 / s * 100)
            print t, r, p, n, an }'
    done
}

# median and max of column COL of FILE
stat_col() { # FILE COL -> "median max"
    awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan nan"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[NR] }'
}

kv() { # LINE KEY
    local x
    for x in $1; do [ "${x%%=*}" = "$2" ] && { echo "${x#*=}"; return; }; done
    echo "?"
}

# --- start ----------------------------------------------------------------------------------------------
log "gateway benchmark: $N gateways x $CHANNELS channels at 1 Hz, journal sync_interval_ms $SYNC_MS, $REFS reference publishers"
log "scratch $DIR; mosquitto $(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version \([^ ]*\).*/\1/p') on 127.0.0.1:$MQTT_PORT; Modbus TCP on 127.0.0.1:$MODBUS_PORT"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
start_broker

"$BENCH/gateway_subscriber" --port "$MQTT_PORT" --username bench --password-file "$DIR/password" \
    --expect "$DIR/journals.txt" --timeline "$DIR/timeline.txt" --max-seconds $SAFETY ${GATEWAY_BENCH_SUBSCRIBER_ARGS:-} > "$DIR/subscriber.out" 2> "$DIR/subscriber.err" &
SUB_PID=$!
PIDS+=("$SUB_PID")
wait_line "$DIR/subscriber.out" READY || { echo "gateway_bench: the subscriber did not subscribe:" >&2; cat "$DIR/subscriber.err" >&2; exit 2; }

"$SERVER" --tcp "$MODBUS_PORT" --map "$DIR/site.map" > "$DIR/server.out" 2> "$DIR/server.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_line "$DIR/server.out" READY || { echo "gateway_bench: modbus_server did not start:" >&2; cat "$DIR/server.err" >&2; exit 2; }

IDS=()
for ((g = 1; g <= N; g++)); do
    id=$(printf 'gw-%02d' "$g")
    IDS+=("$id")
    site_file "$id"
    # shellcheck disable=SC2086
    "$GATEWAY" --host 127.0.0.1 --port "$MQTT_PORT" --id "$id" --username bench --password-file "$DIR/password" \
        --seconds $SAFETY $EXTRA "$DIR/$id/site.yaml" > "$DIR/$id/gateway.out" 2> "$DIR/$id/gateway.err" &
    GW_PIDS+=($!)
    PIDS+=($!)
    sleep 0.02
done
for ((r = 1; r <= REFS; r++)); do
    "$BENCH/gateway_refpub" --port "$MQTT_PORT" --id "ref-$r" --username bench --password-file "$DIR/password" \
        --readings "$CHANNELS" --max-seconds $SAFETY 2> "$DIR/ref-$r.err" &
    REF_PIDS+=($!)
    PIDS+=($!)
done
log "started $N gateways and $REFS reference publishers; warm-up ${WARMUP} s"
sleep "$WARMUP"

alive() { local pid n=0; for pid in "$@"; do ours "$pid" && n=$((n + 1)); done; echo $n; }
if [ "$(alive "${GW_PIDS[@]}")" -ne "$N" ]; then
    echo "gateway_bench: only $(alive "${GW_PIDS[@]}") of $N gateways are running; the first one's log:" >&2
    for ((g = 0; g < N; g++)); do
        ours "${GW_PIDS[$g]}" || { tail -5 "$DIR/${IDS[$g]}/gateway.err" >&2; break; }
    done
    exit 2
fi

measure() { # NAME SECONDS-SINCE-MARK: writes DIR/NAME.gw, DIR/NAME.ref, DIR/NAME.other
    sample "$2" "${GW_PIDS[@]}" > "$DIR/$1.gw"
    sample "$2" "${REF_PIDS[@]}" > "$DIR/$1.ref"
    sample "$2" "$BROKER_PID" "$SUB_PID" "$SERVER_PID" > "$DIR/$1.other"
}

# --- steady window --------------------------------------------------------------------------------------
sig USR1 "$SUB_PID"                          # window 1: the warm-up, not used
mark_cpu "${GW_PIDS[@]}" "${REF_PIDS[@]}" "$BROKER_PID" "$SUB_PID" "$SERVER_PID"
t0=$(now_s)
log "steady window: ${WINDOW} s"
sleep "$WINDOW"
sig USR1 "$SUB_PID"                          # window 2: steady
measure steady "$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { print b - a }')"

# --- broker restart -------------------------------------------------------------------------------------
mark_cpu "${GW_PIDS[@]}" "${REF_PIDS[@]}" "$SUB_PID" "$SERVER_PID"
t0=$(now_s)
log "broker restart: SIGTERM, down ${DOWN} s, start again, measured until ${AFTER} s after it is back"
sig USR2 "$SUB_PID"                          # outage starts
sig TERM "$BROKER_PID"
for i in $(seq 100); do ours "$BROKER_PID" || break; sleep 0.1; done
stop_pid "$BROKER_PID"
down_left=$(awk -v a="$t0" -v b="$(now_s)" -v d="$DOWN" 'BEGIN { x = d - (b - a); print (x > 0 ? x : 0) }')
sleep "$down_left"
start_broker
sig USR2 "$SUB_PID"                          # outage ends: the broker accepts connections again
mark_cpu "$BROKER_PID"
tb=$(now_s)
sleep "$AFTER"
sig USR1 "$SUB_PID"                          # window 3: the restart
measure restart "$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { print b - a }')"
broker_restart_cpu=$(sample "$(awk -v a="$tb" -v b="$(now_s)" 'BEGIN { print b - a }')" "$BROKER_PID" | cut -d' ' -f1)

# --- stop and check -------------------------------------------------------------------------------------
log "stopping the gateways (SIGTERM) and checking every journal against what arrived"
for pid in "${GW_PIDS[@]}" "${REF_PIDS[@]}"; do sig TERM "$pid"; done
exit_codes=()
for pid in "${GW_PIDS[@]}"; do
    for i in $(seq 100); do ours "$pid" || break; sleep 0.1; done
    sig KILL "$pid"
    wait "$pid"; exit_codes+=($?)
done
for pid in "${REF_PIDS[@]}"; do stop_pid "$pid"; done
bad_exits=$(printf '%s\n' "${exit_codes[@]}" | grep -cv '^0$')
sleep 2                                        # what the gateways published last reaches the subscriber
args=()
for id in "${IDS[@]}"; do args+=("$id=$DIR/$id/journal"); done
"$BENCH/gateway_journal_check" "${args[@]}" > "$DIR/journals.txt" 2> "$DIR/journals.err"
journal_status=$?
sig TERM "$SUB_PID"
for i in $(seq 100); do ours "$SUB_PID" || break; sleep 0.1; done
wait "$SUB_PID"
sub_status=$?
stop_pid "$SERVER_PID"
stop_pid "$BROKER_PID"

# --- figures --------------------------------------------------------------------------------------------
W2=$(grep '^WINDOW n=2 ' "$DIR/subscriber.out")
W3=$(grep '^WINDOW n=3 ' "$DIR/subscriber.out")
TOTAL=$(grep '^TOTAL ' "$DIR/subscriber.out")
[ -n "$W2" ] && [ -n "$W3" ] && [ -n "$TOTAL" ] || { echo "gateway_bench: the subscriber's report is incomplete:" >&2; cat "$DIR/subscriber.out" "$DIR/subscriber.err" >&2; exit 2; }

read -r cpu_med cpu_max < <(stat_col "$DIR/steady.gw" 1)
read -r rss_med rss_max < <(stat_col "$DIR/steady.gw" 2)
read -r pss_med pss_max < <(stat_col "$DIR/steady.gw" 3)
read -r rcpu_med rcpu_max < <(stat_col "$DIR/restart.gw" 1)
read -r rrss_med rrss_max < <(stat_col "$DIR/restart.gw" 2)
read -r rpss_med rpss_max < <(stat_col "$DIR/restart.gw" 3)
read -r ref_cpu_med ref_cpu_max < <(stat_col "$DIR/steady.ref" 1)
read -r ncpu_med ncpu_max < <(stat_col "$DIR/steady.gw" 4)
read -r nrcpu_med nrcpu_max < <(stat_col "$DIR/restart.gw" 4)
read -r ref_ncpu_med ref_ncpu_max < <(stat_col "$DIR/steady.ref" 4)
read -r anon_med anon_max < <(stat_col "$DIR/steady.gw" 5)
read -r ref_anon_med ref_anon_max < <(stat_col "$DIR/steady.ref" 5)
read -r ref_rss_med ref_rss_max < <(stat_col "$DIR/steady.ref" 2)
read -r ref_pss_med ref_pss_max < <(stat_col "$DIR/steady.ref" 3)
read -r broker_cpu broker_rss _ < <(sed -n 1p "$DIR/steady.other")
read -r sub_cpu sub_rss _ < <(sed -n 2p "$DIR/steady.other")
read -r server_cpu _ < <(sed -n 3p "$DIR/steady.other")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a" }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v != "nan" && v <= t) ? "met" : "MISSED" }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.2f", k * 1024 / 1e6 }'; }   # KiB -> MB (10^6 bytes)

echo
echo "Gateway benchmark, $(date -u '+%Y-%m-%d %H:%M') UTC: $N gateways x $CHANNELS channels at 1 Hz (journal sync_interval_ms $SYNC_MS${EXTRA:+, options $EXTRA}) into one mosquitto; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-48s | %-26s | %-26s\n' "" "steady (${WINDOW} s)" "broker restart (${DOWN} s down + ${AFTER} s)"
printf '%-48s | %-26s | %-26s\n' "delivered readings/s, all gateways" "$(kv "$W2" gw_rate) (configured $((N * CHANNELS)))" "$(kv "$W3" gw_rate)"
per_gw() { awk -v m="$(kv "$1" "$2")" -v s="$(kv "$1" seconds)" -v n="$N" 'BEGIN { printf "%.2f", m / s / n }'; }
printf '%-48s | %-26s | %-26s\n' "messages/s per gateway (payload bytes/s)" "$(per_gw "$W2" gw_messages) ($(per_gw "$W2" gw_bytes))" "$(per_gw "$W3" gw_messages) ($(per_gw "$W3" gw_bytes))"
printf '%-48s | %-26s | %-26s\n' "latency p50 / p99 / max (ms)" "$(kv "$W2" gw_p50_ms) / $(kv "$W2" gw_p99_ms) / $(kv "$W2" gw_max_ms)" "$(kv "$W3" gw_p50_ms) / $(kv "$W3" gw_p99_ms) / $(kv "$W3" gw_max_ms)"
printf '%-48s | %-26s | %-26s\n' "readings whose status is not ok (must be 0)" "$(kv "$W2" gw_not_ok)" "$(kv "$W3" gw_not_ok)"
printf '%-48s | %-26s | %-26s\n' "duplicates received" "$(kv "$W2" gw_dups)" "$(kv "$W3" gw_dups)"
printf '%-48s | %-26s | %-26s\n' "CPU % of one core per gateway: median / max" "$cpu_med / $cpu_max" "$rcpu_med / $rcpu_max"
printf '%-48s | %-26s | %-26s\n' "  the same from schedstat (ns): median / max" "$ncpu_med / $ncpu_max" "$nrcpu_med / $nrcpu_max"
printf '%-48s | %-26s | %-26s\n' "VmRSS MB per gateway: median / max" "$(mb "$rss_med") / $(mb "$rss_max")" "$(mb "$rrss_med") / $(mb "$rrss_max")"
printf '%-48s | %-26s | %-26s\n' "  of it RssAnon (heap, stacks) MB: median / max" "$(mb "$anon_med") / $(mb "$anon_max")" ""
printf '%-48s | %-26s | %-26s\n' "Pss MB per gateway: median / max" "$(mb "$pss_med") / $(mb "$pss_max")" "$(mb "$rpss_med") / $(mb "$rpss_max")"
echo
echo "outage: readings taken while the broker was down: $(kv "$W3" outage_readings); the last of them arrived $(kv "$W3" drained_after_up_ms) ms after the broker accepted connections again"
echo "reference (minimal libmosquitto publisher, no EdgeCore, $CHANNELS readings/s as JSON in 1 QoS 1 message/s; $REFS of them, steady window):"
echo "  CPU % median / max $ref_cpu_med / $ref_cpu_max (schedstat $ref_ncpu_med / $ref_ncpu_max); VmRSS MB $(mb "$ref_rss_med") / $(mb "$ref_rss_max") (RssAnon $(mb "$ref_anon_med")); Pss MB $(mb "$ref_pss_med") / $(mb "$ref_pss_max"); latency p50 / p99 $(kv "$W2" ref_p50_ms) / $(kv "$W2" ref_p99_ms) ms"
echo "  gateway / reference (medians): CPU $(ratio "$ncpu_med" "$ref_ncpu_med") (schedstat), VmRSS $(ratio "$rss_med" "$ref_rss_med"), Pss $(ratio "$pss_med" "$ref_pss_med")"
echo "others, steady window: mosquitto CPU $broker_cpu % RSS $(mb "$broker_rss") MB (after the restart: CPU $broker_restart_cpu %); subscriber CPU $sub_cpu % RSS $(mb "$sub_rss") MB; modbus_server CPU $server_cpu %"
echo "delivery (all $N journals against what arrived): $(kv "$TOTAL" gw_distinct) distinct readings, $(kv "$TOTAL" gw_duplicates) duplicates, $(kv "$TOTAL" gw_gaps) gaps, $(kv "$TOTAL" gw_lost) lost (acknowledged but never delivered), $(kv "$TOTAL" gw_pending) still in the journals after the stop (not acknowledged, sent at the next start), $(kv "$TOTAL" gw_order_violations) out of order, $(kv "$TOTAL" malformed) malformed messages; journals checked $(kv "$TOTAL" journals_expected) of $N; gateway exits other than 0: $bad_exits"
echo "(for comparison, quoted and not measured: Telegraf needs about 84 MB with a 10,000-metric buffer)"
echo

fail=0
lost_ok=met
[ "$(kv "$TOTAL" gw_lost)" = 0 ] && [ "$(kv "$TOTAL" gw_gaps)" = 0 ] && [ "$(kv "$TOTAL" journals_expected)" = "$N" ] \
    && [ "$journal_status" = 0 ] || lost_ok=MISSED
for v in "$(verdict "$rss_max" $RSS_TARGET_KB)" "$(verdict "$rrss_max" $RSS_TARGET_KB)" "$(verdict "$cpu_max" $CPU_TARGET_PCT)" "$lost_ok"; do
    [ "$v" = met ] || fail=1
done
echo "target: VmRSS <= 6 MB (5859 KiB) per gateway (max of $N, steady / restart): $(verdict "$rss_max" $RSS_TARGET_KB) / $(verdict "$rrss_max" $RSS_TARGET_KB) (against 6 MiB = 6144 KiB: $(verdict "$rss_max" 6144) / $(verdict "$rrss_max" 6144))"
echo "target: CPU <= 1 % of a core per gateway including MQTT (max of $N, steady): $(verdict "$cpu_max" $CPU_TARGET_PCT) (median: $(verdict "$cpu_med" $CPU_TARGET_PCT); during the restart, max: $(verdict "$rcpu_max" $CPU_TARGET_PCT))"
echo "target: no reading lost: $lost_ok"
[ "$bad_exits" = 0 ] || { echo "note: $bad_exits gateway(s) did not exit with 0 after SIGTERM: ${exit_codes[*]}"; fail=1; }
[ "$sub_status" -le 1 ] || fail=1
[ "$(kv "$W2" gw_not_ok)" = 0 ] || { echo "note: readings that are not ok in the steady window: the site was not read as planned"; fail=1; }
[ -s "$DIR/journals.err" ] && { echo "journal check:"; cat "$DIR/journals.err"; }
[ -s "$DIR/subscriber.err" ] && { echo "subscriber:"; head -5 "$DIR/subscriber.err"; }
exit $fail
