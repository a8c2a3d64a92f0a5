#if EDGECORE_GPIOD_V2
import CShim

// GPIO over libgpiod 2.x (Debian 13, Ubuntu 24.04, Debian 12 backports): the kernel's v2 interface.

/// Opens a chip by path ("/dev/gpiochip0"), name ("gpiochip0") or label.
func openLibgpiodChip(_ chip: FilePath) throws(Failure) -> any GPIOChipPort {
    let description = chip.description
    if chip.removingPrefix("/") != nil { return try open(path: chip, description: description) }
    let inDev = FilePath("/dev/").appending(chip)
    if FileIdentity(path: inDev) != nil { return try open(path: inDev, description: description) }
    // A label (bytes, as the kernel reports it): look at every chip.
    for number in 0..<256 {
        let path = FilePath("/dev/gpiochip" + String(number))
        guard FileIdentity(path: path) != nil,
              let opened = path.withCString({ gpiod_chip_open($0) }) else { continue }
        if let info = gpiod_chip_get_info(opened) {
            let matches = gpiod_chip_info_get_label(info).map { label in chip.withCString { strcmp(label, $0) == 0 } }
                ?? false
            gpiod_chip_info_free(info)
            if matches { return LibgpiodChip(opened, description: description) }
        }
        gpiod_chip_close(opened)
    }
    throw Failure(.system(.noEntry), "gpio chip '\(description)': no chip has that path, name or label")
}

private func open(path: FilePath, description: String) throws(Failure) -> any GPIOChipPort {
    guard let chip = path.withCString({ gpiod_chip_open($0) }) else {
        throw chipOpenError(chip: description, .current)
    }
    return LibgpiodChip(chip, description: description)
}

private final class LibgpiodChip: GPIOChipPort {
    private let chip: OpaquePointer
    private let description: String
    let lineCount: UInt32

    init(_ chip: OpaquePointer, description: String) {
        self.chip = chip
        self.description = description
        var count: UInt32 = 0
        if let info = gpiod_chip_get_info(chip) {
            count = UInt32(truncatingIfNeeded: gpiod_chip_info_get_num_lines(info))
            gpiod_chip_info_free(info)
        }
        lineCount = count
    }

    deinit { gpiod_chip_close(chip) }

    func offset(ofLineNamed name: String) -> UInt32? {
        let offset = name.withCString { gpiod_chip_get_line_offset_from_name(chip, $0) }
        return offset < 0 ? nil : UInt32(offset)
    }

