/* A journal on a full file system (issue 10, item 4): a 1 MiB tmpfs that Tests/Journal/run.sh mounts at
 * EDGECORE_TEST_FOLDER. Filler files take the space the journal does not; removing one at a time lets the
 * journal fill the freed space again, so that running out hits both the middle of a segment and the start
 * of a new one. Checked:
 *   - appends on the full file system fail with -ENOSPC, all or nothing, each counted in append_failures;
 *   - every reading stored before reads back exactly, while full, after a reopen while full, and after
 *     space is freed; no record or segment is ever found damaged, no torn tail is left for recovery;
 *   - an acknowledgement made while full becomes durable once space is freed;
 *   - appending resumes, with the next sequence numbers, once space is freed;
 *   - a journal created on the full file system fails with -ENOSPC naming its folder (at open or at the
 *     first append) and opens as a journal once space is freed. */
#define _GNU_SOURCE
#include "journal_test.h"
#include <fcntl.h>
#include <sys/stat.h>

enum {
    FILLER_BYTES = 16 * 1024, /* one filler file: 4 tmpfs pages */
    FILLS_MAX = 80,           /* fillers per fill_up: 1.25 MiB, more than the file system holds */
    ROUNDS = 24,              /* free one filler, fill the journal again: ~6 segments of 64 KiB */
    BATCH = 8,                /* readings per append while filling */
    APPENDS_MAX = 20000,      /* bound on appends per round */
    FULL_APPENDS = 4,         /* appends tried (and failing) once full */
};

static char root[4096], folder[4200];
static int fillers; /* filler-0 .. filler-(fillers-1) exist */

static struct edgecore_journal *open_journal_in(const char *path, int *rc_out) {
    struct edgecore_journal_config config;
    edgecore_journal_config_init(&config);
    config.segment_size = EDGECORE_JOURNAL_SEGMENT_SIZE_MIN;
    config.size_limit = 64u * EDGECORE_JOURNAL_SEGMENT_SIZE_MIN; /* more than the file system: it runs out first */
    config.sync_interval_ms = 0; /* syncs only when the test says */
    struct edgecore_journal *journal = NULL;
    int rc = edgecore_journal_open(path, &config, &journal);
    if (rc != EDGECORE_OK) fprintf(stderr, "  open: %d (%s)\n", rc, edgecore_journal_last_error());
    if (rc_out) *rc_out = rc;
    return journal;
}

static struct edgecore_journal *open_journal(int *rc_out) { return open_journal_in(folder, rc_out); }

/* Fills the file system with new filler files until it has no space left; returns how many it wrote. */
static int fill_up(void) {
    static char block[FILLER_BYTES];
    memset(block, 0xA5, sizeof block);
    int made = 0;
    for (int i = 0; i < FILLS_MAX; i++, fillers++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/filler-%d", root, fillers);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) break; /* no inode left: full as well */
        size_t written = 0;
        while (written < sizeof block) {
            ssize_t n = write(fd, block + written, sizeof block - written);
            if (n <= 0) break;
            written += (size_t)n;
        }
        close(fd);
        made++;
        if (written < sizeof block) {
            fillers++;
            return made;
        }
    }
    return made;
}

static void remove_filler(int index) {
    char path[4300];
    snprintf(path, sizeof path, "%s/filler-%d", root, index);
    CHECK_EQ(unlink(path), 0);
}

/* Every reading 1 .. newest is stored, exactly, and none is damaged: read with the never-acknowledging
 * "check" cursor from the start (it delivers durable readings: all of them when the last sync returned 0). */
static void check_stored(struct edgecore_journal *journal, uint64_t newest, int synced, const char *when) {
    struct edgecore_journal_stats stats;
    CHECK_EQ(edgecore_journal_stats(journal, &stats), EDGECORE_OK);
    CHECK_EQ(stats.newest_sequence, newest);
    if (synced) CHECK_EQ(stats.durable_sequence, newest);
    CHECK_EQ(stats.corrupt_records_skipped, 0);
    CHECK_EQ(stats.corrupt_segments_skipped, 0);
    CHECK_EQ(stats.torn_bytes_truncated, 0);
    CHECK_EQ(edgecore_journal_rewind(journal, "check"), EDGECORE_OK);
    struct journal_scan scan = journal_scan_cursor(journal, "check", newest / 1024 + 4, 0);
    CHECK_EQ(scan.error, 0);
    CHECK_EQ(scan.wrong, 0);
    CHECK_EQ(scan.out_of_order, 0);
    CHECK_EQ(scan.gaps, 0);
    CHECK_EQ(scan.first, newest > 0 ? 1 : 0);
    CHECK_EQ(scan.covered, stats.durable_sequence); /* every durable reading, from 1 on */
    if (scan.covered != stats.durable_sequence || scan.wrong != 0)
        fprintf(stderr, "  %s: read 1 .. %" PRIu64 " (%" PRIu64 " wrong), durable %" PRIu64 "\n", when,
                scan.covered, scan.wrong, stats.durable_sequence);
}

