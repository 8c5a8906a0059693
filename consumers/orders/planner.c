/* planner.c - the orders consumer's part of the carts slice, as a pure
 * function.
 *
 * DESIGN
 * An order completed empties the cart it was placed from.  The order is
 * another entity than the cart, with its own version sequence, so the cart
 * key is invalidated by time (xinval at occurred_at), never by version:
 * the carts consumer's writes of cart:{cart_id} carry the cart's versions,
 * and comparing an order's version with them would mean nothing.  By time,
 * the outcome does not depend on which of the two topics is read first: a
 * cart update that happened after the order (the cart is used again) is
 * kept, one that happened before it is removed or refused.
 *
 * Within a batch, coalescing (plan.c) keeps one xinval per cart, with the
 * latest time: several orders from one cart cost one Redis operation.
 */
#include "planner.h"

#include "keys.h"

const char *const orders_event_names[] = {
    "order_completed",
    NULL,
};

int orders_plan(const struct orders_event *ev, size_t max_id_bytes, struct cf_plan *plan,
                char *reason, size_t reason_size)
{
    switch (ev->type) {
    case ORDERS_ORDER_COMPLETED:
        if (cf_key_part_check("order_id", ev->order_id.ptr, ev->order_id.len, max_id_bytes,
                              CF_KEY_ASCII, reason, reason_size) < 0 ||
            cf_key_part_check("cart_id", ev->cart_id.ptr, ev->cart_id.len, max_id_bytes,
                              CF_KEY_ASCII, reason, reason_size) < 0)
            return -1;
        cf_plan_xinval(plan, ORDERS_KIND_CART, ev->cart_id.ptr, ev->cart_id.len,
                       ev->occurred_at_us);
        return 0;

    case ORDERS_EVENT_TYPES:
        break;
    }
    return cf_reason(reason, reason_size, CF_REASON_UNKNOWN_TYPE, "event type %d", (int)ev->type);
}
