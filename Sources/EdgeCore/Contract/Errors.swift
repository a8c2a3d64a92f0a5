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
    case .system(let errno): return -errno.rawValue
    }
}
