/* test_functions.c - the Redis function library (common/functions.lua) and
 * the apply stage (common/apply.c) against a real redis-server.
 *
 * Each case builds a plan with the same calls a planner makes, applies it
 * with cf_apply_plan(), and reads Redis back with plain commands, the way
 * the web tier does.  The web tier's fill is called with FCALL, as
 * django code would.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "harness.h"
#include "log.h"
#include "plan.h"

struct fixture {
    char dir[512];
    struct cf_redis redis;
    redisContext *rc;
    struct cf_apply *ap;
    struct cf_plan *plan;
    struct cf_log *lg;
};

static struct cf_apply_settings settings_for(const struct cf_redis *r, int ops_per_call)
{
    struct cf_apply_settings s = {
        .host = r->host,
        .port = r->port,
        .unix_socket = "",
        .db = 0,
        .user = "",
        .password = "",
        .client_name = "cachefleet-test",
        .connect_timeout_ms = 2000,
        .command_timeout_ms = 10000,
        .ops_per_call = ops_per_call,
        .tombstone_ttl_ms = 600000,
        .max_value_ttl_ms = 3600000,
        .load_functions = 1,
    };
    return s;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    cf_test_tmpdir("functions", fx->dir, sizeof(fx->dir));
    char conf[700];
    snprintf(conf, sizeof(conf), "unixsocket %s/redis.sock\nunixsocketperm 700\n", fx->dir);
    assert_int_equal(cf_redis_start(&fx->redis, fx->dir, conf), 0);
    fx->rc = cf_redis_connect(&fx->redis);
    assert_non_null(fx->rc);
    fx->lg = cf_log_new("test", CF_LOG_WARN, stderr);
    struct cf_apply_settings s = settings_for(&fx->redis, 500);
    fx->ap = cf_apply_new(&s, fx->lg);
    fx->plan = cf_plan_new(":1:");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    cf_plan_destroy(fx->plan);
    cf_apply_destroy(fx->ap);
    cf_log_destroy(fx->lg);
    redisFree(fx->rc);
    assert_int_equal(cf_redis_stop(&fx->redis), 0);
    cf_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

static int reset(void **state)
{
    struct fixture *fx = *state;
    redisReply *r = redisCommand(fx->rc, "FLUSHALL");
    assert_non_null(r);
    freeReplyObject(r);
    cf_plan_clear(fx->plan);
    return 0;
}

/* Applies and clears the plan; returns the result. */
static struct cf_apply_result apply(struct fixture *fx)
{
    struct cf_apply_result res;
    cf_plan_coalesce(fx->plan);
    if (cf_apply_plan(fx->ap, fx->plan, &res) != 0)
        fail_msg("apply: %s", cf_apply_error(fx->ap));
    cf_plan_clear(fx->plan);
    return res;
}

/* GET key: the value, or NULL when absent (caller frees). */
static char *get(struct fixture *fx, const char *key)
{
    redisReply *r = redisCommand(fx->rc, "GET %s", key);
    assert_non_null(r);
    char *v = NULL;
    if (r->type == REDIS_REPLY_STRING)
        v = strndup(r->str, r->len);
    else
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    return v;
}

static void expect_key(struct fixture *fx, const char *key, const char *want)
{
    char *v = get(fx, key);
    if (!want) {
        if (v)
            fail_msg("%s holds \"%s\", expected absent", key, v);
        return;
    }
    if (!v)
        fail_msg("%s is absent, expected \"%s\"", key, want);
    assert_string_equal(v, want);
    free(v);
}

