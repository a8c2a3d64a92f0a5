"""Engine behaviour under faults of real peers: silent units (timeouts, retries, back-off to offline, probes),
Modbus exception answers, corrupted RTU CRCs, a TCP peer killed and restarted, a serial port unplugged and
plugged back (without file-descriptor leaks), and one dead slave among live ones on an RTU line (the live ones
keep their poll rates).

Counts are exact: the engine is stopped before its counters are compared with the readings drained.
"""
from __future__ import annotations

import errno
import threading
import time

import pytest

import edgecore
from edgecore import DeviceState, Status
from harness import add_bus, by_channel, each_has, open_fd_count, stats_dict, wait_until

TIMEOUT_MS = 100


def run_until(engine, predicate, timeout: float):
    """Start, collect until predicate(readings), stop, and return every reading (those drained after stop too)."""
    engine.start()
    readings = engine.collect_until(predicate, timeout)
    engine.stop()
    return readings + engine.drain()


def statuses(readings) -> list[int]:
    return [r.status for r in readings]


def count_of(channel: int, status: int | None = None):
    def predicate(readings):
        return [r for r in readings if r.channel == channel and (status is None or r.status == status)]
    return predicate


# ------------------------------------------------------------------------------------------------------
# Silent unit: timeouts with retries, then offline
# ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["tcp", "rtu"])
def test_silent_unit_times_out_then_goes_offline(modbus_server, transport, peer_endpoint, edgecore_engine):
    peer, where, _ = peer_endpoint(modbus_server, transport, silent_units=[2])
    engine = edgecore_engine()
    bus = add_bus(engine, where)
    live = engine.add_device("live", bus, 1, response_timeout_ms=TIMEOUT_MS)
    dead = engine.add_device("dead", bus, 2, response_timeout_ms=TIMEOUT_MS, retries=1, offline_after=3,
                             backoff_min_ms=60000, backoff_max_ms=60000)  # no probe within the test
    live_ch = engine.add_channel("live.u16", live, 0, interval_ms=50)
    dead_ch = engine.add_channel("dead.u16", dead, 0, interval_ms=50)

    readings = run_until(engine, lambda rs: len(count_of(dead_ch)(rs)) >= 12, timeout=10)
    per = by_channel(readings)
    dead_rs = per[dead_ch]
    n = len(dead_rs)
    assert statuses(dead_rs) == [Status.TIMEOUT] * 3 + [Status.OFFLINE] * (n - 3)
    assert all(r.value == 0.0 and r.status_detail == 0 for r in dead_rs)
    assert [r.sequence for r in dead_rs] == list(range(n))
    s = engine.device_stats(dead)
    # 3 failed polls x (1 attempt + 1 retry), every one a timeout; each later poll skipped
    assert (s.requests, s.timeouts, s.retries, s.responses, s.skipped_offline) == (6, 6, 3, 0, n - 3), stats_dict(s)
    assert (s.frame_errors, s.exceptions, s.disconnects) == (0, 0, 0)
    assert s.state == DeviceState.OFFLINE and s.consecutive_failures == 3
    assert s.last_error == edgecore.E_DEVICE_TIMEOUT and s.last_ok_ns == 0 and s.last_failure_ns > 0
    assert s.latency_total_us == 0 and list(s.latency_histogram) == [0] * 8
    # the live unit on the same bus is not disturbed
    assert statuses(per[live_ch]) == [Status.OK] * len(per[live_ch]) and per[live_ch][0].value == 0x1234
    ls = engine.device_stats(live)
    assert ls.requests == ls.responses == len(per[live_ch]) and ls.timeouts == 0
    assert ls.state == DeviceState.ONLINE
    assert sum(ls.latency_histogram) == ls.responses


