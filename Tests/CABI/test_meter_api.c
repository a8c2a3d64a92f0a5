/* Meters through the C API without a meter on the line (docs/meters.md): the grown structs' defaults,
 * meter devices and channels through the setters with every refusal and its code, catalogue names
 * (edgecore_meter_item_find), the meter actions' argument and state errors, and a site file with meters
 * (all or nothing). */
#include "cabi_test.h"

static int contains(const char *text, const char *part) { return text && strstr(text, part) != NULL; }

/* last_error contains `part` (printed when not). */
#define CHECK_ERROR(part)                                                                          \
    do {                                                                                           \
        const char *cabi_message = edgecore_engine_last_error();                                   \
        if (!contains(cabi_message, part)) {                                                       \
            cabi_case_failures++;                                                                  \
            fprintf(stderr, "  %s:%d: last error \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,      \
                    cabi_message ? cabi_message : "(null)", part);                                 \
        }                                                                                          \
    } while (0)

static void init_fills_the_meter_defaults(void) {
    struct edgecore_tcp_bus_config tcp;
    struct edgecore_device_config device;
    struct edgecore_channel_config channel;
    memset(&tcp, 0xAA, sizeof tcp);
    memset(&device, 0xAA, sizeof device);
    memset(&channel, 0xAA, sizeof channel);
    edgecore_tcp_bus_config_init(&tcp);
    edgecore_device_config_init(&device);
    edgecore_channel_config_init(&channel);
    CHECK_EQ(tcp.framing, EDGECORE_TCP_MBAP);
    CHECK_EQ(tcp.reserved3, 0);
    CHECK_EQ(tcp.line_baud, 9600);
    CHECK_EQ(tcp.port, 502);
    CHECK(device.meter_address == NULL);
    CHECK_EQ(device.protocol, EDGECORE_PROTOCOL_MODBUS);
    CHECK_EQ(device.meter_type, 0x10);
    CHECK_EQ(device.preamble, 4);
    CHECK_EQ(device.identifier_order, 0);
    CHECK_EQ(device.allow_time_sync, 0);
    CHECK_EQ(device.reserved2, 0);
    CHECK_EQ(device.unit_id, 1);
    CHECK_EQ(channel.meter_item, 0);
    CHECK_EQ(channel.meter_format, EDGECORE_METER_FORMAT_CATALOGUE);
    CHECK_EQ(channel.meter_length, 0);
    CHECK_EQ(channel.meter_decimals, 0);
    CHECK_EQ(channel.sentinel_count, 0);
    /* The grown sizes (edgecore.h asserts them too). */
    CHECK_EQ(sizeof(struct edgecore_tcp_bus_config), 2 * sizeof(void *) + 32);
    CHECK_EQ(sizeof(struct edgecore_device_config), 2 * sizeof(void *) + 40);
    CHECK_EQ(sizeof(struct edgecore_channel_config), 2 * sizeof(void *) + 96);
}

static void item_names(void) {
    uint32_t item = 7;
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_2007, "voltage_a", &item), EDGECORE_OK);
    CHECK_EQ(item, 0x02010100);
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_2007, "forward_active_energy_total", &item), EDGECORE_OK);
    CHECK_EQ(item, 0x00010000);
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_2007, "forward_active_energy_t1_prev3", &item), EDGECORE_OK);
    CHECK_EQ(item, 0x00010103);
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_2007, "frequency", &item), EDGECORE_OK);
    CHECK_EQ(item, 0x02800002);
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_1997, "voltage_a", &item), EDGECORE_OK);
    CHECK_EQ(item, 0xB611);
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_1997, "forward_active_energy_total", &item), EDGECORE_OK);
    CHECK_EQ(item, 0x9010);

    /* Every CJ/T 188 name is its enum constant. */
    static const struct { const char *name; uint32_t item; } cjt188[] = {
        {"current_flow", EDGECORE_CJT188_CURRENT_FLOW}, {"settlement_flow", EDGECORE_CJT188_SETTLEMENT_FLOW},
        {"settlement_heat", EDGECORE_CJT188_SETTLEMENT_HEAT}, {"current_heat", EDGECORE_CJT188_CURRENT_HEAT},
        {"heat_power", EDGECORE_CJT188_HEAT_POWER}, {"flow_rate", EDGECORE_CJT188_FLOW_RATE},
        {"cumulative_flow", EDGECORE_CJT188_CUMULATIVE_FLOW},
        {"supply_temperature", EDGECORE_CJT188_SUPPLY_TEMPERATURE},
        {"return_temperature", EDGECORE_CJT188_RETURN_TEMPERATURE}, {"working_hours", EDGECORE_CJT188_WORKING_HOURS},
        {"real_time", EDGECORE_CJT188_REAL_TIME}, {"status", EDGECORE_CJT188_STATUS},
        {"valve_state", EDGECORE_CJT188_VALVE_STATE}, {"battery_low", EDGECORE_CJT188_BATTERY_LOW},
    };
    for (size_t i = 0; i < sizeof cjt188 / sizeof cjt188[0]; i++) {
        item = 0;
        CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_CJT188, cjt188[i].name, &item), EDGECORE_OK);
        CHECK_EQ(item, cjt188[i].item);
    }

    /* Refusals leave item_out alone. */
    item = 7;
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_1997, "frequency", &item), EDGECORE_E_NOT_FOUND);
    CHECK_ERROR("no dlt645-1997 item named 'frequency'");
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_2007, "voltage_x", &item), EDGECORE_E_NOT_FOUND);
    CHECK_ERROR("no dlt645-2007 item named 'voltage_x'");
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_CJT188, "voltage_a", &item), EDGECORE_E_NOT_FOUND);
    CHECK_ERROR("no cjt188 item named 'voltage_a'");
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_MODBUS, "voltage_a", &item), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_ERROR("protocol must be a meter protocol (1..3), not 0");
    CHECK_EQ(edgecore_meter_item_find(4, "voltage_a", &item), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_meter_item_find(-1, "voltage_a", &item), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_CJT188, NULL, &item), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_CJT188, "status", NULL), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(item, 7);
    CHECK(edgecore_strerror(EDGECORE_E_AMBIGUOUS) != NULL);
    CHECK_STR(edgecore_strerror(EDGECORE_E_AMBIGUOUS), "more than one device answered a request meant for one");
    CHECK_EQ(EDGECORE_E_LAST, EDGECORE_E_AMBIGUOUS);
}

