/* test_oracle.c - the oracle (tools/oracle) against the real thing.
 *
 * Two groups:
 *
 * 1. Differential: the model (tools/oracle/model.c) against the real Lua
 *    (common/functions.lua in a real redis-server, through apply.c's
 *    cf_apply_plan).  A deterministic PRNG draws batches of operations over
 *    a small key space, so that they collide: warms and guarded warms with
 *    random versions and times, invalidations, cross-entity invalidations,
 *    tags with registered members, versioned index adds, removes and
 *    purges, fan-outs, category records (some malformed) and menu
 *    rebuilds.  Scenarios of replays hold an older operation back for the
 *    next batch, so that it meets the newer state in Redis: an add replayed
 *    after a remove, an older remove after an add, a purge older than a
 *    later add, older adds after a purge, and a guarded warm after the
 *    fan-out of a role the user has left (not among its guards); each must
 *    have been played a few times per sequence.  Each
 *    batch goes to Redis and to the model, with coalescing off or on
 *    (both get the same live operations); then the whole of Redis (every
 *    key: strings, sets, hashes, markers) is compared with the whole model,
 *    and the applied/refused counts with cachefleet_apply's.  A divergence
 *    prints the differing keys and the operation sequence that led to it.
 *
 * 2. End to end: the broker, redis and the five consumer programs; the
 *    simulator plays its shop into every topic; the oracle reads the topics
 *    and must find the cache right (nothing missing, stale or extra, every
 *    event counted).  Then Redis is corrupted on purpose (a product
 *    deleted, a cart overwritten, a member added to a role set, an unknown
 *    product written) and the oracle must count exactly those, with those
 *    keys in its samples; the program cachefleet-audit must say the same
 *    through its exit status and --json.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "buf.h"
#include "clock.h"
#include "fleet.h"
#include "harness.h"
#include "httpget.h"
#include "log.h"
#include "model.h"
#include "oracle.h"
#include "plan.h"

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* A list of owned strings. */
struct lines {
    char **v;
    size_t n, cap;
};

static void lines_push(struct lines *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        assert_non_null(l->v);
    }
    l->v[l->n] = malloc(len + 1);
    assert_non_null(l->v[l->n]);
    memcpy(l->v[l->n], s, len);
    l->v[l->n][len] = '\0';
    l->n++;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int str_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
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

/* Hash pairs (field, value) sorted by field. */
static int pair_order(const void *pa, const void *pb)
{
    const redisReply *const *a = pa, *const *b = pb;
    return bytes_order(a[0]->str, a[0]->len, b[0]->str, b[0]->len);
}

/* ------------------------------------------------------------------------
 * 1. Differential: the model against the Lua
 * ------------------------------------------------------------------------ */

#define TOMB_MS      3600000
#define MAX_VALUE_MS 3600000
#define BATCHES      300
#define SEEDS        3

struct diff_fixture {
    char dir[PATH_MAX];
    struct cf_redis redis;
    redisContext *rc;
    struct cf_log *lg;
};

static int diff_setup(void **state)
{
    struct diff_fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    cf_test_tmpdir("oracle-diff", fx->dir, sizeof(fx->dir));
    if (cf_redis_start(&fx->redis, fx->dir, NULL) < 0)
        return -1;
    fx->rc = cf_redis_connect(&fx->redis);
    if (!fx->rc)
        return -1;
    fx->lg = cf_log_new("test", CF_LOG_WARN, stderr);
    *state = fx;
    return 0;
}

static int diff_teardown(void **state)
{
    struct diff_fixture *fx = *state;
    redisFree(fx->rc);
    cf_log_destroy(fx->lg);
    assert_int_equal(cf_redis_stop(&fx->redis), 0);
    cf_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

static struct cf_apply *apply_new(struct diff_fixture *fx, int ops_per_call)
{
    struct cf_apply_settings s = {
        .host = fx->redis.host,
        .port = fx->redis.port,
        .unix_socket = "",
        .db = 0,
        .user = "",
        .password = "",
        .client_name = "cachefleet-test-oracle",
        .connect_timeout_ms = 2000,
        .command_timeout_ms = 10000,
        .ops_per_call = ops_per_call,
        .tombstone_ttl_ms = TOMB_MS,
        .max_value_ttl_ms = MAX_VALUE_MS,
        .load_functions = 1,
    };
    return cf_apply_new(&s, fx->lg);
}

static void flushall(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "FLUSHALL");
    assert_non_null(r);
    freeReplyObject(r);
}

/* --- The generator --------------------------------------------------------- */

/* An operation a scenario holds back for the next batch (a replay that
 * arrives after the newer state was applied). */
struct pending_op {
    char code;                      /* A, R, P or T */
    const char *kind, *id, *member; /* A, R, P: the set; T: kind and id of the value */
    const char *member_kind;        /* P */
    const char *guard;              /* T: a role, or NULL */
    uint64_t ver;
    int64_t ts, ttl;
};

enum {
    SC_ADD_AFTER_REMOVE, /* an older add replayed after a remove */
    SC_REMOVE_AFTER_ADD, /* an older remove after an add */
    SC_PURGE_AFTER_ADD,  /* a purge older than a later add */
    SC_ADDS_AFTER_PURGE, /* a purge followed by older adds */
    SC_FOREIGN_FANOUT,   /* a guarded warm after a fan-out of a role not among its guards */
    NSCENARIOS
};

struct gen {
    uint64_t s; /* splitmix64 state */
    int batch;
    int nops;          /* operations drawn so far */
    struct cf_buf log; /* every operation drawn, one line each */
    struct pending_op pending[8];
    int npending;
    int scenarios[NSCENARIOS]; /* scenarios played out (their replays emitted) */
    int scenario_of[8];        /* of each pending operation, -1: none */
};

