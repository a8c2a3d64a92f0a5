/*
 * gateway_journal_check - after the gateway benchmark's gateways have stopped, print what each one's journal
 * holds, for gateway_subscriber --expect (benchmarks/README.md, "Gateway"):
 *
 *   gateway_journal_check [--cursor NAME] ID=FOLDER ...
 *   JOURNAL gateway=ID instance=HEX newest=N acked=A durable_acked=D lost=L dropped=X
 *
 * newest: the newest journal sequence; acked: the cursor's acknowledgement (every reading up to it was
 * PUBACKed by the broker); lost: readings the cursor lost to space. Exit status 0, or 1 when a journal
 * cannot be opened or has no such cursor.
 */
#include <stdio.h>
#include <string.h>

#include "edgecore.h"

int main(int argc, char **argv)
{
    const char *cursor = "uplink";
    int status = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cursor") == 0 && i + 1 < argc) {
            cursor = argv[++i];
            continue;
        }
        char id[128];
        const char *eq = strchr(argv[i], '=');
        if (eq == NULL || (size_t)(eq - argv[i]) >= sizeof id) {
            fprintf(stderr, "gateway_journal_check: expected ID=FOLDER, got %s\n", argv[i]);
            return 1;
        }
        memcpy(id, argv[i], (size_t)(eq - argv[i]));
        id[eq - argv[i]] = '\0';
        struct edgecore_journal *journal = NULL;
        int rc = edgecore_journal_open(eq + 1, NULL, &journal);
        if (rc != 0) {
            fprintf(stderr, "gateway_journal_check: %s: %s\n", eq + 1, edgecore_journal_last_error());
            status = 1;
            continue;
        }
        struct edgecore_journal_stats stats;
        struct edgecore_journal_cursor_stats cs;
        int found = 0;
        if (edgecore_journal_stats(journal, &stats) == 0)
            for (uint32_t c = 0; c < stats.cursors && !found; c++)
                found = edgecore_journal_cursor_stats(journal, c, &cs) == 0 && strcmp(cs.name, cursor) == 0;
        if (found)
            printf("JOURNAL gateway=%s instance=%016llx newest=%llu acked=%llu durable_acked=%llu lost=%llu "
                   "dropped=%llu\n", id, (unsigned long long)stats.instance_id,
                   (unsigned long long)stats.newest_sequence, (unsigned long long)cs.acknowledged_sequence,
                   (unsigned long long)cs.durable_acknowledged, (unsigned long long)cs.lost,
                   (unsigned long long)stats.dropped_for_space);
        else {
            fprintf(stderr, "gateway_journal_check: %s: no cursor %s\n", eq + 1, cursor);
            status = 1;
        }
        edgecore_journal_close(journal);
    }
    return status;
}
