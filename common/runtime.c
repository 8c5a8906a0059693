/* runtime.c - the life of a consumer program, and its consume loop.
 *
 * DESIGN
 * One thread runs everything in this file: it polls Kafka, decodes, plans,
 * applies and commits.  librdkafka fetches in the background, and batches
 * are pipelined: while Redis runs one batch (in flight: sent, replies not
 * yet read), the loop collects and plans the next, then reads the
 * replies, finishes the batch in flight and sends the next.  So the
 * loop's own work overlaps Redis's, and Redis, not the loop, is the
 * bottleneck (DESIGN.md).  At most two batches are in hand: the one in
 * flight and the one being collected; a batch's offsets are stored only
 * after it is applied, and never before those of the batch sent before it.
 * What needs Redis besides the batch (the epochs below) waits until the
 * batch in flight is finished.
 *
 * A batch goes through three steps, each remembered in the runtime so that
 * a rebalance in the middle of a retry can finish it instead of starting
 * it over:
 *   planned   every message decoded and handed to the handler, the plan
 *             coalesced, bad messages kept for the dead-letter topic;
 *   applied   Redis acknowledged every call;
 *   lettered  the dead-letter topic acknowledged every bad message.
 * Only then are the batch's offsets stored (finish_batch).  A dependency
 * that fails puts the runtime in the "down" state: fetching is paused, the
 * failed step is retried with exponential backoff while polling Kafka (so
 * the group keeps this instance and rebalances are served), and the state
 * change is logged once when it starts and once when it ends.  Messages
 * that arrive while down (from partitions whose position was not known
 * when fetching was paused) are kept in the stash, and their partition is
 * paused then.
 *
 * Epochs: Redis may lose the fleet's data (restarted without persistence,
 * flushed, failed over to an empty replica), and with it state that only
 * the whole history rebuilds: the category records behind the menu, the
 * role and session indexes, the markers.  For every assigned partition the
 * runtime keeps a key <prefix>cf:epoch:<group>:<topic>:<partition>, set
 * once the partition has been read from its start against this Redis.
 * Before each batch (and every EPOCH_RECHECK_MS, and on every new
 * connection) the keys of the assigned partitions are checked with one
 * MGET; a partition whose key is missing is rewound to its first offset
 * (committed before the key is set, so a crash cannot skip the replay) and
 * re-read: versions and markers make the replay converge on the newest
 * state.  A brand-new Redis in front of an existing topic is warmed the same
 * way.
 *
 * Revocation (the before_revoke hook, called from inside a poll): the
 * batch in hand is planned if it was not, then applied and dead-lettered
 * with one attempt each; if both succeed its offsets are stored and the
 * source commits them before giving the partitions up.  If not, its
 * messages of revoked partitions will still be applied later (harmless:
 * every operation is idempotent and versioned) but never committed here;
 * the new owner reads them again.  Stashed messages of revoked partitions
 * are dropped for the same reason.
 */
#include "runtime.h"

#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "clock.h"
#include "config.h"
#include "deadletter.h"
#include "decode.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "plan.h"
#include "settings.h"
#include "source.h"

#ifndef CACHEFLEET_VERSION
#define CACHEFLEET_VERSION "0.1.0"
#endif

extern char **environ;

/* How often the epochs are checked again on a healthy connection (an
 * operator's FLUSHALL does not drop connections). */
#define EPOCH_RECHECK_MS 10000
/* Most operations planned in one batch (bounds the plans' memory). */
#define PLAN_OPS_MAX 65536
/* How long a revocation waits for the dead-letter topic. */
#define REVOKE_FLUSH_MS 5000
/* How long one attempt waits for the dead-letter topic. */
#define DEADLETTER_FLUSH_MS 10000

struct msg_info {
    size_t type; /* metrics index of the event type */
    bool bad;    /* dead-lettered */
};

/* A batch in hand (see the steps above). */
struct batch {
    rd_kafka_message_t **msgs;
    struct msg_info *info;
    size_t n, cap;
    struct cf_plan *plan;
    bool planned, applied, lettered;
    bool sent; /* in flight: sent, its replies not read yet */
    struct cf_apply_result result;
};

struct runtime {
    const struct cf_consumer_def *def;
    volatile sig_atomic_t *stop;
    struct cf_settings s;
    void *cs; /* the consumer's settings */

    struct cf_log *lg;
    struct cf_metrics *m;
    struct cf_decoder *dec;
    void *handler;
    struct cf_apply *ap;
    struct cf_deadletter *dl;
    struct cf_source *src;
    struct cf_http *http;

    /* The batches in hand: cur is being collected and planned; fly, when
     * busy, was sent before it and is not finished yet. */
    struct batch slots[2];
    struct batch *cur, *fly;
    bool fly_busy;

    /* Messages received while down. */
    rd_kafka_message_t **stash;
    size_t nstash, stash_cap;

    bool down; /* a dependency fails: fetching paused */
    int64_t down_since_ms;
    const char *down_dependency;
    unsigned rand_state; /* backoff jitter */
    bool stored_since_commit;
    bool rewarm;              /* --rewarm: a replay without a group (source.h) */
    int64_t rewind_logged_ms; /* the last "cannot rewind" warning */
    int64_t rewind_retry_ms;  /* no rewind attempt before this (after a failure) */
    int64_t rewind_backoff_ms;
    int64_t last_commit_ms;
    int64_t stop_deadline_ms; /* when SIGTERM gives up on a batch; 0: not stopping */

    /* epochs: partitions confirmed against the current connection */
    int32_t *ep_part;
    uint64_t *ep_gen;
    size_t ep_n, ep_cap;
    int64_t ep_checked_ms;
    int64_t idle_check_ms;
    int64_t denied_logged_ms;

    /* progress log line */
    int64_t progress_at_ms;
    uint64_t progress_events;
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

static void push(rd_kafka_message_t ***arr, size_t *n, size_t *cap, rd_kafka_message_t *msg)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        rd_kafka_message_t **a = realloc(*arr, *cap * sizeof(**arr));
        if (!a)
            abort();
        *arr = a;
    }
    (*arr)[(*n)++] = msg;
}

static void batch_push(struct batch *b, rd_kafka_message_t *msg)
{
    size_t cap = b->cap;
    push(&b->msgs, &b->n, &b->cap, msg);
    if (b->cap != cap) {
        struct msg_info *info = realloc(b->info, b->cap * sizeof(*info));
        if (!info)
            abort();
        b->info = info;
    }
}

