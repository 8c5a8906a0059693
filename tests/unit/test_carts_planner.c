/* test_carts_planner.c - the carts consumer's slice rules
 * (consumers/carts/planner.c) as a pure function: one event in, the exact
 * list of cache operations out, or a rejection with its reason.
 *
 * DESIGN.md's "shopping carts" row, as far as topic shop.carts feeds it
 * (cart created or changed: warm; cart deleted: invalidate; cart merged:
 * the source invalidated, the target warmed), is a table below.  An
 * accepted row lists every operation the planner must append, each
 * rendered as one line with every field it carries, e.g.
 *
 *   W :1:cart:c1 v=7 ts=1000 ttl=2592000000 value={"items":[]}
 *   D :1:cart:c1 v=8 ts=2000
 *   X :1:cart:anon-1 ts=3000
 *
 * and a field an operation does not use is rendered as "!field=..." when it
 * is not zero, so an X that carried a version (the source cart's version is
 * not in a merge event) would fail its row.  A rejected row gives the start
 * of the reason ("unsafe-id: "), and may name bytes the reason must never
 * repeat.
 *
 * Every row runs against a plan that already holds an earlier event's
 * operations: a rejected event rolled back to its mark must leave them
 * exactly as they were, and an accepted one must not disturb them.
 *
 * The event's strings are copied into heap blocks of exactly their length
 * and freed as soon as the planner returns, so AddressSanitizer sees a read
 * past a view's length, and any operation still pointing into the event.
 *
 * Then coalescing of the planner's output (one batch, several events),
 * rollback, and the limits at and beyond their bounds (id length, cart
 * size, cart depth), and the settings.
 */
#include "testutil.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The path, not just "planner.h": every consumer has a planner.h and the
 * tests link every consumer's library (and so see every include dir). */
#include "../../consumers/carts/planner.h"
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
#define MAX_CART    (256 * 1024)
#define TTL_MS      "2592000000" /* 30 days */

static const struct carts_settings settings = {
    .cart_ttl_s = 2592000,
    .max_cart_bytes = MAX_CART,
};

/* ------------------------------------------------------------------------
 * Calling the planner on exact-size heap copies of the event's strings
 * ------------------------------------------------------------------------ */

/* carts_plan() on a copy of ev whose every string is a heap block of
 * exactly its length, freed before this returns. */
static int plan_event(const struct carts_settings *cfg, const struct carts_event *ev, size_t max_id,
                      struct cf_plan *plan, char *reason, size_t reason_size)
{
    struct cf_pt_owned o = {0};
    struct carts_event copy = *ev;
    copy.cart_id = cf_pt_dup_str(&o, ev->cart_id);
    copy.source_cart_id = cf_pt_dup_str(&o, ev->source_cart_id);
    copy.cart = cf_pt_dup_str(&o, ev->cart);
    copy.user_id = cf_pt_dup_str(&o, ev->user_id);
    int rc = carts_plan(cfg, &copy, max_id, plan, reason, reason_size);
    cf_pt_owned_free(&o);
    return rc;
}

/* An earlier event in the same batch: the plan every row starts from. */
static void plan_earlier_event(struct cf_plan *plan)
{
    struct carts_event ev = {
        .type = CARTS_CART_UPDATED,
        .version = 1,
        .occurred_at_us = 10,
        .cart_id = STR("c0"),
        .cart = STR("{\"earlier\":true}"),
        .change = CARTS_CHANGE_CREATED,
    };
    char reason[REASON_SIZE] = "";
    int rc = plan_event(&settings, &ev, MAX_ID, plan, reason, sizeof(reason));
    if (rc != 0)
        print_error("earlier event rejected: %s\n", reason);
    assert_int_equal(rc, 0);
}

static const char *const earlier_ops[] = {
    "W :1:cart:c0 v=1 ts=10 ttl=" TTL_MS " value={\"earlier\":true}",
    NULL,
};

/* ------------------------------------------------------------------------
 * One event: the table
 * ------------------------------------------------------------------------ */

struct row {
    const char *name;
    struct carts_event ev;
    const char *reason; /* NULL: accepted; else how the reason starts */
    const char *secret; /* bytes a reason must never repeat */
    const char *ops[8];
};

/* The tables are laid out by hand, one case per paragraph. */
/* clang-format off */
#define UPDATED CARTS_CART_UPDATED
#define DELETED CARTS_CART_DELETED
#define MERGED CARTS_CART_MERGED

/* A cart c1 updated (an item added) with cart document doc. */
#define UPDATE_CART(doc)                                                                           \
    {.type = UPDATED, .version = 7, .occurred_at_us = 1000, .cart_id = STR("c1"),                  \
     .cart = STR(doc), .change = CARTS_CHANGE_ITEM_ADDED}
