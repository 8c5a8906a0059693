/* test_products_planner.c - the products consumer's slice rules
 * (consumers/products/planner.c) as a pure function: one event in, the
 * exact list of cache operations out, or a rejection with its reason.
 *
 * Every row of DESIGN.md's cache contract that topic shop.products feeds
 * (product detail, category and search listings, navigation menus) is a row
 * of a table below.  An accepted row lists every operation the planner must
 * append, each rendered as one line with every field it carries, e.g.
 *
 *   W :1:product:42 v=7 ts=1000 ttl=3600000 value={"id":"42"}
 *   G :1:tag:category:3 ts=1000
 *   C :1:cf:categories id=7 v=2 ts=5000 payload=1|2|1|"id":"7",...
 *   M :1:menu:main hash=:1:cf:categories ttl=86400000
 *
 * and a field an operation does not use is rendered as "!field=..." when it
 * is not zero, so an X that carried a version would fail its row.  A
 * rejected row gives the start of the reason ("unsafe-id: "), and may name
 * bytes the reason must never repeat.
 *
 * Every row runs against a plan that already holds an earlier event's
 * operations, with a scratch buffer holding an earlier event's bytes: a
 * rejected event rolled back to its mark must leave the earlier operations
 * exactly as they were, and an accepted one must not disturb them.
 *
 * The event's strings are copied into heap blocks of exactly their length
 * and freed as soon as the planner returns, so AddressSanitizer sees a read
 * past a view's length, and any operation still pointing into the event.
 *
 * Then coalescing of the planner's output (one batch, several events), and
 * the limits at and beyond their bounds (id length, list sizes, name
 * length, representation depth).
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
#include "../../consumers/products/planner.h"
#include "plan.h"
#include "plantest.h"

/* ------------------------------------------------------------------------
 * Fixtures
 * ------------------------------------------------------------------------ */

/* clang-format off */
#define STR(lit) {(lit), sizeof(lit) - 1}
#define LIST(...)                                                                                  \
    {(struct cf_str[]){__VA_ARGS__}, sizeof((struct cf_str[]){__VA_ARGS__}) / sizeof(struct cf_str), \
     sizeof((struct cf_str[]){__VA_ARGS__}) / sizeof(struct cf_str)}
/* clang-format on */

#define MAX_ID      128
#define REASON_SIZE 256

static char menu_main[] = "main";
static const struct products_settings settings = {
    .product_ttl_s = 3600,
    .menu_ttl_s = 86400,
    .menu_name = menu_main,
    .max_categories = 256,
    .max_terms = 256,
};

/* ------------------------------------------------------------------------
 * Calling the planner on exact-size heap copies of the event's strings
 * ------------------------------------------------------------------------ */

/* products_plan() on a copy of ev whose every string is a heap block of
 * exactly its length, freed before this returns. */
static int plan_event(const struct products_settings *cfg, const struct products_event *ev,
                      size_t max_id, struct cf_plan *plan, struct cf_buf *scratch, char *reason,
                      size_t reason_size)
{
    struct cf_pt_owned o = {0};
    struct products_event copy = *ev;
    copy.id = cf_pt_dup_str(&o, ev->id);
    copy.categories_before = cf_pt_dup_strs(&o, ev->categories_before);
    copy.categories_after = cf_pt_dup_strs(&o, ev->categories_after);
    copy.terms_before = cf_pt_dup_strs(&o, ev->terms_before);
    copy.terms_after = cf_pt_dup_strs(&o, ev->terms_after);
    copy.representation = cf_pt_dup_str(&o, ev->representation);
    copy.related_model = cf_pt_dup_str(&o, ev->related_model);
    copy.related_id = cf_pt_dup_str(&o, ev->related_id);
    copy.parent_id = cf_pt_dup_str(&o, ev->parent_id);
    copy.name = cf_pt_dup_str(&o, ev->name);
    copy.slug = cf_pt_dup_str(&o, ev->slug);
    int rc = products_plan(cfg, &copy, max_id, plan, scratch, reason, reason_size);
    cf_pt_owned_free(&o);
    return rc;
}

/* An earlier event in the same batch: the plan every row starts from. */
static void plan_earlier_event(struct cf_plan *plan, struct cf_buf *scratch)
{
    struct products_event ev = {
        .type = PRODUCTS_PRODUCT_UPSERTED,
        .version = 1,
        .occurred_at_us = 10,
        .id = STR("1"),
        .categories_after = LIST(STR("9")),
        .has_representation = true,
        .representation = STR("{\"earlier\":true}"),
    };
    char reason[REASON_SIZE] = "";
    int rc = plan_event(&settings, &ev, MAX_ID, plan, scratch, reason, sizeof(reason));
    if (rc != 0)
        print_error("earlier event rejected: %s\n", reason);
    assert_int_equal(rc, 0);
}

static const char *const earlier_ops[] = {
    "W :1:product:1 v=1 ts=10 ttl=3600000 value={\"earlier\":true}",
    "G :1:tag:category:9 ts=10",
    NULL,
};

/* ------------------------------------------------------------------------
 * One event: the table
 * ------------------------------------------------------------------------ */

struct row {
    const char *name;
    struct products_event ev;
    const char *reason; /* NULL: accepted; else how the reason starts */
    const char *secret; /* bytes a reason must never repeat */
    const char *ops[16];
};

/* The tables are laid out by hand, one case per paragraph. */
/* clang-format off */
#define UPSERT PRODUCTS_PRODUCT_UPSERTED
#define DELETED PRODUCTS_PRODUCT_DELETED
#define RELATED PRODUCTS_PRODUCT_RELATED_CHANGED
#define CAT_UPSERT PRODUCTS_CATEGORY_UPSERTED
#define CAT_DELETED PRODUCTS_CATEGORY_DELETED

/* A product upsert with a valid representation and id idlit. */
#define UPSERT_ID(idlit)                                                                           \
    {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR(idlit),                       \
     .has_representation = true, .representation = STR("{}")}
/* A product upsert of 42 with representation repr. */
#define UPSERT_REPR(repr)                                                                          \
    {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),                        \
     .has_representation = true, .representation = STR(repr)}
