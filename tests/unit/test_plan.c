/* test_plan.c - operations, rollback and coalescing (common/plan.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "decimal.h"
#include "plan.h"
#include "testutil.h"

/* Renders the live operations as "code key [extra]" lines joined by ';'. */
static const char *live(const struct cf_plan *plan, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cf_plan_count(plan); i++) {
        const struct cf_op *op = cf_plan_op(plan, i);
        if (op->dead)
            continue;
        int n = snprintf(buf + len, size - len, "%s%c %.*s", len ? ";" : "", op->code,
                         (int)op->key.len, cf_plan_bytes(plan, op->key));
        len += (size_t)n;
        if (op->code == CF_OP_WARM || op->code == CF_OP_INVALIDATE || op->code == CF_OP_CATEGORY ||
            op->code == CF_OP_INDEX_ADD || op->code == CF_OP_INDEX_REM || op->code == CF_OP_PURGE)
            len +=
                (size_t)snprintf(buf + len, size - len, " v%llu", (unsigned long long)op->version);
        if (op->code == CF_OP_XINVAL || op->code == CF_OP_TAG || op->code == CF_OP_FANOUT)
            len += (size_t)snprintf(buf + len, size - len, " t%lld", (long long)op->ts_us);
        if (op->code == CF_OP_INDEX_ADD || op->code == CF_OP_INDEX_REM ||
            op->code == CF_OP_CATEGORY)
            len += (size_t)snprintf(buf + len, size - len, " %.*s", (int)op->a.len,
                                    cf_plan_bytes(plan, op->a));
    }
    return buf;
}

static void test_keys_carry_prefix_and_kind(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char buf[1024];
    cf_plan_warm(plan, "product:", "42", 2, 7, 1000, 60000, "{}", 2);
    cf_plan_tag(plan, "category:", "3", 1, 1000);
    cf_plan_index_add(plan, "cf:sessions:", "9", 1, "abc", 3, 4, 60000);
    cf_plan_menu(plan, "menu:", "main", "cf:categories", 1000);
    assert_string_equal(live(plan, buf, sizeof(buf)),
                        "W :1:product:42 v7;G :1:tag:category:3 t1000;A :1:cf:sessions:9 v4 abc;"
                        "M :1:menu:main");
    const struct cf_op *add = cf_plan_op(plan, 2);
    assert_int_equal(add->ttl_ms, 60000);
    cf_plan_index_remove(plan, "cf:sessions:", "9", 1, "abc", 3, 5);
    cf_plan_purge(plan, "cf:sessions:", "9", 1, "sess:", 6);
    const struct cf_op *rem = cf_plan_op(plan, 4), *purge = cf_plan_op(plan, 5);
    assert_int_equal(rem->version, 5);
    assert_int_equal(rem->ttl_ms, 0);
    assert_int_equal(purge->version, 6);
    assert_int_equal(purge->a.len, 8);
    assert_memory_equal(cf_plan_bytes(plan, purge->a), ":1:sess:", 8);
    const struct cf_op *menu = cf_plan_op(plan, 3);
    assert_int_equal(menu->a.len, strlen(":1:cf:categories"));
    assert_memory_equal(cf_plan_bytes(plan, menu->a), ":1:cf:categories", menu->a.len);
    cf_plan_destroy(plan);
}

static void test_rollback_drops_ops_and_bytes(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char buf[1024];
    cf_plan_warm(plan, "product:", "1", 1, 1, 10, 1000, "{\"a\":1}", 7);
    size_t mark = cf_plan_mark(plan);
    cf_plan_warm(plan, "product:", "2", 1, 1, 10, 1000, "{\"b\":2}", 7);
    cf_plan_tag(plan, "category:", "5", 1, 10);
    cf_plan_rollback(plan, mark);
    assert_int_equal(cf_plan_count(plan), 1);
    cf_plan_invalidate(plan, "product:", "3", 1, 2, 11);
    assert_string_equal(live(plan, buf, sizeof(buf)), "W :1:product:1 v1;D :1:product:3 v2");
    const struct cf_op *w = cf_plan_op(plan, 0);
    assert_memory_equal(cf_plan_bytes(plan, w->a), "{\"a\":1}", 7);
    cf_plan_destroy(plan);
}

