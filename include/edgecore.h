/*
 * edgecore.h - the public C interface of libEdgeCore.
 *
 * EdgeCore samples sensors on Linux edge devices (GPIO, Modbus RTU/TCP, DL/T 645 and CJ/T 188 meters),
 * keeps every reading with its status in a lock-free ring buffer, and hands readings to C firmware through
 * the functions below.
 *
 * Sections, in order: conventions; version; result codes; readings; ring; journal (and its read-only
 * reader); engine (life cycle, Modbus buses, devices (Modbus slaves and DL/T 645 / CJ/T 188 meters),
 * channels, GPIO, local buses, readings, statistics and look-ups, writes, meter actions and names, journal).
 *
 * Conventions (every function):
 *   - Names: edgecore_<object>_<verb>. Objects (struct edgecore_ring, struct edgecore_engine) are opaque
 *     handles made by _create and freed by _destroy; _destroy(NULL) does nothing. A journal (struct
 *     edgecore_journal) and a journal reader (struct edgecore_journal_reader) are made by _open and freed
 *     by _close, as files are; _close(NULL) does nothing.
 *     Settings and statistics are plain structs the caller allocates.
 *   - Results: functions return int: 0 (EDGECORE_OK) or a non-negative count on success, a negative result
 *     code on failure. -1 .. -4095 are system errors as -errno (e.g. -ENOMEM); EDGECORE_E_FIRST down to
 *     EDGECORE_E_LAST are EdgeCore's own. edgecore_strerror() names any of them. Each function lists every
 *     code it can return.
 *   - A failing call leaves every object as it was (nothing half-done, no reading lost) and never aborts
 *     the process: bad arguments, files, frames and peers come back as result codes.
 *   - Ownership: readings are copied into arrays the caller owns; strings and structs passed in are read
 *     during the call only (strings are copied when kept); no pointer into EdgeCore's memory is handed out
 *     except the static strings of edgecore_strerror() and friends and the names of
 *     edgecore_engine_channel_info() / _device_info() (valid until the engine is destroyed).
 *   - Threads: each function says which threads may call it and when. "Any thread" means concurrently
 *     with every other call on the same object, except its _destroy. No call may start on an object once
 *     its _destroy has started, and none may be in progress when it starts unless the function says so.
 *   - Blocking: each function says whether and how long it blocks. None takes a lock that a worker holds
 *     across I/O.
 *   - Paths (site files, serial devices, GPIO chips, checkpoint files) are passed to the system unchanged,
 *     byte for byte; they need not be UTF-8. Messages of edgecore_engine_last_error() show bytes that are
 *     not UTF-8, and control characters, as \xHH. Names and units are text: UTF-8 is expected.
 *   - Enumerations inside structs are stored as uint16_t (never as a C enum type, whose size is up to the
 *     compiler); the field's comment names its enum. Parameters of functions may have enum types.
 *
 * Compatibility (the growth rule):
 *   - Published signatures never change; a changed function gets a new name with a _v2 suffix. Codes,
 *     statuses and enum values are only ever added.
 *   - Structs the caller allocates (settings and statistics) only grow at their end. Every function that
 *     takes one is a static inline wrapper (below) around an exported edgecore_..._sized function that also
 *     receives the caller's sizeof, so a program keeps working when the library is upgraded or downgraded
 *     without a rebuild, as Linux's extensible system-call structs (struct open_how) do:
 *       * the library reads and writes only the smaller of the two sizes;
 *       * a field the caller's (older) struct lacks takes its documented default; a statistic the
 *         library's (older) struct lacks reads as 0 in the caller's struct;
 *       * bytes of a settings struct beyond the library's own struct must be 0: a field the library does
 *         not know is refused with EDGECORE_E_UNKNOWN_FIELD instead of being ignored silently;
 *       * a size smaller than the struct had in the version that introduced it (1.0, or the version
 *         its functions name) is EDGECORE_E_INVALID_ARGUMENT.
 *     Call the wrappers; bindings for other languages call the _sized functions with the size of the
 *     struct they were written for. Every struct's layout is fixed by the static assertions after it:
 *     fields are fixed-width and there are no padding holes. Reserved fields are that padding made
 *     explicit: write 0 (the _init functions do); they never gain a meaning, new fields go at the end.
 *   - The reading (struct edgecore_reading) is the exception: it is 32 bytes for good, as arrays of it
 *     cross the interface.
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
/* Layout checks: struct S's field F lies at byte OFFSET (P: the size of a pointer, 8 or 4). */
#define EDGECORE_P_ sizeof(void *)
#define EDGECORE_ASSERT_FIELD_(S, F, OFFSET) \
    EDGECORE_STATIC_ASSERT(offsetof(struct S, F) == (OFFSET), "layout of struct " #S ": field " #F)
#define EDGECORE_ASSERT_SIZE_(S, SIZE) \
    EDGECORE_STATIC_ASSERT(sizeof(struct S) == (SIZE), "layout of struct " #S ": size")

/* ==================================================================================================== */
/* Version                                                                                              */
/* ==================================================================================================== */

#define EDGECORE_VERSION_MAJOR 1
#define EDGECORE_VERSION_MINOR 4
#define EDGECORE_VERSION_PATCH 0
/** MAJOR * 1000000 + MINOR * 1000 + PATCH, as in sqlite3: compare it with edgecore_version_number(). */
#define EDGECORE_VERSION_NUMBER 1004000
#define EDGECORE_VERSION_STRING "1.4.0"

/**
 * The version of the library actually loaded, as EDGECORE_VERSION_NUMBER was when it was built.
 * Firmware should check at start-up that the major numbers agree:
 *   edgecore_version_number() / 1000000 == EDGECORE_VERSION_MAJOR
 * Never fails. Does not block. Any thread, any time.
 */
int edgecore_version_number(void);

/**
 * The loaded library's version as text ("1.1.0"). Static string, never NULL, never freed.
 * Never fails. Does not block. Any thread, any time.
 */
const char *edgecore_version_string(void);

/* ==================================================================================================== */
/* Result codes                                                                                         */
/* ==================================================================================================== */

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
/** The call needs a stopped engine (configuration changes) and the engine is running. */
#define EDGECORE_E_RUNNING (-10008)
/** The call needs a running engine (writes); from edgecore_engine_wait: the engine is stopped (or being
 *  destroyed) and no readings are left to drain. */
#define EDGECORE_E_NOT_RUNNING (-10009)
/** No bus, device or channel has the given id or name. */
#define EDGECORE_E_NOT_FOUND (-10010)
/** A name is already used by another bus, device or channel of the engine. */
#define EDGECORE_E_DUPLICATE (-10011)
/** A configuration value is invalid; edgecore_engine_last_error() names the field and the reason. */
#define EDGECORE_E_CONFIG (-10012)
/** A configuration file cannot be parsed; edgecore_engine_last_error() names file, line and field. */
#define EDGECORE_E_CONFIG_FILE (-10013)
/** The channel (or a register or coil of the write) is not declared writable. */
#define EDGECORE_E_NOT_WRITABLE (-10014)
/** The device did not answer in time (after its retries). */
#define EDGECORE_E_DEVICE_TIMEOUT (-10015)
/** The device's answer had a bad CRC or was malformed. */
#define EDGECORE_E_DEVICE_FRAME (-10016)
/** The device answered with a Modbus exception; edgecore_engine_last_error() gives its code. */
#define EDGECORE_E_DEVICE_EXCEPTION (-10017)
/** The bus is down (serial port gone, TCP peer unreachable). */
#define EDGECORE_E_DISCONNECTED (-10018)
/** A fixed limit was reached (e.g. more than EDGECORE_RING_LANES_MAX buses). */
#define EDGECORE_E_LIMIT (-10019)
/** The value cannot be represented by the channel's type (written value out of range, NaN for integers). */
#define EDGECORE_E_VALUE (-10020)
/** A settings struct sets a field this library does not know (nonzero bytes past the end of the library's
 *  own version of the struct): the program was built against a newer edgecore.h. Upgrade libEdgeCore or
 *  leave the field 0. */
#define EDGECORE_E_UNKNOWN_FIELD (-10021)
/** The folder is not an EdgeCore journal: it holds other files, or the path is not a folder. */
#define EDGECORE_E_NOT_A_JOURNAL (-10022)
/** The journal was written by a newer EdgeCore (a newer format version): refused, never misread. */
#define EDGECORE_E_JOURNAL_VERSION (-10023)
/** The journal is full and its when_full policy is EDGECORE_JOURNAL_REFUSE_NEWEST. */
#define EDGECORE_E_JOURNAL_FULL (-10024)
/** More than one device answered a request meant for the one device on the line (meter address discovery
 *  with several meters connected). Since 1.3. */
#define EDGECORE_E_AMBIGUOUS (-10025)
/** Last (lowest) of EdgeCore's own result codes in this version; later versions extend downwards. */
#define EDGECORE_E_LAST (-10025)

/**
 * A human-readable English description of a result code: "success" for 0, EdgeCore's own text for its
 * codes, the C library's description for -errno, "unknown result code" otherwise.
 * Returns a static string: never NULL, never freed, valid for the life of the process.
 * Never fails. Does not block. Any thread, any time.
 */
const char *edgecore_strerror(int code);

/* ==================================================================================================== */
/* Readings                                                                                             */
/* ==================================================================================================== */

/**
 * The status of a reading. Every poll yields a reading, failed ones included, so the consumer sees the gap
 * and knows why. Values up to 255 are reserved for EdgeCore; later versions add codes, so treat an
 * unknown status as "not OK".
 */
enum edgecore_status {
    EDGECORE_STATUS_OK = 0,            /**< value is valid */
    EDGECORE_STATUS_TIMEOUT = 1,       /**< the device did not answer in time */
    EDGECORE_STATUS_CRC_ERROR = 2,     /**< CRC or framing error in the response */
    EDGECORE_STATUS_EXCEPTION = 3,     /**< the device refused: a Modbus exception (status_detail: the
                                            exception code as received, 0 and codes above 11 included), a
                                            DL/T 645 abnormal reply (status_detail: its error byte,
                                            EDGECORE_DLT645_ERR_*) or a CJ/T 188 abnormal reply
                                            (status_detail: its status word ST1 << 8 | ST0) */
    EDGECORE_STATUS_SENTINEL = 4,      /**< the device sent its "not available" raw value (a channel's
                                            sentinel; a meter's value of all 0xFF bytes) */
    EDGECORE_STATUS_OUT_OF_RANGE = 5,  /**< the value is outside the channel's valid range */
    EDGECORE_STATUS_DISCONNECTED = 6,  /**< bus or connection down (port gone, TCP peer unreachable) */
    EDGECORE_STATUS_STALE = 7,         /**< no fresh sample in time; value repeats the last good one */
    EDGECORE_STATUS_OFFLINE = 8,       /**< device backed off after repeated failures: not polled this time */
    EDGECORE_STATUS_EVENTS_LOST = 9    /**< the kernel dropped GPIO edge events since the last reading (queue
                                            overflow): the pulse count is too low by at least that much */
};

/**
 * One sample of one channel: 32 bytes, fixed-width fields, the same layout on every architecture and in
 * every version. value is meaningful when status is EDGECORE_STATUS_OK; with OUT_OF_RANGE it holds the
 * rejected value (for diagnosis), with STALE the last good one, otherwise 0. reserved is 0.
 */
struct edgecore_reading {
    int64_t timestamp_ns;    /**< when the sample was taken: CLOCK_REALTIME, ns since the Unix epoch */
    double value;            /**< engineering value, after scale and offset, in the channel's unit */
    uint32_t channel;        /**< channel id */
    uint32_t sequence;       /**< per-channel sample counter, wraps at 2^32, continues across engine
                                  restarts: a jump means readings lost */
    uint16_t status;         /**< enum edgecore_status */
    uint16_t status_detail;  /**< extra detail for status, e.g. the Modbus exception code; else 0 */
    uint32_t reserved;       /**< 0 */
};
EDGECORE_ASSERT_SIZE_(edgecore_reading, 32);
EDGECORE_ASSERT_FIELD_(edgecore_reading, timestamp_ns, 0);
EDGECORE_ASSERT_FIELD_(edgecore_reading, value, 8);
EDGECORE_ASSERT_FIELD_(edgecore_reading, channel, 16);
EDGECORE_ASSERT_FIELD_(edgecore_reading, sequence, 20);
EDGECORE_ASSERT_FIELD_(edgecore_reading, status, 24);
EDGECORE_ASSERT_FIELD_(edgecore_reading, status_detail, 26);
EDGECORE_ASSERT_FIELD_(edgecore_reading, reserved, 28);

/**
 * The short lowercase name of a status ("ok", "timeout", "crc_error", "exception", "sentinel",
 * "out_of_range", "disconnected", "stale", "offline", "events_lost"), or "unknown" for a value this
 * version does not know. Static string, never NULL, never freed.
 * Never fails. Does not block. Any thread, any time.
 */
const char *edgecore_status_name(int status);

/* ==================================================================================================== */
/* Ring buffer                                                                                          */
/* ==================================================================================================== */

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
 * Thread rules (each function repeats its own):
 *   - edgecore_ring_publish on one lane: one thread at a time; different lanes: concurrently.
 *   - edgecore_ring_drain and edgecore_ring_wait: one consumer thread at a time.
 *   - edgecore_ring_stats and edgecore_ring_lane_stats: any thread, any time.
 *   - edgecore_ring_destroy: once no other thread uses the ring.
 * (An engine's ring is not one of these handles: use the edgecore_engine_* functions for it.)
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

/**
 * Counters of a ring or of one lane. Each counter is exact; while producers run, a snapshot's counters
 * are each exact but not taken at the same instant. When the ring is quiescent:
 * published == drained + dropped + available. Grows at its end (the growth rule).
 */
struct edgecore_ring_stats {
    uint64_t published;  /**< readings stored by edgecore_ring_publish */
    uint64_t drained;    /**< readings copied out by edgecore_ring_drain */
    uint64_t dropped;    /**< stored readings overwritten before being drained (DROP_OLDEST) */
    uint64_t rejected;   /**< readings refused by edgecore_ring_publish (REJECT_NEWEST) */
    uint64_t available;  /**< readings waiting to be drained now */
    uint32_t capacity;   /**< readings per lane */
    uint32_t lanes;      /**< number of lanes (1 for edgecore_ring_lane_stats) */
};
EDGECORE_ASSERT_SIZE_(edgecore_ring_stats, 48);
EDGECORE_ASSERT_FIELD_(edgecore_ring_stats, published, 0);
EDGECORE_ASSERT_FIELD_(edgecore_ring_stats, drained, 8);
EDGECORE_ASSERT_FIELD_(edgecore_ring_stats, dropped, 16);
EDGECORE_ASSERT_FIELD_(edgecore_ring_stats, rejected, 24);
EDGECORE_ASSERT_FIELD_(edgecore_ring_stats, available, 32);
EDGECORE_ASSERT_FIELD_(edgecore_ring_stats, capacity, 40);
EDGECORE_ASSERT_FIELD_(edgecore_ring_stats, lanes, 44);

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
 * Does not block. Any thread.
 */
int edgecore_ring_create(uint32_t capacity, uint32_t lanes, enum edgecore_overflow_policy policy,
                         struct edgecore_ring **ring_out);

/**
 * Free a ring and the readings still in it. NULL does nothing.
 * Does not block. Once no other thread uses the ring (publishing, draining, waiting or reading stats).
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
 * ring      the ring.
 * lane      0 .. lanes - 1.
 * readings  count readings, read only during the call; may be NULL when count is 0.
 * count     0 .. INT32_MAX.
 *
 * Returns the number of readings stored (>= 0), or EDGECORE_E_NULL_POINTER (ring, or readings with
 * count > 0), EDGECORE_E_INVALID_LANE, EDGECORE_E_INVALID_ARGUMENT (count > INT32_MAX).
 * Lock-free, never blocks (wakes a consumer blocked in edgecore_ring_wait). One thread per lane at a time;
 * different lanes concurrently, and concurrently with the consumer and with stats.
 */
int edgecore_ring_publish(struct edgecore_ring *ring, uint32_t lane, const struct edgecore_reading *readings,
                          size_t count);

/**
 * Move up to `max` readings out of the ring into `out`, oldest first within each lane.
 *
 * ring  the ring.
 * out   caller's array of at least max readings; may be NULL when max is 0.
 * max   0 .. INT32_MAX (a larger value is treated as INT32_MAX).
 *
 * Returns the number of readings copied (0 when the ring is empty), or EDGECORE_E_NULL_POINTER (ring, or
 * out with max > 0). Lock-free, never blocks. One consumer thread at a time (the one that calls
 * edgecore_ring_wait), concurrently with producers and stats.
 */
int edgecore_ring_drain(struct edgecore_ring *ring, struct edgecore_reading *out, size_t max);

/**
 * Block until the ring holds at least one reading or `timeout_ms` milliseconds pass. The thread sleeps in
 * the kernel (futex) while it waits: no busy-waiting. Time is measured on CLOCK_MONOTONIC.
 *
 * ring        the ring.
 * timeout_ms  < 0: wait without limit; 0: only check; > 0: the longest wait.
 *
 * Returns the number of readings available (> 0, at most INT32_MAX), or EDGECORE_E_TIMEOUT,
 * EDGECORE_E_NULL_POINTER (ring). Blocks up to timeout_ms. One consumer thread at a time (the one that
 * drains), concurrently with producers and stats.
 */
int edgecore_ring_wait(struct edgecore_ring *ring, int32_t timeout_ms);

/**
 * Fill *stats_out with the ring's counters summed over all lanes.
 *
 * ring       the ring.
 * stats_out  the caller's struct; written (the growth rule), never read.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (ring or stats_out), EDGECORE_E_INVALID_ARGUMENT (struct smaller
 * than in version 1.0). Lock-free, never blocks. Any thread, any time.
 */
int edgecore_ring_stats_sized(const struct edgecore_ring *ring, struct edgecore_ring_stats *stats_out,
                              size_t stats_size);
static inline int edgecore_ring_stats(const struct edgecore_ring *ring, struct edgecore_ring_stats *stats_out) {
    return edgecore_ring_stats_sized(ring, stats_out, sizeof *stats_out);
}

/**
 * Fill *stats_out with the counters of one lane (stats_out->lanes is 1).
 *
 * ring       the ring.
 * lane       0 .. lanes - 1.
 * stats_out  the caller's struct; written (the growth rule), never read.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (ring or stats_out), EDGECORE_E_INVALID_LANE,
 * EDGECORE_E_INVALID_ARGUMENT (struct smaller than in version 1.0). Lock-free, never blocks. Any thread,
 * any time.
 */
int edgecore_ring_lane_stats_sized(const struct edgecore_ring *ring, uint32_t lane,
                                   struct edgecore_ring_stats *stats_out, size_t stats_size);
static inline int edgecore_ring_lane_stats(const struct edgecore_ring *ring, uint32_t lane,
                                           struct edgecore_ring_stats *stats_out) {
    return edgecore_ring_lane_stats_sized(ring, lane, stats_out, sizeof *stats_out);
}

/* ==================================================================================================== */
/* Journal                                                                                              */
/* ==================================================================================================== */

/**
 * A journal keeps readings on flash so that they survive power cuts, reboots and uplink outages, and hands
 * them to named consumers (an uplink, a local database) that each acknowledge what they have delivered
 * (store-and-forward, at-least-once delivery). It is a folder of segment files (docs/journal-format.md);
 * every reading appended gets a journal sequence number, 1, 2, 3, ... that never goes back, not even after
 * a crash. A journal can be used on its own (these functions) or attached to an engine, which then appends
 * every reading it takes (edgecore_engine_set_journal).
 *
 * Durability: a reading is durable once a sync that began after its append has returned. Syncs happen by
 * the settings' sync policy (inside edgecore_journal_append and edgecore_journal_tick) and on
 * edgecore_journal_sync and _close. At a power cut, readings appended since the last sync may be lost (a
 * process crash loses nothing that append accepted: the data is in the kernel). Cursors deliver only
 * durable readings, so no consumer ever forwards a reading that a power cut could take back, and a
 * sequence number, once delivered, always means the same reading. An acknowledgement becomes durable at
 * the next sync; after a crash a cursor restarts after its last durable acknowledgement, so readings
 * acknowledged after it are delivered again (at-least-once).
 *
 * Recovery: opening checks only the newest segment (the same time for 100 MB as for 4 GB), cuts off a torn
 * tail, and skips damaged records or segments, counting them; corruption never makes open fail and never
 * makes a cursor deliver a damaged reading (every record is checked against its CRC32C before delivery).
 *
 * Space: the journal holds at most size_limit bytes. Segments that every cursor has acknowledged are
 * removed first; when that is not enough, `when_full` decides: drop the oldest segment even though a cursor
 * has not acknowledged it (each reading counted in dropped_for_space), or refuse new appends
 * (EDGECORE_E_JOURNAL_FULL, counted in refused_for_space) until the cursors catch up.
 *
 * Thread rules: every function but _open and _close may be called from any thread, concurrently with
 * every other (the journal serialises them with a lock of its own). _close once no other call is in
 * progress. A call blocks while another thread's call on the same journal does file I/O: an append or sync
 * in progress holds the journal for up to one fsync (milliseconds on a healthy card, seconds on a worn one).
 * Messages of failing calls: edgecore_journal_last_error().
 */
struct edgecore_journal;

/** What a full journal does (struct edgecore_journal_config.when_full). */
enum edgecore_journal_full_policy {
    /** Remove the oldest segment even if a cursor has not acknowledged it; every such reading is counted
     *  in dropped_for_space (and in each cursor's lost). Appending always goes on. */
    EDGECORE_JOURNAL_DROP_OLDEST = 0,
    /** Keep what is stored; refuse appends with EDGECORE_E_JOURNAL_FULL until acknowledgements free a
     *  segment. */
    EDGECORE_JOURNAL_REFUSE_NEWEST = 1
};

/** The longest cursor name, in bytes. Names are 1 .. 32 bytes, each one of A-Z, a-z, 0-9, '_' and '-'. */
#define EDGECORE_JOURNAL_CURSOR_NAME_MAX 32u
#define EDGECORE_JOURNAL_SEGMENT_SIZE_MIN (64u * 1024u)
#define EDGECORE_JOURNAL_SEGMENT_SIZE_MAX (1024u * 1024u * 1024u)

/** Journal settings. Initialise with edgecore_journal_config_init(). Grows at its end. */
struct edgecore_journal_config {
    uint64_t size_limit;          /**< bytes the segments may take, at least 2 * segment_size; default
                                       256 MiB */
    uint32_t segment_size;        /**< bytes per segment file, EDGECORE_JOURNAL_SEGMENT_SIZE_MIN .. _MAX;
                                       default 4 MiB. Opening scans one segment: keep it small */
    uint32_t sync_interval_ms;    /**< sync when the oldest unsynced reading is this old; 0: not by time;
                                       default 1000 */
    uint32_t sync_every_readings; /**< sync when this many readings are unsynced; 0: not by count;
                                       default 0 */
    uint32_t max_syncs_per_hour;  /**< flash wear bound: policy syncs take slots 3600 s / N apart (a due
                                       sync waits for the next slot): N per hour when syncs are always
                                       due, never more than N + 1 in any hour; 0: no bound; default 0.
                                       Explicit syncs (edgecore_journal_sync, _close) are not bound */
    uint16_t when_full;           /**< enum edgecore_journal_full_policy; default EDGECORE_JOURNAL_DROP_OLDEST */
    uint16_t reserved;            /**< 0 */
    uint32_t reserved2;           /**< 0 */
};
EDGECORE_ASSERT_SIZE_(edgecore_journal_config, 32);
EDGECORE_ASSERT_FIELD_(edgecore_journal_config, size_limit, 0);
EDGECORE_ASSERT_FIELD_(edgecore_journal_config, segment_size, 8);
EDGECORE_ASSERT_FIELD_(edgecore_journal_config, sync_interval_ms, 12);
EDGECORE_ASSERT_FIELD_(edgecore_journal_config, sync_every_readings, 16);
EDGECORE_ASSERT_FIELD_(edgecore_journal_config, max_syncs_per_hour, 20);
EDGECORE_ASSERT_FIELD_(edgecore_journal_config, when_full, 24);
EDGECORE_ASSERT_FIELD_(edgecore_journal_config, reserved, 26);
EDGECORE_ASSERT_FIELD_(edgecore_journal_config, reserved2, 28);

/**
 * Fill *config with the defaults documented at each field. NULL does nothing.
 * Never fails. Does not block. Any thread.
 */
void edgecore_journal_config_init_sized(struct edgecore_journal_config *config, size_t config_size);
static inline void edgecore_journal_config_init(struct edgecore_journal_config *config) {
    edgecore_journal_config_init_sized(config, sizeof *config);
}

/**
 * Open the journal in `folder`, creating it when the folder is missing (its parent must exist) or empty,
 * and recover it after a crash (see Recovery above).
 *
 * folder       the journal's folder; only the journal's files may be in it.
 * config       settings, read during the call; NULL for the defaults. They may differ from the last open
 *              (a smaller size_limit removes the oldest segments as when_full says, at the next append).
 * journal_out  receives the journal, owned by the caller, freed with edgecore_journal_close; NULL on failure.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (folder, journal_out), EDGECORE_E_INVALID_ARGUMENT (a setting out
 * of range, the struct smaller than in version 1.1), EDGECORE_E_UNKNOWN_FIELD, EDGECORE_E_NOT_A_JOURNAL
 * (the folder holds other files, or the path is not a folder), EDGECORE_E_JOURNAL_VERSION (written by a
 * newer EdgeCore), -EBUSY (the journal is open already: another handle, in this process or another; a
 * folder has one open journal at a time, held by a lock that a crashed process releases), -ENOENT (the
 * parent folder is missing), -EACCES, -EROFS (a read-only file system),
 * -ENOSPC, -EIO, -ENOMEM, other -errno of open/read/write/fsync. edgecore_journal_last_error() names the
 * path and the reason. Blocks on file I/O (a segment's scan, a few fsyncs). Any thread.
 */
int edgecore_journal_open_sized(const char *folder, const struct edgecore_journal_config *config,
                                size_t config_size, struct edgecore_journal **journal_out);
static inline int edgecore_journal_open(const char *folder, const struct edgecore_journal_config *config,
                                        struct edgecore_journal **journal_out) {
    return edgecore_journal_open_sized(folder, config, config ? sizeof *config : 0, journal_out);
}

/**
 * Sync what is not yet durable (readings and acknowledgements), close the files and free the journal.
 * NULL does nothing. A failing final sync is reported by edgecore_journal_last_error() only: the journal
 * is freed in any case, and what was not synced may be lost at a power cut (never at a process crash).
 * Blocks for one sync. Once no other call on the journal is in progress; not on a journal an engine owns.
 */
void edgecore_journal_close(struct edgecore_journal *journal);

/**
 * The message of the last failing edgecore_journal_* call made by this thread, e.g.
 * "journal /var/lib/edgecore/journal: append: No space left on device". Thread-local storage (shared with
 * edgecore_engine_last_error()): never NULL, never freed, valid until this thread's next failing call.
 * Never fails. Does not block. Any thread, any time.
 */
const char *edgecore_journal_last_error(void);

/**
 * Append readings, numbered with the next journal sequence numbers in array order. All or nothing: on
 * failure nothing is appended and the journal stays intact (a failed write is cut off again).
 * May sync, if the sync policy says one is due; a failing policy sync does not fail the append (the
 * readings are appended, not yet durable: durable_sequence stays) and is reported by the next
 * edgecore_journal_tick or _sync, which try again.
 *
 * readings             the caller's array, read during the call; count 0 appends nothing and returns 0.
 * count                at most 1048576.
 * first_sequence_out   receives the sequence number of readings[0]; may be NULL.
 *
 * Returns count, or EDGECORE_E_NULL_POINTER (journal, or readings with count > 0),
 * EDGECORE_E_INVALID_ARGUMENT (count too large), EDGECORE_E_JOURNAL_FULL (when_full is REFUSE_NEWEST and
 * no acknowledged segment can be removed; counted in refused_for_space), -ENOSPC, -EIO, -EROFS, other
 * -errno of write (counted in append_failures). Blocks on write and, when a sync is due, fsync.
 * Any thread.
 */
int edgecore_journal_append(struct edgecore_journal *journal, const struct edgecore_reading *readings,
                            size_t count, uint64_t *first_sequence_out);

/**
 * Sync now if the sync policy says one is due (by time: a journal that stops receiving appends still gets
 * its readings synced when something calls this; an engine's journal is ticked by the engine).
 * Returns 1 if it synced, 0 if none was due, or EDGECORE_E_NULL_POINTER, -errno of fsync/rename.
 * Blocks for one sync when one is due. Any thread.
 */
int edgecore_journal_tick(struct edgecore_journal *journal);

/**
 * Make everything appended and acknowledged so far durable now, whatever the policy (not bound by
 * max_syncs_per_hour; counted in syncs). Returns 0, or EDGECORE_E_NULL_POINTER, -errno of fsync/rename.
 * Blocks for one sync. Any thread.
 */
int edgecore_journal_sync(struct edgecore_journal *journal);

/**
 * Add a consumer cursor named `name` if the journal has none of that name (it is kept in the journal's
 * folder and survives reopening). A new cursor starts at the oldest stored reading. A cursor holds back
 * the removal of segments it has not acknowledged (unless when_full is DROP_OLDEST and the journal is full).
 *
 * Returns 1 if it was added, 0 if it existed, or EDGECORE_E_NULL_POINTER, EDGECORE_E_INVALID_ARGUMENT (a
 * name that is empty, longer than EDGECORE_JOURNAL_CURSOR_NAME_MAX or has other characters than
 * A-Z a-z 0-9 _ -), EDGECORE_E_LIMIT (64 cursors), -errno of the cursor file's write. Blocks on a small
 * file write and its syncs. Any thread.
 */
int edgecore_journal_add_cursor(struct edgecore_journal *journal, const char *name);

/**
 * Remove a cursor and its file: its unacknowledged readings no longer hold back segment removal.
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_INVALID_ARGUMENT (name), EDGECORE_E_NOT_FOUND, -errno.
 * Blocks on a file removal and a folder sync. Any thread.
 */
int edgecore_journal_remove_cursor(struct edgecore_journal *journal, const char *name);

/**
 * Copy the cursor's next durable readings into the caller's array and move the cursor's read position past
 * them. One call returns readings with consecutive sequence numbers first .. first + n - 1 (a gap, left by
 * a damaged record or a dropped segment, ends the batch; the next call continues after it). Reading does
 * not acknowledge: after a reopen or edgecore_journal_rewind the cursor delivers everything after its last
 * acknowledgement again.
 *
 * out                  the caller's array of `max` readings.
 * first_sequence_out   receives the sequence of out[0] (when the result is > 0); may be NULL.
 *
 * Returns the number of readings copied (0: nothing durable is left to read), or EDGECORE_E_NULL_POINTER
 * (journal, name, or out with max > 0), EDGECORE_E_INVALID_ARGUMENT (name), EDGECORE_E_NOT_FOUND (no
 * such cursor), -EIO and other -errno of read. Blocks on file reads. Any thread.
 */
int edgecore_journal_read(struct edgecore_journal *journal, const char *name, struct edgecore_reading *out,
                          size_t max, uint64_t *first_sequence_out);

/**
 * Acknowledge every reading up to and including `sequence` for the cursor: it has been delivered. The
 * acknowledgement is durable at the next sync. Acknowledging less than already acknowledged does nothing;
 * the read position moves forward to sequence + 1 if it was behind.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_INVALID_ARGUMENT (name, or `sequence` beyond the
 * newest durable reading: the message names both numbers), EDGECORE_E_NOT_FOUND. Does not do file I/O.
 * Any thread.
 */
int edgecore_journal_ack(struct edgecore_journal *journal, const char *name, uint64_t sequence);

/**
 * Move the cursor's read position back to its first unacknowledged reading (a consumer that lost its
 * connection sends what was in flight again). Returns 0, or EDGECORE_E_NULL_POINTER,
 * EDGECORE_E_INVALID_ARGUMENT (name), EDGECORE_E_NOT_FOUND. Does not do file I/O. Any thread.
 */
int edgecore_journal_rewind(struct edgecore_journal *journal, const char *name);

/**
 * The journal's counters. Sequence numbers are 0 when there is none (an empty journal). Counters marked
 * "since open" start at 0 at each open; the others describe what is stored. Grows at its end.
 */
struct edgecore_journal_stats {
    uint64_t bytes;                   /**< bytes of all segment files */
    uint64_t oldest_sequence;         /**< the oldest stored reading */
    uint64_t newest_sequence;         /**< the newest appended reading */
    uint64_t durable_sequence;        /**< the newest durable reading (synced): cursors deliver up to it */
    uint64_t readings;                /**< readings stored: newest - oldest + 1 (damaged ones included) */
    uint64_t appended;                /**< readings appended since open */
    uint64_t records_appended;        /**< records written since open (one per append of up to 4096) */
    uint64_t dropped_for_space;       /**< readings removed, since open, before every cursor acknowledged them */
    uint64_t refused_for_space;       /**< readings refused with EDGECORE_E_JOURNAL_FULL since open */
    uint64_t append_failures;         /**< appends failed with a system error (-ENOSPC, -EIO ...) since open */
    uint64_t corrupt_records_skipped; /**< damaged records skipped since open (at recovery or when read) */
    uint64_t corrupt_segments_skipped;/**< segments skipped since open: damaged header, unreadable */
    uint64_t torn_bytes_truncated;    /**< bytes of torn tail cut off at open */
    uint64_t syncs;                   /**< syncs since open (policy, edgecore_journal_sync, close) */
    uint64_t bytes_written;           /**< bytes written to files since open (segments, cursors) */
    uint32_t segments;                /**< segment files */
    uint32_t cursors;                 /**< cursors: index 0 .. cursors - 1 for edgecore_journal_cursor_stats */
    uint64_t instance_id;             /**< (1.2) the journal's identity: random when the journal is made, kept
                                           in every file; a consumer de-duplicates by (instance_id, sequence),
                                           since another journal (a replaced card) numbers from 1 again */
};
EDGECORE_ASSERT_SIZE_(edgecore_journal_stats, 136);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, bytes, 0);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, oldest_sequence, 8);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, newest_sequence, 16);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, durable_sequence, 24);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, readings, 32);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, appended, 40);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, records_appended, 48);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, dropped_for_space, 56);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, refused_for_space, 64);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, append_failures, 72);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, corrupt_records_skipped, 80);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, corrupt_segments_skipped, 88);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, torn_bytes_truncated, 96);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, syncs, 104);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, bytes_written, 112);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, segments, 120);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, cursors, 124);
EDGECORE_ASSERT_FIELD_(edgecore_journal_stats, instance_id, 128);

