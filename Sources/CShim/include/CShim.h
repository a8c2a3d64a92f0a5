/*
 * CShim: the C that Swift cannot import directly (atomics builtins, varargs syscall, errno), plus the
 * libc headers EdgeCore uses. Only Sources/EdgeCore/Platform calls into it. Everything is static inline,
 * so it costs nothing at run time and the Embedded build needs no extra object code.
 */
#ifndef EDGECORE_CSHIM_H
#define EDGECORE_CSHIM_H

#ifdef EDGECORE_TEST_GROWN_STRUCTS
/* Test build only (make abi-growth-test): the header as a later version with grown structs would have it. */
#include "../../../build/abi-grown/edgecore.h"
#else
#include "../../../include/edgecore.h"
#endif

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <dirent.h>
#include <sys/file.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>

#include <gpiod.h>
#include <modbus/modbus.h>
#include <yaml.h>

/* ---- numbers as text (varargs): Platform/NumberText.swift keeps the locale's decimal point out ---- */

/* `value` with `digits` digits after the point, in exponent form ("%.*e") or not ("%.*f"). */
static inline int ec_format_double(char *buffer, size_t size, int exponent_form, int digits, double value) {
    return snprintf(buffer, size, exponent_form ? "%.*e" : "%.*f", digits, value);
}
static inline double ec_parse_double(const char *text) { return strtod(text, NULL); }

/* ---- atomics on plain memory (C11 memory orders; 64-bit ones stay lock-free on armv7 via LDREXD) ---- */

