/*
 * wire_timed_slave - a Modbus RTU slave that makes a pty behave like a real serial line in time.
 *
 * ptys ignore the baud rate: a request written by the master arrives at once, and an answer written at once
 * arrives at once. A real RS-485 line at 9600 baud takes about 1 ms per character. This slave serves one
 * end of a socat pty pair and answers each request at the moment its answer's last character would
 * arrive on a real line:
 *
 *     request start   = max(arrival of the request's first byte, end of the previous answer + t3.5)
 *     answer complete = request start + request characters * tc + t3.5 + turnaround
 *                       + answer characters * tc
 *     line free again = answer complete + t3.5
 *
 * tc is the character time, (1 start + data bits + parity bit + stop bits) / baud: 10 bits at 8N1, 11 with
 * parity. t3.5 is 3.5 * tc, fixed at 1750 us above 19200 baud (Modbus over serial line, 2.5.1.1). The
 * silence after the answer is the master's duty; a request that arrives before it has passed is counted as
 * "early" and served as if the master had waited (its start moved to the end of the silence). So a master
 * that keeps the line busy polls at most 1 / (request + answer + 2 * t3.5) times per second: the wire
 * limit.
 *
 *   wire_timed_slave --device PATH --baud N [--parity N|E|O] [--data-bits 7|8] [--stop-bits 1|2]
 *                    [--units 1,2,3] [--turnaround-us US]
 *
 *   --device PATH      one end of a pty pair (socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B)
 *   --units LIST       unit ids answered (default 1); requests to others are timed on the line but not answered
 *   --turnaround-us    the slave's own processing time before it answers (default 0: the ideal slave)
 *
 * Serves FC 1, 2 (all bits 0), 3, 4 (register a holds a & 0xffff, or what was written), 5, 6, 15, 16;
 * other function codes get exception 1. Any address is valid. Prints "READY" on stdout (flushed) once the
 * device is open. SIGTERM or SIGINT: prints one "STATS ..." line on stdout and exits with status 0:
 *   requests replies ignored bad_crc early   counts
 *   busy_ms elapsed_ms                       line time used by transactions / since the first request
 *   late_avg_us late_max_us                  how much later than its wire time each answer was written
 *   turnaround_avg_us turnaround_max_us      the master's turnaround: from an answer (as written) to the
 *                                            first byte of the next request, for requests sent back to back
 * Exit status 1: cannot open the device; 2: bad usage.
 *
 * Build: gcc -std=c11 -O2 wire_timed_slave.c -o wire_timed_slave   (no libmodbus needed)
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

static uint16_t holding[65536], input_regs[65536];
static uint8_t coils[65536];
static bool served_unit[256];

static struct {
    unsigned long requests, replies, ignored, bad_crc, early, turnarounds;
    int64_t busy_ns, first_ns, last_free_ns, late_total_ns, late_max_ns, turnaround_total_ns, turnaround_max_ns;
} stats;

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

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Length of the request frame starting at buf (n bytes so far), CRC included; 0 if more bytes are needed
 * to know; -1 for a function code this slave does not know (the frame is then whatever has arrived). */
static int request_length(const uint8_t *buf, size_t n)
{
    if (n < 2)
        return 0;
    switch (buf[1]) {
    case 1: case 2: case 3: case 4: case 5: case 6:
        return 8;
    case 15: case 16:
        return n < 7 ? 0 : 9 + buf[6];
    default:
        return -1;
    }
}

