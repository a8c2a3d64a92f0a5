/* The engine's thread rules, exercised from several threads at once, each scenario ITERATIONS times:
 *  - start rebuilding the ring (the bus count changed) while a consumer drains and waits and another
 *    thread reads ring statistics: nothing crashes, no stored reading is lost, counters never go back;
 *  - writes, statistics, lookups and the plan on a stopped engine while another thread adds channels;
 *  - a consumer blocked in edgecore_engine_wait(-1) is woken by every stop (EDGECORE_E_NOT_RUNNING) and
 *    follows stop / add bus / start;
 *  - destroy while a consumer waits: the consumer returns EDGECORE_E_NOT_RUNNING, nothing crashes.
 * Buses are TCP endpoints on a loopback port nobody listens on: every poll yields a DISCONNECTED reading. */
#define _GNU_SOURCE /* syscall(SYS_gettid), pthread_rwlockattr_setkind_np */
#include "cabi_test.h"
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#if defined(__arm__) || defined(__aarch64__)
enum { ITERATIONS = 250 }; /* the ARM builds run under qemu-user, about ten times slower */
#else
enum { ITERATIONS = 1000 };
#endif
/* Buses per engine in the rebuild scenario (a start creates a thread per bus; the engine allows 64). */
enum { MAX_BUSES = 16, SECOND_MS = 1000 };

static int add_channel(struct edgecore_engine *engine, uint32_t device, uint32_t index, uint32_t interval_ms) {
    char name[32];
    snprintf(name, sizeof name, "ch%u", index);
    struct edgecore_channel_config channel;
    edgecore_channel_config_init(&channel);
    channel.name = name;
    channel.device = device;
    channel.address = (uint16_t)index;
    channel.interval_ms = interval_ms;
    channel.writable = 1;
    uint32_t id;
    return edgecore_engine_add_channel(engine, &channel, &id) == EDGECORE_OK ? (int)id : -1;
}

/* A bus (on a loopback port nobody listens on: refused at once) with one device and one channel;
 * returns the channel id or -1. */
static int add_site(struct edgecore_engine *engine, uint32_t index, uint32_t interval_ms) {
    char name[32];
    snprintf(name, sizeof name, "site%u", index);
    struct edgecore_tcp_bus_config bus;
    edgecore_tcp_bus_config_init(&bus);
    bus.name = name;
    bus.host = "127.0.0.1";
    bus.port = 1;
    bus.reconnect_min_ms = 60000;
    bus.reconnect_max_ms = 60000;
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = name;
    uint32_t device_id;
    if (edgecore_engine_add_tcp_bus(engine, &bus, &device.bus) != EDGECORE_OK ||
        edgecore_engine_add_device(engine, &device, &device_id) != EDGECORE_OK)
        return -1;
    return add_channel(engine, device_id, index, interval_ms);
}

static struct edgecore_engine *new_engine(void) {
    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
    return engine;
}

/* Waits up to timeout_ms for *flag to become nonzero. */
static int wait_for(atomic_int *flag, int64_t timeout_ms) {
    int64_t deadline = cabi_monotonic_ms() + timeout_ms;
    while (!atomic_load(flag)) {
        if (cabi_monotonic_ms() > deadline) return 0;
        cabi_sleep_ms(1);
    }
    return 1;
}

/* Whether thread `tid` of this process sleeps in the kernel (state S in /proc). */
static int thread_sleeps(long tid) {
    char path[64], text[256];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *file = fopen(path, "r");
    if (!file) return 0;
    size_t n = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[n] = '\0';
    const char *end = strrchr(text, ')'); /* after the command name */
    return end && end[1] == ' ' && end[2] == 'S';
}

/* ---- start rebuilding the ring, with a consumer and a statistics reader ---------------------------- */

struct rebuild {
    pthread_rwlock_t lock; /* read: a call on `engine`; write: replacing it */
    struct edgecore_engine *engine;
    int generation; /* counts replacements: a new engine may be allocated where the old one was */
    uint32_t next_sequence[MAX_BUSES]; /* consumer's, under the lock (read side: one consumer) */
    atomic_int done;
    atomic_long drained;
    atomic_int gaps, stats_errors, wait_errors;
};

