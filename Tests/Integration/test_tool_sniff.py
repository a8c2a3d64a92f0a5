"""`edgecore sniff` (tools/cmd_sniff.c): a passive monitor of a line, tested on a real exchange.

The tap: Tests/Peers/rs485_line.py joins three pty pairs into one line (the `shared_line` fixture), so the
master (`edgecore read/write`), the slave (libmodbus's server, or the `dlt645` package's meter) and the
sniffer each have their own end and the sniffer reads every byte either side sends, as a second adapter on
an RS-485 pair would. The sniffer's decoded frames are asserted exactly: requests and responses in order,
unit, function, address, count, values, CRC; a corrupted reply (the server's --bad-crc-every) shows a bad
CRC; the pcap file is parsed back (struct, and tshark when installed); --duration / --count / SIGINT end a
run with the pcap complete; a missing or busy device exits 4, a bad option 2."""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import time

import pytest

from harness import crc16, write_table
from tool_harness import ROOT, TOOL, json_lines, recent, run, tool_built  # noqa: F401

METER = "000012345678"
# unit 1: holding 0..3, coils 5..7; address 300 is outside the map (exception 2)
MODBUS_MAP = "1 holding 0 11 22 33 0x1234\n1 holding 41 0\n1 coil 5 1 0 1\n"


class Sniffer:
    """`edgecore sniff DEVICE ARGS...` running: started once it says it listens; stop() interrupts it (SIGINT)
    and returns (returncode, stdout, stderr)."""

    def __init__(self, device, *args, timeout: float = 5.0):
        self.proc = subprocess.Popen([str(TOOL), "sniff", str(device), *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()   # "edgecore sniff: listening on ..." once the line is set up
        assert "listening on" in line, (line, self.proc.poll())

    def stop(self, timeout: float = 5.0):
        time.sleep(0.1)                      # the last frame's silence
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"sniff did not end on SIGINT within {timeout} s: {err}")
        return self.proc.returncode, out, err


@pytest.fixture
def sniffers():
    started: list[Sniffer] = []

    def start(device, *args) -> Sniffer:
        sniffer = Sniffer(device, *args)
        started.append(sniffer)
        return sniffer

    yield start
    for sniffer in started:
        if sniffer.proc.poll() is None:
            sniffer.proc.kill()
            sniffer.proc.communicate()


@pytest.fixture
def modbus_line(shared_line, libmodbus_server, tmp_path):
    """(master, sniffer, peer factory): a line with the libmodbus server on it (started by the caller)."""
    master, slave, sniffer = shared_line(3)
    map_path = tmp_path / "map.txt"
    map_path.write_text(MODBUS_MAP)

    def serve(**options):
        return libmodbus_server(rtu=slave, map=str(map_path), **options)

    return master, sniffer, serve


def pcap_records(path) -> tuple[int, list[tuple[float, bytes]]]:
    """(link type, [(timestamp, bytes)]) of a classic pcap file; asserts its structure is whole."""
    data = path.read_bytes()
    assert len(data) >= 24
    magic, major, minor, _, _, snaplen, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, snaplen) == (0xA1B2C3D4, 2, 4, 65535)
    records, offset = [], 24
    while offset < len(data):
        seconds, micros, included, original = struct.unpack("<IIII", data[offset:offset + 16])
        assert included == original and micros < 1_000_000
        frame = data[offset + 16:offset + 16 + included]
        assert len(frame) == included, "a record cut short"
        records.append((seconds + micros / 1e6, frame))
        offset += 16 + included
    return linktype, records


def without_sample_before_write(rows, at: int):
    """The engine of `edgecore write` may sample the channel (read it) before its write: drop that pair."""
    if rows[at]["function"] == 3 and rows[at]["address"] == 41:
        assert rows[at + 2]["function"] == 6, rows
        return rows[:at] + rows[at + 2:]
    return rows


def modbus_summary(rows):
    keys = ("direction", "unit", "function", "address", "count", "value", "values", "exception", "check")
    return [tuple(row.get(k) for k in keys) for row in rows]


# ------------------------------------------------------------------------------------------------------
# Modbus RTU
# ------------------------------------------------------------------------------------------------------

