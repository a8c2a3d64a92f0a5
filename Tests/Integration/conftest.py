"""pytest fixtures of EdgeCore's Modbus integration tests.

Fixtures (function scope unless noted):
  free_tcp_port()                     factory: a free port of 127.0.0.1 (not handed out before)
  pty_pair                            a started socat pty pair (harness.PtyPair: .a, .b, .unplug(), .replug())
  make_pty_pair(name="tty")           factory for more pairs; all are stopped (by PID) at teardown
  site_test_map                       a fresh copy of regmap.SITE_TEST_MAP (a RegisterMap)
  site_map_file                       path of SITE_TEST_MAP written as a map file
  libmodbus_server(tcp=PORT | rtu=DEVICE, map=None, **options)
  pymodbus_server(tcp=PORT | rtu=DEVICE, map=None, **options)
                                      factories: start the peer, wait for READY, return a harness.PeerProcess
                                      (.pid, .port, .device, .stop(), .kill(), .restart(), .wait_ready(),
                                      .stderr_text()); every peer is stopped by PID at teardown.
                                      map: RegisterMap, path, or None for SITE_TEST_MAP. options: baud, parity,
                                      data_bits, stop_bits, silent_units=[U...], exceptions=["[U:]TABLE:ADDR:CODE"
                                      or tuples], bad_crc_every (libmodbus, RTU), delay_ms, verbose, extra_args,
                                      ready_timeout (s, default 10), start=True (False: not started yet).
  modbus_server                       parametrized over both implementations ("libmodbus", "pymodbus"):
                                      use in tests that must pass against each
  edgecore_engine(**config)           factory: an edgecore.Engine, destroyed at teardown
  peer_endpoint(factory, transport, **options)
                                      factory: start a peer (libmodbus_server / pymodbus_server / modbus_server)
                                      on "tcp" (a free port) or "rtu" (side B of a new pty pair); returns
                                      (peer, where, pair): where is {"tcp": PORT} or {"rtu": side A} for the
                                      engine or a client, pair the PtyPair (None on TCP)
  peers_built (session)               builds build/peers/modbus_server once
  meter_peer(kind, transport, meters=[...], values=None, options=[], device=None, ready_timeout=10)
                                      factory: start dlt645_peer.py (kind "dlt645", meters "ADDR[=TABLE]") or
                                      cjt188_peer.py ("cjt188", meters "TYPE:ADDR[=TABLE]") on "tcp" (a free
                                      port) or "rtu" (side B of a new pty pair); returns (peer, where, pair)
                                      as peer_endpoint (device: serve on this device of a shared_line
                                      instead); every peer is stopped by PID at teardown
  shared_line(parties)                factory: one RS-485 line (Tests/Peers/rs485_line.py over pty pairs) for
                                      `parties` devices; returns their device paths (give [0] to the master,
                                      the others to peers started with rtu=...); the relay is stopped by PID
"""
from __future__ import annotations

import itertools
import sys

import pytest

import harness
from harness import PeerProcess, PtyPair, map_file_for

import regmap  # noqa: E402  (Tests/Peers is on sys.path via harness)


@pytest.fixture(scope="session")
def peers_built():
    return harness.build_peers()


@pytest.fixture
def free_tcp_port():
    return harness.free_tcp_port


@pytest.fixture
def make_pty_pair(tmp_path):
    pairs: list[PtyPair] = []

    def make(name: str = "tty") -> PtyPair:
        pair = PtyPair(tmp_path, name)
        pairs.append(pair)
        return pair.start()

    yield make
    for pair in reversed(pairs):
        pair.stop()


@pytest.fixture
def pty_pair(make_pty_pair):
    return make_pty_pair()


@pytest.fixture
def site_test_map():
    return regmap.site_test_map()


@pytest.fixture
def site_map_file(tmp_path):
    return map_file_for(regmap.SITE_TEST_MAP, tmp_path, "site_test_map")


