/* edgecore: what the subcommands share: errors and exit codes, strict value parsing, reading output
 * (table, JSON lines, CSV), the reading loop, site files and serial-port locking. */
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

const char *subcommand = "edgecore";
volatile sig_atomic_t interrupted;
void on_signal(int signal_number) { (void)signal_number; interrupted = 1; }

int usage_error(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "%s: ", subcommand);
    vfprintf(stderr, format, args);
    fprintf(stderr, " (see '%s --help')\n", subcommand);
    va_end(args);
    return EXIT_USAGE;
}

int runtime_error(const char *what, int rc) {
    const char *detail = edgecore_engine_last_error();
    fprintf(stderr, "%s: %s: %s%s%s\n", subcommand, what, edgecore_strerror(rc), detail[0] ? ": " : "", detail);
    return EXIT_RUNTIME;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Value parsing: strict, with the option named in the error                                            */
/* ---------------------------------------------------------------------------------------------------- */

int parse_long(const char *option, const char *text, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 0);
    if (errno || end == text || *end || v < min || v > max)
        return usage_error("%s: '%s' is not an integer in %ld..%ld", option, text, min, max);
    *out = v;
    return EXIT_OK;
}

int parse_double(const char *option, const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v))
        return usage_error("%s: '%s' is not a number", option, text);
    *out = v;
    return EXIT_OK;
}

