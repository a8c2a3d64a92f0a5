#if !EDGECORE_GPIOD_V2
import CShim

// GPIO over libgpiod 1.6 (Debian 12, Raspberry Pi OS): the kernel's v1 character-device interface.

/// Opens a chip by path ("/dev/gpiochip0"), name ("gpiochip0"), number or label.
func openLibgpiodChip(_ path: FilePath) throws(Failure) -> any GPIOChipPort {
    guard let chip = path.withCString({ gpiod_chip_open_lookup($0) }) else {
        throw chipOpenError(chip: path.description, .current)
    }
    return LibgpiodChip(chip, description: path.description)
}

private final class LibgpiodChip: GPIOChipPort {
    private let chip: OpaquePointer
    private let description: String

    init(_ chip: OpaquePointer, description: String) {
        self.chip = chip
        self.description = description
    }

    deinit { gpiod_chip_close(chip) }

    var lineCount: UInt32 { gpiod_chip_num_lines(chip) }

    func offset(ofLineNamed name: String) -> UInt32? {
        guard let line = name.withCString({ gpiod_chip_find_line(chip, $0) }) else { return nil }
        return gpiod_line_offset(line)
    }

    func requestInput(offset: UInt32, bias: GPIOBias, activeLow: Bool) throws(Failure) -> any GPIOLinePort {
        var flags: Int32 = activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        switch bias {
        case .asIs: break
        case .disabled: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
        case .pullUp: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .pullDown: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        }
        return try request(offset: offset, type: Int32(GPIOD_LINE_REQUEST_DIRECTION_INPUT), flags: flags,
                           initial: 0)
    }

    func requestOutput(offset: UInt32, activeLow: Bool, initial: Bool) throws(Failure) -> any GPIOLinePort {
        let flags: Int32 = activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        return try request(offset: offset, type: Int32(GPIOD_LINE_REQUEST_DIRECTION_OUTPUT), flags: flags,
                           initial: initial ? 1 : 0)
    }

    func requestEdges(offset: UInt32, bias: GPIOBias, activeLow: Bool,
                      eventBuffer: UInt32) throws(Failure) -> any GPIOEventLinePort {
        // The v1 kernel queue is fixed (16 events per line): `eventBuffer` has no effect here.
        var flags: Int32 = activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        switch bias {
        case .asIs: break
        case .disabled: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
        case .pullUp: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .pullDown: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        }
        let line = try lineHandle(offset)
        var config = gpiod_line_request_config(consumer: consumerName,
                                               request_type: Int32(GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES), flags: flags)
        guard gpiod_line_request(line, &config, 0) == 0 else {
            throw busyAwareError(offset)
        }
        return LibgpiodEventLine(line)
    }

    /// The failed request's error (errno now), naming the line's holder when it is busy.
    private func busyAwareError(_ offset: UInt32) -> Failure {
        let error = Errno.current
        return lineRequestError(chip: description, offset: offset, error, chipPath: gpiod_chip_name(chip))
    }

    private func lineHandle(_ offset: UInt32) throws(Failure) -> OpaquePointer {
        guard offset < lineCount, let line = gpiod_chip_get_line(chip, offset) else {
            throw noSuchLineError(chip: description, offset: offset, lineCount: lineCount)
        }
        return line
    }

    private func request(offset: UInt32, type: Int32, flags: Int32, initial: Int32) throws(Failure) -> any GPIOLinePort {
        let line = try lineHandle(offset)
        var config = gpiod_line_request_config(consumer: consumerName, request_type: type, flags: flags)
        guard gpiod_line_request(line, &config, initial) == 0 else {
            throw busyAwareError(offset)
        }
        return LibgpiodLine(line)
    }
}

private final class LibgpiodEventLine: LibgpiodLine, GPIOEventLinePort {
    private var events = [gpiod_line_event](repeating: gpiod_line_event(), count: 16)

    var eventFD: Int32 { gpiod_line_event_get_fd(line) }
    var sequenced: Bool { false }

    func readEvents(_ body: (GPIOEdge) -> Void) -> Errno? {
        let count = events.withUnsafeMutableBufferPointer { buffer in
            gpiod_line_event_read_multiple(line, buffer.baseAddress, UInt32(buffer.count))
        }
        guard count >= 0 else { return .current }
        for index in 0..<Int(count) {
            let event = events[index]
            body(GPIOEdge(timestampNs: Int64(event.ts.tv_sec) * 1_000_000_000 + Int64(event.ts.tv_nsec),
                          rising: event.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE), lineSeqno: nil))
        }
        return nil
    }
}

private class LibgpiodLine: GPIOLinePort {
    let line: OpaquePointer

    init(_ line: OpaquePointer) { self.line = line }

    deinit { gpiod_line_release(line) }

    func read() throws(Failure) -> Bool {
        let value = gpiod_line_get_value(line)
        guard value >= 0 else { throw Failure(.system(.current)) }
        return value != 0
    }

    func write(_ value: Bool) -> Errno? {
        gpiod_line_set_value(line, value ? 1 : 0) == 0 ? nil : .current
    }
}
#endif
