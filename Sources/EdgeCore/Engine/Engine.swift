import CShim

/// An engine: a site configuration, its plan, one worker per bus while running, and the ring the
/// workers publish into (one lane per bus).
///
/// Threads (edgecore.h's thread rules): configuration, start, stop and close from one thread at a time;
/// drain/wait from one consumer at a time; statistics, writes and lookups from any thread. The
/// configuration is replaced (never changed in place) under `configLock`, and other threads read a copy
/// of it taken under that lock; the ring and the run state reach them through `shared` (SharedRing),
/// inside sections that close() waits for before the engine may be freed.
final class Engine: @unchecked Sendable {
    private var storedConfig = SiteConfig()
    private let configLock = Lock()
    private let ringCapacity: UInt32
    private let overflow: edgecore_overflow_policy
    let shared: SharedRing
    private let makeWorker: WorkerFactory
    private var workers: [any EngineWorker] = []
    /// Stopped workers that hold outputs at their safe state (EngineWorker.holdsOutputsAfterStop), kept
    /// until the next start or destroy.
    private var held: [any EngineWorker] = []
    private let runState = Lock()
    let stats = EngineStats()
    /// C copies of channel names and units, and of device names, handed out by the *_info functions;
    /// they only grow (under `configLock`), and each copy lives as long as the engine.
    private var channelStrings: [(name: UnsafeMutablePointer<CChar>, unit: UnsafeMutablePointer<CChar>)] = []
    private var deviceNames: [UnsafeMutablePointer<CChar>] = []
    /// Per-channel sequence counters; they outlive the workers so that numbering continues on restart.
    private var sequences: UnsafeMutablePointer<UInt32> = .allocate(capacity: 1)
    private var sequenceCapacity = 0
    /// The journal the engine owns (nil: none), replaced only while stopped, under `journalLock` so that
    /// any thread may read it (edgecore_engine_journal).
    private var storedJournal: (journal: Journal, settings: JournalSettings)?
    private let journalLock = Lock()
    /// The journal thread of the current run (nil: stopped, or no journal).
    private var journalWriter: JournalWriter?
    let journalCounters = JournalWriterCounters()

    init(ringCapacity: UInt32, overflow: edgecore_overflow_policy, makeWorker: @escaping WorkerFactory) throws(Failure) {
        // Validate now, as edgecore_ring_create would, so that start cannot fail on them.
        _ = try Ring.make(capacity: ringCapacity, lanes: 1, policy: overflow)
        self.ringCapacity = ringCapacity
        self.overflow = overflow
        self.makeWorker = makeWorker
        shared = try SharedRing()
    }

    deinit {
        stop()
        closeJournal()
        for strings in channelStrings {
            strings.name.deallocate()
            strings.unit.deallocate()
        }
        for name in deviceNames { name.deallocate() }
        sequences.deallocate()
    }

    /// A copy of the configuration as it is now. Any thread.
    var config: SiteConfig { configLock.withLock { storedConfig } }

    var isRunning: Bool { runState.withLock { !workers.isEmpty } }

    // MARK: Journal

    /// The engine's journal, or nil. Any thread.
    var journal: Journal? { journalLock.withLock { storedJournal?.journal } }

    /// Makes `journal` (nil: none) the engine's, closing the one it replaces. Stopped engine only.
    func setJournal(_ journal: Journal?, settings: JournalSettings) throws(Failure) {
        guard !isRunning else { throw Failure(.running, "the engine is running: stop it to change its journal") }
        let previous = journalLock.withLock { () -> Journal? in
            defer { storedJournal = journal.map { ($0, settings) } }
            return storedJournal?.journal
        }
        if let previous, previous !== journal { closeQuietly(previous) }
    }

    private func closeJournal() {
        let previous = journalLock.withLock { () -> Journal? in
            defer { storedJournal = nil }
            return storedJournal?.journal
        }
        if let previous { closeQuietly(previous) }
    }

    /// A journal's final sync failing loses nothing a process crash could take (the data is in the kernel);
    /// it shows as the last error of the engine's journal statistics.
    private func closeQuietly(_ journal: Journal) {
        do throws(Failure) { try journal.close() } catch { journalCounters.recordSyncFailure(error.kind) }
    }

