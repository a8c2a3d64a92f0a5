import CShim

// The site file's items: buses (TCP, RTU, GPIO chips; local buses: SiteYAMLReader+Local.swift), devices, holes, channels and GPIO lines, each read
// field by field and added through SiteConfig's add* methods.

extension SiteYAMLReader {

    func loadBus(_ node: YAMLNode, number: Int, into config: inout SiteConfig) throws(Failure) {
        let fields = try mapping(node, context: "bus #\(number)")
        let name = try requiredString(fields, "name")
        fields.context = ("bus '\(name)'" as Message).text
        let type = try requiredKeyword(fields, "type", .busTypes)
        if type == KeywordSet.gpio {
            try loadGPIOChip(fields, name: name, into: &config)
            return
        }
        if type == KeywordSet.local {
            try loadLocalBus(fields, name: name, into: &config)
            return
        }
        let bus: BusSpec
        let devices = list(fields, "devices")
        if type == KeywordSet.tcp {
            let host = string(fields, "host")
            var spec = TCPBusSpec(name: name, host: host ?? "")
            if let raw = keyword(fields, TCPBusTable.framing.key, .framings), let framing = TCPFraming(rawValue: raw) {
                spec.framing = framing
            }
            read(fields, TCPBusTable.port, into: &spec.port)
            read(fields, TCPBusTable.connectTimeoutMs, into: &spec.connectTimeoutMs)
            read(fields, TCPBusTable.reconnectMinMs, into: &spec.reconnectMinMs)
            read(fields, TCPBusTable.reconnectMaxMs, into: &spec.reconnectMaxMs)
            read(fields, TCPBusTable.requestGapMs, into: &spec.requestGapMs)
            let lineBaud = fields.valueNotAsked(TCPBusTable.lineBaud.key)
            read(fields, TCPBusTable.lineBaud, into: &spec.lineBaud)
            try finish(fields)
            if spec.framing == .mbap, let lineBaud {
                throw fieldFailure(lineBaud.line, fields.context, TCPBusTable.lineBaud.key,
                                   "is for 'framing: transparent' (the serial line behind a serial server)")
            }
            spec.host = try required(host, fields, "host")
            bus = .tcp(spec)
        } else {
            let device = string(fields, "device")
            var spec = RTUBusSpec(name: name, device: FilePath(device ?? ""))
            read(fields, RTUBusTable.baud, into: &spec.baud)
            if let value = keyword(fields, RTUBusTable.parity.key, .parities) { spec.parity = value }
            read(fields, RTUBusTable.dataBits, into: &spec.dataBits)
            read(fields, RTUBusTable.stopBits, into: &spec.stopBits)
            read(fields, RTUBusTable.rs485, into: &spec.rs485)
            if let value = keyword(fields, RTUBusTable.rts.key, .rtsModes) { spec.rts = value }
            spec.rtsDelayUs = integer(fields, RTUBusTable.rtsDelayUs.key, UInt32.self)
            read(fields, RTUBusTable.requestGapMs, into: &spec.requestGapMs)
            read(fields, RTUBusTable.reopenMinMs, into: &spec.reopenMinMs)
            read(fields, RTUBusTable.reopenMaxMs, into: &spec.reopenMaxMs)
            try finish(fields)
            spec.device = FilePath(try required(device, fields, "device"))
            bus = .rtu(spec)
        }
        let busID: Int
        do throws(Failure) { busID = try config.addBus(bus) } catch { throw located(error, fields.line) }

        guard let devices else { return }
        for (index, device) in devices.enumerated() {
            try loadDevice(device, number: index + 1, bus: busID, busContext: fields.context, into: &config)
        }
    }

    func loadGPIOChip(_ fields: YAMLMapping, name: String, into config: inout SiteConfig) throws(Failure) {
        let chip = string(fields, "chip")
        var spec = GPIOChipSpec(name: name, chip: FilePath(chip ?? ""))
        spec.checkpointPath = string(fields, "checkpoint_path").map { FilePath($0) }
        read(fields, GPIOChipTable.checkpointMaxPerHour, into: &spec.checkpointMaxPerHour)
        read(fields, GPIOChipTable.eventBufferSize, into: &spec.eventBufferSize)
        let lines = list(fields, "lines")
        try finish(fields)
        spec.chip = FilePath(try required(chip, fields, "chip"))
        let busID: Int
        do throws(Failure) { busID = try config.addBus(.gpio(spec)) } catch { throw located(error, fields.line) }
        guard let lines else { return }
        for (index, line) in lines.enumerated() {
            try loadGPIOLine(line, number: index + 1, bus: busID, busContext: fields.context, into: &config)
        }
    }

