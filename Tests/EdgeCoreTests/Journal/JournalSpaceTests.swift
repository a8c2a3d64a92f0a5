import Testing

@testable import EdgeCore

/// A file system that fills up exactly where an append has to begin a new segment (found by Tests/Journal's
/// full-tmpfs test): the new segment's header cannot be written.
@Suite struct JournalSpaceTests {
    typealias Crash = JournalCrashTests

    @Test func noRoomForANewSegmentsHeaderKeepsTheTailReadable() throws {
        let files = LimitedFiles()
        let journal = try JournalTests().open(files)
        _ = try journal.addCursor("uplink")
        // Single-reading records until the first segment is full: the next append starts a new segment.
        let record = JournalFormat.recordHeaderSize + JournalFormat.readingSize
        let fit = (Int(JournalTests.segment) - JournalFormat.segmentHeaderSize) / record
        for _ in 0..<fit { try JournalTests().append(journal, 1) }
        try journal.sync()
        #expect(journal.stats().segments == 1)
        files.capacity = files.used + JournalFormat.segmentHeaderSize - 1
        let refused = JournalTests().failure { () throws(Failure) in
            _ = try Crash.readings(from: UInt64(fit) + 1, count: 1).withUnsafeBufferPointer {
                (buffer) throws(Failure) -> UInt64 in try journal.append(buffer)
            }
        }
        #expect(refused?.kind == .system(.noSpace))
        #expect(journal.stats().segments == 1 && journal.stats().appendFailures == 1)
        // Everything stored is still delivered (the tail was not left closed).
        #expect(JournalTests().sequences(try JournalTests().readAll(journal, "uplink", batch: 1000)) == Array(1...UInt64(fit)))
        files.capacity = Int.max
        #expect(try JournalTests().append(journal, 1) == UInt64(fit) + 1)
        try journal.sync()
        try journal.rewind("uplink")
        #expect(JournalTests().sequences(try JournalTests().readAll(journal, "uplink", batch: 1000)) == Array(1...UInt64(fit) + 1))
        try journal.close()
        let again = try JournalTests().open(files)
        #expect(again.stats().newestSequence == UInt64(fit) + 1 && again.stats().tornBytesTruncated == 0)
        try again.close()
    }
}
