/* Shared by the real-file-system journal tests (Tests/Journal/run.sh): readings that carry their own
 * journal sequence number in every field, so a reading delivered under the wrong number, damaged or
 * stitched together from two records is told apart from the real one; and a cursor read-back check. */
#ifndef JOURNAL_TEST_H
#define JOURNAL_TEST_H

#include "cabi_test.h"

/* Diagnostics on stderr, at most the first 40 of a run (a broken journal fails every cycle alike). */
static int journal_diagnostics;
#define JOURNAL_DIAGNOSE(...)                                                   \
    do {                                                                        \
        if (journal_diagnostics++ < 40) fprintf(stderr, __VA_ARGS__);           \
        else if (journal_diagnostics == 41) fprintf(stderr, "  (more left out)\n"); \
    } while (0)

/* The reading the tests append as journal sequence `s`. Every field depends on s; no two sequences
 * below 2^32 share a reading. value is exact in a double for every s below 2^52. */
static inline struct edgecore_reading journal_identity(uint64_t s) {
    struct edgecore_reading r;
    memset(&r, 0, sizeof r);
    r.timestamp_ns = (int64_t)(s * 1000003u + 17u);
    r.value = (double)s * 0.5 + 0.25;
    r.channel = (uint32_t)(s % 65521u);
    r.sequence = (uint32_t)s;
    r.status = EDGECORE_STATUS_OK;
    r.status_detail = (uint16_t)(s * 40503u);
    return r;
}

/* Whether `r` is exactly the reading appended as sequence s (the struct has no padding bytes). */
static inline int journal_is_identity(const struct edgecore_reading *r, uint64_t s) {
    struct edgecore_reading expected = journal_identity(s);
    return memcmp(r, &expected, sizeof expected) == 0;
}

/* Fills readings[0 .. count-1] with the identities of first, first + 1, ... */
static inline void journal_fill(struct edgecore_reading *readings, size_t count, uint64_t first) {
    for (size_t i = 0; i < count; i++) readings[i] = journal_identity(first + i);
}

/* The cursor stats of the cursor `name` into *out; 0, or EDGECORE_E_NOT_FOUND. */
static inline int journal_cursor_named(struct edgecore_journal *journal, const char *name,
                                       struct edgecore_journal_cursor_stats *out) {
    struct edgecore_journal_stats stats;
    if (edgecore_journal_stats(journal, &stats) != EDGECORE_OK) return EDGECORE_E_NOT_FOUND;
    for (uint32_t i = 0; i < stats.cursors; i++) {
        if (edgecore_journal_cursor_stats(journal, i, out) == EDGECORE_OK && strcmp(out->name, name) == 0)
            return EDGECORE_OK;
    }
    return EDGECORE_E_NOT_FOUND;
}

/* What one pass of a cursor over the journal found. */
struct journal_scan {
    uint64_t delivered;    /* readings delivered */
    uint64_t first, last;  /* the first and last sequence delivered (0: none) */
    uint64_t wrong;        /* readings that are not the identity of their sequence */
    uint64_t out_of_order; /* batches that did not start after the previous one */
    uint64_t gaps;         /* sequences missing between batches */
    uint64_t covered;      /* the caller's `covered`, extended by every run delivered right after it */
    int error;             /* the first failing edgecore_journal_read's code, else 0 */
};

/* Reads the cursor `name` until it has nothing left (at most `max_batches` calls), checking every reading
 * against its identity and that sequences strictly increase. `covered`: every sequence up to it is
 * accounted for already (e.g. acknowledged); scan.covered is the end of the gap-free run from there. */
static inline struct journal_scan journal_scan_cursor(struct edgecore_journal *journal, const char *name,
                                                      uint64_t max_batches, uint64_t covered) {
    enum { BATCH = 1024 };
    static struct edgecore_reading out[BATCH];
    struct journal_scan scan;
    memset(&scan, 0, sizeof scan);
    scan.covered = covered;
    for (uint64_t call = 0; call < max_batches; call++) {
        uint64_t first = 0;
        int n = edgecore_journal_read(journal, name, out, BATCH, &first);
        if (n < 0) {
            scan.error = n;
            JOURNAL_DIAGNOSE("  read %s: %d (%s)\n", name, n, edgecore_journal_last_error());
            break;
        }
        if (n == 0) break;
        if (scan.last != 0 && first <= scan.last) {
            JOURNAL_DIAGNOSE("  %s: a batch of %d from %" PRIu64 " after %" PRIu64 " (out of order)\n", name, n, first,
                             scan.last);
            scan.out_of_order++;
        }
        if (scan.last != 0 && first > scan.last + 1) {
            JOURNAL_DIAGNOSE("  %s: a batch of %d from %" PRIu64 " after %" PRIu64 " (a gap)\n", name, n, first, scan.last);
            scan.gaps += first - scan.last - 1;
        }
        for (int i = 0; i < n; i++) {
            if (!journal_is_identity(&out[i], first + (uint64_t)i)) {
                if (scan.wrong < 5)
                    JOURNAL_DIAGNOSE("  %s: sequence %" PRIu64 " delivered a reading that is not its own "
                            "(sequence field %" PRIu32 ", value %g)\n", name, first + (uint64_t)i,
                            out[i].sequence, out[i].value);
                scan.wrong++;
            }
        }
        if (first <= scan.covered + 1 && first + (uint64_t)n - 1 > scan.covered) scan.covered = first + (uint64_t)n - 1;
        if (scan.first == 0) scan.first = first;
        scan.last = first + (uint64_t)n - 1;
        scan.delivered += (uint64_t)n;
    }
    return scan;
}

#endif
