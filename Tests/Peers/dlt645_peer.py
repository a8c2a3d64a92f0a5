#!/usr/bin/env python3
"""dlt645_peer - DL/T 645-2007 electricity meters served by the `dlt645` package (PyPI, 3.2.0, Apache-2.0), an
implementation independent of EdgeCore, for the integration tests of issue 12.

    dlt645_peer.py (--rtu DEVICE [--baud 2400] [--parity E] [--data-bits 8] [--stop-bits 1] | --tcp PORT)
                   --meter ADDR[=TABLE] [--meter ...] [--values TABLE] [hostile options]

  --meter ADDR[=TABLE]  a meter with the 12-digit address ADDR ("123456789012", sent 12 90 78 56 34 12),
                        serving TABLE (or the --values table); repeatable: several meters share the line
  --values TABLE        the value table of meters given without their own
  --missing table|package
                        table (default): a read (0x11) of a DI missing from the meter's table is answered
                        0xD1 + --missing-error (default 0x02, "no requested data"); package: the package
                        decides (its own catalogue with value 0 for DIs not in the table, 0xD1 02 for DIs it
                        does not know)
  --abnormal DI=ERR     reads of DI are answered 0xD1 + ERR (hex byte), e.g. 02010100=04 (repeatable)
  --answer-other DI=OTHER
                        a read of DI is answered with a correct reply for OTHER (repeatable)
  --preamble N          FE bytes before every reply (default 4, as the package sends; any count >= 0)
  --noise HEX           bytes sent before every reply (before its FE bytes), e.g. "00 FF 68 11 33"
  --dead ADDR           this meter never answers, not even the wildcard read address (repeatable)
  --bad-checksum-every N  the Nth, 2Nth, ... reply sent (over all meters) has CS + 1
  --delay-ms MS         wait before every reply
  --verbose             one line per request and meter on stderr:
                        "dlt645_peer: meter ADDR c CC di DDDDDDDD -> reply|abnormal EE|silent (dead)"

Prints READY on stdout when listening / the device is open. SIGTERM or SIGINT: exits 0. Exit status 1: cannot
listen / open, or the serial device failed; 2: bad usage or table.

Value table: one "DI VALUE" per line (DI as 8 hex digits DI3..DI0, as docs/meter-protocols.md writes them), '#' comments.
Numeric items take a decimal number (negative for the signed quantities), the parameter items (DI3 = 04) a
digit string of the item's format length (04000101 date YYMMDDWW "26120203", 04000102 time hhmmss "080000",
04000501 status word 1 "0001"). A DI the package does not know, a value out of the item's range, a demand
(DI3 = 01) or event (03) item: exit 2.

What comes from the package and what from this file
---------------------------------------------------
The package (dlt645 3.2.0, read from its source): the transports (RtuServer: pyserial, reads frames out of the
byte stream, skipping noise, up to 4 FE and frames with a bad checksum or end byte, an unfinished frame is
dropped after 0.5 s of silence; TcpServer: one thread per connection, same framing), the request decoding
(DLT645Protocol: -0x33, checksum), MeterServerService.handle_request (control codes 0x08 time sync (no reply),
0x11 read, 0x13 read address, 0x14 write (password), 0x15 write address, 0x16 freeze, 0x17 baud, 0x18
password, 0x19/0x1A/0x1B clears), the item catalogue with formats and ranges (dlt645.model.data.define.DIMap)
and the reply encoding (DLT645Protocol.build_frame, +0x33, CS; float_to_bcd: BCD LSB first, sign = top bit of
the most significant byte).
This file: several meters on one line (the package serves one address per server), routing by address (AA
bytes are wildcards, 99..99 is broadcast), requests for absent addresses are ignored (the package would
answer them 0xD1 01), replies carry the meter's own address also for wildcard requests (the package echoes
the request's address), the --missing table rule, --abnormal, --answer-other, the preamble count, noise,
dead meters, spoiled checksums, delay, the request log, and a copy-on-first-use view of the package's
catalogue per meter (the package deep-copies its 20,286 items per meter, 0.8 s each).
With several live meters a wildcard request gets every meter's reply back to back (a pty has no collisions).

What the package serves (0x11 read; value 0 until a table sets it; reply = DI + value bytes)
--------------------------------------------------------------------------------------------
  00 DI2 DI1 DI0   energy, XXXXXX.XX, 4 bytes, signed (range -799999.99..799999.99), kWh / kvarh:
                   DI2 00 combined active, 01 forward, 02 reverse active, 03/04 combined reactive 1/2,
                   05..08 quadrant I..IV reactive, 09/0A forward/reverse apparent, 15..1E / 29..32 / 3D..46
                   phase A/B/C items, 80..86, 94..9A, A8..AE, BC..C2 (associated energy, losses, compensation);
                   DI1 00 total, 01..3F tariff 1..63; DI0 00 current, 01..0C previous settlement 1..12.
                   No blocks (DI1 or DI0 = FF): 0xD1 02.
  02 01 01..03 00  phase A/B/C voltage XXX.X (2 bytes) V
  02 02 01..03 00  phase A/B/C current XXX.XXX (3 bytes, signed) A
  02 03 00..03 00  active power total, A, B, C XX.XXXX (3, signed) kW
  02 04 00..03 00  reactive power XX.XXXX (3, signed) kvar;  02 05 00..03 00 apparent power XX.XXXX (3) kVA
  02 06 00..03 00  power factor X.XXX (2, signed)
  02 07 01..03 00  phase angle XXX.X;  02 08/09 01..03 00 voltage/current distortion XX.XX
  02 0A/0B 01..03 01..15  voltage/current harmonics 1..21 XX.XX
  02 80 00 01      neutral current XXX.XXX;  02 80 00 02 grid frequency XX.XX (2) Hz;  02 80 00 03..06
                   one-minute average power and current demands XX.XXXX;  02 80 00 07 meter temperature XXX.X;
                   02 80 00 08/09 battery voltages XX.XX;  02 80 00 0A battery hours XXXXXXXX
                   Every variable above is encoded signed by the package (a negative value sets the top bit);
                   no blocks (02 01 FF 00 etc.): 0xD1 02.
  04 00 01 01      date YYMMDDWW (4 bytes);  04 00 01 02 time hhmmss (3);  04 00 05 01..07 status words 1..7
                   (2 bytes, format XXXX: digits 0-9 only, so bit patterns with a nibble above 9 cannot be set)
  04 00 04 01/02   communication address / meter number (NNNNNNNNNNNN)
  01 ...           maximum demand and time (XX.XXXX + YYMMDDhhmm, 8 bytes), 03 ... event records, other 04 ...
                   parameters: served by the package but not settable from a table here.
Not served: DL/T 645-1997 (2-byte DIs; a 0x01 read is answered 0xC1 01), follow-up frames (0x12 is answered
0xD2 01; no reply of the package sets the "more frames" bit, 0xB1), multi-frame replies. The package's unit
names (not on the wire) have stray spaces and call the power factor "kW"; 09/0A energies are kVAh.
"""
from __future__ import annotations