def test_offline_device_is_probed_and_recovers(libmodbus_server, free_tcp_port, edgecore_engine):
    """An offline device is probed once per back-off (one attempt, no retry); when the unit answers again,
    the probe succeeds and the device is online with values."""
    port = free_tcp_port()
    silent = libmodbus_server(tcp=port, silent_units=[1])
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, {"tcp": port}), 1, response_timeout_ms=TIMEOUT_MS, retries=1,
                               offline_after=2, backoff_min_ms=300, backoff_max_ms=300)
    ch = engine.add_channel("d.u16", device, 0, interval_ms=50)
    engine.start()
    # two failed polls, then OFFLINE readings with a probe (a TIMEOUT reading) every 300 ms
    readings = engine.collect_until(lambda rs: len(count_of(ch, Status.TIMEOUT)(rs)) >= 5, timeout=10)
    engine.stop()
    readings += engine.drain()
    st = statuses(readings)
    assert st[:2] == [Status.TIMEOUT] * 2 and st[2] == Status.OFFLINE
    assert set(st) == {Status.TIMEOUT, Status.OFFLINE}
    probes = st.count(Status.TIMEOUT) - 2
    assert probes >= 3
    for a, b in zip(st[2:], st[3:]):  # probes are separated by back-off (OFFLINE readings in between)
        assert not (a == b == Status.TIMEOUT)
    s = engine.device_stats(device)
    assert (s.requests, s.timeouts, s.retries) == (2 * 2 + probes, 2 * 2 + probes, 2), stats_dict(s)
    assert s.skipped_offline == st.count(Status.OFFLINE)
    assert s.state == DeviceState.OFFLINE and s.consecutive_failures == 2 + probes

    # the unit answers again: the next probe brings the device back
    silent.stop()
    libmodbus_server(tcp=port)
    engine.start()
    readings = engine.collect_until(lambda rs: len(count_of(ch, Status.OK)(rs)) >= 5, timeout=10)
    st = statuses(readings)
    first_ok = st.index(Status.OK)
    assert set(st[:first_ok]) <= {Status.OFFLINE, Status.DISCONNECTED, Status.TIMEOUT}
    assert st[first_ok:] == [Status.OK] * (len(st) - first_ok)
    assert all(r.value == 0x1234 for r in readings[first_ok:])
    s = engine.device_stats(device)
    assert s.state == DeviceState.ONLINE and s.consecutive_failures == 0 and s.last_ok_ns > 0


@pytest.mark.parametrize("how", ["stop", "destroy"])
def test_stop_ends_within_one_response_timeout(how, libmodbus_server, free_tcp_port, edgecore_engine):
    """edgecore_engine_stop / _destroy block at most about one response timeout, even while a poll (and, for
    stop, a write from another thread) to a silent unit is in its retries: 4 attempts of 400 ms each here."""

    port = free_tcp_port()
    libmodbus_server(tcp=port, silent_units=[2])
    engine = edgecore_engine()
    bus = add_bus(engine, {"tcp": port})
    device = engine.add_device("silent", bus, 2, response_timeout_ms=400, retries=3)
    engine.add_channel("polled", device, 0, interval_ms=50)
    writable = engine.add_channel("w", device, 1, writable=1, interval_ms=3_600_000)
    engine.start()
    time.sleep(0.1)  # the first poll is in its first attempt
    results = []
    writer = None
    if how == "stop":  # (destroy must not race a call in another thread: no writer then)
        writer = threading.Thread(target=lambda: results.append(edgecore.lib.edgecore_engine_write(
            engine.handle, writable, 1.0, 10000)))
        writer.start()
        time.sleep(0.1)
    t0 = time.monotonic()
    engine.stop() if how == "stop" else engine.close()
    elapsed = time.monotonic() - t0
    assert elapsed < 0.4 + 0.25, elapsed
    if writer is not None:
        writer.join(timeout=5)
        assert not writer.is_alive()
        # queued behind the poll: it ends unsent (engine stopped) or, if it got its turn, unanswered
        assert results[0] in (edgecore.E_NOT_RUNNING, edgecore.E_DEVICE_TIMEOUT), results
        readings = engine.drain()
        assert [r.status for r in readings] == [Status.TIMEOUT] * len(readings) and 1 <= len(readings) <= 2


