/* progress.c - the benchmark's progress line and notes (see progress.h).
 *
 * DESIGN
 * On a terminal the line is rewritten with "\r...\033[K" (erase to the end
 * of the line); elsewhere each update is a full line, rate-limited, so a
 * log file gets a heartbeat without drowning.
 *
 * Thread: the main thread.
 */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "proc.h"

#define TTY_EVERY_MS  200
#define LINE_EVERY_MS 5000

void bench_progress_init(struct bench_progress *pg)
{
    pg->tty = isatty(STDERR_FILENO);
    pg->open = 0;
    pg->last_ms = 0;
}

void bench_progress_update(struct bench_progress *pg, const char *fmt, ...)
{
    int64_t now = bench_mono_ms();
    if (now - pg->last_ms < (pg->tty ? TTY_EVERY_MS : LINE_EVERY_MS))
        return;
    pg->last_ms = now;
    va_list ap;
    va_start(ap, fmt);
    if (pg->tty) {
        fputs("\r  ", stderr);
        vfprintf(stderr, fmt, ap);
        fputs("\033[K", stderr);
        pg->open = 1;
    } else {
        fputs("  ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
    fflush(stderr);
}

void bench_progress_done(struct bench_progress *pg)
{
    if (pg->open) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    pg->open = 0;
    pg->last_ms = 0;
}

void bench_progress_note(struct bench_progress *pg, const char *fmt, ...)
{
    bench_progress_done(pg);
    va_list ap;
    va_start(ap, fmt);
    fputs("cachefleet-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
}
