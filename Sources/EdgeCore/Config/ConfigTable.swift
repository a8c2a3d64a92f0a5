import CShim

// The one place where a configuration field's default and range are written. Per configuration object
// (the settings structs of edgecore.h), each field that has a default: its key (the site file's key and
// the C struct's field name), its type (the Swift type of the entry, the C field's width), its range and
// its default. The _init functions fill the C structs from here (Contract/ConfigAPI.swift), the Spec
// types take their defaults from here, SiteConfig checks the ranges from here, and the YAML reader reads
// each field by its entry's key. A test (Tests/EdgeCoreTests/Config/ConfigTableTests.swift) checks every
// default against the one edgecore.h documents ("default V" in the field's comment), both ways.
//
// Fields without a default are not here: names and strings (NULL or required), ids (`bus`, `device`,
// given by the caller or by nesting in a site file), `address` and the hole bounds (required), the
// sentinel values (a list). Some rules are more than a range and stay in SiteConfig: parity (N, E or O),
// unit_id on an RTU bus (1..247), the back-off pairs (min <= max), the ring capacity (a power of two),
// scale (nonzero), `bit` (checked for bit channels of registers), debounce_us (checked for pulse lines).
//
// Entries are plain constants (no closures): in the Embedded build they are static data, and a check is
// one out-of-line call with the entry (ConfigField.check).

/// One field of a configuration object: its key, range and default.
struct ConfigField<Value: Sendable>: Sendable {
    /// The key in site files, which is also the field's name in the edgecore.h struct.
    let key: StaticString
    let lowest: Value
    let highest: Value
    let defaultValue: Value
}

/// struct edgecore_engine_config.
enum EngineTable {
    static let ringCapacity = ConfigField<UInt32>(key: "ring_capacity", lowest: EDGECORE_RING_CAPACITY_MIN,
                                                  highest: EDGECORE_RING_CAPACITY_MAX, defaultValue: 4096)
    static let overflow = ConfigField<UInt16>(key: "overflow", lowest: 0, highest: 1,
                                              defaultValue: UInt16(EDGECORE_OVERFLOW_DROP_OLDEST.rawValue))
}

/// struct edgecore_journal_config (site file: the `journal` section, which gives the two sizes as
/// size_limit_mb and segment_size_kb). The defaults are JournalSettings' own (the Journal layer, below
/// this one, writes them once); the table gives them keys and ranges.
enum JournalTable {
    static let sizeLimit = ConfigField<UInt64>(key: "size_limit", lowest: 2 * UInt64(JournalSettings.segmentSizeMin),
                                               highest: .max, defaultValue: JournalSettings().sizeLimit)
    static let segmentSize = ConfigField<UInt32>(key: "segment_size", lowest: JournalSettings.segmentSizeMin,
                                                 highest: JournalSettings.segmentSizeMax,
                                                 defaultValue: JournalSettings().segmentSize)
    static let syncIntervalMs = ConfigField<UInt32>(key: "sync_interval_ms", lowest: 0, highest: .max,
                                                    defaultValue: JournalSettings().syncIntervalMs)
    static let syncEveryReadings = ConfigField<UInt32>(key: "sync_every_readings", lowest: 0, highest: .max,
                                                       defaultValue: JournalSettings().syncEveryReadings)
    static let maxSyncsPerHour = ConfigField<UInt32>(key: "max_syncs_per_hour", lowest: 0, highest: .max,
                                                     defaultValue: JournalSettings().maxSyncsPerHour)
    /// enum edgecore_journal_full_policy.
    static let whenFull = ConfigField<UInt16>(key: "when_full", lowest: 0, highest: 1,
                                              defaultValue: JournalSettings().whenFull.rawValue)
}

/// struct edgecore_tcp_bus_config (site file: a bus of type tcp).
enum TCPBusTable {
    static let port = ConfigField<UInt16>(key: "port", lowest: 1, highest: .max, defaultValue: 502)
    static let connectTimeoutMs = ConfigField<UInt32>(key: "connect_timeout_ms", lowest: 1, highest: .max,
                                                      defaultValue: 2000)
    static let reconnectMinMs = ConfigField<UInt32>(key: "reconnect_min_ms", lowest: 1, highest: .max,
                                                    defaultValue: 200)
    static let reconnectMaxMs = ConfigField<UInt32>(key: "reconnect_max_ms", lowest: 1, highest: .max,
                                                    defaultValue: 10_000)
    static let requestGapMs = ConfigField<UInt32>(key: "request_gap_ms", lowest: 0, highest: .max, defaultValue: 0)
    /// enum edgecore_tcp_framing.
    static let framing = ConfigField<UInt8>(key: "framing", lowest: 0, highest: 1, defaultValue: 0)
    /// Transparent framing: the serial line's baud behind the server.
    static let lineBaud = ConfigField<UInt32>(key: "line_baud", lowest: 300, highest: 4_000_000, defaultValue: 9600)
}

