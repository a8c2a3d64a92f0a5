"""The simulated site's greenhouse (examples/site_simulator, docs/simulated-site.md): its physics on a simulated
clock (--time-scale 60: a simulated hour in a real minute), the water path (tank, main pump, irrigation valve,
flow meter pulses), soil moisture and EC, the vent fan, and the faults injected and cleared through the control
FIFO and a scenario file. Observed as a controller would: Modbus TCP (pymodbus) on the greenhouse port (unit 1,
unit 2 the CO2 sensor), the simulated GPIO chip's files (the valve's output, the float switch's level, the flow
meter's edge records), and the simulator's log ("T s: what", T in simulated seconds). The last test reads the
site through EdgeCore itself (examples/edgecore_watch on examples/site-simulated.yaml)."""
from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import threading
import time

import pytest

from harness import ROOT, free_tcp_port, modbus_client, wait_until

EXAMPLES = ROOT / "build" / "x86_64" / "examples"
K = 60                      # simulated seconds per real second
FLOW_L_PER_S = 5.0          # 18 m3/h while the irrigation water flows; 1 L per flow meter pulse
IRRIGATION_PCT_PER_S = 1.0 / 60
EVAPORATION_PCT_PER_S_MAX = (7.0 + 0.6 * 15) / 3600   # at most 35 degC air in these tests


class Site:
    """A running site_simulator on free ports, its chip and control FIFO in a temporary folder."""

    def __init__(self, folder, *options: str, scale: float = K):
        binary = EXAMPLES / "site_simulator"
        if not binary.exists():
            pytest.fail(f"{binary} is missing: run 'make examples'")
        self.folder = folder
        folder.mkdir()
        self.ports = {"meter": free_tcp_port(), "greenhouse": free_tcp_port(), "line": free_tcp_port()}
        self.chip = folder / "gpio"
        self.control = folder / "control"
        self.process = subprocess.Popen(
            [str(binary), "--meter-port", str(self.ports["meter"]), "--greenhouse-port", str(self.ports["greenhouse"]),
             "--meter-line-port", str(self.ports["line"]), "--gpio-dir", str(self.chip), "--seconds", "100",
             "--time-scale", str(scale), "--control", str(self.control), "--no-air-dropouts", *options],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.ready = self.process.stdout.readline()
        self.started = time.monotonic()
        assert self.ready.startswith("READY") and f"time-scale {scale:g}" in self.ready, self.ready
        self.lines: list[str] = []
        self.cursor = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.client = modbus_client(tcp=self.ports["greenhouse"], timeout=0.5)
        self.edges = os.open(self.chip / "4.edges", os.O_RDONLY | os.O_NONBLOCK)

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> str:
        self.client.close()
        os.close(self.edges)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=5)
        return "\n".join(self.lines)

    # ---- acting on the site ----
    def send(self, *commands: str) -> None:
        with open(self.control, "w") as fifo:
            fifo.write("".join(c + "\n" for c in commands))

    def valve(self, open_: bool) -> None:
        """Drives the irrigation valve's output as EdgeCore does: its value file."""
        (self.chip / "1.value").write_text("1\n" if open_ else "0\n")

    def coil(self, address: int, on: bool) -> None:
        assert not self.client.write_coil(address, on, slave=1).isError()

    # ---- observing it ----
    def state(self) -> dict:
        r = self.client.read_input_registers(0, 11, slave=1)
        assert not r.isError(), r
        r = r.registers
        return {"air": ((r[0] ^ 0x8000) - 0x8000) / 10, "humidity": r[1] / 10, "moisture": r[2] / 10,
                "raw_moisture": r[2], "raw_air": r[0], "co2": r[4], "ec": r[5] / 100, "sim": r[6] << 16 | r[7],
                "tank": r[8] / 10, "pulses": r[9] << 16 | r[10], "real": time.monotonic()}

    def co2(self):
        """Unit 2's CO2 value, None when it does not answer."""
        r = self.client.read_input_registers(0, 1, slave=2)
        return None if r.isError() else r.registers[0]

    def pulses(self) -> int:
        """Rising edges recorded on the flow meter's line since the last call (its FIFO drained)."""
        rising = 0
        while True:
            try:
                data = os.read(self.edges, 65536)
            except BlockingIOError:
                return rising
            if not data:
                return rising
            assert len(data) % 16 == 0
            for _, level, _ in struct.iter_unpack("=qII", data):
                rising += level == 1

    def float_low(self) -> bool:
        """The float switch pulls its line low while the tank is low."""
        return (self.chip / "3.value").read_text().strip() == "0"

    def expect(self, event: str, timeout: float = 5.0) -> float:
        """Waits for the log line 'T s: <event>' after the previous one expected; returns T."""
        pattern = re.compile(rf"^([\d.]+) s: {re.escape(event)}$")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in range(self.cursor, len(self.lines)):
                match = pattern.match(self.lines[index])
                if match:
                    self.cursor = index + 1
                    return float(match[1])
            time.sleep(0.02)
        raise AssertionError(f"no '{event}' in the log after line {self.cursor}:\n" + "\n".join(self.lines))

    def logged(self, event: str) -> bool:
        return any(line.endswith(f" s: {event}") for line in self.lines[self.cursor:])

    def window(self, seconds: float) -> tuple[dict, dict, int]:
        """The state before and after `seconds` of real time, and the flow pulses in between."""
        self.pulses()
        before = self.state()
        time.sleep(seconds)
        after = self.state()
        return before, after, self.pulses()


