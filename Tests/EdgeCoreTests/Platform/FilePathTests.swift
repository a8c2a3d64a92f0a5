import CShim
import Testing

@testable import EdgeCore

private func path(_ bytes: [UInt8]) -> FilePath {
    (bytes.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { FilePath(cString: $0.baseAddress!) }
}

private func bytes(_ path: FilePath) -> [UInt8] {
    path.withCString { Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map { UInt8(bitPattern: $0) } }
}

@Suite struct FilePathTests {
    @Test func bytesReachTheSystemUnchanged() {
        let raw: [UInt8] = Array("/tmp/a".utf8) + [0xFF, 0xC3, 0x2F, 0xFE] + Array("é".utf8)
        #expect(bytes(path(raw)) == raw)
        #expect(bytes(path(raw).appending(".tmp")) == raw + Array(".tmp".utf8))
        #expect(bytes(FilePath("/dev/").appending(path([0x80]))) == Array("/dev/".utf8) + [0x80])
        #expect(FilePath("").isEmpty && !FilePath("x").isEmpty)
    }

    @Test func prefixAndFolder() {
        #expect(path(Array("sim:/d".utf8) + [0xFF]).removingPrefix("sim:") == path(Array("/d".utf8) + [0xFF]))
        #expect(FilePath("sim:").removingPrefix("sim:") == "")
        #expect(FilePath("gpiochip0").removingPrefix("sim:") == nil)
        #expect(path(Array("/a".utf8) + [0xFF] + Array("/c".utf8)).folder == path(Array("/a".utf8) + [0xFF]))
        #expect(FilePath("/c").folder == "/")
        #expect(FilePath("c").folder == nil)
    }

    /// Valid UTF-8 stays as it is; invalid bytes (Unicode's table 3-7) and control characters are \xHH.
    @Test func descriptionEscapesWhatIsNotText() {
        #expect(FilePath("/tmp/été/日本/😀").description == "/tmp/été/日本/😀")
        #expect(path([0x2F, 0xFF, 0x61]).description == "/\\xFFa")
        #expect(path([0xC3, 0x2D]).description == "\\xC3-")               // lead byte without its continuation
        #expect(path([0xC3]).description == "\\xC3")                      // cut off at the end
        #expect(path([0xC0, 0xAF]).description == "\\xC0\\xAF")           // overlong "/"
        #expect(path([0xE0, 0x80, 0xAF]).description == "\\xE0\\x80\\xAF")  // overlong
        #expect(path([0xED, 0xA0, 0x80]).description == "\\xED\\xA0\\x80")  // a UTF-16 surrogate
        #expect(path([0xF4, 0x90, 0x80, 0x80]).description == "\\xF4\\x90\\x80\\x80")  // past U+10FFFF
        #expect(path([0xF4, 0x8F, 0xBF, 0xBF]).description == "\u{10FFFF}")
        #expect(path([0x61, 0x0A, 0x7F]).description == "a\\x0A\\x7F")
        let message = Failure(.config, "\(path([0x2F, 0xFE])): no such file").message
        #expect(message == "/\\xFE: no such file")
    }
}
