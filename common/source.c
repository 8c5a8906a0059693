/* source.c - the source stage: the Kafka consumer.
 *
 * DESIGN
 * At-least-once with librdkafka's own offset store: enable.auto.commit and
 * enable.auto.offset.store are off; the runtime calls cf_source_store()
 * after Redis acknowledged a batch, and cf_source_commit() commits what was
 * stored (rd_kafka_commit with a NULL list commits the stored offsets of
 * the assignment).  Offsets live in Kafka, where lag-based autoscalers read
 * them, never in Redis.
 *
 * The cooperative-sticky assignor is the default: when an instance joins or
 * leaves, only the partitions that move stop.  The eager protocol (set
 * through kafka.property) is handled too.
 *
 * Error events are informational in librdkafka except _FATAL; a broker that
 * is down is reported once when it goes and once when it returns, not once
 * per reconnect attempt.
 */
#include "source.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

struct cf_source {
    struct cf_kafka_owner owner; /* first: see cf_kafka_conf_new() */
    struct cf_source_hooks hooks;
    rd_kafka_t *rk;
    char *topic;
    rd_kafka_topic_partition_list_t *assigned;
    rd_kafka_topic_partition_list_t *paused;
    int fatal;
    int closed;     /* the group was left */
    int last_error; /* the last error event logged, so repeats are not */

    /* Replay (cf_source_new_replay): per partition id, the end offset to
     * read up to and the next offset expected; NULL for a group consumer. */
    int64_t *replay_end;
    int64_t *replay_next;
    int32_t replay_partitions;
    int64_t replay_read, replay_total;

    struct refill {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        int started;
        /* Under lock: */
        rd_kafka_topic_partition_list_t *parts; /* what the next query covers */
        int want, stop;
        /* The refill thread only: when its last query went. */
        int64_t sent_ms;
        /* The runtime's thread only: when parts was last built. */
        int64_t built_ms;
    } refill;
};

/* The librdkafka property that makes the refill thread unneeded. */
#define FETCH_QUEUE_BACKOFF "fetch.queue.backoff.ms"

static int backoff_known(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size);
static void refill_start(struct cf_source *src, bool needed);
static void refill_stop(struct cf_source *src);

/* ------------------------------------------------------------------------
 * Configuration shared by the consumer and the dead-letter producer
 * ------------------------------------------------------------------------ */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct cf_kafka_owner *o = rd_kafka_opaque(rk);
    enum cf_log_level l = level <= LOG_ERR       ? CF_LOG_ERROR
                          : level == LOG_WARNING ? CF_LOG_WARN
                          : level <= LOG_INFO    ? CF_LOG_INFO
                                                 : CF_LOG_DEBUG;
    if (o)
        cf_log_emit(o->lg, l, "librdkafka", CF_LS("facility", fac), CF_LS("detail", buf), CF_LEND);
}

