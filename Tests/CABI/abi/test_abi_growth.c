/* The growth rule of edgecore.h, from both sides (make abi-growth-test builds this file three times):
 *  - built against the frozen headers of earlier versions (Tests/CABI/abi/1.0, 1.2 whose tcp bus,
 *    device and channel structs 1.3 grew for meters, and 1.3, the last before the journal reader) and run against a library whose structs all gained a
 *    trailing field, and against this version's library: the library writes no byte past the caller's
 *    smaller structs (guard bytes after each struct stay intact), reads none past them, the fields the
 *    caller's struct lacks take their defaults, and everything works;
 *  - built against that grown header (EDGECORE_TEST_GROWN_HEADER) and run against this version's library:
 *    the unknown trailing field reads 0 after _init and after every statistics call, is accepted when 0,
 *    and refused with EDGECORE_E_UNKNOWN_FIELD (nothing added) when set.
 * The same program also runs against the library of its own header (no growth on either side). */
#include "cabi_test.h"

#include <math.h>
#include <stddef.h>

#define GUARD 0xA5
#define GUARD_BYTES 64

/* A caller's struct with guard bytes right after it, as firmware might have the next variable. */
#define GUARDED(type) struct { type value; unsigned char guard[GUARD_BYTES]; }

static void set_guard(unsigned char *guard) { memset(guard, GUARD, GUARD_BYTES); }
static int guard_intact(const unsigned char *guard) {
    for (int i = 0; i < GUARD_BYTES; i++)
        if (guard[i] != GUARD) return 0;
    return 1;
}

#ifdef EDGECORE_TEST_GROWN_HEADER
#define FILL_UNKNOWN(s) memset(&(s), 0xAA, sizeof(s))
#define CHECK_UNKNOWN_ZERO(s) CHECK_EQ((s).test_growth, 0)
#else
#define FILL_UNKNOWN(s) memset(&(s), 0xAA, sizeof(s))
#define CHECK_UNKNOWN_ZERO(s) ((void)0)
#endif

static void test_init_writes_only_the_callers_struct(void) {
    GUARDED(struct edgecore_engine_config) engine;
    GUARDED(struct edgecore_tcp_bus_config) tcp;
    GUARDED(struct edgecore_rtu_bus_config) rtu;
    GUARDED(struct edgecore_device_config) device;
    GUARDED(struct edgecore_channel_config) channel;
    GUARDED(struct edgecore_gpio_chip_config) chip;
    GUARDED(struct edgecore_gpio_line_config) line;
    FILL_UNKNOWN(engine.value); FILL_UNKNOWN(tcp.value); FILL_UNKNOWN(rtu.value); FILL_UNKNOWN(device.value);
    FILL_UNKNOWN(channel.value); FILL_UNKNOWN(chip.value); FILL_UNKNOWN(line.value);
    set_guard(engine.guard); set_guard(tcp.guard); set_guard(rtu.guard); set_guard(device.guard);
    set_guard(channel.guard); set_guard(chip.guard); set_guard(line.guard);

    edgecore_engine_config_init(&engine.value);
    edgecore_tcp_bus_config_init(&tcp.value);
    edgecore_rtu_bus_config_init(&rtu.value);
    edgecore_device_config_init(&device.value);
    edgecore_channel_config_init(&channel.value);
    edgecore_gpio_chip_config_init(&chip.value);
    edgecore_gpio_line_config_init(&line.value);

    CHECK(guard_intact(engine.guard)); CHECK(guard_intact(tcp.guard)); CHECK(guard_intact(rtu.guard));
    CHECK(guard_intact(device.guard)); CHECK(guard_intact(channel.guard)); CHECK(guard_intact(chip.guard));
    CHECK(guard_intact(line.guard));
    CHECK_UNKNOWN_ZERO(engine.value); CHECK_UNKNOWN_ZERO(tcp.value); CHECK_UNKNOWN_ZERO(rtu.value);
    CHECK_UNKNOWN_ZERO(device.value); CHECK_UNKNOWN_ZERO(channel.value); CHECK_UNKNOWN_ZERO(chip.value);
    CHECK_UNKNOWN_ZERO(line.value);

    /* The documented defaults, whatever the two sizes. */
    CHECK_EQ(engine.value.ring_capacity, 4096);
    CHECK_EQ(engine.value.overflow, EDGECORE_OVERFLOW_DROP_OLDEST);
    CHECK(tcp.value.name == NULL && tcp.value.host == NULL);
    CHECK_EQ(tcp.value.port, 502);
    CHECK_EQ(tcp.value.connect_timeout_ms, 2000);
    CHECK_EQ(tcp.value.reconnect_max_ms, 10000);
    CHECK_EQ(tcp.value.reserved2, 0);
    CHECK_EQ(rtu.value.baud, 9600);
    CHECK_EQ(rtu.value.parity, 'N');
    CHECK_EQ(rtu.value.rts, EDGECORE_RTS_NONE);
    CHECK_EQ(rtu.value.reopen_max_ms, 10000);
    CHECK_EQ(device.value.unit_id, 1);
    CHECK_EQ(device.value.max_registers, 125);
    CHECK_EQ(device.value.response_timeout_ms, 500);
    CHECK_EQ(device.value.backoff_max_ms, 30000);
    CHECK_EQ(channel.value.function, EDGECORE_FC_HOLDING_REGISTERS);
    CHECK_EQ(channel.value.interval_ms, 1000);
    CHECK(channel.value.scale == 1.0 && isnan(channel.value.valid_min) && isnan(channel.value.valid_max));
    CHECK_EQ(channel.value.sentinels[3], 0);
    CHECK(chip.value.checkpoint_path == NULL);
    CHECK_EQ(chip.value.checkpoint_max_per_hour, 60);
    CHECK_EQ(chip.value.event_buffer_size, 1024);
    CHECK_EQ(line.value.kind, EDGECORE_GPIO_INPUT);
    CHECK_EQ(line.value.edge, EDGECORE_GPIO_EDGE_RISING);
    CHECK_EQ(line.value.interval_ms, 1000);
    CHECK(line.value.scale == 1.0 && line.value.base == 0.0 && line.value.reserved_pointer == NULL);
}

