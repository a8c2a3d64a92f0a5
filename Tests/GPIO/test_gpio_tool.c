/* The technicians' tool's `edgecore gpio` on a real kernel (gpio-sim), inside the VM of Tests/GPIO/vm: the
 * tool (built against the guest's libEdgeCore) is on PATH (run.sh EXTRA_BINARIES). Bank 0: 16 lines, line 0
 * "s0-meter", line 1 "valve". The test drives inputs through gpio-sim's sysfs pulls, reads outputs through
 * its sysfs values, watches what the kernel's gpiolib sets through the gpio_value trace event, and holds a
 * line itself through the kernel's v2 uAPI (a busy line). No libgpiod and no libEdgeCore here: the tool is
 * what is tested. */
#define _GNU_SOURCE
#include "../CABI/cabi_test.h"
#include <fcntl.h>
#include <linux/gpio.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include "gpio_sim.h"

struct child {
    pid_t pid;
    int out, err;
    char stdout_text[16384], stderr_text[4096];
    size_t out_len, err_len;
};

static void spawn(struct child *c, const char *const *argv) {
    int out[2], err[2];
    memset(c, 0, sizeof *c);
    if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
        CHECK(!"pipe");
        return;
    }
    c->pid = fork();
    if (c->pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    c->out = out[0];
    c->err = err[0];
}

/* Read what the child wrote (both pipes) for up to `ms`, or until `needle` shows in stdout (stderr when
 * in_stderr). 1 when the needle came. */
static int pump(struct child *c, const char *needle, int in_stderr, int ms) {
    int64_t deadline = cabi_monotonic_ms() + ms;
    for (;;) {
        const char *text = in_stderr ? c->stderr_text : c->stdout_text;
        if (needle && strstr(text, needle)) return 1;
        int64_t left = deadline - cabi_monotonic_ms();
        if (left <= 0 || (c->out < 0 && c->err < 0)) return 0;
        struct pollfd p[2] = {{c->out, POLLIN, 0}, {c->err, POLLIN, 0}};
        if (poll(p, 2, (int)left) <= 0) continue;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP))) continue;
            char *buffer = i ? c->stderr_text : c->stdout_text;
            size_t *len = i ? &c->err_len : &c->out_len;
            size_t room = (i ? sizeof c->stderr_text : sizeof c->stdout_text) - 1 - *len;
            ssize_t n = read(p[i].fd, buffer + *len, room ? room : 1);
            if (n <= 0 || !room) {
                close(p[i].fd);
                if (i) c->err = -1;
                else c->out = -1;
                continue;
            }
            *len += (size_t)n;
            buffer[*len] = '\0';
        }
    }
}

/* Collect the rest of the output and the exit status (-1 when the child is still running after `ms`: it is
 * then killed). */
static int finish(struct child *c, int ms) {
    int64_t deadline = cabi_monotonic_ms() + ms;
    while (c->out >= 0 || c->err >= 0) {
        if (!pump(c, NULL, 0, (int)(deadline - cabi_monotonic_ms()))) {
            if (cabi_monotonic_ms() >= deadline) break;
        }
    }
    int status = 0;
    while (waitpid(c->pid, &status, WNOHANG) == 0) {
        if (cabi_monotonic_ms() >= deadline) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
            fprintf(stderr, "  %s still running after %d ms: killed\n", "edgecore", ms);
            return -1;
        }
        cabi_sleep_ms(5);
    }
    if (c->out >= 0) close(c->out);
    if (c->err >= 0) close(c->err);
    if (!WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

/* Run the tool to its end (at most 20 s); the exit status. */
static int run(struct child *c, const char *const *argv) {
    spawn(c, argv);
    int rc = finish(c, 20000);
    if (rc != 0) fprintf(stderr, "  %s %s exited %d: %s", argv[1], argv[2], rc, c->stderr_text);
    return rc;
}

static int lines_of(const char *text) {
    int n = 0;
    for (; *text; text++) n += *text == '\n';
    return n;
}

/* The CSV row of `edgecore gpio list CHIP --format csv` for a line: "chip,line,name,direction,active_low,
 * bias,used,consumer,pid". */
static int line_row(int offset, char *row, size_t size) {
    struct child c;
    const char *argv[] = {"edgecore", "gpio", "list", env("GPIOSIM_CHIP0_NAME"), "--format", "csv", NULL};
    if (run(&c, argv) != 0) return 0;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "\n%s,%d,", env("GPIOSIM_CHIP0_NAME"), offset);
    const char *at = strstr(c.stdout_text, prefix);
    if (!at) return 0;
    at++;
    size_t n = strcspn(at, "\n");
    snprintf(row, size, "%.*s", (int)(n < size ? n : size - 1), at);
    return 1;
}

