/* planner.c - the carts consumer's slice: the rules, as a pure function.
 *
 * DESIGN
 * A cart is one key, cart:{cart_id}, holding the JSON document the cart
 * service published, byte for byte (the web tier serves it as it is).
 * Every write is versioned by the cart's own version, so a late older
 * event (a replay, a redelivery) never replaces a newer cart, and a
 * deletion leaves a tombstone that a late older update cannot pass.
 *
 * A merge is two carts: the target's version is in the event, the
 * source's is not.  So the source is invalidated the way another entity
 * invalidates a key (xinval, ordered by occurred_at): the marker keeps the
 * merge's time, and a late update of the anonymous cart that happened
 * before the merge cannot bring it back.  The target is an ordinary
 * versioned warm.  A merge of a cart into itself would invalidate the
 * cart it warms; the cart service never means that, so it is rejected.
 *
 * Every check runs before the first operation is appended: a rejected
 * event leaves the plan as it found it (the runtime rolls back anyway).
 * Within a batch, coalescing (plan.c) leaves one write per cart: several
 * updates of one cart cost one SET of the highest version.
 */
#include "planner.h"

#include <string.h>

#include "json.h"
#include "keys.h"

const char *const carts_event_names[] = {
    "cart_updated",
    "cart_deleted",
    "cart_merged",
    NULL,
};

const char *const carts_change_names[] = {
    "CREATED", "ITEM_ADDED", "ITEM_REMOVED", "QUANTITY_CHANGED", "OTHER", NULL,
};

static int check_id(const char *field, struct cf_str id, size_t max_id_bytes, char *reason,
                    size_t reason_size)
{
    return cf_key_part_check(field, id.ptr, id.len, max_id_bytes, CF_KEY_ASCII, reason,
                             reason_size);
}

/* The cart document: no larger than the setting, then JSON. */
static int check_cart(const struct carts_settings *cfg, struct cf_str cart, char *reason,
                      size_t reason_size)
{
    if ((unsigned long long)cart.len > (unsigned long long)cfg->max_cart_bytes)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                         "cart is %zu bytes, more than carts.max_cart_bytes %lld", cart.len,
                         cfg->max_cart_bytes);
    char why[160];
    if (cf_json_validate(cart.ptr, cart.len, CARTS_CART_MAX_DEPTH, why, sizeof(why)) < 0)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_JSON, "cart: %s", why);
    return 0;
}

int carts_plan(const struct carts_settings *cfg, const struct carts_event *ev, size_t max_id_bytes,
               struct cf_plan *plan, char *reason, size_t reason_size)
{
    int64_t ts = ev->occurred_at_us;
    int64_t ttl_ms = cfg->cart_ttl_s * 1000;

    switch (ev->type) {
    case CARTS_CART_UPDATED:
        if (check_id("cart_id", ev->cart_id, max_id_bytes, reason, reason_size) < 0 ||
            check_cart(cfg, ev->cart, reason, reason_size) < 0)
            return -1;
        cf_plan_warm(plan, CARTS_KIND_CART, ev->cart_id.ptr, ev->cart_id.len, ev->version, ts,
                     ttl_ms, ev->cart.ptr, ev->cart.len);
        return 0;

    case CARTS_CART_DELETED:
        if (check_id("cart_id", ev->cart_id, max_id_bytes, reason, reason_size) < 0)
            return -1;
        cf_plan_invalidate(plan, CARTS_KIND_CART, ev->cart_id.ptr, ev->cart_id.len, ev->version,
                           ts);
        return 0;

    case CARTS_CART_MERGED:
        if (check_id("source_cart_id", ev->source_cart_id, max_id_bytes, reason, reason_size) < 0 ||
            check_id("target_cart_id", ev->cart_id, max_id_bytes, reason, reason_size) < 0)
            return -1;
        if (ev->source_cart_id.len == ev->cart_id.len &&
            memcmp(ev->source_cart_id.ptr, ev->cart_id.ptr, ev->cart_id.len) == 0)
            return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                             "source_cart_id is target_cart_id: a cart merged into itself");
        if (check_cart(cfg, ev->cart, reason, reason_size) < 0)
            return -1;
        cf_plan_xinval(plan, CARTS_KIND_CART, ev->source_cart_id.ptr, ev->source_cart_id.len, ts);
        cf_plan_warm(plan, CARTS_KIND_CART, ev->cart_id.ptr, ev->cart_id.len, ev->version, ts,
                     ttl_ms, ev->cart.ptr, ev->cart.len);
        return 0;

    case CARTS_EVENT_TYPES:
        break;
    }
    return cf_reason(reason, reason_size, CF_REASON_UNKNOWN_TYPE, "event type %d", (int)ev->type);
}