/**
 * Fill *stats_out with the journal's counters.
 * Returns 0, or EDGECORE_E_NULL_POINTER (journal or stats_out), EDGECORE_E_INVALID_ARGUMENT (struct
 * smaller than in version 1.1). No file I/O. Any thread.
 */
int edgecore_journal_stats_sized(struct edgecore_journal *journal, struct edgecore_journal_stats *stats_out,
                                 size_t stats_size);
static inline int edgecore_journal_stats(struct edgecore_journal *journal,
                                         struct edgecore_journal_stats *stats_out) {
    return edgecore_journal_stats_sized(journal, stats_out, sizeof *stats_out);
}

/** One cursor's state. Grows at its end. */
struct edgecore_journal_cursor_stats {
    char name[EDGECORE_JOURNAL_CURSOR_NAME_MAX + 8]; /**< the name, NUL-terminated, zero-filled */
    uint64_t acknowledged_sequence;   /**< every reading up to this one is acknowledged (0: none) */
    uint64_t durable_acknowledged;    /**< the acknowledgement a crash now would keep */
    uint64_t read_sequence;           /**< the next reading edgecore_journal_read looks for */
    uint64_t unacknowledged;          /**< stored readings after acknowledged_sequence */
    uint64_t lost;                    /**< readings removed for space before this cursor acknowledged them,
                                           since open */
};
EDGECORE_ASSERT_SIZE_(edgecore_journal_cursor_stats, 80);
EDGECORE_ASSERT_FIELD_(edgecore_journal_cursor_stats, name, 0);
EDGECORE_ASSERT_FIELD_(edgecore_journal_cursor_stats, acknowledged_sequence, 40);
EDGECORE_ASSERT_FIELD_(edgecore_journal_cursor_stats, durable_acknowledged, 48);
EDGECORE_ASSERT_FIELD_(edgecore_journal_cursor_stats, read_sequence, 56);
EDGECORE_ASSERT_FIELD_(edgecore_journal_cursor_stats, unacknowledged, 64);
EDGECORE_ASSERT_FIELD_(edgecore_journal_cursor_stats, lost, 72);

