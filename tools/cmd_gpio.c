/* edgecore gpio: GPIO chips and lines.
 *
 *   edgecore gpio list [CHIP]                          chips (name, label, lines) or one chip's lines
 *   edgecore gpio get CHIP LINE...                     read inputs (the engine's GPIO inputs)
 *   edgecore gpio set CHIP LINE=V... [--safe 0|1]      drive outputs and hold them until interrupted; then
 *                                                      the safe value (the engine's outputs), released
 *   edgecore gpio monitor CHIP LINE... [--edges E]     every edge with the kernel's timestamp
 *   edgecore gpio count CHIP LINE --seconds N          pulses counted (the engine's pulse counter, debounced)
 *
 * get, set and count go through libEdgeCore's GPIO engine (the libgpiod generation it was built with).
 * The library has no chip listing, line information or per-edge events: list, the busy check and monitor
 * use the kernel's GPIO character-device interface (<linux/gpio.h>, v2 ioctls, Linux >= 5.10; line
 * information falls back to v1) through libc. A line in use is reported with its consumer and, when one
 * is found, the process holding it (exit 4), never taken over. */
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINES 64
#define MAX_CHIPS 64

static const char USAGE[] =
    "usage: edgecore gpio list [CHIP] [--format table|json|csv]\n"
    "       edgecore gpio get CHIP LINE... [--bias B] [--format F]\n"
    "       edgecore gpio set CHIP LINE=VALUE... [--safe 0|1]\n"
    "       edgecore gpio monitor CHIP LINE... [--edges rising|falling|both] [--duration S] [--events N]\n"
    "                             [--bias B] [--format F]\n"
    "       edgecore gpio count CHIP LINE --seconds N [--debounce-us U] [--edge rising|falling|both]\n"
    "                           [--bias B] [--format F]\n"
    "CHIP: gpiochipN, /dev/gpiochipN or a chip label. LINE: an offset or a line name.\n"
    "set holds the lines until Ctrl-C / SIGTERM / SIGHUP, then drives them to the safe value (--safe, default\n"
    "0) and releases them. A line another process uses: exit 4, naming its consumer and process.\n"
    "Bias B: as-is (default), pull-up, pull-down, disabled. 'edgecore gpio SUB --help' for each.\n";

static const char *const FORMATS[] = {"table", "json", "csv"};
static const char *const EDGES[] = {"rising", "falling", "both"}; /* index + 1 = enum edgecore_gpio_edge */
static const char *const BIASES[] = {"as-is", "disabled", "pull-up", "pull-down"}; /* = enum edgecore_gpio_bias */

struct chip {
    char path[PATH_MAX];
    char name[GPIO_MAX_NAME_SIZE];
    char label[GPIO_MAX_NAME_SIZE];
    unsigned lines;
    int fd;
};

struct line_info {
    char name[GPIO_MAX_NAME_SIZE];
    char consumer[GPIO_MAX_NAME_SIZE];
    uint64_t flags; /* GPIO_V2_LINE_FLAG_* (v1 flags translated) */
};

/* ---------------------------------------------------------------------------------------------------- */
/* The kernel's GPIO character devices                                                                   */
/* ---------------------------------------------------------------------------------------------------- */

static int open_chip(const char *path, struct chip *c) {
    c->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0) return -errno;
    struct gpiochip_info info;
    memset(&info, 0, sizeof info);
    if (ioctl(c->fd, GPIO_GET_CHIPINFO_IOCTL, &info) != 0) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        return -e;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    snprintf(c->name, sizeof c->name, "%s", info.name);
    snprintf(c->label, sizeof c->label, "%s", info.label);
    c->lines = info.lines;
    return 0;
}

static int by_number(const void *a, const void *b) {
    return atoi((const char *)a + 8) - atoi((const char *)b + 8);
}

/* /dev/gpiochipN names in number order; returns how many (at most MAX_CHIPS). */
static int chip_names(char names[][32]) {
    DIR *dev = opendir("/dev");
    if (!dev) return 0;
    int count = 0;
    struct dirent *entry;
    while (count < MAX_CHIPS && (entry = readdir(dev))) {
        const char *n = entry->d_name;
        if (strncmp(n, "gpiochip", 8) || !n[8] || strspn(n + 8, "0123456789") != strlen(n + 8) || strlen(n) >= 32)
            continue;
        snprintf(names[count++], 32, "%s", n);
    }
    closedir(dev);
    qsort(names, (size_t)count, 32, by_number);
    return count;
}

/* CHIP as gpiochipN, a path or a label: opened into *c, else one line on stderr and EXIT_PORT. */
static int find_chip(const char *spec, struct chip *c) {
    char path[PATH_MAX];
    c->fd = -1;
    if (strchr(spec, '/')) snprintf(path, sizeof path, "%s", spec);
    else snprintf(path, sizeof path, "/dev/%s", spec);
    struct stat st;
    if (stat(path, &st) == 0) {
        int rc = open_chip(path, c);
        if (rc == 0) return EXIT_OK;
        fprintf(stderr, "%s: %s: %s\n", subcommand, path,
                rc == -ENOTTY || rc == -EINVAL ? "not a GPIO chip" : strerror(-rc));
        return EXIT_PORT;
    }
    if (strchr(spec, '/')) {
        fprintf(stderr, "%s: no GPIO chip %s (see 'edgecore gpio list')\n", subcommand, spec);
        return EXIT_PORT;
    }
    char names[MAX_CHIPS][32], known[512] = "";
    int count = chip_names(names);
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "/dev/%.31s", names[i]);
        struct chip candidate;
        if (open_chip(path, &candidate) != 0) continue;
        if (!strcmp(candidate.label, spec)) {
            *c = candidate;
            return EXIT_OK;
        }
        close(candidate.fd);
        size_t used = strlen(known);
        snprintf(known + used, sizeof known - used, "%s%s (%s)", used ? ", " : "", candidate.name, candidate.label);
    }
    fprintf(stderr, "%s: no GPIO chip named or labelled '%s' (chips: %s)\n", subcommand, spec,
            known[0] ? known : "none");
    return EXIT_PORT;
}

