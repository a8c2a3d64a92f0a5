import CShim

/// One physical bus as the scheduler drives it: libmodbus's backend idea (RTU and TCP behind one set of
/// operations). Class-bound so that Embedded Swift allows `any ModbusTransport`. Used by one bus worker
/// thread only.
protocol ModbusTransport: AnyObject {
    /// Opens the port / connects; a failure is `.system(errno)`, `.system(.canceled)` when `stop` was
    /// requested while a TCP connect was in progress.
    func open(stop: any StopRequest) throws(Failure)
    func close()
    var isOpen: Bool { get }
    /// Whether the bus should be re-opened although no call failed (e.g. its device node was replaced).
    func needsReopen() -> Bool
    /// Discards anything received but not read (after a timeout, so a late answer cannot be taken for
    /// the next one).
    func flush()

    func setUnit(_ unit: UInt8)
    func setResponseTimeout(milliseconds: UInt32)

    // A transaction fails with .deviceTimeout, .deviceFrame, .deviceException(code) or .disconnected(errno)
    // (the bus must be re-opened); the message is empty (the caller knows the context).
    func readRegisters(_ function: ModbusFunction, address: UInt16, count: Int,
                       into registers: UnsafeMutablePointer<UInt16>) throws(Failure)
    func readBits(_ function: ModbusFunction, address: UInt16, count: Int,
                  into bits: UnsafeMutablePointer<UInt8>) throws(Failure)
    func writeRegisters(address: UInt16, values: UnsafeBufferPointer<UInt16>) throws(Failure)
    func writeCoils(address: UInt16, values: UnsafeBufferPointer<UInt8>) throws(Failure)

    // Raw bytes on the line, for the frames the worker makes itself (meters: MeterExchange). Only on a bus
    // that carries serial frames. Failures: .disconnected(errno) (the bus must be re-opened).
    /// Sends all of `bytes` (on a serial port framed by RTS as libmodbus frames its requests).
    func sendRaw(_ bytes: UnsafeBufferPointer<UInt8>) throws(Failure)
    /// Reads what has arrived into `buffer`, waiting up to `waitNanoseconds` for the first byte; 0 when
    /// nothing came in that time.
    func receiveRaw(into buffer: UnsafeMutableBufferPointer<UInt8>, waitNanoseconds: Int64) throws(Failure) -> Int
}

/// A transport that lays each request out in ModbusFrame's layout in `request` and has `exchange` send it
/// and receive the answer into `answer` (LibmodbusTransport through libmodbus, StreamTransport as RTU over a
/// TCP connection): the four transactions are written once, here.
protocol FramedModbusTransport: ModbusTransport {
    /// The request being sent (ModbusFrame's layout), reused; the exchange fills MBAP, unit and the first
    /// four PDU bytes, the caller what follows them (from byte 12).
    var request: [UInt8] { get set }
    /// The answer as received, reused.
    var answer: [UInt8] { get }
    /// Sends the request whose PDU is function, first, second and request[12..<end], receives the answer
    /// within the response timeout and checks it; returns where its data starts in `answer`.
    func exchange(_ function: UInt8, _ first: UInt16, _ second: UInt16, end: Int) throws(Failure) -> Int
}

extension FramedModbusTransport {
    func readRegisters(_ function: ModbusFunction, address: UInt16, count: Int,
                       into registers: UnsafeMutablePointer<UInt16>) throws(Failure) {
        let data = try exchange(function.rawValue, address, UInt16(clamping: count), end: 12)
        for index in 0..<count {
            registers[index] = UInt16(answer[data + 2 * index]) << 8 | UInt16(answer[data + 2 * index + 1])
        }
    }

    func readBits(_ function: ModbusFunction, address: UInt16, count: Int,
                  into bits: UnsafeMutablePointer<UInt8>) throws(Failure) {
        let data = try exchange(function.rawValue, address, UInt16(clamping: count), end: 12)
        for index in 0..<count { bits[index] = answer[data + index / 8] >> UInt8(index % 8) & 1 }
    }

    func writeRegisters(address: UInt16, values: UnsafeBufferPointer<UInt16>) throws(Failure) {
        guard values.count > 1 else {
            guard let value = values.first else { return }
            _ = try exchange(6, address, value, end: 12)
            return
        }
        request[12] = UInt8(truncatingIfNeeded: 2 * values.count)
        for (index, value) in values.enumerated() { putRequest(value, at: 13 + 2 * index) }
        _ = try exchange(16, address, UInt16(values.count), end: 13 + 2 * values.count)
    }

    func writeCoils(address: UInt16, values: UnsafeBufferPointer<UInt8>) throws(Failure) {
        guard values.count > 1 else {
            guard let value = values.first else { return }
            _ = try exchange(5, address, value != 0 ? 0xFF00 : 0, end: 12)
            return
        }
        let bytes = (values.count + 7) / 8
        request[12] = UInt8(truncatingIfNeeded: bytes)
        for index in 0..<bytes { request[13 + index] = 0 }
        for (index, value) in values.enumerated() where value != 0 {
            request[13 + index / 8] |= 1 << UInt8(index % 8)
        }
        _ = try exchange(15, address, UInt16(values.count), end: 13 + bytes)
    }

    /// Puts `value` big-endian into the request at `index`.
    func putRequest(_ value: UInt16, at index: Int) {
        request[index] = UInt8(value >> 8)
        request[index + 1] = UInt8(truncatingIfNeeded: value)
    }
}

/// Raw I/O on a descriptor for the transports (ec_line_*).
enum RawLineIO {
    static func send(_ fd: Int32, _ bytes: UnsafeBufferPointer<UInt8>, rtsMode: Int32 = 0,
                     rtsDelayUs: UInt32 = 0) throws(Failure) {
        guard fd >= 0 else { throw Failure(.disconnected(Errno(ENOTCONN))) }
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        // A frame fits the kernel's buffer at once; the deadline only bounds a line that stopped draining.
        let deadline = Clock.monotonicNanoseconds() + 2_000_000_000 + Int64(bytes.count) * 10_000_000
        let error = ec_line_write(fd, base, bytes.count, rtsMode, rtsDelayUs, deadline)
        if error != 0 { throw Failure(.disconnected(Errno(error))) }
    }

    static func receive(_ fd: Int32, _ buffer: UnsafeMutableBufferPointer<UInt8>,
                        waitNanoseconds: Int64) throws(Failure) -> Int {
        guard fd >= 0 else { throw Failure(.disconnected(Errno(ENOTCONN))) }
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        let count = ec_line_read(fd, base, buffer.count, Clock.monotonicNanoseconds() + max(0, waitNanoseconds))
        if count < 0 { throw Failure(.disconnected(Errno(Int32(truncatingIfNeeded: -count)))) }
        return count
    }
}
