/// The journal: readings on flash in segment files, with named consumer cursors (docs/journal-format.md,
/// edgecore.h's Journal section). Thread-safe: one lock serialises every call.
///
/// The folder holds `journal.id` (the journal's identity: a segment header with first sequence 0),
/// segments `seg-<first sequence, 16 hex digits>.ecj`, and cursors `cursor-<name>.ecc` (written as
/// `cursor-<name>.tmp`, synced, renamed). Names are ASCII; they are compared as bytes.
final class Journal: @unchecked Sendable {
    /// A segment file: the sequence of its first reading (from its name), its size, and whether its header
    /// was found damaged (its readings cannot be trusted: it is skipped).
    struct Segment {
        var first: UInt64
        var size: UInt64
        var damaged = false
    }

    final class Cursor {
        let name: [UInt8]
        var acknowledged: UInt64
        var durableAcknowledged: UInt64
        var readPosition: UInt64
        var lost: UInt64 = 0
        var dirty = false

        init(name: [UInt8], acknowledged: UInt64) {
            self.name = name
            self.acknowledged = acknowledged
            durableAcknowledged = acknowledged
            readPosition = acknowledged + 1
        }
    }

    /// A non-tail segment's bytes and valid records, kept for the reads that walk through it.
    private struct ScannedSegment {
        var first: UInt64
        var bytes: [UInt8]
        var records: [JournalRecord]
    }

    private let files: any JournalFiles
    private let settings: JournalSettings
    private let clock: () -> Int64
    private let lock = Lock()
    private let location: String
    /// The real folder (nil over other file backends).
    private(set) var folder: FilePath?
    private var instance: UInt64 = 0
    private var segments: [Segment] = []
    /// The newest segment, open for appending, and its valid records (offsets from the file's start).
    private var tail: (any JournalFile)?
    private var tailRecords: [JournalRecord] = []
    /// Finished segments whose last readings are not yet synced: the next sync syncs and closes them (a
    /// segment change costs no sync of its own, so the syncs stay within the policy's bound).
    private var retiring: [any JournalFile] = []
    /// The records of the segment an append began in, once the append has moved on to a new segment.
    private var markRecords: [JournalRecord] = []
    private var cursors: [Cursor] = []
    private var scanned: ScannedSegment?
    /// Segments whose damaged records were already counted.
    private var counted: [UInt64] = []
    private var nextSequence: UInt64 = 1
    private var durableSequence: UInt64 = 0
    private var unsyncedReadings: UInt64 = 0
    /// When the oldest unsynced change (reading or acknowledgement) was made (monotonic ns).
    private var unsyncedSince: Int64?
    /// The schedule slot the last policy sync took (monotonic ns), with max_syncs_per_hour.
    private var lastPolicySync: Int64?
    private var folderDirty = false
    private var counters = JournalStats()
    private var closed = false
    private var encoded: [UInt8] = []

    static let identityName = "journal.id"

    /// Opens (creating when missing or empty) the journal in the real folder `path`.
    convenience init(folder path: FilePath, settings: JournalSettings) throws(Failure) {
        try settings.validate()
        if !(try Journal.folderExists(path)) {
            do throws(Failure) { try Folder.create(path) } catch { throw Failure(error, "journal \(path)") }
        }
        try self.init(files: FolderFiles(path), settings: settings, location: path.description,
                      clock: { Clock.monotonicNanoseconds() })
        folder = path
    }

    /// Opens the journal over any file backend (the power-cut simulator in tests); `clock` gives monotonic
    /// nanoseconds for the sync policy.
    init(files: any JournalFiles, settings: JournalSettings, location: String = "journal",
         clock: @escaping () -> Int64) throws(Failure) {
        self.files = files
        self.settings = settings
        self.clock = clock
        self.location = location
        do throws(Failure) {
            try settings.validate()
            try files.lock()
            try recover()
        } catch {
            tail?.close()
            tail = nil
            files.unlock()
            throw Failure(error, "journal \(location)")
        }
    }

    deinit {
        tail?.close()
        for file in retiring { file.close() }
        files.unlock()
    }

    private static func folderExists(_ path: FilePath) throws(Failure) -> Bool {
        do throws(Failure) {
            _ = try Folder(path: path).names()
            return true
        } catch {
            if case .system(let errno) = error.kind {
                if errno == .noEntry { return false }
                if errno == .notDirectory {
                    throw Failure(.notAJournal, "journal \(path): not a folder")
                }
            }
            throw Failure(error, "journal \(path)")
        }
    }

