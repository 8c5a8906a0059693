/* test_orders_planner.c - the orders consumer's rule
 * (consumers/orders/planner.c) as a pure function: one event in, the exact
 * list of cache operations out, or a rejection with its reason.
 *
 * DESIGN.md's "shopping carts" row, "invalidated by: order completed for
 * that cart", is a table below.  An accepted row lists every operation the
 * planner must append, rendered as one line with every field it carries:
 *
 *   X :1:cart:c1 ts=5000
 *
 * and a field an operation does not use is rendered as "!field=..." when it
 * is not zero, so an X that carried the order's version (which means
 * nothing to the cart's key) would fail its row.  A rejected row gives the
 * start of the reason ("unsafe-id: "), and may name bytes the reason must
 * never repeat.
 *
 * Every row runs against a plan that already holds an earlier event's
 * operations: a rejected event rolled back to its mark must leave them
 * exactly as they were.  The event's strings are copied into heap blocks
 * of exactly their length and freed as soon as the planner returns
 * (AddressSanitizer sees a read past a view, or an operation still pointing
 * into the event).
 *
 * Then coalescing, rollback, the id length bound, and the one thing the two
 * cart planners must agree on: the orders planner's X names byte for byte
 * the key the carts planner warms.
 */
#include "testutil.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The paths, not just "planner.h": every consumer has a planner.h and the
 * tests link every consumer's library (and so see every include dir). */
#include "../../consumers/carts/planner.h"
#include "../../consumers/orders/planner.h"
#include "buf.h"
#include "plan.h"
#include "plantest.h"

/* ------------------------------------------------------------------------
 * Fixtures
 * ------------------------------------------------------------------------ */

/* clang-format off */
#define STR(lit) {(lit), sizeof(lit) - 1}
/* clang-format on */

#define MAX_ID      128
#define REASON_SIZE 256

/* ------------------------------------------------------------------------
 * Calling the planner on exact-size heap copies of the event's strings
 * ------------------------------------------------------------------------ */

static int plan_event(const struct orders_event *ev, size_t max_id, struct cf_plan *plan,
                      char *reason, size_t reason_size)
{
    struct cf_pt_owned o = {0};
    struct orders_event copy = *ev;
    copy.order_id = cf_pt_dup_str(&o, ev->order_id);
    copy.cart_id = cf_pt_dup_str(&o, ev->cart_id);
    copy.user_id = cf_pt_dup_str(&o, ev->user_id);
    copy.total = cf_pt_dup_str(&o, ev->total);
    copy.currency = cf_pt_dup_str(&o, ev->currency);
    int rc = orders_plan(&copy, max_id, plan, reason, reason_size);
    cf_pt_owned_free(&o);
    return rc;
}

/* clang-format off */
#define COMPLETED ORDERS_ORDER_COMPLETED
/* Order orderlit completed from cart cartlit (by user u-5, for logs). */
#define ORDER(orderlit, cartlit)                                                                   \
    {.type = COMPLETED, .version = 3, .occurred_at_us = 5000, .order_id = STR(orderlit),           \
     .cart_id = STR(cartlit), .has_user = true, .user_id = STR("u-5"), .total = STR("129.90"),     \
     .currency = STR("EUR")}
/* clang-format on */

static void plan_earlier_event(struct cf_plan *plan)
{
    struct orders_event ev = ORDER("o-0", "c0");
    ev.occurred_at_us = 10;
    char reason[REASON_SIZE] = "";
    int rc = plan_event(&ev, MAX_ID, plan, reason, sizeof(reason));
    if (rc != 0)
        print_error("earlier event rejected: %s\n", reason);
    assert_int_equal(rc, 0);
}

static const char *const earlier_ops[] = {
    "X :1:cart:c0 ts=10",
    NULL,
};

/* ------------------------------------------------------------------------
 * One event: the table
 * ------------------------------------------------------------------------ */

struct row {
    const char *name;
    struct orders_event ev;
    const char *reason;
    const char *secret;
    const char *ops[4];
};

