import CShim
import Testing

@testable import EdgeCore

/// The meter transactions over a scripted line: what goes out, how replies arriving in pieces, with noise,
/// echoes, damage, follow-ups or from several meters are taken, and the failure each bad case gives.
struct MeterExchangeTests {
    let meter = MeterSettings(address: MeterAddress(bytes: [0x12, 0x90, 0x78, 0x56, 0x34, 0x12]))
    let other = MeterAddress(bytes: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11])

    func line() -> (ScriptedTransport, ManualClock) {
        let clock = ManualClock()
        let transport = ScriptedTransport(clock: clock)
        transport.opens = [0]
        try? transport.open(stop: NeverStop())
        return (transport, clock)
    }

    /// A DL/T 645-2007 reply to a read of `identifier` (data: DI0..DI3 then `value`), wire bytes.
    func reply(_ identifier: UInt32, _ value: [UInt8], control: UInt8 = 0x91, from address: MeterAddress? = nil,
               preamble: Int = 4, extra: [UInt8] = []) -> [UInt8] {
        let di = (0..<4).map { UInt8(truncatingIfNeeded: identifier >> UInt32(8 * $0)) }
        return DLT645Frame(address: address ?? meter.address, control: control, data: di + value + extra)!
            .encoded(preamble: preamble)
    }

    func read(_ transport: ScriptedTransport, _ clock: ManualClock, _ identifier: UInt32 = 0x0201_0100,
              timeoutMs: UInt32 = 1000) throws(Failure) -> [UInt8] {
        try MeterExchange.readDLT645(transport, clock: clock, version: .v2007, meter: meter, identifier: identifier,
                                     timeoutMs: timeoutMs)
    }

    func failure(_ body: () throws(Failure) -> Void) -> Failure? {
        do throws(Failure) {
            try body()
            return nil
        } catch {
            return error
        }
    }

    @Test func aReadSendsThePreambleAndTheFrameAndTakesTheReplyInPieces() throws {
        let (transport, clock) = line()
        let bytes = reply(0x0201_0100, [0x10, 0x22])  // 221.0 V
        // Noise, then the reply split at awkward places.
        transport.rawReplies = [[0x00, 0xFF, 0x68], Array(bytes[0..<5]), Array(bytes[5..<13]), Array(bytes[13...])]
        let value = try read(transport, clock)
        #expect(value == [0x10, 0x22])
        #expect(transport.sentRaw == [[0xFE, 0xFE, 0xFE, 0xFE] + hexBytes("68 12 90 78 56 34 12 68 11 04 33 34 34 35 6B 16")])
        #expect(try MeterValueFormat(length: 2, decimals: 1, signed: false, kind: .bcd, unit: "V").decode(value) == 221.0)
    }

    @Test func aStray0x68ThatLooksLikeAStartDoesNotHoldTheReplyBack() throws {
        let (transport, clock) = line()
        // Noise "00 FF 68 11 33" before the reply's 4 FE: the noise's 0x68 has another 0x68 seven bytes on (the
        // reply's first), so it looks like a DL/T 645 header whose length byte asks for bytes that never come.
        transport.rawReplies = [[0x00, 0xFF, 0x68, 0x11, 0x33] + reply(0x0201_0100, [0x10, 0x22])]
        let start = clock.now
        #expect(try read(transport, clock) == [0x10, 0x22])
        #expect(clock.now == start)  // taken at once, not after the 1000 ms window
    }

    @Test func theLinesEchoOfTheRequestIsSkipped() throws {
        let (transport, clock) = line()
        let request = try DLT645Frame.read(.v2007, address: meter.address, identifier: 0x0201_0100).encoded(preamble: 4)
        transport.rawReplies = [request, reply(0x0201_0100, [0x10, 0x22])]
        #expect(try read(transport, clock) == [0x10, 0x22])
    }

    @Test func followUpFramesAreReadAndJoined() throws {
        let (transport, clock) = line()
        // First frame: more follows (C 0xB1); the follow-up (C 0x92) carries DI, data and the sequence 1.
        transport.rawReplies = [reply(0x0400_0101, [0x01, 0x02], control: 0xB1),
                                reply(0x0400_0101, [0x03, 0x04], control: 0x92, extra: [0x01])]
        #expect(try read(transport, clock, 0x0400_0101) == [0x01, 0x02, 0x03, 0x04])
        #expect(transport.sentRaw.count == 2)
        let followUp = try DLT645Frame.readFollowUp(.v2007, address: meter.address, identifier: 0x0400_0101, sequence: 1)
        #expect(transport.sentRaw.last == followUp.encoded(preamble: 4))
    }

    @Test func aContinuationThatBreaksOffOrNeverEndsIsAFrameError() {
        var (transport, clock) = line()
        transport.rawReplies = [reply(0x0400_0101, [0x01], control: 0xB1)]  // then silence
        var error = failure { () throws(Failure) in _ = try read(transport, clock, 0x0400_0101) }
        #expect(error?.kind == .deviceFrame)
        #expect(error?.message == "follow-up frame 1 of 0x04000101: no reply")

        (transport, clock) = line()
        transport.rawReplies = [reply(0x0400_0101, [0x01], control: 0xB1)]
            + (1...20).map { reply(0x0400_0101, [0x01], control: 0xB2, extra: [UInt8($0)]) }
        error = failure { () throws(Failure) in _ = try read(transport, clock, 0x0400_0101) }
        #expect(error?.kind == .deviceFrame)
        #expect(error?.message == "the meter announced more than 15 follow-up frames")
        #expect(transport.sentRaw.count == 16)

        // A follow-up with the wrong sequence number.
        (transport, clock) = line()
        transport.rawReplies = [reply(0x0400_0101, [0x01], control: 0xB1),
                                reply(0x0400_0101, [0x02], control: 0x92, extra: [0x07])]
        error = failure { () throws(Failure) in _ = try read(transport, clock, 0x0400_0101) }
        #expect(error?.message == "follow-up frame 1: reply with sequence 7, requested 1")
    }

    @Test func aStopRequestEndsAChainOfFollowUpsAfterTheExchangeInProgress() {
        final class StopAfterFirst: StopRequest, @unchecked Sendable {
            var eventFD: EventFD? { nil }
            var stopRequested = true
        }
        let (transport, clock) = line()
        transport.rawReplies = (0...5).map { reply(0x0400_0101, [0x01], control: $0 == 0 ? 0xB1 : 0xB2,
                                                   extra: $0 == 0 ? [] : [UInt8($0)]) }
        let error = failure { () throws(Failure) in
            _ = try MeterExchange.readDLT645(transport, clock: clock, version: .v2007, meter: meter,
                                             identifier: 0x0400_0101, timeoutMs: 1000, stop: StopAfterFirst())
        }
        #expect(error?.kind == .deviceTimeout)
        #expect(error?.message == "the engine stopped before follow-up frame 1")
        #expect(transport.sentRaw.count == 1)
    }

    @Test func anAbnormalReplyIsTheDevicesRefusalWithItsErrorByte() {
        let (transport, clock) = line()
        transport.rawReplies = [DLT645Frame(address: meter.address, control: 0xD1, data: [0x02])!.encoded(preamble: 4)]
        let error = failure { () throws(Failure) in _ = try read(transport, clock) }
        #expect(error?.kind == .deviceException(0x02))
    }

    @Test func repliesFromAnotherMeterOrForAnotherIdentifierAreFrameErrors() {
        var (transport, clock) = line()
        transport.rawReplies = [reply(0x0201_0100, [0x10, 0x22], from: other)]
        var error = failure { () throws(Failure) in _ = try read(transport, clock) }
        #expect(error?.kind == .deviceFrame)
        #expect(error?.message == "reply from meter 111111111111, requested 123456789012")

        (transport, clock) = line()
        transport.rawReplies = [reply(0x0201_0200, [0x10, 0x22])]
        error = failure { () throws(Failure) in _ = try read(transport, clock) }
        #expect(error?.message == "reply for identifier 0x02010200, requested 0x02010100")
    }

    @Test func damagedBytesAloneAreAFrameErrorAndSilenceATimeout() {
        var (transport, clock) = line()
        var bad = reply(0x0201_0100, [0x10, 0x22])
        bad[bad.count - 2] &+= 1
        transport.rawReplies = [bad]
        let start = clock.now
        var error = failure { () throws(Failure) in _ = try read(transport, clock, timeoutMs: 500) }
        #expect(error?.kind == .deviceFrame)
        #expect(error?.message.hasPrefix("frame checksum") == true)
        #expect(clock.now - start >= 500_000_000)  // it waited the window out for a good frame

        (transport, clock) = line()
        error = failure { () throws(Failure) in _ = try read(transport, clock, timeoutMs: 500) }
        #expect(error?.kind == .deviceTimeout)
    }

    @Test func aTricklingReplyIsCutAtTheTimeout() {
        let (transport, clock) = line()
        // One byte every 100 ms: after the 4 FE bytes the frame starts and cannot complete in 500 ms.
        transport.rawReplies = reply(0x0201_0100, [0x10, 0x22]).map { [$0] }
        transport.rawChunkNanoseconds = 100_000_000
        let start = clock.now
        let error = failure { () throws(Failure) in _ = try read(transport, clock, timeoutMs: 500) }
        #expect(error?.kind == .deviceFrame)
        #expect(error?.message == "frame cut off after 1 bytes")
        #expect(clock.now - start == 500_000_000)
    }

    @Test func discoveryNamesTheOneMeterAndRefusesSeveral() throws {
        func addressReply(_ address: MeterAddress) -> [UInt8] {
            DLT645Frame(address: address, control: 0x93, data: address.bytes)!.encoded(preamble: 4)
        }
        var (transport, clock) = line()
        transport.rawReplies = [addressReply(meter.address)]
        #expect(try MeterExchange.discoverDLT645(transport, clock: clock, windowMs: 1000) == meter.address)
        #expect(transport.sentRaw == [[0xFE, 0xFE, 0xFE, 0xFE] + hexBytes("68 AA AA AA AA AA AA 68 13 00 DF 16")])

        (transport, clock) = line()
        transport.rawReplies = [addressReply(meter.address), addressReply(other)]
        var error = failure { () throws(Failure) in _ = try MeterExchange.discoverDLT645(transport, clock: clock, windowMs: 1000) }
        #expect(error?.kind == .ambiguous)
        #expect(error?.message == "2 meters answered (123456789012, 111111111111): connect one meter and ask again")

        // One clean reply and a collision beside it.
        (transport, clock) = line()
        var collided = addressReply(other)
        collided[collided.count - 2] ^= 0x40
        transport.rawReplies = [addressReply(meter.address), collided]
        error = failure { () throws(Failure) in _ = try MeterExchange.discoverDLT645(transport, clock: clock, windowMs: 1000) }
        #expect(error?.kind == .ambiguous)

        (transport, clock) = line()
        error = failure { () throws(Failure) in _ = try MeterExchange.discoverDLT645(transport, clock: clock, windowMs: 1000) }
        #expect(error?.kind == .deviceTimeout)
    }

    @Test func aCJT188ReadAndItsAbnormalReply() throws {
        let water = MeterSettings(address: MeterAddress(bytes: [0x78, 0x56, 0x34, 0x12, 0, 0, 0]))
        var (transport, clock) = line()
        // 901F reply: DI 1F 90, SER 05, current 1234.56 L (29), settlement 10.00 m3 (2C), time, ST0 01 (closed).
        let body: [UInt8] = [0x56, 0x34, 0x12, 0x00, 0x29, 0x00, 0x10, 0x00, 0x00, 0x2C,
                             0x00, 0x30, 0x08, 0x02, 0x12, 0x26, 0x20, 0x01, 0x00]
        let replyFrame = CJT188Frame(meterType: .coldWater, address: water.address, control: 0x81,
                                     data: [0x1F, 0x90, 0x05] + body)!
        transport.rawReplies = [replyFrame.encoded(preamble: 2)]
        let data = try MeterExchange.readCJT188(transport, clock: clock, meter: water, sequence: 5, timeoutMs: 1000)
        let flow = MeterExchange.value(data, field: .currentFlow, unit: "m3", codec: .defaults)
        #expect(flow.status == 0)
        #expect(abs(flow.value - 1.23456) < 1e-9)  // litres converted to the channel's m3
        #expect(MeterExchange.value(data, field: .valveState, unit: "", codec: .defaults).value == 1)
        // A unit of another quantity than the channel's is not a value.
        #expect(MeterExchange.value(data, field: .currentFlow, unit: "kWh", codec: .defaults).status
                == UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue))

        (transport, clock) = line()
        transport.rawReplies = [CJT188Frame(meterType: .coldWater, address: water.address, control: 0xC1,
                                            data: [0x06, 0x43, 0x00])!.encoded(preamble: 2)]
        let error = failure { () throws(Failure) in
            _ = try MeterExchange.readCJT188(transport, clock: clock, meter: water, sequence: 6, timeoutMs: 1000)
        }
        #expect(error?.kind == .deviceException(0x0043))
    }

    @Test func valuesAllFFAreSentinelAndBadDigitsMalformed() {
        let format = MeterValueFormat(length: 2, decimals: 1, signed: false, kind: .bcd, unit: "V")
        #expect(MeterExchange.value([0xFF, 0xFF], format: format, codec: .defaults).status
                == UInt16(EDGECORE_STATUS_SENTINEL.rawValue))
        #expect(MeterExchange.value([0x1A, 0x22], format: format, codec: .defaults).status
                == UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue))
        #expect(MeterExchange.value([0x10], format: format, codec: .defaults).status
                == UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue))
        var codec = ValueCodec.defaults
        codec.scale = 1000
        codec.validMax = 200_000
        let scaled = MeterExchange.value([0x10, 0x22], format: format, codec: codec)
        #expect(scaled.value == 221_000)
        #expect(scaled.status == UInt16(EDGECORE_STATUS_OUT_OF_RANGE.rawValue))
    }
}

/// A stop request that never comes.
final class NeverStop: StopRequest, @unchecked Sendable {
    var eventFD: EventFD? { nil }
    var stopRequested: Bool { false }
}