/* The site the tests share: an RTU line (bus 0), a transparent TCP bus (1), a Modbus TCP bus (2), a GPIO
 * chip (3). Nothing is opened: the engine is never started. */
struct meter_site {
    struct edgecore_engine *engine;
    uint32_t line, dtu, plc, chip;
};

static int add_tcp(struct edgecore_engine *engine, const char *name, uint16_t framing, uint32_t *id) {
    struct edgecore_tcp_bus_config tcp;
    edgecore_tcp_bus_config_init(&tcp);
    tcp.name = name;
    tcp.host = "127.0.0.1";
    tcp.port = 1;
    tcp.framing = framing;
    return edgecore_engine_add_tcp_bus(engine, &tcp, id);
}

static int make_buses(struct meter_site *site) {
    memset(site, 0, sizeof *site);
    int rc = edgecore_engine_create(NULL, &site->engine);
    if (rc != EDGECORE_OK) return rc;
    struct edgecore_rtu_bus_config rtu;
    edgecore_rtu_bus_config_init(&rtu);
    rtu.name = "line";
    rtu.device = "/dev/ttyEDGECORE-no-such-line";
    rtu.baud = 2400;
    rtu.parity = 'E';
    if ((rc = edgecore_engine_add_rtu_bus(site->engine, &rtu, &site->line)) != EDGECORE_OK) return rc;
    if ((rc = add_tcp(site->engine, "dtu", EDGECORE_TCP_TRANSPARENT, &site->dtu)) != EDGECORE_OK) return rc;
    if ((rc = add_tcp(site->engine, "plc", EDGECORE_TCP_MBAP, &site->plc)) != EDGECORE_OK) return rc;
    struct edgecore_gpio_chip_config chip;
    edgecore_gpio_chip_config_init(&chip);
    chip.name = "io";
    chip.chip = "sim:/tmp/edgecore-meter-no-such-chip";
    return edgecore_engine_add_gpio_chip(site->engine, &chip, &site->chip);
}

