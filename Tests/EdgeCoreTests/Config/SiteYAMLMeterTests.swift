import CShim
import Foundation
import Testing

@testable import EdgeCore

// Meters in site files (docs/meters.md): DL/T 645-2007 / -1997 and CJ/T 188 devices and channels, transparent
// TCP framing, and every refusal with its line and message.

/// An rtu bus whose device #1 is the meter 'm' (device mapping at line 6, protocol line 7, meter_address
/// line 8), followed by `rest` (from line 9, indented as the device's fields).
private func meterSite(_ rest: String, protocol deviceProtocol: String = "dlt645-2007",
                       address: String = "'000012345678'") -> String {
    """
    buses:
      - name: line
        type: rtu
        device: /dev/ttyS0
        devices:
          - name: m
            protocol: \(deviceProtocol)
            meter_address: \(address)
    \(rest)
    """
}

/// A meter 'm' whose one channel 'c' (mapping at line 10) has the fields `fields` (from line 11).
private func meterChannel(_ fields: String, protocol deviceProtocol: String = "dlt645-2007",
                          address: String = "'000012345678'") -> String {
    meterSite("""
            channels:
              - name: c
    \(fields)
    """, protocol: deviceProtocol, address: address)
}

private func catalogue(_ name: String, _ version: DLT645Version = .v2007) -> DLT645CatalogueEntry {
    DLT645Catalogue.entry(named: name, version: version)
        ?? DLT645CatalogueEntry(identifier: 0xFFFF_FFFF, name: "missing", format: MeterValueFormat(
            length: 0, decimals: 0, signed: false, kind: .bcd, unit: ""))
}

private func address(_ text: String, _ length: Int = 6) -> MeterAddress {
    (try? MeterAddress(text: text, length: length)) ?? MeterAddress(bytes: [])
}

private func meterChannelSpec(_ name: String, unit: String, device: Int, item: MeterItem, scale: Double = 1,
                              offset: Double = 0, min: Double? = nil, max: Double? = nil, writable: Bool = false,
                              intervalMs: UInt32 = 1000) -> ChannelSpec {
    var codec = ValueCodec.defaults
    codec.scale = scale
    codec.offset = offset
    codec.validMin = min
    codec.validMax = max
    return ChannelSpec(name: name, unit: unit, source: .meter(MeterPoint(device: device, item: item, codec: codec)),
                       writable: writable, intervalMs: intervalMs)
}

