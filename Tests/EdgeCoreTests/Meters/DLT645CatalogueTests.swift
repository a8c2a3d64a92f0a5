import Testing

@testable import EdgeCore

/// The compiled-in DL/T 645 data-identifier catalogue and value decoding (BCD least significant byte first,
/// decimals, sign bit, invalid digits, status words).
struct MetersDLT645CatalogueTests {
    func entry(_ name: String, _ version: DLT645Version = .v2007) -> DLT645CatalogueEntry? {
        DLT645Catalogue.entry(named: name, version: version)
    }

    @Test func namesAndIdentifiersFollowTheScheme() {
        let expected: [(String, UInt32, Int, Int, Bool, String)] = [
            ("combined_active_energy_total", 0x0000_0000, 4, 2, true, "kWh"),
            ("forward_active_energy_total", 0x0001_0000, 4, 2, false, "kWh"),
            ("forward_active_energy_t1", 0x0001_0100, 4, 2, false, "kWh"),
            ("forward_active_energy_t4", 0x0001_0400, 4, 2, false, "kWh"),
            ("forward_active_energy_t1_prev3", 0x0001_0103, 4, 2, false, "kWh"),
            ("reverse_active_energy_total_prev12", 0x0002_000C, 4, 2, false, "kWh"),
            ("combined_reactive1_energy_total", 0x0003_0000, 4, 2, true, "kvarh"),
            ("combined_reactive2_energy_t2_prev1", 0x0004_0201, 4, 2, true, "kvarh"),
            ("voltage_a", 0x0201_0100, 2, 1, false, "V"),
            ("voltage_c", 0x0201_0300, 2, 1, false, "V"),
            ("current_b", 0x0202_0200, 3, 3, true, "A"),
            ("active_power_total", 0x0203_0000, 3, 4, true, "kW"),
            ("active_power_c", 0x0203_0300, 3, 4, true, "kW"),
            ("reactive_power_a", 0x0204_0100, 3, 4, true, "kvar"),
            ("apparent_power_total", 0x0205_0000, 3, 4, true, "kVA"),
            ("power_factor_c", 0x0206_0300, 2, 3, true, ""),
            ("frequency", 0x0280_0002, 2, 2, false, "Hz"),
            ("date", 0x0400_0101, 4, 0, false, ""),
            ("time", 0x0400_0102, 3, 0, false, ""),
            ("meter_status_1", 0x0400_0501, 2, 0, false, ""),
            ("meter_status_7", 0x0400_0507, 2, 0, false, ""),
        ]
        for (name, identifier, length, decimals, signed, unit) in expected {
            let byName = entry(name)
            #expect(byName?.identifier == identifier, "\(name)")
            #expect(byName?.format.length == length && byName?.format.decimals == decimals
                        && byName?.format.signed == signed && byName?.format.unit == unit, "\(name)")
            #expect(DLT645Catalogue.entry(identifier: identifier, version: .v2007)?.name == name)
        }
        #expect(entry("meter_status_3")?.format.kind == .binary)
        // 5 energies x 5 parts x 13 periods + 3 + 3 + 3 x 4 + 4 + frequency, date, time + 7 status words.
        #expect(DLT645Catalogue.entries(.v2007).count == 325 + 3 + 3 + 12 + 4 + 3 + 7)
    }

    @Test func namesAndIdentifiersAreUnique() {
        for version in [DLT645Version.v2007, .v1997] {
            let entries = DLT645Catalogue.entries(version)
            #expect(Set(entries.map(\.identifier)).count == entries.count)
            #expect(Set(entries.map(\.name)).count == entries.count)
        }
    }

    @Test func unknownNamesAndIdentifiersAreNil() {
        #expect(entry("voltage_d") == nil)
        #expect(entry("Voltage_a") == nil)
        #expect(entry("forward_active_energy_t1_prev13") == nil)
        #expect(entry("") == nil)
        #expect(DLT645Catalogue.entry(identifier: 0x0201_FF00, version: .v2007) == nil)
        #expect(DLT645Catalogue.entry(identifier: 0x0001_000D, version: .v2007) == nil)
        #expect(DLT645Catalogue.entry(identifier: 0x9010, version: .v2007) == nil)
    }

    @Test func dlt1997Catalogue() {
        let expected: [(String, UInt32, Int, Int, String)] = [
            ("forward_active_energy_total", 0x9010, 4, 2, "kWh"), ("forward_active_energy_t3", 0x9013, 4, 2, "kWh"),
            ("reverse_active_energy_total", 0x9020, 4, 2, "kWh"),
            ("voltage_a", 0xB611, 2, 0, "V"), ("voltage_c", 0xB613, 2, 0, "V"),
            ("current_b", 0xB622, 2, 2, "A"), ("active_power_total", 0xB630, 3, 4, "kW"), ("active_power_c", 0xB633, 3, 4, "kW"),
        ]
        for (name, identifier, length, decimals, unit) in expected {
            let found = entry(name, .v1997)
            #expect(found?.identifier == identifier && found?.format.length == length
                        && found?.format.decimals == decimals && found?.format.unit == unit, "\(name)")
        }
        #expect(DLT645Catalogue.entries(.v1997).count == 5 + 5 + 3 + 3 + 4)
    }

    func decode(_ name: String, _ bytes: [UInt8]) -> Result<Double, MeterValueError> {
        guard let format = entry(name)?.format else { return .failure(.notInReply) }
        do throws(MeterValueError) {
            return .success(try format.decode(bytes))
        } catch {
            return .failure(error)
        }
    }

    @Test func valuesDecodeWithDecimalsAndSigns() {
        #expect(decode("voltage_a", [0x05, 0x22]) == .success(220.5))
        #expect(decode("current_a", [0x34, 0x12, 0x00]) == .success(1.234))
        #expect(decode("current_a", [0x34, 0x12, 0x80]) == .success(-1.234))
        #expect(decode("current_c", [0x99, 0x99, 0xF9]) == .success(-799.999))
        #expect(decode("active_power_total", [0x56, 0x34, 0x92]) == .success(-12.3456))
        #expect(decode("power_factor_total", [0x99, 0x00]) == .success(0.099))
        #expect(decode("power_factor_b", [0x00, 0x90]) == .success(-1.0))
        #expect(decode("frequency", [0x02, 0x50]) == .success(50.02))
        #expect(decode("date", [0x03, 0x02, 0x12, 0x26]) == .success(26_120_203))
        #expect(decode("time", [0x00, 0x30, 0x07]) == .success(73_000))
        #expect(decode("forward_active_energy_total", [0x00, 0x00, 0x00, 0x00]) == .success(0))
        #expect(decode("forward_active_energy_total", [0x99, 0x99, 0x99, 0x99]) == .success(999_999.99))
        // Status words are integers, bit by bit: 0x8001 (bit 15 and bit 0).
        #expect(decode("meter_status_1", [0x01, 0x80]) == .success(32_769))
        #expect(decode("meter_status_2", [0xFF, 0xFF]) == .success(65_535))
    }

    @Test func badValuesArePreciseErrors() {
        #expect(decode("voltage_a", [0x0A, 0x22]) == .failure(.invalidDigit(index: 0, byte: 0x0A)))
        #expect(decode("voltage_a", [0x05, 0xA2]) == .failure(.invalidDigit(index: 1, byte: 0xA2)))
        #expect(decode("current_a", [0x34, 0x12, 0x8A]) == .failure(.invalidDigit(index: 2, byte: 0x8A)))
        // Unsigned: the top bit is a digit, not a sign.
        #expect(decode("voltage_b", [0x00, 0x80]) == .success(800))
        #expect(decode("voltage_b", [0x00, 0xB0]) == .failure(.invalidDigit(index: 1, byte: 0xB0)))
        #expect(decode("voltage_a", [0xFF, 0xFF]) == .failure(.notAvailable))
        #expect(decode("voltage_a", [0x05]) == .failure(.length(expected: 2, received: 1)))
        #expect(decode("voltage_a", [0x05, 0x22, 0x00]) == .failure(.length(expected: 2, received: 3)))
        #expect(MeterValueError.notAvailable.status == 4)  // EDGECORE_STATUS_SENTINEL
        #expect(MeterValueError.invalidDigit(index: 0, byte: 0x0A).status == 2)  // EDGECORE_STATUS_CRC_ERROR
        #expect(MeterValueError.invalidDigit(index: 1, byte: 0xA2).message.text == "byte 1 (0xA2) is not BCD")
    }

    @Test func identifiersOutsideTheCatalogueTakeAGivenFormat() throws {
        let format = try MeterValueFormat.custom(length: 3, decimals: 2, signed: true, unit: "degC")
        #expect(try format.decode([0x50, 0x23, 0x81]) == -123.5)
        #expect(format.unit == "degC")
        #expect(throws: Failure.self) { try MeterValueFormat.custom(length: 0, decimals: 0, signed: false, unit: "") }
        #expect(throws: Failure.self) { try MeterValueFormat.custom(length: 9, decimals: 0, signed: false, unit: "") }
        #expect(throws: Failure.self) { try MeterValueFormat.custom(length: 2, decimals: 4, signed: false, unit: "") }
        #expect(throws: Failure.self) { try MeterValueFormat.custom(length: 2, decimals: 0, signed: true, unit: "", kind: .binary) }
        let wide = try MeterValueFormat.custom(length: 8, decimals: 0, signed: false, unit: "")
        #expect(try wide.decode([0x89, 0x67, 0x45, 0x23, 0x01, 0x89, 0x67, 0x45]) == 4_567_890_123_456_789)
    }
}
