"""Engine readings against real peers: every value type in every word order, from holding and input registers,
bits of a register, coils and discrete inputs, read exactly through the engine from the libmodbus server and the
pymodbus server, over TCP (127.0.0.1) and RTU (socat pty pair); then scale/offset, sentinels and valid ranges.

Expected values come from regmap (SITE_TEST_MAP), never from the engine: integers compare exactly (they are
exact as doubles), floats bit for bit (f32 values are the float32 the map stores, widened).
"""
from __future__ import annotations

import struct

import pytest

import edgecore
from edgecore import Status
from harness import add_bus, add_point_channels, by_channel, each_has, stats_dict
from regmap import (BITS_REGISTER, COIL_BITS, DISCRETE_BITS, ORDERS, SITE_TEST_MAP, SITE_TEST_POINTS, TYPES,
                    raw_unsigned)

INTERVAL_MS = 100
READINGS_PER_CHANNEL = 2  # every channel read at least twice: the values are steady, not a lucky first read

TYPED_POINTS = [p for p in SITE_TEST_POINTS if p.unit == 1 and p.name != "u1_holding_bits"]
assert len(TYPED_POINTS) == 2 * len(TYPES) * len(ORDERS)


def point(table: str, type_: str, order: str):
    return SITE_TEST_MAP.point(f"u1_{table}_{type_}_{order}")


def bit_of(register: int, bit: int, order: str) -> int:
    """Bit `bit` (0 = LSB) of a register as the header defines it: only the byte rule applies to 16 bits, so
    BADC/DCBA see the register byte-swapped."""
    if order in ("BADC", "DCBA"):
        register = ((register & 0xFF) << 8) | (register >> 8)
    return (register >> bit) & 1


def same_value(got: float, want: float) -> bool:
    """Exact equality, bit for bit (so -0.0 != 0.0 and NaN == NaN would show)."""
    return struct.pack("<d", got) == struct.pack("<d", float(want))


# ------------------------------------------------------------------------------------------------------
# The channels of one device on unit 1: (expected status, expected value) per channel id
# ------------------------------------------------------------------------------------------------------

def add_plain_channels(engine, device: int) -> dict[int, tuple[int, float, str]]:
    """Every typed point (8 types x 4 orders x holding/input), all 16 bits of BITS_REGISTER in each order,
    coils 0..15 and discrete inputs 0..15: (Status.OK, exact value, name)."""
    expected = {}
    for cid, p in add_point_channels(engine, device, TYPED_POINTS, INTERVAL_MS).items():
        expected[cid] = (Status.OK, float(p.value), p.name)
    unit, table, address, register = BITS_REGISTER
    for order in ORDERS:
        for bit in range(16):
            name = f"bits_{order}_{bit}"
            cid = engine.add_channel(name, device, address, function=table, type="bit", order=order, bit=bit,
                                     interval_ms=INTERVAL_MS)
            expected[cid] = (Status.OK, float(bit_of(register, bit, order)), name)
    for table, bits in (("coil", COIL_BITS), ("discrete", DISCRETE_BITS)):
        for address, value in enumerate(bits):
            name = f"{table}_{address}"
            cid = engine.add_channel(name, device, address, function=table, type="bit", interval_ms=INTERVAL_MS)
            expected[cid] = (Status.OK, float(value), name)
    return expected


