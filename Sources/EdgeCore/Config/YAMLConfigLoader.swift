import CShim

// The YAML site file: libyaml's document API turns the file into a node graph, and a reader walks it along
// the fixed schema (buses > devices > holes / channels), adding each item through SiteConfig's add* methods
// so that the C setters and the file share one validation. Every message carries "path:LINE: " (the path as
// FilePath prints it: bytes that are not UTF-8 as \xHH; the file itself is opened by its bytes).
//
// Schema (snake_case keys; unknown keys are errors; a null value, e.g. `unit_id:` or `~`, means "not given"):
//
//   buses:
//     - name, type (rtu | tcp), devices: [...]
//       rtu: device (required), baud, parity (N|E|O), data_bits, stop_bits, rs485, rts (none|up|down),
//            rts_delay_us, request_gap_ms, reopen_min_ms, reopen_max_ms
//       tcp: host (required), port, connect_timeout_ms, reconnect_min_ms, reconnect_max_ms, request_gap_ms
//   device: name, unit_id, response_timeout_ms, retries, offline_after, backoff_min_ms, backoff_max_ms,
//           max_registers, max_bits, one_channel_per_request, holes: [...], channels: [...]
//   hole: function (required), first (required), last (default: first)
//   channel: name, function, address (required), type, order, bit, unit, interval_ms, scale, offset,
//            valid_min, valid_max, sentinels, writable
//
// Integers are decimal or 0x-hex and are range-checked against their field's type (sentinels against the
// channel type's width); numbers are decimal (with fraction and exponent) or 0x-hex integers; booleans are
// true/false/yes/no/on/off. Everything here is Embedded-safe: no Foundation, no locale-dependent strtod, no
// trap on any input.

/// Parses a site file and adds its buses, devices, holes and channels to `config` through SiteConfig's add*
/// methods (so validation is shared). On error, `config` may be partly changed: the caller passes a copy
/// (all-or-nothing is the caller's job). Errors: file unreadable -> ConfigError(.system(errno), "path: <strerror
/// text>"); YAML syntax -> ConfigError(.configFile, "path:LINE: <libyaml's problem text>"); unknown key, wrong
/// scalar type, missing required key -> ConfigError(.configFile, "path:LINE: bus 'x', device 'y', channel 'z',
/// field 'f': <what>"); SiteConfig's own errors -> same kind as thrown, message prefixed with "path:LINE: " of
/// the offending item.
func loadSiteYAML(path: FilePath, into config: inout SiteConfig) throws(ConfigError) {
    let text = try WholeFile.read(path: path)
    defer { text.release() }
    try checkEvents(text, path)

    guard let parser = allocateZeroed(yaml_parser_t.self) else { throw outOfMemory(path) }
    defer { free(parser) }
    guard yaml_parser_initialize(parser) != 0 else { throw outOfMemory(path) }
    defer { yaml_parser_delete(parser) }
    yaml_parser_set_input_string(parser, text.bytes, text.count)

    guard let document = allocateZeroed(yaml_document_t.self) else { throw outOfMemory(path) }
    defer { free(document) }
    // On failure yaml_parser_load has already freed whatever it built.
    guard yaml_parser_load(parser, document) != 0 else { throw syntaxError(parser, text, path) }
    defer { yaml_document_delete(document) }
    try rejectFurtherDocuments(parser, text, path)

    let reader = SiteYAMLReader(path: path, document: document)
    try reader.load(into: &config)
}

// MARK: - File, parser and their errors

/// A whole file in malloc'd memory (Swift's own allocation traps when memory runs out): site files, and
/// the simulated GPIO chip's line names.
struct WholeFile {
    /// Larger files are refused (this also ends reading from endless files such as /dev/zero).
    static let maxBytes = 16 << 20

    let bytes: UnsafeMutablePointer<UInt8>
    let count: Int

