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
/** The call needs a stopped engine (configuration changes) and the engine is running. */
#define EDGECORE_E_RUNNING (-10008)
/** The call needs a running engine (writes) and the engine is stopped; from edgecore_engine_wait: the engine
 *  is stopped (or being destroyed) and no readings are left to drain. */
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
/** Last (lowest) of EdgeCore's own result codes in this version; later versions extend downwards. */
#define EDGECORE_E_LAST (-10020)

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
    EDGECORE_STATUS_STALE = 7,         /**< no fresh sample in time; value repeats the last good one */
    EDGECORE_STATUS_OFFLINE = 8,       /**< device backed off after repeated failures: not polled this time */
    EDGECORE_STATUS_EVENTS_LOST = 9    /**< the kernel dropped GPIO edge events since the last reading (queue
                                            overflow): the pulse count is too low by at least that much */
};

/**
 * One sample of one channel: 32 bytes, fixed-width fields, the same layout on every architecture.
 * value is meaningful when status is EDGECORE_STATUS_OK; with OUT_OF_RANGE it holds the rejected value
 * (for diagnosis), with STALE the last good one, otherwise 0. reserved is 0 and must be written as 0.
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
EDGECORE_STATIC_ASSERT(sizeof(struct edgecore_reading) == 32, "struct edgecore_reading must be 32 bytes");
EDGECORE_STATIC_ASSERT(offsetof(struct edgecore_reading, value) == 8, "edgecore_reading layout");
EDGECORE_STATIC_ASSERT(offsetof(struct edgecore_reading, status) == 24, "edgecore_reading layout");

/**
 * The short lowercase name of a status ("ok", "timeout", "crc_error", "exception", "sentinel",
 * "out_of_range", "disconnected", "stale", "offline", "events_lost"), or "unknown" for a value this version does not know.
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


/* ---------------------------------------------------------------------------------------------------- */
/* Engine: Modbus buses, devices and channels, sampled into a ring                                      */
/* ---------------------------------------------------------------------------------------------------- */

/**
 * An engine owns a configuration (buses, devices, channels), a plan made from it, one worker thread per
 * bus while it runs, and a ring with one lane per bus that every reading passes through.
 *
 * Life cycle: edgecore_engine_create, then configure (C setters below and/or edgecore_engine_load_yaml),
 * edgecore_engine_start, drain readings, edgecore_engine_stop, edgecore_engine_destroy. Configuration
 * changes need a stopped engine. Ids are small integers handed out in order from 0, per kind.
 *
 * Thread rules: configuration (add_*, load_yaml), start, stop and destroy from one thread at a time;
 * edgecore_engine_drain and edgecore_engine_wait from one consumer thread at a time; every other function
 * (writes, *_stats, *_info, find_*, counts, plan) from any thread. All of these may run while another thread
 * configures, starts or stops the engine: they see the configuration before or after a change, never a
 * part of one. Destroy waits until every call another thread began before it has returned (it wakes a
 * consumer blocked in edgecore_engine_wait); a call that begins after destroy began is an error of the
 * caller. edgecore_engine_last_error() belongs to the thread that made the failing call.
 */
struct edgecore_engine;

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

/** Engine-wide settings. Initialise with edgecore_engine_config_init(). */
struct edgecore_engine_config {
    uint32_t ring_capacity;                  /**< readings per bus lane, power of two; default 4096 */
    enum edgecore_overflow_policy overflow;  /**< default EDGECORE_OVERFLOW_DROP_OLDEST */
};

/** A Modbus TCP endpoint: one connection, shared by all its devices (unit ids). */
struct edgecore_tcp_bus_config {
    const char *name;               /**< unique name; copied */
    const char *host;               /**< IPv4/IPv6 address or host name (looked up at each connect, which
                                         blocks for as long as the resolver takes); copied */
    uint16_t port;                  /**< default 502 */
    uint16_t reserved;              /**< 0 */
    uint32_t connect_timeout_ms;    /**< the longest a connect may take (all addresses of the host); stop
                                         cuts it short; default 2000 */
    uint32_t reconnect_min_ms;      /**< first reconnect delay, doubled per failure; default 200 */
    uint32_t reconnect_max_ms;      /**< longest reconnect delay; default 10000 */
    uint32_t request_gap_ms;        /**< pause between two transactions on the connection; default 0 */
};

