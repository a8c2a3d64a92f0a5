// libFuzzer entry point of the DL/T 645 frame decoder target (FuzzTargets.dlt645Decoding).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDLT645Decode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if let problem = FuzzTargets.dlt645Decoding(UnsafeRawBufferPointer(start: data, count: size)) {
        fatalError(problem)
    }
    return 0
}
