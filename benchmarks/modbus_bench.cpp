// modbus_bench: the EdgeCore engine polling Modbus, against raw libmodbus and pymodbus, and against the wire.
//
// 1. TCP throughput on 127.0.0.1: the engine polling build/peers/modbus_server as fast as it can, a raw
//    libmodbus client loop (modbus_read_registers of 10 registers; also run in a second thread, the
//    engine's process shape) and the pymodbus sync client loop against the same server, interleaved for
//    ROUNDS rounds; median req/s, client CPU per request, and the median of the same-round ratios.
// 2. RTU at 9600 and 19200 baud over a socat pty pair, the slave being wire_timed_slave (it answers when the
//    answer's last character would arrive on a real line): the engine's polls/s against the wire limit
//    1 / (request + answer + 2 * t3.5), with a raw libmodbus RTU loop for reference.
// 3. The planner: a 40-channel site (an SDM630-like meter, two greenhouse sensors) on a 9600-baud line:
//    edgecore_engine_plan's requests and estimated bus time per cycle, merged and one channel per request,
//    and the cycle measured over the wire-timed slave for both plans.
// Figures and ratios come from the same run; the machine is a shared 2-core VM, so TCP rounds are
// interleaved and the ratios taken within each round. Every loop is bounded in time and count; every process started here
// is stopped by its PID (and dies with this one: PR_SET_PDEATHSIG), every address is 127.0.0.1 or a pty.
//
// Usage: modbus_bench ROOT   (ROOT: the repository; uses ROOT/build/peers/modbus_server,
//        ROOT/build/bench/wire_timed_slave, ROOT/benchmarks/pymodbus_client.py, ROOT/.build-venv/bin/python)
// Environment: MODBUS_BENCH_ROUNDS (TCP rounds, default 9), MODBUS_BENCH_SECONDS (TCP window per
// measurement, default 1), MODBUS_BENCH_RTU_SECONDS (RTU window, default 6 at 9600, half at 19200),
// MODBUS_BENCH_PIN=0 (do not pin the server and the clients to different CPUs),
// MODBUS_BENCH_ONLY=tcp,rtu,plan (run only these parts).

#define BENCH_PROGRAM "modbus_bench"
#include "bench_common.h"

#include <edgecore.h>
#include <modbus.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <thread>

namespace {

// ---------------------------------------------------------------------------------------------------
// Small helpers (the rest: bench_common.h)

bool executable(const std::string &path) { return access(path.c_str(), X_OK) == 0; }

int free_tcp_port() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        getsockname(s, reinterpret_cast<sockaddr *>(&a), &len) != 0)
        die("cannot find a free port on 127.0.0.1");
    int port = ntohs(a.sin_port);
    close(s);
    return port;
}

// ---------------------------------------------------------------------------------------------------
// Engine helpers

struct Counters {
    uint64_t requests = 0, responses = 0, failures = 0;
};

Counters device_counters(edgecore_engine *e, uint32_t device) {
    edgecore_device_stats s{};
    check(edgecore_engine_device_stats(e, device, &s), "edgecore_engine_device_stats");
    return {s.requests, s.responses, s.timeouts + s.frame_errors + s.exceptions + s.disconnects};
}

// Drains everything the engine has; counts OK and other readings; remembers OK timestamps per channel
// (when `stamps` is given) from `from_ns` (CLOCK_REALTIME) on.
struct Drained {
    uint64_t ok = 0, bad = 0;
    uint16_t first_bad_status = 0;
};

void drain_all(edgecore_engine *e, Drained &d, std::vector<std::vector<int64_t>> *stamps = nullptr) {
    static edgecore_reading buf[8192];
    int n;
    while ((n = edgecore_engine_drain(e, buf, 8192)) > 0) {
        for (int i = 0; i < n; ++i) {
            if (buf[i].status == EDGECORE_STATUS_OK) {
                ++d.ok;
                if (stamps && buf[i].channel < stamps->size()) (*stamps)[buf[i].channel].push_back(buf[i].timestamp_ns);
            } else {
                if (d.bad++ == 0) d.first_bad_status = buf[i].status;
            }
        }
    }
}

edgecore_engine *new_engine() {
    edgecore_engine_config ec;
    edgecore_engine_config_init(&ec);
    ec.ring_capacity = 1u << 16;
    edgecore_engine *e = nullptr;
    check(edgecore_engine_create(&ec, &e), "edgecore_engine_create");
    return e;
}

// `groups` requests of 10 holding registers each (addresses 10*g .. 10*g+9, one U16 channel per register),
// all at interval_ms, on one device (unit 1, max_registers 10).
uint32_t add_register_groups(edgecore_engine *e, uint32_t bus, int groups, uint32_t interval_ms) {
    edgecore_device_config dc;
    edgecore_device_config_init(&dc);
    dc.name = "dev";
    dc.bus = bus;
    dc.unit_id = 1;
    dc.max_registers = 10;
    uint32_t dev;
    check(edgecore_engine_add_device(e, &dc, &dev), "edgecore_engine_add_device");
    for (int g = 0; g < groups; ++g)
        for (int i = 0; i < 10; ++i) {
            char name[32];
            std::snprintf(name, sizeof name, "r%d", g * 10 + i);
            edgecore_channel_config cc;
            edgecore_channel_config_init(&cc);
            cc.name = name;
            cc.device = dev;
            cc.address = uint16_t(g * 10 + i);
            cc.function = EDGECORE_FC_HOLDING_REGISTERS;
            cc.type = EDGECORE_TYPE_U16;
            cc.interval_ms = interval_ms;
            check(edgecore_engine_add_channel(e, &cc, nullptr), "edgecore_engine_add_channel");
        }
    return dev;
}

// ---------------------------------------------------------------------------------------------------
// 1. TCP