/**
 * Fill *stats_out with the state of the cursor at `index` (0 .. stats.cursors - 1, in name order).
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND (index), EDGECORE_E_INVALID_ARGUMENT
 * (struct smaller than in version 1.1). No file I/O. Any thread.
 */
int edgecore_journal_cursor_stats_sized(struct edgecore_journal *journal, uint32_t index,
                                        struct edgecore_journal_cursor_stats *stats_out, size_t stats_size);
static inline int edgecore_journal_cursor_stats(struct edgecore_journal *journal, uint32_t index,
                                                struct edgecore_journal_cursor_stats *stats_out) {
    return edgecore_journal_cursor_stats_sized(journal, index, stats_out, sizeof *stats_out);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Journal: read-only inspection (1.4)                                                                  */
/* ---------------------------------------------------------------------------------------------------- */

/**
 * A journal reader looks at a journal's folder without changing it, for offline inspection (the
 * `edgecore journal` tool, a copy of a card, a support script): it opens every file read-only, takes no
 * lock, and writes, removes and truncates nothing (no recovery, no cursor, no journal.id). So it works
 * while a gateway holds the journal open with edgecore_journal_open, and on a read-only file system.
 *
 * What it sees is what the files hold when it reads them, synced or not: the newest readings a writer has
 * appended but not yet synced are included (durability is not known offline), and a record being written
 * at that moment may show as a torn tail until the write completes. It checks records exactly as the
 * journal does (their CRC32C, docs/journal-format.md) and never returns a reading whose check failed.
 *
 * Why a handle rather than one call per folder: a reader keeps the list of segments and the segment it
 * read last in memory, so a dump that reads a big journal in batches reads each segment once, and `tail
 * --follow` polling the newest segment re-reads it only when its size changed.
 *
 * Thread rules: a reader is used by one thread at a time (it has no lock of its own); any number of readers,
 * in any threads and processes, may look at a folder beside its one writer. _close once no call on it is in
 * progress. Messages of failing calls: edgecore_journal_last_error().
 */
struct edgecore_journal_reader;

/**
 * Open a reader on the journal in `folder`. Lists the folder and reads journal.id; creates nothing.
 *
 * reader_out  receives the reader, owned by the caller, freed with edgecore_journal_reader_close; NULL on
 *             failure.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (folder, reader_out), -ENOENT (no such folder), -EACCES,
 * EDGECORE_E_NOT_A_JOURNAL (the path is not a folder, or the folder holds a file that is not a journal's:
 * the message names it), EDGECORE_E_JOURNAL_VERSION (journal.id of a newer EdgeCore), -EIO, -ENOMEM, other
 * -errno of opendir/open/read. An empty folder is an empty journal (no readings). Blocks on a folder
 * listing and one small read. Any thread.
 */
int edgecore_journal_reader_open(const char *folder, struct edgecore_journal_reader **reader_out);

/** Free the reader (it holds no file open between calls). NULL does nothing. Does not block. */
void edgecore_journal_reader_close(struct edgecore_journal_reader *reader);

/**
 * Copy the valid readings from `from_sequence` on into the caller's array: the first stored reading at or
 * after it and those with consecutive sequence numbers after it (a gap, left by damage, ends the batch;
 * call again from first + n to continue after it). Lists the folder again first, so readings and segments
 * a writer added since the last call are seen (and segments it removed are passed over).
 *
 * from_sequence        0 or 1: from the oldest reading.
 * out                  the caller's array of `max` readings.
 * first_sequence_out   receives the journal sequence of out[0] (when the result is > 0); may be NULL.
 *
 * Returns the number of readings copied (0: none at or after from_sequence), or EDGECORE_E_NULL_POINTER
 * (reader, or out with max > 0), EDGECORE_E_NOT_A_JOURNAL (a file that is not a journal's appeared),
 * EDGECORE_E_JOURNAL_VERSION (a segment of a newer EdgeCore), -EIO, -ENOMEM and other -errno of
 * opendir/open/read. Blocks on a folder listing and the read of at most one segment per segment passed.
 */
int edgecore_journal_reader_read(struct edgecore_journal_reader *reader, uint64_t from_sequence,
                                 struct edgecore_reading *out, size_t max, uint64_t *first_sequence_out);

/**
 * The sequences of the oldest and newest valid readings (both 0 for a journal without any), from the oldest
 * and newest segments that hold valid records: not a scan of the whole journal (tail -n N reads from
 * newest - N + 1). Either pointer may be NULL.
 * Returns 0, or EDGECORE_E_NULL_POINTER (reader), and the errors of edgecore_journal_reader_read.
 * Blocks on a folder listing and the read of one segment or a few.
 */
int edgecore_journal_reader_bounds(struct edgecore_journal_reader *reader, uint64_t *oldest_out,
                                   uint64_t *newest_out);

/** What edgecore_journal_reader_check found: the whole journal, every record verified. Grows at its end. */
struct edgecore_journal_report {
    uint64_t instance_id;       /**< the journal's identity (journal.id's, else its newest segment's); 0: none */
    uint64_t bytes;             /**< bytes of all segment files */
    uint64_t first_sequence;    /**< the oldest valid reading's sequence; 0: no reading */
    uint64_t last_sequence;     /**< the newest valid reading's sequence; 0: no reading */
    int64_t min_timestamp_ns;   /**< the earliest timestamp_ns of the valid readings (0: no reading) */
    int64_t max_timestamp_ns;   /**< the latest timestamp_ns of the valid readings (0: no reading) */
    uint64_t readings;          /**< valid readings */
    uint64_t records;           /**< valid records */
    uint64_t damaged_records;   /**< whole records skipped: checksum failed or sequence went backwards */
    uint64_t gaps;              /**< places where sequences are missing between valid readings */
    uint64_t missing_readings;  /**< sequence numbers missing in those gaps */
    uint64_t torn_bytes;        /**< bytes after the valid records of segments (torn or damaged ends) */
    uint32_t segments;          /**< segment files */
    uint32_t corrupt_segments;  /**< segments skipped whole: damaged header, another journal's, wrong name */
    uint32_t cursors;           /**< cursor files: index 0 .. cursors - 1 for edgecore_journal_reader_cursor */
    uint32_t problems;          /**< problems found (0: the journal is clean): index 0 .. problems - 1 for
                                     edgecore_journal_reader_problem (the first 4096 are kept) */
};
EDGECORE_ASSERT_SIZE_(edgecore_journal_report, 112);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, instance_id, 0);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, bytes, 8);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, first_sequence, 16);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, last_sequence, 24);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, min_timestamp_ns, 32);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, max_timestamp_ns, 40);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, readings, 48);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, records, 56);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, damaged_records, 64);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, gaps, 72);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, missing_readings, 80);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, torn_bytes, 88);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, segments, 96);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, corrupt_segments, 100);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, cursors, 104);
EDGECORE_ASSERT_FIELD_(edgecore_journal_report, problems, 108);

/**
 * Read every file of the journal and verify every record; fill *report_out, and keep the problems found
 * and the cursors' positions for edgecore_journal_reader_problem and _cursor (replacing an earlier
 * check's). A damaged journal is not a failure: its problems are counted in the report.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (reader, report_out), EDGECORE_E_INVALID_ARGUMENT (struct smaller
 * than in version 1.4), and the errors of edgecore_journal_reader_read. Blocks on reading the whole
 * journal (size_limit bytes at most: seconds for hundreds of MB on an SD card).
 */
int edgecore_journal_reader_check_sized(struct edgecore_journal_reader *reader,
                                        struct edgecore_journal_report *report_out, size_t report_size);
static inline int edgecore_journal_reader_check(struct edgecore_journal_reader *reader,
                                                struct edgecore_journal_report *report_out) {
    return edgecore_journal_reader_check_sized(reader, report_out, sizeof *report_out);
}

/** What a problem is (struct edgecore_journal_problem.kind). */
enum edgecore_journal_problem_kind {
    /** A damaged 32-byte header: a segment's (the segment is skipped whole), journal.id's (open rewrites it)
     *  or a cursor file's (the cursor restarts from the oldest reading). */
    EDGECORE_JOURNAL_PROBLEM_HEADER = 1,
    /** A valid segment header of another journal (instance), or whose first sequence disagrees with the
     *  file's name: the segment is skipped whole. */
    EDGECORE_JOURNAL_PROBLEM_FOREIGN_SEGMENT = 2,
    /** A whole record whose checksum fails or whose sequence goes backwards: skipped. */
    EDGECORE_JOURNAL_PROBLEM_RECORD = 3,
    /** Bytes after a segment's valid records: a write a crash cut short (open cuts them off the newest
     *  segment), or damage the scanner cannot step over (the rest of that segment is lost). Also a newest
     *  segment shorter than its header. */
    EDGECORE_JOURNAL_PROBLEM_TORN_TAIL = 4,
    /** Sequences first_sequence .. last_sequence are missing between valid readings (readings lost to the
     *  damage reported before it); offset is the record after the gap. */
    EDGECORE_JOURNAL_PROBLEM_GAP = 5
};

/** One problem a check found. Grows at its end. */
struct edgecore_journal_problem {
    uint16_t kind;            /**< enum edgecore_journal_problem_kind */
    uint16_t reserved;        /**< 0 */
    uint32_t reserved2;       /**< 0 */
    uint64_t offset;          /**< byte offset in the file where the problem begins */
    uint64_t bytes;           /**< bytes concerned: the record's, the tail's, the file's (a skipped segment);
                                   0 for a gap */
    uint64_t first_sequence;  /**< EDGECORE_JOURNAL_PROBLEM_GAP: the first missing sequence; else 0 */
    uint64_t last_sequence;   /**< EDGECORE_JOURNAL_PROBLEM_GAP: the last missing sequence; else 0 */
    char file[48];            /**< the file's name in the folder, NUL-terminated ("seg-....ecj") */
    char message[168];        /**< what it is, in words, NUL-terminated (cut to fit) */
};
EDGECORE_ASSERT_SIZE_(edgecore_journal_problem, 256);
EDGECORE_ASSERT_FIELD_(edgecore_journal_problem, kind, 0);
EDGECORE_ASSERT_FIELD_(edgecore_journal_problem, reserved, 2);
EDGECORE_ASSERT_FIELD_(edgecore_journal_problem, reserved2, 4);
EDGECORE_ASSERT_FIELD_(edgecore_journal_problem, offset, 8);
EDGECORE_ASSERT_FIELD_(edgecore_journal_problem, bytes, 16);
EDGECORE_ASSERT_FIELD_(edgecore_journal_problem, first_sequence, 24);
EDGECORE_ASSERT_FIELD_(edgecore_journal_problem, last_sequence, 32);
EDGECORE_ASSERT_FIELD_(edgecore_journal_problem, file, 40);
EDGECORE_ASSERT_FIELD_(edgecore_journal_problem, message, 88);

/**
 * Fill *problem_out with problem `index` of the last edgecore_journal_reader_check (in file order: segments
 * by sequence, each from its start; journal.id first, cursor files last).
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND (index not below the problems kept, or no
 * check yet), EDGECORE_E_INVALID_ARGUMENT (struct smaller than in version 1.4). No file I/O.
 */
int edgecore_journal_reader_problem_sized(struct edgecore_journal_reader *reader, uint32_t index,
                                          struct edgecore_journal_problem *problem_out, size_t problem_size);
static inline int edgecore_journal_reader_problem(struct edgecore_journal_reader *reader, uint32_t index,
                                                  struct edgecore_journal_problem *problem_out) {
    return edgecore_journal_reader_problem_sized(reader, index, problem_out, sizeof *problem_out);
}

/**
 * Fill *stats_out with cursor `index` (0 .. report.cursors - 1 of the last edgecore_journal_reader_check,
 * in no particular order) as its file holds it: name; acknowledged_sequence and durable_acknowledged both
 * the file's (0 for a damaged file: that cursor restarts from the oldest reading); read_sequence
 * acknowledged + 1; unacknowledged the readings after it up to the check's last_sequence; lost 0 (not
 * known offline).
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND (index, or no check yet),
 * EDGECORE_E_INVALID_ARGUMENT (struct smaller than in version 1.1). No file I/O.
 */
int edgecore_journal_reader_cursor_sized(struct edgecore_journal_reader *reader, uint32_t index,
                                         struct edgecore_journal_cursor_stats *stats_out, size_t stats_size);
static inline int edgecore_journal_reader_cursor(struct edgecore_journal_reader *reader, uint32_t index,
                                                 struct edgecore_journal_cursor_stats *stats_out) {
    return edgecore_journal_reader_cursor_sized(reader, index, stats_out, sizeof *stats_out);
}

/* ==================================================================================================== */
/* Engine: life cycle                                                                                   */
/* ==================================================================================================== */