static long long integer(struct fixture *fx, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(fx->rc, fmt, arg);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* FCALL cachefleet_fill: returns 1 (stored) or 0 (refused). */
static long long fill(struct fixture *fx, const char *key, const char *value, const char *ver,
                      const char *read_us, const char *tag1, const char *tag2)
{
    const char *argv[12];
    size_t lens[12];
    int n = 0, ntags = (tag1 != NULL) + (tag2 != NULL);
    char numkeys[8];
    snprintf(numkeys, sizeof(numkeys), "%d", 1 + ntags);
    argv[n++] = "FCALL";
    argv[n++] = "cachefleet_fill";
    argv[n++] = numkeys;
    argv[n++] = key;
    if (tag1)
        argv[n++] = tag1;
    if (tag2)
        argv[n++] = tag2;
    argv[n++] = value;
    argv[n++] = "60000";
    argv[n++] = ver;
    argv[n++] = read_us;
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(fx->rc, n, argv, lens);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("fill: unexpected reply type %d %s", r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* redis.unix_socket: the same apply over Redis's unix socket (TCP
 * keep-alive is not asked for there: hiredis refuses it on a unix socket). */
static void test_unix_socket(void **state)
{
    struct fixture *fx = *state;
    char path[600];
    snprintf(path, sizeof(path), "%s/redis.sock", fx->dir);
    struct cf_apply_settings s = settings_for(&fx->redis, 500);
    s.host = "192.0.2.1"; /* unused: the socket wins */
    s.unix_socket = path;
    struct cf_apply *ap = cf_apply_new(&s, fx->lg);
    assert_int_equal(cf_apply_connect(ap), 0);
    cf_plan_warm(fx->plan, "product:", "7", 1, 3, 1000, 60000, "{\"v\":3}", 7);
    cf_plan_coalesce(fx->plan);
    struct cf_apply_result res;
    assert_int_equal(cf_apply_plan(ap, fx->plan, &res), 0);
    assert_int_equal(res.applied, 1);
    expect_key(fx, ":1:product:7", "{\"v\":3}");
    cf_plan_clear(fx->plan);
    cf_apply_destroy(ap);
}

static void test_warm_versions(void **state)
{
    struct fixture *fx = *state;
    cf_plan_warm(fx->plan, "product:", "42", 2, 5, 1000, 60000, "{\"v\":5}", 7);
    struct cf_apply_result res = apply(fx);
    assert_int_equal(res.applied, 1);
    assert_int_equal(res.refused, 0);
    assert_int_equal(res.calls, 1);
    expect_key(fx, ":1:product:42", "{\"v\":5}");
    expect_key(fx, "{:1:product:42}:v", "5 1000 0");
    long long pttl = integer(fx, "PTTL %s", ":1:product:42");
    assert_true(pttl > 59000 && pttl <= 60000);
    pttl = integer(fx, "PTTL %s", "{:1:product:42}:v");
    assert_true(pttl > 600000 && pttl <= 660000); /* the value's TTL + the tombstone's */

    /* An older version (a replay) is refused; the marker keeps its TTL
     * long enough. */
    cf_plan_warm(fx->plan, "product:", "42", 2, 4, 2000, 60000, "{\"v\":4}", 7);
    res = apply(fx);
    assert_int_equal(res.applied, 0);
    assert_int_equal(res.refused, 1);
    expect_key(fx, ":1:product:42", "{\"v\":5}");
    expect_key(fx, "{:1:product:42}:v", "5 1000 0");
    assert_true(integer(fx, "PTTL %s", "{:1:product:42}:v") > 60000);

    /* The same version again (a redelivery) is harmless, a newer one wins. */
    cf_plan_warm(fx->plan, "product:", "42", 2, 5, 1000, 60000, "{\"v\":5}", 7);
    cf_plan_warm(fx->plan, "product:", "43", 2, 6, 3000, 60000, "{\"v\":6}", 7);
    res = apply(fx);
    assert_int_equal(res.applied, 2);
    cf_plan_warm(fx->plan, "product:", "42", 2, 6, 3000, 60000, "{\"v\":6}", 7);
    apply(fx);
    expect_key(fx, ":1:product:42", "{\"v\":6}");
}

static void test_versions_beyond_double_precision(void **state)
{
    struct fixture *fx = *state;
    /* 2^53 + 1 and 2^53 are the same double: compared as strings. */
    cf_plan_warm(fx->plan, "product:", "1", 1, 9007199254740993ULL, 1, 60000, "new", 3);
    apply(fx);
    cf_plan_warm(fx->plan, "product:", "1", 1, 9007199254740992ULL, 2, 60000, "old", 3);
    struct cf_apply_result res = apply(fx);
    assert_int_equal(res.refused, 1);
    expect_key(fx, ":1:product:1", "new");
    cf_plan_warm(fx->plan, "product:", "1", 1, 18446744073709551615ULL, 3, 60000, "max", 3);
    apply(fx);
    expect_key(fx, ":1:product:1", "max");
}

static void test_invalidate_leaves_tombstone(void **state)
{
    struct fixture *fx = *state;
    cf_plan_warm(fx->plan, "product:", "7", 1, 1, 100, 60000, "v1", 2);
    apply(fx);
    cf_plan_invalidate(fx->plan, "product:", "7", 1, 2, 200);
    struct cf_apply_result res = apply(fx);
    assert_int_equal(res.applied, 1);
    expect_key(fx, ":1:product:7", NULL);
    expect_key(fx, "{:1:product:7}:v", "2 200 0");
    long long pttl = integer(fx, "PTTL %s", "{:1:product:7}:v");
    assert_true(pttl > 590000 && pttl <= 600000);

    /* A late version 1 cannot bring the old value back... */
    cf_plan_warm(fx->plan, "product:", "7", 1, 1, 100, 60000, "v1", 2);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    expect_key(fx, ":1:product:7", NULL);
    /* ...nor can a web-tier fill that read version 1. */
    assert_int_equal(fill(fx, ":1:product:7", "stale", "1", "150", NULL, NULL), 0);
    expect_key(fx, ":1:product:7", NULL);
    /* A fill of version 2 (read after the change) is stored. */
    assert_int_equal(fill(fx, ":1:product:7", "fresh", "2", "250", NULL, NULL), 1);
    expect_key(fx, ":1:product:7", "fresh");
    /* An older invalidation does not delete a newer value. */
    cf_plan_invalidate(fx->plan, "product:", "7", 1, 1, 90);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    expect_key(fx, ":1:product:7", "fresh");
}

static void test_cross_entity_invalidation(void **state)
{
    struct fixture *fx = *state;
    /* A product warmed from an event at t=100; a stock flip at t=150. */
    cf_plan_warm(fx->plan, "product:", "9", 1, 10, 100, 60000, "in stock", 8);
    apply(fx);
    cf_plan_xinval(fx->plan, "product:", "9", 1, 150);
    struct cf_apply_result res = apply(fx);
    assert_int_equal(res.applied, 1);
    expect_key(fx, ":1:product:9", NULL);
    expect_key(fx, "{:1:product:9}:v", "10 100 150");
    /* The replayed product event (t=100) must not come back... */
    cf_plan_warm(fx->plan, "product:", "9", 1, 10, 100, 60000, "in stock", 8);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    expect_key(fx, ":1:product:9", NULL);
    /* ...nor a fill that read before the flip. */
    assert_int_equal(fill(fx, ":1:product:9", "stale", "10", "120", NULL, NULL), 0);
    /* A product event after the flip is applied and keeps T. */
    cf_plan_warm(fx->plan, "product:", "9", 1, 11, 160, 60000, "sold out", 8);
    apply(fx);
    expect_key(fx, ":1:product:9", "sold out");
    expect_key(fx, "{:1:product:9}:v", "11 160 150");
    /* An invalidation older than the value's source event is moot. */
    cf_plan_xinval(fx->plan, "product:", "9", 1, 155);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    expect_key(fx, ":1:product:9", "sold out");
    /* On a key never cached, it still leaves its time. */
    cf_plan_xinval(fx->plan, "cart:", "c1", 2, 500);
    apply(fx);
    expect_key(fx, "{:1:cart:c1}:v", "0 0 500");
    cf_plan_warm(fx->plan, "cart:", "c1", 2, 3, 400, 60000, "old cart", 8);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    expect_key(fx, ":1:cart:c1", NULL);
}

static void test_tags_and_fill(void **state)
{
    struct fixture *fx = *state;
    /* The web tier fills two listings of category 3, one also in search. */
    assert_int_equal(fill(fx, ":1:listing:cat3:p1", "[1,2]", "0", "1000", ":1:tag:category:3",
                          ":1:tag:search:shoe"),
                     1);
    assert_int_equal(fill(fx, ":1:listing:cat3:p2", "[3]", "0", "1000", ":1:tag:category:3", NULL),
                     1);
    assert_int_equal(integer(fx, "SCARD %s", ":1:tag:category:3"), 2);
    assert_true(integer(fx, "PTTL %s", ":1:tag:category:3") > 59000);

    /* A product in category 3 changed at t=2000. */
    cf_plan_tag(fx->plan, "category:", "3", 1, 2000);
    struct cf_apply_result res = apply(fx);
    assert_int_equal(res.applied, 1);
    expect_key(fx, ":1:listing:cat3:p1", NULL);
    expect_key(fx, ":1:listing:cat3:p2", NULL);
    assert_int_equal(integer(fx, "EXISTS %s", ":1:tag:category:3"), 0);
    expect_key(fx, "{:1:tag:category:3}:v", "2000");
    /* The search tag still lists p1, whose key is gone: harmless. */
    assert_int_equal(integer(fx, "SCARD %s", ":1:tag:search:shoe"), 1);

    /* A fill that read the database before the change is refused; one that
     * read after is stored. */
    assert_int_equal(fill(fx, ":1:listing:cat3:p1", "[1,2]", "0", "1500", ":1:tag:category:3",
                          NULL),
                     0);
    expect_key(fx, ":1:listing:cat3:p1", NULL);
    assert_int_equal(fill(fx, ":1:listing:cat3:p1", "[2]", "0", "2500", ":1:tag:category:3", NULL),
                     1);
    expect_key(fx, ":1:listing:cat3:p1", "[2]");
    /* An older tag invalidation (a replay, a re-warm) does not lower the
     * tag's time, and leaves the listing filled from data read after it:
     * that listing already reflects the change. */
    cf_plan_tag(fx->plan, "category:", "3", 1, 1800);
    apply(fx);
    expect_key(fx, "{:1:tag:category:3}:v", "2000");
    expect_key(fx, ":1:listing:cat3:p1", "[2]");
    assert_int_equal(integer(fx, "SISMEMBER %s :1:listing:cat3:p1", ":1:tag:category:3"), 1);
    /* A newer one deletes what was read before it and keeps, still
     * registered, what was read after. */
    assert_int_equal(fill(fx, ":1:listing:cat3:p3", "[4]", "0", "2700", ":1:tag:category:3", NULL),
                     1);
    assert_true(integer(fx, "PTTL %s", ":1:tag:category:3") > 59000);
    cf_plan_tag(fx->plan, "category:", "3", 1, 2600);
    apply(fx);
    expect_key(fx, ":1:listing:cat3:p1", NULL);
    expect_key(fx, ":1:listing:cat3:p3", "[4]");
    assert_int_equal(integer(fx, "SCARD %s", ":1:tag:category:3"), 1);
    assert_int_equal(integer(fx, "SISMEMBER %s :1:listing:cat3:p3", ":1:tag:category:3"), 1);
    assert_true(integer(fx, "PTTL %s", ":1:tag:category:3") > 59000);
    expect_key(fx, "{:1:tag:category:3}:v", "2600");

    /* The fill checks its arguments: numbers, in canonical form (a
     * zero-padded read time would outrank every tag invalidation). */
    static const char *const bad[] = {
        "FCALL cachefleet_fill 1 k v notanumber 1 1",
        "FCALL cachefleet_fill 1 k v 60000 1 09999999",
        "FCALL cachefleet_fill 1 k v 60000 01 1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        redisReply *r = redisCommand(fx->rc, bad[i]);
        assert_non_null(r);
        if (r->type != REDIS_REPLY_ERROR)
            fail_msg("accepted: %s", bad[i]);
        freeReplyObject(r);
    }
    expect_key(fx, "k", NULL);
}

static void test_indexes_fanout_purge(void **state)
{
    struct fixture *fx = *state;
    /* Role 7 has users 1 and 2; their permissions are cached. */
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "1", 1, 1, 0);
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "2", 1, 1, 0);
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "3", 1, 1, 0);
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "3", 1, 2);
    cf_plan_warm(fx->plan, "perms:", "1", 1, 1, 100, 60000, "[\"a\"]", 5);
    cf_plan_warm(fx->plan, "perms:", "2", 1, 1, 100, 60000, "[\"b\"]", 5);
    cf_plan_warm(fx->plan, "perms:", "3", 1, 1, 100, 60000, "[\"c\"]", 5);
    apply(fx);
    assert_int_equal(integer(fx, "SCARD %s", ":1:cf:role:7"), 2);
    assert_int_equal(integer(fx, "PTTL %s", ":1:cf:role:7"), -1);

    /* The role's permissions change at t=200. */
    cf_plan_fanout(fx->plan, "cf:role:", "7", 1, "perms:", 200);
    apply(fx);
    expect_key(fx, ":1:perms:1", NULL);
    expect_key(fx, ":1:perms:2", NULL);
    expect_key(fx, ":1:perms:3", "[\"c\"]"); /* no longer a member */
    expect_key(fx, "{:1:cf:role:7}:v", "200");
    expect_key(fx, "{:1:perms:1}:v", "1 100 200"); /* a fill from before t=200 is refused */
    /* An older fan-out does not lower the set's time, and leaves a value
     * written by an event newer than it (as X). */
    cf_plan_warm(fx->plan, "perms:", "2", 1, 2, 300, 60000, "[\"b2\"]", 6);
    cf_plan_fanout(fx->plan, "cf:role:", "7", 1, "perms:", 150);
    apply(fx);
    expect_key(fx, "{:1:cf:role:7}:v", "200");
    expect_key(fx, ":1:perms:2", "[\"b2\"]");
    cf_plan_invalidate(fx->plan, "perms:", "2", 1, 3, 310);
    apply(fx);

    /* A user's permissions computed before the role changed (t=180), applied
     * after the fan-out (another partition): refused, the key invalidated. */
    cf_plan_warm_guarded(fx->plan, "perms:", "1", 1, 2, 180, 60000, "[\"stale\"]", 9);
    cf_plan_guard(fx->plan, "cf:role:", "7", 1);
    cf_plan_guard(fx->plan, "cf:role:", "8", 1);
    struct cf_apply_result gres = apply(fx);
    assert_int_equal(gres.refused, 1);
    expect_key(fx, ":1:perms:1", NULL);
    /* Computed after it (t=250): stored.  Without guards: a plain warm. */
    cf_plan_warm_guarded(fx->plan, "perms:", "1", 1, 3, 250, 60000, "[\"new\"]", 7);
    cf_plan_guard(fx->plan, "cf:role:", "7", 1);
    cf_plan_warm_guarded(fx->plan, "perms:", "2", 1, 3, 300, 60000, "[]", 2);
    gres = apply(fx);
    assert_int_equal(gres.applied, 2);
    expect_key(fx, ":1:perms:1", "[\"new\"]");
    expect_key(fx, ":1:perms:2", "[]");
    /* The version rule still holds for a guarded warm. */
    cf_plan_warm_guarded(fx->plan, "perms:", "1", 1, 2, 300, 60000, "[\"old\"]", 7);
    cf_plan_guard(fx->plan, "cf:role:", "7", 1);
    gres = apply(fx);
    assert_int_equal(gres.refused, 1);
    expect_key(fx, ":1:perms:1", "[\"new\"]");

    /* Sessions: an index with a TTL, purged on deactivation. */
    redisReply *r = redisCommand(fx->rc, "SET :1:django.contrib.sessions.cacheabc x");
    freeReplyObject(r);
    r = redisCommand(fx->rc, "SET :1:django.contrib.sessions.cachedef y");
    freeReplyObject(r);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "abc", 3, 1, 50000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "def", 3, 2, 50000);
    apply(fx);
    long long pttl = integer(fx, "PTTL %s", ":1:cf:sessions:1");
    assert_true(pttl > 49000 && pttl <= 50000);
    cf_plan_purge(fx->plan, "cf:sessions:", "1", 1, "django.contrib.sessions.cache", 3);
    apply(fx);
    expect_key(fx, ":1:django.contrib.sessions.cacheabc", NULL);
    expect_key(fx, ":1:django.contrib.sessions.cachedef", NULL);
    assert_int_equal(integer(fx, "EXISTS %s", ":1:cf:sessions:1"), 0);
    /* Purging an empty index is fine. */
    cf_plan_purge(fx->plan, "cf:sessions:", "99", 2, "django.contrib.sessions.cache", 1);
    struct cf_apply_result res = apply(fx);
    assert_int_equal(res.applied, 1);
}