/** A Modbus RTU serial line (RS-485 or RS-232) with one or more slaves. */
struct edgecore_rtu_bus_config {
    const char *name;               /**< unique name; copied */
    const char *device;             /**< e.g. "/dev/ttyUSB0"; copied */
    uint32_t baud;                  /**< default 9600 */
    char parity;                    /**< 'N', 'E' or 'O'; default 'N' */
    uint8_t data_bits;              /**< 7 or 8; default 8 */
    uint8_t stop_bits;              /**< 1 or 2; default 1 */
    uint8_t rs485;                  /**< nonzero: set the kernel's RS-485 mode (TIOCSRS485) */
    uint8_t rts;                    /**< 0 none, 1 RTS high while sending, 2 RTS low while sending */
    uint8_t reserved[3];            /**< 0 */
    uint32_t rts_delay_us;          /**< RTS settle time when rts != 0; default: libmodbus' own */
    uint32_t request_gap_ms;        /**< silent gap between transactions, beyond the 3.5-character
                                         time; for slow devices; default 0 */
    uint32_t reopen_min_ms;         /**< first re-open delay when the port fails or vanishes; default 200 */
    uint32_t reopen_max_ms;         /**< longest re-open delay; default 10000 */
};

/** A slave on a bus. */
struct edgecore_device_config {
    const char *name;                 /**< unique name; copied */
    uint32_t bus;                     /**< bus id */
    uint8_t unit_id;                  /**< 1..247 (RTU), 0..255 (TCP); default 1 */
    uint8_t one_channel_per_request;  /**< nonzero: quirk, never read two channels in one request */
    uint16_t max_registers;           /**< registers per read request, 1..125; default 125 */
    uint16_t max_bits;                /**< coils/inputs per read request, 1..2000; default 2000 */
    uint16_t reserved;                /**< 0 */
    uint32_t response_timeout_ms;     /**< default 500 */
    uint32_t retries;                 /**< extra attempts after a timeout or bad frame; default 1 */
    uint32_t offline_after;           /**< failed polls in a row before backing off; default 3 */
    uint32_t backoff_min_ms;          /**< first back-off, doubled per failed probe; default 1000 */
    uint32_t backoff_max_ms;          /**< longest back-off; default 30000 */
};

#define EDGECORE_SENTINELS_MAX 4

/** One value read from a device. Initialise with edgecore_channel_config_init(). */
struct edgecore_channel_config {
    const char *name;              /**< unique name; copied */
    const char *unit;              /**< engineering unit, e.g. "V", "degC"; may be NULL; copied */
    uint32_t device;               /**< device id */
    uint16_t address;              /**< 0-based protocol address of the (first) register, coil or input */
    uint8_t function;              /**< enum edgecore_function; default holding registers */
    uint8_t type;                  /**< enum edgecore_value_type; default U16 */
    uint8_t order;                 /**< enum edgecore_word_order; default ABCD */
    uint8_t bit;                   /**< 0..15: the bit of a register, for EDGECORE_TYPE_BIT with FC 3/4 */
    uint8_t writable;              /**< nonzero: may be written (FC 1 and 3 only) */
    uint8_t sentinel_count;        /**< 0..EDGECORE_SENTINELS_MAX */
    uint32_t interval_ms;          /**< poll interval, >= 1; default 1000 */
    uint32_t reserved;             /**< 0 */
    double scale;                  /**< value = raw * scale + offset; default 1 */
    double offset;                 /**< default 0 */
    double valid_min;              /**< values below are EDGECORE_STATUS_OUT_OF_RANGE; NaN: no bound */
    double valid_max;              /**< values above are EDGECORE_STATUS_OUT_OF_RANGE; NaN: no bound */
    uint64_t sentinels[EDGECORE_SENTINELS_MAX]; /**< raw register contents (as an unsigned number of the
                                         type's width, after byte/word order) meaning "not available" */
};

/** What a device's statistics say about its state. */
enum edgecore_device_state {
    EDGECORE_DEVICE_UNKNOWN = 0,   /**< not polled yet */
    EDGECORE_DEVICE_ONLINE = 1,    /**< last poll answered */
    EDGECORE_DEVICE_FAILING = 2,   /**< last poll failed, not yet backed off */
    EDGECORE_DEVICE_OFFLINE = 3    /**< backed off: probed at growing intervals */
};

