import Foundation
import Testing

// The fuzz corpus (fuzz/corpus/<target>/: seeds and the minimized inputs the fuzzer found) replayed once
// through the same target bodies as the libFuzzer build; `make -C fuzz replay` does the same under the
// address sanitizer.

private let corpusRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fuzz/corpus")

private func replay(_ target: String, _ body: (UnsafeRawBufferPointer) -> String?) throws {
    let folder = corpusRoot.appendingPathComponent(target)
    let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    #expect(!names.isEmpty, "no corpus in \(folder.path)")
    for name in names {
        let input = try Data(contentsOf: folder.appendingPathComponent(name))
        let problem = input.withUnsafeBytes { body($0) }
        #expect(problem == nil, "\(target)/\(name): \(problem ?? "")")
    }
}

@Suite struct FuzzCorpusTests {
    @Test func siteFiles() throws { try replay("site_yaml", FuzzTargets.siteYAML) }
    @Test func modbusAnswerDecoding() throws { try replay("modbus_decode", FuzzTargets.answerDecoding) }
    @Test func journalRecovery() throws { try replay("journal_scan", FuzzTargets.journalRecovery) }
    @Test func journalOpen() throws { try replay("journal_open", FuzzTargets.journalOpen) }
    @Test func dlt645Frames() throws { try replay("dlt645_decode", FuzzTargets.dlt645Decoding) }
    @Test func cjt188Frames() throws { try replay("cjt188_decode", FuzzTargets.cjt188Decoding) }
    // Other suites open and close descriptors in parallel: the descriptor check is make fuzz-replay's.
    @Test func modbusAnswerFrames() throws {
        try replay("modbus_frame") { FuzzTargets.answerFrame($0, checkDescriptors: false) }
    }
}
