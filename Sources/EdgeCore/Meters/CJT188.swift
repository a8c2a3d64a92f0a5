/// The meter type byte T of CJ/T 188: 0x10-0x19 water (0x10 cold, 0x11 hot, 0x12 drinking, 0x13 reclaimed),
/// 0x20-0x29 heat (0x20 heat, 0x21 cooling), 0x30-0x39 gas, 0x40-0x49 other; 0xAA is the wildcard type of a
/// request to the one meter on the line. Any other byte is no meter type (the scanner treats a 0x68 before
/// it as noise).
struct CJT188MeterType: Equatable {
    enum Class: Equatable { case water, heat, gas, other, wildcard }

    let rawValue: UInt8

    init?(rawValue: UInt8) {
        guard rawValue == 0xAA || (rawValue >= 0x10 && rawValue <= 0x49 && rawValue & 0x0F <= 9) else { return nil }
        self.rawValue = rawValue
    }

    static let coldWater = CJT188MeterType(unchecked: 0x10)
    static let heat = CJT188MeterType(unchecked: 0x20)
    static let gas = CJT188MeterType(unchecked: 0x30)
    static let wildcard = CJT188MeterType(unchecked: 0xAA)

    private init(unchecked rawValue: UInt8) { self.rawValue = rawValue }

    var meterClass: Class {
        switch rawValue >> 4 {
        case 1: return .water
        case 2: return .heat
        case 3: return .gas
        case 4: return .other
        default: return .wildcard
        }
    }
}

/// How a device sends a 2-byte data identifier. The standard's order, and what most sources do, is DI0 first
/// (DI 901F as 1F 90); some meters and masters send the high byte first (90 1F, 81 0A, A0 17): see
/// docs/meters-sources.md. A meter echoes the request's bytes, so only the request depends on it.
enum CJT188IdentifierOrder: Equatable {
    case lowByteFirst, highByteFirst
}

/// One CJ/T 188 frame (2004 and 2018 editions frame alike; no +0x33 offset):
///
///     [FE ...] 68 T A0..A6 C L DATA CS 16      DATA = DI0 DI1 SER ... for requests and normal replies
struct CJT188Frame: MeterFrame {
    static let shape = MeterFrameShape.cjt188
    static let readFunction: UInt8 = 0x01
    static let writeFunction: UInt8 = 0x04
    /// DI 90 1F, current data (sent 1F 90).
    static let currentDataIdentifier: UInt16 = 0x901F
    /// DI A0 17, valve control (sent 17 A0).
    static let valveIdentifier: UInt16 = 0xA017

    let meterType: CJT188MeterType
    let address: MeterAddress
    let control: UInt8
    let data: [UInt8]

    /// nil for an address that is not 7 bytes or more than 255 data bytes.
    init?(meterType: CJT188MeterType, address: MeterAddress, control: UInt8, data: [UInt8]) {
        guard address.bytes.count == 7, data.count <= MeterFrameShape.cjt188.maxDataLength else { return nil }
        self.meterType = meterType
        self.address = address
        self.control = control
        self.data = data
    }

    /// The frame in `raw` (68 to 16, as MeterFrameScanner(shape: .cjt188) yields it); nil if it is not one.
    init?(raw: [UInt8]) {
        guard raw.count >= 13, raw[0] == 0x68, let type = CJT188MeterType(rawValue: raw[1]),
              Int(raw[10]) + 13 == raw.count, raw[raw.count - 1] == 0x16,
              meterChecksum(raw[0..<raw.count - 2]) == raw[raw.count - 2] else { return nil }
        self.init(meterType: type, address: MeterAddress(bytes: Array(raw[2...8])), control: raw[9],
                  data: Array(raw[11..<raw.count - 2]))
    }

    var isReply: Bool { control & 0x80 != 0 }
    /// Bit 6: an abnormal reply (C 0xC1 ...): its data is SER and the 2 status bytes.
    var isAbnormal: Bool { control & 0x40 != 0 }
    var function: UInt8 { control & 0x3F }

    /// DI (DI1 << 8 | DI0) of a request or normal reply, read low byte first (a frame sent high byte first
    /// reads byte-swapped: 0x1F90 for 90 1F).
    var identifier: UInt16? { data.count >= 2 ? UInt16(data[1]) << 8 | UInt16(data[0]) : nil }
    /// The sequence byte SER (after the DI; the first data byte of an abnormal reply).
    var sequence: UInt8? {
        if isAbnormal { return data.first }
        return data.count >= 3 ? data[2] : nil
    }

