import CShim

// The configuration functions of the engine: defaults, and C structs turned into specs. Checks of field
// ranges live in SiteConfig (shared with the YAML loader); here only what C alone can get wrong (NULL
// strings, enum values outside their type).

@c @implementation
public func edgecore_engine_config_init(_ config: UnsafeMutablePointer<edgecore_engine_config>?) {
    config?.pointee = edgecore_engine_config(ring_capacity: 4096, overflow: EDGECORE_OVERFLOW_DROP_OLDEST)
}

@c @implementation
public func edgecore_tcp_bus_config_init(_ config: UnsafeMutablePointer<edgecore_tcp_bus_config>?) {
    let spec = TCPBusSpec(name: "", host: "")
    config?.pointee = edgecore_tcp_bus_config(
        name: nil, host: nil, port: spec.port, reserved: 0, connect_timeout_ms: spec.connectTimeoutMs,
        reconnect_min_ms: spec.reconnectMinMs, reconnect_max_ms: spec.reconnectMaxMs,
        request_gap_ms: spec.requestGapMs)
}

@c @implementation
public func edgecore_rtu_bus_config_init(_ config: UnsafeMutablePointer<edgecore_rtu_bus_config>?) {
    let spec = RTUBusSpec(name: "", device: "")
    config?.pointee = edgecore_rtu_bus_config(
        name: nil, device: nil, baud: spec.baud, parity: CChar(bitPattern: spec.parity), data_bits: spec.dataBits,
        stop_bits: spec.stopBits, rs485: 0, rts: 0, reserved: (0, 0, 0), rts_delay_us: 0,
        request_gap_ms: spec.requestGapMs, reopen_min_ms: spec.reopenMinMs, reopen_max_ms: spec.reopenMaxMs)
}

@c @implementation
public func edgecore_device_config_init(_ config: UnsafeMutablePointer<edgecore_device_config>?) {
    let spec = DeviceSpec(name: "", bus: 0)
    config?.pointee = edgecore_device_config(
        name: nil, bus: 0, unit_id: spec.unitId, one_channel_per_request: 0, max_registers: spec.maxRegisters,
        max_bits: spec.maxBits, reserved: 0, response_timeout_ms: spec.responseTimeoutMs, retries: spec.retries,
        offline_after: spec.offlineAfter, backoff_min_ms: spec.backoffMinMs, backoff_max_ms: spec.backoffMaxMs)
}

@c @implementation
public func edgecore_channel_config_init(_ config: UnsafeMutablePointer<edgecore_channel_config>?) {
    config?.pointee = edgecore_channel_config(
        name: nil, unit: nil, device: 0, address: 0, function: UInt8(EDGECORE_FC_HOLDING_REGISTERS.rawValue),
        type: UInt8(EDGECORE_TYPE_U16.rawValue), order: UInt8(EDGECORE_ORDER_ABCD.rawValue), bit: 0, writable: 0,
        sentinel_count: 0, interval_ms: 1000, reserved: 0, scale: 1, offset: 0, valid_min: .nan, valid_max: .nan,
        sentinels: (0, 0, 0, 0))
}

@c @implementation
public func edgecore_engine_add_tcp_bus(_ engine: OpaquePointer?, _ config: UnsafePointer<edgecore_tcp_bus_config>?,
                                        _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    let c = config.pointee
    guard let name = c.name, let host = c.host else { return nullArgument("tcp bus: 'name' and 'host' are required") }
    let spec = TCPBusSpec(name: String(cString: name), host: String(cString: host), port: c.port,
                          connectTimeoutMs: c.connect_timeout_ms, reconnectMinMs: c.reconnect_min_ms,
                          reconnectMaxMs: c.reconnect_max_ms, requestGapMs: c.request_gap_ms)
    return configure(engine, idOut) { config throws(ConfigError) in try config.addBus(.tcp(spec)) }
}

@c @implementation
public func edgecore_engine_add_rtu_bus(_ engine: OpaquePointer?, _ config: UnsafePointer<edgecore_rtu_bus_config>?,
                                        _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    let c = config.pointee
    guard let name = c.name, let device = c.device else {
        return nullArgument("rtu bus: 'name' and 'device' are required")
    }
    let spec = RTUBusSpec(name: String(cString: name), device: FilePath(cString: device), baud: c.baud,
                          parity: UInt8(bitPattern: c.parity), dataBits: c.data_bits, stopBits: c.stop_bits,
                          rs485: c.rs485 != 0, rts: c.rts, rtsDelayUs: c.rts != 0 && c.rts_delay_us != 0 ? c.rts_delay_us : nil,
                          requestGapMs: c.request_gap_ms, reopenMinMs: c.reopen_min_ms, reopenMaxMs: c.reopen_max_ms)
    return configure(engine, idOut) { config throws(ConfigError) in try config.addBus(.rtu(spec)) }
}

