/* Several producer threads (one lane each) against one consumer, millions of readings:
 *  - without overflow loss (reject-newest, producers retry what was refused): every reading arrives, in
 *    order per producer, and the blocking wait never misses a wake-up;
 *  - with drop-oldest on a small ring: per-producer order holds, and the readings missing from each lane
 *    are exactly the ones its `dropped` counter reports. */
#include "cabi_test.h"
#include <sched.h>

enum { PRODUCERS = 3, PER_PRODUCER = 2000000, DROP_PER_PRODUCER = 1000000 };

struct producer {
    struct edgecore_ring *ring;
    uint32_t lane;
    uint32_t total;
    uint32_t max_batch;
    int retry_refused;
    uint64_t refused; /* sum of what publish refused, as it returned */
    int errors;
};

static uint32_t xorshift(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static void *produce(void *arg) {
    struct producer *p = arg;
    struct edgecore_reading batch[64];
    uint32_t rng = 2463534242u + p->lane * 7919u;
    uint32_t next = 0;
    while (next < p->total) {
        uint32_t n = 1 + xorshift(&rng) % p->max_batch;
        if (n > p->total - next) n = p->total - next;
        for (uint32_t i = 0; i < n; i++) batch[i] = cabi_reading(p->lane, next + i);
        uint32_t done = 0;
        while (done < n) {
            int rc = edgecore_ring_publish(p->ring, p->lane, batch + done, n - done);
            if (rc < 0) { p->errors++; return NULL; }
            p->refused += (uint64_t)(n - done - (uint32_t)rc);
            done += (uint32_t)rc;
            if (!p->retry_refused) break;
            if (done < n) sched_yield();
        }
        next += n;
    }
    return NULL;
}

struct consumer_result {
    uint64_t received[PRODUCERS];
    uint64_t order_errors;
    uint64_t wait_timeouts;
};

/* Drains until every producer has finished and the ring is empty (or a 300 s safety deadline). */
static void consume(struct edgecore_ring *ring, const volatile int *producers_done, int blocking,
                    uint32_t drain_batch, struct consumer_result *result) {
    struct edgecore_reading out[256];
    int64_t next[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) next[i] = -1;
    int64_t deadline = cabi_monotonic_ms() + 300000;
    for (;;) {
        int n = edgecore_ring_drain(ring, out, drain_batch);
        CHECK(n >= 0);
        if (n < 0) return;
        for (int i = 0; i < n; i++) {
            uint32_t lane = out[i].channel;
            if (lane >= PRODUCERS || (int64_t)out[i].sequence <= next[lane] ||
                out[i].value != (double)out[i].sequence + 0.5) {
                result->order_errors++;
                continue;
            }
            next[lane] = out[i].sequence;
            result->received[lane]++;
        }
        if (n == 0) {
            if (__atomic_load_n(producers_done, __ATOMIC_ACQUIRE) && edgecore_ring_wait(ring, 0) < 0) return;
            if (blocking) {
                int was_done = __atomic_load_n(producers_done, __ATOMIC_ACQUIRE);
                int rc = edgecore_ring_wait(ring, 2000);
                if (rc == EDGECORE_E_TIMEOUT && !was_done && !__atomic_load_n(producers_done, __ATOMIC_ACQUIRE))
                    result->wait_timeouts++; /* producers were running: a wake-up was lost */
            }
        }
        if (cabi_monotonic_ms() > deadline) {
            fprintf(stderr, "  consumer gave up at the safety deadline\n");
            CHECK(0);
            return;
        }
    }
}

struct run {
    pthread_t threads[PRODUCERS];
    volatile int done;
};

/* Joins the producers, then tells the consumer (on the main thread) that no more readings will come. */
static void *watch_producers(void *arg) {
    struct run *run = arg;
    for (int i = 0; i < PRODUCERS; i++) pthread_join(run->threads[i], NULL);
    __atomic_store_n(&run->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void run_all(struct edgecore_ring *ring, struct producer *producers, uint32_t total, uint32_t max_batch,
                    int retry, int blocking, uint32_t drain_batch, struct consumer_result *result) {
    struct run run;
    run.done = 0;
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        producers[i] = (struct producer){ring, i, total, max_batch, retry, 0, 0};
        CHECK_EQ(pthread_create(&run.threads[i], NULL, produce, &producers[i]), 0);
    }
    pthread_t watcher;
    CHECK_EQ(pthread_create(&watcher, NULL, watch_producers, &run), 0);
    memset(result, 0, sizeof *result);
    consume(ring, &run.done, blocking, drain_batch, result);
    pthread_join(watcher, NULL);
}

static void no_reading_lost_or_reordered(void) {
    struct edgecore_ring *ring = NULL;
    CHECK_EQ(edgecore_ring_create(1024, PRODUCERS, EDGECORE_OVERFLOW_REJECT_NEWEST, &ring), EDGECORE_OK);
    if (!ring) return;
    struct producer producers[PRODUCERS];
    struct consumer_result result;
    run_all(ring, producers, PER_PRODUCER, 64, 1, 1, 256, &result);
    uint64_t refused = 0;
    for (int lane = 0; lane < PRODUCERS; lane++) {
        CHECK_EQ(producers[lane].errors, 0);
        CHECK_EQ(result.received[lane], PER_PRODUCER);
        refused += producers[lane].refused;
        struct edgecore_ring_stats lane_stats;
        CHECK_EQ(edgecore_ring_lane_stats(ring, (uint32_t)lane, &lane_stats), EDGECORE_OK);
        CHECK_EQ(lane_stats.published, PER_PRODUCER);
        CHECK_EQ(lane_stats.drained, PER_PRODUCER);
        CHECK_EQ(lane_stats.rejected, producers[lane].refused);
    }
    CHECK_EQ(result.order_errors, 0);
    CHECK_EQ(result.wait_timeouts, 0);
    struct edgecore_ring_stats s;
    CHECK_EQ(edgecore_ring_stats(ring, &s), EDGECORE_OK);
    CHECK_EQ(s.published, (uint64_t)PRODUCERS * PER_PRODUCER);
    CHECK_EQ(s.drained, (uint64_t)PRODUCERS * PER_PRODUCER);
    CHECK_EQ(s.dropped, 0);
    CHECK_EQ(s.rejected, refused);
    CHECK_EQ(s.available, 0);
    printf("  %d producers x %d readings, none lost or reordered; %llu refused and retried\n", PRODUCERS,
           PER_PRODUCER, (unsigned long long)refused);
    edgecore_ring_destroy(ring);
}

static void drop_oldest_drops_are_counted_exactly(void) {
    struct edgecore_ring *ring = NULL;
    CHECK_EQ(edgecore_ring_create(64, PRODUCERS, EDGECORE_OVERFLOW_DROP_OLDEST, &ring), EDGECORE_OK);
    if (!ring) return;
    struct producer producers[PRODUCERS];
    struct consumer_result result;
    /* small drains against batches up to 32 into a 64-slot lane: the producers overrun the consumer */
    run_all(ring, producers, DROP_PER_PRODUCER, 32, 0, 0, 8, &result);
    CHECK_EQ(result.order_errors, 0);
    uint64_t dropped = 0;
    for (int lane = 0; lane < PRODUCERS; lane++) {
        struct edgecore_ring_stats lane_stats;
        CHECK_EQ(edgecore_ring_lane_stats(ring, (uint32_t)lane, &lane_stats), EDGECORE_OK);
        CHECK_EQ(producers[lane].refused, 0); /* drop-oldest never refuses */
        CHECK_EQ(lane_stats.published, DROP_PER_PRODUCER);
        CHECK_EQ(lane_stats.drained, result.received[lane]);
        CHECK_EQ(lane_stats.dropped, DROP_PER_PRODUCER - result.received[lane]); /* exactly the missing ones */
        CHECK_EQ(lane_stats.available, 0);
        dropped += lane_stats.dropped;
    }
    CHECK(dropped > 0); /* the scenario did overflow */
    printf("  %d producers x %d readings into 64-slot lanes: %llu dropped (each lane's counter checked against its missing sequences)\n", PRODUCERS,
           DROP_PER_PRODUCER, (unsigned long long)dropped);
    edgecore_ring_destroy(ring);
}

int main(void) {
    RUN(no_reading_lost_or_reordered);
    RUN(drop_oldest_drops_are_counted_exactly);
    return cabi_finish("test_ring_stress");
}
