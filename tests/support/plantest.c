/* plantest.c - what the planners' unit tests share (see plantest.h). */
#include "plantest.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cf_pt_put_fmt(struct cf_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    cf_buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Bytes as they are, except control bytes and DEL as \xNN (so a NUL or a
 * line break inside a value is visible and cannot end a line). */
static void put_bytes(struct cf_buf *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f)
            cf_pt_put_fmt(b, "\\x%02x", c);
        else
            cf_buf_put(b, &p[i], 1);
    }
}

static void put_span(struct cf_buf *b, const struct cf_plan *plan, struct cf_span span)
{
    put_bytes(b, cf_plan_bytes(plan, span), span.len);
}

enum { USES_A = 1, USES_B = 2, USES_VERSION = 4, USES_TS = 8, USES_TTL = 16 };

void cf_pt_render_op(struct cf_buf *b, const struct cf_plan *plan, const struct cf_op *op)
{
    unsigned uses = 0;
    unsigned long long v = (unsigned long long)op->version;
    long long ts = (long long)op->ts_us, ttl = (long long)op->ttl_ms;
    cf_pt_put_fmt(b, "%c ", op->code);
    put_span(b, plan, op->key);
    switch (op->code) {
    case CF_OP_WARM:
    case CF_OP_WARM_GUARDED:
        cf_pt_put_fmt(b, " v=%llu ts=%lld ttl=%lld value=", v, ts, ttl);
        put_span(b, plan, op->a);
        uses = USES_A | USES_VERSION | USES_TS | USES_TTL;
        if (op->code == CF_OP_WARM_GUARDED) {
            cf_pt_put_fmt(b, " guards=");
            for (uint32_t g = 0; g < op->nguards; g++) {
                size_t len;
                const char *key = cf_plan_guard_key(plan, op, g, &len);
                if (g)
                    cf_pt_put_fmt(b, ",");
                put_bytes(b, key, len);
            }
            uses |= USES_B;
        }
        break;
    case CF_OP_INVALIDATE:
        cf_pt_put_fmt(b, " v=%llu ts=%lld", v, ts);
        uses = USES_VERSION | USES_TS;
        break;
    case CF_OP_XINVAL:
    case CF_OP_TAG:
        cf_pt_put_fmt(b, " ts=%lld", ts);
        uses = USES_TS;
        break;
    case CF_OP_INDEX_ADD:
        cf_pt_put_fmt(b, " member=");
        put_span(b, plan, op->a);
        cf_pt_put_fmt(b, " v=%llu ttl=%lld", v, ttl);
        uses = USES_A | USES_VERSION | USES_TTL;
        break;
    case CF_OP_INDEX_REM:
        cf_pt_put_fmt(b, " member=");
        put_span(b, plan, op->a);
        cf_pt_put_fmt(b, " v=%llu", v);
        uses = USES_A | USES_VERSION;
        break;
    case CF_OP_FANOUT:
        cf_pt_put_fmt(b, " ts=%lld prefix=", ts);
        put_span(b, plan, op->a);
        uses = USES_A | USES_TS;
        break;
    case CF_OP_PURGE:
        cf_pt_put_fmt(b, " prefix=");
        put_span(b, plan, op->a);
        cf_pt_put_fmt(b, " v=%llu", v);
        uses = USES_A | USES_VERSION;
        break;
    case CF_OP_CATEGORY:
        cf_pt_put_fmt(b, " id=");
        put_span(b, plan, op->a);
        cf_pt_put_fmt(b, " v=%llu ts=%lld payload=", v, ts);
        put_span(b, plan, op->b);
        uses = USES_A | USES_B | USES_VERSION | USES_TS;
        break;
    case CF_OP_MENU:
        cf_pt_put_fmt(b, " hash=");
        put_span(b, plan, op->a);
        cf_pt_put_fmt(b, " ttl=%lld", ttl);
        uses = USES_A | USES_TTL;
        break;
    default:
        cf_pt_put_fmt(b, " (unknown operation)");
        break;
    }
    if (!(uses & USES_A) && op->a.len) {
        cf_pt_put_fmt(b, " !a=");
        put_span(b, plan, op->a);
    }
    if (!(uses & USES_B) && op->b.len) {
        cf_pt_put_fmt(b, " !b=");
        put_span(b, plan, op->b);
    }
    if (!(uses & USES_VERSION) && op->version)
        cf_pt_put_fmt(b, " !v=%llu", v);
    if (!(uses & USES_TS) && op->ts_us)
        cf_pt_put_fmt(b, " !ts=%lld", ts);
    if (!(uses & USES_TTL) && op->ttl_ms)
        cf_pt_put_fmt(b, " !ttl=%lld", ttl);
}