/* Appends BATCH readings at a time until the file system is full; returns the newest sequence stored.
 * Then FULL_APPENDS more, each refused with -ENOSPC and counted, nothing of them stored. */
static uint64_t append_until_full(struct edgecore_journal *journal, uint64_t newest, uint64_t *failures) {
    struct edgecore_reading batch[BATCH];
    int rc = 0, appends = 0;
    for (; appends < APPENDS_MAX; appends++) {
        journal_fill(batch, BATCH, newest + 1);
        uint64_t first = 0;
        rc = edgecore_journal_append(journal, batch, BATCH, &first);
        if (rc < 0) break;
        CHECK_EQ(rc, BATCH);
        CHECK_EQ(first, newest + 1);
        newest += BATCH;
    }
    CHECK_EQ(rc, -ENOSPC);
    if (rc != -ENOSPC)
        fprintf(stderr, "  append after %d appends: %d (%s)\n", appends, rc, edgecore_journal_last_error());
    else /* "journal FOLDER: append: No space left on device" */
        CHECK(strstr(edgecore_journal_last_error(), "space") != NULL &&
              strstr(edgecore_journal_last_error(), folder) != NULL);
    *failures += rc < 0;
    for (int i = 0; i < FULL_APPENDS; i++) {
        journal_fill(batch, BATCH, newest + 1);
        CHECK_EQ(edgecore_journal_append(journal, batch, BATCH, NULL), -ENOSPC);
        (*failures)++;
    }
    struct edgecore_journal_stats stats;
    CHECK_EQ(edgecore_journal_stats(journal, &stats), EDGECORE_OK);
    CHECK_EQ(stats.newest_sequence, newest);
    CHECK_EQ(stats.append_failures, *failures);
    return newest;
}

static void appends_fail_with_enospc_and_stored_data_stays(void) {
    struct edgecore_journal *journal = open_journal(NULL);
    CHECK(journal != NULL);
    if (journal == NULL) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "uplink"), 1);
    CHECK_EQ(edgecore_journal_add_cursor(journal, "check"), 1);
    /* Some stored data first, durable. */
    struct edgecore_reading batch[100];
    uint64_t newest = 0, failures = 0;
    for (int i = 0; i < 10; i++) {
        journal_fill(batch, 100, newest + 1);
        CHECK_EQ(edgecore_journal_append(journal, batch, 100, NULL), 100);
        newest += 100;
    }
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    check_stored(journal, newest, 1, "before filling");

    CHECK(fill_up() > 0);
    int first_filler = 0;
    uint64_t segments_seen = 0, last_segments = 0;
    for (int round = 0; round < ROUNDS && first_filler < fillers; round++) {
        newest = append_until_full(journal, newest, &failures);
        /* A sync on a full file system: what is written is in the page cache already, so it needs no
         * space; report it, either way the stored data stays. */
        int rc = edgecore_journal_sync(journal);
        if (rc != EDGECORE_OK && round == 0)
            printf("  sync on the full file system: %d (%s)\n", rc, edgecore_journal_last_error());
        CHECK(rc == EDGECORE_OK || rc == -ENOSPC);
        check_stored(journal, newest, rc == EDGECORE_OK, "full");
        struct edgecore_journal_stats stats;
        CHECK_EQ(edgecore_journal_stats(journal, &stats), EDGECORE_OK);
        if (stats.segments != last_segments) segments_seen++;
        last_segments = stats.segments;
        remove_filler(first_filler++);
    }
    printf("  filled %d times, %" PRIu64 " readings stored, %" PRIu64 " appends refused with -ENOSPC, segment count "
           "changed %" PRIu64 " times\n", ROUNDS, newest, failures, segments_seen);
    CHECK(segments_seen >= 3); /* running out hit new segments, not just one */

    /* Full again: an acknowledgement made now becomes durable once space is freed. */
    fill_up();
    newest = append_until_full(journal, newest, &failures);
    uint64_t acked = newest / 2;
    CHECK_EQ(edgecore_journal_ack(journal, "uplink", acked), EDGECORE_OK);
    int rc = edgecore_journal_sync(journal);
    if (rc != EDGECORE_OK) printf("  sync of an acknowledgement on the full file system: %d (%s)\n", rc,
                                  edgecore_journal_last_error());
    CHECK(rc == EDGECORE_OK || rc == -ENOSPC);
    while (first_filler < fillers) remove_filler(first_filler++);
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    struct edgecore_journal_cursor_stats uplink;
    CHECK_EQ(journal_cursor_named(journal, "uplink", &uplink), EDGECORE_OK);
    CHECK_EQ(uplink.durable_acknowledged, acked);
    check_stored(journal, newest, 1, "space freed");

    /* Full again, closed and reopened while full: everything stored is there, the acknowledgement too
     * (or the open says there is no space). */
    fill_up();
    newest = append_until_full(journal, newest, &failures);
    rc = edgecore_journal_sync(journal);
    CHECK(rc == EDGECORE_OK || rc == -ENOSPC);
    edgecore_journal_close(journal);
    journal = open_journal(&rc);
    CHECK(rc == EDGECORE_OK || rc == -ENOSPC);
    if (journal != NULL) {
        rc = edgecore_journal_sync(journal);
        CHECK(rc == EDGECORE_OK || rc == -ENOSPC);
        check_stored(journal, newest, rc == EDGECORE_OK, "reopened while full");
        CHECK_EQ(journal_cursor_named(journal, "uplink", &uplink), EDGECORE_OK);
        CHECK_EQ(uplink.acknowledged_sequence, acked);
        edgecore_journal_close(journal);
    } else {
        printf("  open on the full file system: %d (%s)\n", rc, edgecore_journal_last_error());
    }

    /* Space freed again: the same data, appending resumes with the next sequence numbers. */
    while (first_filler < fillers) remove_filler(first_filler++);
    journal = open_journal(NULL);
    CHECK(journal != NULL);
    if (journal == NULL) return;
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    check_stored(journal, newest, 1, "reopened after space was freed");
    for (int i = 0; i < 5; i++) {
        journal_fill(batch, 100, newest + 1);
        uint64_t first = 0;
        CHECK_EQ(edgecore_journal_append(journal, batch, 100, &first), 100);
        CHECK_EQ(first, newest + 1);
        newest += 100;
    }
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    check_stored(journal, newest, 1, "appended after space was freed");
    edgecore_journal_close(journal);

    journal = open_journal(NULL);
    CHECK(journal != NULL);
    if (journal == NULL) return;
    check_stored(journal, newest, 1, "reopened after appending again");
    CHECK_EQ(journal_cursor_named(journal, "uplink", &uplink), EDGECORE_OK);
    CHECK_EQ(uplink.acknowledged_sequence, acked);
    edgecore_journal_close(journal);
}

