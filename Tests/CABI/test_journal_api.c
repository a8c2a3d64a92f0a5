/* The journal's C API (edgecore.h, section Journal): appends, cursors, acknowledgements and statistics
 * across close and reopen, both when_full policies, and bad input, each with its code and a message that
 * names the path or the value; the read-only reader (1.4) beside an open journal, on damage, on bad input. Every case works in a folder of its own under a mkdtemp folder. */
/* 64-bit offsets: a 32-bit readdir fails (EOVERFLOW) on the hashed offsets of ext4 under qemu-user. */
#define _FILE_OFFSET_BITS 64
#include "cabi_test.h"

#include <dirent.h>
#include <sys/stat.h>

static char base[64];

static int contains(const char *text, const char *part) { return text && part && strstr(text, part) != NULL; }

/* The thread's last message contains `part` (printed when not). */
static void check_message(const char *part, int line) {
    const char *message = edgecore_journal_last_error();
    if (!contains(message, part)) {
        cabi_case_failures++;
        fprintf(stderr, "  %s:%d: expected '%s' in the message: %s\n", __FILE__, line, part, message ? message : "(null)");
    }
}
#define CHECK_MESSAGE(part) check_message((part), __LINE__)

static void folder_path(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", base, name); }

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Settings for the tests: syncs only when asked (sync_interval_ms 0), so durability is in the test's hands. */
static struct edgecore_journal_config test_config(uint16_t when_full, uint64_t size_limit, uint32_t segment_size) {
    struct edgecore_journal_config config;
    edgecore_journal_config_init(&config);
    config.sync_interval_ms = 0;
    config.when_full = when_full;
    if (size_limit) config.size_limit = size_limit;
    if (segment_size) config.segment_size = segment_size;
    return config;
}

static struct edgecore_journal *open_with(const char *folder, const struct edgecore_journal_config *config) {
    struct edgecore_journal *journal = NULL;
    int rc = edgecore_journal_open(folder, config, &journal);
    CHECK_EQ(rc, EDGECORE_OK);
    if (rc != EDGECORE_OK) fprintf(stderr, "  open %s: %s\n", folder, edgecore_journal_last_error());
    return journal;
}

static struct edgecore_journal *open_plain(const char *folder) {
    struct edgecore_journal_config config = test_config(EDGECORE_JOURNAL_DROP_OLDEST, 0, 0);
    return open_with(folder, &config);
}

/* Appends `count` readings whose per-channel sequence is the journal sequence they should get (from
 * `first`), so that a delivered reading shows which one it is. Returns the result. */
static int append_from(struct edgecore_journal *journal, uint64_t first, size_t count) {
    struct edgecore_reading *readings = calloc(count, sizeof *readings);
    if (!readings) return -ENOMEM;
    for (size_t i = 0; i < count; i++) readings[i] = cabi_reading(7, (uint32_t)(first + i));
    uint64_t got = 0;
    int rc = edgecore_journal_append(journal, readings, count, &got);
    if (rc == (int)count) CHECK_EQ(got, first);
    free(readings);
    return rc;
}

/* The readings out[0 .. count - 1] are those appended by append_from with sequences first ... */
static void check_delivered(const struct edgecore_reading *out, int count, uint64_t first) {
    for (int i = 0; i < count; i++) {
        struct edgecore_reading expected = cabi_reading(7, (uint32_t)(first + (uint64_t)i));
        if (memcmp(&out[i], &expected, sizeof expected) != 0) {
            cabi_case_failures++;
            fprintf(stderr, "  reading %d (journal sequence %" PRIu64 ") differs from what was appended\n", i,
                    first + (uint64_t)i);
            return;
        }
    }
}

/* Reads up to `max` readings from the cursor, checks they are the ones with sequences expected_first...,
 * returns the count. */
static int read_expect(struct edgecore_journal *journal, const char *cursor, size_t max, uint64_t expected_first) {
    struct edgecore_reading *out = calloc(max ? max : 1, sizeof *out);
    if (!out) return -ENOMEM;
    uint64_t first = 0;
    int n = edgecore_journal_read(journal, cursor, out, max, &first);
    if (n > 0) {
        CHECK_EQ(first, expected_first);
        check_delivered(out, n, first);
    }
    free(out);
    return n;
}

static struct edgecore_journal_stats stats_of(struct edgecore_journal *journal) {
    struct edgecore_journal_stats stats;
    memset(&stats, 0xEE, sizeof stats);
    CHECK_EQ(edgecore_journal_stats(journal, &stats), EDGECORE_OK);
    return stats;
}

static struct edgecore_journal_cursor_stats cursor_of(struct edgecore_journal *journal, uint32_t index) {
    struct edgecore_journal_cursor_stats cursor;
    memset(&cursor, 0xEE, sizeof cursor);
    CHECK_EQ(edgecore_journal_cursor_stats(journal, index, &cursor), EDGECORE_OK);
    return cursor;
}

/* ---------------------------------------------------------------------------------------------------- */

/* Appended readings come back through a cursor once synced; after close and reopen the sequences go on,
 * and the cursor delivers everything after its durable acknowledgement again. */
static void round_trip_across_reopen(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "round-trip");  /* missing: open creates it */
    struct edgecore_journal *journal = open_plain(folder);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "uplink"), 1);
    CHECK_EQ(edgecore_journal_add_cursor(journal, "uplink"), 0);
    CHECK_EQ(append_from(journal, 1, 10), 10);
    CHECK_EQ(append_from(journal, 11, 5), 5);
    CHECK_EQ(read_expect(journal, "uplink", 100, 1), 0);  /* nothing durable yet */
    struct edgecore_journal_stats stats = stats_of(journal);
    CHECK_EQ(stats.newest_sequence, 15);
    CHECK_EQ(stats.durable_sequence, 0);
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    CHECK_EQ(read_expect(journal, "uplink", 100, 1), 15);
    CHECK_EQ(read_expect(journal, "uplink", 100, 16), 0);
    CHECK_EQ(edgecore_journal_ack(journal, "uplink", 10), EDGECORE_OK);

    stats = stats_of(journal);
    CHECK_EQ(stats.oldest_sequence, 1);
    CHECK_EQ(stats.newest_sequence, 15);
    CHECK_EQ(stats.durable_sequence, 15);
    CHECK_EQ(stats.readings, 15);
    CHECK_EQ(stats.appended, 15);
    CHECK_EQ(stats.records_appended, 2);
    CHECK(stats.syncs >= 1);
    CHECK_EQ(stats.cursors, 1);
    CHECK(stats.segments >= 1);
    CHECK(stats.bytes >= 32 + 2 * 16 + 15 * 32);
    CHECK(stats.bytes_written >= 2 * 16 + 15 * 32);
    CHECK_EQ(stats.dropped_for_space + stats.refused_for_space + stats.append_failures, 0);
    CHECK_EQ(stats.corrupt_records_skipped + stats.corrupt_segments_skipped + stats.torn_bytes_truncated, 0);
    struct edgecore_journal_cursor_stats cursor = cursor_of(journal, 0);
    CHECK_STR(cursor.name, "uplink");
    CHECK_EQ(cursor.acknowledged_sequence, 10);
    CHECK_EQ(cursor.durable_acknowledged, 0);  /* durable at the next sync */
    CHECK_EQ(cursor.read_sequence, 16);
    CHECK_EQ(cursor.unacknowledged, 5);
    CHECK_EQ(cursor.lost, 0);
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    CHECK_EQ(cursor_of(journal, 0).durable_acknowledged, 10);
    uint64_t syncs = stats_of(journal).syncs;
    CHECK(syncs >= 2);
    edgecore_journal_close(journal);

    journal = open_plain(folder);
    if (!journal) return;
    stats = stats_of(journal);
    CHECK_EQ(stats.newest_sequence, 15);
    CHECK_EQ(stats.durable_sequence, 15);
    CHECK_EQ(stats.appended, 0);  /* since open */
    CHECK_EQ(stats.cursors, 1);
    cursor = cursor_of(journal, 0);
    CHECK_EQ(cursor.acknowledged_sequence, 10);
    CHECK_EQ(cursor.read_sequence, 11);
    CHECK_EQ(append_from(journal, 16, 3), 3);  /* the sequences go on */
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    /* read but unacknowledged before the close: delivered again, then the new ones */
    CHECK_EQ(read_expect(journal, "uplink", 100, 11), 8);
    CHECK_EQ(stats_of(journal).appended, 3);
    edgecore_journal_close(journal);
    edgecore_journal_close(NULL);
}