static uint64_t rnd(struct gen *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t below(struct gen *g, uint64_t n)
{
    return rnd(g) % n;
}

static const char *pick(struct gen *g, const char *const *items, size_t n)
{
    return items[below(g, n)];
}
#define PICK(g, arr) pick((g), (arr), sizeof(arr) / sizeof((arr)[0]))

static void logf_(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct gen *g, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    char head[32];
    int h = snprintf(head, sizeof(head), "b%d #%d ", g->batch, g->nops++);
    cf_buf_put(&g->log, head, (size_t)h);
    cf_buf_put(&g->log, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
    cf_buf_put(&g->log, "\n", 1);
}

static const char *const products[] = {"1", "2", "3"};
static const char *const users[] = {"u1", "u2", "u3", "u4"};
static const char *const members[] = {"u1", "u2", "u3", "u4", "u5"};
static const char *const carts[] = {"c1", "c2"};
static const char *const roles[] = {"r1", "r2", "r3"};
static const char *const sessions[] = {"s1", "s2", "s3"};
static const char *const session_users[] = {"u1", "u2"};
static const char *const tags[] = {"1", "2"};
static const char *const tag_members[] = {":1:product:1", ":1:product:2", ":1:perms:u1",
                                          ":1:cart:c1", ":1:listing:x"};
static const char *const category_ids[] = {"1", "2", "3",  "4",  "5",  "10",
                                           "a", "B", "_x", "-y", "z.z"};
static const char *const names[] = {"Home", "Shoes", "Boots", "Caf\xc3\xa9", "A|B"};
static const char *const malformed[] = {
    "garbage", "|x|1|\"id\":\"q\"", "|1|2|\"id\":\"q\"", "|-|1|", "||1|", "|5|1"};

#define SESSION_KIND "django.contrib.sessions.cache"

static uint64_t gen_version(struct gen *g)
{
    static const uint64_t big[] = {9007199254740992ULL, 9007199254740993ULL,
                                   18446744073709551614ULL, 18446744073709551615ULL};
    if (below(g, 25) == 0)
        return big[below(g, 4)];
    return below(g, 6);
}

static int64_t gen_time(struct gen *g)
{
    static const int64_t big[] = {9007199254740993LL, INT64_MAX};
    if (below(g, 40) == 0)
        return big[below(g, 2)];
    return (int64_t)below(g, 40);
}

static int64_t gen_ttl(struct gen *g)
{
    return 600000 + (int64_t)below(g, 3000000);
}

/* A value key: kind and id. */
static void gen_value_key(struct gen *g, const char **kind, const char **id)
{
    switch (below(g, 4)) {
    case 0:
        *kind = "product:";
        *id = PICK(g, products);
        break;
    case 1:
        *kind = "cart:";
        *id = PICK(g, carts);
        break;
    case 2:
        *kind = SESSION_KIND;
        *id = PICK(g, sessions);
        break;
    default:
        *kind = "perms:";
        *id = PICK(g, users);
        break;
    }
}

/* A category record payload as the products planner makes it, sometimes
 * deleted or malformed. */
static void gen_category(struct gen *g, struct cf_plan *plan)
{
    const char *id = PICK(g, category_ids);
    uint64_t ver = gen_version(g);
    int64_t ts = gen_time(g);
    char payload[256];
    int n;
    switch (below(g, 10)) {
    case 0:
        n = 0; /* deleted */
        payload[0] = '\0';
        break;
    case 1: /* malformed: the menu skips it */
        n = snprintf(payload, sizeof(payload), "%s", PICK(g, malformed));
        break;
    default: {
        const char *parent = below(g, 3) == 0   ? ""
                             : below(g, 8) == 0 ? "99"
                                                : PICK(g, category_ids);
        n = snprintf(payload, sizeof(payload), "%s|%d|%d|\"id\":\"%s\",\"name\":\"%s\"", parent,
                     (int)below(g, 6) - 2, below(g, 5) != 0, id, PICK(g, names));
        break;
    }
    }
    cf_plan_category(plan, "cf:categories", id, strlen(id), ver, ts, payload, (size_t)n);
    logf_(g, "C cf:categories id=%s ver=%" PRIu64 " ts=%" PRId64 " payload=%s", id, ver, ts,
          payload);
}

/* A set to change: a role's members (no TTL) or a user's sessions. */
static void gen_set(struct gen *g, const char **kind, const char **id, const char **member,
                    const char **member_kind, int64_t *ttl)
{
    if (below(g, 2)) {
        *kind = "cf:role:";
        *id = PICK(g, roles);
        *member = PICK(g, members);
        *member_kind = "perms:";
        *ttl = 0;
    } else {
        *kind = "cf:sessions:";
        *id = PICK(g, session_users);
        *member = PICK(g, sessions);
        *member_kind = SESSION_KIND;
        *ttl = below(g, 2) ? gen_ttl(g) : 0;
    }
}

static void emit_add(struct gen *g, struct cf_plan *plan, const char *kind, const char *id,
                     const char *member, uint64_t ver, int64_t ttl)
{
    cf_plan_index_add(plan, kind, id, strlen(id), member, strlen(member), ver, ttl);
    logf_(g, "A %s%s member=%s ver=%" PRIu64 " ttl=%" PRId64, kind, id, member, ver, ttl);
}

static void emit_remove(struct gen *g, struct cf_plan *plan, const char *kind, const char *id,
                        const char *member, uint64_t ver)
{
    cf_plan_index_remove(plan, kind, id, strlen(id), member, strlen(member), ver);
    logf_(g, "R %s%s member=%s ver=%" PRIu64, kind, id, member, ver);
}

static void emit_purge(struct gen *g, struct cf_plan *plan, const char *kind, const char *id,
                       const char *member_kind, uint64_t ver)
{
    cf_plan_purge(plan, kind, id, strlen(id), member_kind, ver);
    logf_(g, "P %s%s %s ver=%" PRIu64, kind, id, member_kind, ver);
}

static void emit_guarded(struct gen *g, struct cf_plan *plan, const char *id, uint64_t ver,
                         int64_t ts, int64_t ttl, const char *guard)
{
    char value[64];
    snprintf(value, sizeof(value), "{\"b\":%d,\"n\":%d}", g->batch, g->nops);
    cf_plan_warm_guarded(plan, "perms:", id, strlen(id), ver, ts, ttl, value, strlen(value));
    if (guard)
        cf_plan_guard(plan, "cf:role:", guard, strlen(guard));
    logf_(g, "T perms:%s ver=%" PRIu64 " ts=%" PRId64 " ttl=%" PRId64 " value=%s guards=[%s%s]", id,
          ver, ts, ttl, value, guard ? "cf:role:" : "", guard ? guard : "");
}

static void hold(struct gen *g, int scenario, struct pending_op op)
{
    if (g->npending == (int)(sizeof(g->pending) / sizeof(g->pending[0])))
        return;
    g->scenario_of[g->npending] = scenario;
    g->pending[g->npending++] = op;
}

/* The operations held back by scenarios, at the start of a batch. */
static void emit_pending(struct gen *g, struct cf_plan *plan)
{
    for (int i = 0; i < g->npending; i++) {
        const struct pending_op *op = &g->pending[i];
        switch (op->code) {
        case 'A':
            emit_add(g, plan, op->kind, op->id, op->member, op->ver, op->ttl);
            break;
        case 'R':
            emit_remove(g, plan, op->kind, op->id, op->member, op->ver);
            break;
        case 'P':
            emit_purge(g, plan, op->kind, op->id, op->member_kind, op->ver);
            break;
        default:
            emit_guarded(g, plan, op->id, op->ver, op->ts, op->ttl, op->guard);
            break;
        }
        if (g->scenario_of[i] >= 0)
            g->scenarios[g->scenario_of[i]]++;
    }
    g->npending = 0;
}

/* A scenario of replays: the newer state now, the older operation held
 * back for the next batch (so it meets the newer state in Redis, not only
 * in coalescing). */
static void gen_scenario(struct gen *g, struct cf_plan *plan)
{
    const char *kind, *id, *member, *member_kind;
    int64_t ttl;
    gen_set(g, &kind, &id, &member, &member_kind, &ttl);
    uint64_t v = 2 + below(g, 6);
    int which = (int)below(g, NSCENARIOS);
    struct pending_op later = {0, kind, id, member, member_kind, NULL, v, 0, ttl};
    switch (which) {
    case SC_ADD_AFTER_REMOVE:
        emit_add(g, plan, kind, id, member, v, ttl);
        emit_remove(g, plan, kind, id, member, v + 1);
        later.code = 'A';
        hold(g, which, later);
        break;
    case SC_REMOVE_AFTER_ADD:
        emit_add(g, plan, kind, id, member, v + 1, ttl);
        later.code = 'R';
        hold(g, which, later);
        break;
    case SC_PURGE_AFTER_ADD:
        emit_add(g, plan, kind, id, member, v + 2, ttl);
        later.code = 'P';
        hold(g, which, later);
        break;
    case SC_ADDS_AFTER_PURGE: {
        emit_purge(g, plan, kind, id, member_kind, v + 2);
        later.code = 'A';
        hold(g, which, later);
        const char *other = strcmp(kind, "cf:role:") == 0 ? PICK(g, members) : PICK(g, sessions);
        struct pending_op second = {'A', kind, id, other, member_kind, NULL, v + 1, 0, ttl};
        hold(g, -1, second);
        break;
    }
    default: { /* SC_FOREIGN_FANOUT: the fault test's case */
        const char *user = PICK(g, users), *role = PICK(g, roles), *kept = PICK(g, roles);
        int64_t ts = 20 + (int64_t)below(g, 20);
        emit_add(g, plan, "cf:role:", role, user, v, 0);
        cf_plan_fanout(plan, "cf:role:", role, strlen(role), "perms:", ts);
        logf_(g, "F cf:role:%s perms: ts=%" PRId64, role, ts);
        struct pending_op leave = {'R', "cf:role:", role, user, NULL, NULL, v + 1, 0, 0};
        hold(g, -1, leave);
        /* Computed before the fan-out, guarded by another role the user
         * holds or by none.  (The draws in order: an initializer's are
         * unsequenced.) */
        int64_t before = ts - 1 - (int64_t)below(g, 10), wttl = gen_ttl(g);
        struct pending_op warm = {.code = 'T',
                                  .kind = "perms:",
                                  .id = user,
                                  .guard = strcmp(kept, role) ? kept : NULL,
                                  .ver = v + 1,
                                  .ts = before,
                                  .ttl = wttl};
        hold(g, which, warm);
        break;
    }
    }
}

/* Draws one operation into plan (and the log). */
static void gen_op(struct gen *g, struct cf_plan *plan)
{
    const char *kind, *id;
    char value[64];
    if (below(g, 100) < 6) {
        gen_scenario(g, plan);
        return;
    }
    uint64_t r = below(g, 100);
    snprintf(value, sizeof(value), "{\"b\":%d,\"n\":%d}", g->batch, g->nops);
    if (r < 20) {
        gen_value_key(g, &kind, &id);
        uint64_t ver = gen_version(g);
        int64_t ts = gen_time(g), ttl = gen_ttl(g);
        cf_plan_warm(plan, kind, id, strlen(id), ver, ts, ttl, value, strlen(value));
        logf_(g, "W %s%s ver=%" PRIu64 " ts=%" PRId64 " ttl=%" PRId64 " value=%s", kind, id, ver,
              ts, ttl, value);
    } else if (r < 30) {
        id = PICK(g, users);
        uint64_t ver = gen_version(g);
        int64_t ts = gen_time(g), ttl = gen_ttl(g);
        cf_plan_warm_guarded(plan, "perms:", id, strlen(id), ver, ts, ttl, value, strlen(value));
        char guards[64] = "";
        size_t ng = below(g, 4), gl = 0;
        for (size_t i = 0; i < ng; i++) {
            const char *role = PICK(g, roles);
            cf_plan_guard(plan, "cf:role:", role, strlen(role));
            gl += (size_t)snprintf(guards + gl, sizeof(guards) - gl, "%scf:role:%s", i ? "," : "",
                                   role);
        }
        logf_(g, "T perms:%s ver=%" PRIu64 " ts=%" PRId64 " ttl=%" PRId64 " value=%s guards=[%s]",
              id, ver, ts, ttl, value, guards);
    } else if (r < 40) {
        gen_value_key(g, &kind, &id);
        uint64_t ver = gen_version(g);
        int64_t ts = gen_time(g);
        cf_plan_invalidate(plan, kind, id, strlen(id), ver, ts);
        logf_(g, "D %s%s ver=%" PRIu64 " ts=%" PRId64, kind, id, ver, ts);
    } else if (r < 49) {
        gen_value_key(g, &kind, &id);
        int64_t ts = gen_time(g);
        cf_plan_xinval(plan, kind, id, strlen(id), ts);
        logf_(g, "X %s%s ts=%" PRId64, kind, id, ts);
    } else if (r < 53) {
        id = PICK(g, tags);
        int64_t ts = gen_time(g);
        cf_plan_tag(plan, "category:", id, strlen(id), ts);
        logf_(g, "G tag:category:%s ts=%" PRId64, id, ts);
    } else if (r < 66) {
        /* Index add: a role, a user's sessions (with a TTL), or a tag (as
         * the web tier's fill registers a key). */
        const char *member, *member_kind;
        int64_t ttl;
        if (below(g, 3) == 0) {
            kind = "tag:category:";
            id = PICK(g, tags);
            member = PICK(g, tag_members);
            ttl = gen_ttl(g);
        } else {
            gen_set(g, &kind, &id, &member, &member_kind, &ttl);
        }
        emit_add(g, plan, kind, id, member, gen_version(g), ttl);
    } else if (r < 73) {
        const char *member, *member_kind;
        int64_t ttl;
        gen_set(g, &kind, &id, &member, &member_kind, &ttl);
        emit_remove(g, plan, kind, id, member, gen_version(g));
    } else if (r < 80) {
        id = PICK(g, roles);
        int64_t ts = gen_time(g);
        cf_plan_fanout(plan, "cf:role:", id, strlen(id), "perms:", ts);
        logf_(g, "F cf:role:%s perms: ts=%" PRId64, id, ts);
    } else if (r < 83) {
        const char *member, *member_kind;
        int64_t ttl;
        gen_set(g, &kind, &id, &member, &member_kind, &ttl);
        emit_purge(g, plan, kind, id, member_kind, gen_version(g));
    } else if (r < 94) {
        gen_category(g, plan);
    } else {
        int64_t ttl = gen_ttl(g);
        cf_plan_menu(plan, "menu:", "main", "cf:categories", ttl);
        logf_(g, "M menu:main cf:categories ttl=%" PRId64, ttl);
    }
}

/* --- Dumps: the whole key space as sorted lines ------------------------------ */

/* One line: "<S|Z|H> <key> <content>".  A set's or a hash's content ends
 * with " (expires)" when it has a TTL: whether it has one is compared,
 * not its length (the model's clock is not Redis's). */
static void dump_line(struct lines *out, char type, const char *key, size_t key_len,
                      const struct cf_buf *content)
{
    struct cf_buf b = {NULL, 0, 0};
    cf_buf_put(&b, &type, 1);
    cf_buf_put(&b, " ", 1);
    cf_buf_put(&b, key, key_len);
    cf_buf_put(&b, " ", 1);
    if (content->len)
        cf_buf_put(&b, content->data, content->len);
    lines_push(out, b.data, b.len);
    cf_buf_free(&b);
}

static void dump_model(const struct cf_model *m, struct lines *out)
{
    struct cf_buf c = {NULL, 0, 0};
    for (size_t i = 0; i < cf_model_count(m); i++) {
        struct cf_model_key k;
        cf_model_key_at(m, i, &k);
        c.len = 0;
        if (k.type == CF_MODEL_STRING) {
            cf_buf_put(&c, k.value, k.value_len);
            dump_line(out, 'S', k.key, k.key_len, &c);
        } else if (k.type == CF_MODEL_SET) {
            for (size_t j = 0; j < k.nmembers; j++) {
                size_t n;
                const char *mb = cf_model_key_member(&k, j, &n);
                if (j)
                    cf_buf_put(&c, " ", 1);
                cf_buf_put(&c, mb, n);
            }
            if (k.expires_us)
                cf_buf_puts(&c, " (expires)");
            dump_line(out, 'Z', k.key, k.key_len, &c);
        } else if (k.type == CF_MODEL_HASH) {
            for (size_t j = 0; j < k.nmembers; j++) {
                const char *name, *rec;
                size_t nn, rn;
                cf_model_key_field(&k, j, &name, &nn, &rec, &rn);
                if (j)
                    cf_buf_put(&c, " ", 1);
                cf_buf_put(&c, name, nn);
                cf_buf_put(&c, "=", 1);
                cf_buf_put(&c, rec, rn);
            }
            if (k.expires_us)
                cf_buf_puts(&c, " (expires)");
            dump_line(out, 'H', k.key, k.key_len, &c);
        }
        if (k.marker.kind != CF_MARKER_NONE) {
            char text[96], mkey[512];
            int n = snprintf(mkey, sizeof(mkey), "{%.*s}:v", (int)k.key_len, k.key);
            c.len = 0;
            cf_buf_puts(&c, cf_model_marker_text(&k.marker, text, sizeof(text)));
            dump_line(out, 'S', mkey, (size_t)n, &c);
        }
    }
    cf_buf_free(&c);
    qsort(out->v, out->n, sizeof(*out->v), str_order);
}

static redisReply *command_argv(redisContext *rc, int argc, const char **argv, const size_t *lens)
{
    redisReply *r = redisCommandArgv(rc, argc, argv, lens);
    if (!r)
        fail_msg("redis: %s", rc->errstr);
    return r;
}

/* Does key k have a TTL in Redis? */
static bool expiring(redisContext *rc, const redisReply *k)
{
    const char *argv[2] = {"PTTL", k->str};
    size_t lens[2] = {4, k->len};
    redisReply *r = command_argv(rc, 2, argv, lens);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    bool yes = r->integer >= 0;
    freeReplyObject(r);
    return yes;
}

static void dump_redis(redisContext *rc, struct lines *out)
{
    redisReply *keys = redisCommand(rc, "KEYS *");
    assert_non_null(keys);
    assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
    struct cf_buf c = {NULL, 0, 0};
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        const char *argv[2] = {"TYPE", k->str};
        size_t lens[2] = {4, k->len};
        redisReply *t = command_argv(rc, 2, argv, lens);
        c.len = 0;
        if (strcmp(t->str, "string") == 0) {
            argv[0] = "GET";
            lens[0] = 3;
            redisReply *v = command_argv(rc, 2, argv, lens);
            cf_buf_put(&c, v->str, v->len);
            dump_line(out, 'S', k->str, k->len, &c);
            freeReplyObject(v);
        } else if (strcmp(t->str, "set") == 0) {
            argv[0] = "SMEMBERS";
            lens[0] = 8;
            redisReply *v = command_argv(rc, 2, argv, lens);
            qsort(v->element, v->elements, sizeof(*v->element), reply_order);
            for (size_t j = 0; j < v->elements; j++) {
                if (j)
                    cf_buf_put(&c, " ", 1);
                cf_buf_put(&c, v->element[j]->str, v->element[j]->len);
            }
            if (expiring(rc, k))
                cf_buf_puts(&c, " (expires)");
            dump_line(out, 'Z', k->str, k->len, &c);
            freeReplyObject(v);
        } else if (strcmp(t->str, "hash") == 0) {
            argv[0] = "HGETALL";
            lens[0] = 7;
            redisReply *v = command_argv(rc, 2, argv, lens);
            qsort(v->element, v->elements / 2, 2 * sizeof(*v->element), pair_order);
            for (size_t j = 0; j + 1 < v->elements; j += 2) {
                if (j)
                    cf_buf_put(&c, " ", 1);
                cf_buf_put(&c, v->element[j]->str, v->element[j]->len);
                cf_buf_put(&c, "=", 1);
                cf_buf_put(&c, v->element[j + 1]->str, v->element[j + 1]->len);
            }
            if (expiring(rc, k))
                cf_buf_puts(&c, " (expires)");
            dump_line(out, 'H', k->str, k->len, &c);
            freeReplyObject(v);
        } else {
            fail_msg("unexpected type %s of key %s", t->str, k->str);
        }
        freeReplyObject(t);
    }
    cf_buf_free(&c);
    freeReplyObject(keys);
    qsort(out->v, out->n, sizeof(*out->v), str_order);
}

/* Compares the dumps; prints every differing line.  Returns the number of
 * differences. */
static size_t dump_diff(const struct lines *model, const struct lines *redis)
{
    size_t i = 0, j = 0, diffs = 0;
    while (i < model->n || j < redis->n) {
        int c = i == model->n ? 1 : j == redis->n ? -1 : strcmp(model->v[i], redis->v[j]);
        if (c == 0) {
            i++;
            j++;
            continue;
        }
        diffs++;
        if (c < 0)
            print_error("  model only: %s\n", model->v[i++]);
        else
            print_error("  redis only: %s\n", redis->v[j++]);
    }
    return diffs;
}

/* Runs one seeded sequence with coalescing off or on. */
static void differential(struct diff_fixture *fx, uint64_t seed, bool coalesce, int ops_per_call)
{
    flushall(fx->rc);
    struct cf_apply *ap = apply_new(fx, ops_per_call);
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_model *m = cf_model_new();
    cf_model_set_tombstone_ttl(m, TOMB_MS);
    struct gen g;
    memset(&g, 0, sizeof(g));
    g.s = seed;
    char err[512];
    uint64_t total_ops = 0;

    for (g.batch = 0; g.batch < BATCHES; g.batch++) {
        cf_plan_clear(plan);
        emit_pending(&g, plan);
        size_t n = 1 + below(&g, 16);
        for (size_t i = 0; i < n; i++)
            gen_op(&g, plan);
        n = cf_plan_count(plan);
        if (coalesce)
            cf_plan_coalesce(plan);
        total_ops += n;

        struct cf_apply_result res;
        if (cf_apply_plan(ap, plan, &res) != 0)
            fail_msg("apply (seed %" PRIu64 ", batch %d): %s", seed, g.batch, cf_apply_error(ap));
        struct cf_model_result mres = {0, 0};
        if (cf_model_apply(m, plan, 0, cf_plan_count(plan), cf_wall_us(), &mres, err,
                           sizeof(err)) != 0)
            fail_msg("model (seed %" PRIu64 ", batch %d): %s", seed, g.batch, err);

        struct lines lm = {NULL, 0, 0}, lr = {NULL, 0, 0};
        dump_model(m, &lm);
        dump_redis(fx->rc, &lr);
        size_t diffs = 0;
        if (res.applied != mres.applied || res.refused != mres.refused) {
            print_error("  counts: redis applied %" PRIu64 " refused %" PRIu64
                        ", model applied %" PRIu64 " refused %" PRIu64 "\n",
                        res.applied, res.refused, mres.applied, mres.refused);
            diffs++;
        }
        diffs += dump_diff(&lm, &lr);
        lines_free(&lm);
        lines_free(&lr);
        if (diffs) {
            print_error("the model diverged from functions.lua (seed %" PRIu64
                        ", coalescing %s, %d ops per call) after batch %d; the operations "
                        "so far:\n%.*s",
                        seed, coalesce ? "on" : "off", ops_per_call, g.batch, (int)g.log.len,
                        g.log.data);
            cf_buf_free(&g.log);
            cf_model_destroy(m);
            cf_plan_destroy(plan);
            cf_apply_destroy(ap);
            fail_msg("%zu difference(s) between the model and Redis", diffs);
        }
    }
    print_message("  seed %" PRIu64 ", coalescing %s: %" PRIu64 " operations in %d batches, %zu "
                  "keys, no divergence; replay scenarios %d %d %d %d %d\n",
                  seed, coalesce ? "on" : "off", total_ops, BATCHES, cf_model_count(m),
                  g.scenarios[0], g.scenarios[1], g.scenarios[2], g.scenarios[3], g.scenarios[4]);
    /* A sequence that touched too little would prove nothing; every
     * scenario of replays was played out. */
    assert_true(cf_model_count(m) >= 20);
    for (int i = 0; i < NSCENARIOS; i++) {
        if (g.scenarios[i] < 3)
            fail_msg("seed %" PRIu64 ": scenario %d played %d times only", seed, i, g.scenarios[i]);
    }
    cf_buf_free(&g.log);
    cf_model_destroy(m);
    cf_plan_destroy(plan);
    cf_apply_destroy(ap);
}

static void test_differential_uncoalesced(void **state)
{
    struct diff_fixture *fx = *state;
    for (uint64_t seed = 1; seed <= SEEDS; seed++)
        differential(fx, seed, false, 1 + (int)(seed * 3 % 7));
}

static void test_differential_coalesced(void **state)
{
    struct diff_fixture *fx = *state;
    for (uint64_t seed = 101; seed < 101 + SEEDS; seed++)
        differential(fx, seed, true, 500);
}

/* The menu's corners at once: a chain deeper than the depth limit, ties
 * of position broken by id bytes ("-", "0", "A", "B", "_", "a"), a cycle
 * and a self-parent (not reachable), negative and leading-zero positions,
 * hidden subtrees and orphans. */
static void test_differential_menu_corners(void **state)
{
    struct diff_fixture *fx = *state;
    flushall(fx->rc);
    struct cf_apply *ap = apply_new(fx, 500);
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_model *m = cf_model_new();
    char id[16], parent[16], payload[128], err[256];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "c%02d", i);
        parent[0] = '\0';
        if (i > 0)
            snprintf(parent, sizeof(parent), "c%02d", i - 1);
        int n = snprintf(payload, sizeof(payload), "%s|0|1|\"id\":\"%s\"", parent, id);
        cf_plan_category(plan, "cf:categories", id, strlen(id), 1, 1, payload, (size_t)n);
    }
    static const char *const ties[] = {"A", "a", "B", "_", "-", "0", "a0", "A-"};
    for (size_t i = 0; i < sizeof(ties) / sizeof(ties[0]); i++) {
        int n =
            snprintf(payload, sizeof(payload), "|%s|1|\"id\":\"%s\"", i % 2 ? "007" : "7", ties[i]);
        cf_plan_category(plan, "cf:categories", ties[i], strlen(ties[i]), 1, 1, payload, (size_t)n);
    }
    static const char *const others[][2] = {
        {"x", "y|1|1|\"id\":\"x\""},          {"y", "x|1|1|\"id\":\"y\""},
        {"self", "self|0|1|\"id\":\"self\""}, {"neg", "|-3|1|\"id\":\"neg\""},
        {"hid", "|0|0|\"id\":\"hid\""},       {"under", "hid|0|1|\"id\":\"under\""},
        {"orph", "gone|0|1|\"id\":\"orph\""}, {"pipe", "|1|1|\"id\":\"p|i|p|e\""},
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        cf_plan_category(plan, "cf:categories", others[i][0], strlen(others[i][0]), 1, 1,
                         others[i][1], strlen(others[i][1]));
    cf_plan_menu(plan, "menu:", "main", "cf:categories", 600000);
    struct cf_apply_result res;
    assert_int_equal(cf_apply_plan(ap, plan, &res), 0);
    assert_int_equal(cf_model_apply(m, plan, 0, cf_plan_count(plan), 0, NULL, err, sizeof(err)), 0);
    struct lines lm = {NULL, 0, 0}, lr = {NULL, 0, 0};
    dump_model(m, &lm);
    dump_redis(fx->rc, &lr);
    size_t diffs = dump_diff(&lm, &lr);
    /* The model's menu has the chain cut at the limit: 33 levels. */
    struct cf_model_key k;
    assert_int_equal(cf_model_get(m, ":1:menu:main", 12, &k), 0);
    assert_non_null(strstr(k.value, "\"id\":\"c32\",\"children\":[]"));
    assert_null(strstr(k.value, "\"c33\""));
    assert_true(strstr(k.value, "\"id\":\"-\"") < strstr(k.value, "\"id\":\"0\""));
    lines_free(&lm);
    lines_free(&lr);

    /* An empty id (no planner makes one): the Lua's children[''] is the
     * roots' list, so that node nests the roots down to the depth limit. */
    flushall(fx->rc);
    cf_model_destroy(m);
    m = cf_model_new();
    cf_plan_clear(plan);
    static const char *const empty[][2] = {
        {"", "|1|1|\"id\":\"\""}, {"r", "|0|1|\"id\":\"r\""}, {"k", "r|0|1|\"id\":\"k\""}};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
        cf_plan_category(plan, "cf:categories", empty[i][0], strlen(empty[i][0]), 1, 1, empty[i][1],
                         strlen(empty[i][1]));
    cf_plan_menu(plan, "menu:", "main", "cf:categories", 600000);
    assert_int_equal(cf_apply_plan(ap, plan, &res), 0);
    assert_int_equal(cf_model_apply(m, plan, 0, cf_plan_count(plan), 0, NULL, err, sizeof(err)), 0);
    dump_model(m, &lm);
    dump_redis(fx->rc, &lr);
    diffs += dump_diff(&lm, &lr);
    lines_free(&lm);
    lines_free(&lr);
    cf_model_destroy(m);
    cf_plan_destroy(plan);
    cf_apply_destroy(ap);
    assert_int_equal(diffs, 0);
}

