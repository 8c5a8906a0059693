/* test_oracle_model.c - the oracle's model of the Redis function library
 * (tools/oracle/model.c), rule by rule.
 *
 * The cases mirror tests/integration/test_functions.c, which holds the
 * real Lua to the same expectations: each builds a plan with the calls a
 * planner makes, applies it to the model, and reads the model back (values,
 * markers as Redis would hold them, members, fields).  The web tier's fill
 * is not part of the model (no consumer calls it); where test_functions.c
 * uses it, a warm stands in.  Then the model's own contract: Redis's errors,
 * dead operations, ranges, the history it keeps for the checker, a fan-out
 * that gives the same values in whichever order the fleet runs it, and the
 * oracle's summary line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "oracle.h"
#include "plan.h"
#include "testutil.h"

struct fixture {
    struct cf_model *m;
    struct cf_plan *plan;
    struct cf_model_result res;
    int64_t now;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->m = cf_model_new();
    fx->plan = cf_plan_new(":1:");
    fx->now = 1000000;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    cf_plan_destroy(fx->plan);
    cf_model_destroy(fx->m);
    free(fx);
    return 0;
}

/* Applies the plan (coalesced, as the runtime does) and clears it; the
 * counts of this apply are in fx->res. */
static void apply(struct fixture *fx)
{
    char err[256];
    memset(&fx->res, 0, sizeof(fx->res));
    cf_plan_coalesce(fx->plan);
    if (cf_model_apply(fx->m, fx->plan, 0, cf_plan_count(fx->plan), fx->now, &fx->res, err,
                       sizeof(err)) != 0)
        fail_msg("apply: %s", err);
    cf_plan_clear(fx->plan);
}

/* The value of key (NULL: absent). */
static void expect_key(struct fixture *fx, const char *key, const char *want)
{
    struct cf_model_key k;
    cf_model_get(fx->m, key, strlen(key), &k);
    if (!want) {
        if (k.type == CF_MODEL_STRING)
            fail_msg("%s holds \"%.*s\", expected absent", key, (int)k.value_len, k.value);
        assert_int_not_equal(k.type, CF_MODEL_SET);
        return;
    }
    if (k.type != CF_MODEL_STRING)
        fail_msg("%s is absent, expected \"%s\"", key, want);
    assert_int_equal(k.value_len, strlen(want));
    assert_memory_equal(k.value, want, k.value_len);
}

/* The marker {key}:v as Redis would hold it ("" for none). */
static void expect_marker(struct fixture *fx, const char *key, const char *want)
{
    struct cf_model_key k;
    char text[96];
    cf_model_get(fx->m, key, strlen(key), &k);
    assert_string_equal(cf_model_marker_text(&k.marker, text, sizeof(text)), want);
}

/* The members of a set, space-separated in byte order ("" for none). */
static void expect_members(struct fixture *fx, const char *key, const char *want)
{
    struct cf_model_key k;
    char got[512] = "";
    size_t len = 0;
    cf_model_get(fx->m, key, strlen(key), &k);
    if (k.type == CF_MODEL_SET) {
        for (size_t i = 0; i < k.nmembers; i++) {
            size_t n;
            const char *mb = cf_model_key_member(&k, i, &n);
            len +=
                (size_t)snprintf(got + len, sizeof(got) - len, "%s%.*s", i ? " " : "", (int)n, mb);
        }
    } else {
        assert_int_equal(k.type, CF_MODEL_ABSENT);
    }
    assert_string_equal(got, want);
}

/* Field name of the hash key holds want (NULL: no such field). */
static void expect_field(struct fixture *fx, const char *key, const char *name, const char *want)
{
    struct cf_model_key k;
    cf_model_get(fx->m, key, strlen(key), &k);
    const char *got = NULL;
    size_t got_len = 0;
    if (k.type == CF_MODEL_HASH) {
        for (size_t i = 0; i < k.nmembers; i++) {
            const char *fname, *rec;
            size_t fn, rn;
            cf_model_key_field(&k, i, &fname, &fn, &rec, &rn);
            if (fn == strlen(name) && memcmp(fname, name, fn) == 0) {
                got = rec;
                got_len = rn;
            }
        }
    } else {
        assert_int_equal(k.type, CF_MODEL_ABSENT);
    }
    if (!want) {
        if (got)
            fail_msg("%s field \"%s\" holds \"%.*s\", expected none", key, name, (int)got_len, got);
        return;
    }
    if (!got)
        fail_msg("%s has no field \"%s\", expected \"%s\"", key, name, want);
    assert_int_equal(got_len, strlen(want));
    assert_memory_equal(got, want, got_len);
}

/* The number of fields of a hash key (0: absent). */
static size_t field_count(struct fixture *fx, const char *key)
{
    struct cf_model_key k;
    cf_model_get(fx->m, key, strlen(key), &k);
    return k.type == CF_MODEL_HASH ? k.nmembers : 0;
}

/* When key expires (0: never, or absent). */
static int64_t expires(struct fixture *fx, const char *key)
{
    struct cf_model_key k;
    cf_model_get(fx->m, key, strlen(key), &k);
    return k.expires_us;
}

/* ------------------------------------------------------------------------
 * The rules (test_functions.c's cases)
 * ------------------------------------------------------------------------ */

