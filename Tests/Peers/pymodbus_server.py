#!/usr/bin/env python3
"""pymodbus_server - a Modbus TCP / RTU slave built on pymodbus 3.6, serving a register map from a text file.

An implementation independent of libmodbus (see modbus_server.c, same options and map format), for EdgeCore's
integration tests and demos.

    pymodbus_server.py --tcp PORT --map FILE [fault options]
    pymodbus_server.py --rtu DEVICE [--baud N] [--parity N|E|O] [--data-bits 7|8] [--stop-bits 1|2]
                       --map FILE [fault options]

  --tcp PORT        listen on 127.0.0.1:PORT (several clients)
  --rtu DEVICE      serve on a serial device, e.g. one end of a socat pty pair (default 9600 8N1); when the
                    device vanishes, it is re-opened every 100 ms until it is back, and READY printed again
  --map FILE        register map, format in regmap.py
  --silent-unit U   never answer unit U, even when the map has it (repeatable)
  --exception [UNIT:]TABLE:ADDR:CODE
                    every request reading or writing address ADDR of TABLE (of unit UNIT or any unit) is
                    answered with Modbus exception CODE; repeatable, first match wins
  --delay-ms MS     wait MS milliseconds before answering
  --verbose         pymodbus debug log on stderr

Addresses in the map are protocol addresses: the datastore below is indexed by the address of the request
itself (no +1 offset as pymodbus' ModbusSlaveContext applies). Prints READY on stdout once serving; SIGTERM
or SIGINT: exits with status 0. Exit status 1: cannot listen/open; 2: bad usage or map file.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from regmap import TABLES, RegisterMap  # noqa: E402

from pymodbus.datastore import ModbusServerContext  # noqa: E402
from pymodbus.datastore.context import ModbusBaseSlaveContext  # noqa: E402
from pymodbus.framer import Framer  # noqa: E402
from pymodbus.server.async_io import (  # noqa: E402
    ModbusSerialServer,
    ModbusServerRequestHandler,
    ModbusTcpServer,
)

_TABLE_OF_CODE = {"c": "coil", "d": "discrete", "h": "holding", "i": "input"}


class MapSlaveContext(ModbusBaseSlaveContext):
    """One unit's four tables. Each table serves the addresses from its lowest to its highest listed one."""

    def __init__(self, regmap: RegisterMap, unit: int):
        self.unit = unit
        self.tables: dict[str, tuple[int, list[int]]] = {}
        for table in TABLES:
            span = regmap.span(unit, table)
            if span is not None:
                lo, hi = span
                self.tables[table] = (lo, regmap.served(unit, table, lo, hi - lo + 1))

    def _table(self, fc_as_hex: int) -> str:
        return _TABLE_OF_CODE[self.decode(fc_as_hex)]

    def reset(self):
        pass

    def validate(self, fc_as_hex, address, count=1):
        entry = self.tables.get(self._table(fc_as_hex))
        if entry is None:
            return False
        lo, values = entry
        return count >= 1 and lo <= address and address + count <= lo + len(values)

    def getValues(self, fc_as_hex, address, count=1):
        table = self._table(fc_as_hex)
        lo, values = self.tables[table]
        out = values[address - lo:address - lo + count]
        return [bool(v) for v in out] if table in ("coil", "discrete") else list(out)

    def setValues(self, fc_as_hex, address, values):
        lo, stored = self.tables[self._table(fc_as_hex)]
        for i, v in enumerate(values):
            stored[address - lo + i] = int(v)


def _ranges(request) -> list[tuple[str, int, int]]:
    """(table, first address, count) of everything a request reads or writes."""
    fc = request.function_code
    if fc in (1, 2, 3, 4):
        return [({1: "coil", 2: "discrete", 3: "holding", 4: "input"}[fc], request.address, request.count)]
    if fc == 5:
        return [("coil", request.address, 1)]
    if fc in (6, 22):
        return [("holding", request.address, 1)]
    if fc == 15:
        return [("coil", request.address, len(request.values))]
    if fc == 16:
        return [("holding", request.address, len(request.values))]
    if fc == 23:
        return [("holding", request.read_address, request.read_count),
                ("holding", request.write_address, request.write_count)]
    return []


