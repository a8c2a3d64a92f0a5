/* greenhouse_controller: runs a site file's engine and closes the greenhouse's loops with the controller
 * module (greenhouse_control.c; rules and behaviour: docs/greenhouse-controller.md).
 *
 *   greenhouse_controller [--time-scale K] [--override-file F] [--seconds N] --rules RULES SITE.yaml
 *
 * Links libEdgeCore only. Exit codes: 0 stopped (SIGINT, SIGTERM, --seconds) with every actuator at its
 * safe state; 1 runtime failure; 2 usage; 3 site file or rules file refused.
 */
#define _POSIX_C_SOURCE 200809L
#include "greenhouse_control.h"

#include <edgecore.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_SITE = 3 };

static const char usage_text[] =
    "usage: greenhouse_controller [--time-scale K] [--override-file F] [--seconds N] --rules RULES SITE.yaml\n"
    "Runs the site file's engine (and its journal) and controls irrigation, fertigation, the main pump and\n"
    "the vent fan by the rules file; fails safe on unusable readings and failed writes.\n"
    "\n"
    "  --rules RULES        the rules file (format: docs/greenhouse-controller.md); required\n"
    "  --time-scale K       controller seconds per real second, 0.001..1000000 (default 1): durations and\n"
    "                       reading ages of the rules are measured on this clock (a site simulated K times\n"
    "                       faster)\n"
    "  --override-file F    manual overrides: lines 'CHANNEL VALUE' (an override channel of the rules;\n"
    "                       -1 auto, 0 force off, 1 force on), applied whenever the file changes\n"
    "  --seconds N          stop after N seconds (default 0: until SIGINT/SIGTERM)\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit codes: 0 stopped (every actuator at its safe state); 1 runtime failure; 2 usage; 3 site file or\n"
    "rules file refused (file:line and the reason on stderr).\n";

static volatile sig_atomic_t interrupted;
static void on_signal(int signal_number) { (void)signal_number; interrupted = 1; }

static void usage_error(const char *message, const char *detail) {
    fprintf(stderr, "greenhouse_controller: %s%s%s (greenhouse_controller --help lists the options)\n", message,
            detail ? ": " : "", detail ? detail : "");
    exit(EXIT_USAGE);
}

static int64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The override file: applied when its modification time or size changes. */
struct override_file {
    const char *path;
    struct timespec mtime;
    off_t size;
    int seen;
};

static void apply_override_file(struct override_file *f, struct edgecore_engine *engine, struct gc_controller *c) {
    struct stat st;
    if (!f->path || stat(f->path, &st) != 0) return;
    if (f->seen && st.st_mtim.tv_sec == f->mtime.tv_sec && st.st_mtim.tv_nsec == f->mtime.tv_nsec &&
        st.st_size == f->size)
        return;
    f->seen = 1;
    f->mtime = st.st_mtim;
    f->size = st.st_size;
    FILE *in = fopen(f->path, "r");
    if (!in) {
        fprintf(stderr, "greenhouse_controller: %s: %s\n", f->path, strerror(errno));
        return;
    }
    char line[512];
    for (int number = 1; fgets(line, sizeof line, in); number++) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char name[256], extra[8];
        double value;
        int fields = sscanf(line, "%255s %lf %7s", name, &value, extra);
        if (fields <= 0) continue;
        uint32_t id;
        if (fields != 2 || (value != -1 && value != 0 && value != 1)) {
            fprintf(stderr, "greenhouse_controller: %s:%d: expected 'CHANNEL -1|0|1'\n", f->path, number);
        } else if (edgecore_engine_find_channel(engine, name, &id) != 0 || !gc_is_override(c, id)) {
            fprintf(stderr, "greenhouse_controller: %s:%d: '%s' is not an override channel of the rules\n", f->path,
                    number, name);
        } else {
            int rc = edgecore_engine_write(engine, id, value, 1000);
            if (rc != 0)
                fprintf(stderr, "greenhouse_controller: %s:%d: writing %s: %s\n", f->path, number, name,
                        edgecore_strerror(rc));
        }
    }
    fclose(in);
}

