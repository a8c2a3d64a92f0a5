import CShim

// The configuration functions of the engine: defaults, and C structs turned into specs. Checks of field
// ranges live in SiteConfig (shared with the YAML loader); here only what C alone can get wrong (NULL
// strings, enum values outside their type).

// Defaults of the settings structs (their _init functions, and the fields an older caller's struct lacks),
// from the one table (Config/ConfigTable.swift). Each starts from the all-zero struct (reserved fields, NULL
// strings, ids) and sets the fields the table gives a default.

extension edgecore_engine_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.ring_capacity = EngineTable.ringCapacity.defaultValue
        c.overflow = EngineTable.overflow.defaultValue
        return c
    }
}

extension edgecore_tcp_bus_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.port = TCPBusTable.port.defaultValue
        c.connect_timeout_ms = TCPBusTable.connectTimeoutMs.defaultValue
        c.reconnect_min_ms = TCPBusTable.reconnectMinMs.defaultValue
        c.reconnect_max_ms = TCPBusTable.reconnectMaxMs.defaultValue
        c.request_gap_ms = TCPBusTable.requestGapMs.defaultValue
        c.framing = UInt16(TCPBusTable.framing.defaultValue)
        c.line_baud = TCPBusTable.lineBaud.defaultValue
        return c
    }
}

extension edgecore_rtu_bus_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.baud = RTUBusTable.baud.defaultValue
        c.parity = CChar(bitPattern: RTUBusTable.parity.defaultValue)
        c.data_bits = RTUBusTable.dataBits.defaultValue
        c.stop_bits = RTUBusTable.stopBits.defaultValue
        c.rs485 = RTUBusTable.rs485.defaultValue ? 1 : 0
        c.rts = UInt16(RTUBusTable.rts.defaultValue)
        c.rts_delay_us = RTUBusTable.rtsDelayUs.defaultValue
        c.request_gap_ms = RTUBusTable.requestGapMs.defaultValue
        c.reopen_min_ms = RTUBusTable.reopenMinMs.defaultValue
        c.reopen_max_ms = RTUBusTable.reopenMaxMs.defaultValue
        return c
    }
}

extension edgecore_device_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.unit_id = DeviceTable.unitId.defaultValue
        c.one_channel_per_request = DeviceTable.oneChannelPerRequest.defaultValue ? 1 : 0
        c.max_registers = DeviceTable.maxRegisters.defaultValue
        c.max_bits = DeviceTable.maxBits.defaultValue
        c.response_timeout_ms = DeviceTable.responseTimeoutMs.defaultValue
        c.retries = DeviceTable.retries.defaultValue
        c.offline_after = DeviceTable.offlineAfter.defaultValue
        c.backoff_min_ms = DeviceTable.backoffMinMs.defaultValue
        c.backoff_max_ms = DeviceTable.backoffMaxMs.defaultValue
        c.protocol = UInt16(DeviceTable.deviceProtocol.defaultValue)
        c.meter_type = DeviceTable.meterType.defaultValue
        c.preamble = DeviceTable.preamble.defaultValue
        c.identifier_order = DeviceTable.identifierOrder.defaultValue
        c.allow_time_sync = DeviceTable.allowTimeSync.defaultValue ? 1 : 0
        return c
    }
}

extension edgecore_channel_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.function = UInt16(ChannelTable.function.defaultValue)
        c.type = UInt16(ChannelTable.type.defaultValue)
        c.order = UInt16(ChannelTable.order.defaultValue)
        c.bit = ChannelTable.bit.defaultValue
        c.writable = ChannelTable.writable.defaultValue ? 1 : 0
        c.sentinel_count = ChannelTable.sentinelCount.defaultValue
        c.interval_ms = ChannelTable.intervalMs.defaultValue
        c.scale = ChannelTable.scale.defaultValue
        c.offset = ChannelTable.offset.defaultValue
        c.valid_min = ChannelTable.validMin.defaultValue
        c.valid_max = ChannelTable.validMax.defaultValue
        c.meter_item = ChannelTable.meterItem.defaultValue
        c.meter_format = UInt16(ChannelTable.meterFormat.defaultValue)
        c.meter_length = ChannelTable.meterLength.defaultValue
        c.meter_decimals = ChannelTable.meterDecimals.defaultValue
        return c
    }
}

