import CShim

// Device profiles (docs/profiles.md): a site file's device says `profile: NAME`, and the file NAME.yaml gives
// the device's fields and channels. A profile file is a device mapping without `name` (the fields of the
// schema in SiteYAML.swift: protocol, Modbus or meter settings, holes, channels), read by this reader (no
// second parser) and checked on its own the first time a site names it, so that its errors name the profile
// file and its line. Then each device naming it is read as one mapping: the site device's fields over the
// profile's (a field the site gives, null included, hides the profile's); the profile's channels, in its
// order, each with the fields of the site channel of the same name over its own; then the site's other
// channels, which must say what they read (`address`, `item` or `di`). Every channel of the device is named
// "<device>.<name>".
//
// Where a profile is found: NAME.yaml in (1) the folder `profiles` beside the site file, (2) each folder of
// $EDGECORE_PROFILES (colon-separated), (3) /usr/share/edgecore/profiles; the first found is used.

/// The profiles a site file names, each loaded and checked once, held until the site file is read.
final class ProfileStore {
    let sitePath: FilePath
    private var files: [YAMLFile] = []
    private var byName = [TextKey: Int]()

    init(sitePath: FilePath) {
        self.sitePath = sitePath
    }

    static let systemFolder: StaticString = "/usr/share/edgecore/profiles"

    /// The folders searched, in order.
    func folders() -> [FilePath] {
        var result: [FilePath] = []
        result.append((sitePath.folder ?? FilePath(".")).appending("/profiles"))
        if let list = environmentValue("EDGECORE_PROFILES") {
            for part in list.utf8.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: true) {
                result.append(FilePath(String(decoding: part, as: UTF8.self)))
            }
        }
        result.append(FilePath(stringLiteral: ProfileStore.systemFolder))
        return result
    }

    /// The document holding `node`, if it is a profile's.
    func document(holding node: UnsafeMutablePointer<yaml_node_t>) -> UnsafeMutablePointer<yaml_document_t>? {
        for file in files where file.holds(node) { return file.document }
        return nil
    }

    /// The loaded profile `name` (nil: not loaded yet).
    func loaded(_ name: String) -> YAMLFile? {
        byName[TextKey(name)].map { files[$0] }
    }

    func keep(_ file: YAMLFile, as name: String) {
        byName[TextKey(name)] = files.count
        files.append(file)
    }

    func release() {
        for file in files { file.release() }
        files = []
        byName = [:]
    }
}

/// A profile's name: letters, digits, '_', '-', '.', not starting with '.' (it is a file name, never a path).
func isProfileName(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard !bytes.isEmpty, bytes.count <= 64, bytes[0] != UInt8(ascii: ".") else { return false }
    for byte in bytes {
        let ok = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        if !ok { return false }
    }
    return true
}

extension SiteYAMLReader {
    /// The profile `name`, found, loaded and checked (once per site file); errors at the site's `line`.
    func profileFile(_ name: String, at line: Int, _ context: String) throws(Failure) -> YAMLFile {
        if let file = profiles.loaded(name) { return file }
        guard isProfileName(name) else {
            throw fieldFailure(line, context, "profile",
                               "'\(name)' is no profile name (letters, digits, '_', '-', '.'; a name, not a path)")
        }
        var searched = ""
        for folder in profiles.folders() {
            let candidate = folder.appending("/\(name).yaml")
            let file: YAMLFile
            do throws(Failure) {
                file = try YAMLFile.load(path: candidate)
            } catch {
                if case .system(let errno) = error.kind, errno == .noEntry || errno == .notDirectory {
                    if !searched.isEmpty { searched += ", " }
                    searched += folder.description
                    continue
                }
                throw Failure(error.kind, "\(path):\(line): \(context), profile '\(name)': \(error.message)")
            }
            profiles.keep(file, as: name)
            var reader = SiteYAMLReader(path: candidate, document: file.document, profiles: profiles)
            reader.isProfile = true
            try reader.checkProfile(name)
            return file
        }
        throw fieldFailure(line, context, "profile", "no profile '\(name)' (looked for \(name).yaml in: \(searched))")
    }

    /// The profile file's root mapping, as this reader's (a profile file's) item.
    func profileRoot(_ name: String) throws(Failure) -> YAMLMapping {
        guard let rootPointer = yaml_document_get_root_node(document) else {
            throw failure(1, "", "profile '\(name)' is empty: expected a device's fields and channels")
        }
        let root = YAMLNode(pointer: rootPointer)
        guard root.isMapping else {
            throw failure(root.line, "", "expected a mapping (a device's fields and channels), got \(root.described)")
        }
        return try mapping(root, context: "profile '\(name)'")
    }

    /// Reads the profile alone (on a scratch bus, into a scratch configuration): its own errors name its file.
    func checkProfile(_ name: String) throws(Failure) {
        let fields = try profileRoot(name)
        var scratch = SiteConfig()
        let bus: Int
        do throws(Failure) {
            bus = try scratch.addBus(.rtu(RTUBusSpec(name: "profile", device: FilePath("/dev/null"))))
        } catch { throw located(error, fields.line) }
        let (device, deviceProtocol, channels) = try loadDeviceFields(fields, name: name, bus: bus, into: &scratch)
        guard let channels else { return }
        for (index, channel) in channels.enumerated() {
            try loadChannel(channel, number: index + 1, device: device, deviceProtocol: deviceProtocol,
                            deviceContext: fields.context, into: &scratch)
        }
    }