struct Rate {
    double per_second = 0;
    double cpu_us = 0;  // client CPU time per request (the whole client process over the window)
    uint64_t count = 0, errors = 0;
    double seconds = 0;
    std::string note;
};

int64_t process_cpu_ns() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The engine polling `groups` 10-register requests at interval_ms on 127.0.0.1:port. Configured once; each
// window starts it (connect), lets it run 150 ms, counts the device's `responses` over the window and stops
// it. A consumer (this thread) drains the ring every 10 ms, as a gateway would.
struct EngineClient {
    edgecore_engine *e = nullptr;
    uint32_t dev = 0;

    EngineClient(int port, int groups, uint32_t interval_ms) {
        e = new_engine();
        edgecore_tcp_bus_config bc;
        edgecore_tcp_bus_config_init(&bc);
        bc.name = "tcp";
        bc.host = "127.0.0.1";
        bc.port = uint16_t(port);
        uint32_t bus;
        check(edgecore_engine_add_tcp_bus(e, &bc, &bus), "edgecore_engine_add_tcp_bus");
        dev = add_register_groups(e, bus, groups, interval_ms);
    }
    ~EngineClient() { edgecore_engine_destroy(e); }

    Rate window(double seconds) {
        check(edgecore_engine_start(e), "edgecore_engine_start");
        Drained d;
        int64_t warm_end = mono_ns() + 150000000;
        while (mono_ns() < warm_end) { sleep_ms(10); drain_all(e, d); }
        d = Drained{};
        struct edgecore_ring_stats rs0{}, rs1{};
        edgecore_engine_ring_stats(e, &rs0);
        Counters c0 = device_counters(e, dev);
        int64_t t0 = mono_ns(), cpu0 = process_cpu_ns();
        int64_t end = t0 + int64_t(seconds * 1e9);
        while (mono_ns() < end) { sleep_ms(10); drain_all(e, d); }
        Counters c1 = device_counters(e, dev);
        int64_t t1 = mono_ns(), cpu1 = process_cpu_ns();
        check(edgecore_engine_stop(e), "edgecore_engine_stop");
        drain_all(e, d);
        edgecore_engine_ring_stats(e, &rs1);
        Rate r;
        r.seconds = double(t1 - t0) / 1e9;
        r.count = c1.responses - c0.responses;
        uint64_t dropped = rs1.dropped - rs0.dropped;
        r.errors = (c1.failures - c0.failures) + d.bad + dropped;
        r.per_second = double(r.count) / r.seconds;
        r.cpu_us = r.count ? double(cpu1 - cpu0) / 1e3 / double(r.count) : 0;
        if (d.bad) r.note += " bad readings " + std::to_string(d.bad) + " (first status " + std::to_string(d.first_bad_status) + ")";
        if (dropped) r.note += " ring dropped " + std::to_string(dropped);
        return r;
    }
};

// A plain libmodbus client on its own connection: modbus_read_registers(0, 10) in a loop for the window.
// With in_thread, the loop runs in a second thread while the main thread wakes every 10 ms: the shape of a
// process using the engine (a bus thread and a consumer), to tell what that shape costs by itself.
struct RawClient {
    modbus_t *ctx = nullptr;
    bool in_thread;

    RawClient(int port, bool thread) : in_thread(thread) {
        ctx = modbus_new_tcp("127.0.0.1", port);
        if (!ctx || modbus_connect(ctx) != 0) die("raw libmodbus: cannot connect to 127.0.0.1");
        modbus_set_slave(ctx, 1);
        modbus_set_response_timeout(ctx, 2, 0);
        uint16_t regs[10];
        for (int i = 0; i < 200; ++i) modbus_read_registers(ctx, 0, 10, regs);
    }
    ~RawClient() {
        modbus_close(ctx);
        modbus_free(ctx);
    }

    Rate window(double seconds) {
        Rate r;
        int64_t t0 = 0, t1 = 0, cpu0 = 0, cpu1 = 0;
        auto loop = [&] {
            uint16_t regs[10];
            for (int i = 0; i < 20; ++i) modbus_read_registers(ctx, 0, 10, regs);
            const uint64_t max_requests = 50000000;
            t0 = mono_ns();
            cpu0 = process_cpu_ns();
            int64_t end = t0 + int64_t(seconds * 1e9), now = t0;
            while (now < end && r.count < max_requests) {
                if (modbus_read_registers(ctx, 0, 10, regs) != 10) ++r.errors;
                ++r.count;
                now = mono_ns();
            }
            cpu1 = process_cpu_ns();
            t1 = now;
        };
        if (in_thread) {
            std::atomic<bool> done{false};
            std::thread worker([&] { loop(); done = true; });
            while (!done) sleep_ms(10);
            worker.join();
        } else {
            loop();
        }
        r.seconds = double(t1 - t0) / 1e9;
        r.per_second = double(r.count) / r.seconds;
        r.cpu_us = r.count ? double(cpu1 - cpu0) / 1e3 / double(r.count) : 0;
        return r;
    }
};

std::string g_python, g_pyclient;

// pymodbus_client.py, started once (connect, warm-up, READY); each window is one line on its stdin.
struct PyClient {
    Child c;
    bool ok = false;

    explicit PyClient(int port) {
        c = spawn({g_python, g_pyclient, "127.0.0.1", std::to_string(port)}, 1, "pymodbus_client", true);
        ok = read_line(c, 30000) == "READY";
    }
    ~PyClient() { stop(c); }

