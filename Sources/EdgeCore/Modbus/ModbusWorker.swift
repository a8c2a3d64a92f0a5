import CShim

/// The thread that owns one physical bus: it connects (and reconnects), sends the bus's planned read
/// requests from a deadline queue on the monotonic clock, puts writes ahead of polls, keeps the silent
/// gap between transactions, backs off dead devices, and publishes every poll's readings to its ring lane.
///
/// Scheduling: PollSchedule.modbus (late requests are caught up within a window, beyond it skipped and
/// counted); reopen and device back-offs: BackOff.
/// Only the worker thread touches the transport, the queue and the device health; other threads use
/// `enqueue`, `stop` and the shared statistics boards.
///
/// The loop is `step()` then sleep until the time it names; tests call `scheduleFirstPolls()`, `step()`
/// and `finish()` themselves, with a scripted transport and a manual clock, and no thread.
final class ModbusWorker: EngineWorker, @unchecked Sendable {
    let busId: Int
    private let config: SiteConfig
    private let spec: BusSpec
    private let transport: any ModbusTransport
    private let stats: EngineStats
    private let control = WorkerControl()
    private let clock: any WorkerClock

    // Worker-thread state.
    private let requests: [PlannedRequest]
    private var queue = DeadlineQueue<Int>()
    private var health: [DeviceHealth]
    /// Per request (same index as `requests`): where each channel's value lies in the answer.
    private let decodeTables: [[DecodeSlot]]
    private var registers = [UInt16](repeating: 0, count: 125)
    /// A meter poll's answer: a DL/T 645 value's bytes, a CJ/T 188 current-data reply.
    private var meterValue: [UInt8] = []
    private var meterData: CJT188CurrentData? = nil
    /// The CJ/T 188 sequence byte SER of the next request.
    private var meterSequence: UInt8 = 0
    private var bits = [UInt8](repeating: 0, count: 2000)
    private var batch: ReadingBatch
    private var nextTransactionAt: Int64 = 0
    private var reopenAt: Int64 = 0
    private var reopenBackOff: BackOff
    private var currentUnit: UInt8? = nil
    private var currentTimeoutMs: UInt32? = nil
    private var frameErrorsInRow = 0
    /// Whether the device answered (values or an exception) since the bus was opened: a connection that
    /// breaks before that counts as a failed open for the back-off (a peer that accepts and closes).
    private var answeredSinceOpen = false

    private let gapNanoseconds: Int64

    init(busId: Int, config: SiteConfig, requests: [PlannedRequest], transport: any ModbusTransport, ring: Ring,
         feed: Ring? = nil, stats: EngineStats, sequences: UnsafeMutablePointer<UInt32>,
         clock: any WorkerClock = SystemClock()) {
        self.busId = busId
        self.clock = clock
        self.config = config
        self.spec = config.buses[busId]
        self.requests = requests
        self.transport = transport
        self.stats = stats
        self.batch = ReadingBatch(ring: ring, feed: feed, lane: busId, sequences: sequences)
        self.health = config.devices.map { DeviceHealth($0) }
        self.decodeTables = requests.map { request in
            request.channels.compactMap { id in
                // The planner puts only Modbus channels into requests.
                config.channels[id].modbus.map { point in
                    DecodeSlot(channel: id, offset: Int(point.address) - Int(request.address),
                               width: point.width, codec: point.codec)
                }
            }
        }
        switch spec {
        case .tcp(let tcp):
            gapNanoseconds = Int64(tcp.requestGapMs) * 1_000_000
                + Int64(((spec.serialLine.map { WireTime.silenceMicroseconds($0) } ?? 0) * 1000).rounded(.up))
            reopenBackOff = BackOff(minMs: tcp.reconnectMinMs, maxMs: tcp.reconnectMaxMs)
        case .rtu(let rtu):
            // libmodbus sends a request as soon as asked; the line's silence after the last answer is ours
            // to keep, and request_gap_ms comes on top of it.
            gapNanoseconds = Int64(rtu.requestGapMs) * 1_000_000
                + Int64((WireTime.silenceMicroseconds(rtu) * 1000).rounded(.up))
            reopenBackOff = BackOff(minMs: rtu.reopenMinMs, maxMs: rtu.reopenMaxMs)
        case .gpio, .local:
            // GPIO chips and local buses have their own workers; the engine never gives one to a ModbusWorker.
            gapNanoseconds = 0
            reopenBackOff = BackOff(minMs: 1, maxMs: 1)
        }
    }