/* Checks a drained batch: per channel, sequences continue without a gap. */
static void check_batch(struct rebuild *r, const struct edgecore_reading *out, int n) {
    for (int i = 0; i < n; i++) {
        if (out[i].channel >= MAX_BUSES) continue;
        if (out[i].sequence != r->next_sequence[out[i].channel]) atomic_fetch_add(&r->gaps, 1);
        r->next_sequence[out[i].channel] = out[i].sequence + 1;
    }
    atomic_fetch_add(&r->drained, n);
}

static void *rebuild_consumer(void *arg) {
    struct rebuild *r = arg;
    struct edgecore_reading out[256];
    while (!atomic_load(&r->done)) {
        pthread_rwlock_rdlock(&r->lock);
        int rc = edgecore_engine_wait(r->engine, 5);
        if (rc > 0 || rc == EDGECORE_E_NOT_RUNNING) check_batch(r, out, edgecore_engine_drain(r->engine, out, 256));
        else if (rc != EDGECORE_E_TIMEOUT) atomic_fetch_add(&r->wait_errors, 1);
        pthread_rwlock_unlock(&r->lock);
        if (rc == EDGECORE_E_NOT_RUNNING) sched_yield();
    }
    return NULL;
}

static void *rebuild_stats(void *arg) {
    struct rebuild *r = arg;
    struct edgecore_engine *seen = NULL;
    int seen_generation = 0;
    struct edgecore_ring_stats last;
    memset(&last, 0, sizeof last);
    while (!atomic_load(&r->done)) {
        pthread_rwlock_rdlock(&r->lock);
        if (r->generation != seen_generation) memset(&last, 0, sizeof last);
        seen_generation = r->generation;
        seen = r->engine;
        struct edgecore_ring_stats s;
        struct edgecore_device_stats device;
        /* counters continue across a rebuilt ring: they never go back */
        if (edgecore_engine_ring_stats(seen, &s) != EDGECORE_OK || s.published < last.published ||
            s.drained < last.drained || s.lanes < last.lanes || s.dropped != 0 ||
            edgecore_engine_device_stats(seen, 0, &device) == EDGECORE_E_NULL_POINTER)
            atomic_fetch_add(&r->stats_errors, 1);
        last = s;
        pthread_rwlock_unlock(&r->lock);
    }
    return NULL;
}

/* With the engine stopped and the consumer kept out: drain the rest, check the totals. */
static void drain_rest(struct rebuild *r) {
    struct edgecore_reading out[256];
    int n;
    while ((n = edgecore_engine_drain(r->engine, out, 256)) > 0) check_batch(r, out, n);
    struct edgecore_ring_stats s;
    CHECK_EQ(edgecore_engine_ring_stats(r->engine, &s), EDGECORE_OK);
    CHECK_EQ(s.available, 0);
    CHECK_EQ(s.dropped, 0);
    CHECK_EQ(s.published, s.drained);
}

static void start_rebuilds_the_ring_under_a_consumer_and_stats(void) {
    struct rebuild r;
    memset(&r, 0, sizeof r);
    pthread_rwlockattr_t attributes;
    pthread_rwlockattr_init(&attributes);
    pthread_rwlockattr_setkind_np(&attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&r.lock, &attributes);
    r.engine = new_engine();
    if (!r.engine) return;
    pthread_t consumer, stats;
    pthread_create(&consumer, NULL, rebuild_consumer, &r);
    pthread_create(&stats, NULL, rebuild_stats, &r);
    uint32_t buses = 0, engines = 1;
    uint32_t seed = 12345;
    for (int i = 0; i < ITERATIONS && cabi_case_failures == 0; i++) {
        if (buses == MAX_BUSES) {
            pthread_rwlock_wrlock(&r.lock);
            drain_rest(&r);
            edgecore_engine_destroy(r.engine);
            r.engine = new_engine();
            r.generation++;
            memset(r.next_sequence, 0, sizeof r.next_sequence);
            pthread_rwlock_unlock(&r.lock);
            buses = 0;
            engines++;
            if (!r.engine) break;
        }
        /* bus 0 polls every 2 ms, the others every 20 ms */
        CHECK_EQ(add_site(r.engine, buses, buses == 0 ? 2 : 20), (int)buses);
        buses++;
        CHECK_EQ(edgecore_engine_start(r.engine), EDGECORE_OK); /* a new ring: one lane more */
        seed = seed * 1103515245u + 12345u;
        if (seed >> 30 == 0) cabi_sleep_ms(1 + (seed >> 16) % 3);
        CHECK_EQ(edgecore_engine_stop(r.engine), EDGECORE_OK);
    }
    pthread_rwlock_wrlock(&r.lock);
    if (r.engine) drain_rest(&r);
    pthread_rwlock_unlock(&r.lock);
    atomic_store(&r.done, 1);
    pthread_join(consumer, NULL);
    pthread_join(stats, NULL);
    edgecore_engine_destroy(r.engine);
    CHECK_EQ(atomic_load(&r.gaps), 0);
    CHECK_EQ(atomic_load(&r.stats_errors), 0);
    CHECK_EQ(atomic_load(&r.wait_errors), 0);
    CHECK(atomic_load(&r.drained) > 0);
    printf("  %d starts on %u engines, %ld readings drained\n", ITERATIONS, engines, atomic_load(&r.drained));
    pthread_rwlock_destroy(&r.lock);
    pthread_rwlockattr_destroy(&attributes);
}