static void test_warm_versions(void **state)
{
    struct fixture *fx = *state;
    cf_plan_warm(fx->plan, "product:", "42", 2, 5, 1000, 60000, "{\"v\":5}", 7);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    assert_int_equal(fx->res.refused, 0);
    expect_key(fx, ":1:product:42", "{\"v\":5}");
    expect_marker(fx, ":1:product:42", "5 1000 0");
    struct cf_model_key k;
    assert_int_equal(cf_model_get(fx->m, ":1:product:42", 13, &k), 0);
    assert_int_equal(k.ttl_ms, 60000);
    assert_int_equal(k.written_us, fx->now);
    assert_int_equal(k.expires_us, fx->now + 60000 * 1000LL);

    /* An older version (a replay) is refused. */
    cf_plan_warm(fx->plan, "product:", "42", 2, 4, 2000, 60000, "{\"v\":4}", 7);
    apply(fx);
    assert_int_equal(fx->res.applied, 0);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:product:42", "{\"v\":5}");
    expect_marker(fx, ":1:product:42", "5 1000 0");

    /* The same version again (a redelivery) is harmless, a newer one wins. */
    cf_plan_warm(fx->plan, "product:", "42", 2, 5, 1000, 60000, "{\"v\":5}", 7);
    cf_plan_warm(fx->plan, "product:", "43", 2, 6, 3000, 60000, "{\"v\":6}", 7);
    apply(fx);
    assert_int_equal(fx->res.applied, 2);
    cf_plan_warm(fx->plan, "product:", "42", 2, 6, 3000, 60000, "{\"v\":6}", 7);
    apply(fx);
    expect_key(fx, ":1:product:42", "{\"v\":6}");
    expect_marker(fx, ":1:product:42", "6 3000 0");
}

static void test_versions_beyond_double_precision(void **state)
{
    struct fixture *fx = *state;
    cf_plan_warm(fx->plan, "product:", "1", 1, 9007199254740993ULL, 1, 60000, "new", 3);
    apply(fx);
    cf_plan_warm(fx->plan, "product:", "1", 1, 9007199254740992ULL, 2, 60000, "old", 3);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:product:1", "new");
    cf_plan_warm(fx->plan, "product:", "1", 1, 18446744073709551615ULL, 3, 60000, "max", 3);
    apply(fx);
    expect_key(fx, ":1:product:1", "max");
    expect_marker(fx, ":1:product:1", "18446744073709551615 3 0");
}

static void test_invalidate_leaves_tombstone(void **state)
{
    struct fixture *fx = *state;
    cf_plan_warm(fx->plan, "product:", "7", 1, 1, 100, 60000, "v1", 2);
    apply(fx);
    cf_plan_invalidate(fx->plan, "product:", "7", 1, 2, 200);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_key(fx, ":1:product:7", NULL);
    expect_marker(fx, ":1:product:7", "2 200 0");

    /* A late version 1 cannot bring the old value back. */
    cf_plan_warm(fx->plan, "product:", "7", 1, 1, 100, 60000, "v1", 2);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:product:7", NULL);
    /* Version 3 can; an older invalidation then does not delete it. */
    cf_plan_warm(fx->plan, "product:", "7", 1, 3, 250, 60000, "fresh", 5);
    apply(fx);
    cf_plan_invalidate(fx->plan, "product:", "7", 1, 1, 90);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:product:7", "fresh");
    expect_marker(fx, ":1:product:7", "3 250 0");
    /* An invalidation of the same version applies (lua: only V > ver refuses). */
    cf_plan_invalidate(fx->plan, "product:", "7", 1, 3, 260);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_key(fx, ":1:product:7", NULL);
    expect_marker(fx, ":1:product:7", "3 260 0");
}

static void test_cross_entity_invalidation(void **state)
{
    struct fixture *fx = *state;
    cf_plan_warm(fx->plan, "product:", "9", 1, 10, 100, 60000, "in stock", 8);
    apply(fx);
    cf_plan_xinval(fx->plan, "product:", "9", 1, 150);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_key(fx, ":1:product:9", NULL);
    expect_marker(fx, ":1:product:9", "10 100 150");
    /* The replayed product event (t=100) must not come back. */
    cf_plan_warm(fx->plan, "product:", "9", 1, 10, 100, 60000, "in stock", 8);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:product:9", NULL);
    /* A product event after the flip is applied and keeps T. */
    cf_plan_warm(fx->plan, "product:", "9", 1, 11, 160, 60000, "sold out", 8);
    apply(fx);
    expect_key(fx, ":1:product:9", "sold out");
    expect_marker(fx, ":1:product:9", "11 160 150");
    /* An invalidation older than the value's source event is moot. */
    cf_plan_xinval(fx->plan, "product:", "9", 1, 155);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:product:9", "sold out");
    /* ...one at the same time as the source is not (lua: W > ts refuses). */
    cf_plan_xinval(fx->plan, "product:", "9", 1, 160);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_key(fx, ":1:product:9", NULL);
    expect_marker(fx, ":1:product:9", "11 160 160");
    /* On a key never cached, it still leaves its time. */
    cf_plan_xinval(fx->plan, "cart:", "c1", 2, 500);
    apply(fx);
    expect_marker(fx, ":1:cart:c1", "0 0 500");
    cf_plan_warm(fx->plan, "cart:", "c1", 2, 3, 400, 60000, "old cart", 8);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:cart:c1", NULL);
}

