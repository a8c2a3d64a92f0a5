// The journal benchmark (`make -C benchmarks journal`, or `make bench-journal` at the top level; issue 10
// item 5), against SQLite 3 (Debian's libsqlite3) in the same run. The parts and their targets:
//
//   journal, sqlite  readings/s sustained and bytes written per reading with a sync every 100 ms and every
//                    1 s. Each case appends batches of 100 readings (32 bytes each), as the engine does, as
//                    fast as it can for a fixed time (JOURNAL_BENCH_SECONDS, 5 s), then syncs once more.
//                    Journal: sync_interval_ms 100 or 1000. SQLite: WAL, synchronous=NORMAL, a table of
//                    the reading's six fields as columns, one prepared INSERT per reading, one transaction
//                    per sync interval. Bytes: write_bytes of /proc/self/io before and after (data pages
//                    this process dirtied; file-system metadata and ext4's own journal are not counted, on
//                    either side). Targets: journal >= 10x SQLite's readings/s at the same interval, and
//                    <= 1.25x the payload (32 B per reading) written; SQLite's ratio is printed.
//   raw              for information, the file system's ceiling: the same records (16-byte header, 100
//                    readings) written with writev to one file, fdatasync once per interval.
//   reopen           a 256 MiB and a 2 GiB journal (built fast: batches of 4096, no policy sync), cut: a
//                    child writer (sync every 100 ms) killed with SIGKILL mid-stream, then before every
//                    run a torn record (a plausible 16-byte record header, 1,000 of its 3,200 payload
//                    bytes, garbage) added to the newest segment and the folder's pages dropped from the
//                    page cache (fdatasync + POSIX_FADV_DONTNEED, file by file); edgecore_journal_open
//                    timed, 5 runs; then 5 more with the page cache kept (warm, for information).
//                    Target: median of the cold runs under 50 ms for both sizes.
//   syncs            1,000 readings/s (paced by the clock, appended as they fall due) for 10 s with
//                    sync_interval_ms 10 and max_syncs_per_hour 36,000, then 3,600: stats.syncs must be the
//                    bound's share of the run (100, 10) within 1 + 1 %.
//
// Every case runs JOURNAL_BENCH_ROUNDS times (3), the order of journal, SQLite and raw rotated from round
// to round; verdicts are on the medians. Files go to a scratch folder under JOURNAL_BENCH_DIR (/var/tmp; not
// tmpfs, where write_bytes stays 0), removed at the end. JOURNAL_BENCH_ONLY=journal,sqlite,raw,reopen,
// syncs runs some parts; JOURNAL_BENCH_SEGMENT_MIB sets the throughput cases' segment_size (default: the
// library's, 4 MiB). Exit status 0: every target met; 1: a target missed; 2: an error. Bounded: every loop
// ends by time or count, and a watchdog ends the program after 1,500 s (then the scratch folder is left).
#define _GNU_SOURCE
#include <edgecore.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 100
#define BUILD_BATCH 4096
#define MAX_ROUNDS 9
#define REOPEN_RUNS 5
#define PAYLOAD 32.0
#define TMPFS_MAGIC_ 0x01021994
#define RAMFS_MAGIC_ 0x858458f6

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint32_t segment_mib = 0; // JOURNAL_BENCH_SEGMENT_MIB: the throughput cases' segment_size; 0: default
static int failures = 0;          // targets missed
static int errors = 0;            // cases that could not run
static char scratch[1024];

static void error(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("ERROR: ", stdout);
    vprintf(format, args);
    fputc('\n', stdout);
    va_end(args);
    fflush(stdout);
    errors++;
}

static const char *verdict(int met) {
    if (!met) failures++;
    return met ? "PASS" : "MISS";
}

static double env_number(const char *name, double fallback, double low, double high) {
    const char *text = getenv(name);
    if (!text || !*text) return fallback;
    char *end = NULL;
    double value = strtod(text, &end);
    if (*end || value < low || value > high) {
        fprintf(stderr, "%s=%s: expected a number in %g .. %g\n", name, text, low, high);
        exit(2);
    }
    return value;
}

static int part_selected(const char *part) {
    const char *only = getenv("JOURNAL_BENCH_ONLY");
    if (!only || !*only) return 1;
    size_t length = strlen(part);
    for (const char *p = only; (p = strstr(p, part)) != NULL; p += length) {
        int starts = p == only || p[-1] == ',';
        int ends = p[length] == '\0' || p[length] == ',';
        if (starts && ends) return 1;
    }
    return 0;
}

