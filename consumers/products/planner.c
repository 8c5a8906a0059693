/* planner.c - the products consumer's slices: the rules, as a pure function.
 *
 * DESIGN
 * Every id is checked before any operation is appended for it, so a
 * rejected event leaves a clean reason (the runtime rolls back anyway).
 * Listing tags are appended for the union of "before" and "after": a
 * product moving from category A to B empties the listings of both, and a
 * renamed product the search listings of its old and new words.  The same
 * tag twice in one event, or in one batch, costs one Redis operation after
 * coalescing.
 *
 * The menu is not assembled here: a category event carries one node, and
 * the tree is the sum of every category event ever seen.  The planner
 * appends the node's record (parent, position, visibility, and its JSON
 * fields, quoted here once) to the category hash in Redis and asks for a
 * rebuild; coalescing leaves one rebuild per batch, after the last record.
 */
#include "planner.h"

#include <stdio.h>
#include <string.h>

#include "json.h"
#include "keys.h"

/* Nesting accepted in a representation. */
#define REPRESENTATION_MAX_DEPTH 64
#define NAME_MAX_BYTES 512

const char *const products_event_names[] = {
    "product_upserted", "product_deleted",  "product_related_changed",
    "category_upserted", "category_deleted", NULL,
};

#define KIND_PRODUCT "product:"
#define KIND_CATEGORY_TAG "category:"
#define KIND_SEARCH_TAG "search:"
#define KIND_MENU "menu:"
#define HASH_CATEGORIES "cf:categories"

static int check_ids(const char *field, const struct cf_strs *ids, unsigned flags, size_t max_len,
                     char *reason, size_t reason_size)
{
    for (size_t i = 0; i < ids->n; i++) {
        if (cf_key_part_check(field, ids->items[i].ptr, ids->items[i].len, max_len, flags, reason,
                              reason_size) < 0)
            return -1;
    }
    return 0;
}

static void tags(struct cf_plan *plan, const char *kind, const struct cf_strs *ids, int64_t ts)
{
    for (size_t i = 0; i < ids->n; i++)
        cf_plan_tag(plan, kind, ids->items[i].ptr, ids->items[i].len, ts);
}

/* The listing tags of a product event: categories and terms, before and
 * after (ids already checked). */
static void product_tags(const struct products_event *ev, struct cf_plan *plan)
{
    tags(plan, KIND_CATEGORY_TAG, &ev->categories_before, ev->occurred_at_us);
    tags(plan, KIND_CATEGORY_TAG, &ev->categories_after, ev->occurred_at_us);
    tags(plan, KIND_SEARCH_TAG, &ev->terms_before, ev->occurred_at_us);
    tags(plan, KIND_SEARCH_TAG, &ev->terms_after, ev->occurred_at_us);
}

static int check_lists(const struct products_settings *cfg, const struct products_event *ev,
                       size_t max_id, char *reason, size_t reason_size)
{
    struct {
        const char *field;
        const struct cf_strs *ids;
        unsigned flags;
        long long max;
    } lists[] = {
        {"categories_before", &ev->categories_before, CF_KEY_ASCII, cfg->max_categories},
        {"categories_after", &ev->categories_after, CF_KEY_ASCII, cfg->max_categories},
        {"search_terms_before", &ev->terms_before, CF_KEY_UTF8, cfg->max_terms},
        {"search_terms_after", &ev->terms_after, CF_KEY_UTF8, cfg->max_terms},
    };
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if ((long long)lists[i].ids->n > lists[i].max)
            return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                             "%s has %zu items, more than %lld", lists[i].field, lists[i].ids->n,
                             lists[i].max);
        if (check_ids(lists[i].field, lists[i].ids, lists[i].flags, max_id, reason, reason_size) < 0)
            return -1;
    }
    return 0;
}

/* Appends s to b as a JSON string literal; -1 with a reason if s is not
 * UTF-8 or is empty or too long. */
static int quote(struct cf_buf *b, const char *field, struct cf_str s, char *reason,
                 size_t reason_size)
{
    if (s.len == 0 || s.len > NAME_MAX_BYTES)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                         "%s must be 1 to %d bytes, not %zu", field, NAME_MAX_BYTES, s.len);
    long need = cf_json_quote(s.ptr, s.len, NULL, 0);
    if (need < 0)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD, "%s is not UTF-8", field);
    cf_buf_reserve(b, (size_t)need + 1);
    cf_json_quote(s.ptr, s.len, b->data + b->len, (size_t)need + 1);
    b->len += (size_t)need;
    return 0;
}

