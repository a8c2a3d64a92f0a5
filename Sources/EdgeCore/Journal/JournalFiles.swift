/// The journal's file I/O: one folder of files, with only the operations the journal needs. Everything the
/// journal stores goes through it, so that tests can put a power-cut simulator in place of the file system
/// (as SQLite's crash tests put a test VFS under SQLite): data not yet synced is lost at a cut, and the
/// last write before it can be torn. `FolderFiles` is the real folder, over Platform's FileDescriptor and
/// Folder.
///
/// Durability, as the journal relies on it (and as the simulator plays it):
/// - a file's bytes are durable once `sync()` returned after they were written;
/// - a new name (create, rename) or a removal is durable once `syncFolder()` returned after it;
/// - `rename` replaces its target atomically: after a cut the folder holds the old file or the new one.
protocol JournalFiles: AnyObject {
    /// The names of the files in the folder, in no particular order.
    func names() throws(Failure) -> [String]
    /// Opens a file of the folder for reading and writing; `create`: made empty when missing.
    func open(_ name: String, create: Bool) throws(Failure) -> any JournalFile
    func remove(_ name: String) throws(Failure)
    /// The size of a file of the folder, without opening it.
    func size(of name: String) throws(Failure) -> UInt64
    /// Renames `from` to `to`, replacing `to` if it exists.
    func rename(_ from: String, to: String) throws(Failure)
    /// Makes the folder's entries (creations, renames, removals) durable.
    func syncFolder() throws(Failure)
    /// Takes the folder for this journal alone (another handle, in this process or another, is refused
    /// with .system(.busy)); `unlock` gives it back.
    func lock() throws(Failure)
    func unlock()
}

/// An open file of a `JournalFiles` folder. Used by one thread at a time.
protocol JournalFile: AnyObject {
    func size() throws(Failure) -> UInt64
    /// Reads up to `buffer.count` bytes at `offset`; returns how many (fewer only at the end of the file).
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int
    /// Writes all of `bytes` at `offset` (the file grows as needed).
    func write(at offset: UInt64, _ bytes: UnsafeRawBufferPointer) throws(Failure)
    func truncate(to size: UInt64) throws(Failure)
    /// Makes the file's bytes durable.
    func sync() throws(Failure)
    /// Starts making them durable without waiting (a hint; `sync` still decides).
    func startSync()
    func close()
}

extension JournalFiles {
    func lock() throws(Failure) {}
    func unlock() {}

    func size(of name: String) throws(Failure) -> UInt64 {
        let file = try open(name, create: false)
        defer { file.close() }
        return try file.size()
    }
}

extension JournalFile {
    func startSync() {}

    /// Up to `count` bytes from `offset` (fewer at the end of the file).
    func read(at offset: UInt64, count: Int) throws(Failure) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(count, 0))
        var failure: Failure? = nil
        var got = 0
        bytes.withUnsafeMutableBytes { buffer in
            do throws(Failure) { got = try read(at: offset, into: buffer) } catch { failure = error }
        }
        if let failure { throw failure }
        if got < bytes.count { bytes.removeLast(bytes.count - got) }
        return bytes
    }

    func write(at offset: UInt64, _ bytes: [UInt8]) throws(Failure) {
        var failure: Failure? = nil
        bytes.withUnsafeBytes { buffer in
            do throws(Failure) { try write(at: offset, buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// The journal's folder on the real file system.
final class FolderFiles: JournalFiles {
    private let folder: Folder
    private var lockHolder: FileDescriptor?

    init(_ path: FilePath) { folder = Folder(path: path) }

    func names() throws(Failure) -> [String] { try folder.names() }

    func open(_ name: String, create: Bool) throws(Failure) -> any JournalFile {
        DiskFile(try FileDescriptor.open(folder.path(of: name), .readWrite, create ? [.create] : [],
                                         permissions: 0o644))
    }

    func remove(_ name: String) throws(Failure) { try folder.remove(name) }

    func size(of name: String) throws(Failure) -> UInt64 { try folder.size(of: name) }

    func rename(_ from: String, to: String) throws(Failure) { try folder.rename(from, to: to) }

    func syncFolder() throws(Failure) { try folder.sync() }

    /// flock(2) on the folder itself, held while the journal is open (released by close, or by the
    /// process's end: a crashed holder never blocks the next open).
    func lock() throws(Failure) {
        guard lockHolder == nil else { return }
        let holder = try FileDescriptor.open(folder.path, .readOnly)
        do throws(Failure) {
            try holder.lockExclusive()
        } catch {
            holder.close()
            if error.kind == .system(.busy) {
                throw Failure(.system(.busy), "the journal is open already (another handle, in this process or another)")
            }
            throw error
        }
        lockHolder = holder
    }

    func unlock() {
        lockHolder?.close()
        lockHolder = nil
    }
}

/// A file of a FolderFiles folder.
final class DiskFile: JournalFile {
    private let descriptor: FileDescriptor

    init(_ descriptor: FileDescriptor) { self.descriptor = descriptor }

    func size() throws(Failure) -> UInt64 { UInt64(try descriptor.size()) }

    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let count = try descriptor.read(at: Int64(offset) + Int64(done), into: rest)
            if count == 0 { break }
            done += count
        }
        return done
    }

    func write(at offset: UInt64, _ bytes: UnsafeRawBufferPointer) throws(Failure) {
        try descriptor.write(at: Int64(offset), bytes)
    }

    func truncate(to size: UInt64) throws(Failure) { try descriptor.truncate(to: Int64(size)) }

    func sync() throws(Failure) { try descriptor.sync() }

    func startSync() { descriptor.startWriteback() }

    func close() { descriptor.close() }
}