class PeerHandler(ModbusServerRequestHandler):
    """Applies --delay-ms and --exception before pymodbus' own request execution."""

    async def _async_execute(self, request, *addr):
        options = self.server.peer_options
        if options.delay_ms:
            await asyncio.sleep(options.delay_ms / 1000)
        for unit, table, address, code in options.exception:
            if unit is not None and unit != request.slave_id:
                continue
            if any(t == table and first <= address < first + count for t, first, count in _ranges(request)):
                response = request.doException(code)
                response.transaction_id = request.transaction_id
                response.slave_id = request.slave_id
                self.server_send(response, *addr)
                return
        await super()._async_execute(request, *addr)


class PeerTcpServer(ModbusTcpServer):
    def callback_new_connection(self):
        return PeerHandler(self)


class PeerSerialServer(ModbusSerialServer):
    reopen_task: asyncio.Task | None = None

    def callback_new_connection(self):
        return PeerHandler(self)

    def on_connection_lost(self):
        """The port failed or vanished: re-open it when it is back."""
        print(f"pymodbus_server: {self.comm_params.source_address[0]} lost; re-opening", file=sys.stderr,
              flush=True)
        if self.reopen_task is None or self.reopen_task.done():
            self.reopen_task = asyncio.create_task(self._reopen())

    async def _reopen(self):
        while not self.serving.done():
            await asyncio.sleep(0.1)
            if os.path.exists(self.comm_params.source_address[0]) and await self.listen():
                print("READY", flush=True)
                return


def _exception_rule(text: str):
    parts = text.split(":")
    try:
        if len(parts) not in (3, 4):
            raise ValueError
        unit = int(parts[0]) if len(parts) == 4 else None
        table, address, code = parts[-3], int(parts[-2], 0), int(parts[-1], 0)
        if table not in TABLES or not 0 <= address <= 0xFFFF or not 1 <= code <= 255 or \
                (unit is not None and not 0 <= unit <= 255):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected [UNIT:]TABLE:ADDR:CODE") from None
    return unit, table, address, code


def _parse_args(argv):
    p = argparse.ArgumentParser(prog="pymodbus_server.py", description="Modbus TCP/RTU test slave (pymodbus)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", type=int, metavar="PORT")
    where.add_argument("--rtu", metavar="DEVICE")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--parity", choices=("N", "E", "O"), default="N")
    p.add_argument("--data-bits", type=int, choices=(7, 8), default=8)
    p.add_argument("--stop-bits", type=int, choices=(1, 2), default=1)
    p.add_argument("--map", required=True, metavar="FILE")
    p.add_argument("--silent-unit", type=int, action="append", default=[], metavar="U")
    p.add_argument("--exception", type=_exception_rule, action="append", default=[],
                   metavar="[UNIT:]TABLE:ADDR:CODE")
    p.add_argument("--delay-ms", type=int, default=0, metavar="MS")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    if args.tcp is not None and not 1 <= args.tcp <= 65535:
        p.error("--tcp: port must be 1..65535")
    return args


async def _serve(args, regmap: RegisterMap) -> int:
    slaves = {u: MapSlaveContext(regmap, u) for u in regmap.units() if u not in args.silent_unit}
    context = ModbusServerContext(slaves=slaves, single=False)
    if args.tcp is not None:
        server = PeerTcpServer(context, framer=Framer.SOCKET, address=("127.0.0.1", args.tcp),
                               ignore_missing_slaves=True)
        where = f"127.0.0.1:{args.tcp}"
    else:
        server = PeerSerialServer(context, framer=Framer.RTU, port=args.rtu, baudrate=args.baud,
                                  parity=args.parity, bytesize=args.data_bits, stopbits=args.stop_bits,
                                  ignore_missing_slaves=True, broadcast_enable=True)  # RTU unit 0: all, no answer
        where = args.rtu
    server.peer_options = args
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: server.serving.done() or server.serving.set_result(True))
    if not await server.listen():
        print(f"pymodbus_server: cannot serve on {where}", file=sys.stderr)
        return 1
    print("READY", flush=True)
    await server.serving
    await server.shutdown()
    return 0


def main(argv=None) -> int:
    args = _parse_args(argv)
    try:
        regmap = RegisterMap.load(args.map)
    except (OSError, ValueError) as e:
        print(f"pymodbus_server: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
    return asyncio.run(_serve(args, regmap))


if __name__ == "__main__":
    sys.exit(main())