extension edgecore_gpio_chip_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.checkpoint_max_per_hour = GPIOChipTable.checkpointMaxPerHour.defaultValue
        c.event_buffer_size = GPIOChipTable.eventBufferSize.defaultValue
        return c
    }
}

extension edgecore_gpio_line_config: GrowingSettings {
    static var defaults: Self {
        var c = Self()
        c.scale = GPIOLineTable.scale.defaultValue
        c.base = GPIOLineTable.base.defaultValue
        c.offset = GPIOLineTable.offset.defaultValue
        c.kind = UInt16(GPIOLineTable.kind.defaultValue)
        c.bias = UInt16(GPIOLineTable.bias.defaultValue)
        c.edge = UInt16(GPIOLineTable.edge.defaultValue)
        c.active_low = GPIOLineTable.activeLow.defaultValue ? 1 : 0
        c.writable = GPIOLineTable.writable.defaultValue ? 1 : 0
        c.safe_state = GPIOLineTable.safeState.defaultValue ? 1 : 0
        c.interval_ms = GPIOLineTable.intervalMs.defaultValue
        c.debounce_us = GPIOLineTable.debounceUs.defaultValue
        return c
    }
}

extension edgecore_local_bus_config: GrowingSettings {
    static var defaults: Self { Self() }
}

@c @implementation
public func edgecore_local_bus_config_init_sized(_ config: UnsafeMutablePointer<edgecore_local_bus_config>?,
                                                 _ size: Int) {
    storeDefaults(config, size: size)
}

@c @implementation
public func edgecore_engine_add_local_bus_sized(_ engine: OpaquePointer?,
                                                _ config: UnsafePointer<edgecore_local_bus_config>?, _ size: Int,
                                                _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    var c = edgecore_local_bus_config()
    if let code = loadSettings(config, size: size, into: &c, kind: "local_bus") { return code }
    guard let name = c.name else { return nullArgument("local bus: 'name' is required") }
    let spec = LocalBusSpec(name: String(cString: name))
    return configure(engine, idOut) { config throws(Failure) in try config.addBus(.local(spec)) }
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
    let framing: TCPFraming
    do throws(Failure) {
        framing = try enumField(c.framing, TCPBusTable.framing, of: ("bus '\(String(cString: name))'" as Message).text) {
            TCPFraming(rawValue: $0)
        }
    } catch {
        return failure(error)
    }
    let spec = TCPBusSpec(name: String(cString: name), host: String(cString: host), framing: framing,
                          lineBaud: c.line_baud, port: c.port,
                          connectTimeoutMs: c.connect_timeout_ms, reconnectMinMs: c.reconnect_min_ms,
                          reconnectMaxMs: c.reconnect_max_ms, requestGapMs: c.request_gap_ms)
    return configure(engine, idOut) { config throws(Failure) in try config.addBus(.tcp(spec)) }
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
    guard let rts = UInt8(exactly: c.rts) else { return failure(rtsFailure(("bus '\(String(cString: name))'" as Message).text)) }
    let spec = RTUBusSpec(name: String(cString: name), device: FilePath(cString: device), baud: c.baud,
                          parity: UInt8(bitPattern: c.parity), dataBits: c.data_bits, stopBits: c.stop_bits,
                          rs485: c.rs485 != 0, rts: rts, rtsDelayUs: rts != 0 && c.rts_delay_us != 0 ? c.rts_delay_us : nil,
                          requestGapMs: c.request_gap_ms, reopenMinMs: c.reopen_min_ms, reopenMaxMs: c.reopen_max_ms)
    return configure(engine, idOut) { config throws(Failure) in try config.addBus(.rtu(spec)) }
}

