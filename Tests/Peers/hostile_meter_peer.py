#!/usr/bin/env python3
"""A hostile meter peer: answers DL/T 645-2007 or CJ/T 188 read requests of a master wrongly, on purpose.

    hostile_meter_peer.py (--tcp PORT | --rtu DEVICE) --protocol dlt645|cjt188 --mode MODE --address DIGITS
                          [--meter-type 0x10] [--healthy DIGITS] [--other-address DIGITS] [--preamble N]
                          [--late-ms MS]
                          [--seed N] [--verbose]

Prints READY on stdout when it serves. The hostile meter answers requests to --address (or the wildcard) as
MODE says; --healthy adds a second meter on the same line (same connection) that always answers correctly,
to show that the line goes on. Frames follow docs/meter-protocols.md and are built with meter_frames.py.

Values the meters hold (mode ok, and the healthy meter):
  DL/T 645-2007  energies (DI3 = 00, 4 bytes XXXXXX.XX): 123456.78 for 00000000, else 1000 + DI2 + DI0/100;
                 voltages 0201xx00 220.1 V; currents 0202xx00 5.123 A; other identifiers: abnormal reply,
                 error byte 02 (no requested data). Follow-up reads (C 0x12) of a meter that said nothing
                 follows: abnormal, error byte 01.
  CJ/T 188       DI 901F: water, gas and other meters current flow 1234.56 m3, settlement flow 1200.00 m3,
                 time 2026-12-02 08:15:30, ST 00 00 (valve open); heat meters (type 0x2X) settlement heat
                 1500.25 kWh, heat 1534.50 kWh, power 12.34 kW, flow rate 1.2345 m3/h, flow 567.89 m3,
                 supply 65.43, return 45.21 degC, 8760 h, the same time and status. Other DIs: abnormal, ST 00 00.

Modes (both protocols unless noted; TCP-only modes behave as `silent` on RTU):
  ok                      correct replies: the control
  random                  1-40 random bytes per request
  bad_checksum            the correct reply with its checksum + 1
  bad_end                 the correct reply ending with 0x17 instead of 0x16
  wrong_address           the correct reply from another meter's address (--other-address)
  wrong_identifier        DL/T 645: the reply for another DI (DI2 ^ 1); CJ/T 188: DI 902F instead of 901F
  wrong_ser               CJ/T 188: the reply's SER is the request's + 1
  wrong_meter_type        CJ/T 188: the reply's type byte T is another class's (0x10 <-> 0x30)
  wrong_data_length       CJ/T 188: the 901F data is 18, 20 or 43/19 bytes (the other class's length), in turn
  not_a_reply             the correct reply's data with the direction bit clear (C 0x11 / 0x01)
  abnormal                abnormal replies, request n gets error byte n % 256 (DL/T 645: C 0xD1, every value
                          0..255 in turn); CJ/T 188: C 0xC1, ST0 = n % 256, ST1 = 255 - n % 256
  sentinel                the value bytes are all 0xFF (CJ/T 188: both flows, units 2C kept)
  non_bcd                 a value byte with a nibble above 9 (0x3A as the least significant byte)
  long_length             a reply whose length byte claims 20 bytes more than sent, then silence
  length_over             DL/T 645: a reply with L = 0xFF (above the 200-byte limit) and 255 data bytes
  more_follows            DL/T 645: C 0xB1 (more frames follow) and every follow-up (C 0x12) is answered
                          C 0xB2, more frames follow, forever
  slow_follows            DL/T 645: as more_follows, each reply --late-ms after its request
  truncated_continuation  DL/T 645: C 0xB1, then the follow-up reply carries the DI only (no value, no
                          frame sequence byte)
  two_replies             the correct reply, then a second reply to the same request from --other-address
  late                    the correct reply, --late-ms after the request (after the master's response timeout)
  second_late             the correct reply, and --late-ms later a second one from --other-address
  noise_reply             1-1000 random bytes, then the correct reply (in one write)
  mutate                  the correct reply with one byte after its preamble replaced by another (random
                          position and value): the checksum cannot match, nothing of it may pass as a value
  garbage                 1 MB of random bytes after the first request, then silence
  trickle                 the correct reply, one byte every 0.4 s (one at a time; requests meanwhile: silence)
  echo                    the request, sent back
  silent                  never answers
  close_mid               TCP: half the reply, then close (RTU: half the reply)
  accept_close            TCP: accepts and closes at once (RTU: silent)

--verbose logs each request on stderr: "hostile_meter_peer: request ADDR C=HH DI=HEX SEQ=N -> what".
"""
from __future__ import annotations

