// libFuzzer entry point of the Modbus answer decoding target (FuzzTargets.answerDecoding).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModbusDecode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if let problem = FuzzTargets.answerDecoding(UnsafeRawBufferPointer(start: data, count: size)) {
        fatalError(problem)
    }
    return 0
}
