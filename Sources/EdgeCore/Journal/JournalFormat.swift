/// The journal's bytes on flash, as pure functions over memory (no file I/O): the segment header, the
/// records, and the scanner that finds the whole, valid records of a segment after a crash.
/// docs/journal-format.md is the specification; keep the two in step. Little-endian throughout.
enum JournalFormat {
    /// The format this code writes and the newest it reads.
    static let version: UInt32 = 1
    /// "ECJRNL\0\0".
    static let magic: UInt64 = 0x0000_4C4E_524A_4345
    static let segmentHeaderSize = 32
    static let recordHeaderSize = 16
    static let readingSize = 32
    /// Readings in one record at most: a corrupt length can make the scanner look at no more than
    /// 16 + 4096 * 32 bytes (128 KiB) ahead, and never allocate for it.
    static let maxReadingsPerRecord = 4096
    /// Sequence numbers stay below 2^63, so first + count never overflows, in the scanner or in an append
    /// after a journal recovered from a crafted file.
    static let sequenceLimit: UInt64 = 1 << 63
}

#if _endian(big)
#error("the journal format is little-endian: records copy edgecore_reading's bytes as they are in memory")
#endif

// MARK: - Segment header

/// Bytes 0..<32 of every segment file: magic (8), version UInt32 (at 8), instance id UInt64 (at 12), first
/// sequence UInt64 (at 20), CRC32C of bytes 0..<28 (at 28). Every later version keeps these 32 bytes
/// (it may add its own after them), so this version can tell "newer" from "corrupt".
struct SegmentHeader: Equatable {
    /// Random per journal, the same in all its segments: a segment of another journal copied in is not ours.
    var instance: UInt64
    /// The sequence number of the segment's first reading.
    var firstSequence: UInt64
}

enum SegmentHeaderDecoding: Equatable {
    case ok(SegmentHeader)
    /// The file does not start with the magic: not a journal segment (refuse, name the file).
    case notAJournal
    /// A valid header of a newer format version: refuse, never misread.
    case newerVersion(UInt32)
    /// The magic is there but the header is torn or damaged (checksum, version 0, shorter than 32 bytes).
    case corrupt
}

extension JournalFormat {
    static func encode(_ header: SegmentHeader, into bytes: inout [UInt8]) {
        let start = bytes.count
        appendLittleEndian(magic, to: &bytes)
        appendLittleEndian(version, to: &bytes)
        appendLittleEndian(header.instance, to: &bytes)
        appendLittleEndian(header.firstSequence, to: &bytes)
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<start + 28])) }
        appendLittleEndian(crc, to: &bytes)
    }

    /// Checks the checksum before the version: a damaged version field is corrupt, never "newer", so damage
    /// cannot make the journal refuse to open.
    static func decodeSegmentHeader(_ bytes: UnsafeRawBufferPointer) -> SegmentHeaderDecoding {
        let magicBytes = withUnsafeBytes(of: magic.littleEndian) { Array($0) }
        for index in 0..<min(bytes.count, 8) where bytes[index] != magicBytes[index] { return .notAJournal }
        guard bytes.count >= segmentHeaderSize else { return .corrupt }
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<28]))
        guard crc == load(UInt32.self, bytes, at: 28) else { return .corrupt }
        let found = load(UInt32.self, bytes, at: 8)
        if found > version { return .newerVersion(found) }
        guard found == version else { return .corrupt }
        return .ok(SegmentHeader(instance: load(UInt64.self, bytes, at: 12),
                                 firstSequence: load(UInt64.self, bytes, at: 20)))
    }
}

// MARK: - Records

/// A whole, valid record found by the scanner: its offset in the scanned bytes and its readings' sequences
/// first ..< first + count.
struct JournalRecord: Equatable {
    var offset: Int
    var first: UInt64
    var count: Int

    var size: Int { JournalFormat.recordHeaderSize + count * JournalFormat.readingSize }
    /// The sequence after this record's last reading.
    var next: UInt64 { first + UInt64(count) }
}

/// A whole record the scanner skipped (bad checksum or sequence): its offset in the scanned bytes and size.
struct SkippedRecord: Equatable {
    var offset: Int
    var size: Int
}

struct ScanResult: Equatable {
    /// The valid records, in order, sequences strictly increasing.
    var records: [JournalRecord] = []
    /// Bytes 0..<validEnd are whole records (valid ones and skipped corrupt ones); what follows is a torn
    /// tail (or damage the scanner cannot step over), to be cut off before appending.
    var validEnd = 0
    /// Whole records skipped because their checksum failed or their sequence went backwards.
    var corruptSkipped = 0
    /// Where those skipped records are: offset in the scanned bytes and size, in order.
    var skipped: [SkippedRecord] = []
}

