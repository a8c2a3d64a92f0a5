import CShim

/// A stop request, and an eventfd (or -1) that becomes readable when one may have come.
protocol StopRequest: AnyObject {
    var eventFD: Int32 { get }
    var stopRequested: Bool { get }
}

/// TCP connects that a stop request can cut short: non-blocking sockets set up as libmodbus sets up its
/// own, and poll() on the socket and on the stop request's eventfd together.
enum TCPConnection {
    /// Connects to host:port, trying each address in turn, all within `timeoutMs`. Returns the connected
    /// socket (non-blocking, close-on-exec), or -errno: -ETIMEDOUT, -ECANCELED (`stop` was requested:
    /// checked whenever its eventfd is signalled), -ENXIO (no such host), the connect's own error.
    /// A numeric host never blocks; a host name is looked up first with getaddrinfo(), which blocks for
    /// as long as the resolver takes (its timeout and attempts in resolv.conf).
    static func open(host: String, port: UInt16, timeoutMs: UInt32, stop: any StopRequest) -> Int32 {
        let deadline = Clock.monotonicNanoseconds() + Int64(timeoutMs) * 1_000_000
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let error = host.withCString { name in
            let numeric = ec_tcp_addresses(name, port, 1, &list)
            return numeric == 0 ? 0 : ec_tcp_addresses(name, port, 0, &list)
        }
        var result = -(error == 0 ? ENXIO : error)
        var address = list
        while let current = address {
            result = connect(current, until: deadline, stop: stop)
            if result >= 0 || result == -ETIMEDOUT || result == -ECANCELED { break }
            address = current.pointee.ai_next
        }
        if list != nil { freeaddrinfo(list) }
        return result
    }

    /// The socket connected to `address`, or -errno.
    private static func connect(_ address: UnsafeMutablePointer<addrinfo>, until deadline: Int64,
                                stop: any StopRequest) -> Int32 {
        var inProgress: Int32 = 0
        let socket = ec_tcp_connect_start(address, &inProgress)
        var error = socket < 0 ? -socket : 0
        var fds = (pollfd(fd: socket, events: Int16(POLLOUT), revents: 0),
                   pollfd(fd: stop.eventFD, events: Int16(POLLIN), revents: 0))
        while inProgress != 0 {
            let left = deadline - Clock.monotonicNanoseconds()
            if stop.stopRequested || left <= 0 {
                error = stop.stopRequested ? ECANCELED : ETIMEDOUT
                break
            }
            let timeout = Int32(clamping: (left + 999_999) / 1_000_000)
            _ = withUnsafeMutablePointer(to: &fds) { pair in
                pair.withMemoryRebound(to: pollfd.self, capacity: 2) { poll($0, 2, timeout) }
            }
            if fds.1.revents != 0 {
                var count: UInt64 = 0
                _ = read(fds.1.fd, &count, 8)  // empty it: poll() sleeps again after a write's wake-up
            }
            if fds.0.revents != 0 {
                error = ec_socket_error(socket)
                break
            }
        }
        if error == 0 { return socket }
        if socket >= 0 { close(socket) }
        return -error
    }
}
