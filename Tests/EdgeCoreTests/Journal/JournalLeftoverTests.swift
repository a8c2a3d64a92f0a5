import Testing

@testable import EdgeCore

/// What a crash in the middle of writing a journal's small files leaves behind (Tests/Journal's kill -9
/// test found the identity's temporary): opening cleans it up, never refuses the folder.
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
}
