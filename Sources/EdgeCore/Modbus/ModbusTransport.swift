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
