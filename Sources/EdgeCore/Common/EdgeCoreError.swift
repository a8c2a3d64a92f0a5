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
    default: return nil
    }
}