/* HGET key field: the value, or NULL (caller frees). */
static char *hget(struct fixture *fx, const char *key, const char *field)
{
    const char *argv[] = {"HGET", key, field};
    size_t lens[] = {4, strlen(key), strlen(field)};
    redisReply *r = redisCommandArgv(fx->rc, 3, argv, lens);
    assert_non_null(r);
    char *v = NULL;
    if (r->type == REDIS_REPLY_STRING)
        v = strndup(r->str, r->len);
    else
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    return v;
}

/* The field of a membership hash holds want (NULL: no such field). */
static void expect_field(struct fixture *fx, const char *key, const char *field, const char *want)
{
    char *v = hget(fx, key, field);
    if (!want) {
        if (v)
            fail_msg("%s field \"%s\" holds \"%s\", expected none", key, field, v);
        return;
    }
    if (!v)
        fail_msg("%s has no field \"%s\", expected \"%s\"", key, field, want);
    assert_string_equal(v, want);
    free(v);
}

static bool is_member(struct fixture *fx, const char *set, const char *member)
{
    redisReply *r = redisCommand(fx->rc, "SISMEMBER %s %s", set, member);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    bool yes = r->integer == 1;
    freeReplyObject(r);
    return yes;
}

/* Index add and remove are versioned by the user's version: an older
 * one (a replay) loses to a newer one in either order. */