/**
 * An engine owns a configuration (buses: Modbus RTU lines and TCP endpoints, GPIO chips, local buses;
 * devices; channels), a plan made from it, one worker thread per bus while it runs (a local bus: a heartbeat
 * thread, or none), and a ring with one lane per bus that every reading passes through.
 *
 * Life cycle: edgecore_engine_create; configure it with the add functions below and/or
 * edgecore_engine_load_yaml; edgecore_engine_start; drain readings; edgecore_engine_stop;
 * edgecore_engine_destroy. Configuration changes need a stopped engine; an engine can be started and
 * stopped any number of times, and configured further between runs. Ids are small integers handed out in
 * order from 0, per kind (buses, devices, channels), and never reused.
 *
 * Thread rules, three roles (each function repeats its own):
 *   - The control thread: create, add_*, load_yaml, start, stop, destroy. One thread at a time (they may
 *     be different threads one after the other).
 *   - The consumer thread: edgecore_engine_wait and edgecore_engine_drain, one thread at a time,
 *     concurrently with the control thread: a wait in progress is woken by stop and by destroy, and a
 *     waiter never sleeps on a ring that start replaced.
 *   - Any thread: writes (local channels' included), statistics, look-ups (find, info, counts), plan, ring
 *     stats, last_error, at any time between create and destroy, concurrently with all of the above.
 * Calls from other threads see the configuration before or after a change, never a part of one. Destroy
 * waits until every call another thread began before it has returned (it wakes a consumer blocked in
 * edgecore_engine_wait); a call that begins after destroy began is an error of the caller (use after
 * free). edgecore_engine_last_error() belongs to the thread that made the failing call.
 */
struct edgecore_engine;

/** Engine-wide settings. Initialise with edgecore_engine_config_init(). Grows at its end. */
struct edgecore_engine_config {
    uint32_t ring_capacity;  /**< readings per bus lane, a power of two from EDGECORE_RING_CAPACITY_MIN to
                                  EDGECORE_RING_CAPACITY_MAX; default 4096 */
    uint16_t overflow;       /**< enum edgecore_overflow_policy; default EDGECORE_OVERFLOW_DROP_OLDEST */
    uint16_t reserved;       /**< 0 */
};
EDGECORE_ASSERT_SIZE_(edgecore_engine_config, 8);
EDGECORE_ASSERT_FIELD_(edgecore_engine_config, ring_capacity, 0);
EDGECORE_ASSERT_FIELD_(edgecore_engine_config, overflow, 4);
EDGECORE_ASSERT_FIELD_(edgecore_engine_config, reserved, 6);

/**
 * Fill *config with the defaults documented at each field. NULL does nothing.
 * Never fails. Does not block. Any thread.
 */
void edgecore_engine_config_init_sized(struct edgecore_engine_config *config, size_t config_size);
static inline void edgecore_engine_config_init(struct edgecore_engine_config *config) {
    edgecore_engine_config_init_sized(config, sizeof *config);
}

/**
 * Create a stopped engine with no buses.
 *
 * config      settings, read during the call; NULL for the defaults.
 * engine_out  receives the new engine, owned by the caller, freed with edgecore_engine_destroy; set to
 *             NULL on failure.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine_out), EDGECORE_E_INVALID_CAPACITY,
 * EDGECORE_E_INVALID_POLICY, EDGECORE_E_INVALID_ARGUMENT (struct smaller than in version 1.0),
 * EDGECORE_E_UNKNOWN_FIELD, -ENOMEM. Does not block. Any thread.
 */
int edgecore_engine_create_sized(const struct edgecore_engine_config *config, size_t config_size,
                                 struct edgecore_engine **engine_out);
static inline int edgecore_engine_create(const struct edgecore_engine_config *config,
                                         struct edgecore_engine **engine_out) {
    return edgecore_engine_create_sized(config, config ? sizeof *config : 0, engine_out);
}

/**
 * Stop the engine if it runs (as edgecore_engine_stop), release the GPIO lines it holds (outputs stay at
 * their safe state until then), close its journal (a final sync), and free it and the readings still in
 * its ring. NULL does nothing.
 *
 * A consumer blocked in edgecore_engine_wait is woken and returns EDGECORE_E_NOT_RUNNING; destroy frees
 * nothing until every call another thread began before it (wait, drain, writes, statistics, look-ups) has
 * returned. A call that begins after destroy began is an error of the caller (use after free).
 *
 * Blocks as edgecore_engine_stop does, then until those calls have returned. The control thread.
 */
void edgecore_engine_destroy(struct edgecore_engine *engine);

/**
 * The message of the last failing edgecore_engine_* call made by this thread, e.g.
 * "site.yaml:14: channel 'soil_moisture', field 'type': unknown type 'float'".
 * Thread-local storage: never NULL, never freed, valid until this thread's next failing call; "" when
 * none failed. Never fails. Does not block. Any thread, any time.
 */
const char *edgecore_engine_last_error(void);

/**
 * Add everything a YAML site file describes (format: README, examples/site-real.yaml). All or nothing:
 * on any error the engine is left as it was. A `journal:` section opens that journal (creating it, and
 * the cursors it lists) and makes it the engine's, as edgecore_engine_set_journal does; a file without
 * one leaves the engine's journal as it is.
 *
 * engine  a stopped engine.
 * path    the file, opened as given (bytes; need not be UTF-8); read during the call. Values inside the
 *         file are UTF-8, as YAML requires.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_RUNNING, -errno (the file cannot be read),
 * EDGECORE_E_CONFIG_FILE (syntax, unknown key, wrong type), EDGECORE_E_CONFIG, EDGECORE_E_DUPLICATE,
 * EDGECORE_E_NOT_FOUND, EDGECORE_E_LIMIT, -ENOMEM, and the journal's codes of
 * edgecore_engine_set_journal; edgecore_engine_last_error() gives file, line and field. Blocks reading
 * the file (and on the journal's file I/O when it names one). The control thread.
 */
int edgecore_engine_load_yaml(struct edgecore_engine *engine, const char *path);

/**
 * Plan, open the GPIO chips and lines (so a bad chip or line fails here, precisely), and start one worker
 * thread per bus. Modbus buses connect in their workers: a bus that cannot connect yields
 * EDGECORE_STATUS_DISCONNECTED readings and keeps retrying. Readings left from an earlier run stay
 * drainable: when buses were added since the last start, the ring is rebuilt with one lane per bus and
 * the readings still in the old ring move into the new one with its counters (none is lost), while a
 * consumer's drain or wait waits for the move (a copy in memory) to end.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_RUNNING, EDGECORE_E_CONFIG (nothing to sample, a
 * channel cannot be planned, no such GPIO line), EDGECORE_E_CONFIG_FILE (malformed pulse checkpoint),
 * -ENOENT (no such GPIO chip), -EBUSY (GPIO line used by another program), -EACCES, -errno (threads
 * cannot be created), -ENOMEM; edgecore_engine_last_error() names chip and line.
 * Does not block on Modbus I/O; opens GPIO chips and reads checkpoint files. The control thread; drain,
 * wait and every any-thread call may run meanwhile.
 */
int edgecore_engine_start(struct edgecore_engine *engine);

/**
 * Stop the bus workers and close ports and connections; GPIO outputs are driven to their safe state and
 * held there. Readings already in the ring stay drainable. Once every worker has ended (so every reading
 * of the run is in the ring), a consumer blocked in edgecore_engine_wait is woken: it returns the readings
 * left, or EDGECORE_E_NOT_RUNNING. Writes not yet sent fail with EDGECORE_E_NOT_RUNNING.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_RUNNING.
 * Blocks until the workers end: at most about one response timeout (a transaction on the wire ends, its
 * retries are given up; a TCP connect in progress is abandoned at once), except while a worker looks up a
 * TCP host name: getaddrinfo() cannot be interrupted, so stop may wait for the resolver, up to about
 * resolv.conf's timeout x attempts per name server asked (glibc's defaults, timeout:5 attempts:2: 10 s or
 * more per server; search domains add to it). Numeric addresses are never looked up. GPIO chips with a
 * checkpoint file also write and sync their final counts (two fsyncs, after a checkpoint write already
 * under way). With a journal, stop then waits for the journal thread to append the readings still in its
 * feed and sync (an append in progress, then one append and one fsync). The control thread.
 */
int edgecore_engine_stop(struct edgecore_engine *engine);

/**
 * The plan as text (a dry run): per bus and device the read requests the engine will send, the channels
 * each serves, and per bus the estimated bus time per second against the intervals (RTU from baud and
 * frame sizes; a meter's turnaround, 20-500 ms, from the mean round trip the engine measured once the
 * meter answered, and marked as not counted before). Works on a stopped or running engine.
 *
 * text  where the text goes: at most `size` bytes including the NUL, like snprintf; may be NULL when
 *       size is 0.
 *
 * Returns the full length of the text (excluding NUL; a return >= size means it was cut), or
 * EDGECORE_E_NULL_POINTER, EDGECORE_E_CONFIG (a channel cannot be planned: see last_error).
 * Does not block. Any thread.
 */
int edgecore_engine_plan(const struct edgecore_engine *engine, char *text, size_t size);

/* ==================================================================================================== */
/* Engine: Modbus buses                                                                                 */
/* ==================================================================================================== */

/** How a TCP bus carries its devices' frames. */
enum edgecore_tcp_framing {
    EDGECORE_TCP_MBAP = 0,        /**< Modbus TCP (MBAP header); Modbus devices only */
    EDGECORE_TCP_TRANSPARENT = 1  /**< the serial frames themselves, to and from an RS-485 serial server
                                       (DTU): Modbus devices speak RTU over TCP (unit 1..247, CRC), meters
                                       their own frames */
};

/** A TCP endpoint: one connection, shared by all its devices (Modbus unit ids; with transparent framing
 *  also meters). Grows at its end (1.0: up to reserved2). */
struct edgecore_tcp_bus_config {
    const char *name;               /**< unique bus name; copied; required */
    const char *host;               /**< IPv4/IPv6 address or host name (looked up at each connect, which
                                         blocks for as long as the resolver takes; numeric addresses are
                                         never looked up); copied; required */
    uint16_t port;                  /**< default 502 */
    uint16_t reserved;              /**< 0 */
    uint32_t connect_timeout_ms;    /**< the longest a connect may take (all addresses of the host), >= 1;
                                         edgecore_engine_stop cuts it short; default 2000 */
    uint32_t reconnect_min_ms;      /**< first reconnect delay, >= 1, doubled per failure (a connection
                                         lost before the device's first answer counts as one); default 200 */
    uint32_t reconnect_max_ms;      /**< longest reconnect delay, >= reconnect_min_ms; default 10000 */
    uint32_t request_gap_ms;        /**< pause between two transactions on the connection; default 0 */
    uint32_t reserved2;             /**< 0 */
    /* Since 1.3. */
    uint16_t framing;               /**< enum edgecore_tcp_framing; default EDGECORE_TCP_MBAP */
    uint16_t reserved3;             /**< 0 */
    uint32_t line_baud;             /**< EDGECORE_TCP_TRANSPARENT: the baud of the serial line behind the
                                         server, 300 .. 4000000: the master keeps its silence between
                                         frames (3.5 characters of 11 bits, 1.75 ms above 19200 baud; plus
                                         request_gap_ms) and the plan times the frames; default 9600 */
};
EDGECORE_ASSERT_SIZE_(edgecore_tcp_bus_config, 2 * EDGECORE_P_ + 32);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, name, 0);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, host, EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, port, 2 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, reserved, 2 * EDGECORE_P_ + 2);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, connect_timeout_ms, 2 * EDGECORE_P_ + 4);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, reconnect_min_ms, 2 * EDGECORE_P_ + 8);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, reconnect_max_ms, 2 * EDGECORE_P_ + 12);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, request_gap_ms, 2 * EDGECORE_P_ + 16);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, reserved2, 2 * EDGECORE_P_ + 20);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, framing, 2 * EDGECORE_P_ + 24);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, reserved3, 2 * EDGECORE_P_ + 26);
EDGECORE_ASSERT_FIELD_(edgecore_tcp_bus_config, line_baud, 2 * EDGECORE_P_ + 28);

/**
 * Fill *config with the defaults documented at each field (strings NULL). NULL does nothing.
 * Never fails. Does not block. Any thread.
 */
void edgecore_tcp_bus_config_init_sized(struct edgecore_tcp_bus_config *config, size_t config_size);
static inline void edgecore_tcp_bus_config_init(struct edgecore_tcp_bus_config *config) {
    edgecore_tcp_bus_config_init_sized(config, sizeof *config);
}

/**
 * Add a Modbus TCP endpoint as a bus. Checked now; nothing is opened before edgecore_engine_start.
 *
 * engine  a stopped engine.
 * config  read during the call (strings are copied).
 * id_out  receives the new bus id; may be NULL.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine, config, name, host), EDGECORE_E_RUNNING,
 * EDGECORE_E_DUPLICATE (name), EDGECORE_E_CONFIG (a field out of range: last_error says which),
 * EDGECORE_E_LIMIT (more than EDGECORE_RING_LANES_MAX buses), EDGECORE_E_INVALID_ARGUMENT (struct
 * smaller than in version 1.0), EDGECORE_E_UNKNOWN_FIELD, -ENOMEM. Does not block. The control thread.
 */
int edgecore_engine_add_tcp_bus_sized(struct edgecore_engine *engine, const struct edgecore_tcp_bus_config *config,
                                      size_t config_size, uint32_t *id_out);
static inline int edgecore_engine_add_tcp_bus(struct edgecore_engine *engine,
                                              const struct edgecore_tcp_bus_config *config, uint32_t *id_out) {
    return edgecore_engine_add_tcp_bus_sized(engine, config, sizeof *config, id_out);
}

/** How the RTS line frames a transmission on an RS-485 adapter driven from user space. */
enum edgecore_rts_mode {
    EDGECORE_RTS_NONE = 0,  /**< RTS untouched (adapters that switch direction themselves, kernel RS-485) */
    EDGECORE_RTS_UP = 1,    /**< RTS high while sending */
    EDGECORE_RTS_DOWN = 2   /**< RTS low while sending */
};

/** A Modbus RTU serial line (RS-485 or RS-232) with one or more slaves. Grows at its end.
 *  The engine claims the port for its exclusive use while it has it open: an exclusive flock(2) on it (the
 *  convention of the edgecore tool, picocom and others). A port another process holds that way, or by a
 *  live UUCP lock file (/run/lock/LCK..ttyUSB0, minicom's), is not fought over: the bus's open fails with
 *  -EBUSY (edgecore_bus_stats.last_error), each of its devices' edgecore_engine_device_last_problem names the
 *  holder's PID, and the open is tried again after the bus's back-off. */
struct edgecore_rtu_bus_config {
    const char *name;               /**< unique bus name; copied; required */
    const char *device;             /**< serial device path, e.g. "/dev/ttyUSB0"; copied; opened byte for
                                         byte; required */
    uint32_t baud;                  /**< 300 .. 4000000; default 9600 */
    char parity;                    /**< 'N', 'E' or 'O'; default 'N' */
    uint8_t data_bits;              /**< 7 or 8; default 8 */
    uint8_t stop_bits;              /**< 1 or 2; default 1 */
    uint8_t rs485;                  /**< nonzero: set the kernel's RS-485 mode (TIOCSRS485); default 0 */
    uint16_t rts;                   /**< enum edgecore_rts_mode; default EDGECORE_RTS_NONE */
    uint16_t reserved;              /**< 0 */
    uint32_t rts_delay_us;          /**< RTS settle time when rts is not NONE; 0: libmodbus' own; default 0 */
    uint32_t request_gap_ms;        /**< silent gap between transactions, beyond the 3.5-character
                                         time; for slow devices; default 0 */
    uint32_t reopen_min_ms;         /**< first re-open delay when the port fails or vanishes, >= 1, doubled
                                         per failure (a port lost before the device's first answer counts
                                         as one); default 200 */
    uint32_t reopen_max_ms;         /**< longest re-open delay, >= reopen_min_ms; default 10000 */
    uint32_t reserved2;             /**< 0 */
};
EDGECORE_ASSERT_SIZE_(edgecore_rtu_bus_config, 2 * EDGECORE_P_ + 32);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, name, 0);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, device, EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, baud, 2 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, parity, 2 * EDGECORE_P_ + 4);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, data_bits, 2 * EDGECORE_P_ + 5);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, stop_bits, 2 * EDGECORE_P_ + 6);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, rs485, 2 * EDGECORE_P_ + 7);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, rts, 2 * EDGECORE_P_ + 8);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, reserved, 2 * EDGECORE_P_ + 10);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, rts_delay_us, 2 * EDGECORE_P_ + 12);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, request_gap_ms, 2 * EDGECORE_P_ + 16);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, reopen_min_ms, 2 * EDGECORE_P_ + 20);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, reopen_max_ms, 2 * EDGECORE_P_ + 24);
EDGECORE_ASSERT_FIELD_(edgecore_rtu_bus_config, reserved2, 2 * EDGECORE_P_ + 28);

