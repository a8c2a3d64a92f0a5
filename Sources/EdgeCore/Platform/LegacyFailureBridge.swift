// Temporary (issue 9 item 1): Platform and GPIO throw Failure while callers not yet moved still throw
// EdgeCoreError or ConfigError. Removed with those types once every caller throws Failure.

extension EdgeCoreError {
    init(_ failure: Failure) {
        switch failure.kind {
        case .nullPointer: self = .nullPointer
        case .invalidArgument: self = .invalidArgument
        case .invalidCapacity: self = .invalidCapacity
        case .invalidLaneCount: self = .invalidLaneCount
        case .invalidLane: self = .invalidLane
        case .invalidPolicy: self = .invalidPolicy
        case .timeout: self = .timeout
        case .running: self = .running
        case .notRunning: self = .notRunning
        case .notFound: self = .notFound
        case .duplicate: self = .duplicate
        case .config: self = .config
        case .configFile: self = .configFile
        case .notWritable: self = .notWritable
        case .deviceTimeout: self = .deviceTimeout
        case .deviceFrame: self = .deviceFrame
        case .deviceException: self = .deviceException
        case .disconnected: self = .disconnected
        case .limit: self = .limit
        case .value: self = .value
        case .unknownField: self = .unknownField
        case .system(let errno): self = .system(errno.rawValue)
        }
    }
}

extension ConfigError {
    init(_ failure: Failure) { self.init(EdgeCoreError(failure), Message(verbatim: failure.message)) }
}
