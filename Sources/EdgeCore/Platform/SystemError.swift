import CShim

enum SystemError {
    /// The C library's static description of errno `error`, or nil when it has none.
    static func description(_ error: Int32) -> UnsafePointer<CChar>? { ec_errno_description(error) }
}