/* A journal created on a full file system: the open (or the first append) fails with -ENOSPC, naming the
 * folder; whatever it left behind opens as a journal once there is space (not EDGECORE_E_NOT_A_JOURNAL). */
static void a_journal_created_on_a_full_file_system_opens_later(void) {
    char created[4300];
    snprintf(created, sizeof created, "%s/created-full", root);
    int first_filler = fillers;
    CHECK(fill_up() > 0);
    int rc = 0;
    struct edgecore_journal *journal = open_journal_in(created, &rc);
    CHECK(rc == EDGECORE_OK || rc == -ENOSPC);
    if (rc == -ENOSPC) CHECK(strstr(edgecore_journal_last_error(), created) != NULL);
    struct edgecore_reading batch[BATCH];
    journal_fill(batch, BATCH, 1);
    if (journal != NULL) {
        printf("  open on the full file system succeeded; append: ");
        rc = edgecore_journal_append(journal, batch, BATCH, NULL);
        printf("%d\n", rc);
        CHECK(rc == BATCH || rc == -ENOSPC);
        edgecore_journal_close(journal);
    } else {
        printf("  open of a new journal on the full file system: %d (%s)\n", rc, edgecore_journal_last_error());
    }
    uint64_t newest = rc == BATCH ? BATCH : 0;
    while (first_filler < fillers) remove_filler(first_filler++);

    journal = open_journal_in(created, &rc);
    CHECK_EQ(rc, EDGECORE_OK);
    if (journal == NULL) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "check") >= 0, 1);
    journal_fill(batch, BATCH, newest + 1);
    uint64_t first = 0;
    CHECK_EQ(edgecore_journal_append(journal, batch, BATCH, &first), BATCH);
    CHECK_EQ(first, newest + 1);
    newest += BATCH;
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    check_stored(journal, newest, 1, "created on a full file system");
    edgecore_journal_close(journal);
}

int main(int argc, char **argv) {
    if (argc > 1) cabi_only = argv[1];
    const char *base = getenv("EDGECORE_TEST_FOLDER");
    if (base == NULL) {
        printf("FAIL journal_full: EDGECORE_TEST_FOLDER is not set (Tests/Journal/run.sh full sets it)\n");
        return 1;
    }
    snprintf(root, sizeof root, "%s", base);
    snprintf(folder, sizeof folder, "%s/journal", root);
    RUN(appends_fail_with_enospc_and_stored_data_stays);
    RUN(a_journal_created_on_a_full_file_system_opens_later);
    return cabi_finish("journal_full");
}
