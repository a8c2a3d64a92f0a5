"""examples/greenhouse_controller (docs/greenhouse-controller.md): the rules file's refusals (file:line, the
reason, exit 3) and the controller's decisions against a libmodbus server whose registers the test sets:
band and hysteresis, minimum on/off times, dosing interlocks, fail-safe on unusable readings and failed
writes, manual override with its timeout, decisions as readings in the journal."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import harness
from harness import wait_until

ROOT = Path(__file__).resolve().parents[2]
CONTROLLER = Path(os.environ.get("GREENHOUSE_CONTROLLER", ROOT / "build" / "x86_64" / "examples" / "greenhouse_controller"))
TOOL = Path(os.environ.get("EDGECORE_TOOL", ROOT / "build" / "x86_64" / "tools" / "edgecore"))

pytestmark = pytest.mark.skipif(not CONTROLLER.exists(), reason=f"{CONTROLLER} is missing: run 'make examples'")

# Holding registers the test sets (sensors), coils the controller switches (actuators).
H_MOISTURE, H_EC, H_TEMPERATURE, H_HUMIDITY, H_CO2, H_FLOW, H_TANK_LOW = range(7)
C_FAN, C_PUMP, C_DOSER, C_VALVE = range(4)

DECISIONS = ["zone1.reason", "zone1.alarm", "zone1.override", "zone1.dose_ml", "zone1.dosing_override",
             "pump.reason", "pump.alarm", "pump.override", "climate.reason", "climate.alarm", "climate.override"]


def site_text(port: int, journal: Path | None = None, decisions: str = "local") -> str:
    """A site: unit 1 of a Modbus TCP server (sensors in holding registers, actuators in coils) and the
    controller's decision, alarm and override channels (a local bus, or writable holding registers)."""
    text = ""
    if journal:
        text += f"journal:\n  path: {journal}\n  sync_interval_ms: 100\n"
    text += f"""buses:
  - name: gh
    type: tcp
    host: 127.0.0.1
    port: {port}
    connect_timeout_ms: 500
    reconnect_min_ms: 100
    reconnect_max_ms: 500
    devices:
      - name: gh
        unit_id: 1
        response_timeout_ms: 300
        retries: 0
        channels:
          - {{name: gh.moisture, function: holding, address: {H_MOISTURE}, scale: 0.1, interval_ms: 200,
             sentinels: [65535], valid_min: 0, valid_max: 100}}
          - {{name: gh.ec, function: holding, address: {H_EC}, scale: 0.01, interval_ms: 200}}
          - {{name: gh.temperature, function: holding, address: {H_TEMPERATURE}, type: i16, scale: 0.1,
             interval_ms: 200}}
          - {{name: gh.humidity, function: holding, address: {H_HUMIDITY}, scale: 0.1, interval_ms: 200}}
          - {{name: gh.co2, function: holding, address: {H_CO2}, interval_ms: 200}}
          - {{name: gh.flow, function: holding, address: {H_FLOW}, scale: 0.001, interval_ms: 200}}
          - {{name: gh.tank_low, function: holding, address: {H_TANK_LOW}, interval_ms: 200}}
          - {{name: gh.fan, function: coils, address: {C_FAN}, type: bit, writable: true, interval_ms: 200}}
          - {{name: gh.pump, function: coils, address: {C_PUMP}, type: bit, writable: true, interval_ms: 200}}
          - {{name: gh.doser, function: coils, address: {C_DOSER}, type: bit, writable: true, interval_ms: 200}}
          - {{name: gh.valve, function: coils, address: {C_VALVE}, type: bit, writable: true, interval_ms: 200}}
"""
    if decisions == "modbus":
        text += "".join(f"          - {{name: {n}, function: holding, address: {20 + i}, type: i16, writable: true,"
                        f" scale: 0.01, interval_ms: 1000}}\n" for i, n in enumerate(DECISIONS))
    else:
        text += "  - name: controller\n    type: local\n    devices:\n      - name: controller\n        channels:\n"
        text += "".join(f"          - {{name: {n}}}\n" for n in DECISIONS)
    return text


