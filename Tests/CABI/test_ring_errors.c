/* Every documented error of the ring functions, and that a failing call leaves the ring intact. */
#include "cabi_test.h"

static struct edgecore_ring *sentinel_handle(void) { return (struct edgecore_ring *)(uintptr_t)0x1; }

static void create_rejects_null_out(void) {
    CHECK_EQ(edgecore_ring_create(64, 1, EDGECORE_OVERFLOW_DROP_OLDEST, NULL), EDGECORE_E_NULL_POINTER);
}

static void create_rejects_bad_capacity(void) {
    const uint32_t bad[] = {0, 1, 3, 6, 100, 1000, (1u << 24) + 1, 1u << 25, 1u << 31, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct edgecore_ring *ring = sentinel_handle();
        CHECK_EQ(edgecore_ring_create(bad[i], 1, EDGECORE_OVERFLOW_DROP_OLDEST, &ring), EDGECORE_E_INVALID_CAPACITY);
        CHECK(ring == NULL); /* out-parameter cleared on failure */
    }
    const uint32_t good[] = {EDGECORE_RING_CAPACITY_MIN, 4, 1024, EDGECORE_RING_CAPACITY_MAX};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct edgecore_ring *ring = NULL;
        CHECK_EQ(edgecore_ring_create(good[i], 1, EDGECORE_OVERFLOW_REJECT_NEWEST, &ring), EDGECORE_OK);
        CHECK(ring != NULL);
        struct edgecore_ring_stats stats;
        CHECK_EQ(edgecore_ring_stats(ring, &stats), EDGECORE_OK);
        CHECK_EQ(stats.capacity, good[i]);
        edgecore_ring_destroy(ring);
    }
}

static void create_rejects_bad_lane_count(void) {
    const uint32_t bad[] = {0, EDGECORE_RING_LANES_MAX + 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct edgecore_ring *ring = sentinel_handle();
        CHECK_EQ(edgecore_ring_create(64, bad[i], EDGECORE_OVERFLOW_DROP_OLDEST, &ring), EDGECORE_E_INVALID_LANE_COUNT);
        CHECK(ring == NULL);
    }
    struct edgecore_ring *ring = NULL;
    CHECK_EQ(edgecore_ring_create(2, EDGECORE_RING_LANES_MAX, EDGECORE_OVERFLOW_DROP_OLDEST, &ring), EDGECORE_OK);
    edgecore_ring_destroy(ring);
}

static void create_rejects_bad_policy(void) {
    const int bad[] = {2, 3, -1, INT_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct edgecore_ring *ring = sentinel_handle();
        CHECK_EQ(edgecore_ring_create(64, 1, (enum edgecore_overflow_policy)bad[i], &ring), EDGECORE_E_INVALID_POLICY);
        CHECK(ring == NULL);
    }
}

static void create_reports_memory_exhaustion(void) {
    /* 64 lanes of 2^24 readings: 32 GiB. 32-bit targets cannot address it at all; 64-bit ones may get the
     * address space (the memory is not touched) or -ENOMEM. Either way: no abort, and a clean result. */
    struct edgecore_ring *ring = sentinel_handle();
    int rc = edgecore_ring_create(EDGECORE_RING_CAPACITY_MAX, EDGECORE_RING_LANES_MAX,
                                  EDGECORE_OVERFLOW_DROP_OLDEST, &ring);
    if (sizeof(void *) == 4) {
        CHECK_EQ(rc, -ENOMEM);
    } else {
        CHECK(rc == EDGECORE_OK || rc == -ENOMEM);
    }
    CHECK(rc == EDGECORE_OK ? ring != NULL : ring == NULL);
    edgecore_ring_destroy(ring);
}

static void destroy_null_is_a_no_op(void) {
    edgecore_ring_destroy(NULL);
    edgecore_ring_destroy(NULL);
    /* and the library still works afterwards */
    struct edgecore_ring *ring = NULL;
    CHECK_EQ(edgecore_ring_create(4, 1, EDGECORE_OVERFLOW_DROP_OLDEST, &ring), EDGECORE_OK);
    CHECK(ring != NULL);
    edgecore_ring_destroy(ring);
}