/* ------------------------------------------------------------------------
 * 2. End to end: the fleet, the simulator, the oracle
 * ------------------------------------------------------------------------ */

enum { NCONSUMERS = 5 };
static const char *const consumer_names[NCONSUMERS] = {"products", "carts", "orders", "access",
                                                       "stock"};

struct e2e_fixture {
    struct cf_fleet fleet;
    struct cf_consumer_proc consumers[NCONSUMERS];
    long sim_events;
    struct cf_oracle *oracle;
    struct cf_oracle_report clean;
};

/* The last line of a file that starts with '{', parsed; NULL when none. */
static json_t *last_json_line(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *line = NULL, *last = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[0] == '{') {
            free(last);
            last = strdup(line);
        }
    }
    free(line);
    fclose(f);
    json_t *j = last ? json_loads(last, 0, NULL) : NULL;
    free(last);
    return j;
}

/* Runs a program of the build to its end (timeout_ms at most), its output
 * into log.  Returns its exit status. */
static int run_program(char *const argv[], const char *log, int timeout_ms)
{
    struct cf_proc p;
    if (cf_proc_spawn(&p, argv, NULL, log) < 0)
        fail_msg("cannot start %s", argv[0]);
    int status = -1;
    if (cf_proc_wait(&p, timeout_ms, &status) < 0) {
        cf_proc_stop(&p, 2000);
        cf_print_log_tail(argv[0], log, 4000);
        fail_msg("%s did not finish within %d ms", argv[0], timeout_ms);
    }
    return status;
}

