/*
 * modbus_server - a Modbus TCP / RTU slave built on libmodbus, serving a register map from a text file.
 * A test peer for EdgeCore's integration tests, also usable for demos.
 *
 *   modbus_server --tcp PORT --map FILE [fault options]
 *   modbus_server --rtu DEVICE [--baud N] [--parity N|E|O] [--data-bits 7|8] [--stop-bits 1|2]
 *                 --map FILE [fault options]
 *
 *   --tcp PORT        listen on 127.0.0.1:PORT; serves several clients, sequential or at the same time
 *   --rtu DEVICE      serve on a serial device, e.g. one end of a socat pty pair (default 9600 8N1). When
 *                     the device vanishes (USB adapter unplugged, socat stopped), the server closes it,
 *                     re-opens it every 100 ms until it is back, and prints READY again.
 *   --map FILE        register map (format below)
 *   --silent-unit U   never answer unit U, even when the map has it (repeatable)
 *   --exception [UNIT:]TABLE:ADDR:CODE
 *                     every request that reads or writes address ADDR of TABLE (of unit UNIT, or of any
 *                     unit) is answered with Modbus exception CODE (1..255); repeatable, first match wins
 *   --bad-crc-every N RTU only: corrupt the CRC of every Nth reply (the Nth, 2Nth, ... reply sent)
 *   --delay-ms MS     wait MS milliseconds before sending each reply (TCP: delays every client)
 *   --verbose         one line per request on stderr
 *
 * Prints "READY" on stdout (flushed) once listening / once the device is open. SIGTERM or SIGINT: exits
 * with status 0 after printing its counters on stderr. Exit status 1: cannot listen/open; 2: bad usage
 * or map file.
 *
 * Map file format: one entry per line,
 *     UNIT TABLE ADDRESS VALUE [VALUE ...]
 *   UNIT     unit id (slave address) 0..255, decimal
 *   TABLE    coil | discrete | holding | input
 *   ADDRESS  0-based protocol address (decimal or 0x hex) of the first VALUE; further VALUEs go to
 *            ADDRESS+1, ADDRESS+2, ...
 *   VALUE    holding/input: 0..65535, decimal or 0x hex; coil/discrete: 0 or 1
 * '#' starts a comment; blank lines are ignored; a later entry for the same cell replaces the earlier one.
 * A unit exists when some line names it; requests for other unit ids get no answer (absent slave).
 * Per unit and table, every address from the lowest to the highest one listed is served (unlisted ones in
 * between hold 0); any other address is answered with exception 2 (illegal data address).
 * Writes (FC 5, 6, 15, 16, 22, 23) change the served values for the life of the process.
 *
 * Build: gcc -std=c11 -O2 $(pkg-config --cflags libmodbus) modbus_server.c -o modbus_server -lmodbus
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

enum table { T_COIL, T_DISCRETE, T_HOLDING, T_INPUT, T_COUNT };
static const char *const table_names[T_COUNT] = {"coil", "discrete", "holding", "input"};

struct cell {
    uint8_t unit;
    uint8_t table;
    uint16_t address;
    uint16_t value;
};

struct unit {
    bool present;
    bool silent;
    int lo[T_COUNT], hi[T_COUNT]; /* lowest / highest address listed; lo > hi: none */
    modbus_mapping_t *mapping;
};

struct exception_rule {
    int unit; /* -1: any */
    int table;
    uint16_t address;
    uint8_t code;
};

#define MAX_RULES 64

static struct unit units[256];
static struct exception_rule rules[MAX_RULES];
static int rule_count;
static unsigned bad_crc_every;
static unsigned delay_ms;
static bool verbose;
static bool rtu_mode;
static volatile sig_atomic_t stop_requested;

static struct {
    unsigned long requests, replies, ignored, injected_exceptions, corrupted_crcs, bad_crc_requests,
        dropped_bytes, clients, reopens;
} stats;

static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("modbus_server: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    exit(2);
}

