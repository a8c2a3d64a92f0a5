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
 *     first append) and opens as a journal once space is freed;
 *   - an engine whose journal's file system fills samples on: the drain receives readings at the same pace,
 *     the failed appends are counted (-ENOSPC), appending resumes once space is freed, and every reading
 *     the journal holds is one the drain delivered, in the same order. */
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

/* The engine samples on while its journal's file system is full: a TCP bus to a loopback port nobody
 * listens on yields a DISCONNECTED reading at every poll of its channels. While full, the drain keeps
 * receiving readings at the same pace, the engine counts the failed appends (-ENOSPC); once space is
 * freed, appends resume; every reading the journal holds is one the drain delivered, in the same order. */
enum { ENGINE_CHANNELS = 4, ENGINE_INTERVAL_MS = 5, ENGINE_DRAINED_MAX = 200000, PHASE_MS = 600 };

static struct edgecore_reading engine_drained[ENGINE_DRAINED_MAX];
static size_t engine_drained_count;

/* Drains the engine for `ms` milliseconds into engine_drained; returns how many readings came. */
static size_t drain_for(struct edgecore_engine *engine, int64_t ms) {
    size_t before = engine_drained_count;
    int64_t deadline = cabi_monotonic_ms() + ms;
    while (cabi_monotonic_ms() < deadline) {
        edgecore_engine_wait(engine, 20);
        size_t room = ENGINE_DRAINED_MAX - engine_drained_count;
        if (room == 0) break;
        int n = edgecore_engine_drain(engine, engine_drained + engine_drained_count, room);
        if (n > 0) engine_drained_count += (size_t)n;
    }
    return engine_drained_count - before;
}

static struct edgecore_engine *disconnected_site(void) {
    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
    if (engine == NULL) return NULL;
    struct edgecore_tcp_bus_config bus;
    edgecore_tcp_bus_config_init(&bus);
    bus.name = "nobody";
    bus.host = "127.0.0.1";
    bus.port = 1;
    bus.reconnect_min_ms = 60000;
    bus.reconnect_max_ms = 60000;
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = "meter";
    uint32_t device_id = 0;
    CHECK_EQ(edgecore_engine_add_tcp_bus(engine, &bus, &device.bus), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &device_id), EDGECORE_OK);
    for (uint32_t i = 0; i < ENGINE_CHANNELS; i++) {
        char name[16];
        snprintf(name, sizeof name, "ch%u", i);
        struct edgecore_channel_config channel;
        edgecore_channel_config_init(&channel);
        channel.name = name;
        channel.device = device_id;
        channel.address = (uint16_t)i;
        channel.interval_ms = ENGINE_INTERVAL_MS;
        CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    }
    return engine;
}

