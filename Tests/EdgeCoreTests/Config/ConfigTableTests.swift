import CShim
import Foundation
import Testing

@testable import EdgeCore

// The configuration tables (Sources/EdgeCore/Config/ConfigTable.swift; JournalTable's defaults are the
// journal's JournalSettings') against the defaults edgecore.h documents and against what the _init functions fill in. The header writes a field's default as "default V" in the field's comment, V being a number,
// a character ('N'), NaN, NULL or an enum constant (EDGECORE_...). Both ways: every default in a table is
// documented at its field with that value, and every documented default is in the table (NULL defaults of
// pointer fields excepted: the tables hold no strings).

private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A table entry as the test compares it: the key, the default as a number, and the field as the C
/// struct's _init function fills it.
private struct TableDefault {
    let key: String
    let value: Double
    let initialised: Double
}

private func entry<Value: BinaryInteger, Field: BinaryInteger>(_ field: ConfigField<Value>,
                                                                _ initialised: Field) -> TableDefault {
    TableDefault(key: "\(field.key)", value: Double(field.defaultValue), initialised: Double(initialised))
}

private func entry(_ field: ConfigField<Double>, _ initialised: Double) -> TableDefault {
    TableDefault(key: "\(field.key)", value: field.defaultValue, initialised: initialised)
}

private func entry(_ field: ConfigField<Bool>, _ initialised: UInt8) -> TableDefault {
    TableDefault(key: "\(field.key)", value: field.defaultValue ? 1 : 0, initialised: Double(initialised))
}

/// A settings struct as its _init function fills it.
private func filled<Settings>(_ empty: Settings, _ initialise: (UnsafeMutablePointer<Settings>, Int) -> Void) -> Settings {
    var settings = empty
    initialise(&settings, MemoryLayout<Settings>.size)
    return settings
}

