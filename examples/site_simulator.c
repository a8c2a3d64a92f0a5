/* site_simulator: a simulated greenhouse site on 127.0.0.1 for EdgeCore's demo (examples/site-simulated.yaml).
 *
 *   port 15020, unit 1: a three-phase energy meter laid out like an Eastron SDM630: float32 (ABCD) input
 *                       registers: voltages 0x00..0x04, currents 0x06..0x0A, powers 0x0C..0x10, total power
 *                       0x34, frequency 0x46, import energy 0x48, total energy 0x156.
 *   port 15021, unit 1: greenhouse sensors as scaled integers in input registers: air temperature 0 (i16,
 *                       0.1 degC; 0x7FFF while "disconnected": from 10 s to 16 s of every 30 s of real time unless
 *                       --no-air-dropouts, and under the fault air_sentinel), air humidity 1 (u16, 0.1 %RH), soil
 *                       moisture 2 (u16, 0.1 %; 0xFFFF under the fault soil_sentinel), soil temperature 3
 *                       (i16, 0.1 degC), CO2 4 (ppm, the same as unit 2's), soil EC 5 (u16, 0.01 mS/cm), the
 *                       simulated clock 6-7 (u32, high word first: simulated seconds since the start), tank level 8
 *                       (u16, 0.1 %), flow meter pulses sent 9-10 (u32, high word first);
 *                       coils: 0 the vent fan, 1 the main pump (on at start), 2 the dosing pump.
 *   port 15021, unit 2: the CO2 sensor: input register 0 (u16, ppm); answers nothing under the fault co2_silent.
 *   port 15022:         an RS-485 line behind a transparent serial server (a DTU): the frames travel unchanged
 *                       over TCP, and each takes its time on the simulated wire (--meter-line-baud, 8E1; default
 *                       9600, 0: no wire time). One client at a time: a new connection replaces the old one, as
 *                       on many serial servers. On the line (docs/meter-protocols.md):
 *                       - a DL/T 645-2007 three-phase meter, address 202612020645: the utility's meter on the
 *                         same feed as the SDM630, so the same voltages, currents, powers and frequency; its
 *                         own energy counters (forward total = t1 + t2 + t3 + t4, the tariff by the hour of
 *                         day), clock, status word 1. Read data (C 11) of the identifiers below; any other
 *                         identifier: abnormal reply D1, error 02 (no requested data). Read address (C 13 to
 *                         AAAAAAAAAAAA), broadcast time sync (C 08 to 999999999999: sets its clock, prints a
 *                         line). Replies start with FE FE FE FE.
 *                       - a CJ/T 188 cold water meter (type 10), address 20261202001880, feeding the
 *                         irrigation: read current data (DI 901F: current and settlement-day flow in m3, real
 *                         time, status ST0 bits 1-0 valve 00 open / 01 closed), valve control (DI A017: 55
 *                         open, 99 closed; prints a line), read address (DI 810A). While its valve is open the
 *                         flow is 0.36 m3/h, 18 m3/h more while the irrigation's water flows (below); none while
 *                         closed (and then no irrigation water flows either).
 *                       Frames with a bad checksum, frames for other meters and noise get no reply; decoding
 *                       resynchronises on the next 68 (FE preambles and noise are skipped).
 *                       DL/T 645 identifiers: 00000000 combined, 00010000 forward active energy total,
 *                       00010100..00010400 tariffs 1..4, 00020000 reverse total; 02010100..02010300 voltages,
 *                       02020100..02020300 currents, 02030000..02030300 active, 02040000..02040300 reactive,
 *                       02050000..02050300 apparent power (total, A, B, C), 02060000..02060300 power factors,
 *                       02800002 frequency, 04000101 date, 04000102 time, 04000501 status word 1.
 *   Electrical values are measured once a second (as the SDM630 does), so both meters report the same
 *   numbers within a second.
 *   GPIO, on EdgeCore's simulated chip "sim:DIR" (include/edgecore.h; default DIR /tmp/edgecore-site-gpio):
 *     line 0 "s0-meter"         the meter's S0 pulse output (IEC 62053-31): 3200 impulses per kWh of the
 *                               same energy as register 0x48, 30 ms each
 *     line 1 "irrigation-valve" the valve's relay, an output driven by EdgeCore
 *     line 2 "rain-gauge"       a tipping bucket's reed contact: during a shower (from 6 s to 16 s of every 40 s) a tip
 *                               every 1.5 s, each closing for 80 ms with contact bounce
 *     line 3 "tank-float"       the water tank's float switch: pulls the line low while the tank is low
 *                               (below 20 % until above 25 % again)
 *     line 4 "flow-meter"       the irrigation line's flow meter: one pulse per litre of the water that flows,
 *                               spread over the time (at most 1000 a second: enough up to --time-scale 200)
 *
 *   The greenhouse (docs/simulated-site.md), on a simulated clock: --time-scale K runs K simulated seconds per
 *   real second (default 1); the time of day starts at --start-hour (default 10). The meters, the S0 output,
 *   the rain gauge and the air sensor's dropouts keep real time; the water meter counts the simulated water.
 *   - The water: tank (6000 L, 80 % at the start, refills at 4000 L/h; once empty it gives water again from 2 %
 *     on) -> main pump (coil 1) -> the CJ/T 188
 *     meter's valve -> the irrigation valve (GPIO line 1) -> flow meter (line 4) -> drippers. It flows, at 5 L/s
 *     (18 m3/h), while the valve is open AND the main pump runs AND the meter's valve is open AND the tank is
 *     not empty.
 *   - Soil moisture: loses 7 %/h at 20 degC air, 0.6 %/h more per degC warmer (at least 1 %/h); gains 1 %/min
 *     while the water flows; 5..60 %. Soil EC: gains 0.1 mS/cm per minute while the dosing pump (coil 2) runs
 *     AND the water flows, loses 0.5 mS/cm per hour while the water flows without dosing; 0.3..6 mS/cm.
 *   - Air temperature: approaches 17 + 11 x sun degC (sun: 0 at night, sin from 6 h to 20 h, 1 at 13 h) with a
 *     10 min time constant; while the vent fan (coil 0) runs, the outside air's 12 + 8 x sun degC with 5 min.
 *     Humidity approaches 95 - 2.5 x (air - 15) %RH, 15 less with the fan, 10 more while the water flows
 *     (15 min). CO2 approaches 420 ppm with the fan, else 900 - 550 x sun (20 min). Soil temperature
 *     approaches the air's minus 3 degC (3 h).
 *   Faults and settings (--scenario FILE, --control FIFO): one command a line, '#' starts a comment:
 *       [at T | in T] soil_sentinel|co2_silent|air_sentinel|tank_empty|flow_meter_stopped on|off
 *       [at T | in T] valve_stuck open|closed|off
 *       [at T | in T] set soil_moisture|soil_ec|tank_level|air_temperature VALUE   (%, mS/cm, %, degC)
 *   T: simulated seconds (600) or with a unit (600s, 10m, 1.5h); "at T": since the start, "in T": from now
 *   (from the start in a scenario file), neither: now. soil_sentinel: soil moisture reads 0xFFFF;
 *   co2_silent: unit 2 answers nothing (its requests time out); air_sentinel: air temperature reads 0x7FFF;
 *   valve_stuck: the water flows as if the valve were open (closed) whatever EdgeCore drives; tank_empty: the
 *   tank is empty (no water flows, the float switch says low), its level comes back when it clears;
 *   flow_meter_stopped: the water flows but the flow meter sends no pulses. A bad line in a scenario file: exit
 *   2 with FILE:LINE and the reason; on the control FIFO: a "control: ..." line in the log, nothing else.
 *
 *   site_simulator [--meter-port P] [--greenhouse-port P] [--meter-line-port P] [--meter-line-baud B]
 *                  [--gpio-dir DIR] [--seconds N] [--time-scale K] [--start-hour H] [--scenario FILE]
 *                  [--control PATH] [--no-air-dropouts] [--help]
 * Prints READY when the ports listen and the chip is in place, then one line per event, "T s: what" with the
 * simulated time T: the valves, pumps and fan changing, the water flowing and stopping, the tank low, the
 * dosing pump running into a dry line, faults and settings ("T s: fault soil_sentinel on", "T s: fault
 * valve_stuck open", "T s: set tank_level 25"), meter line clients and time syncs. Exits on SIGTERM/SIGINT or
 * after N real seconds (default 3600).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POWER_FACTOR 0.95              /* of every phase of the feed */
