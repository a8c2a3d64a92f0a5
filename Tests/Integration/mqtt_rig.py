"""The MQTT rig of the gateway tests (test_gateway.py): a private mosquitto, certificates, a persistent-session
subscriber, the gateway process, the journal's numbers, and the checks of docs/gateway.md's delivery rules.

- Certificates: a CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a second
  ("wrong") CA, made with openssl at test time.
- Broker: Debian's /usr/sbin/mosquitto with its own configuration in a test folder (`listener PORT
  127.0.0.1`, password file made with mosquitto_passwd, persistence in the same folder across restarts,
  optionally a TLS listener). Started and stopped by PID: stop() is SIGTERM (persistence saved), kill() is
  SIGKILL, reload() is SIGHUP (password file re-read); restarts keep the ports.
- Subscriber: paho-mqtt, MQTT 5, clean_start False with a session expiry (the broker keeps its session and
  queued QoS 1 messages across restarts), Receive Maximum 1 (so a broker restart redelivers at most one
  message the subscriber had), recording every message in arrival order.
- Gateway: build/x86_64/examples/edgecore_gateway as a process (start, SIGTERM, SIGKILL, its log).
- journal_info(): the journal's instance id, newest sequence and the cursor's acknowledgement (ctypes on
  libEdgeCore, while no gateway holds the journal).
- check_delivery(): every sequence 1..N arrived at least once, per channel first arrivals in order of
  sequence and timestamp, duplicates counted.

Every wait is bounded; every process is stopped by its PID (harness.PeerProcess).
"""
from __future__ import annotations

import ctypes
import gc
import getpass
import json
import os
import signal
import subprocess
import threading
import time
from ctypes import POINTER, Structure, byref, c_char, c_char_p, c_int, c_size_t, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass, field
from pathlib import Path

from harness import ROOT, PeerError, PeerProcess, free_tcp_port, wait_until

MOSQUITTO = "/usr/sbin/mosquitto"
THINGSBOARD_TOPIC = "v1/gateway/telemetry"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
GATEWAY = ROOT / "build" / "x86_64" / "examples" / "edgecore_gateway"


# ------------------------------------------------------------------------------------------------------
# Certificates
# ------------------------------------------------------------------------------------------------------