    func loadGPIOLine(_ node: YAMLNode, number: Int, bus: Int, busContext: String,
                              into config: inout SiteConfig) throws(Failure) {
        let fields = try mapping(node, context: "\(busContext), line #\(number)")
        let name = try requiredString(fields, "name")
        fields.context = ("\(busContext), channel '\(name)'" as Message).text
        var line = GPIOLineSpec(bus: bus)
        line.lineName = string(fields, "line_name")
        let offset = integer(fields, GPIOLineTable.offset.key, UInt32.self)
        line.offset = offset ?? line.offset
        if let raw = keyword(fields, GPIOLineTable.kind.key, .gpioKinds), let kind = GPIOKind(rawValue: raw) {
            line.kind = kind
        }
        if let raw = keyword(fields, GPIOLineTable.bias.key, .biases), let bias = GPIOBias(rawValue: raw) {
            line.bias = bias
        }
        read(fields, GPIOLineTable.activeLow, into: &line.activeLow)
        if let raw = keyword(fields, GPIOLineTable.safeState.key, .safeStates) { line.safeState = raw == 1 }
        if let raw = keyword(fields, GPIOLineTable.edge.key, .edges), let edge = GPIOEdgeKind(rawValue: raw) {
            line.edge = edge
        }
        read(fields, GPIOLineTable.debounceUs, into: &line.debounceUs)
        read(fields, GPIOLineTable.scale, into: &line.scale)
        read(fields, GPIOLineTable.base, into: &line.base)
        var writable = GPIOLineTable.writable.defaultValue
        read(fields, GPIOLineTable.writable, into: &writable)
        var intervalMs = GPIOLineTable.intervalMs.defaultValue
        read(fields, GPIOLineTable.intervalMs, into: &intervalMs)
        let channel = ChannelSpec(name: name, unit: string(fields, "unit") ?? "", writable: writable,
                                  intervalMs: intervalMs, gpio: line)
        try finish(fields)
        if (line.lineName == nil) == (offset == nil) {
            throw failure(fields.line, fields.context, "give the line by 'offset' or by 'line_name' (one of them)")
        }
        do throws(Failure) { _ = try config.addGPIOLine(channel) } catch { throw located(error, fields.line) }
    }

    func loadDevice(_ node: YAMLNode, number: Int, bus: Int, busContext: String,
                            into config: inout SiteConfig) throws(Failure) {
        let fields = try mapping(node, context: "\(busContext), device #\(number)")
        let name = try requiredString(fields, "name")
        fields.context = ("\(busContext), device '\(name)'" as Message).text
        if let profileNode = fields.value("profile") {
            guard let profileName = profileNode.text else {
                throw fieldFailure(profileNode.line, fields.context, "profile",
                                   "expected a profile's name, got \(profileNode.described)")
            }
            try loadProfiledDevice(fields, name: name, profile: profileName, at: profileNode.line, bus: bus,
                                   into: &config)
            return
        }
        let (deviceID, deviceProtocol, channels) = try loadDeviceFields(fields, name: name, bus: bus, into: &config)
        if let channels {
            for (index, channel) in channels.enumerated() {
                try loadChannel(channel, number: index + 1, device: deviceID, deviceProtocol: deviceProtocol,
                                deviceContext: fields.context, into: &config)
            }
        }
    }

    /// A device's own fields and its holes; the device's id and protocol, and its channels for the caller to
    /// read.
    func loadDeviceFields(_ fields: YAMLMapping, name: String, bus: Int,
                          into config: inout SiteConfig) throws(Failure) -> (Int, DeviceProtocol, [YAMLNode]?) {
        var spec = DeviceSpec(name: name, bus: bus)
        if let raw = keyword(fields, DeviceTable.deviceProtocol.key, .protocols),
           let deviceProtocol = DeviceProtocol(rawValue: raw) {
            spec.deviceProtocol = deviceProtocol
        }
        let deviceProtocol = spec.deviceProtocol
        read(fields, DeviceTable.responseTimeoutMs, into: &spec.responseTimeoutMs)
        read(fields, DeviceTable.retries, into: &spec.retries)
        read(fields, DeviceTable.offlineAfter, into: &spec.offlineAfter)
        read(fields, DeviceTable.backoffMinMs, into: &spec.backoffMinMs)
        read(fields, DeviceTable.backoffMaxMs, into: &spec.backoffMaxMs)
        // The fields of the device's protocol; the other protocol's are refused once the keys are checked.
        var holes: [YAMLNode]? = nil
        var meter = MeterFields()
        if deviceProtocol.isMeter {
            meter = readMeterFields(fields, protocol: deviceProtocol)
        } else {
            read(fields, DeviceTable.unitId, into: &spec.unitId)
            read(fields, DeviceTable.maxRegisters, into: &spec.maxRegisters)
            read(fields, DeviceTable.maxBits, into: &spec.maxBits)
            read(fields, DeviceTable.oneChannelPerRequest, into: &spec.oneChannelPerRequest)
            holes = list(fields, "holes")
        }
        let foreign = foreignDeviceKey(fields, protocol: deviceProtocol)
        let channels = list(fields, "channels")
        try finish(fields)
        if let foreign { throw foreignDeviceField(foreign, fields, protocol: deviceProtocol) }
        spec.meter = try meterSettings(meter, fields, protocol: deviceProtocol)
        let deviceID: Int
        do throws(Failure) { deviceID = try config.addDevice(spec) } catch { throw located(error, fields.line) }

        // Holes first, whatever the key order, so that a channel inside one is caught at the channel.
        if let holes {
            for (index, hole) in holes.enumerated() {
                try loadHole(hole, number: index + 1, device: deviceID, deviceContext: fields.context, into: &config)
            }
        }
        return (deviceID, spec.deviceProtocol, channels)
    }

