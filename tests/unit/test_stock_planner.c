/* test_stock_planner.c - the stock consumer's slice rules
 * (consumers/stock/planner.c) as a pure function: one event in, the exact
 * list of cache operations out, or a rejection with its reason; then the
 * handler (consumers/stock/handler.c) on Avro values of schemas/stock.avsc.
 *
 * DESIGN.md's "inventory counts" row (seed section 7) is the table below.
 * An accepted row lists every operation the planner must append, each
 * rendered as one line with every field it carries, e.g.
 *
 *   W :1:stock:SKU-1 v=7 ts=1000 ttl=60000 value=3
 *   X :1:product:42 ts=1000
 *
 * and a field an operation does not use is rendered as "!field=..." when it
 * is not zero, so an X that carried a version would fail its row.  A
 * rejected row gives the start of the reason ("invalid-field: "), and may
 * name bytes the reason must never repeat.
 *
 * Every row runs against a plan that already holds an earlier event's
 * operations: a rejected event must append nothing (the planner checks
 * everything first) and, rolled back to its mark, leave the earlier
 * operations exactly as they were; an accepted one must not disturb them.
 *
 * The event's strings are copied into heap blocks of exactly their length
 * and freed as soon as the planner returns, so AddressSanitizer sees a read
 * past a view's length, and any operation still pointing into the event.
 *
 * Then coalescing of the planner's output (one batch, several events), the
 * digits written for every kind of quantity, every movement kind, the
 * limits at and beyond their bounds, and the settings.
 */
#include "testutil.h"

#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The path, not just "planner.h": every consumer has a planner.h and the
 * tests link every consumer's library (and so see every include dir). */
#include "../../consumers/stock/planner.h"
#include "../../consumers/stock/stock.h"
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
#define E12         1000000000000LL

static const struct stock_settings settings = {.ttl_s = 60, .max_quantity = E12};
/* The widest setting: only int64 itself bounds the quantities. */
static const struct stock_settings wide = {.ttl_s = 60, .max_quantity = INT64_MAX};

/* ------------------------------------------------------------------------
 * Calling the planner on exact-size heap copies of the event's strings
 * ------------------------------------------------------------------------ */

static struct cf_str dup_str(struct cf_str s, void **block)
{
    *block = NULL;
    if (!s.ptr)
        return s;
    char *copy = malloc(s.len ? s.len : 1);
    assert_non_null(copy);
    if (s.len)
        memcpy(copy, s.ptr, s.len);
    *block = copy;
    return (struct cf_str){copy, s.len};
}

/* stock_plan() on a copy of ev whose strings are heap blocks of exactly
 * their length, freed before this returns. */
static int plan_event(const struct stock_settings *cfg, const struct stock_event *ev, size_t max_id,
                      struct cf_plan *plan, char *reason, size_t reason_size)
{
    void *sku_block, *product_block;
    struct stock_event copy = *ev;
    copy.sku = dup_str(ev->sku, &sku_block);
    copy.product_id = dup_str(ev->product_id, &product_block);
    int rc = stock_plan(cfg, &copy, max_id, plan, reason, reason_size);
    free(sku_block);
    free(product_block);
    return rc;
}

/* An earlier event in the same batch (a flip): the plan every row starts
 * from. */
static void plan_earlier_event(struct cf_plan *plan)
{
    struct stock_event ev = {
        .type = STOCK_MOVED,
        .version = 1,
        .occurred_at_us = 10,
        .sku = STR("EARLY-1"),
        .product_id = STR("1"),
        .kind = STOCK_KIND_RESTOCK,
        .quantity_delta = 4,
        .on_hand = 4,
    };
    char reason[REASON_SIZE] = "";
    int rc = plan_event(&settings, &ev, MAX_ID, plan, reason, sizeof(reason));
    if (rc != 0)
        print_error("earlier event rejected: %s\n", reason);
    assert_int_equal(rc, 0);
}

static const char *const earlier_ops[] = {
    "W :1:stock:EARLY-1 v=1 ts=10 ttl=60000 value=4",
    "X :1:product:1 ts=10",
    NULL,
};

/* ------------------------------------------------------------------------
 * One event: the table
 * ------------------------------------------------------------------------ */

struct row {
    const char *name;
    const struct stock_settings *cfg; /* NULL: settings */
    struct stock_event ev;
    const char *reason; /* NULL: accepted; else how the reason starts */
    const char *secret; /* bytes a reason must never repeat */
    const char *ops[4];
};

/* The tables are laid out by hand, one case per paragraph. */
/* clang-format off */
#define PURCHASE   STOCK_KIND_PURCHASE
#define RESTOCK    STOCK_KIND_RESTOCK
#define RETURN     STOCK_KIND_RETURN
#define ADJUSTMENT STOCK_KIND_ADJUSTMENT
#define OTHER      STOCK_KIND_OTHER

/* A movement of SKU-1 (product 42), version 7 at time 1000. */
#define MOVE(k, delta, onhand)                                                                     \
    {.type = STOCK_MOVED, .version = 7, .occurred_at_us = 1000, .sku = STR("SKU-1"),               \
     .product_id = STR("42"), .kind = (k), .quantity_delta = (delta), .on_hand = (onhand)}
/* A movement of 0 with the ids given. */
#define MOVE_IDS(skulit, productlit)                                                               \
    {.type = STOCK_MOVED, .version = 7, .occurred_at_us = 1000, .sku = STR(skulit),                \
     .product_id = STR(productlit), .kind = ADJUSTMENT, .quantity_delta = 0, .on_hand = 0}

