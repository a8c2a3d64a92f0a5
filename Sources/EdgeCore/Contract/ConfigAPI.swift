import CShim

// The configuration functions of the engine: defaults, and C structs turned into specs. Checks of field
// ranges live in SiteConfig (shared with the YAML loader); here only what C alone can get wrong (NULL
// strings, enum values outside their type).

// Defaults of the settings structs (their _init functions, and the fields an older caller's struct lacks).
// Each starts from the all-zero struct (reserved fields, NULL strings) and sets what is not 0.

extension edgecore_engine_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.ring_capacity = 4096
        c.overflow = UInt16(EDGECORE_OVERFLOW_DROP_OLDEST.rawValue)
        return c
    }
}

extension edgecore_tcp_bus_config: GrowingSettings {
    static var defaults: Self {
        let spec = TCPBusSpec(name: "", host: "")
        var c = Self()
        c.port = spec.port
        c.connect_timeout_ms = spec.connectTimeoutMs
        c.reconnect_min_ms = spec.reconnectMinMs
        c.reconnect_max_ms = spec.reconnectMaxMs
        c.request_gap_ms = spec.requestGapMs
        return c
    }
}

extension edgecore_rtu_bus_config: GrowingSettings {
    static var defaults: Self {
        let spec = RTUBusSpec(name: "", device: "")
        var c = Self()
        c.baud = spec.baud
        c.parity = CChar(bitPattern: spec.parity)
        c.data_bits = spec.dataBits
        c.stop_bits = spec.stopBits
        c.request_gap_ms = spec.requestGapMs
        c.reopen_min_ms = spec.reopenMinMs
        c.reopen_max_ms = spec.reopenMaxMs
        return c
    }
}

extension edgecore_device_config: GrowingSettings {
    static var defaults: Self {
        let spec = DeviceSpec(name: "", bus: 0)
        var c = Self()
        c.unit_id = spec.unitId
        c.max_registers = spec.maxRegisters
        c.max_bits = spec.maxBits
        c.response_timeout_ms = spec.responseTimeoutMs
        c.retries = spec.retries
        c.offline_after = spec.offlineAfter
        c.backoff_min_ms = spec.backoffMinMs
        c.backoff_max_ms = spec.backoffMaxMs
        return c
    }
}

extension edgecore_channel_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.function = UInt16(EDGECORE_FC_HOLDING_REGISTERS.rawValue)
        c.type = UInt16(EDGECORE_TYPE_U16.rawValue)
        c.order = UInt16(EDGECORE_ORDER_ABCD.rawValue)
        c.interval_ms = 1000
        c.scale = 1
        c.valid_min = .nan
        c.valid_max = .nan
        return c
    }
}

extension edgecore_gpio_chip_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.checkpoint_max_per_hour = 60
        c.event_buffer_size = 1024
        return c
    }
}

extension edgecore_gpio_line_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.scale = 1
        c.kind = UInt16(EDGECORE_GPIO_INPUT.rawValue)
        c.bias = UInt16(EDGECORE_GPIO_BIAS_AS_IS.rawValue)
        c.edge = UInt16(EDGECORE_GPIO_EDGE_RISING.rawValue)
        c.interval_ms = 1000
        return c
    }
}

@c @implementation
public func edgecore_engine_config_init_sized(_ config: UnsafeMutablePointer<edgecore_engine_config>?, _ size: Int) {
    storeDefaults(config, size: size)
}

@c @implementation
public func edgecore_tcp_bus_config_init_sized(_ config: UnsafeMutablePointer<edgecore_tcp_bus_config>?, _ size: Int) {
    storeDefaults(config, size: size)
}

@c @implementation
public func edgecore_rtu_bus_config_init_sized(_ config: UnsafeMutablePointer<edgecore_rtu_bus_config>?, _ size: Int) {
    storeDefaults(config, size: size)
}

@c @implementation
public func edgecore_device_config_init_sized(_ config: UnsafeMutablePointer<edgecore_device_config>?, _ size: Int) {
    storeDefaults(config, size: size)
}

@c @implementation
public func edgecore_channel_config_init_sized(_ config: UnsafeMutablePointer<edgecore_channel_config>?, _ size: Int) {
    storeDefaults(config, size: size)
}

@c @implementation
public func edgecore_gpio_chip_config_init_sized(_ config: UnsafeMutablePointer<edgecore_gpio_chip_config>?,
                                                 _ size: Int) {
    storeDefaults(config, size: size)
}

@c @implementation
public func edgecore_gpio_line_config_init_sized(_ config: UnsafeMutablePointer<edgecore_gpio_line_config>?,
                                                 _ size: Int) {
    storeDefaults(config, size: size)
}

