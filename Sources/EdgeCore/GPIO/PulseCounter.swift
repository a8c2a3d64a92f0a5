/// Counts the edges of one line from the kernel's events, with debounce and lost-event accounting.
///
/// Debounce, the same on every libgpiod generation (the kernel's own works in jiffies, so it is never asked
/// for): an edge becomes a level change only when the level after it holds for `debounceNs` by the kernel's
/// timestamps: either the next edge comes that much later, or that much time passes (`settle`). A pulse shorter than that is bounce: both of its edges are dropped, the first
/// counted in `rejected` when it would have counted. The edge is counted only if the confirmed level
/// really changed, so a glitch that returns to the old level counts nothing.
/// Lost events (libgpiod 2.x): a jump in the kernel's per-line sequence number.
struct PulseCounter {
    let edge: GPIOEdgeKind
    let debounceNs: Int64
    private(set) var count: UInt64 = 0
    private(set) var rejected: UInt64 = 0
    private(set) var lost: UInt64 = 0
    private(set) var lastEdgeNs: Int64 = 0
    /// Lost events since the last `takeLostFlag()`.
    private var lostSinceLook = false
    private var lastSeqno: UInt32? = nil
    private var level: Bool
    private var pending: GPIOEdge? = nil

    /// `level`: the line's logical level when counting starts; `count`: where counting resumes (a checkpoint);
    /// `sequenced`: the kernel numbers this request's events from 1 (libgpiod 2.x), so that even losing the
    /// first ones shows (a full kernel queue drops its oldest events).
    init(edge: GPIOEdgeKind, debounceNs: Int64, level: Bool, count: UInt64 = 0, sequenced: Bool = false) {
        self.edge = edge
        self.debounceNs = debounceNs
        self.level = level
        self.count = count
        self.lastSeqno = sequenced ? 0 : nil
    }

    /// When a pending edge will be confirmed (monotonic ns), if one waits.
    var settlesAt: Int64? { pending.map { $0.timestampNs + debounceNs } }

    mutating func observe(_ event: GPIOEdge) {
        if let sequence = event.lineSeqno {
            if let last = lastSeqno, sequence &- last > 1 {
                lost &+= UInt64(sequence &- last &- 1)
                lostSinceLook = true
            }
            lastSeqno = sequence
        }
        guard debounceNs > 0 else {
            level = event.rising
            record(event)
            return
        }
        if let waiting = pending {
            if event.timestampNs - waiting.timestampNs >= debounceNs {
                confirm(waiting)
            } else {
                // Bounce: the level after `waiting` did not hold; `event` undoes it.
                if waiting.rising != level, edge.counts(rising: waiting.rising) { rejected &+= 1 }
                pending = nil
                return
            }
        }
        pending = event
    }

    /// Confirms a pending edge whose level has held long enough by `now` (monotonic ns).
    mutating func settle(now: Int64) {
        if let waiting = pending, now - waiting.timestampNs >= debounceNs { confirm(waiting) }
    }

    /// Whether events were lost since the last call.
    mutating func takeLostFlag() -> Bool {
        defer { lostSinceLook = false }
        return lostSinceLook
    }

    private mutating func confirm(_ event: GPIOEdge) {
        pending = nil
        guard event.rising != level else { return }
        level = event.rising
        record(event)
    }

    private mutating func record(_ event: GPIOEdge) {
        guard edge.counts(rising: event.rising) else { return }
        count &+= 1
        lastEdgeNs = event.timestampNs
    }
}