/* Builds the answer to a complete request (CRC checked) into rsp; returns its length with CRC. */
static size_t build_answer(const uint8_t *req, uint8_t *rsp)
{
    uint8_t fc = req[1];
    uint16_t addr = get16(req + 2), qty = get16(req + 4);
    size_t n = 0;
    rsp[n++] = req[0];
    rsp[n++] = fc;
    bool bad_qty = false;
    switch (fc) {
    case 1: case 2:
        bad_qty = qty < 1 || qty > 2000;
        if (bad_qty)
            break;
        rsp[n++] = (uint8_t)((qty + 7) / 8);
        memset(rsp + n, 0, (qty + 7) / 8);
        if (fc == 1)
            for (unsigned i = 0; i < qty; i++)
                if (coils[(uint16_t)(addr + i)])
                    rsp[n + i / 8] |= (uint8_t)(1u << (i % 8));
        n += (qty + 7) / 8;
        break;
    case 3: case 4:
        bad_qty = qty < 1 || qty > 125;
        if (bad_qty)
            break;
        rsp[n++] = (uint8_t)(2 * qty);
        for (unsigned i = 0; i < qty; i++, n += 2)
            put16(rsp + n, fc == 3 ? holding[(uint16_t)(addr + i)] : input_regs[(uint16_t)(addr + i)]);
        break;
    case 5: case 6:
        if (fc == 5)
            coils[addr] = qty == 0xFF00;
        else
            holding[addr] = qty;
        memcpy(rsp + n, req + 2, 4);
        n += 4;
        break;
    case 15: case 16:
        if (fc == 16)
            for (unsigned i = 0; i < qty && i < 123; i++)
                holding[(uint16_t)(addr + i)] = get16(req + 7 + 2 * i);
        else
            for (unsigned i = 0; i < qty && i < 1968; i++)
                coils[(uint16_t)(addr + i)] = (req[7 + i / 8] >> (i % 8)) & 1;
        memcpy(rsp + n, req + 2, 4);
        n += 4;
        break;
    default:
        rsp[1] = (uint8_t)(fc | 0x80);
        rsp[n++] = 1; /* illegal function */
        break;
    }
    if (bad_qty) {
        n = 2;
        rsp[1] = (uint8_t)(fc | 0x80);
        rsp[n++] = 3; /* illegal data value */
    }
    uint16_t crc = crc16(rsp, n);
    rsp[n++] = (uint8_t)crc; /* CRC: low byte first */
    rsp[n++] = (uint8_t)(crc >> 8);
    return n;
}

static void usage(void)
{
    fputs("usage: wire_timed_slave --device PATH --baud N [--parity N|E|O] [--data-bits 7|8] [--stop-bits 1|2]\n"
          "                        [--units 1,2,...] [--turnaround-us US]\n",
          stderr);
    exit(2);
}

static long number(const char *s, long lo, long hi) { return wire_number(s, lo, hi, usage); }

