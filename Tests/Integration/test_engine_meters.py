"""The engine reading meters through the C API, against real peers: DL/T 645-2007 meters served by the `dlt645`
package (Tests/Peers/dlt645_peer.py) over a socat pty pair at 2400 8E1 and over transparent TCP, CJ/T 188 water
and heat meters (Tests/Peers/cjt188_peer.py), a meter and a libmodbus slave on one RS-485 line
(Tests/Peers/rs485_line.py), and the meter actions (address discovery, broadcast time sync).

Sites are YAML files (docs/meters.md) loaded with edgecore_engine_load_yaml. Expected values come from the
tables the tests give the peers, never from the engine: a BCD value with d decimals is digits / 10**d, which
is the double the engine must produce (both divisions are correctly rounded), so values compare exactly.
Counts are taken after edgecore_engine_stop, from readings, device statistics and the peers' request logs.
"""
from __future__ import annotations

import ctypes
import json
import re
import struct
import time
from ctypes import c_char_p, c_int, c_int32, c_int64, c_size_t, c_uint32, c_void_p

import pytest

import edgecore
from edgecore import DeviceState, Status
from harness import by_channel, logged_requests, meter_requests, stats_dict, write_table

METER = "123456789012"
E_AMBIGUOUS = getattr(edgecore, "E_AMBIGUOUS", -10025)
DLT645_ERR_NO_DATA = 0x02       # EDGECORE_DLT645_ERR_NO_DATA: the peer's answer for an identifier it lacks
DLT645_ERR_UNAUTHORISED = 0x04  # EDGECORE_DLT645_ERR_UNAUTHORISED
ONCE_MS = 600_000               # an interval no test outlasts: every channel is read once, at start


# ----------------------------------------------------------------------------------------------------------
# Site files
# ----------------------------------------------------------------------------------------------------------

class Raw(str):
    """A scalar written as is (hex numbers such as 0x02010100)."""


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def _scalar(value) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)


