"""Engine configuration both ways (C setters and a YAML file), the planner as seen on the wire, configuration
errors, and the dry-run plan text.

The libmodbus server started with verbose=True logs every request it receives (unit, function, address,
quantity): the planner's requests are checked there, not only in the plan text.
"""
from __future__ import annotations

import ctypes
import os

import pytest

import edgecore
from edgecore import Status
from harness import add_bus, by_channel, each_has, logged_requests

# ------------------------------------------------------------------------------------------------------
# One site, two ways
# ------------------------------------------------------------------------------------------------------

SITE_YAML = """\
# a site on two peers: a TCP one and an RTU one (a socat pty pair)
buses:
  - name: plant-tcp
    type: tcp
    host: 127.0.0.1
    port: {port}
    connect_timeout_ms: 500
    reconnect_min_ms: 50
    reconnect_max_ms: 300
    request_gap_ms: 1
    devices:
      - name: meter
        unit_id: 1
        response_timeout_ms: 400
        retries: 2
        offline_after: 4
        backoff_min_ms: 500
        backoff_max_ms: 4000
        max_registers: 40
        max_bits: 8
        holes:
          - {{function: holding, first: 10, last: 11}}
        channels:
          - {{name: meter.u16, address: 0, type: u16, unit: V, interval_ms: 100}}
          - {{name: meter.i16_scaled, address: 0x10, type: i16, scale: 0.5, offset: -1, interval_ms: 100}}
          - {{name: meter.u32_cdab, address: 36, type: u32, order: CDAB, interval_ms: 100}}
          - {{name: meter.f32_dcba, function: holding, address: 108, type: f32, order: DCBA, interval_ms: 100}}
          - {{name: meter.f64_badc, function: input, address: 120, type: f64, order: BADC, interval_ms: 100}}
          - {{name: meter.i64, function: input_registers, address: 80, type: i64, interval_ms: 100,
             valid_min: 0}}
          - {{name: meter.sentinel, function: input, address: 0, type: u16, sentinels: [0x2345, 7],
             interval_ms: 100}}
          - {{name: meter.bit5, address: 200, type: bit, bit: 5, writable: true, interval_ms: 100}}
          - {{name: meter.coil3, function: coils, address: 3, type: bit, interval_ms: 100}}
          - {{name: meter.coil9, function: coil, address: 9, type: bit, writable: yes, interval_ms: 100}}
          - {{name: meter.di1, function: discrete, address: 1, type: bit, interval_ms: 200}}
          - {{name: meter.in_range, function: 4, address: 96, type: f32, valid_min: -50, valid_max: 50,
             interval_ms: 200}}
      - name: pump
        unit_id: 2
        one_channel_per_request: true
        response_timeout_ms: 400
        channels:
          - {{name: pump.a, address: 0, interval_ms: 150}}
          - {{name: pump.b, address: 1, type: i16, interval_ms: 150}}
          - {{name: pump.c, address: 2, type: f32, interval_ms: 150}}
  - name: field-rtu
    type: rtu
    device: {device}
    baud: 19200
    parity: E
    stop_bits: 1
    reopen_min_ms: 50
    reopen_max_ms: 300
    devices:
      - name: sensor
        unit_id: 3
        response_timeout_ms: 300
        channels:
          - {{name: sensor.u16, address: 0, unit: ppm, interval_ms: 100}}
          - {{name: sensor.u32, address: 1, type: u32, order: CDAB, interval_ms: 100}}
          - {{name: sensor.di, function: discrete, address: 1, type: bit, interval_ms: 100}}
"""

