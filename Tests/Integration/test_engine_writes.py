"""Writes through the C API (edgecore_engine_write, _write_registers, _write_coils) to real peers.

Every accepted write is checked twice: by an independent pymodbus client reading the peer's registers/coils,
and by the engine's own next poll of the channel. Refused writes must leave the peer unchanged.
"""
from __future__ import annotations

import threading
import time

import pytest

import edgecore
from edgecore import DeviceState, Status
from harness import add_bus, by_channel, each_has, logged_requests, modbus_client, stats_dict, wait_until
from regmap import BITS_REGISTER, COIL_BITS, encode

INTERVAL_MS = 50

#: writable holding channels on SCRATCH_HOLDING (unit 1, holding 300..315): name -> (address, type, order, fields)
HOLDING_CHANNELS = {
    "w_u16": (300, "u16", "ABCD", {}),
    "w_i32_cdab": (301, "i32", "CDAB", {}),
    "w_f32_dcba": (303, "f32", "DCBA", {}),
    "w_f64_badc": (305, "f64", "BADC", {}),
    "w_i64": (309, "i64", "ABCD", {}),
    "w_scaled_i16": (313, "i16", "ABCD", {"scale": 0.1, "offset": -10.0}),
    "w_u32_badc": (314, "u32", "BADC", {}),
}
#: (channel, engineering value written, raw value the registers must then hold)
VALUE_WRITES = [
    ("w_u16", 54321, 54321),
    ("w_i32_cdab", -123456789, -123456789),
    ("w_f32_dcba", -1.5, -1.5),
    ("w_f64_badc", 6.02214076e23, 6.02214076e23),
    ("w_i64", -1234567890123456, -1234567890123456),
    ("w_scaled_i16", 2.5, 125),         # (2.5 - -10) / 0.1 = 125
    ("w_scaled_i16", -12.34, -23),      # (-12.34 + 10) / 0.1 = -23.4 -> rounded to -23
    ("w_u32_badc", 4000000000, 4000000000),
    ("w_u16", 0, 0),
]


def read_registers(client, address: int, count: int, unit: int = 1) -> list[int]:
    r = client.read_holding_registers(address, count, slave=unit)
    assert not r.isError(), r
    return list(r.registers)


def read_coils(client, address: int, count: int, unit: int = 1) -> list[int]:
    r = client.read_coils(address, count, slave=unit)
    assert not r.isError(), r
    return [int(b) for b in r.bits[:count]]


def next_poll(engine, channel: int, after_ns: int, timeout: float = 5.0):
    """The first reading of `channel` sampled after `after_ns` (CLOCK_REALTIME)."""
    def fresh(rs):
        return [r for r in rs if r.channel == channel and r.timestamp_ns > after_ns]
    found = fresh(engine.collect_until(lambda rs: fresh(rs), timeout))
    return found[0]


@pytest.fixture
def write_site(modbus_server, peer_endpoint, edgecore_engine):
    """A running engine on a TCP peer (each implementation) with writable channels of several types, bits of
    a register, coils, and read-only channels; plus a pymodbus client on the same peer."""
    peer, where, _ = peer_endpoint(modbus_server, "tcp")
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, where), 1, response_timeout_ms=1000)
    ch = {}
    for name, (address, type_, order, fields) in HOLDING_CHANNELS.items():
        ch[name] = engine.add_channel(name, device, address, type=type_, order=order, writable=1,
                                      interval_ms=INTERVAL_MS, **fields)
    _, _, bits_address, _ = BITS_REGISTER
    ch["bit2"] = engine.add_channel("bit2", device, bits_address, type="bit", bit=2, writable=1,
                                    interval_ms=INTERVAL_MS)
    ch["bit0_badc"] = engine.add_channel("bit0_badc", device, bits_address, type="bit", bit=0, order="BADC",
                                         writable=1, interval_ms=INTERVAL_MS)
    ch["bits_register"] = engine.add_channel("bits_register", device, bits_address, interval_ms=INTERVAL_MS)
    for address in range(100, 104):
        ch[f"coil{address}"] = engine.add_channel(f"coil{address}", device, address, function="coil", type="bit",
                                                  writable=1, interval_ms=INTERVAL_MS)
    ch["coil104_ro"] = engine.add_channel("coil104_ro", device, 104, function="coil", type="bit",
                                          interval_ms=INTERVAL_MS)
    ch["ro_u16"] = engine.add_channel("ro_u16", device, 0, interval_ms=INTERVAL_MS)
    ch["ro_input"] = engine.add_channel("ro_input", device, 0, function="input", interval_ms=INTERVAL_MS)
    engine.start()
    engine.collect_until(each_has(ch.values(), 1), timeout=5)
    client = modbus_client(**where, timeout=2.0)
    yield engine, device, ch, client, peer
    client.close()


