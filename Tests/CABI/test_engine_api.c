/* The engine's C API without a Modbus peer: every documented argument and state error, configuration
 * checks with their last_error messages, the plan text, and a bus nobody answers (disconnected readings). */
#include "cabi_test.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

static int contains(const char *text, const char *part) { return text && strstr(text, part) != NULL; }

static struct edgecore_engine *make_engine(void) {
    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
    return engine;
}

/* One TCP bus on a loopback port nobody listens on, one device, `channels` u16 channels from address 0. */
static struct edgecore_engine *make_site(int channels) {
    struct edgecore_engine *engine = make_engine();
    if (!engine) return NULL;
    struct edgecore_tcp_bus_config bus;
    edgecore_tcp_bus_config_init(&bus);
    bus.name = "plc";
    bus.host = "127.0.0.1";
    bus.port = 1; /* nothing listens on port 1 */
    bus.reconnect_min_ms = 20;
    bus.reconnect_max_ms = 50;
    uint32_t bus_id = 99;
    CHECK_EQ(edgecore_engine_add_tcp_bus(engine, &bus, &bus_id), EDGECORE_OK);
    CHECK_EQ(bus_id, 0);
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = "meter";
    device.bus = bus_id;
    uint32_t device_id = 99;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &device_id), EDGECORE_OK);
    CHECK_EQ(device_id, 0);
    for (int i = 0; i < channels; i++) {
        struct edgecore_channel_config channel;
        edgecore_channel_config_init(&channel);
        char name[32];
        snprintf(name, sizeof name, "ch%d", i);
        channel.name = name;
        channel.unit = "V";
        channel.device = device_id;
        channel.address = (uint16_t)i;
        channel.interval_ms = 50;
        channel.writable = i == 0;
        uint32_t channel_id = 99;
        CHECK_EQ(edgecore_engine_add_channel(engine, &channel, &channel_id), EDGECORE_OK);
        CHECK_EQ(channel_id, (uint32_t)i);
    }
    return engine;
}

static void config_defaults(void) {
    struct edgecore_engine_config engine;
    edgecore_engine_config_init(&engine);
    CHECK_EQ(engine.ring_capacity, 4096);
    CHECK_EQ(engine.overflow, EDGECORE_OVERFLOW_DROP_OLDEST);
    struct edgecore_rtu_bus_config rtu;
    edgecore_rtu_bus_config_init(&rtu);
    CHECK_EQ(rtu.baud, 9600);
    CHECK_EQ(rtu.parity, 'N');
    CHECK_EQ(rtu.data_bits, 8);
    CHECK_EQ(rtu.stop_bits, 1);
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    CHECK_EQ(device.unit_id, 1);
    CHECK_EQ(device.max_registers, 125);
    CHECK_EQ(device.max_bits, 2000);
    CHECK_EQ(device.response_timeout_ms, 500);
    struct edgecore_channel_config channel;
    edgecore_channel_config_init(&channel);
    CHECK_EQ(channel.function, EDGECORE_FC_HOLDING_REGISTERS);
    CHECK_EQ(channel.type, EDGECORE_TYPE_U16);
    CHECK(channel.scale == 1.0 && channel.offset == 0.0);
    CHECK(channel.valid_min != channel.valid_min); /* NaN: no bound */
    CHECK_EQ(channel.interval_ms, 1000);
    edgecore_engine_config_init(NULL); /* NULL does nothing */
    edgecore_channel_config_init(NULL);
}

static void create_and_destroy(void) {
    CHECK_EQ(edgecore_engine_create(NULL, NULL), EDGECORE_E_NULL_POINTER);
    struct edgecore_engine_config config;
    edgecore_engine_config_init(&config);
    config.ring_capacity = 1000;
    struct edgecore_engine *engine = (struct edgecore_engine *)(uintptr_t)1;
    CHECK_EQ(edgecore_engine_create(&config, &engine), EDGECORE_E_INVALID_CAPACITY);
    CHECK(engine == NULL);
    config.ring_capacity = 64;
    config.overflow = (enum edgecore_overflow_policy)5;
    CHECK_EQ(edgecore_engine_create(&config, &engine), EDGECORE_E_INVALID_POLICY);
    edgecore_engine_destroy(NULL);
    engine = make_engine();
    uint32_t buses = 9, devices = 9, channels = 9;
    CHECK_EQ(edgecore_engine_counts(engine, &buses, &devices, &channels), EDGECORE_OK);
    CHECK(buses == 0 && devices == 0 && channels == 0);
    edgecore_engine_destroy(engine);
}

