import CShim
import Foundation
import Testing

@testable import EdgeCore

// MARK: Helpers

struct LoadResult {
    var config: SiteConfig
    var error: Failure?
    var path: String
}

/// Writes `text` to a fresh temporary file, loads it into `config` and removes the file.
func loadYAML(_ text: String, into config: SiteConfig = SiteConfig()) -> LoadResult {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("edgecore-yaml-\(UUID().uuidString)", isDirectory: true)
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("site.yaml").path
    FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    return loadFile(path, into: config)
}

func loadFile(_ path: String, into config: SiteConfig = SiteConfig()) -> LoadResult {
    var loaded = config
    do throws(Failure) {
        try loadSiteYAML(path: FilePath(path), into: &loaded)
        return LoadResult(config: loaded, error: nil, path: path)
    } catch {
        return LoadResult(config: loaded, error: error, path: path)
    }
}

/// Loads `text`, expecting an error of `kind` whose message starts with "path:LINE: " + `message`.
func expectError(_ text: String, _ kind: Failure.Kind, line: Int, _ message: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    let result = loadYAML(text)
    guard let error = result.error else {
        Issue.record("loaded without error", sourceLocation: sourceLocation)
        return
    }
    #expect(error.kind == kind, sourceLocation: sourceLocation)
    let expected = "\(result.path):\(line): \(message)"
    #expect(error.message.hasPrefix(expected), "\(error.message)\n  does not start with\n\(expected)",
            sourceLocation: sourceLocation)
}

private func codec(_ type: ValueType = .u16, _ order: WordOrder = .abcd, bit: UInt8 = 0, scale: Double = 1,
                   offset: Double = 0, min: Double? = nil, max: Double? = nil,
                   sentinels: [UInt64] = []) -> ValueCodec {
    ValueCodec(type: type, order: order, bit: bit, scale: scale, offset: offset, validMin: min, validMax: max,
               sentinels: sentinels)
}

/// A TCP bus with one device, and `channel` (indented as a list item of `channels`) as its only channel.
func oneChannel(_ channel: String) -> String {
    """
    buses:
      - name: plc
        type: tcp
        host: 192.0.2.10
        devices:
          - name: dev
            channels:
    \(channel)
    """
}

private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

// MARK: Valid files

