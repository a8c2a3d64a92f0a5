// What the C++ wire benchmarks (modbus_bench.cpp, dlt645_bench.cpp) share: clocks, environment options, CPU
// pinning, fatal errors, child processes started here and stopped by PID (they die with this process:
// PR_SET_PDEATHSIG), socat pty pairs, min / median / max, the machine line and the summary.
// (The C tools share theirs in wire_line.h and gateway_common.h.)
//
// Define BENCH_PROGRAM (the name in error messages, e.g. "modbus_bench") before including this file, and
// <edgecore.h> for check().
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef BENCH_PROGRAM
#error "define BENCH_PROGRAM before including bench_common.h"
#endif

#include <edgecore.h>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// ---------------------------------------------------------------------------------------------------
// Time

inline int64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline int64_t realtime_ns() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline void sleep_ms(int ms) {
    timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

// ---------------------------------------------------------------------------------------------------
// Statistics

inline double median_of(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t m = v.size();
    return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
}

struct Spread {
    double min = 0, med = 0, max = 0;
};

inline Spread spread(const std::vector<double> &v) {
    if (v.empty()) return {};
    return {*std::min_element(v.begin(), v.end()), median_of(v), *std::max_element(v.begin(), v.end())};
}

// "min / median / max", each with the printf format f (e.g. "%.3f").
inline std::string fmt3(const std::vector<double> &v, const char *f) {
    Spread s = spread(v);
    char buf[160], a[40], b[40], c[40];
    std::snprintf(a, sizeof a, f, s.min);
    std::snprintf(b, sizeof b, f, s.med);
    std::snprintf(c, sizeof c, f, s.max);
    std::snprintf(buf, sizeof buf, "%s / %s / %s", a, b, c);
    return buf;
}

inline const char *verdict(bool met) { return met ? "MET" : "NOT MET"; }

// ---------------------------------------------------------------------------------------------------
// Environment, errors, scratch directory

inline double env_double(const char *name, double fallback) {
    const char *e = std::getenv(name);
    double v = e ? std::atof(e) : 0;
    return v > 0 ? v : fallback;
}

// The parts named in the environment variable `name` (a comma list, e.g. "rate,cycle") as ",rate,cycle,"; ""
// (every part) when it is unset or empty. wanted(only, part) says whether `part` runs.
inline std::string only_parts(const char *name) {
    const char *e = std::getenv(name);
    return e && *e ? std::string(",") + e + "," : "";
}

inline bool wanted(const std::string &only, const char *part) {
    return only.empty() || only.find(std::string(",") + part + ",") != std::string::npos;
}

[[noreturn]] inline void die(const char *fmt, const char *a = "", const char *b = "") {
    std::fprintf(stderr, BENCH_PROGRAM ": ");
    std::fprintf(stderr, fmt, a, b);
    std::fprintf(stderr, "\n");
    std::exit(2);
}

inline void check(int rc, const char *what) {
    if (rc < 0) {
        std::fprintf(stderr, BENCH_PROGRAM ": %s: %s (%s)\n", what, edgecore_strerror(rc), edgecore_engine_last_error());
        std::exit(2);
    }
}

inline std::string g_tmp;  // scratch directory: pty links, child logs (and what the benchmark adds)

// Creates the scratch directory from a mkdtemp template ("/tmp/name.XXXXXX") into g_tmp.
inline void make_scratch(const char *templ) {
    std::vector<char> name(templ, templ + std::strlen(templ) + 1);
    if (!mkdtemp(name.data())) die("mkdtemp failed");
    g_tmp = name.data();
}

// The first executable `name` on PATH, or "".
inline std::string find_on_path(const char *name) {
    const char *path = std::getenv("PATH");
    std::string all = path ? path : "/usr/bin:/bin";
    for (size_t at = 0; at <= all.size();) {
        size_t end = all.find(':', at);
        if (end == std::string::npos) end = all.size();
        std::string candidate = all.substr(at, end - at) + "/" + name;
        if (end > at && access(candidate.c_str(), X_OK) == 0) return candidate;
        at = end + 1;
    }
    return "";
}

// ---------------------------------------------------------------------------------------------------
// CPUs and the machine

inline std::vector<int> g_cpus;  // CPUs this process may use (read_cpus)
inline bool g_pin = true;        // peer (server / slave) on g_cpus[0], this process's side on g_cpus[1]

// Fills g_cpus with the CPUs this process may run on.
inline void read_cpus() {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int i = 0; i < CPU_SETSIZE; ++i)
            if (CPU_ISSET(i, &allowed)) g_cpus.push_back(i);
}