#: the readings SITE_YAML must give: channel name -> (status, value)
SITE_EXPECTED = {
    "meter.u16": (Status.OK, 0x1234),
    "meter.i16_scaled": (Status.OK, -12345 * 0.5 - 1),
    "meter.u32_cdab": (Status.OK, 0x89ABCDEF),
    "meter.f32_dcba": (Status.OK, 0.0010000000474974513),  # float32(1.0e-3)
    "meter.f64_badc": (Status.OK, 2.718281828459045),
    "meter.i64": (Status.OUT_OF_RANGE, -2345678901234567),
    "meter.sentinel": (Status.SENTINEL, 0.0),
    "meter.bit5": (Status.OK, (0xA5C3 >> 5) & 1),
    "meter.coil3": (Status.OK, 1),
    "meter.coil9": (Status.OK, 1),
    "meter.di1": (Status.OK, 1),
    "meter.in_range": (Status.OK, -40.5),
    "pump.a": (Status.OK, 202),
    "pump.b": (Status.OK, -2),
    "pump.c": (Status.OK, 2.5),
    "sensor.u16": (Status.OK, 303),
    "sensor.u32": (Status.OK, 3000003),
    "sensor.di": (Status.OK, 1),
}


def build_site_with_setters(engine, port: int, device: str) -> None:
    """SITE_YAML, call for call through the C setters."""
    tcp = engine.add_tcp_bus("plant-tcp", "127.0.0.1", port, connect_timeout_ms=500, reconnect_min_ms=50,
                             reconnect_max_ms=300, request_gap_ms=1)
    meter = engine.add_device("meter", tcp, 1, response_timeout_ms=400, retries=2, offline_after=4,
                              backoff_min_ms=500, backoff_max_ms=4000, max_registers=40, max_bits=8)
    engine.add_hole(meter, "holding", 10, 11)
    add = engine.add_channel
    add("meter.u16", meter, 0, type="u16", unit="V", interval_ms=100)
    add("meter.i16_scaled", meter, 0x10, type="i16", scale=0.5, offset=-1, interval_ms=100)
    add("meter.u32_cdab", meter, 36, type="u32", order="CDAB", interval_ms=100)
    add("meter.f32_dcba", meter, 108, function="holding", type="f32", order="DCBA", interval_ms=100)
    add("meter.f64_badc", meter, 120, function="input", type="f64", order="BADC", interval_ms=100)
    add("meter.i64", meter, 80, function="input", type="i64", interval_ms=100, valid_min=0)
    add("meter.sentinel", meter, 0, function="input", type="u16", sentinels=[0x2345, 7], interval_ms=100)
    add("meter.bit5", meter, 200, type="bit", bit=5, writable=1, interval_ms=100)
    add("meter.coil3", meter, 3, function="coil", type="bit", interval_ms=100)
    add("meter.coil9", meter, 9, function="coil", type="bit", writable=1, interval_ms=100)
    add("meter.di1", meter, 1, function="discrete", type="bit", interval_ms=200)
    add("meter.in_range", meter, 96, function="input", type="f32", valid_min=-50, valid_max=50, interval_ms=200)
    pump = engine.add_device("pump", tcp, 2, one_channel_per_request=1, response_timeout_ms=400)
    add("pump.a", pump, 0, interval_ms=150)
    add("pump.b", pump, 1, type="i16", interval_ms=150)
    add("pump.c", pump, 2, type="f32", interval_ms=150)
    rtu = engine.add_rtu_bus("field-rtu", device, baud=19200, parity="E", stop_bits=1, reopen_min_ms=50,
                             reopen_max_ms=300)
    sensor = engine.add_device("sensor", rtu, 3, response_timeout_ms=300)
    add("sensor.u16", sensor, 0, unit="ppm", interval_ms=100)
    add("sensor.u32", sensor, 1, type="u32", order="CDAB", interval_ms=100)
    add("sensor.di", sensor, 1, function="discrete", type="bit", interval_ms=100)


def run_site(engine) -> dict[str, list[tuple[int, float]]]:
    """Start, read every channel three times, stop: {channel name: [(status, value)] of the first three}."""
    _, _, channels = engine.counts()
    engine.start()
    readings = engine.collect_until(each_has(range(channels), 3), timeout=10)
    engine.stop()
    out = {}
    for cid, rs in by_channel(readings).items():
        name, _, _ = engine.channel_info(cid)
        out[name] = [(r.status, r.value) for r in rs[:3]]
    return out