// ---- files ----------------------------------------------------------------------------------------------

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) fprintf(stderr, "remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void remove_tree(const char *path) {
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_in_scratch(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", scratch, name);
}

/// write_bytes and cancelled_write_bytes of /proc/self/io.
struct io_counters {
    uint64_t write_bytes, cancelled;
};

static int read_io(struct io_counters *out) {
    FILE *file = fopen("/proc/self/io", "r");
    if (!file) return -1;
    char line[128];
    int found = 0;
    while (fgets(line, sizeof line, file)) {
        unsigned long long value;
        if (sscanf(line, "write_bytes: %llu", &value) == 1) out->write_bytes = value, found++;
        else if (sscanf(line, "cancelled_write_bytes: %llu", &value) == 1) out->cancelled = value, found++;
    }
    fclose(file);
    return found == 2 ? 0 : -1;
}

/// Readings as a site would make them: 64 channels, per-channel sequences, a clock stepping 1 us.
static void fill(struct edgecore_reading *out, size_t count, uint64_t *counter) {
    static const int64_t base_ns = INT64_C(1796169600) * 1000000000; // 2026-12-02 00:00 UTC
    for (size_t i = 0; i < count; i++) {
        uint64_t k = (*counter)++;
        out[i] = (struct edgecore_reading){
            .timestamp_ns = base_ns + (int64_t)k * 1000,
            .value = 20.0 + (double)(k % 997) * 0.01,
            .channel = (uint32_t)(k % 64),
            .sequence = (uint32_t)(k / 64),
            .status = 0,
            .status_detail = 0,
            .reserved = 0,
        };
    }
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *values, int count) {
    double sorted[64];
    if (count <= 0 || count > 64) return 0;
    memcpy(sorted, values, sizeof(double) * (size_t)count);
    qsort(sorted, (size_t)count, sizeof(double), compare_doubles);
    return count % 2 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
}

static void minmax(const double *values, int count, double *low, double *high) {
    *low = *high = values[0];
    for (int i = 1; i < count; i++) {
        if (values[i] < *low) *low = values[i];
        if (values[i] > *high) *high = values[i];
    }
}

/// "12,345,678"
static const char *grouped(double value, char *buffer, size_t size) {
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", value);
    size_t length = strlen(digits), at = 0;
    for (size_t i = 0; i < length && at + 2 < size; i++) {
        if (i > 0 && (length - i) % 3 == 0) buffer[at++] = ',';
        buffer[at++] = digits[i];
    }
    buffer[at] = '\0';
    return buffer;
}

// ---- throughput: journal and SQLite ----------------------------------------------------------------------

struct throughput {
    int ok;
    double readings, seconds, bytes, cancelled;
    uint64_t syncs; // journal: stats.syncs; SQLite: commits
    uint64_t own_bytes; // journal: stats.bytes_written
};

static struct edgecore_journal *open_journal(const char *folder, const struct edgecore_journal_config *config) {
    struct edgecore_journal *journal = NULL;
    int rc = edgecore_journal_open(folder, config, &journal);
    if (rc != 0) {
        error("edgecore_journal_open %s: %d %s", folder, rc, edgecore_journal_last_error());
        return NULL;
    }
    return journal;
}

static struct throughput journal_throughput(uint32_t sync_ms, double seconds) {
    struct throughput result = {0};
    char folder[1200];
    path_in_scratch(folder, sizeof folder, "throughput-journal");
    remove_tree(folder);
    struct edgecore_journal_config config;
    edgecore_journal_config_init(&config);
    config.sync_interval_ms = sync_ms;
    config.size_limit = UINT64_C(64) << 30; // never reached in a run: nothing dropped, nothing refused
    if (segment_mib) config.segment_size = segment_mib << 20;
    struct edgecore_journal *journal = open_journal(folder, &config);
    if (!journal) return result;
    struct edgecore_reading batch[BATCH];
    uint64_t counter = 0;
    struct io_counters before, after;
    if (read_io(&before) != 0) {
        error("/proc/self/io unreadable");
        edgecore_journal_close(journal);
        return result;
    }
    double start = now(), deadline = start + seconds;
    int rc = 0;
    for (;;) {
        fill(batch, BATCH, &counter);
        rc = edgecore_journal_append(journal, batch, BATCH, NULL);
        if (rc != BATCH) break;
        if (now() >= deadline) break;
    }
    if (rc == BATCH) rc = edgecore_journal_sync(journal);
    double end = now();
    read_io(&after);
    if (rc < 0) {
        error("journal append/sync: %d %s", rc, edgecore_journal_last_error());
        edgecore_journal_close(journal);
        return result;
    }
    struct edgecore_journal_stats stats;
    edgecore_journal_stats(journal, &stats);
    edgecore_journal_close(journal);
    remove_tree(folder);
    if (stats.appended != counter || stats.durable_sequence != stats.newest_sequence) {
        error("journal stats: appended %" PRIu64 " of %" PRIu64 ", durable %" PRIu64 " of newest %" PRIu64,
              stats.appended, counter, stats.durable_sequence, stats.newest_sequence);
        return result;
    }
    result = (struct throughput){
        .ok = 1,
        .readings = (double)counter,
        .seconds = end - start,
        .bytes = (double)(after.write_bytes - before.write_bytes),
        .cancelled = (double)(after.cancelled - before.cancelled),
        .syncs = stats.syncs,
        .own_bytes = stats.bytes_written,
    };
    return result;
}

static int sql(sqlite3 *db, const char *statement) {
    char *message = NULL;
    int rc = sqlite3_exec(db, statement, NULL, NULL, &message);
    if (rc != SQLITE_OK) {
        error("sqlite3 %s: %s", statement, message ? message : sqlite3_errstr(rc));
        sqlite3_free(message);
    }
    return rc;
}

static int64_t sql_integer(sqlite3 *db, const char *query) {
    sqlite3_stmt *statement = NULL;
    int64_t value = -1;
    if (sqlite3_prepare_v2(db, query, -1, &statement, NULL) == SQLITE_OK && sqlite3_step(statement) == SQLITE_ROW)
        value = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return value;
}

static int insert(sqlite3_stmt *statement, const struct edgecore_reading *r) {
    sqlite3_bind_int64(statement, 1, r->timestamp_ns);
    sqlite3_bind_double(statement, 2, r->value);
    sqlite3_bind_int64(statement, 3, r->channel);
    sqlite3_bind_int64(statement, 4, r->sequence);
    sqlite3_bind_int64(statement, 5, r->status);
    sqlite3_bind_int64(statement, 6, r->status_detail);
    int rc = sqlite3_step(statement);
    sqlite3_reset(statement);
    return rc == SQLITE_DONE ? 0 : rc;
}

static struct throughput sqlite_throughput(uint32_t sync_ms, double seconds) {
    struct throughput result = {0};
    char folder[1200], path[1300];
    path_in_scratch(folder, sizeof folder, "throughput-sqlite");
    remove_tree(folder);
    if (mkdir(folder, 0700) != 0) {
        error("mkdir %s: %s", folder, strerror(errno));
        return result;
    }
    snprintf(path, sizeof path, "%s/readings.db", folder);
    sqlite3 *db = NULL;
    sqlite3_stmt *statement = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        error("sqlite3_open_v2 %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        goto done;
    }
    sqlite3_stmt *mode = NULL;
    int wal = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &mode, NULL) == SQLITE_OK &&
              sqlite3_step(mode) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(mode, 0), "wal") == 0;
    sqlite3_finalize(mode);
    if (!wal) {
        error("sqlite3: journal_mode=WAL refused");
        goto done;
    }
    if (sql(db, "PRAGMA synchronous=NORMAL") || sql(db, "CREATE TABLE readings (timestamp_ns INTEGER NOT NULL, "
                                                        "value REAL NOT NULL, channel INTEGER NOT NULL, sequence INTEGER "
                                                        "NOT NULL, status INTEGER NOT NULL, status_detail INTEGER NOT NULL)"))
        goto done;
    if (sqlite3_prepare_v2(db, "INSERT INTO readings VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &statement, NULL) != SQLITE_OK) {
        error("sqlite3 prepare: %s", sqlite3_errmsg(db));
        goto done;
    }
    struct edgecore_reading batch[BATCH];
    uint64_t counter = 0, commits = 0;
    struct io_counters before, after;
    if (read_io(&before) != 0) {
        error("/proc/self/io unreadable");
        goto done;
    }
    double start = now(), deadline = start + seconds, interval = sync_ms / 1000.0;
    double transaction_start = start;
    if (sql(db, "BEGIN")) goto done;
    for (int running = 1; running;) {
        fill(batch, BATCH, &counter);
        for (int i = 0; i < BATCH; i++) {
            int rc = insert(statement, &batch[i]);
            if (rc != 0) {
                error("sqlite3 insert: %s", sqlite3_errmsg(db));
                goto done;
            }
        }
        double t = now();
        running = t < deadline;
        if (t - transaction_start >= interval && running) {
            if (sql(db, "COMMIT") || sql(db, "BEGIN")) goto done;
            commits++;
            transaction_start = t;
        }
    }
    if (sql(db, "COMMIT")) goto done;
    commits++;
    double end = now();
    read_io(&after);
    int64_t rows = sql_integer(db, "SELECT count(*) FROM readings");
    if (rows != (int64_t)counter) {
        error("sqlite3: %" PRId64 " rows for %" PRIu64 " readings", rows, counter);
        goto done;
    }
    result = (struct throughput){
        .ok = 1,
        .readings = (double)counter,
        .seconds = end - start,
        .bytes = (double)(after.write_bytes - before.write_bytes),
        .cancelled = (double)(after.cancelled - before.cancelled),
        .syncs = commits,
    };
done:
    sqlite3_finalize(statement);
    sqlite3_close(db);
    remove_tree(folder);
    return result;
}

