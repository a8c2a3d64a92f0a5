"""Device profiles (profiles/*.yaml, docs/profiles.md), each read against a real peer serving its map: the
libmodbus server with a map file built from the profile's channels (a known value per channel, encoded as the
profile says: type, order, scale), the dlt645 package's server for the DL/T 645 profile and our CJ/T 188 peer
for the water meter. The site file names each device by `profile:` only (plus its unit id / meter address);
the profiles are found through EDGECORE_PROFILES. Every channel of every profile must come back with exactly
the value the peer was given.

The profiles write one channel per line as a flow mapping ("  - {name: ..., address: ...}"); the small reader
below takes that form only, and fails on a channel line it cannot read, so no channel goes untested.
"""
from __future__ import annotations

import math
import re
import struct
from pathlib import Path

import edgecore
import regmap
from harness import write_table

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
MODBUS_PROFILES = ["eastron-sdm120", "eastron-sdm630", "chint-dtsu666", "chint-ddsu666", "soil-3in1",
                   "co2-temp-humidity"]
DLT645_PROFILE = "dlt645-2007-3phase"
CJT188_PROFILE = "cjt188-cold-water"
EM = "000012345678"
WATER = "00000012345678"
# The catalogue items of the DL/T 645 profile: identifier and a value in the item's format.
DLT645_VALUES = {
    "forward_active_energy_total": ("00010000", 12345.67), "reverse_active_energy_total": ("00020000", 321.09),
    "voltage_a": ("02010100", 229.8), "voltage_b": ("02010200", 230.1), "voltage_c": ("02010300", 231.5),
    "current_a": ("02020100", 5.123), "current_b": ("02020200", -0.456), "current_c": ("02020300", 12.001),
    "active_power_total": ("02030000", 3.4567), "power_factor_total": ("02060000", 0.987),
    "frequency": ("02800002", 49.98),
}


def profile_channels(name: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The profile's top-level scalar fields and its channels (each a dict of the flow mapping's fields)."""
    top, channels = {}, []
    in_channels = False
    for line in (PROFILES / f"{name}.yaml").read_text().splitlines():
        text = line.split("#", 1)[0].rstrip() if not line.lstrip().startswith("- {") else line
        if not text.strip() or line.lstrip().startswith("#"):
            continue
        if text.startswith("channels:"):
            in_channels = True
            continue
        if in_channels and text.lstrip().startswith("-"):
            match = re.match(r"\s*-\s*\{(.*)\}\s*(#.*)?$", text)
            assert match, f"{name}: a channel written other than as one flow mapping: {line!r}"
            fields = {}
            for part in match.group(1).split(","):
                key, value = part.split(":", 1)
                fields[key.strip()] = value.strip().strip('"')
            channels.append(fields)
        elif not text.startswith(" "):
            key, value = text.split(":", 1)
            top[key.strip()] = value.strip()
    assert channels, f"{name}: no channels"
    return top, channels


def served_value(index: int, channel: dict[str, str]) -> tuple[list[int], float]:
    """Registers to serve for the channel and the value the engine must then report (raw * scale)."""
    type_ = channel.get("type", "u16")
    scale = float(channel.get("scale", "1"))
    if type_ == "f32":
        raw = struct.unpack(">f", struct.pack(">f", 100.25 + 7.5 * index))[0]  # exact in float32
    elif type_ == "i16":
        raw = -123 - index if index % 2 else 215 + index
    else:
        raw = 345 + 11 * index
    if "valid_max" in channel:  # keep the value inside the channel's range: status OK
        while raw * scale > float(channel["valid_max"]):
            raw = raw / 4 if type_ == "f32" else raw // 4
    registers = regmap.encode(type_, raw, channel.get("order", "ABCD"))
    return registers, raw * scale


def serve_modbus_profile(name: str, unit: int, served: regmap.RegisterMap) -> dict[str, float]:
    """Put the profile's channels into `served` for `unit`: {channel name (the profile's): value to expect}."""
    top, channels = profile_channels(name)
    assert top.get("protocol") == "modbus", name
    expected = {}
    for index, channel in enumerate(channels):
        table = "input" if channel.get("function") == "input" else "holding"
        assert channel.get("function", "holding") in ("input", "holding"), (name, channel)
        registers, value = served_value(index, channel)
        served.set_registers(unit, table, int(channel["address"], 0), registers)
        expected[channel["name"]] = value
    return expected


def dlt645_profile_table() -> tuple[dict[str, float], dict[str, float]]:
    """The DL/T 645 profile's peer table {identifier: value} and {channel name: value to expect}."""
    table, expected = {}, {}
    for channel in profile_channels(DLT645_PROFILE)[1]:
        di, value = DLT645_VALUES[channel["item"]]
        table[di] = value
        expected[channel["name"]] = value
    return table, expected