// The calling process on CPU slot `which` when pinning (g_pin and two CPUs or more), else (or with
// which < 0) on every CPU of g_cpus.
inline void pin_to(int which) {
    if (g_cpus.empty()) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (which >= 0 && g_pin && g_cpus.size() >= 2) CPU_SET(g_cpus[size_t(which) % g_cpus.size()], &set);
    else for (int x : g_cpus) CPU_SET(x, &set);
    sched_setaffinity(0, sizeof set, &set);
}

inline std::string cpu_model() {
    FILE *f = std::fopen("/proc/cpuinfo", "r");
    if (!f) return "unknown";
    char line[512];
    std::string model = "unknown";
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, "model name", 10) == 0) {
            const char *colon = std::strchr(line, ':');
            if (colon) {
                model = colon + 2;
                if (!model.empty() && model.back() == '\n') model.pop_back();
            }
            break;
        }
    }
    std::fclose(f);
    return model;
}

// /proc/loadavg's first three fields: other work on this shared machine shows up here.
inline std::string loadavg() {
    FILE *f = std::fopen("/proc/loadavg", "r");
    if (!f) return "unknown";
    char a[32] = "", b[32] = "", c[32] = "";
    int n = std::fscanf(f, "%31s %31s %31s", a, b, c);
    std::fclose(f);
    return n == 3 ? std::string(a) + " " + b + " " + c : "unknown";
}

// "cpu: MODEL, N online CPUs; load average L; pinning: PEER on CPU x, SELF on CPU y" (or "none").
inline void print_machine(const char *peer, const char *self) {
    std::printf("cpu: %s, %ld online CPUs; load average %s; pinning: %s\n", cpu_model().c_str(),
                sysconf(_SC_NPROCESSORS_ONLN), loadavg().c_str(),
                g_pin && g_cpus.size() >= 2
                    ? (std::string(peer) + " on CPU " + std::to_string(g_cpus[0]) + ", " + self + " on CPU " +
                       std::to_string(g_cpus[1])).c_str()
                    : "none");
}

// ---------------------------------------------------------------------------------------------------
// The summary printed at the end

inline std::vector<std::string> g_summary;