static int e2e_setup(void **state)
{
    struct e2e_fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    cf_fleet_start(&fx->fleet, "oracle", 1, 4);
    for (int i = 0; i < NCONSUMERS; i++)
        cf_consumer_spawn(&fx->consumers[i], &fx->fleet, consumer_names[i], NULL);
    for (int i = 0; i < NCONSUMERS; i++)
        cf_consumer_wait_ready(&fx->consumers[i]);

    /* The simulator plays every topic as fast as it can. */
    char prog[PATH_MAX], log[PATH_MAX + 32], schemas[PATH_MAX];
    snprintf(log, sizeof(log), "%s/sim.log", fx->fleet.dir);
    snprintf(schemas, sizeof(schemas), "%s", cf_test_schemas_dir());
    char *const argv[] = {cf_test_program("cachefleet-sim", prog, sizeof(prog)),
                          "--brokers-file",
                          fx->fleet.broker.bootstrap_file,
                          "--schemas",
                          schemas,
                          "--events",
                          "5000",
                          "--rate",
                          "0",
                          "--seed",
                          "7",
                          "--categories",
                          "40",
                          "--products",
                          "400",
                          "--users",
                          "300",
                          "--quiet",
                          NULL};
    int status = run_program(argv, log, 120000);
    json_t *summary = last_json_line(log);
    if (status != 0 || !summary) {
        cf_print_log_tail("sim", log, 4000);
        fail_msg("the simulator failed (status %d)", status);
    }
    fx->sim_events = (long)json_integer_value(json_object_get(summary, "events"));
    long delivered = (long)json_integer_value(json_object_get(summary, "delivered"));
    json_decref(summary);
    assert_true(fx->sim_events > 5000);
    assert_int_equal(delivered, fx->sim_events);

    /* Wait until the consumers have handled all of it. */
    fx->fleet.produced = fx->sim_events;
    struct cf_consumer_proc *all[NCONSUMERS];
    for (int i = 0; i < NCONSUMERS; i++)
        all[i] = &fx->consumers[i];
    cf_fleet_wait_handled(&fx->fleet, all, NCONSUMERS);

    char err[512];
    fx->oracle = cf_oracle_new(cf_test_schemas_dir(), ":1:", err, sizeof(err));
    if (!fx->oracle)
        fail_msg("cf_oracle_new: %s", err);
    *state = fx;
    return 0;
}

