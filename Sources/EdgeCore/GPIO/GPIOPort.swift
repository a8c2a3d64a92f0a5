import CShim

/// An open GPIO chip as the engine drives it, over whichever libgpiod generation libEdgeCore was built
/// with (libgpiod's own split between chip and line request). Class-bound for Embedded Swift.
/// Failures carry the errno (.system) and a message naming chip and line.
protocol GPIOChipPort: AnyObject {
    /// The offset of the line called `name`, or nil.
    func offset(ofLineNamed name: String) -> UInt32?
    var lineCount: UInt32 { get }
    func requestInput(offset: UInt32, bias: GPIOBias, activeLow: Bool) throws(Failure) -> any GPIOLinePort
    func requestOutput(offset: UInt32, activeLow: Bool, initial: Bool) throws(Failure) -> any GPIOLinePort
    /// An input delivering both edges, unfiltered: EdgeCore debounces from the kernel's timestamps on every
    /// generation (the kernel's own debounce works in jiffies, e.g. 4 ms steps at HZ=250, and loses pulses).
    func requestEdges(offset: UInt32, bias: GPIOBias, activeLow: Bool,
                      eventBuffer: UInt32) throws(Failure) -> any GPIOEventLinePort
}

/// One edge as the kernel saw it.
struct GPIOEdge {
    /// CLOCK_MONOTONIC, ns.
    var timestampNs: Int64
    var rising: Bool
    /// The kernel's per-line sequence number (libgpiod 2.x), nil with 1.6.
    var lineSeqno: UInt32?
}

/// A line requested for edge events.
protocol GPIOEventLinePort: GPIOLinePort {
    /// Readable when events wait.
    var eventFD: Int32 { get }
    /// The kernel numbers this request's events from 1 (libgpiod 2.x), so that losing the first ones shows.
    var sequenced: Bool { get }
    /// Reads the events waiting (after the fd polled readable). Returns nil or the errno of the failure.
    func readEvents(_ body: (GPIOEdge) -> Void) -> Errno?
}

/// One requested line. Released on deinit.
protocol GPIOLinePort: AnyObject {
    /// The logical value (after active-low). Fails with .system(errno) and no message (a hot path: the
    /// caller reports the errno).
    func read() throws(Failure) -> Bool
    /// Drives an output; nil or the errno of the failure.
    func write(_ value: Bool) -> Errno?
}

/// Opens a chip by path, name or label through libgpiod, or EdgeCore's simulated chip ("sim:DIR").
func openGPIOChip(_ chip: FilePath) throws(Failure) -> any GPIOChipPort {
    if let directory = chip.removingPrefix("sim:") {
        return try SimulatedChip.open(directory: directory, description: chip.description)
    }
    return try openLibgpiodChip(chip)
}
