import Testing

@testable import EdgeCore

/// The planner's claim: per device, function and interval, no plan serves the channels with fewer read
/// requests. Checked against brute force (every partition of the channels into groups one request can
/// serve) on random register maps with random request limits and holes.
@Suite struct PlannerTests {
    /// A small deterministic generator (SplitMix64), so a failure names a seed that reproduces it.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A random map on one device: up to 9 channels of 1, 2 or 4 registers at addresses 0..47, a request
    /// limit of 1..12 registers, up to two holes. Channels the configuration refuses (in a hole, wider than
    /// the limit, a name clash) are left out, as a site file could not hold them either.
    static func randomSite(seed: UInt64) throws -> SiteConfig {
        var random = SplitMix(state: seed)
        var config = SiteConfig()
        _ = try config.addBus(.tcp(TCPBusSpec(name: "bus", host: "192.0.2.1")))
        var device = DeviceSpec(name: "dev", bus: 0)
        device.maxRegisters = UInt16(Int.random(in: 1...12, using: &random))
        for _ in 0..<Int.random(in: 0...2, using: &random) {
            let first = UInt16(Int.random(in: 0...47, using: &random))
            device.holes.append(Hole(function: .holdingRegisters, first: first,
                                     last: first + UInt16(Int.random(in: 0...3, using: &random))))
        }
        _ = try config.addDevice(device)
        let types: [ValueType] = [.u16, .u32, .u64]
        for index in 0..<Int.random(in: 1...9, using: &random) {
            let type = types[Int.random(in: 0..<types.count, using: &random)]
            let codec = ValueCodec(type: type, order: .abcd, bit: 0, scale: 1, offset: 0, validMin: nil, validMax: nil,
                                   sentinels: [])
            let channel = ChannelSpec(name: "c\(index)", device: 0, function: .holdingRegisters,
                                      address: UInt16(Int.random(in: 0...47, using: &random)), codec: codec)
            _ = try? config.addChannel(channel)
        }
        return config
    }

    /// Whether one read request can serve exactly these channels: their span fits the limit and crosses
    /// no hole.
    static func servable(_ group: [ChannelSpec], device: DeviceSpec) -> Bool {
        guard let first = group.map({ Int($0.point.address) }).min(), let last = group.map(\.point.lastAddress).max() else {
            return false
        }
        guard last - first + 1 <= Int(device.maxRegisters) else { return false }
        return !device.holes.contains { Int($0.first) <= last && Int($0.last) >= first }
    }

    /// The fewest requests of any plan: the smallest partition of the channels into servable groups
    /// (every group containing the lowest channel left, over every subset).
    static func bruteForceMinimum(_ config: SiteConfig) -> Int {
        let channels = config.channels
        let device = config.devices[0]
        let full = (1 << channels.count) - 1
        // Span of every subset, built from the subset without its lowest channel.
        var first = [Int](repeating: Int.max, count: full + 1)
        var last = [Int](repeating: Int.min, count: full + 1)
        var servable = [Bool](repeating: false, count: full + 1)
        for mask in stride(from: 1, through: full, by: 1) {
            let lowest = mask & -mask
            let channel = channels[lowest.trailingZeroBitCount]
            first[mask] = min(first[mask ^ lowest], Int(channel.point.address))
            last[mask] = max(last[mask ^ lowest], channel.point.lastAddress)
            let (low, high) = (first[mask], last[mask])
            servable[mask] = high - low + 1 <= Int(device.maxRegisters)
                && !device.holes.contains { Int($0.first) <= high && Int($0.last) >= low }
        }
        var best = [Int](repeating: Int.max, count: full + 1)
        best[0] = 0
        for mask in stride(from: 1, through: full, by: 1) {
            let lowest = mask & -mask
            let rest = mask ^ lowest
            var others = rest  // the group is `lowest` plus a subset of the rest
            while true {
                let group = others | lowest
                if servable[group], best[mask ^ group] != Int.max {
                    best[mask] = min(best[mask], best[mask ^ group] + 1)
                }
                if others == 0 { break }
                others = (others - 1) & rest
            }
        }
        return best[full]
    }

    @Test func noPlanHasFewerRequestsThanThePlanners() throws {
        var checked = 0
        for seed in UInt64(1)...1_000 {
            let config = try Self.randomSite(seed: seed)
            guard !config.channels.isEmpty else { continue }
            let plan = Planner.plan(config)
            let device = config.devices[0]
            // Every request is one a device accepts and serves each of its channels in full, and every
            // channel is served exactly once.
            var served: [Int] = []
            for request in plan {
                let members = request.channels.map { config.channels[$0] }
                #expect(Self.servable(members, device: device), "seed \(seed): \(request)")
                #expect(members.allSatisfy { Int($0.point.address) >= Int(request.address) && $0.point.lastAddress <= request.lastAddress },
                        "seed \(seed): \(request)")
                served += request.channels
            }
            #expect(served.sorted() == Array(config.channels.indices), "seed \(seed)")
            #expect(plan.count == Self.bruteForceMinimum(config), "seed \(seed): \(plan)")
            checked += 1
        }
        #expect(checked > 950)
    }

    @Test func theOneChannelPerRequestQuirkGetsARequestPerChannel() throws {
        var config = try Self.randomSite(seed: 7)
        var quirky = DeviceSpec(name: "quirky", bus: 0)
        quirky.unitId = 2
        quirky.oneChannelPerRequest = true
        let device = try config.addDevice(quirky)
        for address in [UInt16(0), 1, 2, 3] {
            _ = try config.addChannel(ChannelSpec(name: "q\(address)", device: device, function: .holdingRegisters,
                                                  address: address, codec: ValueCodec(type: .u16, order: .abcd, bit: 0,
                                                  scale: 1, offset: 0, validMin: nil, validMax: nil, sentinels: [])))
        }
        #expect(Planner.plan(config).filter { $0.device == device }.count == 4)
    }
}