static int e2e_teardown(void **state)
{
    struct e2e_fixture *fx = *state;
    cf_oracle_destroy(fx->oracle);
    for (int i = 0; i < NCONSUMERS; i++)
        cf_consumer_stop(&fx->consumers[i]);
    cf_fleet_stop(&fx->fleet);
    free(fx);
    return 0;
}

static void oracle_check(struct e2e_fixture *fx, int64_t since_us, struct cf_oracle_report *rep)
{
    char err[512];
    if (cf_oracle_check(fx->oracle, fx->fleet.rc, cf_wall_us(), since_us, rep, err, sizeof(err)) <
        0)
        fail_msg("cf_oracle_check: %s", err);
    cf_oracle_report_print(rep, stderr);
}

static void test_e2e_fleet_is_right(void **state)
{
    struct e2e_fixture *fx = *state;
    char err[512];
    if (cf_oracle_read_kafka(fx->oracle, fx->fleet.broker.bootstrap, NULL, 30000, err,
                             sizeof(err)) < 0)
        fail_msg("cf_oracle_read_kafka: %s", err);
    struct cf_oracle_report rep;
    oracle_check(fx, 0, &rep);
    /* For a failure: what the markers say about the missing keys. */
    if (rep.missing) {
        for (size_t i = 0; i < rep.nmissing_samples; i++) {
            char mk[600], text[100];
            snprintf(mk, sizeof(mk), "{%s}:v", rep.missing_samples[i].key);
            char *rv = cf_fleet_get(&fx->fleet, mk);
            struct cf_model_key k;
            cf_model_get(cf_oracle_model(fx->oracle), rep.missing_samples[i].key,
                         strlen(rep.missing_samples[i].key), &k);
            print_error("missing %s: redis marker \"%s\", model marker \"%s\"\n",
                        rep.missing_samples[i].key, rv ? rv : "(none)",
                        cf_model_marker_text(&k.marker, text, sizeof(text)));
            free(rv);
        }
    }
    assert_int_equal(rep.events, fx->sim_events);
    assert_int_equal(rep.dead_lettered, 0);
    assert_int_equal(rep.broker_truncated, 0);
    assert_int_equal(rep.missing, 0);
    assert_int_equal(rep.stale, 0);
    assert_int_equal(rep.extra, 0);
    assert_true(cf_oracle_report_ok(&rep));
    /* Every slice was exercised: each checked kind has values. */
    static const char *const kinds[] = {":1:product:", ":1:cart:",    ":1:stock:",      ":1:perms:",
                                        ":1:menu:",    ":1:cf:role:", ":1:cf:sessions:"};
    const struct cf_model *m = cf_oracle_model(fx->oracle);
    for (size_t j = 0; j < sizeof(kinds) / sizeof(kinds[0]); j++) {
        size_t with_value = 0, kl = strlen(kinds[j]);
        for (size_t i = 0; i < cf_model_count(m); i++) {
            struct cf_model_key k;
            cf_model_key_at(m, i, &k);
            if (k.key_len > kl && memcmp(k.key, kinds[j], kl) == 0 && k.type != CF_MODEL_ABSENT)
                with_value++;
        }
        print_message("  %s: %zu keys with a value\n", kinds[j], with_value);
        assert_true(with_value > 0);
    }
    assert_true(rep.right > 500);
    /* Every key right or expired: no other explanation of an absence. */
    assert_int_equal(rep.lost_before_since, 0);
    assert_int_equal(rep.keys_checked, rep.right + rep.expired);
    double dead = 0;
    for (int i = 0; i < NCONSUMERS; i++)
        dead += cf_consumer_metric(&fx->consumers[i], "cachefleet_events_deadlettered_total{");
    assert_true(dead == 0);
    fx->clean = rep;
}

