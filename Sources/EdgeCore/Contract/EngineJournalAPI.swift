import CShim

// The engine's journal: argument checks and marshalling only (the journal thread: Engine/EngineJournal.swift).
//
// The handle of a journal: `struct edgecore_journal *` is `Unmanaged<Journal>.toOpaque()` of the Journal
// object, the representation the edgecore_journal_* functions (JournalAPI.swift) turn back with
// `Unmanaged<Journal>.fromOpaque`. edgecore_engine_journal hands out the engine's journal unretained: the
// engine holds the strong reference, so the borrowed pointer lives as long as the engine keeps that journal.

@c @implementation
public func edgecore_engine_set_journal_sized(_ engine: OpaquePointer?, _ folder: UnsafePointer<CChar>?,
                                              _ config: UnsafePointer<edgecore_journal_config>?, _ size: Int) -> Int32 {
    guard let engine else { return nullArgument("engine is required") }
    return withEngine(engine) { engine in
        do throws(Failure) {
            guard !engine.isRunning else {
                throw Failure(.running, "the engine is running: stop it to change its journal")
            }
            guard let folder else {
                try engine.setJournal(nil, settings: JournalSettings())
                return EDGECORE_OK
            }
            var c = edgecore_journal_config.defaults
            if let config, let code = loadSettings(config, size: size, into: &c, kind: "journal") { return code }
            let spec = JournalSpec(path: FilePath(cString: folder), settings: try JournalSettings(c))
            try engine.setJournal(try openJournal(spec, replacing: engine), settings: spec.settings)
            return EDGECORE_OK
        } catch {
            return failure(error)
        }
    }
}

@c @implementation
public func edgecore_engine_journal(_ engine: OpaquePointer?) -> OpaquePointer? {
    guard let engine else { return nil }
    return withEngine(engine) { engine in
        engine.shared.visit { _ in engine.journal.map { OpaquePointer(Unmanaged.passUnretained($0).toOpaque()) } }
    }
}

@c @implementation
public func edgecore_engine_journal_stats_sized(_ engine: OpaquePointer?,
                                                _ statsOut: UnsafeMutablePointer<edgecore_engine_journal_stats>?,
                                                _ size: Int) -> Int32 {
    guard let engine, let statsOut else { return nullArgument("engine and stats_out are required") }
    return withEngineShared(engine) { engine in
        storeStats(edgecore_engine_journal_stats(engine.journalStats()), into: statsOut, size: size)
    }
}

/// edgecore_engine_load_yaml: the site file into a copy of the configuration, and the journal it names
/// opened, before either becomes the engine's (all or nothing). A file without a `journal` section keeps
/// the engine's journal.
func loadSiteFile(_ engine: Engine, _ file: FilePath) throws(Failure) {
    var opened: Journal? = nil
    var settings = JournalSettings()
    try engine.configure { config throws(Failure) in
        let named = config.journal
        try config.setJournal(nil)
        try loadSiteYAML(path: file, into: &config)
        guard let spec = config.journal else {
            try config.setJournal(named)
            return
        }
        do throws(Failure) {
            opened = try openJournal(spec, replacing: engine)
        } catch {
            throw Failure(error, "\(file): journal")
        }
        settings = spec.settings
    }
    guard let opened else { return }
    do throws(Failure) {
        try engine.setJournal(opened, settings: settings)
    } catch {
        try? opened.close()
        throw error
    }
}

/// Opens the journal `spec` names and adds its cursors; closed again if a cursor fails. A journal's folder
/// has one handle at a time (it is locked): when the engine's journal is the same folder (a site file
/// loaded again), the engine's is closed first and the folder opened again, and a failure then leaves the
/// engine without a journal. Otherwise the old one is closed only once the new one has opened
/// (Engine.setJournal), so a failure leaves the engine its journal.
private func openJournal(_ spec: JournalSpec, replacing engine: Engine) throws(Failure) -> Journal {
    if let current = engine.journal, current.folder == spec.path { try engine.setJournal(nil, settings: JournalSettings()) }
    let journal = try Journal(folder: spec.path, settings: spec.settings)
    do throws(Failure) {
        for name in spec.cursors { _ = try journal.addCursor(name) }
    } catch {
        try? journal.close()
        throw error
    }
    return journal
}

extension edgecore_engine_journal_stats {
    init(_ stats: EngineJournalStats) {
        self.init()
        appended = stats.appended
        lost = stats.lost
        append_failures = stats.appendFailures
        failed_readings = stats.failedReadings
        waiting = stats.waiting
        last_error = stats.lastError.map { resultCode($0) } ?? 0
    }
}
