import Testing

@testable import EdgeCore

/// The check values of RFC 3720 B.4 (iSCSI) and the CRC catalogue's "123456789".
@Suite struct CRC32CTests {
    private func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { CRC32C.checksum($0) }
    }

    @Test func matchesTheRFC3720Vectors() {
        #expect(checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(checksum([]) == 0)
    }

    @Test func incrementalEqualsOneShot() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let whole = checksum(bytes)
        for split in [0, 1, 7, 500, 999, 1000] {
            let crc = bytes.withUnsafeBytes { all in
                CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: all[..<split])),
                              UnsafeRawBufferPointer(rebasing: all[split...]))
            }
            #expect(crc == whole, "split at \(split)")
        }
    }

    /// The instruction (when this processor has it) and the table agree on every length and alignment.
    @Test func theInstructionAndTheTableAgree() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.withUnsafeBytes { all in
            for start in 0..<9 {
                for end in stride(from: start, through: all.count, by: 7) {
                    let part = UnsafeRawBufferPointer(rebasing: all[start..<end])
                    #expect(CRC32C.update(0x1234_5678, part) == CRC32C.updateByTable(0x1234_5678, part))
                }
            }
        }
        #expect(Array("123456789".utf8).withUnsafeBytes { CRC32C.updateByTable(0, $0) } == 0xE306_9283)
    }
}