/* A site of every kind of object, added from this header's structs. */
struct site {
    struct edgecore_engine *engine;
    uint32_t tcp, rtu, device, channel, chip, line;
};

static int make_site(struct site *site) {
    memset(site, 0, sizeof *site);
    struct edgecore_engine_config config;
    edgecore_engine_config_init(&config);
    config.ring_capacity = 64;
    int rc = edgecore_engine_create(&config, &site->engine);
    if (rc != EDGECORE_OK) return rc;

    struct edgecore_tcp_bus_config tcp;
    edgecore_tcp_bus_config_init(&tcp);
    tcp.name = "tcp";
    tcp.host = "127.0.0.1";
    tcp.port = 1;
    if ((rc = edgecore_engine_add_tcp_bus(site->engine, &tcp, &site->tcp)) != EDGECORE_OK) return rc;

    struct edgecore_rtu_bus_config rtu;
    edgecore_rtu_bus_config_init(&rtu);
    rtu.name = "rtu";
    rtu.device = "/dev/edgecore-no-such-tty";
    rtu.baud = 19200;
    if ((rc = edgecore_engine_add_rtu_bus(site->engine, &rtu, &site->rtu)) != EDGECORE_OK) return rc;

    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = "meter";
    device.bus = site->tcp;
    device.unit_id = 7;
    if ((rc = edgecore_engine_add_device(site->engine, &device, &site->device)) != EDGECORE_OK) return rc;

    struct edgecore_channel_config channel;
    edgecore_channel_config_init(&channel);
    channel.name = "meter.power";
    channel.unit = "W";
    channel.device = site->device;
    channel.function = EDGECORE_FC_INPUT_REGISTERS;
    channel.type = EDGECORE_TYPE_F32;
    channel.order = EDGECORE_ORDER_CDAB;
    channel.address = 12;
    if ((rc = edgecore_engine_add_channel(site->engine, &channel, &site->channel)) != EDGECORE_OK) return rc;

    struct edgecore_gpio_chip_config chip;
    edgecore_gpio_chip_config_init(&chip);
    chip.name = "io";
    chip.chip = "sim:/tmp/edgecore-abi-no-such-chip";
    if ((rc = edgecore_engine_add_gpio_chip(site->engine, &chip, &site->chip)) != EDGECORE_OK) return rc;

    struct edgecore_gpio_line_config line;
    edgecore_gpio_line_config_init(&line);
    line.name = "s0";
    line.bus = site->chip;
    line.offset = 3;
    line.kind = EDGECORE_GPIO_PULSES;
    line.scale = 0.001;
    return edgecore_engine_add_gpio_line(site->engine, &line, &site->line);
}

