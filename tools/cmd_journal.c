/* edgecore journal: a journal folder, offline and read-only (edgecore_journal_reader_*): stats, tail
 * (--follow), dump a range, check every record. Never writes to the folder, takes no lock: works while
 * a gateway holds the journal open. */
#include "tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char JOURNAL_HELP[] =
    "usage: edgecore journal ACTION DIR [OPTIONS]\n"
    "Look at the journal in the folder DIR without changing it (read-only, no lock: a gateway may hold it\n"
    "open meanwhile). Readings not yet synced by the writer are shown too.\n"
    "Actions:\n"
    "  stats DIR            segments, size, readings, sequence and time range, problems, cursors' positions\n"
    "  tail DIR             the last readings: -n N (10); --follow: then new ones as they come, until\n"
    "                       interrupted (polls every --interval MS, 500)\n"
    "  dump DIR             readings of a range: --from SEQ, --to SEQ (journal sequences), --since ISO,\n"
    "                       --until ISO (timestamps, UTC: 2026-12-02T15:04:05[.123][Z], or a date),\n"
    "                       --channel N (an id, or a name with --site; several allowed)\n"
    "  check DIR            verify every record; print each problem with its file and offset\n"
    "Options: --format table|json|csv (table; stats and check: table or json),\n"
    "  --site SITE (name channels from a site file: readings in a journal carry channel ids)\n"
    "Exit: 0 ok (check: clean), 1 check found damage, or a read failed, 2 usage,\n"
    "3 DIR is missing, not a folder, not a journal, or of a newer format (or --site refused).\n";

enum { OPT_FROM = 1000, OPT_TO, OPT_SINCE, OPT_UNTIL, OPT_CHANNEL, OPT_FORMAT, OPT_SITE, OPT_FOLLOW, OPT_INTERVAL };

static const struct option OPTIONS[] = {
    {"help", no_argument, NULL, 'h'},          {"lines", required_argument, NULL, 'n'},
    {"from", required_argument, NULL, OPT_FROM}, {"to", required_argument, NULL, OPT_TO},
    {"since", required_argument, NULL, OPT_SINCE}, {"until", required_argument, NULL, OPT_UNTIL},
    {"channel", required_argument, NULL, OPT_CHANNEL}, {"format", required_argument, NULL, OPT_FORMAT},
    {"site", required_argument, NULL, OPT_SITE}, {"follow", no_argument, NULL, OPT_FOLLOW},
    {"interval", required_argument, NULL, OPT_INTERVAL}, {0, 0, 0, 0},
};

static const char *const ACTIONS[] = {"stats", "tail", "dump", "check"};
enum action { STATS, TAIL, DUMP, CHECK };
static const char *const FORMATS[] = {"table", "json", "csv"};
#define BATCH 4096

struct query {
    enum action action;
    const char *folder, *site;
    int format, follow;
    long lines, interval_ms;
    uint64_t from, to;
    int64_t since, until;
    int has_since, has_until;
    const char *channel_texts[MAX_CHANNELS];
    int channel_count;
    uint32_t channels[MAX_CHANNELS];
    struct edgecore_engine *engine;
};

/* "2026-12-02", "2026-12-02T15:04", "2026-12-02T15:04:05.123Z" (T or a space; Z optional: UTC) -> ns. */
static int parse_iso(const char *option, const char *text, int64_t *out) {
    int year, month, day, hour = 0, minute = 0, second = 0, used = 0;
    const char *p = text;
    if (sscanf(p, "%4d-%2d-%2d%n", &year, &month, &day, &used) != 3 || used != 10) goto bad;
    p += used;
    int64_t fraction_ns = 0;
    if (*p == 'T' || *p == ' ') {
        p++;
        used = 0;
        if (sscanf(p, "%2d:%2d%n", &hour, &minute, &used) != 2 || used != 5) goto bad;
        p += used;
        if (*p == ':') {
            used = 0;
            if (sscanf(p, ":%2d%n", &second, &used) != 1 || used != 3) goto bad;
            p += used;
            if (*p == '.') {
                p++;
                int64_t scale = 100000000;
                if (*p < '0' || *p > '9') goto bad;
                for (; *p >= '0' && *p <= '9'; p++, scale /= 10) fraction_ns += (*p - '0') * scale;
            }
        }
    }
    if (*p == 'Z') p++;
    if (*p || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) goto bad;
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    *out = (int64_t)timegm(&tm) * 1000000000 + fraction_ns;
    return EXIT_OK;
bad:
    return usage_error("%s: '%s' is not a time like 2026-12-02T15:04:05[.123][Z] or 2026-12-02 (UTC)", option, text);
}

