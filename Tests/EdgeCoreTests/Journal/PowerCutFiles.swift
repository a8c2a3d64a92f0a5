@testable import EdgeCore

/// A journal folder in memory that plays power cuts, as SQLite's crash-test VFS does: every write, sync
/// and folder sync is an event; when the power fails (at event `cutAt`, or at `cut()`), what was not yet
/// synced is lost, except that a random prefix of each file's unsynced writes may have reached the medium,
/// the last of them torn at a random byte, sometimes followed by garbage, and a random prefix of the folder's
/// unsynced changes (creations, renames, removals: a file system may write them back at any time) may have
/// reached it too. `reboot()` then gives the folder as a fresh process would find it.
final class PowerCutFiles: JournalFiles {
    /// One file's bytes: as the running process sees them, as the medium holds them after the last sync,
    /// and the writes in between (in order).
    final class Node {
        var current: [UInt8] = []
        var durable: [UInt8] = []
        var pending: [Change] = []
    }

    enum Change {
        case bytes(offset: Int, data: [UInt8])
        case truncate(Int)
    }

    enum FolderChange {
        case create(String, Node)
        case rename(String, String)
        case remove(String)
    }

    private(set) var entries: [String: Node] = [:]
    private var durableEntries: [String: Node] = [:]
    /// The folder's changes since its last sync, in order.
    private var folderChanges: [FolderChange] = []
    /// Whether a cut lands a random prefix of the unsynced folder changes (true) or none of them.
    var folderChangesMayLand = true
    /// Writes, syncs and folder syncs so far.
    private(set) var events = 0
    /// The power fails at this event: it does not complete (a write of it may be torn).
    var cutAt: Int?
    private(set) var powerOff = false
    private var random: UInt64

    init(seed: UInt64) { random = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    func nextRandom(_ bound: Int) -> Int {
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return bound <= 0 ? 0 : Int(random % UInt64(bound))
    }

    // MARK: JournalFiles

    func names() throws(Failure) -> [String] {
        try checkPower()
        return Array(entries.keys)
    }

    func open(_ name: String, create: Bool) throws(Failure) -> any JournalFile {
        try checkPower()
        if let node = entries[name] { return SimulatedFile(folder: self, node: node) }
        guard create else { throw Failure(.system(.noEntry), "\(name): no such file") }
        let node = Node()
        entries[name] = node
        folderChanges.append(.create(name, node))
        return SimulatedFile(folder: self, node: node)
    }

    func remove(_ name: String) throws(Failure) {
        try checkPower()
        guard entries.removeValue(forKey: name) != nil else { throw Failure(.system(.noEntry), "\(name): no such file") }
        folderChanges.append(.remove(name))
    }

    func rename(_ from: String, to: String) throws(Failure) {
        try checkPower()
        guard let node = entries.removeValue(forKey: from) else {
            throw Failure(.system(.noEntry), "\(from): no such file")
        }
        entries[to] = node
        folderChanges.append(.rename(from, to))
    }

    func syncFolder() throws(Failure) {
        try event()
        durableEntries = entries
        folderChanges.removeAll()
    }

    // MARK: Power

    /// Counts an event; the power fails at `cutAt`.
    func event() throws(Failure) {
        try checkPower()
        events += 1
        if events == cutAt {
            cut()
            throw Failure(.system(.ioError), "power cut at event \(events)")
        }
    }

    private func checkPower() throws(Failure) {
        if powerOff { throw Failure(.system(.ioError), "the power is off") }
    }

    /// The power fails now: each durable file keeps what was synced, plus a random prefix of its unsynced
    /// changes, the last one torn when it is a write.
    func cut() {
        powerOff = true
        let landed = folderChangesMayLand ? nextRandom(folderChanges.count + 1) : 0
        for change in folderChanges.prefix(landed) {
            switch change {
            case .create(let name, let node): durableEntries[name] = node
            case .rename(let from, let to): durableEntries[to] = durableEntries.removeValue(forKey: from)
            case .remove(let name): durableEntries[name] = nil
            }
        }
        folderChanges.removeAll()
        for node in durableEntries.values {
            let reached = nextRandom(node.pending.count + 1)
            for (index, change) in node.pending.prefix(reached).enumerated() {
                switch change {
                case .truncate(let size):
                    resize(&node.durable, to: size)
                case .bytes(let offset, let data):
                    var landed = data
                    if index == reached - 1, nextRandom(2) == 0 {
                        let torn = nextRandom(data.count + 1)
                        landed = Array(data.prefix(torn))
                        if nextRandom(2) == 0 {  // the rest of the sector holds garbage
                            landed += (torn..<data.count).map { _ in UInt8(truncatingIfNeeded: nextRandom(256)) }
                        }
                    }
                    place(landed, at: offset, in: &node.durable)
                }
            }
            node.pending.removeAll()
        }
    }

    /// The folder as the next boot finds it.
    func reboot() {
        if !powerOff { cut() }
        entries = durableEntries
        for node in entries.values {
            node.current = node.durable
            node.pending.removeAll()
        }
        powerOff = false
        cutAt = nil
    }

    /// A file's bytes as the running process sees them (tests).
    func contents(_ name: String) -> [UInt8]? { entries[name]?.current }

    // MARK: Byte arrays

    func place(_ data: [UInt8], at offset: Int, in bytes: inout [UInt8]) {
        if bytes.count < offset + data.count { bytes += [UInt8](repeating: 0, count: offset + data.count - bytes.count) }
        bytes.replaceSubrange(offset..<offset + data.count, with: data)
    }

    func resize(_ bytes: inout [UInt8], to size: Int) {
        if bytes.count > size { bytes.removeLast(bytes.count - size) }
        else { bytes += [UInt8](repeating: 0, count: size - bytes.count) }
    }
}

/// An open file of a PowerCutFiles folder.
final class SimulatedFile: JournalFile {
    private let folder: PowerCutFiles
    private let node: PowerCutFiles.Node

    init(folder: PowerCutFiles, node: PowerCutFiles.Node) {
        self.folder = folder
        self.node = node
    }

    func size() throws(Failure) -> UInt64 {
        if folder.powerOff { throw Failure(.system(.ioError), "the power is off") }
        return UInt64(node.current.count)
    }

    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        if folder.powerOff { throw Failure(.system(.ioError), "the power is off") }
        let start = min(Int(clamping: offset), node.current.count)
        let count = min(buffer.count, node.current.count - start)
        node.current.withUnsafeBytes { bytes in
            buffer.baseAddress?.copyMemory(from: bytes.baseAddress! + start, byteCount: count)
        }
        return count
    }

    func write(at offset: UInt64, _ bytes: UnsafeRawBufferPointer) throws(Failure) {
        let data = Array(bytes)
        node.pending.append(.bytes(offset: Int(clamping: offset), data: data))  // may reach the medium torn
        try folder.event()
        folder.place(data, at: Int(clamping: offset), in: &node.current)
    }

    func truncate(to size: UInt64) throws(Failure) {
        node.pending.append(.truncate(Int(clamping: size)))
        try folder.event()
        folder.resize(&node.current, to: Int(clamping: size))
    }

    func sync() throws(Failure) {
        try folder.event()
        node.durable = node.current
        node.pending.removeAll()
    }

    func close() {}
}