static void test_membership_versions(void **state)
{
    struct fixture *fx = *state;
    const char *set = ":1:cf:role:7", *mkey = "{:1:cf:role:7}:m";
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "u1", 2, 5, 0);
    struct cf_apply_result res = apply(fx);
    assert_int_equal(res.applied, 1);
    assert_true(is_member(fx, set, "u1"));
    expect_field(fx, mkey, "u1", "5");
    assert_int_equal(integer(fx, "PTTL %s", mkey), -1); /* ttl 0: no expiry, as the set */

    /* An older remove after the add: refused, the member stays. */
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "u1", 2, 4);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    assert_int_equal(res.applied, 0);
    assert_true(is_member(fx, set, "u1"));
    expect_field(fx, mkey, "u1", "5");

    /* A newer remove: applied; the field stays as a tombstone (the set,
     * emptied, is gone). */
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "u1", 2, 6);
    res = apply(fx);
    assert_int_equal(res.applied, 1);
    assert_false(is_member(fx, set, "u1"));
    assert_int_equal(integer(fx, "EXISTS %s", set), 0);
    expect_field(fx, mkey, "u1", "6");

    /* The older add replayed after the remove: refused. */
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "u1", 2, 5, 0);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    assert_false(is_member(fx, set, "u1"));
    expect_field(fx, mkey, "u1", "6");
    /* The remove redelivered (same version): harmless. */
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "u1", 2, 6);
    res = apply(fx);
    assert_int_equal(res.applied, 1);
    /* A newer add: back in. */
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "u1", 2, 7, 0);
    res = apply(fx);
    assert_int_equal(res.applied, 1);
    assert_true(is_member(fx, set, "u1"));
    expect_field(fx, mkey, "u1", "7");

    /* Versions beyond 2^53 are compared whole. */
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "u2", 2, 9007199254740993ULL, 0);
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "u3", 2, 1);
    apply(fx);
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "u2", 2, 9007199254740992ULL);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    assert_true(is_member(fx, set, "u2"));

    /* An index with a TTL: the hash lives as long as the set. */
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "abc", 3, 1, 50000);
    apply(fx);
    long long pttl = integer(fx, "PTTL %s", "{:1:cf:sessions:1}:m");
    assert_true(pttl > 49000 && pttl <= 50000);
    pttl = integer(fx, "PTTL %s", ":1:cf:sessions:1");
    assert_true(pttl > 49000 && pttl <= 50000);

    /* A remove with no hash yet (a logout after the index expired): the
     * tombstone lives the tombstone TTL; a later add extends it to its
     * TTL only when that is longer. */
    cf_plan_index_remove(fx->plan, "cf:sessions:", "98", 2, "y", 1, 4);
    apply(fx);
    expect_field(fx, "{:1:cf:sessions:98}:m", "y", "4");
    pttl = integer(fx, "PTTL %s", "{:1:cf:sessions:98}:m");
    assert_true(pttl > 590000 && pttl <= 600000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "98", 2, "y", 1, 3, 900000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "98", 2, "z", 1, 5, 50000);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    assert_int_equal(res.applied, 1);
    assert_false(is_member(fx, ":1:cf:sessions:98", "y"));
    pttl = integer(fx, "PTTL %s", "{:1:cf:sessions:98}:m");
    assert_true(pttl > 590000 && pttl <= 600000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "98", 2, "z", 1, 6, 900000);
    apply(fx);
    pttl = integer(fx, "PTTL %s", "{:1:cf:sessions:98}:m");
    assert_true(pttl > 890000 && pttl <= 900000);

    /* A role's hash made by a remove (the tombstone TTL) is made permanent,
     * as the role's set, by the next add. */
    cf_plan_index_remove(fx->plan, "cf:role:", "8", 1, "u9", 2, 1);
    apply(fx);
    pttl = integer(fx, "PTTL %s", "{:1:cf:role:8}:m");
    assert_true(pttl > 590000 && pttl <= 600000);
    cf_plan_index_add(fx->plan, "cf:role:", "8", 1, "u1", 2, 1, 0);
    apply(fx);
    assert_int_equal(integer(fx, "PTTL %s", "{:1:cf:role:8}:m"), -1);
    assert_int_equal(integer(fx, "PTTL %s", ":1:cf:role:8"), -1);

    /* An empty member is refused by the library (plan.c asserts it). */
    redisReply *r = redisCommand(fx->rc,
                                 "FCALL cachefleet_apply 1 :1:cf:role:x 1 600000 4200000 "
                                 "A %b 1 0",
                                 "", (size_t)0);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->str, "empty member"));
    freeReplyObject(r);
    assert_int_equal(integer(fx, "EXISTS %s", ":1:cf:role:x"), 0);
}