#define IDLE_FLOW_M3_PER_H 0.36        /* water the greenhouse uses besides the irrigation */
#define IRRIGATION_FLOW_M3_PER_H 18.0  /* more while the irrigation's water flows (5 L/s) */

/* The greenhouse's physics, on the simulated clock (--time-scale K: K simulated seconds per real second). The
 * rates are quick for a greenhouse so that a test over one to three simulated hours sees several irrigation
 * cycles (at K = 60 a simulated hour takes a real minute). */
#define EVAPORATION_PCT_PER_H_AT_20C 7.0   /* soil moisture lost per hour at 20 degC air ... */
#define EVAPORATION_PCT_PER_H_PER_C 0.6    /* ... and this much more per degC warmer (at least 1 %/h) */
#define IRRIGATION_PCT_PER_MIN 1.0         /* soil moisture gained per minute while the water flows */
#define MOISTURE_MIN_PCT 5.0
#define MOISTURE_MAX_PCT 60.0
#define DOSING_EC_PER_MIN 0.1              /* soil EC gained per minute (mS/cm) dosing into flowing water */
#define LEACHING_EC_PER_H 0.5              /* soil EC lost per hour while the water flows without dosing */
#define EC_MIN 0.3
#define EC_MAX 6.0
#define AIR_TAU_S 600.0                    /* the air approaches its target temperature with this time constant */
#define FAN_AIR_TAU_S 300.0                /* ... while the vent fan runs */
#define HUMIDITY_TAU_S 900.0
#define CO2_TAU_S 1200.0
#define SOIL_TEMPERATURE_TAU_S 10800.0
#define TANK_LITRES 6000.0                 /* the irrigation tank */
#define TANK_REFILL_L_PER_H 4000.0         /* it refills this fast (unless the fault tank_empty) */
#define TANK_LOW_BELOW_PCT 20.0            /* the float switch drops below this level ... */
#define TANK_LOW_CLEARS_PCT 25.0           /* ... and rises again above this one */
#define TANK_PRIMED_PCT 2.0                /* an empty tank gives water again from this level on */
#define LITRES_PER_PULSE 1.0               /* the flow meter's */
#define FLOW_PULSE_MIN_NS 1000000          /* its pulses come at most 1000 a second (K up to 200 at full flow) */

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

enum { LINE_S0, LINE_VALVE, LINE_RAIN, LINE_FLOAT, LINE_FLOW, LINE_COUNT };
static const char *const line_names[LINE_COUNT] = {"s0-meter", "irrigation-valve", "rain-gauge", "tank-float",
                                                   "flow-meter"};

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
    modbus_mapping_t *co2; /* unit 2 of the greenhouse port */
    double started, last_update, energy_kwh;
    /* The greenhouse on the simulated clock: sim_t simulated seconds since the start, at time_scale of them per
     * real second; the time of day at the start. */
    double time_scale, sim_t, start_hour;
    int air_dropouts; /* the air sensor sends 0x7FFF from 10 s to 16 s of every 30 s (real time) */
    double soil_moisture, soil_ec, air_c, humidity, co2_ppm, soil_c, tank_litres;
    int water_flowing, tank_low, tank_dry, fan_on, pump_on, dosing_on, dry_dosing;
    int ran_dry;                 /* the tank ran dry in the last step */
    double watered_litres;       /* the irrigation's water since the start */
    double metered_litres;       /* the water the flow meter has seen (not while it is stopped) */
    unsigned long long flow_pulses; /* sent on the flow-meter line */
    int64_t flow_last_ns;        /* the flow pulses are spread over the time since then */
    struct {
        int soil_sentinel, co2_silent, air_sentinel, tank_empty, flow_meter_stopped;
        int valve_stuck; /* 0 no, 1 stuck open, 2 stuck closed */
        double tank_litres_before; /* the level tank_empty hides, back when it clears */
    } fault;
    struct gpio_line lines[LINE_COUNT];
    long long s0_emitted;   /* impulses sent since the start */
    double s0_energy_start; /* energy at the start, kWh */
    int64_t s0_falls_at;    /* ns; 0: the S0 output is off */
    int64_t rain_next_tip, rain_falls_at;
    int valve_open;
    /* The feed, measured once a second: both energy meters report these. */
    long measured_second; /* the second since the start the values belong to; -1 before the first */
    double volts[3], amps[3], frequency;
    /* The DL/T 645 meter: forward active energy by tariff (t1..t4), reverse energy, its clock's offset. */
    double tariff_kwh[4], reverse_kwh;
    time_t clock_offset; /* its clock minus the system clock, s (set by a time sync) */
    /* The CJ/T 188 water meter: cumulative and settlement-day flow, m3; its valve. */
    double water_m3, water_settlement_m3;
    int water_valve_closed;
};

/* One line of the site's log: the simulated time (s since the start) and what happened. */
__attribute__((format(printf, 2, 3))) static void say(const struct site *site, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    printf("%.1f s: ", site->sim_t);
    vprintf(format, arguments);
    va_end(arguments);
    putchar('\n');
    fflush(stdout);
}

/* The DL/T 645 meter's tariff at `hour` (0..23): t1 sharp 19-21 h, t2 peak 8-11 and 17-19 h, t3 flat 7-8, 11-17
 * and 21-23 h, t4 valley 23-7 h; an index into tariff_kwh. */
static int tariff_at(int hour) {
    if (hour >= 19 && hour < 21) return 0;
    if ((hour >= 8 && hour < 11) || (hour >= 17 && hour < 19)) return 1;
    if (hour >= 23 || hour < 7) return 3;
    return 2;
}

/* The DL/T 645 meter's clock as local time. */
static struct tm meter_clock(const struct site *site) {
    time_t now = time(NULL) + site->clock_offset;
    struct tm local;
    localtime_r(&now, &local);
    return local;
}

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
    if (lines[LINE_FLOAT].level != !site->tank_low) gpio_edge(&lines[LINE_FLOAT], !site->tank_low, now);
    /* The flow meter: a pulse per litre it saw, spread evenly over the time since the last pulse went out (so
     * at a high time scale many short pulses: at K = 60, 300 a second, 1.1 ms each), at most one per
     * FLOW_PULSE_MIN_NS: pulses owed beyond that wait for the next update. */
    long long litres = (long long)floor(site->metered_litres / LITRES_PER_PULSE) - (long long)site->flow_pulses;
    if (litres <= 0) {
        site->flow_last_ns = now;
    } else {
        int64_t from = site->flow_last_ns, span = now - from;
        if (litres > span / FLOW_PULSE_MIN_NS) litres = span / FLOW_PULSE_MIN_NS;
        if (litres > 0) {
            int64_t spacing = span / litres, width = spacing / 3 < 30000000 ? spacing / 3 : 30000000;
            for (long long i = 0; i < litres; i++) {
                int64_t rise = from + i * spacing + spacing / 3;
                gpio_edge(&lines[LINE_FLOW], 1, rise);
                gpio_edge(&lines[LINE_FLOW], 0, rise + width);
                site->flow_pulses++;
            }
            site->flow_last_ns = from + litres * spacing;
        }
        if (wait > 10 * FLOW_PULSE_MIN_NS) wait = 10 * FLOW_PULSE_MIN_NS;
    }
    return wait < 0 ? 0 : wait;
}


/* ---- faults and settings: a scenario file and a control FIFO ---- */

enum what { SOIL_SENTINEL, CO2_SILENT, AIR_SENTINEL, TANK_EMPTY, FLOW_METER_STOPPED, VALVE_STUCK, SET_SOIL_MOISTURE,
            SET_SOIL_EC, SET_TANK_LEVEL, SET_AIR_TEMPERATURE, WHAT_COUNT };
static const char *const what_names[WHAT_COUNT] = {"soil_sentinel", "co2_silent", "air_sentinel", "tank_empty",
                                                   "flow_meter_stopped", "valve_stuck", "soil_moisture", "soil_ec",
                                                   "tank_level", "air_temperature"};
