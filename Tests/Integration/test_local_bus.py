"""Local buses (1.4) in a site with a real Modbus device (the libmodbus peer): writes to local channels come
out of the engine's ring in order with their values, statuses and sequences, beside the peer's readings;
heartbeats repeat the last value; the engine's journal holds them (read back with `edgecore journal dump`,
the read-only reader); and through the gateway's command topic (a private mosquitto, as test_gateway.py) a
command to a local channel is answered ok and its reading reaches the uplink topic."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import edgecore
import mqtt_rig
from harness import wait_until
from tool_harness import run

PEER_VALUES = [111, 222, 333]


def _site(path: Path, journal: Path, peer_port: int, reason_interval_ms: int = 200) -> Path:
    path.write_text(f"""\
journal:
  path: {journal}
  sync_interval_ms: 100
  cursors: [uplink]
buses:
  - name: plc
    type: tcp
    host: 127.0.0.1
    port: {peer_port}
    devices:
      - name: greenhouse
        unit_id: 1
        channels:
          - {{name: greenhouse.temp, function: holding, address: 0, type: u16, interval_ms: 100}}
  - name: controller
    type: local
    devices:
      - name: zone1
        channels:
          - {{name: zone1.valve_reason, valid_min: 0, valid_max: 10, interval_ms: {reason_interval_ms}}}
          - {{name: zone1.dose_ml, unit: mL, interval_ms: 0}}