    // MARK: - Opening and recovery

    private func recover() throws(Failure) {
        var segmentFirsts: [UInt64] = []
        var cursorNames: [[UInt8]] = []
        var hasIdentity = false
        for name in try files.names() {
            switch try Journal.classify(name) {
            case .segment(let first): segmentFirsts.append(first)  // the name follows from it
            case .cursor(let cursor): cursorNames.append(cursor)
            case .temporary:
                try files.remove(name)  // a cursor or identity write a crash interrupted; the old file stands
                folderDirty = true
            case .identity: hasIdentity = true
            case .lostAndFound: break
            }
        }
        sortAscending(&segmentFirsts)
        // A newest segment shorter than its header is one a crash interrupted at its creation: it holds no
        // record, so it is a torn tail, not damage. It goes, and the sequence goes on at its first number.
        if let newest = segmentFirsts.last {
            let name = Journal.segmentName(newest)
            let size = try files.size(of: name)
            if size < UInt64(JournalFormat.segmentHeaderSize) {
                try files.remove(name)
                folderDirty = true
                counters.tornBytesTruncated += size
                segmentFirsts.removeLast()
                nextSequence = max(nextSequence, newest)
            }
        }

        var identity: UInt64? = nil
        if hasIdentity { identity = try readIdentity() }
        // Older segments: their names and sizes only (a stat each, no open: a 2 GB journal has 500 of them);
        // their headers are checked when a cursor first reads from them. The newest is read whole.
        for (index, first) in segmentFirsts.enumerated() {
            let isTail = index == segmentFirsts.count - 1
            let name = Journal.segmentName(first)
            segments.append(Segment(first: first, size: isTail ? 0 : try files.size(of: name)))
            if isTail { try inspectTail(index, name: name, identity: &identity) }
        }
        if identity == nil || !hasIdentity {
            instance = identity ?? randomUInt64()
            try writeSmallFile(Journal.identityName, header: SegmentHeader(instance: instance, firstSequence: 0))
        } else if let identity {
            instance = identity
        }
        // A new segment once the instance is known: the first, or one after a damaged newest segment.
        if segments.last?.damaged ?? true { try startSegment(first: nextSequence) }
        for name in cursorNames { try loadCursor(name) }
        // What recovery found is durable from here on: readings a crash left in the kernel's cache are
        // synced before any cursor delivers them.
        try tail?.sync()
        if folderDirty {
            try files.syncFolder()
            folderDirty = false
        }
        durableSequence = nextSequence - 1
    }

    private func readIdentity() throws(Failure) -> UInt64? {
        let file = try files.open(Journal.identityName, create: false)
        defer { file.close() }
        let bytes = try file.read(at: 0, count: JournalFormat.segmentHeaderSize)
        switch bytes.withUnsafeBytes({ JournalFormat.decodeSegmentHeader($0) }) {
        case .ok(let header): return header.instance
        case .newerVersion(let version):
            throw Failure(.journalVersion, "written by a newer EdgeCore (format version \(version), this one reads \(JournalFormat.version))")
        case .notAJournal, .corrupt:
            return nil  // damaged: taken from the segments, then rewritten
        }
    }