@pytest.fixture
def site(tmp_path):
    sites = []

    def start(*options, scale=K):
        sites.append(Site(tmp_path / f"site{len(sites)}", *options, scale=scale))
        return sites[-1]

    yield start
    for running in sites:
        running.stop()


def flows(site: Site, seconds: float = 1.5) -> tuple[dict, dict, int]:
    """A window in which the irrigation water must flow: moisture up by the irrigation less the evaporation,
    the flow meter's pulses (its FIFO and its counter) at 5 L per simulated second."""
    before, after, pulses = site.window(seconds)
    dt = after["sim"] - before["sim"]
    assert dt > 0.8 * K * seconds, (before, after)
    gain = after["moisture"] - before["moisture"]
    assert (IRRIGATION_PCT_PER_S - EVAPORATION_PCT_PER_S_MAX) * dt - 0.2 <= gain <= IRRIGATION_PCT_PER_S * dt + 0.2, \
        (before, after)
    counted = after["pulses"] - before["pulses"]
    assert counted == pytest.approx(FLOW_L_PER_S * dt, rel=0.1, abs=15), (before, after)
    assert pulses == pytest.approx(counted, abs=20), (pulses, counted)
    return before, after, pulses


def dry(site: Site, seconds: float = 1.0) -> tuple[dict, dict, int]:
    """A window in which no irrigation water flows: moisture falls by evaporation only, no flow pulses."""
    before, after, pulses = site.window(seconds)
    dt = after["sim"] - before["sim"]
    loss = before["moisture"] - after["moisture"]
    assert -0.1 <= loss <= EVAPORATION_PCT_PER_S_MAX * dt + 0.15, (before, after)
    assert pulses == 0 and after["pulses"] == before["pulses"], (pulses, before, after)
    return before, after, pulses


def test_moisture_falls_without_water_and_rises_while_it_flows_with_the_flow_meter_counting(site):
    s = site()
    # Valve closed (the main pump runs from the start): evaporation only, warmer air evaporates faster.
    before, after, _ = dry(s, 2.0)
    assert before["moisture"] - after["moisture"] >= 0.1, (before, after)
    assert after["tank"] > before["tank"], (before, after)          # it refills
    # The valve opened: the water flows, the moisture rises, a pulse per litre, the tank goes down.
    s.valve(True)
    s.expect("irrigation valve opened")
    s.expect("irrigation water flowing")
    before, after, _ = flows(s, 2.0)
    assert after["tank"] < before["tank"] - 2, (before, after)
    # The main pump stopped: no water although the valve is open.
    s.coil(1, False)
    s.expect("main pump off")
    s.expect("irrigation water stopped")
    dry(s)
    s.coil(1, True)
    s.expect("irrigation water flowing")
    flows(s, 1.0)
    # The valve closed again: dry.
    s.valve(False)
    s.expect("irrigation water stopped")
    dry(s)


def test_ec_rises_with_dosing_only_while_the_water_flows(site):
    s = site()
    s.coil(2, True)                                     # dosing into the closed line: nothing reaches the soil
    s.expect("dosing pump on")
    s.expect("dosing pump running into a dry line (no water flowing)")
    before, after, _ = s.window(1.5)
    assert after["ec"] == before["ec"] == 1.8, (before, after)
    s.valve(True)                                       # with the water: 0.1 mS/cm per simulated minute
    s.expect("irrigation water flowing")
    before, after, _ = s.window(2.0)
    dt = after["sim"] - before["sim"]
    assert after["ec"] - before["ec"] == pytest.approx(0.1 * dt / 60, abs=0.03), (before, after)
    s.coil(2, False)                                    # water without dosing leaches slowly: 0.5 mS/cm per hour
    s.expect("dosing pump off")
    before, after, _ = s.window(3.0)
    dt = after["sim"] - before["sim"]
    assert 0.005 <= before["ec"] - after["ec"] <= 0.5 * dt / 3600 + 0.015, (before, after)


