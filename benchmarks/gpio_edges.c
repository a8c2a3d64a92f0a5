/* gpio_edges: the highest paced edge rate EdgeCore counts exactly, and what each edge costs, measured
 * inside the GPIO VM (Tests/GPIO/vm) on a real kernel's gpio-sim chip. Not a test: prints BENCH lines.
 *
 * Edges are made by writing the simulated line's pull from this process, paced by nanosleep (or
 * sched_yield at pace 0): the source sleeps between edges like the hardware it stands for, and does not
 * take the guest's only CPU from the counting thread. For each pace, 4000 edges go
 * to a pulse counter (both edges, no debounce); the rate counted exactly is the highest whose count is
 * exact. The cost per edge is the process CPU time with the engine counting minus the same edges made
 * with nothing counting, divided by the edges: kernel event delivery, the read, and the counting. */
#define _POSIX_C_SOURCE 200809L
#include <edgecore.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { EDGES = 4000 };

static const char *env(const char *name) { const char *v = getenv(name); return v ? v : ""; }

static double seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static FILE *pull_file(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/sim_gpio13/pull", env("GPIOSIM_SYSFS0"));
    return fopen(path, "w");
}

static void set_pull(FILE *file, int up) {
    fputs(up ? "pull-up" : "pull-down", file);
    fflush(file);
    rewind(file);
}

/* Makes EDGES edges, pace_us apart (0: as fast as possible, yielding); returns the achieved edges/s. */
static double make_edges(FILE *file, double pace_us) {
    double start = seconds(CLOCK_MONOTONIC);
    struct timespec gap = {0, (long)(pace_us * 1000)};
    for (int i = 0; i < EDGES; i++) {
        set_pull(file, i % 2 == 0);
        if (pace_us > 0) nanosleep(&gap, NULL); else sched_yield();
    }
    return EDGES / (seconds(CLOCK_MONOTONIC) - start);
}

int main(void) {
    FILE *file = pull_file();
    if (!file) { printf("BENCH cannot open the simulated line's pull\n"); return 1; }
    set_pull(file, 0);
    const double paces[] = {200, 100, 50, 20, 10, 0};
    double best_exact = 0;
    for (size_t p = 0; p < sizeof paces / sizeof paces[0]; p++) {
        struct edgecore_engine *engine = NULL;
        edgecore_engine_create(NULL, &engine);
        struct edgecore_gpio_chip_config chip;
        edgecore_gpio_chip_config_init(&chip);
        chip.name = "io";
        chip.chip = env("GPIOSIM_CHIP0");
        chip.event_buffer_size = 1024;
        edgecore_engine_add_gpio_chip(engine, &chip, NULL);
        struct edgecore_gpio_line_config line;
        edgecore_gpio_line_config_init(&line);
        line.name = "edges";
        line.offset = 13;
        line.kind = EDGECORE_GPIO_PULSES;
        line.edge = EDGECORE_GPIO_EDGE_BOTH;
        line.interval_ms = 100;
        uint32_t channel = 0;
        edgecore_engine_add_gpio_line(engine, &line, &channel);
        if (edgecore_engine_start(engine) != EDGECORE_OK) {
            printf("BENCH start failed: %s\n", edgecore_engine_last_error());
            return 1;
        }
        double cpu_start = seconds(CLOCK_PROCESS_CPUTIME_ID);
        double rate = make_edges(file, paces[p]);
        struct timespec settle = {0, 300000000};
        nanosleep(&settle, NULL);
        struct edgecore_pulse_stats stats;
        edgecore_engine_pulse_stats(engine, channel, &stats);
        double cpu_with = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
        edgecore_engine_destroy(engine);
        set_pull(file, 0);
        /* the same edges with nothing counting */
        cpu_start = seconds(CLOCK_PROCESS_CPUTIME_ID);
        make_edges(file, paces[p]);
        nanosleep(&settle, NULL);
        double cpu_without = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
        set_pull(file, 0);
        int exact = stats.count == EDGES && stats.lost == 0;
        if (exact && rate > best_exact) best_exact = rate;
        printf("BENCH %s libgpiod %s pace %5.0f us: %8.0f edges/s made, %llu counted, %llu lost%s; "
               "%.2f us CPU per edge in the library\n",
               env("GPIOSIM_ARCH"), env("GPIOSIM_GPIOD"), paces[p], rate, (unsigned long long)stats.count,
               (unsigned long long)stats.lost, exact ? " (exact)" : "", (cpu_with - cpu_without) / EDGES * 1e6);
    }
    printf("BENCH %s libgpiod %s: highest edge rate counted exactly: %.0f edges/s\n", env("GPIOSIM_ARCH"),
           env("GPIOSIM_GPIOD"), best_exact);
    fclose(file);
    return 0;
}