@Suite struct SiteYAMLMeterValidTests {
    @Test func metersOfEveryProtocolLoadToExactlyTheExpectedSpecs() {
        let result = loadYAML("""
        buses:
          - name: line
            type: rtu
            device: /dev/ttyS3
            baud: 2400
            parity: E
            devices:
              - name: em1
                protocol: dlt645-2007
                meter_address: '000012345678'
                preamble: 2
                allow_time_sync: true
                response_timeout_ms: 1500
                retries: 0
                channels:
                  - {name: em1.energy, item: forward_active_energy_total, interval_ms: 60000}
                  - {name: em1.ua, di: 0x02010100}
                  - name: em1.ia
                    item: current_a
                    format: bcd_signed
                    length: 3
                    decimals: 2
                    unit: mA
                    scale: 1000
                  - name: em1.custom
                    di: 0x04000403
                    format: bcd
                    length: 6
                    decimals: 0
                    valid_min: 0
                    valid_max: 1e12
                  - {name: em1.status, item: meter_status_1, format: binary, length: 2}
              - name: em2
                protocol: DLT645-1997
                meter_address: "AAAA00001234"
                channels:
                  - {name: em2.energy, item: forward_active_energy_total}
                  - {name: em2.ua, di: 0xB611, offset: 0.5}
              - name: water1
                protocol: cjt188
                meter_address: '11223344556677'
                identifier_order: high_first
                channels:
                  - {name: water1.flow, item: current_flow}
                  - {name: water1.valve, item: valve_state, writable: true}
              - name: heat1
                protocol: cjt188
                meter_address: '00000000000001'
                meter_type: 0x20
                preamble: 0
                channels:
                  - {name: heat1.energy, item: current_heat, unit: MWh}
                  - {name: heat1.supply, item: supply_temperature}
                  - {name: heat1.battery, item: battery_low}
              - name: plc
                unit_id: 5
                channels: [{name: plc.level, address: 7}]
          - name: dtu
            type: tcp
            host: 192.0.2.20
            port: 8899
            framing: transparent
            line_baud: 2400
            devices:
              - name: pump
                unit_id: 3
                channels: [{name: pump.speed, address: 10}]
              - name: em3
                protocol: dlt645-2007
                meter_address: '000012345678'
                channels:
                  - {name: em3.energy, item: forward_active_energy_total}
          - name: plain
            type: tcp
            host: 192.0.2.21
            framing: mbap
            devices: [{name: slave0, unit_id: 0}]
        """)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        let config = result.config

        var rtu = RTUBusSpec(name: "line", device: "/dev/ttyS3")
        rtu.baud = 2400
        rtu.parity = UInt8(ascii: "E")
        var dtu = TCPBusSpec(name: "dtu", host: "192.0.2.20")
        dtu.port = 8899
        dtu.framing = .transparent
        dtu.lineBaud = 2400
        let plain = TCPBusSpec(name: "plain", host: "192.0.2.21")
        #expect(plain.framing == .mbap)
        #expect(config.buses == [.rtu(rtu), .tcp(dtu), .tcp(plain)])

        var em1 = DeviceSpec(name: "em1", bus: 0)
        em1.deviceProtocol = .dlt645v2007
        em1.responseTimeoutMs = 1500
        em1.retries = 0
        em1.meter = MeterSettings(address: address("000012345678"), preamble: 2, allowTimeSync: true)
        #expect(em1.meter?.address.bytes == [0x78, 0x56, 0x34, 0x12, 0x00, 0x00])
        var em2 = DeviceSpec(name: "em2", bus: 0)
        em2.deviceProtocol = .dlt645v1997
        em2.meter = MeterSettings(address: MeterAddress(bytes: [0x34, 0x12, 0x00, 0x00, 0xAA, 0xAA]))
        var water1 = DeviceSpec(name: "water1", bus: 0)
        water1.deviceProtocol = .cjt188
        water1.meter = MeterSettings(address: address("11223344556677", 7), identifierOrder: .highByteFirst)
        var heat1 = DeviceSpec(name: "heat1", bus: 0)
        heat1.deviceProtocol = .cjt188
        heat1.meter = MeterSettings(address: address("00000000000001", 7), preamble: 0, meterType: .heat)
        var plc = DeviceSpec(name: "plc", bus: 0)
        plc.unitId = 5
        var pump = DeviceSpec(name: "pump", bus: 1)
        pump.unitId = 3
        var em3 = DeviceSpec(name: "em3", bus: 1)
        em3.deviceProtocol = .dlt645v2007
        em3.meter = MeterSettings(address: address("000012345678"))
        var slave0 = DeviceSpec(name: "slave0", bus: 2)
        slave0.unitId = 0
        let devices = [em1, em2, water1, heat1, plc, pump, em3, slave0]
        #expect(config.devices.count == devices.count)
        for (got, want) in zip(config.devices, devices) { #expect(got == want) }
        // The documented defaults of a meter's settings.
        #expect(em3.meter?.preamble == 4 && em3.meter?.meterType == .coldWater
                && em3.meter?.identifierOrder == .lowByteFirst && em3.meter?.allowTimeSync == false)

        let energy = catalogue("forward_active_energy_total")
        let voltage = catalogue("voltage_a")
        #expect(energy.identifier == 0x0001_0000 && voltage.identifier == 0x0201_0100)
        #expect(DLT645Catalogue.entry(identifier: 0x0400_0403, version: .v2007) == nil)
        let energy1997 = catalogue("forward_active_energy_total", .v1997)
        let voltage1997 = catalogue("voltage_a", .v1997)
        #expect(energy1997.identifier == 0x9010 && voltage1997.identifier == 0xB611)
        let customCurrent = MeterValueFormat(length: 3, decimals: 2, signed: true, kind: .bcd, unit: "A")
        let customCounter = MeterValueFormat(length: 6, decimals: 0, signed: false, kind: .bcd, unit: "")
        let status = MeterValueFormat(length: 2, decimals: 0, signed: false, kind: .binary, unit: "")
        let expected: [ChannelSpec] = [
            meterChannelSpec("em1.energy", unit: "kWh", device: 0,
                             item: .dlt645(identifier: 0x0001_0000, format: energy.format), intervalMs: 60000),
            meterChannelSpec("em1.ua", unit: "V", device: 0, item: .dlt645(identifier: 0x0201_0100, format: voltage.format)),
            meterChannelSpec("em1.ia", unit: "mA", device: 0,
                             item: .dlt645(identifier: 0x0202_0100, format: customCurrent), scale: 1000),
            meterChannelSpec("em1.custom", unit: "", device: 0,
                             item: .dlt645(identifier: 0x0400_0403, format: customCounter), min: 0, max: 1e12),
            meterChannelSpec("em1.status", unit: "", device: 0, item: .dlt645(identifier: 0x0400_0501, format: status)),
            meterChannelSpec("em2.energy", unit: "kWh", device: 1,
                             item: .dlt645(identifier: 0x9010, format: energy1997.format)),
            meterChannelSpec("em2.ua", unit: "V", device: 1, item: .dlt645(identifier: 0xB611, format: voltage1997.format),
                             offset: 0.5),
            meterChannelSpec("water1.flow", unit: "m3", device: 2, item: .cjt188(.currentFlow)),
            meterChannelSpec("water1.valve", unit: "", device: 2, item: .cjt188(.valveState), writable: true),
            meterChannelSpec("heat1.energy", unit: "MWh", device: 3, item: .cjt188(.currentHeat)),
            meterChannelSpec("heat1.supply", unit: "degC", device: 3, item: .cjt188(.supplyTemperature)),
            meterChannelSpec("heat1.battery", unit: "", device: 3, item: .cjt188(.batteryLow)),
            ChannelSpec(name: "plc.level", device: 4, address: 7, codec: .defaults),
            ChannelSpec(name: "pump.speed", device: 5, address: 10, codec: .defaults),
            meterChannelSpec("em3.energy", unit: "kWh", device: 6,
                             item: .dlt645(identifier: 0x0001_0000, format: energy.format)),
        ]
        #expect(config.channels.count == expected.count)
        for (got, want) in zip(config.channels, expected) { #expect(got == want) }
        // The catalogue's formats, spelled out once.
        #expect(energy.format == MeterValueFormat(length: 4, decimals: 2, signed: false, kind: .bcd, unit: "kWh"))
        #expect(voltage.format == MeterValueFormat(length: 2, decimals: 1, signed: false, kind: .bcd, unit: "V"))
        #expect(voltage1997.format == MeterValueFormat(length: 2, decimals: 0, signed: false, kind: .bcd, unit: "V"))
    }

    /// The README's meter example loads as it reads.
    @Test func readmeExampleLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Meters: DL/T 645 and CJ/T 188"))
        let start = try #require(readme.range(of: "```yaml\n", range: section.upperBound..<readme.endIndex))
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let result = loadYAML(String(readme[start.upperBound..<end.lowerBound]))
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        let config = result.config
        #expect(config.buses.count == 2 && config.devices.count == 3 && config.channels.count == 7)
        #expect(config.devices.map(\.deviceProtocol) == [.dlt645v2007, .cjt188, .modbus])
        guard config.channels.count == 7 else { return }
        #expect(config.channels[3].meter?.item == .dlt645(identifier: 0x0400_0409, format: MeterValueFormat(
            length: 3, decimals: 0, signed: false, kind: .bcd, unit: "")))
        #expect(config.channels[3].unit == "imp/kWh" && config.channels[4].unit == "m3")
    }

    /// The rules the C setters use: an identifier of the catalogue given by `di` is the same channel as the
    /// one its name gives, and a wildcard meter type takes any item.
    @Test func diAndItemAgreeAndTheWildcardTypeTakesAnyItem() {
        let result = loadYAML(meterSite("""
                channels:
                  - {name: a, item: active_power_total}
                  - {name: b, di: 0x02030000}
              - name: any
                protocol: cjt188
                meter_type: 0xAA
                meter_address: 'AAAAAAAAAAAAA1'
        """))
        // AAAAAAAAAAAAA1: a byte mixes A and a digit.
        #expect(result.error?.message.hasSuffix("field 'meter_address': meter address 'AAAAAAAAAAAAA1': characters 13-14 mix a digit and A (a byte is two digits or AA)") == true,
                "\(result.error?.message ?? "no error")")
        let fixed = loadYAML(meterSite("""
                channels:
                  - {name: a, item: active_power_total}
                  - {name: b, di: 0x02030000}
              - name: any
                protocol: cjt188
                meter_type: 0xAA
                meter_address: 'AAAAAAAAAAAA01'
                channels:
                  - {name: h, item: heat_power}
                  - {name: w, item: settlement_flow}
        """))
        #expect(fixed.error == nil, "\(fixed.error?.message ?? "")")
        let channels = fixed.config.channels
        #expect(channels.count == 4)
        guard channels.count == 4 else { return }
        #expect(channels[0].meter?.item == channels[1].meter?.item)
        #expect(channels[0].unit == "kW" && channels[1].unit == "kW")
        #expect(fixed.config.devices[1].meter?.meterType == .wildcard)
        #expect(channels[2].meter?.item == .cjt188(.heatPower) && channels[3].meter?.item == .cjt188(.settlementFlow))
    }

    /// Null means not given, as for every field: a meter's null Modbus fields and a Modbus device's null
    /// meter fields are no refusal.
    @Test func nullFieldsOfTheOtherProtocolAreNotGiven() {
        let result = loadYAML(meterSite("""
                unit_id: ~
                holes:
                channels:
                  - {name: c, item: voltage_a, address: null}
              - name: p
                protocol: modbus
                meter_address: ~
                preamble:
                channels:
                  - {name: d, address: 1, item: ~}
        """))
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.devices.map(\.deviceProtocol) == [.dlt645v2007, .modbus])
        #expect(result.config.devices[1].meter == nil)
    }
}