/* Finds a key of kind in the model holding a value (a set with members for
 * a set kind) that has long to live; its name into buf. */
static void find_key(const struct cf_oracle *o, const char *kind, char *buf, size_t size)
{
    const struct cf_model *m = cf_oracle_model(o);
    size_t kl = strlen(kind);
    int64_t later = cf_wall_us() + 600 * 1000000LL;
    for (size_t i = 0; i < cf_model_count(m); i++) {
        struct cf_model_key k;
        cf_model_key_at(m, i, &k);
        if (k.key_len > kl && memcmp(k.key, kind, kl) == 0 &&
            ((k.type == CF_MODEL_STRING && k.expires_us > later) ||
             (k.type == CF_MODEL_SET && k.nmembers > 0 && !k.expires_us))) {
            snprintf(buf, size, "%.*s", (int)k.key_len, k.key);
            return;
        }
    }
    fail_msg("no key %s... with a value in the model", kind);
}

static void redis_do(redisContext *rc, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(rc, argc, argv, NULL);
    if (!r || r->type == REDIS_REPLY_ERROR)
        fail_msg("redis %s: %s", argv[0], r ? r->str : rc->errstr);
    freeReplyObject(r);
}

static bool has_sample(const struct cf_oracle_sample *s, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s[i].key, key) == 0)
            return true;
    }
    return false;
}

