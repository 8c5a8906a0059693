/* target_orders.c - the orders consumer in the benchmark's table.
 *
 * What it owns: the orders workload (the simulator's shop seen through
 * shop.orders: one OrderCompleted per checkout, the shop's carts running
 * behind it) and the key the plain SET baseline writes.  The sample check
 * is the model's (check.h): an order only invalidates its cart from
 * another entity (xinval), so on an empty cache what it leaves is the
 * carts' markers, "0 0 <time>".
 *
 * DESIGN
 * An order carries no value to cache.  So that the plain baseline still
 * costs one command per event on the same keys, it writes the order's
 * total (a few bytes) to cart:{cart_id}, and deletes it.
 *
 * Thread: the main thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "orders.h"
#include "targets.h"

#define CART_KEY_PREFIX ":1:cart:"

static int orders_describe(const struct shop_event *ev, const void *data, size_t len,
                           struct bench_event *meta, char *errstr, size_t errstr_size)
{
    (void)data;
    (void)len;
    (void)errstr;
    (void)errstr_size;
    meta->entity = bench_parse_id(ev->cart_id); /* the key the order touches */
    return 0;
}

static int orders_side_value(const struct shop_event *ev, struct bench_events *es, char *errstr,
                             size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    bench_events_set_side_value(es, ev->total, strlen(ev->total));
    return 0;
}

static int orders_generate(const char *schemas_dir, uint64_t seed, size_t n,
                           struct bench_events *out, char *errstr, size_t errstr_size)
{
    const struct bench_shop_workload w = {
        .name = "orders",
        .topic = SHOP_TOPIC_ORDERS,
        .categories = 200,
        .products = 20000,
        .users = 20000,
        .describe = orders_describe,
        .side_value = orders_side_value,
    };
    return bench_shop_generate(&w, schemas_dir, seed, n, out, errstr, errstr_size);
}

static size_t orders_cache_key(const struct bench_event *ev, char *buf, size_t size)
{
    int n = snprintf(buf, size, CART_KEY_PREFIX "%" PRIu32, ev->entity);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

const struct bench_target bench_target_orders = {
    .name = "orders",
    .topic = "shop.orders",
    .program = "cachefleet-orders",
    .def = &orders_consumer,
    .phases = 0,
    .compression = 1.5,
    .value_note = "SET cart:{cart_id} to the order's total (an order caches nothing)",
    .generate = orders_generate,
    .cache_key = orders_cache_key,
};