    func loadHole(_ node: YAMLNode, number: Int, device: Int, deviceContext: String,
                          into config: inout SiteConfig) throws(Failure) {
        let fields = try mapping(node, context: "\(deviceContext), hole #\(number)")
        let code = keyword(fields, "function", .functions)
        let given = integer(fields, "first", UInt16.self)
        let last = integer(fields, "last", UInt16.self)
        try finish(fields)
        guard let function = ModbusFunction(rawValue: try required(code, fields, "function")) else {
            throw fieldFailure(fields.line, fields.context, "function", "must be 1..4")
        }
        let first = try required(given, fields, "first")
        let hole = Hole(function: function, first: first, last: last ?? first)
        do throws(Failure) { try config.addHole(hole, device: device) } catch { throw located(error, fields.line) }
    }

    func loadChannel(_ node: YAMLNode, number: Int, device: Int, deviceProtocol: DeviceProtocol,
                     deviceContext: String, into config: inout SiteConfig) throws(Failure) {
        let fields = try mapping(node, context: "\(deviceContext), channel #\(number)")
        let name = try requiredString(fields, "name")
        fields.context = ("\(deviceContext), channel '\(name)'" as Message).text
        try loadChannelFields(fields, name: name, device: device, deviceProtocol: deviceProtocol, into: &config)
    }

    /// A channel's fields but its name (given: a profile's channels are named after their device).
    func loadChannelFields(_ fields: YAMLMapping, name: String, device: Int, deviceProtocol: DeviceProtocol,
                           into config: inout SiteConfig) throws(Failure) {
        if deviceProtocol.isMeter {
            try loadMeterChannel(fields, name: name, device: device, protocol: deviceProtocol, into: &config)
            return
        }
        var point = ModbusPoint(device: device, address: 0, codec: .defaults)
        var channel = ChannelSpec(name: name, source: .modbus(point))
        if let raw = keyword(fields, ChannelTable.function.key, .functions), let function = ModbusFunction(rawValue: raw) {
            point.function = function
        }
        let address = integer(fields, "address", UInt16.self)
        var codec = point.codec
        if let raw = keyword(fields, ChannelTable.type.key, .valueTypes), let type = ValueType(raw) {
            codec.type = type
        }
        if let raw = keyword(fields, ChannelTable.order.key, .wordOrders), let order = WordOrder(raw) {
            codec.order = order
        }
        read(fields, ChannelTable.bit, into: &codec.bit)
        channel.unit = string(fields, "unit") ?? ""
        read(fields, ChannelTable.intervalMs, into: &channel.intervalMs)
        read(fields, ChannelTable.scale, into: &codec.scale)
        read(fields, ChannelTable.offset, into: &codec.offset)
        codec.validMin = decimal(fields, ChannelTable.validMin.key)
        codec.validMax = decimal(fields, ChannelTable.validMax.key)
        let type = codec.type
        // A sentinel is compared with the raw value of the type's width: wider ones could never match.
        let rawMax: UInt64 = type == .bit ? 1 : (type.registerCount >= 4 ? .max : (1 << (16 * type.registerCount)) - 1)
        var sentinels: [UInt64] = []
        if let items = list(fields, "sentinels") {
            for item in items {
                if let number = unsigned(item, max: rawMax, fields, "sentinels") { sentinels.append(number) }
            }
        }
        codec.sentinels = sentinels
        read(fields, ChannelTable.writable, into: &channel.writable)
        point.codec = codec
        let meterKeys = given(fields, SiteYAMLReader.meterChannelKeys)
        try finish(fields)
        if let key = meterKeys.first {
            throw fieldFailure(key.line, fields.context, key.key,
                               "a meter field, and this channel's device speaks modbus (set the device's 'protocol' for a meter)")
        }
        point.address = try required(address, fields, "address")
        channel.source = .modbus(point)
        do throws(Failure) { _ = try config.addChannel(channel) } catch { throw located(error, fields.line) }
    }

}
