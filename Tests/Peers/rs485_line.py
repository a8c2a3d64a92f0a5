#!/usr/bin/env python3
"""rs485_line - one shared RS-485 line out of pty pairs: every byte written by one party reaches all others.

    rs485_line.py --port DEVICE --port DEVICE [--port DEVICE ...]

Each DEVICE is the relay's end of a socat pty pair; the other ends go to the master (EdgeCore, a test client)
and to the slaves (modbus_server, pymodbus_server.py, dlt645_peer.py, cjt188_peer.py). As on a real bus, the
slaves hear the master's requests and each other's replies; bytes are forwarded as read (no timing, no
collisions: two slaves answering at once arrive one after the other). Prints READY once all ports are open;
SIGTERM or SIGINT: exits 0; 1: a port cannot be opened or failed.
"""
from __future__ import annotations

import argparse
import os
import select
import sys
import tty

from meter_peer_common import install_stop_handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", action="append", required=True, metavar="DEVICE")
    args = parser.parse_args()
    if len(args.port) < 2:
        print("rs485_line: give at least two --port", file=sys.stderr)
        return 2
    stopping = install_stop_handler()
    fds = []
    try:
        for device in args.port:
            fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(fd)
            fds.append(fd)
    except OSError as e:
        print(f"rs485_line: {e}", file=sys.stderr)
        return 1
    print("READY", flush=True)
    while not stopping.is_set():
        try:
            ready, _, _ = select.select(fds, [], [], 0.1)
        except InterruptedError:
            continue
        for fd in ready:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                continue
            except OSError as e:
                print(f"rs485_line: {e}", file=sys.stderr)
                return 1
            for other in fds:
                if other != fd:
                    view = memoryview(data)
                    while view:
                        try:
                            view = view[os.write(other, view):]
                        except BlockingIOError:
                            select.select([], [other], [], 0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
