import CShim

/// A folder's entries: listing, renaming, removing, and making those changes durable. With
/// FileDescriptor, what a store on disk (the journal) needs of the file system.
struct Folder {
    let path: FilePath

    /// The path of `name` in this folder.
    func path(of name: String) -> FilePath { path.appending("/" + name) }

    /// The names in the folder (not "." and ".."), in no particular order. glibc's opendir opens the folder
    /// close-on-exec.
    func names() throws(Failure) -> [String] {
        guard let listing = path.withCString({ opendir($0) }) else { throw Failure.system(.current, "\(path)") }
        defer { closedir(listing) }
        var names: [String] = []
        var error: Int32 = 0
        while let entry = ec_folder_next(listing, &error) {
            let name = String(decoding: UnsafeRawBufferPointer(start: entry, count: strlen(entry)), as: UTF8.self)
            if sameText(name, ".") || sameText(name, "..") { continue }
            names.append(name)
        }
        // A listing cut short (EOVERFLOW, EIO) is no listing: an empty one would make an existing journal look new.
        if error != 0 { throw Failure.system(Errno(error), "\(path): readdir") }
        return names
    }

    /// Renames `from` to `to` in this folder, replacing `to` atomically.
    func rename(_ from: String, to: String) throws(Failure) {
        let (source, target) = (path(of: from), path(of: to))
        guard source.withCString({ a in target.withCString { b in CShim.rename(a, b) } }) == 0 else {
            throw Failure.system(.current, "\(source): rename to \(to)")
        }
    }

    func remove(_ name: String) throws(Failure) {
        let target = path(of: name)
        guard target.withCString({ unlink($0) }) == 0 else { throw Failure.system(.current, "\(target): remove") }
    }

    /// The size of `name` in this folder (stat, without opening it).
    func size(of name: String) throws(Failure) -> UInt64 {
        let target = path(of: name)
        var info = stat()
        guard target.withCString({ fstatat(AT_FDCWD, $0, &info, 0) }) == 0 else { throw Failure.system(.current, "\(target): stat") }
        return UInt64(info.st_size)
    }

    /// mkdir(2) with mode 0755: the folder itself (its parent must exist).
    static func create(_ path: FilePath) throws(Failure) {
        guard path.withCString({ mkdir($0, 0o755) }) == 0 else { throw Failure.system(.current, "\(path): mkdir") }
    }

    /// fsync of the folder itself: creations, renames and removals in it become durable.
    func sync() throws(Failure) {
        let folder = try FileDescriptor.open(path, .readOnly)
        try folder.sync()
    }
}