    Rate window(double seconds) {
        Rate r;
        std::string cmd = std::to_string(seconds) + "\n";
        if (!ok || write(c.in, cmd.data(), cmd.size()) != ssize_t(cmd.size())) {
            r.note = "pymodbus client failed: " + log_tail(c);
            r.errors = 1;
            return r;
        }
        std::string line = read_line(c, int(seconds * 1000) + 20000);
        unsigned long long n = 0, errors = 0;
        double secs = 0, cpu = 0;
        if (std::sscanf(line.c_str(), "requests %llu errors %llu seconds %lf cpu_seconds %lf", &n, &errors, &secs,
                        &cpu) != 4 || secs <= 0) {
            r.note = "pymodbus client failed: " + log_tail(c);
            r.errors = 1;
            ok = false;
            return r;
        }
        r.count = n;
        r.errors = errors;
        r.seconds = secs;
        r.per_second = double(n) / secs;
        r.cpu_us = n ? cpu * 1e6 / double(n) : 0;
        return r;
    }
};

// ---------------------------------------------------------------------------------------------------
// 2. RTU over a pty pair and the wire-timed slave

struct WireFormat {
    int baud;
    int bits_per_char = 10;  // 8N1
    double char_us() const { return 1e6 * bits_per_char / baud; }
    double t35_us() const { return baud > 19200 ? 1750.0 : 3.5 * char_us(); }
    // Read of `count` registers: request 8 characters, answer 5 + 2 * count.
    double read_us(int count) const { return (8 + 5 + 2 * count) * char_us() + 2 * t35_us(); }
};

std::string g_slave_bin;

// socat's pty pair (links A, B in the scratch directory) and wire_timed_slave on B.
Line open_line(int baud, const std::string &units) {
    Line l = open_pty_pair();
    l.slave = spawn({g_slave_bin, "--device", l.b, "--baud", std::to_string(baud), "--units", units}, 0, "wire_timed_slave");
    wait_ready(l.slave);
    return l;
}

struct SlaveStats {
    unsigned long requests = 0, replies = 0, ignored = 0, bad_crc = 0, early = 0;
    double busy_ms = 0, elapsed_ms = 0, late_avg_us = 0, late_max_us = 0, turnaround_avg_us = 0, turnaround_max_us = 0;
    bool ok = false;
};

SlaveStats close_line(Line &l) {
    SlaveStats s;
    std::string text = close_pty_pair(l);
    s.ok = std::sscanf(text.c_str(),
                       "STATS requests %lu replies %lu ignored %lu bad_crc %lu early %lu busy_ms %lf elapsed_ms %lf "
                       "late_avg_us %lf late_max_us %lf turnaround_avg_us %lf turnaround_max_us %lf",
                       &s.requests, &s.replies, &s.ignored, &s.bad_crc, &s.early, &s.busy_ms, &s.elapsed_ms,
                       &s.late_avg_us, &s.late_max_us, &s.turnaround_avg_us, &s.turnaround_max_us) == 11;
    return s;
}

// Mean period (ns) of one channel's OK readings after skipping `skip`, using at most the readings within
// `window_ns` of the first one used: (last - first) / (n - 1). 0 if fewer than 2.
double mean_period_ns(const std::vector<int64_t> &ts, size_t skip, int64_t window_ns, size_t *used = nullptr) {
    if (ts.size() < skip + 2) return 0;
    size_t last = skip;
    while (last + 1 < ts.size() && ts[last + 1] - ts[skip] <= window_ns) ++last;
    if (used) *used = last - skip + 1;
    return last > skip ? double(ts[last] - ts[skip]) / double(last - skip) : 0;
}

edgecore_engine *rtu_engine(const std::string &device, int baud, uint32_t *bus_out) {
    edgecore_engine *e = new_engine();
    edgecore_rtu_bus_config bc;
    edgecore_rtu_bus_config_init(&bc);
    bc.name = "line";
    bc.device = device.c_str();
    bc.baud = uint32_t(baud);
    check(edgecore_engine_add_rtu_bus(e, &bc, bus_out), "edgecore_engine_add_rtu_bus");
    return e;
}

// Runs a started engine until every channel in `watch` has `cycles` + skip readings or `max_seconds`
// pass; returns the OK timestamps per channel.
std::vector<std::vector<int64_t>> collect(edgecore_engine *e, uint32_t channels, const std::vector<uint32_t> &watch,
                                          size_t needed, double max_seconds, Drained &d) {
    std::vector<std::vector<int64_t>> stamps(channels);
    int64_t end = mono_ns() + int64_t(max_seconds * 1e9);
    while (mono_ns() < end) {
        edgecore_engine_wait(e, 100);
        drain_all(e, d, &stamps);
        bool done = true;
        for (uint32_t ch : watch) done = done && stamps[ch].size() >= needed;
        if (done) break;
    }
    return stamps;
}

struct RtuResult {
    double engine_polls = 0, raw_polls = 0, limit = 0;
    size_t engine_n = 0, raw_n = 0;
    SlaveStats engine_slave, raw_slave;
    uint64_t errors = 0;
    std::string note;
};

RtuResult rtu_throughput(int baud, double seconds) {
    RtuResult r;
    WireFormat w{baud};
    r.limit = 1e6 / w.read_us(10);
    const size_t skip = 2;  // the first polls include opening the port
    const size_t needed = skip + size_t(seconds * r.limit) + 1;

    Line l = open_line(baud, "1");
    uint32_t bus;
    edgecore_engine *e = rtu_engine(l.a, baud, &bus);
    uint32_t dev = add_register_groups(e, bus, 1, 1);
    check(edgecore_engine_start(e), "edgecore_engine_start");
    Drained d;
    auto stamps = collect(e, 10, {0}, needed, seconds + 5, d);
    Counters c = device_counters(e, dev);
    check(edgecore_engine_stop(e), "edgecore_engine_stop");
    edgecore_engine_destroy(e);
    r.engine_slave = close_line(l);
    double period = mean_period_ns(stamps[0], skip, int64_t(seconds * 1e9), &r.engine_n);
    r.engine_polls = period > 0 ? 1e9 / period : 0;
    r.errors += c.failures + d.bad;
    if (c.failures || d.bad) r.note += " engine: " + std::to_string(c.failures) + " failed transactions, " + std::to_string(d.bad) + " bad readings;";

    // Reference: libmodbus itself in a loop on the same kind of line (fresh pty pair and slave).
    Line l2 = open_line(baud, "1");
    modbus_t *ctx = modbus_new_rtu(l2.a.c_str(), baud, 'N', 8, 1);
    if (!ctx || modbus_connect(ctx) != 0) die("raw libmodbus: cannot open %s", l2.a.c_str());
    modbus_set_slave(ctx, 1);
    uint16_t regs[10];
    std::vector<int64_t> done;
    double raw_seconds = seconds / 2;
    int64_t end = mono_ns() + int64_t((raw_seconds + 5) * 1e9);
    const size_t raw_needed = skip + size_t(raw_seconds * r.limit) + 1;
    while (done.size() < raw_needed && mono_ns() < end) {
        if (modbus_read_registers(ctx, 0, 10, regs) == 10) done.push_back(mono_ns());
        else ++r.errors;
    }
    modbus_close(ctx);
    modbus_free(ctx);
    r.raw_slave = close_line(l2);
    double raw_period = mean_period_ns(done, skip, int64_t(raw_seconds * 1e9), &r.raw_n);
    r.raw_polls = raw_period > 0 ? 1e9 / raw_period : 0;
    return r;
}

