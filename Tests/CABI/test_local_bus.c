/* Local buses (since 1.4): channels the application sets with edgecore_engine_write, published through the
 * engine's ring like measurements, with heartbeats; the configuration rules; the refusals. */
#include "cabi_test.h"

#include <math.h>
#include <stdatomic.h>

static int64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* An engine with a local bus "controller", its device "zone1" and two channels: "valve_reason" (interval
 * `interval_ms`, range 0..10) and "dose_ml" (interval 0). */
static struct edgecore_engine *make_engine(uint32_t interval_ms, uint32_t *bus, uint32_t *device, uint32_t *reason,
                                           uint32_t *dose) {
    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), 0);
    if (!engine) return NULL;
    struct edgecore_local_bus_config lb;
    edgecore_local_bus_config_init(&lb);
    lb.name = "controller";
    CHECK_EQ(edgecore_engine_add_local_bus(engine, &lb, bus), 0);
    struct edgecore_device_config dc;
    edgecore_device_config_init(&dc);
    dc.name = "zone1";
    dc.bus = *bus;
    CHECK_EQ(edgecore_engine_add_device(engine, &dc, device), 0);
    struct edgecore_channel_config cc;
    edgecore_channel_config_init(&cc);
    cc.name = "zone1.valve_reason";
    cc.device = *device;
    cc.interval_ms = interval_ms;
    cc.valid_min = 0;
    cc.valid_max = 10;
    CHECK_EQ(edgecore_engine_add_channel(engine, &cc, reason), 0);
    edgecore_channel_config_init(&cc);
    cc.name = "zone1.dose_ml";
    cc.unit = "mL";
    cc.device = *device;
    cc.interval_ms = 0;
    CHECK_EQ(edgecore_engine_add_channel(engine, &cc, dose), 0);
    return engine;
}

