/* Single-thread semantics of the ring: order, wrap-around, both overflow policies with exact counters,
 * lanes merged round-robin, and a blocked consumer woken by a publish. */
#include "cabi_test.h"

static struct edgecore_ring *make(uint32_t capacity, uint32_t lanes, enum edgecore_overflow_policy policy) {
    struct edgecore_ring *ring = NULL;
    CHECK_EQ(edgecore_ring_create(capacity, lanes, policy, &ring), EDGECORE_OK);
    return ring;
}

static void publish_range(struct edgecore_ring *ring, uint32_t lane, uint32_t first, uint32_t count,
                          int expected_return) {
    struct edgecore_reading batch[256];
    for (uint32_t i = 0; i < count; i++) batch[i] = cabi_reading(lane, first + i);
    CHECK_EQ(edgecore_ring_publish(ring, lane, batch, count), expected_return);
}

static struct edgecore_ring_stats stats_of(const struct edgecore_ring *ring) {
    struct edgecore_ring_stats stats;
    memset(&stats, 0, sizeof stats);
    CHECK_EQ(edgecore_ring_stats(ring, &stats), EDGECORE_OK);
    return stats;
}

static void fifo_order_across_wraparound(void) {
    struct edgecore_ring *ring = make(8, 1, EDGECORE_OVERFLOW_REJECT_NEWEST);
    if (!ring) return;
    uint32_t next_in = 0, next_out = 0;
    struct edgecore_reading out[8];
    for (int round = 0; round < 50; round++) { /* 5 in, 5 out: indices wrap every few rounds */
        publish_range(ring, 0, next_in, 5, 5);
        next_in += 5;
        int n = edgecore_ring_drain(ring, out, 8);
        CHECK_EQ(n, 5);
        for (int i = 0; i < n; i++) {
            CHECK_EQ(out[i].sequence, next_out);
            CHECK(out[i].value == (double)next_out + 0.5);
            CHECK_EQ(out[i].timestamp_ns, (int64_t)next_out * 1000);
            next_out++;
        }
    }
    struct edgecore_ring_stats s = stats_of(ring);
    CHECK_EQ(s.published, 250);
    CHECK_EQ(s.drained, 250);
    CHECK_EQ(s.available, 0);
    CHECK_EQ(edgecore_ring_drain(ring, out, 8), 0);
    edgecore_ring_destroy(ring);
}

static void drain_respects_max(void) {
    struct edgecore_ring *ring = make(16, 1, EDGECORE_OVERFLOW_DROP_OLDEST);
    if (!ring) return;
    publish_range(ring, 0, 0, 10, 10);
    struct edgecore_reading out[16];
    memset(out, 0, sizeof out);
    CHECK_EQ(edgecore_ring_drain(ring, out, 3), 3);
    CHECK_EQ(out[2].sequence, 2);
    CHECK_EQ(out[3].sequence, 0); /* untouched beyond max */
    CHECK_EQ(edgecore_ring_drain(ring, out, 16), 7);
    CHECK_EQ(out[0].sequence, 3);
    CHECK_EQ(out[6].sequence, 9);
    edgecore_ring_destroy(ring);
}

static void reject_newest_counts_exactly(void) {
    struct edgecore_ring *ring = make(8, 1, EDGECORE_OVERFLOW_REJECT_NEWEST);
    if (!ring) return;
    publish_range(ring, 0, 0, 6, 6);
    publish_range(ring, 0, 6, 5, 2); /* only 2 fit */
    publish_range(ring, 0, 100, 3, 0); /* full: all 3 refused */
    struct edgecore_ring_stats s = stats_of(ring);
    CHECK_EQ(s.published, 8);
    CHECK_EQ(s.rejected, 6);
    CHECK_EQ(s.dropped, 0);
    CHECK_EQ(s.available, 8);
    struct edgecore_reading out[16];
    CHECK_EQ(edgecore_ring_drain(ring, out, 16), 8);
    for (uint32_t i = 0; i < 8; i++) CHECK_EQ(out[i].sequence, i); /* the oldest were kept */
    publish_range(ring, 0, 8, 8, 8); /* room again */
    s = stats_of(ring);
    CHECK_EQ(s.published, 16);
    CHECK_EQ(s.published, s.drained + s.dropped + s.available);
    edgecore_ring_destroy(ring);
}

static void drop_oldest_counts_exactly(void) {
    struct edgecore_ring *ring = make(8, 1, EDGECORE_OVERFLOW_DROP_OLDEST);
    if (!ring) return;
    publish_range(ring, 0, 0, 6, 6);
    publish_range(ring, 0, 6, 5, 5); /* 3 oldest overwritten */
    struct edgecore_ring_stats s = stats_of(ring);
    CHECK_EQ(s.published, 11);
    CHECK_EQ(s.dropped, 3);
    CHECK_EQ(s.rejected, 0);
    CHECK_EQ(s.available, 8);
    struct edgecore_reading out[16];
    CHECK_EQ(edgecore_ring_drain(ring, out, 16), 8);
    for (uint32_t i = 0; i < 8; i++) CHECK_EQ(out[i].sequence, 3 + i); /* the newest were kept */
    s = stats_of(ring);
    CHECK_EQ(s.published, s.drained + s.dropped + s.available);
    edgecore_ring_destroy(ring);
}

