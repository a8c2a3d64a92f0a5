"""The engine against hostile meters (Tests/Peers/hostile_meter_peer.py): DL/T 645-2007 and CJ/T 188, on an RTU bus
(a socat pty pair, 9600 8E1) and on a transparent TCP bus, the engine configured from a site file.

Each case of test_hostile_meter runs the hostile meter with a healthy meter of the same protocol on the same line
(the peer serves both) and asserts: the process survives; the hostile meter's readings have exactly the
statuses its mode calls for (docs/meters.md, "Statuses") and keep coming; a poll cycle takes no longer than the
hostile meter's response timeout allows (a cut-off frame, a trickle or a flood cannot hold the line longer); the
healthy meter's readings stay OK (the line goes on) unless the serial server closes the connection; stop
returns in bounded time; no file descriptor is left open after the engine is destroyed; memory stays flat.
Modes with more to check: ok / two_replies (the value), abnormal (each error byte or status word is its
reading's detail, in order), more_follows (exactly MAX_FOLLOW_UPS follow-ups per read, then CRC_ERROR).
Further tests: every DL/T 645 error byte 0..255 and 256 CJ/T 188 status words as EXCEPTION details in order;
200 replies with one byte changed never become a value; late replies and second replies that land in the
request gap are discarded, never taken for the next transaction's; a Modbus slave (libmodbus) on the same
RS-485 line as a hostile meter keeps its readings; and the peer's modes themselves on the wire (no engine).
A DL/T 645 meter that announces more frames forever, each reply just inside the timeout, cannot hold stop
beyond about one response timeout.
"""
from __future__ import annotations

import errno
import sys
import time
from pathlib import Path

import pytest

from edgecore import Status
from harness import PEERS_DIR, MeterLine, PeerProcess, open_fd_count, stats_dict
from meter_frames import address_bytes, bcd_encode, cjt_decode, cjt_request, dlt_decode, dlt_read

TIMEOUT_MS = 200
INTERVAL_MS = 100
WARM_UP_S = 0.5
WINDOW_S = 1.2
BAUD = 9600
FAILED = {Status.TIMEOUT, Status.CRC_ERROR, Status.DISCONNECTED}

METERS = {  # protocol -> (hostile address, healthy address, site protocol, item read, its value)
    "dlt645": ("123456789012", "000000000042", "dlt645-2007", "combined_active_energy_total", 123456.78),
    "cjt188": ("00000012345678", "00000000000042", "cjt188", "current_flow", 1234.56),
}
HEALTHY_ITEM = {"dlt645": ("voltage_a", 220.1), "cjt188": ("current_flow", 1234.56)}

