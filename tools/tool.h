/* edgecore (the technicians' tool): what the subcommands (tools/cmd_*.c) share. C11, libEdgeCore only. */
#ifndef EDGECORE_TOOL_H
#define EDGECORE_TOOL_H

#define _DEFAULT_SOURCE
#include <edgecore.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, the same for every subcommand (docs in tools/edgecore.c and the man page). */
#define EXIT_OK 0
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_SITE 3
#define EXIT_PORT 4
#define EXIT_OVERLOADED 5
#define MAX_CHANNELS 128

/* "edgecore SUB": the prefix of every message. */
extern const char *subcommand;
/* Set by SIGINT / SIGTERM: every loop checks it and ends cleanly (outputs to their safe state). */
extern volatile sig_atomic_t interrupted;
void on_signal(int signal_number);

/* One line on stderr, "SUB: message (see 'SUB --help')"; returns EXIT_USAGE. */
int usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* One line on stderr naming `what`, the code's text and the library's last error; returns EXIT_RUNTIME. */
int runtime_error(const char *what, int rc);
double now_seconds(void); /* CLOCK_MONOTONIC */

/* Strict parsing: the whole text, in range; on failure a usage error naming the option, EXIT_USAGE. */
int parse_long(const char *option, const char *text, long min, long max, long *out);
int parse_double(const char *option, const char *text, double *out);
int pick(const char *option, const char *text, const char *const *names, int count, const char *expected, int *out);
int split_host_port(const char *option, const char *text, int need_port, char *host, size_t size, long *port);
/* The usage error for getopt_long's '?' (names the option; hints at '--' for a negative value). */
int unknown_option(char **argv);
extern const struct option HELP_ONLY[];

enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV };
void iso_time(int64_t ns, char *out, size_t size); /* 2026-12-02T15:04:05.123Z */
void json_string(const char *s);                   /* a JSON string on stdout */
void print_header(enum format format);
void print_reading(struct edgecore_engine *engine, const struct edgecore_reading *r, enum format format);
/* The same with a leading journal sequence column (JSON: "sequence" and "channel_id"); engine NULL: the
 * channel shows as its id. */
void print_header_sequenced(enum format format, int sequenced);
void print_reading_sequenced(struct edgecore_engine *engine, const struct edgecore_reading *r, enum format format,
                             const uint64_t *sequence);
/* Print `times` rounds (0: until interrupted) of `channels`' readings from a started engine. */
int collect(struct edgecore_engine *engine, const uint32_t *channels, int count, long times, double round_timeout_s,
            enum format format);

/* Create an engine and load a site file: EXIT_OK, or EXIT_SITE with the file:line message on stderr. */
int load_site(struct edgecore_engine **engine_out, const char *site);

/* A serial port must exist and be free (EXIT_PORT otherwise, naming the holder's PID when found). The
 * engine then claims it for its exclusive use when it opens it. */
int check_port(const char *device);
long port_holder(const char *device); /* the PID holding/opening `device`, 0 when none is found */
/* check_port on every RTU bus of a loaded site (read from its plan): EXIT_OK or EXIT_PORT. */
int check_serial_ports(struct edgecore_engine *engine);

/* Where an ad hoc command talks (read, write, scan): exactly one of tcp (HOST[:PORT], Modbus TCP, port 502),
 * rtu (a serial device at baud and parity 'N'/'E'/'O') or dtu (HOST:PORT of a transparent serial server,
 * the line behind it at line_baud). */
struct line_address {
    const char *tcp, *rtu, *dtu;
    long baud, line_baud;
    char parity;
};
/* EXIT_OK, or EXIT_USAGE (one line) unless exactly one is given and its HOST[:PORT] is well formed. */
int check_line_address(const struct line_address *where);
/* Add `where` as the bus `name` of a stopped engine: EXIT_OK, EXIT_USAGE (a setting the library refuses)
 * or EXIT_RUNTIME, with the message on stderr. */
int add_line_bus(struct edgecore_engine *engine, const struct line_address *where, const char *name,
                 uint32_t *bus_out);
/* Another process with an fd whose /proc/PID/fd link reads `target` (a path, "anon_inode:gpio-line"...) and,
 * unless `comm` is NULL, whose command name is `comm`; 0 when none is found. */
long fd_holder(const char *target, const char *comm);

/* The subcommands: argv[0] is the subcommand's name, getopt's optind is 1. */
int cmd_check(int argc, char **argv);
int cmd_read_or_write(int argc, char **argv, int write);
int cmd_watch(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_gpio(int argc, char **argv);
int cmd_journal(int argc, char **argv);
int cmd_sniff(int argc, char **argv);

#endif
