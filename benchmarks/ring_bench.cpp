// ring_bench: throughput of EdgeCore's ring against boost::lockfree::spsc_queue and ck_ring (SPSC).
//
// One producer thread and one consumer thread stream 32-byte edgecore_reading values through each queue.
// Every measurement is repeated ROUNDS times, the queues interleaved within each round, so that a noisy
// machine disturbs all of them alike; the median and the best of the rounds are reported. The consumer
// checks that every reading arrives in sequence; any error makes the program exit with status 1.
// ns/reading is the wall time of the whole transfer (producer start to consumer's last reading) divided
// by the number of readings, and includes the producer filling and the consumer checking each reading:
// the same small cost for every queue.
//
// Usage: ring_bench [scale]   (scale multiplies the reading counts; default 1.0, e.g. 0.1 for a quick run)
// Environment: RING_BENCH_ROUNDS (default 5); RING_BENCH_ONLY=key[,key...] runs only those queues
// (then the ratios are not printed).

#include <edgecore.h>

#include <boost/lockfree/spsc_queue.hpp>
// ck_ring.h is a C header: one function it defines (_ck_ring_enqueue_reserve_mp, not used here) does
// `return false;` from a function returning void *, which C++ rejects. Everything else it includes is
// included first, unchanged; only while ck_ring.h itself is read does `false` spell the literal 0 (a
// valid null pointer and a valid bool in C++). The SPSC functions measured here do not return false
// as a pointer, so their code is unaffected.
#include <stdbool.h>
#include <string.h>
#include <ck_cc.h>
#include <ck_md.h>
#include <ck_pr.h>
#include <ck_stdbool.h>
#include <ck_string.h>
extern "C" {
#define false 0
#include <ck_ring.h>
#undef false
}

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#elif defined(__aarch64__) || defined(__arm__)
static inline void cpu_relax() { __asm__ __volatile__("yield" ::: "memory"); }
#else
static inline void cpu_relax() {}
#endif

using reading = edgecore_reading;

namespace {

constexpr uint32_t kCapacity = 4096;   // every queue: 4096 slots
constexpr size_t kPublishBatch = 64;   // producer batch (batched paths)
constexpr size_t kDrainBatch = 256;    // consumer batch (batched paths)
constexpr uint32_t kChannel = 7;

// Spinning on a full or empty queue: pause, and yield the CPU now and then so that a descheduled peer
// on this shared 2-core machine can run. Identical for every queue.
struct Backoff {
    unsigned spins = 0;
    void pause() {
        if (++spins < 1024) {
            cpu_relax();
        } else {
            spins = 0;
            sched_yield();
        }
    }
    void reset() { spins = 0; }
};

inline void fill(reading &r, uint64_t seq) {
    r.timestamp_ns = static_cast<int64_t>(seq);
    r.value = static_cast<double>(seq) * 0.5;
    r.channel = kChannel;
    r.sequence = static_cast<uint32_t>(seq);
    r.status = EDGECORE_STATUS_OK;
    r.status_detail = 0;
    r.reserved = 0;
}

// Consumer-side check: sequence in order; channel and timestamp_ns consistent with it.
struct Verifier {
    uint32_t expected = 0;
    uint64_t errors = 0;
    uint64_t received = 0;
    char first_error[160] = {0};