#: mode -> (statuses the hostile meter's readings may have after the first, statuses that must appear)
BOTH = {
    "ok": ({Status.OK}, {Status.OK}),
    "random": ({Status.TIMEOUT, Status.CRC_ERROR}, set()),
    "bad_checksum": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
    "bad_end": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
    "wrong_address": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
    "wrong_identifier": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
    "not_a_reply": ({Status.TIMEOUT}, {Status.TIMEOUT}),  # not a reply: skipped like the line's echo
    "abnormal": ({Status.EXCEPTION}, {Status.EXCEPTION}),
    "sentinel": ({Status.SENTINEL}, {Status.SENTINEL}),
    "non_bcd": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
    "long_length": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),  # a frame cut off: damaged, not silence
    "two_replies": ({Status.OK}, {Status.OK}),
    # the scanner skips noise (stray 0x68s and all) and finds the reply behind it
    "noise_reply": ({Status.OK}, {Status.OK}),
    # one byte changed: the checksum (or the frame's start) gives it away, never a value
    "mutate": ({Status.CRC_ERROR, Status.TIMEOUT}, {Status.CRC_ERROR}),
    "garbage": (FAILED, set()),
    "trickle": ({Status.TIMEOUT, Status.CRC_ERROR}, {Status.TIMEOUT}),
    "echo": ({Status.TIMEOUT}, {Status.TIMEOUT}),
    "silent": ({Status.TIMEOUT}, {Status.TIMEOUT}),
    "close_mid": (FAILED, {Status.DISCONNECTED}),
    "accept_close": ({Status.DISCONNECTED}, {Status.DISCONNECTED}),
}
DLT645_ONLY = {
    "length_over": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
    "more_follows": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
    "truncated_continuation": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
}
CJT188_ONLY = {
    "wrong_ser": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
    "wrong_meter_type": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
    "wrong_data_length": ({Status.CRC_ERROR}, {Status.CRC_ERROR}),
}
MODES = {"dlt645": {**BOTH, **DLT645_ONLY}, "cjt188": {**BOTH, **CJT188_ONLY}}
LATE_MODES = {"late", "second_late", "slow_follows"}  # test_late_replies_are_discarded, test_stop_during_...
TCP_ONLY = {"close_mid", "accept_close"}
#: modes that take the line down for every meter (the serial server closes the connection)
LINE_DOWN = {"close_mid", "accept_close"}
#: follow-up frames the engine reads before it gives up on a DL/T 645 value (MeterExchange.maxFollowUps)
MAX_FOLLOW_UPS = 15
#: the longest a poll cycle (the hostile meter's transaction, the healthy meter's, scheduling) may take: the
#: hostile meter may hold the line for its response timeout, not longer
CYCLE_MAX_MS = max(INTERVAL_MS, TIMEOUT_MS) + 100
CASES = [pytest.param(p, t, m, id=f"{p}-{t}-{m}")
         for p in MODES for t in ("tcp", "rtu") for m in MODES[p] if t == "tcp" or m not in TCP_ONLY]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def site_yaml(path: Path, protocol: str, where: dict, hostile_channels: list[str], healthy: bool = True,
              modbus_unit: int | None = None, interval_ms: int = INTERVAL_MS, timeout_ms: int = TIMEOUT_MS,
              request_gap_ms: int = 0) -> Path:
    """A site file: one bus (rtu at 9600 8E1, or tcp with transparent framing), the hostile meter with
    `hostile_channels` (items), the healthy meter, a Modbus slave `modbus_unit` (holding register 0)."""
    hostile, healthy_address, site_protocol, _, _ = METERS[protocol]
    if "tcp" in where:
        bus = (f"    type: tcp\n    host: 127.0.0.1\n    port: {where['tcp']}\n    framing: transparent\n"
               f"    connect_timeout_ms: 500\n    reconnect_min_ms: 100\n    reconnect_max_ms: 1000\n")
    else:
        bus = (f"    type: rtu\n    device: {where['rtu']}\n    baud: {BAUD}\n    parity: E\n"
               f"    reopen_min_ms: 50\n    reopen_max_ms: 200\n")
    bus += f"    request_gap_ms: {request_gap_ms}\n"
    common = f"        response_timeout_ms: {timeout_ms}\n        retries: 0\n        offline_after: 100000\n"

    def meter(name: str, address: str, items: list[str]) -> str:
        text = (f"      - name: {name}\n        protocol: {site_protocol}\n        meter_address: \"{address}\"\n"
                + common + "        channels:\n")
        for item in items:
            text += f"          - {{name: {name}.{item}, item: {item}, interval_ms: {interval_ms}}}\n"
        return text

    text = "buses:\n  - name: line\n" + bus + "    devices:\n" + meter("hostile", hostile, hostile_channels)
    if healthy:
        text += meter("healthy", healthy_address, [HEALTHY_ITEM[protocol][0]])
    if modbus_unit is not None:
        text += (f"      - name: plc\n        unit_id: {modbus_unit}\n" + common + "        channels:\n"
                 f"          - {{name: plc.u16, function: holding, address: 0, type: u16, interval_ms: {interval_ms}}}\n")
    path.write_text(text)
    return path


