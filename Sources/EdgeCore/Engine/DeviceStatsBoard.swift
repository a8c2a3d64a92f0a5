import CShim

/// Per-device counters (struct edgecore_device_stats), written by bus workers and read by any thread.
final class DeviceStatsBoard: @unchecked Sendable {
    private let lock = Lock()
    private var stats: [edgecore_device_stats] = []

    /// Makes room for devices added to the configuration.
    func ensureCount(_ count: Int) {
        lock.withLock {
            while stats.count < count { stats.append(edgecore_device_stats()) }
        }
    }

    func update(_ device: Int, _ body: (inout edgecore_device_stats) -> Void) {
        lock.withLock {
            guard device < stats.count else { return }
            body(&stats[device])
        }
    }

    func snapshot(_ device: Int) -> edgecore_device_stats? {
        lock.withLock { device < stats.count ? stats[device] : nil }
    }
}

extension edgecore_device_stats {
    /// Records a good answer's round trip.
    mutating func recordLatency(microseconds: UInt64) {
        latency_total_us &+= microseconds
        let clamped = UInt32(clamping: microseconds)
        if clamped > latency_max_us { latency_max_us = clamped }
        let bounds: [UInt64] = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000]
        let bucket = bounds.firstIndex { microseconds < $0 } ?? 7
        withUnsafeMutableBytes(of: &latency_histogram) { raw in
            let counters = raw.bindMemory(to: UInt32.self)
            counters[bucket] &+= 1
        }
    }
}
