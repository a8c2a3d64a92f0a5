import CShim
import Foundation
import Testing

@testable import EdgeCore

/// The engine's journal thread (Engine/EngineJournal.swift): every reading the workers take reaches the
/// journal from a thread of the engine's own, a slow journal never holds a worker up, and a feed that
/// overflows counts what it drops exactly.
@Suite(.serialized) struct EngineJournalTests {
    /// A bus worker that samples on a fixed schedule through the engine's own ReadingBatch (so through the
    /// ring and the journal feed, as Modbus and GPIO workers do), and records how late each batch was and
    /// how long each publish took.
    final class PacedWorker: EngineWorker, @unchecked Sendable {
        let busId: Int
        var holdsOutputsAfterStop: Bool { false }
        private var batch: ReadingBatch
        private let channel: Int
        private let batches: Int
        private let perBatch: Int
        private let intervalNanoseconds: Int64
        private let lock = NSLock()
        private var stopping = false
        private let ended = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        private(set) var published = 0
        private(set) var maxPublishNanoseconds: Int64 = 0
        private(set) var maxLatenessNanoseconds: Int64 = 0

        init(_ setup: WorkerSetup, batches: Int, perBatch: Int, intervalMilliseconds: Int) {
            busId = setup.busId
            batch = ReadingBatch(ring: setup.ring, feed: setup.feed, lane: setup.busId, sequences: setup.sequences)
            channel = setup.busId  // EngineTests.addBuses: channel i on bus i
            self.batches = batches
            self.perBatch = perBatch
            intervalNanoseconds = Int64(intervalMilliseconds) * 1_000_000
        }

        func start() throws(Failure) { Thread.detachNewThread { self.run() } }

        func stop() {
            lock.withLock { stopping = true }
            ended.wait()
        }

        func enqueue(_ job: WriteJob) { job.complete(nil) }

        private func run() {
            let start = Clock.monotonicNanoseconds()
            for index in 0..<batches {
                if lock.withLock({ stopping }) { break }
                let due = start + Int64(index) * intervalNanoseconds
                let wait = due - Clock.monotonicNanoseconds()
                if wait > 0 { usleep(UInt32(wait / 1000)) }
                let now = Clock.monotonicNanoseconds()
                maxLatenessNanoseconds = max(maxLatenessNanoseconds, now - due)
                for _ in 0..<perBatch {
                    batch.append(channel: channel, timestamp: now, value: Double(index), status: 0)
                }
                batch.publish()
                maxPublishNanoseconds = max(maxPublishNanoseconds, Clock.monotonicNanoseconds() - now)
                published += perBatch
            }
            finished.signal()
            while !lock.withLock({ stopping }) { usleep(1000) }
            ended.signal()
        }
    }

    /// The real folder, with a sync that sleeps (a worn SD card) and optionally slow writes.
    final class SlowFiles: JournalFiles {
        let folder: FolderFiles
        let syncMicroseconds: UInt32
        let writeMicroseconds: UInt32
        init(_ path: String, syncMicroseconds: UInt32, writeMicroseconds: UInt32 = 0) {
            folder = FolderFiles(FilePath(path))
            self.syncMicroseconds = syncMicroseconds
            self.writeMicroseconds = writeMicroseconds
        }
        func names() throws(Failure) -> [String] { try folder.names() }
        func open(_ name: String, create: Bool) throws(Failure) -> any JournalFile {
            SlowFile(try folder.open(name, create: create), self)
        }
        func remove(_ name: String) throws(Failure) { try folder.remove(name) }
        func rename(_ from: String, to: String) throws(Failure) { try folder.rename(from, to: to) }
        func syncFolder() throws(Failure) {
            usleep(syncMicroseconds)
            try folder.syncFolder()
        }
    }