RULES = """# the test's rules
controller:
  tick_ms: 100
  max_age_s: {max_age}
  override_timeout_s: {override_timeout}
  write_timeout_ms: 500
  fault_retry_s: {fault_retry}
pump:
  channel: gh.pump
  tank_low: gh.tank_low
  reason: pump.reason
  alarm: pump.alarm
  override: pump.override
zones:
  - name: zone1
    valve: gh.valve
    moisture: gh.moisture
    moisture_band: [30, 40]
    min_on_s: {min_on}
    min_off_s: {min_off}
    max_open_s: 3600
    flow: gh.flow
    max_daily_volume: {cap}
    no_flow_s: {no_flow}
    reason: zone1.reason
    alarm: zone1.alarm
    override: zone1.override
    dosing:
      pump: gh.doser
      ec: gh.ec
      target_ec: 1.8
      dose_s: 1
      pause_s: 2
      ml_per_s: 5
      dose: zone1.dose_ml
      override: zone1.dosing_override
climate:
  fan: gh.fan
  temperature: gh.temperature
  temperature_band: [22, 28]
  min_on_s: 0
  min_off_s: 0
  co2: gh.co2
  co2_max: 1500
  humidity: gh.humidity
  humidity_band: [40, 90]
  reason: climate.reason
  alarm: climate.alarm
  override: climate.override
"""


def rules_text(**overrides) -> str:
    values = dict(max_age=2, override_timeout=3, fault_retry=600, min_on=0, min_off=0, cap=10, no_flow=600)
    values.update(overrides)
    return RULES.format(**values)


