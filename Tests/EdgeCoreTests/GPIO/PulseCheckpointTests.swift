import CShim
import Foundation
import Synchronization
import Testing

@testable import EdgeCore

/// A flash whose every sync takes 300 ms (a worn SD card), counting the syncs begun and ended.
private let syncsBegun = Atomic<Int>(0)
private let syncsEnded = Atomic<Int>(0)
private let slowSync: @convention(c) (Int32) -> Int32 = { fd in
    syncsBegun.add(1, ordering: .sequentiallyConsistent)
    defer { syncsEnded.add(1, ordering: .sequentiallyConsistent) }
    usleep(300_000)
    return fsync(fd)
}

private func syncing() -> Bool {
    syncsBegun.load(ordering: .sequentiallyConsistent) > syncsEnded.load(ordering: .sequentiallyConsistent)
}

/// A simulated chip folder with one input line "s0" (SimulatedChip.swift), its edge FIFO open for writing.
private final class SimulatedMeter {
    let folder: String
    private(set) var edges: Int32 = -1
    private var sequence: UInt32 = 0

    init() throws {
        var template = Array("/tmp/edgecore-checkpoint-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        folder = String(cString: made)
        try "s0\n".write(toFile: folder + "/lines", atomically: false, encoding: .utf8)
        try "0\n".write(toFile: folder + "/0.value", atomically: false, encoding: .utf8)
        guard mkfifo(folder + "/0.edges", 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    deinit {
        if edges >= 0 { close(edges) }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Opens the FIFO (once EdgeCore has requested the line, it holds the reading end).
    func connect() {
        if edges >= 0 { close(edges) }
        edges = open(folder + "/0.edges", O_WRONLY | O_NONBLOCK)
    }

    /// One edge record; false when the queue (the FIFO) is full and the edge is lost, as in a kernel queue.
    /// Its sequence number is used either way, so that EdgeCore sees the gap.
    func send(level: UInt32) -> Bool {
        sequence += 1
        var record = (ec_monotonic_ns(), level, sequence)
        return withUnsafeBytes(of: &record) { write(edges, $0.baseAddress, 16) } == 16
    }

    func site(checkpoint: String) -> String {
        """
        buses:
          - name: io
            type: gpio
            chip: "sim:\(folder)"
            checkpoint_path: "\(checkpoint)"
            checkpoint_max_per_hour: 3600
            event_buffer_size: 16
            lines:
              - {name: s0, offset: 0, kind: pulses, edge: both, interval_ms: 50}
        """
    }
}

private func pulses(_ engine: OpaquePointer?) -> edgecore_pulse_stats {
    var stats = edgecore_pulse_stats()
    _ = edgecore_engine_pulse_stats(engine, 0, &stats)
    return stats
}

/// Polls `condition` every millisecond for at most `milliseconds`.
private func within(_ milliseconds: Int, _ condition: () -> Bool) -> Bool {
    for _ in 0..<milliseconds {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// Whether each descriptor synced had FD_CLOEXEC (the sync hook sees every file the checkpoint writes).
private let syncedWithCloseOnExec = Atomic<Int>(0)
private let syncedWithout = Atomic<Int>(0)
private let recordingSync: @convention(c) (Int32) -> Int32 = { fd in
    if fcntl(fd, F_GETFD) & FD_CLOEXEC != 0 {
        syncedWithCloseOnExec.add(1, ordering: .sequentiallyConsistent)
    } else {
        syncedWithout.add(1, ordering: .sequentiallyConsistent)
    }
    return fsync(fd)
}

@Suite(.serialized) struct PulseCheckpointTests {
    /// The checkpoint's files (the temporary file and the folder) are close-on-exec while they are open, and
    /// a save replaces the file; load reads it back.
    @Test func checkpointFilesAreCloseOnExecAndReadBack() throws {
        let meter = try SimulatedMeter()
        let path = FilePath(meter.folder + "/pulses")
        checkpointSync = recordingSync
        defer { checkpointSync = { fsync($0) } }
        var checkpoint = PulseCheckpoint(path: path, maxPerHour: 60)
        try checkpoint.save([(name: "s0", count: 7), (name: "rain", count: 12)], now: 0, force: true)
        try checkpoint.save([(name: "s0", count: 8), (name: "rain", count: 12)], now: 1, force: true)
        #expect(syncedWithout.load(ordering: .sequentiallyConsistent) == 0)
        #expect(syncedWithCloseOnExec.load(ordering: .sequentiallyConsistent) == 4)  // file and folder, twice
        let loaded = try PulseCheckpoint.load(path: path)
        #expect(loaded.map { $0.name } == ["s0", "rain"] && loaded.map { $0.count } == [8, 12])
        #expect(try PulseCheckpoint.load(path: FilePath(meter.folder + "/none")).isEmpty)
        try "s0 8\n".write(toFile: meter.folder + "/bad", atomically: false, encoding: .utf8)
        do throws(Failure) {
            _ = try PulseCheckpoint.load(path: FilePath(meter.folder + "/bad"))
            Issue.record("loaded a malformed checkpoint")
        } catch {
            #expect(error.kind == .configFile && error.message == meter.folder + "/bad:1: expected 'channel<TAB>count'")
        }
    }

    /// The checkpoint's write and fsync run off the thread that reads edge events: 320 edges sent while a
    /// 300 ms sync is in progress (more than the 256 records the queue holds) are all counted before that
    /// sync ends, none is lost; stop and destroy still return only after the final checkpoint is synced.
    @Test func edgesDuringASlowSyncAreCountedAtOnceAndTheFinalCheckpointIsSynced() throws {
        let meter = try SimulatedMeter()
        let checkpoint = meter.folder + "/pulses.checkpoint"
        let site = meter.folder + "/site.yaml"
        try meter.site(checkpoint: checkpoint).write(toFile: site, atomically: false, encoding: .utf8)
        checkpointSync = slowSync
        defer { checkpointSync = { fsync($0) } }

        var engine: OpaquePointer? = nil
        #expect(edgecore_engine_create(nil, &engine) == EDGECORE_OK)
        #expect(edgecore_engine_load_yaml(engine, site) == EDGECORE_OK)
        #expect(edgecore_engine_start(engine) == EDGECORE_OK)
        meter.connect()
        // The first report writes the first checkpoint at once: wait until its slow sync is under way.
        try #require(within(2000) { syncing() })
        var refused = 0
        for edge in 1...320 {
            if !meter.send(level: UInt32(edge % 2)) { refused += 1 }
            usleep(200)
        }
        var countedWhileSyncing = false
        let counted = within(150) {
            countedWhileSyncing = syncing()
            return pulses(engine).count >= 320
        }
        let stats = pulses(engine)
        #expect(counted && countedWhileSyncing, "the event thread waited for the sync: \(stats.count) of 320 counted")
        #expect(refused == 0, "\(refused) edges found the queue full")
        #expect(stats.count == 320 && stats.lost == 0)

        #expect(edgecore_engine_stop(engine) == EDGECORE_OK)
        #expect(!syncing())  // the final checkpoint was synced before stop returned
        #expect(try String(contentsOfFile: checkpoint, encoding: .utf8) == "s0\t320\n")
        edgecore_engine_destroy(engine)

        // destroy without stop: the same
        engine = nil
        #expect(edgecore_engine_create(nil, &engine) == EDGECORE_OK)
        #expect(edgecore_engine_load_yaml(engine, site) == EDGECORE_OK)
        #expect(edgecore_engine_start(engine) == EDGECORE_OK)
        meter.connect()
        for edge in 1...10 { _ = meter.send(level: UInt32(edge % 2)) }
        #expect(within(2000) { pulses(engine).count >= 330 })
        edgecore_engine_destroy(engine)
        #expect(!syncing())
        #expect(try String(contentsOfFile: checkpoint, encoding: .utf8) == "s0\t330\n")
    }
}