static void usage(void)
{
    fputs("usage: modbus_server (--tcp PORT | --rtu DEVICE [--baud N] [--parity N|E|O] [--data-bits 7|8]\n"
          "                      [--stop-bits 1|2]) --map FILE [--silent-unit U]...\n"
          "                     [--exception [UNIT:]TABLE:ADDR:CODE]... [--bad-crc-every N] [--delay-ms MS]\n"
          "                     [--verbose]\n",
          stderr);
}

/* Parses a whole string as an unsigned number (decimal, or hex with 0x) within [0, max]. */
static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

static int table_from_name(const char *s)
{
    for (int t = 0; t < T_COUNT; t++)
        if (strcmp(s, table_names[t]) == 0)
            return t;
    return -1;
}

/* ------------------------------------------------------------------------------------------------ */
/* Map file                                                                                         */
/* ------------------------------------------------------------------------------------------------ */

static void load_map(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        die_usage("%s: %s", path, strerror(errno));
    struct cell *cells = NULL;
    size_t count = 0, capacity = 0;
    char line[8192];
    int lineno = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n')
            die_usage("%s:%d: line too long", path, lineno);
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *save = NULL;
        char *tok_unit = strtok_r(line, " \t\r\n", &save);
        if (tok_unit == NULL)
            continue;
        char *tok_table = strtok_r(NULL, " \t\r\n", &save);
        char *tok_addr = strtok_r(NULL, " \t\r\n", &save);
        unsigned long unit, address, value;
        if (!parse_uint(tok_unit, 255, &unit))
            die_usage("%s:%d: unit '%s' is not a number 0..255", path, lineno, tok_unit);
        int table = tok_table != NULL ? table_from_name(tok_table) : -1;
        if (table < 0)
            die_usage("%s:%d: table '%s' is not coil, discrete, holding or input", path, lineno,
                      tok_table != NULL ? tok_table : "");
        if (!parse_uint(tok_addr, 65535, &address))
            die_usage("%s:%d: address '%s' is not a number 0..65535", path, lineno,
                      tok_addr != NULL ? tok_addr : "");
        unsigned long max = (table == T_COIL || table == T_DISCRETE) ? 1 : 65535;
        int values = 0;
        for (char *tok; (tok = strtok_r(NULL, " \t\r\n", &save)) != NULL; values++) {
            if (!parse_uint(tok, max, &value))
                die_usage("%s:%d: value '%s' is not a number 0..%lu", path, lineno, tok, max);
            if (address + (unsigned long)values > 65535)
                die_usage("%s:%d: values run past address 65535", path, lineno);
            if (count == capacity) {
                capacity = capacity ? capacity * 2 : 256;
                cells = realloc(cells, capacity * sizeof *cells);
                if (cells == NULL)
                    die_usage("out of memory");
            }
            cells[count++] = (struct cell){(uint8_t)unit, (uint8_t)table, (uint16_t)(address + values),
                                           (uint16_t)value};
        }
        if (values == 0)
            die_usage("%s:%d: no value after the address", path, lineno);
    }
    if (ferror(f))
        die_usage("%s: read error", path);
    fclose(f);

    for (int u = 0; u < 256; u++)
        for (int t = 0; t < T_COUNT; t++) {
            units[u].lo[t] = 65536;
            units[u].hi[t] = -1;
        }
    for (size_t i = 0; i < count; i++) {
        struct unit *u = &units[cells[i].unit];
        u->present = true;
        if (cells[i].address < u->lo[cells[i].table])
            u->lo[cells[i].table] = cells[i].address;
        if (cells[i].address > u->hi[cells[i].table])
            u->hi[cells[i].table] = cells[i].address;
    }
    for (int n = 0; n < 256; n++) {
        struct unit *u = &units[n];
        if (!u->present)
            continue;
        int start[T_COUNT], nb[T_COUNT];
        for (int t = 0; t < T_COUNT; t++) {
            start[t] = u->hi[t] >= u->lo[t] ? u->lo[t] : 0;
            nb[t] = u->hi[t] >= u->lo[t] ? u->hi[t] - u->lo[t] + 1 : 0;
        }
        u->mapping = modbus_mapping_new_start_address(
            (unsigned)start[T_COIL], (unsigned)nb[T_COIL], (unsigned)start[T_DISCRETE], (unsigned)nb[T_DISCRETE],
            (unsigned)start[T_HOLDING], (unsigned)nb[T_HOLDING], (unsigned)start[T_INPUT], (unsigned)nb[T_INPUT]);
        if (u->mapping == NULL)
            die_usage("modbus_mapping_new_start_address: %s", modbus_strerror(errno));
    }
    for (size_t i = 0; i < count; i++) {
        modbus_mapping_t *m = units[cells[i].unit].mapping;
        unsigned a = cells[i].address;
        uint16_t v = cells[i].value;
        switch (cells[i].table) {
        case T_COIL: m->tab_bits[a - m->start_bits] = (uint8_t)v; break;
        case T_DISCRETE: m->tab_input_bits[a - m->start_input_bits] = (uint8_t)v; break;
        case T_HOLDING: m->tab_registers[a - m->start_registers] = v; break;
        default: m->tab_input_registers[a - m->start_input_registers] = v; break;
        }
    }
    free(cells);
}