    // MARK: Control (any thread)

    func start() throws(Failure) {
        if case .tcp = spec {
            // A TCP connect in progress sleeps in poll() on this too, so that stop() cuts it short.
            try control.makeEventFD()
        }
        scheduleFirstPolls()
        try control.start { [self] in run() }
    }

    /// Every request is due now (start, or a test before its first step).
    func scheduleFirstPolls() {
        let now = clock.monotonicNanoseconds
        for index in requests.indices { queue.insert(index, deadline: now) }
    }

    /// Ends the worker after its current transaction and closes the bus; pending writes fail.
    func stop() { control.stop() }

    func enqueue(_ job: WriteJob) { control.enqueue(job) }

    var holdsOutputsAfterStop: Bool { false }

    // MARK: The loop (worker thread)

    /// stop() was called: a poll or write gives up its remaining retries, so that stop returns within
    /// about one response timeout.
    private var stopRequested: Bool { control.stopRequested }

    private func run() {
        while true {
            switch step() {
            case .again: continue
            case .idle(let wakeAt, let generation): control.sleep(generation: generation, until: wakeAt)
            case .stop:
                finish()
                return
            }
        }
    }

    /// One turn of the loop: (re)connect when due, then a write, a poll, or the time to sleep until.
    func step() -> WorkerStep {
        // (Re)connect before looking at writes: a write is claimed only when it can be sent at once.
        if transport.needsReopen() { busLost() }
        if !transport.isOpen, clock.monotonicNanoseconds >= reopenAt { reopen() }
        let now = clock.monotonicNanoseconds
        let canSend = now >= nextTransactionAt
        let (action, generation) = control.next(canSend: canSend)
        switch action {
        case .stop: return .stop
        case .write(let job):
            execute(job)
            return .again
        case .none: break
        }
        var wakeAt = Int64.max
        if !canSend, control.writesWaiting {
            wakeAt = nextTransactionAt  // writes go ahead of polls: wait for the silent gap to end
        } else if let next = queue.next {
            let due = max(next.deadline, nextTransactionAt)
            if now >= due {
                _ = queue.popFirst()
                poll(next.item, deadline: next.deadline)
                return .again
            }
            wakeAt = due
        }
        if !transport.isOpen { wakeAt = min(wakeAt, reopenAt) }
        return .idle(until: wakeAt == Int64.max ? nil : wakeAt, generation: generation)
    }

    /// After the loop: closes the bus and fails the writes still waiting.
    func finish() {
        transport.close()
        stats.updateBus(busId) { $0.change(to: EDGECORE_BUS_STOPPED, at: clock.realtimeNanoseconds) }
        control.abandonPending()
    }

    private func reopen() {
        let now = clock.monotonicNanoseconds
        var failure: Failure? = nil
        do throws(Failure) {
            try transport.open(stop: control)
        } catch {
            failure = error
        }
        if case .system(.canceled)? = failure?.kind { return }  // stop() came: not a failure of the bus
        currentUnit = nil
        currentTimeoutMs = nil
        frameErrorsInRow = 0
        answeredSinceOpen = false
        guard let failure else {
            stats.updateBus(busId) {
                $0.opens &+= 1
                $0.change(to: EDGECORE_BUS_CONNECTED, at: clock.realtimeNanoseconds)
            }
            return
        }
        stats.recordBusError(busId, failure.kind)
        // A reason in words (a busy port and its holder) is every device's on the bus: none can be polled.
        if !failure.message.isEmpty {
            for deviceId in config.devices.indices where config.devices[deviceId].bus == busId {
                stats.recordDeviceProblem(deviceId, failure.message)
            }
        }
        stats.updateBus(busId) {
            $0.open_failures &+= 1
            $0.change(to: EDGECORE_BUS_DISCONNECTED, at: clock.realtimeNanoseconds)
        }
        reopenAt = reopenBackOff.failed(at: now)  // reopen_min_ms, doubling up to reopen_max_ms
    }

