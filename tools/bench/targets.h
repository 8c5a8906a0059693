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
 * One entry per consumer (products today; carts, orders, access and stock
 * will be added the same way): the phases loop over the table and never
 * name a consumer.  A generator writes into a struct bench_events; a
 * checker reads the same store, so the expected state is derived from
 * exactly the bytes that were produced.
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

/* The outcome of one sample check. */
struct bench_check {
    size_t sampled;       /* keys looked at */
    size_t right;         /* hold what the events imply (a value, or nothing) */
    size_t missing;       /* the events imply a value; the key is absent */
    size_t stale;         /* the key holds another value, or one the events deleted */
    size_t expect_absent; /* of the sampled keys, how many the events imply absent */
    int extra_expected;   /* 1: the consumer-specific extra key must exist (e.g. the menu) */
    int extra_present;    /* 1: it exists */
    char extra_name[64];  /* its name, e.g. ":1:menu:main" */
    int ok;               /* 1: nothing wrong */
};

/* A synthetic workload for the scaling tables. */
struct bench_synth {
    size_t events;
    size_t value_bytes; /* size of the cached value each event carries */
    size_t tags;        /* tags (categories) per event */
};

struct bench_target {
    const char *name;    /* "products" */
    const char *topic;   /* "shop.products" */
    const char *program; /* "cachefleet-products", in the build directory */
    const struct cf_consumer_def *def;

    /* The main workload: n events of the simulator's model with a fixed
     * seed, appended to out.  Returns 0, or -1 with errstr. */
    int (*generate)(const char *schemas_dir, uint64_t seed, size_t n, struct bench_events *out,
                    char *errstr, size_t errstr_size);

    /* A synthetic workload for the scaling tables (NULL: this consumer has
     * none yet).  Returns 0, or -1 with errstr. */
    int (*synthesize)(const char *schemas_dir, uint64_t seed, const struct bench_synth *cfg,
                      struct bench_events *out, char *errstr, size_t errstr_size);

    /* The full cache key the plain SET baseline writes for an event that
     * carries a value (":1:product:42").  Returns its length. */
    size_t (*cache_key)(const struct bench_event *ev, char *buf, size_t size);

    /* Checks `sample` keys (chosen with seed among the entities events
     * [from, to) touch) against the state those events imply, in Redis as
     * the consumer left it after applying exactly those events to an empty
     * cache.  Returns 0 with *out filled (out->ok says whether it is
     * right), or -1 with errstr when Redis could not be read. */
    int (*check)(redisContext *c, const struct bench_events *es, size_t from, size_t to,
                 size_t sample, uint64_t seed, struct bench_check *out, char *errstr,
                 size_t errstr_size);
};

extern const struct bench_target bench_targets[];
extern const size_t bench_ntargets;

#endif
