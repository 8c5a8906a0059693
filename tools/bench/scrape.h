/* scrape.h - reading a consumer's /metrics endpoint: a small HTTP/1.0 GET
 * on 127.0.0.1 and the Prometheus text format.
 *
 * What it owns: fetching the text and picking numbers out of it (a
 * counter summed over its label sets, a histogram's buckets, a quantile
 * interpolated within them).  What it does not own: what the numbers mean
 * (runner.c) or the metrics themselves (common/metrics.c).
 *
 * Thread: any; no shared state.
 */
#ifndef BENCH_SCRAPE_H
#define BENCH_SCRAPE_H

#include <stddef.h>

/* GET http://127.0.0.1:<port><path>, waiting at most timeout_ms in all.
 * Returns the status code and *body (NUL-terminated, malloc'd: free it;
 * NULL when nothing answered), or -1 when nothing answered in time. */
int bench_http_get(int port, const char *path, char **body, int timeout_ms);

/* The sum of every sample of metric `name` (exactly that name, any labels),
 * or -1 when the text has none. */
double bench_prom_sum(const char *text, const char *name);

#define BENCH_HIST_MAX 64

/* A histogram's cumulative buckets as scraped; the last bucket is +Inf. */
struct bench_histogram {
    size_t n;
    double le[BENCH_HIST_MAX];  /* upper bounds, ascending; HUGE_VAL for +Inf */
    double cum[BENCH_HIST_MAX]; /* cumulative counts */
    double count;
    double sum;
};

/* Reads histogram `name` (its _bucket, _sum and _count samples).  Returns 0,
 * or -1 when absent or malformed. */
int bench_prom_histogram(const char *text, const char *name, struct bench_histogram *h);

/* The q-quantile (0 < q < 1) by linear interpolation within the bucket
 * that holds it (the first bucket starts at 0).  When it falls in the +Inf
 * bucket the last finite bound is returned and *overflow set to 1.
 * Returns -1 for an empty histogram. */
double bench_histogram_quantile(const struct bench_histogram *h, double q, int *overflow);

#endif
