/*
 * edgecore.h - the public C interface of libEdgeCore.
 *
 * EdgeCore samples sensors on Linux edge devices (GPIO, Modbus RTU/TCP), keeps every reading with its
 * status in a lock-free ring buffer, and hands readings to C firmware through the functions below.
 *
 * Conventions (all functions):
 *   - Names are edgecore_<object>_<verb>; objects are opaque handles made by _create and freed by _destroy.
 *     _destroy(NULL) does nothing.
 *   - Functions return int: 0 (EDGECORE_OK) or a non-negative count on success, a negative result code on
 *     failure. Negative values from -1 to -4095 are system errors as -errno (e.g. -ENOMEM); values from
 *     EDGECORE_E_FIRST down to EDGECORE_E_LAST are EdgeCore's own. edgecore_strerror() names any of them.
 *   - A failing call leaves every object as it was (nothing half-done, no reading lost) and never aborts
 *     the process: bad arguments come back as result codes.
 *   - Readings are always copied into arrays owned by the caller; no pointer into EdgeCore's memory is
 *     ever handed out, except the static strings of edgecore_strerror() and friends.
 *   - Published signatures never change; a changed function gets a new name with a _v2 suffix. Structures
 *     passed by pointer only grow at their end.
 *
 * Copyright the EdgeCore authors. Written for C11 (also valid C++ for gateways written in it).
 */
#ifndef EDGECORE_H
#define EDGECORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#define EDGECORE_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define EDGECORE_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* ---------------------------------------------------------------------------------------------------- */
/* Version                                                                                              */
/* ---------------------------------------------------------------------------------------------------- */

#define EDGECORE_VERSION_MAJOR 0
#define EDGECORE_VERSION_MINOR 1
#define EDGECORE_VERSION_PATCH 0
/** MAJOR * 1000000 + MINOR * 1000 + PATCH, as in sqlite3: compare it with edgecore_version_number(). */
#define EDGECORE_VERSION_NUMBER 1000
#define EDGECORE_VERSION_STRING "0.1.0"

/**
 * The version of the library actually loaded, as EDGECORE_VERSION_NUMBER was when it was built.
 * Firmware should check at start-up that the major numbers agree:
 *   edgecore_version_number() / 1000000 == EDGECORE_VERSION_MAJOR
 * Never fails; does not block; any thread.
 */
int edgecore_version_number(void);

/**
 * The loaded library's version as text ("0.1.0"). Static string, never NULL, never freed.
 * Never fails; does not block; any thread.
 */
const char *edgecore_version_string(void);

/* ---------------------------------------------------------------------------------------------------- */
/* Result codes                                                                                         */
/* ---------------------------------------------------------------------------------------------------- */

#define EDGECORE_OK 0
/** First (highest) of EdgeCore's own result codes; system errors (-errno) are above it (-1 .. -4095). */
#define EDGECORE_E_FIRST (-10001)
/** A required pointer argument (handle, array or out-parameter) is NULL. */
#define EDGECORE_E_NULL_POINTER (-10001)
/** An argument is outside its documented range (the function's documentation says which). */
#define EDGECORE_E_INVALID_ARGUMENT (-10002)
/** A ring capacity is not a power of two between EDGECORE_RING_CAPACITY_MIN and _MAX. */
#define EDGECORE_E_INVALID_CAPACITY (-10003)
/** A ring's lane count is outside 1 .. EDGECORE_RING_LANES_MAX. */
#define EDGECORE_E_INVALID_LANE_COUNT (-10004)
/** A lane index is not below the ring's lane count. */
#define EDGECORE_E_INVALID_LANE (-10005)
/** An overflow policy is not one of enum edgecore_overflow_policy. */
#define EDGECORE_E_INVALID_POLICY (-10006)
/** A wait ended because its timeout passed before the awaited condition. */
#define EDGECORE_E_TIMEOUT (-10007)
/** Last (lowest) of EdgeCore's own result codes in this version; later versions extend downwards. */
#define EDGECORE_E_LAST (-10007)

/**
 * A human-readable English description of a result code: "success" for 0, EdgeCore's own text for its
 * codes, the C library's description for -errno, "unknown result code" otherwise.
 * Returns a static string: never NULL, never freed, valid for the life of the process.
 * Never fails; does not block; any thread.
 */
const char *edgecore_strerror(int code);

/* ---------------------------------------------------------------------------------------------------- */
/* Readings                                                                                             */
/* ---------------------------------------------------------------------------------------------------- */

/**
 * The status of a reading. Every poll yields a reading, failed ones included, so the consumer sees the gap
 * and knows why. Values up to 255 are reserved for EdgeCore; later versions add codes, so treat an
 * unknown status as "not OK".
 */