// ---------------------------------------------------------------------------------------------------
// 3. Planner: a 40-channel site on one 9600-baud line

struct SiteChannel {
    const char *name, *unit;
    uint8_t device;  // index into the site's devices
    uint8_t function, type;
    uint16_t address;
    double scale;
};

// An SDM630-like three-phase meter (unit 1): float32 input registers in four runs (per-phase values,
// totals, line-to-line voltages, energy counters). Two greenhouse sensors with scaled integers in holding
// registers: a climate sensor (unit 2) and a soil probe (unit 3). 31 + 5 + 4 = 40 channels.
const SiteChannel kSite[] = {
    {"l1_voltage", "V", 0, 4, EDGECORE_TYPE_F32, 0, 1}, {"l2_voltage", "V", 0, 4, EDGECORE_TYPE_F32, 2, 1},
    {"l3_voltage", "V", 0, 4, EDGECORE_TYPE_F32, 4, 1}, {"l1_current", "A", 0, 4, EDGECORE_TYPE_F32, 6, 1},
    {"l2_current", "A", 0, 4, EDGECORE_TYPE_F32, 8, 1}, {"l3_current", "A", 0, 4, EDGECORE_TYPE_F32, 10, 1},
    {"l1_power", "W", 0, 4, EDGECORE_TYPE_F32, 12, 1}, {"l2_power", "W", 0, 4, EDGECORE_TYPE_F32, 14, 1},
    {"l3_power", "W", 0, 4, EDGECORE_TYPE_F32, 16, 1}, {"l1_apparent", "VA", 0, 4, EDGECORE_TYPE_F32, 18, 1},
    {"l2_apparent", "VA", 0, 4, EDGECORE_TYPE_F32, 20, 1}, {"l3_apparent", "VA", 0, 4, EDGECORE_TYPE_F32, 22, 1},
    {"l1_reactive", "var", 0, 4, EDGECORE_TYPE_F32, 24, 1}, {"l2_reactive", "var", 0, 4, EDGECORE_TYPE_F32, 26, 1},
    {"l3_reactive", "var", 0, 4, EDGECORE_TYPE_F32, 28, 1}, {"l1_pf", "", 0, 4, EDGECORE_TYPE_F32, 30, 1},
    {"l2_pf", "", 0, 4, EDGECORE_TYPE_F32, 32, 1}, {"l3_pf", "", 0, 4, EDGECORE_TYPE_F32, 34, 1},
    {"total_power", "W", 0, 4, EDGECORE_TYPE_F32, 52, 1}, {"total_apparent", "VA", 0, 4, EDGECORE_TYPE_F32, 56, 1},
    {"total_reactive", "var", 0, 4, EDGECORE_TYPE_F32, 60, 1}, {"total_pf", "", 0, 4, EDGECORE_TYPE_F32, 62, 1},
    {"frequency", "Hz", 0, 4, EDGECORE_TYPE_F32, 70, 1}, {"import_energy", "kWh", 0, 4, EDGECORE_TYPE_F32, 72, 1},
    {"export_energy", "kWh", 0, 4, EDGECORE_TYPE_F32, 74, 1},
    {"l1_l2_voltage", "V", 0, 4, EDGECORE_TYPE_F32, 200, 1}, {"l2_l3_voltage", "V", 0, 4, EDGECORE_TYPE_F32, 202, 1},
    {"l3_l1_voltage", "V", 0, 4, EDGECORE_TYPE_F32, 204, 1}, {"ll_voltage_avg", "V", 0, 4, EDGECORE_TYPE_F32, 206, 1},
    {"total_energy", "kWh", 0, 4, EDGECORE_TYPE_F32, 342, 1}, {"total_reactive_energy", "kvarh", 0, 4, EDGECORE_TYPE_F32, 344, 1},
    {"air_temperature", "degC", 1, 3, EDGECORE_TYPE_I16, 0, 0.1}, {"air_humidity", "%", 1, 3, EDGECORE_TYPE_U16, 1, 0.1},
    {"co2", "ppm", 1, 3, EDGECORE_TYPE_U16, 2, 1}, {"light", "lx", 1, 3, EDGECORE_TYPE_U16, 3, 10},
    {"vpd", "kPa", 1, 3, EDGECORE_TYPE_U16, 4, 0.01},
    {"soil_moisture", "%", 2, 3, EDGECORE_TYPE_U16, 0, 0.1}, {"soil_temperature", "degC", 2, 3, EDGECORE_TYPE_I16, 1, 0.1},
    {"soil_ec", "mS/cm", 2, 3, EDGECORE_TYPE_U16, 2, 0.001}, {"soil_ph", "pH", 2, 3, EDGECORE_TYPE_U16, 3, 0.01},
};
const uint32_t kSiteChannels = sizeof kSite / sizeof kSite[0];

