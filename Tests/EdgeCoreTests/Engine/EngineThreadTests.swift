import CShim
import Foundation
import Synchronization
import Testing

@testable import EdgeCore

/// The engine's thread rules through the C functions, from several threads at once: the scenarios of
/// Tests/CABI/test_engine_threads.c (fewer times each), plus writes across stop and start. `make tsan-test`
/// runs them under the thread sanitizer, which must report nothing.
@Suite(.serialized) struct EngineThreadTests {
    /// Buses are TCP endpoints on a loopback port nobody listens on: every poll yields a DISCONNECTED reading.
    @Test func startRebuildsTheRingUnderAConsumerAndStats() throws {
        for _ in 0..<7 {  // 7 engines x 15 starts that rebuild the ring
            let engine = try makeEngine()
            let done = Atomic(false), gaps = Atomic(0), statsErrors = Atomic(0), drained = Atomic(0)
            let consumer = spawn {
                var next = [UInt32: UInt32]()
                var out = [edgecore_reading](repeating: edgecore_reading(), count: 256)
                func take() {
                    let n = Int(edgecore_engine_drain(engine.pointer, &out, 256))
                    for reading in out.prefix(max(0, n)) {
                        if let expected = next[reading.channel], expected != reading.sequence { gaps.add(1, ordering: .relaxed) }
                        next[reading.channel] = reading.sequence &+ 1
                    }
                    drained.add(max(0, n), ordering: .relaxed)
                }
                while !done.load(ordering: .acquiring) {
                    let rc = edgecore_engine_wait(engine.pointer, 5)
                    if rc > 0 || rc == EDGECORE_E_NOT_RUNNING { take() }
                }
                take()
            }
            let stats = spawn {
                var last = edgecore_ring_stats()
                while !done.load(ordering: .acquiring) {
                    var now = edgecore_ring_stats()
                    if edgecore_engine_ring_stats(engine.pointer, &now) != EDGECORE_OK || now.published < last.published
                        || now.drained < last.drained || now.dropped != 0 {
                        statsErrors.add(1, ordering: .relaxed)
                    }
                    last = now
                }
            }
            for bus in 0..<16 {
                #expect(addSite(engine, bus, intervalMs: bus == 0 ? 2 : 20) == Int32(bus))
                #expect(edgecore_engine_start(engine.pointer) == EDGECORE_OK)
                #expect(edgecore_engine_stop(engine.pointer) == EDGECORE_OK)
            }
            done.store(true, ordering: .releasing)
            consumer.wait()
            stats.wait()
            var final = edgecore_ring_stats()
            #expect(edgecore_engine_ring_stats(engine.pointer, &final) == EDGECORE_OK)
            #expect(final.published == final.drained && final.available == 0)
            #expect(gaps.load(ordering: .relaxed) == 0 && statsErrors.load(ordering: .relaxed) == 0)
            #expect(drained.load(ordering: .relaxed) > 0)
            edgecore_engine_destroy(engine.pointer)
        }
    }

    @Test func configurationUnderLookupsWritesAndStats() throws {
        let engine = try makeEngine()
        defer { edgecore_engine_destroy(engine.pointer) }
        #expect(addSite(engine, 0, intervalMs: 1000) == 0)
        let added = Atomic(1), done = Atomic(false), errors = Atomic(0)
        let readers = (0..<3).map { _ in
            spawn {
                var pick = 0
                while !done.load(ordering: .acquiring) {
                    pick = (pick &* 1103515245 &+ 12345) & 0x7fff_ffff
                    let channel = UInt32(pick % added.load(ordering: .acquiring))
                    var name: UnsafePointer<CChar>? = nil
                    var device: UInt32 = 99, id: UInt32 = 99
                    var deviceStats = edgecore_device_stats()
                    var pulseStats = edgecore_pulse_stats()
                    var value: UInt16 = 1
                    let ok = edgecore_engine_write(engine.pointer, channel, 1, 10) == EDGECORE_E_NOT_RUNNING
                        && edgecore_engine_write_registers(engine.pointer, 0, UInt16(channel), &value, 1, 10) == EDGECORE_E_NOT_RUNNING
                        && edgecore_engine_pulse_stats(engine.pointer, channel, &pulseStats) == EDGECORE_E_NOT_FOUND
                        && edgecore_engine_device_stats(engine.pointer, 0, &deviceStats) == EDGECORE_OK
                        && edgecore_engine_channel_info(engine.pointer, channel, &name, nil, &device) == EDGECORE_OK
                        && name.map { String(cString: $0) } == "ch\(channel)" && device == 0
                        && edgecore_engine_device_info(engine.pointer, 0, &name, nil, nil) == EDGECORE_OK
                        && edgecore_engine_find_channel(engine.pointer, "ch\(channel)", &id) == EDGECORE_OK && id == channel
                        && (pick % 16 != 0 || edgecore_engine_plan(engine.pointer, nil, 0) > 0)
                    if !ok { errors.add(1, ordering: .relaxed) }
                }
            }
        }
        for index in 1..<300 {
            #expect(addChannel(engine, device: 0, index, intervalMs: 1000) == Int32(index))
            added.store(index + 1, ordering: .releasing)
        }
        done.store(true, ordering: .releasing)
        for reader in readers { reader.wait() }
        #expect(errors.load(ordering: .relaxed) == 0)
    }

