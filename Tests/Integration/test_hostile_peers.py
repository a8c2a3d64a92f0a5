"""The engine against hostile Modbus peers (Tests/Peers/hostile_peer.py), on TCP and on RTU (a socat pty pair).

Every mode asserts that the process survives, readings keep coming with the statuses that mode can give,
stop returns in bounded time, no file descriptor is left open after the engine is destroyed, and memory
stays flat (RSS after warm-up vs at the end). Some modes check more: the trickle peer cannot hold a
transaction beyond its response timeout, exception answers (code 0 and > 11 too) are exceptions on a
connection that stays up, a peer that accepts and closes is reconnected to with back-off.
"""
from __future__ import annotations

import errno
import sys
import time

import pytest

from edgecore import Status
from harness import PEERS_DIR, PeerProcess, add_bus, open_fd_count, stats_dict

TIMEOUT_MS = 300
INTERVAL_MS = 50
WARM_UP_S = 0.8
WINDOW_S = 1.2
FAILED = {Status.TIMEOUT, Status.CRC_ERROR, Status.DISCONNECTED}

#: mode -> statuses its readings may have (after the first reading), and those that must appear
MODES = {
    "ok": ({Status.OK}, {Status.OK}),
    "random": (FAILED, set()),
    "wrong_length": ({Status.CRC_ERROR, Status.DISCONNECTED, Status.TIMEOUT}, set()),
    "wrong_tid": ({Status.CRC_ERROR, Status.DISCONNECTED}, {Status.CRC_ERROR}),
    "wrong_unit": ({Status.CRC_ERROR, Status.DISCONNECTED}, {Status.CRC_ERROR}),
    "wrong_function": ({Status.CRC_ERROR, Status.DISCONNECTED}, {Status.CRC_ERROR}),
    "byte_count": ({Status.CRC_ERROR, Status.DISCONNECTED, Status.TIMEOUT}, set()),
    "exception": ({Status.EXCEPTION}, {Status.EXCEPTION}),
    "exception0": ({Status.EXCEPTION}, {Status.EXCEPTION}),
    "truncated": ({Status.TIMEOUT, Status.CRC_ERROR}, {Status.TIMEOUT}),
    "garbage": (FAILED, set()),
    "close_mid": (FAILED, set()),
    "silent": ({Status.TIMEOUT}, {Status.TIMEOUT}),
    "trickle": (FAILED, {Status.TIMEOUT}),
    "echo": (FAILED, set()),
    "accept_close": ({Status.DISCONNECTED}, {Status.DISCONNECTED}),
}
TCP_ONLY = {"wrong_tid", "accept_close", "close_mid"}  # on RTU they are other modes again
CASES = [("tcp", m) for m in MODES] + [("rtu", m) for m in MODES if m not in TCP_ONLY]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def hostile_peer(tmp_path, mode: str, tcp: int | None = None, rtu: str | None = None) -> PeerProcess:
    argv = [sys.executable, str(PEERS_DIR / "hostile_peer.py"), "--mode", mode, "--seed", "7"]
    argv += ["--tcp", str(tcp)] if tcp is not None else ["--rtu", rtu]
    return PeerProcess(f"hostile-{mode}", argv, tmp_path, tcp=tcp, rtu=rtu).start()


@pytest.fixture
def hostile_endpoint(tmp_path, make_pty_pair, free_tcp_port):
    peers: list[PeerProcess] = []

    def start(transport: str, mode: str):
        if transport == "tcp":
            port = free_tcp_port()
            peers.append(hostile_peer(tmp_path, mode, tcp=port))
            return {"tcp": port}
        pair = make_pty_pair("tty")
        peers.append(hostile_peer(tmp_path, mode, rtu=pair.b))
        return {"rtu": pair.a}

    yield start
    for peer in peers:
        peer.stop()


@pytest.mark.parametrize("transport,mode", CASES, ids=[f"{t}-{m}" for t, m in CASES])
def test_hostile_peer(transport, mode, hostile_endpoint, edgecore_engine):
    where = hostile_endpoint(transport, mode)
    allowed, required = MODES[mode]
    fds_before = open_fd_count()
    engine = edgecore_engine()
    bus = add_bus(engine, where, reconnect_min_ms=100, reconnect_max_ms=1000) if transport == "tcp" else \
        add_bus(engine, where)
    device = engine.add_device("d", bus, 1, response_timeout_ms=TIMEOUT_MS, retries=0, offline_after=100000)
    channel = engine.add_channel("d.u16", device, 0, interval_ms=INTERVAL_MS)

    engine.start()
    # small drains: the test's own buffers (128 KiB per default drain) would swamp the engine's memory
    warm = engine.collect(WARM_UP_S, max_count=64)
    rss_warm = rss_bytes()
    window = engine.collect(WINDOW_S, max_count=64)
    rss_end = rss_bytes()
    started = time.monotonic()
    engine.stop()
    stop_s = time.monotonic() - started
    readings = warm + window + engine.drain()
    device_stats, bus_stats = engine.device_stats(device), engine.bus_stats(bus)
    engine.close()
    fds_after = open_fd_count()

    seen = {Status(r.status) for r in readings[1:]}
    figures = (f"{transport}-{mode}: {len(window)} readings in {WINDOW_S} s, statuses {sorted(s.name for s in seen)}, "
               f"stop {stop_s:.2f} s, transactions {bus_stats.transactions}, opens {bus_stats.opens}, "
               f"losses {bus_stats.losses}, last_error {bus_stats.last_error}, rss +{(rss_end - rss_warm) >> 10} KiB")
    print(figures)
    assert all(r.channel == channel for r in readings)
    # readings keep coming, each poll's transaction bounded by the response timeout (plus scheduling slack)
    assert len(window) >= WINDOW_S * 1000 / (TIMEOUT_MS + 100) - 1, figures
    assert seen <= allowed and required <= seen, figures
    assert stop_s < TIMEOUT_MS / 1000 + 0.7, figures
    assert fds_after == fds_before, figures
    assert rss_end - rss_warm < 4 << 20, figures
    # last_error is 0 or a negative errno, never one of libmodbus's own numbers
    assert -4095 <= bus_stats.last_error <= 0, figures
    if mode.startswith("exception"):
        # a device's answer: the connection stays up, the code is the reading's detail
        assert bus_stats.opens == 1 and bus_stats.losses == 0, figures
        assert device_stats.exceptions == device_stats.requests, stats_dict(device_stats)
        details = {r.status_detail for r in readings}
        assert details == {0} if mode == "exception0" else len(details) >= 4, details
    if mode == "accept_close":
        # each connection that breaks before any answer backs off like a failed connect (100 ms doubling
        # to 1 s): a handful of connects, not one per poll
        assert bus_stats.opens + bus_stats.open_failures <= 8, figures
        assert bus_stats.last_error in (-errno.ECONNRESET, -errno.EPIPE, 0), figures
    if mode == "ok":
        assert all(r.value == 0x1234 for r in readings), figures