static void calls_on_null_ring(void) {
    struct edgecore_reading r = cabi_reading(1, 1);
    struct edgecore_ring_stats stats;
    CHECK_EQ(edgecore_ring_publish(NULL, 0, &r, 1), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_ring_drain(NULL, &r, 1), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_ring_wait(NULL, 0), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_ring_wait(NULL, -1), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_ring_stats(NULL, &stats), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_ring_lane_stats(NULL, 0, &stats), EDGECORE_E_NULL_POINTER);
}

/* Each bad call returns its code, and what the ring held before is still there, unchanged, after. */
static void bad_calls_leave_ring_intact(void) {
    struct edgecore_ring *ring = NULL;
    CHECK_EQ(edgecore_ring_create(8, 2, EDGECORE_OVERFLOW_REJECT_NEWEST, &ring), EDGECORE_OK);
    if (!ring) return;
    struct edgecore_reading in[3] = {cabi_reading(7, 1), cabi_reading(7, 2), cabi_reading(7, 3)};
    CHECK_EQ(edgecore_ring_publish(ring, 1, in, 3), 3);

    struct edgecore_ring_stats stats;
    CHECK_EQ(edgecore_ring_publish(ring, 0, NULL, 1), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_ring_publish(ring, 2, in, 1), EDGECORE_E_INVALID_LANE);
    CHECK_EQ(edgecore_ring_publish(ring, UINT32_MAX, in, 1), EDGECORE_E_INVALID_LANE);
    CHECK_EQ(edgecore_ring_publish(ring, 0, in, SIZE_MAX), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_ring_publish(ring, 0, in, (size_t)INT32_MAX + 1u), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_ring_publish(ring, 0, NULL, 0), 0); /* nothing to publish: fine with NULL */
    CHECK_EQ(edgecore_ring_drain(ring, NULL, 4), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_ring_drain(ring, NULL, 0), 0);
    CHECK_EQ(edgecore_ring_stats(ring, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_ring_lane_stats(ring, 0, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_ring_lane_stats(ring, 2, &stats), EDGECORE_E_INVALID_LANE);

    CHECK_EQ(edgecore_ring_stats(ring, &stats), EDGECORE_OK);
    CHECK_EQ(stats.published, 3);
    CHECK_EQ(stats.available, 3);
    CHECK_EQ(stats.rejected, 0);
    CHECK_EQ(stats.drained, 0);
    CHECK_EQ(stats.lanes, 2);

    struct edgecore_reading out[8];
    memset(out, 0xAB, sizeof out);
    CHECK_EQ(edgecore_ring_drain(ring, out, 8), 3);
    for (int i = 0; i < 3; i++) CHECK(memcmp(&out[i], &in[i], sizeof in[i]) == 0);
    edgecore_ring_destroy(ring);
}

static void wait_times_out_on_empty_ring(void) {
    struct edgecore_ring *ring = NULL;
    CHECK_EQ(edgecore_ring_create(8, 1, EDGECORE_OVERFLOW_DROP_OLDEST, &ring), EDGECORE_OK);
    if (!ring) return;
    CHECK_EQ(edgecore_ring_wait(ring, 0), EDGECORE_E_TIMEOUT);
    int64_t start = cabi_monotonic_ms();
    CHECK_EQ(edgecore_ring_wait(ring, 50), EDGECORE_E_TIMEOUT);
    int64_t elapsed = cabi_monotonic_ms() - start;
    CHECK(elapsed >= 50);
    CHECK(elapsed < 5000); /* generous: emulated CI runs are slow, but it must not hang */
    edgecore_ring_destroy(ring);
}

int main(void) {
    RUN(create_rejects_null_out);
    RUN(create_rejects_bad_capacity);
    RUN(create_rejects_bad_lane_count);
    RUN(create_rejects_bad_policy);
    RUN(create_reports_memory_exhaustion);
    RUN(destroy_null_is_a_no_op);
    RUN(calls_on_null_ring);
    RUN(bad_calls_leave_ring_intact);
    RUN(wait_times_out_on_empty_ring);
    return cabi_finish("test_ring_errors");
}