static void null_arguments(void) {
    struct edgecore_engine *engine = make_engine();
    struct edgecore_tcp_bus_config bus;
    edgecore_tcp_bus_config_init(&bus);
    CHECK_EQ(edgecore_engine_add_tcp_bus(NULL, &bus, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_add_tcp_bus(engine, NULL, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_add_tcp_bus(engine, &bus, NULL), EDGECORE_E_NULL_POINTER); /* name, host NULL */
    CHECK(contains(edgecore_engine_last_error(), "name"));
    CHECK_EQ(edgecore_engine_load_yaml(engine, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_find_channel(engine, NULL, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_start(NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_stop(NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_drain(NULL, NULL, 0), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_wait(NULL, 0), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_ring_stats(engine, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_device_stats(engine, 0, NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_write(NULL, 0, 1.0, 0), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_write_registers(engine, 0, 0, NULL, 1, 0), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_plan(engine, NULL, 10), EDGECORE_E_NULL_POINTER);
    edgecore_engine_destroy(engine);
}

static void configuration_errors_name_the_field(void) {
    struct edgecore_engine *engine = make_site(2);
    if (!engine) return;
    struct edgecore_rtu_bus_config rtu;
    edgecore_rtu_bus_config_init(&rtu);
    rtu.name = "line";
    rtu.device = "/dev/ttyEDGECORE-test";
    rtu.baud = 12;
    CHECK_EQ(edgecore_engine_add_rtu_bus(engine, &rtu, NULL), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "'baud'"));
    rtu.baud = 9600;
    rtu.parity = 'X';
    CHECK_EQ(edgecore_engine_add_rtu_bus(engine, &rtu, NULL), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "'parity'"));
    rtu.parity = 'E';
    rtu.name = "plc";
    CHECK_EQ(edgecore_engine_add_rtu_bus(engine, &rtu, NULL), EDGECORE_E_DUPLICATE);

    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = "other";
    device.bus = 7;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_NOT_FOUND);
    device.bus = 0;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_DUPLICATE); /* unit 1 is 'meter' */
    CHECK(contains(edgecore_engine_last_error(), "'meter'"));
    device.unit_id = 2;
    device.max_registers = 126;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "'max_registers'"));

    struct edgecore_channel_config channel;
    edgecore_channel_config_init(&channel);
    channel.name = "bad";
    channel.device = 0;
    channel.type = 42;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "'type'"));
    channel.type = EDGECORE_TYPE_F64;
    channel.address = 65533; /* 4 registers pass 65535 */
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "65535"));
    channel.address = 10;
    channel.function = EDGECORE_FC_INPUT_REGISTERS;
    channel.writable = 1;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "writable"));
    channel.writable = 0;
    channel.function = 9;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_EQ(edgecore_engine_add_hole(engine, 0, EDGECORE_FC_HOLDING_REGISTERS, 1, 1), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "ch1")); /* a channel reads there */
    CHECK_EQ(edgecore_engine_add_hole(engine, 5, EDGECORE_FC_HOLDING_REGISTERS, 1, 1), EDGECORE_E_NOT_FOUND);

    /* failed calls changed nothing */
    uint32_t buses, devices, channels;
    CHECK_EQ(edgecore_engine_counts(engine, &buses, &devices, &channels), EDGECORE_OK);
    CHECK(buses == 1 && devices == 1 && channels == 2);
    edgecore_engine_destroy(engine);
}