static void tracing(const char *file, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "/sys/kernel/tracing/%s", file);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* The values of the gpio_value "set" events in the trace buffer, in order; their count. */
static int traced_sets(int *values, int max) {
    FILE *f = fopen("/sys/kernel/tracing/trace", "r");
    CHECK(f != NULL);
    if (!f) return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, "gpio_value: ");
        unsigned gpio;
        char kind[8];
        int value;
        if (at && sscanf(at, "gpio_value: %u %7s %d", &gpio, kind, &value) == 3 && !strcmp(kind, "set") && n < max)
            values[n++] = value;
    }
    fclose(f);
    return n;
}

static void list_shows_the_sim_chips_and_line_names(void) {
    struct child c;
    const char *chips[] = {"edgecore", "gpio", "list", NULL};
    CHECK_EQ(run(&c, chips), 0);
    char row[256];
    snprintf(row, sizeof row, "%s", env("GPIOSIM_CHIP0_NAME"));
    const char *at = strstr(c.stdout_text, row);
    CHECK(at != NULL);
    char name[64] = "", label[64] = "";
    unsigned lines = 0;
    CHECK(at && sscanf(at, "%63s %63s %u", name, label, &lines) == 3);
    CHECK_STR(label, env("GPIOSIM_LABEL0"));
    CHECK_EQ(lines, 16);
    CHECK(strstr(c.stdout_text, env("GPIOSIM_LABEL1")) != NULL);
    /* by label, as a table: 16 line rows after two heading lines; the names in their rows */
    const char *by_label[] = {"edgecore", "gpio", "list", env("GPIOSIM_LABEL0"), NULL};
    CHECK_EQ(run(&c, by_label), 0);
    CHECK_EQ(lines_of(c.stdout_text), 2 + 16);
    CHECK(strstr(c.stdout_text, "\n0     s0-meter ") != NULL);
    CHECK(strstr(c.stdout_text, "\n1     valve ") != NULL);
    /* JSON lines from the path */
    const char *json[] = {"edgecore", "gpio", "list", env("GPIOSIM_CHIP0"), "--format", "json", NULL};
    CHECK_EQ(run(&c, json), 0);
    CHECK_EQ(lines_of(c.stdout_text), 16);
    CHECK(strstr(c.stdout_text, "\"line\":1,\"name\":\"valve\",\"direction\":") != NULL);
}

/* The value in get's table row of `offset` (columns line, name, value); -1 when there is none. */
static int table_value(const char *text, unsigned offset, const char *name) {
    char copy[4096], *save = NULL;
    snprintf(copy, sizeof copy, "%s", text);
    for (char *row = strtok_r(copy, "\n", &save); row; row = strtok_r(NULL, "\n", &save)) {
        unsigned line;
        char row_name[64];
        int value;
        if (sscanf(row, "%u %63s %d", &line, row_name, &value) == 3 && line == offset && !strcmp(row_name, name))
            return value;
    }
    return -1;
}