@Suite struct YAMLConfigLoaderValidTests {
    @Test func fullFileLoadsToExactlyTheExpectedSpecs() {
        let result = loadYAML("""
        # Every field of every kind.
        buses:
          - name: meters
            type: rtu
            device: /dev/ttyUSB0
            baud: 19200
            parity: E
            data_bits: 7
            stop_bits: 2
            rs485: yes
            rts: up
            rts_delay_us: 500
            request_gap_ms: 5
            reopen_min_ms: 100
            reopen_max_ms: 5000
            devices:
              - name: meter1
                unit_id: 0x0A
                response_timeout_ms: 300
                retries: 2
                offline_after: 5
                backoff_min_ms: 2000
                backoff_max_ms: 60000
                max_registers: 60
                max_bits: 100
                one_channel_per_request: on
                holes:
                  - {function: input, first: 10, last: 19}
                  - function: 3
                    first: 0x100
                channels:
                  - name: meter1.voltage_l1
                    function: input
                    address: 0
                    type: f32
                    order: CDAB
                    unit: V
                    interval_ms: 500
                    scale: 1.0
                    offset: -0.5
                    valid_min: 0
                    valid_max: 300
                    sentinels: [0xFFFFFFFF, 2143289344]
                    writable: false
                  - name: meter1.alarm
                    function: holding
                    address: 0x20
                    type: bit
                    bit: 15
                    writable: true
          - name: plc
            type: tcp
            host: 192.0.2.10
            port: 1502
            connect_timeout_ms: 1000
            reconnect_min_ms: 50
            reconnect_max_ms: 2000
            request_gap_ms: 2
            devices:
              - name: plc1
                unit_id: 0
                channels:
                  - {name: plc.pump, function: coils, address: 3, type: bit, writable: true}
                  - {name: plc.door, function: discrete, address: 4, type: bit}
                  - {name: plc.counter, function: 4, address: 100, type: u64, order: dcba, scale: 0.001}
                  - {name: plc.level, address: 7, type: i16, scale: 1e-1, valid_min: -10.5, valid_max: 1.5E2}
                  - {name: plc.a, address: 8, type: u32, order: BADC}
                  - {name: plc.b, address: 10, type: i32}
                  - {name: plc.c, address: 12, type: i64}
                  - {name: plc.d, address: 16, type: f64, unit: "m³"}
        """)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        let config = result.config

        var rtu = RTUBusSpec(name: "meters", device: "/dev/ttyUSB0")
        rtu.baud = 19200
        rtu.parity = UInt8(ascii: "E")
        rtu.dataBits = 7
        rtu.stopBits = 2
        rtu.rs485 = true
        rtu.rts = 1
        rtu.rtsDelayUs = 500
        rtu.requestGapMs = 5
        rtu.reopenMinMs = 100
        rtu.reopenMaxMs = 5000
        var tcp = TCPBusSpec(name: "plc", host: "192.0.2.10")
        tcp.port = 1502
        tcp.connectTimeoutMs = 1000
        tcp.reconnectMinMs = 50
        tcp.reconnectMaxMs = 2000
        tcp.requestGapMs = 2
        #expect(config.buses == [.rtu(rtu), .tcp(tcp)])

        var meter = DeviceSpec(name: "meter1", bus: 0)
        meter.unitId = 10
        meter.responseTimeoutMs = 300
        meter.retries = 2
        meter.offlineAfter = 5
        meter.backoffMinMs = 2000
        meter.backoffMaxMs = 60000
        meter.maxRegisters = 60
        meter.maxBits = 100
        meter.oneChannelPerRequest = true
        meter.holes = [Hole(function: .inputRegisters, first: 10, last: 19),
                       Hole(function: .holdingRegisters, first: 0x100, last: 0x100)]
        var plc = DeviceSpec(name: "plc1", bus: 1)
        plc.unitId = 0
        #expect(config.devices == [meter, plc])

        let expected: [ChannelSpec] = [
            ChannelSpec(name: "meter1.voltage_l1", unit: "V", device: 0, function: .inputRegisters, address: 0,
                        codec: codec(.f32, .cdab, offset: -0.5, min: 0, max: 300,
                                     sentinels: [0xFFFF_FFFF, 0x7FC0_0000]),
                        writable: false, intervalMs: 500),
            ChannelSpec(name: "meter1.alarm", device: 0, function: .holdingRegisters, address: 0x20,
                        codec: codec(.bit, bit: 15), writable: true),
            ChannelSpec(name: "plc.pump", device: 1, function: .coils, address: 3, codec: codec(.bit), writable: true),
            ChannelSpec(name: "plc.door", device: 1, function: .discreteInputs, address: 4, codec: codec(.bit)),
            ChannelSpec(name: "plc.counter", device: 1, function: .inputRegisters, address: 100,
                        codec: codec(.u64, .dcba, scale: 0.001)),
            ChannelSpec(name: "plc.level", device: 1, address: 7, codec: codec(.i16, scale: 0.1, min: -10.5, max: 150)),
            ChannelSpec(name: "plc.a", device: 1, address: 8, codec: codec(.u32, .badc)),
            ChannelSpec(name: "plc.b", device: 1, address: 10, codec: codec(.i32)),
            ChannelSpec(name: "plc.c", device: 1, address: 12, codec: codec(.i64)),
            ChannelSpec(name: "plc.d", unit: "m³", device: 1, address: 16, codec: codec(.f64)),
        ]
        #expect(config.channels.count == expected.count)
        for (got, want) in zip(config.channels, expected) { #expect(got == want) }
    }

    @Test func defaultsApplyWhenFieldsAreOmittedOrNull() {
        let result = loadYAML("""
        buses:
          - name: line
            type: RTU
            device: /dev/ttyS1
            baud: ~
            devices:
              - name: d
                unit_id:
                channels:
                  - name: c
                    address: 5
                    unit: null
          - name: net
            type: tcp
            host: localhost
            devices: [{name: e, channels: [{name: f, address: 1}]}]
        """)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.buses == [.rtu(RTUBusSpec(name: "line", device: "/dev/ttyS1")),
                                        .tcp(TCPBusSpec(name: "net", host: "localhost"))])
        #expect(result.config.devices == [DeviceSpec(name: "d", bus: 0), DeviceSpec(name: "e", bus: 1)])
        #expect(result.config.channels == [
            ChannelSpec(name: "c", device: 0, address: 5, codec: codec()),
            ChannelSpec(name: "f", device: 1, address: 1, codec: codec()),
        ])
        // The documented defaults, spelled out once.
        let tcp = TCPBusSpec(name: "n", host: "h")
        #expect(tcp.port == 502 && tcp.connectTimeoutMs == 2000 && tcp.reconnectMinMs == 200
                && tcp.reconnectMaxMs == 10_000 && tcp.requestGapMs == 0)
        let channel = result.config.channels[0]
        #expect(channel.point.function == .holdingRegisters && channel.point.codec.type == .u16 && channel.point.codec.order == .abcd
                && channel.intervalMs == 1000 && channel.point.codec.scale == 1 && channel.point.codec.offset == 0
                && channel.unit == "" && !channel.writable && channel.point.codec.sentinels.isEmpty)
    }

    @Test func idsComeFromTheAddCallsOfAConfigThatAlreadyHasItems() throws {
        var config = SiteConfig()
        _ = try config.addBus(.tcp(TCPBusSpec(name: "existing", host: "h")))
        _ = try config.addDevice(DeviceSpec(name: "existing-dev", bus: 0))
        _ = try config.addChannel(ChannelSpec(name: "existing-ch", device: 0, address: 0, codec: codec()))
        let result = loadYAML(oneChannel("          - {name: new, address: 1}"), into: config)
        #expect(result.error == nil)
        #expect(result.config.devices.last == DeviceSpec(name: "dev", bus: 1))
        #expect(result.config.channels.last?.point.device == 1)
    }

    @Test func hexDecimalAndSpellingVariants() {
        let result = loadYAML("""
        buses:
          - name: b
            type: tcp
            host: h
            port: 0x1F6
            devices:
              - name: d
                unit_id: 0xff
                max_registers: 0X7D
                holes: [{function: Discrete_Inputs, first: 0xFFF0, last: 0xFFFF}]
                channels:
                  - {name: a, function: 1, address: 0xFFFF, type: BIT, writable: True}
                  - {name: b, function: 2, address: 0, type: bit, writable: NO}
                  - {name: c, function: 3, address: 0x0A, type: U16, sentinels: [0xffff, 0], valid_max: 0x10}
                  - {name: d, function: 4, address: 65533, type: u32, sentinels: [0xFFFFFFFF], offset: -0x10}
                  - {name: e, address: 12, scale: 2.5, writable: off}
        """)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        let channels = result.config.channels
        #expect(result.config.buses.first == .tcp(TCPBusSpec(name: "b", host: "h", port: 502)))
        #expect(result.config.devices.first?.unitId == 255)
        #expect(result.config.devices.first?.maxRegisters == 125)
        #expect(result.config.devices.first?.holes == [Hole(function: .discreteInputs, first: 0xFFF0, last: 0xFFFF)])
        #expect(channels.map(\.point.function) == [.coils, .discreteInputs, .holdingRegisters, .inputRegisters,
                                              .holdingRegisters])
        #expect(channels.map(\.point.address) == [0xFFFF, 0, 10, 65533, 12])
        #expect(channels.map(\.writable) == [true, false, false, false, false])
        #expect(channels[2].point.codec.sentinels == [0xFFFF, 0])
        #expect(channels[2].point.codec.validMax == 16)
        #expect(channels[3].point.codec.sentinels == [0xFFFF_FFFF])
        #expect(channels[3].point.codec.offset == -16)
        #expect(channels[4].point.codec.scale == 2.5)
    }

    @Test func emptyAndCommentOnlyFilesAddNothing() {
        for text in ["", "# nothing here\n", "---\n", "buses:\n", "buses: []\n", "{}\n"] {
            let result = loadYAML(text)
            #expect(result.error == nil, "\(text): \(result.error?.message ?? "")")
            #expect(result.config.buses.isEmpty)
        }
    }

    @Test func anchorsAndAliasesAreResolved() {
        let result = loadYAML("""
        buses:
          - name: b
            type: tcp
            host: h
            devices:
              - name: d
                channels:
                  - &base {name: t1, address: 1, type: i16, scale: 0.1, unit: degC}
                  - {name: t2, address: 2, type: i16, scale: 0.1, unit: degC}
        """)
        #expect(result.error == nil)
        #expect(result.config.channels.count == 2)
    }

    @Test func examplesLoad() {
        for name in ["site-simulated.yaml", "site-real.yaml"] {
            let path = repositoryRoot.appendingPathComponent("examples").appendingPathComponent(name).path
            let result = loadFile(path)
            #expect(result.error == nil, "\(name): \(result.error?.message ?? "")")
            #expect(!result.config.channels.isEmpty, "\(name)")
        }
    }

    @Test func simulatedExampleHasTheDemoLayout() throws {
        let path = repositoryRoot.appendingPathComponent("examples/site-simulated.yaml").path
        let config = loadFile(path).config
        #expect(config.buses.map(\.name) == ["meter-tcp", "greenhouse-tcp", "greenhouse-gpio", "meter-line", "controller"])
        guard config.buses.count == 5, case .tcp(let meterBus) = config.buses[0],
              case .tcp(let greenhouseBus) = config.buses[1], case .gpio(let chip) = config.buses[2],
              case .tcp(let meterLine) = config.buses[3], case .local = config.buses[4] else {
            Issue.record("expected two TCP buses, a GPIO chip, a transparent TCP line and the controller's local bus")
            return
        }
        // scripts/demo.sh and Tests/Integration move the journal by replacing its path; the gateway reads "uplink".
        #expect(config.journal == JournalSpec(path: "/tmp/edgecore-site-journal",
                                              settings: JournalSettings(sizeLimit: 16 << 20, segmentSize: 1 << 20,
                                                                        syncIntervalMs: 200),
                                              cursors: ["uplink"]))
        #expect(chip.chip == "sim:/tmp/edgecore-site-gpio")  // examples/site_simulator's default folder
        #expect(chip.checkpointPath == "/tmp/edgecore-site-gpio/pulses.checkpoint")
        #expect(meterBus.host == "127.0.0.1" && meterBus.port == 15020)
        #expect(greenhouseBus.host == "127.0.0.1" && greenhouseBus.port == 15021)
        let meter = try #require(config.deviceIndex(named: config.devices.first?.name ?? ""))
        let meterChannels = config.channels.filter { $0.point.device == meter }
        #expect(meterChannels.map(\.point.address) == [0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C, 0x0E, 0x10, 0x34, 0x46,
                                                 0x48, 0x156])
        #expect(meterChannels.allSatisfy {
            $0.point.function == .inputRegisters && $0.point.codec.type == .f32 && $0.point.codec.order == .abcd
        })
        let valve = try #require(config.channelIndex(named: "greenhouse.irrigation_valve"))
        #expect(config.channels[valve].gpio?.kind == .output && config.channels[valve].writable)
        #expect(config.channels[valve].gpio?.lineName == "irrigation-valve")
        #expect(config.channels[valve].gpio?.safeState == false)
        let s0 = try #require(config.channelIndex(named: "meter.s0_energy"))
        #expect(config.channels[s0].gpio == GPIOLineSpec(bus: 2, lineName: "s0-meter", kind: .pulses, edge: .rising,
                                                         debounceUs: 2000, scale: 1.0 / 3200))
        #expect(config.channels[s0].unit == "kWh" && config.channels[s0].intervalMs == 5000)
        let rain = try #require(config.channelIndex(named: "weather.rain"))
        #expect(config.channels[rain].gpio?.debounceUs == 5000 && config.channels[rain].gpio?.scale == 0.2)
        let tank = try #require(config.channelIndex(named: "greenhouse.tank_low"))
        #expect(config.channels[tank].gpio == GPIOLineSpec(bus: 2, lineName: "tank-float", kind: .input,
                                                           bias: .pullUp, activeLow: true))
        let fan = try #require(config.channelIndex(named: "greenhouse.vent_fan"))
        #expect(config.channels[fan].point.function == .coils && config.channels[fan].writable)
        let air = try #require(config.channelIndex(named: "greenhouse.air_temperature"))
        #expect(config.channels[air].point.codec == codec(.i16, scale: 0.1, sentinels: [0x7FFF]))

        // The RS-485 line behind the simulator's transparent port, with the two meters it plays (their addresses).
        #expect(meterLine.framing == .transparent && meterLine.host == "127.0.0.1" && meterLine.port == 15022)
        let grid = try #require(config.deviceIndex(named: "grid_meter"))
        let water = try #require(config.deviceIndex(named: "water_meter"))
        #expect(config.devices[grid].bus == 3 && config.devices[grid].deviceProtocol == .dlt645v2007)
        #expect(config.devices[grid].meter?.address.text == "202612020645")
        #expect(config.devices[grid].meter?.allowTimeSync == true)
        #expect(config.devices[water].bus == 3 && config.devices[water].deviceProtocol == .cjt188)
        #expect(config.devices[water].meter?.address.text == "20261202001880")
        #expect(config.devices[water].meter?.meterType == .coldWater)
        let gridChannels = config.channels.filter { $0.meter?.device == grid }
        #expect(gridChannels.count == 22 && gridChannels.allSatisfy { $0.name.hasPrefix("grid.") })
        let voltage = try #require(config.channelIndex(named: "grid.voltage_a"))
        #expect(config.channels[voltage].meter?.identifier == 0x0201_0100 && config.channels[voltage].unit == "V")
        let valveState = try #require(config.channelIndex(named: "water.valve_state"))
        #expect(config.channels[valveState].meter?.item == .cjt188(.valveState) && config.channels[valveState].writable)
        #expect(config.channels.filter { $0.meter?.device == water }.count == 6)
    }
}

