/// The journal: readings on flash in segment files, with named consumer cursors (docs/journal-format.md,
/// edgecore.h's Journal section). Thread-safe: one lock serialises every call.
final class Journal {
    /// Opens (creating when missing or empty) the journal in the real folder `path`.
    convenience init(folder path: FilePath, settings: JournalSettings) throws(Failure) {
        try self.init(files: FolderFiles(path), settings: settings, clock: { Clock.monotonicNanoseconds() })
    }

    /// Opens the journal over any file backend (the power-cut simulator in tests); `clock` gives monotonic
    /// nanoseconds for the sync policy.
    init(files: any JournalFiles, settings: JournalSettings, clock: @escaping () -> Int64) throws(Failure) {
        throw Failure(.invalidArgument, "journal: not implemented yet")
    }

    /// Appends `readings` (all or nothing); returns the sequence of the first. Syncs when the policy says.
    func append(_ readings: UnsafeBufferPointer<Reading>) throws(Failure) -> UInt64 {
        throw Failure(.invalidArgument, "journal: not implemented yet")
    }

    /// Syncs when the policy says one is due; true if it synced.
    func tick() throws(Failure) -> Bool { false }

    /// Makes everything appended and acknowledged durable now.
    func sync() throws(Failure) {}

    /// Adds a cursor (true) or finds it there (false).
    func addCursor(_ name: String) throws(Failure) -> Bool { false }

    func removeCursor(_ name: String) throws(Failure) {}

    /// Copies the cursor's next durable readings (consecutive sequences) into `out`.
    func read(_ name: String, into out: UnsafeMutableBufferPointer<Reading>) throws(Failure) -> (first: UInt64, count: Int) {
        (0, 0)
    }

    func acknowledge(_ name: String, through sequence: UInt64) throws(Failure) {}

    func rewind(_ name: String) throws(Failure) {}

    func stats() -> JournalStats { JournalStats() }

    /// The cursor at `index` in name order, nil past the last.
    func cursorStats(at index: Int) -> JournalCursorStats? { nil }

    /// Syncs, closes the files. Idempotent; the journal refuses calls afterwards.
    func close() throws(Failure) {}
}