int main(int argc, char **argv) {
    enum { O_RULES = 256, O_SCALE, O_OVERRIDE, O_SECONDS };
    static const struct option options[] = {
        {"rules", required_argument, 0, O_RULES}, {"time-scale", required_argument, 0, O_SCALE},
        {"override-file", required_argument, 0, O_OVERRIDE}, {"seconds", required_argument, 0, O_SECONDS},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *rules = NULL;
    double scale = 1, seconds = 0;
    struct override_file override = {0};
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
        case O_RULES: rules = optarg; break;
        case O_SCALE:
            scale = strtod(optarg, &end);
            if (end == optarg || *end || !(scale >= 0.001 && scale <= 1e6))
                usage_error("--time-scale: expected a number from 0.001 to 1000000, got", optarg);
            break;
        case O_OVERRIDE: override.path = optarg; break;
        case O_SECONDS:
            seconds = strtod(optarg, &end);
            if (end == optarg || *end || !(seconds >= 0 && seconds <= 1e8))
                usage_error("--seconds: expected a number of seconds >= 0, got", optarg);
            break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case ':': usage_error("this option needs a value", argv[optind - 1]); break;
        default: usage_error("unknown option", argv[optind - 1]); break;
        }
    }
    if (!rules) usage_error("--rules RULES is required", NULL);
    if (optind == argc) usage_error("no site file given", NULL);
    if (optind + 1 < argc) usage_error("one site file only; extra", argv[optind + 1]);
    const char *site = argv[optind];
    setvbuf(stderr, NULL, _IOLBF, 0);

    struct sigaction action = {.sa_handler = on_signal};
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    struct edgecore_engine *engine = NULL;
    int rc = edgecore_engine_create(NULL, &engine);
    if (rc != 0) {
        fprintf(stderr, "greenhouse_controller: cannot create the engine: %s\n", edgecore_strerror(rc));
        return EXIT_RUNTIME;
    }
    rc = edgecore_engine_load_yaml(engine, site);
    if (rc != 0) {
        const char *detail = edgecore_engine_last_error();
        fprintf(stderr, "greenhouse_controller: %s%s%s\n", detail[0] ? "" : site, detail[0] ? detail : ": ",
                detail[0] ? "" : edgecore_strerror(rc));
        edgecore_engine_destroy(engine);
        return EXIT_SITE;
    }
    struct gc_controller *c = NULL;
    char error[1024];
    if (gc_load(engine, rules, scale, stderr, &c, error, sizeof error) != 0) {
        fprintf(stderr, "greenhouse_controller: %s\n", error);
        edgecore_engine_destroy(engine);
        return EXIT_SITE;
    }
    rc = edgecore_engine_start(engine);
    if (rc != 0) {
        fprintf(stderr, "greenhouse_controller: the engine did not start: %s\n", edgecore_engine_last_error());
        gc_free(c);
        edgecore_engine_destroy(engine);
        return EXIT_RUNTIME;
    }
    gc_begin(c, realtime_ns());
    enum { BATCH = 512 };
    static struct edgecore_reading readings[BATCH];
    int64_t started = monotonic_ms(), next_tick = started;
    int status = EXIT_OK;
    while (!interrupted) {
        int64_t now = monotonic_ms();
        if (seconds > 0 && now - started >= (int64_t)(seconds * 1000)) break;
        int64_t wait = next_tick - now;
        if (wait > 0) {
            rc = edgecore_engine_wait(engine, (int32_t)(wait < 200 ? wait : 200));
            if (rc == EDGECORE_E_NOT_RUNNING) {
                fprintf(stderr, "greenhouse_controller: the engine stopped\n");
                status = EXIT_RUNTIME;
                break;
            }
        }
        for (int k = 0; k < 64; k++) {
            int n = edgecore_engine_drain(engine, readings, BATCH);
            if (n <= 0) break;
            gc_feed(c, readings, (size_t)n);
        }
        now = monotonic_ms();
        if (now >= next_tick) {
            apply_override_file(&override, engine, c);
            gc_tick(c, realtime_ns());
            next_tick += gc_tick_ms(c);
            if (next_tick < now) next_tick = now + gc_tick_ms(c);
        }
    }
    int n = edgecore_engine_drain(engine, readings, BATCH);
    if (n > 0) gc_feed(c, readings, (size_t)n);
    if (gc_safe_stop(c) != 0 && status == EXIT_OK) status = EXIT_RUNTIME;
    edgecore_engine_stop(engine);
    gc_free(c);
    edgecore_engine_destroy(engine);
    return status;
}