static void get_reads_the_outside_pulls(void) {
    sim_write(2, "pull", "pull-up");
    sim_write(3, "pull", "pull-down");
    sim_write(1, "pull", "pull-up");
    struct child c;
    const char *argv[] = {"edgecore", "gpio", "get", env("GPIOSIM_CHIP0"), "2", "3", "valve", "--format", "csv", NULL};
    CHECK_EQ(run(&c, argv), 0);
    char expected[256];
    snprintf(expected, sizeof expected, "chip,line,name,value\n%s,2,,1\n%s,3,,0\n%s,1,valve,1\n",
             env("GPIOSIM_CHIP0_NAME"), env("GPIOSIM_CHIP0_NAME"), env("GPIOSIM_CHIP0_NAME"));
    CHECK_STR(c.stdout_text, expected);
    sim_write(2, "pull", "pull-down");
    sim_write(3, "pull", "pull-up");
    sim_write(1, "pull", "pull-down");
    const char *by_label[] = {"edgecore", "gpio", "get", env("GPIOSIM_LABEL0"), "2", "3", "valve", NULL};
    CHECK_EQ(run(&c, by_label), 0);
    CHECK_EQ(table_value(c.stdout_text, 2, "-"), 0);
    CHECK_EQ(table_value(c.stdout_text, 3, "-"), 1);
    CHECK_EQ(table_value(c.stdout_text, 1, "valve"), 0);
    char row[256] = "";
    CHECK(line_row(2, row, sizeof row)); /* released again */
    CHECK(strstr(row, ",input,0,as-is,0,,") != NULL);
}

/* set drives and holds; a second program is refused (exit 4, naming consumer and process); SIGINT (or
 * SIGTERM) drives the safe value (the kernel's own trace of what gpiolib set) and releases the line. */
static void set_holds_until_interrupted_then_goes_safe(int value, int safe, int signal_number) {
    char assignment[32], safe_text[8];
    snprintf(assignment, sizeof assignment, "valve=%d", value);
    snprintf(safe_text, sizeof safe_text, "%d", safe);
    sim_write(1, "pull", safe ? "pull-down" : "pull-up"); /* the released line reads the opposite of safe */
    struct child holder;
    const char *argv[] = {"edgecore", "gpio", "set", env("GPIOSIM_CHIP0_NAME"), assignment, "--safe", safe_text, NULL};
    spawn(&holder, argv);
    CHECK(pump(&holder, "until interrupted", 0, 10000));
    char message[256];
    snprintf(message, sizeof message,
             "holding valve=%d on %s until interrupted (Ctrl-C); on exit the line goes to %d (safe value) and is "
             "released\n",
             value, env("GPIOSIM_CHIP0_NAME"), safe);
    CHECK_STR(holder.stdout_text, message);
    CHECK_EQ(sim_read(1, "value"), value);
    char row[256] = "", expected[128];
    CHECK(line_row(1, row, sizeof row));
    snprintf(expected, sizeof expected, ",output,0,as-is,1,edgecore,%d", (int)holder.pid);
    CHECK(strstr(row, expected) != NULL);
    if (!strstr(row, expected)) fprintf(stderr, "  list row: %s\n", row);

    /* another program: refused, the line untouched */
    struct child other;
    const char *again[] = {"edgecore", "gpio", "set", env("GPIOSIM_CHIP0"), "1=0", NULL};
    spawn(&other, again);
    CHECK_EQ(finish(&other, 10000), 4);
    snprintf(expected, sizeof expected, "edgecore gpio set: %s line 1 (valve): busy: consumer edgecore (process %d)\n",
             env("GPIOSIM_CHIP0_NAME"), (int)holder.pid);
    CHECK_STR(other.stderr_text, expected);
    CHECK_EQ(sim_read(1, "value"), value);

    tracing("events/gpio/gpio_value/enable", "1");
    tracing("trace", "");
    kill(holder.pid, signal_number);
    CHECK_EQ(finish(&holder, 10000), 0);
    tracing("events/gpio/gpio_value/enable", "0");
    int sets[16];
    int n = traced_sets(sets, 16);
    CHECK(n >= 1);
    for (int i = 0; i < n; i++) CHECK_EQ(sets[i], safe);
    snprintf(expected, sizeof expected, "%s: valve=%d at %d (safe value), released\n", env("GPIOSIM_CHIP0_NAME"),
             value, safe);
    CHECK(strstr(holder.stdout_text, expected) != NULL);
    CHECK(line_row(1, row, sizeof row));
    CHECK(strstr(row, ",0,,") != NULL); /* not used */
    CHECK_EQ(sim_read(1, "value"), !safe); /* released: gpio-sim shows the outside pull again */
}