    static func read(path: FilePath) throws(ConfigError) -> WholeFile {
        let (opened, openError) = path.withCString { cPath in
            let file = fopen(cPath, "rbe")
            return (file, ec_errno())
        }
        guard let file = opened else { throw systemError(openError, path) }
        defer { fclose(file) }

        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var capacity = 0
        var count = 0
        while true {
            if count == capacity {
                guard capacity <= maxBytes else {
                    free(buffer)
                    throw ConfigError(.limit, "\(path): larger than \(maxBytes >> 20) MiB")
                }
                let grown = capacity == 0 ? 16 << 10 : min(capacity * 2, maxBytes + 1)
                guard let raw = realloc(buffer, grown) else {
                    free(buffer)
                    throw outOfMemory(path)
                }
                buffer = raw.bindMemory(to: UInt8.self, capacity: grown)
                capacity = grown
            }
            guard let base = buffer else { throw outOfMemory(path) }
            let wanted = capacity - count
            let got = fread(base + count, 1, wanted, file)
            let readError = ec_errno()
            count += min(got, wanted)
            if got < wanted {
                if ferror(file) != 0 {
                    free(base)
                    throw systemError(readError == 0 ? EIO : readError, path)
                }
                return WholeFile(bytes: base, count: count)
            }
        }
    }

    func release() { free(bytes) }

    /// 1-based line of a byte offset.
    func line(ofOffset offset: Int) -> Int {
        var line = 1
        var index = 0
        while index < min(offset, count) {
            if bytes[index] == UInt8(ascii: "\n") { line += 1 }
            index += 1
        }
        return line
    }
}

private func allocateZeroed<T>(_ type: T.Type) -> UnsafeMutablePointer<T>? {
    calloc(1, MemoryLayout<T>.size)?.bindMemory(to: T.self, capacity: 1)
}

private func outOfMemory(_ path: FilePath) -> ConfigError {
    ConfigError(.outOfMemory, "\(path): out of memory")
}

private func systemError(_ code: Int32, _ path: FilePath) -> ConfigError {
    let text = SystemError.description(code).map { String(cString: $0) } ?? "error \(code)"
    return ConfigError(.system(code), "\(path): \(text)")
}

/// 1-based line of a libyaml mark (0-based).
private func lineNumber(of mark: yaml_mark_t) -> Int {
    Int(truncatingIfNeeded: mark.line) &+ 1
}

private func syntaxError(_ parser: UnsafeMutablePointer<yaml_parser_t>, _ text: WholeFile,
                         _ path: FilePath) -> ConfigError {
    let state = parser.pointee
    if state.error == YAML_MEMORY_ERROR { return outOfMemory(path) }
    let problem = state.problem.map { String(cString: $0) } ?? "invalid YAML"
    // The reader (encoding checks) reports a byte offset, the scanner, parser and composer a mark.
    let at = state.error == YAML_READER_ERROR
        ? text.line(ofOffset: Int(truncatingIfNeeded: state.problem_offset))
        : lineNumber(of: state.problem_mark)
    return ConfigError(.configFile, "\(path):\(at): \(problem)")
}

/// A site file is one YAML document: a second one is refused rather than silently ignored.
private func rejectFurtherDocuments(_ parser: UnsafeMutablePointer<yaml_parser_t>, _ text: WholeFile,
                                    _ path: FilePath) throws(ConfigError) {
    guard let next = allocateZeroed(yaml_document_t.self) else { throw outOfMemory(path) }
    defer { free(next) }
    guard yaml_parser_load(parser, next) != 0 else { throw syntaxError(parser, text, path) }
    defer { yaml_document_delete(next) }
    if let root = yaml_document_get_root_node(next) {
        throw ConfigError(.configFile, "\(path):\(lineNumber(of: root.pointee.start_mark)): a site file holds one YAML document, a second one starts here")
    }
}

// MARK: - Events

/// The deepest nesting of lists and mappings a site file may have: its schema needs 8 (top > buses > bus >
/// devices > device > channels > channel > sentinels).
let maxYAMLDepth = 16

