import CShim

// What DL/T 645 and CJ/T 188 share: BCD numbers sent least significant byte first, BCD meter addresses,
// the byte-sum checksum, and the precise errors of a value or a reply. Pure functions; nothing here traps
// on what a meter sends.

/// Sum mod 256 of the bytes (the checksum of both protocols: every byte from the first 0x68 to the end of
/// the data).
func meterChecksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt8 where Bytes.Element == UInt8 {
    var sum: UInt8 = 0
    for byte in bytes { sum &+= byte }
    return sum
}

/// Two BCD digits of 0...99.
func bcdByte(_ value: Int) -> UInt8 {
    let clamped = value < 0 ? 0 : value % 100
    return UInt8((clamped / 10) << 4 | clamped % 10)
}

/// The powers of ten a value format may use (decimals 0...8), exact as Double.
private let powersOfTen: [Double] = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]

/// Why a value could not be read from a reply's bytes (the reading's status: `status`).
enum MeterValueError: Error, Equatable {
    /// The reply holds `received` bytes where the value needs `expected`.
    case length(expected: Int, received: Int)
    /// Byte `index` (0 = the first on the wire) holds a nibble above 9.
    case invalidDigit(index: Int, byte: UInt8)
    /// Every byte is 0xFF: the meter's "no value" (common for an item it keeps but has not filled).
    case notAvailable
    /// A CJ/T 188 unit code outside the table (CJT188Unit).
    case unknownUnit(UInt8)
    /// The reply's layout (a CJ/T 188 water/gas or heat reply) has no such field.
    case notInReply

    /// The reading status for it: "no value" as EDGECORE_STATUS_SENTINEL, the rest as a malformed
    /// answer (EDGECORE_STATUS_CRC_ERROR).
    var status: UInt16 {
        self == .notAvailable ? UInt16(EDGECORE_STATUS_SENTINEL.rawValue) : UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue)
    }

    var message: Message {
        switch self {
        case .length(let expected, let received): return "value of \(expected) bytes, reply holds \(received)"
        case .invalidDigit(let index, let byte): return "byte \(index) (0x\(hexByte(byte))) is not BCD"
        case .notAvailable: return "the meter has no value (all bytes 0xFF)"
        case .unknownUnit(let code): return "unit code 0x\(hexByte(code)) is not in the CJ/T 188 table"
        case .notInReply: return "the reply has no such field"
        }
    }
}

/// Two upper-case hex digits (for messages).
func hexByte(_ byte: UInt8) -> String {
    let digits: StaticString = "0123456789ABCDEF"
    let start = digits.utf8Start
    return String(decoding: [start[Int(byte >> 4)], start[Int(byte & 15)]], as: UTF8.self)
}

/// An identifier as 0x-prefixed hex of `bytes` bytes (for messages: 0x02010100, 0x901F).
func hexIdentifier(_ value: UInt32, bytes: Int) -> String {
    var text = "0x"
    var index = bytes
    while index > 0 {
        index -= 1
        text += hexByte(UInt8(truncatingIfNeeded: value >> UInt32(8 * index)))
    }
    return text
}

/// How a value is carried in a reply: `length` bytes, least significant first.
enum MeterValueKind: Equatable {
    /// BCD digits; `decimals` of them after the decimal point; with `signed`, the top bit of the most
    /// significant (last) byte is the sign and the rest is BCD.
    case bcd
    /// An unsigned binary integer (status words: each bit means something of its own).
    case binary
}

/// The format of one value: what the DL/T 645 catalogue holds per identifier, or what a channel gives for
/// an identifier outside it.
struct MeterValueFormat: Equatable {
    var length: Int
    var decimals: Int
    var signed: Bool
    var kind: MeterValueKind
    var unit: String

    static func == (a: MeterValueFormat, b: MeterValueFormat) -> Bool {
        a.length == b.length && a.decimals == b.decimals && a.signed == b.signed && a.kind == b.kind
            && sameText(a.unit, b.unit)
    }

    /// A format given by a channel for an identifier outside the catalogue: length 1...8 bytes, decimals
    /// 0...8 and, for BCD, fewer decimals than digits.
    static func custom(length: Int, decimals: Int, signed: Bool, unit: String,
                       kind: MeterValueKind = .bcd) throws(Failure) -> MeterValueFormat {
        guard length >= 1, length <= 8 else { throw Failure(.value, "value length \(length): must be 1..8 bytes") }
        guard decimals >= 0, decimals <= 8, decimals < 2 * length else {
            throw Failure(.value, "decimals \(decimals): must be 0..8 and fewer than the \(2 * length) digits")
        }
        guard kind == .bcd || !signed else { throw Failure(.value, "a binary value has no sign bit") }
        return MeterValueFormat(length: length, decimals: decimals, signed: signed, kind: kind, unit: unit)
    }

    /// The value of exactly `length` bytes (least significant first). Never traps.
    func decode<Bytes: Collection>(_ bytes: Bytes) throws(MeterValueError) -> Double where Bytes.Element == UInt8 {
        guard bytes.count == length, length >= 1, length <= 8 else {
            throw .length(expected: length, received: bytes.count)
        }
        if kind == .binary {
            var raw: UInt64 = 0
            var shift: UInt64 = 0
            for byte in bytes {
                raw |= UInt64(byte) &<< shift
                shift += 8
            }
            return Double(raw)
        }
        if bytes.allSatisfy({ $0 == 0xFF }) { throw .notAvailable }
        var magnitude: UInt64 = 0
        var negative = false
        var index = length
        for byte in bytes.reversed() {  // most significant first
            index -= 1
            var digits = byte
            if signed, index == length - 1 {
                negative = digits & 0x80 != 0
                digits &= 0x7F
            }
            guard digits >> 4 <= 9, digits & 15 <= 9 else { throw .invalidDigit(index: index, byte: byte) }
            magnitude = magnitude * 100 + UInt64(digits >> 4) * 10 + UInt64(digits & 15)
        }
        let value = Double(magnitude) / powersOfTen[decimals < 0 || decimals > 8 ? 0 : decimals]
        return negative ? -value : value
    }
}

