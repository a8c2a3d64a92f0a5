/// A read-only view of a journal's folder, for offline inspection (edgecore.h's journal reader): it opens
/// every file read-only, takes no lock, writes nothing (no recovery, no cursor, no truncation), so it works
/// beside the process that holds the journal open, and on a copy of a card. What it sees is what the files
/// hold at the moment it reads them, synced or not.
///
/// It checks nothing the format does not (JournalFormat's header decoding and record scanner, Journal's
/// names), and reports what recovery would skip or cut off as problems, each naming its file and offset.
/// Used by one thread at a time; it keeps the segment it read last in memory.
final class JournalReader {
    enum ProblemKind: UInt16 {
        /// A damaged 32-byte header: a segment (skipped whole), journal.id or a cursor file.
        case header = 1
        /// A valid segment header of another journal, or one whose first sequence disagrees with the name.
        case foreignSegment = 2
        /// A whole record whose checksum fails or whose sequence goes backwards (skipped).
        case record = 3
        /// Bytes after a segment's valid records: a torn write or damage the scanner cannot step over.
        case tornTail = 4
        /// Sequence numbers missing between valid readings (`firstSequence` ... `lastSequence`).
        case gap = 5
    }

    struct Problem {
        var kind: ProblemKind
        var file: String
        var offset: UInt64
        var bytes: UInt64
        var firstSequence: UInt64 = 0
        var lastSequence: UInt64 = 0
        var message: String

        /// The message as a Message (Common/Message.swift): interpolations out of line, a smaller library.
        init(kind: ProblemKind, file: String, offset: UInt64, bytes: UInt64, firstSequence: UInt64 = 0,
             lastSequence: UInt64 = 0, message: Message) {
            self.kind = kind
            self.file = file
            self.offset = offset
            self.bytes = bytes
            self.firstSequence = firstSequence
            self.lastSequence = lastSequence
            self.message = message.text
        }
    }

    struct Report: Equatable {
        var instance: UInt64 = 0
        var bytes: UInt64 = 0
        var firstSequence: UInt64 = 0
        var lastSequence: UInt64 = 0
        var minTimestamp: Int64 = 0
        var maxTimestamp: Int64 = 0
        var readings: UInt64 = 0
        var records: UInt64 = 0
        var damagedRecords: UInt64 = 0
        var gaps: UInt64 = 0
        var missingReadings: UInt64 = 0
        var tornBytes: UInt64 = 0
        var segments: UInt32 = 0
        var corruptSegments: UInt32 = 0
        var cursors: UInt32 = 0
        var problems: UInt32 = 0
    }

    struct CursorPosition {
        var name: String
        var acknowledged: UInt64
    }

    /// Problems kept for `problem(at:)`; more are counted only.
    static let problemsKept = 4096

    private let folder: Folder
    private let location: String
    /// The journal's identity: journal.id's, else the newest valid segment header's; nil while unknown.
    private var instance: UInt64?
    private var identityDamaged = false
    private var segmentFirsts: [UInt64] = []
    private var cursorNames: [[UInt8]] = []
    private var cached: (first: UInt64, size: UInt64, headerOK: Bool, bytes: [UInt8], records: [JournalRecord])?
    private(set) var problems: [Problem] = []
    private(set) var cursors: [CursorPosition] = []
    private(set) var lastReport: Report?

    /// Looks at the folder: fails if it is missing (.system(.noEntry)), not a folder or holds other files
    /// (.notAJournal), or was written by a newer EdgeCore (.journalVersion).
    init(folder path: FilePath) throws(Failure) {
        folder = Folder(path: path)
        location = path.description
        do throws(Failure) {
            _ = try folder.names()
        } catch {
            // "journal PATH: No such file or directory", not the path twice.
            if case .system(.notDirectory) = error.kind { throw Failure(.notAJournal, "journal \(location): not a folder") }
            if case .system(let errno) = error.kind { throw Failure.system(errno, "journal \(location)") }
            throw Failure(error, "journal \(location)")
        }
        do throws(Failure) {
            try refresh()
        } catch {
            throw Failure(error, "journal \(location)")
        }
    }