import argparse
import os
import random
import select
import signal
import socket
import sys
import threading
import time
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from meter_frames import (address_bytes, address_digits, address_matches, bcd_encode, checksum,  # noqa: E402
                          cjt_encode, cjt_split, dlt_encode)

BOTH = ("ok random bad_checksum bad_end wrong_address wrong_identifier not_a_reply abnormal sentinel non_bcd "
        "long_length two_replies late second_late noise_reply mutate garbage trickle echo silent close_mid accept_close").split()
DLT645_ONLY = ["length_over", "more_follows", "slow_follows", "truncated_continuation"]
CJT188_ONLY = ["wrong_ser", "wrong_meter_type", "wrong_data_length"]
MODES = {"dlt645": BOTH + DLT645_ONLY, "cjt188": BOTH + CJT188_ONLY}
TCP_ONLY = {"close_mid", "accept_close"}
GARBAGE_BYTES = 1 << 20
TRICKLE_S = 0.4
NAME = "hostile_meter_peer"


# ----------------------------------------------------------------------------------------------------------
# Requests out of a byte stream
# ----------------------------------------------------------------------------------------------------------

def dlt_split(raw: bytes) -> tuple[list[tuple[int, int]], int]:
    """(start, end) of each valid DL/T 645 frame in raw, and where an unfinished frame may begin (len(raw) if
    none), as meter_frames.cjt_split does for CJ/T 188."""
    spans, i, keep = [], 0, None
    while True:
        start = raw.find(b"\x68", i)
        if start < 0:
            break
        if len(raw) < start + 10:
            keep = start if keep is None else keep
            i = start + 1
            continue
        if raw[start + 7] != 0x68:
            i = start + 1
            continue
        end = start + 10 + raw[start + 9]
        if len(raw) < end + 2:
            keep = start if keep is None else keep
        elif raw[end] == checksum(raw[start:end]) and raw[end + 1] == 0x16:
            spans.append((start, end + 2))
            keep = None
            i = end + 2
            continue
        i = start + 1
    return spans, len(raw) if keep is None else keep


class Request:
    """A request frame as the meters see it."""

    def __init__(self, raw: bytes, protocol: str):
        self.raw = raw
        if protocol == "dlt645":
            self.meter_type = None
            self.address = raw[1:7]
            self.control = raw[8]
            self.data = bytes((b - 0x33) & 0xFF for b in raw[10:-2])
            self.di_bytes = self.data[:4]
            self.di = int.from_bytes(self.di_bytes, "little") if len(self.data) >= 4 else -1
            self.seq = self.data[4] if self.control == 0x12 and len(self.data) >= 5 else -1
        else:
            self.meter_type = raw[1]
            self.address = raw[2:9]
            self.control = raw[9]
            self.data = raw[11:-2]
            self.di_bytes = self.data[:2]
            self.di = self.data[0] | self.data[1] << 8 if len(self.data) >= 2 else -1
            self.seq = self.data[2] if len(self.data) >= 3 else -1

    @property
    def is_request(self) -> bool:
        return not self.control & 0x80


# ----------------------------------------------------------------------------------------------------------
# Correct replies
# ----------------------------------------------------------------------------------------------------------

def dlt_value(di: int) -> bytes | None:
    """The value bytes (LSB first, without the +0x33) a meter holds for DI, None for an unknown DI."""
    if di >> 24 == 0x00:
        value = 123456.78 if di == 0 else 1000 + (di >> 16 & 0xFF) + (di & 0xFF) / 100
        return bcd_encode(value, 4, 2)
    if di & 0xFFFF00FF == 0x02010000:
        return bcd_encode(220.1, 2, 1)
    if di & 0xFFFF00FF == 0x02020000:
        return bcd_encode(5.123, 3, 3, signed=True)
    return None


WATER_TIME = bytes((0x30, 0x15, 0x08, 0x02, 0x12, 0x26, 0x20))  # 2026-12-02 08:15:30, least significant first