def test_the_vent_fan_cools_the_air(site):
    s = site()                                          # 10 h: the sun warms the closed greenhouse
    before, after, _ = s.window(1.5)
    assert after["air"] > before["air"], (before, after)
    s.coil(0, True)
    s.expect("vent fan on")
    before, after, _ = s.window(2.0)
    assert after["air"] <= before["air"] - 0.5, (before, after)
    assert after["co2"] < before["co2"] and after["humidity"] < before["humidity"], (before, after)
    s.coil(0, False)
    s.expect("vent fan off")
    before, after, _ = s.window(2.0)
    assert after["air"] >= before["air"] + 0.3, (before, after)
    for value, low, high in ((after["air"], 5, 45), (after["humidity"], 30, 98), (after["co2"], 350, 1000)):
        assert low <= value <= high, after


def test_the_tank_empties_with_the_pump_and_the_float_switch_says_low(site):
    s = site()
    assert not s.float_low() and s.state()["tank"] == pytest.approx(80, abs=1)
    s.valve(True)
    s.send("set tank_level 22")
    s.expect("set tank_level 22")
    s.expect("tank low", timeout=3)                     # 20 %: 120 L at 5 L/s less the refill
    assert s.float_low() and s.state()["tank"] <= 20.0
    s.send("set tank_level 3")
    s.expect("tank empty", timeout=3)
    s.expect("irrigation water stopped")
    before, after, pulses = s.window(0.8)               # refilling to 2 % takes 108 simulated s
    assert pulses == 0 and after["pulses"] == before["pulses"] and after["tank"] < 2, (before, after)
    s.send("set tank_level 50")
    s.expect("tank holds water again")
    s.expect("tank no longer low")
    assert not s.float_low()


def test_sentinel_silent_co2_sensor_and_air_sensor_faults_and_their_clearing(site):
    s = site()
    assert s.state()["raw_moisture"] < 1000 and s.co2() is not None
    sent = s.state()["sim"]
    s.send("soil_sentinel on", "co2_silent on", "air_sentinel on")
    at = s.expect("fault soil_sentinel on")
    assert sent - 1 <= at <= s.state()["sim"] + 1
    s.expect("fault co2_silent on")
    s.expect("fault air_sentinel on")
    state = s.state()                                   # unit 1 still answers
    assert state["raw_moisture"] == 0xFFFF and state["raw_air"] == 0x7FFF, state
    started = time.monotonic()
    assert s.co2() is None                              # unit 2 times out
    assert time.monotonic() - started >= 0.4
    assert s.co2() is None
    s.send("soil_sentinel off", "co2_silent off", "air_sentinel off")
    s.expect("fault soil_sentinel off")
    s.expect("fault co2_silent off")
    s.expect("fault air_sentinel off")
    state = s.state()
    assert 50 <= state["raw_moisture"] <= 600 and 5 <= state["air"] <= 45, state
    assert 350 <= s.co2() <= 1000


def test_a_stuck_valve_no_longer_follows_its_output(site):
    s = site()
    s.send("valve_stuck open")                          # output closed, yet the water flows
    s.expect("fault valve_stuck open")
    s.expect("irrigation water flowing")
    flows(s)
    s.valve(True)
    s.expect("irrigation valve opened")
    s.send("valve_stuck closed")                        # output open, no water
    s.expect("fault valve_stuck closed")
    s.expect("irrigation water stopped")
    dry(s)
    s.valve(False)
    s.expect("irrigation valve closed")
    s.valve(True)
    s.expect("irrigation valve opened")
    before, after, pulses = s.window(0.5)
    assert pulses == 0 and not s.logged("irrigation water flowing")
    s.send("valve_stuck off")                           # the output rules again: open
    s.expect("fault valve_stuck off")
    s.expect("irrigation water flowing")
    flows(s)


