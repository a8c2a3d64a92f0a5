import CShim

// Equality of whole specs compares names with String's `==`, which needs Unicode tables in Embedded Swift
// (see Common/Text.swift); only the tests need it, so the shipped build leaves it out.
#if !hasFeature(Embedded)
extension TCPBusSpec: Equatable {}
extension RTUBusSpec: Equatable {}
extension BusSpec: Equatable {}
extension DeviceSpec: Equatable {}
extension ChannelSpec: Equatable {}
extension ChannelSource: Equatable {}
extension ModbusPoint: Equatable {}
extension GPIOChipSpec: Equatable {}
extension LocalBusSpec: Equatable {}
extension LocalPoint: Equatable {}
extension GPIOLineSpec: Equatable {}
extension JournalSpec: Equatable {}
extension MeterSettings: Equatable {}
extension MeterPoint: Equatable {}
#endif

/// The engine's journal as a site file's `journal` section names it.
struct JournalSpec {
    var path: FilePath
    var settings = JournalSettings()
    /// Cursors added when the journal opens, so that segment removal waits for them from the start.
    var cursors: [String] = []

    /// The section's rules beyond its fields' types: the settings' ranges and their relation, the cursor
    /// names (valid and given once).
    func check() throws(Failure) {
        guard !path.isEmpty else { throw Failure(.config, "journal: field 'path' is empty") }
        do throws(Failure) {
            try settings.validate()
            for (index, name) in cursors.enumerated() {
                try JournalSettings.checkCursorName(name)
                if cursors[..<index].contains(where: { sameText($0, name) }) {
                    throw Failure(.config, "journal: cursor '\(name)' is listed twice")
                }
            }
        } catch {
            throw Failure(.config, Message(verbatim: error.message))
        }
    }
}

/// Modbus read function codes (enum edgecore_function).
enum ModbusFunction: UInt8, Equatable {
    case coils = 1
    case discreteInputs = 2
    case holdingRegisters = 3
    case inputRegisters = 4

    var readsBits: Bool { self == .coils || self == .discreteInputs }
    var isWritable: Bool { self == .coils || self == .holdingRegisters }
    /// Longest read the protocol allows.
    var protocolLimit: Int { readsBits ? 2000 : 125 }
}

/// How a TCP bus carries its devices' frames (enum edgecore_tcp_framing).
enum TCPFraming: UInt8, Equatable {
    /// Modbus TCP (MBAP header): Modbus devices only.
    case mbap = 0
    /// The serial frames themselves, as an RS-485 serial server (DTU) passes them to and from its line:
    /// Modbus RTU (with CRC), DL/T 645 and CJ/T 188.
    case transparent = 1
}

struct TCPBusSpec {
    var name: String
    var host: String
    var framing = TCPFraming(rawValue: TCPBusTable.framing.defaultValue) ?? .mbap
    /// Transparent framing: the serial line's baud behind the server (its silence, the plan's estimates).
    var lineBaud = TCPBusTable.lineBaud.defaultValue
    var port = TCPBusTable.port.defaultValue
    var connectTimeoutMs = TCPBusTable.connectTimeoutMs.defaultValue
    var reconnectMinMs = TCPBusTable.reconnectMinMs.defaultValue
    var reconnectMaxMs = TCPBusTable.reconnectMaxMs.defaultValue
    var requestGapMs = TCPBusTable.requestGapMs.defaultValue
}

struct RTUBusSpec {
    var name: String
    var device: FilePath
    var baud = RTUBusTable.baud.defaultValue
    /// 'N', 'E' or 'O'.
    var parity = RTUBusTable.parity.defaultValue
    var dataBits = RTUBusTable.dataBits.defaultValue
    var stopBits = RTUBusTable.stopBits.defaultValue
    var rs485 = RTUBusTable.rs485.defaultValue
    /// 0 none, 1 up, 2 down (MODBUS_RTU_RTS_*).
    var rts = RTUBusTable.rts.defaultValue
    /// nil: libmodbus' default.
    var rtsDelayUs: UInt32? = nil
    var requestGapMs = RTUBusTable.requestGapMs.defaultValue
    var reopenMinMs = RTUBusTable.reopenMinMs.defaultValue
    var reopenMaxMs = RTUBusTable.reopenMaxMs.defaultValue

    /// Bits on the wire per character: start + data + parity + stop.
    var bitsPerCharacter: Int { 1 + Int(dataBits) + (parity == UInt8(ascii: "N") ? 0 : 1) + Int(stopBits) }
}

struct GPIOChipSpec {
    var name: String
    /// Path, name or label of the chip.
    var chip: FilePath
    var checkpointPath: FilePath? = nil
    var checkpointMaxPerHour = GPIOChipTable.checkpointMaxPerHour.defaultValue
    var eventBufferSize = GPIOChipTable.eventBufferSize.defaultValue
}

/// A local bus: channels the application itself sets (edgecore_engine_write), published through the engine
/// like measurements; no I/O.
struct LocalBusSpec {
    var name: String
}

enum BusSpec {
    case tcp(TCPBusSpec)
    case rtu(RTUBusSpec)
    case gpio(GPIOChipSpec)
    case local(LocalBusSpec)

