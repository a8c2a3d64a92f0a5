/*
 * gateway_subscriber - the receiving end of the gateway benchmark (benchmarks/README.md, "Gateway"):
 * a QoS 1 MQTT subscriber with a persistent session (clean session off, MQTT 3.1.1) on libmosquitto. It
 * parses every message of edgecore_gateway's `json` format (docs/gateway.md), counts readings per
 * (gateway, instance), checks that every journal sequence 1..N arrives, counts duplicates, checks that each
 * channel's readings first arrive in the order they were taken, and measures latency = arrival time - the
 * reading's ts (ms, CLOCK_REALTIME on the same machine).
 *
 *   gateway_subscriber --port PORT [--host H] [--username U --password-file F] [--id CLIENT_ID]
 *                      [--topic T]... [--ref-prefix P] [--expect FILE] [--timeline FILE] [--max-seconds S]
 *                      [--inject-drop N]
 *
 * Signals (the benchmark's driver sends them):
 *   SIGUSR1  print a WINDOW line for the readings that arrived since the previous SIGUSR1 (or the start),
 *            then start a new window: readings/s and latency p50/p99/max of first arrivals, duplicates,
 *            readings whose status is not "ok" (the site was not read: the benchmark is then invalid)
 *   SIGUSR2  the first marks "broker down", the second "broker up again": the next WINDOW line then says
 *            how many readings were taken while the broker was down and when the last of them arrived
 *   SIGTERM  print one INSTANCE line per journal instance and a TOTAL line, then exit. With --expect FILE
 *            (lines "JOURNAL gateway=ID instance=HEX newest=N acked=A ...", as gateway_journal_check
 *            prints them), every instance is checked against its journal: a reading up to the cursor's
 *            acknowledgement that never arrived is lost; readings after the newest one delivered are still
 *            in the journal (pending), not lost.
 *
 * --inject-drop N checks the checker: the Nth message from a gateway is ignored as if it never came, so the
 * final report must count its readings as lost (gaps) and fail.
 *
 * Gateways whose id starts with --ref-prefix (default "ref") are the reference publishers: counted apart.
 * Prints "READY" (flushed) once the subscription is acknowledged. Exit status 0: no reading lost (and,
 * with --expect, every journal seen); 1: a reading lost, a malformed message, or an order violation;
 * 2: usage or set-up error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "gateway_common.h"

#define MAX_INSTANCES 512
#define MAX_TOPICS 8
#define CHANNEL_SLOTS 1024   /* per instance, power of two; more distinct channels are not order-checked */
#define MAX_SEQUENCE (1u << 28)

struct channel_slot {
    char *name;
    int64_t last_ts;
};

struct instance {
    char gateway[72];
    char instance[24];
    bool is_ref;
    uint8_t *seen;            /* bit per sequence */
    uint64_t seen_cap;        /* sequences the bitmap covers (1 .. seen_cap - 1) */
    uint64_t max_seq, readings, distinct, duplicates, order_violations, messages;
    struct channel_slot channels[CHANNEL_SLOTS];
    uint32_t channel_count;
};

struct latencies {
    int64_t *ms;
    size_t count, cap;
};

static struct instance *instances[MAX_INSTANCES];
static int instance_count;
static struct {
    struct latencies gw, ref;
    uint64_t gw_readings, ref_readings, gw_dups, ref_dups, messages, bytes, gw_messages, gw_bytes, gw_not_ok;
    struct timespec start;
} window;
static uint64_t malformed, malformed_printed, unknown_keys, overflow_instances, order_unchecked;
static int window_number;

/* Broker outage marks (SIGUSR2). */
static int marks;
static int64_t down_ms, up_ms, outage_readings, outage_last_arrival;

static volatile sig_atomic_t want_window, want_mark, want_stop;

/* --timeline FILE: one line per second of arrival time: readings (first arrivals of gateways), the largest
 * latency and the gateway it came from, to tell a stall of every gateway at once (the machine, the disk,
 * the broker) from one gateway's. */
