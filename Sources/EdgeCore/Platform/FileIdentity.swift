import CShim

/// Which file a path names now (device and inode), to notice a serial adapter unplugged and plugged
/// back (a new node under the same name) without waiting for I/O errors.
struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64
    var specialDevice: UInt64

    /// nil when the path does not exist (or cannot be examined).
    init?(path: FilePath) {
        var info = stat()
        let result = path.withCString { stat($0, &info) }
        guard result == 0 else { return nil }
        device = UInt64(truncatingIfNeeded: info.st_dev)
        inode = UInt64(truncatingIfNeeded: info.st_ino)
        specialDevice = UInt64(truncatingIfNeeded: info.st_rdev)
    }
}
