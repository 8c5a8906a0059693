/* metrics.c - what a consumer counts about itself.
 *
 * DESIGN
 * Metric names follow Prometheus conventions: cachefleet_ prefix, _total
 * for counters, base units (seconds), a consumer label on everything so a
 * shared dashboard can tell the five programs apart.  Histogram bounds are
 * fixed at compile time: the figures an SRE alerts on (event age, Redis
 * round trip) fall in the middle of their ranges.
 */
#include "metrics.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

const char *const cf_metrics_reason_codes[] = {
    CF_REASON_UNDECODABLE,  CF_REASON_UNKNOWN_SCHEMA, CF_REASON_TOO_LARGE,
    CF_REASON_INVALID_FIELD, CF_REASON_UNSAFE_ID,     CF_REASON_INVALID_JSON,
    CF_REASON_UNKNOWN_TYPE, "other",                  NULL,
};
#define NREASONS (sizeof(cf_metrics_reason_codes) / sizeof(cf_metrics_reason_codes[0]) - 1)

/* Fine below 100 ms, where the event-age objective (p99 < 50 ms) lives. */
static const double seconds_bounds[] = {0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01,
                                        0.015,  0.02,  0.03,  0.05,  0.075, 0.1,    0.25,
                                        0.5,    1,     2.5,   5,     10,    30,     60};
static const double batch_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};

static void hist_init(struct cf_histogram *h, const double *bounds, size_t n)
{
    h->bounds = bounds;
    h->nbounds = n;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

struct cf_metrics *cf_metrics_new(const char *consumer, const char *const *types)
{
    struct cf_metrics *m = xcalloc(1, sizeof(*m));
    m->consumer = consumer;
    m->types = types;
    while (types && types[m->ntypes])
        m->ntypes++;
    for (int o = 0; o < CF_OUTCOME_COUNT; o++)
        m->events[o] = m->memory[o] = xcalloc(m->ntypes + 1, sizeof(_Atomic uint64_t));
    m->deadletter_reasons = m->memory[CF_OUTCOME_COUNT] = xcalloc(NREASONS, sizeof(_Atomic uint64_t));
    hist_init(&m->batch_size, batch_bounds, sizeof(batch_bounds) / sizeof(batch_bounds[0]));
    hist_init(&m->redis_rtt, seconds_bounds, sizeof(seconds_bounds) / sizeof(seconds_bounds[0]));
    hist_init(&m->event_age, seconds_bounds, sizeof(seconds_bounds) / sizeof(seconds_bounds[0]));
    pthread_mutex_init(&m->partitions_lock, NULL);
    m->partitions = xcalloc(CF_METRICS_MAX_PARTITIONS, sizeof(*m->partitions));
    return m;
}

void cf_metrics_destroy(struct cf_metrics *m)
{
    if (!m)
        return;
    for (int o = 0; o <= CF_OUTCOME_COUNT; o++)
        free(m->memory[o]);
    pthread_mutex_destroy(&m->partitions_lock);
    free(m->partitions);
    free(m);
}

size_t cf_metrics_type_index(const struct cf_metrics *m, const char *type)
{
    for (size_t i = 0; type && i < m->ntypes; i++) {
        if (strcmp(m->types[i], type) == 0)
            return i;
    }
    return m->ntypes;
}

void cf_metrics_count(struct cf_metrics *m, enum cf_outcome outcome, size_t type, uint64_t n)
{
    if (type > m->ntypes)
        type = m->ntypes;
    cf_metric_add(&m->events[outcome][type], n);
}

void cf_metrics_count_reason(struct cf_metrics *m, const char *reason)
{
    char code[64];
    cf_reason_code(reason, code, sizeof(code));
    size_t i = 0;
    while (i < NREASONS - 1 && strcmp(cf_metrics_reason_codes[i], code) != 0)
        i++;
    cf_metric_add(&m->deadletter_reasons[i], 1);
}

static struct cf_slice_stat *slice_find(struct cf_metrics *m, const char *slice)
{
    size_t n = atomic_load_explicit(&m->nslices, memory_order_relaxed);
    if (!slice)
        return &m->slices[CF_METRICS_MAX_SLICES];
    for (size_t i = 0; i < n; i++) {
        if (m->slices[i].id == slice)
            return &m->slices[i];
    }
    /* Another pointer to the same kind (a kind built at start-up). */
    char label[sizeof(m->slices[0].label)];
    size_t len = 0;
    for (const char *p = slice; *p && len < sizeof(label) - 1; p++) {
        unsigned char c = (unsigned char)*p;
        label[len++] = (isalnum(c) || c == '_' || c == '.' || c == '-' || c == ':') ? (char)c
                                                                                     : '_';
    }
    while (len > 0 && label[len - 1] == ':')
        len--;
    label[len] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m->slices[i].label, label) == 0)
            return &m->slices[i];
    }
    if (n == CF_METRICS_MAX_SLICES || len == 0)
        return &m->slices[CF_METRICS_MAX_SLICES];
    struct cf_slice_stat *st = &m->slices[n];
    st->id = slice;
    memcpy(st->label, label, len + 1);
    atomic_store_explicit(&m->nslices, n + 1, memory_order_release);
    return st;
}