/// One pass over the file's events before libyaml builds the document: refuses nesting deeper than
/// maxYAMLDepth at the event that passes it (libyaml's scanner takes time quadratic in the depth, tens of
/// seconds for 200 KB of `[[[...`, and its document would be as deep), and refuses tags (`!!str 12`, `!x`):
/// a value's type is what the field says. Syntax errors are reported as yaml_parser_load reports them.
private func checkEvents(_ text: WholeFile, _ path: FilePath) throws(ConfigError) {
    guard let parser = allocateZeroed(yaml_parser_t.self) else { throw outOfMemory(path) }
    defer { free(parser) }
    guard yaml_parser_initialize(parser) != 0 else { throw outOfMemory(path) }
    defer { yaml_parser_delete(parser) }
    yaml_parser_set_input_string(parser, text.bytes, text.count)
    guard let event = allocateZeroed(yaml_event_t.self) else { throw outOfMemory(path) }
    defer { free(event) }

    /// An open list or mapping: the field it is the value of, and for a mapping whether a key comes next.
    struct Level {
        var isMapping: Bool
        var keyNext: Bool
        var field: String
    }
    var levels: [Level] = []
    while true {
        guard yaml_parser_parse(parser, event) != 0 else { throw syntaxError(parser, text, path) }
        defer { yaml_event_delete(event) }
        let data = event.pointee.data
        let type = event.pointee.type
        if type == YAML_STREAM_END_EVENT { return }
        if type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT {
            _ = levels.popLast()
            continue
        }
        let tag: UnsafeMutablePointer<yaml_char_t>?
        switch type {
        case YAML_SCALAR_EVENT: tag = data.scalar.tag
        case YAML_SEQUENCE_START_EVENT: tag = data.sequence_start.tag
        case YAML_MAPPING_START_EVENT: tag = data.mapping_start.tag
        default: continue  // stream, document start and end; aliases
        }
        // The field this node is (a key), or belongs to.
        var field = levels.last?.field ?? ""
        if let parent = levels.last, parent.isMapping {
            if parent.keyNext, type == YAML_SCALAR_EVENT, let value = data.scalar.value {
                field = String(decoding: UnsafeBufferPointer(start: value, count: data.scalar.length), as: UTF8.self)
                levels[levels.count - 1].field = field
            }
            levels[levels.count - 1].keyNext.toggle()
        }
        if let tag {
            throw eventFailure(event, field, path, "tag '\(String(cString: tag))': site files use no tags (a field's type is fixed)")
        }
        if type != YAML_SCALAR_EVENT {
            guard levels.count < maxYAMLDepth else {
                throw eventFailure(event, field, path, "lists and mappings nested deeper than \(maxYAMLDepth) levels")
            }
            levels.append(Level(isMapping: type == YAML_MAPPING_START_EVENT, keyNext: true, field: field))
        }
    }
}

@inline(never)
private func eventFailure(_ event: UnsafeMutablePointer<yaml_event_t>, _ field: String, _ path: FilePath,
                          _ what: Message) -> ConfigError {
    let line = lineNumber(of: event.pointee.start_mark)
    return ConfigError(.configFile, field.isEmpty ? "\(path):\(line): \(what)" : "\(path):\(line): field '\(field)': \(what)")
}

// MARK: - Nodes

/// A node of the loaded document (a copy of libyaml's; its pointers live as long as the document).
private struct Node {
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
        if !isPlain { return "the string '\(text ?? "")' (quoted)" }
        return "'\(text ?? "")'"
    }
}

/// The entries of a mapping node, keys checked to be unique scalars.
private struct Mapping {
    struct Entry {
        var key: String
        var value: Node
    }

    /// A key given a second time (reported by `check`, once the item's name is known for the message).
    struct Repeat {
        var key: String
        var line: Int
        var firstLine: Int
    }

    let line: Int
    let context: String
    var entries: [Entry] = []
    /// Each key's entry: a key's value is one hash away, however many keys the mapping has.
    var index: [TextKey: Int] = [:]
    var repeated: Repeat? = nil

    /// The same entries under another context (once the item's name is known).
    func named(_ context: String) -> Mapping {
        Mapping(line: line, context: context, entries: entries, index: index, repeated: repeated)
    }

    /// The entry of `key`, null or not.
    func entry(_ key: String) -> Entry? { index[TextKey(key)].map { entries[$0] } }

    /// The value of `key`; nil when the key is absent or its value is null.
    func value(_ key: String) -> Node? {
        guard let entry = entry(key), !entry.value.isNull else { return nil }
        return entry.value
    }
}

