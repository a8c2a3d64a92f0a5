import CShim

/// A requested line with its channel.
struct GPIOLineHandle {
    var channel: Int
    var spec: GPIOLineSpec
    var intervalMs: UInt32
    var port: any GPIOLinePort
    /// Pulse counters: the same line, for its edge events.
    var events: (any GPIOEventLinePort)?
}

/// Opens a GPIO chip bus and requests its lines (outputs at their safe state), so that a missing chip,
/// a bad offset or name, a line in use or a permission problem fails edgecore_engine_start precisely.
func openGPIOBus(_ busId: Int, config: SiteConfig) throws(Failure) -> (any GPIOChipPort, [GPIOLineHandle]) {
    guard case .gpio(let chipSpec) = config.buses[busId] else {
        throw Failure(.config, "bus \(busId) is not a GPIO chip")
    }
    if let path = chipSpec.checkpointPath { _ = try PulseCheckpoint.load(path: path) }  // malformed: fail now
    let chip = try openGPIOChip(chipSpec.chip)
    var lines: [GPIOLineHandle] = []
    for (id, channel) in config.channels.enumerated() {
        guard let line = channel.gpio, line.bus == busId else { continue }
        var offset = line.offset
        if let name = line.lineName {
            guard let found = chip.offset(ofLineNamed: name) else {
                throw Failure(.config, "gpio chip '\(chipSpec.chip)': no line named '\(name)' (channel '\(channel.name)')")
            }
            offset = found
        }
        var handle: GPIOLineHandle
        switch line.kind {
        case .input:
            let port = try chip.requestInput(offset: offset, bias: line.bias, activeLow: line.activeLow)
            handle = GPIOLineHandle(channel: id, spec: line, intervalMs: channel.intervalMs, port: port, events: nil)
        case .output:
            let port = try chip.requestOutput(offset: offset, activeLow: line.activeLow, initial: line.safeState)
            handle = GPIOLineHandle(channel: id, spec: line, intervalMs: channel.intervalMs, port: port, events: nil)
        case .pulses:
            let port = try chip.requestEdges(offset: offset, bias: line.bias, activeLow: line.activeLow,
                                             eventBuffer: chipSpec.eventBufferSize)
            handle = GPIOLineHandle(channel: id, spec: line, intervalMs: channel.intervalMs, port: port, events: port)
        }
        lines.append(handle)
    }
    return (chip, lines)
}

/// The thread of one GPIO chip: counts pulses from the kernel's edge events as they come, samples inputs
/// and reports outputs and pulse totals at their intervals from a deadline queue on the monotonic clock,
/// applies writes ahead of that, and leaves outputs at their safe state. It sleeps in poll() on the
/// event lines and the control's eventfd, or on the control's futex when it has no event lines.
final class GPIOWorker: EngineWorker, @unchecked Sendable {
    let busId: Int
    private let chip: any GPIOChipPort
    private let lines: [GPIOLineHandle]
    private let stats: EngineStats
    private var batch: ReadingBatch
    private let control = WorkerControl()
    private var queue = DeadlineQueue<Int>()
    /// By line index: the counters of pulse lines, and their count at the last report (worker thread).
    private var counters: [PulseCounter?]
    private var reported: [(count: UInt64, at: Int64)]
    private var rates: [Double]
    private let eventLines: [Int]
    private let checkpoint: CheckpointWriter?
    private let channelNames: [String]

