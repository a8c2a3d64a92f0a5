/* readdir64 for ec_folder_next, in this file only: a 32-bit readdir fails with EOVERFLOW on an entry whose
 * offset does not fit 32 bits (ext4's hashed offsets, as a 64-bit kernel hands them to qemu-user). */
#define _LARGEFILE64_SOURCE 1
#include "CShim.h"

/* Thread-local storage is a C feature Swift cannot declare; the buffer lives here. */
char *ec_last_error_buffer(void) {
    static _Thread_local char buffer[EC_LAST_ERROR_SIZE];
    return buffer;
}

const char *ec_folder_next(DIR *folder, int *error) {
    errno = 0;
    struct dirent64 *entry = readdir64(folder);
    *error = entry ? 0 : errno;
    return entry ? entry->d_name : NULL;
}

/* ---- Raw frames on a line ---- */

#include <sys/ioctl.h>
#include <termios.h>

static int ec_line_wait(int fd, short events, int64_t deadline_ns) {
    for (;;) {
        int64_t left = deadline_ns - ec_monotonic_ns();
        if (left <= 0) return ETIMEDOUT;
        struct pollfd entry = {.fd = fd, .events = events};
        int ms = (int)((left + 999999) / 1000000);
        int rc = poll(&entry, 1, ms);
        if (rc > 0) return 0;
        if (rc < 0 && errno != EINTR) return errno;
    }
}

static void ec_line_set_rts(int fd, int on) {
    int bits = 0;
    if (ioctl(fd, TIOCMGET, &bits) != 0) return;
    if (on) bits |= TIOCM_RTS; else bits &= ~TIOCM_RTS;
    (void)ioctl(fd, TIOCMSET, &bits);
}

int ec_line_write(int fd, const uint8_t *data, size_t length, int rts_mode, unsigned rts_delay_us,
                  int64_t deadline_ns) {
    int rts = rts_mode == 1 || rts_mode == 2;
    if (rts) {
        ec_line_set_rts(fd, rts_mode == 1);
        if (rts_delay_us) usleep(rts_delay_us);
    }
    size_t sent = 0;
    int error = 0;
    while (sent < length) {
        ssize_t n = write(fd, data + sent, length - sent);
        if (n > 0) { sent += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            error = ec_line_wait(fd, POLLOUT, deadline_ns);
            if (error) break;
            continue;
        }
        error = n < 0 ? errno : EIO;
        break;
    }
    if (rts) {
        (void)tcdrain(fd);
        if (rts_delay_us) usleep(rts_delay_us);
        ec_line_set_rts(fd, rts_mode != 1);
    }
    return error;
}

long ec_line_read(int fd, uint8_t *buffer, size_t size, int64_t deadline_ns) {
    /* A serial port in raw mode with VMIN = VTIME = 0 (as libmodbus sets it) reads 0 when nothing is there:
     * end of file only on a socket. */
    int tty = isatty(fd);
    for (;;) {
        ssize_t n = read(fd, buffer, size);
        if (n > 0) return (long)n;
        if (n == 0 && !tty) return -ECONNRESET;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        int error = ec_line_wait(fd, POLLIN, deadline_ns);
        if (error == ETIMEDOUT) return 0;
        if (error) return -error;
    }
}

int ec_line_discard_input(int fd) {
    if (isatty(fd)) return tcflush(fd, TCIFLUSH) == 0 ? 0 : -errno;
    uint8_t scratch[512];
    for (int round = 0; round < 128; round++) {
        ssize_t n = recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n > 0) continue;
        if (n == 0) return -ECONNRESET;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
    return 0;
}

/* ---- Exclusive use of serial ports ---- */

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <signal.h>

/* The PID holding a lock on the file (device, inode) in /proc/locks, 0 when none is listed. */
static long ec_lock_holder(dev_t device, ino_t inode) {
    FILE *locks = fopen("/proc/locks", "re");
    if (!locks) return 0;
    char line[256];
    long found = 0;
    while (!found && fgets(line, sizeof line, locks)) {
        long pid;
        unsigned major_number, minor_number;
        unsigned long node;
        const char *colon = strchr(line, ':');
        if (!colon || strstr(line, "->")) continue; /* "->": a waiter, not the holder */
        if (sscanf(colon + 1, " %*s %*s %*s %ld %x:%x:%lu", &pid, &major_number, &minor_number, &node) == 4 &&
            node == (unsigned long)inode && major_number == major(device) && minor_number == minor(device))
            found = pid;
    }
    fclose(locks);
    return found;
}