/* Two cursors, each acknowledged on its own; cursor statistics come in name order. */
static void two_cursors_each_acknowledged(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "two-cursors");
    struct edgecore_journal *journal = open_plain(folder);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "uplink"), 1);
    CHECK_EQ(edgecore_journal_add_cursor(journal, "db"), 1);
    CHECK_EQ(append_from(journal, 1, 20), 20);
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    CHECK_EQ(read_expect(journal, "uplink", 50, 1), 20);
    CHECK_EQ(read_expect(journal, "db", 50, 1), 20);
    CHECK_EQ(edgecore_journal_ack(journal, "uplink", 20), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_ack(journal, "db", 5), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_ack(journal, "db", 3), EDGECORE_OK);  /* less than acknowledged: nothing */
    CHECK_EQ(stats_of(journal).cursors, 2);
    struct edgecore_journal_cursor_stats db = cursor_of(journal, 0), uplink = cursor_of(journal, 1);
    CHECK_STR(db.name, "db");
    CHECK_STR(uplink.name, "uplink");
    CHECK_EQ(db.acknowledged_sequence, 5);
    CHECK_EQ(db.unacknowledged, 15);
    CHECK_EQ(uplink.acknowledged_sequence, 20);
    CHECK_EQ(uplink.unacknowledged, 0);
    struct edgecore_journal_cursor_stats none;
    CHECK_EQ(edgecore_journal_cursor_stats(journal, 2, &none), EDGECORE_E_NOT_FOUND);
    CHECK_MESSAGE("2");
    edgecore_journal_close(journal);  /* syncs the acknowledgements */

    journal = open_plain(folder);
    if (!journal) return;
    CHECK_EQ(read_expect(journal, "uplink", 50, 21), 0);
    CHECK_EQ(read_expect(journal, "db", 50, 6), 15);
    CHECK_EQ(edgecore_journal_remove_cursor(journal, "db"), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_remove_cursor(journal, "db"), EDGECORE_E_NOT_FOUND);
    CHECK_MESSAGE("db");
    CHECK_EQ(edgecore_journal_read(journal, "db", NULL, 0, NULL), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(stats_of(journal).cursors, 1);
    edgecore_journal_close(journal);
    journal = open_plain(folder);  /* the removal lasts */
    if (!journal) return;
    CHECK_EQ(stats_of(journal).cursors, 1);
    CHECK_STR(cursor_of(journal, 0).name, "uplink");
    edgecore_journal_close(journal);
}

/* Each read returns consecutive sequences, in as many calls as the caller's array needs; rewind goes back
 * to the first unacknowledged reading. */
static void reads_are_consecutive_and_rewind(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "consecutive");
    struct edgecore_journal *journal = open_plain(folder);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "c"), 1);
    uint64_t next = 1;
    for (size_t batch = 1; batch <= 9; batch++) {
        CHECK_EQ(append_from(journal, next, batch), (int)batch);
        next += batch;
    }
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    uint64_t expected = 1;
    for (int calls = 0; calls < 100; calls++) {
        int n = read_expect(journal, "c", 7, expected);
        CHECK(n >= 0 && n <= 7);
        if (n <= 0) break;
        expected += (uint64_t)n;
    }
    CHECK_EQ(expected, 46);  /* 1 + 2 + ... + 9 readings, each once */
    CHECK_EQ(edgecore_journal_read(journal, "c", NULL, 0, NULL), 0);
    CHECK_EQ(edgecore_journal_ack(journal, "c", 30), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_rewind(journal, "c"), EDGECORE_OK);
    CHECK_EQ(cursor_of(journal, 0).read_sequence, 31);
    CHECK_EQ(read_expect(journal, "c", 100, 31), 15);
    /* an acknowledgement ahead of the read position moves it */
    CHECK_EQ(edgecore_journal_rewind(journal, "c"), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_ack(journal, "c", 40), EDGECORE_OK);
    CHECK_EQ(cursor_of(journal, 0).read_sequence, 41);
    CHECK_EQ(read_expect(journal, "c", 100, 41), 5);
    edgecore_journal_close(journal);
}

/* Syncs by the policy: every 10 readings (inside append), and by time (edgecore_journal_tick). */
static void sync_policy(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "policy");
    struct edgecore_journal_config config = test_config(EDGECORE_JOURNAL_DROP_OLDEST, 0, 0);
    config.sync_every_readings = 10;
    struct edgecore_journal *journal = open_with(folder, &config);
    if (!journal) return;
    CHECK_EQ(append_from(journal, 1, 4), 4);
    CHECK_EQ(stats_of(journal).durable_sequence, 0);
    CHECK_EQ(append_from(journal, 5, 8), 8);  /* 12 unsynced: a sync is due, inside this append */
    CHECK_EQ(stats_of(journal).durable_sequence, 12);
    edgecore_journal_close(journal);

    folder_path(folder, sizeof folder, "policy-time");
    config = test_config(EDGECORE_JOURNAL_DROP_OLDEST, 0, 0);
    config.sync_interval_ms = 50;
    journal = open_with(folder, &config);
    if (!journal) return;
    CHECK_EQ(append_from(journal, 1, 3), 3);
    cabi_sleep_ms(100);
    uint64_t syncs = stats_of(journal).syncs;
    CHECK_EQ(edgecore_journal_tick(journal), 1);
    struct edgecore_journal_stats stats = stats_of(journal);
    CHECK_EQ(stats.durable_sequence, 3);
    CHECK_EQ(stats.syncs, syncs + 1);
    CHECK_EQ(edgecore_journal_tick(journal), 0);  /* nothing left to sync */
    edgecore_journal_close(journal);
}