// MARK: Errors

@Suite struct YAMLConfigLoaderErrorTests {
    @Test func missingFileIsTheSystemError() {
        let path = "/nonexistent-edgecore-dir/site.yaml"
        let result = loadFile(path)
        #expect(result.error?.kind == .system(Errno(ENOENT)))
        #expect(result.error?.message == "\(path): No such file or directory")
        #expect(result.config.buses.isEmpty)
    }

    @Test func directoryIsTheSystemError() {
        let path = FileManager.default.temporaryDirectory.path
        let result = loadFile(path)
        #expect(result.error?.kind == .system(Errno(EISDIR)))
        #expect(result.error?.message.hasPrefix("\(path): ") == true)
    }

    @Test func syntaxErrorsCarryTheLineAndLibyamlsProblem() {
        expectError("""
        buses:
          - name: a
            type: tcp
           host: h
        """, .configFile, line: 4, "did not find expected '-' indicator")
        expectError("buses: [a, b\n", .configFile, line: 2, "did not find expected ',' or ']'")
        expectError("buses:\n  - name: \"open\n", .configFile, line: 3, "found unexpected end of stream")
        expectError("buses:\n  - *nowhere\n", .configFile, line: 2, "found undefined alias")
        expectError("buses: []\n\tname: x\n", .configFile, line: 2, "found character that cannot start any token")
    }

