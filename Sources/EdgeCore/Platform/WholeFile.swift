import CShim

/// A whole file in malloc'd memory (Swift's own allocation traps when memory runs out): site files, and
/// the simulated GPIO chip's line names.
struct WholeFile {
    /// Larger files are refused (this also ends reading from endless files such as /dev/zero).
    static let maxBytes = 16 << 20

    let bytes: UnsafeMutablePointer<UInt8>
    let count: Int

    /// Failures name the path: "path: <errno text>" (.system), "path: larger than 16 MiB" (.limit),
    /// "path: out of memory".
    static func read(path: FilePath) throws(Failure) -> WholeFile {
        let file = try FileDescriptor.open(path, .readOnly)
        defer { file.close() }

        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var capacity = 0
        var count = 0
        while true {
            if count == capacity {
                guard capacity <= maxBytes else {
                    free(buffer)
                    throw Failure(.limit, "\(path): larger than \(maxBytes >> 20) MiB")
                }
                let grown = capacity == 0 ? 16 << 10 : min(capacity * 2, maxBytes + 1)
                guard let raw = realloc(buffer, grown) else {
                    free(buffer)
                    throw Failure(.system(.noMemory), "\(path): out of memory")
                }
                buffer = raw.bindMemory(to: UInt8.self, capacity: grown)
                capacity = grown
            }
            guard let base = buffer else { throw Failure(.system(.noMemory), "\(path): out of memory") }
            let got: Int
            do throws(Failure) {
                got = try file.read(into: UnsafeMutableRawBufferPointer(start: base + count, count: capacity - count))
            } catch {
                free(base)
                guard case .system(let errno) = error.kind else { throw error }
                throw Failure.system(errno, "\(path)")
            }
            if got == 0 { return WholeFile(bytes: base, count: count) }
            count += got
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
