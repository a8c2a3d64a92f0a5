import CShim

/// A write waiting for its bus worker, and the caller waiting for its result.
final class WriteJob: @unchecked Sendable {
    enum Payload {
        case registers([UInt16])
        case coils([UInt8])
        /// Read-modify-write of one bit of a holding register.
        case registerBit(codec: ValueCodec, value: Double)
        /// A GPIO output's new level.
        case level(Bool)
    }

    /// The Modbus device written (-1 for GPIO).
    let device: Int
    /// The channel written, for GPIO outputs (-1 for Modbus register and coil writes).
    let channel: Int
    let address: UInt16
    let payload: Payload
    private let lock = Lock()
    private let finished = Signal()
    private var result: Int32? = nil

    init(device: Int, channel: Int = -1, address: UInt16, payload: Payload) {
        self.device = device
        self.channel = channel
        self.address = address
        self.payload = payload
    }

    /// Called once by the bus worker.
    func complete(_ code: Int32) {
        lock.withLock { result = code }
        finished.notify()
    }

    /// The result, or nil when `timeoutMilliseconds` (< 0: no limit) passed first.
    func wait(timeoutMilliseconds: Int32) -> Int32? {
        let deadline: Int64? = timeoutMilliseconds < 0
            ? nil : Clock.monotonicNanoseconds() + Int64(timeoutMilliseconds) * 1_000_000
        while true {
            let generation = finished.generation()
            if let done = lock.withLock({ result }) { return done }
            if let deadline, Clock.monotonicNanoseconds() >= deadline { return nil }
            finished.wait(generation: generation, until: deadline)
        }
    }
}