/* Events in hand, in both batches. */
static size_t in_hand(const struct runtime *rt)
{
    return rt->cur->n + (rt->fly_busy ? rt->fly->n : 0);
}

static bool stopping(const struct runtime *rt)
{
    return *rt->stop != 0;
}

/* Once stop is requested, a batch that cannot be applied is given up after
 * shutdown.timeout_ms. */
static bool give_up(struct runtime *rt)
{
    if (!stopping(rt))
        return false;
    int64_t now = cf_mono_ms();
    if (!rt->stop_deadline_ms)
        rt->stop_deadline_ms = now + rt->s.shutdown_timeout_ms;
    return now >= rt->stop_deadline_ms;
}

/* ------------------------------------------------------------------------
 * Pausing while a dependency is down
 * ------------------------------------------------------------------------ */

static void go_down(struct runtime *rt, const char *dependency, const char *error)
{
    if (rt->down)
        return;
    rt->down = true;
    rt->down_since_ms = cf_mono_ms();
    rt->down_dependency = dependency;
    cf_source_pause_all(rt->src);
    cf_log_emit(rt->lg, CF_LOG_WARN, "dependency down, consumption paused",
                CF_LS("dependency", dependency), CF_LS("error", error),
                CF_LU("events_in_hand", in_hand(rt)), CF_LEND);
}

static void go_up(struct runtime *rt)
{
    if (!rt->down)
        return;
    rt->down = false;
    cf_source_resume(rt->src);
    cf_log_emit(rt->lg, CF_LOG_INFO, "dependency back, consumption resumed",
                CF_LS("dependency", rt->down_dependency),
                CF_LI("down_ms", cf_mono_ms() - rt->down_since_ms), CF_LEND);
}

/* Waits the backoff of the given attempt while serving Kafka: rebalances
 * run, and any message that still arrives is stashed and its partition
 * paused. */
static void backoff(struct runtime *rt, int attempt)
{
    int64_t delay = rt->s.redis_retry_min_ms;
    for (int i = 0; i < attempt && delay < rt->s.redis_retry_max_ms; i++)
        delay *= 2;
    if (delay > rt->s.redis_retry_max_ms)
        delay = rt->s.redis_retry_max_ms;
    delay = delay * (80 + rand_r(&rt->rand_state) % 41) / 100; /* +-20% */
    int64_t until = cf_mono_ms() + delay;
    for (int64_t left = delay; left > 0; left = until - cf_mono_ms()) {
        atomic_store(&rt->m->heartbeat_ms, cf_mono_ms());
        rd_kafka_message_t *msg = cf_source_poll(rt->src, (int)(left < 100 ? left : 100));
        if (msg) {
            cf_source_pause_one(rt->src, rd_kafka_topic_name(msg->rkt), msg->partition);
            push(&rt->stash, &rt->nstash, &rt->stash_cap, msg);
        }
        if (stopping(rt) && give_up(rt))
            break;
    }
}

/* ------------------------------------------------------------------------
 * The batch
 * ------------------------------------------------------------------------ */

/* Puts msgs back in front of the stash (the next batch takes them first). */
static void unstash_front(struct runtime *rt, rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        push(&rt->stash, &rt->nstash, &rt->stash_cap, NULL); /* room */
    memmove(rt->stash + n, rt->stash, (rt->nstash - n) * sizeof(*rt->stash));
    memcpy(rt->stash, msgs, n * sizeof(*rt->stash));
}

static void plan_batch(struct runtime *rt, struct batch *b)
{
    cf_plan_clear(b->plan);
    for (size_t i = 0; i < b->n; i++) {
        rd_kafka_message_t *msg = b->msgs[i];
        struct msg_info *info = &b->info[i];
        struct cf_event ev;
        avro_value_t *value;
        info->type = rt->m->ntypes;
        info->bad = false;
        ev.kafka_ts_ms = rd_kafka_message_timestamp(msg, NULL);
        ev.max_id_bytes = (size_t)rt->s.cache_max_id_bytes;
        ev.type = NULL;
        ev.reason[0] = '\0';

        if (msg->len > (size_t)rt->s.cache_max_payload_bytes) {
            cf_reason(ev.reason, sizeof(ev.reason), CF_REASON_TOO_LARGE,
                      "%zu bytes, more than cache.max_payload_bytes %lld", msg->len,
                      rt->s.cache_max_payload_bytes);
            info->bad = true;
        } else if (cf_decoder_decode(rt->dec, msg->payload, msg->len, &value, ev.reason,
                                     sizeof(ev.reason)) < 0) {
            info->bad = true;
        } else {
            size_t mark = cf_plan_mark(b->plan);
            if (rt->def->handle(rt->handler, value, &ev, b->plan) < 0) {
                cf_plan_rollback(b->plan, mark);
                info->bad = true;
                if (!ev.reason[0])
                    cf_reason(ev.reason, sizeof(ev.reason), "other", "rejected by the planner");
            }
            info->type = cf_metrics_type_index(rt->m, ev.type);
        }
        cf_metrics_count(rt->m, CF_OUTCOME_CONSUMED, info->type, 1);
        if (info->bad) {
            /* A re-warm meets the bad events the group's consumers have
             * dead-lettered already: counted and logged, not sent again. */
            if (!rt->rewarm)
                cf_deadletter_add(rt->dl, msg, ev.reason);
            cf_metrics_count_reason(rt->m, ev.reason);
            char code[64];
            cf_log_emit(rt->lg, CF_LOG_WARN, "event rejected",
                        CF_LS("reason", cf_reason_code(ev.reason, code, sizeof(code))),
                        CF_LS("detail", ev.reason), CF_LS("topic", rd_kafka_topic_name(msg->rkt)),
                        CF_LI("partition", msg->partition), CF_LI("offset", msg->offset),
                        CF_LS("type", ev.type), CF_LU("bytes", msg->len), CF_LEND);
        }
        if (cf_plan_count(b->plan) >= PLAN_OPS_MAX && i + 1 < b->n) {
            /* Events with many operations each (a product in 100 search
             * listings): the rest waits for the next batch, so memory is
             * bounded by operations, not only by events. */
            unstash_front(rt, b->msgs + i + 1, b->n - i - 1);
            b->n = i + 1;
            break;
        }
    }
    cf_metric_add(&rt->m->ops_planned, cf_plan_count(b->plan));
    cf_plan_coalesce(b->plan);
    b->planned = true;
}

