"""`edgecore read --profile NAME ADDRESSING` (tools/cmd_read.c): every profile of profiles/ read through the tool
against a real peer serving that profile's map (the maps and expected values are test_profiles.py's: the
libmodbus server for the Modbus profiles, the dlt645 package's meter over a transparent TCP line, our CJ/T 188
peer on a pty), each channel's value parsed back from JSON lines; --repeat/--times, CSV and table output; the
profile search (--profiles, $EDGECORE_PROFILES, a file path), --list-profiles, and the exit codes (2: unknown
profile or options that do not fit it, 3: a profile with an error, 4: the serial port missing)."""
from __future__ import annotations

import math
import os

import pytest

import regmap
from harness import write_table
from test_profiles import (CJT188_PROFILE, DLT645_PROFILE, EM, MODBUS_PROFILES, PROFILES, WATER, WATER_TABLE,
                           cjt188_profile_expected, dlt645_profile_table, serve_modbus_profile)
from tool_harness import csv_rows, json_lines, run, tool_built  # noqa: F401

ALL_PROFILES = MODBUS_PROFILES + [DLT645_PROFILE, CJT188_PROFILE]


def test_every_profile_of_the_repository_is_covered():
    assert sorted(ALL_PROFILES) == sorted(p.stem for p in PROFILES.glob("*.yaml"))


def check_values(rows, profile: str, expected: dict[str, float]):
    got = {row["channel"]: row for row in rows}
    assert sorted(got) == sorted(f"{profile}.{name}" for name in expected), sorted(got)
    for name, value in expected.items():
        row = got[f"{profile}.{name}"]
        assert row["status"] == "ok", row
        assert math.isclose(float(row["value"]), value, rel_tol=1e-12, abs_tol=1e-12), (row, value)


@pytest.fixture
def modbus_peer(libmodbus_server, free_tcp_port):
    served = regmap.RegisterMap()
    expected = {name: serve_modbus_profile(name, unit, served) for unit, name in enumerate(MODBUS_PROFILES, 1)}
    port = free_tcp_port()
    libmodbus_server(tcp=port, map=served)
    return port, expected


def test_each_modbus_profile_reads_every_channel(modbus_peer):
    port, expected = modbus_peer
    for unit, name in enumerate(MODBUS_PROFILES, start=1):
        result = run("read", "--profile", name, "--profiles", PROFILES, "--tcp", f"127.0.0.1:{port}",
                     "--unit", unit, "--format", "json", timeout=30)
        assert result.returncode == 0, (name, result)
        check_values(json_lines(result.stdout), name, expected[name])


def test_the_dlt645_profile_over_a_transparent_line(meter_peer, tmp_path):
    table, expected = dlt645_profile_table()
    _, dtu, _ = meter_peer("dlt645", "tcp", meters=[f"{EM}={write_table(tmp_path / 'em.txt', table)}"])
    result = run("read", "--profile", DLT645_PROFILE, "--profiles", PROFILES, "--dtu", f"127.0.0.1:{dtu['tcp']}",
                 "--line-baud", 2400, "--meter-address", EM, "--format", "json", timeout=60)
    assert result.returncode == 0, result
    check_values(json_lines(result.stdout), DLT645_PROFILE, expected)


def test_the_cjt188_profile_on_a_serial_line_found_through_the_environment(meter_peer, tmp_path):
    _, line, _ = meter_peer("cjt188", "rtu", meters=[f"10:{WATER}={write_table(tmp_path / 'water.txt', WATER_TABLE)}"])
    env = {**os.environ, "EDGECORE_PROFILES": f"{tmp_path / 'none'}:{PROFILES}"}
    result = run("read", "--profile", CJT188_PROFILE, "--rtu", line["rtu"], "--meter-address", WATER,
                 "--format", "csv", env=env, timeout=60)
    assert result.returncode == 0, result
    check_values(csv_rows(result.stdout), CJT188_PROFILE, cjt188_profile_expected())