static int get_line_info(const struct chip *c, unsigned offset, struct line_info *out) {
    memset(out, 0, sizeof *out);
    struct gpio_v2_line_info v2;
    memset(&v2, 0, sizeof v2);
    v2.offset = offset;
    if (ioctl(c->fd, GPIO_V2_GET_LINEINFO_IOCTL, &v2) == 0) {
        snprintf(out->name, sizeof out->name, "%s", v2.name);
        snprintf(out->consumer, sizeof out->consumer, "%s", v2.consumer);
        out->flags = v2.flags;
        return 0;
    }
    if (errno != ENOTTY && errno != EINVAL) return -errno;
    struct gpioline_info v1; /* kernels before 5.10 */
    memset(&v1, 0, sizeof v1);
    v1.line_offset = offset;
    if (ioctl(c->fd, GPIO_GET_LINEINFO_IOCTL, &v1) != 0) return -errno;
    snprintf(out->name, sizeof out->name, "%s", v1.name);
    snprintf(out->consumer, sizeof out->consumer, "%s", v1.consumer);
    const struct { uint32_t v1; uint64_t v2; } map[] = {
        {GPIOLINE_FLAG_KERNEL, GPIO_V2_LINE_FLAG_USED},         {GPIOLINE_FLAG_ACTIVE_LOW, GPIO_V2_LINE_FLAG_ACTIVE_LOW},
        {GPIOLINE_FLAG_OPEN_DRAIN, GPIO_V2_LINE_FLAG_OPEN_DRAIN}, {GPIOLINE_FLAG_OPEN_SOURCE, GPIO_V2_LINE_FLAG_OPEN_SOURCE},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (v1.flags & map[i].v1) out->flags |= map[i].v2;
    out->flags |= (v1.flags & GPIOLINE_FLAG_IS_OUT) ? GPIO_V2_LINE_FLAG_OUTPUT : GPIO_V2_LINE_FLAG_INPUT;
    return 0;
}

/* LINE as an offset or a line name: its offset, else one line on stderr and EXIT_PORT. */
static int find_line(const struct chip *c, const char *spec, unsigned *offset) {
    if (spec[0] && strspn(spec, "0123456789") == strlen(spec)) {
        long v = strtol(spec, NULL, 10);
        if (strlen(spec) < 10 && v < (long)c->lines) {
            *offset = (unsigned)v;
            return EXIT_OK;
        }
        fprintf(stderr, "%s: %s has no line %s (offsets 0..%u)\n", subcommand, c->name, spec, c->lines - 1);
        return EXIT_PORT;
    }
    for (unsigned i = 0; i < c->lines; i++) {
        struct line_info info;
        if (get_line_info(c, i, &info) == 0 && !strcmp(info.name, spec)) {
            *offset = i;
            return EXIT_OK;
        }
    }
    fprintf(stderr, "%s: %s has no line named '%s' (see 'edgecore gpio list %s')\n", subcommand, c->name, spec,
            c->name);
    return EXIT_PORT;
}

/* The process holding a line that `consumer` requested: one running as `consumer` with the chip open or with
 * a line request of the kernel's (anon inode), else any process with the chip open; 0 when none. Sets
 * *chip_only when only the last kind was found. */
static long line_holder(const struct chip *c, const char *consumer, int *chip_only) {
    *chip_only = 0;
    char target[PATH_MAX];
    if (!realpath(c->path, target)) snprintf(target, sizeof target, "%s", c->path);
    static const char *const REQUESTS[] = {"anon_inode:gpio-line", "anon_inode:gpio-linehandle",
                                           "anon_inode:gpio-event"};
    long pid = consumer[0] ? fd_holder(target, consumer) : 0;
    for (int i = 0; !pid && consumer[0] && i < 3; i++) pid = fd_holder(REQUESTS[i], consumer);
    if (!pid && (pid = fd_holder(target, NULL))) *chip_only = 1;
    return pid;
}

static void describe_holder(const struct chip *c, const char *consumer, char *out, size_t size) {
    int chip_only;
    long pid = line_holder(c, consumer, &chip_only);
    if (pid && !chip_only) snprintf(out, size, "process %ld", pid);
    else if (pid) snprintf(out, size, "process %ld has %s open", pid, c->name);
    else snprintf(out, size, "no process found: a kernel driver or a sysfs export");
}

/* EXIT_OK when the line is free, else "CHIP line N (NAME): busy: consumer C (process P)" and EXIT_PORT. */
static int check_free(const struct chip *c, unsigned offset) {
    struct line_info info;
    int rc = get_line_info(c, offset, &info);
    if (rc != 0) {
        fprintf(stderr, "%s: %s line %u: %s\n", subcommand, c->name, offset, strerror(-rc));
        return EXIT_PORT;
    }
    if (!(info.flags & GPIO_V2_LINE_FLAG_USED)) return EXIT_OK;
    char holder[128];
    describe_holder(c, info.consumer, holder, sizeof holder);
    fprintf(stderr, "%s: %s line %u%s%s%s: busy: consumer %s (%s)\n", subcommand, c->name, offset,
            info.name[0] ? " (" : "", info.name, info.name[0] ? ")" : "", info.consumer[0] ? info.consumer : "?",
            holder);
    return EXIT_PORT;
}

/* CHIP and LINE... (or LINE=V... when values is not NULL): resolved, distinct and free. */
static int resolve(int argc, char **argv, struct chip *c, unsigned *offsets, int *values, int *count) {
    if (optind >= argc) return usage_error("missing CHIP (gpiochipN, /dev/gpiochipN or a label)");
    if (optind + 1 >= argc) return usage_error(values ? "missing LINE=VALUE" : "missing LINE");
    if (argc - optind - 1 > MAX_LINES) return usage_error("more than %d lines", MAX_LINES);
    /* the syntax first: a usage error wins over a missing chip */
    for (int i = optind + 1; values && i < argc; i++) {
        const char *eq = strrchr(argv[i], '=');
        if (!eq || eq == argv[i] || (strcmp(eq, "=0") && strcmp(eq, "=1")))
            return usage_error("'%s' is not LINE=0 or LINE=1", argv[i]);
    }
    int rc = find_chip(argv[optind], c);
    if (rc != EXIT_OK) return rc;
    *count = 0;
    for (int i = optind + 1; i < argc; i++) {
        char spec[256];
        snprintf(spec, sizeof spec, "%s", argv[i]);
        if (values) {
            char *eq = strrchr(spec, '=');
            values[*count] = eq[1] - '0';
            *eq = '\0';
        }
        if ((rc = find_line(c, spec, &offsets[*count])) != EXIT_OK) return rc;
        for (int j = 0; j < *count; j++)
            if (offsets[j] == offsets[*count])
                return usage_error("line %u of %s given twice ('%s')", offsets[j], c->name, argv[i]);
        (*count)++;
    }
    for (int i = 0; i < *count; i++)
        if ((rc = check_free(c, offsets[i])) != EXIT_OK) return rc;
    return EXIT_OK;
}

static void line_label(const struct chip *c, unsigned offset, char *out, size_t size) {
    struct line_info info;
    if (get_line_info(c, offset, &info) == 0 && info.name[0]) snprintf(out, size, "%s", info.name);
    else snprintf(out, size, "%u", offset);
}

/* ---------------------------------------------------------------------------------------------------- */
/* The engine (get, set, count)                                                                          */
/* ---------------------------------------------------------------------------------------------------- */

static int engine_for(const struct chip *c, struct edgecore_engine **engine, uint32_t *bus) {
    int rc = edgecore_engine_create(NULL, engine);
    if (rc != EDGECORE_OK) return runtime_error("create", rc);
    struct edgecore_gpio_chip_config config;
    edgecore_gpio_chip_config_init(&config);
    config.name = c->name;
    config.chip = c->path;
    rc = edgecore_engine_add_gpio_chip(*engine, &config, bus);
    if (rc != EDGECORE_OK) {
        edgecore_engine_destroy(*engine);
        return runtime_error(c->path, rc);
    }
    return EXIT_OK;
}

static int add_line(struct edgecore_engine *engine, struct edgecore_gpio_line_config *line, uint32_t bus,
                    unsigned offset, uint32_t *id) {
    char name[32];
    snprintf(name, sizeof name, "line%u", offset);
    line->name = name;
    line->bus = bus;
    line->offset = offset;
    int rc = edgecore_engine_add_gpio_line(engine, line, id);
    return rc == EDGECORE_OK ? EXIT_OK : runtime_error(name, rc);
}

/* Start; a line taken meanwhile, or the chip gone, is exit 4 as in resolve(). */
static int start(struct edgecore_engine *engine, const struct chip *c, const unsigned *offsets, int count) {
    int rc = edgecore_engine_start(engine);
    if (rc == EDGECORE_OK) return EXIT_OK;
    if (rc == -EBUSY)
        for (int i = 0; i < count; i++)
            if (check_free(c, offsets[i]) != EXIT_OK) return EXIT_PORT;
    if (rc == -EBUSY || rc == -ENOENT || rc == -EACCES) {
        const char *detail = edgecore_engine_last_error();
        fprintf(stderr, "%s: %s: %s%s%s\n", subcommand, c->name, edgecore_strerror(rc), detail[0] ? ": " : "",
                detail);
        return EXIT_PORT;
    }
    return runtime_error("start", rc);
}

/* The options every subcommand shares: --format, --bias; the others are the caller's. */
struct common {
    int format, bias;
};

static int common_option(int opt, struct common *o, char **argv) {
    switch (opt) {
    case 'f': return pick("--format", optarg, FORMATS, 3, "table, json or csv", &o->format);
    case 'b': return pick("--bias", optarg, BIASES, 4, "as-is, pull-up, pull-down or disabled", &o->bias);
    default: return unknown_option(argv);
    }
}

static int get(int argc, char **argv) {
    static const struct option options[] = {
        {"format", required_argument, NULL, 'f'}, {"bias", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    struct common o = {FORMAT_TABLE, EDGECORE_GPIO_BIAS_AS_IS};
    int opt, rc;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'h') {
            printf("usage: edgecore gpio get CHIP LINE... [--bias as-is|pull-up|pull-down|disabled]\n"
                   "                        [--format table|json|csv]\n"
                   "Read input lines once through the engine (requested as inputs, then released).\n");
            return EXIT_OK;
        }
        if ((rc = common_option(opt, &o, argv)) != EXIT_OK) return rc;
    }
    struct chip c;
    unsigned offsets[MAX_LINES];
    int count = 0;
    rc = resolve(argc, argv, &c, offsets, NULL, &count);
    if (rc != EXIT_OK) return rc;
    struct edgecore_engine *engine;
    uint32_t bus, ids[MAX_LINES];
    if ((rc = engine_for(&c, &engine, &bus)) != EXIT_OK) return rc;
    for (int i = 0; i < count && rc == EXIT_OK; i++) {
        struct edgecore_gpio_line_config line;
        edgecore_gpio_line_config_init(&line);
        line.kind = EDGECORE_GPIO_INPUT;
        line.bias = (uint16_t)o.bias;
        line.interval_ms = 10;
        rc = add_line(engine, &line, bus, offsets[i], &ids[i]);
    }
    if (rc == EXIT_OK) rc = start(engine, &c, offsets, count);
    if (rc != EXIT_OK) {
        edgecore_engine_destroy(engine);
        return rc;
    }
    int values[MAX_LINES], have = 0;
    for (int i = 0; i < count; i++) values[i] = -1;
    double deadline = now_seconds() + 3.0;
    struct edgecore_reading batch[256];
    while (have < count && !interrupted && now_seconds() < deadline) {
        if (edgecore_engine_wait(engine, 100) <= 0) continue;
        int n = edgecore_engine_drain(engine, batch, 256);
        for (int k = 0; k < n; k++)
            for (int i = 0; i < count; i++)
                if (batch[k].channel == ids[i] && values[i] < 0 && batch[k].status == EDGECORE_STATUS_OK) {
                    values[i] = batch[k].value != 0;
                    have++;
                }
    }
    edgecore_engine_destroy(engine);
    if (o.format == FORMAT_TABLE) printf("%-6s %-20s %s\n", "line", "name", "value");
    else if (o.format == FORMAT_CSV) printf("chip,line,name,value\n");
    for (int i = 0; i < count; i++) {
        struct line_info info;
        if (get_line_info(&c, offsets[i], &info) != 0) info.name[0] = '\0';
        char value[16] = "-";
        if (values[i] >= 0) snprintf(value, sizeof value, "%d", values[i]);
        if (o.format == FORMAT_TABLE) printf("%-6u %-20s %s\n", offsets[i], info.name[0] ? info.name : "-", value);
        else if (o.format == FORMAT_CSV) printf("%s,%u,%s,%s\n", c.name, offsets[i], info.name, values[i] >= 0 ? value : "");
        else {
            printf("{\"chip\":");
            json_string(c.name);
            printf(",\"line\":%u,\"name\":", offsets[i]);
            json_string(info.name);
            printf(",\"value\":%s}\n", values[i] >= 0 ? value : "null");
        }
    }
    close(c.fd);
    if (have < count) {
        fprintf(stderr, "%s: no reading of %d of the lines within 3 s\n", subcommand, count - have);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

static int set(int argc, char **argv) {
    static const struct option options[] = {
        {"safe", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    long safe = 0;
    int opt, rc;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'h') {
            printf("usage: edgecore gpio set CHIP LINE=VALUE... [--safe 0|1]\n"
                   "Drive output lines (VALUE 0 or 1) and hold them until interrupted (Ctrl-C, SIGTERM, SIGHUP);\n"
                   "then drive them to the safe value (--safe, default 0) and release them.\n"
                   "The lines are requested at the safe value, then set to VALUE.\n");
            return EXIT_OK;
        }
        if (opt != 's') return unknown_option(argv);
        if ((rc = parse_long("--safe", optarg, 0, 1, &safe)) != EXIT_OK) return rc;
    }
    struct chip c;
    unsigned offsets[MAX_LINES];
    int values[MAX_LINES], count = 0;
    rc = resolve(argc, argv, &c, offsets, values, &count);
    if (rc != EXIT_OK) return rc;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigaction(SIGHUP, &action, NULL);
    signal(SIGPIPE, SIG_IGN); /* a reader gone (| head) must not end the hold without the safe value */
    struct edgecore_engine *engine;
    uint32_t bus, ids[MAX_LINES];
    if ((rc = engine_for(&c, &engine, &bus)) != EXIT_OK) return rc;
    for (int i = 0; i < count && rc == EXIT_OK; i++) {
        struct edgecore_gpio_line_config line;
        edgecore_gpio_line_config_init(&line);
        line.kind = EDGECORE_GPIO_OUTPUT;
        line.writable = 1;
        line.safe_state = (uint8_t)safe;
        rc = add_line(engine, &line, bus, offsets[i], &ids[i]);
    }
    if (rc == EXIT_OK) rc = start(engine, &c, offsets, count);
    for (int i = 0; i < count && rc == EXIT_OK; i++) {
        int w = edgecore_engine_write(engine, ids[i], values[i], 2000);
        if (w != EDGECORE_OK) {
            char what[64];
            snprintf(what, sizeof what, "%s line %u", c.name, offsets[i]);
            rc = runtime_error(what, w);
        }
    }
    if (rc != EXIT_OK) {
        edgecore_engine_destroy(engine); /* what was already driven goes to the safe value */
        return rc;
    }
    char held[1024] = "";
    for (int i = 0; i < count; i++) {
        char label[40];
        line_label(&c, offsets[i], label, sizeof label);
        size_t used = strlen(held);
        snprintf(held + used, sizeof held - used, "%s%s=%d", i ? " " : "", label, values[i]);
    }
    printf("holding %s on %s until interrupted (Ctrl-C); on exit the line%s go%s to %ld (safe value) and %s "
           "released\n",
           held, c.name, count > 1 ? "s" : "", count > 1 ? "" : "es", safe, count > 1 ? "are" : "is");
    fflush(stdout);
    struct edgecore_reading batch[64];
    while (!interrupted) {
        if (edgecore_engine_wait(engine, 200) > 0) edgecore_engine_drain(engine, batch, 64);
    }
    rc = edgecore_engine_stop(engine); /* drives the outputs to the safe value */
    edgecore_engine_destroy(engine);   /* releases them */
    close(c.fd);
    printf("%s: %s at %ld (safe value), released\n", c.name, held, safe);
    fflush(stdout);
    return rc == EDGECORE_OK ? EXIT_OK : runtime_error("stop", rc);
}

static void print_count(const struct chip *c, unsigned offset, const char *name, const char *edge,
                        const struct edgecore_pulse_stats *s, double seconds, enum format format) {
    double rate = seconds > 0 ? (double)s->count / seconds : 0;
    if (format == FORMAT_TABLE) {
        printf("%-6s %-20s %-8s %10s %10s %6s %9s %10s\n", "line", "name", "edges", "count", "rejected", "lost",
               "seconds", "rate/s");
        printf("%-6u %-20s %-8s %10llu %10llu %6llu %9.3f %10.3f\n", offset, name[0] ? name : "-", edge,
               (unsigned long long)s->count, (unsigned long long)s->rejected, (unsigned long long)s->lost, seconds,
               rate);
    } else if (format == FORMAT_CSV) {
        printf("chip,line,name,edges,count,rejected,lost,seconds,rate_per_s\n");
        printf("%s,%u,%s,%s,%llu,%llu,%llu,%.3f,%.6g\n", c->name, offset, name, edge, (unsigned long long)s->count,
               (unsigned long long)s->rejected, (unsigned long long)s->lost, seconds, rate);
    } else {
        printf("{\"chip\":");
        json_string(c->name);
        printf(",\"line\":%u,\"name\":", offset);
        json_string(name);
        printf(",\"edges\":\"%s\",\"count\":%llu,\"rejected\":%llu,\"lost\":%llu,\"seconds\":%.3f,"
               "\"rate_per_s\":%.6g}\n",
               edge, (unsigned long long)s->count, (unsigned long long)s->rejected, (unsigned long long)s->lost,
               seconds, rate);
    }
}

static int count_pulses(int argc, char **argv) {
    static const struct option options[] = {
        {"seconds", required_argument, NULL, 's'}, {"debounce-us", required_argument, NULL, 'd'},
        {"edge", required_argument, NULL, 'e'},    {"format", required_argument, NULL, 'f'},
        {"bias", required_argument, NULL, 'b'},    {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0}};
    struct common o = {FORMAT_TABLE, EDGECORE_GPIO_BIAS_AS_IS};
    double seconds = 0;
    long debounce = 0;
    int edge = 0, opt, rc;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'h') {
            printf("usage: edgecore gpio count CHIP LINE --seconds N [--debounce-us U]\n"
                   "                          [--edge rising|falling|both] [--bias B] [--format table|json|csv]\n"
                   "Count pulses (edges, default rising) for N seconds with the engine's pulse counter: an edge\n"
                   "counts when the level after it holds at least U microseconds (kernel timestamps).\n"
                   "Prints the count, the edges rejected as bounce, those the kernel lost, and the rate.\n");
            return EXIT_OK;
        }
        if (opt == 's') {
            if ((rc = parse_double("--seconds", optarg, &seconds)) != EXIT_OK) return rc;
            if (seconds <= 0 || seconds > 86400 * 365.0)
                return usage_error("--seconds: '%s' is not a number of seconds above 0", optarg);
        } else if (opt == 'd') {
            if ((rc = parse_long("--debounce-us", optarg, 0, 1000000, &debounce)) != EXIT_OK) return rc;
        } else if (opt == 'e') {
            if ((rc = pick("--edge", optarg, EDGES, 3, "rising, falling or both", &edge)) != EXIT_OK) return rc;
        } else if ((rc = common_option(opt, &o, argv)) != EXIT_OK) {
            return rc;
        }
    }
    if (seconds <= 0) return usage_error("missing --seconds N");
    if (argc - optind > 2) return usage_error("one LINE only, not '%s'", argv[optind + 2]);
    struct chip c;
    unsigned offset;
    int count = 0;
    rc = resolve(argc, argv, &c, &offset, NULL, &count);
    if (rc != EXIT_OK) return rc;
    struct edgecore_engine *engine;
    uint32_t bus, id;
    if ((rc = engine_for(&c, &engine, &bus)) != EXIT_OK) return rc;
    struct edgecore_gpio_line_config line;
    edgecore_gpio_line_config_init(&line);
    line.kind = EDGECORE_GPIO_PULSES;
    line.bias = (uint16_t)o.bias;
    line.edge = (uint16_t)(edge + 1);
    line.debounce_us = (uint32_t)debounce;
    rc = add_line(engine, &line, bus, offset, &id);
    if (rc == EXIT_OK) rc = start(engine, &c, &offset, 1);
    if (rc != EXIT_OK) {
        edgecore_engine_destroy(engine);
        return rc;
    }
    char name[40];
    line_label(&c, offset, name, sizeof name);
    fprintf(stderr, "%s: counting %s line %s (%s edges, debounce %ld us) for %g s\n", subcommand, c.name, name,
            EDGES[edge], debounce, seconds);
    double begin = now_seconds(), end = begin + seconds;
    struct edgecore_reading batch[64];
    while (!interrupted && now_seconds() < end) {
        double left = end - now_seconds();
        int ms = left > 0.2 ? 200 : (int)(left * 1000) + 1;
        if (edgecore_engine_wait(engine, ms) > 0) edgecore_engine_drain(engine, batch, 64);
    }
    double elapsed = now_seconds() - begin;
    edgecore_engine_stop(engine);
    struct edgecore_pulse_stats stats;
    memset(&stats, 0, sizeof stats);
    rc = edgecore_engine_pulse_stats(engine, id, &stats);
    edgecore_engine_destroy(engine);
    if (rc != EDGECORE_OK) return runtime_error("pulse statistics", rc);
    struct line_info info;
    if (get_line_info(&c, offset, &info) != 0) info.name[0] = '\0';
    print_count(&c, offset, info.name, EDGES[edge], &stats, elapsed, (enum format)o.format);
    close(c.fd);
    if (stats.lost) {
        fprintf(stderr, "%s: the kernel lost %llu edges (queue full): the count is short\n", subcommand,
                (unsigned long long)stats.lost);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* monitor: the kernel's v2 line request with edge detection, every event as it comes                    */
/* ---------------------------------------------------------------------------------------------------- */

static int monitor(int argc, char **argv) {
    static const struct option options[] = {
        {"edges", required_argument, NULL, 'e'},  {"duration", required_argument, NULL, 'd'},
        {"events", required_argument, NULL, 'n'}, {"format", required_argument, NULL, 'f'},
        {"bias", required_argument, NULL, 'b'},   {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0}};
    struct common o = {FORMAT_TABLE, EDGECORE_GPIO_BIAS_AS_IS};
    int edges = 2, opt, rc;
    double duration = 0;
    long max_events = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'h') {
            printf("usage: edgecore gpio monitor CHIP LINE... [--edges rising|falling|both] [--duration S]\n"
                   "                            [--events N] [--bias B] [--format table|json|csv]\n"
                   "Print every edge (default both) with the kernel's timestamp (CLOCK_MONOTONIC ns) and\n"
                   "sequence number, until interrupted, S seconds passed or N edges came.\n");
            return EXIT_OK;
        }
        if (opt == 'e') {
            if ((rc = pick("--edges", optarg, EDGES, 3, "rising, falling or both", &edges)) != EXIT_OK) return rc;
        } else if (opt == 'd') {
            if ((rc = parse_double("--duration", optarg, &duration)) != EXIT_OK) return rc;
            if (duration <= 0) return usage_error("--duration: '%s' is not a number of seconds above 0", optarg);
        } else if (opt == 'n') {
            if ((rc = parse_long("--events", optarg, 1, 1000000000, &max_events)) != EXIT_OK) return rc;
        } else if ((rc = common_option(opt, &o, argv)) != EXIT_OK) {
            return rc;
        }
    }
    struct chip c;
    unsigned offsets[MAX_LINES];
    int count = 0;
    rc = resolve(argc, argv, &c, offsets, NULL, &count);
    if (rc != EXIT_OK) return rc;
    struct gpio_v2_line_request request;
    memset(&request, 0, sizeof request);
    for (int i = 0; i < count; i++) request.offsets[i] = offsets[i];
    request.num_lines = (uint32_t)count;
    snprintf(request.consumer, sizeof request.consumer, "edgecore");
    request.config.flags = GPIO_V2_LINE_FLAG_INPUT | ((edges + 1) & 1 ? GPIO_V2_LINE_FLAG_EDGE_RISING : 0) |
                           ((edges + 1) & 2 ? GPIO_V2_LINE_FLAG_EDGE_FALLING : 0);
    static const uint64_t BIAS_FLAGS[] = {0, GPIO_V2_LINE_FLAG_BIAS_DISABLED, GPIO_V2_LINE_FLAG_BIAS_PULL_UP,
                                          GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN};
    request.config.flags |= BIAS_FLAGS[o.bias];
    request.event_buffer_size = 1024;
    if (ioctl(c.fd, GPIO_V2_GET_LINE_IOCTL, &request) != 0) {
        int e = errno;
        if (e == EBUSY)
            for (int i = 0; i < count; i++)
                if (check_free(&c, offsets[i]) != EXIT_OK) return EXIT_PORT;
        if (e == ENOTTY || e == EINVAL)
            fprintf(stderr, "%s: %s: the kernel has no GPIO v2 line requests (Linux 5.10 or later)\n", subcommand,
                    c.name);
        else fprintf(stderr, "%s: %s: cannot request the lines: %s\n", subcommand, c.name, strerror(e));
        return e == EBUSY || e == EACCES ? EXIT_PORT : EXIT_RUNTIME;
    }
    char names[MAX_LINES][GPIO_MAX_NAME_SIZE];
    uint32_t last_seqno[MAX_LINES] = {0};
    for (int i = 0; i < count; i++) {
        struct line_info info;
        snprintf(names[i], sizeof names[i], "%s", get_line_info(&c, offsets[i], &info) == 0 ? info.name : "");
    }
    struct timespec mono, real;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    int64_t to_real = ((int64_t)real.tv_sec - mono.tv_sec) * 1000000000 + (real.tv_nsec - mono.tv_nsec);
    if (o.format == FORMAT_TABLE)
        printf("%-24s %20s %5s %-16s %-7s %6s\n", "timestamp", "kernel_ns", "line", "name", "edge", "seqno");
    else if (o.format == FORMAT_CSV) printf("timestamp,kernel_ns,chip,line,name,edge,seqno\n");
    fflush(stdout);
    fprintf(stderr, "%s: monitoring %s (%s edges) until interrupted", subcommand, c.name, EDGES[edges]);
    if (duration > 0) fprintf(stderr, " or %g s", duration);
    if (max_events > 0) fprintf(stderr, " or %ld edges", max_events);
    fprintf(stderr, "\n");
    double end = duration > 0 ? now_seconds() + duration : 0;
    long seen = 0;
    unsigned long long lost = 0;
    rc = EXIT_OK;
    while (!interrupted && (!end || now_seconds() < end) && (!max_events || seen < max_events)) {
        struct pollfd pfd = {request.fd, POLLIN, 0};
        int ms = 200;
        if (end && (end - now_seconds()) * 1000 < ms) ms = (int)((end - now_seconds()) * 1000) + 1;
        int ready = poll(&pfd, 1, ms);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) {
            fprintf(stderr, "%s: poll: %s\n", subcommand, strerror(errno));
            rc = EXIT_RUNTIME;
            break;
        }
        if (ready == 0) continue;
        struct gpio_v2_line_event events[16];
        ssize_t n = read(request.fd, events, sizeof events);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fprintf(stderr, "%s: reading edges: %s\n", subcommand, strerror(errno));
            rc = EXIT_RUNTIME;
            break;
        }
        for (size_t k = 0; k < (size_t)n / sizeof events[0] && (!max_events || seen < max_events); k++) {
            const struct gpio_v2_line_event *ev = &events[k];
            int index = 0;
            for (int i = 0; i < count; i++)
                if (offsets[i] == ev->offset) index = i;
            if (last_seqno[index] && ev->line_seqno > last_seqno[index] + 1) {
                unsigned gap = ev->line_seqno - last_seqno[index] - 1;
                lost += gap;
                fprintf(stderr, "%s: line %u: %u edges lost (the kernel's queue was full)\n", subcommand, ev->offset,
                        gap);
            }
            last_seqno[index] = ev->line_seqno;
            seen++;
            const char *kind = ev->id == GPIO_V2_LINE_EVENT_RISING_EDGE ? "rising" : "falling";
            char when[40];
            iso_time((int64_t)ev->timestamp_ns + to_real, when, sizeof when);
            if (o.format == FORMAT_TABLE)
                printf("%-24s %20llu %5u %-16s %-7s %6u\n", when, (unsigned long long)ev->timestamp_ns, ev->offset,
                       names[index][0] ? names[index] : "-", kind, ev->line_seqno);
            else if (o.format == FORMAT_CSV)
                printf("%s,%llu,%s,%u,%s,%s,%u\n", when, (unsigned long long)ev->timestamp_ns, c.name, ev->offset,
                       names[index], kind, ev->line_seqno);
            else {
                printf("{\"timestamp\":\"%s\",\"kernel_ns\":%llu,\"chip\":", when,
                       (unsigned long long)ev->timestamp_ns);
                json_string(c.name);
                printf(",\"line\":%u,\"name\":", ev->offset);
                json_string(names[index]);
                printf(",\"edge\":\"%s\",\"seqno\":%u}\n", kind, ev->line_seqno);
            }
        }
        fflush(stdout);
    }
    close(request.fd);
    close(c.fd);
    fprintf(stderr, "%s: %ld edges, %llu lost\n", subcommand, seen, lost);
    return rc != EXIT_OK ? rc : lost ? EXIT_RUNTIME : EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* list                                                                                                  */
