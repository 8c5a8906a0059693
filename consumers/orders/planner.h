/* planner.h - the orders consumer's part of the carts slice, as a pure
 * function.
 *
 * What it owns: the one rule of seed section 5 that topic shop.orders
 * feeds, DESIGN.md's "shopping carts" row, "invalidated by: order
 * completed for that cart":
 *
 *   event           operations
 *   OrderCompleted  xinval cart:{cart_id} at occurred_at (the cart is
 *                   emptied by another entity, the order: the event
 *                   carries the order's version, not the cart's)
 *
 * The cart may never have been cached: the xinval is planned all the same,
 * because it leaves the order's time in the cart's marker, so a late
 * replay of a cart event that happened before the order (an older
 * occurred_at) cannot bring the cart back.  Nothing else is cached by this
 * consumer: the order itself is not a slice of the cache.
 *
 * Rejected (the event goes to the dead-letter topic):
 *   an order_id or cart_id that is not a safe key part  "unsafe-id: ..."
 *   an event type this planner does not know            "unknown-type: ..."
 * Both ids are checked before the operation is appended.  order_id is
 * not part of a key; it is checked because the schema promises a safe id
 * and a broken promise means a broken producer worth dead-lettering.
 *
 * user_id, total and currency are for logs only: the handler reads them
 * (checking their types) and the planner never uses them.
 *
 * No settings: the cart key's TTL and size are the carts consumer's
 * (consumers/carts/), and an xinval has neither.
 *
 * What it does not own: Avro (handler.c maps the decoded value onto struct
 * orders_event) or any I/O.
 */
#ifndef ORDERS_PLANNER_H
#define ORDERS_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "plan.h"

/* The key kind of a cached cart, cart:{cart_id}: the key the carts
 * consumer warms (must stay equal to CARTS_KIND_CART). */
#define ORDERS_KIND_CART "cart:"

enum orders_event_type { ORDERS_ORDER_COMPLETED, ORDERS_EVENT_TYPES };

/* The metrics names of the types above, in order, NULL-terminated. */
extern const char *const orders_event_names[];

struct orders_event {
    enum orders_event_type type;
    uint64_t version; /* the order's (not used: the cart's is unknown) */
    int64_t occurred_at_us;
    struct cf_str order_id;
    struct cf_str cart_id;

    /* for logs only: never part of a key or a value */
    bool has_user;
    struct cf_str user_id;
    struct cf_str total, currency;
};

/* Appends the operations for ev to plan.  max_id_bytes bounds ids.
 * Returns 0, or -1 with a "<code>: <detail>" reason that never repeats
 * the event's content (plan is then untouched by this event, but the
 * caller rolls back to its mark anyway, as for every planner). */
int orders_plan(const struct orders_event *ev, size_t max_id_bytes, struct cf_plan *plan,
                char *reason, size_t reason_size);

#endif
