// libFuzzer entry point of the CJ/T 188 frame decoder target (FuzzTargets.cjt188Decoding).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCJT188Decode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if let problem = FuzzTargets.cjt188Decoding(UnsafeRawBufferPointer(start: data, count: size)) {
        fatalError(problem)
    }
    return 0
}
