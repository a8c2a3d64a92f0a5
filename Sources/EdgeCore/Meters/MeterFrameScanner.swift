/// Where frames start and how long they are, for the two protocols:
///
///     DL/T 645:  68 A0..A5 68 C L DATA CS 16      header 10 bytes, the second 0x68 at 7, L <= 200
///     CJ/T 188:  68 T A0..A6 C L DATA CS 16       header 11 bytes, T at 1 a known meter class
enum MeterFrameShape: Equatable {
    case dlt645
    case cjt188

    /// Bytes from the first 0x68 to the length byte L, inclusive.
    var headerLength: Int { self == .dlt645 ? 10 : 11 }

    /// The longest data field: DL/T 645 allows L <= 200 (the standard's limit for a read reply); in CJ/T 188
    /// every L of the length byte can occur.
    var maxDataLength: Int { self == .dlt645 ? 200 : 255 }

    /// The header of a frame that can start here (the byte at 0 is 0x68 and `header` holds headerLength
    /// bytes): the second 0x68 of DL/T 645, a meter type byte of CJ/T 188 (CJT188MeterType).
    func plausible(_ header: ArraySlice<UInt8>) -> Bool {
        let start = header.startIndex
        switch self {
        case .dlt645: return header[start + 7] == 0x68
        case .cjt188: return CJT188MeterType(rawValue: header[start + 1]) != nil
        }
    }
}

/// A problem the scanner found in the byte stream; after it the scanner drops the candidate's first 0x68
/// and looks for a frame from the next byte on (a frame may start inside the rejected one).
enum MeterFrameProblem: Equatable {
    /// The checksum byte differs from the sum of the frame's bytes.
    case checksum(expected: UInt8, received: UInt8)
    /// The byte after the checksum is not 0x16.
    case endByte(UInt8)
    /// A length byte L above the protocol's maximum (MeterFrameShape.maxDataLength).
    case length(Int)
    /// After `finish`: a frame had started and did not complete (its bytes so far).
    case truncated(Int)

    var message: Message {
        switch self {
        case .checksum(let expected, let received):
            return "frame checksum 0x\(hexByte(received)), the bytes sum to 0x\(hexByte(expected))"
        case .endByte(let byte): return "frame ends with 0x\(hexByte(byte)), not 0x16"
        case .length(let length): return "frame length \(length) is impossible"
        case .truncated(let count): return "frame cut off after \(count) bytes"
        }
    }
}

/// What the scanner yields: a whole frame (its bytes from the first 0x68 to the 0x16, and the position of
/// that 0x68 in the stream, counted from the first byte ever appended) or a problem.
enum MeterScanEvent: Equatable {
    case frame([UInt8], offset: Int)
    case problem(MeterFrameProblem)
}

/// A streaming frame finder for DL/T 645 or CJ/T 188, fed with whatever chunks the line delivers.
/// It skips FE preambles and noise, checks length, checksum and end byte, re-synchronises after a problem,
/// and never traps. Pull style: `append` the bytes read, then call `next` until it returns nil (it needs
/// more bytes); at the end of an answer window call `finish`, then `next` until nil: a frame that had
/// started is reported truncated (once), frames in the bytes after its start are still found (a stray 0x68
/// that looked like a start keeps a later frame back until then), the rest is dropped.
/// The events depend on the bytes and the `finish` points only, not on how the bytes were chunked.
///
/// Counts add up: `counts.fed == counts.frameBytes + counts.discardedBytes + pendingCount` at any time.
struct MeterFrameScanner {
    struct Counts: Equatable {
        /// Bytes appended.
        var fed = 0
        var frames = 0
        /// Bytes of the frames yielded.
        var frameBytes = 0
        /// Bytes dropped: FE preambles, noise, the 0x68 of each rejected candidate, truncated frames.
        var discardedBytes = 0
        var checksumErrors = 0
        var endByteErrors = 0
        var lengthErrors = 0
        var truncatedFrames = 0

        var problems: Int { checksumErrors + endByteErrors + lengthErrors + truncatedFrames }
    }

    let shape: MeterFrameShape
    private(set) var counts = Counts()
    private var buffer: [UInt8] = []
    /// Index in `buffer` of the first byte not yet consumed.
    private var start = 0
    /// `finish` was called: no more bytes come for this window.
    private var ending = false
    private var reportedTruncation = false

    init(shape: MeterFrameShape) { self.shape = shape }

    /// Bytes appended and not yet consumed (a frame in progress, or bytes not yet looked at).
    var pendingCount: Int { buffer.count - start }

    /// Those bytes.
    var pendingBytes: ArraySlice<UInt8> { buffer[start...] }

