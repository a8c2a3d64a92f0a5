import CShim

/// How a channel's raw registers become a number (enum edgecore_value_type).
enum ValueType: Equatable {
    case u16, i16, u32, i32, u64, i64, f32, f64, bit

    init?(_ raw: UInt8) {
        switch UInt32(raw) {
        case EDGECORE_TYPE_U16.rawValue: self = .u16
        case EDGECORE_TYPE_I16.rawValue: self = .i16
        case EDGECORE_TYPE_U32.rawValue: self = .u32
        case EDGECORE_TYPE_I32.rawValue: self = .i32
        case EDGECORE_TYPE_U64.rawValue: self = .u64
        case EDGECORE_TYPE_I64.rawValue: self = .i64
        case EDGECORE_TYPE_F32.rawValue: self = .f32
        case EDGECORE_TYPE_F64.rawValue: self = .f64
        case EDGECORE_TYPE_BIT.rawValue: self = .bit
        default: return nil
        }
    }

    /// Registers one value occupies (a bit of a register occupies that register).
    var registerCount: Int {
        switch self {
        case .u16, .i16, .bit: return 1
        case .u32, .i32, .f32: return 2
        case .u64, .i64, .f64: return 4
        }
    }

    var isInteger: Bool { self != .f32 && self != .f64 }
}

/// Byte and word order (enum edgecore_word_order): see the header for the two rules.
enum WordOrder: Equatable {
    case abcd, cdab, badc, dcba

    init?(_ raw: UInt8) {
        switch UInt32(raw) {
        case EDGECORE_ORDER_ABCD.rawValue: self = .abcd
        case EDGECORE_ORDER_CDAB.rawValue: self = .cdab
        case EDGECORE_ORDER_BADC.rawValue: self = .badc
        case EDGECORE_ORDER_DCBA.rawValue: self = .dcba
        default: return nil
        }
    }

    /// The most significant register comes first on the wire.
    var mostSignificantWordFirst: Bool { self == .abcd || self == .badc }
    /// Each register's bytes arrive high byte first (Modbus' own order).
    var highByteFirst: Bool { self == .abcd || self == .cdab }
}

/// Everything needed to turn a channel's raw data into a reading value and status, and a value back into
/// raw registers for a write. Validated on construction; decoding never fails, it yields a status.
struct ValueCodec: Equatable {
    var type: ValueType
    var order: WordOrder
    /// Bit of the register for `.bit` on registers (0 = least significant).
    var bit: UInt8
    var scale: Double
    var offset: Double
    /// nil: no bound.
    var validMin: Double?
    var validMax: Double?
    /// Raw values (the type's width, after order) that mean "not available".
    var sentinels: [UInt64]
}
