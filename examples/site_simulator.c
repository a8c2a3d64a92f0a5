/* site_simulator: a simulated greenhouse site on 127.0.0.1 for EdgeCore's demo (examples/site-simulated.yaml).
 *
 *   port 15020, unit 1: a three-phase energy meter laid out like an Eastron SDM630: float32 (ABCD) input
 *                       registers: voltages 0x00..0x04, currents 0x06..0x0A, powers 0x0C..0x10, total power
 *                       0x34, frequency 0x46, import energy 0x48, total energy 0x156.
 *   port 15021, unit 1: greenhouse sensors as scaled integers in input registers: air temperature 0 (i16,
 *                       0.1 degC; 0x7FFF while "disconnected", from 10 s to 16 s of every 30 s), air humidity 1 (u16, 0.1
 *                       %RH), soil moisture 2 (u16, 0.1 %), soil temperature 3 (i16, 0.1 degC), CO2 4 (ppm);
 *                       coil 0: the vent fan (the air is 1.5 degC cooler while it runs).
 *   GPIO, on EdgeCore's simulated chip "sim:DIR" (include/edgecore.h; default DIR /tmp/edgecore-site-gpio):
 *     line 0 "s0-meter"         the meter's S0 pulse output (IEC 62053-31): 3200 impulses per kWh of the
 *                               same energy as register 0x48, 30 ms each
 *     line 1 "irrigation-valve" the valve's relay, driven by EdgeCore (soil moisture rises while it is open)
 *     line 2 "rain-gauge"       a tipping bucket's reed contact: during a shower (from 6 s to 16 s of every 40 s) a tip
 *                               every 1.5 s, each closing for 80 ms with contact bounce
 *     line 3 "tank-float"       the water tank's float switch: pulls the line low while the tank is low
 *                               (from 12 s to 20 s of every 30 s)
 *
 *   site_simulator [--meter-port P] [--greenhouse-port P] [--gpio-dir DIR] [--seconds N]
 * Prints READY when both ports listen and the chip is in place, then one line per valve change;
 * exits on SIGTERM/SIGINT or after N seconds (default 3600).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;
static void on_signal(int signal_number) { (void)signal_number; stopping = 1; }

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_float(uint16_t *registers, int address, float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    registers[address] = (uint16_t)(bits >> 16); /* ABCD: high word first, high byte first */
    registers[address + 1] = (uint16_t)(bits & 0xFFFF);
}

/* ---- the simulated GPIO chip ---- */

enum { LINE_S0, LINE_VALVE, LINE_RAIN, LINE_FLOAT, LINE_COUNT };
static const char *const line_names[LINE_COUNT] = {"s0-meter", "irrigation-valve", "rain-gauge", "tank-float"};

struct gpio_line {
    int value_fd, edges_fd; /* edges_fd: -1 for the output */
    int level;
    uint32_t sequence;
    unsigned long long dropped; /* records the FIFO had no room for (a reader that is not reading) */
};

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int write_file(const char *path, const char *text) {
    FILE *file = fopen(path, "w");
    if (!file) return -1;
    int ok = fputs(text, file) >= 0;
    return fclose(file) == 0 && ok ? 0 : -1;
}