    /// The bytes to send: `preamble` FE bytes (clamped to 0...4), the frame, checksum, 0x16.
    func encoded(preamble: Int = 0) -> [UInt8] {
        let wakeUp = preamble < 0 ? 0 : min(preamble, 4)
        var bytes = [UInt8](repeating: 0xFE, count: wakeUp)
        bytes.reserveCapacity(wakeUp + 13 + data.count)
        bytes.append(0x68)
        bytes.append(meterType.rawValue)
        bytes.append(contentsOf: address.bytes)
        bytes.append(control)
        bytes.append(UInt8(data.count))
        bytes.append(contentsOf: data)
        bytes.append(meterChecksum(bytes[wakeUp...]))
        bytes.append(0x16)
        return bytes
    }

    // MARK: Requests

    /// Read the current data (C 0x01, L 3, DI 1F 90, SER; 90 1F with `.highByteFirst`).
    static func readCurrentData(type: CJT188MeterType, address: MeterAddress, sequence: UInt8,
                                order: CJT188IdentifierOrder = .lowByteFirst) throws(Failure) -> CJT188Frame {
        try request(type, address, readFunction, identifier: currentDataIdentifier, order: order, sequence: sequence,
                    payload: [])
    }

    /// Open or close the valve (C 0x04, L 4, DI 17 A0 (A0 17 with `.highByteFirst`), SER, 0x55 open / 0x99 close).
    static func valveControl(type: CJT188MeterType, address: MeterAddress, sequence: UInt8, open: Bool,
                             order: CJT188IdentifierOrder = .lowByteFirst) throws(Failure) -> CJT188Frame {
        try request(type, address, writeFunction, identifier: valveIdentifier, order: order, sequence: sequence,
                    payload: [open ? 0x55 : 0x99])
    }

    private static func request(_ type: CJT188MeterType, _ address: MeterAddress, _ function: UInt8, identifier: UInt16,
                                order: CJT188IdentifierOrder, sequence: UInt8, payload: [UInt8]) throws(Failure) -> CJT188Frame {
        let low = UInt8(identifier & 0xFF), high = UInt8(identifier >> 8)
        let data = (order == .lowByteFirst ? [low, high] : [high, low]) + [sequence] + payload
        guard let frame = CJT188Frame(meterType: type, address: address, control: function, data: data) else {
            throw Failure(.value, "meter address \(address.text): a CJ/T 188 address has 7 bytes")
        }
        return frame
    }
}

/// A CJ/T 188 unit code: its unit and the factor from the BCD number to that unit (0x0A is MWh x 100: the
/// number 1.5 means 150 MWh).
struct CJT188Unit: Equatable {
    let code: UInt8
    let unit: StaticString
    let scale: Double

    static func == (a: CJT188Unit, b: CJT188Unit) -> Bool { a.code == b.code }

    /// The unit of `code`, nil for a code outside the table (docs/meter-protocols.md's table, checked against two open
    /// implementations: docs/meters-sources.md; one vendor adds 0x36 for V, not taken).
    static func of(_ code: UInt8) -> CJT188Unit? { cjt188Units.first { $0.code == code } }

    /// A unit of the conversion table (energy, power, volume, flow).
    static func isKnown(_ unit: String) -> Bool { unitFactors.contains { sameText(Message.string($0.unit), unit) } }

    /// `value` in `from` expressed in `to`, when both are units of one quantity (energy: J kJ MJ GJ Wh kWh MWh;
    /// power: W kW MW; volume: L m3; flow: L/h m3/h); nil otherwise. The same unit converts to itself.
    static func convert(_ value: Double, from: String, to: String) -> Double? {
        if sameText(from, to) { return value }
        guard let source = unitFactors.first(where: { sameText(Message.string($0.unit), from) }),
              let target = unitFactors.first(where: { sameText(Message.string($0.unit), to) }),
              source.quantity == target.quantity else { return nil }
        return value * source.factor / target.factor
    }
}

