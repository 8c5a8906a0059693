/* targets.h - the consumers the benchmark measures, one table entry each.
 *
 * What it owns: what the benchmark must know about a consumer to measure
 * it: its topic, its program, its runtime definition (for the in-process
 * baselines), how to generate its events, how to name the key the plain
 * SET baseline writes, and how to check a sample of its keys against the
 * state its events imply.  What it does not own: the phases (main.c) or
 * how a consumer is run (runner.c).
 *
 * DESIGN
 * One entry per consumer (products, carts, orders, access, stock; the
 * table is targets.c): the phases loop over the table and never name a
 * consumer.  A generator writes into a struct bench_events; a checker
 * reads the same store, so the expected state is derived from exactly the
 * bytes that were produced.  A target without a checker of its own is
 * checked against the oracle's model of its events (check.h).
 *
 * Thread: the main thread.
 */
#ifndef BENCH_TARGETS_H
#define BENCH_TARGETS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "runtime.h"
#include "shop.h"

/* The outcome of one sample check. */
struct bench_check {
    size_t sampled;       /* keys looked at */
    size_t right;         /* hold what the events imply (a value, or nothing) */
    size_t missing;       /* the events imply a value; the key is absent */
    size_t stale;         /* the key holds another value, or one the events deleted */
    size_t expect_absent; /* of the sampled keys, how many the events imply absent */
    size_t expired;       /* absent, explained by a TTL shorter than the run (check.h) */
    size_t markers_wrong; /* of missing + stale: the marker {<key>}:v differed */
    char example[320];    /* the first wrong key: key, expected, found ("" none) */
    int extra_expected;   /* 1: the consumer-specific extra key must exist (e.g. the menu) */
    int extra_present;    /* 1: it exists */
    char extra_name[64];  /* its name, e.g. ":1:menu:main" */
    int ok;               /* 1: nothing wrong */
};

/* A synthetic workload for the scaling tables. */
struct bench_synth {
    size_t events;      /* events (products); fan-outs after the joins (access) */
    size_t value_bytes; /* size of the cached value each event carries */
    size_t tags;        /* tags (categories) per event */
    size_t members;     /* members of the role whose permissions change (access) */
};

/* One point of a synthetic scaling table. */
struct bench_synth_point {
    const char *dimension; /* "payload", "tags per event", "role members" */
    const char *point;     /* "~1 KB", "10", "10,000" */
    const char *name;      /* topic suffix */
    struct bench_synth cfg;
    size_t events_quick; /* cfg.events with --quick; 0: not in the quick run */
};

/* Which phases a target runs beyond the main ones (limits, the consumer
 * runs, the sample checks), to keep the whole run within its time: */
enum {
    BENCH_TARGET_AGE = 1 << 0,      /* event age at half the measured rate */
    BENCH_TARGET_BATCH = 1 << 1,    /* events/s vs kafka.batch_max */
    BENCH_TARGET_PREFETCH = 1 << 2, /* events/s vs kafka.queued_max_kbytes */
    BENCH_TARGET_PAIR = 1 << 3,     /* two instances beside one */
    BENCH_TARGET_QUICK = 1 << 4,    /* with --quick too (else --quick runs only the
                                     * limits, the consumer and the synthetic points) */
};

struct bench_target {
    const char *name;    /* "products" */
    const char *topic;   /* "shop.products" */
    const char *program; /* "cachefleet-products", in the build directory */
    const struct cf_consumer_def *def;
    unsigned phases;        /* BENCH_TARGET_* */
    double compression;     /* what lz4 is assumed to gain on its bulk batches */
    const char *value_note; /* what the plain SET baseline writes, for the report */
    /* 1: the event-age phase replays the head of the workload, not its
     * tail.  Access: a tail starts after users joined their roles, so the
     * role sets lack them; a guarded warm is then refused or kept depending
     * on whether a later fan-out of the role reached Redis first, which the
     * paced run makes likely (a safe cache miss, but not the model's
     * state). */
    int age_from_start;

    /* The main workload: n events of the simulator's model with a fixed
     * seed, appended to out.  Returns 0, or -1 with errstr. */
    int (*generate)(const char *schemas_dir, uint64_t seed, size_t n, struct bench_events *out,
                    char *errstr, size_t errstr_size);

    /* A synthetic workload for the scaling tables (NULL: this consumer has
     * none).  The products target reads value_bytes and tags, the access
     * target members.  Returns 0, or -1 with errstr. */
    int (*synthesize)(const char *schemas_dir, uint64_t seed, const struct bench_synth *cfg,
                      struct bench_events *out, char *errstr, size_t errstr_size);
    const struct bench_synth_point *synth_points; /* the scaling table's points */
    size_t nsynth_points;

    /* The full cache key the plain SET baseline writes for an event that
     * carries a value (":1:product:42").  Returns its length. */
    size_t (*cache_key)(const struct bench_event *ev, char *buf, size_t size);

    /* Checks `sample` keys (chosen with seed among the entities events
     * [from, to) touch) against the state those events imply, in Redis as
     * the consumer left it after applying exactly those events to an empty
     * cache.  Returns 0 with *out filled (out->ok says whether it is
     * right), or -1 with errstr when Redis could not be read.  NULL: the
     * model check of check.h. */
    int (*check)(redisContext *c, const struct bench_events *es, size_t from, size_t to,
                 size_t sample, uint64_t seed, struct bench_check *out, char *errstr,
                 size_t errstr_size);
};

/* The table (targets.c), in the order the run measures them. */
extern const struct bench_target *const bench_targets[];
extern const size_t bench_ntargets;

/* The targets, one per file. */
extern const struct bench_target bench_target_products, bench_target_carts, bench_target_orders,
    bench_target_access, bench_target_stock;

/* ------------------------------------------------------------------------
 * Helpers for the targets (target_shop.c)
 * ------------------------------------------------------------------------ */

/* A decimal id ("42"), or 0 when s is not one. */
uint32_t bench_parse_id(const char *s);

/* Records in meta that value[0..value_len) ends the encoded event
 * data[0..len) (the last field of its record).  Returns 0, or -1 with
 * errstr when it does not. */
int bench_value_at_end(const void *data, size_t len, const char *value, size_t value_len,
                       struct bench_event *meta, char *errstr, size_t errstr_size);

/* One topic of the simulator's shop as a main workload. */
struct bench_shop_workload {
    const char *name;      /* "carts", for messages */
    enum shop_topic topic; /* the one topic handed out */
    uint32_t categories, products, users;
    /* Completes meta (value, entity) for ev encoded as data[0..len).
     * Returns 0, or -1 with errstr. */
    int (*describe)(const struct shop_event *ev, const void *data, size_t len,
                    struct bench_event *meta, char *errstr, size_t errstr_size);
    /* May give the event just added a side value (bench_events_set_side_value);
     * NULL: none.  Returns 0, or -1 with errstr. */
    int (*side_value)(const struct shop_event *ev, struct bench_events *es, char *errstr,
                      size_t errstr_size);
};

/* n events of w's topic with seed, appended to out.  Returns 0, or -1
 * with errstr. */
int bench_shop_generate(const struct bench_shop_workload *w, const char *schemas_dir, uint64_t seed,
                        size_t n, struct bench_events *out, char *errstr, size_t errstr_size);

#endif
