/*
 * Proof of the GPIO real-kernel rig (Tests/GPIO/vm): runs inside the qemu guest against gpio-sim.
 * Built by build-test.sh against libgpiod 1.6 (v1 API) or, with -DGPIOD_V2, libgpiod 2.x (v2 API).
 * Reads the rig's environment (GPIOSIM_CHIP0, GPIOSIM_SYSFS0, GPIOSIM_LABEL0, GPIOSIM_CHIP1, ...) and
 * prints one "PASS name" or "FAIL name: why" line per check; exit status 0 only if every check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef GPIOD_V2
#define API "v2"
#define LIB_VERSION() gpiod_api_version()
#else
#define API "v1"
#define LIB_VERSION() gpiod_version_string()
#endif

static int failures;

static void pass(const char *name) { printf("PASS demo.%s\n", name); fflush(stdout); }

static void fail(const char *name, const char *fmt, ...) {
    va_list ap;
    printf("FAIL demo.%s: ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    failures++;
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "demo_test: %s is not set (run inside Tests/GPIO/vm/run.sh)\n", name);
        exit(2);
    }
    return v;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* sysfs attribute of the simulated line: $GPIOSIM_SYSFS0/sim_gpioN/{pull,value} */
static int sim_open(int offset, const char *attr, int flags) {
    char path[512];
    snprintf(path, sizeof path, "%s/sim_gpio%d/%s", env("GPIOSIM_SYSFS0"), offset, attr);
    return open(path, flags);
}

static int sim_write(int fd, const char *s) {
    return pwrite(fd, s, strlen(s), 0) == (ssize_t)strlen(s) ? 0 : -1;
}

static int sim_set_pull(int offset, int up) {
    int fd = sim_open(offset, "pull", O_WRONLY);
    if (fd < 0) return -1;
    int rc = sim_write(fd, up ? "pull-up" : "pull-down");
    close(fd);
    return rc;
}