/**
 * Fill *config with the defaults documented at each field (strings NULL). NULL does nothing.
 * Never fails. Does not block. Any thread.
 */
void edgecore_rtu_bus_config_init_sized(struct edgecore_rtu_bus_config *config, size_t config_size);
static inline void edgecore_rtu_bus_config_init(struct edgecore_rtu_bus_config *config) {
    edgecore_rtu_bus_config_init_sized(config, sizeof *config);
}

/**
 * Add a Modbus RTU serial line as a bus. Checked now; the port is opened by the bus's worker after
 * edgecore_engine_start (a missing port yields DISCONNECTED readings and is retried).
 *
 * engine  a stopped engine.
 * config  read during the call (strings are copied).
 * id_out  receives the new bus id; may be NULL.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine, config, name, device), EDGECORE_E_RUNNING,
 * EDGECORE_E_DUPLICATE (name), EDGECORE_E_CONFIG (a field out of range: last_error says which),
 * EDGECORE_E_LIMIT (more than EDGECORE_RING_LANES_MAX buses), EDGECORE_E_INVALID_ARGUMENT (struct
 * smaller than in version 1.0), EDGECORE_E_UNKNOWN_FIELD, -ENOMEM. Does not block. The control thread.
 */
int edgecore_engine_add_rtu_bus_sized(struct edgecore_engine *engine, const struct edgecore_rtu_bus_config *config,
                                      size_t config_size, uint32_t *id_out);
static inline int edgecore_engine_add_rtu_bus(struct edgecore_engine *engine,
                                              const struct edgecore_rtu_bus_config *config, uint32_t *id_out) {
    return edgecore_engine_add_rtu_bus_sized(engine, config, sizeof *config, id_out);
}

/* ==================================================================================================== */
/* Engine: Modbus devices                                                                               */
/* ==================================================================================================== */

/** The protocol a device speaks. Meters need a bus that carries serial frames: an RTU bus, or a TCP bus
 *  with EDGECORE_TCP_TRANSPARENT framing. */
enum edgecore_protocol {
    EDGECORE_PROTOCOL_MODBUS = 0,       /**< Modbus RTU / TCP */
    EDGECORE_PROTOCOL_DLT645_2007 = 1,  /**< DL/T 645-2007 electricity meter */
    EDGECORE_PROTOCOL_DLT645_1997 = 2,  /**< DL/T 645-1997 electricity meter */
    EDGECORE_PROTOCOL_CJT188 = 3        /**< CJ/T 188 (2004 / 2018) water, gas or heat meter */
};

/** Bits of the error byte of a DL/T 645 abnormal reply (status_detail of EDGECORE_STATUS_EXCEPTION), as
 *  DL/T 645-2007 names them. DL/T 645-1997 uses bit 0 for illegal data, bit 1 for a wrong identifier, bit 2
 *  for a wrong password, bits 4-6 as 2007, and reserves bit 3. */
#define EDGECORE_DLT645_ERR_OTHER 0x01u               /**< other error */
#define EDGECORE_DLT645_ERR_NO_DATA 0x02u             /**< no requested data (unknown identifier) */
#define EDGECORE_DLT645_ERR_UNAUTHORISED 0x04u        /**< wrong password / not authorised */
#define EDGECORE_DLT645_ERR_BAUD_FIXED 0x08u          /**< the baud rate cannot be changed */
#define EDGECORE_DLT645_ERR_YEAR_ZONES 0x10u          /**< too many year time zones */
#define EDGECORE_DLT645_ERR_DAILY_PERIODS 0x20u       /**< too many daily periods */
#define EDGECORE_DLT645_ERR_TARIFFS 0x40u             /**< too many tariffs */

/** A device on a bus: a Modbus slave, or a DL/T 645 / CJ/T 188 meter. Grows at its end (1.0: up to
 *  backoff_max_ms). */
struct edgecore_device_config {
    const char *name;                 /**< unique device name; copied; required */
    uint32_t bus;                     /**< bus id of a TCP, RTU or local bus */
    uint8_t unit_id;                  /**< 1..247 (RTU), 0..255 (TCP); default 1 */
    uint8_t one_channel_per_request;  /**< nonzero: quirk, never read two channels in one request;
                                           default 0 */
    uint16_t max_registers;           /**< registers per read request, 1..125; default 125 */
    uint16_t max_bits;                /**< coils/inputs per read request, 1..2000; default 2000 */
    uint16_t reserved;                /**< 0 */
    uint32_t response_timeout_ms;     /**< the whole answer must arrive within it, however the peer trickles
                                           it; default 500 */
    uint32_t retries;                 /**< extra attempts after a timeout or bad frame, 0..10; default 1 */
    uint32_t offline_after;           /**< failed polls in a row before backing off, >= 1; default 3 */
    uint32_t backoff_min_ms;          /**< first back-off, doubled per failed probe; default 1000 */
    uint32_t backoff_max_ms;          /**< longest back-off, >= backoff_min_ms; default 30000 */
    /* Since 1.3: meters. unit_id, one_channel_per_request, max_registers and max_bits are ignored for them. */
    const char *meter_address;        /**< meters: the address as printed on the meter, most significant digit
                                           first: 12 digits (DL/T 645) or 14 (CJ/T 188), "AA" for a padding
                                           byte; copied; required for meters, NULL for Modbus devices */
    uint16_t protocol;                /**< enum edgecore_protocol; default EDGECORE_PROTOCOL_MODBUS */
    uint8_t meter_type;               /**< CJ/T 188: the meter type byte T (0x10-0x19 water, 0x20-0x29 heat,
                                           0x30-0x39 gas, 0x40-0x49 other); default 0x10 (cold water) */
    uint8_t preamble;                 /**< meters: FE wake-up bytes before each request, 0..4; default 4 */
    uint8_t identifier_order;         /**< CJ/T 188: 0 data identifiers low byte first (the standard: 1F 90),
                                           1 high byte first (90 1F); default 0 */
    uint8_t allow_time_sync;          /**< DL/T 645: nonzero lets edgecore_engine_meter_time_sync() reach this
                                           meter; default 0 */
    uint16_t reserved2;               /**< 0 */
};
EDGECORE_ASSERT_SIZE_(edgecore_device_config, 2 * EDGECORE_P_ + 40);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, name, 0);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, bus, EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, unit_id, EDGECORE_P_ + 4);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, one_channel_per_request, EDGECORE_P_ + 5);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, max_registers, EDGECORE_P_ + 6);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, max_bits, EDGECORE_P_ + 8);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, reserved, EDGECORE_P_ + 10);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, response_timeout_ms, EDGECORE_P_ + 12);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, retries, EDGECORE_P_ + 16);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, offline_after, EDGECORE_P_ + 20);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, backoff_min_ms, EDGECORE_P_ + 24);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, backoff_max_ms, EDGECORE_P_ + 28);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, meter_address, EDGECORE_P_ + 32);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, protocol, 2 * EDGECORE_P_ + 32);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, meter_type, 2 * EDGECORE_P_ + 34);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, preamble, 2 * EDGECORE_P_ + 35);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, identifier_order, 2 * EDGECORE_P_ + 36);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, allow_time_sync, 2 * EDGECORE_P_ + 37);
EDGECORE_ASSERT_FIELD_(edgecore_device_config, reserved2, 2 * EDGECORE_P_ + 38);

/**
 * Fill *config with the defaults documented at each field (name NULL, bus 0). NULL does nothing.
 * Never fails. Does not block. Any thread.
 */
void edgecore_device_config_init_sized(struct edgecore_device_config *config, size_t config_size);
static inline void edgecore_device_config_init(struct edgecore_device_config *config) {
    edgecore_device_config_init_sized(config, sizeof *config);
}

/**
 * Add a device to a bus: a Modbus slave (unit ids unique per bus), or a meter (addresses unique per bus and
 * protocol family; only on an RTU bus or a transparent TCP bus). Checked now.
 *
 * engine  a stopped engine.
 * config  read during the call (the name is copied).
 * id_out  receives the new device id; may be NULL.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine, config, name), EDGECORE_E_RUNNING,
 * EDGECORE_E_DUPLICATE (name), EDGECORE_E_NOT_FOUND (no such bus, or a GPIO bus), EDGECORE_E_CONFIG (a
 * field out of range: last_error says which), EDGECORE_E_INVALID_ARGUMENT (struct smaller than in
 * version 1.0), EDGECORE_E_UNKNOWN_FIELD, -ENOMEM. Does not block. The control thread.
 */
int edgecore_engine_add_device_sized(struct edgecore_engine *engine, const struct edgecore_device_config *config,
                                     size_t config_size, uint32_t *id_out);
static inline int edgecore_engine_add_device(struct edgecore_engine *engine,
                                             const struct edgecore_device_config *config, uint32_t *id_out) {
    return edgecore_engine_add_device_sized(engine, config, sizeof *config, id_out);
}

/**
 * Declare addresses first..last (inclusive) of a device's `function` as forbidden: no read request ever
 * covers them (devices that answer a read across unmapped registers with an exception).
 *
 * engine    a stopped engine.
 * device    device id.
 * function  enum edgecore_function (1..4).
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_RUNNING, EDGECORE_E_NOT_FOUND (device),
 * EDGECORE_E_CONFIG (function not 1..4, first > last, or a channel already reads there), -ENOMEM.
 * Does not block. The control thread.
 */
int edgecore_engine_add_hole(struct edgecore_engine *engine, uint32_t device, uint8_t function, uint16_t first,
                             uint16_t last);

/* ==================================================================================================== */
/* Engine: channels (Modbus and meters)                                                                 */
/* ==================================================================================================== */

/** Modbus function codes of the data a channel reads. */
enum edgecore_function {
    EDGECORE_FC_COILS = 1,             /**< read coils (written with FC 5 / 15) */
    EDGECORE_FC_DISCRETE_INPUTS = 2,   /**< read discrete inputs (read-only) */
    EDGECORE_FC_HOLDING_REGISTERS = 3, /**< read holding registers (written with FC 6 / 16) */
    EDGECORE_FC_INPUT_REGISTERS = 4    /**< read input registers (read-only) */
};

/** How a channel's raw registers become a number. */
enum edgecore_value_type {
    EDGECORE_TYPE_U16 = 0, EDGECORE_TYPE_I16 = 1,  /**< one register */
    EDGECORE_TYPE_U32 = 2, EDGECORE_TYPE_I32 = 3,  /**< two registers */
    EDGECORE_TYPE_U64 = 4, EDGECORE_TYPE_I64 = 5,  /**< four registers */
    EDGECORE_TYPE_F32 = 6,                         /**< IEEE 754 single, two registers */
    EDGECORE_TYPE_F64 = 7,                         /**< IEEE 754 double, four registers */
    EDGECORE_TYPE_BIT = 8  /**< FC 1/2: the coil or input itself; FC 3/4: bit `bit` (0 = LSB) of a register */
};

/**
 * Byte and word order of multi-byte values, named by where the bytes of the big-endian value A B C D
 * (A most significant) arrive. Two rules, which also define 64-bit values:
 * word order: ABCD and BADC send the most significant register first, CDAB and DCBA the least;
 * byte order in each register: ABCD and CDAB send the high byte first (Modbus' own), BADC and DCBA the low.
 * 16-bit types use only the byte rule.
 */
enum edgecore_word_order {
    EDGECORE_ORDER_ABCD = 0, /**< big-endian: the Modbus convention */
    EDGECORE_ORDER_CDAB = 1, /**< word-swapped (many meters and PLCs) */
    EDGECORE_ORDER_BADC = 2, /**< byte-swapped */
    EDGECORE_ORDER_DCBA = 3  /**< little-endian */
};

#define EDGECORE_SENTINELS_MAX 4

/** How a DL/T 645 value is coded, for an identifier outside the catalogue or to override it. */
enum edgecore_meter_format {
    EDGECORE_METER_FORMAT_CATALOGUE = 0,   /**< the catalogue's format for the identifier */
    EDGECORE_METER_FORMAT_BCD = 1,         /**< unsigned BCD, meter_length bytes, meter_decimals decimals */
    EDGECORE_METER_FORMAT_BCD_SIGNED = 2,  /**< BCD whose most significant bit is the sign */
    EDGECORE_METER_FORMAT_BINARY = 3       /**< unsigned binary, least significant byte first (status words) */
};

/** The fields of a CJ/T 188 current-data reply (DI 901F) a channel can read (meter_item). */
enum edgecore_cjt188_item {
    EDGECORE_CJT188_CURRENT_FLOW = 1,       /**< water/gas: current cumulative flow (default unit m3) */
    EDGECORE_CJT188_SETTLEMENT_FLOW = 2,    /**< water/gas: flow at the settlement day (m3) */
    EDGECORE_CJT188_SETTLEMENT_HEAT = 3,    /**< heat: heat at the settlement day (kWh) */
    EDGECORE_CJT188_CURRENT_HEAT = 4,       /**< heat: current heat (kWh) */
    EDGECORE_CJT188_HEAT_POWER = 5,         /**< heat: heat power (kW) */
    EDGECORE_CJT188_FLOW_RATE = 6,          /**< heat: flow rate (m3/h) */
    EDGECORE_CJT188_CUMULATIVE_FLOW = 7,    /**< heat: cumulative flow (m3) */
    EDGECORE_CJT188_SUPPLY_TEMPERATURE = 8, /**< heat: supply water temperature (degC) */
    EDGECORE_CJT188_RETURN_TEMPERATURE = 9, /**< heat: return water temperature (degC) */
    EDGECORE_CJT188_WORKING_HOURS = 10,     /**< heat: cumulative working hours (h) */
    EDGECORE_CJT188_REAL_TIME = 11,         /**< the meter's clock, YYYYMMDDhhmmss as a number */
    EDGECORE_CJT188_STATUS = 12,            /**< the status word ST1 << 8 | ST0 */
    EDGECORE_CJT188_VALVE_STATE = 13,       /**< 0 open, 1 closed, 3 abnormal; writable: 0 opens, 1 closes */
    EDGECORE_CJT188_BATTERY_LOW = 14        /**< 1: battery low */
};

/** One value read from a device: registers or bits of a Modbus device, or an item of a meter. Initialise
 *  with edgecore_channel_config_init(). Grows at its end (1.0: up to sentinels). */
