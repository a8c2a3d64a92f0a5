import CShim

/// Process-private futex operations on an `AtomicWord32`.
enum Futex {
    /// Sleeps while the word still holds `expected`, at most `timeoutNanoseconds` (nil: no limit).
    /// Returns when woken, when the word differs, on a signal, or at the timeout: the caller re-checks its
    /// condition in every case, so the reason is not reported.
    static func wait(on word: AtomicWord32, expected: UInt32, timeoutNanoseconds: Int64?) {
        if let timeoutNanoseconds {
            var timeout = timespec(tv_sec: time_t(timeoutNanoseconds / 1_000_000_000),
                                   tv_nsec: Int(timeoutNanoseconds % 1_000_000_000))
            _ = ec_futex_wait(word.address, expected, &timeout)
        } else {
            _ = ec_futex_wait(word.address, expected, nil)
        }
    }

    static func wakeAll(on word: AtomicWord32) { ec_futex_wake_all(word.address) }
}
