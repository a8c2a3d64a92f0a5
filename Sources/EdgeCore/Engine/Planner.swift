/// One read request the engine sends periodically: a contiguous run of registers (or bits) of one device
/// and function, serving the channels inside it.
struct PlannedRequest: Equatable {
    var bus: Int
    var device: Int
    var function: ModbusFunction
    var address: UInt16
    /// Registers, or bits for coils and discrete inputs.
    var count: Int
    var intervalMs: UInt32
    /// Channel ids, by address.
    var channels: [Int]
    /// Meters: the identifier read (a DL/T 645 data identifier; 0x901F for a CJ/T 188 read serving all the
    /// meter's channels of the interval); nil for Modbus (function, address and count are then unused).
    var meterIdentifier: UInt32? = nil

    var lastAddress: Int { Int(address) + count - 1 }
}

/// Turns channels into the fewest read requests: per device, function and interval, channels sorted by
/// address are merged greedily while the span fits the device's limit and crosses none of its holes.
/// Holes cut the address space into segments, and within a segment the greedy cover with a maximum span
/// is minimal, so no plan has fewer requests. A device with the one-channel-per-request quirk gets one
/// request per channel.
enum Planner {
    static func plan(_ config: SiteConfig) -> [PlannedRequest] {
        // Groups in order of their first channel. The index is keyed by TextKey (device and interval in
        // its number, function as its kind): the Dictionary code the library already has, not a second copy.
        var groups: [(key: GroupKey, members: [Int])] = []
        var index = [TextKey: Int]()
        for (id, channel) in config.channels.enumerated() {
            guard let point = channel.modbus else { continue }  // a GPIO line
            let key = GroupKey(device: point.device, function: point.function.rawValue,
                               intervalMs: channel.intervalMs)
            let indexKey = TextKey("", kind: key.function,
                                   number: UInt64(truncatingIfNeeded: key.device) << 32 | UInt64(key.intervalMs))
            if let group = index[indexKey] {
                groups[group].members.append(id)
            } else {
                index[indexKey] = groups.count
                groups.append((key: key, members: [id]))
            }
        }
        var requests: [PlannedRequest] = []
        for (key, members) in groups {
            guard let function = ModbusFunction(rawValue: key.function) else { continue }
            let device = config.devices[key.device]
            // By address, then id: one key per channel (address above, id below 32 bits; ids are array
            // indices, far below 2^32).
            var order = members.map { UInt64(config.channels[$0].modbus?.address ?? 0) << 32 | UInt64(truncatingIfNeeded: $0) }
            sortAscending(&order)
            let limit = device.limit(for: function)
            let holes = device.holes.filter { $0.function == function }
            var current: PlannedRequest? = nil
            for sortKey in order {
                let id = Int(truncatingIfNeeded: sortKey & 0xFFFF_FFFF)
                guard let channel = config.channels[id].modbus else { continue }
                if var open = current {
                    let end = max(open.lastAddress, channel.lastAddress)
                    let span = end - Int(open.address) + 1
                    let crossesHole = holes.contains { Int($0.first) <= end && Int($0.last) >= Int(open.address) }
                    if !device.oneChannelPerRequest, span <= limit, !crossesHole {
                        open.count = span
                        open.channels.append(id)
                        current = open
                        continue
                    }
                    requests.append(open)
                }
                current = PlannedRequest(bus: device.bus, device: key.device, function: function,
                                         address: channel.address, count: channel.width,
                                         intervalMs: key.intervalMs, channels: [id])
            }
            if let open = current { requests.append(open) }
        }
        return requests + planMeters(config)
    }

    /// Meter requests, in channel order: one per DL/T 645 channel (each identifier is its own request), one
    /// per CJ/T 188 meter and interval (the current-data reply serves every field).
    private static func planMeters(_ config: SiteConfig) -> [PlannedRequest] {
        var requests: [PlannedRequest] = []
        for (id, channel) in config.channels.enumerated() {
            guard let point = channel.meter else { continue }
            let device = config.devices[point.device]
            if case .cjt188 = point.item,
               let open = requests.firstIndex(where: { $0.device == point.device && $0.intervalMs == channel.intervalMs }) {
                requests[open].channels.append(id)
                continue
            }
            requests.append(PlannedRequest(bus: device.bus, device: point.device, function: .holdingRegisters,
                                           address: 0, count: 0, intervalMs: channel.intervalMs, channels: [id],
                                           meterIdentifier: point.identifier))
        }
        return requests
    }

    private struct GroupKey {
        var device: Int
        var function: UInt8
        var intervalMs: UInt32
    }
}

/// Wire-time estimates for RTU (TCP is not wire-bound: its cost is the peer's round trip).
enum WireTime {
    /// Characters of a read request frame: unit, function, address (2), count (2), CRC (2).
    static let readRequestCharacters = 8

