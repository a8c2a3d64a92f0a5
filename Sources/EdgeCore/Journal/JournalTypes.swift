/// The journal's settings, statistics and cursor state as Swift values (Contract/ copies them to and from
/// edgecore_journal_config, _stats and _cursor_stats). Defaults and ranges are documented in edgecore.h.
enum JournalFullPolicy: UInt16 {
    case dropOldest = 0
    case refuseNewest = 1
}

struct JournalSettings: Equatable {
    var sizeLimit: UInt64 = 256 << 20
    var segmentSize: UInt32 = 4 << 20
    var syncIntervalMs: UInt32 = 1000
    var syncEveryReadings: UInt32 = 0
    var maxSyncsPerHour: UInt32 = 0
    var whenFull: JournalFullPolicy = .dropOldest

    static let segmentSizeMin: UInt32 = 64 << 10
    static let segmentSizeMax: UInt32 = 1 << 30

    func validate() throws(Failure) {
        guard segmentSize >= Self.segmentSizeMin, segmentSize <= Self.segmentSizeMax else {
            throw Failure(.invalidArgument, "journal segment_size \(segmentSize) is outside \(Self.segmentSizeMin) .. \(Self.segmentSizeMax)")
        }
        guard sizeLimit >= 2 * UInt64(segmentSize) else {
            throw Failure(.invalidArgument, "journal size_limit \(sizeLimit) is less than 2 * segment_size (\(2 * UInt64(segmentSize)))")
        }
    }
}

struct JournalStats: Equatable {
    var bytes: UInt64 = 0
    var oldestSequence: UInt64 = 0
    var newestSequence: UInt64 = 0
    var durableSequence: UInt64 = 0
    var readings: UInt64 = 0
    var appended: UInt64 = 0
    var recordsAppended: UInt64 = 0
    var droppedForSpace: UInt64 = 0
    var refusedForSpace: UInt64 = 0
    var appendFailures: UInt64 = 0
    var corruptRecordsSkipped: UInt64 = 0
    var corruptSegmentsSkipped: UInt64 = 0
    var tornBytesTruncated: UInt64 = 0
    var syncs: UInt64 = 0
    var bytesWritten: UInt64 = 0
    var segments: UInt32 = 0
    var cursors: UInt32 = 0
    /// The journal's random identity (the same in every file of it).
    var instance: UInt64 = 0
}

struct JournalCursorStats {
    var name: String
    /// Every reading up to this sequence is acknowledged (0: none).
    var acknowledged: UInt64
    /// The acknowledgement a crash now would keep.
    var durableAcknowledged: UInt64
    /// The next sequence `read` looks for.
    var readSequence: UInt64
    var unacknowledged: UInt64
    var lost: UInt64
}

// Equality compares the name with String's `==`, which needs Unicode tables in Embedded Swift (see
// Common/Text.swift; a static link of libEdgeCore.a then fails): only the tests need it.
#if !hasFeature(Embedded)
extension JournalCursorStats: Equatable {}
#endif

extension JournalSettings {
    /// The longest cursor name, in bytes (EDGECORE_JOURNAL_CURSOR_NAME_MAX).
    static let cursorNameMax = 32
    static let cursorsMax = 64

    /// 1 ... 32 bytes of A-Z a-z 0-9 _ -: a name that is also a safe part of a file name.
    static func checkCursorName(_ name: String) throws(Failure) {
        let bytes = name.utf8
        let valid = !bytes.isEmpty && bytes.count <= cursorNameMax && bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F || byte == 0x2D
        }
        guard valid else {
            throw Failure(.invalidArgument, "journal cursor name '\(name)' is not 1 to \(cursorNameMax) bytes of A-Z a-z 0-9 _ -")
        }
    }
}