def hostile_meter_peer(tmp_path, protocol: str, mode: str, tcp: int | None = None, rtu: str | None = None,
                       healthy: bool = True, options=()) -> PeerProcess:
    hostile, healthy_address, _, _, _ = METERS[protocol]
    argv = [sys.executable, str(PEERS_DIR / "hostile_meter_peer.py"), "--protocol", protocol, "--mode", mode,
            "--address", hostile, "--seed", "7", "--verbose"]
    if healthy:
        argv += ["--healthy", healthy_address]
    argv += ["--tcp", str(tcp)] if tcp is not None else ["--rtu", rtu]
    argv += [str(o) for o in options]
    return PeerProcess(f"hostile-meter-{protocol}-{mode}", argv, tmp_path, tcp=tcp, rtu=rtu).start()


def peer_requests(peer: PeerProcess) -> list[tuple[str, int, int, int, str]]:
    """(address, C, DI, SEQ, outcome) of each request the peer logged (--verbose), in order."""
    out = []
    for line in peer.stderr_text().splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[0] == "hostile_meter_peer:" and parts[1] == "request":
            out.append((parts[2], int(parts[3][2:], 16), int(parts[4][3:], 16), int(parts[5][4:]),
                        " ".join(parts[7:])))
    return out


@pytest.fixture
def hostile_line(tmp_path, make_pty_pair, free_tcp_port):
    peers: list[PeerProcess] = []

    def start(protocol: str, transport: str, mode: str, healthy: bool = True, options=()):
        if transport == "tcp":
            port = free_tcp_port()
            peers.append(hostile_meter_peer(tmp_path, protocol, mode, tcp=port, healthy=healthy, options=options))
            return peers[-1], {"tcp": port}
        pair = make_pty_pair("tty")
        peers.append(hostile_meter_peer(tmp_path, protocol, mode, rtu=pair.b, healthy=healthy, options=options))
        return peers[-1], {"rtu": pair.a}

    yield start
    for peer in peers:
        peer.stop()


def run_engine(engine, warm_up_s: float = WARM_UP_S, window_s: float = WINDOW_S):
    """Start, collect (warm-up, then the window), stop. (the readings before the stop, those of the window,
    stop seconds, RSS growth over the window, the readings published after the stop began)."""
    engine.start()
    # small drains: the test's own buffers (128 KiB per default drain) would swamp the engine's memory
    warm = engine.collect(warm_up_s, max_count=64)
    rss_warm = rss_bytes()
    window = engine.collect(window_s, max_count=64)
    rss_end = rss_bytes()
    started = time.monotonic()
    engine.stop()
    stop_s = time.monotonic() - started
    return warm + window, window, stop_s, rss_end - rss_warm, engine.drain()


def least_readings(window_s: float, timeout_ms: int, meters: int = 1) -> float:
    """Readings a channel gets at least in window_s when each poll of `meters` meters of the line may take a
    response timeout (plus scheduling slack) before it ends."""
    return window_s * 1000 / (meters * timeout_ms + 150) - 1