    func journalStats() -> EngineJournalStats { journalCounters.snapshot }

    // MARK: Configuration

    /// Applies a change to a copy of the configuration and keeps it only if the change succeeds.
    func configure<Result>(_ change: (inout SiteConfig) throws(Failure) -> Result) throws(Failure) -> Result {
        guard !isRunning else { throw Failure(.running, "the engine is running: stop it to change its configuration") }
        var copy = storedConfig  // only this thread replaces it
        let result = try change(&copy)
        if copy.channels.count > sequenceCapacity {
            // Only while stopped (checked above), so no worker holds the old counters.
            let grown = UnsafeMutablePointer<UInt32>.allocate(capacity: copy.channels.count)
            grown.initialize(repeating: 0, count: copy.channels.count)
            grown.update(from: sequences, count: sequenceCapacity)
            sequences.deallocate()
            sequences = grown
            sequenceCapacity = copy.channels.count
        }
        stats.ensure(devices: copy.devices.count, buses: copy.buses.count, channels: copy.channels.count)
        configLock.withLock {
            for channel in copy.channels.dropFirst(channelStrings.count) {
                channelStrings.append((makeCString(channel.name), makeCString(channel.unit)))
            }
            for device in copy.devices.dropFirst(deviceNames.count) { deviceNames.append(makeCString(device.name)) }
            storedConfig = copy
        }
        return result
    }

    /// A device's name (a C string that lives as long as the engine), bus and unit id. Any thread.
    func device(_ device: Int) -> (name: UnsafePointer<CChar>, bus: Int, unitId: UInt8)? {
        configLock.withLock {
            guard device >= 0, device < deviceNames.count, device < storedConfig.devices.count else { return nil }
            return (UnsafePointer(deviceNames[device]), storedConfig.devices[device].bus, storedConfig.devices[device].unitId)
        }
    }

    /// A device's protocol and meter address (nil for Modbus). Any thread.
    func deviceProtocol(_ device: Int) -> (deviceProtocol: DeviceProtocol, address: MeterAddress?)? {
        configLock.withLock {
            guard device >= 0, device < storedConfig.devices.count else { return nil }
            return (storedConfig.devices[device].deviceProtocol, storedConfig.devices[device].meter?.address)
        }
    }

    /// A channel's name and unit (C strings that live as long as the engine) and its device (nil for a GPIO
    /// line). Any thread.
    func channel(_ channel: Int) -> (name: UnsafePointer<CChar>, unit: UnsafePointer<CChar>, device: Int?)? {
        configLock.withLock {
            guard channel >= 0, channel < channelStrings.count, channel < storedConfig.channels.count else { return nil }
            return (UnsafePointer(channelStrings[channel].name), UnsafePointer(channelStrings[channel].unit),
                    storedConfig.channels[channel].device)
        }
    }

    /// Whether a channel is writable (nil: no such channel).
    func channelWritable(_ channel: Int) -> Bool? {
        configLock.withLock {
            channel >= 0 && channel < storedConfig.channels.count ? storedConfig.channels[channel].writable : nil
        }
    }

    // MARK: Running

    func start() throws(Failure) {
        guard !isRunning else { throw Failure(.running, "the engine is already running") }
        let config = storedConfig  // only this thread replaces it
        guard !config.channels.isEmpty else { throw Failure(.config, "nothing to sample: no channels are configured") }
        let requests = Planner.plan(config)
        let lanes = UInt32(config.buses.count)
        if shared.ring?.laneCount != lanes {
            do throws(Failure) {
                shared.install(try Ring.make(capacity: ringCapacity, lanes: lanes, policy: overflow))
            } catch {
                throw Failure(error, "cannot create the ring of \(lanes) lanes x \(ringCapacity) readings")
            }
        }
        guard let ring = shared.ring else { throw Failure(Failure.outOfMemory, "no ring") }
        held.removeAll()  // release the outputs a previous run held at their safe state
        var writer: JournalWriter? = nil
        if let (journal, settings) = journalLock.withLock({ storedJournal }) {
            writer = try JournalWriter(journal: journal, settings: settings, lanes: lanes, capacity: ringCapacity,
                                       counters: journalCounters)
        }
        // The factory opens what can fail precisely (a GPIO chip, its lines), so that the start fails
        // instead of a stream of bad readings.
        var prepared: [any EngineWorker] = []
        for busId in config.buses.indices {
            prepared.append(try makeWorker(WorkerSetup(busId: busId, config: config,
                                                       requests: requests.filter { $0.bus == busId },
                                                       ring: ring, feed: writer?.feed, stats: stats,
                                                       sequences: sequences)))
        }
        try writer?.start()
        var started: [any EngineWorker] = []
        for worker in prepared {
            let busId = worker.busId
            do throws(Failure) {
                try worker.start()
            } catch {
                for running in started { running.stop() }
                writer?.finish()
                throw Failure(error, "cannot start the worker of bus '\(config.buses[busId].name)'")
            }
            started.append(worker)
        }
        journalWriter = writer
        runState.withLock { workers = started }
        shared.setRunning(true)
    }