static const double set_limits[WHAT_COUNT][2] = {[SET_SOIL_MOISTURE] = {MOISTURE_MIN_PCT, MOISTURE_MAX_PCT},
                                                 [SET_SOIL_EC] = {EC_MIN, EC_MAX}, [SET_TANK_LEVEL] = {0, 100},
                                                 [SET_AIR_TEMPERATURE] = {-20, 60}};

struct event {
    double at;    /* simulated s */
    enum what what;
    double value; /* faults: 0 off, 1 on (valve_stuck: 1 open, 2 closed); set: the value */
};

enum { EVENTS_MAX = 1024 };
static struct event events[EVENTS_MAX]; /* in time order (equal times in the order given) */
static int event_count;

static int schedule(struct event event) {
    if (event_count == EVENTS_MAX) return -1;
    int i = event_count;
    while (i > 0 && events[i - 1].at > event.at) i--;
    memmove(&events[i + 1], &events[i], (size_t)(event_count - i) * sizeof events[0]);
    events[i] = event;
    event_count++;
    return 0;
}

/* A time: seconds, or a number with s, m or h. -1 when it is not one. */
static double parse_time(const char *text) {
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || errno || !isfinite(value) || value < 0) return -1;
    double unit = !strcmp(end, "") || !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600 : -1;
    return unit < 0 ? -1 : value * unit;
}

/* One command: "[at T | in T] FAULT on|off", "[at T | in T] valve_stuck open|closed|off" or "[at T | in T] set
 * QUANTITY VALUE"; `now` is the simulated time ("in T": T after now; neither: now). Returns 1 when it is
 * one (in *event), 0 for a blank line or a comment, -1 when it is not (why in `why`). `text` is cut up. */
static int parse_command(char *text, double now, struct event *event, char *why, size_t why_size) {
    char *hash = strchr(text, '#'), *save = NULL, *words[6];
    if (hash) *hash = 0;
    int count = 0;
    for (char *word = strtok_r(text, " \t\r\n", &save); word; word = strtok_r(NULL, " \t\r\n", &save)) {
        if (count == 6) {
            snprintf(why, why_size, "too many words");
            return -1;
        }
        words[count++] = word;
    }
    if (count == 0) return 0;
    int first = 0;
    event->at = now;
    if (!strcmp(words[0], "at") || !strcmp(words[0], "in")) {
        double at = count > 1 ? parse_time(words[1]) : -1;
        if (at < 0) {
            snprintf(why, why_size, "'%s' wants a time: seconds, or a number with s, m or h (e.g. 600, 10m, 1.5h)",
                     words[0]);
            return -1;
        }
        event->at = words[0][0] == 'a' ? at : now + at;
        first = 2;
    }
    int rest = count - first;
    const char *name = rest > 0 ? words[first] : "";
    if (rest == 3 && !strcmp(name, "set")) {
        for (int what = SET_SOIL_MOISTURE; what < WHAT_COUNT; what++) {
            if (strcmp(words[first + 1], what_names[what])) continue;
            char *end;
            double value = strtod(words[first + 2], &end);
            if (*end || end == words[first + 2] || !(value >= set_limits[what][0] && value <= set_limits[what][1])) {
                snprintf(why, why_size, "set %s wants a number from %g to %g", what_names[what],
                         set_limits[what][0], set_limits[what][1]);
                return -1;
            }
            event->what = (enum what)what;
            event->value = value;
            return 1;
        }
        snprintf(why, why_size, "set: unknown quantity '%s' (soil_moisture %%, soil_ec mS/cm, tank_level %%, "
                 "air_temperature degC)", words[first + 1]);
        return -1;
    }
    for (int what = 0; what <= VALVE_STUCK; what++) {
        if (strcmp(name, what_names[what])) continue;
        const char *state = rest == 2 ? words[first + 1] : "";
        event->what = (enum what)what;
        if (!strcmp(state, "off")) event->value = 0;
        else if (what != VALVE_STUCK && !strcmp(state, "on")) event->value = 1;
        else if (what == VALVE_STUCK && !strcmp(state, "open")) event->value = 1;
        else if (what == VALVE_STUCK && !strcmp(state, "closed")) event->value = 2;
        else {
            snprintf(why, why_size, "%s wants %s", name, what == VALVE_STUCK ? "open, closed or off" : "on or off");
            return -1;
        }
        return 1;
    }
    snprintf(why, why_size, "expected [at T | in T] FAULT on|off (soil_sentinel, co2_silent, air_sentinel, tank_empty, "
             "flow_meter_stopped), valve_stuck open|closed|off or set QUANTITY VALUE");
    return -1;
}

static void apply_event(struct site *site, const struct event *event) {
    const char *name = what_names[event->what];
    int on = event->value != 0;
    switch (event->what) {
    case SOIL_SENTINEL: site->fault.soil_sentinel = on; break;
    case CO2_SILENT: site->fault.co2_silent = on; break;
    case AIR_SENTINEL: site->fault.air_sentinel = on; break;
    case FLOW_METER_STOPPED: site->fault.flow_meter_stopped = on; break;
    case VALVE_STUCK: site->fault.valve_stuck = (int)event->value; break;
    case TANK_EMPTY:
        if (on && !site->fault.tank_empty) { /* the level it had comes back when the fault clears */
            site->fault.tank_litres_before = site->tank_litres;
            site->tank_litres = 0;
        } else if (!on && site->fault.tank_empty) {
            site->tank_litres = site->fault.tank_litres_before;
        }
        site->fault.tank_empty = on;
        break;
    case SET_SOIL_MOISTURE: site->soil_moisture = event->value; break;
    case SET_SOIL_EC: site->soil_ec = event->value; break;
    case SET_TANK_LEVEL:
        if (site->fault.tank_empty) site->fault.tank_litres_before = event->value / 100 * TANK_LITRES;
        else site->tank_litres = event->value / 100 * TANK_LITRES;
        break;
    case SET_AIR_TEMPERATURE: site->air_c = event->value; break;
    case WHAT_COUNT: break;
    }
    if (event->what >= SET_SOIL_MOISTURE) say(site, "set %s %g", name, event->value);
    else if (event->what == VALVE_STUCK)
        say(site, "fault %s %s", name, !on ? "off" : event->value == 1 ? "open" : "closed");
    else say(site, "fault %s %s", name, on ? "on" : "off");
}

/* Applies the events due by now. */
static void run_scenario(struct site *site) {
    int due = 0;
    while (due < event_count && events[due].at <= site->sim_t) apply_event(site, &events[due++]);
    memmove(&events[0], &events[due], (size_t)(event_count - due) * sizeof events[0]);
    event_count -= due;
}

/* The real ns until the next event, INT64_MAX for none. */
static int64_t scenario_wait_ns(const struct site *site) {
    if (!event_count) return INT64_MAX;
    double ns = (events[0].at - site->sim_t) / site->time_scale * 1e9;
    return ns <= 0 ? 0 : ns > 1e17 ? INT64_MAX : (int64_t)ns + 1;
}

/* Reads the scenario file: one command a line. Errors: FILE:LINE and the reason on stderr; -1. */
static int read_scenario(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "site_simulator: scenario file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char text[512], why[256];
    int number = 0, failed = 0;
    while (!failed && fgets(text, sizeof text, file)) {
        number++;
        struct event event;
        int complete = strchr(text, '\n') || feof(file);
        int found = complete ? parse_command(text, 0, &event, why, sizeof why) : -1;
        if (!complete) snprintf(why, sizeof why, "a line longer than %zu bytes", sizeof text - 2);
        if (found < 0) {
            fprintf(stderr, "site_simulator: %s:%d: %s\n", path, number, why);
            failed = 1;
        } else if (found > 0 && schedule(event) != 0) {
            fprintf(stderr, "site_simulator: %s:%d: more than %d events\n", path, number, EVENTS_MAX);
            failed = 1;
        }
    }
    fclose(file);
    return failed ? -1 : 0;
}

/* The control FIFO: commands as in a scenario file, one a line, taken at once ("at T": at simulated time T,
 * "in T": T from now). */
struct control {
    int fd; /* -1: none */
    char buffer[1024];
    size_t length;
};