/* clang-format off */
static struct row accepted[] = {
    {.name = "order completed: X of its cart at occurred_at, without the order's version",
     .ev = ORDER("o-1", "c1"),
     .ops = {"X :1:cart:c1 ts=5000"}},
    {.name = "order for a cart that was never cached: the same X (it leaves the order's time)",
     .ev = {.type = COMPLETED, .version = 1, .occurred_at_us = 7000, .order_id = STR("o-2"),
            .cart_id = STR("never-cached"), .has_user = true, .user_id = STR("u-9"),
            .total = STR("5.00"), .currency = STR("USD")},
     .ops = {"X :1:cart:never-cached ts=7000"}},
    {.name = "guest checkout (no user)",
     .ev = {.type = COMPLETED, .version = 2, .occurred_at_us = 5100, .order_id = STR("o-3"),
            .cart_id = STR("anon-1"), .has_user = false, .total = STR("1.00"),
            .currency = STR("GBP")},
     .ops = {"X :1:cart:anon-1 ts=5100"}},
    {.name = "log-only fields never reach a key, whatever they hold",
     .ev = {.type = COMPLETED, .version = 2, .occurred_at_us = 5200, .order_id = STR("o-4"),
            .cart_id = STR("c4"), .has_user = true, .user_id = STR("user:4 *{x}"),
            .total = STR("not a number"), .currency = STR("\xc3\xa9\n")},
     .ops = {"X :1:cart:c4 ts=5200"}},
    {.name = "order id and cart id with every allowed character class",
     .ev = ORDER("Ab-9_z.x", "Cd-0_y.w"),
     .ops = {"X :1:cart:Cd-0_y.w ts=5000"}},
    {.name = "order id equal to the cart id is fine (different entities)",
     .ev = ORDER("42", "42"),
     .ops = {"X :1:cart:42 ts=5000"}},
    {.name = "largest time carried whole; the largest version nowhere",
     .ev = {.type = COMPLETED, .version = UINT64_MAX, .occurred_at_us = INT64_MAX,
            .order_id = STR("o-5"), .cart_id = STR("c5"), .total = STR("0"),
            .currency = STR("EUR")},
     .ops = {"X :1:cart:c5 ts=9223372036854775807"}},
};

static struct row rejected[] = {
    /* --- order ids --- */
    {.name = "order id with a space", .ev = ORDER("o 1", "c1"), .reason = "unsafe-id: order_id"},
    {.name = "order id with a newline", .ev = ORDER("o\n1", "c1"),
     .reason = "unsafe-id: order_id"},
    {.name = "order id with a NUL", .ev = ORDER("o\0001", "c1"), .reason = "unsafe-id: order_id"},
    {.name = "order id with ':'", .ev = ORDER("o:1", "c1"), .reason = "unsafe-id: order_id"},
    {.name = "order id with '*'", .ev = ORDER("o*", "c1"), .reason = "unsafe-id: order_id"},
    {.name = "order id with '{'", .ev = ORDER("{o}", "c1"), .reason = "unsafe-id: order_id"},
    {.name = "order id not ASCII", .ev = ORDER("caf\xc3\xa9", "c1"),
     .reason = "unsafe-id: order_id"},
    {.name = "order id empty", .ev = ORDER("", "c1"), .reason = "unsafe-id: order_id"},
    {.name = "order id never in the reason", .ev = ORDER("SECRET-ID?", "c1"),
     .reason = "unsafe-id: order_id", .secret = "SECRET-ID"},
    {.name = "order id checked before the cart id", .ev = ORDER("o 1", "c 1"),
     .reason = "unsafe-id: order_id"},

    /* --- cart ids --- */
    {.name = "cart id with a space", .ev = ORDER("o-1", "c 1"), .reason = "unsafe-id: cart_id"},
    {.name = "cart id with a control byte", .ev = ORDER("o-1", "c\x01"),
     .reason = "unsafe-id: cart_id"},
    {.name = "cart id with DEL", .ev = ORDER("o-1", "c\x7f"), .reason = "unsafe-id: cart_id"},
    {.name = "cart id with ':' (would forge {key}:v)", .ev = ORDER("o-1", "c1:v"),
     .reason = "unsafe-id: cart_id"},
    {.name = "cart id with '?'", .ev = ORDER("o-1", "c?"), .reason = "unsafe-id: cart_id"},
    {.name = "cart id with '['", .ev = ORDER("o-1", "c[1]"), .reason = "unsafe-id: cart_id"},
    {.name = "cart id with '}'", .ev = ORDER("o-1", "c}"), .reason = "unsafe-id: cart_id"},
    {.name = "cart id with a quote", .ev = ORDER("o-1", "c\""), .reason = "unsafe-id: cart_id"},
    {.name = "cart id with a slash", .ev = ORDER("o-1", "c/1"), .reason = "unsafe-id: cart_id"},
    {.name = "cart id not ASCII", .ev = ORDER("o-1", "\xe6\x97\xa5"),
     .reason = "unsafe-id: cart_id"},
    {.name = "cart id empty", .ev = ORDER("o-1", ""), .reason = "unsafe-id: cart_id"},
    {.name = "cart id never in the reason", .ev = ORDER("o-1", "SECRET-ID*"),
     .reason = "unsafe-id: cart_id", .secret = "SECRET-ID"},