/* Runs cachefleet-audit --json; returns its exit status and its JSON. */
static int oracle_program(struct e2e_fixture *fx, const char *since, json_t **out)
{
    char prog[PATH_MAX], log[PATH_MAX + 32], port[16], schemas[PATH_MAX];
    snprintf(log, sizeof(log), "%s/oracle-%d.log", fx->fleet.dir, cf_free_port());
    snprintf(port, sizeof(port), "%d", fx->fleet.redis.port);
    snprintf(schemas, sizeof(schemas), "%s", cf_test_schemas_dir());
    char *argv[16] = {cf_test_program("cachefleet-audit", prog, sizeof(prog)),
                      "--brokers-file",
                      fx->fleet.broker.bootstrap_file,
                      "--redis-host",
                      "127.0.0.1",
                      "--redis-port",
                      port,
                      "--schemas",
                      schemas,
                      "--json"};
    size_t n = 10;
    char since_arg[32];
    if (since) {
        snprintf(since_arg, sizeof(since_arg), "%s", since);
        argv[n++] = "--since-us";
        argv[n++] = since_arg;
    }
    argv[n] = NULL;
    int status = run_program(argv, log, 60000);
    *out = last_json_line(log);
    if (!*out) {
        cf_print_log_tail("cachefleet-audit", log, 4000);
        fail_msg("cachefleet-audit printed no JSON (status %d)", status);
    }
    return status;
}

