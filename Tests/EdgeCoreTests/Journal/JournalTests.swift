import Foundation
import Testing

@testable import EdgeCore

/// The journal's behaviour without power cuts (JournalCrashTests has those): cursors, durability, space,
/// the sync policy, recovery of damaged files, bad input.
@Suite struct JournalTests {
    typealias Crash = JournalCrashTests
    static let segment: UInt32 = 65_536
    /// Readings per full 64 KiB segment: records of up to 2046 readings.
    static let manual = JournalSettings(sizeLimit: 1 << 30, segmentSize: segment, syncIntervalMs: 0)

    final class Clock {
        var now: Int64 = 0
    }

    func open(_ files: any JournalFiles, _ settings: JournalSettings = manual, clock: Clock = Clock()) throws -> Journal {
        try Journal(files: files, settings: settings, clock: { clock.now })
    }

    /// The failure `body` throws, nil if it returns.
    func failure(_ body: () throws(Failure) -> Void) -> Failure? {
        do { try body() } catch { return error }
        return nil
    }

    @discardableResult
    func append(_ journal: Journal, _ count: Int) throws -> UInt64 {
        let next = journal.stats().newestSequence + 1
        return try Crash.readings(from: next, count: count).withUnsafeBufferPointer { try journal.append($0) }
    }