    @Test func waitIsWokenByStopAndFollowsRestarts() throws {
        let engine = try makeEngine()
        var buses = 0
        #expect(addSite(engine, buses, intervalMs: 3_600_000) == 0)  // one poll per start
        buses += 1
        let run = Atomic(0), readingRun = Atomic(0), woken = Atomic(0), errors = Atomic(0), done = Atomic(false)
        let consumer = spawn {
            var out = [edgecore_reading](repeating: edgecore_reading(), count: 64)
            while !done.load(ordering: .acquiring) {
                let current = run.load(ordering: .acquiring)
                let rc = edgecore_engine_wait(engine.pointer, -1)
                if rc > 0 {  // one poll per run: channel 0's sequence + 1 is the run
                    let n = Int(edgecore_engine_drain(engine.pointer, &out, 64))
                    for reading in out.prefix(max(0, n)) where reading.channel == 0 {
                        readingRun.store(Int(reading.sequence) + 1, ordering: .releasing)
                    }
                } else if rc == EDGECORE_E_NOT_RUNNING {
                    woken.add(1, ordering: .acquiringAndReleasing)
                    while run.load(ordering: .acquiring) == current, !done.load(ordering: .acquiring) { usleep(100) }
                } else {
                    errors.add(1, ordering: .relaxed)
                    usleep(1000)
                }
            }
        }
        var hung = false
        for iteration in 1...100 where !hung {
            if iteration % 10 == 0 {  // one bus more: the next start rebuilds the ring
                #expect(addSite(engine, buses, intervalMs: 3_600_000) >= 0)
                buses += 1
            }
            #expect(edgecore_engine_start(engine.pointer) == EDGECORE_OK)
            run.store(iteration, ordering: .releasing)
            #expect(waitUntil(seconds: 10) { readingRun.load(ordering: .acquiring) == iteration })
            let before = woken.load(ordering: .acquiring)
            #expect(edgecore_engine_stop(engine.pointer) == EDGECORE_OK)
            hung = !waitUntil(seconds: 10) { woken.load(ordering: .acquiring) > before }
        }
        #expect(!hung)
        done.store(true, ordering: .releasing)
        run.store(-1, ordering: .releasing)
        #expect(consumer.wait(seconds: 10))
        #expect(errors.load(ordering: .relaxed) == 0)
        edgecore_engine_destroy(engine.pointer)
    }

    @Test func destroyWakesAWaitingConsumer() throws {
        for _ in 0..<50 {
            let engine = try makeEngine()
            #expect(addSite(engine, 0, intervalMs: 3_600_000) == 0)
            #expect(edgecore_engine_start(engine.pointer) == EDGECORE_OK)
            let inWait = Atomic(false), result = Atomic<Int32>(0)
            let consumer = spawn {
                var out = [edgecore_reading](repeating: edgecore_reading(), count: 64)
                if edgecore_engine_wait(engine.pointer, 5000) > 0 { _ = edgecore_engine_drain(engine.pointer, &out, 64) }
                inWait.store(true, ordering: .releasing)
                result.store(edgecore_engine_wait(engine.pointer, -1), ordering: .releasing)
            }
            #expect(waitUntil(seconds: 10) { inWait.load(ordering: .acquiring) })
            usleep(50_000)  // inside the wait by now (a call that began after destroy would be the caller's error)
            edgecore_engine_destroy(engine.pointer)
            #expect(consumer.wait(seconds: 10))
            #expect(result.load(ordering: .acquiring) == EDGECORE_E_NOT_RUNNING)
        }
    }

    /// A wait woken by a stop leaves its section to look again; a destroy that completes right then (no
    /// section is open) frees the engine, and the wait must not touch it afterwards. The hook holds the
    /// wait between its sections while the test destroys the engine; the address sanitizer run
    /// (`make asan-test`) reports any use of the freed engine.
    @Test func aWaitBetweenSectionsSurvivesADestroy() throws {
        let engine = try makeEngine()
        #expect(addSite(engine, 0, intervalMs: 3_600_000) == 0)
        #expect(edgecore_engine_start(engine.pointer) == EDGECORE_OK)
        let shared = Unmanaged<Engine>.fromOpaque(UnsafeRawPointer(engine.pointer)).takeUnretainedValue().shared
        let left = DispatchSemaphore(value: 0), proceed = DispatchSemaphore(value: 0)
        Engine.waitLeftSection = { seen in
            guard seen === shared else { return }
            left.signal()
            proceed.wait()
        }
        defer { Engine.waitLeftSection = nil }
        let inWait = Atomic(false), result = Atomic<Int32>(0)
        let consumer = spawn {
            var out = [edgecore_reading](repeating: edgecore_reading(), count: 64)
            if edgecore_engine_wait(engine.pointer, 5000) > 0 { _ = edgecore_engine_drain(engine.pointer, &out, 64) }
            inWait.store(true, ordering: .releasing)
            result.store(edgecore_engine_wait(engine.pointer, -1), ordering: .releasing)
        }
        #expect(waitUntil(seconds: 10) { inWait.load(ordering: .acquiring) })
        usleep(100_000)  // asleep in the wait by now
        #expect(edgecore_engine_stop(engine.pointer) == EDGECORE_OK)
        #expect(left.wait(timeout: .now() + 10) == .success)
        edgecore_engine_destroy(engine.pointer)  // completes: the wait is between its sections
        proceed.signal()
        #expect(consumer.wait(seconds: 10))
        #expect(result.load(ordering: .acquiring) == EDGECORE_E_NOT_RUNNING)
    }

