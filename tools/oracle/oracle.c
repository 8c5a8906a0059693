/* oracle.c - what the cache must hold after the events in Kafka, checked
 * against Redis.
 *
 * DESIGN
 * Reading: one librdkafka consumer that never joins a group: the
 * partitions of every topic read are assigned explicitly, each from its
 * low watermark up to the high watermark queried at the start, and a
 * partition that has reached its mark is paused.  A partition is done when
 * a message at or past mark - 1 was read, or when its position (asked for
 * whenever a poll comes back empty) has reached the mark.
 *
 * Planning: every message goes through the same steps as in the runtime's
 * plan_batch() (common/runtime.c): the payload size limit, the decoder,
 * the consumer's handler appending to a plan, a rollback when the handler
 * rejects the event.  All events' operations go into one cf_plan, each
 * event remembering its range and its envelope's occurred_at; once every
 * partition is read the events are sorted and applied to the model.
 *
 * Checking: the model's keys of the checked kinds are read back with GET
 * or SMEMBERS in pipelined chunks; then SCAN looks for keys of those kinds
 * that the model never saw.
 *
 * Thread: the caller's (see oracle.h).
 */
#include "oracle.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "buf.h"
#include "carts.h"
#include "clock.h"
#include "config.h"
#include "decode.h"
#include "event.h"
#include "orders.h"
#include "plan.h"
#include "products.h"
#include "runtime.h"
#include "settings.h"
#include "stock.h"

#define NCONSUMERS 5
/* Commands per pipelined round trip of the check. */
#define CHECK_CHUNK 1000
/* SCAN's COUNT hint. */
#define SCAN_COUNT "1000"

/* The kinds of key the check compares, after the prefix. */
static const struct {
    const char *name;
    bool set; /* an index set, compared by members */
} kinds[] = {
    {"product:", false}, {"cart:", false},   {"stock:", false},      {"perms:", false},
    {"menu:", false},    {"cf:role:", true}, {"cf:sessions:", true},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

struct consumer {
    const struct cf_consumer_def *def;
    char *topic;
    void *settings; /* the consumer's settings struct, defaults */
    struct cf_setting_table table;
    struct cf_decoder *dec;
    struct cf_envelope_schema env;
    void *handler;
};

struct event {
    int64_t occurred_us;
    uint32_t topic; /* index into the topics read */
    int32_t partition;
    int64_t offset;
    size_t first, end; /* its operations in the plan */
};

struct cf_oracle {
    char *prefix;
    size_t prefix_len;
    struct consumer consumers[NCONSUMERS];
    long long max_payload_bytes, max_id_bytes;

    struct cf_plan *plan;
    struct event *events;
    size_t nevents, events_cap;
    struct cf_model *model;
    uint64_t messages, dead, ops, truncated;
};

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d)
        abort();
    memcpy(d, s, n);
    return d;
}

/* ------------------------------------------------------------------------
 * Making and destroying
 * ------------------------------------------------------------------------ */

static void consumer_free(struct consumer *c)
{
    if (c->handler)
        c->def->handler_destroy(c->handler);
    c->handler = NULL;
    cf_decoder_destroy(c->dec);
    c->dec = NULL;
    if (c->settings) {
        cf_config_free(&c->table, 1);
        free(c->settings);
        c->settings = NULL;
    }
    free(c->topic);
    c->topic = NULL;
}

/* The consumer's settings (defaults), decoder, envelope and handler. */
static int consumer_init(struct consumer *c, const struct cf_consumer_def *def,
                         const char *schemas_dir, char *errstr, size_t errstr_size)
{
    char err[512];
    c->def = def;
    c->topic = xstrdup(def->topic);
    c->settings = calloc(1, def->settings_size ? def->settings_size : 1);
    if (!c->settings)
        abort();
    c->table.settings = def->settings;
    c->table.count = def->nsettings;
    c->table.base = c->settings;
    if (cf_config_load(NULL, NULL, &c->table, 1, NULL, 0, err, sizeof(err)) < 0 ||
        (def->check_settings && def->check_settings(c->settings, err, sizeof(err)) < 0)) {
        snprintf(errstr, errstr_size, "%s: settings: %s", def->name, err);
        return -1;
    }
    c->dec = cf_decoder_new(schemas_dir, def->schema_file, CF_FRAMING_AUTO, err, sizeof(err));
    if (!c->dec) {
        snprintf(errstr, errstr_size, "%s: schemas: %s", def->name, err);
        return -1;
    }
    avro_schema_t reader = cf_decoder_schema(c->dec);
    if (cf_envelope_schema_init(&c->env, reader, err, sizeof(err)) < 0) {
        snprintf(errstr, errstr_size, "%s: reader schema: %s", def->name, err);
        return -1;
    }
    c->handler = def->handler_new(c->settings, reader, err, sizeof(err));
    if (!c->handler) {
        snprintf(errstr, errstr_size, "%s: handler: %s", def->name, err);
        return -1;
    }
    return 0;
}