/* A purge is versioned too: it spares a member added by a newer event,
 * drops the fields it covers, and loses as a whole to a newer purge. */
static void test_purge_versions(void **state)
{
    struct fixture *fx = *state;
    const char *set = ":1:cf:sessions:1", *mkey = "{:1:cf:sessions:1}:m";
    static const char *const sessions[] = {"abc", "def", "jkl"};
    for (size_t i = 0; i < 3; i++) {
        redisReply *r =
            redisCommand(fx->rc, "SET :1:django.contrib.sessions.cache%s x", sessions[i]);
        freeReplyObject(r);
    }
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "abc", 3, 1, 50000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "def", 3, 2, 50000);
    cf_plan_index_remove(fx->plan, "cf:sessions:", "1", 1, "ghi", 3, 3);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "jkl", 3, 9, 50000); /* after the purge */
    apply(fx);
    assert_int_equal(integer(fx, "HLEN %s", mkey), 4);

    /* The purge of version 5 arrives after the login of version 9. */
    cf_plan_purge(fx->plan, "cf:sessions:", "1", 1, "django.contrib.sessions.cache", 5);
    struct cf_apply_result res = apply(fx);
    assert_int_equal(res.applied, 1);
    expect_key(fx, ":1:django.contrib.sessions.cacheabc", NULL);
    expect_key(fx, ":1:django.contrib.sessions.cachedef", NULL);
    expect_key(fx, ":1:django.contrib.sessions.cachejkl", "x");
    assert_int_equal(integer(fx, "SCARD %s", set), 1);
    assert_true(is_member(fx, set, "jkl"));
    expect_field(fx, mkey, "", "5");
    expect_field(fx, mkey, "abc", NULL);
    expect_field(fx, mkey, "ghi", NULL); /* a tombstone the purge covers */
    expect_field(fx, mkey, "jkl", "9");
    assert_int_equal(integer(fx, "HLEN %s", mkey), 2);
    long long pttl = integer(fx, "PTTL %s", mkey); /* its TTL kept */
    assert_true(pttl > 49000 && pttl <= 50000);

    /* Older logins replayed after the purge: refused. */
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "abc", 3, 1, 50000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "xyz", 3, 4, 50000);
    res = apply(fx);
    assert_int_equal(res.refused, 2);
    assert_int_equal(integer(fx, "SCARD %s", set), 1);

    /* An older purge replayed: refused as a whole, the newer session stays. */
    cf_plan_purge(fx->plan, "cf:sessions:", "1", 1, "django.contrib.sessions.cache", 3);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    assert_int_equal(res.applied, 0);
    expect_key(fx, ":1:django.contrib.sessions.cachejkl", "x");
    expect_field(fx, mkey, "", "5");
    /* Redelivered (same version): harmless. */
    cf_plan_purge(fx->plan, "cf:sessions:", "1", 1, "django.contrib.sessions.cache", 5);
    res = apply(fx);
    assert_int_equal(res.applied, 1);
    expect_key(fx, ":1:django.contrib.sessions.cachejkl", "x");

    /* A newer purge takes it; only the purge's field is left. */
    cf_plan_purge(fx->plan, "cf:sessions:", "1", 1, "django.contrib.sessions.cache", 10);
    apply(fx);
    expect_key(fx, ":1:django.contrib.sessions.cachejkl", NULL);
    assert_int_equal(integer(fx, "EXISTS %s", set), 0);
    assert_int_equal(integer(fx, "HLEN %s", mkey), 1);
    expect_field(fx, mkey, "", "10");

    /* A purge of a user without an index: its version kept for the
     * tombstone TTL, so an older login replayed after it is refused. */
    cf_plan_purge(fx->plan, "cf:sessions:", "99", 2, "django.contrib.sessions.cache", 3);
    apply(fx);
    expect_field(fx, "{:1:cf:sessions:99}:m", "", "3");
    pttl = integer(fx, "PTTL %s", "{:1:cf:sessions:99}:m");
    assert_true(pttl > 590000 && pttl <= 600000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "99", 2, "old", 3, 2, 50000);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    assert_int_equal(integer(fx, "EXISTS %s", ":1:cf:sessions:99"), 0);
}