/// struct edgecore_rtu_bus_config (site file: a bus of type rtu).
enum RTUBusTable {
    static let baud = ConfigField<UInt32>(key: "baud", lowest: 300, highest: 4_000_000, defaultValue: 9600)
    /// 'N', 'E' or 'O' (SiteConfig checks the set; the range is the letters').
    static let parity = ConfigField<UInt8>(key: "parity", lowest: UInt8(ascii: "E"), highest: UInt8(ascii: "O"),
                                           defaultValue: UInt8(ascii: "N"))
    static let dataBits = ConfigField<UInt8>(key: "data_bits", lowest: 7, highest: 8, defaultValue: 8)
    static let stopBits = ConfigField<UInt8>(key: "stop_bits", lowest: 1, highest: 2, defaultValue: 1)
    static let rs485 = ConfigField<Bool>(key: "rs485", lowest: false, highest: true, defaultValue: false)
    /// enum edgecore_rts_mode.
    static let rts = ConfigField<UInt8>(key: "rts", lowest: 0, highest: 2, defaultValue: UInt8(EDGECORE_RTS_NONE.rawValue))
    /// 0: libmodbus' own.
    static let rtsDelayUs = ConfigField<UInt32>(key: "rts_delay_us", lowest: 0, highest: .max, defaultValue: 0)
    static let requestGapMs = ConfigField<UInt32>(key: "request_gap_ms", lowest: 0, highest: .max, defaultValue: 0)
    static let reopenMinMs = ConfigField<UInt32>(key: "reopen_min_ms", lowest: 1, highest: .max, defaultValue: 200)
    static let reopenMaxMs = ConfigField<UInt32>(key: "reopen_max_ms", lowest: 1, highest: .max, defaultValue: 10_000)
}

/// struct edgecore_gpio_chip_config (site file: a bus of type gpio).
enum GPIOChipTable {
    static let checkpointMaxPerHour = ConfigField<UInt32>(key: "checkpoint_max_per_hour", lowest: 1, highest: .max,
                                                          defaultValue: 60)
    static let eventBufferSize = ConfigField<UInt32>(key: "event_buffer_size", lowest: 1, highest: 65536,
                                                     defaultValue: 1024)
}

/// struct edgecore_device_config (site file: a device of a Modbus bus).
enum DeviceTable {
    /// 0..255 on TCP; SiteConfig allows 1..247 on an RTU bus.
    static let unitId = ConfigField<UInt8>(key: "unit_id", lowest: 0, highest: .max, defaultValue: 1)
    static let oneChannelPerRequest = ConfigField<Bool>(key: "one_channel_per_request", lowest: false, highest: true,
                                                        defaultValue: false)
    static let maxRegisters = ConfigField<UInt16>(key: "max_registers", lowest: 1, highest: 125, defaultValue: 125)
    static let maxBits = ConfigField<UInt16>(key: "max_bits", lowest: 1, highest: 2000, defaultValue: 2000)
    static let responseTimeoutMs = ConfigField<UInt32>(key: "response_timeout_ms", lowest: 1, highest: .max,
                                                       defaultValue: 500)
    static let retries = ConfigField<UInt32>(key: "retries", lowest: 0, highest: 10, defaultValue: 1)
    static let offlineAfter = ConfigField<UInt32>(key: "offline_after", lowest: 1, highest: .max, defaultValue: 3)
    static let backoffMinMs = ConfigField<UInt32>(key: "backoff_min_ms", lowest: 1, highest: .max, defaultValue: 1000)
    static let backoffMaxMs = ConfigField<UInt32>(key: "backoff_max_ms", lowest: 1, highest: .max,
                                                  defaultValue: 30_000)
    /// enum edgecore_protocol.
    static let deviceProtocol = ConfigField<UInt8>(key: "protocol", lowest: 0, highest: 3, defaultValue: 0)
    /// Meters: FE bytes before each request.
    static let preamble = ConfigField<UInt8>(key: "preamble", lowest: 0, highest: 4, defaultValue: 4)
    /// CJ/T 188: the meter type byte (0x10 cold water).
    static let meterType = ConfigField<UInt8>(key: "meter_type", lowest: 0x10, highest: 0xAA, defaultValue: 0x10)
    /// CJ/T 188: 0 data identifiers low byte first (the standard), 1 high byte first.
    static let identifierOrder = ConfigField<UInt8>(key: "identifier_order", lowest: 0, highest: 1, defaultValue: 0)
    static let allowTimeSync = ConfigField<Bool>(key: "allow_time_sync", lowest: false, highest: true,
                                                 defaultValue: false)
}