/* The PID in a live UUCP lock file for the port's name (LCK..ttyUSB0), 0 when there is none. */
static long ec_uucp_holder(const char *given) {
    /* The real device's name: /dev/serial/by-id/... links to ttyUSB0, whose lock file others write. */
    char resolved[PATH_MAX];
    const char *path = realpath(given, resolved) ? resolved : given;
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    static const char *const folders[] = {"/run/lock", "/var/lock"};
    for (int i = 0; i < 2; i++) {
        char file[300];
        if (snprintf(file, sizeof file, "%s/LCK..%s", folders[i], name) >= (int)sizeof file) return 0;
        FILE *lock = fopen(file, "re");
        if (!lock) continue;
        char text[32] = {0};
        size_t n = fread(text, 1, sizeof text - 1, lock);
        fclose(lock);
        long pid = 0;
        if (n == 4 && sizeof(int) == 4) { /* binary (old Kermit style) */
            int binary;
            memcpy(&binary, text, 4);
            pid = binary;
        } else {
            pid = strtol(text, NULL, 10);
        }
        if (pid > 0 && pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) return pid;
    }
    return 0;
}

int ec_serial_claim(int fd, const char *path, long *holder) {
    *holder = 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int error = errno;
        if (error != EWOULDBLOCK) return error;
        struct stat st;
        if (fstat(fd, &st) == 0) *holder = ec_lock_holder(st.st_dev, st.st_ino);
        return EBUSY;
    }
    long uucp = ec_uucp_holder(path);
    if (uucp) {
        (void)flock(fd, LOCK_UN);
        *holder = uucp;
        return EBUSY;
    }
    return 0;
}

/* ---- Who holds a GPIO line ---- */

#include <linux/gpio.h>

/* The PID of another process whose descriptors show the line: a line request whose fdinfo names the chip
 * and the offset (exact), else one that has the chip itself open. 0 when none is found. */
static long ec_gpio_holder_pid(const char *chip_real, const char *chip_name, unsigned offset) {
    DIR *proc = opendir("/proc");
    if (!proc) return 0;
    long exact = 0, chip_user = 0, self = (long)getpid();
    struct dirent *entry;
    while (!exact && (entry = readdir(proc))) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self) continue;
        char folder[64];
        snprintf(folder, sizeof folder, "/proc/%ld/fd", pid);
        DIR *fds = opendir(folder);
        if (!fds) continue;
        struct dirent *fd;
        while (!exact && (fd = readdir(fds))) {
            if (fd->d_name[0] == '.') continue;
            char link[330], target[PATH_MAX];
            snprintf(link, sizeof link, "%s/%s", folder, fd->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n <= 0) continue;
            target[n] = '\0';
            if (!strcmp(target, chip_real)) {
                if (!chip_user) chip_user = pid;
            } else if (strstr(target, "gpio-line") || strstr(target, "gpio-linehandle") ||
                       strstr(target, "gpio-event")) {
                char info_path[330], info[512];
                snprintf(info_path, sizeof info_path, "/proc/%ld/fdinfo/%s", pid, fd->d_name);
                FILE *file = fopen(info_path, "re");
                if (!file) continue;
                size_t length = fread(info, 1, sizeof info - 1, file);
                fclose(file);
                info[length] = '\0';
                char chip_line[96];
                snprintf(chip_line, sizeof chip_line, "gpio-chip:\t%s\n", chip_name);
                for (const char *line = strstr(info, "gpio-line:"); line && strstr(info, chip_line);
                     line = strstr(line + 1, "gpio-line:"))
                    if (strtoul(line + 10, NULL, 10) == offset) exact = pid;
            }
        }
        closedir(fds);
    }
    closedir(proc);
    return exact ? exact : chip_user;
}

int ec_gpio_line_holder(const char *chip_path, unsigned offset, char *consumer, size_t size, long *holder) {
    *holder = 0;
    if (size) consumer[0] = '\0';
    char given[PATH_MAX], real[PATH_MAX];
    snprintf(given, sizeof given, "%s%s", strchr(chip_path, '/') ? "" : "/dev/", chip_path);
    if (!realpath(given, real)) return errno;
    int fd = open(real, O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno;
    int error = 0;
    struct gpio_v2_line_info info;
    memset(&info, 0, sizeof info);
    info.offset = offset;
    if (ioctl(fd, GPIO_V2_GET_LINEINFO_IOCTL, &info) == 0) {
        if (size) snprintf(consumer, size, "%.*s", (int)sizeof info.consumer, info.consumer);
    } else {
        struct gpioline_info old; /* kernels before 5.10 */
        memset(&old, 0, sizeof old);
        old.line_offset = offset;
        if (ioctl(fd, GPIO_GET_LINEINFO_IOCTL, &old) == 0) {
            if (size) snprintf(consumer, size, "%.*s", (int)sizeof old.consumer, old.consumer);
        } else {
            error = errno;
        }
    }
    close(fd);
    const char *name = strrchr(real, '/');
    *holder = ec_gpio_holder_pid(real, name ? name + 1 : real, offset);
    return error;
}
