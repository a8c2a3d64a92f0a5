/// Text of an error message, written as an ordinary string interpolation
/// (`Failure(.config, "channel '\(name)': field 'bit' must be 0..15")`).
///
/// Why not String: in Embedded Swift every String interpolation segment is expanded inline at its call
/// site (hundreds of bytes each), and the library has many messages on its error paths. Here each segment
/// is one call to an out-of-line append, which keeps libEdgeCore small. A Double goes in as
/// `\(decimalText(value))` (Platform/NumberText.swift): Swift's own float printer costs about 6 KB.
struct Message: ExpressibleByStringInterpolation {
    var text: String

    init(stringLiteral literal: StaticString) { text = Message.string(literal) }
    init(stringInterpolation: Interpolation) { text = stringInterpolation.text }
    init(verbatim text: String) { self.text = text }

    struct Interpolation: StringInterpolationProtocol {
        typealias StringLiteralType = StaticString
        var text = ""

        init(literalCapacity: Int, interpolationCount: Int) {}

        @inline(never) mutating func appendLiteral(_ literal: StaticString) { text += Message.string(literal) }
        @inline(never) mutating func appendInterpolation(_ value: String) { text += value }
        @inline(never) mutating func appendInterpolation<Integer: FixedWidthInteger>(_ value: Integer) {
            appendDecimal(negative: value < 0, magnitude: UInt64(truncatingIfNeeded: value.magnitude))
        }
        /// Every integer type's text through one: one copy of Swift's integer printer, not one per type.
        @inline(never) private mutating func appendDecimal(negative: Bool, magnitude: UInt64) {
            if negative { text += "-" }
            text += String(magnitude)
        }
        @inline(never) mutating func appendInterpolation(_ value: Message) { text += value.text }
        @inline(never) mutating func appendInterpolation(_ value: StaticString) { text += Message.string(value) }
    }

    @inline(never) static func string(_ literal: StaticString) -> String {
        String(decoding: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount),
               as: UTF8.self)
    }
}
