import CShim

/// The thread that owns one physical bus: it connects (and reconnects), sends the bus's planned read
/// requests from a deadline queue on the monotonic clock, puts writes ahead of polls, keeps the silent
/// gap between transactions, backs off dead devices, and publishes every poll's readings to its ring lane.
///
/// Scheduling: a request's next deadline is its previous deadline plus its interval (no drift). A request
/// that falls behind (a slow or dead device held the bus) is caught up within `catchUpWindow`, so the
/// other devices keep their rates; beyond that the missed cycles are skipped and counted.
/// Only the worker thread touches the transport, the queue and the device health; other threads use
/// `enqueue`, `stop` and the shared statistics boards.
final class BusWorker: @unchecked Sendable {
    let busId: Int
    private let config: SiteConfig
    private let spec: BusSpec
    private let transport: any ModbusTransport
    private let ring: Ring
    private let stats: DeviceStatsBoard
    private let busStats: BusStatsBoard
    private let wake = Signal()
    private let shared = Lock()
    private var stopping = false
    private var pendingWrites: [WriteJob] = []
    private var thread: WorkerThread?

    // Worker-thread state.
    private let requests: [PlannedRequest]
    private var queue = DeadlineQueue<Int>()
    private var health: [Int: DeviceHealth] = [:]
    /// Per-channel sequence counters, owned by the engine so that they continue across restarts; this
    /// worker writes only its own channels' entries.
    private let sequences: UnsafeMutablePointer<UInt32>
    private var registers = [UInt16](repeating: 0, count: 125)
    private var bits = [UInt8](repeating: 0, count: 2000)
    private var readings: [Reading] = []
    private var nextTransactionAt: Int64 = 0
    private var reopenAt: Int64 = 0
    private var reopenDelayMs: UInt32 = 0
    private var currentUnit: UInt8? = nil
    private var currentTimeoutMs: UInt32? = nil
    private var frameErrorsInRow = 0

    private let gapNanoseconds: Int64
    private let reopenMinMs: UInt32
    private let reopenMaxMs: UInt32

    init(busId: Int, config: SiteConfig, requests: [PlannedRequest], transport: any ModbusTransport, ring: Ring,
         stats: DeviceStatsBoard, busStats: BusStatsBoard, sequences: UnsafeMutablePointer<UInt32>) {
        self.busId = busId
        self.config = config
        self.spec = config.buses[busId]
        self.requests = requests
        self.transport = transport
        self.ring = ring
        self.stats = stats
        self.busStats = busStats
        self.sequences = sequences
        switch spec {
        case .tcp(let tcp):
            gapNanoseconds = Int64(tcp.requestGapMs) * 1_000_000
            reopenMinMs = tcp.reconnectMinMs
            reopenMaxMs = tcp.reconnectMaxMs
        case .rtu(let rtu):
            gapNanoseconds = Int64(rtu.requestGapMs) * 1_000_000
            reopenMinMs = rtu.reopenMinMs
            reopenMaxMs = rtu.reopenMaxMs
        }
    }

    // MARK: Control (any thread)

    func start() throws(EdgeCoreError) {
        let now = Clock.monotonicNanoseconds()
        for index in requests.indices { queue.insert(index, deadline: now) }
        thread = try WorkerThread { [self] in run() }
    }

    /// Ends the worker after its current transaction and closes the bus; pending writes fail.
    func stop() {
        shared.withLock { stopping = true }
        wake.notify()
        thread?.join()
        thread = nil
    }

    func enqueue(_ job: WriteJob) {
        let accepted = shared.withLock { () -> Bool in
            guard !stopping else { return false }
            pendingWrites.append(job)
            return true
        }
        if accepted { wake.notify() } else { job.complete(EDGECORE_E_NOT_RUNNING) }
    }

    // MARK: The loop (worker thread)

    /// stop() was called: a poll or write gives up its remaining retries, so that stop returns within
    /// about one response timeout.
    private var stopRequested: Bool { shared.withLock { stopping } }