    /// Stops every worker; returns false when none ran. A consumer waiting for readings is woken once
    /// every worker has ended (so every reading of the run is in the ring by then).
    @discardableResult
    func stop() -> Bool {
        let stopping = runState.withLock { () -> [any EngineWorker] in
            defer { workers.removeAll() }
            return workers
        }
        for worker in stopping { worker.stop() }
        held = stopping.filter { $0.holdsOutputsAfterStop }
        if !stopping.isEmpty { shared.setRunning(false) }
        // Every worker has ended: the journal thread appends what is left in its feed, syncs and ends (the
        // live view's consumer was woken first: it need not wait for the flash).
        journalWriter?.finish()
        journalWriter = nil
        return !stopping.isEmpty
    }

    /// Destroy's first half: stops, wakes a waiting consumer (it returns EDGECORE_E_NOT_RUNNING), and
    /// returns once no other thread is inside a section; the engine may then be freed.
    func close() {
        stop()
        shared.close()
    }

    // MARK: Readings (consumer) and statistics

    func drain(into out: UnsafeMutablePointer<Reading>, max: Int) -> Int32 {
        shared.consume { ring, _ in Int32(ring?.drain(into: out, max: max) ?? 0) }
    }

    /// Readings available (> 0), or a failure: .timeout, or .notRunning when the engine is stopped (or
    /// being destroyed) and nothing is left to drain. A stop wakes a waiting consumer.
    ///
    /// A wait may leave its section and enter another (after a stop, or a start that replaces the ring),
    /// and a destroy can complete in between and free the engine. So the wait does not touch the engine
    /// after its first step: it holds the SharedRing itself, with a counted reference that keeps it and its
    /// ring alive, and its next section sees the phase `closing` and returns .notRunning.
    func wait(timeoutMilliseconds: Int32) throws(Failure) -> Int {
        let held = Unmanaged.passRetained(shared)
        defer { held.release() }
        return try Engine.wait(on: held.takeUnretainedValue(), timeoutMilliseconds: timeoutMilliseconds)
    }

    private static func wait(on shared: SharedRing, timeoutMilliseconds: Int32) throws(Failure) -> Int {
        let deadline: Int64? = timeoutMilliseconds < 0
            ? nil : Clock.monotonicNanoseconds() + Int64(timeoutMilliseconds) * 1_000_000
        while true {
            // nil: stopped (or being destroyed) with nothing left; 0: look again.
            let outcome = shared.consume { ring, phase -> Result<UInt64?, Failure> in
                guard let ring, !phase.closing else { return .success(nil) }
                var ready = ring.available()
                if phase.running {
                    do throws(Failure) {
                        ready = try ring.wait(until: deadline, watch: shared.watch(phase))
                    } catch {
                        return .failure(error)
                    }
                    if ready == 0 { return .success(0) }  // stopped, restarted or destroyed meanwhile: look again
                }
                return .success(ready > 0 ? ready : nil)
            }
            guard let ready = try outcome.get() else {
                throw Failure(.notRunning, "the engine is stopped and no readings are left")
            }
            if ready != 0 { return Int(clamping: ready) }
            #if DEBUG
            Engine.waitLeftSection?(shared)
            #endif
        }
    }

    #if DEBUG
    /// Tests only: called with the engine's SharedRing when a wait has left a section to look again.
    nonisolated(unsafe) static var waitLeftSection: ((SharedRing) -> Void)? = nil
    #endif