static int set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *setting,
               char *errstr, size_t errstr_size)
{
    char why[512];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "setting %s: librdkafka refused %s: %s", setting, name, why);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *cf_kafka_conf_new(const struct cf_settings *s, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct {
        const char *name, *value, *setting;
    } props[] = {
        {"bootstrap.servers", s->kafka_brokers, "kafka.brokers"},
        {"client.id", s->kafka_client_id, "kafka.client_id"},
        {"security.protocol", s->kafka_security_protocol, "kafka.security_protocol"},
        {"sasl.mechanisms", s->kafka_sasl_mechanism, "kafka.sasl_mechanism"},
        {"sasl.username", s->kafka_sasl_username, "kafka.sasl_username"},
        {"sasl.password", s->kafka_sasl_password, "kafka.sasl_password"},
        {"ssl.ca.location", s->kafka_ssl_ca_location, "kafka.ssl_ca_location"},
        {"ssl.certificate.location", s->kafka_ssl_certificate_location,
         "kafka.ssl_certificate_location"},
        {"ssl.key.location", s->kafka_ssl_key_location, "kafka.ssl_key_location"},
        {"ssl.key.password", s->kafka_ssl_key_password, "kafka.ssl_key_password"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (props[i].value && props[i].value[0] &&
            set(conf, props[i].name, props[i].value, props[i].setting, errstr, errstr_size) < 0)
            goto fail;
    }
    for (size_t i = 0; i < s->kafka_properties.count; i++) {
        char setting[256];
        snprintf(setting, sizeof(setting), "kafka.property.%s", s->kafka_properties.names[i]);
        if (set(conf, s->kafka_properties.names[i], s->kafka_properties.values[i], setting, errstr,
                errstr_size) < 0)
            goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;

fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Callbacks (the runtime's thread: they are served by consumer_poll)
 * ------------------------------------------------------------------------ */

static char *partitions_text(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < parts->cnt && len + 16 < size; i++) {
        int n =
            snprintf(buf + len, size - len, "%s%d", i ? "," : "", (int)parts->elems[i].partition);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    return buf;
}

static void list_remove(rd_kafka_topic_partition_list_t *list,
                        const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++)
        rd_kafka_topic_partition_list_del(list, parts->elems[i].topic, parts->elems[i].partition);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct cf_source *src = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    char text[1024];
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    cf_metric_add(&src->owner.m->rebalances, 1);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        cf_log_emit(src->owner.lg, CF_LOG_INFO, "partitions assigned", CF_LS("topic", src->topic),
                    CF_LS("partitions", partitions_text(parts, text, sizeof(text))),
                    CF_LS("protocol", cooperative ? "cooperative" : "eager"), CF_LEND);
        for (int i = 0; i < parts->cnt; i++)
            rd_kafka_topic_partition_list_add(src->assigned, parts->elems[i].topic,
                                              parts->elems[i].partition);
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, parts);
    } else {
        int lost = rd_kafka_assignment_lost(rk);
        cf_log_emit(src->owner.lg, lost ? CF_LOG_WARN : CF_LOG_INFO,
                    lost ? "partitions lost" : "partitions revoked", CF_LS("topic", src->topic),
                    CF_LS("partitions", partitions_text(parts, text, sizeof(text))), CF_LEND);
        if (src->hooks.before_revoke)
            src->hooks.before_revoke(src->hooks.opaque, parts, lost);
        if (!lost)
            cf_source_commit(src, 0);
        list_remove(src->assigned, parts);
        list_remove(src->paused, parts);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, NULL);
    }
    if (error) {
        cf_log_emit(src->owner.lg, CF_LOG_ERROR, "assignment change failed",
                    CF_LS("error", rd_kafka_error_string(error)), CF_LEND);
        rd_kafka_error_destroy(error);
    } else if (rerr) {
        cf_log_emit(src->owner.lg, CF_LOG_ERROR, "assignment change failed",
                    CF_LS("error", rd_kafka_err2str(rerr)), CF_LEND);
    }
    atomic_store(&src->owner.m->assigned_partitions, src->assigned->cnt);
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    struct cf_source *src = opaque;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return; /* nothing new was stored */
    if (err) {
        cf_metric_add(&src->owner.m->commit_errors, 1);
        cf_log_emit(src->owner.lg, CF_LOG_WARN, "offset commit failed",
                    CF_LS("error", rd_kafka_err2str(err)), CF_LEND);
    } else {
        cf_metric_add(&src->owner.m->commits, 1);
    }
}