/// Units of the CJ/T 188 table by quantity (0 energy, 1 power, 2 volume, 3 flow) and their size in the
/// quantity's base unit (J, W, L, L/h).
private let unitFactors: [(unit: StaticString, quantity: Int, factor: Double)] = [
    ("J", 0, 1), ("kJ", 0, 1e3), ("MJ", 0, 1e6), ("GJ", 0, 1e9), ("Wh", 0, 3600), ("kWh", 0, 3.6e6), ("MWh", 0, 3.6e9),
    ("W", 1, 1), ("kW", 1, 1e3), ("MW", 1, 1e6),
    ("L", 2, 1), ("m3", 2, 1e3),
    ("L/h", 3, 1), ("m3/h", 3, 1e3),
]

private let cjt188Units: [CJT188Unit] = [
    CJT188Unit(code: 0x01, unit: "J", scale: 1), CJT188Unit(code: 0x02, unit: "Wh", scale: 1),
    CJT188Unit(code: 0x05, unit: "kWh", scale: 1), CJT188Unit(code: 0x08, unit: "MWh", scale: 1),
    CJT188Unit(code: 0x0A, unit: "MWh", scale: 100), CJT188Unit(code: 0x0B, unit: "kJ", scale: 1),
    CJT188Unit(code: 0x0E, unit: "MJ", scale: 1), CJT188Unit(code: 0x11, unit: "GJ", scale: 1),
    CJT188Unit(code: 0x13, unit: "GJ", scale: 100), CJT188Unit(code: 0x14, unit: "W", scale: 1),
    CJT188Unit(code: 0x17, unit: "kW", scale: 1), CJT188Unit(code: 0x1A, unit: "MW", scale: 1),
    CJT188Unit(code: 0x29, unit: "L", scale: 1), CJT188Unit(code: 0x2C, unit: "m3", scale: 1),
    CJT188Unit(code: 0x32, unit: "L/h", scale: 1), CJT188Unit(code: 0x35, unit: "m3/h", scale: 1),
]

/// The quantities of a 901F reply, with their names (stable snake_case, what a channel names).
enum CJT188Field: CaseIterable, Equatable {
    // Water and gas meters.
    case currentFlow, settlementFlow
    // Heat meters.
    case settlementHeat, currentHeat, heatPower, flowRate, cumulativeFlow, supplyTemperature, returnTemperature,
         workingHours
    // Both.
    /// YYYYMMDDhhmmss as a number (20261202073000).
    case realTime
    /// ST1 << 8 | ST0.
    case status
    /// ST0 bits 1-0: 0 open, 1 closed, 3 abnormal (2 is undefined and reported as it is). One open driver
    /// reads the standard's D0/D1 as bits 7-6 (and battery as bit 5): docs/meters-sources.md.
    case valveState
    /// ST0 bit 2: 1 battery low.
    case batteryLow

    var name: StaticString {
        switch self {
        case .currentFlow: return "current_flow"
        case .settlementFlow: return "settlement_flow"
        case .settlementHeat: return "settlement_heat"
        case .currentHeat: return "current_heat"
        case .heatPower: return "heat_power"
        case .flowRate: return "flow_rate"
        case .cumulativeFlow: return "cumulative_flow"
        case .supplyTemperature: return "supply_temperature"
        case .returnTemperature: return "return_temperature"
        case .workingHours: return "working_hours"
        case .realTime: return "real_time"
        case .status: return "status"
        case .valveState: return "valve_state"
        case .batteryLow: return "battery_low"
        }
    }

    static func named(_ name: String) -> CJT188Field? { matchKeyword(name, in: allCases.map { ($0.name, $0) }) }

    /// The field's number in the C interface (enum edgecore_cjt188_item): its place in `allCases`, from 1.
    var number: UInt32 { UInt32((CJT188Field.allCases.firstIndex(of: self) ?? 0) + 1) }

    static func numbered(_ number: UInt32) -> CJT188Field? {
        guard number >= 1, number <= UInt32(allCases.count) else { return nil }
        return allCases[Int(number) - 1]
    }

    /// A field of heat meters' replies only.
    var isHeatField: Bool {
        switch self {
        case .settlementHeat, .currentHeat, .heatPower, .flowRate, .cumulativeFlow, .supplyTemperature,
             .returnTemperature, .workingHours: return true
        default: return false
        }
    }

