import CShim
import Testing

@testable import EdgeCore

@Suite struct PollScheduleTests {
    static let ms: Int64 = 1_000_000

    @Test func modbusCatchesUpWithinTheLargerOfTwoIntervalsAndTwoSeconds() {
        let schedule = PollSchedule.modbus
        // On time or late within the window: the next cycle, nothing skipped.
        #expect(schedule.next(after: 0, interval: 100 * Self.ms, now: 50 * Self.ms) == (100 * Self.ms, 0))
        #expect(schedule.next(after: 0, interval: 100 * Self.ms, now: 2100 * Self.ms) == (100 * Self.ms, 0))
        // 5 s late at 100 ms: cycles 100 ... 3000 skipped, 3100 served next (inside the 2 s window).
        #expect(schedule.next(after: 0, interval: 100 * Self.ms, now: 5000 * Self.ms) == (3100 * Self.ms, 30))
        // A long interval: the window is two intervals.
        #expect(schedule.next(after: 0, interval: 10_000 * Self.ms, now: 30_000 * Self.ms) == (10_000 * Self.ms, 0))
        #expect(schedule.next(after: 0, interval: 10_000 * Self.ms, now: 30_001 * Self.ms) == (20_000 * Self.ms, 1))
    }

    @Test func gpioSkipsEveryMissedCycle() {
        let schedule = PollSchedule.gpio
        #expect(schedule.next(after: 0, interval: 100 * Self.ms, now: 100 * Self.ms) == (100 * Self.ms, 0))
        #expect(schedule.next(after: 0, interval: 100 * Self.ms, now: 101 * Self.ms) == (200 * Self.ms, 1))
        #expect(schedule.next(after: 0, interval: 100 * Self.ms, now: 5050 * Self.ms) == (5100 * Self.ms, 50))
    }

    @Test func backOffDoublesToItsMaximumAndRestartsAfterASuccess() {
        var backOff = BackOff(minMs: 300, maxMs: 1000)
        #expect((0..<5).map { _ in backOff.failed() } == [300, 600, 1000, 1000, 1000])
        backOff.succeeded()
        #expect(backOff.failed(at: 5 * Self.ms) == 305 * Self.ms)
        var huge = BackOff(minMs: 1, maxMs: UInt32.max)  // doubling never overflows
        #expect((0..<34).map { _ in huge.failed() }.last == UInt32.max)
    }

    @Test func deviceHealthGoesOfflineAfterItsFailuresAndBacksOff() throws {
        var device = DeviceSpec(name: "d", bus: 0)
        device.offlineAfter = 2
        device.backoffMinMs = 1000
        device.backoffMaxMs = 3000
        var health = DeviceHealth(device)
        health.failed(at: 0)
        #expect(!health.offline && health.consecutiveFailures == 1)
        health.failed(at: 0)
        #expect(health.offline && health.probeAt == 1000 * Self.ms)
        health.failed(at: 1000 * Self.ms)
        #expect(health.probeAt == 3000 * Self.ms)
        health.failed(at: 3000 * Self.ms)
        #expect(health.probeAt == 6000 * Self.ms)
        health.answered()
        #expect(!health.offline && health.state == UInt16(EDGECORE_DEVICE_ONLINE.rawValue))
        health.failed(at: 0)
        health.failed(at: 0)
        #expect(health.probeAt == 1000 * Self.ms)  // the back-off restarted
    }
}
