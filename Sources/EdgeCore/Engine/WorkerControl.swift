import CShim

/// What a bus worker shares with other threads, the same for Modbus and GPIO workers: the stop request,
/// the writes waiting for it, the signal that wakes it, and its thread.
final class WorkerControl: @unchecked Sendable {
    private let wake = Signal()
    private let lock = Lock()
    private var stopping = false
    private var pending: [WriteJob] = []
    private var thread: WorkerThread?
    /// The signal's generation at the last look that left nothing pending (worker thread only).
    private var looked: UInt32? = nil

    enum Action {
        case stop
        case write(WriteJob)
        case none
    }

    // MARK: Any thread

    func start(_ body: @escaping () -> Void) throws(EdgeCoreError) {
        thread = try WorkerThread(body)
    }

    /// Asks the worker to end and waits until it has.
    func stop() {
        lock.withLock { stopping = true }
        wake.notify()
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
        if accepted { wake.notify() } else { job.complete(EDGECORE_E_NOT_RUNNING) }
    }

    // MARK: Worker thread

    /// What to do before anything else, and the generation to sleep on afterwards. Writes and stop()
    /// notify after changing the shared state, so the lock is taken only when notified since the last look.
    func next() -> (action: Action, generation: UInt32) {
        let generation = wake.generation()
        guard looked != generation else { return (.none, generation) }
        let (stop, job, more) = lock.withLock { () -> (Bool, WriteJob?, Bool) in
            if stopping { return (true, nil, false) }
            let job = pending.isEmpty ? nil : pending.removeFirst()
            return (false, job, !pending.isEmpty)
        }
        if stop { return (.stop, generation) }
        looked = more ? nil : generation
        return (job.map { .write($0) } ?? .none, generation)
    }

    /// A write taken too early (the bus's silent gap): first again next time.
    func putBack(_ job: WriteJob) {
        lock.withLock { pending.insert(job, at: 0) }
        looked = nil
    }

    /// stop() was called (e.g. to give up remaining retries).
    var stopRequested: Bool { lock.withLock { stopping } }

    /// Sleeps until notified after `generation` or until `deadline` (monotonic ns; nil: no limit).
    func sleep(generation: UInt32, until deadline: Int64?) {
        wake.wait(generation: generation, until: deadline)
    }

    /// After the loop: every write still waiting fails with EDGECORE_E_NOT_RUNNING.
    func abandonPending() {
        let abandoned = lock.withLock { () -> [WriteJob] in
            defer { pending.removeAll() }
            return pending
        }
        for job in abandoned { job.complete(EDGECORE_E_NOT_RUNNING) }
    }
}