    /// In every meter's reply (time and status).
    var isCommon: Bool { self == .realTime || self == .status || self == .valveState || self == .batteryLow }

    /// The unit of a channel that gives none: values in another unit of the same quantity are converted to it
    /// (CJT188Unit.convert).
    var defaultUnit: StaticString {
        switch self {
        case .currentFlow, .settlementFlow, .cumulativeFlow: return "m3"
        case .settlementHeat, .currentHeat: return "kWh"
        case .heatPower: return "kW"
        case .flowRate: return "m3/h"
        case .supplyTemperature, .returnTemperature: return "degC"
        case .workingHours: return "h"
        case .realTime, .status, .valveState, .batteryLow: return ""
        }
    }
}

/// Where a field sits in the 901F reply's data after DI and SER, its BCD format and whether a unit code byte
/// follows it.
private struct CJT188Slot {
    let offset: Int
    let length: Int
    let decimals: Int
    let unitCode: Bool
}

/// A value of a 901F reply: the number (multiplied by the unit code's scale) and its unit.
struct CJT188Value: Equatable {
    let value: Double
    let unit: StaticString

    static func == (a: CJT188Value, b: CJT188Value) -> Bool {
        a.value == b.value && sameText(Message.string(a.unit), Message.string(b.unit))
    }
}

/// The reply to a 901F read: the meter type and the bytes after DI and SER, read field by field (a field
/// with a bad digit or an unknown unit code is an error of its own; the others stay readable).
///
/// Water and gas meters (19 bytes, L 0x16): current cumulative flow XXXXXX.XX + unit, settlement-day flow
/// XXXXXX.XX + unit, real time (7 bytes ss mm hh DD MM YY(low) YY(high), least significant first like every
/// field), status ST0 ST1. Layouts and orders checked against open sources: docs/meters-sources.md.
/// Heat meters, the 2004 set (43 bytes, L 0x2E): settlement-day heat XXXXXX.XX + unit, current heat XXXXXX.XX
/// + unit, heat power XXXXXX.XX + unit, flow rate XXXX.XXXX + unit, cumulative flow XXXXXX.XX + unit, supply
/// and return temperature XXXX.XX (3 bytes, deg C), working hours XXXXXX (3 bytes, h), real time, status.
struct CJT188CurrentData: Equatable {
    let meterType: CJT188MeterType
    let bytes: [UInt8]

    static let flowLength = 19
    static let heatLength = 43

    var isHeat: Bool { meterType.meterClass == .heat }

    private func slot(_ field: CJT188Field) -> CJT188Slot? {
        let heat = isHeat
        switch field {
        case .currentFlow: return heat ? nil : CJT188Slot(offset: 0, length: 4, decimals: 2, unitCode: true)
        case .settlementFlow: return heat ? nil : CJT188Slot(offset: 5, length: 4, decimals: 2, unitCode: true)
        case .settlementHeat: return heat ? CJT188Slot(offset: 0, length: 4, decimals: 2, unitCode: true) : nil
        case .currentHeat: return heat ? CJT188Slot(offset: 5, length: 4, decimals: 2, unitCode: true) : nil
        case .heatPower: return heat ? CJT188Slot(offset: 10, length: 4, decimals: 2, unitCode: true) : nil
        case .flowRate: return heat ? CJT188Slot(offset: 15, length: 4, decimals: 4, unitCode: true) : nil
        case .cumulativeFlow: return heat ? CJT188Slot(offset: 20, length: 4, decimals: 2, unitCode: true) : nil
        case .supplyTemperature: return heat ? CJT188Slot(offset: 25, length: 3, decimals: 2, unitCode: false) : nil
        case .returnTemperature: return heat ? CJT188Slot(offset: 28, length: 3, decimals: 2, unitCode: false) : nil
        case .workingHours: return heat ? CJT188Slot(offset: 31, length: 3, decimals: 0, unitCode: false) : nil
        case .realTime: return CJT188Slot(offset: heat ? 34 : 10, length: 7, decimals: 0, unitCode: false)
        case .status, .valveState, .batteryLow:
            return CJT188Slot(offset: heat ? 41 : 17, length: 2, decimals: 0, unitCode: false)
        }
    }