int pick(const char *option, const char *text, const char *const *names, int count, const char *expected,
                int *out) {
    for (int i = 0; i < count; i++)
        if (!strcmp(text, names[i])) {
            *out = i;
            return EXIT_OK;
        }
    return usage_error("%s: '%s' is not one of %s", option, text, expected);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Output                                                                                               */
/* ---------------------------------------------------------------------------------------------------- */


void iso_time(int64_t ns, char *out, size_t size) {
    time_t seconds = (time_t)(ns / 1000000000);
    struct tm utc;
    gmtime_r(&seconds, &utc);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(out, size, "%s.%03dZ", base, (int)((ns / 1000000) % 1000));
}

void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

void print_header(enum format format) { print_header_sequenced(format, 0); }

void print_header_sequenced(enum format format, int sequenced) {
    if (format == FORMAT_CSV) printf("%stimestamp,channel,value,unit,status,detail\n", sequenced ? "sequence," : "");
    else if (format == FORMAT_TABLE) {
        if (sequenced) printf("%10s ", "sequence");
        printf("%-24s %-32s %16s %-6s %s\n", "timestamp", "channel", "value", "unit", "status");
    }
}

void print_reading(struct edgecore_engine *engine, const struct edgecore_reading *r, enum format format) {
    print_reading_sequenced(engine, r, format, NULL);
}

void print_reading_sequenced(struct edgecore_engine *engine, const struct edgecore_reading *r, enum format format,
                             const uint64_t *sequence) {
    const char *name = "?", *unit = "";
    char number[16];
    if (!engine || edgecore_engine_channel_info(engine, r->channel, &name, &unit, NULL) != EDGECORE_OK) {
        snprintf(number, sizeof number, "%u", r->channel); /* no site file: the channel's id */
        name = engine ? "?" : number;
        unit = "";
    }
    if (!unit) unit = "";
    char when[40];
    iso_time(r->timestamp_ns, when, sizeof when);
    const char *status = edgecore_status_name(r->status);
    int show = (r->status == EDGECORE_STATUS_OK || r->status == EDGECORE_STATUS_OUT_OF_RANGE) && isfinite(r->value);
    if (sequence && format == FORMAT_JSON) printf("{\"sequence\":%llu,\"channel_id\":%u,", (unsigned long long)*sequence, r->channel);
    else if (sequence && format == FORMAT_CSV) printf("%llu,", (unsigned long long)*sequence);
    else if (sequence) printf("%10llu ", (unsigned long long)*sequence);
    if (format == FORMAT_JSON) {
        printf("%s\"timestamp\":\"%s\",\"ts_ns\":%lld,\"channel\":", sequence ? "" : "{", when, (long long)r->timestamp_ns);
        json_string(name);
        printf(",\"status\":\"%s\",\"value\":", status);
        if (show) printf("%.17g", r->value);
        else printf("null");
        printf(",\"unit\":");
        json_string(unit);
        printf(",\"detail\":%u}\n", r->status_detail);
    } else if (format == FORMAT_CSV) {
        printf("%s,%s,", when, name);
        if (show) printf("%.17g", r->value);
        printf(",%s,%s,%u\n", unit, status, r->status_detail);
    } else {
        char value[40] = "-";
        if (show) snprintf(value, sizeof value, "%.10g", r->value);
        printf("%-24s %-32s %16s %-6s %s", when, name, value, unit, status);
        if (r->status == EDGECORE_STATUS_EXCEPTION) printf(" %u", r->status_detail);
        printf("\n");
    }
}

/* Run a started engine and print the readings of `channels`: one round (each channel once) `times` times
 * (0: until interrupted). Returns EXIT_OK when every printed reading was ok, else EXIT_RUNTIME. */
int collect(struct edgecore_engine *engine, const uint32_t *channels, int count, long times,
                   double round_timeout_s, enum format format) {
    int seen[MAX_CHANNELS] = {0};
    int all_ok = 1, rounds = 0;
    double deadline = now_seconds() + round_timeout_s;
    struct edgecore_reading batch[256];
    print_header(format);
    fflush(stdout);
    while (!interrupted && (times == 0 || rounds < times)) {
        if (now_seconds() > deadline) {
            fprintf(stderr, "%s: no reading within %.1f s\n", subcommand, round_timeout_s);
            all_ok = 0;
            break;
        }
        int rc = edgecore_engine_wait(engine, 100);
        if (rc == EDGECORE_E_TIMEOUT) continue;
        if (rc < 0) break;
        int n = edgecore_engine_drain(engine, batch, 256);
        for (int i = 0; i < n && (times == 0 || rounds < times); i++) {
            int index = -1;
            for (int c = 0; c < count; c++)
                if (channels[c] == batch[i].channel) index = c;
            if (index < 0 || seen[index] > rounds) continue;
            seen[index]++;
            print_reading(engine, &batch[i], format);
            if (batch[i].status != EDGECORE_STATUS_OK) all_ok = 0;
            int done = 1;
            for (int c = 0; c < count; c++)
                if (seen[c] <= rounds) done = 0;
            if (done) {
                rounds++;
                deadline = now_seconds() + round_timeout_s;
            }
        }
        fflush(stdout);
    }
    return all_ok ? EXIT_OK : EXIT_RUNTIME;
}

int load_site(struct edgecore_engine **engine_out, const char *site) {
    int rc = edgecore_engine_create(NULL, engine_out);
    if (rc != EDGECORE_OK) return runtime_error("create", rc);
    rc = edgecore_engine_load_yaml(*engine_out, site);
    if (rc != EDGECORE_OK) {
        const char *detail = edgecore_engine_last_error();
        fprintf(stderr, "%s: %s: %s%s%s\n", subcommand, site, edgecore_strerror(rc), detail[0] ? ": " : "", detail);
        edgecore_engine_destroy(*engine_out);
        *engine_out = NULL;
        return EXIT_SITE;
    }
    return EXIT_OK;
}

const struct option HELP_ONLY[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};

int unknown_option(char **argv) {
    const char *option = argv[optind - 1];
    char *end;
    strtod(option, &end);
    if (option[0] == '-' && end != option && !*end)
        return usage_error("unknown option '%s' (a negative value goes after '--': ... -- %s)", option, option);
    return usage_error("unknown option '%s'", option);
}

int split_host_port(const char *option, const char *text, int need_port, char *host, size_t size,
                           long *port) {
    const char *colon = strrchr(text, ':');
    size_t length = colon ? (size_t)(colon - text) : strlen(text);
    if (length == 0 || length >= size) return usage_error("%s: '%s' is not HOST[:PORT]", option, text);
    memcpy(host, text, length);
    host[length] = '\0';
    if (!colon) {
        if (need_port) return usage_error("%s: '%s' has no port: expected HOST:PORT", option, text);
        return EXIT_OK;
    }
    return parse_long(option, colon + 1, 1, 65535, port);
}

int check_line_address(const struct line_address *where) {
    if (!!where->tcp + !!where->rtu + !!where->dtu != 1)
        return usage_error("give exactly one of --tcp HOST[:PORT], --rtu DEVICE, --dtu HOST:PORT");
    char host[256];
    long port;
    if (where->tcp) return split_host_port("--tcp", where->tcp, 0, host, sizeof host, &port);
    if (where->dtu) return split_host_port("--dtu", where->dtu, 1, host, sizeof host, &port);
    return EXIT_OK;
}

int add_line_bus(struct edgecore_engine *engine, const struct line_address *where, const char *name,
                 uint32_t *bus_out) {
    char host[256];
    long port = 502;
    int rc;
    if (where->rtu) {
        struct edgecore_rtu_bus_config b;
        edgecore_rtu_bus_config_init(&b);
        b.name = name;
        b.device = where->rtu;
        b.baud = (uint32_t)where->baud;
        b.parity = where->parity;
        rc = edgecore_engine_add_rtu_bus(engine, &b, bus_out);
    } else {
        if (split_host_port(where->tcp ? "--tcp" : "--dtu", where->tcp ? where->tcp : where->dtu, !where->tcp,
                            host, sizeof host, &port) != EXIT_OK)
            return EXIT_USAGE;
        struct edgecore_tcp_bus_config b;
        edgecore_tcp_bus_config_init(&b);
        b.name = name;
        b.host = host;
        b.port = (uint16_t)port;
        if (where->dtu) {
            b.framing = EDGECORE_TCP_TRANSPARENT;
            b.line_baud = (uint32_t)where->line_baud;
        }
        rc = edgecore_engine_add_tcp_bus(engine, &b, bus_out);
    }
    if (rc == EDGECORE_OK) return EXIT_OK;
    return rc == EDGECORE_E_CONFIG ? usage_error("%s", edgecore_engine_last_error()) : runtime_error("bus", rc);
}

/* The PID of the process holding a lock on `device` (/proc/locks), else of another process that has it open
 * (/proc/PID/fd), or 0 when none is found. */
long port_holder(const char *device) {
    struct stat st;
    FILE *locks = stat(device, &st) == 0 ? fopen("/proc/locks", "r") : NULL;
    if (locks) {
        char line[256];
        long found = 0;
        while (!found && fgets(line, sizeof line, locks)) {
            long pid;
            unsigned major_number, minor_number;
            unsigned long inode;
            char kind[16];
            const char *colon = strchr(line, ':');
            if (!colon || strstr(line, "->")) continue;  /* "->": a waiter, not the holder */
            if (sscanf(colon + 1, " %15s %*s %*s %ld %x:%x:%lu", kind, &pid, &major_number, &minor_number,
                       &inode) == 5 &&
                inode == (unsigned long)st.st_ino && major_number == major(st.st_dev) &&
                minor_number == minor(st.st_dev))
                found = pid;
        }
        fclose(locks);
        if (found) return found;
    }
    char target[PATH_MAX];
    if (!realpath(device, target)) return 0;
    return fd_holder(target, NULL);
}

/* Another process with an open file descriptor whose /proc/PID/fd link reads `target` and, when `comm` is
 * not NULL, whose /proc/PID/comm is `comm` (cut to 15 bytes, as the kernel cuts it); 0 when none is found. */
long fd_holder(const char *target, const char *comm) {
    DIR *proc = opendir("/proc");
    if (!proc) return 0;
    long found = 0, self = (long)getpid();
    struct dirent *entry;
    while (!found && (entry = readdir(proc))) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self) continue;
        char fds[64];
        if (comm) {
            char name[32] = "";
            snprintf(fds, sizeof fds, "/proc/%ld/comm", pid);
            FILE *file = fopen(fds, "r");
            if (!file) continue;
            if (!fgets(name, sizeof name, file)) name[0] = '\0';
            fclose(file);
            name[strcspn(name, "\n")] = '\0';
            if (strncmp(name, comm, 15) != 0 || strlen(name) != (strlen(comm) < 15 ? strlen(comm) : 15)) continue;
        }
        snprintf(fds, sizeof fds, "/proc/%ld/fd", pid);
        DIR *dir = opendir(fds);
        if (!dir) continue;
        struct dirent *fd;
        while (!found && (fd = readdir(dir))) {
            char link[400], path[PATH_MAX];
            snprintf(link, sizeof link, "%s/%s", fds, fd->d_name);
            ssize_t n = readlink(link, path, sizeof path - 1);
            if (n <= 0) continue;
            path[n] = '\0';
            if (!strcmp(path, target)) found = pid;
        }
        closedir(dir);
    }
    closedir(proc);
    return found;
}

