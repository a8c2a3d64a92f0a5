/* The engine's journal through the C API: edgecore_engine_set_journal, _journal, _journal_stats and a site
 * file's journal section. Readings come from a TCP bus on a loopback port nobody listens on (DISCONNECTED
 * readings at each channel's interval). */
#include "cabi_test.h"

#include <stdatomic.h>

static int contains(const char *text, const char *part) { return text && strstr(text, part) != NULL; }

static struct edgecore_journal_config journal_config(void) {
    struct edgecore_journal_config config;
    edgecore_journal_config_init(&config);
    config.size_limit = 16u << 20;
    config.segment_size = 1u << 20;
    config.sync_interval_ms = 50;
    return config;
}

static struct edgecore_engine *make_site(void) {
    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
    if (!engine) return NULL;
    struct edgecore_tcp_bus_config bus;
    edgecore_tcp_bus_config_init(&bus);
    bus.name = "plc";
    bus.host = "127.0.0.1";
    bus.port = 1; /* nothing listens on port 1 */
    bus.reconnect_min_ms = 20;
    bus.reconnect_max_ms = 50;
    uint32_t bus_id = 0, device_id = 0;
    CHECK_EQ(edgecore_engine_add_tcp_bus(engine, &bus, &bus_id), EDGECORE_OK);
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = "meter";
    device.bus = bus_id;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &device_id), EDGECORE_OK);
    for (int i = 0; i < 2; i++) {
        struct edgecore_channel_config channel;
        edgecore_channel_config_init(&channel);
        char name[32];
        snprintf(name, sizeof name, "ch%d", i);
        channel.name = name;
        channel.device = device_id;
        channel.address = (uint16_t)i;
        channel.interval_ms = 10;
        CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    }
    return engine;
}

static char scratch[64];

static const char *scratch_folder(void) {
    strcpy(scratch, "/tmp/edgecore-cabi-journal-XXXXXX");
    return mkdtemp(scratch);
}

static void remove_tree(const char *folder) {
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s'", folder);
    CHECK_EQ(system(command), 0);
}

static void arguments_and_codes(void) {
    struct edgecore_engine *engine = make_site();
    if (!engine) return;
    const char *folder = scratch_folder();
    CHECK(folder != NULL);
    if (!folder) return;
    char path[128];
    snprintf(path, sizeof path, "%s/journal", folder);
    struct edgecore_journal_config config = journal_config();

    CHECK_EQ(edgecore_engine_set_journal(NULL, path, &config), EDGECORE_E_NULL_POINTER);
    CHECK(edgecore_engine_journal(NULL) == NULL);
    CHECK(edgecore_engine_journal(engine) == NULL);
    struct edgecore_engine_journal_stats stats;
    CHECK_EQ(edgecore_engine_journal_stats(NULL, &stats), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_journal_stats(engine, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_journal_stats_sized(engine, &stats, 8), EDGECORE_E_INVALID_ARGUMENT);
    memset(&stats, 0xEE, sizeof stats);
    CHECK_EQ(edgecore_engine_journal_stats(engine, &stats), EDGECORE_OK);
    CHECK(stats.appended == 0 && stats.lost == 0 && stats.append_failures == 0 && stats.failed_readings == 0
          && stats.waiting == 0 && stats.last_error == 0 && stats.reserved == 0);

    config.when_full = 7;
    CHECK_EQ(edgecore_engine_set_journal(engine, path, &config), EDGECORE_E_INVALID_ARGUMENT);
    CHECK(contains(edgecore_engine_last_error(), "when_full 7"));
    config = journal_config();
    config.segment_size = 1000;
    CHECK_EQ(edgecore_engine_set_journal(engine, path, &config), EDGECORE_E_INVALID_ARGUMENT);
    CHECK(contains(edgecore_engine_last_error(), "segment_size 1000"));
    /* A field of a newer header, set: refused. */
    struct {
        struct edgecore_journal_config config;
        uint64_t newer;
    } grown;
    memset(&grown, 0, sizeof grown);
    grown.config = journal_config();
    grown.newer = 1;
    CHECK_EQ(edgecore_engine_set_journal_sized(engine, path, &grown.config, sizeof grown), EDGECORE_E_UNKNOWN_FIELD);
    CHECK_EQ(edgecore_engine_set_journal_sized(engine, path, &grown.config, 16), EDGECORE_E_INVALID_ARGUMENT);
    CHECK(edgecore_engine_journal(engine) == NULL); /* failed calls changed nothing */
    CHECK(access(path, F_OK) != 0);                /* and created nothing */

    /* Removing a journal the engine does not have is fine. */
    CHECK_EQ(edgecore_engine_set_journal(engine, NULL, NULL), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_set_journal(engine, path, NULL), EDGECORE_OK);
    struct edgecore_journal *journal = edgecore_engine_journal(engine);
    CHECK(journal != NULL);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_set_journal(engine, NULL, NULL), EDGECORE_E_RUNNING);
    CHECK_EQ(edgecore_engine_set_journal(engine, path, &config), EDGECORE_E_RUNNING);
    CHECK(edgecore_engine_journal(engine) == journal);
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_set_journal(engine, NULL, NULL), EDGECORE_OK);
    CHECK(edgecore_engine_journal(engine) == NULL);
    edgecore_engine_destroy(engine);
    remove_tree(folder);
}

