/// Writes a chip's pulse checkpoint on a thread of its own, so that a slow flash's fsync never holds up the
/// thread that reads edge events (libgpiod 1.6's kernel queue holds 16 per line and drops the rest). The
/// newest counts win: counts handed over while a write is under way replace those still waiting.
final class CheckpointWriter: @unchecked Sendable {
    private var checkpoint: PulseCheckpoint  // writer thread only
    private let failed: (Errno) -> Void
    private let lock = Lock()
    private let wake = Signal()
    private var waiting: (counts: [(name: String, count: UInt64)], force: Bool)? = nil
    private var finishing = false
    private var thread: WorkerThread?

    /// `failed` receives the errno of a write that failed (on the writer thread).
    init(_ checkpoint: PulseCheckpoint, failed: @escaping (Errno) -> Void) {
        self.checkpoint = checkpoint
        self.failed = failed
    }

    func start() throws(Failure) {
        thread = try WorkerThread { [self] in run() }
    }

    /// Hands over the newest counts; PulseCheckpoint.save decides whether they are written. Never waits for
    /// the file. A `force` still waiting stays forced.
    func post(_ counts: [(name: String, count: UInt64)], force: Bool) {
        lock.withLock { waiting = (counts, force || waiting?.force == true) }
        wake.notify()
    }

    /// Writes what waits, then ends the thread: returns once the last counts handed over are synced.
    func finish() {
        lock.withLock { finishing = true }
        wake.notify()
        thread?.join()
        thread = nil
    }

    private func run() {
        while true {
            let generation = wake.generation()
            let (job, done) = lock.withLock { () -> ((counts: [(name: String, count: UInt64)], force: Bool)?, Bool) in
                defer { waiting = nil }
                return (waiting, finishing)
            }
            if let job {
                do throws(Failure) {
                    try checkpoint.save(job.counts, now: Clock.monotonicNanoseconds(), force: job.force)
                } catch {
                    if case .system(let errno) = error.kind { failed(errno) } else { failed(.ioError) }
                }
            } else if done {
                return
            } else {
                wake.wait(generation: generation, until: nil)
            }
        }
    }
}
