import Testing

@testable import EdgeCore

/// Golden vectors taken from published frames (docs/meters-sources.md lists each source and what it says).
/// Only the bytes are taken; every byte sum below was recomputed. Where a published frame does not add up,
/// the test says so and checks that our decoder refuses it.
struct MetersSourceVectorsTests {
    // MARK: CJ/T 188, SC water meter (hftangyu.com/563.html "CJ/T-188水表協議解析", also
    // topic.alibabacloud.com/a/cjt-188-water-meter-protocol-analysis_8_8_31414702.html): meter 0011223344,
    // vendor code 7833 (address bytes 44 33 22 11 00 33 78), DI sent 1F 90.

    let sc = MeterAddress(bytes: [0x44, 0x33, 0x22, 0x11, 0x00, 0x33, 0x78])
    /// The read request as published (CS 80 checks).
    static let scRead = hexBytes("FE FE FE FE 68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16")
    /// The reply as published: its CS 08 does not match its bytes (their sum is 0x13): an edited frame.
    static let scReplyPublished = hexBytes(
        "68 10 44 33 22 11 00 33 78 81 16 1F 90 00 00 77 66 55 2C 00 77 66 55 2C 31 01 22 11 05 15 20 21 84 08 16")
    /// The same reply with the recomputed CS 13.
    static let scReply = hexBytes(
        "68 10 44 33 22 11 00 33 78 81 16 1F 90 00 00 77 66 55 2C 00 77 66 55 2C 31 01 22 11 05 15 20 21 84 13 16")

    @Test func scWaterMeterReadRequestMatchesThePublishedFrame() throws {
        #expect(try CJT188Frame.readCurrentData(type: .coldWater, address: sc, sequence: 0).encoded(preamble: 4) == Self.scRead)
    }

    @Test func scWaterMeterReplyDecodesToThePagesReading() throws {
        #expect(CJT188Frame(raw: Self.scReplyPublished) == nil)  // the published CS is wrong
        let request = try CJT188Frame.readCurrentData(type: .coldWater, address: sc, sequence: 0)
        let data = try currentData(Self.scReply, request)
        // The page: 556677.00 m3 cumulative, 556677.00 m3 this month, 2015-05-11 22:01:31, status 21 84.
        #expect(value(data, .currentFlow) == .success(CJT188Value(value: 556_677, unit: "m3")))
        #expect(value(data, .settlementFlow) == .success(CJT188Value(value: 556_677, unit: "m3")))
        #expect(value(data, .realTime) == .success(CJT188Value(value: 20_150_511_220_131, unit: "")))
        #expect(value(data, .status) == .success(CJT188Value(value: 0x8421, unit: "")))
        #expect(value(data, .valveState) == .success(CJT188Value(value: 1, unit: "")))
        #expect(value(data, .batteryLow) == .success(CJT188Value(value: 0, unit: "")))
    }

    // MARK: CJ/T 188, SC water meter valve control (topic.alibabacloud.com/a/
    // cjt-188-water-meter-protocol-analysis-2_8_8_31389474.html): meter 1505900569, vendor 7833; the page lists
    // the fields "04 04 A0 17 01 55" (DI high byte first on this device) and CS 50 (open) / 94 (close), which
    // the bytes below add up to. Its reply: C 84, L 05, A0 17, SER, status word (0000 open, 0001 closed).

    let scValve = MeterAddress(bytes: [0x69, 0x05, 0x90, 0x05, 0x15, 0x33, 0x78])