    /// The port or connection broke: close it and reopen at once if the device had answered on it, else
    /// after the back-off of a failed open.
    private func busLost(error: Errno? = nil) {
        if transport.isOpen {
            // The bus's last error is the errno that broke it (edgecore_bus_stats.last_error: -errno).
            if let error { stats.recordBusError(busId, .system(error)) }
            stats.updateBus(busId) {
                $0.losses &+= 1
                $0.change(to: EDGECORE_BUS_DISCONNECTED, at: clock.realtimeNanoseconds)
            }
        }
        transport.close()
        if answeredSinceOpen {
            reopenAt = 0
        } else {
            reopenAt = reopenBackOff.failed(at: clock.monotonicNanoseconds)
        }
    }

    // MARK: Polls

    private func poll(_ index: Int, deadline: Int64) {
        let deviceId = requests[index].device
        defer { reschedule(index, deadline: deadline, intervalMs: requests[index].intervalMs) }
        var state = health[deviceId]
        defer { health[deviceId] = state }

        if state.offline, !probeAllowed(state, request: index, now: clock.monotonicNanoseconds) {
            stats.updateDevice(deviceId) { $0.skipped_offline &+= 1; $0.state = state.state }
            publishFailure(index, status: UInt16(EDGECORE_STATUS_OFFLINE.rawValue), detail: 0,
                           timestamp: clock.realtimeNanoseconds)
            return
        }
        guard transport.isOpen else {
            stats.updateDevice(deviceId) { $0.disconnects &+= 1 }
            publishFailure(index, status: UInt16(EDGECORE_STATUS_DISCONNECTED.rawValue), detail: 0,
                           timestamp: clock.realtimeNanoseconds)
            return
        }
        // A backed-off device gets one attempt per probe; a live one its retries.
        let attempts = state.offline ? 1 : 1 + Int(config.devices[deviceId].retries)
        var failure = Failure(.deviceTimeout)
        var timestamp: Int64 = 0
        for attempt in 0..<attempts {
            let result = transact(deviceId, isRetry: attempt > 0) { () throws(Failure) in
                if requests[index].meterIdentifier != nil { try readMeter(index) } else { try read(index) }
            }
            timestamp = result.realtime
            guard let error = result.failure else {
                state.answered()
                publishValues(index, timestamp: timestamp)
                return
            }
            failure = error
            if !error.kind.isRetryable || stopRequested { break }
        }
        switch failure.kind {
        case .deviceException:
            state.answered()  // the device is there; the request is what it refuses
        case .deviceTimeout, .deviceFrame:
            state.failed(at: clock.monotonicNanoseconds)
        default:
            break  // .disconnected: the bus's fault, not the device's: its health stays as it was
        }
        stats.updateDevice(deviceId) {
            $0.consecutive_failures = state.consecutiveFailures
            $0.state = state.state
        }
        let (status, detail) = failure.kind.readingStatus
        publishFailure(index, status: status, detail: detail, timestamp: timestamp)
    }

    /// A meter request: one DL/T 645 identifier (with its follow-ups), or a CJ/T 188 current-data read.
    private func readMeter(_ index: Int) throws(Failure) {
        let device = config.devices[requests[index].device]
        guard let meter = device.meter else { throw Failure(.deviceFrame) }
        if let version = device.deviceProtocol.dlt645Version {
            meterValue = try MeterExchange.readDLT645(transport, clock: clock, version: version, meter: meter,
                                                      identifier: requests[index].meterIdentifier ?? 0,
                                                      timeoutMs: device.responseTimeoutMs, stop: control)
        } else {
            meterSequence &+= 1
            meterData = try MeterExchange.readCJT188(transport, clock: clock, meter: meter, sequence: meterSequence,
                                                     timeoutMs: device.responseTimeoutMs)
        }
    }