    private func run() {
        while true {
            let generation = wake.generation()
            let (stop, write) = shared.withLock { () -> (Bool, WriteJob?) in
                if stopping { return (true, nil) }
                return (false, pendingWrites.isEmpty ? nil : pendingWrites.removeFirst())
            }
            if stop { break }
            let now = Clock.monotonicNanoseconds()
            if transport.needsReopen() { busLost() }
            if !transport.isOpen, now >= reopenAt { reopen(now: now) }

            var wakeAt = Int64.max
            if let write {
                if now >= nextTransactionAt {
                    execute(write)
                    continue
                }
                shared.withLock { pendingWrites.insert(write, at: 0) }
                wakeAt = nextTransactionAt
            } else if let next = queue.next {
                let due = max(next.deadline, nextTransactionAt)
                if now >= due {
                    _ = queue.popFirst()
                    poll(next.item, deadline: next.deadline)
                    continue
                }
                wakeAt = due
            }
            if !transport.isOpen { wakeAt = min(wakeAt, reopenAt) }
            wake.wait(generation: generation, until: wakeAt == Int64.max ? nil : wakeAt)
        }
        transport.close()
        busStats.update(busId) { $0.change(to: EDGECORE_BUS_STOPPED) }
        let abandoned = shared.withLock { () -> [WriteJob] in
            defer { pendingWrites.removeAll() }
            return pendingWrites
        }
        for job in abandoned { job.complete(EDGECORE_E_NOT_RUNNING) }
    }

    private func reopen(now: Int64) {
        let error = transport.open()
        currentUnit = nil
        currentTimeoutMs = nil
        frameErrorsInRow = 0
        if error == 0 {
            reopenDelayMs = 0
            busStats.update(busId) {
                $0.opens &+= 1
                $0.change(to: EDGECORE_BUS_CONNECTED)
            }
            return
        }
        busStats.update(busId) {
            $0.open_failures &+= 1
            $0.last_error = -error
            $0.change(to: EDGECORE_BUS_DISCONNECTED)
        }
        reopenDelayMs = reopenDelayMs == 0 ? reopenMinMs : min(reopenDelayMs > reopenMaxMs / 2 ? reopenMaxMs : reopenDelayMs * 2, reopenMaxMs)
        reopenAt = now + Int64(reopenDelayMs) * 1_000_000
    }

    /// The port or connection broke: close it and reopen at once (then with back-off).
    private func busLost(error: Int32 = 0) {
        if transport.isOpen {
            busStats.update(busId) {
                $0.losses &+= 1
                if error != 0 { $0.last_error = -error }
                $0.change(to: EDGECORE_BUS_DISCONNECTED)
            }
        }
        transport.close()
        reopenAt = 0
    }

    // MARK: Polls

    private func poll(_ index: Int, deadline: Int64) {
        let request = requests[index]
        let device = config.devices[request.device]
        defer { reschedule(index, deadline: deadline, intervalMs: request.intervalMs) }
        var state = health[request.device] ?? DeviceHealth()
        defer { health[request.device] = state }
        let now = Clock.monotonicNanoseconds()

        if state.offline, !probeAllowed(state, device: device, request: request, now: now) {
            stats.update(request.device) { $0.skipped_offline &+= 1; $0.state = state.state }
            publishFailure(request, status: UInt16(EDGECORE_STATUS_OFFLINE.rawValue), detail: 0)
            return
        }
        guard transport.isOpen else {
            stats.update(request.device) { $0.disconnects &+= 1 }
            publishFailure(request, status: UInt16(EDGECORE_STATUS_DISCONNECTED.rawValue), detail: 0)
            return
        }
        // A backed-off device gets one attempt per probe; a live one its retries.
        let attempts = state.offline ? 1 : 1 + Int(device.retries)
        var failure = TransactionFailure.timeout
        for attempt in 0..<attempts {
            let started = Clock.monotonicNanoseconds()
            let outcome = transact(request.device, isRetry: attempt > 0) { () throws(TransactionFailure) in
                try read(request)
            }
            guard case .failure(let error) = outcome else {
                state.answered()
                recordAnswer(request.device, started: started, state: state)
                publishValues(request)
                return
            }
            failure = error
            if !error.isRetryable || stopRequested { break }
        }
        switch failure {
        case .exception:
            state.answered()  // the device is there; the request is what it refuses
        case .disconnected:
            break  // the bus's fault, not the device's: its health stays as it was
        case .timeout, .frame:
            state.failed(at: Clock.monotonicNanoseconds(), device: device)
        }
        stats.update(request.device) {
            $0.consecutive_failures = state.consecutiveFailures
            $0.state = state.state
        }
        let (status, detail) = failure.status
        publishFailure(request, status: status, detail: detail)
    }

