import CShim

/// Counters of the engine's journal feed (struct edgecore_engine_journal_stats without its C layout). They
/// count since the engine was created, across runs and journals.
struct EngineJournalStats: Equatable {
    /// Readings the journal accepted.
    var appended: UInt64 = 0
    /// Readings dropped from the full feed (the journal did not keep up): never offered to the journal.
    var lost: UInt64 = 0
    /// Appends that failed (a system error, or the journal full with when_full refuse_newest).
    var appendFailures: UInt64 = 0
    /// Readings of those failed appends: not in the journal.
    var failedReadings: UInt64 = 0
    /// Readings in the feed, taken but not yet offered to the journal.
    var waiting: UInt64 = 0
    /// The last append failure (nil: none).
    var lastError: Failure.Kind? = nil
}

/// The engine's journal thread for one run: the bus workers publish every batch to `feed` as well as to
/// the engine's ring (ReadingBatch), never touching the journal themselves, so a slow flash never delays
/// sampling. This thread is the feed's only consumer: it appends what it drains to the journal in batches
/// and ticks the journal (its sync policy by time) at least every `tickNanoseconds` while idle.
///
/// The feed has one drop-oldest lane per bus: when the journal falls so far behind that a lane is full, the
/// oldest readings of that lane are dropped, each counted once (Ring's exact counters), and sampling goes on.
/// `finish` (the engine's stop, after every worker has ended) lets the thread drain what is left, append it,
/// sync, and end.
final class JournalWriter: @unchecked Sendable {
    let journal: Journal
    let feed: Ring
    private let tickNanoseconds: Int64
    private let counters: JournalWriterCounters
    /// Word 0: nonzero once `finish` asked the thread to end.
    private let stopMemory: UnsafeMutableRawPointer
    private var thread: WorkerThread?
    /// Readings per append: one record each (the journal's records hold up to 4096).
    static let batchMax = 4096

    init(journal: Journal, settings: JournalSettings, lanes: UInt32, capacity: UInt32,
         counters: JournalWriterCounters) throws(Failure) {
        self.journal = journal
        feed = try Ring.make(capacity: capacity, lanes: lanes, policy: EDGECORE_OVERFLOW_DROP_OLDEST)
        let interval = Int64(settings.syncIntervalMs) * 1_000_000
        tickNanoseconds = interval > 0 ? min(interval, 100_000_000) : 100_000_000
        self.counters = counters
        stopMemory = try AlignedMemory.allocate(byteCount: AlignedMemory.cacheLine, zeroed: true)
    }

    deinit {
        finish()
        AlignedMemory.free(stopMemory)
    }

    private var stopWord: AtomicWord32 { AtomicWord32(address: stopMemory.assumingMemoryBound(to: UInt32.self)) }

    func start() throws(Failure) {
        counters.attach(feed)
        do throws(Failure) {
            thread = try WorkerThread { [self] in run() }
        } catch {
            counters.retire(feed)
            throw Failure(error, "cannot start the journal thread")
        }
    }

    /// Ends the thread once it has appended everything in the feed and synced. Call after the producers
    /// (the bus workers) have ended. Idempotent.
    func finish() {
        guard let thread else { return }
        stopWord.storeSequentiallyConsistent(1)
        feed.interruptWaiters()
        thread.join()
        self.thread = nil
        counters.retire(feed)
    }

    private func run() {
        let buffer = UnsafeMutablePointer<Reading>.allocate(capacity: Self.batchMax)
        defer { buffer.deallocate() }
        var lastTick = Clock.monotonicNanoseconds()
        while true {
            // The stop flag is read before the drain: everything published before it was set is drained
            // by the time a drain comes back empty.
            let stopping = stopWord.loadSequentiallyConsistent() != 0
            let count = feed.drain(into: buffer, max: Self.batchMax)
            if count > 0 { append(UnsafeBufferPointer(start: buffer, count: count)) }
            let now = Clock.monotonicNanoseconds()
            if now - lastTick >= tickNanoseconds {
                lastTick = now
                do throws(Failure) { _ = try journal.tick() } catch { counters.recordSyncFailure(error.kind) }
            }
            if count > 0 { continue }
            if stopping { break }
            // Wakes for readings, for `finish`, or in time for the next tick.
            _ = try? feed.wait(until: lastTick + tickNanoseconds, watch: (stopWord, 0))
        }
        do throws(Failure) { try journal.sync() } catch { counters.recordSyncFailure(error.kind) }
    }

    private func append(_ readings: UnsafeBufferPointer<Reading>) {
        do throws(Failure) {
            _ = try journal.append(readings)
            counters.add(appended: readings.count)
        } catch {
            counters.addFailure(readings: readings.count, error.kind)
        }
    }
}

/// The counters of every JournalWriter of an engine: they continue across runs and journals. Any thread
/// reads them; the journal thread (and the control thread, retiring a feed) writes them.
final class JournalWriterCounters: @unchecked Sendable {
    private let lock = Lock()
    private var totals = EngineJournalStats()
    /// The running feed, whose own counters are added to `totals` when it retires.
    private var liveFeed: Ring?

    func attach(_ feed: Ring) { lock.withLock { liveFeed = feed } }

    /// The feed's run ended: its dropped readings join the totals.
    func retire(_ feed: Ring) {
        lock.withLock {
            let stats = feed.stats(lane: nil)
            totals.lost += stats.dropped
            if liveFeed === feed { liveFeed = nil }
        }
    }

    func add(appended count: Int) { lock.withLock { totals.appended += UInt64(count) } }

    func addFailure(readings count: Int, _ kind: Failure.Kind) {
        lock.withLock {
            totals.appendFailures += 1
            totals.failedReadings += UInt64(count)
            totals.lastError = kind
        }
    }

    /// A failed tick or final sync: not counted as an append failure (nothing was refused), but shown.
    func recordSyncFailure(_ kind: Failure.Kind) { lock.withLock { totals.lastError = kind } }

    var snapshot: EngineJournalStats {
        lock.withLock {
            var result = totals
            if let liveFeed {
                let stats = liveFeed.stats(lane: nil)
                result.lost += stats.dropped
                result.waiting = stats.available
            }
            return result
        }
    }
}