/* Every reading the engine took is appended: the feed's counters agree with what was drained, and a
 * cursor on the engine's journal delivers the same readings (the same fields, in each channel's order). */
static void readings_reach_the_journal(void) {
    struct edgecore_engine *engine = make_site();
    if (!engine) return;
    const char *folder = scratch_folder();
    CHECK(folder != NULL);
    if (!folder) return;
    struct edgecore_journal_config config = journal_config();
    CHECK_EQ(edgecore_engine_set_journal(engine, folder, &config), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    struct edgecore_journal *journal = edgecore_engine_journal(engine);
    CHECK(journal != NULL);
    if (!journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(journal, "test"), 1);
    enum { MAX = 4096 };
    static struct edgecore_reading live[MAX], stored[MAX];
    long long drained = 0;
    int64_t end = cabi_monotonic_ms() + 300;
    while (cabi_monotonic_ms() < end) {
        int n = edgecore_engine_wait(engine, 50);
        if (n > 0 && drained < MAX) drained += edgecore_engine_drain(engine, live + drained, (size_t)(MAX - drained));
    }
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    int n;
    while (drained < MAX && (n = edgecore_engine_drain(engine, live + drained, (size_t)(MAX - drained))) > 0)
        drained += n;
    CHECK(drained < MAX);
    /* Stop synced the journal: the cursor delivers everything, with consecutive journal sequences. */
    long long read = 0;
    uint64_t first = 0, expected = 1;
    while (read < MAX && (n = edgecore_journal_read(journal, "test", stored + read, (size_t)(MAX - read), &first)) > 0) {
        CHECK_EQ(first, expected);
        expected = first + (uint64_t)n;
        read += n;
    }
    CHECK_EQ(n, 0);
    CHECK_EQ(read, drained);
    /* Per channel, the journal holds the live view's readings in the same order (lanes interleave). */
    for (uint32_t channel = 0; channel < 2; channel++) {
        long long i = 0, j = 0;
        for (;;) {
            while (i < drained && live[i].channel != channel) i++;
            while (j < read && stored[j].channel != channel) j++;
            if (i == drained || j == read) break;
            CHECK(memcmp(&live[i], &stored[j], sizeof live[i]) == 0);
            i++;
            j++;
        }
        CHECK(i == drained && j == read);
    }
    struct edgecore_engine_journal_stats stats;
    CHECK_EQ(edgecore_engine_journal_stats(engine, &stats), EDGECORE_OK);
    CHECK(drained >= 20);
    CHECK_EQ(stats.appended, drained);
    CHECK_EQ(stats.lost, 0);
    CHECK_EQ(stats.append_failures, 0);
    CHECK_EQ(stats.waiting, 0);
    edgecore_engine_destroy(engine); /* closes the journal */
    remove_tree(folder);
}

/* A gateway's uplink: reads and acknowledges the engine's journal on a thread of its own while the engine
 * appends to it. */
struct uplink {
    struct edgecore_journal *journal;
    atomic_int stop;
    long long delivered;
    int failures;
};

static void *uplink_thread(void *argument) {
    struct uplink *uplink = argument;
    struct edgecore_reading out[64];
    uint64_t first = 0, expected = 1;
    for (int round = 0; round < 100000; round++) {
        int stopping = atomic_load(&uplink->stop);
        int n = edgecore_journal_read(uplink->journal, "uplink", out, 64, &first);
        if (n < 0 || (n > 0 && first != expected)) uplink->failures++;
        if (n > 0) {
            expected = first + (uint64_t)n;
            uplink->delivered += n;
            if (edgecore_journal_ack(uplink->journal, "uplink", expected - 1) != EDGECORE_OK) uplink->failures++;
            continue;
        }
        if (stopping) break;
        cabi_sleep_ms(5);
    }
    return NULL;
}

static void a_gateway_thread_reads_and_acknowledges_while_the_engine_appends(void) {
    struct edgecore_engine *engine = make_site();
    if (!engine) return;
    const char *folder = scratch_folder();
    CHECK(folder != NULL);
    if (!folder) return;
    struct edgecore_journal_config config = journal_config();
    config.sync_interval_ms = 20;
    CHECK_EQ(edgecore_engine_set_journal(engine, folder, &config), EDGECORE_OK);
    struct uplink uplink = {edgecore_engine_journal(engine), 0, 0, 0};
    CHECK(uplink.journal != NULL);
    if (!uplink.journal) return;
    CHECK_EQ(edgecore_journal_add_cursor(uplink.journal, "uplink"), 1);
    pthread_t thread;
    CHECK_EQ(pthread_create(&thread, NULL, uplink_thread, &uplink), 0);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    struct edgecore_reading batch[256];
    int64_t end = cabi_monotonic_ms() + 400;
    while (cabi_monotonic_ms() < end)
        if (edgecore_engine_wait(engine, 50) > 0) edgecore_engine_drain(engine, batch, 256);
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK); /* appends what is left and syncs */
    atomic_store(&uplink.stop, 1);
    pthread_join(thread, NULL);
    struct edgecore_engine_journal_stats feed;
    CHECK_EQ(edgecore_engine_journal_stats(engine, &feed), EDGECORE_OK);
    CHECK_EQ(uplink.failures, 0);
    CHECK(feed.appended >= 30);
    CHECK_EQ(uplink.delivered, (long long)feed.appended);
    struct edgecore_journal_cursor_stats cursor;
    CHECK_EQ(edgecore_journal_cursor_stats(uplink.journal, 0, &cursor), EDGECORE_OK);
    CHECK_EQ(cursor.acknowledged_sequence, feed.appended);
    CHECK_EQ(cursor.unacknowledged, 0);
    edgecore_engine_destroy(engine);
    remove_tree(folder);
}