static struct edgecore_device_config meter(const char *name, uint32_t bus, uint16_t protocol, const char *address) {
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = name;
    device.bus = bus;
    device.protocol = protocol;
    device.meter_address = address;
    return device;
}

static struct edgecore_channel_config meter_channel(const char *name, uint32_t device, uint32_t item) {
    struct edgecore_channel_config channel;
    edgecore_channel_config_init(&channel);
    channel.name = name;
    channel.device = device;
    channel.meter_item = item;
    return channel;
}

/* The unit the engine gives channel `name` ("" when none). */
static const char *unit_of(struct edgecore_engine *engine, const char *name) {
    uint32_t id = 0;
    const char *unit = NULL;
    if (edgecore_engine_find_channel(engine, name, &id) != EDGECORE_OK) return "(no channel)";
    if (edgecore_engine_channel_info(engine, id, NULL, &unit, NULL) != EDGECORE_OK) return "(no info)";
    return unit ? unit : "(null)";
}

static void tcp_framing_checked(void) {
    struct meter_site site;
    CHECK_EQ(make_buses(&site), EDGECORE_OK);
    CHECK_EQ(add_tcp(site.engine, "bad", 2, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("'framing'");
    /* Modbus devices on a transparent bus speak RTU: unit 1..247; on MBAP unit 0 is fine. */
    struct edgecore_device_config device;
    edgecore_device_config_init(&device);
    device.name = "rtu-over-tcp";
    device.bus = site.dtu;
    device.unit_id = 0;
    CHECK_EQ(edgecore_engine_add_device(site.engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("field 'unit_id' must be 1..247 on a serial line, not 0");
    device.unit_id = 5;
    CHECK_EQ(edgecore_engine_add_device(site.engine, &device, NULL), EDGECORE_OK);
    device.name = "tcp-slave";
    device.bus = site.plc;
    device.unit_id = 0;
    CHECK_EQ(edgecore_engine_add_device(site.engine, &device, NULL), EDGECORE_OK);
    uint32_t buses = 0, devices = 0;
    CHECK_EQ(edgecore_engine_counts(site.engine, &buses, &devices, NULL), EDGECORE_OK);
    CHECK_EQ(buses, 4);
    CHECK_EQ(devices, 2);
    edgecore_engine_destroy(site.engine);
}

static void meter_devices_and_their_refusals(void) {
    struct meter_site site;
    CHECK_EQ(make_buses(&site), EDGECORE_OK);
    struct edgecore_engine *engine = site.engine;
    uint32_t id = 99;

    struct edgecore_device_config device = meter("em1", site.line, EDGECORE_PROTOCOL_DLT645_2007, "000012345678");
    device.allow_time_sync = 1;
    device.preamble = 2;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &id), EDGECORE_OK);
    CHECK_EQ(id, 0);
    /* The same address on another bus; on the same bus a duplicate. */
    device.name = "em1-dtu";
    device.bus = site.dtu;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &id), EDGECORE_OK);
    CHECK_EQ(id, 1);
    device.name = "em1-again";
    device.bus = site.line;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_DUPLICATE);
    CHECK_ERROR("meter address 000012345678 is already device 'em1' on this bus");
    /* A 1997 meter with a padded address, a CJ/T 188 water meter. */
    device = meter("em2", site.line, EDGECORE_PROTOCOL_DLT645_1997, "AAAA00001234");
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &id), EDGECORE_OK);
    CHECK_EQ(id, 2);
    device = meter("water", site.line, EDGECORE_PROTOCOL_CJT188, "11223344556677");
    device.identifier_order = 1;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &id), EDGECORE_OK);
    CHECK_EQ(id, 3);

    /* The Modbus fields a meter ignores (edgecore.h), whatever they hold. */
    device = meter("em3", site.line, EDGECORE_PROTOCOL_DLT645_2007, "000000000003");
    device.unit_id = 0;
    device.max_registers = 0;
    device.max_bits = 0;
    device.one_channel_per_request = 7;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &id), EDGECORE_OK);
    CHECK_EQ(id, 4);

    /* Refusals. */
    device = meter("m", site.plc, EDGECORE_PROTOCOL_DLT645_2007, "000000000001");
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("protocol dlt645-2007 needs a serial line: an rtu bus, or a tcp bus with 'framing: transparent'");
    device.bus = site.chip;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_NOT_FOUND);
    CHECK_ERROR("no Modbus bus with id 3");
    device.bus = 99;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_NOT_FOUND);
    device.bus = site.line;
    device.meter_address = NULL;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("a dlt645-2007 meter needs its 'meter_address'");
    device.meter_address = "1234";
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("meter address '1234': 4 characters, a DL/T 645 address has 12 digits");
    device.meter_address = "00000000000X";
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("character 12 is not a digit");
    device.meter_address = "999999999999";
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("the broadcast address 999999999999 is no meter's address");
    device.meter_address = "000000000001";
    device.preamble = 5;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("field 'preamble' must be 0..4, not 5");
    device.preamble = 4;
    device.protocol = 4;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("'protocol'");
    device = meter("c", site.line, EDGECORE_PROTOCOL_CJT188, "00000000000001");
    device.meter_type = 0x55;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("field 'meter_type' 0x55 is no CJ/T 188 meter type");
    device.meter_type = 0x20;
    device.identifier_order = 2;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("field 'identifier_order' must be 0 or 1, not 2");
    device.identifier_order = 0;
    device.allow_time_sync = 1;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("only DL/T 645 meters take a time sync ('allow_time_sync')");
    device.meter_address = "000012345678";
    device.allow_time_sync = 0;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("a CJ/T 188 address has 14 digits");
    /* A Modbus device with a meter address. */
    edgecore_device_config_init(&device);
    device.name = "slave";
    device.bus = site.line;
    device.unit_id = 9;
    device.meter_address = "000012345678";
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("a Modbus device has no meter address (set 'protocol' for a meter)");

    uint32_t devices = 0;
    CHECK_EQ(edgecore_engine_counts(engine, NULL, &devices, NULL), EDGECORE_OK);
    CHECK_EQ(devices, 5);
    const char *name = NULL;
    uint32_t bus = 99;
    CHECK_EQ(edgecore_engine_device_info(engine, 3, &name, &bus, NULL), EDGECORE_OK);
    CHECK_STR(name, "water");
    CHECK_EQ(bus, site.line);
    edgecore_engine_destroy(engine);
}