static void test_tags(void **state)
{
    struct fixture *fx = *state;
    /* Two listings registered under category 3 (as the web tier's fill
     * does), one also under a search tag. */
    cf_plan_warm(fx->plan, "listing:", "p1", 2, 0, 1000, 60000, "[1,2]", 5);
    cf_plan_warm(fx->plan, "listing:", "p2", 2, 0, 1000, 60000, "[3]", 3);
    cf_plan_index_add(fx->plan, "tag:category:", "3", 1, ":1:listing:p1", 13, 1, 60000);
    cf_plan_index_add(fx->plan, "tag:category:", "3", 1, ":1:listing:p2", 13, 1, 60000);
    cf_plan_index_add(fx->plan, "tag:search:", "shoe", 4, ":1:listing:p1", 13, 1, 60000);
    apply(fx);
    expect_members(fx, ":1:tag:category:3", ":1:listing:p1 :1:listing:p2");

    cf_plan_tag(fx->plan, "category:", "3", 1, 2000);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_key(fx, ":1:listing:p1", NULL);
    expect_key(fx, ":1:listing:p2", NULL);
    expect_marker(fx, ":1:listing:p1", "0 1000 0"); /* G leaves the members' markers */
    expect_members(fx, ":1:tag:category:3", "");
    expect_marker(fx, ":1:tag:category:3", "2000");
    expect_members(fx, ":1:tag:search:shoe", ":1:listing:p1");
    /* An older tag invalidation does not lower the tag's time. */
    cf_plan_tag(fx->plan, "category:", "3", 1, 1800);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_marker(fx, ":1:tag:category:3", "2000");
}

static void test_indexes_fanout_purge(void **state)
{
    struct fixture *fx = *state;
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "1", 1, 1, 0);
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "2", 1, 1, 0);
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "3", 1, 1, 0);
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "3", 1, 2);
    cf_plan_warm(fx->plan, "perms:", "1", 1, 1, 100, 60000, "[\"a\"]", 5);
    cf_plan_warm(fx->plan, "perms:", "2", 1, 1, 100, 60000, "[\"b\"]", 5);
    cf_plan_warm(fx->plan, "perms:", "3", 1, 1, 100, 60000, "[\"c\"]", 5);
    apply(fx);
    expect_members(fx, ":1:cf:role:7", "1 2");
    struct cf_model_key k;
    cf_model_get(fx->m, ":1:cf:role:7", 12, &k);
    assert_int_equal(k.expires_us, 0);

    /* The role's permissions change at t=200. */
    cf_plan_fanout(fx->plan, "cf:role:", "7", 1, "perms:", 200);
    apply(fx);
    expect_key(fx, ":1:perms:1", NULL);
    expect_key(fx, ":1:perms:2", NULL);
    expect_key(fx, ":1:perms:3", "[\"c\"]"); /* no longer a member */
    expect_marker(fx, ":1:cf:role:7", "200");
    expect_marker(fx, ":1:perms:1", "1 100 200");
    /* An older fan-out does not lower the set's time, and leaves a value
     * written by a newer event (as X). */
    cf_plan_warm(fx->plan, "perms:", "2", 1, 2, 300, 60000, "[\"b2\"]", 6);
    cf_plan_fanout(fx->plan, "cf:role:", "7", 1, "perms:", 150);
    apply(fx);
    expect_marker(fx, ":1:cf:role:7", "200");
    expect_key(fx, ":1:perms:2", "[\"b2\"]");
    expect_marker(fx, ":1:perms:2", "2 300 200");
    /* A member without a marker gets one. */
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "9", 1, 1, 0);
    cf_plan_fanout(fx->plan, "cf:role:", "7", 1, "perms:", 210);
    apply(fx);
    expect_marker(fx, ":1:perms:9", "0 0 210");
    expect_marker(fx, ":1:cf:role:7", "210");

    /* Guarded warms: computed before the role changed: refused, the key
     * invalidated at the role's time. */
    cf_plan_warm_guarded(fx->plan, "perms:", "1", 1, 2, 180, 60000, "[\"stale\"]", 9);
    cf_plan_guard(fx->plan, "cf:role:", "7", 1);
    cf_plan_guard(fx->plan, "cf:role:", "8", 1);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:perms:1", NULL);
    expect_marker(fx, ":1:perms:1", "1 100 210");
    /* Computed after it: stored.  Without guards: a plain warm. */
    cf_plan_warm_guarded(fx->plan, "perms:", "1", 1, 3, 250, 60000, "[\"new\"]", 7);
    cf_plan_guard(fx->plan, "cf:role:", "7", 1);
    cf_plan_warm_guarded(fx->plan, "perms:", "4", 1, 3, 300, 60000, "[]", 2);
    apply(fx);
    assert_int_equal(fx->res.applied, 2);
    expect_key(fx, ":1:perms:1", "[\"new\"]");
    expect_marker(fx, ":1:perms:1", "3 250 210");
    expect_key(fx, ":1:perms:4", "[]");
    /* The version rule still holds for a guarded warm. */
    cf_plan_warm_guarded(fx->plan, "perms:", "1", 1, 2, 300, 60000, "[\"old\"]", 7);
    cf_plan_guard(fx->plan, "cf:role:", "7", 1);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:perms:1", "[\"new\"]");

    /* Sessions: an index with a TTL, purged. */
    fx->now = 5000000;
    cf_plan_warm(fx->plan, "django.contrib.sessions.cache", "abc", 3, 1, 1, 60000, "x", 1);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "abc", 3, 1, 50000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "def", 3, 2, 50000);
    apply(fx);
    cf_model_get(fx->m, ":1:cf:sessions:1", 16, &k);
    assert_int_equal(k.expires_us, 5000000 + 50000 * 1000LL);
    /* A shorter TTL does not shorten it; a longer one than what is left
     * extends it (lua: extend_ttl). */
    fx->now = 6000000;
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "ghi", 3, 3, 10000);
    apply(fx);
    cf_model_get(fx->m, ":1:cf:sessions:1", 16, &k);
    assert_int_equal(k.expires_us, 5000000 + 50000 * 1000LL);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "ghi", 3, 3, 50000);
    apply(fx);
    cf_model_get(fx->m, ":1:cf:sessions:1", 16, &k);
    assert_int_equal(k.expires_us, 6000000 + 50000 * 1000LL);
    cf_plan_purge(fx->plan, "cf:sessions:", "1", 1, "django.contrib.sessions.cache", 4);
    apply(fx);
    expect_key(fx, ":1:django.contrib.sessions.cacheabc", NULL);
    expect_marker(fx, ":1:django.contrib.sessions.cacheabc", "1 1 0"); /* P keeps markers */
    expect_members(fx, ":1:cf:sessions:1", "");
    /* Purging an empty index is fine. */
    cf_plan_purge(fx->plan, "cf:sessions:", "99", 2, "django.contrib.sessions.cache", 1);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    /* The last member removed: the set is gone, with its TTL. */
    cf_plan_index_add(fx->plan, "cf:sessions:", "2", 1, "x", 1, 1, 50000);
    apply(fx);
    expect_members(fx, ":1:cf:sessions:2", "x");
    cf_plan_index_remove(fx->plan, "cf:sessions:", "2", 1, "x", 1, 2);
    apply(fx);
    cf_model_get(fx->m, ":1:cf:sessions:2", 16, &k);
    assert_int_equal(k.type, CF_MODEL_ABSENT);
    assert_int_equal(k.expires_us, 0);
}