    /// Everything the cursor delivers, as (first, count) batches, checking each reading's content.
    func readAll(_ journal: Journal, _ cursor: String, batch: Int = 100) throws -> [(first: UInt64, count: Int)] {
        var buffer = [Reading](repeating: Reading(), count: batch)
        var batches: [(first: UInt64, count: Int)] = []
        for _ in 0..<100_000 {
            let got = try buffer.withUnsafeMutableBufferPointer { try journal.read(cursor, into: $0) }
            if got.count == 0 { break }
            for index in 0..<got.count { #expect(Crash.intact(buffer[index], got.first + UInt64(index))) }
            batches.append(got)
        }
        return batches
    }

    func sequences(_ batches: [(first: UInt64, count: Int)]) -> [UInt64] {
        batches.flatMap { batch in (0..<batch.count).map { batch.first + UInt64($0) } }
    }

    @Test func readingsAndAcknowledgementsSurviveAReopen() throws {
        let files = MemoryFiles()
        var journal = try open(files)
        #expect(try journal.addCursor("uplink"))
        #expect(try !journal.addCursor("uplink"))
        #expect(try append(journal, 10) == 1)
        #expect(try append(journal, 5) == 11)
        try journal.sync()
        #expect(sequences(try readAll(journal, "uplink")) == Array(1...15))
        try journal.acknowledge("uplink", through: 12)
        try journal.close()

        journal = try open(files)
        #expect(journal.stats().oldestSequence == 1 && journal.stats().newestSequence == 15)
        let uplink = try #require(journal.cursorStats(at: 0))
        #expect(uplink.name == "uplink" && uplink.acknowledged == 12 && uplink.durableAcknowledged == 12)
        #expect(uplink.unacknowledged == 3)
        #expect(sequences(try readAll(journal, "uplink")) == [13, 14, 15])  // delivered again: not acknowledged
        #expect(try append(journal, 1) == 16)
    }

    @Test func onlyDurableReadingsAreDeliveredAndAcknowledged() throws {
        let journal = try open(MemoryFiles())
        _ = try journal.addCursor("uplink")
        try append(journal, 20)
        #expect(try readAll(journal, "uplink").isEmpty)
        #expect(journal.stats().durableSequence == 0 && journal.stats().newestSequence == 20)
        let refused = failure { () throws(Failure) in try journal.acknowledge("uplink", through: 1) }
        #expect(refused?.kind == .invalidArgument)
        #expect(refused?.message.contains("acknowledgement 1 is beyond the newest durable reading 0") == true)
        try journal.sync()
        #expect(sequences(try readAll(journal, "uplink")) == Array(1...20))
        try journal.acknowledge("uplink", through: 20)
        try journal.acknowledge("uplink", through: 5)  // less: nothing
        #expect(journal.cursorStats(at: 0)?.acknowledged == 20)
        #expect(journal.cursorStats(at: 0)?.durableAcknowledged == 0)  // until the next sync
        try journal.sync()
        #expect(journal.cursorStats(at: 0)?.durableAcknowledged == 20)
    }

    @Test func cursorsAreAcknowledgedEachOnItsOwnAndRewind() throws {
        let journal = try open(MemoryFiles())
        _ = try journal.addCursor("uplink")
        _ = try journal.addCursor("database")
        try append(journal, 30)
        try journal.sync()
        #expect(sequences(try readAll(journal, "uplink", batch: 7)) == Array(1...30))
        try journal.acknowledge("uplink", through: 10)
        #expect(sequences(try readAll(journal, "database")) == Array(1...30))
        try journal.acknowledge("database", through: 30)
        try journal.rewind("uplink")
        #expect(sequences(try readAll(journal, "uplink")) == Array(11...30))
        #expect(sequences(try readAll(journal, "database")).isEmpty)
        let stats = (journal.cursorStats(at: 0), journal.cursorStats(at: 1))  // in name order
        #expect(stats.0?.name == "database" && stats.0?.unacknowledged == 0)
        #expect(stats.1?.name == "uplink" && stats.1?.unacknowledged == 20)
        try journal.removeCursor("database")
        #expect(journal.stats().cursors == 1)
        let gone = failure { () throws(Failure) in _ = try journal.read("database", into: UnsafeMutableBufferPointer(start: nil, count: 0)) }
        #expect(gone?.kind == .notFound)
    }

    @Test func badCursorNamesAreRefused() throws {
        let journal = try open(MemoryFiles())
        for name in ["", String(repeating: "a", count: 33), "up/link", "up link", "ü"] {
            let refused = failure { () throws(Failure) in _ = try journal.addCursor(name) }
            #expect(refused?.kind == .invalidArgument && refused?.message.contains("'\(name)'") == true, "\(name)")
        }
        #expect(try journal.addCursor(String(repeating: "a", count: 32)))
        let unknown = failure { () throws(Failure) in _ = try journal.read("nobody", into: UnsafeMutableBufferPointer(start: nil, count: 0)) }
        #expect(unknown?.kind == .notFound && unknown?.message.contains("'nobody'") == true)
    }

    /// Four 64 KiB segments of room; no cursor acknowledges: the oldest segments go, counted exactly.
    @Test func dropOldestCountsEveryUnacknowledgedReadingItRemoves() throws {
        var settings = Self.manual
        settings.sizeLimit = 4 * UInt64(Self.segment)
        let journal = try open(MemoryFiles(), settings)
        _ = try journal.addCursor("uplink")
        for _ in 0..<100 { try append(journal, 100) }  // 10,000 readings, about 5 segments' worth
        try journal.sync()
        let stats = journal.stats()
        #expect(stats.bytes <= settings.sizeLimit)
        #expect(stats.segments == 4)
        #expect(stats.oldestSequence > 1)
        #expect(stats.droppedForSpace == stats.oldestSequence - 1)  // exactly the readings removed
        #expect(journal.cursorStats(at: 0)?.lost == stats.oldestSequence - 1)
        let delivered = sequences(try readAll(journal, "uplink"))
        #expect(delivered == Array(stats.oldestSequence...10_000))
    }

    @Test func acknowledgedSegmentsGoFirstAndRefuseNewestRefusesUntilAcknowledged() throws {
        var settings = Self.manual
        settings.sizeLimit = 4 * UInt64(Self.segment)
        settings.whenFull = .refuseNewest
        let journal = try open(MemoryFiles(), settings)
        _ = try journal.addCursor("uplink")
        var refusedAt: UInt64? = nil
        for _ in 0..<100 {
            if let refused = failure({ () throws(Failure) in
                _ = try Crash.readings(from: journal.stats().newestSequence + 1, count: 100).withUnsafeBufferPointer {
                    (buffer) throws(Failure) -> UInt64 in try journal.append(buffer)
                }
            }) {
                #expect(refused.kind == .journalFull)
                refusedAt = journal.stats().newestSequence
                break
            }
        }
        let full = journal.stats()
        #expect(refusedAt != nil && full.refusedForSpace == 100 && full.droppedForSpace == 0 && full.oldestSequence == 1)
        try journal.sync()
        try journal.acknowledge("uplink", through: 5000)
        try append(journal, 100)  // a segment every cursor acknowledged is removed for it
        let after = journal.stats()
        #expect(after.droppedForSpace == 0 && after.oldestSequence > 1 && after.oldestSequence <= 5001)
        #expect(after.newestSequence == full.newestSequence + 100)
    }

    @Test func syncPolicyByTimeByCountAndTheHourlyBound() throws {
        let clock = Clock()
        var settings = Self.manual
        settings.syncIntervalMs = 100
        var journal = try open(MemoryFiles(), settings, clock: clock)
        try append(journal, 1)
        clock.now = 99_000_000
        #expect(try !journal.tick())
        clock.now = 100_000_000
        #expect(try journal.tick())
        #expect(journal.stats().syncs == 1 && journal.stats().durableSequence == 1)

        settings.syncIntervalMs = 0
        settings.syncEveryReadings = 10
        journal = try open(MemoryFiles(), settings, clock: clock)
        try append(journal, 9)
        #expect(journal.stats().syncs == 0)
        try append(journal, 1)
        #expect(journal.stats().syncs == 1 && journal.stats().durableSequence == 10)

        // 1,000 readings/s for 10 simulated seconds, a sync due every 10 ms, at most 3,600 per hour: 10.
        settings.syncEveryReadings = 0
        settings.syncIntervalMs = 10
        settings.maxSyncsPerHour = 3600
        journal = try open(MemoryFiles(), settings, clock: clock)
        clock.now = 0
        for _ in 0..<10_000 {
            clock.now += 1_000_000
            try append(journal, 1)
        }
        #expect(journal.stats().syncs == 10)

        // A sync due at every append (by count), appends 0.7 s apart, a bound of one sync a second: the syncs
        // take the slots 0.7, 1.7, 2.7, ... (at 0.7, 2.1, 2.8, 4.2, 4.9, ...): 70 in 70 s, the bound. Spacing
        // each from when the last one happened would give 0.7, 2.1, 3.5, ...: 50, a rate below the bound.
        settings.syncIntervalMs = 0
        settings.syncEveryReadings = 1
        journal = try open(MemoryFiles(), settings, clock: clock)
        clock.now = 0
        for _ in 0..<100 {
            clock.now += 700_000_000
            try append(journal, 1)
        }
        #expect(journal.stats().syncs == 70)
    }

    /// A damaged record in an older segment is skipped and counted; a read stops at the gap, the next one
    /// continues after it; the torn end of the newest segment is cut off at open and counted.
    @Test func damagedRecordsAreSkippedAndATornTailIsCutOff() throws {
        let files = MemoryFiles()
        var journal = try open(files)
        _ = try journal.addCursor("uplink")
        for _ in 0..<30 { try append(journal, 100) }  // 3,000 readings: two segments
        try journal.close()
        let oldest = Journal.segmentName(1)
        // Damage a reading in the second record (readings 101...200) of the first segment.
        let recordSize = 16 + 100 * 32
        files.files[oldest]![32 + recordSize + 16 + 5] ^= 0xFF
        let newest = try #require(files.files.keys.filter { $0.hasPrefix("seg-") }.max())
        files.files[newest]! += [0x40, 0x0C, 0, 0, 1, 2, 3]  // a torn record header
        journal = try open(files)
        #expect(journal.stats().tornBytesTruncated == 7)
        let batches = try readAll(journal, "uplink", batch: 1000)
        #expect(batches.first?.first == 1 && batches.first?.count == 100)
        #expect(batches.dropFirst().first?.first == 201)
        #expect(sequences(batches) == Array(1...100) + Array(201...3000))
        #expect(journal.stats().corruptRecordsSkipped == 1)
    }

    /// An older segment whose header is damaged is found so when a cursor reaches it: skipped, counted,
    /// the readings of the segments around it delivered.
    @Test func anOlderSegmentWithADamagedHeaderIsSkipped() throws {
        let files = MemoryFiles()
        var journal = try open(files)
        _ = try journal.addCursor("uplink")
        for _ in 0..<60 { try append(journal, 100) }  // 6,000 readings: three segments
        try journal.close()
        let names = files.files.keys.filter { $0.hasPrefix("seg-") }.sorted()
        #expect(names.count == 3)
        files.files[names[1]]![3] ^= 0x01  // the magic of the middle segment
        journal = try open(files)
        #expect(journal.stats().corruptSegmentsSkipped == 0)  // not read yet
        let delivered = sequences(try readAll(journal, "uplink", batch: 1000))
        let second = try #require(Journal.segmentFirst(Array(names[1].utf8)))
        let third = try #require(Journal.segmentFirst(Array(names[2].utf8)))
        #expect(delivered == Array(1..<second) + Array(third...6000))
        #expect(journal.stats().corruptSegmentsSkipped == 1)
    }

    @Test func aNewerFormatVersionIsRefusedAndLeftAlone() throws {
        let files = MemoryFiles()
        let journal = try open(files)
        try append(journal, 3)
        try journal.close()
        var header = files.files[Journal.segmentName(1)]!
        header[8] = 2  // version 2, with its checksum made right
        let crc = header.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<28])) }
        withUnsafeBytes(of: crc.littleEndian) { header.replaceSubrange(28..<32, with: $0) }
        files.files[Journal.segmentName(1)] = header
        let before = files.files
        let refused = failure { () throws(Failure) in _ = try Journal(files: files, settings: Self.manual, clock: { 0 }) }
        #expect(refused?.kind == .journalVersion && refused?.message.contains("format version 2") == true)
        #expect(files.files == before)
    }

    @Test func aFolderWithOtherFilesIsNotAJournal() throws {
        let files = MemoryFiles()
        files.files["notes.txt"] = [1, 2, 3]
        let refused = failure { () throws(Failure) in _ = try Journal(files: files, settings: Self.manual, clock: { 0 }) }
        #expect(refused?.kind == .notAJournal && refused?.message.contains("notes.txt") == true)
        #expect(files.files.keys.sorted() == ["notes.txt"])
    }

    /// Opening reads the whole newest segment and nothing of the older ones (their sizes come from the
    /// folder): the same work for 4 segments as for 40.
    @Test func openingReadsOnlyTheNewestSegment() throws {
        var read: [Int] = []
        for segments in [4, 40] {
            let files = CountingFiles()
            let journal = try open(files)
            while journal.stats().segments < segments { try append(journal, 2000) }
            try journal.close()
            files.bytesRead = 0
            _ = try open(files)
            read.append(files.bytesRead)
        }
        #expect(read[1] == read[0])
        #expect(read[0] < 2 * Int(Self.segment))
    }

    /// A producer thread appends while a consumer thread reads and acknowledges, and a third reads the
    /// statistics (the thread sanitizer run checks the locking): every reading arrives once, in order.
    @Test func aProducerAndAConsumerOnTwoThreads() throws {
        var settings = Self.manual
        settings.syncEveryReadings = 50
        let journal = try open(MemoryFiles(), settings)
        _ = try journal.addCursor("uplink")
        let total: UInt64 = 20_000
        let producer = Thread {
            var next: UInt64 = 1
            while next <= total {
                let count = Int(min(37, total - next + 1))
                _ = try? Crash.readings(from: next, count: count).withUnsafeBufferPointer { try journal.append($0) }
                next += UInt64(count)
            }
            try? journal.sync()
        }
        let observer = Thread {
            for _ in 0..<2000 { _ = journal.stats(); _ = journal.cursorStats(at: 0) }
        }
        producer.start()
        observer.start()
        var expected: UInt64 = 1
        var buffer = [Reading](repeating: Reading(), count: 64)
        let deadline = Date().addingTimeInterval(60)
        while expected <= total, Date() < deadline {
            let got = try buffer.withUnsafeMutableBufferPointer { try journal.read("uplink", into: $0) }
            if got.count == 0 { usleep(100); continue }
            #expect(got.first == expected)
            for index in 0..<got.count { #expect(Crash.intact(buffer[index], got.first + UInt64(index))) }
            expected = got.first + UInt64(got.count)
            try journal.acknowledge("uplink", through: expected - 1)
        }
        #expect(expected == total + 1)
        while producer.isExecuting || observer.isExecuting { usleep(1000) }
        try journal.close()
    }

    /// A file system that fills up (ENOSPC) in the middle of an append, also one that spans segments: the
    /// append fails as a whole, is counted, the journal is as before, and appending resumes with the next
    /// sequence when there is room again.
    @Test func aFullFileSystemFailsTheWholeAppendAndAppendingResumes() throws {
        for batch in [100, 5000] {  // within a segment; across three
            let files = LimitedFiles()
            let journal = try open(files)
            _ = try journal.addCursor("uplink")
            try append(journal, 3000)
            try journal.sync()
            let before = journal.stats()
            files.capacity = files.used + 40_000  // the next append runs out of room part way
            var refused: Failure? = nil
            for _ in 0..<100 {
                refused = failure { () throws(Failure) in
                    _ = try Crash.readings(from: journal.stats().newestSequence + 1, count: batch).withUnsafeBufferPointer {
                        (buffer) throws(Failure) -> UInt64 in try journal.append(buffer)
                    }
                }
                if refused != nil { break }
            }
            #expect(refused?.kind == .system(.noSpace), "\(batch)")
            let full = journal.stats()
            #expect(full.appendFailures == 1)
            #expect(full.segments == UInt32(files.inner.files.keys.filter { $0.hasPrefix("seg-") }.count))
            files.capacity = Int.max
            let next = try append(journal, 10)  // into the segment the failed append began in
            #expect(next == full.newestSequence + 1)
            try journal.sync()
            #expect(sequences(try readAll(journal, "uplink", batch: 1000)) == Array(1...(next + 9)))
            try journal.close()
            let again = try open(files)
            #expect(again.stats().newestSequence == next + 9 && again.stats().tornBytesTruncated == 0)
            _ = before
        }
    }

    /// A failing policy sync does not fail the append that triggered it (its readings are appended, not
    /// durable); tick and sync report it, and the next sync that works makes them durable.
    @Test func aFailingSyncDoesNotFailTheAppend() throws {
        let files = LimitedFiles()
        var settings = Self.manual
        settings.syncEveryReadings = 10
        let journal = try open(files, settings)
        try append(journal, 10)
        #expect(journal.stats().durableSequence == 10)
        files.failSyncs = true
        #expect(try append(journal, 10) == 11)
        #expect(journal.stats().newestSequence == 20 && journal.stats().durableSequence == 10)
        #expect(journal.stats().appendFailures == 0)
        let reported = failure { () throws(Failure) in _ = try journal.tick() }
        #expect(reported?.kind == .system(.ioError) && reported?.message.contains("sync") == true)
        files.failSyncs = false
        #expect(try journal.tick())
        #expect(journal.stats().durableSequence == 20)
    }

    @Test func theRealFolderIsCreatedAndBadPathsAreNamed() throws {
        let base = NSTemporaryDirectory() + "edgecore-journal-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: false)
        let journal = try Journal(folder: FilePath(base + "/j"), settings: Self.manual)
        try append(journal, 5)
        try journal.close()
        let names = try FileManager.default.contentsOfDirectory(atPath: base + "/j").sorted()
        #expect(names == ["journal.id", "seg-0000000000000001.ecj"])
        let again = try Journal(folder: FilePath(base + "/j"), settings: Self.manual)
        #expect(again.stats().newestSequence == 5 && again.stats().durableSequence == 5)
        // One handle per folder: a second open is refused while the first is open, and works after.
        let second = failure { () throws(Failure) in _ = try Journal(folder: FilePath(base + "/j"), settings: Self.manual) }
        #expect(second?.kind == .system(.busy) && second?.message.contains("open already") == true)
        try again.close()
        let third = try Journal(folder: FilePath(base + "/j"), settings: Self.manual)
        #expect(third.stats().newestSequence == 5)
        try third.close()

        let missing = failure { () throws(Failure) in _ = try Journal(folder: FilePath(base + "/missing/j"), settings: Self.manual) }
        #expect(missing?.kind == .system(.noEntry) && missing?.message.contains(base + "/missing/j") == true)
        FileManager.default.createFile(atPath: base + "/file", contents: Data([1]))
        let file = failure { () throws(Failure) in _ = try Journal(folder: FilePath(base + "/file"), settings: Self.manual) }
        #expect(file?.kind == .notAJournal && file?.message.contains(base + "/file") == true)
    }
}