static void meter_channels_and_their_refusals(void) {
    struct meter_site site;
    CHECK_EQ(make_buses(&site), EDGECORE_OK);
    struct edgecore_engine *engine = site.engine;
    uint32_t em1 = 99, em2 = 99, water = 99, heat = 99, id = 99;
    struct edgecore_device_config device = meter("em1", site.line, EDGECORE_PROTOCOL_DLT645_2007, "000012345678");
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &em1), EDGECORE_OK);
    device = meter("em2", site.dtu, EDGECORE_PROTOCOL_DLT645_1997, "000000001234");
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &em2), EDGECORE_OK);
    device = meter("water", site.line, EDGECORE_PROTOCOL_CJT188, "00000000000001");
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &water), EDGECORE_OK);
    device = meter("heat", site.line, EDGECORE_PROTOCOL_CJT188, "00000000000002");
    device.meter_type = 0x20;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, &heat), EDGECORE_OK);

    /* A catalogue item by name: the catalogue's unit. */
    uint32_t item = 0;
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_2007, "voltage_a", &item), EDGECORE_OK);
    struct edgecore_channel_config channel = meter_channel("em1.ua", em1, item);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, &id), EDGECORE_OK);
    CHECK_EQ(id, 0);
    CHECK_STR(unit_of(engine, "em1.ua"), "V");
    /* Identifier 0 is the catalogue's combined active energy (meter_item's default is a real identifier). */
    channel = meter_channel("em1.energy0", em1, 0);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    CHECK_STR(unit_of(engine, "em1.energy0"), "kWh");
    /* Its own format, for an identifier outside the catalogue and over one inside it. */
    channel = meter_channel("em1.counter", em1, 0x04000403);
    channel.meter_format = EDGECORE_METER_FORMAT_BCD;
    channel.meter_length = 6;
    channel.scale = 2;
    channel.valid_max = 1e12;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    CHECK_STR(unit_of(engine, "em1.counter"), "");
    channel = meter_channel("em1.ia", em1, 0x02020100);
    channel.meter_format = EDGECORE_METER_FORMAT_BCD_SIGNED;
    channel.meter_length = 3;
    channel.meter_decimals = 2;
    channel.unit = "mA";
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    CHECK_STR(unit_of(engine, "em1.ia"), "mA");
    channel = meter_channel("em1.status", em1, 0x04000501);
    channel.meter_format = EDGECORE_METER_FORMAT_BINARY;
    channel.meter_length = 2;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_1997, "voltage_a", &item), EDGECORE_OK);
    /* The Modbus fields a meter channel ignores (edgecore.h), whatever they hold. */
    channel = meter_channel("em1.ub", em1, 0x02010200);
    channel.address = 7;
    channel.function = 9;
    channel.type = 77;
    channel.order = 9;
    channel.bit = 200;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    CHECK_STR(unit_of(engine, "em1.ub"), "V");
    channel = meter_channel("em2.ua", em2, item);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_CJT188, "current_flow", &item), EDGECORE_OK);
    channel = meter_channel("water.flow", water, item);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    CHECK_STR(unit_of(engine, "water.flow"), "m3");
    channel = meter_channel("water.valve", water, EDGECORE_CJT188_VALVE_STATE);
    channel.writable = 1;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    channel = meter_channel("heat.energy", heat, EDGECORE_CJT188_CURRENT_HEAT);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    CHECK_STR(unit_of(engine, "heat.energy"), "kWh");
    channel = meter_channel("heat.supply", heat, EDGECORE_CJT188_SUPPLY_TEMPERATURE);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_OK);
    CHECK_STR(unit_of(engine, "heat.supply"), "degC");

    /* Refusals: nothing is added. */
    channel = meter_channel("bad", em1, 0x04000403);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("channel 'bad': identifier 0x04000403 is not in the catalogue: give its format (bcd, bcd_signed or binary), length and decimals");
    channel.meter_format = EDGECORE_METER_FORMAT_BCD;
    channel.meter_length = 2;
    channel.meter_decimals = 4;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("decimals 4: must be 0..8 and fewer than the 4 digits");
    channel.meter_decimals = 0;
    channel.meter_length = 9;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("value length 9: must be 1..8 bytes");
    channel.meter_length = 0; /* the catalogue's length: there is none outside it */
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("identifier 0x04000403 is not in the catalogue: give the value's 'length' (bytes, 1..8)");
    channel.meter_length = 2;
    channel.meter_format = 4;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("field 'meter_format' must be 0..3, not 4");
    channel = meter_channel("bad", em1, 0x02010100);
    channel.writable = 1;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("DL/T 645 channels cannot be writable");
    channel = meter_channel("bad", em1, 0x02010100);
    channel.sentinel_count = 1;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("meter channels have no sentinels");
    channel.sentinel_count = 5;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("field 'sentinel_count' must be 0..4, not 5");
    channel = meter_channel("bad", em1, 0x02010100);
    channel.interval_ms = 0;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("'interval_ms'");
    channel = meter_channel("bad", em1, 0x02010100);
    channel.scale = 0;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("field 'scale' must be finite and nonzero");
    channel = meter_channel("bad", em1, 0x02010100);
    channel.valid_min = 10;
    channel.valid_max = 1;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("'valid_min' 10.0 is above 'valid_max' 1.0");
    /* 1997: a 4-byte identifier, whatever the format; a 2007-only name. */
    channel = meter_channel("bad", em2, 0x02010100);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("identifier 0x02010100 has 4 bytes, DL/T 645-1997 identifiers have 2");
    channel.meter_format = EDGECORE_METER_FORMAT_BCD;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("identifier 0x02010100 has 4 bytes, DL/T 645-1997 identifiers have 2");
    CHECK_EQ(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_1997, "frequency", &item), EDGECORE_E_NOT_FOUND);
    /* CJ/T 188: the meter's class, the item numbers, only the valve writable. */
    channel = meter_channel("bad", water, EDGECORE_CJT188_CURRENT_HEAT);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("'current_heat' is a field of heat meters; device 'water' has meter type 0x10");
    channel = meter_channel("bad", heat, EDGECORE_CJT188_CURRENT_FLOW);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("'current_flow' is a field of water and gas meters; device 'heat' has meter type 0x20");
    channel = meter_channel("bad", water, 15);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("field 'meter_item' 15 is no CJ/T 188 item (1..14)");
    channel = meter_channel("bad", water, 0);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("field 'meter_item' 0 is no CJ/T 188 item (1..14)");
    channel = meter_channel("bad", water, EDGECORE_CJT188_CURRENT_FLOW);
    channel.writable = 1;
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_CONFIG);
    CHECK_ERROR("of a CJ/T 188 meter only 'valve_state' can be writable");
    /* A duplicate name and a device that does not exist. */
    channel = meter_channel("em1.ua", em1, 0x02010200);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_DUPLICATE);
    channel = meter_channel("bad", 99, 0x02010200);
    CHECK_EQ(edgecore_engine_add_channel(engine, &channel, NULL), EDGECORE_E_NOT_FOUND);

    uint32_t channels = 0;
    CHECK_EQ(edgecore_engine_counts(engine, NULL, NULL, &channels), EDGECORE_OK);
    CHECK_EQ(channels, 11);
    CHECK_EQ(edgecore_engine_find_channel(engine, "bad", &id), EDGECORE_E_NOT_FOUND);
    edgecore_engine_destroy(engine);
}

