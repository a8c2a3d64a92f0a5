/* GPIO through EdgeCore's simulated chip ("sim:DIR", include/edgecore.h), which the main job's site
 * simulator plays: the whole GPIO path of the engine (worker, pulse counting, debounce, lost events,
 * outputs and their safe state, checkpoints, YAML) on any machine, natively and under qemu-user. The same
 * engine against a real kernel's GPIO character device is Tests/GPIO (gpio-sim in a VM). This file plays
 * the hardware: it writes the level files and the edge FIFOs. */
#include "cabi_test.h"

#include <fcntl.h>
#include <sys/stat.h>

static int contains(const char *text, const char *part) { return text && strstr(text, part) != NULL; }

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A chip folder: lines "in0" (input), "out1" (output), "s0" (pulses), "rain" (pulses). */
enum { IN0, OUT1, S0, RAIN, LINES };

struct chip {
    char dir[64];
    char spec[80]; /* "sim:DIR" */
    int edges[LINES];
    uint32_t sequence[LINES];
};

static void put(const char *dir, const char *file, const char *text) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void get(const struct chip *chip, int line, char *text, size_t size) {
    char path[128];
    snprintf(path, sizeof path, "%s/%d.value", chip->dir, line);
    memset(text, 0, size);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    if (!fgets(text, (int)size, f)) text[0] = '\0';
    fclose(f);
}

static int make_chip(struct chip *chip) {
    memset(chip, 0, sizeof *chip);
    strcpy(chip->dir, "/tmp/edgecore-gpiosim-XXXXXX");
    if (!mkdtemp(chip->dir)) return -1;
    snprintf(chip->spec, sizeof chip->spec, "sim:%s", chip->dir);
    put(chip->dir, "lines", "in0\nout1\ns0\nrain\n");
    for (int i = 0; i < LINES; i++) {
        char file[32], path[128];
        snprintf(file, sizeof file, "%d.value", i);
        put(chip->dir, file, "0\n");
        chip->edges[i] = -1;
        if (i == OUT1) continue;
        snprintf(path, sizeof path, "%s/%d.edges", chip->dir, i);
        if (mkfifo(path, 0600) != 0) return -1;
        chip->edges[i] = open(path, O_RDWR | O_NONBLOCK);
        if (chip->edges[i] < 0) return -1;
    }
    return 0;
}

static void remove_chip(struct chip *chip) {
    char command[160];
    for (int i = 0; i < LINES; i++)
        if (chip->edges[i] >= 0) close(chip->edges[i]);
    snprintf(command, sizeof command, "rm -rf '%s'", chip->dir);
    CHECK_EQ(system(command), 0);
}

/* One edge record; returns 1 if the FIFO took it. `skip` sequence numbers are left out first (lost). */
static int edge(struct chip *chip, int line, int level, int64_t at, uint32_t skip) {
    unsigned char record[16];
    uint32_t physical = (uint32_t)level;
    chip->sequence[line] += 1 + skip;
    memcpy(record, &at, 8);
    memcpy(record + 8, &physical, 4);
    memcpy(record + 12, &chip->sequence[line], 4);
    return write(chip->edges[line], record, sizeof record) == (ssize_t)sizeof record;
}

static uint32_t add_chip(struct edgecore_engine *engine, const char *spec, const char *checkpoint) {
    struct edgecore_gpio_chip_config config;
    edgecore_gpio_chip_config_init(&config);
    config.name = "sim";
    config.chip = spec;
    config.checkpoint_path = checkpoint;
    uint32_t id = 99;
    CHECK_EQ(edgecore_engine_add_gpio_chip(engine, &config, &id), EDGECORE_OK);
    return id;
}

