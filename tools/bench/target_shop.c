/* target_shop.c - the main workload of the carts, orders, access and stock
 * targets: the simulator's shop seen through one topic.
 *
 * What it owns: running the shop (tools/sim/shop.h) with one topic handed
 * out, encoding each event with the topic's schema, and filling the
 * benchmark's records (key, entity, version, time, type); each target's
 * `describe` callback then says what value the plain SET baseline writes
 * for the event.  What it does not own: what the shop does (the topic
 * mixes are the simulator's) or checking (check.h).
 *
 * DESIGN
 * Events get strictly increasing occurred_at times, one microsecond apart,
 * as in target_products.c, so the model and Redis see the same order of
 * times whatever the batch boundaries.  The shop runs what the topic
 * depends on without handing its events out (orders come from carts,
 * stock moves with orders), so the stream is a coherent shop.
 *
 * Thread: the main thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "encode.h"
#include "shop.h"
#include "targets.h"

uint32_t bench_parse_id(const char *s)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    return *s && end && *end == '\0' && v <= UINT32_MAX ? (uint32_t)v : 0;
}

int bench_value_at_end(const void *data, size_t len, const char *value, size_t value_len,
                       struct bench_event *meta, char *errstr, size_t errstr_size)
{
    if (value_len > len || memcmp((const char *)data + len - value_len, value, value_len) != 0) {
        snprintf(errstr, errstr_size, "the value does not end the encoded event (schema changed?)");
        return -1;
    }
    meta->has_value = 1;
    meta->value_off = (uint32_t)(len - value_len);
    meta->value_len = (uint32_t)value_len;
    return 0;
}

int bench_shop_generate(const struct bench_shop_workload *w, const char *schemas_dir, uint64_t seed,
                        size_t n, struct bench_events *out, char *errstr, size_t errstr_size)
{
    int rc = -1;
    struct sim_encoder *enc = NULL;
    struct shop *shop = NULL;
    char why[512];

    enc = sim_encoder_new(schemas_dir, sim_topic_schema_file(w->topic), SIM_FRAMING_CONFLUENT, why,
                          sizeof(why));
    if (!enc) {
        snprintf(errstr, errstr_size, "%s: encoder: %s", w->name, why);
        goto fail;
    }
    struct shop_config cfg = {
        .seed = seed,
        .categories = w->categories,
        .products = w->products,
        .initial_sync = true,
        .topics = SHOP_TOPIC_BIT(w->topic),
        .users = w->users,
    };
    shop = shop_new(&cfg, why, sizeof(why));
    if (!shop) {
        snprintf(errstr, errstr_size, "%s: shop: %s", w->name, why);
        goto fail;
    }
    int64_t t0 = cf_wall_us();
    for (size_t i = 0; i < n; i++) {
        const struct shop_event *ev;
        if (shop_next(shop, t0 + (int64_t)i, &ev) < 0) {
            snprintf(errstr, errstr_size, "%s: shop: out of memory or nothing left to do", w->name);
            goto fail;
        }
        const void *data;
        size_t len;
        if (sim_encode_event(enc, ev, &data, &len, why, sizeof(why)) < 0) {
            snprintf(errstr, errstr_size, "%s: encode: %s", w->name, why);
            goto fail;
        }
        struct bench_event meta;
        memset(&meta, 0, sizeof(meta));
        meta.entity = bench_parse_id(ev->key);
        meta.version = (uint64_t)ev->version;
        meta.ts_us = ev->occurred_at;
        meta.type = (uint8_t)ev->type;
        snprintf(meta.key, sizeof(meta.key), "%s", ev->key);
        if (w->describe(ev, data, len, &meta, errstr, errstr_size) < 0)
            goto fail;
        bench_events_add(out, data, len, &meta);
        if (w->side_value && w->side_value(ev, out, errstr, errstr_size) < 0)
            goto fail;
    }
    rc = 0;

fail:
    shop_destroy(shop);
    sim_encoder_destroy(enc);
    return rc;
}
