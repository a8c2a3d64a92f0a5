import Foundation
import Testing

@testable import EdgeCore

/// The read-only journal reader: what it reads and reports over a real folder written by Journal, beside
/// the open journal (no lock), and that it changes no byte of the folder.
@Suite struct JournalReaderTests {
    typealias Crash = JournalCrashTests
    static let settings = JournalSettings(sizeLimit: 1 << 30, segmentSize: 65_536, syncIntervalMs: 0)

    private func scratchFolder() throws -> String {
        let path = NSTemporaryDirectory() + "edgecore-reader-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    /// A journal in `path` with `batches` appends of `size` readings (sequences 1 ...), and a cursor.
    private func write(_ path: String, batches: Int, size: Int, keepOpen: Bool = false) throws -> Journal? {
        let journal = try Journal(folder: FilePath(path), settings: Self.settings)
        _ = try journal.addCursor("uplink")
        for batch in 0..<batches {
            _ = try Crash.readings(from: UInt64(batch * size + 1), count: size).withUnsafeBufferPointer { try journal.append($0) }
        }
        try journal.sync()
        try journal.acknowledge("uplink", through: 7)
        try journal.sync()
        if keepOpen { return journal }
        try journal.close()
        return nil
    }

    /// Every file's bytes, by name.
    private func snapshot(_ path: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: path + "/" + name))
        }
        return files
    }

    private func readAll(_ reader: JournalReader, from: UInt64 = 0, batch: Int = 500) throws -> [(first: UInt64, count: Int)] {
        var buffer = [Reading](repeating: Reading(), count: batch)
        var batches: [(first: UInt64, count: Int)] = []
        var position = from
        for _ in 0..<10_000 {
            let got = try buffer.withUnsafeMutableBufferPointer { try reader.read(from: position, into: $0) }
            if got.count == 0 { break }
            for index in 0..<got.count { #expect(Crash.intact(buffer[index], got.first + UInt64(index))) }
            batches.append(got)
            position = got.first + UInt64(got.count)
        }
        return batches
    }

    @Test func readsChecksAndBoundsAJournalBesideItsOpenWriter() throws {
        let path = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        // 3000 readings of 32 bytes in 64 KiB segments: several segments.
        let journal = try #require(try write(path, batches: 30, size: 100, keepOpen: true))
        let before = try snapshot(path)
        let reader = try JournalReader(folder: FilePath(path))
        let batches = try readAll(reader)
        #expect(batches.reduce(0) { $0 + $1.count } == 3000 && batches.first?.first == 1)
        #expect(try reader.bounds() == (oldest: 1, newest: 3000))
        let report = try reader.check()
        #expect(report.readings == 3000 && report.firstSequence == 1 && report.lastSequence == 3000)
        #expect(report.records >= 30 && report.segments >= 2 && report.problems == 0 && report.gaps == 0)
        #expect(report.minTimestamp == 1000 && report.maxTimestamp == 3_000_000)
        #expect(report.instance == journal.stats().instance && report.cursors == 1)
        #expect(reader.cursors.first?.name == "uplink" && reader.cursors.first?.acknowledged == 7)
        // Reading from the middle, across a segment boundary, in small batches.
        let middle = try readAll(reader, from: 1234, batch: 7)
        #expect(middle.first?.first == 1234 && middle.reduce(0) { $0 + $1.count } == 3000 - 1233)
        // New readings appended meanwhile are seen by the next read.
        _ = try Crash.readings(from: 3001, count: 5).withUnsafeBufferPointer { try journal.append($0) }
        #expect(try readAll(reader, from: 3001).map { $0.count } == [5])
        try journal.close()
        // The reader changed nothing (the journal's own close wrote its last sync, so compare from here).
        let closed = try snapshot(path)
        _ = try reader.check()
        _ = try readAll(reader)
        #expect(try snapshot(path) == closed)
        #expect(before.keys.sorted() == closed.keys.sorted())
    }

    @Test func reportsEachDamageWithItsFileAndOffset() throws {
        let path = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try write(path, batches: 5, size: 10)
        let segment = path + "/seg-0000000000000001.ecj"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        // Records of 10 readings are 336 bytes; the third starts at 32 + 2 * 336.
        bytes[32 + 2 * 336 + 40] ^= 0xFF
        bytes.removeLast(7)  // the last record torn
        try bytes.write(to: URL(fileURLWithPath: segment))
        let damaged = try snapshot(path)
        let reader = try JournalReader(folder: FilePath(path))
        let report = try reader.check()
        #expect(report.damagedRecords == 1 && report.gaps == 1 && report.missingReadings == 10)
        #expect(report.tornBytes == 336 - 7 && report.readings == 30 && report.lastSequence == 40)
        #expect(report.problems == 3)
        let problems = reader.problems
        #expect(problems.map { $0.kind } == [.record, .gap, .tornTail])
        #expect(problems.allSatisfy { $0.file == "seg-0000000000000001.ecj" })
        let offsets: [UInt64] = [704, 1040, 1376]  // 32 + 2, 3 and 4 times 336
        #expect(problems.map { $0.offset } == offsets)
        #expect(problems[1].firstSequence == 21 && problems[1].lastSequence == 30)
        // Reads skip the damage: 1 ... 20, then 31 ... 40.
        let runs: [[UInt64]] = try readAll(reader).map { [$0.first, UInt64($0.count)] }
        #expect(runs == [[1, 20], [31, 10]])
        #expect(try reader.bounds() == (oldest: 1, newest: 40))
        #expect(try snapshot(path) == damaged)
    }

    @Test func aDamagedOrForeignHeaderSkipsTheSegment() throws {
        let path = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try write(path, batches: 40, size: 100)  // several segments
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("seg-") }.sorted()
        #expect(names.count >= 2)
        let segment = path + "/" + names[0]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        bytes[12] ^= 0x01  // the instance id: the checksum fails
        try bytes.write(to: URL(fileURLWithPath: segment))
        let reader = try JournalReader(folder: FilePath(path))
        let report = try reader.check()
        #expect(report.corruptSegments == 1 && reader.problems.first?.kind == .header)
        #expect(reader.problems.first?.file == names[0] && reader.problems.first?.offset == 0)
        let second = try #require(Journal.segmentFirst(Array(names[1].utf8)))
        #expect(report.firstSequence == second && report.lastSequence == 4000)
    }

    @Test func aTornNewSegmentAnotherJournalsSegmentAndADamagedCursorAreNamed() throws {
        let path = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try write(path, batches: 3, size: 10)
        // Another journal's segment, named as if it came next (sequence 100), and a newest segment whose
        // creation a crash cut short (5 bytes of its header, sequence 200).
        let other = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: other) }
        let journal = try Journal(folder: FilePath(other), settings: Self.settings)
        _ = try Crash.readings(from: 1, count: 3).withUnsafeBufferPointer { try journal.append($0) }
        try journal.close()
        var foreign = try Data(contentsOf: URL(fileURLWithPath: other + "/seg-0000000000000001.ecj"))
        try foreign.write(to: URL(fileURLWithPath: path + "/seg-0000000000000064.ecj"))
        foreign.removeLast(foreign.count - 5)
        try foreign.write(to: URL(fileURLWithPath: path + "/seg-00000000000000c8.ecj"))
        try Data(repeating: 0x55, count: 32).write(to: URL(fileURLWithPath: path + "/cursor-uplink.ecc"))
        let before = try snapshot(path)
        let reader = try JournalReader(folder: FilePath(path))
        let report = try reader.check()
        #expect(reader.problems.map { $0.kind } == [.foreignSegment, .tornTail, .header])
        #expect(reader.problems.map { $0.file } == ["seg-0000000000000064.ecj", "seg-00000000000000c8.ecj", "cursor-uplink.ecc"])
        #expect(reader.problems[1].offset == 0 && reader.problems[1].bytes == 5)
        #expect(report.corruptSegments == 1 && report.tornBytes == 5 && report.readings == 30 && report.lastSequence == 30)
        #expect(reader.cursors.first?.acknowledged == 0)
        #expect(try readAll(reader).map { $0.count } == [30])
        #expect(try snapshot(path) == before)
    }

    @Test func withoutAValidIdentityTheSegmentsGiveIt() throws {
        let path = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try write(path, batches: 40, size: 100)
        try Data(repeating: 0, count: 32).write(to: URL(fileURLWithPath: path + "/journal.id"))  // no magic
        let reader = try JournalReader(folder: FilePath(path))
        #expect(try readAll(reader).reduce(0) { $0 + $1.count } == 4000)
        let report = try reader.check()
        #expect(report.readings == 4000 && report.corruptSegments == 0 && report.instance != 0)
        #expect(reader.problems.map { $0.file } == ["journal.id"] && reader.problems.first?.kind == .header)
        try FileManager.default.removeItem(atPath: path + "/journal.id")
        let without = try JournalReader(folder: FilePath(path))
        #expect(try readAll(without).reduce(0) { $0 + $1.count } == 4000)
        #expect(try without.check().problems == 0)
    }

    @Test func refusesWhatIsNotAJournalAndNamesIt() throws {
        let path = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        func failure(_ path: String) -> Failure? {
            do { _ = try JournalReader(folder: FilePath(path)) } catch { return error }
            return nil
        }
        #expect(failure(path + "/missing")?.kind == .system(.noEntry))
        #expect(failure(path + "/missing")?.message == "journal \(path)/missing: No such file or directory")
        // An empty folder is an empty journal: nothing to read, a clean check; nothing created.
        let empty = try JournalReader(folder: FilePath(path))
        #expect(try empty.check() == JournalReader.Report())
        #expect(try readAll(empty).isEmpty && (try FileManager.default.contentsOfDirectory(atPath: path)).isEmpty)
        try Data("x".utf8).write(to: URL(fileURLWithPath: path + "/notes.txt"))
        let refused = failure(path)
        #expect(refused?.kind == .notAJournal && refused?.message.contains("'notes.txt'") == true)
        #expect(failure(path + "/notes.txt")?.kind == .notAJournal)
    }
}
