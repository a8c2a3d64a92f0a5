import CShim

// The journal's C functions: argument checks and marshalling only; Journal/Journal.swift does the work.
// A handle is a retained Journal; every failure is a result code and a message in the thread-local buffer
// edgecore_engine_last_error() also reads.

/// The most readings one edgecore_journal_append takes (edgecore.h).
private let appendCountMax = 1 << 20

@c @implementation
public func edgecore_journal_config_init_sized(_ config: UnsafeMutablePointer<edgecore_journal_config>?, _ size: Int) {
    storeDefaults(config, size: size)
}

@c @implementation
public func edgecore_journal_open_sized(_ folder: UnsafePointer<CChar>?, _ config: UnsafePointer<edgecore_journal_config>?,
                                       _ size: Int, _ journalOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let journalOut else { return nullArgument("journal: journal_out is required") }
    journalOut.pointee = nil
    guard let folder else { return nullArgument("journal: folder is required") }
    var c = edgecore_journal_config.defaults
    if let config, let code = loadSettings(config, size: size, into: &c, kind: "journal") { return code }
    let path = FilePath(cString: folder)
    do throws(Failure) {
        let journal = try Journal(folder: path, settings: try JournalSettings(c))
        journalOut.pointee = OpaquePointer(Unmanaged.passRetained(journal).toOpaque())
        return EDGECORE_OK
    } catch {
        return failure(error)
    }
}

@c @implementation
public func edgecore_journal_close(_ journal: OpaquePointer?) {
    guard let journal else { return }
    let owned = Unmanaged<Journal>.fromOpaque(UnsafeRawPointer(journal))
    do throws(Failure) {
        try owned.takeUnretainedValue().close()
    } catch {
        _ = failure(error)  // reported by edgecore_journal_last_error() only: the journal is freed anyway
    }
    owned.release()
}

@c @implementation
public func edgecore_journal_last_error() -> UnsafePointer<CChar>? {
    UnsafePointer(ec_last_error_buffer())
}

@c @implementation
public func edgecore_journal_append(_ journal: OpaquePointer?, _ readings: UnsafePointer<edgecore_reading>?,
                                   _ count: Int, _ firstSequenceOut: UnsafeMutablePointer<UInt64>?) -> Int32 {
    guard let journal else { return nullArgument("journal is required") }
    // size_t arrives as Int: a count above Int.max shows up negative.
    guard count >= 0, count <= appendCountMax else {
        return failure(Failure(.invalidArgument, "journal append: count \(UInt(bitPattern: count)) is above \(appendCountMax)"))
    }
    if count == 0 { return 0 }
    guard let readings else { return nullArgument("journal append: readings is required when count > 0") }
    return journalCall(journal) { journal throws(Failure) in
        let first = try journal.append(UnsafeBufferPointer(start: readings, count: count))
        firstSequenceOut?.pointee = first
        return Int32(count)
    }
}

@c @implementation
public func edgecore_journal_tick(_ journal: OpaquePointer?) -> Int32 {
    guard let journal else { return nullArgument("journal is required") }
    return journalCall(journal) { journal throws(Failure) in try journal.tick() ? 1 : 0 }
}

@c @implementation
public func edgecore_journal_sync(_ journal: OpaquePointer?) -> Int32 {
    guard let journal else { return nullArgument("journal is required") }
    return journalCall(journal) { journal throws(Failure) in
        try journal.sync()
        return EDGECORE_OK
    }
}

@c @implementation
public func edgecore_journal_add_cursor(_ journal: OpaquePointer?, _ name: UnsafePointer<CChar>?) -> Int32 {
    cursorCall(journal, name) { journal, name throws(Failure) in try journal.addCursor(name) ? 1 : 0 }
}

@c @implementation
public func edgecore_journal_remove_cursor(_ journal: OpaquePointer?, _ name: UnsafePointer<CChar>?) -> Int32 {
    cursorCall(journal, name) { journal, name throws(Failure) in
        try journal.removeCursor(name)
        return EDGECORE_OK
    }
}

@c @implementation
public func edgecore_journal_read(_ journal: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                                 _ out: UnsafeMutablePointer<edgecore_reading>?, _ max: Int,
                                 _ firstSequenceOut: UnsafeMutablePointer<UInt64>?) -> Int32 {
    // size_t arrives as Int; above Int32.max (negative here too) the result could not count it anyway.
    let limit = max < 0 || max > Int(Int32.max) ? Int(Int32.max) : max
    guard let journal, let name else { return nullArgument("journal and cursor name are required") }
    if limit > 0, out == nil { return nullArgument("journal read: out is required when max > 0") }
    return cursorCall(journal, name) { journal, name throws(Failure) in
        let (first, count) = try journal.read(name, into: UnsafeMutableBufferPointer(start: out, count: out == nil ? 0 : limit))
        if count > 0 { firstSequenceOut?.pointee = first }
        return Int32(count)
    }
}

@c @implementation
public func edgecore_journal_ack(_ journal: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ sequence: UInt64) -> Int32 {
    cursorCall(journal, name) { journal, name throws(Failure) in
        try journal.acknowledge(name, through: sequence)
        return EDGECORE_OK
    }
}

@c @implementation
public func edgecore_journal_rewind(_ journal: OpaquePointer?, _ name: UnsafePointer<CChar>?) -> Int32 {
    cursorCall(journal, name) { journal, name throws(Failure) in
        try journal.rewind(name)
        return EDGECORE_OK
    }
}

