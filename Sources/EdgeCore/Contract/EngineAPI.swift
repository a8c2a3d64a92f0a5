import CShim

// The engine's life cycle, readings, statistics and writes: argument checks and marshalling only.

@c @implementation
public func edgecore_engine_create_sized(_ config: UnsafePointer<edgecore_engine_config>?, _ size: Int,
                                         _ engineOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let engineOut else { return nullArgument("engine_out is required") }
    engineOut.pointee = nil
    var settings = edgecore_engine_config.defaults
    if let config, let code = loadSettings(config, size: size, into: &settings, kind: "engine") { return code }
    do throws(Failure) {
        let engine = try Engine(ringCapacity: settings.ring_capacity,
                                overflow: edgecore_overflow_policy(rawValue: UInt32(settings.overflow)),
                                makeWorker: makeWorker)
        engineOut.pointee = OpaquePointer(Unmanaged.passRetained(engine).toOpaque())
        return EDGECORE_OK
    } catch {
        return failure(Failure(error, "engine: ring_capacity \(settings.ring_capacity) or overflow \(settings.overflow) is invalid"))
    }
}

@c @implementation
public func edgecore_engine_destroy(_ engine: OpaquePointer?) {
    guard let engine else { return }
    let owned = Unmanaged<Engine>.fromOpaque(UnsafeRawPointer(engine))
    owned.takeUnretainedValue().close()  // returns once no other thread is inside the engine
    owned.release()
}

@c @implementation
public func edgecore_engine_last_error() -> UnsafePointer<CChar>? {
    UnsafePointer(ec_last_error_buffer())
}

@c @implementation
public func edgecore_engine_load_yaml(_ engine: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    guard let engine, let path else { return nullArgument("engine and path are required") }
    let file = FilePath(cString: path)
    return withEngine(engine) { engine in
        do throws(Failure) {
            try loadSiteFile(engine, file)
            return EDGECORE_OK
        } catch {
            return failure(error)
        }
    }
}

@c @implementation
public func edgecore_engine_find_bus(_ engine: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                                     _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    find(engine, name, idOut, kind: "bus") { $0.busIndex(named: $1) }
}

@c @implementation
public func edgecore_engine_find_device(_ engine: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                                        _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    find(engine, name, idOut, kind: "device") { $0.deviceIndex(named: $1) }
}

@c @implementation
public func edgecore_engine_find_channel(_ engine: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                                         _ idOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    find(engine, name, idOut, kind: "channel") { $0.channelIndex(named: $1) }
}

@c @implementation
public func edgecore_engine_counts(_ engine: OpaquePointer?, _ busesOut: UnsafeMutablePointer<UInt32>?,
                                   _ devicesOut: UnsafeMutablePointer<UInt32>?,
                                   _ channelsOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    return withEngineShared(engine) { engine in
        let config = engine.config
        busesOut?.pointee = UInt32(config.buses.count)
        devicesOut?.pointee = UInt32(config.devices.count)
        channelsOut?.pointee = UInt32(config.channels.count)
        return EDGECORE_OK
    }
}

@c @implementation
public func edgecore_engine_channel_info(_ engine: OpaquePointer?, _ channel: UInt32,
                                         _ nameOut: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                         _ unitOut: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                         _ deviceOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    return withEngineShared(engine) { engine in
        guard let info = engine.channel(Int(clamping: channel)) else {
            return failure(Failure(.notFound, "no channel with id \(channel)"))
        }
        nameOut?.pointee = info.name
        unitOut?.pointee = info.unit
        // A GPIO line has no device: UINT32_MAX, as documented.
        deviceOut?.pointee = info.device.map { UInt32(truncatingIfNeeded: $0) } ?? UInt32.max
        return EDGECORE_OK
    }
}

@c @implementation
public func edgecore_engine_channel_writable(_ engine: OpaquePointer?, _ channel: UInt32) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    return withEngineShared(engine) { engine in
        guard let writable = engine.channelWritable(Int(clamping: channel)) else {
            return failure(Failure(.notFound, "no channel with id \(channel)"))
        }
        return writable ? 1 : 0
    }
}