/* Counts the operations Redis acknowledged by the slice they touched. */
static void count_slices(struct runtime *rt, const struct batch *b)
{
    size_t n = cf_plan_count(b->plan);
    for (size_t i = 0; i < n; i++) {
        const struct cf_op *op = cf_plan_op(b->plan, i);
        if (op->dead)
            continue;
        enum cf_slice_kind kind;
        switch (op->code) {
        case CF_OP_WARM:
        case CF_OP_WARM_GUARDED:
        case CF_OP_MENU:
            kind = CF_SLICE_WARM;
            break;
        case CF_OP_INDEX_ADD:
        case CF_OP_INDEX_REM:
        case CF_OP_CATEGORY:
            kind = CF_SLICE_INDEX;
            break;
        default:
            kind = CF_SLICE_INVALIDATE;
            break;
        }
        cf_metrics_count_slice(rt->m, op->slice, kind, 1);
    }
}

/* Counts what Redis acknowledged for a batch (its result filled). */
static void applied_ok(struct runtime *rt, struct batch *b)
{
    atomic_store(&rt->m->redis_up, 1);
    cf_metric_add(&rt->m->ops_sent, b->result.ops);
    count_slices(rt, b);
    cf_metric_add(&rt->m->ops_refused, b->result.refused);
    if (b->result.denied) {
        cf_metric_add(&rt->m->keys_denied, b->result.denied);
        int64_t now = cf_mono_ms();
        if (now - rt->denied_logged_ms >= 60000) { /* at most once a minute */
            rt->denied_logged_ms = now;
            cf_log_emit(rt->lg, CF_LOG_WARN,
                        "redis's ACL refused to delete web-tier keys registered under a tag or "
                        "session index: name them listing:* (see the README's security section)",
                        CF_LU("keys", b->result.denied),
                        CF_LU("total", cf_metric_get(&rt->m->keys_denied)), CF_LEND);
        }
    }
    cf_metric_add(&rt->m->redis_calls, b->result.calls);
    if (b->result.calls) {
        cf_metric_add(&rt->m->redis_round_trips, 1);
        cf_histogram_observe(&rt->m->redis_rtt, (double)b->result.round_trip_us / 1e6);
    }
    b->applied = true;
}

static void apply_failed(struct runtime *rt)
{
    atomic_store(&rt->m->redis_up, 0);
    cf_metric_add(&rt->m->redis_retries, 1);
}

/* One attempt to apply the planned batch, waiting for the replies (or
 * reading them, when the batch is in flight). */
static int apply_once(struct runtime *rt, struct batch *b)
{
    int rc;
    if (b->sent) {
        b->sent = false;
        rc = cf_apply_receive(rt->ap, &b->result);
    } else {
        rc = cf_apply_plan(rt->ap, b->plan, &b->result);
    }
    if (rc < 0) {
        apply_failed(rt);
        return -1;
    }
    applied_ok(rt, b);
    return 0;
}

/* One attempt to get the batch's bad messages acknowledged. */
static int letter_once(struct runtime *rt, struct batch *b, int timeout_ms)
{
    if (cf_deadletter_flush(rt->dl, timeout_ms) < 0) {
        cf_metric_add(&rt->m->deadletter_retries, 1);
        return -1;
    }
    b->lettered = true;
    return 0;
}

/* Stores the offsets of an applied and dead-lettered batch and forgets it. */
static void finish_batch(struct runtime *rt, struct batch *b)
{
    int64_t now_us = cf_wall_us(), now = now_us / 1000;
    cf_source_store(rt->src, b->msgs, b->n);
    rt->stored_since_commit = true;
    for (size_t i = 0; i < b->n; i++) {
        const struct msg_info *info = &b->info[i];
        cf_metrics_count(rt->m, info->bad ? CF_OUTCOME_DEADLETTERED : CF_OUTCOME_APPLIED,
                         info->type, 1);
        if (!info->bad) {
            int64_t ts = rd_kafka_message_timestamp(b->msgs[i], NULL);
            if (ts > 0) {
                int64_t age_us = (now_us - ts * 1000);
                cf_histogram_observe(&rt->m->event_age, (double)age_us / 1e6);
                if (age_us > atomic_load(&rt->m->event_age_max_us))
                    atomic_store(&rt->m->event_age_max_us, age_us);
            }
        }
        rd_kafka_message_destroy(b->msgs[i]);
    }
    cf_metric_add(&rt->m->batches, 1);
    cf_histogram_observe(&rt->m->batch_size, (double)b->n);
    if (!atomic_load(&rt->m->first_batch_unix_ms))
        atomic_store(&rt->m->first_batch_unix_ms, now);
    atomic_store(&rt->m->last_batch_unix_ms, now);
    rt->progress_events += b->n;
    b->n = 0;
    b->planned = b->applied = b->lettered = b->sent = false;
    if (b == rt->fly)
        rt->fly_busy = false;
}

/* ------------------------------------------------------------------------
 * Epochs
 * ------------------------------------------------------------------------ */

static size_t epoch_slot(struct runtime *rt, int32_t partition)
{
    for (size_t i = 0; i < rt->ep_n; i++) {
        if (rt->ep_part[i] == partition)
            return i;
    }
    if (rt->ep_n == rt->ep_cap) {
        rt->ep_cap = rt->ep_cap ? rt->ep_cap * 2 : 64;
        int32_t *parts = realloc(rt->ep_part, rt->ep_cap * sizeof(*parts));
        uint64_t *gens = realloc(rt->ep_gen, rt->ep_cap * sizeof(*gens));
        if (!parts || !gens)
            abort();
        rt->ep_part = parts;
        rt->ep_gen = gens;
    }
    rt->ep_part[rt->ep_n] = partition;
    rt->ep_gen[rt->ep_n] = 0;
    return rt->ep_n++;
}

/* Only with no batch in flight, and the batch in hand not planned. */
static void drop_partition_messages(struct runtime *rt, int32_t partition)
{
    struct batch *b = rt->cur;
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->msgs[i]->partition == partition)
            rd_kafka_message_destroy(b->msgs[i]);
        else
            b->msgs[k++] = b->msgs[i];
    }
    b->n = k;
    k = 0;
    for (size_t i = 0; i < rt->nstash; i++) {
        if (rt->stash[i]->partition == partition)
            rd_kafka_message_destroy(rt->stash[i]);
        else
            rt->stash[k++] = rt->stash[i];
    }
    rt->nstash = k;
}

