import CShim
import Foundation
import Testing

@testable import EdgeCore

/// The site file's `journal` section (Config/SiteYAMLReader+Journal.swift).
@Suite struct SiteYAMLJournalTests {
    @Test func theSectionIsRead() {
        let result = loadYAML("""
        journal:
          path: /var/lib/edgecore/journal
          size_limit_mb: 512
          segment_size_kb: 8192
          sync_interval_ms: 200
          sync_every_readings: 1000
          max_syncs_per_hour: 3600
          when_full: refuse_newest
          cursors: [uplink, local-db]
        buses: []
        """)
        #expect(result.error == nil, "\(result.error?.message ?? "")")
        let expected = JournalSpec(path: "/var/lib/edgecore/journal",
                                   settings: JournalSettings(sizeLimit: 512 << 20, segmentSize: 8192 << 10,
                                                             syncIntervalMs: 200, syncEveryReadings: 1000,
                                                             maxSyncsPerHour: 3600, whenFull: .refuseNewest),
                                   cursors: ["uplink", "local-db"])
        #expect(result.config.journal == expected)
    }

    @Test func omittedKeysTakeTheTablesDefaults() {
        let result = loadYAML("journal: {path: j, when_full: drop_oldest}\n")
        #expect(result.error == nil)
        #expect(result.config.journal == JournalSpec(path: "j", settings: JournalSettings(), cursors: []))
        #expect(loadYAML("buses: []\n").config.journal == nil)
    }

    @Test func eachBadValueIsRefusedWithFileAndLine() {
        expectError("journal:\n  size_limit_mb: 10\n", .configFile, line: 2, "journal, field 'path': missing; the field is required")
        expectError("journal:\n  path:\n", .configFile, line: 2, "journal, field 'path': a value is required")
        expectError("journal:\n  path: [a]\n", .configFile, line: 2, "journal, field 'path': expected a string, got a list")
        expectError("journal:\n  path: j\n  size_limit: 5\n", .configFile, line: 3,
                    "journal, field 'size_limit': unknown key (expected one of: path, size_limit_mb, segment_size_kb, sync_interval_ms, sync_every_readings, max_syncs_per_hour, when_full, cursors)")
        expectError("journal:\n  path: j\n  size_limit_mb: -1\n", .configFile, line: 3,
                    "journal, field 'size_limit_mb': expected an integer 0..18446744073709551615, got '-1'")
        expectError("journal:\n  path: j\n  size_limit_mb: 0\n", .config, line: 3,
                    "journal, field 'size_limit_mb': must be 1..17592186044415, not 0")
        expectError("journal:\n  path: j\n  size_limit_mb: 17592186044416\n", .config, line: 3,
                    "journal, field 'size_limit_mb': must be 1..17592186044415, not 17592186044416")
        expectError("journal:\n  path: j\n\n  segment_size_kb: 63\n", .config, line: 4,
                    "journal, field 'segment_size_kb': must be 64..1048576, not 63")
        expectError("journal:\n  path: j\n  segment_size_kb: 1048577\n", .config, line: 3,
                    "journal, field 'segment_size_kb': must be 64..1048576, not 1048577")
        expectError("journal:\n  path: j\n  sync_interval_ms: 4294967296\n", .configFile, line: 3,
                    "journal, field 'sync_interval_ms': expected an integer 0..4294967295, got '4294967296'")
        expectError("journal:\n  path: j\n  sync_every_readings: yes\n", .configFile, line: 3,
                    "journal, field 'sync_every_readings': expected an integer 0..4294967295, got 'yes'")
        expectError("journal:\n  path: j\n  max_syncs_per_hour: '60'\n", .configFile, line: 3,
                    "journal, field 'max_syncs_per_hour': expected an integer 0..4294967295, got")
        expectError("journal:\n  path: j\n  when_full: block\n", .configFile, line: 3,
                    "journal, field 'when_full': unknown policy 'block' (expected drop_oldest or refuse_newest)")
        expectError("journal:\n  path: j\n  cursors: uplink\n", .configFile, line: 3,
                    "journal, field 'cursors': expected a list, got 'uplink'")
        expectError("journal:\n  path: j\n  cursors: [[a]]\n", .configFile, line: 3,
                    "journal, field 'cursors': expected a string, got a list")
        // The settings' relation and the cursor names: the section's line.
        expectError("journal:\n  path: j\n  size_limit_mb: 1\n  segment_size_kb: 1024\n", .config, line: 2,
                    "journal size_limit 1048576 is less than 2 * segment_size (2097152)")
        expectError("\njournal:\n  path: j\n  cursors: [up/link]\n", .config, line: 3,
                    "journal cursor name 'up/link' is not 1 to 32 bytes of A-Z a-z 0-9 _ -")
        expectError("journal:\n  path: j\n  cursors: [\(String(repeating: "c", count: 33))]\n", .config, line: 2,
                    "journal cursor name '\(String(repeating: "c", count: 33))' is not 1 to 32 bytes")
        expectError("journal:\n  path: j\n  cursors: [a, b, a]\n", .config, line: 2, "journal: cursor 'a' is listed twice")
        expectError("journal:\n  path: ''\n", .config, line: 2, "journal: field 'path' is empty")
        expectError("journal: [j]\n", .configFile, line: 1, "journal: expected a mapping, got a list")
    }
}
