import CShim
import Testing

@testable import EdgeCore

// MARK: Helpers

private let ok = UInt16(EDGECORE_STATUS_OK.rawValue)
private let sentinel = UInt16(EDGECORE_STATUS_SENTINEL.rawValue)
private let outOfRange = UInt16(EDGECORE_STATUS_OUT_OF_RANGE.rawValue)
private let frameError = UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue)

private let allOrders: [WordOrder] = [.abcd, .cdab, .badc, .dcba]
private let registerTypes: [ValueType] = [.u16, .i16, .u32, .i32, .u64, .i64, .f32, .f64]

private func makeCodec(_ type: ValueType, _ order: WordOrder = .abcd, bit: UInt8 = 0, scale: Double = 1,
                   offset: Double = 0, min: Double? = nil, max: Double? = nil,
                   sentinels: [UInt64] = []) -> ValueCodec {
    ValueCodec(type: type, order: order, bit: bit, scale: scale, offset: offset, validMin: min, validMax: max,
               sentinels: sentinels)
}

extension ValueCodec {
    fileprivate func decode(_ registers: [UInt16]) -> DecodedValue {
        registers.withUnsafeBufferPointer { decode(registers: $0) }
    }

    fileprivate func raw(_ registers: [UInt16]) -> UInt64 {
        registers.withUnsafeBufferPointer { rawValue(registers: $0) }
    }
}

/// A value, its raw value (type width, natural order) and its registers on the wire in one order.
struct ValueCodecPattern: Sendable, CustomTestStringConvertible {
    var type: ValueType
    var order: WordOrder
    var registers: [UInt16]
    var raw: UInt64
    var value: Double

    init(_ type: ValueType, _ order: WordOrder, _ registers: [UInt16], raw: UInt64, value: Double) {
        self.type = type
        self.order = order
        self.registers = registers
        self.raw = raw
        self.value = value
    }

    var testDescription: String { "\(type) \(order) \(registers)" }
}

private let patterns: [ValueCodecPattern] = [
    ValueCodecPattern(.u16, .abcd, [0x1234], raw: 0x1234, value: 4660),
    ValueCodecPattern(.u16, .cdab, [0x1234], raw: 0x1234, value: 4660),
    ValueCodecPattern(.u16, .badc, [0x3412], raw: 0x1234, value: 4660),
    ValueCodecPattern(.u16, .dcba, [0x3412], raw: 0x1234, value: 4660),
    ValueCodecPattern(.i16, .abcd, [0xFF85], raw: 0xFF85, value: -123),
    ValueCodecPattern(.i16, .cdab, [0xFF85], raw: 0xFF85, value: -123),
    ValueCodecPattern(.i16, .badc, [0x85FF], raw: 0xFF85, value: -123),
    ValueCodecPattern(.i16, .dcba, [0x85FF], raw: 0xFF85, value: -123),
    ValueCodecPattern(.u32, .abcd, [0x1122, 0x3344], raw: 0x1122_3344, value: 287_454_020),
    ValueCodecPattern(.u32, .cdab, [0x3344, 0x1122], raw: 0x1122_3344, value: 287_454_020),
    ValueCodecPattern(.u32, .badc, [0x2211, 0x4433], raw: 0x1122_3344, value: 287_454_020),
    ValueCodecPattern(.u32, .dcba, [0x4433, 0x2211], raw: 0x1122_3344, value: 287_454_020),
    ValueCodecPattern(.i32, .abcd, [0xFFFE, 0x1DC0], raw: 0xFFFE_1DC0, value: -123_456),
    ValueCodecPattern(.i32, .cdab, [0x1DC0, 0xFFFE], raw: 0xFFFE_1DC0, value: -123_456),
    ValueCodecPattern(.i32, .badc, [0xFEFF, 0xC01D], raw: 0xFFFE_1DC0, value: -123_456),
    ValueCodecPattern(.i32, .dcba, [0xC01D, 0xFEFF], raw: 0xFFFE_1DC0, value: -123_456),
    // 0x1122334455667700 has 53 significant bits: exact as a Double, so it round-trips.
    ValueCodecPattern(.u64, .abcd, [0x1122, 0x3344, 0x5566, 0x7700], raw: 0x1122_3344_5566_7700,
            value: 1_234_605_616_436_508_416),
    ValueCodecPattern(.u64, .cdab, [0x7700, 0x5566, 0x3344, 0x1122], raw: 0x1122_3344_5566_7700,
            value: 1_234_605_616_436_508_416),
    ValueCodecPattern(.u64, .badc, [0x2211, 0x4433, 0x6655, 0x0077], raw: 0x1122_3344_5566_7700,
            value: 1_234_605_616_436_508_416),
    ValueCodecPattern(.u64, .dcba, [0x0077, 0x6655, 0x4433, 0x2211], raw: 0x1122_3344_5566_7700,
            value: 1_234_605_616_436_508_416),
    ValueCodecPattern(.i64, .abcd, [0xFFFF, 0xFEE0, 0x8E04, 0xFB35], raw: 0xFFFF_FEE0_8E04_FB35, value: -1_234_567_890_123),
    ValueCodecPattern(.i64, .cdab, [0xFB35, 0x8E04, 0xFEE0, 0xFFFF], raw: 0xFFFF_FEE0_8E04_FB35, value: -1_234_567_890_123),
    ValueCodecPattern(.i64, .badc, [0xFFFF, 0xE0FE, 0x048E, 0x35FB], raw: 0xFFFF_FEE0_8E04_FB35, value: -1_234_567_890_123),
    ValueCodecPattern(.i64, .dcba, [0x35FB, 0x048E, 0xE0FE, 0xFFFF], raw: 0xFFFF_FEE0_8E04_FB35, value: -1_234_567_890_123),
    ValueCodecPattern(.f32, .abcd, [0x4366, 0x8000], raw: 0x4366_8000, value: 230.5),
    ValueCodecPattern(.f32, .cdab, [0x8000, 0x4366], raw: 0x4366_8000, value: 230.5),
    ValueCodecPattern(.f32, .badc, [0x6643, 0x0080], raw: 0x4366_8000, value: 230.5),
    ValueCodecPattern(.f32, .dcba, [0x0080, 0x6643], raw: 0x4366_8000, value: 230.5),
    ValueCodecPattern(.f64, .abcd, [0xC093, 0x4A45, 0x6D5C, 0xFAAD], raw: 0xC093_4A45_6D5C_FAAD, value: -1234.5678),
    ValueCodecPattern(.f64, .cdab, [0xFAAD, 0x6D5C, 0x4A45, 0xC093], raw: 0xC093_4A45_6D5C_FAAD, value: -1234.5678),
    ValueCodecPattern(.f64, .badc, [0x93C0, 0x454A, 0x5C6D, 0xADFA], raw: 0xC093_4A45_6D5C_FAAD, value: -1234.5678),
    ValueCodecPattern(.f64, .dcba, [0xADFA, 0x5C6D, 0x454A, 0x93C0], raw: 0xC093_4A45_6D5C_FAAD, value: -1234.5678),
]

