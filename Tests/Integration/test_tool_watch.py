"""`edgecore watch SITE` (tools/cmd_watch.c) against a real peer (the libmodbus server over TCP): JSON lines and
CSV parsed back (values, statuses, timestamps), plain lines on a pipe, the live table under a pty (rows,
in-place redraws, a dead device's health, Ctrl-C ends it with exit 0 and the cursor shown again), and the exit
codes (2 usage, 3 site refused, 4 serial port missing or busy)."""
from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import subprocess
import time

import pytest

import regmap
from tool_harness import TOOL, csv_rows, json_lines, parse_time, run, tool_built  # noqa: F401

SITE = """buses:
  - name: plant
    type: tcp
    host: 127.0.0.1
    port: {port}
    devices:
      - name: tank
        unit_id: 1
        response_timeout_ms: 300
        channels:
          - {{name: tank.level, address: 0, interval_ms: 200}}
          - {{name: tank.temp, function: input, address: 1, type: i16, scale: 0.1, unit: degC, interval_ms: 200}}
      - name: refuser
        unit_id: 2
        response_timeout_ms: 300
        channels:
          - {{name: refuser.missing, address: 200, interval_ms: 200}}
      - name: ghost
        unit_id: 9
        response_timeout_ms: 150
        retries: 0
        offline_after: 2
        backoff_min_ms: 400
        backoff_max_ms: 400
        channels:
          - {{name: ghost.value, address: 0, interval_ms: 200}}
"""


@pytest.fixture
def site(tmp_path, libmodbus_server, free_tcp_port):
    served = regmap.RegisterMap()
    served.set(1, "holding", 0, 1234)
    served.set_registers(1, "input", 1, regmap.encode("i16", -57))
    served.set(2, "holding", 0, 5)
    port = free_tcp_port()
    libmodbus_server(tcp=port, map=served)
    path = tmp_path / "site.yaml"
    path.write_text(SITE.format(port=port))
    return path


EXPECTED = {"tank.level": ("ok", 1234.0, ""), "tank.temp": ("ok", -5.7, "degC"),
            "refuser.missing": ("exception", None, ""), "ghost.value": ("timeout", None, "")}


def check_rows(rows, value_key="value"):
    by_channel: dict[str, list[dict]] = {}
    for row in rows:
        by_channel.setdefault(row["channel"], []).append(row)
    assert set(by_channel) == set(EXPECTED), by_channel.keys()
    for name, (status, value, unit) in EXPECTED.items():
        got = by_channel[name]
        assert len(got) >= 2, (name, got)          # readings keep coming for the whole duration
        first = got[0]
        assert first["unit"] == unit, first
        if status == "timeout":                    # then backed off: offline readings
            assert {r["status"] for r in got} <= {"timeout", "offline"} and got[0]["status"] == "timeout", got
            continue
        assert {r["status"] for r in got} == {status}, got
        for r in got:
            if value is None:
                assert r[value_key] in (None, ""), r
            else:
                assert float(r[value_key]) == pytest.approx(value, abs=1e-9), r
        if status == "exception":
            assert {str(r["detail"]) for r in got} == {"2"}, got   # illegal data address
        times = [parse_time(r["timestamp"]) for r in got]
        assert times == sorted(times) and times[-1] > times[0], times
    return by_channel


def test_json_lines_carry_values_statuses_and_timestamps(site):
    result = run("watch", "--json", "--duration", "2.5", site, timeout=30)
    assert result.returncode == 0, result
    rows = json_lines(result.stdout)
    by_channel = check_rows(rows)
    assert all(isinstance(r["ts_ns"], int) for r in rows)
    assert len(by_channel["tank.level"]) >= 6     # every 200 ms for 2.5 s