static void set_on_sigint(void) { set_holds_until_interrupted_then_goes_safe(1, 0, SIGINT); }
static void set_on_sigterm_with_safe_1(void) { set_holds_until_interrupted_then_goes_safe(0, 1, SIGTERM); }

/* monitor: each toggle's edge printed as it happens, the kernel's timestamp inside the toggle's
 * CLOCK_MONOTONIC window, strictly increasing, alternating, sequence numbers 1.. */
static void monitor_prints_edges_with_kernel_timestamps(void) {
    enum { EDGES = 8 };
    sim_write(0, "pull", "pull-down");
    struct child c;
    const char *argv[] = {"edgecore", "gpio", "monitor", env("GPIOSIM_CHIP0_NAME"), "s0-meter", "--format", "csv",
                          "--events", "8", "--duration", "30", NULL};
    spawn(&c, argv);
    CHECK(pump(&c, "seqno\n", 0, 10000));
    int64_t before[EDGES], after[EDGES];
    for (int i = 0; i < EDGES; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        before[i] = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        sim_write(0, "pull", i % 2 ? "pull-down" : "pull-up");
        clock_gettime(CLOCK_MONOTONIC, &ts);
        after[i] = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        char seq[32];
        snprintf(seq, sizeof seq, ",%d\n", i + 1);
        CHECK(pump(&c, seq, 0, 5000)); /* handshake: the edge printed before the next toggle */
    }
    CHECK_EQ(finish(&c, 10000), 0);
    CHECK(strstr(c.stderr_text, "8 edges, 0 lost") != NULL);
    const char *header = strstr(c.stdout_text, "seqno\n");
    char copy[8192], *save = NULL;
    snprintf(copy, sizeof copy, "%s", header ? header + 6 : "");
    int rows = 0;
    long long previous = 0;
    for (char *row = strtok_r(copy, "\n", &save); row; row = strtok_r(NULL, "\n", &save), rows++) {
        char when[40], chip[32], name[32], edge[16];
        unsigned long long ns = 0;
        unsigned line = 99, seqno = 0;
        for (char *p = row; *p; p++)
            if (*p == ',') *p = ' ';
        CHECK(sscanf(row, "%39s %llu %31s %u %31s %15s %u", when, &ns, chip, &line, name, edge, &seqno) == 7);
        if (rows >= EDGES) continue;
        CHECK_STR(chip, env("GPIOSIM_CHIP0_NAME"));
        CHECK_EQ(line, 0);
        CHECK_STR(name, "s0-meter");
        CHECK_STR(edge, rows % 2 ? "falling" : "rising");
        CHECK_EQ(seqno, rows + 1);
        CHECK((long long)ns >= before[rows] && (long long)ns <= after[rows]);
        CHECK((long long)ns > previous);
        previous = (long long)ns;
    }
    CHECK_EQ(rows, EDGES);
    /* rising only: 3 pulses, 3 rows */
    const char *rising[] = {"edgecore", "gpio", "monitor", env("GPIOSIM_CHIP0"), "0", "--edges", "rising",
                            "--events", "3", "--duration", "30", NULL};
    spawn(&c, rising);
    CHECK(pump(&c, "seqno\n", 0, 10000));
    for (int i = 0; i < 3; i++) {
        sim_write(0, "pull", "pull-up");
        sim_write(0, "pull", "pull-down");
        char seq[32];
        snprintf(seq, sizeof seq, " %d\n", i + 1);
        CHECK(pump(&c, seq, 0, 5000));
    }
    CHECK_EQ(finish(&c, 10000), 0);
    CHECK_EQ(lines_of(c.stdout_text), 1 + 3);
    CHECK(strstr(c.stdout_text, "falling") == NULL);
}