    func ringStats() -> RingStats {
        shared.visit { ring in ring?.stats(lane: nil) ?? RingStats() }
    }

    // MARK: Writes

    /// Encodes and queues a write of `value` to a writable channel, and waits for its result.
    func write(channel id: Int, value: Double, timeoutMilliseconds: Int32) throws(Failure) {
        let config = self.config
        guard id >= 0, id < config.channels.count else { throw Failure(.notFound, "no channel with id \(id)") }
        let channel = config.channels[id]
        guard channel.writable else {
            throw Failure(.notWritable, "channel '\(channel.name)' is not declared writable")
        }
        let point: ModbusPoint
        switch channel.source {
        case .gpio(let line):
            guard !value.isNaN else {
                throw Failure(.value, "channel '\(channel.name)': NaN cannot be written to an output")
            }
            try submit(WriteJob(.gpioOutput(channel: id, level: value != 0)), bus: line.bus,
                       timeoutMilliseconds: timeoutMilliseconds, config: config)
            return
        case .local(let local):
            // Published at once by the local bus's worker: no I/O, so the timeout never runs out.
            guard !value.isNaN else {
                throw Failure(.value, "channel '\(channel.name)': NaN is no value of a local channel")
            }
            try submit(WriteJob(.local(channel: id, value: value)), bus: config.devices[local.device].bus,
                       timeoutMilliseconds: timeoutMilliseconds, config: config)
            return
        case .modbus(let modbus):
            point = modbus
        case .meter(let meter):
            // SiteConfig lets only a CJ/T 188 valve be writable: 0 opens it, 1 closes it (as valve_state reads).
            guard value == 0 || value == 1 else {
                throw Failure(.value, "channel '\(channel.name)': a valve is written 0 (open) or 1 (close), not \(decimalText(value))")
            }
            try submit(WriteJob(.meterValve(device: meter.device, open: value == 0)),
                       bus: config.devices[meter.device].bus, timeoutMilliseconds: timeoutMilliseconds, config: config)
            return
        }
        let payload: WriteJob.Payload
        do throws(Failure) {
            switch point.function {
            case .coils:
                guard !value.isNaN else { throw Failure(.value) }
                payload = .coils([value != 0 ? 1 : 0])
            case .holdingRegisters where point.codec.type == .bit:
                _ = try point.codec.encodeBit(value, into: 0)
                payload = .registerBit(codec: point.codec, value: value)
            default:
                payload = .registers(try point.codec.encode(value))
            }
        } catch {
            throw Failure(error, "channel '\(channel.name)': \(decimalText(value)) cannot be written as its type")
        }
        try submit(WriteJob(.modbus(device: point.device, address: point.address, payload)),
                   bus: config.devices[point.device].bus, timeoutMilliseconds: timeoutMilliseconds, config: config)
    }

    /// Raw register (`coils == false`) or coil writes; every address must be a writable channel's.
    func writeRaw(device: Int, address: UInt16, registers: [UInt16]?, coils: [UInt8]?,
                  timeoutMilliseconds: Int32) throws(Failure) {
        let config = self.config
        guard device >= 0, device < config.devices.count else {
            throw Failure(.notFound, "no device with id \(device)")
        }
        if case .local(let bus) = config.buses[config.devices[device].bus] {
            throw Failure(.notWritable, "device '\(config.devices[device].name)' is on local bus '\(bus.name)': it has no registers or coils (write its channels with edgecore_engine_write)")
        }
        let function: ModbusFunction = coils != nil ? .coils : .holdingRegisters
        let count = coils?.count ?? registers?.count ?? 0
        guard Int(address) + count - 1 <= 0xFFFF else {
            throw Failure(.invalidArgument, "address \(address) + \(count) passes 65535")
        }
        for offset in 0..<count {
            let target = Int(address) + offset
            let covered = config.channels.contains { channel in
                guard channel.writable, let point = channel.modbus else { return false }
                return point.device == device && point.function == function
                    && Int(point.address) <= target && target <= point.lastAddress
            }
            guard covered else {
                throw Failure(.notWritable, "device '\(config.devices[device].name)': address \(target) is not part of a writable channel")
            }
        }
        let payload: WriteJob.Payload = coils.map { .coils($0) } ?? .registers(registers ?? [])
        try submit(WriteJob(.modbus(device: device, address: address, payload)), bus: config.devices[device].bus,
                   timeoutMilliseconds: timeoutMilliseconds, config: config)
    }

