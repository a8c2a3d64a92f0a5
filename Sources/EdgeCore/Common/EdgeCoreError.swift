import CShim

/// Every failure inside EdgeCore. Functions throw it with typed throws; only `Contract/` turns it into the
/// negative result codes of edgecore.h.
enum EdgeCoreError: Error, Equatable {
    case nullPointer
    case invalidArgument
    case invalidCapacity
    case invalidLaneCount
    case invalidLane
    case invalidPolicy
    case timeout
    case running
    case notRunning
    case notFound
    case duplicate
    case config
    case configFile
    case notWritable
    case deviceTimeout
    case deviceFrame
    case deviceException
    case disconnected
    case limit
    case value
    case unknownField
    /// A system call failed; the payload is the positive errno value.
    case system(Int32)

    static let outOfMemory = EdgeCoreError.system(ENOMEM)

    /// The result code edgecore.h documents for this error.
    var code: Int32 {
        switch self {
        case .nullPointer: return EDGECORE_E_NULL_POINTER
        case .invalidArgument: return EDGECORE_E_INVALID_ARGUMENT
        case .invalidCapacity: return EDGECORE_E_INVALID_CAPACITY
        case .invalidLaneCount: return EDGECORE_E_INVALID_LANE_COUNT
        case .invalidLane: return EDGECORE_E_INVALID_LANE
        case .invalidPolicy: return EDGECORE_E_INVALID_POLICY
        case .timeout: return EDGECORE_E_TIMEOUT
        case .running: return EDGECORE_E_RUNNING
        case .notRunning: return EDGECORE_E_NOT_RUNNING
        case .notFound: return EDGECORE_E_NOT_FOUND
        case .duplicate: return EDGECORE_E_DUPLICATE
        case .config: return EDGECORE_E_CONFIG
        case .configFile: return EDGECORE_E_CONFIG_FILE
        case .notWritable: return EDGECORE_E_NOT_WRITABLE
        case .deviceTimeout: return EDGECORE_E_DEVICE_TIMEOUT
        case .deviceFrame: return EDGECORE_E_DEVICE_FRAME
        case .deviceException: return EDGECORE_E_DEVICE_EXCEPTION
        case .disconnected: return EDGECORE_E_DISCONNECTED
        case .limit: return EDGECORE_E_LIMIT
        case .value: return EDGECORE_E_VALUE
        case .unknownField: return EDGECORE_E_UNKNOWN_FIELD
        case .system(let errno): return -errno
        }
    }
}

/// The static text edgecore_strerror() returns for a result code.
func resultCodeDescription(_ code: Int32) -> StaticString? {
    switch code {
    case EDGECORE_OK: return "success"
    case EDGECORE_E_NULL_POINTER: return "a required pointer argument is NULL"
    case EDGECORE_E_INVALID_ARGUMENT: return "an argument is outside its documented range"
    case EDGECORE_E_INVALID_CAPACITY: return "ring capacity must be a power of two from 2 to 16777216"
    case EDGECORE_E_INVALID_LANE_COUNT: return "ring lane count must be from 1 to 64"
    case EDGECORE_E_INVALID_LANE: return "lane index is not below the ring's lane count"
    case EDGECORE_E_INVALID_POLICY: return "unknown overflow policy"
    case EDGECORE_E_TIMEOUT: return "timed out"
    case EDGECORE_E_RUNNING: return "not allowed while the engine runs"
    case EDGECORE_E_NOT_RUNNING: return "the engine is not running"
    case EDGECORE_E_NOT_FOUND: return "no bus, device or channel with that id or name"
    case EDGECORE_E_DUPLICATE: return "the name is already used"
    case EDGECORE_E_CONFIG: return "invalid configuration value"
    case EDGECORE_E_CONFIG_FILE: return "configuration file cannot be parsed"
    case EDGECORE_E_NOT_WRITABLE: return "not declared writable"
    case EDGECORE_E_DEVICE_TIMEOUT: return "the device did not answer in time"
    case EDGECORE_E_DEVICE_FRAME: return "bad CRC or malformed answer from the device"
    case EDGECORE_E_DEVICE_EXCEPTION: return "the device answered with a Modbus exception"
    case EDGECORE_E_DISCONNECTED: return "the bus is disconnected"
    case EDGECORE_E_LIMIT: return "a fixed limit was reached"
    case EDGECORE_E_VALUE: return "the value cannot be represented by the channel's type"
    case EDGECORE_E_UNKNOWN_FIELD: return "a struct sets a field this library does not know (built against a newer edgecore.h)"
    default: return nil
    }
}
