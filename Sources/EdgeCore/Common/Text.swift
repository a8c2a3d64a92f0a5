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

/// A name as a dictionary key: hashed and compared by its UTF-8 bytes, as `sameText` compares (String's own
/// hashing would need the Unicode tables, as its `==` does).
struct TextKey: Hashable {
    let text: String

    init(_ text: String) { self.text = text }

    static func == (a: TextKey, b: TextKey) -> Bool { sameText(a.text, b.text) }

    func hash(into hasher: inout Hasher) {
        var copy = text
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