# The CJ/T 188 peer's table for the water meter, and what each catalogue item then reads.
WATER_TABLE = {"flow": 1234.56, "flow_unit": "2C", "settlement_flow": 1200.5, "settlement_flow_unit": "2C",
               "valve": "closed", "battery_low": 1}
WATER_ITEMS = {"current_flow": 1234.56, "settlement_flow": 1200.5, "valve_state": 1.0, "battery_low": 1.0}


def cjt188_profile_expected() -> dict[str, float]:
    top, channels = profile_channels(CJT188_PROFILE)
    assert top["meter_type"] == "0x10"
    return {channel["name"]: WATER_ITEMS[channel["item"]] for channel in channels}


def latest_ok(readings, ids: dict[str, int]) -> dict[str, float]:
    by_id = {v: k for k, v in ids.items()}
    out = {}
    for r in readings:
        if r.channel in by_id and r.status == edgecore.Status.OK:
            out[by_id[r.channel]] = r.value
    return out


def test_every_profile_reads_every_channel_from_a_peer(libmodbus_server, free_tcp_port, meter_peer, edgecore_engine,
                                                       tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECORE_PROFILES", f"{tmp_path / 'none'}:{PROFILES}")
    expected: dict[str, float] = {}
    served = regmap.RegisterMap()
    devices = []
    for unit, name in enumerate(MODBUS_PROFILES, start=1):
        device = name.replace("-", "_")
        for channel, value in serve_modbus_profile(name, unit, served).items():
            expected[f"{device}.{channel}"] = value
        devices.append(f"      - {{name: {device}, profile: {name}, unit_id: {unit}}}")
    port = free_tcp_port()
    libmodbus_server(tcp=port, map=served)

    table, by_channel = dlt645_profile_table()
    expected.update({f"em.{channel}": value for channel, value in by_channel.items()})
    _, dtu, _ = meter_peer("dlt645", "tcp", meters=[f"{EM}={write_table(tmp_path / 'em.txt', table)}"])

    expected.update({f"water.{channel}": value for channel, value in cjt188_profile_expected().items()})
    _, line, _ = meter_peer("cjt188", "rtu",
                            meters=[f"10:{WATER}={write_table(tmp_path / 'water.txt', WATER_TABLE)}"])

    site = tmp_path / "site.yaml"
    modbus_devices = "\n".join(devices)
    site.write_text(f"""
buses:
  - name: plc
    type: tcp
    host: 127.0.0.1
    port: {port}
    devices:
{modbus_devices}
  - name: dtu
    type: tcp
    host: 127.0.0.1
    port: {dtu["tcp"]}
    framing: transparent
    devices:
      - {{name: em, profile: {DLT645_PROFILE}, meter_address: '{EM}'}}
  - name: line
    type: rtu
    device: {line["rtu"]}
    baud: 2400
    parity: E
    devices:
      - {{name: water, profile: {CJT188_PROFILE}, meter_address: "{WATER}"}}
""")
    engine = edgecore_engine(ring_capacity=8192)
    engine.load_yaml(site)
    ids = {name: engine.find_channel(name) for name in expected}
    assert engine.counts() == (3, len(MODBUS_PROFILES) + 2, len(expected))  # no channel more than the profiles'
    units = {name: engine.channel_info(ids[name])[1] for name in expected}
    assert units["eastron_sdm120.voltage"] == "V" and units["em.forward_energy"] == "kWh"
    assert units["soil_3in1.conductivity"] == "uS/cm" and units["water.flow"] == "m3"
    engine.start()
    readings = engine.collect_until(lambda rs: len(latest_ok(rs, ids)) == len(expected), timeout=30)
    engine.stop()
    got = latest_ok(readings, ids)
    missing = sorted(set(expected) - set(got))
    assert not missing, f"no OK reading of {missing}"
    wrong = {name: (got[name], value) for name, value in expected.items()
             if not math.isclose(got[name], value, rel_tol=1e-12, abs_tol=1e-12)}
    assert not wrong, wrong
    print(f"profiles: {len(MODBUS_PROFILES) + 2}, channels read: {len(expected)}")
