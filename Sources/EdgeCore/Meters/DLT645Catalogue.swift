/// One data identifier of the compiled-in catalogue: its DI (DI3..DI0 as a number, 0x02010100 for phase A
/// voltage; 1997: two bytes, 0xB611), its name and the format of its value.
struct DLT645CatalogueEntry: Equatable {
    let identifier: UInt32
    let name: String
    let format: MeterValueFormat

    static func == (a: DLT645CatalogueEntry, b: DLT645CatalogueEntry) -> Bool {
        a.identifier == b.identifier && sameText(a.name, b.name) && a.format == b.format
    }
}

/// The data identifiers a gateway reads, per edition, with their formats (DL/T 645-2007 appendix A; 1997:
/// the identifiers of docs/meter-protocols.md and their tariff siblings).
///
/// Names are stable snake_case, built as `<quantity>[_<part>][_prev<N>]`:
/// - quantity: `combined_active_energy`, `forward_active_energy`, `reverse_active_energy`,
///   `combined_reactive1_energy`, `combined_reactive2_energy`, `voltage`, `current`, `active_power`,
///   `reactive_power`, `apparent_power`, `power_factor`, `frequency`, `date`, `time`, `meter_status`;
/// - part: `total` or `t1`..`t4` (tariff) for energies; `total`, `a`, `b`, `c` for powers and power
///   factors; `a`, `b`, `c` for voltages and currents; `1`..`7` for status words; none otherwise;
/// - `_prev<N>`, N = 1..12: the value at the N-th previous settlement (2007 energies, DI0 = N).
/// Examples: forward_active_energy_total (0x00010000), forward_active_energy_t1_prev3 (0x00010103),
/// voltage_a (0x02010100), current_b (0x02020200), active_power_total (0x02030000), power_factor_c
/// (0x02060300), frequency (0x02800002), meter_status_1 (0x04000501).
///
/// Look-ups are linear over the table (a few hundred entries) with byte-wise name comparison: no String
/// hashing in the library's code paths.
enum DLT645Catalogue {
    /// The entry of `identifier`, nil if the catalogue does not hold it.
    static func entry(identifier: UInt32, version: DLT645Version) -> DLT645CatalogueEntry? {
        table(version).first { $0.identifier == identifier }
    }

    /// The entry named `name` (exact, lower case), nil if none.
    static func entry(named name: String, version: DLT645Version) -> DLT645CatalogueEntry? {
        table(version).first { sameText($0.name, name) }
    }

    /// Every entry of the edition, in identifier order of its families.
    static func entries(_ version: DLT645Version) -> [DLT645CatalogueEntry] { table(version) }

    private static func table(_ version: DLT645Version) -> [DLT645CatalogueEntry] {
        version == .v2007 ? catalogue2007 : catalogue1997
    }
}

/// The parts one family of identifiers has, and the name suffix of each index.
private enum CataloguePart {
    /// index 0 total, 1...4 tariffs t1..t4.
    case tariffs
    /// index 0 total, 1...3 phases a, b, c.
    case totalAndPhases
    /// index 1...3 phases a, b, c.
    case phases
    /// index 1...count: _1 .. _count.
    case numbered(Int)
    /// one identifier, no suffix.
    case single

    var indices: ClosedRange<Int> {
        switch self {
        case .tariffs: return 0...4
        case .totalAndPhases: return 0...3
        case .phases: return 1...3
        case .numbered(let count): return 1...count
        case .single: return 0...0
        }
    }

    func suffix(_ index: Int) -> String {
        switch self {
        case .tariffs: return index == 0 ? "_total" : "_t" + String(index)
        case .totalAndPhases, .phases: return ["_total", "_a", "_b", "_c"][index]
        case .numbered: return "_" + String(index)
        case .single: return ""
        }
    }
}

/// Identifiers `base + index * step (+ period)` for the part's indices, with the family's format.
private struct CatalogueFamily {
    let stem: StaticString
    let base: UInt32
    let step: UInt32
    let part: CataloguePart
    /// 2007 energies: also DI0 = 1...12, the previous settlement periods.
    let periods: Bool
    let format: MeterValueFormat