static void yaml_errors_name_file_line_and_field(void) {
    struct edgecore_engine *engine = make_engine();
    char path[] = "/tmp/edgecore-cabi-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    const char *text = "buses:\n"
                       "  - name: line\n"
                       "    type: rtu\n"
                       "    device: /dev/ttyUSB0\n"
                       "    devices:\n"
                       "      - name: sensor\n"
                       "        channels:\n"
                       "          - {name: t, address: 3, type: float}\n";
    CHECK_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    CHECK_EQ(edgecore_engine_load_yaml(engine, path), EDGECORE_E_CONFIG_FILE);
    const char *message = edgecore_engine_last_error();
    CHECK(contains(message, path));
    CHECK(contains(message, ":8:"));
    CHECK(contains(message, "'type'"));
    CHECK(contains(message, "float"));
    uint32_t buses = 9;
    CHECK_EQ(edgecore_engine_counts(engine, &buses, NULL, NULL), EDGECORE_OK);
    CHECK_EQ(buses, 0); /* all or nothing */
    unlink(path);
    CHECK_EQ(edgecore_engine_load_yaml(engine, path), -ENOENT);
    edgecore_engine_destroy(engine);
}

static void lookups_and_info(void) {
    struct edgecore_engine *engine = make_site(3);
    if (!engine) return;
    uint32_t id = 99;
    CHECK_EQ(edgecore_engine_find_channel(engine, "ch2", &id), EDGECORE_OK);
    CHECK_EQ(id, 2);
    CHECK_EQ(edgecore_engine_find_device(engine, "meter", &id), EDGECORE_OK);
    CHECK_EQ(id, 0);
    CHECK_EQ(edgecore_engine_find_bus(engine, "plc", &id), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_find_channel(engine, "ch9", &id), EDGECORE_E_NOT_FOUND);
    CHECK(contains(edgecore_engine_last_error(), "ch9"));
    const char *name = NULL, *unit = NULL;
    uint32_t device = 9;
    CHECK_EQ(edgecore_engine_channel_info(engine, 1, &name, &unit, &device), EDGECORE_OK);
    CHECK_STR(name, "ch1");
    CHECK_STR(unit, "V");
    CHECK_EQ(device, 0);
    CHECK_EQ(edgecore_engine_channel_info(engine, 3, &name, NULL, NULL), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_channel_writable(engine, 0), 1); /* make_site: ch0 is writable, the others not */
    CHECK_EQ(edgecore_engine_channel_writable(engine, 1), 0);
    CHECK_EQ(edgecore_engine_channel_writable(engine, 3), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_channel_writable(engine, UINT32_MAX), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_channel_writable(NULL, 0), EDGECORE_E_NULL_POINTER);
    uint32_t bus = 9;
    uint8_t unit_id = 9;
    CHECK_EQ(edgecore_engine_device_info(engine, 0, &name, &bus, &unit_id), EDGECORE_OK);
    CHECK_STR(name, "meter");
    CHECK_EQ(bus, 0);
    CHECK_EQ(unit_id, 1);
    CHECK_EQ(edgecore_engine_device_info(engine, 1, &name, NULL, NULL), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_device_info(NULL, 0, NULL, NULL, NULL), EDGECORE_E_NULL_POINTER);
    struct edgecore_device_stats stats;
    CHECK_EQ(edgecore_engine_device_stats(engine, 1, &stats), EDGECORE_E_NOT_FOUND);
    /* ids beyond what a 32-bit int holds: "not found" on every target (armv7's Swift Int is 32 bits) */
    CHECK_EQ(edgecore_engine_device_stats(engine, UINT32_MAX, &stats), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_channel_info(engine, UINT32_MAX, &name, NULL, NULL), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_write(engine, UINT32_MAX, 1.0, 0), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_add_hole(engine, UINT32_MAX, EDGECORE_FC_HOLDING_REGISTERS, 9, 9), EDGECORE_E_NOT_FOUND);
    struct edgecore_device_config device_config;
    edgecore_device_config_init(&device_config);
    device_config.name = "far";
    device_config.bus = UINT32_MAX;
    CHECK_EQ(edgecore_engine_add_device(engine, &device_config, NULL), EDGECORE_E_NOT_FOUND);
    struct edgecore_channel_config channel_config;
    edgecore_channel_config_init(&channel_config);
    channel_config.name = "far";
    channel_config.device = UINT32_MAX;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel_config, NULL), EDGECORE_E_NOT_FOUND);
    edgecore_engine_destroy(engine);
}

