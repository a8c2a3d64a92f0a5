import CShim

// EdgeCore's simulated GPIO chip, named "sim:DIR", for demos and tests on machines without GPIO (the main
// job's site simulator plays one). It is a folder of plain files and FIFOs through which another process
// plays the hardware:
//
//   DIR/lines     one line name per text line; the chip has that many lines (offsets from 0)
//   DIR/N.value   line N's physical level, "0" or "1"; empty: floating, so the bias decides. The simulator
//                 writes it for inputs and EdgeCore writes it for outputs.
//   DIR/N.edges   a FIFO of 16-byte edge records for inputs, in native byte order: int64 CLOCK_MONOTONIC
//                 timestamp in ns, uint32 physical level after the edge, uint32 sequence number (from 1;
//                 0: unnumbered). A jump in the sequence is reported as lost events.
//
// A requested line holds an exclusive flock on its value file, so a second request is refused with EBUSY,
// as for a line in use on a real chip. Like a real chip it delivers both edges and EdgeCore debounces from
// the timestamps. `event_buffer_size` sets the FIFO's capacity in records.

/// The size of one edge record in DIR/N.edges.
let simulatedEdgeRecordSize = 16

final class SimulatedChip: GPIOChipPort {
    private let directory: FilePath
    private let description: String
    private let names: [String]

    private init(directory: FilePath, description: String, names: [String]) {
        self.directory = directory
        self.description = description
        self.names = names
    }

    /// Reads DIR/lines. A missing folder or file is -ENOENT naming it.
    static func open(directory: FilePath, description: String) throws(ConfigError) -> SimulatedChip {
        let file: WholeFile
        do throws(ConfigError) {
            file = try WholeFile.read(path: directory.appending("/lines"))
        } catch {
            throw ConfigError(error.kind, "gpio chip '\(description)': \(error.message)")
        }
        defer { file.release() }
        let text = UnsafeBufferPointer(start: file.bytes, count: file.count)
        var names: [String] = []
        for line in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            names.append(String(decoding: line, as: UTF8.self))
        }
        if text.last == UInt8(ascii: "\n") { names.removeLast() }
        return SimulatedChip(directory: directory, description: description, names: names)
    }

    var lineCount: UInt32 { UInt32(clamping: names.count) }

    func offset(ofLineNamed name: String) -> UInt32? {
        names.firstIndex { sameText($0, name) }.map { UInt32($0) }
    }

    func requestInput(offset: UInt32, bias: GPIOBias, activeLow: Bool) throws(ConfigError) -> any GPIOLinePort {
        SimulatedLine(fd: try openValue(offset, writing: false), activeLow: activeLow, bias: bias)
    }

    func requestOutput(offset: UInt32, activeLow: Bool, initial: Bool) throws(ConfigError) -> any GPIOLinePort {
        let line = SimulatedLine(fd: try openValue(offset, writing: true), activeLow: activeLow, bias: .asIs)
        let error = line.write(initial)
        guard error == 0 else { throw failure(offset, error) }
        return line
    }

    func requestEdges(offset: UInt32, bias: GPIOBias, activeLow: Bool,
                      eventBuffer: UInt32) throws(ConfigError) -> any GPIOEventLinePort {
        let value = try openValue(offset, writing: false)
        let path = directory.appending("/" + String(offset) + ".edges")
        // Read and write, so that the FIFO never reports a hang-up while the simulator is away.
        let fd = path.withCString { ec_open_existing($0, O_RDWR | O_NONBLOCK) }
        guard fd >= 0 else {
            let error = ec_errno()
            close(value)
            throw failure(offset, error)
        }
        var info = stat()
        guard fstat(fd, &info) == 0, UInt32(truncatingIfNeeded: info.st_mode) & UInt32(S_IFMT) == UInt32(S_IFIFO) else {
            close(value)
            close(fd)
            throw ConfigError(.config, "gpio chip '\(description)', line \(offset): \(path) is not a FIFO")
        }
        let line = SimulatedEventLine(fd: value, activeLow: activeLow, bias: bias, eventFD: fd)
        line.discardWaiting()  // edges from before the request, as a new kernel request starts empty
        _ = ec_set_pipe_size(fd, Int32(min(eventBuffer, 65536)) * Int32(simulatedEdgeRecordSize))
        return line
    }

    /// Opens and locks DIR/N.value.
    private func openValue(_ offset: UInt32, writing: Bool) throws(ConfigError) -> Int32 {
        guard offset < lineCount else {
            throw noSuchLineError(chip: description, offset: offset, lineCount: lineCount)
        }
        let path = directory.appending("/" + String(offset) + ".value")
        let fd = path.withCString { ec_open_existing($0, writing ? O_RDWR : O_RDONLY) }
        guard fd >= 0 else { throw failure(offset, ec_errno()) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = ec_errno()
            close(fd)
            throw failure(offset, error == EWOULDBLOCK ? EBUSY : error)
        }
        return fd
    }

    private func failure(_ offset: UInt32, _ error: Int32) -> ConfigError {
        lineRequestError(chip: description, offset: offset, error)
    }
}