class Certificates:
    """EC (P-256) certificates made with openssl in `directory`: ca, server (127.0.0.1, localhost), client
    (signed by ca), wrong_ca (another CA that signed nothing here). Attributes are paths (str)."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca, self.ca_key = self._self_signed("ca", "EdgeCore test CA")
        self.wrong_ca, _ = self._self_signed("wrong-ca", "EdgeCore wrong CA")
        self.server, self.server_key = self._signed("server", "localhost",
                                                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                                    "extendedKeyUsage=serverAuth\n")
        self.client, self.client_key = self._signed("client", "edgecore-gateway",
                                                    "extendedKeyUsage=clientAuth\n")

    def _openssl(self, *args):
        r = subprocess.run(["openssl", *args], cwd=self.dir, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise PeerError(f"openssl {' '.join(args)} failed: {r.stderr}")

    _KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")

    def _self_signed(self, name: str, cn: str):
        self._openssl("req", "-x509", *self._KEY, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
                      "-subj", f"/CN={cn}")
        return str(self.dir / f"{name}.crt"), str(self.dir / f"{name}.key")

    def _signed(self, name: str, cn: str, extensions: str):
        (self.dir / f"{name}.ext").write_text(extensions)
        self._openssl("req", *self._KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
        self._openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                      "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
        return str(self.dir / f"{name}.crt"), str(self.dir / f"{name}.key")


# ------------------------------------------------------------------------------------------------------
# The broker
# ------------------------------------------------------------------------------------------------------

class Broker(PeerProcess):
    """A private mosquitto (a harness.PeerProcess: .pid, .running, .stop() SIGTERM, .kill() SIGKILL, all by
    PID). users: {name: password}. tls: Certificates for a TLS listener on tls_port (client certificate
    required). extra: more configuration lines (e.g. "max_packet_size 2000"). Its log (log_type all) is
    log_text()."""

    def __init__(self, directory, users: dict[str, str], tls: Certificates | None = None, extra=()):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_tcp_port()
        self.tls = tls
        self.tls_port = free_tcp_port() if tls else None
        self.extra = list(extra)
        self.config_path = self.dir / "mosquitto.conf"
        self.password_path = self.dir / "passwords"
        super().__init__("mosquitto", [MOSQUITTO, "-c", str(self.config_path)], self.dir, tcp=self.port)
        self.set_passwords(users)
        self.write_config()

    def set_passwords(self, users: dict[str, str]) -> None:
        """(Re)write the password file; a running broker reads it again on reload()."""
        first = True
        for user, password in users.items():
            r = subprocess.run([MOSQUITTO_PASSWD, "-b", *(["-c"] if first else []), str(self.password_path),
                                user, password], capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise PeerError(f"mosquitto_passwd failed: {r.stdout}{r.stderr}")
            first = False

    def write_config(self) -> None:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {self.password_path}",
            "persistence true",
            f"persistence_location {self.dir}/",
            "autosave_interval 0",
            # a subscriber's backlog after long outages: keep every queued message
            "max_queued_messages 1000000",  # (0, unlimited, makes 2.0.11 drop a client after a PUBACK 0x95)
            "max_queued_bytes 0",
            "log_dest stderr",
            "log_type all",
            "log_timestamp_format %H:%M:%S",
            "connection_messages true",
        ]
        if os.geteuid() == 0:  # mosquitto would switch to the user "mosquitto", who cannot write here
            lines.append(f"user {getpass.getuser()}")
        lines += self.extra
        if self.tls:
            lines += [f"listener {self.tls_port} 127.0.0.1", f"cafile {self.tls.ca}",
                      f"certfile {self.tls.server}", f"keyfile {self.tls.server_key}", "require_certificate true"]
        self.config_path.write_text("\n".join(lines) + "\n")

    def log_text(self) -> str:
        return self.stderr_text()

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_publish_from(self, client_id: str, offset: int, timeout: float = 10.0) -> None:
        """Wait until the log after `offset` shows a PUBLISH received from client_id."""
        wait_until(lambda: f"Received PUBLISH from {client_id} " in self.log_since(offset), timeout,
                   what=f"a PUBLISH from {client_id}")

    def start(self, timeout: float = 10.0) -> "Broker":
        """Start mosquitto and wait until its log says it runs (it prints nothing on stdout)."""
        offset = self.log_size()
        super().start(wait=False)
        deadline = time.monotonic() + timeout
        while " running" not in self.log_since(offset):
            if self.proc.poll() is not None:
                raise PeerError(f"mosquitto exited with {self.proc.returncode}: {self.log_since(offset)[-3000:]}")
            if time.monotonic() >= deadline:
                raise PeerError(f"mosquitto not running within {timeout} s: {self.log_since(offset)[-3000:]}")
            time.sleep(0.01)
        return self

    def reload(self) -> None:
        """SIGHUP: mosquitto reads its configuration and password file again."""
        os.kill(self.proc.pid, signal.SIGHUP)


# ------------------------------------------------------------------------------------------------------
# The subscriber
# ------------------------------------------------------------------------------------------------------

@dataclass
class Message:
    index: int          # arrival order, from 0
    topic: str
    payload: bytes
    dup: bool
    time: float         # time.monotonic() at arrival


class Subscriber:
    """A persistent-session QoS 1 subscriber (MQTT 5, clean_start False, session expiry 1 h, Receive
    Maximum `receive_maximum`) that records every message. The PUBACK goes out after the message is
    recorded (paho acknowledges when on_message returns). Reconnects on its own (0.1 .. 0.5 s)."""

    def __init__(self, broker: Broker, topics, user: str, password: str, client_id: str,
                 receive_maximum: int = 1):
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.broker = broker
        self.topics = list(topics)
        self._cond = threading.Condition()
        self.messages: list[Message] = []
        self.connects = 0
        self.subscribed = 0
        self._mqtt = mqtt
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, password)
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        self.properties = Properties(PacketTypes.CONNECT)
        self.properties.SessionExpiryInterval = 3600
        self.properties.ReceiveMaximum = receive_maximum
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._started = False

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            return
        with self._cond:
            self.connects += 1
        client.subscribe([(t, 1) for t in self.topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self._cond:
            self.subscribed += 1
            self._cond.notify_all()

    def _on_message(self, client, userdata, message):
        with self._cond:
            self.messages.append(Message(len(self.messages), message.topic, bytes(message.payload),
                                         bool(message.dup), time.monotonic()))
            self._cond.notify_all()

    def start(self, timeout: float = 10.0) -> "Subscriber":
        self.client.connect("127.0.0.1", self.broker.port, keepalive=10, clean_start=False,
                            properties=self.properties)
        self.client.loop_start()
        self._started = True
        self.wait(lambda: self.subscribed >= 1, timeout, "the subscriber's SUBACK")
        return self

    def stop(self) -> None:
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
            self._started = False
        # paho keeps a socket pair until the client is garbage-collected, which could then happen during a
        # later test that counts this process's file descriptors (test_hostile_peers): close it now.
        reset = getattr(self.client, "_reset_sockets", None)   # paho-mqtt 2.1.0 (pinned)
        if reset:
            reset()

    def wait(self, predicate, timeout: float, what: str):
        """Wait (bounded) until predicate() (called under the lock) is true; returns its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{what}: not within {timeout:.1f} s")
                self._cond.wait(min(left, 0.2))

    def snapshot(self, topic: str | None = None) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if topic is None or m.topic == topic]

    def count(self, topic: str | None = None) -> int:
        with self._cond:
            return sum(1 for m in self.messages if topic is None or m.topic == topic)

    def publish(self, topic: str, payload, qos: int = 1, timeout: float = 5.0) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout)