/* ---- calls of any thread on a stopped engine while channels are added ------------------------------ */

struct lookups {
    struct edgecore_engine *engine;
    atomic_int added; /* channels 0 .. added-1 exist */
    atomic_int done;
    atomic_int errors;
    atomic_long calls;
};

static void *lookup_loop(void *arg) {
    struct lookups *l = arg;
    uint32_t seed = (uint32_t)(uintptr_t)&seed;
    long calls = 0;
    while (!atomic_load(&l->done)) {
        int added = atomic_load(&l->added);
        seed = seed * 1103515245u + 12345u;
        uint32_t channel = (seed >> 8) % (uint32_t)added;
        const char *name = NULL, *unit = NULL;
        uint32_t device = 99, id = 99, buses = 0, devices = 0, channels = 0;
        char expected[32];
        snprintf(expected, sizeof expected, "ch%u", channel);
        struct edgecore_device_stats device_stats;
        struct edgecore_pulse_stats pulse_stats;
        uint16_t value = 1;
        int ok = edgecore_engine_write(l->engine, channel, 1.0, 10) == EDGECORE_E_NOT_RUNNING &&
                 edgecore_engine_write_registers(l->engine, 0, (uint16_t)channel, &value, 1, 10) ==
                     EDGECORE_E_NOT_RUNNING &&
                 edgecore_engine_pulse_stats(l->engine, channel, &pulse_stats) == EDGECORE_E_NOT_FOUND &&
                 edgecore_engine_device_stats(l->engine, 0, &device_stats) == EDGECORE_OK &&
                 edgecore_engine_channel_info(l->engine, channel, &name, &unit, &device) == EDGECORE_OK &&
                 name && strcmp(name, expected) == 0 && device == 0 &&
                 edgecore_engine_device_info(l->engine, 0, &name, NULL, NULL) == EDGECORE_OK &&
                 edgecore_engine_find_channel(l->engine, expected, &id) == EDGECORE_OK && id == channel &&
                 edgecore_engine_counts(l->engine, &buses, &devices, &channels) == EDGECORE_OK &&
                 channels >= (uint32_t)added;
        if (ok && seed % 64 == 0) ok = edgecore_engine_plan(l->engine, NULL, 0) > 0;
        if (!ok) atomic_fetch_add(&l->errors, 1);
        calls += 10;
    }
    atomic_fetch_add(&l->calls, calls);
    return NULL;
}

static void configuration_under_lookups_writes_and_stats(void) {
    enum { READERS = 3, ROUNDS = 5 }; /* each round: a new engine, ITERATIONS channels */
    long calls = 0;
    for (int round = 0; round < ROUNDS && cabi_case_failures == 0; round++) {
        struct lookups l;
        memset(&l, 0, sizeof l);
        l.engine = new_engine();
        if (!l.engine) return;
        CHECK_EQ(add_site(l.engine, 0, 1000), 0);
        atomic_store(&l.added, 1);
        pthread_t readers[READERS];
        for (int t = 0; t < READERS; t++) pthread_create(&readers[t], NULL, lookup_loop, &l);
        for (uint32_t i = 1; i < ITERATIONS; i++) {
            CHECK_EQ(add_channel(l.engine, 0, i, 1000), (int)i);
            atomic_store(&l.added, (int)i + 1);
        }
        atomic_store(&l.done, 1);
        for (int t = 0; t < READERS; t++) pthread_join(readers[t], NULL);
        CHECK_EQ(atomic_load(&l.errors), 0);
        calls += atomic_load(&l.calls);
        edgecore_engine_destroy(l.engine);
    }
    printf("  %d x %d channels added during %ld calls of %d other threads\n", ROUNDS, ITERATIONS, calls, READERS);
}