    // MARK: Meter actions

    /// The DL/T 645 broadcast time sync on `bus`: allowed when the bus has DL/T 645 meters and each of them
    /// allows it (a broadcast reaches every meter of the line).
    func meterTimeSync(bus: Int, seconds: Int64, timeoutMilliseconds: Int32) throws(Failure) {
        let config = self.config
        guard bus >= 0, bus < config.buses.count else { throw Failure(.notFound, "no bus with id \(bus)") }
        let meters = config.devices.filter { $0.bus == bus && $0.deviceProtocol.dlt645Version != nil }
        guard !meters.isEmpty else {
            throw Failure(.notWritable, "bus '\(config.buses[bus].name)' has no DL/T 645 meter to sync")
        }
        if let refusing = meters.first(where: { !($0.meter?.allowTimeSync ?? false) }) {
            throw Failure(.notWritable, "bus '\(config.buses[bus].name)': meter '\(refusing.name)' does not allow a time sync (allow_time_sync), and a broadcast reaches every meter of the line")
        }
        try submit(WriteJob(.meterTimeSync(bus: bus, seconds: seconds)), bus: bus,
                   timeoutMilliseconds: timeoutMilliseconds, config: config)
    }

    /// The address of the one DL/T 645-2007 meter on `bus` (read address to the wildcard).
    func meterDiscover(bus: Int, timeoutMilliseconds: Int32) throws(Failure) -> MeterAddress {
        let config = self.config
        guard bus >= 0, bus < config.buses.count else { throw Failure(.notFound, "no bus with id \(bus)") }
        guard config.buses[bus].carriesSerialFrames else {
            throw Failure(.config, "bus '\(config.buses[bus].name)' carries no meter frames (an rtu bus, or tcp with framing: transparent)")
        }
        let job = WriteJob(.meterDiscover(bus: bus))
        try submit(job, bus: bus, timeoutMilliseconds: timeoutMilliseconds, config: config)
        return MeterAddress(bytes: job.reply)
    }

    /// Queues the job and waits for it (see WriteJob: a write not claimed by its deadline is never sent;
    /// one claimed in time is waited for to its end). Failures carry the write's own exception code.
    private func submit(_ job: WriteJob, bus: Int, timeoutMilliseconds: Int32, config: SiteConfig) throws(Failure) {
        let worker = runState.withLock { workers.first { $0.busId == bus } }
        guard let worker else { throw Failure(.notRunning, "the engine is not running") }
        worker.enqueue(job)
        guard let outcome = job.wait(timeoutMilliseconds: timeoutMilliseconds) else {
            throw Failure(.timeout, "the write was not sent: the bus did not get to it within \(timeoutMilliseconds) ms")
        }
        guard case .failure(let error) = outcome else { return }
        switch job.target {
        case .gpioOutput(let channel, _):
            throw Failure(error, "gpio output '\(config.channels[channel].name)': write failed")
        case .modbus(let device, _, _):
            let name = config.devices[device].name
            if case .deviceException(let code) = error.kind {
                throw Failure(error, "device '\(name)': write failed with Modbus exception \(code)")
            }
            throw Failure(error, "device '\(name)': write failed")
        case .meterValve(let device, let open):
            throw Failure(error, "meter '\(config.devices[device].name)': valve \(open ? "open" : "close") failed: \(error.message)")
        case .meterTimeSync(let bus, _):
            throw Failure(error, "bus '\(config.buses[bus].name)': time sync failed: \(error.message)")
        case .meterDiscover(let bus):
            throw Failure(error, "bus '\(config.buses[bus].name)': address discovery failed: \(error.message)")
        case .local(let channel, _):
            throw Failure(error, "local channel '\(config.channels[channel].name)': write failed")
        }
    }
}

/// A NUL-terminated copy of `text` owned by the caller (freed with deallocate()).
func makeCString(_ text: String) -> UnsafeMutablePointer<CChar> {
    let utf8 = Array(text.utf8)
    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
    for (index, byte) in utf8.enumerated() { copy[index] = CChar(bitPattern: byte) }
    copy[utf8.count] = 0
    return copy
}