# ------------------------------------------------------------------------------------------------------
# Exception answers
# ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["tcp", "rtu"])
def test_exception_answers(modbus_server, transport, peer_endpoint, edgecore_engine):
    peer, where, _ = peer_endpoint(modbus_server, transport, exceptions=["holding:4:4", "1:input:0:11"])
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, where), 1, response_timeout_ms=500, retries=2,
                               offline_after=2)
    good = engine.add_channel("good", device, 0, interval_ms=50)                         # holding 0..0
    refused = engine.add_channel("refused", device, 4, interval_ms=40)                   # holding 4: code 4
    gateway = engine.add_channel("gateway", device, 0, function="input", interval_ms=40)  # input 0: code 11
    readings = run_until(engine, lambda rs: len(count_of(refused)(rs)) >= 8 and len(count_of(gateway)(rs)) >= 8,
                         timeout=10)
    per = by_channel(readings)
    assert [(r.status, r.status_detail, r.value) for r in per[refused]] == [(Status.EXCEPTION, 4, 0.0)] * \
        len(per[refused])
    assert [(r.status, r.status_detail, r.value) for r in per[gateway]] == [(Status.EXCEPTION, 11, 0.0)] * \
        len(per[gateway])
    assert [(r.status, r.value) for r in per[good]] == [(Status.OK, 0x1234)] * len(per[good])
    s = engine.device_stats(device)
    failures = len(per[refused]) + len(per[gateway])
    # an exception is an answer: no retry, no offline (far more than offline_after in a row)
    assert (s.exceptions, s.retries, s.timeouts, s.skipped_offline) == (failures, 0, 0, 0), stats_dict(s)
    assert s.requests == s.responses + s.exceptions == len(readings)
    assert s.state == DeviceState.ONLINE and s.consecutive_failures == 0
    assert s.last_error == edgecore.E_DEVICE_EXCEPTION and s.last_exception in (4, 11)


# ------------------------------------------------------------------------------------------------------
# Corrupted CRC on RTU
# ------------------------------------------------------------------------------------------------------

def test_bad_crc_without_retries(libmodbus_server, peer_endpoint, edgecore_engine):
    peer, where, _ = peer_endpoint(libmodbus_server, "rtu", bad_crc_every=3)
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, where), 1, response_timeout_ms=500, retries=0,
                               offline_after=2)
    engine.add_channel("d.u16", device, 0, interval_ms=20)
    readings = run_until(engine, lambda rs: len(rs) >= 15, timeout=10)
    n = len(readings)
    assert [(r.status, r.value) for r in readings] == \
        [(Status.CRC_ERROR, 0.0) if i % 3 == 2 else (Status.OK, 0x1234) for i in range(n)]
    s = engine.device_stats(device)
    assert (s.requests, s.responses, s.frame_errors, s.retries, s.timeouts) == (n, n - n // 3, n // 3, 0, 0), \
        stats_dict(s)
    assert s.skipped_offline == 0  # one bad frame in a row never reaches offline_after=2
    assert peer.stop() == 0
    assert f"requests={n} replies={n} " in peer.stderr_text() and f"corrupted_crcs={n // 3} " in peer.stderr_text()


def test_bad_crc_is_retried(libmodbus_server, peer_endpoint, edgecore_engine):
    peer, where, _ = peer_endpoint(libmodbus_server, "rtu", bad_crc_every=3)
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, where), 1, response_timeout_ms=500, retries=1)
    engine.add_channel("d.u16", device, 0, interval_ms=20)
    readings = run_until(engine, lambda rs: len(rs) >= 15, timeout=10)
    n = len(readings)
    assert [(r.status, r.value) for r in readings] == [(Status.OK, 0x1234)] * n  # every bad frame retried
    s = engine.device_stats(device)
    # replies 3, 6, 9, ... are bad: the retries shift the count, so every poll's request number is known
    bad = 0
    sent = 0
    for _ in range(n):
        sent += 1
        if sent % 3 == 0:
            bad += 1
            sent += 1
    assert (s.requests, s.responses, s.frame_errors, s.retries) == (sent, n, bad, bad), stats_dict(s)
    assert s.state == DeviceState.ONLINE


def test_late_rtu_answers_never_reach_another_request(modbus_server, peer_endpoint, edgecore_engine):
    """A unit that answers 150 ms after each request, with a 100 ms response timeout and a 100 ms request
    gap: each late answer arrives in the gap. RTU answers carry no request id, so if it stayed in the
    input buffer, the next request of the same size would take it (another channel's value, status OK)."""
    peer, where, _ = peer_endpoint(modbus_server, "rtu", delay_ms=150)
    engine = edgecore_engine()
    bus = add_bus(engine, where, request_gap_ms=100)
    device = engine.add_device("late", bus, 1, response_timeout_ms=TIMEOUT_MS, retries=0, offline_after=1000,
                               one_channel_per_request=1)
    a = engine.add_channel("late.a", device, 0, interval_ms=400)   # 0x1234
    b = engine.add_channel("late.b", device, 4, interval_ms=400)   # 0xA1B2, the same request size
    readings = run_until(engine, each_has([a, b], 4), timeout=10)
    assert [(r.status, r.value) for r in readings] == [(Status.TIMEOUT, 0.0)] * len(readings), readings
    s = engine.device_stats(device)
    assert s.requests == s.timeouts == len(readings) and s.responses == 0, stats_dict(s)