/* The meter actions' argument and state errors, in the order Engine.meterTimeSync / meterDiscover check
 * them: bus, then the meters' consent (time sync) or the bus's framing (discovery), then the running
 * engine. */
static void meter_actions_on_a_stopped_engine(void) {
    struct meter_site site;
    CHECK_EQ(make_buses(&site), EDGECORE_OK);
    struct edgecore_engine *engine = site.engine;
    uint32_t cjt_bus = 99;
    CHECK_EQ(add_tcp(engine, "cjt-only", EDGECORE_TCP_TRANSPARENT, &cjt_bus), EDGECORE_OK);
    struct edgecore_device_config device = meter("em1", site.line, EDGECORE_PROTOCOL_DLT645_2007, "000012345678");
    device.allow_time_sync = 1;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_OK);
    device = meter("em2", site.line, EDGECORE_PROTOCOL_DLT645_1997, "000000001234");
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_OK); /* allow_time_sync 0 */
    device = meter("em3", site.dtu, EDGECORE_PROTOCOL_DLT645_2007, "000000000003");
    device.allow_time_sync = 1;
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_OK);
    device = meter("water", cjt_bus, EDGECORE_PROTOCOL_CJT188, "00000000000001");
    CHECK_EQ(edgecore_engine_add_device(engine, &device, NULL), EDGECORE_OK);
    struct edgecore_device_config slave;
    edgecore_device_config_init(&slave);
    slave.name = "slave";
    slave.bus = site.dtu;
    CHECK_EQ(edgecore_engine_add_device(engine, &slave, NULL), EDGECORE_OK); /* Modbus: not asked */

    CHECK_EQ(edgecore_engine_meter_time_sync(NULL, site.dtu, 0, 100), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_meter_time_sync(engine, 99, 0, 100), EDGECORE_E_NOT_FOUND);
    CHECK_ERROR("no bus with id 99");
    CHECK_EQ(edgecore_engine_meter_time_sync(engine, site.line, 0, 100), EDGECORE_E_NOT_WRITABLE);
    CHECK_ERROR("bus 'line': meter 'em2' does not allow a time sync (allow_time_sync)");
    CHECK_EQ(edgecore_engine_meter_time_sync(engine, site.plc, 0, 100), EDGECORE_E_NOT_WRITABLE);
    CHECK_ERROR("bus 'plc' has no DL/T 645 meter to sync");
    CHECK_EQ(edgecore_engine_meter_time_sync(engine, cjt_bus, 1767225600, 100), EDGECORE_E_NOT_WRITABLE);
    CHECK_ERROR("bus 'cjt-only' has no DL/T 645 meter to sync");
    CHECK_EQ(edgecore_engine_meter_time_sync(engine, site.chip, 0, 100), EDGECORE_E_NOT_WRITABLE);
    /* Every DL/T 645 meter of the bus allows it (the Modbus slave has no say): only the stopped engine. */
    CHECK_EQ(edgecore_engine_meter_time_sync(engine, site.dtu, 0, 100), EDGECORE_E_NOT_RUNNING);
    CHECK_EQ(edgecore_engine_meter_time_sync(engine, site.dtu, 1767225600, 0), EDGECORE_E_NOT_RUNNING);

    char address[16];
    memcpy(address, "untouched", 10);
    CHECK_EQ(edgecore_engine_meter_discover(NULL, site.line, address, sizeof address, 100), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_meter_discover(engine, site.line, NULL, 13, 100), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_meter_discover(engine, site.line, address, 12, 100), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_ERROR("address_out holds 12 bytes; a DL/T 645 address needs 13");
    CHECK_EQ(edgecore_engine_meter_discover(engine, 99, address, 12, 100), EDGECORE_E_INVALID_ARGUMENT);
    CHECK_EQ(edgecore_engine_meter_discover(engine, 99, address, 13, 100), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_meter_discover(engine, site.plc, address, 13, 100), EDGECORE_E_CONFIG);
    CHECK_ERROR("bus 'plc' carries no meter frames");
    CHECK_EQ(edgecore_engine_meter_discover(engine, site.chip, address, 13, 100), EDGECORE_E_CONFIG);
    CHECK_EQ(edgecore_engine_meter_discover(engine, site.line, address, 13, 100), EDGECORE_E_NOT_RUNNING);
    CHECK_EQ(edgecore_engine_meter_discover(engine, cjt_bus, address, 13, 100), EDGECORE_E_NOT_RUNNING);
    CHECK_STR(address, "untouched");
    edgecore_engine_destroy(engine);
}