/// struct edgecore_channel_config (site file: a channel of a device).
enum ChannelTable {
    /// enum edgecore_function.
    static let function = ConfigField<UInt8>(key: "function", lowest: 1, highest: 4,
                                             defaultValue: UInt8(EDGECORE_FC_HOLDING_REGISTERS.rawValue))
    /// enum edgecore_value_type.
    static let type = ConfigField<UInt8>(key: "type", lowest: 0, highest: UInt8(EDGECORE_TYPE_BIT.rawValue),
                                         defaultValue: UInt8(EDGECORE_TYPE_U16.rawValue))
    /// enum edgecore_word_order.
    static let order = ConfigField<UInt8>(key: "order", lowest: 0, highest: UInt8(EDGECORE_ORDER_DCBA.rawValue),
                                          defaultValue: UInt8(EDGECORE_ORDER_ABCD.rawValue))
    /// Checked by SiteConfig for bit channels of registers (FC 3/4).
    static let bit = ConfigField<UInt8>(key: "bit", lowest: 0, highest: 15, defaultValue: 0)
    static let writable = ConfigField<Bool>(key: "writable", lowest: false, highest: true, defaultValue: false)
    /// C only (a site file gives `sentinels` as a list).
    static let sentinelCount = ConfigField<UInt8>(key: "sentinel_count", lowest: 0,
                                                  highest: UInt8(EDGECORE_SENTINELS_MAX), defaultValue: 0)
    static let intervalMs = ConfigField<UInt32>(key: "interval_ms", lowest: 1, highest: .max, defaultValue: 1000)
    /// Also nonzero.
    static let scale = ConfigField<Double>(key: "scale", lowest: -.greatestFiniteMagnitude, highest: .greatestFiniteMagnitude, defaultValue: 1)
    static let offset = ConfigField<Double>(key: "offset", lowest: -.greatestFiniteMagnitude, highest: .greatestFiniteMagnitude, defaultValue: 0)
    /// NaN: none.
    static let validMin = ConfigField<Double>(key: "valid_min", lowest: -.greatestFiniteMagnitude, highest: .greatestFiniteMagnitude,
                                              defaultValue: .nan)
    /// NaN: none.
    static let validMax = ConfigField<Double>(key: "valid_max", lowest: -.greatestFiniteMagnitude, highest: .greatestFiniteMagnitude,
                                              defaultValue: .nan)
    // The meter fields' keys are the C struct's; a site file names them `item` / `di`, `format`, `length`,
    // `decimals` (Config/SiteYAMLReader+Meters.swift).
    /// Meters: a DL/T 645 identifier or a CJ/T 188 field (enum edgecore_cjt188_item); unused for Modbus.
    static let meterItem = ConfigField<UInt32>(key: "meter_item", lowest: 0, highest: .max, defaultValue: 0)
    /// enum edgecore_meter_format: 0 the catalogue's, 1 BCD, 2 BCD with sign bit, 3 binary.
    static let meterFormat = ConfigField<UInt8>(key: "meter_format", lowest: 0, highest: 3, defaultValue: 0)
    /// With a meter_format other than the catalogue's: bytes of the value; 0: the catalogue's (site file:
    /// `length`, absent).
    static let meterLength = ConfigField<UInt8>(key: "meter_length", lowest: 0, highest: 8, defaultValue: 0)
    /// With a meter_format other than the catalogue's: BCD digits after the decimal point.
    static let meterDecimals = ConfigField<UInt8>(key: "meter_decimals", lowest: 0, highest: 8, defaultValue: 0)
}