static uint32_t add_line(struct edgecore_engine *engine, uint32_t bus, const char *name, const char *line_name,
                         uint32_t offset, uint8_t kind, void (*tune)(struct edgecore_gpio_line_config *)) {
    struct edgecore_gpio_line_config config;
    edgecore_gpio_line_config_init(&config);
    config.name = name;
    config.line_name = line_name;
    config.offset = offset;
    config.bus = bus;
    config.kind = kind;
    config.interval_ms = 20;
    if (tune) tune(&config);
    uint32_t id = 99;
    int rc = edgecore_engine_add_gpio_line(engine, &config, &id);
    CHECK_EQ(rc, EDGECORE_OK);
    if (rc != EDGECORE_OK) fprintf(stderr, "  %s\n", edgecore_engine_last_error());
    return id;
}

static struct edgecore_engine *make_engine(void) {
    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
    return engine;
}

/* Waits (at most 5 s) until the pulse counter of `channel` has counted `count`. */
static struct edgecore_pulse_stats wait_count(struct edgecore_engine *engine, uint32_t channel, uint64_t count) {
    struct edgecore_pulse_stats stats;
    memset(&stats, 0, sizeof stats);
    int64_t end = cabi_monotonic_ms() + 5000;
    while (cabi_monotonic_ms() < end) {
        CHECK_EQ(edgecore_engine_pulse_stats(engine, channel, &stats), EDGECORE_OK);
        if (stats.count >= count) break;
        cabi_sleep_ms(1);
    }
    return stats;
}

/* The latest reading of `channel` among those waiting (drains them all); status 0xFFFF if none. */
static struct edgecore_reading latest(struct edgecore_engine *engine, uint32_t channel, int wait_ms) {
    struct edgecore_reading found, batch[64];
    memset(&found, 0, sizeof found);
    found.status = 0xFFFF;
    int64_t end = cabi_monotonic_ms() + wait_ms;
    do {
        edgecore_engine_wait(engine, 10);
        int n;
        while ((n = edgecore_engine_drain(engine, batch, 64)) > 0)
            for (int i = 0; i < n; i++)
                if (batch[i].channel == channel) found = batch[i];
    } while (cabi_monotonic_ms() < end);
    return found;
}

static void sim_chip_errors(void) {
    struct chip chip;
    CHECK_EQ(make_chip(&chip), 0);
    /* A missing folder: -ENOENT naming it. */
    struct edgecore_engine *engine = make_engine();
    add_line(engine, add_chip(engine, "sim:/tmp/edgecore-no-such-chip", NULL), "a", NULL, 0, EDGECORE_GPIO_INPUT,
             NULL);
    CHECK_EQ(edgecore_engine_start(engine), -ENOENT);
    CHECK(contains(edgecore_engine_last_error(), "/tmp/edgecore-no-such-chip/lines"));
    edgecore_engine_destroy(engine);
    /* An offset past the chip's lines. */
    engine = make_engine();
    add_line(engine, add_chip(engine, chip.spec, NULL), "a", NULL, 9, EDGECORE_GPIO_INPUT, NULL);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "no line 9 (the chip has 4)"));
    edgecore_engine_destroy(engine);
    /* A line name the chip does not have. */
    engine = make_engine();
    add_line(engine, add_chip(engine, chip.spec, NULL), "a", "valve-9", 0, EDGECORE_GPIO_OUTPUT, NULL);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "no line named 'valve-9'"));
    edgecore_engine_destroy(engine);
    /* A line in use by another engine: -EBUSY, as on a real chip. */
    struct edgecore_engine *holder = make_engine();
    add_line(holder, add_chip(holder, chip.spec, NULL), "a", "out1", 0, EDGECORE_GPIO_OUTPUT, NULL);
    CHECK_EQ(edgecore_engine_start(holder), EDGECORE_OK);
    engine = make_engine();
    add_line(engine, add_chip(engine, chip.spec, NULL), "b", NULL, OUT1, EDGECORE_GPIO_INPUT, NULL);
    CHECK_EQ(edgecore_engine_start(engine), -EBUSY);
    CHECK(contains(edgecore_engine_last_error(), ", line 1: "));
    edgecore_engine_destroy(holder); /* releases the line */
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    edgecore_engine_destroy(engine);
    /* A pulse line whose edges file is not a FIFO. */
    char path[128];
    snprintf(path, sizeof path, "%s/0.edges", chip.dir);
    close(chip.edges[IN0]);
    chip.edges[IN0] = -1;
    unlink(path);
    put(chip.dir, "0.edges", "");
    engine = make_engine();
    add_line(engine, add_chip(engine, chip.spec, NULL), "a", "in0", 0, EDGECORE_GPIO_PULSES, NULL);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "0.edges is not a FIFO"));
    edgecore_engine_destroy(engine);
    remove_chip(&chip);
}