// MARK: Byte and word order

@Suite struct DecodeValueCodecOrderTests {
    @Test(arguments: patterns)
    func knownPatternDecodes(_ pattern: ValueCodecPattern) {
        let codec = makeCodec(pattern.type, pattern.order)
        #expect(codec.raw(pattern.registers) == pattern.raw)
        #expect(codec.decode(pattern.registers) == DecodedValue(value: pattern.value, status: ok))
    }

    @Test(arguments: patterns)
    func knownPatternEncodes(_ pattern: ValueCodecPattern) throws {
        let codec = makeCodec(pattern.type, pattern.order)
        #expect(try codec.encode(pattern.value) == pattern.registers)
    }

    @Test func everyTypeAndOrderIsCovered() {
        for type in registerTypes {
            for order in allOrders {
                #expect(patterns.contains { $0.type == type && $0.order == order }, "\(type) \(order)")
            }
        }
    }

    @Test func sixtyFourBitOrdersFromTheBrief() {
        let value: UInt64 = 0x1122_3344_5566_7788
        #expect(makeCodec(.u64, .abcd).raw([0x1122, 0x3344, 0x5566, 0x7788]) == value)
        #expect(makeCodec(.u64, .cdab).raw([0x7788, 0x5566, 0x3344, 0x1122]) == value)
        #expect(makeCodec(.u64, .badc).raw([0x2211, 0x4433, 0x6655, 0x8877]) == value)
        #expect(makeCodec(.u64, .dcba).raw([0x8877, 0x6655, 0x4433, 0x2211]) == value)
        #expect(makeCodec(.i64, .cdab).raw([0x7788, 0x5566, 0x3344, 0x1122]) == value)
        #expect(makeCodec(.f64, .dcba).raw([0x8877, 0x6655, 0x4433, 0x2211]) == value)
    }

    @Test func sixteenBitTypesUseOnlyTheByteRule() {
        // CDAB swaps words only: a single register is unchanged; DCBA swaps bytes like BADC.
        #expect(makeCodec(.u16, .cdab).raw([0xAB01]) == 0xAB01)
        #expect(makeCodec(.u16, .dcba).raw([0xAB01]) == 0x01AB)
        #expect(makeCodec(.i16, .badc).raw([0xAB01]) == 0x01AB)
        #expect(makeCodec(.i16, .dcba).decode([0x0080]) == DecodedValue(value: -32768, status: ok))
    }

    @Test func extraRegistersAreIgnored() {
        #expect(makeCodec(.u16).raw([0x0001, 0xFFFF]) == 1)
        #expect(makeCodec(.u32, .cdab).raw([0x0002, 0x0001, 0xFFFF, 0xFFFF]) == 0x0001_0002)
        #expect(makeCodec(.f32).decode([0x4366, 0x8000, 0x1234]) == DecodedValue(value: 230.5, status: ok))
    }

    @Test func tooFewRegistersNeitherReadOutOfBoundsNorReportOK() {
        #expect(makeCodec(.u32).raw([0x1234]) == 0)
        #expect(makeCodec(.u64).raw([0x1234, 0x5678, 0x9ABC]) == 0)
        #expect(makeCodec(.u16).raw([]) == 0)
        #expect(makeCodec(.f64).decode([0x4000, 0, 0]) == DecodedValue(value: 0, status: frameError))
        #expect(makeCodec(.bit).decode([]) == DecodedValue(value: 0, status: frameError))
    }