    /// Counts a good answer (of a poll or a write) begun at `started` (monotonic ns).
    private func recordAnswer(_ deviceId: Int, started: Int64, state: DeviceHealth) {
        let finished = Clock.monotonicNanoseconds()
        stats.update(deviceId) {
            $0.responses &+= 1
            $0.recordLatency(microseconds: UInt64(max(0, finished - started) / 1000))
            $0.consecutive_failures = 0
            $0.last_ok_ns = Clock.realtimeNanoseconds()
            $0.state = state.state
        }
    }

    private func read(_ request: PlannedRequest) throws(TransactionFailure) {
        if request.function.readsBits {
            try bits.withUnsafeMutableBufferPointer { buffer throws(TransactionFailure) in
                guard let base = buffer.baseAddress else { return }
                try transport.readBits(request.function, address: request.address, count: request.count, into: base)
            }
        } else {
            try registers.withUnsafeMutableBufferPointer { buffer throws(TransactionFailure) in
                guard let base = buffer.baseAddress else { return }
                try transport.readRegisters(request.function, address: request.address, count: request.count,
                                            into: base)
            }
        }
    }

    /// An offline device is probed when its back-off has passed and, so that probing it does not delay
    /// the live devices, only when its response timeout fits before the next request of another device
    /// (or after it has waited a whole maximum back-off for such a gap).
    private func probeAllowed(_ state: DeviceHealth, device: DeviceSpec, request: PlannedRequest,
                              now: Int64) -> Bool {
        guard now >= state.probeAt else { return false }
        if now - state.probeAt >= Int64(device.backoffMaxMs) * 1_000_000 { return true }
        let others = queue.earliestDeadline { requests[$0].device != request.device }
        guard let others else { return true }
        return others - now >= Int64(device.responseTimeoutMs) * 1_000_000 + gapNanoseconds
    }

    private enum Outcome {
        case success
        case failure(TransactionFailure)
    }

    /// One transaction with bookkeeping: unit and timeout, counters, the silent gap, flush after a
    /// timeout or bad frame, reconnect after a broken connection or repeated bad frames on TCP.
    private func transact(_ deviceId: Int, isRetry: Bool,
                          _ body: () throws(TransactionFailure) -> Void) -> Outcome {
        let device = config.devices[deviceId]
        if currentUnit != device.unitId {
            transport.setUnit(device.unitId)
            currentUnit = device.unitId
        }
        if currentTimeoutMs != device.responseTimeoutMs {
            transport.setResponseTimeout(milliseconds: device.responseTimeoutMs)
            currentTimeoutMs = device.responseTimeoutMs
        }
        // RTU answers carry no transaction id: an answer that came after its request timed out would be
        // taken for the next request's (another channel's data, status OK). Discard what arrived since.
        if case .rtu = spec { transport.flush() }
        stats.update(deviceId) {
            $0.requests &+= 1
            if isRetry { $0.retries &+= 1 }
        }
        busStats.update(busId) { $0.transactions &+= 1 }
        var outcome = Outcome.success
        do throws(TransactionFailure) {
            try body()
            frameErrorsInRow = 0
        } catch {
            outcome = .failure(error)
            let now = Clock.realtimeNanoseconds()
            stats.update(deviceId) {
                switch error {
                case .timeout: $0.timeouts &+= 1
                case .frame: $0.frame_errors &+= 1
                case .exception(let code):
                    $0.exceptions &+= 1
                    $0.last_exception = UInt16(code)
                case .disconnected: $0.disconnects &+= 1
                }
                $0.last_error = error.resultCode.code
                $0.last_failure_ns = now
            }
            switch error {
            case .timeout:
                transport.flush()
            case .frame:
                transport.flush()
                frameErrorsInRow += 1
                // On TCP a second bad frame in a row means the stream is out of step: start afresh.
                if case .tcp = spec, frameErrorsInRow >= 2 { busLost() }
            case .exception:
                frameErrorsInRow = 0
            case .disconnected(let errno):
                busLost(error: errno)
            }
            if transport.isOpen, transport.needsReopen() { busLost() }
        }
        nextTransactionAt = Clock.monotonicNanoseconds() + gapNanoseconds
        return outcome
    }

    private func reschedule(_ index: Int, deadline: Int64, intervalMs: UInt32) {
        let interval = Int64(intervalMs) * 1_000_000
        var next = deadline + interval
        let now = Clock.monotonicNanoseconds()
        let catchUpWindow = max(2 * interval, 2_000_000_000)
        if now - next > catchUpWindow {
            // Too far behind to catch up: skip to the next deadline still ahead.
            let missed = (now - next) / interval + 1
            next += missed * interval
            busStats.update(busId) { $0.skipped_polls &+= UInt64(missed) }
        }
        queue.insert(index, deadline: next)
    }