edgecore_engine *site_engine(const std::string &device, bool one_per_request, uint32_t interval_ms) {
    uint32_t bus;
    edgecore_engine *e = rtu_engine(device, 9600, &bus);
    const char *names[] = {"meter", "climate", "soil"};
    uint32_t devs[3];
    for (int i = 0; i < 3; ++i) {
        edgecore_device_config dc;
        edgecore_device_config_init(&dc);
        dc.name = names[i];
        dc.bus = bus;
        dc.unit_id = uint8_t(i + 1);
        dc.one_channel_per_request = one_per_request ? 1 : 0;
        check(edgecore_engine_add_device(e, &dc, &devs[i]), "edgecore_engine_add_device");
    }
    for (const SiteChannel &s : kSite) {
        edgecore_channel_config cc;
        edgecore_channel_config_init(&cc);
        cc.name = s.name;
        cc.unit = s.unit;
        cc.device = devs[s.device];
        cc.function = s.function;
        cc.type = s.type;
        cc.address = s.address;
        cc.scale = s.scale;
        cc.interval_ms = interval_ms;
        check(edgecore_engine_add_channel(e, &cc, nullptr), "edgecore_engine_add_channel");
    }
    return e;
}

struct PlanFigures {
    int requests = 0;
    double wire_ms = 0;  // sum of the per-request wire times: the bus time of one cycle
    std::string text;
};

// edgecore_engine_plan's text: the bus line says "N requests", each request line "X ms on the wire".
PlanFigures plan_of(edgecore_engine *e) {
    PlanFigures p;
    int n = edgecore_engine_plan(e, nullptr, 0);
    check(n, "edgecore_engine_plan");
    std::vector<char> buf(size_t(n) + 1);
    check(edgecore_engine_plan(e, buf.data(), buf.size()), "edgecore_engine_plan");
    p.text = buf.data();
    size_t eol = p.text.find('\n');
    std::string first = p.text.substr(0, eol);
    size_t at = first.rfind(", ");
    if (at != std::string::npos) p.requests = std::atoi(first.c_str() + at + 2);
    const std::string marker = " ms on the wire";
    for (size_t pos = 0; (pos = p.text.find(marker, pos)) != std::string::npos; pos += marker.size()) {
        size_t start = p.text.rfind(", ", pos);
        if (start != std::string::npos) p.wire_ms += std::atof(p.text.c_str() + start + 2);
    }
    return p;
}

struct CycleResult {
    std::vector<double> cycles_ms;  // one per cycle
    double cycle_ms = 0;            // their median
    SlaveStats slave;
    uint64_t errors = 0;
};