    @Test(arguments: registerTypes, allOrders)
    func roundTrip(_ type: ValueType, _ order: WordOrder) throws {
        let values: [Double]
        switch type {
        case .u16: values = [0, 1, 255, 256, 4660, 65535]
        case .i16: values = [0, 1, -1, -256, 32767, -32768]
        case .u32: values = [0, 1, 65536, 287_454_020, 4_294_967_295]
        case .i32: values = [0, -1, 65536, -65536, 2_147_483_647, -2_147_483_648]
        case .u64: values = [0, 1, 4_294_967_296, 1_234_605_616_436_508_416, 18_446_744_073_709_549_568]
        case .i64: values = [0, -1, -1_234_567_890_123, 9_223_372_036_854_774_784, -9_223_372_036_854_775_808]
        case .f32: values = [0, 1, -2.5, 230.5, Double(Float(1.0e-30)), Double(Float(3.0e38)), -0.15625]
        case .f64: values = [0, 1, -1234.5678, 1.0e-300, 1.0e300, Double.leastNonzeroMagnitude]
        case .bit: values = []
        }
        let codec = makeCodec(type, order)
        for value in values {
            let registers = try codec.encode(value)
            #expect(registers.count == type.registerCount)
            #expect(codec.decode(registers) == DecodedValue(value: value, status: ok), "\(value)")
        }
    }

    @Test(arguments: registerTypes, allOrders)
    func rawRoundTripOfBitPatterns(_ type: ValueType, _ order: WordOrder) throws {
        // Register -> value -> register is the identity for these finite bit patterns.
        let codec = makeCodec(type, order)
        let words: [UInt16] = [0x0102, 0x8000, 0x7F7F, 0xFF01, 0x3F80, 0x4049]  // no NaN or infinity in any order
        for first in words {
            var registers = [UInt16](repeating: 0, count: type.registerCount)
            for index in registers.indices { registers[index] = first &+ UInt16(index &* 0x1111) }
            let decoded = codec.decode(registers)
            #expect(decoded.status == ok)
            if type == .u64 || type == .i64 {
                // 64-bit integers beyond 2^53 are not exact as Double: compare the decoded number instead.
                #expect(codec.decode(try codec.encode(decoded.value)) == decoded)
            } else {
                #expect(try codec.encode(decoded.value) == registers, "\(registers)")
            }
        }
    }
}

// MARK: Numbers