/// MemoryFiles that counts the bytes read.
final class CountingFiles: JournalFiles {
    let inner = MemoryFiles()
    var bytesRead = 0

    final class File: JournalFile {
        let inner: any JournalFile
        let owner: CountingFiles
        init(_ inner: any JournalFile, _ owner: CountingFiles) { self.inner = inner; self.owner = owner }
        func size() throws(Failure) -> UInt64 { try inner.size() }
        func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
            let count = try inner.read(at: offset, into: buffer)
            owner.bytesRead += count
            return count
        }
        func write(at offset: UInt64, _ bytes: UnsafeRawBufferPointer) throws(Failure) { try inner.write(at: offset, bytes) }
        func truncate(to size: UInt64) throws(Failure) { try inner.truncate(to: size) }
        func sync() throws(Failure) { try inner.sync() }
        func close() { inner.close() }
    }

    func names() throws(Failure) -> [String] { try inner.names() }
    func open(_ name: String, create: Bool) throws(Failure) -> any JournalFile { File(try inner.open(name, create: create), self) }
    func remove(_ name: String) throws(Failure) { try inner.remove(name) }
    func rename(_ from: String, to: String) throws(Failure) { try inner.rename(from, to: to) }
    func syncFolder() throws(Failure) { try inner.syncFolder() }
}

