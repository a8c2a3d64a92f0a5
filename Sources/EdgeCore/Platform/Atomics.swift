import CShim

/// A 64-bit word in memory EdgeCore allocated itself, accessed only atomically. Thin and inlined: the
/// orders are the C11 ones, spelled out at each use because they are the ring's correctness argument.
struct AtomicWord64 {
    let address: UnsafeMutablePointer<UInt64>

    @inline(__always) func loadAcquire() -> UInt64 { ec_atomic_load_acquire_u64(address) }
    @inline(__always) func loadRelaxed() -> UInt64 { ec_atomic_load_relaxed_u64(address) }
    @inline(__always) func storeRelease(_ value: UInt64) { ec_atomic_store_release_u64(address, value) }
    @inline(__always) func storeRelaxed(_ value: UInt64) { ec_atomic_store_relaxed_u64(address, value) }
    @inline(__always) func storeSequentiallyConsistent(_ value: UInt64) { ec_atomic_store_seq_cst_u64(address, value) }
    /// True when the word held `expected` and now holds `desired` (acquire-release).
    @inline(__always) func compareExchange(expected: UInt64, desired: UInt64) -> Bool {
        ec_atomic_cas_u64(address, expected, desired) != 0
    }
}

/// A 32-bit word usable with futexes.
struct AtomicWord32 {
    let address: UnsafeMutablePointer<UInt32>

    @inline(__always) func loadAcquire() -> UInt32 { ec_atomic_load_acquire_u32(address) }
    @inline(__always) func loadRelaxed() -> UInt32 { ec_atomic_load_relaxed_u32(address) }
    @inline(__always) func loadSequentiallyConsistent() -> UInt32 { ec_atomic_load_seq_cst_u32(address) }
    @inline(__always) func storeSequentiallyConsistent(_ value: UInt32) { ec_atomic_store_seq_cst_u32(address, value) }
    /// Sequentially consistent increment; returns the new value.
    @inline(__always) @discardableResult func increment() -> UInt32 { ec_atomic_add_u32(address, 1) }
    /// Sequentially consistent decrement; returns the new value.
    @inline(__always) @discardableResult func decrement() -> UInt32 { ec_atomic_sub_u32(address, 1) }
}

/// A pointer-sized word holding an object's address, published with release and read with acquire.
struct AtomicPointer {
    let address: UnsafeMutablePointer<UnsafeMutableRawPointer?>

    @inline(__always) func loadAcquire() -> UnsafeMutableRawPointer? { ec_atomic_load_acquire_ptr(address) }
    @inline(__always) func storeRelease(_ value: UnsafeMutableRawPointer?) { ec_atomic_store_release_ptr(address, value) }
}

@inline(__always) func sequentiallyConsistentFence() { ec_atomic_fence_seq_cst() }
