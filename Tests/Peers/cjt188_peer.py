#!/usr/bin/env python3
"""cjt188_peer - CJ/T 188 water and heat meters, our own test peer (no independent implementation exists), for
the integration tests of issue 12.

    cjt188_peer.py (--rtu DEVICE [--baud 2400] [--parity E] [--data-bits 8] [--stop-bits 1] | --tcp PORT)
                   --meter TYPE:ADDR[=TABLE] [--meter ...] [--values TABLE] [hostile options]

  --meter TYPE:ADDR[=TABLE]
                        a meter of type TYPE (hex: 10 cold water .. 19, 20 heat .. 29) with the 14-digit
                        address ADDR ("00000012345678", sent 78 56 34 12 00 00 00), serving TABLE (or the
                        --values table); repeatable, several meters share the line
  --values TABLE        the table of meters given without their own
  --di-order lsb|msb    lsb (default, docs/meter-protocols.md): DI 901F is sent 1F 90; msb: sent 90 1F (some devices)
  --wrong-di HEX        replies to reads carry this DI (as written, e.g. 902F) instead of the one asked
  --wrong-ser           replies carry SER + 1 instead of the request's SER
  --preamble N          FE bytes before every reply (default 2)
  --noise HEX, --dead ADDR, --bad-checksum-every N, --delay-ms MS, --verbose
                        as dlt645_peer.py; the log line: "cjt188_peer: meter TT ADDR c CC di DDDD -> ..."

Prints READY when serving; SIGTERM or SIGINT: exits 0; 1: cannot listen / open or the device failed; 2: usage.

Requests answered (address match: each byte equal or AA; type equal or AA):
  C 01 DI 901F   read current data -> C 81, DATA = DI SER + the layout of the meter's type below
  C 03 DI 810A   read address      -> C 83, DATA = DI SER (the address is in the header)
  C 04 DI A017   valve control, 1 byte 55 open / 99 close -> C 84, DATA = DI SER ST0 ST1 (the new status);
                 another byte -> abnormal C4
  other reads / writes -> abnormal C1 / C3 / C4 (DATA = SER ST0 ST1, no DI); other control codes: no reply

Layouts (all multi-byte fields least significant byte first; BCD unless said otherwise):
  water (10..19), L = 0x16:
    DI0 DI1 SER | current cumulative flow XXXXXX.XX (4) + unit | settlement-day flow XXXXXX.XX (4) + unit |
    real time YYYYMMDDhhmmss (7, sent ss mm hh DD MM YY(low) YY(high)) | ST0 ST1
  heat (20..29), L = 0x2E:
    DI0 DI1 SER | settlement-day heat XXXXXX.XX (4) + unit | current heat XXXXXX.XX (4) + unit |
    heat power XXXXXX.XX (4) + unit | flow rate XXXX.XXXX (4) + unit | cumulative flow XXXXXX.XX (4) + unit |
    supply temperature XXXX.XX (3) | return temperature XXXX.XX (3) | working hours XXXXXX (3) |
    real time (7) | ST0 ST1
  ST0: bits 1-0 valve 00 open, 01 closed, 11 abnormal; bit 2 battery low; ST1: 00.
Sources: docs/meter-protocols.md gives the frame, T, the 7-byte address, C 01/81/C1, 03/83, 04/84, DI 901F sent 1F 90, the
water fields, the heat-meter field list, the unit codes and A017 55/99. Checked against public implementations
and published frames (docs/meters-sources.md): the heat fields' order and sizes, the real-time byte order
(seconds first), the ST0 bits, DI 810A for read address, the valve write reply carrying ST0 ST1 and the
abnormal replies' DATA (SER ST0 ST1; until that check this peer wrongly put the DI in front). Devices that send
DIs high byte first exist (--di-order msb).

Table keys ("KEY VALUE" lines; defaults in brackets):
  water: flow [0] flow_unit [2C = m3] settlement_flow [0] settlement_flow_unit [2C]
  heat:  heat [0] heat_unit [05 = kWh] settlement_heat [0] settlement_heat_unit [05] power [0] power_unit
         [17 = kW] flow_rate [0] flow_rate_unit [35 = m3/h] flow [0] flow_unit [2C] supply_temp [0]
         return_temp [0] hours [0]
  both:  time [20261202080000, YYYYMMDDhhmmss] valve [open | closed | abnormal] battery_low [0 | 1]
         status [none; 4 hex digits ST0 ST1 as sent, e.g. 2184: replaces valve and battery_low in replies]
"""
from __future__ import annotations