static void configuration_rules(void) {
    struct edgecore_local_bus_config lb;
    memset(&lb, 0x5A, sizeof lb);
    edgecore_local_bus_config_init(&lb);
    CHECK(lb.name == NULL);
    CHECK_EQ(lb.reserved[0], 0);
    CHECK_EQ(lb.reserved[1], 0);
    uint32_t bus = 99, device = 99, reason = 99, dose = 99;
    struct edgecore_engine *engine = make_engine(1000, &bus, &device, &reason, &dose);
    if (!engine) return;
    CHECK_EQ(bus, 0);
    CHECK_EQ(reason, 0);
    CHECK_EQ(dose, 1);
    CHECK_EQ(edgecore_engine_add_local_bus(engine, &lb, NULL), EDGECORE_E_NULL_POINTER);
    lb.name = "controller";
    CHECK_EQ(edgecore_engine_add_local_bus(engine, &lb, NULL), EDGECORE_E_DUPLICATE);
    lb.name = "";
    CHECK_EQ(edgecore_engine_add_local_bus(engine, &lb, NULL), EDGECORE_E_CONFIG);
    lb.name = "other";
    CHECK_EQ(edgecore_engine_add_local_bus_sized(engine, &lb, sizeof(void *) + 4, NULL), EDGECORE_E_INVALID_ARGUMENT);
    struct {
        struct edgecore_local_bus_config config;
        uint64_t later;
    } grown;
    memset(&grown, 0, sizeof grown);
    grown.config.name = "other";
    grown.later = 1;
    CHECK_EQ(edgecore_engine_add_local_bus_sized(engine, &grown.config, sizeof grown, NULL), EDGECORE_E_UNKNOWN_FIELD);

    /* A meter protocol on a local bus's device means nothing. */
    struct edgecore_device_config dc;
    edgecore_device_config_init(&dc);
    dc.name = "meter";
    dc.bus = bus;
    dc.protocol = EDGECORE_PROTOCOL_DLT645_2007;
    dc.meter_address = "000000000001";
    CHECK_EQ(edgecore_engine_add_device(engine, &dc, NULL), EDGECORE_E_CONFIG);
    CHECK(strstr(edgecore_engine_last_error(), "protocol") != NULL);
    CHECK_EQ(edgecore_engine_add_hole(engine, device, 3, 0, 9), EDGECORE_E_CONFIG);

    /* Only name, unit, valid_min/valid_max and interval_ms: any other field away from its default is named. */
    static const char *const fields[] = {"address", "function", "type", "order", "bit", "sentinel_count", "scale",
                                         "offset", "meter_item"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        struct edgecore_channel_config cc;
        edgecore_channel_config_init(&cc);
        cc.name = "bad";
        cc.device = device;
        switch (i) {
        case 0: cc.address = 7; break;
        case 1: cc.function = EDGECORE_FC_COILS; break;
        case 2: cc.type = EDGECORE_TYPE_F32; break;
        case 3: cc.order = EDGECORE_ORDER_CDAB; break;
        case 4: cc.bit = 3; break;
        case 5: cc.sentinel_count = 1; break;
        case 6: cc.scale = 0.1; break;
        case 7: cc.offset = 1; break;
        default: cc.meter_item = 5; break;
        }
        CHECK_EQ(edgecore_engine_add_channel(engine, &cc, NULL), EDGECORE_E_CONFIG);
        char expected[64];
        snprintf(expected, sizeof expected, "field '%s'", fields[i]);
        if (!strstr(edgecore_engine_last_error(), expected)) {
            fprintf(stderr, "  %s: %s\n", fields[i], edgecore_engine_last_error());
            CHECK(0);
        }
    }
    struct edgecore_channel_config cc;
    edgecore_channel_config_init(&cc);
    cc.name = "inverted";
    cc.device = device;
    cc.valid_min = 5;
    cc.valid_max = 1;
    CHECK_EQ(edgecore_engine_add_channel(engine, &cc, NULL), EDGECORE_E_CONFIG);
    cc.name = "zone1.dose_ml";
    cc.valid_min = NAN;
    cc.valid_max = NAN;
    CHECK_EQ(edgecore_engine_add_channel(engine, &cc, NULL), EDGECORE_E_DUPLICATE);

    /* Info: the channel belongs to the local device; the plan shows the bus without bus time. */
    const char *unit = NULL;
    uint32_t owner = 99;
    CHECK_EQ(edgecore_engine_channel_info(engine, dose, NULL, &unit, &owner), 0);
    CHECK_STR(unit, "mL");
    CHECK_EQ(owner, device);
    char plan[2048];
    int length = edgecore_engine_plan(engine, plan, sizeof plan);
    CHECK(length > 0 && length < (int)sizeof plan);
    CHECK(strstr(plan, "bus 'controller': local") != NULL);
    CHECK(strstr(plan, "zone1.valve_reason: on writes, the last value again every 1000 ms") != NULL);
    CHECK(strstr(plan, "zone1.dose_ml: on writes only") != NULL);
    CHECK(strstr(plan, "bus time per second") == NULL);
    edgecore_engine_destroy(engine);
}

