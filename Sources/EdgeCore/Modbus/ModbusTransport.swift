/// Why a Modbus transaction failed, as the scheduler needs to know it.
enum TransactionFailure: Error, Equatable {
    /// No answer within the response timeout.
    case timeout
    /// An answer with a bad CRC, the wrong length, the wrong unit/transaction/function.
    case frame
    /// A Modbus exception answer with its code.
    case exception(UInt8)
    /// The port or connection is unusable (errno): the bus must be re-opened.
    case disconnected(Int32)

    /// The reading status this failure gives the channels of the request, and its detail.
    var status: (status: UInt16, detail: UInt16) {
        switch self {
        case .timeout: return (UInt16(EDGECORE_STATUS_TIMEOUT.rawValue), 0)
        case .frame: return (UInt16(EDGECORE_STATUS_CRC_ERROR.rawValue), 0)
        case .exception(let code): return (UInt16(EDGECORE_STATUS_EXCEPTION.rawValue), UInt16(code))
        case .disconnected: return (UInt16(EDGECORE_STATUS_DISCONNECTED.rawValue), 0)
        }
    }

    /// The result code a write that failed this way returns.
    var resultCode: EdgeCoreError {
        switch self {
        case .timeout: return .deviceTimeout
        case .frame: return .deviceFrame
        case .exception: return .deviceException
        case .disconnected: return .disconnected
        }
    }

    /// Worth another attempt on the same connection.
    var isRetryable: Bool { self == .timeout || self == .frame }
}

import CShim

/// One physical bus as the scheduler drives it: libmodbus's backend idea (RTU and TCP behind one set of
/// operations). Class-bound so that Embedded Swift allows `any ModbusTransport`. Used by one bus worker
/// thread only.
protocol ModbusTransport: AnyObject {
    /// Opens the port / connects. Returns 0 or an errno value; ECANCELED when `stop` was requested while
    /// a TCP connect was in progress.
    func open(stop: any StopRequest) -> Int32
    func close()
    var isOpen: Bool { get }
    /// Whether the bus should be re-opened although no call failed (e.g. its device node was replaced).
    func needsReopen() -> Bool
    /// Discards anything received but not read (after a timeout, so a late answer cannot be taken for
    /// the next one).
    func flush()

    func setUnit(_ unit: UInt8)
    func setResponseTimeout(milliseconds: UInt32)

    func readRegisters(_ function: ModbusFunction, address: UInt16, count: Int,
                       into registers: UnsafeMutablePointer<UInt16>) throws(TransactionFailure)
    func readBits(_ function: ModbusFunction, address: UInt16, count: Int,
                  into bits: UnsafeMutablePointer<UInt8>) throws(TransactionFailure)
    func writeRegisters(address: UInt16, values: UnsafeBufferPointer<UInt16>) throws(TransactionFailure)
    func writeCoils(address: UInt16, values: UnsafeBufferPointer<UInt8>) throws(TransactionFailure)
}