def test_write_values_of_several_types(write_site):
    engine, device, ch, client, _ = write_site
    for name, value, raw in VALUE_WRITES:
        address, type_, order, fields = HOLDING_CHANNELS[name]
        engine.write(ch[name], value, timeout_ms=3000)
        done_ns = time.time_ns()
        registers = encode(type_, raw, order)
        assert read_registers(client, address, len(registers)) == registers, name
        expected = raw * fields.get("scale", 1.0) + fields.get("offset", 0.0)
        r = next_poll(engine, ch[name], done_ns)
        assert (r.status, r.value) == (Status.OK, expected), (name, r)
    # the neighbours of the last write were not touched
    assert read_registers(client, 316 - 2, 2) == encode("u32", 4000000000, "BADC")
    s = engine.device_stats(device)
    assert s.timeouts == 0 and s.exceptions == 0 and s.state == DeviceState.ONLINE


def test_write_bits_of_a_register_and_coils(write_site):
    engine, device, ch, client, _ = write_site
    _, _, bits_address, register = BITS_REGISTER  # 0xA5C3
    assert register & 0x4 == 0 and register & 0x100
    engine.write(ch["bit2"], 1)  # read-modify-write: only bit 2 changes
    assert read_registers(client, bits_address, 1) == [register | 0x4]
    engine.write(ch["bit0_badc"], 0)  # BADC: bit 0 of the byte-swapped register, i.e. bit 8 on the wire
    assert read_registers(client, bits_address, 1) == [(register | 0x4) & ~0x100]
    done_ns = time.time_ns()
    assert next_poll(engine, ch["bits_register"], done_ns).value == (register | 0x4) & ~0x100
    assert next_poll(engine, ch["bit2"], done_ns).value == 1.0
    assert next_poll(engine, ch["bit0_badc"], done_ns).value == 0.0
    engine.write(ch["bit2"], 0)
    engine.write(ch["bit0_badc"], 7.5)  # nonzero is ON
    assert read_registers(client, bits_address, 1) == [register]

    assert read_coils(client, 100, 5) == [0, 0, 0, 0, 0]
    engine.write(ch["coil101"], 1)
    engine.write(ch["coil103"], -2.0)  # nonzero is ON
    assert read_coils(client, 100, 5) == [0, 1, 0, 1, 0]
    done_ns = time.time_ns()
    assert [next_poll(engine, ch[f"coil{a}"], done_ns).value for a in range(100, 104)] == [0.0, 1.0, 0.0, 1.0]
    engine.write(ch["coil101"], 0)
    assert read_coils(client, 100, 5) == [0, 0, 0, 1, 0]
    assert read_coils(client, 0, 16) == list(COIL_BITS)