    private func read(_ index: Int) throws(Failure) {
        let function = requests[index].function
        let address = requests[index].address
        let count = requests[index].count
        if function.readsBits {
            try bits.withUnsafeMutableBufferPointer { buffer throws(Failure) in
                guard let base = buffer.baseAddress else { return }
                try transport.readBits(function, address: address, count: count, into: base)
            }
        } else {
            try registers.withUnsafeMutableBufferPointer { buffer throws(Failure) in
                guard let base = buffer.baseAddress else { return }
                try transport.readRegisters(function, address: address, count: count, into: base)
            }
        }
    }

    /// An offline device is probed when its back-off has passed and, so that probing it does not delay
    /// the live devices, only when its response timeout fits before the next request of another device
    /// (or after it has waited a whole maximum back-off for such a gap).
    private func probeAllowed(_ state: DeviceHealth, request index: Int, now: Int64) -> Bool {
        guard now >= state.probeAt else { return false }
        let deviceId = requests[index].device
        if now - state.probeAt >= Int64(config.devices[deviceId].backoffMaxMs) * 1_000_000 { return true }
        let others = queue.earliestDeadline { requests[$0].device != deviceId }
        guard let others else { return true }
        return others - now >= Int64(config.devices[deviceId].responseTimeoutMs) * 1_000_000 + gapNanoseconds
    }

    /// What a transaction came to: nil failure for an answer, and when it ended (CLOCK_REALTIME, the
    /// timestamp of the readings it yields).
    private struct TransactionResult {
        var failure: Failure?
        var realtime: Int64
    }

    /// One transaction with bookkeeping: unit and timeout, counters (one locked update), the silent gap,
    /// flush after a timeout or bad frame, reconnect after a broken connection or repeated bad frames on TCP.
    /// Only the body differs between callers; the bookkeeping is two plain functions so that the
    /// closure specialisations of this one stay small (one copy of it per caller).
    @inline(__always)
    private func transact(_ deviceId: Int, isRetry: Bool,
                          _ body: () throws(Failure) -> Void) -> TransactionResult {
        let started = beginTransaction(deviceId)
        var failure: Failure? = nil
        do throws(Failure) {
            try body()
        } catch {
            failure = error
        }
        return endTransaction(deviceId, isRetry: isRetry, started: started, failure: failure)
    }

    /// Unit, timeout and flush before a transaction; returns when it started (CLOCK_MONOTONIC).
    @inline(never)
    private func beginTransaction(_ deviceId: Int) -> Int64 {
        let unitId = config.devices[deviceId].unitId
        if currentUnit != unitId {
            transport.setUnit(unitId)
            currentUnit = unitId
        }
        let timeoutMs = config.devices[deviceId].responseTimeoutMs
        if currentTimeoutMs != timeoutMs {
            transport.setResponseTimeout(milliseconds: timeoutMs)
            currentTimeoutMs = timeoutMs
        }
        // RTU answers (and meters' replies) carry no transaction id: an answer that came after its request
        // timed out would be taken for the next request's (another channel's data, status OK). Discard what
        // arrived since.
        if spec.carriesSerialFrames { transport.flush() }
        return clock.monotonicNanoseconds
    }

