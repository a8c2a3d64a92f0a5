"""The main job end to end, as a user runs it: scripts/demo.sh starts the simulated site, a local mosquitto
with a password, examples/edgecore_gateway on examples/site-simulated.yaml and a persistent-session QoS 1
subscriber; it sends commands (the vent fan and the irrigation valve on, after the outage the CJ/T 188 water
meter's valve closed), stops the broker for 10 s midway, stops the gateway and checks the subscriber's
readings against the journal. Here with the shortest run (20 s)."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from harness import ROOT

SECONDS = 20


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_demo_delivers_every_journaled_reading_through_a_broker_outage():
    demo = subprocess.run([str(ROOT / "scripts" / "demo.sh"), "--seconds", str(SECONDS)], cwd=ROOT,
                          capture_output=True, text=True, timeout=100)
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output

    # The count check: every reading of the journal reached the subscriber.
    check = re.search(r"^count check: journaled (\d+) \(sequences (\d+)\.\.(\d+)\), delivered (\d+), "
                      r"duplicates (\d+), missing: (\d+)", demo.stdout, re.M)
    assert check, output
    journaled, oldest, newest, delivered, duplicates, missing = map(int, check.groups())
    assert missing == 0 and delivered == journaled == newest - oldest + 1 and oldest == 1, check[0]
    assert journaled > 10 * SECONDS, check[0]  # the site makes about 20 readings/s

    # The outage happened, and what was journaled meanwhile arrived after it as a backlog.
    assert "mosquitto stopped (SIGTERM) for 10 s" in demo.stderr and "mosquitto started again" in demo.stderr
    messages = re.findall(r"^ *[\d.]+ s  greenhouse-demo  seq (\d+)\.\.(\d+) +(\d+) readings(.*)$", demo.stdout, re.M)
    assert messages, output
    for first, last, count, _ in messages:
        assert int(last) - int(first) + 1 == int(count)
    ages = [float(age) for *_, rest in messages for age in re.findall(r"backlog: taken up to ([\d.]+) s ago", rest)]
    assert ages and max(ages) > 8, output

    # The commands were carried out and answered on the response topic: the fan's coil, the irrigation valve's
    # GPIO line and, once the broker was back, the water meter's valve (CJ/T 188 A017 on the transparent TCP
    # line); the simulated site saw the valves move.
    answers = [json.loads(a) for a in re.findall(r"^ *[\d.]+ s  command answer: (.*)$", demo.stdout, re.M)]
    answered = [{k: a.get(k) for k in ("id", "channel", "ok", "code")} for a in answers]
    for number, channel in ((1, "greenhouse.vent_fan"), (2, "greenhouse.irrigation_valve"), (3, "water.valve_state")):
        assert {"id": f"demo-{number}", "channel": channel, "ok": True, "code": 0} in answered, output
    assert re.search(r"^  site: ([\d.]+) s: irrigation valve opened\n(.*\n)*  site: ([\d.]+) s: water meter valve "
                     r"closed$", demo.stderr, re.M), demo.stderr
    # The water meter's cumulative flow, as the subscriber showed it: growing while the irrigation ran, at
    # 18.36 m3/h for some 12 s, never going back.
    flows = [float(v) for v in re.findall(r"water\.current_flow=([\d.]+) m3", demo.stdout)]
    assert flows == sorted(flows) and flows[-1] - flows[0] >= 0.03, flows

    # The newest reading of each channel that reached the broker: the meters' among them, ok, with their
    # units; the valve closed.
    table = demo.stdout.split("newest reading of each of ", 1)[-1]
    latest = dict(re.findall(r"^  (\S+) +(.*)$", table, re.M))
    for name, unit in (("grid.voltage_a", "V"), ("grid.current_b", "A"), ("grid.active_power_total", "kW"),
                       ("grid.forward_active_energy_total", "kWh"), ("grid.frequency", "Hz"),
                       ("water.current_flow", "m3"), ("water.settlement_flow", "m3")):
        assert re.fullmatch(rf"-?[\d.]+ {unit}  \(ok\)", latest.get(name, "")), (name, latest.get(name), table)
    assert latest.get("water.valve_state") == "1  (ok)", table
    assert latest.get("grid.power_factor_total") == "0.95  (ok)", table
    assert "gateway stopped (SIGTERM), exit code 0" in demo.stderr

    # Every process it started is gone, and so is its temporary folder.
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", demo.stderr)]
    assert len(pids) >= 4, demo.stderr
    assert not [p for p in pids if running(p)]
    folder = re.search(r"journal (/tmp/edgecore-demo\.\w+)/journal", demo.stderr)
    assert folder and not Path(folder[1]).exists(), demo.stderr
