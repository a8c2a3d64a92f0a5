import CShim
import Glibc
import Testing

@testable import EdgeCore

/// A stop request the test controls.
final class TestStop: StopRequest, @unchecked Sendable {
    let eventFD: EventFD? = try? EventFD()
    private let requested = Lock()
    private var flag = false
    var stopRequested: Bool { requested.withLock { flag } }
    func request() {
        requested.withLock { flag = true }
        eventFD?.notify()
    }
}

/// The errno a Failure carries, for comparisons.
func errnoOf<T>(_ body: () throws(Failure) -> T) -> Int32? {
    do throws(Failure) {
        _ = try body()
        return nil
    } catch {
        return error.errno?.rawValue ?? -1
    }
}

/// A TCP listener on 127.0.0.1 with an ephemeral port; `backlog` 0 and one connection left unaccepted
/// make the kernel drop further SYNs, so a connect to it stays in progress.
private struct Listener {
    let fd: Int32
    let port: UInt16

    init(backlog: Int32) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        let listening = listen(fd, backlog)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        try #require(fd >= 0 && bound == 0 && listening == 0)
        self.fd = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    func close() { _ = Glibc.close(fd) }
}

@Suite struct TCPConnectionTests {
    @Test func connectsToAListenerWithACloseOnExecNonBlockingSocket() throws {
        let listener = try Listener(backlog: 4)
        defer { listener.close() }
        let socket = try TCPConnection.open(host: "127.0.0.1", port: listener.port, timeoutMs: 2000, stop: TestStop())
        #expect(fcntl(socket.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(socket.rawValue, F_GETFL) & O_NONBLOCK != 0)
    }

    @Test func aClosedPortIsRefused() throws {
        let listener = try Listener(backlog: 1)
        let port = listener.port
        listener.close()  // nobody listens there now
        #expect(errnoOf { () throws(Failure) in
            try TCPConnection.open(host: "127.0.0.1", port: port, timeoutMs: 2000, stop: TestStop())
        } == ECONNREFUSED)
    }

    @Test func aConnectInProgressEndsAtItsTimeoutOrAtStop() throws {
        let listener = try Listener(backlog: 0)
        defer { listener.close() }
        // Fill the accept queue: later SYNs are dropped and their connects hang.
        var fillers: [FileDescriptor] = []
        for _ in 0..<4 {
            guard let filler = try? TCPConnection.open(host: "127.0.0.1", port: listener.port, timeoutMs: 200,
                                                       stop: TestStop()) else { break }
            fillers.append(filler)
        }
        var started = Clock.monotonicNanoseconds()
        #expect(errnoOf { () throws(Failure) in
            try TCPConnection.open(host: "127.0.0.1", port: listener.port, timeoutMs: 300, stop: TestStop())
        } == ETIMEDOUT)
        let timedOutMs = (Clock.monotonicNanoseconds() - started) / 1_000_000
        #expect(timedOutMs >= 290 && timedOutMs < 2000, "\(timedOutMs) ms")

        let stop = TestStop()
        let stopper = try WorkerThread {
            var pause = timespec(tv_sec: 0, tv_nsec: 100_000_000)
            nanosleep(&pause, nil)
            stop.request()
        }
        started = Clock.monotonicNanoseconds()
        #expect(errnoOf { () throws(Failure) in
            try TCPConnection.open(host: "127.0.0.1", port: listener.port, timeoutMs: 10_000, stop: stop)
        } == ECANCELED)
        let stoppedMs = (Clock.monotonicNanoseconds() - started) / 1_000_000
        stopper.join()
        #expect(stoppedMs < 2000, "\(stoppedMs) ms: the stop request did not cut the connect short")
        #expect(fillers.count > 0)
    }
}

@Suite struct SignalTests {
    @Test func aNotificationBeforeTheWaitIsNotLost() {
        let signal = Signal()
        let seen = signal.generation()
        signal.notify()
        let started = Clock.monotonicNanoseconds()
        signal.wait(generation: seen, until: started + 5_000_000_000)
        #expect(Clock.monotonicNanoseconds() - started < 1_000_000_000)
    }

    @Test func aWaitEndsAtItsDeadline() {
        let signal = Signal()
        let started = Clock.monotonicNanoseconds()
        signal.wait(generation: signal.generation(), until: started + 50_000_000)
        let waited = Clock.monotonicNanoseconds() - started
        #expect(waited >= 49_000_000 && waited < 2_000_000_000, "\(waited) ns")
    }
}