#define W(value)  "W :1:stock:SKU-1 v=7 ts=1000 ttl=60000 value=" value
#define FLIP      "X :1:product:42 ts=1000"

static struct row accepted[] = {
    /* --- every kind; no flip: the count only --- */
    {.name = "purchase 5 -> 3: the count only", .ev = MOVE(PURCHASE, -2, 3), .ops = {W("3")}},
    {.name = "restock 2 -> 12: the count only", .ev = MOVE(RESTOCK, 10, 12), .ops = {W("12")}},
    {.name = "return 2 -> 3: the count only", .ev = MOVE(RETURN, 1, 3), .ops = {W("3")}},
    {.name = "adjustment 9 -> 4: the count only", .ev = MOVE(ADJUSTMENT, -5, 4), .ops = {W("4")}},
    {.name = "other 1 -> 2: the count only", .ev = MOVE(OTHER, 1, 2), .ops = {W("2")}},
    {.name = "3 -> 1: still in stock", .ev = MOVE(PURCHASE, -2, 1), .ops = {W("1")}},
    {.name = "adjustment confirming 3 (delta 0): the count only", .ev = MOVE(ADJUSTMENT, 0, 3),
     .ops = {W("3")}},
    {.name = "0 -> 0 (delta 0): no flip", .ev = MOVE(ADJUSTMENT, 0, 0), .ops = {W("0")}},

    /* --- availability flips: the count, then the product --- */
    {.name = "purchase 5 -> 0: out of stock, product invalidated",
     .ev = MOVE(PURCHASE, -5, 0), .ops = {W("0"), FLIP}},
    {.name = "purchase of the last one, 1 -> 0: out", .ev = MOVE(PURCHASE, -1, 0),
     .ops = {W("0"), FLIP}},
    {.name = "restock 0 -> 3: back in stock, product invalidated", .ev = MOVE(RESTOCK, 3, 3),
     .ops = {W("3"), FLIP}},
    {.name = "return 0 -> 1: back in stock", .ev = MOVE(RETURN, 1, 1), .ops = {W("1"), FLIP}},
    {.name = "adjustment 4 -> 0: out", .ev = MOVE(ADJUSTMENT, -4, 0), .ops = {W("0"), FLIP}},
    {.name = "adjustment 0 -> 6: in", .ev = MOVE(ADJUSTMENT, 6, 6), .ops = {W("6"), FLIP}},
    {.name = "other 2 -> 0: out", .ev = MOVE(OTHER, -2, 0), .ops = {W("0"), FLIP}},

    /* --- backorders: negative on_hand is out of stock --- */
    {.name = "purchase 0 -> -2 (backorder): no flip, both out", .ev = MOVE(PURCHASE, -2, -2),
     .ops = {W("-2")}},
    {.name = "return -2 -> 0: no flip, both out", .ev = MOVE(RETURN, 2, 0), .ops = {W("0")}},
    {.name = "purchase -2 -> -5: no flip", .ev = MOVE(PURCHASE, -3, -5), .ops = {W("-5")}},
    {.name = "purchase 1 -> -1: out", .ev = MOVE(PURCHASE, -2, -1), .ops = {W("-1"), FLIP}},
    {.name = "restock -2 -> 1: in", .ev = MOVE(RESTOCK, 3, 1), .ops = {W("1"), FLIP}},

    /* --- the bounds of the default max_quantity (1e12) --- */
    {.name = "on_hand 1e12 from 0: in", .ev = MOVE(RESTOCK, E12, E12),
     .ops = {W("1000000000000"), FLIP}},
    {.name = "on_hand -1e12 from 0: both out", .ev = MOVE(PURCHASE, -E12, -E12),
     .ops = {W("-1000000000000")}},
    {.name = "1e12 from 2e12 (before beyond the max is fine): no flip",
     .ev = MOVE(PURCHASE, -E12, E12), .ops = {W("1000000000000")}},
    {.name = "-1 from 1e12 - 1 (delta -1e12): out", .ev = MOVE(ADJUSTMENT, -E12, -1),
     .ops = {W("-1"), FLIP}},

    /* --- int64 limits (max_quantity INT64_MAX) --- */
    {.name = "on_hand INT64_MAX, delta 0", .cfg = &wide, .ev = MOVE(ADJUSTMENT, 0, INT64_MAX),
     .ops = {W("9223372036854775807")}},
    {.name = "on_hand INT64_MAX from 0: in", .cfg = &wide,
     .ev = MOVE(RESTOCK, INT64_MAX, INT64_MAX), .ops = {W("9223372036854775807"), FLIP}},
    {.name = "0 from INT64_MAX: out", .cfg = &wide, .ev = MOVE(PURCHASE, -INT64_MAX, 0),
     .ops = {W("0"), FLIP}},
    {.name = "on_hand -INT64_MAX, delta 0", .cfg = &wide, .ev = MOVE(ADJUSTMENT, 0, -INT64_MAX),
     .ops = {W("-9223372036854775807")}},
    {.name = "-INT64_MAX from INT64_MIN (before exactly INT64_MIN): no flip", .cfg = &wide,
     .ev = MOVE(RETURN, 1, -INT64_MAX), .ops = {W("-9223372036854775807")}},
    {.name = "-1 from INT64_MIN (delta INT64_MAX): no flip", .cfg = &wide,
     .ev = MOVE(RESTOCK, INT64_MAX, -1), .ops = {W("-1")}},
    {.name = "-INT64_MAX from 0 (delta -INT64_MAX): both out", .cfg = &wide,
     .ev = MOVE(PURCHASE, -INT64_MAX, -INT64_MAX), .ops = {W("-9223372036854775807")}},
    {.name = "1 from -(INT64_MAX - 1) (delta INT64_MAX): in", .cfg = &wide,
     .ev = MOVE(RESTOCK, INT64_MAX, 1), .ops = {W("1"), FLIP}},