@Suite struct SiteYAMLMeterRefusalTests {
    // Devices.

    @Test func addressOfTheWrongLength() {
        expectError(meterSite("", address: "'1234'"), .configFile, line: 8,
                    "bus 'line', device 'm', field 'meter_address': meter address '1234': 4 characters, a DL/T 645 address has 12 digits")
        expectError(meterSite("", protocol: "cjt188", address: "'000012345678'"), .configFile, line: 8,
                    "bus 'line', device 'm', field 'meter_address': meter address '000012345678': 12 characters, a CJ/T 188 address has 14 digits")
    }

    @Test func addressWithABadCharacter() {
        expectError(meterSite("", address: "'00001234567X'"), .configFile, line: 8,
                    "bus 'line', device 'm', field 'meter_address': meter address '00001234567X': character 12 is not a digit 0-9 (or A of a padding byte AA)")
    }

    @Test func unquotedAddress() {
        expectError(meterSite("", address: "000012345678"), .configFile, line: 8,
                    "bus 'line', device 'm', field 'meter_address': write the address quoted, as '000012345678': unquoted digits are a number in YAML, which drops leading zeros")
    }

    @Test func missingAndBroadcastAddress() {
        expectError("""
        buses:
          - name: line
            type: rtu
            device: /dev/ttyS0
            devices:
              - name: m
                protocol: dlt645-1997
        """, .configFile, line: 6, "bus 'line', device 'm', field 'meter_address': missing; the field is required")
        expectError(meterSite("", address: "'999999999999'"), .config, line: 6,
                    "device 'm': the broadcast address 999999999999 is no meter's address")
    }

