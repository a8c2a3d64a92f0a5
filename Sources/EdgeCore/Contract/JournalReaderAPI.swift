import CShim

// The journal reader's C functions (1.4): argument checks and marshalling only; Journal/JournalReader.swift
// does the work. A handle is a retained JournalReader; failures are result codes with a message in the
// thread-local buffer edgecore_journal_last_error() reads.

extension edgecore_journal_report: GrowingStruct {
    static var firstVersionSize: Int { 112 }
    static var firstVersion: StaticString { "1.4" }
}
extension edgecore_journal_problem: GrowingStruct {
    static var firstVersionSize: Int { 256 }
    static var firstVersion: StaticString { "1.4" }
}

@c @implementation
public func edgecore_journal_reader_open(_ folder: UnsafePointer<CChar>?,
                                        _ readerOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let readerOut else { return nullArgument("journal reader: reader_out is required") }
    readerOut.pointee = nil
    guard let folder else { return nullArgument("journal reader: folder is required") }
    do throws(Failure) {
        let reader = try JournalReader(folder: FilePath(cString: folder))
        readerOut.pointee = OpaquePointer(Unmanaged.passRetained(reader).toOpaque())
        return EDGECORE_OK
    } catch {
        return failure(error)
    }
}

@c @implementation
public func edgecore_journal_reader_close(_ reader: OpaquePointer?) {
    guard let reader else { return }
    Unmanaged<JournalReader>.fromOpaque(UnsafeRawPointer(reader)).release()
}

@c @implementation
public func edgecore_journal_reader_read(_ reader: OpaquePointer?, _ from: UInt64,
                                        _ out: UnsafeMutablePointer<edgecore_reading>?, _ max: Int,
                                        _ firstSequenceOut: UnsafeMutablePointer<UInt64>?) -> Int32 {
    // size_t arrives as Int; above Int32.max (negative here too) the result could not count it anyway.
    let limit = max < 0 || max > Int(Int32.max) ? Int(Int32.max) : max
    guard let reader else { return nullArgument("journal reader is required") }
    if limit > 0, out == nil { return nullArgument("journal reader read: out is required when max > 0") }
    return readerCall(reader) { reader throws(Failure) in
        let (first, count) = try reader.read(from: from, into: UnsafeMutableBufferPointer(start: out, count: out == nil ? 0 : limit))
        if count > 0 { firstSequenceOut?.pointee = first }
        return Int32(count)
    }
}

@c @implementation
public func edgecore_journal_reader_bounds(_ reader: OpaquePointer?, _ oldestOut: UnsafeMutablePointer<UInt64>?,
                                          _ newestOut: UnsafeMutablePointer<UInt64>?) -> Int32 {
    guard let reader else { return nullArgument("journal reader is required") }
    return readerCall(reader) { reader throws(Failure) in
        let (oldest, newest) = try reader.bounds()
        oldestOut?.pointee = oldest
        newestOut?.pointee = newest
        return EDGECORE_OK
    }
}

@c @implementation
public func edgecore_journal_reader_check_sized(_ reader: OpaquePointer?,
                                               _ reportOut: UnsafeMutablePointer<edgecore_journal_report>?,
                                               _ size: Int) -> Int32 {
    guard let reader, let reportOut else { return nullArgument("journal reader and report_out are required") }
    // The size first: a check reads the whole journal, not to be done for a struct that cannot be stored.
    if let code = checkStoreSize(edgecore_journal_report.self, size: size) { return code }
    return readerCall(reader) { reader throws(Failure) in
        storeStats(edgecore_journal_report(try reader.check()), into: reportOut, size: size)
    }
}

@c @implementation
public func edgecore_journal_reader_problem_sized(_ reader: OpaquePointer?, _ index: UInt32,
                                                 _ problemOut: UnsafeMutablePointer<edgecore_journal_problem>?,
                                                 _ size: Int) -> Int32 {
    guard let reader, let problemOut else { return nullArgument("journal reader and problem_out are required") }
    if let code = checkStoreSize(edgecore_journal_problem.self, size: size) { return code }
    return readerCall(reader) { reader throws(Failure) in
        let index = Int(index)
        guard reader.lastReport != nil, index < reader.problems.count else {
            throw Failure(.notFound, "journal reader: no problem at index \(index) (\(reader.problems.count) kept\(reader.lastReport == nil ? ", no check yet" : ""))")
        }
        return storeStats(edgecore_journal_problem(reader.problems[index]), into: problemOut, size: size)
    }
}

@c @implementation
public func edgecore_journal_reader_cursor_sized(_ reader: OpaquePointer?, _ index: UInt32,
                                                _ statsOut: UnsafeMutablePointer<edgecore_journal_cursor_stats>?,
                                                _ size: Int) -> Int32 {
    guard let reader, let statsOut else { return nullArgument("journal reader and stats_out are required") }
    if let code = checkStoreSize(edgecore_journal_cursor_stats.self, size: size) { return code }
    return readerCall(reader) { reader throws(Failure) in
        let index = Int(index)
        guard let report = reader.lastReport, index < reader.cursors.count else {
            throw Failure(.notFound, "journal reader: no cursor at index \(index) (\(reader.cursors.count)\(reader.lastReport == nil ? ", no check yet" : ""))")
        }
        let cursor = reader.cursors[index]
        let unacknowledged = report.lastSequence > cursor.acknowledged ? report.lastSequence - cursor.acknowledged : 0
        let stats = JournalCursorStats(name: cursor.name, acknowledged: cursor.acknowledged,
                                       durableAcknowledged: cursor.acknowledged, readSequence: cursor.acknowledged + 1,
                                       unacknowledged: unacknowledged, lost: 0)
        return storeStats(edgecore_journal_cursor_stats(stats), into: statsOut, size: size)
    }
}

// MARK: Helpers

/// A call on the reader behind a handle (the caller's handle keeps it alive): its result, or the
/// failure's code with its message recorded.
@inline(never)
private func readerCall(_ handle: OpaquePointer, _ body: (JournalReader) throws(Failure) -> Int32) -> Int32 {
    Unmanaged<JournalReader>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef { reader in
        do throws(Failure) {
            return try body(reader)
        } catch {
            return failure(error)
        }
    }
}

extension edgecore_journal_report {
    init(_ report: JournalReader.Report) {
        self.init()  // a field a later version adds stays 0
        instance_id = report.instance
        bytes = report.bytes
        first_sequence = report.firstSequence
        last_sequence = report.lastSequence
        min_timestamp_ns = report.minTimestamp
        max_timestamp_ns = report.maxTimestamp
        readings = report.readings
        records = report.records
        damaged_records = report.damagedRecords
        gaps = report.gaps
        missing_readings = report.missingReadings
        torn_bytes = report.tornBytes
        segments = report.segments
        corrupt_segments = report.corruptSegments
        cursors = report.cursors
        problems = report.problems
    }
}

extension edgecore_journal_problem {
    init(_ problem: JournalReader.Problem) {
        self.init()  // reserved fields and the text buffers zero-filled
        kind = problem.kind.rawValue
        offset = problem.offset
        bytes = problem.bytes
        first_sequence = problem.firstSequence
        last_sequence = problem.lastSequence
        _ = withUnsafeMutableBytes(of: &file) { field in
            field.withMemoryRebound(to: CChar.self) { storeCString(problem.file, into: $0.baseAddress, size: $0.count) }
        }
        _ = withUnsafeMutableBytes(of: &message) { field in
            field.withMemoryRebound(to: CChar.self) { storeCString(problem.message, into: $0.baseAddress, size: $0.count) }
        }
    }
}
