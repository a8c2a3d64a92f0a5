/// Bias of an input line (enum edgecore_gpio_bias).
enum GPIOBias: UInt8 {
    case asIs = 0
    case disabled = 1
    case pullUp = 2
    case pullDown = 3
}

/// An open GPIO chip as the engine drives it, over whichever libgpiod generation libEdgeCore was built
/// with (libgpiod's own split between chip and line request). Class-bound for Embedded Swift.
/// Errors are -errno values with a message naming chip and line.
protocol GPIOChipPort: AnyObject {
    /// The offset of the line called `name`, or nil.
    func offset(ofLineNamed name: String) -> UInt32?
    var lineCount: UInt32 { get }
    func requestInput(offset: UInt32, bias: GPIOBias, activeLow: Bool) throws(ConfigError) -> any GPIOLinePort
    func requestOutput(offset: UInt32, activeLow: Bool, initial: Bool) throws(ConfigError) -> any GPIOLinePort
}

/// One requested line. Released on deinit.
protocol GPIOLinePort: AnyObject {
    /// The logical value (after active-low), or an errno value.
    func read() -> Result<Bool, GPIOError>
    /// Drives an output; 0 or an errno value.
    func write(_ value: Bool) -> Int32
}

struct GPIOError: Error {
    var errno: Int32
}
