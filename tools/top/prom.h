/* prom.h - the Prometheus text exposition format (0.0.4), read.
 *
 * What it owns: turning the text a /metrics endpoint returns into samples
 * (a metric name, its labels with escapes undone, a value, an optional
 * timestamp), and the few questions cachefleet-top asks of them: the sum
 * of a metric over its label sets, one label's value, a histogram's
 * buckets and a quantile from them.  What it does not own: fetching the
 * text (scrape.h) or what the numbers mean (view.h).
 *
 * DESIGN
 * Lenient where being strict helps nobody: a malformed line is skipped and
 * counted (prom->bad_lines), never fatal, because a view should go on
 * showing what it can read from an endpoint a newer version extended.
 * Comments (# HELP, # TYPE) and blank lines are skipped, CRLF is accepted,
 * the text need not end with a newline, and it is read by length, not up
 * to a NUL.  Values are Go's float syntax as Prometheus writes them: digits
 * with an optional exponent, +Inf, -Inf, Inf and NaN (any case).  Label
 * values undo the three escapes of the format (\\, \" and \n); any other
 * backslash is kept as it stands.
 *
 * Thread: any; a struct top_prom is not shared.
 */
#ifndef TOP_PROM_H
#define TOP_PROM_H

#include <stddef.h>
#include <stdint.h>

struct top_prom_label {
    char *name;
    char *value; /* escapes undone; may hold '\n' */
};

struct top_prom_sample {
    char *name;
    struct top_prom_label *labels;
    size_t nlabels;
    double value; /* may be +-HUGE_VAL or NaN */
    int has_timestamp;
    int64_t timestamp_ms;
};

struct top_prom {
    struct top_prom_sample *samples;
    size_t n;
    size_t cap;
    size_t bad_lines; /* lines skipped as malformed */
};

/* Parses len bytes of text (NULL: none).  Returns a new set (free with
 * top_prom_destroy), or NULL when out of memory.  Malformed lines are
 * skipped and counted, never an error. */
struct top_prom *top_prom_parse(const char *text, size_t len);

/* Frees everything of p.  Safe on NULL. */
void top_prom_destroy(struct top_prom *p);

/* The value of label `label` of s (borrowed from s), or NULL. */
const char *top_prom_label(const struct top_prom_sample *s, const char *label);

/* 1 when s carries every label=value pair of the NULL-terminated list
 * match ("consumer", "stock", "type", "StockMoved", NULL); NULL matches
 * any sample. */
int top_prom_matches(const struct top_prom_sample *s, const char *const *match);

/* The sum of the samples named exactly name that carry the labels of
 * match (may be NULL), and in *found (may be NULL) how many there were. */
double top_prom_sum(const struct top_prom *p, const char *name, const char *const *match,
                    size_t *found);

#define TOP_HIST_MAX 64

/* A histogram's cumulative buckets, summed over its label sets. */
struct top_hist {
    size_t n;
    double le[TOP_HIST_MAX];  /* upper bounds, ascending; HUGE_VAL for +Inf */
    double cum[TOP_HIST_MAX]; /* cumulative counts */
    double sum;
    double count;
};

/* Reads histogram name (its name_bucket samples with an le label, and
 * name_sum and name_count).  Returns 0, or -1 when it has no buckets or
 * too many distinct bounds. */
int top_prom_histogram(const struct top_prom *p, const char *name, struct top_hist *h);

/* The observations of cur that happened after prev (both of the same
 * histogram, scraped in that order) into out.  A bucket missing from prev,
 * or a count that went down (the program restarted), counts from zero. */
void top_hist_delta(const struct top_hist *cur, const struct top_hist *prev, struct top_hist *out);

/* The q-quantile (0 < q <= 1) by linear interpolation within the bucket
 * holding it, the first bucket starting at 0 (histogram_quantile's rule).
 * When it falls in the +Inf bucket, the largest finite bound.  Returns -1
 * when the histogram holds no observation. */
double top_hist_quantile(const struct top_hist *h, double q);

#endif
