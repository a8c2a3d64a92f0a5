import CShim
import Foundation
import Testing

@testable import EdgeCore

/// Local buses: the configuration rules (SiteConfig and the site file) and the worker that publishes writes
/// at once and heartbeats at the channels' intervals.
@Suite(.serialized) struct LocalBusTests {
    /// A local bus "controller", device "zone1", channels "reason" (range 0..10, `interval` ms) and "dose"
    /// (interval 0).
    func site(interval: UInt32) throws(Failure) -> SiteConfig {
        var config = SiteConfig()
        let bus = try config.addBus(.local(LocalBusSpec(name: "controller")))
        let device = try config.addDevice(DeviceSpec(name: "zone1", bus: bus))
        var ranged = ValueCodec.defaults
        ranged.validMin = 0
        ranged.validMax = 10
        _ = try config.addChannel(ChannelSpec(name: "reason", source: .local(LocalPoint(device: device, codec: ranged)),
                                              intervalMs: interval))
        _ = try config.addChannel(ChannelSpec(name: "dose", unit: "mL", source: .local(LocalPoint(device: device)),
                                              intervalMs: 0))
        return config
    }

    func failure(_ body: () throws(Failure) -> Void) -> Failure? {
        do throws(Failure) { try body() } catch { return error }
        return nil
    }