/* Creates DIR/lines, DIR/N.value and, for inputs, the FIFO DIR/N.edges; opens them. */
static int gpio_open(const char *dir, struct gpio_line *lines) {
    char path[4096];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -1;
    snprintf(path, sizeof path, "%s/lines", dir);
    char names[256] = "";
    for (int i = 0; i < LINE_COUNT; i++) {
        strcat(names, line_names[i]);
        strcat(names, "\n");
    }
    if (write_file(path, names) != 0) return -1;
    for (int i = 0; i < LINE_COUNT; i++) {
        struct gpio_line *line = &lines[i];
        line->level = i == LINE_FLOAT; /* the float switch's line idles high (pulled up) */
        line->sequence = 0;
        line->dropped = 0;
        snprintf(path, sizeof path, "%s/%d.value", dir, i);
        if (write_file(path, line->level ? "1\n" : "0\n") != 0) return -1;
        line->value_fd = open(path, O_RDWR | O_CLOEXEC);
        if (line->value_fd < 0) return -1;
        line->edges_fd = -1;
        if (i == LINE_VALVE) continue;
        snprintf(path, sizeof path, "%s/%d.edges", dir, i);
        struct stat info;
        if (lstat(path, &info) == 0 && !S_ISFIFO(info.st_mode)) unlink(path);
        if (mkfifo(path, 0644) != 0 && errno != EEXIST) return -1;
        line->edges_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC); /* never blocks, reader or not */
        if (line->edges_fd < 0) return -1;
        char stale[4096]; /* records from an earlier run nobody read */
        while (read(line->edges_fd, stale, sizeof stale) > 0) {}
    }
    return 0;
}

/* One edge of an input at `at` (CLOCK_MONOTONIC ns): its level file and a record in its FIFO. */
static void gpio_edge(struct gpio_line *line, int level, int64_t at) {
    line->level = level;
    if (pwrite(line->value_fd, level ? "1\n" : "0\n", 2, 0) != 2) perror("site_simulator: gpio value");
    unsigned char record[16];
    uint32_t physical = (uint32_t)level, sequence = ++line->sequence;
    memcpy(record, &at, 8);
    memcpy(record + 8, &physical, 4);
    memcpy(record + 12, &sequence, 4);
    if (write(line->edges_fd, record, sizeof record) != (ssize_t)sizeof record) line->dropped++;
}

/* The output's level as EdgeCore last drove it. */
static int gpio_output(const struct gpio_line *line) {
    char text[2] = {0, 0};
    return pread(line->value_fd, text, 1, 0) == 1 && text[0] == '1';
}

struct site {
    modbus_mapping_t *meter;
    modbus_mapping_t *greenhouse;
    double started, last_update, energy_kwh, soil_moisture;
    struct gpio_line lines[LINE_COUNT];
    long long s0_emitted;   /* impulses sent since the start */
    double s0_energy_start; /* energy at the start, kWh */
    int64_t s0_falls_at;    /* ns; 0: the S0 output is off */
    int64_t rain_next_tip, rain_falls_at;
    int valve_open;
};

/* The GPIO lines at time t (seconds since the start). Returns the ns until the next timed edge. */
static int64_t update_gpio(struct site *site, double t) {
    int64_t now = monotonic_ns(), wait = 100000000;
    struct gpio_line *lines = site->lines;
    /* S0: one 30 ms impulse per 1/3200 kWh, never two at once (a late one follows the previous). */
    if (site->s0_falls_at && now >= site->s0_falls_at) {
        gpio_edge(&lines[LINE_S0], 0, site->s0_falls_at);
        site->s0_falls_at = 0;
    }
    long long owed = (long long)floor((site->energy_kwh - site->s0_energy_start) * 3200.0) - site->s0_emitted;
    if (!site->s0_falls_at && owed > 0) {
        gpio_edge(&lines[LINE_S0], 1, now);
        site->s0_emitted++;
        site->s0_falls_at = now + 30000000;
    }
    if (site->s0_falls_at && site->s0_falls_at - now < wait) wait = site->s0_falls_at - now;
    /* Rain gauge: in a shower, a tip every 1.5 s: the reed closes with bounce (open-close-open-close within
     * 0.6 ms), stays closed 80 ms and opens cleanly. */
    int raining = fmod(t, 40.0) >= 6.0 && fmod(t, 40.0) < 16.0;
    if (site->rain_falls_at && now >= site->rain_falls_at) {
        gpio_edge(&lines[LINE_RAIN], 0, site->rain_falls_at);
        site->rain_falls_at = 0;
    }
    if (raining && !site->rain_falls_at && now >= site->rain_next_tip) {
        int64_t at = now - 1000000;
        gpio_edge(&lines[LINE_RAIN], 1, at);
        gpio_edge(&lines[LINE_RAIN], 0, at + 200000);
        gpio_edge(&lines[LINE_RAIN], 1, at + 600000);
        site->rain_falls_at = at + 80000000;
        site->rain_next_tip = now + 1500000000;
    }
    if (site->rain_falls_at && site->rain_falls_at - now < wait) wait = site->rain_falls_at - now;
    /* Float switch: closes to ground while the tank is low. */
    int low = fmod(t, 30.0) >= 12.0 && fmod(t, 30.0) < 20.0;
    if (lines[LINE_FLOAT].level != !low) gpio_edge(&lines[LINE_FLOAT], !low, now);
    /* The valve, as EdgeCore drives it. */
    int open_now = gpio_output(&lines[LINE_VALVE]);
    if (open_now != site->valve_open) {
        site->valve_open = open_now;
        printf("%.1f s: irrigation valve %s\n", t, open_now ? "opened" : "closed");
        fflush(stdout);
    }
    return wait < 0 ? 0 : wait;
}