@c @implementation
public func edgecore_engine_add_device_sized(_ engine: OpaquePointer?, _ config: UnsafePointer<edgecore_device_config>?,
                                             _ size: Int, _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    var c = edgecore_device_config()
    if let code = loadSettings(config, size: size, into: &c, kind: "device") { return code }
    guard let name = c.name else { return nullArgument("device: 'name' is required") }
    let deviceName = String(cString: name)
    var spec = DeviceSpec(name: deviceName, bus: Int(clamping: c.bus), unitId: c.unit_id,
                          oneChannelPerRequest: c.one_channel_per_request != 0, maxRegisters: c.max_registers,
                          maxBits: c.max_bits, responseTimeoutMs: c.response_timeout_ms, retries: c.retries,
                          offlineAfter: c.offline_after, backoffMinMs: c.backoff_min_ms, backoffMaxMs: c.backoff_max_ms)
    do throws(Failure) {
        spec.deviceProtocol = try enumField(c.protocol, DeviceTable.deviceProtocol,
                                            of: ("device '\(deviceName)'" as Message).text) { DeviceProtocol(rawValue: $0) }
        spec.meter = try meterSettings(c, protocol: spec.deviceProtocol, device: deviceName)
    } catch {
        return failure(error)
    }
    return configure(engine, idOut) { config throws(Failure) in try config.addDevice(spec) }
}

@c @implementation
public func edgecore_engine_add_channel_sized(_ engine: OpaquePointer?, _ config: UnsafePointer<edgecore_channel_config>?,
                                              _ size: Int, _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine, let config else { return nullArgument("engine and config are required") }
    var c = edgecore_channel_config()
    if let code = loadSettings(config, size: size, into: &c, kind: "channel") { return code }
    guard let name = c.name else { return nullArgument("channel: 'name' is required") }
    let channelName = String(cString: name)
    let field = ("channel '\(channelName)'" as Message).text
    do throws(Failure) {
        try ChannelTable.sentinelCount.check(c.sentinel_count, of: field)
    } catch {
        return failure(error)
    }
    let allSentinels = [c.sentinels.0, c.sentinels.1, c.sentinels.2, c.sentinels.3]
    // A local bus's device: only name, unit, range and interval mean something.
    let onLocalBus: Bool = withEngine(engine) { engine in
        let device = Int(clamping: c.device)
        let config = engine.config
        return device < config.devices.count && config.buses[config.devices[device].bus].isLocal
    }
    if onLocalBus {
        if let ignored = nonDefaultLocalField(c) { return failure(localFieldFailure(field, ignored)) }
        var codec = ValueCodec.defaults
        codec.validMin = c.valid_min.isNaN ? nil : c.valid_min
        codec.validMax = c.valid_max.isNaN ? nil : c.valid_max
        let spec = ChannelSpec(name: channelName, unit: c.unit.map { String(cString: $0) } ?? "",
                               source: .local(LocalPoint(device: Int(clamping: c.device), codec: codec)),
                               writable: true, intervalMs: c.interval_ms)
        return configure(engine, idOut) { config throws(Failure) in try config.addChannel(spec) }
    }
    // A meter device's channel: its item, with the value's scale, offset and range.
    let meterProtocol: DeviceProtocol? = withEngine(engine) { engine in
        let device = Int(clamping: c.device)
        let devices = engine.config.devices
        return device < devices.count && devices[device].deviceProtocol.isMeter ? devices[device].deviceProtocol : nil
    }
    if let meterProtocol {
        var codec = ValueCodec.defaults
        codec.scale = c.scale
        codec.offset = c.offset
        codec.validMin = c.valid_min.isNaN ? nil : c.valid_min
        codec.validMax = c.valid_max.isNaN ? nil : c.valid_max
        codec.sentinels = Array(allSentinels.prefix(Int(c.sentinel_count)))
        let item: MeterItem
        do throws(Failure) {
            item = try meterItem(c, protocol: meterProtocol, of: field)
        } catch {
            return failure(error)
        }
        let point = MeterPoint(device: Int(clamping: c.device), item: item, codec: codec)
        let spec = ChannelSpec(name: channelName, unit: c.unit.map { String(cString: $0) } ?? "", source: .meter(point),
                               writable: c.writable != 0, intervalMs: c.interval_ms)
        return configure(engine, idOut) { config throws(Failure) in try config.addChannel(spec) }
    }
    // A Modbus channel: function, type and order are checked for it only (a meter channel ignores them).
    let function: ModbusFunction
    let type: ValueType
    let order: WordOrder
    do throws(Failure) {
        function = try enumField(c.function, ChannelTable.function, of: field) { ModbusFunction(rawValue: $0) }
        type = try enumField(c.type, ChannelTable.type, of: field) { ValueType($0) }
        order = try enumField(c.order, ChannelTable.order, of: field) { WordOrder($0) }
    } catch {
        return failure(error)
    }
    let codec = ValueCodec(type: type, order: order, bit: c.bit, scale: c.scale, offset: c.offset,
                           validMin: c.valid_min.isNaN ? nil : c.valid_min,
                           validMax: c.valid_max.isNaN ? nil : c.valid_max,
                           sentinels: Array(allSentinels.prefix(Int(c.sentinel_count))))
    let spec = ChannelSpec(name: channelName, unit: c.unit.map { String(cString: $0) } ?? "", device: Int(clamping: c.device),
                           function: function, address: c.address, codec: codec, writable: c.writable != 0,
                           intervalMs: c.interval_ms)
    return configure(engine, idOut) { config throws(Failure) in try config.addChannel(spec) }
}

