// libFuzzer entry point of the journal recovery target (FuzzTargets.journalRecovery).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJournalScan(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if let problem = FuzzTargets.journalRecovery(UnsafeRawBufferPointer(start: data, count: size)) {
        fatalError(problem)
    }
    return 0
}