def test_csv_with_format_option_and_channel_selection(site):
    result = run("watch", "--format", "csv", "--duration", "1.5", "--channel", "tank.temp",
                 "--channel", "refuser.missing", site, timeout=30)
    assert result.returncode == 0, result
    assert result.stdout.splitlines()[0] == "timestamp,channel,value,unit,status,detail"
    rows = csv_rows(result.stdout)
    assert {r["channel"] for r in rows} == {"tank.temp", "refuser.missing"}
    temps = [r for r in rows if r["channel"] == "tank.temp"]
    assert len(temps) >= 3 and all(float(r["value"]) == pytest.approx(-5.7) and r["status"] == "ok" for r in temps)
    refused = [r for r in rows if r["channel"] == "refuser.missing"]
    assert refused and all(r["status"] == "exception" and r["detail"] == "2" and r["value"] == "" for r in refused)

    result = run("watch", "--csv", "--duration", "2", site, timeout=30)
    assert result.returncode == 0, result
    check_rows(csv_rows(result.stdout))


def test_plain_lines_when_stdout_is_not_a_terminal(site):
    result = run("watch", "--duration", "1.2", site, timeout=30)
    assert result.returncode == 0, result
    assert "\033" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["timestamp", "channel", "value", "unit", "status"]
    seen = {}
    for line in lines[1:]:
        fields = line.split()
        parse_time(fields[0])
        seen.setdefault(fields[1], line)
    assert set(seen) == set(EXPECTED)
    assert seen["tank.level"].split()[2:] == ["1234", "ok"]
    assert seen["tank.temp"].split()[2:] == ["-5.7", "degC", "ok"]
    assert seen["refuser.missing"].split()[2:] == ["-", "exception", "2"]
    assert seen["ghost.value"].split()[2:] == ["-", "timeout"]


def read_pty(fd: int, seconds: float) -> bytes:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:       # EIO: the other side closed
                break
            if not chunk:
                break
            out += chunk
    return out


def test_live_table_on_a_terminal_redraws_and_ends_cleanly_on_ctrl_c(site):
    master, slave = os.openpty()
    proc = subprocess.Popen([str(TOOL), "watch", str(site)], stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                            close_fds=True)
    os.close(slave)
    try:
        out = read_pty(master, 3.0)
        proc.send_signal(signal.SIGINT)
        out += read_pty(master, 2.0)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = out.decode()
    frames = text.split("\033[H")
    assert len(frames) >= 5, len(frames)        # redrawn in place: several frames in 3 s
    assert len(frames) <= 3 * 4 + 4, len(frames)  # at most about 4 a second
    assert text.startswith("\033[?25l") and text.endswith("\033[?25h"), text[-40:]   # cursor hidden, then shown
    last = frames[-1]
    rows = {line.split()[0]: line for line in last.splitlines() if line.split() and line.split()[0] in EXPECTED}
    assert set(rows) == set(EXPECTED), last
    assert re.search(r"tank\.level\s+1234\s+ok\s+\d+\.\d\s+tank\s+ok", rows["tank.level"]), rows["tank.level"]
    assert re.search(r"tank\.temp\s+-5\.7\s+degC\s+ok\s+\d+\.\d\s+tank\s+ok", rows["tank.temp"]), rows["tank.temp"]
    # a device that refuses a register answers: its health is ok, its last problem the exception
    assert re.search(r"refuser\.missing\s+-\s+exception 2\s+\d+\.\d\s+refuser\s+ok", rows["refuser.missing"]), \
        rows["refuser.missing"]
    assert re.search(r"ghost\.value\s+-\s+(timeout|offline)\s+\d+\.\d\s+ghost\s+(offline|failing)",
                     rows["ghost.value"]), rows["ghost.value"]
    devices = {line.split()[0]: line for line in last.splitlines() if line.split()}
    assert "no answer" in devices["ghost"] and devices["ghost"].split()[1] in ("offline", "failing"), devices["ghost"]
    assert "exception 2" in devices["refuser"], devices["refuser"]
    assert devices["tank"].split()[1] == "ok", devices["tank"]


def test_table_format_asked_for_on_a_terminal_prints_lines(site):
    master, slave = os.openpty()
    proc = subprocess.Popen([str(TOOL), "watch", "--format", "table", "--duration", "1", str(site)], stdin=slave,
                            stdout=slave, stderr=subprocess.PIPE, close_fds=True)
    os.close(slave)
    try:
        out = read_pty(master, 5.0)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = out.decode()
    assert "\033" not in text, text[:200]
    lines = text.splitlines()
    assert lines[0].split() == ["timestamp", "channel", "value", "unit", "status"], lines[:2]
    assert {line.split()[1] for line in lines[1:]} == set(EXPECTED), lines


