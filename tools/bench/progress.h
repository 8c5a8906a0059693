/* progress.h - what the benchmark says on stderr while it works.
 *
 * What it owns: the progress line of a long phase (rewritten in place with
 * '\r' when stderr is a terminal, otherwise one line every few seconds, so
 * a CI log stays short) and the permanent notes between phases.  What it
 * does not own: the report (stdout, report.h).
 *
 * Thread: the main thread (the paced producer thread never writes here).
 */
#ifndef BENCH_PROGRESS_H
#define BENCH_PROGRESS_H

#include <stdint.h>

struct bench_progress {
    int tty;         /* stderr is a terminal */
    int open;        /* a '\r' line is on screen */
    int64_t last_ms; /* when the line was last written */
};

void bench_progress_init(struct bench_progress *pg);

/* Rewrites the progress line (at most 5 times a second on a terminal, once
 * every 5 s otherwise). */
void bench_progress_update(struct bench_progress *pg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Ends the progress line, if one is open. */
void bench_progress_done(struct bench_progress *pg);

/* A permanent line ("cachefleet-bench: ..."), after ending the progress
 * line. */
void bench_progress_note(struct bench_progress *pg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
