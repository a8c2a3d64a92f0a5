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
}