static void an_engine_samples_on_while_its_journal_is_full(void) {
    char path[4300];
    snprintf(path, sizeof path, "%s/engine-journal", root);
    struct edgecore_engine *engine = disconnected_site();
    if (engine == NULL) return;
    struct edgecore_journal_config config;
    edgecore_journal_config_init(&config);
    config.segment_size = EDGECORE_JOURNAL_SEGMENT_SIZE_MIN;
    config.size_limit = 64u * EDGECORE_JOURNAL_SEGMENT_SIZE_MIN;
    config.sync_interval_ms = 10;
    CHECK_EQ(edgecore_engine_set_journal(engine, path, &config), EDGECORE_OK);
    struct edgecore_journal *journal = edgecore_engine_journal(engine);
    CHECK(journal != NULL);
    if (journal == NULL) {
        edgecore_engine_destroy(engine);
        return;
    }
    CHECK_EQ(edgecore_journal_add_cursor(journal, "check"), 1);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);

    size_t before = drain_for(engine, PHASE_MS);
    struct edgecore_engine_journal_stats feed;
    CHECK_EQ(edgecore_engine_journal_stats(engine, &feed), EDGECORE_OK);
    CHECK(feed.appended > 0);
    CHECK_EQ(feed.append_failures, 0);

    int first_filler = fillers;
    CHECK(fill_up() > 0);
    drain_for(engine, 200); /* the journal's segment runs out of its last page within this */
    struct edgecore_engine_journal_stats full_start;
    CHECK_EQ(edgecore_engine_journal_stats(engine, &full_start), EDGECORE_OK);
    size_t during = drain_for(engine, PHASE_MS);
    struct edgecore_engine_journal_stats full_end;
    CHECK_EQ(edgecore_engine_journal_stats(engine, &full_end), EDGECORE_OK);
    printf("  engine: %zu readings drained in %d ms before the file system filled, %zu while full; appends "
           "failed while full %" PRIu64 " (%" PRIu64 " readings), last error %d, appended while full %" PRIu64 "\n",
           before, PHASE_MS, during, full_end.append_failures - full_start.append_failures,
           full_end.failed_readings - full_start.failed_readings, full_end.last_error,
           full_end.appended - full_start.appended);
    CHECK(during * 2 >= before);      /* sampling goes on at its pace */
    CHECK(full_end.append_failures > full_start.append_failures);
    CHECK_EQ(full_end.last_error, -ENOSPC);
    struct edgecore_journal_stats stats;
    CHECK_EQ(edgecore_journal_stats(journal, &stats), EDGECORE_OK);
    CHECK(stats.append_failures > 0);

    while (first_filler < fillers) remove_filler(first_filler++);
    int64_t deadline = cabi_monotonic_ms() + 5000;
    struct edgecore_engine_journal_stats resumed = full_end;
    while (resumed.appended == full_end.appended && cabi_monotonic_ms() < deadline) {
        drain_for(engine, 50);
        CHECK_EQ(edgecore_engine_journal_stats(engine, &resumed), EDGECORE_OK);
    }
    CHECK(resumed.appended > full_end.appended); /* appending resumed */
    drain_for(engine, 200);
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    for (int n = 1; n > 0 && engine_drained_count < ENGINE_DRAINED_MAX;) { /* what the stop left in the ring */
        n = edgecore_engine_drain(engine, engine_drained + engine_drained_count, ENGINE_DRAINED_MAX - engine_drained_count);
        if (n > 0) engine_drained_count += (size_t)n;
    }
    struct edgecore_ring_stats ring;
    CHECK_EQ(edgecore_engine_ring_stats(engine, &ring), EDGECORE_OK);
    CHECK_EQ(ring.dropped, 0); /* the drain kept up: every reading taken was drained */

    /* Every reading in the journal is one the drain delivered, in the same order (one bus: one lane), and
     * the journal holds exactly what the engine counted as appended. */
    CHECK_EQ(edgecore_engine_journal_stats(engine, &feed), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_sync(journal), EDGECORE_OK);
    static struct edgecore_reading out[1024];
    size_t matched = 0, at = 0, stored = 0;
    for (int calls = 0; calls < 10000; calls++) {
        int n = edgecore_journal_read(journal, "check", out, 1024, NULL);
        CHECK(n >= 0);
        if (n <= 0) break;
        for (int i = 0; i < n; i++, stored++) {
            while (at < engine_drained_count && memcmp(&engine_drained[at], &out[i], sizeof out[i]) != 0) at++;
            if (at < engine_drained_count) {
                matched++;
                at++;
            }
        }
    }
    printf("  engine: %zu readings drained in all; the journal holds %zu, %zu of them delivered by the drain in the "
           "same order; feed appended %" PRIu64 ", lost %" PRIu64 ", failed %" PRIu64 "\n", engine_drained_count, stored,
           matched, feed.appended, feed.lost, feed.failed_readings);
    CHECK_EQ(matched, stored);
    CHECK_EQ(stored, feed.appended);
    CHECK_EQ(feed.waiting, 0);
    /* Every reading taken (all drained: the ring dropped none) is appended, lost or failed, exactly once. */
    CHECK_EQ(engine_drained_count, feed.appended + feed.lost + feed.failed_readings);
    edgecore_engine_destroy(engine);
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
    RUN(an_engine_samples_on_while_its_journal_is_full);
    return cabi_finish("journal_full");
}