static void active_low(struct edgecore_gpio_line_config *c) { c->active_low = 1; }
static void pull_up(struct edgecore_gpio_line_config *c) { c->bias = EDGECORE_GPIO_BIAS_PULL_UP; }

static void sim_input_levels(void) {
    struct chip chip;
    CHECK_EQ(make_chip(&chip), 0);
    struct edgecore_engine *engine = make_engine();
    uint32_t bus = add_chip(engine, chip.spec, NULL);
    uint32_t plain = add_line(engine, bus, "plain", "in0", 0, EDGECORE_GPIO_INPUT, NULL);
    uint32_t inverted = add_line(engine, bus, "inverted", "s0", 0, EDGECORE_GPIO_INPUT, active_low);
    uint32_t floating = add_line(engine, bus, "floating", "rain", 0, EDGECORE_GPIO_INPUT, pull_up);
    put(chip.dir, "0.value", "1\n");
    put(chip.dir, "2.value", "1\n");
    put(chip.dir, "3.value", ""); /* nothing drives it: the pull-up decides */
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    struct edgecore_reading r = latest(engine, plain, 100);
    CHECK_EQ(r.status, EDGECORE_STATUS_OK);
    CHECK(r.value == 1.0);
    put(chip.dir, "0.value", "0\n");
    put(chip.dir, "2.value", "0\n");
    r = latest(engine, inverted, 100);
    CHECK_EQ(r.status, EDGECORE_STATUS_OK);
    CHECK(r.value == 1.0); /* physical low reads 1 */
    put(chip.dir, "2.value", "1\n");
    put(chip.dir, "0.value", "1\n");
    cabi_sleep_ms(60);
    struct edgecore_reading batch[256];
    int n = edgecore_engine_drain(engine, batch, 256);
    int seen_plain = 0, seen_inverted = 0, seen_floating = 0;
    for (int i = 0; i < n; i++) {
        if (batch[i].channel == plain) seen_plain = batch[i].value == 1.0 ? 1 : -1;
        if (batch[i].channel == inverted) seen_inverted = batch[i].value == 0.0 ? 1 : -1;
        if (batch[i].channel == floating) seen_floating = batch[i].value == 1.0 ? 1 : -1;
    }
    CHECK_EQ(seen_plain, 1);
    CHECK_EQ(seen_inverted, 1);
    CHECK_EQ(seen_floating, 1);
    /* A level file that says neither 0 nor 1: a disconnected reading carrying EIO, never a trap. */
    put(chip.dir, "0.value", "x\n");
    r = latest(engine, plain, 100);
    CHECK_EQ(r.status, EDGECORE_STATUS_DISCONNECTED);
    CHECK_EQ(r.status_detail, EIO);
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    edgecore_engine_destroy(engine);
    remove_chip(&chip);
}

static void safe_on(struct edgecore_gpio_line_config *c) {
    c->safe_state = 1;
    c->writable = 1;
}
static void inverted_relay(struct edgecore_gpio_line_config *c) {
    c->active_low = 1;
    c->writable = 1;
}

