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
