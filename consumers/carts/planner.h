/* planner.h - the carts consumer's slice: the rules, as a pure function.
 *
 * What it owns: seed section 5 (shopping carts) as far as topic shop.carts
 * feeds it, that is DESIGN.md's "shopping carts" row:
 *
 *   event          operations
 *   CartUpdated    warm cart:{cart_id} with the cart JSON the event carries
 *                  (version = the event's, ts = occurred_at, TTL
 *                  cart_ttl_s: 30 days by default)
 *   CartDeleted    invalidate cart:{cart_id} (version = the event's)
 *   CartMerged     xinval cart:{source_cart_id} at occurred_at (the source
 *                  is another entity here: the event carries the target's
 *                  version, not the source's), then warm
 *                  cart:{target_cart_id} with the merged cart JSON
 *                  (version = the event's, the target's)
 *
 * The other way a cart leaves the cache, an order completed for it, comes
 * from topic shop.orders (consumers/orders/planner.h): an xinval of the same
 * key cart:{cart_id}, ordered against these writes by occurred_at.
 *
 * Rejected (the event goes to the dead-letter topic):
 *   a cart id (cart_id, source_cart_id, target_cart_id) that is not a safe
 *     key part                                          "unsafe-id: ..."
 *   a merge whose source is its target                  "invalid-field: ..."
 *   a cart larger than max_cart_bytes                   "invalid-field: ..."
 *   a cart that is not JSON (or nested deeper than
 *     CARTS_CART_MAX_DEPTH)                             "invalid-json: ..."
 *   an event type this planner does not know            "unknown-type: ..."
 * Checks run before any operation is appended, ids first, then the cart's
 * size, then its JSON (the cheap checks first).
 *
 * user_id and change are for logs only: the handler reads them (checking
 * their types) and the planner never puts them in a key or a value.
 *
 * What it does not own: Avro (handler.c maps the decoded value onto struct
 * carts_event) or any I/O.
 */
#ifndef CARTS_PLANNER_H
#define CARTS_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "plan.h"

/* The key kind of a cached cart: cart:{cart_id}.  The orders consumer
 * invalidates the same key (ORDERS_KIND_CART must stay equal). */
#define CARTS_KIND_CART "cart:"

/* Nesting accepted in a cart document (arrays and objects). */
#define CARTS_CART_MAX_DEPTH 64

struct carts_settings {
    long long cart_ttl_s;     /* TTL of cart:{cart_id} */
    long long max_cart_bytes; /* largest cart document cached */
};

enum carts_event_type {
    CARTS_CART_UPDATED,
    CARTS_CART_DELETED,
    CARTS_CART_MERGED,
    CARTS_EVENT_TYPES
};

/* The metrics names of the types above, in order, NULL-terminated. */
extern const char *const carts_event_names[];

/* CartUpdated.change, in the order of the schema's CartChange symbols
 * (handler.c checks that order against the reader schema at start). */
enum carts_change {
    CARTS_CHANGE_CREATED,
    CARTS_CHANGE_ITEM_ADDED,
    CARTS_CHANGE_ITEM_REMOVED,
    CARTS_CHANGE_QUANTITY_CHANGED,
    CARTS_CHANGE_OTHER,
    CARTS_CHANGES
};

/* The schema's symbols of enum carts_change, in order, NULL-terminated. */
extern const char *const carts_change_names[];

struct carts_event {
    enum carts_event_type type;
    uint64_t version; /* the cart's (the target's for a merge) */
    int64_t occurred_at_us;
    struct cf_str cart_id;        /* CartUpdated, CartDeleted; the target of CartMerged */
    struct cf_str source_cart_id; /* CartMerged */
    struct cf_str cart;           /* CartUpdated, CartMerged: the cart's JSON */

    /* for logs only: never part of a key or a value */
    bool has_user;
    struct cf_str user_id;
    enum carts_change change; /* CartUpdated */
};

/* Appends the operations for ev to plan.  max_id_bytes bounds ids.
 * Returns 0, or -1 with a "<code>: <detail>" reason that never repeats
 * the event's content (plan is then untouched by this event, but the
 * caller rolls back to its mark anyway, as for every planner). */
int carts_plan(const struct carts_settings *cfg, const struct carts_event *ev, size_t max_id_bytes,
               struct cf_plan *plan, char *reason, size_t reason_size);

#endif
