/* metrics.h - what a consumer counts about itself.
 *
 * What it owns: the counters, gauges and histograms of one consumer, and
 * their rendering in the Prometheus text format.  The runtime's thread
 * writes them; the HTTP endpoint's thread and librdkafka's statistics
 * callback read or write them concurrently, so every number is a relaxed
 * atomic (a scrape may see one counter a batch ahead of another, which
 * Prometheus tolerates) and the per-partition table has a mutex.
 *
 * What it does not own: serving HTTP (http.c) or deciding what happened
 * (runtime.c).
 */
#ifndef CF_METRICS_H
#define CF_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cf_outcome {
    CF_OUTCOME_CONSUMED,     /* read from Kafka */
    CF_OUTCOME_APPLIED,      /* its operations acknowledged by Redis */
    CF_OUTCOME_DEADLETTERED, /* acknowledged by the dead-letter topic */
    CF_OUTCOME_COUNT
};

/* Histogram with fixed bucket bounds (upper bounds, inclusive). */
#define CF_HIST_MAX_BUCKETS 32
struct cf_histogram {
    const double *bounds; /* in the histogram's unit, ascending; +Inf implied */
    size_t nbounds;
    _Atomic uint64_t buckets[CF_HIST_MAX_BUCKETS + 1];
    _Atomic uint64_t count;
    _Atomic uint64_t sum; /* in the histogram's unit x 1e6, i.e. an integer */
};

#define CF_METRICS_MAX_PARTITIONS 1024

/* What an operation did to its slice of the cache. */
enum cf_slice_kind {
    CF_SLICE_WARM,       /* wrote a value (W, T, M) */
    CF_SLICE_INVALIDATE, /* deleted or invalidated (D, X, G, F, P) */
    CF_SLICE_INDEX,      /* kept an index of the fleet (A, R, C) */
    CF_SLICE_KINDS
};

/* Operations sent per slice of the cache, named by the planners' kinds
 * ("product:" is the slice "product").  The runtime's thread appends and
 * counts; a scrape reads up to nslices (published with release). */
#define CF_METRICS_MAX_SLICES 16
struct cf_slice_stat {
    const char *id;  /* the kind as the planner passed it (compared by pointer, then bytes) */
    char label[48];  /* the kind without its trailing ':', label-safe */
    _Atomic uint64_t ops[CF_SLICE_KINDS];
};

struct cf_partition_stat {
    char topic[128];
    int32_t partition;
    int64_t lag;            /* consumer_lag from librdkafka's statistics, -1: unknown */
    int64_t committed;      /* committed offset */
    int64_t position;       /* next offset to consume */
};

struct cf_metrics {
    const char *consumer;          /* borrowed */
    const char *const *types;      /* borrowed, NULL-terminated event types */
    size_t ntypes;                 /* + 1: the last slot counts "unknown" */
    _Atomic uint64_t *events[CF_OUTCOME_COUNT]; /* [type] */
    _Atomic uint64_t *deadletter_reasons;       /* [reason code index] */
    void *memory[CF_OUTCOME_COUNT + 1];         /* the arrays above, for free() */

    _Atomic uint64_t batches;
    _Atomic uint64_t ops_planned;    /* before coalescing */
    _Atomic uint64_t ops_sent;       /* after coalescing */
    _Atomic uint64_t redis_calls;
    _Atomic uint64_t redis_round_trips;
    _Atomic uint64_t ops_refused;    /* lost to a newer state already in Redis */
    _Atomic uint64_t keys_denied;    /* web-tier keys Redis's ACL kept the fleet from deleting */
    _Atomic uint64_t redis_retries;
    _Atomic uint64_t deadletter_retries;
    _Atomic uint64_t commits;
    _Atomic uint64_t commit_errors;
    _Atomic uint64_t rebalances;
    _Atomic uint64_t rewarms;        /* partitions re-read from their start (Redis lost data) */

    _Atomic int redis_up;            /* 1: connected, library loaded */
    _Atomic int broker_up;           /* 1: the consumer has a broker connection */
    _Atomic int assigned_partitions;
    _Atomic int paused;              /* 1: fetching paused (a dependency is down) */
    _Atomic int64_t first_batch_unix_ms;
    _Atomic int64_t last_batch_unix_ms;
    _Atomic int64_t event_age_max_us; /* the oldest event applied so far */
    _Atomic int64_t heartbeat_ms;    /* monotonic ms of the consume loop's last tick */

    struct cf_histogram batch_size;     /* events per batch */
    struct cf_histogram redis_rtt;      /* seconds */
    struct cf_histogram event_age;      /* seconds from the message timestamp to apply */

    struct cf_slice_stat slices[CF_METRICS_MAX_SLICES + 1]; /* the last: "other" */
    _Atomic size_t nslices;

    pthread_mutex_t partitions_lock;
    struct cf_partition_stat *partitions;
    size_t npartitions;
};

/* The reason codes counted (keys.h CF_REASON_*), in label order. */
extern const char *const cf_metrics_reason_codes[];

/* types: the consumer's event type names, NULL-terminated (borrowed). */
struct cf_metrics *cf_metrics_new(const char *consumer, const char *const *types);
void cf_metrics_destroy(struct cf_metrics *m);

/* Index of an event type name (ntypes for an unknown name). */
size_t cf_metrics_type_index(const struct cf_metrics *m, const char *type);

void cf_metrics_count(struct cf_metrics *m, enum cf_outcome outcome, size_t type, uint64_t n);
void cf_metrics_count_reason(struct cf_metrics *m, const char *reason);
void cf_histogram_observe(struct cf_histogram *h, double value);
/* Counts n operations of kind on the slice named by slice (a plan
 * operation's slice; NULL counts as "other").  Runtime thread only. */
void cf_metrics_count_slice(struct cf_metrics *m, const char *slice, enum cf_slice_kind kind,
                            uint64_t n);

/* Replaces the per-partition table (from librdkafka's statistics). */
void cf_metrics_set_partitions(struct cf_metrics *m, const struct cf_partition_stat *parts,
                               size_t n);

/* Renders every metric in the Prometheus text exposition format to out. */
void cf_metrics_render(struct cf_metrics *m, FILE *out);

static inline uint64_t cf_metric_get(_Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static inline void cf_metric_add(_Atomic uint64_t *a, uint64_t n)
{
    atomic_fetch_add_explicit(a, n, memory_order_relaxed);
}

#endif
