/*
 * dlt645_wire_slave - DL/T 645-2007 meters on a pty that behaves like a real serial line in time.
 *
 * The DL/T 645 counterpart of wire_timed_slave.c (Modbus RTU). ptys ignore the baud rate; at 2400 baud 8E1
 * a character takes 11 / 2400 s = 4.58 ms on a real RS-485 line, and a meter needs its own time before it
 * answers. This slave serves one end of a socat pty pair for one or more meters and writes each reply at
 * the moment its last character would arrive on a real line:
 *
 *     request start  = max(arrival of the request's first byte, end of the previous reply + gap)
 *     reply complete = request start + request characters * tc + turnaround + reply characters * tc
 *
 * tc is the character time, (1 start + data bits + parity bit + stop bits) / baud. Request characters are
 * every byte the frame took on the line since the previous frame (the master's FE preamble and any noise
 * included); reply characters include the FE preamble the reply carries (--preamble, default 4). The gap
 * is the silence the master keeps after a reply (DL/T 645 names none; default 3.5 tc as for Modbus RTU,
 * 16 ms at 2400 8E1); a request whose first byte arrives within it is counted as "early" and served as if
 * the master had waited. A request to an address not served, or one that is not answered (other control
 * codes, broadcast), takes its line time and keeps the line until request end + gap. So a master that
 * keeps the line busy reads one identifier at most every
 *     (request + reply characters) * tc + turnaround + gap     : the wire limit.
 *
 *   dlt645_wire_slave --device PATH [--baud N] [--parity N|E|O] [--data-bits 7|8] [--stop-bits 1|2]
 *                     [--meters ADDR,ADDR,...] [--turnaround-us US] [--gap-us US] [--preamble N]
 *
 *   --device PATH      one end of a pty pair (socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B)
 *   --baud, ...        the line (default 2400 8E1)
 *   --meters LIST      12-digit meter addresses as printed on the meter (default 123456789012; on the wire
 *                      LSB first: 12 90 78 56 34 12); a request byte AA matches any digit pair (wildcard,
 *                      shortened addresses); the first meter of the list that matches answers
 *   --turnaround-us    the meter's time from the end of a request to the first byte of its reply (default
 *                      20000; real meters take up to ~500 ms)
 *   --gap-us           the silence the master keeps after a reply (default 3.5 tc)
 *   --preamble N       FE bytes before each reply (0-8, default 4)
 *
 * Serves read data (C 0x11, DATA = DI 4 bytes LSB first, more DATA bytes ignored) with a normal reply (C
 * 0x91, DATA = DI + value, every DATA byte +0x33) for the identifiers of the table below, the same value
 * for every meter; other identifiers get the abnormal reply 0xD1 with error byte 0x02 ("no requested
 * data"), a read without a whole DI 0xD1 with 0x01 ("other error"). Other control codes and the broadcast
 * address 999999999999 are timed on the line and not answered. Decoding: FE bytes and noise before a frame
 * are skipped; a frame is 68 A0..A5 68 C L DATA CS 16 with CS the sum mod 256 of the bytes from the first
 * 68 to the end of DATA; a bad checksum or end byte is a bad frame and decoding resumes after that frame's
 * first 68. An incomplete frame followed by 500 ms of silence is dropped.
 *
 * Prints "READY" on stdout (flushed) once the device is open. SIGTERM or SIGINT: prints one "STATS ..."
 * line on stdout and exits with status 0:
 *   requests replies abnormal ignored bad_frames noise_bytes early   counts (requests: frames decoded;
 *                                            replies: written, abnormal ones included; ignored: frames
 *                                            not answered; noise_bytes: skipped bytes other than FE)
 *   busy_ms elapsed_ms                       line time used by transactions / since the first request
 *   late_avg_us late_max_us                  how much later than its wire time each reply was written
 *   turnaround_avg_us turnaround_max_us      the master's turnaround: from a reply (as written) to the
 *                                            first byte of the next request, for requests sent back to back
 * Exit status 1: cannot open the device; 2: bad usage.
 *
 * Build: gcc -std=c11 -O2 dlt645_wire_slave.c -o dlt645_wire_slave
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "wire_line.h"

#define MAX_METERS 32
#define DROP_PARTIAL_MS 500

/* The values every meter serves: DI, value x 10^decimals, BCD bytes, signed (top bit of the most
 * significant byte). The same values as Tests/Integration/test_meter_peers.py's CATALOGUE. */
