// dlt645_bench: the EdgeCore engine reading DL/T 645-2007 meters over a 2400 8E1 line, against the wire.
//
// The line is a socat pty pair; side B is dlt645_wire_slave (benchmarks/README.md), which answers each read
// when the reply's last character would arrive on a real line and keeps the line for `gap` after it. Side A
// is read by:
//   edgecore   the engine: one RTU bus (2400 8E1), M meters (protocol DL/T 645-2007, 4 FE preamble), each with
//              five catalogue identifiers (energy, voltage, current, power, frequency) at interval_ms 1, so
//              there is always due work and the line is the limit;
//   raw_b2b    a bare C master doing the same exchange in a loop, each request sent as soon as the previous
//              reply is complete (the slave counts those as early and serves them as if the master had kept
//              the gap): the slave's own ceiling, the reference;
//   raw_gap    the same loop keeping the gap (3.5 characters) after each reply with one clock_nanosleep:
//              what the timer wake-up and the pty cost a master that keeps the silence, as the engine does.
// Every read takes (request + reply characters) * tc + turnaround + gap on the modelled line, so the
// fraction of the wire limit is the modelled line time of the reads taken (sum over the reads) over the
// time they took. The plan's per-request estimate (edgecore_engine_plan after the run: "ms with the measured turnaround") is compared with
// the model and with the measured cycle per read; a second part measures whole cycles (every channel at an
// interval longer than a cycle) against the plan's cycle estimate.
// Figures are min / median / max over ROUNDS rounds, each on a fresh pty pair and slave, the order of the
// three masters rotating. Every loop is bounded in time and count; every process started here is stopped
// by its PID (and dies with this one: PR_SET_PDEATHSIG); the benchmark ends after 1200 s at most.
//
// Usage: dlt645_bench ROOT   (ROOT: the repository; uses ROOT/build/bench/dlt645_wire_slave and socat)
// Environment: DLT645_BENCH_SECONDS (window per engine run, default 10; raw runs take half),
// DLT645_BENCH_ROUNDS (default 3), DLT645_BENCH_METERS (meter counts, default "1,3"),
// DLT645_BENCH_TURNAROUND_MS (meter turnarounds, default "20,0"), DLT645_BENCH_ONLY=rate,cycle (some parts),
// DLT645_BENCH_PIN=0 (do not pin the slave and the masters to different CPUs).
// Exit status: 0, 1 when a target is missed or a read failed, 2 on a setup error.

#define BENCH_PROGRAM "dlt645_bench"
#include "bench_common.h"

#include <edgecore.h>

#include <termios.h>

#include <cctype>
#include <cmath>
#include <map>

