/* log.h - structured logging: one JSON object per line.
 *
 * What it owns: the format of every line a cachefleet program writes about
 * itself (stderr by default).  What it does not: deciding what is worth a
 * line; callers log state changes once, not once per retry.
 *
 * A line looks like
 *   {"ts":"2026-11-25T19:55:01.123Z","level":"warn","program":"products",
 *    "msg":"redis unreachable","host":"127.0.0.1","port":6379}
 * Fields are typed with the CF_L* macros, so a call reads
 *   cf_log_emit(lg, CF_LOG_WARN, "redis unreachable",
 *               CF_LS("host", host), CF_LI("port", port), CF_LEND);
 * Event payloads are never logged at info level or above; at debug level
 * only their sizes and origins are.
 *
 * Thread safety: cf_log_emit() may be called from any thread (librdkafka's
 * log callback calls it from its own threads); each line is written whole.
 */
#ifndef CF_LOG_H
#define CF_LOG_H

#include <stdint.h>
#include <stdio.h>

enum cf_log_level {
    CF_LOG_DEBUG = 0,
    CF_LOG_INFO = 1,
    CF_LOG_WARN = 2,
    CF_LOG_ERROR = 3,
};

struct cf_log;

/* Typed fields: a key with a one-letter type prefix, then the value. */
#define CF_LS(k, v) "s:" k, (const char *)(v)          /* string (NULL: null) */
#define CF_LI(k, v) "i:" k, (long long)(v)             /* signed integer */
#define CF_LU(k, v) "u:" k, (unsigned long long)(v)    /* unsigned integer */
#define CF_LF(k, v) "f:" k, (double)(v)                /* floating point */
#define CF_LB(k, v) "b:" k, (int)((v) != 0)            /* boolean */
#define CF_LEND     (const char *)NULL

/* Creates a logger writing to out (not owned; stderr when NULL).  program is
 * copied.  Returns NULL when out of memory. */
struct cf_log *cf_log_new(const char *program, enum cf_log_level level, FILE *out);
void cf_log_destroy(struct cf_log *lg);

void cf_log_set_level(struct cf_log *lg, enum cf_log_level level);
int cf_log_enabled(const struct cf_log *lg, enum cf_log_level level);

/* Parses "debug", "info", "warn" or "error".  Returns 0, or -1 if unknown. */
int cf_log_level_parse(const char *text, enum cf_log_level *level);

/* Writes one line: msg, then the typed fields, terminated by CF_LEND.
 * A NULL lg writes nothing. */
void cf_log_emit(struct cf_log *lg, enum cf_log_level level, const char *msg, ...);

#endif