static void test_versioned_highest_wins_at_last_position(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char buf[1024];
    cf_plan_warm(plan, "product:", "1", 1, 5, 10, 1000, "new", 3);
    cf_plan_xinval(plan, "stock:", "9", 1, 11);
    cf_plan_warm(plan, "product:", "1", 1, 3, 12, 1000, "old", 3); /* a late replay */
    assert_int_equal(cf_plan_coalesce(plan), 2);
    assert_string_equal(live(plan, buf, sizeof(buf)), "X :1:stock:9 t11;W :1:product:1 v5");
    const struct cf_op *w = cf_plan_op(plan, 2);
    assert_memory_equal(cf_plan_bytes(plan, w->a), "new", 3);

    cf_plan_clear(plan);
    cf_plan_warm(plan, "product:", "1", 1, 5, 10, 1000, "v5", 2);
    cf_plan_invalidate(plan, "product:", "1", 1, 6, 11);
    cf_plan_warm(plan, "product:", "2", 1, 1, 10, 1000, "x", 1);
    cf_plan_warm(plan, "product:", "2", 1, 1, 12, 1000, "y", 1); /* tie: the later one */
    assert_int_equal(cf_plan_coalesce(plan), 2);
    assert_string_equal(live(plan, buf, sizeof(buf)), "D :1:product:1 v6;W :1:product:2 v1");
    assert_memory_equal(cf_plan_bytes(plan, cf_plan_op(plan, 3)->a), "y", 1);
    cf_plan_destroy(plan);
}

static void test_invalidations_merge_keeping_latest_time(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char buf[1024];
    cf_plan_tag(plan, "category:", "3", 1, 30);
    cf_plan_xinval(plan, "product:", "1", 1, 50);
    cf_plan_tag(plan, "category:", "3", 1, 20);
    cf_plan_xinval(plan, "product:", "1", 1, 40);
    cf_plan_tag(plan, "category:", "4", 1, 20);
    assert_int_equal(cf_plan_coalesce(plan), 3);
    assert_string_equal(live(plan, buf, sizeof(buf)),
                        "G :1:tag:category:3 t30;X :1:product:1 t50;G :1:tag:category:4 t20");
    cf_plan_destroy(plan);
}

static void test_membership_change_seals_fanout_and_purge(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char buf[1024];
    /* Same membership: two fan-outs of one role merge. */
    cf_plan_fanout(plan, "cf:role:", "7", 1, "perms:", 10);
    cf_plan_fanout(plan, "cf:role:", "7", 1, "perms:", 20);
    assert_int_equal(cf_plan_coalesce(plan), 1);
    assert_string_equal(live(plan, buf, sizeof(buf)), "F :1:cf:role:7 t20");

    /* A member added in between: the first fan-out ran against another
     * membership and must stay. */
    cf_plan_clear(plan);
    cf_plan_fanout(plan, "cf:role:", "7", 1, "perms:", 10);
    cf_plan_index_add(plan, "cf:role:", "7", 1, "u1", 2, 1, 0);
    cf_plan_fanout(plan, "cf:role:", "7", 1, "perms:", 20);
    cf_plan_fanout(plan, "cf:role:", "7", 1, "perms:", 30);
    assert_int_equal(cf_plan_coalesce(plan), 3);
    assert_string_equal(live(plan, buf, sizeof(buf)),
                        "F :1:cf:role:7 t10;A :1:cf:role:7 v1 u1;F :1:cf:role:7 t30");

    /* Sessions: login, purge, login, purge -> both purges can merge only if
     * no add came between; here one did. */
    cf_plan_clear(plan);
    cf_plan_index_add(plan, "cf:sessions:", "5", 1, "s1", 2, 1, 0);
    cf_plan_purge(plan, "cf:sessions:", "5", 1, "sess:", 2);
    cf_plan_index_add(plan, "cf:sessions:", "5", 1, "s2", 2, 3, 0);
    cf_plan_purge(plan, "cf:sessions:", "5", 1, "sess:", 4);
    assert_int_equal(cf_plan_coalesce(plan), 4);
    assert_string_equal(live(plan, buf, sizeof(buf)),
                        "A :1:cf:sessions:5 v1 s1;P :1:cf:sessions:5 v2;A :1:cf:sessions:5 v3 s2;"
                        "P :1:cf:sessions:5 v4");

    /* Two purges with nothing between: one, the highest version, at the
     * later position (a replayed older purge after a newer one). */
    cf_plan_clear(plan);
    cf_plan_purge(plan, "cf:sessions:", "5", 1, "sess:", 9);
    cf_plan_fanout(plan, "cf:role:", "7", 1, "perms:", 10);
    cf_plan_purge(plan, "cf:sessions:", "5", 1, "sess:", 3);
    cf_plan_purge(plan, "cf:sessions:", "6", 1, "sess:", 1);
    assert_int_equal(cf_plan_coalesce(plan), 3);
    assert_string_equal(live(plan, buf, sizeof(buf)),
                        "F :1:cf:role:7 t10;P :1:cf:sessions:5 v9;P :1:cf:sessions:6 v1");
    assert_false(cf_plan_op(plan, 2)->dead);
    cf_plan_destroy(plan);
}

