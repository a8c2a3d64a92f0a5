import CShim

/// The engine's ring and run state as the threads other than the configuration thread see them, and
/// the rule that keeps those threads off freed memory.
///
/// Consumers (drain, wait) and any-thread calls (statistics, writes, lookups) run inside a *section*
/// (`consume`, `visit`). The configuration thread replaces the ring (a start after the bus count changed)
/// or lets the engine be freed (destroy) only after every section that began before has ended
/// (`synchronize`). Sections take no lock: entering increments one of two counters, the one of the
/// current `epoch`'s parity; `synchronize` moves the epoch on and waits until the previous parity's
/// counter is back to zero. Sections that begin afterwards count on the other parity and see the new
/// state, so a busy consumer cannot hold `synchronize` up; a consumer asleep in `wait` is woken through
/// the phase word first. (Sequentially consistent increments and epoch loads: either a section's entry
/// is counted before the epoch moves, or the section sees the new epoch and everything stored before it.)
///
/// While a new ring takes over the old one's readings, consumers wait outside their section on the
/// `moving` word, so that the configuration thread is the old ring's only consumer for that moment;
/// statistics keep reading the old ring, which the move leaves untouched.
final class SharedRing: @unchecked Sendable {
    /// The run state as a wait sees it: bit 0 running, bit 1 closing (destroy), the rest a count of
    /// changes, so that a waiter notices a stop followed by a start.
    struct Phase: Equatable {
        var raw: UInt32
        var running: Bool { raw & 1 != 0 }
        var closing: Bool { raw & 2 != 0 }
    }

    /// One cache line: epoch, the two section counters, moving, phase; then the ring's address.
    private let memory: UnsafeMutableRawPointer
    /// The ring that holds the strong reference (configuration thread only).
    private(set) var ring: Ring?

    init() throws(Failure) {
        memory = try AlignedMemory.allocate(byteCount: AlignedMemory.cacheLine, zeroed: true)
    }

    deinit { AlignedMemory.free(memory) }

    private func word(_ index: Int) -> AtomicWord32 {
        AtomicWord32(address: (memory + 4 * index).assumingMemoryBound(to: UInt32.self))
    }
    private var epoch: AtomicWord32 { word(0) }
    private var moving: AtomicWord32 { word(3) }
    private var phaseWord: AtomicWord32 { word(4) }
    private var current: AtomicPointer {
        AtomicPointer(address: (memory + 32).assumingMemoryBound(to: UnsafeMutableRawPointer?.self))
    }

    var phase: Phase { Phase(raw: phaseWord.loadSequentiallyConsistent()) }

    /// For Ring.wait: the phase word and the phase a waiter saw, to return when it changes.
    func watch(_ seen: Phase) -> (word: AtomicWord32, value: UInt32) { (phaseWord, seen.raw) }

    // MARK: Sections (any thread)

    /// Runs `body` with the current ring (nil before the first start) inside a section.
    func visit<Result>(_ body: (Ring?) -> Result) -> Result {
        let counter = enter()
        defer { counter.decrement() }
        return withCurrentRing(body)
    }

    /// As `visit`, for the consumer: never while the ring is being replaced, and with the phase.
    func consume<Result>(_ body: (Ring?, Phase) -> Result) -> Result {
        while true {
            let counter = enter()
            if moving.loadSequentiallyConsistent() == 0 {
                defer { counter.decrement() }
                let seen = phase
                return withCurrentRing { body($0, seen) }
            }
            counter.decrement()
            Futex.wait(on: moving, expected: 1, timeoutNanoseconds: nil)
        }
    }

    private func enter() -> AtomicWord32 {
        while true {
            let seen = epoch.loadSequentiallyConsistent()
            let counter = word(1 + Int(seen & 1))
            counter.increment()
            if epoch.loadSequentiallyConsistent() == seen { return counter }
            counter.decrement()
        }
    }

    /// The section keeps the ring alive: no retain and release per call (see RingAPI's withRing).
    private func withCurrentRing<Result>(_ body: (Ring?) -> Result) -> Result {
        guard let address = current.loadAcquire() else { return body(nil) }
        return Unmanaged<Ring>.fromOpaque(address)._withUnsafeGuaranteedRef { body($0) }
    }

    // MARK: Configuration thread

    /// Makes `new` the ring; a previous ring's readings and counters move into it first.
    func install(_ new: Ring) {
        guard let old = ring else {
            ring = new
            current.storeRelease(Unmanaged.passUnretained(new).toOpaque())
            return
        }
        moving.storeSequentiallyConsistent(1)
        change(to: phase.raw & 3)  // a consumer still waiting on the old ring looks again
        synchronize()
        new.takeOver(old)
        ring = new
        current.storeRelease(Unmanaged.passUnretained(new).toOpaque())
        moving.storeSequentiallyConsistent(0)
        Futex.wakeAll(on: moving)
        synchronize()  // statistics may still read the old ring until here; it is freed on return
    }

    func setRunning(_ running: Bool) { change(to: running ? 1 : 0) }

    /// Destroy: waits wake up and return EDGECORE_E_NOT_RUNNING, and every section that began before
    /// has ended when this returns.
    func close() {
        change(to: 2)
        synchronize()
    }

    private func change(to flags: UInt32) {
        phaseWord.storeSequentiallyConsistent((phase.raw & ~3) &+ 4 | flags)
        ring?.interruptWaiters()
    }

    private func synchronize() {
        let previous = epoch.loadSequentiallyConsistent()
        epoch.storeSequentiallyConsistent(previous &+ 1)
        let counter = word(1 + Int(previous & 1))
        while true {
            let inside = counter.loadSequentiallyConsistent()
            if inside == 0 { return }
            // Nobody wakes this: sections are short, and sleeping waits were interrupted before.
            Futex.wait(on: counter, expected: inside, timeoutNanoseconds: 200_000)
        }
    }
}