static void test_add_from_this_headers_structs(void) {
    struct site site;
    CHECK_EQ(make_site(&site), EDGECORE_OK);
    uint32_t buses = 0, devices = 0, channels = 0;
    CHECK_EQ(edgecore_engine_counts(site.engine, &buses, &devices, &channels), EDGECORE_OK);
    CHECK_EQ(buses, 3);
    CHECK_EQ(devices, 1);
    CHECK_EQ(channels, 2);
    /* What the structs said arrived: the plan names the request they describe. */
    char plan[2048];
    CHECK(edgecore_engine_plan(site.engine, plan, sizeof plan) > 0);
    CHECK(strstr(plan, "FC4 12..13") != NULL);
    CHECK(strstr(plan, "meter.power") != NULL);
    const char *name = NULL, *unit = NULL;
    uint32_t device = 0;
    CHECK_EQ(edgecore_engine_channel_info(site.engine, site.channel, &name, &unit, &device), EDGECORE_OK);
    CHECK_STR(unit, "W");
    CHECK_EQ(device, site.device);
    CHECK_EQ(edgecore_engine_channel_info(site.engine, site.line, &name, &unit, &device), EDGECORE_OK);
    CHECK_STR(name, "s0");
    CHECK_EQ(device, UINT32_MAX);
    edgecore_engine_destroy(site.engine);
}

static void test_stats_write_only_the_callers_struct(void) {
    struct site site;
    CHECK_EQ(make_site(&site), EDGECORE_OK);
    GUARDED(struct edgecore_device_stats) device;
    GUARDED(struct edgecore_bus_stats) bus;
    GUARDED(struct edgecore_pulse_stats) pulse;
    GUARDED(struct edgecore_ring_stats) ring;
    FILL_UNKNOWN(device.value); FILL_UNKNOWN(bus.value); FILL_UNKNOWN(pulse.value); FILL_UNKNOWN(ring.value);
    set_guard(device.guard); set_guard(bus.guard); set_guard(pulse.guard); set_guard(ring.guard);

    CHECK_EQ(edgecore_engine_device_stats(site.engine, site.device, &device.value), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_bus_stats(site.engine, site.rtu, &bus.value), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_pulse_stats(site.engine, site.line, &pulse.value), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_ring_stats(site.engine, &ring.value), EDGECORE_OK);
    CHECK(guard_intact(device.guard)); CHECK(guard_intact(bus.guard)); CHECK(guard_intact(pulse.guard));
    CHECK(guard_intact(ring.guard));
    CHECK_UNKNOWN_ZERO(device.value); CHECK_UNKNOWN_ZERO(bus.value); CHECK_UNKNOWN_ZERO(pulse.value);
    CHECK_UNKNOWN_ZERO(ring.value);
    CHECK_EQ(device.value.requests, 0);
    CHECK_EQ(device.value.state, EDGECORE_DEVICE_UNKNOWN);
    CHECK_EQ(device.value.last_failure_ns, 0);
    CHECK_EQ(bus.value.state, EDGECORE_BUS_STOPPED);
    CHECK_EQ(bus.value.last_change_ns, 0);
    CHECK_EQ(pulse.value.count, 0);
    CHECK(pulse.value.total == 0.0);
    CHECK_EQ(ring.value.lanes, 0);
    edgecore_engine_destroy(site.engine);

    struct edgecore_ring *handle = NULL;
    CHECK_EQ(edgecore_ring_create(8, 2, EDGECORE_OVERFLOW_DROP_OLDEST, &handle), EDGECORE_OK);
    struct edgecore_reading reading = cabi_reading(1, 1);
    CHECK_EQ(edgecore_ring_publish(handle, 1, &reading, 1), 1);
    FILL_UNKNOWN(ring.value);
    set_guard(ring.guard);
    CHECK_EQ(edgecore_ring_stats(handle, &ring.value), EDGECORE_OK);
    CHECK(guard_intact(ring.guard));
    CHECK_UNKNOWN_ZERO(ring.value);
    CHECK_EQ(ring.value.published, 1);
    CHECK_EQ(ring.value.capacity, 8);
    CHECK_EQ(ring.value.lanes, 2);
    FILL_UNKNOWN(ring.value);
    CHECK_EQ(edgecore_ring_lane_stats(handle, 1, &ring.value), EDGECORE_OK);
    CHECK(guard_intact(ring.guard));
    CHECK_UNKNOWN_ZERO(ring.value);
    CHECK_EQ(ring.value.available, 1);
    CHECK_EQ(ring.value.lanes, 1);
    edgecore_ring_destroy(handle);
}

