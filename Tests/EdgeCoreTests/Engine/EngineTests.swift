import CShim
import Foundation
import Testing

@testable import EdgeCore

/// The engine with an injected worker factory: fake workers that record what the engine asks of them.
@Suite struct EngineTests {
    /// What the fake workers saw, shared by the factory and the test.
    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var events: [String] = []
        var jobs: [(bus: Int, job: WriteJob)] = []
        func add(_ event: String) { lock.withLock { events.append(event) } }
    }

    final class FakeWorker: EngineWorker, @unchecked Sendable {
        let busId: Int
        let log: Log
        let failsToStart: Bool
        let holdsOutputsAfterStop: Bool
        init(busId: Int, log: Log, failsToStart: Bool, holds: Bool) {
            self.busId = busId
            self.log = log
            self.failsToStart = failsToStart
            self.holdsOutputsAfterStop = holds
        }
        func start() throws(Failure) {
            if failsToStart { throw Failure.system(Errno(EAGAIN), "pthread_create") }
            log.add("start \(busId)")
        }
        func stop() { log.add("stop \(busId)") }
        func enqueue(_ job: WriteJob) {
            log.lock.withLock { log.jobs.append((busId, job)) }
            job.complete(nil)
        }
    }

    /// An engine over `buses` TCP buses, one device and one writable u16 channel on each.
    static func makeEngine(buses: Int, log: Log, failing: Set<Int> = [], holding: Set<Int> = [],
                           made: ((FakeWorker) -> Void)? = nil) throws -> Engine {
        let engine = try Engine(ringCapacity: 64, overflow: EDGECORE_OVERFLOW_DROP_OLDEST) { setup throws(Failure) in
            let worker = FakeWorker(busId: setup.busId, log: log, failsToStart: failing.contains(setup.busId),
                                    holds: holding.contains(setup.busId))
            made?(worker)
            return worker
        }
        try addBuses(buses, to: engine)
        return engine
    }

    /// `buses` TCP buses, one device and one writable u16 channel on each (channel i on bus i).
    static func addBuses(_ buses: Int, to engine: Engine) throws {
        try engine.configure { config throws(Failure) in
            for index in 0..<buses {
                let bus = try config.addBus(.tcp(TCPBusSpec(name: "bus\(index)", host: "127.0.0.1")))
                let device = try config.addDevice(DeviceSpec(name: "dev\(index)", bus: bus))
                let codec = ValueCodec(type: .u16, order: .abcd, bit: 0, scale: 1, offset: 0, validMin: nil,
                                       validMax: nil, sentinels: [])
                var channel = ChannelSpec(name: "c\(index)", device: device, function: .holdingRegisters, address: 7,
                                          codec: codec)
                channel.writable = true
                _ = try config.addChannel(channel)
            }
        }
    }

    @Test func aWorkerThatFailsToStartStopsTheOnesStarted() throws {
        let log = Log()
        let engine = try Self.makeEngine(buses: 3, log: log, failing: [1])
        do throws(Failure) {
            try engine.start()
            Issue.record("the engine started")
        } catch {
            #expect(error.kind == .system(Errno(EAGAIN)))
            #expect(error.message.hasPrefix("cannot start the worker of bus 'bus1': pthread_create"))
        }
        #expect(log.events == ["start 0", "stop 0"])
        #expect(!engine.isRunning)
    }

    @Test func writesGoToTheWorkerOfTheirBus() throws {
        let log = Log()
        let engine = try Self.makeEngine(buses: 3, log: log)
        try engine.start()
        try engine.write(channel: 1, value: 5, timeoutMilliseconds: 1000)
        try engine.writeRaw(device: 2, address: 7, registers: [6], coils: nil, timeoutMilliseconds: 1000)
        #expect(log.jobs.map(\.bus) == [1, 2])
        let written = log.jobs.map { job -> String in
            guard case .modbus(let device, let address, .registers(let values)) = job.job.target else { return "?" }
            return "\(device)@\(address)=\(values)"
        }
        #expect(written == ["1@7=[5]", "2@7=[6]"])
        engine.stop()
        do throws(Failure) {
            try engine.write(channel: 1, value: 5, timeoutMilliseconds: 1000)
            Issue.record("a write to a stopped engine succeeded")
        } catch {
            #expect(error.kind == .notRunning)
        }
    }

    @Test func stopWakesAWaitingConsumer() throws {
        let log = Log()
        let engine = try Self.makeEngine(buses: 1, log: log)
        try engine.start()
        let returned = DispatchSemaphore(value: 0)
        let result = ResultBox()
        Thread.detachNewThread {
            do throws(Failure) {
                _ = try engine.wait(timeoutMilliseconds: -1)
            } catch {
                result.value = error.kind
            }
            returned.signal()
        }
        usleep(50_000)  // let the consumer block (the test holds either way)
        engine.stop()
        let woke = returned.wait(timeout: .now() + 5) == .success
        #expect(woke)
        #expect(result.value == .notRunning)
        if !woke {
            engine.close()  // wakes it for good, so the thread ends
            _ = returned.wait(timeout: .now() + 5)
        }
    }

    /// A worker that holds outputs (GPIO) lives on after stop until the next start; others are released.
    @Test func workersHoldingOutputsAreKeptUntilTheNextStart() throws {
        let log = Log()
        let made = WeakWorkers()
        let engine = try Self.makeEngine(buses: 2, log: log, holding: [1]) { made.add($0) }
        try engine.start()
        engine.stop()
        #expect(made.alive == [1])
        try engine.start()
        #expect(made.alive == [0, 1])  // the two of the new run; the held one is gone
        #expect(made.count == 4)
        engine.stop()
    }
}

private final class ResultBox: @unchecked Sendable {
    var value: Failure.Kind? = nil
}

private final class WeakWorkers: @unchecked Sendable {
    private struct Weak { weak var worker: EngineTests.FakeWorker? }
    private var workers: [Weak] = []
    func add(_ worker: EngineTests.FakeWorker) { workers.append(Weak(worker: worker)) }
    var alive: [Int] { workers.compactMap { $0.worker?.busId } }
    var count: Int { workers.count }
}