static int sim_read_value(int offset) {
    char buf[8] = {0};
    int fd = sim_open(offset, "value", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? buf[0] - '0' : -1;
}

/* ---- a thin shim over the two libgpiod generations ---------------------------------------------------- */

enum bias { BIAS_NONE, BIAS_PULL_UP };

#ifdef GPIOD_V2
typedef struct gpiod_line_request line_t;
static struct gpiod_chip *chip_open(const char *path) { return gpiod_chip_open(path); }
static void chip_close(struct gpiod_chip *c) { gpiod_chip_close(c); }
static int chip_lines(struct gpiod_chip *c, char *label, size_t n) {
    struct gpiod_chip_info *info = gpiod_chip_get_info(c);
    if (!info) return -1;
    snprintf(label, n, "%s", gpiod_chip_info_get_label(info));
    int lines = (int)gpiod_chip_info_get_num_lines(info);
    gpiod_chip_info_free(info);
    return lines;
}
static int find_line(struct gpiod_chip *c, const char *name) { return gpiod_chip_get_line_offset_from_name(c, name); }
static line_t *request(struct gpiod_chip *c, unsigned offset, enum gpiod_line_direction dir,
                       enum gpiod_line_bias bias, enum gpiod_line_edge edge, int value) {
    struct gpiod_line_settings *s = gpiod_line_settings_new();
    struct gpiod_line_config *lc = gpiod_line_config_new();
    struct gpiod_request_config *rc = gpiod_request_config_new();
    line_t *r = NULL;
    if (s && lc && rc) {
        gpiod_line_settings_set_direction(s, dir);
        gpiod_line_settings_set_bias(s, bias);
        gpiod_line_settings_set_edge_detection(s, edge);
        gpiod_line_settings_set_event_clock(s, GPIOD_LINE_CLOCK_MONOTONIC);
        if (dir == GPIOD_LINE_DIRECTION_OUTPUT)
            gpiod_line_settings_set_output_value(s, value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
        gpiod_request_config_set_consumer(rc, "demo_test");
        if (gpiod_line_config_add_line_settings(lc, &offset, 1, s) == 0) r = gpiod_chip_request_lines(c, rc, lc);
    }
    gpiod_request_config_free(rc);
    gpiod_line_config_free(lc);
    gpiod_line_settings_free(s);
    return r;
}
static line_t *request_input(struct gpiod_chip *c, unsigned off, enum bias b) {
    return request(c, off, GPIOD_LINE_DIRECTION_INPUT, b == BIAS_PULL_UP ? GPIOD_LINE_BIAS_PULL_UP : GPIOD_LINE_BIAS_AS_IS,
                   GPIOD_LINE_EDGE_NONE, 0);
}
static line_t *request_output(struct gpiod_chip *c, unsigned off, int v) {
    return request(c, off, GPIOD_LINE_DIRECTION_OUTPUT, GPIOD_LINE_BIAS_AS_IS, GPIOD_LINE_EDGE_NONE, v);
}
static line_t *request_edges(struct gpiod_chip *c, unsigned off) {
    return request(c, off, GPIOD_LINE_DIRECTION_INPUT, GPIOD_LINE_BIAS_AS_IS, GPIOD_LINE_EDGE_BOTH, 0);
}
static unsigned line_offset_of(line_t *l) {
    unsigned off = 0;
    gpiod_line_request_get_requested_offsets(l, &off, 1);
    return off;
}
static int get_value(line_t *l) {
    int v = gpiod_line_request_get_value(l, line_offset_of(l));
    return v == GPIOD_LINE_VALUE_ERROR ? -1 : v == GPIOD_LINE_VALUE_ACTIVE;
}
static int set_value(line_t *l, int v) {
    return gpiod_line_request_set_value(l, line_offset_of(l), v ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
}
static void release(line_t *l) { if (l) gpiod_line_request_release(l); }
static struct gpiod_edge_event_buffer *evbuf;
/* 1: event (*rising, *ts_ns), 0: timeout, -1: error */
static int wait_event(line_t *l, int64_t timeout_ns, int *rising, uint64_t *ts_ns) {
    if (!evbuf) evbuf = gpiod_edge_event_buffer_new(1);
    int rc = gpiod_line_request_wait_edge_events(l, timeout_ns);
    if (rc <= 0) return rc;
    if (gpiod_line_request_read_edge_events(l, evbuf, 1) != 1) return -1;
    struct gpiod_edge_event *ev = gpiod_edge_event_buffer_get_event(evbuf, 0);
    *rising = gpiod_edge_event_get_event_type(ev) == GPIOD_EDGE_EVENT_RISING_EDGE;
    *ts_ns = gpiod_edge_event_get_timestamp_ns(ev);
    return 1;
}
#else
typedef struct gpiod_line line_t;
static struct gpiod_chip *chip_open(const char *path) { return gpiod_chip_open(path); }
static void chip_close(struct gpiod_chip *c) { gpiod_chip_close(c); }
static int chip_lines(struct gpiod_chip *c, char *label, size_t n) {
    snprintf(label, n, "%s", gpiod_chip_label(c));
    return (int)gpiod_chip_num_lines(c);
}
static int find_line(struct gpiod_chip *c, const char *name) {
    struct gpiod_line *l = gpiod_chip_find_line(c, name);
    return l ? (int)gpiod_line_offset(l) : -1;
}
static line_t *request_input(struct gpiod_chip *c, unsigned off, enum bias b) {
    line_t *l = gpiod_chip_get_line(c, off);
    int flags = b == BIAS_PULL_UP ? GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP : 0;
    return l && gpiod_line_request_input_flags(l, "demo_test", flags) == 0 ? l : NULL;
}
static line_t *request_output(struct gpiod_chip *c, unsigned off, int v) {
    line_t *l = gpiod_chip_get_line(c, off);
    return l && gpiod_line_request_output(l, "demo_test", v) == 0 ? l : NULL;
}
static line_t *request_edges(struct gpiod_chip *c, unsigned off) {
    line_t *l = gpiod_chip_get_line(c, off);
    return l && gpiod_line_request_both_edges_events(l, "demo_test") == 0 ? l : NULL;
}
static int get_value(line_t *l) { return gpiod_line_get_value(l); }
static int set_value(line_t *l, int v) { return gpiod_line_set_value(l, v); }
static void release(line_t *l) { if (l) gpiod_line_release(l); }
static int wait_event(line_t *l, int64_t timeout_ns, int *rising, uint64_t *ts_ns) {
    struct timespec to = { (time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000) };
    int rc = gpiod_line_event_wait(l, &to);
    if (rc <= 0) return rc;
    struct gpiod_line_event ev;
    if (gpiod_line_event_read(l, &ev) != 0) return -1;
    *rising = ev.event_type == GPIOD_LINE_EVENT_RISING_EDGE;
    *ts_ns = (uint64_t)ev.ts.tv_sec * 1000000000u + (uint64_t)ev.ts.tv_nsec;
    return 1;
}
#endif

/* ---- checks ----------------------------------------------------------------------------------------- */

static void check_chip(const char *name, const char *path, const char *label_env, int want_lines) {
    struct gpiod_chip *c = chip_open(path);
    if (!c) { fail(name, "open %s: %s", path, strerror(errno)); return; }
    char label[64];
    int lines = chip_lines(c, label, sizeof label);
    if (lines != want_lines) fail(name, "%s has %d lines, want %d", path, lines, want_lines);
    else if (strcmp(label, env(label_env)) != 0) fail(name, "label '%s', want '%s'", label, env(label_env));
    else pass(name);
    chip_close(c);
}

static void check_names(struct gpiod_chip *c) {
    int a = find_line(c, "s0-meter"), b = find_line(c, "valve");
    if (a == 0 && b == 1) pass("line_names");
    else fail("line_names", "s0-meter at %d, valve at %d (want 0, 1)", a, b);
}

static void check_input_bias(struct gpiod_chip *c) {
    line_t *l = request_input(c, 2, BIAS_PULL_UP);
    if (!l) { fail("input_bias", "request line 2: %s", strerror(errno)); return; }
    int up = get_value(l);
    int rc = sim_set_pull(2, 0);
    int down = get_value(l);
    int rc2 = sim_set_pull(2, 1);
    int up2 = get_value(l);
    release(l);
    if (up == 1 && rc == 0 && down == 0 && rc2 == 0 && up2 == 1) pass("input_bias");
    else fail("input_bias", "pull-up bias read %d, sim pull-down read %d, sim pull-up read %d (want 1 0 1)", up, down, up2);
}

static void check_output(struct gpiod_chip *c) {
    line_t *l = request_output(c, 3, 0);
    if (!l) { fail("output", "request line 3: %s", strerror(errno)); return; }
    int v0 = sim_read_value(3);
    int rc = set_value(l, 1);
    int v1 = sim_read_value(3);
    set_value(l, 0);
    int v2 = sim_read_value(3);
    release(l);
    if (v0 == 0 && rc == 0 && v1 == 1 && v2 == 0) pass("output");
    else fail("output", "sim value %d -> set 1 (rc %d) -> %d -> set 0 -> %d (want 0 1 0)", v0, rc, v1, v2);
}

static void check_edges(struct gpiod_chip *c, int toggles) {
    const char *name = "edges_1000";
    if (sim_set_pull(4, 0) != 0) { fail(name, "sim pull line 4: %s", strerror(errno)); return; }
    line_t *l = request_edges(c, 4);
    if (!l) { fail(name, "request edges on line 4: %s", strerror(errno)); return; }
    int fd = sim_open(4, "pull", O_WRONLY);
    int count = 0, bad_type = 0, bad_ts = 0, timeouts = 0, err = 0;
    uint64_t last_ts = 0, t_start = now_ns();
    for (int i = 0; i < toggles && fd >= 0; i++) {
        int up = !(i & 1);  /* starts low: rising, falling, rising, ... */
        uint64_t before = now_ns();
        if (sim_write(fd, up ? "pull-up" : "pull-down") != 0) { err = errno; break; }
        /* handshake: the next toggle only after this edge arrived (v1 queues 16 events, silently drops) */
        int rising = 0; uint64_t ts = 0;
        int rc = wait_event(l, 1000000000, &rising, &ts);
        uint64_t after = now_ns();
        if (rc == 0) { timeouts++; continue; }
        if (rc < 0) { err = errno; break; }
        count++;
        if (rising != up) bad_type++;
        if (ts <= last_ts || ts < before || ts > after) bad_ts++;
        last_ts = ts;
    }
    uint64_t elapsed = now_ns() - t_start;
    /* nothing more may arrive */
    int rising = 0; uint64_t ts = 0; int extra = 0;
    while (wait_event(l, 100000000, &rising, &ts) == 1) extra++;
    if (fd >= 0) close(fd);
    release(l);
    if (count == toggles && !bad_type && !bad_ts && !timeouts && !extra && !err) {
        pass(name);
        printf("info: %d edges in %.1f ms (%.1f us per toggle+event)\n", count, elapsed / 1e6,
               elapsed / 1e3 / toggles);
    } else {
        fail(name, "%d/%d edges, %d wrong type, %d bad timestamps, %d timeouts, %d extra, error '%s'", count,
             toggles, bad_type, bad_ts, timeouts, extra, err ? strerror(err) : "none");
    }
}

int main(void) {
    printf("info: demo_test libgpiod %s API (%s), chip0 %s, chip1 %s\n", API, LIB_VERSION(),
           env("GPIOSIM_CHIP0"), env("GPIOSIM_CHIP1"));
    check_chip("chip0", env("GPIOSIM_CHIP0"), "GPIOSIM_LABEL0", 16);
    check_chip("chip1", env("GPIOSIM_CHIP1"), "GPIOSIM_LABEL1", 8);
    struct gpiod_chip *c = chip_open(env("GPIOSIM_CHIP0"));
    if (!c) {
        fail("open", "%s: %s", env("GPIOSIM_CHIP0"), strerror(errno));
        return 1;
    }
    check_names(c);
    check_input_bias(c);
    check_output(c);
    check_edges(c, 1000);
    chip_close(c);
    return failures ? 1 : 0;
}