def test_raw_writes(write_site):
    engine, device, ch, client, _ = write_site
    # registers 300..304 span w_u16, w_i32_cdab and w_f32_dcba: FC 16
    values = [0xBEEF, 0x0001, 0x0002, 0x1234, 0x5678]
    engine.write_registers(device, 300, values)
    done_ns = time.time_ns()
    assert read_registers(client, 300, 5) == values
    assert next_poll(engine, ch["w_u16"], done_ns).value == 0xBEEF
    assert next_poll(engine, ch["w_i32_cdab"], done_ns).value == 0x00020001  # CDAB: low word first
    engine.write_registers(device, 313, [0xFFFF])  # FC 6; w_scaled_i16: -1 * 0.1 - 10
    assert read_registers(client, 313, 1) == [0xFFFF]
    assert next_poll(engine, ch["w_scaled_i16"], time.time_ns()).value == -1 * 0.1 - 10.0
    engine.write_coils(device, 100, [1, 1, 0, 1])  # FC 15
    assert read_coils(client, 100, 5) == [1, 1, 0, 1, 0]
    engine.write_coils(device, 102, [5])  # FC 5, nonzero is ON
    assert read_coils(client, 100, 5) == [1, 1, 1, 1, 0]
    done_ns = time.time_ns()
    assert [next_poll(engine, ch[f"coil{a}"], done_ns).value for a in range(100, 104)] == [1.0] * 4


