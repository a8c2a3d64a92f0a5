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


def test_overlapping_bands_of_two_zones_on_one_sensor(tmp_path, refusal_site):
    zone2 = """  - name: zone2
    valve: gh.fan
    moisture: gh.moisture
    moisture_band: [35, 45]
    reason: zone1.reason
    alarm: zone1.alarm
"""
    rules = rules_text()
    rules = rules[:rules.index("climate:")] + zone2
    refused(tmp_path, refusal_site, rules, "moisture_band: [35, 45]", "overlaps zone 'zone1''s [30, 40]")


def test_a_valve_of_two_zones_is_refused(tmp_path, refusal_site):
    zone2 = """  - name: zone2
    valve: gh.valve
    moisture: gh.humidity
    moisture_band: [35, 45]
    reason: zone1.reason
    alarm: zone1.alarm
"""
    rules = rules_text().replace("climate:\n", zone2 + "climate:\n")
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
