import CShim

/// The value of the environment variable `name` (nil when unset): read once per load, by the site file's
/// profile search (EDGECORE_PROFILES).
func environmentValue(_ name: StaticString) -> String? {
    let cName = UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
    guard let value = getenv(cName) else { return nil }
    return String(cString: value)
}