/* Reads consumer lag per assigned partition and broker reachability from
 * librdkafka's statistics JSON. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    (void)rk;
    struct cf_source *src = opaque;
    json_t *root = json_loadb(json, json_len, 0, NULL);
    if (!root)
        return 0;
    static const size_t max = CF_METRICS_MAX_PARTITIONS;
    struct cf_partition_stat *parts = calloc(max, sizeof(*parts));
    size_t n = 0;
    const char *tname;
    json_t *topic;
    json_object_foreach(json_object_get(root, "topics"), tname, topic)
    {
        const char *pname;
        json_t *p;
        json_object_foreach(json_object_get(topic, "partitions"), pname, p)
        {
            json_int_t id = json_integer_value(json_object_get(p, "partition"));
            json_int_t lag = json_integer_value(json_object_get(p, "consumer_lag"));
            if (id < 0 || !parts || n >= max)
                continue;
            const char *state = json_string_value(json_object_get(p, "fetch_state"));
            if (!state || strcmp(state, "none") == 0)
                continue;
            struct cf_partition_stat *ps = &parts[n++];
            snprintf(ps->topic, sizeof(ps->topic), "%s", tname);
            ps->partition = (int32_t)id;
            ps->lag = json_object_get(p, "consumer_lag") ? lag : -1;
            ps->committed = json_integer_value(json_object_get(p, "committed_offset"));
            ps->position = json_integer_value(json_object_get(p, "app_offset"));
        }
    }
    int up = 0;
    const char *bname;
    json_t *b;
    json_object_foreach(json_object_get(root, "brokers"), bname, b)
    {
        const char *state = json_string_value(json_object_get(b, "state"));
        json_int_t nodeid = json_integer_value(json_object_get(b, "nodeid"));
        if (state && strcmp(state, "UP") == 0 && nodeid >= 0)
            up = 1;
    }
    atomic_store(&src->owner.m->broker_up, up);
    if (parts)
        cf_metrics_set_partitions(src->owner.m, parts, n);
    free(parts);
    json_decref(root);
    return 0; /* librdkafka frees json */
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct cf_source *src = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof(why));
        src->fatal = 1;
        cf_log_emit(src->owner.lg, CF_LOG_ERROR, "fatal consumer error", CF_LS("error", why),
                    CF_LEND);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&src->owner.m->broker_up, 0);
    if (err != src->last_error) {
        src->last_error = err;
        cf_log_emit(src->owner.lg, CF_LOG_WARN, "kafka error",
                    CF_LS("error", rd_kafka_err2name((rd_kafka_resp_err_t)err)),
                    CF_LS("detail", reason), CF_LEND);
    }
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

static int replay_assign(struct cf_source *src, const struct cf_settings *s, char *errstr,
                         size_t errstr_size);

