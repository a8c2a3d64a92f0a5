import CShim
import Testing

@testable import EdgeCore

/// The Modbus worker driven step by step by a scripted transport on a manual clock: no thread, no sleep,
/// no peer. Times are milliseconds after the first step.
@Suite struct ModbusWorkerTests {
    static let ok = UInt16(EDGECORE_STATUS_OK.rawValue)
    static let timeout = UInt16(EDGECORE_STATUS_TIMEOUT.rawValue)
    static let crc = UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue)
    static let exception = UInt16(EDGECORE_STATUS_EXCEPTION.rawValue)
    static let disconnected = UInt16(EDGECORE_STATUS_DISCONNECTED.rawValue)
    static let offline = UInt16(EDGECORE_STATUS_OFFLINE.rawValue)

    /// Times relative to the harness's start, in ms.
    static func relative(_ times: [Int64], _ start: Int64) -> [Int64] { times.map { ($0 - start) / 1_000_000 } }

    @Test func retriesAreCountedAndAnAnswerAfterThemIsOK() throws {
        let site = try workerSite { $0.retries = 2 }
        let h = try WorkerHarness(site, replies: [.timeout, .frame, .answer([42])])
        h.runUntilIdle()
        let readings = h.drain()
        #expect(readings.map(\.status) == [Self.ok])
        #expect(readings.map(\.value) == [42])
        #expect(h.device.requests == 3 && h.device.retries == 2 && h.device.responses == 1)
        #expect(h.device.timeouts == 1 && h.device.frame_errors == 1 && h.device.consecutive_failures == 0)
        #expect(h.bus.transactions == 3)
    }

    @Test func retriesSpentGiveTheLastFailuresStatus() throws {
        let site = try workerSite { $0.retries = 1 }
        let h = try WorkerHarness(site, replies: [.frame, .timeout])
        h.runUntilIdle()
        #expect(h.drain().map(\.status) == [Self.timeout])
        #expect(h.device.requests == 2 && h.device.retries == 1 && h.device.responses == 0)
        #expect(h.device.consecutive_failures == 1)
        #expect(h.device.state == UInt16(EDGECORE_DEVICE_FAILING.rawValue))
    }

    @Test func eachFailureHasItsStatusAndDetail() throws {
        let site = try workerSite(intervalMs: 1000)
        let h = try WorkerHarness(site, replies: [.exception(2), .frame, .timeout, .answer([7]), .disconnect(ECONNRESET)])
        h.run(milliseconds: 4000)
        let readings = h.drain()
        #expect(readings.map(\.status) == [Self.exception, Self.crc, Self.timeout, Self.ok, Self.disconnected])
        #expect(readings.map(\.status_detail) == [2, 0, 0, 0, 0])
        #expect(h.device.last_exception == 2 && h.device.exceptions == 1)
        #expect(h.device.frame_errors == 1 && h.device.timeouts == 1 && h.device.disconnects == 1)
        #expect(h.bus.losses == 1)
        // The last errors as kinds (Contract/ makes them EDGECORE_E_DISCONNECTED and -ECONNRESET).
        #expect(h.deviceError == .disconnected(Errno(ECONNRESET)))
        #expect(h.busError == .system(Errno(ECONNRESET)))
    }

    @Test func sequenceNumbersCountPerChannelAndContinue() throws {
        let site = try workerSite(channels: 2, intervalMs: 1000)
        let h = try WorkerHarness(site)
        h.sequences[1] = 50  // as left by an earlier run
        h.run(milliseconds: 2000)
        let readings = h.drain()
        #expect(readings.filter { $0.channel == 0 }.map(\.sequence) == [0, 1, 2])
        #expect(readings.filter { $0.channel == 1 }.map(\.sequence) == [50, 51, 52])
    }

    @Test func reopenBackOffDoublesToItsMaximumAndResetsAfterAnAnswer() throws {
        let refused = ECONNREFUSED
        let site = try workerSite(intervalMs: 1000)  // reconnect 100..800 ms
        let h = try WorkerHarness(site, replies: [.answer([1]), .disconnect(ECONNRESET)],
                                  opens: [refused, refused, refused, refused, refused, refused, 0, refused, refused, 0])
        let start = h.clock.now
        h.run(milliseconds: 6000)
        #expect(Self.relative(h.transport.openTimes, start) == [0, 100, 300, 700, 1500, 2300, 3100, 5000, 5100, 5300])
        #expect(h.bus.open_failures == 8 && h.bus.opens == 2 && h.bus.losses == 1)
        #expect(h.bus.state == UInt16(EDGECORE_BUS_CONNECTED.rawValue))
        #expect(h.busError == .system(Errno(ECONNREFUSED)))
    }

    /// The peer accepts and closes at once: the connection never carried an answer, so each reconnect
    /// waits a back-off as a failed open would.
    @Test func aPeerThatAcceptsAndClosesIsBackedOff() throws {
        let site = try workerSite(intervalMs: 50)
        let h = try WorkerHarness(site, otherwise: .disconnect(ECONNRESET))
        let start = h.clock.now
        h.run(milliseconds: 3000)
        #expect(Self.relative(h.transport.openTimes, start) == [0, 100, 300, 700, 1500, 2300])
        #expect(h.bus.losses == 6)
    }

    @Test func aDeviceGoesOfflineAfterItsFailuresAndIsProbedAtItsBackOff() throws {
        let site = try workerSite(intervalMs: 100) {
            $0.offlineAfter = 3
            $0.backoffMinMs = 1000
            $0.backoffMaxMs = 4000
        }
        let h = try WorkerHarness(site, otherwise: .timeout)  // response timeout 100 ms
        let start = h.clock.now
        h.run(milliseconds: 12_000)
        // Three failed polls, then probes 1 s, 2 s, 4 s, 4 s after each failed probe ended.
        #expect(Self.relative(h.transport.transactionTimes, start) == [0, 100, 200, 1300, 3400, 7500, 11600])
        let readings = h.drain()
        let skipped = readings.filter { $0.status == Self.offline }.count
        #expect(skipped > 100 && h.device.skipped_offline == UInt64(skipped))
        #expect(readings.filter { $0.status == Self.timeout }.count == 7)
        #expect(h.device.state == UInt16(EDGECORE_DEVICE_OFFLINE.rawValue))
        // It answers again: online at the next probe, polled at its interval.
        h.transport.otherwise = .answer([5])
        h.run(milliseconds: 4000)
        #expect(h.device.state == UInt16(EDGECORE_DEVICE_ONLINE.rawValue))
        #expect(h.drain().filter { $0.status == Self.ok }.count > 1)
    }

    /// A poll that held the bus 5 s: the request catches up the cycles within the 2 s window, at once and
    /// in order, and skips (and counts) the ones before it.
    @Test func lateRequestsCatchUpWithinTheWindowAndSkipTheRest() throws {
        let site = try workerSite(intervalMs: 100)
        let h = try WorkerHarness(site, replies: [.after(milliseconds: 5000, .answer([1]))])
        let start = h.clock.now
        h.run(milliseconds: 5100)
        let times = Self.relative(h.transport.transactionTimes, start)
        #expect(times.first == 0)
        #expect(times.filter { $0 == 5000 }.count == 20)  // deadlines 3100, 3200 ... 5000
        #expect(times.last == 5100)
        #expect(h.bus.skipped_polls == 30)  // deadlines 100 ... 3000
    }

    /// A write queued while the silent gap runs waits for its end, then goes before the poll due then.
    @Test func aWriteGoesBeforeDuePollsButAfterTheSilentGap() throws {
        let site = try workerSite(channels: 2, intervalMs: 1000, requestGapMs: 50)
        let h = try WorkerHarness(site)
        let start = h.clock.now
        #expect(h.worker.step() == .again)  // open, poll of c0
        let job = WriteJob(.modbus(device: 0, address: 0, .registers([9])))
        h.worker.enqueue(job)
        guard case .idle(let wakeAt, _) = h.worker.step() else {
            Issue.record("the worker did not wait for the gap")
            return
        }
        #expect(wakeAt == start + 50_000_000)
        h.clock.now = start + 50_000_000
        h.run(milliseconds: 50)
        #expect(h.transport.wire == [.open, .read(.holdingRegisters, address: 0, count: 1, unit: 1),
                                     .writeRegisters(address: 0, [9], unit: 1),
                                     .read(.holdingRegisters, address: 200, count: 1, unit: 1)])
        #expect(Self.relative(h.transport.transactionTimes, start) == [0, 50, 100])
        #expect(job.wait(timeoutMilliseconds: -1).map { (try? $0.get()) != nil } == true)
    }

    @Test func aWriteNotClaimedByItsDeadlineIsNeverSent() throws {
        let h = try WorkerHarness(try workerSite())
        let job = WriteJob(.modbus(device: 0, address: 0, .registers([9])))
        h.worker.enqueue(job)
        #expect(job.wait(timeoutMilliseconds: 0) == nil)  // the caller gives up before the worker looks
        h.runUntilIdle()
        #expect(!h.transport.wire.contains { $0.kind == .write })
        #expect(h.transport.wire.contains { $0.kind == .read })
    }

    @Test func aWriteAnsweredWithAnExceptionCarriesItsCode() throws {
        let h = try WorkerHarness(try workerSite { $0.retries = 3 }, replies: [.answer([]), .exception(3)])
        h.runUntilIdle()
        let job = WriteJob(.modbus(device: 0, address: 0, .registers([9])))
        h.worker.enqueue(job)
        h.runUntilIdle()
        guard case .failure(let failure)? = job.wait(timeoutMilliseconds: -1) else {
            Issue.record("the write did not fail")
            return
        }
        #expect(failure.kind == .deviceException(3))
        #expect(h.transport.wire.filter { $0.kind == .write }.count == 1)  // an exception is not retried
        #expect(h.device.last_exception == 3)
    }

    @Test func stopEndsTheLoopAndFailsWaitingWrites() throws {
        let h = try WorkerHarness(try workerSite())
        h.runUntilIdle()
        h.worker.stop()
        let job = WriteJob(.modbus(device: 0, address: 0, .registers([9])))
        h.worker.enqueue(job)
        #expect(h.worker.step() == .stop)
        h.worker.finish()
        guard case .failure(let failure)? = job.wait(timeoutMilliseconds: -1) else {
            Issue.record("the write did not fail")
            return
        }
        #expect(failure.kind == .notRunning)
        #expect(!h.transport.isOpen && h.bus.state == UInt16(EDGECORE_BUS_STOPPED.rawValue))
    }
}