    var name: String {
        switch self {
        case .tcp(let spec): return spec.name
        case .rtu(let spec): return spec.name
        case .gpio(let spec): return spec.name
        case .local(let spec): return spec.name
        }
    }

    var isModbus: Bool {
        switch self {
        case .tcp, .rtu: return true
        case .gpio, .local: return false
        }
    }

    var isLocal: Bool {
        if case .local = self { return true }
        return false
    }

    /// The serial line a transparent TCP bus reaches, for its silence and wire times: 8E1 (11 bits a
    /// character, as 8N2) at its line_baud; nil for other TCP buses and GPIO.
    var serialLine: RTUBusSpec? {
        switch self {
        case .rtu(let spec): return spec
        case .tcp(let spec) where spec.framing == .transparent:
            return RTUBusSpec(name: spec.name, device: FilePath(""), baud: spec.lineBaud, parity: UInt8(ascii: "E"))
        default: return nil
        }
    }

    /// Frames travel as on a serial line: an RTU bus, or a TCP bus with transparent framing. Meters can be
    /// on such a bus only; Modbus devices on it speak RTU.
    var carriesSerialFrames: Bool {
        switch self {
        case .rtu: return true
        case .tcp(let spec): return spec.framing == .transparent
        case .gpio, .local: return false
        }
    }
}

/// Bias of an input line (enum edgecore_gpio_bias).
enum GPIOBias: UInt8 {
    case asIs = 0
    case disabled = 1
    case pullUp = 2
    case pullDown = 3
}

/// Which edges a pulse counter counts (enum edgecore_gpio_edge).
enum GPIOEdgeKind: UInt8 {
    case rising = 1
    case falling = 2
    case both = 3

    func counts(rising: Bool) -> Bool { self == .both || (self == .rising) == rising }
}

/// What a GPIO line channel does (enum edgecore_gpio_kind).
enum GPIOKind: UInt8 {
    case input = 0
    case output = 1
    case pulses = 2
}

/// A GPIO line of a chip bus.
struct GPIOLineSpec {
    var bus: Int
    /// The line by name; nil: by `offset`.
    var lineName: String?
    var offset = GPIOLineTable.offset.defaultValue
    var kind = GPIOKind(rawValue: GPIOLineTable.kind.defaultValue) ?? .input
    var bias = GPIOBias(rawValue: GPIOLineTable.bias.defaultValue) ?? .asIs
    var activeLow = GPIOLineTable.activeLow.defaultValue
    var safeState = GPIOLineTable.safeState.defaultValue
    /// Pulse counters: the edges counted, the debounce, and value = count * scale + base.
    var edge = GPIOEdgeKind(rawValue: GPIOLineTable.edge.defaultValue) ?? .rising
    var debounceUs = GPIOLineTable.debounceUs.defaultValue
    var scale = GPIOLineTable.scale.defaultValue
    var base = GPIOLineTable.base.defaultValue
}

/// The protocol a device speaks (enum edgecore_protocol).
enum DeviceProtocol: UInt8, Equatable {
    case modbus = 0
    case dlt645v2007 = 1
    case dlt645v1997 = 2
    case cjt188 = 3

    var isMeter: Bool { self != .modbus }

    /// The DL/T 645 edition, nil for the other protocols.
    var dlt645Version: DLT645Version? {
        switch self {
        case .dlt645v2007: return .v2007
        case .dlt645v1997: return .v1997
        default: return nil
        }
    }

    /// Bytes of a meter address: 6 (DL/T 645), 7 (CJ/T 188); 0 for Modbus.
    var addressLength: Int {
        switch self {
        case .modbus: return 0
        case .dlt645v2007, .dlt645v1997: return 6
        case .cjt188: return 7
        }
    }

    /// The frame shape of a meter protocol.
    var frameShape: MeterFrameShape { self == .cjt188 ? .cjt188 : .dlt645 }

    /// The site file's word (messages too).
    var name: StaticString {
        switch self {
        case .modbus: return "modbus"
        case .dlt645v2007: return "dlt645-2007"
        case .dlt645v1997: return "dlt645-1997"
        case .cjt188: return "cjt188"
        }
    }
}

/// What a meter device needs beyond a Modbus device's fields.
struct MeterSettings {
    /// 6 bytes (DL/T 645) or 7 (CJ/T 188), least significant first.
    var address: MeterAddress
    /// FE bytes sent before each request (the wake-up preamble).
    var preamble = DeviceTable.preamble.defaultValue
    /// CJ/T 188: the meter type byte T of requests.
    var meterType = CJT188MeterType(rawValue: DeviceTable.meterType.defaultValue) ?? .coldWater
    /// CJ/T 188: how requests carry the data identifier.
    var identifierOrder = CJT188IdentifierOrder.lowByteFirst
    /// DL/T 645: this meter may be sent the broadcast time sync (every DL/T 645 meter of the bus must allow it).
    var allowTimeSync = DeviceTable.allowTimeSync.defaultValue
}

/// Addresses of one function a device forbids reading.
struct Hole: Equatable {
    var function: ModbusFunction
    var first: UInt16
    var last: UInt16
}

