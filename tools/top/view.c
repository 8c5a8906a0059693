/* view.c - what cachefleet-top shows (see view.h).
 *
 * Thread: any.
 */
#include "view.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------
 * Figures from a page
 * ------------------------------------------------------------------------ */

static int gauge(const struct top_prom *p, const char *name)
{
    size_t found;
    double v = top_prom_sum(p, name, NULL, &found);
    if (!found || isnan(v))
        return -1;
    return v > 0 ? 1 : 0;
}

static void slice_add(struct top_figures *f, const char *slice, const char *kind, double v)
{
    for (size_t i = 0; i < f->nslices; i++) {
        if (strcmp(f->slices[i].slice, slice) == 0 && strcmp(f->slices[i].kind, kind) == 0) {
            f->slices[i].value += v;
            return;
        }
    }
    if (f->nslices == TOP_MAX_SLICES)
        return; /* more kinds of slices than a view can show: the rest are dropped */
    struct top_slice_count *s = &f->slices[f->nslices++];
    snprintf(s->slice, sizeof(s->slice), "%s", slice);
    snprintf(s->kind, sizeof(s->kind), "%s", kind);
    s->value = v;
}

void top_figures_read(const struct top_prom *p, struct top_figures *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < p->n && !f->consumer[0]; i++) {
        const char *c = top_prom_label(&p->samples[i], "consumer");
        if (c && c[0])
            snprintf(f->consumer, sizeof(f->consumer), "%s", c);
    }
    f->consumed = top_prom_sum(p, "cachefleet_events_consumed_total", NULL, NULL);
    f->applied = top_prom_sum(p, "cachefleet_events_applied_total", NULL, NULL);
    f->deadlettered = top_prom_sum(p, "cachefleet_events_deadlettered_total", NULL, NULL);
    size_t found;
    f->lag = top_prom_sum(p, "cachefleet_consumer_lag", NULL, &found);
    f->has_lag = found > 0;
    f->has_rtt = top_prom_histogram(p, "cachefleet_redis_round_trip_seconds", &f->rtt) == 0;
    f->has_age = top_prom_histogram(p, "cachefleet_event_age_seconds", &f->age) == 0;
    f->redis_up = gauge(p, "cachefleet_redis_up");
    f->broker_up = gauge(p, "cachefleet_broker_up");
    f->paused = gauge(p, "cachefleet_paused");
    for (size_t i = 0; i < p->n; i++) {
        const struct top_prom_sample *s = &p->samples[i];
        if (strcmp(s->name, "cachefleet_slice_ops_total") != 0 || isnan(s->value))
            continue;
        const char *slice = top_prom_label(s, "slice");
        const char *kind = top_prom_label(s, "kind");
        f->has_slices = 1;
        slice_add(f, slice ? slice : "?", kind ? kind : "", s->value);
    }
}

/* ------------------------------------------------------------------------
 * Rows
 * ------------------------------------------------------------------------ */

/* cur - prev of a counter; a counter that went down restarted from zero. */
static double counter_delta(double cur, double prev)
{
    return cur >= prev ? cur - prev : cur;
}

static void fmt_count(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.0f", v);
}

static void fmt_rate(char *buf, size_t size, double v)
{
    if (v < 0 || isnan(v))
        snprintf(buf, size, "-");
    else if (v < 10)
        snprintf(buf, size, "%.1f", v);
    else
        snprintf(buf, size, "%.0f", v);
}

static void fmt_ms(char *buf, size_t size, double seconds)
{
    if (seconds < 0 || isnan(seconds))
        snprintf(buf, size, "-");
    else if (seconds < 0.01)
        snprintf(buf, size, "%.2f", seconds * 1e3);
    else
        snprintf(buf, size, "%.1f", seconds * 1e3);
}

static void append(char *buf, size_t size, const char *text)
{
    size_t n = strlen(buf);
    if (n < size)
        snprintf(buf + n, size - n, "%s", text);
}