// MARK: - Reader

private enum BusType {
    case tcp
    case rtu
    case gpio
}

private struct SiteYAMLReader {
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
        let root = Node(raw: rootPointer.pointee)
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

    // MARK: Items

    private func loadBus(_ node: Node, number: Int, into config: inout SiteConfig) throws(ConfigError) {
        let unnamed = try mapping(node, context: "bus #\(number)")
        let name = try requiredString(unnamed, "name")
        let fields = unnamed.named("bus '\(name)'")
        let type = try requiredKeyword(fields, "type", noun: "bus type", expected: "rtu, tcp or gpio") { text in
            matchKeyword(text, in: [
                ("tcp" as StaticString, BusType.tcp),
                ("rtu", .rtu),
                ("gpio", .gpio),
            ])
        }
        if type == .gpio {
            try loadGPIOChip(fields, name: name, into: &config)
            return
        }
        let bus: BusSpec
        if type == .tcp {
            try check(fields, allowed: SiteYAMLReader.tcpKeys)
            var spec = TCPBusSpec(name: name, host: try requiredString(fields, "host"))
            if let value = try integer(fields, "port", UInt16.self) { spec.port = value }
            if let value = try integer(fields, "connect_timeout_ms", UInt32.self) { spec.connectTimeoutMs = value }
            if let value = try integer(fields, "reconnect_min_ms", UInt32.self) { spec.reconnectMinMs = value }
            if let value = try integer(fields, "reconnect_max_ms", UInt32.self) { spec.reconnectMaxMs = value }
            if let value = try integer(fields, "request_gap_ms", UInt32.self) { spec.requestGapMs = value }
            bus = .tcp(spec)
        } else {
            try check(fields, allowed: SiteYAMLReader.rtuKeys)
            var spec = RTUBusSpec(name: name, device: FilePath(try requiredString(fields, "device")))
            if let value = try integer(fields, "baud", UInt32.self) { spec.baud = value }
            if let value = try keyword(fields, "parity", noun: "parity", expected: "N, E or O", parseParity) {
                spec.parity = value
            }
            if let value = try integer(fields, "data_bits", UInt8.self) { spec.dataBits = value }
            if let value = try integer(fields, "stop_bits", UInt8.self) { spec.stopBits = value }
            if let value = try boolean(fields, "rs485") { spec.rs485 = value }
            if let value = try keyword(fields, "rts", noun: "rts mode", expected: "none, up or down", parseRTS) {
                spec.rts = value
            }
            if let value = try integer(fields, "rts_delay_us", UInt32.self) { spec.rtsDelayUs = value }
            if let value = try integer(fields, "request_gap_ms", UInt32.self) { spec.requestGapMs = value }
            if let value = try integer(fields, "reopen_min_ms", UInt32.self) { spec.reopenMinMs = value }
            if let value = try integer(fields, "reopen_max_ms", UInt32.self) { spec.reopenMaxMs = value }
            bus = .rtu(spec)
        }
        let busID: Int
        do throws(ConfigError) { busID = try config.addBus(bus) } catch { throw located(error, fields.line) }

        guard let devices = try list(fields, "devices") else { return }
        for (index, device) in devices.enumerated() {
            try loadDevice(device, number: index + 1, bus: busID, busContext: fields.context, into: &config)
        }
    }

    private func loadGPIOChip(_ fields: Mapping, name: String, into config: inout SiteConfig) throws(ConfigError) {
        try check(fields, allowed: SiteYAMLReader.gpioKeys)
        var spec = GPIOChipSpec(name: name, chip: FilePath(try requiredString(fields, "chip")))
        spec.checkpointPath = try string(fields, "checkpoint_path").map { FilePath($0) }
        if let value = try integer(fields, "checkpoint_max_per_hour", UInt32.self) { spec.checkpointMaxPerHour = value }
        if let value = try integer(fields, "event_buffer_size", UInt32.self) { spec.eventBufferSize = value }
        let busID: Int
        do throws(ConfigError) { busID = try config.addBus(.gpio(spec)) } catch { throw located(error, fields.line) }
        guard let lines = try list(fields, "lines") else { return }
        for (index, line) in lines.enumerated() {
            try loadGPIOLine(line, number: index + 1, bus: busID, busContext: fields.context, into: &config)
        }
    }