    /// A whole, checked frame (its bytes from 0x68 to 0x16) that starts at a later 0x68 of the pending bytes
    /// than the candidate the scanner waits on: a stray 0x68 in noise that looked like a frame's start keeps
    /// the frame after it back until `finish`; a caller that cannot wait (an answer window) takes it from here.
    /// The scanner's own state and events are unchanged.
    func completeFrameAfterCandidate() -> [UInt8]? {
        let header = shape.headerLength
        var index = start + 1
        while index < buffer.count {
            defer { index += 1 }
            guard buffer[index] == 0x68, buffer.count - index >= header,
                  shape.plausible(buffer[index..<index + header]) else { continue }
            let length = Int(buffer[index + header - 1])
            let total = header + length + 2
            guard length <= shape.maxDataLength, buffer.count - index >= total,
                  meterChecksum(buffer[index..<index + header + length]) == buffer[index + header + length],
                  buffer[index + total - 1] == 0x16 else { continue }
            return Array(buffer[index..<index + total])
        }
        return nil
    }

    mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        let before = buffer.count
        buffer.append(contentsOf: bytes)
        counts.fed += buffer.count - before
    }

    /// The next frame or problem, or nil when it needs more bytes.
    mutating func next() -> MeterScanEvent? {
        while start < buffer.count {
            guard buffer[start] == 0x68 else {
                discard(1)
                continue
            }
            let header = shape.headerLength
            guard buffer.count - start >= header else {
                guard ending else { return nil }
                if let truncated = dropIncomplete() { return truncated }
                continue
            }
            guard shape.plausible(buffer[start..<start + header]) else {
                discard(1)  // a stray 0x68
                continue
            }
            let length = Int(buffer[start + header - 1])
            if length > shape.maxDataLength {
                counts.lengthErrors += 1
                discard(1)
                return .problem(.length(length))
            }
            let total = header + length + 2
            guard buffer.count - start >= total else {
                guard ending else { return nil }
                if let truncated = dropIncomplete() { return truncated }
                continue
            }
            let sum = meterChecksum(buffer[start..<start + header + length])
            let received = buffer[start + header + length]
            if sum != received {
                counts.checksumErrors += 1
                discard(1)
                return .problem(.checksum(expected: sum, received: received))
            }
            let end = buffer[start + total - 1]
            if end != 0x16 {
                counts.endByteErrors += 1
                discard(1)
                return .problem(.endByte(end))
            }
            let frame = Array(buffer[start..<start + total])
            let offset = counts.fed - (buffer.count - start)
            start += total
            counts.frames += 1
            counts.frameBytes += total
            return .frame(frame, offset: offset)
        }
        if ending {
            ending = false
            reportedTruncation = false
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return nil
    }

    /// After `finish`, a frame started at `start` whose bytes are not all in: its 0x68 is dropped (the scan
    /// goes on after it); the first such frame of the window is reported truncated.
    private mutating func dropIncomplete() -> MeterScanEvent? {
        let left = pendingCount
        discard(1)
        guard !reportedTruncation else { return nil }
        reportedTruncation = true
        counts.truncatedFrames += 1
        return .problem(.truncated(left))
    }

    /// The answer window is over: `next` reports what is left (see the type's comment) and then starts afresh.
    mutating func finish() { ending = true }

    private mutating func discard(_ count: Int) {
        start += count
        counts.discardedBytes += count
    }
}

/// A frame of one of the protocols (DLT645Frame, CJT188Frame), as MeterDecoder needs it.
protocol MeterFrame: Equatable {
    static var shape: MeterFrameShape { get }
    /// The frame of the bytes from 0x68 to 0x16; nil if they are not one.
    init?(raw: [UInt8])
    func encoded(preamble: Int) -> [UInt8]
}

/// A byte stream to frames of one protocol: MeterFrameScanner with the protocol's shape, each frame parsed.
/// DLT645Decoder and CJT188Decoder.
struct MeterDecoder<Frame: MeterFrame> {
    private(set) var scanner = MeterFrameScanner(shape: Frame.shape)

    enum Event: Equatable {
        case frame(Frame)
        case problem(MeterFrameProblem)
    }

    mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 { scanner.append(bytes) }

    /// The next frame or problem, nil when more bytes are needed.
    mutating func next() -> Event? {
        while let event = scanner.next() {
            switch event {
            case .problem(let problem): return .problem(problem)
            case .frame(let raw, _):
                // The scanner checked what init(raw:) checks; should they ever disagree, the frame is skipped.
                if let frame = Frame(raw: raw) { return .frame(frame) }
            }
        }
        return nil
    }

    /// The end of an answer window (MeterFrameScanner.finish): call `next` until nil afterwards.
    mutating func finish() { scanner.finish() }
}

typealias DLT645Decoder = MeterDecoder<DLT645Frame>
typealias CJT188Decoder = MeterDecoder<CJT188Frame>