struct DeviceSpec {
    var name: String
    var bus: Int
    var unitId = DeviceTable.unitId.defaultValue
    var oneChannelPerRequest = DeviceTable.oneChannelPerRequest.defaultValue
    var maxRegisters = DeviceTable.maxRegisters.defaultValue
    var maxBits = DeviceTable.maxBits.defaultValue
    var responseTimeoutMs = DeviceTable.responseTimeoutMs.defaultValue
    var retries = DeviceTable.retries.defaultValue
    var offlineAfter = DeviceTable.offlineAfter.defaultValue
    var backoffMinMs = DeviceTable.backoffMinMs.defaultValue
    var backoffMaxMs = DeviceTable.backoffMaxMs.defaultValue
    var holes: [Hole] = []
    var deviceProtocol = DeviceProtocol.modbus
    /// Meter protocols: address and the rest (nil for Modbus devices).
    var meter: MeterSettings? = nil

    func limit(for function: ModbusFunction) -> Int {
        function.readsBits ? Int(maxBits) : Int(maxRegisters)
    }
}

/// A Modbus channel's registers or bits: its device, read function, first address, and how its value is
/// coded in them.
struct ModbusPoint {
    var device: Int
    var function = ModbusFunction(rawValue: ChannelTable.function.defaultValue) ?? .holdingRegisters
    var address: UInt16
    var codec: ValueCodec

    /// Registers (or bits, for FC 1/2) the channel reads.
    var width: Int { function.readsBits ? 1 : codec.type.registerCount }
    var lastAddress: Int { Int(address) + width - 1 }
}

/// What a meter channel reads from its meter's reply.
enum MeterItem: Equatable {
    /// A DL/T 645 data identifier and the format of its value (the catalogue's, or the channel's own).
    case dlt645(identifier: UInt32, format: MeterValueFormat)
    /// A field of the CJ/T 188 current-data reply (DI 901F).
    case cjt188(CJT188Field)
}

/// A meter channel: its device, what it reads, and value = meter value * scale + offset within the range
/// (the codec's type and order are unused).
struct MeterPoint {
    var device: Int
    var item: MeterItem
    var codec: ValueCodec

    /// The request that reads it: the DL/T 645 identifier, or 0x901F for every CJ/T 188 field.
    var identifier: UInt32 {
        switch item {
        case .dlt645(let identifier, _): return identifier
        case .cjt188: return UInt32(CJT188Frame.currentDataIdentifier)
        }
    }
}

/// A local channel: its device on a local bus, and the range its values are checked against (the codec's
/// other fields stay at their defaults: scale 1, offset 0, no sentinels).
struct LocalPoint {
    var device: Int
    var codec: ValueCodec = .defaults
}

/// Where a channel's readings come from: a Modbus device's registers or bits, a meter, a GPIO line, or the
/// application's writes (a local bus).
enum ChannelSource {
    case modbus(ModbusPoint)
    case meter(MeterPoint)
    case gpio(GPIOLineSpec)
    case local(LocalPoint)
}

struct ChannelSpec {
    var name: String
    var unit: String = ""
    var source: ChannelSource
    var writable = ChannelTable.writable.defaultValue
    var intervalMs = ChannelTable.intervalMs.defaultValue

    /// The registers or bits of a Modbus channel; nil for a GPIO line.
    var modbus: ModbusPoint? {
        if case .modbus(let point) = source { return point }
        return nil
    }

    /// What a meter channel reads; nil for the others.
    var meter: MeterPoint? {
        if case .meter(let point) = source { return point }
        return nil
    }

    /// The device of a Modbus or meter channel; nil for a GPIO line.
    var device: Int? {
        switch source {
        case .modbus(let point): return point.device
        case .meter(let point): return point.device
        case .local(let point): return point.device
        case .gpio: return nil
        }
    }

    /// A local channel's device and range; nil for the others.
    var local: LocalPoint? {
        if case .local(let point) = source { return point }
        return nil
    }

    /// The line of a GPIO channel; nil for a Modbus channel.
    var gpio: GPIOLineSpec? {
        if case .gpio(let line) = source { return line }
        return nil
    }
}

extension ChannelSpec {
    /// A Modbus channel.
    init(name: String, unit: String = "", device: Int,
         function: ModbusFunction = ModbusFunction(rawValue: ChannelTable.function.defaultValue) ?? .holdingRegisters,
         address: UInt16, codec: ValueCodec, writable: Bool = ChannelTable.writable.defaultValue,
         intervalMs: UInt32 = ChannelTable.intervalMs.defaultValue) {
        self.init(name: name, unit: unit,
                  source: .modbus(ModbusPoint(device: device, function: function, address: address, codec: codec)),
                  writable: writable, intervalMs: intervalMs)
    }

    /// A GPIO line channel.
    init(name: String, unit: String, writable: Bool, intervalMs: UInt32, gpio: GPIOLineSpec) {
        self.init(name: name, unit: unit, source: .gpio(gpio), writable: writable, intervalMs: intervalMs)
    }
}

