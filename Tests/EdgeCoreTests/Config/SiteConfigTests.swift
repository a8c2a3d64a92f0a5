import CShim
import Testing

@testable import EdgeCore

// MARK: Helpers

private func plainCodec(_ type: ValueType = .u16, bit: UInt8 = 0, scale: Double = 1, offset: Double = 0,
                        min: Double? = nil, max: Double? = nil, sentinels: [UInt64] = []) -> ValueCodec {
    ValueCodec(type: type, order: .abcd, bit: bit, scale: scale, offset: offset, validMin: min, validMax: max,
               sentinels: sentinels)
}

private func tcp(_ name: String = "tcp", _ change: (inout TCPBusSpec) -> Void = { _ in }) -> BusSpec {
    var spec = TCPBusSpec(name: name, host: "192.0.2.1")
    change(&spec)
    return .tcp(spec)
}

private func rtu(_ name: String = "rtu", _ change: (inout RTUBusSpec) -> Void = { _ in }) -> BusSpec {
    var spec = RTUBusSpec(name: name, device: "/dev/ttyUSB0")
    change(&spec)
    return .rtu(spec)
}

private func channel(_ name: String = "ch", device: Int = 0, _ function: ModbusFunction = .holdingRegisters,
                     address: UInt16 = 0, codec: ValueCodec = plainCodec(), writable: Bool = false,
                     intervalMs: UInt32 = 1000) -> ChannelSpec {
    ChannelSpec(name: name, device: device, function: function, address: address, codec: codec, writable: writable,
                intervalMs: intervalMs)
}

/// Runs `body`, expecting a Failure of `kind` whose message contains `text`.
private func expectFailure(_ kind: Failure.Kind, _ text: String, sourceLocation: SourceLocation = #_sourceLocation,
                               _ body: () throws(Failure) -> Void) {
    do throws(Failure) {
        try body()
        Issue.record("no error, expected \(kind): \(text)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.kind == kind, "\(error.message)", sourceLocation: sourceLocation)
        #expect(error.message.contains(text), "\(error.message)\n  does not contain\n\(text)",
                sourceLocation: sourceLocation)
    }
}

/// A configuration with one TCP bus (id 0) and one device on it (id 0).
private func configWithDevice(_ change: (inout DeviceSpec) -> Void = { _ in }) throws -> SiteConfig {
    var config = SiteConfig()
    _ = try config.addBus(tcp())
    var device = DeviceSpec(name: "dev", bus: 0)
    change(&device)
    _ = try config.addDevice(device)
    return config
}

// MARK: Buses

@Suite struct SiteConfigBusTests {
    @Test func idsAreHandedOutInOrderAndNamesCanBeLookedUp() throws {
        var config = SiteConfig()
        #expect(try config.addBus(tcp("a")) == 0)
        #expect(try config.addBus(rtu("b")) == 1)
        #expect(config.busIndex(named: "b") == 1)
        #expect(config.busIndex(named: "c") == nil)
        #expect(config.buses.map(\.name) == ["a", "b"])
    }

    @Test func namesMustBeNonEmptyAndUnique() throws {
        var config = SiteConfig()
        _ = try config.addBus(tcp("a"))
        expectFailure(.config, "bus: field 'name' is empty") { () throws(Failure) in
            _ = try config.addBus(tcp(""))
        }
        expectFailure(.duplicate, "bus 'a': the name is already used") { () throws(Failure) in
            _ = try config.addBus(rtu("a"))
        }
        #expect(config.buses.count == 1)
    }

    @Test func atMostMaxBuses() throws {
        var config = SiteConfig()
        for index in 0..<SiteConfig.maxBuses { _ = try config.addBus(tcp("b\(index)")) }
        expectFailure(.limit, "at most \(SiteConfig.maxBuses) buses") { () throws(Failure) in
            _ = try config.addBus(tcp("one-more"))
        }
        #expect(SiteConfig.maxBuses == Int(EDGECORE_RING_LANES_MAX))
    }

