import Testing

@testable import EdgeCore

#if canImport(Glibc)
import Glibc
#endif

/// Power-cut tests, as SQLite's crash tests: the journal runs a workload on the power-cut simulator, the
/// power fails at a write or sync boundary (every one of a small workload, systematically, and random ones
/// of larger workloads), the folder is "rebooted" and the journal reopened. After every cut:
/// - it opens (corruption never makes it refuse);
/// - every reading a sync confirmed durable is there, unless the journal had already removed it for space;
/// - no reading delivered is corrupt (each encodes its own sequence number), sequences strictly increase;
/// - new appends get sequence numbers above every one delivered before the cut (so a delivered sequence
///   always means the same reading);
/// - a cursor is never behind the acknowledgement that was durable before the cut.
@Suite struct JournalCrashTests {
    /// Readings that say which journal sequence they were appended as.
    static func readings(from first: UInt64, count: Int) -> [Reading] {
        (0..<count).map { index in
            let sequence = first + UInt64(index)
            return Reading(timestamp_ns: Int64(sequence) * 1000, value: Double(sequence),
                           channel: UInt32(truncatingIfNeeded: sequence % 977), sequence: UInt32(truncatingIfNeeded: sequence),
                           status: UInt16(sequence % 3), status_detail: 0, reserved: 0)
        }
    }

    static func intact(_ reading: Reading, _ sequence: UInt64) -> Bool {
        reading.timestamp_ns == Int64(sequence) * 1000 && reading.value == Double(sequence)
            && reading.channel == UInt32(sequence % 977) && reading.sequence == UInt32(truncatingIfNeeded: sequence)
            && reading.status == UInt16(sequence % 3) && reading.status_detail == 0 && reading.reserved == 0
    }

    /// What the workload knew for sure when the power failed.
    struct Confirmed {
        var durable: UInt64 = 0           // the newest reading a sync confirmed
        var oldest: UInt64 = 1            // the oldest stored reading at that time
        var acknowledged: UInt64 = 0      // the uplink cursor's durable acknowledgement
        var delivered: UInt64 = 0         // the highest sequence a cursor delivered
        var appended: UInt64 = 0          // the next sequence the journal would have given
        var mayDropTo: UInt64 = 0         // the oldest a removal for space in the next call could leave
    }

    struct Workload {
        var seed: UInt64
        var appends: Int
        var batch: Int
        var settings: JournalSettings
    }

    /// 6,000 readings in 40 appends through 64 KiB segments, at most two of them: segment changes, syncs by
    /// count, cursor writes and, from the third segment on, the oldest dropped for space.
    static let small = Workload(seed: 1, appends: 40, batch: 150,
                                settings: JournalSettings(sizeLimit: 2 * 65_536, segmentSize: 65_536, syncIntervalMs: 0,
                                                          syncEveryReadings: 600, maxSyncsPerHour: 0, whenFull: .dropOldest))

    /// Runs `workload` until the power fails (or to its end); returns what was confirmed.
    static func run(_ workload: Workload, on folder: PowerCutFiles, random: inout UInt64) -> Confirmed {
        var confirmed = Confirmed()
        var now: Int64 = 0
        do {
            let journal = try Journal(files: folder, settings: workload.settings, clock: { now })
            _ = try journal.addCursor("uplink")
            confirmed.oldest = max(1, journal.stats().oldestSequence)
            var buffer = [Reading](repeating: Reading(), count: 400)
            for step in 0..<workload.appends {
                now += 40_000_000
                let next = journal.stats().newestSequence + 1
                _ = try Self.readings(from: next, count: workload.batch).withUnsafeBufferPointer { try journal.append($0) }
                note(journal, &confirmed)
                random = random &* 6364136223846793005 &+ 1442695040888963407
                if random >> 62 == 0 || step % 5 == 4 {
                    let got = try buffer.withUnsafeMutableBufferPointer { try journal.read("uplink", into: $0) }
                    if got.count > 0 {
                        confirmed.delivered = max(confirmed.delivered, got.first + UInt64(got.count) - 1)
                        try journal.acknowledge("uplink", through: got.first + UInt64(got.count) - 1)
                    }
                }
                if random >> 60 == 1 { try journal.sync(); note(journal, &confirmed) }
                _ = try journal.tick()
                note(journal, &confirmed)
            }
            try journal.close()
            confirmed.durable = confirmed.appended - 1
            if let uplink = journal.cursorStats(at: 0) { confirmed.acknowledged = uplink.acknowledged }
        } catch {
            // the power failed
        }
        return confirmed
    }

    static func note(_ journal: Journal, _ confirmed: inout Confirmed) {
        let stats = journal.stats()
        confirmed.durable = stats.durableSequence
        confirmed.appended = stats.newestSequence + 1
        if stats.oldestSequence > 0 { confirmed.oldest = stats.oldestSequence }
        let starts = journal.segmentStarts
        confirmed.mayDropTo = starts.count > 1 ? starts[1] : 0
        if let uplink = journal.cursorStats(at: 0) { confirmed.acknowledged = uplink.durableAcknowledged }
    }