int main(int argc, char **argv)
{
    const char *device = NULL;
    long baud = 9600, data_bits = 8, stop_bits = 1, turnaround_us = 0;
    char parity = 'N';
    bool units_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--device") == 0 && v) device = v;
        else if (strcmp(a, "--baud") == 0) baud = number(v, 50, 4000000);
        else if (strcmp(a, "--parity") == 0 && v && strlen(v) == 1 && strchr("NEO", v[0])) parity = v[0];
        else if (strcmp(a, "--data-bits") == 0) data_bits = number(v, 7, 8);
        else if (strcmp(a, "--stop-bits") == 0) stop_bits = number(v, 1, 2);
        else if (strcmp(a, "--turnaround-us") == 0) turnaround_us = number(v, 0, 10000000);
        else if (strcmp(a, "--units") == 0 && v) {
            char copy[1024];
            snprintf(copy, sizeof copy, "%s", v);
            char *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                served_unit[number(t, 1, 247)] = true;
            units_given = true;
        } else
            usage();
        i++;
    }
    if (device == NULL)
        usage();
    if (!units_given)
        served_unit[1] = true;
    for (unsigned a = 0; a < 65536; a++)
        holding[a] = input_regs[a] = (uint16_t)a;

    const long bits = 1 + data_bits + (parity == 'N' ? 0 : 1) + stop_bits;
    const int64_t char_ns = bits * 1000000000LL / baud;
    const int64_t t35_ns = baud > 19200 ? 1750000 : 7 * char_ns / 2;
    const int64_t turnaround_ns = turnaround_us * 1000;

    int fd = wire_open("wire_timed_slave", device);
    if (fd < 0)
        return 1;

    uint8_t buf[512], rsp[300];
    size_t have = 0;
    int64_t first_byte_ns = 0, line_free_ns = 0, answered_ns = 0;
    while (!stop_requested) {
        /* A partial frame followed by silence is noise (the master gave up on it): drop it. */
        struct pollfd p = {fd, POLLIN, 0};
        int rc = poll(&p, 1, have > 0 ? 100 : 200);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc == 0 && have > 0) {
            have = 0;
            stats.ignored++;
        }
        if (rc <= 0)
            continue;
        ssize_t got = read(fd, buf + have, sizeof buf - have);
        if (got <= 0) {
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            break; /* the other end of the pair is gone */
        }
        if (have == 0)
            first_byte_ns = now_ns();
        have += (size_t)got;
        while (have > 0) {
            int len = request_length(buf, have);
            if (len == 0 || (size_t)len > have)
                break; /* wait for the rest */
            if (len < 0)
                len = (int)have;
            stats.requests++;
            /* The master's turnaround: from our answer (as written) to its next request, when back to back. */
            if (answered_ns != 0 && first_byte_ns - answered_ns < 50000000) {
                int64_t gap = first_byte_ns - answered_ns;
                stats.turnarounds++;
                stats.turnaround_total_ns += gap;
                if (gap > stats.turnaround_max_ns)
                    stats.turnaround_max_ns = gap;
            }
            answered_ns = 0;
            int64_t start = first_byte_ns;
            if (start < line_free_ns) {
                stats.early++;
                start = line_free_ns;
            }
            if (stats.first_ns == 0)
                stats.first_ns = start;
            int64_t request_end = start + len * char_ns;
            bool crc_ok = len >= 4 && crc16(buf, (size_t)len - 2) == (uint16_t)(buf[len - 2] | buf[len - 1] << 8);
            if (!crc_ok)
                stats.bad_crc++;
            if (!crc_ok || !served_unit[buf[0]]) {
                if (crc_ok)
                    stats.ignored++;
                line_free_ns = request_end + t35_ns;
            } else {
                size_t n = build_answer(buf, rsp);
                int64_t complete = request_end + t35_ns + turnaround_ns + (int64_t)n * char_ns;
                sleep_until(complete);
                ssize_t w = write(fd, rsp, n);
                answered_ns = now_ns();
                int64_t late = answered_ns - complete;
                stats.late_total_ns += late;
                if (late > stats.late_max_ns)
                    stats.late_max_ns = late;
                if (w == (ssize_t)n)
                    stats.replies++;
                line_free_ns = complete + t35_ns;
            }
            stats.busy_ns += line_free_ns - start;
            stats.last_free_ns = line_free_ns;
            memmove(buf, buf + len, have - (size_t)len);
            have -= (size_t)len;
            first_byte_ns = now_ns(); /* bytes already queued behind this frame arrived by now */
            if (have > 0)
                answered_ns = 0; /* the next request came before the answer: no turnaround to measure */
        }
        if (have == sizeof buf)
            have = 0; /* garbage that never formed a frame */
    }
    close(fd);
    printf("STATS requests %lu replies %lu ignored %lu bad_crc %lu early %lu busy_ms %.3f elapsed_ms %.3f "
           "late_avg_us %.1f late_max_us %.1f turnaround_avg_us %.1f turnaround_max_us %.1f\n",
           stats.requests, stats.replies, stats.ignored, stats.bad_crc, stats.early, stats.busy_ns / 1e6,
           (stats.last_free_ns - stats.first_ns) / 1e6,
           stats.replies ? stats.late_total_ns / 1e3 / (double)stats.replies : 0.0, stats.late_max_ns / 1e3,
           stats.turnarounds ? stats.turnaround_total_ns / 1e3 / (double)stats.turnarounds : 0.0,
           stats.turnaround_max_ns / 1e3);
    fflush(stdout);
    return 0;
}
