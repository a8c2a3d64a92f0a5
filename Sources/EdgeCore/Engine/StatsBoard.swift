import CShim

/// Counters of devices or buses (edgecore_device_stats / edgecore_bus_stats), written by bus workers and
/// read by any thread.
final class StatsBoard<Stats>: @unchecked Sendable {
    private let lock = Lock()
    private var stats: [Stats] = []
    private let empty: Stats

    init(empty: Stats) { self.empty = empty }

    /// Makes room for devices or buses added to the configuration.
    func ensureCount(_ count: Int) {
        lock.withLock {
            while stats.count < count { stats.append(empty) }
        }
    }

    func update(_ index: Int, _ body: (inout Stats) -> Void) {
        lock.withLock {
            guard index >= 0, index < stats.count else { return }
            body(&stats[index])
        }
    }

    func snapshot(_ index: Int) -> Stats? {
        lock.withLock { index >= 0 && index < stats.count ? stats[index] : nil }
    }
}

typealias DeviceStatsBoard = StatsBoard<edgecore_device_stats>
typealias BusStatsBoard = StatsBoard<edgecore_bus_stats>

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

extension edgecore_bus_stats {
    mutating func change(to state: edgecore_bus_state) {
        guard self.state != state.rawValue else { return }
        self.state = state.rawValue
        last_change_ns = Clock.realtimeNanoseconds()
    }
}