@pytest.mark.parametrize("protocol,transport,mode", CASES)
def test_hostile_meter(protocol, transport, mode, hostile_line, edgecore_engine, tmp_path):
    peer, where = hostile_line(protocol, transport, mode)
    allowed, required = MODES[protocol][mode]
    _, _, _, item, value = METERS[protocol]
    healthy_item, healthy_value = HEALTHY_ITEM[protocol]
    site = site_yaml(tmp_path / "site.yaml", protocol, where, [item])
    fds_before = open_fd_count()
    engine = edgecore_engine()
    engine.load_yaml(site)
    bus, hostile, healthy = engine.find_bus("line"), engine.find_device("hostile"), engine.find_device("healthy")
    channel, healthy_channel = engine.find_channel(f"hostile.{item}"), engine.find_channel(f"healthy.{healthy_item}")

    readings, window, stop_s, rss_growth, after_stop = run_engine(engine)
    hostile_stats, healthy_stats, bus_stats = engine.device_stats(hostile), engine.device_stats(healthy), \
        engine.bus_stats(bus)
    engine.close()
    fds_after = open_fd_count()

    mine = [r for r in readings if r.channel == channel]
    theirs = [r for r in readings if r.channel == healthy_channel]
    seen = {Status(r.status) for r in mine[1:]}
    healthy_seen = [Status(r.status).name for r in theirs[1:]]
    mine_window = sum(1 for r in window if r.channel == channel)
    theirs_window = sum(1 for r in window if r.channel == healthy_channel)
    requests = peer_requests(peer)
    stamps = [r.timestamp_ns for r in mine]
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    cycle_ms = gaps[len(gaps) // 2] / 1e6 if gaps else 0.0  # the median gap between the hostile meter's readings
    figures = (f"{protocol}-{transport}-{mode}: hostile {mine_window} readings in {WINDOW_S} s, cycle {cycle_ms:.0f} ms, statuses "
               f"{sorted(s.name for s in seen)}, details {sorted({r.status_detail for r in mine})[:8]}; healthy "
               f"{theirs_window} readings, statuses {sorted(set(healthy_seen))}; stop {stop_s:.2f} s; bus "
               f"transactions {bus_stats.transactions}, opens {bus_stats.opens}, losses {bus_stats.losses}, "
               f"last_error {bus_stats.last_error}; peer requests {len(requests)}; rss +{rss_growth >> 10} KiB")
    print(figures)
    assert {r.channel for r in readings} <= {channel, healthy_channel}, figures
    # readings keep coming for both meters, each poll bounded by its response timeout
    assert mine_window >= least_readings(WINDOW_S, TIMEOUT_MS) <= theirs_window, figures
    # ... and a partial frame, a trickle or a flood holds the line no longer than the response timeout
    assert cycle_ms <= CYCLE_MAX_MS, figures
    assert seen <= allowed and required <= seen, figures
    # a read the stop cuts short (between DL/T 645 follow-up frames) is published as TIMEOUT
    assert {Status(r.status) for r in after_stop if r.channel == channel} <= allowed | {Status.TIMEOUT}, figures
    assert stop_s < TIMEOUT_MS / 1000 + 0.7, figures
    assert fds_after == fds_before, figures
    assert rss_growth < 4 << 20, figures
    assert -4095 <= bus_stats.last_error <= 0, figures

    # the line goes on: the healthy meter answers whatever the hostile one does, unless the line is down
    if mode in LINE_DOWN:
        # the serial server closes the connection: every meter of the line is DISCONNECTED until it is back
        # (close_mid: after each reconnect the hostile meter happens to be polled first and closes it again)
        assert set(healthy_seen) <= {"DISCONNECTED", "OK"} and "DISCONNECTED" in healthy_seen, figures
        assert bus_stats.opens + bus_stats.open_failures <= 8, figures  # reconnects back off (100 ms .. 1 s)
        assert bus_stats.last_error in (-errno.ECONNRESET, -errno.EPIPE, 0), figures
    else:
        assert set(healthy_seen) == {"OK"}, figures
        assert all(r.value == pytest.approx(healthy_value) for r in theirs[1:]), figures
        assert healthy_stats.exceptions == 0, stats_dict(healthy_stats)

    if mode in ("ok", "two_replies", "noise_reply"):
        assert all(r.value == pytest.approx(value) for r in mine), figures
    if mode == "abnormal":
        # each request's error byte / status word is its reading's detail, in the order sent
        details = [r.status_detail for r in mine]
        expected = [n % 256 if protocol == "dlt645" else (255 - n % 256) << 8 | n % 256 for n in range(len(details))]
        assert details == expected, (figures, details[:20])
        assert hostile_stats.exceptions == hostile_stats.requests >= len(details), stats_dict(hostile_stats)
        assert bus_stats.losses == 0, figures
    if mode in ("ok", "abnormal", "sentinel", "two_replies", "wrong_address", "bad_checksum"):
        # one request per poll (retries 0), nothing else on the line for the hostile meter
        hostile_address = METERS[protocol][0]
        mine_requests = [r for r in requests if r[0] == hostile_address]
        published = len(mine) + sum(1 for r in after_stop if r.channel == channel)
        assert published <= len(mine_requests) <= published + 1, (figures, mine_requests[-3:])
    if mode == "more_follows":
        # a continuation that never ends: the engine stops following after a bounded number of follow-ups
        runs, run = [], 0
        for address, control, _, _, _ in requests:
            if address != METERS[protocol][0]:
                continue
            if control == 0x12:
                run += 1
            else:
                runs.append(run)
                run = 0
        runs.append(run)
        print(f"{protocol}-{transport}-more_follows: follow-ups per read {runs}")
        # every read but the one cut by stop follows up exactly MAX_FOLLOW_UPS times, then gives up
        assert len(runs) >= 3 and runs[0] == 0 and set(runs[1:-1]) == {MAX_FOLLOW_UPS} and runs[-1] <= MAX_FOLLOW_UPS, runs


# --------------------------------------------------------------------------------------------------------------
# Every error byte / status word
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["dlt645", "cjt188"])
def test_every_abnormal_reply_is_its_detail(protocol, hostile_line, edgecore_engine, tmp_path):
    """DL/T 645: error bytes 0..255 (bit 7 and the reserved bits included) as EXCEPTION details, each for the
    request it answered; CJ/T 188: 256 status words in a row. Eight DL/T 645 channels give eight requests per
    poll; the CJ/T 188 meter is polled every 5 ms."""
    peer, where = hostile_line(protocol, "tcp", "abnormal", healthy=False)
    if protocol == "dlt645":
        items = ["combined_active_energy_total", "forward_active_energy_total", "reverse_active_energy_total",
                 "forward_active_energy_t1", "forward_active_energy_t2", "forward_active_energy_t3",
                 "forward_active_energy_t4", "combined_reactive1_energy_total"]
        interval = 20
    else:
        items, interval = ["current_flow"], 5
    site = site_yaml(tmp_path / "site.yaml", protocol, where, items, healthy=False, interval_ms=interval)
    engine = edgecore_engine()
    engine.load_yaml(site)
    channels = {engine.find_channel(f"hostile.{item}") for item in items}
    engine.start()
    readings = engine.collect_until(lambda rs: len(rs) >= 300, timeout=20.0)
    engine.stop()
    readings += engine.drain()
    engine.close()
    assert {r.channel for r in readings} == channels
    assert {r.status for r in readings} == {Status.EXCEPTION}
    details = [r.status_detail for r in readings]  # in the order published
    expected = [n % 256 if protocol == "dlt645" else (255 - n % 256) << 8 | n % 256 for n in range(len(details))]
    assert details == expected, details[:40]
    assert len(set(details)) == 256
    assert len(peer_requests(peer)) in (len(details), len(details) + 1)


