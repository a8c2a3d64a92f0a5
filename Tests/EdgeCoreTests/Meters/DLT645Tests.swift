import Testing

@testable import EdgeCore

/// Bytes written as in docs/meter-protocols.md ("68 12 90 ...").
func hexBytes(_ text: String) -> [UInt8] {
    text.split(separator: " ").map { UInt8($0, radix: 16) ?? 0xEE }
}

/// DL/T 645 frames, requests and reply checks against docs/meter-protocols.md's checked vectors (meter 123456789012) and
/// vectors of our own (marked: computed from the frame rules, +0x33 and the byte sum worked out by hand and
/// checked with a short script; not from a peer).
struct MetersDLT645Tests {
    let meter = MeterAddress(bytes: [0x12, 0x90, 0x78, 0x56, 0x34, 0x12])

    func frame(_ text: String) -> DLT645Frame? { DLT645Frame(raw: hexBytes(text)) }

    // MARK: Addresses

    @Test func addressTextBecomesWireBytesLeastSignificantFirst() throws {
        #expect(try MeterAddress(text: "123456789012", length: 6) == meter)
        #expect(try MeterAddress(text: "123456789012", length: 6).text == "123456789012")
        #expect(try MeterAddress(text: "AAAAAAAAAAAA", length: 6) == .dlt645Wildcard)
        #expect(try MeterAddress(text: "aaaaaaaaaaaa", length: 6).isWildcard)
        #expect(try MeterAddress(text: "999999999999", length: 6) == .dlt645Broadcast)
        #expect(MeterAddress.dlt645Broadcast.isBroadcast)
        // A shortened address padded with AA.
        #expect(try MeterAddress(text: "AAAA12345678", length: 6).bytes == [0x78, 0x56, 0x34, 0x12, 0xAA, 0xAA])
        #expect(try MeterAddress(text: "12345678901234", length: 7).bytes == [0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12])
    }

    @Test func malformedAddressesAreRefusedPrecisely() {
        let cases: [(String, String)] = [
            ("12345", "meter address '12345': 5 characters, a DL/T 645 address has 12 digits"),
            ("1234567890123", "meter address '1234567890123': 13 characters, a DL/T 645 address has 12 digits"),
            ("12345678901x", "meter address '12345678901x': character 12 is not a digit 0-9 (or A of a padding byte AA)"),
            (" 23456789012", "meter address ' 23456789012': character 1 is not a digit 0-9 (or A of a padding byte AA)"),
            ("1A3456789012", "meter address '1A3456789012': characters 1-2 mix a digit and A (a byte is two digits or AA)"),
            ("", "meter address '': 0 characters, a DL/T 645 address has 12 digits"),
        ]
        for (text, message) in cases {
            #expect(throws: Failure.self) { try MeterAddress(text: text, length: 6) }
            do throws(Failure) {
                _ = try MeterAddress(text: text, length: 6)
            } catch {
                #expect(error.kind == .value)
                #expect(error.message == message)
            }
        }
    }

    // MARK: docs/meter-protocols.md's checked vectors

    @Test func readAddressRequestIsTheCheckedVector() {
        #expect(DLT645Frame.readAddress().encoded() == hexBytes("68 AA AA AA AA AA AA 68 13 00 DF 16"))
    }