static void test_index_member_highest_version_wins(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char buf[1024];
    /* In version order: the later one. */
    cf_plan_index_add(plan, "cf:role:", "7", 1, "u1", 2, 1, 0);
    cf_plan_index_add(plan, "cf:role:", "7", 1, "u2", 2, 1, 0);
    cf_plan_index_remove(plan, "cf:role:", "7", 1, "u1", 2, 2);
    assert_int_equal(cf_plan_coalesce(plan), 2);
    assert_string_equal(live(plan, buf, sizeof(buf)), "A :1:cf:role:7 v1 u2;R :1:cf:role:7 v2 u1");

    /* A replayed older add after the remove: the remove wins, at the
     * later position (after the fan-out it followed). */
    cf_plan_clear(plan);
    cf_plan_index_remove(plan, "cf:sessions:", "5", 1, "s1", 2, 8);
    cf_plan_xinval(plan, "perms:", "5", 1, 10);
    cf_plan_index_add(plan, "cf:sessions:", "5", 1, "s1", 2, 7, 60000);
    assert_int_equal(cf_plan_coalesce(plan), 2);
    assert_string_equal(live(plan, buf, sizeof(buf)), "X :1:perms:5 t10;R :1:cf:sessions:5 v8 s1");
    assert_int_equal(cf_plan_op(plan, 2)->code, CF_OP_INDEX_REM);
    assert_int_equal(cf_plan_op(plan, 2)->ttl_ms, 0);

    /* An older remove after the add: the add wins, its TTL with it. */
    cf_plan_clear(plan);
    cf_plan_index_add(plan, "cf:sessions:", "5", 1, "s1", 2, 9, 60000);
    cf_plan_index_remove(plan, "cf:sessions:", "5", 1, "s1", 2, 4);
    assert_int_equal(cf_plan_coalesce(plan), 1);
    assert_string_equal(live(plan, buf, sizeof(buf)), "A :1:cf:sessions:5 v9 s1");
    assert_int_equal(cf_plan_op(plan, 1)->ttl_ms, 60000);

    /* A tie (a redelivery): the later one. */
    cf_plan_clear(plan);
    cf_plan_index_remove(plan, "cf:role:", "7", 1, "u1", 2, 3);
    cf_plan_index_add(plan, "cf:role:", "7", 1, "u1", 2, 3, 0);
    assert_int_equal(cf_plan_coalesce(plan), 1);
    assert_string_equal(live(plan, buf, sizeof(buf)), "A :1:cf:role:7 v3 u1");
    cf_plan_destroy(plan);
}

