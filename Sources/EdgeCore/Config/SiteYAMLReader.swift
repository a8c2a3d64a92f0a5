import CShim

// The walk along the site file's schema: the top mapping, and the structure and scalar readers every item uses
// (each names file, line, item and field in its errors). The items themselves: SiteYAMLReader+Items.swift.

struct SiteYAMLReader {
    let path: FilePath
    let document: UnsafeMutablePointer<yaml_document_t>
    /// The device profiles the file names, loaded once each (SiteYAMLReader+Profiles.swift).
    let profiles: ProfileStore
    /// Reading a profile file rather than a site file: a meter's address is the site's to give.
    var isProfile: Bool = false

    func load(into config: inout SiteConfig) throws(Failure) {
        guard let rootPointer = yaml_document_get_root_node(document) else { return }  // empty file
        let root = YAMLNode(pointer: rootPointer)
        if root.isNull { return }
        guard root.isMapping else {
            throw failure(root.line, "", "expected a mapping with a 'buses' list, got \(root.described)")
        }
        let top = try mapping(root, context: "")
        let buses = list(top, "buses")
        let journal = top.value("journal")
        try finish(top)
        if let journal { try loadJournal(journal, into: &config) }
        guard let buses else { return }
        for (index, bus) in buses.enumerated() {
            try loadBus(bus, number: index + 1, into: &config)
        }
    }

    /// A SiteConfig error, prefixed with the offending item's "path:LINE: ".
    @inline(never)
    func located(_ error: Failure, _ line: Int) -> Failure {
        Failure(error.kind, "\(path):\(line): \(error.message)")
    }

    // MARK: Structure

    @inline(never)
    func failure(_ line: Int, _ context: String, _ what: Message) -> Failure {
        Failure(.configFile, context.isEmpty ? "\(path):\(line): \(what)" : "\(path):\(line): \(context): \(what)")
    }

    func fieldFailure(_ line: Int, _ context: String, _ field: StaticString, _ what: Message) -> Failure {
        fieldFailure(line, context, Message.string(field), what)
    }

    @inline(never)
    func fieldFailure(_ line: Int, _ context: String, _ field: String, _ what: Message) -> Failure {
        failure(line, context.isEmpty ? "field '\(field)'" : "\(context), field '\(field)'", what)
    }

    @inline(never)
    func node(_ id: yaml_node_item_t, of parent: YAMLNode, near line: Int, _ context: String) throws(Failure) -> YAMLNode {
        // A profile's nodes live in the profile's document, merged into a site file's devices.
        let holder = profiles.document(holding: parent.pointer) ?? document
        guard let pointer = yaml_document_get_node(holder, id) else {
            throw failure(line, context, "malformed YAML document")
        }
        return YAMLNode(pointer: pointer)
    }

    @inline(never)
    func mapping(_ node: YAMLNode, context item: Message) throws(Failure) -> YAMLMapping {
        let context = item.text
        guard node.isMapping else { throw failure(node.line, context, "expected a mapping, got \(node.described)") }
        let result = YAMLMapping(line: node.line, context: context)
        let pairs = node.raw.data.mapping.pairs
        guard var pair = pairs.start, let top = pairs.top else { return result }
        while pair < top {
            let key = try self.node(pair.pointee.key, of: node, near: node.line, context)
            let value = try self.node(pair.pointee.value, of: node, near: key.line, context)
            guard let name = key.text else {
                throw failure(key.line, context, "expected a field name, got \(key.described)")
            }
            result.append(key: name, keyLine: key.line, value: value)
            pair += 1
        }
        return result
    }

    /// Every value read as its field's type, every key given once and asked for by the reader (call it once
    /// the item's keys have all been read).
    @inline(never)
    func finish(_ fields: YAMLMapping) throws(Failure) {
        if let failure = fields.failure { throw failure }
        if let repeated = fields.repeated {
            throw fieldFailure(repeated.line, fields.context, repeated.key,
                               "given twice (first at line \(repeated.firstLine))")
        }
        guard let unknown = fields.used.firstIndex(of: false) else { return }
        var expected = ""
        var listed: [String] = []
        for asked in fields.asked {
            let key = Message.string(asked)
            if listed.contains(where: { sameText($0, key) }) { continue }
            listed.append(key)
            if !expected.isEmpty { expected += ", " }
            expected += key
        }
        let entry = fields.entries[unknown]
        throw fieldFailure(entry.value.line, fields.context, entry.key, "unknown key (expected one of: \(expected))")
    }

    /// A required key's value, read (nil when absent or null) before `finish` checked the item's keys, so
    /// that a misspelt key is reported as unknown rather than the key it meant as missing; or the error
    /// naming it.
    func required<T>(_ value: T?, _ fields: YAMLMapping, _ key: StaticString) throws(Failure) -> T {
        if let value { return value }
        throw missing(fields, key)
    }

    @inline(never)
    func missing(_ fields: YAMLMapping, _ key: StaticString) -> Failure {
        if let entry = fields.entry(key) { return fieldFailure(entry.value.line, fields.context, key, "a value is required") }
        return fieldFailure(fields.line, fields.context, key, "missing; the field is required")
    }

    /// The value of a required key, or an error naming it at the mapping (absent) or the value (null).
    @inline(never)
    func required(_ fields: YAMLMapping, _ key: StaticString) throws(Failure) -> YAMLNode {
        if let value = fields.value(key) { return value }
        throw missing(fields, key)
    }

