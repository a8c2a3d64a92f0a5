import CShim

// The ring's C functions: argument checks and marshalling only; Buffer/Ring.swift does the work.

@c @implementation
public func edgecore_ring_create(_ capacity: UInt32, _ lanes: UInt32, _ policy: edgecore_overflow_policy,
                                 _ ringOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let ringOut else { return EDGECORE_E_NULL_POINTER }
    ringOut.pointee = nil
    do {
        let ring = try Ring.make(capacity: capacity, lanes: lanes, policy: policy)
        ringOut.pointee = OpaquePointer(Unmanaged.passRetained(ring).toOpaque())
        return EDGECORE_OK
    } catch {
        return resultCode(error.kind)
    }
}

@c @implementation
public func edgecore_ring_destroy(_ ring: OpaquePointer?) {
    guard let ring else { return }
    Unmanaged<Ring>.fromOpaque(UnsafeRawPointer(ring)).release()
}

@c @implementation
public func edgecore_ring_publish(_ ring: OpaquePointer?, _ lane: UInt32,
                                  _ readings: UnsafePointer<edgecore_reading>?, _ count: Int) -> Int32 {
    guard let ring else { return EDGECORE_E_NULL_POINTER }
    return withRing(ring) { ring in
        guard lane < ring.laneCount else { return EDGECORE_E_INVALID_LANE }
        // size_t arrives as Int: on 32-bit targets a count above Int.max shows up negative.
        guard count >= 0, count <= Int(Int32.max) else { return EDGECORE_E_INVALID_ARGUMENT }
        if count == 0 { return 0 }
        guard let readings else { return EDGECORE_E_NULL_POINTER }
        return Int32(ring.publish(lane: Int(lane), readings, count: count))
    }
}

@c @implementation
public func edgecore_ring_drain(_ ring: OpaquePointer?, _ out: UnsafeMutablePointer<edgecore_reading>?,
                                _ max: Int) -> Int32 {
    guard let ring else { return EDGECORE_E_NULL_POINTER }
    let limit = max < 0 || max > Int(Int32.max) ? Int(Int32.max) : max
    if limit == 0 { return 0 }
    guard let out else { return EDGECORE_E_NULL_POINTER }
    return withRing(ring) { ring in Int32(ring.drain(into: out, max: limit)) }
}

@c @implementation
public func edgecore_ring_wait(_ ring: OpaquePointer?, _ timeoutMs: Int32) -> Int32 {
    guard let ring else { return EDGECORE_E_NULL_POINTER }
    return withRing(ring) { ring in
        do throws(Failure) {
            return Int32(clamping: try ring.wait(timeoutMilliseconds: timeoutMs))
        } catch {
            return resultCode(error.kind)
        }
    }
}

@c @implementation
public func edgecore_ring_stats_sized(_ ring: OpaquePointer?, _ statsOut: UnsafeMutablePointer<edgecore_ring_stats>?,
                                      _ size: Int) -> Int32 {
    guard let ring, let statsOut else { return EDGECORE_E_NULL_POINTER }
    return storeStats(edgecore_ring_stats(withRing(ring) { ring in ring.stats(lane: nil) }), into: statsOut, size: size)
}

@c @implementation
public func edgecore_ring_lane_stats_sized(_ ring: OpaquePointer?, _ lane: UInt32,
                                           _ statsOut: UnsafeMutablePointer<edgecore_ring_stats>?, _ size: Int) -> Int32 {
    guard let ring, let statsOut else { return EDGECORE_E_NULL_POINTER }
    return withRing(ring) { ring in
        guard lane < ring.laneCount else { return EDGECORE_E_INVALID_LANE }
        return storeStats(edgecore_ring_stats(ring.stats(lane: Int(lane))), into: statsOut, size: size)
    }
}

/// Runs `body` with the ring behind a handle, neither retaining nor releasing it: the caller's handle
/// keeps it alive (edgecore_ring_destroy may not run concurrently), and a retain/release pair per call
/// would make producer and consumer threads fight over the object's reference count.
@inline(__always)
private func withRing<Result>(_ handle: OpaquePointer, _ body: (Ring) -> Result) -> Result {
    Unmanaged<Ring>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef(body)
}

extension edgecore_ring_stats {
    init(_ stats: RingStats) {
        self.init()  // every field set below; a field a later version adds stays 0
        published = stats.published
        drained = stats.drained
        dropped = stats.dropped
        rejected = stats.rejected
        available = stats.available
        capacity = stats.capacity
        lanes = stats.lanes
    }
}
