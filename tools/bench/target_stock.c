/* target_stock.c - the stock consumer in the benchmark's table.
 *
 * What it owns: the stock workload (the simulator's shop seen through
 * shop.stock: purchases, one per order line, restocks, returns,
 * adjustments, with the availability flips that invalidate a product) and
 * the key the plain SET baseline writes, stock:{sku} with on_hand as
 * decimal, the value the consumer caches.  The sample check is the
 * model's (check.h).
 *
 * DESIGN
 * stock:{sku} lives 60 s by default (stock.ttl_s): a check after a run
 * longer than that finds the early SKUs expired, which the check counts
 * as expired, not missing.
 *
 * Thread: the main thread.
 */
#include <inttypes.h>
#include <stdio.h>

#include "stock.h"
#include "targets.h"

#define STOCK_KEY_PREFIX ":1:stock:"

static int stock_describe(const struct shop_event *ev, const void *data, size_t len,
                          struct bench_event *meta, char *errstr, size_t errstr_size)
{
    (void)data;
    (void)len;
    (void)errstr;
    (void)errstr_size;
    meta->entity = bench_parse_id(ev->product_id);
    return 0;
}

static int stock_side_value(const struct shop_event *ev, struct bench_events *es, char *errstr,
                            size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    char text[24];
    int n = snprintf(text, sizeof(text), "%" PRId64, ev->on_hand);
    bench_events_set_side_value(es, text, (size_t)n);
    return 0;
}

static int stock_generate(const char *schemas_dir, uint64_t seed, size_t n,
                          struct bench_events *out, char *errstr, size_t errstr_size)
{
    /* 20,000 products with their SKUs; orders and restocks move them. */
    const struct bench_shop_workload w = {
        .name = "stock",
        .topic = SHOP_TOPIC_STOCK,
        .categories = 200,
        .products = 20000,
        .users = 20000,
        .describe = stock_describe,
        .side_value = stock_side_value,
    };
    return bench_shop_generate(&w, schemas_dir, seed, n, out, errstr, errstr_size);
}

static size_t stock_cache_key(const struct bench_event *ev, char *buf, size_t size)
{
    int n = snprintf(buf, size, STOCK_KEY_PREFIX "%s", ev->key);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

const struct bench_target bench_target_stock = {
    .name = "stock",
    .topic = "shop.stock",
    .program = "cachefleet-stock",
    .def = &stock_consumer,
    .phases = BENCH_TARGET_AGE | BENCH_TARGET_BATCH | BENCH_TARGET_PAIR,
    .compression = 1.2, /* small messages: lz4 gained less than 1.3x on them here */
    .value_note = "SET stock:{sku} to on_hand as decimal",
    .generate = stock_generate,
    .cache_key = stock_cache_key,
};