/// Each table's entries, by the edgecore.h struct it describes. The test also checks, from the table's
/// source, that each list holds every entry of its table.
private var tables: [(table: String, structName: String, entries: [TableDefault])] {
    // The settings structs as their _init functions fill them.
    let engine = filled(edgecore_engine_config()) { edgecore_engine_config_init_sized($0, $1) }
    let tcp = filled(edgecore_tcp_bus_config()) { edgecore_tcp_bus_config_init_sized($0, $1) }
    let rtu = filled(edgecore_rtu_bus_config()) { edgecore_rtu_bus_config_init_sized($0, $1) }
    let chip = filled(edgecore_gpio_chip_config()) { edgecore_gpio_chip_config_init_sized($0, $1) }
    let device = filled(edgecore_device_config()) { edgecore_device_config_init_sized($0, $1) }
    let channel = filled(edgecore_channel_config()) { edgecore_channel_config_init_sized($0, $1) }
    let line = filled(edgecore_gpio_line_config()) { edgecore_gpio_line_config_init_sized($0, $1) }
    let journal = filled(edgecore_journal_config()) { edgecore_journal_config_init_sized($0, $1) }
    return [
        ("EngineTable", "edgecore_engine_config", [
            entry(EngineTable.ringCapacity, engine.ring_capacity), entry(EngineTable.overflow, engine.overflow),
        ]),
        ("JournalTable", "edgecore_journal_config", [
            entry(JournalTable.sizeLimit, journal.size_limit), entry(JournalTable.segmentSize, journal.segment_size),
            entry(JournalTable.syncIntervalMs, journal.sync_interval_ms),
            entry(JournalTable.syncEveryReadings, journal.sync_every_readings),
            entry(JournalTable.maxSyncsPerHour, journal.max_syncs_per_hour), entry(JournalTable.whenFull, journal.when_full),
        ]),
        ("TCPBusTable", "edgecore_tcp_bus_config", [
            entry(TCPBusTable.port, tcp.port), entry(TCPBusTable.connectTimeoutMs, tcp.connect_timeout_ms),
            entry(TCPBusTable.reconnectMinMs, tcp.reconnect_min_ms), entry(TCPBusTable.reconnectMaxMs, tcp.reconnect_max_ms),
            entry(TCPBusTable.requestGapMs, tcp.request_gap_ms), entry(TCPBusTable.framing, tcp.framing),
            entry(TCPBusTable.lineBaud, tcp.line_baud),
        ]),
        ("RTUBusTable", "edgecore_rtu_bus_config", [
            entry(RTUBusTable.baud, rtu.baud), entry(RTUBusTable.parity, rtu.parity), entry(RTUBusTable.dataBits, rtu.data_bits),
            entry(RTUBusTable.stopBits, rtu.stop_bits), entry(RTUBusTable.rs485, rtu.rs485), entry(RTUBusTable.rts, rtu.rts),
            entry(RTUBusTable.rtsDelayUs, rtu.rts_delay_us), entry(RTUBusTable.requestGapMs, rtu.request_gap_ms),
            entry(RTUBusTable.reopenMinMs, rtu.reopen_min_ms), entry(RTUBusTable.reopenMaxMs, rtu.reopen_max_ms),
        ]),
        ("GPIOChipTable", "edgecore_gpio_chip_config", [
            entry(GPIOChipTable.checkpointMaxPerHour, chip.checkpoint_max_per_hour),
            entry(GPIOChipTable.eventBufferSize, chip.event_buffer_size),
        ]),
        ("DeviceTable", "edgecore_device_config", [
            entry(DeviceTable.unitId, device.unit_id), entry(DeviceTable.oneChannelPerRequest, device.one_channel_per_request),
            entry(DeviceTable.maxRegisters, device.max_registers), entry(DeviceTable.maxBits, device.max_bits),
            entry(DeviceTable.responseTimeoutMs, device.response_timeout_ms), entry(DeviceTable.retries, device.retries),
            entry(DeviceTable.offlineAfter, device.offline_after), entry(DeviceTable.backoffMinMs, device.backoff_min_ms),
            entry(DeviceTable.backoffMaxMs, device.backoff_max_ms), entry(DeviceTable.deviceProtocol, device.protocol),
            entry(DeviceTable.preamble, device.preamble), entry(DeviceTable.meterType, device.meter_type),
            entry(DeviceTable.identifierOrder, device.identifier_order),
            entry(DeviceTable.allowTimeSync, device.allow_time_sync),
        ]),
        ("ChannelTable", "edgecore_channel_config", [
            entry(ChannelTable.function, channel.function), entry(ChannelTable.type, channel.type),
            entry(ChannelTable.order, channel.order), entry(ChannelTable.bit, channel.bit),
            entry(ChannelTable.writable, channel.writable), entry(ChannelTable.sentinelCount, channel.sentinel_count),
            entry(ChannelTable.intervalMs, channel.interval_ms), entry(ChannelTable.scale, channel.scale),
            entry(ChannelTable.offset, channel.offset), entry(ChannelTable.validMin, channel.valid_min),
            entry(ChannelTable.validMax, channel.valid_max), entry(ChannelTable.meterItem, channel.meter_item),
            entry(ChannelTable.meterFormat, channel.meter_format), entry(ChannelTable.meterLength, channel.meter_length),
            entry(ChannelTable.meterDecimals, channel.meter_decimals),
        ]),
        ("GPIOLineTable", "edgecore_gpio_line_config", [
            entry(GPIOLineTable.scale, line.scale), entry(GPIOLineTable.base, line.base), entry(GPIOLineTable.offset, line.offset),
            entry(GPIOLineTable.kind, line.kind), entry(GPIOLineTable.bias, line.bias), entry(GPIOLineTable.edge, line.edge),
            entry(GPIOLineTable.activeLow, line.active_low), entry(GPIOLineTable.writable, line.writable),
            entry(GPIOLineTable.safeState, line.safe_state), entry(GPIOLineTable.intervalMs, line.interval_ms),
            entry(GPIOLineTable.debounceUs, line.debounce_us),
        ]),
    ]
}

/// A default documented in the header: the field, the written value, and the value as a number (nil for
/// NULL).
struct DocumentedDefault {
    let field: String
    let written: String
    let value: Double?
}

