"""The main job end to end: examples/site_simulator plays the site of examples/site-simulated.yaml (Modbus
TCP on 127.0.0.1 and EdgeCore's simulated GPIO chip), examples/edgecore_watch samples it through the
shipped (Embedded) libEdgeCore, as scripts/demo.sh does, on free ports and a private chip folder."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest

from harness import ROOT, free_tcp_port

EXAMPLES = ROOT / "build" / "x86_64" / "examples"
WATCH_SECONDS = 9


@pytest.fixture
def simulated_site(tmp_path):
    """Starts the simulator on free ports with its chip in tmp_path; yields (site file, simulator)."""
    simulator_binary = EXAMPLES / "site_simulator"
    if not simulator_binary.exists():
        pytest.fail(f"{simulator_binary} is missing: run 'make examples'")
    meter_port, greenhouse_port = free_tcp_port(), free_tcp_port()
    chip = tmp_path / "gpio"
    site = (ROOT / "examples" / "site-simulated.yaml").read_text()
    for old, new in (("port: 15020", f"port: {meter_port}"), ("port: 15021", f"port: {greenhouse_port}"),
                     ("/tmp/edgecore-site-gpio", str(chip)),
                     ("/tmp/edgecore-site-journal", str(tmp_path / "journal"))):
        assert old in site
        site = site.replace(old, new)
    site_file = tmp_path / "site.yaml"
    site_file.write_text(site)
    simulator = subprocess.Popen(
        [str(simulator_binary), "--meter-port", str(meter_port), "--greenhouse-port", str(greenhouse_port),
         "--gpio-dir", str(chip), "--seconds", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = simulator.stdout.readline()
        assert ready.startswith("READY"), ready
        yield site_file, simulator
    finally:
        if simulator.poll() is None:
            simulator.send_signal(signal.SIGTERM)
        try:
            simulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            simulator.kill()
            simulator.wait()


def test_the_simulated_site_end_to_end(simulated_site):
    site_file, simulator = simulated_site
    started = time.monotonic()
    watch = subprocess.run(
        [str(EXAMPLES / "edgecore_watch"), "--json", "--stats", "--seconds", str(WATCH_SECONDS),
         "--write", "greenhouse.irrigation_valve=1", "--write", "greenhouse.vent_fan=1", str(site_file)],
        capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert watch.returncode == 0, watch.stderr
    assert "wrote greenhouse.irrigation_valve=1" in watch.stderr
    assert "wrote greenhouse.vent_fan=1" in watch.stderr
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
    assert expected <= readings.keys()
    for name, items in readings.items():
        allowed = {"ok", "sentinel"} if name == "greenhouse.air_temperature" else {"ok"}
        assert {r["status"] for r in items} <= allowed, (name, items)

    # The writes took effect on both buses; the valve went back to its safe state when the watch stopped,
    # and that change is its last reading.
    assert readings["greenhouse.vent_fan"][-1]["value"] == 1
    valve = [r["value"] for r in readings["greenhouse.irrigation_valve"]]
    assert 1 in valve and valve[-1] == 0
    assert re.search(r"s: irrigation valve opened\n.*s: irrigation valve closed\n", site_log), site_log
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
