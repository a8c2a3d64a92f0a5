// Scalar syntax of site files: integers, numbers, booleans and keywords (internal for the tests).

/// The words a site file may give a keyword field, each with its value (the C enum's, or the byte C
/// stores), as static data: one matcher and one reader serve every keyword field.
struct KeywordSet {
    /// What messages call the field's value ("bus type").
    let noun: StaticString
    /// The words messages list ("rtu, tcp or gpio").
    let expected: StaticString
    let words: [(StaticString, UInt8)]
    /// Plain integers (decimal or 0x-hex) up to this are accepted as themselves when at least `lowestNumber`
    /// (0: words only).
    var highestNumber: UInt8 = 0
    var lowestNumber: UInt8 = 0

    /// The value of `text` (ASCII case ignored), or nil.
    @inline(never)
    func match(_ text: String) -> UInt8? {
        if let value = matchKeyword(text, in: words) { return value }
        guard highestNumber > 0, let number = parseUnsignedInteger(text, max: UInt64(highestNumber)),
              number >= UInt64(lowestNumber) else { return nil }
        return UInt8(truncatingIfNeeded: number)
    }

    /// Values of `busTypes`.
    static let tcp: UInt8 = 0
    static let rtu: UInt8 = 1
    static let gpio: UInt8 = 2
    static let local: UInt8 = 3

    static let busTypes = KeywordSet(noun: "bus type", expected: "rtu, tcp, gpio or local",
                                     words: [("tcp", tcp), ("rtu", rtu), ("gpio", gpio), ("local", local)])
    static let functions = KeywordSet(noun: "function", expected: "coils, discrete, holding, input or 1..4", words: [
        ("coils", 1), ("coil", 1),
        ("discrete", 2), ("discrete_inputs", 2), ("discrete_input", 2),
        ("holding", 3), ("holding_registers", 3), ("holding_register", 3),
        ("input", 4), ("input_registers", 4), ("input_register", 4),
    ], highestNumber: 4, lowestNumber: 1)
    /// enum edgecore_value_type.
    static let valueTypes = KeywordSet(noun: "type", expected: "u16, i16, u32, i32, u64, i64, f32, f64 or bit", words: [
        ("u16", 0), ("i16", 1), ("u32", 2), ("i32", 3), ("u64", 4), ("i64", 5), ("f32", 6), ("f64", 7), ("bit", 8),
    ])
    /// enum edgecore_word_order.
    static let wordOrders = KeywordSet(noun: "order", expected: "ABCD, CDAB, BADC or DCBA",
                                       words: [("abcd", 0), ("cdab", 1), ("badc", 2), ("dcba", 3)])
    static let parities = KeywordSet(noun: "parity", expected: "N, E or O", words: [
        ("n", UInt8(ascii: "N")), ("none", UInt8(ascii: "N")), ("e", UInt8(ascii: "E")), ("even", UInt8(ascii: "E")),
        ("o", UInt8(ascii: "O")), ("odd", UInt8(ascii: "O")),
    ])
    /// enum edgecore_rts_mode.
    static let rtsModes = KeywordSet(noun: "rts mode", expected: "none, up or down",
                                     words: [("none", 0), ("0", 0), ("up", 1), ("1", 1), ("down", 2), ("2", 2)])
    /// enum edgecore_gpio_kind.
    static let gpioKinds = KeywordSet(noun: "line kind", expected: "input, output or pulses",
                                      words: [("input", 0), ("output", 1), ("pulses", 2)])
    /// enum edgecore_gpio_bias.
    static let biases = KeywordSet(noun: "bias", expected: "as_is, disabled, pull_up or pull_down",
                                   words: [("as_is", 0), ("disabled", 1), ("pull_up", 2), ("pull_down", 3)])
    /// enum edgecore_gpio_edge.
    static let edges = KeywordSet(noun: "edge", expected: "rising, falling or both",
                                  words: [("rising", 1), ("falling", 2), ("both", 3)])
    /// enum edgecore_journal_full_policy.
    static let fullPolicies = KeywordSet(noun: "policy", expected: "drop_oldest or refuse_newest",
                                         words: [("drop_oldest", 0), ("refuse_newest", 1)])
    /// enum edgecore_tcp_framing.
    static let framings = KeywordSet(noun: "framing", expected: "mbap or transparent",
                                     words: [("mbap", 0), ("transparent", 1)])
    /// enum edgecore_protocol.
    static let protocols = KeywordSet(noun: "protocol", expected: "modbus, dlt645-2007, dlt645-1997 or cjt188",
                                      words: [("modbus", 0), ("dlt645-2007", 1), ("dlt645-1997", 2), ("cjt188", 3)])
    /// CJ/T 188 identifier order (edgecore_device_config.identifier_order).
    static let identifierOrders = KeywordSet(noun: "identifier order", expected: "low_first or high_first",
                                             words: [("low_first", 0), ("high_first", 1)])
    /// enum edgecore_meter_format, without CATALOGUE (a channel without `format` has the catalogue's).
    static let meterFormats = KeywordSet(noun: "format", expected: "bcd, bcd_signed or binary",
                                         words: [("bcd", 1), ("bcd_signed", 2), ("binary", 3)])
    static let booleans = KeywordSet(noun: "boolean", expected: "true or false", words: [
        ("true", 1), ("yes", 1), ("on", 1), ("false", 0), ("no", 0), ("off", 0),
    ])
    static let safeStates = KeywordSet(noun: "safe state", expected: "0, 1, true or false",
                                       words: booleans.words, highestNumber: 1)
}