/* Sizes no version of a struct ever had are refused, not guessed at. */
static void test_impossible_sizes(void) {
    struct site site;
    CHECK_EQ(make_site(&site), EDGECORE_OK);
    struct edgecore_tcp_bus_config tcp;
    edgecore_tcp_bus_config_init(&tcp);
    tcp.name = "short";
    tcp.host = "127.0.0.1";
    CHECK_EQ(edgecore_engine_add_tcp_bus_sized(site.engine, &tcp, 2 * sizeof(void *), NULL), EDGECORE_E_INVALID_ARGUMENT);
    CHECK(strstr(edgecore_engine_last_error(), "struct size") != NULL);
    CHECK_EQ(edgecore_engine_add_tcp_bus_sized(site.engine, &tcp, 0, NULL), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_engine_add_tcp_bus_sized(site.engine, &tcp, (size_t)-1, NULL), EDGECORE_E_INVALID_ARGUMENT);
    struct edgecore_device_stats stats;
    CHECK_EQ(edgecore_engine_device_stats_sized(site.engine, site.device, &stats, 16), EDGECORE_E_INVALID_ARGUMENT);
    uint32_t buses = 0;
    CHECK_EQ(edgecore_engine_counts(site.engine, &buses, NULL, NULL), EDGECORE_OK);
    CHECK_EQ(buses, 3);
    edgecore_engine_destroy(site.engine);
}

#if EDGECORE_VERSION_NUMBER >= 1003000
/* The meter fields of 1.3, from a header that has them: a meter device and channels added; structs of the
 * 1.2 sizes (given to the _sized functions, with garbage where the 1.3 fields would be) are read as 1.2
 * structs: the new fields take their defaults (MBAP framing, a Modbus device, a Modbus channel). */
static void test_meter_fields(void) {
    struct site site;
    CHECK_EQ(make_site(&site), EDGECORE_OK);
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    CHECK_EQ(device.protocol, EDGECORE_PROTOCOL_MODBUS);
    CHECK_EQ(device.preamble, 4);
    CHECK_EQ(device.meter_type, 0x10);
    device.name = "em1";
    device.bus = site.rtu;
    device.protocol = EDGECORE_PROTOCOL_DLT645_2007;
    device.meter_address = "000012345678";
    uint32_t meter = 99;
    CHECK_EQ(edgecore_engine_add_device(site.engine, &device, &meter), EDGECORE_OK);
    struct edgecore_channel_config channel;
    edgecore_channel_config_init(&channel);
    CHECK_EQ(channel.meter_format, EDGECORE_METER_FORMAT_CATALOGUE);
    CHECK_EQ(channel.meter_length, 0);
    channel.name = "em1.ua";
    channel.device = meter;
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_2007, "voltage_a", &channel.meter_item), EDGECORE_OK);
    uint32_t id = 99;
    CHECK_EQ(edgecore_engine_add_channel(site.engine, &channel, &id), EDGECORE_OK);
    const char *unit = NULL;
    CHECK_EQ(edgecore_engine_channel_info(site.engine, id, NULL, &unit, NULL), EDGECORE_OK);
    CHECK_STR(unit, "V");