/* test_functions.c's test_membership_versions. */
static void test_membership_versions(void **state)
{
    struct fixture *fx = *state;
    cf_model_set_tombstone_ttl(fx->m, 600000);
    const char *set = ":1:cf:role:7", *mkey = "{:1:cf:role:7}:m";
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "u1", 2, 5, 0);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_members(fx, set, "u1");
    expect_field(fx, mkey, "u1", "5");
    assert_int_equal(expires(fx, mkey), 0);

    /* An older remove after the add: refused. */
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "u1", 2, 4);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    assert_int_equal(fx->res.applied, 0);
    expect_members(fx, set, "u1");
    expect_field(fx, mkey, "u1", "5");

    /* A newer remove: the field stays as a tombstone, the set goes. */
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "u1", 2, 6);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_members(fx, set, "");
    expect_field(fx, mkey, "u1", "6");

    /* The older add replayed after the remove: refused. */
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "u1", 2, 5, 0);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_members(fx, set, "");
    /* Redelivered remove: harmless; a newer add: back in. */
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "u1", 2, 6);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "u1", 2, 7, 0);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_members(fx, set, "u1");
    expect_field(fx, mkey, "u1", "7");

    /* Versions beyond 2^53 compared whole. */
    cf_plan_index_add(fx->plan, "cf:role:", "7", 1, "u2", 2, 9007199254740993ULL, 0);
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "u3", 2, 1);
    apply(fx);
    cf_plan_index_remove(fx->plan, "cf:role:", "7", 1, "u2", 2, 9007199254740992ULL);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_members(fx, set, "u1 u2");
    expect_field(fx, mkey, "u2", "9007199254740993");
    expect_field(fx, mkey, "u3", "1");

    /* An index with a TTL: the hash lives as long as the set. */
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "abc", 3, 1, 50000);
    apply(fx);
    assert_int_equal(expires(fx, "{:1:cf:sessions:1}:m"), fx->now + 50000 * 1000LL);
    assert_int_equal(expires(fx, ":1:cf:sessions:1"), fx->now + 50000 * 1000LL);

    /* A remove with no hash yet: the tombstone TTL; an add extends it only
     * to a longer TTL. */
    cf_plan_index_remove(fx->plan, "cf:sessions:", "98", 2, "y", 1, 4);
    apply(fx);
    expect_field(fx, "{:1:cf:sessions:98}:m", "y", "4");
    assert_int_equal(expires(fx, "{:1:cf:sessions:98}:m"), fx->now + 600000 * 1000LL);
    cf_plan_index_add(fx->plan, "cf:sessions:", "98", 2, "y", 1, 3, 900000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "98", 2, "z", 1, 5, 50000);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    assert_int_equal(fx->res.applied, 1);
    expect_members(fx, ":1:cf:sessions:98", "z");
    assert_int_equal(expires(fx, "{:1:cf:sessions:98}:m"), fx->now + 600000 * 1000LL);
    cf_plan_index_add(fx->plan, "cf:sessions:", "98", 2, "z", 1, 6, 900000);
    apply(fx);
    assert_int_equal(expires(fx, "{:1:cf:sessions:98}:m"), fx->now + 900000 * 1000LL);

    /* A role's hash made by a remove is made permanent by an add. */
    cf_plan_index_remove(fx->plan, "cf:role:", "8", 1, "u9", 2, 1);
    apply(fx);
    assert_int_equal(expires(fx, "{:1:cf:role:8}:m"), fx->now + 600000 * 1000LL);
    cf_plan_index_add(fx->plan, "cf:role:", "8", 1, "u1", 2, 1, 0);
    apply(fx);
    assert_int_equal(expires(fx, "{:1:cf:role:8}:m"), 0);
    assert_int_equal(expires(fx, ":1:cf:role:8"), 0);
}

