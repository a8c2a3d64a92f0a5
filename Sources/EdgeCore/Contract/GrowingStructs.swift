import CShim

// The growth rule of edgecore.h: every struct the caller allocates reaches the library with the caller's
// sizeof (the header's static inline wrappers pass it). The smaller of the two sizes wins; a settings field
// the caller's older struct lacks takes its default, a statistic the library's older struct lacks reads as
// 0; nonzero bytes past the library's own struct are a field it does not know (EDGECORE_E_UNKNOWN_FIELD).

/// A struct of edgecore.h that the caller allocates and that grows at its end.
protocol GrowingStruct {
    /// Its size in the version that introduced it: the smallest a caller can pass. When the struct grows,
    /// this stays.
    static var firstVersionSize: Int { get }
    /// That version, for messages ("1.0").
    static var firstVersion: StaticString { get }
}

extension GrowingStruct {
    static var firstVersion: StaticString { "1.0" }
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
// Version 1.1: the journal.
extension edgecore_journal_config: GrowingStruct {
    static var firstVersionSize: Int { 32 }
    static var firstVersion: StaticString { "1.1" }
}
extension edgecore_journal_stats: GrowingStruct {
    static var firstVersionSize: Int { 128 }
    static var firstVersion: StaticString { "1.1" }
}
extension edgecore_journal_cursor_stats: GrowingStruct {
    static var firstVersionSize: Int { 80 }
    static var firstVersion: StaticString { "1.1" }
}
extension edgecore_engine_journal_stats: GrowingStruct {
    static var firstVersionSize: Int { 48 }
    static var firstVersion: StaticString { "1.1" }
}

// Version 1.4: local buses.
extension edgecore_local_bus_config: GrowingStruct {
    static var firstVersionSize: Int { pointerSize + 8 }
    static var firstVersion: StaticString { "1.4" }
}

extension edgecore_journal_config: GrowingSettings {
    /// JournalSettings' defaults (the one place they are written).
    static var defaults: Self {
        let settings = JournalSettings()
        var c = Self()  // reserved fields 0
        c.size_limit = settings.sizeLimit
        c.segment_size = settings.segmentSize
        c.sync_interval_ms = settings.syncIntervalMs
        c.sync_every_readings = settings.syncEveryReadings
        c.max_syncs_per_hour = settings.maxSyncsPerHour
        c.when_full = settings.whenFull.rawValue
        return c
    }
}

// The work is done on raw bytes in functions of their own, so that each struct costs only a thin generic
// wrapper in the Embedded library.

/// Fails unless `size` (a caller's sizeof, size_t arriving as Int) can be a version of a struct whose size
/// was `firstSize` in `firstVersion`, the version that introduced it.
@inline(never)
private func checkSize(_ size: Int, firstSize: Int, firstVersion: StaticString) throws(Failure) {
    guard size >= firstSize, size <= largestCallerStruct else {
        throw Failure(.invalidArgument, "struct size \(size) is not a size of this struct (version \(firstVersion): \(firstSize) bytes)")
    }
}

/// Copies the library's struct (`known` bytes at `source`) into the caller's struct of `size` bytes: the
/// bytes both versions have, then zeros for the fields only the caller's newer struct has.
@inline(never)
private func storeBytes(_ source: UnsafeRawPointer, known: Int, into out: UnsafeMutableRawPointer, size: Int) {
    let size = min(max(size, 0), largestCallerStruct)
    let common = min(size, known)
    out.copyMemory(from: source, byteCount: common)
    if size > common { (out + common).initializeMemory(as: UInt8.self, repeating: 0, count: size - common) }
}

/// Reads the caller's struct of `size` bytes over the library's (`known` bytes at `value`, holding the
/// defaults): bytes past `known` must be 0.
@inline(never)
private func loadBytes(_ source: UnsafeRawPointer, size: Int, firstSize: Int, firstVersion: StaticString,
                       into value: UnsafeMutableRawPointer, known: Int, kind: StaticString) -> Int32? {
    do throws(Failure) {
        try checkSize(size, firstSize: firstSize, firstVersion: firstVersion)
        if size > known {
            for offset in known..<size where source.load(fromByteOffset: offset, as: UInt8.self) != 0 {
                throw Failure(.unknownField, "byte \(offset) of the struct is set, but this library's struct ends at byte \(known): a field of a newer edgecore.h")
            }
        }
    } catch {
        return failure(Failure(error.kind, "struct edgecore_\(Message.string(kind))_config: \(error.message)"))
    }
    value.copyMemory(from: source, byteCount: min(size, known))
    return nil
}

/// The size check of `storeStats` alone, for a getter that checks before doing costly work: nil, or the
/// failure's code.
func checkStoreSize<T: GrowingStruct>(_ type: T.Type, size: Int) -> Int32? {
    do throws(Failure) {
        try checkSize(size, firstSize: T.firstVersionSize, firstVersion: T.firstVersion)
    } catch {
        return failure(error)
    }
    return nil
}

/// The statistics getters' copy out: EDGECORE_OK, or EDGECORE_E_INVALID_ARGUMENT for an impossible size.
func storeStats<T: GrowingStruct>(_ value: T, into out: UnsafeMutablePointer<T>, size: Int) -> Int32 {
    do throws(Failure) {
        try checkSize(size, firstSize: T.firstVersionSize, firstVersion: T.firstVersion)
    } catch {
        return failure(error)
    }
    withUnsafeBytes(of: value) { bytes in
        if let source = bytes.baseAddress { storeBytes(source, known: bytes.count, into: UnsafeMutableRawPointer(out), size: size) }
    }
    return EDGECORE_OK
}

/// What the _init functions do: the defaults, as much of them as the caller's struct holds.
func storeDefaults<T: GrowingSettings>(_ out: UnsafeMutablePointer<T>?, size: Int) {
    guard let out else { return }
    withUnsafeBytes(of: T.defaults) { bytes in
        if let source = bytes.baseAddress { storeBytes(source, known: bytes.count, into: UnsafeMutableRawPointer(out), size: size) }
    }
}

/// Reads the caller's settings struct of `size` bytes over the defaults into `settings`; returns nil, or
/// the result code of the failure (recorded for edgecore_engine_last_error()).
func loadSettings<T: GrowingSettings>(_ config: UnsafePointer<T>, size: Int, into settings: inout T,
                                      kind: StaticString) -> Int32? {
    settings = T.defaults
    return withUnsafeMutableBytes(of: &settings) { bytes in
        guard let target = bytes.baseAddress else { return nil }
        return loadBytes(UnsafeRawPointer(config), size: size, firstSize: T.firstVersionSize,
                         firstVersion: T.firstVersion, into: target, known: bytes.count, kind: kind)
    }
}
