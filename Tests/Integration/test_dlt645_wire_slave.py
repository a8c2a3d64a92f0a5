"""benchmarks/dlt645_wire_slave.c (built by Tests/Peers/Makefile into build/peers): DL/T 645-2007 meters on a
socat pty pair, timed like a real 2400 8E1 line. Its replies byte for byte (docs/meter-protocols.md's checked vectors, the
catalogue values of test_meter_peers.py, built independently by Tests/Peers/meter_frames.py), its wire timing,
the abnormal reply, FE and noise before a request, requests it must not answer, and its STATS line.
"""
from __future__ import annotations

import os
import select
import time
import tty

import pytest

import harness
from harness import PeerProcess
from meter_frames import address_bytes, bcd_encode, dlt_encode, dlt_read
from test_meter_peers import (A, ABNORMAL_NO_DATA, CATALOGUE, MISSING_DI, READ_TOTAL, READ_VOLTAGE_A,
                              REPLY_123456_78)

SLAVE = harness.BUILD_DIR / "dlt645_wire_slave"
TC = 11 / 2400          # one character at 2400 8E1, s
SLACK = 0.001           # the slave's integer nanoseconds per character, clock reads
LATE = 0.150            # generous: timer wake-up, socat, a loaded 2-core machine
OTHER = "000000000001"