static void control_read(struct site *site, struct control *control) {
    ssize_t n = read(control->fd, control->buffer + control->length, sizeof control->buffer - 1 - control->length);
    if (n <= 0) return;
    control->length += (size_t)n;
    control->buffer[control->length] = 0;
    char *start = control->buffer, *newline;
    while ((newline = strchr(start, '\n'))) {
        *newline = 0;
        char copy[1024], why[256];
        snprintf(copy, sizeof copy, "%s", start);
        struct event event;
        int found = parse_command(start, site->sim_t, &event, why, sizeof why);
        if (found < 0) say(site, "control: %s: '%s'", why, copy);
        else if (found > 0 && schedule(event) != 0)
            say(site, "control: more than %d events waiting: '%s'", EVENTS_MAX, copy);
        start = newline + 1;
    }
    control->length = strlen(start);
    memmove(control->buffer, start, control->length);
    if (control->length == sizeof control->buffer - 1) control->length = 0; /* a line too long: dropped */
}

/* x approaches `target` with time constant `tau` over dt (all s). */
static double approach(double x, double target, double tau, double dt) {
    return target + (x - target) * exp(-dt / tau);
}

static double clamp(double x, double low, double high) { return x < low ? low : x > high ? high : x; }

/* Logs a change of an on/off state. */
static void note(struct site *site, int *state, int now_on, const char *what, const char *on, const char *off) {
    if (*state == now_on) return;
    *state = now_on;
    say(site, "%s %s", what, now_on ? on : off);
}

/* The greenhouse over the sim_dt simulated seconds just past, with the valve, pumps, fan and water as they were
 * during them: the water, the soil, the air. */
static void greenhouse_step(struct site *site, double sim_dt) {
    int flowing = site->water_flowing;
    double litres = flowing ? IRRIGATION_FLOW_M3_PER_H / 3.6 * sim_dt : 0;
    if (litres > site->tank_litres) litres = site->tank_litres;
    site->tank_litres -= litres;
    site->ran_dry = flowing && site->tank_litres <= 1e-9; /* before this step's refill */
    if (!site->fault.flow_meter_stopped) site->metered_litres += litres;
    if (!site->fault.tank_empty) site->tank_litres += TANK_REFILL_L_PER_H / 3600.0 * sim_dt;
    site->tank_litres = clamp(site->tank_litres, 0, TANK_LITRES);
    /* The share of sim_dt the water flowed (a tank running dry stops it midway). */
    double watered_s = litres / (IRRIGATION_FLOW_M3_PER_H / 3.6);
    site->watered_litres += litres;
    /* The sun: 0 at night, up from 6 h to 20 h, highest at 13 h. */
    double hour = fmod(site->start_hour + site->sim_t / 3600.0, 24.0);
    double sun = hour > 6 && hour < 20 ? sin(3.14159265358979 * (hour - 6) / 14) : 0;
    double outside_c = 12 + 8 * sun, closed_c = 17 + 11 * sun;
    site->air_c = approach(site->air_c, site->fan_on ? outside_c : closed_c, site->fan_on ? FAN_AIR_TAU_S : AIR_TAU_S,
                           sim_dt);
    double humidity = 95 - 2.5 * (site->air_c - 15) - (site->fan_on ? 15 : 0) + (flowing ? 10 : 0);
    site->humidity = approach(site->humidity, clamp(humidity, 30, 98), HUMIDITY_TAU_S, sim_dt);
    site->co2_ppm = approach(site->co2_ppm, site->fan_on ? 420 : 900 - 550 * sun, CO2_TAU_S, sim_dt);
    site->soil_c = approach(site->soil_c, site->air_c - 3, SOIL_TEMPERATURE_TAU_S, sim_dt);
    /* The soil: evaporation, faster when warm; irrigation; dosing into the flowing water, leaching without. */
    double evaporation = EVAPORATION_PCT_PER_H_AT_20C + EVAPORATION_PCT_PER_H_PER_C * (site->air_c - 20);
    if (evaporation < 1) evaporation = 1;
    site->soil_moisture += IRRIGATION_PCT_PER_MIN * watered_s / 60 - evaporation * sim_dt / 3600;
    site->soil_moisture = clamp(site->soil_moisture, MOISTURE_MIN_PCT, MOISTURE_MAX_PCT);
    site->soil_ec += site->dosing_on ? DOSING_EC_PER_MIN * watered_s / 60 : -LEACHING_EC_PER_H * watered_s / 3600;
    site->soil_ec = clamp(site->soil_ec, EC_MIN, EC_MAX);
}

/* The valve, pumps, fan, tank and faults as they are now: they hold until the next step. */
static void greenhouse_state(struct site *site) {
    uint8_t *coils = site->greenhouse->tab_bits;
    /* The valve's relay, as EdgeCore drives it. */
    note(site, &site->valve_open, gpio_output(&site->lines[LINE_VALVE]), "irrigation valve", "opened", "closed");
    note(site, &site->fan_on, coils[0] != 0, "vent fan", "on", "off");
    note(site, &site->pump_on, coils[1] != 0, "main pump", "on", "off");
    note(site, &site->dosing_on, coils[2] != 0, "dosing pump", "on", "off");
    double level = site->tank_litres / TANK_LITRES * 100;
    /* Run dry, the pump draws water again only once the tank holds TANK_PRIMED_PCT. */
    note(site, &site->tank_dry, site->tank_litres <= 0 || site->ran_dry || (site->tank_dry && level < TANK_PRIMED_PCT),
         "tank", "empty", "holds water again");
    site->ran_dry = 0;
    int low = level < TANK_LOW_BELOW_PCT || (site->tank_low && level < TANK_LOW_CLEARS_PCT);
    note(site, &site->tank_low, low, "tank", "low", "no longer low");
    /* The water: tank -> main pump -> CJ/T 188 meter (its valve) -> irrigation valve -> flow meter -> drippers. */
    int valve = site->fault.valve_stuck ? site->fault.valve_stuck == 1 : site->valve_open;
    int flowing = valve && site->pump_on && !site->water_valve_closed && !site->tank_dry;
    note(site, &site->water_flowing, flowing, "irrigation water", "flowing", "stopped");
    note(site, &site->dry_dosing, site->dosing_on && !flowing, "dosing pump",
         "running into a dry line (no water flowing)", "no longer running into a dry line");
}

/* Returns the ns until the next timed GPIO edge or scenario event (at most 100 ms). */
static int64_t update(struct site *site) {
    double now = now_seconds();
    double t = now - site->started;
    double dt = now - site->last_update;
    site->last_update = now;
    long second = (long)floor(t);
    if (second != site->measured_second) { /* the meters measure once a second */
        site->measured_second = second;
        for (int phase = 0; phase < 3; phase++) {
            site->volts[phase] = 230.0 + 2.5 * sin(second / 7.0 + phase * 2.1);
            site->amps[phase] = 4.0 + 1.5 * sin(second / 11.0 + phase) + phase * 0.7;
        }
        site->frequency = 50.0 + 0.03 * sin(second / 3.0);
    }
    uint16_t *m = site->meter->tab_input_registers;
    double total_w = 0;
    for (int phase = 0; phase < 3; phase++) {
        double volts = site->volts[phase], amps = site->amps[phase];
        set_float(m, 0x00 + 2 * phase, (float)volts);
        set_float(m, 0x06 + 2 * phase, (float)amps);
        set_float(m, 0x0C + 2 * phase, (float)(volts * amps * POWER_FACTOR));
        total_w += volts * amps * POWER_FACTOR;
    }
    set_float(m, 0x34, (float)total_w);
    set_float(m, 0x46, (float)site->frequency);
    double kwh = total_w * dt / 3.6e6;
    site->energy_kwh += kwh;
    set_float(m, 0x48, (float)site->energy_kwh);
    set_float(m, 0x156, (float)(site->energy_kwh + 1234.5));
    struct tm clock = meter_clock(site);
    site->tariff_kwh[tariff_at(clock.tm_hour)] += kwh;

    double sim_dt = dt * site->time_scale;
    site->sim_t = t * site->time_scale;
    double watered_before = site->watered_litres;
    greenhouse_step(site, sim_dt);
    /* The irrigation takes its water through the CJ/T 188 meter: none while the meter's valve is closed. */
    if (!site->water_valve_closed)
        site->water_m3 += IDLE_FLOW_M3_PER_H * sim_dt / 3600.0 + (site->watered_litres - watered_before) / 1000.0;
    run_scenario(site);
    greenhouse_state(site);
    uint16_t *g = site->greenhouse->tab_input_registers;
    double phase = fmod(t, 30.0);
    int unplugged = site->fault.air_sentinel || (site->air_dropouts && phase >= 10.0 && phase < 16.0);
    g[0] = unplugged ? 0x7FFF : (uint16_t)(int16_t)lround(site->air_c * 10);
    g[1] = (uint16_t)lround(site->humidity * 10);
    g[2] = site->fault.soil_sentinel ? 0xFFFF : (uint16_t)lround(site->soil_moisture * 10);
    g[3] = (uint16_t)(int16_t)lround(site->soil_c * 10);
    g[4] = (uint16_t)lround(site->co2_ppm);
    site->co2->tab_input_registers[0] = g[4];
    g[5] = (uint16_t)lround(site->soil_ec * 100);
    uint32_t sim_seconds = (uint32_t)site->sim_t;
    g[6] = (uint16_t)(sim_seconds >> 16);
    g[7] = (uint16_t)(sim_seconds & 0xFFFF);
    g[8] = (uint16_t)lround(site->tank_litres / TANK_LITRES * 1000);
    g[9] = (uint16_t)(site->flow_pulses >> 16 & 0xFFFF);
    g[10] = (uint16_t)(site->flow_pulses & 0xFFFF);
    int64_t wait = update_gpio(site, t);
    int64_t until_event = scenario_wait_ns(site);
    return until_event < wait ? until_event : wait;
}