static void sim_outputs_and_safe_state(void) {
    struct chip chip;
    CHECK_EQ(make_chip(&chip), 0);
    struct edgecore_engine *engine = make_engine();
    uint32_t bus = add_chip(engine, chip.spec, NULL);
    uint32_t valve = add_line(engine, bus, "valve", "out1", 0, EDGECORE_GPIO_OUTPUT, safe_on);
    uint32_t relay = add_line(engine, bus, "relay", NULL, S0, EDGECORE_GPIO_OUTPUT, inverted_relay);
    uint32_t fixed = add_line(engine, bus, "fixed", NULL, RAIN, EDGECORE_GPIO_OUTPUT, NULL);
    char text[8];
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    get(&chip, OUT1, text, sizeof text);
    CHECK_STR(text, "1\n"); /* safe state at start */
    get(&chip, S0, text, sizeof text);
    CHECK_STR(text, "1\n"); /* logical 0, active low */
    CHECK_EQ(edgecore_engine_write(engine, valve, 0, 1000), EDGECORE_OK);
    get(&chip, OUT1, text, sizeof text);
    CHECK_STR(text, "0\n");
    CHECK_EQ(edgecore_engine_write(engine, relay, 1, 1000), EDGECORE_OK);
    get(&chip, S0, text, sizeof text);
    CHECK_STR(text, "0\n");
    CHECK_EQ(edgecore_engine_write(engine, fixed, 1, 1000), EDGECORE_E_NOT_WRITABLE);
    struct edgecore_reading r = latest(engine, valve, 50);
    CHECK_EQ(r.status, EDGECORE_STATUS_OK);
    CHECK(r.value == 0.0);
    /* Stop: back to the safe state, and held there until destroy. */
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    get(&chip, OUT1, text, sizeof text);
    CHECK_STR(text, "1\n");
    get(&chip, S0, text, sizeof text);
    CHECK_STR(text, "1\n");
    r = latest(engine, valve, 0);
    CHECK_EQ(r.status, EDGECORE_STATUS_OK);
    CHECK(r.value == 1.0); /* the change at stop is a reading */
    struct edgecore_engine *other = make_engine();
    add_line(other, add_chip(other, chip.spec, NULL), "valve", "out1", 0, EDGECORE_GPIO_OUTPUT, NULL);
    CHECK_EQ(edgecore_engine_start(other), -EBUSY); /* still held */
    edgecore_engine_destroy(engine);
    CHECK_EQ(edgecore_engine_start(other), EDGECORE_OK);
    edgecore_engine_destroy(other);
    remove_chip(&chip);
}

static void meter_constant(struct edgecore_gpio_line_config *c) {
    c->scale = 1.0 / 1000; /* 1000 impulses per kWh */
    c->base = 100.0;
    c->interval_ms = 50;
}

/* 10,000 S0 impulses (20,000 edges) in bursts the FIFO holds, each burst counted before the next: exact
 * count, last edge time and total; no loss, nothing rejected. */
static void sim_pulses_counted_exactly(void) {
    struct chip chip;
    CHECK_EQ(make_chip(&chip), 0);
    struct edgecore_engine *engine = make_engine();
    uint32_t meter = add_line(engine, add_chip(engine, chip.spec, NULL), "meter", "s0", 0, EDGECORE_GPIO_PULSES,
                              meter_constant);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    int64_t t = monotonic_ns(), last_rise = 0;
    int refused = 0;
    for (int burst = 0; burst < 40; burst++) {
        for (int i = 0; i < 250; i++) {
            last_rise = t;
            refused += !edge(&chip, S0, 1, t, 0);
            refused += !edge(&chip, S0, 0, t + 30000, 0);
            t += 60000;
        }
        wait_count(engine, meter, (uint64_t)(burst + 1) * 250);
    }
    CHECK_EQ(refused, 0);
    struct edgecore_pulse_stats stats = wait_count(engine, meter, 10000);
    CHECK_EQ(stats.count, 10000);
    CHECK_EQ(stats.rejected, 0);
    CHECK_EQ(stats.lost, 0);
    CHECK_EQ(stats.last_edge_ns, last_rise);
    CHECK(stats.total > 109.999 && stats.total < 110.001);
    struct edgecore_reading r = latest(engine, meter, 120);
    CHECK_EQ(r.status, EDGECORE_STATUS_OK);
    CHECK(r.value > 109.999 && r.value < 110.001);
    edgecore_engine_destroy(engine);
    remove_chip(&chip);
}

