import CShim
import Foundation
import Testing

@testable import EdgeCore

/// The C functions called from Swift: marshalling and argument checks of Contract/.
@Suite struct ContractTests {
    @Test func createPublishDrainStatsDestroy() throws {
        var handle: OpaquePointer? = nil
        #expect(edgecore_ring_create(16, 2, EDGECORE_OVERFLOW_DROP_OLDEST, &handle) == EDGECORE_OK)
        let ring = try #require(handle)
        defer { edgecore_ring_destroy(ring) }

        var input = [edgecore_reading](repeating: edgecore_reading(), count: 3)
        for index in input.indices { input[index].sequence = UInt32(index); input[index].channel = 9 }
        #expect(edgecore_ring_publish(ring, 1, input, 3) == 3)
        #expect(edgecore_ring_publish(ring, 2, input, 3) == EDGECORE_E_INVALID_LANE)
        #expect(edgecore_ring_publish(ring, 0, nil, 3) == EDGECORE_E_NULL_POINTER)
        #expect(edgecore_ring_publish(ring, 0, input, -1) == EDGECORE_E_INVALID_ARGUMENT) // SIZE_MAX
        #expect(edgecore_ring_wait(ring, 0) == 3)

        var stats = edgecore_ring_stats()
        #expect(edgecore_ring_lane_stats(ring, 1, &stats) == EDGECORE_OK)
        #expect(stats.published == 3 && stats.available == 3 && stats.lanes == 1 && stats.capacity == 16)

        var output = [edgecore_reading](repeating: edgecore_reading(), count: 8)
        #expect(edgecore_ring_drain(ring, &output, 8) == 3)
        #expect(output.prefix(3).map(\.sequence) == [0, 1, 2])
        #expect(edgecore_ring_drain(ring, nil, 8) == EDGECORE_E_NULL_POINTER)
        #expect(edgecore_ring_stats(ring, &stats) == EDGECORE_OK)
        #expect(stats.drained == 3 && stats.lanes == 2)
    }

    @Test func failedCreateClearsTheOutParameter() {
        var handle = OpaquePointer(bitPattern: 0x10)
        #expect(edgecore_ring_create(3, 1, EDGECORE_OVERFLOW_DROP_OLDEST, &handle) == EDGECORE_E_INVALID_CAPACITY)
        #expect(handle == nil)
        #expect(edgecore_ring_create(4, 1, EDGECORE_OVERFLOW_DROP_OLDEST, nil) == EDGECORE_E_NULL_POINTER)
        edgecore_ring_destroy(nil)
    }

    /// The journal's handle through a round trip (the sanitizer runs see its retain and release), and a cursor
    /// name that is not UTF-8, refused with its bytes shown.
    @Test func journalOpenAppendReadClose() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("edgecore-contract-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var handle: OpaquePointer? = nil
        #expect(edgecore_journal_open_sized(folder.path, nil, 0, &handle) == EDGECORE_OK)
        let journal = try #require(handle)
        defer { edgecore_journal_close(journal) }
        #expect(edgecore_journal_add_cursor(journal, "uplink") == 1)
        var input = [edgecore_reading](repeating: edgecore_reading(), count: 3)
        for index in input.indices { input[index].sequence = UInt32(index) }
        var first: UInt64 = 0
        #expect(edgecore_journal_append(journal, input, 3, &first) == 3 && first == 1)
        #expect(edgecore_journal_sync(journal) == EDGECORE_OK)
        var output = [edgecore_reading](repeating: edgecore_reading(), count: 8)
        #expect(edgecore_journal_read(journal, "uplink", &output, 8, &first) == 3 && first == 1)
        #expect(output.prefix(3).map(\.sequence) == [0, 1, 2])

        let name: [CChar] = [0x75, 0x70, CChar(bitPattern: 0xFF), 0]
        #expect(edgecore_journal_add_cursor(journal, name) == EDGECORE_E_INVALID_ARGUMENT)
        #expect(String(cString: edgecore_journal_last_error()!).contains("'up\\xFF'"))
        var stats = edgecore_journal_stats()
        #expect(edgecore_journal_stats_sized(journal, &stats, MemoryLayout<edgecore_journal_stats>.size) == EDGECORE_OK)
        #expect(stats.cursors == 1 && stats.newest_sequence == 3)
    }

    @Test func staticStrings() {
        #expect(String(cString: edgecore_strerror(EDGECORE_E_TIMEOUT)!) == "timed out")
        #expect(String(cString: edgecore_strerror(12345)!) == "unknown result code")
        #expect(String(cString: edgecore_status_name(Int32(EDGECORE_STATUS_SENTINEL.rawValue))!) == "sentinel")
        #expect(String(cString: edgecore_version_string()!) == "\(EDGECORE_VERSION_MAJOR).\(EDGECORE_VERSION_MINOR).\(EDGECORE_VERSION_PATCH)")
        #expect(edgecore_version_number() == EDGECORE_VERSION_NUMBER)
    }
}
