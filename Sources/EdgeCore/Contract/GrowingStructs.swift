import CShim

// The growth rule of edgecore.h: every struct the caller allocates reaches the library with the caller's
// sizeof (the header's static inline wrappers pass it). The smaller of the two sizes wins; a settings field
// the caller's older struct lacks takes its default, a statistic the library's older struct lacks reads as
// 0; nonzero bytes past the library's own struct are a field it does not know (EDGECORE_E_UNKNOWN_FIELD).

/// A struct of edgecore.h that the caller allocates and that grows at its end.
protocol GrowingStruct {
    /// Its size in version 1.0: the smallest a caller can pass. When the struct grows, this stays.
    static var firstVersionSize: Int { get }
}

/// A growing settings struct: what its _init writes, and what a field missing from an older caller's
/// struct is taken to be.
protocol GrowingSettings: GrowingStruct {
    static var defaults: Self { get }
}

/// No struct of edgecore.h comes near this; a larger size is a caller's mistake, not a newer header.
private let largestCallerStruct = 4096
private let pointerSize = MemoryLayout<UnsafeRawPointer>.size

extension edgecore_ring_stats: GrowingStruct { static var firstVersionSize: Int { 48 } }
extension edgecore_device_stats: GrowingStruct { static var firstVersionSize: Int { 136 } }
extension edgecore_bus_stats: GrowingStruct { static var firstVersionSize: Int { 56 } }
extension edgecore_pulse_stats: GrowingStruct { static var firstVersionSize: Int { 48 } }
extension edgecore_engine_config: GrowingStruct { static var firstVersionSize: Int { 8 } }
extension edgecore_tcp_bus_config: GrowingStruct { static var firstVersionSize: Int { 2 * pointerSize + 24 } }
extension edgecore_rtu_bus_config: GrowingStruct { static var firstVersionSize: Int { 2 * pointerSize + 32 } }
extension edgecore_device_config: GrowingStruct { static var firstVersionSize: Int { pointerSize + 32 } }
extension edgecore_channel_config: GrowingStruct { static var firstVersionSize: Int { 2 * pointerSize + 88 } }
extension edgecore_gpio_chip_config: GrowingStruct { static var firstVersionSize: Int { 3 * pointerSize + 8 } }
extension edgecore_gpio_line_config: GrowingStruct { static var firstVersionSize: Int { 4 * pointerSize + 48 } }

/// Fails unless `size` (a caller's sizeof, size_t arriving as Int) can be a version of `T`.
private func checkSize<T: GrowingStruct>(_: T.Type, _ size: Int) throws(ConfigError) {
    guard size >= T.firstVersionSize, size <= largestCallerStruct else {
        throw ConfigError(.invalidArgument, "struct size \(size) is not a size of this struct (version 1.0: \(T.firstVersionSize) bytes)")
    }
}

/// Copies `value` into the caller's struct of `size` bytes: the bytes both versions have, then zeros for
/// the fields only the caller's newer struct has. Sizes are not checked (the _init functions, which cannot
/// fail, use it directly).
private func store<T>(_ value: T, into out: UnsafeMutableRawPointer, size: Int) {
    let size = min(max(size, 0), largestCallerStruct)
    withUnsafeBytes(of: value) { bytes in
        guard let source = bytes.baseAddress else { return }
        let common = min(size, bytes.count)
        out.copyMemory(from: source, byteCount: common)
        if size > common { (out + common).initializeMemory(as: UInt8.self, repeating: 0, count: size - common) }
    }
}

/// The statistics getters' copy out: EDGECORE_OK, or EDGECORE_E_INVALID_ARGUMENT for an impossible size.
func storeStats<T: GrowingStruct>(_ value: T, into out: UnsafeMutablePointer<T>, size: Int) -> Int32 {
    do throws(ConfigError) {
        try checkSize(T.self, size)
    } catch {
        return failure(error)
    }
    store(value, into: UnsafeMutableRawPointer(out), size: size)
    return EDGECORE_OK
}

/// What the _init functions do: the defaults, as much of them as the caller's struct holds.
func storeDefaults<T: GrowingSettings>(_ out: UnsafeMutablePointer<T>?, size: Int) {
    guard let out else { return }
    store(T.defaults, into: UnsafeMutableRawPointer(out), size: size)
}

/// Reads the caller's settings struct of `size` bytes over the defaults.
func loadSettings<T: GrowingSettings>(_ config: UnsafePointer<T>, size: Int) throws(ConfigError) -> T {
    try checkSize(T.self, size)
    let raw = UnsafeRawPointer(config)
    let known = MemoryLayout<T>.size
    if size > known {
        for offset in known..<size where raw.load(fromByteOffset: offset, as: UInt8.self) != 0 {
            throw ConfigError(.unknownField, "byte \(offset) of the struct is set, but this library's struct ends at byte \(known): a field of a newer edgecore.h")
        }
    }
    var value = T.defaults
    withUnsafeMutableBytes(of: &value) { bytes in bytes.baseAddress?.copyMemory(from: raw, byteCount: min(size, known)) }
    return value
}