/* Would ensure_epochs() talk to Redis now?  (If not, the next batch can
 * be planned while the one in flight runs.) */
static bool epochs_pending(struct runtime *rt)
{
    if (!cf_apply_connected(rt->ap))
        return true;
    if (rt->rewarm)
        return false;
    if (cf_mono_ms() - rt->ep_checked_ms > EPOCH_RECHECK_MS)
        return true;
    uint64_t gen = cf_apply_generation(rt->ap);
    const rd_kafka_topic_partition_list_t *assigned = cf_source_assignment(rt->src);
    for (int i = 0; i < assigned->cnt && i < CF_METRICS_MAX_PARTITIONS; i++) {
        size_t slot = epoch_slot(rt, assigned->elems[i].partition); /* may grow ep_gen */
        if (rt->ep_gen[slot] != gen)
            return true;
    }
    return false;
}

/* Checks the epoch of every assigned partition not yet confirmed on this
 * connection; rewinds those whose epoch is gone.  Called before a batch is
 * planned, with no batch in flight.  Returns 0, or -1 when Redis (or a
 * rewind) failed. */
static int ensure_epochs(struct runtime *rt)
{
    if (cf_apply_connect(rt->ap) < 0)
        return -1;
    if (rt->rewarm)
        return 0; /* the epochs belong to the group's consumers */
    int64_t now = cf_mono_ms();
    if (now - rt->ep_checked_ms > EPOCH_RECHECK_MS) {
        for (size_t i = 0; i < rt->ep_n; i++)
            rt->ep_gen[i] = 0;
        rt->ep_checked_ms = now;
    }
    uint64_t gen = cf_apply_generation(rt->ap);
    const rd_kafka_topic_partition_list_t *assigned = cf_source_assignment(rt->src);
    size_t n = 0;
    int32_t parts[CF_METRICS_MAX_PARTITIONS];
    for (int i = 0; i < assigned->cnt && n < CF_METRICS_MAX_PARTITIONS; i++) {
        size_t slot = epoch_slot(rt, assigned->elems[i].partition);
        if (rt->ep_gen[slot] != gen)
            parts[n++] = assigned->elems[i].partition;
    }
    if (n == 0)
        return 0;

    char(*keys)[512] = calloc(n, sizeof(*keys));
    const char **ptrs = calloc(n, sizeof(*ptrs));
    int *exists = calloc(n, sizeof(*exists));
    if (!keys || !ptrs || !exists)
        abort();
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%scf:epoch:%s:%s:%d", rt->s.cache_prefix,
                 rt->s.kafka_group_id, rt->s.kafka_topic, (int)parts[i]);
        ptrs[i] = keys[i];
    }
    if (cf_apply_exists(rt->ap, ptrs, n, exists) < 0) {
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (exists[i])
            continue;
        int64_t low = 0;
        char err[512];
        if (cf_mono_ms() < rt->rewind_retry_ms) {
            exists[i] = -1; /* the last rewind failed moments ago: not yet */
            continue;
        }
        if (cf_source_rewind(rt->src, rt->s.kafka_topic, parts[i], &low, err, sizeof(err)) < 0) {
            /* Back off (doubling, 30 s at most): each attempt may wait on
             * Kafka for seconds without polling. */
            rt->rewind_backoff_ms = rt->rewind_backoff_ms ? rt->rewind_backoff_ms * 2 : 500;
            if (rt->rewind_backoff_ms > 30000)
                rt->rewind_backoff_ms = 30000;
            rt->rewind_retry_ms = cf_mono_ms() + rt->rewind_backoff_ms;
            /* Kafka, not Redis: typically "rebalance in progress" while
             * the group moves partitions.  The epoch stays unset, so the
             * rewind is tried again before the next batch (or by the
             * partition's next owner); the batch in hand goes on. */
            exists[i] = -1;
            if (cf_mono_ms() - rt->rewind_logged_ms >= 10000) {
                rt->rewind_logged_ms = cf_mono_ms();
                cf_log_emit(rt->lg, CF_LOG_WARN,
                            "cannot rewind a partition for re-warming yet; will retry",
                            CF_LI("partition", parts[i]), CF_LS("error", err), CF_LEND);
            }
            continue;
        }
        rt->rewind_backoff_ms = 0;
        drop_partition_messages(rt, parts[i]);
        if (cf_apply_mark(rt->ap, &ptrs[i], 1) < 0) {
            rc = -1;
            goto out;
        }
        cf_metric_add(&rt->m->rewarms, 1);
        cf_log_emit(rt->lg, CF_LOG_INFO,
                    "no epoch in redis for this partition: re-warming it from its first offset",
                    CF_LS("topic", rt->s.kafka_topic), CF_LI("partition", parts[i]),
                    CF_LI("from_offset", low), CF_LEND);
    }
    for (size_t i = 0; i < n; i++) {
        if (exists[i] >= 0) {
            size_t slot = epoch_slot(rt, parts[i]); /* may grow ep_gen: not in the index */
            rt->ep_gen[slot] = gen;
        }
    }
out:
    free(keys);
    free(ptrs);
    free(exists);
    return rc;
}

/* A failed attempt: the first one of a run pauses fetching. */
static void note_failure(struct runtime *rt, const char *dependency, const char *error, int attempt)
{
    if (!rt->down) {
        go_down(rt, dependency, error);
    } else {
        cf_log_emit(rt->lg, CF_LOG_DEBUG, "retry failed", CF_LS("dependency", dependency),
                    CF_LS("error", error), CF_LI("attempt", attempt), CF_LEND);
    }
}

/* Applies (or reads the replies of), dead-letters and finishes a planned
 * batch, retrying a failing dependency until it works or a stop gives up.
 * Returns 0, or -1 when the batch was given up (its offsets are not
 * stored). */