/// The floor under any journal on this file system: the same records (a 16-byte header and 100 readings)
/// written with writev to one file, fdatasync once per interval. For information, no target.
static struct throughput raw_throughput(uint32_t sync_ms, double seconds) {
    struct throughput result = {0};
    char path[1200];
    path_in_scratch(path, sizeof path, "throughput-raw");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        error("open %s: %s", path, strerror(errno));
        return result;
    }
    struct edgecore_reading batch[BATCH];
    unsigned char header[16] = {0};
    uint32_t length = sizeof batch;
    memcpy(header, &length, sizeof length);
    struct iovec record[2] = {{header, sizeof header}, {batch, sizeof batch}};
    uint64_t counter = 0, syncs = 0;
    struct io_counters before, after;
    read_io(&before);
    double start = now(), deadline = start + seconds, interval = sync_ms / 1000.0, last_sync = start;
    int failed = 0;
    for (int running = 1; running && !failed;) {
        uint64_t first = counter + 1;
        memcpy(header + 8, &first, sizeof first);
        fill(batch, BATCH, &counter);
        failed = writev(fd, record, 2) != (ssize_t)(sizeof header + sizeof batch);
        double t = now();
        running = t < deadline;
        if (t - last_sync >= interval && running && !failed) {
            failed = fdatasync(fd) != 0;
            syncs++;
            last_sync = t;
        }
    }
    if (!failed) failed = fdatasync(fd) != 0;
    syncs++;
    double end = now();
    read_io(&after);
    if (failed) error("raw write %s: %s", path, strerror(errno));
    close(fd);
    unlink(path);
    if (failed) return result;
    result = (struct throughput){
        .ok = 1,
        .readings = (double)counter,
        .seconds = end - start,
        .bytes = (double)(after.write_bytes - before.write_bytes),
        .cancelled = (double)(after.cancelled - before.cancelled),
        .syncs = syncs,
    };
    return result;
}

