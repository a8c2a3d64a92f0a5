import CShim

// A site file's local buses (`type: local`): devices and channels the application itself sets. Only names,
// and per channel unit, valid_min, valid_max and interval_ms, mean something; the fields of Modbus, meter and
// GPIO items are refused with file:line and the reason rather than ignored.

extension SiteYAMLReader {
    /// A bus's fields of the other bus types.
    static let otherBusKeys: [StaticString] = [
        "host", "port", "framing", "line_baud", "connect_timeout_ms", "reconnect_min_ms", "reconnect_max_ms",
        "request_gap_ms", "device", "baud", "parity", "data_bits", "stop_bits", "rs485", "rts", "rts_delay_us",
        "reopen_min_ms", "reopen_max_ms", "chip", "checkpoint_path", "checkpoint_max_per_hour", "event_buffer_size",
        "lines",
    ]
    /// A device's fields that only a Modbus device or a meter has.
    static let busDeviceKeys: [StaticString] = [
        "protocol", "profile", "response_timeout_ms", "retries", "offline_after", "backoff_min_ms", "backoff_max_ms",
    ]
    /// A channel's fields that only a Modbus or meter channel has (writable: every local channel is).
    static let busChannelKeys: [StaticString] = ["scale", "offset", "writable"]

    static let localReason: Message = "means nothing on a local bus (only name, unit, valid_min, valid_max, interval_ms)"

    func loadLocalBus(_ fields: YAMLMapping, name: String, into config: inout SiteConfig) throws(Failure) {
        let devices = list(fields, "devices")
        let foreign = given(fields, SiteYAMLReader.otherBusKeys)
        try finish(fields)
        if let key = foreign.first {
            throw fieldFailure(key.line, fields.context, key.key, "is not a field of a local bus (its only fields: name, type, devices)")
        }
        let busID: Int
        do throws(Failure) {
            busID = try config.addBus(.local(LocalBusSpec(name: name)))
        } catch {
            throw located(error, fields.line)
        }
        guard let devices else { return }
        for (index, node) in devices.enumerated() {
            let device = try mapping(node, context: "\(fields.context), device #\(index + 1)")
            let deviceName = try requiredString(device, "name")
            device.context = ("\(fields.context), device '\(deviceName)'" as Message).text
            let channels = list(device, "channels")
            let deviceForeign = given(device, SiteYAMLReader.modbusDeviceKeys + SiteYAMLReader.meterDeviceKeys
                                      + SiteYAMLReader.busDeviceKeys)
            try finish(device)
            if let key = deviceForeign.first {
                throw fieldFailure(key.line, device.context, key.key,
                                   "is not a field of a local bus's device (its only fields: name, channels)")
            }
            let deviceID: Int
            do throws(Failure) {
                deviceID = try config.addDevice(DeviceSpec(name: deviceName, bus: busID))
            } catch {
                throw located(error, device.line)
            }
            guard let channels else { continue }
            for (number, channel) in channels.enumerated() {
                try loadLocalChannel(channel, number: number + 1, device: deviceID, deviceContext: device.context,
                                     into: &config)
            }
        }
    }

    func loadLocalChannel(_ node: YAMLNode, number: Int, device: Int, deviceContext: String,
                          into config: inout SiteConfig) throws(Failure) {
        let fields = try mapping(node, context: "\(deviceContext), channel #\(number)")
        let name = try requiredString(fields, "name")
        fields.context = ("\(deviceContext), channel '\(name)'" as Message).text
        var point = LocalPoint(device: device)
        var channel = ChannelSpec(name: name, source: .local(point), writable: true)
        channel.unit = string(fields, "unit") ?? ""
        read(fields, ChannelTable.intervalMs, into: &channel.intervalMs)
        point.codec.validMin = decimal(fields, ChannelTable.validMin.key)
        point.codec.validMax = decimal(fields, ChannelTable.validMax.key)
        let foreign = given(fields, SiteYAMLReader.modbusChannelKeys + SiteYAMLReader.meterChannelKeys
                            + SiteYAMLReader.busChannelKeys)
        try finish(fields)
        if let key = foreign.first { throw fieldFailure(key.line, fields.context, key.key, SiteYAMLReader.localReason) }
        channel.source = .local(point)
        do throws(Failure) { _ = try config.addChannel(channel) } catch { throw located(error, fields.line) }
    }
}