/* A cart with id idlit updated. */
#define UPDATE_ID(idlit)                                                                           \
    {.type = UPDATED, .version = 7, .occurred_at_us = 1000, .cart_id = STR(idlit),                 \
     .cart = STR("{}"), .change = CARTS_CHANGE_ITEM_ADDED}
/* A merge of source into target with cart document doc. */
#define MERGE(src, tgt, doc)                                                                       \
    {.type = MERGED, .version = 12, .occurred_at_us = 3000, .source_cart_id = STR(src),            \
     .cart_id = STR(tgt), .has_user = true, .user_id = STR("u-5"), .cart = STR(doc)}

#define CART1 "{\"id\":\"c1\",\"items\":[{\"sku\":\"SKU-1\",\"qty\":2,\"price\":\"9.90\"}]," \
              "\"total\":\"19.80\",\"currency\":\"EUR\"}"
#define MERGED_CART "{\"id\":\"user-5\",\"items\":[{\"sku\":\"SKU-1\",\"qty\":3}," \
                    "{\"sku\":\"SKU-2\",\"qty\":1}]}"
#define UTF8_CART "{\"note\":\"caf\\u00e9 \\\"x\\\" \\\\ \xc3\xa9 \xf0\x9f\x98\x80\"," \
                  "\"pair\":\"\\ud83d\\ude00\",\"nul\":\"\\u0000\"}"
#define W1(v, ts, doc) "W :1:cart:c1 v=" #v " ts=" #ts " ttl=" TTL_MS " value=" doc

static struct row accepted[] = {
    /* --- cart created or changed: warm cart:{cart_id} --- */
    {.name = "cart created by a user: W with the cart, its version and time, 30 days",
     .ev = {.type = UPDATED, .version = 7, .occurred_at_us = 1000, .cart_id = STR("c1"),
            .has_user = true, .user_id = STR("u-5"), .change = CARTS_CHANGE_CREATED,
            .cart = STR(CART1)},
     .ops = {W1(7, 1000, CART1)}},
    {.name = "anonymous cart: item added",
     .ev = UPDATE_CART(CART1),
     .ops = {W1(7, 1000, CART1)}},
    {.name = "item removed",
     .ev = {.type = UPDATED, .version = 8, .occurred_at_us = 1100, .cart_id = STR("c1"),
            .change = CARTS_CHANGE_ITEM_REMOVED, .cart = STR("{\"items\":[]}")},
     .ops = {W1(8, 1100, "{\"items\":[]}")}},
    {.name = "quantity changed",
     .ev = {.type = UPDATED, .version = 9, .occurred_at_us = 1200, .cart_id = STR("c1"),
            .change = CARTS_CHANGE_QUANTITY_CHANGED, .cart = STR("{\"items\":[{\"qty\":5}]}")},
     .ops = {W1(9, 1200, "{\"items\":[{\"qty\":5}]}")}},
    {.name = "other change",
     .ev = {.type = UPDATED, .version = 10, .occurred_at_us = 1300, .cart_id = STR("c1"),
            .change = CARTS_CHANGE_OTHER, .cart = STR("{\"coupon\":\"X\"}")},
     .ops = {W1(10, 1300, "{\"coupon\":\"X\"}")}},
    {.name = "user_id is for logs only: never in a key, even when it is not a safe key part",
     .ev = {.type = UPDATED, .version = 7, .occurred_at_us = 1000, .cart_id = STR("c1"),
            .has_user = true, .user_id = STR("user:5 *{x}"), .change = CARTS_CHANGE_CREATED,
            .cart = STR("{}")},
     .ops = {W1(7, 1000, "{}")}},
    {.name = "cart kept byte for byte (escapes, UTF-8, surrogate pairs, \\u0000)",
     .ev = UPDATE_CART(UTF8_CART),
     .ops = {W1(7, 1000, UTF8_CART)}},
    {.name = "cart with surrounding whitespace kept as it is",
     .ev = UPDATE_CART(" {\n  \"items\": []\n}\n"),
     .ops = {W1(7, 1000, " {\\x0a  \"items\": []\\x0a}\\x0a")}},
    {.name = "empty cart object",
     .ev = UPDATE_CART("{}"),
     .ops = {W1(7, 1000, "{}")}},
    {.name = "cart id with every allowed character class",
     .ev = UPDATE_ID("Ab-9_z.x"),
     .ops = {"W :1:cart:Ab-9_z.x v=7 ts=1000 ttl=" TTL_MS " value={}"}},
    {.name = "largest version and time are carried whole",
     .ev = {.type = UPDATED, .version = UINT64_MAX, .occurred_at_us = INT64_MAX,
            .cart_id = STR("c1"), .cart = STR("{}")},
     .ops = {"W :1:cart:c1 v=18446744073709551615 ts=9223372036854775807 ttl=" TTL_MS
             " value={}"}},
    {.name = "version 0 and time 0 are carried as they are",
     .ev = {.type = UPDATED, .version = 0, .occurred_at_us = 0, .cart_id = STR("c1"),
            .cart = STR("[]")},
     .ops = {W1(0, 0, "[]")}},

