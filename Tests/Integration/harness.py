"""Processes and helpers of the Modbus integration tests: peers (test slaves), socat pty pairs, ports, clients.

Every process started here is stopped by its PID (SIGTERM, then SIGKILL after a bounded wait); every wait is
bounded. conftest.py turns these into pytest fixtures.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = ROOT / "Tests" / "Peers"
BUILD_DIR = ROOT / "build" / "peers"
LIBMODBUS_SERVER = BUILD_DIR / "modbus_server"
PYMODBUS_SERVER = PEERS_DIR / "pymodbus_server.py"

if str(PEERS_DIR) not in sys.path:
    sys.path.insert(0, str(PEERS_DIR))

from regmap import SITE_TEST_MAP, RegisterMap  # noqa: E402


class PeerError(RuntimeError):
    """A peer or socat did not start, or did not become ready in time."""


def wait_until(predicate, timeout: float, interval: float = 0.02, what: str = "condition") -> None:
    """Poll predicate() until it is true; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.1f} s")
        time.sleep(interval)


_ports_handed_out: set[int] = set()


def free_tcp_port() -> int:
    """A TCP port of 127.0.0.1 that is free now and was not handed out before in this process."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port
    raise PeerError("no free TCP port found")


def build_peers(timeout: float = 120.0) -> Path:
    """Build build/peers/modbus_server (make is a no-op when it is up to date)."""
    r = subprocess.run(["make", "-s", "-C", str(PEERS_DIR)], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise PeerError(f"building the peers failed:\n{r.stdout}{r.stderr}")
    return LIBMODBUS_SERVER


def _stop_pid(proc: subprocess.Popen, timeout: float) -> int:
    """SIGTERM the process by PID, SIGKILL it if it has not ended after `timeout` s; returns its status."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return proc.returncode


# ------------------------------------------------------------------------------------------------------
# socat pty pairs
# ------------------------------------------------------------------------------------------------------