    /// Reads the newest segment: checks the header's version, instance and the first sequence its name
    /// gives, scans the records, cuts the torn end off.
    private func inspectTail(_ index: Int, name: String, identity: inout UInt64?) throws(Failure) {
        let file = try files.open(name, create: false)
        var keepOpen = false
        defer { if !keepOpen { file.close() } }
        let size = try file.size()
        segments[index].size = size
        let bytes = try file.read(at: 0, count: Int(min(size, UInt64(Int32.max))))
        let first = segments[index].first
        var headerOK = false
        switch bytes.withUnsafeBytes({ JournalFormat.decodeSegmentHeader($0) }) {
        case .newerVersion(let version):
            throw Failure(.journalVersion, "segment \(name) was written by a newer EdgeCore (format version \(version), this one reads \(JournalFormat.version))")
        case .ok(let header):
            if identity == nil { identity = header.instance }
            headerOK = header.instance == identity && header.firstSequence == first
        case .notAJournal, .corrupt:
            headerOK = false
        }
        // Sequences never go back: past a damaged segment, the next one starts beyond anything it can hold.
        let bound = first &+ size / UInt64(JournalFormat.readingSize) &+ 1
        nextSequence = max(nextSequence, first)
        guard headerOK else {
            segments[index].damaged = true
            counters.corruptSegmentsSkipped += 1
            nextSequence = max(nextSequence, min(bound, JournalFormat.sequenceLimit - 1))
            return
        }
        let body = bytes.count - JournalFormat.segmentHeaderSize
        let scan = Journal.scanSegment(bytes, first: first)
        counters.corruptRecordsSkipped += UInt64(scan.corruptSkipped)
        counted.append(first)
        tailRecords = scan.records
        if let last = tailRecords.last { nextSequence = max(nextSequence, last.next) }
        if scan.validEnd < body {
            let end = UInt64(JournalFormat.segmentHeaderSize + scan.validEnd)
            counters.tornBytesTruncated += size - end
            try file.truncate(to: end)
            segments[index].size = end
        }
        tail = file
        keepOpen = true
    }

    private func loadCursor(_ name: [UInt8]) throws(Failure) {
        let fileName = Journal.cursorFileName(name, suffix: ".ecc")
        let file = try files.open(fileName, create: false)
        defer { file.close() }
        let bytes = try file.read(at: 0, count: JournalFormat.segmentHeaderSize)
        var acknowledged: UInt64 = 0
        switch bytes.withUnsafeBytes({ JournalFormat.decodeSegmentHeader($0) }) {
        case .ok(let header) where header.instance == instance:
            acknowledged = header.firstSequence
        case .newerVersion(let version):
            throw Failure(.journalVersion, "cursor file \(fileName) was written by a newer EdgeCore (format version \(version))")
        default:
            acknowledged = 0  // damaged (it is written atomically, so only the medium can do this): deliver all again
        }
        insert(Cursor(name: name, acknowledged: min(acknowledged, nextSequence - 1)))
    }

    // MARK: - Appending

    /// Appends `readings` (all or nothing); returns the sequence of the first. Syncs when the policy says.
    func append(_ readings: UnsafeBufferPointer<Reading>) throws(Failure) -> UInt64 {
        try lock.withLock { () throws(Failure) -> UInt64 in
            try checkOpen()
            let first = nextSequence
            guard !readings.isEmpty else { return first }
            guard UInt64(readings.count) < JournalFormat.sequenceLimit - first else {
                throw Failure(.limit, "journal \(location): sequence numbers exhausted")
            }
            let perRecord = recordCapacity
            let records = (readings.count + perRecord - 1) / perRecord
            let needed = UInt64(records * JournalFormat.recordHeaderSize + readings.count * JournalFormat.readingSize)
            try makeRoom(for: needed, readings: UInt64(readings.count))
            let mark = (segments: segments.count, size: segments[segments.count - 1].size, records: tailRecords.count)
            markRecords = []
            defer { markRecords = [] }
            var done = 0
            do throws(Failure) {
                while done < readings.count {
                    let count = min(perRecord, readings.count - done)
                    let size = UInt64(JournalFormat.recordHeaderSize + count * JournalFormat.readingSize)
                    if segments[segments.count - 1].size + size > UInt64(settings.segmentSize), !tailRecords.isEmpty {
                        try startSegment(first: first + UInt64(done))
                    }
                    try writeRecord(UnsafeBufferPointer(rebasing: readings[done..<done + count]), first: first + UInt64(done))
                    done += count
                }
            } catch {
                counters.appendFailures += 1
                undoAppend(to: mark)
                throw Failure(error, "journal \(location): append")
            }
            nextSequence = first + UInt64(readings.count)
            counters.appended += UInt64(readings.count)
            unsyncedReadings += UInt64(readings.count)
            if unsyncedSince == nil { unsyncedSince = clock() }
            // The readings are appended whatever the policy sync does: a failing sync leaves them not yet
            // durable (durable_sequence stays), and the next sync (tick, sync, the next append) tries again
            // and reports it. Failing the append here would count appended readings as refused.
            _ = try? syncIfDue()
            return first
        }
    }

    /// Readings per record: at most 4096, and a record always fits in an empty segment.
    private var recordCapacity: Int {
        let room = Int(settings.segmentSize) - JournalFormat.segmentHeaderSize - JournalFormat.recordHeaderSize
        return max(1, min(JournalFormat.maxReadingsPerRecord, room / JournalFormat.readingSize))
    }