    // MARK: Readings

    private func publishValues(_ request: PlannedRequest) {
        let timestamp = Clock.realtimeNanoseconds()
        readings.removeAll(keepingCapacity: true)
        for id in request.channels {
            let channel = config.channels[id]
            let offset = Int(channel.address) - Int(request.address)
            let decoded: DecodedValue
            if request.function.readsBits {
                decoded = channel.codec.decode(bit: offset < bits.count && bits[offset] != 0)
            } else {
                decoded = registers.withUnsafeBufferPointer { buffer in
                    guard let base = buffer.baseAddress, offset + channel.width <= buffer.count else {
                        return DecodedValue(value: 0, status: UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue))
                    }
                    return channel.codec.decode(registers: UnsafeBufferPointer(start: base + offset,
                                                                               count: channel.width))
                }
            }
            append(channel: id, timestamp: timestamp, value: decoded.value, status: decoded.status, detail: 0)
        }
        publish()
    }

    private func publishFailure(_ request: PlannedRequest, status: UInt16, detail: UInt16) {
        let timestamp = Clock.realtimeNanoseconds()
        readings.removeAll(keepingCapacity: true)
        for id in request.channels {
            append(channel: id, timestamp: timestamp, value: 0, status: status, detail: detail)
        }
        publish()
    }

    private func append(channel: Int, timestamp: Int64, value: Double, status: UInt16, detail: UInt16) {
        let sequence = sequences[channel]
        sequences[channel] = sequence &+ 1
        readings.append(Reading(timestamp_ns: timestamp, value: value, channel: UInt32(channel),
                                sequence: sequence, status: status, status_detail: detail, reserved: 0))
    }

    private func publish() {
        readings.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            _ = ring.publish(lane: busId, base, count: buffer.count)
        }
    }

    // MARK: Writes

    private func execute(_ job: WriteJob) {
        guard transport.isOpen else {
            job.complete(EDGECORE_E_DISCONNECTED)
            return
        }
        var failure: TransactionFailure? = nil
        switch job.payload {
        case .registers(let values):
            failure = attempt(job.device) { () throws(TransactionFailure) in
                try values.withUnsafeBufferPointer { buffer throws(TransactionFailure) in
                    try transport.writeRegisters(address: job.address, values: buffer)
                }
            }
        case .coils(let values):
            failure = attempt(job.device) { () throws(TransactionFailure) in
                try values.withUnsafeBufferPointer { buffer throws(TransactionFailure) in
                    try transport.writeCoils(address: job.address, values: buffer)
                }
            }
        case .registerBit(let codec, let value):
            // Read-modify-write: two transactions, each counted and retried on its own.
            var current: UInt16 = 0
            failure = attempt(job.device) { () throws(TransactionFailure) in
                try transport.readRegisters(.holdingRegisters, address: job.address, count: 1, into: &current)
            }
            if failure == nil {
                // The engine checked the value before queueing the job, so encoding cannot fail here.
                let updated = (try? codec.encodeBit(value, into: current)) ?? current
                failure = attempt(job.device) { () throws(TransactionFailure) in
                    try [updated].withUnsafeBufferPointer { buffer throws(TransactionFailure) in
                        try transport.writeRegisters(address: job.address, values: buffer)
                    }
                }
            }
        }
        job.complete(failure?.resultCode.code ?? EDGECORE_OK)
    }

    /// One transaction of a write, with the device's retries; nil when the device answered.
    private func attempt(_ deviceId: Int, _ body: () throws(TransactionFailure) -> Void) -> TransactionFailure? {
        var failure: TransactionFailure? = nil
        for number in 0...Int(config.devices[deviceId].retries) {
            let started = Clock.monotonicNanoseconds()
            switch transact(deviceId, isRetry: number > 0, body) {
            case .success:
                var state = health[deviceId] ?? DeviceHealth()
                state.answered()
                health[deviceId] = state
                recordAnswer(deviceId, started: started, state: state)
                return nil
            case .failure(let error):
                failure = error
                guard error.isRetryable, transport.isOpen, !stopRequested else { return error }
            }
        }
        return failure
    }
}
