import CShim

/// ModbusTransport over libmodbus: RTU serial lines and TCP endpoints.
final class LibmodbusTransport: ModbusTransport {
    private let spec: BusSpec
    private var context: OpaquePointer?
    private var connected = false
    /// For RTU: the device node that was opened, to notice it was replaced or removed.
    private var openedNode: FileIdentity?

    init(_ spec: BusSpec) { self.spec = spec }

    deinit { freeContext() }

    var isOpen: Bool { connected }

    func open(stop: any StopRequest) -> Int32 {
        close()
        if context == nil {
            guard let made = makeContext() else { return ec_errno() == 0 ? EINVAL : ec_errno() }
            context = made
        }
        guard let context else { return EINVAL }
        switch spec {
        case .rtu(let rtu): openedNode = FileIdentity(path: rtu.device)
        case .tcp(let tcp):
            // Connected here rather than by modbus_connect(), whose connect cannot be cut short by stop().
            let socket = TCPConnection.open(host: tcp.host, port: tcp.port, timeoutMs: tcp.connectTimeoutMs,
                                            stop: stop)
            guard socket >= 0 else { return -socket }
            _ = modbus_set_socket(context, socket)
            connected = true
            return 0
        case .gpio:
            return EINVAL
        }
        if modbus_connect(context) == -1 {
            let error = ec_errno()
            // libmodbus keeps no usable state after a failed connect; start from a fresh context next time.
            freeContext()
            return error == 0 ? EIO : error
        }
        if case .rtu(let rtu) = spec { configureSerial(context, rtu) }
        connected = true
        return 0
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
        guard let context else { return }
        _ = modbus_set_slave(context, Int32(unit))
    }

    func setResponseTimeout(milliseconds: UInt32) {
        guard let context else { return }
        _ = modbus_set_response_timeout(context, milliseconds / 1000, (milliseconds % 1000) * 1000)
    }

    func readRegisters(_ function: ModbusFunction, address: UInt16, count: Int,
                       into registers: UnsafeMutablePointer<UInt16>) throws(TransactionFailure) {
        let context = try usableContext()
        let result = function == .inputRegisters
            ? modbus_read_input_registers(context, Int32(address), Int32(count), registers)
            : modbus_read_registers(context, Int32(address), Int32(count), registers)
        try check(result, expected: count)
    }

    func readBits(_ function: ModbusFunction, address: UInt16, count: Int,
                  into bits: UnsafeMutablePointer<UInt8>) throws(TransactionFailure) {
        let context = try usableContext()
        let result = function == .discreteInputs
            ? modbus_read_input_bits(context, Int32(address), Int32(count), bits)
            : modbus_read_bits(context, Int32(address), Int32(count), bits)
        try check(result, expected: count)
    }

    func writeRegisters(address: UInt16, values: UnsafeBufferPointer<UInt16>) throws(TransactionFailure) {
        let context = try usableContext()
        guard let base = values.baseAddress else { return }
        let result = values.count == 1
            ? modbus_write_register(context, Int32(address), base.pointee)
            : modbus_write_registers(context, Int32(address), Int32(values.count), base)
        try check(result, expected: nil)
    }

    func writeCoils(address: UInt16, values: UnsafeBufferPointer<UInt8>) throws(TransactionFailure) {
        let context = try usableContext()
        guard let base = values.baseAddress else { return }
        let result = values.count == 1
            ? modbus_write_bit(context, Int32(address), base.pointee != 0 ? 1 : 0)
            : modbus_write_bits(context, Int32(address), Int32(values.count), base)
        try check(result, expected: nil)
    }

    // MARK: Internals

    private func usableContext() throws(TransactionFailure) -> OpaquePointer {
        guard connected, let context else { throw .disconnected(ENOTCONN) }
        return context
    }

    /// `expected`: the count a read must return (libmodbus returns what it got); nil for writes.
    private func check(_ result: Int32, expected: Int?) throws(TransactionFailure) {
        if result >= 0 {
            if let expected, Int(result) != expected { throw .frame }
            return
        }
        throw LibmodbusTransport.classify(errno: ec_errno())
    }

    /// Maps libmodbus's errno after a failed call to what the scheduler does about it.
    static func classify(errno error: Int32) -> TransactionFailure {
        let base = ec_modbus_exception_base()
        if error > base, error <= base + 11 { return .exception(UInt8(error - base)) }
        switch error {
        case ETIMEDOUT: return .timeout
        case base + 12, base + 13, base + 14, base + 15, base + 16, base + 17:
            // EMBBADCRC, EMBBADDATA, EMBBADEXC, EMBUNKEXC, EMBMDATA, EMBBADSLAVE
            return .frame
        case EAGAIN, EINTR: return .timeout
        default: return .disconnected(error)
        }
    }

    private func makeContext() -> OpaquePointer? {
        switch spec {
        case .tcp(let tcp):
            let made = tcp.host.withCString { host in
                String(tcp.port).withCString { service in modbus_new_tcp_pi(host, service) }
            }
            return made
        case .rtu(let rtu):
            let parity = CChar(bitPattern: rtu.parity)
            return rtu.device.withCString { device in
                modbus_new_rtu(device, Int32(rtu.baud), parity, Int32(rtu.dataBits), Int32(rtu.stopBits))
            }
        case .gpio:
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