static int finish_retrying(struct runtime *rt, struct batch *b)
{
    for (int attempt = 0; !b->applied; attempt++) {
        if (apply_once(rt, b) == 0)
            break;
        note_failure(rt, "redis", cf_apply_error(rt->ap), attempt);
        if (give_up(rt))
            goto give_up;
        backoff(rt, attempt); /* a revocation inside may finish the batch */
        if (b->n == 0)
            return 0;
    }
    for (int attempt = 0; !b->lettered; attempt++) {
        if (letter_once(rt, b, DEADLETTER_FLUSH_MS) == 0)
            break;
        note_failure(rt, "dead-letter topic", cf_deadletter_error(rt->dl), attempt);
        if (give_up(rt))
            goto give_up;
        backoff(rt, attempt);
        if (b->n == 0)
            return 0;
    }
    go_up(rt);
    finish_batch(rt, b);
    return 0;

give_up:
    cf_log_emit(rt->lg, CF_LOG_WARN, "stopping with a batch not applied; it will be redelivered",
                CF_LU("events", in_hand(rt)), CF_LB("applied", b->applied), CF_LEND);
    return -1;
}

/* Finishes the batch in flight, if any. */
static int finish_flight(struct runtime *rt)
{
    return rt->fly_busy ? finish_retrying(rt, rt->fly) : 0;
}

/* Takes the batch in hand one step: checks the epochs (after finishing the
 * batch in flight, when they need Redis), plans it, finishes the batch in
 * flight, then sends it and leaves it in flight.  With no batch in hand,
 * finishes the one in flight, or looks after an idle connection.  Returns
 * 0, or -1 when a batch was given up. */
static int process_batch(struct runtime *rt)
{
    struct batch *b = rt->cur;
    if (b->n == 0) {
        if (rt->fly_busy)
            return finish_flight(rt);
        /* A revocation may have finished the batch while down: look whether
         * the dependencies are back before fetching again. */
        if (rt->down && cf_apply_connect(rt->ap) == 0 && cf_deadletter_pending(rt->dl) == 0)
            go_up(rt);
        else if (rt->down)
            backoff(rt, 0);
        else if (cf_mono_ms() - rt->idle_check_ms >= 1000) {
            /* Idle: a cold Redis is still warmed, and readiness follows
             * Redis.  At most once a second. */
            rt->idle_check_ms = cf_mono_ms();
            int up = ensure_epochs(rt) == 0;
            if (up != atomic_load(&rt->m->redis_up))
                cf_log_emit(rt->lg, up ? CF_LOG_INFO : CF_LOG_WARN,
                            up ? "redis reachable" : "redis unreachable while idle",
                            CF_LS("error", up ? "" : cf_apply_error(rt->ap)), CF_LEND);
            atomic_store(&rt->m->redis_up, up);
        }
        return 0;
    }
    if (!b->planned && epochs_pending(rt)) {
        if (finish_flight(rt) < 0)
            return -1;
        for (int attempt = 0; !b->planned && ensure_epochs(rt) < 0; attempt++) {
            note_failure(rt, "redis", cf_apply_error(rt->ap), attempt);
            if (give_up(rt)) {
                cf_log_emit(rt->lg, CF_LOG_WARN,
                            "stopping with a batch not applied; it will be redelivered",
                            CF_LU("events", in_hand(rt)), CF_LB("applied", false), CF_LEND);
                return -1;
            }
            backoff(rt, attempt); /* a revocation inside may finish the batch */
        }
        if (b->n == 0)
            return 0; /* every message belonged to a partition being re-warmed */
    }
    if (!b->planned)
        plan_batch(rt, b); /* while Redis runs the batch in flight */
    if (finish_flight(rt) < 0)
        return -1;
    if (b->n == 0)
        return 0; /* a revocation while finishing it finished this one too */
    if (!b->applied && !b->sent) {
        if (cf_apply_send(rt->ap, b->plan) == 0) {
            b->sent = true;
            rt->cur = rt->fly;
            rt->fly = b;
            rt->fly_busy = true;
            return 0;
        }
        apply_failed(rt);
    }
    return finish_retrying(rt, b);
}

/* Revocation: one attempt to finish a batch.  Returns true when done. */
static bool revoke_finish(struct runtime *rt, struct batch *b)
{
    if (!b->planned)
        plan_batch(rt, b);
    if (!b->applied)
        apply_once(rt, b);
    if (b->applied && !b->lettered)
        letter_once(rt, b, REVOKE_FLUSH_MS);
    if (b->applied && b->lettered) {
        finish_batch(rt, b);
        return true;
    }
    return false;
}

static void before_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts, int lost)
{
    struct runtime *rt = opaque;
    if (!lost && in_hand(rt) > 0) {
        /* The batch in flight first: the later one's offsets must not be
         * stored before it is applied. */
        bool done = !rt->fly_busy || revoke_finish(rt, rt->fly);
        if (done && rt->cur->n > 0)
            done = revoke_finish(rt, rt->cur);
        if (!done)
            cf_log_emit(rt->lg, CF_LOG_WARN,
                        "batch in hand not applied before revocation; its new owner reads it again",
                        CF_LU("events", in_hand(rt)), CF_LEND);
    }
    /* Stashed messages of revoked partitions were never planned. */
    size_t k = 0;
    for (size_t i = 0; i < rt->nstash; i++) {
        rd_kafka_message_t *msg = rt->stash[i];
        if (rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(msg->rkt),
                                               msg->partition))
            rd_kafka_message_destroy(msg);
        else
            rt->stash[k++] = msg;
    }
    rt->nstash = k;
}

/* Whether batch b takes another event: fewer than max events, and fewer
 * than max_bytes of payload once it holds one. */
static bool batch_room(const struct batch *b, size_t max, size_t bytes, size_t max_bytes)
{
    return b->n < max && (b->n == 0 || bytes < max_bytes);
}

/* Fills the batch in hand: stashed messages first, then up to
 * kafka.batch_max events (and, past the first, kafka.batch_max_bytes of
 * payload) from Kafka, waiting kafka.batch_linger_ms after the first.
 * With a batch in flight it takes only what is already there, so the
 * batch in flight is finished without delay. */