static void drop_oldest_batch_larger_than_capacity(void) {
    struct edgecore_ring *ring = make(4, 1, EDGECORE_OVERFLOW_DROP_OLDEST);
    if (!ring) return;
    publish_range(ring, 0, 0, 2, 2);
    publish_range(ring, 0, 10, 7, 7); /* keeps 13..16; drops 0,1 (stored) and 10..12 (never stored) */
    struct edgecore_ring_stats s = stats_of(ring);
    CHECK_EQ(s.published, 9);
    CHECK_EQ(s.dropped, 5);
    struct edgecore_reading out[8];
    CHECK_EQ(edgecore_ring_drain(ring, out, 8), 4);
    for (uint32_t i = 0; i < 4; i++) CHECK_EQ(out[i].sequence, 13 + i);
    s = stats_of(ring);
    CHECK_EQ(s.published, s.drained + s.dropped + s.available);
    edgecore_ring_destroy(ring);
}

static void lanes_keep_order_and_are_merged_fairly(void) {
    struct edgecore_ring *ring = make(64, 3, EDGECORE_OVERFLOW_REJECT_NEWEST);
    if (!ring) return;
    for (uint32_t lane = 0; lane < 3; lane++) publish_range(ring, lane, 0, 40, 40);
    struct edgecore_ring_stats lane_stats;
    CHECK_EQ(edgecore_ring_lane_stats(ring, 1, &lane_stats), EDGECORE_OK);
    CHECK_EQ(lane_stats.published, 40);
    CHECK_EQ(lane_stats.lanes, 1);
    CHECK_EQ(lane_stats.capacity, 64);
    uint32_t next[3] = {0, 0, 0};
    uint32_t seen_in_first_calls[3] = {0, 0, 0};
    struct edgecore_reading out[10];
    int calls = 0, n;
    while ((n = edgecore_ring_drain(ring, out, 10)) > 0) {
        for (int i = 0; i < n; i++) {
            uint32_t lane = out[i].channel;
            CHECK(lane < 3);
            if (lane >= 3) continue;
            CHECK_EQ(out[i].sequence, next[lane]); /* per-lane order */
            next[lane]++;
            if (calls < 3) seen_in_first_calls[lane]++;
        }
        calls++;
    }
    for (int lane = 0; lane < 3; lane++) {
        CHECK_EQ(next[lane], 40);
        CHECK_EQ(seen_in_first_calls[lane], 10); /* round-robin start: each lane served first once */
    }
    struct edgecore_ring_stats s = stats_of(ring);
    CHECK_EQ(s.published, 120);
    CHECK_EQ(s.drained, 120);
    CHECK_EQ(s.lanes, 3);
    edgecore_ring_destroy(ring);
}

struct delayed_publish {
    struct edgecore_ring *ring;
    long delay_ms;
};

static void *publish_later(void *arg) {
    struct delayed_publish *job = arg;
    cabi_sleep_ms(job->delay_ms);
    struct edgecore_reading r = cabi_reading(0, 77);
    edgecore_ring_publish(job->ring, 0, &r, 1);
    return NULL;
}

static void wait_wakes_when_readings_arrive(void) {
    struct edgecore_ring *ring = make(16, 1, EDGECORE_OVERFLOW_DROP_OLDEST);
    if (!ring) return;
    for (int round = 0; round < 5; round++) {
        struct delayed_publish job = {ring, 30};
        pthread_t thread;
        CHECK_EQ(pthread_create(&thread, NULL, publish_later, &job), 0);
        int64_t start = cabi_monotonic_ms();
        int rc = edgecore_ring_wait(ring, 20000);
        int64_t elapsed = cabi_monotonic_ms() - start;
        pthread_join(thread, NULL);
        CHECK_EQ(rc, 1);
        CHECK(elapsed >= 25);     /* it did block ... */
        CHECK(elapsed < 10000);   /* ... and was woken, not timed out */
        struct edgecore_reading out;
        CHECK_EQ(edgecore_ring_drain(ring, &out, 1), 1);
        CHECK_EQ(out.sequence, 77);
    }
    publish_range(ring, 0, 0, 3, 3);
    CHECK_EQ(edgecore_ring_wait(ring, 0), 3);  /* already available: immediate */
    CHECK_EQ(edgecore_ring_wait(ring, -1), 3); /* no limit, but nothing to wait for */
    edgecore_ring_destroy(ring);
}

int main(void) {
    RUN(fifo_order_across_wraparound);
    RUN(drain_respects_max);
    RUN(reject_newest_counts_exactly);
    RUN(drop_oldest_counts_exactly);
    RUN(drop_oldest_batch_larger_than_capacity);
    RUN(lanes_keep_order_and_are_merged_fairly);
    RUN(wait_wakes_when_readings_arrive);
    return cabi_finish("test_ring_semantics");
}
