import CShim

// The walk along the site file's schema: the top mapping, and the structure and scalar readers every item uses
// (each names file, line, item and field in its errors). The items themselves: SiteYAMLReader+Items.swift.

enum BusType {
    case tcp
    case rtu
    case gpio
}

struct SiteYAMLReader {
    let path: FilePath
    let document: UnsafeMutablePointer<yaml_document_t>

    static let busKeys = ["name", "type", "devices", "request_gap_ms"]
    static let tcpKeys = busKeys + ["host", "port", "connect_timeout_ms", "reconnect_min_ms", "reconnect_max_ms"]
    static let rtuKeys = busKeys + ["device", "baud", "parity", "data_bits", "stop_bits", "rs485", "rts",
                                    "rts_delay_us", "reopen_min_ms", "reopen_max_ms"]
    static let deviceKeys = ["name", "unit_id", "response_timeout_ms", "retries", "offline_after",
                             "backoff_min_ms", "backoff_max_ms", "max_registers", "max_bits",
                             "one_channel_per_request", "holes", "channels"]
    static let gpioKeys = ["name", "type", "chip", "checkpoint_path", "checkpoint_max_per_hour", "event_buffer_size",
                           "lines"]
    static let lineKeys = ["name", "line_name", "offset", "kind", "bias", "active_low", "writable", "safe_state",
                           "interval_ms", "unit", "edge", "debounce_us", "scale", "base"]
    static let holeKeys = ["function", "first", "last"]
    static let channelKeys = ["name", "function", "address", "type", "order", "bit", "unit", "interval_ms",
                              "scale", "offset", "valid_min", "valid_max", "sentinels", "writable"]

    func load(into config: inout SiteConfig) throws(ConfigError) {
        guard let rootPointer = yaml_document_get_root_node(document) else { return }  // empty file
        let root = YAMLNode(raw: rootPointer.pointee)
        if root.isNull { return }
        guard root.isMapping else {
            throw failure(root.line, "", "expected a mapping with a 'buses' list, got \(root.described)")
        }
        let top = try mapping(root, context: "")
        try check(top, allowed: ["buses"])
        guard let buses = try list(top, "buses") else { return }
        for (index, bus) in buses.enumerated() {
            try loadBus(bus, number: index + 1, into: &config)
        }
    }

    /// A SiteConfig error, prefixed with the offending item's "path:LINE: ".
    @inline(never)
    func located(_ error: ConfigError, _ line: Int) -> ConfigError {
        ConfigError(error.kind, "\(path):\(line): \(error.message)")
    }

    // MARK: Structure

    @inline(never)
    func failure(_ line: Int, _ context: String, _ what: Message) -> ConfigError {
        ConfigError(.configFile, context.isEmpty ? "\(path):\(line): \(what)" : "\(path):\(line): \(context): \(what)")
    }

    @inline(never)
    func fieldFailure(_ line: Int, _ context: String, _ field: String, _ what: Message) -> ConfigError {
        failure(line, context.isEmpty ? "field '\(field)'" : "\(context), field '\(field)'", what)
    }

    @inline(never)
    func node(_ id: yaml_node_item_t, near line: Int, _ context: String) throws(ConfigError) -> YAMLNode {
        guard let pointer = yaml_document_get_node(document, id) else {
            throw failure(line, context, "malformed YAML document")
        }
        return YAMLNode(raw: pointer.pointee)
    }

    @inline(never)
    func mapping(_ node: YAMLNode, context: String) throws(ConfigError) -> YAMLMapping {
        guard node.isMapping else { throw failure(node.line, context, "expected a mapping, got \(node.described)") }
        var result = YAMLMapping(line: node.line, context: context)
        let pairs = node.raw.data.mapping.pairs
        guard var pair = pairs.start, let top = pairs.top else { return result }
        while pair < top {
            let key = try self.node(pair.pointee.key, near: node.line, context)
            let value = try self.node(pair.pointee.value, near: key.line, context)
            guard let name = key.text else {
                throw failure(key.line, context, "expected a field name, got \(key.described)")
            }
            if let earlier = result.index[TextKey(name)] {
                if result.repeated == nil {
                    result.repeated = YAMLMapping.Repeat(key: name, line: key.line, firstLine: result.entries[earlier].value.line)
                }
            } else {
                result.index[TextKey(name)] = result.entries.count
            }
            result.entries.append(YAMLMapping.Entry(key: name, value: value))
            pair += 1
        }
        return result
    }

    /// Every key allowed and given once.
    @inline(never)
    func check(_ fields: YAMLMapping, allowed: [String]) throws(ConfigError) {
        if let repeated = fields.repeated {
            throw fieldFailure(repeated.line, fields.context, repeated.key,
                               "given twice (first at line \(repeated.firstLine))")
        }
        for entry in fields.entries where !allowed.contains(where: { sameText($0, entry.key) }) {
            var expected = ""
            for key in allowed { expected += expected.isEmpty ? key : ", \(key)" }
            throw fieldFailure(entry.value.line, fields.context, entry.key, "unknown key (expected one of: \(expected))")
        }
    }