/// A meter's address: 6 BCD bytes (DL/T 645, 12 digits) or 7 (CJ/T 188, 14 digits), least significant byte
/// first as on the wire. A byte may also be 0xAA (the wildcard, or the padding of a shortened address).
struct MeterAddress: Equatable {
    /// The wire bytes, least significant first.
    let bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// DL/T 645: the one meter on the line, whatever its address (read address).
    static let dlt645Wildcard = MeterAddress(bytes: [UInt8](repeating: 0xAA, count: 6))
    /// DL/T 645: every meter (time sync); meters do not answer it.
    static let dlt645Broadcast = MeterAddress(bytes: [UInt8](repeating: 0x99, count: 6))
    /// CJ/T 188: the one meter on the line.
    static let cjt188Wildcard = MeterAddress(bytes: [UInt8](repeating: 0xAA, count: 7))

    var isWildcard: Bool { bytes.allSatisfy { $0 == 0xAA } }
    var isBroadcast: Bool { bytes.allSatisfy { $0 == 0x99 } }

    /// An address as written on the meter, most significant digit first: `2 * length` characters, each pair
    /// two digits 0-9 or "AA" (either case; a shortened address is padded with AA, the wildcard is all A).
    /// Anything else is a Failure(.value) that says which character is wrong.
    init(text: String, length: Int) throws(Failure) {
        let characters = Array(text.utf8)
        let protocolName: StaticString = length == 6 ? "DL/T 645" : "CJ/T 188"
        guard characters.count == 2 * length else {
            throw Failure(.value, "meter address '\(text)': \(characters.count) characters, a \(protocolName) address has \(2 * length) digits")
        }
        let isA = { (c: UInt8) in c == UInt8(ascii: "A") || c == UInt8(ascii: "a") }
        let isDigit = { (c: UInt8) in c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        if let bad = characters.firstIndex(where: { !isDigit($0) && !isA($0) }) {
            throw Failure(.value, "meter address '\(text)': character \(bad + 1) is not a digit 0-9 (or A of a padding byte AA)")
        }
        var bytes = [UInt8](repeating: 0, count: length)
        for pair in 0..<length {
            let high = characters[2 * pair]
            let low = characters[2 * pair + 1]
            if isA(high) && isA(low) {
                bytes[length - 1 - pair] = 0xAA
            } else if isDigit(high) && isDigit(low) {
                bytes[length - 1 - pair] = (high - UInt8(ascii: "0")) << 4 | (low - UInt8(ascii: "0"))
            } else {
                throw Failure(.value, "meter address '\(text)': characters \(2 * pair + 1)-\(2 * pair + 2) mix a digit and A (a byte is two digits or AA)")
            }
        }
        self.bytes = bytes
    }

    /// The address as written on the meter (most significant first; 0xAA as "AA", other non-BCD bytes as hex).
    var text: String {
        var text = ""
        for byte in bytes.reversed() { text += hexByte(byte) }
        return text
    }
}

/// Why a reply is not the answer to its request (a malformed answer: Failure(.deviceFrame) through
/// `failure`). Abnormal replies are not errors: they are answers with the meter's error byte.
enum MeterReplyError: Error, Equatable {
    /// The direction bit of the control byte says the frame comes from a master, not a meter.
    case notAReply(control: UInt8)
    /// The reply answers another function (control byte bits 4-0 / CJ/T 188 control without bits 7-6).
    case wrongFunction(expected: UInt8, received: UInt8)
    case wrongAddress(expected: MeterAddress, received: MeterAddress)
    /// A reply for another data identifier than requested.
    case wrongIdentifier(expected: UInt32, received: UInt32, bytes: Int)
    /// A follow-up frame (DL/T 645) or sequence byte SER (CJ/T 188) other than the request's.
    case wrongSequence(expected: UInt8, received: UInt8)
    /// CJ/T 188: the reply's meter type byte differs from the request's.
    case wrongMeterType(expected: UInt8, received: UInt8)
    /// The reply's data has `received` bytes where this reply needs `expected` (at least, for DL/T 645 reads).
    case dataLength(expected: Int, received: Int)

    var failure: Failure { Failure(.deviceFrame, message) }

    var message: Message {
        switch self {
        case .notAReply(let control): return "frame with control 0x\(hexByte(control)) is not a reply (direction bit 0)"
        case .wrongFunction(let expected, let received):
            return "reply for function 0x\(hexByte(received)), requested 0x\(hexByte(expected))"
        case .wrongAddress(let expected, let received):
            return "reply from meter \(received.text), requested \(expected.text)"
        case .wrongIdentifier(let expected, let received, let bytes):
            return "reply for identifier \(hexIdentifier(received, bytes: bytes)), requested \(hexIdentifier(expected, bytes: bytes))"
        case .wrongSequence(let expected, let received):
            return "reply with sequence \(received), requested \(expected)"
        case .wrongMeterType(let expected, let received):
            return "reply from meter type 0x\(hexByte(received)), requested 0x\(hexByte(expected))"
        case .dataLength(let expected, let received):
            return "reply with \(received) data bytes, expected \(expected)"
        }
    }
}