    @Test func meterOnAnMBAPBus() {
        expectError("""
        buses:
          - name: plc
            type: tcp
            host: 192.0.2.10
            devices:
              - name: m
                protocol: dlt645-2007
                meter_address: '000012345678'
        """, .config, line: 6,
                    "device 'm': protocol dlt645-2007 needs a serial line: an rtu bus, or a tcp bus with 'framing: transparent'")
    }

    @Test func meterOnAGPIOChip() {
        expectError("""
        buses:
          - name: io
            type: gpio
            chip: /dev/gpiochip0
            devices:
              - {name: m, protocol: cjt188, meter_address: '00000000000001'}
        """, .configFile, line: 6, "bus 'io', field 'devices': unknown key (expected one of: ")
    }

    @Test func duplicateAddressOnABus() {
        expectError(meterSite("""
              - name: m2
                protocol: dlt645-2007
                meter_address: '000012345678'
        """), .duplicate, line: 9, "device 'm2': meter address 000012345678 is already device 'm' on this bus")
    }

    @Test func modbusFieldsOnAMeterDevice() {
        expectError(meterSite("        unit_id: 3"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'unit_id': a Modbus field, and this device speaks dlt645-2007: a meter is addressed by its 'meter_address'")
        expectError(meterSite("        max_registers: 10", protocol: "cjt188", address: "'00000000000001'"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'max_registers': a Modbus field, and this device speaks cjt188: a meter has no registers to read in blocks")
        expectError(meterSite("        one_channel_per_request: true", protocol: "dlt645-1997"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'one_channel_per_request': a Modbus field, and this device speaks dlt645-1997: a meter has no registers to read in blocks")
        expectError(meterSite("""
                holes:
                  - {function: holding, first: 0}
        """), .configFile, line: 10,
                    "bus 'line', device 'm', field 'holes': a Modbus field, and this device speaks dlt645-2007: a meter has no registers to read in blocks")
    }

    @Test func meterFieldsOnAModbusDevice() {
        let modbus = { (field: String) in
            """
            buses:
              - name: line
                type: rtu
                device: /dev/ttyS0
                devices:
                  - name: p
                    unit_id: 2
            \(field)
            """
        }
        expectError(modbus("        preamble: 2"), .configFile, line: 8,
                    "bus 'line', device 'p', field 'preamble': a meter field, and this device speaks modbus (set 'protocol' for a meter)")
        expectError(modbus("        meter_address: '000012345678'"), .configFile, line: 8,
                    "bus 'line', device 'p', field 'meter_address': a meter field, and this device speaks modbus (set 'protocol' for a meter)")
        expectError(modbus("        protocol: modbus\n        allow_time_sync: false"), .configFile, line: 9,
                    "bus 'line', device 'p', field 'allow_time_sync': a meter field, and this device speaks modbus (set 'protocol' for a meter)")
    }

    @Test func fieldsOfTheOtherMeterProtocol() {
        expectError(meterSite("        meter_type: 0x10"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'meter_type': a CJ/T 188 field, and this device speaks dlt645-2007")
        expectError(meterSite("        identifier_order: low_first", protocol: "dlt645-1997"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'identifier_order': a CJ/T 188 field, and this device speaks dlt645-1997")
        expectError(meterSite("        allow_time_sync: true", protocol: "cjt188", address: "'00000000000001'"),
                    .configFile, line: 9,
                    "bus 'line', device 'm', field 'allow_time_sync': a DL/T 645 field (its broadcast time sync), and this device speaks cjt188")
    }

    @Test func unitIdZeroOnATransparentBus() {
        expectError("""
        buses:
          - name: dtu
            type: tcp
            host: 192.0.2.20
            framing: transparent
            devices:
              - name: p
                unit_id: 0
        """, .config, line: 7, "device 'p': field 'unit_id' must be 1..247 on a serial line, not 0")
    }

    @Test func preambleAboveFour() {
        expectError(meterSite("        preamble: 5"), .config, line: 6, "device 'm': field 'preamble' must be 0..4, not 5")
    }

    @Test func badMeterTypes() {
        let cjt188 = { (type: String) in
            meterSite("        meter_type: \(type)", protocol: "cjt188", address: "'00000000000001'")
        }
        expectError(cjt188("0x55"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'meter_type': 0x55 is no CJ/T 188 meter type (0x10-0x49 with a low digit 0-9, or 0xAA)")
        expectError(cjt188("0x1A"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'meter_type': 0x1A is no CJ/T 188 meter type (0x10-0x49 with a low digit 0-9, or 0xAA)")
        expectError(cjt188("256"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'meter_type': expected an integer 0..255, got '256'")
        expectError(cjt188("water"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'meter_type': expected an integer 0..255, got 'water'")
    }

    @Test func badWords() {
        expectError(meterSite("", protocol: "dlt645"), .configFile, line: 7,
                    "bus 'line', device 'm', field 'protocol': unknown protocol 'dlt645' (expected modbus, dlt645-2007, dlt645-1997 or cjt188)")
        expectError(meterSite("        identifier_order: big_endian", protocol: "cjt188", address: "'00000000000001'"),
                    .configFile, line: 9,
                    "bus 'line', device 'm', field 'identifier_order': unknown identifier order 'big_endian' (expected low_first or high_first)")
        expectError("""
        buses:
          - name: dtu
            type: tcp
            host: 192.0.2.20
            framing: rtu
        """, .configFile, line: 5, "bus 'dtu', field 'framing': unknown framing 'rtu' (expected mbap or transparent)")
        expectError("""
        buses:
          - name: line
            type: rtu
            device: /dev/ttyS0
            framing: transparent
        """, .configFile, line: 5, "bus 'line', field 'framing': unknown key (expected one of: ")
    }

    // Channels.

    @Test func unknownCatalogueNamesNameTheEdition() {
        expectError(meterChannel("            item: voltage_x"), .configFile, line: 11,
                    "bus 'line', device 'm', channel 'c', field 'item': no dlt645-2007 item named 'voltage_x' (the catalogue: docs/meters.md)")
        expectError(meterChannel("            item: frequency", protocol: "dlt645-1997"), .configFile, line: 11,
                    "bus 'line', device 'm', channel 'c', field 'item': no dlt645-1997 item named 'frequency' (the catalogue: docs/meters.md)")
        expectError(meterChannel("            item: current_flow"), .configFile, line: 11,
                    "bus 'line', device 'm', channel 'c', field 'item': no dlt645-2007 item named 'current_flow' (the catalogue: docs/meters.md)")
        expectError(meterChannel("            item: voltage_a", protocol: "cjt188", address: "'00000000000001'"),
                    .configFile, line: 11,
                    "bus 'line', device 'm', channel 'c', field 'item': no cjt188 item named 'voltage_a' (docs/meters.md lists them)")
    }

    @Test func heatItemOnAWaterMeter() {
        expectError(meterChannel("            item: current_heat", protocol: "cjt188", address: "'00000000000001'"),
                    .config, line: 10,
                    "channel 'c': 'current_heat' is a field of heat meters; device 'm' has meter type 0x10")
        expectError(meterSite("""
                meter_type: 0x21
                channels:
                  - {name: c, item: settlement_flow}
        """, protocol: "cjt188", address: "'00000000000001'"), .config, line: 11,
                    "channel 'c': 'settlement_flow' is a field of water and gas meters; device 'm' has meter type 0x21")
    }

    @Test func writableDLT645Channel() {
        expectError(meterChannel("            item: voltage_a\n            writable: true"), .config, line: 10,
                    "channel 'c': DL/T 645 channels cannot be writable (EdgeCore sends no DL/T 645 writes)")
    }

    @Test func writableCJT188ChannelOtherThanTheValve() {
        expectError(meterChannel("            item: current_flow\n            writable: yes", protocol: "cjt188",
                                 address: "'00000000000001'"), .config, line: 10,
                    "channel 'c': of a CJ/T 188 meter only 'valve_state' can be writable (valve open 0 / close 1)")
    }

    @Test func lineBaudIsForTransparentFramingAndInRange() {
        expectError("""
        buses:
          - name: plain
            type: tcp
            host: 127.0.0.1
            line_baud: 2400
        """, .configFile, line: 5, "bus 'plain', field 'line_baud': is for 'framing: transparent' (the serial line behind a serial server)")
        expectError("""
        buses:
          - name: dtu
            type: tcp
            host: 127.0.0.1
            framing: transparent
            line_baud: 200
        """, .config, line: 2, "bus 'dtu': field 'line_baud' must be 300..4000000, not 200")
    }

    @Test func fourByteIdentifierOn1997() {
        expectError(meterChannel("            di: 0x02010100", protocol: "dlt645-1997"), .config, line: 11,
                    "bus 'line', device 'm', channel 'c': identifier 0x02010100 has 4 bytes, DL/T 645-1997 identifiers have 2")
        // Whatever the format.
        expectError(meterChannel("            di: 0x02010100\n            format: bcd", protocol: "dlt645-1997"), .config,
                    line: 12,
                    "bus 'line', device 'm', channel 'c': identifier 0x02010100 has 4 bytes, DL/T 645-1997 identifiers have 2")
    }

    @Test func identifierOutsideTheCatalogueWithoutFormat() {
        expectError(meterChannel("            di: 0x04000403"), .config, line: 11,
                    "bus 'line', device 'm', channel 'c': identifier 0x04000403 is not in the catalogue: give its format (bcd, bcd_signed or binary), length and decimals")
        expectError(meterChannel("            di: 0xC010", protocol: "dlt645-1997"), .config, line: 11,
                    "bus 'line', device 'm', channel 'c': identifier 0xC010 is not in the catalogue: give its format (bcd, bcd_signed or binary), length and decimals")
    }

    @Test func decimalsNotFewerThanTheDigits() {
        expectError(meterChannel("            di: 0x04000403\n            format: bcd\n            length: 2\n            decimals: 4"),
                    .config, line: 12,
                    "bus 'line', device 'm', channel 'c': decimals 4: must be 0..8 and fewer than the 4 digits")
        expectError(meterChannel("            di: 0x04000403\n            format: bcd\n            length: 9"),
                    .config, line: 12, "bus 'line', device 'm', channel 'c': value length 9: must be 1..8 bytes")
    }

    @Test func noSignedBinaryFormat() {
        expectError(meterChannel("            di: 0x04000403\n            format: binary_signed\n            length: 2"),
                    .configFile, line: 12,
                    "bus 'line', device 'm', channel 'c', field 'format': unknown format 'binary_signed' (expected bcd, bcd_signed or binary)")
    }

    @Test func anOverrideWithoutLengthKeepsTheCataloguesLength() throws {
        // voltage_a is 2 bytes XXX.X: read with 2 decimals instead, the length stays 2.
        let result = loadYAML(meterChannel("            item: voltage_a\n            format: bcd\n            decimals: 2"))
        #expect(result.error == nil)
        let point = try #require(result.config.channels.first?.meter)
        #expect(point.item == .dlt645(identifier: 0x0201_0100,
                                      format: MeterValueFormat(length: 2, decimals: 2, signed: false, kind: .bcd, unit: "V")))
        expectError(meterChannel("            di: 0x04000403\n            format: bcd"), .config, line: 12,
                    "bus 'line', device 'm', channel 'c': identifier 0x04000403 is not in the catalogue: give the value's 'length' (bytes, 1..8)")
    }

    @Test func lengthAndDecimalsGoWithFormat() {
        expectError(meterChannel("            item: voltage_a\n            decimals: 2"), .configFile, line: 12,
                    "bus 'line', device 'm', channel 'c', field 'decimals': goes with 'format' (bcd, bcd_signed or binary); without it the catalogue gives the value's format")
    }

    @Test func itemAndDiTogetherOrNeither() {
        expectError(meterChannel("            item: voltage_a\n            di: 0x02010100"), .configFile, line: 12,
                    "bus 'line', device 'm', channel 'c': give 'item' or 'di', not both")
        expectError(meterChannel("            unit: V"), .configFile, line: 10,
                    "bus 'line', device 'm', channel 'c': name what the channel reads by 'item' (a catalogue name) or by 'di' (a data identifier)")
        expectError(meterChannel("            unit: m3", protocol: "cjt188", address: "'00000000000001'"), .configFile,
                    line: 10, "bus 'line', device 'm', channel 'c', field 'item': missing; the field is required")
    }

    @Test func diIsAnInteger() {
        expectError(meterChannel("            di: '0x02010100'"), .configFile, line: 11,
                    "bus 'line', device 'm', channel 'c', field 'di': expected an integer 0..4294967295, got the string '0x02010100' (quoted)")
    }

    @Test func dlt645FieldsOnACJT188Channel() {
        expectError(meterChannel("            di: 0x901F", protocol: "cjt188", address: "'00000000000001'"), .configFile,
                    line: 11,
                    "bus 'line', device 'm', channel 'c', field 'di': a DL/T 645 field, and this channel's device speaks cjt188: name a field of its current data by 'item'")
        expectError(meterChannel("            item: current_flow\n            format: bcd", protocol: "cjt188",
                                 address: "'00000000000001'"), .configFile, line: 12,
                    "bus 'line', device 'm', channel 'c', field 'format': a DL/T 645 field, and this channel's device speaks cjt188: name a field of its current data by 'item'")
    }

    @Test func modbusFieldsOnAMeterChannel() {
        expectError(meterChannel("            item: voltage_a\n            address: 5"), .configFile, line: 12,
                    "bus 'line', device 'm', channel 'c', field 'address': a Modbus field, and this channel's device speaks dlt645-2007: a meter channel names its value by 'item' or 'di'")
        expectError(meterChannel("            item: voltage_a\n            type: f32", protocol: "dlt645-1997"),
                    .configFile, line: 12,
                    "bus 'line', device 'm', channel 'c', field 'type': a Modbus field, and this channel's device speaks dlt645-1997: a meter channel names its value by 'item' or 'di'")
        expectError(meterChannel("            item: status\n            sentinels: [0xFFFF]", protocol: "cjt188",
                                 address: "'00000000000001'"), .configFile, line: 12,
                    "bus 'line', device 'm', channel 'c', field 'sentinels': a Modbus field, and this channel's device speaks cjt188: a meter channel names its value by 'item'")
    }

    @Test func meterFieldsOnAModbusChannel() {
        expectError(oneChannel("          - {name: c, address: 1, item: voltage_a}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'item': a meter field, and this channel's device speaks modbus (set the device's 'protocol' for a meter)")
        expectError(oneChannel("          - {name: c, address: 1, format: bcd}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'format': a meter field, and this channel's device speaks modbus (set the device's 'protocol' for a meter)")
    }

    /// An unknown key's message lists the keys of the item's protocol only.
    @Test func misspeltKeysListTheProtocolsKeys() {
        expectError(meterChannel("            itme: voltage_a"), .configFile, line: 11,
                    "bus 'line', device 'm', channel 'c', field 'itme': unknown key (expected one of: name, unit, interval_ms, scale, offset, valid_min, valid_max, writable, item, di, format, length, decimals)")
        expectError(meterChannel("            itme: status", protocol: "cjt188", address: "'00000000000001'"),
                    .configFile, line: 11,
                    "bus 'line', device 'm', channel 'c', field 'itme': unknown key (expected one of: name, unit, interval_ms, scale, offset, valid_min, valid_max, writable, item)")
        expectError(meterSite("        preambel: 2"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'preambel': unknown key (expected one of: name, profile, protocol, response_timeout_ms, retries, offline_after, backoff_min_ms, backoff_max_ms, meter_address, preamble, allow_time_sync, channels)")
        expectError(meterSite("        meter_typ: 0x20", protocol: "cjt188", address: "'00000000000001'"), .configFile,
                    line: 9,
                    "bus 'line', device 'm', field 'meter_typ': unknown key (expected one of: name, profile, protocol, response_timeout_ms, retries, offline_after, backoff_min_ms, backoff_max_ms, meter_address, preamble, meter_type, identifier_order, channels)")
        expectError(oneChannel("          - {name: c, address: 1, iten: voltage_a}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'iten': unknown key (expected one of: name, function, address, type, order, bit, unit, interval_ms, scale, offset, valid_min, valid_max, sentinels, writable)")
    }

    /// A field of the other protocol is refused as such even when its value is of the wrong type.
    @Test func foreignFieldsAreRefusedWhateverTheirValue() {
        expectError(meterSite("        unit_id: many"), .configFile, line: 9,
                    "bus 'line', device 'm', field 'unit_id': a Modbus field, and this device speaks dlt645-2007: a meter is addressed by its 'meter_address'")
        expectError(meterChannel("            item: voltage_a\n            function: nine"), .configFile, line: 12,
                    "bus 'line', device 'm', channel 'c', field 'function': a Modbus field, and this channel's device speaks dlt645-2007: a meter channel names its value by 'item' or 'di'")
    }
}