    init(busId: Int, chip: any GPIOChipPort, lines: [GPIOLineHandle], ring: Ring, feed: Ring? = nil, stats: EngineStats,
         sequences: UnsafeMutablePointer<UInt32>, config: SiteConfig) {
        self.busId = busId
        self.chip = chip
        self.lines = lines
        self.stats = stats
        self.batch = ReadingBatch(ring: ring, feed: feed, lane: busId, sequences: sequences)
        let now = Clock.monotonicNanoseconds()
        let names = lines.map { config.channels[$0.channel].name }
        var saved: [(name: String, count: UInt64)] = []
        var writer: CheckpointWriter? = nil
        if case .gpio(let chipSpec) = config.buses[busId], let path = chipSpec.checkpointPath {
            writer = CheckpointWriter(PulseCheckpoint(path: path, maxPerHour: chipSpec.checkpointMaxPerHour)) { error in
                stats.recordBusError(busId, .system(error))
            }
            saved = (try? PulseCheckpoint.load(path: path)) ?? []  // checked by openGPIOBus
        }
        self.checkpoint = writer
        self.counters = lines.indices.map { index in
            guard let events = lines[index].events else { return nil }
            let level = (try? events.read()) ?? false
            let resumed = saved.last { sameText($0.name, names[index]) }?.count ?? 0
            return PulseCounter(edge: lines[index].spec.edge, debounceNs: Int64(lines[index].spec.debounceUs) * 1000,
                                level: level, count: resumed, sequenced: events.sequenced)
        }
        self.reported = counters.map { ($0?.count ?? 0, now) }
        self.rates = lines.map { _ in 0 }
        self.eventLines = lines.indices.filter { lines[$0].events != nil }
        self.channelNames = names
    }

    func start() throws(Failure) {
        if !eventLines.isEmpty {
            try control.makeEventFD()
        }
        let now = Clock.monotonicNanoseconds()
        for index in lines.indices { queue.insert(index, deadline: now) }
        stats.updateBus(busId) {
            $0.opens &+= 1
            $0.change(to: EDGECORE_BUS_CONNECTED)
        }
        try checkpoint?.start()
        do throws(Failure) {
            try control.start { [self] in run() }
        } catch {
            checkpoint?.finish()
            throw error
        }
    }

    func stop() { control.stop() }

    func enqueue(_ job: WriteJob) { control.enqueue(job) }

    /// Stopped, it keeps its outputs requested at their safe state until released.
    var holdsOutputsAfterStop: Bool { true }

    private func run() {
        loop: while true {
            control.drainEventFD()
            let (action, generation) = control.next()
            switch action {
            case .stop: break loop
            case .write(let job):
                execute(job)
                continue
            case .none: break
            }
            let now = Clock.monotonicNanoseconds()
            for index in eventLines where counters[index]?.settlesAt ?? .max <= now {
                counters[index]?.settle(now: now)
                publishPulseStats(index)  // an edge confirmed by time is live at once too
            }
            if let next = queue.next, now >= next.deadline {
                _ = queue.popFirst()
                sample(next.item)
                reschedule(next.item, deadline: next.deadline)
                continue
            }
            var wakeAt = queue.next?.deadline
            for index in eventLines {
                if let settles = counters[index]?.settlesAt { wakeAt = min(wakeAt ?? settles, settles) }
            }
            if eventLines.isEmpty {
                control.sleep(generation: generation, until: wakeAt)
            } else {
                waitForEvents(until: wakeAt)
            }
        }
        // Leave every output at its safe state, and say so; report the pulse totals a last time.
        for index in lines.indices where lines[index].spec.kind == .output {
            drive(index, to: lines[index].spec.safeState)
        }
        for index in eventLines { reportPulses(index, final: true) }
        saveCheckpoint(force: true)
        checkpoint?.finish()  // the final counts are synced before stop returns
        stats.updateBus(busId) { $0.change(to: EDGECORE_BUS_STOPPED) }
        control.abandonPending()
    }

    private func reschedule(_ index: Int, deadline: Int64) {
        let next = PollSchedule.gpio.next(after: deadline, interval: Int64(lines[index].intervalMs) * 1_000_000,
                                          now: Clock.monotonicNanoseconds())
        if next.skipped > 0 { stats.updateBus(busId) { $0.skipped_polls &+= next.skipped } }
        queue.insert(index, deadline: next.deadline)
    }

    /// Sleeps in poll() until an event line or the control's eventfd is readable or `deadline` passes,
    /// then feeds the events read to the counters.
    private func waitForEvents(until deadline: Int64?) {
        var poll = Poll()
        poll.add(control.eventFD?.rawValue ?? -1)
        for index in eventLines { poll.add(lines[index].events?.eventFD ?? -1) }
        guard let ready = try? poll.wait(until: deadline), ready > 0 else { return }
        for (slot, index) in eventLines.enumerated() where poll.isReadable(slot + 1) {
            guard let events = lines[index].events else { continue }
            if let error = events.readEvents({ event in counters[index]?.observe(event) }) {
                stats.recordBusError(busId, .system(error))
            }
            publishPulseStats(index)  // live counts for edgecore_engine_pulse_stats
        }
    }

