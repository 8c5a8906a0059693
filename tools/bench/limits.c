/* limits.c - the ceilings the consumer is compared with (see limits.h).
 *
 * DESIGN
 * Replies are checked one by one (a pipeline that went wrong must not be
 * counted as throughput); the first bad reply ends the measurement with
 * its text.
 *
 * Thread: the main thread.
 */
#include "limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "pipeline.h"
#include "proc.h"

/* ------------------------------------------------------------------------
 * Plain SET and DEL
 * ------------------------------------------------------------------------ */

/* Reads n replies; each must not be an error.  Returns 0 or -1. */
static int read_replies(redisContext *c, size_t n, const char *what, char *errstr,
                        size_t errstr_size)
{
    for (size_t k = 0; k < n; k++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK || !r) {
            snprintf(errstr, errstr_size, "redis %s: %s", what, c->errstr);
            return -1;
        }
        redisReply *reply = r;
        int bad = reply->type == REDIS_REPLY_ERROR;
        if (bad)
            snprintf(errstr, errstr_size, "redis %s: %.*s", what, (int)reply->len, reply->str);
        freeReplyObject(reply);
        if (bad)
            return -1;
    }
    return 0;
}

/* One pass: SET (del == 0) or DEL of every valued event in [from, to).
 * Returns the operations sent, or -1. */
static long long plain_pass(redisContext *c, const struct bench_target *t,
                            const struct bench_events *es, size_t from, size_t to, size_t depth,
                            int del, const volatile sig_atomic_t *stop, struct bench_progress *pg,
                            char *errstr, size_t errstr_size)
{
    const char *what = del ? "DEL" : "SET";
    long long ops = 0;
    size_t pending = 0;
    for (size_t i = from; i < to; i++) {
        const struct bench_event *e = &es->ev[i];
        if (!e->has_value)
            continue;
        char key[128];
        size_t klen = t->cache_key(e, key, sizeof(key));
        const char *argv[3] = {what, key, bench_events_value(es, i)};
        size_t lens[3] = {3, klen, e->value_len};
        if (redisAppendCommandArgv(c, del ? 2 : 3, argv, lens) != REDIS_OK) {
            snprintf(errstr, errstr_size, "redis %s: %s", what, c->errstr);
            return -1;
        }
        pending++;
        ops++;
        if (pending == depth) {
            if (read_replies(c, pending, what, errstr, errstr_size) < 0)
                return -1;
            pending = 0;
            if (*stop) {
                snprintf(errstr, errstr_size, "interrupted");
                return -1;
            }
            bench_progress_update(pg, "redis plain %s: %lld", what, ops);
        }
    }
    if (pending && read_replies(c, pending, what, errstr, errstr_size) < 0)
        return -1;
    return ops;
}

int bench_limit_plain(redisContext *c, const struct bench_target *t, const struct bench_events *es,
                      size_t from, size_t to, size_t depth, const volatile sig_atomic_t *stop,
                      struct bench_progress *pg, struct bench_plain_limit *out, char *errstr,
                      size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    int64_t t0 = bench_mono_us();
    long long n = plain_pass(c, t, es, from, to, depth, 0, stop, pg, errstr, errstr_size);
    if (n < 0)
        goto fail;
    int64_t t1 = bench_mono_us();
    out->set_ops = (uint64_t)n;
    out->set_seconds = (double)(t1 - t0) / 1e6;
    n = plain_pass(c, t, es, from, to, depth, 1, stop, pg, errstr, errstr_size);
    if (n < 0)
        goto fail;
    int64_t t2 = bench_mono_us();
    out->del_ops = (uint64_t)n;
    out->del_seconds = (double)(t2 - t1) / 1e6;
    out->set_rate = out->set_seconds > 0 ? (double)out->set_ops / out->set_seconds : 0;
    out->del_rate = out->del_seconds > 0 ? (double)out->del_ops / out->del_seconds : 0;
    bench_progress_done(pg);
    return 0;

fail:
    bench_progress_done(pg);
    return -1;
}

