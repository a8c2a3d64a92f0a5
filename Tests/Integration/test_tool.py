"""The technicians' tool `edgecore` (tools/edgecore.c): check, read and write against the real peers
(libmodbus's and pymodbus' servers over TCP and a socat pty RTU line, the dlt645 package's meter), its
output formats parsed back, and its exit codes (0 ok, 1 runtime, 2 usage, 3 site refused, 4 port, 5
overloaded plan)."""
from __future__ import annotations

import json
import struct
import subprocess

import pytest

from harness import write_table
from tool_harness import ROOT, TOOL, csv_rows, json_lines, parse_time, recent, run, tool_built  # noqa: F401

METER = "000012345678"


def registers(fmt: str, value, order: str) -> list[int]:
    """The registers a device holds for `value` packed big-endian by struct `fmt`, in word order `order`."""
    data = struct.pack(">" + fmt, value)
    if order == "CDAB":
        data = b"".join(data[i:i + 2] for i in reversed(range(0, len(data), 2)))
    elif order == "BADC":
        data = b"".join(data[i:i + 2][::-1] for i in range(0, len(data), 2))
    elif order == "DCBA":
        data = data[::-1]
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


# (type, struct format, value, order, address): each value lives at its own address of one map
CASES = [
    ("u16", "H", 65000, "ABCD", 0),
    ("i16", "h", -1234, "ABCD", 1),
    ("u32", "I", 0x12345678, "CDAB", 2),
    ("i32", "i", -2_000_000_000, "ABCD", 4),
    ("f32", "f", 3.5, "BADC", 6),
    ("u64", "Q", 0x0123456789ABCDEF, "DCBA", 8),
    ("i64", "q", -9_000_000_000_000, "ABCD", 12),
    ("f64", "d", -1.25e-3, "CDAB", 16),
]


def modbus_map(tmp_path) -> str:
    lines = [f"1 holding {addr} " + " ".join(f"0x{r:04X}" for r in registers(fmt, value, order))
             for _, fmt, value, order, addr in CASES]
    lines += ["1 holding 40 0 0 0", "1 input 10 0x00E7", "1 coil 5 1 0 1", "1 discrete 3 0 1"]
    path = tmp_path / "map.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# ------------------------------------------------------------------------------------------------------
# Usage, help, exit codes without peers
# ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sub", [[], ["check"], ["read"], ["write"]])
def test_help_on_the_command_and_each_subcommand(sub):
    result = run(*sub, "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: edgecore"), result
    assert "Exit" in result.stdout


@pytest.mark.parametrize("args, names", [
    ([], "missing subcommand"),
    (["frobnicate"], "unknown subcommand 'frobnicate'"),
    (["read", "--bogus"], "unknown option '--bogus'"),
    (["read", "--tcp"], "'--tcp' needs a value"),
    (["read", "--tcp", "127.0.0.1", "--type", "u17"], "--type: 'u17' is not one of u16"),
    (["read", "--tcp", "127.0.0.1", "--order", "ABDC"], "--order: 'ABDC' is not one of ABCD"),
    (["read", "--tcp", "127.0.0.1", "--function", "holdings"], "--function: 'holdings'"),
    (["read", "--tcp", "127.0.0.1", "--address", "65536"], "--address: '65536' is not an integer in 0..65535"),
    (["read", "--tcp", "127.0.0.1", "--address", "12x"], "--address: '12x'"),
    (["read", "--tcp", "127.0.0.1", "--unit", "256"], "--unit: '256'"),
    (["read", "--rtu", "/dev/null", "--parity", "X"], "--parity: 'X' is not one of N, E, O"),
    (["read", "--rtu", "/dev/null", "--baud", "fast"], "--baud: 'fast'"),
    (["read", "--tcp", "127.0.0.1", "--format", "xml"], "--format: 'xml' is not one of table, json, csv"),
    (["read", "--tcp", "127.0.0.1", "--scale", "abc"], "--scale: 'abc' is not a number"),
    (["read", "--tcp", "127.0.0.1", "--repeat", "0"], "--repeat: '0'"),
    (["read", "--tcp", "127.0.0.1:99999"], "--tcp: '99999'"),
    (["read", "--dtu", "127.0.0.1"], "--dtu: '127.0.0.1' has no port"),
    (["read"], "give exactly one of --tcp"),
    (["read", "--tcp", "a", "--rtu", "b"], "give exactly one of --tcp"),
    (["read", "--tcp", "127.0.0.1", "--function", "coils", "--type", "f32"], "coils and discrete inputs are bits"),
    (["read", "--rtu", "/dev/null", "--protocol", "dlt645-2007", "--item", "voltage_a"], "needs --meter-address"),
    (["read", "--rtu", "/dev/null", "--protocol", "dlt645-2007", "--meter-address", METER], "needs --item"),
    (["read", "--rtu", "/dev/null", "--protocol", "dlt645-2007", "--meter-address", METER, "--item", "volts"],
     "--item: 'volts' is not a dlt645-2007 item name"),
    (["read", "--rtu", "/dev/null", "--protocol", "dlt645-2007", "--meter-address", METER, "--di", "0xZZ"],
     "--di: '0xZZ' is not a hexadecimal data identifier"),
    (["read", "--rtu", "/dev/null", "--protocol", "dlt645-2007", "--meter-address", "12AB", "--item", "voltage_a"],
     "meter address '12AB': 4 characters"),
    (["read", "--protocol", "iec62056", "--rtu", "/dev/null"], "--protocol: 'iec62056'"),
    (["write", "--tcp", "127.0.0.1"], "--value V is required"),
    (["write", "--tcp", "127.0.0.1", "--value", "x1"], "--value: 'x1' is not a number"),
    (["write", "--tcp", "127.0.0.1", "--function", "input", "--value", "1"], "only holding and coils"),
    (["check"], "expected one site file"),
    (["check", "--verbose", "x.yaml"], "unknown option '--verbose'"),
])
def test_usage_errors_exit_2_with_one_line_naming_the_problem(args, names):
    result = run(*args)
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and names in lines[0], result.stderr
    assert result.stdout == ""