static void parse_exception(const char *arg)
{
    char buf[128];
    if (strlen(arg) >= sizeof buf)
        die_usage("--exception '%s': too long", arg);
    strcpy(buf, arg);
    char *parts[4];
    int n = 0;
    char *save = NULL;
    for (char *p = strtok_r(buf, ":", &save); p != NULL; p = strtok_r(NULL, ":", &save)) {
        if (n == 4)
            die_usage("--exception '%s': expected [UNIT:]TABLE:ADDR:CODE", arg);
        parts[n++] = p;
    }
    if (n < 3)
        die_usage("--exception '%s': expected [UNIT:]TABLE:ADDR:CODE", arg);
    struct exception_rule r = {.unit = -1};
    int i = 0;
    unsigned long v;
    if (n == 4) {
        if (!parse_uint(parts[0], 255, &v))
            die_usage("--exception '%s': bad unit", arg);
        r.unit = (int)v;
        i = 1;
    }
    r.table = table_from_name(parts[i]);
    if (r.table < 0)
        die_usage("--exception '%s': table must be coil, discrete, holding or input", arg);
    if (!parse_uint(parts[i + 1], 65535, &v))
        die_usage("--exception '%s': bad address", arg);
    r.address = (uint16_t)v;
    if (!parse_uint(parts[i + 2], 255, &v) || v == 0)
        die_usage("--exception '%s': code must be 1..255", arg);
    r.code = (uint8_t)v;
    if (rule_count == MAX_RULES)
        die_usage("more than %d --exception options", MAX_RULES);
    rules[rule_count++] = r;
}

/* ------------------------------------------------------------------------------------------------ */
/* Requests                                                                                         */
/* ------------------------------------------------------------------------------------------------ */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static bool range_touches(int table, unsigned first, unsigned count, const struct exception_rule *r)
{
    return table == r->table && r->address >= first && r->address < first + count;
}