/// The documented defaults of every `struct edgecore_..._config` in `header`, by struct name.
func documentedDefaults(in header: String) -> [String: [DocumentedDefault]] {
    // Enum constants: "EDGECORE_X = 3".
    var constants: [String: Double] = [:]
    let constant = try! NSRegularExpression(pattern: #"\b(EDGECORE_[A-Z0-9_]+)\s*=\s*(\d+)"#)
    for match in constant.matches(in: header, range: NSRange(header.startIndex..., in: header)) {
        constants[String(header[Range(match.range(at: 1), in: header)!])] =
            Double(header[Range(match.range(at: 2), in: header)!])
    }
    func number(_ written: String) -> Double? {
        if written == "NaN" { return .nan }
        if written.count == 3, written.first == "'", written.last == "'" {
            return Double(written.unicodeScalars.dropFirst().first!.value)
        }
        return Double(written) ?? constants[written]
    }

    var result: [String: [DocumentedDefault]] = [:]
    let structPattern = try! NSRegularExpression(pattern: #"struct (edgecore_\w+_config) \{(.*?)\n\};"#,
                                                 options: [.dotMatchesLineSeparators])
    // "default 4 MiB": a size with a binary unit; "default" may end a line.
    let defaultPattern = try! NSRegularExpression(pattern: #"\bdefault\s+([A-Za-z0-9_'.-]+?)(?: (KiB|MiB|GiB))?[.;,]?(?=\s|$)"#)
    let units: [String: Double] = ["KiB": 1024, "MiB": 1024 * 1024, "GiB": 1024 * 1024 * 1024]
    for match in structPattern.matches(in: header, range: NSRange(header.startIndex..., in: header)) {
        let name = String(header[Range(match.range(at: 1), in: header)!])
        let body = String(header[Range(match.range(at: 2), in: header)!])
        var found: [DocumentedDefault] = []
        for (field, comment) in fieldComments(body) {
            let range = NSRange(comment.startIndex..., in: comment)
            for hit in defaultPattern.matches(in: comment, range: range) {
                var written = String(comment[Range(hit.range(at: 1), in: comment)!])
                var value = written == "NULL" ? nil : number(written)
                if let unit = Range(hit.range(at: 2), in: comment).map({ String(comment[$0]) }) {
                    written += " " + unit
                    value = value.map { $0 * units[unit]! }
                }
                found.append(DocumentedDefault(field: field, written: written, value: value))
            }
        }
        result[name] = found
    }
    return result
}

/// Each field of a struct body with its comment: the `/**< ... */` after it or the `/** ... */` before it.
private func fieldComments(_ body: String) -> [(field: String, comment: String)] {
    var fields: [(field: String, comment: String)] = []
    var pending = ""
    var rest = Substring(body)
    while !rest.isEmpty {
        if rest.hasPrefix("/**") {
            let end = rest.range(of: "*/")?.upperBound ?? rest.endIndex
            let comment = String(rest[rest.startIndex..<end])
            if comment.hasPrefix("/**<"), !fields.isEmpty {
                fields[fields.count - 1].comment += comment
            } else {
                pending += comment
            }
            rest = rest[end...]
        } else if let semicolon = rest.firstIndex(of: ";"),
                  rest[rest.startIndex..<semicolon].range(of: "/**") == nil {
            let declaration = rest[rest.startIndex..<semicolon]
            let beforeArray = declaration.split(separator: "[").first ?? declaration
            let name = beforeArray.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "_" }).last ?? ""
            fields.append((String(name), pending))
            pending = ""
            rest = rest[rest.index(after: semicolon)...]
        } else {
            rest = rest.dropFirst()
        }
    }
    return fields
}

