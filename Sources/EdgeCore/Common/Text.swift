// Names and keywords are identifiers, compared byte for byte. Swift's `==` on String compares canonical
// Unicode equivalence, which in Embedded Swift needs the Unicode normalization tables (tens of KB that
// libEdgeCore would have to carry); comparing UTF-8 needs nothing.

/// The two strings have the same UTF-8 bytes.
@inline(never)
func sameText(_ a: String, _ b: String) -> Bool {
    a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8)
}

/// The value whose keyword equals `text` ignoring ASCII case (keywords are written lowercase).
func matchKeyword<Value>(_ text: String, in table: [(StaticString, Value)]) -> Value? {
    for (name, value) in table where sameKeyword(text, name) { return value }
    return nil
}

@inline(never)
private func sameKeyword(_ text: String, _ keyword: StaticString) -> Bool {
    let expected = UnsafeBufferPointer(start: keyword.utf8Start, count: keyword.utf8CodeUnitCount)
    guard text.utf8.count == expected.count else { return false }
    for (byte, wanted) in zip(text.utf8, expected) {
        let lowered = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
        if lowered != wanted { return false }
    }
    return true
}

/// A name as a dictionary key, hashed and compared by its UTF-8 bytes as `sameText` compares (String's own
/// hashing would need the Unicode tables, as its `==` does), within a kind and number that say what is named
/// (one key type for every table keeps libEdgeCore's Dictionary code to one copy).
struct TextKey: Hashable {
    let kind: UInt8
    let number: UInt64
    let text: String

    init(_ text: String, kind: UInt8 = 0, number: UInt64 = 0) {
        self.kind = kind
        self.number = number
        self.text = text
    }

    static func == (a: TextKey, b: TextKey) -> Bool {
        a.kind == b.kind && a.number == b.number && sameText(a.text, b.text)
    }

    func hash(into hasher: inout Hasher) {
        // FNV-1a over the bytes, then the seeded Hasher over that and the number (one small function).
        var bytes: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(kind)
        for byte in text.utf8 { bytes = (bytes ^ UInt64(byte)) &* 0x100_0000_01B3 }
        hasher.combine(bytes)
        hasher.combine(number)
    }
}

/// A string literal as the `const char *` C expects; literals live in the binary for the process's life.
func staticCString(_ text: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}
