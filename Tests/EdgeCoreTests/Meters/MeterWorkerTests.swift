import CShim
import Testing

@testable import EdgeCore

/// The bus worker with meters on a scripted transparent line: what each reply becomes as readings,
/// statistics and problems, dead meters backed off like dead Modbus slaves, writes to a CJ/T 188 valve.
struct MeterWorkerTests {
    static let meterAddress = MeterAddress(bytes: [0x12, 0x90, 0x78, 0x56, 0x34, 0x12])
    static let waterAddress = MeterAddress(bytes: [0x78, 0x56, 0x34, 0x12, 0, 0, 0])

    /// A transparent TCP bus with one DL/T 645-2007 meter reading `items`, every `intervalMs`.
    func dltSite(_ items: [String], intervalMs: UInt32 = 1000, offlineAfter: UInt32 = 3) throws -> SiteConfig {
        var config = SiteConfig()
        var bus = TCPBusSpec(name: "line", host: "127.0.0.1")
        bus.framing = .transparent
        _ = try config.addBus(.tcp(bus))
        var device = DeviceSpec(name: "meter", bus: 0)
        device.deviceProtocol = .dlt645v2007
        device.meter = MeterSettings(address: Self.meterAddress)
        device.responseTimeoutMs = 300
        device.retries = 0
        device.offlineAfter = offlineAfter
        _ = try config.addDevice(device)
        for item in items {
            let entry = try #require(DLT645Catalogue.entry(named: item, version: .v2007))
            var channel = ChannelSpec(name: item, source: .meter(MeterPoint(
                device: 0, item: .dlt645(identifier: entry.identifier, format: entry.format), codec: .defaults)))
            channel.intervalMs = intervalMs
            _ = try config.addChannel(channel)
        }
        return config
    }

    func reply(_ identifier: UInt32, _ value: [UInt8], control: UInt8 = 0x91) -> [UInt8] {
        let di = (0..<4).map { UInt8(truncatingIfNeeded: identifier >> UInt32(8 * $0)) }
        return DLT645Frame(address: Self.meterAddress, control: control, data: di + value)!.encoded(preamble: 4)
    }

    @Test func valuesAbnormalRepliesAndSentinelsBecomeReadings() throws {
        let site = try dltSite(["voltage_a", "voltage_b", "current_a"])
        #expect(site.channels[0].unit == "V")  // the catalogue's unit
        let harness = try WorkerHarness(site)
        harness.transport.rawReplies = [
            reply(0x0201_0100, [0x10, 0x22]),                                   // 221.0 V
            DLT645Frame(address: Self.meterAddress, control: 0xD1, data: [0x02])!.encoded(preamble: 4),
            reply(0x0202_0100, [0xFF, 0xFF, 0xFF]),                             // no value
        ]
        harness.run(milliseconds: 100)  // the line's silence (4 ms at 9600) between transactions
        let readings = harness.drain()
        #expect(readings.map(\.channel) == [0, 1, 2])
        #expect(readings[0].status == UInt16(EDGECORE_STATUS_OK.rawValue))
        #expect(readings[0].value == 221.0)
        #expect(readings[1].status == UInt16(EDGECORE_STATUS_EXCEPTION.rawValue))
        #expect(readings[1].status_detail == 0x02)
        #expect(readings[2].status == UInt16(EDGECORE_STATUS_SENTINEL.rawValue))
        let device = harness.device
        #expect(device.requests == 3)
        #expect(device.responses == 2)
        #expect(device.exceptions == 1)
        #expect(device.last_exception == 2)
        #expect(harness.stats.deviceProblem(0) == "abnormal reply, error byte 0x02")
        // One request per identifier, in channel order, each with the FE preamble.
        #expect(harness.transport.sentRaw.count == 3)
        #expect(harness.transport.sentRaw.allSatisfy { $0.starts(with: [0xFE, 0xFE, 0xFE, 0xFE, 0x68]) })
    }

