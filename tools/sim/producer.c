/* producer.c - the simulator's librdkafka producer (see producer.h).
 *
 * DESIGN
 * Delivery failures are counted one by one but logged sparingly: the first
 * one, then every 10,000th, each with its error, so a dead broker does not
 * turn into a million log lines.  librdkafka's own log lines go through
 * cf_log with their syslog level mapped to ours.
 */
#include "producer.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TOPICS 16

struct topic {
    rd_kafka_topic_t *rkt;
    int32_t partitions; /* 0: unknown, librdkafka partitions */
    struct sim_producer_stats stats;
};

struct sim_producer {
    rd_kafka_t *rk;
    struct cf_log *lg; /* borrowed */
    struct topic topics[MAX_TOPICS];
    int ntopics;
    struct sim_producer_stats stats;
    bool fatal;
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------
 * Callbacks
 * ------------------------------------------------------------------------ */

/* The stats of the topic a message went to (NULL: not one of ours). */
static struct sim_producer_stats *topic_stats(struct sim_producer *p, const rd_kafka_topic_t *rkt)
{
    for (int i = 0; i < p->ntopics; i++) {
        if (p->topics[i].rkt == rkt)
            return &p->topics[i].stats;
    }
    return NULL;
}

/* Main thread, from rd_kafka_poll / rd_kafka_flush. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct sim_producer *p = opaque;
    struct sim_producer_stats *ts = topic_stats(p, msg->rkt);
    if (!msg->err) {
        p->stats.delivered++;
        if (ts)
            ts->delivered++;
        return;
    }
    p->stats.failed++;
    if (ts)
        ts->failed++;
    if (p->stats.failed == 1 || p->stats.failed % 10000 == 0)
        cf_log_emit(p->lg, CF_LOG_WARN, "delivery failed",
                    CF_LS("topic", rd_kafka_topic_name(msg->rkt)),
                    CF_LS("error", rd_kafka_err2str(msg->err)),
                    CF_LU("failed_so_far", p->stats.failed), CF_LEND);
}

/* Main thread, from rd_kafka_poll.  Most errors are transient and
 * librdkafka recovers on its own; a fatal one ends the run. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct sim_producer *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        p->fatal = true;
        cf_log_emit(p->lg, CF_LOG_ERROR, "kafka fatal error",
                    CF_LS("error", rd_kafka_err2name(orig)), CF_LS("reason", fatal), CF_LEND);
        return;
    }
    cf_log_emit(p->lg, CF_LOG_WARN, "kafka error", CF_LS("error", rd_kafka_err2name(err)),
                CF_LS("reason", reason), CF_LEND);
}

/* librdkafka's threads. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct sim_producer *p = rd_kafka_opaque(rk);
    enum cf_log_level lvl = level <= 3   ? CF_LOG_ERROR
                            : level == 4 ? CF_LOG_WARN
                            : level <= 6 ? CF_LOG_INFO
                                         : CF_LOG_DEBUG;
    cf_log_emit(p->lg, lvl, "librdkafka", CF_LS("fac", fac), CF_LS("text", buf), CF_LEND);
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

struct sim_producer *sim_producer_new(const char *brokers, struct cf_log *lg, char *errstr,
                                      size_t errstr_size)
{
    static const char *const settings[][2] = {
        {"compression.codec", "lz4"},
        {"linger.ms", "5"},
        {"acks", "all"},
        {"enable.idempotence", "true"},
        {"client.id", "cachefleet-sim"},
    };
    rd_kafka_conf_t *conf = NULL;
    struct sim_producer *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->lg = lg;
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, errstr_size) !=
        RD_KAFKA_CONF_OK)
        goto fail;
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, errstr_size) !=
            RD_KAFKA_CONF_OK)
            goto fail;
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!p->rk)
        goto fail;
    conf = NULL; /* owned by rk now */
    return p;

fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(p);
    return NULL;
}

void sim_producer_destroy(struct sim_producer *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->ntopics; i++)
        rd_kafka_topic_destroy(p->topics[i].rkt);
    if (p->rk)
        rd_kafka_destroy(p->rk);
    free(p);
}

/* ------------------------------------------------------------------------
 * Topics
 * ------------------------------------------------------------------------ */