    @Test func configurationRules() throws {
        var config = try site(interval: 1000)
        #expect(config.channels.map(\.writable) == [true, true])
        #expect(config.buses[0].isLocal && !config.buses[0].isModbus)
        // A meter protocol, holes, a Modbus channel: nothing of that on a local bus.
        var meter = DeviceSpec(name: "m", bus: 0)
        meter.deviceProtocol = .dlt645v2007
        meter.meter = MeterSettings(address: MeterAddress(bytes: [1, 0, 0, 0, 0, 0]))
        let protocolFailure = failure { () throws(Failure) in _ = try config.addDevice(meter) }
        #expect(protocolFailure?.kind == .config)
        #expect(protocolFailure?.message.contains("field 'protocol'") == true)
        let holeFailure = failure { () throws(Failure) in try config.addHole(Hole(function: .holdingRegisters, first: 0, last: 1), device: 0) }
        #expect(holeFailure?.kind == .config)
        let modbus = ChannelSpec(name: "reg", device: 0, address: 1, codec: .defaults)
        #expect(failure { () throws(Failure) in _ = try config.addChannel(modbus) }?.message.contains("no registers") == true)
        // A codec away from its defaults is named; an inverted range is refused.
        var scaled = ValueCodec.defaults
        scaled.scale = 2
        let scaledFailure = failure { () throws(Failure) in
            _ = try config.addChannel(ChannelSpec(name: "s", source: .local(LocalPoint(device: 0, codec: scaled))))
        }
        #expect(scaledFailure?.message == "channel 's': field 'scale' means nothing on a local bus (only name, unit, valid_min, valid_max, interval_ms)")
        var inverted = ValueCodec.defaults
        inverted.validMin = 3
        inverted.validMax = 1
        #expect(failure { () throws(Failure) in
            _ = try config.addChannel(ChannelSpec(name: "i", source: .local(LocalPoint(device: 0, codec: inverted))))
        }?.kind == .config)
        // A local channel on a Modbus device, and a local device on a Modbus bus, are not local.
        let tcp = try config.addBus(.tcp(TCPBusSpec(name: "plc", host: "127.0.0.1")))
        let slave = try config.addDevice(DeviceSpec(name: "slave", bus: tcp))
        #expect(failure { () throws(Failure) in
            _ = try config.addChannel(ChannelSpec(name: "x", source: .local(LocalPoint(device: slave))))
        }?.kind == .notFound)
        #expect(config.channels.count == 2)
        // The plan has no requests for it and describes it without bus time.
        let requests = Planner.plan(config)
        #expect(requests.isEmpty)
        let text = Planner.describe(requests, config: config)
        #expect(text.contains("bus 'controller': local (written by the application, no bus time)\n  device 'zone1'\n    reason: on writes, the last value again every 1000 ms\n    dose: on writes only\n"))
    }

    @Test func siteFileLoadsALocalBus() throws {
        let result = loadYAML("""
            buses:
              - name: controller
                type: local
                devices:
                  - name: zone1
                    channels:
                      - {name: zone1.valve_reason, interval_ms: 10000}
                      - {name: zone1.dose_ml, unit: mL}
                      - {name: zone1.level, valid_min: 0, valid_max: 100, interval_ms: 0}
            """)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        let config = result.config
        #expect(config.buses.count == 1 && config.buses[0].isLocal)
        #expect(config.channels.map(\.name) == ["zone1.valve_reason", "zone1.dose_ml", "zone1.level"])
        #expect(config.channels.map(\.intervalMs) == [10000, 1000, 0])
        #expect(config.channels[1].unit == "mL")
        #expect(config.channels[2].local?.codec.validMax == 100)
        #expect(config.channels.allSatisfy { $0.writable && $0.local?.device == 0 })
    }

    @Test func siteFileRefusesFieldsThatMeanNothingThere() {
        let head = "buses:\n  - name: controller\n    type: local\n"
        expectError(head + "    host: 127.0.0.1\n", .configFile, line: 4,
                    "bus 'controller', field 'host': is not a field of a local bus (its only fields: name, type, devices)")
        expectError(head + "    port: 502\n", .configFile, line: 4, "bus 'controller', field 'port': is not a field of a local bus")
        expectError(head + "    device: /dev/ttyUSB0\n", .configFile, line: 4, "bus 'controller', field 'device': is not a field")
        expectError(head + "    baud: 9600\n", .configFile, line: 4, "bus 'controller', field 'baud': is not a field")
        expectError(head + "    colour: red\n", .configFile, line: 4, "bus 'controller', field 'colour': unknown key (expected one of: name, type, devices)")
        let device = head + "    devices:\n      - name: zone1\n"
        expectError(device + "        unit_id: 3\n", .configFile, line: 6,
                    "bus 'controller', device 'zone1', field 'unit_id': is not a field of a local bus's device (its only fields: name, channels)")
        expectError(device + "        protocol: dlt645-2007\n", .configFile, line: 6, "bus 'controller', device 'zone1', field 'protocol': is not a field")
        expectError(device + "        profile: sdm630\n", .configFile, line: 6, "bus 'controller', device 'zone1', field 'profile': is not a field")
        let channel = device + "        channels:\n"
        for (field, value) in [("address", "1"), ("function", "holding"), ("type", "f32"), ("order", "CDAB"), ("bit", "2"),
                               ("scale", "0.1"), ("offset", "1"), ("sentinels", "[65535]"), ("writable", "true"),
                               ("di", "0x02010100"), ("item", "flow_total")] {
            expectError(channel + "          - {name: c, \(field): \(value)}\n", .configFile, line: 7,
                        "bus 'controller', device 'zone1', channel 'c', field '\(field)': means nothing on a local bus (only name, unit, valid_min, valid_max, interval_ms)")
        }
        expectError(channel + "          - {name: c, valid_min: 5, valid_max: 1}\n", .config, line: 7,
                    "channel 'c': 'valid_min' 5")
        expectError(channel + "          - {name: c, interval: 5}\n", .configFile, line: 7,
                    "bus 'controller', device 'zone1', channel 'c', field 'interval': unknown key (expected one of: name, unit, interval_ms, valid_min, valid_max)")
    }

    /// The worker over a real ring, as the engine makes it.
    struct Rig {
        let config: SiteConfig
        let ring: Ring
        let stats = EngineStats()
        let sequences: UnsafeMutablePointer<UInt32>
        let worker: LocalWorker

        init(_ config: SiteConfig) throws {
            self.config = config
            ring = try Ring.make(capacity: 1024, lanes: 1, policy: EDGECORE_OVERFLOW_DROP_OLDEST)
            stats.ensure(devices: config.devices.count, buses: config.buses.count, channels: config.channels.count)
            sequences = .allocate(capacity: config.channels.count)
            sequences.initialize(repeating: 0, count: config.channels.count)
            worker = LocalWorker(busId: 0, config: config, ring: ring, stats: stats, sequences: sequences)
        }

        func write(_ channel: Int, _ value: Double) -> Result<Void, Failure>? {
            let job = WriteJob(.local(channel: channel, value: value))
            worker.enqueue(job)
            return job.wait(timeoutMilliseconds: 0)
        }

        func drain() -> [Reading] {
            var out = [Reading](repeating: Reading(), count: 256)
            let count = out.withUnsafeMutableBufferPointer { ring.drain(into: $0.baseAddress!, max: 256) }
            return Array(out.prefix(count))
        }
    }

    @Test func aWriteIsAReadingAtOnce() throws {
        let rig = try Rig(try site(interval: 0))
        defer { rig.sequences.deallocate() }
        #expect(rig.write(0, 1).map { if case .failure(let e) = $0 { return e.kind == .notRunning } else { return false } } == true)
        try rig.worker.start()
        let before = Clock.realtimeNanoseconds()
        #expect(rig.write(0, 4) != nil)
        #expect(rig.write(0, 12) != nil)
        #expect(rig.write(1, 250) != nil)
        let after = Clock.realtimeNanoseconds()
        let readings = rig.drain()  // published before enqueue returned: nothing to wait for
        #expect(readings.count == 3)
        #expect(readings.map(\.channel) == [0, 0, 1])
        #expect(readings.map(\.value) == [4, 12, 250])
        #expect(readings.map(\.status) == [UInt16(EDGECORE_STATUS_OK.rawValue), UInt16(EDGECORE_STATUS_OUT_OF_RANGE.rawValue),
                                           UInt16(EDGECORE_STATUS_OK.rawValue)])
        #expect(readings.map(\.sequence) == [0, 1, 0])
        #expect(readings.allSatisfy { $0.timestamp_ns >= before && $0.timestamp_ns <= after })
        #expect(rig.stats.device(0)?.counters.requests == 3)
        #expect(rig.stats.bus(0)?.counters.state == UInt16(EDGECORE_BUS_CONNECTED.rawValue))
        rig.worker.stop()
        #expect(rig.stats.bus(0)?.counters.state == UInt16(EDGECORE_BUS_STOPPED.rawValue))
        if case .failure(let error)? = rig.write(0, 1) { #expect(error.kind == .notRunning) } else { Issue.record("written after stop") }
        #expect(rig.drain().isEmpty)
    }

    @Test func heartbeatsRepeatTheLastValueAndStopPromptly() throws {
        let rig = try Rig(try site(interval: 50))
        defer { rig.sequences.deallocate() }
        try rig.worker.start()
        usleep(200_000)
        #expect(rig.drain().isEmpty)  // nothing before the first write
        let start = Clock.monotonicNanoseconds()
        #expect(rig.write(0, 6) != nil)
        usleep(520_000)
        let stopAt = Clock.monotonicNanoseconds()
        rig.worker.stop()
        let stopTook = Clock.monotonicNanoseconds() - stopAt
        #expect(stopTook < 50_000_000, "stop took \(stopTook / 1_000_000) ms")
        let readings = rig.drain()
        let beats = readings.count - 1
        let expected = Int((stopAt - start) / 50_000_000)
        #expect(beats >= expected - 2 && beats <= expected, "\(beats) heartbeats in \((stopAt - start) / 1_000_000) ms")
        #expect(readings.allSatisfy { $0.channel == 0 && $0.value == 6 && $0.status == 0 })
        #expect(readings.map(\.sequence) == readings.indices.map { UInt32($0) })
        let gaps = zip(readings.dropFirst(), readings).map { $0.timestamp_ns - $1.timestamp_ns }
        #expect(gaps.allSatisfy { $0 > 30_000_000 && $0 < 120_000_000 }, "\(gaps)")
        usleep(120_000)
        #expect(rig.drain().isEmpty)  // nothing after stop
        // A write restarts the interval; the count stays bounded over a second of writes every 20 ms.
        let again = try Rig(try site(interval: 50))
        defer { again.sequences.deallocate() }
        try again.worker.start()
        for value in 0..<25 {
            _ = again.write(0, Double(value))
            usleep(20_000)
        }
        again.worker.stop()
        let written = again.drain()
        #expect(written.count == 25, "\(written.count) readings: heartbeats between writes 20 ms apart")
    }
}