    private func writeRecord(_ readings: UnsafeBufferPointer<Reading>, first: UInt64) throws(Failure) {
        guard let tail else { throw Failure(.system(.ioError), "no segment open") }
        encoded.removeAll(keepingCapacity: true)
        JournalFormat.encodeRecord(first: first, readings: readings, into: &encoded)
        let offset = segments[segments.count - 1].size
        try tail.write(at: offset, encoded)
        segments[segments.count - 1].size += UInt64(encoded.count)
        counters.bytesWritten += UInt64(encoded.count)
        counters.recordsAppended += 1
        tailRecords.append(JournalRecord(offset: Int(offset), first: first, count: readings.count))
    }

    /// After a failed append: remove the segments it started (their files were put in `retiring` as each
    /// next one began; the first of them is the tail the append began in) and cut that tail back, so that
    /// the journal is as it was. A failure in here leaves a torn tail that the next open cuts off.
    private func undoAppend(to mark: (segments: Int, size: UInt64, records: Int)) {
        let started = segments.count - mark.segments
        if started > 0 {
            tail?.close()
            let kept = retiring[retiring.count - started]
            for file in retiring.suffix(started - 1) { file.close() }
            retiring.removeLast(started)
            for segment in segments.suffix(started) { try? files.remove(Journal.segmentName(segment.first)) }
            segments.removeLast(started)
            folderDirty = true
            tail = kept
            tailRecords = markRecords
            markRecords = []
        }
        try? tail?.truncate(to: mark.size)
        segments[segments.count - 1].size = mark.size
        if tailRecords.count > mark.records { tailRecords.removeLast(tailRecords.count - mark.records) }
    }

    /// Starts a new tail segment numbered `first`. The old tail's last readings and the new name become
    /// durable at the next sync.
    private func startSegment(first: UInt64) throws(Failure) {
        let name = Journal.segmentName(first)
        let file = try files.open(name, create: true)
        encoded.removeAll(keepingCapacity: true)
        JournalFormat.encode(SegmentHeader(instance: instance, firstSequence: first), into: &encoded)
        do throws(Failure) {
            try file.truncate(to: 0)
            try file.write(at: 0, encoded)
        } catch {
            file.close()
            try? files.remove(name)
            throw error  // the tail stays the tail: its records stay readable
        }
        // Only now the old tail retires: a failure above must not leave the journal without its tail.
        if let tail {
            tail.startSync()  // its pages go to the medium now, so the next sync mostly waits for nothing
            retiring.append(tail)
            if markRecords.isEmpty { markRecords = tailRecords }  // the first change of an append: undo needs them
            self.tail = nil
        }
        counters.bytesWritten += UInt64(encoded.count)
        segments.append(Segment(first: first, size: UInt64(encoded.count)))
        tail = file
        tailRecords = []
        folderDirty = true
    }

    /// Frees space for `needed` more bytes within the size limit: segments every cursor acknowledged go
    /// first; then `whenFull` drops the oldest or refuses.
    private func makeRoom(for needed: UInt64, readings: UInt64) throws(Failure) {
        while storedBytes + needed > settings.sizeLimit, segments.count > 1 {
            let oldest = segments[0]
            let last = segments[1].first - 1
            let unacknowledgedByAll = cursors.allSatisfy { $0.acknowledged >= last }
            if !unacknowledgedByAll, settings.whenFull == .refuseNewest {
                counters.refusedForSpace += readings
                throw Failure(.journalFull, "journal \(location): full (\(storedBytes) of \(settings.sizeLimit) bytes) and the cursors have not acknowledged its oldest segment")
            }
            try files.remove(Journal.segmentName(oldest.first))
            folderDirty = true
            segments.removeFirst()
            if !oldest.damaged {
                let lowest = cursors.map { $0.acknowledged }.min() ?? last
                if lowest < last { counters.droppedForSpace += last - max(lowest, oldest.first - 1) }
            }
            for cursor in cursors where cursor.acknowledged < last {
                if !oldest.damaged { cursor.lost += last - max(cursor.acknowledged, oldest.first - 1) }
            }
            if scanned?.first == oldest.first { scanned = nil }
        }
    }

    private var storedBytes: UInt64 { segments.reduce(0) { $0 + $1.size } }

