import CShim

// The loaded document's nodes as the reader sees them: scalars, lists, and mappings with unique keys.

/// A node of the loaded document (a copy of libyaml's; its pointers live as long as the document).
struct YAMLNode {
    let raw: yaml_node_t

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

/// The entries of a mapping node, keys checked to be unique scalars.
struct YAMLMapping {
    struct Entry {
        var key: String
        var value: YAMLNode
    }

    /// A key given a second time (reported by `check`, once the item's name is known for the message).
    struct Repeat {
        var key: String
        var line: Int
        var firstLine: Int
    }

    /// The keys the reader asked for, and the entries it used. The reader asks for every key its item has
    /// (from the configuration tables, Config/ConfigTable.swift): an entry it never used is an unknown key.
    final class KeyUse {
        var asked: [StaticString] = []
        var used: [Bool] = []
    }

    let line: Int
    private(set) var context: String
    var entries: [Entry] = []
    /// Each key's entry: a key's value is one hash away, however many keys the mapping has.
    var index = [TextKey: Int]()
    var repeated: Repeat? = nil
    /// Shared with the copies `named` makes.
    let use = KeyUse()

    init(line: Int, context: String) {
        self.line = line
        self.context = context
    }

    mutating func append(_ entry: Entry) {
        entries.append(entry)
        use.used.append(false)
    }

    /// The same entries under another context (once the item's name is known).
    func named(_ context: Message) -> YAMLMapping {
        var copy = self
        copy.context = context.text
        return copy
    }

    /// The entry of `key`, null or not (marked used).
    @inline(never)
    func entry(_ key: StaticString) -> Entry? {
        use.asked.append(key)
        guard let at = index[TextKey(Message.string(key))] else { return nil }
        use.used[at] = true
        return entries[at]
    }

    /// The value of `key`; nil when the key is absent or its value is null.
    @inline(never)
    func value(_ key: StaticString) -> YAMLNode? {
        guard let entry = entry(key), !entry.value.isNull else { return nil }
        return entry.value
    }
}