void summary(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
inline void summary(const char *fmt, ...) {
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_summary.push_back(buf);
}

inline void print_summary() {
    std::printf("\n== summary (load average at the end: %s)\n", loadavg().c_str());
    for (auto &s : g_summary) std::printf("%s\n", s.c_str());
}

// ---------------------------------------------------------------------------------------------------
// Child processes: started here, stopped by PID.

struct Child {
    pid_t pid = -1;
    int out = -1;  // its stdout
    int in = -1;   // its stdin, when spawned with one
    std::string name, log;
};

// Starts argv with stdout on a pipe (stdin too with with_stdin, else /dev/null) and stderr in g_tmp/NAME.log;
// it runs on CPU slot `cpu` (-1: anywhere this process may run; see pin_to) and receives SIGTERM if this
// process dies.
inline Child spawn(const std::vector<std::string> &argv, int cpu, const std::string &name, bool with_stdin = false) {
    Child c;
    c.name = name;
    c.log = g_tmp + "/" + name + ".log";
    int fds[2], ins[2] = {-1, -1};
    if (pipe2(fds, O_CLOEXEC) != 0) die("pipe failed");
    if (with_stdin && pipe2(ins, O_CLOEXEC) != 0) die("pipe failed");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        dup2(fds[1], 1);
        if (with_stdin) {
            dup2(ins[0], 0);
        } else {
            int null = open("/dev/null", O_RDONLY);
            if (null >= 0) dup2(null, 0);
        }
        int log = open(c.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (log >= 0) dup2(log, 2);
        pin_to(cpu);
        std::vector<char *> args;
        for (auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    close(fds[1]);
    if (with_stdin) {
        close(ins[0]);
        c.in = ins[1];
    }
    c.pid = pid;
    c.out = fds[0];
    return c;
}

// One line of the child's stdout, waiting at most timeout_ms; "" on timeout or end of file.
inline std::string read_line(const Child &c, int timeout_ms) {
    std::string line;
    int64_t end = mono_ns() + int64_t(timeout_ms) * 1000000;
    while (true) {
        int left = int((end - mono_ns()) / 1000000);
        if (left <= 0) return "";
        pollfd p = {c.out, POLLIN, 0};
        if (poll(&p, 1, left) <= 0) continue;
        char ch;
        ssize_t n = read(c.out, &ch, 1);
        if (n <= 0) return "";
        if (ch == '\n') return line;
        line += ch;
    }
}

// The last 1500 characters of the child's stderr log.
inline std::string log_tail(const Child &c) {
    FILE *f = std::fopen(c.log.c_str(), "r");
    if (!f) return "";
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    std::fclose(f);
    if (text.size() > 1500) text = "..." + text.substr(text.size() - 1500);
    return text;
}

inline void wait_ready(const Child &c) {
    std::string line = read_line(c, 10000);
    if (line != "READY")
        die("%s did not print READY; its stderr:\n%s", c.name.c_str(), log_tail(c).c_str());
}

// Closes the child's stdin if it has one (a client that reads it ends by itself; 1 s for that), then SIGTERM
// to its PID, at most 3 s to exit, then SIGKILL to the same PID; removes its log. Returns what it printed on
// stdout after that (e.g. its statistics).
inline std::string stop(Child &c) {
    std::string rest;
    if (c.pid <= 0) return rest;
    if (c.in >= 0) {
        close(c.in);
        c.in = -1;
        int64_t soon = mono_ns() + 1000000000LL;
        while (waitpid(c.pid, nullptr, WNOHANG) == 0 && mono_ns() < soon) sleep_ms(5);
    }
    kill(c.pid, SIGTERM);
    int status = 0;
    int64_t end = mono_ns() + 3000000000LL;
    pid_t r = 0;
    while ((r = waitpid(c.pid, &status, WNOHANG)) == 0 && mono_ns() < end) sleep_ms(5);
    if (r == 0) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
    }
    c.pid = -1;
    for (std::string line; !(line = read_line(c, 200)).empty();) rest += line + "\n";
    close(c.out);
    c.out = -1;
    unlink(c.log.c_str());
    return rest;
}

// ---------------------------------------------------------------------------------------------------
// A socat pty pair with a slave on one side

inline std::string g_socat;  // socat's path (find_on_path("socat"))

struct Line {
    Child socat, slave;
    std::string a, b;  // the pty links in g_tmp: the master's side, the slave's side
};

// socat's pty pair, links g_tmp/ptyA and g_tmp/ptyB (at most 5 s for them); the caller starts the slave on b.
inline Line open_pty_pair() {
    Line l;
    l.a = g_tmp + "/ptyA";
    l.b = g_tmp + "/ptyB";
    unlink(l.a.c_str());
    unlink(l.b.c_str());
    l.socat = spawn({g_socat, "-d", "-d", "pty,raw,echo=0,link=" + l.a, "pty,raw,echo=0,link=" + l.b}, -1, "socat");
    int64_t end = mono_ns() + 5000000000LL;
    struct stat st;
    while ((stat(l.a.c_str(), &st) != 0 || stat(l.b.c_str(), &st) != 0) && mono_ns() < end) sleep_ms(10);
    if (stat(l.a.c_str(), &st) != 0 || stat(l.b.c_str(), &st) != 0)
        die("socat made no pty pair; its stderr:\n%s", log_tail(l.socat).c_str());
    return l;
}

// Stops the slave, then socat, removes the links; returns what the slave printed when stopped (its STATS line).
inline std::string close_pty_pair(Line &l) {
    std::string text = stop(l.slave);
    stop(l.socat);
    unlink(l.a.c_str());
    unlink(l.b.c_str());
    return text;
}

#endif
