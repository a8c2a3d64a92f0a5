import CShim
import Foundation
import Testing

@testable import EdgeCore

private func reading(lane: UInt32, sequence: UInt32) -> Reading {
    Reading(timestamp_ns: Int64(sequence) * 1_000, value: Double(sequence) + 0.25, channel: lane,
            sequence: sequence, status: UInt16(EDGECORE_STATUS_OK.rawValue), status_detail: 0, reserved: 0)
}

private func publish(_ ring: Ring, lane: Int = 0, _ sequences: Range<UInt32>) -> Int {
    let batch = sequences.map { reading(lane: UInt32(lane), sequence: $0) }
    return batch.withUnsafeBufferPointer { buffer in
        guard let base = buffer.baseAddress else { return 0 }
        return ring.publish(lane: lane, base, count: buffer.count)
    }
}

private func drain(_ ring: Ring, max: Int) -> [Reading] {
    var out = [Reading](repeating: reading(lane: 0, sequence: 0), count: max)
    let count = out.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress else { return 0 }
        return ring.drain(into: base, max: max)
    }
    return Array(out.prefix(count))
}

@Suite struct RingCreationTests {
    @Test(arguments: [0, 1, 3, 12, 1 << 24 + 1, 1 << 25, UInt32.max] as [UInt32])
    func rejectsCapacitiesThatAreNotPowersOfTwoInRange(capacity: UInt32) {
        #expect(throws: Failure(.invalidCapacity)) {
            try Ring.make(capacity: capacity, lanes: 1, policy: EDGECORE_OVERFLOW_DROP_OLDEST)
        }
    }

    @Test(arguments: [2, 4, 1024, 1 << 24] as [UInt32])
    func acceptsPowersOfTwoInRange(capacity: UInt32) throws {
        let ring = try Ring.make(capacity: capacity, lanes: 2, policy: EDGECORE_OVERFLOW_REJECT_NEWEST)
        #expect(ring.capacity == capacity)
        #expect(ring.laneCount == 2)
        #expect(ring.policy == .rejectNewest)
        #expect(ring.stats(lane: nil) == RingStats(capacity: capacity, lanes: 2))
    }

    @Test(arguments: [0, 65, UInt32.max] as [UInt32])
    func rejectsLaneCountsOutOfRange(lanes: UInt32) {
        #expect(throws: Failure(.invalidLaneCount)) {
            try Ring.make(capacity: 8, lanes: lanes, policy: EDGECORE_OVERFLOW_DROP_OLDEST)
        }
    }

    @Test func rejectsUnknownPolicies() {
        #expect(throws: Failure(.invalidPolicy)) {
            try Ring.make(capacity: 8, lanes: 1, policy: edgecore_overflow_policy(rawValue: 2))
        }
    }
}

@Suite struct RingBehaviourTests {
    @Test func keepsOrderAcrossManyWrapArounds() throws {
        let ring = try Ring.make(capacity: 4, lanes: 1, policy: EDGECORE_OVERFLOW_REJECT_NEWEST)
        var next: UInt32 = 0
        for round in 0..<100 {
            let size = UInt32(1 + round % 4)
            #expect(publish(ring, next..<(next + size)) == Int(size))
            let out = drain(ring, max: 8)
            #expect(out.map(\.sequence) == Array(next..<(next + size)))
            #expect(out.allSatisfy { $0.value == Double($0.sequence) + 0.25 })
            next += size
        }
        #expect(ring.stats(lane: nil).published == UInt64(next))
        #expect(ring.stats(lane: nil).drained == UInt64(next))
    }

    @Test func rejectNewestKeepsTheOldestAndCountsTheRest() throws {
        let ring = try Ring.make(capacity: 8, lanes: 1, policy: EDGECORE_OVERFLOW_REJECT_NEWEST)
        #expect(publish(ring, 0..<5) == 5)
        #expect(publish(ring, 5..<12) == 3)
        let stats = ring.stats(lane: 0)
        #expect(stats.published == 8)
        #expect(stats.rejected == 4)
        #expect(stats.available == 8)
        #expect(drain(ring, max: 20).map(\.sequence) == Array(0..<8))
    }

