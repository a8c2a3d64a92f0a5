"""ctypes bindings of libEdgeCore's C API (include/edgecore.h): version, result codes, readings, ring, engine.

The library is loaded from $EDGECORE_LIB, default <repo>/build/x86_64/libEdgeCore.so, on first use, and each
function is resolved on its first call: importing this module works before the library (or a function of
it) exists; calling a missing function raises EdgeCoreMissing.

Failing calls (negative results) raise EdgeCoreError(code, message); message is edgecore_strerror(code),
followed by edgecore_engine_last_error() for engine functions when it says more.
"""
from __future__ import annotations

import ctypes
import enum
import math
import os
import time
from ctypes import (POINTER, Structure, byref, c_char, c_char_p, c_double, c_int, c_int32, c_int64, c_size_t,
                    c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIB = ROOT / "build" / "x86_64" / "libEdgeCore.so"


# ------------------------------------------------------------------------------------------------------
# Constants
# ------------------------------------------------------------------------------------------------------

EDGECORE_OK = 0
E_FIRST = -10001
E_NULL_POINTER = -10001
E_INVALID_ARGUMENT = -10002
E_INVALID_CAPACITY = -10003
E_INVALID_LANE_COUNT = -10004
E_INVALID_LANE = -10005
E_INVALID_POLICY = -10006
E_TIMEOUT = -10007
E_RUNNING = -10008
E_NOT_RUNNING = -10009
E_NOT_FOUND = -10010
E_DUPLICATE = -10011
E_CONFIG = -10012
E_CONFIG_FILE = -10013
E_NOT_WRITABLE = -10014
E_DEVICE_TIMEOUT = -10015
E_DEVICE_FRAME = -10016
E_DEVICE_EXCEPTION = -10017
E_DISCONNECTED = -10018
E_LIMIT = -10019
E_VALUE = -10020
E_UNKNOWN_FIELD = -10021
E_NOT_A_JOURNAL = -10022
E_JOURNAL_VERSION = -10023
E_JOURNAL_FULL = -10024
E_AMBIGUOUS = -10025
E_LAST = -10025

RING_CAPACITY_MIN = 2
RING_CAPACITY_MAX = 1 << 24
RING_LANES_MAX = 64
SENTINELS_MAX = 4


class Status(enum.IntEnum):
    OK = 0
    TIMEOUT = 1
    CRC_ERROR = 2
    EXCEPTION = 3
    SENTINEL = 4
    OUT_OF_RANGE = 5
    DISCONNECTED = 6
    STALE = 7
    OFFLINE = 8


class Overflow(enum.IntEnum):
    DROP_OLDEST = 0
    REJECT_NEWEST = 1


class Function(enum.IntEnum):
    COILS = 1
    DISCRETE_INPUTS = 2
    HOLDING_REGISTERS = 3
    INPUT_REGISTERS = 4


class ValueType(enum.IntEnum):
    U16 = 0
    I16 = 1
    U32 = 2
    I32 = 3
    U64 = 4
    I64 = 5
    F32 = 6
    F64 = 7
    BIT = 8


class WordOrder(enum.IntEnum):
    ABCD = 0
    CDAB = 1
    BADC = 2
    DCBA = 3


class DeviceState(enum.IntEnum):
    UNKNOWN = 0
    ONLINE = 1
    FAILING = 2
    OFFLINE = 3


class BusState(enum.IntEnum):
    STOPPED = 0
    CONNECTED = 1
    DISCONNECTED = 2


class TcpFraming(enum.IntEnum):
    MBAP = 0
    TRANSPARENT = 1


class Protocol(enum.IntEnum):
    MODBUS = 0
    DLT645_2007 = 1
    DLT645_1997 = 2
    CJT188 = 3


class MeterFormat(enum.IntEnum):
    CATALOGUE = 0
    BCD = 1
    BCD_SIGNED = 2
    BINARY = 3


class CJT188Item(enum.IntEnum):
    CURRENT_FLOW = 1
    SETTLEMENT_FLOW = 2
    SETTLEMENT_HEAT = 3
    CURRENT_HEAT = 4
    HEAT_POWER = 5
    FLOW_RATE = 6
    CUMULATIVE_FLOW = 7
    SUPPLY_TEMPERATURE = 8
    RETURN_TEMPERATURE = 9
    WORKING_HOURS = 10
    REAL_TIME = 11
    STATUS = 12
    VALVE_STATE = 13
    BATTERY_LOW = 14


#: Bits of a DL/T 645 abnormal reply's error byte (status_detail of Status.EXCEPTION), 2007 names.
DLT645_ERR_OTHER = 0x01
DLT645_ERR_NO_DATA = 0x02
DLT645_ERR_UNAUTHORISED = 0x04
DLT645_ERR_BAUD_FIXED = 0x08
DLT645_ERR_YEAR_ZONES = 0x10
DLT645_ERR_DAILY_PERIODS = 0x20
DLT645_ERR_TARIFFS = 0x40


#: regmap table name -> Function
TABLE_FUNCTION = {"coil": Function.COILS, "discrete": Function.DISCRETE_INPUTS,
                  "holding": Function.HOLDING_REGISTERS, "input": Function.INPUT_REGISTERS}


# ------------------------------------------------------------------------------------------------------
# Structures (field for field as in edgecore.h, reserved fields included)
# ------------------------------------------------------------------------------------------------------

class Reading(Structure):
    _fields_ = [
        ("timestamp_ns", c_int64),
        ("value", c_double),
        ("channel", c_uint32),
        ("sequence", c_uint32),
        ("status", c_uint16),
        ("status_detail", c_uint16),
        ("reserved", c_uint32),
    ]

    def __repr__(self):
        return (f"Reading(channel={self.channel}, seq={self.sequence}, status={status_name(self.status)}, "
                f"detail={self.status_detail}, value={self.value!r}, t={self.timestamp_ns})")


class RingStats(Structure):
    _fields_ = [
        ("published", c_uint64),
        ("drained", c_uint64),
        ("dropped", c_uint64),
        ("rejected", c_uint64),
        ("available", c_uint64),
        ("capacity", c_uint32),
        ("lanes", c_uint32),
    ]


class EngineConfig(Structure):
    _fields_ = [
        ("ring_capacity", c_uint32),
        ("overflow", c_uint16),  # enum edgecore_overflow_policy
        ("reserved", c_uint16),
    ]


class TcpBusConfig(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("host", c_char_p),
        ("port", c_uint16),
        ("reserved", c_uint16),
        ("connect_timeout_ms", c_uint32),
        ("reconnect_min_ms", c_uint32),
        ("reconnect_max_ms", c_uint32),
        ("request_gap_ms", c_uint32),
        ("reserved2", c_uint32),
        # 1.3
        ("framing", c_uint16),  # enum edgecore_tcp_framing
        ("reserved3", c_uint16),
        ("line_baud", c_uint32),
    ]


class LocalBusConfig(Structure):
    # 1.4
    _fields_ = [
        ("name", c_char_p),
        ("reserved", c_uint32 * 2),
    ]


class RtuBusConfig(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("device", c_char_p),
        ("baud", c_uint32),
        ("parity", c_char),
        ("data_bits", c_uint8),
        ("stop_bits", c_uint8),
        ("rs485", c_uint8),
        ("rts", c_uint16),  # enum edgecore_rts_mode
        ("reserved", c_uint16),
        ("rts_delay_us", c_uint32),
        ("request_gap_ms", c_uint32),
        ("reopen_min_ms", c_uint32),
        ("reopen_max_ms", c_uint32),
        ("reserved2", c_uint32),
    ]


class DeviceConfig(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("bus", c_uint32),
        ("unit_id", c_uint8),
        ("one_channel_per_request", c_uint8),
        ("max_registers", c_uint16),
        ("max_bits", c_uint16),
        ("reserved", c_uint16),
        ("response_timeout_ms", c_uint32),
        ("retries", c_uint32),
        ("offline_after", c_uint32),
        ("backoff_min_ms", c_uint32),
        ("backoff_max_ms", c_uint32),
        # 1.3: meters
        ("meter_address", c_char_p),
        ("protocol", c_uint16),  # enum edgecore_protocol
        ("meter_type", c_uint8),
        ("preamble", c_uint8),
        ("identifier_order", c_uint8),
        ("allow_time_sync", c_uint8),
        ("reserved2", c_uint16),
    ]


class ChannelConfig(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("unit", c_char_p),
        ("device", c_uint32),
        ("address", c_uint16),
        ("function", c_uint16),  # enum edgecore_function
        ("type", c_uint16),  # enum edgecore_value_type
        ("order", c_uint16),  # enum edgecore_word_order
        ("bit", c_uint8),
        ("writable", c_uint8),
        ("sentinel_count", c_uint8),
        ("reserved", c_uint8),
        ("interval_ms", c_uint32),
        ("reserved2", c_uint32),
        ("scale", c_double),
        ("offset", c_double),
        ("valid_min", c_double),
        ("valid_max", c_double),
        ("sentinels", c_uint64 * SENTINELS_MAX),
        # 1.3: meters
        ("meter_item", c_uint32),  # DL/T 645 identifier or enum edgecore_cjt188_item
        ("meter_format", c_uint16),  # enum edgecore_meter_format
        ("meter_length", c_uint8),
        ("meter_decimals", c_uint8),
    ]


class DeviceStats(Structure):
    _fields_ = [
        ("requests", c_uint64),
        ("responses", c_uint64),
        ("timeouts", c_uint64),
        ("frame_errors", c_uint64),
        ("exceptions", c_uint64),
        ("disconnects", c_uint64),
        ("retries", c_uint64),
        ("skipped_offline", c_uint64),
        ("latency_total_us", c_uint64),
        ("latency_max_us", c_uint32),
        ("latency_histogram", c_uint32 * 8),
        ("state", c_uint16),  # enum edgecore_device_state
        ("last_exception", c_uint16),
        ("last_error", c_int32),
        ("consecutive_failures", c_uint32),
        ("last_ok_ns", c_int64),
        ("last_failure_ns", c_int64),
    ]


class BusStats(Structure):
    _fields_ = [
        ("state", c_uint16),  # enum edgecore_bus_state
        ("reserved", c_uint16),
        ("last_error", c_int32),
        ("opens", c_uint64),
        ("open_failures", c_uint64),
        ("losses", c_uint64),
        ("transactions", c_uint64),
        ("skipped_polls", c_uint64),
        ("last_change_ns", c_int64),
    ]


#: struct name in edgecore.h -> ctypes class (the layout test compares them with the C compiler's view)
STRUCTS = {
    "edgecore_reading": Reading,
    "edgecore_ring_stats": RingStats,
    "edgecore_engine_config": EngineConfig,
    "edgecore_tcp_bus_config": TcpBusConfig,
    "edgecore_rtu_bus_config": RtuBusConfig,
    "edgecore_local_bus_config": LocalBusConfig,
    "edgecore_device_config": DeviceConfig,
    "edgecore_channel_config": ChannelConfig,
    "edgecore_device_stats": DeviceStats,
    "edgecore_bus_stats": BusStats,
}

_p = c_void_p  # opaque handles
_SIGNATURES = {
    # name: (restype, argtypes)
    "edgecore_version_number": (c_int, []),
    "edgecore_version_string": (c_char_p, []),
    "edgecore_strerror": (c_char_p, [c_int]),
    "edgecore_status_name": (c_char_p, [c_int]),
    "edgecore_ring_create": (c_int, [c_uint32, c_uint32, c_int, POINTER(_p)]),
    "edgecore_ring_destroy": (None, [_p]),
    "edgecore_ring_publish": (c_int, [_p, c_uint32, POINTER(Reading), c_size_t]),
    "edgecore_ring_drain": (c_int, [_p, POINTER(Reading), c_size_t]),
    "edgecore_ring_wait": (c_int, [_p, c_int32]),
    "edgecore_ring_stats_sized": (c_int, [_p, POINTER(RingStats), c_size_t]),
    "edgecore_ring_lane_stats_sized": (c_int, [_p, c_uint32, POINTER(RingStats), c_size_t]),
    "edgecore_engine_config_init_sized": (None, [POINTER(EngineConfig), c_size_t]),
    "edgecore_tcp_bus_config_init_sized": (None, [POINTER(TcpBusConfig), c_size_t]),
    "edgecore_rtu_bus_config_init_sized": (None, [POINTER(RtuBusConfig), c_size_t]),
    "edgecore_local_bus_config_init_sized": (None, [POINTER(LocalBusConfig), c_size_t]),
    "edgecore_device_config_init_sized": (None, [POINTER(DeviceConfig), c_size_t]),
    "edgecore_channel_config_init_sized": (None, [POINTER(ChannelConfig), c_size_t]),
    "edgecore_engine_create_sized": (c_int, [POINTER(EngineConfig), c_size_t, POINTER(_p)]),
    "edgecore_engine_destroy": (None, [_p]),
    "edgecore_engine_last_error": (c_char_p, []),
    "edgecore_engine_add_tcp_bus_sized": (c_int, [_p, POINTER(TcpBusConfig), c_size_t, POINTER(c_uint32)]),
    "edgecore_engine_add_rtu_bus_sized": (c_int, [_p, POINTER(RtuBusConfig), c_size_t, POINTER(c_uint32)]),
    "edgecore_engine_add_local_bus_sized": (c_int, [_p, POINTER(LocalBusConfig), c_size_t, POINTER(c_uint32)]),
    "edgecore_engine_add_device_sized": (c_int, [_p, POINTER(DeviceConfig), c_size_t, POINTER(c_uint32)]),
    "edgecore_engine_add_channel_sized": (c_int, [_p, POINTER(ChannelConfig), c_size_t, POINTER(c_uint32)]),
    "edgecore_engine_add_hole": (c_int, [_p, c_uint32, c_uint8, c_uint16, c_uint16]),
    "edgecore_engine_load_yaml": (c_int, [_p, c_char_p]),
    "edgecore_engine_find_bus": (c_int, [_p, c_char_p, POINTER(c_uint32)]),
    "edgecore_engine_find_device": (c_int, [_p, c_char_p, POINTER(c_uint32)]),
    "edgecore_engine_find_channel": (c_int, [_p, c_char_p, POINTER(c_uint32)]),
    "edgecore_engine_counts": (c_int, [_p, POINTER(c_uint32), POINTER(c_uint32), POINTER(c_uint32)]),
    "edgecore_engine_channel_info": (c_int, [_p, c_uint32, POINTER(c_char_p), POINTER(c_char_p),
                                             POINTER(c_uint32)]),
    "edgecore_engine_plan": (c_int, [_p, c_char_p, c_size_t]),
    "edgecore_engine_start": (c_int, [_p]),
    "edgecore_engine_stop": (c_int, [_p]),
    "edgecore_engine_drain": (c_int, [_p, POINTER(Reading), c_size_t]),
    "edgecore_engine_wait": (c_int, [_p, c_int32]),
    "edgecore_engine_ring_stats_sized": (c_int, [_p, POINTER(RingStats), c_size_t]),
    "edgecore_engine_device_stats_sized": (c_int, [_p, c_uint32, POINTER(DeviceStats), c_size_t]),
    "edgecore_engine_bus_stats_sized": (c_int, [_p, c_uint32, POINTER(BusStats), c_size_t]),
    "edgecore_engine_device_info": (c_int, [_p, c_uint32, POINTER(c_char_p), POINTER(c_uint32),
                                            POINTER(ctypes.c_uint8)]),
    "edgecore_engine_write": (c_int, [_p, c_uint32, c_double, c_int32]),
    "edgecore_engine_write_registers": (c_int, [_p, c_uint32, c_uint16, POINTER(c_uint16), c_size_t, c_int32]),
    "edgecore_engine_write_coils": (c_int, [_p, c_uint32, c_uint16, POINTER(c_uint8), c_size_t, c_int32]),
    "edgecore_engine_meter_time_sync": (c_int, [_p, c_uint32, c_int64, c_int32]),
    "edgecore_engine_meter_discover": (c_int, [_p, c_uint32, POINTER(c_char), c_size_t, c_int32]),
    "edgecore_engine_device_last_problem": (c_int, [_p, c_uint32, POINTER(c_char), c_size_t]),
    "edgecore_meter_item_find": (c_int, [c_int, c_char_p, POINTER(c_uint32)]),
}

#: The header's static inline wrappers: name -> (index of the struct argument, its ctypes class). Calling
#: lib.NAME calls the exported NAME_sized with the struct's size inserted after it, as the wrapper does.
_SIZED = {
    "edgecore_ring_stats": (1, RingStats),
    "edgecore_ring_lane_stats": (2, RingStats),
    "edgecore_engine_config_init": (0, EngineConfig),
    "edgecore_tcp_bus_config_init": (0, TcpBusConfig),
    "edgecore_rtu_bus_config_init": (0, RtuBusConfig),
    "edgecore_local_bus_config_init": (0, LocalBusConfig),
    "edgecore_device_config_init": (0, DeviceConfig),
    "edgecore_channel_config_init": (0, ChannelConfig),
    "edgecore_engine_create": (0, EngineConfig),
    "edgecore_engine_add_tcp_bus": (1, TcpBusConfig),
    "edgecore_engine_add_rtu_bus": (1, RtuBusConfig),
    "edgecore_engine_add_local_bus": (1, LocalBusConfig),
    "edgecore_engine_add_device": (1, DeviceConfig),
    "edgecore_engine_add_channel": (1, ChannelConfig),
    "edgecore_engine_ring_stats": (1, RingStats),
    "edgecore_engine_device_stats": (2, DeviceStats),
    "edgecore_engine_bus_stats": (2, BusStats),
}


class EdgeCoreMissing(RuntimeError):
    """The library or one of its functions is not there (yet)."""


class _Library:
    """Loads the library on first use and resolves each function on its first call."""

    def __init__(self):
        self._dll = None
        self._functions = {}

    @property
    def path(self) -> str:
        return os.environ.get("EDGECORE_LIB", str(DEFAULT_LIB))

    def dll(self):
        if self._dll is None:
            try:
                self._dll = ctypes.CDLL(self.path)
            except OSError as e:
                raise EdgeCoreMissing(f"cannot load {self.path}: {e} (build it with make, or set EDGECORE_LIB)")
        return self._dll

    def has(self, name: str) -> bool:
        try:
            getattr(self.dll(), name)
            return True
        except (AttributeError, EdgeCoreMissing):
            return False

    def __getattr__(self, name: str):
        if not name.startswith("edgecore_"):
            raise AttributeError(name)
        fn = self._functions.get(name)
        if fn is None and name in _SIZED:
            index, struct = _SIZED[name]
            sized = getattr(self, name + "_sized")

            def fn(*args, _sized=sized, _index=index, _size=ctypes.sizeof(struct)):
                args = list(args)
                args.insert(_index + 1, 0 if args[_index] is None else _size)
                return _sized(*args)
            self._functions[name] = fn
        if fn is None:
            restype, argtypes = _SIGNATURES[name]
            try:
                fn = getattr(self.dll(), name)
            except AttributeError:
                raise EdgeCoreMissing(f"{self.path} has no function {name} (not implemented yet?)") from None
            fn.restype = restype
            fn.argtypes = argtypes
            self._functions[name] = fn
        return fn


lib = _Library()


def _text(b) -> str:
    return b.decode("utf-8", "replace") if b is not None else ""


def strerror(code: int) -> str:
    return _text(lib.edgecore_strerror(code))


def status_name(status: int) -> str:
    return _text(lib.edgecore_status_name(status))


def version_number() -> int:
    return lib.edgecore_version_number()


def version_string() -> str:
    return _text(lib.edgecore_version_string())


def engine_last_error() -> str:
    return _text(lib.edgecore_engine_last_error())


class EdgeCoreError(Exception):
    """A negative result. code: the result code; message: edgecore_strerror(code) [+ ": " + last error];
    detail: edgecore_engine_last_error() right after the failing engine call ("" otherwise)."""

    def __init__(self, code: int, message: str, detail: str = "", function: str = ""):
        self.code = code
        self.message = message
        self.detail = detail
        self.function = function
        super().__init__(f"{function}: {code} {message}" if function else f"{code} {message}")


def _check(name: str, rc: int, engine_call: bool) -> int:
    if rc >= 0:
        return rc
    detail = engine_last_error() if engine_call else ""
    message = strerror(rc)
    if detail and message not in detail:
        message = f"{message}: {detail}"
    elif detail:
        message = detail
    raise EdgeCoreError(rc, message, detail, name)


def _call(name: str, *args) -> int:
    return _check(name, getattr(lib, name)(*args), name.startswith("edgecore_engine_"))


def _b(s) -> bytes | None:
    if s is None:
        return None
    return os.fsencode(s) if isinstance(s, (str, os.PathLike)) else bytes(s)


def _apply(config: Structure, fields: dict) -> None:
    names = {f[0] for f in config._fields_}
    for key, value in fields.items():
        if key not in names:
            raise TypeError(f"{type(config).__name__} has no field {key!r}")
        ftype = dict(config._fields_)[key]
        if ftype is c_char_p:
            value = _b(value)
        elif ftype is c_char and isinstance(value, str):
            value = value.encode()
        elif isinstance(value, (list, tuple)):
            arr = ftype()
            for i, v in enumerate(value):
                arr[i] = v
            value = arr
        setattr(config, key, value)


def _enum(value, enum_cls):
    """A member's value; a name may be given in any case, with '-' for '_' ("dlt645-2007", "bcd_signed")."""
    if isinstance(value, str):
        return int(enum_cls[value.upper().replace("-", "_")])
    return int(value)


def meter_item_find(protocol, name: str) -> int:
    """edgecore_meter_item_find: the meter_item of a catalogue name (DL/T 645) or a CJ/T 188 item name."""
    out = c_uint32()
    _check("edgecore_meter_item_find", lib.edgecore_meter_item_find(_enum(protocol, Protocol), _b(name), byref(out)),
           True)
    return out.value


# ------------------------------------------------------------------------------------------------------
# Config initialisers
# ------------------------------------------------------------------------------------------------------

def engine_config(**fields) -> EngineConfig:
    c = EngineConfig()
    lib.edgecore_engine_config_init(byref(c))
    _apply(c, fields)
    return c


def tcp_bus_config(**fields) -> TcpBusConfig:
    """framing also as a name ("transparent")."""
    c = TcpBusConfig()
    lib.edgecore_tcp_bus_config_init(byref(c))
    if "framing" in fields:
        fields = dict(fields, framing=_enum(fields["framing"], TcpFraming))
    _apply(c, fields)
    return c


def local_bus_config(**fields) -> LocalBusConfig:
    c = LocalBusConfig()
    lib.edgecore_local_bus_config_init(byref(c))
    _apply(c, fields)
    return c


def rtu_bus_config(**fields) -> RtuBusConfig:
    c = RtuBusConfig()
    lib.edgecore_rtu_bus_config_init(byref(c))
    _apply(c, fields)
    return c


def device_config(**fields) -> DeviceConfig:
    """protocol also as a name ("dlt645-2007", "cjt188")."""
    c = DeviceConfig()
    lib.edgecore_device_config_init(byref(c))
    if "protocol" in fields:
        fields = dict(fields, protocol=_enum(fields["protocol"], Protocol))
    _apply(c, fields)
    return c


def channel_config(**fields) -> ChannelConfig:
    """Fields as in struct edgecore_channel_config; function/type/order also as names ("holding"/"HOLDING_REGISTERS",
    "f32", "CDAB"); sentinels as a list (sets sentinel_count unless given)."""
    c = ChannelConfig()
    lib.edgecore_channel_config_init(byref(c))
    fields = dict(fields)
    if "function" in fields and isinstance(fields["function"], str):
        f = fields["function"]
        fields["function"] = int(TABLE_FUNCTION[f]) if f in TABLE_FUNCTION else _enum(f, Function)
    if "type" in fields:
        fields["type"] = _enum(fields["type"], ValueType)
    if "order" in fields:
        fields["order"] = _enum(fields["order"], WordOrder)
    if "meter_format" in fields:
        fields["meter_format"] = _enum(fields["meter_format"], MeterFormat)
    if "sentinels" in fields:
        sentinels = list(fields["sentinels"])
        if len(sentinels) > SENTINELS_MAX:
            raise ValueError(f"at most {SENTINELS_MAX} sentinels")
        fields.setdefault("sentinel_count", len(sentinels))
        fields["sentinels"] = sentinels + [0] * (SENTINELS_MAX - len(sentinels))
    _apply(c, fields)
    return c


# ------------------------------------------------------------------------------------------------------
# Ring
# ------------------------------------------------------------------------------------------------------

class Ring:
    def __init__(self, capacity: int, lanes: int = 1, policy=Overflow.DROP_OLDEST):
        self._handle = c_void_p()
        _call("edgecore_ring_create", capacity, lanes, int(policy), byref(self._handle))

    def close(self) -> None:
        if self._handle:
            lib.edgecore_ring_destroy(self._handle)
            self._handle = c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def publish(self, lane: int, readings) -> int:
        arr = (Reading * len(readings))(*readings)
        return _call("edgecore_ring_publish", self._handle, lane, arr, len(readings))

    def drain(self, max_count: int = 4096) -> list[Reading]:
        buf = (Reading * max_count)()
        n = _call("edgecore_ring_drain", self._handle, buf, max_count)
        return list(buf[:n])

    def wait(self, timeout_ms: int) -> int:
        """Readings available, or 0 when the timeout passed (E_TIMEOUT)."""
        rc = lib.edgecore_ring_wait(self._handle, timeout_ms)
        return 0 if rc == E_TIMEOUT else _check("edgecore_ring_wait", rc, False)

    def stats(self) -> RingStats:
        s = RingStats()
        _call("edgecore_ring_stats", self._handle, byref(s))
        return s

    def lane_stats(self, lane: int) -> RingStats:
        s = RingStats()
        _call("edgecore_ring_lane_stats", self._handle, lane, byref(s))
        return s


# ------------------------------------------------------------------------------------------------------
# Engine
# ------------------------------------------------------------------------------------------------------

class Engine:
    """An edgecore_engine. Engine(ring_capacity=..., overflow=...) or Engine(config=None) for the defaults.
    Use as a context manager or call close()."""

    def __init__(self, config: EngineConfig | None = None, **fields):
        self._handle = c_void_p()
        if config is None and fields:
            config = engine_config(**fields)
        _call("edgecore_engine_create", byref(config) if config is not None else None, byref(self._handle))

    @property
    def handle(self) -> c_void_p:
        return self._handle

    def close(self) -> None:
        """edgecore_engine_destroy (stops a running engine first)."""
        if self._handle:
            lib.edgecore_engine_destroy(self._handle)
            self._handle = c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- configuration --------------------------------------------------------------------------------
    def _add(self, function: str, config: Structure) -> int:
        out = c_uint32()
        _call(function, self._handle, byref(config), byref(out))
        return out.value

    def add_tcp_bus(self, name: str, host: str = "127.0.0.1", port: int = 502, **fields) -> int:
        """The new bus id. fields: other struct edgecore_tcp_bus_config fields; the rest keep their defaults."""
        return self._add("edgecore_engine_add_tcp_bus", tcp_bus_config(name=name, host=host, port=port, **fields))

    def add_rtu_bus(self, name: str, device: str, **fields) -> int:
        return self._add("edgecore_engine_add_rtu_bus", rtu_bus_config(name=name, device=device, **fields))

    def add_local_bus(self, name: str, **fields) -> int:
        """A local bus (1.4): channels the application sets with write(); the new bus id."""
        return self._add("edgecore_engine_add_local_bus", local_bus_config(name=name, **fields))

    def add_local_channel(self, name: str, device: int, **fields) -> int:
        """A channel of a local bus's device; fields: unit, valid_min, valid_max, interval_ms (0: on writes
        only; default 1000)."""
        return self._add("edgecore_engine_add_channel", channel_config(name=name, device=device, **fields))

    def add_device(self, name: str, bus: int, unit_id: int = 1, **fields) -> int:
        return self._add("edgecore_engine_add_device", device_config(name=name, bus=bus, unit_id=unit_id, **fields))

    def add_channel(self, name: str, device: int, address: int, **fields) -> int:
        """fields: function, type, order (numbers or names), unit, interval_ms, scale, offset, valid_min,
        valid_max, sentinels=[...], writable, bit, ..."""
        return self._add("edgecore_engine_add_channel",
                         channel_config(name=name, device=device, address=address, **fields))

    def add_meter(self, name: str, bus: int, protocol, meter_address: str, **fields) -> int:
        """A meter device: protocol (Protocol or "dlt645-2007", "dlt645-1997", "cjt188"), its address as
        printed; fields: preamble, meter_type, identifier_order, allow_time_sync, response_timeout_ms, ..."""
        return self._add("edgecore_engine_add_device",
                         device_config(name=name, bus=bus, protocol=protocol, meter_address=meter_address, **fields))

    def add_meter_channel(self, name: str, device: int, item, protocol=None, **fields) -> int:
        """A channel of a meter: item is a meter_item number, or a name looked up for `protocol`
        (meter_item_find); fields: meter_format ("bcd"...), meter_length, meter_decimals, unit, scale, ..."""
        if isinstance(item, str):
            if protocol is None:
                raise TypeError("a meter item given by name needs its protocol")
            item = meter_item_find(protocol, item)
        return self._add("edgecore_engine_add_channel", channel_config(name=name, device=device, meter_item=item,
                                                                       **fields))

    def add_channel_config(self, config: ChannelConfig) -> int:
        return self._add("edgecore_engine_add_channel", config)

    def add_hole(self, device: int, function, first: int, last: int) -> None:
        f = int(TABLE_FUNCTION[function]) if isinstance(function, str) and function in TABLE_FUNCTION \
            else _enum(function, Function)
        _call("edgecore_engine_add_hole", self._handle, device, f, first, last)

    def load_yaml(self, path) -> None:
        _call("edgecore_engine_load_yaml", self._handle, _b(path))

    def _find(self, function: str, name: str) -> int:
        out = c_uint32()
        _call(function, self._handle, _b(name), byref(out))
        return out.value

    def find_bus(self, name: str) -> int:
        return self._find("edgecore_engine_find_bus", name)

    def find_device(self, name: str) -> int:
        return self._find("edgecore_engine_find_device", name)

    def find_channel(self, name: str) -> int:
        return self._find("edgecore_engine_find_channel", name)

    def counts(self) -> tuple[int, int, int]:
        b, d, c = c_uint32(), c_uint32(), c_uint32()
        _call("edgecore_engine_counts", self._handle, byref(b), byref(d), byref(c))
        return b.value, d.value, c.value

    def channel_info(self, channel: int) -> tuple[str, str, int]:
        """(name, unit, device id)."""
        name, unit, device = c_char_p(), c_char_p(), c_uint32()
        _call("edgecore_engine_channel_info", self._handle, channel, byref(name), byref(unit), byref(device))
        return _text(name.value), _text(unit.value), device.value

    def plan(self) -> str:
        n = _call("edgecore_engine_plan", self._handle, None, 0)
        buf = ctypes.create_string_buffer(n + 1)
        m = _call("edgecore_engine_plan", self._handle, buf, n + 1)
        if m != n:
            raise AssertionError(f"edgecore_engine_plan: length {n} then {m}")
        return buf.value.decode("utf-8", "replace")

    # -- running --------------------------------------------------------------------------------------
    def start(self) -> None:
        _call("edgecore_engine_start", self._handle)

    def stop(self) -> None:
        _call("edgecore_engine_stop", self._handle)

    def drain(self, max_count: int = 4096) -> list[Reading]:
        buf = (Reading * max_count)()
        n = _call("edgecore_engine_drain", self._handle, buf, max_count)
        return list(buf[:n])

    def wait(self, timeout_ms: int) -> int:
        """Readings available, or 0 when the timeout passed (E_TIMEOUT); other failures raise."""
        rc = lib.edgecore_engine_wait(self._handle, timeout_ms)
        return 0 if rc == E_TIMEOUT else _check("edgecore_engine_wait", rc, True)

    def collect(self, seconds: float, max_count: int = 4096) -> list[Reading]:
        """All readings drained during `seconds`."""
        out: list[Reading] = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if self.wait(max(1, min(int(left * 1000), 100))):
                out += self.drain(max_count)
        return out + self.drain(max_count)

    def collect_until(self, predicate, timeout: float, max_count: int = 4096) -> list[Reading]:
        """Drain until predicate(all readings so far) is true; raises TimeoutError after `timeout` s."""
        out: list[Reading] = []
        deadline = time.monotonic() + timeout
        while not predicate(out):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"condition not met within {timeout} s ({len(out)} readings)")
            if self.wait(max(1, min(int(left * 1000), 100))):
                out += self.drain(max_count)
        return out

    def ring_stats(self) -> RingStats:
        s = RingStats()
        _call("edgecore_engine_ring_stats", self._handle, byref(s))
        return s

    def device_stats(self, device: int) -> DeviceStats:
        s = DeviceStats()
        _call("edgecore_engine_device_stats", self._handle, device, byref(s))
        return s

    def bus_stats(self, bus: int) -> BusStats:
        s = BusStats()
        _call("edgecore_engine_bus_stats", self._handle, bus, byref(s))
        return s

    def device_last_problem(self, device: int) -> str:
        """edgecore_engine_device_last_problem: why the device's last transaction failed ("" before any)."""
        length = _call("edgecore_engine_device_last_problem", self._handle, device, None, 0)
        buf = ctypes.create_string_buffer(length + 1)
        _call("edgecore_engine_device_last_problem", self._handle, device, buf, length + 1)
        return _text(buf.value)

    def device_info(self, device: int) -> tuple[str, int, int]:
        """(name, bus id, unit id)."""
        name, bus, unit = c_char_p(), c_uint32(), ctypes.c_uint8()
        _call("edgecore_engine_device_info", self._handle, device, byref(name), byref(bus), byref(unit))
        return _text(name.value), bus.value, unit.value

    def write(self, channel: int, value: float, timeout_ms: int = 5000) -> None:
        _call("edgecore_engine_write", self._handle, channel, float(value), timeout_ms)

    def write_registers(self, device: int, address: int, values, timeout_ms: int = 5000) -> None:
        values = list(values)
        arr = (c_uint16 * max(1, len(values)))(*values)
        _call("edgecore_engine_write_registers", self._handle, device, address, arr, len(values), timeout_ms)

    def write_coils(self, device: int, address: int, values, timeout_ms: int = 5000) -> None:
        values = [1 if v else 0 for v in values]
        arr = (c_uint8 * max(1, len(values)))(*values)
        _call("edgecore_engine_write_coils", self._handle, device, address, arr, len(values), timeout_ms)


    # -- meter actions --------------------------------------------------------------------------------
    def meter_time_sync(self, bus: int, unix_seconds: int = 0, timeout_ms: int = 5000) -> None:
        """edgecore_engine_meter_time_sync: the DL/T 645 broadcast time sync on `bus` (0: now)."""
        _call("edgecore_engine_meter_time_sync", self._handle, bus, unix_seconds, timeout_ms)

    def meter_discover(self, bus: int, timeout_ms: int = 5000, size: int = 13) -> str:
        """edgecore_engine_meter_discover: the address of the one DL/T 645-2007 meter on `bus`."""
        buf = ctypes.create_string_buffer(max(1, size))
        _call("edgecore_engine_meter_discover", self._handle, bus, buf, size, timeout_ms)
        return buf.value.decode("ascii", "replace")


def nan() -> float:
    """NaN, e.g. for valid_min/valid_max without a bound."""
    return math.nan