struct contender {
    const char *name;
    struct throughput (*run)(uint32_t sync_ms, double seconds);
    const char *sync_word;
    int selected, runs;
    double rate[MAX_ROUNDS], bytes[MAX_ROUNDS];
};

static void print_case(int round, const struct contender *who, uint32_t sync_ms, const struct throughput *t) {
    char count[32], rate[32];
    if (!t->ok) {
        printf("  round %d  %-7s sync %4u ms   (failed)\n", round, who->name, sync_ms);
        return;
    }
    printf("  round %d  %-7s sync %4u ms  %13s readings in %.2f s = %11s/s  write_bytes %7.1f MB = %6.2f B/reading "
           "(%.2fx payload)  %s %" PRIu64 "%s\n",
           round, who->name, sync_ms, grouped(t->readings, count, sizeof count), t->seconds,
           grouped(t->readings / t->seconds, rate, sizeof rate), t->bytes / 1e6, t->bytes / t->readings,
           t->bytes / t->readings / PAYLOAD, who->sync_word, t->syncs,
           t->cancelled > 0 ? "  (cancelled_write_bytes > 0)" : "");
    if (t->own_bytes)
        printf("%50s journal's own count: bytes_written %.1f MB = %.2f B/reading\n", "", (double)t->own_bytes / 1e6,
               (double)t->own_bytes / t->readings);
}