#ifdef EDGECORE_TEST_GROWN_HEADER
    device.name = "em2";
    device.meter_address = "000012345679";
    device.test_growth = 1;
    CHECK_EQ(edgecore_engine_add_device(site.engine, &device, NULL), EDGECORE_E_UNKNOWN_FIELD);
#endif

    /* 1.2 sizes: tcp bus 2P+24, device P+32, channel 2P+88. */
    const size_t tcp12 = offsetof(struct edgecore_tcp_bus_config, framing);
    const size_t device12 = offsetof(struct edgecore_device_config, meter_address);
    const size_t channel12 = offsetof(struct edgecore_channel_config, meter_item);
    CHECK_EQ(tcp12, 2 * sizeof(void *) + 24);
    CHECK_EQ(device12, sizeof(void *) + 32);
    CHECK_EQ(channel12, 2 * sizeof(void *) + 88);
    struct edgecore_tcp_bus_config tcp;
    edgecore_tcp_bus_config_init(&tcp);
    tcp.name = "tcp12";
    tcp.host = "127.0.0.1";
    memset((char *)&tcp + tcp12, 0xAA, sizeof tcp - tcp12); /* framing 0xAAAA: not read */
    uint32_t tcp_id = 99;
    CHECK_EQ(edgecore_engine_add_tcp_bus_sized(site.engine, &tcp, tcp12, &tcp_id), EDGECORE_OK);
    edgecore_device_config_init(&device);
    device.name = "slave12";
    device.bus = tcp_id;
    device.unit_id = 0; /* accepted on an MBAP bus only: the framing took its default */
    memset((char *)&device + device12, 0xAA, sizeof device - device12); /* protocol 0xAAAA, a wild address */
    uint32_t slave = 99;
    CHECK_EQ(edgecore_engine_add_device_sized(site.engine, &device, device12, &slave), EDGECORE_OK);
    uint8_t unit_id = 9;
    CHECK_EQ(edgecore_engine_device_info(site.engine, slave, NULL, NULL, &unit_id), EDGECORE_OK);
    CHECK_EQ(unit_id, 0);
    /* A Modbus device: a second unit 0 on the bus is a duplicate unit id. */
    device.name = "slave12b";
    CHECK_EQ(edgecore_engine_add_device_sized(site.engine, &device, device12, NULL), EDGECORE_E_DUPLICATE);
    edgecore_channel_config_init(&channel);
    channel.name = "slave12.value";
    channel.device = slave;
    channel.address = 40;
    memset((char *)&channel + channel12, 0xAA, sizeof channel - channel12);
    CHECK_EQ(edgecore_engine_add_channel_sized(site.engine, &channel, channel12, NULL), EDGECORE_OK);
    /* With the 1.3 size, the same garbage is read: protocol 0xAAAA is refused. */
    device.name = "wild";
#ifdef EDGECORE_TEST_GROWN_HEADER
    device.test_growth = 0;
