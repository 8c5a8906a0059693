/* check.c - the sample check of any consumer against the oracle's model.
 *
 * What it owns: the model of a range of events and the comparison of a
 * sample of its keys with Redis (check.h says what is compared and how
 * time is accounted for).  What it does not own: the rules (model.c) or
 * the consumer's planning (pipeline.c runs the consumer's own code).
 *
 * DESIGN
 * Keys are read in pipelines of CHECK_PIPELINE keys: for each sampled key
 * a GET (value keys) or SMEMBERS (index sets) and a GET of its marker, the
 * replies read in the order sent.  Keys the model holds as hashes (the
 * menu's records, membership hashes) are not sampled: the products
 * target checks the menu itself, and a membership hash only decides what
 * a set holds, which is compared.
 *
 * Thread: the main thread.
 */
#include "check.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "model.h"
#include "pipeline.h"
#include "rng.h"

#define CHECK_PIPELINE 500
#define MARKER_BYTES   96

struct bench_checker {
    char schemas_dir[4096];
    /* The model of the last range checked, and what it was built from. */
    struct cf_model *model;
    const struct bench_target *t;
    const struct bench_events *es;
    size_t from, to, n;
    int64_t first_ts, last_ts;
    uint64_t rejected;
};

struct bench_checker *bench_checker_new(const char *schemas_dir)
{
    struct bench_checker *ck = calloc(1, sizeof(*ck));
    if (!ck) {
        fprintf(stderr, "cachefleet-bench: out of memory (checker)\n");
        abort();
    }
    snprintf(ck->schemas_dir, sizeof(ck->schemas_dir), "%s", schemas_dir);
    return ck;
}

void bench_checker_destroy(struct bench_checker *ck)
{
    if (!ck)
        return;
    cf_model_destroy(ck->model);
    free(ck);
}

/* ------------------------------------------------------------------------
 * The model
 * ------------------------------------------------------------------------ */

static int model_build(struct bench_checker *ck, const struct bench_target *t,
                       const struct bench_events *es, size_t from, size_t to, char *errstr,
                       size_t errstr_size)
{
    /* The same range of the same events: the store and its first and last
     * times (every generation takes new wall-clock times, so a store freed
     * and refilled at the same address is not mistaken for the last). */
    if (ck->model && ck->t == t && ck->es == es && ck->from == from && ck->to == to &&
        ck->n == es->n && to > from && ck->first_ts == es->ev[from].ts_us &&
        ck->last_ts == es->ev[to - 1].ts_us)
        return 0;
    cf_model_destroy(ck->model);
    ck->model = NULL;
    ck->t = NULL;
    char why[1024];
    struct bench_pipeline *p = bench_pipeline_new(t->def, ck->schemas_dir, 0, why, sizeof(why));
    if (!p) {
        snprintf(errstr, errstr_size, "sample check: %s", why);
        return -1;
    }
    struct cf_model *m = cf_model_new();
    ck->rejected = 0;
    for (size_t i = from; i < to; i++) {
        const struct bench_event *e = &es->ev[i];
        bench_pipeline_clear(p);
        if (bench_pipeline_plan(p, bench_events_payload(es, i), e->len, e->ts_us / 1000, why,
                                sizeof(why)) < 0) {
            ck->rejected++; /* dead-lettered by the consumer too: nothing to apply */
            continue;
        }
        const struct cf_plan *plan = bench_pipeline_plan_of(p);
        if (cf_model_apply(m, plan, 0, cf_plan_count(plan), e->ts_us, NULL, why, sizeof(why)) < 0) {
            snprintf(errstr, errstr_size, "sample check: the model refused event %zu: %s", i, why);
            cf_model_destroy(m);
            bench_pipeline_destroy(p);
            return -1;
        }
    }
    bench_pipeline_destroy(p);
    ck->model = m;
    ck->t = t;
    ck->es = es;
    ck->from = from;
    ck->to = to;
    ck->n = es->n;
    ck->first_ts = to > from ? es->ev[from].ts_us : 0;
    ck->last_ts = to > from ? es->ev[to - 1].ts_us : 0;
    return 0;
}

/* ------------------------------------------------------------------------
 * Reading back
 * ------------------------------------------------------------------------ */

static bool sampled_kind(const struct cf_model_key *k)
{
    return k->type == CF_MODEL_STRING || k->type == CF_MODEL_SET ||
           (k->type == CF_MODEL_ABSENT && k->marker.kind != CF_MARKER_NONE);
}

static int member_order(const void *pa, const void *pb)
{
    const redisReply *a = *(redisReply *const *)pa, *b = *(redisReply *const *)pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->str, b->str, n);
    return c ? c : a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