/* ---- the meter line: an RS-485 line with two meters behind a transparent serial server ---- */

enum { LINE_BUFFER = 512, LINE_REPLIES = 8, FRAME_MAX = 300 };
#define TURNAROUND_S 0.02     /* a meter answers this long after a request's last byte */
#define PARTIAL_FRAME_S 0.5   /* an unfinished frame this long without a byte is dropped */

/* 202612020645 and 20261202001880, least significant byte first as on the wire. */
static const unsigned char dlt_address[6] = {0x45, 0x06, 0x02, 0x12, 0x26, 0x20};
static const unsigned char water_address[7] = {0x80, 0x18, 0x00, 0x02, 0x12, 0x26, 0x20};
#define WATER_TYPE 0x10 /* CJ/T 188 cold water meter */

struct pending_reply {
    double at; /* when the serial server has it from the wire (CLOCK_MONOTONIC s) */
    size_t length;
    unsigned char bytes[FRAME_MAX];
};

struct meter_line {
    int listener, client;     /* client -1: none */
    double char_seconds;      /* one character on the wire (11 bits: 8E1); 0: no wire time */
    double busy_until;        /* the wire carries a request or a reply until then */
    double last_byte_at;
    unsigned char received[LINE_BUFFER];
    size_t received_length;
    struct pending_reply replies[LINE_REPLIES];
    int reply_count;
    unsigned long long answered, unanswered; /* frames */
};

static unsigned char checksum(const unsigned char *bytes, size_t length) {
    unsigned char sum = 0;
    for (size_t i = 0; i < length; i++) sum = (unsigned char)(sum + bytes[i]);
    return sum;
}

static unsigned char bcd(int value) { return (unsigned char)((value / 10 % 10) << 4 | value % 10); }

static int from_bcd(unsigned char byte) {
    return (byte >> 4) > 9 || (byte & 15) > 9 ? -1 : (byte >> 4) * 10 + (byte & 15);
}

/* |value| x 10^decimals, rounded, as `size` BCD bytes, least significant first (at most the largest number they
 * hold); `is_signed`: the top bit of the last byte is the sign (DL/T 645). */
static void put_bcd(unsigned char *out, double value, int size, int decimals, int is_signed) {
    unsigned long long number = (unsigned long long)llround(fabs(value) * pow(10, decimals)), limit = 1;
    for (int i = 0; i < 2 * size; i++) limit *= 10;
    limit = is_signed ? limit / 10 * 8 - 1 : limit - 1;
    if (number > limit) number = limit;
    int negative = is_signed && value < 0 && number > 0;
    for (int i = 0; i < size; i++) {
        out[i] = bcd((int)(number % 100));
        number /= 100;
    }
    if (negative) out[size - 1] |= 0x80;
}

/* A counter as a meter shows it: cut, not rounded, to 0.01. */
static double hundredths(double value) { return floor(value * 100 + 1e-6) / 100; }

/* A request's address selects a meter when each byte is the meter's or the wildcard AA. */
static int address_selects(const unsigned char *request, const unsigned char *own, int size) {
    for (int i = 0; i < size; i++)
        if (request[i] != own[i] && request[i] != 0xAA) return 0;
    return 1;
}

/* The value of DL/T 645-2007 identifier `di` (DI3..DI0) as the bytes after the DI in a reply; their count, 0 when
 * the meter lacks the identifier. */
static size_t dlt_value(const struct site *site, uint32_t di, unsigned char *out) {
    double forward = site->tariff_kwh[0] + site->tariff_kwh[1] + site->tariff_kwh[2] + site->tariff_kwh[3];
    uint32_t family = di & 0xFFFF00FF, part = di >> 8 & 0xFF; /* part (DI1): total 0, phase or tariff 1.. */
    if (di == 0x00000000) { /* combined active energy: forward - reverse */
        put_bcd(out, hundredths(forward) - hundredths(site->reverse_kwh), 4, 2, 1);
        return 4;
    }
    if (family == 0x00010000 && part <= 4) { /* forward active energy, total and tariffs */
        put_bcd(out, hundredths(part ? site->tariff_kwh[part - 1] : forward), 4, 2, 1);
        return 4;
    }
    if (di == 0x00020000) {
        put_bcd(out, hundredths(site->reverse_kwh), 4, 2, 1);
        return 4;
    }
    if (family == 0x02010000 && part >= 1 && part <= 3) {
        put_bcd(out, site->volts[part - 1], 2, 1, 0);
        return 2;
    }
    if (family == 0x02020000 && part >= 1 && part <= 3) {
        put_bcd(out, site->amps[part - 1], 3, 3, 1);
        return 3;
    }
    if (family >= 0x02030000 && family <= 0x02060000 && (family & 0xFFFF) == 0 && part <= 3) {
        double apparent = 0; /* kVA: of the phase, or the sum */
        for (int phase = 0; phase < 3; phase++)
            if (part == 0 || part == (uint32_t)phase + 1) apparent += site->volts[phase] * site->amps[phase] / 1000.0;
        switch (family) {
        case 0x02030000: put_bcd(out, apparent * POWER_FACTOR, 3, 4, 1); return 3;
        case 0x02040000: put_bcd(out, apparent * sqrt(1 - POWER_FACTOR * POWER_FACTOR), 3, 4, 1); return 3;
        case 0x02050000: put_bcd(out, apparent, 3, 4, 1); return 3;
        default: put_bcd(out, POWER_FACTOR, 2, 3, 1); return 2;
        }
    }
    if (di == 0x02800002) {
        put_bcd(out, site->frequency, 2, 2, 0);
        return 2;
    }
    struct tm clock = meter_clock(site);
    if (di == 0x04000101) { /* date YYMMDDWW (WW: weekday, 0 = Sunday) */
        out[0] = bcd(clock.tm_wday);
        out[1] = bcd(clock.tm_mday);
        out[2] = bcd(clock.tm_mon + 1);
        out[3] = bcd(clock.tm_year % 100);
        return 4;
    }
    if (di == 0x04000102) { /* time hhmmss */
        out[0] = bcd(clock.tm_sec);
        out[1] = bcd(clock.tm_min);
        out[2] = bcd(clock.tm_hour);
        return 3;
    }
    if (di == 0x04000501) { /* status word 1: all clear (batteries fine, power forward) */
        out[0] = out[1] = 0;
        return 2;
    }
    return 0;
}