@c @implementation
public func edgecore_engine_add_device(_ engine: OpaquePointer?, _ config: UnsafePointer<edgecore_device_config>?,
                                       _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    let c = config.pointee
    guard let name = c.name else { return nullArgument("device: 'name' is required") }
    let spec = DeviceSpec(name: String(cString: name), bus: Int(clamping: c.bus), unitId: c.unit_id,
                          oneChannelPerRequest: c.one_channel_per_request != 0, maxRegisters: c.max_registers,
                          maxBits: c.max_bits, responseTimeoutMs: c.response_timeout_ms, retries: c.retries,
                          offlineAfter: c.offline_after, backoffMinMs: c.backoff_min_ms, backoffMaxMs: c.backoff_max_ms)
    return configure(engine, idOut) { config throws(ConfigError) in try config.addDevice(spec) }
}

@c @implementation
public func edgecore_engine_add_channel(_ engine: OpaquePointer?, _ config: UnsafePointer<edgecore_channel_config>?,
                                        _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    let c = config.pointee
    guard let name = c.name else { return nullArgument("channel: 'name' is required") }
    let channelName = String(cString: name)
    let field = "channel '\(channelName)'"
    guard let function = ModbusFunction(rawValue: c.function) else {
        return failure(ConfigError(.config, "\(field): field 'function' must be 1..4, not \(c.function)"))
    }
    guard let type = ValueType(c.type) else {
        return failure(ConfigError(.config, "\(field): field 'type' is not an edgecore_value_type: \(c.type)"))
    }
    guard let order = WordOrder(c.order) else {
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
public func edgecore_gpio_chip_config_init(_ config: UnsafeMutablePointer<edgecore_gpio_chip_config>?) {
    config?.pointee = edgecore_gpio_chip_config(name: nil, chip: nil, checkpoint_path: nil, checkpoint_max_per_hour: 60,
                                                event_buffer_size: 1024)
}

@c @implementation
public func edgecore_gpio_line_config_init(_ config: UnsafeMutablePointer<edgecore_gpio_line_config>?) {
    config?.pointee = edgecore_gpio_line_config(
        name: nil, unit: nil, line_name: nil, bus: 0, offset: 0, kind: UInt8(EDGECORE_GPIO_INPUT.rawValue),
        bias: UInt8(EDGECORE_GPIO_BIAS_AS_IS.rawValue), active_low: 0, writable: 0, safe_state: 0,
        reserved: (0, 0, 0), interval_ms: 1000, edge: UInt8(EDGECORE_GPIO_EDGE_RISING.rawValue),
        reserved2: (0, 0, 0), debounce_us: 0, scale: 1, base: 0)
}

@c @implementation
public func edgecore_engine_add_gpio_chip(_ engine: OpaquePointer?,
                                          _ config: UnsafePointer<edgecore_gpio_chip_config>?,
                                          _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    guard let name = config.pointee.name, let chip = config.pointee.chip else {
        return nullArgument("gpio chip: 'name' and 'chip' are required")
    }
    let c = config.pointee
    let spec = GPIOChipSpec(name: String(cString: name), chip: FilePath(cString: chip),
                            checkpointPath: c.checkpoint_path.map { FilePath(cString: $0) },
                            checkpointMaxPerHour: c.checkpoint_max_per_hour, eventBufferSize: c.event_buffer_size)
    return configure(engine, idOut) { config throws(ConfigError) in try config.addBus(.gpio(spec)) }
}

@c @implementation
public func edgecore_engine_add_gpio_line(_ engine: OpaquePointer?,
                                          _ config: UnsafePointer<edgecore_gpio_line_config>?,
                                          _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    let c = config.pointee
    guard let name = c.name else { return nullArgument("gpio line: 'name' is required") }
    let channelName = String(cString: name)
    guard let kind = GPIOKind(rawValue: c.kind) else {
        return failure(ConfigError(.config, "channel '\(channelName)': field 'kind' must be input (0), output (1) or pulses (2)"))
    }
    guard let edge = GPIOEdgeKind(rawValue: c.edge) else {
        return failure(ConfigError(.config, "channel '\(channelName)': field 'edge' must be rising (1), falling (2) or both (3)"))
    }
    guard let bias = GPIOBias(rawValue: c.bias) else {
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