/* A visible category 7 under 1 with name and slug. */
#define CATEGORY(namelit, sluglit)                                                                 \
    {.type = CAT_UPSERT, .version = 2, .occurred_at_us = 5000, .id = STR("7"), .has_parent = true, \
     .parent_id = STR("1"), .name = STR(namelit), .slug = STR(sluglit), .position = 2,             \
     .visible = true}

#define TAG7 "G :1:tag:category:7 ts=5000"
#define MENU "M :1:menu:main hash=:1:cf:categories ttl=86400000"
#define REC7(v, ts) "C :1:cf:categories id=7 v=" #v " ts=" #ts " payload="
#define FIELDS7(name, slug) "\"id\":\"7\",\"name\":\"" name "\",\"slug\":\"" slug "\""

#define REPR42 "{\"id\":\"42\",\"name\":\"Red shoe\",\"price\":\"9.90\",\"tags\":[\"a\",\"b\"]," \
               "\"n\":{\"x\":[1,-2.5e3,null,true,false]}}"
#define UTF8_REPR "{\"name\":\"caf\\u00e9 \\\"x\\\" \\\\ \xc3\xa9 \xf0\x9f\x98\x80\"," \
                  "\"pair\":\"\\ud83d\\ude00\",\"PAIR\":\"\\uD83D\\uDE00\",\"nul\":\"\\u0000\"}"

static struct row accepted[] = {
    /* --- product detail (seed 1) and listings (seed 2) --- */
    {.name = "product upserted with a representation: W, then tags before and after",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .categories_before = LIST(STR("3")), .categories_after = LIST(STR("3"), STR("5")),
            .terms_before = LIST(STR("shoe")), .terms_after = LIST(STR("shoe"), STR("red")),
            .has_representation = true, .representation = STR(REPR42)},
     .ops = {"W :1:product:42 v=7 ts=1000 ttl=3600000 value=" REPR42,
             "G :1:tag:category:3 ts=1000", "G :1:tag:category:3 ts=1000",
             "G :1:tag:category:5 ts=1000", "G :1:tag:search:shoe ts=1000",
             "G :1:tag:search:shoe ts=1000", "G :1:tag:search:red ts=1000"}},
    {.name = "representation kept byte for byte (escapes, UTF-8, surrogate pairs, \\u0000)",
     .ev = UPSERT_REPR(UTF8_REPR),
     .ops = {"W :1:product:42 v=7 ts=1000 ttl=3600000 value=" UTF8_REPR}},
    {.name = "representation with surrounding whitespace kept as it is",
     .ev = UPSERT_REPR(" {\n  \"a\": 1\n}\n"),
     .ops = {"W :1:product:42 v=7 ts=1000 ttl=3600000 value= {\\x0a  \"a\": 1\\x0a}\\x0a"}},
    {.name = "representation that is a top-level array",
     .ev = UPSERT_REPR("[1,2]"),
     .ops = {"W :1:product:42 v=7 ts=1000 ttl=3600000 value=[1,2]"}},
    {.name = "product upserted without a representation: D, then tags",
     .ev = {.type = UPSERT, .version = 8, .occurred_at_us = 2000, .id = STR("42"),
            .categories_before = LIST(STR("3")), .categories_after = LIST(STR("3")),
            .terms_before = LIST(STR("red")), .has_representation = false,
            .representation = STR("{\"ignored\":1}")},
     .ops = {"D :1:product:42 v=8 ts=2000", "G :1:tag:category:3 ts=2000",
             "G :1:tag:category:3 ts=2000", "G :1:tag:search:red ts=2000"}},
    {.name = "product moves from category 10 to 20: both listings",
     .ev = {.type = UPSERT, .version = 9, .occurred_at_us = 1500, .id = STR("42"),
            .categories_before = LIST(STR("10")), .categories_after = LIST(STR("20")),
            .has_representation = true, .representation = STR("{}")},
     .ops = {"W :1:product:42 v=9 ts=1500 ttl=3600000 value={}", "G :1:tag:category:10 ts=1500",
             "G :1:tag:category:20 ts=1500"}},
    {.name = "product renamed: search listings of old and new terms",
     .ev = {.type = UPSERT, .version = 10, .occurred_at_us = 1600, .id = STR("42"),
            .terms_before = LIST(STR("old"), STR("shoe")),
            .terms_after = LIST(STR("new"), STR("shoe")), .has_representation = true,
            .representation = STR("{\"name\":\"new shoe\"}")},
     .ops = {"W :1:product:42 v=10 ts=1600 ttl=3600000 value={\"name\":\"new shoe\"}",
             "G :1:tag:search:old ts=1600", "G :1:tag:search:shoe ts=1600",
             "G :1:tag:search:new ts=1600", "G :1:tag:search:shoe ts=1600"}},
    {.name = "UTF-8 search terms are accepted (caf\xc3\xa9, \xe6\x97\xa5\xe6\x9c\xac, emoji)",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .terms_after = LIST(STR("caf\xc3\xa9"), STR("\xe6\x97\xa5\xe6\x9c\xac"),
                                STR("\xf0\x9f\x91\x9f")),
            .has_representation = true, .representation = STR("{}")},
     .ops = {"W :1:product:42 v=7 ts=1000 ttl=3600000 value={}",
             "G :1:tag:search:caf\xc3\xa9 ts=1000",
             "G :1:tag:search:\xe6\x97\xa5\xe6\x9c\xac ts=1000",
             "G :1:tag:search:\xf0\x9f\x91\x9f ts=1000"}},
    {.name = "id with every allowed character class",
     .ev = UPSERT_ID("Ab-9_z.x"),
     .ops = {"W :1:product:Ab-9_z.x v=7 ts=1000 ttl=3600000 value={}"}},
    {.name = "largest version and time are carried whole",
     .ev = {.type = UPSERT, .version = UINT64_MAX, .occurred_at_us = INT64_MAX, .id = STR("42"),
            .has_representation = true, .representation = STR("{}")},
     .ops = {"W :1:product:42 v=18446744073709551615 ts=9223372036854775807 ttl=3600000 "
             "value={}"}},
    {.name = "product deleted: D, then tags of categories and terms before",
     .ev = {.type = DELETED, .version = 9, .occurred_at_us = 3000, .id = STR("42"),
            .categories_before = LIST(STR("3"), STR("5")), .terms_before = LIST(STR("red"))},
     .ops = {"D :1:product:42 v=9 ts=3000", "G :1:tag:category:3 ts=3000",
             "G :1:tag:category:5 ts=3000", "G :1:tag:search:red ts=3000"}},
    {.name = "product deleted with no lists",
     .ev = {.type = DELETED, .version = 9, .occurred_at_us = 3000, .id = STR("42")},
     .ops = {"D :1:product:42 v=9 ts=3000"}},
    {.name = "related model changed (image): X with the time only",
     .ev = {.type = RELATED, .version = 11, .occurred_at_us = 4000, .id = STR("42"),
            .related_model = STR("image"), .related_id = STR("900")},
     .ops = {"X :1:product:42 ts=4000"}},

    /* --- navigation menus (seed 3) and the category's listings --- */
    {.name = "category upserted with a parent: C record, G tag, M rebuild",
     .ev = CATEGORY("Shoes", "shoes"),
     .ops = {REC7(2, 5000) "1|2|1|" FIELDS7("Shoes", "shoes"), TAG7, MENU}},
    {.name = "category upserted without a parent",
     .ev = {.type = CAT_UPSERT, .version = 2, .occurred_at_us = 5000, .id = STR("7"),
            .has_parent = false, .parent_id = STR("ignored"), .name = STR("Shoes"),
            .slug = STR("shoes"), .position = 0, .visible = true},
     .ops = {REC7(2, 5000) "|0|1|" FIELDS7("Shoes", "shoes"), TAG7, MENU}},
    {.name = "hidden category",
     .ev = {.type = CAT_UPSERT, .version = 2, .occurred_at_us = 5000, .id = STR("7"),
            .name = STR("Shoes"), .slug = STR("shoes"), .position = 3, .visible = false},
     .ops = {REC7(2, 5000) "|3|0|" FIELDS7("Shoes", "shoes"), TAG7, MENU}},
    {.name = "category with a negative and an extreme position",
     .ev = {.type = CAT_UPSERT, .version = 2, .occurred_at_us = 5000, .id = STR("7"),
            .has_parent = true, .parent_id = STR("a-b.c_d"), .name = STR("Shoes"),
            .slug = STR("shoes"), .position = INT32_MIN, .visible = true},
     .ops = {REC7(2, 5000) "a-b.c_d|-2147483648|1|" FIELDS7("Shoes", "shoes"), TAG7, MENU}},
    {.name = "category name and slug JSON-escaped (quote, backslash, tab, control, UTF-8)",
     .ev = CATEGORY("Sh\"o\\es\t\xc3\xa9", "a\x01" "b/\x7f"),
     .ops = {REC7(2, 5000) "1|2|1|" FIELDS7("Sh\\\"o\\\\es\\t\xc3\xa9", "a\\u0001b/\\x7f"), TAG7,
             MENU}},
    {.name = "category name in UTF-8 kept raw",
     .ev = CATEGORY("Caf\xc3\xa9 \xe2\x98\x95", "cafe"),
     .ops = {REC7(2, 5000) "1|2|1|" FIELDS7("Caf\xc3\xa9 \xe2\x98\x95", "cafe"), TAG7, MENU}},
    {.name = "category deleted: C with an empty payload, G tag, M rebuild",
     .ev = {.type = CAT_DELETED, .version = 3, .occurred_at_us = 6000, .id = STR("7")},
     .ops = {REC7(3, 6000), "G :1:tag:category:7 ts=6000", MENU}},
};

