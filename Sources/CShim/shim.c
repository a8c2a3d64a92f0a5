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
