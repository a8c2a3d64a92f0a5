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
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if sameText(name, ".") || sameText(name, "..") { continue }
            names.append(name)
        }
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