def test_repeat_times_and_a_profile_given_as_a_file(modbus_peer):
    port, expected = modbus_peer
    name = "soil-3in1"
    result = run("read", "--profile", PROFILES / f"{name}.yaml", "--tcp", f"127.0.0.1:{port}",
                 "--unit", MODBUS_PROFILES.index(name) + 1, "--repeat", 200, "--times", 3, "--format", "json",
                 timeout=30)
    assert result.returncode == 0, result
    rows = json_lines(result.stdout)
    assert len(rows) == 3 * len(expected[name]), rows
    for round_ in range(3):
        check_values(rows[round_ * len(expected[name]):(round_ + 1) * len(expected[name])], name, expected[name])
    times = sorted({row["ts_ns"] for row in rows if row["channel"] == f"{name}.moisture"})
    assert len(times) == 3 and times[-1] - times[0] >= 300_000_000, times   # polled every 200 ms

    result = run("read", "--profile", name, "--profiles", PROFILES, "--tcp", f"127.0.0.1:{port}",
                 "--unit", MODBUS_PROFILES.index(name) + 1)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["timestamp", "channel", "value", "unit", "status"]
    assert len(lines) == 1 + len(expected[name]) and all(line.split()[-1] == "ok" for line in lines[1:]), lines


def test_a_device_that_does_not_answer_is_a_runtime_failure(modbus_peer):
    port, _ = modbus_peer
    result = run("read", "--profile", "eastron-sdm120", "--profiles", PROFILES, "--tcp", f"127.0.0.1:{port}",
                 "--unit", 77, "--timeout", 200, "--format", "json", timeout=60)
    assert result.returncode == 1, result
    rows = json_lines(result.stdout)
    assert rows and {row["status"] for row in rows} <= {"timeout", "offline"}, rows


def test_list_profiles():
    result = run("read", "--list-profiles", "--profiles", PROFILES)
    assert result.returncode == 0, result
    listed = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert set(ALL_PROFILES) <= set(listed), listed
    assert "Eastron SDM630" in listed["eastron-sdm630"] and str(PROFILES / "eastron-sdm630.yaml") in listed["eastron-sdm630"]


def test_an_unknown_profile_exits_2_naming_where_it_was_searched(tmp_path):
    env = {**os.environ, "EDGECORE_PROFILES": str(tmp_path / "env")}
    result = run("read", "--profile", "acme-9000", "--profiles", tmp_path / "mine", "--tcp", "127.0.0.1", env=env)
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "no profile 'acme-9000'" in lines[0], lines
    assert f"{tmp_path / 'mine'}, {tmp_path / 'env'}, /usr/share/edgecore/profiles" in lines[0], lines


@pytest.mark.parametrize("args, names", [
    (["--profile", "../etc/passwd", "--tcp", "127.0.0.1"], "is neither a profile name nor a file NAME.yaml"),
    (["--profile", "a b", "--tcp", "127.0.0.1"], "'a b' is no profile name"),
    (["--profile", "eastron-sdm630", "--address", "3", "--tcp", "127.0.0.1"], "--address: --profile gives the registers"),
    (["--profile", "eastron-sdm630", "--item", "voltage_a", "--rtu", "/dev/null"], "--item: --profile gives"),
    (["--profile", "eastron-sdm630"], "give exactly one of --tcp"),
    (["--profile", "eastron-sdm630", "--tcp", "127.0.0.1", "extra"], "unexpected argument 'extra'"),
    (["--profile", "eastron-sdm630", "--tcp", "127.0.0.1", "--meter-address", "000012345678"],
     "device 'eastron-sdm630', field 'meter_address'"),
    (["--profile", "dlt645-2007-3phase", "--dtu", "127.0.0.1:1"], "field 'meter_address': missing"),
])
def test_options_that_do_not_fit_exit_2(args, names):
    result = run("read", "--profiles", PROFILES, *args)
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and names in lines[0], result.stderr


def test_a_profile_with_an_error_exits_3_naming_its_line(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("protocol: modbus\nchannels:\n  - {name: x, address: 0, type: f33}\n")
    result = run("read", "--profile", "broken", "--profiles", tmp_path, "--tcp", "127.0.0.1:1")
    assert result.returncode == 3, result
    assert f"{bad}:3:" in result.stderr and "f33" in result.stderr, result.stderr


def test_a_missing_serial_port_exits_4(tmp_path):
    result = run("read", "--profile", "eastron-sdm120", "--profiles", PROFILES, "--rtu", tmp_path / "no-tty")
    assert result.returncode == 4, result
    assert "no-tty" in result.stderr


def test_no_temporary_file_is_left(tmp_path, modbus_peer):
    port, _ = modbus_peer
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = run("read", "--profile", "eastron-sdm120", "--profiles", PROFILES, "--tcp", f"127.0.0.1:{port}",
                 "--unit", 1, env=env)
    assert result.returncode == 0, result
    result = run("read", "--profile", "eastron-sdm120", "--profiles", PROFILES, "--tcp", "127.0.0.1",
                 "--meter-address", "000012345678", env=env)
    assert result.returncode == 2, result
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("edgecore-read")] == []
