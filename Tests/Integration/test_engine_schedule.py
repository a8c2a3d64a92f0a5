"""The scheduler under overload: when a bus cannot keep up with its plan, every request still gets its
turn (deadline order), the cycles it gives up are counted, and nothing is polled more than asked."""
from __future__ import annotations

import os
import select
import time
from collections import Counter

import pytest

from edgecore import Status
from harness import add_bus, crc16, rtu_frame


def test_overloaded_bus_serves_every_request_in_turn(libmodbus_server, free_tcp_port, edgecore_engine):
    port = free_tcp_port()
    libmodbus_server(tcp=port, delay_ms=5)  # about 200 answers/s
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, {"tcp": port}), 1, one_channel_per_request=1)
    channels = [engine.add_channel(f"c{i}", device, i, interval_ms=1) for i in range(20)]  # 20,000 polls/s asked
    engine.start()
    engine.collect(3.0)  # beyond the 2 s catch-up window: every request is now behind its plan
    window = engine.collect(4.0)
    engine.stop()
    assert window and all(r.status == Status.OK for r in window)
    counts = Counter(r.channel for r in window)
    assert set(counts) == set(channels)
    # In turn: no request starves while another is polled back to back.
    assert min(counts.values()) >= 0.8 * max(counts.values()), counts
    bus = engine.bus_stats(0)
    assert bus.skipped_polls > 0  # the plan could not be met, and the bus says how much it gave up
    stats = engine.device_stats(device)
    assert stats.requests == stats.responses == bus.transactions


@pytest.mark.parametrize("baud,silence_ms", [(9600, 3.5 * 10 * 1000 / 9600), (115200, 1.75)])
def test_rtu_master_keeps_the_frame_silence(baud, silence_ms, pty_pair, edgecore_engine):
    """After each answer the engine stays silent for t3.5 (3.5 characters; 1.75 ms above 19200 baud)
    before its next request, as RTU requires; libmodbus alone would send at once. A raw responder on the
    other end of the pty timestamps each answer it writes and the next request it reads."""
    engine = edgecore_engine()
    device = engine.add_device("d", add_bus(engine, {"rtu": pty_pair.a}, baud=baud), 1, response_timeout_ms=500)
    engine.add_channel("d.u16", device, 0, interval_ms=1)
    fd = os.open(pty_pair.b, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    gaps: list[float] = []
    try:
        engine.start()
        answered_at = None
        pending = b""
        deadline = time.monotonic() + 10
        while len(gaps) < 20 and time.monotonic() < deadline:
            readable, _, _ = select.select([fd], [], [], 0.5)
            if not readable:
                continue
            chunk = os.read(fd, 256)
            arrived = time.monotonic()
            if answered_at is not None and not pending:
                gaps.append((arrived - answered_at) * 1000)
            pending += chunk
            if len(pending) < 8:
                continue
            request, pending = pending[:8], pending[8:]
            assert request[:2] == bytes((1, 3)) and request[6:8] == crc16(request[:6]), request.hex()
            os.write(fd, rtu_frame(1, bytes((3, 2, 0x12, 0x34))))
            answered_at = time.monotonic()
    finally:
        engine.stop()
        os.close(fd)
    assert len(gaps) == 20, gaps
    assert min(gaps) >= silence_ms * 0.95, (silence_ms, sorted(gaps)[:5])
    readings = engine.drain()
    assert readings and all(r.status == Status.OK and r.value == 0x1234 for r in readings)
