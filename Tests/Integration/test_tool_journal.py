"""`edgecore journal` (stats, tail, dump, check) on journals written by libEdgeCore itself: a writer process
(edgecore_journal_open / _append / _ack / _close through ctypes) appends readings whose every field follows
from their journal sequence, and the tool's output, parsed back, must show exactly those. Damage is made
by hand (a flipped record byte, a torn tail, a damaged header) and `check` must name each with its file and
offset. Every run of the tool leaves the folder's files byte-identical (hashed before and after), and the
tool works while another process holds the journal open (its lock)."""
from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import edgecore
from tool_harness import parse_time, popen, run

T0_NS = 1_780_000_000_000_000_000  # 2026-05-28T20:26:40Z
BATCHES = [40, 1, 120, 7, 300, 2, 64, 500, 33, 90] * 3  # 3471 readings in 30 records, 64 KiB segments
TOTAL = sum(BATCHES)
ACKED = 1000

# The writer: another process, linking the library under test through ctypes. Reading `s` (its journal
# sequence) has timestamp T0 + s * 250 ms, value s * 1.25 - 7, channel s % 4, status timeout for s % 17 == 0.
WRITER = r"""
import ctypes, json, sys, time
lib = ctypes.CDLL(sys.argv[1])
folder, mode, batches, t0 = sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5])

class Reading(ctypes.Structure):
    _fields_ = [("timestamp_ns", ctypes.c_int64), ("value", ctypes.c_double), ("channel", ctypes.c_uint32),
                ("sequence", ctypes.c_uint32), ("status", ctypes.c_uint16), ("status_detail", ctypes.c_uint16),
                ("reserved", ctypes.c_uint32)]

class Config(ctypes.Structure):
    _fields_ = [("size_limit", ctypes.c_uint64), ("segment_size", ctypes.c_uint32),
                ("sync_interval_ms", ctypes.c_uint32), ("sync_every_readings", ctypes.c_uint32),
                ("max_syncs_per_hour", ctypes.c_uint32), ("when_full", ctypes.c_uint16),
                ("reserved", ctypes.c_uint16), ("reserved2", ctypes.c_uint32)]

lib.edgecore_journal_config_init_sized.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
lib.edgecore_journal_open_sized.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]
lib.edgecore_journal_append.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint64)]
lib.edgecore_journal_add_cursor.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
lib.edgecore_journal_ack.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64]
lib.edgecore_journal_sync.argtypes = [ctypes.c_void_p]
lib.edgecore_journal_close.argtypes = [ctypes.c_void_p]
config = Config()
lib.edgecore_journal_config_init_sized(ctypes.byref(config), ctypes.sizeof(config))
config.segment_size = 64 * 1024
config.sync_interval_ms = 0
journal = ctypes.c_void_p()
rc = lib.edgecore_journal_open_sized(folder.encode(), ctypes.byref(config), ctypes.sizeof(config), ctypes.byref(journal))
assert rc == 0, rc
assert lib.edgecore_journal_add_cursor(journal, b"uplink") >= 0
next_sequence = 1

def append(count):
    global next_sequence
    readings = (Reading * count)()
    for i in range(count):
        s = next_sequence + i
        readings[i].timestamp_ns = t0 + s * 250_000_000
        readings[i].value = s * 1.25 - 7
        readings[i].channel = s % 4
        readings[i].sequence = s
        readings[i].status = 1 if s % 17 == 0 else 0
    first = ctypes.c_uint64()
    assert lib.edgecore_journal_append(journal, readings, count, ctypes.byref(first)) == count
    assert first.value == next_sequence, (first.value, next_sequence)
    next_sequence += count

for count in batches:
    append(count)
assert lib.edgecore_journal_sync(journal) == 0
if mode == "write":
    assert lib.edgecore_journal_ack(journal, b"uplink", int(sys.argv[6])) == 0
    lib.edgecore_journal_close(journal)
    sys.exit(0)
# mode "hold": keep the journal open (and its lock), appending 3 readings every 50 ms until stdin closes.
print("ready", next_sequence - 1, flush=True)
import select
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    if select.select([sys.stdin], [], [], 0.05)[0] and not sys.stdin.readline():
        break
    append(3)
    lib.edgecore_journal_sync(journal)
print("appended", next_sequence - 1, flush=True)
lib.edgecore_journal_close(journal)
"""


