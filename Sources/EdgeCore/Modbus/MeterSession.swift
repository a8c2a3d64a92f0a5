import CShim

/// Meter transactions on a line, over a transport's raw bytes: a request goes out whole (with its FE
/// preamble), the reply is found by MeterFrameScanner in whatever chunks arrive within the response
/// timeout (FE bytes, noise and the line's echo of the request skipped), checked against the request, and
/// turned into what the worker publishes. Failures are the transport's: .deviceTimeout (nothing that is a
/// frame arrived), .deviceFrame with the precise reason (a damaged frame, a reply from another meter or for
/// another identifier, a follow-up that broke off), .deviceException(detail) for an abnormal reply,
/// .disconnected.
enum MeterExchange {
    /// Follow-up frames a DL/T 645 read may take (the standard's replies hold at most 200 data bytes; a
    /// meter that keeps announcing more is cut off here).
    static let maxFollowUps = 15

    /// Sends `request` and returns the first frame of `shape` that has the direction bit of a reply.
    static func exchange(_ transport: any ModbusTransport, clock: any WorkerClock, request: [UInt8],
                         shape: MeterFrameShape, timeoutMs: UInt32) throws(Failure) -> [UInt8] {
        let window = try collect(transport, clock: clock, request: request, shape: shape, timeoutMs: timeoutMs,
                                 firstOnly: true)
        if let frame = window.frames.first { return frame }
        if let problem = window.problem { throw Failure(.deviceFrame, problem.message) }
        throw Failure(.deviceTimeout)
    }

    /// What arrived in an answer window: reply frames (in order) and the first problem seen.
    struct Window {
        var frames: [[UInt8]] = []
        var problem: MeterFrameProblem? = nil
        var problems = 0
    }

    /// Sends `request` and gathers reply frames for `timeoutMs` (until the first with `firstOnly`). As for
    /// Modbus, the whole reply must arrive within the window: a frame still incomplete at its end is cut off
    /// (a meter that trickles cannot hold the line longer than its response timeout).
    static func collect(_ transport: any ModbusTransport, clock: any WorkerClock, request: [UInt8],
                        shape: MeterFrameShape, timeoutMs: UInt32, firstOnly: Bool) throws(Failure) -> Window {
        try request.withUnsafeBufferPointer { bytes throws(Failure) in try transport.sendRaw(bytes) }
        var scanner = MeterFrameScanner(shape: shape)
        var window = Window()
        var buffer = [UInt8](repeating: 0, count: 256)
        let timeout = Int64(timeoutMs) * 1_000_000
        let deadline = clock.monotonicNanoseconds + timeout
        let controlIndex = shape == .dlt645 ? 8 : 9
        while true {
            let left = deadline - clock.monotonicNanoseconds
            if left <= 0 { break }
            let count = try buffer.withUnsafeMutableBufferPointer { chunk throws(Failure) in
                try transport.receiveRaw(into: chunk, waitNanoseconds: left)
            }
            if count == 0 { continue }
            scanner.append(buffer[0..<count])
            while let event = scanner.next() {
                switch event {
                case .frame(let frame, _):
                    // The line's echo of the request (or another master's request) is not a reply.
                    guard frame.count > controlIndex, frame[controlIndex] & 0x80 != 0 else { continue }
                    window.frames.append(frame)
                    if firstOnly { return window }
                case .problem(let problem):
                    window.problems += 1
                    if window.problem == nil { window.problem = problem }
                }
            }
            // Noise with a 0x68 can look like a frame's start and hold the reply behind it: take a whole
            // reply that follows at once rather than after the window.
            if firstOnly, scanner.pendingCount > 0, let frame = scanner.completeFrameAfterCandidate(),
               frame.count > controlIndex, frame[controlIndex] & 0x80 != 0 {
                window.frames.append(frame)
                return window
            }
        }
        scanner.finish()
        while let event = scanner.next() {
            if case .problem(let problem) = event {
                window.problems += 1
                if window.problem == nil { window.problem = problem }
            } else if case .frame(let frame, _) = event, frame.count > controlIndex, frame[controlIndex] & 0x80 != 0 {
                window.frames.append(frame)
            }
        }
        return window
    }

