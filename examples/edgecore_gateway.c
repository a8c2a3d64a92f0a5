/* edgecore_gateway: runs a site file's engine and forwards every reading of its journal to an MQTT broker
 * with QoS 1, acknowledging the journal only when the broker's PUBACK has arrived (docs/gateway.md).
 *
 *   edgecore_gateway [OPTIONS] SITE.yaml          (edgecore_gateway --help lists the options)
 *
 * One thread runs libmosquitto's loop, reads the journal cursor, makes and publishes the batches and
 * acknowledges them; a second one carries out the writes commanded on the command topic, so a slow device
 * never holds up the uplink. With --controller RULES a third one runs the greenhouse controller
 * (greenhouse_control.c, docs/greenhouse-controller.md): it drains the engine's ring (the uplink reads the
 * journal's cursor, which draining does not touch), feeds and ticks the controller; commands to its
 * override channels (local channels) reach it as readings. Links libEdgeCore and libmosquitto (Debian's
 * libmosquitto-dev).
 */
#define _GNU_SOURCE
#include <edgecore.h>

#include "greenhouse_control.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_SITE = 3, EXIT_JOURNAL = 4, EXIT_MQTT_SETUP = 5 };
enum { FORMAT_JSON, FORMAT_THINGSBOARD };
enum { COMMAND_QUEUE = 16, COMMAND_PAYLOAD_MAX = 4096, ID_MAX = 64 };

/* ---------------------------------------------------------------------------------------------------- */
/* Options                                                                                              */
/* ---------------------------------------------------------------------------------------------------- */

enum { HOSTS_MAX = 8 };

struct options {
    const char *hosts[HOSTS_MAX];
    int host_count;
    const char *site, *host, *id, *topic, *command_topic, *response_topic, *status_topic;
    const char *username, *password_file, *cafile, *cert, *key, *cursor, *controller;
    double controller_time_scale;
    int port, mqtt_version, format, keepalive;
    long batch_readings, batch_age_ms, window, max_payload, reconnect_min_ms, reconnect_max_ms;
    long write_timeout_ms, stats_interval_s, seconds;
    bool verbose;
};

static const char usage_text[] =
    "usage: edgecore_gateway [OPTIONS] SITE.yaml\n"
    "Runs the site file's engine and forwards every reading of its journal to an MQTT broker (QoS 1; the\n"
    "journal is acknowledged only after the broker's PUBACK). The site file must have a journal: section.\n"
    "\n"
    "  --host HOST[,HOST...]    broker host (default 127.0.0.1); a list (at most 8) is tried in turn\n"
    "  --port PORT              broker port (default 1883, 8883 with --cafile)\n"
    "  --id ID                  gateway id, 1..64 of A-Z a-z 0-9 _ - . (default: the host name)\n"
    "  --mqtt-version 5|3.1.1   protocol version (default 5)\n"
    "  --format json|thingsboard  payload format (default json)\n"
    "  --topic TOPIC            readings topic (default edgecore/ID/readings; thingsboard:\n"
    "                           v1/gateway/telemetry)\n"
    "  --command-topic TOPIC    commands (default edgecore/ID/command; \"\" turns commands off)\n"
    "  --response-topic TOPIC   command results (default edgecore/ID/response)\n"
    "  --status-topic TOPIC     online/offline, retained (default edgecore/ID/status)\n"
    "  --username USER          MQTT user name\n"
    "  --password-file FILE     the password is the file's first line\n"
    "  --cafile FILE            TLS: the CA certificate(s) the broker's certificate is checked against\n"
    "  --cert FILE --key FILE   TLS client certificate and key\n"
    "  --cursor NAME            journal cursor (default uplink)\n"
    "  --batch-readings N       readings per message at most, 1..4096 (default 250)\n"
    "  --batch-age-ms MS        publish a batch that is not full once its first reading is MS old\n"
    "                           (default 200)\n"
    "  --window N               messages in flight (until their acknowledgement is durable), 1..1024\n"
    "                           (default 32)\n"
    "  --max-payload BYTES      largest payload, 256..268435455 (default 262144); larger batches split\n"
    "  --keepalive S            MQTT keep-alive, 5..65535 (default 30)\n"
    "  --reconnect-min-ms MS    first back-off (default 500)\n"
    "  --reconnect-max-ms MS    longest back-off (default 30000)\n"
    "  --write-timeout-ms MS    deadline of a commanded write (default 2000)\n"
    "  --stats-interval S       statistics line every S seconds, 0: none (default 60)\n"
    "  --seconds N              stop after N seconds, 0: run until SIGTERM/SIGINT (default 0)\n"
    "  --controller RULES       also run the greenhouse controller with this rules file (a thread of its own;\n"
    "                           docs/greenhouse-controller.md); refused rules: exit 3\n"
    "  --controller-time-scale K  the controller's clock: K controller seconds per real second (default 1)\n"
    "  -v, --verbose            log every connection, message and acknowledgement\n"
    "  -h, --help               this text\n"
    "      --version            versions of the gateway, libEdgeCore and libmosquitto\n"
    "\n"
    "Exit codes: 0 stopped (SIGTERM, SIGINT, --seconds); 1 runtime failure; 2 usage; 3 site file (does not\n"
    "load, or has no journal) or --controller rules refused; 4 journal cursor; 5 MQTT set-up (password, CA,\n"
    "certificate or key file).\n"
    "An unreachable or refusing broker is not an exit reason: the gateway retries with back-off.\n"
    "Payloads, commands and delivery rules: docs/gateway.md.\n";

static void usage_error(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("edgecore_gateway: ", stderr);
    vfprintf(stderr, format, args);
    fputs("\n(edgecore_gateway --help lists the options)\n", stderr);
    va_end(args);
    exit(EXIT_USAGE);
}

static long parse_number(const char *option, const char *text, long low, long high) {
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < low || value > high)
        usage_error("--%s: '%s' is not a whole number from %ld to %ld", option, text, low, high);
    return value;
}

static bool valid_id(const char *id) {
    size_t length = strlen(id);
    if (length == 0 || length > ID_MAX) return false;
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') return false;
    return true;
}

/* Topics the gateway publishes to may not hold MQTT wildcards. */
static void check_topic(const char *option, const char *topic, bool may_be_empty) {
    if (!topic) return;
    if (!*topic && may_be_empty) return;
    if (!*topic || strpbrk(topic, "+#") || strlen(topic) > 1024)
        usage_error("--%s: '%s' is not a topic to publish to (1..1024 bytes, no + or #)", option, topic);
}

static char *format_text(const char *format, ...) {
    va_list args;
    va_start(args, format);
    char *text = NULL;
    if (vasprintf(&text, format, args) < 0) text = NULL;
    va_end(args);
    if (!text) {
        fputs("edgecore_gateway: out of memory\n", stderr);
        exit(EXIT_RUNTIME);
    }
    return text;
}

