"""Tests of the test peers themselves (Tests/Peers), with the pymodbus client: no EdgeCore involved.

Both implementations (libmodbus-based modbus_server, pymodbus_server.py) must serve SITE_TEST_MAP exactly, over
TCP and over RTU on a socat pty pair, and implement the faults the engine tests rely on.
"""
from __future__ import annotations

import subprocess
import time

import pytest
import serial
from pymodbus.pdu import ExceptionResponse

import harness
import regmap
from harness import crc16, modbus_client, rtu_frame, wait_until
from regmap import (BITS_REGISTER, COIL_BITS, DISCRETE_BITS, SCRATCH_COILS, SCRATCH_HOLDING, SITE_TEST_MAP,
                    SITE_TEST_POINTS)

NO_ANSWER_TIMEOUT = 0.5  # client response timeout where no answer is expected
TIMEOUT = 2.0  # client response timeout where an answer is expected


# ------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------

def _read(client, table: str, address: int, count: int, unit: int):
    fn = {"coil": client.read_coils, "discrete": client.read_discrete_inputs,
          "holding": client.read_holding_registers, "input": client.read_input_registers}[table]
    return fn(address, count, slave=unit)


def read_ok(client, table: str, address: int, count: int, unit: int = 1) -> list[int]:
    r = _read(client, table, address, count, unit)
    assert not r.isError(), f"unit {unit} {table} {address}+{count}: {r}"
    if table in ("coil", "discrete"):
        return [int(b) for b in r.bits[:count]]
    return list(r.registers)


def assert_exception(response, code: int) -> None:
    assert isinstance(response, ExceptionResponse), response
    assert response.exception_code == code, response


def assert_no_answer(client, table: str, address: int, count: int, unit: int) -> None:
    t0 = time.monotonic()
    r = _read(client, table, address, count, unit)
    elapsed = time.monotonic() - t0
    assert r.isError() and not isinstance(r, ExceptionResponse), r
    assert elapsed >= NO_ANSWER_TIMEOUT * 0.9, f"error after {elapsed:.3f} s, before the timeout: {r}"


def check_site_map(client) -> None:
    """Every typed value, bit and unit of SITE_TEST_MAP, read back exactly."""
    assert len(SITE_TEST_POINTS) == 2 * 8 * 4 + 1 + 9  # unit 1: types x orders x 2 tables, bits; units 2-4
    for p in SITE_TEST_POINTS:
        regs = read_ok(client, p.table, p.address, len(p.registers), p.unit)
        assert regs == list(p.registers), p.name
        assert regmap.decode(p.type, regs, p.order) == p.value, p.name
    for table in ("holding", "input"):  # the whole typed block in one request: gaps read as 0
        assert read_ok(client, table, 0, 125) == SITE_TEST_MAP.served(1, table, 0, 125)
        assert read_ok(client, table, 125, 3) == SITE_TEST_MAP.served(1, table, 125, 3)
    assert read_ok(client, "coil", 0, 16) == list(COIL_BITS)
    assert read_ok(client, "discrete", 0, 16) == list(DISCRETE_BITS)
    unit, table, address, value = BITS_REGISTER
    assert read_ok(client, table, address, 1, unit) == [value]
    for unit in (2, 3, 4):
        for table in regmap.TABLES:
            span = SITE_TEST_MAP.span(unit, table)
            if span is None:
                assert_exception(_read(client, table, 0, 1, unit), 2)
                continue
            lo, hi = span
            n = hi - lo + 1
            assert read_ok(client, table, lo, n, unit) == SITE_TEST_MAP.served(unit, table, lo, n)
            assert_exception(_read(client, table, hi, 2, unit), 2)  # runs past the span
    assert SITE_TEST_MAP.span(1, "holding") == (0, 315)
    assert_exception(_read(client, "holding", 316, 1, 1), 2)
    assert_exception(_read(client, "holding", 315, 2, 1), 2)