/* ---------------------------------------------------------------------------------------------------- */

static int list(int argc, char **argv) {
    static const struct option options[] = {
        {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    struct common o = {FORMAT_TABLE, 0};
    int opt, rc;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'h') {
            printf("usage: edgecore gpio list [CHIP] [--format table|json|csv]\n"
                   "Without CHIP: the GPIO chips (name, label, lines). With CHIP: its lines (offset, name,\n"
                   "direction, active-low, bias, consumer and holding process of lines in use).\n");
            return EXIT_OK;
        }
        if (opt != 'f') return unknown_option(argv);
        if ((rc = common_option(opt, &o, argv)) != EXIT_OK) return rc;
    }
    if (argc - optind > 1) return usage_error("one CHIP at most, not '%s'", argv[optind + 1]);
    if (optind == argc) {
        char names[MAX_CHIPS][32];
        int count = chip_names(names);
        if (o.format == FORMAT_TABLE) printf("%-12s %-32s %5s\n", "chip", "label", "lines");
        else if (o.format == FORMAT_CSV) printf("chip,label,lines,path\n");
        for (int i = 0; i < count; i++) {
            char path[64];
            snprintf(path, sizeof path, "/dev/%.31s", names[i]);
            struct chip c;
            if ((rc = open_chip(path, &c)) != 0) {
                fprintf(stderr, "%s: %s: %s\n", subcommand, path, strerror(-rc));
                continue;
            }
            close(c.fd);
            if (o.format == FORMAT_TABLE) printf("%-12s %-32s %5u\n", c.name, c.label, c.lines);
            else if (o.format == FORMAT_CSV) printf("%s,%s,%u,%s\n", c.name, c.label, c.lines, c.path);
            else {
                printf("{\"chip\":");
                json_string(c.name);
                printf(",\"label\":");
                json_string(c.label);
                printf(",\"lines\":%u,\"path\":", c.lines);
                json_string(c.path);
                printf("}\n");
            }
        }
        if (count == 0) fprintf(stderr, "%s: no GPIO chips (/dev/gpiochip*)\n", subcommand);
        return count ? EXIT_OK : EXIT_PORT;
    }
    struct chip c;
    if ((rc = find_chip(argv[optind], &c)) != EXIT_OK) return rc;
    if (o.format == FORMAT_TABLE) {
        printf("%s [%s] %u lines\n", c.name, c.label, c.lines);
        printf("%-5s %-20s %-6s %-10s %-9s %s\n", "line", "name", "dir", "active", "bias", "used");
    } else if (o.format == FORMAT_CSV) {
        printf("chip,line,name,direction,active_low,bias,used,consumer,pid\n");
    }
    for (unsigned i = 0; i < c.lines; i++) {
        struct line_info info;
        if ((rc = get_line_info(&c, i, &info)) != 0) {
            fprintf(stderr, "%s: %s line %u: %s\n", subcommand, c.name, i, strerror(-rc));
            close(c.fd);
            return EXIT_RUNTIME;
        }
        int used = (info.flags & GPIO_V2_LINE_FLAG_USED) != 0;
        const char *dir = info.flags & GPIO_V2_LINE_FLAG_OUTPUT ? "output" : "input";
        const char *bias = info.flags & GPIO_V2_LINE_FLAG_BIAS_PULL_UP     ? "pull-up"
                           : info.flags & GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN ? "pull-down"
                           : info.flags & GPIO_V2_LINE_FLAG_BIAS_DISABLED  ? "disabled"
                                                                           : "as-is";
        int low = (info.flags & GPIO_V2_LINE_FLAG_ACTIVE_LOW) != 0;
        long pid = 0;
        int chip_only = 0;
        if (used) pid = line_holder(&c, info.consumer, &chip_only);
        if (chip_only) pid = 0; /* "has the chip open" is not "holds this line" */
        if (o.format == FORMAT_TABLE) {
            char usage[96] = "-";
            if (used && pid) snprintf(usage, sizeof usage, "used: %s (process %ld)", info.consumer, pid);
            else if (used) snprintf(usage, sizeof usage, "used: %s", info.consumer[0] ? info.consumer : "?");
            printf("%-5u %-20s %-6s %-10s %-9s %s\n", i, info.name[0] ? info.name : "-", dir, low ? "low" : "high", bias,
                   usage);
        } else if (o.format == FORMAT_CSV) {
            printf("%s,%u,%s,%s,%d,%s,%d,%s,", c.name, i, info.name, dir, low, bias, used, info.consumer);
            if (pid) printf("%ld", pid);
            printf("\n");
        } else {
            printf("{\"chip\":");
            json_string(c.name);
            printf(",\"line\":%u,\"name\":", i);
            json_string(info.name);
            printf(",\"direction\":\"%s\",\"active_low\":%s,\"bias\":\"%s\",\"used\":%s,\"consumer\":", dir,
                   low ? "true" : "false", bias, used ? "true" : "false");
            json_string(info.consumer);
            if (pid) printf(",\"pid\":%ld}\n", pid);
            else printf(",\"pid\":null}\n");
        }
    }
    close(c.fd);
    return EXIT_OK;
}

int cmd_gpio(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } SUBS[] = {{"list", list}, {"get", get}, {"set", set}, {"monitor", monitor}, {"count", count_pulses}};
    if (argc < 2) return usage_error("missing subcommand: expected list, get, set, monitor or count");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(USAGE, stdout);
        return EXIT_OK;
    }
    static char prefix[64];
    for (size_t i = 0; i < sizeof SUBS / sizeof SUBS[0]; i++)
        if (!strcmp(argv[1], SUBS[i].name)) {
            snprintf(prefix, sizeof prefix, "edgecore gpio %s", SUBS[i].name);
            subcommand = prefix;
            optind = 1;
            return SUBS[i].run(argc - 1, argv + 1);
        }
    return usage_error("unknown subcommand '%s': expected list, get, set, monitor or count", argv[1]);
}