@c @implementation
public func edgecore_engine_add_hole(_ engine: OpaquePointer?, _ device: UInt32, _ function: UInt8, _ first: UInt16,
                                    _ last: UInt16) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    let code = function
    guard let function = ModbusFunction(rawValue: code) else {
        return failure(Failure(.config, "hole: field '\(ChannelTable.function.key)' must be \(ChannelTable.function.lowest)..\(ChannelTable.function.highest), not \(code)"))
    }
    return configure(engine, nil) { config throws(Failure) in
        try config.addHole(Hole(function: function, first: first, last: last), device: Int(clamping: device))
        return 0
    }
}

/// The first field of a local channel's C struct that is not at its default (nil: none): a local channel
/// has only name, unit, valid_min, valid_max and interval_ms (writable is implied, 0 or 1 accepted).
private func nonDefaultLocalField(_ c: edgecore_channel_config) -> StaticString? {
    let d = edgecore_channel_config.defaults
    if c.address != d.address { return "address" }
    if c.function != d.function { return "function" }
    if c.type != d.type { return "type" }
    if c.order != d.order { return "order" }
    if c.bit != d.bit { return "bit" }
    if c.sentinel_count != 0 { return "sentinel_count" }
    if c.scale != d.scale { return "scale" }
    if c.offset != d.offset { return "offset" }
    if c.meter_item != d.meter_item { return "meter_item" }
    if c.meter_format != d.meter_format { return "meter_format" }
    if c.meter_length != d.meter_length { return "meter_length" }
    if c.meter_decimals != d.meter_decimals { return "meter_decimals" }
    return nil
}

/// Runs a configuration change on the engine behind `handle` and reports its new id.
func configure(_ handle: OpaquePointer, _ idOut: UnsafeMutablePointer<UInt32>?,
               _ change: (inout SiteConfig) throws(Failure) -> Int) -> Int32 {
    withEngine(handle) { engine in
        do throws(Failure) {
            let id = try engine.configure(change)
            idOut?.pointee = UInt32(truncatingIfNeeded: id)
            return EDGECORE_OK
        } catch {
            return failure(error)
        }
    }
}

