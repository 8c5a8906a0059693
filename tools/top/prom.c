/* prom.c - the Prometheus text exposition format (0.0.4), read.
 *
 * DESIGN
 * One pass per line over [start, end) with a cursor; nothing relies on a
 * NUL terminator, so a body cut short or holding a stray NUL is read up to
 * where it stops making sense.  Each sample owns its strings (a page has a
 * few hundred samples and is parsed once a second: plain mallocs are
 * cheap enough and simple to free).
 *
 * Thread: any.
 */
#include "prom.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------
 * Lexing one line
 * ------------------------------------------------------------------------ */

struct cursor {
    const char *p;
    const char *end;
};

static void skip_blanks(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static int is_name_start(char ch, int colon_ok)
{
    return isalpha((unsigned char)ch) || ch == '_' || (colon_ok && ch == ':');
}

static int is_name_char(char ch, int colon_ok)
{
    return isalnum((unsigned char)ch) || ch == '_' || (colon_ok && ch == ':');
}

/* A metric name (colons allowed) or a label name: a new string, or NULL. */
static char *read_name(struct cursor *c, int colon_ok)
{
    const char *start = c->p;
    if (c->p >= c->end || !is_name_start(*c->p, colon_ok))
        return NULL;
    while (c->p < c->end && is_name_char(*c->p, colon_ok))
        c->p++;
    return strndup(start, (size_t)(c->p - start));
}

/* A quoted label value, the cursor just past its opening quote, escapes
 * undone: a new string, or NULL when the closing quote is missing. */
static char *read_label_value(struct cursor *c)
{
    const char *q = c->p;
    while (q < c->end && *q != '"') {
        if (*q == '\\' && q + 1 < c->end)
            q++;
        q++;
    }
    if (q >= c->end)
        return NULL;
    /* Undoing escapes only shortens: the raw length is enough. */
    char *v = malloc((size_t)(q - c->p) + 1);
    if (!v)
        return NULL;
    size_t i = 0;
    while (c->p < q) {
        char ch = *c->p++;
        if (ch == '\\' && c->p < q) {
            char next = *c->p;
            if (next == 'n' || next == '\\' || next == '"') {
                ch = next == 'n' ? '\n' : next;
                c->p++;
            }
            /* Any other backslash is not an escape of the format: kept. */
        }
        v[i++] = ch;
    }
    v[i] = '\0';
    c->p = q + 1;
    return v;
}

/* The next blank-separated token: its start and length. */
static size_t read_token(struct cursor *c, const char **start)
{
    *start = c->p;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
        c->p++;
    return (size_t)(c->p - *start);
}

/* A sample value in Go's float syntax as Prometheus writes it.  Returns 0
 * or -1. */
static int parse_value(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    const char *t = buf;
    double sign = 1;
    if (*t == '+' || *t == '-') {
        sign = *t == '-' ? -1 : 1;
        t++;
    }
    if (strcasecmp(t, "inf") == 0 || strcasecmp(t, "infinity") == 0) {
        *out = sign * HUGE_VAL;
        return 0;
    }
    if (strcasecmp(t, "nan") == 0) {
        *out = NAN;
        return 0;
    }
    /* Plain decimal only: strtod would also take hex and "nan(...)". */
    for (const char *k = t; *k; k++) {
        if (!isdigit((unsigned char)*k) && *k != '.' && *k != 'e' && *k != 'E' && *k != '+' &&
            *k != '-')
            return -1;
    }
    char *endp = NULL;
    errno = 0;
    double v = strtod(buf, &endp);
    if (endp == buf || *endp != '\0')
        return -1;
    *out = v; /* ERANGE: +-HUGE_VAL or 0, which is what the text says */
    return 0;
}

static int parse_timestamp(const char *s, size_t n, int64_t *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *endp = NULL;
    errno = 0;
    long long v = strtoll(buf, &endp, 10);
    if (endp == buf || *endp != '\0' || errno == ERANGE)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* ------------------------------------------------------------------------
 * Samples
 * ------------------------------------------------------------------------ */

static void sample_free(struct top_prom_sample *s)
{
    free(s->name);
    for (size_t i = 0; i < s->nlabels; i++) {
        free(s->labels[i].name);
        free(s->labels[i].value);
    }
    free(s->labels);
    memset(s, 0, sizeof(*s));
}

static int add_label(struct top_prom_sample *s, char *name, char *value)
{
    struct top_prom_label *l = realloc(s->labels, (s->nlabels + 1) * sizeof(*l));
    if (!l)
        return -1;
    s->labels = l;
    l[s->nlabels].name = name;
    l[s->nlabels].value = value;
    s->nlabels++;
    return 0;
}

/* The label set after '{' up to and including '}'.  Returns 0 or -1. */
static int parse_labels(struct cursor *c, struct top_prom_sample *s)
{
    for (;;) {
        skip_blanks(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return 0;
        }
        char *name = read_name(c, 0);
        if (!name)
            return -1;
        skip_blanks(c);
        if (c->p >= c->end || *c->p != '=') {
            free(name);
            return -1;
        }
        c->p++;
        skip_blanks(c);
        if (c->p >= c->end || *c->p != '"') {
            free(name);
            return -1;
        }
        c->p++;
        char *value = read_label_value(c);
        if (!value || add_label(s, name, value) < 0) {
            free(name);
            free(value);
            return -1;
        }
        skip_blanks(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++; /* a trailing comma before '}' is allowed */
            continue;
        }
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return 0;
        }
        return -1;
    }
}

/* One line without its newline.  Returns 1 with *s filled, 0 for a blank
 * line or a comment, -1 when malformed (nothing kept). */
static int parse_line(const char *start, const char *end, struct top_prom_sample *s)
{
    struct cursor c = {start, end};
    memset(s, 0, sizeof(*s));
    skip_blanks(&c);
    if (c.p >= c.end || *c.p == '#')
        return 0;
    s->name = read_name(&c, 1);
    if (!s->name)
        goto fail;
    const char *after_name = c.p;
    skip_blanks(&c); /* "name {...}" is read as Prometheus reads it */
    if (c.p < c.end && *c.p == '{') {
        c.p++;
        if (parse_labels(&c, s) < 0)
            goto fail;
        after_name = c.p;
        skip_blanks(&c);
    }
    if (c.p == after_name) /* the value must be set apart by blanks */
        goto fail;
    const char *tok;
    size_t n = read_token(&c, &tok);
    if (parse_value(tok, n, &s->value) < 0)
        goto fail;
    skip_blanks(&c);
    if (c.p < c.end) {
        n = read_token(&c, &tok);
        if (parse_timestamp(tok, n, &s->timestamp_ms) < 0)
            goto fail;
        s->has_timestamp = 1;
        skip_blanks(&c);
        if (c.p < c.end)
            goto fail;
    }
    return 1;
fail:
    sample_free(s);
    return -1;
}

struct top_prom *top_prom_parse(const char *text, size_t len)
{
    struct top_prom *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    if (!text)
        return p; /* nothing to read */
    const char *pos = text, *end = text + len;
    while (pos < end) {
        const char *nl = memchr(pos, '\n', (size_t)(end - pos));
        const char *line_end = nl ? nl : end;
        const char *stop = line_end;
        if (stop > pos && stop[-1] == '\r')
            stop--;
        struct top_prom_sample s;
        int rc = parse_line(pos, stop, &s);
        if (rc < 0) {
            p->bad_lines++;
        } else if (rc > 0) {
            if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 64;
                struct top_prom_sample *grown = realloc(p->samples, cap * sizeof(*grown));
                if (!grown) {
                    sample_free(&s);
                    top_prom_destroy(p);
                    return NULL;
                }
                p->samples = grown;
                p->cap = cap;
            }
            p->samples[p->n++] = s;
        }
        pos = nl ? nl + 1 : end;
    }
    return p;
}

