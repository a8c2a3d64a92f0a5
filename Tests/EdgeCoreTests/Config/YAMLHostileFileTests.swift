import CShim
import Foundation
import Testing

@testable import EdgeCore

// Large and hostile site files: loading is linear (the times are measured by `make -C benchmarks yaml`; the
// limit here only stops a quadratic loader from holding the test run), nesting is bounded, and values are
// what YAML says they are (no tags, no quoted numbers, no octal-looking integers).

// Helpers (loadYAML, expectError, oneChannel): SiteYAMLTests.swift.

@Suite(.timeLimit(.minutes(1))) struct YAMLLargeFileTests {
    @Test func fortyThousandUnknownKeysAreRefusedAtTheFirst() {
        var text = "buses: []\n"
        for key in 0..<40_000 { text += "key\(key): 1\n" }
        expectError(text, .configFile, line: 2, "field 'key0': unknown key (expected one of: buses, journal)")

        var channel = "          - name: c\n            address: 1\n"
        for key in 0..<40_000 { channel += "            k\(key): 1\n" }
        expectError(oneChannel(channel), .configFile, line: 10, "bus 'plc', device 'dev', channel 'c', field 'k0': unknown key")
    }

    @Test func aKeyRepeatedAmongThousandsIsFoundWithItsFirstLine() {
        var channel = "          - name: c\n            address: 1\n"
        for key in 0..<20_000 { channel += "            k\(key): 1\n" }
        channel += "            k7: 2\n"
        expectError(oneChannel(channel), .configFile, line: 20_010,
                      "bus 'plc', device 'dev', channel 'c', field 'k7': given twice (first at line 17)")
    }

    @Test func twentyThousandChannelsLoadAndAreFoundByName() {
        var text = "buses:\n  - name: plc\n    type: tcp\n    host: 127.0.0.1\n    devices:\n"
        for device in 0..<20 {
            text += "      - name: dev\(device)\n        unit_id: \(device + 1)\n        channels:\n"
            for channel in 0..<1000 {
                text += "          - {name: dev\(device).ch\(channel), function: input, address: \(channel)}\n"
            }
        }
        let result = loadYAML(text)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.channels.count == 20_000)
        #expect(result.config.channelIndex(named: "dev19.ch999") == 19_999)
        #expect(result.config.channelIndex(named: "dev7.ch3") == 7003)
        #expect(result.config.deviceIndex(named: "dev12") == 12)
        #expect(result.config.busIndex(named: "plc") == 0)
        #expect(result.config.channelIndex(named: "dev20.ch0") == nil)

        // The last one repeats the first name: refused at its line.
        let repeated = text + "          - {name: dev0.ch0, address: 1000}\n"
        expectError(repeated, .duplicate, line: 20_066, "channel 'dev0.ch0': the name is already used")
    }

    @Test func twentyThousandGPIOLinesLoadAndARepeatedLineIsRefused() {
        var text = "buses:\n  - name: io\n    type: gpio\n    chip: gpiochip0\n    lines:\n"
        for line in 0..<20_000 {
            text += line % 2 == 0 ? "      - {name: l\(line), offset: \(line)}\n" : "      - {name: l\(line), line_name: G\(line)}\n"
        }
        let result = loadYAML(text)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.channels.count == 20_000)
        #expect(result.config.channelIndex(named: "l19999") == 19_999)
        expectError(text + "      - {name: again, offset: 0}\n", .duplicate, line: 20_006,
                      "channel 'again': line 0 of chip 'gpiochip0' is already channel 'l0'")
        expectError(text + "      - {name: again, line_name: G19999}\n", .duplicate, line: 20_006,
                      "channel 'again': line 'G19999' of chip 'gpiochip0' is already channel 'l19999'")
    }

    @Test func tenThousandHolesWithChannelsBetweenThemLoad() {
        var text = "buses:\n  - name: plc\n    type: tcp\n    host: 127.0.0.1\n    devices:\n"
        text += "      - name: before\n        channels:\n"
        for channel in 0..<10_000 { text += "          - {name: b\(channel), address: \(channel)}\n" }
        text += "      - name: holey\n        unit_id: 2\n        holes:\n"
        for hole in 0..<10_000 { text += "          - {function: holding, first: \(2 * hole)}\n" }
        text += "        channels:\n"
        for channel in 0..<10_000 { text += "          - {name: h\(channel), address: \(2 * channel + 1)}\n" }
        let result = loadYAML(text)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.channels.count == 20_000)
        #expect(result.config.devices.last?.holes.count == 10_000)
        expectError(text + "          - {name: in, address: 19998}\n", .config, line: 30_012,
                    "channel 'in': address 19998 lies in the hole 19998..19998 of device 'holey'")
    }

    @Test func sixtyFourBusesOfAllUnitIdsLoadAndARepeatedUnitIsRefused() {
        var text = "buses:\n"
        for bus in 0..<SiteConfig.maxBuses {
            text += "  - name: b\(bus)\n    type: tcp\n    host: 127.0.0.1\n    devices:\n"
            for unit in 1...247 { text += "      - {name: b\(bus).u\(unit), unit_id: \(unit)}\n" }
        }
        let result = loadYAML(text)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.devices.count == SiteConfig.maxBuses * 247)
        expectError(text + "      - {name: again, unit_id: 5}\n", .duplicate, line: SiteConfig.maxBuses * 251 + 2,
                      "device 'again': unit_id 5 is already device 'b63.u5' on this bus")
    }
}