static void test_e2e_program_agrees(void **state)
{
    struct e2e_fixture *fx = *state;
    json_t *j = NULL;
    assert_int_equal(oracle_program(fx, NULL, &j), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "events")), fx->sim_events);
    assert_int_equal(json_integer_value(json_object_get(j, "missing")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "stale")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "lost_before_since")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "right")) +
                         json_integer_value(json_object_get(j, "expired")),
                     fx->clean.right + fx->clean.expired);
    assert_int_equal(json_integer_value(json_object_get(j, "keys_checked")),
                     fx->clean.keys_checked);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
}

static void test_e2e_corruption_is_found(void **state)
{
    struct e2e_fixture *fx = *state;
    char product[512], cart[512], role[512];
    const char *unknown = ":1:product:oracle-unknown-1";
    find_key(fx->oracle, ":1:product:", product, sizeof(product));
    find_key(fx->oracle, ":1:cart:", cart, sizeof(cart));
    find_key(fx->oracle, ":1:cf:role:", role, sizeof(role));

    const char *del[] = {"DEL", product};
    const char *set_cart[] = {"SET", cart, "{\"corrupted\":true}"};
    const char *sadd[] = {"SADD", role, "intruder-9999"};
    const char *set_unknown[] = {"SET", unknown, "{\"id\":\"oracle-unknown-1\"}"};
    redis_do(fx->fleet.rc, 2, del);
    redis_do(fx->fleet.rc, 3, set_cart);
    redis_do(fx->fleet.rc, 3, sadd);
    redis_do(fx->fleet.rc, 3, set_unknown);

    struct cf_oracle_report rep;
    oracle_check(fx, 0, &rep);
    assert_int_equal(rep.missing, 1);
    assert_int_equal(rep.stale, 2);
    assert_int_equal(rep.extra, 1);
    /* A stock key whose TTL ran out meanwhile moves from right to expired. */
    assert_int_equal(rep.right + rep.expired, fx->clean.right + fx->clean.expired - 3);
    assert_false(cf_oracle_report_ok(&rep));
    assert_string_equal(rep.missing_samples[0].key, product);
    assert_true(rep.missing_samples[0].expected_present);
    assert_false(rep.missing_samples[0].actual_present);
    assert_true(has_sample(rep.stale_samples, rep.nstale_samples, cart));
    assert_true(has_sample(rep.stale_samples, rep.nstale_samples, role));
    assert_string_equal(rep.extra_samples[0].key, unknown);
    assert_string_equal(rep.extra_samples[0].actual, "{\"id\":\"oracle-unknown-1\"}");
    for (size_t i = 0; i < rep.nstale_samples; i++) {
        if (strcmp(rep.stale_samples[i].key, cart) == 0)
            assert_string_equal(rep.stale_samples[i].actual, "{\"corrupted\":true}");
        else
            assert_non_null(strstr(rep.stale_samples[i].actual, "common) intruder-9999"));
    }

    /* A Redis that started empty now: the deleted key is not missing but
     * lost before then; stale is counted all the same. */
    struct cf_oracle_report since;
    oracle_check(fx, cf_wall_us(), &since);
    assert_int_equal(since.missing, 0);
    assert_int_equal(since.lost_before_since, 1);
    assert_int_equal(since.stale, 2);

    /* The program says the same, through its exit status too. */
    json_t *j = NULL;
    assert_int_equal(oracle_program(fx, NULL, &j), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "missing")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "stale")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "extra")), 1);
    json_t *ms = json_array_get(json_object_get(j, "missing_samples"), 0);
    assert_string_equal(json_string_value(json_object_get(ms, "key")), product);
    json_decref(j);
    char now[32];
    snprintf(now, sizeof(now), "%" PRId64, cf_wall_us());
    assert_int_equal(oracle_program(fx, now, &j), 1); /* stale still fails */
    assert_int_equal(json_integer_value(json_object_get(j, "missing")), 0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest differential_tests[] = {
        cmocka_unit_test(test_differential_uncoalesced),
        cmocka_unit_test(test_differential_coalesced),
        cmocka_unit_test(test_differential_menu_corners),
    };
    const struct CMUnitTest e2e_tests[] = {
        cmocka_unit_test(test_e2e_fleet_is_right),
        cmocka_unit_test(test_e2e_program_agrees),
        cmocka_unit_test(test_e2e_corruption_is_found),
    };
    int failed =
        cmocka_run_group_tests_name("differential", differential_tests, diff_setup, diff_teardown);
    failed += cmocka_run_group_tests_name("end to end", e2e_tests, e2e_setup, e2e_teardown);
    return failed;
}