def cjt_payload(meter_type: int, flow: bytes | None = None) -> bytes:
    """The 901F data after DI and SER: 19 bytes (water, gas, other) or 43 (heat). flow: the 4 bytes of each
    flow value instead of the table's (sentinel, non-BCD)."""
    if meter_type >> 4 == 2:
        heat = (flow or bcd_encode(1500.25, 4, 2)) + b"\x05" + (flow or bcd_encode(1534.5, 4, 2)) + b"\x05"
        heat += bcd_encode(12.34, 4, 2) + b"\x17" + bcd_encode(1.2345, 4, 4) + b"\x35"
        heat += bcd_encode(567.89, 4, 2) + b"\x2C"
        heat += bcd_encode(65.43, 3, 2) + bcd_encode(45.21, 3, 2) + bcd_encode(8760, 3, 0)
        return heat + WATER_TIME + b"\x00\x00"
    return ((flow or bcd_encode(1234.56, 4, 2)) + b"\x2C" + (flow or bcd_encode(1200.0, 4, 2)) + b"\x2C"
            + WATER_TIME + b"\x00\x00")


class Meter:
    """One meter of the line: its address (as on the wire), its type (CJ/T 188) and its mode."""

    def __init__(self, protocol: str, digits: str, meter_type: int, mode: str, preamble: int):
        self.protocol = protocol
        self.address = address_bytes(digits, 6 if protocol == "dlt645" else 7)
        self.meter_type = meter_type
        self.mode = mode
        self.preamble = preamble
        self.requests = 0

    def addressed(self, request: Request) -> bool:
        if not address_matches(request.address, self.address):
            return False
        return request.meter_type is None or request.meter_type in (self.meter_type, 0xAA)

    def frame(self, control: int, data: bytes, address: bytes | None = None, meter_type: int | None = None) -> bytes:
        """A frame with this meter's preamble (data without the DL/T 645 +0x33)."""
        address = self.address if address is None else address
        if self.protocol == "dlt645":
            return dlt_encode(address, control, data, self.preamble)
        return cjt_encode(self.meter_type if meter_type is None else meter_type, address, control, data, self.preamble)

    def correct(self, request: Request, address: bytes | None = None) -> bytes:
        """The correct reply to `request` (from `address` instead of the meter's own, if given)."""
        if self.protocol == "dlt645":
            value = dlt_value(request.di)
            if request.control == 0x11 and value is not None:
                return self.frame(0x91, request.di_bytes + value, address)
            if request.control == 0x12:
                return self.frame(0xD2, b"\x01", address)
            return self.frame(request.control | 0xC0, b"\x02", address)
        if request.control == 0x01 and request.di == 0x901F:
            return self.frame(0x81, request.di_bytes + bytes((request.seq,)) + cjt_payload(self.meter_type), address)
        return self.frame(request.control | 0xC0, bytes((request.seq & 0xFF, 0, 0)), address)


# ----------------------------------------------------------------------------------------------------------
# Hostile replies
# ----------------------------------------------------------------------------------------------------------

