/* target_carts.c - the carts consumer in the benchmark's table.
 *
 * What it owns: the carts workload (the simulator's shop seen through
 * shop.carts: carts created, changed, emptied, abandoned, merged at
 * logins) and the key the plain SET baseline writes, cart:{id} with the
 * cart JSON the event carries.  The sample check is the model's (check.h).
 *
 * DESIGN
 * The cart JSON is the last field of CartUpdated and CartMerged, so its
 * bytes end the Avro datum and the plain SET baseline reads them in place.
 *
 * Thread: the main thread.
 */
#include <stdio.h>

#include "carts.h"
#include "targets.h"

#define CART_KEY_PREFIX ":1:cart:"

static int carts_describe(const struct shop_event *ev, const void *data, size_t len,
                          struct bench_event *meta, char *errstr, size_t errstr_size)
{
    if ((ev->type == SHOP_CART_UPDATED || ev->type == SHOP_CART_MERGED) && ev->cart &&
        bench_value_at_end(data, len, ev->cart, ev->cart_len, meta, errstr, errstr_size) < 0)
        return -1;
    return 0;
}

static int carts_generate(const char *schemas_dir, uint64_t seed, size_t n,
                          struct bench_events *out, char *errstr, size_t errstr_size)
{
    /* A mid-sized shop: carts draw their lines from 20,000 products and
     * are merged when one of 20,000 users logs in. */
    const struct bench_shop_workload w = {
        .name = "carts",
        .topic = SHOP_TOPIC_CARTS,
        .categories = 200,
        .products = 20000,
        .users = 20000,
        .describe = carts_describe,
    };
    return bench_shop_generate(&w, schemas_dir, seed, n, out, errstr, errstr_size);
}

static size_t carts_cache_key(const struct bench_event *ev, char *buf, size_t size)
{
    int n = snprintf(buf, size, CART_KEY_PREFIX "%s", ev->key);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

const struct bench_target bench_target_carts = {
    .name = "carts",
    .topic = "shop.carts",
    .program = "cachefleet-carts",
    .def = &carts_consumer,
    .phases = BENCH_TARGET_AGE,
    .compression = 1.5,
    .value_note = "SET cart:{id} to the cart JSON",
    .generate = carts_generate,
    .cache_key = carts_cache_key,
};