@c @implementation
public func edgecore_engine_add_tcp_bus_sized(_ engine: OpaquePointer?, _ config: UnsafePointer<edgecore_tcp_bus_config>?,
                                              _ size: Int, _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    var c = edgecore_tcp_bus_config()
    if let code = loadSettings(config, size: size, into: &c, kind: "tcp_bus") { return code }
    guard let name = c.name, let host = c.host else { return nullArgument("tcp bus: 'name' and 'host' are required") }
    let spec = TCPBusSpec(name: String(cString: name), host: String(cString: host), port: c.port,
                          connectTimeoutMs: c.connect_timeout_ms, reconnectMinMs: c.reconnect_min_ms,
                          reconnectMaxMs: c.reconnect_max_ms, requestGapMs: c.request_gap_ms)
    return configure(engine, idOut) { config throws(ConfigError) in try config.addBus(.tcp(spec)) }
}

@c @implementation
public func edgecore_engine_add_rtu_bus_sized(_ engine: OpaquePointer?, _ config: UnsafePointer<edgecore_rtu_bus_config>?,
                                              _ size: Int, _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    var c = edgecore_rtu_bus_config()
    if let code = loadSettings(config, size: size, into: &c, kind: "rtu_bus") { return code }
    guard let name = c.name, let device = c.device else {
        return nullArgument("rtu bus: 'name' and 'device' are required")
    }
    guard let rts = UInt8(exactly: c.rts) else {
        return failure(ConfigError(.config, "bus '\(String(cString: name))': field 'rts' must be none (0), up (1) or down (2)"))
    }
    let spec = RTUBusSpec(name: String(cString: name), device: FilePath(cString: device), baud: c.baud,
                          parity: UInt8(bitPattern: c.parity), dataBits: c.data_bits, stopBits: c.stop_bits,
                          rs485: c.rs485 != 0, rts: rts, rtsDelayUs: rts != 0 && c.rts_delay_us != 0 ? c.rts_delay_us : nil,
                          requestGapMs: c.request_gap_ms, reopenMinMs: c.reopen_min_ms, reopenMaxMs: c.reopen_max_ms)
    return configure(engine, idOut) { config throws(ConfigError) in try config.addBus(.rtu(spec)) }
}

@c @implementation
public func edgecore_engine_add_device_sized(_ engine: OpaquePointer?, _ config: UnsafePointer<edgecore_device_config>?,
                                             _ size: Int, _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    var c = edgecore_device_config()
    if let code = loadSettings(config, size: size, into: &c, kind: "device") { return code }
    guard let name = c.name else { return nullArgument("device: 'name' is required") }
    let spec = DeviceSpec(name: String(cString: name), bus: Int(clamping: c.bus), unitId: c.unit_id,
                          oneChannelPerRequest: c.one_channel_per_request != 0, maxRegisters: c.max_registers,
                          maxBits: c.max_bits, responseTimeoutMs: c.response_timeout_ms, retries: c.retries,
                          offlineAfter: c.offline_after, backoffMinMs: c.backoff_min_ms, backoffMaxMs: c.backoff_max_ms)
    return configure(engine, idOut) { config throws(ConfigError) in try config.addDevice(spec) }
}

@c @implementation
public func edgecore_engine_add_channel_sized(_ engine: OpaquePointer?, _ config: UnsafePointer<edgecore_channel_config>?,
                                              _ size: Int, _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    var c = edgecore_channel_config()
    if let code = loadSettings(config, size: size, into: &c, kind: "channel") { return code }
    guard let name = c.name else { return nullArgument("channel: 'name' is required") }
    let channelName = String(cString: name)
    let field = "channel '\(channelName)'"
    guard let function = UInt8(exactly: c.function).flatMap({ ModbusFunction(rawValue: $0) }) else {
        return failure(ConfigError(.config, "\(field): field 'function' must be 1..4, not \(c.function)"))
    }
    guard let type = UInt8(exactly: c.type).flatMap({ ValueType($0) }) else {
        return failure(ConfigError(.config, "\(field): field 'type' is not an edgecore_value_type: \(c.type)"))
    }
    guard let order = UInt8(exactly: c.order).flatMap({ WordOrder($0) }) else {
        return failure(ConfigError(.config, "\(field): field 'order' is not an edgecore_word_order: \(c.order)"))
    }
    guard c.sentinel_count <= UInt8(EDGECORE_SENTINELS_MAX) else {
        return failure(ConfigError(.config, "\(field): field 'sentinel_count' must be 0..\(EDGECORE_SENTINELS_MAX)"))
    }
    let allSentinels = [c.sentinels.0, c.sentinels.1, c.sentinels.2, c.sentinels.3]
    let codec = ValueCodec(type: type, order: order, bit: c.bit, scale: c.scale, offset: c.offset,
                           validMin: c.valid_min.isNaN ? nil : c.valid_min,
                           validMax: c.valid_max.isNaN ? nil : c.valid_max,
                           sentinels: Array(allSentinels.prefix(Int(c.sentinel_count))))
    let spec = ChannelSpec(name: channelName, unit: c.unit.map { String(cString: $0) } ?? "", device: Int(clamping: c.device),
                           function: function, address: c.address, codec: codec, writable: c.writable != 0,
                           intervalMs: c.interval_ms)
    return configure(engine, idOut) { config throws(ConfigError) in try config.addChannel(spec) }
}