    // MARK: - Syncing

    /// Syncs when the policy says one is due; true if it synced.
    func tick() throws(Failure) -> Bool {
        try lock.withLock { () throws(Failure) -> Bool in
            try checkOpen()
            return try syncIfDue()
        }
    }

    /// Makes everything appended and acknowledged durable now.
    func sync() throws(Failure) {
        try lock.withLock { () throws(Failure) in
            try checkOpen()
            try syncNow()
        }
    }

    private func syncIfDue() throws(Failure) -> Bool {
        guard let since = unsyncedSince else { return false }
        let now = clock()
        let byCount = settings.syncEveryReadings > 0 && unsyncedReadings >= UInt64(settings.syncEveryReadings)
        let byTime = settings.syncIntervalMs > 0 && now - since >= Int64(settings.syncIntervalMs) * 1_000_000
        guard byCount || byTime else { return false }
        if settings.maxSyncsPerHour > 0 {
            // Each policy sync takes the next slot of 3600 s / N; a sync that comes late (the next append
            // after the slot, a thread held off the CPU) keeps the schedule instead of pushing every later
            // one back, unless it is a whole slot late (the journal was idle): then the schedule restarts.
            let spacing = 3_600_000_000_000 / Int64(settings.maxSyncsPerHour)
            if let slot = lastPolicySync {
                guard now >= slot + spacing else { return false }
                lastPolicySync = now - (slot + spacing) < spacing ? slot + spacing : now
            } else {
                lastPolicySync = now
            }
        }
        try syncNow()
        return true
    }

    /// Readings first, then the folder (new segment names), then the cursors (each written atomically):
    /// a durable acknowledgement never points past durable readings.
    private func syncNow() throws(Failure) {
        do throws(Failure) {
            while let finished = retiring.first {
                try finished.sync()
                finished.close()
                retiring.removeFirst()
            }
            try tail?.sync()
            if folderDirty {
                try files.syncFolder()
                folderDirty = false
            }
            durableSequence = nextSequence - 1
            unsyncedReadings = 0
            var written: [(cursor: Cursor, acknowledged: UInt64)] = []
            for cursor in cursors where cursor.dirty {
                let acknowledged = cursor.acknowledged
                try writeSmallFile(Journal.cursorFileName(cursor.name, suffix: ".ecc"),
                                   header: SegmentHeader(instance: instance, firstSequence: acknowledged), syncFolder: false)
                written.append((cursor, acknowledged))
            }
            // Durable only once the folder sync has made the renames durable.
            if !written.isEmpty { try files.syncFolder() }
            for (cursor, acknowledged) in written {
                cursor.durableAcknowledged = acknowledged
                cursor.dirty = cursor.acknowledged != acknowledged
            }
            unsyncedSince = nil
            counters.syncs += 1
        } catch {
            throw Failure(error, "journal \(location): sync")
        }
    }

    /// Writes a 32-byte file atomically: `name`.tmp, sync, rename over `name`, folder sync.
    private func writeSmallFile(_ name: String, header: SegmentHeader, syncFolder: Bool = true) throws(Failure) {
        let temporary = Journal.temporaryName(name)
        let file = try files.open(temporary, create: true)
        encoded.removeAll(keepingCapacity: true)
        JournalFormat.encode(header, into: &encoded)
        do throws(Failure) {
            try file.truncate(to: 0)
            try file.write(at: 0, encoded)
            try file.sync()
        } catch {
            file.close()
            throw error
        }
        file.close()
        counters.bytesWritten += UInt64(encoded.count)
        try files.rename(temporary, to: name)
        if syncFolder { try files.syncFolder() }
    }

    // MARK: - Cursors

    /// Adds a cursor (true) or finds it there (false). A new cursor starts at the oldest stored reading.
    func addCursor(_ name: String) throws(Failure) -> Bool {
        try JournalSettings.checkCursorName(name)
        return try lock.withLock { () throws(Failure) -> Bool in
            try checkOpen()
            let bytes = Array(name.utf8)
            if cursor(bytes) != nil { return false }
            guard cursors.count < JournalSettings.cursorsMax else {
                throw Failure(.limit, "journal \(location): \(JournalSettings.cursorsMax) cursors already")
            }
            let start = oldestSequence - 1
            do throws(Failure) {
                try writeSmallFile(Journal.cursorFileName(bytes, suffix: ".ecc"),
                                   header: SegmentHeader(instance: instance, firstSequence: start))
            } catch {
                throw Failure(error, "journal \(location): cursor '\(name)'")
            }
            insert(Cursor(name: bytes, acknowledged: start))
            return true
        }
    }

