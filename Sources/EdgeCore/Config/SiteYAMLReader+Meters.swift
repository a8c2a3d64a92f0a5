import CShim

// The meter fields of a site file (docs/meters.md): a meter device's protocol settings and a meter channel's
// item. What belongs to one protocol is refused on the other, at the field's line and with the reason, so
// that a field is never silently ignored. Formats go through meterFormat (SiteConfig.swift), the rules the
// C setters use.

/// A key the file gives (not null), with its value's line.
struct GivenKey {
    let key: StaticString
    let line: Int
}

/// The meter fields of a device as the file gives them (nil: not given), read before `finish`.
struct MeterFields {
    var address: YAMLNode?
    var preamble: UInt8?
    var meterType: UInt8?
    var identifierOrder: UInt8?
    var allowTimeSync: Bool?
}

extension SiteYAMLReader {
    /// A device's Modbus fields, refused on meters.
    static let modbusDeviceKeys: [StaticString] = ["unit_id", "max_registers", "max_bits", "one_channel_per_request",
                                                   "holes"]
    /// A device's meter fields, refused on Modbus devices.
    static let meterDeviceKeys: [StaticString] = ["meter_address", "preamble", "meter_type", "identifier_order",
                                                  "allow_time_sync"]
    /// A channel's Modbus fields, refused on meter channels.
    static let modbusChannelKeys: [StaticString] = ["address", "function", "type", "order", "bit", "sentinels"]
    /// A channel's meter fields, refused on Modbus channels.
    static let meterChannelKeys: [StaticString] = ["item", "di", "format", "length", "decimals"]

    /// The keys of `keys` the item gives a value (not null), marked used but not asked for: keys of another
    /// protocol, refused with their reason once `finish` checked the item's keys (so not as unknown keys,
    /// and not listed among the expected ones); also the lines of keys already read.
    @inline(never)
    func given(_ fields: YAMLMapping, _ keys: [StaticString]) -> [GivenKey] {
        var found: [GivenKey] = []
        for key in keys {
            if let value = fields.valueNotAsked(key) { found.append(GivenKey(key: key, line: value.line)) }
        }
        return found
    }

    /// The key `key` if the item gives it a value.
    @inline(never)
    func givenKey(_ fields: YAMLMapping, _ key: StaticString) -> GivenKey? {
        given(fields, [key]).first
    }

    // MARK: Devices

    /// The meter fields of `deviceProtocol` (DL/T 645: no meter_type, identifier_order; CJ/T 188: no
    /// allow_time_sync).
    func readMeterFields(_ fields: YAMLMapping, protocol deviceProtocol: DeviceProtocol) -> MeterFields {
        var meter = MeterFields()
        meter.address = fields.value("meter_address")
        meter.preamble = integer(fields, DeviceTable.preamble.key, UInt8.self)
        if deviceProtocol == .cjt188 {
            meter.meterType = integer(fields, DeviceTable.meterType.key, UInt8.self)
            meter.identifierOrder = keyword(fields, DeviceTable.identifierOrder.key, .identifierOrders)
        } else {
            meter.allowTimeSync = boolean(fields, DeviceTable.allowTimeSync.key)
        }
        return meter
    }

    /// The first field the device gives that its protocol does not take (call before `finish`).
    func foreignDeviceKey(_ fields: YAMLMapping, protocol deviceProtocol: DeviceProtocol) -> GivenKey? {
        switch deviceProtocol {
        case .modbus: return given(fields, SiteYAMLReader.meterDeviceKeys).first
        case .cjt188: return given(fields, SiteYAMLReader.modbusDeviceKeys + [DeviceTable.allowTimeSync.key]).first
        case .dlt645v2007, .dlt645v1997:
            return given(fields, SiteYAMLReader.modbusDeviceKeys
                         + [DeviceTable.meterType.key, DeviceTable.identifierOrder.key]).first
        }
    }