@pytest.mark.parametrize("protocol", ["dlt645", "cjt188"])
def test_mutated_replies_never_pass(protocol, hostile_line, edgecore_engine, tmp_path):
    """200 replies, each with one byte changed at a random place to a random other value: none may become a
    reading with a value (OK, SENTINEL, EXCEPTION); a changed start byte or meter type is silence, the rest
    a damaged frame."""
    peer, where = hostile_line(protocol, "tcp", "mutate", healthy=False)
    item = METERS[protocol][3]
    site = site_yaml(tmp_path / "site.yaml", protocol, where, [item], healthy=False, interval_ms=5, timeout_ms=30)
    engine = edgecore_engine()
    engine.load_yaml(site)
    engine.start()
    readings = engine.collect_until(lambda rs: len(rs) >= 200, timeout=30.0)
    engine.stop()
    engine.close()
    counts = {Status(s).name: sum(1 for r in readings if r.status == s) for s in {r.status for r in readings}}
    print(f"{protocol}-mutate: {len(readings)} readings {counts}, peer requests {len(peer_requests(peer))}")
    assert set(counts) <= {"CRC_ERROR", "TIMEOUT"} and counts.get("CRC_ERROR", 0) > len(readings) // 2, counts


LATE_CASES = [(p, t, m) for p in ("dlt645", "cjt188") for t in ("tcp", "rtu") for m in ("late", "second_late")]