static void collect(struct runtime *rt)
{
    struct batch *b = rt->cur;
    size_t max = (size_t)rt->s.kafka_batch_max;
    size_t max_bytes = (size_t)rt->s.kafka_batch_max_bytes, bytes = 0;
    for (size_t i = 0; i < b->n; i++)
        bytes += b->msgs[i]->len;
    int64_t deadline = 0;
    while (batch_room(b, max, bytes, max_bytes) && rt->nstash > 0) {
        bytes += rt->stash[0]->len;
        batch_push(b, rt->stash[0]);
        memmove(rt->stash, rt->stash + 1, (rt->nstash - 1) * sizeof(*rt->stash));
        rt->nstash--;
    }
    while (batch_room(b, max, bytes, max_bytes) && !stopping(rt)) {
        atomic_store(&rt->m->heartbeat_ms, cf_mono_ms());
        int timeout = 100;
        if (rt->fly_busy) {
            timeout = 0;
        } else if (b->n > 0) {
            int64_t left = deadline - cf_mono_ms();
            if (left <= 0)
                break;
            timeout = (int)left;
        }
        rd_kafka_message_t *msg = cf_source_poll(rt->src, timeout);
        if (!msg) {
            if (b->n == 0 || rt->fly_busy)
                break; /* idle, or the batch in flight to finish */
            continue;
        }
        if (b->n == 0)
            deadline = cf_mono_ms() + rt->s.kafka_batch_linger_ms;
        bytes += msg->len;
        batch_push(b, msg);
    }
    /* Keep librdkafka fetching while this one is applied. */
    if (b->n > 0)
        cf_source_refill(rt->src);
}

static void maybe_commit(struct runtime *rt, bool force)
{
    int64_t now = cf_mono_ms();
    if (!rt->stored_since_commit)
        return;
    if (!force && now - rt->last_commit_ms < rt->s.kafka_commit_interval_ms)
        return;
    cf_source_commit(rt->src, force ? 0 : 1);
    rt->stored_since_commit = false;
    rt->last_commit_ms = now;
}

static void maybe_progress(struct runtime *rt)
{
    int64_t now = cf_mono_ms();
    if (now - rt->progress_at_ms < 10000)
        return;
    double secs = (double)(now - rt->progress_at_ms) / 1000.0;
    if (rt->progress_events)
        cf_log_emit(rt->lg, CF_LOG_INFO, "progress", CF_LU("events", rt->progress_events),
                    CF_LF("events_per_s", (double)rt->progress_events / secs),
                    CF_LU("applied_total", cf_metric_get(&rt->m->ops_sent)),
                    CF_LU("refused_total", cf_metric_get(&rt->m->ops_refused)), CF_LEND);
    if (rt->rewarm) {
        int64_t read = 0, total = 0;
        cf_source_replay_done(rt->src, &read, &total);
        cf_log_emit(rt->lg, CF_LOG_INFO, "re-warm progress", CF_LI("read", read),
                    CF_LI("of", total), CF_LEND);
    }
    rt->progress_at_ms = now;
    rt->progress_events = 0;
}

/* ------------------------------------------------------------------------
 * Start and stop
 * ------------------------------------------------------------------------ */

static void usage(const struct cf_consumer_def *def, FILE *out)
{
    fprintf(out,
            "Usage: cachefleet-%s [options]\n"
            "Keeps the Redis cache coherent with the events of topic %s.\n\n"
            "  -c, --config FILE      libconfig settings file (also $CACHEFLEET_CONFIG)\n"
            "      --check-config     load settings and schemas, print them, exit\n"
            "      --print-config     print the effective settings and exit\n"
            "      --config-reference print the settings reference (Markdown) and exit\n"
            "      --rewarm           re-warm: read every partition from its first offset up\n"
            "                         to its end offset at start, apply, exit 0 when done;\n"
            "                         no consumer group, nothing committed\n"
            "  -h, --help             this text\n"
            "  -V, --version          the version\n\n"
            "Every setting can also be given as an environment variable, e.g.\n"
            "CACHEFLEET_KAFKA_BROKERS, CACHEFLEET_REDIS_HOST (see --config-reference).\n",
            def->name, def->topic);
}

struct options {
    const char *config;
    bool check, print, reference, rewarm;
};

/* Returns -1 to exit with status 2, 1 to exit 0 (help, version), 0 to run. */
static int parse_flags(const struct cf_consumer_def *def, int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'C'},
        {"print-config", no_argument, NULL, 'P'}, {"config-reference", no_argument, NULL, 'R'},
        {"rewarm", no_argument, NULL, 'W'},       {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->config = getenv("CACHEFLEET_CONFIG");
    if (o->config && !*o->config)
        o->config = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'C':
            o->check = true;
            break;
        case 'P':
            o->print = true;
            break;
        case 'R':
            o->reference = true;
            break;
        case 'W':
            o->rewarm = true;
            break;
        case 'h':
            usage(def, stdout);
            return 1;
        case 'V':
            printf("cachefleet-%s %s\n", def->name, CACHEFLEET_VERSION);
            return 1;
        default:
            usage(def, stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cachefleet-%s: unexpected argument '%s'\n", def->name, argv[optind]);
        return -1;
    }
    return 0;
}

static uint64_t outcome_total(struct cf_metrics *m, enum cf_outcome outcome)
{
    uint64_t n = 0;
    for (size_t t = 0; t <= m->ntypes; t++)
        n += cf_metric_get(&m->events[outcome][t]);
    return n;
}

/* Destroys the messages held (the batch given up, the stash): librdkafka's
 * destroy waits for every message it handed out. */
static void drop_held_messages(struct runtime *rt)
{
    for (int k = 0; k < 2; k++) {
        struct batch *b = &rt->slots[k];
        for (size_t i = 0; i < b->n; i++)
            rd_kafka_message_destroy(b->msgs[i]);
        b->n = 0;
    }
    rt->fly_busy = false;
    for (size_t i = 0; i < rt->nstash; i++)
        rd_kafka_message_destroy(rt->stash[i]);
    rt->nstash = 0;
}

static void runtime_free(struct runtime *rt, const struct cf_setting_table *tables)
{
    cf_source_close(rt->src); /* leaves the group; the revocation hook may use the batch */
    drop_held_messages(rt);
    cf_source_destroy(rt->src);
    for (int k = 0; k < 2; k++) {
        free(rt->slots[k].msgs);
        free(rt->slots[k].info);
        cf_plan_destroy(rt->slots[k].plan);
    }
    free(rt->stash);
    free(rt->ep_part);
    free(rt->ep_gen);
    cf_http_destroy(rt->http);
    cf_deadletter_destroy(rt->dl, DEADLETTER_FLUSH_MS);
    cf_apply_destroy(rt->ap);
    if (rt->handler)
        rt->def->handler_destroy(rt->handler);
    cf_decoder_destroy(rt->dec);
    cf_metrics_destroy(rt->m);
    cf_config_free(tables, 2);
    free(rt->cs);
    cf_log_destroy(rt->lg);
}

