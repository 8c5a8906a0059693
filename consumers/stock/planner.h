/* planner.h - the stock consumer's slice: the rules, as a pure function.
 *
 * What it owns: seed section 7 (inventory counts), that is the row of
 * DESIGN.md's cache contract that topic shop.stock feeds:
 *
 *   event                         operations
 *   StockMoved (any kind:         warm stock:{sku} with on_hand as decimal
 *   purchase, restock, return,    digits ("17", "0", "-2"), version = the
 *   adjustment, other)            envelope's version (the SKU's ledger
 *                                 sequence), ts = occurred_at, TTL ttl_s
 *   ... and availability flips    then xinval product:{product_id} at
 *   (in stock <-> out of stock)   occurred_at (another entity: the product's
 *                                 representation shows availability; its
 *                                 own version is not in this event)
 *
 * In stock means on_hand > 0; the quantity before the movement is
 * on_hand - quantity_delta.  A flip is "before in stock" != "after in
 * stock": 5 -> 0 flips (out), 0 -> 3 flips (in); 0 -> 0, -2 -> 0 (both
 * out) and 3 -> 1 (both in) do not.  The kind does not change the
 * operations: it is read for logs and metrics only, and every kind counts
 * as the one metrics type "stock_moved".
 *
 * Rejected (the event goes to the dead-letter topic), checked before any
 * operation is appended, so a rejected event appends nothing:
 *   "unsafe-id: "     sku or product_id not a safe key part;
 *   "invalid-field: " on_hand or quantity_delta beyond +/- max_quantity
 *                     (INT64_MIN always is: its magnitude is not an int64),
 *                     or on_hand - quantity_delta not representable in
 *                     int64 (only possible with max_quantity above
 *                     INT64_MAX / 2);
 *   "unknown-type: "  an event type other than StockMoved.
 *
 * What it does not own: Avro (handler.c maps the decoded value onto struct
 * stock_event) or any I/O.
 */
#ifndef STOCK_PLANNER_H
#define STOCK_PLANNER_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "plan.h"

struct stock_settings {
    long long ttl_s;        /* TTL of stock:{sku}, seed section 7: 30 s to 2 min */
    long long max_quantity; /* largest |on_hand| and |quantity_delta| accepted */
};

enum stock_event_type { STOCK_MOVED, STOCK_EVENT_TYPES };

/* The metrics names of the types above, in order, NULL-terminated. */
extern const char *const stock_event_names[];

/* The MovementKind symbols of schemas/stock.avsc, in the schema's order. */
enum stock_kind {
    STOCK_KIND_PURCHASE,
    STOCK_KIND_RESTOCK,
    STOCK_KIND_RETURN,
    STOCK_KIND_ADJUSTMENT,
    STOCK_KIND_OTHER,
    STOCK_KINDS
};

/* The schema's symbol of each kind above, in order, NULL-terminated. */
extern const char *const stock_kind_names[];

struct stock_event {
    enum stock_event_type type;
    uint64_t version; /* the SKU's ledger sequence */
    int64_t occurred_at_us;
    struct cf_str sku;
    struct cf_str product_id;
    enum stock_kind kind; /* logs and metrics only */
    int64_t quantity_delta;
    int64_t on_hand; /* after the movement; may be negative (backorders) */
};

/* Appends the operations for ev to plan.  max_id_bytes bounds sku and
 * product_id.  Returns 0, or -1 with a "<code>: <detail>" reason that
 * never repeats the rejected content; a rejected event appends nothing.
 * Pure: no I/O, no allocation but the plan's. */
int stock_plan(const struct stock_settings *cfg, const struct stock_event *ev, size_t max_id_bytes,
               struct cf_plan *plan, char *reason, size_t reason_size);

#endif
