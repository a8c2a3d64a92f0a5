import CShim

/// A decoded value and its reading status (EDGECORE_STATUS_* as UInt16).
struct DecodedValue: Equatable {
    var value: Double
    var status: UInt16
}

private let statusOK = UInt16(EDGECORE_STATUS_OK.rawValue)
private let statusSentinel = UInt16(EDGECORE_STATUS_SENTINEL.rawValue)
private let statusOutOfRange = UInt16(EDGECORE_STATUS_OUT_OF_RANGE.rawValue)
private let statusFrameError = UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue)

extension ValueCodec {
    // MARK: Decoding (per reading: no allocations, never traps)

    /// The raw value of registers as received on the wire (registers[0] is the first register of the channel,
    /// count >= type.registerCount; each UInt16 is the register as Modbus carries it, high byte first), put into
    /// the type's natural order per the header's rules; returned zero-extended as UInt64 (for .bit: 0 or 1, the
    /// selected `bit` of registers[0] after applying the byte rule of `order`). Used for sentinel comparison.
    ///
    /// Too few registers (a caller error) yields 0 rather than reading out of bounds.
    func rawValue(registers: UnsafeBufferPointer<UInt16>) -> UInt64 {
        let count = type.registerCount
        guard registers.count >= count else { return 0 }
        if type == .bit {
            guard bit < 16 else { return 0 }
            return UInt64((logicalRegister(registers[0]) &>> UInt16(bit)) & 1)
        }
        var raw: UInt64 = 0
        if order.mostSignificantWordFirst {
            for index in 0..<count {
                raw = (raw &<< 16) | UInt64(logicalRegister(registers[index]))
            }
        } else {
            var index = count
            while index > 0 {
                index &-= 1
                raw = (raw &<< 16) | UInt64(logicalRegister(registers[index]))
            }
        }
        return raw
    }

    /// Value and status from registers: sentinel match on rawValue -> (0, EDGECORE_STATUS_SENTINEL);
    /// else the number (signed types sign-extended; f32/f64 from bit patterns) * scale + offset;
    /// NaN or infinite result -> (that value, EDGECORE_STATUS_OUT_OF_RANGE); below validMin or above validMax ->
    /// (value, EDGECORE_STATUS_OUT_OF_RANGE); else (value, EDGECORE_STATUS_OK).
    ///
    /// Fewer registers than the type needs (a malformed answer the caller did not catch) yields
    /// (0, EDGECORE_STATUS_CRC_ERROR), the status for a malformed response.
    func decode(registers: UnsafeBufferPointer<UInt16>) -> DecodedValue {
        guard registers.count >= type.registerCount else {
            return DecodedValue(value: 0, status: statusFrameError)
        }
        return finish(raw: rawValue(registers: registers))
    }

    /// For coils / discrete inputs (FC 1/2): raw 0/1, same sentinel/scale/range rules.
    func decode(bit: Bool) -> DecodedValue {
        finish(raw: bit ? 1 : 0)
    }

    /// A number read by other means (a meter's BCD value): scale, offset and range check (no sentinels).
    func decode(number: Double) -> DecodedValue {
        let value = number * scale + offset
        guard value.isFinite else { return DecodedValue(value: value, status: statusOutOfRange) }
        if let validMin, value < validMin { return DecodedValue(value: value, status: statusOutOfRange) }
        if let validMax, value > validMax { return DecodedValue(value: value, status: statusOutOfRange) }
        return DecodedValue(value: value, status: statusOK)
    }

    /// Sentinel check, conversion of the raw value to a number, scale/offset and range check.
    @inline(__always)
    private func finish(raw: UInt64) -> DecodedValue {
        for sentinel in sentinels where sentinel == raw {
            return DecodedValue(value: 0, status: statusSentinel)
        }
        let value = number(raw: raw) * scale + offset
        guard value.isFinite else { return DecodedValue(value: value, status: statusOutOfRange) }
        if let validMin, value < validMin { return DecodedValue(value: value, status: statusOutOfRange) }
        if let validMax, value > validMax { return DecodedValue(value: value, status: statusOutOfRange) }
        return DecodedValue(value: value, status: statusOK)
    }