    // MARK: Fields of an item
    //
    // These do not throw: a value of the wrong type is recorded in the mapping (the first one counts) and
    // reported by `finish`, with the unknown keys, once the item's keys have all been read. So a read is a
    // plain call at each of the many places that read a field, without the code that passes a thrown
    // error on.

    @inline(never)
    func list(_ fields: YAMLMapping, _ key: StaticString) -> [YAMLNode]? {
        guard let value = fields.value(key) else { return nil }
        guard value.isSequence else {
            fields.record(fieldFailure(value.line, fields.context, key, "expected a list, got \(value.described)"))
            return nil
        }
        var items: [YAMLNode] = []
        let stack = value.raw.data.sequence.items
        guard var item = stack.start, let top = stack.top else { return items }
        while item < top {
            do throws(Failure) {
                items.append(try node(item.pointee, of: value, near: value.line, fields.context))
            } catch {
                fields.record(error)
                return nil
            }
            item += 1
        }
        return items
    }

    // Table fields: the key from the table; the value, when the file gives one, over the default.

    @inline(never)
    func read<T: FixedWidthInteger & UnsignedInteger>(_ fields: YAMLMapping, _ field: ConfigField<T>,
                                                      into value: inout T) {
        if let number = integer(fields, field.key, T.self) { value = number }
    }

    @inline(never)
    func read(_ fields: YAMLMapping, _ field: ConfigField<Double>, into value: inout Double) {
        if let number = decimal(fields, field.key) { value = number }
    }

    @inline(never)
    func read(_ fields: YAMLMapping, _ field: ConfigField<Bool>, into value: inout Bool) {
        if let flag = boolean(fields, field.key) { value = flag }
    }

    @inline(never)
    func string(_ fields: YAMLMapping, _ key: StaticString) -> String? {
        guard let value = fields.value(key) else { return nil }
        do throws(Failure) {
            return try string(value, fields.context, key)
        } catch {
            fields.record(error)
            return nil
        }
    }

    @inline(never)
    func integer<T: FixedWidthInteger & UnsignedInteger>(_ fields: YAMLMapping, _ key: StaticString,
                                                         _ type: T.Type) -> T? {
        guard let value = fields.value(key) else { return nil }
        return unsigned(value, max: UInt64(T.max), fields, key).map { T(truncatingIfNeeded: $0) }
    }

    /// An unsigned integer up to `max` (nil, recorded, when it is not).
    @inline(never)
    func unsigned(_ value: YAMLNode, max: UInt64, _ fields: YAMLMapping, _ key: StaticString) -> UInt64? {
        guard let text = value.plainText, let number = parseUnsignedInteger(text, max: max) else {
            fields.record(fieldFailure(value.line, fields.context, key, "expected an integer 0..\(max), got \(value.described)"))
            return nil
        }
        return number
    }

    @inline(never)
    func decimal(_ fields: YAMLMapping, _ key: StaticString) -> Double? {
        guard let value = fields.value(key) else { return nil }
        guard let text = value.plainText, let number = parseDecimalNumber(text) else {
            fields.record(fieldFailure(value.line, fields.context, key, "expected a finite number, got \(value.described)"))
            return nil
        }
        return number
    }

    @inline(never)
    func boolean(_ fields: YAMLMapping, _ key: StaticString) -> Bool? {
        guard let value = fields.value(key) else { return nil }
        guard let text = value.plainText, let flag = parseBoolean(text) else {
            fields.record(fieldFailure(value.line, fields.context, key, "expected true or false, got \(value.described)"))
            return nil
        }
        return flag
    }

    @inline(never)
    func keyword(_ fields: YAMLMapping, _ key: StaticString, _ set: KeywordSet) -> UInt8? {
        guard let value = fields.value(key) else { return nil }
        do throws(Failure) {
            return try keyword(value, fields.context, key, set)
        } catch {
            fields.record(error)
            return nil
        }
    }

    // MARK: What an item needs before the rest: its name, a bus's type (thrown at once)

    @inline(never)
    func requiredString(_ fields: YAMLMapping, _ key: StaticString) throws(Failure) -> String {
        try string(try required(fields, key), fields.context, key)
    }

    func requiredKeyword(_ fields: YAMLMapping, _ key: StaticString, _ set: KeywordSet) throws(Failure) -> UInt8 {
        try keyword(try required(fields, key), fields.context, key, set)
    }

    @inline(never)
    func string(_ value: YAMLNode, _ context: String, _ key: StaticString) throws(Failure) -> String {
        guard let text = value.text else {
            throw fieldFailure(value.line, context, key, "expected a string, got \(value.described)")
        }
        guard !text.utf8.contains(0) else {
            throw fieldFailure(value.line, context, key, "the string contains a NUL character")
        }
        return text
    }

    @inline(never)
    func keyword(_ value: YAMLNode, _ context: String, _ key: StaticString, _ set: KeywordSet) throws(Failure) -> UInt8 {
        guard let text = value.text else {
            throw fieldFailure(value.line, context, key, "expected \(set.expected), got \(value.described)")
        }
        guard let result = set.match(text) else {
            throw fieldFailure(value.line, context, key, "unknown \(set.noun) '\(text)' (expected \(set.expected))")
        }
        return result
    }
}