void cf_pt_render_plan(struct cf_buf *b, const struct cf_plan *plan, size_t from, size_t to,
                       bool live_only)
{
    size_t lines = 0;
    b->len = 0;
    for (size_t i = from; i < to; i++) {
        const struct cf_op *op = cf_plan_op(plan, i);
        if (live_only && op->dead)
            continue;
        if (lines++)
            cf_pt_put_fmt(b, "\n");
        cf_pt_render_op(b, plan, op);
    }
    cf_buf_reserve(b, 1);
    b->data[b->len] = '\0';
}

size_t cf_pt_count_lines(const char *const *lines)
{
    size_t n = 0;
    while (lines[n])
        n++;
    return n;
}

void cf_pt_expect_ops(const struct cf_plan *plan, size_t from, size_t to, bool live_only,
                      const char *const *want)
{
    struct cf_buf got = {0}, exp = {0};
    cf_pt_render_plan(&got, plan, from, to, live_only);
    for (size_t i = 0; want[i]; i++)
        cf_pt_put_fmt(&exp, "%s%s", i ? "\n" : "", want[i]);
    cf_buf_reserve(&exp, 1);
    exp.data[exp.len] = '\0';
    bool same = strcmp(got.data, exp.data) == 0;
    if (!same)
        print_error("operations differ\n--- expected\n%s\n--- got\n%s\n---\n", exp.data, got.data);
    cf_buf_free(&got);
    cf_buf_free(&exp);
    assert_true(same);
}

void *cf_pt_own(struct cf_pt_owned *o, size_t size)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->p = realloc(o->p, o->cap * sizeof(*o->p));
        assert_non_null(o->p);
    }
    void *block = malloc(size ? size : 1);
    assert_non_null(block);
    o->p[o->n++] = block;
    return block;
}

void cf_pt_owned_free(struct cf_pt_owned *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->p[i]);
    free(o->p);
    o->p = NULL;
    o->n = o->cap = 0;
}

struct cf_str cf_pt_dup_str(struct cf_pt_owned *o, struct cf_str s)
{
    if (!s.ptr)
        return s;
    char *copy = cf_pt_own(o, s.len);
    if (s.len)
        memcpy(copy, s.ptr, s.len);
    struct cf_str out = {copy, s.len};
    return out;
}

struct cf_strs cf_pt_dup_strs(struct cf_pt_owned *o, struct cf_strs s)
{
    struct cf_strs out = {NULL, s.n, s.n};
    if (!s.n)
        return out;
    out.items = cf_pt_own(o, s.n * sizeof(*out.items));
    for (size_t i = 0; i < s.n; i++)
        out.items[i] = cf_pt_dup_str(o, s.items[i]);
    return out;
}

void cf_pt_expect_rejected(int rc, const char *reason, const char *prefix, const char *secret)
{
    assert_int_equal(rc, -1);
    size_t n = strlen(prefix);
    if (strncmp(reason, prefix, n) != 0) {
        print_error("reason \"%s\" does not start with \"%s\"\n", reason, prefix);
        fail();
    }
    assert_true(strlen(reason) > n);
    if (secret && strstr(reason, secret)) {
        print_error("reason \"%s\" repeats the rejected content \"%s\"\n", reason, secret);
        fail();
    }
}

char *cf_pt_repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}
