/* target_products.c - the products consumer in the benchmark's table.
 *
 * What it owns: the products workloads (the simulator's shop model for the
 * main one; synthetic ProductUpserted events of a chosen value size and
 * tag count for the scaling tables), the key the plain SET baseline
 * writes, and the sample check of product:{id} and the menu.
 *
 * DESIGN
 * Events get strictly increasing occurred_at times (one microsecond apart),
 * so no two events of a product share a time and the cache's rules decide
 * every case the same way whatever the batch boundaries: the final state
 * of product:{id} after applying a range of events to an empty cache is
 * the representation of the product's highest-version event if that event
 * is a ProductUpserted with a representation and no ProductRelatedChanged
 * of the product is newer; otherwise the key is absent (deleted, or
 * invalidated and never warmed again).  The menu key exists when the range
 * holds any category event.
 *
 * The representation is the last field of ProductUpserted, so its bytes end
 * the Avro datum: its place in the payload is found without decoding, and
 * checked.
 *
 * Thread: the main thread.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "encode.h"
#include "products.h"
#include "rng.h"
#include "shop.h"
#include "targets.h"

#define PRODUCT_KEY_PREFIX ":1:product:"
#define MENU_KEY           ":1:menu:main"
#define CHECK_PIPELINE     1000
#define SYNTH_CATEGORIES   1000
#define SYNTH_TERMS        500
#define SYNTH_TERMS_EACH   2
#define SYNTH_MAX_TAGS     256

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static uint32_t parse_id(const char *s)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    return end && *end == '\0' && v <= UINT32_MAX ? (uint32_t)v : 0;
}

/* Records where the representation sits: it ends the datum. */
static int locate_value(const void *data, size_t len, const char *value, size_t value_len,
                        struct bench_event *meta, char *errstr, size_t errstr_size)
{
    if (value_len > len || memcmp((const char *)data + len - value_len, value, value_len) != 0) {
        snprintf(errstr, errstr_size,
                 "products: the representation does not end the encoded event (schema changed?)");
        return -1;
    }
    meta->has_value = 1;
    meta->value_off = (uint32_t)(len - value_len);
    meta->value_len = (uint32_t)value_len;
    return 0;
}

/* ------------------------------------------------------------------------
 * The main workload: the simulator's shop
 * ------------------------------------------------------------------------ */

static int products_generate(const char *schemas_dir, uint64_t seed, size_t n,
                             struct bench_events *out, char *errstr, size_t errstr_size)
{
    int rc = -1;
    struct sim_encoder *enc = NULL;
    struct shop *shop = NULL;
    char why[512];

    enc = sim_encoder_new(schemas_dir, "products.avsc", SIM_FRAMING_CONFLUENT, why, sizeof(why));
    if (!enc) {
        snprintf(errstr, errstr_size, "products: encoder: %s", why);
        goto fail;
    }
    /* A catalog of about one product per ten events (at most 100k), and a
     * category tree of a real shop's size. */
    size_t products = n / 10;
    if (products < 100)
        products = 100;
    if (products > 100000)
        products = 100000;
    struct shop_config cfg = {
        .seed = seed,
        .categories = products >= 20000 ? 200 : 60,
        .products = (uint32_t)products,
        .initial_sync = true,
    };
    shop = shop_new(&cfg, why, sizeof(why));
    if (!shop) {
        snprintf(errstr, errstr_size, "products: shop: %s", why);
        goto fail;
    }
    int64_t t0 = cf_wall_us();
    for (size_t i = 0; i < n; i++) {
        const struct shop_event *ev;
        if (shop_next(shop, t0 + (int64_t)i, &ev) < 0) {
            snprintf(errstr, errstr_size, "products: shop: out of memory");
            goto fail;
        }
        const void *data;
        size_t len;
        if (sim_encode_product_event(enc, ev, &data, &len, why, sizeof(why)) < 0) {
            snprintf(errstr, errstr_size, "products: encode: %s", why);
            goto fail;
        }
        struct bench_event meta;
        memset(&meta, 0, sizeof(meta));
        meta.entity = parse_id(ev->key);
        meta.version = (uint64_t)ev->version;
        meta.ts_us = ev->occurred_at;
        meta.type = (uint8_t)ev->type;
        snprintf(meta.key, sizeof(meta.key), "%s", ev->key);
        if (ev->type == SHOP_PRODUCT_UPSERTED && ev->representation &&
            locate_value(data, len, ev->representation, ev->representation_len, &meta, errstr,
                         errstr_size) < 0)
            goto fail;
        bench_events_add(out, data, len, &meta);
    }
    rc = 0;

fail:
    shop_destroy(shop);
    sim_encoder_destroy(enc);
    return rc;
}

