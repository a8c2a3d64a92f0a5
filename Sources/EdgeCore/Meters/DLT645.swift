/// DL/T 645 editions: 2007 (4-byte data identifiers) and 1997 (2-byte identifiers, other function codes).
enum DLT645Version: Equatable {
    case v2007
    case v1997

    /// Bytes of a data identifier.
    var identifierLength: Int { self == .v2007 ? 4 : 2 }
    /// Function code of a read / of a read of the follow-up frame.
    var readFunction: UInt8 { self == .v2007 ? 0x11 : 0x01 }
    var followUpFunction: UInt8 { self == .v2007 ? 0x12 : 0x02 }
}

/// One DL/T 645 frame, its data as meant (the wire carries each data byte +0x33):
///
///     [FE x preamble] 68 A0..A5 68 C L DATA CS 16
struct DLT645Frame: MeterFrame {
    static let shape = MeterFrameShape.dlt645
    static let readAddressFunction: UInt8 = 0x13
    static let timeSyncFunction: UInt8 = 0x08

    let address: MeterAddress
    let control: UInt8
    let data: [UInt8]

    /// nil for an address that is not 6 bytes or data longer than 200 bytes (the standard's limit).
    init?(address: MeterAddress, control: UInt8, data: [UInt8]) {
        guard address.bytes.count == 6, data.count <= MeterFrameShape.dlt645.maxDataLength else { return nil }
        self.address = address
        self.control = control
        self.data = data
    }

    /// The frame in `raw` (68 to 16, as MeterFrameScanner(shape: .dlt645) yields it); nil if it is not one
    /// (checked: both 0x68, length, checksum, end byte).
    init?(raw: [UInt8]) {
        guard raw.count >= 12, raw[0] == 0x68, raw[7] == 0x68, Int(raw[9]) + 12 == raw.count,
              raw[raw.count - 1] == 0x16, meterChecksum(raw[0..<raw.count - 2]) == raw[raw.count - 2]
        else { return nil }
        self.init(address: MeterAddress(bytes: Array(raw[1...6])), control: raw[8],
                  data: raw[10..<raw.count - 2].map { $0 &- 0x33 })
    }

    /// Bit 7: the frame comes from a meter.
    var isReply: Bool { control & 0x80 != 0 }
    /// Bit 6: an abnormal reply (its data is the error byte).
    var isAbnormal: Bool { control & 0x40 != 0 }
    /// Bit 5: more frames follow (read them with the follow-up function).
    var moreFollows: Bool { control & 0x20 != 0 }
    /// Bits 4-0.
    var function: UInt8 { control & 0x1F }

    /// The bytes to send: `preamble` FE bytes (clamped to 0...4), the frame, data +0x33, checksum, 0x16.
    func encoded(preamble: Int = 0) -> [UInt8] {
        let wakeUp = preamble < 0 ? 0 : min(preamble, 4)
        var bytes = [UInt8](repeating: 0xFE, count: wakeUp)
        bytes.reserveCapacity(wakeUp + 12 + data.count)
        bytes.append(0x68)
        bytes.append(contentsOf: address.bytes)
        bytes.append(0x68)
        bytes.append(control)
        bytes.append(UInt8(data.count))
        for byte in data { bytes.append(byte &+ 0x33) }
        bytes.append(meterChecksum(bytes[wakeUp...]))
        bytes.append(0x16)
        return bytes
    }

    // MARK: Requests

    /// Read one data identifier (2007: C 0x11, DI 4 bytes; 1997: C 0x01, DI 2 bytes; sent DI0 first).
    /// A 1997 identifier above 0xFFFF is a Failure(.value).
    static func read(_ version: DLT645Version, address: MeterAddress, identifier: UInt32) throws(Failure) -> DLT645Frame {
        try request(address: address, function: version.readFunction, data: identifierBytes(version, identifier))
    }

    /// Read the follow-up frame of a reply that had the more-follows bit (2007: C 0x12, DI and the frame
    /// sequence number, 1 for the first follow-up; 1997: C 0x02, DI only, `sequence` is not sent).
    static func readFollowUp(_ version: DLT645Version, address: MeterAddress, identifier: UInt32,
                             sequence: UInt8) throws(Failure) -> DLT645Frame {
        var data = try identifierBytes(version, identifier)
        if version == .v2007 { data.append(sequence) }
        return try request(address: address, function: version.followUpFunction, data: data)
    }

    /// Read the address of the one meter on the line (2007: C 0x13 to AAAAAAAAAAAA; 1997 has no such function).
    static func readAddress() -> DLT645Frame {
        DLT645Frame(unchecked: .dlt645Wildcard, control: readAddressFunction, data: [])
    }

    /// Broadcast time sync (C 0x08 to 999999999999, no reply), data YYMMDDhhmmss sent ss first. Fields out
    /// of range (year 0...99, month 1...12, day 1...31, hour 0...23, minute and second 0...59) are a
    /// Failure(.value).
    static func timeSync(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) throws(Failure) -> DLT645Frame {
        let fields: [(Int, ClosedRange<Int>, StaticString)] = [
            (second, 0...59, "second"), (minute, 0...59, "minute"), (hour, 0...23, "hour"),
            (day, 1...31, "day"), (month, 1...12, "month"), (year, 0...99, "year"),
        ]
        var data: [UInt8] = []
        for (value, range, name) in fields {
            guard range.contains(value) else {
                throw Failure(.value, "time sync: \(name) \(value) outside \(range.lowerBound)..\(range.upperBound)")
            }
            data.append(bcdByte(value))
        }
        return DLT645Frame(unchecked: .dlt645Broadcast, control: timeSyncFunction, data: data)
    }

