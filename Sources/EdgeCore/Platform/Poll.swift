import CShim

/// poll(2) over a set of descriptors until one is ready or a deadline on the monotonic clock passes;
/// a signal's EINTR resumes the wait with the time left.
struct Poll {
    private var entries: [pollfd] = []

    init() {}

    /// Watches `fd` for reading (or, `writable`, for writing); returns its index for `isReady`. A negative
    /// fd is ignored by poll().
    @discardableResult
    mutating func add(_ fd: Int32, writable: Bool = false) -> Int {
        entries.append(pollfd(fd: fd, events: Int16(writable ? POLLOUT : POLLIN), revents: 0))
        return entries.count - 1
    }

    /// Waits until a descriptor is ready or `deadline` (CLOCK_MONOTONIC ns; nil: no limit) passes. Returns
    /// the number of ready descriptors, 0 on timeout.
    mutating func wait(until deadline: Int64?) throws(Failure) -> Int {
        while true {
            var timeoutMs: Int32 = -1
            if let deadline {
                let left = deadline - Clock.monotonicNanoseconds()
                timeoutMs = left <= 0 ? 0 : Int32(clamping: (left + 999_999) / 1_000_000)
            }
            let ready = entries.withUnsafeMutableBufferPointer { buffer in
                poll(buffer.baseAddress, nfds_t(buffer.count), timeoutMs)
            }
            if ready >= 0 { return Int(ready) }
            let error = Errno.current
            if error != .interrupted { throw Failure.system(error, "poll") }
        }
    }

    /// The descriptor at `index` is ready (or reports an error or hang-up) after the last wait.
    func isReady(_ index: Int) -> Bool { entries[index].revents != 0 }

    /// The descriptor at `index` has data to read after the last wait.
    func isReadable(_ index: Int) -> Bool { entries[index].revents & Int16(POLLIN) != 0 }
}
