import CShim

/// Whether a device is answering, and when a backed-off device is probed next. Bus worker only.
struct DeviceHealth {
    private(set) var consecutiveFailures: UInt32 = 0
    private(set) var offline = false
    private let offlineAfter: UInt32
    /// Between probes of an offline device: backoff_min_ms doubling up to backoff_max_ms.
    private var backOff: BackOff
    /// Monotonic ns at which an offline device may be probed.
    private(set) var probeAt: Int64 = 0

    init(_ device: DeviceSpec) {
        offlineAfter = device.offlineAfter
        backOff = BackOff(minMs: device.backoffMinMs, maxMs: device.backoffMaxMs)
    }

    /// enum edgecore_device_state, as edgecore_device_stats.state holds it.
    var state: UInt16 {
        let state = offline ? EDGECORE_DEVICE_OFFLINE : consecutiveFailures > 0 ? EDGECORE_DEVICE_FAILING : EDGECORE_DEVICE_ONLINE
        return UInt16(state.rawValue)
    }

    /// The device answered (a Modbus exception counts: the device is there).
    mutating func answered() {
        consecutiveFailures = 0
        offline = false
        backOff.succeeded()
    }

    /// A poll failed after its retries.
    mutating func failed(at now: Int64) {
        consecutiveFailures &+= 1
        if !offline {
            guard consecutiveFailures >= offlineAfter else { return }
            offline = true
        }
        probeAt = backOff.failed(at: now)
    }
}
