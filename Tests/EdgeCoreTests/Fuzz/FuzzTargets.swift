import CShim

@testable import EdgeCore

// The fuzz targets' bodies. fuzz/Makefile compiles this file (not the rest of the test target) with
// EdgeCore's sources under libFuzzer and the address sanitizer, behind the entry points in fuzz/*.swift;
// FuzzCorpusTests replays fuzz/corpus/ through the same functions in every `swift test`.
// A target returns nil for an input handled correctly and a description of the broken property otherwise
// (the fuzz entry point traps on it); a crash, hang or leak in the library is a finding by itself.
enum FuzzTargets {
    // MARK: Site file

    /// A site file through the C API: create an engine, edgecore_engine_load_yaml, destroy.
    static func siteYAML(_ input: UnsafeRawBufferPointer) -> String? {
        guard let path = scratchFile.replace(with: input) else { return "cannot write the scratch file" }
        var settings = edgecore_engine_config.defaults
        settings.ring_capacity = EDGECORE_RING_CAPACITY_MIN
        var engine: OpaquePointer?
        guard edgecore_engine_create_sized(&settings, MemoryLayout<edgecore_engine_config>.size, &engine) == 0,
              let engine else { return "edgecore_engine_create failed" }
        defer { edgecore_engine_destroy(engine) }
        let code = path.withCString { edgecore_engine_load_yaml(engine, $0) }
        if code > 0 { return "edgecore_engine_load_yaml returned \(code), neither 0 nor a negative code" }
        if code < 0, let text = edgecore_engine_last_error(), text.pointee == 0 {
            return "edgecore_engine_load_yaml failed (\(code)) with an empty edgecore_engine_last_error"
        }
        return nil
    }

    /// One unlinked temporary file, opened again through /proc/self/fd for every input; in /dev/shm where
    /// there is one (on a disk file system, truncating and closing cost more than the rest of the target).
    /// One input at a time: libFuzzer runs one, and one test replays the site files.
    private static let scratchFile = ScratchFile()