@c @implementation
public func edgecore_engine_device_protocol(_ engine: OpaquePointer?, _ device: UInt32,
                                            _ protocolOut: UnsafeMutablePointer<UInt16>?,
                                            _ addressOut: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
    guard let engine, addressOut != nil || size == 0 else {
        return nullArgument("engine (and address_out, for a size above 0) are required")
    }
    return withEngineShared(engine) { engine in
        guard let info = engine.deviceProtocol(Int(clamping: device)) else {
            return failure(Failure(.notFound, "no device with id \(device)"))
        }
        protocolOut?.pointee = UInt16(info.deviceProtocol.rawValue)
        storeCString(info.address?.text ?? "", into: addressOut, size: size)
        return EDGECORE_OK
    }
}

@c @implementation
public func edgecore_engine_device_info(_ engine: OpaquePointer?, _ device: UInt32,
                                        _ nameOut: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                        _ busOut: UnsafeMutablePointer<UInt32>?,
                                        _ unitIdOut: UnsafeMutablePointer<UInt8>?) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    return withEngineShared(engine) { engine in
        guard let info = engine.device(Int(clamping: device)) else {
            return failure(Failure(.notFound, "no device with id \(device)"))
        }
        nameOut?.pointee = info.name
        busOut?.pointee = UInt32(info.bus)
        unitIdOut?.pointee = info.unitId
        return EDGECORE_OK
    }
}

@c @implementation
public func edgecore_engine_plan(_ engine: OpaquePointer?, _ text: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    if size != 0, text == nil { return nullArgument("text is required when size > 0") }
    return withEngineShared(engine) { engine in
        let config = engine.config
        // Meters' turnaround from what the engine measured (none before their first answers).
        let roundTrips: [Int?] = config.devices.indices.map { device in
            guard config.devices[device].deviceProtocol.isMeter, let counters = engine.stats.device(device)?.counters,
                  counters.responses > 0 else { return nil }
            return Int(clamping: counters.latency_total_us / counters.responses)
        }
        return storeCString(Planner.describe(Planner.plan(config), config: config, roundTrips: roundTrips),
                            into: text, size: size)
    }
}

@c @implementation
public func edgecore_engine_start(_ engine: OpaquePointer?) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    return withEngine(engine) { engine in
        do throws(Failure) {
            try engine.start()
            return EDGECORE_OK
        } catch {
            return failure(error)
        }
    }
}

@c @implementation
public func edgecore_engine_stop(_ engine: OpaquePointer?) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    return withEngine(engine) { engine in
        engine.stop() ? EDGECORE_OK : failure(Failure(.notRunning, "the engine is not running"))
    }
}

@c @implementation
public func edgecore_engine_drain(_ engine: OpaquePointer?, _ out: UnsafeMutablePointer<edgecore_reading>?,
                                  _ max: Int) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    let limit = max < 0 || max > Int(Int32.max) ? Int(Int32.max) : max
    if limit == 0 { return 0 }
    guard let out else { return nullArgument("out is required when max > 0") }
    return withEngine(engine) { engine in engine.drain(into: out, max: limit) }
}

@c @implementation
public func edgecore_engine_wait(_ engine: OpaquePointer?, _ timeoutMs: Int32) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    return withEngine(engine) { engine in
        do throws(Failure) {
            return Int32(clamping: try engine.wait(timeoutMilliseconds: timeoutMs))
        } catch {
            // A timeout is an ordinary outcome: it leaves the thread's last message alone.
            return error.kind == .timeout ? resultCode(error.kind) : failure(error)
        }
    }
}