    /// Why a device of `deviceProtocol` refuses `key`.
    @inline(never)
    func foreignDeviceField(_ key: GivenKey, _ fields: YAMLMapping, protocol deviceProtocol: DeviceProtocol) -> Failure {
        let name = Message.string(key.key)
        let why: Message
        if deviceProtocol == .modbus {
            why = "a meter field, and this device speaks modbus (set 'protocol' for a meter)"
        } else if sameText(name, "unit_id") {
            why = "a Modbus field, and this device speaks \(deviceProtocol.name): a meter is addressed by its 'meter_address'"
        } else if sameText(name, "allow_time_sync") {
            why = "a DL/T 645 field (its broadcast time sync), and this device speaks cjt188"
        } else if sameText(name, "meter_type") || sameText(name, "identifier_order") {
            why = "a CJ/T 188 field, and this device speaks \(deviceProtocol.name)"
        } else {
            why = "a Modbus field, and this device speaks \(deviceProtocol.name): a meter has no registers to read in blocks"
        }
        return fieldFailure(key.line, fields.context, key.key, why)
    }

    /// A meter device's settings (nil for a Modbus device), once `finish` checked the device's keys and the
    /// other protocol's fields were refused: the address read from a quoted string.
    func meterSettings(_ meter: MeterFields, _ fields: YAMLMapping,
                       protocol deviceProtocol: DeviceProtocol) throws(Failure) -> MeterSettings? {
        guard deviceProtocol.isMeter else { return nil }
        let context = fields.context
        var settings: MeterSettings
        if isProfile, meter.address == nil {
            // A profile describes a model; the site file gives each meter's address.
            let placeholder = String(repeating: "1", count: 2 * deviceProtocol.addressLength)
            settings = MeterSettings(address: try MeterAddress(text: placeholder, length: deviceProtocol.addressLength))
        } else {
            let node = try required(meter.address, fields, "meter_address")
            if node.isPlain {
                throw fieldFailure(node.line, context, "meter_address",
                                   "write the address quoted, as '\(node.text ?? "")': unquoted digits are a number in YAML, which drops leading zeros")
            }
            let text = try string(node, context, "meter_address")
            do throws(Failure) {
                settings = MeterSettings(address: try MeterAddress(text: text, length: deviceProtocol.addressLength))
            } catch {
                throw fieldFailure(node.line, context, "meter_address", "\(error.message)")
            }
        }
        if let preamble = meter.preamble { settings.preamble = preamble }
        if let raw = meter.meterType {
            guard let type = CJT188MeterType(rawValue: raw) else {
                throw fieldFailure(givenKey(fields, DeviceTable.meterType.key)?.line ?? fields.line, context,
                                   DeviceTable.meterType.key,
                                   "0x\(hexByte(raw)) is no CJ/T 188 meter type (0x10-0x49 with a low digit 0-9, or 0xAA)")
            }
            settings.meterType = type
        }
        if let order = meter.identifierOrder { settings.identifierOrder = order == 0 ? .lowByteFirst : .highByteFirst }
        if let allow = meter.allowTimeSync { settings.allowTimeSync = allow }
        return settings
    }

    // MARK: Channels