@pytest.mark.parametrize("protocol,transport,mode", LATE_CASES, ids=[f"{p}-{t}-{m}" for p, t, m in LATE_CASES])
def test_late_replies_are_discarded(protocol, transport, mode, hostile_line, edgecore_engine, tmp_path):
    """Replies that come when no one asked: `late` (each reply 250 ms after its request, the response timeout
    is 200 ms) and `second_late` (the reply, and 20 ms later a second one from another meter) land in the
    bus's 100 ms request gap. The engine discards them before the next request, so none is taken for the next
    transaction's reply: the hostile meter's readings are TIMEOUT (late; never a stale OK) or OK
    (second_late), the healthy meter's stay OK."""
    late_ms = 250 if mode == "late" else 20
    peer, where = hostile_line(protocol, transport, mode, options=["--late-ms", late_ms])
    item = METERS[protocol][3]
    healthy_item, healthy_value = HEALTHY_ITEM[protocol]
    site = site_yaml(tmp_path / "site.yaml", protocol, where, [item], request_gap_ms=100)
    engine = edgecore_engine()
    engine.load_yaml(site)
    channel, healthy_channel = engine.find_channel(f"hostile.{item}"), engine.find_channel(f"healthy.{healthy_item}")
    readings, _, _, _, _ = run_engine(engine, window_s=1.5)
    engine.close()
    mine = [Status(r.status).name for r in readings if r.channel == channel]
    theirs = [r for r in readings if r.channel == healthy_channel]
    figures = (f"{protocol}-{transport}-{mode}: hostile {mine}, healthy {[Status(r.status).name for r in theirs]}, "
               f"peer requests {len(peer_requests(peer))}")
    print(figures)
    assert len(mine) >= 4 and len(theirs) >= 4, figures
    assert set(mine) == ({"TIMEOUT"} if mode == "late" else {"OK"}), figures
    assert {r.status for r in theirs} == {Status.OK} and all(r.value == pytest.approx(healthy_value) for r in theirs), figures


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
def test_stop_during_endless_slow_continuation(transport, hostile_line, edgecore_engine, tmp_path):
    """A DL/T 645 meter that announces more frames forever and answers each request 180 ms after it (the response
    timeout is 200 ms): one read is 16 exchanges, about 3 s. edgecore_engine_stop promises to block "at most
    about one response timeout"; stopped 1 s into such a read, it must return within that (+ 0.7 s slack)."""
    peer, where = hostile_line("dlt645", transport, "slow_follows", healthy=False, options=["--late-ms", 180])
    site = site_yaml(tmp_path / "site.yaml", "dlt645", where, [METERS["dlt645"][3]], healthy=False)
    engine = edgecore_engine()
    engine.load_yaml(site)
    engine.start()
    time.sleep(1.0)
    started = time.monotonic()
    engine.stop()
    stop_s = time.monotonic() - started
    readings = engine.drain()
    engine.close()
    requests = peer_requests(peer)
    figures = (f"dlt645-{transport}-slow_follows: stop {stop_s:.2f} s, readings {[Status(r.status).name for r in readings]},"
               f" requests {[hex(r[1]) for r in requests]}")
    print(figures)
    assert len(requests) >= 4, figures  # the read was under way, following up
    assert stop_s < TIMEOUT_MS / 1000 + 0.7, figures