/* test_functions.c's test_purge_versions. */
static void test_purge_versions(void **state)
{
    struct fixture *fx = *state;
    cf_model_set_tombstone_ttl(fx->m, 600000);
    const char *set = ":1:cf:sessions:1", *mkey = "{:1:cf:sessions:1}:m";
    static const char *const sessions[] = {"abc", "def", "jkl"};
    for (size_t i = 0; i < 3; i++)
        cf_plan_warm(fx->plan, "django.contrib.sessions.cache", sessions[i], 3, 1, 1, 60000, "x",
                     1);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "abc", 3, 1, 50000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "def", 3, 2, 50000);
    cf_plan_index_remove(fx->plan, "cf:sessions:", "1", 1, "ghi", 3, 3);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "jkl", 3, 9, 50000);
    apply(fx);
    assert_int_equal(field_count(fx, mkey), 4);

    cf_plan_purge(fx->plan, "cf:sessions:", "1", 1, "django.contrib.sessions.cache", 5);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_key(fx, ":1:django.contrib.sessions.cacheabc", NULL);
    expect_key(fx, ":1:django.contrib.sessions.cachedef", NULL);
    expect_key(fx, ":1:django.contrib.sessions.cachejkl", "x");
    expect_members(fx, set, "jkl");
    expect_field(fx, mkey, "", "5");
    expect_field(fx, mkey, "abc", NULL);
    expect_field(fx, mkey, "ghi", NULL);
    expect_field(fx, mkey, "jkl", "9");
    assert_int_equal(field_count(fx, mkey), 2);
    assert_int_equal(expires(fx, mkey), fx->now + 50000 * 1000LL);

    /* Older logins replayed after the purge: refused. */
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "abc", 3, 1, 50000);
    cf_plan_index_add(fx->plan, "cf:sessions:", "1", 1, "xyz", 3, 4, 50000);
    apply(fx);
    assert_int_equal(fx->res.refused, 2);
    expect_members(fx, set, "jkl");

    /* An older purge: refused as a whole; redelivered: harmless. */
    cf_plan_purge(fx->plan, "cf:sessions:", "1", 1, "django.contrib.sessions.cache", 3);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    assert_int_equal(fx->res.applied, 0);
    expect_key(fx, ":1:django.contrib.sessions.cachejkl", "x");
    expect_field(fx, mkey, "", "5");
    cf_plan_purge(fx->plan, "cf:sessions:", "1", 1, "django.contrib.sessions.cache", 5);
    apply(fx);
    assert_int_equal(fx->res.applied, 1);
    expect_key(fx, ":1:django.contrib.sessions.cachejkl", "x");

    /* A newer purge takes it; only the purge's field is left. */
    cf_plan_purge(fx->plan, "cf:sessions:", "1", 1, "django.contrib.sessions.cache", 10);
    apply(fx);
    expect_key(fx, ":1:django.contrib.sessions.cachejkl", NULL);
    expect_members(fx, set, "");
    assert_int_equal(field_count(fx, mkey), 1);
    expect_field(fx, mkey, "", "10");

    /* A purge of a user without an index: the tombstone TTL. */
    cf_plan_purge(fx->plan, "cf:sessions:", "99", 2, "django.contrib.sessions.cache", 3);
    apply(fx);
    expect_field(fx, "{:1:cf:sessions:99}:m", "", "3");
    assert_int_equal(expires(fx, "{:1:cf:sessions:99}:m"), fx->now + 600000 * 1000LL);
    cf_plan_index_add(fx->plan, "cf:sessions:", "99", 2, "old", 3, 2, 50000);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_members(fx, ":1:cf:sessions:99", "");
}