static void row_state(struct top_row *row, const struct top_figures *f)
{
    row->state[0] = '\0';
    if (f->redis_up == 0)
        append(row->state, sizeof(row->state), "redis-down");
    if (f->broker_up == 0)
        append(row->state, sizeof(row->state), row->state[0] ? ",broker-down" : "broker-down");
    if (f->paused == 1)
        append(row->state, sizeof(row->state), row->state[0] ? ",paused" : "paused");
    if (!row->state[0])
        append(row->state, sizeof(row->state), "ok");
}

struct slice_rate {
    const char *slice;
    double rate;
};

static int by_rate_desc(const void *a, const void *b)
{
    const struct slice_rate *x = a, *y = b;
    if (x->rate != y->rate)
        return x->rate < y->rate ? 1 : -1;
    return strcmp(x->slice, y->slice);
}

/* "product 120/s, category 3/s": every slice's warms and invalidations
 * together, per second over the interval, busiest first. */
static void row_slices(struct top_row *row, const struct top_figures *cur,
                       const struct top_figures *prev, double dt_s)
{
    struct slice_rate rates[TOP_MAX_SLICES];
    size_t n = 0;
    if (!cur->has_slices || !prev || dt_s <= 0) {
        snprintf(row->slices, sizeof(row->slices), "-");
        return;
    }
    for (size_t i = 0; i < cur->nslices; i++) {
        const struct top_slice_count *c = &cur->slices[i];
        double before = 0;
        for (size_t j = 0; j < prev->nslices; j++) {
            if (strcmp(prev->slices[j].slice, c->slice) == 0 &&
                strcmp(prev->slices[j].kind, c->kind) == 0)
                before = prev->slices[j].value;
        }
        double rate = counter_delta(c->value, before) / dt_s;
        size_t k = 0;
        while (k < n && strcmp(rates[k].slice, c->slice) != 0)
            k++;
        if (k == n) {
            rates[n].slice = c->slice;
            rates[n].rate = 0;
            n++;
        }
        rates[k].rate += rate;
    }
    qsort(rates, n, sizeof(rates[0]), by_rate_desc);
    row->slices[0] = '\0';
    for (size_t k = 0; k < n && rates[k].rate > 0; k++) {
        char item[64], r[16];
        fmt_rate(r, sizeof(r), rates[k].rate);
        snprintf(item, sizeof(item), "%s%s %s/s", k ? ", " : "", rates[k].slice, r);
        append(row->slices, sizeof(row->slices), item);
    }
    if (!row->slices[0])
        snprintf(row->slices, sizeof(row->slices), "idle");
}

static void row_names(struct top_row *row, const char *name, const char *addr, const char *label)
{
    memset(row, 0, sizeof(*row));
    snprintf(row->name, sizeof(row->name), "%s",
             name && name[0] ? name : (label && label[0] ? label : "?"));
    snprintf(row->addr, sizeof(row->addr), "%s", addr ? addr : "");
    row->rate_value = row->rtt_mean_s = row->rtt_p99_s = row->age_p99_s = -1;
}

void top_row_compute(struct top_row *row, const char *name, const char *addr,
                     const struct top_figures *cur, const struct top_figures *prev, double dt_s)
{
    row_names(row, name, addr, cur->consumer);
    if (prev && dt_s > 0) {
        row->rate_value = (counter_delta(cur->applied, prev->applied) +
                           counter_delta(cur->deadlettered, prev->deadlettered)) /
                          dt_s;
    }
    fmt_rate(row->rate, sizeof(row->rate), row->rate_value);
    fmt_count(row->applied, sizeof(row->applied), cur->applied);
    fmt_count(row->lag, sizeof(row->lag), cur->has_lag ? cur->lag : NAN);
    fmt_count(row->dlq, sizeof(row->dlq), cur->deadlettered);

    struct top_hist h;
    if (cur->has_rtt) {
        if (prev && prev->has_rtt)
            top_hist_delta(&cur->rtt, &prev->rtt, &h);
        else
            h = cur->rtt;
        if (h.count > 0) {
            row->rtt_mean_s = h.sum / h.count;
            row->rtt_p99_s = top_hist_quantile(&h, 0.99);
        }
    }
    char mean[16], p99[16];
    fmt_ms(mean, sizeof(mean), row->rtt_mean_s);
    fmt_ms(p99, sizeof(p99), row->rtt_p99_s);
    snprintf(row->rtt, sizeof(row->rtt), "%s/%s", mean, p99);
    if (cur->has_age) {
        if (prev && prev->has_age)
            top_hist_delta(&cur->age, &prev->age, &h);
        else
            h = cur->age;
        row->age_p99_s = top_hist_quantile(&h, 0.99);
    }
    fmt_ms(row->age, sizeof(row->age), row->age_p99_s);
    row_state(row, cur);
    row_slices(row, cur, prev, dt_s);
}

