import CShim

typealias Reading = edgecore_reading

/// What a full lane does with a new batch (enum edgecore_overflow_policy).
enum OverflowPolicy: Equatable {
    case dropOldest
    case rejectNewest

    init(_ policy: edgecore_overflow_policy) throws(Failure) {
        switch policy {
        case EDGECORE_OVERFLOW_DROP_OLDEST: self = .dropOldest
        case EDGECORE_OVERFLOW_REJECT_NEWEST: self = .rejectNewest
        default: throw Failure(.invalidPolicy)
        }
    }
}

/// Counters of a ring or a lane (struct edgecore_ring_stats without its C layout).
struct RingStats: Equatable {
    var published: UInt64 = 0
    var drained: UInt64 = 0
    var dropped: UInt64 = 0
    var rejected: UInt64 = 0
    var available: UInt64 = 0
    var capacity: UInt32 = 0
    var lanes: UInt32 = 0
}

/// The ring every reading passes through: `lanes` single-producer/single-consumer lanes of `capacity`
/// readings, merged by the one consumer on drain.
///
/// Indices `head` (next slot to write) and `tail` (next slot to read) only grow; a slot is `index & mask`.
/// - The producer copies a batch into slots, then publishes it with one release store of `head`.
/// - The consumer copies out `[tail, tail+k)` after an acquire load of `head`, then moves `tail`.
/// - Reject-newest: only the consumer writes `tail` (a release store), so the producer never overwrites.
/// - Drop-oldest: the producer makes room by moving `tail` forward with a compare-exchange, counting each
///   index it skips as dropped, and only then writes the slots it freed. The consumer also moves `tail` by
///   compare-exchange, after copying: if that fails, the producer moved `tail` meanwhile and may have
///   overwritten what was copied, so the copy is discarded and retried from the new `tail`. `tail` never
///   repeats a value, so a successful exchange proves the copied slots were intact. Every index thus ends
///   either drained or dropped, exactly once, which is what makes the counters exact.
///
/// Memory is raw and cache-line aligned: per lane one line for `head`, one for `tail`, one for the
/// producer's own state and counters, one for the consumer's; after the lanes, one line for the
/// consumer wake-up words and one for the consumer's round-robin position. Counters have one writer
/// each and are read with relaxed loads by `stats`.
///
/// `@unchecked Sendable`: all shared state is raw memory accessed through the atomics above, under the
/// thread rules of edgecore.h (one producer per lane, one consumer); the stored properties are constants.
final class Ring: @unchecked Sendable {
    let capacity: UInt32
    let laneCount: UInt32
    let policy: OverflowPolicy
    private let mask: UInt64
    private let control: UnsafeMutableRawPointer
    private let slots: UnsafeMutablePointer<Reading>

    private static let laneStride = 4 * AlignedMemory.cacheLine

    static func make(capacity: UInt32, lanes: UInt32,
                     policy rawPolicy: edgecore_overflow_policy) throws(Failure) -> Ring {
        guard capacity >= EDGECORE_RING_CAPACITY_MIN, capacity <= EDGECORE_RING_CAPACITY_MAX,
              capacity & (capacity - 1) == 0 else { throw Failure(.invalidCapacity) }
        guard lanes >= 1, lanes <= EDGECORE_RING_LANES_MAX else { throw Failure(.invalidLaneCount) }
        let policy = try OverflowPolicy(rawPolicy)
        // 32-bit targets: capacity * lanes * 32 can exceed Int.max; that is an allocation we cannot make.
        let (slotCount, overflow1) = Int(capacity).multipliedReportingOverflow(by: Int(lanes))
        let (slotBytes, overflow2) = slotCount.multipliedReportingOverflow(by: MemoryLayout<Reading>.stride)
        guard !overflow1, !overflow2 else { throw Failure.outOfMemory }
        let controlBytes = Int(lanes) * laneStride + 2 * AlignedMemory.cacheLine
        let control = try AlignedMemory.allocate(byteCount: controlBytes, zeroed: true)
        let slotMemory: UnsafeMutableRawPointer
        do throws(Failure) {
            slotMemory = try AlignedMemory.allocate(byteCount: slotBytes, zeroed: false)
        } catch {
            AlignedMemory.free(control)
            throw error
        }
        return Ring(capacity: capacity, lanes: lanes, policy: policy, control: control,
                    slots: slotMemory.bindMemory(to: Reading.self, capacity: slotCount))
    }