@pytest.fixture(params=["tcp", "rtu"])
def transport(request):
    return request.param


@pytest.fixture
def start_peer(request, modbus_server, transport, free_tcp_port):
    """start_peer(**options) -> (peer, client kwargs): the parametrized implementation on TCP, or on side B of
    a pty pair (the client then uses side A)."""

    def start(**options):
        if transport == "tcp":
            port = free_tcp_port()
            return modbus_server(tcp=port, **options), {"tcp": port}
        pair = request.getfixturevalue("pty_pair")
        return modbus_server(rtu=pair.b, **options), {"rtu": pair.a}

    return start


# ------------------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------------------

def test_serves_site_test_map(start_peer):
    peer, where = start_peer()
    client = modbus_client(**where, timeout=TIMEOUT)
    try:
        check_site_map(client)
    finally:
        client.close()
    assert peer.stop() == 0  # SIGTERM: clean exit


def test_write_then_read_back(start_peer):
    peer, where = start_peer()
    unit, _, first, count = SCRATCH_HOLDING
    _, _, coil0, ncoils = SCRATCH_COILS
    client = modbus_client(**where, timeout=TIMEOUT)
    try:
        assert read_ok(client, "holding", first, count) == [0] * count
        assert not client.write_register(first, 0xBEEF, slave=unit).isError()                     # FC 6
        assert not client.write_registers(first + 1, [1, 2, 0xFFFF], slave=unit).isError()       # FC 16
        assert not client.write_coil(coil0, True, slave=unit).isError()                          # FC 5
        assert not client.write_coils(coil0 + 2, [True, False, True], slave=unit).isError()      # FC 15
        assert read_ok(client, "holding", first, 5) == [0xBEEF, 1, 2, 0xFFFF, 0]
        assert read_ok(client, "coil", coil0, ncoils) == [1, 0, 1, 0, 1, 0, 0, 0]
        assert not client.write_coil(coil0, False, slave=unit).isError()
        assert read_ok(client, "coil", coil0, 1) == [0]
        # nothing else changed, in this unit or another
        assert read_ok(client, "holding", 0, 125) == SITE_TEST_MAP.served(1, "holding", 0, 125)
        assert read_ok(client, "holding", 0, 3, unit=2) == SITE_TEST_MAP.served(2, "holding", 0, 3)
        assert read_ok(client, "coil", 0, 16) == list(COIL_BITS)
        # outside the map
        assert_exception(client.write_register(316, 1, slave=unit), 2)
        assert_exception(client.write_registers(314, [1, 2, 3], slave=unit), 2)
        assert read_ok(client, "holding", 314, 2) == [0, 0]
    finally:
        client.close()
    client = modbus_client(**where, timeout=TIMEOUT)  # a new connection sees the same values
    try:
        assert read_ok(client, "holding", first, 5) == [0xBEEF, 1, 2, 0xFFFF, 0]
    finally:
        client.close()


def test_silent_and_absent_units(start_peer):
    peer, where = start_peer(silent_units=[2])
    client = modbus_client(**where, timeout=NO_ANSWER_TIMEOUT)
    try:
        assert read_ok(client, "holding", 0, 1, unit=3) == [303]
        assert_no_answer(client, "holding", 0, 1, unit=2)   # silent although mapped
        assert read_ok(client, "holding", 0, 1, unit=1) == [0x1234]
        assert_no_answer(client, "holding", 0, 1, unit=9)   # not in the map
        assert read_ok(client, "holding", 0, 1, unit=4) == [404]
    finally:
        client.close()
    assert peer.running


