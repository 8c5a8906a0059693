/* deadletter.c - the dead-letter stage: bad events to <topic>.dlq.
 *
 * DESIGN
 * Every kept message is one heap entry whose address is the message's
 * delivery opaque, so the delivery report finds it however the list grows.
 * An entry is PENDING (to write), INFLIGHT (written, no report yet), DONE
 * or FAILED (to write again).  The producer is idempotent with acks=all:
 * a retry inside librdkafka never duplicates, and only a report of
 * failure makes the runtime write again (duplicates in the dead-letter
 * topic are then possible, losses are not).
 */
#include "deadletter.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "source.h"

enum entry_state { PENDING, INFLIGHT, DONE, FAILED };

struct entry {
    enum entry_state state;
    int omit_value; /* the topic refused the value as too large */
    char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    void *key;
    size_t key_len;
    void *value;
    size_t value_len;
    char *reason;
};

struct cf_deadletter {
    struct cf_kafka_owner owner; /* first: see cf_kafka_conf_new() */
    rd_kafka_t *rk;
    char *topic;
    char *consumer;
    struct entry **entries;
    size_t n, cap;
    char error[256];
};

static void *dup_bytes(const void *p, size_t n)
{
    if (!p || !n)
        return NULL;
    void *d = malloc(n);
    if (!d)
        abort();
    memcpy(d, p, n);
    return d;
}

static char *dup_str(const char *s)
{
    return dup_bytes(s, strlen(s) + 1);
}

static void entry_free(struct entry *e)
{
    free(e->topic);
    free(e->key);
    free(e->value);
    free(e->reason);
    free(e);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct cf_deadletter *dl = opaque;
    struct entry *e = msg->_private;
    if (!e)
        return;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        e->state = DONE;
        return;
    }
    e->state = FAILED;
    if (msg->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && !e->omit_value)
        e->omit_value = 1;
    snprintf(dl->error, sizeof(dl->error), "%s", rd_kafka_err2str(msg->err));
}

struct cf_deadletter *cf_deadletter_new(const struct cf_settings *s, const char *consumer,
                                        struct cf_log *lg, struct cf_metrics *m, char *errstr,
                                        size_t errstr_size)
{
    struct cf_deadletter *dl = calloc(1, sizeof(*dl));
    if (!dl)
        abort();
    dl->owner.lg = lg;
    dl->owner.m = m;
    dl->topic = dup_str(s->kafka_dlq_topic);
    dl->consumer = dup_str(consumer);

    rd_kafka_conf_t *conf = cf_kafka_conf_new(s, errstr, errstr_size);
    if (!conf)
        goto fail;
    char why[512];
    char client_id[300];
    snprintf(client_id, sizeof(client_id), "%s-dlq", s->kafka_client_id);
    const char *props[][2] = {
        {"client.id", client_id},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"message.timeout.ms", "30000"},
        {"message.max.bytes", "100000000"},
    };
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "dead-letter producer: %s: %s", props[i][0], why);
            rd_kafka_conf_destroy(conf);
            goto fail;
        }
    }
    rd_kafka_conf_set_opaque(conf, dl);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    dl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!dl->rk) {
        snprintf(errstr, errstr_size, "dead-letter producer: %s", why);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    return dl;

fail:
    cf_deadletter_destroy(dl, 0);
    return NULL;
}