static FILE *timeline;
static struct {
    int64_t second, readings, max_latency;
    char max_gateway[72];
} tl;
static bool ready_printed;
static int topic_count;
static const char *topics[MAX_TOPICS];
static const char *ref_prefix = "ref";
static uint64_t inject_drop, gateway_messages_seen; /* --inject-drop N: ignore the Nth gateway message */

static int64_t now_ms(void) { return clock_ms(CLOCK_REALTIME); }

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static bool push_latency(struct latencies *l, int64_t ms)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 65536;
        int64_t *p = realloc(l->ms, cap * sizeof *p);
        if (p == NULL)
            return false;
        l->ms = p;
        l->cap = cap;
    }
    l->ms[l->count++] = ms;
    return true;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static int64_t percentile(const int64_t *v, size_t n, double p)
{
    if (n == 0)
        return -1;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

/* ------------------------------------------------------------------------------------------------ */
/* A small JSON reader for the gateway's payload                                                   */
/* ------------------------------------------------------------------------------------------------ */

struct parser {
    const char *p, *end;
    bool failed;
    const char *why;
};

static void fail(struct parser *ps, const char *why)
{
    if (!ps->failed) {
        ps->failed = true;
        ps->why = why;
    }
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static bool expect_char(struct parser *ps, char c)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    fail(ps, "unexpected character");
    return false;
}

static bool peek_char(struct parser *ps, char c)
{
    skip_ws(ps);
    return ps->p < ps->end && *ps->p == c;
}

/* Reads a string into out (truncated to cap - 1 bytes; escapes kept as their character, \u as '?'). */
static void read_string(struct parser *ps, char *out, size_t cap)
{
    size_t n = 0;
    if (!expect_char(ps, '"'))
        return;
    while (ps->p < ps->end && *ps->p != '"') {
        char c = *ps->p++;
        if ((unsigned char)c < 0x20) {
            fail(ps, "control character in a string");
            return;
        }
        if (c == '\\') {
            if (ps->p >= ps->end) {
                fail(ps, "unterminated escape");
                return;
            }
            char e = *ps->p++;
            switch (e) {
            case '"': case '\\': case '/': c = e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u':
                if (ps->end - ps->p < 4) {
                    fail(ps, "short \\u escape");
                    return;
                }
                ps->p += 4;
                c = '?';
                break;
            default:
                fail(ps, "bad escape");
                return;
            }
        }
        if (out != NULL && n + 1 < cap)
            out[n++] = c;
    }
    if (out != NULL && cap > 0)
        out[n] = '\0';
    expect_char(ps, '"');
}

static double read_number(struct parser *ps)
{
    skip_ws(ps);
    char buf[64];
    size_t n = 0;
    while (ps->p < ps->end && n + 1 < sizeof buf && strchr("+-0123456789.eE", *ps->p) != NULL)
        buf[n++] = *ps->p++;
    buf[n] = '\0';
    char *endp;
    double v = strtod(buf, &endp);
    if (n == 0 || *endp != '\0')
        fail(ps, "bad number");
    return v;
}

static bool read_literal(struct parser *ps, const char *word)
{
    skip_ws(ps);
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

static void skip_value(struct parser *ps, int depth)
{
    skip_ws(ps);
    if (depth > 16) {
        fail(ps, "nested too deep");
        return;
    }
    if (ps->p >= ps->end) {
        fail(ps, "truncated");
        return;
    }
    char c = *ps->p;
    if (c == '"') {
        read_string(ps, NULL, 0);
    } else if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        ps->p++;
        if (peek_char(ps, close)) {
            ps->p++;
            return;
        }
        for (int guard = 0; guard < 1000000 && !ps->failed; guard++) {
            if (c == '{') {
                read_string(ps, NULL, 0);
                expect_char(ps, ':');
            }
            skip_value(ps, depth + 1);
            if (peek_char(ps, ',')) {
                ps->p++;
                continue;
            }
            expect_char(ps, close);
            return;
        }
    } else if (!read_literal(ps, "null") && !read_literal(ps, "true") && !read_literal(ps, "false")) {
        read_number(ps);
    }
}

struct reading {
    char channel[128];
    int64_t ts;
    bool has_channel, has_ts, has_status, ok;
};

/* One message: its header fields and its readings (kept in a growing array). */
struct message {
    char gateway[72], instance[24];
    uint64_t first, last;
    bool has_gateway, has_instance, has_first, has_last, has_readings;
    struct reading *readings;
    size_t count, cap;
};

static void read_reading(struct parser *ps, struct reading *r)
{
    memset(r, 0, sizeof *r);
    if (!expect_char(ps, '{'))
        return;
    if (peek_char(ps, '}')) {
        ps->p++;
        return;
    }
    for (int guard = 0; guard < 64 && !ps->failed; guard++) {
        char key[32];
        read_string(ps, key, sizeof key);
        expect_char(ps, ':');
        if (strcmp(key, "channel") == 0) {
            read_string(ps, r->channel, sizeof r->channel);
            r->has_channel = true;
        } else if (strcmp(key, "ts") == 0) {
            r->ts = (int64_t)read_number(ps);
            r->has_ts = true;
        } else if (strcmp(key, "status") == 0) {
            char status[24];
            read_string(ps, status, sizeof status);
            r->has_status = true;
            r->ok = strcmp(status, "ok") == 0;
        } else if (strcmp(key, "unit") == 0 || strcmp(key, "value") == 0 || strcmp(key, "detail") == 0) {
            skip_value(ps, 1);
        } else {
            unknown_keys++;
            skip_value(ps, 1);
        }
        if (peek_char(ps, ',')) {
            ps->p++;
            continue;
        }
        expect_char(ps, '}');
        return;
    }
    fail(ps, "too many keys in a reading");
}

static void parse_message(struct parser *ps, struct message *m)
{
    m->count = 0;
    if (!expect_char(ps, '{'))
        return;
    for (int guard = 0; guard < 64 && !ps->failed; guard++) {
        char key[32];
        read_string(ps, key, sizeof key);
        expect_char(ps, ':');
        if (strcmp(key, "gateway") == 0) {
            read_string(ps, m->gateway, sizeof m->gateway);
            m->has_gateway = true;
        } else if (strcmp(key, "instance") == 0) {
            read_string(ps, m->instance, sizeof m->instance);
            m->has_instance = true;
        } else if (strcmp(key, "first") == 0) {
            m->first = (uint64_t)read_number(ps);
            m->has_first = true;
        } else if (strcmp(key, "last") == 0) {
            m->last = (uint64_t)read_number(ps);
            m->has_last = true;
        } else if (strcmp(key, "readings") == 0) {
            m->has_readings = true;
            if (!expect_char(ps, '['))
                return;
            if (peek_char(ps, ']')) {
                ps->p++;
            } else {
                for (size_t guard2 = 0; guard2 < (1u << 20) && !ps->failed; guard2++) {
                    if (m->count == m->cap) {
                        size_t cap = m->cap ? m->cap * 2 : 512;
                        struct reading *p = realloc(m->readings, cap * sizeof *p);
                        if (p == NULL) {
                            fail(ps, "out of memory");
                            return;
                        }
                        m->readings = p;
                        m->cap = cap;
                    }
                    read_reading(ps, &m->readings[m->count++]);
                    if (peek_char(ps, ',')) {
                        ps->p++;
                        continue;
                    }
                    expect_char(ps, ']');
                    break;
                }
            }
        } else {
            unknown_keys++;
            skip_value(ps, 1);
        }
        if (peek_char(ps, ',')) {
            ps->p++;
            continue;
        }
        expect_char(ps, '}');
        skip_ws(ps);
        if (ps->p != ps->end)
            fail(ps, "bytes after the object");
        return;
    }
    fail(ps, "too many keys");
}

/* ------------------------------------------------------------------------------------------------ */
/* Counting                                                                                         */
/* ------------------------------------------------------------------------------------------------ */

static struct instance *find_instance(const char *gateway, const char *inst)
{
    for (int i = 0; i < instance_count; i++)
        if (strcasecmp(instances[i]->instance, inst) == 0 && strcmp(instances[i]->gateway, gateway) == 0)
            return instances[i];
    if (instance_count == MAX_INSTANCES) {
        overflow_instances++;
        return NULL;
    }
    struct instance *in = calloc(1, sizeof *in);
    if (in == NULL)
        return NULL;
    snprintf(in->gateway, sizeof in->gateway, "%s", gateway);
    snprintf(in->instance, sizeof in->instance, "%s", inst);
    in->is_ref = strncmp(gateway, ref_prefix, strlen(ref_prefix)) == 0;
    instances[instance_count++] = in;
    return in;
}

/* Marks seq as seen; returns 1 when new, 0 when a duplicate, -1 when it cannot be tracked. */
static int mark_seen(struct instance *in, uint64_t seq)
{
    if (seq == 0 || seq >= MAX_SEQUENCE)
        return -1;
    if (seq >= in->seen_cap) {
        uint64_t cap = in->seen_cap ? in->seen_cap : 65536;
        while (cap <= seq)
            cap *= 2;
        uint8_t *p = realloc(in->seen, cap / 8);
        if (p == NULL)
            return -1;
        memset(p + in->seen_cap / 8, 0, (cap - in->seen_cap) / 8);
        in->seen = p;
        in->seen_cap = cap;
    }
    uint8_t bit = (uint8_t)(1u << (seq % 8));
    if (in->seen[seq / 8] & bit)
        return 0;
    in->seen[seq / 8] |= bit;
    return 1;
}

static bool is_seen(const struct instance *in, uint64_t seq)
{
    return seq < in->seen_cap && (in->seen[seq / 8] & (1u << (seq % 8))) != 0;
}

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* First arrival of a reading: its channel's previous first-arrived reading must not be newer. */
static void check_order(struct instance *in, const struct reading *r)
{
    uint32_t h = hash_name(r->channel);
    for (uint32_t probe = 0; probe < CHANNEL_SLOTS; probe++) {
        struct channel_slot *s = &in->channels[(h + probe) & (CHANNEL_SLOTS - 1)];
        if (s->name == NULL) {
            if (in->channel_count >= CHANNEL_SLOTS / 2) {
                order_unchecked++;
                return;
            }
            s->name = strdup(r->channel);
            s->last_ts = r->ts;
            in->channel_count++;
            return;
        }
        if (strcmp(s->name, r->channel) == 0) {
            if (r->ts < s->last_ts)
                in->order_violations++;
            else
                s->last_ts = r->ts;
            return;
        }
    }
}

static void report_malformed(const char *topic, const char *why, const char *payload, int len)
{
    malformed++;
    if (malformed_printed++ < 5)
        fprintf(stderr, "gateway_subscriber: malformed message on %s: %s: %.*s\n", topic, why,
                len > 200 ? 200 : len, payload);
}

static void timeline_flush(int64_t second)
{
    if (timeline != NULL && tl.second != 0 && tl.second != second) {
        fprintf(timeline, "%lld readings=%lld max_latency_ms=%lld from=%s\n", (long long)tl.second,
                (long long)tl.readings, (long long)tl.max_latency, tl.max_gateway);
        fflush(timeline);
        tl.readings = 0;
        tl.max_latency = -1;
        tl.max_gateway[0] = '\0';
    }
    tl.second = second;
}

static void timeline_add(int64_t arrival_ms, int64_t latency, const char *gateway)
{
    if (timeline == NULL)
        return;
    if (arrival_ms / 1000 != tl.second)
        timeline_flush(arrival_ms / 1000);
    tl.readings++;
    if (latency > tl.max_latency) {
        tl.max_latency = latency;
        snprintf(tl.max_gateway, sizeof tl.max_gateway, "%s", gateway);
    }
}

static struct message msg;

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
    (void)mosq;
    (void)obj;
    int64_t arrival = now_ms();
    window.messages++;
    window.bytes += (uint64_t)m->payloadlen;
    struct parser ps = {.p = m->payload, .end = (const char *)m->payload + m->payloadlen};
    memset(msg.gateway, 0, sizeof msg.gateway);
    msg.has_gateway = msg.has_instance = msg.has_first = msg.has_last = msg.has_readings = false;
    parse_message(&ps, &msg);
    if (ps.failed) {
        report_malformed(m->topic, ps.why, m->payload, m->payloadlen);
        return;
    }
    if (!msg.has_gateway || !msg.has_instance || !msg.has_first || !msg.has_last || !msg.has_readings) {
        report_malformed(m->topic, "a key of gateway, instance, first, last, readings is missing", m->payload,
                         m->payloadlen);
        return;
    }
    if (msg.last < msg.first || msg.last - msg.first + 1 != msg.count) {
        report_malformed(m->topic, "last - first + 1 is not the number of readings", m->payload, m->payloadlen);
        return;
    }
    for (size_t i = 0; i < msg.count; i++)
        if (!msg.readings[i].has_channel || !msg.readings[i].has_ts || !msg.readings[i].has_status) {
            report_malformed(m->topic, "a reading lacks channel, ts or status", m->payload, m->payloadlen);
            return;
        }
    struct instance *in = find_instance(msg.gateway, msg.instance);
    if (in == NULL)
        return;
    if (!in->is_ref && ++gateway_messages_seen == inject_drop) {
        fprintf(stderr, "gateway_subscriber: --inject-drop: ignored message %llu (%s %llu..%llu)\n",
                (unsigned long long)inject_drop, in->gateway, (unsigned long long)msg.first,
                (unsigned long long)msg.last);
        return;
    }
    in->messages++;
    if (!in->is_ref) {
        window.gw_messages++;
        window.gw_bytes += (uint64_t)m->payloadlen;
    }
    for (size_t i = 0; i < msg.count; i++) {
        const struct reading *r = &msg.readings[i];
        int fresh = mark_seen(in, msg.first + i);
        in->readings++;
        if (fresh < 0) {
            report_malformed(m->topic, "sequence out of range", m->payload, m->payloadlen);
            continue;
        }
        if (fresh == 0) {
            in->duplicates++;
            if (in->is_ref)
                window.ref_dups++;
            else
                window.gw_dups++;
        } else {
            in->distinct++;
            if (msg.first + i > in->max_seq)
                in->max_seq = msg.first + i;
            check_order(in, r);
        }
        if (fresh == 1) { /* readings/s and latency count first arrivals; duplicates are counted apart */
            int64_t latency = arrival - r->ts;
            if (in->is_ref) {
                window.ref_readings++;
                push_latency(&window.ref, latency);
            } else {
                window.gw_readings++;
                window.gw_not_ok += !r->ok;
                push_latency(&window.gw, latency);
                timeline_add(arrival, latency, in->gateway);
            }
        }
        if (marks >= 1 && fresh == 1 && !in->is_ref && r->ts >= down_ms && (marks == 1 || r->ts < up_ms)) {
            outage_readings++;
            if (arrival > outage_last_arrival)
                outage_last_arrival = arrival;
        }
    }
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)obj;
    if (rc != 0) {
        fprintf(stderr, "gateway_subscriber: connection refused: %s\n", mosquitto_connack_string(rc));
        return;
    }
    for (int i = 0; i < topic_count; i++)
        mosquitto_subscribe(mosq, NULL, topics[i], 1);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted)
{
    (void)mosq;
    (void)obj;
    (void)mid;
    for (int i = 0; i < count; i++)
        if (granted[i] != 1)
            fprintf(stderr, "gateway_subscriber: subscription granted QoS %d, not 1\n", granted[i]);
    if (!ready_printed) {
        printf("READY\n");
        fflush(stdout);
        ready_printed = true;
    }
}

