/* edgecore watch: run a site file and show its channels live. On a terminal, a table redrawn in place (at most
 * four times a second): each channel's latest value, unit, status, age and its device's health, then the
 * devices with their last problem. Otherwise (a pipe, a file, --json, --csv): one line per reading. */
#include "tool.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static const char WATCH_HELP[] =
    "usage: edgecore watch [--json | --csv | --format table|json|csv] [--duration S] [--channel NAME]... SITE\n"
    "Load the site file SITE, start it and show its readings until interrupted (Ctrl-C) or S seconds.\n"
    "On a terminal: a table redrawn in place (at most 4 times a second), one row per channel: name, latest\n"
    "value, unit, status (an exception with its code), age of the reading in seconds, and its device's\n"
    "health (ok, failing, offline: backing off, waiting: not polled yet), then each device's counters and\n"
    "last problem. Not a terminal, or table format asked for explicitly: one line per reading.\n"
    "  --json, --csv, --format F  one line per reading (JSON lines or CSV) with its UTC timestamp\n"
    "  --duration S               stop after S seconds (S > 0, fractions allowed)\n"
    "  --channel NAME             only this channel (several allowed)\n"
    "Exit: 0 stopped (interrupted or --duration), 1 runtime failure, 2 usage, 3 site refused,\n"
    "4 a serial port, GPIO chip or line missing or busy.\n";

enum { OPT_JSON = 1000, OPT_CSV, OPT_FORMAT, OPT_DURATION, OPT_CHANNEL };

static const struct option WATCH_OPTIONS[] = {
    {"help", no_argument, NULL, 'h'},
    {"json", no_argument, NULL, OPT_JSON},
    {"csv", no_argument, NULL, OPT_CSV},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"channel", required_argument, NULL, OPT_CHANNEL},
    {0, 0, 0, 0}};

/* The latest reading of each channel shown. */
struct row {
    uint32_t channel, device;
    const char *name, *unit;
    struct edgecore_reading last;
    int seen;
};

static int64_t now_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *health_name(const struct edgecore_device_stats *s) {
    switch (s->state) {
    case EDGECORE_DEVICE_ONLINE: return "ok";
    case EDGECORE_DEVICE_FAILING: return "failing";
    case EDGECORE_DEVICE_OFFLINE: return "offline";
    default: return "waiting";
    }
}

static int terminal_columns(void) {
    struct winsize size;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col >= 40) return size.ws_col;
    return 120;
}

