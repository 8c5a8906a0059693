/* planner.h - the products consumer's slices: the rules, as a pure function.
 *
 * What it owns: seed sections 1 to 3 (product detail, category and search
 * listings, navigation menus), that is the rows of DESIGN.md's cache
 * contract that topic shop.products feeds:
 *
 *   event                     operations
 *   ProductUpserted + repr    warm product:{id} (TTL product_ttl_s)
 *   ProductUpserted, no repr  invalidate product:{id}
 *   ProductDeleted            invalidate product:{id}
 *   ProductRelatedChanged     xinval product:{id} (another entity changed;
 *                             listings do not show the related model)
 *   upserted or deleted       tag category:{c} for c in categories before
 *                             and after; tag search:{t} for t in search
 *                             terms before and after
 *   CategoryUpserted          category record (the menu's source of truth,
 *                             kept in Redis), tag category:{id},
 *                             rebuild menu:{menu_name} (TTL menu_ttl_s)
 *   CategoryDeleted           category record deleted, tag category:{id},
 *                             rebuild the menu
 *
 * Rejected (the event goes to the dead-letter topic): an id, category id
 * or search term that is not a safe key part; a representation that is not
 * JSON; a name or slug that is empty, too long or not UTF-8; a category
 * that is its own parent.
 *
 * What it does not own: Avro (handler.c maps the decoded value onto struct
 * products_event) or any I/O.  The menu is rebuilt by Redis from the
 * category records (functions.lua), once per batch after coalescing.
 */
#ifndef PRODUCTS_PLANNER_H
#define PRODUCTS_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "plan.h"

struct products_settings {
    long long product_ttl_s;
    long long menu_ttl_s;
    char *menu_name;
    long long max_categories; /* per list in one event */
    long long max_terms;      /* per list in one event */
};

enum products_event_type {
    PRODUCTS_PRODUCT_UPSERTED,
    PRODUCTS_PRODUCT_DELETED,
    PRODUCTS_PRODUCT_RELATED_CHANGED,
    PRODUCTS_CATEGORY_UPSERTED,
    PRODUCTS_CATEGORY_DELETED,
    PRODUCTS_EVENT_TYPES
};

/* The metrics names of the types above, in order, NULL-terminated. */
extern const char *const products_event_names[];

struct products_event {
    enum products_event_type type;
    uint64_t version;
    int64_t occurred_at_us;
    struct cf_str id; /* product_id or category_id */

    /* product events */
    struct cf_strs categories_before, categories_after;
    struct cf_strs terms_before, terms_after;
    bool has_representation;
    struct cf_str representation;
    struct cf_str related_model, related_id;

    /* category events */
    bool has_parent;
    struct cf_str parent_id, name, slug;
    int32_t position;
    bool visible;
};

/* Appends the operations for ev to plan.  scratch is a buffer the planner
 * may use (kept by the caller between events).  max_id_bytes bounds ids.
 * Returns 0, or -1 with a "<code>: <detail>" reason (plan may then hold
 * part of the event's operations: the caller rolls back). */
int products_plan(const struct products_settings *cfg, const struct products_event *ev,
                  size_t max_id_bytes, struct cf_plan *plan, struct cf_buf *scratch, char *reason,
                  size_t reason_size);

#endif