static struct row rejected[] = {
    /* --- representations that are not JSON Django can load --- */
    {.name = "representation not JSON", .ev = UPSERT_REPR("{\"a\":}"), .reason = "invalid-json: "},
    {.name = "representation truncated", .ev = UPSERT_REPR("{\"a\":[1,2"),
     .reason = "invalid-json: "},
    {.name = "representation truncated in an escape", .ev = UPSERT_REPR("\"\\u12"),
     .reason = "invalid-json: "},
    {.name = "representation truncated in a UTF-8 character", .ev = UPSERT_REPR("\"\xc3"),
     .reason = "invalid-json: "},
    {.name = "representation with a lone high surrogate escape",
     .ev = UPSERT_REPR("{\"a\":\"\\ud800\"}"), .reason = "invalid-json: "},
    {.name = "representation with a lone high surrogate escape (upper case)",
     .ev = UPSERT_REPR("{\"a\":\"\\uD800x\"}"), .reason = "invalid-json: "},
    {.name = "representation with a high surrogate then a non-surrogate escape",
     .ev = UPSERT_REPR("\"\\ud800\\u0041\""), .reason = "invalid-json: "},
    {.name = "representation with a lone low surrogate escape", .ev = UPSERT_REPR("\"\\udc00\""),
     .reason = "invalid-json: "},
    {.name = "representation with a surrogate encoded in UTF-8",
     .ev = UPSERT_REPR("\"\xed\xa0\x80\""), .reason = "invalid-json: "},
    {.name = "representation not UTF-8", .ev = UPSERT_REPR("\"\xff\""), .reason = "invalid-json: "},
    {.name = "representation with a raw NUL", .ev = UPSERT_REPR("{\"a\":\"x\0\"}"),
     .reason = "invalid-json: "},
    {.name = "representation empty", .ev = UPSERT_REPR(""), .reason = "invalid-json: "},
    {.name = "representation NaN", .ev = UPSERT_REPR("NaN"), .reason = "invalid-json: "},
    {.name = "representation with two documents", .ev = UPSERT_REPR("{} {}"),
     .reason = "invalid-json: "},
    {.name = "representation's content never in the reason",
     .ev = UPSERT_REPR("{\"card\":\"SECRET-DATA\",}"), .reason = "invalid-json: ",
     .secret = "SECRET-DATA"},