    /* --- cart deleted: invalidate cart:{cart_id} --- */
    {.name = "cart deleted: D with its version and time",
     .ev = {.type = DELETED, .version = 11, .occurred_at_us = 2000, .cart_id = STR("c1")},
     .ops = {"D :1:cart:c1 v=11 ts=2000"}},
    {.name = "cart deleted: a cart document in the struct is ignored",
     .ev = {.type = DELETED, .version = 11, .occurred_at_us = 2000, .cart_id = STR("c1"),
            .cart = STR("not json at all")},
     .ops = {"D :1:cart:c1 v=11 ts=2000"}},

    /* --- cart merged: the source invalidated by time, the target warmed --- */
    {.name = "merge at login: X of the anonymous source at occurred_at, W of the user's target",
     .ev = MERGE("anon-1", "user-5", MERGED_CART),
     .ops = {"X :1:cart:anon-1 ts=3000",
             "W :1:cart:user-5 v=12 ts=3000 ttl=" TTL_MS " value=" MERGED_CART}},
    {.name = "merge without a user id",
     .ev = {.type = MERGED, .version = 2, .occurred_at_us = 3500, .source_cart_id = STR("a"),
            .cart_id = STR("b"), .has_user = false, .cart = STR("{\"items\":[]}")},
     .ops = {"X :1:cart:a ts=3500", "W :1:cart:b v=2 ts=3500 ttl=" TTL_MS " value={\"items\":[]}"}},
    {.name = "merge: source and target that share a prefix are different carts",
     .ev = MERGE("c1", "c10", "{}"),
     .ops = {"X :1:cart:c1 ts=3000", "W :1:cart:c10 v=12 ts=3000 ttl=" TTL_MS " value={}"}},
};

static struct row rejected[] = {
    /* --- cart ids that are not safe key parts --- */
    {.name = "cart id with a space", .ev = UPDATE_ID("c 1"), .reason = "unsafe-id: "},
    {.name = "cart id with a newline", .ev = UPDATE_ID("c\n1"), .reason = "unsafe-id: "},
    {.name = "cart id with a NUL", .ev = UPDATE_ID("c\0001"), .reason = "unsafe-id: "},
    {.name = "cart id with a control byte", .ev = UPDATE_ID("c\x01" "1"),
     .reason = "unsafe-id: "},
    {.name = "cart id with DEL", .ev = UPDATE_ID("c\x7f"), .reason = "unsafe-id: "},
    {.name = "cart id with ':' (would forge {key}:v)", .ev = UPDATE_ID("c1:v"),
     .reason = "unsafe-id: "},
    {.name = "cart id with '*'", .ev = UPDATE_ID("c*"), .reason = "unsafe-id: "},
    {.name = "cart id with '?'", .ev = UPDATE_ID("c?"), .reason = "unsafe-id: "},
    {.name = "cart id with '['", .ev = UPDATE_ID("c[1]"), .reason = "unsafe-id: "},
    {.name = "cart id with '{'", .ev = UPDATE_ID("{c1"), .reason = "unsafe-id: "},
    {.name = "cart id with '}'", .ev = UPDATE_ID("c1}"), .reason = "unsafe-id: "},
    {.name = "cart id with a quote", .ev = UPDATE_ID("c\"1"), .reason = "unsafe-id: "},
    {.name = "cart id with a slash", .ev = UPDATE_ID("c/1"), .reason = "unsafe-id: "},
    {.name = "cart id not ASCII", .ev = UPDATE_ID("caf\xc3\xa9"), .reason = "unsafe-id: "},
    {.name = "cart id empty", .ev = UPDATE_ID(""), .reason = "unsafe-id: "},
    {.name = "cart id never in the reason", .ev = UPDATE_ID("SECRET-ID*"),
     .reason = "unsafe-id: ", .secret = "SECRET-ID"},
    {.name = "cart id checked before the cart document",
     .ev = {.type = UPDATED, .version = 7, .occurred_at_us = 1000, .cart_id = STR("c 1"),
            .cart = STR("not json")},
     .reason = "unsafe-id: "},
    {.name = "deleted cart's id unsafe",
     .ev = {.type = DELETED, .version = 9, .occurred_at_us = 3000, .cart_id = STR("SECRET-ID*")},
     .reason = "unsafe-id: ", .secret = "SECRET-ID"},
    {.name = "deleted cart's id empty",
     .ev = {.type = DELETED, .version = 9, .occurred_at_us = 3000, .cart_id = STR("")},
     .reason = "unsafe-id: "},