def test_setters_and_yaml_give_the_same_plan_and_readings(libmodbus_server, peer_endpoint, edgecore_engine,
                                                           tmp_path):
    tcp_peer, tcp_where, _ = peer_endpoint(libmodbus_server, "tcp")
    rtu_peer, rtu_where, _ = peer_endpoint(libmodbus_server, "rtu", baud=19200, parity="E")
    site = tmp_path / "site.yaml"
    site.write_text(SITE_YAML.format(port=tcp_where["tcp"], device=rtu_where["rtu"]))

    from_yaml = edgecore_engine()
    from_yaml.load_yaml(site)
    by_setters = edgecore_engine()
    build_site_with_setters(by_setters, tcp_where["tcp"], rtu_where["rtu"])

    assert from_yaml.counts() == by_setters.counts() == (2, 3, len(SITE_EXPECTED))
    plan = from_yaml.plan()
    assert plan == by_setters.plan()
    for cid in range(len(SITE_EXPECTED)):
        assert from_yaml.channel_info(cid) == by_setters.channel_info(cid)
    for name in ("plant-tcp", "field-rtu"):
        assert from_yaml.find_bus(name) == by_setters.find_bus(name)
    assert from_yaml.channel_info(from_yaml.find_channel("sensor.u16")) == ("sensor.u16", "ppm", 2)
    # the plan: holes, limits and the quirk as configured (the wire agrees in the planner tests below)
    assert "bus 'plant-tcp': tcp 127.0.0.1:%d, " % tcp_where["tcp"] in plan
    assert "bus 'field-rtu': rtu %s 19200 8E1, 2 requests" % rtu_where["rtu"] in plan
    assert "FC3 0..0 (1 registers) every 100 ms: meter.u16@0\n" in plan          # the hole 10..11 cuts
    assert "FC3 16..37 (22 registers) every 100 ms: meter.i16_scaled@16 meter.u32_cdab@36\n" in plan
    assert "FC1 3..9 (7 bits) every 100 ms: meter.coil3@3 meter.coil9@9\n" in plan
    for address, name in ((0, "pump.a"), (1, "pump.b")):
        assert f"FC3 {address}..{address} (1 registers) every 150 ms: {name}@{address}\n" in plan
    assert "FC3 2..3 (2 registers) every 150 ms: pump.c@2\n" in plan
    assert "FC3 0..2 (3 registers) every 100 ms, " in plan and ": sensor.u16@0 sensor.u32@1\n" in plan

    got_yaml = run_site(from_yaml)
    got_setters = run_site(by_setters)
    assert got_yaml == got_setters
    assert set(got_yaml) == set(SITE_EXPECTED)
    for name, (status, value) in SITE_EXPECTED.items():
        assert got_yaml[name] == [(status, float(value))] * 3, name


# ------------------------------------------------------------------------------------------------------
# The planner, on the wire
# ------------------------------------------------------------------------------------------------------

def wire_requests(peer, unit: int) -> set[tuple[int, int, int]]:
    return {(fc, address, qty) for u, fc, address, qty in logged_requests(peer) if u == unit}