/** Counters of one device since the engine was created. */
struct edgecore_device_stats {
    uint64_t requests;             /**< transactions sent (retries included) */
    uint64_t responses;            /**< good answers */
    uint64_t timeouts;             /**< transactions without an answer */
    uint64_t frame_errors;         /**< bad CRC, malformed or unexpected answers */
    uint64_t exceptions;           /**< Modbus exception answers */
    uint64_t disconnects;          /**< transactions failed because the bus was down */
    uint64_t retries;              /**< transactions that were retries */
    uint64_t skipped_offline;      /**< polls not sent while the device was backed off */
    uint64_t latency_total_us;     /**< sum of the round-trip times of good answers */
    uint32_t latency_max_us;       /**< longest round-trip of a good answer */
    uint32_t latency_histogram[8]; /**< good answers by round-trip: <1, <2, <5, <10, <20, <50, <100, >=100 ms */
    uint32_t state;                /**< enum edgecore_device_state */
    int32_t last_error;            /**< result code of the last failure (EDGECORE_E_DEVICE_*, ...), 0: none */
    uint16_t last_exception;       /**< code of the last Modbus exception, 0: none */
    uint16_t reserved;
    uint32_t consecutive_failures; /**< failed polls in a row */
    int64_t last_ok_ns;            /**< CLOCK_REALTIME of the last good answer, 0: none */
    int64_t last_failure_ns;       /**< CLOCK_REALTIME of the last failure, 0: none */
};

/** What a bus's statistics say about its port or connection. */
enum edgecore_bus_state {
    EDGECORE_BUS_STOPPED = 0,       /**< the engine is not running */
    EDGECORE_BUS_CONNECTED = 1,     /**< port open / TCP connected */
    EDGECORE_BUS_DISCONNECTED = 2   /**< not open: re-opened with back-off; polls yield DISCONNECTED */
};

/** Counters of one bus since the engine was created. */
struct edgecore_bus_stats {
    uint32_t state;               /**< enum edgecore_bus_state */
    int32_t last_error;           /**< -errno of the last failed open or lost connection, 0: none */
    uint64_t opens;               /**< successful opens (TCP connects, serial port opens) */
    uint64_t open_failures;       /**< failed attempts to open */
    uint64_t losses;              /**< times an open port or connection was lost (peer gone, device node
                                       removed or replaced, TCP stream out of step) */
    uint64_t transactions;        /**< requests sent (polls, retries and writes) */
    uint64_t skipped_polls;       /**< polls left out because the bus fell too far behind its plan */
    int64_t last_change_ns;       /**< CLOCK_REALTIME of the last state change, 0: none */
};
EDGECORE_STATIC_ASSERT(sizeof(struct edgecore_bus_stats) == 56, "struct edgecore_bus_stats must be 56 bytes");

/* ---- GPIO (libgpiod) ---------------------------------------------------------------------------------- */