def test_concurrent_writers(write_site):
    """Writes from several threads at once (edgecore_engine_write is for any thread) all complete, each with
    its own result, and the last value of each channel is the one its thread wrote last."""

    engine, device, ch, client, _ = write_site
    targets = {"w_u16": 300, "w_scaled_i16": 313}
    errors = []

    def refuse(times):
        for _ in range(times):
            rc = edgecore.lib.edgecore_engine_write(engine.handle, ch["ro_u16"], 1.0, 1000)
            if rc != edgecore.E_NOT_WRITABLE:
                errors.append(rc)

    def writer(name, values):
        try:
            for v in values:
                engine.write(ch[name], v, timeout_ms=5000)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=("w_u16", range(1, 21))),
               threading.Thread(target=writer, args=("w_scaled_i16", [x * 0.5 for x in range(20)])),
               threading.Thread(target=writer, args=("coil101", [1, 0] * 10)),
               threading.Thread(target=refuse, args=(20,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads) and not errors, errors
    assert read_registers(client, targets["w_u16"], 1) == [20]
    assert read_registers(client, targets["w_scaled_i16"], 1) == [round((9.5 + 10) / 0.1)]
    assert read_coils(client, 101, 1) == [0]
    s = engine.device_stats(device)
    assert s.timeouts == 0 and s.exceptions == 0


def refused(code: int, call, *args, **kwargs) -> str:
    with pytest.raises(edgecore.EdgeCoreError) as e:
        call(*args, **kwargs)
    assert e.value.code == code, e.value
    return e.value.detail


def test_refused_writes_change_nothing(write_site):
    engine, device, ch, client, _ = write_site
    before_registers = read_registers(client, 0, 1) + read_registers(client, 300, 16)
    before_coils = read_coils(client, 100, 5)

    assert "ro_u16" in refused(edgecore.E_NOT_WRITABLE, engine.write, ch["ro_u16"], 1)
    assert "ro_input" in refused(edgecore.E_NOT_WRITABLE, engine.write, ch["ro_input"], 1)
    assert "coil104_ro" in refused(edgecore.E_NOT_WRITABLE, engine.write, ch["coil104_ro"], 1)
    assert "bits_register" in refused(edgecore.E_NOT_WRITABLE, engine.write, ch["bits_register"], 1)
    # raw writes: every address must belong to a writable channel of the device and function
    assert "address 0 " in refused(edgecore.E_NOT_WRITABLE, engine.write_registers, device, 0, [1])
    assert "address 316 " in refused(edgecore.E_NOT_WRITABLE, engine.write_registers, device, 314, [1, 2, 3])
    assert "address 299 " in refused(edgecore.E_NOT_WRITABLE, engine.write_registers, device, 299, [1, 2])
    assert "address 104 " in refused(edgecore.E_NOT_WRITABLE, engine.write_coils, device, 103, [1, 1])
    refused(edgecore.E_NOT_WRITABLE, engine.write_coils, device, 300, [1])        # a register address as coil
    refused(edgecore.E_NOT_WRITABLE, engine.write_registers, device, 100, [1])    # a coil address as register
    # values the channel's type cannot carry
    refused(edgecore.E_VALUE, engine.write, ch["w_u16"], 65536)
    refused(edgecore.E_VALUE, engine.write, ch["w_u16"], -1)
    refused(edgecore.E_VALUE, engine.write, ch["w_i32_cdab"], float("nan"))
    refused(edgecore.E_VALUE, engine.write, ch["w_f32_dcba"], 1e39)
    refused(edgecore.E_VALUE, engine.write, ch["w_scaled_i16"], 3300)  # raw 33100 > 32767
    refused(edgecore.E_INVALID_ARGUMENT, engine.write_registers, device, 300, [])
    refused(edgecore.E_INVALID_ARGUMENT, engine.write_registers, device, 300, [0] * 124)
    refused(edgecore.E_NOT_FOUND, engine.write, 999, 1)
    refused(edgecore.E_NOT_FOUND, engine.write_registers, 7, 300, [1])

    assert read_registers(client, 0, 1) + read_registers(client, 300, 16) == before_registers
    assert read_coils(client, 100, 5) == before_coils
    s = engine.device_stats(device)
    # nothing refused was sent (the peer answers exception 2 for address 316, 299 or coil 300)
    assert (s.exceptions, s.timeouts) == (0, 0) and s.requests - s.responses <= 1, stats_dict(s)


def test_write_function_codes_and_counters(libmodbus_server, peer_endpoint, edgecore_engine):
    """What goes on the wire for each kind of write (the peer logs unit, function, address and the PDU's
    next 16-bit field: the quantity, or the value for FC 5/6), and that each transaction is counted as a
    request and each answer as a response."""
    peer, where, _ = peer_endpoint(libmodbus_server, "tcp", verbose=True)
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, where), 1, retries=2)
    once = 3_600_000  # polled once, at the start
    u16 = engine.add_channel("u16", device, 300, writable=1, interval_ms=once)
    u32 = engine.add_channel("u32", device, 301, type="u32", order="CDAB", writable=1, interval_ms=once)
    bit = engine.add_channel("bit2", device, BITS_REGISTER[2], type="bit", bit=2, writable=1, interval_ms=once)
    coil = engine.add_channel("coil100", device, 100, function="coil", type="bit", writable=1, interval_ms=once)
    engine.add_channel("coil101", device, 101, function="coil", type="bit", writable=1, interval_ms=once)
    engine.start()
    engine.collect_until(lambda rs: len(rs) >= 5, timeout=5)
    polls = len(logged_requests(peer))
    before = engine.device_stats(device)
    assert before.requests == before.responses == polls == 2  # holding 200..302 merged, coils 100..101

    engine.write(u16, 5)
    engine.write(u32, 0x00030004)
    engine.write(bit, 1)
    engine.write(coil, 1)
    engine.write_coils(device, 100, [1, 0])
    engine.write_registers(device, 302, [9])
    engine.write_registers(device, 300, [1, 2, 3])
    engine.stop()
    register = BITS_REGISTER[3]
    assert logged_requests(peer)[polls:] == [
        (1, 6, 300, 5),
        (1, 16, 301, 2),
        (1, 3, 200, 1), (1, 6, 200, register | 0x4),  # read-modify-write
        (1, 5, 100, 0xFF00),
        (1, 15, 100, 2),
        (1, 6, 302, 9),
        (1, 16, 300, 3),
    ]
    after = engine.device_stats(device)
    assert (after.requests - before.requests, after.responses - before.responses) == (8, 8), stats_dict(after)
    assert (after.retries, after.timeouts, after.exceptions) == (0, 0, 0)
    assert sum(after.latency_histogram) == after.responses and after.last_ok_ns >= before.last_ok_ns
    assert after.state == edgecore.DeviceState.ONLINE


