/* kill -9 cycles of a journal writer on the real file system (issue 10, item 4).
 *
 * Each cycle starts a writer process (this program again, --writer) on one journal folder. Its main thread
 * appends readings that carry their own sequence number (journal_test.h) in random batches, with the sync
 * policy every 10 ms and an explicit edgecore_journal_sync every 5-15 ms; its second thread reads the
 * "uplink" cursor, checks each reading, acknowledges and syncs. Over a pipe the writer reports what it
 * knows: each accepted append, each durable_sequence confirmed by a returned sync, each uplink delivery,
 * each acknowledgement confirmed durable by a returned sync. The parent kills it with SIGKILL (by its PID)
 * at a random moment, 0-50 ms after it opened the journal (every 8th cycle: 0-50 ms after it was started,
 * during start-up and recovery), then reopens the journal and checks, with a fresh cursor:
 *   - lost durable: a sequence up to the newest confirmed durable one that is neither readable nor
 *     acknowledged by the uplink (must be 0);
 *   - lost accepted: the same for every append that returned (the header: "a process crash loses nothing
 *     that append accepted"; must be 0);
 *   - corrupt: a delivered reading that is not the identity of its sequence, a damaged record or segment
 *     skipped by recovery, sequences not strictly increasing (must be 0);
 *   - the uplink's acknowledgement after reopen is at least the newest confirmed durable one (never moves
 *     back past a synced acknowledgement);
 *   - duplicates: uplink deliveries of a sequence delivered before; counted, and each must lie above the
 *     acknowledgement confirmed durable at that time (the unacknowledged window);
 *   - before the reopen, the read-only reader (edgecore_journal_reader_check) finds no damage but a torn
 *     tail, exactly the bytes recovery then cuts off, and every accepted reading.
 * Figures go to stdout; the run fails on any violation.
 *
 *   journal_kill                       EDGECORE_TEST_FOLDER (an empty folder; the journal goes into it),
 *                                      EDGECORE_KILL_CYCLES (default 100), EDGECORE_KILL_SEED (default: time)
 *   journal_kill --writer FOLDER FD SEED   the writer; reports on FD; exits by itself after WRITER_SECONDS */
#define _GNU_SOURCE
#include "journal_test.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

enum {
    WRITER_SECONDS = 10,      /* a writer nobody kills stops by itself */
    OPEN_WAIT_MS = 10000,     /* how long the parent waits for a writer to report its open */
    KILL_WINDOW_US = 50000,   /* the kill comes 0 .. 50 ms after the writer opened (or started) */
    BATCH_MAX = 64,           /* readings per append: 1 .. BATCH_MAX, */
    LARGE_BATCH_MAX = 3000,   /* or, one append in 64, up to LARGE_BATCH_MAX (a record of ~94 KiB, more than
                                 a segment, written by one write that a kill may cut short) */
    READ_BATCH = 256,
};

/* One report of the writer, written to the pipe with one write (atomic below PIPE_BUF). */
struct report {
    uint32_t kind;
    uint32_t count;
    uint64_t a, b;
};
enum {
    OPENED = 'O',    /* a: newest sequence at open, b: the uplink's acknowledgement at open */
    APPENDED = 'P',  /* an append returned: a = first sequence, count readings */
    DURABLE = 'D',   /* a sync returned; a = stats.durable_sequence after it */
    DELIVERED = 'R', /* the uplink delivered a = first, count readings, each its own identity */
    CORRUPT = 'C',   /* the uplink delivered a reading that is not the identity of sequence a */
    ACKED = 'A',     /* a sync returned after the uplink acknowledged; a = its durable_acknowledged */
    FAILED = 'E',    /* a call failed: a = -code, count = which call (enum call) */
};
enum call { CALL_OPEN = 1, CALL_ADD_CURSOR, CALL_APPEND, CALL_SEQUENCE, CALL_SYNC, CALL_READ, CALL_ACK, CALL_STATS };