    /// A device with a profile: the site's fields over the profile's, the channels merged by name.
    func loadProfiledDevice(_ site: YAMLMapping, name: String, profile profileName: String, at line: Int, bus: Int,
                            into config: inout SiteConfig) throws(Failure) {
        let file = try profileFile(profileName, at: line, site.context)
        var profileReader = SiteYAMLReader(path: file.path, document: file.document, profiles: profiles)
        profileReader.isProfile = true
        let base = try profileReader.profileRoot(profileName)
        let baseChannels = try profileReader.channelMappings(base, context: base.context)
        let siteChannels = try channelMappings(site, context: site.context)

        let skipped: [StaticString] = ["name", "profile", "channels"]
        let fields = merged(site, over: base, skipping: skipped, context: site.context)
        let device: Int
        let deviceProtocol: DeviceProtocol
        do throws(Failure) {
            (device, deviceProtocol, _) = try loadDeviceFields(fields, name: name, bus: bus, into: &config)
        } catch {
            throw relocated(error, site, base, profile: file.path)
        }

        var used = [Bool](repeating: false, count: siteChannels.count)
        for channel in baseChannels {
            let overriding = siteChannels.firstIndex { sameText($0.name, channel.name) }
            if let overriding { used[overriding] = true }
            let full = "\(name).\(channel.name)"
            let context = ("\(site.context), channel '\(full)' (profile '\(profileName)')" as Message).text
            let siteFields = overriding.map { siteChannels[$0].fields }
            let channelFields = merged(siteFields, over: channel.fields, skipping: ["name"], context: context)
            do throws(Failure) {
                try loadChannelFields(channelFields, name: full, device: device, deviceProtocol: deviceProtocol,
                                      into: &config)
            } catch {
                throw relocated(error, siteFields, channel.fields, profile: file.path)
            }
        }
        for (index, channel) in siteChannels.enumerated() where !used[index] {
            let sources: [StaticString] = deviceProtocol.isMeter ? ["item", "di"] : ["address"]
            if given(channel.fields, sources).isEmpty {
                var names = ""
                for base in baseChannels {
                    if !names.isEmpty { names += ", " }
                    names += base.name
                }
                throw failure(channel.fields.line, channel.fields.context,
                              "profile '\(profileName)' has no channel '\(channel.name)' (its channels: \(names)); a channel of the device's own gives \(deviceProtocol.isMeter ? "'item' or 'di'" : "'address'")")
            }
            let full = "\(name).\(channel.name)"
            let context = ("\(site.context), channel '\(full)'" as Message).text
            let channelFields = merged(channel.fields, over: nil, skipping: ["name"], context: context)
            try loadChannelFields(channelFields, name: full, device: device, deviceProtocol: deviceProtocol,
                                  into: &config)
        }
    }

    /// An error of an item merged from the site's `top` and the profile's `base`, located in the profile file
    /// when its line is one of the profile's entries (or the item's, given by the profile alone) and none of
    /// the site's: a profile field that a site override made wrong (a sentinel too wide for the type the
    /// site gave, a channel wider than the site's max_registers) is shown where it is written.
    func relocated(_ error: Failure, _ top: YAMLMapping?, _ base: YAMLMapping, profile: FilePath) -> Failure {
        let prefix = Array(("\(path):" as Message).text.utf8)
        let text = Array(error.message.utf8)
        guard text.count > prefix.count, Array(text[0..<prefix.count]) == prefix else { return error }
        var line = 0
        var end = prefix.count
        while end < text.count, text[end] >= UInt8(ascii: "0"), text[end] <= UInt8(ascii: "9"), line < 10_000_000 {
            line = line * 10 + Int(text[end] - UInt8(ascii: "0"))
            end += 1
        }
        guard end > prefix.count, end < text.count, text[end] == UInt8(ascii: ":") else { return error }
        var profileLines = top == nil ? [base.line] : []
        var siteLines = top.map { [$0.line] } ?? []
        for entry in base.entries where !(top?.contains(entry.key) ?? false) { profileLines.append(entry.value.line) }
        for entry in top?.entries ?? [] { siteLines.append(entry.value.line) }
        guard profileLines.contains(line), !siteLines.contains(line) else { return error }
        let rest = String(decoding: text[end...], as: UTF8.self)
        return Failure(error.kind, "\(profile):\(line)\(rest)")
    }

    /// The channels of an item (a site device, a profile), each a mapping with its name.
    func channelMappings(_ fields: YAMLMapping, context: String) throws(Failure) -> [(name: String, fields: YAMLMapping)] {
        let nodes = list(fields, "channels")
        if let failure = fields.failure { throw failure }
        var result: [(name: String, fields: YAMLMapping)] = []
        guard let nodes else { return result }
        for (index, node) in nodes.enumerated() {
            let channel = try mapping(node, context: "\(context), channel #\(index + 1)")
            let name = try requiredString(channel, "name")
            channel.context = ("\(context), channel '\(name)'" as Message).text
            if result.contains(where: { sameText($0.name, name) }) {
                throw failure(channel.line, channel.context, "the name is already used by another channel of the device")
            }
            result.append((name: name, fields: channel))
        }
        return result
    }

    /// One mapping of `top`'s entries and those of `base` that `top` does not give, but the `skipped` keys.
    func merged(_ top: YAMLMapping?, over base: YAMLMapping?, skipping skipped: [StaticString],
                context: String) -> YAMLMapping {
        let result = YAMLMapping(line: top?.line ?? base?.line ?? 1, context: context)
        let isSkipped = { (key: String) in skipped.contains { sameText(Message.string($0), key) } }
        if let top {
            for entry in top.entries where !isSkipped(entry.key) {
                result.append(key: entry.key, keyLine: entry.value.line, value: entry.value)
            }
        }
        if let base {
            for entry in base.entries where !isSkipped(entry.key) && !(top?.contains(entry.key) ?? false) {
                result.append(key: entry.key, keyLine: entry.value.line, value: entry.value)
            }
        }
        return result
    }
}