static void reed_contact(struct edgecore_gpio_line_config *c) {
    c->debounce_us = 5000;
    c->scale = 0.2;
    c->interval_ms = 50;
}

/* A reed contact's bounce (edges 0.2 ms apart) is rejected; tips whose level holds 80 ms count. */
static void sim_debounce(void) {
    struct chip chip;
    CHECK_EQ(make_chip(&chip), 0);
    struct edgecore_engine *engine = make_engine();
    uint32_t rain = add_line(engine, add_chip(engine, chip.spec, NULL), "rain", "rain", 0, EDGECORE_GPIO_PULSES,
                             reed_contact);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    /* Timestamps from 1 s ahead: however the worker's reads split them, no level is taken as held because
     * the clock passed it before the next edge was read (the timestamps alone decide). */
    int64_t t = monotonic_ns() + 1000000000;
    for (int tip = 0; tip < 20; tip++) {
        edge(&chip, RAIN, 1, t, 0);
        edge(&chip, RAIN, 0, t + 200000, 0); /* bounce */
        edge(&chip, RAIN, 1, t + 400000, 0);
        edge(&chip, RAIN, 0, t + 80000000, 0);
        t += 90000000;
    }
    /* A lone glitch: 1 ms high, shorter than the debounce. */
    edge(&chip, RAIN, 1, t, 0);
    edge(&chip, RAIN, 0, t + 1000000, 0);
    struct edgecore_pulse_stats stats = wait_count(engine, rain, 20);
    cabi_sleep_ms(50); /* let a wrongly counted glitch show */
    CHECK_EQ(edgecore_engine_pulse_stats(engine, rain, &stats), EDGECORE_OK);
    CHECK_EQ(stats.count, 20);
    CHECK_EQ(stats.rejected, 21);
    CHECK(stats.total > 3.999 && stats.total < 4.001);
    edgecore_engine_destroy(engine);
    remove_chip(&chip);
}

/* A jump in the sequence numbers: counted as lost, and the next reading says EVENTS_LOST. */
static void sim_lost_events(void) {
    struct chip chip;
    CHECK_EQ(make_chip(&chip), 0);
    struct edgecore_engine *engine = make_engine();
    uint32_t meter = add_line(engine, add_chip(engine, chip.spec, NULL), "meter", "s0", 0, EDGECORE_GPIO_PULSES,
                              meter_constant);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    int64_t t = monotonic_ns();
    for (int i = 0; i < 10; i++, t += 100000) edge(&chip, S0, i % 2 == 0, t, 0);
    wait_count(engine, meter, 5);
    struct edgecore_reading r = latest(engine, meter, 120);
    CHECK_EQ(r.status, EDGECORE_STATUS_OK);
    edge(&chip, S0, 1, t, 7); /* 7 edges the "kernel" dropped */
    edge(&chip, S0, 0, t + 100000, 0);
    struct edgecore_pulse_stats stats = wait_count(engine, meter, 6);
    CHECK_EQ(stats.count, 6);
    CHECK_EQ(stats.lost, 7);
    /* The first report after the loss says so; the ones after it are ok again. */
    int64_t end = cabi_monotonic_ms() + 150;
    int lost_readings = 0, last_status = -1;
    struct edgecore_reading batch[64];
    while (cabi_monotonic_ms() < end) {
        edgecore_engine_wait(engine, 10);
        int n = edgecore_engine_drain(engine, batch, 64);
        for (int i = 0; i < n; i++) {
            if (batch[i].channel != meter) continue;
            lost_readings += batch[i].status == EDGECORE_STATUS_EVENTS_LOST;
            last_status = batch[i].status;
        }
    }
    CHECK_EQ(lost_readings, 1);
    CHECK_EQ(last_status, EDGECORE_STATUS_OK);
    edgecore_engine_destroy(engine);
    remove_chip(&chip);
}