    @Test func tcpFieldsAreChecked() {
        var config = SiteConfig()
        expectFailure(.config, "field 'host' is empty") { () throws(Failure) in
            _ = try config.addBus(tcp { $0.host = "" })
        }
        expectFailure(.config, "field 'port' must be 1..65535") { () throws(Failure) in
            _ = try config.addBus(tcp { $0.port = 0 })
        }
        expectFailure(.config, "field 'connect_timeout_ms' must be at least 1") { () throws(Failure) in
            _ = try config.addBus(tcp { $0.connectTimeoutMs = 0 })
        }
        expectFailure(.config, "'reconnect_min_ms' must be at least 1") { () throws(Failure) in
            _ = try config.addBus(tcp { $0.reconnectMinMs = 0 })
        }
        expectFailure(.config, "'reconnect_min_ms' must be at least 1 and at most 'reconnect_max_ms'") {
            () throws(Failure) in
            _ = try config.addBus(tcp { $0.reconnectMinMs = 500; $0.reconnectMaxMs = 499 })
        }
        #expect(config.buses.isEmpty)
        #expect(throws: Never.self) { _ = try config.addBus(tcp { $0.reconnectMinMs = 7; $0.reconnectMaxMs = 7 }) }
    }

    @Test func rtuFieldsAreChecked() {
        var config = SiteConfig()
        expectFailure(.config, "field 'device' is empty") { () throws(Failure) in
            _ = try config.addBus(rtu { $0.device = "" })
        }
        for baud: UInt32 in [0, 299, 4_000_001] {
            expectFailure(.config, "field 'baud' must be 300..4000000, not \(baud)") { () throws(Failure) in
                _ = try config.addBus(rtu { $0.baud = baud })
            }
        }
        expectFailure(.config, "field 'parity' must be N, E or O") { () throws(Failure) in
            _ = try config.addBus(rtu { $0.parity = UInt8(ascii: "n") })
        }
        for bits: UInt8 in [5, 6, 9] {
            expectFailure(.config, "field 'data_bits' must be 7 or 8, not \(bits)") { () throws(Failure) in
                _ = try config.addBus(rtu { $0.dataBits = bits })
            }
        }
        for bits: UInt8 in [0, 3] {
            expectFailure(.config, "field 'stop_bits' must be 1 or 2, not \(bits)") { () throws(Failure) in
                _ = try config.addBus(rtu { $0.stopBits = bits })
            }
        }
        expectFailure(.config, "field 'rts' must be none (0), up (1) or down (2)") { () throws(Failure) in
            _ = try config.addBus(rtu { $0.rts = 3 })
        }
        expectFailure(.config, "'reopen_min_ms' must be at least 1 and at most 'reopen_max_ms'") {
            () throws(Failure) in
            _ = try config.addBus(rtu { $0.reopenMinMs = 20_000 })
        }
        #expect(config.buses.isEmpty)
        #expect(throws: Never.self) {
            _ = try config.addBus(rtu {
                $0.baud = 300; $0.parity = UInt8(ascii: "O"); $0.dataBits = 7; $0.stopBits = 2; $0.rts = 2
            })
            _ = try config.addBus(rtu("fast") { $0.baud = 4_000_000; $0.parity = UInt8(ascii: "E") })
        }
    }

    @Test func bitsPerCharacterCountsStartParityAndStopBits() {
        #expect(RTUBusSpec(name: "a", device: "d").bitsPerCharacter == 10)
        #expect(RTUBusSpec(name: "a", device: "d", parity: UInt8(ascii: "E"), stopBits: 2).bitsPerCharacter == 12)
        #expect(RTUBusSpec(name: "a", device: "d", dataBits: 7).bitsPerCharacter == 9)
    }
}

// MARK: Devices and holes

@Suite struct SiteConfigDeviceTests {
    @Test func theBusMustExist() {
        var config = SiteConfig()
        expectFailure(.notFound, "device 'd': no Modbus bus with id 0") { () throws(Failure) in
            _ = try config.addDevice(DeviceSpec(name: "d", bus: 0))
        }
        expectFailure(.notFound, "no Modbus bus with id -1") { () throws(Failure) in
            _ = try config.addDevice(DeviceSpec(name: "d", bus: -1))
        }
    }