static int write_file(const char *path, const char *text) {
    FILE *file = fopen(path, "w");
    if (!file) return -1;
    fputs(text, file);
    return fclose(file);
}

static void site_file_journal_section(void) {
    struct edgecore_engine *engine = make_site();
    if (!engine) return;
    const char *folder = scratch_folder();
    CHECK(folder != NULL);
    if (!folder) return;
    char site[128], text[512];
    snprintf(site, sizeof site, "%s/site.yaml", folder);
    snprintf(text, sizeof text,
             "journal:\n  path: %s/journal\n  segment_size_kb: 64\n  size_limit_mb: 1\n  cursors: [uplink]\n",
             folder);
    CHECK_EQ(write_file(site, text), 0);
    CHECK_EQ(edgecore_engine_load_yaml(engine, site), EDGECORE_OK);
    struct edgecore_journal *journal = edgecore_engine_journal(engine);
    CHECK(journal != NULL);
    if (!journal) return;
    struct edgecore_journal_stats stats;
    CHECK_EQ(edgecore_journal_stats(journal, &stats), EDGECORE_OK);
    CHECK_EQ(stats.cursors, 1);
    struct edgecore_journal_cursor_stats cursor;
    CHECK_EQ(edgecore_journal_cursor_stats(journal, 0, &cursor), EDGECORE_OK);
    CHECK_STR(cursor.name, "uplink");

    /* A bad value: file, line and field; the engine keeps its journal and configuration. */
    snprintf(text, sizeof text, "journal:\n  path: %s/other\n  when_full: block\n", folder);
    CHECK_EQ(write_file(site, text), 0);
    CHECK_EQ(edgecore_engine_load_yaml(engine, site), EDGECORE_E_CONFIG_FILE);
    CHECK(contains(edgecore_engine_last_error(), site));
    CHECK(contains(edgecore_engine_last_error(), ":3: journal, field 'when_full'"));
    snprintf(text, sizeof text, "journal:\n  path: %s/other\n  segment_size_kb: 8\n", folder);
    CHECK_EQ(write_file(site, text), 0);
    CHECK_EQ(edgecore_engine_load_yaml(engine, site), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), ":3: journal, field 'segment_size_kb': must be 64..1048576, not 8"));
    CHECK(edgecore_engine_journal(engine) == journal);
    char other[128];
    snprintf(other, sizeof other, "%s/other", folder);
    CHECK(access(other, F_OK) != 0);

    /* A journal that cannot open (its parent folder is missing): the code and the path; nothing changed. */
    snprintf(text, sizeof text, "journal:\n  path: %s/missing/journal\n", folder);
    CHECK_EQ(write_file(site, text), 0);
    CHECK_EQ(edgecore_engine_load_yaml(engine, site), -ENOENT);
    CHECK(contains(edgecore_engine_last_error(), "missing/journal"));
    CHECK(edgecore_engine_journal(engine) == journal);

    /* A file without a journal section keeps the engine's journal. */
    CHECK_EQ(write_file(site, "buses: []\n"), 0);
    CHECK_EQ(edgecore_engine_load_yaml(engine, site), EDGECORE_OK);
    CHECK(edgecore_engine_journal(engine) == journal);
    edgecore_engine_destroy(engine);
    remove_tree(folder);
}

int main(int argc, char **argv) {
    cabi_only = argc > 1 ? argv[1] : NULL;
    RUN(arguments_and_codes);
    RUN(readings_reach_the_journal);
    RUN(site_file_journal_section);
    RUN(a_gateway_thread_reads_and_acknowledges_while_the_engine_appends);
    return cabi_finish("test_engine_journal");
}
