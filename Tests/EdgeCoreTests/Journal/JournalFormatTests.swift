import Foundation
import Testing

@testable import EdgeCore

/// The journal's encoding: round trips, and that damage (a flipped byte, a cut, garbage, a wild length) never
/// yields a reading that differs from what was written.
@Suite struct JournalFormatTests {
    private static let header = SegmentHeader(instance: 0x1234_5678_9ABC_DEF0, firstSequence: 100)

    private static func readings(_ count: Int, from base: Int) -> [Reading] {
        (0..<count).map { index in
            let n = base + index
            return Reading(timestamp_ns: 1_700_000_000_000_000_000 + Int64(n), value: Double(n) * 0.5 - 3,
                           channel: UInt32(n % 7), sequence: UInt32(n), status: UInt16(n % 3),
                           status_detail: UInt16(n % 5), reserved: 0)
        }
    }

    /// A segment: header (first sequence 100) then records of 2, 3 and 1 readings.
    private static func segment() -> (bytes: [UInt8], batches: [[Reading]]) {
        var bytes: [UInt8] = []
        JournalFormat.encode(header, into: &bytes)
        let batches = [readings(2, from: 0), readings(3, from: 2), readings(1, from: 5)]
        var first: UInt64 = 100
        for batch in batches {
            batch.withUnsafeBufferPointer { JournalFormat.encodeRecord(first: first, readings: $0, into: &bytes) }
            first += UInt64(batch.count)
        }
        return (bytes, batches)
    }

    private static func scanBody(_ bytes: [UInt8]) -> (ScanResult, [[Reading]]) {
        bytes.withUnsafeBytes { all in
            let body = UnsafeRawBufferPointer(rebasing: all[JournalFormat.segmentHeaderSize...])
            let result = JournalFormat.scanRecords(body, expectedFirst: 100)
            return (result, result.records.map { JournalFormat.decodeReadings(body, record: $0) })
        }
    }

    private static func decodeHeader(_ bytes: [UInt8]) -> SegmentHeaderDecoding {
        bytes.withUnsafeBytes { JournalFormat.decodeSegmentHeader($0) }
    }

    /// Readings compared by their bytes (a NaN value must compare equal to itself).
    private static func same(_ a: [Reading], _ b: ArraySlice<Reading>) -> Bool {
        a.withUnsafeBytes { x in Array(b).withUnsafeBytes { y in x.elementsEqual(y) } }
    }

    @Test func headerRoundTrips() {
        var bytes: [UInt8] = []
        JournalFormat.encode(Self.header, into: &bytes)
        #expect(bytes.count == 32)
        #expect(Array(bytes[0..<8]) == Array("ECJRNL".utf8) + [0, 0])
        #expect(Self.decodeHeader(bytes) == .ok(Self.header))
    }