static struct cf_source *source_new(const struct cf_settings *s, struct cf_log *lg,
                                    struct cf_metrics *m, const struct cf_source_hooks *hooks,
                                    int replay, char *errstr, size_t errstr_size)
{
    struct cf_source *src = calloc(1, sizeof(*src));
    if (!src)
        abort();
    src->owner.lg = lg;
    src->owner.m = m;
    src->hooks = *hooks;
    src->topic = strdup(s->kafka_topic);
    src->assigned = rd_kafka_topic_partition_list_new(64);
    src->paused = rd_kafka_topic_partition_list_new(64);
    src->last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_t *topics = NULL;

    rd_kafka_conf_t *conf = cf_kafka_conf_new(s, errstr, errstr_size);
    if (!conf)
        goto fail;
    char session[24], poll_interval[24], queued[24], queued_min[24], stats[24], wait[24],
        fetch_max[24];
    /* A replay never commits; its own group id keeps it away from the
     * group's coordinator state even if a commit were attempted. */
    char replay_group[300];
    snprintf(replay_group, sizeof(replay_group), "%s.rewarm", s->kafka_group_id);
    snprintf(session, sizeof(session), "%lld", s->kafka_session_timeout_ms);
    snprintf(poll_interval, sizeof(poll_interval), "%lld", s->kafka_max_poll_interval_ms);
    snprintf(queued, sizeof(queued), "%lld", s->kafka_queued_max_kbytes);
    snprintf(queued_min, sizeof(queued_min), "%lld", s->kafka_queued_min_messages);
    snprintf(stats, sizeof(stats), "%lld", s->kafka_statistics_interval_ms);
    snprintf(wait, sizeof(wait), "%lld", s->kafka_fetch_wait_max_ms);
    snprintf(fetch_max, sizeof(fetch_max), "%lld", s->kafka_fetch_max_bytes);
    struct {
        const char *name, *value, *setting;
    } props[] = {
        {"group.id", replay ? replay_group : s->kafka_group_id, "kafka.group_id"},
        {"enable.auto.commit", "false", NULL},
        {"enable.auto.offset.store", "false", NULL},
        /* A replay learns a partition's end from the EOF event too: the
         * end offset may be a transaction marker no message is read at. */
        {"enable.partition.eof", replay ? "true" : "false", NULL},
        {"auto.offset.reset", s->kafka_auto_offset_reset, "kafka.auto_offset_reset"},
        {"partition.assignment.strategy", "cooperative-sticky", NULL},
        {"session.timeout.ms", session, "kafka.session_timeout_ms"},
        {"max.poll.interval.ms", poll_interval, "kafka.max_poll_interval_ms"},
        {"queued.max.messages.kbytes", queued, "kafka.queued_max_kbytes"},
        {"queued.min.messages", queued_min, "kafka.queued_min_messages"},
        {"statistics.interval.ms", stats, "kafka.statistics_interval_ms"},
        {"fetch.wait.max.ms", wait, "kafka.fetch_wait_max_ms"},
        {"fetch.max.bytes", fetch_max, "kafka.fetch_max_bytes"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        /* Pass-through properties (kafka.property) win over these, except
         * what a replay's end depends on (set again below). */
        bool overridden = false;
        for (size_t j = 0; j < s->kafka_properties.count; j++)
            overridden |= strcmp(s->kafka_properties.names[j], props[i].name) == 0;
        if (overridden)
            continue;
        if (set(conf, props[i].name, props[i].value,
                props[i].setting ? props[i].setting : props[i].name, errstr, errstr_size) < 0)
            goto fail_conf;
    }
    /* The wait after a full prefetch queue is a setting from librdkafka 2.2
     * on (1 s by default); the refill thread is for the ones that do not
     * know it.  Whether this one does is asked of it, not read from its
     * version.  An operator's own value (kafka.property) is in force, or
     * librdkafka refused it above. */
    bool backoff_set = false;
    for (size_t j = 0; j < s->kafka_properties.count; j++)
        backoff_set |= strcmp(s->kafka_properties.names[j], FETCH_QUEUE_BACKOFF) == 0;
    bool refill_needed = false;
    if (!backoff_set) {
        int known = backoff_known(conf, errstr, errstr_size);
        if (known < 0)
            goto fail_conf;
        refill_needed = !known;
    }
    if (replay) {
        /* A replay ends at each partition's end offset or EOF; a reset to
         * the latest offset (a segment deleted under it) would skip what it
         * is there to read and still look complete. */
        if (set(conf, "auto.offset.reset", "earliest", "kafka.auto_offset_reset", errstr,
                errstr_size) < 0 ||
            set(conf, "enable.partition.eof", "true", "kafka.property.enable_partition_eof", errstr,
                errstr_size) < 0)
            goto fail_conf;
    }
    rd_kafka_conf_set_opaque(conf, src);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);

    char why[512];
    src->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!src->rk) {
        snprintf(errstr, errstr_size, "kafka consumer: %s", why);
        goto fail_conf;
    }
    conf = NULL; /* now owned by the handle */
    rd_kafka_poll_set_consumer(src->rk);
    refill_start(src, refill_needed);

    if (replay) {
        if (replay_assign(src, s, errstr, errstr_size) < 0)
            goto fail;
        return src;
    }
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, s->kafka_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(src->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errstr, errstr_size, "setting kafka.topic: cannot subscribe to %s: %s",
                 s->kafka_topic, rd_kafka_err2str(err));
        goto fail;
    }
    return src;

fail_conf:
    if (conf)
        rd_kafka_conf_destroy(conf);
fail:
    cf_source_destroy(src);
    return NULL;
}

struct cf_source *cf_source_new(const struct cf_settings *s, struct cf_log *lg,
                                struct cf_metrics *m, const struct cf_source_hooks *hooks,
                                char *errstr, size_t errstr_size)
{
    return source_new(s, lg, m, hooks, 0, errstr, errstr_size);
}

struct cf_source *cf_source_new_replay(const struct cf_settings *s, struct cf_log *lg,
                                       struct cf_metrics *m, char *errstr, size_t errstr_size)
{
    struct cf_source_hooks none = {NULL, NULL};
    return source_new(s, lg, m, &none, 1, errstr, errstr_size);
}

/* Looks up the topic's partitions and their watermarks, and assigns every
 * partition that holds messages from its low watermark. */