static void print_latency_line(const char *name, struct latencies *l)
{
    qsort(l->ms, l->count, sizeof *l->ms, cmp_i64);
    printf(" %s_p50_ms=%lld %s_p99_ms=%lld %s_max_ms=%lld", name, (long long)percentile(l->ms, l->count, 50),
           name, (long long)percentile(l->ms, l->count, 99), name,
           (long long)(l->count ? l->ms[l->count - 1] : -1));
}

static void print_window(void)
{
    double secs = seconds_since(&window.start);
    window_number++;
    printf("WINDOW n=%d seconds=%.3f gw_readings=%llu gw_rate=%.1f gw_dups=%llu ref_readings=%llu ref_rate=%.1f "
           "ref_dups=%llu messages=%llu bytes=%llu gw_messages=%llu gw_bytes=%llu gw_not_ok=%llu",
           window_number, secs, (unsigned long long)window.gw_readings, (double)window.gw_readings / secs,
           (unsigned long long)window.gw_dups, (unsigned long long)window.ref_readings,
           (double)window.ref_readings / secs, (unsigned long long)window.ref_dups,
           (unsigned long long)window.messages, (unsigned long long)window.bytes,
           (unsigned long long)window.gw_messages, (unsigned long long)window.gw_bytes,
           (unsigned long long)window.gw_not_ok);
    print_latency_line("gw", &window.gw);
    print_latency_line("ref", &window.ref);
    if (marks >= 2)
        printf(" outage_ms=%lld outage_readings=%lld drained_after_up_ms=%lld", (long long)(up_ms - down_ms),
               (long long)outage_readings,
               (long long)(outage_last_arrival ? outage_last_arrival - up_ms : -1));
    printf("\n");
    fflush(stdout);
    window.gw.count = window.ref.count = 0;
    window.gw_readings = window.ref_readings = window.gw_dups = window.ref_dups = 0;
    window.messages = window.bytes = window.gw_messages = window.gw_bytes = window.gw_not_ok = 0;
    clock_gettime(CLOCK_MONOTONIC, &window.start);
}

