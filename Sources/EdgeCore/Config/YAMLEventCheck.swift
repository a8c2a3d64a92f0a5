import CShim

/// The deepest nesting of lists and mappings a site file may have: its schema needs 8 (top > buses > bus >
/// devices > device > channels > channel > sentinels).
let maxYAMLDepth = 16

/// One pass over the file's events before libyaml builds the document: refuses nesting deeper than
/// maxYAMLDepth at the event that passes it (libyaml's scanner takes time quadratic in the depth, tens of
/// seconds for 200 KB of `[[[...`, and its document would be as deep), and refuses tags (`!!str 12`, `!x`):
/// a value's type is what the field says. Syntax errors are reported as yaml_parser_load reports them.
func checkEvents(_ text: WholeFile, _ path: FilePath) throws(Failure) {
    guard let parser = allocateZeroed(yaml_parser_t.self) else { throw memoryFailure(path) }
    defer { free(parser) }
    guard yaml_parser_initialize(parser) != 0 else { throw memoryFailure(path) }
    defer { yaml_parser_delete(parser) }
    yaml_parser_set_input_string(parser, text.bytes, text.count)
    guard let event = allocateZeroed(yaml_event_t.self) else { throw memoryFailure(path) }
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
        case YAML_ALIAS_EVENT:
            if let parent = levels.last, parent.isMapping { levels[levels.count - 1].keyNext.toggle() }
            continue
        default: continue  // stream, document start and end
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
                          _ what: Message) -> Failure {
    let line = lineNumber(of: event.pointee.start_mark)
    return Failure(.configFile, field.isEmpty ? "\(path):\(line): \(what)" : "\(path):\(line): field '\(field)': \(what)")
}