@Suite struct ConfigTableTests {
    private func header() throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent("include/edgecore.h"), encoding: .utf8)
    }

    private static func same(_ a: Double, _ b: Double) -> Bool { a == b || (a.isNaN && b.isNaN) }

    /// `tables` holds every entry of every table in ConfigTable.swift (read from its source), so that the
    /// checks below see them all.
    @Test func theListsHoldEveryTableEntry() throws {
        let source = try String(contentsOf: repositoryRoot.appendingPathComponent(
            "Sources/EdgeCore/Config/ConfigTable.swift"), encoding: .utf8)
        let tablePattern = try NSRegularExpression(pattern: #"enum (\w+Table) \{(.*?)\n\}"#,
                                                   options: [.dotMatchesLineSeparators])
        let keyPattern = try NSRegularExpression(pattern: #"ConfigField<\w+>\(key: "(\w+)""#)
        var seen = Set<String>()
        for match in tablePattern.matches(in: source, range: NSRange(source.startIndex..., in: source)) {
            let table = String(source[Range(match.range(at: 1), in: source)!])
            let body = String(source[Range(match.range(at: 2), in: source)!])
            let keys = keyPattern.matches(in: body, range: NSRange(body.startIndex..., in: body)).map {
                String(body[Range($0.range(at: 1), in: body)!])
            }
            let listed = tables.first { $0.table == table }?.entries.map(\.key) ?? []
            #expect(listed.sorted() == keys.sorted(), "\(table): the test's list and the table differ")
            seen.insert(table)
        }
        #expect(seen == Set(tables.map(\.table)))
    }

    /// JournalTable has an entry per field of JournalSettings (whose defaults it takes).
    @Test func journalSettingsHasAnEntryPerField() {
        let fields = Mirror(reflecting: JournalSettings()).children.count
        #expect(tables.first { $0.table == "JournalTable" }?.entries.count == fields)
    }

    /// The _init functions fill every field the table has with its default.
    @Test func initFillsTheTableDefaults() {
        for (_, structName, entries) in tables {
            for entry in entries {
                #expect(Self.same(entry.initialised, entry.value),
                        "\(structName).\(entry.key): _init sets \(entry.initialised), the table's default is \(entry.value)")
            }
        }
    }

    @Test func everyTableDefaultIsDocumentedWithItsValue() throws {
        let documented = try documentedDefaults(in: header())
        for (_, structName, entries) in tables {
            let fields = documented[structName] ?? []
            #expect(!fields.isEmpty, "struct \(structName) not found in edgecore.h")
            for entry in entries {
                let matching = fields.filter { $0.field == entry.key }
                #expect(matching.count == 1,
                        "\(structName).\(entry.key): the table's default is \(entry.value), edgecore.h documents \(matching.count == 0 ? "none" : "\(matching.count)")")
                for doc in matching {
                    #expect(doc.value.map { Self.same($0, entry.value) } == true,
                            "\(structName).\(entry.key): the table's default is \(entry.value), edgecore.h documents \(doc.written)")
                }
            }
        }
    }

    @Test func everyDocumentedDefaultIsInTheTable() throws {
        let documented = try documentedDefaults(in: header())
        // A settings struct without a documented default (the local bus's: a name) needs no table.
        #expect(Set(documented.filter { !$0.value.isEmpty }.keys) == Set(tables.map(\.structName)),
                "the settings structs of edgecore.h and the tables differ")
        #expect(documented["edgecore_local_bus_config"]?.isEmpty == true)
        for (structName, fields) in documented {
            let entries = tables.first { $0.structName == structName }?.entries ?? []
            for doc in fields where doc.value != nil {
                #expect(entries.contains { $0.key == doc.field },
                        "\(structName).\(doc.field): edgecore.h documents default \(doc.written), the table has no entry")
            }
            for doc in fields where doc.value == nil {
                #expect(doc.written == "NULL", "\(structName).\(doc.field): 'default \(doc.written)' is no number, character, NaN, NULL or enum constant")
                #expect(!entries.contains { $0.key == doc.field },
                        "\(structName).\(doc.field): NULL is the default of a pointer, not of a table entry")
            }
        }
    }

    /// The parser itself, on a made-up struct in the header's style.
    @Test func theHeaderParserReadsEveryWording() {
        let text = """
        enum e { EDGECORE_X_A = 0, EDGECORE_X_B = 7 };
        struct edgecore_x_config {
            const char *name;   /**< required */
            uint32_t a;         /**< first; default 500 */
            char p;             /**< default 'N' */
            double v;           /**< NaN: none; default NaN */
            uint16_t k;         /**< kind;
                                     default EDGECORE_X_B */
            uint64_t m;         /**< a size; default
                                     4 MiB. More text */
            /** A path. NULL: none; default NULL. Copied. */
            const char *path;
            uint64_t s[4];      /**< raw values */
        };
        """
        let found = documentedDefaults(in: text)["edgecore_x_config"] ?? []
        #expect(found.map(\.field) == ["a", "p", "v", "k", "m", "path"])
        #expect(found.map(\.written) == ["500", "'N'", "NaN", "EDGECORE_X_B", "4 MiB", "NULL"])
        #expect(found[0].value == 500 && found[1].value == 78 && found[2].value?.isNaN == true
                && found[3].value == 7 && found[4].value == 4 * 1024 * 1024 && found[5].value == nil)
    }
}