private class SimulatedLine: GPIOLinePort {
    let fd: Int32
    let activeLow: Bool
    let bias: GPIOBias

    init(fd: Int32, activeLow: Bool, bias: GPIOBias) {
        self.fd = fd
        self.activeLow = activeLow
        self.bias = bias
    }

    deinit { close(fd) }  // also releases the lock

    func read() -> Result<Bool, GPIOError> {
        var text: (UInt8, UInt8) = (0, 0)
        let count = withUnsafeMutableBytes(of: &text) { pread(fd, $0.baseAddress, 1, 0) }
        guard count >= 0 else { return .failure(GPIOError(errno: ec_errno())) }
        let physical: Bool
        switch count == 0 ? UInt8(ascii: "\n") : text.0 {
        case UInt8(ascii: "0"): physical = false
        case UInt8(ascii: "1"): physical = true
        case UInt8(ascii: "\n"), UInt8(ascii: " "): physical = bias == .pullUp  // floating
        default: return .failure(GPIOError(errno: EIO))
        }
        return .success(physical != activeLow)
    }

    func write(_ value: Bool) -> Int32 {
        var text: (UInt8, UInt8) = (value != activeLow ? UInt8(ascii: "1") : UInt8(ascii: "0"), UInt8(ascii: "\n"))
        let count = withUnsafeBytes(of: &text) { pwrite(fd, $0.baseAddress, 2, 0) }
        if count == 2 { return 0 }
        return count < 0 ? ec_errno() : EIO
    }
}

private final class SimulatedEventLine: SimulatedLine, GPIOEventLinePort {
    let eventFD: Int32
    private var records = [UInt8](repeating: 0, count: 64 * simulatedEdgeRecordSize)

    init(fd: Int32, activeLow: Bool, bias: GPIOBias, eventFD: Int32) {
        self.eventFD = eventFD
        super.init(fd: fd, activeLow: activeLow, bias: bias)
    }

    deinit { close(eventFD) }

    var sequenced: Bool { false }

    func discardWaiting() {
        for _ in 0..<4096 where readRecords() > 0 {}
    }

    func readEvents(_ body: (GPIOEdge) -> Void) -> Int32 {
        let count = readRecords()
        guard count >= 0 else { return ec_errno() }
        records.withUnsafeBytes { bytes in
            for index in 0..<(count / simulatedEdgeRecordSize) {
                let at = index * simulatedEdgeRecordSize
                let timestamp = bytes.loadUnaligned(fromByteOffset: at, as: Int64.self)
                let level = bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self)
                let sequence = bytes.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self)
                body(GPIOEdge(timestampNs: timestamp, rising: (level != 0) != activeLow,
                              lineSeqno: sequence == 0 ? nil : sequence))
            }
        }
        return 0
    }

    /// Reads the records waiting (whole ones: a FIFO write of 16 bytes is atomic). Returns the bytes read,
    /// 0 when none wait, or -1 with errno set.
    private func readRecords() -> Int {
        let count = records.withUnsafeMutableBytes { systemRead(eventFD, $0.baseAddress, $0.count) }
        if count < 0, ec_errno() == EAGAIN { return 0 }
        return count
    }
}

/// read(2) under another name: inside these classes `read` is the line's own read().
@inline(__always)
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    CShim.read(fd, buffer, count)
}