// The site polled over the wire-timed slave with every channel at interval_ms (longer than a cycle). The
// engine's deadlines are start + k * interval, drift-free, and every request is due at each of them, so
// the worker sends the whole plan back to back from there: cycle k lasts from start + k * interval (start
// taken just before edgecore_engine_start) to the last reading published in that interval plus the t3.5
// silence that ends the last transaction (the plan's estimate counts it). Opening the port is part of
// cycle 0, so that cycle is reported but not used.
CycleResult measure_cycle(bool one_per_request, uint32_t interval_ms, int cycles) {
    CycleResult r;
    Line l = open_line(9600, "1,2,3");
    edgecore_engine *e = site_engine(l.a, one_per_request, interval_ms);
    std::vector<std::vector<int64_t>> stamps(kSiteChannels);
    Drained d;
    int64_t start = realtime_ns();
    check(edgecore_engine_start(e), "edgecore_engine_start");
    int64_t end = mono_ns() + int64_t(interval_ms) * 1000000 * (cycles + 1) - 1000000;
    while (mono_ns() < end) {
        edgecore_engine_wait(e, 50);
        drain_all(e, d, &stamps);
    }
    uint64_t failures = 0;
    for (uint32_t dev = 0; dev < 3; ++dev) failures += device_counters(e, dev).failures;
    check(edgecore_engine_stop(e), "edgecore_engine_stop");
    drain_all(e, d, &stamps);
    edgecore_engine_destroy(e);
    r.slave = close_line(l);
    const int64_t interval_ns = int64_t(interval_ms) * 1000000;
    for (int k = 0; k <= cycles; ++k) {
        int64_t from = start + k * interval_ns, last = 0;
        size_t channels_seen = 0;
        for (auto &ts : stamps) {
            int64_t mine = 0;
            for (int64_t t : ts)
                if (t >= from && t < from + interval_ns) mine = std::max(mine, t);
            if (mine) { ++channels_seen; last = std::max(last, mine); }
        }
        if (channels_seen != kSiteChannels) { ++r.errors; continue; }  // a cycle that overran its interval
        r.cycles_ms.push_back(double(last - from) / 1e6 + WireFormat{9600}.t35_us() / 1000);
    }
    if (!r.cycles_ms.empty()) {
        std::vector<double> steady(r.cycles_ms.begin() + 1, r.cycles_ms.end());
        r.cycle_ms = median_of(steady.empty() ? r.cycles_ms : steady);
    }
    r.errors += failures + d.bad;
    return r;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) die("usage: modbus_bench ROOT");
    std::string root = argv[1];
    alarm(600);  // a hung run ends; children follow through PR_SET_PDEATHSIG
    int rounds = std::max(1, int(env_double("MODBUS_BENCH_ROUNDS", 9)));
    double tcp_seconds = env_double("MODBUS_BENCH_SECONDS", 1);
    double rtu_seconds = env_double("MODBUS_BENCH_RTU_SECONDS", 6);
    if (const char *p = std::getenv("MODBUS_BENCH_PIN")) g_pin = std::strcmp(p, "0") != 0;
    const std::string only = only_parts("MODBUS_BENCH_ONLY");

    read_cpus();
    make_scratch("/tmp/edgecore-modbus-bench.XXXXXX");

    std::string server = root + "/build/peers/modbus_server";
    g_slave_bin = root + "/build/bench/wire_timed_slave";
    g_python = root + "/.build-venv/bin/python";
    g_pyclient = root + "/benchmarks/pymodbus_client.py";
    bool have_pymodbus = executable(g_python);

    std::printf("modbus_bench: EdgeCore %s engine vs libmodbus %s", edgecore_version_string(), LIBMODBUS_VERSION_STRING);
    std::printf(have_pymodbus ? " vs pymodbus (sync client)\n" : " (pymodbus: %s missing, run Tests/Integration/run.sh)\n",
                g_python.c_str());
    print_machine("server/slave", "clients");
    std::fflush(stdout);

    // ------------------------------------------------------------------------------------------- TCP
    if (wanted(only, "tcp")) {
        int port = free_tcp_port();
        std::string map = g_tmp + "/tcp.map";
        if (FILE *f = std::fopen(map.c_str(), "w")) {
            for (int a = 0; a < 1000; a += 100) {
                std::fprintf(f, "1 holding %d", a);
                for (int i = 0; i < 100; ++i) std::fprintf(f, " %d", a + i);
                std::fprintf(f, "\n");
            }
            std::fclose(f);
        } else {
            die("cannot write %s", map.c_str());
        }
        Child srv = spawn({server, "--tcp", std::to_string(port), "--map", map}, 0, "modbus_server");
        wait_ready(srv);
        pin_to(1);
        const int groups = 100;
        std::printf("\n== 1. Modbus TCP polling throughput: 127.0.0.1:%d, build/peers/modbus_server (one process; "
                    "each client keeps its own connection, idle while another measures), FC 3, 10 holding registers per request\n", port);
        std::printf("edgecore:      1 TCP bus, 1 device (max_registers 10), %d requests of 10 registers, interval_ms 1 "
                    "each (%d req/s asked: the worker never waits); rate = the device's responses counter over the "
                    "window; a consumer thread drains the ring every 10 ms\n", groups, groups * 1000);
        std::printf("raw_libmodbus: modbus_read_registers(ctx, 0, 10) in a loop in the main thread\n");
        std::printf("raw_thread:    the same loop in a second thread, the main thread waking every 10 ms (the engine's "
                    "process shape, for attribution)\n");
        if (have_pymodbus)
            std::printf("pymodbus_sync: ModbusTcpClient.read_holding_registers(0, 10, slave=1) in a loop (.build-venv "
                        "python, own process)\n");
        std::printf("rounds: %d, %.1f s window each, order rotating per round; cpu = client process CPU time per "
                    "request over the window\n", rounds, tcp_seconds);
        std::fflush(stdout);

        EngineClient engine(port, groups, 1);
        RawClient raw(port, false), raw_thread(port, true);
        std::unique_ptr<PyClient> py;
        if (have_pymodbus) py.reset(new PyClient(port));
        engine.window(0.3);  // warm-up

        struct Series {
            const char *key;
            std::vector<double> rates, cpu;
            uint64_t errors = 0;
            std::string note;
        };
        std::vector<Series> series = {{"edgecore", {}, {}, 0, {}}, {"raw_libmodbus", {}, {}, 0, {}},
                                      {"raw_thread", {}, {}, 0, {}}};
        if (have_pymodbus) series.push_back({"pymodbus_sync", {}, {}, 0, {}});
        for (int round = 0; round < rounds; ++round) {
            for (size_t j = 0; j < series.size(); ++j) {
                Series &s = series[(j + size_t(round)) % series.size()];
                Rate r;
                if (std::strcmp(s.key, "edgecore") == 0) r = engine.window(tcp_seconds);
                else if (std::strcmp(s.key, "raw_libmodbus") == 0) r = raw.window(tcp_seconds);
                else if (std::strcmp(s.key, "raw_thread") == 0) r = raw_thread.window(tcp_seconds);
                else r = py->window(tcp_seconds);
                s.rates.push_back(r.per_second);
                s.cpu.push_back(r.cpu_us);
                s.errors += r.errors;
                if (!r.note.empty() && s.note.empty()) s.note = r.note;
            }
            std::printf("round %d:", round + 1);
            for (auto &s : series) std::printf(" %s %.0f", s.key, s.rates.back());
            std::printf("  (req/s)\n");
            std::fflush(stdout);
        }
        // The configuration of one 10-register request at interval_ms 1: the deadline schedule sends it once
        // per millisecond at most, whatever the bus could do.
        Rate single = EngineClient(port, 1, 1).window(tcp_seconds);
        py.reset();
        std::string server_stats = stop(srv);

        std::printf("\n%-15s %12s %12s %14s %14s %8s\n", "client", "median req/s", "best req/s", "median us/req",
                    "median cpu us/req", "errors");
        for (auto &s : series) {
            double med = median_of(s.rates);
            std::printf("%-15s %12.0f %12.0f %14.1f %14.1f %8llu  %s\n", s.key, med,
                        *std::max_element(s.rates.begin(), s.rates.end()), med > 0 ? 1e6 / med : 0, median_of(s.cpu),
                        (unsigned long long)s.errors, s.note.c_str());
        }
        // Ratios: the median of the same-round ratios (each pair measured seconds apart, so a slow phase of
        // the shared machine hits both), then median / median and best / best.
        struct Ratio {
            double same_round, medians, best;
        };
        auto ratio = [&](size_t a, size_t b) {
            std::vector<double> per;
            for (size_t i = 0; i < series[a].rates.size(); ++i)
                if (series[b].rates[i] > 0) per.push_back(series[a].rates[i] / series[b].rates[i]);
            double mb = median_of(series[b].rates);
            double bb = *std::max_element(series[b].rates.begin(), series[b].rates.end());
            return Ratio{median_of(per), mb > 0 ? median_of(series[a].rates) / mb : 0,
                         bb > 0 ? *std::max_element(series[a].rates.begin(), series[a].rates.end()) / bb : 0};
        };
        auto print_ratio = [&](const char *label, Ratio r, const char *target) {
            std::printf("ratio %-28s = %.3f%s  [median/median %.3f, best/best %.3f]\n", label, r.same_round, target,
                        r.medians, r.best);
        };
        std::printf("\nratios: median of the %d same-round ratios; in brackets median/median and best/best\n", rounds);
        Ratio r1 = ratio(0, 1), r3 = ratio(0, 2), r4 = ratio(2, 1), r2{};
        bool met = r1.same_round >= 0.95;
        print_ratio("edgecore / raw libmodbus", r1, met ? " (target >= 0.95: MET)" : " (target >= 0.95: NOT MET)");
        if (series.size() > 3) {
            r2 = ratio(0, 3);
            print_ratio("edgecore / pymodbus sync", r2, "");
        }
        print_ratio("edgecore / raw_thread", r3, "");
        print_ratio("raw_thread / raw libmodbus", r4, "");
        double cpu_e = median_of(series[0].cpu), cpu_r = median_of(series[1].cpu), cpu_t = median_of(series[2].cpu);
        std::printf("client CPU per request (median): edgecore %.2f us, raw libmodbus %.2f us, raw_thread %.2f us: the "
                    "engine adds %.2f us (%.2f us over raw_thread)\n", cpu_e, cpu_r, cpu_t, cpu_e - cpu_r, cpu_e - cpu_t);
        std::printf("edgecore with 1 request of 10 registers at interval_ms 1 alone: %.0f req/s (%llu errors): bound by "
                    "its interval (1000/s), not by the bus\n", single.per_second, (unsigned long long)single.errors);
        if (!server_stats.empty()) std::printf("server: %s", server_stats.c_str());
        uint64_t errs = 0;
        for (auto &s : series) errs += s.errors;
        summary("TCP  edgecore %.0f req/s, raw libmodbus %.0f req/s: edgecore / raw libmodbus %.3f (target >= 0.95: %s)",
                median_of(series[0].rates), median_of(series[1].rates), r1.same_round, verdict(met));
        if (series.size() > 3)
            summary("TCP  pymodbus sync %.0f req/s: edgecore / pymodbus sync %.2f (no target)", median_of(series[3].rates),
                    r2.same_round);
        summary("TCP  client CPU per request: edgecore %.2f us, raw libmodbus %.2f us (+%.2f us); edgecore / raw in a "
                "thread %.3f (for attribution)", cpu_e, cpu_r, cpu_e - cpu_r, r3.same_round);
        summary("TCP  edgecore, 1 request at interval_ms 1: %.0f req/s (schedule-bound by design; for information)",
                single.per_second);
        if (errs) summary("TCP  ERRORS: %llu failed requests or bad readings", (unsigned long long)errs);
        pin_to(-1);  // back to every allowed CPU
    }

    // ------------------------------------------------------------------------------------------- RTU
    g_socat = find_on_path("socat");
    if ((wanted(only, "rtu") || wanted(only, "plan")) && g_socat.empty())
        std::printf("\nsocat not found on PATH: RTU and planner measurements skipped (apt-get install socat)\n");
    struct Turnaround {
        int baud;
        double engine_us, raw_us, t35_us;
    };
    std::vector<Turnaround> turnaround;
    if (wanted(only, "rtu") && !g_socat.empty()) {
        std::printf("\n== 2. Modbus RTU against the wire-timed slave (socat pty pair; benchmarks/wire_timed_slave answers at the "
                    "wire time, 8N1 = 10 bits/char, t3.5 after each frame)\n");
        std::printf("edgecore: 1 RTU bus at the slave's baud, 1 device, 10 holding registers (1 request), interval_ms 1; "
                    "polls/s = (n - 1) / (last - first reading timestamp)\n");
        std::printf("wire limit = 1 / (request 8 chars + answer 25 chars + 2 x t3.5)\n");
        std::fflush(stdout);
        for (int baud : {9600, 19200}) {
            double seconds = baud == 9600 ? rtu_seconds : rtu_seconds / 2;
            RtuResult r = rtu_throughput(baud, seconds);
            WireFormat w{baud};
            double ratio = r.engine_polls / r.limit;
            std::printf("\n%d baud: char %.1f us, t3.5 %.0f us, poll %.2f ms -> wire limit %.2f polls/s\n", baud,
                        w.char_us(), w.t35_us(), w.read_us(10) / 1000, r.limit);
            std::printf("  edgecore       %7.2f polls/s over %zu polls = %.3f of the limit (target >= 0.95: %s)\n",
                        r.engine_polls, r.engine_n, ratio, verdict(ratio >= 0.95));
            std::printf("  raw libmodbus  %7.2f polls/s over %zu polls = %.3f of the limit (reference)\n", r.raw_polls,
                        r.raw_n, r.raw_polls / r.limit);
            std::printf("  edgecore / raw libmodbus = %.3f\n", r.raw_polls > 0 ? r.engine_polls / r.raw_polls : 0);
            auto slave_line = [](const char *who, const SlaveStats &s) {
                if (!s.ok) { std::printf("  slave (%s): no statistics\n", who); return; }
                std::printf("  slave (%s): %lu requests, %lu answered, line busy %.1f%% of %.0f ms; master turnaround "
                            "(answer to next request) %.0f us avg / %.0f us max, so %lu of the requests came within t3.5 "
                            "(early); answers late by %.0f us avg / %.0f us max\n",
                            who, s.requests, s.replies, s.elapsed_ms > 0 ? 100 * s.busy_ms / s.elapsed_ms : 0,
                            s.elapsed_ms, s.turnaround_avg_us, s.turnaround_max_us, s.early, s.late_avg_us, s.late_max_us);
            };
            slave_line("edgecore run", r.engine_slave);
            turnaround.push_back({baud, r.engine_slave.turnaround_avg_us, r.raw_slave.turnaround_avg_us, w.t35_us()});
            slave_line("libmodbus run", r.raw_slave);
            if (!r.note.empty()) std::printf("  errors:%s\n", r.note.c_str());
            std::fflush(stdout);
            summary("RTU  %5d baud: edgecore %.2f polls/s, wire limit %.2f: %.3f (target >= 0.95: %s)%s", baud,
                    r.engine_polls, r.limit, ratio, verdict(ratio >= 0.95), r.errors ? " ERRORS" : "");
        }
        for (auto &t : turnaround)
            summary("RTU  %5d baud: master turnaround (answer to next request, via socat) edgecore %.0f us, libmodbus "
                    "%.0f us; the silence it must keep, t3.5, is %.0f us (for information)", t.baud, t.engine_us, t.raw_us,
                    t.t35_us);
    }

    // ------------------------------------------------------------------------------------------- planner
    if (wanted(only, "plan") && !g_socat.empty()) {
        std::printf("\n== 3. Planner: 40-channel site on one RTU line at 9600 baud 8N1 (SDM630-like meter, unit 1: 31 float32 "
                    "input registers in 4 runs; climate sensor, unit 2: 5 scaled integers; soil probe, unit 3: 4)\n");
        edgecore_engine *merged_e = site_engine("/dev/ttyUSB0", false, 1000);
        edgecore_engine *single_e = site_engine("/dev/ttyUSB0", true, 1000);
        PlanFigures merged = plan_of(merged_e), single = plan_of(single_e);
        edgecore_engine_destroy(merged_e);
        edgecore_engine_destroy(single_e);
        std::printf("edgecore_engine_plan, every channel at 1000 ms (merged plan):\n%s", merged.text.c_str());
        size_t total_at = single.text.find("  total:");
        std::printf("one_channel_per_request on every device: %d requests; %s", single.requests,
                    total_at != std::string::npos ? single.text.substr(total_at + 2).c_str() : "\n");
        double req_ratio = double(merged.requests) / single.requests, time_ratio = merged.wire_ms / single.wire_ms;
        std::printf("per cycle (estimated by the plan): merged %d requests, %.1f ms; one per channel %d requests, %.1f ms\n",
                    merged.requests, merged.wire_ms, single.requests, single.wire_ms);
        std::printf("ratio merged / one per channel: requests %.3f, bus time %.3f (cycle %.2fx shorter)\n", req_ratio,
                    time_ratio, single.wire_ms / merged.wire_ms);
        std::fflush(stdout);

        std::printf("measured over the wire-timed slave: every channel at interval_ms I, the engine started at t0; cycle k "
                    "= last reading before t0 + (k+1) I, plus t3.5, minus t0 + k I (cycle 0 includes opening the port: "
                    "not used)\n");
        std::fflush(stdout);
        auto show = [](const char *label, const CycleResult &c, double estimate, uint32_t interval) {
            std::printf("  %-16s I = %u ms, cycles", label, interval);
            for (double x : c.cycles_ms) std::printf(" %.1f", x);
            std::printf(" ms: median %.1f ms = estimate / measured %.3f%s\n", c.cycle_ms,
                        c.cycle_ms > 0 ? estimate / c.cycle_ms : 0, c.errors ? " ERRORS (failed polls or overrun cycles)" : "");
            std::fflush(stdout);
        };
        CycleResult cm = measure_cycle(false, 1000, 4);
        show("merged:", cm, merged.wire_ms, 1000);
        CycleResult cs = measure_cycle(true, 1500, 3);
        show("one per channel:", cs, single.wire_ms, 1500);
        std::printf("  measured ratio merged / one per channel = %.3f (cycle %.2fx shorter)\n", cm.cycle_ms / cs.cycle_ms,
                    cs.cycle_ms / cm.cycle_ms);
        std::printf("  slave: merged run %lu requests, master turnaround %.0f us avg, answers late by %.0f us avg; "
                    "per-channel run %lu requests, turnaround %.0f us avg, late by %.0f us avg\n", cm.slave.requests,
                    cm.slave.turnaround_avg_us, cm.slave.late_avg_us, cs.slave.requests, cs.slave.turnaround_avg_us,
                    cs.slave.late_avg_us);
        summary("PLAN requests per cycle %d vs %d one-per-channel (%.3f); estimated bus time %.1f vs %.1f ms (%.3f, %.2fx "
                "shorter; no target, for information)", merged.requests, single.requests, req_ratio, merged.wire_ms,
                single.wire_ms, time_ratio, single.wire_ms / merged.wire_ms);
        double fit = cm.cycle_ms > 0 ? merged.wire_ms / cm.cycle_ms : 0;
        double fit_single = cs.cycle_ms > 0 ? single.wire_ms / cs.cycle_ms : 0;
        summary("PLAN measured cycle %.1f vs %.1f ms (%.3f, %.2fx shorter); estimate / measured %.3f merged, %.3f per "
                "channel (target >= 0.95: %s)%s", cm.cycle_ms, cs.cycle_ms, cm.cycle_ms / cs.cycle_ms,
                cs.cycle_ms / cm.cycle_ms, fit, fit_single, verdict(fit >= 0.95 && fit_single >= 0.95),
                cm.errors + cs.errors ? " ERRORS" : "");
    }

    print_summary();
    rmdir(g_tmp.c_str());
    std::string cleanup = g_tmp;
    for (const char *f : {"/tcp.map", "/modbus_server.log", "/pymodbus_client.log", "/socat.log", "/wire_timed_slave.log"})
        unlink((cleanup + f).c_str());
    rmdir(cleanup.c_str());
    return 0;
}
