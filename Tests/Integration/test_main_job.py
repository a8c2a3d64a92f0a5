"""The main job end to end: examples/site_simulator plays the site of examples/site-simulated.yaml (Modbus
TCP on 127.0.0.1, an RS-485 line with a DL/T 645 and a CJ/T 188 meter behind a transparent TCP port, and
EdgeCore's simulated GPIO chip), examples/edgecore_watch samples it through the shipped (Embedded)
libEdgeCore, as scripts/demo.sh does, on free ports and a private chip folder. The simulator's meter line is
also checked on its own, with frames built by Tests/Peers/meter_frames.py and the `dlt645` package's client."""
from __future__ import annotations

import datetime
import json
import math
import re
import signal
import socket
import subprocess
import time

import pytest

from harness import ROOT, free_tcp_port
from meter_frames import address_bytes, cjt_decode, cjt_request, dlt_decode, dlt_encode, dlt_read

EXAMPLES = ROOT / "build" / "x86_64" / "examples"
WATCH_SECONDS = 9
WATER_VALVE_CLOSED_AT = 5   # s after the watch started: --write water.valve_state=1@5
DLT_METER = "202612020645"      # the site simulator's meters (examples/site-simulated.yaml)
WATER_METER = "20261202001880"


@pytest.fixture
def simulated_site(tmp_path):
    """Starts the simulator on free ports with its chip in tmp_path; yields (site file, simulator, meter line
    port)."""
    simulator_binary = EXAMPLES / "site_simulator"
    if not simulator_binary.exists():
        pytest.fail(f"{simulator_binary} is missing: run 'make examples'")
    meter_port, greenhouse_port, line_port = free_tcp_port(), free_tcp_port(), free_tcp_port()
    chip = tmp_path / "gpio"
    site = (ROOT / "examples" / "site-simulated.yaml").read_text()
    for old, new in (("port: 15020", f"port: {meter_port}"), ("port: 15021", f"port: {greenhouse_port}"),
                     ("port: 15022", f"port: {line_port}"),
                     ("/tmp/edgecore-site-gpio", str(chip)),
                     ("/tmp/edgecore-site-journal", str(tmp_path / "journal"))):
        assert old in site
        site = site.replace(old, new)
    site_file = tmp_path / "site.yaml"
    site_file.write_text(site)
    simulator = subprocess.Popen(
        [str(simulator_binary), "--meter-port", str(meter_port), "--greenhouse-port", str(greenhouse_port),
         "--meter-line-port", str(line_port), "--gpio-dir", str(chip), "--seconds", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = simulator.stdout.readline()
        assert ready.startswith("READY") and f"meter-line 127.0.0.1:{line_port}" in ready, ready
        yield site_file, simulator, line_port
    finally:
        if simulator.poll() is None:
            simulator.send_signal(signal.SIGTERM)
        try:
            simulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            simulator.kill()
            simulator.wait()


def test_the_simulated_site_end_to_end(simulated_site):
    site_file, simulator, _ = simulated_site
    started = time.monotonic()
    watch = subprocess.run(
        [str(EXAMPLES / "edgecore_watch"), "--json", "--stats", "--seconds", str(WATCH_SECONDS),
         "--time-sync", "meter-line", "--write", "greenhouse.irrigation_valve=1", "--write", "greenhouse.vent_fan=1",
         "--write", f"water.valve_state=1@{WATER_VALVE_CLOSED_AT}", str(site_file)],
        capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert watch.returncode == 0, watch.stderr
    assert "wrote greenhouse.irrigation_valve=1" in watch.stderr
    assert "wrote greenhouse.vent_fan=1" in watch.stderr
    assert f"wrote water.valve_state=1@{WATER_VALVE_CLOSED_AT}" in watch.stderr
    assert "time sync sent on bus 'meter-line'" in watch.stderr
    assert ", 0 dropped" in watch.stderr
    # The site file's journal took every reading (the gateway forwards from it).
    journal = re.search(r"^journal feed: (\d+) appended, 0 lost on the way", watch.stdout, re.M)
    assert journal and int(journal[1]) > 0, watch.stdout
    time.sleep(0.3)  # the simulator notices the valve's safe state within 100 ms
    simulator.send_signal(signal.SIGTERM)
    site_log = simulator.communicate(timeout=10)[0]

    readings: dict[str, list[dict]] = {}
    pulses = {}
    for line in watch.stdout.splitlines():
        if line.startswith("{"):
            reading = json.loads(line)
            readings.setdefault(reading["channel"], []).append(reading)
        elif match := re.match(r"pulses '([^']+)': (\d+) counted, (\d+) rejected as bounce, (\d+) lost, "
                               r"([\d.]+)/s, total ([\d.]+)", line):
            pulses[match[1]] = [float(x) for x in match.groups()[1:]]

    # Every channel of the site reports, and only the sentinel window of the air sensor is not ok.
    expected = {"meter.voltage_l1", "meter.power_total", "meter.frequency", "meter.import_energy",
                "greenhouse.air_temperature", "greenhouse.soil_moisture", "greenhouse.vent_fan",
                "meter.s0_energy", "weather.rain", "greenhouse.tank_low", "greenhouse.irrigation_valve"}
    expected |= {f"grid.{item}" for item in GRID_ITEMS} | {f"water.{item}" for item in WATER_ITEMS}
    assert expected <= readings.keys(), expected - readings.keys()
    for name, items in readings.items():
        allowed = {"ok", "sentinel"} if name == "greenhouse.air_temperature" else {"ok"}
        assert {r["status"] for r in items} <= allowed, (name, items)

    # The writes took effect on both buses; the valve went back to its safe state when the watch stopped,
    # and that change is its last reading.
    assert readings["greenhouse.vent_fan"][-1]["value"] == 1
    valve = [r["value"] for r in readings["greenhouse.irrigation_valve"]]
    assert 1 in valve and valve[-1] == 0
    assert re.search(r"s: irrigation valve opened\n(.*\n)*.*s: irrigation valve closed\n", site_log), site_log
    assert {r["value"] for r in readings["greenhouse.tank_low"]} <= {0, 1}

    # S0: nothing bounces or is lost, total = count / 3200 kWh, and the count matches the power the meter's
    # registers report (3200 impulses per kWh) over the time the watch ran.
    count, rejected, lost, rate, total = pulses["meter.s0_energy"]
    assert rejected == 0 and lost == 0
    assert total == pytest.approx(count / 3200, abs=1e-4)
    watts = [r["value"] for r in readings["meter.power_total"]]
    expected_count = sum(watts) / len(watts) * WATCH_SECONDS / 3.6e6 * 3200
    assert abs(count - expected_count) <= 0.15 * expected_count + 3, (count, expected_count, elapsed)
    assert rate == pytest.approx(sum(watts) / len(watts) * 3200 / 3.6e6, rel=0.4)
    # The rain gauge's reed contact bounces once per tip (from 6 s of the simulator's clock): each tip is
    # counted once and its bounce rejected.
    count, rejected, lost, _, total = pulses["weather.rain"]
    assert count >= 1 and rejected == count and lost == 0
    assert total == pytest.approx(0.2 * count)

    check_meters(readings, watch.stdout, site_log)


GRID_ITEMS = ["forward_active_energy_total", "forward_active_energy_t1", "forward_active_energy_t2",
              "forward_active_energy_t3", "forward_active_energy_t4", "reverse_active_energy_total", "voltage_a",
              "voltage_b", "voltage_c", "current_a", "current_b", "current_c", "active_power_total", "active_power_a",
              "active_power_b", "active_power_c", "reactive_power_total", "power_factor_total", "frequency", "date",
              "time", "meter_status_1"]
WATER_ITEMS = ["current_flow", "settlement_flow", "real_time", "status", "battery_low", "valve_state"]


def unmatched(dlt: list[dict], modbus: list[dict], rounding: float, curvature: float, scale: float = 1.0) -> list:
    """The readings of `dlt` that disagree with the SDM630's readings `modbus` (x scale). The simulator
    measures the feed once a second and both meters report that measurement: a DL/T 645 reading equals, within
    its rounding, a Modbus reading of the same second, which is within 1.5 s. The Modbus channels are polled
    every second but a second can pass without a poll: then the reading lies between the Modbus readings
    just before and after it (the quantities are slow sines: `curvature` is how far one second's value can
    stand out of its neighbours')."""
    misses = []
    for reading in dlt:
        value, at = reading["value"], reading["ts_ns"]
        near = [m["value"] * scale for m in modbus if abs(m["ts_ns"] - at) <= 1.5e9]
        if any(abs(v - value) <= rounding for v in near):
            continue
        before = [m["value"] * scale for m in modbus if m["ts_ns"] <= at][-1:]
        after = [m["value"] * scale for m in modbus if m["ts_ns"] > at][:1]
        margin = rounding + curvature
        if before and after and min(before + after) - margin <= value <= max(before + after) + margin:
            continue
        misses.append((value, near))
    return misses


def check_meters(readings: dict[str, list[dict]], stdout: str, site_log: str) -> None:
    """The DL/T 645 meter (the SDM630's feed) and the CJ/T 188 water meter, read through the engine over the
    transparent TCP line."""
    grid = {item: readings[f"grid.{item}"] for item in GRID_ITEMS}
    water = {item: readings[f"water.{item}"] for item in WATER_ITEMS}
    units = {"voltage_a": "V", "current_a": "A", "active_power_total": "kW", "reactive_power_total": "kvar",
             "frequency": "Hz", "forward_active_energy_total": "kWh"}
    for item, unit in units.items():
        assert {r.get("unit") for r in grid[item]} == {unit}, (item, grid[item][:1])
    # The same feed: voltages (XXX.X V), currents (XXX.XXX A), powers (XX.XXXX kW) and frequency (XX.XX Hz)
    # are the SDM630's float32 values of the same second, rounded to the meter's decimals.
    for phase, line in (("a", "l1"), ("b", "l2"), ("c", "l3")):
        assert not unmatched(grid[f"voltage_{phase}"], readings[f"meter.voltage_{line}"], 0.05 + 1e-4, 0.03), phase
        assert not unmatched(grid[f"current_{phase}"], readings[f"meter.current_{line}"], 0.0005 + 1e-5, 0.007), phase
        assert not unmatched(grid[f"active_power_{phase}"], readings[f"meter.power_{line}"], 0.00005 + 1e-6, 0.0015,
                             scale=1e-3), phase
    assert not unmatched(grid["active_power_total"], readings["meter.power_total"], 0.00005 + 1e-6, 0.004,
                         scale=1e-3)
    assert not unmatched(grid["frequency"], readings["meter.frequency"], 0.005 + 1e-4, 0.002)
    assert {r["value"] for r in grid["power_factor_total"]} == {0.95}
    tan_phi = math.tan(math.acos(0.95))   # reactive power = active power x tan(phi)
    assert not unmatched(grid["reactive_power_total"], readings["meter.power_total"], 0.00005 + 1e-6, 0.002,
                         scale=tan_phi / 1000)
    # Energy: counters never go back; total = t1 + t2 + t3 + t4 (each cut to 0.01 kWh, read within a poll).
    for item in GRID_ITEMS[:6]:
        values = [r["value"] for r in grid[item]]
        assert values == sorted(values) and values[0] > 0, (item, values)
    tariffs = sum(grid[f"forward_active_energy_t{n}"][-1]["value"] for n in range(1, 5))
    assert grid["forward_active_energy_total"][-1]["value"] == pytest.approx(tariffs, abs=0.035)
    # Its clock was set by the watch's time sync (to the local time): date YYMMDDWW and time hhmmss of the
    # moment each was read.
    sync = re.search(r"s: meter line: DL/T 645 time sync to (\S+ \S+) \(clock moved ([+-]\d+) s\)", site_log)
    assert sync and abs(int(sync[2])) <= 2, site_log
    for reading in grid["date"]:
        when = datetime.datetime.fromtimestamp(reading["ts_ns"] / 1e9)
        weekday = (when.weekday() + 1) % 7   # DL/T 645: 0 = Sunday
        assert reading["value"] == int(when.strftime("%y%m%d")) * 100 + weekday, reading
    for reading in grid["time"]:
        when = datetime.datetime.fromtimestamp(reading["ts_ns"] / 1e9)
        shown = datetime.datetime.strptime(when.strftime("%Y%m%d") + f"{int(reading['value']):06d}", "%Y%m%d%H%M%S")
        assert abs((shown - when).total_seconds()) <= 3, (reading, when)
    assert {r["value"] for r in grid["meter_status_1"]} == {0}
    assert {r["value"] for r in grid["reverse_active_energy_total"]} == {12.34}

    # The water meter: cumulative flow in m3, growing while the irrigation valve and its own valve are open
    # (18.36 m3/h: at least 0.01 m3 in 4 s), standing still once the engine closed its valve (A017 0x99).
    assert {r.get("unit") for r in water["current_flow"]} == {"m3"}
    assert {r.get("unit") for r in water["settlement_flow"]} == {"m3"}
    valve = water["valve_state"]
    assert valve[0]["value"] == 0 and valve[-1]["value"] == 1, valve
    closed_at = next(r["ts_ns"] for r in valve if r["value"] == 1)
    assert [r["value"] for r in valve] == sorted(r["value"] for r in valve)   # open, then closed
    flow = water["current_flow"]
    values = [r["value"] for r in flow]
    assert values == sorted(values) and values[0] >= 0, values
    before = [r["value"] for r in flow if r["ts_ns"] < closed_at]
    after = [r["value"] for r in flow if r["ts_ns"] >= closed_at]
    assert before and after and before[-1] - before[0] >= 0.01 - 1e-9, (before, after)
    assert len(set(after)) == 1, after
    settlement = {r["value"] for r in water["settlement_flow"]}
    assert len(settlement) == 1 and settlement.pop() <= values[0]
    for status, state in zip(water["status"], water["valve_state"]):
        assert status["ts_ns"] == state["ts_ns"] and int(status["value"]) & 3 == state["value"]
    assert {r["value"] for r in water["battery_low"]} == {0}
    for reading in water["real_time"]:
        when = datetime.datetime.fromtimestamp(reading["ts_ns"] / 1e9)
        shown = datetime.datetime.strptime(str(int(reading["value"])), "%Y%m%d%H%M%S")
        assert abs((shown - when).total_seconds()) <= 3, (reading, when)
    assert re.search(r"s: water meter valve closed\n", site_log), site_log

    # Every request was answered: no timeouts, frame errors or exceptions on the line.
    for device, who in (("grid_meter", f"dlt645-2007 {DLT_METER}"), ("water_meter", f"cjt188 {WATER_METER}")):
        stats = re.search(rf"^device '{device}' \({who}\): (\w+), requests (\d+), answers (\d+), "
                          r"timeouts (\d+), frame errors (\d+), exceptions (\d+)", stdout, re.M)
        assert stats, stdout
        state, requests, answers, timeouts, errors, exceptions = stats[1], *map(int, stats.groups()[1:])
        assert state == "online" and requests > 0 and answers == requests and timeouts == errors == exceptions == 0, \
            stats[0]


class MeterLine:
    """A TCP client of the simulator's meter line: send a request, collect what comes back within a time."""

    def __init__(self, port: int):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=2)

    def ask(self, request: bytes, wait: float = 0.5, complete=None) -> bytes:
        self.socket.sendall(request)
        received, deadline = b"", time.monotonic() + wait
        while time.monotonic() < deadline and not (complete and complete(received)):
            self.socket.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.socket.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            received += chunk
        return received

    def close(self) -> None:
        self.socket.close()


def test_the_simulated_meter_line_on_the_wire(simulated_site):
    """The simulator's meters, byte by byte: replies to the rules of docs/meter-protocols.md (frames decoded by
    meter_frames.py and, for DL/T 645 values, by the dlt645 package's client), silence where a meter keeps
    silent, resynchronisation after noise, the valve."""
    _, simulator, line_port = simulated_site
    line = MeterLine(line_port)
    meter, water = address_bytes(DLT_METER, 6), address_bytes(WATER_METER, 7)
    dlt_done = lambda raw: bool(dlt_decode(raw)[0])     # noqa: E731
    cjt_done = lambda raw: bool(cjt_decode(raw)[0])     # noqa: E731
    try:
        # A read: FE FE FE FE, the meter's address, C 91, the DI echoed, the value (XXX.X V).
        raw = line.ask(dlt_read(meter, 0x02010100, preamble=4), complete=dlt_done)
        frames, lead = dlt_decode(raw)
        assert len(frames) == 1 and lead == b"" and raw.startswith(b"\xFE" * 4 + b"\x68"), raw.hex()
        reply = frames[0]
        assert (reply.address, reply.control, reply.data[:4]) == (meter, 0x91, bytes.fromhex("00010102"))
        assert 2 == len(reply.data[4:]) and 225 <= int(reply.data[4:][::-1].hex()) / 10 <= 235
        # An identifier it lacks (forward active energy of the previous settlement): D1, error 02.
        frames, _ = dlt_decode(line.ask(dlt_read(meter, 0x00010001), complete=dlt_done))
        assert [(f.control, f.data) for f in frames] == [(0xD1, b"\x02")]
        # Another meter's address, a bad checksum: no reply.
        assert line.ask(dlt_read(address_bytes("123456789012", 6), 0x02010100), wait=0.4) == b""
        spoiled = bytearray(dlt_read(meter, 0x02010100))
        spoiled[-2] ^= 0x01
        assert line.ask(bytes(spoiled), wait=0.4) == b""
        # Noise with a 68 in it before a request, and a request in two pieces: answered.
        frames, _ = dlt_decode(line.ask(b"\x00\x68\x11\xFF\xFE" + dlt_read(meter, 0x02010200, preamble=2),
                                        complete=dlt_done))
        assert [(f.control, f.data[:4]) for f in frames] == [(0x91, bytes.fromhex("00020102"))]
        request = dlt_read(meter, 0x02800002, preamble=4)
        line.socket.sendall(request[:9])
        time.sleep(0.1)
        frames, _ = dlt_decode(line.ask(request[9:], complete=dlt_done))
        assert len(frames) == 1 and frames[0].control == 0x91
        assert 49.9 <= int(frames[0].data[4:][::-1].hex()) / 100 <= 50.1
        # Read address to the wildcard: C 93 with the address in the header and the data.
        frames, _ = dlt_decode(line.ask(dlt_encode(address_bytes("AAAAAAAAAAAA", 6), 0x13), complete=dlt_done))
        assert [(f.address, f.control, f.data) for f in frames] == [(meter, 0x93, meter)]
        # Broadcast time sync: no reply, a line in the log; the meter's clock shows the time set.
        sync = dlt_encode(address_bytes("999999999999", 6), 0x08, bytes.fromhex("050403021226"))  # ss..YY
        assert line.ask(sync, wait=0.4) == b""
        frames, _ = dlt_decode(line.ask(dlt_read(meter, 0x04000101), complete=dlt_done))
        assert frames[0].data[4:] == bytes((datetime.date(2026, 12, 2).isoweekday() % 7, 0x02, 0x12, 0x26))

        # The water meter: 901F with the layout of docs/meter-protocols.md, L 0x16, SER echoed.
        raw = line.ask(cjt_request(0x10, water, 0x01, 0x901F, 0x42, preamble=2), complete=cjt_done)
        frames, lead = cjt_decode(raw)
        assert len(frames) == 1 and lead == b"", raw.hex()
        reply = frames[0]
        assert (reply.meter_type, reply.address, reply.control) == (0x10, water, 0x81)
        assert (reply.di, reply.ser) == (0x901F, 0x42)
        payload = reply.payload
        assert len(payload) == 19 and payload[4] == payload[9] == 0x2C   # m3
        flow, settlement = int(payload[0:4][::-1].hex()) / 100, int(payload[5:9][::-1].hex()) / 100
        assert 0 < settlement <= flow
        shown = datetime.datetime.strptime(payload[10:17][::-1].hex(), "%Y%m%d%H%M%S")
        assert abs((shown - datetime.datetime.now()).total_seconds()) <= 3
        assert payload[17:] == b"\x00\x00"   # valve open
        # Valve control A017: 99 closes (C 84, ST0 bits 1-0 = 01), 55 opens; the log says so.
        frames, _ = cjt_decode(line.ask(cjt_request(0x10, water, 0x04, 0xA017, 7, b"\x99"), complete=cjt_done))
        assert [(f.control, f.data) for f in frames] == [(0x84, bytes.fromhex("17A0070100"))]
        frames, _ = cjt_decode(line.ask(cjt_request(0x10, water, 0x01, 0x901F, 8), complete=cjt_done))
        assert frames[0].payload[17:] == b"\x01\x00"
        frames, _ = cjt_decode(line.ask(cjt_request(0x10, water, 0x04, 0xA017, 9, b"\x55"), complete=cjt_done))
        assert [(f.control, f.data) for f in frames] == [(0x84, bytes.fromhex("17A0090000"))]
        # Another identifier: abnormal C1 with SER ST0 ST1 (no DI); another meter type: no reply.
        frames, _ = cjt_decode(line.ask(cjt_request(0x10, water, 0x01, 0x902F, 10), complete=cjt_done))
        assert [(f.control, f.data) for f in frames] == [(0xC1, bytes.fromhex("0A0000"))]
        assert line.ask(cjt_request(0x20, water, 0x01, 0x901F, 11), wait=0.4) == b""
    finally:
        line.close()

    # The dlt645 package's client decodes the same values (its set_address takes the bytes in wire order).
    from dlt645.service.clientsvc.client_service import MeterClientService
    client = MeterClientService.new_tcp_client("127.0.0.1", line_port, timeout=2.0)
    client.connect()
    try:
        client.set_address(meter.hex())
        voltage = client.read_00(0x02010100)
        energy = client.read_00(0x00010000)
        assert voltage is not None and 225 <= voltage.value <= 235
        assert energy is not None and energy.value >= 48213.22
        assert client.read_00(0x00010001) is None   # the abnormal reply
    finally:
        client.disconnect()

    simulator.send_signal(signal.SIGTERM)
    site_log = simulator.communicate(timeout=10)[0]
    assert "meter line: DL/T 645 time sync to 2026-12-02 03:04:05" in site_log, site_log
    assert re.search(r"s: water meter valve closed\n(.*\n)*.*s: water meter valve opened\n", site_log), site_log
    assert re.search(r"meter line: \d+ frames answered, \d+ not", site_log), site_log