void top_prom_destroy(struct top_prom *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        sample_free(&p->samples[i]);
    free(p->samples);
    free(p);
}

/* ------------------------------------------------------------------------
 * Questions
 * ------------------------------------------------------------------------ */

const char *top_prom_label(const struct top_prom_sample *s, const char *label)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        if (strcmp(s->labels[i].name, label) == 0)
            return s->labels[i].value;
    }
    return NULL;
}

int top_prom_matches(const struct top_prom_sample *s, const char *const *match)
{
    for (size_t i = 0; match && match[i] && match[i + 1]; i += 2) {
        const char *v = top_prom_label(s, match[i]);
        if (!v || strcmp(v, match[i + 1]) != 0)
            return 0;
    }
    return 1;
}

double top_prom_sum(const struct top_prom *p, const char *name, const char *const *match,
                    size_t *found)
{
    double total = 0;
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct top_prom_sample *s = &p->samples[i];
        if (strcmp(s->name, name) == 0 && top_prom_matches(s, match)) {
            total += s->value;
            n++;
        }
    }
    if (found)
        *found = n;
    return total;
}

/* Adds count to the bucket of bound le, inserting it in order. */
static int hist_add(struct top_hist *h, double le, double count)
{
    size_t i = 0;
    while (i < h->n && h->le[i] < le)
        i++;
    if (i < h->n && h->le[i] == le) {
        h->cum[i] += count;
        return 0;
    }
    if (h->n == TOP_HIST_MAX)
        return -1;
    memmove(&h->le[i + 1], &h->le[i], (h->n - i) * sizeof(h->le[0]));
    memmove(&h->cum[i + 1], &h->cum[i], (h->n - i) * sizeof(h->cum[0]));
    h->le[i] = le;
    h->cum[i] = count;
    h->n++;
    return 0;
}