    /// An input's level, an output's driven value, or a pulse counter's total, as a reading.
    private func sample(_ index: Int) {
        stats.updateBus(busId) { $0.transactions &+= 1 }
        if lines[index].spec.kind == .pulses {
            reportPulses(index)
            return
        }
        do throws(Failure) {
            let level = try lines[index].port.read()
            publish(index, value: level ? 1 : 0, status: UInt16(EDGECORE_STATUS_OK.rawValue), detail: 0)
        } catch {
            let errno = error.errno ?? .ioError
            stats.recordBusError(busId, .system(errno))
            publish(index, value: 0, status: UInt16(EDGECORE_STATUS_DISCONNECTED.rawValue),
                    detail: UInt16(truncatingIfNeeded: errno.rawValue))
        }
    }

    /// A pulse counter's reading. The rate is over the interval since the last report; the `final` report
    /// at stop keeps the last full interval's rate rather than one over a fraction of an interval.
    private func reportPulses(_ index: Int, final: Bool = false) {
        guard var counter = counters[index] else { return }
        let lost = counter.takeLostFlag()
        counters[index] = counter
        if !final {
            let now = Clock.monotonicNanoseconds()
            let seconds = Double(now - reported[index].at) / 1e9
            rates[index] = seconds > 0 ? Double(counter.count &- reported[index].count) / seconds : 0
            reported[index] = (counter.count, now)
        }
        let total = publishPulseStats(index)
        let status = lost ? EDGECORE_STATUS_EVENTS_LOST : EDGECORE_STATUS_OK
        publish(index, value: total, status: UInt16(status.rawValue), detail: 0)
        saveCheckpoint(force: false)
    }

    /// Shares a counter's figures with other threads; returns its total.
    @discardableResult
    private func publishPulseStats(_ index: Int) -> Double {
        guard let counter = counters[index] else { return 0 }
        let spec = lines[index].spec
        let total = Double(counter.count) * spec.scale + spec.base
        var figures = edgecore_pulse_stats()
        figures.count = counter.count
        figures.rejected = counter.rejected
        figures.lost = counter.lost
        figures.last_edge_ns = counter.lastEdgeNs
        figures.rate_per_s = rates[index]
        figures.total = total
        stats.setPulse(lines[index].channel, figures)
        return total
    }

    /// Hands the counts to the checkpoint's writer thread: the fsync of a slow flash never holds up the
    /// reading of edge events.
    private func saveCheckpoint(force: Bool) {
        guard let checkpoint else { return }
        checkpoint.post(eventLines.map { (name: channelNames[$0], count: counters[$0]?.count ?? 0) }, force: force)
    }

    private func execute(_ job: WriteJob) {
        guard case .gpioOutput(let channel, let value) = job.target,
              let index = lines.firstIndex(where: { $0.channel == channel }) else {
            job.complete(Failure(.notFound, "no such output on this chip"))
            return
        }
        let error = drive(index, to: value)
        job.complete(error.map { Failure.system($0, "set the output's level") })
    }

    /// Drives an output and publishes the change as a reading. Returns nil or the errno of the failure.
    @discardableResult
    private func drive(_ index: Int, to value: Bool) -> Errno? {
        stats.updateBus(busId) { $0.transactions &+= 1 }
        let error = lines[index].port.write(value)
        if let error {
            stats.recordBusError(busId, .system(error))
        } else {
            publish(index, value: value ? 1 : 0, status: UInt16(EDGECORE_STATUS_OK.rawValue), detail: 0)
        }
        return error
    }

    private func publish(_ index: Int, value: Double, status: UInt16, detail: UInt16) {
        batch.append(channel: lines[index].channel, timestamp: Clock.realtimeNanoseconds(), value: value,
                     status: status, detail: detail)
        batch.publish()
    }
}
