import CShim

/// A whole file in malloc'd memory (Swift's own allocation traps when memory runs out): site files, and
/// the simulated GPIO chip's line names.
struct WholeFile {
    /// Larger files are refused (this also ends reading from endless files such as /dev/zero).
    static let maxBytes = 16 << 20

    let bytes: UnsafeMutablePointer<UInt8>
    let count: Int

    static func read(path: FilePath) throws(ConfigError) -> WholeFile {
        let (opened, openError) = path.withCString { cPath in
            let file = fopen(cPath, "rbe")
            return (file, ec_errno())
        }
        guard let file = opened else { throw systemError(openError, path) }
        defer { fclose(file) }

        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var capacity = 0
        var count = 0
        while true {
            if count == capacity {
                guard capacity <= maxBytes else {
                    free(buffer)
                    throw ConfigError(.limit, "\(path): larger than \(maxBytes >> 20) MiB")
                }
                let grown = capacity == 0 ? 16 << 10 : min(capacity * 2, maxBytes + 1)
                guard let raw = realloc(buffer, grown) else {
                    free(buffer)
                    throw outOfMemory(path)
                }
                buffer = raw.bindMemory(to: UInt8.self, capacity: grown)
                capacity = grown
            }
            guard let base = buffer else { throw outOfMemory(path) }
            let wanted = capacity - count
            let got = fread(base + count, 1, wanted, file)
            let readError = ec_errno()
            count += min(got, wanted)
            if got < wanted {
                if ferror(file) != 0 {
                    free(base)
                    throw systemError(readError == 0 ? EIO : readError, path)
                }
                return WholeFile(bytes: base, count: count)
            }
        }
    }

    func release() { free(bytes) }

    /// 1-based line of a byte offset.
    func line(ofOffset offset: Int) -> Int {
        var line = 1
        var index = 0
        while index < min(offset, count) {
            if bytes[index] == UInt8(ascii: "\n") { line += 1 }
            index += 1
        }
        return line
    }
}