    /* --- product ids that are not safe key parts --- */
    {.name = "product id with a space", .ev = UPSERT_ID("4 2"), .reason = "unsafe-id: "},
    {.name = "product id with a newline", .ev = UPSERT_ID("4\n2"), .reason = "unsafe-id: "},
    {.name = "product id with a carriage return", .ev = UPSERT_ID("42\r"),
     .reason = "unsafe-id: "},
    {.name = "product id with a NUL", .ev = UPSERT_ID("4\0002"), .reason = "unsafe-id: "},
    {.name = "product id that is a NUL", .ev = UPSERT_ID("\0"), .reason = "unsafe-id: "},
    {.name = "product id with a control byte", .ev = UPSERT_ID("4\x01" "2"),
     .reason = "unsafe-id: "},
    {.name = "product id with DEL", .ev = UPSERT_ID("4\x7f"), .reason = "unsafe-id: "},
    {.name = "product id with '*'", .ev = UPSERT_ID("4*"), .reason = "unsafe-id: "},
    {.name = "product id with '?'", .ev = UPSERT_ID("4?"), .reason = "unsafe-id: "},
    {.name = "product id with '['", .ev = UPSERT_ID("4[2]"), .reason = "unsafe-id: "},
    {.name = "product id with ']'", .ev = UPSERT_ID("4]"), .reason = "unsafe-id: "},
    {.name = "product id with '{'", .ev = UPSERT_ID("{42"), .reason = "unsafe-id: "},
    {.name = "product id with '}'", .ev = UPSERT_ID("42}"), .reason = "unsafe-id: "},
    {.name = "product id with ':' (would forge {key}:v)", .ev = UPSERT_ID("42:v"),
     .reason = "unsafe-id: "},
    {.name = "product id with a quote", .ev = UPSERT_ID("4\"2"), .reason = "unsafe-id: "},
    {.name = "product id with a slash", .ev = UPSERT_ID("4/2"), .reason = "unsafe-id: "},
    {.name = "product id not ASCII", .ev = UPSERT_ID("caf\xc3\xa9"), .reason = "unsafe-id: "},
    {.name = "product id empty", .ev = UPSERT_ID(""), .reason = "unsafe-id: "},
    {.name = "product id never in the reason", .ev = UPSERT_ID("SECRET-ID*"),
     .reason = "unsafe-id: ", .secret = "SECRET-ID"},
    {.name = "product id checked before the representation",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("4 2"),
            .has_representation = true, .representation = STR("not json")},
     .reason = "unsafe-id: "},
    {.name = "deleted product's id unsafe",
     .ev = {.type = DELETED, .version = 9, .occurred_at_us = 3000, .id = STR("SECRET-ID*")},
     .reason = "unsafe-id: ", .secret = "SECRET-ID"},
    {.name = "related change's product id unsafe",
     .ev = {.type = RELATED, .version = 9, .occurred_at_us = 3000, .id = STR("4?"),
            .related_model = STR("image"), .related_id = STR("1")},
     .reason = "unsafe-id: "},

    /* --- listing ids and search terms --- */
    {.name = "unsafe category id in categories_after",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .categories_after = LIST(STR("3"), STR("SECRET-ID*")), .has_representation = true,
            .representation = STR("{}")},
     .reason = "unsafe-id: ", .secret = "SECRET-ID"},
    {.name = "unsafe category id in categories_before",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .categories_before = LIST(STR("{3}")), .has_representation = true,
            .representation = STR("{}")},
     .reason = "unsafe-id: "},
    {.name = "empty category id in a list",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .categories_after = LIST(STR("")), .has_representation = true,
            .representation = STR("{}")},
     .reason = "unsafe-id: "},
    {.name = "non-ASCII category id in a list",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .categories_after = LIST(STR("caf\xc3\xa9")), .has_representation = true,
            .representation = STR("{}")},
     .reason = "unsafe-id: "},
    {.name = "deleted product's categories_before unsafe",
     .ev = {.type = DELETED, .version = 9, .occurred_at_us = 3000, .id = STR("42"),
            .categories_before = LIST(STR("3:4"))},
     .reason = "unsafe-id: "},
    {.name = "search term with a space",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .terms_after = LIST(STR("red"), STR("SECRET-ID shoe")), .has_representation = true,
            .representation = STR("{}")},
     .reason = "unsafe-id: ", .secret = "SECRET-ID"},
    {.name = "search term with a glob character (before)",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .terms_before = LIST(STR("sho*")), .has_representation = true,
            .representation = STR("{}")},
     .reason = "unsafe-id: "},
    {.name = "search term with a colon",
     .ev = {.type = DELETED, .version = 9, .occurred_at_us = 3000, .id = STR("42"),
            .terms_before = LIST(STR("a:b"))},
     .reason = "unsafe-id: "},
    {.name = "search term with truncated UTF-8",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .terms_after = LIST(STR("caf\xc3")), .has_representation = true,
            .representation = STR("{}")},
     .reason = "unsafe-id: "},
    {.name = "search term with overlong UTF-8",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .terms_after = LIST(STR("\xc0\xaf")), .has_representation = true,
            .representation = STR("{}")},
     .reason = "unsafe-id: "},
    {.name = "search term with a surrogate in UTF-8",
     .ev = {.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .terms_after = LIST(STR("\xed\xa0\x80")), .has_representation = true,
            .representation = STR("{}")},
     .reason = "unsafe-id: "},

    /* --- categories --- */
    {.name = "category that is its own parent",
     .ev = {.type = CAT_UPSERT, .version = 2, .occurred_at_us = 5000, .id = STR("7"),
            .has_parent = true, .parent_id = STR("7"), .name = STR("Shoes"), .slug = STR("shoes"),
            .visible = true},
     .reason = "invalid-field: "},
    {.name = "category parent unsafe",
     .ev = {.type = CAT_UPSERT, .version = 2, .occurred_at_us = 5000, .id = STR("7"),
            .has_parent = true, .parent_id = STR("SECRET-ID|1"), .name = STR("Shoes"),
            .slug = STR("shoes"), .visible = true},
     .reason = "unsafe-id: ", .secret = "SECRET-ID"},
    {.name = "category parent present but empty",
     .ev = {.type = CAT_UPSERT, .version = 2, .occurred_at_us = 5000, .id = STR("7"),
            .has_parent = true, .parent_id = STR(""), .name = STR("Shoes"), .slug = STR("shoes"),
            .visible = true},
     .reason = "unsafe-id: "},
    {.name = "category id unsafe",
     .ev = {.type = CAT_UPSERT, .version = 2, .occurred_at_us = 5000, .id = STR("7 8"),
            .name = STR("Shoes"), .slug = STR("shoes"), .visible = true},
     .reason = "unsafe-id: "},
    {.name = "deleted category's id unsafe",
     .ev = {.type = CAT_DELETED, .version = 3, .occurred_at_us = 6000, .id = STR("SECRET-ID*")},
     .reason = "unsafe-id: ", .secret = "SECRET-ID"},
    {.name = "category name empty", .ev = CATEGORY("", "shoes"), .reason = "invalid-field: "},
    {.name = "category name not UTF-8", .ev = CATEGORY("SECRET-NAME\xc3\x28", "shoes"),
     .reason = "invalid-field: ", .secret = "SECRET-NAME"},
    {.name = "category name with a surrogate in UTF-8", .ev = CATEGORY("a\xed\xa0\x80", "shoes"),
     .reason = "invalid-field: "},
    {.name = "category slug empty", .ev = CATEGORY("Shoes", ""), .reason = "invalid-field: "},
    {.name = "category slug overlong UTF-8", .ev = CATEGORY("Shoes", "\xc0\xaf"),
     .reason = "invalid-field: "},

    /* --- the rest --- */
    {.name = "unknown event type",
     .ev = {.type = PRODUCTS_EVENT_TYPES, .version = 1, .occurred_at_us = 1, .id = STR("42")},
     .reason = "unknown-type: "},
};