static int write_file(const char *path, const char *text) {
    FILE *file = fopen(path, "w");
    if (!file) return -1;
    fputs(text, file);
    return fclose(file);
}

/* A site file with meters, and one whose last channel is wrong: nothing of it is added. */
static void site_file_with_meters(void) {
    char folder[64] = "/tmp/edgecore-meter-yaml-XXXXXX";
    CHECK(mkdtemp(folder) != NULL);
    char good[96], bad[96];
    snprintf(good, sizeof good, "%s/good.yaml", folder);
    snprintf(bad, sizeof bad, "%s/bad.yaml", folder);
    CHECK_EQ(write_file(good,
                        "buses:\n"
                        "  - name: line\n"
                        "    type: rtu\n"
                        "    device: /dev/ttyEDGECORE-no-such-line\n"
                        "    baud: 2400\n"
                        "    parity: E\n"
                        "    devices:\n"
                        "      - name: em1\n"
                        "        protocol: dlt645-2007\n"
                        "        meter_address: '000012345678'\n"
                        "        allow_time_sync: true\n"
                        "        channels:\n"
                        "          - {name: em1.energy, item: forward_active_energy_total}\n"
                        "          - {name: em1.ub, di: 0x02010200}\n"
                        "      - name: water\n"
                        "        protocol: cjt188\n"
                        "        meter_address: '00000000000001'\n"
                        "        channels:\n"
                        "          - {name: water.flow, item: current_flow, unit: L}\n"
                        "  - name: dtu\n"
                        "    type: tcp\n"
                        "    host: 127.0.0.1\n"
                        "    port: 1\n"
                        "    framing: transparent\n"
                        "    devices:\n"
                        "      - name: em3\n"
                        "        protocol: dlt645-2007\n"
                        "        meter_address: '000012345678'\n"
                        "        channels: [{name: em3.energy, item: forward_active_energy_total}]\n"),
             0);
    CHECK_EQ(write_file(bad,
                        "buses:\n"
                        "  - name: line2\n"
                        "    type: rtu\n"
                        "    device: /dev/ttyEDGECORE-no-such-line\n"
                        "    devices:\n"
                        "      - name: em9\n"
                        "        protocol: dlt645-1997\n"
                        "        meter_address: '000012345679'\n"
                        "        channels:\n"
                        "          - {name: em9.ua, item: voltage_a}\n"
                        "          - {name: em9.f, item: frequency}\n"),
             0);
    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_load_yaml(engine, good), EDGECORE_OK);
    uint32_t buses = 0, devices = 0, channels = 0;
    CHECK_EQ(edgecore_engine_counts(engine, &buses, &devices, &channels), EDGECORE_OK);
    CHECK(buses == 2 && devices == 3 && channels == 4);
    CHECK_STR(unit_of(engine, "em1.energy"), "kWh");
    CHECK_STR(unit_of(engine, "em1.ub"), "V");
    CHECK_STR(unit_of(engine, "water.flow"), "L");
    /* What the file set is what the actions see. */
    uint32_t line = 99;
    CHECK_EQ(edgecore_engine_find_bus(engine, "line", &line), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_meter_time_sync(engine, line, 0, 100), EDGECORE_E_NOT_RUNNING);
    /* Each device's protocol and address. */
    uint32_t em1 = 99, water = 99;
    CHECK_EQ(edgecore_engine_find_device(engine, "em1", &em1), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_find_device(engine, "water", &water), EDGECORE_OK);
    uint16_t protocol = 99;
    char address[15];
    CHECK_EQ(edgecore_engine_device_protocol(engine, em1, &protocol, address, sizeof address), EDGECORE_OK);
    CHECK_EQ(protocol, EDGECORE_PROTOCOL_DLT645_2007);
    CHECK_STR(address, "000012345678");
    CHECK_EQ(edgecore_engine_device_protocol(engine, water, &protocol, address, sizeof address), EDGECORE_OK);
    CHECK_EQ(protocol, EDGECORE_PROTOCOL_CJT188);
    CHECK_STR(address, "00000000000001");
    CHECK_EQ(edgecore_engine_device_protocol(engine, water, NULL, address, 5), EDGECORE_OK);
    CHECK_STR(address, "0000");  /* cut to size - 1 */
    CHECK_EQ(edgecore_engine_device_protocol(engine, water, &protocol, NULL, 0), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_device_protocol(engine, water, &protocol, NULL, 15), EDGECORE_E_NULL_POINTER);
    CHECK_EQ(edgecore_engine_device_protocol(engine, 3, &protocol, address, sizeof address), EDGECORE_E_NOT_FOUND);
    CHECK_EQ(edgecore_engine_device_protocol(NULL, 0, &protocol, NULL, 0), EDGECORE_E_NULL_POINTER);

    CHECK_EQ(edgecore_engine_load_yaml(engine, bad), EDGECORE_E_CONFIG_FILE);
    CHECK_ERROR("bad.yaml:11: bus 'line2', device 'em9', channel 'em9.f', field 'item': no dlt645-1997 item named 'frequency'");
    CHECK_EQ(edgecore_engine_counts(engine, &buses, &devices, &channels), EDGECORE_OK);
    CHECK(buses == 2 && devices == 3 && channels == 4);
    CHECK_EQ(edgecore_engine_find_bus(engine, "line2", &line), EDGECORE_E_NOT_FOUND);
    edgecore_engine_destroy(engine);
    CHECK_EQ(unlink(good), 0);
    CHECK_EQ(unlink(bad), 0);
    CHECK_EQ(rmdir(folder), 0);
}

int main(int argc, char **argv) {
    if (argc > 1) cabi_only = argv[1];
    RUN(init_fills_the_meter_defaults);
    RUN(item_names);
    RUN(tcp_framing_checked);
    RUN(meter_devices_and_their_refusals);
    RUN(meter_channels_and_their_refusals);
    RUN(meter_actions_on_a_stopped_engine);
    RUN(site_file_with_meters);
    return cabi_finish("meter_api");
}
