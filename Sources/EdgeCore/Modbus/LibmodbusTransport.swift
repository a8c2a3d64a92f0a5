import CShim

/// ModbusTransport over libmodbus: RTU serial lines and TCP endpoints.
final class LibmodbusTransport: FramedModbusTransport {
    private let spec: BusSpec
    private var context: OpaquePointer?
    private var connected = false
    /// For RTU: the device node that was opened, to notice it was replaced or removed.
    private var openedNode: FileIdentity?
    private var unit: UInt8 = 0
    private var transactionId: UInt16 = 0
    /// The request being sent and the answer received (ModbusFrame's layouts), reused.
    var request = [UInt8](repeating: 0, count: 260)
    private(set) var answer = [UInt8](repeating: 0, count: 260)

    init(_ spec: BusSpec) { self.spec = spec }

    deinit { freeContext() }

    var isOpen: Bool { connected }

    /// The failure carries no message: the worker keeps only its kind (edgecore_bus_stats.last_error).
    func open(stop: any StopRequest) throws(Failure) {
        close()
        if context == nil {
            guard let made = makeContext() else {
                throw Failure(.system(Errno.current.rawValue == 0 ? .invalid : .current))
            }
            // No byte timeout: libmodbus restarts it at every byte, so a peer trickling bytes held a
            // transaction for minutes. Without it the whole answer must come within the response timeout
            // (Linux's select() counts down the time left).
            _ = modbus_set_byte_timeout(made, 0, 0)
            context = made
        }
        guard let context else { throw Failure(.system(.invalid)) }
        switch spec {
        case .rtu(let rtu): openedNode = FileIdentity(path: rtu.device)
        case .tcp(let tcp):
            // Connected here rather than by modbus_connect(), whose connect cannot be cut short by stop().
            let socket = try TCPConnection.open(host: tcp.host, port: tcp.port, timeoutMs: tcp.connectTimeoutMs,
                                                stop: stop)
            _ = modbus_set_socket(context, socket.release())  // modbus_close() closes it
            connected = true
            return
        case .gpio, .local:
            throw Failure(.system(.invalid))
        }
        if modbus_connect(context) == -1 {
            let error = Errno.current.rawValue
            // libmodbus keeps no usable state after a failed connect; start from a fresh context next time.
            freeContext()
            throw Failure(.system(error == 0 ? .ioError : Errno(error)))
        }
        if case .rtu(let rtu) = spec {
            // The port is this process's alone while it is open (never fought over): another process's
            // flock or live UUCP lock file makes the open fail as busy, naming the holder.
            var holder = 0
            let claimed = rtu.device.withCString { ec_serial_claim(modbus_get_socket(context), $0, &holder) }
            if claimed != 0 {
                modbus_close(context)
                let error = Errno(claimed)
                guard error == .busy else { throw Failure(.system(error)) }
                throw Failure(.system(.busy), holder > 0 ? "port \(rtu.device) busy: process \(holder) holds it"
                                                         : "port \(rtu.device) busy: another process holds it")
            }
            configureSerial(context, rtu)
        }
        connected = true
    }

    func close() {
        guard connected, let context else { return }
        modbus_close(context)
        connected = false
    }

    func needsReopen() -> Bool {
        guard case .rtu(let rtu) = spec, connected else { return false }
        return FileIdentity(path: rtu.device) != openedNode
    }

    func flush() {
        guard connected, let context else { return }
        _ = modbus_flush(context)
    }

    func setUnit(_ unit: UInt8) {
        self.unit = unit
        guard let context else { return }
        _ = modbus_set_slave(context, Int32(unit))  // libmodbus drops RTU answers of other units
    }

    func setResponseTimeout(milliseconds: UInt32) {
        guard let context else { return }
        _ = modbus_set_response_timeout(context, milliseconds / 1000, (milliseconds % 1000) * 1000)
    }

    func sendRaw(_ bytes: UnsafeBufferPointer<UInt8>) throws(Failure) {
        guard connected, let context else { throw Failure(.disconnected(Errno(ENOTCONN))) }
        var rts: Int32 = 0
        var delay: UInt32 = 0
        if case .rtu(let rtu) = spec, rtu.rts != 0 {
            rts = Int32(rtu.rts)
            // libmodbus's default settle time is one character time.
            delay = rtu.rtsDelayUs ?? UInt32((Double(rtu.bitsPerCharacter) * 1_000_000 / Double(rtu.baud)).rounded(.up))
        }
        try RawLineIO.send(modbus_get_socket(context), bytes, rtsMode: rts, rtsDelayUs: delay)
    }