@c @implementation
public func edgecore_engine_ring_stats_sized(_ engine: OpaquePointer?,
                                             _ statsOut: UnsafeMutablePointer<edgecore_ring_stats>?, _ size: Int) -> Int32 {
    guard let engine, let statsOut else { return nullArgument("engine and stats_out are required") }
    // Engine.ringStats enters its own section (one that a rebuilt ring's move does not wait for).
    return withEngine(engine) { engine in storeStats(edgecore_ring_stats(engine.ringStats()), into: statsOut, size: size) }
}

@c @implementation
public func edgecore_engine_device_stats_sized(_ engine: OpaquePointer?, _ device: UInt32,
                                               _ statsOut: UnsafeMutablePointer<edgecore_device_stats>?, _ size: Int) -> Int32 {
    copyStats(engine, statsOut, size, notFound: "no device with id \(device)") { engine in
        engine.stats.device(Int(clamping: device)).map { withLastError($0.counters, $0.lastError) }
    }
}

@c @implementation
public func edgecore_engine_device_last_problem(_ engine: OpaquePointer?, _ device: UInt32,
                                                _ text: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
    guard let engine, text != nil || size == 0 else { return nullArgument("engine (and text, for a size above 0) are required") }
    return withEngineShared(engine) { engine in
        guard let problem = engine.stats.deviceProblem(Int(clamping: device)) else {
            return failure(Failure(.notFound, "no device with id \(device)"))
        }
        return storeCString(problem, into: text, size: size)
    }
}

@c @implementation
public func edgecore_engine_bus_stats_sized(_ engine: OpaquePointer?, _ bus: UInt32,
                                            _ statsOut: UnsafeMutablePointer<edgecore_bus_stats>?, _ size: Int) -> Int32 {
    copyStats(engine, statsOut, size, notFound: "no bus with id \(bus)") { engine in
        engine.stats.bus(Int(clamping: bus)).map { withLastError($0.counters, $0.lastError) }
    }
}

@c @implementation
public func edgecore_engine_pulse_stats_sized(_ engine: OpaquePointer?, _ channel: UInt32,
                                              _ statsOut: UnsafeMutablePointer<edgecore_pulse_stats>?, _ size: Int) -> Int32 {
    copyStats(engine, statsOut, size, notFound: "no pulse counter channel with id \(channel)") { engine in
        let index = Int(clamping: channel)
        let channels = engine.config.channels
        guard index < channels.count, channels[index].gpio?.kind == .pulses else { return nil }
        return engine.stats.pulse(index)
    }
}

@c @implementation
public func edgecore_engine_write(_ engine: OpaquePointer?, _ channel: UInt32, _ value: Double,
                                  _ timeoutMs: Int32) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    return withEngineShared(engine) { engine in
        do throws(Failure) {
            try engine.write(channel: Int(clamping: channel), value: value, timeoutMilliseconds: timeoutMs)
            return EDGECORE_OK
        } catch {
            return failure(error)
        }
    }
}

@c @implementation
public func edgecore_engine_write_registers(_ engine: OpaquePointer?, _ device: UInt32, _ address: UInt16,
                                            _ values: UnsafePointer<UInt16>?, _ count: Int, _ timeoutMs: Int32) -> Int32 {
    guard let engine, let values else { return nullArgument("engine and values are required") }
    guard count >= 1, count <= 123 else {
        return failure(Failure(.invalidArgument, "count must be 1..123 registers, not \(count)"))
    }
    let registers = Array(UnsafeBufferPointer(start: values, count: count))
    return rawWrite(engine, device, address, registers: registers, coils: nil, timeoutMs)
}

@c @implementation
public func edgecore_engine_write_coils(_ engine: OpaquePointer?, _ device: UInt32, _ address: UInt16,
                                        _ values: UnsafePointer<UInt8>?, _ count: Int, _ timeoutMs: Int32) -> Int32 {
    guard let engine, let values else { return nullArgument("engine and values are required") }
    guard count >= 1, count <= 1968 else {
        return failure(Failure(.invalidArgument, "count must be 1..1968 coils, not \(count)"))
    }
    let coils = UnsafeBufferPointer(start: values, count: count).map { $0 != 0 ? UInt8(1) : UInt8(0) }
    return rawWrite(engine, device, address, registers: nil, coils: coils, timeoutMs)
}

