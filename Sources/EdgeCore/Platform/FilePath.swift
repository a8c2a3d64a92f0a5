import CShim

/// A path as the bytes the caller gave, like swift-system's FilePath: Linux file names are bytes, not text,
/// so a path goes from the C caller to open()/fopen()/rename() unchanged, valid UTF-8 or not (a Swift String
/// would repair invalid bytes into U+FFFD and name another file). Messages show it as `description`.
struct FilePath: Equatable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The bytes, then one NUL.
    private var storage: [CChar]

    /// `count` bytes from `start`, then the C string `rest` if given, then a NUL: every path's bytes are
    /// copied here.
    @inline(never)
    private init(_ start: UnsafePointer<CChar>, count: Int, then rest: UnsafePointer<CChar>? = nil) {
        let restCount = rest.map { strlen($0) } ?? 0
        storage = [CChar](repeating: 0, count: count + restCount + 1)
        storage.withUnsafeMutableBufferPointer { bytes in
            guard let base = bytes.baseAddress else { return }
            memcpy(base, start, count)
            if let rest { memcpy(base + count, rest, restCount) }
        }
    }

    /// A copy of a C string's bytes.
    init(cString: UnsafePointer<CChar>) { self.init(cString, count: strlen(cString)) }

    /// A path given as text (a YAML value, a suffix of our own); a NUL ends it, as in C.
    @inline(never)
    init(_ text: String) {
        self = text.withCString { FilePath(cString: $0) }
    }

    /// A path written in the source ("/dev/", a spec's default "").
    init(stringLiteral literal: StaticString) {
        self.init(cString: UnsafeRawPointer(literal.utf8Start).assumingMemoryBound(to: CChar.self))
    }

    var isEmpty: Bool { storage.count <= 1 }

    /// Calls `body` with the path as a NUL-terminated string, valid during the call only.
    func withCString<Result>(_ body: (UnsafePointer<CChar>) -> Result) -> Result { body(storage) }

    /// This path with `suffix`'s bytes after it ("/lines", ".tmp").
    func appending(_ suffix: String) -> FilePath { appending(FilePath(suffix)) }

    func appending(_ suffix: FilePath) -> FilePath {
        withCString { path in suffix.withCString { FilePath(path, count: storage.count - 1, then: $0) } }
    }

    /// What follows `prefix` ("sim:DIR" without "sim:" is "DIR"); nil when the path does not start with it.
    func removingPrefix(_ prefix: StaticString) -> FilePath? {
        let count = prefix.utf8CodeUnitCount
        guard storage.count > count else { return nil }
        for index in 0..<count where UInt8(bitPattern: storage[index]) != prefix.utf8Start[index] { return nil }
        return withCString { FilePath(cString: $0 + count) }
    }

    /// The folder holding the file: the path up to its last "/" ("/" for "/name"); nil without a "/".
    var folder: FilePath? {
        guard let slash = storage.lastIndex(of: CChar(UInt8(ascii: "/"))) else { return nil }
        return withCString { FilePath($0, count: max(slash, 1)) }
    }

    /// The path as text for messages: valid UTF-8 as it is; any other byte, and ASCII control characters,
    /// as \xHH (so a message names the file exactly, and stays one line).
    var description: String {
        var text: [UInt8] = []
        var index = 0
        let end = storage.count - 1
        while index < end {
            let length = sequenceLength(at: index, end: end)
            if length == 0 {
                let byte = Int(UInt8(bitPattern: storage[index]))
                let digits: StaticString = "0123456789ABCDEF"
                text += [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits.utf8Start[byte >> 4], digits.utf8Start[byte & 15]]
                index += 1
            } else {
                for _ in 0..<length {
                    text.append(UInt8(bitPattern: storage[index]))
                    index += 1
                }
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The length of the well-formed UTF-8 sequence (Unicode's table 3-7) of a printable character starting
    /// at `index`, or 0.
    private func sequenceLength(at index: Int, end: Int) -> Int {
        let lead = UInt8(bitPattern: storage[index])
        if lead < 0x80 { return lead < 0x20 || lead == 0x7F ? 0 : 1 }
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: (length, low) = (3, 0xA0)
        case 0xED: (length, high) = (3, 0x9F)  // not the UTF-16 surrogates
        case 0xE1...0xEF: length = 3
        case 0xF0: (length, low) = (4, 0x90)
        case 0xF1...0xF3: length = 4
        case 0xF4: (length, high) = (4, 0x8F)  // at most U+10FFFF
        default: return 0
        }
        guard end - index >= length else { return 0 }
        for offset in 1..<length {
            let byte = UInt8(bitPattern: storage[index + offset])
            guard byte >= (offset == 1 ? low : 0x80), byte <= (offset == 1 ? high : 0xBF) else { return 0 }
        }
        return length
    }
}

extension Message.Interpolation {
    /// A path in a message, invalid bytes escaped (`"\(path): no such file"`).
    @inline(never) mutating func appendInterpolation(_ path: FilePath) { appendInterpolation(path.description) }
}