/* The fault test's case: a user leaves role r at t=100 (permissions "[]");
 * r's permissions change at t=150; the fan-out runs first (another
 * partition) while the user is still a member.  The user's guarded warm
 * (guards: the roles held after, not r) must be applied although the key's
 * T is 150. */
static void test_guarded_warm_ignores_foreign_fanout(void **state)
{
    struct fixture *fx = *state;
    cf_plan_index_add(fx->plan, "cf:role:", "r", 1, "u", 1, 1, 0);
    cf_plan_warm_guarded(fx->plan, "perms:", "u", 1, 1, 50, 60000, "[\"p\"]", 5);
    cf_plan_guard(fx->plan, "cf:role:", "r", 1);
    apply(fx);
    expect_key(fx, ":1:perms:u", "[\"p\"]");

    cf_plan_fanout(fx->plan, "cf:role:", "r", 1, "perms:", 150);
    apply(fx);
    expect_key(fx, ":1:perms:u", NULL);
    expect_key(fx, "{:1:perms:u}:v", "1 50 150");

    cf_plan_index_remove(fx->plan, "cf:role:", "r", 1, "u", 1, 2);
    cf_plan_warm_guarded(fx->plan, "perms:", "u", 1, 2, 100, 60000, "[]", 2);
    struct cf_apply_result res = apply(fx);
    assert_int_equal(res.applied, 2);
    assert_int_equal(res.refused, 0);
    expect_key(fx, ":1:perms:u", "[]");
    expect_key(fx, "{:1:perms:u}:v", "2 100 150"); /* T carried over */
    assert_false(is_member(fx, ":1:cf:role:r", "u"));

    /* Guarded by a role that changed after the event: still refused. */
    cf_plan_warm_guarded(fx->plan, "perms:", "u", 1, 3, 120, 60000, "[\"q\"]", 5);
    cf_plan_guard(fx->plan, "cf:role:", "r", 1);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    expect_key(fx, ":1:perms:u", NULL);
    expect_key(fx, "{:1:perms:u}:v", "2 100 150");
    /* A plain warm keeps checking T (a stock flip for a product). */
    cf_plan_warm(fx->plan, "perms:", "u", 1, 4, 120, 60000, "[\"w\"]", 5);
    res = apply(fx);
    assert_int_equal(res.refused, 1);
    expect_key(fx, ":1:perms:u", NULL);
    /* So does the web tier's fill. */
    assert_int_equal(fill(fx, ":1:perms:u", "[\"f\"]", "2", "120", NULL, NULL), 0);
    assert_int_equal(fill(fx, ":1:perms:u", "[\"f\"]", "2", "160", NULL, NULL), 1);
}

static void category(struct fixture *fx, const char *id, uint64_t ver, const char *parent,
                     int pos, int visible, const char *name)
{
    char payload[256];
    int n = snprintf(payload, sizeof(payload), "%s|%d|%d|\"id\":\"%s\",\"name\":\"%s\"", parent,
                     pos, visible, id, name);
    cf_plan_category(fx->plan, "cf:categories", id, strlen(id), ver, 100, payload, (size_t)n);
}