def test_planner_on_the_wire(libmodbus_server, peer_endpoint, edgecore_engine):
    peer, where, _ = peer_endpoint(libmodbus_server, "tcp", verbose=True)
    engine = edgecore_engine()
    bus = add_bus(engine, where)
    # unit 1: contiguous registers of several widths merge into one request
    merged = engine.add_device("merged", bus, 1)
    names = []
    for address, type_ in ((16, "i16"), (17, "u16"), (18, "u32"), (20, "f64"), (24, "u16")):
        names.append(engine.add_channel(f"m.{address}", merged, address, type=type_, interval_ms=50))
    # unit 2: max_registers 2 splits holding 0..3 into 0..1 and 2..3; bits limited by max_bits
    limited = engine.add_device("limited", bus, 2, max_registers=2, max_bits=3)
    for address in range(4):
        names.append(engine.add_channel(f"l.{address}", limited, address, interval_ms=50))
    for address in range(4):
        names.append(engine.add_channel(f"l.coil{address}", limited, address, function="coil", type="bit",
                                        interval_ms=50))
    # unit 3: one channel per request although contiguous
    quirky = engine.add_device("quirky", bus, 3, one_channel_per_request=1)
    names.append(engine.add_channel("q.0", quirky, 0, interval_ms=50))
    names.append(engine.add_channel("q.1", quirky, 1, type="u32", order="CDAB", interval_ms=50))
    names.append(engine.add_channel("q.in", quirky, 0, function="input", interval_ms=50))

    plan = engine.plan()
    assert "FC3 16..24 (9 registers) every 50 ms: m.16@16 m.17@17 m.18@18 m.20@20 m.24@24\n" in plan
    assert "FC3 0..1 (2 registers)" in plan and "FC3 2..3 (2 registers)" in plan
    assert "FC1 0..2 (3 bits)" in plan and "FC1 3..3 (1 bits)" in plan
    assert "bus 'bus': tcp 127.0.0.1:%d, 8 requests" % where["tcp"] in plan

    engine.start()
    readings = engine.collect_until(each_has(names, 3), timeout=10)
    engine.stop()
    assert all(r.status == Status.OK for r in readings), [r for r in readings if r.status != Status.OK]
    assert wire_requests(peer, 1) == {(3, 16, 9)}
    assert wire_requests(peer, 2) == {(3, 0, 2), (3, 2, 2), (1, 0, 3), (1, 3, 1)}
    assert wire_requests(peer, 3) == {(3, 0, 1), (3, 1, 2), (4, 0, 1)}
    # one request serves all channels of it: one sample time per request
    per = by_channel(readings)
    first = [per[c][0].timestamp_ns for c in names[:5]]
    assert len(set(first)) == 1
    s = engine.device_stats(merged)
    assert s.requests == len(per[names[0]])  # one request per poll of the five channels


def test_holes_are_never_read_across(libmodbus_server, peer_endpoint, edgecore_engine):
    """The peer answers any read touching the hole address with exception 2, like a device with unmapped
    registers. With the hole declared the engine never touches it; without, its merged request fails."""
    peer, where, _ = peer_endpoint(libmodbus_server, "tcp", verbose=True,
                                   exceptions=["1:holding:17:2", "2:holding:1:2", "1:coil:5:2"])
    engine = edgecore_engine()
    bus = add_bus(engine, where)
    holed = engine.add_device("holed", bus, 1)
    engine.add_hole(holed, "holding", 17, 17)
    engine.add_hole(holed, "coil", 4, 6)
    a = [engine.add_channel("h.16", holed, 16, interval_ms=50),
         engine.add_channel("h.18", holed, 18, type="u32", interval_ms=50),
         engine.add_channel("h.coil3", holed, 3, function="coil", type="bit", interval_ms=50),
         engine.add_channel("h.coil7", holed, 7, function="coil", type="bit", interval_ms=50)]
    plain = engine.add_device("plain", bus, 2)  # the same layout, no hole declared
    b = [engine.add_channel("p.0", plain, 0, interval_ms=50),
         engine.add_channel("p.2", plain, 2, type="f32", interval_ms=50)]
    plan = engine.plan()
    assert "FC3 16..16 (1 registers)" in plan and "FC3 18..19 (2 registers)" in plan
    assert "FC1 3..3 (1 bits)" in plan and "FC1 7..7 (1 bits)" in plan
    assert "FC3 0..3 (4 registers) every 50 ms: p.0@0 p.2@2" in plan

    engine.start()
    readings = engine.collect_until(each_has(a + b, 4), timeout=10)
    engine.stop()
    per = by_channel(readings + engine.drain())
    for cid in a:
        assert all(r.status == Status.OK for r in per[cid]), per[cid]
    assert [r.value for r in per[a[0]]][:1] == [-12345 & 0xFFFF]  # holding 16: i16 -12345 read as u16
    for cid in b:
        assert [(r.status, r.status_detail) for r in per[cid]] == [(Status.EXCEPTION, 2)] * len(per[cid])
    assert engine.device_stats(holed).exceptions == 0
    for fc, address, qty in wire_requests(peer, 1):
        assert not (fc == 3 and address <= 17 < address + qty), (fc, address, qty)
        assert not (fc == 1 and address <= 6 and address + qty > 4), (fc, address, qty)
    assert wire_requests(peer, 1) == {(3, 16, 1), (3, 18, 2), (1, 3, 1), (1, 7, 1)}
    assert wire_requests(peer, 2) == {(3, 0, 4)}