static void print_medians(const struct contender *who) {
    char rate[32];
    double bytes = median(who->bytes, who->runs);
    printf("  %-7s %11s readings/s   %6.2f B/reading = %.2fx payload", who->name,
           grouped(median(who->rate, who->runs), rate, sizeof rate), bytes, bytes / PAYLOAD);
}

static void throughput_part(int rounds, double seconds) {
    static const uint32_t intervals[2] = {100, 1000};
    printf("\n== readings/s and bytes written per reading: batches of %d, %.0f s per case, %d rounds ==\n", BATCH,
           seconds, rounds);
    struct edgecore_journal_config defaults;
    edgecore_journal_config_init(&defaults);
    printf("(journal: segment_size %u MiB%s; raw: writev of the same records to one file + fdatasync per interval,\n"
           " the file system's ceiling)\n", segment_mib ? segment_mib : defaults.segment_size >> 20,
           segment_mib ? "" : ", the default");
    for (int which = 0; which < 2; which++) {
        uint32_t sync_ms = intervals[which];
        struct contender contenders[3] = {
            {"journal", journal_throughput, "syncs", part_selected("journal"), 0, {0}, {0}},
            {"SQLite", sqlite_throughput, "commits", part_selected("sqlite"), 0, {0}, {0}},
            {"raw", raw_throughput, "fdatasyncs", part_selected("raw"), 0, {0}, {0}},
        };
        struct contender *journal = &contenders[0], *sqlite = &contenders[1], *raw = &contenders[2];
        for (int round = 1; round <= rounds; round++) {
            for (int step = 0; step < 3; step++) {
                struct contender *who = &contenders[(step + round) % 3];
                if (!who->selected) continue;
                struct throughput t = who->run(sync_ms, seconds);
                print_case(round, who, sync_ms, &t);
                if (t.ok) {
                    who->rate[who->runs] = t.readings / t.seconds;
                    who->bytes[who->runs++] = t.bytes / t.readings;
                }
            }
        }
        printf("sync every %u ms, medians:\n", sync_ms);
        if (sqlite->runs) print_medians(sqlite), printf("\n");
        if (raw->runs) print_medians(raw), printf("\n");
        if (journal->runs) {
            double bytes_ratio = median(journal->bytes, journal->runs) / PAYLOAD;
            print_medians(journal);
            printf(" (target <= 1.25x): %s\n", verdict(bytes_ratio <= 1.25));
        }
        if (journal->runs && sqlite->runs) {
            double ratio = median(journal->rate, journal->runs) / median(sqlite->rate, sqlite->runs);
            printf("  journal / SQLite readings/s: %.1fx (target >= 10x): %s\n", ratio, verdict(ratio >= 10));
        }
        if (journal->runs && raw->runs)
            printf("  journal / raw readings/s: %.2fx (for information)\n",
                   median(journal->rate, journal->runs) / median(raw->rate, raw->runs));
        if (raw->runs && sqlite->runs)
            printf("  raw / SQLite readings/s: %.1fx (for information)\n",
                   median(raw->rate, raw->runs) / median(sqlite->rate, sqlite->runs));
    }
}

// ---- reopening after a cut -------------------------------------------------------------------------------

/// The newest segment: the highest `seg-<first sequence, 16 hex digits>.ecj` name (Journal.swift). Returns
/// its size, or -1 when there is none.
static long long newest_segment(const char *folder, char *out, size_t size) {
    DIR *dir = opendir(folder);
    if (!dir) return -1;
    char best[256] = "";
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strncmp(entry->d_name, "seg-", 4) == 0 && strcmp(entry->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", entry->d_name);
    }
    closedir(dir);
    struct stat st;
    snprintf(out, size, "%s/%s", folder, best);
    return best[0] && stat(out, &st) == 0 ? (long long)st.st_size : -1;
}