    /* --- the rest --- */
    {.name = "unknown event type",
     .ev = {.type = ORDERS_EVENT_TYPES, .version = 1, .occurred_at_us = 1, .order_id = STR("o"),
            .cart_id = STR("c")},
     .reason = "unknown-type: "},
};
/* clang-format on */

static void test_row(void **state)
{
    const struct row *r = *state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char reason[REASON_SIZE] = "untouched";

    plan_earlier_event(plan);
    size_t mark = cf_plan_mark(plan);
    assert_int_equal(mark, cf_pt_count_lines(earlier_ops));

    int rc = plan_event(&r->ev, MAX_ID, plan, reason, sizeof(reason));
    if (r->reason) {
        cf_pt_expect_rejected(rc, reason, r->reason, r->secret);
        assert_int_equal(cf_plan_count(plan), mark);
        cf_plan_rollback(plan, mark);
        assert_int_equal(cf_plan_count(plan), mark);
    } else {
        if (rc != 0)
            print_error("rejected: %s\n", reason);
        assert_int_equal(rc, 0);
        cf_pt_expect_ops(plan, mark, cf_plan_count(plan), false, r->ops);
    }
    cf_pt_expect_ops(plan, 0, mark, false, earlier_ops);
    cf_plan_destroy(plan);
}

/* ------------------------------------------------------------------------
 * One batch: the planner's output coalesced
 * ------------------------------------------------------------------------ */

struct batch_row {
    const char *name;
    size_t nev;
    struct orders_event ev[4];
    const char *live[4];
};

/* clang-format off */
#define ORD(orderlit, cartlit, ts)                                                                 \
    {.type = COMPLETED, .version = 1, .occurred_at_us = (ts), .order_id = STR(orderlit),           \
     .cart_id = STR(cartlit), .total = STR("1.00"), .currency = STR("EUR")}

static struct batch_row batches[] = {
    {.name = "two orders from one cart, the later first: one X with the latest time",
     .nev = 2, .ev = {ORD("o-2", "c1", 6000), ORD("o-1", "c1", 5000)},
     .live = {"X :1:cart:c1 ts=6000"}},
    {.name = "the same order delivered twice: one X",
     .nev = 2, .ev = {ORD("o-1", "c1", 5000), ORD("o-1", "c1", 5000)},
     .live = {"X :1:cart:c1 ts=5000"}},
    {.name = "orders from three carts: one X each, in order",
     .nev = 4,
     .ev = {ORD("o-1", "c1", 5000), ORD("o-2", "c2", 5100), ORD("o-3", "c1", 5200),
            ORD("o-4", "c3", 5300)},
     .live = {"X :1:cart:c2 ts=5100", "X :1:cart:c1 ts=5200", "X :1:cart:c3 ts=5300"}},
};
/* clang-format on */

static void test_batch(void **state)
{
    const struct batch_row *r = *state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char reason[REASON_SIZE] = "";
    for (size_t i = 0; i < r->nev; i++) {
        int rc = plan_event(&r->ev[i], MAX_ID, plan, reason, sizeof(reason));
        if (rc != 0)
            print_error("event %zu rejected: %s\n", i, reason);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(cf_plan_coalesce(plan), cf_pt_count_lines(r->live));
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), true, r->live);
    cf_plan_destroy(plan);
}

/* ------------------------------------------------------------------------
 * Rollback, limits, agreement with the carts planner
 * ------------------------------------------------------------------------ */

/* Rejected events and an accepted one the runtime drops, rolled back,
 * leave the earlier operations byte for byte; the next event appends in
 * the bytes the dropped one had. */