# ------------------------------------------------------------------------------------------------------
# Configuration errors
# ------------------------------------------------------------------------------------------------------

GOOD_YAML = """\
buses:
  - name: good-bus
    type: tcp
    host: 127.0.0.1
    port: {port}
    reconnect_min_ms: 50
    devices:
      - name: good-device
        unit_id: 1
        channels:
          - {{name: good.u16, address: 0, interval_ms: 50}}
          - {{name: good.coil, function: coils, address: 0, type: bit, interval_ms: 50}}
"""

#: (id, YAML text, result code, line of the error (a line containing the marker "# <-"), what last_error says)
BAD_YAML = [
    ("syntax", "buses:\n  - name: b\n    type: tcp\n   host: x   # <-\n", edgecore.E_CONFIG_FILE, []),
    ("unknown-type", """\
buses:
  - name: b
    type: tcp
    host: 127.0.0.1
    devices:
      - name: d
        channels:
          - name: c
            address: 3
            type: float   # <-
""", edgecore.E_CONFIG_FILE, ["bus 'b', device 'd', channel 'c', field 'type': unknown type 'float'"]),
    ("address-not-16-bit", """\
buses:
  - name: b
    type: tcp
    host: 127.0.0.1
    devices:
      - name: d
        channels:
          - {name: c, address: 70000}   # <-
""", edgecore.E_CONFIG_FILE, ["channel 'c', field 'address'", "70000"]),
    ("address-past-65535", """\
buses:
  - name: b
    type: tcp
    host: 127.0.0.1
    devices:
      - name: d
        channels:
          - {name: ok, address: 0}
          - {name: c, address: 65534, type: u64}   # <-
""", edgecore.E_CONFIG, ["channel 'c'", "address 65534", "65535"]),
    ("unknown-key", """\
buses:
  - name: b
    type: tcp
    host: 127.0.0.1
    devices:
      - name: d
        channels:
          - name: c
            adress: 3   # <-
""", edgecore.E_CONFIG_FILE, ["channel 'c', field 'adress': unknown key"]),
    ("bit-16", """\
buses:
  - name: b
    type: tcp
    host: 127.0.0.1
    devices:
      - name: d
        channels:
          - {name: c, address: 1, type: bit, bit: 16}   # <-
""", edgecore.E_CONFIG, ["channel 'c'", "field 'bit'"]),
    ("channel-in-hole", """\
buses:
  - name: b
    type: tcp
    host: 127.0.0.1
    devices:
      - name: d
        holes: [{function: holding, first: 4, last: 9}]
        channels:
          - {name: c, address: 8, type: u32}   # <-
""", edgecore.E_CONFIG, ["channel 'c'", "hole 4..9"]),
    ("duplicate-name", """\
buses:
  - name: b
    type: tcp
    host: 127.0.0.1
    devices:
      - name: d
        channels:
          - {name: c, address: 1}
          - {name: c, address: 2}   # <-
""", edgecore.E_DUPLICATE, ["channel 'c'"]),
    ("bad-parity-after-good-bus", """\
buses:
  - name: good
    type: tcp
    host: 127.0.0.1
    devices:
      - name: d
        channels:
          - {name: c, address: 1}
  - name: serial
    type: rtu
    device: /dev/null
    parity: X   # <-
""", edgecore.E_CONFIG_FILE, ["bus 'serial', field 'parity'"]),
]


