/* kafka.c - the benchmark's Kafka clients (see kafka.h for the contracts).
 *
 * DESIGN
 * Delivery reports are counted with relaxed atomics: the bulk producer
 * serves them on the main thread, the paced producer on its own thread,
 * and its final flush on the main thread.  Every wait is bounded and says
 * what it waited for.
 *
 * Thread: the main thread; paced_main() runs on the paced producer's own
 * thread and touches only its struct bench_paced and the read-only store.
 */
#include "kafka.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proc.h"

#define STALL_MS           120000 /* no acknowledgement for this long: give up */
#define READ_STALL_MS      60000
#define METADATA_MS        10000
#define WATERMARK_MS       10000
#define PACED_MIN_SLEEP_NS 1000000L

/* ------------------------------------------------------------------------
 * Producers
 * ------------------------------------------------------------------------ */

struct counts {
    _Atomic uint64_t delivered;
    _Atomic uint64_t failed;
    pthread_mutex_t lock; /* first_error */
    char first_error[256];
    /* The paced producer's acknowledgement latencies (produce call to
     * delivery report), microseconds; NULL elsewhere.  Each message's
     * produce time rides in its msg_opaque. */
    uint32_t *ack_us;
    size_t ack_cap;
    _Atomic size_t ack_n;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct counts *c = opaque;
    if (msg->err) {
        if (atomic_fetch_add_explicit(&c->failed, 1, memory_order_relaxed) == 0) {
            pthread_mutex_lock(&c->lock);
            snprintf(c->first_error, sizeof(c->first_error), "%s [%d]: %s",
                     rd_kafka_topic_name(msg->rkt), (int)msg->partition,
                     rd_kafka_err2str(msg->err));
            pthread_mutex_unlock(&c->lock);
        }
    } else {
        atomic_fetch_add_explicit(&c->delivered, 1, memory_order_relaxed);
        if (c->ack_us && msg->_private) {
            int64_t lat = bench_mono_us() - (int64_t)(intptr_t)msg->_private;
            size_t k = atomic_fetch_add_explicit(&c->ack_n, 1, memory_order_relaxed);
            if (k < c->ack_cap)
                c->ack_us[k] = lat < 0 ? 0 : lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
        }
    }
}

static int conf_set_all(rd_kafka_conf_t *conf, const char *const *kv, char *errstr,
                        size_t errstr_size)
{
    char why[256];
    for (; kv[0]; kv += 2) {
        if (rd_kafka_conf_set(conf, kv[0], kv[1], why, sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "librdkafka %s=%s: %s", kv[0], kv[1], why);
            return -1;
        }
    }
    return 0;
}

/* A producer counting its deliveries into c; linger in ms as text. */
static rd_kafka_t *producer_new(const char *bootstrap, const char *linger_ms, struct counts *c,
                                char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* clang-format off */
    const char *const kv[] = {
        "bootstrap.servers", bootstrap,
        "client.id", "cachefleet-bench-producer",
        "acks", "all",
        "compression.type", "lz4",
        "linger.ms", linger_ms,
        "batch.num.messages", "10000",
        "batch.size", "1000000",
        "queue.buffering.max.messages", "1000000",
        "queue.buffering.max.kbytes", "1048576",
        "message.timeout.ms", "300000",
        "log.connection.close", "false",
        NULL,
    };
    /* clang-format on */
    if (conf_set_all(conf, kv, errstr, errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, c);
    char why[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "librdkafka producer: %s", why);
        return NULL;
    }
    /* conf is owned by rk now */
    return rk;
}

/* Produces event i with msg_opaque opaque; waits out a full queue
 * (serving reports).  Returns 0, or -1 with errstr. */
static int produce_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const struct bench_events *es,
                       size_t i, void *opaque, const volatile sig_atomic_t *stop, char *errstr,
                       size_t errstr_size)
{
    const struct bench_event *e = &es->ev[i];
    /* No copy: librdkafka only reads the payload, which outlives delivery
     * (its API takes a non-const pointer for messages it may free). */
    void *payload = (void *)(uintptr_t)bench_events_payload(es, i);
    int64_t deadline = 0;
    for (;;) {
        if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, payload, e->len, e->key, strlen(e->key),
                             opaque) == 0)
            return 0;
        rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            snprintf(errstr, errstr_size, "produce to %s: %s", rd_kafka_topic_name(rkt),
                     rd_kafka_err2str(err));
            return -1;
        }
        if (!deadline)
            deadline = bench_mono_ms() + STALL_MS;
        if (bench_mono_ms() > deadline) {
            snprintf(errstr, errstr_size,
                     "produce to %s: librdkafka's queue stayed full for %d ms (the broker is "
                     "not acknowledging)",
                     rd_kafka_topic_name(rkt), STALL_MS);
            return -1;
        }
        if (*stop) {
            snprintf(errstr, errstr_size, "interrupted");
            return -1;
        }
        rd_kafka_poll(rk, 5);
    }
}