@c @implementation
public func edgecore_journal_stats_sized(_ journal: OpaquePointer?, _ statsOut: UnsafeMutablePointer<edgecore_journal_stats>?,
                                        _ size: Int) -> Int32 {
    guard let journal, let statsOut else { return nullArgument("journal and stats_out are required") }
    return storeStats(edgecore_journal_stats(withJournal(journal) { $0.stats() }), into: statsOut, size: size)
}

@c @implementation
public func edgecore_journal_cursor_stats_sized(_ journal: OpaquePointer?, _ index: UInt32,
                                               _ statsOut: UnsafeMutablePointer<edgecore_journal_cursor_stats>?,
                                               _ size: Int) -> Int32 {
    guard let journal, let statsOut else { return nullArgument("journal and stats_out are required") }
    return withJournal(journal) { journal in
        guard let cursor = journal.cursorStats(at: Int(clamping: index)) else {
            return failure(Failure(.notFound, "journal has no cursor at index \(index) (it has \(journal.stats().cursors))"))
        }
        return storeStats(edgecore_journal_cursor_stats(cursor), into: statsOut, size: size)
    }
}

// MARK: Helpers

/// Runs `body` with the journal behind a handle, without retain/release (see RingAPI's withRing): the
/// caller's handle keeps it alive, edgecore_journal_close may not run concurrently.
private func withJournal<Result>(_ handle: OpaquePointer, _ body: (Journal) -> Result) -> Result {
    Unmanaged<Journal>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef(body)
}

/// A call on the journal: its result, or the failure's code (its message recorded).
@inline(never)
private func journalCall(_ handle: OpaquePointer, _ body: (Journal) throws(Failure) -> Int32) -> Int32 {
    withJournal(handle) { journal in
        do throws(Failure) {
            return try body(journal)
        } catch {
            return failure(error)
        }
    }
}

/// A call on one cursor: checks the handle and the name (bytes, shown escaped in the message when refused).
@inline(never)
private func cursorCall(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                        _ body: (Journal, String) throws(Failure) -> Int32) -> Int32 {
    guard let handle, let name else { return nullArgument("journal and cursor name are required") }
    return journalCall(handle) { journal throws(Failure) in try body(journal, try cursorName(name)) }
}

/// The cursor name a C string holds, or invalidArgument naming it. Valid names are printable ASCII, which
/// FilePath's message form leaves as it is; any other byte turns into \xHH there, which the check refuses
/// (so the message shows the bytes exactly). A long name is looked at up to 64 bytes (then "...").
private func cursorName(_ name: UnsafePointer<CChar>) throws(Failure) -> String {
    let shown = 64
    var bytes = [CChar](repeating: 0, count: shown + 1)
    var length = 0
    while length < shown, name[length] != 0 {
        bytes[length] = name[length]
        length += 1
    }
    var text = bytes.withUnsafeBufferPointer { buffer in buffer.baseAddress.map { FilePath(cString: $0).description } ?? "" }
    if name[length] != 0 { text += "..." }
    try JournalSettings.checkCursorName(text)
    return text
}

extension JournalSettings {
    /// The C settings, checked: when_full must be a policy, the sizes in range (validate()).
    init(_ c: edgecore_journal_config) throws(Failure) {
        guard let policy = JournalFullPolicy(rawValue: c.when_full) else {
            throw Failure(.invalidArgument, "journal when_full \(c.when_full) is not EDGECORE_JOURNAL_DROP_OLDEST (0) or EDGECORE_JOURNAL_REFUSE_NEWEST (1)")
        }
        self.init(sizeLimit: c.size_limit, segmentSize: c.segment_size, syncIntervalMs: c.sync_interval_ms,
                  syncEveryReadings: c.sync_every_readings, maxSyncsPerHour: c.max_syncs_per_hour, whenFull: policy)
        try validate()
    }
}

extension edgecore_journal_stats {
    init(_ stats: JournalStats) {
        self.init()  // every field set below; a field a later version adds stays 0
        bytes = stats.bytes
        oldest_sequence = stats.oldestSequence
        newest_sequence = stats.newestSequence
        durable_sequence = stats.durableSequence
        readings = stats.readings
        appended = stats.appended
        records_appended = stats.recordsAppended
        dropped_for_space = stats.droppedForSpace
        refused_for_space = stats.refusedForSpace
        append_failures = stats.appendFailures
        corrupt_records_skipped = stats.corruptRecordsSkipped
        corrupt_segments_skipped = stats.corruptSegmentsSkipped
        torn_bytes_truncated = stats.tornBytesTruncated
        syncs = stats.syncs
        bytes_written = stats.bytesWritten
        segments = stats.segments
        cursors = stats.cursors
        instance_id = stats.instance
    }
}

extension edgecore_journal_cursor_stats {
    init(_ cursor: JournalCursorStats) {
        self.init()  // the name zero-filled; a field a later version adds stays 0
        withUnsafeMutableBytes(of: &name) { field in
            // Names are at most 32 bytes; the field has 40: always NUL-terminated.
            for (index, byte) in cursor.name.utf8.prefix(field.count - 1).enumerated() { field[index] = byte }
        }
        acknowledged_sequence = cursor.acknowledged
        durable_acknowledged = cursor.durableAcknowledged
        read_sequence = cursor.readSequence
        unacknowledged = cursor.unacknowledged
        lost = cursor.lost
    }
}