class PtyPair:
    """Two linked pseudo-terminals made by socat: what is written to `a` comes out of `b` and back.

    `a` and `b` are symlinks (to /dev/pts/N) that exist while socat runs. unplug() stops socat, so both links
    vanish and open file descriptors on them hang up, as when a USB serial adapter is pulled; replug() starts
    socat again with the same link names (new /dev/pts numbers).
    """

    def __init__(self, directory, name: str = "tty", start_timeout: float = 5.0):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.a = str(directory / f"{name}A")
        self.b = str(directory / f"{name}B")
        self.log_path = directory / f"{name}-socat.log"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def links_exist(self) -> bool:
        return os.path.exists(self.a) and os.path.exists(self.b)

    def links_gone(self) -> bool:
        return not os.path.lexists(self.a) and not os.path.lexists(self.b)

    def start(self) -> "PtyPair":
        if self.running:
            raise PeerError("socat already runs")
        for link in (self.a, self.b):  # leftovers of a killed socat
            if os.path.islink(link):
                os.unlink(link)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["socat", "-d", "-d", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        self.starts += 1
        deadline = time.monotonic() + self.start_timeout
        while not self.links_exist():
            if self.proc.poll() is not None:
                raise PeerError(f"socat exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() >= deadline:
                self.stop()
                raise PeerError(f"socat links not there after {self.start_timeout} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is not None:
            _stop_pid(self.proc, timeout)
        for link in (self.a, self.b):  # socat removes them itself unless it was killed
            if os.path.islink(link):
                os.unlink(link)

    def unplug(self) -> None:
        """Stop socat: both links vanish, the peers' open ports hang up."""
        self.stop()

    def replug(self) -> None:
        """Start socat again with the same link names."""
        self.start()


# ------------------------------------------------------------------------------------------------------
# Peers (test slaves)
# ------------------------------------------------------------------------------------------------------

def peer_arguments(*, tcp: int | None = None, rtu: str | None = None, map_file, baud: int | None = None,
                   parity: str | None = None, data_bits: int | None = None, stop_bits: int | None = None,
                   silent_units=(), exceptions=(), bad_crc_every: int | None = None,
                   delay_ms: int | None = None, verbose: bool = False, extra_args=()) -> list[str]:
    """Command-line options common to modbus_server and pymodbus_server.py.

    exceptions: items "[UNIT:]TABLE:ADDR:CODE", (table, addr, code) or (unit, table, addr, code).
    """
    if (tcp is None) == (rtu is None):
        raise ValueError("give exactly one of tcp= and rtu=")
    args = ["--tcp", str(tcp)] if tcp is not None else ["--rtu", str(rtu)]
    for flag, value in (("--baud", baud), ("--parity", parity), ("--data-bits", data_bits),
                        ("--stop-bits", stop_bits), ("--bad-crc-every", bad_crc_every),
                        ("--delay-ms", delay_ms)):
        if value is not None:
            args += [flag, str(value)]
    args += ["--map", str(map_file)]
    for u in silent_units:
        args += ["--silent-unit", str(u)]
    for e in exceptions:
        args += ["--exception", e if isinstance(e, str) else ":".join(str(x) for x in e)]
    if verbose:
        args.append("--verbose")
    return args + [str(a) for a in extra_args]


class PeerProcess:
    """A running peer. Prints READY on stdout when serving (again after an RTU port came back)."""

    def __init__(self, name: str, argv: list[str], log_dir, tcp: int | None = None, rtu: str | None = None,
                 ready_timeout: float = 10.0):
        self.name = name
        self.argv = list(argv)
        self.port = tcp
        self.device = rtu
        self.ready_timeout = ready_timeout
        self.log_path = Path(log_dir) / f"{name}.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._cond = threading.Condition()
        self._lines: list[str] = []
        self._ready = 0
        self._reader: threading.Thread | None = None

    # -- state ----------------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    @property
    def ready_count(self) -> int:
        """READY lines printed by the current process."""
        with self._cond:
            return self._ready

    @property
    def stdout_lines(self) -> list[str]:
        with self._cond:
            return list(self._lines)

    def stderr_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- life cycle -----------------------------------------------------------------------------------
    def start(self, wait: bool = True) -> "PeerProcess":
        if self.running:
            raise PeerError(f"{self.name} already runs (pid {self.pid})")
        with self._cond:
            self._lines = []
            self._ready = 0
        with open(self.log_path, "ab") as log:
            # surrogateescape: arguments may be paths that are not UTF-8, as os.fsencode writes them
            log.write(f"--- start {self.starts + 1}: {' '.join(self.argv)}\n".encode(errors="surrogateescape"))
            log.flush()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=log, text=True, bufsize=1)
        self.starts += 1
        self._reader = threading.Thread(target=self._read_stdout, args=(self.proc,), daemon=True,
                                        name=f"{self.name}-stdout")
        self._reader.start()
        if wait:
            self.wait_ready(1)
        return self

    def _read_stdout(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            with self._cond:
                if proc is not self.proc:
                    break
                self._lines.append(line.rstrip("\n"))
                if line.strip() == "READY":
                    self._ready += 1
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_ready(self, count: int | None = None, timeout: float | None = None) -> None:
        """Wait until the process printed READY `count` times (default: once more than now)."""
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            want = self._ready + 1 if count is None else count
            while self._ready < want:
                if self.proc.poll() is not None:
                    raise PeerError(f"{self.name} exited with {self.proc.returncode} before READY:\n"
                                    f"{self.stderr_text()[-3000:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PeerError(f"{self.name} not READY ({want}) within {timeout} s:\n"
                                    f"{self.stderr_text()[-3000:]}")
                self._cond.wait(min(left, 0.1))

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (by PID), SIGKILL after `timeout` s; returns the exit status (None if never started)."""
        if self.proc is None:
            return None
        rc = _stop_pid(self.proc, timeout)
        self._close_stdout()
        return rc

    def kill(self) -> int | None:
        """SIGKILL by PID, as a crash or power loss of the device."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close_stdout()
        return self.proc.returncode

    def restart(self, timeout: float | None = None) -> "PeerProcess":
        """Stop (if running) and start the same command again; waits for READY."""
        self.stop()
        self.start(wait=False)
        self.wait_ready(1, timeout)
        return self

    def _close_stdout(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


def map_file_for(regmap, directory, name: str = "map") -> str:
    """A map file path for `regmap`: a RegisterMap is written to directory/<name>.txt; a path is used as is;
    None means SITE_TEST_MAP."""
    if regmap is None:
        regmap = SITE_TEST_MAP
    if isinstance(regmap, RegisterMap):
        path = Path(directory) / f"{name}.txt"
        regmap.write(path)
        return str(path)
    return os.fspath(regmap)


def libmodbus_command(**options) -> list[str]:
    return [str(LIBMODBUS_SERVER)] + peer_arguments(**options)


def pymodbus_command(**options) -> list[str]:
    return [sys.executable, str(PYMODBUS_SERVER)] + peer_arguments(**options)


# ------------------------------------------------------------------------------------------------------
# pymodbus clients (to check the peers independently of EdgeCore)
# ------------------------------------------------------------------------------------------------------

def modbus_client(*, tcp: int | None = None, rtu: str | None = None, timeout: float = 1.0, baud: int = 9600,
                  parity: str = "N"):
    """A connected synchronous pymodbus client without retries. Caller closes it."""
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient
    from pymodbus.framer import Framer

    if (tcp is None) == (rtu is None):
        raise ValueError("give exactly one of tcp= and rtu=")
    if tcp is not None:
        client = ModbusTcpClient("127.0.0.1", port=tcp, timeout=timeout, retries=0)
    else:
        client = ModbusSerialClient(rtu, framer=Framer.RTU, baudrate=baud, parity=parity, timeout=timeout,
                                    retries=0)
    if not client.connect():
        raise PeerError(f"pymodbus client cannot connect to {tcp or rtu}")
    return client


def crc16(data: bytes) -> bytes:
    """Modbus RTU CRC of data, as sent (low byte first)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes((crc & 0xFF, crc >> 8))


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    """An RTU frame: unit, PDU, CRC."""
    body = bytes((unit,)) + pdu
    return body + crc16(body)


# ------------------------------------------------------------------------------------------------------
# Engine tests: buses on peers, channels from register maps, readings, counters, the peers' request logs
# ------------------------------------------------------------------------------------------------------

def open_fd_count() -> int:
    """File descriptors open in this process now (the engine runs inside it, through ctypes)."""
    return len(os.listdir("/proc/self/fd"))


def add_bus(engine, where: dict, name: str = "bus", **fields) -> int:
    """Add the bus of an endpoint as peer_endpoint returns it: {"tcp": PORT} (127.0.0.1) or {"rtu": DEVICE}.
    TCP buses get short connect/reconnect times unless fields say otherwise; RTU ones short re-open times."""
    if "tcp" in where:
        fields.setdefault("connect_timeout_ms", 500)
        fields.setdefault("reconnect_min_ms", 50)
        fields.setdefault("reconnect_max_ms", 200)
        return engine.add_tcp_bus(name, "127.0.0.1", where["tcp"], **fields)
    fields.setdefault("reopen_min_ms", 50)
    fields.setdefault("reopen_max_ms", 200)
    return engine.add_rtu_bus(name, where["rtu"], **fields)


def add_point_channels(engine, device: int, points, interval_ms: int, prefix: str = "", **fields) -> dict:
    """One channel per regmap.Point (its table, address, type and order), named prefix + point name.
    Returns {channel id: Point}."""
    ids = {}
    for p in points:
        ids[engine.add_channel(prefix + p.name, device, p.address, function=p.table, type=p.type, order=p.order,
                               interval_ms=interval_ms, **fields)] = p
    return ids


def by_channel(readings) -> dict:
    """{channel id: [readings in order]}."""
    out: dict[int, list] = {}
    for r in readings:
        out.setdefault(r.channel, []).append(r)
    return out


def each_has(channels, count: int):
    """A collect_until predicate: every channel of `channels` has at least `count` readings."""
    wanted = set(channels)

    def predicate(readings) -> bool:
        seen: dict[int, int] = {}
        for r in readings:
            if r.channel in wanted:
                seen[r.channel] = seen.get(r.channel, 0) + 1
        return all(seen.get(c, 0) >= count for c in wanted)

    return predicate


def stats_dict(stats) -> dict:
    """struct edgecore_device_stats as a dict (for messages and comparisons)."""
    return {name: (list(getattr(stats, name)) if name == "latency_histogram" else getattr(stats, name))
            for name, _ in stats._fields_}


def logged_requests(peer: "PeerProcess") -> list[tuple[int, int, int, int]]:
    """(unit, function code, address, quantity) of every request a modbus_server started with verbose=True
    logged on stderr, in order."""
    out = []
    for line in peer.stderr_text().splitlines():
        parts = line.split()
        if len(parts) == 9 and parts[0] == "modbus_server:" and parts[1] == "unit" and parts[3] == "fc":
            out.append((int(parts[2]), int(parts[4]), int(parts[6]), int(parts[8])))
    return out


# ------------------------------------------------------------------------------------------------------
# Meter peers (DL/T 645: dlt645_peer.py on the dlt645 package; CJ/T 188: cjt188_peer.py) and a raw line
# ------------------------------------------------------------------------------------------------------

DLT645_PEER = PEERS_DIR / "dlt645_peer.py"
CJT188_PEER = PEERS_DIR / "cjt188_peer.py"
RS485_LINE = PEERS_DIR / "rs485_line.py"


def write_table(path, values: dict) -> str:
    """A peer value table ("KEY VALUE" lines) from a dict; returns the path."""
    Path(path).write_text("".join(f"{key} {value}\n" for key, value in values.items()))
    return str(path)


def meter_peer_command(kind: str, *, tcp: int | None = None, rtu: str | None = None, meters=(),
                       values: str | None = None, options=()) -> list[str]:
    """argv of dlt645_peer.py (kind "dlt645"; meters: "ADDR[=TABLE]") or cjt188_peer.py (kind "cjt188";
    meters: "TYPE:ADDR[=TABLE]"). options: further arguments, e.g. ["--preamble", 0, "--dead", ADDR]."""
    if (tcp is None) == (rtu is None):
        raise ValueError("give exactly one of tcp= and rtu=")
    script = {"dlt645": DLT645_PEER, "cjt188": CJT188_PEER}[kind]
    argv = [sys.executable, str(script)] + (["--tcp", str(tcp)] if tcp is not None else ["--rtu", rtu])
    for meter in meters:
        argv += ["--meter", str(meter)]
    if values is not None:
        argv += ["--values", str(values)]
    return argv + [str(o) for o in options]


def meter_requests(peer: "PeerProcess") -> list[tuple[str, int, int, str]]:
    """(meter address digits, control code, DI, outcome) of every request and meter a meter peer started with
    --verbose logged on stderr, in order. outcome: "reply", "abnormal EE", "silent", "silent (dead)".
    (For cjt188_peer.py the address is "TT ADDR" and the DI has 4 hex digits.)"""
    out = []
    for line in peer.stderr_text().splitlines():
        head, sep, outcome = line.partition(" -> ")
        parts = head.split()
        if sep and len(parts) >= 6 and parts[0] in ("dlt645_peer:", "cjt188_peer:") and parts[1] == "meter":
            address = " ".join(parts[2:-4])
            out.append((address, int(parts[-3], 16), int(parts[-1], 16), outcome))
    return out


class MeterLine:
    """The master's end of a meter line: side A of a pty pair opened at 2400 8E1 (by default) or a TCP
    connection to 127.0.0.1:PORT. exchange() sends raw bytes and returns the raw bytes that came back."""

    def __init__(self, where: dict, baud: int = 2400, parity: str = "E"):
        self.socket = self.serial = None
        if "tcp" in where:
            self.socket = socket.create_connection(("127.0.0.1", where["tcp"]), timeout=2.0)
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socket.settimeout(0.02)
        else:
            import serial

            self.serial = serial.Serial(where["rtu"], baudrate=baud, parity=parity, bytesize=8, stopbits=1,
                                        timeout=0.02)

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
        if self.serial is not None:
            self.serial.close()

    def _read(self) -> bytes:
        if self.serial is not None:
            return self.serial.read(4096)
        try:
            return self.socket.recv(4096)
        except socket.timeout:
            return b""

    def exchange(self, request: bytes, frames: int = 1, complete=None, timeout: float = 1.0,
                 settle: float = 0.03) -> bytes:
        """Send request; read until `complete(buffer)` counts `frames` frames (complete: a function of the
        buffer returning the number of frames in it) and then `settle` s of silence, or until `timeout` s.
        frames=0: read for the whole timeout (silence expected)."""
        if self.serial is not None:
            self.serial.reset_input_buffer()
            self.serial.write(request)
            self.serial.flush()
        else:
            self.socket.sendall(request)
        buffer = b""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            chunk = self._read()
            if chunk:
                buffer += chunk
                quiet_since = None
                continue
            if frames and complete is not None and complete(buffer) >= frames:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    break
        return buffer

    def __enter__(self) -> "MeterLine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