/// The configuration of an engine: buses, devices and channels, with every rule checked as it is added,
/// so that the C setters and the YAML loader share one validation. A value type: a loader works on a copy
/// and the engine takes it only when everything loaded (all or nothing).
struct SiteConfig {
    private(set) var buses: [BusSpec] = []
    private(set) var devices: [DeviceSpec] = []
    private(set) var channels: [ChannelSpec] = []
    /// The journal a site file names (nil: none named); the engine opens it (Contract's load_yaml).
    private(set) var journal: JournalSpec? = nil
    /// What must be unique, to the item that holds it (names, unit ids, GPIO lines): every check and look-up
    /// is one hash away, so that loading is linear in the items. A value like the arrays (copied with them).
    private var taken = [TextKey: Int]()

    /// The keys of `taken`.
    private enum Taken {
        static func bus(_ name: String) -> TextKey { TextKey(name, kind: 1) }
        static func device(_ name: String) -> TextKey { TextKey(name, kind: 2) }
        static func channel(_ name: String) -> TextKey { TextKey(name, kind: 3) }
        static func unit(bus: Int, unitId: UInt8) -> TextKey { TextKey("", kind: 4, number: UInt64(truncatingIfNeeded: bus) << 8 | UInt64(unitId)) }
        static func lineName(bus: Int, _ name: String) -> TextKey { TextKey(name, kind: 5, number: UInt64(truncatingIfNeeded: bus)) }
        static func lineOffset(bus: Int, _ offset: UInt32) -> TextKey {
            TextKey("", kind: 6, number: UInt64(truncatingIfNeeded: bus) << 32 | UInt64(offset))
        }
        /// A meter address on a bus, per frame shape (DL/T 645 and CJ/T 188 addresses never meet on the wire).
        static func meterAddress(bus: Int, _ address: MeterAddress, cjt188: Bool) -> TextKey {
            TextKey(address.text, kind: 7, number: UInt64(truncatingIfNeeded: bus) << 1 | (cjt188 ? 1 : 0))
        }
    }

    /// Per device (as `devices`): its holes per function as sorted disjoint ranges, and its channels, so that
    /// a channel is checked against the holes by binary search and a hole against its own device's channels.
    private var layout: [DeviceLayout] = []

    private struct DeviceLayout {
        /// Index: function code - 1.
        var holes: [[ClosedRange<Int>]] = [[], [], [], []]
        var channels: [Int] = []

        /// Any hole of `function` overlaps `range`.
        func holed(_ function: ModbusFunction, _ range: ClosedRange<Int>) -> Bool {
            let ranges = holes[Int(function.rawValue) - 1]
            let at = firstEnding(atOrAfter: range.lowerBound, in: ranges)
            return at < ranges.count && ranges[at].lowerBound <= range.upperBound
        }

        /// Adds a hole, merged with those it overlaps.
        mutating func addHole(_ function: ModbusFunction, _ range: ClosedRange<Int>) {
            let index = Int(function.rawValue) - 1
            let start = firstEnding(atOrAfter: range.lowerBound, in: holes[index])
            var end = start
            var merged = range
            while end < holes[index].count, holes[index][end].lowerBound <= range.upperBound {
                merged = min(merged.lowerBound, holes[index][end].lowerBound)...max(merged.upperBound, holes[index][end].upperBound)
                end += 1
            }
            holes[index].replaceSubrange(start..<end, with: CollectionOfOne(merged))
        }