/* clang-format on */

static void test_row(void **state)
{
    const struct row *r = *state;
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    char reason[REASON_SIZE] = "untouched";

    plan_earlier_event(plan, &scratch);
    /* Left over from an earlier event: must not leak into this one. */
    cf_buf_puts(&scratch, "stale|9|1|\"id\":\"stale\"");
    size_t mark = cf_plan_mark(plan);
    assert_int_equal(mark, cf_pt_count_lines(earlier_ops));

    int rc = plan_event(&settings, &r->ev, MAX_ID, plan, &scratch, reason, sizeof(reason));
    if (r->reason) {
        cf_pt_expect_rejected(rc, reason, r->reason, r->secret);
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
    cf_buf_free(&scratch);
}

/* ------------------------------------------------------------------------
 * One batch: the planner's output coalesced
 * ------------------------------------------------------------------------ */

struct batch_row {
    const char *name;
    size_t nev;
    struct products_event ev[4];
    const char *live[16]; /* after cf_plan_coalesce(), in plan order */
};

/* clang-format off */
#define PUT(v, ts, repr, cat)                                                                      \
    {.type = UPSERT, .version = (v), .occurred_at_us = (ts), .id = STR("42"),                      \
     .categories_after = LIST(STR(cat)), .has_representation = true, .representation = STR(repr)}
#define DEL(v, ts, cat)                                                                            \
    {.type = DELETED, .version = (v), .occurred_at_us = (ts), .id = STR("42"),                     \
     .categories_before = LIST(STR(cat))}
#define CAT(idlit, v, ts, parent, pos, namelit)                                                    \
    {.type = CAT_UPSERT, .version = (v), .occurred_at_us = (ts), .id = STR(idlit),                 \
     .has_parent = sizeof(parent) > 1, .parent_id = STR(parent), .name = STR(namelit),             \
     .slug = STR(namelit), .position = (pos), .visible = true}
#define CAT_DEL(idlit, v, ts)                                                                      \
    {.type = CAT_DELETED, .version = (v), .occurred_at_us = (ts), .id = STR(idlit)}
#define REC(idlit, v, ts) "C :1:cf:categories id=" idlit " v=" #v " ts=" #ts " payload="
#define FIELDS(idlit, namelit)                                                                     \
    "\"id\":\"" idlit "\",\"name\":\"" namelit "\",\"slug\":\"" namelit "\""

static struct batch_row batches[] = {
    {.name = "upserts v5 then v3 (a late replay): one W v5, one G with the latest time",
     .nev = 2, .ev = {PUT(5, 1000, "{\"v\":5}", "3"), PUT(3, 2000, "{\"v\":3}", "3")},
     .live = {"W :1:product:42 v=5 ts=1000 ttl=3600000 value={\"v\":5}",
              "G :1:tag:category:3 ts=2000"}},
    {.name = "upserts v3 then v5: one W v5",
     .nev = 2, .ev = {PUT(3, 1000, "{\"v\":3}", "3"), PUT(5, 2000, "{\"v\":5}", "3")},
     .live = {"W :1:product:42 v=5 ts=2000 ttl=3600000 value={\"v\":5}",
              "G :1:tag:category:3 ts=2000"}},
    {.name = "upsert v5 then delete v6: one D v6",
     .nev = 2, .ev = {PUT(5, 1000, "{\"v\":5}", "3"), DEL(6, 2000, "3")},
     .live = {"D :1:product:42 v=6 ts=2000", "G :1:tag:category:3 ts=2000"}},
    {.name = "delete v6 then a replayed upsert v5: one D v6",
     .nev = 2, .ev = {DEL(6, 2000, "3"), PUT(5, 1000, "{\"v\":5}", "3")},
     .live = {"D :1:product:42 v=6 ts=2000", "G :1:tag:category:3 ts=2000"}},
    {.name = "one category tag from two products, later time first: one G with the max time",
     .nev = 2,
     .ev = {PUT(1, 2000, "{}", "3"),
            {.type = UPSERT, .version = 1, .occurred_at_us = 1000, .id = STR("43"),
             .categories_before = LIST(STR("3")), .has_representation = true,
             .representation = STR("{}")}},
     .live = {"W :1:product:42 v=1 ts=2000 ttl=3600000 value={}",
              "W :1:product:43 v=1 ts=1000 ttl=3600000 value={}", "G :1:tag:category:3 ts=2000"}},
    {.name = "the same tags twice in one event: one G each",
     .nev = 1,
     .ev = {{.type = UPSERT, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
             .categories_before = LIST(STR("3")), .categories_after = LIST(STR("3")),
             .terms_before = LIST(STR("red")), .terms_after = LIST(STR("red")),
             .has_representation = true, .representation = STR("{}")}},
     .live = {"W :1:product:42 v=7 ts=1000 ttl=3600000 value={}", "G :1:tag:category:3 ts=1000",
              "G :1:tag:search:red ts=1000"}},
    {.name = "an image change and an upsert of one product: both kept, in order",
     .nev = 2,
     .ev = {{.type = RELATED, .version = 1, .occurred_at_us = 900, .id = STR("42"),
             .related_model = STR("image"), .related_id = STR("1")},
            PUT(5, 1000, "{}", "3")},
     .live = {"X :1:product:42 ts=900", "W :1:product:42 v=5 ts=1000 ttl=3600000 value={}",
              "G :1:tag:category:3 ts=1000"}},
    {.name = "several category events: one M, after the last record",
     .nev = 4,
     .ev = {CAT("1", 1, 100, "", 0, "Men"), CAT("2", 1, 200, "1", 1, "Shoes"),
            PUT(7, 250, "{}", "2"), CAT("1", 2, 300, "", 0, "Women")},
     .live = {REC("1", 2, 300) "|0|1|" FIELDS("1", "Women"),
              REC("2", 1, 200) "1|1|1|" FIELDS("2", "Shoes"),
              "W :1:product:42 v=7 ts=250 ttl=3600000 value={}", "G :1:tag:category:2 ts=250",
              "G :1:tag:category:1 ts=300", MENU}},
    {.name = "category deleted then a replayed older upsert: the deletion stays",
     .nev = 2, .ev = {CAT_DEL("1", 3, 300), CAT("1", 2, 200, "", 0, "Men")},
     .live = {REC("1", 3, 300), "G :1:tag:category:1 ts=300", MENU}},
    {.name = "category created, then one after it, then the first deleted",
     .nev = 3,
     .ev = {CAT("1", 1, 100, "", 0, "Men"), CAT("2", 1, 200, "", 1, "Kids"), CAT_DEL("1", 2, 300)},
     .live = {REC("1", 2, 300), REC("2", 1, 200) "|1|1|" FIELDS("2", "Kids"),
              "G :1:tag:category:2 ts=200", "G :1:tag:category:1 ts=300", MENU}},
};

/* clang-format on */

/* The menu's rule after coalescing: records exist => exactly one live M,
 * after every live C; no records => no M. */
static void expect_one_menu_after_records(const struct cf_plan *plan)
{
    size_t menus = 0, menu_at = 0, last_record = 0;
    bool records = false;
    for (size_t i = 0; i < cf_plan_count(plan); i++) {
        const struct cf_op *op = cf_plan_op(plan, i);
        if (op->dead)
            continue;
        if (op->code == CF_OP_MENU) {
            menus++;
            menu_at = i;
        } else if (op->code == CF_OP_CATEGORY) {
            records = true;
            last_record = i;
        }
    }
    assert_int_equal(menus, records ? 1 : 0);
    if (records)
        assert_true(menu_at > last_record);
}

static void test_batch(void **state)
{
    const struct batch_row *r = *state;
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    char reason[REASON_SIZE] = "";
    for (size_t i = 0; i < r->nev; i++) {
        int rc = plan_event(&settings, &r->ev[i], MAX_ID, plan, &scratch, reason, sizeof(reason));
        if (rc != 0)
            print_error("event %zu rejected: %s\n", i, reason);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(cf_plan_coalesce(plan), cf_pt_count_lines(r->live));
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), true, r->live);
    expect_one_menu_after_records(plan);
    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
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
    struct cf_buf scratch = {0};
    struct cf_buf before = {0}, after = {0};
    char reason[REASON_SIZE] = "";

    plan_earlier_event(plan, &scratch);
    struct products_event cat = CATEGORY("Shoes", "shoes");
    assert_int_equal(plan_event(&settings, &cat, MAX_ID, plan, &scratch, reason, sizeof(reason)),
                     0);
    size_t mark = cf_plan_mark(plan);
    assert_int_equal(mark, 5);
    cf_pt_render_plan(&before, plan, 0, mark, false);
    const struct cf_op *w = cf_plan_op(plan, 0);
    const char *w_value = cf_plan_bytes(plan, w->a);
    assert_memory_equal(w_value, "{\"earlier\":true}", w->a.len);

    /* Rejected half-way through its lists (the first list is fine). */
    struct products_event bad = {
        .type = UPSERT,
        .version = 3,
        .occurred_at_us = 20,
        .id = STR("2"),
        .categories_before = LIST(STR("4")),
        .terms_after = LIST(STR("a b")),
        .has_representation = true,
        .representation = STR("{\"bad\":1}"),
    };
    int rc = plan_event(&settings, &bad, MAX_ID, plan, &scratch, reason, sizeof(reason));
    cf_pt_expect_rejected(rc, reason, "unsafe-id: ", NULL);
    cf_plan_rollback(plan, mark);
    assert_int_equal(cf_plan_count(plan), mark);
    cf_pt_render_plan(&after, plan, 0, cf_plan_count(plan), false);
    assert_string_equal(after.data, before.data);

    /* Accepted, then dropped by the runtime: the arena is cut back too. */
    struct products_event dropped = {
        .type = UPSERT,
        .version = 4,
        .occurred_at_us = 30,
        .id = STR("3"),
        .categories_after = LIST(STR("5")),
        .has_representation = true,
        .representation = STR("{\"dropped\":true}"),
    };
    assert_int_equal(
        plan_event(&settings, &dropped, MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
    assert_int_equal(cf_plan_count(plan), mark + 2);
    uint32_t dropped_at = cf_plan_op(plan, mark)->key.off;
    cf_plan_rollback(plan, mark);
    assert_int_equal(cf_plan_count(plan), mark);
    cf_pt_render_plan(&after, plan, 0, cf_plan_count(plan), false);
    assert_string_equal(after.data, before.data);

    /* The next event lands after the earlier ones, whose bytes are intact. */
    struct products_event next = {
        .type = DELETED,
        .version = 5,
        .occurred_at_us = 40,
        .id = STR("4"),
        .categories_before = LIST(STR("6")),
    };
    assert_int_equal(plan_event(&settings, &next, MAX_ID, plan, &scratch, reason, sizeof(reason)),
                     0);
    const char *const want[] = {
        earlier_ops[0],
        earlier_ops[1],
        REC7(2, 5000) "1|2|1|" FIELDS7("Shoes", "shoes"),
        TAG7,
        MENU,
        "D :1:product:4 v=5 ts=40",
        "G :1:tag:category:6 ts=40",
        NULL,
    };
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);
    /* ... in the bytes the dropped event had: the arena was cut back. */
    assert_int_equal(cf_plan_op(plan, mark)->key.off, dropped_at);

    /* Nothing of the dropped events survives coalescing either. */
    assert_int_equal(cf_plan_coalesce(plan), 7);
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), true, want);

    cf_buf_free(&before);
    cf_buf_free(&after);
    cf_buf_free(&scratch);
    cf_plan_destroy(plan);
}