static int replay_assign(struct cf_source *src, const struct cf_settings *s, char *errstr,
                         size_t errstr_size)
{
    int timeout = (int)s->kafka_session_timeout_ms;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(src->rk, s->kafka_topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int64_t deadline = cf_mono_ms() + timeout;
    /* A topic the broker is still creating answers with no partitions. */
    for (;;) {
        err = rd_kafka_metadata(src->rk, 0, rkt, &md, timeout);
        if (!err && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
            break;
        if (!err) {
            err = md->topic_cnt == 1 && md->topics[0].err ? md->topics[0].err
                                                          : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
            rd_kafka_metadata_destroy(md);
            md = NULL;
        }
        if (cf_mono_ms() >= deadline) {
            snprintf(errstr, errstr_size, "setting kafka.topic: no partitions of %s: %s",
                     s->kafka_topic, rd_kafka_err2str(err));
            rd_kafka_topic_destroy(rkt);
            return -1;
        }
        usleep(200 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    int32_t n = 0;
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        if (md->topics[0].partitions[i].id + 1 > n)
            n = md->topics[0].partitions[i].id + 1;
    }
    src->replay_partitions = n;
    src->replay_end = calloc((size_t)n, sizeof(*src->replay_end));
    src->replay_next = calloc((size_t)n, sizeof(*src->replay_next));
    if (!src->replay_end || !src->replay_next)
        abort();
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    int rc = 0;
    for (int i = 0; i < md->topics[0].partition_cnt && rc == 0; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t low = 0, high = 0;
        err = rd_kafka_query_watermark_offsets(src->rk, s->kafka_topic, p, &low, &high, timeout);
        if (err) {
            snprintf(errstr, errstr_size, "kafka: end offsets of %s [%d]: %s", s->kafka_topic,
                     (int)p, rd_kafka_err2str(err));
            rc = -1;
            break;
        }
        src->replay_end[p] = high;
        src->replay_next[p] = high > low ? low : high;
        if (high > low) {
            src->replay_total += high - low;
            rd_kafka_topic_partition_list_add(parts, s->kafka_topic, p)->offset = low;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (rc == 0 && parts->cnt > 0) {
        err = rd_kafka_assign(src->rk, parts);
        if (err) {
            snprintf(errstr, errstr_size, "kafka: cannot assign %s: %s", s->kafka_topic,
                     rd_kafka_err2str(err));
            rc = -1;
        } else {
            rd_kafka_topic_partition_list_destroy(src->assigned);
            src->assigned = rd_kafka_topic_partition_list_copy(parts);
            atomic_store(&src->owner.m->assigned_partitions, parts->cnt);
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

int cf_source_replay_done(const struct cf_source *src, int64_t *read, int64_t *total)
{
    if (read)
        *read = src->replay_read;
    if (total)
        *total = src->replay_total;
    if (!src->replay_end)
        return 0;
    for (int32_t p = 0; p < src->replay_partitions; p++) {
        if (src->replay_next[p] < src->replay_end[p])
            return 0;
    }
    return 1;
}

void cf_source_close(struct cf_source *src)
{
    if (!src || !src->rk || src->closed)
        return;
    refill_stop(src);
    /* Leaves the group: the rebalance callback runs once more and the
     * before_revoke hook gets its last chance. */
    rd_kafka_consumer_close(src->rk);
    src->closed = 1;
}

void cf_source_destroy(struct cf_source *src)
{
    if (!src)
        return;
    if (src->rk) {
        cf_source_close(src);
        rd_kafka_destroy(src->rk);
    }
    rd_kafka_topic_partition_list_destroy(src->assigned);
    rd_kafka_topic_partition_list_destroy(src->paused);
    free(src->replay_end);
    free(src->replay_next);
    free(src->topic);
    free(src);
}

rd_kafka_t *cf_source_handle(struct cf_source *src)
{
    return src->rk;
}

int cf_source_fatal(const struct cf_source *src)
{
    return src->fatal;
}

/* ------------------------------------------------------------------------
 * Messages and offsets
 * ------------------------------------------------------------------------ */

/* A replayed partition reached its end: no more fetching (not in the
 * paused list, which cf_source_resume() resumes). */
static void replay_stop(struct cf_source *src, const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, topic, partition);
    rd_kafka_pause_partitions(src->rk, one);
    rd_kafka_topic_partition_list_destroy(one);
}

rd_kafka_message_t *cf_source_poll(struct cf_source *src, int timeout_ms)
{
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(src->rk, timeout_ms);
    if (!msg)
        return NULL;
    if (!msg->err) {
        if (src->last_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
            cf_log_emit(src->owner.lg, CF_LOG_INFO, "kafka consuming again", CF_LEND);
            src->last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        atomic_store(&src->owner.m->broker_up, 1);
        if (src->replay_end) {
            int32_t p = msg->partition;
            if (p < 0 || p >= src->replay_partitions || msg->offset >= src->replay_end[p]) {
                /* Past the end the replay covers: the group's consumers
                 * apply it.  Stop fetching that partition. */
                if (p >= 0 && p < src->replay_partitions)
                    src->replay_next[p] = src->replay_end[p];
                replay_stop(src, rd_kafka_topic_name(msg->rkt), p);
                rd_kafka_message_destroy(msg);
                return NULL;
            }
            src->replay_next[p] = msg->offset + 1;
            src->replay_read++;
            if (src->replay_next[p] >= src->replay_end[p])
                replay_stop(src, rd_kafka_topic_name(msg->rkt), p);
        }
        return msg;
    }
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        int32_t p = msg->partition;
        if (src->replay_end && p >= 0 && p < src->replay_partitions &&
            msg->offset >= src->replay_end[p] && src->replay_next[p] < src->replay_end[p]) {
            src->replay_next[p] = src->replay_end[p];
            replay_stop(src, rd_kafka_topic_name(msg->rkt), p);
        }
        rd_kafka_message_destroy(msg);
        return NULL;
    }
    if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
        src->fatal = 1;
        char why[512];
        rd_kafka_fatal_error(src->rk, why, sizeof(why));
        cf_log_emit(src->owner.lg, CF_LOG_ERROR, "fatal consumer error", CF_LS("error", why),
                    CF_LEND);
    } else if ((int)msg->err != src->last_error) {
        src->last_error = msg->err;
        cf_log_emit(src->owner.lg, CF_LOG_WARN, "consumer error",
                    CF_LS("error", rd_kafka_err2name(msg->err)),
                    CF_LS("detail", rd_kafka_message_errstr(msg)), CF_LEND);
    }
    rd_kafka_message_destroy(msg);
    return NULL;
}

int cf_source_assigned(const struct cf_source *src, const char *topic, int32_t partition)
{
    return rd_kafka_topic_partition_list_find(src->assigned, topic, partition) != NULL;
}

void cf_source_store(struct cf_source *src, rd_kafka_message_t *const *msgs, size_t n)
{
    if (src->replay_end)
        return; /* a replay commits nothing */
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *msg = msgs[i];
        const char *topic = rd_kafka_topic_name(msg->rkt);
        if (!cf_source_assigned(src, topic, msg->partition))
            continue; /* revoked meanwhile: its new owner reads it again */
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(offsets, topic, msg->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(offsets, topic, msg->partition);
        if (msg->offset + 1 > p->offset)
            p->offset = msg->offset + 1;
    }
    if (offsets->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(src->rk, offsets);
        if (err && err != RD_KAFKA_RESP_ERR__STATE)
            cf_log_emit(src->owner.lg, CF_LOG_WARN, "offset store failed",
                        CF_LS("error", rd_kafka_err2str(err)), CF_LEND);
    }
    rd_kafka_topic_partition_list_destroy(offsets);
}

int cf_source_commit(struct cf_source *src, int async)
{
    if (src->replay_end)
        return 0;
    rd_kafka_resp_err_t err = rd_kafka_commit(src->rk, NULL, async);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        if (!async) {
            /* Synchronous commits also go through commit_cb. */
            return -1;
        }
        cf_metric_add(&src->owner.m->commit_errors, 1);
        cf_log_emit(src->owner.lg, CF_LOG_WARN, "offset commit failed",
                    CF_LS("error", rd_kafka_err2str(err)), CF_LEND);
        return -1;
    }
    return 0;
}

const rd_kafka_topic_partition_list_t *cf_source_assignment(const struct cf_source *src)
{
    return src->assigned;
}

int cf_source_rewind(struct cf_source *src, const char *topic, int32_t partition, int64_t *low,
                     char *errstr, size_t errstr_size)
{
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(src->rk, topic, partition, &lo, &hi, 10000);
    if (err) {
        snprintf(errstr, errstr_size, "watermarks of %s [%d]: %s", topic, (int)partition,
                 rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, topic, partition)->offset = lo;
    rd_kafka_error_t *error = rd_kafka_seek_partitions(src->rk, one, 10000);
    int rc = 0;
    if (error) {
        snprintf(errstr, errstr_size, "seek %s [%d]: %s", topic, (int)partition,
                 rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        rc = -1;
    } else if (one->elems[0].err) {
        snprintf(errstr, errstr_size, "seek %s [%d]: %s", topic, (int)partition,
                 rd_kafka_err2str(one->elems[0].err));
        rc = -1;
    }
    if (rc == 0) {
        one->elems[0].offset = lo;
        one->elems[0].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        rd_kafka_offsets_store(src->rk, one);
        err = rd_kafka_commit(src->rk, one, 0);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            snprintf(errstr, errstr_size, "commit %s [%d] at %lld: %s", topic, (int)partition,
                     (long long)lo, rd_kafka_err2str(err));
            rc = -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(one);
    *low = lo;
    return rc;
}

/* ------------------------------------------------------------------------
 * Refilling the prefetch queue
 * ------------------------------------------------------------------------ */

/* librdkafka 2.2 added fetch.queue.backoff.ms; older ones stop fetching a
 * partition whose prefetch queue went over queued.max.messages.kbytes (or
 * queued.min.messages) and look at it again only when its broker thread
 * next wakes: up to a second later (rd_kafka_max_block_ms), however fast
 * the queue drains.  Any request for that broker wakes its thread, and a
 * ListOffsets query (rd_kafka_offsets_for_times at the latest offset) is
 * one that changes nothing: the thread then sees the room in the queue and
 * fetches.  Resuming the partitions would wake it too, but every resume is
 * a new version barrier that throws the prefetched messages away.  The
 * query is synchronous, so a thread of the source's makes it, at most
 * once per REFILL_MIN_MS while events arrive.  Whether the queue is over
 * its limits cannot be asked; "a full batch" is no sign of it either: a
 * 4 MiB queue holds 400 events of 10 KB, far from a batch of 2,000.
 *
 * A request is never dropped, only delayed: one that comes sooner than
 * REFILL_MIN_MS after the last query, or while a query is out, is made
 * when its turn comes.  The batch that empties a queue of large events
 * may be the last one to ask before the stall (each batch takes the whole
 * queue); dropping its request left such a consumer waiting a second per
 * queue (10 KB events: 1,800 events/s instead of the tens of thousands a
 * reader gets). */
#define REFILL_MIN_MS 10

/* Sets fetch.queue.backoff.ms to REFILL_MIN_MS where librdkafka knows it.
 * Returns 1 (set), 0 (an older librdkafka: the refill thread is needed),
 * or -1 with errstr (refused for another reason). */
static int backoff_known(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
    char value[16], why[512];
    snprintf(value, sizeof(value), "%d", REFILL_MIN_MS);
    rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, FETCH_QUEUE_BACKOFF, value, why, sizeof(why));
    if (res == RD_KAFKA_CONF_OK)
        return 1;
    if (res == RD_KAFKA_CONF_UNKNOWN)
        return 0;
    snprintf(errstr, errstr_size, "setting %s: librdkafka refused it: %s", FETCH_QUEUE_BACKOFF,
             why);
    return -1;
}

static void *refill_main(void *arg)
{
    struct cf_source *src = arg;
    struct refill *r = &src->refill;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->want && !r->stop)
            pthread_cond_wait(&r->wake, &r->lock);
        if (r->stop)
            break;
        /* Its turn: REFILL_MIN_MS after the last query (the stop request
         * waits at most that long). */
        int64_t wait_ms = r->sent_ms + REFILL_MIN_MS - cf_mono_ms();
        if (wait_ms > 0) {
            pthread_mutex_unlock(&r->lock);
            struct timespec ts = {0, (long)wait_ms * 1000000L};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&r->lock);
            if (r->stop)
                break;
        }
        r->want = 0;
        rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(r->parts);
        pthread_mutex_unlock(&r->lock);
        if (q->cnt) {
            r->sent_ms = cf_mono_ms();
            for (int i = 0; i < q->cnt; i++)
                q->elems[i].offset = RD_KAFKA_OFFSET_END; /* as a timestamp: the latest */
            /* The answer does not matter; a failure (a broker down) is the
             * consumer's to report. */
            rd_kafka_offsets_for_times(src->rk, q, 1000);
        }
        rd_kafka_topic_partition_list_destroy(q);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* needed: librdkafka does not know fetch.queue.backoff.ms. */
static void refill_start(struct cf_source *src, bool needed)
{
    struct refill *r = &src->refill;
    if (!needed)
        return;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    r->parts = rd_kafka_topic_partition_list_new(1);
    if (pthread_create(&r->thread, NULL, refill_main, src) != 0) {
        /* Fetching still works, with librdkafka's pauses. */
        rd_kafka_topic_partition_list_destroy(r->parts);
        r->parts = NULL;
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        cf_log_emit(src->owner.lg, CF_LOG_WARN, "cannot start the prefetch refill thread", CF_LEND);
        return;
    }
    r->started = 1;
}

int cf_source_refilling(const struct cf_source *src)
{
    return src->refill.started;
}

static void refill_stop(struct cf_source *src)
{
    struct refill *r = &src->refill;
    if (!r->started)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    rd_kafka_topic_partition_list_destroy(r->parts);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    r->started = 0;
}

void cf_source_refill(struct cf_source *src)
{
    struct refill *r = &src->refill;
    if (!r->started)
        return;
    int64_t now = cf_mono_ms();
    if (now - r->built_ms < REFILL_MIN_MS) {
        /* The list of the last request still serves (a few ms old). */
        pthread_mutex_lock(&r->lock);
        r->want = 1;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        return;
    }
    r->built_ms = now;
    /* The partitions that are fetching: assigned, not paused by us, not
     * finished by a replay (a few; built at most every REFILL_MIN_MS). */
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(src->assigned->cnt + 1);
    for (int i = 0; i < src->assigned->cnt; i++) {
        const rd_kafka_topic_partition_t *a = &src->assigned->elems[i];
        if (rd_kafka_topic_partition_list_find(src->paused, a->topic, a->partition))
            continue;
        if (src->replay_end && a->partition >= 0 && a->partition < src->replay_partitions &&
            src->replay_next[a->partition] >= src->replay_end[a->partition])
            continue;
        rd_kafka_topic_partition_list_add(parts, a->topic, a->partition);
    }
    pthread_mutex_lock(&r->lock);
    rd_kafka_topic_partition_list_t *old = r->parts;
    r->parts = parts; /* empty: the next query is skipped */
    r->want = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    rd_kafka_topic_partition_list_destroy(old);
}

/* ------------------------------------------------------------------------
 * Pausing
 * ------------------------------------------------------------------------ */

void cf_source_pause_all(struct cf_source *src)
{
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_copy(src->assigned);
    rd_kafka_position(src->rk, pos);
    for (int i = 0; i < pos->cnt; i++) {
        if (pos->elems[i].offset >= 0)
            cf_source_pause_one(src, pos->elems[i].topic, pos->elems[i].partition);
    }
    rd_kafka_topic_partition_list_destroy(pos);
    atomic_store(&src->owner.m->paused, 1);
}

void cf_source_pause_one(struct cf_source *src, const char *topic, int32_t partition)
{
    if (rd_kafka_topic_partition_list_find(src->paused, topic, partition))
        return;
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, topic, partition);
    if (rd_kafka_pause_partitions(src->rk, one) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_topic_partition_list_add(src->paused, topic, partition);
    rd_kafka_topic_partition_list_destroy(one);
    atomic_store(&src->owner.m->paused, 1);
}

void cf_source_resume(struct cf_source *src)
{
    /* A replayed partition that reached its end stays paused. */
    if (src->replay_end) {
        for (int i = src->paused->cnt - 1; i >= 0; i--) {
            int32_t p = src->paused->elems[i].partition;
            if (p >= 0 && p < src->replay_partitions && src->replay_next[p] >= src->replay_end[p])
                rd_kafka_topic_partition_list_del_by_idx(src->paused, i);
        }
    }
    if (src->paused->cnt)
        rd_kafka_resume_partitions(src->rk, src->paused);
    rd_kafka_topic_partition_list_destroy(src->paused);
    src->paused = rd_kafka_topic_partition_list_new(64);
    atomic_store(&src->owner.m->paused, 0);
}
