// libFuzzer entry point of the journal open target (FuzzTargets.journalOpen).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJournalOpen(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if let problem = FuzzTargets.journalOpen(UnsafeRawBufferPointer(start: data, count: size)) {
        fatalError(problem)
    }
    return 0
}
