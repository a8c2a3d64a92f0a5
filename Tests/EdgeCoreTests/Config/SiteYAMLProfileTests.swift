import CShim
import Foundation
import Testing

@testable import EdgeCore

// Device profiles (docs/profiles.md): found beside the site file or through EDGECORE_PROFILES, the site's
// device and channel fields over the profile's, and the errors of each file at its own line.

/// A folder with `site.yaml` and `profiles/NAME.yaml` for each profile given (or the profiles in `profileFolder`
/// when it names another folder), loaded, then removed.
private func loadWithProfiles(_ site: String, profiles: [String: String], besideSite: Bool = true,
                              environment: Bool = false) -> (result: LoadResult, folder: String) {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("edgecore-profile-\(UUID().uuidString)", isDirectory: true)
    let siteFolder = directory.appendingPathComponent("site", isDirectory: true)
    let profileFolder = besideSite ? siteFolder.appendingPathComponent("profiles", isDirectory: true)
                                   : directory.appendingPathComponent("elsewhere", isDirectory: true)
    try? FileManager.default.createDirectory(at: profileFolder, withIntermediateDirectories: true)
    try? FileManager.default.createDirectory(at: siteFolder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    for (name, text) in profiles {
        FileManager.default.createFile(atPath: profileFolder.appendingPathComponent("\(name).yaml").path,
                                       contents: Data(text.utf8))
    }
    let path = siteFolder.appendingPathComponent("site.yaml").path
    FileManager.default.createFile(atPath: path, contents: Data(site.utf8))
    if environment { setenv("EDGECORE_PROFILES", "/nonexistent:\(profileFolder.path)", 1) }
    defer { if environment { unsetenv("EDGECORE_PROFILES") } }
    return (loadFile(path), profileFolder.path)
}

private let meterProfile = """
# A test profile.
protocol: modbus
max_registers: 40
one_channel_per_request: true
channels:
  - name: voltage
    function: input
    address: 0
    type: f32
    unit: V
  - name: current
    function: input
    address: 6
    type: f32
    unit: A
    valid_max: 100
"""

private func site(_ device: String) -> String {
    """
    buses:
      - name: line
        type: tcp
        host: 127.0.0.1
        devices:
    \(device)
    """
}

@Suite(.serialized) struct SiteYAMLProfileTests {
    @Test func profileBesideTheSiteFileGivesFieldsAndChannels() throws {
        let (result, _) = loadWithProfiles(site("""
              - name: m1
                profile: meter
                unit_id: 7
        """), profiles: ["meter": meterProfile])
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        let config = result.config
        try #require(config.devices.count == 1 && config.channels.count == 2)
        #expect(config.devices[0].unitId == 7)
        #expect(config.devices[0].maxRegisters == 40)
        #expect(config.devices[0].oneChannelPerRequest)
        #expect(config.channels.map(\.name) == ["m1.voltage", "m1.current"])
        #expect(config.channels[0].modbus?.function == .inputRegisters)
        #expect(config.channels[0].modbus?.codec.type == .f32)
        #expect(config.channels[1].modbus?.address == 6)
        #expect(config.channels[1].unit == "A")
        #expect(config.channels[1].modbus?.codec.validMax == 100)
    }

    @Test func profileFoundThroughEnvironment() throws {
        let (result, _) = loadWithProfiles(site("""
              - name: m1
                profile: meter
        """), profiles: ["meter": meterProfile], besideSite: false, environment: true)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.channels.count == 2)
    }

    @Test func siteOverridesDeviceAndChannelFieldsAndAddsChannels() throws {
        let (result, _) = loadWithProfiles(site("""
              - name: m1
                profile: meter
                one_channel_per_request: false
                max_registers: ~
                channels:
                  - name: current
                    scale: 0.5
                    valid_max: ~
                    unit: mA
                  - name: frequency
                    function: input
                    address: 70
                    type: f32
        """), profiles: ["meter": meterProfile])
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        let config = result.config
        try #require(config.devices.count == 1 && config.channels.count == 3)
        #expect(!config.devices[0].oneChannelPerRequest)
        #expect(config.devices[0].maxRegisters == DeviceTable.maxRegisters.defaultValue)
        #expect(config.channels.map(\.name) == ["m1.voltage", "m1.current", "m1.frequency"])
        #expect(config.channels[1].unit == "mA")
        #expect(config.channels[1].modbus?.codec.scale == 0.5)
        #expect(config.channels[1].modbus?.codec.type == .f32)
        #expect(config.channels[1].modbus?.codec.validMax == nil)
        #expect(config.channels[2].modbus?.address == 70)
    }

    @Test func twoDevicesShareOneProfile() throws {
        let (result, _) = loadWithProfiles(site("""
              - name: a
                profile: meter
                unit_id: 1
              - name: b
                profile: meter
                unit_id: 2
        """), profiles: ["meter": meterProfile])
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.channels.map(\.name) == ["a.voltage", "a.current", "b.voltage", "b.current"])
    }

    @Test func unknownProfileNamesItAndTheFoldersSearched() throws {
        let (result, folder) = loadWithProfiles(site("""
              - name: m1
                profile: nosuch
        """), profiles: ["meter": meterProfile])
        let error = try #require(result.error)
        #expect(error.kind == .configFile)
        #expect(error.message.hasPrefix("\(result.path):7: bus 'line', device 'm1', field 'profile': no profile 'nosuch' (looked for nosuch.yaml in: \(folder)"), "\(error.message)")
        #expect(error.message.contains("/usr/share/edgecore/profiles"))
    }

    @Test func aProfileNameIsNoPath() throws {
        let (result, _) = loadWithProfiles(site("""
              - name: m1
                profile: ../meter
        """), profiles: ["meter": meterProfile])
        let error = try #require(result.error)
        #expect(error.message.hasPrefix("\(result.path):7: bus 'line', device 'm1', field 'profile': '../meter' is no profile name"), "\(error.message)")
    }

    @Test func badProfileErrorNamesTheProfileFileAndLine() throws {
        let bad = meterProfile.replacingOccurrences(of: "    type: f32\n    unit: A", with: "    type: f99\n    unit: A")
        let (result, folder) = loadWithProfiles(site("""
              - name: m1
                profile: meter
        """), profiles: ["meter": bad])
        let error = try #require(result.error)
        #expect(error.message.hasPrefix("\(folder)/meter.yaml:14: profile 'meter', channel 'current', field 'type': unknown"), "\(error.message)")
    }

    @Test func unknownKeyInProfileNamesTheProfileFile() throws {
        let (result, folder) = loadWithProfiles(site("""
              - name: m1
                profile: meter
        """), profiles: ["meter": "protocol: modbus\nname: x\n"])
        let error = try #require(result.error)
        #expect(error.message.hasPrefix("\(folder)/meter.yaml:2: profile 'meter', field 'name': unknown key"), "\(error.message)")
    }

    @Test func channelOverrideNamingNoProfileChannelIsRefused() throws {
        let (result, _) = loadWithProfiles(site("""
              - name: m1
                profile: meter
                channels:
                  - name: voltge
                    unit: kV
        """), profiles: ["meter": meterProfile])
        let error = try #require(result.error)
        #expect(error.message.hasPrefix("\(result.path):9: bus 'line', device 'm1', channel 'voltge': profile 'meter' has no channel 'voltge' (its channels: voltage, current)"), "\(error.message)")
    }

    @Test func siteOverrideErrorsNameTheSiteFile() throws {
        let (result, _) = loadWithProfiles(site("""
              - name: m1
                profile: meter
                channels:
                  - name: voltage
                    order: sideways
        """), profiles: ["meter": meterProfile])
        let error = try #require(result.error)
        #expect(error.message.hasPrefix("\(result.path):10: bus 'line', device 'm1', channel 'm1.voltage' (profile 'meter'), field 'order': unknown"), "\(error.message)")
    }

    @Test func meterProfileTakesTheAddressFromTheSite() throws {
        let profile = """
        protocol: dlt645-2007
        channels:
          - name: energy
            item: forward_active_energy_total
        """
        let transparent = { (device: String) in site(device).replacingOccurrences(of: "host: 127.0.0.1", with: "host: 127.0.0.1\n    framing: transparent") }
        let (result, _) = loadWithProfiles(transparent("""
              - name: m1
                profile: dlt
                meter_address: '000000000042'
        """), profiles: ["dlt": profile])
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        #expect(result.config.channels.map(\.name) == ["m1.energy"])
        #expect(result.config.devices.first?.deviceProtocol == .dlt645v2007)
        let missing = loadWithProfiles(transparent("""
              - name: m1
                profile: dlt
        """), profiles: ["dlt": profile]).result
        #expect(missing.error?.message.contains("field 'meter_address': missing") == true, "\(missing.error?.message ?? "")")
    }
}

