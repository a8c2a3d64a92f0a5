import CShim

// The site file's `journal` section: the engine's journal (its folder, settings and the cursors it starts
// with). Sizes are given in the units a technician thinks in (size_limit_mb, segment_size_kb); the other
// keys are the fields of struct edgecore_journal_config, with the table's defaults.

extension SiteYAMLReader {
    private static let bytesPerMB: UInt64 = 1 << 20
    private static let bytesPerKB: UInt64 = 1 << 10

    func loadJournal(_ node: YAMLNode, into config: inout SiteConfig) throws(Failure) {
        let fields = try mapping(node, context: "journal")
        let path = string(fields, "path")
        var settings = JournalSettings()
        let sizeLimitMB = integer(fields, "size_limit_mb", UInt64.self)
        let segmentSizeKB = integer(fields, "segment_size_kb", UInt32.self)
        read(fields, JournalTable.syncIntervalMs, into: &settings.syncIntervalMs)
        read(fields, JournalTable.syncEveryReadings, into: &settings.syncEveryReadings)
        read(fields, JournalTable.maxSyncsPerHour, into: &settings.maxSyncsPerHour)
        if let policy = keyword(fields, JournalTable.whenFull.key, .fullPolicies) {
            settings.whenFull = JournalFullPolicy(rawValue: UInt16(policy)) ?? settings.whenFull
        }
        let cursorNodes = list(fields, "cursors")
        try finish(fields)
        var spec = JournalSpec(path: FilePath(try required(path, fields, "path")))
        if let segmentSizeKB {
            let lowest = UInt64(JournalTable.segmentSize.lowest) / Self.bytesPerKB
            let highest = UInt64(JournalTable.segmentSize.highest) / Self.bytesPerKB
            guard UInt64(segmentSizeKB) >= lowest, UInt64(segmentSizeKB) <= highest else {
                throw rangeFailure(fields, "segment_size_kb", "must be \(lowest)..\(highest), not \(segmentSizeKB)")
            }
            settings.segmentSize = segmentSizeKB * UInt32(Self.bytesPerKB)
        }
        if let sizeLimitMB {
            guard sizeLimitMB >= 1, sizeLimitMB <= UInt64.max / Self.bytesPerMB else {
                throw rangeFailure(fields, "size_limit_mb", "must be 1..\(UInt64.max / Self.bytesPerMB), not \(sizeLimitMB)")
            }
            settings.sizeLimit = sizeLimitMB * Self.bytesPerMB
        }
        spec.settings = settings
        for item in cursorNodes ?? [] {
            spec.cursors.append(try string(item, fields.context, "cursors"))
        }
        do throws(Failure) {
            try config.setJournal(spec)
        } catch {
            throw located(error, fields.line)
        }
    }

    /// A value of the section out of its range, at the value's line.
    private func rangeFailure(_ fields: YAMLMapping, _ key: StaticString, _ what: Message) -> Failure {
        let line = fields.entry(key)?.value.line ?? fields.line
        return Failure(.config, "\(path):\(line): journal, field '\(Message.string(key))': \(what)")
    }
}
