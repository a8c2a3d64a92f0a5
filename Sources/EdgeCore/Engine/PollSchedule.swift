import CShim

/// When a periodic poll or sample is next due, for both workers: the next deadline is the previous one
/// plus the interval (no drift), and cycles the worker fell behind on are caught up or skipped.
///
/// One rule with one parameter, the catch-up window (`windowIntervals` intervals, at least
/// `minimumWindowNs`): a cycle whose deadline lies no further back than the
/// window is still served (late, back to back); cycles further back are skipped and counted, down to the
/// edge of the window. The deadline stays in the past, in order with the other late requests, so an
/// overloaded bus serves them in turn instead of letting one jump to the back of the queue.
///
/// Why the workers pass different windows: a Modbus bus falls behind routinely (a dead device's timeouts
/// or a slow peer hold it for seconds), and catching up after such a hold-up keeps every request's count
/// of readings per hour as planned, at the price of a bounded burst: `modbus`, the larger of two
/// intervals and 2 s. A GPIO sample costs microseconds and falls behind only when its thread was not
/// scheduled; samples taken late in a burst would all read the same instant's level, readings without
/// information: `gpio`, a window of zero (every missed cycle is skipped at once).
struct PollSchedule: Sendable {
    let windowIntervals: Int64
    let minimumWindowNs: Int64

    static let modbus = PollSchedule(windowIntervals: 2, minimumWindowNs: 2_000_000_000)
    static let gpio = PollSchedule(windowIntervals: 0, minimumWindowNs: 0)

    /// The deadline after `deadline` at `interval` (ns, > 0) when the time is `now`, and the cycles skipped.
    func next(after deadline: Int64, interval: Int64, now: Int64) -> (deadline: Int64, skipped: UInt64) {
        let next = deadline + interval
        let window = max(windowIntervals * interval, minimumWindowNs)
        guard interval > 0, now - next > window else { return (next, 0) }
        let missed = (now - window - next) / interval + 1
        return (next + missed * interval, UInt64(missed))
    }
}

/// How long to wait before the next attempt while attempts keep failing: `minMs`, doubling up to `maxMs`;
/// back to `minMs` after a success. The Modbus worker's reopen back-off and a device's probe back-off.
struct BackOff {
    let minMs: UInt32
    let maxMs: UInt32
    /// The current wait (0: no failure since the last success).
    private(set) var currentMs: UInt32 = 0

    init(minMs: UInt32, maxMs: UInt32) {
        self.minMs = minMs
        self.maxMs = maxMs
    }

    /// One more failure: the wait before the next attempt (ms).
    mutating func failed() -> UInt32 {
        currentMs = currentMs == 0 ? minMs : min(currentMs > maxMs / 2 ? maxMs : currentMs * 2, maxMs)
        return currentMs
    }

    mutating func succeeded() { currentMs = 0 }

    /// The time (monotonic ns) of the next attempt after one more failure at `now`.
    mutating func failed(at now: Int64) -> Int64 { now + Int64(failed()) * 1_000_000 }
}

/// A worker's readings of one turn: numbered per channel (the engine's counters, which continue across
/// restarts; a worker touches only its own channels' entries) and published to the worker's ring lane
/// together.
struct ReadingBatch {
    private let ring: Ring
    /// The journal thread's feed, a lane per bus as the ring (nil: the engine has no journal).
    private let feed: Ring?
    private let lane: Int
    private let sequences: UnsafeMutablePointer<UInt32>
    private var readings: [Reading] = []

    init(ring: Ring, feed: Ring? = nil, lane: Int, sequences: UnsafeMutablePointer<UInt32>) {
        self.ring = ring
        self.feed = feed
        self.lane = lane
        self.sequences = sequences
    }

    mutating func append(channel: Int, timestamp: Int64, value: Double, status: UInt16, detail: UInt16 = 0) {
        let sequence = sequences[channel]
        sequences[channel] = sequence &+ 1
        readings.append(Reading(timestamp_ns: timestamp, value: value, channel: UInt32(channel),
                                sequence: sequence, status: status, status_detail: detail, reserved: 0))
    }

    /// Publishes what was appended and starts a new batch.
    mutating func publish() {
        readings.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            _ = ring.publish(lane: lane, base, count: buffer.count)
            // The journal's copy: a full feed drops its oldest (counted), never waits.
            _ = feed?.publish(lane: lane, base, count: buffer.count)
        }
        readings.removeAll(keepingCapacity: true)
    }
}