/// A meter device's settings from its C struct (nil for Modbus: a meter address given to one is refused).
private func meterSettings(_ c: edgecore_device_config, protocol deviceProtocol: DeviceProtocol,
                           device: String) throws(Failure) -> MeterSettings? {
    let field = ("device '\(device)'" as Message).text
    guard deviceProtocol.isMeter else {
        if c.meter_address != nil {
            throw Failure(.config, "\(field): a Modbus device has no meter address (set 'protocol' for a meter)")
        }
        return nil
    }
    guard let text = c.meter_address else {
        throw Failure(.config, "\(field): a \(deviceProtocol.name) meter needs its 'meter_address'")
    }
    let address: MeterAddress
    do throws(Failure) {
        address = try MeterAddress(text: String(cString: text), length: deviceProtocol.addressLength)
    } catch {
        throw Failure(.config, "\(field): \(error.message)")
    }
    var settings = MeterSettings(address: address)
    settings.preamble = c.preamble
    if deviceProtocol == .cjt188 {
        guard let type = CJT188MeterType(rawValue: c.meter_type) else {
            throw Failure(.config, "\(field): field 'meter_type' 0x\(hexByte(c.meter_type)) is no CJ/T 188 meter type (0x10-0x49, low digit 0-9)")
        }
        settings.meterType = type
        try DeviceTable.identifierOrder.check(c.identifier_order, of: field)
        settings.identifierOrder = c.identifier_order == 0 ? .lowByteFirst : .highByteFirst
    }
    settings.allowTimeSync = c.allow_time_sync != 0
    return settings
}

/// What a meter channel's C struct reads: a DL/T 645 identifier with the catalogue's format or its own, or a
/// CJ/T 188 item.
private func meterItem(_ c: edgecore_channel_config, protocol deviceProtocol: DeviceProtocol,
                       of field: String) throws(Failure) -> MeterItem {
    guard let version = deviceProtocol.dlt645Version else {
        guard let item = CJT188Field.numbered(c.meter_item) else {
            throw Failure(.config, "\(field): field 'meter_item' \(c.meter_item) is no CJ/T 188 item (1..\(CJT188Field.allCases.count))")
        }
        return .cjt188(item)
    }
    let format = try meterFormat(identifier: c.meter_item, version: version, format: c.meter_format,
                                 length: c.meter_length, decimals: c.meter_decimals, of: field)
    return .dlt645(identifier: c.meter_item, format: format)
}

/// A C enum field as its Swift type: the table's range in the message when it is none of the cases.
private func enumField<Value>(_ raw: UInt16, _ field: ConfigField<UInt8>, of item: String,
                              _ make: (UInt8) -> Value?) throws(Failure) -> Value {
    if raw <= UInt16(UInt8.max), let value = make(UInt8(truncatingIfNeeded: raw)) { return value }
    throw Failure(.config, "\(item): field '\(field.key)' must be \(field.lowest)..\(field.highest), not \(raw)")
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
    return configure(engine, idOut) { config throws(Failure) in try config.addBus(.gpio(spec)) }
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
    let field = ("channel '\(channelName)'" as Message).text
    let kind: GPIOKind
    let edge: GPIOEdgeKind
    let bias: GPIOBias
    do throws(Failure) {
        kind = try enumField(c.kind, GPIOLineTable.kind, of: field) { GPIOKind(rawValue: $0) }
        edge = try enumField(c.edge, GPIOLineTable.edge, of: field) { GPIOEdgeKind(rawValue: $0) }
        bias = try enumField(c.bias, GPIOLineTable.bias, of: field) { GPIOBias(rawValue: $0) }
        guard c.safe_state <= 1 else { throw Failure(.config, "\(field): field 'safe_state' must be 0 or 1") }
    } catch {
        return failure(error)
    }
    let line = GPIOLineSpec(bus: Int(clamping: c.bus), lineName: c.line_name.map { String(cString: $0) },
                            offset: c.offset, kind: kind, bias: bias, activeLow: c.active_low != 0,
                            safeState: c.safe_state != 0, edge: edge, debounceUs: c.debounce_us, scale: c.scale,
                            base: c.base)
    let spec = ChannelSpec(name: channelName, unit: c.unit.map { String(cString: $0) } ?? "",
                           writable: c.writable != 0, intervalMs: c.interval_ms, gpio: line)
    return configure(engine, idOut) { config throws(Failure) in try config.addGPIOLine(spec) }
}