/* count: 5 pulses of 100 ms and 3 glitches (two sysfs writes back to back, far below the 30 ms debounce):
 * 5 counted, 3 rejected (a glitch that took 30 ms or more, a stalled host, may count either way). */
static void count_counts_pulses_with_debounce(void) {
    sim_write(0, "pull", "pull-down");
    struct child c;
    const char *argv[] = {"edgecore", "gpio", "count", env("GPIOSIM_CHIP0_NAME"), "s0-meter", "--seconds", "2",
                          "--debounce-us", "30000", "--format", "json", NULL};
    spawn(&c, argv);
    int either = 0;
    CHECK(pump(&c, "counting", 1, 10000));
    for (int i = 0; i < 5; i++) {
        if (i % 2 == 0) {
            int64_t t0 = cabi_monotonic_ms();
            sim_write(0, "pull", "pull-up"); /* a glitch */
            sim_write(0, "pull", "pull-down");
            either += cabi_monotonic_ms() - t0 >= 30; /* a host stall under TCG made it long: may count */
            cabi_sleep_ms(50);
        }
        sim_write(0, "pull", "pull-up");
        cabi_sleep_ms(100);
        sim_write(0, "pull", "pull-down");
        cabi_sleep_ms(60);
    }
    CHECK_EQ(finish(&c, 10000), 0);
    unsigned long long count = 99, rejected = 99, lost = 99;
    double seconds = 0, rate = 0;
    const char *at = strstr(c.stdout_text, "\"count\":");
    CHECK(at && sscanf(at, "\"count\":%llu,\"rejected\":%llu,\"lost\":%llu,\"seconds\":%lf,\"rate_per_s\":%lf",
                       &count, &rejected, &lost, &seconds, &rate) == 5);
    CHECK(count >= 5 && count <= 5 + (unsigned long long)either); /* exactly 5 unless a glitch was stalled */
    CHECK_EQ(count + rejected, 8);
    CHECK_EQ(lost, 0);
    CHECK(seconds >= 2.0 && seconds < 3.0);
    CHECK(rate > (count - 0.01) / seconds && rate < (count + 0.01) / seconds);
    if (count != 5 || rejected != 3) fprintf(stderr, "  %d glitches stalled; output: %s", either, c.stdout_text);
}

/* A line this test holds through the kernel's v2 uAPI, the chip closed after the request (as libgpiod 2's
 * tools do): the busy report finds this process by its line request and its consumer name = its command. */
static void a_line_another_program_holds_is_named(void) {
    char comm[32] = "";
    FILE *f = fopen("/proc/self/comm", "r");
    CHECK(f && fgets(comm, sizeof comm, f));
    if (f) fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    int chip = open(env("GPIOSIM_CHIP0"), O_RDONLY | O_CLOEXEC);
    CHECK(chip >= 0);
    struct gpio_v2_line_request request;
    memset(&request, 0, sizeof request);
    request.offsets[0] = 5;
    request.num_lines = 1;
    snprintf(request.consumer, sizeof request.consumer, "%s", comm);
    request.config.flags = GPIO_V2_LINE_FLAG_INPUT;
    CHECK_EQ(ioctl(chip, GPIO_V2_GET_LINE_IOCTL, &request), 0);
    close(chip);
    const char *subcommands[][2] = {{"get", "5"}, {"set", "5=1"}, {"monitor", "5"}};
    for (int i = 0; i < 3; i++) {
        struct child c;
        const char *argv[] = {"edgecore", "gpio", subcommands[i][0], env("GPIOSIM_CHIP0_NAME"), subcommands[i][1], NULL};
        spawn(&c, argv);
        CHECK_EQ(finish(&c, 10000), 4);
        char expected[256];
        snprintf(expected, sizeof expected, "edgecore gpio %s: %s line 5: busy: consumer %s (process %d)\n",
                 subcommands[i][0], env("GPIOSIM_CHIP0_NAME"), comm, (int)getpid());
        CHECK_STR(c.stderr_text, expected);
    }
    struct child c;
    const char *count[] = {"edgecore", "gpio", "count", env("GPIOSIM_CHIP0"), "5", "--seconds", "1", NULL};
    spawn(&c, count);
    CHECK_EQ(finish(&c, 10000), 4);
    CHECK_EQ(lines_of(c.stderr_text), 1);
    char row[256] = "", expected[128];
    CHECK(line_row(5, row, sizeof row));
    snprintf(expected, sizeof expected, ",1,%s,%d", comm, (int)getpid());
    CHECK(strstr(row, expected) != NULL);
    close(request.fd);
    CHECK(line_row(5, row, sizeof row));
    CHECK(strstr(row, ",0,,") != NULL);
}