    /// The value of a required key, or an error naming it at the mapping (absent) or the value (null).
    @inline(never)
    func required(_ fields: YAMLMapping, _ key: String) throws(ConfigError) -> YAMLNode {
        if let value = fields.value(key) { return value }
        if let entry = fields.entry(key) {
            throw fieldFailure(entry.value.line, fields.context, key, "a value is required")
        }
        throw fieldFailure(fields.line, fields.context, key, "missing; the field is required")
    }

    @inline(never)
    func list(_ fields: YAMLMapping, _ key: String) throws(ConfigError) -> [YAMLNode]? {
        guard let value = fields.value(key) else { return nil }
        guard value.isSequence else {
            throw fieldFailure(value.line, fields.context, key, "expected a list, got \(value.described)")
        }
        var items: [YAMLNode] = []
        let stack = value.raw.data.sequence.items
        guard var item = stack.start, let top = stack.top else { return items }
        while item < top {
            items.append(try node(item.pointee, near: value.line, fields.context))
            item += 1
        }
        return items
    }

    // MARK: Scalars

    @inline(never)
    func string(_ fields: YAMLMapping, _ key: String) throws(ConfigError) -> String? {
        guard let value = fields.value(key) else { return nil }
        return try string(value, fields.context, key)
    }

    @inline(never)
    func requiredString(_ fields: YAMLMapping, _ key: String) throws(ConfigError) -> String {
        try string(try required(fields, key), fields.context, key)
    }

    @inline(never)
    func string(_ value: YAMLNode, _ context: String, _ key: String) throws(ConfigError) -> String {
        guard let text = value.text else {
            throw fieldFailure(value.line, context, key, "expected a string, got \(value.described)")
        }
        guard !text.utf8.contains(0) else {
            throw fieldFailure(value.line, context, key, "the string contains a NUL character")
        }
        return text
    }

    @inline(never)
    func integer<T: FixedWidthInteger & UnsignedInteger>(_ fields: YAMLMapping, _ key: String,
                                                                 _ type: T.Type) throws(ConfigError) -> T? {
        guard let value = fields.value(key) else { return nil }
        return T(truncatingIfNeeded: try unsigned(value, max: UInt64(T.max), fields.context, key))
    }

    @inline(never)
    func requiredInteger<T: FixedWidthInteger & UnsignedInteger>(_ fields: YAMLMapping, _ key: String,
                                                                         _ type: T.Type) throws(ConfigError) -> T {
        let value = try required(fields, key)
        return T(truncatingIfNeeded: try unsigned(value, max: UInt64(T.max), fields.context, key))
    }

    @inline(never)
    func unsigned(_ value: YAMLNode, max: UInt64, _ context: String, _ key: String) throws(ConfigError) -> UInt64 {
        guard let text = value.plainText, let number = parseUnsignedInteger(text, max: max) else {
            throw fieldFailure(value.line, context, key, "expected an integer 0..\(max), got \(value.described)")
        }
        return number
    }

    @inline(never)
    func decimal(_ fields: YAMLMapping, _ key: String) throws(ConfigError) -> Double? {
        guard let value = fields.value(key) else { return nil }
        guard let text = value.plainText, let number = parseDecimalNumber(text) else {
            throw fieldFailure(value.line, fields.context, key, "expected a finite number, got \(value.described)")
        }
        return number
    }

    @inline(never)
    func boolean(_ fields: YAMLMapping, _ key: String) throws(ConfigError) -> Bool? {
        guard let value = fields.value(key) else { return nil }
        guard let text = value.plainText, let flag = parseBoolean(text) else {
            throw fieldFailure(value.line, fields.context, key, "expected true or false, got \(value.described)")
        }
        return flag
    }

    @inline(never)
    func keyword<T>(_ fields: YAMLMapping, _ key: String, noun: String, expected: String,
                            _ parse: (String) -> T?) throws(ConfigError) -> T? {
        guard let value = fields.value(key) else { return nil }
        return try keyword(value, fields.context, key, noun: noun, expected: expected, parse)
    }

    func requiredKeyword<T>(_ fields: YAMLMapping, _ key: String, noun: String, expected: String,
                                    _ parse: (String) -> T?) throws(ConfigError) -> T {
        try keyword(try required(fields, key), fields.context, key, noun: noun, expected: expected, parse)
    }

    @inline(never)
    func keyword<T>(_ value: YAMLNode, _ context: String, _ key: String, noun: String, expected: String,
                            _ parse: (String) -> T?) throws(ConfigError) -> T {
        let text = try scalarText(value, context, key, expected: expected)
        guard let result = parse(text) else {
            throw unknownKeyword(value, context, key, noun: noun, text: text, expected: expected)
        }
        return result
    }

    // Field readers are out of line (here and above): inlined, each call site would carry its own copy
    // of the message-building code, which made this file the largest part of libEdgeCore.
    @inline(never)
    func scalarText(_ value: YAMLNode, _ context: String, _ key: String,
                            expected: String) throws(ConfigError) -> String {
        guard let text = value.text else {
            throw fieldFailure(value.line, context, key, "expected \(expected), got \(value.described)")
        }
        return text
    }

    @inline(never)
    func unknownKeyword(_ value: YAMLNode, _ context: String, _ key: String, noun: String, text: String,
                                expected: String) -> ConfigError {
        fieldFailure(value.line, context, key, "unknown \(noun) '\(text)' (expected \(expected))")
    }
}