@Suite struct DecodeValueCodecNumberTests {
    @Test func signExtension() {
        #expect(makeCodec(.i16).decode([0xFFFF]) == DecodedValue(value: -1, status: ok))
        #expect(makeCodec(.i16).decode([0x8000]) == DecodedValue(value: -32768, status: ok))
        #expect(makeCodec(.i16).decode([0x7FFF]) == DecodedValue(value: 32767, status: ok))
        #expect(makeCodec(.i32).decode([0xFFFF, 0xFFFF]) == DecodedValue(value: -1, status: ok))
        #expect(makeCodec(.i32).decode([0x8000, 0x0000]) == DecodedValue(value: -2_147_483_648, status: ok))
        #expect(makeCodec(.i32, .cdab).decode([0x0000, 0x8000]) == DecodedValue(value: -2_147_483_648, status: ok))
        #expect(makeCodec(.i32).decode([0x7FFF, 0xFFFF]) == DecodedValue(value: 2_147_483_647, status: ok))
        #expect(makeCodec(.i64).decode([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]) == DecodedValue(value: -1, status: ok))
        #expect(makeCodec(.i64).decode([0x8000, 0, 0, 0])
                == DecodedValue(value: -9_223_372_036_854_775_808, status: ok))
        #expect(makeCodec(.i64, .dcba).decode([0, 0, 0, 0x0080])
                == DecodedValue(value: -9_223_372_036_854_775_808, status: ok))
        // Raw values stay zero-extended.
        #expect(makeCodec(.i16).raw([0xFFFF]) == 0xFFFF)
        #expect(makeCodec(.i32).raw([0xFFFF, 0xFFFF]) == 0xFFFF_FFFF)
    }

    @Test func unsignedTypesAreNotSignExtended() {
        #expect(makeCodec(.u16).decode([0xFFFF]) == DecodedValue(value: 65535, status: ok))
        #expect(makeCodec(.u16).decode([0x8000]) == DecodedValue(value: 32768, status: ok))
        #expect(makeCodec(.u32).decode([0xFFFF, 0xFFFF]) == DecodedValue(value: 4_294_967_295, status: ok))
        #expect(makeCodec(.u64).decode([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF])
                == DecodedValue(value: 18_446_744_073_709_551_615.0, status: ok))
        #expect(makeCodec(.u64).decode([0x8000, 0, 0, 0])
                == DecodedValue(value: 9_223_372_036_854_775_808, status: ok))
    }

    @Test func signedEncodingIsTwosComplement() throws {
        #expect(try makeCodec(.i16).encode(-1) == [0xFFFF])
        #expect(try makeCodec(.i16).encode(-32768) == [0x8000])
        #expect(try makeCodec(.i16, .badc).encode(-32768) == [0x0080])
        #expect(try makeCodec(.i32).encode(-1) == [0xFFFF, 0xFFFF])
        #expect(try makeCodec(.i32, .cdab).encode(-2) == [0xFFFE, 0xFFFF])
        #expect(try makeCodec(.i64).encode(-9_223_372_036_854_775_808) == [0x8000, 0, 0, 0])
        #expect(try makeCodec(.i64, .cdab).encode(-9_223_372_036_854_775_808) == [0, 0, 0, 0x8000])
        #expect(try makeCodec(.i64).encode(-1) == [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF])
    }

    @Test func floatExactValues() throws {
        #expect(makeCodec(.f32).decode([0x4366, 0x8000]) == DecodedValue(value: 230.5, status: ok))
        #expect(makeCodec(.f32).decode([0xBE20, 0x0000]) == DecodedValue(value: -0.15625, status: ok))
        #expect(makeCodec(.f32).decode([0x3F80, 0x0000]) == DecodedValue(value: 1, status: ok))
        // 0.1 as a Float, widened exactly.
        #expect(makeCodec(.f32).decode([0x3DCC, 0xCCCD]) == DecodedValue(value: 0.100000001490116119384765625, status: ok))
        #expect(try makeCodec(.f32).encode(0.1) == [0x3DCC, 0xCCCD])
        #expect(try makeCodec(.f32).encode(230.5) == [0x4366, 0x8000])
        #expect(try makeCodec(.f32).encode(-0.0) == [0x8000, 0x0000])
        #expect(try makeCodec(.f32).encode(Double(Float.greatestFiniteMagnitude)) == [0x7F7F, 0xFFFF])
        #expect(makeCodec(.f64).decode([0x3FF0, 0, 0, 0]) == DecodedValue(value: 1, status: ok))
        #expect(makeCodec(.f64).decode([0x406C, 0xD000, 0, 0]) == DecodedValue(value: 230.5, status: ok))
        #expect(makeCodec(.f64, .dcba).decode([0, 0, 0x00D0, 0x6C40]) == DecodedValue(value: 230.5, status: ok))
        #expect(try makeCodec(.f64).encode(0.1) == [0x3FB9, 0x9999, 0x9999, 0x999A])
        #expect(try makeCodec(.f64).encode(Double.greatestFiniteMagnitude) == [0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF])
        // Denormals are kept.
        #expect(makeCodec(.f32).decode([0x0000, 0x0001])
                == DecodedValue(value: Double(Float.leastNonzeroMagnitude), status: ok))
        #expect(makeCodec(.f64).decode([0, 0, 0, 1]) == DecodedValue(value: Double.leastNonzeroMagnitude, status: ok))
    }

    @Test func scaleAndOffsetAreApplied() {
        #expect(makeCodec(.u16, scale: 0.5, offset: -20).decode([1234]) == DecodedValue(value: 597, status: ok))
        #expect(makeCodec(.u16, scale: 0.1).decode([2305]) == DecodedValue(value: 2305 * 0.1, status: ok))
        #expect(makeCodec(.i16, scale: 0.01, offset: 1).decode([0xFF9C])
                == DecodedValue(value: -100 * 0.01 + 1, status: ok))
        #expect(makeCodec(.u32, .cdab, scale: 2, offset: 3).decode([0x0001, 0x0001])
                == DecodedValue(value: 65537 * 2 + 3, status: ok))
        #expect(makeCodec(.f32, scale: 2, offset: 1).decode([0x4366, 0x8000]) == DecodedValue(value: 462, status: ok))
        #expect(makeCodec(.i16, scale: -2).decode([10]) == DecodedValue(value: -20, status: ok))
        #expect(makeCodec(.u16, scale: 0, offset: 7).decode([1234]) == DecodedValue(value: 7, status: ok))
    }

    @Test func scaleAndOffsetAreInvertedForWrites() throws {
        #expect(try makeCodec(.u16, scale: 0.5, offset: -20).encode(597) == [1234])
        #expect(try makeCodec(.u16, scale: 0.1).encode(230.5) == [2305])
        #expect(try makeCodec(.i16, scale: 0.01, offset: 1).encode(0) == [0xFF9C])
        #expect(try makeCodec(.i16, scale: -2).encode(-20) == [10])
        #expect(try makeCodec(.u32, .cdab, scale: 2, offset: 3).encode(131_077) == [0x0001, 0x0001])
        #expect(try makeCodec(.f32, scale: 2, offset: 1).encode(462) == [0x4366, 0x8000])
        #expect(try makeCodec(.f64, scale: 0.5).encode(0.5) == [0x3FF0, 0, 0, 0])
    }

    @Test func integerWritesRoundToNearestTiesAwayFromZero() throws {
        #expect(try makeCodec(.u16).encode(2.5) == [3])
        #expect(try makeCodec(.u16).encode(2.4999) == [2])
        #expect(try makeCodec(.u16).encode(3.5) == [4])
        #expect(try makeCodec(.i16).encode(-2.5) == [0xFFFD])
        #expect(try makeCodec(.i16).encode(-2.4999) == [0xFFFE])
        #expect(try makeCodec(.u16).encode(-0.4) == [0])
        #expect(try makeCodec(.i32).encode(0.5) == [0, 1])
        #expect(try makeCodec(.i64).encode(-0.5) == [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF])
        #expect(try makeCodec(.u16, scale: 0.1).encode(0.25) == [3])  // 2.5 after inverse scale
    }
}

// MARK: Status

