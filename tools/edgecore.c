/* edgecore: the technicians' tool, one command with subcommands, built on libEdgeCore only.
 *
 *   edgecore check SITE                 validate a site file and print its plan
 *   edgecore read  [addressing] ...     ad hoc Modbus / DL/T 645 / CJ/T 188 reads, or: read SITE CHANNEL...
 *   edgecore write [addressing] --value V, or: write SITE CHANNEL VALUE
 *   edgecore watch SITE                 a live table of a site's channels (or JSON lines / CSV)
 *   edgecore scan  [addressing] ...     find Modbus unit ids (and baud/parity), DL/T 645 meters
 *   edgecore gpio  list|get|set|monitor|count ...   GPIO chips and lines
 *   edgecore journal stats|tail|dump|check DIR        a journal, offline
 *   edgecore sniff DEVICE               passive monitor of an RS-485 line: frames, CRC, decoding, pcap
 *   edgecore SUBCOMMAND --help          the options of each
 *
 * Each subcommand lives in tools/cmd_*.c; tools/tool.h declares what they share.
 *
 * Exit codes (every subcommand):
 *   0  success
 *   1  runtime failure: a device did not answer or answered with an error, a reading was not "ok"
 *   2  usage: unknown subcommand or option, a missing or bad value (one line on stderr names it)
 *   3  the site file was refused (its file:line message on stderr); journal: the folder is missing or
 *      not a journal
 *   4  the serial port or GPIO line does not exist or another process holds it
 *   5  check: the plan is OVERLOADED (the intervals cannot be met on some bus)
 *   130 scan: interrupted (the partial result is printed)
 */
#include "tool.h"

#include <signal.h>
#include <string.h>

static const char MAIN_HELP[] =
    "usage: edgecore SUBCOMMAND [OPTIONS] [ARGS]\n"
    "Subcommands:\n"
    "  check SITE            validate a site file, print its plan\n"
    "  read ...              read registers, coils or meter items (ad hoc, a profile or a site file's channels)\n"
    "  write ...             write a register, a coil or a site file's channel\n"
    "  watch SITE            a live table of a site's channels (--json, --csv: one line per reading)\n"
    "  scan ...              find Modbus unit ids (and which baud/parity answers), DL/T 645 meters\n"
    "  gpio ...              list chips and lines, get, set (held until interrupted), monitor, count\n"
    "  journal ...           a journal's stats, tail, a range, check every record (offline)\n"
    "  sniff DEVICE          passive monitor of an RS-485 line: frames, CRC, decoding, pcap\n"
    "'edgecore SUBCOMMAND --help' shows each one's options.\n"
    "Exit codes: 0 ok, 1 runtime failure (device did not answer, a reading not ok, scan found nothing,\n"
    "journal damage), 2 usage, 3 site file (or journal folder) refused, 4 serial port or GPIO line missing\n"
    "or busy, 5 check: plan OVERLOADED, 130 scan interrupted (partial result printed).\n";

static int read_command(int argc, char **argv) { return cmd_read_or_write(argc, argv, 0); }
static int write_command(int argc, char **argv) { return cmd_read_or_write(argc, argv, 1); }

static const struct {
    const char *name, *prefix;
    int (*run)(int argc, char **argv);
} SUBCOMMANDS[] = {
    {"check", "edgecore check", cmd_check},       {"read", "edgecore read", read_command},
    {"write", "edgecore write", write_command},   {"watch", "edgecore watch", cmd_watch},
    {"scan", "edgecore scan", cmd_scan},          {"gpio", "edgecore gpio", cmd_gpio},
    {"journal", "edgecore journal", cmd_journal}, {"sniff", "edgecore sniff", cmd_sniff},
};
#define EXPECTED_SUBCOMMANDS "check, read, write, watch, scan, gpio, journal or sniff"

int main(int argc, char **argv) {
    opterr = 0;
    if (edgecore_version_number() / 1000000 != EDGECORE_VERSION_MAJOR) {
        fprintf(stderr, "edgecore: libEdgeCore %s does not match edgecore.h %s\n", edgecore_version_string(),
                EDGECORE_VERSION_STRING);
        return EXIT_RUNTIME;
    }
    if (argc < 2) return usage_error("missing subcommand: expected " EXPECTED_SUBCOMMANDS);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(MAIN_HELP, stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("edgecore %s (libEdgeCore %s)\n", EDGECORE_VERSION_STRING, edgecore_version_string());
        return EXIT_OK;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    optind = 1;
    for (size_t i = 0; i < sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0]; i++)
        if (!strcmp(argv[1], SUBCOMMANDS[i].name)) {
            subcommand = SUBCOMMANDS[i].prefix;
            return SUBCOMMANDS[i].run(argc - 1, argv + 1);
        }
    return usage_error("unknown subcommand '%s': expected " EXPECTED_SUBCOMMANDS, argv[1]);
}
