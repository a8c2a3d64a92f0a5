import CShim

#if DEBUG
/// The checkpoint's fsync(2), replaced by tests to play a slow flash. Release builds (the shipped library)
/// call fsync directly and carry no hook.
nonisolated(unsafe) var checkpointSync: @convention(c) (Int32) -> Int32 = { fsync($0) }
#else
let checkpointSync: @convention(c) (Int32) -> Int32 = { fsync($0) }
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
    static func load(path: FilePath) throws(Failure) -> [(name: String, count: UInt64)] {
        let file: WholeFile
        do throws(Failure) {
            file = try WholeFile.read(path: path)
        } catch {
            if error.kind == .system(.noEntry) { return [] }
            throw error
        }
        defer { file.release() }
        var entries: [(name: String, count: UInt64)] = []
        var lineNumber = 0
        let text = UnsafeBufferPointer(start: file.bytes, count: file.count)
        for line in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.isEmpty { continue }
            guard let tab = line.lastIndex(of: UInt8(ascii: "\t")), tab > line.startIndex,
                  let count = decimal(line[(tab + 1)...]) else {
                throw Failure(.configFile, "\(path):\(lineNumber): expected 'channel<TAB>count'")
            }
            entries.append((String(decoding: line[..<tab], as: UTF8.self), count))
        }
        return entries
    }

    /// Writes `counts` (by channel name) when they changed and the spacing allows, or always with `force`,
    /// through AtomicFile (`path.tmp`, synced, renamed, folder synced).
    mutating func save(_ counts: [(name: String, count: UInt64)], now: Int64, force: Bool) throws(Failure) {
        let values = counts.map { $0.count }
        if values == lastCounts && lastWrite != nil { return }
        if !force, let last = lastWrite, now - last < spacingNs { return }
        var text = ""
        for entry in counts { text += entry.name + "\t" + String(entry.count) + "\n" }
        try AtomicFile.replace(path, with: Array(text.utf8), sync: checkpointSync)
        lastWrite = now
        lastCounts = values
    }

    private static func decimal(_ digits: Slice<UnsafeBufferPointer<UInt8>>) -> UInt64? {
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