def expected(sequence: int) -> dict:
    return {"sequence": sequence, "ts_ns": T0_NS + sequence * 250_000_000, "channel_id": sequence % 4,
            "value": None if sequence % 17 == 0 else sequence * 1.25 - 7,
            "status": "timeout" if sequence % 17 == 0 else "ok"}


def library() -> str:
    path = edgecore.lib.path
    assert Path(path).exists(), f"{path}: the library under test (set EDGECORE_LIB)"
    return path


def write_journal(folder: Path, batches=BATCHES, acked=ACKED) -> None:
    subprocess.run([sys.executable, "-c", WRITER, library(), str(folder), "write", json.dumps(batches), str(T0_NS),
                    str(acked)], check=True, timeout=60)


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def tool(folder: Path, *args, expect_rc=0):
    """Run `edgecore journal ARGS`; the folder's files must be byte-identical afterwards."""
    before = hashes(folder) if folder.is_dir() else None
    result = run("journal", *args)
    if before is not None:
        assert hashes(folder) == before, f"journal {args} changed the folder"
    assert result.returncode == expect_rc, (result.returncode, result.stdout[-2000:], result.stderr)
    return result


def rows(out: str) -> list[dict]:
    parsed = [json.loads(line) for line in out.splitlines() if line.strip()]
    for row in parsed:
        assert parse_time(row["timestamp"]).timestamp() == pytest.approx(row["ts_ns"] / 1e9, abs=0.001)
    return parsed


def same(row: dict, sequence: int) -> bool:
    want = expected(sequence)
    return (row["sequence"] == sequence and row["ts_ns"] == want["ts_ns"] and row["channel_id"] == want["channel_id"]
            and row["channel"] == str(want["channel_id"]) and row["status"] == want["status"]
            and row["value"] == want["value"])


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("seg-*.ecj"))