static inline uint64_t ec_atomic_load_acquire_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint64_t ec_atomic_load_relaxed_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void ec_atomic_store_release_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void ec_atomic_store_relaxed_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void ec_atomic_store_seq_cst_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
/* Returns 1 when *p held expected and now holds desired. */
static inline int ec_atomic_cas_u64(uint64_t *p, uint64_t expected, uint64_t desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
static inline uint32_t ec_atomic_load_acquire_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint32_t ec_atomic_load_relaxed_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline uint32_t ec_atomic_load_seq_cst_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void ec_atomic_store_seq_cst_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline void *ec_atomic_load_acquire_ptr(void *const *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void ec_atomic_store_release_ptr(void **p, void *v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint32_t ec_atomic_add_u32(uint32_t *p, uint32_t v) { return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t ec_atomic_sub_u32(uint32_t *p, uint32_t v) { return __atomic_sub_fetch(p, v, __ATOMIC_SEQ_CST); }
static inline void ec_atomic_fence_seq_cst(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

/* ---- futex (private to the process) ---- */

/* Sleep while *word == expected, at most *timeout (relative, CLOCK_MONOTONIC; NULL: no limit).
 * Returns 0 when woken, or -errno: -EAGAIN (*word differed), -ETIMEDOUT, -EINTR. */
static inline int ec_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout) {
    long r = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
    return r == 0 ? 0 : -errno;
}
/* Wake every thread sleeping on word. */
static inline void ec_futex_wake_all(uint32_t *word) {
    (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Sleep while *word == expected, until the absolute CLOCK_MONOTONIC time deadline_ns (< 0: no limit).
 * Returns 0 when woken, or -errno: -EAGAIN (*word differed), -ETIMEDOUT, -EINTR. */
static inline int ec_futex_wait_until(uint32_t *word, uint32_t expected, int64_t deadline_ns) {
    struct timespec deadline = {(time_t)(deadline_ns / 1000000000), (long)(deadline_ns % 1000000000)};
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected, deadline_ns < 0 ? NULL : &deadline,
                     NULL, FUTEX_BITSET_MATCH_ANY);
    return r == 0 ? 0 : -errno;
}

/* ---- threads ---- */

/* Start a joinable thread running body(context). Returns 0 or -errno. */
static inline int ec_thread_start(pthread_t *thread, void *(*body)(void *), void *context) {
    return -pthread_create(thread, NULL, body, context);
}
static inline void ec_thread_join(pthread_t thread) { (void)pthread_join(thread, NULL); }

/* ---- libmodbus: errno is the error channel; read it right after the call ---- */

static inline int ec_errno(void) { return errno; }

/* open(2) is variadic: Swift cannot call it. O_CLOEXEC is always added (Platform/FileDescriptor.swift). */
static inline int ec_open(const char *path, int flags, unsigned mode) {
    return open(path, flags | O_CLOEXEC, (mode_t)mode);
}
/* fcntl(2) is variadic too. The descriptor flags (FD_CLOEXEC), or -1. */
static inline int ec_descriptor_flags(int fd) { return fcntl(fd, F_GETFD); }
/* F_SETPIPE_SZ is Linux's (it needs _GNU_SOURCE in glibc's headers). */
static inline int ec_set_pipe_size(int fd, int bytes) {
#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#endif
    return fcntl(fd, F_SETPIPE_SZ, bytes);
}
/* sync_file_range(2) with SYNC_FILE_RANGE_WRITE: start writing the file's dirty pages back, not waiting.
 * glibc declares it only under _GNU_SOURCE (64-bit offsets on every target; it hides armv7's
 * sync_file_range2 argument order). */
static inline int ec_start_writeback(int fd) {
    extern int sync_file_range(int fd, long long offset, long long count, unsigned int flags);
    return sync_file_range(fd, 0, 0, 2u /* SYNC_FILE_RANGE_WRITE */);
}
static inline int ec_modbus_exception_base(void) { return MODBUS_ENOBASE; }

/* ---- TCP connections (the flags are macros or enums that differ between C libraries) ---- */

/* The TCP addresses of host:port; numeric_only: fail with EAI_NONAME instead of asking a resolver (a
 * numeric lookup never blocks). Returns 0, or an errno value: ENXIO (no such host), EAGAIN (the resolver
 * failed for now), another errno. */
static inline int ec_tcp_addresses(const char *host, uint16_t port, int numeric_only, struct addrinfo **list) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (numeric_only ? AI_NUMERICHOST : AI_ADDRCONFIG);
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    *list = NULL;
    int rc = getaddrinfo(host, service, &hints, list);
    if (rc == 0) return 0;
    if (rc == EAI_SYSTEM) return errno ? errno : EIO;
    return rc == EAI_AGAIN ? EAGAIN : rc == EAI_MEMORY ? ENOMEM : ENXIO;
}
/* A non-blocking, close-on-exec TCP socket for address, set up as libmodbus sets its own up (TCP_NODELAY;
 * IPv4: low-delay TOS), and connect() started. Returns the socket (>= 0) with *in_progress = 1 while the
 * connection is being made, or -errno. */
static inline int ec_tcp_connect_start(const struct addrinfo *address, int *in_progress) {
    int fd = socket(address->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, address->ai_protocol);
    if (fd < 0) return -errno;
    int on = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (address->ai_family == AF_INET) {
        int tos = IPTOS_LOWDELAY;
        (void)setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    }
    *in_progress = 0;
    if (connect(fd, address->ai_addr, address->ai_addrlen) == 0) return fd;
    if (errno == EINPROGRESS) {
        *in_progress = 1;
        return fd;
    }
    int error = errno;
    close(fd);
    return -error;
}
/* The outcome of a non-blocking connect once the socket is writable: 0 or an errno value. */
static inline int ec_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 ? error : errno;
}

/* Sends all of data on a connected socket; MSG_NOSIGNAL: a closed peer gives EPIPE, not SIGPIPE. Returns 0 or
 * an errno value (EAGAIN when the socket's buffer is full: the peer reads nothing). */
static inline int ec_send_all(int fd, const uint8_t *data, size_t length) {
    while (length > 0) {
        ssize_t sent = send(fd, data, length, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        data += sent;
        length -= (size_t)sent;
    }
    return 0;
}

/* ---- per-thread message of the last failing engine call (defined in shim.c) ---- */

#define EC_LAST_ERROR_SIZE 512
char *ec_last_error_buffer(void);

/* ---- folder listing (defined in shim.c, which reads it with readdir64) ---- */

/* The name of the folder's next entry, or NULL: at its end (*error 0) or on failure (*error the errno value;
 * a listing that stopped early must not pass for a whole one). */
const char *ec_folder_next(DIR *folder, int *error);

/* ---- memory, clocks, strings ---- */

/* The header's version string macro as a C string literal (Swift imports string macros as String). */
/* ---- Raw frames on a line (meters, Modbus RTU over TCP): the bus worker's own byte I/O ---- */

/* Writes all of data to fd (a serial port or socket, blocking or not) before deadline_ns (CLOCK_MONOTONIC),
 * waiting in poll() while the kernel's buffer is full. On a serial port with rts_mode 1 (up) or 2 (down),
 * RTS is driven to its sending level before and back after (tcdrain: once the last bit left), with
 * rts_delay_us before and after, as libmodbus frames its own requests. Returns 0 or an errno value
 * (ETIMEDOUT when the deadline passed). */
int ec_line_write(int fd, const uint8_t *data, size_t length, int rts_mode, unsigned rts_delay_us,
                  int64_t deadline_ns);

/* Reads what is there, waiting until deadline_ns for the first byte. Returns the count (> 0), 0 when the
 * deadline passed, -ECONNRESET at end of file of a socket (the peer closed), or -errno. */
long ec_line_read(int fd, uint8_t *buffer, size_t size, int64_t deadline_ns);

/* Drops input not read yet: tcflush() on a serial port, reads until nothing is left on a socket (at most
 * 64 KiB). Returns 0, or -ECONNRESET when a socket's peer closed, or -errno. */
int ec_line_discard_input(int fd);

/* Claims a serial port this process has just opened (fd, at path) for its exclusive use: an exclusive
 * flock(2) on it, not waiting, the convention of EdgeCore's tools, picocom and others; and no live UUCP lock
 * file (/run/lock/LCK..NAME, /var/lock/LCK..NAME, of minicom and others) of another process. Returns 0, or
 * EBUSY with *holder the PID of the process that holds it (0 when it cannot be found), or another errno.
 * Released by closing fd. */
int ec_serial_claim(int fd, const char *path, long *holder);

/* Who holds line `offset` of the GPIO chip at chip_path ("/dev/gpiochip0", or a name in /dev), after a request failed with
 * EBUSY: the consumer label the kernel shows for it (into consumer, NUL-terminated; "" when it has none) and
 * the PID of the process holding it (*holder; 0 when none is found): the one whose line request's fdinfo
 * names chip and line (Linux 6.7 and later), else another process that has the chip open. Returns 0 or an
 * errno value (the chip cannot be opened or asked). Reads /proc: for error messages only. */
int ec_gpio_line_holder(const char *chip_path, unsigned offset, char *consumer, size_t size, long *holder);

/* The local time (the process's time zone) of unix_seconds: fields[0..5] = year (e.g. 2026), month 1..12,
 * day 1..31, hour, minute, second. Returns 0 or -EINVAL. */
static inline int ec_local_time(int64_t unix_seconds, int *fields) {
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    if ((int64_t)t != unix_seconds || localtime_r(&t, &tm) == NULL) return -EINVAL;
    fields[0] = tm.tm_year + 1900; fields[1] = tm.tm_mon + 1; fields[2] = tm.tm_mday;
    fields[3] = tm.tm_hour; fields[4] = tm.tm_min; fields[5] = tm.tm_sec;
    return 0;
}

static inline const char *ec_version_string(void) { return EDGECORE_VERSION_STRING; }

/* Returns NULL when the memory is not available (never aborts). */
static inline void *ec_aligned_alloc(size_t alignment, size_t size) {
    void *p = NULL;
    return posix_memalign(&p, alignment, size) == 0 ? p : NULL;
}

static inline int64_t ec_clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static inline int64_t ec_monotonic_ns(void) { return ec_clock_ns(CLOCK_MONOTONIC); }
static inline int64_t ec_realtime_ns(void) { return ec_clock_ns(CLOCK_REALTIME); }

/* CRC32C with the processor's instruction when it has one (x86_64: SSE4.2 crc32; aarch64: the CRC32
 * extension, HWCAP_CRC32): about ten times the table's speed. ec_crc32c_hw_available() asks once per
 * translation unit (cpuid traps to the hypervisor in a VM: never per call). The register convention is the
 * table's: `state` is the running register (the inverted CRC), returned the same way. */
#if defined(__x86_64__)
#include <cpuid.h>
static inline int ec_crc32c_hw_available(void) {
    static int available = -1;
    if (available < 0) {
        unsigned a, b, c, d;
        available = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) != 0;
    }
    return available;
}
__attribute__((target("sse4.2")))
static inline uint32_t ec_crc32c_hw(uint32_t state, const uint8_t *bytes, size_t count) {
    uint64_t crc = state;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        crc = __builtin_ia32_crc32di(crc, word);
        bytes += 8;
        count -= 8;
    }
    uint32_t crc32 = (uint32_t)crc;
    while (count--) crc32 = __builtin_ia32_crc32qi(crc32, *bytes++);
    return crc32;
}
#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
static inline int ec_crc32c_hw_available(void) {
    static int available = -1;
    if (available < 0) available = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
    return available;
}
__attribute__((target("crc")))
static inline uint32_t ec_crc32c_hw(uint32_t state, const uint8_t *bytes, size_t count) {
    uint32_t crc = state;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        crc = __builtin_arm_crc32cd(crc, word);
        bytes += 8;
        count -= 8;
    }
    while (count--) crc = __builtin_arm_crc32cb(crc, *bytes++);
    return crc;
}
#else
static inline int ec_crc32c_hw_available(void) { return 0; }
static inline uint32_t ec_crc32c_hw(uint32_t state, const uint8_t *bytes, size_t count) {
    (void)bytes; (void)count;
    return state;
}
#endif

/* 64 random bits from the kernel (a journal's instance id); the clocks and the PID when getrandom fails. */
static inline uint64_t ec_random_u64(void) {
    uint64_t value = 0;
    if (getrandom(&value, sizeof value, GRND_NONBLOCK) == (ssize_t)sizeof value) return value;
    return (uint64_t)ec_realtime_ns() * 0x9E3779B97F4A7C15ull ^ (uint64_t)ec_monotonic_ns() ^ (uint64_t)getpid() << 32;
}

/* The C library's static description of an errno value, or NULL when it has none (thread-safe, unlike
 * strerror). */
static inline const char *ec_errno_description(int error) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    /* glibc declares it only under _GNU_SOURCE, which a module import cannot be relied on to set. */
    extern const char *strerrordesc_np(int);
    return strerrordesc_np(error);
#else
    (void)error;
    return NULL;
#endif
}

#endif
