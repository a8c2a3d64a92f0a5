"""The scheduler under overload: when a bus cannot keep up with its plan, every request still gets its
turn (deadline order), the cycles it gives up are counted, and nothing is polled more than asked."""
from __future__ import annotations

from collections import Counter

from edgecore import Status
from harness import add_bus


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