    @Test func unitIdsAreCheckedOnRTUAndUniquePerBus() throws {
        var config = SiteConfig()
        _ = try config.addBus(rtu())
        _ = try config.addBus(tcp())
        for unit: UInt8 in [0, 248, 255] {
            expectFailure(.config, "field 'unit_id' must be 1..247 on a serial line, not \(unit)") {
                () throws(Failure) in
                _ = try config.addDevice(DeviceSpec(name: "d", bus: 0, unitId: unit))
            }
        }
        #expect(try config.addDevice(DeviceSpec(name: "a", bus: 0, unitId: 247)) == 0)
        #expect(try config.addDevice(DeviceSpec(name: "b", bus: 1, unitId: 0)) == 1)
        #expect(try config.addDevice(DeviceSpec(name: "c", bus: 1, unitId: 247)) == 2)
        expectFailure(.duplicate, "device 'e': unit_id 247 is already device 'c' on this bus") {
            () throws(Failure) in
            _ = try config.addDevice(DeviceSpec(name: "e", bus: 1, unitId: 247))
        }
        expectFailure(.duplicate, "device 'a': the name is already used") { () throws(Failure) in
            _ = try config.addDevice(DeviceSpec(name: "a", bus: 1, unitId: 9))
        }
        expectFailure(.config, "device: field 'name' is empty") { () throws(Failure) in
            _ = try config.addDevice(DeviceSpec(name: "", bus: 1, unitId: 9))
        }
        #expect(config.deviceIndex(named: "c") == 2)
    }

    @Test func limitsTimeoutsAndBackoffAreChecked() throws {
        var config = SiteConfig()
        _ = try config.addBus(tcp())
        let cases: [(String, (inout DeviceSpec) -> Void)] = [
            ("field 'max_registers' must be 1..125, not 0", { $0.maxRegisters = 0 }),
            ("field 'max_registers' must be 1..125, not 126", { $0.maxRegisters = 126 }),
            ("field 'max_bits' must be 1..2000, not 0", { $0.maxBits = 0 }),
            ("field 'max_bits' must be 1..2000, not 2001", { $0.maxBits = 2001 }),
            ("field 'response_timeout_ms' must be at least 1", { $0.responseTimeoutMs = 0 }),
            ("field 'retries' must be 0..10, not 11", { $0.retries = 11 }),
            ("field 'offline_after' must be at least 1", { $0.offlineAfter = 0 }),
            ("'backoff_min_ms' must be at least 1 and at most 'backoff_max_ms'", { $0.backoffMinMs = 0 }),
            ("'backoff_min_ms' must be at least 1 and at most 'backoff_max_ms'", { $0.backoffMaxMs = 999 }),
        ]
        for (message, change) in cases {
            var device = DeviceSpec(name: "d", bus: 0)
            change(&device)
            expectFailure(.config, "device 'd': \(message)") { () throws(Failure) in
                _ = try config.addDevice(device)
            }
        }
        #expect(config.devices.isEmpty)
        var edge = DeviceSpec(name: "edge", bus: 0, maxRegisters: 1, maxBits: 1)
        edge.retries = 0
        edge.retries = 10
        edge.backoffMinMs = 5
        edge.backoffMaxMs = 5
        #expect(try config.addDevice(edge) == 0)
    }

    @Test func holesAreCheckedAndAddedToTheirDevice() throws {
        var config = try configWithDevice()
        try config.addHole(Hole(function: .inputRegisters, first: 5, last: 5), device: 0)
        try config.addHole(Hole(function: .coils, first: 0, last: 0xFFFF), device: 0)
        #expect(config.devices[0].holes == [Hole(function: .inputRegisters, first: 5, last: 5),
                                            Hole(function: .coils, first: 0, last: 0xFFFF)])
        expectFailure(.config, "device 'dev', hole 9..8: 'first' is above 'last'") { () throws(Failure) in
            try config.addHole(Hole(function: .inputRegisters, first: 9, last: 8), device: 0)
        }
        expectFailure(.notFound, "no device with id 1") { () throws(Failure) in
            try config.addHole(Hole(function: .inputRegisters, first: 1, last: 2), device: 1)
        }
        _ = try config.addChannel(channel("f", .holdingRegisters, address: 20, codec: plainCodec(.f32)))
        // Overlapping the channel's last register, its first, or covering it: refused; other functions: fine.
        for (first, last): (UInt16, UInt16) in [(21, 30), (10, 20), (0, 100)] {
            expectFailure(.config, "device 'dev', hole \(first)..\(last): channel 'f' reads there") {
                () throws(Failure) in
                try config.addHole(Hole(function: .holdingRegisters, first: first, last: last), device: 0)
            }
        }
        try config.addHole(Hole(function: .holdingRegisters, first: 22, last: 30), device: 0)
        try config.addHole(Hole(function: .holdingRegisters, first: 0, last: 19), device: 0)
        try config.addHole(Hole(function: .inputRegisters, first: 20, last: 21), device: 0)
        #expect(config.devices[0].holes.count == 5)
    }

    @Test func aDeviceWithABadHoleIsNotAdded() throws {
        var config = SiteConfig()
        _ = try config.addBus(tcp())
        var device = DeviceSpec(name: "d", bus: 0)
        device.holes = [Hole(function: .holdingRegisters, first: 1, last: 2),
                        Hole(function: .holdingRegisters, first: 9, last: 3)]
        expectFailure(.config, "device 'd', hole 9..3: 'first' is above 'last'") { () throws(Failure) in
            _ = try config.addDevice(device)
        }
        #expect(config.devices.isEmpty)
        device.holes.removeLast()
        #expect(try config.addDevice(device) == 0)
        #expect(config.devices[0].holes == [Hole(function: .holdingRegisters, first: 1, last: 2)])
    }

    @Test func limitFollowsTheFunction() {
        let device = DeviceSpec(name: "d", bus: 0, maxRegisters: 10, maxBits: 100)
        #expect(device.limit(for: .coils) == 100 && device.limit(for: .discreteInputs) == 100)
        #expect(device.limit(for: .holdingRegisters) == 10 && device.limit(for: .inputRegisters) == 10)
        #expect(ModbusFunction.coils.protocolLimit == 2000 && ModbusFunction.inputRegisters.protocolLimit == 125)
        #expect(ModbusFunction.coils.isWritable && ModbusFunction.holdingRegisters.isWritable)
        #expect(!ModbusFunction.discreteInputs.isWritable && !ModbusFunction.inputRegisters.isWritable)
    }
}