struct edgecore_channel_config {
    const char *name;              /**< unique channel name; copied; required */
    const char *unit;              /**< engineering unit, e.g. "V", "degC"; may be NULL; copied */
    uint32_t device;               /**< device id */
    uint16_t address;              /**< 0-based protocol address of the (first) register, coil or input */
    uint16_t function;             /**< enum edgecore_function; default EDGECORE_FC_HOLDING_REGISTERS */
    uint16_t type;                 /**< enum edgecore_value_type; default EDGECORE_TYPE_U16 */
    uint16_t order;                /**< enum edgecore_word_order; default EDGECORE_ORDER_ABCD */
    uint8_t bit;                   /**< 0..15: the bit of a register, for EDGECORE_TYPE_BIT with FC 3/4;
                                        default 0 */
    uint8_t writable;              /**< nonzero: may be written (FC 1 and 3 only); default 0 */
    uint8_t sentinel_count;        /**< 0..EDGECORE_SENTINELS_MAX; default 0 */
    uint8_t reserved;              /**< 0 */
    uint32_t interval_ms;          /**< poll interval, >= 1; default 1000 */
    uint32_t reserved2;            /**< 0 */
    double scale;                  /**< value = raw * scale + offset; default 1 */
    double offset;                 /**< default 0 */
    double valid_min;              /**< values below are EDGECORE_STATUS_OUT_OF_RANGE; NaN: none; default NaN */
    double valid_max;              /**< values above are EDGECORE_STATUS_OUT_OF_RANGE; NaN: none; default NaN */
    uint64_t sentinels[EDGECORE_SENTINELS_MAX]; /**< raw register contents (as an unsigned number of the
                                         type's width, after byte/word order) meaning "not available" */
    /* Since 1.3: meters. A channel of a meter device reads meter_item; address, function, type, order, bit
     * and sentinels are ignored for it (sentinel_count must be 0). */
    uint32_t meter_item;           /**< DL/T 645: the data identifier (DI3 DI2 DI1 DI0 as a number, e.g.
                                        0x02010100 phase A voltage; 1997: two bytes, e.g. 0xB611);
                                        CJ/T 188: enum edgecore_cjt188_item; edgecore_meter_item_find() maps
                                        names to it; default 0 (which is a DL/T 645 identifier too:
                                        combined_active_energy_total: always set it) */
    uint16_t meter_format;         /**< DL/T 645: enum edgecore_meter_format; required (not CATALOGUE) for an
                                        identifier outside the catalogue; default EDGECORE_METER_FORMAT_CATALOGUE */
    uint8_t meter_length;          /**< with a meter_format: bytes of the value, 1..8; 0: the catalogue's
                                        (required outside it); default 0 */
    uint8_t meter_decimals;        /**< with a meter_format: digits after the decimal point, 0..8 (fewer than
                                        the value's digits); default 0 */
};
EDGECORE_ASSERT_SIZE_(edgecore_channel_config, 2 * EDGECORE_P_ + 96);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, name, 0);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, unit, EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, device, 2 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, address, 2 * EDGECORE_P_ + 4);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, function, 2 * EDGECORE_P_ + 6);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, type, 2 * EDGECORE_P_ + 8);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, order, 2 * EDGECORE_P_ + 10);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, bit, 2 * EDGECORE_P_ + 12);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, writable, 2 * EDGECORE_P_ + 13);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, sentinel_count, 2 * EDGECORE_P_ + 14);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, reserved, 2 * EDGECORE_P_ + 15);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, interval_ms, 2 * EDGECORE_P_ + 16);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, reserved2, 2 * EDGECORE_P_ + 20);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, scale, 2 * EDGECORE_P_ + 24);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, offset, 2 * EDGECORE_P_ + 32);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, valid_min, 2 * EDGECORE_P_ + 40);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, valid_max, 2 * EDGECORE_P_ + 48);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, sentinels, 2 * EDGECORE_P_ + 56);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, meter_item, 2 * EDGECORE_P_ + 88);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, meter_format, 2 * EDGECORE_P_ + 92);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, meter_length, 2 * EDGECORE_P_ + 94);
EDGECORE_ASSERT_FIELD_(edgecore_channel_config, meter_decimals, 2 * EDGECORE_P_ + 95);

/**
 * Fill *config with the defaults documented at each field (strings NULL, device 0, address 0). NULL does
 * nothing. Never fails. Does not block. Any thread.
 */
void edgecore_channel_config_init_sized(struct edgecore_channel_config *config, size_t config_size);
static inline void edgecore_channel_config_init(struct edgecore_channel_config *config) {
    edgecore_channel_config_init_sized(config, sizeof *config);
}

/**
 * Add a channel read from a device. Checked now: for a Modbus device function, type, order, bit, registers
 * within the address space, interval, ranges; for a meter the item (a DL/T 645 identifier of the catalogue
 * or one with a format; a CJ/T 188 item of the meter's class), interval, ranges. A meter channel without a
 * unit takes the catalogue's (DL/T 645) or the item's default (CJ/T 188: values in another unit of the same
 * quantity are converted to the channel's). Only a CJ/T 188 valve_state channel can be writable.
 * A channel of a local bus's device: see "Engine: local buses".
 *
 * engine  a stopped engine.
 * config  read during the call (strings are copied).
 * id_out  receives the new channel id; may be NULL.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine, config, name), EDGECORE_E_RUNNING,
 * EDGECORE_E_DUPLICATE (name), EDGECORE_E_NOT_FOUND (device), EDGECORE_E_CONFIG (a field out of range:
 * last_error says which), EDGECORE_E_INVALID_ARGUMENT (struct smaller than in version 1.0),
 * EDGECORE_E_UNKNOWN_FIELD, -ENOMEM. Does not block. The control thread.
 */
int edgecore_engine_add_channel_sized(struct edgecore_engine *engine, const struct edgecore_channel_config *config,
                                      size_t config_size, uint32_t *id_out);
static inline int edgecore_engine_add_channel(struct edgecore_engine *engine,
                                              const struct edgecore_channel_config *config, uint32_t *id_out) {
    return edgecore_engine_add_channel_sized(engine, config, sizeof *config, id_out);
}

/* ==================================================================================================== */
/* Engine: GPIO (libgpiod)                                                                              */
/* ==================================================================================================== */

/*
 * A GPIO chip is a bus with its own worker thread; its lines are channels with the same id space and
 * readings as Modbus channels. The GPIO generation (libgpiod 1.6 or 2.x) is chosen when libEdgeCore is
 * built. Chips and lines are opened by edgecore_engine_start, which fails precisely on a missing chip, a
 * missing line, a line in use or missing permission.
 */

/** What a GPIO line channel does. */
enum edgecore_gpio_kind {
    EDGECORE_GPIO_INPUT = 0,  /**< level sampled every interval_ms: value 0 or 1 (after active_low) */
    EDGECORE_GPIO_OUTPUT = 1, /**< relay, valve: driven with edgecore_engine_write (0 or nonzero); set to
                                   safe_state when the engine starts and when it stops, and held there
                                   (the line stays requested) until the next start or destroy; every
                                   change, and every interval_ms, yields a reading of the value */
    EDGECORE_GPIO_PULSES = 2  /**< pulse counter (S0 meter, flow meter, rain gauge): counts `edge`s; every
                                   interval_ms a reading of count * scale + base. With either libgpiod
                                   generation both edges are requested and debounced here from the kernel's
                                   event timestamps; the kernel's own debounce (in jiffies) is never used.
                                   libgpiod 2.x: the kernel's sequence numbers reveal lost events
                                   (EDGECORE_STATUS_EVENTS_LOST). libgpiod 1.6 (kernel v1 interface): its
                                   16-event queue per line can overflow silently, so loss cannot be
                                   detected: pace pulses >= 100 us. */
};

/** Which edges a pulse counter counts. */
enum edgecore_gpio_edge {
    EDGECORE_GPIO_EDGE_RISING = 1,
    EDGECORE_GPIO_EDGE_FALLING = 2,
    EDGECORE_GPIO_EDGE_BOTH = 3
};

/** Bias of an input line. */
enum edgecore_gpio_bias {
    EDGECORE_GPIO_BIAS_AS_IS = 0,     /**< leave it as the board has it */
    EDGECORE_GPIO_BIAS_DISABLED = 1,
    EDGECORE_GPIO_BIAS_PULL_UP = 2,
    EDGECORE_GPIO_BIAS_PULL_DOWN = 3
};

/** A GPIO chip: one bus with its own worker thread, its lines requested while the engine runs. Grows at
 *  its end. */
struct edgecore_gpio_chip_config {
    const char *name;   /**< unique bus name; copied; required */
    /** "/dev/gpiochip0", "gpiochip0" or the chip's label (e.g. "pinctrl-bcm2711"); copied; required; bytes
     *  (a label is compared byte for byte with the kernel's).
     *  "sim:DIR" is EdgeCore's simulated chip, for demos and tests without GPIO hardware: DIR/lines names
     *  the lines (one per text line), DIR/N.value holds line N's physical level ("0"/"1", written by the
     *  simulating program for inputs and by EdgeCore for outputs), and the FIFO DIR/N.edges carries an
     *  input's edges as 16-byte records in native byte order (int64 CLOCK_MONOTONIC ns, uint32 level after
     *  the edge, uint32 sequence number from 1, 0 for none). It delivers both edges, debounced here from
     *  the timestamps, with sequence numbers; a line in use is -EBUSY. */
    const char *chip;
    /** File keeping the pulse counters' counts across restarts and reboots (written to a temporary file,
     *  synced and renamed over it, so a power cut leaves the old or the new one). Written and synced by a
     *  thread of its own, never by the thread that reads edge events, so a slow flash never delays them;
     *  the final counts are written and synced before edgecore_engine_stop / _destroy return. Read by
     *  edgecore_engine_start: a malformed file
     *  fails the start with EDGECORE_E_CONFIG_FILE. NULL: none; default NULL. Copied; used byte for byte (also
     *  for PATH.tmp and for the folder that is synced). */
    const char *checkpoint_path;
    uint32_t checkpoint_max_per_hour; /**< writes per hour at most while counts change (flash wear), >= 1;
                                           at stop it is always written; default 60 */
    uint32_t event_buffer_size;       /**< kernel edge-event queue per pulse line (libgpiod 2.x; both edges
                                           of each pulse are queued), 1..65536; default 1024 */
};
EDGECORE_ASSERT_SIZE_(edgecore_gpio_chip_config, 3 * EDGECORE_P_ + 8);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_chip_config, name, 0);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_chip_config, chip, EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_chip_config, checkpoint_path, 2 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_chip_config, checkpoint_max_per_hour, 3 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_chip_config, event_buffer_size, 3 * EDGECORE_P_ + 4);

/**
 * Fill *config with the defaults documented at each field (strings NULL). NULL does nothing.
 * Never fails. Does not block. Any thread.
 */
void edgecore_gpio_chip_config_init_sized(struct edgecore_gpio_chip_config *config, size_t config_size);
static inline void edgecore_gpio_chip_config_init(struct edgecore_gpio_chip_config *config) {
    edgecore_gpio_chip_config_init_sized(config, sizeof *config);
}

/**
 * Add a GPIO chip as a bus. Checked now; the chip is opened by edgecore_engine_start.
 *
 * engine  a stopped engine.
 * config  read during the call (strings are copied).
 * id_out  receives the new bus id; may be NULL.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine, config, name, chip), EDGECORE_E_RUNNING,
 * EDGECORE_E_DUPLICATE (name), EDGECORE_E_CONFIG (a field out of range), EDGECORE_E_LIMIT (more than
 * EDGECORE_RING_LANES_MAX buses), EDGECORE_E_INVALID_ARGUMENT (struct smaller than in version 1.0),
 * EDGECORE_E_UNKNOWN_FIELD, -ENOMEM. Does not block. The control thread.
 */
int edgecore_engine_add_gpio_chip_sized(struct edgecore_engine *engine,
                                        const struct edgecore_gpio_chip_config *config, size_t config_size,
                                        uint32_t *id_out);
static inline int edgecore_engine_add_gpio_chip(struct edgecore_engine *engine,
                                                const struct edgecore_gpio_chip_config *config, uint32_t *id_out) {
    return edgecore_engine_add_gpio_chip_sized(engine, config, sizeof *config, id_out);
}

/** One GPIO line as a channel. Initialise with edgecore_gpio_line_config_init(). Grows at its end. */
struct edgecore_gpio_line_config {
    double scale;            /**< pulses: value = count * scale + base (e.g. 0.001 kWh per impulse);
                                  default 1 */
    double base;             /**< pulses: e.g. the meter's reading when counting began; default 0 */
    const char *name;        /**< unique channel name; copied; required */
    const char *unit;        /**< may be NULL; copied */
    const char *line_name;   /**< the line by its name on the chip; NULL: by `offset`; default NULL; copied */
    const void *reserved_pointer; /**< NULL (keeps the layout free of padding on 32- and 64-bit targets) */
    uint32_t bus;            /**< bus id of a GPIO chip */
    uint32_t offset;         /**< line offset, when line_name is NULL; default 0 */
    uint16_t kind;           /**< enum edgecore_gpio_kind; default EDGECORE_GPIO_INPUT */
    uint16_t bias;           /**< enum edgecore_gpio_bias (inputs and pulses);
                                  default EDGECORE_GPIO_BIAS_AS_IS */
    uint16_t edge;           /**< enum edgecore_gpio_edge (pulses); default EDGECORE_GPIO_EDGE_RISING */
    uint8_t active_low;      /**< nonzero: the line's physical low reads and writes as 1; default 0 */
    uint8_t writable;        /**< outputs: nonzero to allow edgecore_engine_write; default 0 */
    uint8_t safe_state;      /**< outputs: 0 or 1, applied at start, stop and destroy; default 0 */
    uint8_t reserved[3];     /**< 0 */
    uint32_t interval_ms;    /**< sampling (inputs) / reporting (outputs, pulses) interval, >= 1;
                                  default 1000 */
    uint32_t debounce_us;    /**< pulses: a level must hold at least this long, by the kernel's edge
                                  timestamps, for the edge that began it to count; a shorter glitch counts
                                  nothing (see `rejected`). The same with libgpiod 1.6 and 2.x.
                                  0 .. 1000000; 0: none; default 0 */
    uint32_t reserved2;      /**< 0 */
};
EDGECORE_ASSERT_SIZE_(edgecore_gpio_line_config, 4 * EDGECORE_P_ + 48);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, scale, 0);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, base, 8);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, name, 16);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, unit, 16 + EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, line_name, 16 + 2 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, reserved_pointer, 16 + 3 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, bus, 16 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, offset, 20 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, kind, 24 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, bias, 26 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, edge, 28 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, active_low, 30 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, writable, 31 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, safe_state, 32 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, reserved, 33 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, interval_ms, 36 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, debounce_us, 40 + 4 * EDGECORE_P_);
EDGECORE_ASSERT_FIELD_(edgecore_gpio_line_config, reserved2, 44 + 4 * EDGECORE_P_);

/**
 * Fill *config with the defaults documented at each field (strings NULL, bus 0, offset 0). NULL does
 * nothing. Never fails. Does not block. Any thread.
 */
void edgecore_gpio_line_config_init_sized(struct edgecore_gpio_line_config *config, size_t config_size);
static inline void edgecore_gpio_line_config_init(struct edgecore_gpio_line_config *config) {
    edgecore_gpio_line_config_init_sized(config, sizeof *config);
}

/**
 * Add a line of a GPIO chip as a channel. Checked now: names, kinds, ranges, a line used by two channels;
 * the line itself is requested by edgecore_engine_start.
 *
 * engine  a stopped engine.
 * config  read during the call (strings are copied).
 * id_out  receives the new channel id; may be NULL.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine, config, name), EDGECORE_E_RUNNING,
 * EDGECORE_E_DUPLICATE (name, or a line already used by another channel), EDGECORE_E_NOT_FOUND (bus id,
 * or not a GPIO bus), EDGECORE_E_CONFIG (a field out of range), EDGECORE_E_INVALID_ARGUMENT (struct
 * smaller than in version 1.0), EDGECORE_E_UNKNOWN_FIELD, -ENOMEM. Does not block. The control thread.
 */
int edgecore_engine_add_gpio_line_sized(struct edgecore_engine *engine,
                                        const struct edgecore_gpio_line_config *config, size_t config_size,
                                        uint32_t *id_out);
static inline int edgecore_engine_add_gpio_line(struct edgecore_engine *engine,
                                                const struct edgecore_gpio_line_config *config, uint32_t *id_out) {
    return edgecore_engine_add_gpio_line_sized(engine, config, sizeof *config, id_out);
}

/* ==================================================================================================== */
/* Engine: local buses                                                                                  */
/* ==================================================================================================== */

/*
 * Since 1.4. A local bus holds channels the application itself sets: a controller's decisions, alarms, a
 * manual override. Their readings go through the engine as measurements do (the ring: edgecore_engine_drain
 * and _wait; the engine's journal; so a gateway's uplink), with the same id space, statuses and per-channel
 * sequence numbers; no I/O is ever done for them.
 *
 *   - Devices on it: edgecore_engine_add_device with .bus = the local bus id. They group channels; their
 *     Modbus fields (unit_id, limits, timeouts, back-off) are ignored; protocol must be
 *     EDGECORE_PROTOCOL_MODBUS (the default) and meter_address NULL; holes are refused (EDGECORE_E_CONFIG).
 *   - Channels: edgecore_engine_add_channel on such a device. Only name, unit, valid_min / valid_max and
 *     interval_ms mean something; every other field must keep its default (address 0, function, type,
 *     order, bit, sentinel_count 0, scale 1, offset 0, the meter fields): EDGECORE_E_CONFIG naming the field
 *     otherwise. Every local channel is writable (the `writable` flag is implied, 0 or 1 both accepted).
 *   - edgecore_engine_write(engine, channel, value, timeout_ms) on a local channel publishes at once, on the
 *     calling thread, one reading {value, EDGECORE_STATUS_OK (EDGECORE_STATUS_OUT_OF_RANGE outside
 *     valid_min..valid_max, as measurements), timestamp now (CLOCK_REALTIME), the channel's next sequence}
 *     and returns 0: it never blocks on I/O and timeout_ms does not matter. NaN is refused
 *     (EDGECORE_E_VALUE); an infinite value is published as OUT_OF_RANGE. Before its first write a local
 *     channel publishes nothing (also after a restart of the engine: the last value is not kept across
 *     stop/start; sequence numbers continue).
 *   - interval_ms > 0 (the channel config's default is 1000): after the channel's first write, its last value
 *     is published again every interval_ms after its last publication (a heartbeat: a write restarts the
 *     interval), so that ages stay fresh and an uplink sees the state. 0: published on writes only.
 *     Heartbeats come from a thread of the bus's own while the engine runs (none when no channel of the bus
 *     has an interval); beats missed because that thread was not scheduled are skipped, not caught up.
 *   - edgecore_engine_write_registers / _write_coils to a local device: EDGECORE_E_NOT_WRITABLE (it has no
 *     registers or coils). Meter actions on a local bus: as on a bus without meters.
 *   - Statistics: edgecore_engine_bus_stats of a local bus: state EDGECORE_BUS_CONNECTED while the engine runs
 *     (STOPPED after), opens counts starts, transactions counts readings published (writes and
 *     heartbeats), skipped_polls the heartbeats skipped. edgecore_engine_device_stats of a local device:
 *     requests = responses = writes to its channels, state ONLINE after the first, last_ok_ns the last
 *     write's time; nothing else moves. edgecore_engine_plan lists a local bus's devices and channels with
 *     their heartbeat, and no bus time.
 *   - Site files: a bus `type: local` with `devices:` and `channels:` as other buses (README).
 *
 * Threads: writes from any thread, concurrently (each is published whole, in the order the writers took
 * the bus's lock: a short lock held for a copy into memory, never across I/O).
 */