    /* --- ids, versions, times --- */
    {.name = "ids with every allowed character class",
     .ev = {.type = STOCK_MOVED, .version = 3, .occurred_at_us = 50, .sku = STR("Ab-9_z.x"),
            .product_id = STR("P_1.b-Z"), .kind = PURCHASE, .quantity_delta = -1, .on_hand = 0},
     .ops = {"W :1:stock:Ab-9_z.x v=3 ts=50 ttl=60000 value=0", "X :1:product:P_1.b-Z ts=50"}},
    {.name = "sku and product id alike",
     .ev = {.type = STOCK_MOVED, .version = 3, .occurred_at_us = 50, .sku = STR("42"),
            .product_id = STR("42"), .kind = RESTOCK, .quantity_delta = 2, .on_hand = 2},
     .ops = {"W :1:stock:42 v=3 ts=50 ttl=60000 value=2", "X :1:product:42 ts=50"}},
    {.name = "largest version and time are carried whole",
     .ev = {.type = STOCK_MOVED, .version = UINT64_MAX, .occurred_at_us = INT64_MAX,
            .sku = STR("SKU-1"), .product_id = STR("42"), .kind = PURCHASE, .quantity_delta = -1,
            .on_hand = 0},
     .ops = {"W :1:stock:SKU-1 v=18446744073709551615 ts=9223372036854775807 ttl=60000 value=0",
             "X :1:product:42 ts=9223372036854775807"}},
    {.name = "version 0 at time 0",
     .ev = {.type = STOCK_MOVED, .version = 0, .occurred_at_us = 0, .sku = STR("SKU-1"),
            .product_id = STR("42"), .kind = RESTOCK, .quantity_delta = 1, .on_hand = 1},
     .ops = {"W :1:stock:SKU-1 v=0 ts=0 ttl=60000 value=1", "X :1:product:42 ts=0"}},
};