/* ------------------------------------------------------------------------
 * Limits, at and beyond their bounds
 * ------------------------------------------------------------------------ */

/* Plans ev alone on a fresh plan; returns the rc, reason in reason. */
static int plan_alone(const struct products_event *ev, size_t *nops, char *reason,
                      size_t reason_size)
{
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    int rc = plan_event(&settings, ev, MAX_ID, plan, &scratch, reason, reason_size);
    *nops = cf_plan_count(plan);
    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
    return rc;
}

static void test_id_length(void **state)
{
    (void)state;
    char reason[REASON_SIZE];
    size_t nops;
    char *id = cf_pt_repeat('a', 10 * 1024);
    struct cf_strs list = {NULL, 0, 0};
    struct cf_str item;
    struct products_event ev = {.type = UPSERT,
                                .version = 1,
                                .occurred_at_us = 1,
                                .has_representation = true,
                                .representation = STR("{}")};

    /* The product id: 128 bytes are a key part, 129 and 10 KB are not. */
    ev.id = (struct cf_str){id, MAX_ID};
    assert_int_equal(plan_alone(&ev, &nops, reason, sizeof(reason)), 0);
    assert_int_equal(nops, 1);
    {
        struct cf_plan *plan = cf_plan_new(":1:");
        struct cf_buf scratch = {0};
        assert_int_equal(plan_event(&settings, &ev, MAX_ID, plan, &scratch, reason, sizeof(reason)),
                         0);
        const struct cf_op *op = cf_plan_op(plan, 0);
        assert_int_equal(op->key.len, strlen(":1:product:") + MAX_ID);
        assert_memory_equal(cf_plan_bytes(plan, op->key), ":1:product:", 11);
        assert_memory_equal(cf_plan_bytes(plan, op->key) + 11, id, MAX_ID);
        cf_plan_destroy(plan);
        cf_buf_free(&scratch);
    }
    ev.id = (struct cf_str){id, MAX_ID + 1};
    cf_pt_expect_rejected(plan_alone(&ev, &nops, reason, sizeof(reason)), reason, "unsafe-id: ", "aaaa");
    ev.id = (struct cf_str){id, 10 * 1024};
    cf_pt_expect_rejected(plan_alone(&ev, &nops, reason, sizeof(reason)), reason, "unsafe-id: ", "aaaa");
    assert_true(strlen(reason) < 100);

    /* The same bound for a list item and a search term. */
    ev.id = (struct cf_str)STR("42");
    list.items = &item;
    list.n = list.cap = 1;
    item = (struct cf_str){id, MAX_ID};
    ev.categories_after = list;
    assert_int_equal(plan_alone(&ev, &nops, reason, sizeof(reason)), 0);
    assert_int_equal(nops, 2);
    item.len = 10 * 1024;
    cf_pt_expect_rejected(plan_alone(&ev, &nops, reason, sizeof(reason)), reason, "unsafe-id: ", "aaaa");
    ev.categories_after.n = 0;
    ev.terms_before = list;
    cf_pt_expect_rejected(plan_alone(&ev, &nops, reason, sizeof(reason)), reason, "unsafe-id: ", "aaaa");
    item.len = MAX_ID;
    assert_int_equal(plan_alone(&ev, &nops, reason, sizeof(reason)), 0);

    /* And for a category's id and parent. */
    struct products_event cat = CATEGORY("Shoes", "shoes");
    cat.id = (struct cf_str){id, 10 * 1024};
    cf_pt_expect_rejected(plan_alone(&cat, &nops, reason, sizeof(reason)), reason, "unsafe-id: ", "aaaa");
    cat.id = (struct cf_str)STR("7");
    cat.parent_id = (struct cf_str){id, MAX_ID + 1};
    cf_pt_expect_rejected(plan_alone(&cat, &nops, reason, sizeof(reason)), reason, "unsafe-id: ", "aaaa");
    cat.parent_id.len = MAX_ID;
    assert_int_equal(plan_alone(&cat, &nops, reason, sizeof(reason)), 0);
    assert_int_equal(nops, 3);

    free(id);
}