    /// A channel of a meter device: `item` (a catalogue name, a CJ/T 188 field) or `di` (DL/T 645), a
    /// DL/T 645 format, and the value's unit, interval, scale, offset and range.
    func loadMeterChannel(_ fields: YAMLMapping, name: String, device: Int, protocol deviceProtocol: DeviceProtocol,
                          into config: inout SiteConfig) throws(Failure) {
        let context = fields.context
        var codec = ValueCodec.defaults
        let unit = string(fields, "unit")
        var intervalMs = ChannelTable.intervalMs.defaultValue
        read(fields, ChannelTable.intervalMs, into: &intervalMs)
        read(fields, ChannelTable.scale, into: &codec.scale)
        read(fields, ChannelTable.offset, into: &codec.offset)
        codec.validMin = decimal(fields, ChannelTable.validMin.key)
        codec.validMax = decimal(fields, ChannelTable.validMax.key)
        var writable = ChannelTable.writable.defaultValue
        read(fields, ChannelTable.writable, into: &writable)
        let itemName = string(fields, "item")
        // DL/T 645 only: an identifier and its format.
        var identifier: UInt32? = nil
        var format: UInt8? = nil
        var length: UInt8? = nil
        var decimals: UInt8? = nil
        var dlt645Keys: [GivenKey] = []
        if deviceProtocol.dlt645Version != nil {
            identifier = integer(fields, "di", UInt32.self)
            format = keyword(fields, "format", .meterFormats)
            length = integer(fields, "length", UInt8.self)
            decimals = integer(fields, "decimals", UInt8.self)
        } else {
            dlt645Keys = given(fields, ["di", "format", "length", "decimals"])
        }
        let modbusKeys = given(fields, SiteYAMLReader.modbusChannelKeys)
        try finish(fields)
        if let key = modbusKeys.first {
            throw fieldFailure(key.line, context, key.key,
                               "a Modbus field, and this channel's device speaks \(deviceProtocol.name): a meter channel names its value by 'item'\(deviceProtocol == .cjt188 ? "" : " or 'di'")")
        }
        if let key = dlt645Keys.first {
            throw fieldFailure(key.line, context, key.key,
                               "a DL/T 645 field, and this channel's device speaks cjt188: name a field of its current data by 'item'")
        }

        let item: MeterItem
        if let version = deviceProtocol.dlt645Version {
            item = try dlt645Item(fields, deviceProtocol, version, itemName, identifier, format, length, decimals)
        } else {
            let text = try required(itemName, fields, "item")
            guard let number = meterItemNamed(text, protocol: .cjt188), let field = CJT188Field.numbered(number) else {
                throw fieldFailure(givenKey(fields, "item")?.line ?? fields.line, context, "item",
                                   "no cjt188 item named '\(text)' (docs/meters.md lists them)")
            }
            item = .cjt188(field)
        }
        let point = MeterPoint(device: device, item: item, codec: codec)
        let channel = ChannelSpec(name: name, unit: unit ?? "", source: .meter(point), writable: writable,
                                  intervalMs: intervalMs)
        do throws(Failure) { _ = try config.addChannel(channel) } catch { throw located(error, fields.line) }
    }

    /// A DL/T 645 channel's identifier (given by `item` or `di`, exactly one) and its format: the
    /// catalogue's, or the one `format`, `length` and `decimals` give.
    private func dlt645Item(_ fields: YAMLMapping, _ deviceProtocol: DeviceProtocol, _ version: DLT645Version,
                            _ itemName: String?, _ identifier: UInt32?, _ format: UInt8?, _ length: UInt8?,
                            _ decimals: UInt8?) throws(Failure) -> MeterItem {
        let context = fields.context
        let number: UInt32
        let line: Int
        if let itemName {
            if let key = givenKey(fields, "di") {
                throw failure(key.line, context, "give 'item' or 'di', not both")
            }
            line = givenKey(fields, "item")?.line ?? fields.line
            guard let found = meterItemNamed(itemName, protocol: deviceProtocol) else {
                throw fieldFailure(line, context, "item",
                                   "no \(deviceProtocol.name) item named '\(itemName)' (the catalogue: docs/meters.md)")
            }
            number = found
        } else if let identifier {
            number = identifier
            line = givenKey(fields, "di")?.line ?? fields.line
        } else {
            throw failure(fields.line, context,
                          "name what the channel reads by 'item' (a catalogue name) or by 'di' (a data identifier)")
        }
        if format == nil, let key = given(fields, ["length", "decimals"]).first {
            throw fieldFailure(key.line, context, key.key,
                               "goes with 'format' (bcd, bcd_signed or binary); without it the catalogue gives the value's format")
        }
        do throws(Failure) {
            let valueFormat = try meterFormat(identifier: number, version: version, format: UInt16(format ?? 0),
                                              length: length ?? ChannelTable.meterLength.defaultValue,
                                              decimals: decimals ?? ChannelTable.meterDecimals.defaultValue,
                                              of: context)
            return .dlt645(identifier: number, format: valueFormat)
        } catch {
            let at = format == nil ? line : (givenKey(fields, "format")?.line ?? line)
            throw located(error, at)
        }
    }
}
