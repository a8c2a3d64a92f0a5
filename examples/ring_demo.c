/* ring_demo: the smallest complete use of libEdgeCore's ring from C firmware.
 *
 * A "bus" thread publishes simulated greenhouse readings in batches (as EdgeCore's bus workers do); the
 * main thread blocks in edgecore_ring_wait, drains batches into its own array and prints them, then
 * prints the ring's counters.
 *
 *   cc -std=c11 ring_demo.c $(pkg-config --cflags --libs edgecore) -lpthread -o ring_demo
 *   ./ring_demo [readings]
 */
#define _POSIX_C_SOURCE 200809L
#include <edgecore.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { CHANNEL_AIR_TEMPERATURE = 1, CHANNEL_AIR_HUMIDITY = 2, CHANNEL_SOIL_MOISTURE = 3 };

struct bus {
    struct edgecore_ring *ring;
    unsigned readings;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *bus_worker(void *arg) {
    struct bus *bus = arg;
    struct edgecore_reading batch[3];
    for (unsigned cycle = 0; cycle * 3 < bus->readings; cycle++) {
        int64_t t = now_ns();
        for (int i = 0; i < 3; i++) {
            batch[i] = (struct edgecore_reading){.timestamp_ns = t, .channel = (uint32_t)(i + 1),
                                                 .sequence = cycle, .status = EDGECORE_STATUS_OK};
        }
        batch[0].value = 21.5 + (cycle % 10) * 0.1;  /* degC */
        batch[1].value = 64.0 + (cycle % 7);         /* %RH */
        batch[2].value = 31.0 - (cycle % 5) * 0.5;   /* % volumetric water content */
        if (cycle % 4 == 3) { batch[2].status = EDGECORE_STATUS_TIMEOUT; batch[2].value = 0; }
        int rc = edgecore_ring_publish(bus->ring, 0, batch, 3);
        if (rc < 0) fprintf(stderr, "publish: %s\n", edgecore_strerror(rc));
        struct timespec pause = {0, 20 * 1000000L};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (edgecore_version_number() / 1000000 != EDGECORE_VERSION_MAJOR) {
        fprintf(stderr, "libEdgeCore %s does not match edgecore.h %s\n", edgecore_version_string(),
                EDGECORE_VERSION_STRING);
        return 1;
    }
    unsigned readings = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 30;
    struct edgecore_ring *ring = NULL;
    int rc = edgecore_ring_create(256, 1, EDGECORE_OVERFLOW_DROP_OLDEST, &ring);
    if (rc != EDGECORE_OK) {
        fprintf(stderr, "edgecore_ring_create: %s\n", edgecore_strerror(rc));
        return 1;
    }
    printf("libEdgeCore %s\n", edgecore_version_string());
    struct bus bus = {ring, readings};
    pthread_t worker;
    pthread_create(&worker, NULL, bus_worker, &bus);

    struct edgecore_reading out[64];
    unsigned received = 0;
    while (received < readings) {
        rc = edgecore_ring_wait(ring, 2000);
        if (rc == EDGECORE_E_TIMEOUT) break;
        int n = edgecore_ring_drain(ring, out, 64);
        for (int i = 0; i < n; i++) {
            printf("channel %u seq %u %-8s %.2f\n", out[i].channel, out[i].sequence,
                   edgecore_status_name(out[i].status), out[i].value);
        }
        received += (unsigned)n;
    }
    pthread_join(worker, NULL);

    struct edgecore_ring_stats stats;
    edgecore_ring_stats(ring, &stats);
    printf("published %llu drained %llu dropped %llu rejected %llu\n", (unsigned long long)stats.published,
           (unsigned long long)stats.drained, (unsigned long long)stats.dropped,
           (unsigned long long)stats.rejected);
    edgecore_ring_destroy(ring);
    return received == readings ? 0 : 1;
}
