import CShim

@testable import EdgeCore

/// A clock that moves only when told (or when the scripted transport spends time on a transaction).
final class ManualClock: WorkerClock {
    var now: Int64 = 1_000_000_000_000
    var monotonicNanoseconds: Int64 { now }
    /// Realtime is monotonic time plus a fixed epoch offset, so timestamps are predictable.
    var realtimeNanoseconds: Int64 { now + 1_700_000_000_000_000_000 }
    func advance(milliseconds: Int64) { now += milliseconds * 1_000_000 }
}

/// A Modbus transport that plays a script, as swift-nio's embedded channel: each transaction takes the
/// next reply (or `otherwise` once the script is spent), each open the next open result; it records
/// every call with the manual clock's time.
final class ScriptedTransport: ModbusTransport {
    indirect enum Reply: Equatable {
        /// An answer: these registers (the rest of the requested count zero) or bits; for a write, done.
        case answer([UInt16])
        /// No answer: the clock advances by the response timeout.
        case timeout
        case frame
        case exception(UInt8)
        /// The connection breaks (errno).
        case disconnect(Int32)
        /// `reply` after `milliseconds` of the clock.
        case after(milliseconds: Int64, Reply)
    }

    enum Call: Equatable {
        case open
        case close
        case flush
        case read(ModbusFunction, address: UInt16, count: Int, unit: UInt8)
        case writeRegisters(address: UInt16, [UInt16], unit: UInt8)
        case writeCoils(address: UInt16, [UInt8], unit: UInt8)
    }

    let clock: ManualClock
    var replies: [Reply]
    var otherwise: Reply
    /// Results of successive opens (0 or an errno); 0 once spent.
    var opens: [Int32]
    private(set) var calls: [(call: Call, at: Int64)] = []
    private(set) var isOpen = false
    private var unit: UInt8 = 0
    private var timeoutMs: UInt32 = 0

    init(clock: ManualClock, replies: [Reply] = [], otherwise: Reply = .answer([]), opens: [Int32] = []) {
        self.clock = clock
        self.replies = replies
        self.otherwise = otherwise
        self.opens = opens
    }

    /// The calls made, without flushes and closes (what went on the wire, and the opens).
    var wire: [Call] { calls.map(\.call).filter { $0 != .flush && $0 != .close } }
    /// When each open was tried (monotonic ns).
    var openTimes: [Int64] { calls.filter { $0.call == .open }.map(\.at) }
    /// When each transaction was sent.
    var transactionTimes: [Int64] {
        calls.filter { $0.call.kind != .other }.map(\.at)
    }

    func open(stop: any StopRequest) throws(Failure) {
        calls.append((.open, clock.now))
        let result = opens.isEmpty ? 0 : opens.removeFirst()
        isOpen = result == 0
        if result != 0 { throw Failure.system(Errno(result), "connect") }
    }

    func close() {
        calls.append((.close, clock.now))
        isOpen = false
    }

    func needsReopen() -> Bool { false }
    func flush() { calls.append((.flush, clock.now)) }
    func setUnit(_ unit: UInt8) { self.unit = unit }
    func setResponseTimeout(milliseconds: UInt32) { timeoutMs = milliseconds }

    func readRegisters(_ function: ModbusFunction, address: UInt16, count: Int,
                       into registers: UnsafeMutablePointer<UInt16>) throws(Failure) {
        calls.append((.read(function, address: address, count: count, unit: unit), clock.now))
        let values = try play()
        for index in 0..<count { registers[index] = index < values.count ? values[index] : 0 }
    }

    func readBits(_ function: ModbusFunction, address: UInt16, count: Int,
                  into bits: UnsafeMutablePointer<UInt8>) throws(Failure) {
        calls.append((.read(function, address: address, count: count, unit: unit), clock.now))
        let values = try play()
        for index in 0..<count { bits[index] = index < values.count ? UInt8(truncatingIfNeeded: values[index]) : 0 }
    }

    func writeRegisters(address: UInt16, values: UnsafeBufferPointer<UInt16>) throws(Failure) {
        calls.append((.writeRegisters(address: address, Array(values), unit: unit), clock.now))
        _ = try play()
    }

    func writeCoils(address: UInt16, values: UnsafeBufferPointer<UInt8>) throws(Failure) {
        calls.append((.writeCoils(address: address, Array(values), unit: unit), clock.now))
        _ = try play()
    }

    // MARK: Raw bytes (meters)

    /// What each receive returns, in turn: bytes, or nil for nothing within the wait (the clock advances by
    /// it). Spent: nothing ever comes.
    var rawReplies: [[UInt8]?] = []
    /// How long each chunk of `rawReplies` takes to arrive (the clock advances by it).
    var rawChunkNanoseconds: Int64 = 0
    /// Every frame sent raw, in order.
    private(set) var sentRaw: [[UInt8]] = []

    func sendRaw(_ bytes: UnsafeBufferPointer<UInt8>) throws(Failure) {
        guard isOpen else { throw Failure(.disconnected(Errno(ENOTCONN))) }
        sentRaw.append(Array(bytes))
    }