    func removeCursor(_ name: String) throws(Failure) {
        try JournalSettings.checkCursorName(name)
        try lock.withLock { () throws(Failure) in
            try checkOpen()
            let bytes = Array(name.utf8)
            guard let index = cursors.firstIndex(where: { $0.name.elementsEqual(bytes) }) else {
                throw Failure(.notFound, "journal \(location): no cursor '\(name)'")
            }
            do throws(Failure) {
                try files.remove(Journal.cursorFileName(bytes, suffix: ".ecc"))
                try files.syncFolder()
            } catch {
                throw Failure(error, "journal \(location): cursor '\(name)'")
            }
            cursors.remove(at: index)
        }
    }

    /// Copies the cursor's next durable readings (consecutive sequences) into `out`.
    func read(_ name: String, into out: UnsafeMutableBufferPointer<Reading>) throws(Failure) -> (first: UInt64, count: Int) {
        try JournalSettings.checkCursorName(name)
        return try lock.withLock { () throws(Failure) -> (first: UInt64, count: Int) in
            try checkOpen()
            let cursor = try namedCursor(name)
            do throws(Failure) {
                return try read(cursor, into: out)
            } catch {
                throw Failure(error, "journal \(location): cursor '\(name)': read")
            }
        }
    }

    private func read(_ cursor: Cursor, into out: UnsafeMutableBufferPointer<Reading>) throws(Failure) -> (first: UInt64, count: Int) {
        var position = max(cursor.readPosition, oldestSequence)
        var first: UInt64 = 0
        var copied = 0
        // Bounded: each turn copies readings, or moves `position` to a later record or segment.
        while copied < out.count, position <= durableSequence {
            guard let index = segments.lastIndex(where: { $0.first <= position }) else {
                position = segments[0].first
                continue
            }
            let isTail = index == segments.count - 1
            if segments[index].damaged {
                if isTail { break }
                if copied > 0 { break }
                position = segments[index + 1].first
                continue
            }
            let records = isTail ? tailRecords : try scan(index).records
            if segments[index].damaged { continue }  // found so by the scan: the next turn skips it
            guard let record = Journal.firstRecord(in: records, endingAfter: position) else {
                if isTail || copied > 0 { break }
                position = segments[index + 1].first
                continue
            }
            if record.first > position {  // a gap: a damaged record or a sequence hole
                if copied > 0 { break }
                position = record.first
                continue
            }
            let skip = Int(position - record.first)
            let count = min(out.count - copied, record.count - skip, Int(min(durableSequence - position + 1, UInt64(Int.max))))
            let start = record.offset + JournalFormat.recordHeaderSize + skip * JournalFormat.readingSize
            let target = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(out)[
                copied * JournalFormat.readingSize..<(copied + count) * JournalFormat.readingSize])
            if isTail {
                guard let tail, try tail.read(at: UInt64(start), into: target) == target.count else {
                    throw Failure(.system(.ioError), "segment \(Journal.segmentName(segments[index].first)) is shorter than its records")
                }
            } else if let bytes = scanned?.bytes {
                bytes.withUnsafeBytes { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start..<start + target.count])) }
            }
            if copied == 0 { first = position }
            copied += count
            position += UInt64(count)
        }
        cursor.readPosition = position
        return (first, copied)
    }

    /// A non-tail segment's valid records (scanned once, kept for the reads that follow).
    private func scan(_ index: Int) throws(Failure) -> ScannedSegment {
        let first = segments[index].first
        if let scanned, scanned.first == first { return scanned }
        let name = Journal.segmentName(first)
        let file = try files.open(name, create: false)
        defer { file.close() }
        let bytes = try file.read(at: 0, count: Int(min(try file.size(), UInt64(Int32.max))))
        let got = bytes.count
        var records: [JournalRecord] = []
        var headerOK = false
        if case .ok(let header) = bytes.withUnsafeBytes({ JournalFormat.decodeSegmentHeader($0) }) {
            headerOK = header.instance == instance && header.firstSequence == first
        }
        if !headerOK, !segments[index].damaged {
            segments[index].damaged = true  // a damaged header, another journal's segment, or a newer version's
            counters.corruptSegmentsSkipped += 1
        }
        if headerOK {
            let result = Journal.scanSegment(bytes, first: first)
            records = result.records
            if !counted.contains(first) {
                counted.append(first)
                counters.corruptRecordsSkipped += UInt64(result.corruptSkipped)
                // What lies past the valid records of a finished segment is damage too.
                if result.validEnd < got - JournalFormat.segmentHeaderSize { counters.corruptRecordsSkipped += 1 }
            }
        }
        let result = ScannedSegment(first: first, bytes: bytes, records: records)
        scanned = result
        return result
    }

    func acknowledge(_ name: String, through sequence: UInt64) throws(Failure) {
        try JournalSettings.checkCursorName(name)
        try lock.withLock { () throws(Failure) in
            try checkOpen()
            let cursor = try namedCursor(name)
            guard sequence <= durableSequence else {
                throw Failure(.invalidArgument, "journal \(location): cursor '\(name)': acknowledgement \(sequence) is beyond the newest durable reading \(durableSequence)")
            }
            guard sequence > cursor.acknowledged else { return }
            cursor.acknowledged = sequence
            cursor.readPosition = max(cursor.readPosition, sequence + 1)
            cursor.dirty = true
            if unsyncedSince == nil { unsyncedSince = clock() }
        }
    }

    func rewind(_ name: String) throws(Failure) {
        try JournalSettings.checkCursorName(name)
        try lock.withLock { () throws(Failure) in
            try checkOpen()
            let cursor = try namedCursor(name)
            cursor.readPosition = cursor.acknowledged + 1
        }
    }

    // MARK: - Statistics

    func stats() -> JournalStats {
        lock.withLock { () -> JournalStats in
            var result = counters
            result.bytes = storedBytes
            result.segments = UInt32(segments.count)
            result.cursors = UInt32(cursors.count)
            result.instance = instance
            let oldest = oldestSequence
            if nextSequence > oldest {
                result.oldestSequence = oldest
                result.newestSequence = nextSequence - 1
                result.durableSequence = durableSequence
                result.readings = nextSequence - oldest
            } else {
                result.durableSequence = durableSequence
            }
            return result
        }
    }

    /// The cursor at `index` in name order, nil past the last.
    func cursorStats(at index: Int) -> JournalCursorStats? {
        lock.withLock { () -> JournalCursorStats? in
            guard index >= 0, index < cursors.count else { return nil }
            let cursor = cursors[index]
            let newest = nextSequence - 1
            let from = max(cursor.acknowledged, oldestSequence - 1)
            return JournalCursorStats(name: String(decoding: cursor.name, as: UTF8.self),
                                      acknowledged: cursor.acknowledged,
                                      durableAcknowledged: cursor.durableAcknowledged,
                                      readSequence: max(cursor.readPosition, oldestSequence),
                                      unacknowledged: newest > from ? newest - from : 0, lost: cursor.lost)
        }
    }

    /// Syncs, closes the files. Idempotent; the journal refuses calls afterwards. The files are closed
    /// even when the sync fails (then the failure is thrown).
    func close() throws(Failure) {
        try lock.withLock { () throws(Failure) in
            guard !closed else { return }
            closed = true
            defer {
                tail?.close()
                tail = nil
                for file in retiring { file.close() }
                retiring = []
                scanned = nil
                files.unlock()
            }
            if unsyncedSince != nil || folderDirty { try syncNow() }
        }
    }

    // MARK: - Helpers

    /// The first sequence of every segment, oldest first (tests).
    var segmentStarts: [UInt64] { lock.withLock { segments.map { $0.first } } }

    /// The oldest stored reading's sequence (the first segment's first; the next sequence when empty).
    private var oldestSequence: UInt64 { segments.first?.first ?? nextSequence }

    private func checkOpen() throws(Failure) {
        if closed { throw Failure(.invalidArgument, "journal \(location) is closed") }
    }

    /// Keeps the cursors in name order.
    private func insert(_ cursor: Cursor) {
        let index = cursors.firstIndex { !$0.name.lexicographicallyPrecedes(cursor.name) } ?? cursors.count
        cursors.insert(cursor, at: index)
    }

    private func cursor(_ name: [UInt8]) -> Cursor? { cursors.first { $0.name.elementsEqual(name) } }

    private func namedCursor(_ name: String) throws(Failure) -> Cursor {
        guard let cursor = cursor(Array(name.utf8)) else {
            throw Failure(.notFound, "journal \(location): no cursor '\(name)'")
        }
        return cursor
    }

    static func segmentName(_ first: UInt64) -> String { "seg-" + hex16(first) + ".ecj" }

    /// What a name in a journal's folder is (docs/journal-format.md, "The folder").
    enum FileKind {
        case segment(UInt64)
        case cursor([UInt8])
        /// A cursor or the identity being written (removed at open).
        case temporary
        case identity
        case lostAndFound
    }

    /// The kind of file `name` is; any other name makes the folder not a journal (.notAJournal, naming it).
    static func classify(_ name: String) throws(Failure) -> FileKind {
        let bytes = Array(name.utf8)
        if let first = segmentFirst(bytes) { return .segment(first) }
        if let cursor = cursorName(bytes, suffix: ".ecc") { return .cursor(cursor) }
        if cursorName(bytes, suffix: ".tmp") != nil || bytes.elementsEqual(temporaryName(identityName).utf8) {
            return .temporary
        }
        if bytes.elementsEqual(identityName.utf8) { return .identity }
        if bytes.elementsEqual("lost+found".utf8) { return .lostAndFound }
        throw Failure(.notAJournal, "the folder holds '\(name)', which is not a journal file")
    }

    static func cursorFileName(_ name: [UInt8], suffix: StaticString) -> String {
        "cursor-" + String(decoding: name, as: UTF8.self) + Message.string(suffix)
    }

    private static func temporaryName(_ name: String) -> String {
        var bytes = Array(name.utf8)
        if let dot = bytes.lastIndex(of: UInt8(ascii: ".")) { bytes.removeSubrange(dot...) }
        return String(decoding: bytes, as: UTF8.self) + ".tmp"
    }

    /// "seg-" + 16 lowercase hex digits + ".ecj": the first sequence; nil for any other name.
    static func segmentFirst(_ name: [UInt8]) -> UInt64? {
        guard name.count == 24, name.starts(with: "seg-".utf8), name[20...].elementsEqual(".ecj".utf8) else { return nil }
        var value: UInt64 = 0
        for byte in name[4..<20] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value < JournalFormat.sequenceLimit ? value : nil
    }

    /// The cursor name in "cursor-<name><suffix>", if it is a valid one.
    private static func cursorName(_ name: [UInt8], suffix: StaticString) -> [UInt8]? {
        let prefix = "cursor-".utf8
        let tail = UnsafeBufferPointer(start: suffix.utf8Start, count: suffix.utf8CodeUnitCount)
        guard name.count > prefix.count + tail.count, name.starts(with: prefix),
              name[(name.count - tail.count)...].elementsEqual(tail) else { return nil }
        let cursor = Array(name[prefix.count..<(name.count - tail.count)])
        do throws(Failure) {
            try JournalSettings.checkCursorName(String(decoding: cursor, as: UTF8.self))
        } catch {
            return nil
        }
        return cursor
    }

    static func hex16(_ value: UInt64) -> String {
        let digits: [UInt8] = (0..<16).map { index in
            let nibble = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * index)) & 0xF
            return nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
        }
        return String(decoding: digits, as: UTF8.self)
    }

    /// Scans a whole segment file's records after its header (the caller has checked it is there): record
    /// offsets are from the file's start, `validEnd` from the body's.
    static func scanSegment(_ bytes: [UInt8], first: UInt64) -> ScanResult {
        var result = bytes.withUnsafeBytes {
            JournalFormat.scanRecords(UnsafeRawBufferPointer(rebasing: $0[JournalFormat.segmentHeaderSize...]), expectedFirst: first)
        }
        for index in result.records.indices { result.records[index].offset += JournalFormat.segmentHeaderSize }
        return result
    }

    /// The first record whose readings reach past `position` (records are in increasing sequence order):
    /// a binary search, as a segment holds up to tens of thousands of records.
    static func firstRecord(in records: [JournalRecord], endingAfter position: UInt64) -> JournalRecord? {
        var low = 0, high = records.count
        while low < high {
            let middle = (low + high) / 2
            if records[middle].next > position { high = middle } else { low = middle + 1 }
        }
        return low < records.count ? records[low] : nil
    }

}