/* The exception rule a request (PDU at pdu, pdu_len bytes without CRC) hits, or NULL. */
static const struct exception_rule *find_rule(int unit, const uint8_t *pdu, int pdu_len)
{
    if (pdu_len < 5)
        return NULL;
    int fc = pdu[0];
    unsigned addr = get16(pdu + 1), qty = get16(pdu + 3);
    for (int i = 0; i < rule_count; i++) {
        const struct exception_rule *r = &rules[i];
        if (r->unit >= 0 && r->unit != unit)
            continue;
        bool hit = false;
        switch (fc) {
        case MODBUS_FC_READ_COILS: case MODBUS_FC_WRITE_MULTIPLE_COILS:
            hit = range_touches(T_COIL, addr, qty, r); break;
        case MODBUS_FC_READ_DISCRETE_INPUTS: hit = range_touches(T_DISCRETE, addr, qty, r); break;
        case MODBUS_FC_READ_HOLDING_REGISTERS: case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
            hit = range_touches(T_HOLDING, addr, qty, r); break;
        case MODBUS_FC_READ_INPUT_REGISTERS: hit = range_touches(T_INPUT, addr, qty, r); break;
        case MODBUS_FC_WRITE_SINGLE_COIL: hit = range_touches(T_COIL, addr, 1, r); break;
        case MODBUS_FC_WRITE_SINGLE_REGISTER: case MODBUS_FC_MASK_WRITE_REGISTER:
            hit = range_touches(T_HOLDING, addr, 1, r); break;
        case MODBUS_FC_WRITE_AND_READ_REGISTERS:
            hit = range_touches(T_HOLDING, addr, qty, r) ||
                  (pdu_len >= 9 && range_touches(T_HOLDING, get16(pdu + 5), get16(pdu + 7), r));
            break;
        default: break;
        }
        if (hit)
            return r;
    }
    return NULL;
}

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes all of buf to fd, waiting at most 2 s for room. */
static bool write_all(int fd, const uint8_t *buf, size_t n)
{
    int64_t deadline = now_ms() + 2000;
    while (n > 0) {
        ssize_t w = rtu_mode ? write(fd, buf, n) : send(fd, buf, n, MSG_NOSIGNAL);
        if (w > 0) {
            buf += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                return false;
            fd_set wr;
            FD_ZERO(&wr);
            FD_SET(fd, &wr);
            struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
            select(fd + 1, NULL, &wr, NULL, &tv);
            continue;
        }
        return false;
    }
    return true;
}

static int capture[2]; /* socketpair: libmodbus writes its reply into capture[0], we read capture[1] */

/*
 * Handles one complete request (TCP: ADU with MBAP header; RTU: frame with a good CRC, CRC included) that
 * arrived on out_fd. libmodbus builds the reply into the capture socket, so it can be delayed or
 * corrupted before it goes out.
 */
static void handle_request(modbus_t *ctx, const uint8_t *req, int len, int out_fd)
{
    int hl = modbus_get_header_length(ctx);
    int unit = req[hl - 1];
    const uint8_t *pdu = req + hl;
    int pdu_len = len - hl - (rtu_mode ? 2 : 0);
    stats.requests++;
    if (verbose)
        fprintf(stderr, "modbus_server: unit %d fc %d addr %u qty %u\n", unit, pdu[0],
                pdu_len >= 3 ? get16(pdu + 1) : 0, pdu_len >= 5 ? get16(pdu + 3) : 0);

    if (rtu_mode && unit == 0) { /* broadcast: every unit applies it, nobody answers */
        for (int u = 1; u < 256; u++)
            if (units[u].present && !units[u].silent) {
                modbus_set_socket(ctx, capture[0]);
                modbus_reply(ctx, req, len, units[u].mapping);
            }
        modbus_set_socket(ctx, out_fd);
        uint8_t junk[MODBUS_MAX_ADU_LENGTH];
        while (read(capture[1], junk, sizeof junk) > 0) {
        }
        stats.ignored++;
        return;
    }
    if (!units[unit].present || units[unit].silent) {
        stats.ignored++;
        if (verbose)
            fprintf(stderr, "modbus_server:   unit %d %s: no answer\n", unit,
                    units[unit].present ? "silent" : "absent");
        return;
    }

    const struct exception_rule *rule = find_rule(unit, pdu, pdu_len);
    modbus_set_socket(ctx, capture[0]);
    if (rule != NULL) {
        modbus_reply_exception(ctx, req, rule->code);
        stats.injected_exceptions++;
    } else {
        modbus_reply(ctx, req, len, units[unit].mapping);
    }
    modbus_set_socket(ctx, out_fd);

    uint8_t rsp[MODBUS_MAX_ADU_LENGTH + 16];
    ssize_t n = read(capture[1], rsp, sizeof rsp);
    if (n <= 0)
        return;
    stats.replies++;
    if (rtu_mode && bad_crc_every != 0 && stats.replies % bad_crc_every == 0 && n >= 2) {
        rsp[n - 2] ^= 0x5A;
        rsp[n - 1] ^= 0xA5;
        stats.corrupted_crcs++;
    }
    if (delay_ms > 0)
        sleep_ms(delay_ms);
    if (verbose)
        fprintf(stderr, "modbus_server:   reply %zd bytes%s\n", n, rule ? " (injected exception)" : "");
    if (!write_all(out_fd, rsp, (size_t)n) && verbose)
        fprintf(stderr, "modbus_server:   reply not sent: %s\n", strerror(errno));
}