    private init(unchecked address: MeterAddress, control: UInt8, data: [UInt8]) {
        self.address = address
        self.control = control
        self.data = data
    }

    private static func request(address: MeterAddress, function: UInt8, data: [UInt8]) throws(Failure) -> DLT645Frame {
        guard address.bytes.count == 6 else {
            throw Failure(.value, "meter address \(address.text): a DL/T 645 address has 6 bytes")
        }
        return DLT645Frame(unchecked: address, control: function, data: data)
    }

    private static func identifierBytes(_ version: DLT645Version, _ identifier: UInt32) throws(Failure) -> [UInt8] {
        guard version == .v2007 || identifier <= 0xFFFF else {
            throw Failure(.value, "identifier \(hexIdentifier(identifier, bytes: 4)): DL/T 645-1997 identifiers have 2 bytes")
        }
        return (0..<version.identifierLength).map { UInt8(truncatingIfNeeded: identifier >> UInt32(8 * $0)) }
    }

    /// The data identifier at the start of the data (DI0 first), if the data holds one.
    func identifier(_ version: DLT645Version) -> UInt32? {
        guard data.count >= version.identifierLength else { return nil }
        var value: UInt32 = 0
        for index in 0..<version.identifierLength { value |= UInt32(data[index]) << UInt32(8 * index) }
        return value
    }
}

/// The error byte of an abnormal reply (C 0xD1 / 0xC1 ...), bit by bit. The names are those of DL/T 645-2007;
/// 1997 uses bit 0 for illegal data, bit 1 for a wrong identifier, bit 2 for a wrong password, bits 4, 5 and 6
/// as 2007 (year zones, daily periods, tariffs) and reserves bit 3 (`names(_:)`; docs/meters-sources.md).
struct DLT645ErrorFlags: OptionSet, Equatable {
    let rawValue: UInt8

    static let otherError = DLT645ErrorFlags(rawValue: 0x01)
    static let noRequestedData = DLT645ErrorFlags(rawValue: 0x02)
    static let unauthorised = DLT645ErrorFlags(rawValue: 0x04)
    static let baudRateFixed = DLT645ErrorFlags(rawValue: 0x08)
    static let tooManyYearZones = DLT645ErrorFlags(rawValue: 0x10)
    static let tooManyDailyPeriods = DLT645ErrorFlags(rawValue: 0x20)
    static let tooManyTariffs = DLT645ErrorFlags(rawValue: 0x40)

    /// The set bits' names, lowest bit first ("bit7" for the reserved bit; 1997's own names for 1997).
    func names(_ version: DLT645Version) -> [StaticString] {
        let names2007: [StaticString] = ["other_error", "no_requested_data", "unauthorised", "baud_rate_fixed",
                                         "too_many_year_zones", "too_many_daily_periods", "too_many_tariffs", "bit7"]
        let names1997: [StaticString] = ["illegal_data", "wrong_identifier", "wrong_password", "bit3",
                                         "too_many_year_zones", "too_many_daily_periods", "too_many_tariffs",
                                         "bit7"]
        let table = version == .v2007 ? names2007 : names1997
        return (0..<8).filter { rawValue & (1 << $0) != 0 }.map { table[$0] }
    }
}

/// What a meter's reply to a request means.
enum DLT645Reply: Equatable {
    /// A read's value bytes (after the identifier; for a 2007 follow-up, before the sequence byte);
    /// `moreFollows`: read the next frame with DLT645Frame.readFollowUp.
    case data([UInt8], moreFollows: Bool)
    /// The meter's address (reply to read address).
    case address(MeterAddress)
    /// An abnormal reply and its error byte.
    case abnormal(DLT645ErrorFlags)

    /// Whether `reply` answers `request` and what it says. Checked: direction bit, function, address (any
    /// when the request went to the wildcard), the identifier a read reply echoes, the follow-up sequence,
    /// data lengths. An abnormal reply with its one error byte is an answer, not an error.
    static func interpret(_ reply: DLT645Frame, request: DLT645Frame, version: DLT645Version) throws(MeterReplyError) -> DLT645Reply {
        guard reply.isReply else { throw .notAReply(control: reply.control) }
        guard reply.function == request.function else {
            throw .wrongFunction(expected: request.function, received: reply.function)
        }
        guard request.address.isWildcard || reply.address == request.address else {
            throw .wrongAddress(expected: request.address, received: reply.address)
        }
        if reply.isAbnormal {
            guard reply.data.count == 1 else { throw .dataLength(expected: 1, received: reply.data.count) }
            return .abnormal(DLT645ErrorFlags(rawValue: reply.data[0]))
        }
        if request.function == DLT645Frame.readAddressFunction {
            guard reply.data.count == 6 else { throw .dataLength(expected: 6, received: reply.data.count) }
            // The address is in the frame's address field and again in its data: both must agree.
            let announced = MeterAddress(bytes: reply.data)
            guard announced == reply.address else { throw .wrongAddress(expected: reply.address, received: announced) }
            return .address(announced)
        }
        let width = version.identifierLength
        let followUp2007 = version == .v2007 && request.function == version.followUpFunction
        let minimum = width + (followUp2007 ? 1 : 0)
        guard reply.data.count >= minimum else { throw .dataLength(expected: minimum, received: reply.data.count) }
        if let expected = request.identifier(version), let received = reply.identifier(version), expected != received {
            throw .wrongIdentifier(expected: expected, received: received, bytes: width)
        }
        var end = reply.data.count
        if followUp2007, let sent = request.data.last {
            end -= 1
            guard reply.data[end] == sent else { throw .wrongSequence(expected: sent, received: reply.data[end]) }
        }
        return .data(Array(reply.data[width..<end]), moreFollows: reply.moreFollows)
    }
}