class Hostile:
    """Chooses what goes on the wire for each request. Thread-safe (one lock)."""

    def __init__(self, args):
        self.protocol = args.protocol
        self.mode = args.mode
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.verbose = args.verbose
        kind = "dlt645" if args.protocol == "dlt645" else "cjt188"
        size = 12 if kind == "dlt645" else 14
        self.meter = Meter(kind, args.address, args.meter_type, args.mode, args.preamble)
        self.healthy = Meter(kind, args.healthy, args.meter_type, "ok", args.preamble) if args.healthy else None
        other = args.other_address or (args.address[:-1] + str((int(args.address[-1]) + 5) % 10))
        if len(other) != size:
            raise SystemExit(f"--other-address must have {size} digits")
        self.other = address_bytes(other, size // 2)
        self.garbage_sent = False
        self.trickling = False
        self.late_s = args.late_ms / 1000

    def log(self, request: Request, meter: Meter, what: str) -> None:
        if self.verbose:
            print(f"{NAME}: request {address_digits(meter.address)} C={request.control:02X} "
                  f"DI={request.di & 0xFFFFFFFF:0{8 if self.protocol == 'dlt645' else 4}X} SEQ={request.seq} -> {what}",
                  file=sys.stderr, flush=True)

    def answer(self, request: Request) -> list[tuple[bytes, str]]:
        """What to do for a request: a list of (bytes, how) with how "send", "trickle", "late", "close_after",
        "garbage" (bytes to send in chunks)."""
        if not request.is_request:
            return []
        with self.lock:
            if self.healthy is not None and self.healthy.addressed(request):
                self.healthy.requests += 1
                self.log(request, self.healthy, "healthy")
                return [(self.healthy.correct(request), "send")]
            if not self.meter.addressed(request):
                return []
            self.meter.requests += 1
            out = self._hostile(request)
            self.log(request, self.meter, f"{self.mode} {sum(len(b) for b, _ in out)} bytes")
            return out

    def _hostile(self, request: Request) -> list[tuple[bytes, str]]:
        m, rng, meter = self.mode, self.rng, self.meter
        dlt = self.protocol == "dlt645"
        n = meter.requests - 1  # this request's number, from 0
        if m in ("silent", "accept_close"):
            return []
        if m == "random":
            return [(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 41))), "send")]
        if m == "garbage":
            if self.garbage_sent:
                return []
            self.garbage_sent = True
            return [(rng.randbytes(GARBAGE_BYTES), "garbage")]
        if m == "echo":
            return [(request.raw, "send")]
        good = meter.correct(request)
        if m == "ok":
            return [(good, "send")]
        if m == "trickle":
            if self.trickling:
                return []
            self.trickling = True
            return [(good, "trickle")]
        if m == "bad_checksum":
            return [(good[:-2] + bytes(((good[-2] + 1) & 0xFF, 0x16)), "send")]
        if m == "bad_end":
            return [(good[:-1] + b"\x17", "send")]
        if m == "wrong_address":
            return [(meter.correct(request, address=self.other), "send")]
        if m == "two_replies":
            return [(good + meter.correct(request, address=self.other), "send")]
        if m == "late":
            return [(good, "late")]
        if m == "noise_reply":
            return [(rng.randbytes(rng.randrange(1, 1001)) + good, "send")]
        if m == "second_late":
            return [(good, "send"), (meter.correct(request, address=self.other), "late")]
        if m == "close_mid":
            return [(good[: len(good) // 2], "close_after")]
        if m == "mutate":
            spoiled = bytearray(good)
            at = rng.randrange(meter.preamble, len(good))
            spoiled[at] = (spoiled[at] + rng.randrange(1, 256)) & 0xFF
            return [(bytes(spoiled), "send")]
        if dlt:
            return self._dlt645(request, good, n)
        return self._cjt188(request, good, n)

    def _dlt645(self, request: Request, good: bytes, n: int) -> list[tuple[bytes, str]]:
        m, meter = self.mode, self.meter
        value = dlt_value(request.di)
        if request.control not in (0x11, 0x12) or value is None:
            return [(good, "send")]
        di = request.di_bytes
        if m == "wrong_identifier":
            other = (request.di ^ 0x00010000).to_bytes(4, "little")
            return [(meter.frame(0x91, other + (dlt_value(request.di ^ 0x00010000) or value)), "send")]
        if m == "not_a_reply":
            return [(meter.frame(0x11, di + value), "send")]
        if m == "abnormal":
            return [(meter.frame(request.control | 0xC0, bytes((n % 256,))), "send")]
        if m == "sentinel":
            return [(meter.frame(0x91, di + b"\xFF" * len(value)), "send")]
        if m == "non_bcd":
            return [(meter.frame(0x91, di + b"\x3A" + value[1:]), "send")]
        if m == "long_length":
            frame = meter.frame(0x91, di + value)
            body = bytearray(frame[:-2])
            body[meter.preamble + 9] += 20  # L claims 20 more bytes than come
            return [(bytes(body), "send")]
        if m == "length_over":
            data = di + value + bytes(self.rng.randrange(256) for _ in range(255 - len(di) - len(value)))
            body = bytes((0x68,)) + meter.address + bytes((0x68, 0x91, 0xFF)) + bytes((b + 0x33) & 0xFF for b in data)
            return [(b"\xFE" * meter.preamble + body + bytes((checksum(body), 0x16)), "send")]
        if m in ("more_follows", "slow_follows"):
            how = "late" if m == "slow_follows" else "send"
            if request.control == 0x11:
                return [(meter.frame(0xB1, di + value), how)]
            seq = request.data[4:5] or b"\x00"
            return [(meter.frame(0xB2, di + value + seq), how)]
        if m == "truncated_continuation":
            if request.control == 0x11:
                return [(meter.frame(0xB1, di + value), "send")]
            return [(meter.frame(0x92, di), "send")]
        return [(good, "send")]

    def _cjt188(self, request: Request, good: bytes, n: int) -> list[tuple[bytes, str]]:
        m, meter = self.mode, self.meter
        if request.control != 0x01 or request.di != 0x901F:
            return [(good, "send")]
        head = request.di_bytes + bytes((request.seq,))
        payload = cjt_payload(meter.meter_type)
        if m == "wrong_identifier":
            return [(meter.frame(0x81, bytes((head[0] ^ 0x30,)) + head[1:] + payload), "send")]
        if m == "wrong_ser":
            return [(meter.frame(0x81, head[:2] + bytes(((request.seq + 1) & 0xFF,)) + payload), "send")]
        if m == "wrong_meter_type":
            other = 0x30 if meter.meter_type >> 4 != 3 else 0x10
            return [(meter.frame(0x81, head + payload, meter_type=other | (meter.meter_type & 0x0F)), "send")]
        if m == "wrong_data_length":
            other_class = cjt_payload(0x10 if meter.meter_type >> 4 == 2 else 0x20)
            choice = [payload[:-1], payload + b"\x00", other_class][n % 3]
            return [(meter.frame(0x81, head + choice), "send")]
        if m == "not_a_reply":
            return [(meter.frame(0x01, head + payload), "send")]
        if m == "abnormal":
            return [(meter.frame(0xC1, bytes((request.seq, n % 256, 255 - n % 256))), "send")]
        if m == "sentinel":
            return [(meter.frame(0x81, head + cjt_payload(meter.meter_type, flow=b"\xFF" * 4)), "send")]
        if m == "non_bcd":
            return [(meter.frame(0x81, head + cjt_payload(meter.meter_type, flow=b"\x3A\x34\x12\x00")), "send")]
        if m == "long_length":
            frame = meter.frame(0x81, head + payload)
            body = bytearray(frame[:-2])
            body[meter.preamble + 10] += 20
            return [(bytes(body), "send")]
        return [(good, "send")]

    def trickle_done(self) -> None:
        with self.lock:
            self.trickling = False


# ----------------------------------------------------------------------------------------------------------
# The line: sending, TCP, RTU
# ----------------------------------------------------------------------------------------------------------

class Sender:
    """Writes replies; trickles and garbage go out from a thread of their own (the line goes on meanwhile:
    the healthy meter answers), chunk by chunk under the write lock."""

    def __init__(self, write, hostile: Hostile, stopping: threading.Event):
        self.write_raw = write
        self.hostile = hostile
        self.stopping = stopping
        self.lock = threading.Lock()
        self.closed = threading.Event()

    def write(self, data: bytes) -> None:
        with self.lock:
            self.write_raw(data)

    def send(self, replies: list[tuple[bytes, str]]) -> bool:
        """False when the connection is to be closed."""
        for data, how in replies:
            if how == "send":
                self.write(data)
            elif how == "close_after":
                self.write(data)
                return False
            elif how == "trickle":
                threading.Thread(target=self._trickle, args=(data,), daemon=True).start()
            elif how == "garbage":
                threading.Thread(target=self._garbage, args=(data,), daemon=True).start()
            elif how == "late":
                threading.Thread(target=self._late, args=(data,), daemon=True).start()
        return True

    def _late(self, data: bytes) -> None:
        if self.stopping.wait(self.hostile.late_s) or self.closed.is_set():
            return
        try:
            self.write(data)
        except OSError:
            return

    def _trickle(self, data: bytes) -> None:
        try:
            for i in range(len(data)):
                if self.closed.is_set():
                    return
                self.write(data[i:i + 1])
                if self.stopping.wait(TRICKLE_S):
                    return
        except OSError:
            return
        finally:
            self.hostile.trickle_done()

    def _garbage(self, data: bytes) -> None:
        try:
            for i in range(0, len(data), 4096):
                if self.closed.is_set() or self.stopping.is_set():
                    return
                self.write(data[i:i + 4096])
        except OSError:
            return


def feed(buffer: bytearray, chunk: bytes, protocol: str, hostile: Hostile, sender: Sender) -> tuple[bytearray, bool]:
    """Append chunk, answer every complete request; (the rest of the buffer, keep the connection)."""
    buffer += chunk
    split = dlt_split if protocol == "dlt645" else cjt_split
    spans, keep = split(bytes(buffer))
    for start, end in spans:
        if not sender.send(hostile.answer(Request(bytes(buffer[start:end]), protocol))):
            return bytearray(), False
    return bytearray(buffer[keep:][-4096:]), True


def serve_tcp(port: int, hostile: Hostile, stopping: threading.Event) -> int:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as e:
        print(f"{NAME}: cannot listen on 127.0.0.1:{port}: {e.strerror}", file=sys.stderr)
        return 1
    listener.listen(16)
    listener.settimeout(0.1)

    def connection(conn: socket.socket) -> None:
        def write(data: bytes) -> None:
            view = memoryview(data)
            while view:
                if sender.closed.is_set() or stopping.is_set():
                    return
                try:
                    view = view[conn.send(view):]
                except socket.timeout:
                    continue

        sender = Sender(write, hostile, stopping)
        try:
            if hostile.mode == "accept_close":
                return
            conn.settimeout(0.1)
            buffer = bytearray()
            while not stopping.is_set():
                try:
                    chunk = conn.recv(4096)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                buffer, keep = feed(buffer, chunk, hostile.protocol, hostile, sender)
                if not keep:
                    return
        except OSError:
            return
        finally:
            sender.closed.set()
            with sender.lock:
                conn.close()

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


def serve_rtu(device: str, hostile: Hostile, stopping: threading.Event) -> int:
    try:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
    except OSError as e:
        print(f"{NAME}: cannot open {device}: {e.strerror}", file=sys.stderr)
        return 1
    tty.setraw(fd)
    os.set_blocking(fd, False)  # a write that cannot go on must not block stopping

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            if sender.closed.is_set() or stopping.is_set():
                return
            if select.select([], [fd], [], 0.1)[1]:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    continue

    sender = Sender(write, hostile, stopping)
    print("READY", flush=True)
    buffer, quiet_since = bytearray(), time.monotonic()
    try:
        while not stopping.is_set():
            try:
                chunk = os.read(fd, 4096) if select.select([fd], [], [], 0.1)[0] else b""
            except BlockingIOError:
                chunk = b""
            except OSError as e:
                print(f"{NAME}: {device}: {e.strerror}", file=sys.stderr)
                return 1
            if not chunk:
                if buffer and time.monotonic() - quiet_since > 1.0:
                    buffer = bytearray()  # an unfinished frame: dropped after 1 s of silence
                continue
            quiet_since = time.monotonic()
            buffer, _ = feed(buffer, chunk, hostile.protocol, hostile, sender)  # close_mid: half a reply only
    finally:
        sender.closed.set()
        with sender.lock:
            os.close(fd)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", type=int, metavar="PORT")
    where.add_argument("--rtu", metavar="DEVICE")
    parser.add_argument("--protocol", choices=("dlt645", "cjt188"), required=True)
    parser.add_argument("--mode", required=True)
    parser.add_argument("--address", required=True, help="the hostile meter: 12 digits (DL/T 645) or 14 (CJ/T 188)")
    parser.add_argument("--meter-type", type=lambda s: int(s, 0), default=0x10, help="CJ/T 188 type byte T")
    parser.add_argument("--healthy", help="a second meter's address: it always answers correctly")
    parser.add_argument("--other-address", help="the address of wrong_address and two_replies (default: the "
                                                "address with its last digit + 5)")
    parser.add_argument("--preamble", type=int, default=2, help="FE bytes before each reply (default 2)")
    parser.add_argument("--late-ms", type=int, default=250, help="late, second_late: the delay (default 250)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.mode not in MODES[args.protocol]:
        parser.error(f"--mode for {args.protocol}: one of {' '.join(MODES[args.protocol])}")
    size = 12 if args.protocol == "dlt645" else 14
    for digits in (args.address, args.healthy):
        if digits is not None and (len(digits) != size or not digits.isdigit()):
            parser.error(f"{args.protocol} addresses have {size} digits: {digits!r}")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    hostile = Hostile(args)
    if args.tcp is not None:
        return serve_tcp(args.tcp, hostile, stopping)
    return serve_rtu(args.rtu, hostile, stopping)


if __name__ == "__main__":
    sys.exit(main())