enum edgecore_status {
    EDGECORE_STATUS_OK = 0,            /**< value is valid */
    EDGECORE_STATUS_TIMEOUT = 1,       /**< the device did not answer in time */
    EDGECORE_STATUS_CRC_ERROR = 2,     /**< CRC or framing error in the response */
    EDGECORE_STATUS_EXCEPTION = 3,     /**< Modbus exception; status_detail holds the exception code */
    EDGECORE_STATUS_SENTINEL = 4,      /**< the device sent its "not available" raw value */
    EDGECORE_STATUS_OUT_OF_RANGE = 5,  /**< the value is outside the channel's valid range */
    EDGECORE_STATUS_DISCONNECTED = 6,  /**< bus or connection down (port gone, TCP peer unreachable) */
    EDGECORE_STATUS_STALE = 7          /**< no fresh sample in time; value repeats the last good one */
};

/**
 * One sample of one channel: 32 bytes, fixed-width fields, the same layout on every architecture.
 * value is meaningful only when status is EDGECORE_STATUS_OK (otherwise it is 0 or, for STALE, the last
 * good value). reserved is 0 and must be written as 0.
 */
struct edgecore_reading {
    int64_t timestamp_ns;    /**< when the sample was taken: CLOCK_REALTIME, ns since the Unix epoch */
    double value;            /**< engineering value, after scale and offset, in the channel's unit */
    uint32_t channel;        /**< channel id */
    uint32_t sequence;       /**< per-channel sample counter, wraps at 2^32: a jump means readings lost */
    uint16_t status;         /**< enum edgecore_status */
    uint16_t status_detail;  /**< extra detail for status, e.g. the Modbus exception code; else 0 */
    uint32_t reserved;       /**< 0 */
};
EDGECORE_STATIC_ASSERT(sizeof(struct edgecore_reading) == 32, "struct edgecore_reading must be 32 bytes");
EDGECORE_STATIC_ASSERT(offsetof(struct edgecore_reading, value) == 8, "edgecore_reading layout");
EDGECORE_STATIC_ASSERT(offsetof(struct edgecore_reading, status) == 24, "edgecore_reading layout");

/**
 * The short lowercase name of a status ("ok", "timeout", "crc_error", "exception", "sentinel",
 * "out_of_range", "disconnected", "stale"), or "unknown" for a value this version does not know.
 * Static string, never NULL, never freed. Never fails; does not block; any thread.
 */
const char *edgecore_status_name(int status);

/* ---------------------------------------------------------------------------------------------------- */
/* Ring buffer                                                                                          */
/* ---------------------------------------------------------------------------------------------------- */

/**
 * Every reading passes through a ring. A ring has one or more lanes; each lane is a lock-free
 * single-producer ring of `capacity` readings. Each producer thread (one per bus) owns a lane, so producers
 * never contend with each other; one consumer thread drains all lanes, visiting them round-robin and
 * starting one lane further on each call. Readings of one lane come out in the order they were published;
 * readings of different lanes are not ordered with respect to each other (their timestamp_ns orders them).
 *
 * Producers publish in batches: a batch becomes visible to the consumer at once, with one atomic store.
 * The consumer copies up to N readings at once into its own array.
 *
 * Thread rules:
 *   - edgecore_ring_publish on one lane: one thread at a time; different lanes: concurrently.
 *   - edgecore_ring_drain and edgecore_ring_wait: one consumer thread at a time.
 *   - edgecore_ring_stats and edgecore_ring_lane_stats: any thread, any time.
 *   - edgecore_ring_destroy: once no other thread uses the ring.
 */
struct edgecore_ring;

#define EDGECORE_RING_CAPACITY_MIN 2u
#define EDGECORE_RING_CAPACITY_MAX (1u << 24)
#define EDGECORE_RING_LANES_MAX 64u

/** What a full lane does with a new batch. */
enum edgecore_overflow_policy {
    /** Overwrite the oldest readings of the lane; each one lost is counted in `dropped`. Publishing always
     *  succeeds, so a producer never stalls behind a slow consumer. */
    EDGECORE_OVERFLOW_DROP_OLDEST = 0,
    /** Keep what is stored and refuse the part of a batch that does not fit; each refused reading is
     *  counted in `rejected`, and edgecore_ring_publish returns how many were taken. */
    EDGECORE_OVERFLOW_REJECT_NEWEST = 1
};

/** Counters of a ring or of one lane. Each counter is exact; while producers run, a snapshot's counters
 *  are each exact but not taken at the same instant. When the ring is quiescent:
 *  published == drained + dropped + available. */