""")
    return path


@pytest.fixture
def peer(tmp_path, libmodbus_server, free_tcp_port, peers_built):
    map_file = tmp_path / "peer-map.txt"
    map_file.write_text("1 holding 0 " + " ".join(str(v) for v in PEER_VALUES) + "\n")
    return libmodbus_server(tcp=free_tcp_port(), map=str(map_file))


def test_local_writes_reach_ring_and_journal_in_order(tmp_path, peer, edgecore_engine):
    journal = tmp_path / "journal"
    site = _site(tmp_path / "site.yaml", journal, peer.port)
    engine = edgecore_engine()
    engine.load_yaml(str(site))
    reason, dose = engine.find_channel("zone1.valve_reason"), engine.find_channel("zone1.dose_ml")
    temp = engine.find_channel("greenhouse.temp")
    local_bus, zone1 = engine.find_bus("controller"), engine.find_device("zone1")
    plan = engine.plan()
    assert "bus 'controller': local (written by the application, no bus time)" in plan, plan
    assert "zone1.dose_ml: on writes only" in plan, plan
    # Writes before the start fail; nothing is published for a local channel before its first write.
    with pytest.raises(edgecore.EdgeCoreError) as refused:
        engine.write(reason, 1)
    assert refused.value.code == edgecore.E_NOT_RUNNING
    engine.start()
    wait_until(lambda: engine.bus_stats(local_bus).state == edgecore.BusState.CONNECTED, 2, what="local bus up")
    time.sleep(0.3)
    early = engine.drain()
    assert early and all(r.channel == temp for r in early), early[:5]
    assert {r.value for r in early} == {PEER_VALUES[0]}

    written = [(reason, 3.0), (reason, 12.0), (dose, 250.5), (reason, 5.0), (dose, 0.0)]
    started = time.monotonic()
    for channel, value in written:
        engine.write(channel, value, timeout_ms=0)   # never blocks: published at once
    took = time.monotonic() - started
    assert took < 0.05, f"{len(written)} local writes took {took * 1000:.1f} ms"
    with pytest.raises(edgecore.EdgeCoreError) as raw:
        engine.write_registers(zone1, 0, [1])
    assert raw.value.code == edgecore.E_NOT_WRITABLE
    time.sleep(1.05)      # heartbeats of valve_reason every 200 ms; dose_ml has none
    engine.stop()
    readings = engine.drain()
    assert any(r.channel == temp and r.value == PEER_VALUES[0] for r in readings)
    mine = [r for r in readings if r.channel in (reason, dose)]
    # The writes first, in order, with their values, statuses and each channel's sequences.
    got = [(r.channel, r.value, edgecore.status_name(r.status), r.sequence) for r in mine[:5]]
    assert got == [(reason, 3.0, "ok", 0), (reason, 12.0, "out_of_range", 1), (dose, 250.5, "ok", 0),
                   (reason, 5.0, "ok", 2), (dose, 0.0, "ok", 1)], got
    beats = mine[5:]
    assert all(r.channel == reason and r.value == 5.0 and r.status == 0 for r in beats), beats
    assert [r.sequence for r in beats] == list(range(3, 3 + len(beats)))
    assert 3 <= len(beats) <= 5, f"{len(beats)} heartbeats in about 1.05 s at 200 ms"
    last_write_and_beats = [mine[3]] + beats
    gaps = [(b.timestamp_ns - a.timestamp_ns) / 1e6 for a, b in zip(last_write_and_beats, beats)]
    assert all(150 < g < 300 for g in gaps), gaps
    now_ns = time.time_ns()
    assert all(now_ns - 5_000_000_000 < r.timestamp_ns <= now_ns for r in mine)
    device = engine.device_stats(zone1)
    assert device.requests == 5 and device.responses == 5 and device.state == edgecore.DeviceState.ONLINE
    assert engine.bus_stats(local_bus).state == edgecore.BusState.STOPPED
    engine.close()   # the journal's final sync

    # The journal, read back with the read-only reader (`edgecore journal dump`), names channels by the site.
    result = run("journal", "dump", str(journal), "--format", "json", "--site", str(site))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    journaled = [(r["channel"], r["value"], r["status"]) for r in rows
                 if r["channel"] in ("zone1.valve_reason", "zone1.dose_ml")]
    expected = [("zone1.valve_reason" if c == reason else "zone1.dose_ml", r.value, edgecore.status_name(r.status))
                for r, c in ((r, r.channel) for r in mine)]
    assert journaled == expected, (journaled[:8], expected[:8])
    assert any(r["channel"] == "greenhouse.temp" for r in rows)


@pytest.mark.skipif(not mqtt_rig.GATEWAY.exists(), reason=f"{mqtt_rig.GATEWAY} is missing: run 'make examples'")
def test_gateway_command_sets_a_local_channel(tmp_path, peers_built):
    rig = mqtt_rig.GatewayRig(tmp_path / "rig")
    try:
        rig.start()
        site = _site(tmp_path / "site.yaml", tmp_path / "journal", rig.peer_port, reason_interval_ms=0)
        gw = rig.gateway(site=site)
        sub = rig.subscriber

        def ask(payload: dict) -> dict | None:
            before = sub.count(rig.response_topic)
            sub.publish(rig.command_topic, json.dumps(payload))
            try:
                sub.wait(lambda: sum(1 for m in sub.messages if m.topic == rig.response_topic) > before, 2,
                         "an answer")
            except AssertionError:
                return None   # not subscribed yet
            return json.loads(sub.snapshot(rig.response_topic)[before].payload)

        answers: list[dict] = []
        wait_until(lambda: answers.append(ask({"id": "probe", "channel": "no.such", "value": 1})) or answers[-1],
                   15, what="the gateway's first answer")
        answer = ask({"id": "dose-1", "channel": "zone1.dose_ml", "value": 42.5})
        assert answer is not None and answer["ok"] is True and answer["code"] == 0, answer
        assert answer["id"] == "dose-1" and answer["channel"] == "zone1.dose_ml", answer
        out_of_range = ask({"id": "reason-1", "channel": "zone1.valve_reason", "value": 11})
        assert out_of_range is not None and out_of_range["ok"] is True, out_of_range   # written; the reading says

        def uplinked():
            got, _ = mqtt_rig.arrivals(rig.readings_messages(), rig.GATEWAY_ID)
            return [a for a in got if a.channel.startswith("zone1.")]

        wait_until(lambda: len(uplinked()) >= 2, 15, what="the local readings on the uplink topic")
        local = uplinked()
        assert [(a.channel, a.value, a.status) for a in local[:2]] == [
            ("zone1.dose_ml", 42.5, "ok"), ("zone1.valve_reason", None, "out_of_range")], local
        assert all(a.ts > 1_600_000_000_000 for a in local)
        got, _ = mqtt_rig.arrivals(rig.readings_messages(), rig.GATEWAY_ID)
        assert any(a.channel == "greenhouse.temp" for a in got)
        assert "zone1.dose_ml = 42.5: written" in gw.log_text(), gw.log_text()[-2000:]
        assert gw.stop() == 0
    finally:
        rig.close()