def test_exception_codes(start_peer):
    peer, where = start_peer(exceptions=["holding:4:4", ("coil", 2, 3), (3, "holding", 1, 6), "input:17:11"])
    client = modbus_client(**where, timeout=TIMEOUT)
    try:
        assert read_ok(client, "holding", 0, 4) == SITE_TEST_MAP.served(1, "holding", 0, 4)
        assert read_ok(client, "holding", 5, 3) == SITE_TEST_MAP.served(1, "holding", 5, 3)
        assert_exception(client.read_holding_registers(4, 1, slave=1), 4)
        assert_exception(client.read_holding_registers(0, 8, slave=1), 4)
        assert_exception(client.write_register(4, 7, slave=1), 4)
        assert_exception(client.write_registers(3, [7, 7], slave=1), 4)
        assert read_ok(client, "holding", 3, 1) == [0]  # the refused write changed nothing
        assert read_ok(client, "coil", 0, 2) == [1, 0]
        assert_exception(client.read_coils(0, 8, slave=1), 3)
        assert_exception(client.write_coil(2, False, slave=1), 3)
        assert_exception(client.write_coils(1, [True, True], slave=1), 3)
        assert_exception(client.read_input_registers(16, 4, slave=1), 11)
        assert read_ok(client, "input", 16, 1) == SITE_TEST_MAP.served(1, "input", 16, 1)
        assert_exception(client.read_holding_registers(1, 1, slave=3), 6)   # unit 3 only
        assert read_ok(client, "holding", 0, 1, unit=3) == [303]
        assert read_ok(client, "holding", 1, 1, unit=2) == SITE_TEST_MAP.served(2, "holding", 1, 1)
        assert read_ok(client, "coil", 0, 2, unit=2) == [1, 1]
        assert_exception(client.read_coils(0, 4, slave=2), 3)
        # a rule for any unit comes before the map: unit 2 has no holding 4 (exception 2), yet answers 4
        assert_exception(client.read_holding_registers(4, 1, slave=2), 4)
        assert_exception(client.read_holding_registers(5, 1, slave=2), 2)
    finally:
        client.close()
    assert peer.running


def test_delay_ms(modbus_server, free_tcp_port):
    port = free_tcp_port()
    modbus_server(tcp=port, delay_ms=300)
    client = modbus_client(tcp=port, timeout=TIMEOUT)
    try:
        for _ in range(2):
            t0 = time.monotonic()
            assert read_ok(client, "holding", 0, 1) == [0x1234]
            elapsed = time.monotonic() - t0
            assert 0.3 <= elapsed < 1.5, elapsed
    finally:
        client.close()


def test_parallel_tcp_clients(modbus_server, free_tcp_port):
    port = free_tcp_port()
    peer = modbus_server(tcp=port)
    clients = [modbus_client(tcp=port, timeout=TIMEOUT) for _ in range(3)]
    try:
        for round_ in range(3):
            for i, c in enumerate(clients):
                p = SITE_TEST_POINTS[(round_ * 3 + i) * 7]
                assert read_ok(c, p.table, p.address, len(p.registers), p.unit) == list(p.registers)
        assert not clients[0].write_register(SCRATCH_HOLDING[2], 42, slave=1).isError()
        clients[0].close()
        assert read_ok(clients[1], "holding", SCRATCH_HOLDING[2], 1) == [42]
        assert read_ok(clients[2], "holding", 0, 1, unit=4) == [404]
    finally:
        for c in clients:
            c.close()
    assert peer.running


def test_bad_crc_every(libmodbus_server, pty_pair):
    libmodbus_server(rtu=pty_pair.b, bad_crc_every=3)
    request = rtu_frame(1, bytes((3, 0, 0, 0, 1)))           # unit 1: read holding 0, 1 register
    good = rtu_frame(1, bytes((3, 2, 0x12, 0x34)))
    with serial.Serial(pty_pair.a, 9600, timeout=1.0) as port:
        port.write(request[:-1] + bytes((request[-1] ^ 0xFF,)))  # a request with a bad CRC is not answered
        port.timeout = NO_ANSWER_TIMEOUT
        assert port.read(1) == b""
        port.timeout = 1.0
        for n in range(1, 7):
            port.write(request)
            reply = port.read(len(good))
            if n % 3:
                assert reply == good, n
            else:
                assert len(reply) == len(good) and reply[:-2] == good[:-2], n
                assert reply[-2:] != crc16(reply[:-2]), n
        port.timeout = 0.1
        assert port.read(1) == b""
    client = modbus_client(rtu=pty_pair.a, timeout=NO_ANSWER_TIMEOUT)  # replies 7..12: 9 and 12 are bad
    try:
        results = [client.read_holding_registers(0, 1, slave=1) for _ in range(6)]
        assert [r.isError() for r in results] == [False, False, True, False, False, True]
        assert [r.registers for r in results if not r.isError()] == [[0x1234]] * 4
    finally:
        client.close()