    inline void check(const reading &r) {
        // Integer compares only, so that checking costs little next to the queues (equal for all).
        if (__builtin_expect(r.sequence != expected || r.channel != kChannel ||
                                 r.timestamp_ns != static_cast<int64_t>(r.sequence), 0)) {
            if (errors == 0)
                std::snprintf(first_error, sizeof first_error,
                              "at reading %llu: sequence %u (expected %u), channel %u, timestamp_ns %lld",
                              (unsigned long long)received, r.sequence, expected, r.channel,
                              (long long)r.timestamp_ns);
            ++errors;
            expected = r.sequence;  // resynchronise so one loss counts once
        }
        ++expected;
        ++received;
    }
};

// ---------------------------------------------------------------------------------------------------
// Thread placement and timing

std::vector<int> g_cpus;  // the CPUs this process may run on
std::atomic<bool> g_pin_ok{true};  // set to false by either thread when pinning fails

void pin_self(int which) {
    if (g_cpus.size() < 2) { g_pin_ok = false; return; }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(g_cpus[which % g_cpus.size()], &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) g_pin_ok = false;
}

using clock_type = std::chrono::steady_clock;

struct RunResult {
    double seconds = 0;
    uint64_t errors = 0;
    uint64_t received = 0;
    std::string first_error;
};

// Runs producer and consumer on two pinned threads. Both meet at a spin barrier; the producer takes the
// start time when it leaves it, the consumer the end time after the last reading: the wall time of the
// whole transfer.
RunResult run_pair(const std::function<void()> &producer, const std::function<void(Verifier &)> &consumer) {
    std::atomic<int> ready{0};
    clock_type::time_point t0, t1;
    Verifier v;
    auto barrier = [&ready] {
        ready.fetch_add(1);
        Backoff b;
        while (ready.load(std::memory_order_acquire) < 2) b.pause();
    };
    std::thread c([&] {
        pin_self(1);
        pthread_setname_np(pthread_self(), "rb-consumer");  // names for perf/top
        barrier();
        consumer(v);
        t1 = clock_type::now();
    });
    std::thread p([&] {
        pin_self(0);
        pthread_setname_np(pthread_self(), "rb-producer");
        barrier();
        t0 = clock_type::now();
        producer();
    });
    p.join();
    c.join();
    RunResult r;
    r.seconds = std::chrono::duration<double>(t1 - t0).count();
    r.errors = v.errors;
    r.received = v.received;
    r.first_error = v.first_error;
    return r;
}

// ---------------------------------------------------------------------------------------------------
// The queues. Each function moves n readings from producer to consumer once.

RunResult edgecore_batched(uint64_t n) {
    edgecore_ring *ring = nullptr;
    int rc = edgecore_ring_create(kCapacity, 1, EDGECORE_OVERFLOW_REJECT_NEWEST, &ring);
    if (rc != 0) {
        std::fprintf(stderr, "edgecore_ring_create: %s\n", edgecore_strerror(rc));
        std::exit(2);
    }
    RunResult r = run_pair(
        [&] {
            reading buf[kPublishBatch];
            Backoff b;
            for (uint64_t seq = 0; seq < n;) {
                size_t count = static_cast<size_t>(std::min<uint64_t>(kPublishBatch, n - seq));
                for (size_t i = 0; i < count; ++i) fill(buf[i], seq + i);
                size_t off = 0;
                while (off < count) {
                    int k = edgecore_ring_publish(ring, 0, buf + off, count - off);
                    if (k < 0) { std::fprintf(stderr, "publish: %s\n", edgecore_strerror(k)); std::abort(); }
                    if (k == 0) { b.pause(); continue; }
                    b.reset();
                    off += static_cast<size_t>(k);
                }
                seq += count;
            }
        },
        [&](Verifier &v) {
            reading out[kDrainBatch];
            Backoff b;
            while (v.received < n) {
                int k = edgecore_ring_drain(ring, out, kDrainBatch);
                if (k < 0) { std::fprintf(stderr, "drain: %s\n", edgecore_strerror(k)); std::abort(); }
                if (k == 0) { b.pause(); continue; }
                b.reset();
                for (int i = 0; i < k; ++i) v.check(out[i]);
            }
        });
    struct edgecore_ring_stats st{};
    edgecore_ring_stats(ring, &st);
    if (st.published != n || st.drained != n || st.available != 0) {
        std::fprintf(stderr, "edgecore stats mismatch: published %llu drained %llu available %llu (n %llu)\n",
                     (unsigned long long)st.published, (unsigned long long)st.drained,
                     (unsigned long long)st.available, (unsigned long long)n);
        ++r.errors;
    }
    edgecore_ring_destroy(ring);
    return r;
}

RunResult edgecore_single(uint64_t n) {
    edgecore_ring *ring = nullptr;
    int rc = edgecore_ring_create(kCapacity, 1, EDGECORE_OVERFLOW_REJECT_NEWEST, &ring);
    if (rc != 0) {
        std::fprintf(stderr, "edgecore_ring_create: %s\n", edgecore_strerror(rc));
        std::exit(2);
    }
    RunResult r = run_pair(
        [&] {
            reading x;
            Backoff b;
            for (uint64_t seq = 0; seq < n; ++seq) {
                fill(x, seq);
                int k;
                while ((k = edgecore_ring_publish(ring, 0, &x, 1)) == 0) b.pause();
                if (k < 0) { std::fprintf(stderr, "publish: %s\n", edgecore_strerror(k)); std::abort(); }
                b.reset();
            }
        },
        [&](Verifier &v) {
            reading x;
            Backoff b;
            while (v.received < n) {
                int k = edgecore_ring_drain(ring, &x, 1);
                if (k < 0) { std::fprintf(stderr, "drain: %s\n", edgecore_strerror(k)); std::abort(); }
                if (k == 0) { b.pause(); continue; }
                b.reset();
                v.check(x);
            }
        });
    struct edgecore_ring_stats st{};
    edgecore_ring_stats(ring, &st);
    if (st.published != n || st.drained != n) ++r.errors;
    edgecore_ring_destroy(ring);
    return r;
}

using boost_queue = boost::lockfree::spsc_queue<reading, boost::lockfree::capacity<kCapacity>>;

RunResult boost_single(uint64_t n) {
    auto q = std::make_unique<boost_queue>();
    return run_pair(
        [&] {
            reading x;
            Backoff b;
            for (uint64_t seq = 0; seq < n; ++seq) {
                fill(x, seq);
                while (!q->push(x)) b.pause();
                b.reset();
            }
        },
        [&](Verifier &v) {
            reading x;
            Backoff b;
            while (v.received < n) {
                if (!q->pop(x)) { b.pause(); continue; }
                b.reset();
                v.check(x);
            }
        });
}

RunResult boost_batched(uint64_t n) {
    auto q = std::make_unique<boost_queue>();
    return run_pair(
        [&] {
            reading buf[kPublishBatch];
            Backoff b;
            for (uint64_t seq = 0; seq < n;) {
                size_t count = static_cast<size_t>(std::min<uint64_t>(kPublishBatch, n - seq));
                for (size_t i = 0; i < count; ++i) fill(buf[i], seq + i);
                size_t off = 0;
                while (off < count) {
                    size_t k = q->push(buf + off, count - off);
                    if (k == 0) { b.pause(); continue; }
                    b.reset();
                    off += k;
                }
                seq += count;
            }
        },
        [&](Verifier &v) {
            reading out[kDrainBatch];
            Backoff b;
            while (v.received < n) {
                size_t k = q->pop(out, kDrainBatch);
                if (k == 0) { b.pause(); continue; }
                b.reset();
                for (size_t i = 0; i < k; ++i) v.check(out[i]);
            }
        });
}

// ck_ring, pointer mode (its normal use): the ring carries pointers to readings in a preallocated pool.
// The pool has twice as many slots as the ring: the producer reuses slot i % pool only after the
// consumer has dequeued (and so finished reading) reading i - pool, which ck_ring's capacity ensures.
struct alignas(64) CkRing {
    ck_ring_t ring;
};

RunResult ck_pointer(uint64_t n) {
    auto ring = std::make_unique<CkRing>();
    std::vector<ck_ring_buffer_t> buffer(kCapacity);
    const size_t pool_size = 2 * kCapacity;
    std::unique_ptr<reading[]> pool(new reading[pool_size]);
    std::memset(pool.get(), 0, pool_size * sizeof(reading));
    ck_ring_init(&ring->ring, kCapacity);
    return run_pair(
        [&] {
            Backoff b;
            for (uint64_t seq = 0; seq < n; ++seq) {
                reading *slot = &pool[seq & (pool_size - 1)];
                fill(*slot, seq);
                while (!ck_ring_enqueue_spsc(&ring->ring, buffer.data(), slot)) b.pause();
                b.reset();
            }
        },
        [&](Verifier &v) {
            Backoff b;
            while (v.received < n) {
                reading *slot;
                if (!ck_ring_dequeue_spsc(&ring->ring, buffer.data(), &slot)) { b.pause(); continue; }
                b.reset();
                v.check(*slot);
            }
        });
}

// ck_ring, typed mode: the 32-byte reading itself is stored in the ring (memcpy in and out).
// CK_RING_PROTOTYPE(name, type) generates this, but its expansion is C only (implicit void* conversions
// in its mpmc/reserve functions), so call what its ck_ring_enqueue_spsc_<name> and
// ck_ring_dequeue_spsc_<name> expand to.
inline bool ck_enqueue_spsc_reading(ck_ring_t *ring, reading *buffer, const reading *entry) {
    return _ck_ring_enqueue_sp(ring, buffer, entry, sizeof(reading), NULL);
}
inline bool ck_dequeue_spsc_reading(ck_ring_t *ring, const reading *buffer, reading *target) {
    return _ck_ring_dequeue_sc(ring, buffer, target, sizeof(reading));
}

RunResult ck_typed(uint64_t n) {
    auto ring = std::make_unique<CkRing>();
    std::unique_ptr<reading[]> buffer(new reading[kCapacity]);
    std::memset(buffer.get(), 0, kCapacity * sizeof(reading));
    ck_ring_init(&ring->ring, kCapacity);
    return run_pair(
        [&] {
            reading x;
            Backoff b;
            for (uint64_t seq = 0; seq < n; ++seq) {
                fill(x, seq);
                while (!ck_enqueue_spsc_reading(&ring->ring, buffer.get(), &x)) b.pause();
                b.reset();
            }
        },
        [&](Verifier &v) {
            reading x;
            Backoff b;
            while (v.received < n) {
                if (!ck_dequeue_spsc_reading(&ring->ring, buffer.get(), &x)) { b.pause(); continue; }
                b.reset();
                v.check(x);
            }
        });
}

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t m = v.size();
    return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
}

