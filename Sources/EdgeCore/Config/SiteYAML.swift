import CShim

// The YAML site file. One pass over libyaml's events bounds the nesting and refuses tags (YAMLEventCheck);
// then libyaml's document API turns the file into a node graph (YAMLNodes), and a reader walks it along the
// fixed schema (SiteYAMLReader; its items in SiteYAMLReader+Items; scalar syntax in YAMLScalarSyntax),
// buses > devices > holes / channels, adding each item through SiteConfig's add* methods so that the C
// setters and the file share one validation. Each field's key and default come from the configuration
// tables (ConfigTable.swift), its range is checked by SiteConfig from them. Every message carries
// "path:LINE: " (the path as FilePath prints it: bytes that are not UTF-8 as \xHH; the file itself is
// opened by its bytes).
//
// Schema (snake_case keys; a key the reader does not ask for is an error; a null value, e.g. `unit_id:` or
// `~`, means "not given"):
//
//   journal: path (required), size_limit_mb, segment_size_kb, sync_interval_ms, sync_every_readings,
//            max_syncs_per_hour, when_full (drop_oldest | refuse_newest), cursors: [names]
//   buses:
//     - name, type (rtu | tcp), devices: [...]
//       rtu: device (required), baud, parity (N|E|O), data_bits, stop_bits, rs485, rts (none|up|down),
//            rts_delay_us, request_gap_ms, reopen_min_ms, reopen_max_ms
//       tcp: host (required), port, connect_timeout_ms, reconnect_min_ms, reconnect_max_ms, request_gap_ms,
//            framing (mbap | transparent), line_baud (transparent)
//   device: name, profile (SiteYAMLReader+Profiles.swift), protocol (modbus | dlt645-2007 | dlt645-1997 | cjt188), response_timeout_ms, retries,
//           offline_after, backoff_min_ms, backoff_max_ms, channels: [...]
//           modbus: unit_id, max_registers, max_bits, one_channel_per_request, holes: [...]
//           meters: meter_address (required, a quoted string), preamble; CJ/T 188: meter_type,
//           identifier_order (low_first | high_first); DL/T 645: allow_time_sync
//   hole: function (required), first (required), last (default: first)
//   channel: name, unit, interval_ms, scale, offset, valid_min, valid_max, writable
//            modbus: function, address (required), type, order, bit, sentinels
//            DL/T 645: item (a catalogue name) or di (an identifier), format (bcd | bcd_signed | binary) with
//            length and decimals; CJ/T 188: item (required)
//   A field of the other protocol is refused, naming the field and the device's protocol
//   (SiteYAMLReader+Meters.swift).
//
// Integers are decimal without leading zeros (`017`: octal in YAML 1.1, decimal in 1.2; refused) or 0x-hex,
// and are range-checked against their field's type (sentinels against the channel type's width); numbers are
// decimal (with fraction and exponent) or 0x-hex integers; booleans are true/false/yes/no/on/off. Numbers
// and booleans are plain scalars: quoted ('12', "true") they are strings, an error. Tags (`!!str`, `!x`) are
// refused, and so is nesting deeper than maxYAMLDepth. Loading takes time linear in the file (keys, names,
// unit ids and GPIO lines are hashed). Everything here is Embedded-safe: no Foundation, no locale-dependent
// strtod, no trap on any input.

/// Parses a site file and adds its buses, devices, holes and channels to `config` through SiteConfig's add*
/// methods (so validation is shared). On error, `config` may be partly changed: the caller passes a copy
/// (all-or-nothing is the caller's job). Errors: file unreadable -> Failure(.system(errno), "path: <strerror
/// text>"); YAML syntax -> Failure(.configFile, "path:LINE: <libyaml's problem text>"); unknown key, wrong
/// scalar type, missing required key -> Failure(.configFile, "path:LINE: bus 'x', device 'y', channel 'z',
/// field 'f': <what>"); SiteConfig's own errors -> same kind as thrown, message prefixed with "path:LINE: " of
/// the offending item.
func loadSiteYAML(path: FilePath, into config: inout SiteConfig) throws(Failure) {
    let file = try YAMLFile.load(path: path)
    let profiles = ProfileStore(sitePath: path)
    defer {
        profiles.release()
        file.release()
    }
    let reader = SiteYAMLReader(path: path, document: file.document, profiles: profiles)
    try reader.load(into: &config)
}