    // MARK: - Listing

    /// Lists the folder again (segments come and go while a writer runs); until the identity is known,
    /// reads journal.id, else the newest segment headers.
    private func refresh() throws(Failure) {
        let names: [String]
        do throws(Failure) {
            names = try folder.names()
        } catch {
            if case .system(.notDirectory) = error.kind { throw Failure(.notAJournal, "not a folder") }
            throw error
        }
        var firsts: [UInt64] = []
        var cursors: [[UInt8]] = []
        var hasIdentity = false
        for name in names {
            switch try Journal.classify(name) {
            case .segment(let first): firsts.append(first)
            case .cursor(let cursor): cursors.append(cursor)
            case .identity: hasIdentity = true
            case .temporary, .lostAndFound: break
            }
        }
        sortAscending(&firsts)
        segmentFirsts = firsts
        cursorNames = cursors
        if instance == nil, hasIdentity {
            switch try readHeader(Journal.identityName) {
            case .ok(let header): instance = header.instance
            case .newerVersion(let version): throw newer(Journal.identityName, version)
            case .notAJournal, .corrupt: identityDamaged = true
            case nil: break  // removed meanwhile
            }
        }
        // Without (a valid) journal.id, the identity is the newest valid segment header's, as open takes it.
        if instance == nil {
            for first in segmentFirsts.reversed() {
                if case .ok(let header)? = try readHeader(Journal.segmentName(first)) {
                    instance = header.instance
                    break
                }
            }
        }
    }

    private func newer(_ file: String, _ version: UInt32) -> Failure {
        Failure(.journalVersion, "\(file) was written by a newer EdgeCore (format version \(version), this one reads \(JournalFormat.version))")
    }

    /// The first 32 bytes of `name`, decoded; nil if the file is gone.
    private func readHeader(_ name: String) throws(Failure) -> SegmentHeaderDecoding? {
        guard let bytes = try readFile(name, limit: JournalFormat.segmentHeaderSize) else { return nil }
        return bytes.withUnsafeBytes { JournalFormat.decodeSegmentHeader($0) }
    }