def records(segment: Path) -> list[tuple[int, int, int]]:
    """(offset, first sequence, count) of each record, walked by the length fields (the file is intact)."""
    data = segment.read_bytes()
    found, offset = [], 32
    while offset + 16 <= len(data):
        length = int.from_bytes(data[offset:offset + 4], "little")
        found.append((offset, int.from_bytes(data[offset + 8:offset + 16], "little"), length // 32))
        offset += 16 + length
    return found


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("journal") / "j"
    write_journal(folder)
    return folder


def test_stats_show_what_was_appended(journal):
    stats = json.loads(tool(journal, "stats", journal, "--format", "json").stdout)
    segs = segments(journal)
    assert len(segs) >= 2 and stats["segments"] == len(segs)
    assert stats["bytes"] == sum(p.stat().st_size for p in segs)
    assert (stats["readings"], stats["records"]) == (TOTAL, len(BATCHES))
    assert (stats["first_sequence"], stats["last_sequence"]) == (1, TOTAL)
    assert (stats["min_ts_ns"], stats["max_ts_ns"]) == (expected(1)["ts_ns"], expected(TOTAL)["ts_ns"])
    assert parse_time(stats["first_time"]).timestamp() == pytest.approx(expected(1)["ts_ns"] / 1e9)
    assert stats["problem_count"] == 0 and stats["gaps"] == 0 and stats["torn_bytes"] == 0
    assert stats["cursors"] == [{"name": "uplink", "acknowledged": ACKED, "unacknowledged": TOTAL - ACKED}]
    table = tool(journal, "stats", journal).stdout
    assert f"readings    {TOTAL} in {len(BATCHES)} records, sequences 1 .. {TOTAL}" in table
    assert f"cursor      uplink: acknowledged {ACKED}, {TOTAL - ACKED} unacknowledged" in table
    assert "problems    0" in table


def test_dump_all_and_ranges(journal):
    everything = rows(tool(journal, "dump", journal, "--format", "json").stdout)
    assert [r["sequence"] for r in everything] == list(range(1, TOTAL + 1))
    assert all(same(r, r["sequence"]) for r in everything)
    # A range of sequences across records and a segment boundary.
    first, last = records(segments(journal)[1])[0][1] - 50, records(segments(journal)[1])[0][1] + 400
    part = rows(tool(journal, "dump", journal, "--from", first, "--to", last, "--format", "json").stdout)
    assert [r["sequence"] for r in part] == list(range(first, last + 1)) and all(same(r, r["sequence"]) for r in part)
    # A time range (inclusive, UTC) and a channel.
    since, until = expected(700)["ts_ns"], expected(900)["ts_ns"]

    def iso(ns):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns // 10**6 % 1000:03d}Z"
    timed = rows(tool(journal, "dump", journal, "--since", iso(since), "--until", iso(until), "--channel", 2,
                      "--format", "json").stdout)
    assert [r["sequence"] for r in timed] == [s for s in range(700, 901) if s % 4 == 2]
    # CSV, parsed back.
    table = list(csv.DictReader(io.StringIO(tool(journal, "dump", journal, "--from", 16, "--to", 18, "--format", "csv").stdout)))
    assert [(row["sequence"], row["channel"], row["status"], row["value"]) for row in table] == [
        ("16", "0", "ok", "13"), ("17", "1", "timeout", ""), ("18", "2", "ok", "15.5")]
    assert all(parse_time(row["timestamp"]).timestamp() * 1e9 == pytest.approx(expected(int(row["sequence"]))["ts_ns"], abs=1e6)
               for row in table)
    # Past the end: a header only.
    assert tool(journal, "dump", journal, "--from", TOTAL + 1, "--format", "csv").stdout.strip().count("\n") == 0


def test_tail(journal):
    last = rows(tool(journal, "tail", journal, "-n", 25, "--format", "json").stdout)
    assert [r["sequence"] for r in last] == list(range(TOTAL - 24, TOTAL + 1)) and all(same(r, r["sequence"]) for r in last)
    ones = rows(tool(journal, "tail", journal, "-n", 5, "--channel", 1, "--format", "json").stdout)
    assert [r["sequence"] for r in ones] == [s for s in range(1, TOTAL + 1) if s % 4 == 1][-5:]
    table = tool(journal, "tail", journal, "-n", 3).stdout.splitlines()
    assert table[0].split()[:3] == ["sequence", "timestamp", "channel"] and len(table) == 4
    assert table[-1].split()[0] == str(TOTAL)
    everything = rows(tool(journal, "tail", journal, "-n", 100000, "--format", "json").stdout)
    assert len(everything) == TOTAL


SITE = """buses:
  - name: plant
    type: tcp
    host: 127.0.0.1
    port: 1502
    devices:
      - name: d
        unit_id: 1
        channels:
          - {name: d.flow, address: 0, interval_ms: 1000}
          - {name: d.level, address: 1, unit: m, interval_ms: 1000}
          - {name: d.temp, address: 2, unit: degC, interval_ms: 1000}
          - {name: d.rate, address: 3, interval_ms: 1000}
"""


def test_site_names_the_channels(journal, tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(SITE)
    named = rows(tool(journal, "dump", journal, "--site", site, "--channel", "d.temp", "--from", 1, "--to", 40,
                      "--format", "json").stdout)
    assert [r["sequence"] for r in named] == [s for s in range(1, 41) if s % 4 == 2]
    assert {(r["channel"], r["channel_id"], r["unit"]) for r in named} == {("d.temp", 2, "degC")}
    assert "d.level" in tool(journal, "tail", journal, "-n", 4, "--site", site).stdout
    unknown = run("journal", "dump", journal, "--site", site, "--channel", "d.nothing")
    assert unknown.returncode == 2 and "no channel 'd.nothing'" in unknown.stderr
    refused = run("journal", "dump", journal, "--site", tmp_path / "absent.yaml")
    assert refused.returncode == 3 and refused.stderr.count("\n") == 1


def test_check_clean(journal):
    out = tool(journal, "check", journal).stdout
    assert "problems    0 (every record verified)" in out
    report = json.loads(tool(journal, "check", journal, "--format", "json").stdout)
    assert report["clean"] is True and report["problems"] == [] and report["readings"] == TOTAL


@pytest.fixture
def copy(journal, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(journal, target)
    return target


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x40]))


def test_check_finds_a_flipped_record_byte(copy):
    segment = segments(copy)[1]
    offset, first, count = records(segment)[1]
    flip(segment, offset + 16 + 5 * 32 + 8)  # the value of the record's sixth reading
    result = tool(copy, "check", copy, "--format", "json", expect_rc=1)
    report = json.loads(result.stdout)
    assert report["clean"] is False and report["damaged_records"] == 1 and report["readings"] == TOTAL - count
    assert report["problems"][0]["kind"] == "record"
    assert (report["problems"][0]["file"], report["problems"][0]["offset"]) == (segment.name, offset)
    assert report["problems"][0]["bytes"] == 16 + 32 * count
    gap = report["problems"][1]
    assert (gap["kind"], gap["first_sequence"], gap["last_sequence"]) == ("gap", first, first + count - 1)
    assert len(report["problems"]) == 2
    table = tool(copy, "check", copy, expect_rc=1).stdout
    assert f"{segment.name}: offset {offset}: record: damaged record" in table
    # Dump passes over the damaged record: nothing of it, everything else exact.
    dumped = rows(tool(copy, "dump", copy, "--format", "json").stdout)
    assert [r["sequence"] for r in dumped] == [s for s in range(1, TOTAL + 1) if not first <= s < first + count]
    assert all(same(r, r["sequence"]) for r in dumped)


def test_check_finds_a_torn_tail_and_a_damaged_header(copy):
    newest, oldest = segments(copy)[-1], segments(copy)[0]
    offset, first, _ = records(newest)[-1]
    os.truncate(newest, newest.stat().st_size - 7)
    flip(oldest, 14)  # inside the instance id: the header's checksum fails
    report = json.loads(tool(copy, "check", copy, "--format", "json", expect_rc=1).stdout)
    kinds = [(p["kind"], p["file"], p["offset"]) for p in report["problems"]]
    assert kinds == [("header", oldest.name, 0), ("torn-tail", newest.name, offset)]
    assert report["corrupt_segments"] == 1 and report["last_sequence"] == first - 1
    assert report["problems"][1]["bytes"] == newest.stat().st_size - offset
    stats = json.loads(tool(copy, "stats", copy, "--format", "json").stdout)  # stats reports, exits 0
    assert stats["problem_count"] == 2


def test_works_while_another_process_holds_the_journal(tmp_path):
    folder = tmp_path / "live"
    holder = subprocess.Popen([sys.executable, "-c", WRITER, library(), str(folder), "hold", json.dumps([50, 50]),
                               str(T0_NS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().split() == ["ready", "100"]
        # The journal is locked: an exclusive flock on the folder is refused.
        fd = os.open(folder, os.O_RDONLY)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
        stats = json.loads(run("journal", "stats", folder, "--format", "json").stdout)
        assert stats["first_sequence"] == 1 and stats["last_sequence"] >= 100
        follow = popen("journal", "tail", folder, "-n", 2, "--follow", "--interval", 50, "--format", "json")
        time.sleep(1.0)
        follow.send_signal(signal.SIGINT)
        out, err = follow.communicate(timeout=10)
        assert follow.returncode == 0, err
        seen = rows(out)
        sequences = [r["sequence"] for r in seen]
        assert len(sequences) >= 2 + 9  # the last two, then at least three appends of 3
        assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
        assert all(same(r, r["sequence"]) for r in seen)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    final = json.loads(tool(folder, "check", folder, "--format", "json").stdout)
    assert final["clean"] and final["last_sequence"] >= sequences[-1]


def test_missing_or_foreign_folder(tmp_path):
    missing = run("journal", "stats", tmp_path / "nothing")
    assert missing.returncode == 3 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "nothing: No such file or directory" in missing.stderr
    assert not (tmp_path / "nothing").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    foreign = run("journal", "check", tmp_path / "other")
    assert foreign.returncode == 3 and foreign.stderr.count("\n") == 1 and "'notes.txt'" in foreign.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert json.loads(tool(empty, "check", empty, "--format", "json").stdout)["readings"] == 0
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize("args, part", [
    ([], "expected an action"),
    (["show", "DIR"], "'show' is not one of"),
    (["stats"], "expected one journal folder"),
    (["stats", "a", "b"], "expected one journal folder"),
    (["stats", "DIR", "--from", "3"], "options of dump"),
    (["dump", "DIR", "--follow"], "options of tail"),
    (["check", "DIR", "--channel", "1"], "options of tail and dump"),
    (["check", "DIR", "--format", "csv"], "table or json"),
    (["dump", "DIR", "--from", "x"], "not a journal sequence"),
    (["dump", "DIR", "--from", "9", "--to", "3"], "after --to"),
    (["dump", "DIR", "--since", "yesterday"], "is not a time"),
    (["dump", "DIR", "--channel", "pump"], "a name needs --site"),
    (["tail", "DIR", "-n", "-1"], "-n"),
    (["tail", "DIR", "--bogus"], "--bogus"),
])
def test_usage_errors(args, part):
    result = run("journal", *args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and part in result.stderr, result.stderr


def test_help():
    result = run("journal", "--help")
    assert result.returncode == 0 and "stats DIR" in result.stdout and "check DIR" in result.stdout
    assert run("journal", "tail", "--help").returncode == 0
