import CShim

/// Replacing a file's content so that a crash or power cut leaves the old content or the new, never part
/// of either: the new content goes to `path.tmp`, is synced, renamed over `path`, and the folder synced
/// (the rename is durable only then).
enum AtomicFile {
    /// Failures name the file and the step ("path.tmp: write: <errno text>"); `path` then still holds its
    /// old content (a `path.tmp` may be left behind, to be replaced by the next call).
    /// `sync` is fsync(2) but for tests that play a slow flash.
    static func replace(_ path: FilePath, with bytes: [UInt8],
                        sync: @convention(c) (Int32) -> Int32 = { fsync($0) }) throws(Failure) {
        let temporary = path.appending(".tmp")
        let file = try FileDescriptor.open(temporary, .writeOnly, [.create, .truncate])
        do throws(Failure) {
            try file.write(bytes)
            try file.sync(sync)
            file.close()
        } catch {
            throw Failure(error, "\(temporary)")
        }
        guard temporary.withCString({ from in path.withCString { to in rename(from, to) } }) == 0 else {
            throw Failure.system(.current, "\(path): rename")
        }
        // Best effort, as before: the new content is in place whatever the folder's sync says.
        if let folder = path.folder, let directory = try? FileDescriptor.open(folder, .readOnly) {
            try? directory.sync(sync)
        }
    }
}