/** A local bus. Initialise with edgecore_local_bus_config_init(). Grows at its end (1.4: up to reserved). */
struct edgecore_local_bus_config {
    const char *name;      /**< unique bus name; copied; required */
    uint32_t reserved[2];  /**< 0 */
};
EDGECORE_ASSERT_SIZE_(edgecore_local_bus_config, EDGECORE_P_ + 8);
EDGECORE_ASSERT_FIELD_(edgecore_local_bus_config, name, 0);
EDGECORE_ASSERT_FIELD_(edgecore_local_bus_config, reserved, EDGECORE_P_);

/**
 * Fill *config with the defaults documented at each field (name NULL). NULL does nothing.
 * Never fails. Does not block. Any thread.
 */
void edgecore_local_bus_config_init_sized(struct edgecore_local_bus_config *config, size_t config_size);
static inline void edgecore_local_bus_config_init(struct edgecore_local_bus_config *config) {
    edgecore_local_bus_config_init_sized(config, sizeof *config);
}

/**
 * Add a local bus (see above). Checked now; it gets a ring lane as every bus does, and its heartbeat thread
 * (if any channel of it has an interval) is started by edgecore_engine_start.
 *
 * engine  a stopped engine.
 * config  read during the call (the name is copied).
 * id_out  receives the new bus id; may be NULL.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine, config, name), EDGECORE_E_RUNNING, EDGECORE_E_DUPLICATE
 * (name), EDGECORE_E_CONFIG (empty name), EDGECORE_E_LIMIT (more than EDGECORE_RING_LANES_MAX buses),
 * EDGECORE_E_INVALID_ARGUMENT (struct smaller than in version 1.4), EDGECORE_E_UNKNOWN_FIELD, -ENOMEM.
 * Does not block. The control thread.
 */
int edgecore_engine_add_local_bus_sized(struct edgecore_engine *engine,
                                        const struct edgecore_local_bus_config *config, size_t config_size,
                                        uint32_t *id_out);
static inline int edgecore_engine_add_local_bus(struct edgecore_engine *engine,
                                                const struct edgecore_local_bus_config *config, uint32_t *id_out) {
    return edgecore_engine_add_local_bus_sized(engine, config, sizeof *config, id_out);
}

/* ==================================================================================================== */
/* Engine: readings                                                                                     */
/* ==================================================================================================== */

/**
 * Move up to `max` readings out of the engine's ring (one lane per bus, in bus id order) into `out`, as
 * edgecore_ring_drain: 0 before the first start. Works whether the engine runs or not: readings stored
 * before a stop, or before a start that added buses, stay drainable.
 *
 * out  caller's array of at least max readings; may be NULL when max is 0.
 * max  0 .. INT32_MAX (a larger value is treated as INT32_MAX).
 *
 * Returns the number of readings copied (0: none waiting), or EDGECORE_E_NULL_POINTER (engine, or out
 * with max > 0). Lock-free; never blocks, except while a start moves the readings into a rebuilt ring
 * (see edgecore_engine_start). The consumer thread (one at a time), concurrently with the control thread
 * and with any thread's other calls.
 */
int edgecore_engine_drain(struct edgecore_engine *engine, struct edgecore_reading *out, size_t max);

/**
 * Block until readings are waiting or `timeout_ms` milliseconds pass, on a running engine
 * (CLOCK_MONOTONIC; the thread sleeps in the kernel). On an engine that is not running (never started,
 * stopped, or being destroyed) it does not block: it returns the readings left to drain, if any, else
 * EDGECORE_E_NOT_RUNNING, so that a consumer loop can end. A consumer blocked here is woken when the
 * engine stops (once every worker has ended, so every reading of the run is in the ring) and when it is
 * destroyed (then always EDGECORE_E_NOT_RUNNING); if the engine was started again meanwhile, it waits on,
 * on the current ring.
 *
 * timeout_ms  < 0: no limit; 0: only check; > 0: the longest wait.
 *
 * Returns the number of readings waiting (> 0), or EDGECORE_E_TIMEOUT (the engine runs and none came
 * within timeout_ms), EDGECORE_E_NOT_RUNNING, EDGECORE_E_NULL_POINTER. A wait loop should end on
 * EDGECORE_E_NOT_RUNNING. Blocks up to timeout_ms. The consumer thread (one at a time), concurrently with
 * the control thread (start, stop, configuration, destroy) and with any thread's other calls.
 */
int edgecore_engine_wait(struct edgecore_engine *engine, int32_t timeout_ms);

/**
 * Counters of the engine's ring summed over its lanes: zero before the first start; they continue across
 * a rebuilt ring.
 *
 * stats_out  the caller's struct; written (the growth rule), never read.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_INVALID_ARGUMENT (struct smaller than in version
 * 1.0). Does not block. Any thread, any time.
 */
int edgecore_engine_ring_stats_sized(const struct edgecore_engine *engine, struct edgecore_ring_stats *stats_out,
                                     size_t stats_size);
static inline int edgecore_engine_ring_stats(const struct edgecore_engine *engine,
                                             struct edgecore_ring_stats *stats_out) {
    return edgecore_engine_ring_stats_sized(engine, stats_out, sizeof *stats_out);
}

/* ==================================================================================================== */
/* Engine: statistics and look-ups                                                                      */
/* ==================================================================================================== */

/** What a device's statistics say about its state. */
enum edgecore_device_state {
    EDGECORE_DEVICE_UNKNOWN = 0,   /**< not polled yet */
    EDGECORE_DEVICE_ONLINE = 1,    /**< last poll answered */
    EDGECORE_DEVICE_FAILING = 2,   /**< last poll failed, not yet backed off */
    EDGECORE_DEVICE_OFFLINE = 3    /**< backed off: probed at growing intervals */
};

/** Counters of one device (a Modbus slave or a meter) since the engine was created. Grows at its end. */
struct edgecore_device_stats {
    uint64_t requests;             /**< transactions sent (retries and writes included) */
    uint64_t responses;            /**< good answers */
    uint64_t timeouts;             /**< transactions without an answer */
    uint64_t frame_errors;         /**< bad CRC, malformed or unexpected answers */
    uint64_t exceptions;           /**< refusals: Modbus exception answers, meters' abnormal replies */
    uint64_t disconnects;          /**< transactions failed because the bus was down */
    uint64_t retries;              /**< transactions that were retries */
    uint64_t skipped_offline;      /**< polls not sent while the device was backed off */
    uint64_t latency_total_us;     /**< sum of the round-trip times of good answers */
    uint32_t latency_max_us;       /**< longest round-trip of a good answer */
    uint32_t latency_histogram[8]; /**< good answers by round-trip: <1, <2, <5, <10, <20, <50, <100, >=100 ms */
    uint16_t state;                /**< enum edgecore_device_state */
    uint16_t last_exception;       /**< code of the last Modbus exception (poll or write), or a meter's last
                                        abnormal reply's error byte / status word; 0: none */
    int32_t last_error;            /**< result code of the last failure (EDGECORE_E_DEVICE_*, ...), 0: none */
    uint32_t consecutive_failures; /**< failed polls in a row */
    int64_t last_ok_ns;            /**< CLOCK_REALTIME of the last good answer, 0: none */
    int64_t last_failure_ns;       /**< CLOCK_REALTIME of the last failure, 0: none */
};
EDGECORE_ASSERT_SIZE_(edgecore_device_stats, 136);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, requests, 0);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, responses, 8);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, timeouts, 16);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, frame_errors, 24);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, exceptions, 32);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, disconnects, 40);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, retries, 48);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, skipped_offline, 56);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, latency_total_us, 64);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, latency_max_us, 72);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, latency_histogram, 76);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, state, 108);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, last_exception, 110);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, last_error, 112);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, consecutive_failures, 116);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, last_ok_ns, 120);
EDGECORE_ASSERT_FIELD_(edgecore_device_stats, last_failure_ns, 128);

/**
 * Counters of one Modbus device.
 *
 * device     device id.
 * stats_out  the caller's struct; written (the growth rule), never read.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND, EDGECORE_E_INVALID_ARGUMENT (struct
 * smaller than in version 1.0). Does not block (a short lock the workers hold only to update counters).
 * Any thread, any time.
 */
int edgecore_engine_device_stats_sized(const struct edgecore_engine *engine, uint32_t device,
                                       struct edgecore_device_stats *stats_out, size_t stats_size);
static inline int edgecore_engine_device_stats(const struct edgecore_engine *engine, uint32_t device,
                                               struct edgecore_device_stats *stats_out) {
    return edgecore_engine_device_stats_sized(engine, device, stats_out, sizeof *stats_out);
}

/** What a bus's statistics say about its port or connection. */
enum edgecore_bus_state {
    EDGECORE_BUS_STOPPED = 0,       /**< the engine is not running */
    EDGECORE_BUS_CONNECTED = 1,     /**< port open / TCP connected / GPIO chip open */
    EDGECORE_BUS_DISCONNECTED = 2   /**< not open: re-opened with back-off; polls yield DISCONNECTED */
};

/** Counters of one bus since the engine was created. Grows at its end. */
struct edgecore_bus_stats {
    uint16_t state;               /**< enum edgecore_bus_state */
    uint16_t reserved;            /**< 0 */
    int32_t last_error;           /**< -errno of the last failed open or lost connection, 0: none */
    uint64_t opens;               /**< successful opens (TCP connects, serial port opens) */
    uint64_t open_failures;       /**< failed attempts to open */
    uint64_t losses;              /**< times an open port or connection was lost (peer gone, device node
                                       removed or replaced, TCP stream out of step) */
    uint64_t transactions;        /**< requests sent (polls, retries and writes) */
    uint64_t skipped_polls;       /**< polls left out because the bus fell too far behind its plan */
    int64_t last_change_ns;       /**< CLOCK_REALTIME of the last state change, 0: none */
};
EDGECORE_ASSERT_SIZE_(edgecore_bus_stats, 56);
EDGECORE_ASSERT_FIELD_(edgecore_bus_stats, state, 0);
EDGECORE_ASSERT_FIELD_(edgecore_bus_stats, reserved, 2);
EDGECORE_ASSERT_FIELD_(edgecore_bus_stats, last_error, 4);
EDGECORE_ASSERT_FIELD_(edgecore_bus_stats, opens, 8);
EDGECORE_ASSERT_FIELD_(edgecore_bus_stats, open_failures, 16);
EDGECORE_ASSERT_FIELD_(edgecore_bus_stats, losses, 24);
EDGECORE_ASSERT_FIELD_(edgecore_bus_stats, transactions, 32);
EDGECORE_ASSERT_FIELD_(edgecore_bus_stats, skipped_polls, 40);
EDGECORE_ASSERT_FIELD_(edgecore_bus_stats, last_change_ns, 48);

/**
 * Counters and state of one bus.
 *
 * bus        bus id.
 * stats_out  the caller's struct; written (the growth rule), never read.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND, EDGECORE_E_INVALID_ARGUMENT (struct
 * smaller than in version 1.0). Does not block (a short lock). Any thread, any time.
 */
int edgecore_engine_bus_stats_sized(const struct edgecore_engine *engine, uint32_t bus,
                                    struct edgecore_bus_stats *stats_out, size_t stats_size);
static inline int edgecore_engine_bus_stats(const struct edgecore_engine *engine, uint32_t bus,
                                            struct edgecore_bus_stats *stats_out) {
    return edgecore_engine_bus_stats_sized(engine, bus, stats_out, sizeof *stats_out);
}

/** A pulse counter's figures. Grows at its end. */
struct edgecore_pulse_stats {
    uint64_t count;          /**< edges counted since the engine was created (plus the checkpoint's) */
    uint64_t rejected;       /**< edges ignored as bounce: the level after them held less than debounce_us */
    uint64_t lost;           /**< edges the kernel dropped from a full queue, known from its sequence
                                  numbers (libgpiod 2.x, simulated chip); always 0 with libgpiod 1.6, whose
                                  queue drops silently */
    int64_t last_edge_ns;    /**< kernel timestamp (CLOCK_MONOTONIC) of the last counted edge, 0: none */
    double rate_per_s;       /**< counted edges per second over the last reporting interval */
    double total;            /**< count * scale + base */
};
EDGECORE_ASSERT_SIZE_(edgecore_pulse_stats, 48);
EDGECORE_ASSERT_FIELD_(edgecore_pulse_stats, count, 0);
EDGECORE_ASSERT_FIELD_(edgecore_pulse_stats, rejected, 8);
EDGECORE_ASSERT_FIELD_(edgecore_pulse_stats, lost, 16);
EDGECORE_ASSERT_FIELD_(edgecore_pulse_stats, last_edge_ns, 24);
EDGECORE_ASSERT_FIELD_(edgecore_pulse_stats, rate_per_s, 32);
EDGECORE_ASSERT_FIELD_(edgecore_pulse_stats, total, 40);

/**
 * Figures of a pulse counter channel (live while the engine runs: updated as each batch of edges is read).
 *
 * channel    channel id of an EDGECORE_GPIO_PULSES line.
 * stats_out  the caller's struct; written (the growth rule), never read.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND (no such channel, or not a pulse counter),
 * EDGECORE_E_INVALID_ARGUMENT (struct smaller than in version 1.0). Does not block (a short lock).
 * Any thread, any time.
 */
int edgecore_engine_pulse_stats_sized(const struct edgecore_engine *engine, uint32_t channel,
                                      struct edgecore_pulse_stats *stats_out, size_t stats_size);
static inline int edgecore_engine_pulse_stats(const struct edgecore_engine *engine, uint32_t channel,
                                              struct edgecore_pulse_stats *stats_out) {
    return edgecore_engine_pulse_stats_sized(engine, channel, stats_out, sizeof *stats_out);
}

/**
 * What went wrong last with a device, in words: the reason of its last failed transaction (poll or write),
 * e.g. "reply for identifier 0x02010200, requested 0x02010100", "frame checksum 0x6C, the bytes sum to
 * 0x6B", "no answer within 1000 ms", "Modbus exception 2", or why its bus could not be opened ("port
 * /dev/ttyUSB0 busy: process 1234 holds it": a serial port is claimed for the engine's exclusive use, see
 * edgecore_rtu_bus_config). Since 1.3.
 *
 * device  device id.
 * text    receives the text, NUL-terminated, cut to size - 1 bytes; may be NULL when size is 0.
 *
 * Returns the text's full length (as snprintf: a return >= size means it was cut; 0: no failure yet), or
 * EDGECORE_E_NULL_POINTER (engine; text with size > 0), EDGECORE_E_NOT_FOUND (device). Does not block.
 * Any thread, any time.
 */
int edgecore_engine_device_last_problem(const struct edgecore_engine *engine, uint32_t device, char *text,
                                        size_t size);

/**
 * Look up a bus, device or channel id by name.
 *
 * name    NUL-terminated; read during the call.
 * id_out  receives the id; may be NULL (to test existence).
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine, name), EDGECORE_E_NOT_FOUND.
 * Does not block. Any thread, any time.
 */