/* Waits until every produced message is acknowledged or failed. */
static int wait_acks(rd_kafka_t *rk, struct counts *c, uint64_t produced,
                     const volatile sig_atomic_t *stop, struct bench_progress *pg,
                     const char *label, char *errstr, size_t errstr_size)
{
    uint64_t last = 0;
    int64_t last_change = bench_mono_ms();
    for (;;) {
        uint64_t done = atomic_load(&c->delivered) + atomic_load(&c->failed);
        if (done >= produced)
            return 0;
        if (done != last) {
            last = done;
            last_change = bench_mono_ms();
        }
        if (bench_mono_ms() - last_change > STALL_MS) {
            snprintf(errstr, errstr_size,
                     "%s: waiting for acknowledgements: %llu of %llu after %d ms without progress",
                     label, (unsigned long long)done, (unsigned long long)produced, STALL_MS);
            return -1;
        }
        if (stop && *stop) {
            snprintf(errstr, errstr_size, "interrupted");
            return -1;
        }
        if (pg)
            bench_progress_update(pg, "%s: %llu of %llu acknowledged", label,
                                  (unsigned long long)done, (unsigned long long)produced);
        rd_kafka_flush(rk, 50);
    }
}

static void counts_init(struct counts *c)
{
    atomic_init(&c->delivered, 0);
    atomic_init(&c->failed, 0);
    pthread_mutex_init(&c->lock, NULL);
    c->first_error[0] = '\0';
    c->ack_us = NULL;
    c->ack_cap = 0;
    atomic_init(&c->ack_n, 0);
}

int bench_produce_all(const char *bootstrap, const char *topic, const struct bench_events *es,
                      size_t from, size_t to, const volatile sig_atomic_t *stop,
                      struct bench_progress *pg, const char *label,
                      struct bench_produce_result *res, char *errstr, size_t errstr_size)
{
    struct counts c;
    counts_init(&c);
    memset(res, 0, sizeof(*res));
    int rc = -1;
    rd_kafka_topic_t *rkt = NULL;
    rd_kafka_t *rk = producer_new(bootstrap, "20", &c, errstr, errstr_size);
    if (!rk)
        goto out;
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(errstr, errstr_size, "rd_kafka_topic_new %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        goto out;
    }
    int64_t t0 = bench_mono_us();
    for (size_t i = from; i < to; i++) {
        if (*stop) {
            snprintf(errstr, errstr_size, "interrupted");
            goto out;
        }
        if (produce_one(rk, rkt, es, i, NULL, stop, errstr, errstr_size) < 0)
            goto out;
        res->produced++;
        if ((i & 1023) == 0) {
            rd_kafka_poll(rk, 0);
            bench_progress_update(pg, "%s: produced %zu of %zu", label, i - from, to - from);
        }
    }
    if (wait_acks(rk, &c, res->produced, stop, pg, label, errstr, errstr_size) < 0)
        goto out;
    res->seconds = (double)(bench_mono_us() - t0) / 1e6;
    rc = 0;

out:
    bench_progress_done(pg);
    res->delivered = atomic_load(&c.delivered);
    res->failed = atomic_load(&c.failed);
    res->rate = res->seconds > 0 ? (double)res->delivered / res->seconds : 0;
    snprintf(res->first_error, sizeof(res->first_error), "%s", c.first_error);
    if (rc == 0 && res->failed > 0) {
        snprintf(errstr, errstr_size, "%s: %llu of %llu messages failed; the first: %s", label,
                 (unsigned long long)res->failed, (unsigned long long)res->produced, c.first_error);
        rc = -1;
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (rk) {
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 0);
        rd_kafka_destroy(rk);
    }
    pthread_mutex_destroy(&c.lock);
    return rc;
}

/* ------------------------------------------------------------------------
 * The paced producer
 * ------------------------------------------------------------------------ */

struct bench_paced {
    pthread_t thread;
    int thread_started;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    struct counts c;
    const struct bench_events *es;
    size_t from, to;
    double rate;
    const volatile sig_atomic_t *stop;
    _Atomic uint64_t produced;
    int64_t first_us, last_us; /* first and last produce call */
    int rc;
    char error[256];
};