    @Test func readRequestsAreTheCheckedVectors() throws {
        #expect(try DLT645Frame.read(.v2007, address: meter, identifier: 0x0000_0000).encoded()
            == hexBytes("68 12 90 78 56 34 12 68 11 04 33 33 33 33 67 16"))
        #expect(try DLT645Frame.read(.v2007, address: meter, identifier: 0x0201_0100).encoded()
            == hexBytes("68 12 90 78 56 34 12 68 11 04 33 34 34 35 6B 16"))
    }

    @Test func preambleIsConfigurableZeroToFour() throws {
        let read = try DLT645Frame.read(.v2007, address: meter, identifier: 0)
        let bare = hexBytes("68 12 90 78 56 34 12 68 11 04 33 33 33 33 67 16")
        #expect(read.encoded(preamble: 4) == [0xFE, 0xFE, 0xFE, 0xFE] + bare)
        #expect(read.encoded(preamble: 2) == [0xFE, 0xFE] + bare)
        #expect(read.encoded(preamble: 9) == [0xFE, 0xFE, 0xFE, 0xFE] + bare)
        #expect(read.encoded(preamble: -1) == bare)
    }

    @Test func energyReplyDecodesTo123456_78kWh() throws {
        let reply = try #require(frame("68 12 90 78 56 34 12 68 91 08 33 33 33 33 AB 89 67 45 CB 16"))
        #expect(reply.address == meter)
        #expect(reply.control == 0x91 && reply.isReply && !reply.isAbnormal && !reply.moreFollows)
        #expect(reply.data == [0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12])
        #expect(reply.encoded() == hexBytes("68 12 90 78 56 34 12 68 91 08 33 33 33 33 AB 89 67 45 CB 16"))
        let request = try DLT645Frame.read(.v2007, address: meter, identifier: 0)
        let answer = try DLT645Reply.interpret(reply, request: request, version: .v2007)
        #expect(answer == .data([0x78, 0x56, 0x34, 0x12], moreFollows: false))
        let entry = try #require(DLT645Catalogue.entry(identifier: 0, version: .v2007))
        #expect(try entry.format.decode([0x78, 0x56, 0x34, 0x12]) == 123_456.78)
        #expect(entry.format.unit == "kWh")
    }

    @Test func abnormalReplyCarriesNoRequestedData() throws {
        let reply = try #require(frame("68 12 90 78 56 34 12 68 D1 01 35 8D 16"))
        #expect(reply.isAbnormal && reply.function == 0x11)
        let request = try DLT645Frame.read(.v2007, address: meter, identifier: 0x0201_0100)
        let answer = try DLT645Reply.interpret(reply, request: request, version: .v2007)
        #expect(answer == .abnormal(.noRequestedData))
        #expect(DLT645ErrorFlags.noRequestedData.names(.v2007).map { Message.string($0) } == ["no_requested_data"])
        let all = DLT645ErrorFlags(rawValue: 0x7F).names(.v2007).map { Message.string($0) }
        #expect(all == ["other_error", "no_requested_data", "unauthorised", "baud_rate_fixed", "too_many_year_zones",
                        "too_many_daily_periods", "too_many_tariffs"])
        #expect(DLT645ErrorFlags(rawValue: 0x06).names(.v1997).map { Message.string($0) } == ["wrong_identifier", "wrong_password"])
        // DL/T 645-1997 names bits 4 and 5 as 2007 does and reserves bit 3 (docs/meters-sources.md: two open
        // 1997 drivers agree).
        #expect(DLT645ErrorFlags(rawValue: 0x7F).names(.v1997).map { Message.string($0) }
            == ["illegal_data", "wrong_identifier", "wrong_password", "bit3", "too_many_year_zones",
                "too_many_daily_periods", "too_many_tariffs"])
    }

    // MARK: Our own vectors (computed from the frame rules, see the suite's comment)

    @Test func ownRequestVectors() throws {
        // 1997 read of 90 10 (C 0x01, DI 10 90 + 0x33 = 43 C3).
        #expect(try DLT645Frame.read(.v1997, address: meter, identifier: 0x9010).encoded()
            == hexBytes("68 12 90 78 56 34 12 68 01 02 43 C3 8F 16"))
        // 2007 follow-up of 00 01 00 00, frame 1 (C 0x12, DI + SEQ).
        #expect(try DLT645Frame.readFollowUp(.v2007, address: meter, identifier: 0x0001_0000, sequence: 1).encoded()
            == hexBytes("68 12 90 78 56 34 12 68 12 05 33 33 34 33 34 9E 16"))
        // 1997 follow-up: C 0x02, DI only.
        #expect(try DLT645Frame.readFollowUp(.v1997, address: meter, identifier: 0x9010, sequence: 1).data == [0x10, 0x90])
        // Time sync 2026-12-02 07:30:00 to 999999999999, data ss mm hh DD MM YY.
        #expect(try DLT645Frame.timeSync(year: 26, month: 12, day: 2, hour: 7, minute: 30, second: 0).encoded()
            == hexBytes("68 99 99 99 99 99 99 68 08 06 33 63 3A 35 45 59 17 16"))
    }

    @Test func requestArgumentsOutOfRangeAreFailures() {
        #expect(throws: Failure.self) { try DLT645Frame.read(.v1997, address: meter, identifier: 0x0001_0000) }
        #expect(throws: Failure.self) { try DLT645Frame.timeSync(year: 26, month: 13, day: 2, hour: 7, minute: 30, second: 0) }
        #expect(throws: Failure.self) { try DLT645Frame.timeSync(year: 100, month: 12, day: 2, hour: 7, minute: 30, second: 0) }
        #expect(throws: Failure.self) { try DLT645Frame.timeSync(year: 26, month: 12, day: 2, hour: 24, minute: 0, second: 0) }
        #expect(throws: Failure.self) {
            try DLT645Frame.read(.v2007, address: MeterAddress(bytes: [1, 2, 3, 4, 5, 6, 7]), identifier: 0)
        }
        do throws(Failure) {
            _ = try DLT645Frame.timeSync(year: 26, month: 12, day: 0, hour: 7, minute: 30, second: 0)
        } catch {
            #expect(error.message == "time sync: day 0 outside 1..31")
        }
    }

    @Test func signedCurrentReply() throws {
        // Own vector: current of phase A (02 02 01 00) = -1.234 A: 34 12 80 (sign bit in the last byte).
        let reply = try #require(frame("68 12 90 78 56 34 12 68 91 07 33 34 35 35 67 45 B3 4E 16"))
        let request = try DLT645Frame.read(.v2007, address: meter, identifier: 0x0202_0100)
        guard case .data(let value, false) = try DLT645Reply.interpret(reply, request: request, version: .v2007) else {
            Issue.record("not a data reply")
            return
        }
        let entry = try #require(DLT645Catalogue.entry(named: "current_a", version: .v2007))
        #expect(try entry.format.decode(value) == -1.234)
    }

    @Test func readAddressReplyGivesTheAddress() throws {
        // Own vector: the reply 0x93 from the meter with its address as data.
        let reply = try #require(frame("68 12 90 78 56 34 12 68 93 06 45 C3 AB 89 67 45 07 16"))
        #expect(try DLT645Reply.interpret(reply, request: .readAddress(), version: .v2007) == .address(meter))
        // A reply whose data names another address than its address field.
        let other = try MeterAddress(text: "000000000001", length: 6)
        let mixed = try #require(DLT645Frame(address: meter, control: 0x93, data: other.bytes))
        #expect(interpret(mixed, .readAddress()) == .failure(.wrongAddress(expected: meter, received: other)))
    }

    // MARK: Reply checks

    func reply(_ control: UInt8, _ data: [UInt8], from address: MeterAddress? = nil) -> DLT645Frame? {
        DLT645Frame(address: address ?? meter, control: control, data: data)
    }

    func interpret(_ reply: DLT645Frame?, _ request: DLT645Frame, _ version: DLT645Version = .v2007) -> Result<DLT645Reply, MeterReplyError> {
        guard let reply else { return .failure(.dataLength(expected: -1, received: -1)) }
        do throws(MeterReplyError) {
            return .success(try DLT645Reply.interpret(reply, request: request, version: version))
        } catch {
            return .failure(error)
        }
    }

    @Test func repliesThatDoNotAnswerTheRequestAreErrors() throws {
        let request = try DLT645Frame.read(.v2007, address: meter, identifier: 0x0201_0100)
        let other = try MeterAddress(text: "000000000001", length: 6)
        #expect(interpret(reply(0x91, [0, 2, 1, 2, 0x20, 0x22]), request)
            == .failure(.wrongIdentifier(expected: 0x0201_0100, received: 0x0201_0200, bytes: 4)))
        #expect(MeterReplyError.wrongIdentifier(expected: 0x0201_0100, received: 0x0201_0200, bytes: 4).failure.message
            == "reply for identifier 0x02010200, requested 0x02010100")
        #expect(interpret(reply(0x91, [0, 1, 1, 2, 0x20, 0x22], from: other), request)
            == .failure(.wrongAddress(expected: meter, received: other)))
        #expect(MeterReplyError.wrongAddress(expected: meter, received: other).failure.message
            == "reply from meter 000000000001, requested 123456789012")
        #expect(interpret(reply(0x11, [0, 1, 1, 2]), request) == .failure(.notAReply(control: 0x11)))
        #expect(interpret(reply(0x92, [0, 1, 1, 2, 0x20, 0x22, 1]), request) == .failure(.wrongFunction(expected: 0x11, received: 0x12)))
        #expect(interpret(reply(0x91, [0, 1, 1]), request) == .failure(.dataLength(expected: 4, received: 3)))
        #expect(interpret(reply(0xD1, [2, 0]), request) == .failure(.dataLength(expected: 1, received: 2)))
        #expect(interpret(reply(0x91, [0, 1, 1, 2, 0x20, 0x22]), request) == .success(.data([0x20, 0x22], moreFollows: false)))
        #expect(interpret(reply(0xB1, [0, 1, 1, 2, 0x20, 0x22]), request) == .success(.data([0x20, 0x22], moreFollows: true)))
        // A request to the wildcard accepts the reply of any address.
        let wildcard = try DLT645Frame.read(.v2007, address: .dlt645Wildcard, identifier: 0x0201_0100)
        #expect(interpret(reply(0x91, [0, 1, 1, 2, 0x20, 0x22], from: other), wildcard) == .success(.data([0x20, 0x22], moreFollows: false)))
    }

    @Test func followUpRepliesCheckTheirSequence() throws {
        let request = try DLT645Frame.readFollowUp(.v2007, address: meter, identifier: 0x0001_0000, sequence: 2)
        #expect(interpret(reply(0x92, [0, 0, 1, 0, 0x11, 0x22, 2]), request) == .success(.data([0x11, 0x22], moreFollows: false)))
        #expect(interpret(reply(0xB2, [0, 0, 1, 0, 0x11, 2]), request) == .success(.data([0x11], moreFollows: true)))
        #expect(interpret(reply(0x92, [0, 0, 1, 0, 0x11, 0x22, 1]), request) == .failure(.wrongSequence(expected: 2, received: 1)))
        #expect(interpret(reply(0x92, [0, 0, 1, 0]), request) == .failure(.dataLength(expected: 5, received: 4)))
    }

    @Test func dlt1997RepliesUseTwoByteIdentifiers() throws {
        let request = try DLT645Frame.read(.v1997, address: meter, identifier: 0xB611)
        #expect(interpret(reply(0x81, [0x11, 0xB6, 0x20, 0x02]), request, .v1997) == .success(.data([0x20, 0x02], moreFollows: false)))
        #expect(interpret(reply(0x81, [0x12, 0xB6, 0x20, 0x02]), request, .v1997)
            == .failure(.wrongIdentifier(expected: 0xB611, received: 0xB612, bytes: 2)))
        #expect(interpret(reply(0xC1, [0x02]), request, .v1997) == .success(.abnormal(DLT645ErrorFlags(rawValue: 2))))
    }
}