    /// Counters, the silent gap and the connection's fate after a transaction.
    @inline(never)
    private func endTransaction(_ deviceId: Int, isRetry: Bool, started: Int64,
                                failure: Failure?) -> TransactionResult {
        let finished = clock.monotonicNanoseconds
        let realtime = clock.realtimeNanoseconds
        nextTransactionAt = finished + gapNanoseconds
        let problem = failure.map { Failure($0.kind, problemText($0, deviceId: deviceId)) }
        stats.update(device: deviceId, bus: busId, deviceError: problem) { device, bus in
            device.requests &+= 1
            if isRetry { device.retries &+= 1 }
            bus.transactions &+= 1
            guard let failure else {
                device.responses &+= 1
                device.recordLatency(microseconds: UInt64(max(0, finished - started) / 1000))
                device.consecutive_failures = 0
                device.last_ok_ns = realtime
                device.state = UInt16(EDGECORE_DEVICE_ONLINE.rawValue)
                return
            }
            switch failure.kind {
            case .deviceTimeout: device.timeouts &+= 1
            case .deviceFrame: device.frame_errors &+= 1
            case .deviceException(let code):
                device.exceptions &+= 1
                device.last_exception = UInt16(code)
            default: device.disconnects &+= 1
            }
            device.last_failure_ns = realtime
        }
        switch failure?.kind {
        case nil, .deviceException?:
            frameErrorsInRow = 0
            answeredSinceOpen = true
            reopenBackOff.succeeded()
        case .deviceTimeout?:
            transport.flush()
        case .deviceFrame?:
            transport.flush()
            frameErrorsInRow += 1
            // On TCP a second bad frame in a row means the stream is out of step: start afresh.
            if case .tcp(let tcp) = spec, tcp.framing == .mbap, frameErrorsInRow >= 2 { busLost() }
        case .disconnected(let errno)?:
            busLost(error: errno)
        default:
            busLost()  // a transport fails only in the four ways above; anything else: start afresh
        }
        if failure != nil, transport.isOpen, transport.needsReopen() { busLost() }
        return TransactionResult(failure: failure, realtime: realtime)
    }

    private func reschedule(_ index: Int, deadline: Int64, intervalMs: UInt32) {
        let next = PollSchedule.modbus.next(after: deadline, interval: Int64(intervalMs) * 1_000_000,
                                            now: clock.monotonicNanoseconds)
        if next.skipped > 0 { stats.updateBus(busId) { $0.skipped_polls &+= next.skipped } }
        queue.insert(index, deadline: next.deadline)
    }

    // MARK: Readings