    @Test func recordsRoundTrip() {
        let (bytes, batches) = Self.segment()
        let (result, decoded) = Self.scanBody(bytes)
        #expect(result.records == [JournalRecord(offset: 0, first: 100, count: 2),
                                   JournalRecord(offset: 80, first: 102, count: 3),
                                   JournalRecord(offset: 192, first: 105, count: 1)])
        #expect(result.validEnd == bytes.count - 32)
        #expect(result.corruptSkipped == 0)
        for (got, want) in zip(decoded, batches) { #expect(Self.same(got, want[...])) }
        // The payload is the readings field by field, little-endian.
        #expect(Array(bytes[32..<36]) == [64, 0, 0, 0])
        #expect(Array(bytes[40..<48]) == [100, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[48 + 16..<48 + 20]) == [0, 0, 0, 0])  // channel 0
    }

    @Test func aLongBatchBecomesSeveralRecords() {
        let many = Self.readings(JournalFormat.maxReadingsPerRecord + 3, from: 0)
        var bytes: [UInt8] = []
        many.withUnsafeBufferPointer { JournalFormat.encodeRecord(first: 7, readings: $0, into: &bytes) }
        let records = bytes.withUnsafeBytes { JournalFormat.scanRecords($0, expectedFirst: 7).records }
        #expect(records.map(\.first) == [7, 7 + UInt64(JournalFormat.maxReadingsPerRecord)])
        #expect(records.map(\.count) == [JournalFormat.maxReadingsPerRecord, 3])
    }

    @Test func everyByteFlipIsDetected() {
        let (original, batches) = Self.segment()
        let written = batches.flatMap { $0 }
        for index in original.indices {
            for mask: UInt8 in [0x01, 0x80, 0xFF, 0x5A] {
                var bytes = original
                bytes[index] ^= mask
                guard case .ok(let header) = Self.decodeHeader(bytes) else {
                    #expect(index < 32, "byte \(index) mask \(mask): header refused")
                    continue
                }
                #expect(header == Self.header)
                let (result, decoded) = Self.scanBody(bytes)
                for (record, got) in zip(result.records, decoded) {
                    let from = Int(record.first - 100)
                    #expect(from + record.count <= written.count && Self.same(got, written[from..<from + record.count]),
                            "byte \(index) mask \(mask): a changed reading was delivered")
                }
                #expect(result.records.count < 3, "byte \(index) mask \(mask): flip not detected")
            }
        }
    }

    @Test func aCorruptMiddleRecordIsSkipped() {
        var (bytes, _) = Self.segment()
        bytes[32 + 80 + 16 + 3] ^= 0x10  // the second record's first reading
        let (result, _) = Self.scanBody(bytes)
        #expect(result.records.map(\.first) == [100, 105])
        #expect(result.corruptSkipped == 1)
        #expect(result.validEnd == bytes.count - 32)
    }

    @Test func truncationKeepsExactlyTheWholeRecords() {
        let (original, _) = Self.segment()
        let ends = [80, 192, 240]  // body offsets where the records end
        for cut in 0...original.count {
            let bytes = Array(original[..<cut])
            guard cut >= 32 else {
                #expect(Self.decodeHeader(bytes) == .corrupt, "cut \(cut)")
                continue
            }
            #expect(Self.decodeHeader(bytes) == .ok(Self.header))
            let (result, _) = Self.scanBody(bytes)
            let whole = ends.filter { $0 <= cut - 32 }
            #expect(result.records.count == whole.count, "cut \(cut)")
            #expect(result.validEnd == (whole.last ?? 0), "cut \(cut)")
            #expect(result.corruptSkipped == 0)
        }
    }

    @Test func garbageAfterTheValidPrefixIsCut() {
        let (original, _) = Self.segment()
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let garbage = (0..<Int.random(in: 1...300, using: &generator)).map { _ in
                round % 4 == 0 ? 0 : UInt8.random(in: 0...255, using: &generator)
            }
            let (result, _) = Self.scanBody(original + garbage)
            #expect(result.records.map(\.first) == [100, 102, 105])
            #expect(result.validEnd == original.count - 32)
        }
    }

    @Test func sequencesGoingBackwardsAreCorrupt() {
        var bytes: [UInt8] = []
        let batch = Self.readings(1, from: 0)
        for first: UInt64 in [100, 101, 100, 102] {
            batch.withUnsafeBufferPointer { JournalFormat.encodeRecord(first: first, readings: $0, into: &bytes) }
        }
        let result = bytes.withUnsafeBytes { JournalFormat.scanRecords($0, expectedFirst: 100) }
        #expect(result.records.map(\.first) == [100, 101, 102])
        #expect(result.corruptSkipped == 1)
    }

    @Test func aNewerVersionIsRefused() {
        var bytes: [UInt8] = []
        JournalFormat.encode(Self.header, into: &bytes)
        bytes[8] = 2
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<28])) }
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(28..<32, with: $0) }
        #expect(Self.decodeHeader(bytes) == .newerVersion(2))
        bytes[8] = 0  // a version field damaged without its checksum is corrupt, not newer
        bytes[9] = 7
        #expect(Self.decodeHeader(bytes) == .corrupt)
    }

    @Test func aWrongMagicIsNotAJournal() {
        var bytes: [UInt8] = []
        JournalFormat.encode(Self.header, into: &bytes)
        bytes[0] = UInt8(ascii: "X")
        #expect(Self.decodeHeader(bytes) == .notAJournal)
        #expect(Self.decodeHeader(Array("hello".utf8)) == .notAJournal)
        #expect(Self.decodeHeader([]) == .corrupt)
    }

    @Test func aWildLengthIsCorruptNotAnAllocation() {
        var (bytes, _) = Self.segment()
        for (index, value) in [UInt8](repeating: 0xFF, count: 4).enumerated() { bytes[32 + 80 + index] = value }
        let (result, _) = Self.scanBody(bytes)
        #expect(result.records.map(\.first) == [100])
        #expect(result.validEnd == 80)
        let wild = JournalRecord(offset: 0, first: 0, count: Int(UInt32.max) / 32)
        #expect(bytes.withUnsafeBytes { JournalFormat.decodeReadings($0, record: wild) }.isEmpty)
    }
}

/// The fuzz corpus's seed segment was written by an independent encoder (Python, from docs/journal-format.md):
/// the Swift decoder must read it as the document says.
@Suite struct JournalFormatDocumentTests {
    @Test func theDocumentedLayoutIsWhatTheDecoderReads() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fuzz/corpus/journal_scan/seed-valid")
        let bytes = [UInt8](try Data(contentsOf: path))
        try bytes.withUnsafeBytes { raw in
            #expect(JournalFormat.decodeSegmentHeader(raw)
                    == .ok(SegmentHeader(instance: 0x1122_3344_5566_7788, firstSequence: 100)))
            let body = UnsafeRawBufferPointer(rebasing: raw[JournalFormat.segmentHeaderSize...])
            let result = JournalFormat.scanRecords(body, expectedFirst: 100)
            #expect(result.records.map(\.first) == [100, 103, 110])
            #expect(result.records.map(\.count) == [3, 1, 5])
            #expect(result.validEnd == body.count && result.corruptSkipped == 0)
            let last = try #require(result.records.last)
            let readings = JournalFormat.decodeReadings(body, record: last)
            #expect(readings.map(\.sequence) == [0, 1, 2, 3, 4])
            #expect(readings.map(\.timestamp_ns) == (0..<5).map { 1_700_000_000_000_000_000 + $0 })
            #expect(readings.map(\.value) == [0, 0.5, 1, 1.5, 2])
            #expect(readings.map(\.channel) == [0, 1, 2, 3, 4])
        }
    }
}