@Suite struct SiteYAMLProfileOriginTests {
    private let profile = """
    protocol: modbus
    channels:
      - name: flags
        address: 4
        type: u32
        sentinels: [0xFFFFFFFF]
      - name: energy
        address: 10
        type: f32
    """

    /// A profile field made wrong by a site override is shown in the profile file, at its own line.
    @Test func profileFieldMadeWrongByTheSiteIsLocatedInTheProfile() throws {
        let (result, folder) = loadWithProfiles(site("""
              - name: m1
                profile: p
                channels:
                  - name: flags
                    type: u16
        """), profiles: ["p": profile])
        let error = try #require(result.error)
        #expect(error.message.hasPrefix("\(folder)/p.yaml:6: bus 'line', device 'm1', channel 'm1.flags' (profile 'p'), field 'sentinels'"), "\(error.message)")
    }

    /// A profile channel the site's device fields make wrong: at the channel in the profile file.
    @Test func profileChannelMadeWrongByADeviceOverrideIsLocatedInTheProfile() throws {
        let (result, folder) = loadWithProfiles(site("""
              - name: m1
                profile: p
                max_registers: 1
        """), profiles: ["p": profile])
        let error = try #require(result.error)
        #expect(error.message.hasPrefix("\(folder)/p.yaml:3: "), "\(error.message)")
        #expect(error.message.contains("channel 'm1.flags'"), "\(error.message)")
    }
}