/* ------------------------------------------------------------------------
 * The fleet's functions through the real apply stage
 * ------------------------------------------------------------------------ */

int bench_limit_fleet(const struct bench_target *t, const char *schemas_dir, int redis_port,
                      const struct bench_events *es, size_t from, size_t to, size_t depth,
                      const volatile sig_atomic_t *stop, struct bench_progress *pg,
                      struct bench_fleet_limit *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    int rc = -1;
    struct bench_pipeline *p =
        bench_pipeline_new(t->def, schemas_dir, redis_port, errstr, errstr_size);
    if (!p)
        return -1;
    int64_t apply_us = 0;
    for (size_t i = from; i < to;) {
        if (*stop) {
            snprintf(errstr, errstr_size, "interrupted");
            goto out;
        }
        size_t end = i + depth < to ? i + depth : to;
        bench_pipeline_clear(p);
        for (; i < end; i++) {
            char reason[256];
            if (bench_pipeline_plan(p, bench_events_payload(es, i), es->ev[i].len, 0, reason,
                                    sizeof(reason)) < 0)
                out->rejected++;
            out->events++;
        }
        size_t live;
        out->ops_planned += bench_pipeline_coalesce(p, &live);
        struct cf_apply_result res;
        int64_t a0 = bench_mono_us();
        if (bench_pipeline_apply(p, &res, errstr, errstr_size) < 0)
            goto out;
        apply_us += bench_mono_us() - a0;
        out->ops_sent += res.ops;
        out->calls += res.calls;
        out->batches++;
        bench_progress_update(pg, "fleet functions: %llu of %zu events",
                              (unsigned long long)out->events, to - from);
    }
    out->apply_seconds = (double)apply_us / 1e6;
    out->ops_rate = out->apply_seconds > 0 ? (double)out->ops_sent / out->apply_seconds : 0;
    out->events_rate = out->apply_seconds > 0 ? (double)out->events / out->apply_seconds : 0;
    rc = 0;

out:
    bench_progress_done(pg);
    bench_pipeline_destroy(p);
    return rc;
}

/* ------------------------------------------------------------------------
 * The naive consumer
 * ------------------------------------------------------------------------ */

struct naive {
    struct bench_pipeline *p;
    struct bench_naive_limit *out;
    char error[512];
};

static int naive_one(const rd_kafka_message_t *msg, void *opaque)
{
    struct naive *nv = opaque;
    char reason[256];
    bench_pipeline_clear(nv->p);
    if (bench_pipeline_plan(nv->p, msg->payload, msg->len, rd_kafka_message_timestamp(msg, NULL),
                            reason, sizeof(reason)) < 0) {
        nv->out->rejected++;
        return 0;
    }
    size_t live;
    bench_pipeline_coalesce(nv->p, &live);
    struct cf_apply_result res;
    if (bench_pipeline_apply(nv->p, &res, nv->error, sizeof(nv->error)) < 0)
        return -1;
    nv->out->events++;
    return 0;
}

int bench_limit_naive(const struct bench_target *t, const char *schemas_dir, int redis_port,
                      const char *bootstrap, const char *topic, uint64_t count,
                      const volatile sig_atomic_t *stop, struct bench_progress *pg,
                      struct bench_naive_limit *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    struct naive nv = {.out = out};
    nv.p = bench_pipeline_new(t->def, schemas_dir, redis_port, errstr, errstr_size);
    if (!nv.p)
        return -1;
    struct bench_read_result rr;
    int rc = bench_read_topic(bootstrap, topic, count, naive_one, &nv, NULL, stop, pg,
                              "naive consumer", &rr, errstr, errstr_size);
    if (rc < 0 && nv.error[0])
        snprintf(errstr, errstr_size, "naive consumer: %s", nv.error);
    out->seconds = rr.seconds;
    out->rate = rr.seconds > 0 ? (double)rr.messages / rr.seconds : 0;
    bench_pipeline_destroy(nv.p);
    return rc;
}