    @Test func invalidUTF8IsASyntaxErrorOnItsLine() {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("edgecore-yaml-\(UUID())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bad.yaml").path
        FileManager.default.createFile(atPath: path, contents: Data(Array("buses:\n  - name: a".utf8) + [0xFF, 0xFE]))
        let result = loadFile(path)
        #expect(result.error?.kind == .configFile)
        #expect(result.error?.message.hasPrefix("\(path):2: invalid") == true, "\(result.error?.message ?? "")")
    }

    @Test func aSecondDocumentIsRefused() {
        expectError("buses: []\n---\nbuses: []\n", .configFile, line: 3, "a site file holds one YAML document")
    }

    @Test func theRootMustBeAMapping() {
        expectError("- a\n- b\n", .configFile, line: 1, "expected a mapping with a 'buses' list, got a list")
        expectError("buses: x\n", .configFile, line: 1, "field 'buses': expected a list, got 'x'")
    }

    @Test func unknownKeysAreErrors() {
        expectError("buses: []\nbusses: []\n", .configFile, line: 2, "field 'busses': unknown key (expected one of: buses, journal)")
        expectError("""
        buses:
          - name: plc
            type: tcp
            hots: 192.0.2.1
        """, .configFile, line: 4, "bus 'plc', field 'hots': unknown key (expected one of: name, type, devices")
        // An RTU-only key on a TCP bus.
        expectError("""
        buses:
          - name: plc
            type: tcp
            host: h
            baud: 9600
        """, .configFile, line: 5, "bus 'plc', field 'baud': unknown key")
        expectError(oneChannel("          - {name: c, address: 1, adress: 2}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'adress': unknown key")
        expectError("""
        buses:
          - name: b
            type: tcp
            host: h
            devices:
              - name: d
                holes:
                  - {function: input, first: 1, end: 2}
        """, .configFile, line: 8, "bus 'b', device 'd', hole #1, field 'end': unknown key")
    }

    @Test func duplicateKeysAreErrors() {
        expectError("""
        buses:
          - name: plc
            type: tcp
            host: a
            host: b
        """, .configFile, line: 5, "bus 'plc', field 'host': given twice (first at line 4)")
        expectError(oneChannel("          - {name: c, address: 1, name: d}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'name': given twice (first at line 8)")
        expectError("buses: []\nbuses: []\n", .configFile, line: 2, "field 'buses': given twice (first at line 1)")
    }

    @Test func wrongScalarTypes() {
        expectError("""
        buses:
          - name: line
            type: rtu
            device: /dev/ttyUSB0
            baud: abc
        """, .configFile, line: 5, "bus 'line', field 'baud': expected an integer 0..4294967295, got 'abc'")
        expectError("""
        buses:
          - name: line
            type: rtu
            device: /dev/ttyUSB0
            rs485: maybe
        """, .configFile, line: 5, "bus 'line', field 'rs485': expected true or false, got 'maybe'")
        expectError("""
        buses:
          - name: line
            type: rtu
            device: [a]
        """, .configFile, line: 4, "bus 'line', field 'device': expected a string, got a list")
        expectError(oneChannel("          - {name: c, address: 1, scale: fast}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'scale': expected a finite number, got 'fast'")
        expectError(oneChannel("          - {name: c, address: 1, valid_max: .inf}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'valid_max': expected a finite number, got '.inf'")
        expectError(oneChannel("          - {name: c, address: {a: 1}}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'address': expected an integer 0..65535, got a mapping")
        expectError(oneChannel("          - {name: c, address: -1}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'address': expected an integer 0..65535, got '-1'")
        expectError(oneChannel("          - {name: c, address: 1.5}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'address': expected an integer 0..65535, got '1.5'")
        expectError(oneChannel("          - just-a-name"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel #1: expected a mapping, got 'just-a-name'")
        expectError(oneChannel("          - {name: c, address: 1, sentinels: 5}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'sentinels': expected a list, got '5'")
        expectError("""
        buses:
          - name: b
            type: tcp
            host: h
            devices:
              - name: d
                channels: {name: c}
        """, .configFile, line: 7, "bus 'b', device 'd', field 'channels': expected a list, got a mapping")
    }

    @Test func integersOutOfTheirFieldsRange() {
        expectError("""
        buses:
          - name: b
            type: tcp
            host: h
            port: 65536
        """, .configFile, line: 5, "bus 'b', field 'port': expected an integer 0..65535, got '65536'")
        expectError("""
        buses:
          - name: b
            type: tcp
            host: h
            devices: [{name: d, unit_id: 256}]
        """, .configFile, line: 5, "bus 'b', device 'd', field 'unit_id': expected an integer 0..255, got '256'")
        expectError("""
        buses:
          - name: line
            type: rtu
            device: /dev/ttyUSB0
            baud: 4294967296
        """, .configFile, line: 5, "bus 'line', field 'baud': expected an integer 0..4294967295, got '4294967296'")
        expectError("""
        buses:
          - name: line
            type: rtu
            device: /dev/ttyUSB0
            baud: 0x1234567890ABCDEF1234
        """, .configFile, line: 5, "bus 'line', field 'baud': expected an integer 0..4294967295, got '0x1234567890ABCDEF1234'")
        expectError(oneChannel("          - {name: c, address: 0x10000}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'address': expected an integer 0..65535, got '0x10000'")
        expectError(oneChannel("          - {name: c, address: 1, bit: 300}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'bit': expected an integer 0..255, got '300'")
        expectError(oneChannel("          - {name: c, address: 1, sentinels: [99999999999999999999999]}"),
                    .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'sentinels': expected an integer 0..65535")
        // Sentinels are checked against the raw width of the channel's type.
        expectError(oneChannel("          - {name: c, address: 1, sentinels: [0x10000]}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'sentinels': expected an integer 0..65535, got '0x10000'")
        expectError(oneChannel("          - {name: c, address: 1, type: i32, sentinels: [0, 0x100000000]}"),
                    .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'sentinels': expected an integer 0..4294967295")
        expectError(oneChannel("          - {name: c, function: coils, address: 1, type: bit, sentinels: [2]}"),
                    .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'sentinels': expected an integer 0..1, got '2'")
        #expect(loadYAML(oneChannel("          - {name: c, address: 1, type: u64, sentinels: [0xFFFFFFFFFFFFFFFF]}"))
            .error == nil)
    }

    @Test func missingRequiredKeysAreReportedAtTheirMapping() {
        expectError("buses:\n  - type: tcp\n    host: h\n", .configFile, line: 2,
                    "bus #1, field 'name': missing; the field is required")
        expectError("buses:\n  - name: b\n    host: h\n", .configFile, line: 2,
                    "bus 'b', field 'type': missing; the field is required")
        expectError("buses:\n  - name: b\n    type: tcp\n", .configFile, line: 2,
                    "bus 'b', field 'host': missing; the field is required")
        expectError("buses:\n  - name: b\n    type: rtu\n", .configFile, line: 2,
                    "bus 'b', field 'device': missing; the field is required")
        expectError(oneChannel("          - name: c\n            unit: V"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'address': missing; the field is required")
        expectError(oneChannel("          - {address: 3}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel #1, field 'name': missing; the field is required")
        expectError(oneChannel("          - {name: a, address: 3}\n          - {name: , address: 4}"),
                    .configFile, line: 9, "bus 'plc', device 'dev', channel #2, field 'name': a value is required")
        expectError("""
        buses:
          - name: b
            type: tcp
            host: h
            devices:
              - name: d
                holes:
                  - {function: input}
        """, .configFile, line: 8, "bus 'b', device 'd', hole #1, field 'first': missing; the field is required")
    }

    @Test func unknownNamesOfTypesOrdersFunctionsAndModes() {
        expectError(oneChannel("          - {name: soil_moisture, address: 1, type: float}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'soil_moisture', field 'type': unknown type 'float' (expected u16, i16")
        expectError(oneChannel("          - {name: c, address: 1, type: u32, order: ABDC}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'order': unknown order 'ABDC' (expected ABCD, CDAB, BADC or DCBA)")
        expectError(oneChannel("          - {name: c, address: 1, function: registers}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'function': unknown function 'registers'")
        expectError(oneChannel("          - {name: c, address: 1, function: 5}"), .configFile, line: 8,
                    "bus 'plc', device 'dev', channel 'c', field 'function': unknown function '5'")
        expectError("buses:\n  - {name: b, type: udp, host: h}\n", .configFile, line: 2,
                    "bus 'b', field 'type': unknown bus type 'udp' (expected rtu, tcp, gpio or local)")
        expectError("buses:\n  - {name: b, type: rtu, device: /dev/x, parity: X}\n", .configFile, line: 2,
                    "bus 'b', field 'parity': unknown parity 'X' (expected N, E or O)")
        expectError("buses:\n  - {name: b, type: rtu, device: /dev/x, rts: sideways}\n", .configFile, line: 2,
                    "bus 'b', field 'rts': unknown rts mode 'sideways' (expected none, up or down)")
    }

    @Test func siteFailuresKeepTheirKindAndGetTheItemsLine() {
        // Duplicate names.
        expectError(oneChannel("          - {name: a, address: 1}\n          - {name: a, address: 2}"),
                    .duplicate, line: 9, "channel 'a': the name is already used")
        expectError("""
        buses:
          - {name: b, type: tcp, host: h}
          - {name: b, type: tcp, host: i}
        """, .duplicate, line: 3, "bus 'b': the name is already used")
        expectError("""
        buses:
          - name: b
            type: tcp
            host: h
            devices:
              - name: d
              - name: e
                unit_id: 1
        """, .duplicate, line: 7, "device 'e': unit_id 1 is already device 'd' on this bus")
        // A channel in a hole, whatever the order of the keys.
        expectError("""
        buses:
          - name: b
            type: tcp
            host: h
            devices:
              - name: d
                channels:
                  - name: ok
                    address: 9
                  - name: inside
                    function: input
                    address: 9
                    type: f32
                holes:
                  - {function: input, first: 10, last: 19}
        """, .config, line: 10, "channel 'inside': address 9 lies in the hole 10..19 of device 'd'")
        expectError("""
        buses:
          - name: b
            type: tcp
            host: h
            devices:
              - name: d
                holes:
                  - {function: input, first: 0x20, last: 0x10}
        """, .config, line: 8, "device 'd', hole 32..16: 'first' is above 'last'")
        expectError("""
        buses:
          - name: line
            type: rtu
            device: /dev/ttyUSB0
            baud: 100
        """, .config, line: 2, "bus 'line': field 'baud' must be 300..4000000, not 100")
        expectError("buses:\n  - {name: b, type: tcp, host: h, port: 0}\n", .config, line: 2,
                    "bus 'b': field 'port' must be 1..65535")
        expectError("buses:\n  - {name: '', type: tcp, host: h}\n", .config, line: 2, "bus: field 'name' is empty")
        expectError(oneChannel("          - {name: c, function: input, address: 1, writable: yes}"), .config, line: 8,
                    "channel 'c': only coils and holding registers can be writable")
        expectError(oneChannel("          - {name: c, address: 1, sentinels: [1, 2, 3, 4, 5]}"), .config, line: 8,
                    "channel 'c': at most 4 sentinels")
        expectError(oneChannel("          - {name: c, address: 1, scale: 0}"), .config, line: 8,
                    "channel 'c': field 'scale' must be finite and nonzero")
    }

    @Test func tooManyBusesIsTheLimitError() {
        var text = "buses:\n"
        for index in 0...SiteConfig.maxBuses { text += "  - {name: b\(index), type: tcp, host: h}\n" }
        expectError(text, .limit, line: SiteConfig.maxBuses + 2, "bus 'b\(SiteConfig.maxBuses)': at most")
    }

    @Test func recursiveAliasesEndInAnErrorNotALoop() {
        expectError("buses: &a [*a]\n", .configFile, line: 1, "bus #1: expected a mapping, got a list")
        expectError("buses:\n  - &b {name: x, type: tcp, host: h, devices: [*b]}\n", .configFile, line: 2,
                    "bus 'x', device 'x', field 'type': unknown key")
    }

    /// Damaged copies of the examples (bytes replaced, removed, duplicated) load or fail, but never trap.
    @Test func damagedFilesNeverTrap() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        let alphabet = Array(" \n:-[]{},#&*!|>'\"0x9aAF.e+~\t\u{FF}".utf8)
        for name in ["site-simulated.yaml", "site-real.yaml"] {
            let original = try Data(contentsOf: repositoryRoot.appendingPathComponent("examples/\(name)"))
            for _ in 0..<150 {
                var bytes = [UInt8](original)
                for _ in 0..<(1 + next(4)) {
                    let at = next(bytes.count)
                    switch next(3) {
                    case 0: bytes[at] = alphabet[next(alphabet.count)]
                    case 1: bytes.remove(at: at)
                    default: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + next(40))], at: at)
                    }
                }
                let result = loadYAML(String(decoding: bytes, as: UTF8.self))
                if let error = result.error { #expect(error.message.hasPrefix(result.path + ":")) }
            }
        }
    }

    @Test func errorsLeaveEarlierItemsAddedForTheCallerToDiscard() {
        let result = loadYAML(oneChannel("          - {name: a, address: 1}\n          - {name: b}"))
        #expect(result.error?.kind == .configFile)
        #expect(result.config.channels.map(\.name) == ["a"])
    }
}

// MARK: Scalar syntax

@Suite struct YAMLScalarSyntaxTests {
    @Test func unsignedIntegers() {
        #expect(parseUnsignedInteger("0", max: 10) == 0)
        #expect(parseUnsignedInteger("10", max: 10) == 10)
        #expect(parseUnsignedInteger("11", max: 10) == nil)
        #expect(parseUnsignedInteger("0x0", max: 10) == 0)
        #expect(parseUnsignedInteger("0XfF", max: 255) == 255)
        #expect(parseUnsignedInteger("18446744073709551615", max: .max) == .max)
        #expect(parseUnsignedInteger("18446744073709551616", max: .max) == nil)
        #expect(parseUnsignedInteger("0xFFFFFFFFFFFFFFFF", max: .max) == .max)
        #expect(parseUnsignedInteger("0x10000000000000000", max: .max) == nil)
        for bad in ["", "0x", "x1", "-1", "+1", " 1", "1 ", "1_000", "1e3", "0b1", "12a", "0xg"] {
            #expect(parseUnsignedInteger(bad, max: .max) == nil, "\(bad)")
        }
    }

    @Test func numbersMatchSwiftsCorrectlyRoundedParser() {
        // Inside the exact range (at most 2^53 significant, decimal exponent within 22): correctly rounded.
        let exact = ["0", "-0", "1", "0.1", "-40.5", "1e-3", "1.5E2", "+2.", ".25", "12345.678", "0.001",
                     "3.14159265358979", "100000", "1e22", "99.99", "65535", "1e-22", "2.5e-10", "-0.0001",
                     "9007199254740992", "000.5", "1000000000000000000000"]
        for text in exact { #expect(parseDecimalNumber(text) == Double(text), "\(text)") }
        // Beyond it: within a few units in the last place.
        let close = ["9007199254740993", "123456789012345678901234", "0.30000000000000004", "6.02214076e23",
                     "1.5e300", "4.9e-324", "0.000000000000000000000000000001", "1e-23", "2.2250738585072014e-308"]
        for text in close {
            guard let parsed = parseDecimalNumber(text), let reference = Double(text) else {
                Issue.record("\(text) did not parse")
                continue
            }
            #expect(abs(parsed - reference) <= 4 * reference.ulp, "\(text): \(parsed) vs \(reference)")
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let whole = Int.random(in: -1_000_000...1_000_000, using: &generator)
            let fraction = Int.random(in: 0..<1_000_000, using: &generator)
            let text = "\(whole).\(String(fraction).leftPadded(6))"
            #expect(parseDecimalNumber(text) == Double(text), "\(text)")
        }
        #expect(parseDecimalNumber("0x10") == 16)
        #expect(parseDecimalNumber("-0x10") == -16)
        for bad in ["", ".", "-", "e5", "1e", "1e+", "1.2.3", "inf", ".inf", "nan", ".NaN", "1,5", " 1", "0x",
                    "0x1p3", "1e400", "-1e400", "1_0", "--1"] {
            #expect(parseDecimalNumber(bad) == nil, "\(bad)")
        }
    }

    @Test func keywords() {
        #expect(parseBoolean("Yes") == true && parseBoolean("ON") == true && parseBoolean("true") == true)
        #expect(parseBoolean("no") == false && parseBoolean("Off") == false && parseBoolean("FALSE") == false)
        #expect(parseBoolean("1") == nil && parseBoolean("y") == nil)
        #expect(parseFunction("coils") == .coils && parseFunction("discrete") == .discreteInputs)
        #expect(parseFunction("holding") == .holdingRegisters && parseFunction("input") == .inputRegisters)
        #expect(parseFunction("0x4") == .inputRegisters && parseFunction("0") == nil && parseFunction("5") == nil)
        #expect(parseValueType("F32") == .f32 && parseValueType("float") == nil)
        #expect(parseWordOrder("cdab") == .cdab && parseWordOrder("ABC") == nil)
        #expect(matchKeyword("TcP", in: [("tcp", 1)]) == 1 && matchKeyword("tcpx", in: [("tcp", 1)]) == nil && matchKeyword("ÄbC", in: [("äbc", 1)]) == nil)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
