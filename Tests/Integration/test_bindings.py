"""The ctypes bindings (edgecore.py) agree with include/edgecore.h as the C compiler sees it, and work against
the parts of libEdgeCore that exist (version, result codes, ring)."""
from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

import edgecore
import regmap
from harness import ROOT

ENUMS = [  # (Python enum, C prefix)
    (edgecore.Status, "EDGECORE_STATUS_"),
    (edgecore.Overflow, "EDGECORE_OVERFLOW_"),
    (edgecore.Function, "EDGECORE_FC_"),
    (edgecore.ValueType, "EDGECORE_TYPE_"),
    (edgecore.WordOrder, "EDGECORE_ORDER_"),
    (edgecore.DeviceState, "EDGECORE_DEVICE_"),
    (edgecore.BusState, "EDGECORE_BUS_"),
    (edgecore.TcpFraming, "EDGECORE_TCP_"),
    (edgecore.Protocol, "EDGECORE_PROTOCOL_"),
    (edgecore.MeterFormat, "EDGECORE_METER_FORMAT_"),
    (edgecore.CJT188Item, "EDGECORE_CJT188_"),
]
RESULT_CODES = [n for n in dir(edgecore) if n.startswith("E_")]
DLT645_ERRORS = [n for n in dir(edgecore) if n.startswith("DLT645_ERR_")]


@pytest.fixture(scope="module")
def c_view(tmp_path_factory) -> dict[str, int]:
    """sizeof/offsetof of every bound struct and field, and every bound constant, as gcc sees the header."""
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "edgecore.h"', "int main(void) {"]
    for cname, cls in edgecore.STRUCTS.items():
        lines.append(f'printf("{cname} %zu\\n", sizeof(struct {cname}));')
        for field, _ in cls._fields_:
            lines.append(f'printf("{cname}.{field} %zu %zu\\n", offsetof(struct {cname}, {field}), '
                         f'sizeof(((struct {cname} *)0)->{field}));')
    for enum_cls, prefix in ENUMS:
        for member in enum_cls:
            lines.append(f'printf("{prefix}{member.name} %d\\n", (int){prefix}{member.name});')
    for name in RESULT_CODES + ["EDGECORE_OK"]:
        c = name if name.startswith("EDGECORE_") else f"EDGECORE_{name}"
        lines.append(f'printf("{c} %d\\n", (int){c});')
    for c in ("EDGECORE_RING_CAPACITY_MIN", "EDGECORE_RING_CAPACITY_MAX", "EDGECORE_RING_LANES_MAX",
              "EDGECORE_SENTINELS_MAX") + tuple(f"EDGECORE_{n}" for n in DLT645_ERRORS):
        lines.append(f'printf("{c} %d\\n", (int){c});')
    lines.append("return 0; }")
    d = tmp_path_factory.mktemp("layout")
    (d / "layout.c").write_text("\n".join(lines) + "\n")
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", f"-I{ROOT / 'include'}", "-o", str(d / "layout"),
                    str(d / "layout.c")], check=True, timeout=60)
    out = subprocess.run([str(d / "layout")], check=True, capture_output=True, text=True, timeout=10).stdout
    view = {}
    for line in out.splitlines():
        key, *numbers = line.split()
        view[key] = tuple(int(n) for n in numbers) if len(numbers) > 1 else int(numbers[0])
    return view


def test_struct_layouts_match_the_header(c_view):
    assert sys.maxsize > 2**32  # the expectations below are for x86_64 / aarch64
    for cname, cls in edgecore.STRUCTS.items():
        assert ctypes.sizeof(cls) == c_view[cname], cname
        for field, _ in cls._fields_:
            descriptor = getattr(cls, field)
            assert (descriptor.offset, descriptor.size) == c_view[f"{cname}.{field}"], f"{cname}.{field}"
    assert ctypes.sizeof(edgecore.Reading) == 32 and ctypes.sizeof(edgecore.RingStats) == 48