def test_an_empty_tank_and_a_stopped_flow_meter(site):
    s = site()
    s.valve(True)
    s.expect("irrigation water flowing")
    level = s.state()["tank"]
    s.send("tank_empty on")
    s.expect("fault tank_empty on")
    s.expect("tank low")
    s.expect("irrigation water stopped")
    assert s.float_low()
    before, after, _ = dry(s)
    assert after["tank"] == 0
    s.send("tank_empty off")
    s.expect("fault tank_empty off")
    s.expect("irrigation water flowing")
    assert not s.float_low() and s.state()["tank"] == pytest.approx(level, abs=3)
    flows(s, 1.0)
    # The flow meter stops: the water still flows (the moisture rises), no pulses.
    s.send("flow_meter_stopped on")
    s.expect("fault flow_meter_stopped on")
    time.sleep(0.1)
    before, after, pulses = s.window(1.5)
    assert pulses == 0 and after["pulses"] == before["pulses"], (pulses, before, after)
    assert after["moisture"] - before["moisture"] >= 0.5 and after["tank"] < before["tank"], (before, after)
    assert not s.logged("irrigation water stopped")
    s.send("flow_meter_stopped off")
    s.expect("fault flow_meter_stopped off")
    time.sleep(0.1)
    flows(s, 1.0)


def test_a_scenario_file_at_simulated_times_and_the_time_scale(site, tmp_path):
    scenario = tmp_path / "scenario.txt"
    scenario.write_text("# the soil probe fails for a simulated minute\n"
                        "at 30 soil_sentinel on\n"
                        "\n"
                        "at 1.5m soil_sentinel off   # 90 s\n"
                        "in 2m valve_stuck open\n"
                        "at 150s set soil_moisture 20\n")
    s = site("--scenario", str(scenario))
    # K = 60: the simulated clock runs 60 s per real second.
    before, after, _ = s.window(1.0)
    assert (after["sim"] - before["sim"]) / (after["real"] - before["real"]) == pytest.approx(K, rel=0.1)
    for time_, event in ((30, "fault soil_sentinel on"), (90, "fault soil_sentinel off"),
                         (120, "fault valve_stuck open"), (150, "set soil_moisture 20")):
        assert s.expect(event) == pytest.approx(time_, abs=1.0), event
    assert time.monotonic() - s.started == pytest.approx(150 / K, abs=0.6)
    assert s.state()["moisture"] == pytest.approx(20, abs=0.5)
    # An hour in about a minute: a 2 s window is 2 simulated minutes.
    before, after, _ = s.window(2.0)
    assert after["sim"] - before["sim"] == pytest.approx(K * (after["real"] - before["real"]), rel=0.1)


def test_bad_input_is_refused_with_the_reason(site, tmp_path):
    binary = str(EXAMPLES / "site_simulator")
    scenario = tmp_path / "bad.txt"
    scenario.write_text("at 10 soil_sentinel on\n\nat 20 soil_sentinel maybe\n")
    for arguments, message in ((["--scenario", str(scenario)], f"{scenario}:3: soil_sentinel wants on or off"),
                               (["--scenario", str(tmp_path / "missing.txt")], "scenario file"),
                               (["--time-scale", "0"], "--time-scale '0': expected a number 0 < K <= 3600"),
                               (["--bogus"], "unknown option '--bogus'")):
        result = subprocess.run([binary, *arguments, "--gpio-dir", str(tmp_path / "gpio")], capture_output=True,
                                text=True, timeout=10)
        assert result.returncode == 2 and message in result.stderr and "READY" not in result.stdout, \
            (arguments, result)
    help_ = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    assert help_.returncode == 0 and "--scenario FILE" in help_.stdout and "--time-scale K" in help_.stdout
    # On the control FIFO a bad line is logged and changes nothing; the next one is taken.
    s = site()
    s.send("valve_stuck sideways", "flood on", "set tank_level 150", "at soon co2_silent on", "soil_sentinel on")
    s.expect("control: valve_stuck wants open, closed or off: 'valve_stuck sideways'")
    s.expect("control: expected [at T | in T] FAULT on|off (soil_sentinel, co2_silent, air_sentinel, tank_empty, "
             "flow_meter_stopped), valve_stuck open|closed|off or set QUANTITY VALUE: 'flood on'")
    s.expect("control: set tank_level wants a number from 0 to 100: 'set tank_level 150'")
    s.expect("control: 'at' wants a time: seconds, or a number with s, m or h (e.g. 600, 10m, 1.5h): "
             "'at soon co2_silent on'")
    s.expect("fault soil_sentinel on")
    assert s.process.poll() is None and s.co2() is not None