/* ------------------------------------------------------------------------------------------------ */
/* Transports                                                                                       */
/* ------------------------------------------------------------------------------------------------ */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* modbus_reply answers exceptions 1 (illegal function) and 3 (illegal data value) only after sleeping the
 * response timeout and flushing the line; a server has no other use for that timeout, so make it 1 ms. */
static void quick_flush(modbus_t *ctx)
{
    modbus_set_response_timeout(ctx, 0, 1000);
}

static void ready(void)
{
    fputs("READY\n", stdout);
    fflush(stdout);
}

static int serve_tcp(int port)
{
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    if (ctx == NULL) {
        fprintf(stderr, "modbus_server: modbus_new_tcp: %s\n", modbus_strerror(errno));
        return 1;
    }
    quick_flush(ctx);
    int listen_fd = modbus_tcp_listen(ctx, 32);
    if (listen_fd < 0) {
        fprintf(stderr, "modbus_server: cannot listen on 127.0.0.1:%d: %s\n", port, modbus_strerror(errno));
        modbus_free(ctx);
        return 1;
    }
    fd_set clients;
    FD_ZERO(&clients);
    int fd_max = listen_fd;
    sigset_t empty;
    sigemptyset(&empty);
    ready();
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    while (!stop_requested) {
        fd_set rd = clients;
        FD_SET(listen_fd, &rd);
        int rc = pselect(fd_max + 1, &rd, NULL, NULL, NULL, &empty);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "modbus_server: select: %s\n", strerror(errno));
            break;
        }
        if (FD_ISSET(listen_fd, &rd)) {
            int fd = accept(listen_fd, NULL, NULL);
            if (fd >= FD_SETSIZE) {
                close(fd);
            } else if (fd >= 0) {
                FD_SET(fd, &clients);
                if (fd > fd_max)
                    fd_max = fd;
                stats.clients++;
                if (verbose)
                    fprintf(stderr, "modbus_server: client connected (fd %d)\n", fd);
            }
        }
        for (int fd = 0; fd <= fd_max; fd++) {
            if (fd == listen_fd || !FD_ISSET(fd, &clients) || !FD_ISSET(fd, &rd))
                continue;
            modbus_set_socket(ctx, fd);
            int len = modbus_receive(ctx, query);
            if (len > 0) {
                handle_request(ctx, query, len, fd);
            } else if (len < 0) {
                if (verbose)
                    fprintf(stderr, "modbus_server: client fd %d closed (%s)\n", fd, modbus_strerror(errno));
                close(fd);
                FD_CLR(fd, &clients);
            }
        }
    }
    for (int fd = 0; fd <= fd_max; fd++)
        if (FD_ISSET(fd, &clients))
            close(fd);
    close(listen_fd);
    modbus_set_socket(ctx, -1);
    modbus_free(ctx);
    return 0;
}

/* The full length (CRC included) of the RTU request frame at b (n bytes so far): 0 when more bytes are
 * needed to know it, -1 when the function code is unknown (then the frame ends at a silent gap). */
static int rtu_request_length(const uint8_t *b, size_t n)
{
    if (n < 2)
        return 0;
    switch (b[1]) {
    case 1: case 2: case 3: case 4: case 5: case 6: case 8: return 8;
    case 7: case 11: case 12: case 17: return 4;
    case 15: case 16: return n < 7 ? 0 : 9 + b[6];
    case 22: return 10;
    case 23: return n < 11 ? 0 : 13 + b[10];
    default: return -1;
    }
}

