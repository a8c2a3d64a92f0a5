import CShim

@c @implementation
public func edgecore_strerror(_ code: Int32) -> UnsafePointer<CChar>? {
    if let text = resultCodeDescription(code) { return staticCString(text) }
    if code < 0, code > -4096, let text = Errno(-code).description { return text }
    return staticCString("unknown result code")
}

@c @implementation
public func edgecore_status_name(_ status: Int32) -> UnsafePointer<CChar>? {
    guard status >= 0 else { return staticCString("unknown") }
    switch UInt32(status) {
    case EDGECORE_STATUS_OK.rawValue: return staticCString("ok")
    case EDGECORE_STATUS_TIMEOUT.rawValue: return staticCString("timeout")
    case EDGECORE_STATUS_CRC_ERROR.rawValue: return staticCString("crc_error")
    case EDGECORE_STATUS_EXCEPTION.rawValue: return staticCString("exception")
    case EDGECORE_STATUS_SENTINEL.rawValue: return staticCString("sentinel")
    case EDGECORE_STATUS_OUT_OF_RANGE.rawValue: return staticCString("out_of_range")
    case EDGECORE_STATUS_DISCONNECTED.rawValue: return staticCString("disconnected")
    case EDGECORE_STATUS_STALE.rawValue: return staticCString("stale")
    case EDGECORE_STATUS_OFFLINE.rawValue: return staticCString("offline")
    case EDGECORE_STATUS_EVENTS_LOST.rawValue: return staticCString("events_lost")
    default: return staticCString("unknown")
    }
}

/// The result code edgecore.h documents for a failure of this kind: the one mapping from Failure to C.
func resultCode(_ kind: Failure.Kind) -> Int32 {
    switch kind {
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
    case .notAJournal: return EDGECORE_E_NOT_A_JOURNAL
    case .journalVersion: return EDGECORE_E_JOURNAL_VERSION
    case .journalFull: return EDGECORE_E_JOURNAL_FULL
    case .ambiguous: return EDGECORE_E_AMBIGUOUS
    case .system(let errno): return -errno.rawValue
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
    case EDGECORE_E_NOT_A_JOURNAL: return "not an EdgeCore journal (the folder holds other files, or the path is not a folder)"
    case EDGECORE_E_JOURNAL_VERSION: return "the journal was written by a newer EdgeCore"
    case EDGECORE_E_JOURNAL_FULL: return "the journal is full (its policy refuses the newest readings)"
    case EDGECORE_E_AMBIGUOUS: return "more than one device answered a request meant for one"
    default: return nil
    }
}