    /* --- cart documents that are not JSON Django can load --- */
    {.name = "cart not JSON", .ev = UPDATE_CART("{\"items\":}"), .reason = "invalid-json: cart"},
    {.name = "cart truncated", .ev = UPDATE_CART("{\"items\":[1,2"),
     .reason = "invalid-json: cart"},
    {.name = "cart empty", .ev = UPDATE_CART(""), .reason = "invalid-json: cart"},
    {.name = "cart only whitespace", .ev = UPDATE_CART(" \n"), .reason = "invalid-json: cart"},
    {.name = "cart NaN", .ev = UPDATE_CART("{\"total\":NaN}"), .reason = "invalid-json: cart"},
    {.name = "cart with a trailing comma", .ev = UPDATE_CART("{\"a\":1,}"),
     .reason = "invalid-json: cart"},
    {.name = "cart with two documents", .ev = UPDATE_CART("{} {}"),
     .reason = "invalid-json: cart"},
    {.name = "cart with a lone surrogate escape", .ev = UPDATE_CART("{\"a\":\"\\ud800\"}"),
     .reason = "invalid-json: cart"},
    {.name = "cart not UTF-8", .ev = UPDATE_CART("{\"a\":\"\xff\"}"),
     .reason = "invalid-json: cart"},
    {.name = "cart with a raw NUL", .ev = UPDATE_CART("{\"a\":\"x\0\"}"),
     .reason = "invalid-json: cart"},
    {.name = "cart with a raw control character in a string",
     .ev = UPDATE_CART("{\"a\":\"x\ty\"}"), .reason = "invalid-json: cart"},
    {.name = "cart's content never in the reason",
     .ev = UPDATE_CART("{\"card\":\"SECRET-DATA\",}"), .reason = "invalid-json: cart",
     .secret = "SECRET-DATA"},

    /* --- merges --- */
    {.name = "merge: source id unsafe", .ev = MERGE("SECRET-ID anon", "user-5", "{}"),
     .reason = "unsafe-id: source_cart_id", .secret = "SECRET-ID"},
    {.name = "merge: source id empty", .ev = MERGE("", "user-5", "{}"),
     .reason = "unsafe-id: source_cart_id"},
    {.name = "merge: target id unsafe", .ev = MERGE("anon-1", "SECRET-ID:v", "{}"),
     .reason = "unsafe-id: target_cart_id", .secret = "SECRET-ID"},
    {.name = "merge: target id empty", .ev = MERGE("anon-1", "", "{}"),
     .reason = "unsafe-id: target_cart_id"},
    {.name = "merge: a cart merged into itself", .ev = MERGE("SECRET-ID", "SECRET-ID", "{}"),
     .reason = "invalid-field: ", .secret = "SECRET-ID"},
    {.name = "merge: ids checked before source == target",
     .ev = MERGE("a b", "a b", "{}"), .reason = "unsafe-id: source_cart_id"},
    {.name = "merge: merged cart not JSON", .ev = MERGE("anon-1", "user-5", "{\"SECRET-DATA\""),
     .reason = "invalid-json: cart", .secret = "SECRET-DATA"},
    {.name = "merge: merged cart empty", .ev = MERGE("anon-1", "user-5", ""),
     .reason = "invalid-json: cart"},
    {.name = "merge: source == target checked before the cart",
     .ev = MERGE("c1", "c1", "not json"), .reason = "invalid-field: "},