    private func loadGPIOLine(_ node: Node, number: Int, bus: Int, busContext: String,
                              into config: inout SiteConfig) throws(ConfigError) {
        let unnamed = try mapping(node, context: "\(busContext), line #\(number)")
        let name = try requiredString(unnamed, "name")
        let fields = unnamed.named("\(busContext), channel '\(name)'")
        try check(fields, allowed: SiteYAMLReader.lineKeys)
        var line = GPIOLineSpec(bus: bus)
        line.lineName = try string(fields, "line_name")
        let offset = try integer(fields, "offset", UInt32.self)
        if (line.lineName == nil) == (offset == nil) {
            throw failure(fields.line, fields.context, "give the line by 'offset' or by 'line_name' (one of them)")
        }
        line.offset = offset ?? 0
        line.kind = try keyword(fields, "kind", noun: "line kind", expected: "input, output or pulses") { text in
            matchKeyword(text, in: [("input" as StaticString, GPIOKind.input), ("output", .output), ("pulses", .pulses)])
        } ?? .input
        line.bias = try keyword(fields, "bias", noun: "bias", expected: "as_is, disabled, pull_up or pull_down") { text in
            matchKeyword(text, in: [("as_is" as StaticString, GPIOBias.asIs), ("disabled", .disabled), ("pull_up", .pullUp),
                                    ("pull_down", .pullDown)])
        } ?? .asIs
        line.activeLow = try boolean(fields, "active_low") ?? false
        line.safeState = try keyword(fields, "safe_state", noun: "safe state", expected: "0, 1, true or false") { text in
            parseBoolean(text) ?? parseUnsignedInteger(text, max: 1).map { $0 == 1 }
        } ?? false
        line.edge = try keyword(fields, "edge", noun: "edge", expected: "rising, falling or both") { text in
            matchKeyword(text, in: [("rising" as StaticString, GPIOEdgeKind.rising), ("falling", .falling), ("both", .both)])
        } ?? .rising
        if let value = try integer(fields, "debounce_us", UInt32.self) { line.debounceUs = value }
        if let value = try decimal(fields, "scale") { line.scale = value }
        if let value = try decimal(fields, "base") { line.base = value }
        let channel = ChannelSpec(name: name, unit: try string(fields, "unit") ?? "",
                                  writable: try boolean(fields, "writable") ?? false,
                                  intervalMs: try integer(fields, "interval_ms", UInt32.self) ?? 1000, gpio: line)
        do throws(ConfigError) { _ = try config.addGPIOLine(channel) } catch { throw located(error, fields.line) }
    }

    private func loadDevice(_ node: Node, number: Int, bus: Int, busContext: String,
                            into config: inout SiteConfig) throws(ConfigError) {
        let unnamed = try mapping(node, context: "\(busContext), device #\(number)")
        let name = try requiredString(unnamed, "name")
        let fields = unnamed.named("\(busContext), device '\(name)'")
        try check(fields, allowed: SiteYAMLReader.deviceKeys)
        var spec = DeviceSpec(name: name, bus: bus)
        if let value = try integer(fields, "unit_id", UInt8.self) { spec.unitId = value }
        if let value = try integer(fields, "response_timeout_ms", UInt32.self) { spec.responseTimeoutMs = value }
        if let value = try integer(fields, "retries", UInt32.self) { spec.retries = value }
        if let value = try integer(fields, "offline_after", UInt32.self) { spec.offlineAfter = value }
        if let value = try integer(fields, "backoff_min_ms", UInt32.self) { spec.backoffMinMs = value }
        if let value = try integer(fields, "backoff_max_ms", UInt32.self) { spec.backoffMaxMs = value }
        if let value = try integer(fields, "max_registers", UInt16.self) { spec.maxRegisters = value }
        if let value = try integer(fields, "max_bits", UInt16.self) { spec.maxBits = value }
        if let value = try boolean(fields, "one_channel_per_request") { spec.oneChannelPerRequest = value }
        let deviceID: Int
        do throws(ConfigError) { deviceID = try config.addDevice(spec) } catch { throw located(error, fields.line) }

        // Holes first, whatever the key order, so that a channel inside one is caught at the channel.
        if let holes = try list(fields, "holes") {
            for (index, hole) in holes.enumerated() {
                try loadHole(hole, number: index + 1, device: deviceID, deviceContext: fields.context, into: &config)
            }
        }
        if let channels = try list(fields, "channels") {
            for (index, channel) in channels.enumerated() {
                try loadChannel(channel, number: index + 1, device: deviceID, deviceContext: fields.context,
                                into: &config)
            }
        }
    }