namespace {

// ---------------------------------------------------------------------------------------------------
// Small helpers (the rest: bench_common.h)

void sleep_until_mono(int64_t t) {
    timespec ts = {time_t(t / 1000000000), long(t % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

// "1,3" -> {1, 3}; values outside lo..hi are dropped.
std::vector<int> env_list(const char *name, const char *fallback, int lo, int hi) {
    const char *e = std::getenv(name);
    std::string text = e && *e ? e : fallback;
    std::vector<int> out;
    for (size_t at = 0; at <= text.size();) {
        size_t end = text.find(',', at);
        if (end == std::string::npos) end = text.size();
        std::string part = text.substr(at, end - at);
        if (!part.empty()) {
            int v = std::atoi(part.c_str());
            if (v >= lo && v <= hi) out.push_back(v);
        }
        at = end + 1;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------------
// The line and its model

const int kBaud = 2400;
const int kBitsPerChar = 11;  // 8E1: start, 8 data, parity, stop
const int kPreamble = 4;      // FE before each request (the engine's default) and before each reply (the slave's)

double char_us() { return 1e6 * kBitsPerChar / kBaud; }
double gap_us() { return 3.5 * char_us(); }  // the slave's default gap: 3.5 tc = 16.04 ms

// The identifiers every meter is read for: catalogue names, their DI and value bytes, and what
// dlt645_wire_slave serves for them (its table).
struct Ident {
    const char *item, *tag;
    uint32_t di;
    int bytes;
    double value;
};
const Ident kIdents[] = {
    {"combined_active_energy_total", "energy", 0x00000000, 4, 123456.78},
    {"voltage_a", "voltage_a", 0x02010100, 2, 220.1},
    {"current_a", "current_a", 0x02020100, 3, 5.123},
    {"active_power_total", "power", 0x02030000, 3, 3.4567},
    {"frequency", "frequency", 0x02800002, 2, 49.98},
};
const int kIdentCount = int(sizeof kIdents / sizeof kIdents[0]);

// Characters one read takes on the line: request FE*4 68 A*6 68 C L DI*4 CS 16; reply FE*4 68 A*6 68 C L
// DI*4 value CS 16.
int request_chars() { return kPreamble + 12 + 4; }
int reply_chars(const Ident &id) { return kPreamble + 12 + 4 + id.bytes; }

// Modelled line time of one read: both frames, the meter's turnaround and the gap after the reply.
double read_us(const Ident &id, double turnaround_us) {
    return (request_chars() + reply_chars(id)) * char_us() + turnaround_us + gap_us();
}

std::string meter_address(int m) {  // "123456789001", ...
    char a[32];
    std::snprintf(a, sizeof a, "1234567890%02d", (m + 1) % 100);
    return a;
}

std::string g_slave_bin;

Line open_line(int meters, int turnaround_us) {
    Line l = open_pty_pair();
    std::string list;
    for (int m = 0; m < meters; ++m) list += (m ? "," : "") + meter_address(m);
    l.slave = spawn({g_slave_bin, "--device", l.b, "--baud", std::to_string(kBaud), "--parity", "E", "--meters", list,
                     "--turnaround-us", std::to_string(turnaround_us), "--preamble", std::to_string(kPreamble)},
                    0, "dlt645_wire_slave");
    wait_ready(l.slave);
    return l;
}

struct SlaveStats {
    unsigned long requests = 0, replies = 0, abnormal = 0, ignored = 0, bad_frames = 0, noise_bytes = 0, early = 0;
    double busy_ms = 0, elapsed_ms = 0, late_avg_us = 0, late_max_us = 0, turnaround_avg_us = 0, turnaround_max_us = 0;
    bool ok = false;
};

SlaveStats close_line(Line &l) {
    SlaveStats s;
    std::string text = close_pty_pair(l);
    s.ok = std::sscanf(text.c_str(),
                       "STATS requests %lu replies %lu abnormal %lu ignored %lu bad_frames %lu noise_bytes %lu early %lu "
                       "busy_ms %lf elapsed_ms %lf late_avg_us %lf late_max_us %lf turnaround_avg_us %lf "
                       "turnaround_max_us %lf",
                       &s.requests, &s.replies, &s.abnormal, &s.ignored, &s.bad_frames, &s.noise_bytes, &s.early,
                       &s.busy_ms, &s.elapsed_ms, &s.late_avg_us, &s.late_max_us, &s.turnaround_avg_us,
                       &s.turnaround_max_us) == 13;
    return s;
}

// ---------------------------------------------------------------------------------------------------
// One run of a master: reads (time, identifier), then the figures

struct Read {
    int64_t t_ns;
    int ident;
    uint32_t channel;  // engine: channel id; raw: meter * identifiers + identifier
};

struct RunResult {
    size_t n = 0;              // reads in the window (the first one opens it)
    double seconds = 0;        // last - first
    double reads_per_s = 0;    // (n - 1) / seconds
    double model_us = 0;       // modelled line time of reads 2..n
    double fraction = 0;       // model_us / (last - first)
    double plan_us = 0;        // the plan's estimates for reads 2..n (engine only; 0 if the plan gives none)
    uint64_t bad = 0;          // reads that failed (status not OK, wrong value, timeouts)
    std::map<int, uint64_t> bad_by_status;
    double rtt_avg_us = 0;     // engine: device statistics' round trip of good answers
    size_t channels_read = 0;  // channels with a read in the window, and the fewest / most reads of one
    size_t fewest = 0, most = 0;
    SlaveStats slave;
};

// The window: reads sorted by time, the first `skip` dropped (opening the port), then those within
// `seconds` of the first one kept.
void figures(std::vector<Read> reads, size_t skip, double seconds, double turnaround_us, const std::vector<double> *plan,
             RunResult &r) {
    std::sort(reads.begin(), reads.end(), [](const Read &a, const Read &b) { return a.t_ns < b.t_ns; });
    if (reads.size() < skip + 2) return;
    size_t first = skip, last = skip;
    while (last + 1 < reads.size() && double(reads[last + 1].t_ns - reads[first].t_ns) <= seconds * 1e9) ++last;
    r.n = last - first + 1;
    r.seconds = double(reads[last].t_ns - reads[first].t_ns) / 1e9;
    r.reads_per_s = r.seconds > 0 ? double(r.n - 1) / r.seconds : 0;
    for (size_t i = first + 1; i <= last; ++i) {
        r.model_us += read_us(kIdents[reads[i].ident], turnaround_us);
        if (plan) r.plan_us += (*plan)[size_t(reads[i].ident)];
    }
    r.fraction = r.seconds > 0 ? r.model_us / (r.seconds * 1e6) : 0;
    std::map<uint32_t, size_t> per;
    for (size_t i = first; i <= last; ++i) ++per[reads[i].channel];
    r.channels_read = per.size();
    r.fewest = SIZE_MAX;
    for (auto &kv : per) {
        r.fewest = std::min(r.fewest, kv.second);
        r.most = std::max(r.most, kv.second);
    }
}

// ---------------------------------------------------------------------------------------------------
// The engine

struct EngineSite {
    edgecore_engine *e = nullptr;
    std::vector<uint32_t> devices;
    std::vector<int> ident_of;  // channel id -> index into kIdents
    std::vector<std::string> names;
};

EngineSite engine_site(const std::string &device, int meters, uint32_t interval_ms) {
    EngineSite s;
    edgecore_engine_config ec;
    edgecore_engine_config_init(&ec);
    ec.ring_capacity = 1u << 14;
    check(edgecore_engine_create(&ec, &s.e), "edgecore_engine_create");
    edgecore_rtu_bus_config bc;
    edgecore_rtu_bus_config_init(&bc);
    bc.name = "meters";
    bc.device = device.c_str();
    bc.baud = kBaud;
    bc.parity = 'E';
    uint32_t bus;
    check(edgecore_engine_add_rtu_bus(s.e, &bc, &bus), "edgecore_engine_add_rtu_bus");
    for (int m = 0; m < meters; ++m) {
        std::string name = "m" + std::to_string(m + 1), address = meter_address(m);
        edgecore_device_config dc;
        edgecore_device_config_init(&dc);
        dc.name = name.c_str();
        dc.bus = bus;
        dc.protocol = EDGECORE_PROTOCOL_DLT645_2007;
        dc.meter_address = address.c_str();
        dc.response_timeout_ms = 1000;
        uint32_t dev;
        check(edgecore_engine_add_device(s.e, &dc, &dev), "edgecore_engine_add_device");
        s.devices.push_back(dev);
        for (int i = 0; i < kIdentCount; ++i) {
            uint32_t item = 0;
            check(edgecore_meter_item_find(EDGECORE_PROTOCOL_DLT645_2007, kIdents[i].item, &item), kIdents[i].item);
            if (item != kIdents[i].di) die("catalogue: %s has another identifier than the slave's table", kIdents[i].item);
            std::string cname = name + "_" + kIdents[i].tag;
            edgecore_channel_config cc;
            edgecore_channel_config_init(&cc);
            cc.name = cname.c_str();
            cc.device = dev;
            cc.meter_item = item;
            cc.interval_ms = interval_ms;
            uint32_t ch;
            check(edgecore_engine_add_channel(s.e, &cc, &ch), "edgecore_engine_add_channel");
            if (s.ident_of.size() <= ch) {
                s.ident_of.resize(ch + 1, -1);
                s.names.resize(ch + 1);
            }
            s.ident_of[ch] = i;
            s.names[ch] = cname;
        }
    }
    return s;
}

std::string plan_text(edgecore_engine *e) {
    int n = edgecore_engine_plan(e, nullptr, 0);
    check(n, "edgecore_engine_plan");
    std::vector<char> buf(size_t(n) + 1);
    check(edgecore_engine_plan(e, buf.data(), buf.size()), "edgecore_engine_plan");
    return buf.data();
}

// The plan's per-request "X ms on the wire", per identifier (index into kIdents), in us: a line of the plan
// names the channels its request serves; the estimate of an identifier is the mean over the meters' lines.
// Empty when the plan gives no estimate for some identifier.
std::vector<double> plan_estimates(const std::string &text, const EngineSite &s) {
    std::vector<double> sum(kIdentCount, 0);
    std::vector<int> count(kIdentCount, 0);
    // "X ms on the wire + the meter's turnaround" before the meter answered (the turnaround not counted),
    // "X ms with the measured turnaround" after.
    for (size_t at = 0; at < text.size();) {
        size_t eol = text.find('\n', at);
        if (eol == std::string::npos) eol = text.size();
        std::string line = text.substr(at, eol - at);
        at = eol + 1;
        size_t pos = line.find(" ms with the measured turnaround");
        if (pos == std::string::npos) pos = line.find(" ms on the wire");
        if (pos == std::string::npos) continue;
        size_t num = line.find_last_of(" ,(", pos - 1);
        double ms = std::atof(line.c_str() + (num == std::string::npos ? 0 : num + 1));
        // channel names: tokens of the line (letters, digits, '_'), matched exactly
        for (size_t i = 0; i < line.size();) {
            size_t j = i;
            while (j < line.size() && (std::isalnum((unsigned char)line[j]) || line[j] == '_')) ++j;
            if (j > i) {
                std::string token = line.substr(i, j - i);
                for (size_t ch = 0; ch < s.names.size(); ++ch)
                    if (s.ident_of[ch] >= 0 && s.names[ch] == token) {
                        sum[size_t(s.ident_of[ch])] += ms * 1000;
                        ++count[size_t(s.ident_of[ch])];
                    }
                i = j;
            } else {
                ++i;
            }
        }
    }
    std::vector<double> est(kIdentCount, 0);
    for (int i = 0; i < kIdentCount; ++i) {
        if (count[i] == 0) return {};
        est[size_t(i)] = sum[size_t(i)] / count[i];
    }
    return est;
}

void drain(edgecore_engine *e, const EngineSite &s, std::vector<Read> &reads, RunResult &r,
           std::vector<std::vector<int64_t>> *per_channel = nullptr) {
    static edgecore_reading buf[4096];
    int n;
    while ((n = edgecore_engine_drain(e, buf, 4096)) > 0) {
        for (int i = 0; i < n; ++i) {
            const edgecore_reading &x = buf[i];
            int id = x.channel < s.ident_of.size() ? s.ident_of[x.channel] : -1;
            bool ok = x.status == EDGECORE_STATUS_OK && id >= 0 &&
                      std::fabs(x.value - kIdents[id].value) < 1e-6 * std::max(1.0, std::fabs(kIdents[id].value));
            if (!ok) {
                ++r.bad;
                ++r.bad_by_status[x.status == EDGECORE_STATUS_OK ? -1 : int(x.status)];  // -1: OK with a wrong value
                continue;
            }
            reads.push_back({x.timestamp_ns, id, x.channel});
            if (per_channel) (*per_channel)[x.channel].push_back(x.timestamp_ns);
        }
    }
}

RunResult run_engine(int meters, int turnaround_us, double seconds, std::string *plan_out, std::vector<double> *plan_est) {
    RunResult r;
    Line l = open_line(meters, turnaround_us);
    EngineSite s = engine_site(l.a, meters, 1);
    std::vector<Read> reads;
    check(edgecore_engine_start(s.e), "edgecore_engine_start");
    const size_t skip = 2;
    double limit = 1e6 / read_us(kIdents[0], turnaround_us);
    size_t needed = skip + size_t(seconds * limit * 1.2) + 2;
    int64_t end = mono_ns() + int64_t((seconds + 5) * 1e9);
    // The round trip of the reads after the first `skip` (the first includes opening the port): device
    // statistics from then on.
    auto latency = [&](uint64_t &responses, uint64_t &total_us) {
        responses = total_us = 0;
        for (uint32_t dev : s.devices) {
            edgecore_device_stats ds{};
            check(edgecore_engine_device_stats(s.e, dev, &ds), "edgecore_engine_device_stats");
            responses += ds.responses;
            total_us += ds.latency_total_us;
        }
    };
    uint64_t responses0 = 0, latency0_us = 0;
    bool have_start = false;
    while (mono_ns() < end) {
        edgecore_engine_wait(s.e, 100);
        drain(s.e, s, reads, r);
        if (!have_start && reads.size() >= skip) {
            latency(responses0, latency0_us);
            have_start = true;
        }
        // enough when the window is full (the reads of one bus come in time order)
        if (reads.size() > skip && double(reads.back().t_ns - reads[skip].t_ns) > seconds * 1e9) break;
        if (reads.size() > needed * 2) break;
    }
    uint64_t failures = 0, responses = 0, latency_us = 0;
    latency(responses, latency_us);
    for (uint32_t dev : s.devices) {
        edgecore_device_stats ds{};
        check(edgecore_engine_device_stats(s.e, dev, &ds), "edgecore_engine_device_stats");
        failures += ds.timeouts + ds.frame_errors + ds.exceptions + ds.disconnects;
    }
    responses -= responses0;
    latency_us -= latency0_us;
    check(edgecore_engine_stop(s.e), "edgecore_engine_stop");
    drain(s.e, s, reads, r);
    // The plan after the run: the meters' turnaround from the round trips the engine measured.
    std::string text = plan_text(s.e);
    std::vector<double> est = plan_estimates(text, s);
    if (plan_out) *plan_out = text;
    if (plan_est) *plan_est = est;
    edgecore_engine_destroy(s.e);
    r.slave = close_line(l);
    r.rtt_avg_us = responses ? double(latency_us) / double(responses) : 0;
    if (failures > r.bad) r.bad = failures;  // a failed transaction without a reading (e.g. a retry that succeeded)
    figures(reads, skip, seconds, turnaround_us, est.empty() ? nullptr : &est, r);
    return r;
}

// ---------------------------------------------------------------------------------------------------
// The bare C master

// 68 A0..A5 68 11 04 DI+33 CS 16 with the FE preamble.
std::vector<uint8_t> read_request(int meter, const Ident &id) {
    std::vector<uint8_t> f(kPreamble, 0xFE);
    size_t frame = f.size();
    std::string a = meter_address(meter);
    f.push_back(0x68);
    for (int i = 5; i >= 0; --i) f.push_back(uint8_t((a[2 * i] - '0') << 4 | (a[2 * i + 1] - '0')));
    f.push_back(0x68);
    f.push_back(0x11);
    f.push_back(4);
    for (int b = 0; b < 4; ++b) f.push_back(uint8_t((id.di >> (8 * b)) + 0x33));
    unsigned sum = 0;
    for (size_t i = frame; i < f.size(); ++i) sum += f[i];
    f.push_back(uint8_t(sum));
    f.push_back(0x16);
    return f;
}

// A complete reply frame in buf: 1 (and its C and DI checked), 0 not yet, -1 bad.
int parse_reply(const std::vector<uint8_t> &buf, const Ident &id) {
    size_t s = 0;
    while (s < buf.size() && buf[s] == 0xFE) ++s;
    if (s < buf.size() && buf[s] != 0x68) return -1;
    if (buf.size() < s + 10) return 0;
    size_t e = s + 12 + buf[s + 9];
    if (buf.size() < e) return 0;
    unsigned sum = 0;
    for (size_t i = s; i < e - 2; ++i) sum += buf[i];
    if (buf[s + 7] != 0x68 || buf[e - 2] != uint8_t(sum) || buf[e - 1] != 0x16 || buf[s + 8] != 0x91) return -1;
    for (int b = 0; b < 4; ++b)
        if (uint8_t(buf[s + 10 + size_t(b)] - 0x33) != uint8_t(id.di >> (8 * b))) return -1;
    return buf[s + 9] == 4 + id.bytes ? 1 : -1;
}

RunResult run_raw(int meters, int turnaround_us, double seconds, bool keep_gap) {
    RunResult r;
    Line l = open_line(meters, turnaround_us);
    int fd = open(l.a.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) die("cannot open %s", l.a.c_str());
    termios tio;
    if (tcgetattr(fd, &tio) == 0) {
        cfmakeraw(&tio);
        cfsetspeed(&tio, B2400);
        tio.c_cflag |= PARENB | CS8 | CLOCAL | CREAD;
        tio.c_cflag &= ~(PARODD | CSTOPB);
        tcsetattr(fd, TCSANOW, &tio);
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    std::vector<Read> reads;
    const size_t skip = 2;
    const int64_t gap_ns = int64_t(gap_us() * 1000);
    int64_t end = mono_ns() + int64_t((seconds + 5) * 1e9), last_reply = 0;
    std::vector<uint8_t> rsp;
    for (uint64_t k = 0; mono_ns() < end; ++k) {
        int meter = int(k / kIdentCount % uint64_t(meters)), ident = int(k % kIdentCount);
        std::vector<uint8_t> req = read_request(meter, kIdents[ident]);
        if (keep_gap && last_reply) sleep_until_mono(last_reply + gap_ns);
        if (write(fd, req.data(), req.size()) != ssize_t(req.size())) die("raw master: write failed");
        rsp.clear();
        int state = 0;
        int64_t deadline = mono_ns() + 2000000000LL;
        while (state == 0 && mono_ns() < deadline) {
            pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 100) <= 0) continue;
            uint8_t chunk[256];
            ssize_t got = read(fd, chunk, sizeof chunk);
            if (got > 0) rsp.insert(rsp.end(), chunk, chunk + got);
            state = parse_reply(rsp, kIdents[ident]);
        }
        last_reply = mono_ns();
        if (state == 1) {
            reads.push_back({last_reply, ident, uint32_t(meter * kIdentCount + ident)});
        } else {
            ++r.bad;
            ++r.bad_by_status[state == 0 ? EDGECORE_STATUS_TIMEOUT : EDGECORE_STATUS_CRC_ERROR];
            tcflush(fd, TCIFLUSH);
        }
        if (reads.size() > skip && double(reads.back().t_ns - reads[skip].t_ns) > seconds * 1e9) break;
    }
    close(fd);
    r.slave = close_line(l);
    figures(reads, skip, seconds, turnaround_us, nullptr, r);
    return r;
}

// ---------------------------------------------------------------------------------------------------
// Whole cycles: every channel at an interval longer than a cycle; cycle k = the last reading before
// t0 + (k+1) I, plus the gap (the model and the plan count it), minus t0 + k I.

struct CycleResult {
    std::vector<double> cycles_ms;
    std::vector<double> plan_est;  // the plan's per-identifier estimate after the run (measured turnaround)
    double cycle_ms = 0;
    uint64_t bad = 0, overrun = 0;
    SlaveStats slave;
};

CycleResult run_cycles(int meters, int turnaround_us, uint32_t interval_ms, int cycles) {
    CycleResult c;
    Line l = open_line(meters, turnaround_us);
    EngineSite s = engine_site(l.a, meters, interval_ms);
    std::vector<std::vector<int64_t>> stamps(s.ident_of.size());
    std::vector<Read> reads;
    RunResult r;
    int64_t t0 = realtime_ns();
    check(edgecore_engine_start(s.e), "edgecore_engine_start");
    int64_t end = mono_ns() + int64_t(interval_ms) * 1000000 * (cycles + 1) - 1000000;
    while (mono_ns() < end) {
        edgecore_engine_wait(s.e, 50);
        drain(s.e, s, reads, r, &stamps);
    }
    check(edgecore_engine_stop(s.e), "edgecore_engine_stop");
    drain(s.e, s, reads, r, &stamps);
    c.plan_est = plan_estimates(plan_text(s.e), s);
    edgecore_engine_destroy(s.e);
    c.slave = close_line(l);
    c.bad = r.bad;
    const int64_t interval_ns = int64_t(interval_ms) * 1000000;
    for (int k = 0; k <= cycles; ++k) {
        int64_t from = t0 + k * interval_ns, last = 0;
        size_t seen = 0, channels = 0;
        for (size_t ch = 0; ch < stamps.size(); ++ch) {
            if (s.ident_of[ch] < 0) continue;
            ++channels;
            int64_t mine = 0;
            for (int64_t t : stamps[ch])
                if (t >= from && t < from + interval_ns) mine = std::max(mine, t);
            if (mine) { ++seen; last = std::max(last, mine); }
        }
        if (seen != channels) { ++c.overrun; continue; }
        c.cycles_ms.push_back(double(last - from) / 1e6 + gap_us() / 1000);
    }
    if (c.cycles_ms.size() > 1) c.cycle_ms = median_of(std::vector<double>(c.cycles_ms.begin() + 1, c.cycles_ms.end()));
    else if (!c.cycles_ms.empty()) c.cycle_ms = c.cycles_ms[0];
    return c;
}

// ---------------------------------------------------------------------------------------------------
// Reporting

std::string statuses(const std::map<int, uint64_t> &m) {
    std::string out;
    for (auto &kv : m) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%s %llu", out.empty() ? "" : ", ",
                      kv.first < 0 ? "OK with a wrong value" : ("status " + std::to_string(kv.first)).c_str(),
                      (unsigned long long)kv.second);
        out += buf;
    }
    return out;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) die("usage: dlt645_bench ROOT");
    std::string root = argv[1];
    alarm(1200);
    const double seconds = env_double("DLT645_BENCH_SECONDS", 10);
    const int rounds = std::max(1, int(env_double("DLT645_BENCH_ROUNDS", 3)));
    const std::vector<int> meter_counts = env_list("DLT645_BENCH_METERS", "1,3", 1, 9);
    const std::vector<int> turnarounds_ms = env_list("DLT645_BENCH_TURNAROUND_MS", "20,0", 0, 1000);
    if (const char *p = std::getenv("DLT645_BENCH_PIN")) g_pin = std::strcmp(p, "0") != 0;
    const std::string only = only_parts("DLT645_BENCH_ONLY");

    read_cpus();
    make_scratch("/tmp/edgecore-dlt645-bench.XXXXXX");
    g_slave_bin = root + "/build/bench/dlt645_wire_slave";
    g_socat = find_on_path("socat");
    if (g_socat.empty()) die("socat not found on PATH (apt-get install socat)");
    if (access(g_slave_bin.c_str(), X_OK) != 0) die("%s is missing: make -C benchmarks dlt645-slave", g_slave_bin.c_str());
    pin_to(1);  // the masters (this process, the engine's worker) on the second CPU

    std::printf("dlt645_bench: EdgeCore %s, DL/T 645-2007 over a socat pty pair, benchmarks/dlt645_wire_slave at %d 8E1\n",
                edgecore_version_string(), kBaud);
    print_machine("slave", "masters");
    std::printf("line model: tc = 11 bits / %d baud = %.1f us; gap after each reply = 3.5 tc = %.0f us; request %d chars "
                "(%d FE + 16), reply %d FE + 20 + value bytes\n", kBaud, char_us(), gap_us(), request_chars(), kPreamble,
                kPreamble);
    std::printf("identifiers per meter:");
    for (const Ident &id : kIdents)
        std::printf(" %s (%08X, %d bytes: %d + %d chars)", id.item, id.di, id.bytes, request_chars(), reply_chars(id));
    std::printf("\nper read (wire limit) = (request + reply chars) x tc + turnaround + gap; fraction = modelled line time "
                "of the reads taken / the time they took (reads 2..n of the window)\n");
    std::printf("masters: edgecore (engine, interval_ms 1 on every channel), raw_b2b (bare C loop, next request as soon "
                "as the reply is complete: the reference), raw_gap (bare C loop keeping the gap with one "
                "clock_nanosleep)\n");
    std::printf("window %.0f s per engine run (%.0f s per raw run), %d rounds, each run on a fresh pty pair and slave, "
                "the order rotating; figures: min / median / max over the rounds\n", seconds, seconds / 2, rounds);
    std::fflush(stdout);

    bool all_met = true;
    uint64_t total_bad = 0;
    std::string first_plan;

    if (wanted(only, "rate")) {
        for (int turnaround_ms : turnarounds_ms) {
            for (int meters : meter_counts) {
                const int ta_us = turnaround_ms * 1000;
                std::printf("\n== %d meter%s x %d identifiers, turnaround %d ms\n", meters, meters > 1 ? "s" : "",
                            kIdentCount, turnaround_ms);
                double sum_us = 0;
                for (const Ident &id : kIdents) {
                    double us = read_us(id, ta_us);
                    sum_us += us;
                    std::printf("  %-29s %2d + %2d chars x %.1f us = %6.1f ms, + turnaround %d ms + gap %.2f ms = %.2f ms "
                                "per read\n", id.item, request_chars(), reply_chars(id), char_us(),
                                (request_chars() + reply_chars(id)) * char_us() / 1000, turnaround_ms, gap_us() / 1000,
                                us / 1000);
                }
                std::printf("  wire limit for the mix read round-robin: %.3f reads/s (%.2f ms per read)\n",
                            1e6 * kIdentCount / sum_us, sum_us / kIdentCount / 1000);
                std::fflush(stdout);
                std::vector<double> e_rate, e_frac, b_rate, b_frac, g_frac, e_vs_b, e_vs_g, plan_fit, plan_model,
                    e_turn, g_turn, e_between, e_late;
                std::vector<double> est;
                uint64_t e_bad = 0, raw_bad = 0, e_early = 0;
                std::map<int, uint64_t> bad_status;
                for (int round = 0; round < rounds; ++round) {
                    RunResult er, br, gr;
                    for (int j = 0; j < 3; ++j) {
                        switch ((j + round) % 3) {
                        case 0: {
                            std::string text;
                            er = run_engine(meters, ta_us, seconds, &text, &est);
                            if (first_plan.empty()) first_plan = text;
                            break;
                        }
                        case 1: br = run_raw(meters, ta_us, seconds / 2, false); break;
                        default: gr = run_raw(meters, ta_us, seconds / 2, true); break;
                        }
                    }
                    e_rate.push_back(er.reads_per_s);
                    e_frac.push_back(er.fraction);
                    b_rate.push_back(br.reads_per_s);
                    b_frac.push_back(br.fraction);
                    g_frac.push_back(gr.fraction);
                    if (br.fraction > 0) e_vs_b.push_back(er.fraction / br.fraction);
                    if (gr.fraction > 0) e_vs_g.push_back(er.fraction / gr.fraction);
                    double measured_per_read = er.n > 1 ? er.seconds * 1e6 / double(er.n - 1) : 0;
                    double plan_per_read = er.n > 1 ? er.plan_us / double(er.n - 1) : 0;
                    double model_per_read = er.n > 1 ? er.model_us / double(er.n - 1) : 0;
                    if (er.plan_us > 0 && measured_per_read > 0) {
                        plan_fit.push_back(plan_per_read / measured_per_read);
                        plan_model.push_back(plan_per_read / model_per_read);
                    }
                    e_turn.push_back(er.slave.turnaround_avg_us);
                    g_turn.push_back(gr.slave.turnaround_avg_us);
                    e_late.push_back(er.slave.late_avg_us);
                    if (er.rtt_avg_us > 0) e_between.push_back(measured_per_read - er.rtt_avg_us);
                    e_bad += er.bad;
                    raw_bad += br.bad + gr.bad;
                    e_early += er.slave.early;
                    for (auto &kv : er.bad_by_status) bad_status[kv.first] += kv.second;
                    std::printf("  round %d: edgecore %.3f reads/s over %zu reads = %.4f of the limit; raw_b2b %.3f "
                                "(%.4f); raw_gap %.3f (%.4f); per read: measured %.2f ms, model %.2f ms, plan %s\n",
                                round + 1, er.reads_per_s, er.n, er.fraction, br.reads_per_s, br.fraction,
                                gr.reads_per_s, gr.fraction, measured_per_read / 1000, model_per_read / 1000,
                                er.plan_us > 0 ? (std::to_string(plan_per_read / 1000).substr(0, 6) + " ms").c_str()
                                               : "(no estimate)");
                    std::printf("           slave (edgecore run): %lu requests, %lu replies (%lu abnormal), %lu ignored, "
                                "%lu bad frames, %lu early; line busy %.1f%%; master turnaround (reply to next request) "
                                "%.0f us avg / %.0f us max; replies late %.0f us avg / %.0f us max\n",
                                er.slave.requests, er.slave.replies, er.slave.abnormal, er.slave.ignored,
                                er.slave.bad_frames, er.slave.early,
                                er.slave.elapsed_ms > 0 ? 100 * er.slave.busy_ms / er.slave.elapsed_ms : 0,
                                er.slave.turnaround_avg_us, er.slave.turnaround_max_us, er.slave.late_avg_us,
                                er.slave.late_max_us);
                    std::printf("           engine: %zu of %d channels read in the window, %zu to %zu reads each; round "
                                "trip (device statistics) %.2f ms avg; raw_gap turnaround %.0f us avg, raw_b2b %.0f us "
                                "avg (%lu early)\n", er.channels_read, meters * kIdentCount, er.fewest, er.most,
                                er.rtt_avg_us / 1000, gr.slave.turnaround_avg_us, br.slave.turnaround_avg_us,
                                br.slave.early);
                    std::fflush(stdout);
                }
                Spread ef = spread(e_frac);
                bool met = ef.med >= 0.95 && e_bad == 0;
                all_met = all_met && met;
                total_bad += e_bad + raw_bad;
                std::printf("  edgecore reads/s              %s\n", fmt3(e_rate, "%.3f").c_str());
                std::printf("  edgecore fraction of the limit %s (target >= 0.95: %s)\n", fmt3(e_frac, "%.4f").c_str(),
                            verdict(ef.med >= 0.95));
                std::printf("  raw_b2b fraction (reference)  %s   raw_gap %s\n", fmt3(b_frac, "%.4f").c_str(),
                            fmt3(g_frac, "%.4f").c_str());
                std::printf("  edgecore / raw_b2b            %s   edgecore / raw_gap %s\n", fmt3(e_vs_b, "%.4f").c_str(),
                            fmt3(e_vs_g, "%.4f").c_str());
                if (!plan_fit.empty())
                    std::printf("  plan estimate / measured per read %s; plan / model %s\n", fmt3(plan_fit, "%.4f").c_str(),
                                fmt3(plan_model, "%.4f").c_str());
                else
                    std::printf("  plan: no per-identifier \"ms on the wire\" estimate for these meters\n");
                double excess = median_of(e_turn) - gap_us();
                std::printf("  where the time goes: the engine's turnaround (slave: reply to next request) %s us against "
                            "the gap %.0f us: %.0f us more per read (median), %.4f of a read; raw_gap's %s us; the "
                            "slave's replies are late by %s us; engine time between transactions (cycle - round trip) "
                            "%s us\n", fmt3(e_turn, "%.0f").c_str(), gap_us(), excess,
                            excess / (sum_us / kIdentCount), fmt3(g_turn, "%.0f").c_str(), fmt3(e_late, "%.0f").c_str(),
                            fmt3(e_between, "%.0f").c_str());
                if (e_early)
                    std::printf("  the engine sent %llu requests within the gap after a reply (early)\n",
                                (unsigned long long)e_early);
                if (e_bad || raw_bad)
                    std::printf("  FAILED READS: edgecore %llu (%s), raw %llu\n", (unsigned long long)e_bad,
                                statuses(bad_status).c_str(), (unsigned long long)raw_bad);
                std::string plan_part = plan_fit.empty() ? "plan: no estimate" : "plan / measured per read " + fmt3(plan_fit, "%.3f");
                summary("RATE %d meter%s, turnaround %2d ms: edgecore %s reads/s = %s of the limit (%.3f/s; target >= "
                        "0.95: %s); raw_b2b %s, raw_gap %s; %s; failed reads %llu%s",
                        meters, meters > 1 ? "s" : " ", turnaround_ms, fmt3(e_rate, "%.3f").c_str(),
                        fmt3(e_frac, "%.4f").c_str(), 1e6 * kIdentCount / sum_us, verdict(ef.med >= 0.95),
                        fmt3(b_frac, "%.4f").c_str(), fmt3(g_frac, "%.4f").c_str(), plan_part.c_str(),
                        (unsigned long long)e_bad, e_early ? " EARLY REQUESTS" : "");
            }
        }
        if (!first_plan.empty()) std::printf("\nedgecore_engine_plan (first site above):\n%s", first_plan.c_str());
    }

    if (wanted(only, "cycle")) {
        const int meters = *std::max_element(meter_counts.begin(), meter_counts.end());
        std::printf("\n== whole cycles: %d meters x %d identifiers, every channel at interval_ms I (longer than a cycle); "
                    "cycle k = last reading before t0 + (k+1) I, plus the gap, minus t0 + k I (cycle 0 opens the port: "
                    "not used)\n", meters, kIdentCount);
        for (int turnaround_ms : turnarounds_ms) {
            const int ta_us = turnaround_ms * 1000;
            double model_ms = 0;
            for (const Ident &id : kIdents) model_ms += meters * read_us(id, ta_us) / 1000;
            uint32_t interval = uint32_t(std::ceil(model_ms * 1.3 / 500) * 500);
            const int cycles = 3;
            CycleResult c = run_cycles(meters, ta_us, interval, cycles);
            const std::vector<double> &est = c.plan_est;
            double plan_ms = 0;
            for (double us : est) plan_ms += meters * us / 1000;
            std::printf("  turnaround %d ms: I = %u ms, cycles", turnaround_ms, interval);
            for (double x : c.cycles_ms) std::printf(" %.1f", x);
            std::printf(" ms: median %.1f ms; model %.1f ms (model / measured %.4f); plan %s\n", c.cycle_ms, model_ms,
                        c.cycle_ms > 0 ? model_ms / c.cycle_ms : 0,
                        est.empty() ? "gives no estimate"
                                    : ("estimate " + std::to_string(plan_ms).substr(0, 7) + " ms (plan / measured " +
                                       std::to_string(c.cycle_ms > 0 ? plan_ms / c.cycle_ms : 0).substr(0, 6) + ")").c_str());
            std::printf("    slave: %lu requests, master turnaround %.0f us avg, replies late %.0f us avg; failed reads "
                        "%llu, overrun cycles %llu\n", c.slave.requests, c.slave.turnaround_avg_us, c.slave.late_avg_us,
                        (unsigned long long)c.bad, (unsigned long long)c.overrun);
            std::fflush(stdout);
            total_bad += c.bad;
            bool fit = !est.empty() && c.cycle_ms > 0 && plan_ms / c.cycle_ms >= 0.95;
            all_met = all_met && fit && c.bad == 0 && c.overrun == 0;
            summary("CYCLE %d meters, turnaround %2d ms: measured %.1f ms, model %.1f ms (%.4f), plan %.1f ms: plan / "
                    "measured %.4f (target >= 0.95: %s)%s", meters, turnaround_ms, c.cycle_ms, model_ms,
                    c.cycle_ms > 0 ? model_ms / c.cycle_ms : 0, plan_ms, c.cycle_ms > 0 ? plan_ms / c.cycle_ms : 0,
                    verdict(fit), c.bad || c.overrun ? " FAILED READS OR OVERRUN CYCLES" : "");
        }
    }

    print_summary();
    if (total_bad) std::printf("FAILED READS: %llu\n", (unsigned long long)total_bad);
    if (g_summary.empty()) {
        std::printf("nothing measured (DLT645_BENCH_ONLY=rate,cycle; DLT645_BENCH_METERS; DLT645_BENCH_TURNAROUND_MS)\n");
        all_met = false;
    }
    std::printf("verdict: %s\n", all_met && total_bad == 0 ? "every target met, every read OK" : "NOT MET");
    rmdir(g_tmp.c_str());
    return all_met && total_bad == 0 ? 0 : 1;
}