    private init(capacity: UInt32, lanes: UInt32, policy: OverflowPolicy, control: UnsafeMutableRawPointer,
                 slots: UnsafeMutablePointer<Reading>) {
        self.capacity = capacity
        self.laneCount = lanes
        self.policy = policy
        self.mask = UInt64(capacity) - 1
        self.control = control
        self.slots = slots
    }

    deinit {
        AlignedMemory.free(control)
        AlignedMemory.free(UnsafeMutableRawPointer(slots))
    }

    // MARK: Producer

    /// Stores `count` readings in `lane` and publishes them at once. Returns how many were stored (fewer
    /// than `count` only with reject-newest). One thread per lane at a time; `lane` must be valid.
    func publish(lane: Int, _ readings: UnsafePointer<Reading>, count: Int) -> Int {
        let state = laneState(lane)
        let head = state.head.loadRelaxed()
        let capacity = UInt64(self.capacity)
        var stored: UInt64
        switch policy {
        case .rejectNewest:
            var free = capacity &- (head &- state.cachedTail.loadRelaxed())
            if free < UInt64(count) {
                state.cachedTail.storeRelaxed(state.tail.loadAcquire())
                free = capacity &- (head &- state.cachedTail.loadRelaxed())
            }
            stored = min(UInt64(count), free)
            copyIn(lane: lane, from: readings, count: Int(stored), at: head)
            publishHead(state, head &+ stored)
            add(UInt64(count) &- stored, to: state.rejected)
        case .dropOldest:
            // Only the newest `capacity` readings of an oversized batch can be kept.
            stored = min(UInt64(count), capacity)
            let skipped = UInt64(count) &- stored
            var overwritten: UInt64 = 0
            if capacity &- (head &- state.cachedTail.loadRelaxed()) < stored {
                while true {
                    let tail = state.tail.loadAcquire()
                    let free = capacity &- (head &- tail)
                    if free >= stored { state.cachedTail.storeRelaxed(tail); break }
                    let newTail = tail &+ (stored &- free)
                    if state.tail.compareExchange(expected: tail, desired: newTail) {
                        overwritten = stored &- free
                        state.cachedTail.storeRelaxed(newTail)
                        break
                    }
                }
            }
            copyIn(lane: lane, from: readings + Int(skipped), count: Int(stored), at: head)
            publishHead(state, head &+ stored)
            stored = UInt64(count)
            add(skipped &+ overwritten, to: state.dropped)
        }
        add(stored, to: state.published)
        wakeConsumerIfWaiting()
        return Int(stored)
    }

    /// Makes a batch visible. Sequentially consistent rather than just release: together with the
    /// sequentially consistent load of `waiters` in `wakeConsumerIfWaiting` it is the producer's half of
    /// the no-lost-wake-up handshake described at `wait` (cheaper than a release store plus a full fence).
    @inline(__always) private func publishHead(_ state: LaneState, _ head: UInt64) {
        state.head.storeSequentiallyConsistent(head)
    }

    private func copyIn(lane: Int, from source: UnsafePointer<Reading>, count: Int, at index: UInt64) {
        guard count > 0 else { return }
        let base = slots + lane * Int(capacity)
        let start = Int(truncatingIfNeeded: index & mask)
        let first = min(count, Int(capacity) - start)
        copyReadings(to: base + start, from: source, count: first)
        if first < count { copyReadings(to: base, from: source + first, count: count - first) }
    }

    /// Readings are plain C structs: one memcpy per run, not a field-by-field copy per reading (which is
    /// what a typed `update(from:count:)` becomes under -Osize).
    @inline(__always)
    private func copyReadings(to destination: UnsafeMutablePointer<Reading>, from source: UnsafePointer<Reading>,
                              count: Int) {
        UnsafeMutableRawPointer(destination).copyMemory(from: source,
                                                        byteCount: count * MemoryLayout<Reading>.stride)
    }

    /// Copies `count` readings of `lane` from `index` on (they wrap around the lane's end) into `out`.
    private func copyOut(lane: Int, into out: UnsafeMutablePointer<Reading>, count: Int, at index: UInt64) {
        let base = slots + lane * Int(capacity)
        let start = Int(truncatingIfNeeded: index & mask)
        let first = Swift.min(count, Int(capacity) - start)
        copyReadings(to: out, from: base + start, count: first)
        if first < count { copyReadings(to: out + first, from: base, count: count - first) }
    }