    /// Up to `limit` bytes of `name` from its start, read-only; nil if the file is gone (removed by the
    /// writer for space since the listing).
    private func readFile(_ name: String, limit: Int) throws(Failure) -> [UInt8]? {
        let file: FileDescriptor
        do throws(Failure) {
            file = try FileDescriptor.open(folder.path(of: name), .readOnly)
        } catch {
            if case .system(.noEntry) = error.kind { return nil }
            throw error
        }
        defer { file.close() }
        let count = Int(min(UInt64(try file.size()), UInt64(limit)))
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        var failure: Failure? = nil
        bytes.withUnsafeMutableBytes { buffer in
            while done < count {
                do throws(Failure) {
                    let got = try file.read(at: Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
                    if got == 0 { break }
                    done += got
                } catch {
                    failure = error
                    break
                }
            }
        }
        if let failure { throw failure }
        if done < count { bytes.removeLast(count - done) }
        return bytes
    }

    /// The segment whose name gives `first`: its bytes and valid records (record offsets from the file's
    /// start) if its header is this journal's, nil if it is gone. The last one read is kept while its size
    /// stays the same.
    private func load(_ first: UInt64) throws(Failure) -> (first: UInt64, size: UInt64, headerOK: Bool, bytes: [UInt8], records: [JournalRecord])? {
        let name = Journal.segmentName(first)
        let size: UInt64
        do throws(Failure) {
            size = try folder.size(of: name)
        } catch {
            if case .system(.noEntry) = error.kind { return nil }
            throw error
        }
        if let cached, cached.first == first, cached.size == size { return cached }
        guard let bytes = try readFile(name, limit: Int(Int32.max)) else { return nil }
        var headerOK = false
        var records: [JournalRecord] = []
        switch bytes.withUnsafeBytes({ JournalFormat.decodeSegmentHeader($0) }) {
        case .newerVersion(let version): throw newer(name, version)
        case .ok(let header):
            headerOK = header.instance == instance && header.firstSequence == first
        case .notAJournal, .corrupt: headerOK = false
        }
        if headerOK { records = Journal.scanSegment(bytes, first: first).records }
        let loaded = (first: first, size: UInt64(bytes.count), headerOK: headerOK, bytes: bytes, records: records)
        cached = loaded
        return loaded
    }

    // MARK: - Reading

    /// Copies the valid readings from `from` on (the first at or after it) with consecutive sequences into
    /// `out` (a gap ends the batch); returns the first's sequence and the count (0: none at or after `from`).
    func read(from: UInt64, into out: UnsafeMutableBufferPointer<Reading>) throws(Failure) -> (first: UInt64, count: Int) {
        do throws(Failure) {
            try refresh()
            return try copy(from: from, into: out)
        } catch {
            throw Failure(error, "journal \(location): read")
        }
    }

    private func copy(from: UInt64, into out: UnsafeMutableBufferPointer<Reading>) throws(Failure) -> (first: UInt64, count: Int) {
        var position = max(from, 1)
        var first: UInt64 = 0
        var copied = 0
        // Bounded: each turn copies readings, or moves `position` to a later record or segment.
        while copied < out.count, position < JournalFormat.sequenceLimit, !segmentFirsts.isEmpty {
            guard let index = segmentFirsts.lastIndex(where: { $0 <= position }) else {
                position = segmentFirsts[0]
                continue
            }
            let isLast = index == segmentFirsts.count - 1
            guard let segment = try load(segmentFirsts[index]), segment.headerOK,
                  let record = Journal.firstRecord(in: segment.records, endingAfter: position) else {
                if isLast || copied > 0 { break }
                position = segmentFirsts[index + 1]
                continue
            }
            if record.first > position {  // a gap
                if copied > 0 { break }
                position = record.first
                continue
            }
            let skip = Int(position - record.first)
            let count = min(out.count - copied, record.count - skip)
            let start = record.offset + JournalFormat.recordHeaderSize + skip * JournalFormat.readingSize
            let target = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(out)[
                copied * JournalFormat.readingSize..<(copied + count) * JournalFormat.readingSize])
            segment.bytes.withUnsafeBytes { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start..<start + target.count])) }
            if copied == 0 { first = position }
            copied += count
            position += UInt64(count)
        }
        return (first, copied)
    }

    /// The oldest and newest valid readings' sequences (0, 0 for none), from the oldest and newest segments
    /// that hold any (usually one each: not a scan of the whole journal).
    func bounds() throws(Failure) -> (oldest: UInt64, newest: UInt64) {
        do throws(Failure) {
            try refresh()
            var oldest: UInt64 = 0, newest: UInt64 = 0
            for first in segmentFirsts.reversed() {
                if let segment = try load(first), segment.headerOK, let last = segment.records.last {
                    newest = last.next - 1
                    break
                }
            }
            for first in segmentFirsts {
                if let segment = try load(first), segment.headerOK, let record = segment.records.first {
                    oldest = record.first
                    break
                }
            }
            return (oldest, newest)
        } catch {
            throw Failure(error, "journal \(location)")
        }
    }

    // MARK: - Checking

    /// Reads every file of the journal and verifies every record: counts, ranges and the problems found
    /// (kept for `problem(at:)`, with the cursors' positions for `cursors`).
    func check() throws(Failure) -> Report {
        do throws(Failure) {
            return try checkAll()
        } catch {
            throw Failure(error, "journal \(location): check")
        }
    }

    private func checkAll() throws(Failure) -> Report {
        identityDamaged = false
        instance = nil
        cached = nil
        try refresh()
        var report = Report()
        problems = []
        if identityDamaged {
            note(&report, Problem(kind: .header, file: Journal.identityName, offset: 0, bytes: 32,
                                  message: "damaged identity header (open rewrites it from the segments)"))
        }
        var expected: UInt64? = nil
        var anyTimestamp = false
        for (index, first) in segmentFirsts.enumerated() {
            let name = Journal.segmentName(first)
            guard let segment = try load(first) else { continue }  // removed for space since the listing
            report.segments += 1
            report.bytes += segment.size
            let isNewest = index == segmentFirsts.count - 1
            guard segment.headerOK else {
                if isNewest, segment.size < UInt64(JournalFormat.segmentHeaderSize) {
                    report.tornBytes += segment.size
                    note(&report, Problem(kind: .tornTail, file: name, offset: 0, bytes: segment.size,
                                          message: "newest segment shorter than its header (\(segment.size) bytes): a creation a crash cut short"))
                    continue
                }
                report.corruptSegments += 1
                var problem = Problem(kind: .header, file: name, offset: 0, bytes: segment.size,
                                      message: "damaged segment header: the segment is skipped")
                if case .ok(let header) = segment.bytes.withUnsafeBytes({ JournalFormat.decodeSegmentHeader($0) }) {
                    problem.kind = .foreignSegment
                    problem.message = header.instance != instance
                        ? Message("segment of another journal (instance 0x\(Journal.hex16(header.instance))): the segment is skipped").text
                        : Message("header's first sequence \(header.firstSequence) disagrees with the name: the segment is skipped").text
                }
                note(&report, problem)
                continue
            }
            let scan = Journal.scanSegment(segment.bytes, first: first)
            if expected == nil { expected = first }
            for skipped in scan.skipped {
                report.damagedRecords += 1
                note(&report, Problem(kind: .record, file: name, offset: UInt64(JournalFormat.segmentHeaderSize + skipped.offset),
                                      bytes: UInt64(skipped.size),
                                      message: "damaged record (\(skipped.size) bytes, checksum or sequence): skipped"))
            }
            for record in scan.records {
                if let next = expected, record.first > next {
                    report.gaps += 1
                    report.missingReadings += record.first - next
                    note(&report, Problem(kind: .gap, file: name, offset: UInt64(record.offset), bytes: 0,
                                          firstSequence: next, lastSequence: record.first - 1,
                                          message: "sequences \(next) to \(record.first - 1) missing before the record here"))
                }
                if report.readings == 0 { report.firstSequence = record.first }
                report.readings += UInt64(record.count)
                report.records += 1
                report.lastSequence = record.next - 1
                expected = record.next
                segment.bytes.withUnsafeBytes { bytes in
                    for reading in 0..<record.count {
                        let at = record.offset + JournalFormat.recordHeaderSize + reading * JournalFormat.readingSize
                        let timestamp = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: Int64.self))
                        if !anyTimestamp || timestamp < report.minTimestamp { report.minTimestamp = timestamp }
                        if !anyTimestamp || timestamp > report.maxTimestamp { report.maxTimestamp = timestamp }
                        anyTimestamp = true
                    }
                }
            }
            let body = segment.bytes.count - JournalFormat.segmentHeaderSize
            if scan.validEnd < body {
                let torn = UInt64(body - scan.validEnd)
                let tornWhat: StaticString = isNewest ? "(a write cut short: open cuts them off)" : "(the rest of the segment is lost)"
                report.tornBytes += torn
                note(&report, Problem(kind: .tornTail, file: name, offset: UInt64(JournalFormat.segmentHeaderSize + scan.validEnd),
                                      bytes: torn,
                                      message: "\(torn) bytes after the last whole record \(tornWhat)"))
            }
        }
        cursors = []
        for cursor in cursorNames {
            let file = Journal.cursorFileName(cursor, suffix: ".ecc")
            let name = String(decoding: cursor, as: UTF8.self)
            switch try readHeader(file) {
            case .ok(let header)? where header.instance == instance:
                cursors.append(CursorPosition(name: name, acknowledged: header.firstSequence))
            case .newerVersion(let version)?: throw newer(file, version)
            case nil: continue
            default:
                cursors.append(CursorPosition(name: name, acknowledged: 0))
                note(&report, Problem(kind: .header, file: file, offset: 0, bytes: 32,
                                      message: "damaged cursor file (or another journal's): the cursor restarts from the oldest reading"))
            }
        }
        report.cursors = UInt32(clamping: cursors.count)
        report.instance = instance ?? 0
        lastReport = report
        return report
    }

    private func note(_ report: inout Report, _ problem: Problem) {
        report.problems &+= 1
        if problems.count < JournalReader.problemsKept { problems.append(problem) }
    }
}