    private final class ScratchFile: Sendable {
        let fd: Int32
        init() {
            var fd: Int32 = -1
            for folder in ["/dev/shm", "/tmp"] where fd < 0 {
                var template = Array("\(folder)/edgecore-fuzz-XXXXXX".utf8CString)
                fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
                if fd >= 0 { template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) } }
            }
            self.fd = fd
        }
        func replace(with input: UnsafeRawBufferPointer) -> String? {
            guard fd >= 0, ftruncate(fd, 0) == 0 else { return nil }
            var done = 0
            while done < input.count {
                let written = pwrite(fd, input.baseAddress! + done, input.count - done, off_t(done))
                guard written > 0 else { return nil }
                done += written
            }
            return "/proc/self/fd/\(fd)"
        }
    }

    // MARK: Modbus answer decoding

    /// The first byte picks the part: even, one channel's codec over the answer's registers or bits; odd,
    /// the request plan whose offsets the Modbus worker's decode table uses.
    static func answerDecoding(_ input: UnsafeRawBufferPointer) -> String? {
        var bytes = ByteReader(input)
        return bytes.byte() & 1 == 0 ? codecDecoding(&bytes) : planOffsets(&bytes)
    }

    /// A channel spec drawn from the input (any type, order, bit, scale, offset, range, up to five sentinels)
    /// decodes the rest of the input as the answer's registers (or first bit). Checked against a reference
    /// decoding written from the header's rules, and, for scale 1 and offset 0, that encoding the value
    /// gives back the registers.
    private static func codecDecoding(_ bytes: inout ByteReader) -> String? {
        let allTypes: [ValueType] = [.u16, .i16, .u32, .i32, .u64, .i64, .f32, .f64, .bit]
        let allOrders: [WordOrder] = [.abcd, .cdab, .badc, .dcba]
        let readsBits = bytes.byte() & 1 == 1
        let type = allTypes[Int(bytes.byte()) % allTypes.count]
        let order = allOrders[Int(bytes.byte()) % allOrders.count]
        let bit = bytes.byte()
        let flags = bytes.byte()
        let scale = flags & 1 != 0 ? bytes.double() : 1
        let offset = flags & 2 != 0 ? bytes.double() : 0
        let validMin = flags & 4 != 0 ? bytes.double() : nil
        let validMax = flags & 8 != 0 ? bytes.double() : nil
        let sentinels = (0..<Int(flags >> 4) % 6).map { _ in bytes.word64() }
        let codec = ValueCodec(type: type, order: order, bit: bit, scale: scale, offset: offset,
                               validMin: validMin, validMax: validMax, sentinels: sentinels)
        let registers = bytes.registers()

        let decoded: DecodedValue
        let raw: UInt64
        if readsBits {
            let on = registers.first.map { $0 & 1 == 1 } ?? false
            decoded = codec.decode(bit: on)
            raw = on ? 1 : 0
        } else {
            decoded = registers.withUnsafeBufferPointer { codec.decode(registers: $0) }
            if registers.count < type.registerCount {
                if decoded != DecodedValue(value: 0, status: status(EDGECORE_STATUS_CRC_ERROR)) {
                    return "\(registers.count) registers for \(type): \(decoded), not (0, CRC_ERROR)"
                }
                return nil
            }
            raw = referenceRaw(registers, type: type, order: order, bit: bit)
            let got = registers.withUnsafeBufferPointer { codec.rawValue(registers: $0) }
            if got != raw { return "rawValue \(got), reference \(raw) (\(type) \(order) bit \(bit) \(registers))" }
        }
        if let problem = checkStatus(decoded, raw: raw, codec: codec) { return problem }
        if !readsBits, scale == 1, offset == 0, decoded.status != status(EDGECORE_STATUS_SENTINEL) {
            return checkRoundTrip(decoded.value, registers: Array(registers.prefix(type.registerCount)),
                                  codec: codec)
        }
        return nil
    }

    /// The header's rules: the registers' bytes as on the wire, ABCD as they come, CDAB with the register
    /// order reversed, BADC with each register's two bytes swapped, DCBA with all bytes reversed; the value
    /// is the result read most significant byte first. A bit channel takes bit `bit` of the first register
    /// after the byte rule (0 for a bit number above 15).
    private static func referenceRaw(_ registers: [UInt16], type: ValueType, order: WordOrder, bit: UInt8) -> UInt64 {
        let words = Array(registers.prefix(type.registerCount))
        var wire: [UInt8] = words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
        switch order {
        case .abcd: break
        case .cdab: wire = words.reversed().flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
        case .badc: wire = words.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
        case .dcba: wire.reverse()
        }
        let value = wire.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if type == .bit { return bit < 16 ? (value >> UInt64(bit)) & 1 : 0 }
        return value
    }

    private static func checkStatus(_ decoded: DecodedValue, raw: UInt64, codec: ValueCodec) -> String? {
        if codec.sentinels.contains(raw) {
            return decoded == DecodedValue(value: 0, status: status(EDGECORE_STATUS_SENTINEL))
                ? nil : "raw \(raw) is a sentinel of \(codec) but decodes to \(decoded)"
        }
        let number: Double
        switch codec.type {
        case .u16, .u32, .u64, .bit: number = Double(raw)
        case .i16: number = Double(Int16(truncatingIfNeeded: raw))
        case .i32: number = Double(Int32(truncatingIfNeeded: raw))
        case .i64: number = Double(Int64(bitPattern: raw))
        case .f32: number = Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
        case .f64: number = Double(bitPattern: raw)
        }
        let value = number * codec.scale + codec.offset
        let sameValue = value.isNaN ? decoded.value.isNaN : decoded.value.bitPattern == value.bitPattern
        if !sameValue { return "raw \(raw) of \(codec) decodes to \(decoded.value), expected \(value)" }
        let inRange = value.isFinite && !(codec.validMin.map { value < $0 } ?? false)
            && !(codec.validMax.map { value > $0 } ?? false)
        let expected = status(inRange ? EDGECORE_STATUS_OK : EDGECORE_STATUS_OUT_OF_RANGE)
        return decoded.status == expected ? nil : "raw \(raw) of \(codec): status \(decoded.status), expected \(expected)"
    }

    /// Writing back what was read (scale 1, offset 0) reproduces the registers where a Double holds the
    /// value exactly (integers up to 2^53 in magnitude), and the value for finite floats.
    private static func checkRoundTrip(_ value: Double, registers: [UInt16], codec: ValueCodec) -> String? {
        if codec.type == .bit {
            guard codec.bit < 16 else { return nil }
            let again = try? codec.encodeBit(value, into: registers[0])
            return again == registers[0] ? nil : "encodeBit(\(value)) of \(codec) gives \(String(describing: again)), not \(registers[0])"
        }
        guard value.isFinite, !codec.type.isInteger || value.magnitude <= 9_007_199_254_740_992 else { return nil }
        let again = try? codec.encode(value)
        if codec.type.isInteger {
            return again == registers ? nil : "encode(\(value)) of \(codec) gives \(String(describing: again)), not \(registers)"
        }
        // A float's sign of zero is not kept (-0.0 * 1 + 0 is +0.0): the value, not the bits, comes back.
        let back = again.map { $0.withUnsafeBufferPointer { codec.decode(registers: $0).value } }
        return back == value ? nil : "encode(\(value)) of \(codec) gives \(String(describing: again)), read back as \(String(describing: back))"
    }

    /// Up to 32 channels of one device, with holes and request limits drawn from the input, planned; every
    /// accepted channel lies in exactly one request, inside it (the decode table's offset and width), and
    /// no request is longer than the device and the protocol allow or crosses a hole.
    private static func planOffsets(_ bytes: inout ByteReader) -> String? {
        var config = SiteConfig()
        var device = DeviceSpec(name: "d", bus: 0)
        device.maxRegisters = UInt16(bytes.byte() % 125) + 1
        device.maxBits = UInt16(bytes.word() % 2000) + 1
        device.oneChannelPerRequest = bytes.byte() & 1 == 1
        let functions: [ModbusFunction] = [.coils, .discreteInputs, .holdingRegisters, .inputRegisters]
        let types: [ValueType] = [.u16, .i16, .u32, .i32, .u64, .i64, .f32, .f64, .bit]
        do throws(Failure) {
            _ = try config.addBus(.tcp(TCPBusSpec(name: "b", host: "127.0.0.1")))
            _ = try config.addDevice(device)
            for _ in 0..<Int(bytes.byte() % 4) {
                let first = bytes.word()
                let hole = Hole(function: functions[Int(bytes.byte()) % 4], first: first,
                                last: first &+ UInt16(bytes.byte()))
                try? config.addHole(hole, device: 0)
            }
        } catch {
            return "the plan's bus or device was refused: \(error.message)"
        }
        for number in 0..<32 where !bytes.isEmpty {
            let codec = ValueCodec(type: types[Int(bytes.byte()) % types.count], order: .abcd, bit: bytes.byte() % 16,
                                   scale: 1, offset: 0, validMin: nil, validMax: nil, sentinels: [])
            let intervals: [UInt32] = [100, 1000]
            let channel = ChannelSpec(name: "c\(number)", device: 0, function: functions[Int(bytes.byte()) % 4],
                                      address: bytes.word(), codec: codec,
                                      intervalMs: intervals[Int(bytes.byte()) & 1])
            _ = try? config.addChannel(channel)
        }
        var covered = [Int](repeating: 0, count: config.channels.count)
        for request in Planner.plan(config) {
            let limit = min(request.function.protocolLimit, config.devices[0].limit(for: request.function))
            if request.count < 1 || request.count > limit { return "request of \(request.count) (limit \(limit))" }
            if request.lastAddress > 65_535 { return "request \(request.address)+\(request.count) beyond 65535" }
            for hole in config.devices[0].holes where hole.function == request.function
                && Int(hole.first) <= request.lastAddress && Int(hole.last) >= Int(request.address) {
                return "request \(request.address)+\(request.count) crosses hole \(hole.first)..\(hole.last)"
            }
            for id in request.channels {
                let channel = config.channels[id]
                guard let point = channel.modbus else { return "GPIO line \(id) in a Modbus request" }
                let offset = Int(point.address) - Int(request.address)
                if point.function != request.function || channel.intervalMs != request.intervalMs
                    || offset < 0 || offset + point.width > request.count {
                    return "channel \(id) (\(point.address)+\(point.width)) outside request \(request.address)+\(request.count)"
                }
                covered[id] += 1
            }
        }
        if let id = covered.firstIndex(where: { $0 != 1 }) { return "channel \(id) is in \(covered[id]) requests" }
        return nil
    }

    // MARK: Modbus answer frames

    /// A raw TCP answer through libmodbus' receive path, as the Modbus worker reads it: the first three
    /// bytes pick the read (function 1..4, count 1..125 registers or 1..2000 bits), the rest is what a
    /// loopback peer sends back before closing its side. The answer lands in a buffer of exactly `count`
    /// elements (the address sanitizer catches a write past it); no file descriptor may be left open
    /// (`checkDescriptors`: not where other threads open and close descriptors meanwhile, as in `swift test`).
    /// Arbitrary bytes as a journal segment file, as recovery reads it after a crash: the header decodes to
    /// one of its outcomes, and every record the scanner delivers lies in the valid prefix, after the one
    /// before it, with a sequence that only grows, and is exactly the encoding of the readings it yields,
    /// so no damaged reading is ever delivered.
    static func journalRecovery(_ input: UnsafeRawBufferPointer) -> String? {
        _ = JournalFormat.decodeSegmentHeader(input)
        let headerSize = JournalFormat.segmentHeaderSize
        let body = input.count >= headerSize ? UnsafeRawBufferPointer(rebasing: input[headerSize...]) : input
        let result = JournalFormat.scanRecords(body, expectedFirst: nil)
        guard result.validEnd <= body.count else { return "valid prefix \(result.validEnd) past \(body.count) bytes" }
        var next: UInt64 = 0
        var end = 0
        for record in result.records {
            guard record.offset >= end, record.offset + record.size <= result.validEnd else {
                return "record at \(record.offset) outside the valid prefix \(end)..<\(result.validEnd)"
            }
            guard record.first >= next else { return "sequence \(record.first) after \(next): went back" }
            let readings = JournalFormat.decodeReadings(body, record: record)
            guard readings.count == record.count else { return "record at \(record.offset): \(readings.count) of \(record.count) readings" }
            var encoded: [UInt8] = []
            readings.withUnsafeBufferPointer { JournalFormat.encodeRecord(first: record.first, readings: $0, into: &encoded) }
            guard encoded.elementsEqual(body[record.offset..<record.offset + record.size]) else {
                return "record at \(record.offset) is not the encoding of the readings it yields"
            }
            next = record.next
            end = record.offset + record.size
        }
        return nil
    }

    /// Arbitrary bytes as the segment files of a journal folder, opened by `Journal` as after a crash: the
    /// first byte splits the rest into an older segment and the newest one. Opening never fails (but for a
    /// newer format version), never traps; every reading a cursor delivers is one that the scanner found in
    /// a valid record of those bytes, under the sequence that record gives it; appending and reopening work
    /// afterwards, and the new reading's sequence is above every delivered one.
    static func journalOpen(_ input: UnsafeRawBufferPointer) -> String? {
        guard input.count > 0 else { return nil }
        let rest = Array(input[1...])
        let split = min(rest.count, Int(input[0]) * rest.count / 255)
        let folder = MemoryFiles()
        let older = Array(rest[..<split]), newer = Array(rest[split...])
        let olderFirst: UInt64 = 1
        let newerFirst: UInt64 = older.count >= 52 ? UInt64(older.count - 32) / 32 + 2 : 2
        if split > 0 { folder.files[Journal.segmentName(olderFirst)] = older }
        folder.files[Journal.segmentName(newerFirst)] = newer
        // What the scanner accepts: sequence -> the reading's 32 bytes.
        var valid: [UInt64: [UInt8]] = [:]
        for (bytes, first) in [(older, olderFirst), (newer, newerFirst)] where bytes.count >= 32 {
            bytes.withUnsafeBytes { raw in
                let body = UnsafeRawBufferPointer(rebasing: raw[32...])
                for record in JournalFormat.scanRecords(body, expectedFirst: first).records {
                    for index in 0..<record.count {
                        let start = record.offset + 16 + index * 32
                        valid[record.first + UInt64(index)] = Array(body[start..<start + 32])
                    }
                }
            }
        }
        let settings = JournalSettings(sizeLimit: 1 << 30, segmentSize: 1 << 20, syncIntervalMs: 0)
        do throws(Failure) {
            let journal = try Journal(files: folder, settings: settings, clock: { 0 })
            _ = try journal.addCursor("fuzz")
            var out = [Reading](repeating: Reading(), count: 64)
            var delivered: UInt64 = 0
            for _ in 0..<100_000 {
                var got: (first: UInt64, count: Int) = (0, 0)
                var failure: Failure? = nil
                out.withUnsafeMutableBufferPointer { buffer in
                    do throws(Failure) { got = try journal.read("fuzz", into: buffer) } catch { failure = error }
                }
                if let failure { return "read: \(failure.message)" }
                if got.count == 0 { break }
                if got.first <= delivered { return "sequence \(got.first) after \(delivered)" }
                for index in 0..<got.count {
                    let sequence = got.first + UInt64(index)
                    let bytes = withUnsafeBytes(of: out[index]) { Array($0) }
                    guard let expected = valid[sequence], expected == bytes else {
                        return "reading \(sequence) delivered but not in a valid record"
                    }
                }
                delivered = got.first + UInt64(got.count) - 1
            }
            let appended = try [Reading()].withUnsafeBufferPointer { (buffer) throws(Failure) -> UInt64 in try journal.append(buffer) }
            if appended <= delivered { return "new sequence \(appended) not above delivered \(delivered)" }
            try journal.close()
            let again = try Journal(files: folder, settings: settings, clock: { 0 })
            if again.stats().newestSequence != appended { return "reopened: newest \(again.stats().newestSequence), appended \(appended)" }
            try again.close()
        } catch {
            if error.kind == .journalVersion { return nil }
            return "journal: \(error.message)"
        }
        return nil
    }

    static func answerFrame(_ input: UnsafeRawBufferPointer, checkDescriptors: Bool = true) -> String? {
        var bytes = ByteReader(input)
        let functions: [ModbusFunction] = [.coils, .discreteInputs, .holdingRegisters, .inputRegisters]
        let function = functions[Int(bytes.byte()) % 4]
        let count = Int(bytes.word()) % function.protocolLimit + 1
        let answer = bytes.rest()
        guard let peer = loopbackPeer else { return "no loopback listener" }
        let fdsBefore = nextFreeDescriptor()

        let transport = LibmodbusTransport(.tcp(TCPBusSpec(name: "f", host: "127.0.0.1", port: peer.port)))
        transport.setUnit(1)
        transport.setResponseTimeout(milliseconds: 200)
        do throws(Failure) {
            try transport.open(stop: NoStop())
        } catch {
            return "connect to the loopback peer: \(error.message)"
        }
        let server = accept(peer.listener, nil, nil)
        if server < 0 { return "accept: errno \(ec_errno())" }
        var sent = 0
        while sent < answer.count {
            let done = answer.withUnsafeBytes { send(server, $0.baseAddress! + sent, answer.count - sent, Int32(MSG_NOSIGNAL)) }
            if done <= 0 { break }
            sent += done
        }
        _ = shutdown(server, Int32(SHUT_WR))

        var failure: Failure? = nil
        do throws(Failure) {
            if function.readsBits {
                let bits = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
                defer { bits.deallocate() }
                try transport.readBits(function, address: 0, count: count, into: bits)
            } else {
                let registers = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
                defer { registers.deallocate() }
                try transport.readRegisters(function, address: 0, count: count, into: registers)
            }
        } catch {
            failure = error
        }
        transport.close()
        _ = close(server)
        // A lost connection carries an errno, never one of libmodbus's own error numbers; an answer from
        // another unit is a frame error, never data (a well-formed exception answer may carry any code).
        if case .disconnected(let errno)? = failure?.kind, let code = errno?.rawValue, code <= 0 || code >= 4096 {
            return "disconnected(\(code)) is not an errno"
        }
        if failure == nil, answer.count > 6, answer[6] != 1 { return "answer from unit \(answer[6]) accepted" }
        let fdsAfter = nextFreeDescriptor()
        return !checkDescriptors || fdsAfter == fdsBefore ? nil : "file descriptors: next free \(fdsBefore) before, \(fdsAfter) after"
    }

    private static let loopbackPeer = LoopbackPeer()

    /// The lowest free descriptor number: it grows when one leaks.
    private static func nextFreeDescriptor() -> Int32 {
        let fd = dup(0)
        if fd >= 0 { _ = close(fd) }
        return fd
    }

    private final class NoStop: StopRequest {
        var eventFD: EventFD? { nil }
        var stopRequested: Bool { false }
    }

    /// A listening socket on 127.0.0.1 (an ephemeral port) that stays open for the process.
    private final class LoopbackPeer: Sendable {
        let listener: Int32
        let port: UInt16

        init?() {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return nil }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    bind(fd, generic, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, generic, &length) == 0
                }
            }
            guard bound else {
                _ = close(fd)
                return nil
            }
            listener = fd
            port = UInt16(bigEndian: address.sin_port)
        }
    }

    // MARK: Meter frame decoders (DL/T 645, CJ/T 188)

    /// Arbitrary bytes as a DL/T 645 line: meterStream's properties, and each frame read as a reply to a read
    /// of its own identifier (2007 and 1997) with its value decoded by the catalogue's format.
    static func dlt645Decoding(_ input: UnsafeRawBufferPointer) -> String? {
        meterStream(input, DLT645Frame.self) { frame in
            for version in [DLT645Version.v2007, .v1997] {
                let identifier = frame.identifier(version) ?? 0
                guard let request = try? DLT645Frame.read(version, address: frame.address, identifier: identifier),
                      let answer = try? DLT645Reply.interpret(frame, request: request, version: version) else { continue }
                if case .data(let bytes, _) = answer, let entry = DLT645Catalogue.entry(identifier: identifier, version: version) {
                    _ = try? entry.format.decode(bytes)
                }
            }
            return nil
        }
    }

    /// Arbitrary bytes as a CJ/T 188 line: meterStream's properties, and each frame read as the reply to a
    /// 901F read (and a valve write) with its sequence byte, every field of a 901F reply decoded.
    static func cjt188Decoding(_ input: UnsafeRawBufferPointer) -> String? {
        meterStream(input, CJT188Frame.self) { frame in
            let sequence = frame.sequence ?? 0
            for request in [try? CJT188Frame.readCurrentData(type: frame.meterType, address: frame.address, sequence: sequence),
                            try? CJT188Frame.valveControl(type: frame.meterType, address: frame.address, sequence: sequence, open: true)] {
                guard let request, let answer = try? CJT188Reply.interpret(frame, request: request) else { continue }
                if case .currentData(let data) = answer {
                    for field in CJT188Field.allCases { _ = try? data.value(field) }
                }
            }
            return nil
        }
    }

    /// The first input byte picks chunk sizes, the rest is the line's bytes. Properties: the events are the
    /// same fed whole and in chunks; every frame is the input's bytes at its offset, in order without overlap,
    /// and re-encodes to exactly those bytes (with and without preamble); the counts add up (bytes fed =
    /// frame bytes + discarded, frames and each kind of problem = the events of that kind); the typed decoder
    /// yields the same frames; `check` looks at each frame.
    private static func meterStream<Frame: MeterFrame>(_ input: UnsafeRawBufferPointer, _: Frame.Type,
                                                       check: (Frame) -> String?) -> String? {
        var reader = ByteReader(input)
        var seed = UInt64(reader.byte()) | 1
        let stream = reader.rest()
        let whole = scanMeterStream(stream, shape: Frame.shape) { _ in stream.count }
        let chunked = scanMeterStream(stream, shape: Frame.shape) { _ in
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return 1 + Int(seed >> 59)  // 1...32
        }
        if whole.events != chunked.events { return "events differ by chunking: \(whole.events) / \(chunked.events)" }
        // What an answer window takes early (MeterExchange): a whole frame behind the candidate the scanner waits
        // on must be one the protocol's parser accepts, and must be bytes of the stream as they came.
        for (raw, pending) in whole.early + chunked.early {
            guard Frame(raw: raw) != nil else { return "early frame \(raw) does not parse" }
            guard contains(pending.dropFirst(), raw) else { return "early frame \(raw) is not in the pending \(pending)" }
        }
        let counts = whole.counts
        guard counts.fed == stream.count, counts.frameBytes + counts.discardedBytes == counts.fed else {
            return "counts do not add up: \(counts) for \(stream.count) bytes"
        }
        var frames: [Frame] = []
        var next = 0
        var problems = (checksum: 0, end: 0, length: 0, truncated: 0)
        for event in whole.events {
            switch event {
            case .problem(.checksum): problems.checksum += 1
            case .problem(.endByte): problems.end += 1
            case .problem(.length): problems.length += 1
            case .problem(.truncated): problems.truncated += 1
            case .frame(let raw, let offset):
                guard offset >= next, offset + raw.count <= stream.count,
                      Array(stream[offset..<offset + raw.count]) == raw else { return "frame \(raw) is not the input at \(offset)" }
                next = offset + raw.count
                guard let frame = Frame(raw: raw) else { return "frame \(raw) does not parse" }
                guard frame.encoded(preamble: 0) == raw, frame.encoded(preamble: 3) == [0xFE, 0xFE, 0xFE] + raw else {
                    return "frame \(raw) re-encodes to \(frame.encoded(preamble: 0))"
                }
                if let problem = check(frame) { return problem }
                frames.append(frame)
            }
        }
        guard counts.frames == frames.count, counts.checksumErrors == problems.checksum, counts.endByteErrors == problems.end,
              counts.lengthErrors == problems.length, counts.truncatedFrames == problems.truncated else {
            return "counts \(counts) differ from the events (\(frames.count) frames, \(problems))"
        }
        var decoder = MeterDecoder<Frame>()
        var decoded: [Frame] = []
        decoder.append(stream)
        decoder.finish()
        while let event = decoder.next() {
            if case .frame(let frame) = event { decoded.append(frame) }
        }
        return decoded == frames ? nil : "the decoder yields \(decoded.count) frames, the scanner \(frames.count)"
    }

    /// The scanner's events for `stream` appended in chunks of `size(chunk index)` bytes, then finished; and
    /// after each chunk, the frame `completeFrameAfterCandidate` offers (with the pending bytes it came from).
    private static func scanMeterStream(_ stream: [UInt8], shape: MeterFrameShape, size: (Int) -> Int)
        -> (events: [MeterScanEvent], counts: MeterFrameScanner.Counts, early: [([UInt8], [UInt8])]) {
        var scanner = MeterFrameScanner(shape: shape)
        var events: [MeterScanEvent] = []
        var early: [([UInt8], [UInt8])] = []
        var position = 0
        var chunk = 0
        while position < stream.count {
            let end = min(stream.count, position + max(1, size(chunk)))
            scanner.append(stream[position..<end])
            position = end
            chunk += 1
            while let event = scanner.next() { events.append(event) }
            if let frame = scanner.completeFrameAfterCandidate() { early.append((frame, Array(scanner.pendingBytes))) }
        }
        scanner.finish()
        while let event = scanner.next() { events.append(event) }
        return (events, scanner.counts, early)
    }

    /// Whether `needle` occurs in `haystack` as contiguous bytes.
    private static func contains(_ haystack: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
        var index = haystack.startIndex
        while index + needle.count <= haystack.endIndex {
            if haystack[index] == needle[0], haystack[index..<index + needle.count].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }

    private static func status(_ value: edgecore_status) -> UInt16 { UInt16(value.rawValue) }
}