void cf_metrics_count_slice(struct cf_metrics *m, const char *slice, enum cf_slice_kind kind,
                            uint64_t n)
{
    cf_metric_add(&slice_find(m, slice)->ops[kind], n);
}

void cf_histogram_observe(struct cf_histogram *h, double value)
{
    size_t i = 0;
    while (i < h->nbounds && value > h->bounds[i])
        i++;
    cf_metric_add(&h->buckets[i], 1);
    cf_metric_add(&h->count, 1);
    cf_metric_add(&h->sum, value > 0 ? (uint64_t)(value * 1e6) : 0);
}

void cf_metrics_set_partitions(struct cf_metrics *m, const struct cf_partition_stat *parts,
                               size_t n)
{
    if (n > CF_METRICS_MAX_PARTITIONS)
        n = CF_METRICS_MAX_PARTITIONS;
    pthread_mutex_lock(&m->partitions_lock);
    memcpy(m->partitions, parts, n * sizeof(*parts));
    m->npartitions = n;
    pthread_mutex_unlock(&m->partitions_lock);
}

/* ------------------------------------------------------------------------
 * Prometheus text format
 * ------------------------------------------------------------------------ */

static void head(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct cf_metrics *m, FILE *out, const char *name, const char *help,
                    _Atomic uint64_t *v)
{
    head(out, name, "counter", help);
    fprintf(out, "%s{consumer=\"%s\"} %llu\n", name, m->consumer,
            (unsigned long long)cf_metric_get(v));
}

static void gauge(struct cf_metrics *m, FILE *out, const char *name, const char *help, long long v)
{
    head(out, name, "gauge", help);
    fprintf(out, "%s{consumer=\"%s\"} %lld\n", name, m->consumer, v);
}

static void histogram(struct cf_metrics *m, FILE *out, const char *name, const char *help,
                      struct cf_histogram *h)
{
    head(out, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += cf_metric_get(&h->buckets[i]);
        if (i < h->nbounds)
            fprintf(out, "%s_bucket{consumer=\"%s\",le=\"%g\"} %llu\n", name, m->consumer,
                    h->bounds[i], (unsigned long long)cum);
        else
            fprintf(out, "%s_bucket{consumer=\"%s\",le=\"+Inf\"} %llu\n", name, m->consumer,
                    (unsigned long long)cum);
    }
    fprintf(out, "%s_sum{consumer=\"%s\"} %.6f\n", name, m->consumer,
            (double)cf_metric_get(&h->sum) / 1e6);
    fprintf(out, "%s_count{consumer=\"%s\"} %llu\n", name, m->consumer,
            (unsigned long long)cf_metric_get(&h->count));
}

