import CShim

/// A stop request, and an eventfd (or nil) that becomes readable when one may have come.
protocol StopRequest: AnyObject {
    var eventFD: EventFD? { get }
    var stopRequested: Bool { get }
}

/// TCP connects that a stop request can cut short: non-blocking sockets set up as libmodbus sets up its
/// own, and poll() on the socket and on the stop request's eventfd together.
enum TCPConnection {
    /// Connects to host:port, trying each address in turn, all within `timeoutMs`. Returns the connected
    /// socket (non-blocking, close-on-exec). Fails with .system(errno): ETIMEDOUT, ECANCELED (`stop` was
    /// requested: checked whenever its eventfd is signalled), ENXIO (no such host), the connect's own error.
    /// A numeric host never blocks; a host name is looked up first with getaddrinfo(), which blocks for
    /// as long as the resolver takes (its timeout and attempts in resolv.conf).
    static func open(host: String, port: UInt16, timeoutMs: UInt32,
                     stop: any StopRequest) throws(Failure) -> FileDescriptor {
        let deadline = Clock.monotonicNanoseconds() + Int64(timeoutMs) * 1_000_000
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let error = host.withCString { name in
            let numeric = ec_tcp_addresses(name, port, 1, &list)
            return numeric == 0 ? 0 : ec_tcp_addresses(name, port, 0, &list)
        }
        defer { if list != nil { freeaddrinfo(list) } }
        var result: Outcome = .failure(Errno(error == 0 ? ENXIO : error))
        var address = list
        while let current = address {
            result = connect(current, until: deadline, stop: stop)
            if case .failure(let errno) = result, errno != .timedOut, errno != .canceled {
                address = current.pointee.ai_next
                continue
            }
            break
        }
        switch result {
        case .success(let socket): return socket
        case .failure(let errno): throw Failure.system(errno, "connect to \(host):\(port)")
        }
    }

    private enum Outcome {
        case success(FileDescriptor)
        case failure(Errno)
    }

    /// The socket connected to `address`.
    private static func connect(_ address: UnsafeMutablePointer<addrinfo>, until deadline: Int64,
                                stop: any StopRequest) -> Outcome {
        var inProgress: Int32 = 0
        let fd = ec_tcp_connect_start(address, &inProgress)
        guard fd >= 0 else { return .failure(Errno(-fd)) }
        let socket = FileDescriptor(adopting: fd)
        var poll = Poll()
        let connecting = poll.add(fd, writable: true)
        let stopping = poll.add(stop.eventFD?.rawValue ?? -1)
        while inProgress != 0 {
            if stop.stopRequested { return .failure(.canceled) }
            if Clock.monotonicNanoseconds() >= deadline { return .failure(.timedOut) }
            do throws(Failure) {
                _ = try poll.wait(until: deadline)
            } catch {
                if case .system(let errno) = error.kind { return .failure(errno) }
                return .failure(.ioError)
            }
            if poll.isReady(stopping) { stop.eventFD?.drain() }  // poll() sleeps again after a wake-up
            if poll.isReady(connecting) {
                let error = ec_socket_error(fd)
                return error == 0 ? .success(socket) : .failure(Errno(error))
            }
        }
        return .success(socket)
    }
}