    private func loadHole(_ node: Node, number: Int, device: Int, deviceContext: String,
                          into config: inout SiteConfig) throws(ConfigError) {
        let fields = try mapping(node, context: "\(deviceContext), hole #\(number)")
        try check(fields, allowed: SiteYAMLReader.holeKeys)
        let function = try requiredKeyword(fields, "function", noun: "function", expected: functionNames,
                                           parseFunction)
        let first = try requiredInteger(fields, "first", UInt16.self)
        let last = try integer(fields, "last", UInt16.self) ?? first
        let hole = Hole(function: function, first: first, last: last)
        do throws(ConfigError) { try config.addHole(hole, device: device) } catch { throw located(error, fields.line) }
    }

    private func loadChannel(_ node: Node, number: Int, device: Int, deviceContext: String,
                             into config: inout SiteConfig) throws(ConfigError) {
        let unnamed = try mapping(node, context: "\(deviceContext), channel #\(number)")
        let name = try requiredString(unnamed, "name")
        let fields = unnamed.named("\(deviceContext), channel '\(name)'")
        try check(fields, allowed: SiteYAMLReader.channelKeys)
        let function = try keyword(fields, "function", noun: "function", expected: functionNames, parseFunction)
            ?? .holdingRegisters
        let address = try requiredInteger(fields, "address", UInt16.self)
        let type = try keyword(fields, "type", noun: "type", expected: "u16, i16, u32, i32, u64, i64, f32, f64 or bit",
                               parseValueType) ?? .u16
        let order = try keyword(fields, "order", noun: "order", expected: "ABCD, CDAB, BADC or DCBA",
                                parseWordOrder) ?? .abcd
        let bit = try integer(fields, "bit", UInt8.self) ?? 0
        let unit = try string(fields, "unit") ?? ""
        let intervalMs = try integer(fields, "interval_ms", UInt32.self) ?? 1000
        let scale = try decimal(fields, "scale") ?? 1
        let offset = try decimal(fields, "offset") ?? 0
        let validMin = try decimal(fields, "valid_min")
        let validMax = try decimal(fields, "valid_max")
        // A sentinel is compared with the raw value of the type's width: wider ones could never match.
        let rawMax: UInt64 = type == .bit ? 1 : (type.registerCount >= 4 ? .max : (1 << (16 * type.registerCount)) - 1)
        var sentinels: [UInt64] = []
        if let items = try list(fields, "sentinels") {
            for item in items {
                sentinels.append(try unsigned(item, max: rawMax, fields.context, "sentinels"))
            }
        }
        let writable = try boolean(fields, "writable") ?? false
        let codec = ValueCodec(type: type, order: order, bit: bit, scale: scale, offset: offset, validMin: validMin,
                               validMax: validMax, sentinels: sentinels)
        let channel = ChannelSpec(name: name, unit: unit, device: device, function: function, address: address,
                                  codec: codec, writable: writable, intervalMs: intervalMs)
        do throws(ConfigError) { _ = try config.addChannel(channel) } catch { throw located(error, fields.line) }
    }

    /// A SiteConfig error, prefixed with the offending item's "path:LINE: ".
    @inline(never)
    private func located(_ error: ConfigError, _ line: Int) -> ConfigError {
        ConfigError(error.kind, "\(path):\(line): \(error.message)")
    }

    // MARK: Structure

    @inline(never)
    private func failure(_ line: Int, _ context: String, _ what: Message) -> ConfigError {
        ConfigError(.configFile, context.isEmpty ? "\(path):\(line): \(what)" : "\(path):\(line): \(context): \(what)")
    }