@Suite struct DecodeValueCodecStatusTests {
    @Test func sentinelsMatchTheRawValue() {
        let u16 = makeCodec(.u16, scale: 10, sentinels: [0xFFFF])
        #expect(u16.decode([0xFFFF]) == DecodedValue(value: 0, status: sentinel))
        #expect(u16.decode([0xFFFE]) == DecodedValue(value: 655_340, status: ok))

        let i16 = makeCodec(.i16, sentinels: [0x8000, 0x7FFF])
        #expect(i16.decode([0x8000]) == DecodedValue(value: 0, status: sentinel))
        #expect(i16.decode([0x7FFF]) == DecodedValue(value: 0, status: sentinel))
        #expect(i16.decode([0x8001]) == DecodedValue(value: -32767, status: ok))
        // Sentinels are zero-extended raw values, not sign-extended numbers.
        #expect(makeCodec(.i16, sentinels: [0xFFFF_FFFF_FFFF_8000]).decode([0x8000])
                == DecodedValue(value: -32768, status: ok))
        // Sentinels compare after the byte rule.
        #expect(makeCodec(.i16, .badc, sentinels: [0x8000]).decode([0x0080]) == DecodedValue(value: 0, status: sentinel))
        #expect(makeCodec(.i16, .badc, sentinels: [0x8000]).decode([0x8000]) == DecodedValue(value: 128, status: ok))
    }

    @Test func floatSentinels() {
        let sentinels: [UInt64] = [0xFFFF_FFFF, 0x7FC0_0000]
        #expect(makeCodec(.f32, sentinels: sentinels).decode([0xFFFF, 0xFFFF]) == DecodedValue(value: 0, status: sentinel))
        #expect(makeCodec(.f32, sentinels: sentinels).decode([0x7FC0, 0x0000]) == DecodedValue(value: 0, status: sentinel))
        #expect(makeCodec(.f32, .cdab, sentinels: sentinels).decode([0x0000, 0x7FC0])
                == DecodedValue(value: 0, status: sentinel))
        #expect(makeCodec(.f32, .dcba, sentinels: sentinels).decode([0x0000, 0xC07F])
                == DecodedValue(value: 0, status: sentinel))
        #expect(makeCodec(.f32, sentinels: sentinels).decode([0x4366, 0x8000]) == DecodedValue(value: 230.5, status: ok))
        // The same NaN pattern without the sentinel is a NaN value: out of range.
        let nan = makeCodec(.f32).decode([0x7FC0, 0x0000])
        #expect(nan.value.isNaN)
        #expect(nan.status == outOfRange)
    }

    @Test func sentinelsOfSixtyFourBitTypesAndBits() {
        let u64 = makeCodec(.u64, .cdab, sentinels: [0x8000_0000_0000_0000])
        #expect(u64.decode([0, 0, 0, 0x8000]) == DecodedValue(value: 0, status: sentinel))
        #expect(u64.decode([0x8000, 0, 0, 0]) == DecodedValue(value: 32768, status: ok))
        #expect(makeCodec(.i64, sentinels: [0xFFFF_FFFF_FFFF_FFFF]).decode([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF])
                == DecodedValue(value: 0, status: sentinel))
        #expect(makeCodec(.bit, sentinels: [1]).decode(bit: true) == DecodedValue(value: 0, status: sentinel))
        #expect(makeCodec(.bit, sentinels: [1]).decode(bit: false) == DecodedValue(value: 0, status: ok))
        #expect(makeCodec(.bit, bit: 3, sentinels: [0]).decode([0xFFF7]) == DecodedValue(value: 0, status: sentinel))
        #expect(makeCodec(.bit, bit: 3, sentinels: [0]).decode([0x0008]) == DecodedValue(value: 1, status: ok))
    }

    @Test func sentinelWinsOverRange() {
        let codec = makeCodec(.u16, min: 0, max: 100, sentinels: [0xFFFF])
        #expect(codec.decode([0xFFFF]) == DecodedValue(value: 0, status: sentinel))
        #expect(codec.decode([0xFFFE]) == DecodedValue(value: 65534, status: outOfRange))
    }

    @Test func nanAndInfinityAreOutOfRange() {
        let inf = makeCodec(.f32).decode([0x7F80, 0x0000])
        #expect(inf == DecodedValue(value: .infinity, status: outOfRange))
        #expect(makeCodec(.f32).decode([0xFF80, 0x0000]) == DecodedValue(value: -.infinity, status: outOfRange))
        #expect(makeCodec(.f64).decode([0x7FF0, 0, 0, 0]) == DecodedValue(value: .infinity, status: outOfRange))
        let nan = makeCodec(.f64).decode([0x7FF8, 0, 0, 0])
        #expect(nan.value.isNaN)
        #expect(nan.status == outOfRange)
        let negativeNaN = makeCodec(.f32, .badc).decode([0xFFFF, 0xFFFF])
        #expect(negativeNaN.value.isNaN)
        #expect(negativeNaN.status == outOfRange)
        // Finite raw values that overflow after scaling.
        #expect(makeCodec(.f64, scale: 10).decode([0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF])
                == DecodedValue(value: .infinity, status: outOfRange))
        #expect(makeCodec(.u64, scale: 1e300).decode([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF])
                == DecodedValue(value: .infinity, status: outOfRange))
        // inf * 0 = NaN.
        let zeroScaled = makeCodec(.f32, scale: 0).decode([0x7F80, 0x0000])
        #expect(zeroScaled.value.isNaN)
        #expect(zeroScaled.status == outOfRange)
        // A NaN is out of range even with no bounds and with bounds it cannot be compared against.
        let bounded = makeCodec(.f32, min: -1, max: 1).decode([0x7FC0, 0x0001])
        #expect(bounded.value.isNaN)
        #expect(bounded.status == outOfRange)
    }

    @Test func rangeBoundsAreInclusive() {
        let codec = makeCodec(.i16, min: 10, max: 20)
        #expect(codec.decode([10]) == DecodedValue(value: 10, status: ok))
        #expect(codec.decode([20]) == DecodedValue(value: 20, status: ok))
        #expect(codec.decode([15]) == DecodedValue(value: 15, status: ok))
        #expect(codec.decode([9]) == DecodedValue(value: 9, status: outOfRange))
        #expect(codec.decode([21]) == DecodedValue(value: 21, status: outOfRange))
        #expect(codec.decode([0xFFFF]) == DecodedValue(value: -1, status: outOfRange))
    }

    @Test func rangeAppliesToTheScaledValue() {
        let codec = makeCodec(.u16, scale: 0.5, offset: -10, min: 0, max: 40)
        #expect(codec.decode([20]) == DecodedValue(value: 0, status: ok))
        #expect(codec.decode([100]) == DecodedValue(value: 40, status: ok))
        #expect(codec.decode([19]) == DecodedValue(value: -0.5, status: outOfRange))
        #expect(codec.decode([101]) == DecodedValue(value: 40.5, status: outOfRange))
    }

    @Test func oneSidedBounds() {
        let minOnly = makeCodec(.i32, min: -5)
        #expect(minOnly.decode([0xFFFF, 0xFFFB]) == DecodedValue(value: -5, status: ok))
        #expect(minOnly.decode([0xFFFF, 0xFFFA]) == DecodedValue(value: -6, status: outOfRange))
        #expect(minOnly.decode([0x7FFF, 0xFFFF]) == DecodedValue(value: 2_147_483_647, status: ok))
        let maxOnly = makeCodec(.f32, max: 230.5)
        #expect(maxOnly.decode([0x4366, 0x8000]) == DecodedValue(value: 230.5, status: ok))
        #expect(maxOnly.decode([0x4366, 0x8001]).status == outOfRange)
        #expect(maxOnly.decode([0xFF7F, 0xFFFF]) == DecodedValue(value: -Double(Float.greatestFiniteMagnitude),
                                                                  status: ok))
    }

    @Test func coilsAndDiscreteInputs() {
        #expect(makeCodec(.bit).decode(bit: false) == DecodedValue(value: 0, status: ok))
        #expect(makeCodec(.bit).decode(bit: true) == DecodedValue(value: 1, status: ok))
        // Inverted logic: value = 1 - raw.
        #expect(makeCodec(.bit, scale: -1, offset: 1).decode(bit: true) == DecodedValue(value: 0, status: ok))
        #expect(makeCodec(.bit, scale: -1, offset: 1).decode(bit: false) == DecodedValue(value: 1, status: ok))
        #expect(makeCodec(.bit, scale: 100).decode(bit: true) == DecodedValue(value: 100, status: ok))
        #expect(makeCodec(.bit, max: 0).decode(bit: true) == DecodedValue(value: 1, status: outOfRange))
        #expect(makeCodec(.bit, min: 1).decode(bit: false) == DecodedValue(value: 0, status: outOfRange))
    }
}