// MARK: Channels

@Suite struct SiteConfigChannelTests {
    @Test func theDeviceMustExistAndNamesBeUnique() throws {
        var config = try configWithDevice()
        expectFailure(.notFound, "channel 'x': no device with id 1") { () throws(Failure) in
            _ = try config.addChannel(channel("x", device: 1))
        }
        #expect(try config.addChannel(channel("a")) == 0)
        #expect(try config.addChannel(channel("b", address: 1)) == 1)
        expectFailure(.duplicate, "channel 'a': the name is already used") { () throws(Failure) in
            _ = try config.addChannel(channel("a", address: 2))
        }
        expectFailure(.config, "channel: field 'name' is empty") { () throws(Failure) in
            _ = try config.addChannel(channel(""))
        }
        #expect(config.channelIndex(named: "b") == 1)
        #expect(config.channelIndex(named: "z") == nil)
    }

    @Test func bitFunctionsNeedBitChannelsAndRegisterBitsAreChecked() throws {
        var config = try configWithDevice()
        for function in [ModbusFunction.coils, .discreteInputs] {
            expectFailure(.config, "field 'type' must be bit for coils and discrete inputs") {
                () throws(Failure) in
                _ = try config.addChannel(channel("c", function, codec: plainCodec(.u16)))
            }
        }
        expectFailure(.config, "channel 'c': field 'bit' must be 0..15, not 16") { () throws(Failure) in
            _ = try config.addChannel(channel("c", .holdingRegisters, codec: plainCodec(.bit, bit: 16)))
        }
        #expect(try config.addChannel(channel("c1", .coils, address: 0xFFFF, codec: plainCodec(.bit))) == 0)
        #expect(try config.addChannel(channel("c2", .inputRegisters, codec: plainCodec(.bit, bit: 15))) == 1)
        // The bit field is irrelevant to coils and discrete inputs.
        #expect(try config.addChannel(channel("c3", .discreteInputs, codec: plainCodec(.bit, bit: 200))) == 2)
    }

    @Test func addressWidthAndDeviceLimit() throws {
        var config = try configWithDevice { $0.maxRegisters = 2 }
        expectFailure(.config, "channel 'c': address 65535 + 2 registers passes 65535") { () throws(Failure) in
            _ = try config.addChannel(channel("c", address: 0xFFFF, codec: plainCodec(.u32)))
        }
        expectFailure(.config, "channel 'c': needs 4 registers, device 'dev' reads at most 2 per request") {
            () throws(Failure) in
            _ = try config.addChannel(channel("c", codec: plainCodec(.f64)))
        }
        #expect(try config.addChannel(channel("ok", address: 0xFFFE, codec: plainCodec(.f32))) == 0)
        #expect(config.channels[0].point.width == 2 && config.channels[0].point.lastAddress == 0xFFFF)
        #expect(channel(codec: plainCodec(.i64)).point.width == 4)
        #expect(channel("x", .coils, codec: plainCodec(.bit)).point.width == 1)
    }