    @Test func scValveControlMatchesThePublishedFramesWithHighByteFirstIdentifier() throws {
        let open = try CJT188Frame.valveControl(type: .coldWater, address: scValve, sequence: 1, open: true, order: .highByteFirst)
        #expect(open.encoded(preamble: 4) == hexBytes("FE FE FE FE 68 10 69 05 90 05 15 33 78 04 04 A0 17 01 55 50 16"))
        let close = try CJT188Frame.valveControl(type: .coldWater, address: scValve, sequence: 1, open: false, order: .highByteFirst)
        #expect(close.encoded(preamble: 4) == hexBytes("FE FE FE FE 68 10 69 05 90 05 15 33 78 04 04 A0 17 01 99 94 16"))
        // The default order sends 17 A0 (same byte sum).
        #expect(try CJT188Frame.valveControl(type: .coldWater, address: scValve, sequence: 1, open: true).data == [0x17, 0xA0, 0x01, 0x55])
        // The reply layout of the page (DI SER ST0 ST1), closed: our own frame, CS computed.
        let reply = try #require(CJT188Frame(meterType: .coldWater, address: scValve, control: 0x84, data: [0xA0, 0x17, 0x01, 0x01, 0x00]))
        #expect(try CJT188Reply.interpret(reply, request: close) == .written(status: 1))
        #expect(throws: MeterReplyError.self) { try CJT188Reply.interpret(reply, request: try CJT188Frame.valveControl(
            type: .coldWater, address: self.scValve, sequence: 1, open: false)) }  // 17 A0 asked, A0 17 echoed
    }

    // MARK: CJ/T 188, python_cjt188 (github.com/aixiwang/python_cjt188, python_cjt188.py at a6c2e94, "tested with
    // a DN15 flow meter"): read address to the wildcard (line 129, CS 49), the reply it expects (line 213, CS 9B),
    // and a 901F reply of its self-test (lines 370-371, CS 67), all with the DI high byte first.

    @Test func pythonCJT188FramesParse() throws {
        let readAddress = try #require(CJT188Frame(raw: hexBytes("68 AA AA AA AA AA AA AA AA 03 03 81 0A 00 49 16")))
        #expect(readAddress.meterType == .wildcard && readAddress.address.isWildcard && readAddress.function == 3)
        #expect(readAddress.data == [0x81, 0x0A, 0x00])
        let addressReply = try #require(CJT188Frame(raw: hexBytes("68 10 12 00 00 00 00 00 00 83 03 81 0A 00 9B 16")))
        #expect(addressReply.isReply && addressReply.function == 3 && addressReply.address.text == "00000000000012")

        let meter = MeterAddress(bytes: [0x12, 0, 0, 0, 0, 0, 0])
        let reply = hexBytes("68 10 12 00 00 00 00 00 00 81 16 90 1F 00 10 00 10 00 2C 10 00 10 00 2C 00 00 00 00 00 00 00 00 FF 67 16")
        let highFirst = try CJT188Frame.readCurrentData(type: .coldWater, address: meter, sequence: 0, order: .highByteFirst)
        #expect(highFirst.encoded() == hexBytes("68 10 12 00 00 00 00 00 00 01 03 90 1F 00 3D 16"))  // line 363
        let data = try currentData(reply, highFirst)
        #expect(value(data, .currentFlow) == .success(CJT188Value(value: 1000.1, unit: "m3")))
        #expect(value(data, .settlementFlow) == .success(CJT188Value(value: 1000.1, unit: "m3")))
        #expect(value(data, .realTime) == .success(CJT188Value(value: 0, unit: "")))
        #expect(value(data, .status) == .success(CJT188Value(value: 0xFF00, unit: "")))
        #expect(value(data, .valveState) == .success(CJT188Value(value: 0, unit: "")))
        // Asked 1F 90, a reply with 90 1F is another identifier.
        let lowFirst = try CJT188Frame.readCurrentData(type: .coldWater, address: meter, sequence: 0)
        let parsed = try #require(CJT188Frame(raw: reply))
        #expect(throws: MeterReplyError.wrongIdentifier(expected: 0x901F, received: 0x1F90, bytes: 2)) {
            try CJT188Reply.interpret(parsed, request: lowFirst)
        }
    }

    // MARK: CJ/T 188, the example reply in xijunzhou/sdqr_energy_node_class-20180705 Src/meter/cj188.c (lines
    // 10-22, CS 9D checks): its real time is written in decimal (10,15,12,23,11,17,20 = 0A 0F 0C 17 0B 11 14),
    // not BCD. The time is an error of its own; the other fields stay readable.

    @Test func xijunzhouExampleWithBinaryTimeKeepsTheOtherFields() throws {
        let meter = MeterAddress(bytes: [0x06, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00])
        let reply = hexBytes("68 10 06 00 04 00 00 00 00 81 16 1F 90 00 12 34 56 78 2C 23 45 67 89 2C 0A 0F 0C 17 0B 11 14 21 84 9D 16")
        let data = try currentData(reply, try CJT188Frame.readCurrentData(type: .coldWater, address: meter, sequence: 0))
        #expect(value(data, .currentFlow) == .success(CJT188Value(value: 785_634.12, unit: "m3")))
        #expect(value(data, .settlementFlow) == .success(CJT188Value(value: 896_745.23, unit: "m3")))
        #expect(value(data, .realTime) == .failure(.invalidDigit(index: 4, byte: 0x0B)))  // scanned from the top byte
        #expect(value(data, .status) == .success(CJT188Value(value: 0x8421, unit: "")))
    }

    // MARK: DL/T 645-1997 (kaledl.com/down/1493168.html): meter 138000130754 (54 07 13 00 80 13), read of
    // 90 10 (forward active energy total) and its reply 01 00 00 00 = 0.01 kWh; CS DA and 2B check.

    @Test func dlt1997PublishedReadAndReply() throws {
        let meter = MeterAddress(bytes: [0x54, 0x07, 0x13, 0x00, 0x80, 0x13])
        let request = try DLT645Frame.read(.v1997, address: meter, identifier: 0x9010)
        #expect(request.encoded() == hexBytes("68 54 07 13 00 80 13 68 01 02 43 C3 DA 16"))
        let reply = try #require(DLT645Frame(raw: hexBytes("68 54 07 13 00 80 13 68 81 06 43 C3 34 33 33 33 2B 16")))
        let answer = try DLT645Reply.interpret(reply, request: request, version: .v1997)
        #expect(answer == .data([0x01, 0x00, 0x00, 0x00], moreFollows: false))
        let entry = try #require(DLT645Catalogue.entry(identifier: 0x9010, version: .v1997))
        #expect(try entry.format.decode([0x01, 0x00, 0x00, 0x00]) == 0.01)
    }

    // MARK: Helpers

    func currentData(_ raw: [UInt8], _ request: CJT188Frame) throws -> CJT188CurrentData {
        let frame = try #require(CJT188Frame(raw: raw))
        guard case .currentData(let data) = try CJT188Reply.interpret(frame, request: request) else {
            throw Failure(.value, "not current data")
        }
        return data
    }

    func value(_ data: CJT188CurrentData, _ field: CJT188Field) -> Result<CJT188Value, MeterValueError> {
        do throws(MeterValueError) {
            return .success(try data.value(field))
        } catch {
            return .failure(error)
        }
    }
}