/// Reads fields off the front of a fuzz input; past its end every field is 0.
struct ByteReader {
    private let input: UnsafeRawBufferPointer
    private var position = 0

    init(_ input: UnsafeRawBufferPointer) { self.input = input }

    var isEmpty: Bool { position >= input.count }

    mutating func byte() -> UInt8 {
        guard position < input.count else { return 0 }
        defer { position += 1 }
        return input[position]
    }

    mutating func word() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    mutating func word64() -> UInt64 { (0..<4).reduce(UInt64(0)) { value, _ in value << 16 | UInt64(word()) } }

    mutating func double() -> Double { Double(bitPattern: word64()) }

    /// The rest of the input.
    mutating func rest() -> [UInt8] {
        defer { position = input.count }
        return position < input.count ? Array(input[position...]) : []
    }

    /// The rest of the input as registers, high byte first (an odd last byte is dropped).
    mutating func registers() -> [UInt16] {
        var result: [UInt16] = []
        while input.count - position >= 2 { result.append(word()) }
        position = input.count
        return result
    }
}

/// A journal folder in memory, without power cuts (the fuzz target's; the crash tests use PowerCutFiles).
final class MemoryFiles: JournalFiles {
    var files: [String: [UInt8]] = [:]

    final class File: JournalFile {
        let folder: MemoryFiles
        let name: String
        init(_ folder: MemoryFiles, _ name: String) { self.folder = folder; self.name = name }
        var bytes: [UInt8] {
            get { folder.files[name] ?? [] }
            set { folder.files[name] = newValue }
        }
        func size() throws(Failure) -> UInt64 { UInt64(bytes.count) }
        func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
            let all = bytes
            let start = min(Int(clamping: offset), all.count)
            let count = min(buffer.count, all.count - start)
            for index in 0..<count { buffer[index] = all[start + index] }
            return count
        }
        func write(at offset: UInt64, _ data: UnsafeRawBufferPointer) throws(Failure) {
            var all = bytes
            let start = Int(clamping: offset)
            if all.count < start + data.count { all += [UInt8](repeating: 0, count: start + data.count - all.count) }
            all.replaceSubrange(start..<start + data.count, with: data)
            bytes = all
        }
        func truncate(to size: UInt64) throws(Failure) {
            var all = bytes
            let size = Int(clamping: size)
            if all.count > size { all.removeLast(all.count - size) } else { all += [UInt8](repeating: 0, count: size - all.count) }
            bytes = all
        }
        func sync() throws(Failure) {}
        func close() {}
    }

    func names() throws(Failure) -> [String] { Array(files.keys) }
    func open(_ name: String, create: Bool) throws(Failure) -> any JournalFile {
        if files[name] == nil {
            guard create else { throw Failure(.system(.noEntry), "\(name): no such file") }
            files[name] = []
        }
        return File(self, name)
    }
    func remove(_ name: String) throws(Failure) { files[name] = nil }
    func rename(_ from: String, to: String) throws(Failure) {
        guard let bytes = files.removeValue(forKey: from) else { throw Failure(.system(.noEntry), "\(from): no such file") }
        files[to] = bytes
    }
    func syncFolder() throws(Failure) {}
}