/* ---- a consumer in wait(-1) across stop / add bus / start ------------------------------------------ */

struct waiter {
    struct edgecore_engine *engine;
    atomic_int run;          /* the config thread's current run (start count), set after the start */
    atomic_int reading_run;  /* the run of channel 0's last reading drained: one poll per run, so its
                                sequence + 1 */
    atomic_int woken;        /* EDGECORE_E_NOT_RUNNING returns */
    atomic_int errors;
    atomic_int done, finished;
};

static void *waiting_consumer(void *arg) {
    struct waiter *w = arg;
    struct edgecore_reading out[64];
    while (!atomic_load(&w->done)) {
        int run = atomic_load(&w->run);
        int rc = edgecore_engine_wait(w->engine, -1);
        if (rc > 0) {
            int n = edgecore_engine_drain(w->engine, out, 64);
            for (int i = 0; i < n; i++)
                if (out[i].channel == 0) atomic_store(&w->reading_run, (int)out[i].sequence + 1);
        } else if (rc == EDGECORE_E_NOT_RUNNING) {
            atomic_fetch_add(&w->woken, 1);
            while (atomic_load(&w->run) == run && !atomic_load(&w->done)) sched_yield();
        } else {
            atomic_fetch_add(&w->errors, 1); /* a wait without limit never times out */
            cabi_sleep_ms(1);
        }
    }
    atomic_store(&w->finished, 1);
    return NULL;
}

static void wait_is_woken_by_stop_and_follows_restarts(void) {
    struct waiter w;
    memset(&w, 0, sizeof w);
    w.engine = new_engine();
    if (!w.engine) return;
    uint32_t buses = 0;
    CHECK_EQ(add_site(w.engine, buses++, 3600000), 0); /* one poll per start */
    pthread_t consumer;
    pthread_create(&consumer, NULL, waiting_consumer, &w);
    int hung = 0;
    for (int i = 1; i <= ITERATIONS && !hung && cabi_case_failures == 0; i++) {
        if (i % 64 == 0 && buses < MAX_BUSES) CHECK(add_site(w.engine, buses++, 3600000) >= 0); /* new ring */
        CHECK_EQ(edgecore_engine_start(w.engine), EDGECORE_OK);
        atomic_store(&w.run, i);
        /* the consumer got this run's first reading: it waits again, for readings that will not come */
        int64_t deadline = cabi_monotonic_ms() + 2 * SECOND_MS;
        while (atomic_load(&w.reading_run) != i && cabi_monotonic_ms() < deadline) sched_yield();
        CHECK_EQ(atomic_load(&w.reading_run), i);
        if (i % 4 == 0) cabi_sleep_ms(1);
        int woken = atomic_load(&w.woken);
        CHECK_EQ(edgecore_engine_stop(w.engine), EDGECORE_OK);
        deadline = cabi_monotonic_ms() + 2 * SECOND_MS;
        while (atomic_load(&w.woken) == woken && cabi_monotonic_ms() < deadline) sched_yield();
        if (atomic_load(&w.woken) == woken) {
            hung = 1;
            fprintf(stderr, "  run %d: the consumer was not woken by stop within 2 s\n", i);
        }
    }
    CHECK(!hung);
    atomic_store(&w.done, 1);
    atomic_store(&w.run, -1);
    CHECK(wait_for(&w.finished, 2 * SECOND_MS));
    CHECK_EQ(atomic_load(&w.errors), 0);
    if (atomic_load(&w.finished)) {
        pthread_join(consumer, NULL);
        edgecore_engine_destroy(w.engine);
    } /* else leave the blocked thread and the engine: the program reports the failure and exits */
    printf("  %d stops woke the waiting consumer, %u buses at the end\n", atomic_load(&w.woken), buses);
}

/* ---- destroy while a consumer waits ------------------------------------------------------------------ */

