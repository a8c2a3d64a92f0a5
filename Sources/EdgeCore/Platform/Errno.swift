import CShim

/// A C library error number (errno), as swift-system's `Errno`: the one type EdgeCore uses for a system
/// call's failure. It becomes a C result code (its negative) only in `Contract/`.
struct Errno: RawRepresentable, Equatable, Hashable {
    var rawValue: Int32

    init(rawValue: Int32) { self.rawValue = rawValue }
    init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's errno now (read it right after the failed call).
    static var current: Errno { Errno(ec_errno()) }

    static let noMemory = Errno(ENOMEM)
    static let canceled = Errno(ECANCELED)
    static let timedOut = Errno(ETIMEDOUT)
    static let invalid = Errno(EINVAL)
    static let noEntry = Errno(ENOENT)
    static let notDirectory = Errno(ENOTDIR)
    static let noSpace = Errno(ENOSPC)
    static let busy = Errno(EBUSY)
    static let ioError = Errno(EIO)
    static let brokenPipe = Errno(EPIPE)
    static let connectionReset = Errno(ECONNRESET)
    static let interrupted = Errno(EINTR)
    /// EAGAIN (EWOULDBLOCK on Linux): a non-blocking descriptor has nothing to give or take now.
    static let wouldBlock = Errno(EAGAIN)

    /// The C library's static description, or nil when it has none.
    var description: UnsafePointer<CChar>? { ec_errno_description(rawValue) }

    /// The C library's text ("No such file or directory"), or "error N".
    var text: String { description.map { String(cString: $0) } ?? ("error \(rawValue)" as Message).text }
}