    /// The raw value (the type's width, natural order) as a number, before scale and offset.
    @inline(__always)
    private func number(raw: UInt64) -> Double {
        switch type {
        case .u16, .u32, .u64, .bit: return Double(raw)
        case .i16: return Double(Int16(truncatingIfNeeded: raw))
        case .i32: return Double(Int32(truncatingIfNeeded: raw))
        case .i64: return Double(Int64(bitPattern: raw))
        case .f32: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
        case .f64: return Double(bitPattern: raw)
        }
    }

    /// A register as received (or to be sent) <-> the register with its high byte as the more significant
    /// byte. The byte rule is its own inverse.
    @inline(__always)
    private func logicalRegister(_ register: UInt16) -> UInt16 {
        order.highByteFirst ? register : register.byteSwapped
    }

    // MARK: Encoding (writes)

    /// For writes: the inverse of scale/offset ((value - offset) / scale), rounded to nearest (ties away from zero)
    /// for integer types, checked against the type's range, encoded into type.registerCount registers in wire order.
    /// Throws a Failure of kind .value for NaN/infinite input, for integers out of the type's range, for f32 overflow
    /// (finite value that becomes infinite as Float). Not for .bit (throw Failure(.value)).
    func encode(_ value: Double) throws(Failure) -> [UInt16] {
        guard type != .bit, value.isFinite else { throw Failure(.value) }
        let unscaled = (value - offset) / scale
        guard unscaled.isFinite else { throw Failure(.value) }

        let raw: UInt64
        switch type {
        case .f32:
            let single = Float(unscaled)
            guard single.isFinite else { throw Failure(.value) }
            raw = UInt64(single.bitPattern)
        case .f64:
            raw = unscaled.bitPattern
        case .u16, .i16, .u32, .i32, .u64, .i64, .bit:
            raw = try integerRaw(unscaled.rounded(.toNearestOrAwayFromZero))
        }

        let count = type.registerCount
        var registers = [UInt16](repeating: 0, count: count)
        for index in 0..<count {
            // index 0 is the most significant word.
            let shift = UInt64(16 &* (count &- 1 &- index))
            let word = logicalRegister(UInt16(truncatingIfNeeded: raw &>> shift))
            registers[order.mostSignificantWordFirst ? index : count &- 1 &- index] = word
        }
        return registers
    }

    /// An integral, finite Double checked against the integer type's range, as its two's-complement bit
    /// pattern (only the type's width is used by the caller).
    private func integerRaw(_ rounded: Double) throws(Failure) -> UInt64 {
        // Bounds are exact powers of two (upper bounds exclusive), so no Double rounding is involved.
        let lower: Double
        let upperExclusive: Double
        switch type {
        case .u16: lower = 0; upperExclusive = 65_536.0
        case .i16: lower = -32_768.0; upperExclusive = 32_768.0
        case .u32: lower = 0; upperExclusive = 4_294_967_296.0
        case .i32: lower = -2_147_483_648.0; upperExclusive = 2_147_483_648.0
        case .u64: lower = 0; upperExclusive = 18_446_744_073_709_551_616.0
        case .i64: lower = -9_223_372_036_854_775_808.0; upperExclusive = 9_223_372_036_854_775_808.0
        case .f32, .f64, .bit: throw Failure(.value)
        }
        guard rounded >= lower, rounded < upperExclusive else { throw Failure(.value) }
        if rounded < 0 { return UInt64(bitPattern: Int64(rounded)) }
        return UInt64(rounded)
    }

    /// For a writable bit-of-register channel: the register `current` with bit `bit` set (value != 0 after inverse
    /// scale, i.e. nonzero) or cleared, honouring the byte rule of `order`. Throws .value for NaN (input or after
    /// inverse scale), for a channel that is not `.bit`, and for a bit number above 15.
    /// `current` and the result are registers as Modbus carries them (wire order).
    func encodeBit(_ value: Double, into current: UInt16) throws(Failure) -> UInt16 {
        guard type == .bit, bit < 16, !value.isNaN else { throw Failure(.value) }
        let unscaled = (value - offset) / scale
        guard !unscaled.isNaN else { throw Failure(.value) }
        let mask = UInt16(1) &<< UInt16(bit)
        let logical = logicalRegister(current)
        let updated = unscaled != 0 ? logical | mask : logical & ~mask
        return logicalRegister(updated)
    }
}