static void test_categories_and_one_menu_after_them(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char buf[1024];
    cf_plan_category(plan, "cf:categories", "1", 1, 2, 10, "|0|1|x", 6);
    cf_plan_menu(plan, "menu:", "main", "cf:categories", 1000);
    cf_plan_category(plan, "cf:categories", "2", 1, 1, 11, "|1|1|y", 6);
    cf_plan_menu(plan, "menu:", "main", "cf:categories", 1000);
    cf_plan_category(plan, "cf:categories", "1", 1, 1, 12, "|0|1|old", 8); /* older */
    cf_plan_menu(plan, "menu:", "main", "cf:categories", 1000);
    assert_int_equal(cf_plan_coalesce(plan), 3);
    /* Record 1 keeps version 2 at its first position; the one rebuild left
     * is the last operation, after every record. */
    assert_string_equal(live(plan, buf, sizeof(buf)),
                        "C :1:cf:categories v2 1;C :1:cf:categories v1 2;M :1:menu:main");
    assert_memory_equal(cf_plan_bytes(plan, cf_plan_op(plan, 0)->b), "|0|1|x", 6);
    assert_false(cf_plan_op(plan, 5)->dead);

    /* A newer record later in the batch moves its content forward. */
    cf_plan_clear(plan);
    cf_plan_category(plan, "cf:categories", "1", 1, 1, 10, "|0|1|a", 6);
    cf_plan_menu(plan, "menu:", "main", "cf:categories", 1000);
    cf_plan_category(plan, "cf:categories", "1", 1, 3, 11, "|0|1|c", 6);
    cf_plan_menu(plan, "menu:", "main", "cf:categories", 1000);
    assert_int_equal(cf_plan_coalesce(plan), 2);
    assert_string_equal(live(plan, buf, sizeof(buf)), "C :1:cf:categories v3 1;M :1:menu:main");
    assert_memory_equal(cf_plan_bytes(plan, cf_plan_op(plan, 0)->b), "|0|1|c", 6);
    cf_plan_destroy(plan);
}

static void test_large_batch_coalesces(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char id[16];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(id, sizeof(id), "%d", i % 1000);
        cf_plan_warm(plan, "product:", id, (size_t)n, (uint64_t)i, i, 1000, "{}", 2);
    }
    assert_int_equal(cf_plan_coalesce(plan), 1000);
    /* Each survivor is the highest version of its key. */
    size_t seen = 0;
    for (size_t i = 0; i < cf_plan_count(plan); i++) {
        const struct cf_op *op = cf_plan_op(plan, i);
        if (op->dead)
            continue;
        assert_true(op->version >= 19000);
        seen++;
    }
    assert_int_equal(seen, 1000);
    cf_plan_destroy(plan);
}

/* cf_fmt_u64 / cf_fmt_i64 (decimal.h) write what printf writes, with no
 * NUL: the edges, every power of ten and its neighbours, and a sweep. */
static void check_decimal(uint64_t u)
{
    char got[CF_DECIMAL_MAX + 1], want[32];
    memset(got, '#', sizeof(got));
    size_t n = cf_fmt_u64(got, u);
    snprintf(want, sizeof(want), "%" PRIu64, u);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    assert_int_equal(got[n], '#');
    int64_t i = (int64_t)u;
    memset(got, '#', sizeof(got));
    n = cf_fmt_i64(got, i);
    snprintf(want, sizeof(want), "%" PRId64, i);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    assert_int_equal(got[n], '#');
}

static void test_decimal_text(void **state)
{
    (void)state;
    check_decimal(0);
    check_decimal(UINT64_MAX);
    check_decimal((uint64_t)INT64_MAX);
    check_decimal((uint64_t)INT64_MIN);
    for (uint64_t p = 1; p <= UINT64_MAX / 10; p *= 10) {
        check_decimal(p - 1);
        check_decimal(p);
        check_decimal(p + 1);
        check_decimal(p * 10 - 1);
    }
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int k = 0; k < 100000; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check_decimal(x >> (k % 64));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_carry_prefix_and_kind),
        cmocka_unit_test(test_decimal_text),
        cmocka_unit_test(test_rollback_drops_ops_and_bytes),
        cmocka_unit_test(test_versioned_highest_wins_at_last_position),
        cmocka_unit_test(test_invalidations_merge_keeping_latest_time),
        cmocka_unit_test(test_membership_change_seals_fanout_and_purge),
        cmocka_unit_test(test_index_member_highest_version_wins),
        cmocka_unit_test(test_categories_and_one_menu_after_them),
        cmocka_unit_test(test_large_batch_coalesces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