static struct row rejected[] = {
    /* --- skus that are not safe key parts --- */
    {.name = "sku with a space", .ev = MOVE_IDS("SKU 1", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku with a newline", .ev = MOVE_IDS("SKU\n1", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku with a NUL", .ev = MOVE_IDS("SKU\0001", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku with DEL", .ev = MOVE_IDS("SKU\x7f", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku with ':' (would forge {key}:v)", .ev = MOVE_IDS("SKU-1:v", "42"),
     .reason = "unsafe-id: sku"},
    {.name = "sku with '*'", .ev = MOVE_IDS("SKU*", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku with '?'", .ev = MOVE_IDS("SKU?", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku with '['", .ev = MOVE_IDS("SKU[1]", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku with '{'", .ev = MOVE_IDS("{SKU}", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku with a quote", .ev = MOVE_IDS("SKU\"", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku with a slash", .ev = MOVE_IDS("SKU/1", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku not ASCII", .ev = MOVE_IDS("SK\xc3\x9c", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku empty", .ev = MOVE_IDS("", "42"), .reason = "unsafe-id: sku"},
    {.name = "sku never in the reason", .ev = MOVE_IDS("SECRET-SKU*", "42"),
     .reason = "unsafe-id: sku", .secret = "SECRET-SKU"},

    /* --- product ids: checked on every movement, flip or not --- */
    {.name = "product id with a space (no flip)", .ev = MOVE_IDS("SKU-1", "4 2"),
     .reason = "unsafe-id: product_id"},
    {.name = "product id with ':'", .ev = MOVE_IDS("SKU-1", "42:v"),
     .reason = "unsafe-id: product_id"},
    {.name = "product id with '}'", .ev = MOVE_IDS("SKU-1", "42}"),
     .reason = "unsafe-id: product_id"},
    {.name = "product id with a control byte", .ev = MOVE_IDS("SKU-1", "4\x01" "2"),
     .reason = "unsafe-id: product_id"},
    {.name = "product id empty", .ev = MOVE_IDS("SKU-1", ""), .reason = "unsafe-id: product_id"},
    {.name = "product id never in the reason (on a flip)",
     .ev = {.type = STOCK_MOVED, .version = 7, .occurred_at_us = 1000, .sku = STR("SKU-1"),
            .product_id = STR("SECRET-ID?"), .kind = PURCHASE, .quantity_delta = -1,
            .on_hand = 0},
     .reason = "unsafe-id: product_id", .secret = "SECRET-ID"},
    {.name = "ids checked before quantities",
     .ev = {.type = STOCK_MOVED, .version = 7, .occurred_at_us = 1000, .sku = STR("SKU 1"),
            .product_id = STR("42"), .kind = PURCHASE, .quantity_delta = 0,
            .on_hand = 5 * E12},
     .reason = "unsafe-id: sku"},

    /* --- quantities beyond max_quantity (1e12) --- */
    {.name = "on_hand 1e12 + 1", .ev = MOVE(RESTOCK, 1, E12 + 1), .reason = "invalid-field: on_hand"},
    {.name = "on_hand -1e12 - 1", .ev = MOVE(PURCHASE, -1, -E12 - 1),
     .reason = "invalid-field: on_hand"},
    {.name = "quantity_delta 1e12 + 1", .ev = MOVE(RESTOCK, E12 + 1, 5),
     .reason = "invalid-field: quantity_delta"},
    {.name = "quantity_delta -1e12 - 1", .ev = MOVE(PURCHASE, -E12 - 1, 5),
     .reason = "invalid-field: quantity_delta"},
    {.name = "on_hand INT64_MAX under the default", .ev = MOVE(ADJUSTMENT, 0, INT64_MAX),
     .reason = "invalid-field: on_hand"},
    {.name = "the quantity is not in the reason", .ev = MOVE(RESTOCK, 1, 4815162342424),
     .reason = "invalid-field: on_hand", .secret = "4815162342424"},

    /* --- int64 limits and overflow of the quantity before (max INT64_MAX) --- */
    {.name = "on_hand INT64_MIN: its magnitude is not an int64", .cfg = &wide,
     .ev = MOVE(ADJUSTMENT, 0, INT64_MIN), .reason = "invalid-field: on_hand"},
    {.name = "quantity_delta INT64_MIN", .cfg = &wide, .ev = MOVE(PURCHASE, INT64_MIN, -1),
     .reason = "invalid-field: quantity_delta"},
    {.name = "INT64_MAX - (-1) overflows", .cfg = &wide, .ev = MOVE(PURCHASE, -1, INT64_MAX),
     .reason = "invalid-field: on_hand - quantity_delta"},
    {.name = "1 - (-INT64_MAX) overflows", .cfg = &wide, .ev = MOVE(PURCHASE, -INT64_MAX, 1),
     .reason = "invalid-field: on_hand - quantity_delta"},
    {.name = "INT64_MAX - (-INT64_MAX) overflows", .cfg = &wide,
     .ev = MOVE(PURCHASE, -INT64_MAX, INT64_MAX),
     .reason = "invalid-field: on_hand - quantity_delta"},
    {.name = "-INT64_MAX - 2 overflows", .cfg = &wide, .ev = MOVE(RESTOCK, 2, -INT64_MAX),
     .reason = "invalid-field: on_hand - quantity_delta"},
    {.name = "-2 - INT64_MAX overflows", .cfg = &wide, .ev = MOVE(RESTOCK, INT64_MAX, -2),
     .reason = "invalid-field: on_hand - quantity_delta"},
    {.name = "-INT64_MAX - INT64_MAX overflows", .cfg = &wide,
     .ev = MOVE(RESTOCK, INT64_MAX, -INT64_MAX),
     .reason = "invalid-field: on_hand - quantity_delta"},

    /* --- the rest --- */
    {.name = "unknown event type",
     .ev = {.type = STOCK_EVENT_TYPES, .version = 1, .occurred_at_us = 1, .sku = STR("SKU-1"),
            .product_id = STR("42")},
     .reason = "unknown-type: "},
};

/* clang-format on */

static void test_row(void **state)
{
    const struct row *r = *state;
    const struct stock_settings *cfg = r->cfg ? r->cfg : &settings;
    struct cf_plan *plan = cf_plan_new(":1:");
    char reason[REASON_SIZE] = "untouched";

    plan_earlier_event(plan);
    size_t mark = cf_plan_mark(plan);
    assert_int_equal(mark, cf_pt_count_lines(earlier_ops));

    int rc = plan_event(cfg, &r->ev, MAX_ID, plan, reason, sizeof(reason));
    if (r->reason) {
        cf_pt_expect_rejected(rc, reason, r->reason, r->secret);
        /* Everything is checked first: nothing was appended. */
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
    struct stock_event ev[6];
    const char *live[8]; /* after cf_plan_coalesce(), in plan order */
};

/* clang-format off */
/* A movement of sku (product product) at version v, time ts. */
#define MV(skulit, productlit, v, ts, delta, onhand)                                               \
    {.type = STOCK_MOVED, .version = (v), .occurred_at_us = (ts), .sku = STR(skulit),              \
     .product_id = STR(productlit), .kind = PURCHASE, .quantity_delta = (delta),                   \
     .on_hand = (onhand)}

static struct batch_row batches[] = {
    {.name = "many movements of one SKU: one write, the highest version",
     .nev = 5,
     .ev = {MV("A", "42", 1, 100, 10, 10), MV("A", "42", 2, 200, -1, 9),
            MV("A", "42", 3, 300, -2, 7), MV("A", "42", 4, 400, -3, 4),
            MV("A", "42", 5, 500, 1, 5)},
     .live = {"X :1:product:42 ts=100", "W :1:stock:A v=5 ts=500 ttl=60000 value=5"}},
    {.name = "movements out of order (a redelivery): the highest version wins",
     .nev = 3,
     .ev = {MV("A", "42", 3, 300, -1, 6), MV("A", "42", 5, 500, -1, 4),
            MV("A", "42", 4, 400, -1, 5)},
     .live = {"W :1:stock:A v=5 ts=500 ttl=60000 value=4"}},
    {.name = "out then back in: one write and one product invalidation, the latest time",
     .nev = 2,
     .ev = {MV("A", "42", 1, 1000, -1, 0), MV("A", "42", 2, 2000, 3, 3)},
     .live = {"W :1:stock:A v=2 ts=2000 ttl=60000 value=3", "X :1:product:42 ts=2000"}},
    {.name = "two flips, the later one first: the invalidation keeps the latest time",
     .nev = 2,
     .ev = {MV("A", "42", 2, 2000, 3, 3), MV("A", "42", 1, 1000, -1, 0)},
     .live = {"W :1:stock:A v=2 ts=2000 ttl=60000 value=3", "X :1:product:42 ts=2000"}},
    {.name = "two SKUs of one product flip: two writes, one invalidation",
     .nev = 2,
     .ev = {MV("A", "42", 1, 1000, -1, 0), MV("B", "42", 9, 1500, -2, 0)},
     .live = {"W :1:stock:A v=1 ts=1000 ttl=60000 value=0",
              "W :1:stock:B v=9 ts=1500 ttl=60000 value=0", "X :1:product:42 ts=1500"}},
    {.name = "flips of two products: both invalidated",
     .nev = 2,
     .ev = {MV("A", "42", 1, 1000, -1, 0), MV("B", "43", 1, 1100, 1, 1)},
     .live = {"W :1:stock:A v=1 ts=1000 ttl=60000 value=0", "X :1:product:42 ts=1000",
              "W :1:stock:B v=1 ts=1100 ttl=60000 value=1", "X :1:product:43 ts=1100"}},
    {.name = "a flip then movements without one: the invalidation stays",
     .nev = 3,
     .ev = {MV("A", "42", 1, 1000, 5, 5), MV("A", "42", 2, 1100, -1, 4),
            MV("A", "42", 3, 1200, -1, 3)},
     .live = {"X :1:product:42 ts=1000", "W :1:stock:A v=3 ts=1200 ttl=60000 value=3"}},
};
/* clang-format on */

static void test_batch(void **state)
{
    const struct batch_row *r = *state;
    struct cf_plan *plan = cf_plan_new(":1:");
    char reason[REASON_SIZE] = "";
    for (size_t i = 0; i < r->nev; i++) {
        int rc = plan_event(&settings, &r->ev[i], MAX_ID, plan, reason, sizeof(reason));
        if (rc != 0)
            print_error("event %zu rejected: %s\n", i, reason);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(cf_plan_coalesce(plan), cf_pt_count_lines(r->live));
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), true, r->live);
    cf_plan_destroy(plan);
}

/* ------------------------------------------------------------------------
 * Rollback (the runtime's side of a rejection)
 * ------------------------------------------------------------------------ */

/* A plan holding earlier events: a rejected event, and an accepted one the
 * runtime drops, both rolled back, leave it byte for byte as it was, and
 * the next event appends after it. */
static void test_rollback_keeps_earlier_events(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf before = {0}, after = {0};
    char reason[REASON_SIZE] = "";

    plan_earlier_event(plan);
    size_t mark = cf_plan_mark(plan);
    assert_int_equal(mark, 2);
    cf_pt_render_plan(&before, plan, 0, mark, false);

    /* Rejected on its second id, after the first passed. */
    struct stock_event bad = MV("B", "4 2", 2, 20, -1, 0);
    cf_pt_expect_rejected(plan_event(&settings, &bad, MAX_ID, plan, reason, sizeof(reason)), reason,
                    "unsafe-id: ", NULL);
    cf_plan_rollback(plan, mark);
    assert_int_equal(cf_plan_count(plan), mark);
    cf_pt_render_plan(&after, plan, 0, cf_plan_count(plan), false);
    assert_string_equal(after.data, before.data);

    /* Rejected on its quantity, after both ids passed. */
    struct stock_event overflow = MV("B", "42", 2, 20, -1, INT64_MAX);
    cf_pt_expect_rejected(plan_event(&wide, &overflow, MAX_ID, plan, reason, sizeof(reason)), reason,
                    "invalid-field: ", NULL);
    cf_plan_rollback(plan, mark);
    assert_int_equal(cf_plan_count(plan), mark);

    /* Accepted (a flip: two operations), then dropped by the runtime: the
     * arena is cut back too. */
    struct stock_event dropped = MV("C", "43", 3, 30, -7, 0);
    assert_int_equal(plan_event(&settings, &dropped, MAX_ID, plan, reason, sizeof(reason)), 0);
    assert_int_equal(cf_plan_count(plan), mark + 2);
    uint32_t dropped_at = cf_plan_op(plan, mark)->key.off;
    cf_plan_rollback(plan, mark);
    assert_int_equal(cf_plan_count(plan), mark);
    cf_pt_render_plan(&after, plan, 0, cf_plan_count(plan), false);
    assert_string_equal(after.data, before.data);

    /* The next event lands after the earlier ones, whose bytes are intact. */
    struct stock_event next = MV("D", "44", 4, 40, -1, 2);
    assert_int_equal(plan_event(&settings, &next, MAX_ID, plan, reason, sizeof(reason)), 0);
    const char *const want[] = {
        earlier_ops[0],
        earlier_ops[1],
        "W :1:stock:D v=4 ts=40 ttl=60000 value=2",
        NULL,
    };
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);
    assert_int_equal(cf_plan_op(plan, mark)->key.off, dropped_at);

    /* Nothing of the dropped events survives coalescing either. */
    assert_int_equal(cf_plan_coalesce(plan), 3);
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), true, want);

    cf_buf_free(&before);
    cf_buf_free(&after);
    cf_plan_destroy(plan);
}

/* ------------------------------------------------------------------------
 * The digits written
 * ------------------------------------------------------------------------ */

/* The value of the W for on_hand q, exactly: the decimal digits, a '-' when
 * negative, nothing else; and what django-redis's int() reads back from
 * those bytes is q (strtoll here: the whole text, no overflow). */
static void test_digits(void **state)
{
    (void)state;
    static const struct {
        int64_t q;
        const char *text;
    } cases[] = {
        {0, "0"},
        {1, "1"},
        {7, "7"},
        {10, "10"},
        {100, "100"},
        {-1, "-1"},
        {-10, "-10"},
        {-100, "-100"},
        {999999999999, "999999999999"},
        {E12, "1000000000000"},
        {-E12, "-1000000000000"},
        {INT32_MAX + 1LL, "2147483648"},
        {INT32_MIN - 1LL, "-2147483649"},
        {(1LL << 53) + 1, "9007199254740993"}, /* beyond a double's integers */
        {INT64_MAX - 1, "9223372036854775806"},
        {INT64_MAX, "9223372036854775807"},
        {-INT64_MAX, "-9223372036854775807"},
    };
    char reason[REASON_SIZE] = "";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cf_plan *plan = cf_plan_new(":1:");
        struct stock_event ev = MV("SKU-1", "42", 1, 1, 0, cases[i].q);
        assert_int_equal(plan_event(&wide, &ev, MAX_ID, plan, reason, sizeof(reason)), 0);
        const struct cf_op *op = cf_plan_op(plan, 0);
        assert_int_equal(op->code, CF_OP_WARM);
        const char *v = cf_plan_bytes(plan, op->a);
        size_t n = op->a.len;
        if (n != strlen(cases[i].text) || memcmp(v, cases[i].text, n) != 0)
            fail_msg("on_hand %" PRId64 ": wrote \"%.*s\", expected \"%s\"", cases[i].q, (int)n, v,
                     cases[i].text);
        /* The form itself: [-]digits, no leading zero but "0", no "-0". */
        size_t d = v[0] == '-' ? 1 : 0;
        assert_true(n > d);
        for (size_t j = d; j < n; j++)
            assert_true(v[j] >= '0' && v[j] <= '9');
        assert_true(v[d] != '0' || (n == 1 && d == 0));
        char text[32];
        memcpy(text, v, n);
        text[n] = '\0';
        char *end = NULL;
        errno = 0;
        long long back = strtoll(text, &end, 10);
        assert_int_equal(errno, 0);
        assert_true(*end == '\0');
        assert_true(back == cases[i].q);
        cf_plan_destroy(plan);
    }
}

/* ------------------------------------------------------------------------
 * Every kind: the same operations
 * ------------------------------------------------------------------------ */

static void test_every_kind_plans_alike(void **state)
{
    (void)state;
    static const char *const flip_ops[] = {W("0"), FLIP, NULL};
    static const char *const count_ops[] = {W("2"), NULL};
    char reason[REASON_SIZE] = "";
    for (int k = 0; k < STOCK_KINDS; k++) {
        struct cf_plan *plan = cf_plan_new(":1:");
        struct stock_event out = MOVE((enum stock_kind)k, -3, 0);
        struct stock_event keep = MOVE((enum stock_kind)k, -1, 2);
        assert_int_equal(plan_event(&settings, &out, MAX_ID, plan, reason, sizeof(reason)), 0);
        cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, flip_ops);
        size_t mark = cf_plan_mark(plan);
        assert_int_equal(plan_event(&settings, &keep, MAX_ID, plan, reason, sizeof(reason)), 0);
        cf_pt_expect_ops(plan, mark, cf_plan_count(plan), false, count_ops);
        cf_plan_destroy(plan);
    }
    /* One metrics type for every kind. */
    assert_string_equal(stock_event_names[STOCK_MOVED], "stock_moved");
    assert_null(stock_event_names[STOCK_EVENT_TYPES]);
    assert_null(stock_kind_names[STOCK_KINDS]);
}

/* ------------------------------------------------------------------------
 * Limits and settings
 * ------------------------------------------------------------------------ */

/* An id of 128 bytes is a key part; 129 and 10 KB are not, for either id. */
static void test_id_length(void **state)
{
    (void)state;
    char reason[REASON_SIZE];
    size_t big = 10 * 1024;
    char *id = malloc(big);
    assert_non_null(id);
    memset(id, 'a', big);
    struct stock_event ev = MV("SKU-1", "42", 1, 1, -1, 0);
    for (int which = 0; which < 2; which++) {
        struct cf_str *part = which == 0 ? &ev.sku : &ev.product_id;
        struct cf_str keep = *part;
        *part = (struct cf_str){id, MAX_ID};
        struct cf_plan *plan = cf_plan_new(":1:");
        assert_int_equal(plan_event(&settings, &ev, MAX_ID, plan, reason, sizeof(reason)), 0);
        assert_int_equal(cf_plan_count(plan), 2);
        const struct cf_op *op = cf_plan_op(plan, (size_t)which);
        const char *kind = which == 0 ? ":1:stock:" : ":1:product:";
        assert_int_equal(op->key.len, strlen(kind) + MAX_ID);
        assert_memory_equal(cf_plan_bytes(plan, op->key), kind, strlen(kind));
        assert_memory_equal(cf_plan_bytes(plan, op->key) + strlen(kind), id, MAX_ID);
        part->len = MAX_ID + 1;
        cf_pt_expect_rejected(plan_event(&settings, &ev, MAX_ID, plan, reason, sizeof(reason)), reason,
                        "unsafe-id: ", "aaaa");
        part->len = big;
        cf_pt_expect_rejected(plan_event(&settings, &ev, MAX_ID, plan, reason, sizeof(reason)), reason,
                        "unsafe-id: ", "aaaa");
        assert_true(strlen(reason) < 100);
        assert_int_equal(cf_plan_count(plan), 2);
        cf_plan_destroy(plan);
        *part = keep;
    }
    free(id);
}

/* The settings, not literals, make the TTL and the bound; the prefix is
 * the plan's; max_id_bytes is the caller's. */
static void test_settings_shape_the_ops(void **state)
{
    (void)state;
    const struct stock_settings shortest = {.ttl_s = 30, .max_quantity = 10};
    const struct stock_settings longest = {.ttl_s = 120, .max_quantity = 1};
    struct cf_plan *plan = cf_plan_new("shop:2:");
    char reason[REASON_SIZE] = "";
    struct stock_event ten = MV("S", "P", 1, 5, 10, 10);
    struct stock_event one = MV("S", "P", 2, 6, -9, 1);
    assert_int_equal(plan_event(&shortest, &ten, MAX_ID, plan, reason, sizeof(reason)), 0);
    assert_int_equal(plan_event(&longest, &one, MAX_ID, plan, reason, sizeof(reason)), -1);
    cf_pt_expect_rejected(-1, reason, "invalid-field: quantity_delta", NULL);
    one.quantity_delta = -1;
    assert_int_equal(plan_event(&longest, &one, MAX_ID, plan, reason, sizeof(reason)), 0);
    const char *const want[] = {
        "W shop:2:stock:S v=1 ts=5 ttl=30000 value=10",
        "X shop:2:product:P ts=5",
        "W shop:2:stock:S v=2 ts=6 ttl=120000 value=1",
        NULL,
    };
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);

    /* max_quantity 10: 11 is too many, either field. */
    ten.on_hand = 11;
    cf_pt_expect_rejected(plan_event(&shortest, &ten, MAX_ID, plan, reason, sizeof(reason)), reason,
                    "invalid-field: on_hand", NULL);
    ten.on_hand = 10;
    ten.quantity_delta = -11;
    cf_pt_expect_rejected(plan_event(&shortest, &ten, MAX_ID, plan, reason, sizeof(reason)), reason,
                    "invalid-field: quantity_delta", NULL);

    /* max_id_bytes 2: "42" fine, "420" not. */
    struct stock_event ids = MV("42", "42", 3, 7, 0, 1);
    assert_int_equal(plan_event(&settings, &ids, 2, plan, reason, sizeof(reason)), 0);
    ids.product_id = (struct cf_str)STR("420");
    cf_pt_expect_rejected(plan_event(&settings, &ids, 2, plan, reason, sizeof(reason)), reason,
                    "unsafe-id: product_id", NULL);
    cf_plan_destroy(plan);
}

/* A short reason buffer is filled, cut and terminated, never overrun. */
static void test_short_reason_buffer(void **state)
{
    (void)state;
    char reason[16];
    struct cf_plan *plan = cf_plan_new(":1:");
    const struct stock_event bad[] = {MV("SKU 1", "42", 1, 1, 0, 0),
                                      MV("SKU-1", "42", 1, 1, 0, -E12 - 1)};
    const char *const cut[] = {"unsaf", "inval"};
    for (size_t i = 0; i < 2; i++) {
        memset(reason, '#', sizeof(reason));
        assert_int_equal(plan_event(&settings, &bad[i], MAX_ID, plan, reason, 6), -1);
        assert_string_equal(reason, cut[i]);
        for (size_t j = 6; j < sizeof(reason); j++)
            assert_int_equal(reason[j], '#');
    }
    assert_int_equal(cf_plan_count(plan), 0);
    cf_plan_destroy(plan);
}

/* ------------------------------------------------------------------------
 * The handler: Avro values of schemas/stock.avsc
 * ------------------------------------------------------------------------ */

static avro_schema_t load_schema(const char *text)
{
    avro_schema_t schema = NULL;
    if (avro_schema_from_json_length(text, strlen(text), &schema) != 0)
        fail_msg("schema: %s", avro_strerror());
    return schema;
}

static char *read_stock_schema(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/stock.avsc", cf_test_schemas_dir());
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    assert_true(n > 0 && n < (1 << 16) - 1);
    return text;
}

/* Replaces the first `from` in text by `to` (a new string). */
static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    size_t pre = (size_t)(at - text), n = strlen(text) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, text, pre);
    memcpy(out + pre, to, strlen(to));
    memcpy(out + pre + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
    return out;
}

