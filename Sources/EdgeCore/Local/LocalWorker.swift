import CShim

/// The worker of a local bus: channels the application sets with edgecore_engine_write (a controller's
/// decisions, alarms, an override). No I/O: a write is published at once by the writing thread, as one
/// reading {value, OK or OUT_OF_RANGE by the channel's range, now, the channel's next sequence}, to the
/// bus's ring lane and the journal's feed. A channel with an interval publishes its last value again every
/// interval after its first write (a heartbeat), from a thread of the bus's own; a bus none of whose
/// channels has an interval has no thread.
///
/// Threads: writers (any thread) and the heartbeat thread publish into the one lane under `lock`, so the
/// lane keeps its single producer at any instant; the lock is held for a copy into memory, never across I/O.
final class LocalWorker: EngineWorker, @unchecked Sendable {
    let busId: Int
    var holdsOutputsAfterStop: Bool { false }

    private struct Channel {
        var id: Int
        var device: Int
        var codec: ValueCodec
        var intervalNs: Int64
        /// The last value written (nil: none yet, nothing is published) and when it is next due again.
        var last: Double? = nil
        var due: Int64 = 0
    }

    private let stats: EngineStats
    private let lock = Lock()
    private let wake = Signal()
    private var batch: ReadingBatch
    private var channels: [Channel]
    /// Channel id -> index in `channels`.
    private var index = [TextKey: Int]()
    private var stopping = false
    private var running = false
    private var thread: WorkerThread? = nil
    private let needsThread: Bool

    init(busId: Int, config: SiteConfig, ring: Ring, feed: Ring? = nil, stats: EngineStats,
         sequences: UnsafeMutablePointer<UInt32>) {
        self.busId = busId
        self.stats = stats
        self.batch = ReadingBatch(ring: ring, feed: feed, lane: busId, sequences: sequences)
        var found: [Channel] = []
        for (id, channel) in config.channels.enumerated() {
            guard let point = channel.local, config.devices[point.device].bus == busId else { continue }
            found.append(Channel(id: id, device: point.device, codec: point.codec,
                                 intervalNs: Int64(channel.intervalMs) * 1_000_000))
        }
        channels = found
        for (position, channel) in found.enumerated() { index[LocalWorker.key(channel.id)] = position }
        needsThread = found.contains { $0.intervalNs > 0 }
    }

    private static func key(_ channel: Int) -> TextKey { TextKey("", kind: 1, number: UInt64(truncatingIfNeeded: channel)) }

    func start() throws(Failure) {
        lock.withLock {
            stopping = false
            running = true
        }
        stats.updateBus(busId) {
            $0.opens &+= 1
            $0.change(to: EDGECORE_BUS_CONNECTED)
        }
        if needsThread {
            do throws(Failure) {
                thread = try WorkerThread { [self] in heartbeats() }
            } catch {
                lock.withLock { running = false }
                stats.updateBus(busId) { $0.change(to: EDGECORE_BUS_STOPPED) }
                throw error
            }
        }
    }

    /// Ends the heartbeat thread (it sleeps on a futex: it wakes and ends at once); later writes fail with
    /// .notRunning.
    func stop() {
        lock.withLock {
            stopping = true
            running = false
        }
        wake.notify()
        thread?.join()
        thread = nil
        stats.updateBus(busId) { $0.change(to: EDGECORE_BUS_STOPPED) }
    }

    /// A write: published here, on the caller's thread, and completed before this returns.
    func enqueue(_ job: WriteJob) {
        guard case .local(let channel, let value) = job.target, let position = index[LocalWorker.key(channel)] else {
            job.complete(Failure(.notFound, "no such channel on this local bus"))
            return
        }
        guard job.claim() else { return }
        let now = Clock.monotonicNanoseconds()
        let (published, first, device) = lock.withLock { () -> (Bool, Bool, Int) in
            guard running, !stopping else { return (false, false, channels[position].device) }
            let first = channels[position].last == nil && channels[position].intervalNs > 0
            channels[position].last = value
            channels[position].due = now + channels[position].intervalNs
            publish(position)
            return (true, first, channels[position].device)
        }
        guard published else {
            job.complete(Failure(.notRunning))
            return
        }
        let wall = Clock.realtimeNanoseconds()
        stats.update(device: device, bus: busId, deviceError: nil) { device, bus in
            device.requests &+= 1
            device.responses &+= 1
            device.state = UInt16(EDGECORE_DEVICE_ONLINE.rawValue)
            device.last_ok_ns = wall
            bus.transactions &+= 1
        }
        // The heartbeat thread sleeps until the earliest deadline it knows: a channel's first write brings one.
        if first { wake.notify() }
        job.complete(nil)
    }

    /// Caller holds `lock`: one reading of the channel's last value.
    private func publish(_ position: Int) {
        guard let value = channels[position].last else { return }
        let decoded = channels[position].codec.decode(number: value)
        batch.append(channel: channels[position].id, timestamp: Clock.realtimeNanoseconds(), value: decoded.value,
                     status: decoded.status)
        batch.publish()
    }

    /// The heartbeat thread: publishes each written channel's last value when its interval has passed since
    /// its last publication; sleeps until the next such deadline, a first write, or stop.
    private func heartbeats() {
        while true {
            let generation = wake.generation()
            let now = Clock.monotonicNanoseconds()
            let (stop, wakeAt, sent, skipped) = lock.withLock { () -> (Bool, Int64?, UInt64, UInt64) in
                if stopping { return (true, nil, 0, 0) }
                var wakeAt: Int64? = nil
                var sent: UInt64 = 0
                var skipped: UInt64 = 0
                for position in channels.indices where channels[position].intervalNs > 0 && channels[position].last != nil {
                    if channels[position].due <= now {
                        publish(position)
                        sent += 1
                        // The heartbeat after it: missed ones (the thread was not scheduled) are skipped.
                        let next = PollSchedule.gpio.next(after: channels[position].due,
                                                          interval: channels[position].intervalNs, now: now)
                        channels[position].due = next.deadline
                        skipped += next.skipped
                    }
                    wakeAt = min(wakeAt ?? channels[position].due, channels[position].due)
                }
                return (false, wakeAt, sent, skipped)
            }
            if stop { return }
            if sent > 0 || skipped > 0 {
                stats.updateBus(busId) {
                    $0.transactions &+= sent
                    $0.skipped_polls &+= skipped
                }
            }
            wake.wait(generation: generation, until: wakeAt)
        }
    }
}