def run_controller(*args, timeout=20):
    return subprocess.run([str(CONTROLLER), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in the rules")


@pytest.fixture
def refusal_site(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(site_text(harness.free_tcp_port(), decisions="modbus"))
    return site


def refused(tmp_path, site, rules: str, needle: str, reason: str, occurrence: int = 1):
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    r = run_controller("--rules", path, site)
    assert r.returncode == 3, (r.returncode, r.stderr)
    line = line_of(rules, needle, occurrence)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert f"{path}:{line}: " in lines[0], (line, r.stderr)
    assert reason in lines[0], r.stderr
    return lines[0]


# ------------------------------------------------------------------------------------------------------
# Refusals
# ------------------------------------------------------------------------------------------------------

def test_the_test_rules_load(tmp_path, refusal_site):
    """The base rules are accepted (the refusals below change one thing each): the controller starts, and
    stops at --seconds with 0 (the server is absent: every reading times out, nothing is switched on)."""
    path = tmp_path / "rules.yaml"
    path.write_text(rules_text())
    r = run_controller("--rules", path, "--seconds", "1", refusal_site)
    assert r.returncode in (0, 1), r.stderr  # 1: the safe-state writes could not reach the absent server
    assert "started" in r.stderr and "stopped" in r.stderr, r.stderr


@pytest.mark.parametrize("old,new,needle,reason", [
    ("moisture: gh.moisture", "moisture: gh.nothing", "moisture: gh.nothing", "unknown channel 'gh.nothing'"),
    ("valve: gh.valve", "valve: gh.moisture", "valve: gh.moisture", "channel 'gh.moisture' is not writable"),
    ("fan: gh.fan", "fan: gh.temperature", "fan: gh.temperature", "is not writable"),
    ("moisture_band: [30, 40]", "moisture_band: [40, 30]", "moisture_band:", "inverted band [40, 30]"),
    ("temperature_band: [22, 28]", "temperature_band: [28, 28]", "temperature_band:", "inverted band"),
    ("moisture_band: [30, 40]", "moisture_band: [30]", "moisture_band:", "expected [low, high]"),
    ("      pump: gh.doser", "      pump: gh.valve", "      pump: gh.valve", "cannot be the valve itself"),
    ("      pump: gh.doser", "      pump: gh.pump", "      pump: gh.pump", "cannot be the main pump itself"),
    ("    flow: gh.flow\n", "", "max_daily_volume", "max_daily_volume needs the zone's flow meter"),
    ("  fan: gh.fan", "  fan: gh.pump", "  fan: gh.pump", "already pump.channel (main pump)"),
    ("    min_on_s: 0", "    min_on_s: 0\n    colour: green", "colour: green", "unknown key 'colour'"),
    ("  tick_ms: 100", "  tick_ms: fast", "tick_ms: fast", "'fast' is not a number"),
    ("  tick_ms: 100", "  tick_ms: 5", "tick_ms: 5", "outside 10 .. 60000"),
    ("    reason: zone1.reason\n", "", "  - name: zone1", "'reason' is required"),
    ("  tick_ms: 100", "\ttick_ms: 100", "tick_ms: 100", "a tab in the indentation"),
    ("  tick_ms: 100", "  tick_ms:", "tick_ms:", "'tick_ms' has no value"),
    ("  tick_ms: 100", "  tick_ms: 100\n  tick_ms: 200", "tick_ms: 200", "'tick_ms' given twice"),
    ("  tick_ms: 100", "  tick_ms: 100\n     stray: 1", "stray: 1", "unexpected indentation"),
    ("  tick_ms: 100", "  tick_ms: {a: 1}", "tick_ms: {a", "not part of the rules format"),
])
def test_refusals_name_file_line_and_reason(tmp_path, refusal_site, old, new, needle, reason):
    rules = rules_text()
    assert old in rules
    refused(tmp_path, refusal_site, rules.replace(old, new, 1), needle, reason)


def zone2(valve: str, moisture: str) -> str:
    """A second zone's rules (its band [35, 45])."""
    return (f"  - name: zone2\n    valve: {valve}\n    moisture: {moisture}\n    moisture_band: [35, 45]\n"
            "    reason: zone1.reason\n    alarm: zone1.alarm\n")


def test_overlapping_bands_of_two_zones_on_one_sensor(tmp_path, refusal_site):
    rules = rules_text()
    rules = rules[:rules.index("climate:")] + zone2("gh.fan", "gh.moisture")
    refused(tmp_path, refusal_site, rules, "moisture_band: [35, 45]", "overlaps zone 'zone1''s [30, 40]")


def test_a_valve_of_two_zones_is_refused(tmp_path, refusal_site):
    rules = rules_text().replace("climate:\n", zone2("gh.valve", "gh.humidity") + "climate:\n")
    refused(tmp_path, refusal_site, rules, "valve: gh.valve", "already zone 'zone1': valve", occurrence=2)


def test_dosing_without_a_main_pump_is_refused(tmp_path, refusal_site):
    rules = rules_text()
    rules = rules[:rules.index("pump:\n")] + rules[rules.index("zones:\n"):]
    refused(tmp_path, refusal_site, rules, "    dosing:", "dosing is interlocked with the main pump")


def test_missing_rules_file_and_bad_site(tmp_path, refusal_site):
    r = run_controller("--rules", tmp_path / "absent.yaml", refusal_site)
    assert r.returncode == 3 and "absent.yaml: cannot read the rules file" in r.stderr, r.stderr
    bad = tmp_path / "bad-site.yaml"
    bad.write_text("buses:\n  - name: x\n    type: carrier-pigeon\n")
    (tmp_path / "rules.yaml").write_text(rules_text())
    r = run_controller("--rules", tmp_path / "rules.yaml", bad)
    assert r.returncode == 3 and "bad-site.yaml:" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("args,pattern", [
    ([], "--rules RULES is required"),
    (["--rules", "r.yaml"], "no site file given"),
    (["--rules", "r.yaml", "a.yaml", "b.yaml"], "one site file only"),
    (["--bogus"], "unknown option"),
    (["--time-scale", "0", "--rules", "r", "s"], "--time-scale"),
    (["--time-scale", "fast", "--rules", "r", "s"], "--time-scale"),
    (["--rules"], "needs a value"),
])
def test_usage_errors_exit_2(args, pattern):
    r = run_controller(*args)
    assert r.returncode == 2, r.stderr
    assert pattern in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_help_lists_every_option():
    r = run_controller("--help")
    assert r.returncode == 0
    for option in ("--rules", "--time-scale", "--override-file", "--seconds", "Exit codes"):
        assert option in r.stdout


# ------------------------------------------------------------------------------------------------------
# Decisions against a libmodbus server whose registers the test sets
# ------------------------------------------------------------------------------------------------------

class Rig:
    """The libmodbus server (unit 1: sensors in holding registers 0..6, actuators in coils 0..3), the site
    (with a journal), the rules and the running controller."""

    def __init__(self, tmp_path, server, exceptions=(), scale=None, **rule_values):
        self.tmp = tmp_path
        self.port = harness.free_tcp_port()
        self.map = tmp_path / "map.txt"
        # moisture 35.0 (in band), EC 2.00, 25.0 degC, 60.0 %RH, 800 ppm, flow 0, tank ok; every coil off
        self.map.write_text("1 holding 0 350 200 250 600 800 0 0\n1 coil 0 0 0 0 0\n1 holding 20" + " 0" * len(DECISIONS) + "\n")
        self.peer = server(tcp=self.port, map=str(self.map), exceptions=list(exceptions))
        self.journal = tmp_path / "journal"
        self.site = tmp_path / "site.yaml"
        self.site.write_text(site_text(self.port, self.journal, os.environ.get("GREENHOUSE_DECISIONS", "local")))
        self.rules = tmp_path / "rules.yaml"
        self.rules.write_text(rules_text(**rule_values))
        self.override = tmp_path / "override.txt"
        self.log = tmp_path / "controller.log"
        self.client = harness.modbus_client(tcp=self.port)
        args = [str(CONTROLLER), "--rules", str(self.rules), "--override-file", str(self.override)]
        if scale:
            args += ["--time-scale", str(scale)]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args + [str(self.site)], stdout=subprocess.DEVNULL, stderr=log)
        wait_until(lambda: "started" in self.log_text(), 10, what="controller started")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def set(self, register: int, value: int) -> None:
        assert not self.client.write_register(register, value, slave=1).isError()

    def coils(self) -> dict:
        r = self.client.read_coils(0, 4, slave=1)
        assert not r.isError(), r
        return dict(fan=r.bits[0], pump=r.bits[1], doser=r.bits[2], valve=r.bits[3])

    def wait_coil(self, name: str, value: bool, timeout: float) -> float:
        started = time.monotonic()
        wait_until(lambda: self.coils()[name] == value, timeout, 0.02, f"{name} = {value}\n{self.log_text()}")
        return time.monotonic() - started

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def readings(self, channel: str) -> list[dict]:
        """The journal's readings of a channel (after stop)."""
        import json
        r = subprocess.run([str(TOOL), "journal", "dump", str(self.journal), "--site", str(self.site),
                            "--format", "json"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        return [row for row in rows if row["channel"] == channel]

    def close(self) -> None:
        self.stop()
        self.client.close()


def changes(rows: list[dict]) -> list[float]:
    """The values of a channel's readings with repeats (heartbeats) folded."""
    out = []
    for row in rows:
        if row.get("status") == "ok" and (not out or out[-1] != row["value"]):
            out.append(row["value"])
    return out


@pytest.fixture
def make_rig(tmp_path, peers_built, libmodbus_server):
    rigs = []

    def make(**options) -> Rig:
        rig = Rig(tmp_path, libmodbus_server, **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def test_band_with_hysteresis_and_decisions_as_readings(make_rig):
    rig = make_rig()
    time.sleep(1.0)
    assert rig.coils() == dict(fan=False, pump=False, doser=False, valve=False)  # in band, 25.0 degC
    rig.set(H_MOISTURE, 250)                       # 25.0 %: below the band
    rig.wait_coil("valve", True, 3)
    rig.wait_coil("pump", True, 2)                 # the main pump follows the open valve
    rig.set(H_MOISTURE, 350)                       # inside the band: hysteresis keeps it open
    time.sleep(1.0)
    assert rig.coils()["valve"] is True
    rig.set(H_MOISTURE, 450)                       # above the band
    rig.wait_coil("valve", False, 3)
    rig.wait_coil("pump", False, 2)
    rig.set(H_TEMPERATURE, 300)                    # 30.0 degC: above the fan's band
    rig.wait_coil("fan", True, 3)
    rig.set(H_TEMPERATURE, 200)
    rig.wait_coil("fan", False, 3)
    assert rig.stop() == 0
    assert rig.coils() == dict(fan=False, pump=False, doser=False, valve=False)
    # startup (18), opened below the band (1), closed above it (10), shutdown (17)
    assert changes(rig.readings("zone1.reason")) == [18, 1, 10, 17]
    assert changes(rig.readings("pump.reason")) == [18, 1, 10, 17]
    assert changes(rig.readings("climate.reason")) == [18, 1, 10, 17]
    assert changes(rig.readings("zone1.alarm")) == [0]
    assert "valve opened (reason 1: moisture 25.0 below 30.0)" in rig.log_text()


def test_minimum_on_and_off_times_on_a_scaled_clock(make_rig):
    # min on/off 30 controller seconds at 10 controller seconds per real second: 3 s real
    rig = make_rig(scale=10, min_on=30, min_off=30, max_age=20)
    rig.set(H_MOISTURE, 250)
    rig.wait_coil("valve", True, 3)
    opened = time.monotonic()
    rig.set(H_MOISTURE, 450)                       # at once above the band: no chatter, the minimum holds
    rig.wait_coil("valve", False, 6)
    on_for = time.monotonic() - opened
    assert 2.8 <= on_for <= 4.5, on_for
    closed = time.monotonic()
    rig.set(H_MOISTURE, 250)
    rig.wait_coil("valve", True, 6)
    off_for = time.monotonic() - closed
    assert 2.8 <= off_for <= 4.5, off_for
    assert rig.stop() == 0


def test_dosing_only_into_an_open_flowing_line(make_rig):
    rig = make_rig()
    rig.set(H_EC, 100)                             # EC 1.00, below the 1.8 target
    rig.override.write_text("zone1.dosing_override 1\n")  # force dosing on: the interlock still holds
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert rig.coils()["doser"] is False
    rig.override.write_text("zone1.dosing_override -1\n")
    rig.set(H_MOISTURE, 250)
    rig.wait_coil("doser", True, 4)
    samples = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        c = rig.coils()
        samples += 1
        assert not c["doser"] or (c["valve"] and c["pump"]), c
    rig.set(H_TANK_LOW, 1)                         # the float switch: the pump stops, so does dosing
    rig.wait_coil("pump", False, 3)
    c = rig.coils()
    assert c["doser"] is False, c
    time.sleep(0.5)
    assert rig.coils()["pump"] is False and rig.coils()["doser"] is False
    assert rig.stop() == 0
    doses = [row["value"] for row in rig.readings("zone1.dose_ml") if row["status"] == "ok"]
    assert doses and all(0 < d <= 7 for d in doses), doses
    assert 1 in changes(rig.readings("pump.alarm"))        # tank low
    assert 19 in changes(rig.readings("pump.reason"))      # off: tank low


@pytest.mark.parametrize("fault,raw,status", [("sentinel", 65535, "sentinel"), ("out_of_range", 1500, "out_of_range")])
def test_an_unusable_reading_closes_the_valve_with_an_alarm_and_control_resumes(make_rig, fault, raw, status):
    rig = make_rig()
    rig.set(H_MOISTURE, 250)
    rig.wait_coil("valve", True, 3)
    rig.set(H_MOISTURE, raw)
    took = rig.wait_coil("valve", False, 3)
    assert took <= 0.2 + 2 + 0.5, took              # one interval plus the max age (and a tick)
    assert rig.coils()["pump"] is False
    rig.set(H_MOISTURE, 250)                         # the fault clears: automatic control resumes
    rig.wait_coil("valve", True, 3)
    assert rig.stop() == 0
    assert changes(rig.readings("zone1.alarm")) == [0, 1, 0]
    assert changes(rig.readings("zone1.reason"))[:4] == [18, 1, 14, 1]
    assert f"status {status}" in rig.log_text()


def test_a_silent_device_drives_the_safe_state_within_interval_plus_age(make_rig):
    rig = make_rig()
    rig.set(H_MOISTURE, 250)
    rig.set(H_TEMPERATURE, 300)
    rig.wait_coil("valve", True, 3)
    rig.wait_coil("fan", True, 3)
    rig.client.close()
    rig.peer.stop()                                 # every reading now times out or is disconnected
    wait_until(lambda: "zone zone1: valve closed (reason 14" in rig.log_text(), 0.2 + 2 + 1.5, 0.05,
               "valve closed on the silent sensor")
    assert rig.stop() == 1                          # the safe-state writes could not reach the device
    alarms = changes(rig.readings("zone1.alarm"))
    assert alarms[0] == 0 and all(a & 1 for a in alarms[1:]) and len(alarms) > 1, alarms
    climate = changes(rig.readings("climate.alarm"))
    assert any(a & 1 for a in climate), climate      # the temperature sensor's alarm


def test_a_failed_write_is_the_safe_state_with_an_alarm(make_rig):
    rig = make_rig(exceptions=["1:coil:3:4"])      # the valve's coil answers every request with exception 4
    wait_until(lambda: "write 0 to gh.valve failed" in rig.log_text(), 3, 0.05, "the failed write")
    rig.set(H_MOISTURE, 250)                        # dry: but the zone holds its safe state after the failure
    rig.set(H_EC, 100)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        r = rig.client.read_coils(0, 3, slave=1)
        assert not r.isError() and r.bits[1] is False and r.bits[2] is False   # pump and doser stay off
    assert "write 1 to gh.valve" not in rig.log_text()
    assert rig.log_text().count("write 0 to gh.valve failed") == 1            # logged once, retried quietly
    assert rig.stop() == 1                          # the final safe-state write failed too
    assert changes(rig.readings("zone1.reason")) == [18, 16, 17]   # startup, write failed, shutdown
    assert changes(rig.readings("zone1.alarm"))[0] & 16


def test_override_then_timeout_resumes_automatic_control(make_rig):
    rig = make_rig(override_timeout=3)
    rig.set(H_MOISTURE, 450)                        # above the band: automatic control keeps it closed
    time.sleep(0.5)
    rig.override.write_text("zone1.override 1\n")
    rig.wait_coil("valve", True, 2)
    opened = time.monotonic()
    rig.wait_coil("valve", False, 6)                # the override timed out: closed by the band
    assert 2.5 <= time.monotonic() - opened <= 5
    # the interlock holds under override: the pump forced on stays off while the tank is low
    rig.set(H_TANK_LOW, 1)
    rig.override.write_text("pump.override 1\n")
    time.sleep(1.5)
    assert rig.coils()["pump"] is False
    assert rig.stop() == 0
    assert changes(rig.readings("zone1.override")) == [-1, 1, -1]
    reasons = changes(rig.readings("zone1.reason"))
    assert reasons[:3] == [18, 2, 10], reasons
    assert "override 1 timed out" in rig.log_text()


# ------------------------------------------------------------------------------------------------------
# The gateway's --controller: decisions on the uplink, the override through the command topic
# ------------------------------------------------------------------------------------------------------

def test_gateway_runs_the_controller_and_its_command_topic_overrides(tmp_path, peers_built, libmodbus_server):
    import json
    import mqtt_rig
    if not mqtt_rig.GATEWAY.exists():
        pytest.skip(f"{mqtt_rig.GATEWAY} is missing: run 'make examples'")
    port = harness.free_tcp_port()
    (tmp_path / "map.txt").write_text("1 holding 0 350 200 250 600 800 0 0\n1 coil 0 0 0 0 0\n")
    libmodbus_server(tcp=port, map=str(tmp_path / "map.txt"))
    site = tmp_path / "site.yaml"
    site.write_text(site_text(port, tmp_path / "journal"))
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text(override_timeout=600))
    rig = mqtt_rig.GatewayRig(tmp_path / "rig").start()
    client = harness.modbus_client(tcp=port)
    try:
        # refused rules: exit 3 with file:line
        bad = tmp_path / "bad.yaml"
        bad.write_text(rules_text().replace("valve: gh.valve", "valve: gh.moisture"))
        r = mqtt_rig.run_gateway(site, rig.options(extra=["--controller", bad]))
        assert r.returncode == 3 and f"{bad}:{line_of(bad.read_text(), 'valve: gh.moisture')}:" in r.stderr, r.stderr

        gw = rig.gateway("--controller", rules, site=site)
        wait_until(lambda: "started" in gw.log_text(), 10, what="the controller started")
        assert not client.write_register(H_MOISTURE, 250, slave=1).isError()

        def valve():
            return client.read_coils(C_VALVE, 1, slave=1).bits[0]
        wait_until(valve, 5, what="the valve opened")
        sub = rig.subscriber

        def answered(command_id):
            for m in sub.snapshot(rig.response_topic):
                answer = json.loads(m.payload)
                if answer.get("id") == command_id:
                    return answer
            return None

        def command(command_id, channel, value):
            sub.publish(rig.command_topic, json.dumps({"id": command_id, "channel": channel, "value": value}))
            return answered(command_id)
        # the gateway subscribes once connected: send until answered
        wait_until(lambda: command("off", "zone1.override", 0), 15, 0.5, "the override command answered")
        assert answered("off")["ok"] is True
        wait_until(lambda: not valve(), 5, what="the valve closed by the override")
        assert gw.stop() == 0
        assert not any(client.read_coils(0, 4, slave=1).bits[:4])
        seen, _ = mqtt_rig.arrivals(sub.snapshot(rig.readings_topic), rig.GATEWAY_ID)
        reasons = changes([{"status": a.status, "value": a.value} for a in seen if a.channel == "zone1.reason"])
        overrides = changes([{"status": a.status, "value": a.value} for a in seen if a.channel == "zone1.override"])
        assert reasons[:3] == [18, 1, 13], reasons      # startup, opened dry, closed by the override
        assert 0 in overrides, overrides
        assert "zone zone1: valve closed (reason 13" in gw.log_text()
    finally:
        client.close()
        rig.close()


def test_gateway_controller_options_usage(tmp_path):
    import mqtt_rig
    if not mqtt_rig.GATEWAY.exists():
        pytest.skip(f"{mqtt_rig.GATEWAY} is missing: run 'make examples'")
    site = tmp_path / "site.yaml"
    site.write_text(site_text(harness.free_tcp_port(), tmp_path / "journal"))
    for options, pattern in ((["--controller-time-scale", "0"], "--controller-time-scale"),
                             (["--controller"], "no site file given")):   # the site became its value
        r = mqtt_rig.run_gateway(site, options)
        assert r.returncode == 2 and pattern in r.stderr, r.stderr
    r = mqtt_rig.run_gateway(site, ["--controller", tmp_path / "absent.yaml"])
    assert r.returncode == 3 and "absent.yaml: cannot read the rules file" in r.stderr, r.stderr
    assert "--controller RULES" in mqtt_rig.run_gateway(site, ["--help"]).stdout