def test_bad_crc_every_needs_rtu(peers_built, site_map_file, free_tcp_port):
    r = subprocess.run(harness.libmodbus_command(tcp=free_tcp_port(), map_file=site_map_file, bad_crc_every=2),
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "--bad-crc-every needs --rtu" in r.stderr
    assert "READY" not in r.stdout


@pytest.mark.parametrize("implementation", ["libmodbus", "pymodbus"])
def test_bad_map_file(implementation, peers_built, tmp_path, free_tcp_port):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 holding 0 1 2 3   # fine\n1 holding 5 70000\n")
    command = harness.libmodbus_command if implementation == "libmodbus" else harness.pymodbus_command
    r = subprocess.run(command(tcp=free_tcp_port(), map_file=bad), capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert f"{bad}:2:" in r.stderr
    assert "READY" not in r.stdout


def test_pty_unplug_replug(modbus_server, pty_pair):
    peer = modbus_server(rtu=pty_pair.b)
    client = modbus_client(rtu=pty_pair.a, timeout=TIMEOUT)
    try:
        assert not client.write_register(SCRATCH_HOLDING[2], 0x1111, slave=1).isError()
    finally:
        client.close()

    pty_pair.unplug()
    assert pty_pair.links_gone()
    with pytest.raises(serial.SerialException):
        serial.Serial(pty_pair.a, 9600, timeout=0.1)
    wait_until(lambda: "re-opening" in peer.stderr_text(), 5.0, what="peer noticing the unplug")
    assert peer.running and peer.ready_count == 1

    pty_pair.replug()
    assert pty_pair.links_exist() and pty_pair.starts == 2
    peer.wait_ready(2, timeout=5.0)  # the peer re-opened its side and printed READY again
    client = modbus_client(rtu=pty_pair.a, timeout=TIMEOUT)
    try:
        assert read_ok(client, "holding", SCRATCH_HOLDING[2], 1) == [0x1111]  # same process, same state
        assert read_ok(client, "holding", 0, 1) == [0x1234]
    finally:
        client.close()


def test_kill_and_restart(modbus_server, free_tcp_port):
    port = free_tcp_port()
    peer = modbus_server(tcp=port)
    address = SCRATCH_HOLDING[2]
    client = modbus_client(tcp=port, timeout=TIMEOUT)
    try:
        assert not client.write_register(address, 0x2222, slave=1).isError()
        assert read_ok(client, "holding", address, 1) == [0x2222]
    finally:
        client.close()
    old_pid = peer.pid
    assert peer.kill() == -9
    assert not peer.running
    from pymodbus.client import ModbusTcpClient
    dead = ModbusTcpClient("127.0.0.1", port=port, timeout=NO_ANSWER_TIMEOUT, retries=0)
    try:
        assert not dead.connect()  # nobody listens
    finally:
        dead.close()

    peer.restart()
    assert peer.running and peer.pid != old_pid and peer.starts == 2
    client = modbus_client(tcp=port, timeout=TIMEOUT)
    try:
        assert read_ok(client, "holding", address, 1) == [0]  # a new process serves the map as written
        assert read_ok(client, "holding", 0, 1) == [0x1234]
    finally:
        client.close()
