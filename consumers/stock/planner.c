/* planner.c - the stock consumer's slice: the rules, as a pure function.
 *
 * DESIGN
 * Everything is checked before anything is appended (ids, then the
 * quantities), so a rejected event leaves the plan as it found it.
 *
 * The count is written as plain decimal digits, with a '-' when negative
 * and nothing else (no sign for positives, no leading zeros, no spaces):
 * the one form django-redis turns back into an int (it tries int() before
 * the serializer), so the web tier's cache.get("stock:<sku>") is a number.
 *
 * The quantity before the movement, on_hand - quantity_delta, is computed
 * only after proving it fits in int64: the bound on both operands
 * (max_quantity, 1e12 by default) makes that true for any sane setting,
 * and the explicit check keeps it true for a setting up to INT64_MAX.
 * Signed overflow is undefined behaviour in C, not a wrap-around, so the
 * test is made on the operands, never on the result.
 *
 * A flip invalidates the product with cf_plan_xinval at occurred_at: the
 * product's own version is not in this event, so the time orders it
 * against the product's own events and the web tier's fills
 * (functions.lua: a representation written after the movement stays).
 * Several flips of one product in one batch coalesce to one invalidation
 * with the latest time; several movements of one SKU to one write, the
 * highest version (cf_plan_coalesce).
 */
#include "planner.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "decimal.h"
#include "keys.h"

const char *const stock_event_names[] = {"stock_moved", NULL};

const char *const stock_kind_names[] = {
    "PURCHASE", "RESTOCK", "RETURN", "ADJUSTMENT", "OTHER", NULL,
};

#define KIND_STOCK   "stock:"
#define KIND_PRODUCT "product:"

/* Checks |q| <= max (max >= 1); -1 with a reason naming field otherwise. */
static int check_quantity(const char *field, int64_t q, int64_t max, char *reason,
                          size_t reason_size)
{
    if (q > max || q < -max)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                         "%s is beyond +/-%" PRId64 " (stock.max_quantity)", field, max);
    return 0;
}

/* *before = on_hand - delta, or -1 when that is not an int64. */
static int quantity_before(int64_t on_hand, int64_t delta, int64_t *before)
{
    if (delta < 0 && on_hand > INT64_MAX + delta)
        return -1;
    if (delta > 0 && on_hand < INT64_MIN + delta)
        return -1;
    *before = on_hand - delta;
    return 0;
}

int stock_plan(const struct stock_settings *cfg, const struct stock_event *ev, size_t max_id_bytes,
               struct cf_plan *plan, char *reason, size_t reason_size)
{
    if (ev->type != STOCK_MOVED)
        return cf_reason(reason, reason_size, CF_REASON_UNKNOWN_TYPE, "event type %d",
                         (int)ev->type);
    if (cf_key_part_check("sku", ev->sku.ptr, ev->sku.len, max_id_bytes, CF_KEY_ASCII, reason,
                          reason_size) < 0 ||
        cf_key_part_check("product_id", ev->product_id.ptr, ev->product_id.len, max_id_bytes,
                          CF_KEY_ASCII, reason, reason_size) < 0)
        return -1;

    /* The setting's range (1..INT64_MAX) makes -max an int64. */
    int64_t max = (int64_t)cfg->max_quantity;
    if (check_quantity("on_hand", ev->on_hand, max, reason, reason_size) < 0 ||
        check_quantity("quantity_delta", ev->quantity_delta, max, reason, reason_size) < 0)
        return -1;
    int64_t before = 0;
    if (quantity_before(ev->on_hand, ev->quantity_delta, &before) < 0)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                         "on_hand - quantity_delta (the quantity before) is not an int64");

    char text[CF_DECIMAL_MAX];
    size_t n = cf_fmt_i64(text, ev->on_hand);
    cf_plan_warm(plan, KIND_STOCK, ev->sku.ptr, ev->sku.len, ev->version, ev->occurred_at_us,
                 cfg->ttl_s * 1000, text, n);

    bool was_in_stock = before > 0, is_in_stock = ev->on_hand > 0;
    if (was_in_stock != is_in_stock)
        cf_plan_xinval(plan, KIND_PRODUCT, ev->product_id.ptr, ev->product_id.len,
                       ev->occurred_at_us);
    return 0;
}
