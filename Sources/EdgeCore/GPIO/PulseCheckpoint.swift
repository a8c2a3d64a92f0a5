import CShim

#if DEBUG
/// The checkpoint's fsync(2), replaced by tests to play a slow flash. Release builds (the shipped library)
/// call fsync directly and carry no hook.
nonisolated(unsafe) var checkpointSync: @convention(c) (Int32) -> Int32 = { fsync($0) }
#else
@inline(__always) func checkpointSync(_ fd: Int32) -> Int32 { fsync(fd) }
#endif

/// The counts of a chip's pulse counters on disk, one "channel-name<TAB>count" line each, so that totals
/// survive a restart or a reboot. Written to `path.tmp`, synced, renamed over `path` and the folder synced:
/// a power cut leaves the old file or the new one, never half of one. Writes are spaced by at least
/// 3600 / max-per-hour seconds while counts change (flash wear), and always made at stop.
struct PulseCheckpoint {
    let path: FilePath
    let spacingNs: Int64
    private var lastWrite: Int64? = nil
    private var lastCounts: [UInt64] = []

    init(path: FilePath, maxPerHour: UInt32) {
        self.path = path
        self.spacingNs = 3_600_000_000_000 / Int64(max(1, maxPerHour))
    }

    /// The counts saved in `path` by channel name; none when the file does not exist.
    static func load(path: FilePath) throws(ConfigError) -> [(name: String, count: UInt64)] {
        guard let file = path.withCString({ fopen($0, "r") }) else {
            let error = ec_errno()
            if error == ENOENT { return [] }
            throw ConfigError(.system(error), "\(path): \(errnoText(error))")
        }
        defer { fclose(file) }
        var entries: [(name: String, count: UInt64)] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        var lineNumber = 0
        while buffer.withUnsafeMutableBufferPointer({ fgets($0.baseAddress, Int32($0.count), file) }) != nil {
            lineNumber += 1
            let line = buffer.withUnsafeBufferPointer { $0.baseAddress.map { String(cString: $0) } ?? "" }
            var bytes = Array(line.utf8)
            if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
            if bytes.isEmpty { continue }
            guard let tab = bytes.lastIndex(of: UInt8(ascii: "\t")), tab > 0,
                  let count = decimal(bytes[(tab + 1)...]) else {
                throw ConfigError(.configFile, "\(path):\(lineNumber): expected 'channel<TAB>count'")
            }
            entries.append((String(decoding: bytes[..<tab], as: UTF8.self), count))
        }
        return entries
    }

    /// Writes `counts` (by channel name) when they changed and the spacing allows, or always with `force`.
    /// Returns 0 or an errno value.
    mutating func save(_ counts: [(name: String, count: UInt64)], now: Int64, force: Bool) -> Int32 {
        let values = counts.map { $0.count }
        if values == lastCounts && lastWrite != nil { return 0 }
        if !force, let last = lastWrite, now - last < spacingNs { return 0 }
        var text = ""
        for entry in counts { text += entry.name + "\t" + String(entry.count) + "\n" }
        let temporary = path.appending(".tmp")
        guard let file = temporary.withCString({ fopen($0, "w") }) else { return ec_errno() }
        let written = text.withCString { fputs($0, file) } >= 0 && fflush(file) == 0 && checkpointSync(fileno(file)) == 0
        let error = written ? 0 : ec_errno()
        fclose(file)
        guard error == 0 else { return error }
        guard temporary.withCString({ from in path.withCString { to in rename(from, to) } }) == 0 else {
            return ec_errno()
        }
        syncFolder()
        lastWrite = now
        lastCounts = values
        return 0
    }

    /// The rename is durable only once the folder holding it is synced.
    private func syncFolder() {
        guard let folder = path.folder else { return }
        let fd = folder.withCString { ec_open_readonly($0) }
        if fd >= 0 {
            _ = checkpointSync(fd)
            close(fd)
        }
    }

    private static func decimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }
}