// MARK: Bits of registers

@Suite struct DecodeValueCodecBitTests {
    @Test(arguments: allOrders)
    func eachBitFollowsTheByteRule(_ order: WordOrder) {
        for bit in UInt8(0)..<16 {
            // The logical register (high byte = more significant) with only this bit set...
            let logical = UInt16(1) << UInt16(bit)
            // ...arrives byte-swapped for BADC and DCBA.
            let wire = order.highByteFirst ? logical : logical.byteSwapped
            let codec = makeCodec(.bit, order, bit: bit)
            #expect(codec.raw([wire]) == 1, "bit \(bit)")
            #expect(codec.raw([~wire]) == 0, "bit \(bit)")
            #expect(codec.decode([wire]) == DecodedValue(value: 1, status: ok))
            #expect(codec.decode([~wire]) == DecodedValue(value: 0, status: ok))
        }
    }

    @Test func explicitBitPositions() {
        #expect(makeCodec(.bit, .abcd, bit: 9).raw([0x0200]) == 1)
        #expect(makeCodec(.bit, .cdab, bit: 9).raw([0x0200]) == 1)
        #expect(makeCodec(.bit, .badc, bit: 9).raw([0x0200]) == 0)
        #expect(makeCodec(.bit, .badc, bit: 1).raw([0x0200]) == 1)
        #expect(makeCodec(.bit, .dcba, bit: 1).raw([0x0200]) == 1)
        #expect(makeCodec(.bit, .abcd, bit: 0).raw([0x0001]) == 1)
        #expect(makeCodec(.bit, .abcd, bit: 15).raw([0x8000]) == 1)
        #expect(makeCodec(.bit, .dcba, bit: 15).raw([0x0080]) == 1)
        #expect(makeCodec(.bit, .dcba, bit: 7).raw([0x8000]) == 1)
        #expect(makeCodec(.bit, bit: 4, scale: 2.5, offset: 1).decode([0x0010]) == DecodedValue(value: 3.5, status: ok))
        // An invalid bit number (construction rejects it) reads as 0 instead of trapping.
        #expect(makeCodec(.bit, bit: 16).raw([0xFFFF]) == 0)
        #expect(makeCodec(.bit, bit: 255).raw([0xFFFF]) == 0)
    }

