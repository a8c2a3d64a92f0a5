/* edgecore scan: which Modbus unit ids answer on a line (and at which baud/parity), or which DL/T 645-2007
 * meter is connected (address discovery); the result as a site-file fragment (YAML) or JSON.
 *
 * Modbus: one engine per line setting with one device per unit id, each with one channel read once (all
 * polls are due at start and the bus worker sends them one after the other, unit by unit); a normal or an
 * exception reply means a device is there, a timeout none, a bad CRC or garbled reply something at other
 * settings. Meters: edgecore_engine_meter_discover (C 0x13 to the wildcard address). */
#include "tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SETTINGS 64
#define MAX_UNITS 256
#define EXIT_INTERRUPTED 130
#define ONCE_MS 86400000u /* a probe's channel interval: read once per scan */

static const char SCAN_HELP[] =
    "usage: edgecore scan (--tcp HOST[:PORT] | --rtu DEVICE | --dtu HOST:PORT) [options]\n"
    "Find the Modbus unit ids that answer on a line (and, with several --baud/--parity, which serial\n"
    "settings answer), or the DL/T 645-2007 meter on a line (address discovery). The result goes to stdout as\n"
    "a site-file fragment (YAML: a bus with the devices found) or JSON; progress goes to stderr.\n"
    "  --tcp HOST[:PORT]        Modbus TCP (port 502)\n"
    "  --rtu DEVICE             serial line; --baud LIST (9600; meters 2400), --parity LIST of N, E, O (N;\n"
    "                           meters E; all three when --baud is given): several settings are tried in turn\n"
    "  --dtu HOST:PORT          RTU frames over TCP (transparent serial server), --line-baud N (9600)\n"
    "  --units LIST             unit ids to probe: A-B ranges and ids, e.g. 1-10,17 (1-247; --tcp: 0-255)\n"
    "  --function holding|input|coils|discrete   what each probe reads (holding), --address A (0), one value\n"
    "  --timeout MS             response timeout per probe (100); --retries N (0)\n"
    "  --protocol modbus|dlt645-2007   what to look for (modbus)\n"
    "  --name NAME              the bus's name in the fragment, devices NAME_unit_ID / NAME_meter_ADDR (line)\n"
    "  --format yaml|json       the result (yaml)\n"
    "A normal reply or an exception reply means a device is there; a garbled reply (bad CRC) is reported as\n"
    "something answering at other settings. Several settings without --units: each stops at the first unit\n"
    "found. SIGINT stops the scan and prints what was found so far.\n"
    "Exit: 0 found at least one, 1 none found (or the line is unreachable, or several meters answered),\n"
    "2 usage, 4 serial port missing or busy, 130 interrupted (the partial result printed).\n";

enum {
    OPT_TCP = 1000, OPT_RTU, OPT_DTU, OPT_BAUD, OPT_PARITY, OPT_LINE_BAUD, OPT_UNITS, OPT_FUNCTION, OPT_ADDRESS,
    OPT_TIMEOUT, OPT_RETRIES, OPT_PROTOCOL, OPT_FORMAT, OPT_NAME
};

static const struct option SCAN_OPTIONS[] = {
    {"help", no_argument, NULL, 'h'},
    {"tcp", required_argument, NULL, OPT_TCP},
    {"rtu", required_argument, NULL, OPT_RTU},
    {"dtu", required_argument, NULL, OPT_DTU},
    {"baud", required_argument, NULL, OPT_BAUD},
    {"parity", required_argument, NULL, OPT_PARITY},
    {"line-baud", required_argument, NULL, OPT_LINE_BAUD},
    {"units", required_argument, NULL, OPT_UNITS},
    {"function", required_argument, NULL, OPT_FUNCTION},
    {"address", required_argument, NULL, OPT_ADDRESS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"protocol", required_argument, NULL, OPT_PROTOCOL},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"name", required_argument, NULL, OPT_NAME},
    {0, 0, 0, 0}};

