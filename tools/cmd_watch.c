/* edgecore watch: a live table of a site. Not built yet: a placeholder until its subcommand lands. */
#include "tool.h"

int cmd_watch(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "%s: not built yet\n", subcommand);
    return EXIT_RUNTIME;
}