    private func publishValues(_ index: Int, timestamp: Int64) {
        if requests[index].meterIdentifier != nil {
            publishMeterValues(index, timestamp: timestamp)
            return
        }
        let readsBits = requests[index].function.readsBits
        decodeTables[index].withUnsafeBufferPointer { slots in
            for slot in slots.indices {
                let offset = slots[slot].offset
                let decoded: DecodedValue
                if readsBits {
                    decoded = slots[slot].codec.decode(bit: offset < bits.count && bits[offset] != 0)
                } else {
                    decoded = registers.withUnsafeBufferPointer { buffer in
                        guard let base = buffer.baseAddress, offset + slots[slot].width <= buffer.count else {
                            return DecodedValue(value: 0, status: UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue))
                        }
                        return slots[slot].codec.decode(registers: UnsafeBufferPointer(start: base + offset,
                                                                                       count: slots[slot].width))
                    }
                }
                batch.append(channel: slots[slot].channel, timestamp: timestamp, value: decoded.value,
                             status: decoded.status)
            }
        }
        batch.publish()
    }

    private func publishMeterValues(_ index: Int, timestamp: Int64) {
        for id in requests[index].channels {
            let channel = config.channels[id]
            guard let point = channel.meter else { continue }
            let decoded: DecodedValue
            switch point.item {
            case .dlt645(_, let format):
                decoded = MeterExchange.value(meterValue, format: format, codec: point.codec)
            case .cjt188(let field):
                guard let data = meterData else { continue }
                decoded = MeterExchange.value(data, field: field, unit: channel.unit, codec: point.codec)
            }
            batch.append(channel: id, timestamp: timestamp, value: decoded.value, status: decoded.status)
        }
        batch.publish()
    }

    private func publishFailure(_ index: Int, status: UInt16, detail: UInt16, timestamp: Int64) {
        for channel in requests[index].channels {
            batch.append(channel: channel, timestamp: timestamp, value: 0, status: status, detail: detail)
        }
        batch.publish()
    }

    // MARK: Writes

    private func execute(_ job: WriteJob) {
        guard transport.isOpen else {
            job.complete(Failure(.disconnected(nil)))
            return
        }
        let device: Int
        let address: UInt16
        let payload: WriteJob.Payload
        switch job.target {
        case .modbus(let target, let first, let values):
            device = target
            address = first
            payload = values
        case .gpioOutput, .local:
            // A GPIO output or a local channel never reaches a Modbus bus (the engine routes by bus).
            job.complete(Failure(.invalidArgument, "a GPIO output or local channel has no Modbus bus"))
            return
        case .meterValve(let target, let open):
            job.complete(valve(target, open: open))
            return
        case .meterTimeSync(_, let seconds):
            job.complete(timeSync(seconds))
            return
        case .meterDiscover:
            let result = discover()
            job.complete(result.failure, answer: result.address?.bytes ?? [])
            return
        }
        var failure: Failure? = nil
        switch payload {
        case .registers(let values):
            failure = attempt(device, .writeRegisters(address, values))
        case .coils(let values):
            failure = attempt(device, .writeCoils(address, values))
        case .registerBit(let codec, let value):
            // Read-modify-write: two transactions, each counted and retried on its own.
            var current: UInt16 = 0
            failure = attempt(device, .readRegister(address), into: &current)
            if failure == nil {
                // The engine checked the value before queueing the job, so encoding cannot fail here.
                let updated = (try? codec.encodeBit(value, into: current)) ?? current
                failure = attempt(device, .writeRegisters(address, [updated]))
            }
        }
        job.complete(failure)
    }

    /// A failure in words for edgecore_engine_device_last_problem: the transport's message, or (libmodbus
    /// gives none) one made from its kind.
    @inline(never)
    private func problemText(_ failure: Failure, deviceId: Int) -> Message {
        if !failure.message.isEmpty { return Message(verbatim: failure.message) }
        switch failure.kind {
        case .deviceTimeout: return "no answer within \(config.devices[deviceId].responseTimeoutMs) ms"
        case .deviceFrame: return "bad CRC or malformed answer"
        case .deviceException(let code): return "Modbus exception \(code)"
        case .disconnected(let errno?): return "bus down: \(errno.text)"
        default: return "bus down"
        }
    }

    // MARK: Meter actions

    private func valve(_ deviceId: Int, open: Bool) -> Failure? {
        guard let meter = config.devices[deviceId].meter else { return Failure(.invalidArgument, "not a meter") }
        let timeoutMs = config.devices[deviceId].responseTimeoutMs
        var failure: Failure? = nil
        for attempt in 0...Int(config.devices[deviceId].retries) {
            meterSequence &+= 1
            let sequence = meterSequence
            let result = transact(deviceId, isRetry: attempt > 0) { () throws(Failure) in
                try MeterExchange.valveCJT188(transport, clock: clock, meter: meter, sequence: sequence, open: open,
                                              timeoutMs: timeoutMs)
            }
            guard let error = result.failure else {
                health[deviceId].answered()
                return nil
            }
            failure = error
            guard error.kind.isRetryable, transport.isOpen, !stopRequested else { return error }
        }
        return failure
    }

    /// The DL/T 645 broadcast time sync: no reply; the line is busy for the frame's time and the silence.
    private func timeSync(_ seconds: Int64) -> Failure? {
        var fields = [Int32](repeating: 0, count: 6)
        let converted = fields.withUnsafeMutableBufferPointer { buffer in ec_local_time(seconds, buffer.baseAddress) }
        guard converted == 0, fields[0] >= 2000, fields[0] <= 2099 else {
            return Failure(.value, "time \(seconds) is not a local time in 2000..2099")
        }
        let preamble = config.devices.filter { $0.bus == busId }.compactMap { $0.meter?.preamble }.max() ?? 4
        let frame: [UInt8]
        do throws(Failure) {
            frame = try DLT645Frame.timeSync(year: Int(fields[0]) - 2000, month: Int(fields[1]), day: Int(fields[2]),
                                             hour: Int(fields[3]), minute: Int(fields[4]),
                                             second: Int(fields[5])).encoded(preamble: Int(preamble))
        } catch {
            return error
        }
        transport.flush()
        var failure: Failure? = nil
        do throws(Failure) {
            try frame.withUnsafeBufferPointer { bytes throws(Failure) in try transport.sendRaw(bytes) }
        } catch {
            failure = error
        }
        nextTransactionAt = clock.monotonicNanoseconds + gapNanoseconds + lineNanoseconds(characters: frame.count)
        if case .disconnected(let errno)? = failure?.kind { busLost(error: errno) }
        return failure
    }

    private func discover() -> (failure: Failure?, address: MeterAddress?) {
        transport.flush()
        var failure: Failure? = nil
        var address: MeterAddress? = nil
        do throws(Failure) {
            address = try MeterExchange.discoverDLT645(transport, clock: clock, windowMs: 1000)
        } catch {
            failure = error
        }
        nextTransactionAt = clock.monotonicNanoseconds + gapNanoseconds
        if case .disconnected(let errno)? = failure?.kind { busLost(error: errno) }
        return (failure, address)
    }

    /// The time `characters` take on the serial line (an RTU bus's, or the line behind a transparent TCP bus).
    private func lineNanoseconds(characters: Int) -> Int64 {
        guard let line = spec.serialLine else { return 0 }
        return Int64(Double(characters * line.bitsPerCharacter) * 1_000_000_000 / Double(line.baud))
    }

    /// One transaction of a write: a value, not a closure, so that `attempt` and the transaction's
    /// bookkeeping inlined into it exist once in the library rather than once per kind of write.
    private enum WriteStep {
        case writeRegisters(UInt16, [UInt16])
        case writeCoils(UInt16, [UInt8])
        /// The read of a read-modify-write (FC 3, one register).
        case readRegister(UInt16)
    }

    /// One transaction of a write, with the device's retries; nil when the device answered. A read
    /// leaves its register in `current`.
    private func attempt(_ deviceId: Int, _ step: WriteStep) -> Failure? {
        var unused: UInt16 = 0
        return attempt(deviceId, step, into: &unused)
    }

    @inline(never)
    private func attempt(_ deviceId: Int, _ step: WriteStep, into current: inout UInt16) -> Failure? {
        var failure: Failure? = nil
        for attempt in 0...Int(config.devices[deviceId].retries) {
            let result = transact(deviceId, isRetry: attempt > 0) { () throws(Failure) in
                switch step {
                case .writeRegisters(let address, let values):
                    try values.withUnsafeBufferPointer { buffer throws(Failure) in
                        try transport.writeRegisters(address: address, values: buffer)
                    }
                case .writeCoils(let address, let values):
                    try values.withUnsafeBufferPointer { buffer throws(Failure) in
                        try transport.writeCoils(address: address, values: buffer)
                    }
                case .readRegister(let address):
                    try transport.readRegisters(.holdingRegisters, address: address, count: 1, into: &current)
                }
            }
            guard let error = result.failure else {
                health[deviceId].answered()
                return nil
            }
            failure = error
            guard error.kind.isRetryable, transport.isOpen, !stopRequested else { return error }
        }
        return failure
    }
}

extension Failure.Kind {
    /// The reading status a failed poll gives the channels of its request, and its detail.
    var readingStatus: (status: UInt16, detail: UInt16) {
        switch self {
        case .deviceTimeout: return (UInt16(EDGECORE_STATUS_TIMEOUT.rawValue), 0)
        case .deviceFrame: return (UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue), 0)
        case .deviceException(let code): return (UInt16(EDGECORE_STATUS_EXCEPTION.rawValue), UInt16(code))
        default: return (UInt16(EDGECORE_STATUS_DISCONNECTED.rawValue), 0)
        }
    }

    /// Worth another attempt on the same connection.
    var isRetryable: Bool { self == .deviceTimeout || self == .deviceFrame }
}

/// Where one channel's value lies in its request's answer, and how to decode it.
private struct DecodeSlot {
    var channel: Int
    var offset: Int
    var width: Int
    var codec: ValueCodec
}