static void plan_text_like_snprintf(void) {
    struct edgecore_engine *engine = make_site(3);
    if (!engine) return;
    int length = edgecore_engine_plan(engine, NULL, 0);
    CHECK(length > 20);
    char full[4096];
    CHECK_EQ(edgecore_engine_plan(engine, full, sizeof full), length);
    CHECK_EQ((int)strlen(full), length);
    CHECK(contains(full, "FC3 0..2 (3 registers)")); /* three contiguous channels: one request */
    char small[10];
    memset(small, 'x', sizeof small);
    CHECK_EQ(edgecore_engine_plan(engine, small, sizeof small), length);
    CHECK_EQ(strlen(small), 9);
    CHECK(strncmp(small, full, 9) == 0);
    edgecore_engine_destroy(engine);
}

static void state_errors_and_disconnected_readings(void) {
    struct edgecore_engine *engine = make_engine();
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_E_CONFIG); /* nothing to sample */
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_E_NOT_RUNNING);
    /* Not running and nothing to drain: a distinct code, at once even without a time limit. */
    CHECK_EQ(edgecore_engine_wait(engine, 0), EDGECORE_E_NOT_RUNNING);
    int64_t started = cabi_monotonic_ms();
    CHECK_EQ(edgecore_engine_wait(engine, -1), EDGECORE_E_NOT_RUNNING);
    CHECK(cabi_monotonic_ms() - started < 1000);
    struct edgecore_reading out[64];
    CHECK_EQ(edgecore_engine_drain(engine, out, 64), 0);
    edgecore_engine_destroy(engine);

    engine = make_site(2);
    if (!engine) return;
    CHECK_EQ(edgecore_engine_write(engine, 0, 5.0, 100), EDGECORE_E_NOT_RUNNING);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_E_RUNNING);
    struct edgecore_tcp_bus_config bus;
    edgecore_tcp_bus_config_init(&bus);
    bus.name = "late";
    bus.host = "127.0.0.1";
    CHECK_EQ(edgecore_engine_add_tcp_bus(engine, &bus, NULL), EDGECORE_E_RUNNING);
    CHECK_EQ(edgecore_engine_write(engine, 1, 5.0, 100), EDGECORE_E_NOT_WRITABLE);
    CHECK_EQ(edgecore_engine_write(engine, 7, 5.0, 100), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_write(engine, 0, 70000.0, 100), EDGECORE_E_VALUE); /* u16 */
    CHECK_EQ(edgecore_engine_write(engine, 0, 5.0, 2000), EDGECORE_E_DISCONNECTED);
    uint16_t registers[2] = {1, 2};
    CHECK_EQ(edgecore_engine_write_registers(engine, 0, 0, registers, 2, 100), EDGECORE_E_NOT_WRITABLE);
    CHECK_EQ(edgecore_engine_write_registers(engine, 0, 0, registers, 0, 100), EDGECORE_E_INVALID_ARGUMENT);

    /* Nobody listens: every poll yields readings marked disconnected, for each channel, in sequence. */
    int seen[2] = {0, 0};
    uint32_t next_sequence[2] = {0, 0};
    int64_t deadline = cabi_monotonic_ms() + 10000;
    while ((seen[0] < 3 || seen[1] < 3) && cabi_monotonic_ms() < deadline) {
        if (edgecore_engine_wait(engine, 500) <= 0) continue;
        int n = edgecore_engine_drain(engine, out, 64);
        for (int i = 0; i < n; i++) {
            CHECK(out[i].channel < 2);
            if (out[i].channel >= 2) continue;
            CHECK_EQ(out[i].status, EDGECORE_STATUS_DISCONNECTED);
            CHECK_EQ(out[i].sequence, next_sequence[out[i].channel]);
            next_sequence[out[i].channel] = out[i].sequence + 1;
            CHECK(out[i].timestamp_ns > 1600000000LL * 1000000000LL);
            seen[out[i].channel]++;
        }
    }
    CHECK(seen[0] >= 3 && seen[1] >= 3);
    struct edgecore_bus_stats bus_stats;
    CHECK_EQ(edgecore_engine_bus_stats(engine, 0, &bus_stats), EDGECORE_OK);
    CHECK_EQ(bus_stats.state, EDGECORE_BUS_DISCONNECTED);
    CHECK(bus_stats.open_failures >= 1);
    CHECK_EQ(bus_stats.opens, 0);
    CHECK_EQ(bus_stats.last_error, -ECONNREFUSED);
    CHECK(bus_stats.last_change_ns > 0);
    CHECK_EQ(edgecore_engine_bus_stats(engine, 1, &bus_stats), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_E_NOT_RUNNING);
    CHECK_EQ(edgecore_engine_bus_stats(engine, 0, &bus_stats), EDGECORE_OK);
    CHECK_EQ(bus_stats.state, EDGECORE_BUS_STOPPED);
    struct edgecore_device_stats stats;
    CHECK_EQ(edgecore_engine_device_stats(engine, 0, &stats), EDGECORE_OK);
    CHECK(stats.disconnects >= 3);
    CHECK_EQ(stats.responses, 0);

    /* A restart continues each channel's sequence: no false "readings lost" jump, no repeat. */
    int n;
    while ((n = edgecore_engine_drain(engine, out, 64)) > 0)
        for (int i = 0; i < n; i++)
            if (out[i].channel < 2) next_sequence[out[i].channel] = out[i].sequence + 1;
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    int checked = 0;
    deadline = cabi_monotonic_ms() + 10000;
    while (checked < 2 && cabi_monotonic_ms() < deadline) {
        if (edgecore_engine_wait(engine, 500) <= 0) continue;
        n = edgecore_engine_drain(engine, out, 64);
        for (int i = 0; i < n; i++) {
            if (out[i].channel >= 2 || next_sequence[out[i].channel] == UINT32_MAX) continue;
            CHECK_EQ(out[i].sequence, next_sequence[out[i].channel]);
            next_sequence[out[i].channel] = UINT32_MAX; /* first reading after the restart checked */
            checked++;
        }
    }
    CHECK_EQ(checked, 2);
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    /* stopped: configuration may change again, and readings stay drainable */
    CHECK_EQ(edgecore_engine_add_tcp_bus(engine, &bus, NULL), EDGECORE_OK);
    edgecore_engine_destroy(engine);
}