struct expectation {
    char gateway[72], instance[24];
    uint64_t newest, acked;
};

/* Reads "JOURNAL gateway=ID instance=HEX newest=N acked=A ..." lines. */
static int read_expectations(const char *path, struct expectation *out, int max)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "gateway_subscriber: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    int n = 0;
    while (n < max && fgets(line, sizeof line, f) != NULL) {
        struct expectation e;
        unsigned long long newest, acked;
        if (sscanf(line, "JOURNAL gateway=%71s instance=%23s newest=%llu acked=%llu", e.gateway, e.instance,
                   &newest, &acked) == 4) {
            e.newest = newest;
            e.acked = acked;
            out[n++] = e;
        }
    }
    fclose(f);
    return n;
}

static int final_report(const char *expect_path)
{
    static struct expectation expected[MAX_INSTANCES];
    int expected_count = 0;
    if (expect_path != NULL) {
        expected_count = read_expectations(expect_path, expected, MAX_INSTANCES);
        if (expected_count < 0)
            return 2;
    }
    uint64_t gw_lost = 0, gw_gaps = 0, gw_dups = 0, gw_distinct = 0, gw_readings = 0, gw_pending = 0,
             gw_order = 0, ref_gaps = 0, ref_distinct = 0, ref_dups = 0;
    int gw_instances = 0, ref_instances = 0;
    for (int i = 0; i < instance_count; i++) {
        struct instance *in = instances[i];
        uint64_t gaps = 0;
        for (uint64_t s = 1; s <= in->max_seq; s++)
            gaps += !is_seen(in, s);
        long long newest = -1, acked = -1, pending = 0, lost = 0;
        for (int e = 0; e < expected_count; e++)
            if (strcasecmp(expected[e].instance, in->instance) == 0 && strcmp(expected[e].gateway, in->gateway) == 0) {
                newest = (long long)expected[e].newest;
                acked = (long long)expected[e].acked;
                expected[e].gateway[0] = '\0'; /* matched */
                pending = newest > (long long)in->max_seq ? newest - (long long)in->max_seq : 0;
                /* Acknowledged but never delivered: lost. The gaps below max_seq count too. */
                for (uint64_t s = in->max_seq + 1; s <= expected[e].acked; s++)
                    lost++;
            }
        lost += (long long)gaps;
        printf("INSTANCE gateway=%s instance=%s ref=%d messages=%llu readings=%llu distinct=%llu duplicates=%llu "
               "max_seq=%llu gaps=%llu order_violations=%llu journal_newest=%lld journal_acked=%lld pending=%lld "
               "lost=%lld\n",
               in->gateway, in->instance, in->is_ref, (unsigned long long)in->messages,
               (unsigned long long)in->readings, (unsigned long long)in->distinct,
               (unsigned long long)in->duplicates, (unsigned long long)in->max_seq, (unsigned long long)gaps,
               (unsigned long long)in->order_violations, newest, acked, pending, lost);
        if (in->is_ref) {
            ref_instances++;
            ref_gaps += gaps;
            ref_distinct += in->distinct;
            ref_dups += in->duplicates;
        } else {
            gw_instances++;
            gw_lost += (uint64_t)lost;
            gw_gaps += gaps;
            gw_dups += in->duplicates;
            gw_distinct += in->distinct;
            gw_readings += in->readings;
            gw_pending += (uint64_t)pending;
            gw_order += in->order_violations;
        }
    }
    /* A journal whose readings never arrived at all. */
    uint64_t unseen_journals = 0;
    for (int e = 0; e < expected_count; e++)
        if (expected[e].gateway[0] != '\0') {
            unseen_journals++;
            gw_lost += expected[e].acked;
            gw_pending += expected[e].newest - expected[e].acked;
            printf("INSTANCE gateway=%s instance=%s ref=0 messages=0 readings=0 distinct=0 duplicates=0 max_seq=0 "
                   "gaps=0 order_violations=0 journal_newest=%llu journal_acked=%llu pending=%llu lost=%llu\n",
                   expected[e].gateway, expected[e].instance, (unsigned long long)expected[e].newest,
                   (unsigned long long)expected[e].acked,
                   (unsigned long long)(expected[e].newest - expected[e].acked),
                   (unsigned long long)expected[e].acked);
        }
    bool ok = gw_lost == 0 && gw_order == 0 && malformed == 0;
    printf("TOTAL gw_instances=%d gw_readings=%llu gw_distinct=%llu gw_duplicates=%llu gw_gaps=%llu gw_pending=%llu "
           "gw_lost=%llu gw_order_violations=%llu journals_expected=%d journals_unseen=%llu ref_instances=%d "
           "ref_distinct=%llu ref_duplicates=%llu ref_gaps=%llu malformed=%llu unknown_keys=%llu "
           "instances_over_limit=%llu channels_not_order_checked=%llu verdict=%s\n",
           gw_instances, (unsigned long long)gw_readings, (unsigned long long)gw_distinct,
           (unsigned long long)gw_dups, (unsigned long long)gw_gaps, (unsigned long long)gw_pending,
           (unsigned long long)gw_lost, (unsigned long long)gw_order, expected_count,
           (unsigned long long)unseen_journals, ref_instances, (unsigned long long)ref_distinct,
           (unsigned long long)ref_dups, (unsigned long long)ref_gaps, (unsigned long long)malformed,
           (unsigned long long)unknown_keys, (unsigned long long)overflow_instances,
           (unsigned long long)order_unchecked, ok ? "PASS" : "FAIL");
    fflush(stdout);
    return ok ? 0 : 1;
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        want_window = 1;
    else if (sig == SIGUSR2)
        want_mark++;
    else
        want_stop = 1;
}