def test_write_needs_a_running_engine(libmodbus_server, peer_endpoint, edgecore_engine):
    _, where, _ = peer_endpoint(libmodbus_server, "tcp")
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, where), 1)
    channel = engine.add_channel("w", device, 300, writable=1, interval_ms=1000)
    refused(edgecore.E_NOT_RUNNING, engine.write, channel, 1)
    refused(edgecore.E_NOT_RUNNING, engine.write_registers, device, 300, [1])
    engine.start()
    engine.write(channel, 77)
    engine.stop()
    refused(edgecore.E_NOT_RUNNING, engine.write, channel, 1)
    client = modbus_client(**where)
    try:
        assert read_registers(client, 300, 1) == [77]
    finally:
        client.close()


# ------------------------------------------------------------------------------------------------------
# Devices that do not take the write
# ------------------------------------------------------------------------------------------------------

def test_write_to_silent_unit_times_out(modbus_server, peer_endpoint, edgecore_engine):
    _, where, _ = peer_endpoint(modbus_server, "tcp", silent_units=[3])
    engine = edgecore_engine()
    bus = add_bus(engine, where)
    silent = engine.add_device("silent", bus, 3, response_timeout_ms=100, retries=1, backoff_min_ms=60000,
                               backoff_max_ms=60000)
    channel = engine.add_channel("silent.w", silent, 0, writable=1, interval_ms=10000)
    coil = engine.add_channel("silent.coil", silent, 5, function="coil", type="bit", writable=1,
                              interval_ms=10000)
    engine.start()
    engine.collect_until(lambda rs: len(rs) >= 2, timeout=5)  # both polls failed
    before = engine.device_stats(silent)
    t0 = time.monotonic()
    detail = refused(edgecore.E_DEVICE_TIMEOUT, engine.write, channel, 5, 5000)
    elapsed = time.monotonic() - t0
    assert "silent" in detail
    assert 0.18 <= elapsed < 1.0, elapsed  # two attempts of 100 ms
    refused(edgecore.E_DEVICE_TIMEOUT, engine.write_coils, silent, 5, [1], 5000)
    after = engine.device_stats(silent)
    assert (after.requests - before.requests, after.timeouts - before.timeouts, after.retries - before.retries) \
        == (4, 4, 2), stats_dict(after)
    # the call's own timeout, shorter than the device's attempts: the write was on the wire when it passed,
    # so the call waits for the write's real outcome (two attempts of 100 ms), which the statistics count too
    t0 = time.monotonic()
    refused(edgecore.E_DEVICE_TIMEOUT, engine.write, coil, 1, 50)
    assert 0.18 <= time.monotonic() - t0 < 1.0
    assert engine.device_stats(silent).timeouts - after.timeouts == 2


def test_write_exception_is_reported_with_its_code(modbus_server, peer_endpoint, edgecore_engine):
    _, where, _ = peer_endpoint(modbus_server, "tcp", exceptions=["2:holding:0:6", "2:coil:1:4"])
    engine = edgecore_engine()
    bus = add_bus(engine, where)
    device = engine.add_device("busy_meter", bus, 2, response_timeout_ms=500, retries=2)
    reg = engine.add_channel("busy.reg", device, 0, writable=1, interval_ms=10000)
    coil = engine.add_channel("busy.coil", device, 1, function="coil", type="bit", writable=1,
                              interval_ms=10000)
    engine.start()
    engine.collect_until(lambda rs: len(rs) >= 2, timeout=5)
    before = engine.device_stats(device)
    detail = refused(edgecore.E_DEVICE_EXCEPTION, engine.write, reg, 1)
    assert "busy_meter" in detail and "exception 6" in detail, detail
    assert "exception 6" in edgecore.engine_last_error()
    detail = refused(edgecore.E_DEVICE_EXCEPTION, engine.write_coils, device, 1, [0])
    assert "exception 4" in detail, detail
    after = engine.device_stats(device)
    # an exception is an answer: not retried, device online
    assert (after.requests - before.requests, after.exceptions - before.exceptions, after.retries) == (2, 2, 0)
    assert after.state == DeviceState.ONLINE and after.last_exception == 4
    client = modbus_client(**where)
    try:  # the peer refuses address 1 to everyone, as it did to the engine
        assert client.read_coils(1, 1, slave=2).exception_code == 4
        assert read_coils(client, 0, 1, unit=2) == [1]
    finally:
        client.close()