/* GPIO without a chip on this machine: configuration checks, the plan, and a precise start failure. */
static void gpio_configuration_and_missing_chip(void) {
    struct edgecore_engine *engine = make_engine();
    if (!engine) return;
    struct edgecore_gpio_chip_config chip;
    edgecore_gpio_chip_config_init(&chip);
    CHECK_EQ(edgecore_engine_add_gpio_chip(engine, &chip, NULL), EDGECORE_E_NULL_POINTER);
    chip.name = "io";
    chip.chip = "/dev/gpiochip-edgecore-missing";
    uint32_t bus = 9;
    CHECK_EQ(edgecore_engine_add_gpio_chip(engine, &chip, &bus), EDGECORE_OK);
    CHECK_EQ(bus, 0);
    struct edgecore_gpio_line_config line;
    edgecore_gpio_line_config_init(&line);
    CHECK_EQ(line.kind, EDGECORE_GPIO_INPUT);
    CHECK_EQ(line.interval_ms, 1000);
    line.name = "valve";
    line.bus = bus;
    line.offset = 3;
    line.kind = EDGECORE_GPIO_OUTPUT;
    line.writable = 1;
    line.safe_state = 1;
    uint32_t channel = 9;
    CHECK_EQ(edgecore_engine_add_gpio_line(engine, &line, &channel), EDGECORE_OK);
    CHECK_EQ(channel, 0);
    line.name = "again";
    CHECK_EQ(edgecore_engine_add_gpio_line(engine, &line, NULL), EDGECORE_E_DUPLICATE); /* line 3 is taken */
    CHECK(contains(edgecore_engine_last_error(), "'valve'"));
    line.offset = 4;
    line.kind = 7;
    CHECK_EQ(edgecore_engine_add_gpio_line(engine, &line, NULL), EDGECORE_E_CONFIG);
    CHECK(contains(edgecore_engine_last_error(), "'kind'"));
    line.kind = EDGECORE_GPIO_INPUT;
    CHECK_EQ(edgecore_engine_add_gpio_line(engine, &line, NULL), EDGECORE_E_CONFIG); /* writable input */
    CHECK(contains(edgecore_engine_last_error(), "writable"));
    line.writable = 0;
    line.bias = 9;
    CHECK_EQ(edgecore_engine_add_gpio_line(engine, &line, NULL), EDGECORE_E_CONFIG);
    line.bias = EDGECORE_GPIO_BIAS_PULL_UP;
    line.bus = 5;
    CHECK_EQ(edgecore_engine_add_gpio_line(engine, &line, NULL), EDGECORE_E_NOT_FOUND);
    line.bus = bus;
    line.name = "door";
    CHECK_EQ(edgecore_engine_add_gpio_line(engine, &line, NULL), EDGECORE_OK);
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = "meter";
    device.bus = bus;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_NOT_FOUND); /* not a Modbus bus */

    char plan[1024];
    CHECK(edgecore_engine_plan(engine, plan, sizeof plan) > 0);
    CHECK(contains(plan, "gpio chip /dev/gpiochip-edgecore-missing"));
    CHECK(contains(plan, "line 3: valve, output, safe state 1"));
    CHECK(contains(plan, "line 4: door, input"));

    CHECK_EQ(edgecore_engine_start(engine), -ENOENT);
    CHECK(contains(edgecore_engine_last_error(), "/dev/gpiochip-edgecore-missing"));
    CHECK_EQ(edgecore_engine_write(engine, channel, 0, 100), EDGECORE_E_NOT_RUNNING);
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_E_NOT_RUNNING); /* the failed start left nothing running */
    edgecore_engine_destroy(engine);
}

