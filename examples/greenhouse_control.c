/* greenhouse_control.c - the greenhouse controller module (greenhouse_control.h; rules file and behaviour:
 * docs/greenhouse-controller.md). C11, links libEdgeCore only. */
#define _POSIX_C_SOURCE 200809L
#include "greenhouse_control.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------------- */
/* Reason and alarm codes (docs/greenhouse-controller.md)                                               */
/* ---------------------------------------------------------------------------------------------------- */

enum {
    /* switched on */
    R_ON_DEMAND = 1,      /* zone: moisture below its band; pump: a zone's valve is open; fan: above band */
    R_ON_OVERRIDE = 2,    /* manual override: force on */
    R_ON_SAFE = 3,        /* fan: its safe state is on (temperature reading not usable) */
    /* switched off */
    R_OFF_DEMAND = 10,    /* zone: moisture above its band; pump: no valve open; fan: below band */
    R_OFF_MAX_OPEN = 11,  /* zone: maximum open time reached */
    R_OFF_DAILY_CAP = 12, /* zone: daily water volume reached */
    R_OFF_OVERRIDE = 13,  /* manual override: force off */
    R_OFF_SENSOR = 14,    /* a reading needed is not usable (status, age): safe state */
    R_OFF_FLOW = 15,      /* zone: no flow while open, or flow while closed (stuck valve, flow meter) */
    R_OFF_WRITE = 16,     /* a write failed: safe state */
    R_OFF_SHUTDOWN = 17,  /* the controller stops */
    R_OFF_STARTUP = 18,   /* the controller starts: safe state */
    R_OFF_TANK_LOW = 19,  /* pump: the tank's float switch says low */
    R_OFF_LEAK = 20,      /* pump: water flows through a zone whose valve is closed */
};

enum { /* zone alarm bits */
    A_Z_MOISTURE = 1, A_Z_FLOW_SENSOR = 2, A_Z_NO_FLOW = 4, A_Z_LEAK = 8, A_Z_WRITE = 16, A_Z_DAILY_CAP = 32,
    A_Z_EC = 64,
};
enum { /* pump alarm bits */
    A_P_TANK_LOW = 1, A_P_TANK_SENSOR = 2, A_P_WRITE = 4,
};
enum { /* climate alarm bits */
    A_C_TEMPERATURE = 1, A_C_CO2_SENSOR = 2, A_C_CO2_HIGH = 4, A_C_HUMIDITY_SENSOR = 8, A_C_HUMIDITY_HIGH = 16,
    A_C_HUMIDITY_LOW = 32, A_C_WRITE = 64,
};

/* ---------------------------------------------------------------------------------------------------- */
/* State                                                                                                */
/* ---------------------------------------------------------------------------------------------------- */

#define NONE UINT32_MAX

struct actuator {
    uint32_t id;
    int line;
    const char *name;  /* the engine's */
    int safe;          /* safe state, 0 or 1 */
    int commanded;     /* -1 unknown */
    bool ok;           /* the last write succeeded */
    int last_error;    /* result of the last failed write; 0 after a success */
    int failed_value;  /* the value of that write */
    double since;      /* controller seconds: last change of commanded */
};

struct override {
    uint32_t id;       /* NONE: no override channel */
    int value;         /* -1 auto, 0 force off, 1 force on */
    double since;
    bool expire_pending;
};

struct input {
    uint32_t id;       /* NONE: not configured */
    int line;
    double max_age;
};

struct zone {
    char name[64];
    struct actuator valve;
    struct input moisture, flow;
    double low, high, min_on, min_off, max_open, daily_cap, no_flow_s, leak_volume;
    uint32_t reason, alarm;
    struct override ov;
    /* dosing */
    bool dosing;
    struct actuator doser;
    struct input ec;
    double target_ec, dose_s, pause_s, ml_per_s;
    uint32_t dose_channel;
    struct override dose_ov;
    double dose_started, dose_ended;
    unsigned pending_alarms;
    /* state */
    unsigned alarms;
    bool alarms_written;
    double write_fault_until, flow_fault_until, leak_fault_until;
    bool have_base;
    int64_t day;
    double base_total, last_total, last_increase, closed_total;
    bool have_total;
    int last_reason;
};

struct gc_controller {
    struct edgecore_engine *engine;
    FILE *log;
    char path[512];
    double scale;
    int64_t t0_ns;
    int tick_ms, write_timeout_ms;
    double max_age, override_timeout, fault_retry;
    uint32_t channels;
    struct edgecore_reading *last;
    uint8_t *have;
    /* pump */
    bool has_pump;
    struct actuator pump;
    struct input tank_low;
    uint32_t pump_reason, pump_alarm;
    struct override pump_ov;
    unsigned pump_alarms;
    bool pump_alarms_written;
    double pump_write_fault_until;
    /* zones */
    struct zone *zones;
    size_t zone_count;
    /* climate */
    bool has_climate;
    struct actuator fan;
    struct input temperature, co2, humidity;
    double t_low, t_high, fan_min_on, fan_min_off, co2_max, h_low, h_high;
    uint32_t climate_reason, climate_alarm;
    struct override fan_ov;
    unsigned climate_alarms;
    bool climate_alarms_written;
    double fan_write_fault_until;
    double now;       /* controller seconds of the current tick */
    int64_t now_ns;
    int failures;     /* writes failed in this tick */
};

/* ---------------------------------------------------------------------------------------------------- */
/* The rules file: a strict YAML subset (block mappings and lists by indentation, [a, b] lists, scalars) */
/* ---------------------------------------------------------------------------------------------------- */

enum { N_SCALAR, N_MAP, N_SEQ };

struct node {
    int kind, line;
    char *key;         /* in a mapping */
    char *text;        /* a scalar */
    struct node *child, *next;
    bool used;
};

struct src_line {
    int indent, line, col; /* col: where the text of a "- " line starts */
    bool dash;
    char *text;
};

struct parser {
    const char *path;
    struct src_line *lines;
    size_t count, at;
    char *error;
    size_t error_size;
    jmp_buf fail;
    char *buffer;
    bool loaded;
    struct node *nodes[4096];
    size_t node_count;
};

static void fail_at(struct parser *p, int line, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int n = snprintf(p->error, p->error_size, "%s:%d: ", p->path, line);
    if (n >= 0 && (size_t)n < p->error_size) vsnprintf(p->error + n, p->error_size - (size_t)n, format, args);
    va_end(args);
    longjmp(p->fail, 1);
}

static struct node *new_node(struct parser *p, int kind, int line) {
    if (p->node_count == sizeof p->nodes / sizeof p->nodes[0]) fail_at(p, line, "the file is too large");
    struct node *n = calloc(1, sizeof *n);
    if (!n) fail_at(p, line, "out of memory");
    p->nodes[p->node_count++] = n;
    n->kind = kind;
    n->line = line;
    return n;
}