/* 1: the SMEMBERS reply r holds exactly the model's members of k. */
static int same_members(const struct cf_model_key *k, redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY) /* RESP2: a set is an array */
        return 0;
    if (r->elements != k->nmembers)
        return 0;
    qsort(r->element, r->elements, sizeof(r->element[0]), member_order);
    for (size_t i = 0; i < r->elements; i++) {
        size_t len;
        const char *m = cf_model_key_member(k, i, &len);
        if (r->element[i]->type != REDIS_REPLY_STRING || r->element[i]->len != len ||
            memcmp(r->element[i]->str, m, len) != 0)
            return 0;
    }
    return 1;
}

enum verdict { RIGHT, MISSING, STALE, EXPIRED };

/* The value (or set) of k against its reply. */
static enum verdict grade_value(const struct cf_model_key *k, redisReply *r, int64_t elapsed_ms)
{
    bool absent = r->type == REDIS_REPLY_NIL || (r->type == REDIS_REPLY_ARRAY && r->elements == 0);
    switch (k->type) {
    case CF_MODEL_STRING:
        if (absent)
            return k->ttl_ms > 0 && k->ttl_ms <= elapsed_ms ? EXPIRED : MISSING;
        return r->type == REDIS_REPLY_STRING && r->len == k->value_len &&
                       memcmp(r->str, k->value, r->len) == 0
                   ? RIGHT
                   : STALE;
    case CF_MODEL_SET:
        if (absent && k->nmembers > 0)
            return k->expires_us > 0 && k->expires_us - k->written_us <= elapsed_ms * 1000
                       ? EXPIRED
                       : MISSING;
        return same_members(k, r) ? RIGHT : STALE;
    default:
        return absent ? RIGHT : STALE; /* a tombstone: nothing may be there */
    }
}

/* The marker of k against the GET of {<key>}:v (check.h: what is
 * compared). */
static enum verdict grade_marker(const struct cf_model_key *k, redisReply *r, int64_t elapsed_ms,
                                 int64_t tomb_ms)
{
    char want[MARKER_BYTES];
    cf_model_marker_text(&k->marker, want, sizeof(want));
    size_t len = strlen(want);
    bool owned = k->marker.kind == CF_MARKER_VWT && k->marker.v > 0;
    if (r->type == REDIS_REPLY_NIL) {
        if (len == 0 || !owned)
            return RIGHT; /* nothing, or only another entity's time */
        int64_t ttl = (k->ttl_ms > 0 ? k->ttl_ms : 0) + tomb_ms;
        return ttl <= elapsed_ms ? EXPIRED : MISSING;
    }
    if (r->type != REDIS_REPLY_STRING)
        return STALE;
    if (r->len == len && memcmp(r->str, want, len) == 0)
        return RIGHT;
    if (k->marker.kind != CF_MARKER_VWT)
        return STALE; /* a set's time: compared whole */
    unsigned long long v, w, t;
    char tail;
    char text[MARKER_BYTES];
    snprintf(text, sizeof(text), "%.*s", (int)r->len, r->str);
    if (sscanf(text, "%llu %llu %llu%c", &v, &w, &t, &tail) != 3)
        return STALE;
    if (!owned)
        return v == 0 ? RIGHT : STALE;
    if (v == k->marker.v && (int64_t)w == k->marker.w)
        return RIGHT; /* T aside */
    /* Another entity's invalidation on either side: which of the owner's
     * warms it refused depends on the order Redis met them in; only the
     * value (compared already) is order-free. */
    if (t > 0 || k->marker.t > 0)
        return RIGHT;
    return STALE;
}

static void count(struct bench_check *out, enum verdict v)
{
    switch (v) {
    case RIGHT:
        out->right++;
        break;
    case MISSING:
        out->missing++;
        break;
    case STALE:
        out->stale++;
        break;
    case EXPIRED:
        out->expired++;
        break;
    }
}

/* "key: expected <x>, found <y>" for the progress line. */
static void describe(const struct cf_model_key *k, const redisReply *value,
                     const redisReply *marker, int value_wrong, char *buf, size_t size)
{
    char want[MARKER_BYTES];
    if (value_wrong) {
        const char *found = value->type == REDIS_REPLY_STRING  ? value->str
                            : value->type == REDIS_REPLY_ARRAY ? "(a set)"
                                                               : "(nothing)";
        snprintf(buf, size, "%.*s: expected %s%.60s (%zu members), found %.60s", (int)k->key_len,
                 k->key, k->type == CF_MODEL_STRING ? "" : "(no value) ",
                 k->type == CF_MODEL_STRING ? k->value : "", k->nmembers, found);
    } else {
        snprintf(buf, size, "{%.*s}:v: expected \"%s\", found \"%.60s\"", (int)k->key_len, k->key,
                 cf_model_marker_text(&k->marker, want, sizeof(want)),
                 marker->type == REDIS_REPLY_STRING ? marker->str : "(nothing)");
    }
}

