/// Every failure inside EdgeCore, from Platform up: what kind of failure (the C result code it becomes,
/// in `Contract/` only) and a message for edgecore_engine_last_error() naming the field, file, line,
/// device or system call. Functions throw it with typed throws.
///
/// The message may be empty on hot paths (a Modbus transaction's timeout): the caller that reports it adds
/// the context (`Failure(cause, "device 'x': write failed")`).
struct Failure: Error {
    enum Kind: Equatable {
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
        /// A device did not answer within its response timeout.
        case deviceTimeout
        /// A bad CRC or malformed answer (wrong length, unit, transaction or function).
        case deviceFrame
        /// A device refused: a Modbus exception (its code), a meter's abnormal reply (DL/T 645 error byte, CJ/T 188 status word).
        case deviceException(UInt16)
        /// The port or connection is unusable (with the errno that broke it, when there was one).
        case disconnected(Errno?)
        case limit
        case value
        case unknownField
        /// A journal folder holds other files, or its path is not a folder.
        case notAJournal
        /// A journal of a newer format version.
        case journalVersion
        /// A full journal whose policy refuses the newest readings.
        case journalFull
        /// More than one device answered a request meant for the one device on the line (address discovery).
        case ambiguous
        /// A system call failed.
        case system(Errno)
    }

    var kind: Kind
    var message: String

    init(_ kind: Kind, _ message: Message = "") {
        self.kind = kind
        self.message = message.text
    }

    /// `cause` with context in front of its message ("context: cause's message"), keeping its kind.
    init(_ cause: Failure, _ context: Message) {
        kind = cause.kind
        message = cause.message.isEmpty ? context.text : context.text + ": " + cause.message
    }

    /// A system call's failure: "what: <errno text>".
    static func system(_ errno: Errno, _ what: Message) -> Failure {
        Failure(.system(errno), "\(what): \(errno.text)")
    }

    static let outOfMemory = Failure(.system(.noMemory))

    /// The errno behind a system call's failure or a lost port, if there is one.
    var errno: Errno? {
        switch kind {
        case .system(let errno): return errno
        case .disconnected(let errno): return errno
        default: return nil
        }
    }
}

// Equality compares messages with String's `==`, which needs Unicode tables in Embedded Swift (see
// Common/Text.swift); only the tests need it.
#if !hasFeature(Embedded)
extension Failure: Equatable {}
#endif