# ------------------------------------------------------------------------------------------------------
# TCP peer killed and restarted
# ------------------------------------------------------------------------------------------------------

def test_tcp_peer_killed_and_restarted(modbus_server, peer_endpoint, edgecore_engine):
    peer, where, _ = peer_endpoint(modbus_server, "tcp")
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, where), 1, response_timeout_ms=300)
    engine.add_channel("d.u16", device, 0, interval_ms=50)
    writable = engine.add_channel("d.w", device, 300, writable=1, interval_ms=10000)
    engine.start()
    everything = engine.collect_until(lambda rs: len(rs) >= 3, timeout=5)
    everything = [r for r in everything if r.channel != writable]
    assert all(r.status == Status.OK and r.value == 0x1234 for r in everything), everything
    fds_before = open_fd_count()
    for cycle in range(2):
        old_pid = peer.pid
        peer.kill()
        down = engine.collect_until(lambda rs: len(rs) >= 6, timeout=5)
        # while nobody listens, every poll says so, and so does a write
        assert statuses(down) == [Status.DISCONNECTED] * len(down), down
        assert all(r.value == 0.0 and r.channel != writable for r in down)
        with pytest.raises(edgecore.EdgeCoreError) as e:
            engine.write(writable, 1, 2000)
        assert e.value.code == edgecore.E_DISCONNECTED
        down += engine.drain()
        peer.restart()
        assert peer.pid != old_pid
        up = engine.collect_until(lambda rs: sum(r.status == Status.OK for r in rs) >= 3 and
                                  rs[-1].status == Status.OK, timeout=10)
        first_ok = statuses(up).index(Status.OK)
        assert set(statuses(up[:first_ok])) <= {Status.DISCONNECTED}
        assert all(r.status == Status.OK and r.value == 0x1234 for r in up[first_ok:]), up
        everything += down + up
    assert open_fd_count() == fds_before  # every closed connection's socket was released
    bus = engine.bus_stats(0)  # the state is reported: one loss and one new connection per kill
    assert (bus.state, bus.opens, bus.losses) == (edgecore.BusState.CONNECTED, 3, 2), bus_dict(bus)
    assert bus.open_failures >= 2 and bus.last_error in (-errno.ECONNREFUSED, -errno.ECONNRESET)
    engine.write(writable, 7, 2000)  # and writes work again
    engine.stop()
    everything += engine.drain()
    everything = [r for r in everything if r.channel != writable]
    assert [r.sequence for r in everything] == list(range(len(everything)))  # the same engine throughout
    s = engine.device_stats(device)
    st = statuses(everything)
    assert set(st) == {Status.OK, Status.DISCONNECTED}
    # + the write channel's one poll and the last write; writes refused while down never reached the wire
    assert (s.responses, s.disconnects) == (st.count(Status.OK) + 2, st.count(Status.DISCONNECTED)), stats_dict(s)
    assert s.state == DeviceState.ONLINE and s.timeouts == 0 and s.last_error == edgecore.E_DISCONNECTED


def bus_dict(bus) -> dict:
    return {name: getattr(bus, name) for name, _ in bus._fields_}


# ------------------------------------------------------------------------------------------------------
# Serial port unplugged and plugged back
# ------------------------------------------------------------------------------------------------------

CYCLES = 3