/// MemoryFiles with a capacity: writes that would take the files past it fail with ENOSPC after writing
/// what fits (as a real file system does).
final class LimitedFiles: JournalFiles {
    let inner = MemoryFiles()
    var capacity = Int.max
    /// Every fsync fails with EIO (a flash card going bad).
    var failSyncs = false
    var used: Int { inner.files.values.reduce(0) { $0 + $1.count } }

    final class File: JournalFile {
        let inner: any JournalFile
        let owner: LimitedFiles
        init(_ inner: any JournalFile, _ owner: LimitedFiles) { self.inner = inner; self.owner = owner }
        func size() throws(Failure) -> UInt64 { try inner.size() }
        func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
            try inner.read(at: offset, into: buffer)
        }
        func write(at offset: UInt64, _ bytes: UnsafeRawBufferPointer) throws(Failure) {
            let size = Int(try inner.size())
            let growth = max(0, Int(offset) + bytes.count - size)
            let room = owner.capacity == Int.max ? Int.max : max(0, owner.capacity - owner.used)
            if growth > room {
                let fits = max(0, bytes.count - (growth - room))
                try inner.write(at: offset, UnsafeRawBufferPointer(rebasing: bytes[0..<fits]))
                throw Failure.system(.noSpace, "pwrite")
            }
            try inner.write(at: offset, bytes)
        }
        func truncate(to size: UInt64) throws(Failure) { try inner.truncate(to: size) }
        func sync() throws(Failure) {
            if owner.failSyncs { throw Failure.system(.ioError, "fsync") }
            try inner.sync()
        }
        func close() { inner.close() }
    }

    func names() throws(Failure) -> [String] { try inner.names() }
    func open(_ name: String, create: Bool) throws(Failure) -> any JournalFile { File(try inner.open(name, create: create), self) }
    func remove(_ name: String) throws(Failure) { try inner.remove(name) }
    func rename(_ from: String, to: String) throws(Failure) { try inner.rename(from, to: to) }
    func syncFolder() throws(Failure) { try inner.syncFolder() }
}