static void test_rollback_keeps_earlier_events(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf before = {0}, after = {0};
    char reason[REASON_SIZE] = "";

    plan_earlier_event(plan);
    struct orders_event second = ORDER("o-1", "c1");
    assert_int_equal(plan_event(&second, MAX_ID, plan, reason, sizeof(reason)), 0);
    size_t mark = cf_plan_mark(plan);
    assert_int_equal(mark, 2);
    cf_pt_render_plan(&before, plan, 0, mark, false);

    const struct orders_event bad[] = {ORDER("o 2", "c2"), ORDER("o-2", "c 2")};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(plan_event(&bad[i], MAX_ID, plan, reason, sizeof(reason)), -1);
        cf_plan_rollback(plan, mark);
        assert_int_equal(cf_plan_count(plan), mark);
        cf_pt_render_plan(&after, plan, 0, cf_plan_count(plan), false);
        assert_string_equal(after.data, before.data);
    }

    struct orders_event dropped = ORDER("o-3", "c3");
    assert_int_equal(plan_event(&dropped, MAX_ID, plan, reason, sizeof(reason)), 0);
    assert_int_equal(cf_plan_count(plan), mark + 1);
    uint32_t dropped_at = cf_plan_op(plan, mark)->key.off;
    cf_plan_rollback(plan, mark);
    cf_pt_render_plan(&after, plan, 0, cf_plan_count(plan), false);
    assert_string_equal(after.data, before.data);

    struct orders_event next = ORDER("o-4", "c4");
    next.occurred_at_us = 40;
    assert_int_equal(plan_event(&next, MAX_ID, plan, reason, sizeof(reason)), 0);
    const char *const want[] = {
        earlier_ops[0],
        "X :1:cart:c1 ts=5000",
        "X :1:cart:c4 ts=40",
        NULL,
    };
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);
    assert_int_equal(cf_plan_op(plan, mark)->key.off, dropped_at);
    assert_int_equal(cf_plan_coalesce(plan), 3);
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), true, want);

    cf_buf_free(&before);
    cf_buf_free(&after);
    cf_plan_destroy(plan);
}

/* 128 bytes are an id, 129 and 10 KB are not, for both ids; max_id_bytes
 * is the caller's. */
static void test_id_length(void **state)
{
    (void)state;
    char reason[REASON_SIZE];
    char *id = malloc(10 * 1024);
    assert_non_null(id);
    memset(id, 'a', 10 * 1024);
    struct cf_plan *plan = cf_plan_new(":1:");

    struct orders_event ev = ORDER("o-1", "c1");
    ev.cart_id = (struct cf_str){id, MAX_ID};
    ev.order_id = (struct cf_str){id, MAX_ID};
    assert_int_equal(plan_event(&ev, MAX_ID, plan, reason, sizeof(reason)), 0);
    assert_int_equal(cf_plan_count(plan), 1);
    const struct cf_op *op = cf_plan_op(plan, 0);
    assert_int_equal(op->key.len, strlen(":1:cart:") + MAX_ID);
    assert_memory_equal(cf_plan_bytes(plan, op->key) + 8, id, MAX_ID);

    const size_t bad_lens[] = {MAX_ID + 1, 10 * 1024};
    for (size_t i = 0; i < 2; i++) {
        ev.order_id.len = bad_lens[i];
        cf_pt_expect_rejected(plan_event(&ev, MAX_ID, plan, reason, sizeof(reason)), reason,
                        "unsafe-id: order_id", "aaaa");
        ev.order_id.len = MAX_ID;
        ev.cart_id.len = bad_lens[i];
        cf_pt_expect_rejected(plan_event(&ev, MAX_ID, plan, reason, sizeof(reason)), reason,
                        "unsafe-id: cart_id", "aaaa");
        ev.cart_id.len = MAX_ID;
    }
    assert_int_equal(cf_plan_count(plan), 1);

    /* max_id_bytes 2: "c1" is an id, "c10" is not. */
    struct orders_event small = ORDER("o1", "c1");
    assert_int_equal(plan_event(&small, 2, plan, reason, sizeof(reason)), 0);
    small.cart_id = (struct cf_str)STR("c10");
    cf_pt_expect_rejected(plan_event(&small, 2, plan, reason, sizeof(reason)), reason,
                    "unsafe-id: cart_id", NULL);
    assert_int_equal(cf_plan_count(plan), 2);

    cf_plan_destroy(plan);
    free(id);
}

/* The key the orders planner invalidates is the key the carts planner
 * warms, byte for byte, whatever the prefix. */
