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
]
RESULT_CODES = [n for n in dir(edgecore) if n.startswith("E_")]


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
              "EDGECORE_SENTINELS_MAX"):
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
    assert edgecore.version_number() == 1002000 and edgecore.version_string() == "1.2.0"
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