#endif
    CHECK_EQ(edgecore_engine_add_device(site.engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK(strstr(edgecore_engine_last_error(), "'protocol'") != NULL);
    char plan[4096];
    CHECK(edgecore_engine_plan(site.engine, plan, sizeof plan) > 0);
    CHECK(strstr(plan, "FC3 40..40") != NULL);
    edgecore_engine_destroy(site.engine);
}
#else
/* A program built before 1.3 has no meter fields: the library gives them their defaults. Its tcp bus is
 * MBAP (unit 0 accepted), its devices are Modbus slaves (unit ids unique per bus). */
static void test_pre_meter_structs_take_the_defaults(void) {
    struct site site;
    CHECK_EQ(make_site(&site), EDGECORE_OK);
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = "slave0";
    device.bus = site.tcp;
    device.unit_id = 0;
    CHECK_EQ(edgecore_engine_add_device(site.engine, &device, NULL), EDGECORE_OK);
    device.name = "slave0b";
    CHECK_EQ(edgecore_engine_add_device(site.engine, &device, NULL), EDGECORE_E_DUPLICATE);
    device.name = "rtu0";
    device.bus = site.rtu;
    CHECK_EQ(edgecore_engine_add_device(site.engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK(strstr(edgecore_engine_last_error(), "'unit_id'") != NULL);
    uint32_t devices = 0;
    CHECK_EQ(edgecore_engine_counts(site.engine, NULL, &devices, NULL), EDGECORE_OK);
    CHECK_EQ(devices, 2);
    edgecore_engine_destroy(site.engine);
}
#endif

#ifdef EDGECORE_JOURNAL_CURSOR_NAME_MAX
/* The journal's structs (new in 1.1; built against a header that has them): _init and the statistics write
 * only the caller's struct, and (grown header) a set unknown config field is refused. */
static void test_journal_structs(void) {
    char folder[64] = "/tmp/edgecore-abi-journal-XXXXXX";
    CHECK(mkdtemp(folder) != NULL);
    GUARDED(struct edgecore_journal_config) config;
    GUARDED(struct edgecore_journal_stats) stats;
    GUARDED(struct edgecore_journal_cursor_stats) cursor;
    FILL_UNKNOWN(config.value); FILL_UNKNOWN(stats.value); FILL_UNKNOWN(cursor.value);
    set_guard(config.guard); set_guard(stats.guard); set_guard(cursor.guard);
    edgecore_journal_config_init(&config.value);
    CHECK(guard_intact(config.guard));
    CHECK_UNKNOWN_ZERO(config.value);
    CHECK_EQ(config.value.segment_size, 4u << 20);
    CHECK_EQ(config.value.when_full, EDGECORE_JOURNAL_DROP_OLDEST);
    struct edgecore_journal *journal = NULL;
#ifdef EDGECORE_TEST_GROWN_HEADER
    config.value.test_growth = 1;
    CHECK_EQ(edgecore_journal_open(folder, &config.value, &journal), EDGECORE_E_UNKNOWN_FIELD);
    CHECK(journal == NULL);
    config.value.test_growth = 0;
#endif
    CHECK_EQ(edgecore_journal_open(folder, &config.value, &journal), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_add_cursor(journal, "uplink"), 1);
    struct edgecore_reading reading = cabi_reading(1, 1);
    CHECK_EQ(edgecore_journal_append(journal, &reading, 1, NULL), 1);
    CHECK_EQ(edgecore_journal_stats(journal, &stats.value), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_cursor_stats(journal, 0, &cursor.value), EDGECORE_OK);
    CHECK(guard_intact(stats.guard)); CHECK(guard_intact(cursor.guard));
    CHECK_UNKNOWN_ZERO(stats.value); CHECK_UNKNOWN_ZERO(cursor.value);
    CHECK_EQ(stats.value.newest_sequence, 1);
    CHECK_EQ(stats.value.cursors, 1);
    CHECK_STR(cursor.value.name, "uplink");
    edgecore_journal_close(journal);
    /* The engine's journal statistics (also new in 1.1), with the engine owning the same folder. */
    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_set_journal(engine, folder, &config.value), EDGECORE_OK);
    GUARDED(struct edgecore_engine_journal_stats) feed;
    FILL_UNKNOWN(feed.value);
    set_guard(feed.guard);
    CHECK_EQ(edgecore_engine_journal_stats(engine, &feed.value), EDGECORE_OK);
    CHECK(guard_intact(feed.guard));
    CHECK_UNKNOWN_ZERO(feed.value);
    CHECK_EQ(feed.value.appended, 0);
    edgecore_engine_destroy(engine);
    char command[96];
    snprintf(command, sizeof command, "rm -rf '%s'", folder);
    CHECK_EQ(system(command), 0);
}
#endif

#if EDGECORE_VERSION_NUMBER >= 1004000
/* The journal reader's structs (new in 1.4): the report, a problem and a cursor are written only into the
 * caller's struct (a field the caller's grown struct has and the library lacks reads 0). */
static void test_journal_reader_structs(void) {
    char folder[64] = "/tmp/edgecore-abi-reader-XXXXXX";
    CHECK(mkdtemp(folder) != NULL);
    struct edgecore_journal *journal = NULL;
    CHECK_EQ(edgecore_journal_open(folder, NULL, &journal), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_add_cursor(journal, "uplink"), 1);
    struct edgecore_reading readings[3] = {cabi_reading(1, 1), cabi_reading(1, 2), cabi_reading(1, 3)};
    CHECK_EQ(edgecore_journal_append(journal, readings, 3, NULL), 3);
    edgecore_journal_close(journal);
    char path[128];
    snprintf(path, sizeof path, "%s/seg-0000000000000001.ecj", folder);
    FILE *f = fopen(path, "ab");  /* a torn tail: 5 bytes after the last record */
    CHECK(f != NULL);
    if (f) {
        fputs("torn!", f);
        fclose(f);
    }
    struct edgecore_journal_reader *reader = NULL;
    CHECK_EQ(edgecore_journal_reader_open(folder, &reader), EDGECORE_OK);
    GUARDED(struct edgecore_journal_report) report;
    GUARDED(struct edgecore_journal_problem) problem;
    GUARDED(struct edgecore_journal_cursor_stats) cursor;
    FILL_UNKNOWN(report.value); FILL_UNKNOWN(problem.value); FILL_UNKNOWN(cursor.value);
    set_guard(report.guard); set_guard(problem.guard); set_guard(cursor.guard);
    CHECK_EQ(edgecore_journal_reader_check(reader, &report.value), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_reader_problem(reader, 0, &problem.value), EDGECORE_OK);
    CHECK_EQ(edgecore_journal_reader_cursor(reader, 0, &cursor.value), EDGECORE_OK);
    CHECK(guard_intact(report.guard)); CHECK(guard_intact(problem.guard)); CHECK(guard_intact(cursor.guard));
    CHECK_UNKNOWN_ZERO(report.value); CHECK_UNKNOWN_ZERO(problem.value); CHECK_UNKNOWN_ZERO(cursor.value);
    CHECK_EQ(report.value.readings, 3);
    CHECK_EQ(report.value.torn_bytes, 5);
    CHECK_EQ(report.value.problems, 1);
    CHECK_EQ(problem.value.kind, EDGECORE_JOURNAL_PROBLEM_TORN_TAIL);
    CHECK_EQ(problem.value.offset, 32 + 16 + 3 * 32);
    CHECK_STR(problem.value.file, "seg-0000000000000001.ecj");
    CHECK_STR(cursor.value.name, "uplink");
    edgecore_journal_reader_close(reader);
    char command[96];
    snprintf(command, sizeof command, "rm -rf '%s'", folder);
    CHECK_EQ(system(command), 0);
}
#endif

#if EDGECORE_VERSION_NUMBER >= 1004000
/* The local bus's settings (new in 1.4): _init writes only the caller's struct; a struct smaller than in 1.4
 * is refused; the caller's struct works (a grown one with its unknown field 0, refused when it is set); a
 * local channel's write is a reading at once. */
static void test_local_bus_struct(void) {
    GUARDED(struct edgecore_local_bus_config) local;
    FILL_UNKNOWN(local.value);
    set_guard(local.guard);
    edgecore_local_bus_config_init(&local.value);
    CHECK(guard_intact(local.guard));
    CHECK_UNKNOWN_ZERO(local.value);
    CHECK(local.value.name == NULL);
    CHECK_EQ(local.value.reserved[0], 0);
    CHECK_EQ(local.value.reserved[1], 0);
    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
    if (!engine) return;
    local.value.name = "controller";
    CHECK_EQ(edgecore_engine_add_local_bus_sized(engine, &local.value, sizeof(void *) + 7, NULL),
             EDGECORE_E_INVALID_ARGUMENT);
#ifdef EDGECORE_TEST_GROWN_HEADER
    local.value.test_growth = 1;
    CHECK_EQ(edgecore_engine_add_local_bus(engine, &local.value, NULL), EDGECORE_E_UNKNOWN_FIELD);
    local.value.test_growth = 0;
#endif
    uint32_t bus = 99, device = 99, channel = 99;
    CHECK_EQ(edgecore_engine_add_local_bus(engine, &local.value, &bus), EDGECORE_OK);
    CHECK_EQ(bus, 0);
    struct edgecore_device_config d;
    edgecore_device_config_init(&d);
    d.name = "zone1";
    d.bus = bus;
    CHECK_EQ(edgecore_engine_add_device(engine, &d, &device), EDGECORE_OK);
    struct edgecore_channel_config c;
    edgecore_channel_config_init(&c);
    c.name = "zone1.dose_ml";
    c.device = device;
    c.interval_ms = 0;
    CHECK_EQ(edgecore_engine_add_channel(engine, &c, &channel), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_start(engine), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_write(engine, channel, 12.5, 0), EDGECORE_OK);
    struct edgecore_reading out[4];
    CHECK_EQ(edgecore_engine_drain(engine, out, 4), 1);
    CHECK(out[0].value == 12.5);
    CHECK_EQ(out[0].status, EDGECORE_STATUS_OK);
    edgecore_engine_destroy(engine);
}
#endif

#ifdef EDGECORE_TEST_GROWN_HEADER
/* A field the library does not know, when set, is refused rather than ignored; the engine is unchanged. */
static void test_unknown_field_refused(void) {
    struct site site;
    CHECK_EQ(make_site(&site), EDGECORE_OK);
    struct edgecore_tcp_bus_config tcp;
    edgecore_tcp_bus_config_init(&tcp);
    tcp.name = "newer";
    tcp.host = "127.0.0.1";
    tcp.test_growth = 1;
    CHECK_EQ(edgecore_engine_add_tcp_bus(site.engine, &tcp, NULL), EDGECORE_E_UNKNOWN_FIELD);
    CHECK(strstr(edgecore_engine_last_error(), "newer edgecore.h") != NULL);
    struct edgecore_channel_config channel;
    edgecore_channel_config_init(&channel);
    channel.name = "newer";
    channel.device = site.device;
    channel.test_growth = 1ull << 63;
    CHECK_EQ(edgecore_engine_add_channel(site.engine, &channel, NULL), EDGECORE_E_UNKNOWN_FIELD);
    struct edgecore_gpio_line_config line;
    edgecore_gpio_line_config_init(&line);
    line.name = "newer";
    line.bus = site.chip;
    line.test_growth = 2;
    CHECK_EQ(edgecore_engine_add_gpio_line(site.engine, &line, NULL), EDGECORE_E_UNKNOWN_FIELD);
    uint32_t buses = 0, channels = 0;
    CHECK_EQ(edgecore_engine_counts(site.engine, &buses, NULL, &channels), EDGECORE_OK);
    CHECK_EQ(buses, 3);
    CHECK_EQ(channels, 2);
    edgecore_engine_destroy(site.engine);

    struct edgecore_engine_config config;
    edgecore_engine_config_init(&config);
    config.test_growth = 1;
    struct edgecore_engine *engine = (struct edgecore_engine *)&config;
    CHECK_EQ(edgecore_engine_create(&config, &engine), EDGECORE_E_UNKNOWN_FIELD);
    CHECK(engine == NULL);
}
#endif

int main(void) {
#ifdef EDGECORE_TEST_GROWN_HEADER
    printf("built against the grown header\n");
#else
    printf("built against the %s header\n", EDGECORE_VERSION_STRING);
#endif
    RUN(test_init_writes_only_the_callers_struct);
    RUN(test_add_from_this_headers_structs);
    RUN(test_stats_write_only_the_callers_struct);
    RUN(test_impossible_sizes);
#ifdef EDGECORE_JOURNAL_CURSOR_NAME_MAX
    RUN(test_journal_structs);
#endif
#if EDGECORE_VERSION_NUMBER >= 1004000
    RUN(test_journal_reader_structs);
    RUN(test_local_bus_struct);
#endif
#if EDGECORE_VERSION_NUMBER >= 1003000
    RUN(test_meter_fields);
#else
    RUN(test_pre_meter_structs_take_the_defaults);
#endif
#ifdef EDGECORE_TEST_GROWN_HEADER
    RUN(test_unknown_field_refused);
#endif
    return cabi_finish("abi_growth");
}
