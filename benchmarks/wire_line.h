/* What the wire-timed slaves (wire_timed_slave.c: Modbus RTU, dlt645_wire_slave.c: DL/T 645) share: the
 * monotonic clock, sleeping to an absolute time, the stop flag, number options, and opening one end of a pty
 * pair raw with the timer slack at 1 ns and SIGTERM/SIGINT caught, then printing READY. */
#ifndef WIRE_LINE_H
#define WIRE_LINE_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <termios.h>
#include <time.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps until the absolute CLOCK_MONOTONIC time t (timer slack is set to 1 ns by wire_open). */
static void sleep_until(int64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop_requested) {
    }
}

/* A decimal option value in lo..hi, else usage() (which exits). */
static long wire_number(const char *s, long lo, long hi, void (*usage)(void))
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
        usage();
    return v;
}

/* Opens the device raw and non-blocking, sets the timer slack to 1 ns (wake at the wire time, not up to 50 us
 * later), catches SIGTERM and SIGINT, prints READY. Returns the fd, or -1 after a message naming `program`. */
static int wire_open(const char *program, const char *device)
{
    int fd = open(device, O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        fprintf(stderr, "%s: %s: %s\n", program, device, strerror(errno));
        return -1;
    }
    struct termios tio;
    if (tcgetattr(fd, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(fd, TCSANOW, &tio);
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    fputs("READY\n", stdout);
    fflush(stdout);
    return fd;
}

#endif