func parseFunction(_ text: String) -> ModbusFunction? {
    KeywordSet.functions.match(text).flatMap { ModbusFunction(rawValue: $0) }
}

func parseValueType(_ text: String) -> ValueType? { KeywordSet.valueTypes.match(text).flatMap { ValueType($0) } }

func parseWordOrder(_ text: String) -> WordOrder? { KeywordSet.wordOrders.match(text).flatMap { WordOrder($0) } }

func parseBoolean(_ text: String) -> Bool? { KeywordSet.booleans.match(text).map { $0 == 1 } }

private func digitValue(_ byte: UInt8, hex: Bool) -> UInt64? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f") where hex: return UInt64(byte - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F") where hex: return UInt64(byte - UInt8(ascii: "A") + 10)
    default: return nil
    }
}

/// Decimal digits without leading zeros (YAML 1.1 reads `017` as octal 15, YAML 1.2 as 17: neither is
/// guessed), or 0x / 0X and hex digits; nothing else (no sign, no spaces). nil when malformed or above max.
func parseUnsignedInteger(_ text: String, max: UInt64) -> UInt64? {
    let bytes = Array(text.utf8)
    var index = 0
    var hex = false
    if bytes.count > 2, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "x") || bytes[1] == UInt8(ascii: "X") {
        hex = true
        index = 2
    }
    guard index < bytes.count, hex || bytes.count == 1 || bytes[0] != UInt8(ascii: "0") else { return nil }
    var value: UInt64 = 0
    while index < bytes.count {
        guard let digit = digitValue(bytes[index], hex: hex) else { return nil }
        let (shifted, overflowA) = value.multipliedReportingOverflow(by: hex ? 16 : 10)
        let (sum, overflowB) = shifted.addingReportingOverflow(digit)
        guard !overflowA, !overflowB else { return nil }
        value = sum
        index += 1
    }
    return value <= max ? value : nil
}

/// Exact powers of ten as Double (10^22 is the largest that is).
private let exactPowersOfTen: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
                                          1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]

/// A finite number: [+-] digits [. digits] [e [+-] digits] (at least one digit before the exponent), or
/// [+-] 0x hex digits. nil for anything else, including inf/nan, results that overflow, and integers with
/// leading zeros (`017`: octal in YAML 1.1; `017.5` is a number).
///
/// Not strtod, whose decimal point follows the host program's locale. Correctly rounded whenever the
/// significant digits fit 2^53 and the decimal exponent is within +-22 (every value a site file needs:
/// 0.1, -40.5, 1e-3, 12345.678); beyond that within a few units in the last place.
func parseDecimalNumber(_ text: String) -> Double? {
    let bytes = Array(text.utf8)
    var index = 0
    var negative = false
    if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
        negative = bytes[index] == UInt8(ascii: "-")
        index += 1
    }
    if bytes.count - index > 2, bytes[index] == UInt8(ascii: "0"),
       bytes[index + 1] == UInt8(ascii: "x") || bytes[index + 1] == UInt8(ascii: "X") {
        guard let value = parseUnsignedInteger(String(decoding: bytes[index...], as: UTF8.self), max: .max) else { return nil }
        return negative ? -Double(value) : Double(value)
    }

    let firstDigit = index
    var mantissa: UInt64 = 0
    var significantDigits = 0
    var digits = 0
    var exponent = 0  // decimal exponent of the mantissa's last digit
    var fraction = false
    while index < bytes.count {
        let byte = bytes[index]
        if byte == UInt8(ascii: "."), !fraction {
            fraction = true
            index += 1
            continue
        }
        guard let digit = digitValue(byte, hex: false) else { break }
        digits += 1
        if mantissa == 0, digit == 0 {
            if fraction { exponent -= 1 }  // leading zero
        } else if significantDigits < 19 {
            mantissa = mantissa * 10 + digit
            significantDigits += 1
            if fraction { exponent -= 1 }
        } else if !fraction {
            exponent += 1  // a dropped integer digit still scales the value
        }
        index += 1
    }
    guard digits > 0 else { return nil }
    let octalLooking = !fraction && digits > 1 && bytes[firstDigit] == UInt8(ascii: "0")
    if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
        index += 1
        var exponentNegative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            exponentNegative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        var written = 0
        var exponentDigits = 0
        while index < bytes.count, let digit = digitValue(bytes[index], hex: false) {
            if written < 100_000 { written = written * 10 + Int(digit) }  // far beyond any finite Double
            exponentDigits += 1
            index += 1
        }
        guard exponentDigits > 0 else { return nil }
        exponent += exponentNegative ? -written : written
    }
    guard index == bytes.count, !octalLooking else { return nil }

    var value: Double
    if mantissa == 0 {
        value = 0
    } else if mantissa <= 1 << 53, exponent >= -22, exponent <= 22 {
        // Both operands exact: one correctly rounded operation.
        value = exponent >= 0 ? Double(mantissa) * exactPowersOfTen[exponent]
            : Double(mantissa) / exactPowersOfTen[-exponent]
    } else {
        value = Double(mantissa)
        var remaining = exponent
        while remaining > 22, value.isFinite {
            value *= 1e22
            remaining -= 22
        }
        while remaining < -22, value != 0 {
            value /= 1e22
            remaining += 22
        }
        if remaining >= 0 {
            value *= exactPowersOfTen[min(remaining, 22)]
        } else {
            value /= exactPowersOfTen[min(-remaining, 22)]
        }
    }
    guard value.isFinite else { return nil }
    return negative ? -value : value
}