// MARK: Meter actions and names

@c @implementation
public func edgecore_engine_meter_time_sync(_ engine: OpaquePointer?, _ bus: UInt32, _ unixSeconds: Int64,
                                            _ timeoutMs: Int32) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    let seconds = unixSeconds == 0 ? Clock.realtimeNanoseconds() / 1_000_000_000 : unixSeconds
    return withEngineShared(engine) { engine in
        do throws(Failure) {
            try engine.meterTimeSync(bus: Int(clamping: bus), seconds: seconds, timeoutMilliseconds: timeoutMs)
            return EDGECORE_OK
        } catch {
            return failure(error)
        }
    }
}

@c @implementation
public func edgecore_engine_meter_discover(_ engine: OpaquePointer?, _ bus: UInt32, _ addressOut: UnsafeMutablePointer<CChar>?,
                                           _ size: Int, _ timeoutMs: Int32) -> Int32 {
    guard let engine, let addressOut else { return nullArgument("engine and address_out are required") }
    guard size >= 13 else {
        return failure(Failure(.invalidArgument, "address_out holds \(size) bytes; a DL/T 645 address needs 13 (12 digits and NUL)"))
    }
    return withEngineShared(engine) { engine in
        do throws(Failure) {
            let address = try engine.meterDiscover(bus: Int(clamping: bus), timeoutMilliseconds: timeoutMs)
            storeCString(address.text, into: addressOut, size: 13)
            return EDGECORE_OK
        } catch {
            return failure(error)
        }
    }
}

@c @implementation
public func edgecore_meter_item_find(_ protocolNumber: Int32, _ name: UnsafePointer<CChar>?,
                                     _ itemOut: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let name, let itemOut else { return nullArgument("name and item_out are required") }
    guard protocolNumber >= 1, protocolNumber <= 3, let proto = DeviceProtocol(rawValue: UInt8(protocolNumber)) else {
        return failure(Failure(.invalidArgument, "protocol must be a meter protocol (1..3), not \(protocolNumber)"))
    }
    let text = String(cString: name)
    guard let item = meterItemNamed(text, protocol: proto) else {
        return failure(Failure(.notFound, "no \(proto.name) item named '\(text)'"))
    }
    itemOut.pointee = item
    return EDGECORE_OK
}

// MARK: Helpers of the contract

/// The engine's worker factory, the one place that wires the layers: a local bus gets a LocalWorker, a GPIO
/// chip a GPIOWorker (its chip and lines opened now, so that start fails precisely), a serial line or TCP endpoint a ModbusWorker
/// over libmodbus (RTU lines, Modbus TCP) or over StreamTransport (transparent TCP).
func makeWorker(_ setup: WorkerSetup) throws(Failure) -> any EngineWorker {
    let bus = setup.config.buses[setup.busId]
    if case .local = bus {
        return LocalWorker(busId: setup.busId, config: setup.config, ring: setup.ring, feed: setup.feed,
                           stats: setup.stats, sequences: setup.sequences)
    }
    if case .gpio = bus {
        let (chip, lines) = try openGPIOBus(setup.busId, config: setup.config)
        return GPIOWorker(busId: setup.busId, chip: chip, lines: lines, ring: setup.ring, feed: setup.feed,
                          stats: setup.stats,
                          sequences: setup.sequences, config: setup.config)
    }
    let transport: any ModbusTransport
    if case .tcp(let tcp) = bus, tcp.framing == .transparent {
        transport = StreamTransport(tcp)
    } else {
        transport = LibmodbusTransport(bus)
    }
    return ModbusWorker(busId: setup.busId, config: setup.config, requests: setup.requests,
                        transport: transport, ring: setup.ring, feed: setup.feed,
                        stats: setup.stats, sequences: setup.sequences)
}

