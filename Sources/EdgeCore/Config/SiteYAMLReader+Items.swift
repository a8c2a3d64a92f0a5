import CShim

// The site file's items: buses (TCP, RTU, GPIO chips), devices, holes, channels and GPIO lines, each read
// field by field and added through SiteConfig's add* methods.

extension SiteYAMLReader {

    func loadBus(_ node: YAMLNode, number: Int, into config: inout SiteConfig) throws(ConfigError) {
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

    func loadGPIOChip(_ fields: YAMLMapping, name: String, into config: inout SiteConfig) throws(ConfigError) {
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

    func loadGPIOLine(_ node: YAMLNode, number: Int, bus: Int, busContext: String,
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

    func loadDevice(_ node: YAMLNode, number: Int, bus: Int, busContext: String,
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

    func loadHole(_ node: YAMLNode, number: Int, device: Int, deviceContext: String,
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

    func loadChannel(_ node: YAMLNode, number: Int, device: Int, deviceContext: String,
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

}