    func receiveRaw(into buffer: UnsafeMutableBufferPointer<UInt8>, waitNanoseconds: Int64) throws(Failure) -> Int {
        guard connected, let context else { throw Failure(.disconnected(Errno(ENOTCONN))) }
        return try RawLineIO.receive(modbus_get_socket(context), buffer, waitNanoseconds: waitNanoseconds)
    }

    // MARK: Internals

    /// FramedModbusTransport's exchange: the request's MBAP is ours on TCP (libmodbus's raw request always
    /// carries transaction id 0), RTU frames get libmodbus's CRC.
    func exchange(_ function: UInt8, _ first: UInt16, _ second: UInt16,
                          end: Int) throws(Failure) -> Int {
        guard connected, let context else { throw Failure(.disconnected(Errno(ENOTCONN))) }
        request[ModbusFrame.unitIndex] = unit
        request[ModbusFrame.functionIndex] = function
        putRequest(first, at: 8)
        putRequest(second, at: 10)
        let tcp: Bool
        if case .tcp = spec { tcp = true } else { tcp = false }
        if tcp {
            // The MBAP header is ours: libmodbus's raw request always carries transaction id 0.
            transactionId &+= 1
            putRequest(transactionId, at: 0)
            putRequest(0, at: 2)
            putRequest(UInt16(end - ModbusFrame.unitIndex), at: 4)
        }
        let sendError: Int32 = request.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return EINVAL }
            if tcp { return ec_send_all(modbus_get_socket(context), base, end) }
            let rtu = base + ModbusFrame.unitIndex
            return modbus_send_raw_request(context, rtu, Int32(end - ModbusFrame.unitIndex)) < 0 ? Errno.current.rawValue : 0
        }
        if sendError != 0 { throw Failure(LibmodbusTransport.classify(errno: sendError)) }
        let length = answer.withUnsafeMutableBufferPointer { buffer in
            modbus_receive_confirmation(context, buffer.baseAddress)
        }
        if length < 0 { throw Failure(LibmodbusTransport.classify(errno: Errno.current.rawValue)) }
        return try request.withUnsafeBufferPointer { sent throws(Failure) in
            try answer.withUnsafeBufferPointer { received throws(Failure) in
                try ModbusFrame.answerData(tcp: tcp, request: UnsafeBufferPointer(rebasing: sent[0..<end]),
                                           answer: UnsafeBufferPointer(rebasing: received[0..<Int(length)]))
            }
        }
    }

    /// Maps libmodbus's errno after a failed call to what the scheduler does about it.
    static func classify(errno error: Int32) -> Failure.Kind {
        let base = ec_modbus_exception_base()
        // libmodbus's own numbers (MODBUS_ENOBASE + n) are never an errno: exceptions (n = 0...11) are the
        // device's answer, the rest (bad CRC, data, exception code, slave; too many data) bad frames.
        if error >= base { return error - base <= 11 ? .deviceException(UInt16(error - base)) : .deviceFrame }
        switch error {
        case ETIMEDOUT, EAGAIN, EINTR: return .deviceTimeout
        case 0: return .disconnected(.ioError)
        default: return .disconnected(Errno(error))
        }
    }

    private func makeContext() -> OpaquePointer? {
        switch spec {
        case .tcp(let tcp):
            let made = tcp.host.withCString { host in
                String(UInt64(tcp.port)).withCString { service in modbus_new_tcp_pi(host, service) }
            }
            return made
        case .rtu(let rtu):
            let parity = CChar(bitPattern: rtu.parity)
            return rtu.device.withCString { device in
                modbus_new_rtu(device, Int32(rtu.baud), parity, Int32(rtu.dataBits), Int32(rtu.stopBits))
            }
        case .gpio, .local:
            return nil
        }
    }

    private func configureSerial(_ context: OpaquePointer, _ rtu: RTUBusSpec) {
        if rtu.rs485 { _ = modbus_rtu_set_serial_mode(context, MODBUS_RTU_RS485) }
        if rtu.rts != 0 {
            _ = modbus_rtu_set_rts(context, Int32(rtu.rts))
            if let delay = rtu.rtsDelayUs { _ = modbus_rtu_set_rts_delay(context, Int32(clamping: delay)) }
        }
    }

    private func freeContext() {
        guard let context else { return }
        if connected { modbus_close(context) }
        modbus_free(context)
        self.context = nil
        connected = false
    }
}