def _emit(value, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{key}:")
                _emit(item, indent + 2, out)
            elif isinstance(item, list):
                out.append(f"{pad}{key}: []")
            else:
                out.append(f"{pad}{key}: {_scalar(item)}")
    else:
        for item in value:
            lines: list[str] = []
            _emit(item, indent + 2, lines)
            first = lines[0]
            out.append(f"{pad}- {first[indent + 2:]}")
            out.extend(lines[1:])


def write_site(tmp_path, buses: list[dict], name: str = "site.yaml") -> str:
    lines: list[str] = []
    _emit({"buses": buses}, 0, lines)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def rtu_bus(device: str, devices: list[dict], name: str = "line", **fields) -> dict:
    """An RS-485 line at 2400 8E1 (the DL/T 645-2007 default) on side A of a pty pair."""
    bus = {"name": name, "type": "rtu", "device": device, "baud": 2400, "parity": "E", "data_bits": 8,
           "stop_bits": 1, "reopen_min_ms": 50, "reopen_max_ms": 200}
    bus.update(fields)
    if devices:
        bus["devices"] = devices
    return bus


def tcp_bus(port: int, devices: list[dict], name: str = "dtu", **fields) -> dict:
    """A serial server in transparent mode: the meters' frames over TCP."""
    bus = {"name": name, "type": "tcp", "host": "127.0.0.1", "port": port, "framing": "transparent",
           "connect_timeout_ms": 500, "reconnect_min_ms": 50, "reconnect_max_ms": 200}
    bus.update(fields)
    if devices:
        bus["devices"] = devices
    return bus


def bus_for(where: dict, devices: list[dict], **fields) -> dict:
    return tcp_bus(where["tcp"], devices, **fields) if "tcp" in where else rtu_bus(where["rtu"], devices, **fields)


def dlt_device(name: str, address: str, channels: list[dict], protocol: str = "dlt645-2007", **fields) -> dict:
    device = {"name": name, "protocol": protocol, "meter_address": address, "response_timeout_ms": 1000,
              "retries": 0}
    device.update(fields)
    device["channels"] = channels
    return device


def cjt_device(name: str, meter_type: int, address: str, channels: list[dict], **fields) -> dict:
    device = {"name": name, "protocol": "cjt188", "meter_address": address, "meter_type": Raw(f"0x{meter_type:02X}"),
              "response_timeout_ms": 1000, "retries": 0}
    device.update(fields)
    device["channels"] = channels
    return device


def load(edgecore_engine, tmp_path, buses: list[dict]):
    engine = edgecore_engine()
    engine.load_yaml(write_site(tmp_path, buses))
    return engine


# ----------------------------------------------------------------------------------------------------------
# The meter actions as result codes (through ctypes when the binding has no wrapper for them)
# ----------------------------------------------------------------------------------------------------------

def _native(name: str, argtypes):
    fn = getattr(edgecore.lib.dll(), name)
    fn.restype = c_int
    fn.argtypes = argtypes
    return fn


def meter_discover(engine, bus: int, timeout_ms: int = 3000) -> tuple[int, str]:
    """(result code, address) of edgecore_engine_meter_discover."""
    if hasattr(engine, "meter_discover"):
        try:
            return 0, engine.meter_discover(bus, timeout_ms)
        except edgecore.EdgeCoreError as e:
            return e.code, ""
    fn = _native("edgecore_engine_meter_discover", [c_void_p, c_uint32, c_char_p, c_size_t, c_int32])
    out = ctypes.create_string_buffer(13)
    rc = fn(engine.handle, bus, out, len(out), timeout_ms)
    return rc, out.value.decode("ascii", "replace") if rc == 0 else ""


def meter_time_sync(engine, bus: int, unix_seconds: int, timeout_ms: int = 3000) -> int:
    """The result code of edgecore_engine_meter_time_sync."""
    if hasattr(engine, "meter_time_sync"):
        try:
            engine.meter_time_sync(bus, unix_seconds, timeout_ms)
            return 0
        except edgecore.EdgeCoreError as e:
            return e.code
    fn = _native("edgecore_engine_meter_time_sync", [c_void_p, c_uint32, c_int64, c_int32])
    return fn(engine.handle, bus, unix_seconds, timeout_ms)


def last_problem(engine, device: int) -> str:
    """edgecore_engine_device_last_problem: why the device's last transaction failed, "" if none did."""
    fn = _native("edgecore_engine_device_last_problem", [c_void_p, c_uint32, c_char_p, c_size_t])
    out = ctypes.create_string_buffer(512)
    rc = fn(engine.handle, device, out, len(out))
    assert 0 <= rc < len(out), rc
    return out.value.decode("utf-8", "replace")


# ----------------------------------------------------------------------------------------------------------
# Readings
# ----------------------------------------------------------------------------------------------------------

def exact(digits: int, decimals: int, negative: bool = False) -> float:
    value = digits / 10 ** decimals
    return -value if negative else value


def same(got: float, want: float) -> bool:
    """Bit for bit (so -0.0 != 0.0 would show)."""
    return struct.pack("<d", got) == struct.pack("<d", float(want))


def run_until(engine, predicate, timeout: float):
    engine.start()
    try:
        readings = engine.collect_until(predicate, timeout)
    finally:
        engine.stop()
    return readings + engine.drain()


def each_has(channels, count: int, status: int | None = None):
    wanted = set(channels)

    def predicate(readings) -> bool:
        seen: dict[int, int] = {}
        for r in readings:
            if r.channel in wanted and (status is None or r.status == status):
                seen[r.channel] = seen.get(r.channel, 0) + 1
        return all(seen.get(c, 0) >= count for c in wanted)

    return predicate


def describe(engine, r) -> str:
    return f"{engine.channel_info(r.channel)[0]}: {edgecore.status_name(r.status)}/{r.status_detail} {r.value!r}"


def check_values(engine, readings, expected: dict[int, tuple[int, float]]) -> None:
    """Every reading of every expected channel has (status, value) exactly, detail 0, and sequences without
    gaps; every expected channel was read."""
    per = by_channel(readings)
    missing = [engine.channel_info(c)[0] for c in expected if c not in per]
    assert not missing, f"channels never read: {missing}"
    wrong = []
    for cid, (status, value) in expected.items():
        rs = per[cid]
        assert [r.sequence for r in rs] == list(range(len(rs))), engine.channel_info(cid)[0]
        for r in rs:
            if r.status != status or not same(r.value, value) or r.status_detail != 0:
                wrong.append(f"{describe(engine, r)}, want {edgecore.status_name(status)} {value!r}")
    assert not wrong, f"{len(wrong)} wrong readings:\n" + "\n".join(wrong[:40])


def channel_ids(engine, names) -> dict[str, int]:
    return {name: engine.find_channel(name) for name in names}


# ----------------------------------------------------------------------------------------------------------
# DL/T 645-2007: what the dlt645 package serves of EdgeCore's catalogue (docs/meters.md), with distinct values
# ----------------------------------------------------------------------------------------------------------

class Entry:
    """A catalogue entry: its name, DI, the table value for the peer, the expected reading and unit."""

    def __init__(self, name: str, di: int, table: str, value: float, unit: str):
        self.name, self.di, self.table, self.value, self.unit = name, di, table, value, unit


ENERGY_KINDS = [("combined_active_energy", "kWh"), ("forward_active_energy", "kWh"),
                ("reverse_active_energy", "kWh"), ("combined_reactive1_energy", "kvarh"),
                ("combined_reactive2_energy", "kvarh")]
TARIFFS = ["_total", "_t1", "_t2", "_t3", "_t4"]
PHASES = ["_total", "_a", "_b", "_c"]
# Signed quantities, negative where it matters: (DI, digits, negative) per name; decimals per family below.
CURRENTS = {"current_a": (0x02020100, 5123, False), "current_b": (0x02020200, 1234, True),
            "current_c": (0x02020300, 123456, True)}                                # XXX.XXX A
POWERS = {  # XX.XXXX
    "active_power": ("kW", [(34567, False), (12345, False), (2345, True), (24567, False)]),
    "reactive_power": ("kvar", [(11111, True), (1, False), (2, True), (799999, False)]),
    "apparent_power": ("kVA", [(36789, False), (10000, False), (25000, False), (1, False)]),
}
POWER_FACTORS = [(950, False), (875, True), (999, False), (1, True)]             # X.XXX
VOLTAGES = [2201, 2212, 2223]                                                       # XXX.X V


def catalogue_entries() -> list[Entry]:
    """Every entry of EdgeCore's DL/T 645-2007 catalogue the package serves: 5 energies x (total, t1..t4) x
    (current, prev1..prev12), voltages, currents, three powers and the power factor (total, a..c), frequency,
    date, time and the 7 status words."""
    out = []
    for kind, (stem, unit) in enumerate(ENERGY_KINDS):
        for tariff, part in enumerate(TARIFFS):
            for period in range(13):
                digits = kind * 10_000_000 + tariff * 1_000_000 + period * 10_000 + 37 + kind + tariff + period
                name = stem + part + (f"_prev{period}" if period else "")
                # Combined energies (kinds 0, 3, 4) are signed: every other one negative.
                negative = kind in (0, 3, 4) and (tariff + period) % 2 == 1
                out.append(Entry(name, (kind << 16) | (tariff << 8) | period,
                                 f"{'-' if negative else ''}{digits / 100:.2f}", exact(digits, 2, negative), unit))
    for i, digits in enumerate(VOLTAGES):
        out.append(Entry(f"voltage_{'abc'[i]}", 0x02010100 + 0x100 * i, f"{digits / 10:.1f}", exact(digits, 1), "V"))
    for name, (di, digits, negative) in CURRENTS.items():
        out.append(Entry(name, di, f"{'-' if negative else ''}{digits / 1000:.3f}", exact(digits, 3, negative), "A"))
    for family, (stem, (unit, values)) in enumerate(POWERS.items()):
        for i, (digits, negative) in enumerate(values):
            out.append(Entry(stem + PHASES[i], 0x02030000 + (family << 16) + (i << 8),
                             f"{'-' if negative else ''}{digits / 10000:.4f}", exact(digits, 4, negative), unit))
    for i, (digits, negative) in enumerate(POWER_FACTORS):
        out.append(Entry("power_factor" + PHASES[i], 0x02060000 + (i << 8),
                         f"{'-' if negative else ''}{digits / 1000:.3f}", exact(digits, 3, negative), ""))
    out.append(Entry("frequency", 0x02800002, "49.98", exact(4998, 2), "Hz"))
    out.append(Entry("date", 0x04000101, "26120203", 26120203.0, ""))  # YYMMDDWW as a BCD number
    out.append(Entry("time", 0x04000102, "081530", 81530.0, ""))        # hhmmss
    for n in range(1, 8):  # status words: binary, least significant byte first ("0107" is sent 07 01)
        text = f"{n:02d}{(7 * n) % 100:02d}"
        out.append(Entry(f"meter_status_{n}", 0x04000500 + n, text, float(int(text, 16)), ""))
    return out


CATALOGUE = catalogue_entries()
assert len(CATALOGUE) == 5 * 5 * 13 + 3 + 3 + 12 + 4 + 1 + 2 + 7
assert len({e.di for e in CATALOGUE}) == len(CATALOGUE) and len({e.value for e in CATALOGUE}) > 330

# Identifiers outside the catalogue (or read another way), with the channel's own format (docs/meters.md:
# format, length, decimals; the unit is the channel's): (channel fields, table DI, table value, expected)
OWN_FORMAT = [
    # neutral current XXX.XXX, signed: outside the catalogue
    ({"di": Raw("0x02800001"), "format": "bcd_signed", "length": 3, "decimals": 3, "unit": "A"},
     0x02800001, "-12.345", exact(12345, 3, True)),
    # meter temperature XXX.X (the package's format), signed
    ({"di": Raw("0x02800007"), "format": "bcd_signed", "length": 2, "decimals": 1, "unit": "degC"},
     0x02800007, "-5.5", exact(55, 1, True)),
    # a catalogue identifier read with an overriding format: combined reactive 2, previous period 1, negative
    # (signed in the catalogue too; the override gives the same format by hand)
    ({"di": Raw("0x00040001"), "format": "bcd_signed", "length": 4, "decimals": 2, "unit": "kvarh"},
     0x00040001, "-45.60", exact(4560, 2, True)),
    # a catalogue entry named by its identifier instead of its name: the catalogue's format and unit
    ({"di": Raw("0x02010100")}, 0x02010100, None, exact(VOLTAGES[0], 1)),
]


# the catalogue entries whose DI an OWN_FORMAT channel reads with a value of its own
OVERRIDDEN = {di for _, di, text, _ in OWN_FORMAT if text is not None}


def dlt_table(tmp_path, entries=CATALOGUE, extra: dict | None = None, name: str = "meter") -> str:
    values = {f"{e.di:08X}": e.table for e in entries}
    for _, di, text, _ in OWN_FORMAT:
        if text is not None:
            values[f"{di:08X}"] = text
    values.update(extra or {})
    return write_table(tmp_path / f"{name}.txt", values)


def catalogue_channels(prefix: str, entries=CATALOGUE, interval_ms: int = ONCE_MS) -> list[dict]:
    return [{"name": f"{prefix}.{e.name}", "item": e.name, "interval_ms": interval_ms} for e in entries]


# ----------------------------------------------------------------------------------------------------------
# 1. Every catalogue entry the package serves, exactly, over RTU (2400 8E1) and transparent TCP
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["rtu", "tcp"])
def test_dlt645_catalogue_read_exactly(meter_peer, edgecore_engine, tmp_path, transport):
    peer, where, _ = meter_peer("dlt645", transport, meters=[METER], values=dlt_table(tmp_path),
                                options=["--verbose"])
    entries = [e for e in CATALOGUE if e.di not in OVERRIDDEN]
    channels = catalogue_channels("m", entries)
    channels += [dict(fields, name=f"m.own{i}", interval_ms=ONCE_MS) for i, (fields, _, _, _) in enumerate(OWN_FORMAT)]
    engine = load(edgecore_engine, tmp_path, [bus_for(where, [dlt_device("m", METER, channels)])])
    assert engine.counts() == (1, 1, len(channels))
    ids = channel_ids(engine, [c["name"] for c in channels])
    expected = {ids[f"m.{e.name}"]: (Status.OK, e.value) for e in entries}
    expected.update({ids[f"m.own{i}"]: (Status.OK, value) for i, (_, _, _, value) in enumerate(OWN_FORMAT)})

    readings = run_until(engine, each_has(expected, 1), timeout=25)

    check_values(engine, readings, expected)
    assert len(readings) == len(channels)  # read once each: the interval is ten minutes
    # units: the catalogue's for a catalogue entry (named or by DI), the channel's for its own format
    units = {e.name: e.unit for e in CATALOGUE}
    wrong = [(name, engine.channel_info(cid)[1]) for name, cid in ids.items()
             if name.removeprefix("m.") in units and engine.channel_info(cid)[1] != units[name.removeprefix("m.")]]
    assert not wrong, wrong
    assert [engine.channel_info(ids[f"m.own{i}"])[1] for i in range(len(OWN_FORMAT))] == ["A", "degC", "kvarh", "V"]
    # one request per identifier, in the order of the channels, each answered
    dis = [e.di for e in entries] + [di for _, di, _, _ in OWN_FORMAT]
    log = meter_requests(peer)
    assert [(a, c, o) for a, c, _, o in log] == [(METER, 0x11, "reply")] * len(channels)
    assert [di for _, _, di, _ in log] == dis
    s = engine.device_stats(engine.find_device("m"))
    assert (s.requests, s.responses, s.timeouts, s.frame_errors, s.exceptions, s.retries) == \
        (len(channels), len(channels), 0, 0, 0, 0), stats_dict(s)
    assert s.state == DeviceState.ONLINE and s.last_error == 0 and sum(s.latency_histogram) == s.responses