@pytest.mark.parametrize("args, names", [
    (["--bogus", "x.yaml"], "unknown option '--bogus'"),
    ([], "expected one site file, got 0"),
    (["a.yaml", "b.yaml"], "expected one site file, got 2"),
    (["--duration", "0", "x.yaml"], "--duration: '0'"),
    (["--duration", "soon", "x.yaml"], "--duration: 'soon' is not a number"),
    (["--format", "xml", "x.yaml"], "--format: 'xml' is not one of table, json, csv"),
    (["--channel"], "'--channel' needs a value"),
])
def test_usage_errors_exit_2(args, names):
    result = run("watch", *args)
    assert result.returncode == 2, result
    assert len(result.stderr.splitlines()) == 1 and names in result.stderr, result.stderr
    assert result.stdout == ""


def test_help():
    result = run("watch", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: edgecore watch")
    for option in ("--json", "--csv", "--format", "--duration", "--channel", "Exit"):
        assert option in result.stdout


def test_unknown_channel_is_a_usage_error(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(SITE.format(port=1502))
    result = run("watch", "--channel", "tank.lvl", path)
    assert result.returncode == 2 and "no channel 'tank.lvl'" in result.stderr, result


def test_a_refused_site_exits_3(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SITE.format(port=1502).replace("type: i16", "type: i17"))
    result = run("watch", "--duration", "1", bad)
    assert result.returncode == 3, result
    assert f"{bad}:12:" in result.stderr and "i17" in result.stderr and result.stdout == ""
    assert run("watch", tmp_path / "absent.yaml").returncode == 3


RTU_SITE = """buses:
  - name: line
    type: rtu
    device: {device}
    devices:
      - name: d
        response_timeout_ms: 100
        channels:
          - {{name: d.x, address: 0}}
"""


def test_a_missing_or_busy_serial_port_exits_4(tmp_path, make_pty_pair):
    missing = tmp_path / "missing.yaml"
    missing.write_text(RTU_SITE.format(device=tmp_path / "no such tty"))
    result = run("watch", "--duration", "1", missing)
    assert result.returncode == 4, result
    assert "no such tty" in result.stderr and "No such file" in result.stderr

    pair = make_pty_pair("held")
    held = tmp_path / "held.yaml"
    held.write_text(RTU_SITE.format(device=pair.a))
    fd = os.open(pair.a, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = run("watch", "--duration", "1", held)
        assert result.returncode == 4, result
        assert result.stderr.strip().endswith(f"port busy: process {os.getpid()} holds it"), result.stderr
    finally:
        os.close(fd)
    result = run("watch", "--json", "--duration", "1", held, timeout=20)   # free: nobody answers, still exit 0
    assert result.returncode == 0, result
    rows = json_lines(result.stdout)
    assert rows and {r["status"] for r in rows} <= {"timeout", "offline"}, rows


@pytest.mark.parametrize("command", [["read"], ["write"]])
def test_read_and_write_of_a_site_channel_check_its_serial_port_too(command, tmp_path, make_pty_pair):
    """`read SITE CHANNEL` / `write SITE CHANNEL VALUE` refuse a missing or busy port as an ad hoc read does
    (exit 4, one line naming the holder), instead of timing out on a line they do not own."""
    tail = ["d.x"] + (["1"] if command == ["write"] else [])
    missing = tmp_path / "missing.yaml"
    missing.write_text(RTU_SITE.format(device=tmp_path / "no such tty"))
    result = run(*command, missing, *tail)
    assert result.returncode == 4 and "No such file" in result.stderr, result
    pair = make_pty_pair("held")
    held = tmp_path / "held.yaml"
    held.write_text(RTU_SITE.format(device=pair.a))
    fd = os.open(pair.a, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = run(*command, held, *tail)
        assert result.returncode == 4, result
        assert result.stderr.strip().endswith(f"port busy: process {os.getpid()} holds it"), result.stderr
    finally:
        os.close(fd)