/* A DL/T 645 reply of the meter: FE FE FE FE 68 A0..A5 68 C L DATA(+0x33) CS 16. Returns its length. */
static size_t dlt_frame(unsigned char *out, unsigned char control, const unsigned char *data, size_t length) {
    size_t n = 0;
    for (int i = 0; i < 4; i++) out[n++] = 0xFE;
    size_t start = n;
    out[n++] = 0x68;
    memcpy(out + n, dlt_address, 6);
    n += 6;
    out[n++] = 0x68;
    out[n++] = control;
    out[n++] = (unsigned char)length;
    for (size_t i = 0; i < length; i++) out[n++] = (unsigned char)(data[i] + 0x33);
    out[n] = checksum(out + start, n - start);
    n++;
    out[n++] = 0x16;
    return n;
}

/* Broadcast time sync: DATA ss mm hh DD MM YY (BCD); sets the meter's clock. */
static void dlt_time_sync(struct site *site, const unsigned char *data, double t) {
    int field[6];
    for (int i = 0; i < 6; i++) field[i] = from_bcd(data[i]);
    struct tm when = {0};
    when.tm_sec = field[0];
    when.tm_min = field[1];
    when.tm_hour = field[2];
    when.tm_mday = field[3];
    when.tm_mon = field[4] - 1;
    when.tm_year = field[5] + 100;
    when.tm_isdst = -1;
    if (field[0] < 0 || field[0] > 59 || field[1] < 0 || field[1] > 59 || field[2] < 0 || field[2] > 23 ||
        field[3] < 1 || field[3] > 31 || field[4] < 1 || field[4] > 12 || field[5] < 0) {
        printf("%.1f s: meter line: time sync with an invalid time ignored\n", t);
        fflush(stdout);
        return;
    }
    time_t synced = mktime(&when);
    site->clock_offset = synced - time(NULL);
    printf("%.1f s: meter line: DL/T 645 time sync to 20%02d-%02d-%02d %02d:%02d:%02d (clock moved %+lld s)\n", t,
           field[5], field[4], field[3], field[2], field[1], field[0], (long long)site->clock_offset);
    fflush(stdout);
}

/* The DL/T 645 meter's answer to `frame` (68 to 16) into `reply`: its length, 0 for none. */
static size_t dlt_request(struct site *site, const unsigned char *frame, double t, unsigned char *reply) {
    const unsigned char *address = frame + 1;
    unsigned char control = frame[8], length = frame[9], data[255];
    for (int i = 0; i < length; i++) data[i] = (unsigned char)(frame[10 + i] - 0x33);
    if (control & 0x80) return 0; /* a reply, not a request */
    static const unsigned char broadcast[6] = {0x99, 0x99, 0x99, 0x99, 0x99, 0x99};
    if (!memcmp(address, broadcast, 6)) { /* no reply to a broadcast */
        if (control == 0x08 && length == 6) dlt_time_sync(site, data, t);
        return 0;
    }
    if (!address_selects(address, dlt_address, 6)) return 0;
    if (control == 0x13) return dlt_frame(reply, 0x93, dlt_address, 6); /* read address */
    if (control == 0x11 && length >= 4) {                               /* read data */
        unsigned char out[4 + 8];
        memcpy(out, data, 4);
        uint32_t di = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
        size_t value_length = dlt_value(site, di, out + 4);
        if (value_length) return dlt_frame(reply, 0x91, out, 4 + value_length);
        unsigned char no_requested_data = 0x02;
        return dlt_frame(reply, 0xD1, &no_requested_data, 1);
    }
    unsigned char other_error = 0x01; /* follow-up, write, freeze ...: not served */
    return dlt_frame(reply, (unsigned char)(0xC0 | (control & 0x1F)), &other_error, 1);
}

/* A CJ/T 188 reply of the water meter: FE FE 68 T A0..A6 C L DATA CS 16. Returns its length. */
static size_t cjt_frame(unsigned char *out, unsigned char control, const unsigned char *data, size_t length) {
    size_t n = 0;
    out[n++] = 0xFE;
    out[n++] = 0xFE;
    size_t start = n;
    out[n++] = 0x68;
    out[n++] = WATER_TYPE;
    memcpy(out + n, water_address, 7);
    n += 7;
    out[n++] = control;
    out[n++] = (unsigned char)length;
    memcpy(out + n, data, length);
    n += length;
    out[n] = checksum(out + start, n - start);
    n++;
    out[n++] = 0x16;
    return n;
}

/* The water meter's answer to `frame` (68 to 16) into `reply`: its length, 0 for none. */
static size_t cjt_request(struct site *site, const unsigned char *frame, double t, unsigned char *reply) {
    unsigned char type = frame[1], control = frame[9], length = frame[10];
    const unsigned char *data = frame + 11; /* DI0 DI1 SER ... */
    if (control & 0x80 || length < 3) return 0;
    if ((type != WATER_TYPE && type != 0xAA) || !address_selects(frame + 2, water_address, 7)) return 0;
    unsigned di = (unsigned)data[0] | (unsigned)data[1] << 8;
    unsigned char out[32] = {data[0], data[1], data[2]}; /* DI and SER echoed */
    unsigned char status = site->water_valve_closed ? 0x01 : 0x00; /* ST0 bits 1-0: valve 00 open, 01 closed */
    size_t n = 3;
    if (control == 0x01 && di == 0x901F) { /* current data */
        put_bcd(out + n, hundredths(site->water_m3), 4, 2, 0);
        out[n + 4] = 0x2C; /* m3 */
        put_bcd(out + n + 5, hundredths(site->water_settlement_m3), 4, 2, 0);
        out[n + 9] = 0x2C;
        n += 10;
        time_t now = time(NULL);
        struct tm local;
        localtime_r(&now, &local);
        int year = local.tm_year + 1900;
        int fields[7] = {local.tm_sec, local.tm_min, local.tm_hour, local.tm_mday, local.tm_mon + 1, year % 100,
                         year / 100}; /* real time YYYYMMDDhhmmss, seconds first */
        for (int i = 0; i < 7; i++) out[n++] = bcd(fields[i]);
        out[n++] = status;
        out[n++] = 0x00; /* ST1 */
        return cjt_frame(reply, 0x81, out, n);
    }
    if (control == 0x03 && di == 0x810A) return cjt_frame(reply, 0x83, out, n); /* read address */
    if (control == 0x04 && di == 0xA017 && length == 4 && (data[3] == 0x55 || data[3] == 0x99)) { /* valve */
        int close_it = data[3] == 0x99;
        if (close_it != site->water_valve_closed) {
            site->water_valve_closed = close_it;
            printf("%.1f s: water meter valve %s\n", t, close_it ? "closed" : "opened");
            fflush(stdout);
        }
        out[n++] = close_it ? 0x01 : 0x00;
        out[n++] = 0x00;
        return cjt_frame(reply, 0x84, out, n);
    }
    if (control != 0x01 && control != 0x03 && control != 0x04) return 0;
    unsigned char abnormal[3] = {data[2], status, 0x00}; /* SER ST0 ST1, no DI */
    return cjt_frame(reply, (unsigned char)(0xC0 | control), abnormal, 3);
}

/* A CJ/T 188 meter type byte (10..19 water, 20..29 heat, 30..39 gas, 40..49 other) or the wildcard AA. */
static int cjt_type(unsigned char type) { return type == 0xAA || (type >= 0x10 && type <= 0x49 && (type & 15) <= 9); }

/* What starts at p (a 0x68) with `available` bytes: a complete DL/T 645 (1) or CJ/T 188 (2) frame with a good
 * checksum and end byte (its length in *length), one that may still come complete (-1), or neither (0). */
static int frame_at(const unsigned char *p, size_t available, size_t *length) {
    int unfinished = 0;
    if (available < 8) {
        unfinished = 1;
    } else if (p[7] == 0x68) { /* DL/T 645: 68 A0..A5 68 C L DATA CS 16 */
        size_t total = available >= 10 ? 12 + (size_t)p[9] : 0;
        if (!total || available < total) unfinished = 1;
        else if (p[total - 2] == checksum(p, total - 2) && p[total - 1] == 0x16) {
            *length = total;
            return 1;
        }
    }
    if (available < 2) {
        unfinished = 1;
    } else if (cjt_type(p[1])) { /* CJ/T 188: 68 T A0..A6 C L DATA CS 16 */
        size_t total = available >= 11 ? 13 + (size_t)p[10] : 0;
        if (!total || available < total) unfinished = 1;
        else if (p[total - 2] == checksum(p, total - 2) && p[total - 1] == 0x16) {
            *length = total;
            return 2;
        }
    }
    return unfinished ? -1 : 0;
}