struct avro_event {
    avro_value_iface_t *iface;
    avro_value_t value;
};

static void set_field_string(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f;
    assert_int_equal(avro_value_get_by_name(rec, name, &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, s), 0);
}

static void set_field_long(avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f;
    assert_int_equal(avro_value_get_by_name(rec, name, &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, v), 0);
}

/* A StockMoved value of schema. */
static void avro_event_fill(struct avro_event *e, avro_schema_t schema, int64_t version, int64_t ts,
                            const char *sku, const char *product, int kind, int64_t delta,
                            int64_t on_hand)
{
    e->iface = avro_generic_class_from_schema(schema);
    assert_non_null(e->iface);
    assert_int_equal(avro_generic_value_new(e->iface, &e->value), 0);
    set_field_string(&e->value, "event_id", "e-1");
    set_field_long(&e->value, "version", version);
    set_field_long(&e->value, "occurred_at", ts);
    avro_value_t body, branch, f;
    assert_int_equal(avro_value_get_by_name(&e->value, "body", &body, NULL), 0);
    assert_int_equal(avro_value_set_branch(&body, 0, &branch), 0);
    set_field_string(&branch, "sku", sku);
    set_field_string(&branch, "product_id", product);
    assert_int_equal(avro_value_get_by_name(&branch, "kind", &f, NULL), 0);
    assert_int_equal(avro_value_set_enum(&f, kind), 0);
    set_field_long(&branch, "quantity_delta", delta);
    set_field_long(&branch, "on_hand", on_hand);
}