static void rtu_frame(modbus_t *ctx, const uint8_t *frame, int len, int fd)
{
    if (len < 4) {
        stats.dropped_bytes += (unsigned long)len;
        return;
    }
    uint16_t crc = crc16(frame, (size_t)len - 2);
    if (frame[len - 2] != (crc & 0xFF) || frame[len - 1] != (crc >> 8)) {
        stats.bad_crc_requests++;
        if (verbose)
            fprintf(stderr, "modbus_server: request with bad CRC dropped (%d bytes)\n", len);
        return;
    }
    handle_request(ctx, frame, len, fd);
}

/* Sleeps up to ms, returning early on SIGTERM/SIGINT. */
static void pause_ms(unsigned ms, const sigset_t *unblocked)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    pselect(0, NULL, NULL, NULL, &ts, unblocked);
}

static int serve_rtu(const char *device, int baud, char parity, int data_bits, int stop_bits)
{
    modbus_t *ctx = modbus_new_rtu(device, baud, parity, data_bits, stop_bits);
    if (ctx == NULL) {
        fprintf(stderr, "modbus_server: modbus_new_rtu: %s\n", modbus_strerror(errno));
        return 1;
    }
    quick_flush(ctx);
    if (modbus_connect(ctx) != 0) {
        fprintf(stderr, "modbus_server: cannot open %s: %s\n", device, modbus_strerror(errno));
        modbus_free(ctx);
        return 1;
    }
    sigset_t empty;
    sigemptyset(&empty);
    /* A frame ends at 3.5 character times of silence; ptys deliver in bursts, so allow at least 50 ms. */
    int bits = 1 + data_bits + (parity == 'N' ? 0 : 1) + stop_bits;
    int64_t gap_us = 3500000LL * bits / baud;
    if (gap_us < 50000)
        gap_us = 50000;
    ready();
    uint8_t buf[1024];
    size_t have = 0;
    int64_t last_byte_ms = 0;
    while (!stop_requested) {
        int fd = modbus_get_socket(ctx);
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fd, &rd);
        struct timespec ts, *tsp = NULL;
        if (have > 0) {
            int64_t left_us = gap_us - (now_ms() - last_byte_ms) * 1000;
            if (left_us < 0)
                left_us = 0;
            ts.tv_sec = (time_t)(left_us / 1000000);
            ts.tv_nsec = (long)(left_us % 1000000) * 1000;
            tsp = &ts;
        }
        int rc = pselect(fd + 1, &rd, NULL, NULL, tsp, &empty);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "modbus_server: select: %s\n", strerror(errno));
            break;
        }
        if (rc == 0) { /* silence: whatever is buffered is one (unknown or broken) frame */
            rtu_frame(ctx, buf, (int)have, fd);
            have = 0;
            continue;
        }
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) { /* device gone: re-open it when it is back */
            fprintf(stderr, "modbus_server: %s: %s; re-opening\n", device, n < 0 ? strerror(errno) : "end of file");
            modbus_close(ctx);
            have = 0;
            while (!stop_requested) {
                pause_ms(100, &empty);
                if (stop_requested)
                    break;
                if (modbus_connect(ctx) == 0) {
                    stats.reopens++;
                    ready();
                    break;
                }
            }
            continue;
        }
        have += (size_t)n;
        last_byte_ms = now_ms();
        for (;;) {
            int need = rtu_request_length(buf, have);
            if (need <= 0 || (size_t)need > have)
                break;
            rtu_frame(ctx, buf, need, fd);
            memmove(buf, buf + need, have - (size_t)need);
            have -= (size_t)need;
        }
        if (have == sizeof buf) { /* garbage */
            stats.dropped_bytes += have;
            have = 0;
        }
    }
    modbus_close(ctx);
    modbus_free(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    const char *tcp_port = NULL, *device = NULL, *map = NULL;
    unsigned long baud = 9600, data_bits = 8, stop_bits = 1, v;
    char parity = 'N';
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = strcmp(a, "--verbose") != 0 && strcmp(a, "--help") != 0 && strcmp(a, "-h") != 0;
        if (takes_value && next == NULL) {
            usage();
            die_usage("%s needs a value", a);
        }
        if (strcmp(a, "--tcp") == 0) {
            tcp_port = next;
        } else if (strcmp(a, "--rtu") == 0) {
            device = next;
        } else if (strcmp(a, "--map") == 0) {
            map = next;
        } else if (strcmp(a, "--baud") == 0) {
            if (!parse_uint(next, 4000000, &baud) || baud == 0)
                die_usage("--baud '%s': not a baud rate", next);
        } else if (strcmp(a, "--parity") == 0) {
            if (strlen(next) != 1 || strchr("NEO", next[0]) == NULL)
                die_usage("--parity must be N, E or O");
            parity = next[0];
        } else if (strcmp(a, "--data-bits") == 0) {
            if (!parse_uint(next, 8, &data_bits) || data_bits < 7)
                die_usage("--data-bits must be 7 or 8");
        } else if (strcmp(a, "--stop-bits") == 0) {
            if (!parse_uint(next, 2, &stop_bits) || stop_bits < 1)
                die_usage("--stop-bits must be 1 or 2");
        } else if (strcmp(a, "--silent-unit") == 0) {
            if (!parse_uint(next, 255, &v))
                die_usage("--silent-unit '%s': not a unit id 0..255", next);
            units[v].silent = true;
        } else if (strcmp(a, "--exception") == 0) {
            parse_exception(next);
        } else if (strcmp(a, "--bad-crc-every") == 0) {
            if (!parse_uint(next, 1000000, &v) || v == 0)
                die_usage("--bad-crc-every '%s': must be 1..1000000", next);
            bad_crc_every = (unsigned)v;
        } else if (strcmp(a, "--delay-ms") == 0) {
            if (!parse_uint(next, 600000, &v))
                die_usage("--delay-ms '%s': must be 0..600000", next);
            delay_ms = (unsigned)v;
        } else if (strcmp(a, "--verbose") == 0) {
            verbose = true;
            continue;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else {
            usage();
            die_usage("unknown option '%s'", a);
        }
        i++;
    }
    if ((tcp_port == NULL) == (device == NULL)) {
        usage();
        die_usage("give exactly one of --tcp and --rtu");
    }
    if (map == NULL) {
        usage();
        die_usage("--map is required");
    }
    unsigned long port = 0;
    if (tcp_port != NULL && (!parse_uint(tcp_port, 65535, &port) || port == 0))
        die_usage("--tcp '%s': not a port 1..65535", tcp_port);
    if (bad_crc_every != 0 && device == NULL)
        die_usage("--bad-crc-every needs --rtu (Modbus TCP has no CRC)");
    rtu_mode = device != NULL;
    load_map(map);

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, capture) != 0) {
        perror("modbus_server: socketpair");
        return 1;
    }
    fcntl(capture[1], F_SETFL, fcntl(capture[1], F_GETFL) | O_NONBLOCK);

    /* SIGTERM/SIGINT are blocked except inside pselect, so a stop request never slips between the check
     * of the flag and the wait. */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, NULL);

    int rc = rtu_mode ? serve_rtu(device, (int)baud, parity, (int)data_bits, (int)stop_bits) : serve_tcp((int)port);

    fprintf(stderr,
            "modbus_server: requests=%lu replies=%lu ignored=%lu injected_exceptions=%lu corrupted_crcs=%lu "
            "bad_crc_requests=%lu dropped_bytes=%lu clients=%lu reopens=%lu\n",
            stats.requests, stats.replies, stats.ignored, stats.injected_exceptions, stats.corrupted_crcs,
            stats.bad_crc_requests, stats.dropped_bytes, stats.clients, stats.reopens);
    for (int u = 0; u < 256; u++)
        if (units[u].mapping != NULL)
            modbus_mapping_free(units[u].mapping);
    close(capture[0]);
    close(capture[1]);
    return rc;
}