void top_row_unreachable(struct top_row *row, const char *name, const char *addr, const char *why)
{
    row_names(row, name, addr, NULL);
    if (!name || !name[0])
        snprintf(row->name, sizeof(row->name), "%s", addr ? addr : "?");
    snprintf(row->rate, sizeof(row->rate), "-");
    snprintf(row->applied, sizeof(row->applied), "-");
    snprintf(row->lag, sizeof(row->lag), "-");
    snprintf(row->dlq, sizeof(row->dlq), "-");
    snprintf(row->rtt, sizeof(row->rtt), "-");
    snprintf(row->age, sizeof(row->age), "-");
    snprintf(row->state, sizeof(row->state), "unreachable");
    snprintf(row->slices, sizeof(row->slices), "%s", why ? why : "");
}

/* ------------------------------------------------------------------------
 * Drawing
 * ------------------------------------------------------------------------ */

/* Writes one line, cut to width columns (0: whole), between the
 * terminal attributes on and off (NULL: none), and a newline. */
static void put_line(FILE *out, const char *line, int width, const char *on, const char *off)
{
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == ' ')
        n--; /* no trailing blanks */
    if (width > 0 && n > (size_t)width)
        n = (size_t)width;
    if (on)
        fputs(on, out);
    fwrite(line, 1, n, out);
    if (off)
        fputs(off, out);
    fputc('\n', out);
}

static void format_row(char *buf, size_t size, const char *name, const char *addr, const char *rate,
                       const char *applied, const char *lag, const char *dlq, const char *rtt,
                       const char *age, const char *state, const char *slices)
{
    snprintf(buf, size, "%-10s %-21s %8s %10s %8s %6s %13s %10s  %-12s %s", name, addr, rate,
             applied, lag, dlq, rtt, age, state, slices);
}

void top_view_render(FILE *out, const struct top_row *rows, size_t n,
                     const struct top_view_opts *opts)
{
    char line[1024], stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(stamp, sizeof(stamp), "?");
    if (opts->ansi)
        fputs("\033[H\033[2J", out); /* home, clear screen */
    snprintf(line, sizeof(line), "cachefleet-top %s  refresh %lld, every %.1f s%s", stamp,
             opts->refresh, opts->interval_s,
             opts->refresh <= 1 ? " (rates from the next refresh)" : "");
    put_line(out, line, opts->width, NULL, NULL);
    format_row(line, sizeof(line), "CONSUMER", "ADDRESS", "EV/S", "APPLIED", "LAG", "DLQ", "RTT_MS",
               "AGE_P99_MS", "STATE", "SLICES");
    /* On a terminal, the header in reverse video. */
    put_line(out, line, opts->width, opts->ansi ? "\033[7m" : NULL, opts->ansi ? "\033[0m" : NULL);
    for (size_t i = 0; i < n; i++) {
        const struct top_row *r = &rows[i];
        format_row(line, sizeof(line), r->name, r->addr, r->rate, r->applied, r->lag, r->dlq,
                   r->rtt, r->age, r->state, r->slices);
        put_line(out, line, opts->width, NULL, NULL);
    }
    if (!opts->ansi)
        fputc('\n', out); /* a blank line between refreshes */
    fflush(out);
}