/* Returns the ns until the next timed GPIO edge (at most 100 ms). */
static int64_t update(struct site *site) {
    double now = now_seconds();
    double t = now - site->started;
    double dt = now - site->last_update;
    site->last_update = now;
    uint16_t *m = site->meter->tab_input_registers;
    double total_w = 0;
    for (int phase = 0; phase < 3; phase++) {
        double volts = 230.0 + 2.5 * sin(t / 7.0 + phase * 2.1);
        double amps = 4.0 + 1.5 * sin(t / 11.0 + phase) + phase * 0.7;
        set_float(m, 0x00 + 2 * phase, (float)volts);
        set_float(m, 0x06 + 2 * phase, (float)amps);
        set_float(m, 0x0C + 2 * phase, (float)(volts * amps * 0.95));
        total_w += volts * amps * 0.95;
    }
    set_float(m, 0x34, (float)total_w);
    set_float(m, 0x46, (float)(50.0 + 0.03 * sin(t / 3.0)));
    site->energy_kwh += total_w * dt / 3.6e6;
    set_float(m, 0x48, (float)site->energy_kwh);
    set_float(m, 0x156, (float)(site->energy_kwh + 1234.5));

    uint16_t *g = site->greenhouse->tab_input_registers;
    double phase = fmod(t, 30.0);
    int sensor_unplugged = phase >= 10.0 && phase < 16.0;
    int fan_running = site->greenhouse->tab_bits[0] != 0;
    double air_c = 23.5 + 2.0 * sin(t / 20.0) - (fan_running ? 1.5 : 0.0);
    g[0] = sensor_unplugged ? 0x7FFF : (uint16_t)(int16_t)lround(air_c * 10);
    g[1] = (uint16_t)lround((65.0 + 8.0 * sin(t / 15.0)) * 10);
    int64_t wait = update_gpio(site, t);
    site->soil_moisture += (site->valve_open ? 0.8 : -0.05) * dt;
    if (site->soil_moisture < 18) site->soil_moisture = 18;
    if (site->soil_moisture > 45) site->soil_moisture = 45;
    g[2] = (uint16_t)lround(site->soil_moisture * 10);
    g[3] = (uint16_t)(int16_t)lround((19.0 + 0.5 * sin(t / 40.0)) * 10);
    g[4] = (uint16_t)lround(620 + 80 * sin(t / 25.0));
    return wait;
}

static int listen_on(modbus_t *ctx) {
    int fd = modbus_tcp_listen(ctx, 8);
    if (fd < 0) fprintf(stderr, "site_simulator: listen: %s\n", modbus_strerror(errno));
    return fd;
}

