/* soak: 1,000 Modbus channels on 10 TCP endpoints for N minutes; fails when the process grows.
 *
 *   soak --server PATH [--minutes M] [--sample-seconds S] [--warmup-seconds W] [--rss-tolerance-kb K]
 *        [--restart-every S | --no-restart] [--inject-leak KIB_PER_MIN] [--inject-fd-leak]
 *
 * Starts 10 modbus_server peers (Tests/Peers) on free ports of 127.0.0.1 and drives libEdgeCore through
 * its C API against them: 10 TCP buses, 4 devices (unit ids 1-4) of 25 channels each per bus, holding and
 * input registers of every register type, intervals 100 ms to 1 s. The main thread drains the engine
 * continuously (edgecore_engine_wait/drain) and counts readings per status and sequence gaps; a second
 * thread calls the any-thread functions every second (bus, device and ring statistics, look-ups, now and
 * then the plan) and writes every 5 s (edgecore_engine_write, edgecore_engine_write_registers). Halfway,
 * one peer is stopped for 5 s and started again on its port, so the engine reconnects (--restart-every S:
 * every S seconds after the warm-up instead; --no-restart: never).
 *
 * Every S seconds (default 10) it prints the process's RSS (VmRSS), open fds (/proc/self/fd) and threads
 * (/proc/self/status). Verdict (benchmarks/README.md), over the samples after the warm-up (default: the
 * first 2 minutes, at most a fifth of the run):
 *   - RSS: the median of the last third of those samples may exceed the median of the first third by at
 *     most K KiB (default 1024);
 *   - fds and threads: every sample equals the first one after the warm-up, except samples taken while
 *     the stopped peer was down or its bus not yet back (the connection's socket comes and goes then);
 *     the last sample must equal it too;
 *   - every bus delivered OK readings in the last 30 s, and the restarted peer's bus came back.
 * Exit status 0: PASS; 1: FAIL; 2: could not set up (peers, engine). --inject-leak and --inject-fd-leak
 * check the checker: this process itself leaks memory at that rate, or one fd halfway after the warm-up.
 *
 * Every process it starts is stopped by its PID (SIGTERM, SIGKILL after 3 s) and gets PR_SET_PDEATHSIG;
 * the program ends by itself (alarm) 5 minutes after its planned end at the latest.
 */
#define _GNU_SOURCE
#include <edgecore.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ENDPOINTS 10
#define UNITS 4               /* devices (unit ids 1..UNITS) per endpoint */
#define CHANNELS_PER_UNIT 25
#define CHANNELS (ENDPOINTS * UNITS * CHANNELS_PER_UNIT)
#define MAX_SAMPLES 100000
#define STATUS_SLOTS 16       /* statuses counted one by one; higher ones go to the last slot */
#define RESTART_ENDPOINT 3
#define PEER_DOWN_SECONDS 5
#define LAST_OK_SECONDS 30
#define RESTART_MARGIN_SECONDS 30 /* no peer is stopped later than this before the end (plus its down time) */

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void die(const char *what, int rc) {
    const char *detail = edgecore_engine_last_error();
    fprintf(stderr, "soak: %s: %s%s%s\n", what, edgecore_strerror(rc), detail[0] ? ": " : "", detail);
    exit(2);
}

static volatile sig_atomic_t interrupted;
static void on_signal(int signal_number) { (void)signal_number; interrupted = 1; }

/* ---------------------------------------------------------------------------------------------------- */
/* Peers: modbus_server processes, started and stopped by PID.                                          */

struct peer {
    pid_t pid;
    int port;
    char map[256], log[256];
};

static char scratch[] = "/tmp/edgecore-soak-XXXXXX";
static const char *server_path;

static int free_tcp_port(void) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

/* Starts the peer with stdout and stderr in its log file (so this process holds no fd of it). */
static int peer_spawn(struct peer *p) {
    char port[16];
    snprintf(port, sizeof port, "%d", p->port);
    char *argv[] = {(char *)server_path, "--tcp", port, "--map", p->map, NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        int log = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_RDONLY);
        if (log < 0 || null < 0) _exit(127);
        dup2(null, 0);
        dup2(log, 1);
        dup2(log, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    p->pid = pid;
    return 0;
}

/* 1 once the peer printed READY, 0 not yet, -1 it exited. */
static int peer_ready(struct peer *p) {
    if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
        p->pid = -1;
        return -1;
    }
    char text[512] = "";
    FILE *f = fopen(p->log, "re");
    if (!f) return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return strstr(text, "READY\n") != NULL;
}

static int peer_wait_ready(struct peer *p, double seconds) {
    double end = mono() + seconds;
    int r;
    while ((r = peer_ready(p)) == 0 && mono() < end) sleep_ms(20);
    return r;
}

