import CShim

/// A write waiting for its bus worker, and the caller waiting for its result.
///
/// Claiming (the worker is about to send it) and abandoning (the caller's deadline passed) are one step
/// each under the job's lock, so exactly one of them wins: an abandoned write is never sent, and a
/// claimed one is waited for until its transaction ends, whatever the caller's deadline.
final class WriteJob: @unchecked Sendable {
    /// What a Modbus write sends.
    enum Payload {
        case registers([UInt16])
        case coils([UInt8])
        /// Read-modify-write of one bit of a holding register.
        case registerBit(codec: ValueCodec, value: Double)
    }

    /// What is written, and where.
    enum Target {
        /// A Modbus device's registers or coils from `address`.
        case modbus(device: Int, address: UInt16, Payload)
        /// A GPIO output channel's new level.
        case gpioOutput(channel: Int, level: Bool)
        /// A CJ/T 188 meter's valve (DI A017).
        case meterValve(device: Int, open: Bool)
        /// The DL/T 645 broadcast time sync on a bus: the local time of `seconds` (Unix time).
        case meterTimeSync(bus: Int, seconds: Int64)
        /// DL/T 645-2007 read address (0x13 to the wildcard): the one meter's address comes back in `reply`.
        case meterDiscover(bus: Int)
        /// A local channel's new value: published at once as a reading (no I/O).
        case local(channel: Int, value: Double)
    }

    private enum State {
        case queued
        case sending
        case abandoned
        case done
    }

    let target: Target
    private let lock = Lock()
    private let finished = Signal()
    private var state = State.queued
    /// What the write came to: nil when the device took it.
    private var failure: Failure? = nil
    /// What an action answered (a discovered address), set with the outcome.
    private var answer: [UInt8] = []

    init(_ target: Target) {
        self.target = target
    }

    // MARK: Bus worker

    /// Takes the write for sending; false when its caller has given up on it (then it must not be sent).
    func claim() -> Bool {
        lock.withLock {
            guard state == .queued else { return false }
            state = .sending
            return true
        }
    }

    /// Called once by the bus worker: nil when the device took the write, else why not (for a Modbus
    /// exception, .deviceException with this write's own code).
    func complete(_ failure: Failure?, answer: [UInt8] = []) {
        lock.withLock {
            guard state != .abandoned else { return }
            state = .done
            self.failure = failure
            self.answer = answer
        }
        finished.notify()
    }

    // MARK: Caller

    /// What the action answered; read after `wait` returned success.
    var reply: [UInt8] { lock.withLock { answer } }

    /// The outcome, or nil when `timeoutMilliseconds` (< 0: no limit) passed before the worker claimed
    /// the write (it is then abandoned: never sent). A write claimed in time is waited for to its end.
    func wait(timeoutMilliseconds: Int32) -> Result<Void, Failure>? {
        let deadline: Int64? = timeoutMilliseconds < 0
            ? nil : Clock.monotonicNanoseconds() + Int64(timeoutMilliseconds) * 1_000_000
        while true {
            let generation = finished.generation()
            let now = Clock.monotonicNanoseconds()
            let (seen, sleepUntil) = lock.withLock { () -> (State, Int64?) in
                guard state == .queued, let deadline else { return (state, nil) }
                if now < deadline { return (state, deadline) }
                state = .abandoned
                return (.abandoned, nil)
            }
            if seen == .done { return failure.map { .failure($0) } ?? .success(()) }  // set once, before .done, under the lock
            if seen == .abandoned { return nil }
            finished.wait(generation: generation, until: sleepUntil)
        }
    }
}