void cf_metrics_render(struct cf_metrics *m, FILE *out)
{
    static const char *const outcome_names[] = {"cachefleet_events_consumed_total",
                                                "cachefleet_events_applied_total",
                                                "cachefleet_events_deadlettered_total"};
    static const char *const outcome_help[] = {
        "Events read from Kafka, by event type.",
        "Events whose cache operations Redis acknowledged, by event type.",
        "Events sent to the dead-letter topic, by event type.",
    };
    for (int o = 0; o < CF_OUTCOME_COUNT; o++) {
        head(out, outcome_names[o], "counter", outcome_help[o]);
        for (size_t t = 0; t <= m->ntypes; t++)
            fprintf(out, "%s{consumer=\"%s\",type=\"%s\"} %llu\n", outcome_names[o], m->consumer,
                    t < m->ntypes ? m->types[t] : "unknown",
                    (unsigned long long)cf_metric_get(&m->events[o][t]));
    }
    head(out, "cachefleet_deadletter_reasons_total", "counter",
         "Events sent to the dead-letter topic, by reason code.");
    for (size_t r = 0; r < NREASONS; r++)
        fprintf(out, "cachefleet_deadletter_reasons_total{consumer=\"%s\",reason=\"%s\"} %llu\n",
                m->consumer, cf_metrics_reason_codes[r],
                (unsigned long long)cf_metric_get(&m->deadletter_reasons[r]));

    counter(m, out, "cachefleet_batches_total", "Batches applied.", &m->batches);
    counter(m, out, "cachefleet_ops_planned_total", "Cache operations planned, before coalescing.",
            &m->ops_planned);
    counter(m, out, "cachefleet_ops_sent_total", "Cache operations sent to Redis after coalescing.",
            &m->ops_sent);
    counter(m, out, "cachefleet_ops_refused_total",
            "Operations Redis refused because it held a newer state.", &m->ops_refused);
    counter(m, out, "cachefleet_keys_denied_total",
            "Tagged listings or sessions Redis's ACL did not let the fleet delete.",
            &m->keys_denied);
    counter(m, out, "cachefleet_redis_calls_total", "FCALLs sent to Redis.", &m->redis_calls);
    counter(m, out, "cachefleet_redis_round_trips_total", "Pipelined round trips to Redis.",
            &m->redis_round_trips);
    counter(m, out, "cachefleet_redis_retries_total", "Failed attempts to apply a batch to Redis.",
            &m->redis_retries);
    counter(m, out, "cachefleet_deadletter_retries_total",
            "Failed attempts to write to the dead-letter topic.", &m->deadletter_retries);
    counter(m, out, "cachefleet_commits_total", "Offset commits acknowledged by Kafka.",
            &m->commits);
    counter(m, out, "cachefleet_commit_errors_total", "Offset commits that failed.",
            &m->commit_errors);
    counter(m, out, "cachefleet_rebalances_total", "Partition assignments and revocations.",
            &m->rebalances);
    counter(m, out, "cachefleet_rewarms_total",
            "Partitions re-read from their first offset because Redis had lost their epoch.",
            &m->rewarms);

    gauge(m, out, "cachefleet_redis_up", "1 when connected to Redis with the functions loaded.",
          atomic_load(&m->redis_up));
    gauge(m, out, "cachefleet_broker_up", "1 when the consumer reaches a Kafka broker.",
          atomic_load(&m->broker_up));
    gauge(m, out, "cachefleet_assigned_partitions", "Partitions assigned to this instance.",
          atomic_load(&m->assigned_partitions));
    gauge(m, out, "cachefleet_paused", "1 while fetching is paused because a dependency is down.",
          atomic_load(&m->paused));
    gauge(m, out, "cachefleet_first_batch_timestamp_ms", "Unix time of the first applied batch.",
          (long long)atomic_load(&m->first_batch_unix_ms));
    gauge(m, out, "cachefleet_last_batch_timestamp_ms", "Unix time of the last applied batch.",
          (long long)atomic_load(&m->last_batch_unix_ms));
    head(out, "cachefleet_event_age_max_seconds", "gauge",
         "Age of the oldest event applied since start.");
    fprintf(out, "cachefleet_event_age_max_seconds{consumer=\"%s\"} %.6f\n", m->consumer,
            (double)atomic_load(&m->event_age_max_us) / 1e6);

    histogram(m, out, "cachefleet_batch_size_events", "Events per applied batch.", &m->batch_size);
    histogram(m, out, "cachefleet_redis_round_trip_seconds",
              "Time from sending a batch to Redis to reading its last reply (the next batch is planned meanwhile).", &m->redis_rtt);
    histogram(m, out, "cachefleet_event_age_seconds",
              "Age of an event (from its Kafka timestamp) when Redis acknowledged it.",
              &m->event_age);

    static const char *const slice_kinds[] = {"warm", "invalidate", "index"};
    head(out, "cachefleet_slice_ops_total", "counter",
         "Cache operations sent to Redis, by slice of the cache and what they did.");
    size_t nslices = atomic_load_explicit(&m->nslices, memory_order_acquire);
    for (size_t i = 0; i <= CF_METRICS_MAX_SLICES; i++) {
        if (i >= nslices && i < CF_METRICS_MAX_SLICES)
            continue;
        for (int k = 0; k < CF_SLICE_KINDS; k++) {
            uint64_t v = cf_metric_get(&m->slices[i].ops[k]);
            if (v == 0 && i == CF_METRICS_MAX_SLICES)
                continue;
            fprintf(out, "cachefleet_slice_ops_total{consumer=\"%s\",slice=\"%s\",kind=\"%s\"} %llu\n",
                    m->consumer, i < CF_METRICS_MAX_SLICES ? m->slices[i].label : "other",
                    slice_kinds[k], (unsigned long long)v);
        }
    }

    head(out, "cachefleet_consumer_lag", "gauge",
         "Messages behind the partition's end, from librdkafka's statistics.");
    pthread_mutex_lock(&m->partitions_lock);
    for (size_t i = 0; i < m->npartitions; i++) {
        const struct cf_partition_stat *p = &m->partitions[i];
        if (p->lag >= 0)
            fprintf(out, "cachefleet_consumer_lag{consumer=\"%s\",topic=\"%s\",partition=\"%d\"} %lld\n",
                    m->consumer, p->topic, (int)p->partition, (long long)p->lag);
    }
    pthread_mutex_unlock(&m->partitions_lock);
}