import argparse
import copy
import sys

from meter_peer_common import Shaper, add_line_options, install_stop_handler, read_table, run, strip_preamble
from meter_frames import address_bytes, address_digits, address_matches

import dlt645  # noqa: F401  (builds the package's catalogue DIMap)
from dlt645 import DLT645Protocol, MeterServerService, RtuServer, TcpServer
from dlt645.model.data.define import DIMap
from dlt645.protocol.frame import Frame
from dlt645.service.serversvc import server_service

NAME = "dlt645_peer"
BROADCAST = b"\x99" * 6


class LazyDataMap(dict):
    """A meter's data map: the package's item for a DI, deep-copied the first time it is used."""

    def _load(self, di):
        item = DIMap.get(di)
        if item is None:
            return None
        item = copy.deepcopy(item)
        dict.__setitem__(self, di, item)
        return item

    def get(self, di, default=None):
        if dict.__contains__(self, di):
            return dict.__getitem__(self, di)
        item = self._load(di)
        return default if item is None else item

    def __contains__(self, di):
        return dict.__contains__(self, di) or di in DIMap

    def __getitem__(self, di):
        item = self.get(di)
        if item is None:
            raise KeyError(di)
        return item

    def items(self):  # the package's "clear meter" (0x1A) walks every item
        for di in DIMap:
            self.get(di)
        return dict.items(self)


server_service.clone_data_map = LazyDataMap  # MeterServerService.__init__ calls it