@Suite(.timeLimit(.minutes(1))) struct YAMLNestingTests {
    @Test func deeplyNestedListsAreRefusedAtTheLevelThatPassesTheLimit() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "\n"
        expectError(deep, .configFile, line: 1, "lists and mappings nested deeper than 16 levels")
        let deepMappings = String(repeating: "{a: ", count: 50_000) + "1" + String(repeating: "}", count: 50_000)
        expectError(deepMappings, .configFile, line: 1, "field 'a': lists and mappings nested deeper than 16 levels")
        let blocks = (0..<40).map { String(repeating: "  ", count: $0) + "k\($0):\n" }.joined()
        expectError("buses: []\n" + blocks, .configFile, line: 18, "field 'k15': lists and mappings nested deeper than 16 levels")
    }

    @Test func nestingUpToTheLimitIsLeftToTheSchema() {
        // The top mapping is level 1: 15 lists inside reach the limit and pass to the reader.
        let atLimit = "x: " + String(repeating: "[", count: 15) + String(repeating: "]", count: 15) + "\n"
        expectError(atLimit, .configFile, line: 1, "field 'x': unknown key")
        let beyond = "x: " + String(repeating: "[", count: 16) + String(repeating: "]", count: 16) + "\n"
        expectError(beyond, .configFile, line: 1, "field 'x': lists and mappings nested deeper than 16 levels")
    }
}

@Suite struct YAMLStrictScalarTests {
    @Test func tagsAreRefusedWithTheirField() {
        expectError(oneChannel("          - {name: c, address: !!int 5}\n"), .configFile, line: 8,
                      "field 'address': tag 'tag:yaml.org,2002:int': site files use no tags")
        expectError(oneChannel("          - {name: c, address: 5, unit: !!str V}\n"), .configFile, line: 8,
                      "field 'unit': tag 'tag:yaml.org,2002:str'")
        expectError("buses: !custom []\n", .configFile, line: 1, "field 'buses': tag '!custom'")
        expectError("buses:\n  - !bus {name: a}\n", .configFile, line: 2, "field 'buses': tag '!bus'")
        expectError("!root {buses: []}\n", .configFile, line: 1, "tag '!root'")
        // An alias is a value too: the next key is still named.
        expectError("x: &a 1\ny: *a\nz: !t 2\n", .configFile, line: 3, "field 'z': tag '!t'")
    }

    @Test func quotedNumbersAndBooleansAreStrings() {
        expectError(oneChannel("          - {name: c, address: \"12\"}\n"), .configFile, line: 8,
                      "bus 'plc', device 'dev', channel 'c', field 'address': expected an integer 0..65535, got the string '12' (quoted)")
        expectError(oneChannel("          - {name: c, address: 1, interval_ms: '500'}\n"), .configFile, line: 8,
                      "bus 'plc', device 'dev', channel 'c', field 'interval_ms': expected an integer")
        expectError(oneChannel("          - {name: c, address: 1, sentinels: [1, '2']}\n"), .configFile, line: 8,
                      "bus 'plc', device 'dev', channel 'c', field 'sentinels': expected an integer 0..65535, got the string '2' (quoted)")
        expectError(oneChannel("          - {name: c, address: 1, scale: '2.5'}\n"), .configFile, line: 8,
                      "bus 'plc', device 'dev', channel 'c', field 'scale': expected a finite number, got the string '2.5' (quoted)")
        expectError(oneChannel("          - {name: c, address: 1, writable: \"true\"}\n"), .configFile, line: 8,
                      "bus 'plc', device 'dev', channel 'c', field 'writable': expected true or false, got the string 'true' (quoted)")
        // Strings and keywords may be quoted.
        let result = loadYAML(oneChannel("          - {name: \"c\", address: 1, type: 'u32', unit: \"12\"}\n"))
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.channels.first?.unit == "12")
    }

    @Test func integersWithLeadingZerosAreRefused() {
        expectError(oneChannel("          - {name: c, address: 017}\n"), .configFile, line: 8,
                      "bus 'plc', device 'dev', channel 'c', field 'address': expected an integer 0..65535, got '017'")
        expectError(oneChannel("          - {name: c, address: 1, sentinels: [00]}\n"), .configFile, line: 8,
                      "bus 'plc', device 'dev', channel 'c', field 'sentinels': expected an integer")
        expectError(oneChannel("          - {name: c, address: 1, valid_min: -017}\n"), .configFile, line: 8,
                      "bus 'plc', device 'dev', channel 'c', field 'valid_min': expected a finite number, got '-017'")
        let result = loadYAML(oneChannel("          - {name: c, address: 0, valid_min: 017.5, valid_max: 0x017, scale: 0.5}\n"))
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.channels.first?.point.codec.validMin == 17.5)
        #expect(result.config.channels.first?.point.codec.validMax == 23)
        #expect(parseUnsignedInteger("017", max: .max) == nil && parseUnsignedInteger("00", max: .max) == nil)
        #expect(parseUnsignedInteger("0", max: .max) == 0 && parseUnsignedInteger("0x017", max: .max) == 0x17)
        #expect(parseDecimalNumber("017") == nil && parseDecimalNumber("+00") == nil && parseDecimalNumber("01e3") == nil)
        #expect(parseDecimalNumber("0") == 0 && parseDecimalNumber("-0") == 0 && parseDecimalNumber("000.5") == 0.5)
    }
}