static void *paced_main(void *arg)
{
    struct bench_paced *pp = arg;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int64_t t0_ns = (int64_t)start.tv_sec * 1000000000LL + start.tv_nsec;
    double ns_per_event = 1e9 / pp->rate;
    size_t k = pp->from;
    pp->first_us = bench_mono_us();
    while (k < pp->to && !*pp->stop) {
        struct timespec now_ts;
        clock_gettime(CLOCK_MONOTONIC, &now_ts);
        int64_t now_ns = (int64_t)now_ts.tv_sec * 1000000000LL + now_ts.tv_nsec;
        /* Event k is due at t0 + (k - from) / rate. */
        size_t due = pp->from + (size_t)((double)(now_ns - t0_ns) / ns_per_event) + 1;
        if (due > pp->to)
            due = pp->to;
        for (; k < due; k++) {
            /* The produce time, for the acknowledgement latency (+1:
             * never NULL). */
            void *sent = (void *)(intptr_t)(bench_mono_us() + 1);
            if (produce_one(pp->rk, pp->rkt, pp->es, k, sent, pp->stop, pp->error,
                            sizeof(pp->error)) < 0) {
                pp->rc = -1;
                return NULL;
            }
            atomic_fetch_add_explicit(&pp->produced, 1, memory_order_relaxed);
        }
        pp->last_us = bench_mono_us();
        rd_kafka_poll(pp->rk, 0);
        if (k >= pp->to)
            break;
        int64_t next_ns = t0_ns + (int64_t)((double)(k - pp->from) * ns_per_event);
        if (next_ns < now_ns + PACED_MIN_SLEEP_NS)
            next_ns = now_ns + PACED_MIN_SLEEP_NS;
        struct timespec next = {.tv_sec = next_ns / 1000000000LL,
                                .tv_nsec = next_ns % 1000000000LL};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
    if (k < pp->to) {
        snprintf(pp->error, sizeof(pp->error), "interrupted");
        pp->rc = -1;
        return NULL;
    }
    /* The last delivery reports are served here, as they come: their
     * latency is measured when served. */
    if (wait_acks(pp->rk, &pp->c, k - pp->from, pp->stop, NULL, "the broker", pp->error,
                  sizeof(pp->error)) < 0)
        pp->rc = -1;
    return NULL;
}

struct bench_paced *bench_paced_start(const char *bootstrap, const char *topic,
                                      const struct bench_events *es, size_t from, size_t to,
                                      double rate, const volatile sig_atomic_t *stop, char *errstr,
                                      size_t errstr_size)
{
    struct bench_paced *pp = calloc(1, sizeof(*pp));
    if (!pp) {
        snprintf(errstr, errstr_size, "paced producer: out of memory");
        return NULL;
    }
    counts_init(&pp->c);
    pp->c.ack_cap = to > from ? to - from : 1;
    pp->c.ack_us = malloc(pp->c.ack_cap * sizeof(*pp->c.ack_us));
    if (!pp->c.ack_us) {
        snprintf(errstr, errstr_size, "paced producer: out of memory");
        pthread_mutex_destroy(&pp->c.lock);
        free(pp);
        return NULL;
    }
    atomic_init(&pp->produced, 0);
    pp->es = es;
    pp->from = from;
    pp->to = to;
    pp->rate = rate > 0 ? rate : 1;
    pp->stop = stop;
    pp->rk = producer_new(bootstrap, "5", &pp->c, errstr, errstr_size);
    if (!pp->rk)
        goto fail;
    pp->rkt = rd_kafka_topic_new(pp->rk, topic, NULL);
    if (!pp->rkt) {
        snprintf(errstr, errstr_size, "rd_kafka_topic_new %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    /* Connected and the topic's leaders known before the schedule starts:
     * an event produced while the producer still looks them up waits in
     * its queue with its timestamp already set, and would count that
     * start-up in the consumer's event age (a site's producers run long
     * before a sale). */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t merr = rd_kafka_metadata(pp->rk, 0, pp->rkt, &md, 10000);
    if (merr) {
        snprintf(errstr, errstr_size, "paced producer: metadata of %s: %s", topic,
                 rd_kafka_err2str(merr));
        goto fail;
    }
    rd_kafka_metadata_destroy(md);
    int err = pthread_create(&pp->thread, NULL, paced_main, pp);
    if (err) {
        snprintf(errstr, errstr_size, "paced producer: pthread_create: %s", strerror(err));
        goto fail;
    }
    pp->thread_started = 1;
    return pp;

fail:
    if (pp->rkt)
        rd_kafka_topic_destroy(pp->rkt);
    if (pp->rk)
        rd_kafka_destroy(pp->rk);
    pthread_mutex_destroy(&pp->c.lock);
    free(pp->c.ack_us);
    free(pp);
    return NULL;
}

uint64_t bench_paced_produced(struct bench_paced *pp)
{
    return atomic_load_explicit(&pp->produced, memory_order_relaxed);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void bench_quantiles_us(uint32_t *us, size_t n, struct bench_latency *q)
{
    qsort(us, n, sizeof(*us), cmp_u32);
    q->have = 1;
    q->p50_s = us[(n - 1) / 2] / 1e6;
    q->p99_s = us[(size_t)((double)(n - 1) * 0.99)] / 1e6;
    q->max_s = us[n - 1] / 1e6;
}

int bench_paced_join(struct bench_paced *pp, struct bench_produce_result *res, char *errstr,
                     size_t errstr_size)
{
    memset(res, 0, sizeof(*res));
    if (pp->thread_started)
        pthread_join(pp->thread, NULL);
    int rc = pp->rc;
    if (rc < 0)
        snprintf(errstr, errstr_size, "paced producer: %s", pp->error);
    res->produced = atomic_load(&pp->produced);
    res->delivered = atomic_load(&pp->c.delivered);
    res->failed = atomic_load(&pp->c.failed);
    res->seconds = (double)(pp->last_us - pp->first_us) / 1e6;
    res->rate = res->seconds > 0 ? (double)res->produced / res->seconds : 0;
    snprintf(res->first_error, sizeof(res->first_error), "%s", pp->c.first_error);
    if (rc == 0 && res->failed > 0) {
        snprintf(errstr, errstr_size, "paced producer: %llu messages failed; the first: %s",
                 (unsigned long long)res->failed, pp->c.first_error);
        rc = -1;
    }
    size_t n = atomic_load(&pp->c.ack_n);
    if (n > pp->c.ack_cap)
        n = pp->c.ack_cap;
    if (n > 0)
        bench_quantiles_us(pp->c.ack_us, n, &res->ack);
    free(pp->c.ack_us);
    rd_kafka_topic_destroy(pp->rkt);
    rd_kafka_purge(pp->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(pp->rk, 0);
    rd_kafka_destroy(pp->rk);
    pthread_mutex_destroy(&pp->c.lock);
    free(pp);
    return rc;
}

/* ------------------------------------------------------------------------
 * Watermarks
 * ------------------------------------------------------------------------ */

/* The partition count of topic, or -1 with errstr. */
static int partition_count(rd_kafka_t *rk, const char *topic, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(errstr, errstr_size, "rd_kafka_topic_new %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    int64_t deadline = bench_mono_ms() + METADATA_MS;
    int cnt = -1;
    snprintf(errstr, errstr_size, "metadata of %s: no answer within %d ms", topic, METADATA_MS);
    while (cnt < 0 && bench_mono_ms() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 2000);
        if (err) {
            snprintf(errstr, errstr_size, "metadata of %s: %s", topic, rd_kafka_err2str(err));
        } else if (md->topic_cnt == 1 && md->topics[0].err) {
            snprintf(errstr, errstr_size, "metadata of %s: %s", topic,
                     rd_kafka_err2str(md->topics[0].err));
        } else if (md->topic_cnt == 1 && md->topics[0].partition_cnt > 0) {
            cnt = md->topics[0].partition_cnt;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (cnt < 0)
            bench_sleep_ms(100);
    }
    rd_kafka_topic_destroy(rkt);
    return cnt;
}

int bench_topic_verify(const char *bootstrap, const char *topic, uint64_t expected, int *partitions,
                       char *errstr, size_t errstr_size)
{
    struct counts c;
    counts_init(&c);
    int rc = -1;
    rd_kafka_t *rk = producer_new(bootstrap, "5", &c, errstr, errstr_size);
    if (!rk)
        goto out;
    int n = partition_count(rk, topic, errstr, errstr_size);
    if (n < 0)
        goto out;
    *partitions = n;
    uint64_t total = 0;
    int lost_parts = 0;
    int64_t lost_first = -1, lost_low = 0;
    for (int p = 0; p < n; p++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, WATERMARK_MS);
        if (err) {
            snprintf(errstr, errstr_size, "watermarks of %s [%d]: %s", topic, p,
                     rd_kafka_err2str(err));
            goto out;
        }
        if (lo != 0) {
            if (lost_parts++ == 0) {
                lost_first = p;
                lost_low = lo;
            }
        }
        total += (uint64_t)hi;
    }
    if (lost_parts > 0) {
        snprintf(errstr, errstr_size,
                 "the broker dropped data: %d of %d partitions of %s no longer start at offset 0 "
                 "(partition %lld starts at %lld): the mock keeps ~5 MiB per partition; use more "
                 "partitions or fewer events",
                 lost_parts, n, topic, (long long)lost_first, (long long)lost_low);
        goto out;
    }
    if (total != expected) {
        snprintf(errstr, errstr_size,
                 "the broker holds %llu messages in %s, %llu were produced and acknowledged",
                 (unsigned long long)total, topic, (unsigned long long)expected);
        goto out;
    }
    rc = 0;

out:
    if (rk)
        rd_kafka_destroy(rk);
    pthread_mutex_destroy(&c.lock);
    return rc;
}

/* ------------------------------------------------------------------------
 * Reading a topic
 * ------------------------------------------------------------------------ */

int bench_read_topic(const char *bootstrap, const char *topic, uint64_t count, bench_msg_cb cb,
                     void *opaque, const struct bench_read_opts *opts,
                     const volatile sig_atomic_t *stop, struct bench_progress *pg,
                     const char *label, struct bench_read_result *res, char *errstr,
                     size_t errstr_size)
{
    memset(res, 0, sizeof(*res));
    int rc = -1;
    rd_kafka_topic_partition_list_t *parts = NULL;
    char group[96];
    snprintf(group, sizeof(group), "cachefleet-bench-reader-%lld", (long long)bench_mono_us());
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* clang-format off */
    const char *const kv[] = {
        "bootstrap.servers", bootstrap,
        "client.id", "cachefleet-bench-reader",
        "group.id", group, /* never joined: assign() below */
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "enable.partition.eof", "false",
        "auto.offset.reset", "earliest",
        /* A prefetch that never fills: librdkafka 2.0.2 stops fetching a
         * partition whose queue is full and looks again only when its
         * broker thread next wakes (up to 1 s), which the consumer program
         * works around (source.c) but a bare reader does not.  (a) is
         * reading alone, not that stall. */
        "queued.max.messages.kbytes", "2097151",
        "queued.min.messages", "10000000",
        "log.connection.close", "false",
        NULL,
    };
    /* clang-format on */
    if (conf_set_all(conf, kv, errstr, errstr_size) < 0 ||
        (opts && opts->kv && conf_set_all(conf, opts->kv, errstr, errstr_size) < 0)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    char why[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "librdkafka consumer: %s", why);
        return -1;
    }
    /* conf is owned by rk now */
    rd_kafka_poll_set_consumer(rk);
    int n = partition_count(rk, topic, errstr, errstr_size);
    if (n < 0)
        goto out;
    parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, parts);
    if (err) {
        snprintf(errstr, errstr_size, "assign %s: %s", topic, rd_kafka_err2str(err));
        goto out;
    }
    if (opts && opts->on_assigned && opts->on_assigned(opts->opaque, errstr, errstr_size) < 0)
        goto out;
    int64_t first_us = 0, last_us = 0, last_msg_ms = bench_mono_ms();
    while (res->messages < count) {
        if (*stop) {
            snprintf(errstr, errstr_size, "interrupted");
            goto out;
        }
        if (bench_mono_ms() - last_msg_ms > READ_STALL_MS) {
            snprintf(errstr, errstr_size,
                     "%s: reading %s: %llu of %llu messages, then nothing for %d ms", label, topic,
                     (unsigned long long)res->messages, (unsigned long long)count, READ_STALL_MS);
            goto out;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (!msg)
            continue;
        if (msg->err) {
            rd_kafka_message_destroy(msg);
            continue; /* informational (a reconnect); the stall timer decides */
        }
        int64_t now = bench_mono_us();
        if (!first_us)
            first_us = now;
        last_us = now;
        last_msg_ms = now / 1000;
        res->messages++;
        int cb_rc = cb ? cb(msg, opaque) : 0;
        rd_kafka_message_destroy(msg);
        if (cb_rc < 0) {
            snprintf(errstr, errstr_size, "%s: stopped at message %llu", label,
                     (unsigned long long)res->messages);
            goto out;
        }
        if ((res->messages & 4095) == 0)
            bench_progress_update(pg, "%s: %llu of %llu", label, (unsigned long long)res->messages,
                                  (unsigned long long)count);
    }
    res->seconds = (double)(last_us - first_us) / 1e6;
    res->rate = res->seconds > 0 ? (double)res->messages / res->seconds : 0;
    rc = 0;

out:
    bench_progress_done(pg);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
