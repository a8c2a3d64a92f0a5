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
    private(set) var eventFD: EventFD? = nil

    /// Makes `eventFD` (before start).
    func makeEventFD() throws(Failure) {
        eventFD = try EventFD()
    }

    enum Action {
        case stop
        case write(WriteJob)
        case none
    }

    // MARK: Any thread

    func start(_ body: @escaping () -> Void) throws(Failure) {
        thread = try WorkerThread(body)
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
        eventFD?.notify()
    }

    // MARK: Worker thread

    /// Empties `eventFD` (before `next()`, so that a notification after it keeps the fd readable).
    func drainEventFD() { eventFD?.drain() }

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