/* Readings stored before a start that rebuilds the ring (one bus more: one lane more) stay drainable, and
 * the ring's counters continue; a stopped engine's wait returns what is left, then EDGECORE_E_NOT_RUNNING. */
static void rebuilt_ring_keeps_stored_readings(void) {
    struct edgecore_engine *engine = make_site(1);
    if (!engine) return;
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    struct edgecore_ring_stats before, after;
    int64_t deadline = cabi_monotonic_ms() + 5000;
    do {
        cabi_sleep_ms(20);
        CHECK_EQ(edgecore_engine_ring_stats(engine, &before), EDGECORE_OK);
    } while (before.available < 3 && cabi_monotonic_ms() < deadline);
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_ring_stats(engine, &before), EDGECORE_OK);
    CHECK(before.available >= 3);
    CHECK_EQ(before.lanes, 1);

    struct edgecore_tcp_bus_config bus;
    edgecore_tcp_bus_config_init(&bus);
    bus.name = "second";
    bus.host = "127.0.0.1";
    bus.port = 1;
    CHECK_EQ(edgecore_engine_add_tcp_bus(engine, &bus, NULL), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK); /* a new ring of two lanes */
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_ring_stats(engine, &after), EDGECORE_OK);
    CHECK_EQ(after.lanes, 2);
    CHECK(after.published >= before.published);
    CHECK_EQ(after.drained, 0);
    CHECK_EQ(after.available, after.published);

    int64_t started = cabi_monotonic_ms();
    CHECK_EQ(edgecore_engine_wait(engine, 5000), (int)after.available); /* stopped: what is left, at once */
    struct edgecore_reading out[64];
    uint32_t next = 0;
    int n, total = 0;
    while ((n = edgecore_engine_drain(engine, out, 64)) > 0) {
        for (int i = 0; i < n; i++) {
            CHECK_EQ(out[i].channel, 0);
            CHECK_EQ(out[i].sequence, next); /* from the first reading of the first run on */
            next = out[i].sequence + 1;
        }
        total += n;
    }
    CHECK_EQ(total, (int)after.published);
    CHECK_EQ(edgecore_engine_wait(engine, 5000), EDGECORE_E_NOT_RUNNING);
    CHECK(contains(edgecore_engine_last_error(), "stopped"));
    CHECK(cabi_monotonic_ms() - started < 1000);
    edgecore_engine_destroy(engine);
}