/* SIGTERM to its PID; 1 when it has exited (reaped), 0 still running. */
static int peer_reaped(struct peer *p) {
    if (p->pid <= 0) return 1;
    if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
        p->pid = -1;
        return 1;
    }
    return 0;
}

static void peer_stop(struct peer *p) {
    if (p->pid <= 0) return;
    kill(p->pid, SIGTERM);
    double end = mono() + 3;
    while (!peer_reaped(p) && mono() < end) sleep_ms(10);
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = -1;
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* The site: per endpoint four devices of 25 channels, and the register map the peer serves.           */

/* Register contents, by unit: what the peer serves and what the channels read. */
static uint16_t meter_regs[50], plc_regs[25], drive_regs[50], counter_regs[100];

enum { METER = 1, PLC = 2, DRIVE = 3, COUNTER = 4 };
#define EXCEPTION_ADDRESS 900   /* outside the counter's map: answered with exception 2 */
#define SENTINEL_CHANNEL 7      /* counter channel whose raw value is declared "not available" */
#define OUT_OF_RANGE_CHANNEL 15 /* counter channel whose value is above its valid_max */

static void put_words(uint16_t *regs, uint64_t raw, int words, int word_swapped) {
    for (int w = 0; w < words; w++) {
        uint16_t word = (uint16_t)(raw >> (16 * (words - 1 - w)));
        regs[word_swapped ? words - 1 - w : w] = word;
    }
}

static void make_register_contents(void) {
    for (int k = 0; k < 25; k++) { /* meter: float32 input registers, ABCD then CDAB */
        float f = 230.0f + 0.5f * (float)k;
        uint32_t raw;
        memcpy(&raw, &f, sizeof raw);
        put_words(&meter_regs[2 * k], raw, 2, k >= 13);
    }
    for (int k = 0; k < 18; k++) plc_regs[k] = k < 10 ? (uint16_t)(100 * k) : (uint16_t)(65535 - k); /* U16, I16 */
    plc_regs[18] = 0x55;                                                          /* bits 0..6 */
    for (int k = 0; k < 25; k++) put_words(&drive_regs[2 * k], k < 13 ? 100000u + 1000u * k : (uint64_t)(-5000 - k), 2,
                                           k >= 13);
    for (int k = 0; k < 24; k++) {
        uint64_t raw;
        if (k < 8) raw = 1000000000ull * (uint64_t)(k + 1);       /* U64 energy counters */
        else if (k < 16) raw = (uint64_t)(-(int64_t)(k * 12345)); /* I64 */
        else {
            double d = 1234.5678 * k; /* F64 */
            memcpy(&raw, &d, sizeof raw);
        }
        put_words(&counter_regs[4 * k], raw, 4, 0);
    }
}

static int write_map(const char *path) {
    FILE *f = fopen(path, "we");
    if (!f) return -1;
    struct { int unit; const char *table; const uint16_t *regs; int count; } tables[] = {
        {METER, "input", meter_regs, 50}, {PLC, "holding", plc_regs, 25},
        {DRIVE, "holding", drive_regs, 50}, {COUNTER, "input", counter_regs, 96}};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (int a = 0; a < tables[t].count; a++)
            fprintf(f, "%d %s %d %u\n", tables[t].unit, tables[t].table, a, tables[t].regs[a]);
    return fclose(f);
}

struct channel_meta {
    int endpoint;
    uint32_t last_sequence;
    int seen;
};

static struct channel_meta channels[CHANNELS];
static uint32_t setpoint_channel[ENDPOINTS]; /* PLC register 0, written by the side thread */
static uint32_t drive_device[ENDPOINTS];     /* its register 0..1 (a writable U32) written raw */

static void add_channel(struct edgecore_engine *e, int endpoint, uint32_t device, int unit, int k) {
    struct edgecore_channel_config c;
    edgecore_channel_config_init(&c);
    static const char *unit_names[] = {"", "meter", "plc", "drive", "counter"};
    char name[64];
    snprintf(name, sizeof name, "ep%02d.%s.c%02d", endpoint, unit_names[unit], k);
    c.name = name;
    c.device = device;
    switch (unit) {
    case METER:
        c.function = EDGECORE_FC_INPUT_REGISTERS;
        c.type = EDGECORE_TYPE_F32;
        c.order = k >= 13 ? EDGECORE_ORDER_CDAB : EDGECORE_ORDER_ABCD;
        c.address = (uint16_t)(2 * k);
        c.unit = "V";
        c.interval_ms = 1000;
        break;
    case PLC:
        c.function = EDGECORE_FC_HOLDING_REGISTERS;
        if (k < 18) {
            c.type = k < 10 ? EDGECORE_TYPE_U16 : EDGECORE_TYPE_I16;
            c.address = (uint16_t)k;
        } else {
            c.type = EDGECORE_TYPE_BIT;
            c.address = 18;
            c.bit = (uint8_t)(k - 18);
        }
        c.writable = k == 0;
        c.interval_ms = k < 10 ? 100 : 200;
        break;
    case DRIVE:
        c.function = EDGECORE_FC_HOLDING_REGISTERS;
        c.type = k < 13 ? EDGECORE_TYPE_U32 : EDGECORE_TYPE_I32;
        c.order = k < 13 ? EDGECORE_ORDER_ABCD : EDGECORE_ORDER_CDAB;
        c.address = (uint16_t)(2 * k);
        c.scale = 0.01;
        c.unit = "rpm";
        c.writable = k == 0;
        c.interval_ms = k < 13 ? 250 : 500;
        break;
    default: /* COUNTER */
        c.function = EDGECORE_FC_INPUT_REGISTERS;
        if (k == 24) {
            c.type = EDGECORE_TYPE_U16;
            c.address = EXCEPTION_ADDRESS;
        } else {
            c.type = k < 8 ? EDGECORE_TYPE_U64 : k < 16 ? EDGECORE_TYPE_I64 : EDGECORE_TYPE_F64;
            c.address = (uint16_t)(4 * k);
        }
        if (k == SENTINEL_CHANNEL) {
            c.sentinel_count = 1;
            c.sentinels[0] = 1000000000ull * (SENTINEL_CHANNEL + 1);
        }
        if (k == OUT_OF_RANGE_CHANNEL) c.valid_max = -1e9;
        c.scale = k < 8 ? 0.001 : 1;
        c.unit = k < 8 ? "kWh" : "";
        c.interval_ms = k % 2 ? 1000 : 500;
        break;
    }
    uint32_t id;
    int rc = edgecore_engine_add_channel(e, &c, &id);
    if (rc != EDGECORE_OK) die(name, rc);
    if (id >= CHANNELS) {
        fprintf(stderr, "soak: channel id %u out of the expected range\n", id);
        exit(2);
    }
    channels[id].endpoint = endpoint;
    if (unit == PLC && k == 0) setpoint_channel[endpoint] = id;
}

static double expected_readings_per_s;

static void build_site(struct edgecore_engine *e, const struct peer *peers) {
    for (int ep = 0; ep < ENDPOINTS; ep++) {
        struct edgecore_tcp_bus_config b;
        edgecore_tcp_bus_config_init(&b);
        char name[32];
        snprintf(name, sizeof name, "ep%02d", ep);
        b.name = name;
        b.host = "127.0.0.1";
        b.port = (uint16_t)peers[ep].port;
        b.reconnect_max_ms = 2000;
        uint32_t bus;
        int rc = edgecore_engine_add_tcp_bus(e, &b, &bus);
        if (rc != EDGECORE_OK) die(name, rc);
        for (int unit = 1; unit <= UNITS; unit++) {
            struct edgecore_device_config d;
            edgecore_device_config_init(&d);
            char device_name[32];
            snprintf(device_name, sizeof device_name, "ep%02d.u%d", ep, unit);
            d.name = device_name;
            d.bus = bus;
            d.unit_id = (uint8_t)unit;
            d.backoff_max_ms = 5000;
            uint32_t device;
            rc = edgecore_engine_add_device(e, &d, &device);
            if (rc != EDGECORE_OK) die(device_name, rc);
            if (unit == DRIVE) drive_device[ep] = device;
            for (int k = 0; k < CHANNELS_PER_UNIT; k++) add_channel(e, ep, device, unit, k);
        }
    }
    /* per endpoint: meter 25 x 1/s, PLC 10 x 10/s + 15 x 5/s, drive 13 x 4/s + 12 x 2/s, counter 13 x 2/s
       + 12 x 1/s */
    expected_readings_per_s = ENDPOINTS * (25.0 + 100 + 75 + 52 + 24 + 26 + 12);
}

/* ---------------------------------------------------------------------------------------------------- */
/* The any-thread side: statistics, look-ups, plan and writes from a second thread.                     */

static atomic_int side_stop;
static atomic_long written_setpoint[ENDPOINTS]; /* value last written to PLC register 0, -1: none */
static atomic_ulong setpoints_seen;             /* readings that showed a written value */

struct side_counts {
    unsigned long stats_calls, stats_failures, plans, lookups;
    unsigned long writes, writes_ok, setpoints_ok;
    int failure_codes[8];             /* distinct result codes of failed writes, in order of appearance */
    unsigned long failure_counts[8];
};
static struct side_counts side;

static void count_write(int rc) {
    side.writes++;
    if (rc == EDGECORE_OK) {
        side.writes_ok++;
        return;
    }
    for (int i = 0; i < 8; i++) {
        if (side.failure_counts[i] == 0) side.failure_codes[i] = rc;
        if (side.failure_codes[i] == rc) {
            side.failure_counts[i]++;
            return;
        }
    }
}

static void *side_thread(void *arg) {
    struct edgecore_engine *e = arg;
    static char plan[1 << 16];
    uint32_t buses = 0, devices = 0, count = 0;
    for (unsigned long tick = 1; !atomic_load(&side_stop); tick++) {
        for (int slice = 0; slice < 10 && !atomic_load(&side_stop); slice++) sleep_ms(100);
        if (atomic_load(&side_stop)) break;
        if (edgecore_engine_counts(e, &buses, &devices, &count) != EDGECORE_OK) side.stats_failures++;
        for (uint32_t b = 0; b < buses; b++) {
            struct edgecore_bus_stats s;
            side.stats_calls++;
            if (edgecore_engine_bus_stats(e, b, &s) != EDGECORE_OK) side.stats_failures++;
        }
        for (uint32_t d = 0; d < devices; d++) {
            struct edgecore_device_stats s;
            side.stats_calls++;
            if (edgecore_engine_device_stats(e, d, &s) != EDGECORE_OK) side.stats_failures++;
        }
        struct edgecore_ring_stats r;
        side.stats_calls++;
        if (edgecore_engine_ring_stats(e, &r) != EDGECORE_OK) side.stats_failures++;
        const char *name = NULL;
        uint32_t found = UINT32_MAX;
        side.lookups++;
        if (edgecore_engine_channel_info(e, (uint32_t)(tick % CHANNELS), &name, NULL, NULL) != EDGECORE_OK ||
            edgecore_engine_find_channel(e, name, &found) != EDGECORE_OK || found != tick % CHANNELS)
            side.stats_failures++;
        if (tick % 60 == 0) {
            side.plans++;
            if (edgecore_engine_plan(e, plan, sizeof plan) < 0) side.stats_failures++;
        }
        if (tick % 5 == 0) { /* a write every 5 s, on the endpoints in turn; a raw one every 10 s */
            int ep = (int)(tick / 5 % ENDPOINTS);
            long value = (long)(tick % 1000);
            atomic_store(&written_setpoint[ep], value);
            int rc = edgecore_engine_write(e, setpoint_channel[ep], (double)value, 1000);
            count_write(rc);
            side.setpoints_ok += rc == EDGECORE_OK;
            if (tick % 10 == 0) {
                uint16_t words[2] = {1, (uint16_t)(34464 + tick % 100)}; /* 100000 + tick % 100 */
                count_write(edgecore_engine_write_registers(e, drive_device[ep], 0, words, 2, 1000));
            }
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Process figures.                                                                                      */

struct sample {
    double t;
    long rss_kb, anon_kb; /* VmRSS; its anonymous part (RssAnon: heap, stacks), without mapped files */
    int fds, threads;
    int outage; /* the stopped peer was down or its bus not yet back */
    double readings_per_s;
};

static void read_status(struct sample *s) {
    s->rss_kb = s->anon_kb = -1;
    s->threads = -1;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) s->rss_kb = atol(line + 6);
        else if (!strncmp(line, "RssAnon:", 8)) s->anon_kb = atol(line + 8);
        else if (!strncmp(line, "Threads:", 8)) s->threads = atoi(line + 8);
    }
    fclose(f);
}

/* Open fds, not counting the one that reads the directory. */
static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *entry; (entry = readdir(d));)
        if (entry->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;
}

/* What each open fd is, one line each, into text (cut at size). */
static void list_fds(char *text, size_t size) {
    size_t used = 0;
    text[0] = '\0';
    DIR *d = opendir("/proc/self/fd");
    if (!d) return;
    int own = dirfd(d);
    for (struct dirent *entry; (entry = readdir(d)) && used < size;) {
        if (entry->d_name[0] == '.' || atoi(entry->d_name) == own) continue;
        char target[256];
        ssize_t n = readlinkat(own, entry->d_name, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        int w = snprintf(text + used, size - used, "    fd %s -> %s\n", entry->d_name, target);
        used += w > 0 ? (size_t)w : 0;
    }
    closedir(d);
}

static int compare_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static long median_rss(const struct sample *s, int from, int to, int anon) {
    static long values[MAX_SAMPLES];
    int n = 0;
    for (int i = from; i < to; i++) values[n++] = anon ? s[i].anon_kb : s[i].rss_kb;
    qsort(values, (size_t)n, sizeof values[0], compare_long);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* Least-squares slope of RSS over time, KiB per minute, over samples from..to-1. */
static double rss_slope(const struct sample *s, int from, int to) {
    double n = to - from, st = 0, sr = 0, stt = 0, str = 0;
    for (int i = from; i < to; i++) {
        st += s[i].t;
        sr += (double)s[i].rss_kb;
        stt += s[i].t * s[i].t;
        str += s[i].t * (double)s[i].rss_kb;
    }
    double denominator = n * stt - st * st;
    return denominator > 0 ? (n * str - st * sr) / denominator * 60 : 0;
}

/* ---------------------------------------------------------------------------------------------------- */

static struct sample samples[MAX_SAMPLES];

int main(int argc, char **argv) {
    double minutes = 30, sample_seconds = 10, warmup = -1;
    long rss_tolerance_kb = 1024;
    int restart = 1;
    double restart_every = 0, inject_leak_kib_per_min = 0;
    int inject_fd_leak = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--server") && i + 1 < argc) server_path = argv[++i];
        else if (!strcmp(argv[i], "--minutes") && i + 1 < argc) minutes = atof(argv[++i]);
        else if (!strcmp(argv[i], "--sample-seconds") && i + 1 < argc) sample_seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--warmup-seconds") && i + 1 < argc) warmup = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rss-tolerance-kb") && i + 1 < argc) rss_tolerance_kb = atol(argv[++i]);
        else if (!strcmp(argv[i], "--restart-every") && i + 1 < argc) restart_every = atof(argv[++i]);
        else if (!strcmp(argv[i], "--no-restart")) restart = 0;
        else if (!strcmp(argv[i], "--inject-leak") && i + 1 < argc) inject_leak_kib_per_min = atof(argv[++i]);
        else if (!strcmp(argv[i], "--inject-fd-leak")) inject_fd_leak = 1;
        else {
            fprintf(stderr, "usage: soak --server PATH [--minutes M] [--sample-seconds S] [--warmup-seconds W] "
                            "[--rss-tolerance-kb K] [--restart-every S | --no-restart] [--inject-leak KIB_PER_MIN] "
                            "[--inject-fd-leak]\n");
            return 2;
        }
    }
    double duration = minutes * 60;
    if (!server_path || duration < 1 || sample_seconds < 0.5 || duration / sample_seconds > MAX_SAMPLES - 10) {
        fprintf(stderr, "soak: --server is required; --minutes and --sample-seconds must leave 1 .. %d samples\n",
                MAX_SAMPLES - 10);
        return 2;
    }
    if (warmup < 0) warmup = fmin(120, duration / 5);
    if (access(server_path, X_OK) != 0) {
        fprintf(stderr, "soak: %s is not executable (make -C Tests/Peers)\n", server_path);
        return 2;
    }
    if (edgecore_version_number() / 1000000 != EDGECORE_VERSION_MAJOR) {
        fprintf(stderr, "soak: libEdgeCore %s does not match edgecore.h %s\n", edgecore_version_string(),
                EDGECORE_VERSION_STRING);
        return 2;
    }
    alarm((unsigned)(duration + 300)); /* a hung run ends; peers follow through PR_SET_PDEATHSIG */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(scratch)) {
        perror("soak: mkdtemp");
        return 2;
    }

    make_register_contents();
    static struct peer peers[ENDPOINTS];
    int setup_failed = 0;
    for (int ep = 0; ep < ENDPOINTS && !setup_failed; ep++) {
        struct peer *p = &peers[ep];
        snprintf(p->map, sizeof p->map, "%s/map%02d.txt", scratch, ep);
        snprintf(p->log, sizeof p->log, "%s/peer%02d.log", scratch, ep);
        for (int attempt = 0; attempt < 5; attempt++) { /* a port taken between probe and listen: retry */
            p->port = free_tcp_port();
            if (p->port < 0 || write_map(p->map) != 0 || peer_spawn(p) != 0) break;
            if (peer_wait_ready(p, 10) == 1) break;
            peer_stop(p);
        }
        if (p->pid <= 0) {
            fprintf(stderr, "soak: peer %d did not start (log %s)\n", ep, p->log);
            setup_failed = 1;
        }
    }
    if (setup_failed) {
        for (int ep = 0; ep < ENDPOINTS; ep++) peer_stop(&peers[ep]);
        return 2;
    }

    for (int ep = 0; ep < ENDPOINTS; ep++) atomic_store(&written_setpoint[ep], -1);
    struct edgecore_engine *engine = NULL;
    int rc = edgecore_engine_create(NULL, &engine);
    if (rc != EDGECORE_OK) die("create", rc);
    build_site(engine, peers);
    printf("soak: libEdgeCore %s, %d channels on %d devices, %d Modbus TCP endpoints on 127.0.0.1 (ports",
           edgecore_version_string(), CHANNELS, ENDPOINTS * UNITS, ENDPOINTS);
    for (int ep = 0; ep < ENDPOINTS; ep++) printf(" %d", peers[ep].port);
    printf(")\nsoak: %.1f min, a sample every %.0f s, warm-up %.0f s, RSS tolerance %ld KiB, expected %.0f readings/s",
           minutes, sample_seconds, warmup, rss_tolerance_kb, expected_readings_per_s);
    if (restart && restart_every > 0)
        printf(", peer %d stopped for %d s every %.0f s", RESTART_ENDPOINT, PEER_DOWN_SECONDS, restart_every);
    else if (restart)
        printf(", peer %d stopped for %d s halfway", RESTART_ENDPOINT, PEER_DOWN_SECONDS);
    printf("\n");
    fflush(stdout);

    double t0 = mono();
    rc = edgecore_engine_start(engine);
    if (rc != EDGECORE_OK) die("start", rc);
    pthread_t side_tid;
    if (pthread_create(&side_tid, NULL, side_thread, engine) != 0) {
        fprintf(stderr, "soak: cannot create the side thread\n");
        return 2;
    }

    static struct edgecore_reading batch[1024];
    unsigned long long by_status[STATUS_SLOTS] = {0}, total = 0, gaps = 0, window_readings = 0;
    double last_ok[ENDPOINTS];
    for (int ep = 0; ep < ENDPOINTS; ep++) last_ok[ep] = t0;
    int nsamples = 0, failed_consumer = 0;
    double next_sample = t0 + sample_seconds, end = t0 + duration;
    /* the peer restart: 0 not yet, 1 stopping, 2 down, 3 starting, 4 waiting for the bus, 5 done, -1 failed */
    int phase = restart ? 0 : 5;
    double kill_at = t0 + warmup + (restart_every > 0 ? restart_every : (duration - warmup) / 2);
    double phase_since = 0, recovered_max = 0;
    int restarts = 0;
    struct peer *victim = &peers[RESTART_ENDPOINT];
    uint32_t victim_bus = 0;
    edgecore_engine_find_bus(engine, "ep03", &victim_bus);

    while (!interrupted) {
        double now = mono();
        if (now >= end) break;
        rc = edgecore_engine_wait(engine, 200);
        if (rc >= 0) {
            int n = edgecore_engine_drain(engine, batch, sizeof batch / sizeof batch[0]);
            now = mono();
            for (int i = 0; i < n; i++) {
                const struct edgecore_reading *r = &batch[i];
                by_status[r->status < STATUS_SLOTS ? r->status : STATUS_SLOTS - 1]++;
                if (r->channel >= CHANNELS) continue;
                struct channel_meta *c = &channels[r->channel];
                if (c->seen && r->sequence != c->last_sequence + 1) gaps++;
                c->seen = 1;
                c->last_sequence = r->sequence;
                if (r->status == EDGECORE_STATUS_OK) {
                    last_ok[c->endpoint] = now;
                    if (r->channel == setpoint_channel[c->endpoint] &&
                        (long)r->value == atomic_load(&written_setpoint[c->endpoint])) {
                        atomic_store(&written_setpoint[c->endpoint], -1);
                        atomic_fetch_add(&setpoints_seen, 1);
                    }
                }
            }
            total += (unsigned long long)(n > 0 ? n : 0);
            window_readings += (unsigned long long)(n > 0 ? n : 0);
        } else if (rc != EDGECORE_E_TIMEOUT) {
            fprintf(stderr, "soak: edgecore_engine_wait: %s\n", edgecore_strerror(rc));
            failed_consumer = 1;
            break;
        }

        switch (phase) { /* never blocks the consumer: one step per pass */
        case 0:
            if (now >= kill_at && kill_at + PEER_DOWN_SECONDS + RESTART_MARGIN_SECONDS < end) {
                kill(victim->pid, SIGTERM);
                phase = 1;
                phase_since = now;
                printf("soak: t=%.0f s: peer %d (port %d) stopped\n", now - t0, RESTART_ENDPOINT, victim->port);
            }
            break;
        case 1:
            if (peer_reaped(victim)) phase = 2, phase_since = now;
            else if (now - phase_since > 3) kill(victim->pid, SIGKILL);
            break;
        case 2:
            if (now - phase_since >= PEER_DOWN_SECONDS) {
                phase = peer_spawn(victim) == 0 ? 3 : -1;
                phase_since = now;
            }
            break;
        case 3: {
            int ready = peer_ready(victim);
            if (ready == 1) phase = 4, phase_since = now;
            else if (ready < 0 || now - phase_since > 10) phase = -1;
            break;
        }
        case 4: {
            struct edgecore_bus_stats s;
            int online = edgecore_engine_bus_stats(engine, victim_bus, &s) == EDGECORE_OK &&
                         s.state == EDGECORE_BUS_CONNECTED && last_ok[RESTART_ENDPOINT] > phase_since;
            for (int unit = 1; online && unit <= UNITS; unit++) {
                char name[32];
                uint32_t device;
                struct edgecore_device_stats d;
                snprintf(name, sizeof name, "ep%02d.u%d", RESTART_ENDPOINT, unit);
                online = edgecore_engine_find_device(engine, name, &device) == EDGECORE_OK &&
                         edgecore_engine_device_stats(engine, device, &d) == EDGECORE_OK &&
                         d.state == EDGECORE_DEVICE_ONLINE;
            }
            if (online) {
                restarts++;
                recovered_max = fmax(recovered_max, now - phase_since);
                printf("soak: t=%.0f s: peer %d started again; bus and its 4 devices back %.1f s later\n",
                       now - t0, RESTART_ENDPOINT, now - phase_since);
                kill_at += restart_every;
                int again = restart_every > 0 && kill_at > now;
                phase = again && kill_at + PEER_DOWN_SECONDS + RESTART_MARGIN_SECONDS < end ? 0 : 5;
            } else if (now - phase_since > 60) {
                phase = -1;
            }
            break;
        }
        default:
            break;
        }

        if (now >= next_sample && nsamples < MAX_SAMPLES) {
            if (inject_leak_kib_per_min > 0) { /* leaked on purpose, touched so that it counts in RSS */
                size_t bytes = (size_t)(inject_leak_kib_per_min * 1024 * sample_seconds / 60);
                char *leak = malloc(bytes);
                if (leak) memset(leak, 1, bytes);
            }
            if (inject_fd_leak == 1 && now - t0 > warmup + (duration - warmup) / 4)
                inject_fd_leak = dup(1) >= 0 ? 2 : 1;
            struct sample *s = &samples[nsamples++];
            s->t = now - t0;
            read_status(s);
            s->fds = count_fds();
            s->outage = phase >= 1 && phase <= 4;
            s->readings_per_s = window_readings / (sample_seconds + (now - next_sample));
            window_readings = 0;
            next_sample += sample_seconds;
            if (next_sample < now) next_sample = now + sample_seconds;
            printf("t=%6.0f s  rss=%7ld KiB (anon %6ld)  fds=%3d  threads=%3d  readings/s=%7.1f  ok=%llu "
                   "timeout=%llu exception=%llu sentinel=%llu out_of_range=%llu disconnected=%llu offline=%llu "
                   "gaps=%llu%s\n",
                   s->t, s->rss_kb, s->anon_kb, s->fds, s->threads, s->readings_per_s, by_status[EDGECORE_STATUS_OK],
                   by_status[EDGECORE_STATUS_TIMEOUT], by_status[EDGECORE_STATUS_EXCEPTION],
                   by_status[EDGECORE_STATUS_SENTINEL], by_status[EDGECORE_STATUS_OUT_OF_RANGE],
                   by_status[EDGECORE_STATUS_DISCONNECTED], by_status[EDGECORE_STATUS_OFFLINE], gaps,
                   s->outage ? "  [peer down or reconnecting]" : "");
            fflush(stdout);
        }
    }
    double elapsed = mono() - t0;

    /* The ending figures are taken while everything still runs, then everything is stopped. */
    double now = mono();
    int stale_buses = 0;
    for (int ep = 0; ep < ENDPOINTS; ep++)
        if (now - last_ok[ep] > LAST_OK_SECONDS) stale_buses++;
    static char fds_at_end[8192];
    list_fds(fds_at_end, sizeof fds_at_end); /* printed when fds moved */
    atomic_store(&side_stop, 1);
    pthread_join(side_tid, NULL);
    struct edgecore_ring_stats ring;
    edgecore_engine_ring_stats(engine, &ring);
    struct edgecore_bus_stats bus_sum = {0}, victim_stats = {0};
    for (uint32_t b = 0; b < ENDPOINTS; b++) {
        struct edgecore_bus_stats s;
        if (edgecore_engine_bus_stats(engine, b, &s) != EDGECORE_OK) continue;
        if (b == victim_bus) victim_stats = s;
        bus_sum.opens += s.opens;
        bus_sum.open_failures += s.open_failures;
        bus_sum.losses += s.losses;
        bus_sum.transactions += s.transactions;
        bus_sum.skipped_polls += s.skipped_polls;
    }
    edgecore_engine_stop(engine);
    edgecore_engine_destroy(engine);
    for (int ep = 0; ep < ENDPOINTS; ep++) peer_stop(&peers[ep]);

    /* Summary. */
    printf("\nsoak summary (%.1f min%s)\n", elapsed / 60, interrupted ? ", interrupted" : "");
    printf("  readings: %llu, %.1f/s (configured %.0f/s); ring dropped %llu; sequence gaps %llu\n", total,
           total / elapsed, expected_readings_per_s, (unsigned long long)ring.dropped, gaps);
    printf("  statuses:");
    for (int st = 0; st < STATUS_SLOTS; st++)
        if (by_status[st])
            printf(" %s %llu", st == STATUS_SLOTS - 1 ? "other" : edgecore_status_name(st), by_status[st]);
    printf("\n  buses: %llu transactions, %llu connects, %llu failed connects, %llu connections lost, %llu polls "
           "skipped; peer %d's bus: %llu connects, %llu lost\n",
           (unsigned long long)bus_sum.transactions, (unsigned long long)bus_sum.opens,
           (unsigned long long)bus_sum.open_failures, (unsigned long long)bus_sum.losses,
           (unsigned long long)bus_sum.skipped_polls, RESTART_ENDPOINT, (unsigned long long)victim_stats.opens,
           (unsigned long long)victim_stats.losses);
    printf("  side thread: %lu statistics calls (%lu failed), %lu look-ups, %lu plans; %lu writes: %lu ok; "
           "%lu of %lu setpoints written seen in readings",
           side.stats_calls, side.stats_failures, side.lookups, side.plans, side.writes, side.writes_ok,
           (unsigned long)atomic_load(&setpoints_seen), side.setpoints_ok);
    for (int i = 0; i < 8 && side.failure_counts[i]; i++)
        printf("; %lu failed: %s", side.failure_counts[i], edgecore_strerror(side.failure_codes[i]));
    printf("\n");

    int failures = 0;
    int first = 0;
    while (first < nsamples && samples[first].t < warmup) first++;
    int judged = nsamples - first;
    if (nsamples == 0) {
        printf("  no sample taken\n");
        failures++;
    } else {
        const struct sample *a = &samples[0], *z = &samples[nsamples - 1];
        const struct sample *w = first < nsamples ? &samples[first] : z;
        printf("  RSS KiB: first %ld (anon %ld), after warm-up %ld (anon %ld), last %ld (anon %ld); fds: %d, %d, %d; "
               "threads: %d, %d, %d\n",
               a->rss_kb, a->anon_kb, w->rss_kb, w->anon_kb, z->rss_kb, z->anon_kb, a->fds,
               first < nsamples ? samples[first].fds : -1, z->fds, a->threads,
               first < nsamples ? samples[first].threads : -1, z->threads);
    }
    if (judged < 6) {
        printf("  growth: not judged, %d samples after the warm-up (6 needed)\n", judged);
    } else {
        int third = judged / 3;
        long early = median_rss(samples, first, first + third, 0);
        long late = median_rss(samples, nsamples - third, nsamples, 0);
        long early_anon = median_rss(samples, first, first + third, 1);
        long late_anon = median_rss(samples, nsamples - third, nsamples, 1);
        int rss_ok = late - early <= rss_tolerance_kb;
        printf("  RSS: median of the first third after warm-up %ld KiB, of the last third %ld KiB: %+ld KiB "
               "(tolerance %ld) %s; slope after warm-up %+.1f KiB/min; anon %ld -> %ld KiB: %+ld\n",
               early, late, late - early, rss_tolerance_kb, rss_ok ? "flat" : "GROWS",
               rss_slope(samples, first, nsamples), early_anon, late_anon, late_anon - early_anon);
        failures += !rss_ok;
        const struct sample *base = &samples[first];
        int fd_moves = 0, thread_moves = 0, excluded = 0;
        for (int i = first; i < nsamples; i++) {
            if (samples[i].outage) {
                excluded++;
                continue;
            }
            fd_moves += samples[i].fds != base->fds;
            thread_moves += samples[i].threads != base->threads;
        }
        fd_moves += samples[nsamples - 1].outage && samples[nsamples - 1].fds != base->fds;
        printf("  fds: %d samples of %d differ from %d (%d taken during the peer restart not judged) %s\n", fd_moves,
               judged - excluded, base->fds, excluded, fd_moves ? "MOVES" : "flat");
        printf("  threads: %d samples of %d differ from %d %s\n", thread_moves, judged - excluded, base->threads,
               thread_moves ? "MOVES" : "flat");
        if (fd_moves) printf("  open fds at the end, before stopping the engine:\n%s", fds_at_end);
        failures += fd_moves > 0;
        failures += thread_moves > 0;
    }
    if (stale_buses) printf("  %d buses without an OK reading in the last %d s\n", stale_buses, LAST_OK_SECONDS);
    failures += stale_buses > 0;
    if (restart) {
        if (phase == -1) printf("  restarted peer: did NOT come back (after %d restarts)\n", restarts);
        else if (restarts == 0) printf("  restarted peer: not stopped (run too short)\n");
        else printf("  restarted peer: %d restarts, bus and devices back at most %.1f s after it listened again\n",
                    restarts, recovered_max);
        failures += phase == -1;
    }
    failures += failed_consumer;
    printf("soak verdict: %s\n", failures ? "FAIL" : "PASS");
    if (!failures) {
        for (int ep = 0; ep < ENDPOINTS; ep++) {
            unlink(peers[ep].map);
            unlink(peers[ep].log);
        }
        rmdir(scratch);
    } else {
        printf("soak: peer logs kept in %s\n", scratch);
    }
    return failures ? 1 : 0;
}