static void parse_options(int argc, char **argv, struct options *o) {
    enum { O_HOST = 256, O_PORT, O_ID, O_MQTT, O_FORMAT, O_TOPIC, O_COMMAND, O_RESPONSE, O_STATUS, O_USER,
           O_PASSWORD, O_CAFILE, O_CERT, O_KEY, O_CURSOR, O_BATCH, O_AGE, O_WINDOW, O_PAYLOAD, O_KEEPALIVE,
           O_RMIN, O_RMAX, O_WTIMEOUT, O_STATS, O_SECONDS, O_VERSION, O_CONTROLLER, O_CONTROLLER_SCALE };
    static const struct option long_options[] = {
        {"host", required_argument, 0, O_HOST}, {"port", required_argument, 0, O_PORT},
        {"id", required_argument, 0, O_ID}, {"mqtt-version", required_argument, 0, O_MQTT},
        {"format", required_argument, 0, O_FORMAT}, {"topic", required_argument, 0, O_TOPIC},
        {"command-topic", required_argument, 0, O_COMMAND}, {"response-topic", required_argument, 0, O_RESPONSE},
        {"status-topic", required_argument, 0, O_STATUS}, {"username", required_argument, 0, O_USER},
        {"password-file", required_argument, 0, O_PASSWORD}, {"cafile", required_argument, 0, O_CAFILE},
        {"cert", required_argument, 0, O_CERT}, {"key", required_argument, 0, O_KEY},
        {"cursor", required_argument, 0, O_CURSOR}, {"batch-readings", required_argument, 0, O_BATCH},
        {"batch-age-ms", required_argument, 0, O_AGE}, {"window", required_argument, 0, O_WINDOW},
        {"max-payload", required_argument, 0, O_PAYLOAD}, {"keepalive", required_argument, 0, O_KEEPALIVE},
        {"reconnect-min-ms", required_argument, 0, O_RMIN}, {"reconnect-max-ms", required_argument, 0, O_RMAX},
        {"write-timeout-ms", required_argument, 0, O_WTIMEOUT},
        {"stats-interval", required_argument, 0, O_STATS}, {"seconds", required_argument, 0, O_SECONDS},
        {"controller", required_argument, 0, O_CONTROLLER},
        {"controller-time-scale", required_argument, 0, O_CONTROLLER_SCALE},
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, O_VERSION},
        {0, 0, 0, 0}};
    *o = (struct options){.host = "127.0.0.1", .port = -1, .mqtt_version = 5, .format = FORMAT_JSON,
                          .cursor = "uplink", .keepalive = 30, .batch_readings = 250, .batch_age_ms = 200,
                          .window = 32, .max_payload = 262144, .reconnect_min_ms = 500,
                          .reconnect_max_ms = 30000, .write_timeout_ms = 2000, .stats_interval_s = 60,
                          .controller_time_scale = 1};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":vh", long_options, NULL)) != -1) {
        switch (c) {
        case O_HOST: o->host = optarg; break;
        case O_PORT: o->port = (int)parse_number("port", optarg, 1, 65535); break;
        case O_ID: o->id = optarg; break;
        case O_MQTT:
            if (!strcmp(optarg, "5")) o->mqtt_version = 5;
            else if (!strcmp(optarg, "3.1.1")) o->mqtt_version = 4;
            else usage_error("--mqtt-version: '%s' is not 5 or 3.1.1", optarg);
            break;
        case O_FORMAT:
            if (!strcmp(optarg, "json")) o->format = FORMAT_JSON;
            else if (!strcmp(optarg, "thingsboard")) o->format = FORMAT_THINGSBOARD;
            else usage_error("--format: '%s' is not json or thingsboard", optarg);
            break;
        case O_TOPIC: o->topic = optarg; break;
        case O_COMMAND: o->command_topic = optarg; break;
        case O_RESPONSE: o->response_topic = optarg; break;
        case O_STATUS: o->status_topic = optarg; break;
        case O_USER: o->username = optarg; break;
        case O_PASSWORD: o->password_file = optarg; break;
        case O_CAFILE: o->cafile = optarg; break;
        case O_CERT: o->cert = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_CURSOR: o->cursor = optarg; break;
        case O_BATCH: o->batch_readings = parse_number("batch-readings", optarg, 1, 4096); break;
        case O_AGE: o->batch_age_ms = parse_number("batch-age-ms", optarg, 0, 3600000); break;
        case O_WINDOW: o->window = parse_number("window", optarg, 1, 1024); break;
        case O_PAYLOAD: o->max_payload = parse_number("max-payload", optarg, 256, 268435455); break;
        case O_KEEPALIVE: o->keepalive = (int)parse_number("keepalive", optarg, 5, 65535); break;
        case O_RMIN: o->reconnect_min_ms = parse_number("reconnect-min-ms", optarg, 10, 3600000); break;
        case O_RMAX: o->reconnect_max_ms = parse_number("reconnect-max-ms", optarg, 10, 3600000); break;
        case O_WTIMEOUT: o->write_timeout_ms = parse_number("write-timeout-ms", optarg, 1, 600000); break;
        case O_STATS: o->stats_interval_s = parse_number("stats-interval", optarg, 0, 86400); break;
        case O_SECONDS: o->seconds = parse_number("seconds", optarg, 0, 100000000); break;
        case O_CONTROLLER: o->controller = optarg; break;
        case O_CONTROLLER_SCALE: {
            char *end = NULL;
            o->controller_time_scale = strtod(optarg, &end);
            if (end == optarg || *end || !(o->controller_time_scale >= 0.001 && o->controller_time_scale <= 1e6))
                usage_error("--controller-time-scale: '%s' is not a number from 0.001 to 1000000", optarg);
            break;
        }
        case 'v': o->verbose = true; break;
        case 'h': fputs(usage_text, stdout); exit(0);
        case O_VERSION: {
            int major, minor, revision;
            mosquitto_lib_version(&major, &minor, &revision);
            printf("edgecore_gateway %s (libEdgeCore %s, libmosquitto %d.%d.%d)\n", EDGECORE_VERSION_STRING,
                   edgecore_version_string(), major, minor, revision);
            exit(0);
        }
        case ':': usage_error("%s needs a value", argv[optind - 1]); break;
        default: usage_error("unknown option '%s'", argv[optind - 1]); break;
        }
    }
    if (optind == argc) usage_error("no site file given");
    if (optind + 1 < argc) usage_error("one site file only ('%s' is extra)", argv[optind + 1]);
    o->site = argv[optind];
    if (o->reconnect_max_ms < o->reconnect_min_ms)
        usage_error("--reconnect-max-ms (%ld) is below --reconnect-min-ms (%ld)", o->reconnect_max_ms,
                    o->reconnect_min_ms);
    if ((o->cert == NULL) != (o->key == NULL)) usage_error("--cert and --key go together");
    if (o->cert && !o->cafile) usage_error("--cert needs --cafile (TLS)");
    if (o->port < 0) o->port = o->cafile ? 8883 : 1883;
    char *list = format_text("%s", o->host);
    for (char *save = NULL, *host = strtok_r(list, ",", &save); host; host = strtok_r(NULL, ",", &save)) {
        if (o->host_count == HOSTS_MAX) usage_error("--host: more than %d hosts", HOSTS_MAX);
        o->hosts[o->host_count++] = host;
    }
    if (!o->host_count) usage_error("--host: no host in '%s'", o->host);
    if (!o->id) {
        static char host[256];
        if (gethostname(host, sizeof host - 1) != 0 || !*host) strcpy(host, "gateway");
        for (char *p = host; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') *p = '-';
        host[ID_MAX] = 0;
        o->id = host;
    }
    if (!valid_id(o->id)) usage_error("--id: '%s' is not 1..64 bytes of A-Z a-z 0-9 _ - .", o->id);
    if (!o->topic)
        o->topic = o->format == FORMAT_THINGSBOARD ? "v1/gateway/telemetry" : format_text("edgecore/%s/readings", o->id);
    if (!o->command_topic) o->command_topic = format_text("edgecore/%s/command", o->id);
    if (!o->response_topic) o->response_topic = format_text("edgecore/%s/response", o->id);
    if (!o->status_topic) o->status_topic = format_text("edgecore/%s/status", o->id);
    check_topic("topic", o->topic, false);
    check_topic("response-topic", o->response_topic, false);
    check_topic("status-topic", o->status_topic, false);
    if (*o->command_topic && strlen(o->command_topic) > 1024) usage_error("--command-topic: longer than 1024 bytes");
}

/* ---------------------------------------------------------------------------------------------------- */
/* Small things                                                                                         */
/* ---------------------------------------------------------------------------------------------------- */

static volatile sig_atomic_t stopping;
static void on_signal(int signal_number) { (void)signal_number; stopping = 1; }

static bool verbose;

static void say(const char *format, ...) {
    va_list args;
    va_start(args, format);
    flockfile(stderr);
    fputs("edgecore_gateway: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(args);
}

static int64_t realtime_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A growing text buffer. */
struct text {
    char *data;
    size_t length, capacity;
};

static bool text_reserve(struct text *t, size_t more) {
    if (t->length + more + 1 <= t->capacity) return true;
    size_t capacity = t->capacity ? t->capacity : 4096;
    while (capacity < t->length + more + 1) capacity *= 2;
    char *data = realloc(t->data, capacity);
    if (!data) return false;
    t->data = data;
    t->capacity = capacity;
    return true;
}

static bool text_add(struct text *t, const char *bytes, size_t count) {
    if (!text_reserve(t, count)) return false;
    memcpy(t->data + t->length, bytes, count);
    t->length += count;
    t->data[t->length] = 0;
    return true;
}

static bool text_put(struct text *t, const char *s) { return text_add(t, s, strlen(s)); }

static bool text_printf(struct text *t, const char *format, ...) {
    char small[128];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(small, sizeof small, format, args);
    va_end(args);
    if (n < 0) return false;
    if ((size_t)n < sizeof small) return text_add(t, small, (size_t)n);
    if (!text_reserve(t, (size_t)n)) return false;
    va_start(args, format);
    vsnprintf(t->data + t->length, (size_t)n + 1, format, args);
    va_end(args);
    t->length += (size_t)n;
    return true;
}

/* A JSON string literal of `s` (quotes included). */
static bool text_json_string(struct text *t, const char *s, size_t length) {
    if (!text_put(t, "\"")) return false;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok;
        if (c == '"') ok = text_put(t, "\\\"");
        else if (c == '\\') ok = text_put(t, "\\\\");
        else if (c == '\n') ok = text_put(t, "\\n");
        else if (c == '\r') ok = text_put(t, "\\r");
        else if (c == '\t') ok = text_put(t, "\\t");
        else if (c < 0x20) ok = text_printf(t, "\\u%04x", c);
        else ok = text_add(t, (const char *)&s[i], 1);
        if (!ok) return false;
    }
    return text_put(t, "\"");
}

/* 15 significant digits: all that a double carries reliably (26.9, not 26.900000000000002 for 269 x 0.1). */
static bool text_number(struct text *t, double value) { return text_printf(t, "%.15g", value); }