# ----------------------------------------------------------------------------------------------------------
# 2. Abnormal replies: EXCEPTION with the error byte; the meter's other channels stay OK
# ----------------------------------------------------------------------------------------------------------

def test_dlt645_abnormal_reply_is_exception_with_error_byte(meter_peer, edgecore_engine, tmp_path):
    entries = [e for e in CATALOGUE if e.name in ("voltage_a", "voltage_b", "current_b", "forward_active_energy_total")]
    # voltage_b is in the table but refused "unauthorised" (0xD1 04); neutral current (02800001) is served by
    # the package but not in the table: the peer answers 0xD1 02, "no requested data", as the package does
    # for identifiers it lacks
    peer, where, _ = meter_peer("dlt645", "rtu", meters=[METER], values=write_table(
        tmp_path / "t.txt", {f"{e.di:08X}": e.table for e in entries}),
        options=["--abnormal", "02010200=04", "--verbose"])
    channels = [{"name": f"m.{e.name}", "item": e.name, "interval_ms": 100} for e in entries]
    channels.append({"name": "m.neutral", "di": Raw("0x02800001"), "format": "bcd_signed", "length": 3,
                     "decimals": 3, "unit": "A", "interval_ms": 100})
    engine = load(edgecore_engine, tmp_path, [rtu_bus(where["rtu"], [dlt_device("m", METER, channels,
                                                                                offline_after=2, retries=1)])])
    ids = channel_ids(engine, [c["name"] for c in channels])

    readings = run_until(engine, each_has(ids.values(), 6), timeout=15)

    per = by_channel(readings)
    exceptions = {ids["m.voltage_b"]: DLT645_ERR_UNAUTHORISED, ids["m.neutral"]: DLT645_ERR_NO_DATA}
    for cid, detail in exceptions.items():
        assert [(r.status, r.status_detail, r.value) for r in per[cid]] == \
            [(Status.EXCEPTION, detail, 0.0)] * len(per[cid]), [describe(engine, r) for r in per[cid]]
    check_values(engine, readings, {ids[f"m.{e.name}"]: (Status.OK, e.value) for e in entries
                                    if e.name != "voltage_b"})
    failures = len(per[ids["m.voltage_b"]]) + len(per[ids["m.neutral"]])
    s = engine.device_stats(engine.find_device("m"))
    # an abnormal reply is an answer: no retry, never offline (far more than offline_after in a row)
    assert (s.exceptions, s.retries, s.timeouts, s.frame_errors, s.skipped_offline) == (failures, 0, 0, 0, 0), \
        stats_dict(s)
    assert s.requests == len(readings) == s.responses + s.exceptions
    assert s.state == DeviceState.ONLINE and s.consecutive_failures == 0
    assert s.last_error == edgecore.E_DEVICE_EXCEPTION and s.last_exception in (2, 4)
    assert re.search(r"error byte 0x0[24]", last_problem(engine, engine.find_device("m")))
    outcomes = [o for _, _, _, o in meter_requests(peer)]
    assert outcomes.count("abnormal 04") == len(per[ids["m.voltage_b"]])
    assert outcomes.count("abnormal 02") == len(per[ids["m.neutral"]])


def test_dlt645_reply_for_another_identifier_is_crc_error(meter_peer, edgecore_engine, tmp_path):
    """A reply that answers another identifier than the one asked (a meter that mixes up its items) is
    CRC_ERROR (docs/meters.md), never that identifier's value under this channel's name."""
    entries = [e for e in CATALOGUE if e.name in ("voltage_a", "voltage_b")]
    peer, where, _ = meter_peer("dlt645", "tcp", meters=[METER], values=write_table(
        tmp_path / "t.txt", {f"{e.di:08X}": e.table for e in entries}),
        options=["--answer-other", "02010100=02010200", "--verbose"])
    channels = [{"name": f"m.{e.name}", "item": e.name, "interval_ms": 50} for e in entries]
    engine = load(edgecore_engine, tmp_path, [tcp_bus(where["tcp"], [dlt_device("m", METER, channels, retries=1,
                                                                               offline_after=100)])])
    mixed, good = engine.find_channel("m.voltage_a"), engine.find_channel("m.voltage_b")

    readings = run_until(engine, each_has([mixed, good], 5), timeout=10)

    per = by_channel(readings)
    assert [(r.status, r.value) for r in per[mixed]] == [(Status.CRC_ERROR, 0.0)] * len(per[mixed])
    check_values(engine, readings, {good: (Status.OK, entries[1].value)})
    s = engine.device_stats(engine.find_device("m"))
    # a bad frame is retried once (retries: 1), as a Modbus CRC error is
    assert (s.frame_errors, s.retries) == (2 * len(per[mixed]), len(per[mixed])), stats_dict(s)
    assert s.requests == len(meter_requests(peer)) == 2 * len(per[mixed]) + len(per[good])
    assert last_problem(engine, engine.find_device("m")) == "reply for identifier 0x02010200, requested 0x02010100"


def test_transparent_tcp_serial_server_killed_and_restarted(meter_peer, edgecore_engine, tmp_path):
    """The serial server (here the peer itself) dies and comes back: the meter's readings are DISCONNECTED
    while it is down, a valve write says so, and values come back exact on the same engine."""
    entries = [e for e in CATALOGUE if e.name in ("voltage_a",)]
    dlt, where_dlt, _ = meter_peer("dlt645", "tcp", meters=[METER], values=write_table(
        tmp_path / "t.txt", {f"{e.di:08X}": e.table for e in entries}))
    water = write_table(tmp_path / "water.txt", WATER_TABLE)
    cjt, where_cjt, _ = meter_peer("cjt188", "tcp", meters=[f"10:{WATER}={water}"])
    engine = load(edgecore_engine, tmp_path, [
        tcp_bus(where_dlt["tcp"], [dlt_device("m", METER, [{"name": "m.v", "item": "voltage_a", "interval_ms": 50}],
                                              response_timeout_ms=300)], name="dtu1"),
        tcp_bus(where_cjt["tcp"], [cjt_device("w", 0x10, WATER, [
            {"name": "w.flow", "item": "current_flow", "interval_ms": 50},
            {"name": "w.valve", "item": "valve_state", "writable": True, "interval_ms": 50}],
            response_timeout_ms=300)], name="dtu2")])
    volts, flow, valve = (engine.find_channel(n) for n in ("m.v", "w.flow", "w.valve"))
    value = {volts: entries[0].value, flow: exact(123456, 2), valve: 0.0}
    everything = []
    engine.start()
    try:
        everything += engine.collect_until(each_has([volts, flow, valve], 3, Status.OK), timeout=5)
        for peer in (dlt, cjt):
            peer.kill()
        down = engine.collect_until(each_has([volts, flow, valve], 4, Status.DISCONNECTED), timeout=5)
        with pytest.raises(edgecore.EdgeCoreError) as refused:
            engine.write(valve, 1, 2000)
        for peer in (dlt, cjt):
            peer.restart()
        up = engine.collect_until(each_has([volts, flow, valve], 3, Status.OK), timeout=10)
        everything += down + up
    finally:
        engine.stop()
    everything += engine.drain()
    assert refused.value.code == edgecore.E_DISCONNECTED
    wrong = [describe(engine, r) for r in everything
             if not (r.status == Status.OK and r.value == value[r.channel] or
                     r.status == Status.DISCONNECTED and r.value == 0.0)]
    assert not wrong, wrong
    for cid in (volts, flow, valve):
        st = [r.status for r in everything if r.channel == cid]
        # OK, then DISCONNECTED while down, then OK again: one outage, no other status
        runs = [k for i, k in enumerate(st) if i == 0 or st[i - 1] != k]
        assert runs == [Status.OK, Status.DISCONNECTED, Status.OK], (engine.channel_info(cid)[0], runs)
        assert [r.sequence for r in everything if r.channel == cid] == list(range(len(st)))
    # one connection lost and one made again per bus (edgecore_bus_stats.losses: "times an open port or
    # connection was lost (peer gone ...)"), as the Modbus TCP test of test_engine_faults.py counts them
    buses = {name: engine.bus_stats(engine.find_bus(name)) for name in ("dtu1", "dtu2")}
    assert {name: (b.opens, b.losses) for name, b in buses.items()} == {"dtu1": (2, 1), "dtu2": (2, 1)}, \
        {name: {f: getattr(b, f) for f, _ in b._fields_} for name, b in buses.items()}