def _peer_factory(kind: str, tmp_path):
    peers: list[PeerProcess] = []
    serial = itertools.count(1)

    def start(*, tcp: int | None = None, rtu: str | None = None, map=None, ready_timeout: float = 10.0,
              start: bool = True, **options) -> PeerProcess:
        n = next(serial)
        map_file = map_file_for(map, tmp_path, f"{kind}-{n}-map")
        command = harness.libmodbus_command if kind == "libmodbus" else harness.pymodbus_command
        argv = command(tcp=tcp, rtu=rtu, map_file=map_file, **options)
        peer = PeerProcess(f"{kind}-{n}", argv, tmp_path, tcp=tcp, rtu=rtu, ready_timeout=ready_timeout)
        peers.append(peer)
        if start:
            peer.start()
        return peer

    return start, peers


@pytest.fixture
def libmodbus_server(tmp_path, peers_built):
    start, peers = _peer_factory("libmodbus", tmp_path)
    yield start
    for peer in reversed(peers):
        peer.stop()


@pytest.fixture
def pymodbus_server(tmp_path):
    start, peers = _peer_factory("pymodbus", tmp_path)
    yield start
    for peer in reversed(peers):
        peer.stop()


@pytest.fixture(params=["libmodbus", "pymodbus"])
def modbus_server(request):
    """The factory of one implementation per parametrization; .kind names it."""
    factory = request.getfixturevalue(f"{request.param}_server")
    factory.kind = request.param
    return factory


@pytest.fixture
def edgecore_engine():
    import edgecore

    engines = []

    def make(**config) -> "edgecore.Engine":
        engine = edgecore.Engine(**config)
        engines.append(engine)
        return engine

    yield make
    for engine in reversed(engines):
        engine.close()


@pytest.fixture
def peer_endpoint(make_pty_pair, free_tcp_port):
    serial = itertools.count(1)

    def start(factory, transport: str, **options):
        if transport == "tcp":
            port = free_tcp_port()
            return factory(tcp=port, **options), {"tcp": port}, None
        if transport != "rtu":
            raise ValueError(f"transport must be tcp or rtu, not {transport!r}")
        pair = make_pty_pair(f"tty{next(serial)}")
        return factory(rtu=pair.b, **options), {"rtu": pair.a}, pair

    return start


@pytest.fixture
def meter_peer(tmp_path, make_pty_pair, free_tcp_port):
    peers: list[PeerProcess] = []
    serial = itertools.count(1)

    def start(kind: str, transport: str, *, meters=(), values=None, options=(), device: str | None = None,
              ready_timeout: float = 10.0):
        n = next(serial)
        pair = None
        if device is not None:  # a device of a shared_line
            where = {"rtu": device}
            argv = harness.meter_peer_command(kind, rtu=device, meters=meters, values=values, options=options)
        elif transport == "tcp":
            where = {"tcp": free_tcp_port()}
            argv = harness.meter_peer_command(kind, tcp=where["tcp"], meters=meters, values=values,
                                              options=options)
        elif transport == "rtu":
            pair = make_pty_pair(f"meter{n}")
            where = {"rtu": pair.a}
            argv = harness.meter_peer_command(kind, rtu=pair.b, meters=meters, values=values, options=options)
        else:
            raise ValueError(f"transport must be tcp or rtu, not {transport!r}")
        peer = PeerProcess(f"{kind}-{n}", argv, tmp_path, tcp=where.get("tcp"), rtu=pair.b if pair else device,
                           ready_timeout=ready_timeout)
        peers.append(peer)
        peer.start()
        return peer, where, pair

    yield start
    for peer in reversed(peers):
        peer.stop()


@pytest.fixture
def shared_line(tmp_path, make_pty_pair):
    relays: list[PeerProcess] = []

    def make(parties: int) -> list[str]:
        n = len(relays) + 1
        pairs = [make_pty_pair(f"line{n}-{i}") for i in range(parties)]
        argv = [sys.executable, str(harness.RS485_LINE)]
        for pair in pairs:
            argv += ["--port", pair.b]
        relay = PeerProcess(f"rs485-line-{n}", argv, tmp_path)
        relays.append(relay)
        relay.start()
        return [pair.a for pair in pairs]

    yield make
    for relay in reversed(relays):
        relay.stop()