    init(_ stem: StaticString, _ base: UInt32, step: UInt32 = 0x100, _ part: CataloguePart, periods: Bool = false,
         length: Int, decimals: Int = 0, signed: Bool = false, kind: MeterValueKind = .bcd, unit: StaticString = "") {
        self.stem = stem
        self.base = base
        self.step = step
        self.part = part
        self.periods = periods
        format = MeterValueFormat(length: length, decimals: decimals, signed: signed, kind: kind,
                                  unit: Message.string(unit))
    }

    func append(to entries: inout [DLT645CatalogueEntry]) {
        for period in 0...(periods ? 12 : 0) {
            for index in part.indices {
                let name = Message.string(stem) + part.suffix(index) + (period > 0 ? "_prev" + String(period) : "")
                entries.append(DLT645CatalogueEntry(identifier: base + UInt32(index) * step + UInt32(period),
                                                    name: name, format: format))
            }
        }
    }
}

private func buildCatalogue(_ families: [CatalogueFamily]) -> [DLT645CatalogueEntry] {
    var entries: [DLT645CatalogueEntry] = []
    for family in families { family.append(to: &entries) }
    return entries
}

// Combined energies (active: forward minus reverse; reactive 1/2: sums of quadrants by the meter's setting)
// can be negative: the top bit of their most significant byte is the sign (range +-799999.99). Forward and
// reverse energies cannot. docs/meters-sources.md.
private let catalogue2007 = buildCatalogue([
    CatalogueFamily("combined_active_energy", 0x0000_0000, .tariffs, periods: true, length: 4, decimals: 2, signed: true, unit: "kWh"),
    CatalogueFamily("forward_active_energy", 0x0001_0000, .tariffs, periods: true, length: 4, decimals: 2, unit: "kWh"),
    CatalogueFamily("reverse_active_energy", 0x0002_0000, .tariffs, periods: true, length: 4, decimals: 2, unit: "kWh"),
    CatalogueFamily("combined_reactive1_energy", 0x0003_0000, .tariffs, periods: true, length: 4, decimals: 2, signed: true, unit: "kvarh"),
    CatalogueFamily("combined_reactive2_energy", 0x0004_0000, .tariffs, periods: true, length: 4, decimals: 2, signed: true, unit: "kvarh"),
    CatalogueFamily("voltage", 0x0201_0000, .phases, length: 2, decimals: 1, unit: "V"),
    CatalogueFamily("current", 0x0202_0000, .phases, length: 3, decimals: 3, signed: true, unit: "A"),
    CatalogueFamily("active_power", 0x0203_0000, .totalAndPhases, length: 3, decimals: 4, signed: true, unit: "kW"),
    CatalogueFamily("reactive_power", 0x0204_0000, .totalAndPhases, length: 3, decimals: 4, signed: true, unit: "kvar"),
    CatalogueFamily("apparent_power", 0x0205_0000, .totalAndPhases, length: 3, decimals: 4, signed: true, unit: "kVA"),
    CatalogueFamily("power_factor", 0x0206_0000, .totalAndPhases, length: 2, decimals: 3, signed: true),
    CatalogueFamily("frequency", 0x0280_0002, .single, length: 2, decimals: 2, unit: "Hz"),
    // Date YYMMDDWW (WW: weekday, 0 = Sunday) and time hhmmss, as the BCD numbers they are.
    CatalogueFamily("date", 0x0400_0101, .single, length: 4),
    CatalogueFamily("time", 0x0400_0102, .single, length: 3),
    CatalogueFamily("meter_status", 0x0400_0500, step: 1, .numbered(7), length: 2, kind: .binary),
])

private let catalogue1997 = buildCatalogue([
    CatalogueFamily("forward_active_energy", 0x9010, step: 1, .tariffs, length: 4, decimals: 2, unit: "kWh"),
    CatalogueFamily("reverse_active_energy", 0x9020, step: 1, .tariffs, length: 4, decimals: 2, unit: "kWh"),
    CatalogueFamily("voltage", 0xB610, step: 1, .phases, length: 2, unit: "V"),
    CatalogueFamily("current", 0xB620, step: 1, .phases, length: 2, decimals: 2, unit: "A"),
    CatalogueFamily("active_power", 0xB630, step: 1, .totalAndPhases, length: 3, decimals: 4, unit: "kW"),
])