/* ------------------------------------------------------------------------
 * Synthetic workloads: ProductUpserted with a chosen value size and tag
 * count
 * ------------------------------------------------------------------------ */

static int products_synthesize(const char *schemas_dir, uint64_t seed,
                               const struct bench_synth *cfg, struct bench_events *out,
                               char *errstr, size_t errstr_size)
{
    int rc = -1;
    struct sim_encoder *enc = NULL;
    uint64_t *versions = NULL;
    char *value = NULL;
    char why[512];
    char cat_text[SYNTH_MAX_TAGS][12], term_text[SYNTH_TERMS_EACH][16];
    const char *cats[SYNTH_MAX_TAGS], *terms[SYNTH_TERMS_EACH];
    uint32_t picked[SYNTH_MAX_TAGS];

    if (cfg->tags < 1 || cfg->tags > SYNTH_MAX_TAGS) {
        snprintf(errstr, errstr_size, "products: %zu tags per event is out of 1..%d", cfg->tags,
                 SYNTH_MAX_TAGS);
        return -1;
    }
    enc = sim_encoder_new(schemas_dir, "products.avsc", SIM_FRAMING_CONFLUENT, why, sizeof(why));
    if (!enc) {
        snprintf(errstr, errstr_size, "products: encoder: %s", why);
        goto fail;
    }
    /* About five updates per product, so a batch rarely holds one product
     * twice and coalescing does not hide the cost being measured. */
    uint32_t nproducts = (uint32_t)(cfg->events / 5 > 100 ? cfg->events / 5 : 100);
    versions = calloc(nproducts + 1, sizeof(*versions));
    value = malloc(cfg->value_bytes + 128);
    if (!versions || !value) {
        snprintf(errstr, errstr_size, "products: out of memory");
        goto fail;
    }
    struct sim_rng rng;
    sim_rng_seed(&rng, seed, 7);
    int64_t t0 = cf_wall_us();
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i < cfg->events; i++) {
        uint32_t id = 1 + sim_rng_below(&rng, nproducts);
        uint64_t version = ++versions[id];
        int64_t ts = t0 + (int64_t)i;
        char id_text[12], event_id[SIM_UUID_LEN + 1];
        snprintf(id_text, sizeof(id_text), "%" PRIu32, id);
        sim_rng_uuid(&rng, event_id);

        /* Distinct categories out of SYNTH_CATEGORIES. */
        size_t ncats = 0;
        while (ncats < cfg->tags) {
            uint32_t c = 1 + sim_rng_below(&rng, SYNTH_CATEGORIES);
            bool dup = false;
            for (size_t k = 0; k < ncats && !dup; k++)
                dup = picked[k] == c;
            if (dup)
                continue;
            picked[ncats] = c;
            snprintf(cat_text[ncats], sizeof(cat_text[ncats]), "%" PRIu32, c);
            cats[ncats] = cat_text[ncats];
            ncats++;
        }
        for (size_t k = 0; k < SYNTH_TERMS_EACH; k++) {
            snprintf(term_text[k], sizeof(term_text[k]), "term%" PRIu32,
                     (uint32_t)((id * 7 + k * 13) % SYNTH_TERMS));
            terms[k] = term_text[k];
        }

        /* {"id":N,"version":V,"pad":"<random>"} of value_bytes bytes. */
        int head = snprintf(value, cfg->value_bytes + 128,
                            "{\"id\":%" PRIu32 ",\"version\":%" PRIu64 ",\"pad\":\"", id, version);
        size_t vlen = (size_t)head;
        while (vlen + 2 < cfg->value_bytes)
            value[vlen++] = alphabet[sim_rng_below(&rng, sizeof(alphabet) - 1)];
        value[vlen++] = '"';
        value[vlen++] = '}';
        value[vlen] = '\0';

        avro_value_t body;
        if (sim_encoder_begin(enc, event_id, (int64_t)version, ts, "ProductUpserted", &body, why,
                              sizeof(why)) < 0 ||
            sim_avro_set_string(&body, "product_id", id_text, why, sizeof(why)) < 0 ||
            sim_avro_set_string_array(&body, "categories_before", cats, ncats, why, sizeof(why)) <
                0 ||
            sim_avro_set_string_array(&body, "categories_after", cats, ncats, why, sizeof(why)) <
                0 ||
            sim_avro_set_string_array(&body, "search_terms_before", terms, SYNTH_TERMS_EACH, why,
                                      sizeof(why)) < 0 ||
            sim_avro_set_string_array(&body, "search_terms_after", terms, SYNTH_TERMS_EACH, why,
                                      sizeof(why)) < 0 ||
            sim_avro_set_optional_string(&body, "representation", value, vlen, why, sizeof(why)) <
                0) {
            snprintf(errstr, errstr_size, "products: synthetic event: %s", why);
            goto fail;
        }
        const void *data;
        size_t len;
        if (sim_encoder_finish(enc, &data, &len, why, sizeof(why)) < 0) {
            snprintf(errstr, errstr_size, "products: synthetic event: %s", why);
            goto fail;
        }
        struct bench_event meta;
        memset(&meta, 0, sizeof(meta));
        meta.entity = id;
        meta.version = version;
        meta.ts_us = ts;
        meta.type = SHOP_PRODUCT_UPSERTED;
        snprintf(meta.key, sizeof(meta.key), "%s", id_text);
        if (locate_value(data, len, value, vlen, &meta, errstr, errstr_size) < 0)
            goto fail;
        bench_events_add(out, data, len, &meta);
    }
    rc = 0;

