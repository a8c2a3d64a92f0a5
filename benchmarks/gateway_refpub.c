/*
 * gateway_refpub - the reference of the gateway benchmark (benchmarks/README.md, "Gateway"): a minimal MQTT
 * publisher on libmosquitto, without EdgeCore, that publishes what one benchmarked gateway publishes: once
 * a second one QoS 1 message of 100 readings in edgecore_gateway's `json` format (docs/gateway.md), with
 * consecutive sequence numbers from 1 and a random instance id, so the same subscriber checks it. No
 * Modbus, no journal, no batching: the floor for "a process that sends 100 readings/s over MQTT".
 *
 *   gateway_refpub --port PORT --id ID [--host H] [--username U --password-file F] [--readings N]
 *                  [--max-seconds S]
 *
 * One thread: mosquitto_loop between the ticks, reconnect after 100 ms when the connection is lost
 * (libmosquitto keeps QoS 1 messages published meanwhile and sends them after the reconnect). SIGTERM or
 * SIGINT: disconnect and exit 0. Exit status 2: usage or set-up error.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "gateway_common.h"

static volatile sig_atomic_t want_stop;

static void on_signal(int sig)
{
    (void)sig;
    want_stop = 1;
}

static int64_t realtime_ms(void) { return clock_ms(CLOCK_REALTIME); }
static int64_t monotonic_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *id = NULL, *username = NULL, *password_file = NULL;
    int port = 0, readings = 100;
    long max_seconds = 1800;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--id") == 0)
            id = v;
        else if (strcmp(a, "--username") == 0)
            username = v;
        else if (strcmp(a, "--password-file") == 0)
            password_file = v;
        else if (strcmp(a, "--readings") == 0)
            readings = atoi(v);
        else if (strcmp(a, "--max-seconds") == 0)
            max_seconds = atol(v);
        else
            port = -1;
    }
    if (argc % 2 == 0 || port <= 0 || port > 65535 || id == NULL || readings < 1 || readings > 4096 ||
        max_seconds <= 0) {
        fputs("usage: gateway_refpub --port PORT --id ID [--host H] [--username U --password-file F] "
              "[--readings N] [--max-seconds S]\n", stderr);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    char instance[17];
    FILE *ur = fopen("/dev/urandom", "r");
    uint64_t r = 0;
    if (ur == NULL || fread(&r, sizeof r, 1, ur) != 1)
        r = (uint64_t)realtime_ms() * 2654435761u ^ (uint64_t)getpid();
    if (ur != NULL)
        fclose(ur);
    snprintf(instance, sizeof instance, "%016llx", (unsigned long long)r);
    char topic[128];
    snprintf(topic, sizeof topic, "edgecore/%s/readings", id);
    char client_id[96];
    snprintf(client_id, sizeof client_id, "edgecore-%s", id);

    mosquitto_lib_init();
    struct mosquitto *mosq = mosquitto_new(client_id, true, NULL);
    if (mosq == NULL)
        return 2;
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (username != NULL) {
        const char *password = password_file ? read_password(password_file) : NULL;
        if (password_file != NULL && password == NULL) {
            fprintf(stderr, "gateway_refpub: cannot read %s\n", password_file);
            return 2;
        }
        mosquitto_username_pw_set(mosq, username, password);
    }
    bool connected = mosquitto_connect(mosq, host, port, 30) == MOSQ_ERR_SUCCESS;

    size_t cap = 256 + (size_t)readings * 128;
    char *payload = malloc(cap);
    if (payload == NULL)
        return 2;
    uint64_t next_seq = 1;
    int64_t start = monotonic_ms(), next_tick = start + 1000;
    while (!want_stop && monotonic_ms() - start < max_seconds * 1000) {
        int64_t now = monotonic_ms();
        if (now >= next_tick) {
            next_tick += 1000;
            int64_t ts = realtime_ms();
            size_t n = (size_t)snprintf(payload, cap, "{\"gateway\":\"%s\",\"instance\":\"%s\",\"first\":%llu,"
                                        "\"last\":%llu,\"readings\":[", id, instance,
                                        (unsigned long long)next_seq,
                                        (unsigned long long)(next_seq + (uint64_t)readings - 1));
            for (int c = 0; c < readings && n < cap; c++)
                n += (size_t)snprintf(payload + n, cap - n,
                                      "%s{\"channel\":\"ref.ch%03d\",\"unit\":\"V\",\"ts\":%lld,\"value\":%d,"
                                      "\"status\":\"ok\"}", c ? "," : "", c, (long long)ts, c * 10);
            if (n + 3 < cap) {
                memcpy(payload + n, "]}", 3);
                n += 2;
                if (mosquitto_publish(mosq, NULL, topic, (int)n, payload, 1, false) == MOSQ_ERR_SUCCESS)
                    next_seq += (uint64_t)readings;
            }
            continue;
        }
        int wait = (int)(next_tick - now);
        if (connected) {
            if (mosquitto_loop(mosq, wait > 100 ? 100 : wait, 1) != MOSQ_ERR_SUCCESS)
                connected = false;
        } else {
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
            connected = mosquitto_reconnect(mosq) == MOSQ_ERR_SUCCESS;
        }
    }
    mosquitto_disconnect(mosq);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    free(payload);
    return 0;
}