def test_constants_match_the_header(c_view):
    for enum_cls, prefix in ENUMS:
        for member in enum_cls:
            assert int(member) == c_view[f"{prefix}{member.name}"], f"{prefix}{member.name}"
    for name in RESULT_CODES:
        assert getattr(edgecore, name) == c_view[f"EDGECORE_{name}"], name
    assert edgecore.EDGECORE_OK == c_view["EDGECORE_OK"] == 0
    assert edgecore.RING_CAPACITY_MIN == c_view["EDGECORE_RING_CAPACITY_MIN"]
    assert edgecore.RING_CAPACITY_MAX == c_view["EDGECORE_RING_CAPACITY_MAX"]
    assert edgecore.RING_LANES_MAX == c_view["EDGECORE_RING_LANES_MAX"]
    assert edgecore.SENTINELS_MAX == c_view["EDGECORE_SENTINELS_MAX"]
    assert len(DLT645_ERRORS) == 7
    for name in DLT645_ERRORS:
        assert getattr(edgecore, name) == c_view[f"EDGECORE_{name}"], name
    # regmap's type and order names are indexed by the same enums
    assert [t.upper() for t in regmap.TYPES] == [m.name for m in edgecore.ValueType][:8]
    assert list(regmap.ORDERS) == [m.name for m in edgecore.WordOrder]


def test_missing_library_fails_only_when_called(monkeypatch, tmp_path):
    fresh = edgecore._Library()
    monkeypatch.setenv("EDGECORE_LIB", str(tmp_path / "absent.so"))
    assert not fresh.has("edgecore_strerror")
    with pytest.raises(edgecore.EdgeCoreMissing, match="absent.so"):
        fresh.edgecore_strerror(0)


def test_version_result_codes_and_ring_against_the_library():
    assert edgecore.version_number() == 1004000 and edgecore.version_string() == "1.4.0"
    assert edgecore.strerror(0) == "success"
    assert edgecore.status_name(edgecore.Status.CRC_ERROR) == "crc_error"
    with pytest.raises(edgecore.EdgeCoreError) as e:
        edgecore.Ring(3)
    assert e.value.code == edgecore.E_INVALID_CAPACITY
    assert e.value.message == edgecore.strerror(edgecore.E_INVALID_CAPACITY)
    with edgecore.Ring(4, lanes=2, policy=edgecore.Overflow.REJECT_NEWEST) as ring:
        batch = [edgecore.Reading(timestamp_ns=i, value=i * 1.5, channel=7, sequence=i) for i in range(5)]
        assert ring.publish(1, batch) == 4
        assert ring.wait(0) == 4
        out = ring.drain(10)
        assert [(r.sequence, r.value, r.channel) for r in out] == [(i, i * 1.5, 7) for i in range(4)]
        s = ring.stats()
        assert (s.published, s.drained, s.rejected, s.available, s.capacity, s.lanes) == (4, 4, 1, 0, 4, 2)
        assert ring.wait(10) == 0  # timed out
        with pytest.raises(edgecore.EdgeCoreError) as e:
            ring.lane_stats(2)
        assert e.value.code == edgecore.E_INVALID_LANE