# ------------------------------------------------------------------------------------------------------
# The gateway process
# ------------------------------------------------------------------------------------------------------

class Gateway(PeerProcess):
    """edgecore_gateway [options] SITE as a harness.PeerProcess (.start(), .stop() SIGTERM, .kill() SIGKILL,
    by PID); its stderr is log_text()."""

    def __init__(self, site, directory, options=(), name: str = "gateway"):
        if not GATEWAY.exists():
            raise PeerError(f"{GATEWAY} is missing: run 'make examples'")
        super().__init__(name, [str(GATEWAY), *[str(o) for o in options], str(site)], directory)

    def start(self) -> "Gateway":
        return super().start(wait=False)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the gateway still runs after {timeout} s:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.stderr_text()


def run_gateway(site, options=(), timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Run the gateway to its end (usage and set-up errors): returncode, stdout, stderr."""
    return subprocess.run([str(GATEWAY), *[str(o) for o in options], str(site)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# ------------------------------------------------------------------------------------------------------
# The journal's numbers (ctypes, include/edgecore.h 1.2)
# ------------------------------------------------------------------------------------------------------

class _JournalStats(Structure):
    _fields_ = [(n, c_uint64) for n in (
        "bytes", "oldest_sequence", "newest_sequence", "durable_sequence", "readings", "appended",
        "records_appended", "dropped_for_space", "refused_for_space", "append_failures",
        "corrupt_records_skipped", "corrupt_segments_skipped", "torn_bytes_truncated", "syncs",
        "bytes_written")] + [("segments", c_uint32), ("cursors", c_uint32), ("instance_id", c_uint64)]


class _CursorStats(Structure):
    _fields_ = [("name", c_char * 40)] + [(n, c_uint64) for n in (
        "acknowledged_sequence", "durable_acknowledged", "read_sequence", "unacknowledged", "lost")]


assert ctypes.sizeof(_JournalStats) == 136 and ctypes.sizeof(_CursorStats) == 80


@dataclass
class JournalInfo:
    instance: str            # 16 hex digits, as in the payload
    newest: int              # the newest sequence (N: readings 1..N were journaled)
    durable: int
    oldest: int
    dropped_for_space: int
    cursors: dict = field(default_factory=dict)   # name -> (acknowledged, durable_acknowledged, lost)


def journal_info(folder) -> JournalInfo:
    """Open the journal in `folder` (no gateway may hold it), read its stats and cursors, close it."""
    import edgecore

    dll = edgecore.lib.dll()
    dll.edgecore_journal_open_sized.argtypes = [c_char_p, c_void_p, c_size_t, POINTER(c_void_p)]
    dll.edgecore_journal_open_sized.restype = c_int
    dll.edgecore_journal_close.argtypes = [c_void_p]
    dll.edgecore_journal_close.restype = None
    dll.edgecore_journal_last_error.restype = c_char_p
    dll.edgecore_journal_stats_sized.argtypes = [c_void_p, POINTER(_JournalStats), c_size_t]
    dll.edgecore_journal_cursor_stats_sized.argtypes = [c_void_p, c_uint32, POINTER(_CursorStats), c_size_t]
    handle = c_void_p()
    rc = dll.edgecore_journal_open_sized(os.fsencode(folder), None, 0, byref(handle))
    if rc < 0:
        raise AssertionError(f"journal {folder}: open: {rc} {dll.edgecore_journal_last_error()!r}")
    try:
        stats = _JournalStats()
        rc = dll.edgecore_journal_stats_sized(handle, byref(stats), ctypes.sizeof(stats))
        assert rc == 0, rc
        info = JournalInfo(f"{stats.instance_id:016x}", stats.newest_sequence, stats.durable_sequence,
                           stats.oldest_sequence, stats.dropped_for_space)
        for i in range(stats.cursors):
            c = _CursorStats()
            assert dll.edgecore_journal_cursor_stats_sized(handle, i, byref(c), ctypes.sizeof(c)) == 0
            info.cursors[c.name.decode()] = (c.acknowledged_sequence, c.durable_acknowledged, c.lost)
        return info
    finally:
        dll.edgecore_journal_close(handle)


# ------------------------------------------------------------------------------------------------------
# Payloads and the delivery checks
# ------------------------------------------------------------------------------------------------------

@dataclass
class Arrival:
    sequence: int
    channel: str
    ts: int
    value: object
    status: str
    message: int       # index of the message it came in


def parse_batch(payload: bytes, gateway_id: str | None = None) -> dict:
    """A json-format batch of docs/gateway.md, with its shape checked; returns the decoded object."""
    batch = json.loads(payload)
    assert set(batch) == {"gateway", "instance", "first", "last", "readings"}, sorted(batch)
    if gateway_id is not None:
        assert batch["gateway"] == gateway_id, batch["gateway"]
    assert isinstance(batch["instance"], str) and len(batch["instance"]) == 16
    int(batch["instance"], 16)
    first, last, readings = batch["first"], batch["last"], batch["readings"]
    assert isinstance(first, int) and isinstance(last, int) and 1 <= first <= last, (first, last)
    assert len(readings) == last - first + 1, (first, last, len(readings))
    for r in readings:
        assert {"channel", "unit", "ts", "value", "status"} <= set(r) <= {"channel", "unit", "ts", "value",
                                                                           "status", "detail"}, r
        assert isinstance(r["ts"], int) and r["ts"] > 1_600_000_000_000, r
        if r["status"] != "ok":
            assert r["value"] is None, r
        if "detail" in r:
            assert r["detail"] != 0, r
    return batch


def arrivals(messages, gateway_id: str | None = None) -> tuple[list[Arrival], set[str]]:
    """Every reading of the readings messages in arrival order, and the instances seen."""
    out: list[Arrival] = []
    instances: set[str] = set()
    for m in messages:
        batch = parse_batch(m.payload, gateway_id)
        instances.add(batch["instance"])
        for i, r in enumerate(batch["readings"]):
            out.append(Arrival(batch["first"] + i, r["channel"], r["ts"], r["value"], r["status"], m.index))
    return out, instances


@dataclass
class Delivery:
    messages: int
    arrived: int            # readings received, duplicates included
    unique: int
    duplicates: int
    missing: list           # sequences of 1..last that never arrived
    missing_count: int
    beyond: int             # sequences > last received (journaled later than `last` was read: none expected)
    out_of_order: list      # (channel, previous (seq, ts), this (seq, ts)) of first arrivals (first 10)
    max_payload: int
    channels: int
    names: list             # the channel names seen, sorted

    def summary(self) -> str:
        return (f"{self.messages} messages, {self.arrived} readings arrived, {self.unique} unique, "
                f"{self.duplicates} duplicates, {self.missing_count} missing, {len(self.out_of_order)} out of "
                f"order, largest payload {self.max_payload} B, {self.channels} channels")


def check_delivery(messages, instance: str, last: int, gateway_id: str | None = None) -> Delivery:
    """Compare what arrived with journal sequences 1..last of `instance`."""
    got, instances = arrivals(messages, gateway_id)
    assert instances <= {instance}, f"payloads name instances {instances}, the journal is {instance}"
    seen: set[int] = set()
    previous: dict[str, tuple[int, int]] = {}
    out_of_order = []
    for a in got:
        if a.sequence in seen:
            continue
        seen.add(a.sequence)
        p = previous.get(a.channel)
        if p is not None and (a.sequence <= p[0] or a.ts < p[1]):
            out_of_order.append((a.channel, p, (a.sequence, a.ts)))
        previous[a.channel] = (a.sequence, a.ts)
    missing = [s for s in range(1, last + 1) if s not in seen]
    return Delivery(messages=len(messages), arrived=len(got), unique=len(seen), duplicates=len(got) - len(seen),
                    missing=missing, missing_count=len(missing),
                    beyond=sum(1 for s in seen if s > last), out_of_order=out_of_order[:10],
                    max_payload=max((len(m.payload) for m in messages), default=0), channels=len(previous),
                    names=sorted(previous))


# ------------------------------------------------------------------------------------------------------
# The load site: a libmodbus peer with LOAD_CHANNELS holding registers polled every LOAD_INTERVAL_MS
# ------------------------------------------------------------------------------------------------------

LOAD_CHANNELS = 100
LOAD_INTERVAL_MS = 100       # 100 channels every 100 ms: 1,000 readings/s
SETPOINT_ADDRESS = 200       # holding register: writable channel cmd.setpoint
LOCKED_ADDRESS = 201         # holding register: channel cmd.locked, not writable
COIL_ADDRESS = 0             # coil: writable channel cmd.coil
SETPOINT_INITIAL = 7
LOCKED_INITIAL = 42


def load_map(path) -> str:
    """The peer's register map: holding 0..99 (values 1000 + address), the command registers and a coil."""
    values = " ".join(str(1000 + a) for a in range(LOAD_CHANNELS))
    Path(path).write_text(f"1 holding 0 {values}\n"
                          f"1 holding {SETPOINT_ADDRESS} {SETPOINT_INITIAL} {LOCKED_INITIAL}\n"
                          f"1 coil {COIL_ADDRESS} 0 0\n")
    return str(path)


def load_site(path, journal, peer_port: int, interval_ms: int = LOAD_INTERVAL_MS,
              command_interval_ms: int = 1000) -> str:
    """A site file: LOAD_CHANNELS u16 holding registers load.rNNN polled every interval_ms, cmd.setpoint
    and cmd.coil writable, cmd.locked not (every command_interval_ms), and a journal in `journal` (sync
    every 100 ms, cursor uplink)."""
    lines = ["journal:", f"  path: {journal}", "  sync_interval_ms: 100", "  cursors: [uplink]", "buses:",
             "  - name: load", "    type: tcp", "    host: 127.0.0.1", f"    port: {peer_port}",
             "    connect_timeout_ms: 500", "    reconnect_min_ms: 100", "    reconnect_max_ms: 500",
             "    devices:", "      - name: plc", "        unit_id: 1", "        response_timeout_ms: 500",
             "        channels:"]
    for a in range(LOAD_CHANNELS):
        lines.append(f"          - {{name: load.r{a:03d}, function: holding, address: {a}, type: u16, "
                     f"interval_ms: {interval_ms}, unit: V}}")
    lines += [
        f"          - {{name: cmd.setpoint, function: holding, address: {SETPOINT_ADDRESS}, type: u16, "
        f"interval_ms: {command_interval_ms}, writable: true}}",
        f"          - {{name: cmd.locked, function: holding, address: {LOCKED_ADDRESS}, type: u16, "
        f"interval_ms: {command_interval_ms}}}",
        f"          - {{name: cmd.coil, function: coils, address: {COIL_ADDRESS}, type: bit, "
        f"interval_ms: {command_interval_ms}, writable: true}}"]
    Path(path).write_text("\n".join(lines) + "\n")
    return str(path)


def quiet_site(path, journal, peer_port: int) -> str:
    """The same journal and channels (the journal stores channel ids: a gateway names readings by its own
    site file's channels), each polled once an hour: a gateway on it sends the backlog and then one reading
    per channel, so that the test can wait for the cursor to catch up."""
    return load_site(path, journal, peer_port, interval_ms=3_600_000, command_interval_ms=3_600_000)


# ------------------------------------------------------------------------------------------------------
# A TCP proxy that cuts connections (a broker or network that closes mid-publish)
# ------------------------------------------------------------------------------------------------------

class CuttingProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:target. Every connection is cut (both sockets closed) once it
    has carried cut_after_bytes from the client (None: never); cut_all() cuts the current ones now."""

    def __init__(self, target: int, cut_after_bytes: int | None = None):
        import socket
        self.target = target
        self.cut_after_bytes = cut_after_bytes
        self.port = free_tcp_port()
        self.cuts = 0
        self.connections = 0
        self.accept_times: list[float] = []   # time.monotonic() of each accepted connection
        self._lock = threading.Lock()
        self._pairs: list[tuple] = []
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(16)
        self._server.settimeout(0.2)
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, daemon=True, name="cutting-proxy")
        self._thread.start()

    def _accept(self):
        import socket
        while not self._stopping:
            try:
                client, _ = self._server.accept()
            except (socket.timeout, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                self.accept_times.append(time.monotonic())
                pair = (client, upstream)
                self._pairs.append(pair)
            threading.Thread(target=self._pump, args=(client, upstream, pair, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, pair, False), daemon=True).start()

    def _pump(self, source, sink, pair, counted: bool):
        carried = 0
        try:
            while True:
                data = source.recv(4096)
                if not data:
                    break
                if counted and self.cut_after_bytes is not None and carried + len(data) > self.cut_after_bytes:
                    sink.sendall(data[: max(0, self.cut_after_bytes - carried)])  # part of a packet, then cut
                    with self._lock:
                        self.cuts += 1
                    break
                sink.sendall(data)
                carried += len(data)
        except OSError:
            pass
        self._close(pair)

    def _close(self, pair):
        import socket
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)

    def cut_all(self) -> None:
        with self._lock:
            pairs = list(self._pairs)
            self.cuts += len(pairs)
        for pair in pairs:
            self._close(pair)

    def close(self) -> None:
        self._stopping = True
        self._thread.join(timeout=2)
        self._server.close()
        self.cut_all()


# ------------------------------------------------------------------------------------------------------
# The whole rig of one test
# ------------------------------------------------------------------------------------------------------

class GatewayRig:
    """A broker, the load peer, the load site, a subscriber on the gateway's topics and gateway processes.
    start() starts broker, peer and subscriber; gateway() starts a gateway; finish() stops it, drains the
    journal with a gateway on the quiet site and checks the delivery; close() stops everything by PID."""

    GATEWAY_ID = "gw-test"
    GATEWAY_USER = "edgecore"
    GATEWAY_PASSWORD = "gateway-secret-1"
    OBSERVER_USER = "observer"
    OBSERVER_PASSWORD = "observer-secret-2"
    BATCH = 100
    WINDOW = 16    # catches up at about WINDOW x BATCH per 0.2 s (a message is in flight until a sync)

    def __init__(self, directory, tls: bool = False, broker_extra=(), peer_delay_ms: int | None = None):
        from harness import libmodbus_command, PeerProcess

        self.dir = Path(directory)
        self.certs = Certificates(self.dir / "certs") if tls else None
        self.broker = Broker(self.dir / "broker", {self.GATEWAY_USER: self.GATEWAY_PASSWORD,
                                                   self.OBSERVER_USER: self.OBSERVER_PASSWORD},
                             tls=self.certs, extra=broker_extra)
        self.peer_port = free_tcp_port()
        self.peer = PeerProcess("load-peer", libmodbus_command(tcp=self.peer_port, delay_ms=peer_delay_ms,
                                                                map_file=load_map(self.dir / "load-map.txt")),
                                self.dir, tcp=self.peer_port)
        self.journal = self.dir / "journal"
        self.site = load_site(self.dir / "site.yaml", self.journal, self.peer_port)
        self.quiet_site = quiet_site(self.dir / "quiet-site.yaml", self.journal, self.peer_port)
        self.password_file = self.dir / "gateway.password"
        self.password_file.write_text(self.GATEWAY_PASSWORD + "\n")
        base = f"edgecore/{self.GATEWAY_ID}"
        self.readings_topic, self.command_topic = f"{base}/readings", f"{base}/command"
        self.response_topic, self.status_topic = f"{base}/response", f"{base}/status"
        self.subscriber: Subscriber | None = None
        self.gateways: list[Gateway] = []
        self.proxies: list[CuttingProxy] = []
        self._parsed: list[list[int]] = []       # sequences per readings message, in arrival order
        self._seen: set[int] = set()

    def start(self) -> "GatewayRig":
        self.broker.start()
        self.peer.start()
        self.subscriber = Subscriber(self.broker, [self.readings_topic, self.response_topic, self.status_topic,
                                                   THINGSBOARD_TOPIC],
                                     self.OBSERVER_USER, self.OBSERVER_PASSWORD, "observer-" + self.dir.name[-20:])
        self.subscriber.start()
        return self

    def options(self, port: int | None = None, password_file=None, extra=()) -> list[str]:
        return ["--host", "127.0.0.1", "--port", str(port or self.broker.port), "--id", self.GATEWAY_ID,
                "--username", self.GATEWAY_USER, "--password-file", str(password_file or self.password_file),
                "--batch-readings", str(self.BATCH), "--window", str(self.WINDOW), "--reconnect-min-ms", "100",
                "--reconnect-max-ms", "1000", "--stats-interval", "0", *[str(e) for e in extra]]

    def gateway(self, *extra, site=None, port: int | None = None, password_file=None,
                name: str = "gateway") -> Gateway:
        g = Gateway(site or self.site, self.dir, self.options(port, password_file, extra), name=name)
        self.gateways.append(g)
        return g.start()

    def proxy(self, cut_after_bytes: int | None = None) -> CuttingProxy:
        p = CuttingProxy(self.broker.port, cut_after_bytes)
        self.proxies.append(p)
        return p

    # -- what arrived -------------------------------------------------------------------------------------
    def readings_messages(self) -> list[Message]:
        return self.subscriber.snapshot(self.readings_topic)

    def seen(self) -> set[int]:
        """Sequences received so far (parsed incrementally)."""
        messages = self.readings_messages()
        for m in messages[len(self._parsed):]:
            batch = json.loads(m.payload)
            sequences = list(range(batch["first"], batch["last"] + 1))
            self._parsed.append(sequences)
            self._seen.update(sequences)
        return self._seen

    def wait_messages(self, more: int = 1, timeout: float = 15.0, gateway: Gateway | None = None) -> None:
        """Wait until `more` readings messages arrived after now."""
        target = self.subscriber.count(self.readings_topic) + more
        try:
            self.subscriber.wait(lambda: len([m for m in self.subscriber.messages
                                               if m.topic == self.readings_topic]) >= target,
                                 timeout, f"{more} more readings messages")
        except AssertionError as e:
            log = gateway.log_text()[-3000:] if gateway else ""
            raise AssertionError(f"{e}\ngateway log:\n{log}\nbroker log:\n{self.broker.log_text()[-2000:]}")

    # -- the end of a test ------------------------------------------------------------------------------
    def finish(self, gateway: Gateway, events: int, broker_restarts: int = 0, label: str = "",
               may_lose=None) -> Delivery:
        """Stop `gateway` (SIGTERM: exit 0), deliver the rest of the journal with a gateway on the quiet site,
        and check: every sequence 1..N of the journal arrived, first arrivals in order per channel,
        duplicates <= (events + 2) x window x batch (+ one message per broker restart redelivered to the
        subscriber). events: outages or crashes. may_lose(gateway) -> the set of sequences that may be
        missing (a SIGKILLed broker loses what it acknowledged). Prints the numbers."""
        rc = gateway.stop()
        assert rc == 0, f"the gateway's exit status on SIGTERM is {rc}:\n{gateway.log_text()[-3000:]}"
        allowed = may_lose(gateway) if may_lose else set()
        before = journal_info(self.journal)
        drain = self.gateway(site=self.quiet_site, name="drain")
        try:
            wait_until(lambda: all(s in self.seen() or s in allowed for s in range(1, before.newest + 1)),
                       40, what=f"journal sequences 1..{before.newest} at the subscriber")
        except TimeoutError as e:
            missing = [s for s in range(1, before.newest + 1) if s not in self._seen and s not in allowed]
            raise AssertionError(f"{e}: {len(missing)} missing, first {missing[:10]}\ndrain log:\n"
                                 f"{drain.log_text()[-2000:]}\ngateway log:\n{gateway.log_text()[-3000:]}")
        quiet_since, last_count = time.monotonic(), -1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 1.0:
            count = self.subscriber.count(self.readings_topic)
            if count != last_count:
                quiet_since, last_count = time.monotonic(), count
            time.sleep(0.05)
        rc = drain.stop()
        assert rc == 0, f"the drain gateway's exit status on SIGTERM is {rc}:\n{drain.log_text()[-3000:]}"
        info = journal_info(self.journal)
        d = check_delivery(self.readings_messages(), info.instance, info.newest, self.GATEWAY_ID)
        bound = (events + 2) * self.WINDOW * self.BATCH + broker_restarts * self.BATCH
        print(f"\n{label or 'delivery'}: journal 1..{info.newest} (instance {info.instance}), "
              f"{before.newest - before.cursors['uplink'][1]} left to the drain after SIGTERM, {events} "
              f"outages/crashes: {d.summary()}; duplicate bound {bound}")
        assert info.dropped_for_space == 0
        lost = [s for s in d.missing if s not in allowed]
        assert not lost, f"{len(lost)} readings never arrived, e.g. {lost[:20]}"
        assert not d.out_of_order, f"first arrivals out of order: {d.out_of_order}"
        assert d.duplicates <= bound, f"{d.duplicates} duplicates > {bound}"
        assert d.channels == LOAD_CHANNELS + 3, f"{d.channels} channel names: {d.names[:5]}..."
        return d

    def close(self) -> None:
        for g in reversed(self.gateways):
            g.stop()
        for p in self.proxies:
            p.close()
        if self.subscriber:
            self.subscriber.stop()
        self.peer.stop()
        self.broker.stop()
        gc.collect()   # the proxies' and the subscriber's sockets are closed now, not in a later test
