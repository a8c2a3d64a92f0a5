"""Register maps for EdgeCore's Modbus test peers (modbus_server.c, pymodbus_server.py).

Typed values are encoded into registers exactly as include/edgecore.h defines enum edgecore_word_order:
the bytes of the big-endian value A B C D (A most significant; 64-bit: A..H) travel
  - word order: ABCD and BADC send the most significant register first, CDAB and DCBA the least;
  - byte order in each register: ABCD and CDAB send the high byte first, BADC and DCBA the low byte first;
  - 16-bit types use only the byte rule.
A register's value here is what a Modbus client reads: first byte on the wire << 8 | second byte.

Map file format (read by both servers), one entry per line:
    UNIT TABLE ADDRESS VALUE [VALUE ...]
  UNIT     unit id (slave address) 0..255, decimal
  TABLE    coil | discrete | holding | input
  ADDRESS  0-based protocol address (decimal or 0x hex) of the first VALUE; further VALUEs go to ADDRESS+1, ...
  VALUE    holding/input: 0..65535 (decimal or 0x hex); coil/discrete: 0 or 1
'#' starts a comment, blank lines are ignored, a later entry for a cell replaces an earlier one. A unit exists
when some line names it (other unit ids get no answer). Per unit and table the servers serve every address
from the lowest to the highest listed (unlisted ones in between hold 0) and answer exception 2 (illegal data
address) for any other address.
"""
from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass

TABLES = ("coil", "discrete", "holding", "input")
#: index = enum edgecore_value_type (EDGECORE_TYPE_U16 = 0 ... EDGECORE_TYPE_F64 = 7)
TYPES = ("u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64")
#: index = enum edgecore_word_order (EDGECORE_ORDER_ABCD = 0 ... EDGECORE_ORDER_DCBA = 3)
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
#: registers per type
REGISTER_COUNT = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2, "u64": 4, "i64": 4, "f64": 4}
#: Modbus read function code per table
READ_FUNCTION = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}

_STRUCT = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "u64": ">Q", "i64": ">q", "f32": ">f", "f64": ">d"}


def type_name(t) -> str:
    """'f32' for 'f32', 'F32' or 6 (enum edgecore_value_type)."""
    if isinstance(t, int):
        return TYPES[t]
    if t.lower() in TYPES:
        return t.lower()
    raise ValueError(f"unknown value type {t!r}")


def order_name(o) -> str:
    """'CDAB' for 'CDAB', 'cdab' or 1 (enum edgecore_word_order)."""
    if isinstance(o, int):
        return ORDERS[o]
    if o.upper() in ORDERS:
        return o.upper()
    raise ValueError(f"unknown word order {o!r}")


def stored_value(type_, value):
    """The value as it survives encoding: floats rounded to the type (f32), integers unchanged."""
    t = type_name(type_)
    return struct.unpack(_STRUCT[t], struct.pack(_STRUCT[t], value))[0]


def encode(type_, value, order="ABCD") -> list[int]:
    """Registers (as a client reads them) that carry `value` of `type_` in `order`."""
    t, o = type_name(type_), order_name(order)
    data = struct.pack(_STRUCT[t], value)  # big-endian: A B C D ...
    words = [data[i:i + 2] for i in range(0, len(data), 2)]  # most significant register first
    if len(words) > 1 and o in ("CDAB", "DCBA"):
        words.reverse()
    if o in ("BADC", "DCBA"):
        words = [w[::-1] for w in words]
    return [(w[0] << 8) | w[1] for w in words]


def _big_endian_bytes(type_, registers, order) -> bytes:
    t, o = type_name(type_), order_name(order)
    regs = list(registers)
    if len(regs) != REGISTER_COUNT[t]:
        raise ValueError(f"{t} takes {REGISTER_COUNT[t]} registers, got {len(regs)}")
    words = [bytes((r >> 8, r & 0xFF)) for r in regs]
    if o in ("BADC", "DCBA"):
        words = [w[::-1] for w in words]
    if len(words) > 1 and o in ("CDAB", "DCBA"):
        words.reverse()
    return b"".join(words)


def decode(type_, registers, order="ABCD"):
    """The value of `type_` that `registers` carry in `order` (inverse of encode)."""
    t = type_name(type_)
    return struct.unpack(_STRUCT[t], _big_endian_bytes(t, registers, order))[0]