/* ---------------------------------------------------------------------------------------------------- */
/* The site: channel names, units and devices, JSON-escaped once                                       */
/* ---------------------------------------------------------------------------------------------------- */

struct channel_text {
    char *json_prefix;  /* {"channel":"NAME","unit":"UNIT","ts": */
    char *json_name;    /* "NAME" */
    const char *name;
    uint32_t device;    /* index into device_json, UINT32_MAX: the gateway itself (GPIO) */
    bool writable_hint;
};

struct site {
    struct edgecore_engine *engine;
    struct edgecore_journal *journal;
    uint32_t channels, devices;
    struct channel_text *channel;
    char **device_json;  /* "DEVICE" per device */
    char *gateway_json;  /* "ID" */
    uint64_t instance;
    struct gc_controller *controller;  /* --controller */
};

/* The text's bytes in a right-sized allocation (a text reserves 4 KiB at first; these live as long as the
 * process, one or two per channel). */
static char *text_keep(struct text *t) {
    char *kept = t->data ? realloc(t->data, t->length + 1) : NULL;
    if (!kept) {
        fputs("edgecore_gateway: out of memory\n", stderr);
        exit(EXIT_RUNTIME);
    }
    return kept;
}

static char *json_literal(const char *s) {
    struct text t = {0};
    if (!text_json_string(&t, s, strlen(s))) {
        fputs("edgecore_gateway: out of memory\n", stderr);
        exit(EXIT_RUNTIME);
    }
    return text_keep(&t);
}

static void site_describe(struct site *site, const char *gateway_id) {
    edgecore_engine_counts(site->engine, NULL, &site->devices, &site->channels);
    site->channel = calloc(site->channels ? site->channels : 1, sizeof *site->channel);
    site->device_json = calloc(site->devices ? site->devices : 1, sizeof *site->device_json);
    if (!site->channel || !site->device_json) {
        fputs("edgecore_gateway: out of memory\n", stderr);
        exit(EXIT_RUNTIME);
    }
    for (uint32_t d = 0; d < site->devices; d++) {
        const char *name = "";
        edgecore_engine_device_info(site->engine, d, &name, NULL, NULL);
        site->device_json[d] = json_literal(name);
    }
    site->gateway_json = json_literal(gateway_id);
    for (uint32_t c = 0; c < site->channels; c++) {
        const char *name = "", *unit = "";
        uint32_t device = UINT32_MAX;
        edgecore_engine_channel_info(site->engine, c, &name, &unit, &device);
        struct text t = {0};
        text_put(&t, "{\"channel\":");
        text_json_string(&t, name, strlen(name));
        text_put(&t, ",\"unit\":");
        text_json_string(&t, unit ? unit : "", unit ? strlen(unit) : 0);
        if (!text_put(&t, ",\"ts\":")) {
            fputs("edgecore_gateway: out of memory\n", stderr);
            exit(EXIT_RUNTIME);
        }
        site->channel[c] = (struct channel_text){.json_prefix = text_keep(&t), .json_name = json_literal(name), .name = name,
                                                 .device = device < site->devices ? device : UINT32_MAX};
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* Payloads                                                                                             */
/* ---------------------------------------------------------------------------------------------------- */

static int64_t timestamp_ms(int64_t ns) { return ns >= 0 ? ns / 1000000 : -((-ns + 999999) / 1000000); }

static bool reading_value_is_null(const struct edgecore_reading *r) {
    return r->status != EDGECORE_STATUS_OK || !isfinite(r->value);
}

static bool encode_json(const struct site *site, const struct options *o, const struct edgecore_reading *readings,
                        size_t count, uint64_t first, struct text *out) {
    out->length = 0;
    bool ok = text_printf(out, "{\"gateway\":%s,\"instance\":\"%016" PRIx64 "\",\"first\":%" PRIu64 ",\"last\":%" PRIu64
                          ",\"readings\":[", site->gateway_json, site->instance, first, first + count - 1);
    (void)o;
    for (size_t i = 0; ok && i < count; i++) {
        const struct edgecore_reading *r = &readings[i];
        if (i) ok = text_put(out, ",");
        if (r->channel < site->channels) ok = ok && text_put(out, site->channel[r->channel].json_prefix);
        else ok = ok && text_printf(out, "{\"channel\":\"#%" PRIu32 "\",\"unit\":\"\",\"ts\":", r->channel);
        ok = ok && text_printf(out, "%" PRId64 ",\"value\":", timestamp_ms(r->timestamp_ns));
        ok = ok && (reading_value_is_null(r) ? text_put(out, "null") : text_number(out, r->value));
        ok = ok && text_printf(out, ",\"status\":\"%s\"", edgecore_status_name(r->status));
        if (ok && r->status_detail) ok = text_printf(out, ",\"detail\":%u", (unsigned)r->status_detail);
        ok = ok && text_put(out, "}");
    }
    return ok && text_put(out, "]}");
}

/* ThingsBoard: {"DEVICE":[{"ts":MS,"values":{"CHANNEL":VALUE,...}},...],...}: readings grouped by device,
 * then by timestamp, each group in the order of its first reading. */
struct tb_order {
    const struct site *site;
    const struct edgecore_reading *readings;
    uint32_t *first_of_device; /* per device slot: the index of its first reading */
};

static uint32_t tb_device(const struct site *site, const struct edgecore_reading *r) {
    if (r->channel >= site->channels || site->channel[r->channel].device == UINT32_MAX) return site->devices;
    return site->channel[r->channel].device;
}

static const struct tb_order *tb_current;
static int tb_compare(const void *a, const void *b) {
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const struct edgecore_reading *ri = &tb_current->readings[i], *rj = &tb_current->readings[j];
    uint32_t di = tb_current->first_of_device[tb_device(tb_current->site, ri)];
    uint32_t dj = tb_current->first_of_device[tb_device(tb_current->site, rj)];
    if (di != dj) return di < dj ? -1 : 1;
    int64_t ti = timestamp_ms(ri->timestamp_ns), tj = timestamp_ms(rj->timestamp_ns);
    if (ti != tj) return ti < tj ? -1 : 1;
    return i < j ? -1 : i > j;
}

static bool encode_thingsboard(const struct site *site, const struct edgecore_reading *readings, size_t count,
                               struct text *out) {
    uint32_t *order = malloc(count * sizeof *order);
    uint32_t *first_of_device = malloc((site->devices + 1) * sizeof *first_of_device);
    if (!order || !first_of_device) {
        free(order);
        free(first_of_device);
        return false;
    }
    for (uint32_t d = 0; d <= site->devices; d++) first_of_device[d] = UINT32_MAX;
    for (uint32_t i = 0; i < count; i++) {
        order[i] = i;
        uint32_t d = tb_device(site, &readings[i]);
        if (first_of_device[d] == UINT32_MAX) first_of_device[d] = i;
    }
    struct tb_order context = {site, readings, first_of_device};
    tb_current = &context;
    qsort(order, count, sizeof *order, tb_compare);
    out->length = 0;
    bool ok = text_put(out, "{");
    uint32_t device = UINT32_MAX;
    int64_t ts = 0;
    for (uint32_t k = 0; ok && k < count; k++) {
        const struct edgecore_reading *r = &readings[order[k]];
        uint32_t d = tb_device(site, r);
        int64_t t = timestamp_ms(r->timestamp_ns);
        if (d != device) {
            if (device != UINT32_MAX) ok = text_put(out, "}}],");
            ok = ok && text_put(out, d < site->devices ? site->device_json[d] : site->gateway_json);
            ok = ok && text_printf(out, ":[{\"ts\":%" PRId64 ",\"values\":{", t);
            device = d;
            ts = t;
        } else if (t != ts) {
            ok = text_printf(out, "}},{\"ts\":%" PRId64 ",\"values\":{", t);
            ts = t;
        } else {
            ok = text_put(out, ",");
        }
        if (r->channel < site->channels) {
            const char *key = site->channel[r->channel].json_name;
            if (reading_value_is_null(r)) {
                ok = ok && text_add(out, key, strlen(key) - 1) &&
                     text_printf(out, "_status\":\"%s\"", edgecore_status_name(r->status));
            } else {
                ok = ok && text_put(out, key) && text_put(out, ":") && text_number(out, r->value);
            }
        } else {
            ok = ok && text_printf(out, "\"#%" PRIu32 "%s\":", r->channel, reading_value_is_null(r) ? "_status" : "");
            ok = ok && (reading_value_is_null(r) ? text_printf(out, "\"%s\"", edgecore_status_name(r->status))
                                                 : text_number(out, r->value));
        }
    }
    if (ok && device != UINT32_MAX) ok = text_put(out, "}}]");
    ok = ok && text_put(out, "}");
    free(order);
    free(first_of_device);
    return ok;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Commands: a minimal strict JSON reader for one flat object                                          */
/* ---------------------------------------------------------------------------------------------------- */

struct command {
    char id[ID_MAX + 1];
    bool has_id;
    char channel_name[256];
    uint32_t channel;
    double value;
    /* the answer */
    int code;
    char message[512];
};

struct json_reader {
    const char *p, *end;
    char error[160];
};

static void json_skip_space(struct json_reader *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static bool json_fail(struct json_reader *j, const char *what) {
    if (!j->error[0]) snprintf(j->error, sizeof j->error, "%s", what);
    return false;
}

static void put_utf8(char *out, size_t *n, size_t max, unsigned code) {
    unsigned char bytes[4];
    size_t count;
    if (code < 0x80) { bytes[0] = (unsigned char)code; count = 1; }
    else if (code < 0x800) { bytes[0] = (unsigned char)(0xC0 | (code >> 6)); bytes[1] = (unsigned char)(0x80 | (code & 0x3F)); count = 2; }
    else { bytes[0] = (unsigned char)(0xE0 | (code >> 12)); bytes[1] = (unsigned char)(0x80 | ((code >> 6) & 0x3F));
           bytes[2] = (unsigned char)(0x80 | (code & 0x3F)); count = 3; }
    for (size_t i = 0; i < count; i++) {
        if (*n < max) out[*n] = (char)bytes[i];
        (*n)++;
    }
}

/* A string into out (NUL-terminated, at most max bytes); false if longer or malformed. */
static bool json_string(struct json_reader *j, char *out, size_t max, const char *what) {
    if (j->p >= j->end || *j->p != '"') return json_fail(j, what);
    j->p++;
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20) return json_fail(j, "a control character in a string");
        if (c == '\\') {
            if (j->p >= j->end) break;
            char e = *j->p++;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                static const char decoded[] = "\"\\/\b\f\n\r\t";
                if (n < max) out[n] = decoded[simple - "\"\\/bfnrt"];
                n++;
            } else if (e == 'u') {
                if (j->end - j->p < 4) return json_fail(j, "a bad \\u escape");
                unsigned code = 0;
                for (int k = 0; k < 4; k++) {
                    char h = *j->p++;
                    code <<= 4;
                    if (h >= '0' && h <= '9') code |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') code |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') code |= (unsigned)(h - 'A' + 10);
                    else return json_fail(j, "a bad \\u escape");
                }
                if (code == 0 || (code >= 0xD800 && code <= 0xDFFF)) return json_fail(j, "a \\u escape this reader refuses (NUL or a surrogate)");
                put_utf8(out, &n, max, code);
            } else {
                return json_fail(j, "a bad escape in a string");
            }
        } else {
            if (n < max) out[n] = (char)c;
            n++;
        }
    }
    if (j->p >= j->end) return json_fail(j, "an unterminated string");
    j->p++;
    if (n >= max) {
        snprintf(j->error, sizeof j->error, "%s is longer than %zu bytes", what, max - 1);
        return false;
    }
    out[n] = 0;
    return true;
}

