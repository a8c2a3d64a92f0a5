import CShim

/// A file descriptor EdgeCore owns: opened close-on-exec (so a program that links us and starts another
/// never hands it our files, serial ports or sockets), read and written with EINTR retried, closed exactly
/// once: by close() or at deinit. Every descriptor EdgeCore opens itself goes through this type.
final class FileDescriptor {
    /// The descriptor, or -1 once closed or released.
    private(set) var rawValue: Int32

    enum Access {
        case readOnly, writeOnly, readWrite
        var flags: Int32 {
            switch self {
            case .readOnly: return O_RDONLY
            case .writeOnly: return O_WRONLY
            case .readWrite: return O_RDWR
            }
        }
    }

    struct Options: OptionSet {
        let rawValue: Int32
        static let create = Options(rawValue: O_CREAT)
        static let truncate = Options(rawValue: O_TRUNC)
        static let nonBlocking = Options(rawValue: O_NONBLOCK)
    }

    /// Takes ownership of `rawValue`, a descriptor its maker opened close-on-exec (a socket, an eventfd).
    init(adopting rawValue: Int32) { self.rawValue = rawValue }

    deinit { close() }

    /// Opens `path` close-on-exec. The failure's message is "path: <errno text>".
    static func open(_ path: FilePath, _ access: Access, _ options: Options = [],
                     permissions: UInt32 = 0o666) throws(Failure) -> FileDescriptor {
        while true {
            let fd = path.withCString { ec_open($0, access.flags | options.rawValue, permissions) }
            if fd >= 0 { return FileDescriptor(adopting: fd) }
            let error = Errno.current
            if error != .interrupted { throw Failure.system(error, "\(path)") }
        }
    }

    /// Closes the descriptor; later calls do nothing. Never retried: on Linux the descriptor is gone even
    /// when close reports EINTR, and a retry could close a descriptor another thread just opened.
    func close() {
        guard rawValue >= 0 else { return }
        _ = CShim.close(rawValue)
        rawValue = -1
    }

    /// Gives up ownership (to a library that closes it itself) and returns the descriptor.
    func release() -> Int32 {
        defer { rawValue = -1 }
        return rawValue
    }

    /// Reads up to `buffer.count` bytes; 0 at end of file. A non-blocking descriptor with nothing to read
    /// throws `.system(.wouldBlock)`.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        try retrying("read") { CShim.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Reads up to `buffer.count` bytes at `offset`, leaving the file position alone.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        try retrying("pread") { pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// Writes all of `bytes` at `offset`, leaving the file position alone.
    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws(Failure) {
        var done = 0
        while done < bytes.count {
            let base = bytes.baseAddress.map { $0 + done }
            let count = try retrying("pwrite") { pwrite(rawValue, base, bytes.count - done, off_t(offset) + off_t(done)) }
            guard count > 0 else { throw Failure.system(.ioError, "pwrite") }
            done += count
        }
    }

    /// Writes all of `bytes` (a short write is continued).
    func write(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
        var done = 0
        while done < bytes.count {
            let base = bytes.baseAddress.map { $0 + done }
            let count = try retrying("write") { CShim.write(rawValue, base, bytes.count - done) }
            guard count > 0 else { throw Failure.system(.ioError, "write") }
            done += count
        }
    }

    /// Writes all of `bytes`.
    func write(_ bytes: [UInt8]) throws(Failure) {
        var failure: Failure? = nil
        bytes.withUnsafeBytes { buffer in
            do throws(Failure) { try write(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// fsync(2): the data and the metadata reach the storage. `call` is fsync but for tests that play a
    /// slow flash.
    func sync(_ call: @convention(c) (Int32) -> Int32 = { fsync($0) }) throws(Failure) {
        _ = try retrying("fsync") { Int(call(rawValue)) }
    }

    /// Starts writing the file's dirty pages back without waiting (sync_file_range): a later sync then
    /// finds less to do. Best effort: failures are left to that sync.
    func startWriteback() { _ = ec_start_writeback(rawValue) }

    /// The file's size in bytes (fstat).
    func size() throws(Failure) -> Int64 {
        var info = stat()
        guard fstat(rawValue, &info) == 0 else { throw Failure.system(.current, "fstat") }
        return Int64(info.st_size)
    }

    /// ftruncate(2): the file ends at `size` (grown with zeros or cut).
    func truncate(to size: Int64) throws(Failure) {
        _ = try retrying("ftruncate") { Int(ftruncate(rawValue, off_t(size))) }
    }

    /// An exclusive flock(2), not waiting: `.system(.busy)` when another holder has it. Released by close.
    func lockExclusive() throws(Failure) {
        guard flock(rawValue, LOCK_EX | LOCK_NB) != 0 else { return }
        let error = Errno.current
        throw Failure.system(error == .wouldBlock ? .busy : error, "flock")
    }

    /// The descriptor is a FIFO.
    var isFIFO: Bool {
        var info = stat()
        return fstat(rawValue, &info) == 0 && UInt32(truncatingIfNeeded: info.st_mode) & UInt32(S_IFMT) == UInt32(S_IFIFO)
    }

    /// Sets a pipe's capacity (rounded up by the kernel); false when refused.
    @discardableResult
    func setPipeSize(_ bytes: Int32) -> Bool { ec_set_pipe_size(rawValue, bytes) >= 0 }

    /// FD_CLOEXEC is set on `fd` (for the close-on-exec tests and checks).
    static func closesOnExec(_ fd: Int32) -> Bool {
        let flags = ec_descriptor_flags(fd)
        return flags >= 0 && flags & FD_CLOEXEC != 0
    }

    /// Runs a call returning -1 with errno on failure until it is not interrupted by a signal.
    @inline(never)
    private func retrying(_ what: StaticString, _ call: () -> Int) throws(Failure) -> Int {
        while true {
            let result = call()
            if result >= 0 { return result }
            let error = Errno.current
            if error != .interrupted { throw Failure.system(error, Message(stringLiteral: what)) }
        }
    }
}