/* The runtime's limits a message meets before its handler, as defaults. */
static int runtime_limits(struct cf_oracle *o, char *errstr, size_t errstr_size)
{
    struct cf_settings s;
    char err[512];
    memset(&s, 0, sizeof(s));
    struct cf_setting_table table = {cf_settings_table, cf_settings_count, &s};
    int rc = cf_config_load(NULL, NULL, &table, 1, NULL, 0, err, sizeof(err));
    if (rc == 0) {
        o->max_payload_bytes = s.cache_max_payload_bytes;
        o->max_id_bytes = s.cache_max_id_bytes;
    } else {
        snprintf(errstr, errstr_size, "runtime settings: %s", err);
    }
    cf_config_free(&table, 1);
    return rc;
}

struct cf_oracle *cf_oracle_new(const char *schemas_dir, const char *prefix, char *errstr,
                                size_t errstr_size)
{
    static const struct cf_consumer_def *const defs[NCONSUMERS] = {
        &products_consumer, &carts_consumer, &orders_consumer, &access_consumer, &stock_consumer,
    };
    struct cf_oracle *o = calloc(1, sizeof(*o));
    if (!o)
        abort();
    o->prefix = xstrdup(prefix);
    o->prefix_len = strlen(prefix);
    if (runtime_limits(o, errstr, errstr_size) < 0)
        goto fail;
    for (size_t i = 0; i < NCONSUMERS; i++) {
        if (consumer_init(&o->consumers[i], defs[i], schemas_dir, errstr, errstr_size) < 0)
            goto fail;
    }
    o->plan = cf_plan_new(prefix);
    o->model = cf_model_new();
    return o;

fail:
    cf_oracle_destroy(o);
    return NULL;
}

void cf_oracle_destroy(struct cf_oracle *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < NCONSUMERS; i++)
        consumer_free(&o->consumers[i]);
    cf_plan_destroy(o->plan);
    cf_model_destroy(o->model);
    free(o->events);
    free(o->prefix);
    free(o);
}

int cf_oracle_set_topic(struct cf_oracle *o, const char *consumer_name, const char *topic,
                        char *errstr, size_t errstr_size)
{
    struct consumer *c = NULL;
    for (size_t i = 0; i < NCONSUMERS; i++) {
        if (strcmp(o->consumers[i].def->name, consumer_name) == 0)
            c = &o->consumers[i];
    }
    if (!c) {
        snprintf(errstr, errstr_size, "no consumer is named \"%s\"", consumer_name);
        return -1;
    }
    for (size_t i = 0; i < NCONSUMERS; i++) {
        if (&o->consumers[i] != c && strcmp(o->consumers[i].topic, topic) == 0) {
            snprintf(errstr, errstr_size, "topic %s is the %s consumer's", topic,
                     o->consumers[i].def->name);
            return -1;
        }
    }
    if (!*topic) {
        snprintf(errstr, errstr_size, "empty topic name for the %s consumer", consumer_name);
        return -1;
    }
    free(c->topic);
    c->topic = xstrdup(topic);
    return 0;
}

const struct cf_model *cf_oracle_model(const struct cf_oracle *o)
{
    return o->model;
}

/* ------------------------------------------------------------------------
 * Planning one message (as the runtime's plan_batch does)
 * ------------------------------------------------------------------------ */

static void event_push(struct cf_oracle *o, const struct event *ev)
{
    if (o->nevents == o->events_cap) {
        o->events_cap = o->events_cap ? o->events_cap * 2 : 4096;
        struct event *e = realloc(o->events, o->events_cap * sizeof(*e));
        if (!e)
            abort();
        o->events = e;
    }
    o->events[o->nevents++] = *ev;
}

static void plan_message(struct cf_oracle *o, struct consumer *c, uint32_t topic,
                         const rd_kafka_message_t *msg)
{
    char reason[256];
    avro_value_t *value;
    o->messages++;
    if (!msg->payload || msg->len == 0 || msg->len > (size_t)o->max_payload_bytes ||
        cf_decoder_decode(c->dec, msg->payload, msg->len, &value, reason, sizeof(reason)) < 0) {
        o->dead++;
        return;
    }
    struct cf_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kafka_ts_ms = rd_kafka_message_timestamp(msg, NULL);
    ev.max_id_bytes = (size_t)o->max_id_bytes;
    size_t mark = cf_plan_mark(o->plan);
    struct cf_envelope env;
    if (c->def->handle(c->handler, value, &ev, o->plan) < 0 ||
        cf_envelope_read(&c->env, value, &env, reason, sizeof(reason)) < 0) {
        cf_plan_rollback(o->plan, mark);
        o->dead++;
        return;
    }
    struct event e = {env.occurred_at_us, topic, msg->partition,
                      msg->offset,        mark,  cf_plan_count(o->plan)};
    event_push(o, &e);
}

/* ------------------------------------------------------------------------
 * Reading Kafka
 * ------------------------------------------------------------------------ */