static const struct item {
    uint32_t di;
    int32_t scaled;
    uint8_t bytes;
    bool is_signed;
} table[] = {
    {0x00000000, 12345678, 4, false}, /* combined active energy total, XXXXXX.XX kWh */
    {0x00010000, 234567, 4, false},   /* forward active energy total */
    {0x00020000, 1234, 4, false},     /* reverse active energy total */
    {0x00010100, 100001, 4, false},   /* forward active energy, tariffs 1..4 */
    {0x00010200, 80002, 4, false},
    {0x00010300, 40003, 4, false},
    {0x00010400, 14561, 4, false},
    {0x00010001, 230050, 4, false},   /* forward active total, previous settlement periods 1 and 12 */
    {0x0001000C, 120000, 4, false},
    {0x00030000, 32109, 4, false},    /* combined reactive 1 / 2, XXXXXX.XX kvarh */
    {0x00040000, -4560, 4, true},
    {0x02010100, 2201, 2, false},     /* phase A/B/C voltage, XXX.X V */
    {0x02010200, 2212, 2, false},
    {0x02010300, 2193, 2, false},
    {0x02020100, 5123, 3, true},      /* phase A/B/C current, signed XXX.XXX A */
    {0x02020200, -1234, 3, true},
    {0x02020300, 500, 3, true},
    {0x02030000, 34567, 3, true},     /* active power total, A, B, C, signed XX.XXXX kW */
    {0x02030100, 12345, 3, true},
    {0x02030200, -2345, 3, true},
    {0x02030300, 24567, 3, true},
    {0x02040000, -11111, 3, true},    /* reactive power total, signed XX.XXXX kvar */
    {0x02050000, 36789, 3, true},     /* apparent power total, signed XX.XXXX kVA */
    {0x02060000, 950, 2, true},       /* power factor total, A, signed X.XXX */
    {0x02060100, -875, 2, true},
    {0x02800002, 4998, 2, false},     /* grid frequency, XX.XX Hz */
};

static uint8_t meters[MAX_METERS][6]; /* as on the wire: LSB first */
static size_t meter_count;

static struct {
    unsigned long requests, replies, abnormal, ignored, bad_frames, noise_bytes, early, turnarounds;
    int64_t busy_ns, first_ns, last_free_ns, late_total_ns, late_max_ns, turnaround_total_ns, turnaround_max_ns;
} stats;

static uint8_t checksum(const uint8_t *p, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += p[i];
    return (uint8_t)sum;
}

/* The meter a request address selects (each byte equal or the wildcard AA), or -1. */
static int meter_for(const uint8_t *address)
{
    for (size_t m = 0; m < meter_count; m++) {
        size_t i = 0;
        while (i < 6 && (address[i] == meters[m][i] || address[i] == 0xAA))
            i++;
        if (i == 6)
            return (int)m;
    }
    return -1;
}

/* The reply of meter m to a read (C 0x11) with `len` DATA bytes (offset removed) into rsp, FE preamble
 * included; returns its length. */