enum { SEGMENT = 64 * 1024, LIMIT = 2 * SEGMENT, BATCH = 100 };

/* A full journal that drops the oldest: every reading removed before the cursor acknowledged it is counted,
 * exactly (here: all that are gone, as the cursor acknowledged none), and in the cursor's lost. */
static void full_journal_drops_the_oldest(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "drop-oldest");
    struct edgecore_journal_config config = test_config(EDGECORE_JOURNAL_DROP_OLDEST, LIMIT, SEGMENT);
    struct edgecore_journal *journal = open_with(folder, &config);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "slow"), 1);
    uint64_t next = 1;
    for (int i = 0; i < 100; i++) {  /* 10000 readings, 320 KB: more than twice the limit */
        int rc = append_from(journal, next, BATCH);
        CHECK_EQ(rc, BATCH);
        if (rc != BATCH) break;
        next += BATCH;
    }
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    struct edgecore_journal_stats stats = stats_of(journal);
    CHECK_EQ(stats.newest_sequence, 10000);
    CHECK(stats.oldest_sequence > 1);
    CHECK_EQ(stats.dropped_for_space, stats.oldest_sequence - 1);
    CHECK_EQ(stats.readings, stats.newest_sequence - stats.oldest_sequence + 1);
    CHECK_EQ(stats.refused_for_space, 0);
    CHECK(stats.bytes <= LIMIT);
    CHECK(stats.segments <= 2);
    struct edgecore_journal_cursor_stats cursor = cursor_of(journal, 0);
    CHECK_EQ(cursor.lost, stats.dropped_for_space);
    CHECK_EQ(cursor.unacknowledged, stats.readings);
    /* the cursor goes on at the oldest stored reading */
    CHECK_EQ(read_expect(journal, "slow", 20000, stats.oldest_sequence), (int)stats.readings);
    edgecore_journal_close(journal);
}

/* A full journal that refuses the newest: EDGECORE_E_JOURNAL_FULL, nothing appended, each refused reading
 * counted; once the cursor acknowledged (durably), appending goes on. */