def add_conversion_channels(engine, device: int) -> dict[int, tuple[int, float, str]]:
    """Channels over the same registers with scale/offset, sentinels and valid ranges. Expected values are
    computed here as the header defines them: raw * scale + offset, in IEEE double arithmetic."""
    expected = {}

    def add(name, p, status, value, **fields):
        cid = engine.add_channel(name, device, p.address, function=p.table, type=p.type, order=p.order,
                                 interval_ms=INTERVAL_MS, **fields)
        expected[cid] = (status, value, name)

    # scale and offset
    for name, p, scale, offset in (
            ("scaled_u16", point("holding", "u16", "ABCD"), 0.1, -5.0),
            ("scaled_i16", point("holding", "i16", "DCBA"), -0.5, 100.0),
            ("scaled_i32", point("holding", "i32", "CDAB"), 0.001, 0.0),
            ("scaled_u64", point("holding", "u64", "BADC"), 1e-6, 0.25),
            ("scaled_f32", point("input", "f32", "ABCD"), 1.8, 32.0),
            ("scaled_f64", point("input", "f64", "DCBA"), 1000.0, -1.5)):
        add(name, p, Status.OK, p.value * scale + offset, scale=scale, offset=offset)
    # sentinels: compared with the raw value after byte/word order -> SENTINEL, value 0
    for name, p in (("sentinel_i16", point("holding", "i16", "ABCD")),
                    ("sentinel_u32_cdab", point("holding", "u32", "CDAB")),
                    ("sentinel_f32_dcba", point("input", "f32", "DCBA")),
                    ("sentinel_u64_badc", point("input", "u64", "BADC"))):
        raw = raw_unsigned(p.type, p.registers, p.order)
        add(name, p, Status.SENTINEL, 0.0, sentinels=[1, raw, 2])
    p = point("holding", "u32", "CDAB")
    wire_order = (p.registers[0] << 16) | p.registers[1]  # the registers as sent, not in the value's order
    assert wire_order != raw_unsigned(p.type, p.registers, p.order)
    add("sentinel_not_wire_order", p, Status.OK, float(p.value), sentinels=[wire_order])
    add("sentinel_other", point("holding", "u16", "ABCD"), Status.OK, float(0x1234), sentinels=[0xFFFF, 0x7FFF])
    # a sentinel wins over the valid range
    p = point("holding", "i16", "BADC")
    add("sentinel_before_range", p, Status.SENTINEL, 0.0, sentinels=[raw_unsigned(p.type, p.registers, p.order)],
        valid_min=0.0, valid_max=1.0)
    # valid range: OUT_OF_RANGE carries the rejected value; bounds are inclusive
    p = point("holding", "u16", "ABCD")
    add("range_above_max", p, Status.OUT_OF_RANGE, float(p.value), valid_max=4000.0)
    add("range_inclusive", p, Status.OK, float(p.value), valid_min=float(p.value), valid_max=float(p.value))
    p = point("holding", "i16", "ABCD")
    add("range_below_min", p, Status.OUT_OF_RANGE, float(p.value), valid_min=-10000.0)
    add("range_min_only_ok", p, Status.OK, float(p.value), valid_min=-20000.0)
    p = point("input", "f32", "ABCD")  # -40.5 degC -> -40.9 degF, below -40
    add("range_scaled", p, Status.OUT_OF_RANGE, p.value * 1.8 + 32.0, scale=1.8, offset=32.0, valid_min=-40.0,
        valid_max=100.0)
    p = point("holding", "f64", "BADC")  # 6.02214076e23
    add("range_f64_max", p, Status.OUT_OF_RANGE, float(p.value), valid_max=1e23)
    # bits: coil 0 is ON
    cid = engine.add_channel("coil_scaled", device, 0, function="coil", type="bit", scale=10.0, offset=1.0,
                             interval_ms=INTERVAL_MS)
    expected[cid] = (Status.OK, 11.0, "coil_scaled")
    cid = engine.add_channel("coil_sentinel", device, 0, function="coil", type="bit", sentinels=[1],
                             interval_ms=INTERVAL_MS)
    expected[cid] = (Status.SENTINEL, 0.0, "coil_sentinel")
    cid = engine.add_channel("coil_range", device, 0, function="coil", type="bit", valid_max=0.5,
                             interval_ms=INTERVAL_MS)
    expected[cid] = (Status.OUT_OF_RANGE, 1.0, "coil_range")
    return expected


def check_readings(readings, expected: dict) -> None:
    per = by_channel(readings)
    assert set(per) == set(expected), "readings of unknown channels"
    wrong = []
    for cid, rs in per.items():
        status, value, name = expected[cid]
        assert [r.sequence for r in rs] == list(range(len(rs))), f"{name}: sequence gaps"
        for r in rs:
            if r.status != status or not same_value(r.value, value) or r.status_detail != 0 or r.reserved != 0:
                wrong.append(f"{name}: got {edgecore.status_name(r.status)} {r.value!r}, "
                             f"want {edgecore.status_name(status)} {value!r}")
    assert not wrong, f"{len(wrong)} wrong readings:\n" + "\n".join(wrong[:40])


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
def test_every_type_order_table_and_conversion(modbus_server, transport, peer_endpoint, edgecore_engine):
    peer, where, _ = peer_endpoint(modbus_server, transport)
    engine = edgecore_engine()
    bus = add_bus(engine, where)
    device = engine.add_device("unit1", bus, 1, response_timeout_ms=1000, retries=0)
    expected = add_plain_channels(engine, device)
    expected.update(add_conversion_channels(engine, device))
    assert engine.counts() == (1, 1, len(expected))

    engine.start()
    readings = engine.collect_until(each_has(expected, READINGS_PER_CHANNEL), timeout=15)
    engine.stop()
    readings += engine.drain()

    check_readings(readings, expected)
    stats = engine.device_stats(device)
    assert (stats.timeouts, stats.frame_errors, stats.exceptions, stats.disconnects, stats.retries) == \
        (0, 0, 0, 0, 0), stats_dict(stats)
    assert stats.requests == stats.responses > 0
    assert stats.state == edgecore.DeviceState.ONLINE and stats.last_error == 0
    assert peer.running


def test_typed_values_via_single_register_requests(libmodbus_server, peer_endpoint, edgecore_engine):
    """The same values when every channel is read on its own (one_channel_per_request): decoding does not
    depend on where a channel sits inside a request."""
    peer, where, _ = peer_endpoint(libmodbus_server, "tcp")
    engine = edgecore_engine()
    device = engine.add_device("unit1", add_bus(engine, where), 1, one_channel_per_request=1, retries=0)
    ids = add_point_channels(engine, device, TYPED_POINTS, INTERVAL_MS)
    engine.start()
    readings = engine.collect_until(each_has(ids, 1), timeout=10)
    engine.stop()
    readings += engine.drain()
    check_readings(readings, {cid: (Status.OK, float(p.value), p.name) for cid, p in ids.items()})
    stats = engine.device_stats(device)
    assert stats.requests == stats.responses == len(readings)  # one request per reading: one channel each
    assert engine.plan().count("\n    FC") == len(ids)
