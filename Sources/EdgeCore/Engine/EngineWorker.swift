import CShim

/// What the engine needs of a bus's worker, whatever the bus (Modbus line or endpoint, GPIO chip).
/// Modbus/ and GPIO/ implement it; the engine knows workers only through it and a `WorkerFactory`.
protocol EngineWorker: AnyObject {
    var busId: Int { get }
    /// Whether the engine keeps the worker after stop() until the next start or its end, instead of
    /// releasing it at once: a GPIO worker holds its outputs requested at their safe state, so that a relay
    /// never floats between stop and destroy.
    var holdsOutputsAfterStop: Bool { get }
    func start() throws(Failure)
    /// Ends the worker after its current transaction; pending writes fail. For GPIO also drives every
    /// output to its safe state.
    func stop()
    func enqueue(_ job: WriteJob)
}

/// What a bus's worker is made from at start.
struct WorkerSetup {
    var busId: Int
    var config: SiteConfig
    /// The planned read requests of this bus (empty for a GPIO chip).
    var requests: [PlannedRequest]
    var ring: Ring
    /// The journal thread's feed (nil: no journal): every batch goes to it as well (ReadingBatch).
    var feed: Ring? = nil
    var stats: EngineStats
    /// Per-channel sequence counters, owned by the engine so that numbering continues across restarts;
    /// a worker writes only its own channels' entries.
    var sequences: UnsafeMutablePointer<UInt32>
}

/// Makes the worker of one bus (opening what must be opened for start to fail precisely). Contract/
/// supplies the real one, tests a fake.
typealias WorkerFactory = (WorkerSetup) throws(Failure) -> any EngineWorker