static size_t build_reply(int m, const uint8_t *data, size_t len, unsigned preamble, uint8_t *rsp, bool *abnormal)
{
    size_t n = 0;
    while (n < preamble)
        rsp[n++] = 0xFE;
    size_t frame = n;
    rsp[n++] = 0x68;
    memcpy(rsp + n, meters[m], 6);
    n += 6;
    rsp[n++] = 0x68;
    uint8_t *control = rsp + n++, *length = rsp + n++;
    uint8_t *payload = rsp + n;
    const struct item *item = NULL;
    uint32_t di = len >= 4 ? (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24 : 0;
    for (size_t i = 0; len >= 4 && i < sizeof table / sizeof table[0]; i++)
        if (table[i].di == di)
            item = &table[i];
    *abnormal = item == NULL;
    if (item == NULL) {
        *control = 0xD1;
        *length = 1;
        payload[0] = len >= 4 ? 0x02 : 0x01; /* no requested data / other error */
    } else {
        *control = 0x91;
        *length = (uint8_t)(4 + item->bytes);
        memcpy(payload, data, 4);
        uint32_t v = (uint32_t)(item->scaled < 0 ? -item->scaled : item->scaled);
        for (unsigned b = 0; b < item->bytes; b++, v /= 100)
            payload[4 + b] = (uint8_t)((v % 100 / 10) << 4 | v % 10);
        if (item->is_signed && item->scaled < 0)
            payload[3 + item->bytes] |= 0x80;
    }
    for (unsigned i = 0; i < *length; i++)
        payload[i] = (uint8_t)(payload[i] + 0x33);
    n += *length;
    rsp[n] = checksum(rsp + frame, n - frame);
    n++;
    rsp[n++] = 0x16;
    return n;
}

/* Looks for a frame in buf[0..have). Returns 1 and sets *start, *end (one past the 16) for the first valid
 * frame; a 68 whose frame is still incomplete does not hide a complete valid frame behind it (noise with a
 * 68 in front of a request). Returns 0 when more bytes may complete a frame (*keep: the bytes before it
 * can be dropped), -1 when no 68 can start a frame (everything is noise). Counts bad frames once each:
 * *bad_until marks how far they were counted. */
static int find_frame(const uint8_t *buf, size_t have, size_t *start, size_t *end, size_t *keep, size_t *bad_until)
{
    bool pending = false;
    for (size_t s = 0; s < have; s++) {
        if (buf[s] != 0x68)
            continue;
        if (have < s + 10) { /* L not there yet */
            if (!pending)
                *keep = s;
            pending = true;
            continue;
        }
        if (buf[s + 7] != 0x68)
            continue;
        size_t e = s + 12 + buf[s + 9];
        if (have < e) {
            if (!pending)
                *keep = s;
            pending = true;
            continue;
        }
        if (buf[e - 2] == checksum(buf + s, e - 2 - s) && buf[e - 1] == 0x16) {
            *start = s;
            *end = e;
            return 1;
        }
        if (s >= *bad_until) {
            stats.bad_frames++;
            *bad_until = e;
        }
    }
    return pending ? 0 : -1;
}

static void usage(void)
{
    fputs("usage: dlt645_wire_slave --device PATH [--baud N] [--parity N|E|O] [--data-bits 7|8] [--stop-bits 1|2]\n"
          "                         [--meters ADDR,...] [--turnaround-us US] [--gap-us US] [--preamble N]\n",
          stderr);
    exit(2);
}

static long number(const char *s, long lo, long hi) { return wire_number(s, lo, hi, usage); }

/* "123456789012" -> 12 90 78 56 34 12 */
static void add_meter(const char *digits)
{
    if (meter_count == MAX_METERS || strlen(digits) != 12 || strspn(digits, "0123456789") != 12)
        usage();
    for (int i = 0; i < 6; i++)
        meters[meter_count][5 - i] = (uint8_t)((digits[2 * i] - '0') << 4 | (digits[2 * i + 1] - '0'));
    meter_count++;
}

/* The receive buffer: bytes not consumed yet, each with the time its read() returned. */
static uint8_t buf[1024];
static int64_t arrived_ns[sizeof buf];
static size_t have, bad_until;
static int64_t char_ns, wire_end_ns; /* wire_end_ns: when the last consumed byte ended on the modelled line */

/* Consumes the first n bytes of buf. Noise (frames are consumed by the caller) still took line time:
 * wire_end_ns moves past it. Bytes other than FE are counted as noise. */
static void consume(size_t n, bool noise)
{
    if (n == 0)
        return;
    if (noise) {
        int64_t start = arrived_ns[0] > wire_end_ns ? arrived_ns[0] : wire_end_ns;
        wire_end_ns = start + (int64_t)n * char_ns;
        for (size_t i = 0; i < n; i++)
            stats.noise_bytes += buf[i] != 0xFE;
    }
    memmove(buf, buf + n, have - n);
    memmove(arrived_ns, arrived_ns + n, (have - n) * sizeof arrived_ns[0]);
    have -= n;
    bad_until = bad_until > n ? bad_until - n : 0;
}

/* Index where the run of FE bytes that ends at buf[i] begins (a frame's preamble belongs to its frame). */
static size_t preamble_start(size_t i)
{
    while (i > 0 && buf[i - 1] == 0xFE)
        i--;
    return i;
}

int main(int argc, char **argv)
{
    const char *device = NULL;
    long baud = 2400, data_bits = 8, stop_bits = 1, turnaround_us = 20000, gap_us = -1, preamble = 4;
    char parity = 'E';
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--device") == 0 && v) device = v;
        else if (strcmp(a, "--baud") == 0) baud = number(v, 50, 4000000);
        else if (strcmp(a, "--parity") == 0 && v && strlen(v) == 1 && strchr("NEO", v[0])) parity = v[0];
        else if (strcmp(a, "--data-bits") == 0) data_bits = number(v, 7, 8);
        else if (strcmp(a, "--stop-bits") == 0) stop_bits = number(v, 1, 2);
        else if (strcmp(a, "--turnaround-us") == 0) turnaround_us = number(v, 0, 10000000);
        else if (strcmp(a, "--gap-us") == 0) gap_us = number(v, 0, 10000000);
        else if (strcmp(a, "--preamble") == 0) preamble = number(v, 0, 8);
        else if (strcmp(a, "--meters") == 0 && v) {
            char copy[1024];
            snprintf(copy, sizeof copy, "%s", v);
            char *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                add_meter(t);
        } else
            usage();
        i++;
    }
    if (device == NULL)
        usage();
    if (meter_count == 0)
        add_meter("123456789012");

    const long bits = 1 + data_bits + (parity == 'N' ? 0 : 1) + stop_bits;
    char_ns = bits * 1000000000LL / baud;
    const int64_t gap_ns = gap_us < 0 ? 7 * char_ns / 2 : gap_us * 1000;
    const int64_t turnaround_ns = turnaround_us * 1000;

    int fd = wire_open("dlt645_wire_slave", device);
    if (fd < 0)
        return 1;

    uint8_t rsp[8 + 12 + 255 + 2];
    int64_t line_free_ns = 0, answered_ns = 0;
    while (!stop_requested) {
        struct pollfd p = {fd, POLLIN, 0};
        int rc = poll(&p, 1, have > 0 ? DROP_PARTIAL_MS : 200);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc == 0 && have > 0) /* an incomplete frame followed by silence: noise */
            consume(have, true);
        if (rc <= 0)
            continue;
        ssize_t got = read(fd, buf + have, sizeof buf - have);
        if (got <= 0) {
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            break; /* the other end of the pair is gone */
        }
        int64_t t = now_ns();
        for (ssize_t i = 0; i < got; i++)
            arrived_ns[have + (size_t)i] = t;
        have += (size_t)got;
        for (;;) {
            size_t start = 0, end = 0, keep = have;
            int found = find_frame(buf, have, &start, &end, &keep, &bad_until);
            if (found <= 0) {
                /* Drop what cannot begin a frame; keep a possible frame with its FE preamble (and a trailing
                 * run of FE, whose 68 is still to come). A full buffer that never formed a frame goes. */
                size_t drop = preamble_start(found < 0 ? have : keep);
                consume(drop == 0 && have == sizeof buf ? have : drop, true);
                break;
            }
            size_t first = preamble_start(start);
            consume(first, true); /* noise before the frame's preamble */
            end -= first;
            stats.requests++;
            if (answered_ns != 0 && arrived_ns[0] - answered_ns < 200000000) {
                int64_t gap = arrived_ns[0] - answered_ns;
                stats.turnarounds++;
                stats.turnaround_total_ns += gap;
                if (gap > stats.turnaround_max_ns)
                    stats.turnaround_max_ns = gap;
            }
            answered_ns = 0;
            int64_t line_start = arrived_ns[0] > wire_end_ns ? arrived_ns[0] : wire_end_ns;
            if (line_start < line_free_ns) {
                stats.early++;
                line_start = line_free_ns;
            }
            if (stats.first_ns == 0)
                stats.first_ns = line_start;
            int64_t request_end = line_start + (int64_t)end * char_ns;
            const uint8_t *frame = buf + (start - first);
            uint8_t control = frame[8], length = frame[9], data[255];
            for (unsigned i = 0; i < length; i++)
                data[i] = (uint8_t)(frame[10 + i] - 0x33);
            static const uint8_t broadcast[6] = {0x99, 0x99, 0x99, 0x99, 0x99, 0x99};
            int m = memcmp(frame + 1, broadcast, 6) == 0 ? -1 : meter_for(frame + 1);
            if (control != 0x11 || m < 0) {
                stats.ignored++;
                wire_end_ns = request_end;
            } else {
                bool abnormal = false;
                size_t n = build_reply(m, data, length, (unsigned)preamble, rsp, &abnormal);
                int64_t complete = request_end + turnaround_ns + (int64_t)n * char_ns;
                sleep_until(complete);
                ssize_t w = write(fd, rsp, n);
                answered_ns = now_ns();
                int64_t late = answered_ns - complete;
                stats.late_total_ns += late;
                if (late > stats.late_max_ns)
                    stats.late_max_ns = late;
                if (w == (ssize_t)n) {
                    stats.replies++;
                    stats.abnormal += abnormal;
                }
                wire_end_ns = complete;
            }
            line_free_ns = wire_end_ns + gap_ns;
            stats.busy_ns += line_free_ns - line_start;
            stats.last_free_ns = line_free_ns;
            consume(end, false);
            if (have > 0)
                answered_ns = 0; /* the next request came before the reply: no turnaround to measure */
        }
    }
    close(fd);
    printf("STATS requests %lu replies %lu abnormal %lu ignored %lu bad_frames %lu noise_bytes %lu early %lu "
           "busy_ms %.3f elapsed_ms %.3f late_avg_us %.1f late_max_us %.1f turnaround_avg_us %.1f "
           "turnaround_max_us %.1f\n",
           stats.requests, stats.replies, stats.abnormal, stats.ignored, stats.bad_frames, stats.noise_bytes,
           stats.early, stats.busy_ns / 1e6, (stats.last_free_ns - stats.first_ns) / 1e6,
           stats.replies ? stats.late_total_ns / 1e3 / (double)stats.replies : 0.0, stats.late_max_ns / 1e3,
           stats.turnarounds ? stats.turnaround_total_ns / 1e3 / (double)stats.turnarounds : 0.0,
           stats.turnaround_max_ns / 1e3);
    fflush(stdout);
    return 0;
}