static void writes_publish_at_once(void) {
    uint32_t bus, device, reason, dose;
    struct edgecore_engine *engine = make_engine(0, &bus, &device, &reason, &dose);
    if (!engine) return;
    CHECK_EQ(edgecore_engine_write(engine, reason, 1, 0), EDGECORE_E_NOT_RUNNING);
    CHECK_EQ(edgecore_engine_channel_writable(engine, reason), 1); /* every local channel is */
    CHECK_EQ(edgecore_engine_channel_writable(engine, dose), 1);
    CHECK_EQ(edgecore_engine_start(engine), 0);
    /* Nothing before the first write. */
    CHECK_EQ(edgecore_engine_wait(engine, 150), EDGECORE_E_TIMEOUT);
    int64_t before = realtime_ns();
    CHECK_EQ(edgecore_engine_write(engine, reason, 3, 0), 0);
    CHECK_EQ(edgecore_engine_write(engine, reason, 11, 0), 0);  /* above valid_max */
    CHECK_EQ(edgecore_engine_write(engine, dose, 250.5, -1), 0);
    CHECK_EQ(edgecore_engine_write(engine, reason, -INFINITY, 0), 0);
    CHECK_EQ(edgecore_engine_write(engine, dose, NAN, 0), EDGECORE_E_VALUE);
    int64_t after = realtime_ns();
    uint16_t regs[1] = {1};
    uint8_t coils[1] = {1};
    CHECK_EQ(edgecore_engine_write_registers(engine, device, 0, regs, 1, 100), EDGECORE_E_NOT_WRITABLE);
    CHECK_EQ(edgecore_engine_write_coils(engine, device, 0, coils, 1, 100), EDGECORE_E_NOT_WRITABLE);
    struct edgecore_reading out[16];
    CHECK_EQ(edgecore_engine_wait(engine, 0), 4);
    CHECK_EQ(edgecore_engine_drain(engine, out, 16), 4);
    CHECK_EQ(out[0].channel, reason);
    CHECK(out[0].value == 3);
    CHECK_EQ(out[0].status, EDGECORE_STATUS_OK);
    CHECK_EQ(out[0].sequence, 0);
    CHECK(out[0].timestamp_ns >= before && out[0].timestamp_ns <= after);
    CHECK(out[1].value == 11);
    CHECK_EQ(out[1].status, EDGECORE_STATUS_OUT_OF_RANGE);
    CHECK_EQ(out[1].sequence, 1);
    CHECK_EQ(out[2].channel, dose);
    CHECK(out[2].value == 250.5);
    CHECK_EQ(out[2].status, EDGECORE_STATUS_OK);
    CHECK_EQ(out[2].sequence, 0);
    CHECK_EQ(out[3].status, EDGECORE_STATUS_OUT_OF_RANGE);
    CHECK_EQ(out[3].sequence, 2);
    CHECK(out[1].timestamp_ns <= out[2].timestamp_ns);
    /* No heartbeat with interval 0. */
    CHECK_EQ(edgecore_engine_wait(engine, 200), EDGECORE_E_TIMEOUT);

    struct edgecore_bus_stats bs;
    CHECK_EQ(edgecore_engine_bus_stats(engine, bus, &bs), 0);
    CHECK_EQ(bs.state, EDGECORE_BUS_CONNECTED);
    CHECK_EQ(bs.transactions, 4);
    struct edgecore_device_stats ds;
    CHECK_EQ(edgecore_engine_device_stats(engine, device, &ds), 0);
    CHECK_EQ(ds.requests, 4);
    CHECK_EQ(ds.responses, 4);
    CHECK_EQ(ds.state, EDGECORE_DEVICE_ONLINE);
    CHECK(ds.last_ok_ns >= before);
    CHECK_EQ(edgecore_engine_stop(engine), 0);
    CHECK_EQ(edgecore_engine_bus_stats(engine, bus, &bs), 0);
    CHECK_EQ(bs.state, EDGECORE_BUS_STOPPED);
    CHECK_EQ(edgecore_engine_write(engine, reason, 1, 0), EDGECORE_E_NOT_RUNNING);
    /* Sequences continue across a restart; the last value is not kept (no heartbeat, nothing published). */
    CHECK_EQ(edgecore_engine_start(engine), 0);
    CHECK_EQ(edgecore_engine_write(engine, reason, 4, 0), 0);
    CHECK_EQ(edgecore_engine_drain(engine, out, 16), 1);
    CHECK_EQ(out[0].sequence, 3);
    edgecore_engine_destroy(engine);
}