    /* --- the rest --- */
    {.name = "unknown event type",
     .ev = {.type = CARTS_EVENT_TYPES, .version = 1, .occurred_at_us = 1, .cart_id = STR("c1"),
            .cart = STR("{}")},
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

    int rc = plan_event(&settings, &r->ev, MAX_ID, plan, reason, sizeof(reason));
    if (r->reason) {
        cf_pt_expect_rejected(rc, reason, r->reason, r->secret);
        /* Every check runs before the first operation: nothing to roll back. */
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
    struct carts_event ev[5];
    const char *live[8]; /* after cf_plan_coalesce(), in plan order */
};

/* clang-format off */
#define PUT(idlit, v, ts, doc)                                                                     \
    {.type = UPDATED, .version = (v), .occurred_at_us = (ts), .cart_id = STR(idlit),               \
     .cart = STR(doc), .change = CARTS_CHANGE_QUANTITY_CHANGED}
#define DEL(idlit, v, ts)                                                                          \
    {.type = DELETED, .version = (v), .occurred_at_us = (ts), .cart_id = STR(idlit)}
#define MRG(src, tgt, v, ts, doc)                                                                  \
    {.type = MERGED, .version = (v), .occurred_at_us = (ts), .source_cart_id = STR(src),           \
     .cart_id = STR(tgt), .cart = STR(doc)}
#define W(idlit, v, ts, doc) "W :1:cart:" idlit " v=" #v " ts=" #ts " ttl=" TTL_MS " value=" doc

static struct batch_row batches[] = {
    {.name = "updates v1, v3, v2 of one cart: one W, of v3",
     .nev = 3,
     .ev = {PUT("c1", 1, 1000, "{\"v\":1}"), PUT("c1", 3, 3000, "{\"v\":3}"),
            PUT("c1", 2, 2000, "{\"v\":2}")},
     .live = {W("c1", 3, 3000, "{\"v\":3}")}},
    {.name = "five updates of one cart in order: one W, of the last",
     .nev = 5,
     .ev = {PUT("c1", 1, 1000, "{\"n\":1}"), PUT("c1", 2, 1100, "{\"n\":2}"),
            PUT("c1", 3, 1200, "{\"n\":3}"), PUT("c1", 4, 1300, "{\"n\":4}"),
            PUT("c1", 5, 1400, "{\"n\":5}")},
     .live = {W("c1", 5, 1400, "{\"n\":5}")}},
    {.name = "updates of two carts interleaved: one W each, highest versions",
     .nev = 4,
     .ev = {PUT("c1", 1, 1000, "{\"c\":1,\"v\":1}"), PUT("c2", 4, 1000, "{\"c\":2,\"v\":4}"),
            PUT("c1", 2, 1100, "{\"c\":1,\"v\":2}"), PUT("c2", 3, 900, "{\"c\":2,\"v\":3}")},
     .live = {W("c1", 2, 1100, "{\"c\":1,\"v\":2}"), W("c2", 4, 1000, "{\"c\":2,\"v\":4}")}},
    {.name = "update v2 then delete v3: one D v3",
     .nev = 2, .ev = {PUT("c1", 2, 1000, "{}"), DEL("c1", 3, 2000)},
     .live = {"D :1:cart:c1 v=3 ts=2000"}},
    {.name = "delete v3 then a replayed update v2: one D v3",
     .nev = 2, .ev = {DEL("c1", 3, 2000), PUT("c1", 2, 1000, "{}")},
     .live = {"D :1:cart:c1 v=3 ts=2000"}},
    {.name = "anonymous cart updated, then merged: its W and the merge's X both kept, in order",
     .nev = 2,
     .ev = {PUT("anon-1", 4, 1000, "{\"anon\":true}"),
            MRG("anon-1", "user-5", 9, 2000, "{\"merged\":true}")},
     .live = {W("anon-1", 4, 1000, "{\"anon\":true}"), "X :1:cart:anon-1 ts=2000",
              W("user-5", 9, 2000, "{\"merged\":true}")}},
    {.name = "merge, then the target updated again: X of the source, one W of the target",
     .nev = 2,
     .ev = {MRG("anon-1", "user-5", 9, 2000, "{\"merged\":true}"),
            PUT("user-5", 10, 2100, "{\"after\":true}")},
     .live = {"X :1:cart:anon-1 ts=2000", W("user-5", 10, 2100, "{\"after\":true}")}},
    {.name = "two anonymous carts merged into one user's cart: two X, one W of the latest",
     .nev = 2,
     .ev = {MRG("anon-1", "user-5", 9, 2000, "{\"from\":1}"),
            MRG("anon-2", "user-5", 10, 2500, "{\"from\":2}")},
     .live = {"X :1:cart:anon-1 ts=2000", "X :1:cart:anon-2 ts=2500",
              W("user-5", 10, 2500, "{\"from\":2}")}},
    {.name = "the same merge delivered twice: one X, one W",
     .nev = 2,
     .ev = {MRG("anon-1", "user-5", 9, 2000, "{}"), MRG("anon-1", "user-5", 9, 2000, "{}")},
     .live = {"X :1:cart:anon-1 ts=2000", W("user-5", 9, 2000, "{}")}},
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

/* A plan holding earlier events: rejected events, and an accepted one the
 * runtime drops, rolled back, leave it byte for byte as it was, and the
 * next event appends after it, in the bytes the dropped one had. */
static void test_rollback_keeps_earlier_events(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf before = {0}, after = {0};
    char reason[REASON_SIZE] = "";

    plan_earlier_event(plan);
    struct carts_event merge = MERGE("anon-1", "user-5", "{\"m\":1}");
    assert_int_equal(plan_event(&settings, &merge, MAX_ID, plan, reason, sizeof(reason)), 0);
    size_t mark = cf_plan_mark(plan);
    assert_int_equal(mark, 3);
    cf_pt_render_plan(&before, plan, 0, mark, false);

    /* Rejected, each at a different check. */
    const struct carts_event bad[] = {
        MERGE("anon-2", "user 6", "{}"),  /* the target's id */
        MERGE("anon-2", "anon-2", "{}"),  /* into itself */
        MERGE("anon-2", "user-6", "{,}"), /* the merged cart */
        UPDATE_CART("[1,"),               /* an update's cart */
        {.type = DELETED, .version = 9, .occurred_at_us = 5, .cart_id = STR("c:1")},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(plan_event(&settings, &bad[i], MAX_ID, plan, reason, sizeof(reason)), -1);
        cf_plan_rollback(plan, mark);
        assert_int_equal(cf_plan_count(plan), mark);
        cf_pt_render_plan(&after, plan, 0, cf_plan_count(plan), false);
        assert_string_equal(after.data, before.data);
    }

    /* Accepted, then dropped by the runtime: the arena is cut back too. */
    struct carts_event dropped = MERGE("anon-3", "user-7", "{\"dropped\":true}");
    assert_int_equal(plan_event(&settings, &dropped, MAX_ID, plan, reason, sizeof(reason)), 0);
    assert_int_equal(cf_plan_count(plan), mark + 2);
    uint32_t dropped_at = cf_plan_op(plan, mark)->key.off;
    cf_plan_rollback(plan, mark);
    assert_int_equal(cf_plan_count(plan), mark);
    cf_pt_render_plan(&after, plan, 0, cf_plan_count(plan), false);
    assert_string_equal(after.data, before.data);

    /* The next event lands after the earlier ones, whose bytes are intact. */
    struct carts_event next = {
        .type = DELETED, .version = 5, .occurred_at_us = 40, .cart_id = STR("c4")};
    assert_int_equal(plan_event(&settings, &next, MAX_ID, plan, reason, sizeof(reason)), 0);
    const char *const want[] = {
        earlier_ops[0],
        "X :1:cart:anon-1 ts=3000",
        "W :1:cart:user-5 v=12 ts=3000 ttl=" TTL_MS " value={\"m\":1}",
        "D :1:cart:c4 v=5 ts=40",
        NULL,
    };
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);
    /* ... in the bytes the dropped event had: the arena was cut back. */
    assert_int_equal(cf_plan_op(plan, mark)->key.off, dropped_at);

    /* Nothing of the dropped events survives coalescing either. */
    assert_int_equal(cf_plan_coalesce(plan), 4);
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), true, want);

