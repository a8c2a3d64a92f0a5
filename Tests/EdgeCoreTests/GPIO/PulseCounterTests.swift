import Testing

@testable import EdgeCore

private func edge(_ microseconds: Int64, _ rising: Bool, seqno: UInt32? = nil) -> GPIOEdge {
    GPIOEdge(timestampNs: microseconds * 1000, rising: rising, lineSeqno: seqno)
}

@Suite struct PulseCounterTests {
    @Test func withoutDebounceEveryMatchingEdgeCounts() {
        var rising = PulseCounter(edge: .rising, debounceNs: 0, level: false)
        var both = PulseCounter(edge: .both, debounceNs: 0, level: false)
        for index in 0..<10 {
            rising.observe(edge(Int64(index) * 100, index % 2 == 0))
            both.observe(edge(Int64(index) * 100, index % 2 == 0))
        }
        #expect(rising.count == 5)
        #expect(both.count == 10)
        #expect(rising.lastEdgeNs == 800_000)
    }

    @Test func aGlitchShorterThanTheDebounceCountsNothing() {
        var counter = PulseCounter(edge: .rising, debounceNs: 10_000_000, level: false)  // 10 ms
        counter.observe(edge(0, true))
        counter.observe(edge(50, false))  // back down after 50 us: bounce
        #expect(counter.settlesAt == nil)
        counter.settle(now: 100_000_000)
        #expect(counter.count == 0)
        #expect(counter.rejected == 1)
    }

    @Test func aLevelThatHoldsCountsOnceWhetherConfirmedByTimeOrByTheNextEdge() {
        var counter = PulseCounter(edge: .rising, debounceNs: 10_000_000, level: false)
        counter.observe(edge(0, true))
        #expect(counter.settlesAt == 10_000_000)
        counter.settle(now: 9_999_999)
        #expect(counter.count == 0)
        counter.settle(now: 10_000_000)  // held 10 ms: counted
        #expect(counter.count == 1)
        counter.observe(edge(40_000, false))
        counter.observe(edge(80_000, true))  // confirms the falling edge (held 40 ms): not counted, level low
        counter.observe(edge(120_000, false))  // confirms the rising one: counted
        #expect(counter.count == 2)
        #expect(counter.rejected == 0)
    }

    @Test func bounceOnBothEdgesOfARealPulseStillCountsItOnce() {
        var counter = PulseCounter(edge: .rising, debounceNs: 5_000_000, level: false)
        for (time, rising) in [(0, true), (100, false), (200, true)] as [(Int64, Bool)] { counter.observe(edge(time, rising)) }
        counter.settle(now: 6_000_000)  // high since 200 us
        for (time, rising) in [(30_000, false), (30_100, true), (30_200, false)] as [(Int64, Bool)] { counter.observe(edge(time, rising)) }
        counter.settle(now: 40_000_000)
        #expect(counter.count == 1)
        #expect(counter.rejected == 1)
    }

    @Test func sequenceJumpsAreLostEvents() {
        var counter = PulseCounter(edge: .both, debounceNs: 0, level: false)
        counter.observe(edge(0, true, seqno: 1))
        counter.observe(edge(10, false, seqno: 2))
        let lostAfterTwo = counter.takeLostFlag()
        #expect(!lostAfterTwo)
        counter.observe(edge(20, true, seqno: 6))  // 3, 4, 5 never arrived
        #expect(counter.lost == 3)
        let lostFlag = counter.takeLostFlag(), lostAgain = counter.takeLostFlag()
        #expect(lostFlag && !lostAgain)
        #expect(counter.count == 3)
    }

    @Test func losingTheFirstEventsShowsWhenTheKernelNumbersFromOne() {
        var counter = PulseCounter(edge: .both, debounceNs: 0, level: false, sequenced: true)
        counter.observe(edge(0, true, seqno: 385))  // a full queue kept only the newest events
        #expect(counter.lost == 384)
        #expect(counter.count == 1)
    }

    @Test func sequenceNumbersWrapWithoutFalseLoss() {
        var counter = PulseCounter(edge: .both, debounceNs: 0, level: false)
        counter.observe(edge(0, true, seqno: UInt32.max))
        counter.observe(edge(10, false, seqno: 0))
        #expect(counter.lost == 0)
        #expect(counter.count == 2)
    }
}
