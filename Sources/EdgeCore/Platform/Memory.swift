import CShim

/// Cache-line aligned raw memory that reports exhaustion instead of trapping (Swift's own allocation
/// traps on failure, which must never reach the firmware that links us).
enum AlignedMemory {
    static let cacheLine = 64

    /// `zeroed: false` leaves the pages untouched, so a large ring costs memory only as it fills.
    static func allocate(byteCount: Int, zeroed: Bool) throws(Failure) -> UnsafeMutableRawPointer {
        guard byteCount > 0, let pointer = ec_aligned_alloc(cacheLine, byteCount) else {
            throw Failure.outOfMemory
        }
        if zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }
        return pointer
    }

    static func free(_ pointer: UnsafeMutableRawPointer) { CShim.free(pointer) }
}