    @Test func aReplyForAnotherIdentifierIsACRCErrorWithItsReason() throws {
        let harness = try WorkerHarness(try dltSite(["voltage_a"]))
        harness.transport.rawReplies = [reply(0x0201_0200, [0x10, 0x22])]
        harness.run(milliseconds: 100)  // the line's silence (4 ms at 9600) between transactions
        let readings = harness.drain()
        #expect(readings.map(\.status) == [UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue)])
        #expect(harness.device.frame_errors == 1)
        #expect(harness.stats.deviceProblem(0) == "reply for identifier 0x02010200, requested 0x02010100")
    }

    @Test func aDeadMeterTimesOutThenIsBackedOff() throws {
        let harness = try WorkerHarness(try dltSite(["voltage_a"], intervalMs: 1000, offlineAfter: 2))
        harness.run(milliseconds: 6000)
        let statuses = harness.drain().map(\.status)
        #expect(statuses.prefix(2) == [UInt16(EDGECORE_STATUS_TIMEOUT.rawValue), UInt16(EDGECORE_STATUS_TIMEOUT.rawValue)])
        #expect(statuses.dropFirst(2).contains(UInt16(EDGECORE_STATUS_OFFLINE.rawValue)))
        #expect(harness.device.state == UInt16(EDGECORE_DEVICE_OFFLINE.rawValue))
        #expect(harness.stats.deviceProblem(0) == "no answer within 300 ms")
    }

    @Test func aCJT188ReadServesEveryFieldAndTheValveIsWritten() throws {
        var config = SiteConfig()
        var bus = TCPBusSpec(name: "line", host: "127.0.0.1")
        bus.framing = .transparent
        _ = try config.addBus(.tcp(bus))
        var device = DeviceSpec(name: "water", bus: 0)
        device.deviceProtocol = .cjt188
        device.meter = MeterSettings(address: Self.waterAddress, preamble: 2)
        device.retries = 0
        _ = try config.addDevice(device)
        for field in [CJT188Field.currentFlow, .valveState, .batteryLow] {
            var channel = ChannelSpec(name: Message.string(field.name),
                                      source: .meter(MeterPoint(device: 0, item: .cjt188(field), codec: .defaults)))
            channel.writable = field == .valveState
            _ = try config.addChannel(channel)
        }
        #expect(config.channels[0].unit == "m3")
        let harness = try WorkerHarness(config)
        #expect(Planner.plan(config).count == 1)  // one 901F read for the three fields
        let body: [UInt8] = [0x50, 0x34, 0x12, 0x00, 0x2C, 0x00, 0x10, 0x00, 0x00, 0x2C,
                             0x00, 0x30, 0x08, 0x02, 0x12, 0x26, 0x20, 0x04, 0x00]  // 1234.50 m3, open, battery low
        harness.transport.rawReplies = [CJT188Frame(meterType: .coldWater, address: Self.waterAddress, control: 0x81,
                                                    data: [0x1F, 0x90, 0x01] + body)!.encoded(preamble: 2)]
        harness.run(milliseconds: 100)  // the line's silence (4 ms at 9600) between transactions
        let readings = harness.drain()
        #expect(readings.map(\.value) == [1234.5, 0, 1])
        #expect(readings.allSatisfy { $0.status == UInt16(EDGECORE_STATUS_OK.rawValue) })
        #expect(try harness.transport.sentRaw.first == [0xFE, 0xFE] + CJT188Frame.readCurrentData(
            type: .coldWater, address: Self.waterAddress, sequence: 1).encoded(preamble: 0))

        // Close the valve: A017 with 0x99; the meter answers with its new status.
        let job = WriteJob(.meterValve(device: 0, open: false))
        harness.transport.rawReplies = [CJT188Frame(meterType: .coldWater, address: Self.waterAddress, control: 0x84,
                                                    data: [0x17, 0xA0, 0x02, 0x01, 0x00])!.encoded(preamble: 2)]
        harness.worker.enqueue(job)
        harness.run(milliseconds: 100)  // the line's silence (4 ms at 9600) between transactions
        #expect(job.wait(timeoutMilliseconds: 0).map { (try? $0.get()) != nil } == true)
        #expect(try harness.transport.sentRaw.last == [0xFE, 0xFE] + CJT188Frame.valveControl(
            type: .coldWater, address: Self.waterAddress, sequence: 2, open: false).encoded(preamble: 0))
    }
}
