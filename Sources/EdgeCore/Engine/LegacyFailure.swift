/// Until EdgeCoreError and ConfigError are removed (issue 9 item 1): their failures as Failures, for the
/// calls from Engine/, Modbus/ and GPIOWorker into files that still throw them (Platform's WorkerThread,
/// the ring, GPIO's chips, lines and checkpoints). Delete with those types.
extension Failure {
    init(legacy error: EdgeCoreError, _ message: Message = "") {
        let kind: Kind
        switch error {
        case .nullPointer: kind = .nullPointer
        case .invalidArgument: kind = .invalidArgument
        case .invalidCapacity: kind = .invalidCapacity
        case .invalidLaneCount: kind = .invalidLaneCount
        case .invalidLane: kind = .invalidLane
        case .invalidPolicy: kind = .invalidPolicy
        case .timeout: kind = .timeout
        case .running: kind = .running
        case .notRunning: kind = .notRunning
        case .notFound: kind = .notFound
        case .duplicate: kind = .duplicate
        case .config: kind = .config
        case .configFile: kind = .configFile
        case .notWritable: kind = .notWritable
        case .deviceTimeout: kind = .deviceTimeout
        case .deviceFrame: kind = .deviceFrame
        case .deviceException: kind = .deviceException(0)
        case .disconnected: kind = .disconnected(nil)
        case .limit: kind = .limit
        case .value: kind = .value
        case .unknownField: kind = .unknownField
        case .system(let errno): kind = .system(Errno(errno))
        }
        self.init(kind, message)
    }

    init(legacy error: ConfigError) {
        self.init(legacy: error.kind, Message(verbatim: error.message))
    }
}
