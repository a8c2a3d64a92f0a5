import CShim
import Testing

@testable import EdgeCore

/// The answer checks EdgeCore makes on top of libmodbus (ModbusFrame) and the mapping of libmodbus's error
/// numbers (LibmodbusTransport.classify): what hostile peers send must come out as the right failure.
struct ModbusFrameTests {
    /// Read of 2 holding registers at 0x0010, unit 7, transaction id 0x0102 (ModbusFrame's request layout).
    let request: [UInt8] = [0x01, 0x02, 0, 0, 0, 6, 7, 3, 0x00, 0x10, 0x00, 0x02]

    /// What answerData made of an answer: its data offset or the kind of failure.
    enum Checked: Equatable {
        case success(Int)
        case failure(Failure.Kind)
    }

    func check(_ answer: [UInt8], tcp: Bool = true, request: [UInt8]? = nil) -> Checked {
        let sent = request ?? self.request
        return sent.withUnsafeBufferPointer { sent in
            answer.withUnsafeBufferPointer { received in
                do throws(Failure) {
                    return .success(try ModbusFrame.answerData(tcp: tcp, request: sent, answer: received))
                } catch {
                    return .failure(error.kind)
                }
            }
        }
    }

    @Test func aGoodTCPAnswerGivesItsDataOffset() {
        #expect(check([0x01, 0x02, 0, 0, 0, 7, 7, 3, 4, 0x12, 0x34, 0x56, 0x78]) == .success(9))
    }

    @Test func tcpHeaderMismatchesAreFrameErrors() {
        let good: [UInt8] = [0x01, 0x02, 0, 0, 0, 7, 7, 3, 4, 0x12, 0x34, 0x56, 0x78]
        for (index, value) in [(1, UInt8(0x03)), (3, 1), (2, 1), (5, 9), (5, 6), (6, 8), (7, 4), (8, 6)] {
            var answer = good
            answer[index] = value  // transaction id, protocol id, MBAP length, unit, function, byte count
            #expect(check(answer) == .failure(.deviceFrame), "byte \(index) = \(value)")
        }
        #expect(check(Array(good.prefix(8))) == .failure(.deviceFrame))
    }

    @Test func exceptionAnswersCarryAnyCode() {
        for code: UInt8 in [0, 1, 11, 12, 255] {
            #expect(check([0x01, 0x02, 0, 0, 0, 3, 7, 0x83, code]) == .failure(.deviceException(UInt16(code))))
            #expect(check([7, 0x83, code, 0, 0], tcp: false) == .failure(.deviceException(UInt16(code))))
        }
        // an exception of another function, or one with trailing bytes, is a bad frame
        #expect(check([0x01, 0x02, 0, 0, 0, 3, 7, 0x84, 2]) == .failure(.deviceFrame))
        #expect(check([0x01, 0x02, 0, 0, 0, 4, 7, 0x83, 2, 0]) == .failure(.deviceFrame))
    }

    @Test func rtuAnswersAreCheckedForUnitAndLength() {
        #expect(check([7, 3, 4, 0x12, 0x34, 0x56, 0x78, 0, 0], tcp: false) == .success(3))
        #expect(check([8, 3, 4, 0x12, 0x34, 0x56, 0x78, 0, 0], tcp: false) == .failure(.deviceFrame))
        #expect(check([7, 3, 2, 0x12, 0x34, 0, 0], tcp: false) == .failure(.deviceFrame))
        #expect(check([], tcp: false) == .failure(.deviceFrame))  // libmodbus's 0: an RTU answer of another unit
    }

    @Test func writeAnswersMustEchoTheRequest() {
        let write: [UInt8] = [0, 9, 0, 0, 0, 6, 7, 6, 0x00, 0x10, 0xAB, 0xCD]
        #expect(check([0, 9, 0, 0, 0, 6, 7, 6, 0x00, 0x10, 0xAB, 0xCD], request: write) == .success(12))
        #expect(check([0, 9, 0, 0, 0, 6, 7, 6, 0x00, 0x10, 0xAB, 0xCE], request: write) == .failure(.deviceFrame))
    }

    @Test func libmodbusErrorNumbersAreNeverErrnos() {
        let base = ec_modbus_exception_base()
        #expect(LibmodbusTransport.classify(errno: base) == .deviceException(0))
        #expect(LibmodbusTransport.classify(errno: base + 2) == .deviceException(2))
        for offset: Int32 in 12...17 { #expect(LibmodbusTransport.classify(errno: base + offset) == .deviceFrame) }
        #expect(LibmodbusTransport.classify(errno: ETIMEDOUT) == .deviceTimeout)
        #expect(LibmodbusTransport.classify(errno: ECONNRESET) == .disconnected(Errno(ECONNRESET)))
        #expect(LibmodbusTransport.classify(errno: 0) == .disconnected(Errno(EIO)))
    }
}