    func requestInput(offset: UInt32, bias: GPIOBias, activeLow: Bool) throws(Failure) -> any GPIOLinePort {
        try request(offset: offset) { settings in
            gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT)
            switch bias {
            case .asIs: break
            case .disabled: gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_DISABLED)
            case .pullUp: gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_PULL_UP)
            case .pullDown: gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_PULL_DOWN)
            }
            gpiod_line_settings_set_active_low(settings, activeLow)
        }
    }

    func requestOutput(offset: UInt32, activeLow: Bool, initial: Bool) throws(Failure) -> any GPIOLinePort {
        try request(offset: offset) { settings in
            gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT)
            gpiod_line_settings_set_active_low(settings, activeLow)
            gpiod_line_settings_set_output_value(settings, initial ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE)
        }
    }

    func requestEdges(offset: UInt32, bias: GPIOBias, activeLow: Bool,
                      eventBuffer: UInt32) throws(Failure) -> any GPIOEventLinePort {
        // Both edges and no kernel debounce (its period is rounded to jiffies and it loses pulses):
        // the counter debounces from the timestamps, as with 1.6.
        let request = try lineRequest(offset: offset, eventBuffer: Int(eventBuffer)) { settings in
            gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT)
            gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH)
            switch bias {
            case .asIs: break
            case .disabled: gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_DISABLED)
            case .pullUp: gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_PULL_UP)
            case .pullDown: gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_PULL_DOWN)
            }
            gpiod_line_settings_set_active_low(settings, activeLow)
        }
        guard let buffer = gpiod_edge_event_buffer_new(64) else {
            gpiod_line_request_release(request)
            throw Failure(.system(.noMemory), "gpio")
        }
        return LibgpiodEventLine(request, offset: offset, buffer: buffer)
    }

    private func request(offset: UInt32, _ configure: (OpaquePointer) -> Void) throws(Failure) -> any GPIOLinePort {
        LibgpiodLine(try lineRequest(offset: offset, eventBuffer: 0, configure), offset: offset)
    }

    private func lineRequest(offset: UInt32, eventBuffer: Int,
                             _ configure: (OpaquePointer) -> Void) throws(Failure) -> OpaquePointer {
        guard offset < lineCount else {
            throw noSuchLineError(chip: description, offset: offset, lineCount: lineCount)
        }
        guard let settings = gpiod_line_settings_new() else { throw Failure(.system(.noMemory), "gpio") }
        defer { gpiod_line_settings_free(settings) }
        configure(settings)
        guard let lineConfig = gpiod_line_config_new() else { throw Failure(.system(.noMemory), "gpio") }
        defer { gpiod_line_config_free(lineConfig) }
        var offsets = [offset]
        guard gpiod_line_config_add_line_settings(lineConfig, &offsets, 1, settings) == 0,
              let requestConfig = gpiod_request_config_new() else {
            throw Failure(.system(.noMemory), "gpio")
        }
        defer { gpiod_request_config_free(requestConfig) }
        gpiod_request_config_set_consumer(requestConfig, consumerName)
        if eventBuffer > 0 { gpiod_request_config_set_event_buffer_size(requestConfig, eventBuffer) }
        guard let request = gpiod_chip_request_lines(chip, requestConfig, lineConfig) else {
            throw lineRequestError(chip: description, offset: offset, .current, chipPath: gpiod_chip_get_path(chip))
        }
        return request
    }
}

private final class LibgpiodEventLine: LibgpiodLine, GPIOEventLinePort {
    private let buffer: OpaquePointer

    init(_ request: OpaquePointer, offset: UInt32, buffer: OpaquePointer) {
        self.buffer = buffer
        super.init(request, offset: offset)
    }

    deinit { gpiod_edge_event_buffer_free(buffer) }

    var eventFD: Int32 { gpiod_line_request_get_fd(request) }
    var sequenced: Bool { true }

    func readEvents(_ body: (GPIOEdge) -> Void) -> Errno? {
        let count = gpiod_line_request_read_edge_events(request, buffer, 64)
        guard count >= 0 else { return .current }
        for index in 0..<Int(count) {
            guard let event = gpiod_edge_event_buffer_get_event(buffer, UInt(index)) else { continue }
            body(GPIOEdge(timestampNs: Int64(truncatingIfNeeded: gpiod_edge_event_get_timestamp_ns(event)),
                          rising: gpiod_edge_event_get_event_type(event) == GPIOD_EDGE_EVENT_RISING_EDGE,
                          lineSeqno: UInt32(truncatingIfNeeded: gpiod_edge_event_get_line_seqno(event))))
        }
        return nil
    }
}

private class LibgpiodLine: GPIOLinePort {
    let request: OpaquePointer
    private let offset: UInt32

    init(_ request: OpaquePointer, offset: UInt32) {
        self.request = request
        self.offset = offset
    }

    deinit { gpiod_line_request_release(request) }

    func read() throws(Failure) -> Bool {
        let value = gpiod_line_request_get_value(request, offset)
        if value == GPIOD_LINE_VALUE_ERROR { throw Failure(.system(.current)) }
        return value == GPIOD_LINE_VALUE_ACTIVE
    }

    func write(_ value: Bool) -> Errno? {
        gpiod_line_request_set_value(request, offset, value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE) == 0
            ? nil : .current
    }
}
#endif