/* Counts survive a restart through the checkpoint file; edges written before a start are not counted. */
static void sim_checkpoint_resume(void) {
    struct chip chip;
    CHECK_EQ(make_chip(&chip), 0);
    char checkpoint[128];
    snprintf(checkpoint, sizeof checkpoint, "%s/pulses.checkpoint", chip.dir);
    for (int run = 1; run <= 2; run++) {
        struct edgecore_engine *engine = make_engine();
        uint32_t meter = add_line(engine, add_chip(engine, chip.spec, checkpoint), "meter", "s0", 0,
                                  EDGECORE_GPIO_PULSES, meter_constant);
        int64_t t = monotonic_ns();
        edge(&chip, S0, 1, t, 0); /* before the start: not counted */
        edge(&chip, S0, 0, t + 1000, 0);
        CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
        t = monotonic_ns();
        for (int i = 0; i < 100; i++, t += 100000) edge(&chip, S0, i % 2 == 0, t, 0);
        struct edgecore_pulse_stats stats = wait_count(engine, meter, (uint64_t)run * 50);
        CHECK_EQ(stats.count, (uint64_t)run * 50);
        CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
        edgecore_engine_destroy(engine);
    }
    FILE *f = fopen(checkpoint, "r");
    CHECK(f != NULL);
    if (f) {
        char line[64] = "";
        CHECK(fgets(line, sizeof line, f) != NULL);
        CHECK_STR(line, "meter\t100\n");
        fclose(f);
    }
    remove_chip(&chip);
}

