import CShim

/// The consumer name the kernel shows for lines EdgeCore holds (gpioinfo).
var consumerName: UnsafePointer<CChar> { staticCString("edgecore") }

/// "gpio chip 'C', line N: <the errno's text>": a line request the system refused.
@inline(never)
func lineRequestError(chip: String, offset: UInt32, _ error: Errno) -> Failure {
    Failure.system(error, "gpio chip '\(chip)', line \(offset)")
}

/// An offset past the chip's last line.
@inline(never)
func noSuchLineError(chip: String, offset: UInt32, lineCount: UInt32) -> Failure {
    Failure(.config, "gpio chip '\(chip)': no line \(offset) (the chip has \(lineCount))")
}

/// "gpio chip 'C': <the errno's text>": a chip the system could not open (errno 0 reads as ENOENT).
@inline(never)
func chipOpenError(chip: String, _ error: Errno) -> Failure {
    Failure.system(error.rawValue == 0 ? .noEntry : error, "gpio chip '\(chip)'")
}