# --------------------------------------------------------------------------------------------------------------
# A Modbus slave on the line of a hostile meter
# --------------------------------------------------------------------------------------------------------------

LINE_MODES = ["silent", "garbage", "trickle", "two_replies"]
LINE_CASES = [(p, m) for p in ("dlt645", "cjt188") for m in LINE_MODES]


@pytest.mark.parametrize("protocol,mode", LINE_CASES, ids=[f"{p}-{m}" for p, m in LINE_CASES])
def test_modbus_slave_beside_hostile_meter(protocol, mode, shared_line, libmodbus_server, edgecore_engine,
                                           tmp_path):
    """One RS-485 line (rs485_line.py) at 9600 8E1: the engine, a hostile meter, a libmodbus slave (unit 1,
    holding register 0 = 0x1234). The slave's readings stay OK and come at the pace the meter's timeouts
    allow; after a garbage flood they come back. A trickling meter's bytes land in the slave's answer windows
    too (as on a real line): RTU has no way to skip them, the slave's readings may fail, and come back."""
    master, meter_device, modbus_device = shared_line(3)
    hostile, _, _, item, _ = METERS[protocol]
    peer = hostile_meter_peer(tmp_path, protocol, mode, rtu=meter_device, healthy=False)
    try:
        map_file = tmp_path / "modbus.txt"
        map_file.write_text("1 holding 0 0x1234\n")
        libmodbus_server(rtu=modbus_device, map=str(map_file), baud=BAUD, parity="E")
        site = site_yaml(tmp_path / "site.yaml", protocol, {"rtu": master}, [item], healthy=False, modbus_unit=1)
        fds_before = open_fd_count()
        engine = edgecore_engine()
        engine.load_yaml(site)
        plc, meter = engine.find_channel("plc.u16"), engine.find_channel(f"hostile.{item}")
        readings, window, stop_s, _, _ = run_engine(engine)
        engine.close()
        assert open_fd_count() == fds_before
    finally:
        peer.stop()
    slave = [r for r in readings if r.channel == plc]
    statuses = [Status(r.status).name for r in slave]
    figures = (f"{protocol}-{mode}: slave {sum(1 for r in window if r.channel == plc)} readings in {WINDOW_S} s, "
               f"statuses {sorted(set(statuses))}; meter statuses "
               f"{sorted({Status(r.status).name for r in readings if r.channel == meter})}; stop {stop_s:.2f} s")
    print(figures)
    meters = 2 if mode == "trickle" else 1
    assert sum(1 for r in window if r.channel == plc) >= least_readings(WINDOW_S, TIMEOUT_MS, meters), figures
    assert stop_s < TIMEOUT_MS / 1000 + 0.7, figures
    if mode == "garbage":
        assert statuses[-1] == "OK", figures
    elif mode == "trickle":
        assert set(statuses) <= {"OK", "TIMEOUT", "CRC_ERROR"} and "OK" in statuses, figures
    else:
        assert set(statuses) == {"OK"} and all(r.value == 0x1234 for r in slave), figures


# --------------------------------------------------------------------------------------------------------------
# The peer itself: each mode's bytes on the wire, read with meter_frames.py (no engine)
# --------------------------------------------------------------------------------------------------------------

def dlt_frames_of(raw: bytes):
    return dlt_decode(raw)[0]


def cjt_frames_of(raw: bytes):
    return cjt_decode(raw)[0]