def test_pty_unplugged_and_replugged(meter_peer, edgecore_engine, tmp_path):
    """The USB adapter of a meter line is pulled and plugged back (socat stopped and started: the pty links
    vanish): DISCONNECTED while it is gone, exact values again after, one loss and one re-open counted."""
    entries = [e for e in CATALOGUE if e.name in ("voltage_a", "current_c")]
    peer, where, pair = meter_peer("dlt645", "rtu", meters=[METER], values=write_table(
        tmp_path / "t.txt", {f"{e.di:08X}": e.table for e in entries}))
    engine = load(edgecore_engine, tmp_path, [rtu_bus(where["rtu"], [dlt_device(
        "m", METER, [{"name": f"m.{e.name}", "item": e.name, "interval_ms": 50} for e in entries],
        response_timeout_ms=300, offline_after=100)])])
    ids = channel_ids(engine, [f"m.{e.name}" for e in entries])
    value = {ids[f"m.{e.name}"]: e.value for e in entries}
    engine.start()
    try:
        everything = engine.collect_until(each_has(value, 3, Status.OK), timeout=5)
        pair.unplug()
        peer.stop()  # the package's serial server ends when its device goes; started again below
        everything += engine.collect_until(each_has(value, 3, Status.DISCONNECTED), timeout=5)
        pair.replug()
        peer.restart()
        everything += engine.collect_until(each_has(value, 3, Status.OK), timeout=10)
    finally:
        engine.stop()
    everything += engine.drain()
    wrong = [describe(engine, r) for r in everything
             if not (r.status == Status.OK and r.value == value[r.channel] or
                     r.status in (Status.DISCONNECTED, Status.TIMEOUT) and r.value == 0.0)]
    assert not wrong, wrong
    for cid in value:
        st = [r.status for r in everything if r.channel == cid]
        runs = [k for i, k in enumerate(st) if i == 0 or st[i - 1] != k]
        # TIMEOUT: the port is back before the restarted peer serves it
        assert runs in ([Status.OK, Status.DISCONNECTED, Status.OK],
                        [Status.OK, Status.DISCONNECTED, Status.TIMEOUT, Status.OK]), \
            (engine.channel_info(cid)[0], runs)
    bus = engine.bus_stats(engine.find_bus("line"))
    assert (bus.opens, bus.losses) == (2, 1), {f: getattr(bus, f) for f, _ in bus._fields_}


def test_late_replies_never_reach_another_request(meter_peer, edgecore_engine, tmp_path):
    """A meter that answers 150 ms after each request, with a 100 ms response timeout and a 100 ms request
    gap: each late reply arrives in the gap and must be discarded, not taken by the next request."""
    entries = [e for e in CATALOGUE if e.name in ("voltage_a", "voltage_b")]
    peer, where, _ = meter_peer("dlt645", "rtu", meters=[METER], values=write_table(
        tmp_path / "t.txt", {f"{e.di:08X}": e.table for e in entries}), options=["--delay-ms", 150])
    engine = load(edgecore_engine, tmp_path, [rtu_bus(where["rtu"], [dlt_device(
        "m", METER, [{"name": f"m.{e.name}", "item": e.name, "interval_ms": 400} for e in entries],
        response_timeout_ms=100, offline_after=1000)], request_gap_ms=100)])
    ids = channel_ids(engine, [f"m.{e.name}" for e in entries])

    readings = run_until(engine, each_has(ids.values(), 4), timeout=10)

    assert [(r.status, r.value) for r in readings] == [(Status.TIMEOUT, 0.0)] * len(readings), \
        [describe(engine, r) for r in readings]
    s = engine.device_stats(engine.find_device("m"))
    assert s.requests == s.timeouts == len(readings) and (s.responses, s.frame_errors) == (0, 0), stats_dict(s)


# ----------------------------------------------------------------------------------------------------------
# 3. A dead meter among three: TIMEOUT, then OFFLINE; the live two keep their intervals
# ----------------------------------------------------------------------------------------------------------

def test_dlt645_dead_meter_among_three(meter_peer, edgecore_engine, tmp_path):
    meters = ["000000000001", "000000000002", "000000000003"]
    dead = meters[1]
    entries = [e for e in CATALOGUE if e.name in ("voltage_a", "current_b")]
    peer, where, _ = meter_peer("dlt645", "rtu", meters=meters, values=write_table(
        tmp_path / "t.txt", {f"{e.di:08X}": e.table for e in entries}), options=["--dead", dead, "--verbose"])
    interval = 200
    devices = [dlt_device(f"m{i}", address, [
        {"name": f"m{i}.{e.name}", "item": e.name, "interval_ms": interval}
        for e in entries[:1 if address == dead else 2]],
        response_timeout_ms=300 if address == dead else 1000, offline_after=2,
        backoff_min_ms=60_000, backoff_max_ms=60_000) for i, address in enumerate(meters)]
    engine = load(edgecore_engine, tmp_path, [rtu_bus(where["rtu"], devices)])
    live = {name: engine.find_channel(name) for name in ("m0.voltage_a", "m0.current_b", "m2.voltage_a",
                                                         "m2.current_b")}
    dead_ch = engine.find_channel("m1.voltage_a")

    started_ns = time.time_ns()
    engine.start()
    time.sleep(4.0)
    engine.stop()
    stopped_ns = time.time_ns()
    readings = engine.drain()

    per = by_channel(readings)
    # the dead meter: two polls time out (offline_after 2, no retries), then its readings are OFFLINE, at
    # the channel's interval, with no request (the back-off outlasts the test)
    dead_rs = per[dead_ch]
    statuses = [r.status for r in dead_rs]
    assert statuses[:2] == [Status.TIMEOUT] * 2 and set(statuses[2:]) == {Status.OFFLINE}, \
        [describe(engine, r) for r in dead_rs[:6]]
    assert all(r.value == 0.0 and r.status_detail == 0 for r in dead_rs)
    assert [r.sequence for r in dead_rs] == list(range(len(dead_rs)))
    assert len(dead_rs) >= 15
    s = engine.device_stats(engine.find_device("m1"))
    assert (s.requests, s.timeouts, s.responses, s.retries) == (2, 2, 0, 0), stats_dict(s)
    assert s.skipped_offline == statuses.count(Status.OFFLINE)
    assert s.state == DeviceState.OFFLINE and s.consecutive_failures == 2
    assert s.last_error == edgecore.E_DEVICE_TIMEOUT and s.last_ok_ns == 0
    assert [o for a, _, _, o in meter_requests(peer) if a == dead] == ["silent (dead)"] * 2
    assert "300 ms" in last_problem(engine, engine.find_device("m1"))
    assert last_problem(engine, engine.find_device("m0")) == ""
    # the live meters: exact values; their polls delayed by the dead meter's timeouts are caught up (the
    # engine's catch-up window, Engine/PollSchedule.swift), so each channel keeps its count over the run, and
    # once caught up they are read at their interval again
    check_values(engine, readings, {cid: (Status.OK, next(e.value for e in entries if name.endswith(e.name)))
                                    for name, cid in live.items()})
    offline_at = next(r.timestamp_ns for r in dead_rs if r.status == Status.OFFLINE)
    run_ms = (stopped_ns - started_ns) / 1e6
    for name, cid in live.items():
        count = len(per[cid])
        assert run_ms / interval - 2 <= count <= run_ms / interval + 2, (name, count, run_ms)
        steady = [r.timestamp_ns for r in per[cid] if r.timestamp_ns >= offline_at + 1_000_000_000]
        gaps = [(b - a) / 1e6 for a, b in zip(steady, steady[1:])]
        assert len(gaps) >= 8 and all(interval - 80 < g < interval + 80 for g in gaps), (name, gaps)
        st = engine.device_stats(engine.find_device(name.split(".")[0]))
        assert st.state == DeviceState.ONLINE and st.timeouts == 0 and st.requests == st.responses
    assert sum(engine.device_stats(engine.find_device(m)).responses for m in ("m0", "m2")) == \
        sum(len(per[c]) for c in live.values())