extension JournalFormat {
    /// Appends `readings` as records numbered from `first`: one record per batch of up to
    /// `maxReadingsPerRecord` readings (a longer batch becomes several records). Nothing for no readings.
    /// The caller keeps `first + readings.count` below `sequenceLimit` (the scanner rejects records beyond).
    static func encodeRecord(first: UInt64, readings: UnsafeBufferPointer<Reading>, into bytes: inout [UInt8]) {
        var done = 0
        while done < readings.count {
            let count = min(readings.count - done, maxReadingsPerRecord)
            let start = bytes.count
            appendLittleEndian(UInt32(count * readingSize), to: &bytes)
            appendLittleEndian(UInt32(0), to: &bytes)  // the CRC, below
            appendLittleEndian(first &+ UInt64(done), to: &bytes)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(readings)[
                done * readingSize..<(done + count) * readingSize]))
            let crc = bytes.withUnsafeBytes { recordChecksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(start + 4..<start + 8, with: $0) }
            done += count
        }
    }

    /// Walks `bytes` (a segment's body: what follows its 32-byte header) from its start. Records must start
    /// at or after `expectedFirst` (the header's first sequence) and their sequences must strictly increase.
    ///
    /// Recovery (docs/journal-format.md): a record header whose length is 0, not a multiple of 32, above
    /// `maxReadingsPerRecord` readings or reaching past the end ends the valid prefix (a torn tail). A whole
    /// record whose checksum fails or whose sequence goes backwards is skipped by its length, counted in
    /// `corruptSkipped`, only if a valid record starts right after it; otherwise the valid prefix ends at it.
    static func scanRecords(_ bytes: UnsafeRawBufferPointer, expectedFirst: UInt64?) -> ScanResult {
        var result = ScanResult()
        var minimumFirst = expectedFirst ?? 0
        var offset = 0
        while true {
            switch inspectRecord(bytes, at: offset, minimumFirst: minimumFirst) {
            case .valid(let record):
                result.records.append(record)
                minimumFirst = record.next
                offset += record.size
            case .damaged(let size):
                guard case .valid = inspectRecord(bytes, at: offset + size, minimumFirst: minimumFirst) else {
                    result.validEnd = offset
                    return result
                }
                result.corruptSkipped += 1
                result.skipped.append(SkippedRecord(offset: offset, size: size))
                offset += size
            case .implausible:
                result.validEnd = offset
                return result
            }
        }
    }

    /// The readings of `record`, a record that `scanRecords` found in the same `bytes`; none if it does not fit.
    static func decodeReadings(_ bytes: UnsafeRawBufferPointer, record: JournalRecord) -> [Reading] {
        let start = record.offset + recordHeaderSize
        guard record.offset >= 0, record.count >= 0, record.count <= maxReadingsPerRecord,
              start <= bytes.count, bytes.count - start >= record.count * readingSize else { return [] }
        return [Reading](unsafeUninitializedCapacity: record.count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(
                from: UnsafeRawBufferPointer(rebasing: bytes[start..<start + record.count * readingSize]))
            initialized = record.count
        }
    }

    private enum Inspection {
        case valid(JournalRecord)
        /// A plausible header and a whole record of `size` bytes, but a bad checksum or sequence.
        case damaged(size: Int)
        case implausible
    }

    private static func inspectRecord(_ bytes: UnsafeRawBufferPointer, at offset: Int,
                                      minimumFirst: UInt64) -> Inspection {
        guard offset <= bytes.count, bytes.count - offset >= recordHeaderSize else { return .implausible }
        let length = Int(load(UInt32.self, bytes, at: offset))
        guard length > 0, length % readingSize == 0, length <= maxReadingsPerRecord * readingSize,
              bytes.count - offset - recordHeaderSize >= length else { return .implausible }
        let size = recordHeaderSize + length
        let record = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size])
        guard recordChecksum(record) == load(UInt32.self, bytes, at: offset + 4) else { return .damaged(size: size) }
        let first = load(UInt64.self, bytes, at: offset + 8)
        let count = length / readingSize
        guard first >= minimumFirst, first < sequenceLimit - UInt64(count) else { return .damaged(size: size) }
        return .valid(JournalRecord(offset: offset, first: first, count: count))
    }

    /// CRC32C of a record's length (bytes 0..<4), first sequence and payload (bytes 8...): everything but
    /// the checksum itself.
    private static func recordChecksum(_ record: UnsafeRawBufferPointer) -> UInt32 {
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[0..<4]))
        return CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: record[8...]))
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// The caller has checked that `offset + size` is within `bytes`.
    private static func load<T: FixedWidthInteger>(_ type: T.Type, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
