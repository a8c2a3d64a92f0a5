import Testing

@testable import EdgeCore

/// The power-cut simulator the journal's crash tests stand on: it must lose exactly what a real medium may
/// lose, or those tests prove nothing.
@Suite struct PowerCutFilesTests {
    private func write(_ file: any JournalFile, _ bytes: [UInt8], at offset: UInt64) throws {
        try bytes.withUnsafeBytes { raw in try file.write(at: offset, raw) }
    }

    /// A small workload cut at each of its events: synced bytes are always there; what follows them is
    /// a prefix of what was written after, possibly torn into garbage only within the last write.
    @Test func syncedBytesSurviveEveryCutAndTheRestIsAPrefixOrTorn() throws {
        let first = [UInt8](repeating: 0xA1, count: 100), second = [UInt8](repeating: 0xB2, count: 100)
        let third = [UInt8](repeating: 0xC3, count: 50)
        var outcomes: Set<Int> = []
        for cutAt in 1...6 {
            for seed in 1...40 as ClosedRange<UInt64> {
                let folder = PowerCutFiles(seed: seed)
                folder.folderChangesMayLand = false  // the creation below is lost unless synced
                folder.cutAt = cutAt
                var synced = 0  // bytes known durable when the power failed
                do {
                    let file = try folder.open("seg", create: true)
                    try folder.syncFolder()                        // event 1
                    try write(file, first, at: 0)                  // event 2
                    try file.sync(); synced = 100                  // event 3
                    try write(file, second, at: 100)               // event 4
                    try write(file, third, at: 200)                // event 5
                    try file.sync(); synced = 250                  // event 6
                } catch {
                    #expect(folder.powerOff)
                }
                folder.reboot()
                guard cutAt > 1 else {
                    #expect(folder.contents("seg") == nil)  // the folder entry never became durable
                    continue
                }
                let bytes = try #require(folder.contents("seg"))
                let written = first + second + third
                #expect(bytes.count >= synced && bytes.count <= written.count)
                #expect(Array(bytes.prefix(synced)) == Array(written.prefix(synced)))
                // Past the synced part: whole earlier writes, then at most one torn write with garbage.
                let intact = zip(bytes, written).prefix { $0 == $1 }.count
                #expect(intact >= synced)
                let tornStart = intact <= 100 ? 0 : (intact <= 200 ? 100 : 200)
                #expect(bytes.count <= (tornStart == 0 ? 100 : tornStart == 100 ? 200 : 250))
                outcomes.insert(bytes.count)
            }
        }
        #expect(outcomes.count > 3)  // cuts landed in different places: the simulator is not trivially lossless
    }

    @Test func aRenameIsDurableOnlyAfterTheFolderSync() throws {
        let folder = PowerCutFiles(seed: 7)
        folder.folderChangesMayLand = false
        let file = try folder.open("cursor.tmp", create: true)
        try write(file, [1, 2, 3], at: 0)
        try file.sync()
        try folder.rename("cursor.tmp", to: "cursor")
        folder.reboot()
        #expect(folder.contents("cursor") == nil && folder.contents("cursor.tmp") == nil)

        let again = try folder.open("cursor.tmp", create: true)
        try write(again, [4, 5], at: 0)
        try again.sync()
        try folder.rename("cursor.tmp", to: "cursor")
        try folder.syncFolder()
        folder.reboot()
        #expect(folder.contents("cursor") == [4, 5])
        #expect(folder.contents("cursor.tmp") == nil)
    }

    @Test func afterTheCutEveryCallFailsUntilTheReboot() throws {
        let folder = PowerCutFiles(seed: 3)
        folder.folderChangesMayLand = false
        let file = try folder.open("seg", create: true)
        folder.cutAt = 1
        #expect(throws: Failure.self) { try write(file, [9], at: 0) }
        #expect(throws: Failure.self) { try file.sync() }
        #expect(throws: Failure.self) { _ = try folder.names() }
        folder.reboot()
        #expect(try folder.names().isEmpty)
    }

    /// Unsynced folder changes may land at a cut, but only as a prefix in their order: never a rename
    /// without the creation before it, never a later change without an earlier one.
    @Test func unsyncedFolderChangesLandAsAPrefix() throws {
        var seen: Set<[String]> = []
        for seed in 1...200 as ClosedRange<UInt64> {
            let folder = PowerCutFiles(seed: seed)
            let file = try folder.open("a.tmp", create: true)
            try write(file, [1], at: 0)
            try file.sync()
            try folder.rename("a.tmp", to: "a")
            _ = try folder.open("b", create: true)
            try folder.remove("b")
            folder.reboot()
            let names = try folder.names().sorted()
            #expect([[], ["a.tmp"], ["a"], ["a", "b"]].contains(names), "\(names)")
            seen.insert(names)
            if names.contains("a") || names.contains("a.tmp") {
                #expect(folder.contents(names.contains("a") ? "a" : "a.tmp") == [1])
            }
        }
        #expect(seen.count == 4)  // every prefix happens
    }
}