@pytest.mark.parametrize("kind", ["libmodbus", "pymodbus"])
def test_pty_unplug_replug_without_fd_leak(kind, request, peer_endpoint, edgecore_engine):
    factory = request.getfixturevalue(f"{kind}_server")
    peer, where, pair = peer_endpoint(factory, "rtu")
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, where), 1, response_timeout_ms=200)
    engine.add_channel("d.u16", device, 0, interval_ms=50)
    writable = engine.add_channel("d.coil", device, 100, function="coil", type="bit", writable=1,
                                  interval_ms=100000)  # polled once, at the start
    engine.start()
    readings = engine.collect_until(lambda rs: len(rs) >= 4, timeout=5)
    readings = [r for r in readings if r.channel != writable]
    assert all(r.status == Status.OK and r.value == 0x1234 for r in readings)
    fds_before = open_fd_count()
    sequence = [r.sequence for r in readings]
    for cycle in range(CYCLES):
        pair.unplug()
        assert pair.links_gone()
        down = engine.collect_until(lambda rs: len(rs) >= 5, timeout=5)
        assert statuses(down) == [Status.DISCONNECTED] * len(down), down
        with pytest.raises(edgecore.EdgeCoreError) as e:
            engine.write(writable, cycle % 2, 2000)
        assert e.value.code == edgecore.E_DISCONNECTED
        pair.replug()
        peer.wait_ready(cycle + 2, timeout=5)
        up = engine.collect_until(lambda rs: sum(r.status == Status.OK for r in rs) >= 3 and
                                  rs[-1].status == Status.OK, timeout=10)
        first_ok = statuses(up).index(Status.OK)
        assert set(statuses(up[:first_ok])) <= {Status.DISCONNECTED}
        assert all(r.status == Status.OK and r.value == 0x1234 for r in up[first_ok:])
        assert all(r.channel != writable for r in down + up)
        sequence += [r.sequence for r in down + up]
    assert open_fd_count() == fds_before  # the engine closed every port it re-opened
    bus = engine.bus_stats(0)  # the state is reported: one loss and one re-open per unplug
    assert (bus.state, bus.opens, bus.losses) == (edgecore.BusState.CONNECTED, CYCLES + 1, CYCLES), bus_dict(bus)
    engine.write(writable, 1, 2000)
    engine.stop()
    sequence += [r.sequence for r in engine.drain() if r.channel != writable]
    assert sequence == list(range(len(sequence)))  # one reading per poll, none lost
    s = engine.device_stats(device)
    assert s.state == DeviceState.ONLINE and s.timeouts == 0 and s.frame_errors == 0
    assert s.disconnects == len(sequence) - s.responses + 2  # every failed poll counted once


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
def test_peer_absent_at_start(libmodbus_server, transport, free_tcp_port, make_pty_pair, edgecore_engine):
    """start does not wait for the bus: a bus that cannot connect yields DISCONNECTED readings and keeps
    trying; the values come once the peer is there."""
    if transport == "tcp":
        port = free_tcp_port()
        where, start_peer = {"tcp": port}, lambda: libmodbus_server(tcp=port)
    else:
        pair = make_pty_pair()
        pair.unplug()
        where = {"rtu": pair.a}

        def start_peer():
            pair.replug()
            return libmodbus_server(rtu=pair.b)
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, where), 1)
    engine.add_channel("d.u16", device, 0, interval_ms=50)
    t0 = time.monotonic()
    engine.start()
    assert time.monotonic() - t0 < 0.1
    down = engine.collect_until(lambda rs: len(rs) >= 4, timeout=5)
    assert statuses(down) == [Status.DISCONNECTED] * len(down)
    start_peer()
    up = engine.collect_until(lambda rs: rs and rs[-1].status == Status.OK, timeout=5)
    assert set(statuses(up[:-1])) <= {Status.DISCONNECTED} and up[-1].value == 0x1234
    assert engine.device_stats(device).state == DeviceState.ONLINE


# ------------------------------------------------------------------------------------------------------
# One dead slave among four on one RTU line
# ------------------------------------------------------------------------------------------------------

LIVE_UNITS = {1: 100, 2: 150, 3: 200}  # unit -> interval (ms)
WARM_UP_S = 1.5
WINDOW_S = 5.0