/// A power cut in the middle of a record: its 16-byte header (3,200 bytes of payload announced) and
/// 1,000 bytes of garbage, written at the end of the newest segment. Returns 1, or 0 when the newest
/// segment has no header yet (a kill between its creation and its header's write: that is the cut, and
/// nothing is added), -1 on failure.
static int tear_tail(const char *folder, uint64_t salt) {
    char path[1500];
    long long bytes = newest_segment(folder, path, sizeof path);
    if (bytes < 0) {
        error("no segment in %s", folder);
        return -1;
    }
    if (bytes < 32) {
        printf("  (the kill left %s with %lld bytes, no header: no torn record added)\n", strrchr(path, '/') + 1, bytes);
        return 0;
    }
    unsigned char torn[16 + 1000];
    uint32_t length = 32 * 100;
    memcpy(torn, &length, 4);
    uint64_t state = 0x9E3779B97F4A7C15u ^ salt;
    for (size_t i = 4; i < sizeof torn; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        torn[i] = (unsigned char)(state >> 56);
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 || write(fd, torn, sizeof torn) != (ssize_t)sizeof torn || fsync(fd) != 0) {
        error("tear %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return 1;
}

/// The folder's pages out of the page cache, as after a reboot (clean pages only: each file synced first).
static void drop_cached(const char *folder) {
    DIR *dir = opendir(folder);
    if (!dir) return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char path[1500];
        snprintf(path, sizeof path, "%s/%s", folder, entry->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    closedir(dir);
}

/// A writer that never closes: it appends with a sync every 100 ms until it is killed.
static void writer_child(const char *folder, const struct edgecore_journal_config *base, int ready_fd) {
    struct edgecore_journal_config config = *base;
    config.sync_interval_ms = 100;
    struct edgecore_journal *journal = NULL;
    if (edgecore_journal_open(folder, &config, &journal) != 0) _exit(3);
    struct edgecore_reading batch[BATCH];
    uint64_t counter = 0;
    char byte = 'r';
    if (write(ready_fd, &byte, 1) != 1) _exit(4);
    double end = now() + 30; // bounded, in case the parent is gone
    while (now() < end) {
        fill(batch, BATCH, &counter);
        if (edgecore_journal_append(journal, batch, BATCH, NULL) != BATCH) _exit(5);
    }
    _exit(6);
}

static int kill_writer(const char *folder, const struct edgecore_journal_config *config) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return error("pipe: %s", strerror(errno)), -1;
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) return error("fork: %s", strerror(errno)), -1;
    if (child == 0) {
        close(pipe_fds[0]);
        writer_child(folder, config, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    char byte;
    ssize_t got = read(pipe_fds[0], &byte, 1);
    close(pipe_fds[0]);
    if (got == 1) {
        struct timespec pause = {0, 350 * 1000000}; // a few policy syncs, then the cut between two of them
        nanosleep(&pause, NULL);
    }
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    if (got != 1 || !WIFSIGNALED(status)) {
        error("writer child ended by itself (status %d) instead of being killed", status);
        return -1;
    }
    return 0;
}

static void reopen_case(uint64_t megabytes) {
    char folder[1200], name[64];
    snprintf(name, sizeof name, "reopen-%" PRIu64 "MiB", megabytes);
    path_in_scratch(folder, sizeof folder, name);
    remove_tree(folder);
    uint64_t target = megabytes << 20;
    struct edgecore_journal_config config;
    edgecore_journal_config_init(&config);
    config.size_limit = target + (UINT64_C(256) << 20); // room for what the killed writer adds: nothing dropped
    config.sync_interval_ms = 0;                          // build fast: syncs only at segment changes
    struct edgecore_journal *journal = open_journal(folder, &config);
    if (!journal) return;
    if (edgecore_journal_add_cursor(journal, "uplink") < 0) error("add_cursor: %s", edgecore_journal_last_error());
    static struct edgecore_reading batch[BUILD_BATCH];
    uint64_t counter = 0;
    struct edgecore_journal_stats stats = {0};
    double start = now(), limit = start + 600;
    int rc = 0;
    while (stats.bytes < target && now() < limit) {
        for (int i = 0; i < 64; i++) {
            fill(batch, BUILD_BATCH, &counter);
            rc = edgecore_journal_append(journal, batch, BUILD_BATCH, NULL);
            if (rc != BUILD_BATCH) break;
        }
        if (rc != BUILD_BATCH) break;
        if (edgecore_journal_stats(journal, &stats) != 0 || counter * 32 > 2 * target) break; // stats must grow
    }
    if (rc >= 0) rc = edgecore_journal_sync(journal);
    edgecore_journal_stats(journal, &stats);
    edgecore_journal_close(journal);
    double built = now() - start;
    if (rc < 0 || stats.bytes < target) {
        error("building %s: rc %d, %" PRIu64 " bytes after %.0f s: %s", folder, rc, stats.bytes, built,
              edgecore_journal_last_error());
        remove_tree(folder);
        return;
    }
    char readings[32];
    printf("%" PRIu64 " MiB: built in %.1f s: %s readings, %.1f MiB in %u segments\n", megabytes, built,
           grouped((double)stats.newest_sequence, readings, sizeof readings), (double)stats.bytes / 1048576.0,
           stats.segments);
    config.sync_interval_ms = 1000;
    if (kill_writer(folder, &config) != 0) {
        remove_tree(folder);
        return;
    }
    // Cold (the target) first, then warm (page cache kept: the CPU's share, for information).
    for (int warm = 0; warm < 2; warm++) {
        double took_ms[REOPEN_RUNS];
        int runs = 0;
        for (int run = 0; run < REOPEN_RUNS; run++) {
            int torn = tear_tail(folder, (uint64_t)(warm * REOPEN_RUNS + run));
            if (torn < 0) break;
            if (!warm) drop_cached(folder);
            journal = NULL;
            double t0 = now();
            rc = edgecore_journal_open(folder, &config, &journal);
            double took = now() - t0;
            if (rc != 0) {
                error("reopen %s: %d %s", folder, rc, edgecore_journal_last_error());
                break;
            }
            edgecore_journal_stats(journal, &stats);
            edgecore_journal_close(journal);
            printf("  %s open %d%s: %7.2f ms  (newest sequence %" PRIu64 ", durable %" PRIu64 ", torn bytes cut %" PRIu64
                   ", corrupt records/segments skipped %" PRIu64 "/%" PRIu64 ", segments %u)\n",
                   warm ? "warm" : "cold", run + 1, run == 0 && !warm ? " after kill -9 + torn record" : " after a torn record",
                   took * 1e3, stats.newest_sequence, stats.durable_sequence, stats.torn_bytes_truncated,
                   stats.corrupt_records_skipped, stats.corrupt_segments_skipped, stats.segments);
            if (torn && stats.torn_bytes_truncated < 1000)
                error("open did not cut the torn record (%" PRIu64 " bytes cut)", stats.torn_bytes_truncated);
            took_ms[runs++] = took * 1e3;
        }
        if (runs == 0) break;
        double low, high, middle = median(took_ms, runs);
        minmax(took_ms, runs, &low, &high);
        printf("%" PRIu64 " MiB: open after a cut, %s, %d runs: min %.2f / median %.2f / max %.2f ms", megabytes,
               warm ? "warm page cache" : "cold page cache", runs, low, middle, high);
        if (warm) printf(" (for information)\n");
        else printf(" (target median < 50 ms): %s\n", verdict(middle < 50));
    }
    remove_tree(folder);
}

static void reopen_part(void) {
    printf("\n== reopening after a cut: 256 MiB and 2 GiB journals, %d opens each cold and warm ==\n", REOPEN_RUNS);
    reopen_case(256);
    reopen_case(2048);
}

// ---- syncs per hour at the bound -------------------------------------------------------------------------

static void sleep_until(double deadline) {
    struct timespec t;
    t.tv_sec = (time_t)deadline;
    t.tv_nsec = (long)((deadline - (double)t.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
}

/// Syncs in `seconds` at 1,000 readings/s under the bound; -1 on failure.
static long syncs_case(uint32_t bound, double seconds, double *elapsed) {
    char folder[1200];
    path_in_scratch(folder, sizeof folder, "syncs");
    remove_tree(folder);
    struct edgecore_journal_config config;
    edgecore_journal_config_init(&config);
    config.sync_interval_ms = 10;
    config.max_syncs_per_hour = bound;
    struct edgecore_journal *journal = open_journal(folder, &config);
    if (!journal) return -1;
    struct edgecore_journal_stats before, after;
    edgecore_journal_stats(journal, &before);
    struct edgecore_reading batch[BATCH];
    uint64_t counter = 0, total = (uint64_t)(seconds * 1000);
    double start = now();
    int rc = 0;
    while (counter < total && rc >= 0) {
        sleep_until(start + (double)(counter + 1) / 1000.0);
        uint64_t due = (uint64_t)((now() - start) * 1000.0); // readings fallen due, 1 per ms
        if (due > total) due = total;
        if (due <= counter) continue;
        size_t count = (size_t)(due - counter < BATCH ? due - counter : BATCH);
        fill(batch, count, &counter);
        rc = edgecore_journal_append(journal, batch, count, NULL);
    }
    *elapsed = now() - start;
    edgecore_journal_stats(journal, &after);
    edgecore_journal_close(journal);
    remove_tree(folder);
    if (rc < 0) {
        error("syncs: append %d %s", rc, edgecore_journal_last_error());
        return -1;
    }
    return (long)(after.syncs - before.syncs);
}

static void syncs_part(int rounds, double seconds) {
    static const uint32_t bounds[2] = {36000, 3600};
    printf("\n== syncs per hour at 1,000 readings/s, sync_interval_ms 10, %.0f s per case, %d rounds ==\n", seconds,
           rounds);
    for (int which = 0; which < 2; which++) {
        uint32_t bound = bounds[which];
        double measured[MAX_ROUNDS];
        int runs = 0;
        for (int round = 1; round <= rounds; round++) {
            double elapsed = 0;
            long syncs = syncs_case(bound, seconds, &elapsed);
            if (syncs < 0) continue;
            double expected = bound * elapsed / 3600.0;
            printf("  round %d  max_syncs_per_hour %5u: %ld syncs in %.2f s (expected %.1f) = %.0f/h, %.1f ms apart\n",
                   round, bound, syncs, elapsed, expected, syncs * 3600.0 / elapsed, syncs ? elapsed * 1e3 / syncs : 0.0);
            measured[runs++] = syncs * 3600.0 / elapsed;
            fflush(stdout);
        }
        if (!runs) continue;
        double per_hour = median(measured, runs), slack = bound * 0.01 + 3600.0 / seconds;
        printf("max_syncs_per_hour %u: measured median %.0f/h, expected %u/h (within 1 sync + 1 %%): %s\n", bound,
               per_hour, bound, verdict(per_hour >= bound - slack && per_hour <= bound + slack));
    }
}

// ---- main ------------------------------------------------------------------------------------------------

static void watchdog(int signal_number) {
    (void)signal_number;
    static const char message[] = "journal_bench: 1500 s watchdog, stopping (scratch folder left)\n";
    if (write(STDOUT_FILENO, message, sizeof message - 1) < 0) {}
    _exit(2);
}

static void describe_machine(const char *parent) {
    char model[256] = "?";
    FILE *cpuinfo = fopen("/proc/cpuinfo", "r");
    if (cpuinfo) {
        char line[512];
        while (fgets(line, sizeof line, cpuinfo)) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(cpuinfo);
    }
    struct utsname host;
    uname(&host);
    time_t wall = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&wall));
    printf("journal_bench %s: %s %s, %s, %ld CPUs; libEdgeCore %s, SQLite %s; scratch %s\n", date, host.sysname,
           host.machine, model, sysconf(_SC_NPROCESSORS_ONLN), edgecore_version_string(), sqlite3_libversion(),
           parent);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, watchdog);
    alarm(1500);
    int rounds = (int)env_number("JOURNAL_BENCH_ROUNDS", 3, 1, MAX_ROUNDS);
    double seconds = env_number("JOURNAL_BENCH_SECONDS", 5, 0.1, 60);
    double sync_seconds = env_number("JOURNAL_BENCH_SYNC_SECONDS", 10, 2, 120);
    segment_mib = (uint32_t)env_number("JOURNAL_BENCH_SEGMENT_MIB", 0, 0, 1024);
    const char *parent = getenv("JOURNAL_BENCH_DIR");
    if (!parent || !*parent) parent = "/var/tmp";
    struct statfs fs;
    if (strlen(parent) > 900) {
        fprintf(stderr, "JOURNAL_BENCH_DIR is longer than 900 bytes\n");
        return 2;
    }
    if (statfs(parent, &fs) != 0) {
        fprintf(stderr, "%s: %s\n", parent, strerror(errno));
        return 2;
    }
    if (fs.f_type == TMPFS_MAGIC_ || fs.f_type == RAMFS_MAGIC_) {
        fprintf(stderr, "%s is on tmpfs/ramfs, where write_bytes stays 0: set JOURNAL_BENCH_DIR to a disk folder\n",
                parent);
        return 2;
    }
    snprintf(scratch, sizeof scratch, "%s/edgecore-journal-bench-XXXXXX", parent);
    if (!mkdtemp(scratch)) {
        fprintf(stderr, "mkdtemp %s: %s\n", scratch, strerror(errno));
        return 2;
    }
    describe_machine(scratch);
    if (part_selected("journal") || part_selected("sqlite") || part_selected("raw")) throughput_part(rounds, seconds);
    if (part_selected("reopen")) reopen_part();
    if (part_selected("syncs")) syncs_part(rounds, sync_seconds);
    remove_tree(scratch);
    printf("\n%s: %d target(s) missed, %d error(s)\n", failures || errors ? "journal_bench FAILED" : "journal_bench OK",
           failures, errors);
    return errors ? 2 : failures ? 1 : 0;
}