fail:
    free(value);
    free(versions);
    sim_encoder_destroy(enc);
    return rc;
}

static size_t products_cache_key(const struct bench_event *ev, char *buf, size_t size)
{
    int n = snprintf(buf, size, PRODUCT_KEY_PREFIX "%s", ev->key);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* ------------------------------------------------------------------------
 * The sample check
 * ------------------------------------------------------------------------ */

static bool is_product_event(uint8_t type)
{
    return type == SHOP_PRODUCT_UPSERTED || type == SHOP_PRODUCT_DELETED ||
           type == SHOP_PRODUCT_RELATED_CHANGED;
}

static bool is_category_event(uint8_t type)
{
    return type == SHOP_CATEGORY_UPSERTED || type == SHOP_CATEGORY_DELETED;
}

struct expected {
    uint64_t version;  /* highest version seen (0: the product never appeared) */
    size_t idx;        /* the event that carries it */
    int64_t xinval_ts; /* the newest ProductRelatedChanged */
};

/* Reads `count` GET replies and grades each against the events. */
static int grade(redisContext *c, const struct bench_events *es, const struct expected *exp,
                 const uint32_t *ids, size_t count, struct bench_check *out, char *errstr,
                 size_t errstr_size)
{
    for (size_t k = 0; k < count; k++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK || !r) {
            snprintf(errstr, errstr_size, "redis GET (sample check): %s", c->errstr);
            return -1;
        }
        redisReply *reply = r;
        const struct expected *e = &exp[ids[k]];
        const struct bench_event *best = &es->ev[e->idx];
        bool want =
            best->type == SHOP_PRODUCT_UPSERTED && best->has_value && best->ts_us > e->xinval_ts;
        out->sampled++;
        out->expect_absent += !want;
        if (reply->type == REDIS_REPLY_NIL) {
            if (want)
                out->missing++;
            else
                out->right++;
        } else if (reply->type == REDIS_REPLY_STRING && want && reply->len == best->value_len &&
                   memcmp(reply->str, bench_events_value(es, e->idx), reply->len) == 0) {
            out->right++;
        } else if (reply->type == REDIS_REPLY_ERROR) {
            snprintf(errstr, errstr_size, "redis GET (sample check): %.*s", (int)reply->len,
                     reply->str);
            freeReplyObject(reply);
            return -1;
        } else {
            out->stale++;
        }
        freeReplyObject(reply);
    }
    return 0;
}

