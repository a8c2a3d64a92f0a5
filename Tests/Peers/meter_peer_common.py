"""What dlt645_peer.py and cjt188_peer.py share: the command-line options of the line and of the hostile cases,
value tables, the reply shaping (FE preamble, noise, bad checksum, delay), the request log, and a small
serial / TCP server (used by cjt188_peer.py; dlt645_peer.py uses the dlt645 package's servers).
"""
from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
import time


def add_line_options(parser: argparse.ArgumentParser, default_preamble: int) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", type=int, metavar="PORT", help="listen on 127.0.0.1:PORT (transparent TCP)")
    where.add_argument("--rtu", metavar="DEVICE", help="serve on a serial device (one end of a socat pty pair)")
    parser.add_argument("--baud", type=int, default=2400)
    parser.add_argument("--parity", choices="NEO", default="E")
    parser.add_argument("--data-bits", type=int, choices=(7, 8), default=8)
    parser.add_argument("--stop-bits", type=int, choices=(1, 2), default=1)
    parser.add_argument("--preamble", type=int, default=default_preamble, metavar="N",
                        help=f"FE bytes before every reply (default {default_preamble})")
    parser.add_argument("--noise", default="", metavar="HEX",
                        help='bytes sent before every reply (before its FE preamble), e.g. "00 FF 68 11"')
    parser.add_argument("--dead", action="append", default=[], metavar="ADDR",
                        help="this meter never answers (repeatable)")
    parser.add_argument("--bad-checksum-every", type=int, default=0, metavar="N",
                        help="the Nth, 2Nth, ... reply sent has its checksum off by one")
    parser.add_argument("--delay-ms", type=int, default=0, help="wait before every reply")
    parser.add_argument("--verbose", action="store_true", help="one line per request on stderr")


def parse_hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.replace(" ", "").replace(",", ""))
    except ValueError:
        raise SystemExit(f"{what}: not hex bytes: {text!r}")


def read_table(path: str) -> dict[str, str]:
    """A value table: one "KEY VALUE" per line, '#' comments, blank lines ignored; a later line replaces an
    earlier one."""
    table: dict[str, str] = {}
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise SystemExit(f"{path}: {e.strerror}")
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise SystemExit(f"{path}:{number}: want KEY VALUE, got {line!r}")
        table[parts[0].upper()] = parts[1].strip()
    return table


class Shaper:
    """Turns a correct reply into what goes on the wire under the hostile options, and logs requests."""

    def __init__(self, args, name: str, checksum_at_end: int = 2):
        self.preamble = args.preamble
        self.noise = parse_hex(args.noise, "--noise")
        self.bad_every = args.bad_checksum_every
        self.delay = args.delay_ms / 1000
        self.verbose = args.verbose
        self.name = name
        self.replies = 0
        self.lock = threading.Lock()
        if self.preamble < 0 or self.bad_every < 0 or self.delay < 0:
            raise SystemExit("--preamble, --bad-checksum-every and --delay-ms must be >= 0")

    def log(self, text: str) -> None:
        if self.verbose:
            print(f"{self.name}: {text}", file=sys.stderr, flush=True)

    def shape(self, frames: list[bytes]) -> bytes:
        """frames: correct frames without preamble. Returns noise + (FE * preamble + frame) for each."""
        out = bytearray(self.noise)
        with self.lock:
            for frame in frames:
                self.replies += 1
                frame = bytearray(frame)
                if self.bad_every and self.replies % self.bad_every == 0:
                    frame[-2] = (frame[-2] + 1) & 0xFF
                    self.log(f"reply {self.replies}: checksum spoiled")
                out += b"\xFE" * self.preamble + frame
        if self.delay:
            time.sleep(self.delay)
        return bytes(out) if frames else b""


def run(main, name: str) -> None:
    """sys.exit(main()); a SystemExit("message") (bad usage or table) is printed and exits 2."""
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(f"{name}: {e.code}", file=sys.stderr)
            sys.exit(2)
        raise


def strip_preamble(frame: bytes) -> bytes:
    return frame.lstrip(b"\xFE")


def install_stop_handler() -> threading.Event:
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    return stopping


# ----------------------------------------------------------------------------------------------------------
# A byte-stream server for peers with their own framing (cjt188_peer.py)
# ----------------------------------------------------------------------------------------------------------

def serve_stream(args, split, handle, stopping: threading.Event, name: str) -> int:
    """Serve on --rtu or --tcp. split(buffer) -> ([(start, end) of complete frames], index of an unfinished
    frame); handle(frame bytes) -> bytes to send (b"" for none). An unfinished frame is dropped after 1 s of
    silence. Prints READY once serving; returns the exit status when `stopping` is set (0) or the device
    failed (1)."""
    lock = threading.Lock()

    def feed(buffer: bytearray, chunk: bytes, write) -> bytearray:
        buffer += chunk
        spans, keep = split(bytes(buffer))
        for start, end in spans:
            with lock:
                reply = handle(bytes(buffer[start:end]))
            if reply:
                write(reply)
        return buffer[keep:]

    if args.tcp is not None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", args.tcp))
        except OSError as e:
            print(f"{name}: cannot listen on 127.0.0.1:{args.tcp}: {e.strerror}", file=sys.stderr)
            return 1
        listener.listen(8)
        listener.settimeout(0.1)

        def connection(conn: socket.socket) -> None:
            conn.settimeout(0.1)
            buffer, last = bytearray(), time.monotonic()
            with conn:
                while not stopping.is_set():
                    try:
                        chunk = conn.recv(1024)
                    except socket.timeout:
                        if buffer and time.monotonic() - last > 1.0:
                            buffer = bytearray()
                        continue
                    except OSError:
                        return
                    if not chunk:
                        return
                    last = time.monotonic()
                    try:
                        buffer = feed(buffer, chunk, conn.sendall)
                    except OSError:
                        return

        print("READY", flush=True)
        with listener:
            while not stopping.is_set():
                try:
                    conn, _ = listener.accept()
                except socket.timeout:
                    continue
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(target=connection, args=(conn,), daemon=True).start()
        return 0

    import serial  # pyserial (Tests/Integration/requirements.txt)

    try:
        port = serial.Serial(args.rtu, baudrate=args.baud, parity=args.parity, bytesize=args.data_bits,
                             stopbits=args.stop_bits, timeout=0.05)
    except (OSError, serial.SerialException) as e:
        print(f"{name}: cannot open {args.rtu}: {e}", file=sys.stderr)
        return 1
    print("READY", flush=True)

    def write(data: bytes) -> None:
        port.write(data)
        port.flush()

    buffer, last = bytearray(), time.monotonic()
    with port:
        while not stopping.is_set():
            try:
                chunk = port.read(256)
            except (OSError, serial.SerialException) as e:
                print(f"{name}: {args.rtu}: {e}", file=sys.stderr)
                return 1
            if not chunk:
                if buffer and time.monotonic() - last > 1.0:
                    buffer = bytearray()
                continue
            last = time.monotonic()
            buffer = feed(buffer, chunk, write)
    return 0