@pytest.mark.parametrize("protocol", ["dlt645", "cjt188"])
def test_peer_modes_on_the_wire(protocol, hostile_line):
    """What each mode sends for a read of the hostile meter (and that the healthy meter answers right beside it),
    checked with frames decoded by meter_frames.py, independent of the engine."""
    hostile, healthy, _, _, _ = METERS[protocol]
    dlt = protocol == "dlt645"
    size = 6 if dlt else 7
    a, h = address_bytes(hostile, size), address_bytes(healthy, size)
    other = address_bytes(hostile[:-1] + str((int(hostile[-1]) + 5) % 10), size)

    def request(ser: int, address: bytes = a) -> bytes:
        return dlt_read(address, 0, preamble=4) if dlt else cjt_request(0x10, address, 0x01, 0x901F, ser, preamble=4)

    decode = dlt_frames_of if dlt else cjt_frames_of

    def count(raw: bytes) -> int:
        return len(decode(raw))

    good_data = (bytes(4) + bcd_encode(123456.78, 4, 2)) if dlt else None
    for mode in MODES[protocol]:
        if mode in ("trickle", "garbage", "accept_close", "silent"):
            continue
        peer, where = hostile_line(protocol, "tcp", mode)
        replies = []
        for ser in (5, 6):
            with MeterLine(where) as line:  # a connection each: close_mid closes it
                replies.append(line.exchange(request(ser), 1, count, timeout=0.15))
                if ser == 5 and mode != "close_mid":
                    healthy_reply = decode(line.exchange(request(9, h), 1, count, timeout=0.15))
        if mode == "close_mid":
            with MeterLine(where) as line:
                healthy_reply = decode(line.exchange(request(9, h), 1, count, timeout=0.15))
        frames = [decode(raw) for raw in replies]
        what = f"{protocol} {mode}: {[raw.hex(' ') for raw in replies]}"
        assert len(healthy_reply) == 1 and healthy_reply[0].address == h and healthy_reply[0].control in (0x91, 0x81), what
        if mode in ("ok", "two_replies", "wrong_address", "sentinel", "non_bcd", "wrong_identifier", "wrong_ser",
                    "wrong_meter_type", "wrong_data_length", "not_a_reply", "abnormal", "more_follows",
                    "truncated_continuation", "echo", "length_over"):
            assert all(len(f) == (2 if mode == "two_replies" else 1) for f in frames), what
        if mode in ("bad_checksum", "bad_end", "long_length", "random", "close_mid"):
            assert frames == [[], []], what
        first = frames[0][0] if frames[0] else None
        if mode == "ok":
            assert first.address == a and (first.data == good_data if dlt else first.ser == 5), what
        elif mode == "two_replies":
            assert [f.address for f in frames[0]] == [a, other], what
        elif mode == "wrong_address":
            assert first.address == other, what
        elif mode == "not_a_reply":
            assert first.control in (0x11, 0x01), what
        elif mode == "echo":
            assert replies[0] == request(5).lstrip(b"\xFE"), what  # the frame, without its preamble
        elif mode == "abnormal":
            assert [f[0].data[-1 if dlt else 1] for f in frames] == [0, 1] and first.control in (0xD1, 0xC1), what
        elif mode == "sentinel":
            assert (first.data[4:] if dlt else first.payload[:4]) == b"\xFF" * 4, what
        elif mode == "non_bcd":
            assert (first.data[4] if dlt else first.payload[0]) == 0x3A, what
        elif mode == "wrong_identifier":
            assert (first.di == 0x00010000) if dlt else (first.di == 0x902F), what
        elif mode == "wrong_ser":
            assert [f[0].ser for f in frames] == [6, 7], what
        elif mode == "wrong_meter_type":
            assert first.meter_type == 0x30, what
        elif mode == "wrong_data_length":
            assert [len(f[0].payload) for f in frames] == [18, 20], what
        elif mode == "length_over":
            assert len(first.data) == 255, what
        elif mode in ("more_follows", "truncated_continuation"):
            assert first.control == 0xB1, what
        elif mode in ("long_length", "close_mid"):
            assert replies[0].startswith(b"\xFE\xFE\x68"), what
        peer.stop()
