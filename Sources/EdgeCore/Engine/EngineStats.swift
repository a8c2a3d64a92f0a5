import CShim

/// Counters of every device and bus (edgecore_device_stats / edgecore_bus_stats), written by the bus
/// workers and read by any thread. One lock for both, so that a transaction's bookkeeping is one short
/// critical section.
///
/// The last error of a device or bus is kept as a Failure.Kind beside its counters (the structs'
/// `last_error` stays as the workers leave it); Contract/ turns it into the C result code when it copies
/// the statistics out.
final class EngineStats: @unchecked Sendable {
    private let lock = Lock()
    private var devices: [edgecore_device_stats] = []
    private var buses: [edgecore_bus_stats] = []
    private var deviceErrors: [Failure.Kind?] = []
    /// The reason of each device's last failure, in words (edgecore_engine_device_last_problem).
    private var deviceProblems: [String] = []
    private var busErrors: [Failure.Kind?] = []
    /// By channel id; meaningful for pulse counter channels.
    private var pulses: [edgecore_pulse_stats] = []

    /// Makes room for devices, buses and channels added to the configuration.
    func ensure(devices deviceCount: Int, buses busCount: Int, channels channelCount: Int) {
        lock.withLock {
            while devices.count < deviceCount {
                devices.append(edgecore_device_stats())
                deviceErrors.append(nil)
                deviceProblems.append("")
            }
            while buses.count < busCount {
                buses.append(edgecore_bus_stats())
                busErrors.append(nil)
            }
            while pulses.count < channelCount { pulses.append(edgecore_pulse_stats()) }
        }
    }

    func pulse(_ channel: Int) -> edgecore_pulse_stats? {
        lock.withLock { channel >= 0 && channel < pulses.count ? pulses[channel] : nil }
    }

    func setPulse(_ channel: Int, _ stats: edgecore_pulse_stats) {
        lock.withLock { if channel >= 0 && channel < pulses.count { pulses[channel] = stats } }
    }

    /// A device's counters and its last error (nil: none).
    func device(_ index: Int) -> (counters: edgecore_device_stats, lastError: Failure.Kind?)? {
        lock.withLock { index >= 0 && index < devices.count ? (devices[index], deviceErrors[index]) : nil }
    }

    /// The reason of a device's last failure ("" before the first); nil for no such device.
    func deviceProblem(_ index: Int) -> String? {
        lock.withLock { index >= 0 && index < deviceProblems.count ? deviceProblems[index] : nil }
    }

    /// A bus's counters and its last error (nil: none).
    func bus(_ index: Int) -> (counters: edgecore_bus_stats, lastError: Failure.Kind?)? {
        lock.withLock { index >= 0 && index < buses.count ? (buses[index], busErrors[index]) : nil }
    }

    func updateDevice(_ index: Int, _ body: (inout edgecore_device_stats) -> Void) {
        lock.withLock {
            guard index >= 0, index < devices.count else { return }
            body(&devices[index])
        }
    }

    func updateBus(_ index: Int, _ body: (inout edgecore_bus_stats) -> Void) {
        lock.withLock {
            guard index >= 0, index < buses.count else { return }
            body(&buses[index])
        }
    }

    /// Records a bus's last error (a failed open, a lost connection, a GPIO line's failure). Apart from
    /// updateBus, whose closures the optimizer copies per call site, so that they stay small.
    func recordBusError(_ index: Int, _ kind: Failure.Kind) {
        lock.withLock {
            guard index >= 0, index < busErrors.count else { return }
            busErrors[index] = kind
        }
    }

    /// A device's last problem in words without a transaction (its bus could not be opened); its counters
    /// and last_error stay those of its transactions.
    func recordDeviceProblem(_ index: Int, _ message: String) {
        lock.withLock {
            guard index >= 0, index < deviceProblems.count else { return }
            deviceProblems[index] = message
        }
    }

    /// A transaction's counters of its device and its bus together, and the device's error if it failed.
    func update(device: Int, bus: Int, deviceError: Failure?,
                _ body: (inout edgecore_device_stats, inout edgecore_bus_stats) -> Void) {
        lock.withLock {
            guard device >= 0, device < devices.count, bus >= 0, bus < buses.count else { return }
            body(&devices[device], &buses[bus])
            if let deviceError {
                deviceErrors[device] = deviceError.kind
                deviceProblems[device] = deviceError.message
            }
        }
    }
}

extension edgecore_device_stats {
    /// Records a good answer's round trip.
    mutating func recordLatency(microseconds: UInt64) {
        latency_total_us &+= microseconds
        let clamped = UInt32(clamping: microseconds)
        if clamped > latency_max_us { latency_max_us = clamped }
        let bucket: Int
        switch microseconds {
        case ..<1_000: bucket = 0
        case ..<2_000: bucket = 1
        case ..<5_000: bucket = 2
        case ..<10_000: bucket = 3
        case ..<20_000: bucket = 4
        case ..<50_000: bucket = 5
        case ..<100_000: bucket = 6
        default: bucket = 7
        }
        withUnsafeMutableBytes(of: &latency_histogram) { raw in
            raw.bindMemory(to: UInt32.self)[bucket] &+= 1
        }
    }
}

extension edgecore_bus_stats {
    mutating func change(to state: edgecore_bus_state, at nanoseconds: Int64 = Clock.realtimeNanoseconds()) {
        guard self.state != UInt16(state.rawValue) else { return }
        self.state = UInt16(state.rawValue)
        last_change_ns = nanoseconds
    }
}