int main(int argc, char **argv) {
    int meter_port = 15020, greenhouse_port = 15021;
    double seconds = 3600;
    const char *gpio_dir = "/tmp/edgecore-site-gpio";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--meter-port") && i + 1 < argc) meter_port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--greenhouse-port") && i + 1 < argc) greenhouse_port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--gpio-dir") && i + 1 < argc) gpio_dir = argv[++i];
        else {
            fprintf(stderr, "usage: site_simulator [--meter-port P] [--greenhouse-port P] [--gpio-dir DIR] "
                            "[--seconds N]\n");
            return 2;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    struct site site = {0};
    site.meter = modbus_mapping_new(0, 0, 0, 0x160);
    site.greenhouse = modbus_mapping_new(1, 0, 0, 5);
    site.started = site.last_update = now_seconds();
    site.energy_kwh = 15872.25;
    site.soil_moisture = 27.0;
    site.s0_energy_start = site.energy_kwh;
    if (gpio_open(gpio_dir, site.lines) != 0) {
        fprintf(stderr, "site_simulator: gpio chip in %s: %s\n", gpio_dir, strerror(errno));
        return 1;
    }
    modbus_t *meter = modbus_new_tcp("127.0.0.1", meter_port);
    modbus_t *greenhouse = modbus_new_tcp("127.0.0.1", greenhouse_port);
    if (!site.meter || !site.greenhouse || !meter || !greenhouse) {
        fprintf(stderr, "site_simulator: out of memory\n");
        return 1;
    }
    update(&site);
    int listeners[2] = {listen_on(meter), listen_on(greenhouse)};
    if (listeners[0] < 0 || listeners[1] < 0) return 1;
    printf("READY meter 127.0.0.1:%d greenhouse 127.0.0.1:%d gpio sim:%s\n", meter_port, greenhouse_port,
           gpio_dir);
    fflush(stdout);

    /* client fd -> which server (0 meter, 1 greenhouse), -1 unused */
    int owner[FD_SETSIZE];
    for (int i = 0; i < FD_SETSIZE; i++) owner[i] = -1;
    fd_set all;
    FD_ZERO(&all);
    FD_SET(listeners[0], &all);
    FD_SET(listeners[1], &all);
    int highest = listeners[0] > listeners[1] ? listeners[0] : listeners[1];
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    double end = now_seconds() + seconds;
    int64_t wait = 0;

    while (!stopping && now_seconds() < end) {
        fd_set ready = all;
        struct timeval tick = {0, (suseconds_t)(wait / 1000)};
        int n = select(highest + 1, &ready, NULL, NULL, &tick);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        wait = update(&site);
        for (int fd = 0; fd <= highest && n > 0; fd++) {
            if (!FD_ISSET(fd, &ready)) continue;
            n--;
            if (fd == listeners[0] || fd == listeners[1]) {
                int client = accept(fd, NULL, NULL);
                if (client < 0) continue;
                if (client >= FD_SETSIZE) {
                    close(client);
                    continue;
                }
                owner[client] = fd == listeners[0] ? 0 : 1;
                FD_SET(client, &all);
                if (client > highest) highest = client;
                continue;
            }
            modbus_t *ctx = owner[fd] == 0 ? meter : greenhouse;
            modbus_mapping_t *map = owner[fd] == 0 ? site.meter : site.greenhouse;
            modbus_set_socket(ctx, fd);
            int length = modbus_receive(ctx, query);
            if (length > 0) {
                modbus_reply(ctx, query, length, map);
            } else if (length < 0) {
                close(fd);
                FD_CLR(fd, &all);
                owner[fd] = -1;
            }
        }
    }
    for (int fd = 0; fd <= highest; fd++)
        if (owner[fd] >= 0) close(fd);
    close(listeners[0]);
    close(listeners[1]);
    modbus_free(meter);
    modbus_free(greenhouse);
    modbus_mapping_free(site.meter);
    modbus_mapping_free(site.greenhouse);
    for (int i = 0; i < LINE_COUNT; i++) {
        close(site.lines[i].value_fd);
        if (site.lines[i].edges_fd >= 0) close(site.lines[i].edges_fd);
    }
    printf("%.1f s: stopped; %lld S0 impulses sent\n", now_seconds() - site.started, site.s0_emitted);
    return 0;
}