@pytest.mark.parametrize("name,text,code,says", BAD_YAML, ids=[b[0] for b in BAD_YAML])
def test_bad_yaml_is_refused_and_the_engine_stays_usable(name, text, code, says, libmodbus_server,
                                                          peer_endpoint, edgecore_engine, tmp_path):
    _, where, _ = peer_endpoint(libmodbus_server, "tcp")
    engine = edgecore_engine()
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_YAML.format(port=where["tcp"]))
    bad = tmp_path / f"{name}.yaml"
    bad.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "# <-" in t)
    for attempt in range(2):  # on an empty engine, then on one that has a configuration
        counts = engine.counts()
        plan = engine.plan()
        with pytest.raises(edgecore.EdgeCoreError) as e:
            engine.load_yaml(bad)
        assert e.value.code == code, e.value
        message = edgecore.engine_last_error()
        assert message == e.value.detail
        assert message.startswith(f"{bad}:{line}: "), message
        for part in says:
            assert part in message, message
        assert engine.counts() == counts and engine.plan() == plan  # all or nothing
        if attempt == 0:
            engine.load_yaml(good)
    # still usable: runs and reads
    assert engine.counts() == (1, 1, 2)
    engine.start()
    readings = engine.collect_until(each_has([0, 1], 2), timeout=5)
    engine.stop()
    assert {(r.channel, r.status, r.value) for r in readings} == {(0, Status.OK, 0x1234), (1, Status.OK, 1.0)}


def test_yaml_file_errors(edgecore_engine, tmp_path):
    engine = edgecore_engine()
    missing = tmp_path / "absent.yaml"
    with pytest.raises(edgecore.EdgeCoreError) as e:
        engine.load_yaml(missing)
    assert e.value.code == -2 and str(missing) in edgecore.engine_last_error()  # -ENOENT
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    engine.load_yaml(empty)
    assert engine.counts() == (0, 0, 0)
    with pytest.raises(edgecore.EdgeCoreError) as e:
        engine.start()
    assert e.value.code == edgecore.E_CONFIG and "nothing to sample" in edgecore.engine_last_error()


def test_setter_errors_name_the_field(edgecore_engine):
    engine = edgecore_engine()
    bus = engine.add_tcp_bus("b", "127.0.0.1", 1502)
    device = engine.add_device("d", bus, 1, max_registers=8)
    engine.add_channel("ok", device, 0)
    cases = [
        (dict(name="t", device=device, address=1, type=42), edgecore.E_CONFIG, ["channel 't'", "field 'type'"]),
        (dict(name="o", device=device, address=1, order=9), edgecore.E_CONFIG, ["channel 'o'", "field 'order'"]),
        (dict(name="f", device=device, address=1, function=5), edgecore.E_CONFIG, ["field 'function'"]),
        (dict(name="a", device=device, address=65534, type="f64"), edgecore.E_CONFIG,
         ["channel 'a'", "address 65534", "65535"]),
        (dict(name="w", device=device, address=1, function="input", writable=1), edgecore.E_CONFIG,
         ["channel 'w'", "writable"]),
        (dict(name="s", device=device, address=1, scale=0.0), edgecore.E_CONFIG, ["field 'scale'"]),
        (dict(name="c", device=device, address=1, function="coil", type="u16"), edgecore.E_CONFIG,
         ["field 'type'"]),
        (dict(name="n", device=7, address=1), edgecore.E_NOT_FOUND, ["channel 'n'"]),
        (dict(name="ok", device=device, address=1), edgecore.E_DUPLICATE, ["channel 'ok'"]),
    ]
    for fields, code, says in cases:
        with pytest.raises(edgecore.EdgeCoreError) as e:
            engine.add_channel(**fields)
        assert e.value.code == code, (fields, e.value)
        for part in says:
            assert part in edgecore.engine_last_error(), (fields, edgecore.engine_last_error())
    with pytest.raises(edgecore.EdgeCoreError) as e:
        engine.add_device("big", bus, 2, max_registers=126)
    assert e.value.code == edgecore.E_CONFIG and "field 'max_registers'" in e.value.detail
    with pytest.raises(edgecore.EdgeCoreError) as e:
        engine.add_hole(device, "holding", 0, 0)
    assert e.value.code == edgecore.E_CONFIG and "channel 'ok' reads there" in e.value.detail
    assert engine.counts() == (1, 1, 1)


