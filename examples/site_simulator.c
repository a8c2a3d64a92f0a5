/* site_simulator: a simulated greenhouse site on 127.0.0.1 for EdgeCore's demo (examples/site-simulated.yaml).
 *
 *   port 15020, unit 1: a three-phase energy meter laid out like an Eastron SDM630: float32 (ABCD) input
 *                       registers: voltages 0x00..0x04, currents 0x06..0x0A, powers 0x0C..0x10, total power
 *                       0x34, frequency 0x46, import energy 0x48, total energy 0x156.
 *   port 15021, unit 1: greenhouse sensors as scaled integers in input registers: air temperature 0 (i16,
 *                       0.1 degC; 0x7FFF while "disconnected", from 10 s to 16 s of every 30 s), air humidity 1 (u16, 0.1
 *                       %RH), soil moisture 2 (u16, 0.1 %), soil temperature 3 (i16, 0.1 degC), CO2 4 (ppm);
 *                       coil 0: the irrigation valve (soil moisture rises while it is open).
 *
 *   site_simulator [--meter-port P] [--greenhouse-port P] [--seconds N]
 * Prints READY when both ports listen; exits on SIGTERM/SIGINT or after N seconds (default 3600).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
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

struct site {
    modbus_mapping_t *meter;
    modbus_mapping_t *greenhouse;
    double started, last_update, energy_kwh, soil_moisture;
};

static void update(struct site *site) {
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
    double air_c = 23.5 + 2.0 * sin(t / 20.0);
    g[0] = sensor_unplugged ? 0x7FFF : (uint16_t)(int16_t)lround(air_c * 10);
    g[1] = (uint16_t)lround((65.0 + 8.0 * sin(t / 15.0)) * 10);
    int valve_open = site->greenhouse->tab_bits[0] != 0;
    site->soil_moisture += (valve_open ? 0.8 : -0.05) * dt;
    if (site->soil_moisture < 18) site->soil_moisture = 18;
    if (site->soil_moisture > 45) site->soil_moisture = 45;
    g[2] = (uint16_t)lround(site->soil_moisture * 10);
    g[3] = (uint16_t)(int16_t)lround((19.0 + 0.5 * sin(t / 40.0)) * 10);
    g[4] = (uint16_t)lround(620 + 80 * sin(t / 25.0));
}

static int listen_on(modbus_t *ctx) {
    int fd = modbus_tcp_listen(ctx, 8);
    if (fd < 0) fprintf(stderr, "site_simulator: listen: %s\n", modbus_strerror(errno));
    return fd;
}

int main(int argc, char **argv) {
    int meter_port = 15020, greenhouse_port = 15021;
    double seconds = 3600;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--meter-port") && i + 1 < argc) meter_port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--greenhouse-port") && i + 1 < argc) greenhouse_port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: site_simulator [--meter-port P] [--greenhouse-port P] [--seconds N]\n");
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
    modbus_t *meter = modbus_new_tcp("127.0.0.1", meter_port);
    modbus_t *greenhouse = modbus_new_tcp("127.0.0.1", greenhouse_port);
    if (!site.meter || !site.greenhouse || !meter || !greenhouse) {
        fprintf(stderr, "site_simulator: out of memory\n");
        return 1;
    }
    update(&site);
    int listeners[2] = {listen_on(meter), listen_on(greenhouse)};
    if (listeners[0] < 0 || listeners[1] < 0) return 1;
    printf("READY meter 127.0.0.1:%d greenhouse 127.0.0.1:%d\n", meter_port, greenhouse_port);
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

    while (!stopping && now_seconds() < end) {
        fd_set ready = all;
        struct timeval tick = {0, 100000};
        int n = select(highest + 1, &ready, NULL, NULL, &tick);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        update(&site);
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
    return 0;
}