/* A connect that cannot complete now: a loopback listener whose accept queue is full drops the SYN. */
static int full_listener(uint16_t *port, int queued[4], int *queued_count) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 0) != 0 ||
        getsockname(listener, (struct sockaddr *)&address, &length) != 0)
        return -1;
    *port = ntohs(address.sin_port);
    /* Queue connections until one more connect does not complete within 300 ms. */
    *queued_count = 0;
    while (*queued_count < 4) {
        int client = socket(AF_INET, SOCK_STREAM, 0);
        fcntl(client, F_SETFL, O_NONBLOCK);
        int rc = connect(client, (struct sockaddr *)&address, sizeof address);
        struct pollfd pending = {client, POLLOUT, 0};
        if (rc != 0 && (errno != EINPROGRESS || poll(&pending, 1, 300) == 0)) {
            close(client); /* this one hangs: the queue is full */
            return listener;
        }
        queued[(*queued_count)++] = client;
    }
    return listener;
}

/* stop returns within about one response timeout even while a TCP connect is in progress (here with a
 * connect timeout of 10 s). */
static void stop_cuts_a_tcp_connect_short(void) {
    uint16_t port = 0;
    int queued[4], queued_count = 0;
    int listener = full_listener(&port, queued, &queued_count);
    CHECK(listener >= 0);
    if (listener < 0) return;
    struct edgecore_engine *engine = make_engine();
    struct edgecore_tcp_bus_config bus;
    edgecore_tcp_bus_config_init(&bus);
    bus.name = "full";
    bus.host = "127.0.0.1";
    bus.port = port;
    bus.connect_timeout_ms = 10000;
    CHECK_EQ(edgecore_engine_add_tcp_bus(engine, &bus, NULL), EDGECORE_OK);
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = "meter";
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_OK);
    struct edgecore_channel_config channel;
    edgecore_channel_config_init(&channel);
    channel.name = "v";
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    cabi_sleep_ms(300);
    struct edgecore_bus_stats stats;
    CHECK_EQ(edgecore_engine_bus_stats(engine, 0, &stats), EDGECORE_OK);
    CHECK_EQ(stats.opens + stats.open_failures, 0); /* still connecting */
    int64_t started = cabi_monotonic_ms();
    CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    int64_t took = cabi_monotonic_ms() - started;
    printf("  stop during a connect took %lld ms\n", (long long)took);
    CHECK(took < 1000);
    edgecore_engine_destroy(engine);
    for (int i = 0; i < queued_count; i++) close(queued[i]);
    close(listener);
}

int main(int argc, char **argv) {
    cabi_only = argc > 1 ? argv[1] : NULL;
    RUN(config_defaults);
    RUN(gpio_configuration_and_missing_chip);
    RUN(create_and_destroy);
    RUN(null_arguments);
    RUN(configuration_errors_name_the_field);
    RUN(yaml_errors_name_file_line_and_field);
    RUN(lookups_and_info);
    RUN(plan_text_like_snprintf);
    RUN(state_errors_and_disconnected_readings);
    RUN(rebuilt_ring_keeps_stored_readings);
    RUN(stop_cuts_a_tcp_connect_short);
    return cabi_finish("test_engine_api");
}