struct Bench {
    const char *key;
    const char *description;
    RunResult (*run)(uint64_t);
    uint64_t readings;
    std::vector<double> ns_per_reading;
    uint64_t errors = 0;
    std::string first_error;

    double median() const { return median_of(ns_per_reading); }
    double best() const { return *std::min_element(ns_per_reading.begin(), ns_per_reading.end()); }
};

std::string cpu_model() {
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

}  // namespace

int main(int argc, char **argv) {
    double scale = argc > 1 ? std::atof(argv[1]) : 1.0;
    if (!(scale > 0)) scale = 1.0;
    int rounds = 5;
    if (const char *e = std::getenv("RING_BENCH_ROUNDS")) rounds = std::max(1, std::atoi(e));

    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int i = 0; i < CPU_SETSIZE; ++i)
            if (CPU_ISSET(i, &allowed)) g_cpus.push_back(i);

    auto count = [scale](double base, uint64_t multiple) {
        uint64_t n = static_cast<uint64_t>(base * scale);
        n = std::max<uint64_t>(multiple, n / multiple * multiple);
        return n;
    };

    std::vector<Bench> benches = {
        {"edgecore_batched", "EdgeCore ring, publish 64 / drain <=256 (1 lane, cap 4096, REJECT_NEWEST)",
         edgecore_batched, count(64e6, kDrainBatch), {}, 0, {}},
        {"edgecore_single", "EdgeCore ring, publish 1 / drain 1", edgecore_single, count(2e6, 1), {}, 0, {}},
        {"boost_spsc", "boost::lockfree::spsc_queue<reading, capacity<4096>>, push/pop one", boost_single,
         count(20e6, 1), {}, 0, {}},
        {"boost_spsc_batched", "boost::lockfree::spsc_queue, push(arr,64) / pop(arr,256)", boost_batched,
         count(64e6, kDrainBatch), {}, 0, {}},
        {"ck_ring", "ck_ring SPSC, pointer mode: void* slots -> readings in a preallocated pool", ck_pointer,
         count(20e6, 1), {}, 0, {}},
        {"ck_ring_typed", "ck_ring SPSC, typed mode (as CK_RING_PROTOTYPE): 32-byte reading stored in the ring",
         ck_typed, count(10e6, 1), {}, 0, {}},
    };

    // RING_BENCH_ONLY=key[,key...]: measure only these queues (for profiling one of them).
    if (const char *only = std::getenv("RING_BENCH_ONLY")) {
        std::string list = std::string(",") + only + ",";
        benches.erase(std::remove_if(benches.begin(), benches.end(),
                                     [&](const Bench &b) {
                                         return list.find(std::string(",") + b.key + ",") == std::string::npos;
                                     }),
                      benches.end());
        if (benches.empty()) { std::fprintf(stderr, "RING_BENCH_ONLY matches no queue\n"); return 2; }
    }

    std::printf("ring_bench: EdgeCore %s vs boost::lockfree::spsc_queue (boost %d.%d) vs ck_ring\n",
                edgecore_version_string(), BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000);
    std::printf("cpu: %s, %ld online CPUs; reading = %zu bytes; every queue 4096 slots\n", cpu_model().c_str(),
                sysconf(_SC_NPROCESSORS_ONLN), sizeof(reading));
    std::printf("rounds: %d (each round runs every queue once, starting queue rotating); times are wall time of the whole "
                "transfer / readings\n", rounds);
    std::fflush(stdout);

    // Warm-up: fault in code and memory, let the CPUs clock up.
    for (auto &b : benches) {
        RunResult r = b.run(std::max<uint64_t>(kDrainBatch, b.readings / 20 / kDrainBatch * kDrainBatch));
        b.errors += r.errors;
        if (r.errors && b.first_error.empty()) b.first_error = r.first_error;
    }
    std::printf("threads pinned: %s", g_pin_ok ? "yes" : "no (pthread_setaffinity_np failed or <2 CPUs)");
    if (g_pin_ok) std::printf(" (producer on CPU %d, consumer on CPU %d)", g_cpus[0], g_cpus[1]);
    std::printf("\n\n");

    // Each round runs every queue once; the starting queue rotates so no queue always follows another.
    for (int round = 0; round < rounds; ++round) {
        for (size_t j = 0; j < benches.size(); ++j) {
            Bench &b = benches[(j + static_cast<size_t>(round)) % benches.size()];
            RunResult r = b.run(b.readings);
            if (r.received != b.readings) ++r.errors;
            b.errors += r.errors;
            if (r.errors && b.first_error.empty()) b.first_error = r.first_error;
            b.ns_per_reading.push_back(r.seconds * 1e9 / static_cast<double>(b.readings));
        }
        std::printf("round %d:", round + 1);
        for (auto &b : benches) std::printf(" %s %.2f", b.key, b.ns_per_reading.back());
        std::printf("  (ns/reading)\n");
        std::fflush(stdout);
    }
    std::printf("\n%-20s %12s %14s %10s %14s %10s  %s\n", "queue", "readings", "median ns/rd", "best ns/rd",
                "median rd/s", "errors", "what");
    for (auto &b : benches) {
        double med = b.median();
        std::printf("%-20s %12llu %14.2f %10.2f %14.3e %10llu  %s\n", b.key, (unsigned long long)b.readings,
                    med, b.best(), 1e9 / med, (unsigned long long)b.errors, b.description);
    }

    auto find = [&](const char *key) -> const Bench * {
        for (auto &b : benches)
            if (std::strcmp(b.key, key) == 0) return &b;
        return nullptr;
    };
    if (benches.size() == 6) {
        const Bench &ecb = *find("edgecore_batched");
        const double target = 0.25;
        std::printf("\nratios of edgecore_batched to the others: median / median; in brackets best / best and "
                    "the median of the %d same-round ratios\n", rounds);
        const char *others[] = {"boost_spsc", "ck_ring", "ck_ring_typed", "boost_spsc_batched", "edgecore_single"};
        double ratio_boost = 0, ratio_ck = 0;
        for (const char *k : others) {
            const Bench &o = *find(k);
            std::vector<double> per_round;
            for (size_t i = 0; i < o.ns_per_reading.size(); ++i)
                per_round.push_back(ecb.ns_per_reading[i] / o.ns_per_reading[i]);
            double rm = ecb.median() / o.median();
            bool targeted = std::strcmp(k, "boost_spsc") == 0 || std::strcmp(k, "ck_ring") == 0;
            char head[64];
            std::snprintf(head, sizeof head, "ratio edgecore_batched / %s", k);
            std::printf("%-45s = %.2f%s  [best %.2f, same-round %.2f]\n", head, rm,
                        targeted ? " (target <= 0.25)" : "                 ", ecb.best() / o.best(),
                        median_of(per_round));
            if (std::strcmp(k, "boost_spsc") == 0) ratio_boost = rm;
            if (std::strcmp(k, "ck_ring") == 0) ratio_ck = rm;
        }
        std::printf("target edgecore_batched <= 0.25 x boost_spsc: %s (%.2f; needs <= %.2f ns/reading here)\n",
                    ratio_boost <= target ? "MET" : "NOT MET", ratio_boost, target * find("boost_spsc")->median());
        std::printf("target edgecore_batched <= 0.25 x ck_ring:    %s (%.2f; needs <= %.2f ns/reading here)\n",
                    ratio_ck <= target ? "MET" : "NOT MET", ratio_ck, target * find("ck_ring")->median());
    }

    uint64_t total_errors = 0;
    for (auto &b : benches) {
        total_errors += b.errors;
        if (b.errors)
            std::printf("VERIFICATION FAILED: %s: %llu errors; first: %s\n", b.key,
                        (unsigned long long)b.errors, b.first_error.c_str());
    }
    if (total_errors) return 1;
    std::printf("verification: every reading of every run arrived in sequence (0 errors)\n");
    return 0;
}
