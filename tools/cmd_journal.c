/* edgecore journal: reading a journal offline. Not built yet: a placeholder until its subcommand lands. */
#include "tool.h"

int cmd_journal(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "%s: not built yet\n", subcommand);
    return EXIT_RUNTIME;
}
