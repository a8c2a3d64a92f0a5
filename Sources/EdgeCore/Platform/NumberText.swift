import CShim

/// `value` as the shortest decimal text that reads back as the same Double, in the form Swift's
/// `description` gives ("5.0", "0.1", "-40.5", "1e-05", "1.5e+20", "inf", "nan"): the one way the library
/// turns a Double into text.
///
/// Why not `"\(value)"`: in Embedded Swift that links Swift's float printer (about 6 KB of code and
/// tables, on every architecture); libc's printf is there anyway. The locale's decimal point (printf and
/// strtod follow the host program's LC_NUMERIC) becomes ".", so the text does not depend on it.
@inline(never)
func decimalText(_ value: Double) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
    let magnitude = value.magnitude
    // Swift's description switches to the exponent form below 1e-4 and above 2^53.
    let exponentForm = magnitude != 0 && (magnitude < 1e-4 || magnitude > 9_007_199_254_740_992)
    // 17 significant digits always read back; in the plain form a value of at least 1e-4 needs at most
    // 4 more digits after the point for them.
    let mostDigits: Int32 = exponentForm ? 16 : 21
    var buffer = [CChar](repeating: 0, count: 64)
    var length: Int32 = 0
    for digits in 0...mostDigits {
        length = buffer.withUnsafeMutableBufferPointer { text in
            guard let base = text.baseAddress else { return 0 }
            let written = ec_format_double(base, text.count, exponentForm ? 1 : 0, digits, value)
            return written > 0 && Int(written) < text.count && ec_parse_double(base) == value ? written : 0
        }
        if length > 0 { break }
    }
    if length == 0 {  // not reached (17 digits always read back); the last attempt's text then
        length = Int32(strlen(buffer))
    }
    var bytes: [UInt8] = []
    var point = false
    for byte in buffer[0..<Int(length)] {
        let ascii = UInt8(truncatingIfNeeded: byte)
        switch ascii {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "e"):
            bytes.append(ascii)
        default:
            // The locale's decimal point, whatever its bytes: one ".".
            if !point { bytes.append(UInt8(ascii: ".")) }
            point = true
        }
    }
    if !exponentForm, !bytes.contains(UInt8(ascii: ".")) { bytes += [UInt8(ascii: "."), UInt8(ascii: "0")] }
    return String(decoding: bytes, as: UTF8.self)
}
