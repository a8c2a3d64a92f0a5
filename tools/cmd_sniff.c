/* edgecore sniff: monitoring an RS-485 line. Not built yet: a placeholder until its subcommand lands. */
#include "tool.h"

int cmd_sniff(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "%s: not built yet\n", subcommand);
    return EXIT_RUNTIME;
}