    /// The field's value, or why it has none (`.notInReply` for a heat field of a water meter and the reverse).
    func value(_ field: CJT188Field) throws(MeterValueError) -> CJT188Value {
        guard let slot = slot(field) else { throw .notInReply }
        let end = slot.offset + slot.length + (slot.unitCode ? 1 : 0)
        guard end <= bytes.count else { throw .length(expected: end, received: bytes.count) }
        let raw = bytes[slot.offset..<slot.offset + slot.length]
        switch field {
        case .status, .valveState, .batteryLow:
            let status = Int(raw[raw.startIndex]) | Int(raw[raw.startIndex + 1]) << 8
            let number = field == .status ? status : field == .valveState ? status & 3 : status >> 2 & 1
            return CJT188Value(value: Double(number), unit: "")
        case .supplyTemperature, .returnTemperature, .workingHours, .realTime:
            let format = MeterValueFormat(length: slot.length, decimals: slot.decimals, signed: false, kind: .bcd, unit: "")
            let unit: StaticString = field == .workingHours ? "h" : field == .realTime ? "" : "degC"
            return CJT188Value(value: try format.decode(raw), unit: unit)
        default:
            let format = MeterValueFormat(length: slot.length, decimals: slot.decimals, signed: false, kind: .bcd, unit: "")
            let number = try format.decode(raw)
            let code = bytes[slot.offset + slot.length]
            guard let unit = CJT188Unit.of(code) else { throw .unknownUnit(code) }
            return CJT188Value(value: number * unit.scale, unit: unit.unit)
        }
    }
}

/// What a CJ/T 188 meter's reply to a request means.
enum CJT188Reply: Equatable {
    /// A 901F read's data.
    case currentData(CJT188CurrentData)
    /// A write's acknowledgement with the meter's status ST1 << 8 | ST0 (valve control).
    case written(status: UInt16)
    /// An abnormal reply (C 0xC1 / 0xC4) with its status ST1 << 8 | ST0.
    case abnormal(status: UInt16)

    /// Whether `reply` answers `request` and what it says. Checked: direction bit, function, meter type and
    /// address (any when the request used the wildcard), DI and SER, data lengths (901F: 19 bytes for water,
    /// gas and other meters, 43 for heat meters; a write: 2 status bytes).
    static func interpret(_ reply: CJT188Frame, request: CJT188Frame) throws(MeterReplyError) -> CJT188Reply {
        guard reply.isReply else { throw .notAReply(control: reply.control) }
        guard reply.function == request.function else {
            throw .wrongFunction(expected: request.function, received: reply.function)
        }
        guard request.meterType == .wildcard || reply.meterType == request.meterType else {
            throw .wrongMeterType(expected: request.meterType.rawValue, received: reply.meterType.rawValue)
        }
        guard request.address.isWildcard || reply.address == request.address else {
            throw .wrongAddress(expected: request.address, received: reply.address)
        }
        let sent = request.sequence ?? 0
        if reply.isAbnormal {
            guard reply.data.count == 3 else { throw .dataLength(expected: 3, received: reply.data.count) }
            guard reply.data[0] == sent else { throw .wrongSequence(expected: sent, received: reply.data[0]) }
            return .abnormal(status: UInt16(reply.data[2]) << 8 | UInt16(reply.data[1]))
        }
        guard reply.data.count >= 3 else { throw .dataLength(expected: 3, received: reply.data.count) }
        let expectedIdentifier = request.identifier ?? 0
        let receivedIdentifier = reply.identifier ?? 0
        guard receivedIdentifier == expectedIdentifier else {
            throw .wrongIdentifier(expected: UInt32(expectedIdentifier), received: UInt32(receivedIdentifier), bytes: 2)
        }
        guard reply.data[2] == sent else { throw .wrongSequence(expected: sent, received: reply.data[2]) }
        let body = Array(reply.data[3...])
        if request.function == CJT188Frame.writeFunction {
            guard body.count == 2 else { throw .dataLength(expected: 5, received: reply.data.count) }
            return .written(status: UInt16(body[1]) << 8 | UInt16(body[0]))
        }
        let expected = reply.meterType.meterClass == .heat ? CJT188CurrentData.heatLength : CJT188CurrentData.flowLength
        guard body.count == expected else { throw .dataLength(expected: expected + 3, received: reply.data.count) }
        return .currentData(CJT188CurrentData(meterType: reply.meterType, bytes: body))
    }
}