# ------------------------------------------------------------------------------------------------------
# Writes go ahead of the polls
# ------------------------------------------------------------------------------------------------------

SLOW_MS = 100   # the peer's delay before every answer: one transaction takes this long
SLOW_POLLS = 20


def test_writes_are_queued_ahead_of_polls(libmodbus_server, peer_endpoint, edgecore_engine):
    _, where, _ = peer_endpoint(libmodbus_server, "tcp", delay_ms=SLOW_MS)
    engine = edgecore_engine()
    device = engine.add_device("slow", add_bus(engine, where), 1, response_timeout_ms=1000,
                               one_channel_per_request=1)
    polled = [engine.add_channel(f"slow.{a}", device, a, interval_ms=SLOW_MS) for a in range(SLOW_POLLS)]
    target = engine.add_channel("slow.w", device, 300, writable=1, interval_ms=SLOW_MS)
    engine.start()
    started = time.monotonic()
    engine.collect(0.6)  # the bus is saturated now: 21 requests due every 100 ms, each takes 100 ms
    elapsed = []
    for value in range(1, 6):
        t0 = time.monotonic()
        engine.write(target, value, 5000)
        elapsed.append(time.monotonic() - t0)
        time.sleep(0.05)
    readings = engine.collect(0.2)
    engine.stop()
    wall = time.monotonic() - started
    # a write waits for the transaction on the wire (<= 100 ms), then takes its own (100 ms); behind the
    # queued polls it would wait about 2 s
    assert max(elapsed) < 2.6 * SLOW_MS / 1000, elapsed
    assert min(elapsed) >= 0.9 * SLOW_MS / 1000, elapsed
    per = by_channel(readings)
    assert all(r.status == Status.OK for rs in per.values() for r in rs)
    s = engine.device_stats(device)
    planned_polls = (len(polled) + 1) * wall * 1000 / SLOW_MS
    assert s.responses <= wall * 1000 / SLOW_MS + 1 < 0.2 * planned_polls  # polls were queued all along
    client = modbus_client(**where, timeout=2.0)
    try:
        assert read_registers(client, 300, 1) == [5]
    finally:
        client.close()


# ------------------------------------------------------------------------------------------------------
# The caller's deadline (timeout_ms): a write not yet sent is dropped, one on the wire is waited for
# ------------------------------------------------------------------------------------------------------

ANSWER_MS = 600  # the slow peer's delay before every answer


def written(peer) -> list[tuple[int, int, int, int]]:
    """The write requests (FC 5, 6, 15, 16) the peer received."""
    return [r for r in logged_requests(peer) if r[1] in (5, 6, 15, 16)]


def test_write_whose_deadline_passes_in_the_queue_is_never_sent(libmodbus_server, peer_endpoint, edgecore_engine):
    """A write queued behind a poll on the wire (the peer answers after 600 ms) whose 100 ms deadline
    passes first is dropped: the call returns EDGECORE_E_TIMEOUT, and the peer never receives it."""
    peer, where, _ = peer_endpoint(libmodbus_server, "tcp", delay_ms=ANSWER_MS, verbose=True)
    engine = edgecore_engine()
    device = engine.add_device("slow", add_bus(engine, where), 1, response_timeout_ms=3000)
    engine.add_channel("polled", device, 0, interval_ms=50)  # the bus is always busy with this poll
    target = engine.add_channel("valve", device, 300, writable=1, interval_ms=3_600_000)
    engine.start()
    results = []
    for value in (41, 42, 43):
        seen = len(logged_requests(peer))
        wait_until(lambda: len(logged_requests(peer)) > seen, timeout=5, what="a poll on the wire")
        t0 = time.monotonic()
        rc = edgecore.lib.edgecore_engine_write(engine.handle, target, float(value), 100)
        results.append((rc, time.monotonic() - t0, edgecore.engine_last_error()))
    time.sleep(2 * ANSWER_MS / 1000)  # the poll on the wire ended: the dropped writes would have been next
    polls = len(logged_requests(peer))
    engine.stop()
    assert polls >= 4 and written(peer) == [], logged_requests(peer)
    for rc, elapsed, message in results:
        assert rc == edgecore.E_TIMEOUT and "not sent" in message, (rc, message)
        assert 0.09 <= elapsed < 0.5, elapsed
    client = modbus_client(**where, timeout=2.0)
    try:
        assert read_registers(client, 300, 1) == [0]
    finally:
        client.close()