# ------------------------------------------------------------------------------------------------------
# Dry run: the RTU bus-time estimate
# ------------------------------------------------------------------------------------------------------

def test_dry_run_plan_shows_rtu_bus_time(edgecore_engine, tmp_path):
    """Nothing is opened (the device does not exist). Wire time of a read: request 8 characters, answer
    5 + 2 * registers, plus the 3.5-character silence after each; at 9600 8N1 a character is 10 bits."""
    engine = edgecore_engine()
    bus = engine.add_rtu_bus("line", str(tmp_path / "no-such-tty"), baud=9600)
    device = engine.add_device("d", bus, 5)
    engine.add_channel("a", device, 0, interval_ms=100)
    engine.add_channel("b", device, 1, type="u64", order="DCBA", interval_ms=100)
    engine.add_channel("c", device, 5, type="u32", interval_ms=100)   # 0..6: 7 registers
    engine.add_channel("k", device, 0, function="coil", type="bit", interval_ms=1000)
    char_us = 10 * 1e6 / 9600
    fc3_us = -(-((8 + 5 + 14) * char_us + 2 * 3.5 * char_us) // 1)    # rounded up: 35417
    fc1_us = -(-((8 + 5 + 1) * char_us + 2 * 3.5 * char_us) // 1)     # 21875
    assert (fc3_us, fc1_us) == (35417, 21875)
    busy_ms = (fc3_us * 10 + fc1_us * 1) / 1000
    expected = (
        f"bus 'line': rtu {tmp_path / 'no-such-tty'} 9600 8N1, 2 requests\n"
        "  device 'd' unit 5\n"
        "    FC3 0..6 (7 registers) every 100 ms, 35.42 ms on the wire: a@0 b@1 c@5\n"
        "    FC1 0..0 (1 bits) every 1000 ms, 21.88 ms on the wire: k@0\n"
        f"  total: 11.00 requests/s, estimated {busy_ms:.1f} ms of bus time per second "
        f"({busy_ms / 10:.1f}% of the line)\n")
    assert engine.plan() == expected
    assert "376.0 ms of bus time per second (37.6% of the line)" in expected
    # a faster poll than the line can carry is flagged
    engine.add_channel("fast", device, 100, type="f64", interval_ms=10)
    assert "OVERLOADED, intervals cannot be met)" in engine.plan()
    # the plan text follows snprintf rules
    text = engine.plan()
    small = ctypes.create_string_buffer(11)
    n = edgecore.lib.edgecore_engine_plan(engine.handle, small, 11)
    assert n == len(text.encode()) and small.value == text.encode()[:10]
    assert not os.path.exists(tmp_path / "no-such-tty")


# ------------------------------------------------------------------------------------------------------
# Paths are bytes
# ------------------------------------------------------------------------------------------------------

def test_rtu_device_named_with_an_invalid_utf8_byte(libmodbus_server, make_pty_pair, edgecore_engine):
    """The RTU device is a socat link whose name holds byte 0xFF (not UTF-8): EdgeCore opens exactly that
    name and polls through it; the plan shows the byte escaped."""
    pair = make_pty_pair("tty\udcff")  # surrogateescape: os.fsencode gives b"tty\xff"
    assert os.fsencode(pair.a).endswith(b"/tty\xffA") and os.path.exists(pair.a)
    libmodbus_server(rtu=pair.b)
    engine = edgecore_engine()
    bus = add_bus(engine, {"rtu": pair.a})
    device = engine.add_device("d", bus, 1, response_timeout_ms=300)
    channel = engine.add_channel("h.16", device, 16, interval_ms=50)
    engine.start()
    readings = engine.collect_until(each_has([channel], 3), timeout=10)
    engine.stop()
    assert readings and all(r.status == Status.OK for r in readings), readings
    assert readings[0].value == -12345 & 0xFFFF
    shown = os.fsencode(pair.a).replace(b"\xff", b"\\xFF").decode()
    assert f"bus 'bus': rtu {shown} 9600 8N1, 1 requests\n" in engine.plan()
