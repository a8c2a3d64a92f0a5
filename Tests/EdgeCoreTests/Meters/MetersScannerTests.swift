import Testing

@testable import EdgeCore

/// The streaming frame scanner both protocols share: FE and noise skipped, re-synchronisation after a bad
/// checksum, a wrong end byte or an impossible length, the same result whatever the chunking, counts that
/// add up.
struct MetersScannerTests {
    static let readVoltage = hexBytes("68 12 90 78 56 34 12 68 11 04 33 34 34 35 6B 16")
    static let energyReply = hexBytes("68 12 90 78 56 34 12 68 91 08 33 33 33 33 AB 89 67 45 CB 16")
    static let abnormal = hexBytes("68 12 90 78 56 34 12 68 D1 01 35 8D 16")

    /// Every event of `stream` fed in chunks of the given sizes (cycled), then `finish`.
    static func scan(_ stream: [UInt8], shape: MeterFrameShape = .dlt645, chunks: [Int] = [Int.max]) -> (events: [MeterScanEvent], counts: MeterFrameScanner.Counts) {
        var scanner = MeterFrameScanner(shape: shape)
        var events: [MeterScanEvent] = []
        var position = 0
        var chunk = 0
        while position < stream.count {
            let size = max(1, min(chunks[chunk % chunks.count], stream.count - position))
            scanner.append(stream[position..<position + size])
            position += size
            chunk += 1
            while let event = scanner.next() { events.append(event) }
            #expect(scanner.counts.fed == scanner.counts.frameBytes + scanner.counts.discardedBytes + scanner.pendingCount)
        }
        scanner.finish()
        while let event = scanner.next() { events.append(event) }
        #expect(scanner.pendingCount == 0)
        #expect(scanner.counts.fed == stream.count)
        #expect(scanner.counts.fed == scanner.counts.frameBytes + scanner.counts.discardedBytes)
        return (events, scanner.counts)
    }

    @Test func preambleAndNoiseBeforeFramesAreSkipped() {
        let noise: [UInt8] = [0x00, 0x68, 0x11, 0xFF, 0x16, 0x68, 0x00]  // includes stray 0x68s
        let stream = [0xFE, 0xFE, 0xFE, 0xFE] + Self.readVoltage + noise + [0xFE, 0xFE] + Self.energyReply + [0xFE] + Self.abnormal
        let (events, counts) = Self.scan(stream)
        #expect(events == [.frame(Self.readVoltage, offset: 4), .frame(Self.energyReply, offset: 29),
                           .frame(Self.abnormal, offset: 50)])
        #expect(counts.frames == 3)
        #expect(counts.discardedBytes == 4 + noise.count + 2 + 1)
        #expect(counts.problems == 0)
    }

    @Test func byteByByteAndRandomChunksGiveTheSameEvents() {
        var generator = PlannerTests.SplitMix(state: 0x6450_0188)
        var stream: [UInt8] = []
        for round in 0..<40 {
            stream += (0..<Int(generator.next() % 7)).map { _ in UInt8(truncatingIfNeeded: generator.next()) & 0x7F }  // noise, stray 0x68s included
            stream += [UInt8](repeating: 0xFE, count: round % 5)
            stream += [Self.readVoltage, Self.energyReply, Self.abnormal][round % 3]
        }
        let whole = Self.scan(stream)
        #expect(whole.counts.frames >= 40)
        #expect(Self.scan(stream, chunks: [1]).events == whole.events)
        for _ in 0..<20 {
            let sizes = (0..<9).map { _ in 1 + Int(generator.next() % 40) }
            #expect(Self.scan(stream, chunks: sizes).events == whole.events)
        }
    }

    @Test func badChecksumIsReportedAndTheNextFrameFound() {
        var broken = Self.energyReply
        broken[broken.count - 2] = 0xCC
        let (events, counts) = Self.scan(broken + Self.abnormal, chunks: [3])
        #expect(events == [.problem(.checksum(expected: 0xCB, received: 0xCC)), .frame(Self.abnormal, offset: broken.count)])
        #expect(counts.checksumErrors == 1 && counts.frames == 1 && counts.discardedBytes == broken.count)
        #expect(MeterFrameProblem.checksum(expected: 0xCB, received: 0xCC).message.text == "frame checksum 0xCC, the bytes sum to 0xCB")
    }

    @Test func wrongEndByteIsReported() {
        var broken = Self.readVoltage
        broken[broken.count - 1] = 0x17
        let (events, counts) = Self.scan(broken + Self.readVoltage)
        #expect(events == [.problem(.endByte(0x17)), .frame(Self.readVoltage, offset: broken.count)])
        #expect(counts.endByteErrors == 1)
    }

    @Test func impossibleLengthIsReportedWithoutWaitingForIt() {
        // L = 0xC9 (201) > 200: reported as soon as the header is in, the frame after it found.
        let header = hexBytes("68 12 90 78 56 34 12 68 91 C9")
        let (events, counts) = Self.scan(header + Self.abnormal, chunks: [1])
        #expect(events == [.problem(.length(201)), .frame(Self.abnormal, offset: header.count)])
        #expect(counts.lengthErrors == 1)
    }

    @Test func truncatedFrameIsReportedAtFinish() {
        let cut = Array(Self.energyReply.prefix(15))
        let (events, counts) = Self.scan([0xFE, 0xFE] + cut)
        #expect(events == [.problem(.truncated(15))])
        #expect(counts.truncatedFrames == 1 && counts.discardedBytes == 17)
    }

    @Test func aFrameInsideARejectedOneIsFound() {
        // A false start whose length swallows a real frame: after the checksum fails the real one is found.
        let falseStart = hexBytes("68 11 11 11 11 11 11 68 91 10")
        let (events, _) = Self.scan(falseStart + Self.abnormal + [0, 0, 0, 0, 0])
        #expect(events.last == .frame(Self.abnormal, offset: falseStart.count))
        #expect(events.count == 2)
    }

    @Test func aFrameBehindAStrayStartIsFoundAtFinish() {
        // A stray 0x68 seven bytes before another 0x68 looks like a start with L = 0x90: the frame after it is
        // held back until the window ends, then found; the stray start is reported truncated.
        let stray = hexBytes("68 11 FF 16 68 FE FE")
        let (events, counts) = Self.scan(stray + Self.energyReply, chunks: [2])
        #expect(events == [.problem(.truncated(stray.count + Self.energyReply.count)),
                           .frame(Self.energyReply, offset: stray.count)])
        #expect(counts.truncatedFrames == 1 && counts.frames == 1 && counts.discardedBytes == stray.count)
    }

    @Test func decodersParseTheFramesTheyFind() throws {
        var decoder = DLT645Decoder()
        decoder.append([0xFE, 0xFE] + Self.energyReply.prefix(7))
        #expect(decoder.next() == nil)
        decoder.append(Self.energyReply.dropFirst(7))
        let reply = try #require(DLT645Frame(raw: Self.energyReply))
        #expect(decoder.next() == .frame(reply))
        #expect(decoder.next() == nil)
        decoder.finish()
        #expect(decoder.next() == nil)
        #expect(decoder.scanner.counts.frames == 1 && decoder.scanner.counts.discardedBytes == 2)
    }
}
