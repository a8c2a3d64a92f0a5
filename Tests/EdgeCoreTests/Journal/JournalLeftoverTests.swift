import Testing

@testable import EdgeCore

/// What a crash in the middle of writing a journal's files leaves behind (Tests/Journal's kill -9 test
/// found both): opening cleans it up, never refuses the folder, counts no damage and skips no sequence.
@Suite struct JournalLeftoverTests {
    typealias Crash = JournalCrashTests

    func open(_ files: MemoryFiles) throws -> Journal {
        try Journal(files: files, settings: JournalTests.manual, clock: { 0 })
    }

    /// A journal's creation killed between writing journal.tmp and renaming it to journal.id.
    @Test func aCreationCutBeforeTheIdentityRenameOpens() throws {
        let files = MemoryFiles()
        files.files["journal.tmp"] = [0x45, 0x43]
        let journal = try open(files)
        #expect(files.files["journal.tmp"] == nil)
        let first = try Crash.readings(from: 1, count: 3).withUnsafeBufferPointer { try journal.append($0) }
        #expect(first == 1)
        try journal.close()
    }

    /// An identity rewrite (after damage) cut short: the stored readings stay, the temporary goes.
    @Test func aLeftoverIdentityTemporaryBesideAJournalIsRemoved() throws {
        let files = MemoryFiles()
        let journal = try open(files)
        _ = try Crash.readings(from: 1, count: 10).withUnsafeBufferPointer { try journal.append($0) }
        try journal.close()
        files.files["journal.tmp"] = [UInt8](repeating: 0xAA, count: 7)
        let reopened = try open(files)
        #expect(files.files["journal.tmp"] == nil)
        #expect(reopened.stats().newestSequence == 10)
        try reopened.close()
    }

    /// An append killed right after it created the next segment file, before its header was written
    /// (empty, or part of the header): a torn tail, not a damaged segment; the sequence goes on without a hole.
    @Test func aSegmentCutAtItsCreationIsATornTail() throws {
        for leftover in [0, 9] {
            let files = MemoryFiles()
            let journal = try open(files)
            _ = try journal.addCursor("uplink")
            _ = try Crash.readings(from: 1, count: 10).withUnsafeBufferPointer { try journal.append($0) }
            try journal.close()
            files.files[Journal.segmentName(11)] = [UInt8](repeating: 0x45, count: leftover)
            let reopened = try open(files)
            let stats = reopened.stats()
            #expect(stats.corruptSegmentsSkipped == 0 && stats.tornBytesTruncated == UInt64(leftover), "\(leftover)")
            #expect(stats.newestSequence == 10 && stats.segments == 1, "\(leftover)")
            let next = try Crash.readings(from: 11, count: 5).withUnsafeBufferPointer { try reopened.append($0) }
            #expect(next == 11, "\(leftover)")
            try reopened.sync()
            #expect(JournalTests().sequences(try JournalTests().readAll(reopened, "uplink")) == Array(1...15), "\(leftover)")
            try reopened.close()
        }
    }
}