static const char *const FUNCTIONS[] = {"coils", "discrete", "holding", "input"}; /* FC 1..4 */
static const char *const PROTOCOLS[] = {"modbus", "dlt645-2007", "dlt645-1997", "cjt188"};
static const char *const FORMATS[] = {"yaml", "json"};

struct scan {
    struct line_address where;
    const char *units_text, *name;
    uint8_t units[MAX_UNITS];
    int unit_count;
    long bauds[MAX_SETTINGS];
    int baud_count;
    char parities[3];
    int parity_count;
    int function; /* index into FUNCTIONS: FC - 1 */
    long address, timeout_ms, retries;
    int protocol, format;
};

/* What one line setting gave. Modbus: per unit id, whether it was probed and the reading's status. */
struct result {
    long baud;
    char parity;
    int probed, found, garbled, gateway, stopped_early, complete, disconnected;
    uint8_t done[MAX_UNITS];
    uint16_t status[MAX_UNITS], detail[MAX_UNITS];
    char problem[300];
    /* meters: the outcome of the discovery */
    int meter_rc;
    char address[16];
};

static struct result results[MAX_SETTINGS];

/* ---------------------------------------------------------------------------------------------------- */
/* Options                                                                                              */
/* ---------------------------------------------------------------------------------------------------- */

/* "1-10,17,20-22" (ranges inclusive) into a sorted list without repeats, each in min..max. */
static int parse_units(const char *text, long min, long max, struct scan *s) {
    uint8_t wanted[MAX_UNITS] = {0};
    const char *p = text;
    while (1) {
        char *end;
        errno = 0;
        long a = strtol(p, &end, 10), b = a;
        int ok = end != p && !errno && (*p >= '0' && *p <= '9');
        if (ok && *end == '-') {
            const char *q = end + 1;
            b = strtol(q, &end, 10);
            ok = end != q && !errno && *q >= '0' && *q <= '9';
        }
        if (!ok || (*end != ',' && *end != '\0'))
            return usage_error("--units: '%s' is not a list of unit ids and ranges such as 1-10,17", text);
        if (a < min || b > max || a > b)
            return usage_error("--units: '%s': unit ids are %ld..%ld here, ranges A-B with A <= B", text, min, max);
        for (long u = a; u <= b; u++) wanted[u] = 1;
        if (*end == '\0') break;
        p = end + 1;
    }
    s->unit_count = 0;
    for (int u = 0; u < MAX_UNITS; u++)
        if (wanted[u]) s->units[s->unit_count++] = (uint8_t)u;
    return EXIT_OK;
}

static int parse_bauds(const char *text, struct scan *s) {
    char copy[512];
    if (strlen(text) >= sizeof copy) return usage_error("--baud: '%.40s...' is too long", text);
    strcpy(copy, text);
    s->baud_count = 0;
    char *save, *item = strtok_r(copy, ",", &save);
    if (!item || text[0] == ',' || text[strlen(text) - 1] == ',' || strstr(text, ",,"))
        return usage_error("--baud: '%s' is not a list of bauds such as 9600,19200", text);
    for (; item; item = strtok_r(NULL, ",", &save)) {
        if (s->baud_count == 16) return usage_error("--baud: at most 16 bauds");
        long baud;
        if (parse_long("--baud", item, 300, 4000000, &baud) != EXIT_OK) return EXIT_USAGE;
        s->bauds[s->baud_count++] = baud;
    }
    return EXIT_OK;
}

static int parse_parities(const char *text, struct scan *s) {
    s->parity_count = 0;
    for (const char *p = text;; p += 2) {
        if (!strchr("NEO", p[0]) || p[0] == '\0' || (p[1] != ',' && p[1] != '\0') || (p[1] == ',' && !p[2]) ||
            memchr(s->parities, p[0], (size_t)s->parity_count))
            return usage_error("--parity: '%s' is not a list of N, E, O such as N,E", text);
        s->parities[s->parity_count++] = p[0];
        if (p[1] == '\0') return EXIT_OK;
    }
}