    // MARK: DL/T 645

    /// Reads one identifier with its follow-up frames; returns the value bytes (after the identifier).
    /// `stop`: checked before each follow-up frame, so that stopping the engine waits for one exchange, not for
    /// a whole chain of them.
    static func readDLT645(_ transport: any ModbusTransport, clock: any WorkerClock, version: DLT645Version,
                           meter: MeterSettings, identifier: UInt32, timeoutMs: UInt32,
                           stop: (any StopRequest)? = nil) throws(Failure) -> [UInt8] {
        var request = try DLT645Frame.read(version, address: meter.address, identifier: identifier)
        var value: [UInt8] = []
        var followUps = 0
        while true {
            let raw: [UInt8]
            do throws(Failure) {
                raw = try exchange(transport, clock: clock, request: request.encoded(preamble: Int(meter.preamble)),
                                   shape: .dlt645, timeoutMs: timeoutMs)
            } catch {
                // The meter announced more and sent nothing (or garbage): the value as a whole is broken.
                guard followUps > 0, error.kind == .deviceTimeout || error.kind == .deviceFrame else { throw error }
                throw Failure(.deviceFrame, "follow-up frame \(followUps) of \(hexIdentifier(identifier, bytes: version.identifierLength)): \(error.kind == .deviceTimeout ? "no reply" : error.message)")
            }
            guard let reply = DLT645Frame(raw: raw) else { throw Failure(.deviceFrame, "reply is not a DL/T 645 frame") }
            let meaning: DLT645Reply
            do throws(MeterReplyError) {
                meaning = try DLT645Reply.interpret(reply, request: request, version: version)
            } catch {
                throw followUps > 0 ? Failure(.deviceFrame, "follow-up frame \(followUps): \(error.message)") : error.failure
            }
            switch meaning {
            case .abnormal(let flags):
                throw Failure(.deviceException(UInt16(flags.rawValue)), "abnormal reply, error byte 0x\(hexByte(flags.rawValue))")
            case .address:
                throw Failure(.deviceFrame, "reply carries an address, not data")
            case .data(let bytes, let moreFollows):
                value += bytes
                guard moreFollows else { return value }
                followUps += 1
                if let stop, stop.stopRequested {
                    throw Failure(.deviceTimeout, "the engine stopped before follow-up frame \(followUps)")
                }
                guard followUps <= maxFollowUps else {
                    throw Failure(.deviceFrame, "the meter announced more than \(maxFollowUps) follow-up frames")
                }
                transport.flush()
                request = try DLT645Frame.readFollowUp(version, address: meter.address, identifier: identifier,
                                                       sequence: UInt8(truncatingIfNeeded: followUps))
            }
        }
    }

    /// The address of the one meter on the line (read address to the wildcard): .ambiguous when replies
    /// from several meters came, or one reply and damaged bytes beside it (a collision).
    static func discoverDLT645(_ transport: any ModbusTransport, clock: any WorkerClock,
                               windowMs: UInt32) throws(Failure) -> MeterAddress {
        let request = DLT645Frame.readAddress()
        let window = try collect(transport, clock: clock, request: request.encoded(preamble: 4), shape: .dlt645,
                                 timeoutMs: windowMs, firstOnly: false)
        var addresses: [MeterAddress] = []
        for raw in window.frames {
            guard let reply = DLT645Frame(raw: raw) else { continue }
            guard case .address(let address)? = try? DLT645Reply.interpret(reply, request: request, version: .v2007) else {
                throw Failure(.deviceFrame, "a reply to read address that is not an address (control 0x\(hexByte(reply.control)))")
            }
            if !addresses.contains(address) { addresses.append(address) }
        }
        if addresses.count > 1 {
            var list = ""
            for address in addresses { list += (list.isEmpty ? "" : ", ") + address.text }
            throw Failure(.ambiguous, "\(addresses.count) meters answered (\(list)): connect one meter and ask again")
        }
        if let address = addresses.first {
            if window.problems > 0 {
                throw Failure(.ambiguous, "meter \(address.text) answered, and other replies collided with it (\(window.problem?.message ?? "")): connect one meter and ask again")
            }
            return address
        }
        if let problem = window.problem {
            throw Failure(.deviceFrame, "only damaged replies (\(problem.message)): several meters may have answered at once")
        }
        throw Failure(.deviceTimeout, "no meter answered")
    }

