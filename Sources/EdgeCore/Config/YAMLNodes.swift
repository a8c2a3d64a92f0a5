import CShim

// The loaded document's nodes as the reader sees them: scalars, lists, and mappings with unique keys.

/// A node of the loaded document (libyaml's, living as long as the document; a pointer, so that passing
/// and keeping nodes copies one word).
struct YAMLNode {
    let pointer: UnsafeMutablePointer<yaml_node_t>

    var raw: yaml_node_t { pointer.pointee }

    var line: Int { lineNumber(of: raw.start_mark) }
    var isScalar: Bool { raw.type == YAML_SCALAR_NODE }
    var isSequence: Bool { raw.type == YAML_SEQUENCE_NODE }
    var isMapping: Bool { raw.type == YAML_MAPPING_NODE }

    /// The scalar's text (nil for lists and mappings).
    var text: String? {
        guard isScalar else { return nil }
        let scalar = raw.data.scalar
        guard let value = scalar.value else { return "" }
        return String(decoding: UnsafeBufferPointer(start: value, count: Int(truncatingIfNeeded: scalar.length)),
                      as: UTF8.self)
    }

    /// Written without quotes (or as a block scalar): the only way to write a number or a boolean.
    var isPlain: Bool { isScalar && raw.data.scalar.style == YAML_PLAIN_SCALAR_STYLE }

    /// The text of a plain scalar (nil for quoted ones, lists and mappings): numbers and booleans.
    var plainText: String? { isPlain ? text : nil }

    /// A plain (unquoted) empty, ~ or null scalar.
    var isNull: Bool {
        guard isPlain, let text else { return false }
        return text.isEmpty || matchKeyword(text, in: [("~", true), ("null", true)]) != nil
    }

    /// What the node is, for "got ..." in messages.
    var described: String {
        if isSequence { return "a list" }
        if isMapping { return "a mapping" }
        let written: Message = isPlain ? "'\(text ?? "")'" : "the string '\(text ?? "")' (quoted)"
        return written.text
    }
}

/// The entries of a mapping node, keys checked to be unique scalars. A class: items pass it to every field
/// reader, and it records which keys the reader asked for and which entries it used (an entry never used
/// is an unknown key).
final class YAMLMapping {
    struct Entry {
        var key: String
        var value: YAMLNode
    }

    /// A key given a second time (reported by `finish`, once the item's name is known for the message).
    struct Repeat {
        var key: String
        var line: Int
        var firstLine: Int
    }

    let line: Int
    /// Names the item in messages ("bus 'x', device 'y'"); set again once the item's name is read.
    var context: String
    private(set) var entries: [Entry] = []
    /// Each key's entry: a key's value is one hash away, however many keys the mapping has.
    private var index = [TextKey: Int]()
    private(set) var repeated: Repeat? = nil
    /// The keys the reader asked for (from the configuration tables, Config/ConfigTable.swift), in order.
    private(set) var asked: [StaticString] = []
    /// Per entry: the reader asked for its key.
    private(set) var used: [Bool] = []
    /// The first value the reader found of the wrong type (reported by the reader's `finish`).
    private(set) var failure: Failure? = nil

    init(line: Int, context: String) {
        self.line = line
        self.context = context
    }

    /// Adds an entry (its key written at `keyLine`).
    func append(key: String, keyLine: Int, value: YAMLNode) {
        let textKey = TextKey(key)
        if let earlier = index[textKey] {
            if repeated == nil { repeated = Repeat(key: key, line: keyLine, firstLine: entries[earlier].value.line) }
        } else {
            index[textKey] = entries.count
        }
        entries.append(Entry(key: key, value: value))
        used.append(false)
    }

    /// The mapping gives `key` (null or not), without marking it asked for or used.
    func contains(_ key: String) -> Bool { index[TextKey(key)] != nil }

    /// Keeps the first failure of the item's fields.
    @inline(never)
    func record(_ failure: Failure) {
        if self.failure == nil { self.failure = failure }
    }

    /// The entry of `key`, null or not (marked used).
    @inline(never)
    func entry(_ key: StaticString) -> Entry? {
        asked.append(key)
        guard let at = index[TextKey(Message.string(key))] else { return nil }
        used[at] = true
        return entries[at]
    }

    /// The value of `key` (nil when absent or null), marked used but not asked for: a key the item's kind
    /// does not take (a Modbus field of a meter), which the reader refuses with its reason rather than as an
    /// unknown key, and which `finish` does not list among the expected ones.
    @inline(never)
    func valueNotAsked(_ key: StaticString) -> YAMLNode? {
        guard let at = index[TextKey(Message.string(key))] else { return nil }
        used[at] = true
        let value = entries[at].value
        return value.isNull ? nil : value
    }

    /// The value of `key`; nil when the key is absent or its value is null.
    @inline(never)
    func value(_ key: StaticString) -> YAMLNode? {
        guard let entry = entry(key), !entry.value.isNull else { return nil }
        return entry.value
    }
}