def parse_di(text: str, what: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFFFFFFFF or len(text.removeprefix("0x")) > 8:
        raise SystemExit(f"{what}: not a DI (8 hex digits): {text!r}")
    return value


def parse_pairs(items: list[str], what: str, second) -> dict[int, int]:
    out = {}
    for item in items:
        left, sep, right = item.partition("=")
        if not sep:
            raise SystemExit(f"{what}: want DI=VALUE, got {item!r}")
        out[parse_di(left, what)] = second(right, what)
    return out


class Meter:
    def __init__(self, server, digits: str, table: dict[str, str], table_name: str, args):
        try:
            self.address = address_bytes(digits, 6)
        except ValueError as e:
            raise SystemExit(f"--meter: {e}")
        self.digits = digits
        self.service = MeterServerService(server, address=bytearray(self.address))
        self.table: set[int] = set()
        self.dead = digits in args.dead
        for key, text in table.items():
            di = parse_di(key, table_name)
            item = DIMap.get(di)
            if item is None:
                raise SystemExit(f"{table_name}: DI {di:08X}: the dlt645 package does not serve it")
            if isinstance(item, list) or di >> 24 not in (0x00, 0x02, 0x04):
                raise SystemExit(f"{table_name}: DI {di:08X}: demand, event and list items cannot be set here")
            if isinstance(item.value, str):
                value = text
            else:
                try:
                    value = float(text)
                except ValueError:
                    raise SystemExit(f"{table_name}: DI {di:08X}: not a number: {text!r}")
            if not server_service.set_data_item(di, value, self.service.data_map):
                raise SystemExit(f"{table_name}: DI {di:08X}: {text!r} does not fit format {item.data_format} "
                                 f"(range {item.min_value}..{item.max_value})")
            self.table.add(di)


class Dispatcher:
    """The `service` of the package's server: routes each request to the meters it addresses."""

    def __init__(self, meters: list[Meter], shaper: Shaper, args):
        self.meters = meters
        self.shaper = shaper
        self.missing_from_table = args.missing == "table"
        self.missing_error = int(args.missing_error, 16)
        self.abnormal = parse_pairs(args.abnormal, "--abnormal", lambda v, w: int(v, 16) & 0xFF)
        self.answer_other = parse_pairs(args.answer_other, "--answer-other", parse_di)

    def handle_request(self, frame):
        try:
            return self._handle(frame)
        except Exception as e:  # a bug here must not end the package's connection thread silently
            print(f"{NAME}: request handling failed: {e!r}", file=sys.stderr, flush=True)
            return None

    def _handle(self, frame):
        if frame.ctrl_code & 0x80:  # a reply on the line (another meter's): not a request
            return None
        request_address = bytes(frame.addr)
        replies = []
        for meter in self.meters:
            if request_address != BROADCAST and not address_matches(request_address, meter.address):
                continue
            di = int.from_bytes(bytes(frame.data[:4]), "little") if len(frame.data) >= 4 else 0
            what = f"meter {meter.digits} c {frame.ctrl_code:02X} di {di:08X} -> "
            if meter.dead:
                self.shaper.log(what + "silent (dead)")
                continue
            reply = self._reply(meter, frame, di)
            if reply is None:
                self.shaper.log(what + "silent")
                continue
            reply = strip_preamble(bytes(reply))
            control = reply[8]
            self.shaper.log(what + (f"abnormal {(reply[10] - 0x33) & 0xFF:02X}" if control & 0x40 else "reply"))
            replies.append(reply)
        return self.shaper.shape(replies) or None

    def _reply(self, meter: Meter, frame, di: int):
        own = bytes(meter.address)
        data = bytes(frame.data)
        if frame.ctrl_code == 0x11 and len(data) >= 4:
            if di in self.abnormal:
                return DLT645Protocol.build_frame(own, 0xD1, bytes((self.abnormal[di],)), 0)
            if di in self.answer_other:
                di = self.answer_other[di]
                data = di.to_bytes(4, "little") + data[4:]
            if self.missing_from_table and di not in meter.table:
                return DLT645Protocol.build_frame(own, 0xD1, bytes((self.missing_error,)), 0)
        request = Frame(preamble=b"", start_flag=0x68, addr=own, ctrl_code=frame.ctrl_code, data_len=len(data),
                        data=data, check_sum=frame.check_sum, end_flag=0x16)
        return meter.service.handle_request(request)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_line_options(parser, default_preamble=4)
    parser.add_argument("--meter", action="append", required=True, metavar="ADDR[=TABLE]")
    parser.add_argument("--values", metavar="TABLE")
    parser.add_argument("--missing", choices=("table", "package"), default="table")
    parser.add_argument("--missing-error", default="02", metavar="HEX")
    parser.add_argument("--abnormal", action="append", default=[], metavar="DI=ERR")
    parser.add_argument("--answer-other", action="append", default=[], metavar="DI=OTHER")
    args = parser.parse_args()

    if args.tcp is not None:
        server = TcpServer("127.0.0.1", args.tcp, 0.5)
    else:
        server = RtuServer(args.rtu, args.data_bits, args.stop_bits, args.baud, args.parity, 0.5)
    meters = []
    for spec in args.meter:
        digits, _, table_path = spec.partition("=")
        table_path = table_path or args.values
        table = read_table(table_path) if table_path else {}
        meters.append(Meter(server, digits, table, table_path or "--values", args))
    unknown_dead = set(args.dead) - {m.digits for m in meters}
    if unknown_dead:
        raise SystemExit(f"--dead names no --meter: {', '.join(sorted(unknown_dead))}")
    server.service = Dispatcher(meters, Shaper(args, NAME), args)

    stopping = install_stop_handler()
    if not server.start():
        print(f"{NAME}: cannot serve on {args.rtu or f'127.0.0.1:{args.tcp}'}", file=sys.stderr, flush=True)
        return 1
    print("READY", flush=True)
    status = 0
    while not stopping.wait(0.1):
        if not server.is_running():
            print(f"{NAME}: the server stopped (device gone?)", file=sys.stderr, flush=True)
            status = 1
            break
    server.stop()
    return status


if __name__ == "__main__":
    run(main, NAME)