def test_meter_fields_and_functions_against_the_library():
    """The 1.3 meter fields reach the library through the bindings: defaults, names, refusals, actions."""
    tcp, device, channel = edgecore.tcp_bus_config(), edgecore.device_config(), edgecore.channel_config()
    assert tcp.framing == edgecore.TcpFraming.MBAP and tcp.line_baud == 9600
    assert (device.protocol, device.meter_type, device.preamble, device.identifier_order, device.allow_time_sync,
            device.meter_address) == (edgecore.Protocol.MODBUS, 0x10, 4, 0, 0, None)
    assert (channel.meter_item, channel.meter_format, channel.meter_length, channel.meter_decimals) == (
        0, edgecore.MeterFormat.CATALOGUE, 0, 0)  # length 0: the catalogue's
    assert edgecore.meter_item_find("dlt645-2007", "voltage_a") == 0x02010100
    assert edgecore.meter_item_find(edgecore.Protocol.DLT645_1997, "voltage_a") == 0xB611
    assert edgecore.meter_item_find("cjt188", "valve_state") == edgecore.CJT188Item.VALVE_STATE
    with pytest.raises(edgecore.EdgeCoreError) as e:
        edgecore.meter_item_find("dlt645-1997", "frequency")
    assert e.value.code == edgecore.E_NOT_FOUND and "no dlt645-1997 item named 'frequency'" in e.value.detail
    with pytest.raises(edgecore.EdgeCoreError) as e:
        edgecore.meter_item_find(0, "voltage_a")
    assert e.value.code == edgecore.E_INVALID_ARGUMENT
    assert edgecore.strerror(edgecore.E_AMBIGUOUS) != "unknown result code"

    with edgecore.Engine(ring_capacity=64) as engine:
        line = engine.add_rtu_bus("line", "/dev/ttyEDGECORE-no-such-line", baud=2400, parity="E")
        dtu = engine.add_tcp_bus("dtu", port=1, framing="transparent")
        plc = engine.add_tcp_bus("plc", port=1)
        em1 = engine.add_meter("em1", line, "dlt645-2007", "000012345678", allow_time_sync=1)
        water = engine.add_meter("water", line, "cjt188", "00000000000001", identifier_order=1)
        em3 = engine.add_meter("em3", dtu, edgecore.Protocol.DLT645_2007, "000012345678")
        engine.add_meter_channel("em1.ua", em1, "voltage_a", protocol="dlt645-2007")
        engine.add_meter_channel("em1.counter", em1, 0x04000403, meter_format="bcd", meter_length=6)
        engine.add_meter_channel("water.flow", water, edgecore.CJT188Item.CURRENT_FLOW)
        engine.add_meter_channel("em3.energy", em3, "forward_active_energy_total", protocol="dlt645-2007")
        assert engine.counts() == (3, 3, 4)
        assert [engine.channel_info(engine.find_channel(n))[1] for n in ("em1.ua", "em1.counter", "water.flow",
                                                                       "em3.energy")] == ["V", "", "m3", "kWh"]
        for call, code, detail in [
            (lambda: engine.add_meter("m", plc, "dlt645-2007", "000000000001"), edgecore.E_CONFIG, "needs a serial line"),
            (lambda: engine.add_meter("m", line, "dlt645-2007", "000012345678"), edgecore.E_DUPLICATE,
             "meter address 000012345678 is already device 'em1' on this bus"),
            (lambda: engine.add_meter_channel("x", em1, 0x04000403), edgecore.E_CONFIG, "is not in the catalogue"),
            (lambda: engine.add_meter_channel("x", water, "current_heat", protocol="cjt188"), edgecore.E_CONFIG,
             "'current_heat' is a field of heat meters"),
            # the CJ/T 188 meter of the line has no say: only the stopped engine refuses
            (lambda: engine.meter_time_sync(line), edgecore.E_NOT_RUNNING, ""),
            (lambda: engine.meter_time_sync(plc), edgecore.E_NOT_WRITABLE, "bus 'plc' has no DL/T 645 meter to sync"),
            (lambda: engine.meter_time_sync(dtu), edgecore.E_NOT_WRITABLE, "meter 'em3' does not allow a time sync"),
            (lambda: engine.meter_discover(line, size=12), edgecore.E_INVALID_ARGUMENT, "needs 13"),
            (lambda: engine.meter_discover(plc), edgecore.E_CONFIG, "carries no meter frames"),
            (lambda: engine.meter_discover(line), edgecore.E_NOT_RUNNING, ""),
        ]:
            with pytest.raises(edgecore.EdgeCoreError) as e:
                call()
            assert e.value.code == code and detail in e.value.detail, e.value
        assert engine.counts() == (3, 3, 4)