    func receiveRaw(into buffer: UnsafeMutableBufferPointer<UInt8>, waitNanoseconds: Int64) throws(Failure) -> Int {
        guard !rawReplies.isEmpty, let chunk = rawReplies.removeFirst() else {
            clock.now += max(0, waitNanoseconds)
            return 0
        }
        clock.now += min(rawChunkNanoseconds, max(0, waitNanoseconds))
        let count = min(chunk.count, buffer.count)
        for index in 0..<count { buffer[index] = chunk[index] }
        if count < chunk.count { rawReplies.insert(Array(chunk[count...]), at: 0) }
        return count
    }

    private func play() throws(Failure) -> [UInt16] {
        var reply = replies.isEmpty ? otherwise : replies.removeFirst()
        while case .after(let milliseconds, let next) = reply {
            clock.advance(milliseconds: milliseconds)
            reply = next
        }
        switch reply {
        case .answer(let values): return values
        case .timeout:
            clock.advance(milliseconds: Int64(timeoutMs))
            throw Failure(.deviceTimeout)
        case .frame: throw Failure(.deviceFrame)
        case .exception(let code): throw Failure(.deviceException(UInt16(code)))
        case .disconnect(let errno):
            throw Failure(.disconnected(Errno(errno)))  // as libmodbus: the context stays open until the worker closes it
        case .after: return []
        }
    }
}

extension ScriptedTransport.Call {
    enum Kind { case read, write, other }
    var kind: Kind {
        switch self {
        case .read: return .read
        case .writeRegisters, .writeCoils: return .write
        default: return .other
        }
    }
}

/// A worker on one TCP bus over a scripted transport, driven step by step on a manual clock.
final class WorkerHarness {
    let clock = ManualClock()
    let transport: ScriptedTransport
    let config: SiteConfig
    let stats = EngineStats()
    let ring: Ring
    let sequences: UnsafeMutablePointer<UInt32>
    let worker: ModbusWorker

    init(_ config: SiteConfig, replies: [ScriptedTransport.Reply] = [], otherwise: ScriptedTransport.Reply = .answer([]),
         opens: [Int32] = []) throws {
        self.config = config
        transport = ScriptedTransport(clock: clock, replies: replies, otherwise: otherwise, opens: opens)
        stats.ensure(devices: config.devices.count, buses: config.buses.count, channels: config.channels.count)
        ring = try Ring.make(capacity: 4096, lanes: 1, policy: EDGECORE_OVERFLOW_DROP_OLDEST)
        sequences = .allocate(capacity: max(1, config.channels.count))
        sequences.initialize(repeating: 0, count: max(1, config.channels.count))
        worker = ModbusWorker(busId: 0, config: config, requests: Planner.plan(config), transport: transport,
                              ring: ring, stats: stats, sequences: sequences, clock: clock)
        worker.scheduleFirstPolls()
    }

    deinit { sequences.deallocate() }

    /// Steps the worker, moving the clock to each wake-up time, until the clock would pass `milliseconds`
    /// from now (bounded: at most 100,000 steps).
    func run(milliseconds: Int64) {
        let end = clock.now + milliseconds * 1_000_000
        for _ in 0..<100_000 {
            switch worker.step() {
            case .again: continue
            case .stop: return
            case .idle(let until, _):
                guard let until, until <= end else {
                    clock.now = max(clock.now, end)
                    return
                }
                clock.now = max(clock.now, until)
            }
        }
    }

    /// Steps until the worker would sleep (no clock movement beyond what the transport spends).
    func runUntilIdle() { run(milliseconds: 0) }

    /// Every reading published so far.
    func drain() -> [Reading] {
        var out = [Reading](repeating: Reading(), count: 4096)
        let count = ring.drain(into: &out, max: out.count)
        return Array(out.prefix(count))
    }

    var device: edgecore_device_stats { stats.device(0)?.counters ?? edgecore_device_stats() }
    var bus: edgecore_bus_stats { stats.bus(0)?.counters ?? edgecore_bus_stats() }
    var deviceError: Failure.Kind? { stats.device(0)?.lastError }
    var busError: Failure.Kind? { stats.bus(0)?.lastError }
}

/// A site of one TCP bus, one device and `channels` u16 holding registers at addresses 0, 200, 400...
/// (one read request each), all at `intervalMs`.
func workerSite(channels: Int = 1, intervalMs: UInt32 = 1000, requestGapMs: UInt32 = 0,
                device configure: (inout DeviceSpec) -> Void = { _ in }) throws -> SiteConfig {
    var config = SiteConfig()
    var bus = TCPBusSpec(name: "bus", host: "127.0.0.1")
    bus.requestGapMs = requestGapMs
    bus.reconnectMinMs = 100
    bus.reconnectMaxMs = 800
    _ = try config.addBus(.tcp(bus))
    var device = DeviceSpec(name: "dev", bus: 0)
    device.responseTimeoutMs = 100
    device.retries = 0
    configure(&device)
    _ = try config.addDevice(device)
    for index in 0..<channels {
        let codec = ValueCodec(type: .u16, order: .abcd, bit: 0, scale: 1, offset: 0, validMin: nil, validMax: nil,
                               sentinels: [])
        var channel = ChannelSpec(name: "c\(index)", device: 0, function: .holdingRegisters,
                                  address: UInt16(index * 200), codec: codec)
        channel.intervalMs = intervalMs
        channel.writable = true
        _ = try config.addChannel(channel)
    }
    return config
}