int sim_producer_topic(struct sim_producer *p, const char *name, int timeout_ms, char *errstr,
                       size_t errstr_size)
{
    if (p->ntopics == MAX_TOPICS) {
        snprintf(errstr, errstr_size, "more than %d topics", MAX_TOPICS);
        return -1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, name, NULL);
    if (!rkt) {
        snprintf(errstr, errstr_size, "topic %s: %s", name,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    struct topic *t = &p->topics[p->ntopics];
    memset(t, 0, sizeof(*t));
    t->rkt = rkt;

    /* The first request may create the topic; its partitions have leaders
     * a moment later, so ask again until they do or time runs out. */
    int64_t deadline = monotonic_ms() + timeout_ms;
    rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        int64_t left = deadline - monotonic_ms();
        if (left <= 0)
            break;
        last = rd_kafka_metadata(p->rk, 0, rkt, &md, (int)left);
        if (last == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[0].partition_cnt > 0)
                t->partitions = md->topics[0].partition_cnt;
            else if (md->topic_cnt == 1)
                last = md->topics[0].err;
            rd_kafka_metadata_destroy(md);
            if (t->partitions > 0)
                break;
        }
        rd_kafka_poll(p->rk, 100);
    }
    if (t->partitions == 0)
        cf_log_emit(p->lg, CF_LOG_WARN, "partition count unknown; librdkafka will partition",
                    CF_LS("topic", name), CF_LS("error", rd_kafka_err2str(last)), CF_LEND);
    else
        cf_log_emit(p->lg, CF_LOG_INFO, "topic ready", CF_LS("topic", name),
                    CF_LI("partitions", t->partitions), CF_LEND);
    return p->ntopics++;
}

int32_t sim_producer_partition_count(const struct sim_producer *p, int topic)
{
    return p->topics[topic].partitions;
}

/* ------------------------------------------------------------------------
 * Producing
 * ------------------------------------------------------------------------ */

int sim_producer_send(struct sim_producer *p, int topic, const char *key, size_t keylen,
                      const void *payload, size_t len, int32_t *partition,
                      const volatile sig_atomic_t *stop, char *errstr, size_t errstr_size)
{
    struct topic *t = &p->topics[topic];
    int32_t part = RD_KAFKA_PARTITION_UA;
    if (t->partitions > 0)
        part = rd_kafka_msg_partitioner_consistent_random(t->rkt, key, keylen, t->partitions, NULL,
                                                          NULL);
    *partition = part;

    int64_t stop_seen = 0;
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(p->rk, RD_KAFKA_V_RKT(t->rkt), RD_KAFKA_V_PARTITION(part),
                              RD_KAFKA_V_KEY((void *)(uintptr_t)key, keylen),
                              RD_KAFKA_V_VALUE((void *)(uintptr_t)payload, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->stats.produced++;
            t->stats.produced++;
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            p->stats.failed++;
            t->stats.failed++;
            snprintf(errstr, errstr_size, "produce to %s: %s", rd_kafka_topic_name(t->rkt),
                     rd_kafka_err2str(err));
            return -1;
        }
        /* Queue full: let deliveries make room, then try again. */
        rd_kafka_poll(p->rk, 10);
        if (stop && *stop) {
            int64_t now = monotonic_ms();
            if (!stop_seen)
                stop_seen = now;
            else if (now - stop_seen > SIM_PRODUCER_STOP_GRACE_MS) {
                p->stats.failed++;
                t->stats.failed++;
                snprintf(errstr, errstr_size, "produce to %s: queue still full %d ms after stop",
                         rd_kafka_topic_name(t->rkt), SIM_PRODUCER_STOP_GRACE_MS);
                return -1;
            }
        }
    }
}

void sim_producer_poll(struct sim_producer *p, int timeout_ms)
{
    rd_kafka_poll(p->rk, timeout_ms);
}

uint64_t sim_producer_flush(struct sim_producer *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    uint64_t before = p->stats.failed;
    uint64_t left = p->stats.produced - p->stats.delivered - p->stats.failed;
    if (left == 0)
        return 0;
    /* Purged messages get delivery reports with __PURGE_QUEUE or
     * __PURGE_INFLIGHT, which dr_msg_cb counts as failed. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(p->rk, 1000);
    uint64_t purged = p->stats.failed - before;
    uint64_t still = p->stats.produced - p->stats.delivered - p->stats.failed;
    p->stats.failed += still; /* reports that never came */
    cf_log_emit(p->lg, CF_LOG_ERROR, "messages left undelivered at exit", CF_LU("count", left),
                CF_LI("flush_timeout_ms", timeout_ms), CF_LEND);
    return purged + still;
}

int sim_producer_fatal(const struct sim_producer *p)
{
    return p->fatal;
}

void sim_producer_get_stats(const struct sim_producer *p, struct sim_producer_stats *stats)
{
    *stats = p->stats;
}

void sim_producer_get_topic_stats(const struct sim_producer *p, int topic,
                                  struct sim_producer_stats *stats)
{
    if (topic < 0 || topic >= p->ntopics) {
        memset(stats, 0, sizeof(*stats));
        return;
    }
    *stats = p->topics[topic].stats;
}