    // MARK: Consumer

    /// Moves up to `max` readings into `out`, visiting lanes round-robin from one lane further on each
    /// call. Returns how many. One consumer thread at a time.
    func drain(into out: UnsafeMutablePointer<Reading>, max: Int) -> Int {
        let start = Int(truncatingIfNeeded: drainStart.loadRelaxed())
        drainStart.storeRelaxed(start + 1 == Int(laneCount) ? 0 : UInt64(start + 1))
        var total = 0
        var lane = start
        for _ in 0..<Int(laneCount) {
            if total >= max { break }
            total += drainLane(lane, into: out + total, max: max - total)
            lane = lane + 1 == Int(laneCount) ? 0 : lane + 1
        }
        return total
    }

    private func drainLane(_ lane: Int, into out: UnsafeMutablePointer<Reading>, max: Int) -> Int {
        let state = laneState(lane)
        while true {
            let tail = state.tail.loadAcquire()
            let head = state.head.loadAcquire()
            let count = Int(truncatingIfNeeded: Swift.min(head &- tail, UInt64(max)))
            if count <= 0 { return 0 }
            copyOut(lane: lane, into: out, count: count, at: tail)
            switch policy {
            case .rejectNewest:
                state.tail.storeRelease(tail &+ UInt64(count))
            case .dropOldest:
                // Failure: the producer dropped some of what we copied; copy again from the new tail.
                guard state.tail.compareExchange(expected: tail, desired: tail &+ UInt64(count)) else { continue }
            }
            add(UInt64(count), to: state.drained)
            return count
        }
    }

    /// Readings waiting now, over all lanes.
    func available() -> UInt64 {
        var total: UInt64 = 0
        for lane in 0..<Int(laneCount) { total &+= available(lane: lane) }
        return total
    }

    private func available(lane: Int) -> UInt64 {
        let state = laneState(lane)
        let tail = state.tail.loadAcquire()
        let head = state.head.loadAcquire()
        // With drop-oldest, tail may have moved on between the two loads; never report more than fits.
        return Swift.min(head &- tail, UInt64(capacity))
    }

    /// Blocks until readings are available or `timeoutMilliseconds` pass (< 0: no limit), sleeping on a
    /// futex. Returns how many are available. One consumer thread at a time.
    func wait(timeoutMilliseconds: Int32) throws(Failure) -> UInt64 {
        try wait(until: timeoutMilliseconds < 0
                 ? nil : Clock.monotonicNanoseconds() + Int64(timeoutMilliseconds) * 1_000_000)
    }

    /// Blocks until readings are available or `deadline` (monotonic ns; nil: none) passes; returns how
    /// many are available. With `watch`, also returns (0 when none are available) once `watch.word` no
    /// longer holds `watch.value`: it is checked before each sleep, and whoever changes it calls
    /// `interruptWaiters()` afterwards. One consumer thread at a time.
    ///
    /// No lost wake-up: the consumer announces itself in `waiters` (a sequentially consistent increment
    /// followed by a fence) and then re-checks the lanes; a producer stores `head` and then loads `waiters`,
    /// both sequentially consistent. All of these sit in one total order, so at least one side sees the
    /// other: the consumer finds the readings, or the producer finds the waiter and wakes it. The futex
    /// sleeps only while `wakeups` still holds the value read before announcing, so a wake-up between the
    /// check and the sleep is not missed either.
    func wait(until deadline: Int64?, watch: (word: AtomicWord32, value: UInt32)? = nil) throws(Failure) -> UInt64 {
        let ready = available()
        if ready > 0 { return ready }
        while true {
            let ticket = wakeups.loadAcquire()
            waiters.increment()
            sequentiallyConsistentFence()
            let ready = available()
            if ready > 0 || watch.map({ $0.word.loadSequentiallyConsistent() != $0.value }) ?? false {
                waiters.decrement()
                return ready
            }
            var remaining: Int64? = nil
            if let deadline {
                let left = deadline - Clock.monotonicNanoseconds()
                if left <= 0 {
                    waiters.decrement()
                    throw Failure(.timeout)
                }
                remaining = left
            }
            Futex.wait(on: wakeups, expected: ticket, timeoutNanoseconds: remaining)
            waiters.decrement()
        }
    }