static void heartbeats_and_prompt_stop(void) {
    uint32_t bus, device, reason, dose;
    struct edgecore_engine *engine = make_engine(100, &bus, &device, &reason, &dose);
    if (!engine) return;
    CHECK_EQ(edgecore_engine_start(engine), 0);
    CHECK_EQ(edgecore_engine_wait(engine, 250), EDGECORE_E_TIMEOUT);  /* no heartbeat before a write */
    int64_t start = cabi_monotonic_ms();
    CHECK_EQ(edgecore_engine_write(engine, reason, 7, 0), 0);
    CHECK_EQ(edgecore_engine_write(engine, dose, 1, 0), 0);
    cabi_sleep_ms(1050);
    int64_t stop_begins = cabi_monotonic_ms();
    CHECK_EQ(edgecore_engine_stop(engine), 0);
    int64_t stop_took = cabi_monotonic_ms() - stop_begins;
    CHECK(stop_took < 100);
    int64_t elapsed = stop_begins - start;
    struct edgecore_reading out[64];
    int n = edgecore_engine_drain(engine, out, 64);
    int beats = 0, doses = 0;
    uint32_t next_sequence = 0;
    for (int i = 0; i < n; i++) {
        if (out[i].channel == dose) {
            doses++;
            continue;
        }
        CHECK(out[i].value == 7);
        CHECK_EQ(out[i].status, EDGECORE_STATUS_OK);
        CHECK_EQ(out[i].sequence, next_sequence);
        if (i > 0 && out[i].channel == reason && beats > 0) {
            /* 100 ms apart, give or take scheduling. */
            CHECK(out[i].timestamp_ns > 0);
        }
        next_sequence = out[i].sequence + 1;
        beats++;
    }
    CHECK_EQ(doses, 1);
    /* The write and one heartbeat per 100 ms after it, bounded both ways. */
    int expected = (int)(elapsed / 100);
    if (beats - 1 < expected - 2 || beats - 1 > expected) {
        fprintf(stderr, "  %d heartbeats in %lld ms\n", beats - 1, (long long)elapsed);
        CHECK(0);
    }
    edgecore_engine_destroy(engine);
}

struct writer {
    struct edgecore_engine *engine;
    uint32_t channel;
    int failures;
};

static void *write_many(void *argument) {
    struct writer *w = argument;
    for (int i = 0; i < 1000; i++) {
        if (edgecore_engine_write(w->engine, w->channel, i, 0) != 0) w->failures++;
    }
    return NULL;
}

/* An engine with a ring of `ring_capacity` readings, a local bus "app" and its device "app" (*device), or
 * NULL (the failed check counted). */
static struct edgecore_engine *engine_with_local_device(uint32_t ring_capacity, uint32_t *device) {
    struct edgecore_engine *engine = NULL;
    struct edgecore_engine_config ec;
    edgecore_engine_config_init(&ec);
    ec.ring_capacity = ring_capacity;
    CHECK_EQ(edgecore_engine_create(&ec, &engine), 0);
    if (!engine) return NULL;
    struct edgecore_local_bus_config lb;
    edgecore_local_bus_config_init(&lb);
    lb.name = "app";
    uint32_t bus;
    CHECK_EQ(edgecore_engine_add_local_bus(engine, &lb, &bus), 0);
    struct edgecore_device_config dc;
    edgecore_device_config_init(&dc);
    dc.name = "app";
    dc.bus = bus;
    CHECK_EQ(edgecore_engine_add_device(engine, &dc, device), 0);
    return engine;
}

static void concurrent_writers(void) {
    uint32_t device;
    struct edgecore_engine *engine = engine_with_local_device(8192, &device);
    if (!engine) return;
    struct writer writers[4];
    for (int i = 0; i < 4; i++) {
        struct edgecore_channel_config cc;
        edgecore_channel_config_init(&cc);
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        cc.name = name;
        cc.device = device;
        cc.interval_ms = 5;  /* heartbeats interleave with the writes */
        writers[i].engine = engine;
        writers[i].failures = 0;
        CHECK_EQ(edgecore_engine_add_channel(engine, &cc, &writers[i].channel), 0);
    }
    CHECK_EQ(edgecore_engine_start(engine), 0);
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, write_many, &writers[i]);
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    CHECK_EQ(edgecore_engine_stop(engine), 0);
    static struct edgecore_reading out[8192];
    int n = edgecore_engine_drain(engine, out, 8192);
    uint32_t next[4] = {0, 0, 0, 0};
    int writes[4] = {0, 0, 0, 0};
    double last[4] = {-1, -1, -1, -1};
    for (int i = 0; i < n; i++) {
        uint32_t c = out[i].channel;
        if (c >= 4) { CHECK(0); continue; }
        CHECK_EQ(out[i].sequence, next[c]);
        next[c] = out[i].sequence + 1;
        CHECK(out[i].value >= last[c]);  /* a heartbeat repeats the last value, never an older one */
        if (out[i].value != last[c]) writes[c]++;
        last[c] = out[i].value;
    }
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(writers[i].failures, 0);
        CHECK_EQ(writes[i], 1000);
        CHECK(last[i] == 999);
    }
    edgecore_engine_destroy(engine);
}

