import CShim

/// Whether a device is answering, and when a backed-off device is probed next. Bus worker only.
struct DeviceHealth {
    private(set) var consecutiveFailures: UInt32 = 0
    private(set) var offline = false
    private(set) var backoffMs: UInt32 = 0
    /// Monotonic ns at which an offline device may be probed.
    private(set) var probeAt: Int64 = 0

    /// enum edgecore_device_state, as edgecore_device_stats.state holds it.
    var state: UInt16 {
        let state = offline ? EDGECORE_DEVICE_OFFLINE : consecutiveFailures > 0 ? EDGECORE_DEVICE_FAILING : EDGECORE_DEVICE_ONLINE
        return UInt16(state.rawValue)
    }

    /// The device answered (a Modbus exception counts: the device is there).
    mutating func answered() {
        consecutiveFailures = 0
        offline = false
        backoffMs = 0
    }

    /// A poll failed after its retries.
    mutating func failed(at now: Int64, device: DeviceSpec) {
        consecutiveFailures &+= 1
        if offline {
            backoffMs = min(backoffMs > device.backoffMaxMs / 2 ? device.backoffMaxMs : backoffMs * 2,
                            device.backoffMaxMs)
        } else if consecutiveFailures >= device.offlineAfter {
            offline = true
            backoffMs = device.backoffMinMs
        } else {
            return
        }
        probeAt = now + Int64(backoffMs) * 1_000_000
    }
}