/* One frame off the wire; `wire_bytes` came over TCP for it (noise and preamble included) and took their time on
 * the line. A reply is queued for when its last byte is off the wire. */
static void line_frame(struct site *site, struct meter_line *line, int kind, const unsigned char *frame,
                       size_t wire_bytes, double now) {
    unsigned char reply[FRAME_MAX];
    double t = site->sim_t;
    size_t length = kind == 1 ? dlt_request(site, frame, t, reply) : cjt_request(site, frame, t, reply);
    double start = now > line->busy_until ? now : line->busy_until;
    line->busy_until = start + (double)wire_bytes * line->char_seconds;
    if (!length || line->reply_count == LINE_REPLIES) {
        line->unanswered++;
        return;
    }
    line->answered++;
    if (line->char_seconds > 0) line->busy_until += TURNAROUND_S + (double)length * line->char_seconds;
    struct pending_reply *pending = &line->replies[line->reply_count++];
    pending->at = line->busy_until;
    pending->length = length;
    memcpy(pending->bytes, reply, length);
}

/* Decodes what the line has received: each complete frame is handled and everything before it dropped (noise, FE,
 * frames with a bad checksum); a 0x68 that may still begin a frame keeps the bytes from there on. */
static void line_decode(struct site *site, struct meter_line *line, double now) {
    unsigned char *bytes = line->received;
    size_t count = line->received_length, i = 0, handled = 0, keep = count;
    while (i < count) {
        size_t length = 0;
        int kind = bytes[i] == 0x68 ? frame_at(bytes + i, count - i, &length) : 0;
        if (kind > 0) {
            line_frame(site, line, kind, bytes + i, i + length - handled, now);
            i += length;
            handled = i;
            keep = count;
            continue;
        }
        if (kind < 0 && keep == count) keep = i;
        i++;
    }
    memmove(bytes, bytes + keep, count - keep);
    line->received_length = count - keep;
}

static void line_drop_client(struct meter_line *line, fd_set *all, const char *why, double t) {
    close(line->client);
    FD_CLR(line->client, all);
    line->client = -1;
    line->received_length = 0;
    line->reply_count = 0;
    printf("%.1f s: meter line: client %s\n", t, why);
    fflush(stdout);
}

/* Bytes from the client: onto the line. */
static void line_receive(struct site *site, struct meter_line *line, fd_set *all, double now) {
    if (line->received_length == LINE_BUFFER) { /* a stream of noise with 68s in it: keep the newer half */
        memmove(line->received, line->received + LINE_BUFFER / 2, LINE_BUFFER / 2);
        line->received_length = LINE_BUFFER / 2;
    }
    ssize_t n = read(line->client, line->received + line->received_length, LINE_BUFFER - line->received_length);
    if (n <= 0) {
        if (n < 0 && errno == EINTR) return;
        line_drop_client(line, all, "closed", site->sim_t);
        return;
    }
    line->received_length += (size_t)n;
    line->last_byte_at = now;
    line_decode(site, line, now);
}

/* Sends the replies that are off the wire by now; returns the ns until the next one (at most `wait`). */
static int64_t line_send(struct site *site, struct meter_line *line, fd_set *all, double now, int64_t wait) {
    if (line->received_length && now - line->last_byte_at > PARTIAL_FRAME_S) line->received_length = 0;
    while (line->reply_count > 0 && line->replies[0].at <= now) {
        struct pending_reply *reply = &line->replies[0];
        if (send(line->client, reply->bytes, reply->length, MSG_NOSIGNAL) != (ssize_t)reply->length) {
            line_drop_client(line, all, "lost", site->sim_t);
            return wait;
        }
        line->reply_count--;
        memmove(&line->replies[0], &line->replies[1], (size_t)line->reply_count * sizeof line->replies[0]);
    }
    if (line->reply_count > 0) {
        int64_t until = (int64_t)((line->replies[0].at - now) * 1e9) + 1;
        if (until < wait) wait = until;
    }
    return wait;
}