static void avro_event_free(struct avro_event *e)
{
    avro_value_decref(&e->value);
    avro_value_iface_decref(e->iface);
}

/* The schema's MovementKind symbols are stock_kind_names, in order. */
static void test_kind_names_match_the_schema(void **state)
{
    (void)state;
    char *text = read_stock_schema();
    avro_schema_t schema = load_schema(text);
    avro_schema_t body = avro_schema_record_field_get(schema, "body");
    avro_schema_t moved = avro_schema_union_branch(body, 0);
    avro_schema_t kind = avro_schema_record_field_get(moved, "kind");
    assert_true(is_avro_enum(kind));
    assert_int_equal(avro_schema_enum_number_of_symbols(kind), STOCK_KINDS);
    for (int k = 0; k < STOCK_KINDS; k++)
        assert_string_equal(avro_schema_enum_get(kind, k), stock_kind_names[k]);
    avro_schema_decref(schema);
    free(text);
}

/* handle() maps every field where it belongs: the count is on_hand (not
 * the delta), the key is the sku, the flip names the product; every kind
 * is read; the metrics type is "stock_moved". */
static void test_handler_maps_the_fields(void **state)
{
    (void)state;
    char *text = read_stock_schema();
    avro_schema_t schema = load_schema(text);
    char err[256] = "";
    void *h = stock_consumer.handler_new(&settings, schema, err, sizeof(err));
    if (!h)
        fail_msg("handler_new: %s", err);
    for (int k = 0; k < STOCK_KINDS; k++) {
        struct cf_plan *plan = cf_plan_new(":1:");
        struct avro_event e;
        avro_event_fill(&e, schema, 12, 3456, "SKU-9", "77", k, -4, 0);
        struct cf_event ev = {.max_id_bytes = MAX_ID};
        int rc = stock_consumer.handle(h, &e.value, &ev, plan);
        if (rc != 0)
            fail_msg("kind %d rejected: %s", k, ev.reason);
        assert_string_equal(ev.type, "stock_moved");
        const char *const want[] = {"W :1:stock:SKU-9 v=12 ts=3456 ttl=60000 value=0",
                                    "X :1:product:77 ts=3456", NULL};
        cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);
        avro_event_free(&e);
        cf_plan_destroy(plan);
    }
    /* A rejection carries its reason and the type. */
    {
        struct cf_plan *plan = cf_plan_new(":1:");
        struct avro_event e;
        avro_event_fill(&e, schema, 12, 3456, "SKU 9", "77", 0, 1, 2);
        struct cf_event ev = {.max_id_bytes = MAX_ID};
        assert_int_equal(stock_consumer.handle(h, &e.value, &ev, plan), -1);
        cf_pt_expect_rejected(-1, ev.reason, "unsafe-id: sku", NULL);
        assert_string_equal(ev.type, "stock_moved");
        avro_event_free(&e);
        cf_plan_destroy(plan);
    }
    stock_consumer.handler_destroy(h);
    assert_int_equal(stock_consumer.max_ttl_ms(&settings), 60000);
    avro_schema_decref(schema);
    free(text);
}