static int append_key(redisContext *c, const struct cf_model_key *k, char *errstr,
                      size_t errstr_size)
{
    char mkey[1024];
    int mlen = snprintf(mkey, sizeof(mkey), "{%.*s}:v", (int)k->key_len, k->key);
    const char *argv[2] = {k->type == CF_MODEL_SET ? "SMEMBERS" : "GET", k->key};
    size_t lens[2] = {strlen(argv[0]), k->key_len};
    const char *margv[2] = {"GET", mkey};
    size_t mlens[2] = {3, (size_t)mlen};
    if (mlen < 0 || (size_t)mlen >= sizeof(mkey)) {
        snprintf(errstr, errstr_size, "sample check: a key of %zu bytes", k->key_len);
        return -1;
    }
    if (redisAppendCommandArgv(c, 2, argv, lens) != REDIS_OK ||
        redisAppendCommandArgv(c, 2, margv, mlens) != REDIS_OK) {
        snprintf(errstr, errstr_size, "redis (sample check): %s", c->errstr);
        return -1;
    }
    return 0;
}

static redisReply *read_reply(redisContext *c, char *errstr, size_t errstr_size)
{
    void *r = NULL;
    if (redisGetReply(c, &r) != REDIS_OK || !r) {
        snprintf(errstr, errstr_size, "redis (sample check): %s", c->errstr);
        return NULL;
    }
    redisReply *reply = r;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "redis (sample check): %.*s", (int)reply->len, reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

int bench_check_model(struct bench_checker *ck, redisContext *c, const struct bench_target *t,
                      const struct bench_events *es, size_t from, size_t to, size_t sample,
                      uint64_t seed, int64_t since_us, struct bench_check *out, char *errstr,
                      size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    if (model_build(ck, t, es, from, to, errstr, errstr_size) < 0)
        return -1;
    int64_t elapsed_ms = (cf_wall_us() - since_us) / 1000;
    size_t n = cf_model_count(ck->model), nids = 0;
    size_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    if (!ids) {
        snprintf(errstr, errstr_size, "sample check: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct cf_model_key k;
        cf_model_key_at(ck->model, i, &k);
        if (sampled_kind(&k))
            ids[nids++] = i;
    }
    /* A partial Fisher-Yates shuffle picks `sample` distinct keys. */
    struct sim_rng rng;
    sim_rng_seed(&rng, seed, 13);
    if (sample > nids)
        sample = nids;
    for (size_t k = 0; k < sample; k++) {
        size_t j = k + sim_rng_below(&rng, (uint32_t)(nids - k));
        size_t tmp = ids[k];
        ids[k] = ids[j];
        ids[j] = tmp;
    }
    int rc = -1;
    for (size_t base = 0; base < sample; base += CHECK_PIPELINE) {
        size_t cnt = sample - base < CHECK_PIPELINE ? sample - base : CHECK_PIPELINE;
        for (size_t m = 0; m < cnt; m++) {
            struct cf_model_key k;
            cf_model_key_at(ck->model, ids[base + m], &k);
            if (append_key(c, &k, errstr, errstr_size) < 0)
                goto out;
        }
        for (size_t m = 0; m < cnt; m++) {
            struct cf_model_key k;
            cf_model_key_at(ck->model, ids[base + m], &k);
            redisReply *value = read_reply(c, errstr, errstr_size);
            if (!value)
                goto out;
            redisReply *marker = read_reply(c, errstr, errstr_size);
            if (!marker) {
                freeReplyObject(value);
                goto out;
            }
            enum verdict v = grade_value(&k, value, elapsed_ms);
            enum verdict mv =
                grade_marker(&k, marker, elapsed_ms, (int64_t)CF_MODEL_TOMBSTONE_TTL_MS);
            if ((v == MISSING || v == STALE || mv == MISSING || mv == STALE) && !out->example[0])
                describe(&k, value, marker, v != RIGHT, out->example, sizeof(out->example));
            out->sampled++;
            out->expect_absent += k.type == CF_MODEL_ABSENT;
            out->markers_wrong += mv == STALE || mv == MISSING;
            /* The key's verdict is the worse of the two. */
            count(out, v == RIGHT ? mv : v);
            freeReplyObject(value);
            freeReplyObject(marker);
        }
    }
    out->ok = out->missing == 0 && out->stale == 0 && out->sampled > 0;
    rc = 0;

out:
    free(ids);
    return rc;
}
