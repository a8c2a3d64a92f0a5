"""Transparent TCP buses: an RS-485 serial server (DTU) emulated by socat, which passes the bytes of a TCP
connection to and from one end of a shared RS-485 line (rs485_line.py); on the line a Modbus RTU slave
(libmodbus's server) and a DL/T 645-2007 meter (the dlt645 package). EdgeCore speaks Modbus RTU over the
connection (its own CRC framing: libmodbus has no RTU-over-TCP backend) and the meter's frames, on one bus.
"""
from __future__ import annotations

import subprocess
import time

import edgecore
from harness import write_table

METER = "000012345678"


class SerialServer:
    """socat as a transparent serial server: TCP 127.0.0.1:port <-> the line's device, raw, one connection.
    Ready when socat says it listens (a probe connection would make it open the line for the probe)."""

    def __init__(self, port: int, device: str, timeout: float = 10.0):
        self.port = port
        self.proc = subprocess.Popen(
            ["socat", "-d", "-d", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr",
             f"FILE:{device},raw,echo=0"],  # a pty has no line settings (it drops PARENB: tcsetattr fails)
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            seen += line
            if "listening on" in line:
                return
        self.stop()
        raise RuntimeError(f"socat did not listen on {port}: {seen}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def by_name(engine, readings, names):
    ids = {engine.find_channel(n): n for n in names}
    out = {n: [] for n in names}
    for r in readings:
        if r.channel in ids:
            out[ids[r.channel]].append(r)
    return out


def test_modbus_rtu_and_a_meter_behind_one_serial_server(shared_line, meter_peer, libmodbus_server, edgecore_engine,
                                                         free_tcp_port, tmp_path):
    server_end, meter_device, modbus_device = shared_line(3)
    table = write_table(tmp_path / "em.txt", {"00010000": 4321.09, "02010100": 231.4, "02030000": -2.5})
    meter_peer("dlt645", "rtu", device=meter_device, meters=[f"{METER}={table}"])
    map_file = tmp_path / "modbus.txt"
    map_file.write_text("1 holding 0 0x1234 0x5678 0x0000\n1 input 10 0x00E7\n")
    libmodbus_server(rtu=modbus_device, map=str(map_file), baud=2400, parity="E")
    port = free_tcp_port()
    dtu = SerialServer(port, server_end)
    try:
        site = tmp_path / "site.yaml"
        site.write_text(f"""
buses:
  - name: dtu
    type: tcp
    framing: transparent
    line_baud: 2400
    # the pty line delivers a reply at once, where 2400 baud takes ~100 ms; modbus_server ends a frame at
    # >= 50 ms of silence on a pty: the line's own 3.5 characters (16 ms) would run frames together for it
    request_gap_ms: 60
    host: 127.0.0.1
    port: {port}
    devices:
      - name: slave
        unit_id: 1
        response_timeout_ms: 1000
        channels:
          - {{name: slave.u32, address: 0, type: u32, interval_ms: 300}}
          - {{name: slave.setpoint, address: 2, writable: true, interval_ms: 300}}
          - {{name: slave.temp, function: input, address: 10, scale: 0.1, unit: degC, interval_ms: 300}}
      - name: ghost
        unit_id: 7
        response_timeout_ms: 300
        retries: 0
        channels:
          - {{name: ghost.reg, address: 0, interval_ms: 300}}
      - name: meter
        protocol: dlt645-2007
        meter_address: '{METER}'
        response_timeout_ms: 1000
        channels:
          - {{name: meter.energy, item: forward_active_energy_total, interval_ms: 300}}
          - {{name: meter.ua, item: voltage_a, interval_ms: 300}}
          - {{name: meter.p, item: active_power_total, interval_ms: 300}}
""")
        engine = edgecore_engine(ring_capacity=8192)
        engine.load_yaml(site)
        plan = engine.plan()
        assert "tcp 127.0.0.1:%d (transparent, line 2400 baud)" % port in plan
        assert "dlt645-2007 meter 000012345678" in plan and "ms on the wire" in plan
        names = ["slave.u32", "slave.setpoint", "slave.temp", "ghost.reg", "meter.energy", "meter.ua", "meter.p"]
        engine.start()
        readings = engine.collect_until(
            lambda rs: all(any(r.status == edgecore.Status.OK for r in rows)
                           for n, rows in by_name(engine, rs, names).items() if n != "ghost.reg"), timeout=30)
        # A write over RTU-over-TCP, then read back.
        engine.write(engine.find_channel("slave.setpoint"), 777, timeout_ms=3000)
        readings += engine.collect_until(
            lambda rs: any(r.status == edgecore.Status.OK and r.value == 777
                           for r in by_name(engine, rs, ["slave.setpoint"])["slave.setpoint"]), timeout=15)
        engine.stop()
        rows = by_name(engine, readings, names)
        ok = {n: [r.value for r in rs if r.status == edgecore.Status.OK] for n, rs in rows.items()}
        assert ok["slave.u32"] and set(ok["slave.u32"]) == {0x12345678}
        assert ok["slave.temp"] and set(ok["slave.temp"]) == {23.1}
        assert ok["meter.energy"] and set(ok["meter.energy"]) == {4321.09}
        assert ok["meter.ua"] and set(ok["meter.ua"]) == {231.4}
        assert ok["meter.p"] and set(ok["meter.p"]) == {-2.5}
        assert 777 in ok["slave.setpoint"]
        # The unit nobody serves times out (and is backed off); it disturbs nobody: every other reading is OK.
        assert rows["ghost.reg"] and not ok["ghost.reg"]
        assert {r.status for r in rows["ghost.reg"]} <= {edgecore.Status.TIMEOUT, edgecore.Status.OFFLINE}
        for name in names:
            if name != "ghost.reg":
                assert all(r.status == edgecore.Status.OK for r in rows[name]), (name, [r.status for r in rows[name]])
        assert engine.bus_stats(engine.find_bus("dtu")).opens == 1  # one connection throughout
        ghost = engine.find_device("ghost")
        assert "no answer within 300 ms" in engine.device_last_problem(ghost)
    finally:
        dtu.stop()


def test_a_serial_server_that_drops_the_connection_is_reconnected(meter_peer, edgecore_engine, tmp_path):
    """The dlt645 package's TCP server as the far end; it is stopped and started again on the same port: the
    bus reconnects and the meter is read again."""
    table = write_table(tmp_path / "em.txt", {"02010100": 220.0})
    peer, where, _ = meter_peer("dlt645", "tcp", meters=[f"{METER}={table}"])
    site = tmp_path / "site.yaml"
    site.write_text(f"""
buses:
  - name: dtu
    type: tcp
    framing: transparent
    host: 127.0.0.1
    port: {where["tcp"]}
    reconnect_min_ms: 100
    reconnect_max_ms: 400
    devices:
      - name: meter
        protocol: dlt645-2007
        meter_address: '{METER}'
        response_timeout_ms: 1000
        channels:
          - {{name: meter.ua, item: voltage_a, interval_ms: 200}}
""")
    engine = edgecore_engine()
    engine.load_yaml(site)
    engine.start()
    ua = engine.find_channel("meter.ua")
    engine.collect_until(lambda rs: any(r.channel == ua and r.status == edgecore.Status.OK for r in rs), timeout=15)
    peer.stop()
    down = engine.collect_until(lambda rs: any(r.channel == ua and r.status == edgecore.Status.DISCONNECTED
                                               for r in rs), timeout=15)
    assert any(r.status == edgecore.Status.DISCONNECTED for r in down)
    peer.start()
    back = engine.collect_until(lambda rs: any(r.channel == ua and r.status == edgecore.Status.OK for r in rs),
                                timeout=15)
    engine.stop()
    assert [r.value for r in back if r.channel == ua and r.status == edgecore.Status.OK][-1] == 220.0
    stats = engine.bus_stats(engine.find_bus("dtu"))
    assert stats.opens >= 2 and stats.losses >= 1