/* A serial port must exist and be free: exit 4 otherwise, naming the holder. Free means no other process
 * holds an exclusive flock on it (another edgecore, a gateway's engine, picocom...). The lock taken here to
 * find out is let go at once: the engine claims the port itself when it opens it (and keeps it while open),
 * and flock(2) locks of one process's two opens of a port exclude each other too. */
int check_port(const char *device) {
    int fd = open(device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    int e = errno;
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        e = errno == EWOULDBLOCK ? EBUSY : errno;
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        if (e == EBUSY) {
            long holder = port_holder(device);
            if (holder)
                fprintf(stderr, "%s: %s: port busy: process %ld holds it\n", subcommand, device, holder);
            else
                fprintf(stderr, "%s: %s: port busy: another process holds it\n", subcommand, device);
        } else {
            fprintf(stderr, "%s: %s: cannot open the port: %s\n", subcommand, device, strerror(e));
        }
        return EXIT_PORT;
    }
    close(fd);
    return EXIT_OK;
}

/* Each serial port of the site must exist and be free (exit 4 otherwise), as for an ad hoc read: the engine
 * itself would only report it as DISCONNECTED readings, retried for ever. The ports are taken from the plan's
 * bus lines, "bus 'NAME': rtu DEVICE BAUD FORMAT, N requests". */
int check_serial_ports(struct edgecore_engine *engine) {
    int length = edgecore_engine_plan(engine, NULL, 0);
    if (length < 0) return runtime_error("plan", length);
    char *plan = malloc((size_t)length + 1);
    if (!plan) return runtime_error("plan", -ENOMEM);
    edgecore_engine_plan(engine, plan, (size_t)length + 1);
    int status = EXIT_OK;
    for (char *line = plan; status == EXIT_OK && line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        char *rtu = strncmp(line, "bus '", 5) == 0 ? strstr(line, "': rtu ") : NULL;
        char *comma = rtu ? strrchr(line, ',') : NULL;
        if (rtu && comma) {
            /* DEVICE may hold spaces: it ends before the last two words (baud, format) before the comma */
            *comma = '\0';
            char *format = strrchr(rtu, ' ');
            if (format) *format = '\0';
            char *baud = format ? strrchr(rtu, ' ') : NULL;
            if (baud && baud > rtu + 6) {
                *baud = '\0';
                status = check_port(rtu + 7);
            }
        }
        line = end ? end + 1 : NULL;
    }
    free(plan);
    return status;
}
