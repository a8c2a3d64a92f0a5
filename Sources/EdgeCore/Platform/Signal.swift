import CShim

/// A wake-up word for one sleeping thread: others `notify()`, the owner sleeps in `wait(until:)` unless a
/// notification came since it last looked. Futex-based: no busy waiting, absolute monotonic deadlines.
final class Signal: @unchecked Sendable {
    private let word: UnsafeMutablePointer<UInt32>

    init() {
        word = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
        word.initialize(to: 0)
    }

    deinit { word.deallocate() }

    private var atomic: AtomicWord32 { AtomicWord32(address: word) }

    /// The current generation; pass it to `wait` to sleep only if nothing was notified since.
    func generation() -> UInt32 { atomic.loadAcquire() }

    func notify() {
        atomic.increment()
        Futex.wakeAll(on: atomic)
    }

    /// Sleeps until notified after `generation`, or until `deadlineNanoseconds` on CLOCK_MONOTONIC
    /// (nil: no limit). Returns early on signals; callers re-check their state.
    func wait(generation: UInt32, until deadlineNanoseconds: Int64?) {
        _ = ec_futex_wait_until(word, generation, deadlineNanoseconds ?? -1)
    }
}