/* glibc's malloc serves a large block from an mmap of its own and gives
 * it back when freed, until the first such free: then it raises its mmap
 * threshold to that size and keeps later large blocks (librdkafka's fetch
 * responses, the Redis call) in the heap, where freed memory stays
 * resident.  With events of ~10 KB that took peak RSS from about 50 to
 * 60-66 MiB.  A fixed threshold of 1 MiB keeps it at 45-52 MiB for a few
 * mmaps per batch.  GLIBC_TUNABLES in the environment, if any, is the
 * operator's choice and left alone. */
enum cf_malloc_tuning cf_malloc_tune(void)
{
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)
    if (getenv("GLIBC_TUNABLES"))
        return CF_MALLOC_OPERATOR;
    return mallopt(M_MMAP_THRESHOLD, CF_MMAP_THRESHOLD) == 1 ? CF_MALLOC_FIXED
                                                             : CF_MALLOC_UNAVAILABLE;
#else
    return CF_MALLOC_UNAVAILABLE;
#endif
}

const char *cf_malloc_tuning_name(enum cf_malloc_tuning t)
{
    switch (t) {
    case CF_MALLOC_FIXED:
        return "mmap threshold 1 MiB";
    case CF_MALLOC_OPERATOR:
        return "GLIBC_TUNABLES";
    case CF_MALLOC_UNAVAILABLE:
        break;
    }
    return "allocator defaults";
}