    /// Characters of a read response: unit, function, byte count, data, CRC (2).
    static func readResponseCharacters(function: ModbusFunction, count: Int) -> Int {
        5 + (function.readsBits ? (count + 7) / 8 : 2 * count)
    }

    /// Microseconds one read transaction occupies an RTU line: both frames and the 3.5-character silence
    /// after each (fixed at 1750 us above 19200 baud, as the specification says). The device's own
    /// turnaround comes on top.
    static func readTransactionMicroseconds(_ bus: RTUBusSpec, function: ModbusFunction, count: Int) -> Int {
        let characters = readRequestCharacters + readResponseCharacters(function: function, count: count)
        let characterMicros = Double(bus.bitsPerCharacter) * 1_000_000 / Double(bus.baud)
        return Int((Double(characters) * characterMicros + 2 * silenceMicroseconds(bus)).rounded(.up))
    }

    /// Characters of a meter request and of its reply: the frames (FE preamble included: a reply is taken to
    /// carry as many FE bytes as the request) and, for DL/T 645, the identifier and the value.
    static func meterCharacters(_ device: DeviceSpec, _ request: PlannedRequest, config: SiteConfig) -> (request: Int, reply: Int) {
        let preamble = Int(device.meter?.preamble ?? 0)
        if let version = device.deviceProtocol.dlt645Version {
            var valueLength = 0
            if let id = request.channels.first, let point = config.channels[id].meter,
               case .dlt645(_, let format) = point.item { valueLength = format.length }
            return (preamble + 12 + version.identifierLength, preamble + 12 + version.identifierLength + valueLength)
        }
        let heat = device.meter?.meterType.meterClass == .heat
        return (preamble + 13 + 3, preamble + 13 + 3 + (heat ? CJT188CurrentData.heatLength : CJT188CurrentData.flowLength))
    }

    /// Microseconds a meter transaction occupies an RTU line without the meter's turnaround: both frames and
    /// the silence the master keeps after the reply. A meter takes 20-500 ms to start its reply (Modbus
    /// slaves a few ms), so the plan adds it from the engine's measured round trip once the meter answered
    /// (`measuredMicroseconds`), and says it is missing before.
    static func meterTransactionMicroseconds(_ bus: RTUBusSpec, characters: (request: Int, reply: Int)) -> Int {
        let characterMicros = Double(bus.bitsPerCharacter) * 1_000_000 / Double(bus.baud)
        return Int((Double(characters.request + characters.reply) * characterMicros + silenceMicroseconds(bus)).rounded(.up))
    }

    /// A meter transaction from a measured round trip (request sent to reply complete, turnaround included)
    /// plus the silence after it.
    static func meterTransactionMicroseconds(_ bus: RTUBusSpec, roundTripMicroseconds: Int) -> Int {
        Int((Double(roundTripMicroseconds) + silenceMicroseconds(bus)).rounded(.up))
    }

    /// The silence that ends an RTU frame (t3.5): 3.5 character times, or 1750 us above 19200 baud. A
    /// master must keep it after an answer before its next request, or the slave may not see a new frame.
    static func silenceMicroseconds(_ bus: RTUBusSpec) -> Double {
        bus.baud > 19_200 ? 1750.0 : 3.5 * Double(bus.bitsPerCharacter) * 1_000_000 / Double(bus.baud)
    }
}