/* The same site from YAML and from setters: the same plan. YAML errors name file, line and field. */
static void sim_yaml_site(void) {
    struct chip chip;
    CHECK_EQ(make_chip(&chip), 0);
    char yaml[1024], path[128];
    snprintf(yaml, sizeof yaml,
             "buses:\n"
             "  - name: sim\n"
             "    type: gpio\n"
             "    chip: \"%s\"\n"
             "    event_buffer_size: 256\n"
             "    lines:\n"
             "      - {name: meter, line_name: s0, kind: pulses, edge: both, debounce_us: 300, scale: 0.5,\n"
             "         base: 2, unit: kWh, interval_ms: 20}\n"
             "      - {name: valve, offset: 1, kind: output, writable: true, safe_state: 1, interval_ms: 20}\n"
             "      - {name: door, offset: 0, bias: pull_down, active_low: yes, interval_ms: 20}\n",
             chip.spec);
    snprintf(path, sizeof path, "%s/site.yaml", chip.dir);
    put(chip.dir, "site.yaml", yaml);
    struct edgecore_engine *from_yaml = make_engine();
    CHECK_EQ(edgecore_engine_load_yaml(from_yaml, path), EDGECORE_OK);

    struct edgecore_engine *from_setters = make_engine();
    struct edgecore_gpio_chip_config bus;
    edgecore_gpio_chip_config_init(&bus);
    bus.name = "sim";
    bus.chip = chip.spec;
    bus.event_buffer_size = 256;
    CHECK_EQ(edgecore_engine_add_gpio_chip(from_setters, &bus, NULL), EDGECORE_OK);
    struct edgecore_gpio_line_config line;
    edgecore_gpio_line_config_init(&line);
    line.name = "meter", line.line_name = "s0", line.kind = EDGECORE_GPIO_PULSES, line.edge = EDGECORE_GPIO_EDGE_BOTH;
    line.debounce_us = 300, line.scale = 0.5, line.base = 2, line.unit = "kWh", line.interval_ms = 20;
    CHECK_EQ(edgecore_engine_add_gpio_line(from_setters, &line, NULL), EDGECORE_OK);
    edgecore_gpio_line_config_init(&line);
    line.name = "valve", line.offset = 1, line.kind = EDGECORE_GPIO_OUTPUT, line.writable = 1, line.safe_state = 1;
    line.interval_ms = 20;
    CHECK_EQ(edgecore_engine_add_gpio_line(from_setters, &line, NULL), EDGECORE_OK);
    edgecore_gpio_line_config_init(&line);
    line.name = "door", line.offset = 0, line.bias = EDGECORE_GPIO_BIAS_PULL_DOWN, line.active_low = 1;
    line.interval_ms = 20;
    CHECK_EQ(edgecore_engine_add_gpio_line(from_setters, &line, NULL), EDGECORE_OK);

    char plan_yaml[2048], plan_setters[2048];
    CHECK(edgecore_engine_plan(from_yaml, plan_yaml, sizeof plan_yaml) > 0);
    CHECK(edgecore_engine_plan(from_setters, plan_setters, sizeof plan_setters) > 0);
    CHECK_STR(plan_yaml, plan_setters);
    CHECK(contains(plan_yaml, "line 's0': meter, pulse counter"));
    /* The YAML site runs: the door reads 1 (physical 0, active low), the valve starts at its safe state. */
    CHECK_EQ(edgecore_engine_start(from_yaml), EDGECORE_OK);
    uint32_t door = 99;
    CHECK_EQ(edgecore_engine_find_channel(from_yaml, "door", &door), EDGECORE_OK);
    struct edgecore_reading r = latest(from_yaml, door, 60);
    CHECK_EQ(r.status, EDGECORE_STATUS_OK);
    CHECK(r.value == 1.0);
    char text[8];
    get(&chip, OUT1, text, sizeof text);
    CHECK_STR(text, "1\n");
    edgecore_engine_destroy(from_yaml);
    edgecore_engine_destroy(from_setters);

    static const struct {
        const char *line_text, *message;
    } bad[] = {
        {"      - {name: x, kind: output}\n", "channel 'x': give the line by 'offset' or by 'line_name'"},
        {"      - {name: x, offset: 1, line_name: s0}\n", "channel 'x': give the line by 'offset' or by 'line_name'"},
        {"      - {name: x, offset: 1, kind: relay}\n", "field 'kind': unknown line kind 'relay'"},
        {"      - {name: x, offset: 1, edge: up}\n", "field 'edge': unknown edge 'up'"},
        {"      - {name: x, offset: 1, bias: strong}\n", "field 'bias': unknown bias 'strong'"},
        {"      - {name: x, offset: 1, safe_state: 2}\n", "field 'safe_state': unknown safe state '2'"},
        {"      - {name: x, offset: 1, writable: true}\n", "only output lines can be writable"},
        {"      - {name: x, offset: 1, function: coils}\n", "field 'function': unknown key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, "buses:\n  - name: sim\n    type: gpio\n    chip: gpiochip0\n    lines:\n%s",
                 bad[i].line_text);
        put(chip.dir, "site.yaml", yaml);
        struct edgecore_engine *engine = make_engine();
        int rc = edgecore_engine_load_yaml(engine, path);
        CHECK(rc == EDGECORE_E_CONFIG_FILE || rc == EDGECORE_E_CONFIG);
        const char *message = edgecore_engine_last_error();
        char where[160];
        snprintf(where, sizeof where, "%s:6: ", path);
        if (!contains(message, where) || !contains(message, bad[i].message)) {
            CHECK(!"the message names file:line and the problem");
            fprintf(stderr, "  got: %s\n", message);
        }
        edgecore_engine_destroy(engine);
    }
    remove_chip(&chip);
}

int main(void) {
    RUN(sim_chip_errors);
    RUN(sim_input_levels);
    RUN(sim_outputs_and_safe_state);
    RUN(sim_pulses_counted_exactly);
    RUN(sim_debounce);
    RUN(sim_lost_events);
    RUN(sim_checkpoint_resume);
    RUN(sim_yaml_site);
    return cabi_finish("test_gpio_sim");
}
