/* What the gateway benchmark's MQTT clients (gateway_subscriber.c, gateway_refpub.c) share. */
#ifndef GATEWAY_COMMON_H
#define GATEWAY_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Milliseconds of CLOCK_REALTIME (the readings' "ts") or of CLOCK_MONOTONIC. */
static inline int64_t clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first line of a password file (without its line end), or NULL. Static storage. */
static inline char *read_password(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    static char line[256];
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    if (ok == NULL)
        return NULL;
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

#endif