static int listen_tcp(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int yes = 1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) != 0 ||
        bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 4) != 0) {
        fprintf(stderr, "site_simulator: meter line port %d: %s\n", port, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

static int listen_on(modbus_t *ctx) {
    int fd = modbus_tcp_listen(ctx, 8);
    if (fd < 0) fprintf(stderr, "site_simulator: listen: %s\n", modbus_strerror(errno));
    return fd;
}

static const char usage[] =
    "usage: site_simulator [--meter-port P] [--greenhouse-port P] [--meter-line-port P] [--meter-line-baud B]\n"
    "                      [--gpio-dir DIR] [--seconds N] [--time-scale K] [--start-hour H] [--scenario FILE]\n"
    "                      [--control PATH] [--no-air-dropouts]\n";

static const char help[] =
    "Plays a simulated greenhouse site on 127.0.0.1 for EdgeCore (examples/site-simulated.yaml).\n"
    "  --meter-port P        the SDM630-style energy meter's Modbus TCP port (default 15020)\n"
    "  --greenhouse-port P   the greenhouse's Modbus TCP port: unit 1 sensors, coils; unit 2 the CO2 sensor\n"
    "                        (default 15021)\n"
    "  --meter-line-port P   the RS-485 line with the DL/T 645 and CJ/T 188 meters (default 15022)\n"
    "  --meter-line-baud B   its simulated wire speed, 8E1; 0: no wire time (default 9600)\n"
    "  --gpio-dir DIR        the simulated GPIO chip sim:DIR (default /tmp/edgecore-site-gpio)\n"
    "  --seconds N           exit after N real seconds (default 3600)\n"
    "  --time-scale K        the greenhouse's physics runs K simulated seconds per real second, 0 < K <= 3600\n"
    "                        (default 1; 60: an hour a minute; the flow meter keeps up to K = 200)\n"
    "  --start-hour H        the simulated time of day at the start, 0..24 (default 10)\n"
    "  --scenario FILE       faults and settings at simulated times, one a line (docs/simulated-site.md):\n"
    "                        at T soil_sentinel|co2_silent|air_sentinel|tank_empty|flow_meter_stopped on|off,\n"
    "                        at T valve_stuck open|closed|off, at T set soil_moisture|soil_ec|tank_level|\n"
    "                        air_temperature VALUE; T in s, or with s, m or h; '#' starts a comment\n"
    "  --control PATH        a FIFO (made if missing) taking the same commands at any time; without 'at T' (or\n"
    "                        with 'in T') they are taken now (or T from now)\n"
    "  --no-air-dropouts     the air sensor never sends its 'not connected' value 0x7FFF by itself (by default\n"
    "                        it does from 10 s to 16 s of every 30 s of real time)\n"
    "Prints READY when the ports listen and the chip is in place, then one line per event, starting with the\n"
    "simulated time: \"T s: what\" (valves, pumps, the fan, the water, the tank, faults, meter-line clients).\n"
    "Exits 0 on SIGTERM/SIGINT or after N seconds; 2 on a bad option or scenario file (FILE:LINE: reason).\n";

/* A number from min to max (or -1 when it is not one). */
static double number_option(const char *text, double min, double max) {
    char *end;
    double value = strtod(text, &end);
    return end != text && !*end && value >= min && value <= max ? value : -1;
}

int main(int argc, char **argv) {
    int meter_port = 15020, greenhouse_port = 15021, line_port = 15022, air_dropouts = 1;
    double seconds = 3600, baud = 9600, time_scale = 1, start_hour = 10;
    const char *gpio_dir = "/tmp/edgecore-site-gpio", *scenario = NULL, *control_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *option = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        double number = 0;
        if (!strcmp(option, "--help")) {
            fputs(usage, stdout);
            fputs(help, stdout);
            return 0;
        }
        if (!strcmp(option, "--no-air-dropouts")) {
            air_dropouts = 0;
            continue;
        }
        static const char *const with_value[] = {"--meter-port", "--greenhouse-port", "--meter-line-port",
                                                 "--meter-line-baud", "--seconds", "--gpio-dir", "--time-scale",
                                                 "--start-hour", "--scenario", "--control"};
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) known |= !strcmp(option, with_value[k]);
        if (!known) {
            fprintf(stderr, "site_simulator: unknown option '%s'\n%s", option, usage);
            return 2;
        }
        if (!value) {
            fprintf(stderr, "site_simulator: %s wants a value\n%s", option, usage);
            return 2;
        }
        i++;
        const char *expected = NULL;
        if (strstr(option, "-port")) {
            if ((number = number_option(value, 1, 65535)) < 0 || number != floor(number)) expected = "a port 1..65535";
            else if (!strcmp(option, "--meter-port")) meter_port = (int)number;
            else if (!strcmp(option, "--greenhouse-port")) greenhouse_port = (int)number;
            else line_port = (int)number;
        } else if (!strcmp(option, "--meter-line-baud")) {
            if ((baud = number_option(value, 0, 1e7)) < 0) expected = "a baud rate (0: no wire time)";
        } else if (!strcmp(option, "--seconds")) {
            if ((seconds = number_option(value, 0, 1e9)) < 0) expected = "a number of seconds";
        } else if (!strcmp(option, "--time-scale")) {
            if ((time_scale = number_option(value, 1e-6, 3600)) < 0) expected = "a number 0 < K <= 3600";
        } else if (!strcmp(option, "--start-hour")) {
            if ((start_hour = number_option(value, 0, 24)) < 0) expected = "an hour 0..24";
        } else if (!strcmp(option, "--gpio-dir")) {
            gpio_dir = value;
        } else if (!strcmp(option, "--scenario")) {
            scenario = value;
        } else {
            control_path = value;
        }
        if (expected) {
            fprintf(stderr, "site_simulator: %s '%s': expected %s\n", option, value, expected);
            return 2;
        }
    }
    if (scenario && read_scenario(scenario) != 0) return 2;
    struct control control = {.fd = -1};
    if (control_path) {
        struct stat info;
        if (lstat(control_path, &info) == 0 && !S_ISFIFO(info.st_mode)) {
            fprintf(stderr, "site_simulator: --control %s: exists and is not a FIFO\n", control_path);
            return 2;
        }
        if (mkfifo(control_path, 0600) != 0 && errno != EEXIST) {
            fprintf(stderr, "site_simulator: --control %s: %s\n", control_path, strerror(errno));
            return 2;
        }
        control.fd = open(control_path, O_RDWR | O_NONBLOCK | O_CLOEXEC); /* never sees a hang-up */
        if (control.fd < 0 || control.fd >= FD_SETSIZE) {
            fprintf(stderr, "site_simulator: --control %s: %s\n", control_path, strerror(errno));
            return 2;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    struct site site = {0};
    site.meter = modbus_mapping_new(0, 0, 0, 0x160);
    site.greenhouse = modbus_mapping_new(3, 0, 0, 11);
    site.co2 = modbus_mapping_new(0, 0, 0, 1);
    site.started = site.last_update = now_seconds();
    site.energy_kwh = 15872.25;
    site.time_scale = time_scale;
    site.start_hour = start_hour;
    site.air_dropouts = air_dropouts;
    site.soil_moisture = 30.0; /* the greenhouse at the start */
    site.soil_ec = 1.8;
    site.air_c = 22.0;
    site.humidity = 70.0;
    site.co2_ppm = 600.0;
    site.soil_c = 19.0;
    site.tank_litres = 0.8 * TANK_LITRES;
    site.pump_on = 1;
    site.flow_last_ns = monotonic_ns();
    site.s0_energy_start = site.energy_kwh;
    site.measured_second = -1;
    site.tariff_kwh[0] = 3120.47; /* the DL/T 645 meter's counters at the start, kWh */
    site.tariff_kwh[1] = 14876.02;
    site.tariff_kwh[2] = 19933.58;
    site.tariff_kwh[3] = 10283.15;
    site.reverse_kwh = 12.34;
    site.water_m3 = 1302.47; /* the water meter's, m3 */
    site.water_settlement_m3 = 1268.90;
    if (gpio_open(gpio_dir, site.lines) != 0) {
        fprintf(stderr, "site_simulator: gpio chip in %s: %s\n", gpio_dir, strerror(errno));
        return 1;
    }
    modbus_t *meter = modbus_new_tcp("127.0.0.1", meter_port);
    modbus_t *greenhouse = modbus_new_tcp("127.0.0.1", greenhouse_port);
    if (!site.meter || !site.greenhouse || !site.co2 || !meter || !greenhouse) {
        fprintf(stderr, "site_simulator: out of memory\n");
        return 1;
    }
    site.greenhouse->tab_bits[1] = 1; /* the main pump runs at start */
    update(&site);
    int listeners[2] = {listen_on(meter), listen_on(greenhouse)};
    if (listeners[0] < 0 || listeners[1] < 0) return 1;
    struct meter_line line = {.listener = listen_tcp(line_port), .client = -1,
                              .char_seconds = baud > 0 ? 11.0 / baud : 0};
    if (line.listener < 0 || line.listener >= FD_SETSIZE) return 1;
    printf("READY meter 127.0.0.1:%d greenhouse 127.0.0.1:%d meter-line 127.0.0.1:%d gpio sim:%s time-scale %g\n",
           meter_port, greenhouse_port, line_port, gpio_dir, time_scale);
    fflush(stdout);

    /* client fd -> which server (0 meter, 1 greenhouse), -1 unused */
    int owner[FD_SETSIZE];
    for (int i = 0; i < FD_SETSIZE; i++) owner[i] = -1;
    fd_set all;
    FD_ZERO(&all);
    FD_SET(listeners[0], &all);
    FD_SET(listeners[1], &all);
    FD_SET(line.listener, &all);
    int highest = listeners[0] > listeners[1] ? listeners[0] : listeners[1];
    if (line.listener > highest) highest = line.listener;
    if (control.fd >= 0) {
        FD_SET(control.fd, &all);
        if (control.fd > highest) highest = control.fd;
    }
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
            if (fd == line.listener) {
                int client = accept(fd, NULL, NULL);
                if (client < 0) continue;
                if (client >= FD_SETSIZE) {
                    close(client);
                    continue;
                }
                double t = site.sim_t;
                if (line.client >= 0) line_drop_client(&line, &all, "replaced by a new one", t);
                line.client = client;
                FD_SET(client, &all);
                if (client > highest) highest = client;
                printf("%.1f s: meter line: client connected\n", t);
                fflush(stdout);
                continue;
            }
            if (fd == control.fd) {
                control_read(&site, &control);
                wait = update(&site); /* what is due now, taken before the next request is answered */
                continue;
            }
            if (fd == line.client) {
                line_receive(&site, &line, &all, now_seconds());
                continue;
            }
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
            int unit = length > 6 ? query[6] : 0; /* MBAP: the unit identifier follows the 6-byte header */
            if (owner[fd] == 1 && unit == 2) map = site.co2;
            if (length > 0 && map == site.co2 && site.fault.co2_silent) {
                /* the CO2 sensor is silent: its requests time out */
            } else if (length > 0) {
                modbus_reply(ctx, query, length, map);
            } else if (length < 0) {
                close(fd);
                FD_CLR(fd, &all);
                owner[fd] = -1;
            }
        }
        wait = line_send(&site, &line, &all, now_seconds(), wait);
    }
    for (int fd = 0; fd <= highest; fd++)
        if (owner[fd] >= 0) close(fd);
    close(listeners[0]);
    close(listeners[1]);
    if (line.client >= 0) close(line.client);
    close(line.listener);
    modbus_free(meter);
    modbus_free(greenhouse);
    modbus_mapping_free(site.meter);
    modbus_mapping_free(site.greenhouse);
    modbus_mapping_free(site.co2);
    for (int i = 0; i < LINE_COUNT; i++) {
        close(site.lines[i].value_fd);
        if (site.lines[i].edges_fd >= 0) close(site.lines[i].edges_fd);
    }
    if (control.fd >= 0) {
        close(control.fd);
        unlink(control_path);
    }
    printf("%.1f s: stopped; %lld S0 impulses sent; %llu flow meter pulses; meter line: %llu frames answered, "
           "%llu not\n",
           site.sim_t, site.s0_emitted, site.flow_pulses, line.answered, line.unanswered);
    return 0;
}
