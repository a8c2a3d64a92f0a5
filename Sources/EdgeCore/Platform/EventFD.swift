import CShim

/// An eventfd (non-blocking, close-on-exec) that a thread sleeping in poll() watches beside its other
/// descriptors, so that another thread can wake it: notify() makes it readable, drain() empties it.
final class EventFD {
    let descriptor: FileDescriptor

    init() throws(Failure) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw Failure.system(.current, "eventfd") }
        descriptor = FileDescriptor(adopting: fd)
    }

    var rawValue: Int32 { descriptor.rawValue }

    /// Makes the eventfd readable (any thread). Cannot fail short of a counter at 2^64 - 2, which only
    /// means it is readable already.
    func notify() {
        var one: UInt64 = 1
        _ = try? withUnsafeBytes(of: &one) { (bytes) throws(Failure) in try descriptor.write(bytes) }
    }

    /// Empties it: poll() sleeps again until the next notify().
    func drain() {
        var count: UInt64 = 0
        _ = try? withUnsafeMutableBytes(of: &count) { (bytes) throws(Failure) in try descriptor.read(into: bytes) }
    }
}