def test_modbus_exchange_decoded_in_order_with_a_pcap(modbus_line, sniffers, tmp_path):
    master, device, serve = modbus_line
    serve()
    pcap = tmp_path / "line.pcap"
    sniffer = sniffers(device, "--format", "json", "--pcap", pcap)
    line = ["--rtu", master, "--timeout", 500]
    assert run("read", *line, "--address", 0, "--count", 4, "--format", "json").returncode == 0
    assert run("write", *line, "--address", 41, "--value", 4242).returncode == 0
    assert run("read", *line, "--function", "coils", "--address", 5, "--count", 3).returncode == 0
    assert run("read", *line, "--address", 300).returncode == 1          # exception 2: illegal address
    code, out, err = sniffer.stop()
    assert code == 0, err
    rows = json_lines(out)
    assert len(rows) in (8, 10) and f"{len(rows)} frames, 0 with a bad CRC" in err, out
    frames = without_sample_before_write(rows, 2)
    assert modbus_summary(frames) == [
        ("request", 1, 3, 0, 4, None, None, None, "ok"),
        ("response", 1, 3, 0, 4, None, [11, 22, 33, 0x1234], None, "ok"),
        ("request", 1, 6, 41, None, 4242, None, None, "ok"),
        ("response", 1, 6, 41, None, 4242, None, None, "ok"),
        ("request", 1, 1, 5, 3, None, None, None, "ok"),
        ("response", 1, 1, 5, 3, None, [1, 0, 1], None, "ok"),
        ("request", 1, 3, 300, 1, None, None, None, "ok"),
        ("response", 1, 3, 300, 1, None, None, 2, "ok"),
    ], out
    assert all(r["protocol"] == "modbus" for r in rows)
    assert rows[0]["bytes"] == "010300000004" + crc16(bytes.fromhex("010300000004")).hex().upper()
    assert rows[0]["function_name"] == "read_holding_registers" and rows[-1]["length"] == 5
    stamps = [r["ts_ns"] for r in rows]
    assert stamps == sorted(stamps) and all(recent(r["timestamp"]) for r in rows)
    # the pcap holds the same frames, in order, with their times
    linktype, records = pcap_records(pcap)
    assert linktype == 147
    assert [frame.hex().upper() for _, frame in records] == [r["bytes"] for r in rows]
    assert [int(t * 1e3) for t, _ in records] == [r["ts_ns"] // 1_000_000 for r in rows]


@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark is not installed (scripts/install-deps.sh)")
def test_wireshark_decodes_the_pcap_as_modbus_rtu(modbus_line, sniffers, tmp_path):
    master, device, serve = modbus_line
    serve()
    pcap = tmp_path / "line.pcap"
    sniffer = sniffers(device, "--pcap", pcap)
    line = ["--rtu", master, "--timeout", 500]
    assert run("read", *line, "--address", 1, "--count", 2).returncode == 0
    assert run("write", *line, "--address", 41, "--value", 7).returncode == 0
    assert sniffer.stop()[0] == 0
    # the one setting a technician makes once: DLT_USER, User 0 (DLT=147) -> mbrtu
    uat = 'uat:user_dlts:"User 0 (DLT=147)","mbrtu","0","","0",""'
    result = subprocess.run(["tshark", "-r", str(pcap), "-o", uat, "-o", "mbrtu.crc_verification:TRUE",
                             "-T", "fields", "-e", "mbrtu.unit_id", "-e", "modbus.func_code",
                             "-e", "modbus.reference_num", "-e", "modbus.regval_uint16", "-e", "mbrtu.crc16.status"],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    fields = [line.split("\t") for line in result.stdout.splitlines()]
    if len(fields) == 6:                     # the engine sampled address 41 before its write
        assert fields[2][:3] == ["1", "3", "41"], result.stdout
        fields = fields[:2] + fields[4:]
    assert [f[:2] for f in fields] == [["1", "3"], ["1", "3"], ["1", "6"], ["1", "6"]], result.stdout
    assert fields[0][2] == "1", result.stdout
    assert fields[1][3] == "22,33", result.stdout          # the response's registers (Wireshark pairs them)
    assert all(f[4] == "1" for f in fields), result.stdout  # CRC good


def test_a_corrupted_reply_shows_a_bad_crc(modbus_line, sniffers):
    master, device, serve = modbus_line
    serve(bad_crc_every=2)                                    # every 2nd reply: CRC spoiled by the server
    sniffer = sniffers(device)
    line = ["--rtu", master, "--timeout", 300]
    assert run("read", *line, "--address", 2).returncode == 0
    assert run("read", *line, "--address", 2).returncode == 1          # the engine refuses the bad CRC too
    code, out, err = sniffer.stop()
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 4, out
    assert ["crc ok" in l for l in lines] == [True, True, True, False], out
    assert "crc BAD" in lines[3] and lines[3].split()[1] == "7", out   # a whole 7-byte reply, its CRC bad
    assert "modbus response unit=1 function=3(read_holding_registers) address=2 count=1 values=33" in lines[3]
    assert "modbus request unit=1 function=3(read_holding_registers) address=2 count=1" in lines[0]
    assert "modbus response unit=1 function=3(read_holding_registers) address=2 count=1 values=33" in lines[1]
    assert "2 with a bad CRC" not in err and "1 with a bad CRC" in err


def test_frames_running_together_are_split_by_their_structure(pty_pair, sniffers):
    """Bytes written at once (no silence between them) still come out as their frames."""
    request = bytes.fromhex("0103000A0002")
    response = bytes.fromhex("010304000102FF")
    meter = bytes.fromhex("FEFEFEFE68785634120000681104333334351C16")   # hand-made: read 02010100... sum fixed below
    body = bytes.fromhex("68785634120000681104") + bytes(b + 0x33 for b in bytes.fromhex("00010102"))
    meter = b"\xFE\xFE" + body + bytes([sum(body) & 0xFF, 0x16])
    burst = request + crc16(request) + response + crc16(response) + meter
    sniffer = sniffers(pty_pair.b, "--format", "json")
    fd = os.open(pty_pair.a, os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(fd, burst)
    finally:
        os.close(fd)
    code, out, err = sniffer.stop()
    rows = json_lines(out)
    assert [(r["protocol"], r["direction"], r["check"], r["length"]) for r in rows] == [
        ("modbus", "request", "ok", 8), ("modbus", "response", "ok", 9), ("dlt645", "request", "ok", 18)], out
    assert rows[1]["values"] == [1, 0x02FF] and rows[1]["address"] == 10
    assert (rows[2]["meter"], rows[2]["control"], rows[2]["di"], rows[2]["item"]) == (
        METER, 0x11, "02010100", "voltage_a")


def test_a_frame_delivered_in_pieces_comes_out_whole(pty_pair, sniffers):
    """An adapter delivering a frame in bursts: silences inside a frame that its structure says is unfinished
    are bridged; a lone request after it stays alone."""
    response = bytes.fromhex("01031000010002000300040005000600070008")
    response += crc16(response)
    request = bytes.fromhex("01030000000A")
    request += crc16(request)
    sniffer = sniffers(pty_pair.b, "--format", "json", "--gap-ms", 5)
    fd = os.open(pty_pair.a, os.O_WRONLY | os.O_NOCTTY)
    try:
        for piece in (response[:3], response[3:12], response[12:]):
            os.write(fd, piece)
            time.sleep(0.015)                  # 15 ms of silence inside the frame
        time.sleep(0.1)
        os.write(fd, request)
    finally:
        os.close(fd)
    code, out, err = sniffer.stop()
    rows = json_lines(out)
    assert [(r["length"], r["check"], r["direction"]) for r in rows] == [(21, "ok", "response"), (8, "ok", "request")], out
    assert rows[0]["values"] == list(range(1, 9))


# ------------------------------------------------------------------------------------------------------
# DL/T 645
# ------------------------------------------------------------------------------------------------------

def test_dlt645_exchange_decoded(shared_line, meter_peer, sniffers, tmp_path):
    master, meter_end, device = shared_line(3)
    table = write_table(tmp_path / "em.txt", {"00010000": 4321.09, "02010100": 231.4, "02010200": 229.9})
    meter_peer("dlt645", "rtu", meters=[f"{METER}={table}"], device=meter_end, options=["--bad-checksum-every", "3"])
    sniffer = sniffers(device, "--protocol", "dlt645", "--format", "json")
    line = ["--rtu", master, "--protocol", "dlt645-2007", "--meter-address", METER, "--timeout", 800]
    assert run("read", *line, "--item", "forward_active_energy_total", "--item", "voltage_a").returncode == 0
    assert run("read", *line, "--di", "0x02010200").returncode == 1   # the 3rd reply: checksum spoiled
    code, out, err = sniffer.stop()
    assert code == 0, err
    rows = json_lines(out)
    summary = [(r["direction"], r.get("meter"), r.get("control"), r.get("di"), r.get("item"), r.get("data"), r["check"])
               for r in rows]
    assert summary == [
        ("request", METER, 0x11, "00010000", "forward_active_energy_total", "", "ok"),
        ("response", METER, 0x91, "00010000", "forward_active_energy_total", "00432109", "ok"),
        ("request", METER, 0x11, "02010100", "voltage_a", "", "ok"),
        ("response", METER, 0x91, "02010100", "voltage_a", "2314", "ok"),
        ("request", METER, 0x11, "02010200", "voltage_b", "", "ok"),
        ("response", METER, 0x91, "02010200", "voltage_b", "2299", "bad"),
    ], out
    assert rows[1]["bytes"].startswith("FEFEFEFE68") and rows[1]["bytes"].endswith("16")


WATER = "00000012345678"


@pytest.mark.parametrize("protocol", ["auto", "cjt188"])
def test_cjt188_exchange_decoded(shared_line, meter_peer, sniffers, tmp_path, protocol):
    master, meter_end, device = shared_line(3)
    table = write_table(tmp_path / "water.txt", {"flow": "1234.56", "settlement_flow": "1200.07"})
    meter_peer("cjt188", "rtu", meters=[f"10:{WATER}={table}"], device=meter_end)
    sniffer = sniffers(device, "--protocol", protocol, "--baud", 2400, "--parity", "E", "--format", "json")
    result = run("read", "--rtu", master, "--protocol", "cjt188", "--meter-address", WATER, "--item", "current_flow",
                 "--timeout", 800)
    assert result.returncode == 0, result
    code, out, err = sniffer.stop()
    assert code == 0, err
    rows = json_lines(out)
    assert [(r["protocol"], r["direction"], r["meter"], r["meter_type"], r["control"], r["di"], r["check"])
            for r in rows] == [("cjt188", "request", WATER, 0x10, 0x01, "901F", "ok"),
                               ("cjt188", "response", WATER, 0x10, 0x81, "901F", "ok")], out
    assert rows[1]["ser"] == rows[0]["ser"]
    assert rows[1]["data"].startswith("56341200" "2C" "07001200" "2C"), rows[1]   # 1234.56 m3, 1200.07 m3


# ------------------------------------------------------------------------------------------------------
# Bounds, interruption, errors
# ------------------------------------------------------------------------------------------------------

def test_count_and_duration_bound_the_run(modbus_line, tmp_path):
    master, device, serve = modbus_line
    serve()
    started = time.monotonic()
    result = run("sniff", device, "--duration", 0.5)
    assert result.returncode == 0 and result.stdout == "", result
    assert 0.45 < time.monotonic() - started < 3
    assert "0 frames" in result.stderr
    pcap = tmp_path / "two.pcap"
    proc = subprocess.Popen([str(TOOL), "sniff", device, "--count", "2", "--pcap", str(pcap), "--duration", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "listening" in proc.stderr.readline()
    assert run("read", "--rtu", master, "--address", 0, "--count", 2).returncode == 0
    out, err = proc.communicate(timeout=5)                    # ends by itself after the request and reply
    assert proc.returncode == 0 and len(out.splitlines()) == 2, (out, err)
    assert len(pcap_records(pcap)[1]) == 2


def test_sigint_ends_with_the_pcap_complete(pty_pair, sniffers, tmp_path):
    pcap = tmp_path / "cut.pcap"
    sniffer = sniffers(pty_pair.b, "--pcap", pcap, "--format", "json")
    frame = bytes.fromhex("11050013FF00")
    fd = os.open(pty_pair.a, os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(fd, frame + crc16(frame))
        time.sleep(0.05)
        os.write(fd, bytes.fromhex("1105"))   # a frame still arriving when the signal comes
        time.sleep(0.1)                        # read by the sniffer, held for its missing 6 bytes
        sniffer.proc.send_signal(signal.SIGINT)
        code, out, err = sniffer.stop()
    finally:
        os.close(fd)
    assert code == 0, err
    rows = json_lines(out)
    assert [(r["length"], r.get("unit"), r.get("function"), r.get("address"), r.get("value"), r["check"])
            for r in rows] == [(8, 0x11, 5, 0x13, 1, "ok"), (2, None, None, None, None, "bad")], out
    _, records = pcap_records(pcap)
    assert [frame.hex().upper() for _, frame in records] == [r["bytes"] for r in rows] == [
        "11050013FF00" + crc16(frame).hex().upper(), "1105"]


def test_an_unplugged_line_ends_with_exit_1_and_the_frames_kept(pty_pair, sniffers, tmp_path):
    pcap = tmp_path / "unplugged.pcap"
    sniffer = sniffers(pty_pair.b, "--pcap", pcap, "--format", "json")
    frame = bytes.fromhex("010600010002")
    fd = os.open(pty_pair.a, os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(fd, frame + crc16(frame))
        time.sleep(0.1)
    finally:
        os.close(fd)
    pty_pair.unplug()                          # socat ends: the sniffer's end of the line hangs up
    try:
        out, err = sniffer.proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("sniff went on listening on a line that hung up")
    assert sniffer.proc.returncode == 1 and "the line failed" in err, err
    assert [r["bytes"] for r in json_lines(out)] == [(frame + crc16(frame)).hex().upper()]
    assert len(pcap_records(pcap)[1]) == 1


def test_a_missing_device_exits_4_and_a_busy_one_names_its_holder(tmp_path, pty_pair):
    result = run("sniff", tmp_path / "no-such-tty")
    assert result.returncode == 4 and len(result.stderr.splitlines()) == 1, result
    assert "no-such-tty" in result.stderr and "No such file" in result.stderr
    with open(pty_pair.b, "rb", buffering=0) as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run("sniff", pty_pair.b, "--duration", 1)
    assert result.returncode == 4 and f"process {os.getpid()} holds it" in result.stderr, result
    assert len(result.stderr.splitlines()) == 1
    result = run("sniff", "/dev/null", "--duration", 0.2)
    assert result.returncode == 4 and "not a serial line" in result.stderr, result


@pytest.mark.parametrize("args, names", [
    ([], "missing DEVICE"),
    (["/dev/null", "--bogus"], "unknown option '--bogus'"),
    (["/dev/null", "--baud", "1234"], "--baud: '1234' is not one of"),
    (["/dev/null", "--parity", "X"], "--parity: 'X' is not one of N, E, O"),
    (["/dev/null", "--gap-ms", "0.1"], "--gap-ms: '0.1'"),
    (["/dev/null", "--protocol", "iec62056"], "--protocol: 'iec62056' is not one of auto, modbus, dlt645, cjt188"),
    (["/dev/null", "--format", "csv"], "--format: 'csv' is not one of table, json"),
    (["/dev/null", "--duration", "0"], "--duration: '0'"),
    (["/dev/null", "--count", "x"], "--count: 'x'"),
    (["/dev/null", "/dev/zero"], "unexpected argument '/dev/zero'"),
    (["/dev/null", "--pcap"], "'--pcap' needs a value"),
])
def test_usage_errors_exit_2(args, names):
    result = run("sniff", *args)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result
    assert names in result.stderr, result


def test_help_names_every_option_and_the_manual_describes_each():
    result = run("sniff", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: edgecore sniff")
    page = (ROOT / "docs" / "man" / "edgecore-sniff.1.md").read_text()
    options = set(re.findall(r"--[a-z][a-z-]+", result.stdout))
    assert options >= {"--baud", "--parity", "--gap-ms", "--protocol", "--pcap", "--format", "--duration", "--count"}
    for option in options:
        assert f"* `{option}`" in page, option


def test_an_unwritable_pcap_is_a_runtime_failure(pty_pair, tmp_path):
    result = run("sniff", pty_pair.b, "--pcap", tmp_path / "no-dir" / "x.pcap", "--duration", 0.2)
    assert result.returncode == 1 and "cannot write the pcap file" in result.stderr, result
    assert len(result.stderr.splitlines()) == 1