int edgecore_engine_find_bus(const struct edgecore_engine *engine, const char *name, uint32_t *id_out);
int edgecore_engine_find_device(const struct edgecore_engine *engine, const char *name, uint32_t *id_out);
int edgecore_engine_find_channel(const struct edgecore_engine *engine, const char *name, uint32_t *id_out);

/**
 * Counts of what is configured. Any out-parameter may be NULL.
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine). Does not block. Any thread, any time.
 */
int edgecore_engine_counts(const struct edgecore_engine *engine, uint32_t *buses_out, uint32_t *devices_out,
                           uint32_t *channels_out);

/**
 * A channel's name, unit ("" when none) and device id (UINT32_MAX for a GPIO line), for printing
 * readings. The strings belong to the engine and live until it is destroyed. Any out-parameter may be
 * NULL.
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine), EDGECORE_E_NOT_FOUND. Does not block. Any thread, any
 * time.
 */
int edgecore_engine_channel_info(const struct edgecore_engine *engine, uint32_t channel, const char **name_out,
                                 const char **unit_out, uint32_t *device_out);

/**
 * Whether edgecore_engine_write can write a channel: 1 for a channel declared writable (a holding register
 * or coil channel with `writable`, a GPIO output line, a CJ/T 188 valve_state, every local channel), 0 for
 * the others; a program that drives actuators checks its channels with it before it starts. Since 1.4.
 * Returns 1, 0, or EDGECORE_E_NULL_POINTER (engine), EDGECORE_E_NOT_FOUND. Does not block. Any thread, any
 * time.
 */
int edgecore_engine_channel_writable(const struct edgecore_engine *engine, uint32_t channel);

/**
 * A device's name (owned by the engine, valid until it is destroyed), bus id and unit id, e.g. to say
 * which slave a failing reading or statistic belongs to. Any out-parameter may be NULL.
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine), EDGECORE_E_NOT_FOUND. Does not block. Any thread, any
 * time.
 */
int edgecore_engine_device_info(const struct edgecore_engine *engine, uint32_t device, const char **name_out,
                                uint32_t *bus_out, uint8_t *unit_id_out);

/**
 * A device's protocol and, for a meter, its address as digits (12 for DL/T 645, 14 for CJ/T 188, "AA" for a
 * padding byte; "" for a Modbus device). Since 1.3.
 *
 * protocol_out  receives enum edgecore_protocol; may be NULL.
 * address_out   receives the address and a NUL, cut to size - 1 bytes; may be NULL when size is 0 (15
 *               bytes hold any address).
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine; address_out with size > 0), EDGECORE_E_NOT_FOUND. Does
 * not block. Any thread, any time.
 */
int edgecore_engine_device_protocol(const struct edgecore_engine *engine, uint32_t device, uint16_t *protocol_out,
                                    char *address_out, size_t size);

/* ==================================================================================================== */
/* Engine: writes                                                                                       */
/* ==================================================================================================== */

/*
 * Writes are queued ahead of the bus's polls and sent by its worker when the bus is free (after the
 * transaction on the wire and the bus's silent gap). timeout_ms (< 0: no limit) is the deadline for the
 * write to be sent, and each call blocks until its outcome is known, so the caller always knows whether
 * the device was written:
 *   - not sent by the deadline: the write is dropped, never sent later (a valve is never switched late),
 *     and the call returns EDGECORE_E_TIMEOUT;
 *   - sent in time: the call returns its outcome, waiting past timeout_ms if need be, until the device
 *     answered or failed: at most the device's response_timeout_ms x (1 + retries) (twice that for a bit
 *     of a holding register, written read-modify-write).
 * So EDGECORE_E_TIMEOUT and EDGECORE_E_NOT_RUNNING (the engine stopped first) mean certainly not sent;
 * EDGECORE_E_DISCONNECTED: the bus was down when its turn came (not sent) or the connection broke during
 * the transaction (the device may have acted on it); the other failures are the device's answer or its
 * silence. EDGECORE_E_DEVICE_EXCEPTION: edgecore_engine_last_error() gives this write's own exception code.
 * Every outcome also shows in the device's statistics.
 */

/**
 * Write an engineering value to a writable channel. Modbus: the inverse of scale/offset, rounded for
 * integer types, encoded with the channel's type and order, and sent with FC 6/16 (registers) or FC 5
 * (coils; nonzero is ON); bit channels of holding registers are written read-modify-write. GPIO outputs:
 * 0 or nonzero (after active_low). Local channels (since 1.4, see "Engine: local buses"): published at once
 * as a reading on the calling thread; never blocks on I/O, returns 0 (EDGECORE_E_VALUE for NaN).
 *
 * channel     channel id.
 * value       engineering value.
 * timeout_ms  < 0: no limit; otherwise the deadline for the write to be sent (see above).
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND, EDGECORE_E_NOT_WRITABLE,
 * EDGECORE_E_NOT_RUNNING, EDGECORE_E_VALUE, EDGECORE_E_TIMEOUT (not sent), EDGECORE_E_DEVICE_TIMEOUT,
 * EDGECORE_E_DEVICE_FRAME, EDGECORE_E_DEVICE_EXCEPTION, EDGECORE_E_DISCONNECTED, -errno (GPIO line),
 * -ENOMEM. Blocks as described above. Any thread, any time (on a stopped engine it fails at once with
 * EDGECORE_E_NOT_RUNNING, also while another thread configures it); writes from several threads are
 * queued in the order they arrive.
 */
int edgecore_engine_write(struct edgecore_engine *engine, uint32_t channel, double value, int32_t timeout_ms);

/**
 * Write raw holding registers (FC 6 for one, FC 16 for several) of a device. Every address written must
 * belong to a writable channel of that device and function.
 * A device of a local bus has none: EDGECORE_E_NOT_WRITABLE.
 *
 * device      device id.
 * address     the first register.
 * values      count registers, read during the call.
 * count       1 .. 123.
 * timeout_ms  as edgecore_engine_write.
 *
 * Returns as edgecore_engine_write, plus EDGECORE_E_INVALID_ARGUMENT (count, or address + count beyond
 * 65536). Blocks and threads as edgecore_engine_write.
 */
int edgecore_engine_write_registers(struct edgecore_engine *engine, uint32_t device, uint16_t address,
                                    const uint16_t *values, size_t count, int32_t timeout_ms);

/**
 * Write raw coils (FC 5 for one, FC 15 for several) of a device. Every address written must belong to a
 * writable channel of that device and function.
 * A device of a local bus has none: EDGECORE_E_NOT_WRITABLE.
 *
 * device      device id.
 * address     the first coil.
 * values      count entries, read during the call: 0 = OFF, nonzero = ON.
 * count       1 .. 1968.
 * timeout_ms  as edgecore_engine_write.
 *
 * Returns as edgecore_engine_write, plus EDGECORE_E_INVALID_ARGUMENT (count, or address + count beyond
 * 65536). Blocks and threads as edgecore_engine_write.
 */
int edgecore_engine_write_coils(struct edgecore_engine *engine, uint32_t device, uint16_t address,
                                const uint8_t *values, size_t count, int32_t timeout_ms);

/* ==================================================================================================== */
/* Engine: meter actions and names (since 1.3)                                                          */
/* ==================================================================================================== */

/*
 * The two actions go through the bus's worker as writes do (queued ahead of polls; timeout_ms is the
 * deadline for the action to be sent, as for edgecore_engine_write, and the call waits for its outcome).
 * A CJ/T 188 valve is written with edgecore_engine_write() on its writable valve_state channel: 0 opens it,
 * 1 closes it (DI A017); other values are EDGECORE_E_VALUE; an abnormal reply is EDGECORE_E_DEVICE_EXCEPTION.
 */

/**
 * Send the DL/T 645 broadcast time sync (C 0x08 to 999999999999; meters do not answer) on a bus: the local
 * time (the process's time zone, localtime_r) of unix_seconds, or of now when unix_seconds is 0.
 * Allowed only when the bus has at least one DL/T 645 meter and every DL/T 645 meter of the bus has
 * allow_time_sync set: the broadcast reaches every meter of the line.
 *
 * bus          bus id.
 * unix_seconds the time to set (seconds since 1970, UTC), 0: now; years 2000..2099.
 * timeout_ms   as edgecore_engine_write.
 *
 * Returns 0 (the frame was sent), or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND (bus),
 * EDGECORE_E_NOT_WRITABLE (no DL/T 645 meter, or one that does not allow it: last_error names it),
 * EDGECORE_E_NOT_RUNNING, EDGECORE_E_VALUE (a time outside 2000..2099), EDGECORE_E_TIMEOUT (not sent),
 * EDGECORE_E_DISCONNECTED, -ENOMEM. Blocks as edgecore_engine_write, for the time the frame takes on the
 * wire. Any thread, any time.
 */
int edgecore_engine_meter_time_sync(struct edgecore_engine *engine, uint32_t bus, int64_t unix_seconds,
                                    int32_t timeout_ms);

/**
 * Ask the one DL/T 645-2007 meter on a line for its address (C 0x13 to AAAAAAAAAAAA), gathering replies for
 * 1000 ms (to see whether a second meter answers). The bus need not have meters (a running engine has at
 * least one channel somewhere: give the bus a device of any kind, or add the discovered meter afterwards).
 *
 * bus          bus id of an RTU bus or a transparent TCP bus.
 * address_out  receives the address as 12 digits and a NUL (size >= 13).
 * timeout_ms   as edgecore_engine_write.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND (bus), EDGECORE_E_CONFIG (a bus without
 * serial frames), EDGECORE_E_INVALID_ARGUMENT (size < 13), EDGECORE_E_NOT_RUNNING, EDGECORE_E_TIMEOUT (not
 * sent), EDGECORE_E_DEVICE_TIMEOUT (no meter answered), EDGECORE_E_DEVICE_FRAME (a reply that is not an
 * address), EDGECORE_E_AMBIGUOUS (several meters answered: connect one and ask again),
 * EDGECORE_E_DISCONNECTED, -ENOMEM. Blocks about 1 s once sent. Any thread, any time.
 */
int edgecore_engine_meter_discover(struct edgecore_engine *engine, uint32_t bus, char *address_out, size_t size,
                                   int32_t timeout_ms);

/**
 * The meter_item of a name: a DL/T 645 catalogue name of the protocol's edition
 * ("forward_active_energy_total", "voltage_a"...: docs/meters.md) or a CJ/T 188 item name ("current_flow",
 * "valve_state"...).
 *
 * protocol  enum edgecore_protocol (not MODBUS).
 * name      the name, lower case.
 * item_out  receives the item.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_INVALID_ARGUMENT (protocol), EDGECORE_E_NOT_FOUND (no
 * such name). Does not block. Any thread, any time.
 */
int edgecore_meter_item_find(int protocol, const char *name, uint32_t *item_out);

/* ==================================================================================================== */
/* Engine: journal                                                                                      */
/* ==================================================================================================== */

/*
 * An engine can own a journal (see Journal above): it then appends every reading it takes, from a journal
 * thread of its own, never from a bus worker, so a slow flash never delays sampling. Each worker hands
 * every batch of readings to the engine's ring (edgecore_engine_drain and _wait: the live view, as
 * without a journal) and to the journal thread's feed: one lane per bus of ring_capacity readings
 * (struct edgecore_engine_config). While the journal keeps up, the feed never fills; when it does not (a
 * flash stalled for longer than a lane's readings take to arrive), the feed drops its oldest readings,
 * each counted in edgecore_engine_journal_stats.lost, and sampling goes on. The journal thread appends in
 * batches, ticks the journal's sync policy at least every min(sync_interval_ms, 100) ms while idle, and at
 * edgecore_engine_stop appends what is left in the feed and syncs before stop returns.
 * A journal is named by edgecore_engine_set_journal or by a site file's `journal:` section
 * (edgecore_engine_load_yaml; format: README, examples/site-real.yaml).
 */

/**
 * Give the engine a journal: open the journal in `folder` (as edgecore_journal_open does) and make it the
 * engine's, which owns it from then on and closes it when it is replaced or the engine is destroyed. The
 * journal the engine had is closed (synced) once the new one has opened: on failure the engine keeps the
 * journal it had. Except the same folder given again (byte for byte): a folder has one open journal at a
 * time, so the engine's is closed and the folder opened again; on failure the engine then has none.
 * folder NULL removes the engine's journal (closing it).
 *
 * engine       a stopped engine.
 * folder       the journal's folder (bytes, passed to the system unchanged), or NULL: no journal.
 * config       settings, read during the call; NULL for the defaults. Ignored when folder is NULL.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine), EDGECORE_E_RUNNING, and every code of
 * edgecore_journal_open (EDGECORE_E_INVALID_ARGUMENT: a setting out of range, the struct smaller than in
 * version 1.1; EDGECORE_E_UNKNOWN_FIELD, EDGECORE_E_NOT_A_JOURNAL,
 * EDGECORE_E_JOURNAL_VERSION, -ENOENT, -EACCES, -EROFS, -ENOSPC, -EIO, -ENOMEM, other -errno);
 * -EBUSY (the folder is open as a journal already: by another handle, in this process or another);
 * edgecore_engine_last_error() names the path and the reason. Blocks on the journals' file I/O (a sync of
 * the engine's journal, the open, the replaced journal's close). The control thread; not while another
 * thread uses the journal it replaces (see edgecore_engine_journal).
 */
int edgecore_engine_set_journal_sized(struct edgecore_engine *engine, const char *folder,
                                      const struct edgecore_journal_config *config, size_t config_size);
static inline int edgecore_engine_set_journal(struct edgecore_engine *engine, const char *folder,
                                              const struct edgecore_journal_config *config) {
    return edgecore_engine_set_journal_sized(engine, folder, config, config ? sizeof *config : 0);
}

/**
 * The engine's journal, or NULL (none, or engine NULL). Borrowed: owned by the engine, valid until the
 * engine is destroyed or an edgecore_engine_set_journal / _load_yaml call replaces or removes it; never
 * pass it to edgecore_journal_close. A gateway reads, acknowledges and rewinds cursors on it, adds
 * cursors and reads its statistics from any thread, concurrently with the engine's appends (the journal's
 * own thread rules). Never fails. Does not block. Any thread.
 */
struct edgecore_journal *edgecore_engine_journal(struct edgecore_engine *engine);

/** The engine's journal feed since the engine was created (over all runs and journals). Grows at its end. */
struct edgecore_engine_journal_stats {
    uint64_t appended;         /**< readings the journal accepted */
    uint64_t lost;             /**< readings dropped on the way to the journal: the feed was full because
                                    the journal did not keep up; never offered to it */
    uint64_t append_failures;  /**< appends the journal refused (a system error such as -ENOSPC, or
                                    EDGECORE_E_JOURNAL_FULL); sampling goes on */
    uint64_t failed_readings;  /**< readings of those appends: not in the journal */
    uint64_t waiting;          /**< readings in the feed now, not yet offered to the journal */
    int32_t last_error;        /**< result code of the last failed append, tick or sync; 0: none */
    uint32_t reserved;         /**< 0 */
};
EDGECORE_ASSERT_SIZE_(edgecore_engine_journal_stats, 48);
EDGECORE_ASSERT_FIELD_(edgecore_engine_journal_stats, appended, 0);
EDGECORE_ASSERT_FIELD_(edgecore_engine_journal_stats, lost, 8);
EDGECORE_ASSERT_FIELD_(edgecore_engine_journal_stats, append_failures, 16);
EDGECORE_ASSERT_FIELD_(edgecore_engine_journal_stats, failed_readings, 24);
EDGECORE_ASSERT_FIELD_(edgecore_engine_journal_stats, waiting, 32);
EDGECORE_ASSERT_FIELD_(edgecore_engine_journal_stats, last_error, 40);
EDGECORE_ASSERT_FIELD_(edgecore_engine_journal_stats, reserved, 44);

/**
 * Counters of the engine's journal feed (all zero while it never had a journal). Every reading a worker
 * took while the engine had a journal is in exactly one of appended, lost, failed_readings and waiting.
 *
 * stats_out  the caller's struct; written (the growth rule), never read.
 *
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_INVALID_ARGUMENT (struct smaller than in version 1.1).
 * Does not block (a short lock). Any thread, any time.
 */
int edgecore_engine_journal_stats_sized(const struct edgecore_engine *engine,
                                        struct edgecore_engine_journal_stats *stats_out, size_t stats_size);
static inline int edgecore_engine_journal_stats(const struct edgecore_engine *engine,
                                                struct edgecore_engine_journal_stats *stats_out) {
    return edgecore_engine_journal_stats_sized(engine, stats_out, sizeof *stats_out);
}

#ifdef __cplusplus
}
#endif

#endif /* EDGECORE_H */