struct part {
    int64_t high; /* read up to here (exclusive) */
    bool done;
};

struct topic_read {
    const char *name;
    struct consumer *c;
    struct part *parts;
    int32_t nparts;
};

/* Partition count of a topic, retried until the deadline (a leader may not
 * be known yet). */
static int partition_count(rd_kafka_t *rk, const char *topic, int64_t deadline_ms, char *errstr,
                           size_t errstr_size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(errstr, errstr_size, "topic %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    int n = -1;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        int64_t left = deadline_ms - cf_mono_ms();
        if (left <= 0)
            break;
        rd_kafka_resp_err_t err =
            rd_kafka_metadata(rk, 0, rkt, &md, (int)(left < 2000 ? left : 2000));
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0 &&
            md->topics[0].partition_cnt > 0) {
            n = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
            break;
        }
        snprintf(errstr, errstr_size, "no metadata for topic %s: %s", topic,
                 rd_kafka_err2str(err             ? err
                                  : md->topic_cnt ? md->topics[0].err
                                                  : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        if (md)
            rd_kafka_metadata_destroy(md);
        usleep(100000);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

static rd_kafka_t *reader_new(const char *bootstrap, char *errstr, size_t errstr_size)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* clang-format off */
    const char *const kv[] = {
        "bootstrap.servers", bootstrap,
        "client.id", "cachefleet-oracle",
        "group.id", "cachefleet-oracle", /* never joined (assign() only); the consumer API wants one */
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "enable.partition.eof", "false",
        "auto.offset.reset", "earliest",
        "fetch.wait.max.ms", "100",
        "log.connection.close", "false",
        NULL,
    };
    /* clang-format on */
    for (size_t i = 0; kv[i]; i += 2) {
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "kafka setting %s: %s", kv[i], err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, errstr_size, "kafka consumer: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* conf is owned by rk now */
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

long cf_oracle_group_behind(const char *bootstrap, const char *group, const char *topic,
                            int timeout_ms, char *errstr, size_t errstr_size)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "client.id", "cachefleet-oracle-lag", err, sizeof(err))) {
        snprintf(errstr, errstr_size, "kafka setting: %s", err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, errstr_size, "kafka consumer: %s", err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    long behind = -1;
    int n = partition_count(rk, topic, cf_mono_ms() + timeout_ms, errstr, errstr_size);
    if (n > 0) {
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
        for (int p = 0; p < n; p++)
            rd_kafka_topic_partition_list_add(parts, topic, p);
        rd_kafka_resp_err_t e = rd_kafka_committed(rk, parts, timeout_ms);
        if (e) {
            snprintf(errstr, errstr_size, "committed offsets of %s: %s", group,
                     rd_kafka_err2str(e));
        } else {
            behind = 0;
            for (int p = 0; p < n && behind >= 0; p++) {
                int64_t lo = 0, hi = 0;
                e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, timeout_ms);
                if (e) {
                    snprintf(errstr, errstr_size, "watermarks of %s [%d]: %s", topic, p,
                             rd_kafka_err2str(e));
                    behind = -1;
                } else {
                    int64_t committed = parts->elems[p].offset < 0 ? lo : parts->elems[p].offset;
                    behind += (long)(hi - committed);
                }
            }
        }
        rd_kafka_topic_partition_list_destroy(parts);
    }
    rd_kafka_destroy(rk);
    return behind;
}

static void pause_one(rd_kafka_t *rk, const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    rd_kafka_pause_partitions(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Marks the partitions whose position reached their mark as done. */
static size_t check_positions(rd_kafka_t *rk, struct topic_read *tr, size_t ntopics)
{
    size_t newly = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (size_t t = 0; t < ntopics; t++) {
        for (int32_t p = 0; p < tr[t].nparts; p++) {
            if (!tr[t].parts[p].done)
                rd_kafka_topic_partition_list_add(l, tr[t].name, p);
        }
    }
    if (l->cnt && rd_kafka_position(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < l->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &l->elems[i];
            for (size_t t = 0; t < ntopics; t++) {
                if (strcmp(tr[t].name, tp->topic) != 0)
                    continue;
                struct part *pt = &tr[t].parts[tp->partition];
                if (tp->offset >= 0 && tp->offset >= pt->high && !pt->done) {
                    pt->done = true;
                    newly++;
                    pause_one(rk, tp->topic, tp->partition);
                }
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return newly;
}

static int event_order(const void *pa, const void *pb)
{
    const struct event *a = pa, *b = pb;
    if (a->occurred_us != b->occurred_us)
        return a->occurred_us < b->occurred_us ? -1 : 1;
    if (a->topic != b->topic)
        return a->topic < b->topic ? -1 : 1;
    if (a->partition != b->partition)
        return a->partition < b->partition ? -1 : 1;
    if (a->offset != b->offset)
        return a->offset < b->offset ? -1 : 1;
    return 0;
}

/* Sorts the events and applies them to a new model. */
static int build_model(struct cf_oracle *o, const struct topic_read *tr, char *errstr,
                       size_t errstr_size)
{
    char err[512];
    if (o->nevents)
        qsort(o->events, o->nevents, sizeof(*o->events), event_order);
    cf_model_destroy(o->model);
    o->model = cf_model_new();
    o->ops = 0;
    for (size_t i = 0; i < o->nevents; i++) {
        const struct event *e = &o->events[i];
        if (cf_model_apply(o->model, o->plan, e->first, e->end, e->occurred_us, NULL, err,
                           sizeof(err)) < 0) {
            snprintf(errstr, errstr_size,
                     "the event at %s [%d] offset %" PRId64
                     " has an operation Redis would fail: %s",
                     tr[e->topic].name, (int)e->partition, e->offset, err);
            return -1;
        }
        o->ops += e->end - e->first;
    }
    return 0;
}

/* Forgets what an earlier read found. */
static void reset(struct cf_oracle *o)
{
    cf_plan_clear(o->plan);
    o->nevents = 0;
    o->messages = o->dead = o->ops = o->truncated = 0;
    cf_model_destroy(o->model);
    o->model = cf_model_new();
}

int cf_oracle_read_kafka(struct cf_oracle *o, const char *bootstrap, const char *const *topics,
                         int timeout_ms, char *errstr, size_t errstr_size)
{
    int64_t deadline = cf_mono_ms() + timeout_ms;
    struct topic_read tr[NCONSUMERS];
    size_t ntopics = 0, pending = 0;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *assign = NULL;
    int rc = -1;
    memset(tr, 0, sizeof(tr));
    reset(o);

    /* The topics and their consumers. */
    for (size_t i = 0; topics ? topics[i] != NULL : i < NCONSUMERS; i++) {
        const char *name = topics ? topics[i] : o->consumers[i].topic;
        struct consumer *c = NULL;
        for (size_t k = 0; k < NCONSUMERS; k++) {
            if (strcmp(o->consumers[k].topic, name) == 0)
                c = &o->consumers[k];
        }
        if (!c) {
            snprintf(errstr, errstr_size, "topic %s is no consumer's topic", name);
            goto out;
        }
        bool dup = false;
        for (size_t k = 0; k < ntopics; k++)
            dup = dup || tr[k].c == c;
        if (dup)
            continue;
        tr[ntopics].name = c->topic;
        tr[ntopics].c = c;
        ntopics++;
    }

    rk = reader_new(bootstrap, errstr, errstr_size);
    if (!rk)
        goto out;

    /* Every partition from its low to its high watermark, as of now. */
    assign = rd_kafka_topic_partition_list_new(64);
    for (size_t t = 0; t < ntopics; t++) {
        int n = partition_count(rk, tr[t].name, deadline, errstr, errstr_size);
        if (n < 0)
            goto out;
        tr[t].parts = calloc((size_t)n, sizeof(*tr[t].parts));
        if (!tr[t].parts)
            abort();
        tr[t].nparts = n;
        for (int32_t p = 0; p < n; p++) {
            int64_t lo = 0, hi = 0;
            int64_t left = deadline - cf_mono_ms();
            rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, tr[t].name, p, &lo, &hi,
                                                                       (int)(left > 0 ? left : 1));
            if (err) {
                snprintf(errstr, errstr_size, "watermarks of %s [%d]: %s", tr[t].name, (int)p,
                         rd_kafka_err2str(err));
                goto out;
            }
            o->truncated += (uint64_t)lo;
            tr[t].parts[p].high = hi;
            tr[t].parts[p].done = hi <= lo;
            if (!tr[t].parts[p].done) {
                rd_kafka_topic_partition_list_add(assign, tr[t].name, p)->offset = lo;
                pending++;
            }
        }
    }
    if (assign->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_assign(rk, assign);
        if (err) {
            snprintf(errstr, errstr_size, "assign: %s", rd_kafka_err2str(err));
            goto out;
        }
    }

    char last_error[256] = "";
    while (pending > 0) {
        int64_t left = deadline - cf_mono_ms();
        if (left <= 0) {
            snprintf(errstr, errstr_size,
                     "timed out after %d ms with %zu partition(s) not read to their high "
                     "watermark%s%s",
                     timeout_ms, pending, last_error[0] ? "; last error: " : "", last_error);
            goto out;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, left < 200 ? (int)left : 200);
        if (!msg) {
            pending -= check_positions(rk, tr, ntopics);
            continue;
        }
        if (msg->err) {
            /* Mostly transient (a reconnect); the deadline bounds them. */
            snprintf(last_error, sizeof(last_error), "%s", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            continue;
        }
        const char *name = rd_kafka_topic_name(msg->rkt);
        for (size_t t = 0; t < ntopics; t++) {
            if (strcmp(tr[t].name, name) != 0 || msg->partition < 0 ||
                msg->partition >= tr[t].nparts)
                continue;
            struct part *pt = &tr[t].parts[msg->partition];
            if (pt->done || msg->offset >= pt->high)
                break; /* produced after the call started */
            plan_message(o, tr[t].c, (uint32_t)t, msg);
            if (msg->offset >= pt->high - 1) {
                pt->done = true;
                pending--;
                pause_one(rk, name, msg->partition);
            }
            break;
        }
        rd_kafka_message_destroy(msg);
    }
    rc = build_model(o, tr, errstr, errstr_size);

out:
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    for (size_t t = 0; t < ntopics; t++)
        free(tr[t].parts);
    if (rc < 0)
        reset(o);
    return rc;
}

/* ------------------------------------------------------------------------
 * Checking
 * ------------------------------------------------------------------------ */

/* The checked kind of key, or -1. */
static int kind_of(const struct cf_oracle *o, const char *key, size_t len)
{
    if (len < o->prefix_len || memcmp(key, o->prefix, o->prefix_len) != 0)
        return -1;
    for (size_t i = 0; i < NKINDS; i++) {
        size_t n = strlen(kinds[i].name);
        if (len - o->prefix_len > n && memcmp(key + o->prefix_len, kinds[i].name, n) == 0)
            return (int)i;
    }
    return -1;
}

/* Bytes into a sample field: at most CF_ORACLE_SAMPLE_BYTES kept. */
static void sample_put(char *dst, size_t *dst_len, size_t *full_len, const char *p, size_t n)
{
    size_t keep = n < CF_ORACLE_SAMPLE_BYTES ? n : CF_ORACLE_SAMPLE_BYTES;
    if (keep)
        memcpy(dst, p, keep);
    dst[keep] = '\0';
    *dst_len = keep;
    *full_len = n;
}

static void sample_key(struct cf_oracle_sample *s, const char *key, size_t len)
{
    size_t keep = len < CF_ORACLE_KEY_BYTES ? len : CF_ORACLE_KEY_BYTES;
    memcpy(s->key, key, keep);
    s->key[keep] = '\0';
}

static int bytes_order(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static int reply_order(const void *pa, const void *pb)
{
    const redisReply *a = *(redisReply *const *)pa, *b = *(redisReply *const *)pb;
    return bytes_order(a->str, a->len, b->str, b->len);
}

/* The members of an SMEMBERS reply sorted in place (byte order). */
static void sort_members(redisReply *r)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 1)
        qsort(r->element, r->elements, sizeof(*r->element), reply_order);
}

/* The model's side of a sample. */
static void sample_expected(struct cf_oracle_sample *s, const struct cf_model_key *k)
{
    s->expected_present = k->type != CF_MODEL_ABSENT;
    if (k->type == CF_MODEL_STRING) {
        sample_put(s->expected, &s->expected_len, &s->expected_full_len, k->value, k->value_len);
    } else if (k->type == CF_MODEL_SET) {
        struct cf_buf b = {NULL, 0, 0};
        for (size_t i = 0; i < k->nmembers; i++) {
            size_t n;
            const char *mb = cf_model_key_member(k, i, &n);
            if (i)
                cf_buf_put(&b, ",", 1);
            cf_buf_put(&b, mb, n);
        }
        sample_put(s->expected, &s->expected_len, &s->expected_full_len, b.data ? b.data : "",
                   b.len);
        cf_buf_free(&b);
    } else {
        sample_put(s->expected, &s->expected_len, &s->expected_full_len, "", 0);
    }
}

/* Redis's side of a sample (a set's members sorted in place). */
static void sample_actual(struct cf_oracle_sample *s, redisReply *r)
{
    sort_members(r);
    if (r->type == REDIS_REPLY_STRING) {
        s->actual_present = 1;
        sample_put(s->actual, &s->actual_len, &s->actual_full_len, r->str, r->len);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        struct cf_buf b = {NULL, 0, 0};
        for (size_t i = 0; i < r->elements; i++) {
            if (i)
                cf_buf_put(&b, ",", 1);
            if (r->element[i]->type == REDIS_REPLY_STRING)
                cf_buf_put(&b, r->element[i]->str, r->element[i]->len);
        }
        s->actual_present = 1;
        sample_put(s->actual, &s->actual_len, &s->actual_full_len, b.data ? b.data : "", b.len);
        cf_buf_free(&b);
    } else if (r->type == REDIS_REPLY_ERROR) {
        /* WRONGTYPE: the key holds another type than the model's. */
        s->actual_present = 1;
        sample_put(s->actual, &s->actual_len, &s->actual_full_len, r->str, r->len);
    } else {
        s->actual_present = 0;
        sample_put(s->actual, &s->actual_len, &s->actual_full_len, "", 0);
    }
}

static void add_sample(struct cf_oracle_sample *samples, size_t *n, const struct cf_model_key *k,
                       redisReply *r)
{
    if (*n >= CF_ORACLE_SAMPLES)
        return;
    struct cf_oracle_sample *s = &samples[(*n)++];
    memset(s, 0, sizeof(*s));
    sample_key(s, k->key, k->key_len);
    sample_expected(s, k);
    sample_actual(s, r);
}

/* A stale set's sample shows the difference: the members only the model
 * has as expected, those only Redis has as actual, each list after
 * "(N common)". */
static void add_set_sample(struct cf_oracle_sample *samples, size_t *n,
                           const struct cf_model_key *k, redisReply *r)
{
    if (*n >= CF_ORACLE_SAMPLES)
        return;
    struct cf_oracle_sample *s = &samples[(*n)++];
    memset(s, 0, sizeof(*s));
    sample_key(s, k->key, k->key_len);
    sort_members(r);
    struct cf_buf only_model = {NULL, 0, 0}, only_redis = {NULL, 0, 0};
    size_t i = 0, j = 0, common = 0;
    while (i < k->nmembers || j < r->elements) {
        size_t mn = 0;
        const char *mb = i < k->nmembers ? cf_model_key_member(k, i, &mn) : NULL;
        const redisReply *e = j < r->elements ? r->element[j] : NULL;
        int c = !mb ? 1 : !e ? -1 : bytes_order(mb, mn, e->str, e->len);
        if (c == 0) {
            common++;
            i++;
            j++;
        } else if (c < 0) {
            cf_buf_put(&only_model, " ", 1);
            cf_buf_put(&only_model, mb, mn);
            i++;
        } else {
            cf_buf_put(&only_redis, " ", 1);
            cf_buf_put(&only_redis, e->str, e->len);
            j++;
        }
    }
    char head[48];
    int hn = snprintf(head, sizeof(head), "(%zu common)", common);
    struct cf_buf b = {NULL, 0, 0};
    cf_buf_put(&b, head, (size_t)hn);
    cf_buf_put(&b, only_model.data ? only_model.data : "", only_model.len);
    s->expected_present = 1;
    sample_put(s->expected, &s->expected_len, &s->expected_full_len, b.data, b.len);
    b.len = 0;
    cf_buf_put(&b, head, (size_t)hn);
    cf_buf_put(&b, only_redis.data ? only_redis.data : "", only_redis.len);
    s->actual_present = 1;
    sample_put(s->actual, &s->actual_len, &s->actual_full_len, b.data, b.len);
    cf_buf_free(&b);
    cf_buf_free(&only_model);
    cf_buf_free(&only_redis);
}

/* Does Redis's reply hold what the model expects?  1 right, 0 stale, and
 * -1 when Redis holds nothing but the model expects something. */
static int compare(const struct cf_model_key *k, redisReply *r)
{
    bool redis_has = (r->type == REDIS_REPLY_STRING) ||
                     (r->type == REDIS_REPLY_ARRAY && r->elements > 0) ||
                     r->type == REDIS_REPLY_ERROR;
    bool model_has = k->type == CF_MODEL_STRING || (k->type == CF_MODEL_SET && k->nmembers > 0);
    if (!redis_has)
        return model_has ? -1 : 1;
    if (!model_has || r->type == REDIS_REPLY_ERROR)
        return 0;
    if (k->type == CF_MODEL_STRING)
        return r->type == REDIS_REPLY_STRING && r->len == k->value_len &&
               memcmp(r->str, k->value, k->value_len) == 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != k->nmembers)
        return 0;
    sort_members(r);
    for (size_t i = 0; i < r->elements; i++) {
        size_t n;
        const char *mb = cf_model_key_member(k, i, &n);
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len != n || memcmp(e->str, mb, n) != 0)
            return 0;
    }
    return 1;
}

/* Classifies one key from its reply. */
static void classify(const struct cf_model_key *k, redisReply *r, int64_t now_us, int64_t since_us,
                     struct cf_oracle_report *out)
{
    out->keys_checked++;
    int c = compare(k, r);
    if (c == 1) {
        out->right++;
    } else if (c == 0) {
        out->stale++;
        if (k->type == CF_MODEL_SET && r->type == REDIS_REPLY_ARRAY)
            add_set_sample(out->stale_samples, &out->nstale_samples, k, r);
        else
            add_sample(out->stale_samples, &out->nstale_samples, k, r);
    } else if (k->expires_us && k->expires_us <= now_us) {
        out->expired++;
    } else if (since_us > 0 && k->last_us < since_us) {
        out->lost_before_since++;
    } else {
        out->missing++;
        add_sample(out->missing_samples, &out->nmissing_samples, k, r);
    }
}

static int redis_failed(redisContext *rc, const char *what, char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "redis %s: %s", what, rc->err ? rc->errstr : "unexpected reply");
    return -1;
}

/* Appends GET key or SMEMBERS key. */
static int append_read(redisContext *rc, bool set, const char *key, size_t len)
{
    const char *argv[2] = {set ? "SMEMBERS" : "GET", key};
    size_t lens[2] = {set ? 8 : 3, len};
    return redisAppendCommandArgv(rc, 2, argv, lens);
}

/* Reads back the model's keys of the checked kinds, in chunks of one
 * pipelined round trip each. */
static int check_model_keys(struct cf_oracle *o, redisContext *rc, int64_t now_us, int64_t since_us,
                            struct cf_oracle_report *out, char *errstr, size_t errstr_size)
{
    size_t n = cf_model_count(o->model);
    size_t *batch = malloc(CHECK_CHUNK * sizeof(*batch));
    if (!batch)
        abort();
    int rc_ = -1;
    for (size_t i = 0; i < n;) {
        size_t nb = 0;
        for (; i < n && nb < CHECK_CHUNK; i++) {
            struct cf_model_key k;
            cf_model_key_at(o->model, i, &k);
            int kind = kind_of(o, k.key, k.key_len);
            if (kind < 0)
                continue;
            bool set = k.type == CF_MODEL_SET || (k.type != CF_MODEL_STRING && kinds[kind].set);
            if (append_read(rc, set, k.key, k.key_len) != REDIS_OK) {
                redis_failed(rc, "write", errstr, errstr_size);
                goto out;
            }
            batch[nb++] = i;
        }
        for (size_t j = 0; j < nb; j++) {
            void *reply = NULL;
            if (redisGetReply(rc, &reply) != REDIS_OK || !reply) {
                redis_failed(rc, "read", errstr, errstr_size);
                goto out;
            }
            struct cf_model_key k;
            cf_model_key_at(o->model, batch[j], &k);
            classify(&k, reply, now_us, since_us, out);
            freeReplyObject(reply);
        }
    }
    rc_ = 0;
out:
    free(batch);
    return rc_;
}

/* The SCAN pattern <prefix><kind>*, the prefix's glob characters escaped. */
static void scan_pattern(const struct cf_oracle *o, size_t kind, struct cf_buf *b)
{
    b->len = 0;
    for (size_t i = 0; i < o->prefix_len; i++) {
        char ch = o->prefix[i];
        if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\')
            cf_buf_put(b, "\\", 1);
        cf_buf_put(b, &ch, 1);
    }
    cf_buf_puts(b, kinds[kind].name);
    cf_buf_put(b, "*\0", 2);
}

struct extra_key {
    char *key;
    size_t len;
};

struct extra_keys {
    struct extra_key *items;
    size_t n, cap;
};

static void extra_push(struct extra_keys *x, const char *key, size_t len)
{
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 64;
        x->items = realloc(x->items, x->cap * sizeof(*x->items));
        if (!x->items)
            abort();
    }
    struct extra_key *k = &x->items[x->n++];
    k->key = malloc(len + 1);
    if (!k->key)
        abort();
    memcpy(k->key, key, len);
    k->key[len] = '\0';
    k->len = len;
}

static int extra_order(const void *pa, const void *pb)
{
    const struct extra_key *a = pa, *b = pb;
    return bytes_order(a->key, a->len, b->key, b->len);
}

/* Sorted, and each key once (SCAN may return a key more than once). */
static void extra_unique(struct extra_keys *x)
{
    if (x->n < 2)
        return;
    qsort(x->items, x->n, sizeof(*x->items), extra_order);
    size_t k = 1;
    for (size_t i = 1; i < x->n; i++) {
        if (extra_order(&x->items[i], &x->items[k - 1]) == 0)
            free(x->items[i].key);
        else
            x->items[k++] = x->items[i];
    }
    x->n = k;
}

static void extra_free(struct extra_keys *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->items[i].key);
    free(x->items);
}

/* Keys of the checked kinds that no event touched. */
static int check_extra(struct cf_oracle *o, redisContext *rc, struct cf_oracle_report *out,
                       char *errstr, size_t errstr_size)
{
    struct cf_buf pattern = {NULL, 0, 0};
    struct extra_keys x = {NULL, 0, 0};
    int rc_ = -1;
    for (size_t kind = 0; kind < NKINDS; kind++) {
        scan_pattern(o, kind, &pattern);
        char cursor[32] = "0";
        do {
            const char *argv[6] = {"SCAN", cursor, "MATCH", pattern.data, "COUNT", SCAN_COUNT};
            redisReply *r = redisCommandArgv(rc, 6, argv, NULL);
            if (!r) {
                redis_failed(rc, "SCAN", errstr, errstr_size);
                goto out;
            }
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                r->element[0]->type != REDIS_REPLY_STRING ||
                r->element[1]->type != REDIS_REPLY_ARRAY) {
                snprintf(errstr, errstr_size, "redis SCAN: %s",
                         r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
                freeReplyObject(r);
                goto out;
            }
            snprintf(cursor, sizeof(cursor), "%.*s", (int)r->element[0]->len, r->element[0]->str);
            const redisReply *keys = r->element[1];
            for (size_t i = 0; i < keys->elements; i++) {
                const redisReply *k = keys->element[i];
                struct cf_model_key mk;
                /* The pattern matched the kind; a longer kind sharing the
                 * start ("cf:role:" and a hypothetical "cf:roles:") is
                 * told apart by kind_of(). */
                if (k->type == REDIS_REPLY_STRING && kind_of(o, k->str, k->len) == (int)kind &&
                    cf_model_get(o->model, k->str, k->len, &mk) < 0)
                    extra_push(&x, k->str, k->len);
            }
            freeReplyObject(r);
        } while (strcmp(cursor, "0") != 0);
    }
    extra_unique(&x);
    out->extra = x.n;
    /* The samples, with what Redis holds there. */
    for (size_t i = 0; i < x.n && out->nextra_samples < CF_ORACLE_SAMPLES; i++) {
        struct cf_oracle_sample *s = &out->extra_samples[out->nextra_samples++];
        memset(s, 0, sizeof(*s));
        sample_key(s, x.items[i].key, x.items[i].len);
        int kind = kind_of(o, x.items[i].key, x.items[i].len);
        if (append_read(rc, kinds[kind].set, x.items[i].key, x.items[i].len) != REDIS_OK) {
            redis_failed(rc, "write", errstr, errstr_size);
            goto out;
        }
        void *reply = NULL;
        if (redisGetReply(rc, &reply) != REDIS_OK || !reply) {
            redis_failed(rc, "read", errstr, errstr_size);
            goto out;
        }
        sample_actual(s, reply);
        freeReplyObject(reply);
    }
    rc_ = 0;
out:
    cf_buf_free(&pattern);
    extra_free(&x);
    return rc_;
}

int cf_oracle_check(struct cf_oracle *o, redisContext *rc, int64_t now_us, int64_t since_us,
                    struct cf_oracle_report *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    out->events = o->messages;
    out->dead_lettered = o->dead;
    out->ops = o->ops;
    out->broker_truncated = o->truncated;
    if (check_model_keys(o, rc, now_us, since_us, out, errstr, errstr_size) < 0 ||
        check_extra(o, rc, out, errstr, errstr_size) < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------
 * The report
 * ------------------------------------------------------------------------ */

char *cf_oracle_report_summary(const struct cf_oracle_report *r, char *buf, size_t size)
{
    int n = snprintf(buf, size,
                     "oracle: %" PRIu64 " events (%" PRIu64 " dead-lettered), %" PRIu64
                     " keys checked: %" PRIu64 " right, %" PRIu64 " missing, %" PRIu64
                     " stale, %" PRIu64 " extra, %" PRIu64 " expired",
                     r->events, r->dead_lettered, r->keys_checked, r->right, r->missing, r->stale,
                     r->extra, r->expired);
    const struct {
        uint64_t count;
        const char *what;
    } more[] = {
        {r->lost_before_since, "lost before since"},
        {r->broker_truncated, "gone from the broker's log"},
    };
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
        if (more[i].count && n >= 0 && (size_t)n < size)
            n += snprintf(buf + n, size - (size_t)n, ", %" PRIu64 " %s", more[i].count,
                          more[i].what);
    }
    return buf;
}

/* Bytes for a person: quoted, printable ASCII as is, the rest escaped. */
static void print_bytes(FILE *out, const char *p, size_t n, size_t full)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch >= 0x20 && ch < 0x7f)
            fputc(ch, out);
        else
            fprintf(out, "\\x%02x", ch);
    }
    fputc('"', out);
    if (full > n)
        fprintf(out, "... (%zu bytes)", full);
}