void cf_deadletter_destroy(struct cf_deadletter *dl, int timeout_ms)
{
    if (!dl)
        return;
    if (dl->rk) {
        rd_kafka_flush(dl->rk, timeout_ms);
        rd_kafka_purge(dl->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(dl->rk, 0); /* serve the purge reports while entries exist */
        rd_kafka_destroy(dl->rk);
    }
    for (size_t i = 0; i < dl->n; i++)
        entry_free(dl->entries[i]);
    free(dl->entries);
    free(dl->topic);
    free(dl->consumer);
    free(dl);
}

void cf_deadletter_add(struct cf_deadletter *dl, const rd_kafka_message_t *msg,
                       const char *reason)
{
    struct entry *e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    e->state = PENDING;
    e->topic = dup_str(msg->rkt ? rd_kafka_topic_name(msg->rkt) : "");
    e->partition = msg->partition;
    e->offset = msg->offset;
    e->timestamp = rd_kafka_message_timestamp(msg, NULL);
    e->key = dup_bytes(msg->key, msg->key_len);
    e->key_len = msg->key ? msg->key_len : 0;
    e->value = dup_bytes(msg->payload, msg->len);
    e->value_len = msg->payload ? msg->len : 0;
    e->reason = dup_str(reason);
    if (dl->n == dl->cap) {
        dl->cap = dl->cap ? dl->cap * 2 : 16;
        struct entry **es = realloc(dl->entries, dl->cap * sizeof(*es));
        if (!es)
            abort();
        dl->entries = es;
    }
    dl->entries[dl->n++] = e;
}

static int produce(struct cf_deadletter *dl, struct entry *e)
{
    char partition[16], offset[24], timestamp[24], omitted[24];
    snprintf(partition, sizeof(partition), "%" PRId32, e->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, e->offset);
    snprintf(timestamp, sizeof(timestamp), "%" PRId64, e->timestamp);
    snprintf(omitted, sizeof(omitted), "%zu", e->value_len);

    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(7);
    rd_kafka_header_add(hdrs, "cachefleet.reason", -1, e->reason, -1);
    rd_kafka_header_add(hdrs, "cachefleet.consumer", -1, dl->consumer, -1);
    rd_kafka_header_add(hdrs, "cachefleet.topic", -1, e->topic, -1);
    rd_kafka_header_add(hdrs, "cachefleet.partition", -1, partition, -1);
    rd_kafka_header_add(hdrs, "cachefleet.offset", -1, offset, -1);
    rd_kafka_header_add(hdrs, "cachefleet.timestamp", -1, timestamp, -1);
    if (e->omit_value)
        rd_kafka_header_add(hdrs, "cachefleet.value_omitted", -1, omitted, -1);

    void *value = e->omit_value ? NULL : e->value;
    size_t value_len = e->omit_value ? 0 : e->value_len;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        dl->rk, RD_KAFKA_V_TOPIC(dl->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(e->key, e->key_len), RD_KAFKA_V_VALUE(value, value_len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(e), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs); /* not taken over on failure */
        snprintf(dl->error, sizeof(dl->error), "%s", rd_kafka_err2str(err));
        return -1;
    }
    e->state = INFLIGHT;
    return 0;
}

int cf_deadletter_flush(struct cf_deadletter *dl, int timeout_ms)
{
    if (dl->n == 0)
        return 0;
    dl->error[0] = '\0';
    for (size_t i = 0; i < dl->n; i++) {
        struct entry *e = dl->entries[i];
        if ((e->state == PENDING || e->state == FAILED) && produce(dl, e) < 0)
            e->state = FAILED; /* e.g. queue full: written again next time */
    }
    int64_t deadline = cf_mono_ms() + timeout_ms;
    for (;;) {
        size_t inflight = 0;
        for (size_t i = 0; i < dl->n; i++)
            inflight += dl->entries[i]->state == INFLIGHT;
        int64_t left = deadline - cf_mono_ms();
        if (!inflight || left <= 0)
            break;
        rd_kafka_poll(dl->rk, (int)(left < 100 ? left : 100));
    }
    size_t done = 0;
    for (size_t i = 0; i < dl->n; i++)
        done += dl->entries[i]->state == DONE;
    if (done < dl->n) {
        /* Forget what is done; keep the rest in order. */
        size_t k = 0;
        for (size_t i = 0; i < dl->n; i++) {
            if (dl->entries[i]->state == DONE)
                entry_free(dl->entries[i]);
            else
                dl->entries[k++] = dl->entries[i];
        }
        dl->n = k;
        if (!dl->error[0])
            snprintf(dl->error, sizeof(dl->error), "no acknowledgement within %d ms", timeout_ms);
        return -1;
    }
    for (size_t i = 0; i < dl->n; i++)
        entry_free(dl->entries[i]);
    dl->n = 0;
    return 0;
}

size_t cf_deadletter_pending(const struct cf_deadletter *dl)
{
    return dl->n;
}

const char *cf_deadletter_error(const struct cf_deadletter *dl)
{
    return dl->error;
}