    final class SlowFile: JournalFile {
        let file: any JournalFile
        let files: SlowFiles
        init(_ file: any JournalFile, _ files: SlowFiles) {
            self.file = file
            self.files = files
        }
        func size() throws(Failure) -> UInt64 { try file.size() }
        func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
            try file.read(at: offset, into: buffer)
        }
        func write(at offset: UInt64, _ bytes: UnsafeRawBufferPointer) throws(Failure) {
            if files.writeMicroseconds > 0 { usleep(files.writeMicroseconds) }
            try file.write(at: offset, bytes)
        }
        func truncate(to size: UInt64) throws(Failure) { try file.truncate(to: size) }
        func sync() throws(Failure) {
            usleep(files.syncMicroseconds)
            try file.sync()
        }
        func close() { file.close() }
    }

    static let settings = JournalSettings(sizeLimit: 64 << 20, segmentSize: 1 << 20, syncIntervalMs: 50,
                                          syncEveryReadings: 0, maxSyncsPerHour: 0, whenFull: .dropOldest)

    static func scratchFolder() throws -> String {
        let parent = NSTemporaryDirectory() + "edgecore-enginejournal-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
        return parent
    }

    /// An engine of `buses` buses whose workers are PacedWorkers (collected in `workers`).
    static func makeEngine(buses: Int, ringCapacity: UInt32 = 4096, batches: Int, perBatch: Int,
                           intervalMilliseconds: Int, workers: WorkerList) throws -> Engine {
        let engine = try Engine(ringCapacity: ringCapacity, overflow: EDGECORE_OVERFLOW_DROP_OLDEST) { setup throws(Failure) in
            let worker = PacedWorker(setup, batches: batches, perBatch: perBatch, intervalMilliseconds: intervalMilliseconds)
            workers.add(worker)
            return worker
        }
        try EngineTests.addBuses(buses, to: engine)
        return engine
    }

    /// Everything cursor `name` delivers, reopening the journal in `folder` (so only what is on disk).
    static func readBack(_ folder: String, cursor name: String = "test") throws -> [Reading] {
        let journal = try Journal(folder: FilePath(folder), settings: settings)
        defer { try? journal.close() }
        var all: [Reading] = []
        let buffer = UnsafeMutableBufferPointer<Reading>.allocate(capacity: 4096)
        defer { buffer.deallocate() }
        var expected: UInt64 = 0
        for _ in 0..<100_000 {
            let (first, count) = try journal.read(name, into: buffer)
            if count == 0 { break }
            if expected != 0 { #expect(first >= expected, "journal sequences go back: \(first) after \(expected - 1)") }
            expected = first + UInt64(count)
            all.append(contentsOf: buffer.prefix(count))
        }
        return all
    }

    /// Drains the engine's ring until the workers have finished and the ring is empty.
    static func drainAll(_ engine: Engine) -> [Reading] {
        var drained: [Reading] = []
        let buffer = UnsafeMutablePointer<Reading>.allocate(capacity: 1024)
        defer { buffer.deallocate() }
        for _ in 0..<1_000_000 {
            let count = Int(engine.drain(into: buffer, max: 1024))
            drained.append(contentsOf: UnsafeBufferPointer(start: buffer, count: count))
            if count == 0 {
                if !engine.isRunning { break }
                usleep(1000)
            }
        }
        return drained
    }

    private static func key(_ reading: Reading) -> UInt64 { UInt64(reading.channel) << 32 | UInt64(reading.sequence) }

    /// Per channel, the sequences in the order they appear.
    private static func perChannel(_ readings: [Reading]) -> [UInt32: [UInt32]] {
        var result: [UInt32: [UInt32]] = [:]
        for reading in readings { result[reading.channel, default: []].append(reading.sequence) }
        return result
    }

    private static func same(_ a: Reading, _ b: Reading) -> Bool {
        a.channel == b.channel && a.sequence == b.sequence && a.timestamp_ns == b.timestamp_ns
            && a.value.bitPattern == b.value.bitPattern && a.status == b.status && a.status_detail == b.status_detail
    }

    @Test func everyReadingDrainedIsInTheJournalAfterStopAndReopen() throws {
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let workers = WorkerList()
        let engine = try Self.makeEngine(buses: 3, batches: 300, perBatch: 5, intervalMilliseconds: 2, workers: workers)
        let journal = try Journal(folder: FilePath(folder + "/journal"), settings: Self.settings)
        _ = try journal.addCursor("test")
        try engine.setJournal(journal, settings: Self.settings)
        try engine.start()
        let consumer = DrainThread(engine)
        for worker in workers.all { worker.finished.wait() }
        engine.stop()
        let drained = consumer.finish()
        let stats = engine.journalStats()
        engine.close()
        try engine.setJournal(nil, settings: Self.settings)  // closes (syncs) the journal

        let stored = try Self.readBack(folder + "/journal")
        #expect(drained.count == 3 * 300 * 5)
        #expect(stored.count == drained.count)
        #expect(stats.appended == UInt64(drained.count) && stats.lost == 0 && stats.appendFailures == 0 && stats.waiting == 0)
        let byKey = Dictionary(stored.map { (Self.key($0), $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byKey.count == stored.count, "a reading is in the journal twice")
        #expect(drained.allSatisfy { reading in byKey[Self.key(reading)].map { Self.same($0, reading) } == true })
        #expect(Self.perChannel(stored) == Self.perChannel(drained))
        #expect(Self.perChannel(stored).values.allSatisfy { $0 == Array(0..<UInt32($0.count)) })
    }

    /// A site file's journal section, loaded again between two runs: the journal reopened on the same
    /// folder holds the readings of both runs, in order, the cursor it lists included.
    @Test func aSiteFileLoadedAgainKeepsTheJournalsReadings() throws {
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let site = folder + "/site.yaml"
        try "journal:\n  path: \(folder)/journal\n  sync_interval_ms: 50\n  cursors: [test]\n"
            .write(toFile: site, atomically: true, encoding: .utf8)
        let workers = WorkerList()
        let engine = try Self.makeEngine(buses: 2, batches: 50, perBatch: 2, intervalMilliseconds: 1, workers: workers)
        for run in 0..<2 {
            try loadSiteFile(engine, FilePath(site))
            #expect(engine.journal != nil)
            try engine.start()
            for worker in workers.all.suffix(2) { worker.finished.wait() }
            engine.stop()
            #expect(engine.journalStats().appended == UInt64((run + 1) * 2 * 50 * 2))
        }
        engine.close()
        try engine.setJournal(nil, settings: Self.settings)
        let stored = try Self.readBack(folder + "/journal")
        #expect(stored.count == 2 * 2 * 50 * 2)
        #expect(Self.perChannel(stored).values.allSatisfy { $0 == Array(0..<UInt32(200)) })
    }

    /// Stop while the journal thread is held up in a slow write, readings waiting in its feed: stop
    /// returns once they are appended and synced.
    @Test func stopAppendsWhatIsLeftInTheFeed() throws {
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let files = SlowFiles(folder, syncMicroseconds: 0, writeMicroseconds: 200_000)
        let workers = WorkerList()
        let engine = try Self.makeEngine(buses: 2, batches: 20, perBatch: 3, intervalMilliseconds: 1, workers: workers)
        let journal = try Journal(files: files, settings: Self.settings, clock: { Clock.monotonicNanoseconds() })
        _ = try journal.addCursor("test")
        try engine.setJournal(journal, settings: Self.settings)
        try engine.start()
        for worker in workers.all { worker.finished.wait() }
        let before = engine.journalStats()
        engine.stop()
        let after = engine.journalStats()
        engine.close()
        try engine.setJournal(nil, settings: Self.settings)

        #expect(before.waiting > 0, "nothing was left in the feed at stop: the test did not hold the journal up")
        #expect(after.appended == 2 * 20 * 3 && after.waiting == 0 && after.lost == 0)
        #expect(try Self.readBack(folder).count == 2 * 20 * 3)
    }

    /// A journal whose syncs take 300 ms: the workers sample on time and publish in microseconds, and
    /// the journal gets every reading (the feed had room).
    @Test func aSlowJournalDoesNotDelaySampling() throws {
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let files = SlowFiles(folder, syncMicroseconds: 300_000)
        let workers = WorkerList()
        // 2 buses x 4 readings every 5 ms for 1.5 s: 2,400 readings, 240 per bus per 300 ms sync.
        let engine = try Self.makeEngine(buses: 2, batches: 300, perBatch: 4, intervalMilliseconds: 5, workers: workers)
        let journal = try Journal(files: files, settings: Self.settings, clock: { Clock.monotonicNanoseconds() })
        _ = try journal.addCursor("test")
        try engine.setJournal(journal, settings: Self.settings)
        try engine.start()
        let consumer = DrainThread(engine)
        for worker in workers.all { worker.finished.wait() }
        let journalSyncs = journal.stats().syncs
        engine.stop()
        let drained = consumer.finish()
        let stats = engine.journalStats()
        engine.close()
        try engine.setJournal(nil, settings: Self.settings)

        #expect(journalSyncs >= 2, "the journal synced \(journalSyncs) times while sampling: the test did not make it slow")
        for worker in workers.all {
            #expect(worker.published == 300 * 4)
            // A worker blocked by a sync would be >= 300 ms late or in publish.
            #expect(worker.maxPublishNanoseconds < 50_000_000, "publish took \(worker.maxPublishNanoseconds / 1000) us")
            #expect(worker.maxLatenessNanoseconds < 100_000_000, "a batch was \(worker.maxLatenessNanoseconds / 1000) us late")
        }
        #expect(drained.count == 2 * 300 * 4)
        #expect(stats.lost == 0 && stats.appended == UInt64(drained.count))
        let stored = try Self.readBack(folder)
        #expect(stored.count == drained.count)
        #expect(Self.perChannel(stored) == Self.perChannel(drained))
    }

    /// A journal that cannot keep up with a small feed: the feed drops its oldest, and what the journal
    /// misses is exactly what was counted lost.
    @Test func aFullFeedCountsLostExactly() throws {
        let folder = try Self.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Every write takes 20 ms: at most ~50 appends/s, against 2 buses x 200 batches/s of 8 readings.
        let files = SlowFiles(folder, syncMicroseconds: 0, writeMicroseconds: 20_000)
        let workers = WorkerList()
        let engine = try Self.makeEngine(buses: 2, ringCapacity: 64, batches: 200, perBatch: 8, intervalMilliseconds: 1,
                                         workers: workers)
        let journal = try Journal(files: files, settings: Self.settings, clock: { Clock.monotonicNanoseconds() })
        _ = try journal.addCursor("test")
        try engine.setJournal(journal, settings: Self.settings)
        try engine.start()
        let consumer = DrainThread(engine)
        for worker in workers.all { worker.finished.wait() }
        engine.stop()
        let drained = consumer.finish()
        let stats = engine.journalStats()
        engine.close()
        try engine.setJournal(nil, settings: Self.settings)

        let total = UInt64(2 * 200 * 8)
        #expect(drained.count > 0)  // the live view (its ring is as small as the feed: it may drop too)
        #expect(stats.lost > 0, "the feed never overflowed: the test did not make the journal slow enough")
        #expect(stats.appended + stats.lost + stats.failedReadings + stats.waiting == total)
        #expect(stats.appendFailures == 0 && stats.waiting == 0)
        let stored = try Self.readBack(folder)
        #expect(UInt64(stored.count) == stats.appended)
        // What is missing from the journal is exactly the number counted lost, and it is the oldest of
        // their lane at the time (drop-oldest): per channel, the journal's sequences still only grow.
        let storedKeys = Set(stored.map(Self.key))
        #expect(storedKeys.count == stored.count, "a reading is in the journal twice")
        let taken = Set((0..<UInt32(2)).flatMap { channel in (0..<UInt32(1600)).map { UInt64(channel) << 32 | UInt64($0) } })
        #expect(storedKeys.isSubset(of: taken))
        #expect(UInt64(taken.subtracting(storedKeys).count) == stats.lost)
        for sequences in Self.perChannel(stored).values {
            #expect(zip(sequences, sequences.dropFirst()).allSatisfy { $0 < $1 })
        }
    }
}

/// The PacedWorkers an engine made, in order.
final class WorkerList: @unchecked Sendable {
    private let lock = NSLock()
    private var workers: [EngineJournalTests.PacedWorker] = []
    func add(_ worker: EngineJournalTests.PacedWorker) { lock.withLock { workers.append(worker) } }
    var all: [EngineJournalTests.PacedWorker] { lock.withLock { workers } }
}

/// A consumer draining the engine's ring while it runs (the live view), on a thread of its own.
final class DrainThread: @unchecked Sendable {
    private var drained: [Reading] = []
    private let done = DispatchSemaphore(value: 0)

    init(_ engine: Engine) {
        Thread.detachNewThread {
            self.drained = EngineJournalTests.drainAll(engine)
            self.done.signal()
        }
    }

    /// The readings drained; call after the engine stopped.
    func finish() -> [Reading] {
        done.wait()
        return drained
    }
}