struct destroyed {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct edgecore_engine *engine; /* handed to the consumer; NULL: none */
    int quit;
    atomic_long tid;
    atomic_int in_wait;   /* the consumer is about to wait on the handed engine */
    atomic_int result;    /* what that wait returned; 0: not yet */
};

static void *destroyed_consumer(void *arg) {
    struct destroyed *d = arg;
    atomic_store(&d->tid, (long)syscall(SYS_gettid));
    struct edgecore_reading out[64];
    for (;;) {
        pthread_mutex_lock(&d->lock);
        while (!d->engine && !d->quit) pthread_cond_wait(&d->changed, &d->lock);
        struct edgecore_engine *engine = d->engine;
        d->engine = NULL;
        pthread_mutex_unlock(&d->lock);
        if (!engine) break;
        /* the first reading, then a wait that only destroy can end */
        int rc = edgecore_engine_wait(engine, 2 * SECOND_MS);
        if (rc > 0) edgecore_engine_drain(engine, out, 64);
        atomic_store(&d->in_wait, 1);
        atomic_store(&d->result, edgecore_engine_wait(engine, -1));
    }
    return NULL;
}

static void destroy_wakes_a_waiting_consumer(void) {
    struct destroyed d;
    memset(&d, 0, sizeof d);
    pthread_mutex_init(&d.lock, NULL);
    pthread_cond_init(&d.changed, NULL);
    pthread_t consumer;
    pthread_create(&consumer, NULL, destroyed_consumer, &d);
    int hung = 0;
    int64_t slowest = 0;
    for (int i = 0; i < ITERATIONS && !hung && cabi_case_failures == 0; i++) {
        struct edgecore_engine *engine = new_engine();
        if (!engine) break;
        CHECK_EQ(add_site(engine, 0, 3600000), 0);
        CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
        atomic_store(&d.in_wait, 0);
        atomic_store(&d.result, 0);
        pthread_mutex_lock(&d.lock);
        d.engine = engine;
        pthread_cond_signal(&d.changed);
        pthread_mutex_unlock(&d.lock);
        /* destroy only once the consumer sleeps inside edgecore_engine_wait (a call that began before) */
        CHECK(wait_for(&d.in_wait, 5 * SECOND_MS));
        int64_t deadline = cabi_monotonic_ms() + 5 * SECOND_MS;
        while (!thread_sleeps(atomic_load(&d.tid)) && cabi_monotonic_ms() < deadline) sched_yield();
        cabi_sleep_ms(1);
        int64_t started = cabi_monotonic_ms();
        edgecore_engine_destroy(engine);
        int64_t took = cabi_monotonic_ms() - started;
        if (took > slowest) slowest = took;
        deadline = cabi_monotonic_ms() + 2 * SECOND_MS;
        while (atomic_load(&d.result) == 0 && cabi_monotonic_ms() < deadline) sched_yield();
        if (atomic_load(&d.result) == 0) {
            hung = 1;
            fprintf(stderr, "  iteration %d: the waiting consumer did not return within 2 s of destroy\n", i);
        }
        CHECK_EQ(atomic_load(&d.result), EDGECORE_E_NOT_RUNNING);
    }
    CHECK(!hung);
    if (!hung) {
        pthread_mutex_lock(&d.lock);
        d.quit = 1;
        pthread_cond_signal(&d.changed);
        pthread_mutex_unlock(&d.lock);
        pthread_join(consumer, NULL);
    }
    printf("  %d destroys with a consumer waiting, slowest %lld ms\n", ITERATIONS, (long long)slowest);
}

static void timed(const char *name, void (*test)(void)) {
    if (cabi_only && strcmp(cabi_only, name) != 0) return;
    int64_t started = cabi_monotonic_ms();
    cabi_run(name, test);
    printf("  (%lld ms)\n", (long long)(cabi_monotonic_ms() - started));
    fflush(stdout);
}
#define RUN_TIMED(test) timed(#test, test)

int main(int argc, char **argv) {
    cabi_only = argc > 1 ? argv[1] : NULL; /* one scenario by name */
    RUN_TIMED(start_rebuilds_the_ring_under_a_consumer_and_stats);
    RUN_TIMED(configuration_under_lookups_writes_and_stats);
    RUN_TIMED(wait_is_woken_by_stop_and_follows_restarts);
    RUN_TIMED(destroy_wakes_a_waiting_consumer);
    return cabi_finish("test_engine_threads");
}