int top_prom_histogram(const struct top_prom *p, const char *name, struct top_hist *h)
{
    char bucket[256], sum[256], count[256];
    memset(h, 0, sizeof(*h));
    size_t n = strlen(name);
    if (n + sizeof("_bucket") > sizeof(bucket))
        return -1;
    memcpy(bucket, name, n);
    memcpy(bucket + n, "_bucket", sizeof("_bucket"));
    memcpy(sum, name, n);
    memcpy(sum + n, "_sum", sizeof("_sum"));
    memcpy(count, name, n);
    memcpy(count + n, "_count", sizeof("_count"));
    for (size_t i = 0; i < p->n; i++) {
        const struct top_prom_sample *s = &p->samples[i];
        if (strcmp(s->name, bucket) == 0) {
            const char *le = top_prom_label(s, "le");
            double bound;
            if (!le || parse_value(le, strlen(le), &bound) < 0 || isnan(bound) || isnan(s->value))
                continue;
            if (hist_add(h, bound, s->value) < 0)
                return -1;
        } else if (strcmp(s->name, sum) == 0) {
            h->sum += s->value;
        } else if (strcmp(s->name, count) == 0) {
            h->count += s->value;
        }
    }
    return h->n ? 0 : -1;
}

void top_hist_delta(const struct top_hist *cur, const struct top_hist *prev, struct top_hist *out)
{
    *out = *cur;
    int reset = prev->count > cur->count;
    for (size_t i = 0; i < cur->n && !reset; i++) {
        size_t j = 0;
        while (j < prev->n && prev->le[j] != cur->le[i])
            j++;
        if (j < prev->n && prev->cum[j] > cur->cum[i])
            reset = 1;
    }
    if (reset)
        return; /* counted from zero: the program restarted */
    for (size_t i = 0; i < cur->n; i++) {
        for (size_t j = 0; j < prev->n; j++) {
            if (prev->le[j] == cur->le[i]) {
                out->cum[i] = cur->cum[i] - prev->cum[j];
                break;
            }
        }
    }
    out->sum = cur->sum - prev->sum;
    out->count = cur->count - prev->count;
}

double top_hist_quantile(const struct top_hist *h, double q)
{
    if (h->n == 0)
        return -1;
    double total = h->cum[h->n - 1];
    if (!(total > 0))
        return -1;
    double rank = q * total;
    double lower = 0, below = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (h->cum[i] >= rank) {
            if (isinf(h->le[i])) /* beyond the last finite bound */
                return i > 0 ? h->le[i - 1] : 0;
            double in = h->cum[i] - below;
            if (in <= 0)
                return h->le[i];
            return lower + (h->le[i] - lower) * ((rank - below) / in);
        }
        lower = h->le[i];
        below = h->cum[i];
    }
    return h->n > 1 && isinf(h->le[h->n - 1]) ? h->le[h->n - 2] : h->le[h->n - 1];
}