static bool json_number_or_bool(struct json_reader *j, double *value) {
    if (j->end - j->p >= 4 && !memcmp(j->p, "true", 4)) { j->p += 4; *value = 1; return true; }
    if (j->end - j->p >= 5 && !memcmp(j->p, "false", 5)) { j->p += 5; *value = 0; return true; }
    /* JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    const char *s = j->p;
    if (s < j->end && *s == '-') s++;
    if (s >= j->end || !isdigit((unsigned char)*s)) return json_fail(j, "\"value\" must be a number, true or false");
    if (*s == '0') s++;
    else while (s < j->end && isdigit((unsigned char)*s)) s++;
    if (s < j->end && *s == '.') {
        s++;
        if (s >= j->end || !isdigit((unsigned char)*s)) return json_fail(j, "\"value\" is not a JSON number");
        while (s < j->end && isdigit((unsigned char)*s)) s++;
    }
    if (s < j->end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < j->end && (*s == '+' || *s == '-')) s++;
        if (s >= j->end || !isdigit((unsigned char)*s)) return json_fail(j, "\"value\" is not a JSON number");
        while (s < j->end && isdigit((unsigned char)*s)) s++;
    }
    char digits[64];
    size_t length = (size_t)(s - j->p);
    if (length >= sizeof digits) return json_fail(j, "\"value\" has too many digits");
    memcpy(digits, j->p, length);
    digits[length] = 0;
    *value = strtod(digits, NULL);
    if (!isfinite(*value)) return json_fail(j, "\"value\" is out of range");
    j->p = s;
    return true;
}

/* Parses {"id":"...","channel":"...","value":N}; false with j->error set otherwise. */
static bool parse_command(const char *payload, size_t length, struct command *command, char *error, size_t error_size) {
    struct json_reader j = {.p = payload, .end = payload + length};
    bool has_channel = false, has_value = false;
    memset(command, 0, sizeof *command);
    json_skip_space(&j);
    if (j.p >= j.end || *j.p != '{') {
        json_fail(&j, "not a JSON object");
        goto fail;
    }
    j.p++;
    json_skip_space(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
    } else {
        for (;;) {
            char key[16];
            json_skip_space(&j);
            if (!json_string(&j, key, sizeof key, "a key")) {
                if (!strncmp(j.error, "a key is longer", 15)) snprintf(j.error, sizeof j.error, "an unknown key");
                goto fail;
            }
            json_skip_space(&j);
            if (j.p >= j.end || *j.p != ':') { json_fail(&j, "a ':' after a key"); goto fail; }
            j.p++;
            json_skip_space(&j);
            if (!strcmp(key, "id")) {
                if (command->has_id) { json_fail(&j, "\"id\" twice"); goto fail; }
                if (!json_string(&j, command->id, sizeof command->id, "\"id\" (a string)")) goto fail;
                command->has_id = true;
            } else if (!strcmp(key, "channel")) {
                if (has_channel) { json_fail(&j, "\"channel\" twice"); goto fail; }
                if (!json_string(&j, command->channel_name, sizeof command->channel_name, "\"channel\" (a string)")) goto fail;
                has_channel = true;
            } else if (!strcmp(key, "value")) {
                if (has_value) { json_fail(&j, "\"value\" twice"); goto fail; }
                if (!json_number_or_bool(&j, &command->value)) goto fail;
                has_value = true;
            } else {
                snprintf(j.error, sizeof j.error, "the unknown key \"%s\" (keys: id, channel, value)", key);
                goto fail;
            }
            json_skip_space(&j);
            if (j.p < j.end && *j.p == ',') { j.p++; continue; }
            if (j.p < j.end && *j.p == '}') { j.p++; break; }
            json_fail(&j, "',' or '}' after a value");
            goto fail;
        }
    }
    json_skip_space(&j);
    if (j.p != j.end) { json_fail(&j, "text after the object"); goto fail; }
    if (!has_channel) { json_fail(&j, "no \"channel\""); goto fail; }
    if (!has_value) { json_fail(&j, "no \"value\""); goto fail; }
    return true;
fail:
    snprintf(error, error_size, "malformed command: %s; expected {\"id\":\"...\",\"channel\":\"NAME\",\"value\":NUMBER}",
             j.error[0] ? j.error : "unreadable");
    return false;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The gateway's state                                                                                  */
/* ---------------------------------------------------------------------------------------------------- */

enum flight_state { FLIGHT_SENT, FLIGHT_ACKED, FLIGHT_FAILED };

struct flight {
    int mid;
    uint64_t first, last;
    size_t bytes;
    enum flight_state state;
};

struct gateway {
    struct options *o;
    struct site *site;
    struct mosquitto *mosq;
    int host_index;               /* o->hosts[host_index] is tried now */
    bool connecting, connected;
    bool refusal_logged;          /* the CONNACK of this attempt refused, and said so */
    int64_t next_attempt_ms, backoff_ms;
    int64_t hold_until_ms;        /* after a refused message: no publishing before this */
    int64_t failure_backoff_ms;
    long payload_limit;           /* --max-payload, lowered by the broker's limits */
    bool limit_guessed;           /* payload_limit was lowered by halving a refused message: a message of one
                                     reading over it is still tried (the broker's answer decides) */
    long broker_packet_limit;     /* MQTT 5 CONNACK maximum packet size, 0: none */
    /* readings read from the cursor, not yet published */
    struct edgecore_reading *pending;
    uint64_t *pending_sequence;
    size_t pending_count, pending_capacity;
    int64_t pending_since_ms;
    /* messages in flight, oldest first (a ring of o->window entries) */
    struct flight *flights;
    size_t flight_head, flight_count;
    bool resend_needed;
    int refused_reason;
    int fatal;                    /* an exit code the main loop stops with */
    uint64_t acknowledged;        /* journal acknowledgement sent so far */
    struct text payload;
    /* counters */
    uint64_t messages, readings_published, acks, reconnects, refused_messages, splits, commands, commands_refused;
    uint64_t connection_failures;
    bool ever_connected;
    /* commands */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct command queue[COMMAND_QUEUE], done[COMMAND_QUEUE];
    size_t queued, queue_head, done_count;
    bool command_worker_stop;
};

static struct flight *flight_at(struct gateway *g, size_t k) {
    return &g->flights[(g->flight_head + k) % (size_t)g->o->window];
}

/* ---------------------------------------------------------------------------------------------------- */
/* Commands: the worker thread                                                                          */
/* ---------------------------------------------------------------------------------------------------- */

static void answer(struct gateway *g, struct command *command) {
    /* called with g->lock held */
    if (g->done_count < COMMAND_QUEUE) g->done[g->done_count++] = *command;
    else say("command answer dropped (16 answers waiting for the broker): %s", command->message);
}

static void *command_worker(void *argument) {
    struct gateway *g = argument;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        while (!g->queued && !g->command_worker_stop) pthread_cond_wait(&g->wake, &g->lock);
        if (g->command_worker_stop && !g->queued) break;
        struct command command = g->queue[g->queue_head];
        g->queue_head = (g->queue_head + 1) % COMMAND_QUEUE;
        g->queued--;
        bool stop = g->command_worker_stop;
        pthread_mutex_unlock(&g->lock);
        if (stop) {
            command.code = EDGECORE_E_NOT_RUNNING;
            snprintf(command.message, sizeof command.message, "not written: the gateway is stopping");
        } else {
            command.code = edgecore_engine_write(g->site->engine, command.channel, command.value,
                                                 (int32_t)g->o->write_timeout_ms);
            if (command.code == 0)
                snprintf(command.message, sizeof command.message, "written");
            else if (command.code == EDGECORE_E_NOT_WRITABLE)
                snprintf(command.message, sizeof command.message,
                         "not writable: %s is not declared writable in the site file", command.channel_name);
            else
                snprintf(command.message, sizeof command.message, "%s: %s", edgecore_strerror(command.code),
                         edgecore_engine_last_error());
        }
        say("command %s%s%s%s = %g: %s", command.has_id ? "\"" : "", command.has_id ? command.id : "",
            command.has_id ? "\" " : "", command.channel_name, command.value, command.message);
        pthread_mutex_lock(&g->lock);
        if (command.code != 0) g->commands_refused++;
        answer(g, &command);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

static void refuse_command(struct gateway *g, struct command *command, int code, const char *message) {
    command->code = code;
    snprintf(command->message, sizeof command->message, "%s", message);
    say("command refused: %s", message);
    pthread_mutex_lock(&g->lock);
    g->commands_refused++;
    answer(g, command);
    pthread_mutex_unlock(&g->lock);
}

static void on_message(struct mosquitto *mosq, void *data, const struct mosquitto_message *message,
                       const mosquitto_property *properties) {
    (void)mosq;
    (void)properties;
    struct gateway *g = data;
    struct command command;
    char error[400];
    g->commands++;
    if (message->payloadlen > COMMAND_PAYLOAD_MAX) {
        memset(&command, 0, sizeof command);
        snprintf(error, sizeof error, "malformed command: %d bytes, more than the %d a command may have",
                 message->payloadlen, COMMAND_PAYLOAD_MAX);
        refuse_command(g, &command, EDGECORE_E_INVALID_ARGUMENT, error);
        return;
    }
    if (!parse_command(message->payload ? message->payload : "", (size_t)message->payloadlen, &command, error,
                       sizeof error)) {
        refuse_command(g, &command, EDGECORE_E_INVALID_ARGUMENT, error);
        return;
    }
    int found = edgecore_engine_find_channel(g->site->engine, command.channel_name, &command.channel);
    if (found != 0) {
        snprintf(error, sizeof error, "unknown channel \"%s\": the site file has no channel of that name",
                 command.channel_name);
        refuse_command(g, &command, EDGECORE_E_NOT_FOUND, error);
        return;
    }
    pthread_mutex_lock(&g->lock);
    if (g->queued == COMMAND_QUEUE) {
        pthread_mutex_unlock(&g->lock);
        refuse_command(g, &command, EDGECORE_E_LIMIT, "busy: 16 commands are waiting; not written");
        return;
    }
    g->queue[(g->queue_head + g->queued) % COMMAND_QUEUE] = command;
    g->queued++;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
}

/* Publishes the answers the worker has made (main thread, connected). */
static void publish_answers(struct gateway *g) {
    struct command done[COMMAND_QUEUE];
    size_t count;
    pthread_mutex_lock(&g->lock);
    count = g->done_count;
    memcpy(done, g->done, count * sizeof *done);
    g->done_count = 0;
    pthread_mutex_unlock(&g->lock);
    for (size_t i = 0; i < count; i++) {
        struct text t = {0};
        bool ok = text_put(&t, "{\"id\":");
        ok = ok && (done[i].has_id ? text_json_string(&t, done[i].id, strlen(done[i].id)) : text_put(&t, "null"));
        ok = ok && text_put(&t, ",\"channel\":");
        ok = ok && (done[i].channel_name[0] ? text_json_string(&t, done[i].channel_name, strlen(done[i].channel_name))
                                            : text_put(&t, "null"));
        ok = ok && text_printf(&t, ",\"ok\":%s,\"code\":%d,\"message\":", done[i].code == 0 ? "true" : "false",
                               done[i].code);
        ok = ok && text_json_string(&t, done[i].message, strlen(done[i].message)) && text_put(&t, "}");
        if (ok) mosquitto_publish(g->mosq, NULL, g->o->response_topic, (int)t.length, t.data, 1, false);
        free(t.data);
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* MQTT callbacks                                                                                       */
/* ---------------------------------------------------------------------------------------------------- */

/* libmosquitto's error, in words (its own table lacks some, e.g. the keep-alive). */
static const char *mqtt_error(int rc) {
    if (rc == MOSQ_ERR_ERRNO) return strerror(errno);
    if (rc == MOSQ_ERR_KEEPALIVE) return "no answer from the broker within 1.5 keep-alive periods";
    return mosquitto_strerror(rc);
}

static const char *reason_text(const struct gateway *g, int rc) {
    return g->o->mqtt_version == 5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
}

static const char *host(const struct gateway *g) { return g->o->hosts[g->host_index]; }

/* The next attempt goes to the next host of the list. */
static void schedule_reconnect(struct gateway *g) {
    g->host_index = (g->host_index + 1) % g->o->host_count;
    int64_t base = g->backoff_ms;
    int64_t jitter = base / 5 ? (int64_t)(random() % (2 * (base / 5) + 1)) - base / 5 : 0;
    g->next_attempt_ms = monotonic_ms() + base + jitter;
    g->backoff_ms = base * 2 > g->o->reconnect_max_ms ? g->o->reconnect_max_ms : base * 2;
}

static void on_connect(struct mosquitto *mosq, void *data, int rc, int flags, const mosquitto_property *properties) {
    (void)flags;
    struct gateway *g = data;
    g->connecting = false;
    if (rc != 0) {
        g->connection_failures++;
        g->refusal_logged = true;
        bool credentials = g->o->mqtt_version == 5 ? rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD || rc == MQTT_RC_NOT_AUTHORIZED
                                                   : rc == 4 || rc == 5;
        say("connection refused by %s:%d: %s (rc %d)%s; next attempt in %.1f s", host(g), g->o->port,
            reason_text(g, rc), rc, credentials ? ": check --username and --password-file against the broker's users" : "",
            (double)g->backoff_ms / 1000);
        schedule_reconnect(g);
        mosquitto_disconnect(mosq);
        return;
    }
    g->connected = true;
    if (g->ever_connected) g->reconnects++;
    g->ever_connected = true;
    g->backoff_ms = g->o->reconnect_min_ms;
    uint32_t maximum = 0;
    g->broker_packet_limit = 0;
    if (properties && mosquitto_property_read_int32(properties, MQTT_PROP_MAXIMUM_PACKET_SIZE, &maximum, false))
        g->broker_packet_limit = (long)maximum;
    say("connected to %s:%d (MQTT %s)%s", host(g), g->o->port, g->o->mqtt_version == 5 ? "5" : "3.1.1",
        g->broker_packet_limit ? "; the broker's maximum packet size applies" : "");
    if (g->broker_packet_limit && verbose) say("broker maximum packet size %ld bytes", g->broker_packet_limit);
    mosquitto_publish(mosq, NULL, g->o->status_topic, 6, "online", 1, true);
    if (*g->o->command_topic) mosquitto_subscribe(mosq, NULL, g->o->command_topic, 1);
}

static void on_disconnect(struct mosquitto *mosq, void *data, int rc, const mosquitto_property *properties) {
    (void)mosq;
    (void)properties;
    struct gateway *g = data;
    bool was_connected = g->connected;
    g->connected = false;
    g->connecting = false;
    if (stopping && rc == 0) return;
    if (was_connected) {
        say("connection to %s:%d lost: %s; %zu messages in flight are sent again after reconnecting", host(g),
            g->o->port, rc == 0 ? "closed" : mqtt_error(rc), g->flight_count);
        g->backoff_ms = g->o->reconnect_min_ms;
    } else if (!g->refusal_logged) {
        g->connection_failures++;
        say("cannot connect to %s:%d: %s (no CONNACK); next attempt in %.1f s", host(g), g->o->port,
            mqtt_error(rc), (double)g->backoff_ms / 1000);
    }
    if (g->next_attempt_ms <= monotonic_ms()) schedule_reconnect(g);
}

static void acknowledge_prefix(struct gateway *g) {
    uint64_t upto = g->acknowledged;
    for (size_t k = 0; k < g->flight_count; k++) {
        struct flight *f = flight_at(g, k);
        if (f->state != FLIGHT_ACKED) break;
        upto = f->last;
    }
    if (upto > g->acknowledged) {
        int rc = edgecore_journal_ack(g->site->journal, g->o->cursor, upto);
        if (rc != 0) {
            say("journal acknowledgement of %" PRIu64 " failed: %s", upto, edgecore_journal_last_error());
        } else {
            g->acknowledged = upto;
            g->acks++;
            if (verbose) say("acknowledged the journal up to %" PRIu64, upto);
        }
    }
}

static void on_publish(struct mosquitto *mosq, void *data, int mid, int reason, const mosquitto_property *properties) {
    (void)mosq;
    (void)properties;
    struct gateway *g = data;
    for (size_t k = 0; k < g->flight_count; k++) {
        struct flight *f = flight_at(g, k);
        if (f->mid != mid || f->state != FLIGHT_SENT) continue;
        if (reason >= 0x80) {
            f->state = FLIGHT_FAILED;
            g->resend_needed = true;
            g->refused_reason = reason;
            if (reason == MQTT_RC_PACKET_TOO_LARGE && f->first == f->last && !g->fatal) {
                say("the broker refuses a message of one reading (sequence %" PRIu64 ", %zu bytes) as too large: "
                    "raise its message size limit", f->first, f->bytes);
                g->fatal = EXIT_MQTT_SETUP;
            }
            /* no floor: halving reaches a message of one reading, whose refusal stops the gateway */
            if (reason == MQTT_RC_PACKET_TOO_LARGE && (long)f->bytes / 2 < g->payload_limit) {
                g->payload_limit = (long)f->bytes / 2;
                g->limit_guessed = true;
            }
            g->refused_messages++;
            say("the broker refused message %d (readings %" PRIu64 "..%" PRIu64 "): %s (0x%02x); it and the later ones "
                "are sent again", mid, f->first, f->last, mosquitto_reason_string(reason), reason);
        } else {
            f->state = FLIGHT_ACKED;
            if (verbose) say("PUBACK %d: readings %" PRIu64 "..%" PRIu64, mid, f->first, f->last);
        }
        acknowledge_prefix(g);
        return;
    }
}

static void on_log(struct mosquitto *mosq, void *data, int level, const char *text) {
    (void)mosq;
    (void)data;
    if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) say("mqtt: %s", text);
    else if (verbose && !(level & MOSQ_LOG_DEBUG)) say("mqtt: %s", text);
}

/* ---------------------------------------------------------------------------------------------------- */
/* The uplink                                                                                           */
/* ---------------------------------------------------------------------------------------------------- */

static void start_connect(struct gateway *g) {
    /* connect_bind_async keeps the messages in flight, as reconnect_async does */
    int rc = g->o->host_count == 1 && (g->ever_connected || g->connection_failures)
                 ? mosquitto_reconnect_async(g->mosq)
                 : mosquitto_connect_bind_async(g->mosq, host(g), g->o->port, g->o->keepalive, NULL);
    if (rc == MOSQ_ERR_SUCCESS) {
        g->connecting = true;
        g->refusal_logged = false;
        if (verbose) say("connecting to %s:%d", host(g), g->o->port);
        return;
    }
    g->connection_failures++;
    const char *why = mqtt_error(rc);
    say("cannot connect to %s:%d: %s; next attempt in %.1f s", host(g), g->o->port, why, (double)g->backoff_ms / 1000);
    schedule_reconnect(g);
}

/* Pops messages whose acknowledgement is durable in the journal. */
static void retire_durable(struct gateway *g) {
    if (!g->flight_count) return;
    struct edgecore_journal_stats stats;
    if (edgecore_journal_stats(g->site->journal, &stats) != 0) return;
    uint64_t durable = 0;
    for (uint32_t i = 0; i < stats.cursors; i++) {
        struct edgecore_journal_cursor_stats cursor;
        if (edgecore_journal_cursor_stats(g->site->journal, i, &cursor) == 0 && !strcmp(cursor.name, g->o->cursor)) {
            durable = cursor.durable_acknowledged;
            break;
        }
    }
    while (g->flight_count) {
        struct flight *f = flight_at(g, 0);
        if (f->state != FLIGHT_ACKED || f->last > durable) break;
        g->flight_head = (g->flight_head + 1) % (size_t)g->o->window;
        g->flight_count--;
    }
}

/* After the broker refused a message: once nothing is awaiting a PUBACK, forget the unacknowledged messages
 * and the pending readings and move the cursor back to its first unacknowledged reading. */
static void resend_after_refusal(struct gateway *g) {
    for (size_t k = 0; k < g->flight_count; k++)
        if (flight_at(g, k)->state == FLIGHT_SENT) return;
    size_t keep = 0;
    while (keep < g->flight_count && flight_at(g, keep)->state == FLIGHT_ACKED) keep++;
    g->flight_count = keep;
    g->pending_count = 0;
    edgecore_journal_rewind(g->site->journal, g->o->cursor);
    g->resend_needed = false;
    if (g->refused_reason == MQTT_RC_PACKET_TOO_LARGE) {
        say("the broker's limit is lower: payloads are now at most %ld bytes (half the refused one)", g->payload_limit);
        g->hold_until_ms = 0;
        g->failure_backoff_ms = 0;
    } else {
        g->failure_backoff_ms = g->failure_backoff_ms ? g->failure_backoff_ms * 2 : 1000;
        if (g->failure_backoff_ms > g->o->reconnect_max_ms) g->failure_backoff_ms = g->o->reconnect_max_ms;
        g->hold_until_ms = monotonic_ms() + g->failure_backoff_ms;
        say("sending again from reading %" PRIu64 " in %.1f s", g->acknowledged + 1, (double)g->failure_backoff_ms / 1000);
    }
}

/* Reads durable readings from the cursor into the pending batch. Returns an exit code, 0 when fine. */
static int fill_pending(struct gateway *g) {
    size_t batch = (size_t)g->o->batch_readings;
    for (int round = 0; round < 8 && g->pending_count < batch; round++) {
        uint64_t first = 0;
        int n = edgecore_journal_read(g->site->journal, g->o->cursor, g->pending + g->pending_count,
                                      batch - g->pending_count, &first);
        if (n < 0) {
            say("cannot read journal cursor %s: %s", g->o->cursor, edgecore_journal_last_error());
            return n == -EIO ? 0 : EXIT_JOURNAL;  /* an unreadable record is skipped at the next read */
        }
        if (n == 0) break;
        if (!g->pending_count) g->pending_since_ms = monotonic_ms();
        for (int i = 0; i < n; i++) g->pending_sequence[g->pending_count + (size_t)i] = first + (uint64_t)i;
        g->pending_count += (size_t)n;
    }
    return 0;
}

/* How long the pending batch may still wait: its first reading may wait --batch-age-ms since it was taken
 * (its timestamp: readings reach the cursor only at a journal sync, already that old) or, should the
 * clock have been set back, since the gateway read it. */
static int64_t batch_wait_ms(const struct gateway *g) {
    if (!g->pending_count) return INT64_MAX;
    int64_t by_arrival = g->pending_since_ms + g->o->batch_age_ms - monotonic_ms();
    int64_t by_age = timestamp_ms(g->pending[0].timestamp_ns) + g->o->batch_age_ms - realtime_ms();
    int64_t wait = by_age < by_arrival ? by_age : by_arrival;
    return wait < 0 ? 0 : wait;
}

/* The readings of the next message: the pending batch's unbroken run of sequences, at most a batch. */
static size_t next_run(const struct gateway *g) {
    size_t run = 1;
    while (run < g->pending_count && run < (size_t)g->o->batch_readings &&
           g->pending_sequence[run] == g->pending_sequence[0] + run)
        run++;
    return run;
}

static bool encode(struct gateway *g, size_t count) {
    if (g->o->format == FORMAT_THINGSBOARD) return encode_thingsboard(g->site, g->pending, count, &g->payload);
    return encode_json(g->site, g->o, g->pending, count, g->pending_sequence[0], &g->payload);
}

static long effective_limit(const struct gateway *g) {
    long limit = g->payload_limit;
    if (g->broker_packet_limit) {
        long room = g->broker_packet_limit - (long)strlen(g->o->topic) - 32;
        if (room < limit) limit = room;
    }
    return limit;
}

/* Publishes the next message if one is due and the window has room. Returns 1 if it published, 0 if
 * nothing was due, or an exit code (negative) when a single reading cannot fit any message. */
static int publish_one(struct gateway *g, bool force) {
    if (!g->pending_count || g->flight_count >= (size_t)g->o->window) return 0;
    size_t run = next_run(g);
    bool due = force || run >= (size_t)g->o->batch_readings || run < g->pending_count || batch_wait_ms(g) == 0;
    if (!due) return 0;
    long limit = effective_limit(g);
    size_t count = run;
    for (;;) {
        if (!encode(g, count)) {
            say("out of memory making a payload");
            return -EXIT_RUNTIME;
        }
        if ((long)g->payload.length <= limit) break;
        if (count == 1 && g->limit_guessed && limit == g->payload_limit) break;  /* the broker decides */
        if (count == 1) {
            say("one reading (sequence %" PRIu64 ") takes %zu bytes, more than the payload limit of %ld bytes "
                "(--max-payload, the broker's maximum packet size, or half a message the broker refused as too large): "
                "raise the limit", g->pending_sequence[0],
                g->payload.length, limit);
            return -EXIT_MQTT_SETUP;
        }
        size_t smaller = (size_t)((double)count * (double)limit / (double)g->payload.length * 0.95);
        count = smaller < 1 ? 1 : smaller >= count ? count - 1 : smaller;
        g->splits++;
    }
    int mid = 0;
    int rc = mosquitto_publish(g->mosq, &mid, g->o->topic, (int)g->payload.length, g->payload.data, 1, false);
    if (rc == MOSQ_ERR_OVERSIZE_PACKET) {
        g->payload_limit = (long)g->payload.length / 2;
        say("the message is larger than the broker takes: payloads are now at most %ld bytes", g->payload_limit);
        return 0;
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        if (verbose) say("publish: %s", mosquitto_strerror(rc));
        return 0;  /* the connection is going; the readings stay pending */
    }
    struct flight *f = flight_at(g, g->flight_count);
    *f = (struct flight){.mid = mid, .first = g->pending_sequence[0], .last = g->pending_sequence[count - 1],
                         .bytes = g->payload.length, .state = FLIGHT_SENT};
    g->flight_count++;
    g->messages++;
    g->readings_published += count;
    if (verbose) say("published message %d: readings %" PRIu64 "..%" PRIu64 " (%zu bytes)", mid, f->first, f->last,
                     g->payload.length);
    memmove(g->pending, g->pending + count, (g->pending_count - count) * sizeof *g->pending);
    memmove(g->pending_sequence, g->pending_sequence + count, (g->pending_count - count) * sizeof *g->pending_sequence);
    g->pending_count -= count;
    return 1;
}

static void log_stats(struct gateway *g, const char *what) {
    struct edgecore_journal_stats stats = {0};
    edgecore_journal_stats(g->site->journal, &stats);
    struct edgecore_engine_journal_stats feed = {0};
    edgecore_engine_journal_stats(g->site->engine, &feed);
    pthread_mutex_lock(&g->lock);
    uint64_t refused = g->commands_refused;
    pthread_mutex_unlock(&g->lock);
    say("%s: journaled %" PRIu64 " (newest sequence), durable %" PRIu64 ", acknowledged %" PRIu64 "; published %" PRIu64
        " readings in %" PRIu64 " messages, %zu in flight; %s, %" PRIu64 " reconnects, %" PRIu64 " refused by the broker; "
        "commands %" PRIu64 " (%" PRIu64 " refused or failed); feed lost %" PRIu64, what, stats.newest_sequence,
        stats.durable_sequence, g->acknowledged, g->readings_published, g->messages, g->flight_count,
        g->connected ? "connected" : "not connected", g->reconnects, g->refused_messages, g->commands,
        refused, feed.lost);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Set-up                                                                                               */
/* ---------------------------------------------------------------------------------------------------- */

static char *read_password(const char *path) {
    FILE *file = fopen(path, "re");
    if (!file) {
        say("--password-file %s: %s", path, strerror(errno));
        exit(EXIT_MQTT_SETUP);
    }
    char *line = NULL;
    size_t size = 0;
    ssize_t length = getline(&line, &size, file);
    fclose(file);
    if (length < 0) {
        say("--password-file %s: empty (the password is the file's first line)", path);
        exit(EXIT_MQTT_SETUP);
    }
    while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r')) line[--length] = 0;
    return line;
}

static void check_readable(const char *option, const char *path) {
    if (path && access(path, R_OK) != 0) {
        say("--%s %s: %s", option, path, strerror(errno));
        exit(EXIT_MQTT_SETUP);
    }
}

/* libmosquitto reads the TLS files only when it connects, and then fails every attempt the same way: so
 * read them once now, with the OpenSSL it uses, and stop with exit 5 and OpenSSL's reason. */
static void check_tls_files(const struct options *o) {
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (!context) {
        say("TLS: OpenSSL cannot make a context");
        exit(EXIT_MQTT_SETUP);
    }
    const char *what = NULL, *path = NULL;
    if (SSL_CTX_load_verify_locations(context, o->cafile, NULL) != 1) what = "no CA certificate in", path = o->cafile;
    else if (o->cert && SSL_CTX_use_certificate_chain_file(context, o->cert) != 1) what = "no certificate in", path = o->cert;
    else if (o->key && SSL_CTX_use_PrivateKey_file(context, o->key, SSL_FILETYPE_PEM) != 1) what = "no private key in", path = o->key;
    else if (o->key && SSL_CTX_check_private_key(context) != 1) what = "the key does not belong to the certificate", path = o->key;
    if (what) {
        char reason[256] = "";
        unsigned long code = ERR_peek_last_error();
        if (code) ERR_error_string_n(code, reason, sizeof reason);
        say("TLS: %s %s (PEM expected)%s%s", what, path, code ? ": " : "", reason);
        SSL_CTX_free(context);
        exit(EXIT_MQTT_SETUP);
    }
    SSL_CTX_free(context);
}

static struct mosquitto *make_client(struct gateway *g) {
    struct options *o = g->o;
    char client_id[ID_MAX + 16];
    snprintf(client_id, sizeof client_id, "edgecore-%s", o->id);
    struct mosquitto *mosq = mosquitto_new(client_id, true, g);
    if (!mosq) {
        say("cannot make an MQTT client: %s", strerror(errno));
        exit(EXIT_RUNTIME);
    }
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, o->mqtt_version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    if (o->mqtt_version == 5) mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, (int)o->window);
    else mosquitto_max_inflight_messages_set(mosq, (unsigned)o->window);
    mosquitto_connect_v5_callback_set(mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(mosq, on_disconnect);
    mosquitto_publish_v5_callback_set(mosq, on_publish);
    mosquitto_message_v5_callback_set(mosq, on_message);
    mosquitto_log_callback_set(mosq, on_log);
    if (o->username || o->password_file) {
        char *password = o->password_file ? read_password(o->password_file) : NULL;
        int rc = mosquitto_username_pw_set(mosq, o->username ? o->username : "", password);
        if (password) {
            memset(password, 0, strlen(password));
            free(password);
        }
        if (rc != MOSQ_ERR_SUCCESS) {
            say("user name or password refused by libmosquitto: %s", mosquitto_strerror(rc));
            exit(EXIT_MQTT_SETUP);
        }
    }
    if (o->cafile) {
        check_readable("cafile", o->cafile);
        check_readable("cert", o->cert);
        check_readable("key", o->key);
        check_tls_files(o);
        int rc = mosquitto_tls_set(mosq, o->cafile, NULL, o->cert, o->key, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            say("TLS set-up failed (--cafile %s%s%s): %s", o->cafile, o->cert ? ", --cert " : "", o->cert ? o->cert : "",
                mosquitto_strerror(rc));
            exit(EXIT_MQTT_SETUP);
        }
    }
    if (mosquitto_will_set(mosq, o->status_topic, 7, "offline", 1, true) != MOSQ_ERR_SUCCESS) {
        say("cannot set the will on %s", o->status_topic);
        exit(EXIT_MQTT_SETUP);
    }
    return mosq;
}

static int load_site(struct site *site, const struct options *o) {
    struct edgecore_engine_config config;
    edgecore_engine_config_init(&config);
    int rc = edgecore_engine_create(&config, &site->engine);
    if (rc != 0) {
        say("cannot create the engine: %s", edgecore_engine_last_error());
        return EXIT_RUNTIME;
    }
    rc = edgecore_engine_load_yaml(site->engine, o->site);
    if (rc != 0) {
        say("%s", edgecore_engine_last_error());
        return EXIT_SITE;
    }
    if (o->controller) {
        char error[1024];
        if (gc_load(site->engine, o->controller, o->controller_time_scale, stderr, &site->controller, error,
                    sizeof error) != 0) {
            say("%s", error);
            return EXIT_SITE;
        }
    }
    site->journal = edgecore_engine_journal(site->engine);
    if (!site->journal) {
        say("%s has no journal: section. The uplink forwards readings from the journal, so that none is lost "
            "while the broker, the network or the gateway is away; add one, e.g.\n"
            "  journal:\n    path: /var/lib/edgecore/journal", o->site);
        return EXIT_SITE;
    }
    rc = edgecore_journal_add_cursor(site->journal, o->cursor);
    if (rc < 0) {
        say("journal cursor '%s': %s", o->cursor, edgecore_journal_last_error());
        return EXIT_JOURNAL;
    }
    struct edgecore_journal_stats stats;
    edgecore_journal_stats(site->journal, &stats);
    site->instance = stats.instance_id;
    return 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The greenhouse controller's thread (--controller)                                                    */
/* ---------------------------------------------------------------------------------------------------- */

static volatile sig_atomic_t controller_stop;

static void *controller_worker(void *argument) {
    struct site *site = argument;
    static struct edgecore_reading readings[512];
    int tick_ms = gc_tick_ms(site->controller);
    int64_t next_tick = monotonic_ms();
    while (!controller_stop) {
        int64_t wait = next_tick - monotonic_ms();
        if (wait > 0 && edgecore_engine_wait(site->engine, (int32_t)(wait < 200 ? wait : 200)) ==
                            EDGECORE_E_NOT_RUNNING)
            break;
        for (int k = 0; k < 64; k++) {
            int n = edgecore_engine_drain(site->engine, readings, sizeof readings / sizeof readings[0]);
            if (n <= 0) break;
            gc_feed(site->controller, readings, (size_t)n);
        }
        int64_t now = monotonic_ms();
        if (now >= next_tick) {
            gc_tick(site->controller, (int64_t)realtime_ms() * 1000000);
            next_tick += tick_ms;
            if (next_tick < now) next_tick = now + tick_ms;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Main                                                                                                 */
/* ---------------------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    static struct options o;
    parse_options(argc, argv, &o);
    verbose = o.verbose;
    setvbuf(stderr, NULL, _IOLBF, 0);
    srandom((unsigned)(time(NULL) ^ getpid()));

    struct sigaction action = {.sa_handler = on_signal};
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    signal(SIGPIPE, SIG_IGN);

    static struct site site;
    int status = load_site(&site, &o);
    if (status) {
        edgecore_engine_destroy(site.engine);
        return status;
    }
    site_describe(&site, o.id);

    mosquitto_lib_init();
    static struct gateway g;
    g.o = &o;
    g.site = &site;
    g.backoff_ms = o.reconnect_min_ms;
    g.payload_limit = o.max_payload;
    g.pending_capacity = (size_t)o.batch_readings;
    g.pending = calloc(g.pending_capacity, sizeof *g.pending);
    g.pending_sequence = calloc(g.pending_capacity, sizeof *g.pending_sequence);
    g.flights = calloc((size_t)o.window, sizeof *g.flights);
    if (!g.pending || !g.pending_sequence || !g.flights) {
        say("out of memory");
        return EXIT_RUNTIME;
    }
    struct edgecore_journal_cursor_stats cursor;
    struct edgecore_journal_stats jstats;
    edgecore_journal_stats(site.journal, &jstats);
    for (uint32_t i = 0; i < jstats.cursors; i++)
        if (edgecore_journal_cursor_stats(site.journal, i, &cursor) == 0 && !strcmp(cursor.name, o.cursor))
            g.acknowledged = cursor.acknowledged_sequence;
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.wake, NULL);
    g.mosq = make_client(&g);

    status = edgecore_engine_start(site.engine);
    if (status != 0) {
        say("the engine did not start: %s", edgecore_engine_last_error());
        return EXIT_RUNTIME;
    }
    pthread_t worker, controller;
    if (pthread_create(&worker, NULL, command_worker, &g) != 0) {
        say("cannot start the command thread");
        edgecore_engine_stop(site.engine);
        return EXIT_RUNTIME;
    }
    if (site.controller) {
        gc_begin(site.controller, (int64_t)realtime_ms() * 1000000);
        if (pthread_create(&controller, NULL, controller_worker, &site) != 0) {
            say("cannot start the controller thread");
            gc_safe_stop(site.controller);
            edgecore_engine_stop(site.engine);
            return EXIT_RUNTIME;
        }
    }
    say("forwarding journal instance %016" PRIx64 " (cursor %s, acknowledged up to %" PRIu64 ") of %s to %s:%d, topic %s",
        site.instance, o.cursor, g.acknowledged, o.site, o.host, o.port, o.topic);

    int64_t started = monotonic_ms(), last_stats = started;
    status = 0;
    while (!stopping && !status) {
        int64_t now = monotonic_ms();
        if (o.seconds && now - started >= o.seconds * 1000) break;
        if (!g.connected && !g.connecting && now >= g.next_attempt_ms) start_connect(&g);
        if (g.fatal) {
            status = g.fatal;
            break;
        }
        if (g.resend_needed) resend_after_refusal(&g);
        if (g.connected && !g.resend_needed && now >= g.hold_until_ms) {
            status = fill_pending(&g);
            for (int k = 0; !status && k < 64; k++) {
                int published = publish_one(&g, false);
                if (published < 0) status = -published;
                if (published <= 0) break;
                if (g.pending_count < (size_t)o.batch_readings) status = fill_pending(&g);
            }
        }
        if (g.connected) publish_answers(&g);
        retire_durable(&g);
        if (o.stats_interval_s && now - last_stats >= o.stats_interval_s * 1000) {
            log_stats(&g, "stats");
            last_stats = now;
        }
        int timeout = 100;
        if (g.pending_count && g.connected && g.flight_count < (size_t)o.window) {
            int64_t due = batch_wait_ms(&g);
            timeout = due < timeout ? (int)due : timeout;
        }
        if (g.connected || g.connecting) {
            int rc = mosquitto_loop(g.mosq, timeout, 1);
            if (rc != MOSQ_ERR_SUCCESS && (g.connected || g.connecting)) {
                bool was_connecting = g.connecting && !g.connected;
                const char *why = mqtt_error(rc);
                if (was_connecting) {
                    g.connection_failures++;
                    g.connecting = false;
                    say("cannot connect to %s:%d: %s; next attempt in %.1f s", host(&g), o.port, why,
                        (double)g.backoff_ms / 1000);
                    schedule_reconnect(&g);
                } else {
                    on_disconnect(g.mosq, &g, rc, NULL);
                }
            }
        } else {
            int64_t wait = g.next_attempt_ms - monotonic_ms();
            poll(NULL, 0, wait < 0 ? 0 : wait < timeout ? (int)wait : timeout);
        }
    }

    /* Stopping: no more commands; the engine appends and syncs what it holds; for 2 s at most, what is left
     * in the journal is published and the PUBACKs are waited for and acknowledged; the journal is synced. */
    stopping = 1;
    pthread_mutex_lock(&g.lock);
    g.command_worker_stop = true;
    pthread_cond_signal(&g.wake);
    pthread_mutex_unlock(&g.lock);
    pthread_join(worker, NULL);
    if (site.controller) {
        /* the controller's last decisions: every actuator at its safe state, while the engine still runs */
        controller_stop = 1;
        pthread_join(controller, NULL);
        gc_safe_stop(site.controller);
    }
    edgecore_engine_stop(site.engine);
    int64_t deadline = monotonic_ms() + 2000;
    while (!status && g.connected && monotonic_ms() < deadline) {
        if (g.resend_needed) resend_after_refusal(&g);
        if (!g.resend_needed && monotonic_ms() >= g.hold_until_ms) {
            status = fill_pending(&g);
            for (int k = 0; !status && k < 64; k++) {
                int published = publish_one(&g, true);
                if (published < 0) status = -published;
                if (published <= 0) break;
                status = fill_pending(&g);
            }
        }
        publish_answers(&g);
        bool waiting = g.pending_count > 0 || g.resend_needed, sent = false;
        for (size_t k = 0; k < g.flight_count; k++)
            if (flight_at(&g, k)->state == FLIGHT_SENT) sent = waiting = true;
        if (!waiting) break;
        /* The engine no longer ticks the journal: a window full of acknowledged messages is made durable
         * here, so that the rest can go. */
        if (!sent && g.flight_count == (size_t)o.window && edgecore_journal_sync(site.journal) == 0) {
            retire_durable(&g);
            continue;
        }
        if (mosquitto_loop(g.mosq, 50, 1) != MOSQ_ERR_SUCCESS) break;
        retire_durable(&g);
    }
    int sync = edgecore_journal_sync(site.journal);
    if (sync != 0) say("final journal sync failed: %s", edgecore_journal_last_error());
    retire_durable(&g);
    if (g.connected) {
        mosquitto_publish(g.mosq, NULL, o.status_topic, 7, "offline", 1, true);
        for (int k = 0; k < 10 && mosquitto_want_write(g.mosq); k++) mosquitto_loop(g.mosq, 20, 1);
        mosquitto_disconnect(g.mosq);
        mosquitto_loop(g.mosq, 20, 1);
    }
    log_stats(&g, status ? "stopped on an error" : "stopped");
    mosquitto_destroy(g.mosq);
    mosquitto_lib_cleanup();
    gc_free(site.controller);
    edgecore_engine_destroy(site.engine);
    return status;
}