def test_write_on_the_wire_when_its_deadline_passes_returns_its_outcome(libmodbus_server, peer_endpoint,
                                                                         edgecore_engine):
    """A write sent at once whose answer comes after the caller's deadline: the call waits for the answer
    (the transaction's own bound is the response timeout) and returns the real outcome, never a TIMEOUT that
    would leave the caller guessing whether the valve moved."""
    peer, where, _ = peer_endpoint(libmodbus_server, "tcp", delay_ms=ANSWER_MS, verbose=True)
    engine = edgecore_engine()
    device = engine.add_device("slow", add_bus(engine, where), 1, response_timeout_ms=3000)
    target = engine.add_channel("valve", device, 300, writable=1, interval_ms=3_600_000)
    engine.start()
    engine.collect_until(lambda rs: len(rs) >= 1, timeout=5)  # the one poll is over: the bus is idle
    before = engine.device_stats(device)
    t0 = time.monotonic()
    rc = edgecore.lib.edgecore_engine_write(engine.handle, target, 7.0, 100)
    elapsed = time.monotonic() - t0
    assert rc == edgecore.EDGECORE_OK, (rc, edgecore.engine_last_error())
    assert 0.9 * ANSWER_MS / 1000 <= elapsed < 2.0, elapsed
    after = engine.device_stats(device)
    assert (after.requests - before.requests, after.responses - before.responses) == (1, 1)
    engine.stop()
    assert written(peer) == [(1, 6, 300, 7)]


def test_write_exception_code_is_the_writes_own(libmodbus_server, peer_endpoint, edgecore_engine):
    """The exception code in a failed write's message is the one its own answer carried, although the same
    device's other transactions fail all the time with other codes and overwrite its last_exception: polls
    of an input register (exception 2), and writes of other threads to other registers (4 and 3)."""
    codes = {300: 6, 301: 4, 302: 3}
    rules = [f"holding:{address}:{code}" for address, code in codes.items()] + ["input:5:2"]
    _, where, _ = peer_endpoint(libmodbus_server, "tcp", exceptions=rules)
    engine = edgecore_engine()
    device = engine.add_device("plc", add_bus(engine, where), 1, response_timeout_ms=1000, retries=0)
    engine.add_channel("refused", device, 5, function="input", interval_ms=1)  # exception 2, continually
    targets = {address: engine.add_channel(f"valve{address}", device, address, writable=1, interval_ms=3_600_000)
               for address in codes}
    engine.start()
    engine.collect_until(lambda rs: len(rs) >= 20, timeout=5)
    wrong, failures = [], []

    def writer(address: int):
        for _ in range(100):
            rc = edgecore.lib.edgecore_engine_write(engine.handle, targets[address], 1.0, 2000)
            message = edgecore.engine_last_error()  # this thread's own
            if rc != edgecore.E_DEVICE_EXCEPTION:
                failures.append((rc, message))
            elif not message.endswith(f"exception {codes[address]}"):
                wrong.append(message)

    threads = [threading.Thread(target=writer, args=(address,)) for address in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    s = engine.device_stats(device)
    engine.stop()
    assert not any(t.is_alive() for t in threads) and failures == [], failures[:3]
    assert wrong == [], f"{len(wrong)} of 300: {wrong[:3]}"
    assert s.exceptions >= 300 and s.last_exception in (2, 3, 4, 6)
