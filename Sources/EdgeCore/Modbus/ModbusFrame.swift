/// The checks of an answer that EdgeCore makes itself. libmodbus 3.1.6 (Debian 12) reads an answer by its
/// function code and checks the RTU CRC, the RTU unit and the TCP transaction id; it does not check a TCP
/// answer's unit or its MBAP length field, and it reports exception codes 0 and > 11 as something else.
/// So the transport sends requests and receives answers through libmodbus's raw calls and checks here
/// that the answer is the one to its request.
///
/// A request is kept in the TCP layout whatever the bus: MBAP (transaction id, protocol 0, length) in bytes
/// 0-5, the unit in byte 6, the PDU from byte 7 (function, then address and quantity or value). An RTU
/// request is its bytes from 6 on (libmodbus adds the CRC). An answer is as received: MBAP, unit, PDU on TCP;
/// unit, PDU, CRC on RTU.
enum ModbusFrame {
    static let unitIndex = 6
    static let functionIndex = 7

    /// Where the answer's data starts (after function and byte count), or the failure it means: `.deviceFrame` for
    /// any mismatch with the request, `.deviceException(code)` for a well-formed exception answer (any code).
    static func answerData(tcp: Bool, request: UnsafeBufferPointer<UInt8>,
                           answer: UnsafeBufferPointer<UInt8>) throws(Failure) -> Int {
        guard request.count >= 12 else { throw Failure(.deviceFrame) }
        let pduStart: Int
        let pduEnd: Int
        if tcp {
            guard answer.count >= 9, answer[0] == request[0], answer[1] == request[1], answer[2] == 0,
                  answer[3] == 0, Int(answer[4]) << 8 | Int(answer[5]) == answer.count - 6,
                  answer[6] == request[unitIndex] else { throw Failure(.deviceFrame) }
            pduStart = 7
            pduEnd = answer.count
        } else {
            guard answer.count >= 5, answer[0] == request[unitIndex] else { throw Failure(.deviceFrame) }
            pduStart = 1
            pduEnd = answer.count - 2  // the CRC, checked by libmodbus
        }
        let function = request[functionIndex]
        let length = pduEnd - pduStart
        if answer[pduStart] == function | 0x80, length == 2 { throw Failure(.deviceException(UInt16(answer[pduStart + 1]))) }
        guard answer[pduStart] == function else { throw Failure(.deviceFrame) }
        if function <= 4 {
            let quantity = Int(request[10]) << 8 | Int(request[11])
            let bytes = function <= 2 ? (quantity + 7) / 8 : 2 * quantity
            guard length == 2 + bytes, Int(answer[pduStart + 1]) == bytes else { throw Failure(.deviceFrame) }
            return pduStart + 2
        }
        // Writes: 5 and 6 echo address and value, 15 and 16 address and quantity.
        guard length == 5 else { throw Failure(.deviceFrame) }
        for offset in 1..<5 where answer[pduStart + offset] != request[functionIndex + offset] { throw Failure(.deviceFrame) }
        return pduEnd
    }
}
