/* edgecore check / read / write: validate a site file; ad hoc Modbus (TCP, RTU, RTU over TCP) and
 * DL/T 645 / CJ/T 188 reads and writes, or a site file's channels by name. */
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char CHECK_HELP[] =
    "usage: edgecore check SITE\n"
    "Load the site file SITE, validate it and print its plan (requests per bus, bus time per cycle).\n"
    "Exit: 0 valid, 2 usage, 3 refused (file:line and the reason on stderr), 5 the plan is OVERLOADED.\n";

int cmd_check(int argc, char **argv) {
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", HELP_ONLY, NULL)) != -1) {
        if (opt == 'h') {
            fputs(CHECK_HELP, stdout);
            return EXIT_OK;
        }
        return unknown_option(argv);
    }
    if (argc - optind != 1) return usage_error("expected one site file, got %d arguments", argc - optind);
    struct edgecore_engine *engine;
    int status = load_site(&engine, argv[optind]);
    if (status != EXIT_OK) return status;
    static char plan[65536];
    int rc = edgecore_engine_plan(engine, plan, sizeof plan);
    edgecore_engine_destroy(engine);
    if (rc < 0) return runtime_error("plan", rc);
    fputs(plan, stdout);
    if (strstr(plan, "OVERLOADED")) {
        fprintf(stderr, "%s: %s: the plan is OVERLOADED: some intervals cannot be met\n", subcommand, argv[optind]);
        return EXIT_OVERLOADED;
    }
    return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* read / write: addressing                                                                             */
/* ---------------------------------------------------------------------------------------------------- */

static const char ADDRESSING_HELP[] =
    "Addressing (ad hoc, without a site file):\n"
    "  --tcp HOST[:PORT]        Modbus TCP (port 502)\n"
    "  --rtu DEVICE             serial line (Modbus RTU or a meter), with --baud N (9600; meters 2400)\n"
    "                           and --parity N|E|O (N; meters E)\n"
    "  --dtu HOST:PORT          RTU frames over TCP (transparent serial server), --line-baud N (9600)\n"
    "  --timeout MS             response timeout (1000); --retries N (0)\n"
    "Modbus: --unit N (1), --function holding|input|coils|discrete (holding), --address A (0),\n"
    "  --count N values (1), --type u16|i16|u32|i32|u64|i64|f32|f64|bit (u16; coils/discrete: bit),\n"
    "  --order ABCD|CDAB|BADC|DCBA (ABCD), --bit B (type bit of a register), --scale S (1)\n"
    "Meters: --protocol dlt645-2007|dlt645-1997|cjt188, --meter-address DIGITS,\n"
    "  --item NAME (several allowed) or --di 0xDI (several allowed; DL/T 645), --meter-type 0xT (CJ/T 188:\n"
    "  0x10 cold water (default), 0x20 heat, 0x30 gas ...); write: one --item (a CJ/T 188 valve_state)\n";

enum {
    OPT_TCP = 1000, OPT_RTU, OPT_DTU, OPT_BAUD, OPT_PARITY, OPT_LINE_BAUD, OPT_UNIT, OPT_FUNCTION, OPT_ADDRESS,
    OPT_COUNT, OPT_TYPE, OPT_ORDER, OPT_BIT, OPT_SCALE, OPT_REPEAT, OPT_TIMES, OPT_FORMAT, OPT_PROTOCOL,
    OPT_METER_ADDRESS, OPT_METER_TYPE, OPT_ITEM, OPT_DI, OPT_VALUE, OPT_TIMEOUT, OPT_RETRIES, OPT_PROFILE,
    OPT_PROFILES, OPT_LIST_PROFILES
};

static const struct option ADDRESS_OPTIONS[] = {
    {"help", no_argument, NULL, 'h'},
    {"tcp", required_argument, NULL, OPT_TCP},
    {"rtu", required_argument, NULL, OPT_RTU},
    {"dtu", required_argument, NULL, OPT_DTU},
    {"baud", required_argument, NULL, OPT_BAUD},
    {"parity", required_argument, NULL, OPT_PARITY},
    {"line-baud", required_argument, NULL, OPT_LINE_BAUD},
    {"unit", required_argument, NULL, OPT_UNIT},
    {"function", required_argument, NULL, OPT_FUNCTION},
    {"address", required_argument, NULL, OPT_ADDRESS},
    {"count", required_argument, NULL, OPT_COUNT},
    {"type", required_argument, NULL, OPT_TYPE},
    {"order", required_argument, NULL, OPT_ORDER},
    {"bit", required_argument, NULL, OPT_BIT},
    {"scale", required_argument, NULL, OPT_SCALE},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {"times", required_argument, NULL, OPT_TIMES},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"protocol", required_argument, NULL, OPT_PROTOCOL},
    {"meter-address", required_argument, NULL, OPT_METER_ADDRESS},
    {"meter-type", required_argument, NULL, OPT_METER_TYPE},
    {"item", required_argument, NULL, OPT_ITEM},
    {"di", required_argument, NULL, OPT_DI},
    {"value", required_argument, NULL, OPT_VALUE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"profiles", required_argument, NULL, OPT_PROFILES},
    {"list-profiles", no_argument, NULL, OPT_LIST_PROFILES},
    {0, 0, 0, 0}};