/* 256 items in a list are planned (one tag each); 257 are refused, for
 * each of the four lists. */
static void test_list_sizes(void **state)
{
    (void)state;
    enum { N = 257 };
    char ids[N][8];
    struct cf_str items[N];
    for (size_t i = 0; i < N; i++) {
        int n = snprintf(ids[i], sizeof(ids[i]), "c%zu", i);
        items[i] = (struct cf_str){ids[i], (size_t)n};
    }
    char reason[REASON_SIZE];
    size_t nops;
    for (int list = 0; list < 4; list++) {
        struct products_event ev = {.type = UPSERT,
                                    .version = 1,
                                    .occurred_at_us = 1,
                                    .id = STR("42"),
                                    .has_representation = true,
                                    .representation = STR("{}")};
        struct cf_strs *l = list == 0   ? &ev.categories_before
                            : list == 1 ? &ev.categories_after
                            : list == 2 ? &ev.terms_before
                                        : &ev.terms_after;
        l->items = items;
        l->n = l->cap = 256;
        int rc = plan_alone(&ev, &nops, reason, sizeof(reason));
        if (rc != 0)
            print_error("list %d: %s\n", list, reason);
        assert_int_equal(rc, 0);
        assert_int_equal(nops, 1 + 256);
        l->n = l->cap = 257;
        cf_pt_expect_rejected(plan_alone(&ev, &nops, reason, sizeof(reason)), reason,
                        "invalid-field: ", NULL);
    }
    /* A deleted product's lists are bounded too. */
    struct products_event del = {
        .type = DELETED, .version = 1, .occurred_at_us = 1, .id = STR("42")};
    del.categories_before = (struct cf_strs){items, 257, 257};
    cf_pt_expect_rejected(plan_alone(&del, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: ", NULL);
}

/* A name or slug of 512 bytes is recorded whole; 513 bytes are refused. */
static void test_name_length(void **state)
{
    (void)state;
    char reason[REASON_SIZE];
    char *name = cf_pt_repeat('n', 513);
    struct products_event cat = CATEGORY("x", "x");
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};

    cat.name = (struct cf_str){name, 512};
    cat.slug = (struct cf_str){name, 512};
    assert_int_equal(plan_event(&settings, &cat, MAX_ID, plan, &scratch, reason, sizeof(reason)),
                     0);
    struct cf_buf want = {0};
    cf_pt_put_fmt(&want, "1|2|1|\"id\":\"7\",\"name\":\"%.512s\",\"slug\":\"%.512s\"", name, name);
    const struct cf_op *op = cf_plan_op(plan, 0);
    assert_int_equal(op->code, CF_OP_CATEGORY);
    assert_int_equal(op->b.len, want.len);
    assert_memory_equal(cf_plan_bytes(plan, op->b), want.data, want.len);
    cf_buf_free(&want);

    size_t nops;
    cat.name.len = 513;
    cf_pt_expect_rejected(plan_alone(&cat, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: ", "nnnn");
    cat.name.len = 512;
    cat.slug.len = 513;
    cf_pt_expect_rejected(plan_alone(&cat, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: ", "nnnn");

    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
    free(name);
}

/* Nesting: 64 levels are a representation, 65 are not. */
static void test_representation_depth(void **state)
{
    (void)state;
    char reason[REASON_SIZE];
    size_t nops;
    char doc[2 * 65];
    for (size_t depth = 64; depth <= 65; depth++) {
        memset(doc, '[', depth);
        memset(doc + depth, ']', depth);
        struct products_event ev = {.type = UPSERT,
                                    .version = 1,
                                    .occurred_at_us = 1,
                                    .id = STR("42"),
                                    .has_representation = true,
                                    .representation = {doc, 2 * depth}};
        int rc = plan_alone(&ev, &nops, reason, sizeof(reason));
        if (depth == 64) {
            assert_int_equal(rc, 0);
            assert_int_equal(nops, 1);
        } else {
            cf_pt_expect_rejected(rc, reason, "invalid-json: ", NULL);
        }
    }
}

/* The settings, not literals, make the keys and TTLs; the prefix is the
 * plan's. */
static void test_settings_shape_the_ops(void **state)
{
    (void)state;
    char top[] = "top";
    const struct products_settings other = {.product_ttl_s = 60,
                                            .menu_ttl_s = 600,
                                            .menu_name = top,
                                            .max_categories = 1,
                                            .max_terms = 1};
    struct cf_plan *plan = cf_plan_new("shop:2:");
    struct cf_buf scratch = {0};
    char reason[REASON_SIZE] = "";
    struct products_event p = {.type = UPSERT,
                               .version = 7,
                               .occurred_at_us = 1000,
                               .id = STR("42"),
                               .categories_after = LIST(STR("3")),
                               .terms_after = LIST(STR("red")),
                               .has_representation = true,
                               .representation = STR("{}")};
    struct products_event c = {
        .type = CAT_DELETED, .version = 3, .occurred_at_us = 6000, .id = STR("7")};
    struct products_event cu = CATEGORY("Shoes", "shoes");
    assert_int_equal(plan_event(&other, &p, MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
    assert_int_equal(plan_event(&other, &cu, MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
    assert_int_equal(plan_event(&other, &c, MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
    const char *const want[] = {
        "W shop:2:product:42 v=7 ts=1000 ttl=60000 value={}",
        "G shop:2:tag:category:3 ts=1000",
        "G shop:2:tag:search:red ts=1000",
        "C shop:2:cf:categories id=7 v=2 ts=5000 payload=1|2|1|" FIELDS7("Shoes", "shoes"),
        "G shop:2:tag:category:7 ts=5000",
        "M shop:2:menu:top hash=shop:2:cf:categories ttl=600000",
        "C shop:2:cf:categories id=7 v=3 ts=6000 payload=",
        "G shop:2:tag:category:7 ts=6000",
        "M shop:2:menu:top hash=shop:2:cf:categories ttl=600000",
        NULL,
    };
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);

    /* max_categories 1: two categories are too many. */
    p.categories_after = (struct cf_strs)LIST(STR("3"), STR("4"));
    size_t mark = cf_plan_mark(plan);
    cf_pt_expect_rejected(plan_event(&other, &p, MAX_ID, plan, &scratch, reason, sizeof(reason)), reason,
                    "invalid-field: ", NULL);
    cf_plan_rollback(plan, mark);
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);

    /* max_id_bytes is the caller's: 2 bytes make "42" fine and "420" not. */
    p.categories_after = (struct cf_strs)LIST(STR("3"));
    p.terms_after = (struct cf_strs){NULL, 0, 0};
    assert_int_equal(plan_event(&other, &p, 2, plan, &scratch, reason, sizeof(reason)), 0);
    p.id = (struct cf_str)STR("420");
    cf_pt_expect_rejected(plan_event(&other, &p, 2, plan, &scratch, reason, sizeof(reason)), reason,
                    "unsafe-id: ", NULL);

    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
}

/* A short reason buffer is filled, cut and terminated, never overrun. */
static void test_short_reason_buffer(void **state)
{
    (void)state;
    char reason[16];
    memset(reason, '#', sizeof(reason));
    struct products_event ev = UPSERT_ID("4 2");
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    assert_int_equal(plan_event(&settings, &ev, MAX_ID, plan, &scratch, reason, 6), -1);
    assert_string_equal(reason, "unsaf");
    for (size_t i = 6; i < sizeof(reason); i++)
        assert_int_equal(reason[i], '#');
    assert_int_equal(cf_plan_count(plan), 0);
    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
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
    cmocka_unit_test(test_list_sizes),
    cmocka_unit_test(test_name_length),
    cmocka_unit_test(test_representation_depth),
    cmocka_unit_test(test_settings_shape_the_ops),
    cmocka_unit_test(test_short_reason_buffer),
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
