/* view.h - what cachefleet-top shows: one row per consumer.
 *
 * What it owns: picking a consumer's figures out of its parsed /metrics
 * (top_figures), turning two successive figures into a row (rates and
 * quantiles over the interval between them), and drawing the rows as a
 * table, in place on a terminal or as plain lines.  What it does not own:
 * fetching (scrape.h), parsing (prom.h), timing or flags (main.c).
 *
 * DESIGN
 * A row is computed from the figures of this refresh and of the previous
 * one, so "events/s", the Redis round trip and the event age describe the
 * last interval, not the program's whole life.  The first refresh has no
 * previous figures: its rates show "-" and its quantiles cover everything
 * since the consumer started.  A counter that went down means the consumer
 * restarted: it counts from zero again.  Every figure the page may lack
 * (lag before librdkafka's first statistics, the slice counter of an older
 * consumer) shows "-" rather than a made-up zero.
 *
 * Columns: CONSUMER, ADDRESS, EV/S (events applied or dead-lettered per
 * second), APPLIED (total), LAG (messages, summed over partitions), DLQ
 * (dead-lettered, total), RTT_MS (Redis round trip, mean/p99 over the
 * interval), AGE_P99_MS (event age at apply), STATE ("ok", or any of
 * "redis-down", "broker-down", "paused"; "unreachable" when the endpoint
 * did not answer), SLICES (cache operations per second by slice, busiest
 * first; the reason when unreachable).
 *
 * Thread: any; nothing shared.
 */
#ifndef TOP_VIEW_H
#define TOP_VIEW_H

#include <stddef.h>
#include <stdio.h>

#include "prom.h"

#define TOP_MAX_SLICES 32

struct top_slice_count {
    char slice[32];
    char kind[16];
    double value;
};

/* What one scrape said about one consumer. */
struct top_figures {
    char consumer[64]; /* its consumer label ("" when none) */
    double consumed;
    double applied;
    double deadlettered;
    int has_lag; /* cachefleet_consumer_lag present */
    double lag;  /* summed over partitions */
    int has_rtt;
    struct top_hist rtt; /* cachefleet_redis_round_trip_seconds */
    int has_age;
    struct top_hist age; /* cachefleet_event_age_seconds */
    int redis_up;        /* gauges: 1, 0, or -1 when absent */
    int broker_up;
    int paused;
    int has_slices; /* cachefleet_slice_ops_total present */
    size_t nslices;
    struct top_slice_count slices[TOP_MAX_SLICES];
};

/* Fills f from a parsed page. */
void top_figures_read(const struct top_prom *p, struct top_figures *f);

/* One line of the view, every figure already a string. */
struct top_row {
    char name[64];
    char addr[128];
    char rate[16];
    char applied[24];
    char lag[24];
    char dlq[24];
    char rtt[32];
    char age[16];
    char state[48];
    char slices[256];
    /* The numbers behind the strings (-1: not known), for tests. */
    double rate_value;
    double rtt_mean_s;
    double rtt_p99_s;
    double age_p99_s;
};

/* The row of a consumer that answered: cur this refresh, prev the previous
 * one (NULL on the first), dt_s the seconds between the two scrapes.
 * name: the name given on the command line, or NULL to use the consumer
 * label. */
void top_row_compute(struct top_row *row, const char *name, const char *addr,
                     const struct top_figures *cur, const struct top_figures *prev, double dt_s);

/* The row of an endpoint that did not answer; why: a short reason. */
void top_row_unreachable(struct top_row *row, const char *name, const char *addr, const char *why);

struct top_view_opts {
    int ansi;          /* 1: clear the screen and draw from its top-left corner */
    int width;         /* cut lines to this many columns; 0: no limit */
    double interval_s; /* for the title line */
    long long refresh; /* 1 for the first refresh */
};

/* Draws a title line, the header and the rows, and flushes out. */
void top_view_render(FILE *out, const struct top_row *rows, size_t n,
                     const struct top_view_opts *opts);

#endif