import argparse
import sys

from meter_peer_common import (Shaper, add_line_options, install_stop_handler, parse_hex, read_table, run,
                               serve_stream)
from meter_frames import address_bytes, address_matches, bcd_encode, checksum, cjt_split

NAME = "cjt188_peer"
VALVE_BITS = {"open": 0b00, "closed": 0b01, "abnormal": 0b11}
DI_READ, DI_ADDRESS, DI_VALVE = 0x901F, 0x810A, 0xA017
WATER_KEYS = {"FLOW": "0", "FLOW_UNIT": "2C", "SETTLEMENT_FLOW": "0", "SETTLEMENT_FLOW_UNIT": "2C"}
HEAT_KEYS = {"HEAT": "0", "HEAT_UNIT": "05", "SETTLEMENT_HEAT": "0", "SETTLEMENT_HEAT_UNIT": "05", "POWER": "0",
             "POWER_UNIT": "17", "FLOW_RATE": "0", "FLOW_RATE_UNIT": "35", "FLOW": "0", "FLOW_UNIT": "2C",
             "SUPPLY_TEMP": "0", "RETURN_TEMP": "0", "HOURS": "0"}
COMMON_KEYS = {"TIME": "20261202080000", "VALVE": "open", "BATTERY_LOW": "0", "STATUS": ""}


class Meter:
    def __init__(self, spec: str, table: dict[str, str], table_name: str, args):
        kind, _, digits = spec.partition(":")
        try:
            self.type = int(kind, 16)
            self.address = address_bytes(digits, 7)
        except ValueError as e:
            raise SystemExit(f"--meter {spec!r}: want TYPE:ADDR (hex type, 14 digits): {e}")
        if not 0x10 <= self.type <= 0x29:
            raise SystemExit(f"--meter {spec!r}: type {self.type:02X} is neither water (10..19) nor heat (20..29)")
        self.heat = self.type >= 0x20
        self.digits = digits
        self.dead = digits in args.dead
        keys = dict(COMMON_KEYS, **(HEAT_KEYS if self.heat else WATER_KEYS))
        unknown = set(table) - set(keys)
        if unknown:
            raise SystemExit(f"{table_name}: keys not of a {'heat' if self.heat else 'water'} meter: "
                             f"{', '.join(sorted(unknown))}")
        self.values = dict(keys, **table)
        if self.values["VALVE"] not in VALVE_BITS or self.values["BATTERY_LOW"] not in ("0", "1"):
            raise SystemExit(f"{table_name}: valve open|closed|abnormal, battery_low 0|1")
        status = self.values["STATUS"]
        if status and (len(status) != 4 or any(c not in "0123456789abcdefABCDEF" for c in status)):
            raise SystemExit(f"{table_name}: status is 4 hex digits (ST0 ST1 as sent), not {status!r}")
        try:
            self.payload()
        except ValueError as e:
            raise SystemExit(f"{table_name}: {e}")

    def status(self) -> bytes:
        if self.values["STATUS"]:
            return bytes.fromhex(self.values["STATUS"])
        return bytes((VALVE_BITS[self.values["VALVE"]] | (4 if self.values["BATTERY_LOW"] == "1" else 0), 0))

    def payload(self) -> bytes:
        v = self.values

        def amount(key: str, decimals: int = 2, size: int = 4) -> bytes:
            return bcd_encode(float(v[key]), size, decimals)

        def unit(key: str) -> bytes:
            return bytes((int(v[key], 16),))

        when = v["TIME"]
        if len(when) != 14 or not when.isdigit():
            raise ValueError(f"time must be YYYYMMDDhhmmss, not {when!r}")
        time_bytes = bytes.fromhex(when)[::-1]
        if self.heat:
            out = (amount("SETTLEMENT_HEAT") + unit("SETTLEMENT_HEAT_UNIT") + amount("HEAT") + unit("HEAT_UNIT")
                   + amount("POWER") + unit("POWER_UNIT") + amount("FLOW_RATE", 4) + unit("FLOW_RATE_UNIT")
                   + amount("FLOW") + unit("FLOW_UNIT") + amount("SUPPLY_TEMP", 2, 3)
                   + amount("RETURN_TEMP", 2, 3) + amount("HOURS", 0, 3))
        else:
            out = amount("FLOW") + unit("FLOW_UNIT") + amount("SETTLEMENT_FLOW") + unit("SETTLEMENT_FLOW_UNIT")
        return out + time_bytes + self.status()


