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

    /// Reads DIR/lines. A missing folder or file is .system(ENOENT) naming it.
    static func open(directory: FilePath, description: String) throws(Failure) -> SimulatedChip {
        let file: WholeFile
        do throws(Failure) {
            file = try WholeFile.read(path: directory.appending("/lines"))
        } catch {
            throw Failure(error, "gpio chip '\(description)'")
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

    func requestInput(offset: UInt32, bias: GPIOBias, activeLow: Bool) throws(Failure) -> any GPIOLinePort {
        SimulatedLine(file: try openValue(offset, writing: false), activeLow: activeLow, bias: bias)
    }

    func requestOutput(offset: UInt32, activeLow: Bool, initial: Bool) throws(Failure) -> any GPIOLinePort {
        let line = SimulatedLine(file: try openValue(offset, writing: true), activeLow: activeLow, bias: .asIs)
        if let error = line.write(initial) { throw lineRequestError(chip: description, offset: offset, error) }
        return line
    }

    func requestEdges(offset: UInt32, bias: GPIOBias, activeLow: Bool,
                      eventBuffer: UInt32) throws(Failure) -> any GPIOEventLinePort {
        let value = try openValue(offset, writing: false)
        let path = directory.appending("/" + String(UInt64(offset)) + ".edges")
        // Read and write, so that the FIFO never reports a hang-up while the simulator is away.
        let edges: FileDescriptor
        do throws(Failure) {
            edges = try FileDescriptor.open(path, .readWrite, .nonBlocking)
        } catch {
            throw lineFailure(offset, error)
        }
        guard edges.isFIFO else {
            throw Failure(.config, "gpio chip '\(description)', line \(offset): \(path) is not a FIFO")
        }
        let line = SimulatedEventLine(file: value, activeLow: activeLow, bias: bias, edges: edges)
        line.discardWaiting()  // edges from before the request, as a new kernel request starts empty
        edges.setPipeSize(Int32(min(eventBuffer, 65536)) * Int32(simulatedEdgeRecordSize))
        return line
    }

    /// Opens and locks DIR/N.value (a second request finds it locked: EBUSY).
    private func openValue(_ offset: UInt32, writing: Bool) throws(Failure) -> FileDescriptor {
        guard offset < lineCount else {
            throw noSuchLineError(chip: description, offset: offset, lineCount: lineCount)
        }
        let path = directory.appending("/" + String(UInt64(offset)) + ".value")
        do throws(Failure) {
            let file = try FileDescriptor.open(path, writing ? .readWrite : .readOnly)
            try file.lockExclusive()
            return file
        } catch {
            throw lineFailure(offset, error)
        }
    }

    /// "gpio chip 'C', line N: <errno text>", as for a line a real chip refuses.
    private func lineFailure(_ offset: UInt32, _ failure: Failure) -> Failure {
        guard case .system(let errno) = failure.kind else { return failure }
        return lineRequestError(chip: description, offset: offset, errno)
    }
}

private class SimulatedLine: GPIOLinePort {
    let file: FileDescriptor  // closed at deinit, which also releases the lock
    let activeLow: Bool
    let bias: GPIOBias

    init(file: FileDescriptor, activeLow: Bool, bias: GPIOBias) {
        self.file = file
        self.activeLow = activeLow
        self.bias = bias
    }

    func read() throws(Failure) -> Bool {
        var text: (UInt8, UInt8) = (0, 0)
        let count = try withUnsafeMutableBytes(of: &text) { (bytes) throws(Failure) in
            try file.read(at: 0, into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<1]))
        }
        let physical: Bool
        switch count == 0 ? UInt8(ascii: "\n") : text.0 {
        case UInt8(ascii: "0"): physical = false
        case UInt8(ascii: "1"): physical = true
        case UInt8(ascii: "\n"), UInt8(ascii: " "): physical = bias == .pullUp  // floating
        default: throw Failure(.system(.ioError))
        }
        return physical != activeLow
    }

    func write(_ value: Bool) -> Errno? {
        var text: (UInt8, UInt8) = (value != activeLow ? UInt8(ascii: "1") : UInt8(ascii: "0"), UInt8(ascii: "\n"))
        do throws(Failure) {
            try withUnsafeBytes(of: &text) { (bytes) throws(Failure) in try file.write(at: 0, bytes) }
            return nil
        } catch {
            return error.errno ?? .ioError
        }
    }
}

private final class SimulatedEventLine: SimulatedLine, GPIOEventLinePort {
    let edges: FileDescriptor
    private var records = [UInt8](repeating: 0, count: 64 * simulatedEdgeRecordSize)

    init(file: FileDescriptor, activeLow: Bool, bias: GPIOBias, edges: FileDescriptor) {
        self.edges = edges
        super.init(file: file, activeLow: activeLow, bias: bias)
    }

    var eventFD: Int32 { edges.rawValue }
    var sequenced: Bool { false }

    func discardWaiting() {
        for _ in 0..<4096 where (try? readRecords()) ?? 0 > 0 {}
    }

    func readEvents(_ body: (GPIOEdge) -> Void) -> Errno? {
        let count: Int
        do throws(Failure) { count = try readRecords() } catch { return error.errno ?? .ioError }
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
        return nil
    }

    /// Reads the records waiting (whole ones: a FIFO write of 16 bytes is atomic). Returns the bytes read,
    /// 0 when none wait.
    private func readRecords() throws(Failure) -> Int {
        var result: Result<Int, Failure> = .success(0)
        records.withUnsafeMutableBytes { buffer in
            do throws(Failure) { result = .success(try edges.read(into: buffer)) } catch { result = .failure(error) }
        }
        if case .failure(let error) = result, error.kind == .system(.wouldBlock) { return 0 }
        return try result.get()
    }
}