    cf_buf_free(&before);
    cf_buf_free(&after);
    cf_plan_destroy(plan);
}

/* ------------------------------------------------------------------------
 * Limits, at and beyond their bounds
 * ------------------------------------------------------------------------ */

/* Plans ev alone on a fresh plan; returns the rc, reason in reason. */
static int plan_alone(const struct carts_settings *cfg, const struct carts_event *ev, size_t *nops,
                      char *reason, size_t reason_size)
{
    struct cf_plan *plan = cf_plan_new(":1:");
    int rc = plan_event(cfg, ev, MAX_ID, plan, reason, reason_size);
    *nops = cf_plan_count(plan);
    cf_plan_destroy(plan);
    return rc;
}

/* 128 bytes are a cart id, 129 and 10 KB are not: for an update's id, a
 * deletion's, and a merge's source and target. */
static void test_id_length(void **state)
{
    (void)state;
    char reason[REASON_SIZE];
    size_t nops;
    char *id = cf_pt_repeat('a', 10 * 1024);
    char *other = cf_pt_repeat('b', MAX_ID);

    struct carts_event ev = UPDATE_CART("{}");
    ev.cart_id = (struct cf_str){id, MAX_ID};
    {
        struct cf_plan *plan = cf_plan_new(":1:");
        assert_int_equal(plan_event(&settings, &ev, MAX_ID, plan, reason, sizeof(reason)), 0);
        assert_int_equal(cf_plan_count(plan), 1);
        const struct cf_op *op = cf_plan_op(plan, 0);
        assert_int_equal(op->key.len, strlen(":1:cart:") + MAX_ID);
        assert_memory_equal(cf_plan_bytes(plan, op->key), ":1:cart:", 8);
        assert_memory_equal(cf_plan_bytes(plan, op->key) + 8, id, MAX_ID);
        cf_plan_destroy(plan);
    }
    ev.cart_id.len = MAX_ID + 1;
    cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                    "unsafe-id: cart_id", "aaaa");
    ev.cart_id.len = 10 * 1024;
    cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                    "unsafe-id: cart_id", "aaaa");
    assert_true(strlen(reason) < 100);

    struct carts_event del = {.type = DELETED, .version = 1, .occurred_at_us = 1};
    del.cart_id = (struct cf_str){id, MAX_ID};
    assert_int_equal(plan_alone(&settings, &del, &nops, reason, sizeof(reason)), 0);
    assert_int_equal(nops, 1);
    del.cart_id.len = MAX_ID + 1;
    cf_pt_expect_rejected(plan_alone(&settings, &del, &nops, reason, sizeof(reason)), reason,
                    "unsafe-id: cart_id", "aaaa");

    struct carts_event merge = MERGE("x", "y", "{}");
    merge.source_cart_id = (struct cf_str){id, MAX_ID};
    merge.cart_id = (struct cf_str){other, MAX_ID};
    assert_int_equal(plan_alone(&settings, &merge, &nops, reason, sizeof(reason)), 0);
    assert_int_equal(nops, 2);
    merge.source_cart_id.len = MAX_ID + 1;
    cf_pt_expect_rejected(plan_alone(&settings, &merge, &nops, reason, sizeof(reason)), reason,
                    "unsafe-id: source_cart_id", "aaaa");
    merge.source_cart_id.len = MAX_ID;
    merge.cart_id = (struct cf_str){id + 1, MAX_ID + 1}; /* 'a's too */
    cf_pt_expect_rejected(plan_alone(&settings, &merge, &nops, reason, sizeof(reason)), reason,
                    "unsafe-id: target_cart_id", "aaaa");
    /* Same length, same bytes from another buffer: one cart. */
    merge.cart_id = (struct cf_str){id + 1, MAX_ID};
    cf_pt_expect_rejected(plan_alone(&settings, &merge, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: ", "aaaa");
    /* One byte shorter: another cart. */
    merge.cart_id.len = MAX_ID - 1;
    assert_int_equal(plan_alone(&settings, &merge, &nops, reason, sizeof(reason)), 0);

    free(id);
    free(other);
}

/* A cart of max_cart_bytes is cached whole; one byte more is refused
 * ("invalid-field"), whether it is JSON or not, for an update and for a
 * merge; the size is checked before the JSON. */
static void test_cart_size(void **state)
{
    (void)state;
    char reason[REASON_SIZE];
    size_t nops;
    /* A JSON string of exactly n bytes: '"', n - 2 'x', '"'. */
    char *doc = cf_pt_repeat('x', MAX_CART + 1);
    doc[0] = '"';
    doc[MAX_CART - 1] = '"';

    struct carts_event ev = UPDATE_CART("{}");
    ev.cart = (struct cf_str){doc, MAX_CART};
    {
        struct cf_plan *plan = cf_plan_new(":1:");
        assert_int_equal(plan_event(&settings, &ev, MAX_ID, plan, reason, sizeof(reason)), 0);
        assert_int_equal(cf_plan_count(plan), 1);
        const struct cf_op *op = cf_plan_op(plan, 0);
        assert_int_equal(op->a.len, MAX_CART);
        assert_memory_equal(cf_plan_bytes(plan, op->a), doc, MAX_CART);
        cf_plan_destroy(plan);
    }
    /* One more byte: refused by size (a valid JSON string of that size). */
    doc[MAX_CART - 1] = 'x';
    doc[MAX_CART] = '"';
    ev.cart.len = MAX_CART + 1;
    cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: cart is 262145 bytes", "xxxx");
    assert_non_null(strstr(reason, "carts.max_cart_bytes 262144"));
    assert_int_equal(nops, 0);
    /* Too large and not JSON: the size is what is reported. */
    doc[MAX_CART] = 'x';
    cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: ", "xxxx");

    /* The merge's cart too. */
    struct carts_event merge = MERGE("anon-1", "user-5", "{}");
    merge.cart = (struct cf_str){doc, MAX_CART + 1};
    cf_pt_expect_rejected(plan_alone(&settings, &merge, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: cart is", "xxxx");
    assert_int_equal(nops, 0);
    doc[MAX_CART - 1] = '"';
    merge.cart.len = MAX_CART;
    assert_int_equal(plan_alone(&settings, &merge, &nops, reason, sizeof(reason)), 0);
    assert_int_equal(nops, 2);

    /* The setting, not a literal: 16 bytes. */
    const struct carts_settings small = {.cart_ttl_s = 60, .max_cart_bytes = 16};
    ev.cart = (struct cf_str)STR("{\"a\":\"12345678\"}"); /* 16 bytes */
    assert_int_equal(plan_alone(&small, &ev, &nops, reason, sizeof(reason)), 0);
    ev.cart = (struct cf_str)STR("{\"a\":\"123456789\"}"); /* 17 bytes */
    cf_pt_expect_rejected(plan_alone(&small, &ev, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: ", "123456789");
    assert_string_equal(reason,
                        "invalid-field: cart is 17 bytes, more than carts.max_cart_bytes 16");

    free(doc);
}

/* Nesting: 64 levels are a cart, 65 are not. */
static void test_cart_depth(void **state)
{
    (void)state;
    char reason[REASON_SIZE];
    size_t nops;
    char doc[2 * 65];
    for (size_t depth = 64; depth <= 65; depth++) {
        memset(doc, '[', depth);
        memset(doc + depth, ']', depth);
        struct carts_event ev = UPDATE_CART("{}");
        ev.cart = (struct cf_str){doc, 2 * depth};
        int rc = plan_alone(&settings, &ev, &nops, reason, sizeof(reason));
        if (depth == 64) {
            assert_int_equal(rc, 0);
            assert_int_equal(nops, 1);
        } else {
            cf_pt_expect_rejected(rc, reason, "invalid-json: cart", NULL);
        }
    }
}

/* The settings, not literals, make the TTL; the prefix is the plan's;
 * max_id_bytes is the caller's. */
static void test_settings_shape_the_ops(void **state)
{
    (void)state;
    const struct carts_settings other = {.cart_ttl_s = 60, .max_cart_bytes = 1024};
    struct cf_plan *plan = cf_plan_new("shop:2:");
    char reason[REASON_SIZE] = "";
    struct carts_event up = UPDATE_CART("{}");
    struct carts_event merge = MERGE("anon-1", "user-5", "[]");
    struct carts_event del = {
        .type = DELETED, .version = 3, .occurred_at_us = 6000, .cart_id = STR("c1")};
    assert_int_equal(plan_event(&other, &up, MAX_ID, plan, reason, sizeof(reason)), 0);
    assert_int_equal(plan_event(&other, &merge, MAX_ID, plan, reason, sizeof(reason)), 0);
    assert_int_equal(plan_event(&other, &del, MAX_ID, plan, reason, sizeof(reason)), 0);
    const char *const want[] = {
        "W shop:2:cart:c1 v=7 ts=1000 ttl=60000 value={}",
        "X shop:2:cart:anon-1 ts=3000",
        "W shop:2:cart:user-5 v=12 ts=3000 ttl=60000 value=[]",
        "D shop:2:cart:c1 v=3 ts=6000",
        NULL,
    };
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);

    /* The largest TTL the setting allows (a year) is carried whole. */
    const struct carts_settings year = {.cart_ttl_s = 31536000, .max_cart_bytes = 1024};
    size_t mark = cf_plan_mark(plan);
    assert_int_equal(plan_event(&year, &up, MAX_ID, plan, reason, sizeof(reason)), 0);
    const char *const want_year[] = {
        "W shop:2:cart:c1 v=7 ts=1000 ttl=31536000000 value={}",
        NULL,
    };
    cf_pt_expect_ops(plan, mark, cf_plan_count(plan), false, want_year);

    /* max_id_bytes 2: "c1" is an id, "c10" is not. */
    assert_int_equal(plan_event(&other, &up, 2, plan, reason, sizeof(reason)), 0);
    up.cart_id = (struct cf_str)STR("c10");
    cf_pt_expect_rejected(plan_event(&other, &up, 2, plan, reason, sizeof(reason)), reason,
                    "unsafe-id: ", NULL);
    merge.source_cart_id = (struct cf_str)STR("a");
    merge.cart_id = (struct cf_str)STR("b12");
    cf_pt_expect_rejected(plan_event(&other, &merge, 2, plan, reason, sizeof(reason)), reason,
                    "unsafe-id: target_cart_id", NULL);

    cf_plan_destroy(plan);
}

/* A short reason buffer is filled, cut and terminated, never overrun. */
static void test_short_reason_buffer(void **state)
{
    (void)state;
    char reason[16];
    struct cf_plan *plan = cf_plan_new(":1:");
    const struct carts_event evs[] = {
        UPDATE_ID("c 1"),
        UPDATE_CART("{,}"),
        MERGE("c1", "c1", "{}"),
    };
    const char *const cut[] = {"unsaf", "inval", "inval"};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        memset(reason, '#', sizeof(reason));
        assert_int_equal(plan_event(&settings, &evs[i], MAX_ID, plan, reason, 6), -1);
        assert_string_equal(reason, cut[i]);
        for (size_t j = 6; j < sizeof(reason); j++)
            assert_int_equal(reason[j], '#');
    }
    assert_int_equal(cf_plan_count(plan), 0);
    cf_plan_destroy(plan);
}

/* The names the metrics count by, and the change symbols the handler
 * checks the schema against. */
static void test_names(void **state)
{
    (void)state;
    assert_string_equal(carts_event_names[CARTS_CART_UPDATED], "cart_updated");
    assert_string_equal(carts_event_names[CARTS_CART_DELETED], "cart_deleted");
    assert_string_equal(carts_event_names[CARTS_CART_MERGED], "cart_merged");
    assert_null(carts_event_names[CARTS_EVENT_TYPES]);
    assert_string_equal(carts_change_names[CARTS_CHANGE_CREATED], "CREATED");
    assert_string_equal(carts_change_names[CARTS_CHANGE_QUANTITY_CHANGED], "QUANTITY_CHANGED");
    assert_string_equal(carts_change_names[CARTS_CHANGE_OTHER], "OTHER");
    assert_null(carts_change_names[CARTS_CHANGES]);
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
    cmocka_unit_test(test_cart_size),
    cmocka_unit_test(test_cart_depth),
    cmocka_unit_test(test_settings_shape_the_ops),
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