extension Planner {
    /// The dry run: per bus and device the requests, the channels each serves, and per bus the estimated
    /// bus time per second against the intervals.
    /// `roundTrips`: per device, the mean round trip of its good answers in microseconds (nil: none yet), from
    /// a running or stopped engine's statistics; meters' estimates use it (their turnaround is not on the wire).
    static func describe(_ requests: [PlannedRequest], config: SiteConfig, roundTrips: [Int?] = []) -> String {
        var text = ""
        func add(_ part: Message) { text += part.text }
        for (busId, bus) in config.buses.enumerated() {
            let busRequests = requests.filter { $0.bus == busId }
            switch bus {
            case .tcp(let tcp):
                add("bus '\(tcp.name)': tcp \(tcp.host):\(tcp.port)")
                if tcp.framing == .transparent { add(" (transparent, line \(tcp.lineBaud) baud)") }
                add(", \(busRequests.count) requests")
            case .gpio(let chip):
                add("bus '\(chip.name)': gpio chip \(chip.chip)")
                for channel in config.channels {
                    guard let line = channel.gpio, line.bus == busId else { continue }
                    let which: Message = line.lineName.map { "line '\($0)'" } ?? "line \(line.offset)"
                    let kind: Message
                    switch line.kind {
                    case .input: kind = "input"
                    case .output: kind = "output, safe state \(line.safeState ? 1 : 0)"
                    case .pulses: kind = "pulse counter, debounce \(line.debounceUs) us"
                    }
                    add("\n  \(which): \(channel.name), \(kind), every \(channel.intervalMs) ms")
                }
            case .local(let local):
                // No I/O and no bus time: the channels the application writes, and their heartbeats.
                add("bus '\(local.name)': local (written by the application, no bus time)")
                for (deviceId, device) in config.devices.enumerated() where device.bus == busId {
                    add("\n  device '\(device.name)'")
                    for channel in config.channels {
                        guard let point = channel.local, point.device == deviceId else { continue }
                        add("\n    \(channel.name): ")
                        if channel.intervalMs > 0 {
                            add("on writes, the last value again every \(channel.intervalMs) ms")
                        } else {
                            add("on writes only")
                        }
                    }
                }
                add("\n")
                continue
            case .rtu(let rtu):
                add("bus '\(rtu.name)': rtu \(rtu.device) \(rtu.baud) \(rtu.dataBits)")
                add("\(String(decoding: [rtu.parity], as: UTF8.self))\(rtu.stopBits), \(busRequests.count) requests")
            }
            var busyMicrosPerSecond = 0.0
            var perSecond = 0.0
            for (deviceId, device) in config.devices.enumerated() where device.bus == busId {
                if let meter = device.meter {
                    add("\n  device '\(device.name)' \(device.deviceProtocol.name) meter \(meter.address.text)")
                } else {
                    add("\n  device '\(device.name)' unit \(device.unitId)")
                }
                for request in busRequests where request.device == deviceId {
                    if let identifier = request.meterIdentifier {
                        let rate = 1000.0 / Double(request.intervalMs)
                        perSecond += rate
                        let bytes = device.deviceProtocol.dlt645Version?.identifierLength ?? 2
                        add("\n    DI \(hexIdentifier(identifier, bytes: bytes)) every \(request.intervalMs) ms")
                        if let rtu = bus.serialLine {
                            let wire = WireTime.meterTransactionMicroseconds(
                                rtu, characters: WireTime.meterCharacters(device, request, config: config))
                            if deviceId < roundTrips.count, let measured = roundTrips[deviceId] {
                                let micros = max(wire, WireTime.meterTransactionMicroseconds(rtu, roundTripMicroseconds: measured))
                                busyMicrosPerSecond += Double(micros) * rate
                                add(", \(formatFixed(Double(micros) / 1000, decimals: 2)) ms with the measured turnaround")
                            } else {
                                busyMicrosPerSecond += Double(wire) * rate
                                add(", \(formatFixed(Double(wire) / 1000, decimals: 2)) ms on the wire + the meter's turnaround")
                            }
                        }
                        add(":")
                        for id in request.channels { add(" \(config.channels[id].name)") }
                        continue
                    }
                    let rate = 1000.0 / Double(request.intervalMs)
                    perSecond += rate
                    let unit = request.function.readsBits ? "bits" : "registers"
                    add("\n    FC\(request.function.rawValue) \(request.address)..\(request.lastAddress)")
                    add(" (\(request.count) \(unit)) every \(request.intervalMs) ms")
                    if let rtu = bus.serialLine {
                        let micros = WireTime.readTransactionMicroseconds(rtu, function: request.function,
                                                                          count: request.count)
                        busyMicrosPerSecond += Double(micros) * rate
                        add(", \(formatFixed(Double(micros) / 1000, decimals: 2)) ms on the wire")
                    }
                    add(":")
                    for id in request.channels {
                        let channel = config.channels[id]
                        add(" \(channel.name)@\(channel.modbus?.address ?? 0)")
                    }
                }
            }
            add("\n  total: \(formatFixed(perSecond, decimals: 2)) requests/s")
            if bus.serialLine != nil {
                add(", estimated \(formatFixed(busyMicrosPerSecond / 1000, decimals: 1)) ms of bus time")
                add(" per second (\(formatFixed(busyMicrosPerSecond / 10_000, decimals: 1))% of the line")
                add(busyMicrosPerSecond > 1_000_000 ? ": OVERLOADED, intervals cannot be met)" : ")")
            }
            add("\n")
        }
        return text
    }
}

/// `value` with exactly `decimals` digits after the point (no exponent), for reports.
func formatFixed(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9.0e18 else { return decimalText(value) }
    let whole = UInt64(scaled)
    let unit = UInt64(scale)
    var text = value < 0 && whole != 0 ? "-" : ""
    text += String(whole / unit)
    if decimals > 0 {
        // Digits counted as UTF-8 bytes: Character counting would need Unicode tables in Embedded Swift.
        let fraction = String(whole % unit)
        text += "."
        for _ in fraction.utf8.count..<decimals { text += "0" }
        text += fraction
    }
    return text
}