# ----------------------------------------------------------------------------------------------------------
# 4. Noise and FE bytes before the replies; spoiled checksums are the only CRC errors
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("noise, preamble", [
    ("00 FF 33 16 00 FE", 2),   # bytes that are no frame, then FE FE
    ("FE FE FE FE FE FE", 4),   # ten FE bytes in all
    ("00 FF 68 11 33", 4),      # a stray 0x68 whose header looks plausible (the second 0x68 at 7 is the
                                # real frame's): the scanner must find the real frame behind it
], ids=["junk", "many-fe", "stray-68"])
def test_dlt645_noise_and_preamble(meter_peer, edgecore_engine, tmp_path, noise, preamble):
    entries = [e for e in CATALOGUE if e.name in ("voltage_a", "current_b", "active_power_b",
                                                  "forward_active_energy_t3_prev4")]
    peer, where, _ = meter_peer("dlt645", "rtu", meters=[METER], values=write_table(
        tmp_path / "t.txt", {f"{e.di:08X}": e.table for e in entries}),
        options=["--noise", noise, "--preamble", preamble, "--verbose"])
    channels = [{"name": f"m.{e.name}", "item": e.name, "interval_ms": 100} for e in entries]
    # with the stray 0x68, the real frame is found when the answer window closes (MeterFrameScanner): each
    # read then takes the whole response timeout
    engine = load(edgecore_engine, tmp_path, [rtu_bus(where["rtu"], [dlt_device("m", METER, channels,
                                                                                response_timeout_ms=300)])])
    ids = channel_ids(engine, [c["name"] for c in channels])

    readings = run_until(engine, each_has(ids.values(), 3), timeout=15)

    check_values(engine, readings, {ids[f"m.{e.name}"]: (Status.OK, e.value) for e in entries})
    s = engine.device_stats(engine.find_device("m"))
    assert (s.requests, s.responses, s.frame_errors, s.timeouts) == (len(readings), len(readings), 0, 0), \
        stats_dict(s)
    assert len(meter_requests(peer)) == len(readings)
    # every reply is whole within milliseconds: no transaction may outlast the response timeout (300 ms;
    # include/edgecore.h: "the whole answer must arrive within it"), not even when the window ends inside
    # the stray 0x68's false frame
    assert s.latency_max_us < 300_000 + 50_000, \
        f"a transaction took {s.latency_max_us / 1000:.0f} ms with a 300 ms response timeout ({stats_dict(s)})"