/** What a GPIO line channel does. */
enum edgecore_gpio_kind {
    EDGECORE_GPIO_INPUT = 0,  /**< level sampled every interval_ms: value 0 or 1 (after active_low) */
    EDGECORE_GPIO_OUTPUT = 1, /**< relay, valve: driven with edgecore_engine_write (0 or nonzero); set to
                                   safe_state when the engine starts and when it stops, and held there
                                   (the line stays requested) until the next start or destroy; every
                                   change, and every interval_ms, yields a reading of the value */
    EDGECORE_GPIO_PULSES = 2  /**< pulse counter (S0 meter, flow meter, rain gauge): counts `edge`s with the
                                   kernel's timestamps; every interval_ms a reading of count * scale + base.
                                   libgpiod 2.x: the kernel debounces and its sequence numbers reveal lost
                                   events (EDGECORE_STATUS_EVENTS_LOST). libgpiod 1.6 (kernel v1 interface):
                                   debounced here from the event timestamps; its 16-event queue per line can
                                   overflow silently, so loss cannot be detected: pace pulses >= 100 us. */
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

/** A GPIO chip: one bus with its own worker thread, its lines requested while the engine runs. */
struct edgecore_gpio_chip_config {
    const char *name;   /**< unique bus name; copied */
    /** "/dev/gpiochip0", "gpiochip0" or the chip's label (e.g. "pinctrl-bcm2711"); copied.
     *  "sim:DIR" is EdgeCore's simulated chip, for demos and tests without GPIO hardware: DIR/lines names
     *  the lines (one per text line), DIR/N.value holds line N's physical level ("0"/"1", written by the
     *  simulating program for inputs and by EdgeCore for outputs), and the FIFO DIR/N.edges carries an
     *  input's edges as 16-byte records in native byte order (int64 CLOCK_MONOTONIC ns, uint32 level after
     *  the edge, uint32 sequence number from 1, 0 for none). It behaves like the v1 interface (both edges,
     *  debounced here) plus sequence numbers; a line in use is -EBUSY. */
    const char *chip;
    /** File keeping the pulse counters' counts across restarts and reboots (written to a temporary file,
     *  synced and renamed over it, so a power cut leaves the old or the new one). Read by
     *  edgecore_engine_start: a malformed file fails the start with EDGECORE_E_CONFIG_FILE. NULL: none. */
    const char *checkpoint_path;
    uint32_t checkpoint_max_per_hour; /**< writes per hour at most while counts change (flash wear); at stop
                                           it is always written; default 60 */
    uint32_t event_buffer_size;       /**< kernel edge-event queue per pulse line (libgpiod 2.x); default 1024 */
};

/** One GPIO line as a channel (same id space and readings as Modbus channels). */
struct edgecore_gpio_line_config {
    const char *name;        /**< unique channel name; copied */
    const char *unit;        /**< may be NULL; copied */
    const char *line_name;   /**< the line by its name on the chip; NULL: by `offset` */
    uint32_t bus;            /**< bus id of a GPIO chip */
    uint32_t offset;         /**< line offset, when line_name is NULL */
    uint8_t kind;            /**< enum edgecore_gpio_kind; default input */
    uint8_t bias;            /**< enum edgecore_gpio_bias (inputs); default as is */
    uint8_t active_low;      /**< nonzero: the line's physical low reads and writes as 1 */
    uint8_t writable;        /**< outputs: nonzero to allow edgecore_engine_write */
    uint8_t safe_state;      /**< outputs: 0 or 1, applied at start, stop and destroy; default 0 */
    uint8_t reserved[3];     /**< 0 */
    uint32_t interval_ms;    /**< sampling (inputs) / reporting (outputs, pulses) interval, >= 1; default 1000 */
    /* pulse counters (EDGECORE_GPIO_PULSES) */
    uint8_t edge;            /**< enum edgecore_gpio_edge; default rising */
    uint8_t reserved2[3];    /**< 0 */
    uint32_t debounce_us;    /**< a level must hold this long for its edge to count; 0: none (default) */
    double scale;            /**< value = count * scale + base (e.g. 0.001 kWh per impulse); default 1 */
    double base;             /**< e.g. the meter's reading when counting began; default 0 */
};

/** A pulse counter's figures. */
struct edgecore_pulse_stats {
    uint64_t count;          /**< edges counted since the engine was created */
    uint64_t rejected;       /**< edges ignored as bounce (shorter than debounce_us; libgpiod 1.6 only) */
    uint64_t lost;           /**< edges the kernel dropped (libgpiod 2.x sequence numbers) */
    int64_t last_edge_ns;    /**< kernel timestamp (CLOCK_MONOTONIC) of the last counted edge, 0: none */
    double rate_per_s;       /**< counted edges per second over the last reporting interval */
    double total;            /**< count * scale + base */
};
EDGECORE_STATIC_ASSERT(sizeof(struct edgecore_pulse_stats) == 48, "struct edgecore_pulse_stats must be 48 bytes");

/** Fill *config with the defaults documented at each field. NULL does nothing. */
void edgecore_engine_config_init(struct edgecore_engine_config *config);
void edgecore_gpio_chip_config_init(struct edgecore_gpio_chip_config *config);
void edgecore_gpio_line_config_init(struct edgecore_gpio_line_config *config);
void edgecore_tcp_bus_config_init(struct edgecore_tcp_bus_config *config);
void edgecore_rtu_bus_config_init(struct edgecore_rtu_bus_config *config);
void edgecore_device_config_init(struct edgecore_device_config *config);
void edgecore_channel_config_init(struct edgecore_channel_config *config);

/**
 * Create a stopped engine with no buses. config may be NULL for the defaults.
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine_out), EDGECORE_E_INVALID_CAPACITY,
 * EDGECORE_E_INVALID_POLICY, -ENOMEM. *engine_out is NULL on failure. Any thread.
 */
int edgecore_engine_create(const struct edgecore_engine_config *config, struct edgecore_engine **engine_out);

/**
 * Stop the engine if it runs (as edgecore_engine_stop), then free it and the readings still in its ring.
 * NULL does nothing. A consumer blocked in edgecore_engine_wait is woken and returns EDGECORE_E_NOT_RUNNING;
 * destroy frees nothing until every call another thread began before it (wait, drain, writes, statistics,
 * lookups) has returned. A call that begins after destroy began is an error of the caller (use after free).
 * Blocks as edgecore_engine_stop does. From the configuration thread.
 */
void edgecore_engine_destroy(struct edgecore_engine *engine);

/**
 * The message of the last failing edgecore_engine_* call made by this thread, e.g.
 * "site.yaml:14: channel 'soil_moisture', field 'type': unknown type 'float'". Static or thread-local
 * storage: never NULL, never freed, valid until this thread's next failing call. "" when none failed.
 */
const char *edgecore_engine_last_error(void);

/**
 * Add a TCP endpoint / an RTU line / a device / a channel. The configuration is checked now; nothing is
 * opened before edgecore_engine_start. *id_out (may be NULL) receives the new id.
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine, config, a required name/host/device string),
 * EDGECORE_E_RUNNING, EDGECORE_E_DUPLICATE (name), EDGECORE_E_NOT_FOUND (bus or device id),
 * EDGECORE_E_CONFIG (a field out of range: edgecore_engine_last_error() says which),
 * EDGECORE_E_LIMIT (more than EDGECORE_RING_LANES_MAX buses), -ENOMEM.
 * Does not block.
 */
int edgecore_engine_add_tcp_bus(struct edgecore_engine *engine, const struct edgecore_tcp_bus_config *config,
                                uint32_t *id_out);
int edgecore_engine_add_rtu_bus(struct edgecore_engine *engine, const struct edgecore_rtu_bus_config *config,
                                uint32_t *id_out);
int edgecore_engine_add_device(struct edgecore_engine *engine, const struct edgecore_device_config *config,
                               uint32_t *id_out);
int edgecore_engine_add_channel(struct edgecore_engine *engine, const struct edgecore_channel_config *config,
                                uint32_t *id_out);

/**
 * Add a GPIO chip as a bus / a line of it as a channel. Checked now: names, kinds, ranges, a line used by
 * two channels; the chip and its lines are opened by edgecore_engine_start, which fails with -ENOENT (no
 * such chip), EDGECORE_E_CONFIG (no such line offset or name), -EBUSY (line used by another program),
 * -EACCES (permission denied), with edgecore_engine_last_error() naming chip and line.
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_RUNNING, EDGECORE_E_DUPLICATE, EDGECORE_E_NOT_FOUND
 * (bus id, or not a GPIO bus), EDGECORE_E_CONFIG, EDGECORE_E_LIMIT, -ENOMEM. Does not block.
 * The GPIO generation (libgpiod 1.6 or 2.x) is chosen when libEdgeCore is built.
 */
int edgecore_engine_add_gpio_chip(struct edgecore_engine *engine, const struct edgecore_gpio_chip_config *config,
                                  uint32_t *id_out);
int edgecore_engine_add_gpio_line(struct edgecore_engine *engine, const struct edgecore_gpio_line_config *config,
                                  uint32_t *id_out);

/**
 * Figures of a pulse counter channel. Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND (no
 * such channel, or not a pulse counter). Any thread.
 */
int edgecore_engine_pulse_stats(const struct edgecore_engine *engine, uint32_t channel,
                                struct edgecore_pulse_stats *stats_out);

/**
 * Declare addresses first..last (inclusive) of a device's `function` as forbidden: no read request ever
 * covers them (devices that answer a read across unmapped registers with an exception).
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_RUNNING, EDGECORE_E_NOT_FOUND (device),
 * EDGECORE_E_CONFIG (function not 1..4, first > last, or a channel already reads there).
 */
int edgecore_engine_add_hole(struct edgecore_engine *engine, uint32_t device, uint8_t function, uint16_t first,
                             uint16_t last);

/**
 * Add everything a YAML file describes (format: docs in README, examples in examples/). All or nothing:
 * on any error the engine is left as it was.
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_RUNNING, -errno (file cannot be read),
 * EDGECORE_E_CONFIG_FILE (syntax, unknown key, wrong type), EDGECORE_E_CONFIG, EDGECORE_E_DUPLICATE,
 * EDGECORE_E_NOT_FOUND, EDGECORE_E_LIMIT; edgecore_engine_last_error() gives file, line and field.
 * Blocks on file reading only.
 */
int edgecore_engine_load_yaml(struct edgecore_engine *engine, const char *path);

/**
 * Look up ids by name. Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND.
 */
int edgecore_engine_find_bus(const struct edgecore_engine *engine, const char *name, uint32_t *id_out);
int edgecore_engine_find_device(const struct edgecore_engine *engine, const char *name, uint32_t *id_out);
int edgecore_engine_find_channel(const struct edgecore_engine *engine, const char *name, uint32_t *id_out);

/** Counts of what is configured. Returns 0, or EDGECORE_E_NULL_POINTER. */
int edgecore_engine_counts(const struct edgecore_engine *engine, uint32_t *buses_out, uint32_t *devices_out,
                           uint32_t *channels_out);

/**
 * A channel's name, unit ("" when none) and device id, for printing readings. The strings belong to the
 * engine and live until it is destroyed. Any out-parameter may be NULL.
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine), EDGECORE_E_NOT_FOUND.
 */
int edgecore_engine_channel_info(const struct edgecore_engine *engine, uint32_t channel, const char **name_out,
                                 const char **unit_out, uint32_t *device_out);

/**
 * A device's name (owned by the engine, valid until it is destroyed), bus id and unit id, e.g. to say
 * which slave a failing reading or statistic belongs to. Any out-parameter may be NULL.
 * Returns 0, or EDGECORE_E_NULL_POINTER (engine), EDGECORE_E_NOT_FOUND.
 */
int edgecore_engine_device_info(const struct edgecore_engine *engine, uint32_t device, const char **name_out,
                                uint32_t *bus_out, uint8_t *unit_id_out);

/**
 * The plan as text (a dry run): per bus and device the read requests the engine will send, the channels
 * each serves, and per bus the estimated bus time per second against the intervals (RTU from baud and
 * frame sizes). Works on a stopped or running engine; writes at most `size` bytes including the NUL
 * (text may be NULL when size is 0), like snprintf.
 * Returns the full length of the text (excluding NUL; a return >= size means it was cut), or
 * EDGECORE_E_NULL_POINTER, EDGECORE_E_CONFIG (a channel cannot be planned: see last_error).
 */
int edgecore_engine_plan(const struct edgecore_engine *engine, char *text, size_t size);

/**
 * Plan, open nothing yet, and start one worker thread per bus. Buses connect in their workers; a bus
 * that cannot connect yields EDGECORE_STATUS_DISCONNECTED readings and keeps retrying.
 * When buses were added since the last start, the ring is rebuilt with one lane per bus: the readings
 * still in the old ring move into the new one (none is lost) with its counters, while a consumer's
 * drain or wait waits for the move (a copy in memory) to end.
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_RUNNING, EDGECORE_E_CONFIG (nothing to sample or a
 * channel cannot be planned), -errno (threads cannot be created). Does not block on I/O. From the
 * configuration thread; drain, wait and every any-thread call may run meanwhile.
 */
int edgecore_engine_start(struct edgecore_engine *engine);

/**
 * Stop the bus workers and close ports and connections. Readings already in the ring stay drainable. Once
 * every worker has ended, a consumer blocked in edgecore_engine_wait is woken: it returns the readings left,
 * or EDGECORE_E_NOT_RUNNING. Writes not yet sent fail with EDGECORE_E_NOT_RUNNING.
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_RUNNING. Blocks until the workers end: at most
 * about one response timeout (a transaction on the wire ends, its retries are given up; a TCP connect in
 * progress is abandoned at once), except while a worker looks up a TCP host name: getaddrinfo() cannot be
 * interrupted, so stop may wait for the resolver: up to about resolv.conf's timeout x attempts per name
 * server asked (glibc's defaults, timeout:5 attempts:2: 10 s or more per server; search domains add to
 * it). Numeric addresses are never looked up. From the configuration thread.
 */
int edgecore_engine_stop(struct edgecore_engine *engine);

/**
 * As edgecore_ring_drain on the engine's ring (one lane per bus, in bus id order): 0 before the first
 * start. Readings stay drainable after stop and across starts. Returns the number copied, or
 * EDGECORE_E_NULL_POINTER (engine, or out with max > 0). Never blocks, except while a start moves the
 * readings into a rebuilt ring (see edgecore_engine_start). One consumer thread at a time.
 */
int edgecore_engine_drain(struct edgecore_engine *engine, struct edgecore_reading *out, size_t max);

/**
 * Block until readings are available or `timeout_ms` pass (< 0: no limit; 0: only check), on a running
 * engine. On an engine that is not running (never started, stopped, or being destroyed) it does not block:
 * it returns the readings left to drain, if any, else EDGECORE_E_NOT_RUNNING, so that a consumer loop can
 * end. A consumer blocked here is woken when the engine stops (once every worker has ended, so every
 * reading of the run is in the ring) and when it is destroyed (then always EDGECORE_E_NOT_RUNNING); if the
 * engine was started again meanwhile, it waits on, on the current ring.
 * Returns the number of readings available (> 0), or EDGECORE_E_TIMEOUT (running, none within timeout_ms),
 * EDGECORE_E_NOT_RUNNING, EDGECORE_E_NULL_POINTER. One consumer thread at a time.
 */
int edgecore_engine_wait(struct edgecore_engine *engine, int32_t timeout_ms);

/** The ring's counters (zero before the first start; they continue across a rebuilt ring). Returns 0, or
 *  EDGECORE_E_NULL_POINTER. Any thread. */
int edgecore_engine_ring_stats(const struct edgecore_engine *engine, struct edgecore_ring_stats *stats_out);

/**
 * Counters of one device. Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND. Any thread.
 */
int edgecore_engine_device_stats(const struct edgecore_engine *engine, uint32_t device,
                                 struct edgecore_device_stats *stats_out);

/**
 * Counters and state of one bus. Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND. Any thread.
 */
int edgecore_engine_bus_stats(const struct edgecore_engine *engine, uint32_t bus,
                              struct edgecore_bus_stats *stats_out);

/**
 * Write an engineering value to a writable channel: the inverse of scale/offset, rounded for integer
 * types, encoded with the channel's type and order, and sent with FC 6/16 (registers) or FC 5 (coils;
 * nonzero is ON). Bit channels of holding registers are written read-modify-write.
 * The write is queued ahead of the bus's polls and sent when the bus is free (after the transaction on the
 * wire and the bus's silent gap). timeout_ms (< 0: no limit) is the deadline for the write to be sent:
 *   - not sent by then: it is dropped, never sent later, and the call returns EDGECORE_E_TIMEOUT;
 *   - sent in time: the call returns its outcome, waiting past timeout_ms if need be, until the device
 *     answered or failed: at most the device's response_timeout_ms x (1 + retries) (twice that for a bit
 *     of a holding register, written read-modify-write). The outcome also shows in the device statistics.
 * So EDGECORE_E_TIMEOUT and EDGECORE_E_NOT_RUNNING (the engine stopped first) mean certainly not sent;
 * EDGECORE_E_DISCONNECTED: the bus was down when its turn came (not sent) or the connection broke during
 * the transaction (the device may have acted on it); the other failures are the device's answer or silence.
 * EDGECORE_E_DEVICE_EXCEPTION: edgecore_engine_last_error() gives this write's own exception code.
 * Returns 0, or EDGECORE_E_NULL_POINTER, EDGECORE_E_NOT_FOUND, EDGECORE_E_NOT_WRITABLE,
 * EDGECORE_E_NOT_RUNNING, EDGECORE_E_VALUE, EDGECORE_E_TIMEOUT, EDGECORE_E_DEVICE_TIMEOUT,
 * EDGECORE_E_DEVICE_FRAME, EDGECORE_E_DEVICE_EXCEPTION, EDGECORE_E_DISCONNECTED. Any thread; a stopped
 * engine's writes may run while another thread configures it.
 */
int edgecore_engine_write(struct edgecore_engine *engine, uint32_t channel, double value, int32_t timeout_ms);

/**
 * Write raw holding registers (FC 6 for one, FC 16 for several) / coils (FC 5 / FC 15) of a device. Every
 * address written must belong to a writable channel of that device and function.
 * values: count entries (coils: 0 = OFF, nonzero = ON). count: 1..123 registers / 1..1968 coils.
 * Deadline and results as edgecore_engine_write, plus EDGECORE_E_INVALID_ARGUMENT (count). Any thread.
 */
int edgecore_engine_write_registers(struct edgecore_engine *engine, uint32_t device, uint16_t address,
                                    const uint16_t *values, size_t count, int32_t timeout_ms);
int edgecore_engine_write_coils(struct edgecore_engine *engine, uint32_t device, uint16_t address,
                                const uint8_t *values, size_t count, int32_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* EDGECORE_H */