int cf_runtime_main(const struct cf_consumer_def *def, int argc, char **argv,
                    volatile sig_atomic_t *stop)
{
    enum cf_malloc_tuning malloc_tuning = cf_malloc_tune();
    struct options opt;
    int rc = parse_flags(def, argc, argv, &opt);
    if (rc != 0)
        return rc < 0 ? 2 : 0;

    struct runtime rtv;
    struct runtime *rt = &rtv;
    memset(rt, 0, sizeof(*rt));
    rt->def = def;
    rt->stop = stop;
    rt->rewarm = opt.rewarm;
    rt->cs = calloc(1, def->settings_size ? def->settings_size : 1);
    if (!rt->cs)
        abort();
    struct cf_setting_table tables[2] = {
        {cf_settings_table, cf_settings_count, &rt->s},
        {def->settings, def->nsettings, rt->cs},
    };
    char err[1024], warnings[2048];
    int status = 2;

    if (opt.reference) {
        cf_config_reference(tables, 2, stdout);
        free(rt->cs);
        return 0;
    }
    warnings[0] = '\0';
    if (cf_config_load(opt.config, environ, tables, 2, warnings, sizeof(warnings), err,
                       sizeof(err)) < 0 ||
        cf_settings_finish(&rt->s, def->name, def->topic, err, sizeof(err)) < 0 ||
        (def->check_settings && def->check_settings(rt->cs, err, sizeof(err)) < 0)) {
        fprintf(stderr, "cachefleet-%s: configuration error: %s\n", def->name, err);
        goto out;
    }
    enum cf_log_level level = CF_LOG_INFO;
    cf_log_level_parse(rt->s.log_level, &level);
    rt->lg = cf_log_new(def->name, level, stderr);
    if (!rt->lg)
        abort();
    for (char *line = warnings; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (*line)
            cf_log_emit(rt->lg, CF_LOG_WARN, "configuration warning", CF_LS("detail", line),
                        CF_LEND);
        if (!nl)
            break;
        line = nl + 1;
    }
    if (opt.print) {
        cf_config_print(tables, 2, stdout);
        status = 0;
        goto out;
    }

    enum cf_framing framing = CF_FRAMING_AUTO;
    cf_framing_parse(rt->s.schemas_framing, &framing);
    rt->dec = cf_decoder_new(rt->s.schemas_dir, def->schema_file, framing, err, sizeof(err));
    if (!rt->dec) {
        fprintf(stderr, "cachefleet-%s: configuration error: setting schemas.dir: %s\n", def->name,
                err);
        goto out;
    }
    for (size_t i = 0; i < cf_decoder_writer_count(rt->dec); i++) {
        int32_t id;
        const char *file, *problem;
        cf_decoder_writer(rt->dec, i, &id, &file, &problem);
        if (problem)
            cf_log_emit(rt->lg, CF_LOG_WARN,
                        "writer schema cannot be read; its events will be "
                        "dead-lettered",
                        CF_LI("schema_id", id), CF_LS("file", file), CF_LS("error", problem),
                        CF_LEND);
    }
    rt->handler = def->handler_new(rt->cs, cf_decoder_schema(rt->dec), err, sizeof(err));
    if (!rt->handler) {
        fprintf(stderr, "cachefleet-%s: configuration error: %s\n", def->name, err);
        goto out;
    }
    if (opt.check) {
        cf_config_print(tables, 2, stdout);
        printf("# schemas: %s/%s and %zu writer schema(s) by id\n", rt->s.schemas_dir,
               def->schema_file, cf_decoder_writer_count(rt->dec));
        status = 0;
        goto out;
    }

    status = 1;
    rt->m = cf_metrics_new(def->name, def->event_types);
    for (int k = 0; k < 2; k++)
        rt->slots[k].plan = cf_plan_new(rt->s.cache_prefix);
    rt->cur = &rt->slots[0];
    rt->fly = &rt->slots[1];
    struct cf_apply_settings as = {
        .host = rt->s.redis_host,
        .port = (int)rt->s.redis_port,
        .unix_socket = rt->s.redis_unix_socket,
        .db = (int)rt->s.redis_db,
        .user = rt->s.redis_user,
        .password = rt->s.redis_password,
        .client_name = rt->s.kafka_client_id,
        .connect_timeout_ms = (int)rt->s.redis_connect_timeout_ms,
        .command_timeout_ms = (int)rt->s.redis_command_timeout_ms,
        .ops_per_call = (int)rt->s.redis_ops_per_call,
        .tombstone_ttl_ms = rt->s.cache_tombstone_ttl_s * 1000,
        .max_value_ttl_ms = def->max_ttl_ms ? def->max_ttl_ms(rt->cs) : 0,
        .load_functions = rt->s.redis_load_functions,
    };
    rt->ap = cf_apply_new(&as, rt->lg);
    rt->dl = cf_deadletter_new(&rt->s, def->name, rt->lg, rt->m, err, sizeof(err));
    if (!rt->dl) {
        cf_log_emit(rt->lg, CF_LOG_ERROR, "cannot start", CF_LS("error", err), CF_LEND);
        goto out;
    }
    if (rt->s.http_port > 0) {
        struct cf_http_settings hs = {rt->s.http_bind, (int)rt->s.http_port, rt->s.http_stuck_ms};
        rt->http = cf_http_new(&hs, rt->m, rt->lg, err, sizeof(err));
        if (!rt->http) {
            cf_log_emit(rt->lg, CF_LOG_ERROR, "cannot start", CF_LS("error", err), CF_LEND);
            goto out;
        }
    }
    /* Redis first: a consumer that joins the group without Redis would only
     * pause its partitions again. */
    if (cf_apply_connect(rt->ap) == 0) {
        atomic_store(&rt->m->redis_up, 1);
        cf_log_emit(
            rt->lg, CF_LOG_INFO, "redis connected, functions loaded",
            CF_LS("host", rt->s.redis_unix_socket[0] ? rt->s.redis_unix_socket : rt->s.redis_host),
            CF_LI("port", rt->s.redis_port), CF_LEND);
    } else if (strncmp(cf_apply_error(rt->ap), "AUTH", 4) == 0) {
        /* Retrying cannot cure this one: say which settings to look at. */
        cf_log_emit(rt->lg, CF_LOG_ERROR,
                    "redis refused the credentials (settings redis.user, redis.password); "
                    "retrying",
                    CF_LS("error", cf_apply_error(rt->ap)), CF_LEND);
    } else {
        cf_log_emit(rt->lg, CF_LOG_WARN, "redis not reachable yet; will retry with the first batch",
                    CF_LS("error", cf_apply_error(rt->ap)), CF_LEND);
    }
    struct cf_source_hooks hooks = {rt, before_revoke};
    rt->src = rt->rewarm ? cf_source_new_replay(&rt->s, rt->lg, rt->m, err, sizeof(err))
                         : cf_source_new(&rt->s, rt->lg, rt->m, &hooks, err, sizeof(err));
    if (!rt->src) {
        cf_log_emit(rt->lg, CF_LOG_ERROR, "cannot start", CF_LS("error", err), CF_LEND);
        goto out;
    }
    rt->rand_state = (unsigned)(cf_mono_us() ^ getpid());
    rt->last_commit_ms = rt->progress_at_ms = cf_mono_ms();
    cf_log_emit(rt->lg, CF_LOG_INFO, "started", CF_LS("version", CACHEFLEET_VERSION),
                CF_LS("topic", rt->s.kafka_topic), CF_LS("group", rt->s.kafka_group_id),
                CF_LS("dlq_topic", rt->s.kafka_dlq_topic), CF_LS("brokers", rt->s.kafka_brokers),
                CF_LS("prefix", rt->s.cache_prefix), CF_LI("batch_max", rt->s.kafka_batch_max),
                CF_LI("http_port", rt->s.http_port), CF_LB("rewarm", rt->rewarm),
                CF_LS("malloc", cf_malloc_tuning_name(malloc_tuning)),
                CF_LS("librdkafka", rd_kafka_version_str()),
                CF_LB("prefetch_refill", cf_source_refilling(rt->src)), CF_LEND);
    if (rt->rewarm) {
        int64_t total = 0;
        cf_source_replay_done(rt->src, NULL, &total);
        cf_log_emit(rt->lg, CF_LOG_INFO, "re-warm: reading every partition up to its end offset",
                    CF_LI("events", total), CF_LEND);
    }

    status = 0;
    int64_t started_ms = cf_mono_ms();
    while (!stopping(rt)) {
        collect(rt);
        if (process_batch(rt) < 0) {
            if (rt->rewarm)
                status = 1; /* stopped before the end */
            break;
        }
        if (rt->rewarm && in_hand(rt) == 0 && rt->nstash == 0 &&
            cf_source_replay_done(rt->src, NULL, NULL)) {
            int64_t read = 0;
            cf_source_replay_done(rt->src, &read, NULL);
            double secs = (double)(cf_mono_ms() - started_ms) / 1000.0;
            cf_log_emit(rt->lg, CF_LOG_INFO, "re-warm complete", CF_LI("events", read),
                        CF_LU("applied", outcome_total(rt->m, CF_OUTCOME_APPLIED)),
                        CF_LU("rejected", outcome_total(rt->m, CF_OUTCOME_DEADLETTERED)),
                        CF_LU("ops_sent", cf_metric_get(&rt->m->ops_sent)),
                        CF_LU("ops_refused", cf_metric_get(&rt->m->ops_refused)),
                        CF_LF("seconds", secs),
                        CF_LF("events_per_s", secs > 0 ? (double)read / secs : 0.0), CF_LEND);
            break;
        }
        maybe_commit(rt, false);
        maybe_progress(rt);
        if (cf_source_fatal(rt->src)) {
            status = 1;
            break;
        }
    }
    /* Stop arrived while collecting, or with a batch in flight. */
    if (status == 0 && rt->cur->n > 0 && process_batch(rt) < 0 && rt->rewarm)
        status = 1;
    if (status == 0 && finish_flight(rt) < 0 && rt->rewarm)
        status = 1;
    if (rt->rewarm && status == 0 &&
        (in_hand(rt) + rt->nstash > 0 || !cf_source_replay_done(rt->src, NULL, NULL)))
        status = 1; /* stopped (a signal) before every event was applied */
    maybe_commit(rt, true);
    cf_log_emit(rt->lg, CF_LOG_INFO, "stopping",
                CF_LU("events_not_applied", in_hand(rt) + rt->nstash), CF_LEND);

out:
    /* Leave the group before saying so (the revocation logs its own line). */
    cf_source_close(rt->src);
    drop_held_messages(rt);
    cf_source_destroy(rt->src);
    if (rt->src)
        cf_log_emit(rt->lg, CF_LOG_INFO, "stopped", CF_LI("status", status),
                    CF_LU("events_applied", outcome_total(rt->m, CF_OUTCOME_APPLIED)),
                    CF_LU("events_deadlettered", outcome_total(rt->m, CF_OUTCOME_DEADLETTERED)),
                    CF_LEND);
    rt->src = NULL;
    runtime_free(rt, tables);
    return status;
}
