import CShim

/// ModbusTransport for a TCP bus with transparent framing: a connection to an RS-485 serial server (DTU)
/// that passes bytes to and from its line unchanged. Meters send their own frames through sendRaw /
/// receiveRaw; Modbus devices speak RTU over the connection (unit, PDU, CRC-16), framed here, since
/// libmodbus has no RTU-over-TCP backend. An answer is read to the length its function code and byte count
/// announce, within the response timeout, and checked as libmodbus checks RTU answers (CRC, unit) and as
/// ModbusFrame checks every answer.
final class StreamTransport: FramedModbusTransport {
    private let spec: TCPBusSpec
    private var socket: FileDescriptor?
    private var unit: UInt8 = 0
    private var timeoutNanoseconds: Int64 = 500_000_000
    /// The request in ModbusFrame's TCP layout (MBAP bytes unused), and the RTU answer as received.
    var request = [UInt8](repeating: 0, count: 260)
    private var frame = [UInt8](repeating: 0, count: 260)
    private(set) var answer = [UInt8](repeating: 0, count: 260)

    init(_ spec: TCPBusSpec) { self.spec = spec }

    var isOpen: Bool { socket != nil }

    func open(stop: any StopRequest) throws(Failure) {
        close()
        socket = try TCPConnection.open(host: spec.host, port: spec.port, timeoutMs: spec.connectTimeoutMs, stop: stop)
    }

    func close() {
        socket = nil  // FileDescriptor closes on release
        peerClosed = false
    }

    /// The serial server closed the connection (seen while discarding input): the worker re-opens, and
    /// counts it as a loss, at its next look.
    private var peerClosed = false

    func needsReopen() -> Bool { peerClosed }

    func flush() {
        guard let socket else { return }
        if ec_line_discard_input(socket.rawValue) == -ECONNRESET { peerClosed = true }
    }

    func setUnit(_ unit: UInt8) { self.unit = unit }

    func setResponseTimeout(milliseconds: UInt32) { timeoutNanoseconds = Int64(milliseconds) * 1_000_000 }

    func sendRaw(_ bytes: UnsafeBufferPointer<UInt8>) throws(Failure) {
        try RawLineIO.send(socket?.rawValue ?? -1, bytes)
    }

    func receiveRaw(into buffer: UnsafeMutableBufferPointer<UInt8>, waitNanoseconds: Int64) throws(Failure) -> Int {
        try RawLineIO.receive(socket?.rawValue ?? -1, buffer, waitNanoseconds: waitNanoseconds)
    }

    // MARK: Modbus RTU over the connection

    /// FramedModbusTransport's exchange: request[6..<end] as an RTU frame (CRC appended), the answer read
    /// and checked.
    func exchange(_ function: UInt8, _ first: UInt16, _ second: UInt16, end: Int) throws(Failure) -> Int {
        guard let socket else { throw Failure(.disconnected(Errno(ENOTCONN))) }
        request[ModbusFrame.unitIndex] = unit
        request[ModbusFrame.functionIndex] = function
        putRequest(first, at: 8)
        putRequest(second, at: 10)
        let length = end - ModbusFrame.unitIndex
        for index in 0..<length { frame[index] = request[ModbusFrame.unitIndex + index] }
        let crc = modbusCRC16(frame[0..<length])
        frame[length] = UInt8(truncatingIfNeeded: crc)  // CRC low byte first
        frame[length + 1] = UInt8(crc >> 8)
        try frame.withUnsafeBufferPointer { buffer throws(Failure) in
            try RawLineIO.send(socket.rawValue, UnsafeBufferPointer(rebasing: buffer[0..<length + 2]))
        }
        let received = try receiveAnswer(socket.rawValue, function: function)
        guard modbusCRC16(answer[0..<received - 2]) == UInt16(answer[received - 2]) | UInt16(answer[received - 1]) << 8,
              answer[0] == unit else { throw Failure(.deviceFrame) }
        return try request.withUnsafeBufferPointer { sent throws(Failure) in
            try answer.withUnsafeBufferPointer { got throws(Failure) in
                try ModbusFrame.answerData(tcp: false, request: UnsafeBufferPointer(rebasing: sent[0..<end]),
                                           answer: UnsafeBufferPointer(rebasing: got[0..<received]))
            }
        }
    }

    /// Reads an RTU answer to `function` into `answer`: 5 bytes for an exception, 5 + byte count for a read,
    /// 8 for a write; .deviceTimeout when it is not complete within the response timeout.
    private func receiveAnswer(_ fd: Int32, function: UInt8) throws(Failure) -> Int {
        let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds
        var count = 0
        while true {
            var expected = 260
            if count >= 2 {
                if answer[1] & 0x80 != 0 {
                    expected = 5
                } else if answer[1] != function {
                    expected = count  // not an answer to this request: ModbusFrame says so after the CRC
                } else if function <= 4 {
                    if count >= 3 { expected = 5 + Int(answer[2]) }
                } else {
                    expected = 8
                }
            }
            if count >= expected, count >= 4 { return expected }
            if count >= expected { throw Failure(.deviceFrame) }
            let left = deadline - Clock.monotonicNanoseconds()
            guard left > 0 else { throw Failure(.deviceTimeout) }
            let got = try answer.withUnsafeMutableBufferPointer { buffer throws(Failure) in
                try RawLineIO.receive(fd, UnsafeMutableBufferPointer(rebasing: buffer[count..<min(expected, buffer.count)]),
                                      waitNanoseconds: left)
            }
            if got == 0 { throw Failure(.deviceTimeout) }
            count += got
        }
    }
}

/// The CRC-16 of Modbus RTU (polynomial 0xA001 reflected, initial 0xFFFF); sent low byte first.
func modbusCRC16<Bytes: Sequence>(_ bytes: Bytes) -> UInt16 where Bytes.Element == UInt8 {
    var crc: UInt16 = 0xFFFF
    for byte in bytes {
        crc ^= UInt16(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xA001 : crc >> 1 }
    }
    return crc
}