static void test_menu(void **state)
{
    struct fixture *fx = *state;
    category(fx, "1", 1, "", 2, 1, "Home");
    category(fx, "2", 1, "", 1, 1, "Shoes");
    category(fx, "3", 1, "2", 1, 1, "Boots");
    category(fx, "4", 1, "2", 0, 1, "Sandals");
    category(fx, "5", 1, "", 3, 0, "Hidden");
    category(fx, "6", 1, "5", 0, 1, "Under hidden");
    category(fx, "7", 1, "99", 0, 1, "Orphan");
    cf_plan_menu(fx->plan, "menu:", "main", "cf:categories", 3600000);
    apply(fx);
    expect_key(fx, ":1:menu:main",
                 "[{\"id\":\"2\",\"name\":\"Shoes\",\"children\":["
                 "{\"id\":\"4\",\"name\":\"Sandals\",\"children\":[]},"
                 "{\"id\":\"3\",\"name\":\"Boots\",\"children\":[]}]},"
                 "{\"id\":\"1\",\"name\":\"Home\",\"children\":[]}]");
    long long pttl = integer(fx, "PTTL %s", ":1:menu:main");
    assert_true(pttl > 3590000 && pttl <= 3600000);

    /* Boots moves under Home; an older record of Sandals is refused;
     * Shoes is deleted, so Sandals becomes an orphan and leaves. */
    category(fx, "3", 2, "1", 0, 1, "Boots");
    category(fx, "4", 0, "", 0, 1, "Sandals v0");
    cf_plan_category(fx->plan, "cf:categories", "2", 1, 2, 200, "", 0);
    cf_plan_menu(fx->plan, "menu:", "main", "cf:categories", 3600000);
    struct cf_apply_result res = apply(fx);
    assert_int_equal(res.refused, 1);
    expect_key(fx, ":1:menu:main",
                 "[{\"id\":\"1\",\"name\":\"Home\",\"children\":["
                 "{\"id\":\"3\",\"name\":\"Boots\",\"children\":[]}]}]");

    /* Every category deleted: an empty menu, never a missing one. */
    static const char *const ids[] = {"1", "2", "3", "4", "5", "6", "7"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        cf_plan_category(fx->plan, "cf:categories", ids[i], 1, 5, 300, "", 0);
    cf_plan_menu(fx->plan, "menu:", "main", "cf:categories", 3600000);
    apply(fx);
    expect_key(fx, ":1:menu:main", "[]");
}

/* FCALL cachefleet_apply with a hand-made batch: "K:" starts the keys,
 * "A:" the operations (after the protocol and the two TTLs, which this
 * adds).  Returns the reply (caller frees). */
static redisReply *raw_apply(struct fixture *fx, const char *const *words)
{
    const char *argv[64];
    size_t lens[64];
    int n = 0, nkeys = 0, in_keys = 0;
    char numkeys[16];
    argv[n++] = "FCALL";
    argv[n++] = "cachefleet_apply";
    int numkeys_at = n++;
    for (const char *const *w = words; *w; w++) {
        if (strcmp(*w, "K:") == 0) {
            in_keys = 1;
            continue;
        }
        if (strcmp(*w, "A:") == 0) {
            in_keys = 0;
            argv[n++] = "1";
            argv[n++] = "600000";
            argv[n++] = "4200000";
            continue;
        }
        assert_true(n < 64);
        nkeys += in_keys;
        argv[n++] = *w;
    }
    snprintf(numkeys, sizeof(numkeys), "%d", nkeys);
    argv[numkeys_at] = numkeys;
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(fx->rc, n, argv, lens);
    assert_non_null(r);
    return r;
}

static void expect_counts(redisReply *r, long long applied, long long refused)
{
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("cachefleet_apply: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3);
    if (r->element[0]->integer != applied || r->element[1]->integer != refused)
        fail_msg("applied %lld refused %lld, expected %lld and %lld", r->element[0]->integer,
                 r->element[1]->integer, applied, refused);
    freeReplyObject(r);
}

/* Operations of one key in one call apply in their order, each seeing the
 * marker the one before it left; an operation that fails leaves the ones
 * before it whole, and the caller gets Redis's own error. */
static void test_one_call_in_order(void **state)
{
    struct fixture *fx = *state;
    /* A warm after an invalidation of the same key in one call: the
     * warm's value stays. */
    expect_counts(raw_apply(fx, (const char *[]){"K:", "k1", "A:", "W", "1", "100", "60000",
                                                 "v1", NULL}),
                  1, 0);
    expect_counts(raw_apply(fx, (const char *[]){"K:", "k1", "k1", "A:", "X", "150", "W", "2",
                                                 "200", "60000", "v2", NULL}),
                  2, 0);
    expect_key(fx, "k1", "v2");
    expect_key(fx, "{k1}:v", "2 200 150");

    /* An invalidation after a warm in one call: gone. */
    expect_counts(raw_apply(fx, (const char *[]){"K:", "k2", "k2", "A:", "W", "1", "100", "60000",
                                                 "v1", "X", "150", NULL}),
                  2, 0);
    expect_key(fx, "k2", NULL);
    expect_key(fx, "{k2}:v", "1 100 150");

    /* A tombstone, a refused older warm and an X; then a newer warm, a
     * second tombstone and a warm: each sees the marker the one before it
     * left. */
    expect_counts(raw_apply(fx, (const char *[]){"K:", "k3", "k3", "k3", "A:", "D", "3", "300",
                                                 "W", "2", "250", "60000", "old", "X", "350",
                                                 NULL}),
                  2, 1);
    expect_key(fx, "k3", NULL);
    expect_key(fx, "{k3}:v", "3 300 350");
    expect_counts(raw_apply(fx, (const char *[]){"K:", "k3", "k3", "k3", "A:", "W", "4", "400",
                                                 "60000", "v4", "D", "5", "500", "W", "6", "600",
                                                 "60000", "v6", NULL}),
                  3, 0);
    expect_key(fx, "k3", "v6");
    expect_key(fx, "{k3}:v", "6 600 350");

    /* Another kind of operation on a key invalidated earlier in the call
     * (here a category record written into it): the key is gone first. */
    expect_counts(raw_apply(fx, (const char *[]){"K:", "k4", "A:", "W", "1", "100", "60000",
                                                 "v1", NULL}),
                  1, 0);
    expect_counts(raw_apply(fx, (const char *[]){"K:", "k4", "k4", "A:", "X", "150", "C", "7",
                                                 "1", "160", "rec", NULL}),
                  2, 0);
    assert_int_equal(integer(fx, "HLEN %s", "k4"), 1);

    /* An operation that fails after an X: the call fails, and the X,
     * applied before it, is whole (value deleted, marker raised). */
    expect_counts(raw_apply(fx, (const char *[]){"K:", "k5", "A:", "W", "1", "100", "60000",
                                                 "v1", NULL}),
                  1, 0);
    redisReply *r = redisCommand(fx->rc, "SET %s %s", "notaset", "x");
    freeReplyObject(r);
    r = raw_apply(fx, (const char *[]){"K:", "k5", "notaset", "A:", "X", "150", "A", "m", "1",
                                       "60000", NULL});
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    /* Redis's own error, not rewrapped as "ERR ...". */
    assert_int_equal(strncmp(r->str, "WRONGTYPE", 9), 0);
    freeReplyObject(r);
    expect_key(fx, "k5", NULL);
    expect_key(fx, "{k5}:v", "1 100 150");
}

/* A set's TTL is only ever raised: a first add gives the set and its hash
 * the TTL, a later add with a longer one raises it, one with a shorter one
 * leaves it. */
static void test_index_ttl_only_raised(void **state)
{
    struct fixture *fx = *state;
    expect_counts(raw_apply(fx, (const char *[]){"K:", "s", "A:", "A", "m1", "1", "60000", NULL}),
                  1, 0);
    long long t1 = integer(fx, "PTTL %s", "s");
    assert_true(t1 > 59000 && t1 <= 60000);
    assert_true(integer(fx, "PTTL %s", "{s}:m") > 59000);
    expect_counts(raw_apply(fx, (const char *[]){"K:", "s", "A:", "A", "m2", "2", "90000", NULL}),
                  1, 0);
    assert_true(integer(fx, "PTTL %s", "s") > 89000);
    assert_true(integer(fx, "PTTL %s", "{s}:m") > 89000);
    expect_counts(raw_apply(fx, (const char *[]){"K:", "s", "A:", "A", "m3", "3", "30000", NULL}),
                  1, 0);
    assert_true(integer(fx, "PTTL %s", "s") > 89000);
    assert_true(integer(fx, "PTTL %s", "{s}:m") > 89000);
    /* A set that has no TTL (made by hand) gets one. */
    redisReply *r = redisCommand(fx->rc, "SADD %s %s", "s2", "x");
    freeReplyObject(r);
    assert_int_equal(integer(fx, "PTTL %s", "s2"), -1);
    expect_counts(raw_apply(fx, (const char *[]){"K:", "s2", "A:", "A", "m1", "1", "60000", NULL}),
                  1, 0);
    assert_true(integer(fx, "PTTL %s", "s2") > 59000);
}

static void test_batching_and_reload(void **state)
{
    struct fixture *fx = *state;
    struct cf_apply_settings s = settings_for(&fx->redis, 500);
    struct cf_apply *ap = cf_apply_new(&s, fx->lg);
    char id[16];
    for (int i = 0; i < 1200; i++) {
        int n = snprintf(id, sizeof(id), "%d", i);
        cf_plan_warm(fx->plan, "product:", id, (size_t)n, 1, 1, 60000, "x", 1);
    }
    cf_plan_coalesce(fx->plan);
    struct cf_apply_result res;
    assert_int_equal(cf_apply_plan(ap, fx->plan, &res), 0);
    assert_int_equal(res.calls, 3); /* 500 + 500 + 200 */
    assert_int_equal(res.applied, 1200);
    assert_int_equal(integer(fx, "EXISTS %s", ":1:product:1199"), 1);

    /* Redis loses its functions (restarted empty): the failed call drops
     * the connection, the next one reconnects and reloads them. */
    redisReply *r = redisCommand(fx->rc, "FUNCTION FLUSH");
    freeReplyObject(r);
    assert_int_equal(cf_apply_plan(ap, fx->plan, &res), -1);
    assert_non_null(strstr(cf_apply_error(ap), "cachefleet_apply"));
    assert_false(cf_apply_connected(ap));
    assert_int_equal(cf_apply_plan(ap, fx->plan, &res), 0);
    assert_int_equal(res.applied, 1200);
    cf_apply_destroy(ap);
}

/* With redis.load_functions off the program only checks the library an
 * operator loaded. */
static void test_library_checked_not_loaded(void **state)
{
    struct fixture *fx = *state;
    struct cf_apply_settings s = settings_for(&fx->redis, 500);
    s.load_functions = 0;
    struct cf_apply *ap = cf_apply_new(&s, fx->lg);
    redisReply *r = redisCommand(fx->rc, "FUNCTION FLUSH");
    freeReplyObject(r);
    assert_int_equal(cf_apply_connect(ap), -1);
    assert_non_null(strstr(cf_apply_error(ap), "not loaded"));

    /* Another version of the library: refused. */
    const char *other = "#!lua name=cachefleet\nredis.register_function('cachefleet_version', "
                        "function() return 'other' end)";
    r = redisCommand(fx->rc, "FUNCTION LOAD REPLACE %s", other);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    assert_int_equal(cf_apply_connect(ap), -1);
    assert_non_null(strstr(cf_apply_error(ap), "not this program's"));

    /* This program's library, as an operator loads it: accepted. */
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", cf_functions_lua};
    size_t lens[] = {8, 4, 7, cf_functions_lua_len};
    r = redisCommandArgv(fx->rc, 4, argv, lens);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    assert_int_equal(cf_apply_connect(ap), 0);
    cf_plan_warm(fx->plan, "product:", "1", 1, 1, 1, 60000, "x", 1);
    struct cf_apply_result res;
    assert_int_equal(cf_apply_plan(ap, fx->plan, &res), 0);
    assert_int_equal(res.applied, 1);
    cf_apply_destroy(ap);
}

static void test_unreachable_redis(void **state)
{
    struct fixture *fx = *state;
    struct cf_apply_settings s = settings_for(&fx->redis, 500);
    s.port = 1; /* nothing listens there */
    struct cf_apply *ap = cf_apply_new(&s, fx->lg);
    cf_plan_warm(fx->plan, "product:", "1", 1, 1, 1, 60000, "x", 1);
    struct cf_apply_result res;
    assert_int_equal(cf_apply_plan(ap, fx->plan, &res), -1);
    assert_non_null(strstr(cf_apply_error(ap), "connect"));
    cf_apply_destroy(ap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_warm_versions, reset),
        cmocka_unit_test_setup(test_versions_beyond_double_precision, reset),
        cmocka_unit_test_setup(test_invalidate_leaves_tombstone, reset),
        cmocka_unit_test_setup(test_cross_entity_invalidation, reset),
        cmocka_unit_test_setup(test_tags_and_fill, reset),
        cmocka_unit_test_setup(test_indexes_fanout_purge, reset),
        cmocka_unit_test_setup(test_membership_versions, reset),
        cmocka_unit_test_setup(test_purge_versions, reset),
        cmocka_unit_test_setup(test_guarded_warm_ignores_foreign_fanout, reset),
        cmocka_unit_test_setup(test_menu, reset),
        cmocka_unit_test_setup(test_batching_and_reload, reset),
        cmocka_unit_test_setup(test_library_checked_not_loaded, reset),
        cmocka_unit_test_setup(test_unreachable_redis, reset),
        cmocka_unit_test_setup(test_unix_socket, reset),
        cmocka_unit_test_setup(test_one_call_in_order, reset),
        cmocka_unit_test_setup(test_index_ttl_only_raised, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
