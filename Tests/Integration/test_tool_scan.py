"""`edgecore scan` (tools/cmd_scan.c) against real peers: libmodbus's server serving several unit ids over
TCP, a socat pty RTU line and a transparent serial server; a serial line that garbles bytes unless both ends
use the same baud and parity (BaudLine below); the `dlt645` package's meters for address discovery. The
YAML fragment is loaded back with `edgecore check`, the JSON result parsed; exit codes 0 found, 1 none, 2
usage, 4 port busy or missing, 130 interrupted (partial result printed)."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import subprocess
import termios
import threading
import time
import tty

import pytest

from tool_harness import TOOL, run, tool_built  # noqa: F401

METER = "000012345678"
OTHER_METER = "000000000042"


def write_map(tmp_path, lines: list[str], name: str = "map.txt") -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# Units 1, 5, 12 and 200 hold register 0; unit 9 has only register 3, so reading register 0 gets exception 2.
UNITS_MAP = ["1 holding 0 11", "5 holding 0 55", "9 holding 3 99", "12 holding 0 120", "200 holding 0 2"]


def scan_json(*args, timeout=60) -> tuple[subprocess.CompletedProcess, dict]:
    result = run("scan", *args, "--format", "json", timeout=timeout)
    assert len(result.stdout.splitlines()) == 1, result
    return result, json.loads(result.stdout)


def found_units(setting: dict) -> dict[int, str]:
    return {f["unit"]: f["status"] if f["status"] == "ok" else f"exception {f['exception']}" for f in setting["found"]}


def yaml_devices(text: str) -> list[tuple[str, str]]:
    """(name, unit_id or meter_address) of each device of the YAML fragment (the tool's own layout)."""
    names = re.findall(r"^      - name: (\S+)$", text, re.M)
    ids = re.findall(r"^        (?:unit_id: (\d+)|meter_address: \"(\d+)\")$", text, re.M)
    assert len(names) == len(ids), text
    return [(n, a or b) for n, (a, b) in zip(names, ids)]


def check_loads(tmp_path, fragment: str, name: str = "fragment.yaml") -> str:
    """`edgecore check` takes the fragment as a site file as it is, and with a channel added to each device."""
    path = tmp_path / name
    path.write_text(fragment)
    result = run("check", path)
    assert result.returncode == 0, (result, fragment)
    counter = iter(range(1000))
    what = "item: voltage_a" if "protocol: dlt645" in fragment else "address: 0"
    with_channels = re.sub(r"channels: \[\].*", lambda _: f"channels: [{{name: ch{next(counter)}, {what}}}]", fragment)
    assert with_channels.count("channels: [{name: ch") == len(yaml_devices(fragment))
    path.write_text(with_channels)
    result = run("check", path)
    assert result.returncode == 0, (result, with_channels)
    return result.stdout


# ------------------------------------------------------------------------------------------------------
# A serial line with line settings: what a pty cannot do
# ------------------------------------------------------------------------------------------------------

class BaudLine:
    """Two ptys joined by a relay thread that, as two UARTs do, passes bytes unchanged only when both ends
    are set alike: the same speed and the same parity (a pty drops PARENB, so parity is read from INPCK,
    which libmodbus sets for E and O, and PARODD). Otherwise the receiving UART sees framing and parity
    errors and discards the characters: nothing arrives. .a is the master's end, .b the device's."""

    def __init__(self):
        self.master_a, self.slave_a = pty.openpty()
        self.master_b, self.slave_b = pty.openpty()
        for fd in (self.slave_a, self.slave_b):
            tty.setraw(fd)
        self.a, self.b = os.ttyname(self.slave_a), os.ttyname(self.slave_b)
        self.passed = self.garbled = 0
        self.running = True
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()

    @staticmethod
    def setting(fd: int) -> tuple:
        iflag, _, cflag, _, ispeed, ospeed, _ = termios.tcgetattr(fd)  # a master reports its slave's
        return ispeed, ospeed, bool(iflag & termios.INPCK), bool(cflag & termios.PARODD)

    def _relay(self) -> None:
        pairs = {self.master_a: self.master_b, self.master_b: self.master_a}
        while self.running:
            ready, _, _ = select.select(list(pairs), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if self.setting(self.master_a) == self.setting(self.master_b):
                    self.passed += len(data)
                else:
                    self.garbled += len(data)
                    continue
                os.write(pairs[fd], data)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        for fd in (self.master_a, self.slave_a, self.master_b, self.slave_b):
            os.close(fd)


@pytest.fixture
def baud_line():
    lines = []

    def make() -> BaudLine:
        lines.append(BaudLine())
        return lines[-1]

    yield make
    for line in lines:
        line.close()


# ------------------------------------------------------------------------------------------------------
# Usage and ports
# ------------------------------------------------------------------------------------------------------

def test_help_names_every_option_and_the_exit_codes():
    result = run("scan", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: edgecore scan"), result
    for option in ("--tcp", "--rtu", "--dtu", "--baud", "--parity", "--line-baud", "--units", "--function",
                   "--address", "--timeout", "--retries", "--protocol", "--name", "--format"):
        assert option in result.stdout, option
    assert "130 interrupted" in result.stdout


@pytest.mark.parametrize("args, names", [
    (["--tcp", "127.0.0.1", "--units", "0-300"], "--units: '0-300': unit ids are 0..255"),
    (["--rtu", "/dev/null", "--units", "10-5"], "--units: '10-5'"),
    (["--rtu", "/dev/null", "--units", "abc"], "--units: 'abc' is not a list of unit ids"),
    (["--rtu", "/dev/null", "--units", "1,,3"], "--units: '1,,3'"),
    (["--rtu", "/dev/null", "--units", "1-"], "--units: '1-'"),
    (["--rtu", "/dev/null", "--units", "248"], "unit ids are 1..247"),
    (["--rtu", "/dev/null", "--units", "0"], "unit id 0 is the broadcast address"),
    (["--rtu", "/dev/null", "--baud", "9600,fast"], "--baud: 'fast'"),
    (["--rtu", "/dev/null", "--baud", "9600,"], "--baud: '9600,' is not a list"),
    (["--rtu", "/dev/null", "--parity", "N,X"], "--parity: 'N,X' is not a list of N, E, O"),
    (["--rtu", "/dev/null", "--parity", "E,E"], "--parity: 'E,E'"),
    (["--tcp", "127.0.0.1", "--baud", "9600"], "--baud/--parity are the settings of --rtu"),
    (["--tcp", "127.0.0.1", "--protocol", "dlt645-2007"], "not --tcp"),
    (["--rtu", "/dev/null", "--protocol", "dlt645-2007", "--units", "1-3"], "--units: meters are found by address"),
    (["--rtu", "/dev/null", "--protocol", "cjt188"], "--protocol cjt188: not supported"),
    (["--rtu", "/dev/null", "--protocol", "dlt645-1997"], "--protocol dlt645-1997: not supported"),
    (["--rtu", "/dev/null", "--protocol", "iec62056"], "--protocol: 'iec62056'"),
    (["--tcp", "127.0.0.1", "--format", "csv"], "--format: 'csv' is not one of yaml, json"),
    (["--tcp", "127.0.0.1", "--name", "a b"], "--name: 'a b'"),
    (["--tcp", "127.0.0.1", "--timeout", "0"], "--timeout: '0'"),
    (["--tcp", "127.0.0.1", "extra"], "unexpected argument 'extra'"),
    (["--tcp", "127.0.0.1", "--bogus"], "unknown option '--bogus'"),
    (["--units", "1-3"], "give exactly one of --tcp"),
])
def test_usage_errors_exit_2_with_one_line(args, names):
    result = run("scan", *args)
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and names in lines[0], result.stderr
    assert result.stdout == ""


def test_a_missing_port_exits_4_and_a_busy_one_names_its_holder(make_pty_pair, tmp_path):
    result = run("scan", "--rtu", tmp_path / "no-such-tty")
    assert result.returncode == 4 and "no-such-tty" in result.stderr and result.stdout == "", result
    pair = make_pty_pair("held")
    fd = os.open(pair.a, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = run("scan", "--rtu", pair.a, "--units", "1")
        assert result.returncode == 4, result
        assert result.stderr.strip().endswith(f"port busy: process {os.getpid()} holds it"), result.stderr
        result = run("scan", "--rtu", pair.a, "--protocol", "dlt645-2007")
        assert result.returncode == 4 and f"process {os.getpid()}" in result.stderr, result
    finally:
        os.close(fd)
    result = run("scan", "--rtu", pair.a, "--units", "1-2", "--timeout", 20)   # free again: nobody answers
    assert result.returncode == 1 and "nothing found" in result.stderr, result


def test_nobody_listening_on_tcp_is_a_runtime_failure(free_tcp_port):
    port = free_tcp_port()
    result, out = scan_json("--tcp", f"127.0.0.1:{port}", "--units", "1-5")
    assert result.returncode == 1 and "cannot connect" in result.stderr, result
    assert out["settings"][0]["found"] == [] and "cannot connect" in out["settings"][0]["problem"]
    assert out["best"] is None


# ------------------------------------------------------------------------------------------------------
# Modbus TCP
# ------------------------------------------------------------------------------------------------------

def test_a_full_sweep_over_tcp_finds_exactly_the_served_units(libmodbus_server, free_tcp_port, tmp_path):
    port = free_tcp_port()
    libmodbus_server(tcp=port, map=write_map(tmp_path, UNITS_MAP), exceptions=["5:holding:0:4"])
    t0 = time.monotonic()
    result = run("scan", "--tcp", f"127.0.0.1:{port}", "--timeout", 30, "--name", "plc")
    elapsed = time.monotonic() - t0
    assert result.returncode == 0, result
    assert elapsed < 20, elapsed
    text = result.stdout
    # every served unit, the ones answering with an exception included; nothing else
    assert yaml_devices(text) == [("plc_unit_1", "1"), ("plc_unit_5", "5"), ("plc_unit_9", "9"),
                                  ("plc_unit_12", "12"), ("plc_unit_200", "200")], text
    assert "#   unit 5 answered with exception 4 (server device failure): a device is there" in text
    assert "#   unit 9 answered with exception 2 (illegal data address): a device is there" in text
    assert "# 247 of 247 unit ids probed, 5 found" in text
    assert f"    type: tcp\n    host: \"127.0.0.1\"\n    port: {port}\n" in text
    plan = check_loads(tmp_path, text)
    assert plan.count("device 'plc_unit_") == 5 and "unit 200" in plan


def test_json_result_and_a_gateways_exceptions(libmodbus_server, free_tcp_port, tmp_path):
    port = free_tcp_port()
    # unit 12 answers 11 "gateway target device failed to respond": a gateway without a device there
    libmodbus_server(tcp=port, map=write_map(tmp_path, UNITS_MAP), exceptions=["12:holding:0:11"])
    result, out = scan_json("--tcp", f"127.0.0.1:{port}", "--units", "1-10,12,199-201", "--timeout", 50)
    assert result.returncode == 0, result
    assert (out["transport"], out["units"], out["function"], out["address"], out["interrupted"]) == \
        ("tcp", "1-10,12,199-201", "holding", 0, False)
    (setting,) = out["settings"]
    assert found_units(setting) == {1: "ok", 5: "ok", 9: "exception 2", 200: "ok"}
    assert setting["gateway"] == [{"unit": 12, "exception": 11}]
    assert (setting["probed"], setting["complete"], setting["garbled"], out["best"]) == (14, True, [], 0)
    # other probes: input register 0 exists nowhere (exception 2 from each unit that is there)
    result, out = scan_json("--tcp", f"127.0.0.1:{port}", "--units", "1-6", "--function", "input",
                            "--timeout", 50)
    assert found_units(out["settings"][0]) == {1: "exception 2", 5: "exception 2"}, out
    # a unit range where nobody is: exit 1, no bus in the fragment
    result = run("scan", "--tcp", f"127.0.0.1:{port}", "--units", "20-25", "--timeout", 20)
    assert result.returncode == 1 and "buses:" not in result.stdout and "# nothing found" in result.stdout, result


def test_sigint_prints_the_partial_result_and_exits_130(libmodbus_server, free_tcp_port, tmp_path):
    port = free_tcp_port()
    libmodbus_server(tcp=port, map=write_map(tmp_path, UNITS_MAP))
    proc = subprocess.Popen([str(TOOL), "scan", "--tcp", f"127.0.0.1:{port}", "--timeout", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)  # about 20 unit ids probed of 247 (25 s)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode == 130, (out, err)
    assert "INTERRUPTED" in out.splitlines()[0] and "interrupted" in err
    assert yaml_devices(out) == [("line_unit_1", "1"), ("line_unit_5", "5"), ("line_unit_9", "9"),
                                 ("line_unit_12", "12")], out
    probed = int(re.search(r"^# (\d+) of 247 unit ids probed, 4 found$", out, re.M).group(1))
    assert 12 <= probed < 100, out


def test_progress_is_one_updating_line_on_a_terminal(libmodbus_server, free_tcp_port, tmp_path):
    port = free_tcp_port()
    libmodbus_server(tcp=port, map=write_map(tmp_path, UNITS_MAP))
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([str(TOOL), "scan", "--tcp", f"127.0.0.1:{port}", "--units", "1-20",
                                 "--timeout", "50"], stdout=subprocess.PIPE, stderr=slave, text=True)
        out, _ = proc.communicate(timeout=20)
        os.close(slave)
        slave = -1
        shown = b""
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0 and len(yaml_devices(out)) == 4, out
    text = shown.decode()
    assert "\n" not in text.replace("\r\n", "\r").replace("\r", ""), text   # one line, redrawn
    assert "\r\x1b[Kedgecore scan: unit 20/20, found 4" in text, text
    assert text.count("\r\x1b[K") >= 3


# ------------------------------------------------------------------------------------------------------
# Modbus RTU: a pty line, the baud/parity sweep, garbled replies, behind a serial server
# ------------------------------------------------------------------------------------------------------

def test_rtu_line_finds_exactly_the_served_units(libmodbus_server, make_pty_pair, tmp_path):
    pair = make_pty_pair("rtu")
    libmodbus_server(rtu=pair.b, map=write_map(tmp_path, UNITS_MAP), baud=19200, parity="E")
    result = run("scan", "--rtu", pair.a, "--baud", 19200, "--parity", "E", "--units", "1-15", "--timeout", 50)
    assert result.returncode == 0, result
    assert yaml_devices(result.stdout) == [("line_unit_1", "1"), ("line_unit_5", "5"), ("line_unit_9", "9"),
                                           ("line_unit_12", "12")], result.stdout
    assert f"    type: rtu\n    device: \"{pair.a}\"\n    baud: 19200\n    parity: E\n" in result.stdout
    check_loads(tmp_path, result.stdout)


def test_garbled_replies_are_reported_not_found(libmodbus_server, make_pty_pair, tmp_path):
    pair = make_pty_pair("crc")
    libmodbus_server(rtu=pair.b, map=write_map(tmp_path, UNITS_MAP), bad_crc_every=1)
    result, out = scan_json("--rtu", pair.a, "--units", "1-6", "--timeout", 50)
    assert result.returncode == 1, result
    (setting,) = out["settings"]
    assert (setting["found"], setting["garbled"], setting["probed"]) == ([], [1, 5], 6), out
    result = run("scan", "--rtu", pair.a, "--units", "1-6", "--timeout", 50)
    assert "#   unit 5: a garbled reply (bad CRC or frame): something answers at other settings?" in result.stdout


def test_baud_and_parity_sweep_finds_the_line_settings(baud_line, libmodbus_server, tmp_path):
    line = baud_line()
    libmodbus_server(rtu=line.b, map=write_map(tmp_path, UNITS_MAP), baud=19200, parity="O")
    # the given units at every setting: 2 bauds x all three parities
    result, out = scan_json("--rtu", line.a, "--baud", "9600,19200", "--units", "1-6", "--timeout", 40)
    assert result.returncode == 0, result
    answered = {(s["baud"], s["parity"]): sorted(found_units(s)) for s in out["settings"]}
    assert answered == {(9600, "N"): [], (9600, "E"): [], (9600, "O"): [],
                        (19200, "N"): [], (19200, "E"): [], (19200, "O"): [1, 5]}, out
    assert out["settings"][out["best"]]["parity"] == "O" and line.garbled > 0 and line.passed > 0
    # without --units each setting stops at its first find; the fragment has the setting that answered
    result = run("scan", "--rtu", line.a, "--baud", "4800,19200", "--parity", "N,O", "--timeout", 10, timeout=60)
    assert result.returncode == 0, result
    text = result.stdout
    assert "# 19200 8O1: 1 of 247 unit ids probed, 1 found (stopped at the first: scan with --baud 19200 " \
           "--parity O for all)" in text, text
    assert "# 4800 8N1: 247 of 247 unit ids probed, 0 found" in text
    assert "    baud: 19200\n    parity: O\n" in text and yaml_devices(text) == [("line_unit_1", "1")]


def test_modbus_rtu_behind_a_transparent_serial_server(shared_line, libmodbus_server, free_tcp_port, tmp_path):
    from test_transparent_tcp import SerialServer
    server_end, modbus_device = shared_line(2)
    libmodbus_server(rtu=modbus_device, map=write_map(tmp_path, UNITS_MAP))
    port = free_tcp_port()
    dtu = SerialServer(port, server_end)
    try:
        result = run("scan", "--dtu", f"127.0.0.1:{port}", "--line-baud", 19200, "--units", "1-10", "--timeout", 80)
    finally:
        dtu.stop()
    assert result.returncode == 0, result
    assert [u for _, u in yaml_devices(result.stdout)] == ["1", "5", "9"], result.stdout
    assert "    framing: transparent\n" in result.stdout and "    line_baud: 19200\n" in result.stdout
    check_loads(tmp_path, result.stdout)


# ------------------------------------------------------------------------------------------------------
# DL/T 645 address discovery
# ------------------------------------------------------------------------------------------------------

def test_dlt645_discovery_finds_the_meter_address(meter_peer, tmp_path):
    _, where, _ = meter_peer("dlt645", "rtu", meters=[METER])
    result = run("scan", "--rtu", where["rtu"], "--protocol", "dlt645-2007", "--name", "mains")
    assert result.returncode == 0, result
    assert yaml_devices(result.stdout) == [(f"mains_meter_{METER}", METER)], result.stdout
    assert "    baud: 2400\n    parity: E\n" in result.stdout and "protocol: dlt645-2007" in result.stdout
    plan = check_loads(tmp_path, result.stdout)
    assert f"mains_meter_{METER}" in plan
    result, out = scan_json("--rtu", where["rtu"], "--protocol", "dlt645-2007")
    assert [(s["result"], s["address"]) for s in out["settings"]] == [("found", METER)], out
    # one discovery per setting (a pty passes bytes at any setting: both answer; the fragment takes the first)
    result, out = scan_json("--rtu", where["rtu"], "--protocol", "dlt645-2007", "--baud", "1200,9600", "--parity", "E")
    assert [(s["baud"], s["parity"], s["result"]) for s in out["settings"]] == \
        [(1200, "E", "found"), (9600, "E", "found")] and out["best"] == 0, out


def test_two_meters_are_ambiguous_and_a_silent_line_finds_none(meter_peer):
    _, two, _ = meter_peer("dlt645", "tcp", meters=[METER, OTHER_METER])
    result = run("scan", "--dtu", f"127.0.0.1:{two['tcp']}", "--protocol", "dlt645-2007")
    assert result.returncode == 1, result
    assert "several meters answered" in result.stderr and "buses:" not in result.stdout
    assert "SEVERAL METERS" in result.stdout and "edgecore read --meter-address" in result.stdout
    result, out = scan_json("--dtu", f"127.0.0.1:{two['tcp']}", "--protocol", "dlt645-2007")
    assert [s["result"] for s in out["settings"]] == ["ambiguous"] and out["best"] is None, out
    assert METER in out["settings"][0]["problem"] and OTHER_METER in out["settings"][0]["problem"]
    _, dead, _ = meter_peer("dlt645", "rtu", meters=["000000000007"], options=["--dead", "000000000007"])
    result, out = scan_json("--rtu", dead["rtu"], "--protocol", "dlt645-2007")
    assert result.returncode == 1 and [s["result"] for s in out["settings"]] == ["none"], (result, out)