    @inline(never)
    private func fieldFailure(_ line: Int, _ context: String, _ field: String, _ what: Message) -> ConfigError {
        failure(line, context.isEmpty ? "field '\(field)'" : "\(context), field '\(field)'", what)
    }

    @inline(never)
    private func node(_ id: yaml_node_item_t, near line: Int, _ context: String) throws(ConfigError) -> Node {
        guard let pointer = yaml_document_get_node(document, id) else {
            throw failure(line, context, "malformed YAML document")
        }
        return Node(raw: pointer.pointee)
    }

    @inline(never)
    private func mapping(_ node: Node, context: String) throws(ConfigError) -> Mapping {
        guard node.isMapping else { throw failure(node.line, context, "expected a mapping, got \(node.described)") }
        var result = Mapping(line: node.line, context: context)
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
                    result.repeated = Mapping.Repeat(key: name, line: key.line, firstLine: result.entries[earlier].value.line)
                }
            } else {
                result.index[TextKey(name)] = result.entries.count
            }
            result.entries.append(Mapping.Entry(key: name, value: value))
            pair += 1
        }
        return result
    }

    /// Every key allowed and given once.
    @inline(never)
    private func check(_ fields: Mapping, allowed: [String]) throws(ConfigError) {
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
    private func required(_ fields: Mapping, _ key: String) throws(ConfigError) -> Node {
        if let value = fields.value(key) { return value }
        if let entry = fields.entry(key) {
            throw fieldFailure(entry.value.line, fields.context, key, "a value is required")
        }
        throw fieldFailure(fields.line, fields.context, key, "missing; the field is required")
    }

    @inline(never)
    private func list(_ fields: Mapping, _ key: String) throws(ConfigError) -> [Node]? {
        guard let value = fields.value(key) else { return nil }
        guard value.isSequence else {
            throw fieldFailure(value.line, fields.context, key, "expected a list, got \(value.described)")
        }
        var items: [Node] = []
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
    private func string(_ fields: Mapping, _ key: String) throws(ConfigError) -> String? {
        guard let value = fields.value(key) else { return nil }
        return try string(value, fields.context, key)
    }

    @inline(never)
    private func requiredString(_ fields: Mapping, _ key: String) throws(ConfigError) -> String {
        try string(try required(fields, key), fields.context, key)
    }

    @inline(never)
    private func string(_ value: Node, _ context: String, _ key: String) throws(ConfigError) -> String {
        guard let text = value.text else {
            throw fieldFailure(value.line, context, key, "expected a string, got \(value.described)")
        }
        guard !text.utf8.contains(0) else {
            throw fieldFailure(value.line, context, key, "the string contains a NUL character")
        }
        return text
    }

    @inline(never)
    private func integer<T: FixedWidthInteger & UnsignedInteger>(_ fields: Mapping, _ key: String,
                                                                 _ type: T.Type) throws(ConfigError) -> T? {
        guard let value = fields.value(key) else { return nil }
        return T(truncatingIfNeeded: try unsigned(value, max: UInt64(T.max), fields.context, key))
    }

    @inline(never)
    private func requiredInteger<T: FixedWidthInteger & UnsignedInteger>(_ fields: Mapping, _ key: String,
                                                                         _ type: T.Type) throws(ConfigError) -> T {
        let value = try required(fields, key)
        return T(truncatingIfNeeded: try unsigned(value, max: UInt64(T.max), fields.context, key))
    }

    @inline(never)
    private func unsigned(_ value: Node, max: UInt64, _ context: String, _ key: String) throws(ConfigError) -> UInt64 {
        guard let text = value.plainText, let number = parseUnsignedInteger(text, max: max) else {
            throw fieldFailure(value.line, context, key, "expected an integer 0..\(max), got \(value.described)")
        }
        return number
    }

    @inline(never)
    private func decimal(_ fields: Mapping, _ key: String) throws(ConfigError) -> Double? {
        guard let value = fields.value(key) else { return nil }
        guard let text = value.plainText, let number = parseDecimalNumber(text) else {
            throw fieldFailure(value.line, fields.context, key, "expected a finite number, got \(value.described)")
        }
        return number
    }

    @inline(never)
    private func boolean(_ fields: Mapping, _ key: String) throws(ConfigError) -> Bool? {
        guard let value = fields.value(key) else { return nil }
        guard let text = value.plainText, let flag = parseBoolean(text) else {
            throw fieldFailure(value.line, fields.context, key, "expected true or false, got \(value.described)")
        }
        return flag
    }

    @inline(never)
    private func keyword<T>(_ fields: Mapping, _ key: String, noun: String, expected: String,
                            _ parse: (String) -> T?) throws(ConfigError) -> T? {
        guard let value = fields.value(key) else { return nil }
        return try keyword(value, fields.context, key, noun: noun, expected: expected, parse)
    }

    private func requiredKeyword<T>(_ fields: Mapping, _ key: String, noun: String, expected: String,
                                    _ parse: (String) -> T?) throws(ConfigError) -> T {
        try keyword(try required(fields, key), fields.context, key, noun: noun, expected: expected, parse)
    }

    @inline(never)
    private func keyword<T>(_ value: Node, _ context: String, _ key: String, noun: String, expected: String,
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
    private func scalarText(_ value: Node, _ context: String, _ key: String,
                            expected: String) throws(ConfigError) -> String {
        guard let text = value.text else {
            throw fieldFailure(value.line, context, key, "expected \(expected), got \(value.described)")
        }
        return text
    }

    @inline(never)
    private func unknownKeyword(_ value: Node, _ context: String, _ key: String, noun: String, text: String,
                                expected: String) -> ConfigError {
        fieldFailure(value.line, context, key, "unknown \(noun) '\(text)' (expected \(expected))")
    }
}

// MARK: - Scalar syntax (internal for the tests)

private let functionNames = "coils, discrete, holding, input or 1..4"

func parseFunction(_ text: String) -> ModbusFunction? {
    if let value = matchKeyword(text, in: [
        ("coils" as StaticString, ModbusFunction.coils),
        ("coil", .coils),
        ("discrete", .discreteInputs),
        ("discrete_inputs", .discreteInputs),
        ("discrete_input", .discreteInputs),
        ("holding", .holdingRegisters),
        ("holding_registers", .holdingRegisters),
        ("holding_register", .holdingRegisters),
        ("input", .inputRegisters),
        ("input_registers", .inputRegisters),
        ("input_register", .inputRegisters),
    ]) { return value }
    guard let code = parseUnsignedInteger(text, max: 4) else { return nil }
    return ModbusFunction(rawValue: UInt8(truncatingIfNeeded: code))
}

func parseValueType(_ text: String) -> ValueType? {
    matchKeyword(text, in: [
        ("u16", .u16),
        ("i16", .i16),
        ("u32", .u32),
        ("i32", .i32),
        ("u64", .u64),
        ("i64", .i64),
        ("f32", .f32),
        ("f64", .f64),
        ("bit", .bit),
    ])
}

func parseWordOrder(_ text: String) -> WordOrder? {
    matchKeyword(text, in: [
        ("abcd", .abcd),
        ("cdab", .cdab),
        ("badc", .badc),
        ("dcba", .dcba),
    ])
}

private func parseParity(_ text: String) -> UInt8? {
    matchKeyword(text, in: [
        ("n", UInt8(ascii: "N")),
        ("none", UInt8(ascii: "N")),
        ("e", UInt8(ascii: "E")),
        ("even", UInt8(ascii: "E")),
        ("o", UInt8(ascii: "O")),
        ("odd", UInt8(ascii: "O")),
    ])
}

private func parseRTS(_ text: String) -> UInt8? {
    matchKeyword(text, in: [
        ("none", 0),
        ("0", 0),
        ("up", 1),
        ("1", 1),
        ("down", 2),
        ("2", 2),
    ])
}

func parseBoolean(_ text: String) -> Bool? {
    matchKeyword(text, in: [
        ("true", true),
        ("yes", true),
        ("on", true),
        ("false", false),
        ("no", false),
        ("off", false),
    ])
}

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
