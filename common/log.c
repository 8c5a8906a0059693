/* log.c - structured logging: one JSON object per line.
 *
 * DESIGN
 * A line is built in a buffer on the caller's stack and written with one
 * fwrite under the logger's mutex, so lines from librdkafka's threads and
 * the main thread never interleave.  A field that would overflow the buffer
 * is cut and the line ends with "truncated":true; a log call never
 * allocates.
 */
#include "log.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES 4096

struct cf_log {
    FILE *out;
    enum cf_log_level level;
    pthread_mutex_t lock;
    char program[64];
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
    bool truncated;
};

/* Room is kept for the closing text so a truncated line is still JSON. */
#define LINE_RESERVE 24

static void line_put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - LINE_RESERVE - l->len;
    if (n > room) {
        n = room;
        l->truncated = true;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_puts(struct line *l, const char *s)
{
    line_put(l, s, strlen(s));
}

/* Closes a string even on a truncated line: uses the reserve. */
static void line_close_quote(struct line *l)
{
    l->buf[l->len++] = '"';
}

/* Appends s as a JSON string body (without quotes).  An escape sequence is
 * never cut in half. */
static void line_put_escaped(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p && !l->truncated; p++) {
        char esc[7];
        size_t n;
        switch (*p) {
        case '"':
            memcpy(esc, "\\\"", 2), n = 2;
            break;
        case '\\':
            memcpy(esc, "\\\\", 2), n = 2;
            break;
        case '\n':
            memcpy(esc, "\\n", 2), n = 2;
            break;
        case '\r':
            memcpy(esc, "\\r", 2), n = 2;
            break;
        case '\t':
            memcpy(esc, "\\t", 2), n = 2;
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 0xf];
                n = 6;
            } else {
                esc[0] = (char)*p;
                n = 1;
            }
        }
        if (l->len + n > sizeof(l->buf) - LINE_RESERVE) {
            l->truncated = true;
            break;
        }
        memcpy(l->buf + l->len, esc, n);
        l->len += n;
    }
}

static void line_put_number(struct line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void line_put_number(struct line *l, const char *fmt, ...)
{
    char num[48];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(num, sizeof(num), fmt, ap);
    va_end(ap);
    if (n > 0)
        line_put(l, num, (size_t)n < sizeof(num) ? (size_t)n : sizeof(num) - 1);
}

struct cf_log *cf_log_new(const char *program, enum cf_log_level level, FILE *out)
{
    struct cf_log *lg = calloc(1, sizeof(*lg));
    if (!lg)
        return NULL;
    lg->out = out ? out : stderr;
    lg->level = level;
    pthread_mutex_init(&lg->lock, NULL);
    snprintf(lg->program, sizeof(lg->program), "%s", program ? program : "cachefleet");
    return lg;
}

void cf_log_destroy(struct cf_log *lg)
{
    if (!lg)
        return;
    pthread_mutex_destroy(&lg->lock);
    free(lg);
}

void cf_log_set_level(struct cf_log *lg, enum cf_log_level level)
{
    lg->level = level;
}

int cf_log_enabled(const struct cf_log *lg, enum cf_log_level level)
{
    return lg && level >= lg->level;
}

int cf_log_level_parse(const char *text, enum cf_log_level *level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *level = (enum cf_log_level)i;
            return 0;
        }
    }
    return -1;
}

void cf_log_emit(struct cf_log *lg, enum cf_log_level level, const char *msg, ...)
{
    if (!cf_log_enabled(lg, level))
        return;

    struct line l;
    l.len = 0;
    l.truncated = false;

    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    char ts[40];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    line_puts(&l, "{\"ts\":\"");
    line_puts(&l, ts);
    line_put_number(&l, ".%03ldZ\",\"level\":\"", now.tv_nsec / 1000000L);
    line_puts(&l, level_names[level]);
    line_puts(&l, "\",\"program\":\"");
    line_put_escaped(&l, lg->program);
    line_puts(&l, "\",\"msg\":\"");
    line_put_escaped(&l, msg);
    line_close_quote(&l);

    va_list ap;
    va_start(ap, msg);
    size_t good = l.len; /* end of the last whole field */
    for (const char *key = va_arg(ap, const char *); key; key = va_arg(ap, const char *)) {
        char type = key[0];
        line_puts(&l, ",\"");
        line_put_escaped(&l, key + 2);
        line_puts(&l, "\":");
        switch (type) {
        case 's': {
            const char *v = va_arg(ap, const char *);
            if (v) {
                line_puts(&l, "\"");
                line_put_escaped(&l, v);
                line_puts(&l, "\"");
            } else {
                line_puts(&l, "null");
            }
            break;
        }
        case 'i':
            line_put_number(&l, "%lld", va_arg(ap, long long));
            break;
        case 'u':
            line_put_number(&l, "%llu", va_arg(ap, unsigned long long));
            break;
        case 'f': {
            double v = va_arg(ap, double);
            if (isfinite(v))
                line_put_number(&l, "%.6g", v);
            else
                line_puts(&l, "null");
            break;
        }
        case 'b':
            line_puts(&l, va_arg(ap, int) ? "true" : "false");
            break;
        default:
            /* A key without a known type prefix is a programming error. */
            abort();
        }
        if (l.truncated)
            l.len = good; /* drop the cut field, keep reading varargs */
        else
            good = l.len;
    }
    va_end(ap);

    /* LINE_RESERVE bytes are always free here. */
    if (l.truncated) {
        const char tail[] = ",\"truncated\":true";
        memcpy(l.buf + l.len, tail, sizeof(tail) - 1);
        l.len += sizeof(tail) - 1;
    }
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';

    pthread_mutex_lock(&lg->lock);
    fwrite(l.buf, 1, l.len, lg->out);
    fflush(lg->out);
    pthread_mutex_unlock(&lg->lock);
}