static int parse_scan(int argc, char **argv, struct scan *s, int *help_shown) {
    memset(s, 0, sizeof *s);
    s->where.line_baud = 9600;
    s->function = 2;
    s->timeout_ms = 100;
    s->name = "line";
    const char *bauds = NULL, *parities = NULL;
    int opt, rc = EXIT_OK;
    *help_shown = 0;
    while ((opt = getopt_long(argc, argv, ":h", SCAN_OPTIONS, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(SCAN_HELP, stdout); *help_shown = 1; return EXIT_OK;
        case OPT_TCP: s->where.tcp = optarg; break;
        case OPT_RTU: s->where.rtu = optarg; break;
        case OPT_DTU: s->where.dtu = optarg; break;
        case OPT_BAUD: bauds = optarg; break;
        case OPT_PARITY: parities = optarg; break;
        case OPT_LINE_BAUD: rc = parse_long("--line-baud", optarg, 300, 4000000, &s->where.line_baud); break;
        case OPT_UNITS: s->units_text = optarg; break;
        case OPT_FUNCTION:
            rc = pick("--function", optarg, FUNCTIONS, 4, "holding, input, coils, discrete", &s->function);
            break;
        case OPT_ADDRESS: rc = parse_long("--address", optarg, 0, 65535, &s->address); break;
        case OPT_TIMEOUT: rc = parse_long("--timeout", optarg, 1, 600000, &s->timeout_ms); break;
        case OPT_RETRIES: rc = parse_long("--retries", optarg, 0, 10, &s->retries); break;
        case OPT_PROTOCOL:
            rc = pick("--protocol", optarg, PROTOCOLS, 4, "modbus, dlt645-2007", &s->protocol);
            break;
        case OPT_FORMAT: rc = pick("--format", optarg, FORMATS, 2, "yaml, json", &s->format); break;
        case OPT_NAME:
            if (!optarg[0] || strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
                                  strlen(optarg))
                return usage_error("--name: '%s' is not a name of letters, digits, '_', '-' and '.'", optarg);
            s->name = optarg;
            break;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return unknown_option(argv);
        }
        if (rc != EXIT_OK) return rc;
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (check_line_address(&s->where) != EXIT_OK) return EXIT_USAGE;
    int meter = s->protocol != EDGECORE_PROTOCOL_MODBUS;
    if (s->protocol == EDGECORE_PROTOCOL_DLT645_1997 || s->protocol == EDGECORE_PROTOCOL_CJT188)
        return usage_error("--protocol %s: not supported: libEdgeCore discovers DL/T 645-2007 meters only (read "
                           "address, C 0x13); read the address off the meter's nameplate", PROTOCOLS[s->protocol]);
    if (meter && s->where.tcp) return usage_error("meters speak over --rtu DEVICE or --dtu HOST:PORT, not --tcp");
    if (meter && s->units_text) return usage_error("--units: meters are found by address discovery, not by unit id");
    if (!s->where.rtu && (bauds || parities))
        return usage_error("--baud/--parity are the settings of --rtu DEVICE (behind --dtu: --line-baud)");
    if (s->units_text && !s->where.tcp && (!strcmp(s->units_text, "0") || !strncmp(s->units_text, "0,", 2) ||
                                           !strncmp(s->units_text, "0-", 2)))
        return usage_error("--units: unit id 0 is the broadcast address on a serial line: use 1..247");
    if (parse_units(s->units_text ? s->units_text : "1-247", s->where.tcp ? 0 : 1, s->where.tcp ? 255 : 247, s) !=
        EXIT_OK)
        return EXIT_USAGE;
    if (bauds && parse_bauds(bauds, s) != EXIT_OK) return EXIT_USAGE;
    if (parities && parse_parities(parities, s) != EXIT_OK) return EXIT_USAGE;
    if (!bauds) {
        s->bauds[0] = meter ? 2400 : 9600;
        s->baud_count = 1;
    }
    if (!parities) {
        if (bauds) {
            memcpy(s->parities, "NEO", 3);
            s->parity_count = 3;
        } else {
            s->parities[0] = meter ? 'E' : 'N';
            s->parity_count = 1;
        }
    }
    return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Progress on stderr: an updating line on a terminal, else a line every 5 s                            */
/* ---------------------------------------------------------------------------------------------------- */

static int progress_tty = -1, progress_shown;
static double progress_last;

static void progress(const char *setting, int done, int total, int found) {
    if (progress_tty < 0) progress_tty = isatty(STDERR_FILENO);
    double now = now_seconds();
    if (progress_tty) {
        if (now - progress_last < 0.1 && done < total) return;
        fprintf(stderr, "\r\033[K%s: %s%sunit %d/%d, found %d", subcommand, setting, setting[0] ? ", " : "", done,
                total, found);
        progress_shown = 1;
    } else {
        if (progress_last == 0) progress_last = now;
        if (now - progress_last < 5.0) return;
        fprintf(stderr, "%s: %s%sunit %d/%d, found %d\n", subcommand, setting, setting[0] ? ", " : "", done, total,
                found);
    }
    progress_last = now;
}

static void progress_end(void) {
    if (progress_shown) fputs("\r\033[K", stderr);
    progress_shown = 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Probing                                                                                              */
/* ---------------------------------------------------------------------------------------------------- */

static int is_found(const struct scan *s, const struct result *r, int unit) {
    if (!r->done[unit]) return 0;
    if (r->status[unit] == EDGECORE_STATUS_OK) return 1;
    /* Over Modbus TCP, exceptions 10 and 11 come from a gateway: no device behind it at that unit id. */
    return r->status[unit] == EDGECORE_STATUS_EXCEPTION && !(s->where.tcp && (r->detail[unit] == 10 || r->detail[unit] == 11));
}

static void setting_text(const struct scan *s, const struct result *r, char *out, size_t size) {
    if (s->where.rtu) snprintf(out, size, "%ld 8%c1", r->baud, r->parity);
    else out[0] = '\0';
}

/* One device at `unit` reading one value; its channel id. */
static int add_probe(struct edgecore_engine *engine, const struct scan *s, uint32_t bus, int unit, uint32_t *channel) {
    char name[32];
    struct edgecore_device_config d;
    edgecore_device_config_init(&d);
    snprintf(name, sizeof name, "unit%d", unit);
    d.name = name;
    d.bus = bus;
    d.unit_id = (uint8_t)unit;
    d.response_timeout_ms = (uint32_t)s->timeout_ms;
    d.retries = (uint32_t)s->retries;
    d.offline_after = 1000000;
    uint32_t device;
    int rc = edgecore_engine_add_device(engine, &d, &device);
    if (rc != EDGECORE_OK) return rc == EDGECORE_E_CONFIG ? usage_error("%s", edgecore_engine_last_error())
                                                          : runtime_error("device", rc);
    struct edgecore_channel_config c;
    edgecore_channel_config_init(&c);
    snprintf(name, sizeof name, "unit%d.probe", unit);
    c.name = name;
    c.device = device;
    c.function = (uint16_t)(s->function + 1);
    c.address = (uint16_t)s->address;
    c.type = s->function <= 1 ? EDGECORE_TYPE_BIT : EDGECORE_TYPE_U16;
    c.interval_ms = ONCE_MS;
    rc = edgecore_engine_add_channel(engine, &c, channel);
    if (rc != EDGECORE_OK) return rc == EDGECORE_E_CONFIG ? usage_error("%s", edgecore_engine_last_error())
                                                          : runtime_error("channel", rc);
    return EXIT_OK;
}

/* An engine on the line at r's setting with a probe device for each of `units` (channel ids 0, 1, ... in
 * that order), started: EXIT_OK, or the exit code with the engine destroyed. */
static int start_probes(const struct scan *s, const struct result *r, const uint8_t *units, int count,
                        struct edgecore_engine **engine, uint32_t *bus) {
    int rc = edgecore_engine_create(NULL, engine);
    if (rc != EDGECORE_OK) return runtime_error("create", rc);
    struct line_address where = s->where;
    where.baud = r->baud;
    where.parity = r->parity;
    int status = add_line_bus(*engine, &where, "line", bus); /* the names inside the engine are fixed */
    for (int i = 0; i < count && status == EXIT_OK; i++) {
        uint32_t channel;
        status = add_probe(*engine, s, *bus, units[i], &channel);
    }
    if (status == EXIT_OK && (rc = edgecore_engine_start(*engine)) != EDGECORE_OK) status = runtime_error("start", rc);
    if (status != EXIT_OK) {
        edgecore_engine_destroy(*engine);
        *engine = NULL;
    }
    return status;
}

/* Probe every unit id of `s` at one setting (stop_early: until the first is found). */
static int probe_units(const struct scan *s, struct result *r, int stop_early) {
    struct edgecore_engine *engine;
    uint32_t bus;
    int status = start_probes(s, r, s->units, s->unit_count, &engine, &bus);
    if (status != EXIT_OK) return status;
    char setting[48];
    setting_text(s, r, setting, sizeof setting);
    /* Bounded: every probe takes at most timeout x (1 + retries) on the wire, plus a margin. */
    double deadline = now_seconds() + 10.0 +
                      (double)s->unit_count * (double)(s->timeout_ms * (s->retries + 1) + 50) / 1000.0;
    struct edgecore_reading batch[256];
    while (!interrupted && r->probed < s->unit_count && !r->disconnected && !(stop_early && r->found)) {
        if (now_seconds() > deadline) {
            snprintf(r->problem, sizeof r->problem, "the probes did not finish in time");
            break;
        }
        int rc = edgecore_engine_wait(engine, 100);
        if (rc == EDGECORE_E_TIMEOUT) continue;
        if (rc < 0) break;
        int n = edgecore_engine_drain(engine, batch, 256);
        for (int i = 0; i < n; i++) {
            int index = (int)batch[i].channel;
            if (index >= s->unit_count) continue;
            int unit = s->units[index];
            if (r->done[unit]) continue;
            if (batch[i].status == EDGECORE_STATUS_DISCONNECTED) {
                struct edgecore_bus_stats stats;
                edgecore_engine_bus_stats(engine, bus, &stats);
                snprintf(r->problem, sizeof r->problem, "%s: %s", s->where.rtu ? "the port failed" : "cannot connect",
                         edgecore_strerror(stats.last_error ? stats.last_error : EDGECORE_E_DISCONNECTED));
                r->disconnected = 1;
                break;
            }
            r->done[unit] = 1;
            r->status[unit] = batch[i].status;
            r->detail[unit] = batch[i].status_detail;
            r->probed++;
            if (is_found(s, r, unit)) r->found++;
            else if (batch[i].status == EDGECORE_STATUS_CRC_ERROR) r->garbled++;
            else if (batch[i].status == EDGECORE_STATUS_EXCEPTION) r->gateway++;
        }
        progress(setting, r->probed, s->unit_count, r->found);
    }
    r->complete = r->probed == s->unit_count;
    r->stopped_early = stop_early && r->found && !r->complete;
    progress_end();
    edgecore_engine_stop(engine);
    edgecore_engine_destroy(engine);
    return EXIT_OK;
}

/* DL/T 645-2007 address discovery at one setting. The engine runs only with a channel: a Modbus probe of unit
 * 247 (F7 03 00 00 00 01 90 9C: no 68 or FE byte a meter could take for the start of a frame) is sent
 * once at start, before the discovery. */
static int discover_meter(const struct scan *s, struct result *r) {
    struct edgecore_engine *engine;
    uint32_t bus;
    struct scan probe = *s;
    probe.function = 2;
    probe.address = 0;
    probe.retries = 0;
    static const uint8_t unit_247[] = {247};
    int status = start_probes(&probe, r, unit_247, 1, &engine, &bus);
    if (status != EXIT_OK) return status;
    char setting[48];
    setting_text(s, r, setting, sizeof setting);
    if (progress_tty < 0) progress_tty = isatty(STDERR_FILENO);
    if (progress_tty) {
        fprintf(stderr, "\r\033[K%s: %s%sasking for the meter's address", subcommand, setting, setting[0] ? ", " : "");
        progress_shown = 1;
    }
    r->meter_rc = edgecore_engine_meter_discover(engine, bus, r->address, sizeof r->address,
                                                 (int32_t)(s->timeout_ms + 3000));
    progress_end();
    if (r->meter_rc != EDGECORE_OK) {
        const char *detail = edgecore_engine_last_error();
        snprintf(r->problem, sizeof r->problem, "%s", detail[0] ? detail : edgecore_strerror(r->meter_rc));
    }
    r->probed = 1;
    r->complete = 1;
    if (r->meter_rc == EDGECORE_OK) r->found = 1;
    else if (r->meter_rc == EDGECORE_E_DEVICE_FRAME) r->garbled = 1;
    else if (r->meter_rc == EDGECORE_E_DISCONNECTED) r->disconnected = 1;
    edgecore_engine_stop(engine);
    edgecore_engine_destroy(engine);
    return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Output                                                                                               */
/* ---------------------------------------------------------------------------------------------------- */

static const char *exception_name(int code) {
    switch (code) {
    case 1: return "illegal function";
    case 2: return "illegal data address";
    case 3: return "illegal data value";
    case 4: return "server device failure";
    case 5: return "acknowledge";
    case 6: return "server device busy";
    case 8: return "memory parity error";
    case 10: return "gateway path unavailable";
    case 11: return "gateway target device failed to respond";
    default: return "unknown exception";
    }
}

/* The unit ids of `s` as ranges: "1-247", "1-5,9". */
static void units_text(const struct scan *s, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < s->unit_count && used + 16 < size; i++) {
        int j = i;
        while (j + 1 < s->unit_count && s->units[j + 1] == s->units[j] + 1) j++;
        if (j > i) used += (size_t)snprintf(out + used, size - used, "%s%d-%d", i ? "," : "", s->units[i], s->units[j]);
        else used += (size_t)snprintf(out + used, size - used, "%s%d", i ? "," : "", s->units[i]);
        i = j;
    }
}

static const char *target(const struct scan *s) {
    return s->where.tcp ? s->where.tcp : s->where.rtu ? s->where.rtu : s->where.dtu;
}

static const char *transport(const struct scan *s) {
    return s->where.tcp ? "tcp" : s->where.rtu ? "rtu" : "dtu";
}

/* The setting the fragment uses: the one that found the most (the first of them); -1 when none found. */
static int best_setting(int count) {
    int best = -1;
    for (int i = 0; i < count; i++)
        if (results[i].found && (best < 0 || results[i].found > results[best].found)) best = i;
    return best;
}

static void print_bus(const struct scan *s, const struct result *r) {
    char host[256];
    long port = 502;
    printf("buses:\n  - name: %s\n", s->name);
    if (s->where.rtu) {
        printf("    type: rtu\n    device: \"%s\"\n    baud: %ld\n    parity: %c\n", s->where.rtu, r->baud, r->parity);
    } else {
        split_host_port("--tcp", s->where.tcp ? s->where.tcp : s->where.dtu, 0, host, sizeof host, &port);
        printf("    type: tcp\n");
        if (s->where.dtu) printf("    framing: transparent\n");
        printf("    host: \"%s\"\n    port: %ld\n", host, port);
        if (s->where.dtu) printf("    line_baud: %ld\n", s->where.line_baud);
    }
    printf("    devices:\n");
}

static void print_yaml(const struct scan *s, int count, int was_interrupted) {
    int meter = s->protocol != EDGECORE_PROTOCOL_MODBUS;
    char units[1024], setting[48];
    units_text(s, units, sizeof units);
    printf("# edgecore scan %s %s: ", transport(s), target(s));
    if (meter) printf("%s address discovery", PROTOCOLS[s->protocol]);
    else printf("unit ids %s, %s %ld, timeout %ld ms", units, s->function >= 2 ? "register" : "bit", s->address,
                s->timeout_ms);
    printf("%s\n", was_interrupted ? " (INTERRUPTED: a partial result)" : "");
    for (int i = 0; i < count; i++) {
        const struct result *r = &results[i];
        setting_text(s, r, setting, sizeof setting);
        printf("# %s%s", setting, setting[0] ? ": " : "");
        if (meter) {
            if (r->meter_rc == EDGECORE_OK) printf("meter %s answered\n", r->address);
            else if (r->meter_rc == EDGECORE_E_AMBIGUOUS)
                printf("SEVERAL METERS answered: connect one meter at a time and scan again, or read each address "
                       "you know (edgecore read --meter-address ADDRESS); %s\n", r->problem);
            else if (r->meter_rc == EDGECORE_E_DEVICE_TIMEOUT) printf("no meter answered\n");
            else printf("%s\n", r->problem);
            continue;
        }
        printf("%d of %d unit ids probed, %d found", r->probed, s->unit_count, r->found);
        if (r->stopped_early) printf(" (stopped at the first: scan with --baud %ld --parity %c for all)", r->baud, r->parity);
        printf("\n");
        for (int u = 0; u < MAX_UNITS; u++) {
            if (!r->done[u]) continue;
            if (r->status[u] == EDGECORE_STATUS_EXCEPTION)
                printf("#   unit %d answered with exception %u (%s)%s\n", u, r->detail[u], exception_name(r->detail[u]),
                       is_found(s, r, u) ? ": a device is there" : ": a gateway, no device behind it");
            else if (r->status[u] == EDGECORE_STATUS_CRC_ERROR)
                printf("#   unit %d: a garbled reply (bad CRC or frame): something answers at other settings?\n", u);
        }
        if (r->disconnected || r->problem[0]) printf("#   stopped: %s\n", r->problem);
    }
    int best = best_setting(count);
    if (best < 0) {
        printf("# nothing found\n");
        return;
    }
    const struct result *r = &results[best];
    print_bus(s, r);
    if (meter) {
        printf("      - name: %s_meter_%s\n        protocol: %s\n        meter_address: \"%s\"\n"
               "        channels: []    # add its channels, e.g. - {name: %s_meter_%s.energy, item: "
               "forward_active_energy_total}\n",
               s->name, r->address, PROTOCOLS[s->protocol], r->address, s->name, r->address);
        return;
    }
    for (int u = 0; u < MAX_UNITS; u++) {
        if (!is_found(s, r, u)) continue;
        printf("      - name: %s_unit_%d\n        unit_id: %d\n", s->name, u, u);
        printf("        channels: []    # add its channels, e.g. - {name: %s_unit_%d.value, function: %s, address: %ld}\n",
               s->name, u, FUNCTIONS[s->function], s->address);
    }
}

static void print_json(const struct scan *s, int count, int was_interrupted) {
    int meter = s->protocol != EDGECORE_PROTOCOL_MODBUS;
    char units[1024];
    units_text(s, units, sizeof units);
    printf("{\"transport\":\"%s\",\"target\":", transport(s));
    json_string(target(s));
    printf(",\"protocol\":\"%s\",\"name\":", PROTOCOLS[s->protocol]);
    json_string(s->name);
    if (!meter) {
        printf(",\"units\":\"%s\",\"function\":\"%s\",\"address\":%ld", units, FUNCTIONS[s->function], s->address);
    }
    printf(",\"timeout_ms\":%ld,\"interrupted\":%s,\"settings\":[", s->timeout_ms, was_interrupted ? "true" : "false");
    for (int i = 0; i < count; i++) {
        const struct result *r = &results[i];
        printf("%s{", i ? "," : "");
        if (s->where.rtu) printf("\"baud\":%ld,\"parity\":\"%c\",", r->baud, r->parity);
        else printf("\"baud\":null,\"parity\":null,");
        printf("\"probed\":%d,\"complete\":%s,\"stopped_at_first\":%s,\"problem\":", r->probed,
               r->complete ? "true" : "false", r->stopped_early ? "true" : "false");
        if (r->problem[0]) json_string(r->problem);
        else printf("null");
        if (meter) {
            const char *outcome = r->meter_rc == EDGECORE_OK ? "found" : r->meter_rc == EDGECORE_E_AMBIGUOUS ? "ambiguous"
                                  : r->meter_rc == EDGECORE_E_DEVICE_TIMEOUT ? "none" : r->garbled ? "garbled"
                                  : r->disconnected ? "disconnected" : "failed";
            printf(",\"result\":\"%s\",\"address\":", outcome);
            if (r->meter_rc == EDGECORE_OK) json_string(r->address);
            else printf("null");
            printf("}");
            continue;
        }
        printf(",\"found\":[");
        int first = 1;
        for (int u = 0; u < MAX_UNITS; u++) {
            if (!is_found(s, r, u)) continue;
            printf("%s{\"unit\":%d,\"status\":\"%s\"", first ? "" : ",", u, edgecore_status_name(r->status[u]));
            if (r->status[u] == EDGECORE_STATUS_EXCEPTION) printf(",\"exception\":%u", r->detail[u]);
            printf("}");
            first = 0;
        }
        printf("],\"garbled\":[");
        first = 1;
        for (int u = 0; u < MAX_UNITS; u++)
            if (r->done[u] && r->status[u] == EDGECORE_STATUS_CRC_ERROR) {
                printf("%s%d", first ? "" : ",", u);
                first = 0;
            }
        printf("],\"gateway\":[");
        first = 1;
        for (int u = 0; u < MAX_UNITS; u++)
            if (r->done[u] && r->status[u] == EDGECORE_STATUS_EXCEPTION && !is_found(s, r, u)) {
                printf("%s{\"unit\":%d,\"exception\":%u}", first ? "" : ",", u, r->detail[u]);
                first = 0;
            }
        printf("]}");
    }
    int best = best_setting(count);
    printf("],\"best\":");
    if (best < 0) printf("null");
    else printf("%d", best);
    printf("}\n");
}

/* ---------------------------------------------------------------------------------------------------- */
/* scan                                                                                                 */
/* ---------------------------------------------------------------------------------------------------- */

int cmd_scan(int argc, char **argv) {
    static struct scan s;
    int help_shown;
    int status = parse_scan(argc, argv, &s, &help_shown);
    if (status != EXIT_OK || help_shown) return status;
    if (s.where.rtu && (status = check_port(s.where.rtu)) != EXIT_OK) return status;
    int meter = s.protocol != EDGECORE_PROTOCOL_MODBUS;
    int count = 0, settings = s.baud_count * s.parity_count;
    /* Several settings without --units: each stops at its first find (a quick sweep). */
    int stop_early = settings > 1 && !s.units_text;
    for (int b = 0; b < s.baud_count && !interrupted; b++)
        for (int p = 0; p < s.parity_count && !interrupted; p++) {
            struct result *r = &results[count++];
            memset(r, 0, sizeof *r);
            r->baud = s.bauds[b];
            r->parity = s.parities[p];
            status = meter ? discover_meter(&s, r) : probe_units(&s, r, stop_early);
            if (status != EXIT_OK) return status;
            if (r->disconnected) goto done; /* the port failed, or no connection: no use trying further */
        }
done:;
    int was_interrupted = interrupted != 0;
    if (s.format == 1) print_json(&s, count, was_interrupted);
    else print_yaml(&s, count, was_interrupted);
    fflush(stdout);
    int found = 0, ambiguous = 0, disconnected = 0;
    for (int i = 0; i < count; i++) {
        found += results[i].found;
        ambiguous |= results[i].meter_rc == EDGECORE_E_AMBIGUOUS;
        disconnected |= results[i].disconnected;
        if (results[i].disconnected) fprintf(stderr, "%s: %s: %s\n", subcommand, target(&s), results[i].problem);
    }
    if (ambiguous && !found)
        fprintf(stderr, "%s: several meters answered: connect one at a time and scan again, or read each known "
                        "address with 'edgecore read --meter-address ADDRESS'\n", subcommand);
    if (was_interrupted) {
        fprintf(stderr, "%s: interrupted: the result above is partial\n", subcommand);
        return EXIT_INTERRUPTED;
    }
    if (!found) {
        if (!ambiguous && !disconnected) fprintf(stderr, "%s: nothing found\n", subcommand);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}