static void usage(void)
{
    fputs("usage: gateway_subscriber --port PORT [--host H] [--username U --password-file F] [--id CLIENT_ID]\n"
          "                          [--topic T]... [--ref-prefix P] [--expect FILE] [--timeline FILE]\n"
          "                          [--max-seconds S] [--inject-drop N]\n",
          stderr);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *username = NULL, *password_file = NULL, *id = "edgecore-bench-subscriber";
    const char *expect_path = NULL;
    int port = 0;
    long max_seconds = 1800;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage();
            return 2;
        }
        if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--username") == 0)
            username = v;
        else if (strcmp(a, "--password-file") == 0)
            password_file = v;
        else if (strcmp(a, "--id") == 0)
            id = v;
        else if (strcmp(a, "--topic") == 0 && topic_count < MAX_TOPICS)
            topics[topic_count++] = v;
        else if (strcmp(a, "--ref-prefix") == 0)
            ref_prefix = v;
        else if (strcmp(a, "--expect") == 0)
            expect_path = v;
        else if (strcmp(a, "--max-seconds") == 0)
            max_seconds = atol(v);
        else if (strcmp(a, "--inject-drop") == 0)
            inject_drop = strtoull(v, NULL, 10);
        else if (strcmp(a, "--timeline") == 0) {
            timeline = fopen(v, "w");
            if (timeline == NULL) {
                fprintf(stderr, "gateway_subscriber: %s: %s\n", v, strerror(errno));
                return 2;
            }
        } else {
            usage();
            return 2;
        }
        i++;
    }
    if (port <= 0 || port > 65535 || max_seconds <= 0) {
        usage();
        return 2;
    }
    if (topic_count == 0)
        topics[topic_count++] = "edgecore/+/readings";

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    mosquitto_lib_init();
    struct mosquitto *mosq = mosquitto_new(id, false, NULL);
    if (mosq == NULL) {
        fprintf(stderr, "gateway_subscriber: mosquitto_new failed\n");
        return 2;
    }
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    if (username != NULL) {
        const char *password = password_file ? read_password(password_file) : NULL;
        if (password_file != NULL && password == NULL) {
            fprintf(stderr, "gateway_subscriber: cannot read %s\n", password_file);
            return 2;
        }
        mosquitto_username_pw_set(mosq, username, password);
    }
    mosquitto_connect_callback_set(mosq, on_connect);
    mosquitto_subscribe_callback_set(mosq, on_subscribe);
    mosquitto_message_callback_set(mosq, on_message);
    clock_gettime(CLOCK_MONOTONIC, &window.start);
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);

    int rc = mosquitto_connect(mosq, host, port, 30);
    bool connected = rc == MOSQ_ERR_SUCCESS;
    int handled_marks = 0;
    /* Bounded by --max-seconds; each turn waits at most 50 ms for the socket. */
    while (!want_stop && seconds_since(&started) < (double)max_seconds) {
        if (connected) {
            rc = mosquitto_loop(mosq, 50, 1);
            if (rc != MOSQ_ERR_SUCCESS)
                connected = false;
        } else {
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
            connected = mosquitto_reconnect(mosq) == MOSQ_ERR_SUCCESS;
        }
        while (handled_marks < want_mark) {
            handled_marks++;
            marks++;
            if (marks == 1)
                down_ms = now_ms();
            else if (marks == 2)
                up_ms = now_ms();
        }
        if (want_window) {
            want_window = 0;
            print_window();
        }
    }
    timeline_flush(0);
    int status = final_report(expect_path);
    mosquitto_disconnect(mosq);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    return status;
}