class Peer:
    def __init__(self, meters: list[Meter], shaper: Shaper, args):
        self.meters = meters
        self.shaper = shaper
        self.msb_first = args.di_order == "msb"
        self.wrong_di = int(args.wrong_di, 16) if args.wrong_di else None
        self.wrong_ser = args.wrong_ser

    def di_bytes(self, di: int) -> bytes:
        return di.to_bytes(2, "big" if self.msb_first else "little")

    def handle(self, raw: bytes) -> bytes:
        meter_type, address, control, data = raw[1], raw[2:9], raw[9], raw[11:-2]
        if control & 0x80 or len(data) < 3:
            return b""
        di = int.from_bytes(data[:2], "big" if self.msb_first else "little")
        ser, argument = data[2], data[3:]
        replies = []
        for meter in self.meters:
            if meter_type not in (0xAA, meter.type) or not address_matches(address, meter.address):
                continue
            what = f"meter {meter.type:02X} {meter.digits} c {control:02X} di {di:04X} -> "
            if meter.dead:
                self.shaper.log(what + "silent (dead)")
                continue
            reply_control, body = self.answer(meter, control, di, argument)
            if reply_control is None:
                self.shaper.log(what + "silent")
                continue
            abnormal = bool(reply_control & 0x40)
            self.shaper.log(what + ("abnormal" if abnormal else "reply"))
            reply_di = self.wrong_di if self.wrong_di is not None and control == 0x01 else di
            reply_ser = (ser + 1) & 0xFF if self.wrong_ser else ser
            # an abnormal reply is SER ST0 ST1 without the DI (CJ/T 188; docs/meters-sources.md)
            frame_data = (b"" if abnormal else self.di_bytes(reply_di)) + bytes((reply_ser,)) + body
            head = bytes((0x68, meter.type)) + meter.address + bytes((reply_control, len(frame_data))) + frame_data
            replies.append(head + bytes((checksum(head), 0x16)))
        return self.shaper.shape(replies)

    def answer(self, meter: Meter, control: int, di: int, argument: bytes):
        """(reply control code, DATA after DI SER (after SER for an abnormal reply)), or (None, b"")."""
        if control == 0x01:
            if di == DI_READ:
                return 0x81, meter.payload()
            return 0xC1, meter.status()
        if control == 0x03:
            return (0x83, b"") if di == DI_ADDRESS else (0xC3, meter.status())
        if control == 0x04:
            if di == DI_VALVE and len(argument) == 1 and argument[0] in (0x55, 0x99):
                meter.values["VALVE"] = "open" if argument[0] == 0x55 else "closed"
                return 0x84, meter.status()
            return 0xC4, meter.status()
        return None, b""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_line_options(parser, default_preamble=2)
    parser.add_argument("--meter", action="append", required=True, metavar="TYPE:ADDR[=TABLE]")
    parser.add_argument("--values", metavar="TABLE")
    parser.add_argument("--di-order", choices=("lsb", "msb"), default="lsb")
    parser.add_argument("--wrong-di", metavar="HEX")
    parser.add_argument("--wrong-ser", action="store_true")
    args = parser.parse_args()
    if args.wrong_di is not None:
        parse_hex(args.wrong_di, "--wrong-di")
    meters = []
    for spec in args.meter:
        spec, _, table_path = spec.partition("=")
        table_path = table_path or args.values
        table = read_table(table_path) if table_path else {}
        meters.append(Meter(spec, table, table_path or "--values", args))
    unknown_dead = set(args.dead) - {m.digits for m in meters}
    if unknown_dead:
        raise SystemExit(f"--dead names no --meter: {', '.join(sorted(unknown_dead))}")
    peer = Peer(meters, Shaper(args, NAME), args)
    return serve_stream(args, cjt_split, peer.handle, install_stop_handler(), NAME)


if __name__ == "__main__":
    run(main, NAME)