static void print_samples(FILE *out, const char *what, const struct cf_oracle_sample *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "  %s %s: expected ", what, s[i].key);
        if (s[i].expected_present)
            print_bytes(out, s[i].expected, s[i].expected_len, s[i].expected_full_len);
        else
            fputs("nothing", out);
        fputs(", redis holds ", out);
        if (s[i].actual_present)
            print_bytes(out, s[i].actual, s[i].actual_len, s[i].actual_full_len);
        else
            fputs("nothing", out);
        fputc('\n', out);
    }
}

void cf_oracle_report_print(const struct cf_oracle_report *r, FILE *out)
{
    char line[512];
    fprintf(out, "%s\n", cf_oracle_report_summary(r, line, sizeof(line)));
    print_samples(out, "missing", r->missing_samples, r->nmissing_samples);
    print_samples(out, "stale", r->stale_samples, r->nstale_samples);
    for (size_t i = 0; i < r->nextra_samples; i++) {
        const struct cf_oracle_sample *s = &r->extra_samples[i];
        fprintf(out, "  extra %s: no event touched it, redis holds ", s->key);
        if (s->actual_present)
            print_bytes(out, s->actual, s->actual_len, s->actual_full_len);
        else
            fputs("nothing (gone since the scan)", out);
        fputc('\n', out);
    }
}

int cf_oracle_report_ok(const struct cf_oracle_report *r)
{
    return r->missing == 0 && r->stale == 0;
}
