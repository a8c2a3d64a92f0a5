import Foundation
import Testing

@testable import EdgeCore

/// The real folder behind the journal's file interface: the same operations the power-cut simulator plays.
@Suite struct FolderFilesTests {
    private func scratchFolder() throws -> String {
        let path = NSTemporaryDirectory() + "edgecore-folderfiles-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    @Test func filesAreWrittenReadRenamedTruncatedAndRemoved() throws {
        let path = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let folder = FolderFiles(FilePath(path))
        #expect(try folder.names().isEmpty)
        let file = try folder.open("segment-1", create: true)
        let bytes: [UInt8] = Array(0..<200).map { UInt8($0) }
        try bytes.withUnsafeBytes { try file.write(at: 10, $0) }
        #expect(try file.size() == 210)
        var back = [UInt8](repeating: 0xEE, count: 300)
        let count = try back.withUnsafeMutableBytes { try file.read(at: 10, into: $0) }
        #expect(count == 200 && Array(back.prefix(200)) == bytes)
        try file.truncate(to: 50)
        #expect(try file.size() == 50)
        try file.sync()
        file.close()
        try folder.rename("segment-1", to: "segment-2")
        try folder.syncFolder()
        #expect(try folder.names() == ["segment-2"])
        #expect(throws: Failure.self) { _ = try folder.open("segment-1", create: false) }
        try folder.remove("segment-2")
        #expect(try folder.names().isEmpty)
    }

    @Test func failuresNameThePath() throws {
        let folder = FolderFiles(FilePath("/nonexistent-edgecore-folder"))
        var failure: Failure? = nil
        do throws(Failure) {
            _ = try folder.names()
        } catch {
            failure = error
        }
        #expect(failure?.kind == .system(.noEntry))
        #expect(failure?.message.hasPrefix("/nonexistent-edgecore-folder: ") == true)
    }
}