/// One YAML file loaded as a document (a site file, a profile): its text and libyaml's node graph, until
/// `release`.
final class YAMLFile {
    let path: FilePath
    let text: WholeFile
    let document: UnsafeMutablePointer<yaml_document_t>

    private init(path: FilePath, text: WholeFile, document: UnsafeMutablePointer<yaml_document_t>) {
        self.path = path
        self.text = text
        self.document = document
    }

    /// Reads and checks the file (one document, bounded nesting, no tags); errors as loadSiteYAML's.
    static func load(path: FilePath) throws(Failure) -> YAMLFile {
        let text = try WholeFile.read(path: path)
        var kept = false
        defer { if !kept { text.release() } }
        try checkEvents(text, path)

        guard let parser = allocateZeroed(yaml_parser_t.self) else { throw memoryFailure(path) }
        defer { free(parser) }
        guard yaml_parser_initialize(parser) != 0 else { throw memoryFailure(path) }
        defer { yaml_parser_delete(parser) }
        yaml_parser_set_input_string(parser, text.bytes, text.count)

        guard let document = allocateZeroed(yaml_document_t.self) else { throw memoryFailure(path) }
        // On failure yaml_parser_load has already freed whatever it built.
        guard yaml_parser_load(parser, document) != 0 else {
            free(document)
            throw syntaxError(parser, text, path)
        }
        do throws(Failure) {
            try rejectFurtherDocuments(parser, text, path)
        } catch {
            yaml_document_delete(document)
            free(document)
            throw error
        }
        kept = true
        return YAMLFile(path: path, text: text, document: document)
    }

    /// Holds the node: it lies in this document's node stack.
    func holds(_ node: UnsafeMutablePointer<yaml_node_t>) -> Bool {
        guard let start = document.pointee.nodes.start, let top = document.pointee.nodes.top else { return false }
        return node >= start && node < top
    }

    func release() {
        yaml_document_delete(document)
        free(document)
        text.release()
    }
}

// MARK: - libyaml and its errors

func allocateZeroed<T>(_ type: T.Type) -> UnsafeMutablePointer<T>? {
    calloc(1, MemoryLayout<T>.size)?.bindMemory(to: T.self, capacity: 1)
}

@inline(never)
func memoryFailure(_ path: FilePath) -> Failure {
    Failure(.system(.noMemory), "\(path): out of memory")
}

/// 1-based line of a libyaml mark (0-based).
func lineNumber(of mark: yaml_mark_t) -> Int {
    Int(truncatingIfNeeded: mark.line) &+ 1
}

func syntaxError(_ parser: UnsafeMutablePointer<yaml_parser_t>, _ text: WholeFile,
                         _ path: FilePath) -> Failure {
    let state = parser.pointee
    if state.error == YAML_MEMORY_ERROR { return memoryFailure(path) }
    let problem = state.problem.map { String(cString: $0) } ?? "invalid YAML"
    // The reader (encoding checks) reports a byte offset, the scanner, parser and composer a mark.
    let at = state.error == YAML_READER_ERROR
        ? text.line(ofOffset: Int(truncatingIfNeeded: state.problem_offset))
        : lineNumber(of: state.problem_mark)
    return Failure(.configFile, "\(path):\(at): \(problem)")
}

/// A site file is one YAML document: a second one is refused rather than silently ignored.
private func rejectFurtherDocuments(_ parser: UnsafeMutablePointer<yaml_parser_t>, _ text: WholeFile,
                                    _ path: FilePath) throws(Failure) {
    guard let next = allocateZeroed(yaml_document_t.self) else { throw memoryFailure(path) }
    defer { free(next) }
    guard yaml_parser_load(parser, next) != 0 else { throw syntaxError(parser, text, path) }
    defer { yaml_document_delete(next) }
    if let root = yaml_document_get_root_node(next) {
        throw Failure(.configFile, "\(path):\(lineNumber(of: root.pointee.start_mark)): a site file holds one YAML document, a second one starts here")
    }
}
