import CShim

/// The consumer name the kernel shows for lines EdgeCore holds (gpioinfo).
var consumerName: UnsafePointer<CChar> { staticCString("edgecore") }

/// The C library's text for an errno value.
func errnoText(_ error: Int32) -> String {
    SystemError.description(error).map { String(cString: $0) } ?? "error \(error)"
}