    @Test func channelsMayNotReadInAHole() throws {
        var config = try configWithDevice()
        try config.addHole(Hole(function: .inputRegisters, first: 10, last: 19), device: 0)
        for address: UInt16 in [9, 10, 19] {
            expectFailure(.config, "channel 'c': address \(address) lies in the hole 10..19 of device 'dev'") {
                () throws(Failure) in
                _ = try config.addChannel(channel("c", .inputRegisters, address: address, codec: plainCodec(.u32)))
            }
        }
        #expect(throws: Never.self) {
            _ = try config.addChannel(channel("before", .inputRegisters, address: 8, codec: plainCodec(.u32)))
            _ = try config.addChannel(channel("after", .inputRegisters, address: 20, codec: plainCodec(.u32)))
            _ = try config.addChannel(channel("other", .holdingRegisters, address: 10, codec: plainCodec(.u32)))
        }
    }

    /// Holes are kept merged and searched by halves: on random overlapping holes, each channel is refused
    /// exactly when a hole of its function covers one of its registers, and named by the first such hole.
    @Test func channelsAgainstManyOverlappingHolesMatchBruteForce() throws {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<20 {
            var config = try configWithDevice()
            var holes: [Hole] = []
            for _ in 0..<(1 + next(40)) {
                let first = UInt16(next(400))
                let hole = Hole(function: next(2) == 0 ? .inputRegisters : .holdingRegisters, first: first,
                                last: first + UInt16(next(next(2) == 0 ? 3 : 30)))
                try config.addHole(hole, device: 0)
                holes.append(hole)
            }
            for index in 0..<200 {
                let candidate = channel("c\(index)", next(2) == 0 ? .inputRegisters : .holdingRegisters,
                                        address: UInt16(next(440)), codec: plainCodec(next(2) == 0 ? .u16 : .u64))
                let covering = holes.first {
                    $0.function == candidate.point.function && Int($0.first) <= candidate.point.lastAddress
                        && Int($0.last) >= Int(candidate.point.address)
                }
                do throws(Failure) {
                    _ = try config.addChannel(candidate)
                    #expect(covering == nil, "\(candidate.point.address) added inside \(covering.map { "\($0.first)..\($0.last)" } ?? "")")
                } catch {
                    #expect(error.message.contains("lies in the hole \(covering?.first ?? 0)..\(covering?.last ?? 0) "), "\(error.message)")
                }
            }
        }
    }

    @Test func intervalScaleOffsetRangeSentinelsAndWritable() throws {
        var config = try configWithDevice()
        let cases: [(String, ChannelSpec)] = [
            ("field 'interval_ms' must be at least 1", channel(intervalMs: 0)),
            ("field 'scale' must be finite and nonzero", channel(codec: plainCodec(scale: 0))),
            ("field 'scale' must be finite and nonzero", channel(codec: plainCodec(scale: .infinity))),
            ("field 'scale' must be finite and nonzero", channel(codec: plainCodec(scale: .nan))),
            ("field 'offset' must be finite", channel(codec: plainCodec(offset: -.infinity))),
            ("'valid_min' 5.0 is above 'valid_max' 4.0", channel(codec: plainCodec(min: 5, max: 4))),
            ("at most 4 sentinels", channel(codec: plainCodec(sentinels: [1, 2, 3, 4, 5]))),
            ("only coils and holding registers can be writable",
             channel("ch", .inputRegisters, writable: true)),
            ("only coils and holding registers can be writable",
             channel("ch", .discreteInputs, codec: plainCodec(.bit), writable: true)),
        ]
        for (message, spec) in cases {
            expectFailure(.config, "channel 'ch': \(message)") { () throws(Failure) in
                _ = try config.addChannel(spec)
            }
        }
        #expect(config.channels.isEmpty)
        #expect(throws: Never.self) {
            _ = try config.addChannel(channel("a", codec: plainCodec(scale: -0.5, offset: 3, min: 1, max: 1,
                                                                    sentinels: [1, 2, 3, 4]), writable: true))
            _ = try config.addChannel(channel("b", .coils, codec: plainCodec(.bit), writable: true))
            _ = try config.addChannel(channel("c", address: 1, codec: plainCodec(min: 7)))
            _ = try config.addChannel(channel("d", address: 2, codec: plainCodec(max: -7)))
        }
    }

    @Test func aCopyIsIndependent() throws {
        let original = try configWithDevice()
        var copy = original
        _ = try copy.addChannel(channel())
        #expect(original.channels.isEmpty)
        #expect(copy.channels.count == 1)
    }
}