/* Bad input: one line on stderr, exit 2 (usage) or 4 (no such chip or line). */
static void bad_chips_lines_and_options(void) {
    static const struct {
        const char *argv[8];
        int status;
        const char *says;
    } cases[] = {
        {{"edgecore", "gpio", "get", "gpiochip99", "1", NULL}, 4, "no GPIO chip named or labelled 'gpiochip99'"},
        {{"edgecore", "gpio", "list", "/dev/nothing", NULL}, 4, "no GPIO chip /dev/nothing"},
        {{"edgecore", "gpio", "get", "$CHIP", "16", NULL}, 4, "has no line 16 (offsets 0..15)"},
        {{"edgecore", "gpio", "set", "$CHIP", "nosuch=1", NULL}, 4, "has no line named 'nosuch'"},
        {{"edgecore", "gpio", "set", "$CHIP", "1=2", NULL}, 2, "'1=2' is not LINE=0 or LINE=1"},
        {{"edgecore", "gpio", "set", "$CHIP", "1=1", "--safe", "2", NULL}, 2, "--safe: '2' is not an integer in 0..1"},
        {{"edgecore", "gpio", "get", "$CHIP", "1", "valve", NULL}, 2, "line 1 of"},
        {{"edgecore", "gpio", "monitor", "$CHIP", "0", "--edges", "up", NULL}, 2, "--edges: 'up' is not one of"},
        {{"edgecore", "gpio", "count", "$CHIP", "0", NULL}, 2, "missing --seconds N"},
        {{"edgecore", "gpio", "toggle", NULL}, 2, "unknown subcommand 'toggle'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[8];
        for (int k = 0; k < 8; k++)
            argv[k] = cases[i].argv[k] && !strcmp(cases[i].argv[k], "$CHIP") ? env("GPIOSIM_CHIP0_NAME") : cases[i].argv[k];
        struct child c;
        spawn(&c, argv);
        int rc = finish(&c, 10000);
        CHECK_EQ(rc, cases[i].status);
        CHECK_EQ(lines_of(c.stderr_text), 1);
        CHECK(strstr(c.stderr_text, cases[i].says) != NULL);
        CHECK_STR(c.stdout_text, "");
        if (rc != cases[i].status || !strstr(c.stderr_text, cases[i].says))
            fprintf(stderr, "  %s %s: %s", argv[2], argv[3], c.stderr_text);
    }
}

/* Each case with its time (the VM's time matters: CI runs this under TCG for four guests). */
#define TIMED(test)                                                                        \
    do {                                                                                   \
        int64_t t0 = cabi_monotonic_ms();                                                  \
        RUN(test);                                                                         \
        if (!cabi_only) printf("  %s: %lld ms\n", #test, (long long)(cabi_monotonic_ms() - t0)); \
    } while (0)

int main(int argc, char **argv) {
    if (argc > 1) cabi_only = argv[1];
    signal(SIGPIPE, SIG_IGN);
    TIMED(list_shows_the_sim_chips_and_line_names);
    TIMED(get_reads_the_outside_pulls);
    TIMED(set_on_sigint);
    TIMED(set_on_sigterm_with_safe_1);
    TIMED(monitor_prints_edges_with_kernel_timestamps);
    TIMED(count_counts_pulses_with_debounce);
    TIMED(a_line_another_program_holds_is_named);
    TIMED(bad_chips_lines_and_options);
    return cabi_finish("test_gpio_tool");
}
