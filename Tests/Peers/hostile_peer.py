#!/usr/bin/env python3
"""A hostile Modbus peer: answers read requests (any function) of a Modbus master wrongly, on purpose.

    hostile_peer.py (--tcp PORT | --rtu DEVICE) --mode MODE [--seed N]

Prints READY on stdout when it serves. Modes (TCP and RTU unless noted):
  ok              correct answers (registers hold 0x1234; bits are 1): the control
  random          1-40 random bytes per request
  wrong_length    TCP: MBAP length field off by +3; RTU: one byte more than the frame has (good CRC over it)
  wrong_tid       TCP: another transaction id (RTU: as wrong_unit)
  wrong_unit      the answer carries unit + 1
  wrong_function  the answer carries another function code
  byte_count      the byte count disagrees with the frame (TCP: MBAP length matches the real PDU)
  exception       exception answers with random codes, 0 and > 11 included
  exception0      exception answers with code 0
  truncated       the first part of a good answer, then nothing
  garbage         1 MB of random bytes once a request came, then silence
  close_mid       TCP: half an answer, then close; RTU: half an answer
  silent          accepts / reads requests and never answers
  trickle         an answer of 125 registers (to any read), one byte every 0.4 s
  echo            sends the request back
  accept_close    TCP: accepts and closes at once (RTU: as silent)
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import sys
import termios
import threading
import time
import tty

MODES = ("ok random wrong_length wrong_tid wrong_unit wrong_function byte_count exception exception0 truncated "
         "garbage close_mid silent trickle echo accept_close").split()


def crc16(data: bytes) -> bytes:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes((crc & 0xFF, crc >> 8))


def good_pdu(function: int, body: bytes) -> bytes:
    """The correct answer PDU to a request PDU (function + body)."""
    if function in (1, 2, 3, 4) and len(body) >= 4:
        count = int.from_bytes(body[2:4], "big")
        if function in (3, 4):
            data = b"\x12\x34" * count
        else:
            data = b"\xff" * ((count + 7) // 8)
        return bytes((function, len(data) & 0xFF)) + data
    return bytes((function,)) + body[:4]  # writes: echo address and value/quantity


class Hostile:
    def __init__(self, mode: str, seed: int):
        self.mode = mode
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def answer(self, unit: int, function: int, body: bytes, framing) -> tuple[bytes, str]:
        """(bytes to send, how): how is "send", "trickle", "close_after", "garbage"."""
        m, rng = self.mode, self.rng
        with self.lock:
            if m == "random":
                return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 41))), "send"
            if m in ("silent", "accept_close"):
                return b"", "send"
            if m == "garbage":
                return rng.randbytes(1 << 20), "garbage"
            if m == "echo":
                return framing(unit, bytes((function,)) + body, echo=True), "send"
            if m == "trickle":  # a well-formed answer to the longest read, 1 byte / 0.4 s: 100 s in all
                return framing(unit, good_pdu(3, b"\0\0\0\x7d")), "trickle"
            pdu = good_pdu(function, body)
            if m in ("exception", "exception0"):
                code = 0 if m == "exception0" else rng.choice([0, 1, 2, 3, 4, 6, 9, 11, 12, 13, 99, 255])
                return framing(unit, bytes((function | 0x80, code))), "send"
            if m == "wrong_unit" or (m == "wrong_tid" and framing.rtu):
                return framing((unit + 1) & 0xFF, pdu), "send"
            if m == "wrong_function":
                return framing(unit, bytes((function % 4 + 1,)) + pdu[1:]), "send"
            if m == "byte_count":
                return framing(unit, pdu[:1] + bytes(((pdu[1] + 2) & 0xFF,)) + pdu[2:]), "send"
            if m == "wrong_length":
                return framing(unit, pdu, length_delta=3), "send"
            if m == "wrong_tid":
                return framing(unit, pdu, tid_delta=1), "send"
            frame = framing(unit, pdu)
            if m == "truncated":
                return frame[: max(1, len(frame) - 2)], "send"
            if m == "close_mid":
                return frame[: len(frame) // 2], "close_after"
            return frame, "send"


def send_answer(write, data: bytes, how: str, stopping: threading.Event) -> None:
    if how == "trickle":
        for i in range(len(data)):
            write(data[i:i + 1])
            if stopping.wait(0.4):
                return
    elif data:
        write(data)


# ------------------------------------------------------------------------------------------------------

class TcpFraming:
    rtu = False

    def __init__(self, tid: int):
        self.tid = tid

    def __call__(self, unit: int, pdu: bytes, echo: bool = False, length_delta: int = 0, tid_delta: int = 0):
        if echo:
            return self.request
        return ((self.tid + tid_delta) & 0xFFFF).to_bytes(2, "big") + b"\0\0" + \
            (len(pdu) + 1 + length_delta).to_bytes(2, "big") + bytes((unit,)) + pdu


def recv_exact(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve_tcp_connection(conn: socket.socket, hostile: Hostile, stopping: threading.Event) -> None:
    try:
        if hostile.mode == "accept_close":
            return
        while not stopping.is_set():
            header = recv_exact(conn, 7)
            if header is None:
                return
            length = int.from_bytes(header[4:6], "big")
            rest = recv_exact(conn, max(0, length - 1))
            if rest is None or not rest:
                return
            framing = TcpFraming(int.from_bytes(header[0:2], "big"))
            framing.request = header + rest
            data, how = hostile.answer(header[6], rest[0], rest[1:], framing)
            send_answer(conn.sendall, data, how, stopping)
            if how == "close_after":
                return
    except OSError:
        return
    finally:
        conn.close()


def serve_tcp(port: int, hostile: Hostile, stopping: threading.Event) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    listener.settimeout(0.2)
    print("READY", flush=True)
    while not stopping.is_set():
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_tcp_connection, args=(conn, hostile, stopping), daemon=True).start()


# ------------------------------------------------------------------------------------------------------

class RtuFraming:
    rtu = True

    def __call__(self, unit: int, pdu: bytes, echo: bool = False, length_delta: int = 0, tid_delta: int = 0):
        if echo:
            return self.request
        body = bytes((unit,)) + pdu + (b"\0" * length_delta if length_delta > 0 else b"")
        return body + crc16(body)


def serve_rtu(device: str, hostile: Hostile, stopping: threading.Event) -> None:
    fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 0, 1  # reads return after 0.1 s of silence
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    print("READY", flush=True)

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    pending = b""
    while not stopping.is_set():
        chunk = os.read(fd, 256)
        if not chunk:
            pending = b""  # silence: a frame (or garbage) ended
            continue
        pending += chunk
        # Requests of a master: unit, function, 4 bytes, CRC (reads and single writes); longer writes are
        # taken as 8 bytes too (the rest is dropped at the next silence).
        while len(pending) >= 8:
            frame, pending = pending[:8], pending[8:]
            framing = RtuFraming()
            framing.request = frame
            data, how = hostile.answer(frame[0], frame[1], frame[2:6], framing)
            try:
                send_answer(write, data, how, stopping)
            except OSError:
                return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", type=int)
    where.add_argument("--rtu")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    hostile = Hostile(args.mode, args.seed)
    try:
        if args.tcp is not None:
            serve_tcp(args.tcp, hostile, stopping)
        else:
            serve_rtu(args.rtu, hostile, stopping)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