static void full_journal_refuses_the_newest(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "refuse-newest");
    struct edgecore_journal_config config = test_config(EDGECORE_JOURNAL_REFUSE_NEWEST, LIMIT, SEGMENT);
    struct edgecore_journal *journal = open_with(folder, &config);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "slow"), 1);
    uint64_t next = 1;
    int rc = 0;
    for (int i = 0; i < 100; i++) {
        rc = append_from(journal, next, BATCH);
        if (rc != BATCH) break;
        next += BATCH;
    }
    CHECK_EQ(rc, EDGECORE_E_JOURNAL_FULL);
    CHECK(edgecore_journal_last_error()[0] != '\0');
    struct edgecore_journal_stats stats = stats_of(journal);
    CHECK_EQ(stats.newest_sequence, next - 1);  /* nothing of the refused batch */
    CHECK(stats.newest_sequence >= 2000);  /* close to 128 KiB of 3216-byte records */
    CHECK_EQ(stats.oldest_sequence, 1);
    CHECK_EQ(stats.refused_for_space, BATCH);
    CHECK_EQ(stats.dropped_for_space, 0);
    CHECK(stats.bytes <= LIMIT);
    CHECK_EQ(append_from(journal, next, BATCH), EDGECORE_E_JOURNAL_FULL);
    CHECK_EQ(stats_of(journal).refused_for_space, 2 * BATCH);
    CHECK_EQ(stats_of(journal).newest_sequence, next - 1);

    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    uint64_t expected = 1;
    for (int calls = 0; calls < 100; calls++) {
        int n = read_expect(journal, "slow", 1000, expected);
        if (n <= 0) break;
        expected += (uint64_t)n;
    }
    CHECK_EQ(expected, next);
    CHECK_EQ(edgecore_journal_ack(journal, "slow", next - 1), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    CHECK_EQ(append_from(journal, next, BATCH), BATCH);  /* the same sequence the refused batch would have had */
    stats = stats_of(journal);
    CHECK(stats.oldest_sequence > 1);  /* an acknowledged segment made room */
    CHECK_EQ(stats.dropped_for_space, 0);
    CHECK_EQ(cursor_of(journal, 0).lost, 0);
    CHECK(stats.bytes <= LIMIT);
    edgecore_journal_close(journal);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Bad input                                                                                            */

static void null_pointers(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "nulls");
    struct edgecore_journal *journal = (struct edgecore_journal *)&journal;
    CHECK_EQ(edgecore_journal_open(NULL, NULL, &journal), EDGECORE_E_NULL_POINTER);
    CHECK(journal == NULL);
    CHECK_MESSAGE("folder");
    CHECK_EQ(edgecore_journal_open(folder, NULL, NULL), EDGECORE_E_NULL_POINTER);
    CHECK(!exists(folder));
    edgecore_journal_config_init_sized(NULL, sizeof(struct edgecore_journal_config));
    edgecore_journal_close(NULL);
    struct edgecore_reading r = cabi_reading(1, 1);
    struct edgecore_journal_stats stats;
    struct edgecore_journal_cursor_stats cursor;
    uint64_t first = 0;
    CHECK_EQ(edgecore_journal_append(NULL, &r, 1, &first), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_tick(NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_sync(NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_add_cursor(NULL, "c"), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_remove_cursor(NULL, "c"), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_read(NULL, "c", &r, 1, &first), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_ack(NULL, "c", 1), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_rewind(NULL, "c"), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_stats(NULL, &stats), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_cursor_stats(NULL, 0, &cursor), EDGECORE_E_NULL_POINTER);

    journal = open_plain(folder);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "c"), 1);
    CHECK_EQ(edgecore_journal_append(journal, NULL, 1, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_MESSAGE("readings");
    CHECK_EQ(edgecore_journal_append(journal, NULL, 0, NULL), 0);
    CHECK_EQ(edgecore_journal_add_cursor(journal, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_remove_cursor(journal, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_read(journal, NULL, &r, 1, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_read(journal, "c", NULL, 1, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_MESSAGE("out");
    CHECK_EQ(edgecore_journal_ack(journal, NULL, 1), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_rewind(journal, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_stats(journal, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_cursor_stats(journal, 0, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(stats_of(journal).appended, 0);
    /* the journal's message and the engine's are one thread-local buffer */
    CHECK(edgecore_journal_last_error() == edgecore_engine_last_error());
    edgecore_journal_close(journal);
}

static void append_count_too_large(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "count");
    struct edgecore_journal *journal = open_plain(folder);
    if (!journal) return;
    struct edgecore_reading r = cabi_reading(1, 1);
    /* refused before the array is looked at: one reading stands for the rest */
    CHECK_EQ(edgecore_journal_append(journal, &r, 1048577, NULL), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE("1048577");
    CHECK_EQ(edgecore_journal_append(journal, &r, SIZE_MAX, NULL), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(stats_of(journal).newest_sequence, 0);
    edgecore_journal_close(journal);
}

static void settings_out_of_range(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "settings");
    struct edgecore_journal *journal = (struct edgecore_journal *)&journal;
    struct edgecore_journal_config config = test_config(EDGECORE_JOURNAL_DROP_OLDEST, 0, 1000);
    CHECK_EQ(edgecore_journal_open(folder, &config, &journal), EDGECORE_E_INVALID_ARGUMENT);
    CHECK(journal == NULL);
    CHECK_MESSAGE("segment_size 1000");
    config = test_config(EDGECORE_JOURNAL_DROP_OLDEST, 100000, SEGMENT);
    CHECK_EQ(edgecore_journal_open(folder, &config, &journal), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE("size_limit 100000");
    config = test_config(7, 0, 0);
    CHECK_EQ(edgecore_journal_open(folder, &config, &journal), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE("when_full 7");
    CHECK(!exists(folder));  /* refused before the disk is touched */
}

/* The parent folder is missing: -ENOENT, and nothing is created. */
static void missing_parent_folder(void) {
    char parent[128], folder[160];
    folder_path(parent, sizeof parent, "no-such-parent");
    snprintf(folder, sizeof folder, "%s/journal", parent);
    struct edgecore_journal *journal = (struct edgecore_journal *)&journal;
    CHECK_EQ(edgecore_journal_open(folder, NULL, &journal), -ENOENT);
    CHECK(journal == NULL);
    CHECK_MESSAGE(folder);
    CHECK(!exists(parent));
}

/* A regular file, and a folder holding other files: EDGECORE_E_NOT_A_JOURNAL, and they stay as they were. */
static void not_a_journal(void) {
    char file[128], folder[128], other[160];
    folder_path(file, sizeof file, "a-file");
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs("not a journal\n", f);
    fclose(f);
    struct edgecore_journal *journal = (struct edgecore_journal *)&journal;
    CHECK_EQ(edgecore_journal_open(file, NULL, &journal), EDGECORE_E_NOT_A_JOURNAL);
    CHECK(journal == NULL);
    CHECK_MESSAGE(file);
    struct stat st;
    CHECK(stat(file, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 14);

    folder_path(folder, sizeof folder, "holds-other-files");
    CHECK_EQ(mkdir(folder, 0755), 0);
    snprintf(other, sizeof other, "%s/notes.txt", folder);
    f = fopen(other, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs("my notes\n", f);
    fclose(f);
    CHECK_EQ(edgecore_journal_open(folder, NULL, &journal), EDGECORE_E_NOT_A_JOURNAL);
    CHECK_MESSAGE(folder);
    int entries = 0;
    DIR *dir = opendir(folder);
    CHECK(dir != NULL);
    for (struct dirent *e; dir && (e = readdir(dir)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) entries++;
    if (dir) closedir(dir);
    CHECK_EQ(entries, 1);  /* only notes.txt */
    CHECK(stat(other, &st) == 0 && st.st_size == 9);
}

/* A read-only file system (a small tmpfs mounted read-only: as root, permissions would not stop us):
 * -EROFS for a journal to create inside it and for its empty root folder. The mount is undone and its folder
 * removed. */
static void read_only_file_system(void) {
    if (geteuid() != 0) {
        printf("SKIP read_only_file_system: mounting a tmpfs needs root\n");
        return;
    }
    char mountpoint[128], folder[160], command[256];
    folder_path(mountpoint, sizeof mountpoint, "read-only");
    CHECK_EQ(mkdir(mountpoint, 0755), 0);
    snprintf(command, sizeof command, "mount -t tmpfs -o ro,size=1m tmpfs '%s'", mountpoint);
    int mounted = system(command) == 0;
    CHECK(mounted);
    if (mounted) {
        snprintf(folder, sizeof folder, "%s/journal", mountpoint);
        struct edgecore_journal *journal = (struct edgecore_journal *)&journal;
        CHECK_EQ(edgecore_journal_open(folder, NULL, &journal), -EROFS);
        CHECK(journal == NULL);
        CHECK_MESSAGE(folder);
        CHECK_EQ(edgecore_journal_open(mountpoint, NULL, &journal), -EROFS);
        CHECK_MESSAGE(mountpoint);
        if (journal) edgecore_journal_close(journal);
        snprintf(command, sizeof command, "umount '%s'", mountpoint);
        CHECK_EQ(system(command), 0);
    }
    CHECK_EQ(rmdir(mountpoint), 0);
    CHECK(!exists(mountpoint));
}

/* CRC32C (Castagnoli, reflected 0x82F63B78), as docs/journal-format.md specifies it. */
static uint32_t crc32c(const unsigned char *bytes, size_t count) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < count; i++) {
        crc ^= bytes[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_le(unsigned char *at, uint64_t value, int size) {
    for (int i = 0; i < size; i++) at[i] = (unsigned char)(value >> (8 * i));
}

/* The files of a folder: names and contents, to see that a refused open changed nothing. */
struct snapshot {
    int count;
    char names[16][256];
    unsigned char *contents[16];
    long sizes[16];
};

static unsigned char *read_file(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)*size + 1);
    if (bytes && fread(bytes, 1, (size_t)*size, f) != (size_t)*size) {
        free(bytes);
        bytes = NULL;
    }
    fclose(f);
    return bytes;
}

static int by_name(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

static void take_snapshot(const char *folder, struct snapshot *s) {
    memset(s, 0, sizeof *s);
    DIR *dir = opendir(folder);
    CHECK(dir != NULL);
    for (struct dirent *e; dir && (e = readdir(dir)) != NULL && s->count < 16;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            snprintf(s->names[s->count++], sizeof s->names[0], "%s", e->d_name);
    if (dir) closedir(dir);
    qsort(s->names, (size_t)s->count, sizeof s->names[0], by_name);
    for (int i = 0; i < s->count; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", folder, s->names[i]);
        s->contents[i] = read_file(path, &s->sizes[i]);
    }
}

static int same_snapshot(const struct snapshot *a, const struct snapshot *b) {
    if (a->count != b->count) return 0;
    for (int i = 0; i < a->count; i++)
        if (strcmp(a->names[i], b->names[i]) != 0 || a->sizes[i] != b->sizes[i] || !a->contents[i] ||
            !b->contents[i] || memcmp(a->contents[i], b->contents[i], (size_t)a->sizes[i]) != 0)
            return 0;
    return 1;
}

static void free_snapshot(struct snapshot *s) {
    for (int i = 0; i < s->count; i++) free(s->contents[i]);
}

/* A journal whose segment was written by a newer format version (a valid header, by
 * docs/journal-format.md, with version 2): EDGECORE_E_JOURNAL_VERSION, and its files stay untouched. */
static void newer_format_version(void) {
    static const unsigned char check[] = "123456789";
    CHECK_EQ(crc32c(check, 9), 0xE3069283u);  /* RFC 3720's check value */
    char folder[128];
    folder_path(folder, sizeof folder, "newer-version");
    struct edgecore_journal *journal = open_plain(folder);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "c"), 1);
    CHECK_EQ(append_from(journal, 1, 5), 5);
    edgecore_journal_close(journal);

    /* Rewrite each segment's header by hand as version 2 would write it: magic, version, the instance id
     * and first sequence it had, and the header checksum. */
    struct snapshot before, after;
    take_snapshot(folder, &before);
    int segments = 0;
    for (int i = 0; i < before.count; i++) {
        if (before.sizes[i] < 32 || memcmp(before.contents[i], "ECJRNL\0\0", 8) != 0) continue;
        unsigned char header[32];
        memcpy(header, "ECJRNL\0\0", 8);
        put_le(header + 8, 2, 4);
        memcpy(header + 12, before.contents[i] + 12, 16);
        put_le(header + 28, crc32c(header, 28), 4);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", folder, before.names[i]);
        FILE *f = fopen(path, "r+b");
        CHECK(f != NULL);
        if (!f) continue;
        CHECK_EQ(fwrite(header, 1, 32, f), 32);
        fclose(f);
        memcpy(before.contents[i], header, 32);
        segments++;
    }
    CHECK(segments >= 1);
    journal = (struct edgecore_journal *)&journal;
    CHECK_EQ(edgecore_journal_open(folder, NULL, &journal), EDGECORE_E_JOURNAL_VERSION);
    CHECK(journal == NULL);
    CHECK_MESSAGE(folder);
    CHECK_MESSAGE("2");
    take_snapshot(folder, &after);
    CHECK(same_snapshot(&before, &after));
    free_snapshot(&before);
    free_snapshot(&after);
}

/* Cursor names: 1 to 32 bytes of A-Z a-z 0-9 _ -; anything else is EDGECORE_E_INVALID_ARGUMENT with the
 * name in the message (bytes that are not UTF-8 as \xHH). */
static void bad_cursor_names(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "names");
    struct edgecore_journal *journal = open_plain(folder);
    if (!journal) return;
    const char *longest = "abcdefghijklmnopqrstuvwxyz-_0123";  /* 32 bytes */
    char too_long[40];
    snprintf(too_long, sizeof too_long, "%sX", longest);  /* 33 bytes */
    CHECK_EQ(strlen(longest), 32);
    CHECK_EQ(edgecore_journal_add_cursor(journal, longest), 1);
    CHECK_EQ(edgecore_journal_add_cursor(journal, too_long), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE(too_long);
    CHECK_EQ(edgecore_journal_add_cursor(journal, "up/link"), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE("journal cursor name 'up/link'");
    CHECK_EQ(edgecore_journal_add_cursor(journal, ".."), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_journal_add_cursor(journal, ""), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_journal_add_cursor(journal, "caf\xff"), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE("caf\\xFF");
    CHECK_EQ(edgecore_journal_add_cursor(journal, "new\nline"), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE("new\\x0Aline");
    struct edgecore_reading r;
    CHECK_EQ(edgecore_journal_read(journal, too_long, &r, 1, NULL), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_journal_ack(journal, "a/b", 1), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_journal_rewind(journal, "a b"), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_journal_remove_cursor(journal, too_long), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_journal_read(journal, "absent", &r, 1, NULL), EDGECORE_E_NOT_FOUND);
    CHECK_MESSAGE("absent");
    CHECK_EQ(edgecore_journal_ack(journal, "absent", 0), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_journal_rewind(journal, "absent"), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(stats_of(journal).cursors, 1);
    CHECK_STR(cursor_of(journal, 0).name, longest);
    edgecore_journal_close(journal);
    /* no file of a refused name was made */
    struct snapshot files;
    take_snapshot(folder, &files);
    for (int i = 0; i < files.count; i++) CHECK(!contains(files.names[i], "up") && !contains(files.names[i], "caf"));
    free_snapshot(&files);
}

/* An acknowledgement beyond the newest durable reading: EDGECORE_E_INVALID_ARGUMENT naming both numbers,
 * the cursor unchanged. */
static void ack_beyond_durable(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "ack-beyond");
    struct edgecore_journal *journal = open_plain(folder);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "c"), 1);
    CHECK_EQ(append_from(journal, 1, 100), 100);
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    CHECK_EQ(append_from(journal, 101, 20), 20);  /* not durable */
    CHECK_EQ(read_expect(journal, "c", 30, 1), 30);
    CHECK_EQ(edgecore_journal_ack(journal, "c", 10), EDGECORE_OK);
    struct edgecore_journal_cursor_stats before = cursor_of(journal, 0);
    CHECK_EQ(edgecore_journal_ack(journal, "c", 120), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE("120");
    CHECK_MESSAGE("100");
    CHECK_EQ(edgecore_journal_ack(journal, "c", UINT64_MAX), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE("18446744073709551615");
    struct edgecore_journal_cursor_stats after = cursor_of(journal, 0);
    CHECK(memcmp(&before, &after, sizeof before) == 0);
    CHECK_EQ(after.acknowledged_sequence, 10);
    CHECK_EQ(after.read_sequence, 31);
    CHECK_EQ(edgecore_journal_ack(journal, "c", 100), EDGECORE_OK);  /* the newest durable one is fine */
    edgecore_journal_close(journal);
}

/* The growth rule for the journal's structs (new in 1.1: 32, 128 and 80 bytes). */
static void struct_sizes(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "growth");
    struct edgecore_journal *journal = (struct edgecore_journal *)&journal;
    unsigned char bigger[48];

    /* _init: a smaller struct gets the defaults it holds, the bytes after it untouched; a bigger one zeros */
    memset(bigger, 0xAA, sizeof bigger);
    edgecore_journal_config_init_sized((struct edgecore_journal_config *)bigger, 16);
    struct edgecore_journal_config defaults;
    edgecore_journal_config_init(&defaults);
    CHECK(memcmp(bigger, &defaults, 16) == 0);
    CHECK_EQ(bigger[16], 0xAA);
    edgecore_journal_config_init_sized((struct edgecore_journal_config *)bigger, 40);
    CHECK(memcmp(bigger, &defaults, 32) == 0);
    for (int i = 32; i < 40; i++) CHECK_EQ(bigger[i], 0);
    CHECK_EQ(bigger[40], 0xAA);
    CHECK_EQ(defaults.size_limit, 256u << 20);
    CHECK_EQ(defaults.segment_size, 4u << 20);
    CHECK_EQ(defaults.sync_interval_ms, 1000);
    CHECK_EQ(defaults.sync_every_readings, 0);
    CHECK_EQ(defaults.max_syncs_per_hour, 0);
    CHECK_EQ(defaults.when_full, EDGECORE_JOURNAL_DROP_OLDEST);
    CHECK_EQ(defaults.reserved + defaults.reserved2, 0);

    /* open: smaller than 1.1's struct, a field this library does not know, one it does not know left 0 */
    CHECK_EQ(edgecore_journal_open_sized(folder, &defaults, 31, &journal), EDGECORE_E_INVALID_ARGUMENT);
    CHECK(journal == NULL);
    CHECK_MESSAGE("31");
    CHECK_MESSAGE("1.1");
    memset(bigger, 0, sizeof bigger);
    memcpy(bigger, &defaults, sizeof defaults);
    bigger[35] = 1;
    CHECK_EQ(edgecore_journal_open_sized(folder, (struct edgecore_journal_config *)bigger, 40, &journal),
             EDGECORE_E_UNKNOWN_FIELD);
    CHECK_MESSAGE("35");
    CHECK(!exists(folder));
    bigger[35] = 0;
    journal = NULL;
    CHECK_EQ(edgecore_journal_open_sized(folder, (struct edgecore_journal_config *)bigger, 40, &journal), EDGECORE_OK);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "c"), 1);
    CHECK_EQ(append_from(journal, 1, 3), 3);

    /* statistics: a bigger struct gets zeros past the library's; a smaller one is refused */
    unsigned char stats[sizeof(struct edgecore_journal_stats) + 8];
    memset(stats, 0xAA, sizeof stats);
    CHECK_EQ(edgecore_journal_stats_sized(journal, (struct edgecore_journal_stats *)stats, sizeof stats), EDGECORE_OK);
    struct edgecore_journal_stats known;
    memcpy(&known, stats, sizeof known);
    CHECK_EQ(known.newest_sequence, 3);
    for (size_t i = sizeof known; i < sizeof stats; i++) CHECK_EQ(stats[i], 0);
    CHECK_EQ(edgecore_journal_stats_sized(journal, (struct edgecore_journal_stats *)stats, 127),
             EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE("127");
    unsigned char cursor[sizeof(struct edgecore_journal_cursor_stats) + 8];
    memset(cursor, 0xAA, sizeof cursor);
    CHECK_EQ(edgecore_journal_cursor_stats_sized(journal, 0, (struct edgecore_journal_cursor_stats *)cursor,
                                                 sizeof cursor), EDGECORE_OK);
    CHECK_STR((const char *)cursor, "c");
    for (size_t i = 2; i < 40; i++) CHECK_EQ(cursor[i], 0);  /* the name zero-filled */
    for (size_t i = sizeof(struct edgecore_journal_cursor_stats); i < sizeof cursor; i++) CHECK_EQ(cursor[i], 0);
    CHECK_EQ(edgecore_journal_cursor_stats_sized(journal, 0, (struct edgecore_journal_cursor_stats *)cursor, 79),
             EDGECORE_E_INVALID_ARGUMENT);
    edgecore_journal_close(journal);
}

/* (1.2) instance_id: not 0, the same after a reopen, another for another journal; a caller built against
 * 1.1 (128 bytes) gets the 1.1 fields and nothing written past them. */
static void instance_id(void) {
    char first_folder[128], second_folder[128];
    folder_path(first_folder, sizeof first_folder, "instance-a");
    folder_path(second_folder, sizeof second_folder, "instance-b");
    struct edgecore_journal *journal = open_plain(first_folder);
    if (!journal) return;
    uint64_t first = stats_of(journal).instance_id;
    CHECK(first != 0);
    unsigned char old[sizeof(struct edgecore_journal_stats)];
    memset(old, 0xAA, sizeof old);
    CHECK_EQ(edgecore_journal_stats_sized(journal, (struct edgecore_journal_stats *)old, 128), EDGECORE_OK);
    for (size_t i = 128; i < sizeof old; i++) CHECK_EQ(old[i], 0xAA);
    edgecore_journal_close(journal);
    journal = open_plain(first_folder);
    if (!journal) return;
    CHECK_EQ(stats_of(journal).instance_id, first);
    edgecore_journal_close(journal);
    journal = open_plain(second_folder);
    if (!journal) return;
    uint64_t second = stats_of(journal).instance_id;
    CHECK(second != 0 && second != first);
    edgecore_journal_close(journal);
}

/* ---------------------------------------------------------------------------------------------------- */
/* The read-only reader (1.4)                                                                           */
/* ---------------------------------------------------------------------------------------------------- */

/* Every reading from `from` on, batch by batch of `batch`: the count, each checked against append_from's. */
static uint64_t reader_read_all(struct edgecore_journal_reader *reader, uint64_t from, size_t batch) {
    struct edgecore_reading out[512];
    uint64_t total = 0, position = from;
    for (int turn = 0; turn < 100000; turn++) {
        uint64_t first = 0;
        int n = edgecore_journal_reader_read(reader, position, out, batch, &first);
        CHECK(n >= 0);
        if (n <= 0) break;
        check_delivered(out, n, first);
        total += (uint64_t)n;
        position = first + (uint64_t)n;
    }
    return total;
}

static void reader_beside_an_open_journal(void) {
    char folder[128];
    folder_path(folder, sizeof folder, "reader-open");
    struct edgecore_journal_config config = test_config(EDGECORE_JOURNAL_DROP_OLDEST, 0, 64 * 1024);
    struct edgecore_journal *journal = open_with(folder, &config);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "uplink"), 1);
    for (int i = 0; i < 30; i++) CHECK_EQ(append_from(journal, 1 + 100 * (uint64_t)i, 100), 100);
    CHECK_EQ(edgecore_journal_sync(journal), 0);
    CHECK_EQ(edgecore_journal_ack(journal, "uplink", 1000), 0);
    CHECK_EQ(edgecore_journal_sync(journal), 0);
    struct snapshot before, after;
    take_snapshot(folder, &before);

    /* The journal holds its lock: the reader takes none. */
    struct edgecore_journal_reader *reader = NULL;
    CHECK_EQ(edgecore_journal_reader_open(folder, &reader), EDGECORE_OK);
    if (!reader) {
        edgecore_journal_close(journal);
        free_snapshot(&before);
        return;
    }
    uint64_t oldest = 9, newest = 9;
    CHECK_EQ(edgecore_journal_reader_bounds(reader, &oldest, &newest), 0);
    CHECK_EQ(oldest, 1);
    CHECK_EQ(newest, 3000);
    CHECK_EQ(reader_read_all(reader, 0, 512), 3000);
    CHECK_EQ(reader_read_all(reader, 2500, 7), 501);
    CHECK_EQ(reader_read_all(reader, 3001, 7), 0);

    struct edgecore_journal_report report;
    memset(&report, 0xA5, sizeof report);
    CHECK_EQ(edgecore_journal_reader_check(reader, &report), 0);
    struct edgecore_journal_stats stats;
    CHECK_EQ(edgecore_journal_stats(journal, &stats), 0);
    CHECK_EQ(report.instance_id, stats.instance_id);
    CHECK_EQ(report.segments, stats.segments);
    CHECK(report.segments >= 2);
    CHECK_EQ(report.bytes, stats.bytes);
    CHECK_EQ(report.first_sequence, 1);
    CHECK_EQ(report.last_sequence, 3000);
    CHECK_EQ(report.readings, 3000);
    CHECK_EQ(report.records, 30);
    CHECK_EQ(report.min_timestamp_ns, 1000);
    CHECK_EQ(report.max_timestamp_ns, 3000 * 1000);
    CHECK_EQ(report.damaged_records + report.gaps + report.missing_readings + report.torn_bytes, 0);
    CHECK_EQ(report.corrupt_segments, 0);
    CHECK_EQ(report.problems, 0);
    CHECK_EQ(report.cursors, 1);
    struct edgecore_journal_cursor_stats cursor;
    CHECK_EQ(edgecore_journal_reader_cursor(reader, 0, &cursor), 0);
    CHECK_STR(cursor.name, "uplink");
    CHECK_EQ(cursor.acknowledged_sequence, 1000);
    CHECK_EQ(cursor.durable_acknowledged, 1000);
    CHECK_EQ(cursor.read_sequence, 1001);
    CHECK_EQ(cursor.unacknowledged, 2000);
    CHECK_EQ(edgecore_journal_reader_cursor(reader, 1, &cursor), EDGECORE_E_NOT_FOUND);
    struct edgecore_journal_problem problem;
    CHECK_EQ(edgecore_journal_reader_problem(reader, 0, &problem), EDGECORE_E_NOT_FOUND);

    /* Not a byte changed, and the journal goes on: a reading appended (not yet synced) is seen too. */
    take_snapshot(folder, &after);
    CHECK(same_snapshot(&before, &after));
    free_snapshot(&after);
    CHECK_EQ(append_from(journal, 3001, 5), 5);
    CHECK_EQ(reader_read_all(reader, 3001, 512), 5);
    CHECK_EQ(edgecore_journal_reader_bounds(reader, NULL, &newest), 0);
    CHECK_EQ(newest, 3005);
    edgecore_journal_reader_close(reader);
    edgecore_journal_close(journal);
    free_snapshot(&before);
}

static void reader_reports_damage(void) {
    char folder[128], path[256];
    folder_path(folder, sizeof folder, "reader-damage");
    struct edgecore_journal *journal = open_plain(folder);
    if (!journal) return;
    for (int i = 0; i < 5; i++) CHECK_EQ(append_from(journal, 1 + 10 * (uint64_t)i, 10), 10);
    edgecore_journal_close(journal);
    /* Records of 10 readings are 16 + 320 bytes after the 32-byte header: flip a payload byte of the third,
     * and tear the last one (7 bytes short). */
    snprintf(path, sizeof path, "%s/seg-0000000000000001.ecj", folder);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_EQ(fseek(f, 32 + 2 * 336 + 40, SEEK_SET), 0);
    int byte = fgetc(f);
    CHECK_EQ(fseek(f, 32 + 2 * 336 + 40, SEEK_SET), 0);
    fputc(byte ^ 0xFF, f);
    fclose(f);
    CHECK_EQ(truncate(path, 32 + 5 * 336 - 7), 0);
    struct snapshot before, after;
    take_snapshot(folder, &before);

    struct edgecore_journal_reader *reader = NULL;
    CHECK_EQ(edgecore_journal_reader_open(folder, &reader), EDGECORE_OK);
    if (!reader) return;
    struct edgecore_journal_report report;
    CHECK_EQ(edgecore_journal_reader_check(reader, &report), 0);
    CHECK_EQ(report.readings, 30);
    CHECK_EQ(report.last_sequence, 40);
    CHECK_EQ(report.damaged_records, 1);
    CHECK_EQ(report.gaps, 1);
    CHECK_EQ(report.missing_readings, 10);
    CHECK_EQ(report.torn_bytes, 336 - 7);
    CHECK_EQ(report.problems, 3);
    static const uint16_t kinds[] = {EDGECORE_JOURNAL_PROBLEM_RECORD, EDGECORE_JOURNAL_PROBLEM_GAP,
                                     EDGECORE_JOURNAL_PROBLEM_TORN_TAIL};
    static const uint64_t offsets[] = {32 + 2 * 336, 32 + 3 * 336, 32 + 4 * 336};
    static const uint64_t sizes[] = {336, 0, 336 - 7};
    for (uint32_t i = 0; i < 3; i++) {
        struct edgecore_journal_problem problem;
        memset(&problem, 0xA5, sizeof problem);
        CHECK_EQ(edgecore_journal_reader_problem(reader, i, &problem), 0);
        CHECK_EQ(problem.kind, kinds[i]);
        CHECK_EQ(problem.offset, offsets[i]);
        CHECK_EQ(problem.bytes, sizes[i]);
        CHECK_EQ(problem.reserved, 0);
        CHECK_EQ(problem.reserved2, 0);
        CHECK_STR(problem.file, "seg-0000000000000001.ecj");
        CHECK(strlen(problem.message) > 0 && strlen(problem.message) < sizeof problem.message);
        if (i == 1) {
            CHECK_EQ(problem.first_sequence, 21);
            CHECK_EQ(problem.last_sequence, 30);
        }
    }
    struct edgecore_journal_problem problem;
    CHECK_EQ(edgecore_journal_reader_problem(reader, 3, &problem), EDGECORE_E_NOT_FOUND);
    /* Reads pass over the damage: 1 .. 20, then 31 .. 40. */
    struct edgecore_reading out[64];
    uint64_t first = 0;
    CHECK_EQ(edgecore_journal_reader_read(reader, 0, out, 64, &first), 20);
    CHECK_EQ(first, 1);
    check_delivered(out, 20, 1);
    CHECK_EQ(edgecore_journal_reader_read(reader, 21, out, 64, &first), 10);
    CHECK_EQ(first, 31);
    check_delivered(out, 10, 31);
    CHECK_EQ(edgecore_journal_reader_read(reader, 41, out, 64, &first), 0);
    edgecore_journal_reader_close(reader);
    take_snapshot(folder, &after);
    CHECK(same_snapshot(&before, &after));
    free_snapshot(&before);
    free_snapshot(&after);
}

static void reader_bad_input(void) {
    char folder[128], path[256];
    struct edgecore_journal_reader *reader = (struct edgecore_journal_reader *)&reader;
    CHECK_EQ(edgecore_journal_reader_open(NULL, &reader), EDGECORE_E_NULL_POINTER);
    CHECK(reader == NULL);
    CHECK_EQ(edgecore_journal_reader_open("/tmp", NULL), EDGECORE_E_NULL_POINTER);
    folder_path(folder, sizeof folder, "reader-missing");
    reader = (struct edgecore_journal_reader *)&reader;
    CHECK_EQ(edgecore_journal_reader_open(folder, &reader), -ENOENT);
    CHECK(reader == NULL);
    CHECK_MESSAGE(folder);
    CHECK(!exists(folder)); /* nothing created */
    /* A file, and a folder holding another file. */
    folder_path(folder, sizeof folder, "reader-other");
    CHECK_EQ(mkdir(folder, 0755), 0);
    snprintf(path, sizeof path, "%s/notes.txt", folder);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    CHECK_EQ(edgecore_journal_reader_open(folder, &reader), EDGECORE_E_NOT_A_JOURNAL);
    CHECK_MESSAGE("notes.txt");
    CHECK_EQ(edgecore_journal_reader_open(path, &reader), EDGECORE_E_NOT_A_JOURNAL);
    CHECK_MESSAGE("not a folder");
    /* NULL handles and out-parameters, sizes, calls before a check; an empty folder is an empty journal. */
    struct edgecore_reading out[4];
    struct edgecore_journal_report report;
    struct edgecore_journal_problem problem;
    struct edgecore_journal_cursor_stats cursor;
    CHECK_EQ(edgecore_journal_reader_read(NULL, 0, out, 4, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_reader_bounds(NULL, NULL, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_reader_check(NULL, &report), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_reader_problem(NULL, 0, &problem), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_reader_cursor(NULL, 0, &cursor), EDGECORE_E_NULL_POINTER);
    edgecore_journal_reader_close(NULL);
    folder_path(folder, sizeof folder, "reader-empty");
    CHECK_EQ(mkdir(folder, 0755), 0);
    CHECK_EQ(edgecore_journal_reader_open(folder, &reader), EDGECORE_OK);
    if (!reader) return;
    CHECK_EQ(edgecore_journal_reader_problem(reader, 0, &problem), EDGECORE_E_NOT_FOUND);
    CHECK_MESSAGE("no check yet");
    CHECK_EQ(edgecore_journal_reader_cursor(reader, 0, &cursor), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_journal_reader_read(reader, 0, NULL, 4, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_reader_read(reader, 0, NULL, 0, NULL), 0);
    CHECK_EQ(edgecore_journal_reader_read(reader, 0, out, 4, NULL), 0);
    CHECK_EQ(edgecore_journal_reader_check(reader, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_journal_reader_check_sized(reader, &report, 111), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_MESSAGE("1.4");
    memset(&report, 0xA5, sizeof report);
    CHECK_EQ(edgecore_journal_reader_check(reader, &report), 0);
    struct edgecore_journal_report zero;
    memset(&zero, 0, sizeof zero);
    CHECK(memcmp(&report, &zero, sizeof zero) == 0);
    uint64_t oldest = 9, newest = 9;
    CHECK_EQ(edgecore_journal_reader_bounds(reader, &oldest, &newest), 0);
    CHECK_EQ(oldest + newest, 0);
    CHECK_EQ(edgecore_journal_reader_problem_sized(reader, 0, &problem, 255), EDGECORE_E_INVALID_ARGUMENT);
    edgecore_journal_reader_close(reader);
    DIR *listing = opendir(folder);
    int entries = 0;
    for (struct dirent *e; listing && (e = readdir(listing));) entries += e->d_name[0] != '.';
    if (listing) closedir(listing);
    CHECK_EQ(entries, 0); /* the reader made no journal of it */
}

static void reader_refuses_a_newer_version(void) {
    char folder[128], path[256];
    folder_path(folder, sizeof folder, "reader-newer");
    struct edgecore_journal *journal = open_plain(folder);
    if (!journal) return;
    CHECK_EQ(append_from(journal, 1, 5), 5);
    edgecore_journal_close(journal);
    snprintf(path, sizeof path, "%s/journal.id", folder);
    long size = 0;
    unsigned char *id = read_file(path, &size);
    CHECK_EQ(size, 32);
    if (!id || size != 32) {
        free(id);
        return;
    }
    put_le(id + 8, 2, 4);
    put_le(id + 28, crc32c(id, 28), 4);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(fwrite(id, 1, 32, f), 32);
        fclose(f);
    }
    free(id);
    struct edgecore_journal_reader *reader = (struct edgecore_journal_reader *)&reader;
    CHECK_EQ(edgecore_journal_reader_open(folder, &reader), EDGECORE_E_JOURNAL_VERSION);
    CHECK(reader == NULL);
    CHECK_MESSAGE("journal.id");
    CHECK_MESSAGE("version 2");
}

int main(int argc, char **argv) {
    if (argc > 1) cabi_only = argv[1];
    strcpy(base, "/tmp/edgecore-journal-XXXXXX");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(round_trip_across_reopen);
    RUN(two_cursors_each_acknowledged);
    RUN(reads_are_consecutive_and_rewind);
    RUN(sync_policy);
    RUN(full_journal_drops_the_oldest);
    RUN(full_journal_refuses_the_newest);
    RUN(null_pointers);
    RUN(append_count_too_large);
    RUN(settings_out_of_range);
    RUN(missing_parent_folder);
    RUN(not_a_journal);
    RUN(read_only_file_system);
    RUN(newer_format_version);
    RUN(bad_cursor_names);
    RUN(ack_beyond_durable);
    RUN(struct_sizes);
    RUN(instance_id);
    RUN(reader_beside_an_open_journal);
    RUN(reader_reports_damage);
    RUN(reader_bad_input);
    RUN(reader_refuses_a_newer_version);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", base);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", base);
    return cabi_finish("test_journal_api");
}