@c @implementation
public func edgecore_engine_add_hole(_ engine: OpaquePointer?, _ device: UInt32, _ function: UInt8, _ first: UInt16,
                                    _ last: UInt16) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    guard let function = ModbusFunction(rawValue: function) else {
        return failure(ConfigError(.config, "hole: field 'function' must be 1..4, not \(function)"))
    }
    return configure(engine, nil) { config throws(ConfigError) in
        try config.addHole(Hole(function: function, first: first, last: last), device: Int(clamping: device))
        return 0
    }
}

/// Runs a configuration change on the engine behind `handle` and reports its new id.
func configure(_ handle: OpaquePointer, _ idOut: UnsafeMutablePointer<UInt32>?,
               _ change: (inout SiteConfig) throws(ConfigError) -> Int) -> Int32 {
    withEngine(handle) { engine in
        do throws(ConfigError) {
            let id = try engine.configure(change)
            idOut?.pointee = UInt32(truncatingIfNeeded: id)
            return EDGECORE_OK
        } catch {
            return failure(error)
        }
    }
}

@c @implementation
public func edgecore_engine_add_gpio_chip_sized(_ engine: OpaquePointer?,
                                                _ config: UnsafePointer<edgecore_gpio_chip_config>?, _ size: Int,
                                                _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    var c = edgecore_gpio_chip_config()
    if let code = loadSettings(config, size: size, into: &c, kind: "gpio_chip") { return code }
    guard let name = c.name, let chip = c.chip else {
        return nullArgument("gpio chip: 'name' and 'chip' are required")
    }
    let spec = GPIOChipSpec(name: String(cString: name), chip: FilePath(cString: chip),
                            checkpointPath: c.checkpoint_path.map { FilePath(cString: $0) },
                            checkpointMaxPerHour: c.checkpoint_max_per_hour, eventBufferSize: c.event_buffer_size)
    return configure(engine, idOut) { config throws(ConfigError) in try config.addBus(.gpio(spec)) }
}

@c @implementation
public func edgecore_engine_add_gpio_line_sized(_ engine: OpaquePointer?,
                                                _ config: UnsafePointer<edgecore_gpio_line_config>?, _ size: Int,
                                                _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    var c = edgecore_gpio_line_config()
    if let code = loadSettings(config, size: size, into: &c, kind: "gpio_line") { return code }
    guard let name = c.name else { return nullArgument("gpio line: 'name' is required") }
    let channelName = String(cString: name)
    guard let kind = UInt8(exactly: c.kind).flatMap({ GPIOKind(rawValue: $0) }) else {
        return failure(ConfigError(.config, "channel '\(channelName)': field 'kind' must be input (0), output (1) or pulses (2)"))
    }
    guard let edge = UInt8(exactly: c.edge).flatMap({ GPIOEdgeKind(rawValue: $0) }) else {
        return failure(ConfigError(.config, "channel '\(channelName)': field 'edge' must be rising (1), falling (2) or both (3)"))
    }
    guard let bias = UInt8(exactly: c.bias).flatMap({ GPIOBias(rawValue: $0) }) else {
        return failure(ConfigError(.config, "channel '\(channelName)': field 'bias' must be 0..3, not \(c.bias)"))
    }
    guard c.safe_state <= 1 else {
        return failure(ConfigError(.config, "channel '\(channelName)': field 'safe_state' must be 0 or 1"))
    }
    let line = GPIOLineSpec(bus: Int(clamping: c.bus), lineName: c.line_name.map { String(cString: $0) },
                            offset: c.offset, kind: kind, bias: bias, activeLow: c.active_low != 0,
                            safeState: c.safe_state != 0, edge: edge, debounceUs: c.debounce_us, scale: c.scale,
                            base: c.base)
    let spec = ChannelSpec(name: channelName, unit: c.unit.map { String(cString: $0) } ?? "",
                           writable: c.writable != 0, intervalMs: c.interval_ms, gpio: line)
    return configure(engine, idOut) { config throws(ConfigError) in try config.addGPIOLine(spec) }
}