class Line:
    """The master's end (side A of the pty pair), raw. exchange() returns the bytes that came back and the
    time from just before the request was written to the arrival of the last byte (None: nothing came);
    .arrived keeps that arrival (time.monotonic())."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def close(self) -> None:
        os.close(self.fd)

    def exchange(self, request: bytes, want: int = 0, timeout: float = 1.5) -> tuple[bytes, float | None]:
        """Reads until `want` bytes came (then 30 ms more, to see extra bytes) or for `timeout` s (want=0)."""
        sent = time.monotonic()
        os.write(self.fd, request)
        data, last = b"", None
        deadline = sent + timeout
        while time.monotonic() < deadline:
            if want and len(data) >= want:
                deadline = min(deadline, last + 0.03)
            ready, _, _ = select.select([self.fd], [], [], max(0.0, min(0.02, deadline - time.monotonic())))
            if ready:
                data += os.read(self.fd, 4096)
                last = time.monotonic()
        self.arrived = last
        return data, None if last is None else last - sent


@pytest.fixture
def slave(peers_built, make_pty_pair, tmp_path):
    started = []

    def start(*options) -> tuple[PeerProcess, Line]:
        pair = make_pty_pair(f"dlt{len(started)}")
        peer = PeerProcess(f"dlt645-wire-{len(started)}", [str(SLAVE), "--device", pair.b, *map(str, options)],
                           tmp_path)
        line = Line(pair.a)
        started.append((peer, line))
        return peer.start(), line

    yield start
    for peer, line in started:
        line.close()
        peer.stop()


def reply(address: bytes, di: int, value_bytes: bytes, preamble: int = 4) -> bytes:
    return dlt_encode(address, 0x91, di.to_bytes(4, "little") + value_bytes, preamble)


def stats(peer: PeerProcess) -> dict:
    """The STATS line printed at SIGTERM, as a dict of numbers (stops the slave)."""
    assert peer.stop() == 0
    line = [s for s in peer.stdout_lines if s.startswith("STATS ")]
    assert len(line) == 1, peer.stdout_lines
    words = line[0].split()[1:]
    return {k: float(v) for k, v in zip(words[::2], words[1::2])}


def wire_time(request: bytes, answer: bytes, turnaround: float) -> float:
    return (len(request) + len(answer)) * TC + turnaround


def test_replies_byte_for_byte(slave):
    peer, line = slave("--baud", 19200)  # the bytes do not depend on the line; 8 times quicker than 2400
    want = b"\xFE" * 4 + REPLY_123456_78
    assert line.exchange(READ_TOTAL, len(want))[0] == want
    # every catalogue entry, against frames built by meter_frames.py
    for di, (value, size, decimals, signed) in CATALOGUE.items():
        want = reply(A, di, bcd_encode(value, size, decimals, signed))
        assert line.exchange(dlt_read(A, di), len(want))[0] == want, f"DI {di:08X}"
    # the abnormal reply for an identifier outside the table, docs/meter-protocols.md's vector
    want = b"\xFE" * 4 + ABNORMAL_NO_DATA
    assert line.exchange(dlt_read(A, MISSING_DI), len(want))[0] == want
    s = stats(peer)
    n = len(CATALOGUE) + 2
    assert (s["requests"], s["replies"], s["abnormal"], s["bad_frames"], s["noise_bytes"]) == (n, n, 1, 0, 0)


@pytest.mark.parametrize("turnaround_ms,preamble", [(20, 4), (120, 0)])
def test_reply_arrives_at_its_wire_time(slave, turnaround_ms, preamble):
    options = [] if turnaround_ms == 20 else ["--turnaround-us", turnaround_ms * 1000, "--preamble", preamble]
    peer, line = slave(*options)
    for request in (READ_TOTAL, b"\xFE" * 4 + READ_VOLTAGE_A, dlt_read(A, MISSING_DI)):
        time.sleep(0.05)  # past the slave's gap after the previous reply: none is early
        data, elapsed = line.exchange(request, 1 + preamble + 12)
        assert data.startswith(b"\xFE" * preamble + b"\x68") and data.endswith(b"\x16"), data.hex(" ")
        floor = wire_time(request, data, turnaround_ms / 1000)
        assert floor - SLACK <= elapsed <= floor + LATE, (request.hex(" "), floor, elapsed)
    assert stats(peer)["early"] == 0


def test_back_to_back_request_waits_for_the_gap(slave):
    """A request sent about 30 ms after the previous reply arrived (the exchange's read-out), inside the
    slave's 300 ms gap, is early: its line time starts when the gap ends. Its reply comes gap + wire time
    after the previous reply was written (at most its late_max before that reply arrived here); without the
    gap it would come about 30 ms + wire time after."""
    peer, line = slave("--gap-us", 300000)
    want = b"\xFE" * 4 + REPLY_123456_78
    assert line.exchange(READ_TOTAL, len(want))[0] == want
    first = line.arrived
    assert line.exchange(READ_TOTAL, len(want))[0] == want
    between = line.arrived - first
    s = stats(peer)
    floor = 0.300 + wire_time(READ_TOTAL, want, 0.020)
    assert floor - s["late_max_us"] / 1e6 - SLACK <= between <= floor + LATE, (between, s)
    assert s["early"] == 1


def test_fe_and_noise_before_a_request(slave):
    peer, line = slave()
    want = b"\xFE" * 4 + REPLY_123456_78
    noise = bytes((0x00, 0x55, 0x68, 0x12, 0xFF, 0x68, 0x16))  # with stray 68s
    for request in (b"\xFE" * 7 + READ_TOTAL, noise + READ_TOTAL, noise + b"\xFE\xFE" + READ_TOTAL,
                    READ_TOTAL[:5]):  # a cut-off frame, dropped after 500 ms of silence ...
        data, elapsed = line.exchange(request, len(want), timeout=1.5 if len(request) < 12 else 1.0)
        if len(request) < 12:
            assert data == b""
            continue
        assert data == want, request.hex(" ")
        # the noise and preamble took line time too
        assert wire_time(request, want, 0.020) - SLACK <= elapsed, (request.hex(" "), elapsed)
    assert line.exchange(READ_TOTAL, len(want))[0] == want  # ... and the next request is served
    s = stats(peer)
    assert (s["requests"], s["replies"], s["noise_bytes"]) == (4, 4, 2 * len(noise) + 5)


def test_requests_not_answered(slave):
    """Another meter's address, broadcast, a bad checksum, a bad end byte, another control code: silence for
    each, and the line goes on. A second meter of --meters answers with its own address."""
    peer, line = slave("--meters", f"123456789012,{OTHER}")
    bad_cs = bytearray(READ_TOTAL)
    bad_cs[-2] ^= 0x01
    bad_end = bytearray(READ_TOTAL)
    bad_end[-1] = 0x17
    silent = [dlt_read(address_bytes("123456789013", 6), 0), dlt_read(bytes([0x99] * 6), 0), bytes(bad_cs),
              bytes(bad_end), dlt_encode(A, 0x14, bytes(4))]
    for request in silent:
        assert line.exchange(request, timeout=0.4) == (b"", None), request.hex(" ")
    want = b"\xFE" * 4 + REPLY_123456_78
    assert line.exchange(READ_TOTAL, len(want))[0] == want
    other = address_bytes(OTHER, 6)
    want = reply(other, 0x02800002, bcd_encode(49.98, 2, 2))
    assert line.exchange(dlt_read(other, 0x02800002), len(want))[0] == want
    s = stats(peer)
    assert (s["requests"], s["replies"], s["ignored"], s["bad_frames"]) == (5, 2, 3, 2)
