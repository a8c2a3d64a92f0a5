import CShim

/// The consumer name the kernel shows for lines EdgeCore holds (gpioinfo).
var consumerName: UnsafePointer<CChar> { staticCString("edgecore") }

/// "gpio chip 'C', line N: <the errno's text>": a line request the system refused. A line another program
/// holds (EBUSY) is not fought over; the message names its holder, as the kernel and /proc tell it (chipPath:
/// the chip's device, "/dev/gpiochip0" or "gpiochip0"): "gpio chip 'C', line N: held by 'gpioset' (process
/// 1234)".
@inline(never)
func lineRequestError(chip: String, offset: UInt32, _ error: Errno, chipPath: UnsafePointer<CChar>? = nil) -> Failure {
    guard error == .busy, let chipPath else { return Failure.system(error, "gpio chip '\(chip)', line \(offset)") }
    var consumer = [CChar](repeating: 0, count: 64)
    var holder = 0
    _ = consumer.withUnsafeMutableBufferPointer { ec_gpio_line_holder(chipPath, offset, $0.baseAddress, $0.count, &holder) }
    let label = consumer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    let who: Message = label.isEmpty ? "another program" : "'\(label)'"
    let process: Message = holder > 0 ? " (process \(holder))" : ""
    return Failure(.system(error), "gpio chip '\(chip)', line \(offset): held by \(who)\(process)")
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
