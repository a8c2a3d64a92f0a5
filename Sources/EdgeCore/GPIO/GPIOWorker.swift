import CShim

/// What the engine needs of a bus's worker, whatever the bus (Modbus line or endpoint, GPIO chip).
protocol EngineWorker: AnyObject {
    var busId: Int { get }
    func start() throws(EdgeCoreError)
    /// Ends the worker; for GPIO also drives every output to its safe state.
    func stop()
    func enqueue(_ job: WriteJob)
}

extension BusWorker: EngineWorker {}

/// A requested line with its channel.
struct GPIOLineHandle {
    var channel: Int
    var spec: GPIOLineSpec
    var intervalMs: UInt32
    var port: any GPIOLinePort
}

/// Opens a GPIO chip bus and requests its lines (outputs at their safe state), so that a missing chip,
/// a bad offset or name, a line in use or a permission problem fails edgecore_engine_start precisely.
func openGPIOBus(_ busId: Int, config: SiteConfig) throws(ConfigError) -> (any GPIOChipPort, [GPIOLineHandle]) {
    guard case .gpio(let chipSpec) = config.buses[busId] else {
        throw ConfigError(.config, "bus \(busId) is not a GPIO chip")
    }
    let chip = try openGPIOChip(chipSpec.chip)
    var lines: [GPIOLineHandle] = []
    for (id, channel) in config.channels.enumerated() {
        guard let line = channel.gpio, line.bus == busId else { continue }
        var offset = line.offset
        if let name = line.lineName {
            guard let found = chip.offset(ofLineNamed: name) else {
                throw ConfigError(.config, "gpio chip '\(chipSpec.chip)': no line named '\(name)' (channel '\(channel.name)')")
            }
            offset = found
        }
        let port: any GPIOLinePort
        switch line.kind {
        case .input: port = try chip.requestInput(offset: offset, bias: line.bias, activeLow: line.activeLow)
        case .output: port = try chip.requestOutput(offset: offset, activeLow: line.activeLow, initial: line.safeState)
        }
        lines.append(GPIOLineHandle(channel: id, spec: line, intervalMs: channel.intervalMs, port: port))
    }
    return (chip, lines)
}

/// The thread of one GPIO chip: samples inputs and reports outputs at their intervals from a deadline
/// queue on the monotonic clock, applies writes ahead of that, and leaves outputs at their safe state.
final class GPIOWorker: EngineWorker, @unchecked Sendable {
    let busId: Int
    private let chip: any GPIOChipPort
    private let lines: [GPIOLineHandle]
    private let ring: Ring
    private let stats: EngineStats
    private let sequences: UnsafeMutablePointer<UInt32>
    private let control = WorkerControl()
    private var queue = DeadlineQueue<Int>()
    /// The value each output was last driven to (worker thread).
    private var driven: [Bool]

    init(busId: Int, chip: any GPIOChipPort, lines: [GPIOLineHandle], ring: Ring, stats: EngineStats,
         sequences: UnsafeMutablePointer<UInt32>) {
        self.busId = busId
        self.chip = chip
        self.lines = lines
        self.ring = ring
        self.stats = stats
        self.sequences = sequences
        self.driven = lines.map { $0.spec.safeState }
    }

    func start() throws(EdgeCoreError) {
        let now = Clock.monotonicNanoseconds()
        for index in lines.indices { queue.insert(index, deadline: now) }
        stats.updateBus(busId) {
            $0.opens &+= 1
            $0.change(to: EDGECORE_BUS_CONNECTED)
        }
        try control.start { [self] in run() }
    }

    func stop() { control.stop() }

    func enqueue(_ job: WriteJob) { control.enqueue(job) }

    private func run() {
        loop: while true {
            let (action, generation) = control.next()
            switch action {
            case .stop: break loop
            case .write(let job):
                execute(job)
                continue
            case .none: break
            }
            guard let next = queue.next else {
                control.sleep(generation: generation, until: nil)
                continue
            }
            if Clock.monotonicNanoseconds() < next.deadline {
                control.sleep(generation: generation, until: next.deadline)
                continue
            }
            _ = queue.popFirst()
            sample(next.item)
            let interval = Int64(lines[next.item].intervalMs) * 1_000_000
            var deadline = next.deadline + interval
            let now = Clock.monotonicNanoseconds()
            if deadline <= now {
                let missed = (now - deadline) / interval + 1
                deadline += missed * interval
                stats.updateBus(busId) { $0.skipped_polls &+= UInt64(missed) }
            }
            queue.insert(next.item, deadline: deadline)
        }
        // Leave every output at its safe state, and say so.
        for index in lines.indices where lines[index].spec.kind == .output {
            drive(index, to: lines[index].spec.safeState)
        }
        stats.updateBus(busId) { $0.change(to: EDGECORE_BUS_STOPPED) }
        control.abandonPending()
    }

    /// An input's level, or an output's driven value, as a reading.
    private func sample(_ index: Int) {
        stats.updateBus(busId) { $0.transactions &+= 1 }
        switch lines[index].port.read() {
        case .success(let level):
            publish(index, value: level ? 1 : 0, status: UInt16(EDGECORE_STATUS_OK.rawValue), detail: 0)
        case .failure(let error):
            stats.updateBus(busId) { $0.last_error = -error.errno }
            publish(index, value: 0, status: UInt16(EDGECORE_STATUS_DISCONNECTED.rawValue),
                    detail: UInt16(truncatingIfNeeded: error.errno))
        }
    }

    private func execute(_ job: WriteJob) {
        guard case .level(let value) = job.payload,
              let index = lines.firstIndex(where: { $0.channel == job.channel }) else {
            job.complete(EDGECORE_E_NOT_FOUND)
            return
        }
        let error = drive(index, to: value)
        job.complete(error == 0 ? EDGECORE_OK : -error)
    }

    /// Drives an output and publishes the change as a reading. Returns 0 or an errno value.
    @discardableResult
    private func drive(_ index: Int, to value: Bool) -> Int32 {
        stats.updateBus(busId) { $0.transactions &+= 1 }
        let error = lines[index].port.write(value)
        if error == 0 {
            driven[index] = value
            publish(index, value: value ? 1 : 0, status: UInt16(EDGECORE_STATUS_OK.rawValue), detail: 0)
        } else {
            stats.updateBus(busId) { $0.last_error = -error }
        }
        return error
    }

    private func publish(_ index: Int, value: Double, status: UInt16, detail: UInt16) {
        let channel = lines[index].channel
        let sequence = sequences[channel]
        sequences[channel] = sequence &+ 1
        var reading = Reading(timestamp_ns: Clock.realtimeNanoseconds(), value: value, channel: UInt32(channel),
                              sequence: sequence, status: status, status_detail: detail, reserved: 0)
        _ = ring.publish(lane: busId, &reading, count: 1)
    }
}