static char *trim(char *s) {
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* A scalar: "text" or 'text' lose their quotes. */
static char *scalar_text(struct parser *p, int line, char *s) {
    s = trim(s);
    size_t n = strlen(s);
    if (n && (s[0] == '"' || s[0] == '\'')) {
        if (n < 2 || s[n - 1] != s[0]) fail_at(p, line, "unterminated quoted value %s", s);
        s[n - 1] = 0;
        return s + 1;
    }
    if (n && strchr("{&*!|>%@`", s[0])) fail_at(p, line, "'%s': this YAML form is not part of the rules format", s);
    return s;
}

static struct node *parse_block(struct parser *p, int indent);

static struct node *parse_value(struct parser *p, struct src_line *l, char *value, int indent) {
    value = trim(value);
    if (*value == '[') {
        struct node *seq = new_node(p, N_SEQ, l->line), **tail = &seq->child;
        size_t n = strlen(value);
        if (value[n - 1] != ']') fail_at(p, l->line, "a [list] must end with ] on the same line");
        value[n - 1] = 0;
        char *body = trim(value + 1);
        if (*body) {
            for (char *save = NULL, *item = strtok_r(body, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                struct node *s = new_node(p, N_SCALAR, l->line);
                s->text = scalar_text(p, l->line, item);
                if (!*s->text) fail_at(p, l->line, "empty item in a [list]");
                *tail = s;
                tail = &s->next;
            }
        }
        p->at++;
        return seq;
    }
    if (*value) {
        struct node *s = new_node(p, N_SCALAR, l->line);
        s->text = scalar_text(p, l->line, value);
        p->at++;
        return s;
    }
    p->at++;
    if (p->at < p->count && p->lines[p->at].indent > indent) return parse_block(p, p->lines[p->at].indent);
    fail_at(p, l->line, "'%s' has no value", l->text);
    return NULL;
}

/* Splits "key: value" in place; returns the value or NULL when the line is not a key. */
static char *split_key(char *text) {
    for (char *c = text; *c; c++) {
        if (*c == '"' || *c == '\'' || *c == '[') return NULL;
        if (*c == ':' && (c[1] == ' ' || c[1] == 0)) {
            *c = 0;
            return c + 1;
        }
    }
    return NULL;
}

static struct node *parse_map(struct parser *p, int indent) {
    struct node *map = new_node(p, N_MAP, p->lines[p->at].line), **tail = &map->child;
    while (p->at < p->count) {
        struct src_line *l = &p->lines[p->at];
        if (l->indent < indent) break;
        if (l->indent > indent) fail_at(p, l->line, "unexpected indentation");
        if (l->dash) fail_at(p, l->line, "a list item where a key was expected");
        char *copy = l->text;
        char *value = split_key(copy);
        if (!value) fail_at(p, l->line, "expected 'key: value', found '%s'", l->text);
        char *key = trim(copy);
        if (!*key) fail_at(p, l->line, "empty key");
        for (struct node *k = map->child; k; k = k->next)
            if (!strcmp(k->key, key)) fail_at(p, l->line, "'%s' given twice (first on line %d)", key, k->line);
        struct node *v = parse_value(p, l, value, indent);
        v->key = key;
        v->line = l->line;
        *tail = v;
        tail = &v->next;
    }
    return map;
}

static struct node *parse_seq(struct parser *p, int indent) {
    struct node *seq = new_node(p, N_SEQ, p->lines[p->at].line), **tail = &seq->child;
    while (p->at < p->count) {
        struct src_line *l = &p->lines[p->at];
        if (l->indent < indent) break;
        if (l->indent > indent) fail_at(p, l->line, "unexpected indentation");
        if (!l->dash) fail_at(p, l->line, "a key where a list item was expected");
        struct node *item;
        if (!*l->text) {
            p->at++;
            if (p->at >= p->count || p->lines[p->at].indent <= indent) fail_at(p, l->line, "empty list item");
            item = parse_block(p, p->lines[p->at].indent);
        } else {
            char probe[512];
            snprintf(probe, sizeof probe, "%s", l->text);
            if (split_key(probe)) {
                /* "- key: value": the item is a mapping whose keys start at the text's column */
                l->dash = false;
                l->indent = l->col;
                item = parse_map(p, l->indent);
            } else {
                item = new_node(p, N_SCALAR, l->line);
                item->text = scalar_text(p, l->line, l->text);
                p->at++;
            }
        }
        *tail = item;
        tail = &item->next;
    }
    return seq;
}

static struct node *parse_block(struct parser *p, int indent) {
    return p->lines[p->at].dash ? parse_seq(p, indent) : parse_map(p, indent);
}

/* Reads the file into lines (comments and blank lines dropped). */
static char *read_lines(struct parser *p, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(p->error, p->error_size, "%s: cannot read the rules file: %s", path, strerror(errno));
        return NULL;
    }
    size_t size = 0, capacity = 4096;
    char *buffer = malloc(capacity);
    for (size_t got; buffer && (got = fread(buffer + size, 1, capacity - size - 1, f)) > 0;) {
        size += got;
        if (size + 1 == capacity) {
            char *bigger = capacity < (1u << 20) ? realloc(buffer, capacity * 2) : NULL;
            if (!bigger) {
                free(buffer);
                buffer = NULL;
                break;
            }
            buffer = bigger;
            capacity *= 2;
        }
    }
    fclose(f);
    if (!buffer) {
        snprintf(p->error, p->error_size, "%s: the rules file is too large (1 MiB at most)", path);
        return NULL;
    }
    buffer[size] = 0;
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += buffer[i] == '\n';
    p->lines = calloc(lines, sizeof *p->lines);
    if (!p->lines) {
        free(buffer);
        snprintf(p->error, p->error_size, "%s: out of memory", path);
        return NULL;
    }
    return buffer;
}

static void split_lines(struct parser *p, char *buffer) {
    int number = 0;
    for (char *s = buffer, *end; s && *s; s = end) {
        end = strchr(s, '\n');
        if (end) *end++ = 0;
        number++;
        if (strlen(s) > 400) fail_at(p, number, "line longer than 400 bytes");
        int indent = 0;
        while (s[indent] == ' ') indent++;
        if (s[indent] == '\t') fail_at(p, number, "a tab in the indentation (use spaces)");
        /* a comment: '#' at the start or after a space, outside quotes */
        char quote = 0;
        for (char *c = s + indent; *c; c++) {
            if (quote) {
                if (*c == quote) quote = 0;
            } else if (*c == '"' || *c == '\'') {
                quote = *c;
            } else if (*c == '#' && (c == s + indent || c[-1] == ' ')) {
                *c = 0;
                break;
            }
        }
        char *text = trim(s + indent);
        if (!*text) continue;
        if (!strcmp(text, "---")) fail_at(p, number, "one document only: no '---'");
        struct src_line *l = &p->lines[p->count++];
        l->line = number;
        l->indent = indent;
        if (text[0] == '-' && (text[1] == ' ' || text[1] == 0)) {
            l->dash = true;
            text = trim(text + 1);
            l->col = (int)(text - s);
        }
        l->text = text;
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* The rules: schema                                                                                    */
/* ---------------------------------------------------------------------------------------------------- */

struct loader {
    struct parser *p;
    struct gc_controller *c;
};

static struct node *get(struct node *map, const char *key) {
    for (struct node *k = map->child; k; k = k->next)
        if (!strcmp(k->key, key)) {
            k->used = true;
            return k;
        }
    return NULL;
}

static void only_keys(struct loader *L, struct node *map, const char *where, const char *const *keys) {
    for (struct node *k = map->child; k; k = k->next) {
        bool known = false;
        for (const char *const *key = keys; *key; key++) known = known || !strcmp(*key, k->key);
        if (!known) {
            char list[512] = "";
            for (const char *const *key = keys; *key; key++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", key == keys ? "" : ", ", *key);
            fail_at(L->p, k->line, "%s: unknown key '%s' (expected one of: %s)", where, k->key, list);
        }
    }
}

static struct node *need_map(struct loader *L, struct node *n, const char *where) {
    if (n->kind != N_MAP) fail_at(L->p, n->line, "%s: expected a mapping of keys", where);
    return n;
}

static double number_of(struct loader *L, struct node *n, const char *where, double low, double high) {
    if (n->kind != N_SCALAR) fail_at(L->p, n->line, "%s: expected a number", where);
    char *end = NULL;
    errno = 0;
    double v = strtod(n->text, &end);
    if (errno || end == n->text || *end || !isfinite(v))
        fail_at(L->p, n->line, "%s: '%s' is not a number", where, n->text);
    if (v < low || v > high) fail_at(L->p, n->line, "%s: %g is outside %g .. %g", where, v, low, high);
    return v;
}

static double number(struct loader *L, struct node *map, const char *key, const char *where, double fallback,
                     double low, double high, bool required) {
    struct node *n = get(map, key);
    char what[256];
    snprintf(what, sizeof what, "%s.%s", where, key);
    if (!n) {
        if (required) fail_at(L->p, map->line, "%s: '%s' is required", where, key);
        return fallback;
    }
    return number_of(L, n, what, low, high);
}

static void band(struct loader *L, struct node *map, const char *key, const char *where, double *low,
                 double *high, bool required, int *line_out) {
    struct node *n = get(map, key);
    if (!n) {
        if (required) fail_at(L->p, map->line, "%s: '%s' is required", where, key);
        return;
    }
    int count = 0;
    for (struct node *i = n->kind == N_SEQ ? n->child : NULL; i; i = i->next) count++;
    if (n->kind != N_SEQ || count != 2) fail_at(L->p, n->line, "%s.%s: expected [low, high]", where, key);
    char what[128];
    snprintf(what, sizeof what, "%s.%s", where, key);
    *low = number_of(L, n->child, what, -1e9, 1e9);
    *high = number_of(L, n->child->next, what, -1e9, 1e9);
    if (*low >= *high)
        fail_at(L->p, n->line, "%s.%s: inverted band [%g, %g]: low must be below high", where, key, *low, *high);
    if (line_out) *line_out = n->line;
}

/* A channel of the site: exists; writable when asked (edgecore_engine_channel_writable). */
static uint32_t channel(struct loader *L, struct node *map, const char *key, const char *where, bool required,
                        bool writable, int *line_out) {
    struct node *n = get(map, key);
    if (!n) {
        if (required) fail_at(L->p, map->line, "%s: '%s' is required", where, key);
        return NONE;
    }
    if (n->kind != N_SCALAR || !*n->text) fail_at(L->p, n->line, "%s.%s: expected a channel name", where, key);
    uint32_t id;
    if (edgecore_engine_find_channel(L->c->engine, n->text, &id) != 0)
        fail_at(L->p, n->line, "%s.%s: unknown channel '%s' (the site file has no such channel)", where, key,
                n->text);
    if (writable) {
        if (edgecore_engine_channel_writable(L->c->engine, id) != 1)
            fail_at(L->p, n->line, "%s.%s: channel '%s' is not writable (the controller must switch it)", where, key,
                    n->text);
    }
    if (line_out) *line_out = n->line;
    return id;
}

static void input(struct loader *L, struct node *map, const char *key, const char *where, bool required,
                  double max_age, struct input *in) {
    in->id = channel(L, map, key, where, required, false, &in->line);
    in->max_age = max_age;
}

static void actuator(struct loader *L, struct node *map, const char *key, const char *where, bool required,
                     struct actuator *a) {
    a->id = channel(L, map, key, where, required, true, &a->line);
    a->commanded = -1;
    if (a->id != NONE) edgecore_engine_channel_info(L->c->engine, a->id, &a->name, NULL, NULL);
}

static void override_channel(struct loader *L, struct node *map, const char *key, const char *where,
                             struct override *o) {
    o->id = channel(L, map, key, where, false, true, NULL);
    o->value = -1;
}

/* Each actuator has one role; an interlock with itself is impossible. */
struct role {
    uint32_t id;
    int line;
    char what[256];
};

static void claim(struct loader *L, struct role *roles, size_t *count, uint32_t id, int line, const char *what) {
    if (id == NONE) return;
    for (size_t i = 0; i < *count; i++)
        if (roles[i].id == id)
            fail_at(L->p, line, "%s: the channel is already %s (line %d): an actuator has one role, and an "
                    "interlock of an actuator with itself is impossible", what, roles[i].what, roles[i].line);
    if (*count == 64) fail_at(L->p, line, "too many actuators");
    roles[*count].id = id;
    roles[*count].line = line;
    snprintf(roles[*count].what, sizeof roles[*count].what, "%s", what);
    (*count)++;
}

static const char *const top_keys[] = {"controller", "pump", "zones", "climate", NULL};
static const char *const controller_keys[] = {"tick_ms", "max_age_s", "override_timeout_s", "write_timeout_ms",
                                              "fault_retry_s", NULL};
static const char *const pump_keys[] = {"channel", "tank_low", "reason", "alarm", "override", "max_age_s", NULL};
static const char *const zone_keys[] = {"name", "valve", "moisture", "moisture_band", "min_on_s", "min_off_s",
                                        "max_open_s", "flow", "max_daily_volume", "no_flow_s", "leak_volume",
                                        "reason", "alarm", "override", "max_age_s", "dosing", NULL};
static const char *const dosing_keys[] = {"pump", "ec", "target_ec", "dose_s", "pause_s", "ml_per_s", "dose",
                                          "override", NULL};
static const char *const climate_keys[] = {"fan", "temperature", "temperature_band", "fan_safe_state", "min_on_s",
                                           "min_off_s", "co2", "co2_max", "humidity", "humidity_band", "reason",
                                           "alarm", "override", "max_age_s", NULL};

static void load_rules(struct loader *L, struct node *root) {
    struct gc_controller *c = L->c;
    struct parser *p = L->p;
    if (root->kind != N_MAP) fail_at(p, root->line, "the rules file must be a mapping (controller, pump, zones, climate)");
    only_keys(L, root, "rules", top_keys);
    struct role roles[64];
    size_t role_count = 0;

    c->tick_ms = 1000;
    c->max_age = 30;
    c->override_timeout = 3600;
    c->write_timeout_ms = 2000;
    c->fault_retry = 600;
    struct node *n = get(root, "controller");
    if (n) {
        need_map(L, n, "controller");
        only_keys(L, n, "controller", controller_keys);
        c->tick_ms = (int)number(L, n, "tick_ms", "controller", 1000, 10, 60000, false);
        c->max_age = number(L, n, "max_age_s", "controller", 30, 0.001, 86400, false);
        c->override_timeout = number(L, n, "override_timeout_s", "controller", 3600, 1, 7 * 86400, false);
        c->write_timeout_ms = (int)number(L, n, "write_timeout_ms", "controller", 2000, 1, 600000, false);
        c->fault_retry = number(L, n, "fault_retry_s", "controller", 600, 1, 86400, false);
    }

    n = get(root, "pump");
    if (n) {
        need_map(L, n, "pump");
        only_keys(L, n, "pump", pump_keys);
        c->has_pump = true;
        double age = number(L, n, "max_age_s", "pump", c->max_age, 0.001, 86400, false);
        actuator(L, n, "channel", "pump", true, &c->pump);
        claim(L, roles, &role_count, c->pump.id, c->pump.line, "pump.channel (main pump)");
        input(L, n, "tank_low", "pump", true, age, &c->tank_low);
        c->pump_reason = channel(L, n, "reason", "pump", true, true, NULL);
        c->pump_alarm = channel(L, n, "alarm", "pump", true, true, NULL);
        override_channel(L, n, "override", "pump", &c->pump_ov);
    }

    n = get(root, "zones");
    if (n) {
        if (n->kind != N_SEQ || !n->child) fail_at(p, n->line, "zones: expected a list of zones");
        for (struct node *z = n->child; z; z = z->next) c->zone_count++;
        c->zones = calloc(c->zone_count, sizeof *c->zones);
        if (!c->zones) fail_at(p, n->line, "out of memory");
        size_t i = 0;
        for (struct node *zn = n->child; zn; zn = zn->next, i++) {
            struct zone *z = &c->zones[i];
            char where[96];
            snprintf(where, sizeof where, "zones[%zu]", i);
            need_map(L, zn, where);
            only_keys(L, zn, where, zone_keys);
            struct node *name = get(zn, "name");
            if (!name || name->kind != N_SCALAR || !*name->text || strlen(name->text) >= sizeof z->name)
                fail_at(p, name ? name->line : zn->line, "%s: 'name' is required (1..63 bytes)", where);
            snprintf(z->name, sizeof z->name, "%s", name->text);
            for (size_t j = 0; j < i; j++)
                if (!strcmp(c->zones[j].name, z->name)) fail_at(p, name->line, "%s: zone name '%s' given twice", where, z->name);
            snprintf(where, sizeof where, "zone '%s'", z->name);
            double age = number(L, zn, "max_age_s", where, c->max_age, 0.001, 86400, false);
            actuator(L, zn, "valve", where, true, &z->valve);
            char what[256];
            snprintf(what, sizeof what, "%s: valve", where);
            claim(L, roles, &role_count, z->valve.id, z->valve.line, what);
            input(L, zn, "moisture", where, true, age, &z->moisture);
            int band_line = 0;
            band(L, zn, "moisture_band", where, &z->low, &z->high, true, &band_line);
            for (size_t j = 0; j < i; j++) {
                struct zone *o = &c->zones[j];
                if (o->moisture.id == z->moisture.id && z->low <= o->high && o->low <= z->high)
                    fail_at(p, band_line, "%s: moisture_band [%g, %g] overlaps zone '%s''s [%g, %g] on the same "
                            "sensor: both zones would switch on the same readings", where, z->low, z->high, o->name,
                            o->low, o->high);
            }
            z->min_on = number(L, zn, "min_on_s", where, 60, 0, 86400, false);
            z->min_off = number(L, zn, "min_off_s", where, 60, 0, 86400, false);
            z->max_open = number(L, zn, "max_open_s", where, 3600, 1, 86400, false);
            if (z->max_open < z->min_on)
                fail_at(p, zn->line, "%s: max_open_s (%g) is below min_on_s (%g)", where, z->max_open, z->min_on);
            input(L, zn, "flow", where, false, age, &z->flow);
            struct node *cap = get(zn, "max_daily_volume");
            z->daily_cap = INFINITY;
            if (cap) {
                snprintf(what, sizeof what, "%s.max_daily_volume", where);
                z->daily_cap = number_of(L, cap, what, 0, 1e12);
                if (z->flow.id == NONE)
                    fail_at(p, cap->line, "%s: max_daily_volume needs the zone's flow meter ('flow': its pulse "
                            "counter channel); without it the cap cannot be enforced", where);
            }
            z->no_flow_s = number(L, zn, "no_flow_s", where, 120, 1, 86400, false);
            z->leak_volume = number(L, zn, "leak_volume", where, 0.005, 0, 1e12, false);
            z->reason = channel(L, zn, "reason", where, true, true, NULL);
            z->alarm = channel(L, zn, "alarm", where, true, true, NULL);
            override_channel(L, zn, "override", where, &z->ov);
            struct node *d = get(zn, "dosing");
            z->dose_channel = NONE;
            z->dose_ov.id = NONE;
            if (d) {
                char dwhere[128];
                snprintf(dwhere, sizeof dwhere, "%s.dosing", where);
                need_map(L, d, dwhere);
                only_keys(L, d, dwhere, dosing_keys);
                z->dosing = true;
                actuator(L, d, "pump", dwhere, true, &z->doser);
                if (z->doser.id == z->valve.id || (c->has_pump && z->doser.id == c->pump.id))
                    fail_at(p, z->doser.line, "%s.pump: the dosing pump is interlocked with the zone valve and the main "
                            "pump; it cannot be %s itself", dwhere, z->doser.id == z->valve.id ? "the valve" : "the main pump");
                if (!c->has_pump)
                    fail_at(p, d->line, "%s: dosing is interlocked with the main pump: the rules need a 'pump' section "
                            "(never dose into a line without flow)", dwhere);
                snprintf(what, sizeof what, "%s.pump (dosing pump)", dwhere);
                claim(L, roles, &role_count, z->doser.id, z->doser.line, what);
                input(L, d, "ec", dwhere, true, age, &z->ec);
                z->target_ec = number(L, d, "target_ec", dwhere, 0, 0, 100, true);
                z->dose_s = number(L, d, "dose_s", dwhere, 10, 0.1, 3600, false);
                z->pause_s = number(L, d, "pause_s", dwhere, 60, 0, 86400, false);
                z->ml_per_s = number(L, d, "ml_per_s", dwhere, 1, 0, 1e6, false);
                z->dose_channel = channel(L, d, "dose", dwhere, true, true, NULL);
                override_channel(L, d, "override", dwhere, &z->dose_ov);
            }
        }
    }

    n = get(root, "climate");
    if (n) {
        need_map(L, n, "climate");
        only_keys(L, n, "climate", climate_keys);
        c->has_climate = true;
        double age = number(L, n, "max_age_s", "climate", c->max_age, 0.001, 86400, false);
        actuator(L, n, "fan", "climate", true, &c->fan);
        claim(L, roles, &role_count, c->fan.id, c->fan.line, "climate.fan");
        c->fan.safe = (int)number(L, n, "fan_safe_state", "climate", 0, 0, 1, false);
        input(L, n, "temperature", "climate", true, age, &c->temperature);
        band(L, n, "temperature_band", "climate", &c->t_low, &c->t_high, true, NULL);
        c->fan_min_on = number(L, n, "min_on_s", "climate", 30, 0, 86400, false);
        c->fan_min_off = number(L, n, "min_off_s", "climate", 30, 0, 86400, false);
        input(L, n, "co2", "climate", false, age, &c->co2);
        c->co2_max = number(L, n, "co2_max", "climate", INFINITY, 0, 1e6, c->co2.id != NONE);
        input(L, n, "humidity", "climate", false, age, &c->humidity);
        c->h_low = -INFINITY;
        c->h_high = INFINITY;
        band(L, n, "humidity_band", "climate", &c->h_low, &c->h_high, c->humidity.id != NONE, NULL);
        c->climate_reason = channel(L, n, "reason", "climate", true, true, NULL);
        c->climate_alarm = channel(L, n, "alarm", "climate", true, true, NULL);
        override_channel(L, n, "override", "climate", &c->fan_ov);
    }
    if (!c->has_pump && !c->zone_count && !c->has_climate)
        fail_at(p, root->line, "nothing to control: give pump/zones and/or climate");
    if (c->zone_count && !c->has_pump)
        fail_at(p, root->line, "zones need the 'pump' section: the main pump and the tank's float switch");
}

int gc_load(struct edgecore_engine *engine, const char *rules_path, double time_scale, FILE *log,
            struct gc_controller **out, char *error, size_t error_size) {
    if (!out || !error || !error_size) return -1;
    *out = NULL;
    error[0] = 0;
    if (!engine || !rules_path) {
        snprintf(error, error_size, "no engine or rules file");
        return -1;
    }
    if (!(time_scale >= 0.001 && time_scale <= 1e6)) {
        snprintf(error, error_size, "time scale %g is outside 0.001 .. 1000000", time_scale);
        return -1;
    }
    struct gc_controller *c = calloc(1, sizeof *c);
    struct parser *p = calloc(1, sizeof *p);
    if (!c || !p) {
        free(c);
        free(p);
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    c->engine = engine;
    c->log = log;
    c->scale = time_scale;
    c->pump.id = c->tank_low.id = c->pump_reason = c->pump_alarm = c->pump_ov.id = NONE;
    c->fan.id = c->temperature.id = c->co2.id = c->humidity.id = c->fan_ov.id = NONE;
    snprintf(c->path, sizeof c->path, "%s", rules_path);
    p->path = rules_path;
    p->error = error;
    p->error_size = error_size;
    if (setjmp(p->fail) == 0) {
        p->buffer = read_lines(p, rules_path);
        if (p->buffer) {
            split_lines(p, p->buffer);
            if (p->count == 0) fail_at(p, 1, "the rules file is empty");
            if (p->lines[0].indent != 0) fail_at(p, p->lines[0].line, "unexpected indentation");
            struct node *root = parse_block(p, 0);
            if (p->at < p->count) fail_at(p, p->lines[p->at].line, "unexpected content");
            struct loader L = {p, c};
            load_rules(&L, root);
            p->loaded = true;
        }
    }
    int result = p->loaded ? 0 : -1;
    for (size_t i = 0; i < p->node_count; i++) free(p->nodes[i]);
    free(p->lines);
    free(p->buffer);
    free(p);
    if (result == 0) {
        edgecore_engine_counts(engine, NULL, NULL, &c->channels);
        c->last = calloc(c->channels ? c->channels : 1, sizeof *c->last);
        c->have = calloc(c->channels ? c->channels : 1, 1);
        if (!c->last || !c->have) {
            snprintf(error, error_size, "out of memory");
            result = -1;
        }
    }
    if (result != 0) {
        gc_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void gc_free(struct gc_controller *c) {
    if (!c) return;
    free(c->zones);
    free(c->last);
    free(c->have);
    free(c);
}

int gc_is_override(const struct gc_controller *c, uint32_t channel) {
    if (!c || channel == NONE) return 0;
    if (c->pump_ov.id == channel || c->fan_ov.id == channel) return 1;
    for (size_t i = 0; i < c->zone_count; i++)
        if (c->zones[i].ov.id == channel || c->zones[i].dose_ov.id == channel) return 1;
    return 0;
}

int gc_tick_ms(const struct gc_controller *c) { return c ? c->tick_ms : 1000; }

/* ---------------------------------------------------------------------------------------------------- */
/* Decisions                                                                                            */
/* ---------------------------------------------------------------------------------------------------- */

static double ctrl_time(const struct gc_controller *c, int64_t ns) { return (double)(ns - c->t0_ns) / 1e9 * c->scale; }

static void say(struct gc_controller *c, const char *format, ...) {
    if (!c->log) return;
    va_list args;
    va_start(args, format);
    fprintf(c->log, "greenhouse: t=%.0fs ", c->now);
    vfprintf(c->log, format, args);
    fputc('\n', c->log);
    fflush(c->log);
    va_end(args);
}

static const char *channel_name(const struct gc_controller *c, uint32_t id) {
    const char *name = "?";
    edgecore_engine_channel_info(c->engine, id, &name, NULL, NULL);
    return name;
}

/* A decision or alarm reading on a local channel. */
static void publish(struct gc_controller *c, uint32_t id, double value) {
    if (id == NONE) return;
    int rc = edgecore_engine_write(c->engine, id, value, c->write_timeout_ms);
    if (rc != 0) say(c, "cannot write %g to %s: %s", value, channel_name(c, id), edgecore_strerror(rc));
}

/* The usable value of an input: status ok and younger than its max age. */
static bool usable(const struct gc_controller *c, const struct input *in, double *value) {
    if (in->id == NONE || in->id >= c->channels || !c->have[in->id]) return false;
    const struct edgecore_reading *r = &c->last[in->id];
    if (r->status != EDGECORE_STATUS_OK || !isfinite(r->value)) return false;
    double age = (double)(c->now_ns - r->timestamp_ns) / 1e9 * c->scale;
    if (age > in->max_age) return false;
    if (value) *value = r->value;
    return true;
}

/* An unusable input raises its alarm, except before its first reading while the start is younger than its
 * max age (the first polls are under way; the actuators stay at their safe state meanwhile). */
static bool alarm_for(const struct gc_controller *c, const struct input *in) {
    return in->id != NONE && !usable(c, in, NULL) && (c->have[in->id] || c->now > in->max_age);
}

/* Why an input is not usable, for the log. */
static void describe(const struct gc_controller *c, const struct input *in, char *text, size_t size) {
    if (!c->have[in->id]) {
        snprintf(text, size, "%s: no reading yet", channel_name(c, in->id));
        return;
    }
    const struct edgecore_reading *r = &c->last[in->id];
    double age = (double)(c->now_ns - r->timestamp_ns) / 1e9 * c->scale;
    snprintf(text, size, "%s: status %s, age %.1f s (max %.1f s)", channel_name(c, in->id),
             edgecore_status_name(r->status), age, in->max_age);
}

/* Write an actuator; returns whether it took. A change restarts its on/off time. */
static bool drive(struct gc_controller *c, struct actuator *a, int value) {
    if (a->id == NONE) return true;
    if (a->commanded == value && a->ok) return true;
    int rc = edgecore_engine_write(c->engine, a->id, value, c->write_timeout_ms);
    if (rc != 0) {
        if (!a->last_error || a->failed_value != value || rc != a->last_error) /* once per fault */
            say(c, "write %d to %s failed: %s", value, a->name, edgecore_strerror(rc));
        a->ok = false;
        a->last_error = rc;
        a->failed_value = value;
        c->failures++;
        return false;
    }
    if (a->last_error) say(c, "write %d to %s succeeded again", value, a->name);
    a->last_error = 0;
    if (a->commanded != value) a->since = c->now;
    a->commanded = value;
    a->ok = true;
    return true;
}

static void set_alarms(struct gc_controller *c, uint32_t channel_id, unsigned *current, bool *written,
                       unsigned alarms, const char *who) {
    if (*written && *current == alarms) return;
    if (*written) say(c, "%s alarms 0x%x -> 0x%x", who, *current, alarms);
    *current = alarms;
    *written = true;
    publish(c, channel_id, alarms);
}

/* The override's value now (-1 auto); an expired override goes back to -1, written to its channel. */
static int override_now(struct gc_controller *c, struct override *o, const char *who) {
    if (o->id == NONE || o->value == -1) return -1;
    if (c->now - o->since >= c->override_timeout) {
        say(c, "%s: override %d timed out after %.0f s: automatic control resumes", who, o->value, c->override_timeout);
        o->value = -1;
        publish(c, o->id, -1);
        return -1;
    }
    return o->value;
}

void gc_feed(struct gc_controller *c, const struct edgecore_reading *readings, size_t count) {
    if (!c) return;
    for (size_t i = 0; i < count; i++) {
        const struct edgecore_reading *r = &readings[i];
        if (r->channel >= c->channels) continue;
        if (c->have[r->channel] && r->timestamp_ns < c->last[r->channel].timestamp_ns) continue;
        c->last[r->channel] = *r;
        c->have[r->channel] = 1;
        if (r->status != EDGECORE_STATUS_OK) continue;
        struct override *all[64];
        size_t n = 0;
        all[n++] = &c->pump_ov;
        all[n++] = &c->fan_ov;
        for (size_t z = 0; z < c->zone_count && n + 2 <= 64; z++) {
            all[n++] = &c->zones[z].ov;
            all[n++] = &c->zones[z].dose_ov;
        }
        for (size_t k = 0; k < n; k++) {
            struct override *o = all[k];
            if (o->id != r->channel) continue;
            int v = r->value >= 0.5 ? 1 : r->value > -0.5 ? 0 : -1;
            if (v != o->value) {
                o->value = v;
                o->since = ctrl_time(c, r->timestamp_ns);
                if (c->log)
                    fprintf(c->log, "greenhouse: %s = %d (%s)\n", channel_name(c, o->id), v,
                            v < 0 ? "automatic" : v ? "force on" : "force off");
            }
        }
    }
}

static void zone_valve(struct gc_controller *c, struct zone *z, int want, int reason, const char *why) {
    int before = z->valve.commanded;
    bool ok = drive(c, &z->valve, want);
    if (!ok) {
        z->write_fault_until = c->now + c->fault_retry;
        if (want == 1) { /* the opening failed: back to the safe state */
            drive(c, &z->valve, z->valve.safe);
            reason = R_OFF_WRITE;
            why = "the valve's write failed";
        }
    }
    if (before != want || !ok || z->last_reason != reason) {
        if (before != want || z->last_reason != reason)
            say(c, "zone %s: valve %s (reason %d: %s)", z->name, want ? "opened" : "closed", reason, why);
        if (z->last_reason != reason || before != want) publish(c, z->reason, reason);
        z->last_reason = reason;
    }
}

static void zone_dosing(struct gc_controller *c, struct zone *z, bool allowed, unsigned *alarms) {
    if (!z->dosing) return;
    double ec = 0;
    bool ec_ok = usable(c, &z->ec, &ec);
    if (alarm_for(c, &z->ec)) *alarms |= A_Z_EC;
    int ov = override_now(c, &z->dose_ov, z->name);
    bool on = z->doser.commanded == 1 && z->doser.ok;
    int want;
    if (!allowed) want = 0; /* the interlock holds under override too */
    else if (ov == 0) want = 0;
    else if (ov == 1) want = 1;
    else if (!ec_ok) want = 0;
    else if (on) want = c->now - z->dose_started < z->dose_s ? 1 : 0;
    else want = ec < z->target_ec && c->now - z->dose_ended >= z->pause_s ? 1 : 0;
    if (want == 1 && !on) {
        if (drive(c, &z->doser, 1)) {
            z->dose_started = c->now;
            say(c, "zone %s: dosing (EC %.2f, target %.2f)", z->name, ec, z->target_ec);
        } else {
            *alarms |= A_Z_WRITE;
            z->write_fault_until = c->now + c->fault_retry;
            drive(c, &z->doser, 0);
        }
    } else if (want == 0 && (on || z->doser.commanded != 0 || !z->doser.ok)) {
        bool ok = drive(c, &z->doser, 0);
        if (!ok) {
            *alarms |= A_Z_WRITE;
            z->write_fault_until = c->now + c->fault_retry;
        }
        if (on) {
            double given = (c->now - z->dose_started) * z->ml_per_s;
            z->dose_ended = c->now;
            say(c, "zone %s: dose given %.1f mL%s", z->name, given, allowed ? "" : " (interlock: the line closed)");
            publish(c, z->dose_channel, given);
        }
    }
}

static void tick_zone(struct gc_controller *c, struct zone *z, bool pump_on) {
    unsigned alarms = 0;
    double m = 0, total = 0;
    char why[256];
    bool m_ok = usable(c, &z->moisture, &m);
    if (alarm_for(c, &z->moisture)) alarms |= A_Z_MOISTURE;
    bool flow_ok = z->flow.id == NONE || usable(c, &z->flow, &total);
    if (alarm_for(c, &z->flow)) alarms |= A_Z_FLOW_SENSOR;
    bool open = z->valve.commanded == 1;

    /* volume of the day (controller days), no-flow and leak checks */
    if (z->flow.id != NONE && flow_ok) {
        int64_t day = (int64_t)floor(((double)c->t0_ns / 1e9 + c->now) / 86400.0);
        if (!z->have_base || day != z->day || total < z->base_total) {
            z->have_base = true;
            z->day = day;
            z->base_total = total;
        }
        if (!z->have_total || total > z->last_total) z->last_increase = c->now;
        if (!z->have_total) z->closed_total = total;
        z->have_total = true;
        z->last_total = total;
        double since_on = c->now - (z->valve.since > c->pump.since ? z->valve.since : c->pump.since);
        if (open && pump_on && since_on >= z->no_flow_s && c->now - z->last_increase >= z->no_flow_s &&
            c->now >= z->flow_fault_until) {
            z->flow_fault_until = c->now + c->fault_retry;
            say(c, "zone %s: no flow for %.0f s with the valve open and the pump on (stuck valve, empty line or "
                "flow meter): closing", z->name, c->now - z->last_increase);
        }
        if (open) z->closed_total = total;
        else if (c->now - z->valve.since < z->no_flow_s) z->closed_total = total; /* water still running out */
        else if (total - z->closed_total > z->leak_volume && c->now >= z->leak_fault_until) {
            z->leak_fault_until = c->now + c->fault_retry;
            say(c, "zone %s: %.4f of water flowed with the valve closed (stuck valve): pump stopped", z->name,
                total - z->closed_total);
            z->closed_total = total;
        }
    }
    double used = z->have_base ? z->last_total - z->base_total : 0;
    bool capped = used >= z->daily_cap;
    if (capped) alarms |= A_Z_DAILY_CAP;
    bool flow_fault = c->now < z->flow_fault_until;
    bool leak = c->now < z->leak_fault_until;
    bool write_fault = c->now < z->write_fault_until;
    if (flow_fault) alarms |= A_Z_NO_FLOW;
    if (leak) alarms |= A_Z_LEAK;
    if (write_fault) alarms |= A_Z_WRITE;

    int ov = override_now(c, &z->ov, z->name);
    double on_for = c->now - z->valve.since;
    int want = open ? 1 : 0, reason = z->last_reason;
    const char *text = "";
    if (write_fault) {
        want = 0, reason = R_OFF_WRITE, text = "a write failed: safe state";
    } else if (ov == 0) {
        want = 0, reason = R_OFF_OVERRIDE, text = "override: force off";
    } else if (ov == 1) {
        if (flow_fault) want = 0, reason = R_OFF_FLOW, text = "no flow (override on)";
        else want = 1, reason = R_ON_OVERRIDE, text = "override: force on";
    } else if (!m_ok) {
        describe(c, &z->moisture, why, sizeof why);
        want = 0, reason = R_OFF_SENSOR, text = why;
    } else if (!flow_ok) {
        describe(c, &z->flow, why, sizeof why);
        want = 0, reason = R_OFF_SENSOR, text = why;
    } else if (flow_fault) {
        want = 0, reason = R_OFF_FLOW, text = "no flow with the valve open";
    } else if (capped) {
        want = 0, reason = R_OFF_DAILY_CAP, text = "daily volume reached";
    } else if (open) {
        if (on_for >= z->max_open) {
            want = 0, reason = R_OFF_MAX_OPEN, text = "maximum open time";
        } else if (m > z->high && on_for >= z->min_on) {
            snprintf(why, sizeof why, "moisture %.1f above %.1f", m, z->high);
            want = 0, reason = R_OFF_DEMAND, text = why;
        }
    } else if (m < z->low && on_for >= z->min_off) {
        snprintf(why, sizeof why, "moisture %.1f below %.1f", m, z->low);
        want = 1, reason = R_ON_DEMAND, text = why;
    }
    if (want != (open ? 1 : 0) || !z->valve.ok || reason != z->last_reason) {
        if (want == (open ? 1 : 0) && z->valve.ok && reason != z->last_reason &&
            !(reason == R_OFF_WRITE || reason == R_OFF_SENSOR || reason == R_OFF_FLOW || reason == R_OFF_OVERRIDE ||
              reason == R_ON_OVERRIDE || reason == R_OFF_DAILY_CAP)) {
            /* a reason that explains no change: keep the last one */
        } else {
            zone_valve(c, z, want, reason, text);
        }
    }
    if (!z->valve.ok) alarms |= A_Z_WRITE;
    z->pending_alarms = alarms;
}

/* After the pump's decision: dosing only into an open line with the pump running. */
static void tick_zone_dosing(struct gc_controller *c, struct zone *z) {
    unsigned alarms = z->pending_alarms;
    bool pump_on = c->has_pump && c->pump.commanded == 1 && c->pump.ok;
    bool line_open = z->valve.commanded == 1 && z->valve.ok && pump_on && c->now >= z->flow_fault_until &&
                     c->now >= z->leak_fault_until;
    zone_dosing(c, z, line_open, &alarms);
    if (!z->valve.ok) alarms |= A_Z_WRITE;
    set_alarms(c, z->alarm, &z->alarms, &z->alarms_written, alarms, z->name);
}

static void tick_pump(struct gc_controller *c) {
    if (!c->has_pump) return;
    unsigned alarms = 0;
    double low = 0;
    bool tank_ok = usable(c, &c->tank_low, &low);
    if (alarm_for(c, &c->tank_low)) alarms |= A_P_TANK_SENSOR;
    else if (low >= 0.5) alarms |= A_P_TANK_LOW;
    bool demand = false, leak = false;
    for (size_t i = 0; i < c->zone_count; i++) {
        struct zone *z = &c->zones[i];
        demand = demand || (z->valve.commanded == 1 && z->valve.ok);
        leak = leak || c->now < z->leak_fault_until;
    }
    if (c->now < c->pump_write_fault_until) alarms |= A_P_WRITE;
    int ov = override_now(c, &c->pump_ov, "pump");
    int want, reason;
    if (!tank_ok) want = 0, reason = R_OFF_SENSOR;
    else if (low >= 0.5) want = 0, reason = R_OFF_TANK_LOW;
    else if (leak) want = 0, reason = R_OFF_LEAK;
    else if (c->now < c->pump_write_fault_until) want = 0, reason = R_OFF_WRITE;
    else if (ov == 0) want = 0, reason = R_OFF_OVERRIDE;
    else if (ov == 1) want = 1, reason = R_ON_OVERRIDE;
    else if (demand) want = 1, reason = R_ON_DEMAND;
    else want = 0, reason = R_OFF_DEMAND;
    int before = c->pump.commanded;
    if (!drive(c, &c->pump, want)) {
        alarms |= A_P_WRITE;
        c->pump_write_fault_until = c->now + c->fault_retry;
        if (want) drive(c, &c->pump, 0);
        reason = R_OFF_WRITE;
        want = 0;
    }
    static const char *const texts[] = {[R_ON_DEMAND] = "a valve is open", [R_ON_OVERRIDE] = "override: force on",
                                        [R_OFF_DEMAND] = "no valve open", [R_OFF_OVERRIDE] = "override: force off",
                                        [R_OFF_SENSOR] = "tank float switch reading not usable",
                                        [R_OFF_WRITE] = "a write failed", [R_OFF_TANK_LOW] = "tank low",
                                        [R_OFF_LEAK] = "water flows through a closed valve"};
    if (before != c->pump.commanded) {
        say(c, "pump %s (reason %d: %s)", c->pump.commanded == 1 ? "on" : "off", reason, texts[reason]);
        publish(c, c->pump_reason, reason);
    }
    set_alarms(c, c->pump_alarm, &c->pump_alarms, &c->pump_alarms_written, alarms, "pump");
}

static void tick_climate(struct gc_controller *c) {
    if (!c->has_climate) return;
    unsigned alarms = 0;
    double t = 0, v = 0;
    char why[256] = "";
    bool t_ok = usable(c, &c->temperature, &t);
    if (alarm_for(c, &c->temperature)) alarms |= A_C_TEMPERATURE;
    if (c->co2.id != NONE) {
        if (!usable(c, &c->co2, &v)) alarms |= alarm_for(c, &c->co2) ? A_C_CO2_SENSOR : 0;
        else if (v > c->co2_max) alarms |= A_C_CO2_HIGH;
    }
    if (c->humidity.id != NONE) {
        if (!usable(c, &c->humidity, &v)) alarms |= alarm_for(c, &c->humidity) ? A_C_HUMIDITY_SENSOR : 0;
        else if (v > c->h_high) alarms |= A_C_HUMIDITY_HIGH;
        else if (v < c->h_low) alarms |= A_C_HUMIDITY_LOW;
    }
    bool fault = c->now < c->fan_write_fault_until;
    int ov = override_now(c, &c->fan_ov, "fan");
    int on = c->fan.commanded == 1;
    double for_s = c->now - c->fan.since;
    int want = on, reason = 0;
    if (fault) {
        want = c->fan.safe, reason = c->fan.safe ? R_ON_SAFE : R_OFF_WRITE;
        snprintf(why, sizeof why, "a write failed: safe state");
    } else if (ov == 0) {
        want = 0, reason = R_OFF_OVERRIDE;
        snprintf(why, sizeof why, "override: force off");
    } else if (ov == 1) {
        want = 1, reason = R_ON_OVERRIDE;
        snprintf(why, sizeof why, "override: force on");
    } else if (!t_ok) {
        describe(c, &c->temperature, why, sizeof why);
        want = c->fan.safe, reason = c->fan.safe ? R_ON_SAFE : R_OFF_SENSOR;
    } else if (on && t < c->t_low && for_s >= c->fan_min_on) {
        want = 0, reason = R_OFF_DEMAND;
        snprintf(why, sizeof why, "temperature %.1f below %.1f", t, c->t_low);
    } else if (!on && t > c->t_high && for_s >= c->fan_min_off) {
        want = 1, reason = R_ON_DEMAND;
        snprintf(why, sizeof why, "temperature %.1f above %.1f", t, c->t_high);
    }
    int before = c->fan.commanded;
    if (!drive(c, &c->fan, want)) {
        alarms |= A_C_WRITE;
        c->fan_write_fault_until = c->now + c->fault_retry;
        if (want != c->fan.safe) drive(c, &c->fan, c->fan.safe);
        reason = R_OFF_WRITE;
        snprintf(why, sizeof why, "a write failed");
    }
    if (fault) alarms |= A_C_WRITE;
    if (before != c->fan.commanded || (reason && reason == R_OFF_WRITE && before == c->fan.commanded && !c->fan.ok)) {
        if (reason == 0) reason = want ? R_ON_DEMAND : R_OFF_DEMAND;
        say(c, "fan %s (reason %d: %s)", want ? "on" : "off", reason, why);
        publish(c, c->climate_reason, reason);
    }
    set_alarms(c, c->climate_alarm, &c->climate_alarms, &c->climate_alarms_written, alarms, "climate");
}

int gc_begin(struct gc_controller *c, int64_t now_ns) {
    if (!c) return 0;
    c->t0_ns = now_ns;
    c->now_ns = now_ns;
    c->now = 0;
    c->failures = 0;
    /* Safe state first, downstream first: dosing, pump, valves, fan. */
    for (size_t i = 0; i < c->zone_count; i++) {
        struct zone *z = &c->zones[i];
        if (z->dosing) drive(c, &z->doser, 0);
        z->dose_ended = -1e12;
        z->last_reason = R_OFF_STARTUP;
    }
    if (c->has_pump) {
        drive(c, &c->pump, 0);
        publish(c, c->pump_reason, R_OFF_STARTUP);
        publish(c, c->pump_ov.id, -1);
        c->pump.since = -1e12;
    }
    for (size_t i = 0; i < c->zone_count; i++) {
        struct zone *z = &c->zones[i];
        drive(c, &z->valve, 0);
        z->valve.since = -1e12; /* min off time satisfied at start */
        publish(c, z->reason, R_OFF_STARTUP);
        publish(c, z->ov.id, -1);
        publish(c, z->dose_ov.id, -1);
        if (!z->valve.ok || (z->dosing && !z->doser.ok)) z->write_fault_until = c->fault_retry;
    }
    if (c->has_climate) {
        drive(c, &c->fan, c->fan.safe);
        c->fan.since = -1e12;
        publish(c, c->climate_reason, c->fan.safe ? R_ON_SAFE : R_OFF_STARTUP);
        publish(c, c->fan_ov.id, -1);
        if (!c->fan.ok) c->fan_write_fault_until = c->fault_retry;
    }
    if (c->has_pump && !c->pump.ok) c->pump_write_fault_until = c->fault_retry;
    say(c, "started (time scale %g; %zu zone(s))", c->scale, c->zone_count);
    return c->failures;
}

int gc_tick(struct gc_controller *c, int64_t now_ns) {
    if (!c) return 0;
    c->now_ns = now_ns;
    c->now = ctrl_time(c, now_ns);
    c->failures = 0;
    bool pump_on = c->has_pump && c->pump.commanded == 1 && c->pump.ok;
    for (size_t i = 0; i < c->zone_count; i++) tick_zone(c, &c->zones[i], pump_on);
    tick_pump(c);
    for (size_t i = 0; i < c->zone_count; i++) tick_zone_dosing(c, &c->zones[i]);
    tick_climate(c);
    return c->failures;
}

int gc_safe_stop(struct gc_controller *c) {
    if (!c) return 0;
    c->failures = 0;
    for (size_t i = 0; i < c->zone_count; i++) {
        struct zone *z = &c->zones[i];
        unsigned alarms = z->alarms;
        zone_dosing(c, z, false, &alarms);
        if (z->dosing) drive(c, &z->doser, 0);
    }
    if (c->has_pump) {
        drive(c, &c->pump, 0);
        publish(c, c->pump_reason, R_OFF_SHUTDOWN);
    }
    for (size_t i = 0; i < c->zone_count; i++) {
        drive(c, &c->zones[i].valve, 0);
        publish(c, c->zones[i].reason, R_OFF_SHUTDOWN);
    }
    if (c->has_climate) {
        drive(c, &c->fan, c->fan.safe);
        publish(c, c->climate_reason, R_OFF_SHUTDOWN);
    }
    say(c, "stopped: every actuator at its safe state (%d write(s) failed)", c->failures);
    return c->failures;
}