    /// Reopens after the cut and checks everything the suite's comment promises. Returns a failure text.
    static func check(_ folder: PowerCutFiles, _ confirmed: Confirmed, settings: JournalSettings) -> String? {
        folder.reboot()
        let journal: Journal
        do {
            journal = try Journal(files: folder, settings: settings, clock: { 0 })
        } catch {
            return "reopen failed: \(error.message)"
        }
        let stats = journal.stats()
        if let uplink = journal.cursorStats(at: 0), uplink.acknowledged < confirmed.acknowledged {
            return "cursor went back: \(uplink.acknowledged) < durable acknowledgement \(confirmed.acknowledged)"
        }
        do {
            _ = try journal.addCursor("check")
            var expected = stats.oldestSequence
            var seen = Set<UInt64>()
            var buffer = [Reading](repeating: Reading(), count: 333)
            var last: UInt64 = 0
            for _ in 0..<10_000 {
                let got = try buffer.withUnsafeMutableBufferPointer { try journal.read("check", into: $0) }
                if got.count == 0 { break }
                if got.first <= last { return "sequence went back: \(got.first) after \(last)" }
                for index in 0..<got.count {
                    let sequence = got.first + UInt64(index)
                    if !intact(buffer[index], sequence) { return "corrupt reading delivered as \(sequence)" }
                    seen.insert(sequence)
                }
                last = got.first + UInt64(got.count) - 1
                expected = last + 1
            }
            _ = expected
            // A segment removed for space in the call the power cut (its removal may land, the append not):
            // at most the one the journal would have removed next.
            // The oldest stored sequence, also when no reading is left (stats then say 0): the first segment's.
            let oldest = journal.segmentStarts.first ?? stats.oldestSequence
            if oldest > max(confirmed.oldest, confirmed.mayDropTo) {
                return "oldest went from \(confirmed.oldest) to \(oldest) (the next segment started at \(confirmed.mayDropTo))"
            }
            let lowest = max(confirmed.oldest, oldest)
            if confirmed.durable >= lowest {
                for sequence in lowest...confirmed.durable where !seen.contains(sequence) {
                    return "durable reading \(sequence) lost (oldest \(confirmed.oldest), durable \(confirmed.durable), stats oldest \(stats.oldestSequence) newest \(stats.newestSequence))"
                }
            }
            let next = try readings(from: 0, count: 1).withUnsafeBufferPointer { try journal.append($0) }
            if next <= confirmed.delivered || next <= confirmed.durable {
                return "new sequence \(next) not above delivered \(confirmed.delivered) / durable \(confirmed.durable)"
            }
            try journal.close()
        } catch {
            return "after reopen: \((error as? Failure)?.message ?? "\(error)")"
        }
        return nil
    }

    /// The number of events of the small workload without a cut.
    static func eventCount(_ workload: Workload) -> Int {
        let folder = PowerCutFiles(seed: 7)
        var random = workload.seed
        _ = run(workload, on: folder, random: &random)
        return folder.events
    }

    @Test func aCutAtEveryEventOfASmallWorkload() {
        let events = Self.eventCount(Self.small)
        #expect(events > 100)
        var failures: [String] = []
        for cutAt in 1...events + 1 {
            for seed in 1...3 as ClosedRange<UInt64> {
                let folder = PowerCutFiles(seed: seed &* 7919 &+ UInt64(cutAt))
                folder.cutAt = cutAt
                var random = Self.small.seed
                let confirmed = Self.run(Self.small, on: folder, random: &random)
                if let failure = Self.check(folder, confirmed, settings: Self.small.settings) {
                    failures.append("cut at event \(cutAt) of \(events), seed \(seed): \(failure)")
                }
            }
        }
        print("journal power cuts, systematic: \(3 * (events + 1)) cuts at all \(events) events, \(failures.count) failures")
        #expect(failures.isEmpty, "\(failures.prefix(5))")
    }

    /// Random workloads (batch sizes, sync policies, size limits, both full policies) cut at random events.
    /// EDGECORE_JOURNAL_CUTS sets the count (the test command runs 1,000; `make journal-crash-soak` 10,000).
    @Test func randomCutsOfRandomWorkloads() {
        let cuts = ProcessInfoCount.value("EDGECORE_JOURNAL_CUTS", default: 1000)
        let only = ProcessInfoCount.value("EDGECORE_JOURNAL_ROUND", default: -1)
        var failures: [String] = []
        var random: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ bound: Int) -> Int {
            random ^= random << 13; random ^= random >> 7; random ^= random << 17
            return Int(random % UInt64(bound))
        }
        for round in 0..<cuts {
            let settings = JournalSettings(sizeLimit: UInt64(2 + next(4)) * 65_536, segmentSize: 65_536,
                                           syncIntervalMs: UInt32(next(3) * 100), syncEveryReadings: UInt32(next(4) * 300),
                                           maxSyncsPerHour: 0, whenFull: .dropOldest)
            let workload = Workload(seed: UInt64(round) &+ 11, appends: 5 + next(40), batch: 1 + next(700), settings: settings)
            let total = Self.eventCount(workload)
            let folder = PowerCutFiles(seed: UInt64(round) &* 31 &+ 5)
            let cutAt = 1 + next(total + 1)
            if only >= 0, round != only { continue }  // EDGECORE_JOURNAL_ROUND: replay one round
            folder.cutAt = cutAt
            var state = workload.seed
            let confirmed = Self.run(workload, on: folder, random: &state)
            if let failure = Self.check(folder, confirmed, settings: settings) {
                failures.append("round \(round) (cut at \(cutAt) of \(total)): \(failure)")
            }
        }
        print("journal power cuts, random: \(cuts) cuts, \(failures.count) failures")
        #expect(failures.isEmpty, "\(failures.prefix(5))")
    }
}

/// A count from the environment (tests that run longer on demand).
enum ProcessInfoCount {
    static func value(_ name: String, default fallback: Int) -> Int {
        guard let text = getenv(name), let value = Int(String(cString: text)), value > 0 else { return fallback }
        return value
    }
}