    @Test func encodeBitSetsAndClearsWithTheByteRule() throws {
        #expect(try makeCodec(.bit, .abcd, bit: 9).encodeBit(1, into: 0x0000) == 0x0200)
        #expect(try makeCodec(.bit, .cdab, bit: 9).encodeBit(1, into: 0x0000) == 0x0200)
        #expect(try makeCodec(.bit, .badc, bit: 9).encodeBit(1, into: 0x0000) == 0x0002)
        #expect(try makeCodec(.bit, .dcba, bit: 9).encodeBit(1, into: 0x0000) == 0x0002)
        #expect(try makeCodec(.bit, .abcd, bit: 9).encodeBit(0, into: 0xFFFF) == 0xFDFF)
        #expect(try makeCodec(.bit, .badc, bit: 9).encodeBit(0, into: 0xFFFF) == 0xFFFD)
        #expect(try makeCodec(.bit, .dcba, bit: 0).encodeBit(1, into: 0x1234) == 0x1334)
        #expect(try makeCodec(.bit, .abcd, bit: 15).encodeBit(1, into: 0x1234) == 0x9234)
        // Other bits are kept; setting a set bit or clearing a clear one changes nothing.
        #expect(try makeCodec(.bit, bit: 2).encodeBit(1, into: 0xA5A5) == 0xA5A5)
        #expect(try makeCodec(.bit, bit: 1).encodeBit(0, into: 0xA5A5) == 0xA5A5)
        #expect(try makeCodec(.bit, bit: 1).encodeBit(1, into: 0xA5A5) == 0xA5A7)
        // Any nonzero value sets.
        #expect(try makeCodec(.bit, bit: 3).encodeBit(-0.5, into: 0) == 0x0008)
        #expect(try makeCodec(.bit, bit: 3).encodeBit(42, into: 0) == 0x0008)
        #expect(try makeCodec(.bit, bit: 3).encodeBit(-0.0, into: 0xFFFF) == 0xFFF7)
    }

    @Test(arguments: allOrders)
    func encodeBitRoundTrips(_ order: WordOrder) throws {
        for bit in UInt8(0)..<16 {
            let codec = makeCodec(.bit, order, bit: bit)
            for current: UInt16 in [0x0000, 0xFFFF, 0x5A3C] {
                let set = try codec.encodeBit(1, into: current)
                let cleared = try codec.encodeBit(0, into: current)
                #expect(codec.decode([set]) == DecodedValue(value: 1, status: ok))
                #expect(codec.decode([cleared]) == DecodedValue(value: 0, status: ok))
                #expect(set & ~cleared == set ^ cleared)  // exactly one bit differs...
                #expect((set ^ cleared).nonzeroBitCount == 1)
                #expect(set | current == set && cleared & current == cleared)  // ...and the rest is kept
            }
        }
    }

    @Test func encodeBitInvertsScaleAndOffset() throws {
        let inverted = makeCodec(.bit, bit: 0, scale: -1, offset: 1)  // value = 1 - raw
        #expect(try inverted.encodeBit(1, into: 0xFFFF) == 0xFFFE)
        #expect(try inverted.encodeBit(0, into: 0x0000) == 0x0001)
        let scaled = makeCodec(.bit, bit: 0, scale: 100, offset: 5)
        #expect(try scaled.encodeBit(5, into: 0x0001) == 0x0000)
        #expect(try scaled.encodeBit(105, into: 0x0000) == 0x0001)
    }

    @Test func encodeBitErrors() {
        #expect(throws: Failure(.value)) { try makeCodec(.bit, bit: 1).encodeBit(.nan, into: 0) }
        #expect(throws: Failure(.value)) { try makeCodec(.bit, bit: 1).encodeBit(-.nan, into: 0) }
        // 0 / 0 after inverse scale.
        #expect(throws: Failure(.value)) { try makeCodec(.bit, bit: 1, scale: 0, offset: 2).encodeBit(2, into: 0) }
        #expect(throws: Failure(.value)) { try makeCodec(.bit, bit: 16).encodeBit(1, into: 0) }
        #expect(throws: Failure(.value)) { try makeCodec(.u16).encodeBit(1, into: 0) }
    }
}

// MARK: Encode errors

@Suite struct DecodeValueCodecEncodeErrorTests {
    @Test(arguments: registerTypes)
    func nonFiniteValuesAreRejected(_ type: ValueType) {
        for order in allOrders {
            let codec = makeCodec(type, order)
            #expect(throws: Failure(.value)) { try codec.encode(.nan) }
            #expect(throws: Failure(.value)) { try codec.encode(.signalingNaN) }
            #expect(throws: Failure(.value)) { try codec.encode(.infinity) }
            #expect(throws: Failure(.value)) { try codec.encode(-.infinity) }
        }
    }

    @Test func bitChannelsAreNotEncodedAsRegisters() {
        #expect(throws: Failure(.value)) { try makeCodec(.bit).encode(1) }
        #expect(throws: Failure(.value)) { try makeCodec(.bit).encode(0) }
    }