/// struct edgecore_gpio_line_config (site file: a line of a GPIO chip bus).
enum GPIOLineTable {
    /// Pulses (nonzero).
    static let scale = ConfigField<Double>(key: "scale", lowest: -.greatestFiniteMagnitude, highest: .greatestFiniteMagnitude, defaultValue: 1)
    static let base = ConfigField<Double>(key: "base", lowest: -.greatestFiniteMagnitude, highest: .greatestFiniteMagnitude, defaultValue: 0)
    /// When no line_name is given (a site file gives one of the two).
    static let offset = ConfigField<UInt32>(key: "offset", lowest: 0, highest: .max, defaultValue: 0)
    /// enum edgecore_gpio_kind.
    static let kind = ConfigField<UInt8>(key: "kind", lowest: 0, highest: UInt8(EDGECORE_GPIO_PULSES.rawValue),
                                         defaultValue: UInt8(EDGECORE_GPIO_INPUT.rawValue))
    /// enum edgecore_gpio_bias.
    static let bias = ConfigField<UInt8>(key: "bias", lowest: 0, highest: UInt8(EDGECORE_GPIO_BIAS_PULL_DOWN.rawValue),
                                         defaultValue: UInt8(EDGECORE_GPIO_BIAS_AS_IS.rawValue))
    /// enum edgecore_gpio_edge.
    static let edge = ConfigField<UInt8>(key: "edge", lowest: UInt8(EDGECORE_GPIO_EDGE_RISING.rawValue),
                                         highest: UInt8(EDGECORE_GPIO_EDGE_BOTH.rawValue),
                                         defaultValue: UInt8(EDGECORE_GPIO_EDGE_RISING.rawValue))
    static let activeLow = ConfigField<Bool>(key: "active_low", lowest: false, highest: true, defaultValue: false)
    static let writable = ConfigField<Bool>(key: "writable", lowest: false, highest: true, defaultValue: false)
    static let safeState = ConfigField<Bool>(key: "safe_state", lowest: false, highest: true, defaultValue: false)
    static let intervalMs = ConfigField<UInt32>(key: "interval_ms", lowest: 1, highest: .max, defaultValue: 1000)
    /// Checked by SiteConfig for pulse lines.
    static let debounceUs = ConfigField<UInt32>(key: "debounce_us", lowest: 0, highest: 1_000_000, defaultValue: 0)
}

// MARK: Checks

extension ConfigField where Value: FixedWidthInteger {
    /// Fails unless `value` is in the field's range: "<item>: field 'key' must be L..H, not V" (or "must be
    /// at least L" when a 32-bit type's maximum is the only upper limit, "must be L or H, not V" for two
    /// values).
    func check(_ value: Value, of item: String) throws(Failure) {
        guard value < lowest || value > highest else { return }
        throw rangeFailure(item, key, UInt64(truncatingIfNeeded: lowest), UInt64(truncatingIfNeeded: highest),
                           Value.bitWidth >= 32 && highest == Value.max, UInt64(truncatingIfNeeded: value))
    }
}

extension ConfigField where Value == Double {
    /// Fails unless `value` is finite (NaN too): "<item>: field 'key' must be finite".
    func checkFinite(_ value: Double, of item: String) throws(Failure) {
        guard !(value >= lowest && value <= highest) else { return }
        throw Failure(.config, "\(item): field '\(key)' must be finite")
    }
}

@inline(never)
private func rangeFailure(_ item: String, _ key: StaticString, _ lowest: UInt64, _ highest: UInt64, _ unbounded: Bool,
                          _ value: UInt64) -> Failure {
    let range: Message = unbounded ? "at least \(lowest)"
        : highest == lowest + 1 ? "\(lowest) or \(highest), not \(value)" : "\(lowest)..\(highest), not \(value)"
    return Failure(.config, "\(item): field '\(key)' must be \(range)")
}

extension ValueCodec {
    /// A channel's codec before a site file or a C caller sets its fields: the table's defaults.
    static var defaults: ValueCodec {
        ValueCodec(type: ValueType(ChannelTable.type.defaultValue) ?? .u16,
                   order: WordOrder(ChannelTable.order.defaultValue) ?? .abcd, bit: ChannelTable.bit.defaultValue,
                   scale: ChannelTable.scale.defaultValue, offset: ChannelTable.offset.defaultValue,
                   validMin: nil, validMax: nil, sentinels: [])
    }
}