    // MARK: CJ/T 188

    /// Reads the current data (901F).
    static func readCJT188(_ transport: any ModbusTransport, clock: any WorkerClock, meter: MeterSettings,
                           sequence: UInt8, timeoutMs: UInt32) throws(Failure) -> CJT188CurrentData {
        let request = try CJT188Frame.readCurrentData(type: meter.meterType, address: meter.address, sequence: sequence,
                                                      order: meter.identifierOrder)
        switch try cjt188Exchange(transport, clock: clock, request: request, preamble: meter.preamble, timeoutMs: timeoutMs) {
        case .currentData(let data): return data
        case .abnormal(let status):
            throw Failure(.deviceException(status), "abnormal reply, status 0x\(hexIdentifier(UInt32(status), bytes: 2))")
        case .written: throw Failure(.deviceFrame, "reply to a write, requested a read")
        }
    }

    /// Opens or closes the valve (A017); the meter's status after it.
    static func valveCJT188(_ transport: any ModbusTransport, clock: any WorkerClock, meter: MeterSettings,
                            sequence: UInt8, open: Bool, timeoutMs: UInt32) throws(Failure) {
        let request = try CJT188Frame.valveControl(type: meter.meterType, address: meter.address, sequence: sequence,
                                                   open: open, order: meter.identifierOrder)
        switch try cjt188Exchange(transport, clock: clock, request: request, preamble: meter.preamble, timeoutMs: timeoutMs) {
        case .written: return
        case .abnormal(let status):
            throw Failure(.deviceException(status), "abnormal reply, status 0x\(hexIdentifier(UInt32(status), bytes: 2))")
        case .currentData: throw Failure(.deviceFrame, "reply to a read, requested a write")
        }
    }

    private static func cjt188Exchange(_ transport: any ModbusTransport, clock: any WorkerClock, request: CJT188Frame,
                                       preamble: UInt8, timeoutMs: UInt32) throws(Failure) -> CJT188Reply {
        let raw = try exchange(transport, clock: clock, request: request.encoded(preamble: Int(preamble)),
                               shape: .cjt188, timeoutMs: timeoutMs)
        guard let reply = CJT188Frame(raw: raw) else { throw Failure(.deviceFrame, "reply is not a CJ/T 188 frame") }
        do throws(MeterReplyError) {
            return try CJT188Reply.interpret(reply, request: request)
        } catch {
            throw error.failure
        }
    }

    // MARK: Values

    /// A DL/T 645 channel's reading from its value bytes.
    static func value(_ bytes: [UInt8], format: MeterValueFormat, codec: ValueCodec) -> DecodedValue {
        do throws(MeterValueError) {
            return codec.decode(number: try format.decode(bytes))
        } catch {
            return DecodedValue(value: 0, status: error.status)
        }
    }

    /// A CJ/T 188 channel's reading: the field, in the channel's unit when it is a unit of the same quantity
    /// (a unit the table does not know is taken as a label: the value stays in the meter's unit).
    static func value(_ data: CJT188CurrentData, field: CJT188Field, unit: String, codec: ValueCodec) -> DecodedValue {
        do throws(MeterValueError) {
            let read = try data.value(field)
            var number = read.value
            let meterUnit = Message.string(read.unit)
            if !meterUnit.isEmpty, !unit.isEmpty {
                if let converted = CJT188Unit.convert(number, from: meterUnit, to: unit) {
                    number = converted
                } else if CJT188Unit.isKnown(unit) {
                    return DecodedValue(value: 0, status: UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue))
                }
            }
            return codec.decode(number: number)
        } catch {
            return DecodedValue(value: 0, status: error.status)
        }
    }
}