def test_a_port_that_does_not_exist_exits_4(tmp_path):
    result = run("read", "--rtu", tmp_path / "no-such-tty", "--address", "0")
    assert result.returncode == 4, result
    assert "no-such-tty" in result.stderr and "No such file" in result.stderr
    result = run("write", "--rtu", tmp_path / "no-such-tty", "--value", "1")
    assert result.returncode == 4, result


def test_a_port_another_process_holds_exits_4_naming_it(make_pty_pair):
    import fcntl
    import os
    pair = make_pty_pair("held")
    fd = os.open(pair.a, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = run("read", "--rtu", pair.a)
        assert result.returncode == 4, result
        assert result.stderr.strip().endswith(f"port busy: process {os.getpid()} holds it"), result.stderr
    finally:
        os.close(fd)
    result = run("read", "--rtu", pair.a, "--timeout", 100, "--format", "csv")   # free again: nobody answers
    assert result.returncode == 1 and csv_rows(result.stdout)[0]["status"] == "timeout", result


def test_a_peer_that_is_not_there_is_a_runtime_failure(free_tcp_port):
    port = free_tcp_port()
    result = run("read", "--tcp", f"127.0.0.1:{port}", "--format", "json", "--timeout", "300")
    assert result.returncode == 1, result
    rows = json_lines(result.stdout)
    assert [(r["channel"], r["status"], r["value"]) for r in rows] == [("holding:0", "disconnected", None)]


# ------------------------------------------------------------------------------------------------------
# check
# ------------------------------------------------------------------------------------------------------

SITE = """buses:
  - name: plant
    type: tcp
    host: 127.0.0.1
    port: {port}
    devices:
      - name: d
        unit_id: 1
        channels:
          - {{name: d.u32, address: 2, type: u32, order: CDAB, interval_ms: {interval}}}
          - {{name: d.f64, address: 16, type: f64, order: CDAB, interval_ms: {interval}}}
          - {{name: d.set, address: 40, writable: true, interval_ms: {interval}}}
          - {{name: d.temp, function: input, address: 10, scale: 0.1, unit: degC, interval_ms: {interval}}}
"""

RTU_SITE = """buses:
  - name: line
    type: rtu
    device: {device}
    baud: 9600
    devices:
      - name: d
        channels:
          - {{name: d.wide, address: 0, type: f64, interval_ms: {interval}}}
          - {{name: d.more, address: 100, count: 1, type: u64, interval_ms: {interval}}}
"""


def test_check_prints_the_plan_and_its_exit_codes(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(SITE.format(port=1502, interval=1000))
    result = run("check", good)
    assert result.returncode == 0, result
    assert "bus 'plant': tcp 127.0.0.1:1502" in result.stdout
    assert "d.u32@2" in result.stdout and "d.temp@10" in result.stdout and "total:" in result.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(SITE.format(port=1502, interval=1000).replace("type: f64", "type: f65"))
    result = run("check", bad)
    assert result.returncode == 3, result
    assert f"{bad}:11:" in result.stderr and "f65" in result.stderr and result.stdout == ""

    missing = run("check", tmp_path / "absent.yaml")
    assert missing.returncode == 3, missing

    overloaded = tmp_path / "overloaded.yaml"
    overloaded.write_text(RTU_SITE.format(device=tmp_path / "tty", interval=5).replace("count: 1, ", ""))
    result = run("check", overloaded)
    assert result.returncode == 5, result
    assert "OVERLOADED" in result.stdout and "OVERLOADED" in result.stderr

    relaxed = tmp_path / "relaxed.yaml"
    relaxed.write_text(RTU_SITE.format(device=tmp_path / "tty", interval=1000).replace("count: 1, ", ""))
    assert run("check", relaxed).returncode == 0


# ------------------------------------------------------------------------------------------------------
# read / write against Modbus peers
# ------------------------------------------------------------------------------------------------------

def test_read_every_type_and_order_exactly_over_tcp(modbus_server, free_tcp_port, tmp_path):
    port = free_tcp_port()
    modbus_server(tcp=port, map=modbus_map(tmp_path))
    for type_, fmt, value, order, address in CASES:
        result = run("read", "--tcp", f"127.0.0.1:{port}", "--type", type_, "--order", order, "--address", address,
                     "--format", "json")
        assert result.returncode == 0, (type_, result)
        (row,) = json_lines(result.stdout)
        assert row["status"] == "ok" and row["channel"] == f"holding:{address}", row
        expected = float(value) if fmt in "fd" else value
        if fmt in "Qq":  # doubles carry 53 bits: the tool prints the engine's double exactly (%.17g)
            expected = float(value)
        assert row["value"] == expected, (type_, row)

    # the wrong order gives another number: the option is applied, not ignored
    wrong = json_lines(run("read", "--tcp", f"127.0.0.1:{port}", "--type", "u32", "--address", 2,
                           "--format", "json").stdout)
    assert wrong[0]["value"] == 0x56781234


def test_read_csv_table_counts_bits_and_scale(libmodbus_server, free_tcp_port, tmp_path):
    port = free_tcp_port()
    libmodbus_server(tcp=port, map=modbus_map(tmp_path))
    where = ["--tcp", f"127.0.0.1:{port}"]
    result = run("read", *where, "--function", "coils", "--address", 5, "--count", 3, "--format", "csv")
    assert result.returncode == 0, result
    rows = csv_rows(result.stdout)
    assert [(r["channel"], r["value"], r["status"]) for r in rows] == [
        ("coils:5", "1", "ok"), ("coils:6", "0", "ok"), ("coils:7", "1", "ok")]
    rows = csv_rows(run("read", *where, "--function", "discrete", "--address", 3, "--count", 2, "--format", "csv").stdout)
    assert [r["value"] for r in rows] == ["0", "1"]
    rows = csv_rows(run("read", *where, "--function", "input", "--address", 10, "--scale", 0.1,
                        "--format", "csv").stdout)
    assert float(rows[0]["value"]) == pytest.approx(23.1) and rows[0]["status"] == "ok"
    # two u32 CDAB in a row: --count steps by the type's width
    rows = csv_rows(run("read", *where, "--type", "i16", "--address", 0, "--count", 2, "--format", "csv").stdout)
    assert [(r["channel"], int(r["value"])) for r in rows] == [("holding:0", 65000 - 65536), ("holding:1", -1234)]
    # the table: a header, one line per value with an ISO timestamp and the status
    result = run("read", *where, "--type", "f32", "--order", "BADC", "--address", 6)
    header, line = result.stdout.splitlines()
    assert header.split() == ["timestamp", "channel", "value", "unit", "status"]
    fields = line.split()
    assert recent(fields[0]) and fields[1:] == ["holding:6", "3.5", "ok"]
    # a register the slave does not have: the exception and exit 1
    result = run("read", *where, "--address", 300, "--format", "csv")
    assert result.returncode == 1
    assert [(r["status"], r["detail"]) for r in csv_rows(result.stdout)] == [("exception", "2")]


def test_repeat_gives_timed_readings(libmodbus_server, free_tcp_port, tmp_path):
    port = free_tcp_port()
    libmodbus_server(tcp=port, map=modbus_map(tmp_path))
    result = run("read", "--tcp", f"127.0.0.1:{port}", "--address", 1, "--type", "i16", "--repeat", 150,
                 "--times", 4, "--format", "json")
    assert result.returncode == 0, result
    rows = json_lines(result.stdout)
    assert [r["value"] for r in rows] == [-1234] * 4
    gaps = [(b["ts_ns"] - a["ts_ns"]) / 1e6 for a, b in zip(rows, rows[1:])]
    assert all(100 <= g <= 400 for g in gaps), gaps


def test_write_then_read_back(modbus_server, free_tcp_port, tmp_path):
    port = free_tcp_port()
    modbus_server(tcp=port, map=modbus_map(tmp_path))
    where = ["--tcp", f"127.0.0.1:{port}"]
    result = run("write", *where, "--address", 40, "--type", "i32", "--order", "CDAB", "--value", -70000)
    assert result.returncode == 0, result
    assert "wrote -70000 to holding:40" in result.stdout
    rows = json_lines(run("read", *where, "--address", 40, "--type", "i32", "--order", "CDAB", "--format", "json").stdout)
    assert rows[0]["value"] == -70000
    raw = json_lines(run("read", *where, "--address", 40, "--count", 2, "--format", "json").stdout)
    assert [r["value"] for r in raw] == registers("i", -70000, "CDAB")
    assert run("write", *where, "--function", "coils", "--address", 6, "--value", 1).returncode == 0
    rows = csv_rows(run("read", *where, "--function", "coils", "--address", 6, "--format", "csv").stdout)
    assert rows[0]["value"] == "1"
    # a value the type cannot hold is a usage error; a register the slave refuses a runtime failure
    result = run("write", *where, "--address", 40, "--type", "u16", "--value", 70000)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result
    result = run("write", *where, "--address", 300, "--value", 1)
    assert result.returncode == 1 and "exception" in result.stderr, result


def test_rtu_over_a_pty_line(libmodbus_server, make_pty_pair, tmp_path):
    pair = make_pty_pair("rtu")
    libmodbus_server(rtu=pair.b, map=modbus_map(tmp_path), baud=19200, parity="E")
    where = ["--rtu", pair.a, "--baud", 19200, "--parity", "E"]
    rows = json_lines(run("read", *where, "--type", "f64", "--order", "CDAB", "--address", 16, "--format", "json").stdout)
    assert (rows[0]["status"], rows[0]["value"]) == ("ok", -1.25e-3)
    assert run("write", *where, "--address", 41, "--value", 4242).returncode == 0
    rows = csv_rows(run("read", *where, "--address", 41, "--format", "csv").stdout)
    assert rows[0]["value"] == "4242"
    # a unit id nobody answers: timeout, exit 1
    result = run("read", *where, "--unit", 9, "--timeout", 200, "--format", "csv")
    assert result.returncode == 1 and csv_rows(result.stdout)[0]["status"] == "timeout", result


def test_site_channels_read_and_write(libmodbus_server, free_tcp_port, tmp_path):
    port = free_tcp_port()
    libmodbus_server(tcp=port, map=modbus_map(tmp_path))
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(port=port, interval=200))
    result = run("read", "--format", "json", site, "d.u32", "d.temp", "d.f64")
    assert result.returncode == 0, result
    rows = {r["channel"]: r for r in json_lines(result.stdout)}
    assert rows["d.u32"]["value"] == 0x12345678 and rows["d.f64"]["value"] == -1.25e-3
    assert rows["d.temp"]["value"] == pytest.approx(23.1) and rows["d.temp"]["unit"] == "degC"
    result = run("write", site, "d.set", 321)
    assert result.returncode == 0, result
    rows = csv_rows(run("read", "--format", "csv", site, "d.set").stdout)
    assert rows[0]["value"] == "321"
    assert run("write", site, "d.u32", 1).returncode == 2       # not writable
    assert run("read", site, "d.nothing").returncode == 2
    result = run("write", site, "d.set", "--", -5)               # a negative value after "--"
    assert result.returncode == 2 and "not writable" not in result.stderr   # u16: -5 does not fit
    result = run("write", site, "d.set", -5)                     # without "--": an option, with a hint
    assert result.returncode == 2 and "after '--'" in result.stderr, result
    bad = tmp_path / "bad.yaml"
    bad.write_text("buses: [\n")
    assert run("read", bad, "d.u32").returncode == 3


# ------------------------------------------------------------------------------------------------------
# DL/T 645 meters
# ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["rtu", "tcp"])
def test_dlt645_items_and_identifiers(meter_peer, transport, tmp_path):
    table = write_table(tmp_path / "em.txt", {"00010000": 4321.09, "02010100": 231.4, "02030000": -2.5})
    _, where, _ = meter_peer("dlt645", transport, meters=[f"{METER}={table}"])
    line = ["--rtu", where["rtu"]] if transport == "rtu" else ["--dtu", f"127.0.0.1:{where['tcp']}"]
    result = run("read", *line, "--protocol", "dlt645-2007", "--meter-address", METER,
                 "--item", "forward_active_energy_total", "--item", "voltage_a", "--di", "0x02030000",
                 "--format", "json")
    assert result.returncode == 0, result
    rows = json_lines(result.stdout)
    assert [(r["channel"], r["status"], r["value"]) for r in rows] == [
        ("forward_active_energy_total", "ok", 4321.09), ("voltage_a", "ok", 231.4), ("di:02030000", "ok", -2.5)]
    assert rows[1]["unit"] == "V"
    # another meter's address: nobody answers
    result = run("read", *line, "--protocol", "dlt645-2007", "--meter-address", "000000000099", "--item",
                 "voltage_a", "--timeout", 300, "--format", "csv")
    assert result.returncode == 1 and csv_rows(result.stdout)[0]["status"] == "timeout", result


# ------------------------------------------------------------------------------------------------------
# CJ/T 188 meters; interrupting a repeat
# ------------------------------------------------------------------------------------------------------

WATER = "00000012345678"


def test_cjt188_read_and_valve_write(meter_peer, tmp_path):
    table = write_table(tmp_path / "water.txt", {"flow": "1234.56", "settlement_flow": "1200.07", "battery_low": "1"})
    _, where, _ = meter_peer("cjt188", "tcp", meters=[f"10:{WATER}={table}"])
    line = ["--dtu", f"127.0.0.1:{where['tcp']}", "--protocol", "cjt188", "--meter-address", WATER]
    result = run("read", *line, "--item", "current_flow", "--item", "valve_state", "--item", "battery_low",
                 "--format", "csv")
    assert result.returncode == 0, result
    rows = csv_rows(result.stdout)
    assert [(r["channel"], float(r["value"]), r["unit"], r["status"]) for r in rows] == [
        ("current_flow", 1234.56, "m3", "ok"), ("valve_state", 0.0, "", "ok"), ("battery_low", 1.0, "", "ok")]
    result = run("write", *line, "--item", "valve_state", "--value", 1)
    assert result.returncode == 0, result
    rows = csv_rows(run("read", *line, "--item", "valve_state", "--format", "csv").stdout)
    assert rows[0]["value"] == "1"
    result = run("write", *line, "--item", "valve_state", "--value", 5)   # 0 opens, 1 closes: nothing else
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result
    # a heat meter has no current_flow: refused before anything is sent
    result = run("read", *line, "--meter-type", "0x20", "--item", "current_flow")
    assert result.returncode == 2 and "meter type 0x20" in result.stderr, result
    # a hot-water meter's type byte for the cold-water meter's address: nobody answers
    result = run("read", *line, "--meter-type", "0x11", "--item", "current_flow", "--timeout", 300, "--format", "csv")
    assert result.returncode == 1 and csv_rows(result.stdout)[0]["status"] == "timeout", result


def test_an_interrupted_repeat_ends_cleanly(libmodbus_server, free_tcp_port, tmp_path):
    import signal
    import time
    port = free_tcp_port()
    libmodbus_server(tcp=port, map=modbus_map(tmp_path))
    proc = subprocess.Popen([str(TOOL), "read", "--tcp", f"127.0.0.1:{port}", "--address", "1", "--type", "i16",
                             "--repeat", "100", "--format", "json"], stdout=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + 10
    while len(lines) < 3 and time.monotonic() < deadline:
        lines.append(proc.stdout.readline())
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    rows = json_lines("".join(lines) + rest)
    assert len(rows) >= 3 and all(r["value"] == -1234 and r["status"] == "ok" for r in rows)


def test_modbus_rtu_behind_a_transparent_serial_server(shared_line, libmodbus_server, free_tcp_port, tmp_path):
    from test_transparent_tcp import SerialServer
    server_end, modbus_device = shared_line(2)
    libmodbus_server(rtu=modbus_device, map=modbus_map(tmp_path), baud=2400, parity="E")

    def through_dtu(*args):  # the emulated serial server serves one connection: one per command
        port = free_tcp_port()
        dtu = SerialServer(port, server_end)
        try:
            return run(args[0], "--dtu", f"127.0.0.1:{port}", "--line-baud", 2400, *args[1:])
        finally:
            dtu.stop()

    rows = json_lines(through_dtu("read", "--type", "u32", "--order", "CDAB", "--address", 2, "--format", "json").stdout)
    assert [(r["status"], r["value"]) for r in rows] == [("ok", 0x12345678)]
    result = through_dtu("write", "--address", 42, "--value", 999)
    assert result.returncode == 0, result
    rows = csv_rows(through_dtu("read", "--address", 42, "--format", "csv").stdout)
    assert [(r["status"], r["value"]) for r in rows] == [("ok", "999")]
