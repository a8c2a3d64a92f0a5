import CShim

/// What a bus worker shares with other threads, the same for Modbus and GPIO workers: the stop request,
/// the writes waiting for it, the signal that wakes it, and its thread.
final class WorkerControl: StopRequest, @unchecked Sendable {
    private let wake = Signal()
    private let lock = Lock()
    private var stopping = false
    private var pending: [WriteJob] = []
    private var thread: WorkerThread?
    /// The signal's generation at the last look that left nothing pending (worker thread only).
    private var looked: UInt32? = nil
    /// For workers that sleep in poll() on file descriptors (GPIO event lines, a TCP connect in progress):
    /// readable whenever the signal is notified.
    private(set) var eventFD: Int32 = -1

    deinit { if eventFD >= 0 { close(eventFD) } }

    /// Makes `eventFD` (before start). Returns 0 or an errno value.
    func makeEventFD() -> Int32 {
        eventFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        return eventFD >= 0 ? 0 : ec_errno()
    }

    enum Action {
        case stop
        case write(WriteJob)
        case none
    }

    // MARK: Any thread

    func start(_ body: @escaping () -> Void) throws(Failure) {
        do throws(EdgeCoreError) {
            thread = try WorkerThread(body)
        } catch {
            throw Failure(legacy: error, "cannot create the worker thread")
        }
    }

    /// Asks the worker to end and waits until it has.
    func stop() {
        lock.withLock { stopping = true }
        notify()
        thread?.join()
        thread = nil
    }

    /// Queues a write for the worker, or fails it at once when the worker is stopping.
    func enqueue(_ job: WriteJob) {
        let accepted = lock.withLock { () -> Bool in
            guard !stopping else { return false }
            pending.append(job)
            return true
        }
        if accepted { notify() } else { job.complete(Failure(.notRunning)) }
    }

    private func notify() {
        wake.notify()
        if eventFD >= 0 {
            var one: UInt64 = 1
            _ = write(eventFD, &one, 8)
        }
    }

    // MARK: Worker thread

    /// Empties `eventFD` (before `next()`, so that a notification after it keeps the fd readable).
    func drainEventFD() {
        guard eventFD >= 0 else { return }
        var value: UInt64 = 0
        _ = read(eventFD, &value, 8)
    }

    /// What to do before anything else, and the generation to sleep on afterwards. Writes and stop()
    /// notify after changing the shared state, so the lock is taken only when notified since the last look.
    /// A write is handed out only when the caller can send it at once (`canSend`), and then claimed (see
    /// WriteJob): one whose caller gave up on it is dropped here, unsent.
    func next(canSend: Bool = true) -> (action: Action, generation: UInt32) {
        let generation = wake.generation()
        guard looked != generation else {
            writesWaiting = false  // none were left at the last look, and none came since
            return (.none, generation)
        }
        while true {
            let (stop, job, more) = lock.withLock { () -> (Bool, WriteJob?, Bool) in
                if stopping { return (true, nil, false) }
                if !canSend { return (false, nil, !pending.isEmpty) }
                let job = pending.isEmpty ? nil : pending.removeFirst()
                return (false, job, !pending.isEmpty)
            }
            if stop { return (.stop, generation) }
            if let job, !job.claim() { continue }
            looked = more ? nil : generation
            writesWaiting = job == nil && more
            return (job.map { .write($0) } ?? .none, generation)
        }
    }

    /// The last `next` could not hand out the writes waiting (worker thread only).
    private(set) var writesWaiting = false

    /// stop() was called (e.g. to give up remaining retries).
    var stopRequested: Bool { lock.withLock { stopping } }

    /// Sleeps until notified after `generation` or until `deadline` (monotonic ns; nil: no limit).
    func sleep(generation: UInt32, until deadline: Int64?) {
        wake.wait(generation: generation, until: deadline)
    }

    /// After the loop: every write still waiting fails with .notRunning.
    func abandonPending() {
        let abandoned = lock.withLock { () -> [WriteJob] in
            defer { pending.removeAll() }
            return pending
        }
        for job in abandoned { job.complete(Failure(.notRunning)) }
    }
}