    /// Writes from several threads while the engine starts and stops: each ends with a result (never sent:
    /// the bus is down, or the engine stopped, or the deadline passed before it was sent).
    @Test func writesAcrossStopAndStart() throws {
        let engine = try makeEngine()
        defer { edgecore_engine_destroy(engine.pointer) }
        #expect(addSite(engine, 0, intervalMs: 5) == 0)
        let done = Atomic(false), unexpected = Atomic(0), calls = Atomic(0)
        let writers = [0, 1, 20].map { timeoutMs in
            spawn {
                while !done.load(ordering: .acquiring) {
                    let rc = edgecore_engine_write(engine.pointer, 0, 1, Int32(timeoutMs))
                    if ![EDGECORE_E_DISCONNECTED, EDGECORE_E_NOT_RUNNING, EDGECORE_E_TIMEOUT].contains(rc) {
                        unexpected.add(1, ordering: .relaxed)
                    }
                    calls.add(1, ordering: .relaxed)
                }
            }
        }
        for _ in 0..<100 {
            #expect(edgecore_engine_start(engine.pointer) == EDGECORE_OK)
            usleep(200)
            #expect(edgecore_engine_stop(engine.pointer) == EDGECORE_OK)
        }
        done.store(true, ordering: .releasing)
        for writer in writers { writer.wait() }
        #expect(unexpected.load(ordering: .relaxed) == 0 && calls.load(ordering: .relaxed) > 0)
    }
}

// MARK: Helpers

private struct EngineHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

private func makeEngine() throws -> EngineHandle {
    var handle: OpaquePointer? = nil
    #expect(edgecore_engine_create(nil, &handle) == EDGECORE_OK)
    return EngineHandle(pointer: try #require(handle))
}

/// A bus on a port nobody listens on, one device on it and one channel; returns the channel id or < 0.
private func addSite(_ engine: EngineHandle, _ index: Int, intervalMs: UInt32) -> Int32 {
    var busId: UInt32 = 0, deviceId: UInt32 = 0
    let bus = "bus\(index)".withCString { name in
        "127.0.0.1".withCString { host in
            var bus = edgecore_tcp_bus_config()
            edgecore_tcp_bus_config_init(&bus)
            bus.name = name
            bus.host = host
            bus.port = 1
            bus.reconnect_min_ms = 60_000
            bus.reconnect_max_ms = 60_000
            return edgecore_engine_add_tcp_bus(engine.pointer, &bus, &busId)
        }
    }
    let device = "dev\(index)".withCString { name in
        var device = edgecore_device_config()
        edgecore_device_config_init(&device)
        device.name = name
        device.bus = busId
        return edgecore_engine_add_device(engine.pointer, &device, &deviceId)
    }
    guard bus == EDGECORE_OK, device == EDGECORE_OK else { return -1 }
    return addChannel(engine, device: deviceId, index, intervalMs: intervalMs)
}

private func addChannel(_ engine: EngineHandle, device: UInt32, _ index: Int, intervalMs: UInt32) -> Int32 {
    var id: UInt32 = 0
    let rc = "ch\(index)".withCString { name in
        var channel = edgecore_channel_config()
        edgecore_channel_config_init(&channel)
        channel.name = name
        channel.device = device
        channel.address = UInt16(index)
        channel.interval_ms = intervalMs
        channel.writable = 1
        return edgecore_engine_add_channel(engine.pointer, &channel, &id)
    }
    return rc == EDGECORE_OK ? Int32(id) : -1
}

/// A started thread and a way to wait for its end.
private final class Spawned: Sendable {
    private let finished = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> Void) {
        let finished = self.finished
        Thread {
            body()
            finished.signal()
        }.start()
    }

    func wait() { finished.wait() }

    /// False when the thread did not end within `seconds`.
    func wait(seconds: Double) -> Bool { finished.wait(timeout: .now() + seconds) == .success }
}

private func spawn(_ body: @escaping @Sendable () -> Void) -> Spawned { Spawned(body) }

private func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { return false }
        usleep(100)
    }
    return true
}