/* test_functions.c's test_guarded_warm_ignores_foreign_fanout. */
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
    expect_marker(fx, ":1:perms:u", "1 50 150");

    cf_plan_index_remove(fx->plan, "cf:role:", "r", 1, "u", 1, 2);
    cf_plan_warm_guarded(fx->plan, "perms:", "u", 1, 2, 100, 60000, "[]", 2);
    apply(fx);
    assert_int_equal(fx->res.applied, 2);
    assert_int_equal(fx->res.refused, 0);
    expect_key(fx, ":1:perms:u", "[]");
    expect_marker(fx, ":1:perms:u", "2 100 150");
    expect_members(fx, ":1:cf:role:r", "");

    /* Guarded by a role that changed after the event: refused. */
    cf_plan_warm_guarded(fx->plan, "perms:", "u", 1, 3, 120, 60000, "[\"q\"]", 5);
    cf_plan_guard(fx->plan, "cf:role:", "r", 1);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:perms:u", NULL);
    expect_marker(fx, ":1:perms:u", "2 100 150");
    /* A plain warm keeps checking T. */
    cf_plan_warm(fx->plan, "perms:", "u", 1, 4, 120, 60000, "[\"w\"]", 5);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:perms:u", NULL);
}

static void category(struct fixture *fx, const char *id, uint64_t ver, const char *parent, int pos,
                     int visible, const char *name)
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
    struct cf_model_key k;
    cf_model_get(fx->m, ":1:cf:categories", 16, &k);
    assert_int_equal(k.type, CF_MODEL_HASH);
    assert_int_equal(k.nmembers, 7);
    const char *name, *rec;
    size_t nn, rn;
    cf_model_key_field(&k, 0, &name, &nn, &rec, &rn);
    assert_memory_equal(name, "1", 1);
    assert_int_equal(rn, strlen("1|100||2|1|\"id\":\"1\",\"name\":\"Home\""));
    assert_memory_equal(rec, "1|100||2|1|\"id\":\"1\",\"name\":\"Home\"", rn);

    /* Boots moves under Home; an older record of Sandals is refused;
     * Shoes is deleted, so Sandals becomes an orphan and leaves. */
    category(fx, "3", 2, "1", 0, 1, "Boots");
    category(fx, "4", 0, "", 0, 1, "Sandals v0");
    cf_plan_category(fx->plan, "cf:categories", "2", 1, 2, 200, "", 0);
    cf_plan_menu(fx->plan, "menu:", "main", "cf:categories", 3600000);
    apply(fx);
    assert_int_equal(fx->res.refused, 1);
    expect_key(fx, ":1:menu:main",
               "[{\"id\":\"1\",\"name\":\"Home\",\"children\":["
               "{\"id\":\"3\",\"name\":\"Boots\",\"children\":[]}]}]");

    /* Ties of position: the id's bytes decide ("10" before "9"), and a
     * position is a number ("007" is 7). */
    cf_plan_clear(fx->plan);
    static const char *const ids[] = {"1", "2", "3", "4", "5", "6", "7"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        cf_plan_category(fx->plan, "cf:categories", ids[i], 1, 5, 300, "", 0);
    static const char *const records[][2] = {
        {"9", "|7|1|\"id\":\"9\""},
        {"10", "|007|1|\"id\":\"10\""},
        {"B", "|-1|1|\"id\":\"B\""},
        {"bad", "|x|1|\"id\":\"bad\""}, /* not a position: skipped */
    };
    for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++)
        cf_plan_category(fx->plan, "cf:categories", records[i][0], strlen(records[i][0]), 1, 1,
                         records[i][1], strlen(records[i][1]));
    cf_plan_menu(fx->plan, "menu:", "main", "cf:categories", 3600000);
    apply(fx);
    expect_key(fx, ":1:menu:main",
               "[{\"id\":\"B\",\"children\":[]},{\"id\":\"10\",\"children\":[]},"
               "{\"id\":\"9\",\"children\":[]}]");

    /* Every category deleted: an empty menu, never a missing one. */
    static const char *const rest[] = {"9", "10", "B", "bad"};
    for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
        cf_plan_category(fx->plan, "cf:categories", rest[i], strlen(rest[i]), 9, 400, "", 0);
    cf_plan_menu(fx->plan, "menu:", "main", "cf:categories", 3600000);
    apply(fx);
    expect_key(fx, ":1:menu:main", "[]");
}

static void test_menu_depth_limit(void **state)
{
    struct fixture *fx = *state;
    char id[8], parent[8], payload[64];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "c%02d", i);
        parent[0] = '\0';
        if (i > 0)
            snprintf(parent, sizeof(parent), "c%02d", i - 1);
        int n = snprintf(payload, sizeof(payload), "%s|0|1|\"id\":\"%s\"", parent, id);
        cf_plan_category(fx->plan, "cf:categories", id, strlen(id), 1, 1, payload, (size_t)n);
    }
    cf_plan_menu(fx->plan, "menu:", "main", "cf:categories", 3600000);
    apply(fx);
    struct cf_model_key k;
    assert_int_equal(cf_model_get(fx->m, ":1:menu:main", 12, &k), 0);
    /* lua: render(parent, depth) returns '[]' past depth 32: 33 levels. */
    assert_non_null(strstr(k.value, "{\"id\":\"c32\",\"children\":[]}"));
    assert_null(strstr(k.value, "c33"));
}

/* ------------------------------------------------------------------------
 * The model's own contract
 * ------------------------------------------------------------------------ */

