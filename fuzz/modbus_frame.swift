// libFuzzer entry point of the Modbus answer frame target (FuzzTargets.answerFrame).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModbusFrame(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if let problem = FuzzTargets.answerFrame(UnsafeRawBufferPointer(start: data, count: size)) { fatalError(problem) }
    return 0
}