def test_dead_slave_does_not_slow_the_live_ones(libmodbus_server, peer_endpoint, edgecore_engine):
    peer, where, _ = peer_endpoint(libmodbus_server, "rtu", silent_units=[4])
    engine = edgecore_engine()
    bus = add_bus(engine, where)
    channels = {}
    devices = {}
    for unit, interval in list(LIVE_UNITS.items()) + [(4, 100)]:
        devices[unit] = engine.add_device(f"unit{unit}", bus, unit, response_timeout_ms=TIMEOUT_MS, retries=1,
                                          offline_after=2, backoff_min_ms=1000, backoff_max_ms=5000)
        channels[unit] = engine.add_channel(f"unit{unit}.u16", devices[unit], 0, interval_ms=interval)
    engine.start()
    start_ns = time.time_ns()
    readings = engine.collect(WARM_UP_S + WINDOW_S + 0.3)
    engine.stop()
    readings += engine.drain()
    per = by_channel(readings)
    window = (start_ns + int(WARM_UP_S * 1e9), start_ns + int((WARM_UP_S + WINDOW_S) * 1e9))
    expected_value = {1: 0x1234, 2: 202, 3: 303}
    report = {}
    for unit, interval in LIVE_UNITS.items():
        rs = per[channels[unit]]
        assert all(r.status == Status.OK and r.value == expected_value[unit] for r in rs), (unit, rs)
        in_window = [r for r in rs if window[0] <= r.timestamp_ns < window[1]]
        span_s = (in_window[-1].timestamp_ns - in_window[0].timestamp_ns) / 1e9
        rate = (len(in_window) - 1) / span_s  # readings per second over the window
        planned = 1000 / interval
        report[unit] = (round(rate, 3), planned)
        assert abs(rate - planned) <= 0.05 * planned, report
        assert len(in_window) >= 0.95 * WINDOW_S * planned, (unit, len(in_window))
        s = engine.device_stats(devices[unit])
        assert (s.timeouts, s.retries, s.frame_errors) == (0, 0, 0) and s.state == DeviceState.ONLINE
    dead = per[channels[4]]
    st = statuses(dead)
    assert st[:2] == [Status.TIMEOUT] * 2 and set(st[2:]) <= {Status.OFFLINE, Status.TIMEOUT}
    s = engine.device_stats(devices[4])
    probes = st.count(Status.TIMEOUT) - 2
    assert (s.requests, s.timeouts, s.retries, s.responses) == (4 + probes, 4 + probes, 2, 0), stats_dict(s)
    assert s.skipped_offline == st.count(Status.OFFLINE) and s.state == DeviceState.OFFLINE


# ------------------------------------------------------------------------------------------------------
# A serial port another process holds is not fought over
# ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["flock", "uucp"])
def test_busy_port_is_not_fought_over(how, libmodbus_server, peer_endpoint, edgecore_engine, tmp_path):
    """Another process holds the port (an exclusive flock, or a live UUCP lock file of minicom's kind): the
    engine does not use it (DISCONNECTED readings, bus last_error -EBUSY, the holder's PID in each device's
    last problem, no byte written), and takes the line once it is let go."""
    import os
    import subprocess
    peer, where, pair = peer_endpoint(libmodbus_server, "rtu")
    device_path = where["rtu"]
    lock_file = None
    if how == "flock":
        # flock(1) runs sleep with the locked descriptor: both go, as a process group, at the end.
        holder = subprocess.Popen(["flock", "--exclusive", device_path, "sleep", "30"], start_new_session=True)
        wait_until(lambda: any(f" FLOCK " in line and f" {holder.pid} " in line for line in open("/proc/locks")),
                   timeout=5, what="flock(1) holding the port")
    else:
        holder = subprocess.Popen(["sleep", "30"])
        name = os.path.basename(os.path.realpath(device_path))
        lock_file = f"/run/lock/LCK..{name}"
        if not os.path.isdir("/run/lock") or not os.access("/run/lock", os.W_OK):
            holder.kill()
            holder.wait()
            pytest.skip("/run/lock is not writable here")
        # UUCP lock files name the port's own name; ours is the pty's (where the symlink points).
        with open(lock_file, "w") as f:
            f.write(f"{holder.pid:10d}\n")
    try:
        engine = edgecore_engine()
        bus = add_bus(engine, where, reopen_min_ms=100, reopen_max_ms=100)
        device = engine.add_device("d", bus, 1, response_timeout_ms=200)
        engine.add_channel("d.u16", device, 0, interval_ms=50)
        engine.start()
        down = engine.collect_until(lambda rs: len(rs) >= 5, timeout=5)
        assert down and statuses(down) == [Status.DISCONNECTED] * len(down), down
        problem = engine.device_last_problem(device)
        assert problem.endswith(f"busy: process {holder.pid} holds it"), problem
        assert engine.bus_stats(bus).last_error == -errno.EBUSY
        assert engine.bus_stats(bus).opens == 0
        assert engine.device_stats(device).requests == 0  # nothing was sent on a line it does not own
    finally:
        os.killpg(holder.pid, 9) if how == "flock" else holder.kill()
        holder.wait()
        if lock_file:
            os.unlink(lock_file)
    up = engine.collect_until(lambda rs: any(r.status == Status.OK for r in rs), timeout=5)
    assert up[-1].status == Status.OK and up[-1].value == 0x1234
    engine.stop()
    assert engine.bus_stats(bus).opens == 1