        /// The first of the sorted disjoint `ranges` that ends at or after `value` (count if none).
        private func firstEnding(atOrAfter value: Int, in ranges: [ClosedRange<Int>]) -> Int {
            var low = 0
            var high = ranges.count
            while low < high {
                let middle = (low + high) / 2
                if ranges[middle].upperBound < value { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    static let maxBuses = Int(EDGECORE_RING_LANES_MAX)

    /// Names the engine's journal (nil: none), replacing the one named before.
    mutating func setJournal(_ spec: JournalSpec?) throws(Failure) {
        try spec?.check()
        journal = spec
    }

    // MARK: Adding

    mutating func addBus(_ bus: BusSpec) throws(Failure) -> Int {
        try checkName(Taken.bus(bus.name), bus.name, kind: "bus")
        guard buses.count < SiteConfig.maxBuses else {
            throw Failure(.limit, "bus '\(bus.name)': at most \(SiteConfig.maxBuses) buses")
        }
        switch bus {
        case .tcp(let spec):
            let field = ("bus '\(spec.name)'" as Message).text
            guard !spec.host.isEmpty else { throw Failure(.config, "\(field): field 'host' is empty") }
            try TCPBusTable.framing.check(spec.framing.rawValue, of: field)
            try TCPBusTable.lineBaud.check(spec.lineBaud, of: field)
            try TCPBusTable.port.check(spec.port, of: field)
            try TCPBusTable.connectTimeoutMs.check(spec.connectTimeoutMs, of: field)
            try checkBackoff(spec.reconnectMinMs, TCPBusTable.reconnectMinMs, spec.reconnectMaxMs,
                             TCPBusTable.reconnectMaxMs, of: field)
        case .rtu(let spec):
            let field = ("bus '\(spec.name)'" as Message).text
            guard !spec.device.isEmpty else { throw Failure(.config, "\(field): field 'device' is empty") }
            try RTUBusTable.baud.check(spec.baud, of: field)
            guard spec.parity == UInt8(ascii: "N") || spec.parity == UInt8(ascii: "E")
                || spec.parity == UInt8(ascii: "O") else {
                throw Failure(.config, "\(field): field 'parity' must be N, E or O")
            }
            try RTUBusTable.dataBits.check(spec.dataBits, of: field)
            try RTUBusTable.stopBits.check(spec.stopBits, of: field)
            guard spec.rts <= RTUBusTable.rts.highest else { throw rtsFailure(field) }
            try checkBackoff(spec.reopenMinMs, RTUBusTable.reopenMinMs, spec.reopenMaxMs, RTUBusTable.reopenMaxMs,
                             of: field)
        case .gpio(let spec):
            let field = ("bus '\(spec.name)'" as Message).text
            guard !spec.chip.isEmpty else { throw Failure(.config, "\(field): field 'chip' is empty") }
            try GPIOChipTable.checkpointMaxPerHour.check(spec.checkpointMaxPerHour, of: field)
            try GPIOChipTable.eventBufferSize.check(spec.eventBufferSize, of: field)
        case .local:
            break  // a name only
        }
        buses.append(bus)
        taken[Taken.bus(bus.name)] = buses.count - 1
        return buses.count - 1
    }

    mutating func addDevice(_ device: DeviceSpec) throws(Failure) -> Int {
        try checkName(Taken.device(device.name), device.name, kind: "device")
        let field = ("device '\(device.name)'" as Message).text
        guard device.bus >= 0, device.bus < buses.count, buses[device.bus].isModbus || buses[device.bus].isLocal else {
            throw Failure(.notFound, "\(field): no Modbus bus with id \(device.bus) (nor a local bus)")
        }
        if buses[device.bus].isLocal { return try addLocalDevice(device, field: field) }
        let unit: TextKey
        if device.deviceProtocol.isMeter {
            unit = try checkMeter(device, field: field)
        } else {
            guard device.meter == nil else {
                throw Failure(.config, "\(field): a Modbus device has no meter address (set 'protocol' for a meter)")
            }
            if buses[device.bus].carriesSerialFrames {
                guard device.unitId >= 1, device.unitId <= 247 else {
                    throw Failure(.config, "\(field): field 'unit_id' must be 1..247 on a serial line, not \(device.unitId)")
                }
            }
            unit = Taken.unit(bus: device.bus, unitId: device.unitId)
            if let other = taken[unit] {
                throw Failure(.duplicate, "\(field): unit_id \(device.unitId) is already device '\(devices[other].name)' on this bus")
            }
        }
        if !device.deviceProtocol.isMeter {  // meters ignore them (edgecore.h)
            try DeviceTable.maxRegisters.check(device.maxRegisters, of: field)
            try DeviceTable.maxBits.check(device.maxBits, of: field)
        }
        try DeviceTable.responseTimeoutMs.check(device.responseTimeoutMs, of: field)
        try DeviceTable.retries.check(device.retries, of: field)
        try DeviceTable.offlineAfter.check(device.offlineAfter, of: field)
        try checkBackoff(device.backoffMinMs, DeviceTable.backoffMinMs, device.backoffMaxMs, DeviceTable.backoffMaxMs,
                         of: field)
        let holes = device.holes
        var added = device
        added.holes = []
        devices.append(added)
        layout.append(DeviceLayout())
        let id = devices.count - 1
        for hole in holes {
            do throws(Failure) {
                try addHole(hole, device: id)
            } catch {
                devices.removeLast()
                layout.removeLast()
                throw error
            }
        }
        taken[Taken.device(device.name)] = id
        taken[unit] = id
        return id
    }

    /// A device of a local bus: a name grouping channels. Its Modbus fields are ignored; a meter protocol or
    /// holes mean nothing there.
    private mutating func addLocalDevice(_ device: DeviceSpec, field: String) throws(Failure) -> Int {
        guard device.deviceProtocol == .modbus, device.meter == nil else {
            throw Failure(.config, "\(field): field 'protocol': a device of local bus '\(buses[device.bus].name)' speaks no protocol")
        }
        guard device.holes.isEmpty else {
            throw Failure(.config, "\(field): field 'holes': a device of local bus '\(buses[device.bus].name)' has no registers")
        }
        devices.append(device)
        layout.append(DeviceLayout())
        taken[Taken.device(device.name)] = devices.count - 1
        return devices.count - 1
    }

    mutating func addHole(_ hole: Hole, device: Int) throws(Failure) {
        guard device >= 0, device < devices.count else {
            throw Failure(.notFound, "no device with id \(device)")
        }
        guard !buses[devices[device].bus].isLocal else {
            throw Failure(.config, "device '\(devices[device].name)': field 'holes': a device of local bus '\(buses[devices[device].bus].name)' has no registers")
        }
        let field = ("device '\(devices[device].name)', hole \(hole.first)..\(hole.last)" as Message).text
        guard !devices[device].deviceProtocol.isMeter else {
            throw Failure(.config, "\(field): holes are for Modbus devices, this one speaks \(devices[device].deviceProtocol.name)")
        }
        guard hole.first <= hole.last else {
            throw Failure(.config, "\(field): 'first' is above 'last'")
        }
        let range = Int(hole.first)...Int(hole.last)
        for id in layout[device].channels {
            guard let point = channels[id].modbus, point.function == hole.function,
                  range.overlaps(Int(point.address)...point.lastAddress) else { continue }
            throw Failure(.config, "\(field): channel '\(channels[id].name)' reads there")
        }
        devices[device].holes.append(hole)
        layout[device].addHole(hole.function, range)
    }

    mutating func addChannel(_ channel: ChannelSpec) throws(Failure) -> Int {
        try checkName(Taken.channel(channel.name), channel.name, kind: "channel")
        let field = ("channel '\(channel.name)'" as Message).text
        if channel.meter != nil { return try addMeterChannel(channel, field: field) }
        if channel.local != nil { return try addLocalChannel(channel, field: field) }
        guard let point = channel.modbus else { throw Failure(.config, "\(field): not a Modbus channel") }
        guard point.device >= 0, point.device < devices.count else {
            throw Failure(.notFound, "\(field): no device with id \(point.device)")
        }
        let device = devices[point.device]
        guard !buses[device.bus].isLocal else {
            throw Failure(.config, "\(field): device '\(device.name)' is on local bus '\(buses[device.bus].name)': it has no registers")
        }
        guard !device.deviceProtocol.isMeter else {
            throw Failure(.config, "\(field): device '\(device.name)' speaks \(device.deviceProtocol.name): name the channel's 'item' or 'di', not a register address")
        }
        let codec = point.codec
        if point.function.readsBits {
            guard codec.type == .bit else {
                throw Failure(.config, "\(field): field 'type' must be bit for coils and discrete inputs")
            }
        } else if codec.type == .bit {
            try ChannelTable.bit.check(codec.bit, of: field)
        }
        guard point.lastAddress <= 0xFFFF else {
            throw Failure(.config, "\(field): address \(point.address) + \(point.width) registers passes 65535")
        }
        guard point.width <= device.limit(for: point.function) else {
            throw Failure(.config, "\(field): needs \(point.width) registers, device '\(device.name)' reads at most \(device.limit(for: point.function)) per request")
        }
        if layout[point.device].holed(point.function, Int(point.address)...point.lastAddress),
           let hole = device.holes.first(where: {
            $0.function == point.function && Int($0.first) <= point.lastAddress && Int($0.last) >= Int(point.address)
        }) {
            throw Failure(.config, "\(field): address \(point.address) lies in the hole \(hole.first)..\(hole.last) of device '\(device.name)'")
        }
        try ChannelTable.intervalMs.check(channel.intervalMs, of: field)
        guard codec.scale.isFinite, codec.scale != 0 else {
            throw Failure(.config, "\(field): field 'scale' must be finite and nonzero")
        }
        try ChannelTable.offset.checkFinite(codec.offset, of: field)
        if let low = codec.validMin, let high = codec.validMax, low > high {
            throw Failure(.config, "\(field): 'valid_min' \(decimalText(low)) is above 'valid_max' \(decimalText(high))")
        }
        guard codec.sentinels.count <= Int(ChannelTable.sentinelCount.highest) else {
            throw Failure(.config, "\(field): at most \(ChannelTable.sentinelCount.highest) sentinels")
        }
        if channel.writable, !point.function.isWritable {
            throw Failure(.config, "\(field): only coils and holding registers can be writable")
        }
        channels.append(channel)
        taken[Taken.channel(channel.name)] = channels.count - 1
        layout[point.device].channels.append(channels.count - 1)
        return channels.count - 1
    }

    /// Adds a GPIO line as a channel (its source is `.gpio`).
    mutating func addGPIOLine(_ channel: ChannelSpec) throws(Failure) -> Int {
        try checkName(Taken.channel(channel.name), channel.name, kind: "channel")
        let field = ("channel '\(channel.name)'" as Message).text
        guard let line = channel.gpio else { throw Failure(.config, "\(field): not a GPIO line") }
        guard line.bus >= 0, line.bus < buses.count, case .gpio(let chip) = buses[line.bus] else {
            throw Failure(.notFound, "\(field): no GPIO chip bus with id \(line.bus)")
        }
        if let name = line.lineName, name.isEmpty {
            throw Failure(.config, "\(field): field 'line_name' is empty")
        }
        try GPIOLineTable.intervalMs.check(channel.intervalMs, of: field)
        if channel.writable, line.kind != .output {
            throw Failure(.config, "\(field): only output lines can be writable")
        }
        if line.kind == .pulses {
            guard line.scale.isFinite, line.scale != 0, line.base.isFinite else {
                throw Failure(.config, "\(field): fields 'scale' and 'base' must be finite, 'scale' nonzero")
            }
            try GPIOLineTable.debounceUs.check(line.debounceUs, of: field)
        }
        let used = line.lineName.map { Taken.lineName(bus: line.bus, $0) }
            ?? Taken.lineOffset(bus: line.bus, line.offset)
        if let other = taken[used] {
            let which: Message = line.lineName.map { "line '\($0)'" } ?? "line \(line.offset)"
            throw Failure(.duplicate, "\(field): \(which) of chip '\(chip.chip)' is already channel '\(channels[other].name)'")
        }
        channels.append(channel)
        taken[Taken.channel(channel.name)] = channels.count - 1
        taken[used] = channels.count - 1
        return channels.count - 1
    }

    /// The rules of a meter device; returns the key its address takes.
    private func checkMeter(_ device: DeviceSpec, field: String) throws(Failure) -> TextKey {
        let proto = device.deviceProtocol
        guard buses[device.bus].carriesSerialFrames else {
            throw Failure(.config, "\(field): protocol \(proto.name) needs a serial line: an rtu bus, or a tcp bus with 'framing: transparent'")
        }
        guard let meter = device.meter else {
            throw Failure(.config, "\(field): a \(proto.name) meter needs its 'meter_address'")
        }
        guard meter.address.bytes.count == proto.addressLength else {
            throw Failure(.config, "\(field): a \(proto.name) address has \(2 * proto.addressLength) digits, not \(2 * meter.address.bytes.count)")
        }
        guard !meter.address.isBroadcast else {
            throw Failure(.config, "\(field): the broadcast address \(meter.address.text) is no meter's address")
        }
        try DeviceTable.preamble.check(meter.preamble, of: field)
        if meter.allowTimeSync, proto.dlt645Version == nil {
            throw Failure(.config, "\(field): only DL/T 645 meters take a time sync ('allow_time_sync')")
        }
        let key = Taken.meterAddress(bus: device.bus, meter.address, cjt188: proto == .cjt188)
        if let other = taken[key] {
            throw Failure(.duplicate, "\(field): meter address \(meter.address.text) is already device '\(devices[other].name)' on this bus")
        }
        return key
    }

    /// A channel of a meter device: the item fits the device's protocol (and a CJ/T 188 meter's class), a
    /// format is sane, only a CJ/T 188 valve can be written.
    private mutating func addMeterChannel(_ channel: ChannelSpec, field: String) throws(Failure) -> Int {
        guard var point = channel.meter else { throw Failure(.config, "\(field): not a meter channel") }
        guard point.device >= 0, point.device < devices.count else {
            throw Failure(.notFound, "\(field): no device with id \(point.device)")
        }
        let device = devices[point.device]
        let proto = device.deviceProtocol
        var added = channel
        switch point.item {
        case .dlt645(let identifier, let format):
            guard let version = proto.dlt645Version else {
                throw Failure(.config, "\(field): device '\(device.name)' speaks \(proto.name), not DL/T 645: a data identifier ('di') means nothing to it")
            }
            if version == .v1997, identifier > 0xFFFF {
                throw Failure(.config, "\(field): identifier \(hexIdentifier(identifier, bytes: 4)) has 4 bytes, DL/T 645-1997 identifiers have 2")
            }
            do throws(Failure) {
                _ = try MeterValueFormat.custom(length: format.length, decimals: format.decimals, signed: format.signed,
                                                unit: format.unit, kind: format.kind)
            } catch {
                throw Failure(.config, "\(field): \(error.message)")
            }
            if added.unit.isEmpty { added.unit = format.unit }
            if channel.writable {
                throw Failure(.config, "\(field): DL/T 645 channels cannot be writable (EdgeCore sends no DL/T 645 writes)")
            }
        case .cjt188(let item):
            guard proto == .cjt188, let meter = device.meter else {
                throw Failure(.config, "\(field): device '\(device.name)' speaks \(proto.name): a CJ/T 188 field ('item: \(item.name)') means nothing to it")
            }
            let heat = meter.meterType.meterClass == .heat
            if meter.meterType != .wildcard, item.isHeatField != heat, !item.isCommon {
                throw Failure(.config, "\(field): '\(item.name)' is a field of \(heat ? "water and gas" : "heat") meters; device '\(device.name)' has meter type 0x\(hexByte(meter.meterType.rawValue))")
            }
            if added.unit.isEmpty { added.unit = Message.string(item.defaultUnit) }
            if channel.writable, item != .valveState {
                throw Failure(.config, "\(field): of a CJ/T 188 meter only 'valve_state' can be writable (valve open 0 / close 1)")
            }
        }
        try ChannelTable.intervalMs.check(channel.intervalMs, of: field)
        let codec = point.codec
        guard codec.scale.isFinite, codec.scale != 0 else {
            throw Failure(.config, "\(field): field 'scale' must be finite and nonzero")
        }
        try ChannelTable.offset.checkFinite(codec.offset, of: field)
        if let low = codec.validMin, let high = codec.validMax, low > high {
            throw Failure(.config, "\(field): 'valid_min' \(decimalText(low)) is above 'valid_max' \(decimalText(high))")
        }
        guard codec.sentinels.isEmpty else {
            throw Failure(.config, "\(field): meter channels have no sentinels (a meter's all-0xFF value is status sentinel by itself)")
        }
        point.codec.sentinels = []
        added.source = .meter(point)
        channels.append(added)
        taken[Taken.channel(channel.name)] = channels.count - 1
        return channels.count - 1
    }

    /// A channel of a local bus's device: only its name, unit, range and interval mean something (0: published
    /// on writes only; else the last value again every interval after the first write); always writable.
    private mutating func addLocalChannel(_ channel: ChannelSpec, field: String) throws(Failure) -> Int {
        guard let point = channel.local else { throw Failure(.config, "\(field): not a local channel") }
        guard point.device >= 0, point.device < devices.count, buses[devices[point.device].bus].isLocal else {
            throw Failure(.notFound, "\(field): no device of a local bus with id \(point.device)")
        }
        let codec = point.codec
        let defaults = ValueCodec.defaults
        let ignored: StaticString? = codec.type != defaults.type ? "type" : codec.order != defaults.order ? "order"
            : codec.bit != defaults.bit ? "bit" : codec.scale != defaults.scale ? "scale"
            : codec.offset != defaults.offset ? "offset" : !codec.sentinels.isEmpty ? "sentinels" : nil
        if let ignored { throw localFieldFailure(field, ignored) }
        if let low = codec.validMin, let high = codec.validMax, low > high {
            throw Failure(.config, "\(field): 'valid_min' \(decimalText(low)) is above 'valid_max' \(decimalText(high))")
        }
        var added = channel
        added.writable = true
        channels.append(added)
        taken[Taken.channel(channel.name)] = channels.count - 1
        layout[point.device].channels.append(channels.count - 1)
        return channels.count - 1
    }

    // MARK: Lookup

    func busIndex(named name: String) -> Int? { taken[Taken.bus(name)] }
    func deviceIndex(named name: String) -> Int? { taken[Taken.device(name)] }
    func channelIndex(named name: String) -> Int? { taken[Taken.channel(name)] }

    // MARK: Checks

    private func checkName(_ key: TextKey, _ name: String, kind: String) throws(Failure) {
        guard !name.isEmpty else { throw Failure(.config, "\(kind): field 'name' is empty") }
        if taken[key] != nil { throw Failure(.duplicate, "\(kind) '\(name)': the name is already used") }
    }

    /// A first and a longest delay: each in its range, the first at most the longest.
    private func checkBackoff(_ low: UInt32, _ lowField: ConfigField<UInt32>, _ high: UInt32,
                              _ highField: ConfigField<UInt32>, of item: String) throws(Failure) {
        guard low >= lowField.lowest, high >= low else {
            throw Failure(.config, "\(item): '\(lowField.key)' must be at least \(lowField.lowest) and at most '\(highField.key)'")
        }
    }
}

/// The meter_item a name stands for: a DL/T 645 catalogue name of the device's edition, or a CJ/T 188 item
/// (its number in enum edgecore_cjt188_item); nil for an unknown name or Modbus.
func meterItemNamed(_ name: String, protocol deviceProtocol: DeviceProtocol) -> UInt32? {
    if let version = deviceProtocol.dlt645Version {
        return DLT645Catalogue.entry(named: name, version: version)?.identifier
    }
    guard deviceProtocol == .cjt188 else { return nil }
    return CJT188Field.named(name)?.number
}

/// The format of a DL/T 645 identifier: the catalogue's (format 0), or the one given (enum
/// edgecore_meter_format 1..3, with length and decimals). Shared with the YAML reader's rules.
func meterFormat(identifier: UInt32, version: DLT645Version, format: UInt16, length: UInt8, decimals: UInt8,
                 of field: String) throws(Failure) -> MeterValueFormat {
    // Before the catalogue: a 4-byte identifier on a 1997 meter is wrong whatever its format.
    if version == .v1997, identifier > 0xFFFF {
        throw Failure(.config, "\(field): identifier \(hexIdentifier(identifier, bytes: 4)) has 4 bytes, DL/T 645-1997 identifiers have 2")
    }
    let entry = DLT645Catalogue.entry(identifier: identifier, version: version)
    switch format {
    case 0:
        guard let entry else {
            throw Failure(.config, "\(field): identifier \(hexIdentifier(identifier, bytes: version.identifierLength)) is not in the catalogue: give its format (bcd, bcd_signed or binary), length and decimals")
        }
        return entry.format
    case 1, 2, 3:
        // Length 0: the catalogue's (an override of sign or decimals); outside the catalogue it must be given.
        guard length > 0 || entry != nil else {
            throw Failure(.config, "\(field): identifier \(hexIdentifier(identifier, bytes: version.identifierLength)) is not in the catalogue: give the value's 'length' (bytes, 1..8)")
        }
        let bytes = length > 0 ? Int(length) : entry?.format.length ?? 0
        do throws(Failure) {
            return try MeterValueFormat.custom(length: bytes, decimals: Int(decimals), signed: format == 2,
                                               unit: entry?.format.unit ?? "", kind: format == 3 ? .binary : .bcd)
        } catch {
            throw Failure(.config, "\(field): \(error.message)")
        }
    default:
        throw Failure(.config, "\(field): field 'meter_format' must be 0..3, not \(format)")
    }
}

/// The message of an rts mode outside enum edgecore_rts_mode (SiteConfig and the C setter).
@inline(never)
func rtsFailure(_ item: String) -> Failure {
    Failure(.config, "\(item): field '\(RTUBusTable.rts.key)' must be none (0), up (1) or down (2)")
}

/// A field a local channel cannot have (SiteConfig, the C setter, the YAML reader).
@inline(never)
func localFieldFailure(_ item: String, _ key: StaticString) -> Failure {
    Failure(.config, "\(item): field '\(key)' means nothing on a local bus (only name, unit, valid_min, valid_max, interval_ms)")
}
