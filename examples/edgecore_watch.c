/* edgecore_watch: sample a site described by a YAML file through libEdgeCore and show live readings.
 *
 *   edgecore_watch [options] SITE.yaml
 *     --plan            print the request plan (dry run) and exit
 *     --json            one JSON object per reading (JSON lines) instead of text
 *     --seconds N       stop after N seconds (default: run until Ctrl-C)
 *     --stats           print each bus's, device's and pulse counter's statistics at the end, and the
 *                       journal's (with each cursor's) when the site file names one
 *     --write NAME=VAL[@S]
 *                       write VAL to writable channel NAME once the engine runs, or S seconds after it
 *                       started (repeatable)
 *     --time-sync BUS   send the DL/T 645 broadcast time sync (the local time) on bus BUS once the engine runs
 *
 * Works the same against a simulated site on 127.0.0.1 and a real one (/dev/ttyUSB0, an IP address).
 *   cc -std=c11 edgecore_watch.c $(pkg-config --cflags --libs edgecore) -o edgecore_watch
 */
#define _POSIX_C_SOURCE 200809L
#include <edgecore.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USAGE "usage: edgecore_watch [--plan] [--json] [--seconds N] [--stats] [--write NAME=VALUE[@S]] " \
              "[--time-sync BUS] SITE.yaml\n"

static volatile sig_atomic_t interrupted;
static void on_signal(int signal_number) { (void)signal_number; interrupted = 1; }