static int products_check(redisContext *c, const struct bench_events *es, size_t from, size_t to,
                          size_t sample, uint64_t seed, struct bench_check *out, char *errstr,
                          size_t errstr_size)
{
    int rc = -1;
    struct expected *exp = NULL;
    uint32_t *ids = NULL;
    memset(out, 0, sizeof(*out));
    snprintf(out->extra_name, sizeof(out->extra_name), "%s", MENU_KEY);

    uint32_t max_id = 0;
    for (size_t i = from; i < to; i++) {
        const struct bench_event *e = &es->ev[i];
        if (is_product_event(e->type) && e->entity > max_id)
            max_id = e->entity;
        if (is_category_event(e->type))
            out->extra_expected = 1;
    }
    exp = calloc((size_t)max_id + 1, sizeof(*exp));
    ids = malloc(((size_t)max_id + 1) * sizeof(*ids));
    if (!exp || !ids) {
        snprintf(errstr, errstr_size, "sample check: out of memory");
        goto fail;
    }
    size_t nids = 0;
    for (size_t i = from; i < to; i++) {
        const struct bench_event *ev = &es->ev[i];
        if (!is_product_event(ev->type))
            continue;
        struct expected *e = &exp[ev->entity];
        if (e->version == 0)
            ids[nids++] = ev->entity;
        if (ev->version >= e->version) {
            e->version = ev->version;
            e->idx = i;
        }
        if (ev->type == SHOP_PRODUCT_RELATED_CHANGED && ev->ts_us > e->xinval_ts)
            e->xinval_ts = ev->ts_us;
    }
    /* A partial Fisher-Yates shuffle picks `sample` distinct products. */
    struct sim_rng rng;
    sim_rng_seed(&rng, seed, 11);
    if (sample > nids)
        sample = nids;
    for (size_t k = 0; k < sample; k++) {
        size_t j = k + sim_rng_below(&rng, (uint32_t)(nids - k));
        uint32_t t = ids[k];
        ids[k] = ids[j];
        ids[j] = t;
    }
    for (size_t k = 0; k < sample; k += CHECK_PIPELINE) {
        size_t count = sample - k < CHECK_PIPELINE ? sample - k : CHECK_PIPELINE;
        for (size_t m = 0; m < count; m++) {
            char key[64];
            int n = snprintf(key, sizeof(key), PRODUCT_KEY_PREFIX "%" PRIu32, ids[k + m]);
            const char *argv[2] = {"GET", key};
            size_t lens[2] = {3, (size_t)n};
            if (redisAppendCommandArgv(c, 2, argv, lens) != REDIS_OK) {
                snprintf(errstr, errstr_size, "redis GET (sample check): %s", c->errstr);
                goto fail;
            }
        }
        if (grade(c, es, exp, ids + k, count, out, errstr, errstr_size) < 0)
            goto fail;
    }
    redisReply *reply = redisCommand(c, "EXISTS %s", MENU_KEY);
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        snprintf(errstr, errstr_size, "redis EXISTS %s: %s", MENU_KEY,
                 reply ? "unexpected reply" : c->errstr);
        if (reply)
            freeReplyObject(reply);
        goto fail;
    }
    out->extra_present = reply->integer == 1;
    freeReplyObject(reply);
    out->ok = out->missing == 0 && out->stale == 0 && out->right == out->sampled &&
              (!out->extra_expected || out->extra_present);
    rc = 0;

fail:
    free(exp);
    free(ids);
    return rc;
}

/* ------------------------------------------------------------------------
 * The target
 * ------------------------------------------------------------------------ */

#define SCALE_EVENTS     100000
#define SCALE_EVENTS_10K 20000

static const struct bench_synth_point products_points[] = {
    {"payload", "~100 B", "payload100", {SCALE_EVENTS, 100, 1, 0}, 0},
    {"payload", "~1 KB", "payload1k", {SCALE_EVENTS, 1000, 1, 0}, 0},
    {"payload", "~10 KB", "payload10k", {SCALE_EVENTS_10K, 10000, 1, 0}, 0},
    {"tags per event", "1", "tags1", {SCALE_EVENTS, 450, 1, 0}, 0},
    {"tags per event", "10", "tags10", {SCALE_EVENTS, 450, 10, 0}, 0},
    {"tags per event", "100", "tags100", {SCALE_EVENTS_10K, 450, 100, 0}, 500},
};

const struct bench_target bench_target_products = {
    .name = "products",
    .topic = "shop.products",
    .program = "cachefleet-products",
    .def = &products_consumer,
    .phases = BENCH_TARGET_AGE | BENCH_TARGET_BATCH | BENCH_TARGET_PREFETCH | BENCH_TARGET_PAIR |
              BENCH_TARGET_QUICK,
    .compression = 1.5,
    .value_note = "SET product:{id} to the representation",
    .generate = products_generate,
    .synthesize = products_synthesize,
    .synth_points = products_points,
    .nsynth_points = sizeof(products_points) / sizeof(products_points[0]),
    .cache_key = products_cache_key,
    .check = products_check,
};