static void test_same_key_as_the_carts_planner(void **state)
{
    (void)state;
    const char *const prefixes[] = {":1:", "shop:2:", ""};
    const struct carts_settings carts_cfg = {.cart_ttl_s = 2592000, .max_cart_bytes = 1024};
    assert_string_equal(ORDERS_KIND_CART, CARTS_KIND_CART);
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        struct cf_plan *carts = cf_plan_new(prefixes[i]);
        struct cf_plan *orders = cf_plan_new(prefixes[i]);
        char reason[REASON_SIZE] = "";
        struct carts_event up = {.type = CARTS_CART_UPDATED,
                                 .version = 4,
                                 .occurred_at_us = 100,
                                 .cart_id = STR("Cart-7.x_y"),
                                 .cart = STR("{}")};
        struct orders_event done = ORDER("o-7", "Cart-7.x_y");
        assert_int_equal(carts_plan(&carts_cfg, &up, MAX_ID, carts, reason, sizeof(reason)), 0);
        assert_int_equal(plan_event(&done, MAX_ID, orders, reason, sizeof(reason)), 0);
        const struct cf_op *w = cf_plan_op(carts, 0), *x = cf_plan_op(orders, 0);
        assert_int_equal(w->code, CF_OP_WARM);
        assert_int_equal(x->code, CF_OP_XINVAL);
        assert_int_equal(w->key.len, x->key.len);
        assert_memory_equal(cf_plan_bytes(carts, w->key), cf_plan_bytes(orders, x->key),
                            w->key.len);
        cf_plan_destroy(carts);
        cf_plan_destroy(orders);
    }
}

/* A short reason buffer is filled, cut and terminated, never overrun. */
static void test_short_reason_buffer(void **state)
{
    (void)state;
    char reason[16];
    memset(reason, '#', sizeof(reason));
    struct orders_event ev = ORDER("o-1", "c 1");
    struct cf_plan *plan = cf_plan_new(":1:");
    assert_int_equal(plan_event(&ev, MAX_ID, plan, reason, 6), -1);
    assert_string_equal(reason, "unsaf");
    for (size_t i = 6; i < sizeof(reason); i++)
        assert_int_equal(reason[i], '#');
    assert_int_equal(cf_plan_count(plan), 0);
    cf_plan_destroy(plan);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(orders_event_names[ORDERS_ORDER_COMPLETED], "order_completed");
    assert_null(orders_event_names[ORDERS_EVENT_TYPES]);
}

/* ------------------------------------------------------------------------
 * main: one cmocka test per table row, named by the row
 * ------------------------------------------------------------------------ */

#define NACCEPTED (sizeof(accepted) / sizeof(accepted[0]))
#define NREJECTED (sizeof(rejected) / sizeof(rejected[0]))
#define NBATCHES  (sizeof(batches) / sizeof(batches[0]))

static const struct CMUnitTest fixed_tests[] = {
    cmocka_unit_test(test_rollback_keeps_earlier_events),
    cmocka_unit_test(test_id_length),
    cmocka_unit_test(test_same_key_as_the_carts_planner),
    cmocka_unit_test(test_short_reason_buffer),
    cmocka_unit_test(test_names),
};
#define NFIXED (sizeof(fixed_tests) / sizeof(fixed_tests[0]))

static struct CMUnitTest tests[NACCEPTED + NREJECTED + NBATCHES + NFIXED];
static char names[NACCEPTED + NREJECTED + NBATCHES][200];

static void add(size_t *n, const char *kind, const char *name, CMUnitTestFunction f, void *row)
{
    size_t i = *n;
    snprintf(names[i], sizeof(names[i]), "%s: %s", kind, name);
    tests[i] = (struct CMUnitTest){names[i], f, NULL, NULL, row};
    *n = i + 1;
}

int main(void)
{
    size_t n = 0;
    for (size_t i = 0; i < NACCEPTED; i++)
        add(&n, "accepted", accepted[i].name, test_row, &accepted[i]);
    for (size_t i = 0; i < NREJECTED; i++)
        add(&n, "rejected", rejected[i].name, test_row, &rejected[i]);
    for (size_t i = 0; i < NBATCHES; i++)
        add(&n, "batch", batches[i].name, test_batch, &batches[i]);
    for (size_t i = 0; i < NFIXED; i++)
        tests[n++] = fixed_tests[i];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