/* One line of the table, cut to the terminal's width, erasing what the last frame left to its right. */
static void table_line(int columns, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void table_line(int columns, const char *format, ...) {
    char text[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    if ((int)strlen(text) > columns - 1) text[columns - 1] = '\0';
    printf("%s\033[K\n", text);
}

static void draw_table(struct edgecore_engine *engine, const char *site, const struct row *rows, int count,
                       uint64_t readings) {
    int columns = terminal_columns();
    int64_t now = now_realtime_ns();
    char when[40];
    iso_time(now, when, sizeof when);
    printf("\033[H");
    table_line(columns, "edgecore watch %s   %s   %d channels, %llu readings   (Ctrl-C stops)", site, when, count,
               (unsigned long long)readings);
    table_line(columns, "%s", "");
    table_line(columns, "%-32s %16s %-6s %-16s %8s  %-16s %s", "channel", "value", "unit", "status", "age s", "device",
               "health");
    uint32_t devices = 0;
    edgecore_engine_counts(engine, NULL, &devices, NULL);
    for (int i = 0; i < count; i++) {
        const struct row *r = &rows[i];
        char value[40] = "-", status[40] = "waiting", age[24] = "-";
        const char *device_name = "gpio", *health = "";
        if (r->seen) {
            int show = (r->last.status == EDGECORE_STATUS_OK || r->last.status == EDGECORE_STATUS_OUT_OF_RANGE ||
                        r->last.status == EDGECORE_STATUS_STALE) && isfinite(r->last.value);
            if (show) snprintf(value, sizeof value, "%.10g", r->last.value);
            if (r->last.status == EDGECORE_STATUS_EXCEPTION)
                snprintf(status, sizeof status, "exception %u", r->last.status_detail);
            else
                snprintf(status, sizeof status, "%s", edgecore_status_name(r->last.status));
            double seconds = (double)(now - r->last.timestamp_ns) / 1e9;
            snprintf(age, sizeof age, "%.1f", seconds < 0 ? 0.0 : seconds);
        }
        struct edgecore_device_stats stats;
        if (r->device != UINT32_MAX && edgecore_engine_device_stats(engine, r->device, &stats) == EDGECORE_OK) {
            edgecore_engine_device_info(engine, r->device, &device_name, NULL, NULL);
            health = health_name(&stats);
        }
        table_line(columns, "%-32s %16s %-6s %-16s %8s  %-16s %s", r->name, value, r->unit, status, age, device_name,
                   health);
    }
    if (devices) {
        table_line(columns, "%s", "");
        table_line(columns, "%-16s %-8s %9s %9s %8s %8s %8s  %s", "device", "health", "requests", "answers",
                   "timeouts", "errors", "in a row", "last problem");
    }
    for (uint32_t d = 0; d < devices; d++) {
        struct edgecore_device_stats s;
        const char *name = "?";
        if (edgecore_engine_device_stats(engine, d, &s) != EDGECORE_OK) continue;
        edgecore_engine_device_info(engine, d, &name, NULL, NULL);
        char problem[200] = "";
        edgecore_engine_device_last_problem(engine, d, problem, sizeof problem);
        table_line(columns, "%-16s %-8s %9llu %9llu %8llu %8llu %8u  %s", name, health_name(&s),
                   (unsigned long long)s.requests, (unsigned long long)s.responses, (unsigned long long)s.timeouts,
                   (unsigned long long)(s.frame_errors + s.exceptions + s.disconnects), s.consecutive_failures,
                   problem);
    }
    printf("\033[J");
    fflush(stdout);
}

int cmd_watch(int argc, char **argv) {
    int opt, rc = EXIT_OK, format = FORMAT_TABLE, format_given = 0;
    double duration = 0;
    const char *names[MAX_CHANNELS];
    int name_count = 0;
    while ((opt = getopt_long(argc, argv, ":h", WATCH_OPTIONS, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(WATCH_HELP, stdout); return EXIT_OK;
        case OPT_JSON: format = FORMAT_JSON; format_given = 1; break;
        case OPT_CSV: format = FORMAT_CSV; format_given = 1; break;
        case OPT_FORMAT: {
            static const char *const FORMATS[] = {"table", "json", "csv"};
            rc = pick("--format", optarg, FORMATS, 3, "table, json, csv", &format);
            format_given = 1;
            break;
        }
        case OPT_DURATION:
            rc = parse_double("--duration", optarg, &duration);
            if (rc == EXIT_OK && (duration <= 0 || duration > 1e9))
                rc = usage_error("--duration: '%s' is not a number of seconds above 0", optarg);
            break;
        case OPT_CHANNEL:
            if (name_count == MAX_CHANNELS) return usage_error("at most %d --channel", MAX_CHANNELS);
            names[name_count++] = optarg;
            break;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return unknown_option(argv);
        }
        if (rc != EXIT_OK) return rc;
    }
    if (argc - optind != 1) return usage_error("expected one site file, got %d arguments", argc - optind);
    const char *site = argv[optind];
    /* the live table on a terminal unless a format was asked for; table format on a pipe: plain lines */
    int live = format == FORMAT_TABLE && !format_given && isatty(STDOUT_FILENO);

    struct edgecore_engine *engine;
    int status = load_site(&engine, site);
    if (status != EXIT_OK) return status;
    uint32_t channel_total = 0;
    edgecore_engine_counts(engine, NULL, NULL, &channel_total);
    static struct row rows[MAX_CHANNELS * 8];
    int count = 0;
    if (name_count) {
        for (int i = 0; i < name_count; i++) {
            if (edgecore_engine_find_channel(engine, names[i], &rows[count].channel) != EDGECORE_OK) {
                edgecore_engine_destroy(engine);
                return usage_error("--channel: no channel '%s' in %s", names[i], site);
            }
            int duplicate = 0;
            for (int j = 0; j < count; j++) duplicate |= rows[j].channel == rows[count].channel;
            if (!duplicate) count++;
        }
    } else {
        for (uint32_t c = 0; c < channel_total && count < (int)(sizeof rows / sizeof rows[0]); c++)
            rows[count++].channel = c;
    }
    for (int i = 0; i < count; i++) {
        rows[i].name = "?";
        rows[i].unit = "";
        rows[i].device = UINT32_MAX;
        edgecore_engine_channel_info(engine, rows[i].channel, &rows[i].name, &rows[i].unit, &rows[i].device);
        if (!rows[i].unit) rows[i].unit = "";
    }
    status = check_serial_ports(engine);
    if (status != EXIT_OK) {
        edgecore_engine_destroy(engine);
        return status;
    }
    rc = edgecore_engine_start(engine);
    if (rc != EDGECORE_OK) {
        const char *detail = edgecore_engine_last_error();
        if (rc == -ENOENT || rc == -EBUSY || rc == -EACCES || rc == -ENODEV) {
            fprintf(stderr, "%s: %s: %s%s%s\n", subcommand, site, edgecore_strerror(rc), detail[0] ? ": " : "", detail);
            status = EXIT_PORT;
        } else {
            status = runtime_error("start", rc);
        }
        edgecore_engine_destroy(engine);
        return status;
    }

    if (live) printf("\033[?25l\033[2J");
    else print_header((enum format)format);
    fflush(stdout);
    double started = now_seconds(), drawn = 0;
    uint64_t readings = 0;
    int dirty = 1;
    struct edgecore_reading batch[256];
    while (!interrupted) {
        double now = now_seconds();
        if (duration > 0 && now - started >= duration) break;
        if (live && (now - drawn >= 1.0 || (dirty && now - drawn >= 0.25))) {
            draw_table(engine, site, rows, count, readings);
            drawn = now;
            dirty = 0;
        }
        double wait_s = live ? 0.25 : 0.5;
        if (duration > 0 && started + duration - now < wait_s) wait_s = started + duration - now;
        rc = edgecore_engine_wait(engine, (int32_t)(wait_s * 1000) + 1);
        if (rc == EDGECORE_E_TIMEOUT) continue;
        if (rc < 0) {
            if (!interrupted) status = runtime_error("wait", rc);
            break;
        }
        int n = edgecore_engine_drain(engine, batch, 256);
        for (int i = 0; i < n; i++) {
            int index = -1;
            for (int c = 0; c < count && index < 0; c++)
                if (rows[c].channel == batch[i].channel) index = c;
            if (index < 0) continue;
            rows[index].last = batch[i];
            rows[index].seen = 1;
            readings++;
            dirty = 1;
            if (!live) print_reading(engine, &batch[i], (enum format)format);
        }
        if (!live) fflush(stdout);
    }
    if (live) {
        draw_table(engine, site, rows, count, readings);
        printf("\033[?25h");
        fflush(stdout);
    }
    edgecore_engine_stop(engine);
    edgecore_engine_destroy(engine);
    return status;
}
