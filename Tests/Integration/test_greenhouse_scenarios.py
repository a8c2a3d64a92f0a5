"""Scenario tests of the greenhouse controller (examples/greenhouse_controller, examples/greenhouse-rules.yaml)
against the simulated site (examples/site_simulator, examples/site-simulated.yaml) over simulated hours: the
simulator's physics and the controller's clock both run K times faster (--time-scale K). What is asserted
comes from the simulator's own event log (what the valves and pumps really did, with simulated times) and
from the controller's decisions and alarms in the journal (local channels):
  - soil moisture held within its band (outside the fault windows), no valve opening shorter than its
    minimum on time (no chatter), dosing never into a dry line, the daily volume cap;
  - each injected fault (soil sensor sentinel, CO2 sensor silent, tank empty, valve stuck closed, flow meter
    stopped) leads to the safe state within one sampling interval plus the rules' max age, with its alarm,
    and control resumes when it clears."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

import harness
from harness import wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "build" / "x86_64" / "examples"
CONTROLLER = Path(os.environ.get("GREENHOUSE_CONTROLLER", EXAMPLES / "greenhouse_controller"))
SIMULATOR = EXAMPLES / "site_simulator"
TOOL = Path(os.environ.get("EDGECORE_TOOL", ROOT / "build" / "x86_64" / "tools" / "edgecore"))

pytestmark = pytest.mark.skipif(not (CONTROLLER.exists() and SIMULATOR.exists()),
                                reason="run 'make examples' (greenhouse_controller, site_simulator)")


def setting(text: str, key: str, value) -> str:
    """The rules text with `key: value` replaced (the first occurrence; comments after the value stay)."""
    new, count = re.subn(rf"^(\s*{key}:)\s*[^#\n]*?(\s*(#.*)?)$", rf"\g<1> {value}\g<2>", text, count=1,
                         flags=re.M)
    assert count == 1, key
    return new


class Run:
    """One simulated run: the simulator on free ports, the site file pointed at it, the rules, the controller;
    both at time scale K for `seconds` real seconds."""

    def __init__(self, tmp: Path, scale: float, seconds: float, scenario: str, overrides: str = "", **rules):
        self.tmp, self.scale = tmp, scale
        ports = [harness.free_tcp_port() for _ in range(3)]
        gpio, self.journal = tmp / "gpio", tmp / "journal"
        site = (ROOT / "examples" / "site-simulated.yaml").read_text()
        site = site.replace("port: 15020", f"port: {ports[0]}").replace("port: 15021", f"port: {ports[1]}")
        site = site.replace("port: 15022", f"port: {ports[2]}").replace("/tmp/edgecore-site-gpio", str(gpio))
        site = site.replace("/tmp/edgecore-site-journal", str(self.journal))
        self.site = tmp / "site.yaml"
        self.site.write_text(site)
        text = (ROOT / "examples" / "greenhouse-rules.yaml").read_text()
        for key, value in rules.items():
            text = setting(text, key, value)
        self.rules_text = text
        self.rules = tmp / "rules.yaml"
        self.rules.write_text(text)
        (tmp / "scenario.txt").write_text(scenario)
        self.sim_log = tmp / "simulator.log"
        self.log = tmp / "controller.log"
        with open(self.sim_log, "w") as out:
            self.sim = subprocess.Popen([str(SIMULATOR), "--meter-port", str(ports[0]), "--greenhouse-port",
                                         str(ports[1]), "--meter-line-port", str(ports[2]), "--meter-line-baud", "0",
                                         "--gpio-dir", str(gpio), "--time-scale", str(scale), "--seconds",
                                         str(seconds + 20), "--scenario", str(tmp / "scenario.txt"),
                                         "--no-air-dropouts"], stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: "READY" in self.sim_log.read_text(), 10, what="the simulator READY")
        self.started = time.time()        # the simulator's t = 0 (to a few ms)
        (tmp / "overrides.txt").write_text(overrides)
        with open(self.log, "w") as err:
            self.controller = subprocess.Popen([str(CONTROLLER), "--time-scale", str(scale), "--seconds", str(seconds),
                                                "--override-file", str(tmp / "overrides.txt"),
                                                "--rules", str(self.rules), str(self.site)],
                                               stdout=subprocess.DEVNULL, stderr=err)

    def finish(self, timeout: float) -> None:
        try:
            assert self.controller.wait(timeout=timeout) == 0, self.log.read_text()[-3000:]
        finally:
            for proc in (self.controller, self.sim):
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=5)

    # -- what happened ------------------------------------------------------------------------------------
    def events(self) -> list[tuple[float, str]]:
        """The simulator's events: (simulated seconds, text)."""
        out = []
        for line in self.sim_log.read_text().splitlines():
            m = re.match(r"^(\d+(?:\.\d+)?) s: (.*)$", line)
            if m:
                out.append((float(m.group(1)), m.group(2)))
        return out

    def readings(self) -> dict[str, list[tuple[float, str, float | None]]]:
        """The journal's readings per channel: (simulated seconds, status, value)."""
        r = subprocess.run([str(TOOL), "journal", "dump", str(self.journal), "--site", str(self.site), "--format",
                            "json"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        out: dict[str, list] = {}
        for line in r.stdout.splitlines():
            row = json.loads(line)
            t = (row["ts_ns"] / 1e9 - self.started) * self.scale
            out.setdefault(row["channel"], []).append((t, row["status"], row["value"]))
        return out


def first(rows, predicate, after: float = -1e18):
    return next((t for t, status, value in rows if t >= after and status == "ok" and predicate(value)), None)


def states(events, on: str, off: str):
    """Intervals (start, end) of a state from the simulator's events ("main pump on" .. "main pump off")."""
    out, since = [], None
    for t, text in events:
        if text == on and since is None:
            since = t
        elif text == off and since is not None:
            out.append((since, t))
            since = None
    if since is not None:
        out.append((since, float("inf")))
    return out


def test_hours_of_control_with_each_fault_injected(tmp_path):
    K = 120                     # two simulated hours a minute
    interval = 1.0 * K          # the sensors' sampling interval (1-2 s real) on the simulated clock
    age = 360                   # the rules' max_age_s (3 s real)
    tick = 0.1 * K
    bound = 2.0 * K + age + tick + 0.5 * K   # one interval (the slowest: 2 s) + the age + a tick + clock slack
    minutes = 60
    scenario = f"""# faults at simulated times
at {30 * minutes}s soil_sentinel on
at {38 * minutes}s soil_sentinel off
at {44 * minutes}s co2_silent on
at {50 * minutes}s co2_silent off
at {54 * minutes}s tank_empty on
at {62 * minutes}s tank_empty off
at {70 * minutes}s set soil_moisture 20
at {70 * minutes}s valve_stuck closed
at {78 * minutes}s valve_stuck off
"""
    run = Run(tmp_path, K, 44, scenario, tick_ms=100, max_age_s=age, fault_retry_s=300, no_flow_s=120,
              max_daily_volume=1000)
    run.finish(90)
    events, readings = run.events(), run.readings()
    zone_alarm, pump_alarm = readings["zone1.alarm"], readings["pump.alarm"]
    climate_alarm, reasons = readings["climate.alarm"], readings["zone1.valve_reason"]
    log = run.log.read_text()

    # Soil sensor sentinel: the valve closed (or stayed closed) and the alarm within the bound; back after.
    t0, t1 = 30 * minutes, 38 * minutes
    raised = first(zone_alarm, lambda v: int(v) & 1, t0)
    assert raised is not None and raised - t0 <= bound, (raised, t0, bound)
    valve_open = states(events, "irrigation valve opened", "irrigation valve closed")
    assert not [o for o in valve_open if o[0] > t0 + bound and o[0] < t1], valve_open
    assert all(end <= t0 + bound for start, end in valve_open if start < t0 < end), valve_open
    cleared = first(zone_alarm, lambda v: not int(v) & 1, t1)
    assert cleared is not None and cleared - t1 <= bound, (cleared, t1)

    # CO2 sensor silent: its alarm (bit 2) within the bound, cleared after.
    t0, t1 = 44 * minutes, 50 * minutes
    raised = first(climate_alarm, lambda v: int(v) & 2, t0)
    assert raised is not None and raised - t0 <= bound + 2 * 500 / 1000 * K, (raised, t0)  # + the unit's timeout
    cleared = first(climate_alarm, lambda v: not int(v) & 2, t1)
    assert cleared is not None and cleared - t1 <= bound, (cleared, t1)

    # Tank empty: the pump off within the bound, its alarm (bit 1: tank low), never on until it clears.
    t0, t1 = 54 * minutes, 62 * minutes
    raised = first(pump_alarm, lambda v: int(v) & 1, t0)
    assert raised is not None and raised - t0 <= bound, (raised, t0)
    pump = states(events, "main pump on", "main pump off")
    assert all(end <= t0 + bound for start, end in pump if start < t0 < end), pump
    assert not [p for p in pump if t0 < p[0] < t1], pump

    # Valve stuck closed with dry soil: the valve opens, no water flows: closed for lack of flow (reason 15)
    # with the no-flow alarm (bit 4); the zone retries after fault_retry_s, and waters once the valve works.
    t0, t1 = 70 * minutes, 78 * minutes
    raised = first(zone_alarm, lambda v: int(v) & 4, t0)
    assert raised is not None and raised - t0 <= 300 + 120 + bound, (raised, t0)
    assert first(reasons, lambda v: v == 15, t0) is not None
    flowing = states(events, "irrigation water flowing", "irrigation water stopped")
    assert not [f for f in flowing if t0 < f[0] < t1], flowing
    assert [f for f in flowing if f[0] >= t1], (flowing, "watering resumed after the fault")

    # Moisture held within the band outside the fault windows (and the refills of a low tank): a sampling
    # interval of irrigation (1 %/min) or evaporation is the tolerance.
    windows = [(30 * minutes, 38 * minutes + 15 * minutes), (54 * minutes, 62 * minutes + 15 * minutes),
               (70 * minutes, 1e18)]
    windows += [(a, b + 15 * minutes) for a, b in states(events, "tank low", "tank no longer low")]
    moisture = [(t, v) for t, status, v in readings["greenhouse.soil_moisture"] if status == "ok"]
    reached = next(t for t, v in moisture if v >= 30)
    held = [(t, v) for t, v in moisture if t > reached and not any(a <= t <= b for a, b in windows)]
    assert len(held) >= 10, len(held)          # one reading a real second: every 120 simulated s
    slack = interval / 60 * 1.0 + 0.5
    assert all(30 - slack <= v <= 40 + slack for t, v in held), [x for x in held if not 30 - slack <= x[1] <= 40 + slack][:5]

    # No valve opening shorter than min_on_s (120) when closed by the band (faults may close it at once).
    opened = None
    for t, status, v in reasons:
        if status != "ok":
            continue
        if v in (1, 2) and opened is None:
            opened = t
        elif v >= 10 and opened is not None:
            if v == 10:
                assert t - opened >= 120 - tick - 0.5 * K, (opened, t)
            opened = None

    # Dosing never into a dry line outside the windows where a fault stopped the water under it.
    dry = [t for t, text in events if text == "dosing pump running into a dry line (no water flowing)"]
    faults = [54 * minutes, 70 * minutes] + [a for a, b in states(events, "tank low", "tank no longer low")]
    assert all(any(0 <= t - f <= bound for f in faults) for t in dry), (dry, faults)
    assert "dosing (EC" in log or not [r for r in readings.get("zone1.dose_ml", [])], log[-2000:]


def test_the_daily_volume_cap_closes_the_valve(tmp_path):
    K = 30
    scenario = "at 0s set soil_moisture 10\n"
    run = Run(tmp_path, K, 14, scenario, tick_ms=100, max_age_s=120, max_daily_volume=0.6, min_on_s=30,
              max_open_s=3600)
    run.finish(60)
    readings, events = run.readings(), run.events()
    flow = [(t, v) for t, status, v in readings["greenhouse.flow_pulses"] if status == "ok"]
    used = flow[-1][1] - flow[0][1]
    # 5 L/s for at most one sampling interval (1 s real) and a tick beyond the cap
    assert 0.6 <= used <= 0.6 + 0.005 * (1.0 * K + 0.1 * K + 0.5 * K), used
    reasons = [v for t, status, v in readings["zone1.valve_reason"] if status == "ok"]
    assert 12 in reasons, reasons                     # closed: daily volume reached
    assert reasons[reasons.index(12):].count(1) == 0, reasons   # and not opened again that day
    assert any(int(v) & 32 for t, status, v in readings["zone1.alarm"] if status == "ok")
    opened = states(events, "irrigation valve opened", "irrigation valve closed")
    assert len(opened) == 1, opened


def test_a_stopped_flow_meter_closes_the_valve_and_watering_resumes(tmp_path):
    K = 60
    scenario = "at 0s set soil_moisture 15\nat 0s flow_meter_stopped on\nat 400s flow_meter_stopped off\n"
    run = Run(tmp_path, K, 13, scenario, tick_ms=100, max_age_s=180, no_flow_s=120, fault_retry_s=300,
              min_on_s=30, min_off_s=30)
    run.finish(60)
    readings, events = run.readings(), run.events()
    reasons = readings["zone1.valve_reason"]
    opened = first(reasons, lambda v: v == 1)
    closed = first(reasons, lambda v: v == 15)     # closed: no flow although open and pumping
    assert opened is not None and closed is not None, reasons
    bound = 1.0 * K + 180 + 0.1 * K + 0.5 * K
    assert 120 - 0.1 * K <= closed - opened <= 120 + bound, (opened, closed)   # (a tick of jitter)
    assert any(int(v) & 4 for t, status, v in readings["zone1.alarm"] if status == "ok")
    # the water flowed unmetered meanwhile; after fault_retry_s the zone opens again, and the meter counts
    again = first(reasons, lambda v: v == 1, closed)
    assert again is not None and 300 - 0.5 * K <= again - closed <= 300 + bound, (closed, again)
    flow = [(t, v) for t, status, v in readings["greenhouse.flow_pulses"] if status == "ok"]
    assert flow[-1][1] - flow[0][1] > 0.1, flow[-3:]
    assert not [t for t, status, v in readings["zone1.alarm"] if t > again + bound and status == "ok" and int(v) & 4]
    assert [t for t, text in events if text == "irrigation valve opened"][:2]


def test_a_valve_stuck_open_stops_the_pump_even_under_override_and_the_air_sensor_fails_safe(tmp_path):
    K = 60
    scenario = ("at 0s set soil_moisture 35\nat 0s valve_stuck open\nat 300s air_sentinel on\n"
                "at 480s air_sentinel off\nat 480s valve_stuck off\n")
    run = Run(tmp_path, K, 13, scenario, overrides="pump.override 1\n", tick_ms=100, max_age_s=180,
              leak_volume=0.01, fan_safe_state=0)
    run.finish(60)
    readings, events = run.readings(), run.events()
    # The pump forced on pushes water through the closed (stuck) valve: the leak stops it (reason 20) and
    # raises the zone's alarm 8, the override notwithstanding.
    assert first(readings["pump.reason"], lambda v: v == 2) is not None            # on by the override
    stopped = first(readings["pump.reason"], lambda v: v == 20)
    assert stopped is not None, readings["pump.reason"]
    assert first(readings["zone1.alarm"], lambda v: int(v) & 8) is not None
    pump = states(events, "main pump on", "main pump off")
    assert pump and pump[0][1] < 300, pump                                           # stopped, not restarted
    assert not [p for p in pump[1:] if p[0] < 480], pump
    # The air sensor's sentinel: the temperature alarm (climate bit 1) within an interval plus the age, the fan
    # at its safe state (off) meanwhile; cleared after.
    bound = 2.0 * K + 180 + 0.1 * K + 0.5 * K
    raised = first(readings["climate.alarm"], lambda v: int(v) & 1, 300)
    assert raised is not None and raised - 300 <= bound, raised
    fan = states(events, "vent fan on", "vent fan off")
    assert not [f for f in fan if 300 + bound < f[0] < 480 or (f[0] < 300 + bound and f[1] > 300 + bound)], fan
    cleared = first(readings["climate.alarm"], lambda v: not int(v) & 1, 480)
    assert cleared is not None and cleared - 480 <= bound, cleared