def test_dlt645_spoiled_checksums_behind_noise(meter_peer, edgecore_engine, tmp_path):
    """Every 4th reply has its checksum off by one, behind noise and FE bytes: exactly those readings are
    CRC_ERROR (no retries), the others exact."""
    entries = [e for e in CATALOGUE if e.name in ("voltage_c", "current_c", "frequency")]
    peer, where, _ = meter_peer("dlt645", "rtu", meters=[METER], values=write_table(
        tmp_path / "t.txt", {f"{e.di:08X}": e.table for e in entries}),
        options=["--noise", "00 FF 33 16", "--bad-checksum-every", 4, "--verbose"])
    channels = [{"name": f"m.{e.name}", "item": e.name, "interval_ms": 60} for e in entries]
    engine = load(edgecore_engine, tmp_path, [rtu_bus(where["rtu"], [dlt_device(
        "m", METER, channels, response_timeout_ms=500, offline_after=3)])])
    ids = channel_ids(engine, [c["name"] for c in channels])
    value_of = {ids[f"m.{e.name}"]: e.value for e in entries}

    readings = run_until(engine, lambda rs: len(rs) >= 24, timeout=15)

    n = len(readings)
    want = [(Status.CRC_ERROR, 0.0) if (i + 1) % 4 == 0 else (Status.OK, value_of[r.channel])
            for i, r in enumerate(readings)]
    got = [(r.status, r.value) for r in readings]
    assert got == want, [describe(engine, r) for r in readings]
    spoiled = peer.stderr_text().count("checksum spoiled")
    s = engine.device_stats(engine.find_device("m"))
    assert (s.requests, s.frame_errors, s.responses, s.retries, s.timeouts) == (n, n // 4, n - n // 4, 0, 0), \
        stats_dict(s)
    assert spoiled == n // 4 and s.skipped_offline == 0
    assert re.fullmatch(r"frame checksum 0x[0-9A-F]{2}, the bytes sum to 0x[0-9A-F]{2}",
                        last_problem(engine, engine.find_device("m")))


# ----------------------------------------------------------------------------------------------------------
# 5. A meter and a Modbus slave on one line (same serial settings)
# ----------------------------------------------------------------------------------------------------------

def test_meter_and_modbus_slave_on_one_line(shared_line, meter_peer, libmodbus_server, edgecore_engine, tmp_path):
    master, meter_device, modbus_device = shared_line(3)
    entries = [e for e in CATALOGUE if e.name in ("voltage_a", "forward_active_energy_total", "current_b")]
    peer, _, _ = meter_peer("dlt645", "rtu", device=meter_device, meters=[METER], values=write_table(
        tmp_path / "t.txt", {f"{e.di:08X}": e.table for e in entries}), options=["--verbose"])
    map_file = tmp_path / "modbus.txt"
    map_file.write_text("1 holding 0 0x1234 0x5678\n")
    slave = libmodbus_server(rtu=modbus_device, map=str(map_file), baud=2400, parity="E", verbose=True)
    modbus = {"name": "plc", "unit_id": 1, "response_timeout_ms": 1000, "retries": 0, "channels": [
        {"name": "plc.r0", "address": 0, "interval_ms": 100}, {"name": "plc.r1", "address": 1, "interval_ms": 100}]}
    meter = dlt_device("m", METER, [{"name": f"m.{e.name}", "item": e.name, "interval_ms": 100} for e in entries])
    # request_gap_ms: the pty delivers a reply at once, where a 2400 baud wire takes ~100 ms; modbus_server
    # ends a frame at >= 50 ms of silence on a pty, so the line's own 3.5 characters (16 ms) would run a
    # meter's reply and the next Modbus request together for it
    engine = load(edgecore_engine, tmp_path, [rtu_bus(master, [modbus, meter], request_gap_ms=60)])
    plc_ch = channel_ids(engine, ["plc.r0", "plc.r1"])
    meter_ch = channel_ids(engine, [f"m.{e.name}" for e in entries])

    readings = run_until(engine, each_has(list(plc_ch.values()) + list(meter_ch.values()), 6), timeout=15)

    expected = {plc_ch["plc.r0"]: (Status.OK, 0x1234), plc_ch["plc.r1"]: (Status.OK, 0x5678)}
    expected.update({meter_ch[f"m.{e.name}"]: (Status.OK, e.value) for e in entries})
    check_values(engine, readings, expected)
    # interleaved: the line alternates between the two protocols, not one after the other
    kinds = ["plc" if r.channel in plc_ch.values() else "meter" for r in readings]
    switches = sum(1 for a, b in zip(kinds, kinds[1:]) if a != b)
    assert switches >= 8, kinds
    plc = engine.device_stats(engine.find_device("plc"))
    m = engine.device_stats(engine.find_device("m"))
    for s in (plc, m):
        assert s.requests == s.responses and (s.timeouts, s.frame_errors, s.exceptions) == (0, 0, 0), stats_dict(s)
    assert m.requests == sum(1 for k in kinds if k == "meter") == len(meter_requests(peer))
    assert len(logged_requests(slave)) == plc.requests


# ----------------------------------------------------------------------------------------------------------
# 6. DL/T 645-1997: the package serves 2007 only (a 1997 read, C 0x01, is answered 0xC1 01)
# ----------------------------------------------------------------------------------------------------------

def test_dlt645_1997_read_reaches_the_meter(meter_peer, edgecore_engine, tmp_path):
    """The dlt645 package has no DL/T 645-1997 (see Tests/Peers/dlt645_peer.py): it answers every 1997 read
    with the abnormal reply C1 01. So this checks the engine's 1997 request (C 0x01 to the meter's address)
    and its reading of the 1997 abnormal reply (EXCEPTION, detail 0x01 "illegal data"); 1997 values are not
    checked against an independent peer."""
    peer, where, _ = meter_peer("dlt645", "tcp", meters=[METER], options=["--verbose"])
    channels = [{"name": "old.voltage_a", "item": "voltage_a", "interval_ms": 100},
                {"name": "old.energy", "item": "forward_active_energy_total", "interval_ms": 100},
                {"name": "old.b612", "di": Raw("0xB612"), "interval_ms": 100}]
    engine = load(edgecore_engine, tmp_path, [tcp_bus(where["tcp"], [dlt_device("old", METER, channels,
                                                                               protocol="dlt645-1997")])])
    ids = channel_ids(engine, [c["name"] for c in channels])
    assert engine.channel_info(ids["old.voltage_a"])[1] == "V"
    assert engine.channel_info(ids["old.energy"])[1] == "kWh"

    readings = run_until(engine, each_has(ids.values(), 3), timeout=10)

    assert [(r.status, r.status_detail, r.value) for r in readings] == [(Status.EXCEPTION, 0x01, 0.0)] * \
        len(readings), [describe(engine, r) for r in readings]
    log = meter_requests(peer)
    assert log == [(METER, 0x01, 0, "abnormal 01")] * len(readings)
    s = engine.device_stats(engine.find_device("old"))
    assert (s.requests, s.exceptions, s.timeouts, s.frame_errors) == (len(readings),) * 2 + (0, 0), stats_dict(s)


# ----------------------------------------------------------------------------------------------------------
# 7. CJ/T 188 water and heat meters: every field, one request per poll, the valve, unit conversion
# ----------------------------------------------------------------------------------------------------------

WATER = "00000012345678"
HEAT = "00000087654321"
WATER_TABLE = {"flow": "1234.56", "settlement_flow": "1200.07", "time": "20261202081530", "battery_low": "1"}
HEAT_TABLE = {"settlement_heat": "1500.25", "heat": "1534.5", "power": "12.34", "flow_rate": "1.2345",
              "flow": "567.89", "supply_temp": "65.43", "return_temp": "45.21", "hours": "8760",
              "time": "20261231235959", "valve": "abnormal"}
WATER_EXPECTED = {  # item: (value, unit)
    "current_flow": (exact(123456, 2), "m3"), "settlement_flow": (exact(120007, 2), "m3"),
    "real_time": (20261202081530.0, ""), "status": (float(0x04), ""), "valve_state": (0.0, ""),
    "battery_low": (1.0, ""),
}
HEAT_EXPECTED = {
    "settlement_heat": (exact(150025, 2), "kWh"), "current_heat": (exact(153450, 2), "kWh"),
    "heat_power": (exact(1234, 2), "kW"), "flow_rate": (exact(12345, 4), "m3/h"),
    "cumulative_flow": (exact(56789, 2), "m3"), "supply_temperature": (exact(6543, 2), "degC"),
    "return_temperature": (exact(4521, 2), "degC"), "working_hours": (8760.0, "h"),
    "real_time": (20261231235959.0, ""), "status": (float(0x03), ""), "valve_state": (3.0, ""),
    "battery_low": (0.0, ""),
}


@pytest.mark.parametrize("transport", ["rtu", "tcp"])
def test_cjt188_water_and_heat_fields(meter_peer, edgecore_engine, tmp_path, transport):
    water = write_table(tmp_path / "water.txt", WATER_TABLE)
    heat = write_table(tmp_path / "heat.txt", HEAT_TABLE)
    peer, where, _ = meter_peer("cjt188", transport, meters=[f"10:{WATER}={water}", f"20:{HEAT}={heat}"],
                                options=["--verbose"])
    devices = [
        cjt_device("w", 0x10, WATER, [{"name": f"w.{item}", "item": item, "interval_ms": 150}
                                      for item in WATER_EXPECTED]),
        cjt_device("h", 0x20, HEAT, [{"name": f"h.{item}", "item": item, "interval_ms": 150}
                                     for item in HEAT_EXPECTED]),
    ]
    engine = load(edgecore_engine, tmp_path, [bus_for(where, devices)])
    expected, units = {}, {}
    for prefix, table in (("w", WATER_EXPECTED), ("h", HEAT_EXPECTED)):
        for item, (value, unit) in table.items():
            cid = engine.find_channel(f"{prefix}.{item}")
            expected[cid] = (Status.OK, value)
            units[f"{prefix}.{item}"] = (engine.channel_info(cid)[1], unit)
    assert all(got == want for got, want in units.values()), units

    readings = run_until(engine, each_has(expected, 4), timeout=15)

    check_values(engine, readings, expected)
    per = by_channel(readings)
    log = meter_requests(peer)
    for prefix, meter_type, address, table in (("w", 0x10, WATER, WATER_EXPECTED), ("h", 0x20, HEAT, HEAT_EXPECTED)):
        # one 901F request per poll serves all the meter's channels (same interval): as many requests as
        # readings per channel
        counts = {len(per[engine.find_channel(f"{prefix}.{item}")]) for item in table}
        requests = [entry for entry in log if entry[0] == f"{meter_type:02X} {address}"]
        assert len(counts) == 1 and requests == [(f"{meter_type:02X} {address}", 0x01, 0x901F, "reply")] * \
            counts.pop(), (counts, requests[:3])
        s = engine.device_stats(engine.find_device(prefix))
        assert s.requests == s.responses == len(requests) and (s.timeouts, s.frame_errors) == (0, 0), stats_dict(s)


@pytest.mark.parametrize("option", [["--wrong-ser"], ["--wrong-di", "902F"]], ids=["wrong-ser", "wrong-di"])
def test_cjt188_reply_not_matching_the_request_is_crc_error(meter_peer, edgecore_engine, tmp_path, option):
    water = write_table(tmp_path / "water.txt", WATER_TABLE)
    peer, where, _ = meter_peer("cjt188", "tcp", meters=[f"10:{WATER}={water}"], options=option + ["--verbose"])
    engine = load(edgecore_engine, tmp_path, [tcp_bus(where["tcp"], [cjt_device("w", 0x10, WATER, [
        {"name": "w.flow", "item": "current_flow", "interval_ms": 50},
        {"name": "w.valve", "item": "valve_state", "interval_ms": 50}], offline_after=100)])])

    readings = run_until(engine, lambda rs: len(rs) >= 10, timeout=10)

    assert [(r.status, r.value, r.status_detail) for r in readings] == [(Status.CRC_ERROR, 0.0, 0)] * len(readings)
    s = engine.device_stats(engine.find_device("w"))
    assert s.frame_errors == s.requests == len(meter_requests(peer)) == len(readings) // 2, stats_dict(s)


def test_cjt188_identifier_order_and_abnormal_reply(meter_peer, edgecore_engine, tmp_path):
    """A peer that reads DIs high byte first (--di-order msb): the meter set to identifier_order high_first
    reads; the one left at low_first asks for "1F90", gets the abnormal reply C1 (SER ST0 ST1), and its
    readings are EXCEPTION with the status word ST1 << 8 | ST0 (here valve closed + battery low: 0x0005)."""
    other = "00000012340001"
    water = write_table(tmp_path / "water.txt", WATER_TABLE)
    closed = write_table(tmp_path / "closed.txt", dict(WATER_TABLE, valve="closed"))
    peer, where, _ = meter_peer("cjt188", "rtu", meters=[f"10:{WATER}={water}", f"10:{other}={closed}"],
                                options=["--di-order", "msb", "--verbose"])
    engine = load(edgecore_engine, tmp_path, [rtu_bus(where["rtu"], [
        cjt_device("hi", 0x10, WATER, [{"name": "hi.flow", "item": "current_flow", "interval_ms": 100}],
                   identifier_order="high_first"),
        cjt_device("lo", 0x10, other, [{"name": "lo.flow", "item": "current_flow", "interval_ms": 100},
                                       {"name": "lo.valve", "item": "valve_state", "interval_ms": 100}],
                   offline_after=2)])])
    hi, lo_flow, lo_valve = (engine.find_channel(n) for n in ("hi.flow", "lo.flow", "lo.valve"))

    readings = run_until(engine, each_has([hi, lo_flow, lo_valve], 4), timeout=10)

    per = by_channel(readings)
    check_values(engine, readings, {hi: (Status.OK, exact(123456, 2))})
    for cid in (lo_flow, lo_valve):
        assert [(r.status, r.status_detail, r.value) for r in per[cid]] == \
            [(Status.EXCEPTION, 0x0005, 0.0)] * len(per[cid]), [describe(engine, r) for r in per[cid]]
    s = engine.device_stats(engine.find_device("lo"))
    assert (s.exceptions, s.requests, s.state) == (len(per[lo_flow]), len(per[lo_flow]), DeviceState.ONLINE), \
        stats_dict(s)
    log = meter_requests(peer)
    assert {entry for entry in log if entry[0].endswith(other)} == {(f"10 {other}", 0x01, 0x1F90, "abnormal")}
    assert {entry for entry in log if entry[0].endswith(WATER)} == {(f"10 {WATER}", 0x01, 0x901F, "reply")}


def test_cjt188_valve_write(meter_peer, edgecore_engine, tmp_path):
    water = write_table(tmp_path / "water.txt", WATER_TABLE)
    peer, where, _ = meter_peer("cjt188", "rtu", meters=[f"10:{WATER}={water}"], options=["--verbose"])
    engine = load(edgecore_engine, tmp_path, [rtu_bus(where["rtu"], [cjt_device("w", 0x10, WATER, [
        {"name": "w.valve", "item": "valve_state", "writable": True, "interval_ms": 100},
        {"name": "w.status", "item": "status", "interval_ms": 100},
        {"name": "w.flow", "item": "current_flow", "interval_ms": 100}])])])
    valve, status, flow = (engine.find_channel(n) for n in ("w.valve", "w.status", "w.flow"))

    def readings_until(predicate, timeout=5.0):
        return engine.collect_until(predicate, timeout)

    def valve_reads(value):
        return lambda rs: any(r.channel == valve and r.status == Status.OK and r.value == value for r in rs)

    engine.start()
    try:
        first = readings_until(valve_reads(0.0))                     # open, battery low: ST0 = 0x04
        engine.write(valve, 1)                                       # close: DI A017, 0x99
        closed = readings_until(valve_reads(1.0))
        later = readings_until(each_has([valve, status], 2))         # stays closed
        engine.write(valve, 0)                                       # open: 0x55
        opened = readings_until(valve_reads(0.0))
        with pytest.raises(edgecore.EdgeCoreError) as value_error:
            engine.write(valve, 2)                                   # neither open nor close
        with pytest.raises(edgecore.EdgeCoreError) as not_writable:
            engine.write(flow, 1)
    finally:
        engine.stop()
    assert value_error.value.code == edgecore.E_VALUE
    assert not_writable.value.code == edgecore.E_NOT_WRITABLE
    assert [r.value for r in later if r.channel == valve] == [1.0] * len([r for r in later if r.channel == valve])
    assert {r.value for r in later if r.channel == status} == {float(0x05)}   # closed + battery low
    assert all(r.status == Status.OK for r in first + closed + later + opened)
    assert {r.value for r in first + closed + later + opened if r.channel == flow} == {exact(123456, 2)}
    writes = [entry for entry in meter_requests(peer) if entry[1] == 0x04]
    assert writes == [(f"10 {WATER}", 0x04, 0xA017, "reply")] * 2
    s = engine.device_stats(engine.find_device("w"))
    assert (s.timeouts, s.frame_errors, s.exceptions) == (0, 0, 0), stats_dict(s)


def test_cjt188_unit_conversion(meter_peer, edgecore_engine, tmp_path):
    """Values the meter reports in another unit of the same quantity are converted to the channel's unit (the
    default unit, or the one the channel names); a unit the channel's unit cannot take is CRC_ERROR."""
    water = write_table(tmp_path / "water.txt", {"flow": "1234.56", "flow_unit": "29",          # L
                                                 "settlement_flow": "1200.07"})                  # m3
    heat = write_table(tmp_path / "heat.txt", {
        "settlement_heat": "3.6", "settlement_heat_unit": "11",   # GJ
        "heat": "1.5", "heat_unit": "0A",                         # MWh x 100
        "power": "12.34", "power_unit": "14",                     # W
        "flow_rate": "1234.5678", "flow_rate_unit": "32",         # L/h
        "flow": "567.89", "flow_unit": "29"})                     # L
    peer, where, _ = meter_peer("cjt188", "tcp", meters=[f"10:{WATER}={water}", f"20:{HEAT}={heat}"])
    devices = [
        cjt_device("w", 0x10, WATER, [
            {"name": "w.flow_m3", "item": "current_flow", "interval_ms": 100},
            {"name": "w.flow_l", "item": "current_flow", "unit": "L", "interval_ms": 100},
            {"name": "w.settlement_l", "item": "settlement_flow", "unit": "L", "interval_ms": 100},
            {"name": "w.flow_kwh", "item": "current_flow", "unit": "kWh", "interval_ms": 100}]),
        cjt_device("h", 0x20, HEAT, [
            {"name": "h.settlement_heat", "item": "settlement_heat", "interval_ms": 100},
            {"name": "h.settlement_heat_mj", "item": "settlement_heat", "unit": "MJ", "interval_ms": 100},
            {"name": "h.current_heat", "item": "current_heat", "interval_ms": 100},
            {"name": "h.heat_power", "item": "heat_power", "interval_ms": 100},
            {"name": "h.flow_rate", "item": "flow_rate", "interval_ms": 100},
            {"name": "h.cumulative_flow", "item": "cumulative_flow", "interval_ms": 100}]),
    ]
    engine = load(edgecore_engine, tmp_path, [tcp_bus(where["tcp"], devices)])
    J = {"GJ": 1e9, "MJ": 1e6, "kWh": 3.6e6, "MWh": 3.6e9, "W": 1.0, "kW": 1e3}
    want = {  # name: (value, unit)
        "w.flow_m3": (exact(123456, 2) / 1000, "m3"),
        "w.flow_l": (exact(123456, 2), "L"),
        "w.settlement_l": (exact(120007, 2) * 1000, "L"),
        "h.settlement_heat": (exact(360, 2) * J["GJ"] / J["kWh"], "kWh"),
        "h.settlement_heat_mj": (exact(360, 2) * J["GJ"] / J["MJ"], "MJ"),
        "h.current_heat": (exact(150, 2) * 100 * J["MWh"] / J["kWh"], "kWh"),
        "h.heat_power": (exact(1234, 2) / 1000, "kW"),
        "h.flow_rate": (exact(12345678, 4) / 1000, "m3/h"),
        "h.cumulative_flow": (exact(56789, 2) / 1000, "m3"),
    }
    ids = channel_ids(engine, list(want) + ["w.flow_kwh"])
    assert {name: engine.channel_info(ids[name])[1] for name in want} == {n: u for n, (_, u) in want.items()}

    readings = run_until(engine, each_has(ids.values(), 3), timeout=10)

    per = by_channel(readings)
    for name, (value, _) in want.items():
        rs = per[ids[name]]
        assert all(r.status == Status.OK for r in rs), [describe(engine, r) for r in rs]
        assert all(r.value == pytest.approx(value, rel=1e-12) for r in rs), (name, [r.value for r in rs], value)
    assert [(r.status, r.value) for r in per[ids["w.flow_kwh"]]] == [(Status.CRC_ERROR, 0.0)] * \
        len(per[ids["w.flow_kwh"]])


# ----------------------------------------------------------------------------------------------------------
# 8. Actions: address discovery and the broadcast time sync
# ----------------------------------------------------------------------------------------------------------

def test_discover_one_meter_then_two(meter_peer, edgecore_engine, tmp_path):
    one, where_one, _ = meter_peer("dlt645", "rtu", meters=[METER], options=["--verbose"])
    two, where_two, _ = meter_peer("dlt645", "tcp", meters=[METER, "000000000042"], options=["--verbose"])
    none, where_none, _ = meter_peer("dlt645", "rtu", meters=["000000000007"], options=["--dead", "000000000007"])
    # the engine starts only with a channel: one read of the meter at start, on the first line
    only = dlt_device("only", METER, [{"name": "only.v", "item": "voltage_a", "interval_ms": ONCE_MS}])
    engine = load(edgecore_engine, tmp_path, [rtu_bus(where_one["rtu"], [only], name="one"),
                                              tcp_bus(where_two["tcp"], [], name="two"),
                                              rtu_bus(where_none["rtu"], [], name="none")])
    buses = {name: engine.find_bus(name) for name in ("one", "two", "none")}
    assert meter_discover(engine, buses["one"])[0] == edgecore.E_NOT_RUNNING
    engine.start()
    try:
        found = meter_discover(engine, buses["one"])
        t0 = time.monotonic()
        ambiguous = meter_discover(engine, buses["two"])
        nobody = meter_discover(engine, buses["none"])
        elapsed = time.monotonic() - t0
    finally:
        engine.stop()
    assert found == (0, METER)
    assert ambiguous[0] == E_AMBIGUOUS, ambiguous
    assert nobody[0] == edgecore.E_DEVICE_TIMEOUT, nobody
    assert elapsed < 5.0
    assert [entry for entry in meter_requests(one) if entry[1] == 0x13] == [(METER, 0x13, 0, "reply")]
    assert sorted(meter_requests(two)) == [("000000000042", 0x13, 0, "reply"), (METER, 0x13, 0, "reply")]


class LineListener:
    """A party of a shared_line that only listens: every byte of the master and the peers, in order."""

    def __init__(self, device: str):
        import threading

        import serial

        self.heard = bytearray()
        self.listening = threading.Event()
        self.listening.set()
        self.port = serial.Serial(device, baudrate=2400, parity="E", timeout=0.05)
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        while self.listening.is_set():
            self.heard.extend(self.port.read(4096))

    def stop(self) -> bytes:
        self.listening.clear()
        self.thread.join(timeout=2)
        self.port.close()
        return bytes(self.heard)


def test_request_frames_on_the_wire(shared_line, meter_peer, edgecore_engine, tmp_path):
    """What the engine sends, byte for byte, seen by a listener on the line: each meter's FE preamble
    (preamble 0 and 2), the checked read vector of docs/meter-protocols.md, the time sync broadcast and the
    read-address request."""
    from meter_frames import address_bytes, dlt_decode, dlt_encode, hexbytes

    master, meter_device, listener_device = shared_line(3)
    other = "000000000042"
    entries = [e for e in CATALOGUE if e.name in ("combined_active_energy_total", "voltage_a")]
    meter_peer("dlt645", "rtu", device=meter_device, meters=[METER, other], values=write_table(
        tmp_path / "t.txt", {f"{e.di:08X}": e.table for e in entries}))
    listener = LineListener(listener_device)
    engine = load(edgecore_engine, tmp_path, [rtu_bus(master, [
        dlt_device("a", METER, [{"name": "a.energy", "item": "combined_active_energy_total", "interval_ms": ONCE_MS}],
                   preamble=0, allow_time_sync=True),
        dlt_device("b", other, [{"name": "b.v", "item": "voltage_a", "interval_ms": ONCE_MS}],
                   preamble=2, allow_time_sync=True)])])
    bus = engine.find_bus("line")
    when = int(time.mktime((2026, 12, 2, 8, 15, 30, 0, 0, -1)))
    engine.start()
    try:
        readings = engine.collect_until(each_has([engine.find_channel("a.energy"), engine.find_channel("b.v")], 1),
                                        timeout=5)
        sync = meter_time_sync(engine, bus, when)
        discovered = meter_discover(engine, bus)
        time.sleep(0.3)
    finally:
        engine.stop()
        heard = listener.stop()
    assert [r.status for r in readings] == [Status.OK, Status.OK] and (sync, discovered[0]) == (0, E_AMBIGUOUS)
    requests = [f for f in dlt_decode(heard)[0] if f.control < 0x80]
    sent = [b"\xFE" * f.preamble + dlt_encode(f.address, f.control, f.data) for f in requests]
    assert sent == [
        hexbytes("68 12 90 78 56 34 12 68 11 04 33 33 33 33 67 16"),                    # the checked vector
        b"\xFE\xFE" + dlt_encode(address_bytes(other, 6), 0x11, (0x02010100).to_bytes(4, "little")),
        b"\xFE" * requests[2].preamble + dlt_encode(b"\x99" * 6, 0x08, bytes((0x30, 0x15, 0x08, 0x02, 0x12, 0x26))),
        hexbytes("FE FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16"),                    # read address
    ], heard.hex(" ")
    assert requests[2].preamble <= 4


def test_cjt188_request_frames_on_the_wire(shared_line, meter_peer, edgecore_engine, tmp_path):
    """The CJ/T 188 requests as sent: the device's preamble, type, address, C 01 with DI 1F 90 (low byte
    first) and a sequence byte SER that changes from one request to the next (a late reply cannot match the
    next request), and the valve write C 04, DI 17 A0, SER, 0x99."""
    from meter_frames import address_bytes, cjt_decode

    master, meter_device, listener_device = shared_line(3)
    water = write_table(tmp_path / "water.txt", WATER_TABLE)
    meter_peer("cjt188", "rtu", device=meter_device, meters=[f"10:{WATER}={water}"])
    listener = LineListener(listener_device)
    engine = load(edgecore_engine, tmp_path, [rtu_bus(master, [cjt_device("w", 0x10, WATER, [
        {"name": "w.flow", "item": "current_flow", "interval_ms": 50},
        {"name": "w.valve", "item": "valve_state", "writable": True, "interval_ms": 50}], preamble=1)])])
    flow = engine.find_channel("w.flow")
    engine.start()
    try:
        readings = engine.collect_until(each_has([flow], 4), timeout=5)
        engine.write(engine.find_channel("w.valve"), 1)
        readings += engine.collect_until(each_has([flow], 2), timeout=5)
    finally:
        engine.stop()
        heard = listener.stop()
    assert all(r.status == Status.OK for r in readings)
    frames = cjt_decode(heard)[0]
    requests = [f for f in frames if f.control < 0x80]
    replies = [f for f in frames if f.control >= 0x80]
    assert len(requests) == len(replies) >= 7
    assert {(f.preamble, f.meter_type, f.address) for f in requests} == {(1, 0x10, address_bytes(WATER, 7))}
    reads = [f for f in requests if f.control == 0x01]
    writes = [f for f in requests if f.control == 0x04]
    assert {f.data[:2] for f in reads} == {b"\x1F\x90"} and {len(f.data) for f in reads} == {3}
    assert [(f.data[:2], f.data[3:]) for f in writes] == [(b"\x17\xA0", b"\x99")]
    sers = [f.ser for f in requests]
    assert all(a != b for a, b in zip(sers, sers[1:])), sers
    assert [f.ser for f in replies] == sers  # the peer echoes each


def bcd(n: int) -> int:
    return int(f"{n:02d}", 16)


def test_time_sync_broadcast(meter_peer, edgecore_engine, tmp_path):
    meters = [METER, "000000000042"]
    peer, where, _ = meter_peer("dlt645", "rtu", meters=meters, options=["--verbose"])
    refused, where_refused, _ = meter_peer("dlt645", "tcp", meters=meters, options=["--verbose"])

    def devices(prefix, allow):
        return [dlt_device(f"{prefix}{i}", address, [{"name": f"{prefix}{i}.v", "item": "voltage_a",
                                                      "interval_ms": ONCE_MS}], allow_time_sync=allowed)
                for i, (address, allowed) in enumerate(zip(meters, allow))]
    engine = load(edgecore_engine, tmp_path, [
        rtu_bus(where["rtu"], devices("a", [True, True]), name="synced"),
        tcp_bus(where_refused["tcp"], devices("b", [True, False]), name="mixed")])
    synced, mixed = engine.find_bus("synced"), engine.find_bus("mixed")
    when = int(time.mktime((2026, 12, 2, 8, 15, 30, 0, 0, -1)))  # local time, as the engine converts
    local = time.localtime(when)
    engine.start()
    try:
        engine.collect(0.5)
        rc = meter_time_sync(engine, synced, when)
        rc_mixed = meter_time_sync(engine, mixed, when)
        rc_range = meter_time_sync(engine, synced, int(time.mktime((2100, 1, 1, 0, 0, 0, 0, 0, -1))))
        time.sleep(0.3)
    finally:
        engine.stop()
    assert rc == 0
    assert rc_mixed == edgecore.E_NOT_WRITABLE
    assert rc_range == edgecore.E_VALUE
    # the broadcast reaches both meters, which stay silent; the peer logs the first 4 data bytes (less 0x33)
    # as a DI: ss mm hh DD, seconds first (YYMMDDhhmmss sent least significant byte first)
    di = bcd(local.tm_mday) << 24 | bcd(local.tm_hour) << 16 | bcd(local.tm_min) << 8 | bcd(local.tm_sec)
    syncs = [entry for entry in meter_requests(peer) if entry[1] == 0x08]
    assert sorted(syncs) == sorted((m, 0x08, di, "silent") for m in meters), syncs
    assert [entry for entry in meter_requests(refused) if entry[1] == 0x08] == []