static void test_redis_errors_stop_the_apply(void **state)
{
    struct fixture *fx = *state;
    char err[256];
    /* SADD on a string: WRONGTYPE; what came before stays. */
    cf_plan_warm(fx->plan, "product:", "1", 1, 1, 1, 60000, "x", 1);
    cf_plan_index_add(fx->plan, "product:", "1", 1, "m", 1, 1, 0);
    cf_plan_warm(fx->plan, "product:", "2", 1, 1, 1, 60000, "y", 1);
    assert_int_equal(
        cf_model_apply(fx->m, fx->plan, 0, cf_plan_count(fx->plan), 0, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "WRONGTYPE"));
    assert_non_null(strstr(err, ":1:product:1"));
    expect_key(fx, ":1:product:1", "x");
    struct cf_model_key k;
    assert_int_equal(cf_model_get(fx->m, ":1:product:2", 12, &k), -1);
    cf_plan_clear(fx->plan);

    /* SET PX 0 is an error in Redis: after the marker was written. */
    cf_plan_warm(fx->plan, "product:", "3", 1, 4, 1, 0, "z", 1);
    assert_int_equal(cf_model_apply(fx->m, fx->plan, 0, 1, 0, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid expire"));
    expect_marker(fx, ":1:product:3", "4 1 0");
    expect_key(fx, ":1:product:3", NULL);
    cf_plan_clear(fx->plan);

    /* A menu from a key that is not a hash. */
    cf_plan_menu(fx->plan, "menu:", "main", "product:1", 60000);
    assert_int_equal(cf_model_apply(fx->m, fx->plan, 0, 1, 0, NULL, err, sizeof(err)), -1);
    cf_plan_clear(fx->plan);
}

static void test_ranges_dead_ops_and_negative_times(void **state)
{
    struct fixture *fx = *state;
    char err[256];
    cf_plan_warm(fx->plan, "stock:", "a", 1, 1, 10, 60000, "1", 1);
    cf_plan_warm(fx->plan, "stock:", "a", 1, 2, 20, 60000, "2", 1);
    cf_plan_warm(fx->plan, "stock:", "b", 1, 1, 10, 60000, "3", 1);
    /* Only [1, 2): the second warm. */
    assert_int_equal(cf_model_apply(fx->m, fx->plan, 1, 2, 7, NULL, err, sizeof(err)), 0);
    expect_key(fx, ":1:stock:a", "2");
    struct cf_model_key k;
    assert_int_equal(cf_model_get(fx->m, ":1:stock:b", 10, &k), -1);
    /* Coalesced: the superseded first warm is dead and skipped. */
    cf_plan_clear(fx->plan);
    cf_plan_warm(fx->plan, "stock:", "c", 1, 9, 10, 60000, "new", 3);
    cf_plan_warm(fx->plan, "stock:", "c", 1, 8, 20, 60000, "old", 3);
    assert_int_equal(cf_plan_coalesce(fx->plan), 1);
    struct cf_model_result res = {0, 0};
    assert_int_equal(cf_model_apply(fx->m, fx->plan, 0, 2, 7, &res, err, sizeof(err)), 0);
    assert_int_equal(res.applied, 1);
    expect_key(fx, ":1:stock:c", "new");
    /* A negative time goes out as 0 (apply.c). */
    cf_plan_clear(fx->plan);
    cf_plan_xinval(fx->plan, "stock:", "d", 1, -5);
    apply(fx);
    expect_marker(fx, ":1:stock:d", "0 0 0");
}

static void test_history(void **state)
{
    struct fixture *fx = *state;
    fx->now = 100;
    cf_plan_warm(fx->plan, "cart:", "1", 1, 5, 100, 1000, "a", 1);
    apply(fx);
    /* A refused warm addresses the key (last_us) but does not change it. */
    fx->now = 200;
    cf_plan_warm(fx->plan, "cart:", "1", 1, 4, 200, 1000, "b", 1);
    apply(fx);
    struct cf_model_key k;
    cf_model_get(fx->m, ":1:cart:1", 9, &k);
    assert_int_equal(k.written_us, 100);
    assert_int_equal(k.last_us, 200);
    assert_int_equal(k.expires_us, 100 + 1000 * 1000);
    /* Keys are listed in the order they were first touched. */
    assert_int_equal(cf_model_count(fx->m), 1);
    cf_plan_xinval(fx->plan, "cart:", "2", 1, 300);
    apply(fx);
    assert_int_equal(cf_model_count(fx->m), 2);
    cf_model_key_at(fx->m, 1, &k);
    assert_int_equal(k.key_len, 9);
    assert_memory_equal(k.key, ":1:cart:2", 9);
    assert_int_equal(k.type, CF_MODEL_ABSENT);
    assert_int_equal(k.marker.kind, CF_MARKER_VWT);
    assert_int_equal(k.marker.t, 300);
    /* Never touched. */
    assert_int_equal(cf_model_get(fx->m, ":1:cart:3", 9, &k), -1);
    assert_int_equal(k.type, CF_MODEL_ABSENT);
}

/* One event of test_fanout_in_any_order, at its own time. */
static void role_event(struct fixture *fx, int which)
{
    switch (which) {
    case 0: /* u2 joins r1 at t=5, its permissions computed then */
        fx->now = 5;
        cf_plan_index_add(fx->plan, "cf:role:", "r1", 2, "u2", 2, 1, 0);
        cf_plan_warm_guarded(fx->plan, "perms:", "u2", 2, 1, 5, 60000, "[\"b\"]", 5);
        cf_plan_guard(fx->plan, "cf:role:", "r1", 2);
        break;
    case 1: /* r1's permissions change at t=10 */
        fx->now = 10;
        cf_plan_fanout(fx->plan, "cf:role:", "r1", 2, "perms:", 10);
        break;
    default: /* u1 joins r1 at t=20 */
        fx->now = 20;
        cf_plan_index_add(fx->plan, "cf:role:", "r1", 2, "u1", 2, 1, 0);
        cf_plan_warm_guarded(fx->plan, "perms:", "u1", 2, 1, 20, 60000, "[\"a\"]", 5);
        cf_plan_guard(fx->plan, "cf:role:", "r1", 2);
        break;
    }
    apply(fx);
}

static void test_fanout_in_any_order(void **state)
{
    struct fixture *fx = *state;
    /* The role's fan-out and its members' events come from different
     * partitions: the fleet may run them in any order.  The model runs
     * them in time order (the first); every order leaves the same values:
     * u1's, newer than the fan-out, stays (as X leaves it), u2's, older, is
     * gone (deleted by the fan-out, or refused by its guard when the
     * fan-out ran first). */
    static const int orders[][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
        cf_model_destroy(fx->m);
        fx->m = cf_model_new();
        for (size_t j = 0; j < 3; j++)
            role_event(fx, orders[i][j]);
        expect_key(fx, ":1:perms:u1", "[\"a\"]");
        expect_marker(fx, ":1:perms:u1", "1 20 0");
        expect_key(fx, ":1:perms:u2", NULL);
        expect_members(fx, ":1:cf:role:r1", "u1 u2");
        expect_marker(fx, ":1:cf:role:r1", "10");
    }

    /* A purge acts on the members it finds: u3 left r2 before it. */
    cf_plan_index_add(fx->plan, "cf:role:", "r2", 2, "u3", 2, 1, 0);
    apply(fx);
    cf_plan_index_remove(fx->plan, "cf:role:", "r2", 2, "u3", 2, 2);
    cf_plan_warm(fx->plan, "perms:", "u3", 2, 1, 30, 60000, "[]", 2);
    apply(fx);
    cf_plan_purge(fx->plan, "cf:role:", "r2", 2, "perms:", 3);
    apply(fx);
    expect_key(fx, ":1:perms:u3", "[]");
}

static void test_marker_text(void **state)
{
    (void)state;
    char buf[64];
    struct cf_model_marker none = {CF_MARKER_NONE, 0, 0, 0};
    struct cf_model_marker vwt = {CF_MARKER_VWT, 18446744073709551615ULL, 2, INT64_MAX};
    struct cf_model_marker tm = {CF_MARKER_TIME, 0, 0, 77};
    assert_string_equal(cf_model_marker_text(&none, buf, sizeof(buf)), "");
    assert_string_equal(cf_model_marker_text(&vwt, buf, sizeof(buf)),
                        "18446744073709551615 2 9223372036854775807");
    assert_string_equal(cf_model_marker_text(&tm, buf, sizeof(buf)), "77");
}

static void test_report_summary(void **state)
{
    (void)state;
    struct cf_oracle_report r;
    char line[512];
    memset(&r, 0, sizeof(r));
    r.events = 12345;
    r.dead_lettered = 3;
    r.keys_checked = 4579;
    r.right = 4567;
    r.expired = 12;
    assert_string_equal(cf_oracle_report_summary(&r, line, sizeof(line)),
                        "oracle: 12345 events (3 dead-lettered), 4579 keys checked: 4567 right, "
                        "0 missing, 0 stale, 0 extra, 12 expired");
    assert_true(cf_oracle_report_ok(&r));
    r.lost_before_since = 1;
    r.extra = 4;
    assert_string_equal(cf_oracle_report_summary(&r, line, sizeof(line)),
                        "oracle: 12345 events (3 dead-lettered), 4579 keys checked: 4567 right, "
                        "0 missing, 0 stale, 4 extra, 12 expired, 1 lost before since");
    assert_true(cf_oracle_report_ok(&r)); /* extra keys are reported, not failed */
    r.stale = 1;
    assert_false(cf_oracle_report_ok(&r));
    r.stale = 0;
    r.missing = 1;
    assert_false(cf_oracle_report_ok(&r));
    /* The detail: a sample cut at 80 bytes, bytes escaped. */
    r.nmissing_samples = 1;
    snprintf(r.missing_samples[0].key, sizeof(r.missing_samples[0].key), ":1:product:9");
    r.missing_samples[0].expected_present = 1;
    memcpy(r.missing_samples[0].expected, "a\"b\n", 4);
    r.missing_samples[0].expected_len = 4;
    r.missing_samples[0].expected_full_len = 100;
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    cf_oracle_report_print(&r, f);
    fclose(f);
    assert_non_null(strstr(text, "  missing :1:product:9: expected \"a\\\"b\\x0a\"... (100 bytes), "
                                 "redis holds nothing\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_warm_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_beyond_double_precision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalidate_leaves_tombstone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cross_entity_invalidation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indexes_fanout_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_membership_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guarded_warm_ignores_foreign_fanout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_menu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_menu_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_errors_stop_the_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranges_dead_ops_and_negative_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fanout_in_any_order, setup, teardown),
        cmocka_unit_test(test_marker_text),
        cmocka_unit_test(test_report_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
