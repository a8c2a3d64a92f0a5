import Testing

@testable import EdgeCore

/// CJ/T 188 frames, requests, 901F replies of water and heat meters, valve control. docs/meter-protocols.md has no checked
/// CJ/T 188 vectors: all these are our own, computed from the frame rules (the byte sum worked out by hand
/// and checked with a short script), not from a peer. Vectors from published frames are in
/// MetersSourceVectorsTests.swift (docs/meters-sources.md).
struct MetersCJT188Tests {
    let water = MeterAddress(bytes: [0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00])
    let heatMeter = MeterAddress(bytes: [0x21, 0x43, 0x65, 0x87, 0x09, 0x00, 0x00])
    static let waterReply = hexBytes("68 10 78 56 34 12 00 00 00 81 16 1F 90 01 45 23 01 00 2C 00 20 01 00 2C 00 30 07 02 12 26 20 05 00 4B 16")
    static let heatReply = hexBytes("68 20 21 43 65 87 09 00 00 81 2E 1F 90 07 00 50 34 12 05 25 50 34 12 05 50 12 00 00 17 00 50 12 00 35 00 45 23 01 2C 50 62 00 25 41 00 34 12 00 00 30 07 02 12 26 20 00 00 35 16")

    @Test func meterTypeClasses() {
        #expect(CJT188MeterType(rawValue: 0x10)?.meterClass == .water)
        #expect(CJT188MeterType(rawValue: 0x19)?.meterClass == .water)
        #expect(CJT188MeterType(rawValue: 0x21)?.meterClass == .heat)
        #expect(CJT188MeterType(rawValue: 0x39)?.meterClass == .gas)
        #expect(CJT188MeterType(rawValue: 0x45)?.meterClass == .other)
        #expect(CJT188MeterType(rawValue: 0xAA)?.meterClass == .wildcard)
        for raw: UInt8 in [0x00, 0x0F, 0x1A, 0x2F, 0x4A, 0x50, 0x68, 0xFF] { #expect(CJT188MeterType(rawValue: raw) == nil, "\(raw)") }
    }

    @Test func requestsEncodeByteForByte() throws {
        #expect(try CJT188Frame.readCurrentData(type: .coldWater, address: water, sequence: 1).encoded()
            == hexBytes("68 10 78 56 34 12 00 00 00 01 03 1F 90 01 40 16"))
        #expect(try CJT188Frame.readCurrentData(type: .heat, address: heatMeter, sequence: 7).encoded(preamble: 2)
            == hexBytes("FE FE 68 20 21 43 65 87 09 00 00 01 03 1F 90 07 9B 16"))
        #expect(try CJT188Frame.valveControl(type: .coldWater, address: water, sequence: 2, open: false).encoded()
            == hexBytes("68 10 78 56 34 12 00 00 00 04 04 17 A0 02 99 E6 16"))
        #expect(try CJT188Frame.valveControl(type: .coldWater, address: water, sequence: 2, open: true).encoded()
            == hexBytes("68 10 78 56 34 12 00 00 00 04 04 17 A0 02 55 A2 16"))
        #expect(throws: Failure.self) { try CJT188Frame.readCurrentData(type: .coldWater, address: .dlt645Wildcard, sequence: 0) }
        #expect(try MeterAddress(text: "00000012345678", length: 7) == water)
    }

    func interpret(_ raw: [UInt8], _ request: CJT188Frame) -> Result<CJT188Reply, MeterReplyError> {
        guard let reply = CJT188Frame(raw: raw) else { return .failure(.dataLength(expected: -1, received: -1)) }
        do throws(MeterReplyError) {
            return .success(try CJT188Reply.interpret(reply, request: request))
        } catch {
            return .failure(error)
        }
    }

    func value(_ data: CJT188CurrentData, _ field: CJT188Field) -> Result<CJT188Value, MeterValueError> {
        do throws(MeterValueError) {
            return .success(try data.value(field))
        } catch {
            return .failure(error)
        }
    }

    @Test func waterReplyFields() throws {
        let frame = try #require(CJT188Frame(raw: Self.waterReply))
        #expect(frame.encoded() == Self.waterReply)
        let request = try CJT188Frame.readCurrentData(type: .coldWater, address: water, sequence: 1)
        guard case .success(.currentData(let data)) = interpret(Self.waterReply, request) else {
            Issue.record("not current data")
            return
        }
        #expect(value(data, .currentFlow) == .success(CJT188Value(value: 123.45, unit: "m3")))
        #expect(value(data, .settlementFlow) == .success(CJT188Value(value: 120, unit: "m3")))
        #expect(value(data, .realTime) == .success(CJT188Value(value: 20_261_202_073_000, unit: "")))
        #expect(value(data, .status) == .success(CJT188Value(value: 5, unit: "")))
        #expect(value(data, .valveState) == .success(CJT188Value(value: 1, unit: "")))  // closed
        #expect(value(data, .batteryLow) == .success(CJT188Value(value: 1, unit: "")))
        #expect(value(data, .heatPower) == .failure(.notInReply))
    }

    @Test func heatReplyFields() throws {
        let request = try CJT188Frame.readCurrentData(type: .heat, address: heatMeter, sequence: 7)
        guard case .success(.currentData(let data)) = interpret(Self.heatReply, request) else {
            Issue.record("not current data")
            return
        }
        let expected: [(CJT188Field, Double, StaticString)] = [
            (.settlementHeat, 123_450, "kWh"), (.currentHeat, 123_450.25, "kWh"), (.heatPower, 12.5, "kW"),
            (.flowRate, 12.5, "m3/h"), (.cumulativeFlow, 12_345, "m3"), (.supplyTemperature, 62.5, "degC"),
            (.returnTemperature, 41.25, "degC"), (.workingHours, 1234, "h"), (.realTime, 20_261_202_073_000, ""),
            (.valveState, 0, ""), (.batteryLow, 0, ""),
        ]
        for (field, number, unit) in expected {
            #expect(value(data, field) == .success(CJT188Value(value: number, unit: unit)), "\(field)")
        }
        #expect(value(data, .currentFlow) == .failure(.notInReply))
    }

    @Test func unitCodesMapToUnitsAndScales() throws {
        #expect(CJT188Unit.of(0x0A)?.scale == 100)
        #expect(CJT188Unit.of(0x13).map { Message.string($0.unit) } == "GJ")
        #expect(CJT188Unit.of(0x35).map { Message.string($0.unit) } == "m3/h")
        #expect(CJT188Unit.of(0x03) == nil)
        // Current heat in MWh x 100 (0x0A): 0001.50 -> 150 MWh; an unknown code is an error of that field only.
        var body = Array(Self.heatReply[14..<57])
        body[5...9] = [0x50, 0x01, 0x00, 0x00, 0x0A]
        body[4] = 0x03
        let data = CJT188CurrentData(meterType: .heat, bytes: body)
        #expect(value(data, .currentHeat) == .success(CJT188Value(value: 150, unit: "MWh")))
        #expect(value(data, .settlementHeat) == .failure(.unknownUnit(0x03)))
        body[15] = 0x5A
        #expect(value(CJT188CurrentData(meterType: .heat, bytes: body), .flowRate) == .failure(.invalidDigit(index: 0, byte: 0x5A)))
    }

    @Test func fieldNames() {
        #expect(CJT188Field.named("current_flow") == .currentFlow)
        #expect(CJT188Field.named("valve_state") == .valveState)
        #expect(CJT188Field.named("supply_temperature") == .supplyTemperature)
        #expect(CJT188Field.named("valve") == nil)
    }

    @Test func repliesThatDoNotAnswerTheRequestAreErrors() throws {
        let request = try CJT188Frame.readCurrentData(type: .coldWater, address: water, sequence: 2)
        #expect(interpret(Self.waterReply, request) == .failure(.wrongSequence(expected: 2, received: 1)))
        let otherMeter = try CJT188Frame.readCurrentData(type: .coldWater, address: MeterAddress(text: "00000012345679", length: 7), sequence: 1)
        #expect(interpret(Self.waterReply, otherMeter)
            == .failure(.wrongAddress(expected: otherMeter.address, received: water)))
        let gas = try CJT188Frame.readCurrentData(type: .gas, address: water, sequence: 1)
        #expect(interpret(Self.waterReply, gas) == .failure(.wrongMeterType(expected: 0x30, received: 0x10)))
        let valve = try CJT188Frame.valveControl(type: .coldWater, address: water, sequence: 1, open: true)
        #expect(interpret(Self.waterReply, valve) == .failure(.wrongFunction(expected: 0x04, received: 0x01)))
        // Another DI: 90 2F in place of 90 1F (own vector, checksum recomputed: 0x4B + 0x10).
        var otherIdentifier = Self.waterReply
        otherIdentifier[11] = 0x2F
        otherIdentifier[otherIdentifier.count - 2] = 0x5B
        #expect(interpret(otherIdentifier, try CJT188Frame.readCurrentData(type: .coldWater, address: water, sequence: 1))
            == .failure(.wrongIdentifier(expected: 0x901F, received: 0x902F, bytes: 2)))
        // The wildcard accepts any meter.
        let wildcard = try CJT188Frame.readCurrentData(type: .wildcard, address: .cjt188Wildcard, sequence: 1)
        guard case .success(.currentData) = interpret(Self.waterReply, wildcard) else {
            Issue.record("wildcard request refused the reply")
            return
        }
        // A heat meter's reply of water length is refused.
        let shortHeat = try #require(CJT188Frame(meterType: .heat, address: heatMeter, control: 0x81, data: Array(Self.waterReply[11..<33])))
        #expect(interpret(shortHeat.encoded(), try CJT188Frame.readCurrentData(type: .heat, address: heatMeter, sequence: 1))
            == .failure(.dataLength(expected: 46, received: 22)))
    }

    @Test func valveReplyAndAbnormalReply() throws {
        let request = try CJT188Frame.valveControl(type: .coldWater, address: water, sequence: 2, open: false)
        let written = try #require(CJT188Frame(meterType: .coldWater, address: water, control: 0x84, data: [0x17, 0xA0, 0x02, 0x01, 0x00]))
        #expect(interpret(written.encoded(), request) == .success(.written(status: 1)))
        // Own vector: abnormal reply C1, SER 01, status 03 00.
        let abnormal = hexBytes("68 10 78 56 34 12 00 00 00 C1 03 01 03 00 54 16")
        let read = try CJT188Frame.readCurrentData(type: .coldWater, address: water, sequence: 1)
        #expect(interpret(abnormal, read) == .success(.abnormal(status: 3)))
    }

    @Test func decoderFindsFramesBetweenNoise() throws {
        let stream: [UInt8] = [0x68, 0x05, 0x00, 0xFE, 0xFE, 0xFE] + Self.waterReply + [0x00, 0x16, 0xFE] + Self.heatReply
        let whole = MetersScannerTests.scan(stream, shape: .cjt188)
        #expect(whole.events == [.frame(Self.waterReply, offset: 6), .frame(Self.heatReply, offset: 6 + Self.waterReply.count + 3)])
        #expect(MetersScannerTests.scan(stream, shape: .cjt188, chunks: [1]).events == whole.events)
        var decoder = CJT188Decoder()
        decoder.append(stream)
        #expect(decoder.next() == CJT188Frame(raw: Self.waterReply).map { .frame($0) })
        #expect(decoder.next() == CJT188Frame(raw: Self.heatReply).map { .frame($0) })
        #expect(decoder.next() == nil)
        var broken = Self.waterReply
        broken[14] ^= 0x01
        #expect(MetersScannerTests.scan(broken + Self.heatReply, shape: .cjt188).events
            == [.problem(.checksum(expected: 0x4A, received: 0x4B)), .frame(Self.heatReply, offset: broken.count)])
    }
}