/* A reader schema with a symbol the planner does not know still works (it
 * reads as OTHER); one without a field the handler needs is refused at
 * start, naming the field. */
static void test_handler_and_reader_schemas(void **state)
{
    (void)state;
    char *text = read_stock_schema();
    char err[256] = "";

    char *more = replace(text, "\"OTHER\"", "\"OTHER\", \"SHRINKAGE\"");
    avro_schema_t schema = load_schema(more);
    void *h = stock_consumer.handler_new(&settings, schema, err, sizeof(err));
    if (!h)
        fail_msg("handler_new: %s", err);
    struct cf_plan *plan = cf_plan_new(":1:");
    struct avro_event e;
    avro_event_fill(&e, schema, 1, 2, "S", "P", 5 /* SHRINKAGE */, -1, 3);
    struct cf_event ev = {.max_id_bytes = MAX_ID};
    assert_int_equal(stock_consumer.handle(h, &e.value, &ev, plan), 0);
    const char *const want[] = {"W :1:stock:S v=1 ts=2 ttl=60000 value=3", NULL};
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);
    avro_event_free(&e);
    cf_plan_destroy(plan);
    stock_consumer.handler_destroy(h);
    avro_schema_decref(schema);
    free(more);

    char *less = replace(text, "\"name\": \"on_hand\"", "\"name\": \"on_hand_after\"");
    schema = load_schema(less);
    err[0] = '\0';
    assert_null(stock_consumer.handler_new(&settings, schema, err, sizeof(err)));
    assert_non_null(strstr(err, "on_hand"));
    avro_schema_decref(schema);
    free(less);
    free(text);
}

/* ------------------------------------------------------------------------
 * main: one cmocka test per table row, named by the row
 * ------------------------------------------------------------------------ */

#define NACCEPTED (sizeof(accepted) / sizeof(accepted[0]))
#define NREJECTED (sizeof(rejected) / sizeof(rejected[0]))
#define NBATCHES  (sizeof(batches) / sizeof(batches[0]))

static const struct CMUnitTest fixed_tests[] = {
    cmocka_unit_test(test_rollback_keeps_earlier_events),
    cmocka_unit_test(test_digits),
    cmocka_unit_test(test_every_kind_plans_alike),
    cmocka_unit_test(test_id_length),
    cmocka_unit_test(test_settings_shape_the_ops),
    cmocka_unit_test(test_short_reason_buffer),
    cmocka_unit_test(test_kind_names_match_the_schema),
    cmocka_unit_test(test_handler_maps_the_fields),
    cmocka_unit_test(test_handler_and_reader_schemas),
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