static int fail(const char *what, int rc) {
    const char *detail = edgecore_engine_last_error();
    fprintf(stderr, "edgecore_watch: %s: %s%s%s\n", what, edgecore_strerror(rc), detail[0] ? ": " : "", detail);
    return 1;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_reading(struct edgecore_engine *engine, const struct edgecore_reading *r, int json) {
    const char *name = "?", *unit = "";
    edgecore_engine_channel_info(engine, r->channel, &name, &unit, NULL);
    const char *status = edgecore_status_name(r->status);
    time_t seconds = (time_t)(r->timestamp_ns / 1000000000);
    struct tm local;
    localtime_r(&seconds, &local);
    char when[32];
    strftime(when, sizeof when, "%H:%M:%S", &local);
    int millis = (int)((r->timestamp_ns / 1000000) % 1000);
    int show_value = r->status == EDGECORE_STATUS_OK || r->status == EDGECORE_STATUS_OUT_OF_RANGE;
    if (json) {
        printf("{\"ts_ns\":%lld,\"channel\":\"%s\",\"seq\":%u,\"status\":\"%s\"", (long long)r->timestamp_ns, name,
               r->sequence, status);
        if (show_value && isfinite(r->value)) printf(",\"value\":%.15g", r->value);
        if (unit[0]) printf(",\"unit\":\"%s\"", unit);
        if (r->status == EDGECORE_STATUS_EXCEPTION) printf(",\"exception\":%u", r->status_detail);
        printf("}\n");
    } else if (show_value) {
        printf("%s.%03d  %-34s %14.4f %-6s %s\n", when, millis, name, r->value, unit, status);
    } else if (r->status == EDGECORE_STATUS_EXCEPTION) {
        printf("%s.%03d  %-34s %14s %-6s exception %u\n", when, millis, name, "-", unit, r->status_detail);
    } else {
        printf("%s.%03d  %-34s %14s %-6s %s\n", when, millis, name, "-", unit, status);
    }
}

static void print_stats(struct edgecore_engine *engine) {
    uint32_t devices = 0;
    edgecore_engine_counts(engine, NULL, &devices, NULL);
    static const char *states[] = {"unknown", "online", "failing", "offline"};
    static const char *bus_states[] = {"stopped", "connected", "disconnected"};
    uint32_t buses = 0;
    edgecore_engine_counts(engine, &buses, NULL, NULL);
    for (uint32_t b = 0; b < buses; b++) {
        struct edgecore_bus_stats s;
        if (edgecore_engine_bus_stats(engine, b, &s) != EDGECORE_OK) continue;
        printf("bus %u: %s, opened %llu times, %llu failed opens, %llu lost, %llu transactions, %llu polls skipped\n",
               b, s.state < 3 ? bus_states[s.state] : "?", (unsigned long long)s.opens,
               (unsigned long long)s.open_failures, (unsigned long long)s.losses,
               (unsigned long long)s.transactions, (unsigned long long)s.skipped_polls);
    }
    uint32_t channels = 0;
    edgecore_engine_counts(engine, NULL, NULL, &channels);
    for (uint32_t c = 0; c < channels; c++) {
        struct edgecore_pulse_stats p;
        if (edgecore_engine_pulse_stats(engine, c, &p) != EDGECORE_OK) continue; /* not a pulse counter */
        const char *name = "?", *unit = "";
        edgecore_engine_channel_info(engine, c, &name, &unit, NULL);
        printf("pulses '%s': %llu counted, %llu rejected as bounce, %llu lost, %.3f/s, total %.4f %s\n", name,
               (unsigned long long)p.count, (unsigned long long)p.rejected, (unsigned long long)p.lost,
               p.rate_per_s, p.total, unit);
    }
    for (uint32_t d = 0; d < devices; d++) {
        struct edgecore_device_stats s;
        if (edgecore_engine_device_stats(engine, d, &s) != EDGECORE_OK) continue;
        double mean_ms = s.responses ? (double)s.latency_total_us / (double)s.responses / 1000.0 : 0;
        const char *name = "?";
        uint8_t unit_id = 0;
        edgecore_engine_device_info(engine, d, &name, NULL, &unit_id);
        static const char *const protocols[] = {"modbus", "dlt645-2007", "dlt645-1997", "cjt188"};
        uint16_t protocol = 0;
        char address[16] = "";
        edgecore_engine_device_protocol(engine, d, &protocol, address, sizeof address);
        char who[48];
        if (protocol == EDGECORE_PROTOCOL_MODBUS)
            snprintf(who, sizeof who, "unit %u", unit_id);
        else
            snprintf(who, sizeof who, "%s %s", protocol < 4 ? protocols[protocol] : "meter", address);
        printf("device '%s' (%s): %s, requests %llu, answers %llu, timeouts %llu, frame errors %llu, exceptions %llu, "
               "disconnected %llu, skipped offline %llu, latency mean %.2f ms max %.2f ms\n",
               name, who, s.state < 4 ? states[s.state] : "?", (unsigned long long)s.requests,
               (unsigned long long)s.responses, (unsigned long long)s.timeouts,
               (unsigned long long)s.frame_errors, (unsigned long long)s.exceptions,
               (unsigned long long)s.disconnects, (unsigned long long)s.skipped_offline, mean_ms,
               s.latency_max_us / 1000.0);
    }
}

/* The engine's journal (a site file's `journal:` section), with each consumer cursor. */
static void print_journal_stats(struct edgecore_engine *engine) {
    struct edgecore_journal *journal = edgecore_engine_journal(engine);
    if (!journal) return;
    struct edgecore_engine_journal_stats feed;
    if (edgecore_engine_journal_stats(engine, &feed) == EDGECORE_OK)
        printf("journal feed: %llu appended, %llu lost on the way (the journal did not keep up), %llu append failures "
               "(%llu readings)%s%s\n", (unsigned long long)feed.appended, (unsigned long long)feed.lost,
               (unsigned long long)feed.append_failures, (unsigned long long)feed.failed_readings,
               feed.last_error ? ", last: " : "", feed.last_error ? edgecore_strerror(feed.last_error) : "");
    struct edgecore_journal_stats s;
    if (edgecore_journal_stats(journal, &s) != EDGECORE_OK) return;
    printf("journal: %llu bytes in %u segments, sequences %llu..%llu (durable to %llu), %llu appended, "
           "%llu dropped and %llu refused for space, %llu corrupt records and %llu segments skipped, %llu syncs, "
           "%llu bytes written\n",
           (unsigned long long)s.bytes, s.segments, (unsigned long long)s.oldest_sequence,
           (unsigned long long)s.newest_sequence, (unsigned long long)s.durable_sequence,
           (unsigned long long)s.appended, (unsigned long long)s.dropped_for_space,
           (unsigned long long)s.refused_for_space, (unsigned long long)s.corrupt_records_skipped,
           (unsigned long long)s.corrupt_segments_skipped, (unsigned long long)s.syncs,
           (unsigned long long)s.bytes_written);
    for (uint32_t i = 0; i < s.cursors; i++) {
        struct edgecore_journal_cursor_stats c;
        if (edgecore_journal_cursor_stats(journal, i, &c) != EDGECORE_OK) continue;
        printf("journal cursor '%s': acknowledged to %llu, %llu unacknowledged, %llu lost for space\n", c.name,
               (unsigned long long)c.acknowledged_sequence, (unsigned long long)c.unacknowledged,
               (unsigned long long)c.lost);
    }
}

/* The --write options due at `elapsed` seconds (NAME=VALUE now, NAME=VALUE@S from S seconds on), each once. */
static void write_due(struct edgecore_engine *engine, const char *const *writes, int *written, int count,
                      double elapsed) {
    for (int w = 0; w < count; w++) {
        if (written[w]) continue;
        char name[128];
        const char *equals = strchr(writes[w], '='), *at = strchr(writes[w], '@');
        if (at && atof(at + 1) > elapsed) continue;
        written[w] = 1;
        if (!equals || (size_t)(equals - writes[w]) >= sizeof name) {
            fprintf(stderr, "edgecore_watch: --write wants NAME=VALUE[@SECONDS], not '%s'\n", writes[w]);
            continue;
        }
        memcpy(name, writes[w], (size_t)(equals - writes[w]));
        name[equals - writes[w]] = '\0';
        uint32_t channel;
        int rc = edgecore_engine_find_channel(engine, name, &channel);
        if (rc == EDGECORE_OK) rc = edgecore_engine_write(engine, channel, atof(equals + 1), 3000);
        if (rc != EDGECORE_OK) fail(writes[w], rc);
        else fprintf(stderr, "edgecore_watch: wrote %s\n", writes[w]);
    }
}

int main(int argc, char **argv) {
    const char *site = NULL;
    int plan_only = 0, json = 0, stats = 0;
    double seconds = 0;
    const char *writes[16];
    int write_count = 0;
    const char *time_sync_bus = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--plan")) plan_only = 1;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--stats")) stats = 1;
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--write") && i + 1 < argc && write_count < 16) writes[write_count++] = argv[++i];
        else if (!strcmp(argv[i], "--time-sync") && i + 1 < argc) time_sync_bus = argv[++i];
        else if (argv[i][0] != '-' && !site) site = argv[i];
        else {
            fprintf(stderr, USAGE);
            return 2;
        }
    }
    if (!site) {
        fprintf(stderr, USAGE);
        return 2;
    }
    if (edgecore_version_number() / 1000000 != EDGECORE_VERSION_MAJOR) {
        fprintf(stderr, "edgecore_watch: libEdgeCore %s does not match edgecore.h %s\n", edgecore_version_string(),
                EDGECORE_VERSION_STRING);
        return 1;
    }

    struct edgecore_engine *engine = NULL;
    int rc = edgecore_engine_create(NULL, &engine);
    if (rc != EDGECORE_OK) return fail("create", rc);
    rc = edgecore_engine_load_yaml(engine, site);
    if (rc != EDGECORE_OK) {
        edgecore_engine_destroy(engine);
        return fail("load", rc);
    }
    char plan[16384];
    rc = edgecore_engine_plan(engine, plan, sizeof plan);
    if (rc < 0) {
        edgecore_engine_destroy(engine);
        return fail("plan", rc);
    }
    fputs(plan, json ? stderr : stdout);
    if (plan_only) {
        edgecore_engine_destroy(engine);
        return 0;
    }

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    rc = edgecore_engine_start(engine);
    if (rc != EDGECORE_OK) {
        edgecore_engine_destroy(engine);
        return fail("start", rc);
    }
    double started = now_seconds();
    if (time_sync_bus) {
        uint32_t bus;
        rc = edgecore_engine_find_bus(engine, time_sync_bus, &bus);
        if (rc == EDGECORE_OK) rc = edgecore_engine_meter_time_sync(engine, bus, 0, 3000);
        if (rc != EDGECORE_OK) fail("time sync", rc);
        else fprintf(stderr, "edgecore_watch: time sync sent on bus '%s'\n", time_sync_bus);
    }
    int written[16] = {0};
    struct edgecore_reading batch[256];
    double end = seconds > 0 ? started + seconds : 0;
    while (!interrupted && (end == 0 || now_seconds() < end)) {
        write_due(engine, writes, written, write_count, now_seconds() - started);
        rc = edgecore_engine_wait(engine, 200);
        if (rc == EDGECORE_E_TIMEOUT) continue;
        if (rc < 0) break;
        int n = edgecore_engine_drain(engine, batch, 256);
        for (int i = 0; i < n; i++) print_reading(engine, &batch[i], json);
        fflush(stdout);
    }
    edgecore_engine_stop(engine);
    int n;
    while ((n = edgecore_engine_drain(engine, batch, 256)) > 0)
        for (int i = 0; i < n; i++) print_reading(engine, &batch[i], json);
    if (stats) {
        print_stats(engine);
        print_journal_stats(engine);
    }
    struct edgecore_ring_stats ring;
    edgecore_engine_ring_stats(engine, &ring);
    fprintf(stderr, "edgecore_watch: %llu readings, %llu dropped\n", (unsigned long long)ring.drained,
            (unsigned long long)ring.dropped);
    edgecore_engine_destroy(engine);
    return 0;
}
