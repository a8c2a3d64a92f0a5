@testable import EdgeCore

extension ChannelSpec {
    /// The registers of a channel the test made as a Modbus channel. A GPIO line's is an impossible one
    /// (device -1), so that an expectation on it fails instead of trapping.
    var point: ModbusPoint { modbus ?? ModbusPoint(device: -1, address: 0, codec: .defaults) }
}