def test_edgecore_reads_the_greenhouse_through_the_site_file(site, tmp_path):
    """examples/edgecore_watch on examples/site-simulated.yaml at K = 60: the flow meter's pulses counted without
    bounce or loss (300 a second), the soil sentinel and the silent CO2 sensor seen as their statuses."""
    s = site()
    text = (ROOT / "examples" / "site-simulated.yaml").read_text()
    for old, new in (("port: 15020", f"port: {s.ports['meter']}"), ("port: 15021", f"port: {s.ports['greenhouse']}"),
                     ("port: 15022", f"port: {s.ports['line']}"), ("/tmp/edgecore-site-gpio", str(s.chip)),
                     ("/tmp/edgecore-site-journal", str(tmp_path / "journal"))):
        assert old in text
        text = text.replace(old, new)
    site_file = tmp_path / "site.yaml"
    site_file.write_text(text)
    s.send("valve_stuck open")
    s.expect("irrigation water flowing")
    watch = subprocess.Popen([str(EXAMPLES / "edgecore_watch"), "--json", "--stats", "--seconds", "7", str(site_file)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    s.send("soil_sentinel on", "co2_silent on")
    time.sleep(2.5)
    s.send("soil_sentinel off", "co2_silent off")
    out, err = watch.communicate(timeout=30)
    assert watch.returncode == 0, err
    readings: dict[str, list[dict]] = {}
    for line in out.splitlines():
        if line.startswith("{"):
            reading = json.loads(line)
            readings.setdefault(reading["channel"], []).append(reading)
    stats = re.search(r"pulses 'greenhouse.flow_pulses': (\d+) counted, (\d+) rejected as bounce, (\d+) lost, "
                      r"([\d.]+)/s", out)
    assert stats, out
    counted, rejected, lost, rate = int(stats[1]), int(stats[2]), int(stats[3]), float(stats[4])
    assert rejected == 0 and lost == 0, stats[0]
    assert 0.7 * FLOW_L_PER_S * K * 7 <= counted <= 1.05 * FLOW_L_PER_S * K * 7, stats[0]   # from its start
    assert rate == pytest.approx(FLOW_L_PER_S * K, rel=0.15), stats[0]
    flow = [r["value"] for r in readings["greenhouse.flow_pulses"]]
    assert flow == sorted(flow) and flow[-1] - flow[0] >= 1.0 and {r["unit"] for r in
                                                                 readings["greenhouse.flow_pulses"]} == {"m3"}
    soil = [r["status"] for r in readings["greenhouse.soil_moisture"]]
    assert "sentinel" in soil and soil[0] == "ok" and soil[-1] == "ok", soil
    co2 = [r["status"] for r in readings["greenhouse.co2"]]
    assert "timeout" in co2 and co2[0] == "ok" and co2[-1] == "ok", co2
    for name in ("greenhouse.soil_ec", "greenhouse.main_pump", "greenhouse.dosing_pump", "greenhouse.air_humidity"):
        assert {r["status"] for r in readings[name]} == {"ok"}, (name, readings[name])
    assert {r["value"] for r in readings["greenhouse.main_pump"]} == {1}
    assert re.search(r"device 'greenhouse' \(unit 1\): online, requests (\d+), answers \1, timeouts 0", out), out


def test_a_moisture_band_sees_several_irrigation_cycles_in_two_simulated_hours(site):
    """The rates are chosen for scenario tests: a two-point controller on soil moisture (valve open below 28 %,
    closed above 33 %) waters several times in two simulated hours (here at K = 600: 12 s), and the tank keeps
    up with it."""
    s = site(scale=600)
    openings, lowest, highest, open_ = [], 100.0, 0.0, False
    while True:
        state = s.state()
        if state["sim"] >= 7200:
            break
        moisture = state["moisture"]
        if not open_ and moisture < 28:
            open_ = True
            openings.append(state["sim"])
            s.valve(True)
        elif open_ and moisture > 33:
            open_ = False
            s.valve(False)
        if openings:
            lowest, highest = min(lowest, moisture), max(highest, moisture)
        time.sleep(0.02)
    assert len(openings) >= 3, openings
    gaps = [b - a for a, b in zip(openings, openings[1:])]
    assert all(900 <= gap <= 3600 for gap in gaps), gaps            # a cycle: 15 to 60 simulated minutes
    assert 27 <= lowest and highest <= 34.5, (lowest, highest)
    assert not s.float_low() and s.state()["tank"] > 25
