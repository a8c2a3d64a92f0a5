import CShim

/// A joinable POSIX thread running a Swift closure (Embedded Swift has no Foundation Thread).
final class WorkerThread {
    private var handle = pthread_t()
    private var joined = false

    /// Starts `body` on a new thread.
    init(_ body: @escaping () -> Void) throws(Failure) {
        let context = Unmanaged.passRetained(ClosureBox(body)).toOpaque()
        let result = ec_thread_start(&handle, { context in
            guard let context else { return nil }
            let box = Unmanaged<ClosureBox>.fromOpaque(context).takeRetainedValue()
            box.body()
            return nil
        }, context)
        if result != 0 {
            Unmanaged<ClosureBox>.fromOpaque(context).release()
            throw Failure.system(Errno(-result), "pthread_create")
        }
    }

    /// Waits for the thread to end. Once; later calls return at once.
    func join() {
        guard !joined else { return }
        joined = true
        ec_thread_join(handle)
    }

    deinit { join() }

    private final class ClosureBox {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