/* The category record: "<parent>|<position>|<visible>|<JSON members>". */
static int category_record(const struct products_event *ev, struct cf_buf *b, char *reason,
                           size_t reason_size)
{
    char num[32];
    b->len = 0;
    if (ev->has_parent)
        cf_buf_put(b, ev->parent_id.ptr, ev->parent_id.len);
    int n = snprintf(num, sizeof(num), "|%d|%d|", (int)ev->position, ev->visible ? 1 : 0);
    cf_buf_put(b, num, (size_t)n);
    cf_buf_puts(b, "\"id\":");
    if (quote(b, "category_id", ev->id, reason, reason_size) < 0)
        return -1;
    cf_buf_puts(b, ",\"name\":");
    if (quote(b, "name", ev->name, reason, reason_size) < 0)
        return -1;
    cf_buf_puts(b, ",\"slug\":");
    if (quote(b, "slug", ev->slug, reason, reason_size) < 0)
        return -1;
    return 0;
}

int products_plan(const struct products_settings *cfg, const struct products_event *ev,
                  size_t max_id_bytes, struct cf_plan *plan, struct cf_buf *scratch, char *reason,
                  size_t reason_size)
{
    int64_t ts = ev->occurred_at_us;
    const char *id_field = ev->type >= PRODUCTS_CATEGORY_UPSERTED ? "category_id" : "product_id";
    if (cf_key_part_check(id_field, ev->id.ptr, ev->id.len, max_id_bytes, CF_KEY_ASCII, reason,
                          reason_size) < 0)
        return -1;

    switch (ev->type) {
    case PRODUCTS_PRODUCT_UPSERTED:
        if (check_lists(cfg, ev, max_id_bytes, reason, reason_size) < 0)
            return -1;
        if (ev->has_representation) {
            char why[160];
            if (cf_json_validate(ev->representation.ptr, ev->representation.len,
                                 REPRESENTATION_MAX_DEPTH, why, sizeof(why)) < 0)
                return cf_reason(reason, reason_size, CF_REASON_INVALID_JSON, "representation: %s",
                                 why);
            cf_plan_warm(plan, KIND_PRODUCT, ev->id.ptr, ev->id.len, ev->version, ts,
                         cfg->product_ttl_s * 1000, ev->representation.ptr,
                         ev->representation.len);
        } else {
            cf_plan_invalidate(plan, KIND_PRODUCT, ev->id.ptr, ev->id.len, ev->version, ts);
        }
        product_tags(ev, plan);
        return 0;

    case PRODUCTS_PRODUCT_DELETED:
        if (check_lists(cfg, ev, max_id_bytes, reason, reason_size) < 0)
            return -1;
        cf_plan_invalidate(plan, KIND_PRODUCT, ev->id.ptr, ev->id.len, ev->version, ts);
        product_tags(ev, plan);
        return 0;

    case PRODUCTS_PRODUCT_RELATED_CHANGED:
        cf_plan_xinval(plan, KIND_PRODUCT, ev->id.ptr, ev->id.len, ts);
        return 0;

    case PRODUCTS_CATEGORY_UPSERTED:
        if (ev->has_parent) {
            if (cf_key_part_check("parent_id", ev->parent_id.ptr, ev->parent_id.len, max_id_bytes,
                                  CF_KEY_ASCII, reason, reason_size) < 0)
                return -1;
            if (ev->parent_id.len == ev->id.len &&
                memcmp(ev->parent_id.ptr, ev->id.ptr, ev->id.len) == 0)
                return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                                 "category is its own parent");
        }
        if (category_record(ev, scratch, reason, reason_size) < 0)
            return -1;
        cf_plan_category(plan, HASH_CATEGORIES, ev->id.ptr, ev->id.len, ev->version, ts,
                         scratch->data, scratch->len);
        cf_plan_tag(plan, KIND_CATEGORY_TAG, ev->id.ptr, ev->id.len, ts);
        cf_plan_menu(plan, KIND_MENU, cfg->menu_name, HASH_CATEGORIES, cfg->menu_ttl_s * 1000);
        return 0;

    case PRODUCTS_CATEGORY_DELETED:
        cf_plan_category(plan, HASH_CATEGORIES, ev->id.ptr, ev->id.len, ev->version, ts, "", 0);
        cf_plan_tag(plan, KIND_CATEGORY_TAG, ev->id.ptr, ev->id.len, ts);
        cf_plan_menu(plan, KIND_MENU, cfg->menu_name, HASH_CATEGORIES, cfg->menu_ttl_s * 1000);
        return 0;

    case PRODUCTS_EVENT_TYPES:
        break;
    }
    return cf_reason(reason, reason_size, CF_REASON_UNKNOWN_TYPE, "event type %d", (int)ev->type);
}