struct edgecore_ring_stats {
    uint64_t published;  /**< readings stored by edgecore_ring_publish */
    uint64_t drained;    /**< readings copied out by edgecore_ring_drain */
    uint64_t dropped;    /**< stored readings overwritten before being drained (DROP_OLDEST) */
    uint64_t rejected;   /**< readings refused by edgecore_ring_publish (REJECT_NEWEST) */
    uint64_t available;  /**< readings waiting to be drained now */
    uint32_t capacity;   /**< readings per lane */
    uint32_t lanes;      /**< number of lanes (1 for edgecore_ring_lane_stats) */
};
EDGECORE_STATIC_ASSERT(sizeof(struct edgecore_ring_stats) == 48, "struct edgecore_ring_stats must be 48 bytes");

/**
 * Create a ring of `lanes` lanes of `capacity` readings each (memory: about 32 * capacity * lanes bytes).
 *
 * capacity  a power of two from EDGECORE_RING_CAPACITY_MIN to EDGECORE_RING_CAPACITY_MAX.
 * lanes     1 .. EDGECORE_RING_LANES_MAX: one per producer thread.
 * policy    what a full lane does (enum edgecore_overflow_policy).
 * ring_out  receives the new ring, owned by the caller, freed with edgecore_ring_destroy;
 *           set to NULL on failure.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (ring_out is NULL), EDGECORE_E_INVALID_CAPACITY,
 * EDGECORE_E_INVALID_LANE_COUNT, EDGECORE_E_INVALID_POLICY, -ENOMEM.
 * Does not block; any thread.
 */
int edgecore_ring_create(uint32_t capacity, uint32_t lanes, enum edgecore_overflow_policy policy,
                         struct edgecore_ring **ring_out);

/**
 * Free a ring and the readings still in it. NULL does nothing. No other thread may be using the ring
 * (publishing, draining, waiting or reading stats) when it is destroyed.
 */
void edgecore_ring_destroy(struct edgecore_ring *ring);

/**
 * Copy `count` readings into lane `lane` and make them visible to the consumer at once.
 *
 * When the lane lacks room: with DROP_OLDEST, the oldest stored readings are overwritten (and counted as
 * dropped; if count exceeds the capacity, only the last `capacity` readings of the batch are kept) and
 * the function returns count; with REJECT_NEWEST, the readings that fit are stored, the rest are counted
 * as rejected, and the function returns how many were stored (possibly 0).
 *
 * readings  count readings, read only during the call; may be NULL when count is 0.
 * count     0 .. INT32_MAX.
 *
 * Returns the number of readings stored (>= 0), or EDGECORE_E_NULL_POINTER (ring, or readings with
 * count > 0), EDGECORE_E_INVALID_LANE, EDGECORE_E_INVALID_ARGUMENT (count > INT32_MAX).
 * Lock-free, never blocks (wakes a consumer blocked in edgecore_ring_wait). One thread per lane at a time.
 */
int edgecore_ring_publish(struct edgecore_ring *ring, uint32_t lane, const struct edgecore_reading *readings,
                          size_t count);

/**
 * Move up to `max` readings out of the ring into `out`, oldest first within each lane.
 *
 * out  caller's array of at least max readings; may be NULL when max is 0.
 * max  0 .. INT32_MAX (a larger value is treated as INT32_MAX).
 *
 * Returns the number of readings copied (0 when the ring is empty), or EDGECORE_E_NULL_POINTER (ring, or
 * out with max > 0). Lock-free, never blocks. One consumer thread at a time.
 */
int edgecore_ring_drain(struct edgecore_ring *ring, struct edgecore_reading *out, size_t max);

/**
 * Block until the ring holds at least one reading or `timeout_ms` milliseconds pass. The thread sleeps in
 * the kernel (futex) while it waits: no busy-waiting. Time is measured on CLOCK_MONOTONIC.
 *
 * timeout_ms  < 0: wait without limit; 0: only check; > 0: the longest wait.
 *
 * Returns the number of readings available (> 0, at most INT32_MAX), or EDGECORE_E_TIMEOUT,
 * EDGECORE_E_NULL_POINTER (ring). One consumer thread at a time.
 */
int edgecore_ring_wait(struct edgecore_ring *ring, int32_t timeout_ms);

/**
 * Fill *stats_out with the ring's counters summed over all lanes.
 * Returns 0, or EDGECORE_E_NULL_POINTER (ring or stats_out). Lock-free; any thread.
 */
int edgecore_ring_stats(const struct edgecore_ring *ring, struct edgecore_ring_stats *stats_out);

/**
 * Fill *stats_out with the counters of one lane (stats_out->lanes is 1).
 * Returns 0, or EDGECORE_E_NULL_POINTER (ring or stats_out), EDGECORE_E_INVALID_LANE.
 * Lock-free; any thread.
 */
int edgecore_ring_lane_stats(const struct edgecore_ring *ring, uint32_t lane,
                             struct edgecore_ring_stats *stats_out);

#ifdef __cplusplus
}
#endif

#endif /* EDGECORE_H */