static uint64_t next_random(uint64_t *state) { /* xorshift64* */
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ull;
}

static int64_t monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

/* Every open (writer and parent) uses these settings: small segments so that cycles cross segment
 * boundaries and acknowledged segments get removed; refuse when full so that nothing unacknowledged is
 * ever dropped (a dropped reading would look lost). */
static void kill_test_config(struct edgecore_journal_config *config) {
    edgecore_journal_config_init(config);
    config->segment_size = EDGECORE_JOURNAL_SEGMENT_SIZE_MIN;
    config->size_limit = 32u * EDGECORE_JOURNAL_SEGMENT_SIZE_MIN;
    config->sync_interval_ms = 10;
    config->when_full = EDGECORE_JOURNAL_REFUSE_NEWEST;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The writer                                                                                           */
/* ---------------------------------------------------------------------------------------------------- */

static int report_fd = -1;
static struct edgecore_journal *writer_journal;
static int64_t writer_deadline_us;

static void report(uint32_t kind, uint32_t count, uint64_t a, uint64_t b) {
    struct report r = {kind, count, a, b};
    ssize_t n;
    do n = write(report_fd, &r, sizeof r);
    while (n < 0 && errno == EINTR);
}

static void report_failure(enum call call, int code) {
    fprintf(stderr, "  writer: call %d failed: %d (%s)\n", (int)call, code, edgecore_journal_last_error());
    report(FAILED, (uint32_t)call, (uint64_t)-(int64_t)code, 0);
}

/* The uplink: read, check, acknowledge; sync every few batches and report the durable acknowledgement. */
static void *uplink_reader(void *arg) {
    (void)arg;
    static struct edgecore_reading out[READ_BATCH];
    uint64_t unsynced_batches = 0;
    while (monotonic_us() < writer_deadline_us) {
        uint64_t first = 0;
        int n = edgecore_journal_read(writer_journal, "uplink", out, READ_BATCH, &first);
        if (n < 0) {
            report_failure(CALL_READ, n);
            return NULL;
        }
        if (n > 0) {
            for (int i = 0; i < n; i++)
                if (!journal_is_identity(&out[i], first + (uint64_t)i)) report(CORRUPT, 1, first + (uint64_t)i, 0);
            report(DELIVERED, (uint32_t)n, first, 0);
            int rc = edgecore_journal_ack(writer_journal, "uplink", first + (uint64_t)n - 1);
            if (rc != EDGECORE_OK) {
                report_failure(CALL_ACK, rc);
                return NULL;
            }
            unsynced_batches++;
        }
        if (unsynced_batches >= 4 || (n == 0 && unsynced_batches > 0)) {
            int rc = edgecore_journal_sync(writer_journal);
            if (rc != EDGECORE_OK) {
                report_failure(CALL_SYNC, rc);
                return NULL;
            }
            struct edgecore_journal_cursor_stats cursor;
            rc = journal_cursor_named(writer_journal, "uplink", &cursor);
            if (rc != EDGECORE_OK) {
                report_failure(CALL_STATS, rc);
                return NULL;
            }
            report(ACKED, 0, cursor.durable_acknowledged, 0);
            unsynced_batches = 0;
        }
        if (n == 0) sleep_us(1000);
    }
    return NULL;
}

static int writer(const char *folder, int fd, uint64_t seed) {
    report_fd = fd;
    writer_deadline_us = monotonic_us() + WRITER_SECONDS * 1000000LL;
    uint64_t random_state = seed | 1;
    struct edgecore_journal_config config;
    kill_test_config(&config);
    int rc = edgecore_journal_open(folder, &config, &writer_journal);
    if (rc != EDGECORE_OK) {
        report_failure(CALL_OPEN, rc);
        return 1;
    }
    rc = edgecore_journal_add_cursor(writer_journal, "uplink");
    if (rc < 0) {
        report_failure(CALL_ADD_CURSOR, rc);
        return 1;
    }
    struct edgecore_journal_stats stats;
    struct edgecore_journal_cursor_stats uplink;
    if (edgecore_journal_stats(writer_journal, &stats) != EDGECORE_OK ||
        journal_cursor_named(writer_journal, "uplink", &uplink) != EDGECORE_OK) {
        report_failure(CALL_STATS, EDGECORE_E_NOT_FOUND);
        return 1;
    }
    report(OPENED, 0, stats.newest_sequence, uplink.durable_acknowledged);

    pthread_t reader;
    if (pthread_create(&reader, NULL, uplink_reader, NULL) != 0) return 1;

    static struct edgecore_reading batch[LARGE_BATCH_MAX];
    uint64_t next = stats.newest_sequence + 1;
    int64_t next_sync_us = monotonic_us() + 5000 + (int64_t)(next_random(&random_state) % 10000);
    while (monotonic_us() < writer_deadline_us) {
        uint64_t dice = next_random(&random_state);
        size_t count = 1 + (size_t)(dice % 64 == 0 ? (dice >> 6) % LARGE_BATCH_MAX : (dice >> 6) % BATCH_MAX);
        journal_fill(batch, count, next);
        uint64_t first = 0;
        rc = edgecore_journal_append(writer_journal, batch, count, &first);
        if (rc == EDGECORE_E_JOURNAL_FULL) { /* the uplink catches up and frees segments */
            sleep_us(1000);
            continue;
        }
        if (rc != (int)count) {
            report_failure(CALL_APPEND, rc);
            return 1;
        }
        if (first != next) {
            fprintf(stderr, "  writer: append numbered %" PRIu64 ", expected %" PRIu64 "\n", first, next);
            report_failure(CALL_SEQUENCE, EDGECORE_E_INVALID_ARGUMENT);
            return 1;
        }
        report(APPENDED, (uint32_t)count, first, 0);
        next += count;
        if (monotonic_us() >= next_sync_us) {
            rc = edgecore_journal_sync(writer_journal);
            if (rc != EDGECORE_OK) {
                report_failure(CALL_SYNC, rc);
                return 1;
            }
            if (edgecore_journal_stats(writer_journal, &stats) != EDGECORE_OK) {
                report_failure(CALL_STATS, EDGECORE_E_NOT_FOUND);
                return 1;
            }
            report(DURABLE, 0, stats.durable_sequence, 0);
            next_sync_us = monotonic_us() + 5000 + (int64_t)(next_random(&random_state) % 10000);
        }
        sleep_us((long)(next_random(&random_state) % 300));
    }
    pthread_join(reader, NULL);
    edgecore_journal_close(writer_journal);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The parent                                                                                           */
/* ---------------------------------------------------------------------------------------------------- */

/* What the parent knows, over all cycles. */
struct knowledge {
    uint64_t accepted;        /* the newest sequence an append returned */
    uint64_t durable;         /* the newest durable_sequence a returned sync confirmed */
    uint64_t acked;           /* the newest uplink acknowledgement a returned sync confirmed */
    uint64_t delivered;       /* the newest sequence the uplink delivered */
    uint64_t delivered_total, appended_total;
    uint64_t duplicates;      /* uplink deliveries of sequences delivered before */
    uint64_t duplicates_outside; /* ... of sequences at or below the confirmed durable acknowledgement */
    uint64_t corrupt_delivered; /* uplink or audit readings that are not their sequence's identity */
    uint64_t out_of_order;    /* deliveries not right after the previous one of the same writer */
    uint64_t writer_failures; /* failed calls in writers, writers that were not killed */
    uint64_t opened_writers;  /* cycles whose writer opened the journal before the kill */
};

/* Per writer process. */
struct cycle {
    uint64_t delivered; /* the last sequence this writer's uplink delivered (0: none yet) */
    int opened;
    size_t partial;     /* bytes of an incomplete report read from its pipe */
};

static void take_report(const struct report *r, struct knowledge *k, struct cycle *c) {
    switch (r->kind) {
    case OPENED:
        c->opened = 1;
        k->opened_writers++;
        break;
    case APPENDED:
        if (r->a + r->count - 1 > k->accepted) k->accepted = r->a + r->count - 1;
        k->appended_total += r->count;
        break;
    case DURABLE:
        if (r->a > k->durable) k->durable = r->a;
        break;
    case DELIVERED: {
        uint64_t last = r->a + r->count - 1;
        if (c->delivered != 0 && r->a != c->delivered + 1) k->out_of_order++;
        if (r->a <= k->delivered) {
            uint64_t again = k->delivered - r->a + 1;
            if (again > r->count) again = r->count;
            k->duplicates += again;
            if (r->a <= k->acked) {
                uint64_t below = k->acked - r->a + 1;
                k->duplicates_outside += below < r->count ? below : r->count;
                JOURNAL_DIAGNOSE("  uplink delivered %" PRIu64 " again, at or below the durable acknowledgement %"
                        PRIu64 "\n", r->a, k->acked);
            }
        }
        if (last > k->delivered) k->delivered = last;
        c->delivered = last;
        k->delivered_total += r->count;
        break;
    }
    case CORRUPT:
        k->corrupt_delivered++;
        JOURNAL_DIAGNOSE("  uplink: sequence %" PRIu64 " is not its own reading\n", r->a);
        break;
    case ACKED:
        if (r->a > k->acked) k->acked = r->a;
        break;
    case FAILED:
        k->writer_failures++;
        JOURNAL_DIAGNOSE("  writer call %u failed with %lld\n", r->count, -(long long)r->a);
        break;
    default:
        k->writer_failures++;
        JOURNAL_DIAGNOSE("  unknown report %u\n", r->kind);
    }
}

/* Reads the writer's reports until `deadline_us` (or EOF: returns 0 then), or until it opened when
 * until_opened is set. */
static int drain_reports(int fd, int64_t deadline_us, int until_opened, struct knowledge *k, struct cycle *c) {
    static struct report buffer[512]; /* c->partial bytes of an incomplete report at its start */
    for (;;) {
        if (until_opened && c->opened) return 1;
        int64_t left = deadline_us - monotonic_us();
        if (left <= 0) return 1;
        struct pollfd p = {fd, POLLIN, 0};
        struct timespec timeout = {left / 1000000, (left % 1000000) * 1000L};
        int ready = ppoll(&p, 1, &timeout, NULL);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return 1;
        ssize_t n = read(fd, (char *)buffer + c->partial, sizeof buffer - c->partial);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        size_t bytes = c->partial + (size_t)n, whole = bytes / sizeof(struct report);
        for (size_t i = 0; i < whole; i++) take_report(&buffer[i], k, c);
        c->partial = bytes % sizeof(struct report);
        memmove(buffer, (char *)buffer + whole * sizeof(struct report), c->partial);
    }
}

/* The figures of the checks after each kill. */
struct audit_totals {
    uint64_t lost_durable, lost_accepted;
    uint64_t gaps;              /* sequences missing inside what the audit cursor delivered */
    uint64_t corrupt_skipped;   /* records and segments recovery skipped as damaged */
    uint64_t torn_bytes;        /* torn tails cut off at open (an append killed mid-write) */
    uint64_t ack_regressions;   /* the uplink's acknowledgement below a confirmed durable one */
    uint64_t audit_failures;    /* opens, syncs, cursor calls that failed */
    uint64_t readings_checked;
    int64_t reopen_max_us;
    uint64_t reader_damage;     /* problems the read-only reader found before recovery, other than a torn tail */
    uint64_t reader_mismatch;   /* the reader's view disagreeing with what recovery then did or what was accepted */
    uint64_t reader_failures;   /* reader calls that failed */
};

/* Before recovery, the read-only reader (edgecore_journal_reader_*) looks at what the kill left: at most a
 * torn tail (an append cut short), every accepted reading there. Returns its torn bytes (-1: no report). */
static int64_t reader_audit(const char *folder, const struct knowledge *k, struct audit_totals *t) {
    struct edgecore_journal_reader *reader = NULL;
    struct edgecore_journal_report report;
    int rc = edgecore_journal_reader_open(folder, &reader);
    if (rc == EDGECORE_OK) rc = edgecore_journal_reader_check(reader, &report);
    if (rc != EDGECORE_OK) {
        JOURNAL_DIAGNOSE("  reader: %d (%s)\n", rc, edgecore_journal_last_error());
        t->reader_failures++;
        edgecore_journal_reader_close(reader);
        return -1;
    }
    for (uint32_t i = 0; i < report.problems; i++) {
        struct edgecore_journal_problem problem;
        if (edgecore_journal_reader_problem(reader, i, &problem) != EDGECORE_OK) {
            t->reader_failures++;
            break;
        }
        if (problem.kind == EDGECORE_JOURNAL_PROBLEM_TORN_TAIL) continue;
        JOURNAL_DIAGNOSE("  reader, before recovery: %s offset %" PRIu64 ": %s\n", problem.file, problem.offset,
                         problem.message);
        t->reader_damage++;
    }
    if (report.last_sequence < k->accepted) {
        JOURNAL_DIAGNOSE("  reader, before recovery: newest %" PRIu64 " below the accepted %" PRIu64 "\n",
                         report.last_sequence, k->accepted);
        t->reader_mismatch++;
    }
    edgecore_journal_reader_close(reader);
    return (int64_t)report.torn_bytes;
}

/* Sequences in (covered, upto] not covered: none when covered >= upto. */
static uint64_t uncovered(uint64_t covered, uint64_t upto) { return upto > covered ? upto - covered : 0; }

/* Reopens the journal after a kill and checks it against what the parent knows. */
static void audit(const char *folder, struct knowledge *k, struct audit_totals *t) {
    struct edgecore_journal_config config;
    kill_test_config(&config);
    struct edgecore_journal *journal = NULL;
    int64_t reader_torn = reader_audit(folder, k, t);
    int64_t start = monotonic_us();
    int rc = edgecore_journal_open(folder, &config, &journal);
    int64_t took = monotonic_us() - start;
    if (took > t->reopen_max_us) t->reopen_max_us = took;
    if (rc != EDGECORE_OK) {
        JOURNAL_DIAGNOSE("  reopen failed: %d (%s)\n", rc, edgecore_journal_last_error());
        t->audit_failures++;
        return;
    }
    /* What recovery kept is in the kernel; a sync makes it durable, so the audit cursor delivers it. */
    rc = edgecore_journal_sync(journal);
    if (rc != EDGECORE_OK) t->audit_failures++;
    struct edgecore_journal_stats stats;
    CHECK_EQ(edgecore_journal_stats(journal, &stats), EDGECORE_OK);
    t->corrupt_skipped += stats.corrupt_records_skipped + stats.corrupt_segments_skipped;
    t->torn_bytes += stats.torn_bytes_truncated;
    if (reader_torn >= 0 && (uint64_t)reader_torn != stats.torn_bytes_truncated) {
        JOURNAL_DIAGNOSE("  the reader saw %" PRId64 " torn bytes, recovery cut %" PRIu64 "\n", reader_torn,
                         stats.torn_bytes_truncated);
        t->reader_mismatch++;
    }

    uint64_t acked = 0;
    struct edgecore_journal_cursor_stats uplink;
    if (journal_cursor_named(journal, "uplink", &uplink) == EDGECORE_OK) acked = uplink.acknowledged_sequence;
    if (acked < k->acked) {
        JOURNAL_DIAGNOSE("  the uplink's acknowledgement went back from %" PRIu64 " (synced) to %" PRIu64 "\n",
                k->acked, acked);
        t->ack_regressions++;
    }

    if (edgecore_journal_add_cursor(journal, "audit") < 0) {
        t->audit_failures++;
        edgecore_journal_close(journal);
        return;
    }
    uint64_t stored = stats.newest_sequence >= stats.oldest_sequence ? stats.newest_sequence - stats.oldest_sequence + 1 : 0;
    /* Every sequence up to what was confirmed is readable now or was acknowledged by the uplink. */
    struct journal_scan scan = journal_scan_cursor(journal, "audit", stored / 1024 + 4, acked);
    if (scan.error != 0) t->audit_failures++;
    k->corrupt_delivered += scan.wrong;
    k->out_of_order += scan.out_of_order;
    t->readings_checked += scan.delivered;
    t->gaps += scan.gaps;
    if (scan.gaps != 0 || scan.out_of_order != 0 || stats.corrupt_records_skipped + stats.corrupt_segments_skipped != 0)
        JOURNAL_DIAGNOSE("  after the kill: stored %" PRIu64 " .. %" PRIu64 " in %u segments, %" PRIu64 " torn bytes cut, %"
                         PRIu64 " damaged records and %" PRIu64 " segments skipped; the audit read %" PRIu64 " .. %" PRIu64 "\n",
                         stats.oldest_sequence, stats.newest_sequence, stats.segments, stats.torn_bytes_truncated,
                         stats.corrupt_records_skipped, stats.corrupt_segments_skipped, scan.first, scan.last);
    uint64_t covered = scan.covered;
    uint64_t lost_durable = uncovered(covered, k->durable), lost_accepted = uncovered(covered, k->accepted);
    if (lost_durable > 0 || lost_accepted > 0)
        JOURNAL_DIAGNOSE("  lost: readable or acknowledged up to %" PRIu64 ", confirmed durable %" PRIu64
                ", accepted %" PRIu64 "\n", covered, k->durable, k->accepted);
    t->lost_durable += lost_durable;
    t->lost_accepted += lost_accepted;

    if (edgecore_journal_remove_cursor(journal, "audit") != EDGECORE_OK) t->audit_failures++;
    edgecore_journal_close(journal);
}

/* Starts a writer on `folder` reporting on a new pipe; returns its PID, *fd_out the pipe's read end. */
static pid_t start_writer(const char *self, const char *folder, uint64_t seed, int *fd_out) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char fd_text[16], seed_text[32];
        snprintf(fd_text, sizeof fd_text, "%d", fds[1]);
        snprintf(seed_text, sizeof seed_text, "%" PRIu64, seed);
        execl(self, self, "--writer", folder, fd_text, seed_text, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    *fd_out = fds[0];
    return pid;
}

static const char *self_path;

/* Kills the writer `pid` with SIGKILL, reaps it and takes what it reported before it died; its wait
 * status. */
static int kill_writer(pid_t pid, int fd, struct knowledge *k, struct cycle *c) {
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    drain_reports(fd, monotonic_us() + OPEN_WAIT_MS * 1000LL, 0, k, c);
    close(fd);
    return status;
}

static void kill_cycles(void) {
    const char *base = getenv("EDGECORE_TEST_FOLDER");
    const char *cycles_text = getenv("EDGECORE_KILL_CYCLES");
    const char *seed_text = getenv("EDGECORE_KILL_SEED");
    CHECK(base != NULL);
    if (base == NULL) return;
    long cycles = cycles_text ? strtol(cycles_text, NULL, 10) : 100;
    uint64_t seed = seed_text ? strtoull(seed_text, NULL, 10) : (uint64_t)time(NULL);
    uint64_t random_state = seed | 1;
    char folder[4096];
    snprintf(folder, sizeof folder, "%s/journal", base);
    printf("journal-kill: %ld cycles, seed %" PRIu64 " (EDGECORE_KILL_SEED=%" PRIu64 " repeats the kill times), "
           "folder %s\n", cycles, seed, seed, folder);
    fflush(stdout);

    struct knowledge k;
    memset(&k, 0, sizeof k);
    struct audit_totals t;
    memset(&t, 0, sizeof t);
    int64_t start = monotonic_us();
    long done = 0, early_kills = 0;
    for (long cycle = 0; cycle < cycles; cycle++) {
        int fd = -1;
        pid_t pid = start_writer(self_path, folder, next_random(&random_state), &fd);
        CHECK(pid > 0);
        if (pid <= 0) break;
        struct cycle c = {0, 0, 0};
        int64_t delay = (int64_t)(next_random(&random_state) % (KILL_WINDOW_US + 1));
        int early = cycle % 8 == 7; /* kill during start-up and recovery */
        int alive = 1;
        if (!early) alive = drain_reports(fd, monotonic_us() + OPEN_WAIT_MS * 1000LL, 1, &k, &c);
        if (alive && (early || c.opened)) alive = drain_reports(fd, monotonic_us() + delay, 0, &k, &c);
        early_kills += early;
        int status = kill_writer(pid, fd, &k, &c);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            JOURNAL_DIAGNOSE("  cycle %ld: the writer was not killed (status 0x%x)\n", cycle, status);
            k.writer_failures++;
        }
        if (!early && !c.opened) {
            JOURNAL_DIAGNOSE("  cycle %ld: the writer did not open the journal\n", cycle);
            k.writer_failures++;
        }
        audit(folder, &k, &t);
        done++;
        if (k.writer_failures + t.audit_failures > 10) {
            fprintf(stderr, "  stopping after %ld cycles: too many failures\n", done);
            break;
        }
    }
    double seconds = (double)(monotonic_us() - start) / 1e6;
    printf("journal-kill: %ld cycles in %.1f s (%ld killed 0-50 ms after start, the others 0-50 ms after open; "
           "%" PRIu64 " writers opened before the kill); "
           "appended %" PRIu64 ", newest accepted %" PRIu64 ", confirmed durable %" PRIu64 ", uplink delivered %" PRIu64
           ", acknowledged (durable) %" PRIu64 ", audited %" PRIu64 " readings\n",
           done, seconds, early_kills, k.opened_writers, k.appended_total, k.accepted, k.durable, k.delivered_total,
           k.acked, t.readings_checked);
    printf("journal-kill: lost durable %" PRIu64 ", lost accepted %" PRIu64 ", corrupt delivered %" PRIu64
           ", corrupt skipped %" PRIu64 ", gaps %" PRIu64 ", out of order %" PRIu64 ", ack regressions %" PRIu64 ", duplicates %" PRIu64
           " (outside the unacknowledged window %" PRIu64 "), torn bytes cut %" PRIu64 ", reopen max %.1f ms, "
           "writer failures %" PRIu64 ", audit failures %" PRIu64 "; read-only reader before recovery: damage %" PRIu64
           ", disagreements %" PRIu64 ", failures %" PRIu64 "\n",
           t.lost_durable, t.lost_accepted, k.corrupt_delivered, t.corrupt_skipped, t.gaps, k.out_of_order, t.ack_regressions,
           k.duplicates, k.duplicates_outside, t.torn_bytes, (double)t.reopen_max_us / 1000.0, k.writer_failures,
           t.audit_failures, t.reader_damage, t.reader_mismatch, t.reader_failures);
    CHECK_EQ(done, cycles);
    CHECK_EQ(t.lost_durable, 0);
    CHECK_EQ(t.lost_accepted, 0);
    CHECK_EQ(k.corrupt_delivered, 0);
    CHECK_EQ(t.corrupt_skipped, 0);
    CHECK_EQ(t.gaps, 0);
    CHECK_EQ(k.out_of_order, 0);
    CHECK_EQ(t.ack_regressions, 0);
    CHECK_EQ(k.duplicates_outside, 0);
    CHECK_EQ(k.writer_failures, 0);
    CHECK_EQ(t.audit_failures, 0);
    CHECK_EQ(t.reader_damage, 0);
    CHECK_EQ(t.reader_mismatch, 0);
    CHECK_EQ(t.reader_failures, 0);
    CHECK(k.durable > 0); /* the cycles did write and sync something */
    CHECK(k.acked > 0);   /* ... and the uplink acknowledged */
}

/* Writers killed while they create a journal, each in a new folder, at a random moment within 1.5 times
 * the time a writer takes to start and create one: whatever a kill left behind, the folder opens as a
 * journal (never EDGECORE_E_NOT_A_JOURNAL), takes an append and reads it back. */
static void killed_while_creating(void) {
    enum { CREATIONS = 60 };
    const char *base = getenv("EDGECORE_TEST_FOLDER");
    const char *seed_text = getenv("EDGECORE_KILL_SEED");
    CHECK(base != NULL);
    if (base == NULL) return;
    uint64_t random_state = (seed_text ? strtoull(seed_text, NULL, 10) : (uint64_t)time(NULL)) ^ 0x5bd1e995u;
    struct knowledge k; /* per journal: each creation is a journal of its own */
    int64_t create_us = 0; /* how long the first writer took from its start to its report of the open */
    int before_open = 0, refused = 0, broken = 0;
    for (int i = 0; i < CREATIONS; i++) {
        char folder[4200];
        snprintf(folder, sizeof folder, "%s/created-%d", base, i);
        int fd = -1;
        int64_t started = monotonic_us();
        pid_t pid = start_writer(self_path, folder, next_random(&random_state), &fd);
        CHECK(pid > 0);
        if (pid <= 0) break;
        struct cycle c = {0, 0, 0};
        memset(&k, 0, sizeof k);
        if (i == 0) {
            drain_reports(fd, started + OPEN_WAIT_MS * 1000LL, 1, &k, &c);
            create_us = monotonic_us() - started;
        } else {
            drain_reports(fd, started + (int64_t)(next_random(&random_state) % (uint64_t)(create_us * 3 / 2 + 1)), 0, &k, &c);
        }
        kill_writer(pid, fd, &k, &c);
        before_open += !c.opened;

        struct edgecore_journal *journal = NULL;
        int rc = edgecore_journal_open(folder, NULL, &journal);
        if (rc != EDGECORE_OK) {
            JOURNAL_DIAGNOSE("  %s after a kill at creation: %d (%s)\n", folder, rc, edgecore_journal_last_error());
            refused++;
            continue;
        }
        struct edgecore_journal_stats stats;
        struct edgecore_reading reading;
        uint64_t first = 0;
        int ok = edgecore_journal_stats(journal, &stats) == EDGECORE_OK;
        reading = journal_identity(stats.newest_sequence + 1);
        ok = ok && edgecore_journal_append(journal, &reading, 1, &first) == 1 && first == stats.newest_sequence + 1;
        ok = ok && edgecore_journal_sync(journal) == EDGECORE_OK && edgecore_journal_add_cursor(journal, "check") >= 0;
        struct journal_scan scan = journal_scan_cursor(journal, "check", 1000, 0);
        ok = ok && scan.error == 0 && scan.wrong == 0 && scan.last == first;
        if (!ok) {
            JOURNAL_DIAGNOSE("  %s after a kill at creation: append and read back failed (%s)\n", folder,
                             edgecore_journal_last_error());
            broken++;
        }
        edgecore_journal_close(journal);
    }
    printf("journal-kill: %d writers killed while creating a journal (within %.1f ms of their start; %d before "
           "their open returned): %d refused to open afterwards, %d did not take an append\n", CREATIONS,
           (double)create_us * 1.5 / 1000.0, before_open, refused, broken);
    CHECK_EQ(refused, 0);
    CHECK_EQ(broken, 0);
    CHECK(before_open > 0);
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--writer") == 0)
        return writer(argv[2], (int)strtol(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    self_path = "/proc/self/exe";
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        self_path = self;
    }
    if (argc > 1) cabi_only = argv[1];
    signal(SIGPIPE, SIG_IGN);
    RUN(kill_cycles);
    RUN(killed_while_creating);
    return cabi_finish("journal_kill");
}