    @Test func dropOldestKeepsTheNewestAndCountsWhatWasOverwritten() throws {
        let ring = try Ring.make(capacity: 8, lanes: 1, policy: EDGECORE_OVERFLOW_DROP_OLDEST)
        #expect(publish(ring, 0..<5) == 5)
        #expect(publish(ring, 5..<12) == 7)
        #expect(ring.stats(lane: nil).dropped == 4)
        #expect(drain(ring, max: 20).map(\.sequence) == Array(4..<12))
        #expect(publish(ring, 100..<120) == 20) // larger than the lane: only the last 8 survive
        let stats = ring.stats(lane: nil)
        #expect(stats.dropped == 4 + 12)
        #expect(drain(ring, max: 20).map(\.sequence) == Array(112..<120))
        #expect(stats.published == 32)
    }

    @Test func drainVisitsLanesRoundRobin() throws {
        let ring = try Ring.make(capacity: 16, lanes: 3, policy: EDGECORE_OVERFLOW_DROP_OLDEST)
        for lane in 0..<3 { #expect(publish(ring, lane: lane, 0..<6) == 6) }
        #expect(drain(ring, max: 4).map(\.channel) == [0, 0, 0, 0])
        #expect(drain(ring, max: 4).map(\.channel) == [1, 1, 1, 1])
        #expect(drain(ring, max: 4).map(\.channel) == [2, 2, 2, 2])
        #expect(drain(ring, max: 10).map(\.channel) == [0, 0, 1, 1, 2, 2])
        #expect(ring.available() == 0)
    }

    @Test func waitReturnsAtOnceWhenReadingsAreThereAndTimesOutOtherwise() throws {
        let ring = try Ring.make(capacity: 8, lanes: 1, policy: EDGECORE_OVERFLOW_DROP_OLDEST)
        #expect(throws: Failure(.timeout)) { try ring.wait(timeoutMilliseconds: 0) }
        let start = ContinuousClock.now
        #expect(throws: Failure(.timeout)) { try ring.wait(timeoutMilliseconds: 30) }
        #expect(ContinuousClock.now - start >= .milliseconds(30))
        _ = publish(ring, 0..<2)
        #expect(try ring.wait(timeoutMilliseconds: -1) == 2)
    }

    @Test func waitIsWokenByAPublishOnAnotherThread() throws {
        let ring = try Ring.make(capacity: 8, lanes: 2, policy: EDGECORE_OVERFLOW_DROP_OLDEST)
        let producer = Thread {
            Thread.sleep(forTimeInterval: 0.05)
            _ = publish(ring, lane: 1, 7..<8)
        }
        producer.start()
        let start = ContinuousClock.now
        #expect(try ring.wait(timeoutMilliseconds: 20_000) == 1)
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(drain(ring, max: 4).map(\.sequence) == [7])
    }

    @Test func concurrentProducersLoseNothingAndKeepTheirOrder() throws {
        let lanes = 3, perLane: UInt32 = 200_000
        let ring = try Ring.make(capacity: 256, lanes: UInt32(lanes), policy: EDGECORE_OVERFLOW_REJECT_NEWEST)
        let finished = DispatchGroup()
        for lane in 0..<lanes {
            finished.enter()
            Thread {
                var next: UInt32 = 0
                while next < perLane {
                    let end = min(next + 32, perLane)
                    next += UInt32(publish(ring, lane: lane, next..<end))
                }
                finished.leave()
            }.start()
        }
        var expected = [UInt32](repeating: 0, count: lanes)
        var total = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while total < lanes * Int(perLane), ContinuousClock.now < deadline {
            for reading in drain(ring, max: 256) {
                #expect(reading.sequence == expected[Int(reading.channel)])
                expected[Int(reading.channel)] += 1
                total += 1
            }
        }
        finished.wait()
        #expect(expected == [UInt32](repeating: perLane, count: lanes))
        let stats = ring.stats(lane: nil)
        #expect(stats.published == UInt64(lanes) * UInt64(perLane))
        #expect(stats.drained == stats.published)
        #expect(stats.dropped == 0)
    }
}