    /// Wakes a consumer sleeping in `wait` so that it checks its watched word again. Any thread.
    func interruptWaiters() {
        wakeups.increment()
        Futex.wakeAll(on: wakeups)
    }

    private func wakeConsumerIfWaiting() {
        if waiters.loadSequentiallyConsistent() != 0 {
            wakeups.increment()
            Futex.wakeAll(on: wakeups)
        }
    }

    // MARK: Rebuilding

    /// Takes over what `old` holds: lane by lane, its stored readings (oldest first) and its counters, so
    /// that a ring rebuilt for more lanes loses no reading and its statistics continue. Only while no other
    /// thread uses either ring; this one must be new (empty), with the capacity of `old` and at least its
    /// lanes (the engine's rings: same capacity, lanes only grow).
    func takeOver(_ old: Ring) {
        guard old.capacity == capacity else { return }
        for lane in 0..<Int(Swift.min(laneCount, old.laneCount)) {
            let from = old.laneState(lane), to = laneState(lane)
            let tail = from.tail.loadAcquire()
            let count = from.head.loadAcquire() &- tail  // no producer: at most the capacity
            old.copyOut(lane: lane, into: slots + lane * Int(capacity), count: Int(truncatingIfNeeded: count), at: tail)
            to.head.storeRelease(count)
            to.published.storeRelaxed(from.published.loadRelaxed())
            to.drained.storeRelaxed(from.drained.loadRelaxed())
            to.dropped.storeRelaxed(from.dropped.loadRelaxed())
            to.rejected.storeRelaxed(from.rejected.loadRelaxed())
        }
    }

    // MARK: Statistics

    /// Counters of one lane (`lane` valid) or, for nil, of all lanes summed. Any thread.
    func stats(lane: Int?) -> RingStats {
        var stats = RingStats(capacity: capacity, lanes: lane == nil ? laneCount : 1)
        let lanes = lane.map { $0..<($0 + 1) } ?? 0..<Int(laneCount)
        for index in lanes {
            let state = laneState(index)
            stats.published &+= state.published.loadRelaxed()
            stats.drained &+= state.drained.loadRelaxed()
            stats.dropped &+= state.dropped.loadRelaxed()
            stats.rejected &+= state.rejected.loadRelaxed()
            stats.available &+= available(lane: index)
        }
        return stats
    }

    // MARK: Memory layout

    private struct LaneState {
        let head: AtomicWord64
        let tail: AtomicWord64
        // Producer's line.
        let cachedTail: AtomicWord64
        let published: AtomicWord64
        let dropped: AtomicWord64
        let rejected: AtomicWord64
        // Consumer's line.
        let drained: AtomicWord64
    }

    @inline(__always) private func laneState(_ lane: Int) -> LaneState {
        let base = control + lane * Ring.laneStride
        let line = AlignedMemory.cacheLine
        func word(_ offset: Int) -> AtomicWord64 {
            AtomicWord64(address: (base + offset).assumingMemoryBound(to: UInt64.self))
        }
        return LaneState(head: word(0), tail: word(line),
                         cachedTail: word(2 * line), published: word(2 * line + 8),
                         dropped: word(2 * line + 16), rejected: word(2 * line + 24),
                         drained: word(3 * line))
    }

    private var sharedLine: UnsafeMutableRawPointer { control + Int(laneCount) * Ring.laneStride }
    private var wakeups: AtomicWord32 { AtomicWord32(address: sharedLine.assumingMemoryBound(to: UInt32.self)) }
    private var waiters: AtomicWord32 {
        AtomicWord32(address: (sharedLine + 4).assumingMemoryBound(to: UInt32.self))
    }
    /// Consumer-only, on its own line so that draining does not disturb producers reading `waiters`.
    private var drainStart: AtomicWord64 {
        AtomicWord64(address: (sharedLine + AlignedMemory.cacheLine).assumingMemoryBound(to: UInt64.self))
    }

    /// Counters have a single writer, so a relaxed load and store is an exact increment.
    @inline(__always) private func add(_ amount: UInt64, to counter: AtomicWord64) {
        if amount != 0 { counter.storeRelaxed(counter.loadRelaxed() &+ amount) }
    }
}