static int parse_sequence(const char *option, const char *text, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v >= (1ull << 63))
        return usage_error("%s: '%s' is not a journal sequence number (0 .. 2^63-1)", option, text);
    *out = v;
    return EXIT_OK;
}

static int parse_options(int argc, char **argv, struct query *q) {
    int opt, rc = EXIT_OK;
    while (rc == EXIT_OK && (opt = getopt_long(argc, argv, ":hn:", OPTIONS, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(JOURNAL_HELP, stdout); return -1;
        case 'n': rc = parse_long("-n", optarg, 0, 1000000, &q->lines); break;
        case OPT_FROM: rc = parse_sequence("--from", optarg, &q->from); break;
        case OPT_TO: rc = parse_sequence("--to", optarg, &q->to); break;
        case OPT_SINCE: rc = parse_iso("--since", optarg, &q->since), q->has_since = 1; break;
        case OPT_UNTIL: rc = parse_iso("--until", optarg, &q->until), q->has_until = 1; break;
        case OPT_CHANNEL:
            if (q->channel_count == MAX_CHANNELS) return usage_error("--channel: at most %d", MAX_CHANNELS);
            q->channel_texts[q->channel_count++] = optarg;
            break;
        case OPT_FORMAT: rc = pick("--format", optarg, FORMATS, 3, "table, json, csv", &q->format); break;
        case OPT_SITE: q->site = optarg; break;
        case OPT_FOLLOW: q->follow = 1; break;
        case OPT_INTERVAL: rc = parse_long("--interval", optarg, 10, 60000, &q->interval_ms); break;
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default: return unknown_option(argv);
        }
    }
    if (rc != EXIT_OK) return rc;
    if (argc - optind != 1) return usage_error("expected one journal folder, got %d arguments", argc - optind);
    q->folder = argv[optind];
    /* Options that mean nothing for the action are refused, not ignored. */
    int ranged = q->from || q->to || q->has_since || q->has_until;
    if (q->action != DUMP && ranged) return usage_error("--from, --to, --since and --until are options of dump");
    if (q->action != TAIL && (q->follow || q->lines != 10 || q->interval_ms != 500))
        return usage_error("-n, --follow and --interval are options of tail");
    if ((q->action == STATS || q->action == CHECK) && (q->channel_count || q->site))
        return usage_error("--channel and --site are options of tail and dump");
    if ((q->action == STATS || q->action == CHECK) && q->format == FORMAT_CSV)
        return usage_error("--format: %s prints table or json", ACTIONS[q->action]);
    if (q->to && q->from > q->to) return usage_error("--from %llu is after --to %llu", (unsigned long long)q->from,
                                                     (unsigned long long)q->to);
    if (q->has_since && q->has_until && q->since > q->until) return usage_error("--since is after --until");
    return EXIT_OK;
}

/* --site and --channel: names to ids. */
static int resolve_channels(struct query *q) {
    if (q->site) {
        int status = load_site(&q->engine, q->site);
        if (status != EXIT_OK) return status;
    }
    for (int i = 0; i < q->channel_count; i++) {
        const char *text = q->channel_texts[i];
        char *end;
        errno = 0;
        unsigned long id = strtoul(text, &end, 10);
        if (!errno && end != text && !*end && text[0] != '-' && id <= UINT32_MAX) {
            q->channels[i] = (uint32_t)id;
        } else if (!q->engine) {
            return usage_error("--channel: '%s' is not a channel id (a name needs --site)", text);
        } else if (edgecore_engine_find_channel(q->engine, text, &q->channels[i]) != EDGECORE_OK) {
            return usage_error("--channel: the site file %s has no channel '%s'", q->site, text);
        }
    }
    return EXIT_OK;
}

static int wanted(const struct query *q, const struct edgecore_reading *r) {
    if (q->has_since && r->timestamp_ns < q->since) return 0;
    if (q->has_until && r->timestamp_ns > q->until) return 0;
    if (!q->channel_count) return 1;
    for (int i = 0; i < q->channel_count; i++)
        if (q->channels[i] == r->channel) return 1;
    return 0;
}

static int journal_error(const struct query *q, const char *what, int rc) {
    /* The folder itself is unusable: the input is refused (3), as a refused site file is. */
    if (rc == -ENOENT || rc == -ENOTDIR || rc == -EACCES || rc == EDGECORE_E_NOT_A_JOURNAL ||
        rc == EDGECORE_E_JOURNAL_VERSION) {
        const char *detail = edgecore_journal_last_error(); /* "journal DIR: what" */
        if (detail[0]) fprintf(stderr, "%s: %s\n", subcommand, detail);
        else fprintf(stderr, "%s: journal %s: %s\n", subcommand, q->folder, edgecore_strerror(rc));
        return EXIT_SITE;
    }
    return runtime_error(what, rc);
}

/* Print the readings from `from` to `to` (0: the end) that pass the filters; *next_out: where to go on. */
static int print_range(struct edgecore_journal_reader *reader, const struct query *q, uint64_t from, uint64_t to,
                       uint64_t *next_out) {
    static struct edgecore_reading batch[BATCH];
    uint64_t position = from;
    while (!interrupted) {
        uint64_t first = 0;
        int n = edgecore_journal_reader_read(reader, position, batch, BATCH, &first);
        if (n < 0) return journal_error(q, "read", n);
        if (n == 0) break;
        for (int i = 0; i < n; i++) {
            uint64_t sequence = first + (uint64_t)i;
            if (to && sequence > to) {
                *next_out = sequence;
                return EXIT_OK;
            }
            if (wanted(q, &batch[i])) print_reading_sequenced(q->engine, &batch[i], q->format, &sequence);
        }
        position = first + (uint64_t)n;
        fflush(stdout);
    }
    *next_out = position;
    return EXIT_OK;
}

/* tail: the last N readings that pass the filters, found by reading back from the newest in windows. */
static int tail(struct edgecore_journal_reader *reader, const struct query *q) {
    uint64_t oldest = 0, newest = 0;
    int rc = edgecore_journal_reader_bounds(reader, &oldest, &newest);
    if (rc < 0) return journal_error(q, "bounds", rc);
    print_header_sequenced(q->format, 1);
    uint64_t start = newest + 1;
    if (newest && q->lines > 0) {
        /* Widen the window back until it holds N wanted readings (gaps and --channel make it wider than N). */
        static struct edgecore_reading batch[BATCH];
        uint64_t window = (uint64_t)q->lines;
        for (;;) {
            start = newest >= oldest + window - 1 ? newest - window + 1 : oldest;
            uint64_t count = 0, position = start;
            for (int n; !interrupted && (n = edgecore_journal_reader_read(reader, position, batch, BATCH, &position)) > 0;) {
                for (int i = 0; i < n; i++) count += wanted(q, &batch[i]) && position + (uint64_t)i <= newest;
                position += (uint64_t)n;
            }
            if (count >= (uint64_t)q->lines || start == oldest || interrupted) {
                uint64_t skip = count > (uint64_t)q->lines ? count - (uint64_t)q->lines : 0;
                /* Print from `start`, leaving out the first `skip` wanted readings. */
                position = start;
                for (int n; skip && (n = edgecore_journal_reader_read(reader, position, batch, BATCH, &position)) > 0;) {
                    int i = 0;
                    for (; i < n && skip; i++) skip -= (uint64_t)wanted(q, &batch[i]);
                    position += (uint64_t)i;
                    if (i < n) break;
                }
                start = position;
                break;
            }
            window *= 2;
        }
        uint64_t next;
        rc = print_range(reader, q, start, newest, &next);
        if (rc != EXIT_OK) return rc;
    }
    fflush(stdout);
    uint64_t next = newest + 1;
    while (q->follow && !interrupted) {
        rc = print_range(reader, q, next, 0, &next);
        if (rc != EXIT_OK) return rc;
        struct timespec pause = {q->interval_ms / 1000, (q->interval_ms % 1000) * 1000000};
        nanosleep(&pause, NULL); /* ends early at SIGINT/SIGTERM */
    }
    return EXIT_OK;
}

static int dump(struct edgecore_journal_reader *reader, const struct query *q) {
    print_header_sequenced(q->format, 1);
    uint64_t next;
    return print_range(reader, q, q->from, q->to, &next);
}

static const char *const KINDS[] = {"?", "header", "foreign-segment", "record", "torn-tail", "gap"};

static void print_problems(struct edgecore_journal_reader *reader, const struct edgecore_journal_report *report,
                           enum format format) {
    struct edgecore_journal_problem p;
    uint32_t index = 0;
    for (; index < report->problems && edgecore_journal_reader_problem(reader, index, &p) == EDGECORE_OK; index++) {
        const char *kind = p.kind < sizeof KINDS / sizeof KINDS[0] ? KINDS[p.kind] : "?";
        if (format == FORMAT_JSON) {
            printf("%s{\"kind\":\"%s\",\"file\":", index ? "," : "", kind);
            json_string(p.file);
            printf(",\"offset\":%llu,\"bytes\":%llu", (unsigned long long)p.offset, (unsigned long long)p.bytes);
            if (p.kind == EDGECORE_JOURNAL_PROBLEM_GAP)
                printf(",\"first_sequence\":%llu,\"last_sequence\":%llu", (unsigned long long)p.first_sequence,
                       (unsigned long long)p.last_sequence);
            printf(",\"message\":");
            json_string(p.message);
            printf("}");
        } else {
            printf("%s: offset %llu: %s: %s\n", p.file, (unsigned long long)p.offset, kind, p.message);
        }
    }
    if (index < report->problems && format == FORMAT_TABLE)
        printf("... and %u more problems (only the first %u are kept)\n", report->problems - index, index);
}

static void print_summary(const struct query *q, const struct edgecore_journal_report *r) {
    char first[40] = "-", last[40] = "-";
    if (r->readings) {
        iso_time(r->min_timestamp_ns, first, sizeof first);
        iso_time(r->max_timestamp_ns, last, sizeof last);
    }
    if (q->format == FORMAT_JSON) {
        printf("\"folder\":");
        json_string(q->folder);
        printf(",\"instance_id\":\"%016llx\",\"segments\":%u,\"bytes\":%llu,\"records\":%llu,\"readings\":%llu,"
               "\"first_sequence\":%llu,\"last_sequence\":%llu,",
               (unsigned long long)r->instance_id, r->segments, (unsigned long long)r->bytes,
               (unsigned long long)r->records, (unsigned long long)r->readings,
               (unsigned long long)r->first_sequence, (unsigned long long)r->last_sequence);
        if (r->readings) printf("\"first_time\":\"%s\",\"last_time\":\"%s\",\"min_ts_ns\":%lld,\"max_ts_ns\":%lld,",
                                first, last, (long long)r->min_timestamp_ns, (long long)r->max_timestamp_ns);
        else printf("\"first_time\":null,\"last_time\":null,");
        printf("\"corrupt_segments\":%u,\"damaged_records\":%llu,\"gaps\":%llu,\"missing_readings\":%llu,"
               "\"torn_bytes\":%llu,\"problem_count\":%u",
               r->corrupt_segments, (unsigned long long)r->damaged_records, (unsigned long long)r->gaps,
               (unsigned long long)r->missing_readings, (unsigned long long)r->torn_bytes, r->problems);
        return;
    }
    printf("journal     %s (instance %016llx)\n", q->folder, (unsigned long long)r->instance_id);
    printf("segments    %u, %llu bytes\n", r->segments, (unsigned long long)r->bytes);
    if (r->readings)
        printf("readings    %llu in %llu records, sequences %llu .. %llu\n", (unsigned long long)r->readings,
               (unsigned long long)r->records, (unsigned long long)r->first_sequence,
               (unsigned long long)r->last_sequence);
    else printf("readings    0\n");
    printf("time        %s .. %s\n", first, last);
    printf("damage      %u corrupt segments, %llu damaged records, %llu gaps (%llu readings missing), %llu torn bytes\n",
           r->corrupt_segments, (unsigned long long)r->damaged_records, (unsigned long long)r->gaps,
           (unsigned long long)r->missing_readings, (unsigned long long)r->torn_bytes);
}

static int stats_or_check(struct edgecore_journal_reader *reader, const struct query *q) {
    struct edgecore_journal_report report;
    int rc = edgecore_journal_reader_check(reader, &report);
    if (rc < 0) return journal_error(q, "check", rc);
    if (q->format == FORMAT_JSON) printf("{");
    print_summary(q, &report);
    if (q->action == STATS) {
        struct edgecore_journal_cursor_stats cursor;
        if (q->format == FORMAT_JSON) printf(",\"cursors\":[");
        for (uint32_t i = 0; i < report.cursors && edgecore_journal_reader_cursor(reader, i, &cursor) == EDGECORE_OK; i++) {
            if (q->format == FORMAT_JSON) {
                printf("%s{\"name\":", i ? "," : "");
                json_string(cursor.name);
                printf(",\"acknowledged\":%llu,\"unacknowledged\":%llu}", (unsigned long long)cursor.acknowledged_sequence,
                       (unsigned long long)cursor.unacknowledged);
            } else {
                printf("cursor      %s: acknowledged %llu, %llu unacknowledged\n", cursor.name,
                       (unsigned long long)cursor.acknowledged_sequence, (unsigned long long)cursor.unacknowledged);
            }
        }
        if (q->format == FORMAT_JSON) printf("]}\n");
        else printf("problems    %u%s\n", report.problems, report.problems ? " (edgecore journal check shows them)" : "");
        return EXIT_OK;
    }
    if (q->format == FORMAT_JSON) {
        printf(",\"clean\":%s,\"problems\":[", report.problems ? "false" : "true");
        print_problems(reader, &report, q->format);
        printf("]}\n");
    } else {
        printf("problems    %u%s\n", report.problems, report.problems ? ":" : " (every record verified)");
        print_problems(reader, &report, q->format);
    }
    return report.problems ? EXIT_RUNTIME : EXIT_OK;
}

int cmd_journal(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(JOURNAL_HELP, stdout);
            return EXIT_OK;
        }
        return usage_error("expected an action: stats, tail, dump or check");
    }
    struct query q = {.format = FORMAT_TABLE, .lines = 10, .interval_ms = 500};
    int action;
    int rc = pick("action", argv[1], ACTIONS, 4, "stats, tail, dump or check", &action);
    if (rc != EXIT_OK) return rc;
    q.action = (enum action)action;
    static char prefix[64];
    snprintf(prefix, sizeof prefix, "%s %s", subcommand, ACTIONS[action]);
    subcommand = prefix;
    optind = 1;
    rc = parse_options(argc - 1, argv + 1, &q);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    rc = resolve_channels(&q);
    if (rc != EXIT_OK) {
        edgecore_engine_destroy(q.engine);
        return rc;
    }
    struct edgecore_journal_reader *reader = NULL;
    rc = edgecore_journal_reader_open(q.folder, &reader);
    int status;
    if (rc < 0) status = journal_error(&q, "open", rc);
    else if (q.action == TAIL) status = tail(reader, &q);
    else if (q.action == DUMP) status = dump(reader, &q);
    else status = stats_or_check(reader, &q);
    edgecore_journal_reader_close(reader);
    edgecore_engine_destroy(q.engine);
    return status;
}