struct request {
    const char *tcp, *rtu, *dtu;
    long baud, line_baud, meter_type, unit, address, count, bit, repeat_ms, times, timeout_ms, retries;
    int parity_given, baud_given;
    char parity;
    int function, type, order, protocol, format;
    double scale, value;
    int has_value;
    const char *meter_address;
    const char *items[MAX_CHANNELS];
    uint32_t dis[MAX_CHANNELS]; /* the identifier of a --di; items[i] is then its text */
    int is_di[MAX_CHANNELS];
    int item_count;
    /* --profile NAME: every channel of a device profile (read_profile below) */
    const char *profile;
    const char *profile_dirs[16];
    int profile_dir_count, list_profiles, timeout_given, retries_given, meter_type_given, unit_given;
    const char *register_option; /* the first option that --profile replaces (--address, --type, ...) */
};

static const char *const FUNCTIONS[] = {"coils", "discrete", "holding", "input"}; /* FC 1..4 */
static const char *const TYPES[] = {"u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "bit"};
static const char *const ORDERS[] = {"ABCD", "CDAB", "BADC", "DCBA"};
static const char *const PROTOCOLS[] = {"modbus", "dlt645-2007", "dlt645-1997", "cjt188"};
static const char *const FORMATS[] = {"table", "json", "csv"};

static int parse_request(int argc, char **argv, struct request *q, const char *help, int *help_shown) {
    memset(q, 0, sizeof *q);
    q->baud = 9600;
    q->parity = 'N';
    q->line_baud = 9600;
    q->unit = 1;
    q->count = 1;
    q->function = 2;
    q->scale = 1;
    q->times = 1;
    q->timeout_ms = 1000;
    q->meter_type = 0x10;
    int opt, rc = EXIT_OK, type_given = 0;
    *help_shown = 0;
    while ((opt = getopt_long(argc, argv, ":h", ADDRESS_OPTIONS, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(help, stdout); fputs(ADDRESSING_HELP, stdout); *help_shown = 1; return EXIT_OK;
        case OPT_TCP: q->tcp = optarg; break;
        case OPT_RTU: q->rtu = optarg; break;
        case OPT_DTU: q->dtu = optarg; break;
        case OPT_BAUD: rc = parse_long("--baud", optarg, 300, 4000000, &q->baud); q->baud_given = 1; break;
        case OPT_LINE_BAUD: rc = parse_long("--line-baud", optarg, 300, 4000000, &q->line_baud); break;
        case OPT_PARITY:
            if (strlen(optarg) != 1 || !strchr("NEO", optarg[0]))
                return usage_error("--parity: '%s' is not one of N, E, O", optarg);
            q->parity = optarg[0];
            q->parity_given = 1;
            break;
        case OPT_UNIT: rc = parse_long("--unit", optarg, 0, 255, &q->unit); break;
        case OPT_FUNCTION:
            rc = pick("--function", optarg, FUNCTIONS, 4, "holding, input, coils, discrete", &q->function);
            break;
        case OPT_ADDRESS: rc = parse_long("--address", optarg, 0, 65535, &q->address); break;
        case OPT_COUNT: rc = parse_long("--count", optarg, 1, 64, &q->count); break;
        case OPT_TYPE:
            rc = pick("--type", optarg, TYPES, 9, "u16, i16, u32, i32, u64, i64, f32, f64, bit", &q->type);
            type_given = 1;
            break;
        case OPT_ORDER: rc = pick("--order", optarg, ORDERS, 4, "ABCD, CDAB, BADC, DCBA", &q->order); break;
        case OPT_BIT: rc = parse_long("--bit", optarg, 0, 15, &q->bit); break;
        case OPT_SCALE: rc = parse_double("--scale", optarg, &q->scale); break;
        case OPT_REPEAT:
            rc = parse_long("--repeat", optarg, 1, 86400000, &q->repeat_ms);
            if (rc == EXIT_OK && q->times == 1) q->times = 0;
            break;
        case OPT_TIMES: rc = parse_long("--times", optarg, 1, 1000000000, &q->times); break;
        case OPT_FORMAT: rc = pick("--format", optarg, FORMATS, 3, "table, json, csv", &q->format); break;
        case OPT_PROTOCOL:
            rc = pick("--protocol", optarg, PROTOCOLS, 4, "dlt645-2007, dlt645-1997, cjt188 (or modbus)", &q->protocol);
            break;
        case OPT_METER_ADDRESS: q->meter_address = optarg; break;
        case OPT_METER_TYPE: rc = parse_long("--meter-type", optarg, 0x10, 0x49, &q->meter_type); break;
        case OPT_ITEM:
        case OPT_DI:
            if (q->item_count == MAX_CHANNELS) return usage_error("at most %d --item/--di", MAX_CHANNELS);
            if (opt == OPT_DI) {
                char *end;
                errno = 0;
                unsigned long di = strtoul(optarg, &end, 16);
                if (errno || end == optarg || *end || di > 0xFFFFFFFFul)
                    return usage_error("--di: '%s' is not a hexadecimal data identifier such as 0x00010000", optarg);
                q->dis[q->item_count] = (uint32_t)di;
                q->is_di[q->item_count] = 1;
            }
            q->items[q->item_count++] = optarg;
            break;
        case OPT_VALUE: rc = parse_double("--value", optarg, &q->value); q->has_value = 1; break;
        case OPT_TIMEOUT: rc = parse_long("--timeout", optarg, 1, 600000, &q->timeout_ms); break;
        case OPT_RETRIES: rc = parse_long("--retries", optarg, 0, 10, &q->retries); break;
        case OPT_PROFILE: q->profile = optarg; break;
        case OPT_PROFILES:
            if (q->profile_dir_count == 16) return usage_error("at most 16 --profiles");
            q->profile_dirs[q->profile_dir_count++] = optarg;
            break;
        case OPT_LIST_PROFILES: q->list_profiles = 1; break;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return unknown_option(argv);
        }
        if (rc != EXIT_OK) return rc;
        if (opt == OPT_TIMEOUT) q->timeout_given = 1;
        if (opt == OPT_RETRIES) q->retries_given = 1;
        if (opt == OPT_UNIT) q->unit_given = 1;
        if (opt == OPT_METER_TYPE) q->meter_type_given = 1;
        static const int REGISTER_OPTIONS[] = {OPT_FUNCTION, OPT_ADDRESS, OPT_COUNT, OPT_TYPE, OPT_ORDER, OPT_BIT,
                                               OPT_SCALE, OPT_PROTOCOL, OPT_ITEM, OPT_DI};
        for (size_t i = 0; i < sizeof REGISTER_OPTIONS / sizeof REGISTER_OPTIONS[0]; i++)
            if (opt == REGISTER_OPTIONS[i] && !q->register_option)
                for (const struct option *o = ADDRESS_OPTIONS; o->name; o++)
                    if (o->val == opt) q->register_option = o->name;
    }
    if (q->function <= 1 && !type_given) q->type = EDGECORE_TYPE_BIT;
    if (q->function <= 1 && q->type != EDGECORE_TYPE_BIT)
        return usage_error("--type: coils and discrete inputs are bits, not %s", TYPES[q->type]);
    return EXIT_OK;
}


static const int TYPE_REGISTERS[] = {1, 1, 2, 2, 4, 4, 2, 4, 1};

/* Build the engine of an ad hoc request: one bus, one device, its channels. */
static int build_adhoc(struct request *q, struct edgecore_engine **engine_out, uint32_t *channels, int *count_out,
                       int writable) {
    struct line_address where = {q->tcp, q->rtu, q->dtu, 0, q->line_baud, 0};
    if (check_line_address(&where) != EXIT_OK) return EXIT_USAGE;
    int meter = q->protocol != EDGECORE_PROTOCOL_MODBUS;
    if (meter && !q->meter_address) return usage_error("--protocol %s needs --meter-address DIGITS", PROTOCOLS[q->protocol]);
    if (meter && q->item_count == 0) return usage_error("--protocol %s needs --item NAME or --di 0xDI", PROTOCOLS[q->protocol]);
    if (!meter && q->item_count) return usage_error("--item/--di need --protocol dlt645-2007|dlt645-1997|cjt188");
    if (meter && q->tcp) return usage_error("meters speak over --rtu DEVICE or --dtu HOST:PORT, not --tcp");
    if (q->rtu && meter) {
        if (!q->baud_given) q->baud = 2400;
        if (!q->parity_given) q->parity = 'E';
    }
    where.baud = q->baud;
    where.parity = q->parity;
    uint32_t items[MAX_CHANNELS];
    for (int i = 0; i < q->item_count; i++) {
        const char *text = q->items[i];
        if (q->is_di[i]) {
            items[i] = q->dis[i];
            continue;
        }
        int rc = edgecore_meter_item_find(q->protocol, text, &items[i]);
        if (rc != EDGECORE_OK) return usage_error("--item: '%s' is not a %s item name (docs/meters.md)", text, PROTOCOLS[q->protocol]);
    }
    if (q->rtu) {
        int rc = check_port(q->rtu);
        if (rc != EXIT_OK) return rc;
    }

    struct edgecore_engine *engine;
    int rc = edgecore_engine_create(NULL, &engine);
    if (rc != EDGECORE_OK) return runtime_error("create", rc);
    *engine_out = engine;
    uint32_t bus;
    rc = add_line_bus(engine, &where, "line", &bus);
    if (rc != EXIT_OK) return rc;
    struct edgecore_device_config d;
    edgecore_device_config_init(&d);
    d.name = "device";
    d.bus = bus;
    d.unit_id = (uint8_t)q->unit;
    d.response_timeout_ms = (uint32_t)q->timeout_ms;
    d.retries = (uint32_t)q->retries;
    d.offline_after = 1000000;
    if (meter) {
        d.protocol = (uint16_t)q->protocol;
        d.meter_address = q->meter_address;
        if (q->protocol == EDGECORE_PROTOCOL_CJT188) d.meter_type = (uint8_t)q->meter_type;
    }
    uint32_t device;
    rc = edgecore_engine_add_device(engine, &d, &device);
    if (rc != EDGECORE_OK) return rc == EDGECORE_E_CONFIG ? usage_error("%s", edgecore_engine_last_error())
                                                          : runtime_error("device", rc);
    int count = meter ? q->item_count : (int)q->count;
    for (int i = 0; i < count; i++) {
        struct edgecore_channel_config c;
        edgecore_channel_config_init(&c);
        char name[64];
        c.device = device;
        c.interval_ms = q->repeat_ms > 0 ? (uint32_t)q->repeat_ms : 1000;
        c.writable = (uint8_t)writable;
        if (meter) {
            c.meter_item = items[i];
            if (q->is_di[i]) snprintf(name, sizeof name, "di:%08X", (unsigned)items[i]);
            else snprintf(name, sizeof name, "%s", q->items[i]);
        } else {
            long address = q->address + (long)i * (q->function >= 2 ? TYPE_REGISTERS[q->type] : 1);
            if (q->type == EDGECORE_TYPE_BIT && q->function >= 2) address = q->address + i;
            if (address + (q->function >= 2 ? TYPE_REGISTERS[q->type] : 1) > 65536)
                return usage_error("--address %ld with --count %ld goes beyond address 65535", q->address, q->count);
            c.address = (uint16_t)address;
            c.function = (uint16_t)(q->function + 1);
            c.type = (uint16_t)q->type;
            c.order = (uint16_t)q->order;
            c.bit = (uint8_t)q->bit;
            c.scale = q->scale;
            snprintf(name, sizeof name, "%s:%ld", FUNCTIONS[q->function], address);
        }
        c.name = name;
        rc = edgecore_engine_add_channel(engine, &c, &channels[i]);
        if (rc != EDGECORE_OK) return rc == EDGECORE_E_CONFIG ? usage_error("%s", edgecore_engine_last_error())
                                                              : runtime_error("channel", rc);
    }
    *count_out = count;
    return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* read                                                                                                 */
/* ---------------------------------------------------------------------------------------------------- */

#define PROFILE_SYSTEM_FOLDER "/usr/share/edgecore/profiles"

static const char READ_HELP[] =
    "usage: edgecore read ADDRESSING [--repeat MS [--times N]] [--format table|json|csv]\n"
    "       edgecore read --profile NAME ADDRESSING [--profiles DIR]... [--repeat MS [--times N]] [--format ...]\n"
    "       edgecore read --list-profiles [--profiles DIR]...\n"
    "       edgecore read [--repeat MS [--times N]] [--format ...] SITE CHANNEL...\n"
    "Read once (or every MS ms, N times or until interrupted) and print each value with a timestamp (UTC)\n"
    "and its status. Exit: 0 every reading ok, 1 a reading was not ok, 2 usage, 3 site refused,\n"
    "4 serial port missing or busy.\n"
    "Profiles: --profile NAME reads every channel of the device profile NAME.yaml (or --profile FILE.yaml), with\n"
    "  the addressing options and --unit N (Modbus) or --meter-address DIGITS (meters; --meter-type 0xT);\n"
    "  --timeout and --retries override the profile's. Searched, first found wins: each --profiles DIR,\n"
    "  $EDGECORE_PROFILES (colon-separated), " PROFILE_SYSTEM_FOLDER ". An unknown profile: exit 2; a\n"
    "  profile with an error: exit 3. --list-profiles lists those found.\n";

static double round_timeout(const struct request *q) {
    return (double)(q->timeout_ms * (q->retries + 1) + q->repeat_ms) / 1000.0 + 4.0;
}

static int run_site_channels(struct request *q, int argc, char **argv, int write) {
    struct edgecore_engine *engine;
    int status = load_site(&engine, argv[0]);
    if (status != EXIT_OK) return status;
    uint32_t channels[MAX_CHANNELS];
    int count = write ? 1 : argc - 1;
    if (count > MAX_CHANNELS) count = MAX_CHANNELS;
    for (int i = 0; i < count; i++)
        if (edgecore_engine_find_channel(engine, argv[1 + i], &channels[i]) != EDGECORE_OK) {
            edgecore_engine_destroy(engine);
            return usage_error("no channel '%s' in %s", argv[1 + i], argv[0]);
        }
    double value = 0;
    if (write && parse_double("VALUE", argv[2], &value) != EXIT_OK) {
        edgecore_engine_destroy(engine);
        return EXIT_USAGE;
    }
    status = check_serial_ports(engine);
    if (status != EXIT_OK) {
        edgecore_engine_destroy(engine);
        return status;
    }
    int rc = edgecore_engine_start(engine);
    if (rc != EDGECORE_OK) {
        edgecore_engine_destroy(engine);
        return runtime_error("start", rc);
    }
    if (write) {
        rc = edgecore_engine_write(engine, channels[0], value, (int32_t)(q->timeout_ms + 3000));
        status = rc == EDGECORE_OK ? EXIT_OK
                 : rc == EDGECORE_E_NOT_WRITABLE || rc == EDGECORE_E_VALUE ? usage_error("%s: %s", argv[1], edgecore_strerror(rc))
                 : runtime_error(argv[1], rc);
        if (status == EXIT_OK) printf("wrote %.17g to %s\n", value, argv[1]);
    } else {
        status = collect(engine, channels, count, q->times, 30.0, (enum format)q->format);
    }
    edgecore_engine_stop(engine);
    edgecore_engine_destroy(engine);
    return status;
}


/* ---------------------------------------------------------------------------------------------------- */
/* read --profile: every channel of a device profile                                                    */
/* ---------------------------------------------------------------------------------------------------- */

/* The profile is read through a site file of one bus (the addressing options) and one device naming the
 * profile, written to a private temporary folder and removed afterwards: the library's own reader finds,
 * checks and merges the profile, so `read --profile` and a site file read it alike. */

#define MAX_PROFILE_FOLDERS 40

static char profile_folder_list[MAX_PROFILE_FOLDERS][PATH_MAX];

/* The folders searched for NAME.yaml, first found wins: each --profiles DIR, each folder of
 * $EDGECORE_PROFILES (colon-separated), /usr/share/edgecore/profiles. */
static int profile_folders(const struct request *q) {
    int n = 0;
    for (int i = 0; i < q->profile_dir_count; i++)
        if (strlen(q->profile_dirs[i]) < PATH_MAX) memcpy(profile_folder_list[n++], q->profile_dirs[i], strlen(q->profile_dirs[i]) + 1);
    for (const char *env = getenv("EDGECORE_PROFILES"); env && *env && n < MAX_PROFILE_FOLDERS - 1;) {
        const char *colon = strchr(env, ':');
        size_t length = colon ? (size_t)(colon - env) : strlen(env);
        if (length > 0 && length < PATH_MAX) {
            memcpy(profile_folder_list[n], env, length);
            profile_folder_list[n++][length] = '\0';
        }
        env = colon ? colon + 1 : "";
    }
    snprintf(profile_folder_list[n++], PATH_MAX, "%s", PROFILE_SYSTEM_FOLDER);
    return n;
}

/* As the library's rule: letters, digits, '_', '-', '.', not starting with '.', at most 64 bytes. */
static int is_profile_name(const char *name, size_t length) {
    if (length == 0 || length > 64 || name[0] == '.') return 0;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* --profile NAME (searched) or --profile PATH/NAME.yaml (that file): its name and folder. */
static int find_profile(const struct request *q, char *name, char *folder) {
    const char *text = q->profile;
    size_t length = strlen(text);
    if (strchr(text, '/') || (length > 5 && !strcmp(text + length - 5, ".yaml"))) {
        const char *slash = strrchr(text, '/');
        const char *base = slash ? slash + 1 : text;
        size_t base_length = strlen(base);
        if (base_length <= 5 || strcmp(base + base_length - 5, ".yaml") || !is_profile_name(base, base_length - 5))
            return usage_error("--profile: '%s' is neither a profile name nor a file NAME.yaml (NAME: letters, digits, "
                               "'_', '-', '.')", text);
        if (access(text, R_OK) != 0) return usage_error("--profile: %s: %s", text, strerror(errno));
        snprintf(name, 65, "%.*s", (int)(base_length - 5), base);
        if (slash) snprintf(folder, PATH_MAX, "%.*s", (int)(slash == text ? 1 : slash - text), text);
        else snprintf(folder, PATH_MAX, ".");
        return EXIT_OK;
    }
    if (!is_profile_name(text, length))
        return usage_error("--profile: '%s' is no profile name (letters, digits, '_', '-', '.'; or a file NAME.yaml)", text);
    int n = profile_folders(q);
    char searched[4096] = "";
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 80];
        if (snprintf(path, sizeof path, "%s/%s.yaml", profile_folder_list[i], text) < (int)sizeof path &&
            access(path, F_OK) == 0) {
            memcpy(name, text, length + 1);
            memcpy(folder, profile_folder_list[i], strlen(profile_folder_list[i]) + 1);
            return EXIT_OK;
        }
        size_t used = strlen(searched);
        if (snprintf(searched + used, sizeof searched - used, "%s%s", i ? ", " : "", profile_folder_list[i]) < 0) break;
    }
    return usage_error("--profile: no profile '%s' (looked for %s.yaml in: %s)", text, text, searched);
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

/* --list-profiles: each profile found (first found wins) with the first line of its header comment. */
static int list_profiles(const struct request *q) {
    int n = profile_folders(q), listed = 0;
    static char seen[512][65];
    for (int f = 0; f < n; f++) {
        struct dirent **entries;
        int count = scandir(profile_folder_list[f], &entries, NULL, by_name);
        for (int e = 0; e < count; e++) {
            const char *file = entries[e]->d_name;
            size_t length = strlen(file);
            int shadowed = 0;
            if (length > 5 && !strcmp(file + length - 5, ".yaml") && is_profile_name(file, length - 5)) {
                for (int s = 0; s < listed; s++) shadowed |= strlen(seen[s]) == length - 5 && !strncmp(seen[s], file, length - 5);
                if (!shadowed && listed < 512) {
                    snprintf(seen[listed++], 65, "%.*s", (int)(length - 5), file);
                    char path[PATH_MAX + 80], line[256] = "";
                    FILE *in = snprintf(path, sizeof path, "%s/%s", profile_folder_list[f], file) < (int)sizeof path
                                   ? fopen(path, "r") : NULL;
                    if (in) {
                        if (!fgets(line, sizeof line, in) || line[0] != '#') line[0] = '\0';
                        fclose(in);
                    }
                    line[strcspn(line, "\n")] = '\0';
                    const char *about = line[0] == '#' ? line + 1 + (line[1] == ' ') : line;
                    printf("%-24s %s/%s  %s\n", seen[listed - 1], profile_folder_list[f], file, about);
                }
            }
            free(entries[e]);
        }
        if (count >= 0) free(entries);
    }
    if (!listed) {
        fprintf(stderr, "%s: no profiles found in:", subcommand);
        for (int f = 0; f < n; f++) fprintf(stderr, "%s %s", f ? "," : "", profile_folder_list[f]);
        fprintf(stderr, "\n");
    }
    return EXIT_OK;
}

static void yaml_quoted(FILE *out, const char *text) {
    fputc('\'', out);
    for (; *text; text++) {
        if (*text == '\'') fputc('\'', out);
        fputc(*text, out);
    }
    fputc('\'', out);
}

/* The site file of a profile read; with --repeat, each of the profile's `count` channels `names` (the part after
 * "<device>.") gets interval_ms. */
static int write_profile_site(const char *path, const struct request *q, const char *name, const char *host,
                              long port, const char *const *names, int count) {
    FILE *out = fopen(path, "w");
    if (!out) {
        fprintf(stderr, "%s: %s: %s\n", subcommand, path, strerror(errno));
        return EXIT_RUNTIME;
    }
    fprintf(out, "buses:\n  - name: line\n");
    if (q->rtu) {
        fprintf(out, "    type: rtu\n    device: ");
        yaml_quoted(out, q->rtu);
        fprintf(out, "\n    baud: %ld\n    parity: %c\n", q->baud, q->parity);
    } else {
        fprintf(out, "    type: tcp\n    host: ");
        yaml_quoted(out, host);
        fprintf(out, "\n    port: %ld\n", port);
        if (q->dtu) fprintf(out, "    framing: transparent\n    line_baud: %ld\n", q->line_baud);
    }
    fprintf(out, "    devices:\n      - name: ");
    yaml_quoted(out, name);
    fprintf(out, "\n        profile: ");
    yaml_quoted(out, name);
    fprintf(out, "\n");
    if (q->meter_address) {
        fprintf(out, "        meter_address: ");
        yaml_quoted(out, q->meter_address);
        fprintf(out, "\n");
        if (q->meter_type_given) fprintf(out, "        meter_type: %ld\n", q->meter_type);
    } else if (q->unit_given) {
        fprintf(out, "        unit_id: %ld\n", q->unit);
    }
    if (q->timeout_given) fprintf(out, "        response_timeout_ms: %ld\n", q->timeout_ms);
    if (q->retries_given) fprintf(out, "        retries: %ld\n", q->retries);
    if (count > 0) fprintf(out, "        channels:\n");
    for (int i = 0; i < count; i++) {
        fprintf(out, "          - {name: ");
        yaml_quoted(out, names[i]);
        fprintf(out, ", interval_ms: %ld}\n", q->repeat_ms);
    }
    int failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        fprintf(stderr, "%s: %s: cannot write\n", subcommand, path);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* Load the profile's site file. An error the site file's own lines caused comes from the options (a meter
 * address for a Modbus profile, none for a meter's, a bad value): a usage error; an error in the profile
 * file: the profile was refused (EXIT_SITE). */
static int load_profile_site(struct edgecore_engine **engine, const char *path) {
    int rc = edgecore_engine_create(NULL, engine);
    if (rc != EDGECORE_OK) return runtime_error("create", rc);
    rc = edgecore_engine_load_yaml(*engine, path);
    if (rc == EDGECORE_OK) return EXIT_OK;
    const char *detail = edgecore_engine_last_error();
    size_t length = strlen(path);
    int status;
    if (!strncmp(detail, path, length) && detail[length] == ':') {
        const char *rest = strchr(detail + length + 1, ':');
        rest = rest ? rest + 1 + (rest[1] == ' ') : detail;
        if (!strncmp(rest, "bus 'line', ", 12)) rest += 12;
        status = usage_error("%s", rest);
    } else {
        fprintf(stderr, "%s: profile refused: %s%s%s\n", subcommand, edgecore_strerror(rc), detail[0] ? ": " : "", detail);
        status = EXIT_SITE;
    }
    edgecore_engine_destroy(*engine);
    *engine = NULL;
    return status;
}

static int read_profile(struct request *q) {
    if (q->register_option)
        return usage_error("--%s: --profile gives the registers (or items) to read", q->register_option);
    int sources = !!q->tcp + !!q->rtu + !!q->dtu;
    if (sources != 1) return usage_error("give exactly one of --tcp HOST[:PORT], --rtu DEVICE, --dtu HOST:PORT");
    if (q->rtu && q->meter_address) {
        if (!q->baud_given) q->baud = 2400;
        if (!q->parity_given) q->parity = 'E';
    }
    char host[256] = "";
    long port = 502;
    if (q->tcp && split_host_port("--tcp", q->tcp, 0, host, sizeof host, &port) != EXIT_OK) return EXIT_USAGE;
    if (q->dtu && split_host_port("--dtu", q->dtu, 1, host, sizeof host, &port) != EXIT_OK) return EXIT_USAGE;
    static char name[65], folder[PATH_MAX];
    int status = find_profile(q, name, folder);
    if (status != EXIT_OK) return status;
    if (q->rtu && (status = check_port(q->rtu)) != EXIT_OK) return status;
    /* the library then finds the very file found here: the temporary folder has no profiles/ */
    if (setenv("EDGECORE_PROFILES", folder, 1) != 0) return runtime_error("setenv", -errno);

    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], path[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/edgecore-read-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "%s: cannot make a temporary folder %s: %s\n", subcommand, dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    snprintf(path, sizeof path, "%s/site.yaml", dir);
    struct edgecore_engine *engine = NULL;
    static char names[MAX_CHANNELS][128];
    const char *name_list[MAX_CHANNELS];
    uint32_t channels[MAX_CHANNELS], total = 0;
    status = write_profile_site(path, q, name, host, port, NULL, 0);
    if (status == EXIT_OK) status = load_profile_site(&engine, path);
    if (status == EXIT_OK) {
        edgecore_engine_counts(engine, NULL, NULL, &total);
        if (total > MAX_CHANNELS) total = MAX_CHANNELS;
        size_t prefix = strlen(name) + 1;
        for (uint32_t c = 0; c < total; c++) {
            const char *full = "?";
            channels[c] = c;
            edgecore_engine_channel_info(engine, c, &full, NULL, NULL);
            snprintf(names[c], sizeof names[c], "%s", strlen(full) > prefix ? full + prefix : full);
            name_list[c] = names[c];
        }
        if (q->repeat_ms > 0) { /* again, with every channel polled every --repeat ms */
            edgecore_engine_destroy(engine);
            engine = NULL;
            status = write_profile_site(path, q, name, host, port, name_list, (int)total);
            if (status == EXIT_OK) status = load_profile_site(&engine, path);
        }
    }
    unlink(path);
    rmdir(dir);
    if (status != EXIT_OK) return status;
    int rc = edgecore_engine_start(engine);
    if (rc != EDGECORE_OK) {
        edgecore_engine_destroy(engine);
        return runtime_error("start", rc);
    }
    /* a round: each channel one transaction, up to its timeout and retries (the profile's unless given) */
    long timeout_ms = q->timeout_given ? q->timeout_ms : 2000, retries = q->retries_given ? q->retries : 1;
    double round_s = (double)((long)total * timeout_ms * (retries + 1) + q->repeat_ms) / 1000.0 + 4.0;
    status = collect(engine, channels, (int)total, q->times, round_s, (enum format)q->format);
    edgecore_engine_stop(engine);
    edgecore_engine_destroy(engine);
    return status;
}

int cmd_read_or_write(int argc, char **argv, int write) {
    struct request q;
    int help_shown;
    static const char WRITE_HELP[] =
        "usage: edgecore write ADDRESSING --value V\n"
        "       edgecore write SITE CHANNEL VALUE\n"
        "Write V (an engineering value: scale applies; coils: 0 or 1) and wait for the device's answer.\n"
        "Exit: 0 written, 1 the device refused or did not answer, 2 usage, 3 site refused, 4 port missing or busy.\n";
    int rc = parse_request(argc, argv, &q, write ? WRITE_HELP : READ_HELP, &help_shown);
    if (rc != EXIT_OK || help_shown) return rc;
    int positional = argc - optind;
    if (!write && (q.profile || q.list_profiles)) {
        if (positional > 0) return usage_error("unexpected argument '%s' with --profile", argv[optind]);
        return q.list_profiles ? list_profiles(&q) : read_profile(&q);
    }
    if (q.profile || q.list_profiles || q.profile_dir_count)
        return usage_error("--profile, --profiles and --list-profiles are read options");
    if (positional > 0) {
        if (q.tcp || q.rtu || q.dtu) return usage_error("unexpected argument '%s' after the addressing options", argv[optind]);
        if (write && positional != 3) return usage_error("expected SITE CHANNEL VALUE, got %d arguments", positional);
        if (!write && positional < 2) return usage_error("expected SITE CHANNEL..., got %d arguments", positional);
        return run_site_channels(&q, positional, argv + optind, write);
    }
    if (write && !q.has_value) return usage_error("--value V is required");
    if (write && q.function != 0 && q.function != 2) return usage_error("--function: only holding and coils can be written");
    if (write && q.count != 1) return usage_error("--count: write takes one value");
    if (write && q.item_count > 1) return usage_error("--item: write takes one item");
    struct edgecore_engine *engine = NULL;
    uint32_t channels[MAX_CHANNELS];
    int count = 0;
    rc = build_adhoc(&q, &engine, channels, &count, write);
    if (rc != EXIT_OK) {
        edgecore_engine_destroy(engine);
        return rc;
    }
    rc = edgecore_engine_start(engine);
    if (rc != EDGECORE_OK) {
        edgecore_engine_destroy(engine);
        return runtime_error("start", rc);
    }
    int status;
    if (write) {
        rc = edgecore_engine_write(engine, channels[0], q.value, (int32_t)(q.timeout_ms + 3000));
        const char *name = "?";
        edgecore_engine_channel_info(engine, channels[0], &name, NULL, NULL);
        status = rc == EDGECORE_OK ? EXIT_OK
                 : rc == EDGECORE_E_VALUE ? usage_error("--value: %.17g does not fit type %s", q.value, TYPES[q.type])
                 : runtime_error(name, rc);
        if (status == EXIT_OK) printf("wrote %.17g to %s\n", q.value, name);
    } else {
        status = collect(engine, channels, count, q.times, round_timeout(&q), (enum format)q.format);
    }
    edgecore_engine_stop(engine);
    edgecore_engine_destroy(engine);
    return status;
}

/* ---------------------------------------------------------------------------------------------------- */
/* main                                                                                                 */
/* ---------------------------------------------------------------------------------------------------- */