    @Test func integerRangesAreEnforced() throws {
        #expect(try makeCodec(.u16).encode(65535) == [0xFFFF])
        #expect(try makeCodec(.u16).encode(65535.49) == [0xFFFF])
        #expect(throws: Failure(.value)) { try makeCodec(.u16).encode(65535.5) }
        #expect(throws: Failure(.value)) { try makeCodec(.u16).encode(65536) }
        #expect(throws: Failure(.value)) { try makeCodec(.u16).encode(-0.5) }
        #expect(throws: Failure(.value)) { try makeCodec(.u16).encode(-1) }

        #expect(try makeCodec(.i16).encode(32767) == [0x7FFF])
        #expect(try makeCodec(.i16).encode(-32768.49) == [0x8000])
        #expect(throws: Failure(.value)) { try makeCodec(.i16).encode(32767.5) }
        #expect(throws: Failure(.value)) { try makeCodec(.i16).encode(-32768.5) }
        #expect(throws: Failure(.value)) { try makeCodec(.i16).encode(40000) }

        #expect(try makeCodec(.u32).encode(4_294_967_295) == [0xFFFF, 0xFFFF])
        #expect(throws: Failure(.value)) { try makeCodec(.u32).encode(4_294_967_296) }
        #expect(throws: Failure(.value)) { try makeCodec(.u32).encode(-1) }

        #expect(try makeCodec(.i32).encode(-2_147_483_648) == [0x8000, 0x0000])
        #expect(try makeCodec(.i32).encode(2_147_483_647) == [0x7FFF, 0xFFFF])
        #expect(throws: Failure(.value)) { try makeCodec(.i32).encode(2_147_483_648) }
        #expect(throws: Failure(.value)) { try makeCodec(.i32).encode(-2_147_483_649) }

        // The largest Double below 2^64 fits; 2^64 does not (Double(UInt64.max) rounds up to it).
        #expect(try makeCodec(.u64).encode(18_446_744_073_709_549_568) == [0xFFFF, 0xFFFF, 0xFFFF, 0xF800])
        #expect(throws: Failure(.value)) { try makeCodec(.u64).encode(18_446_744_073_709_551_616) }
        #expect(throws: Failure(.value)) { try makeCodec(.u64).encode(Double(UInt64.max)) }
        #expect(throws: Failure(.value)) { try makeCodec(.u64).encode(-1) }
        #expect(throws: Failure(.value)) { try makeCodec(.u64).encode(1e300) }

        #expect(try makeCodec(.i64).encode(9_223_372_036_854_774_784) == [0x7FFF, 0xFFFF, 0xFFFF, 0xFC00])
        #expect(throws: Failure(.value)) { try makeCodec(.i64).encode(9_223_372_036_854_775_808) }
        #expect(throws: Failure(.value)) { try makeCodec(.i64).encode(Double(Int64.max)) }
        #expect(throws: Failure(.value)) { try makeCodec(.i64).encode(-9_223_372_036_854_777_856) }
        #expect(throws: Failure(.value)) { try makeCodec(.i64).encode(-1e300) }
    }

    @Test func rangeIsCheckedAfterInverseScale() throws {
        let scaled = makeCodec(.u16, scale: 0.1, offset: -100)
        #expect(try scaled.encode(-100) == [0])
        #expect(try scaled.encode(6453.5) == [0xFFFF])
        #expect(throws: Failure(.value)) { try scaled.encode(-100.1) }
        #expect(throws: Failure(.value)) { try scaled.encode(6453.6) }
        // Inverse scale overflowing to infinity, or dividing by a zero scale.
        #expect(throws: Failure(.value)) { try makeCodec(.f64, scale: 1e-10).encode(1e308) }
        #expect(throws: Failure(.value)) { try makeCodec(.f64, scale: 0).encode(1) }
        #expect(throws: Failure(.value)) { try makeCodec(.f64, scale: 0).encode(0) }
    }

    @Test func floatOverflowIsRejected() throws {
        #expect(throws: Failure(.value)) { try makeCodec(.f32).encode(1e39) }
        #expect(throws: Failure(.value)) { try makeCodec(.f32).encode(-1e39) }
        #expect(throws: Failure(.value)) { try makeCodec(.f32, scale: 1e-10).encode(1e30) }
        // Underflow is not an error: the value becomes 0 (or a denormal).
        #expect(try makeCodec(.f32).encode(1e-50) == [0x0000, 0x0000])
        #expect(try makeCodec(.f64).encode(1e300) == [0x7E37, 0xE43C, 0x8800, 0x759C])
    }
}

// MARK: Type and order constants

@Suite struct DecodeValueCodecConstantsTests {
    @Test func typesAndOrdersFromTheHeader() {
        #expect(ValueType(UInt8(EDGECORE_TYPE_U16.rawValue)) == .u16)
        #expect(ValueType(UInt8(EDGECORE_TYPE_I64.rawValue)) == .i64)
        #expect(ValueType(UInt8(EDGECORE_TYPE_F32.rawValue)) == .f32)
        #expect(ValueType(UInt8(EDGECORE_TYPE_BIT.rawValue)) == .bit)
        #expect(ValueType(9) == nil)
        #expect(WordOrder(UInt8(EDGECORE_ORDER_ABCD.rawValue)) == .abcd)
        #expect(WordOrder(UInt8(EDGECORE_ORDER_CDAB.rawValue)) == .cdab)
        #expect(WordOrder(UInt8(EDGECORE_ORDER_BADC.rawValue)) == .badc)
        #expect(WordOrder(UInt8(EDGECORE_ORDER_DCBA.rawValue)) == .dcba)
        #expect(WordOrder(4) == nil)
        #expect(WordOrder.abcd.mostSignificantWordFirst && WordOrder.abcd.highByteFirst)
        #expect(!WordOrder.cdab.mostSignificantWordFirst && WordOrder.cdab.highByteFirst)
        #expect(WordOrder.badc.mostSignificantWordFirst && !WordOrder.badc.highByteFirst)
        #expect(!WordOrder.dcba.mostSignificantWordFirst && !WordOrder.dcba.highByteFirst)
    }
}