def raw_unsigned(type_, registers, order="ABCD") -> int:
    """The registers as one unsigned number of the type's width after byte/word order (what EdgeCore's
    channel sentinels are compared with)."""
    return int.from_bytes(_big_endian_bytes(type_, registers, order), "big")


@dataclass(frozen=True)
class Point:
    """A typed value placed in a map. `value` is the value as served (f32 already rounded)."""
    name: str
    unit: int
    table: str
    address: int
    type: str
    order: str
    value: float | int
    registers: tuple[int, ...]

    @property
    def function(self) -> int:
        return READ_FUNCTION[self.table]

    @property
    def type_index(self) -> int:
        return TYPES.index(self.type)

    @property
    def order_index(self) -> int:
        return ORDERS.index(self.order)


def _parse_number(text: str) -> int:
    if text.startswith(("-", "+")):
        raise ValueError(text)
    return int(text, 16) if text.lower().startswith("0x") else int(text, 10)


class RegisterMap:
    """Cells (unit, table, address) -> value, plus the typed points placed with set_value()."""

    def __init__(self):
        self.cells: dict[tuple[int, str, int], int] = {}
        self.points: list[Point] = []

    # -- building -------------------------------------------------------------------------------------
    def set(self, unit: int, table: str, address: int, *values: int) -> "RegisterMap":
        """Set consecutive cells from `address` on."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        if not 0 <= unit <= 255:
            raise ValueError(f"unit {unit} not in 0..255")
        limit = 1 if table in ("coil", "discrete") else 0xFFFF
        for i, v in enumerate(values):
            v = int(v)
            if not 0 <= v <= limit or not 0 <= address + i <= 0xFFFF:
                raise ValueError(f"unit {unit} {table} {address + i}: value {v} not in 0..{limit}")
            self.cells[(unit, table, address + i)] = v
        return self

    def set_registers(self, unit: int, table: str, address: int, registers) -> "RegisterMap":
        if table not in ("holding", "input"):
            raise ValueError(f"registers live in holding or input, not {table!r}")
        return self.set(unit, table, address, *registers)

    def set_bits(self, unit: int, table: str, address: int, bits) -> "RegisterMap":
        if table not in ("coil", "discrete"):
            raise ValueError(f"bits live in coil or discrete, not {table!r}")
        return self.set(unit, table, address, *(1 if b else 0 for b in bits))

    def set_value(self, unit: int, table: str, address: int, type_, value, order="ABCD",
                  name: str | None = None) -> Point:
        """Encode a typed value into registers and remember it as a Point (returned)."""
        t, o = type_name(type_), order_name(order)
        regs = encode(t, value, o)
        self.set_registers(unit, table, address, regs)
        p = Point(name or f"u{unit}_{table}_{address}_{t}_{o}", unit, table, address, t, o,
                  stored_value(t, value), tuple(regs))
        self.points.append(p)
        return p

    def copy(self) -> "RegisterMap":
        m = RegisterMap()
        m.cells = dict(self.cells)
        m.points = list(self.points)
        return m

    # -- queries --------------------------------------------------------------------------------------
    def units(self) -> list[int]:
        return sorted({u for (u, _, _) in self.cells})

    def span(self, unit: int, table: str) -> tuple[int, int] | None:
        """(lowest, highest) address served for the unit's table, or None when it has none."""
        addrs = [a for (u, t, a) in self.cells if u == unit and t == table]
        return (min(addrs), max(addrs)) if addrs else None

    def served(self, unit: int, table: str, address: int, count: int = 1) -> list[int] | None:
        """The values the servers answer for `count` cells from `address`, or None when the request gets
        exception 2 (illegal data address) because part of it lies outside the served span."""
        span = self.span(unit, table)
        if span is None or address < span[0] or address + count - 1 > span[1]:
            return None
        return [self.cells.get((unit, table, address + i), 0) for i in range(count)]

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)

    # -- text -----------------------------------------------------------------------------------------
    def to_text(self) -> str:
        lines = ["# EdgeCore test peer register map: UNIT TABLE ADDRESS VALUE [VALUE ...]"]
        for p in self.points:
            lines.append(f"# {p.name}: unit {p.unit} {p.table} {p.address} {p.type} {p.order} = {p.value!r}")
        keys = sorted(self.cells, key=lambda k: (k[0], TABLES.index(k[1]), k[2]))
        i = 0
        while i < len(keys):  # consecutive cells of one unit and table share a line (at most 16)
            u, t, a = keys[i]
            run = [self.cells[keys[i]]]
            j = i + 1
            while j < len(keys) and keys[j] == (u, t, a + len(run)) and len(run) < 16:
                run.append(self.cells[keys[j]])
                j += 1
            fmt = (lambda v: str(v)) if t in ("coil", "discrete") else (lambda v: f"0x{v:04X}")
            lines.append(f"{u} {t} {a} " + " ".join(fmt(v) for v in run))
            i = j
        return "\n".join(lines) + "\n"

    def write(self, path) -> str:
        path = os.fspath(path)
        with open(path, "w", encoding="ascii") as f:
            f.write(self.to_text())
        return path

    @classmethod
    def parse(cls, text: str, source: str = "<map>") -> "RegisterMap":
        m = cls()
        for lineno, line in enumerate(text.splitlines(), 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            try:
                if len(fields) < 4:
                    raise ValueError("expected UNIT TABLE ADDRESS VALUE [VALUE ...]")
                unit = int(fields[0], 10)
                if fields[1] not in TABLES:
                    raise ValueError(f"table {fields[1]!r} is not coil, discrete, holding or input")
                m.set(unit, fields[1], _parse_number(fields[2]), *(_parse_number(v) for v in fields[3:]))
            except ValueError as e:
                raise ValueError(f"{source}:{lineno}: {e}") from None
        return m

    @classmethod
    def load(cls, path) -> "RegisterMap":
        path = os.fspath(path)
        with open(path, encoding="ascii") as f:
            return cls.parse(f.read(), path)


# ------------------------------------------------------------------------------------------------------
# SITE_TEST_MAP: the standard map of the integration tests
# ------------------------------------------------------------------------------------------------------

#: Unit 1, holding registers: type TYPES[t] in order ORDERS[o] at address 16*t + 4*o (addresses 0..127),
#: value HOLDING_VALUES[type][o]. Every value has distinct bytes where it can, so a wrong order decodes to a
#: different number; every integer is exactly representable as a double.
HOLDING_VALUES = {
    "u16": [0x1234, 0xA1B2, 0x0102, 0xFE01],
    "i16": [-12345, 12345, -2, -32768],
    "u32": [0x12345678, 0x89ABCDEF, 0x01020304, 4000000000],
    "i32": [-123456789, 123456789, -2, -2147483648],
    "u64": [0x00123456789ABCDE, 0xFEDCBA9876543000, 0x0102030405060700, 1 << 53],
    "i64": [-1234567890123456, 1234567890123456, -2, -(1 << 62)],
    "f32": [-273.15, 1234.5, 3.1415927, 1.0e-3],
    "f64": [-273.15, 1234.5678901234, 6.02214076e23, -1.0e-300],
}
#: Unit 1, input registers: the same layout as holding, these values.
INPUT_VALUES = {
    "u16": [0x2345, 0xB2C3, 0x0304, 0xEF10],
    "i16": [-23456, 23456, -3, 32767],
    "u32": [0x23456789, 0x9ABCDEF0, 0x05060708, 3000000000],
    "i32": [-234567890, 234567890, -3, 2147483647],
    "u64": [0x00013579BDF02468, 0xEDCBA98765432000, 0x0807060504030200, 1],
    "i64": [-2345678901234567, 2345678901234567, -3, (1 << 62)],
    "f32": [-40.5, 0.25, 2.7182817, -1.0e6],
    "f64": [-40.125, 0.1, 2.718281828459045, 1.0e300],
}


def typed_address(type_, order) -> int:
    """Address of a typed point of unit 1 (holding and input): 16 * type index + 4 * order index."""
    return 16 * TYPES.index(type_name(type_)) + 4 * ORDERS.index(order_name(order))


#: (unit, table, address, value): unit 1 holding register whose bits test EDGECORE_TYPE_BIT on FC 3.
BITS_REGISTER = (1, "holding", 200, 0xA5C3)
#: unit 1 coils 0..15 and discrete inputs 0..15
COIL_BITS = (1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1)
DISCRETE_BITS = (0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0)
#: (unit, table, first address, count): all-zero areas for write tests
SCRATCH_HOLDING = (1, "holding", 300, 16)
SCRATCH_COILS = (1, "coil", 100, 8)


def site_test_map() -> RegisterMap:
    """A fresh copy of the standard map (see SITE_TEST_MAP)."""
    m = RegisterMap()
    for table, values in (("holding", HOLDING_VALUES), ("input", INPUT_VALUES)):
        for t in TYPES:
            for o, order in enumerate(ORDERS):
                m.set_value(1, table, typed_address(t, order), t, values[t][o], order,
                            name=f"u1_{table}_{t}_{order}")
    u, table, addr, value = BITS_REGISTER
    m.set_value(u, table, addr, "u16", value, name="u1_holding_bits")
    m.set_registers(*SCRATCH_HOLDING[:3], [0] * SCRATCH_HOLDING[3])
    m.set_bits(1, "coil", 0, COIL_BITS)
    m.set_bits(*SCRATCH_COILS[:3], [0] * SCRATCH_COILS[3])
    m.set_bits(1, "discrete", 0, DISCRETE_BITS)
    # Units 2-4: a few registers each, values that name their unit.
    m.set_value(2, "holding", 0, "u16", 202, name="u2_holding_u16")
    m.set_value(2, "holding", 1, "i16", -2, name="u2_holding_i16")
    m.set_value(2, "holding", 2, "f32", 2.5, "ABCD", name="u2_holding_f32")
    m.set_value(2, "input", 0, "u16", 2222, name="u2_input_u16")
    m.set_bits(2, "coil", 0, (1, 1, 0, 1))
    m.set_value(3, "holding", 0, "u16", 303, name="u3_holding_u16")
    m.set_value(3, "holding", 1, "u32", 3000003, "CDAB", name="u3_holding_u32")
    m.set_value(3, "input", 0, "u16", 3333, name="u3_input_u16")
    m.set_bits(3, "discrete", 0, (0, 1, 1, 0))
    m.set_value(4, "holding", 0, "u16", 404, name="u4_holding_u16")
    m.set_value(4, "holding", 1, "f32", -4.25, "DCBA", name="u4_holding_f32")
    m.set_bits(4, "coil", 0, (1,))
    return m


#: The standard map: unit 1 has every type x every order in holding (HOLDING_VALUES) and input registers
#: (INPUT_VALUES) at typed_address(type, order), BITS_REGISTER, coils 0..15 = COIL_BITS, discrete inputs
#: 0..15 = DISCRETE_BITS and zeroed SCRATCH_HOLDING / SCRATCH_COILS; units 2, 3, 4 hold a few values each.
#: Treat it as read-only: site_test_map() makes a copy to change.
SITE_TEST_MAP = site_test_map()
#: every typed value of SITE_TEST_MAP, with its expected value and registers
SITE_TEST_POINTS = tuple(SITE_TEST_MAP.points)


def _self_check():
    for t in TYPES:
        for o in ORDERS:
            for values in (HOLDING_VALUES, INPUT_VALUES):
                v = stored_value(t, values[t][ORDERS.index(o)])
                got = decode(t, encode(t, v, o), o)
                assert got == v or (isinstance(v, float) and math.isnan(v)), (t, o, v, got)
                if t[0] in "ui":
                    assert float(v) == v and int(float(v)) == v, (t, v)  # exact as a double
    assert encode("u32", 0x11223344, "ABCD") == [0x1122, 0x3344]
    assert encode("u32", 0x11223344, "CDAB") == [0x3344, 0x1122]
    assert encode("u32", 0x11223344, "BADC") == [0x2211, 0x4433]
    assert encode("u32", 0x11223344, "DCBA") == [0x4433, 0x2211]
    assert encode("u64", 0x1122334455667788, "CDAB") == [0x7788, 0x5566, 0x3344, 0x1122]
    assert encode("u64", 0x1122334455667788, "DCBA") == [0x8877, 0x6655, 0x4433, 0x2211]
    assert encode("u16", 0x1122, "CDAB") == [0x1122] and encode("u16", 0x1122, "DCBA") == [0x2211]


_self_check()