/// The statistics getters: checks the arguments, copies what `lookup` finds, or reports `notFound`.
private func copyStats<Stats: GrowingStruct>(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<Stats>?, _ size: Int,
                                             notFound: @autoclosure () -> Message,
                                             _ lookup: (Engine) -> Stats?) -> Int32 {
    guard let handle, let out else { return nullArgument("engine and stats_out are required") }
    return withEngineShared(handle) { engine in
        guard let snapshot = lookup(engine) else { return failure(Failure(.notFound, notFound())) }
        return storeStats(snapshot, into: out, size: size)
    }
}

/// The statistics as C has them: last_error is the result code of the last failure the worker recorded
/// (left as the worker set it when it recorded none as a Failure.Kind).
private func withLastError(_ counters: edgecore_device_stats, _ lastError: Failure.Kind?) -> edgecore_device_stats {
    var stats = counters
    if let lastError { stats.last_error = resultCode(lastError) }
    return stats
}

private func withLastError(_ counters: edgecore_bus_stats, _ lastError: Failure.Kind?) -> edgecore_bus_stats {
    var stats = counters
    if let lastError { stats.last_error = resultCode(lastError) }
    return stats
}

private func rawWrite(_ handle: OpaquePointer, _ device: UInt32, _ address: UInt16, registers: [UInt16]?,
                      coils: [UInt8]?, _ timeoutMs: Int32) -> Int32 {
    withEngineShared(handle) { engine in
        do throws(Failure) {
            try engine.writeRaw(device: Int(clamping: device), address: address, registers: registers, coils: coils,
                                timeoutMilliseconds: timeoutMs)
            return EDGECORE_OK
        } catch {
            return failure(error)
        }
    }
}

private func find(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ idOut: UnsafeMutablePointer<UInt32>?,
                  kind: String, _ lookup: (SiteConfig, String) -> Int?) -> Int32 {
    guard let handle, let name else { return nullArgument("engine and name are required") }
    return withEngineShared(handle) { engine in
        let text = String(cString: name)
        guard let id = lookup(engine.config, text) else {
            return failure(Failure(.notFound, "no \(kind) named '\(text)'"))
        }
        idOut?.pointee = UInt32(id)
        return EDGECORE_OK
    }
}

/// Runs `body` with the engine behind a handle, without retain/release (see RingAPI's withRing).
func withEngine<Result>(_ handle: OpaquePointer, _ body: (Engine) -> Result) -> Result {
    Unmanaged<Engine>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef(body)
}

/// As `withEngine`, for calls any thread may make: inside a section (SharedRing), which destroy waits
/// for before it frees the engine.
func withEngineShared(_ handle: OpaquePointer, _ body: (Engine) -> Int32) -> Int32 {
    withEngine(handle) { engine in engine.shared.visit { _ in body(engine) } }
}

/// Records the message for edgecore_engine_last_error() and returns the failure's result code.
func failure(_ error: Failure) -> Int32 {
    recordLastError(error.message)
    return resultCode(error.kind)
}

private func recordLastError(_ message: String) {
    storeCString(message, into: ec_last_error_buffer(), size: Int(EC_LAST_ERROR_SIZE))
}

/// Copies `text` into a caller's C buffer of `size` bytes as snprintf does: cut to size - 1 bytes and
/// NUL-terminated, nothing written for size 0 or no buffer; a size_t above Int.max (negative here) is no
/// limit. Returns the text's full length in bytes.
@discardableResult
func storeCString(_ text: String, into buffer: UnsafeMutablePointer<CChar>?, size: Int) -> Int32 {
    let utf8 = Array(text.utf8)
    if let buffer, size != 0 {
        let length = size < 0 ? utf8.count : min(utf8.count, size - 1)
        for index in 0..<length { buffer[index] = CChar(bitPattern: utf8[index]) }
        buffer[length] = 0
    }
    return Int32(clamping: utf8.count)
}

func nullArgument(_ message: Message) -> Int32 { failure(Failure(.nullPointer, message)) }
