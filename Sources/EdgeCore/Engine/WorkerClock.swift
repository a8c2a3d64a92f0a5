/// The clocks a worker reads, injected so that tests drive a worker step by step on a manual clock
/// (`Clock` in production). Class-bound so that Embedded Swift allows `any WorkerClock`.
protocol WorkerClock: AnyObject {
    /// CLOCK_MONOTONIC in nanoseconds: deadlines, intervals, back-offs.
    var monotonicNanoseconds: Int64 { get }
    /// CLOCK_REALTIME in nanoseconds since the Unix epoch: reading timestamps.
    var realtimeNanoseconds: Int64 { get }
}

/// The system's clocks.
final class SystemClock: WorkerClock {
    var monotonicNanoseconds: Int64 { Clock.monotonicNanoseconds() }
    var realtimeNanoseconds: Int64 { Clock.realtimeNanoseconds() }
}

/// What one step of a worker's loop came to (see ModbusWorker.step()).
enum WorkerStep: Equatable {
    /// It did something (an open, a poll, a write): step again at once.
    case again
    /// Nothing to do before `until` (monotonic ns; nil: until woken): sleep on the worker's control
    /// from `generation` (a write or stop notified after it cuts the sleep short).
    case idle(until: Int64?, generation: UInt32)
    /// stop() was called: finish.
    case stop
}
