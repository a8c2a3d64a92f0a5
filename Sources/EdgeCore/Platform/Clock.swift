import CShim

enum Clock {
    /// CLOCK_MONOTONIC in nanoseconds: for deadlines and intervals.
    static func monotonicNanoseconds() -> Int64 { ec_monotonic_ns() }
    /// CLOCK_REALTIME in nanoseconds since the Unix epoch: for reading timestamps.
    static func realtimeNanoseconds() -> Int64 { ec_realtime_ns() }
}
