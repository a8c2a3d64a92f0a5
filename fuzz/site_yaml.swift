// libFuzzer entry point of the site-file target (FuzzTargets.siteYAML).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSiteYAML(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if let problem = FuzzTargets.siteYAML(UnsafeRawBufferPointer(start: data, count: size)) { fatalError(problem) }
    return 0
}
