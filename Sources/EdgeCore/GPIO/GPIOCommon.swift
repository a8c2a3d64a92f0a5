import CShim

/// The consumer name the kernel shows for lines EdgeCore holds (gpioinfo).
var consumerName: UnsafePointer<CChar> { staticCString("edgecore") }

/// "gpio chip 'C', line N: <the errno's text>": a line request the system refused.
@inline(never)
func lineRequestError(chip: String, offset: UInt32, _ error: Int32) -> ConfigError {
    ConfigError(.system(error), "gpio chip '\(chip)', line \(offset): \(errnoText(error))")
}

/// An offset past the chip's last line.
@inline(never)
func noSuchLineError(chip: String, offset: UInt32, lineCount: UInt32) -> ConfigError {
    ConfigError(.config, "gpio chip '\(chip)': no line \(offset) (the chip has \(lineCount))")
}

/// The C library's text for an errno value.
func errnoText(_ error: Int32) -> String {
    SystemError.description(error).map { String(cString: $0) } ?? "error \(error)"
}