struct racer {
    struct edgecore_engine *engine;
    uint32_t channel;
    atomic_int stop;
    int ok;
    int other;
};

static void *write_until_told(void *argument) {
    struct racer *r = argument;
    for (int i = 0; !atomic_load(&r->stop) && i < 200000; i++) {
        int rc = edgecore_engine_write(r->engine, r->channel, i, 0);
        if (rc == 0) r->ok++;
        else if (rc != EDGECORE_E_NOT_RUNNING) r->other++;
    }
    return NULL;
}

/* Writers race 50 stops and starts: each write is published once (0) or refused as not running, never half;
 * every published one is drained, numbered on from the last across the restarts. */
static void writes_race_stop_and_start(void) {
    uint32_t device;
    struct edgecore_engine *engine = engine_with_local_device(65536, &device);
    if (!engine) return;
    struct racer racers[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        struct edgecore_channel_config cc;
        edgecore_channel_config_init(&cc);
        cc.name = i == 0 ? "a" : "b";
        cc.device = device;
        cc.interval_ms = 1;
        memset(&racers[i], 0, sizeof racers[i]);
        atomic_init(&racers[i].stop, 0);
        racers[i].engine = engine;
        CHECK_EQ(edgecore_engine_add_channel(engine, &cc, &racers[i].channel), 0);
    }
    CHECK_EQ(edgecore_engine_start(engine), 0);
    for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, write_until_told, &racers[i]);
    static struct edgecore_reading out[65536];
    uint32_t next[2] = {0, 0};
    long drained[2] = {0, 0}, gaps = 0;
    for (int cycle = 0; cycle < 50; cycle++) {
        cabi_sleep_ms(2);
        CHECK_EQ(edgecore_engine_stop(engine), 0);
        int n = edgecore_engine_drain(engine, out, 65536);
        for (int i = 0; i < n; i++) {
            uint32_t c = out[i].channel == racers[0].channel ? 0 : 1;
            if (out[i].sequence != next[c]) gaps++;
            next[c] = out[i].sequence + 1;
            drained[c]++;
        }
        CHECK_EQ(edgecore_engine_start(engine), 0);
    }
    for (int i = 0; i < 2; i++) atomic_store(&racers[i].stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    CHECK_EQ(edgecore_engine_stop(engine), 0);
    int n = edgecore_engine_drain(engine, out, 65536);
    for (int i = 0; i < n; i++) {
        uint32_t c = out[i].channel == racers[0].channel ? 0 : 1;
        if (out[i].sequence != next[c]) gaps++;
        next[c] = out[i].sequence + 1;
        drained[c]++;
    }
    struct edgecore_ring_stats rs;
    CHECK_EQ(edgecore_engine_ring_stats(engine, &rs), 0);
    CHECK_EQ(rs.dropped, 0);
    CHECK_EQ(gaps, 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(racers[i].other, 0);
        CHECK(racers[i].ok > 0);
        CHECK(drained[i] >= racers[i].ok);  /* every write, and heartbeats */
        CHECK_EQ(next[i], (uint32_t)drained[i]);
    }
    printf("  50 stops and starts: %d + %d writes published, %ld + %ld readings drained, no gap\n",
           racers[0].ok, racers[1].ok, drained[0], drained[1]);
    edgecore_engine_destroy(engine);
}

int main(int argc, char **argv) {
    cabi_only = argc > 1 ? argv[1] : NULL;
    RUN(configuration_rules);
    RUN(writes_publish_at_once);
    RUN(heartbeats_and_prompt_stop);
    RUN(concurrent_writers);
    RUN(writes_race_stop_and_start);
    return cabi_finish("test_local_bus");
}
