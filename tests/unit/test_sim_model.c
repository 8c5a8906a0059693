/* test_sim_model.c - the simulator's shop model and Avro encoder
 * (tools/sim/shop*.c, encode.c, eventlog.c, words.c, rng.c).
 *
 * Every test drives the model with a fixed clock (so runs are comparable
 * byte for byte) and checks what a consumer relies on: determinism, valid
 * representations, versions +1 per entity, before/after lists that chain,
 * a category tree that stays consistent, datums that decode back to the
 * same values, framing bytes, and an event log line with every field.
 * The products tests run a products-only shop (the zero config); "All five
 * topics" runs the whole shop and tracks what every event said (the world
 * tracker) to check each topic's fields and the invariants between them:
 * carts, orders, stock and sessions that agree with each other.
 */
#include <avro.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "eventlog.h"
#include "rng.h"
#include "shop.h"
#include "testutil.h"
#include "words.h"

#define CLOCK_START 1764100000000000LL /* a fixed "wall clock", microseconds */

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static struct shop *new_shop(uint64_t seed, uint32_t categories, uint32_t products, bool initial)
{
    char err[256];
    struct shop_config cfg = {
        .seed = seed, .categories = categories, .products = products, .initial_sync = initial};
    struct shop *shop = shop_new(&cfg, err, sizeof(err));
    if (!shop)
        fail_msg("shop_new: %s", err);
    return shop;
}

static struct sim_encoder *new_encoder(enum sim_framing framing)
{
    char err[512];
    struct sim_encoder *enc =
        sim_encoder_new(cf_test_schemas_dir(), "products.avsc", framing, err, sizeof(err));
    if (!enc)
        fail_msg("sim_encoder_new: %s", err);
    return enc;
}

static const struct shop_event *next(struct shop *shop, int64_t i)
{
    const struct shop_event *ev = NULL;
    assert_int_equal(shop_next(shop, CLOCK_START + i, &ev), 0);
    assert_non_null(ev);
    return ev;
}

static void encode(struct sim_encoder *enc, const struct shop_event *ev, const void **data,
                   size_t *len)
{
    char err[512];
    if (sim_encode_product_event(enc, ev, data, len, err, sizeof(err)) < 0)
        fail_msg("encode %s %s: %s", shop_event_type_name(ev->type), ev->key, err);
}

static bool is_product_event(const struct shop_event *ev)
{
    return ev->type == SHOP_PRODUCT_UPSERTED || ev->type == SHOP_PRODUCT_DELETED ||
           ev->type == SHOP_PRODUCT_RELATED_CHANGED;
}

static bool ids_equal(const struct shop_id_list *a, const struct shop_id_list *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = 0; i < a->count; i++) {
        if (strcmp(a->ids[i], b->ids[i]) != 0)
            return false;
    }
    return true;
}

static bool terms_equal(const struct shop_term_list *a, const struct shop_term_list *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = 0; i < a->count; i++) {
        if (strcmp(a->terms[i], b->terms[i]) != 0)
            return false;
    }
    return true;
}

/* Per-entity memory of what the events said, indexed by id. */
struct product_track {
    bool seen, deleted;
    int64_t version;
    struct shop_id_list cats;
    struct shop_term_list terms;
};

struct category_track {
    bool seen, deleted;
    int64_t version;
};

struct tracker {
    struct product_track *products;
    size_t nproducts;
    struct category_track *categories;
    size_t ncategories;
};

static void *grow(void *array, size_t *count, size_t elem, size_t want)
{
    if (want < *count)
        return array;
    size_t n = want * 2 + 16;
    char *p = realloc(array, n * elem);
    assert_non_null(p);
    memset(p + *count * elem, 0, (n - *count) * elem);
    *count = n;
    return p;
}

static size_t id_of(const char *key)
{
    char *end = NULL;
    unsigned long v = strtoul(key, &end, 10);
    assert_true(end && *end == '\0' && v > 0);
    return v;
}

static struct product_track *product_track(struct tracker *t, const char *key)
{
    size_t id = id_of(key);
    t->products = grow(t->products, &t->nproducts, sizeof(*t->products), id);
    return &t->products[id];
}

static struct category_track *category_track(struct tracker *t, const char *key)
{
    size_t id = id_of(key);
    t->categories = grow(t->categories, &t->ncategories, sizeof(*t->categories), id);
    return &t->categories[id];
}

static void tracker_free(struct tracker *t)
{
    free(t->products);
    free(t->categories);
}

/* The list holds only categories the events said exist. */
static void assert_live_categories(struct tracker *t, const struct shop_id_list *list,
                                   const struct shop_event *ev)
{
    for (uint32_t i = 0; i < list->count; i++) {
        struct category_track *c = category_track(t, list->ids[i]);
        if (!c->seen || c->deleted)
            fail_msg("event %s (%s of %s) lists category %s, which %s", ev->event_id,
                     shop_change_name(ev->change), ev->key, list->ids[i],
                     c->seen ? "was deleted" : "was never announced");
    }
}

/* Checks one event against everything earlier events said. */
static void track(struct tracker *t, const struct shop_event *ev)
{
    if (!is_product_event(ev)) {
        struct category_track *c = category_track(t, ev->key);
        assert_false(c->deleted);
        if (c->seen)
            assert_int_equal(ev->version, c->version + 1);
        else
            assert_int_equal(ev->version, 1);
        if (ev->type == SHOP_CATEGORY_UPSERTED && ev->has_parent) {
            struct category_track *parent = category_track(t, ev->parent_id);
            assert_true(parent->seen && !parent->deleted); /* parents first */
            assert_string_not_equal(ev->parent_id, ev->key);
        }
        if (ev->type == SHOP_CATEGORY_DELETED) {
            /* No live product may still list it (its products moved first). */
            for (size_t id = 0; id < t->nproducts; id++) {
                struct product_track *p = &t->products[id];
                if (!p->seen || p->deleted)
                    continue;
                for (uint32_t i = 0; i < p->cats.count; i++)
                    assert_string_not_equal(p->cats.ids[i], ev->key);
            }
            c->deleted = true;
        }
        c->seen = true;
        c->version = ev->version;
        return;
    }

    struct product_track *p = product_track(t, ev->key);
    assert_false(p->deleted); /* ids are never reused */
    if (p->seen) {
        assert_int_equal(ev->version, p->version + 1);
    } else {
        /* First sight: the sync (version 1), a creation (1), or, without
         * the sync, a change of an existing product (2). */
        assert_true(ev->version == 1 || (!ev->initial && ev->version == 2));
    }
    switch (ev->type) {
    case SHOP_PRODUCT_UPSERTED:
        if (p->seen) {
            assert_true(ids_equal(&ev->categories_before, &p->cats));
            assert_true(terms_equal(&ev->terms_before, &p->terms));
        } else if (ev->change == SHOP_CHANGE_PRODUCT_CREATE) {
            assert_int_equal(ev->categories_before.count, 0);
            assert_int_equal(ev->terms_before.count, 0);
        }
        assert_true(ev->categories_after.count >= 1);
        assert_true(ev->terms_after.count >= 1);
        assert_live_categories(t, &ev->categories_after, ev);
        p->cats = ev->categories_after;
        p->terms = ev->terms_after;
        break;
    case SHOP_PRODUCT_DELETED:
        if (p->seen) {
            assert_true(ids_equal(&ev->categories_before, &p->cats));
            assert_true(terms_equal(&ev->terms_before, &p->terms));
        }
        p->deleted = true;
        break;
    case SHOP_PRODUCT_RELATED_CHANGED:
        assert_string_equal(ev->related_model, "ProductImage");
        assert_true(ev->related_id[0] != '\0');
        break;
    default:
        fail();
    }
    p->seen = true;
    p->version = ev->version;
}

/* ------------------------------------------------------------------------
 * Determinism
 * ------------------------------------------------------------------------ */

struct recording {
    unsigned char *bytes;
    size_t len, cap;
};

static void record(struct recording *r, const void *data, size_t len)
{
    if (r->len + len + sizeof(len) > r->cap) {
        r->cap = (r->len + len + sizeof(len)) * 2;
        r->bytes = realloc(r->bytes, r->cap);
        assert_non_null(r->bytes);
    }
    memcpy(r->bytes + r->len, &len, sizeof(len)); /* keeps event boundaries */
    r->len += sizeof(len);
    memcpy(r->bytes + r->len, data, len);
    r->len += len;
}

static struct recording run_encoded(uint64_t seed, int events)
{
    struct recording r = {0};
    struct shop *shop = new_shop(seed, 40, 300, true);
    struct sim_encoder *enc = new_encoder(SIM_FRAMING_CONFLUENT);
    for (int i = 0; i < events; i++) {
        const void *data;
        size_t len;
        encode(enc, next(shop, i), &data, &len);
        record(&r, data, len);
    }
    sim_encoder_destroy(enc);
    shop_destroy(shop);
    return r;
}

static void test_same_seed_same_bytes(void **state)
{
    (void)state;
    struct recording a = run_encoded(7, 5000);
    struct recording b = run_encoded(7, 5000);
    struct recording c = run_encoded(8, 5000);
    assert_true(a.len > 5000 * 50);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.bytes, b.bytes, a.len);
    assert_true(a.len != c.len || memcmp(a.bytes, c.bytes, a.len) != 0);
    free(a.bytes);
    free(b.bytes);
    free(c.bytes);
}

/* Skipping the sync changes event ids only: the decisions are the same. */
static void test_no_initial_keeps_the_changes(void **state)
{
    (void)state;
    struct shop *with = new_shop(3, 30, 200, true);
    struct shop *without = new_shop(3, 30, 200, false);
    assert_true(shop_in_initial_sync(with));
    assert_false(shop_in_initial_sync(without));
    int sync = 0;
    while (shop_in_initial_sync(with)) {
        const struct shop_event *ev = next(with, sync++);
        assert_true(ev->initial);
        assert_int_equal(ev->version, 1);
    }
    assert_int_equal(sync, 30 + 200);
    for (int i = 0; i < 2000; i++) {
        const struct shop_event *a = next(with, i);
        struct shop_event copy = *a;
        const struct shop_event *b = next(without, i);
        assert_false(copy.initial);
        assert_false(b->initial);
        assert_int_equal(copy.type, b->type);
        assert_int_equal(copy.change, b->change);
        assert_string_equal(copy.key, b->key);
        assert_int_equal(copy.version, b->version);
        assert_true(ids_equal(&copy.categories_after, &b->categories_after));
        assert_string_not_equal(copy.event_id, b->event_id);
    }
    shop_destroy(with);
    shop_destroy(without);
}

/* ------------------------------------------------------------------------
 * Model consistency
 * ------------------------------------------------------------------------ */

static void check_run(uint64_t seed, uint32_t categories, uint32_t products, bool initial,
                      int events, uint64_t *by_change)
{
    struct tracker t = {0};
    struct shop *shop = new_shop(seed, categories, products, initial);
    for (int i = 0; i < events; i++) {
        const struct shop_event *ev = next(shop, i);
        assert_int_equal(ev->occurred_at, CLOCK_START + i);
        assert_int_equal(strlen(ev->event_id), SIM_UUID_LEN);
        assert_int_equal(ev->event_id[14], '4'); /* UUID v4 */
        track(&t, ev);
        if (by_change)
            by_change[ev->change]++;

        if (ev->type == SHOP_PRODUCT_UPSERTED && ev->representation) {
            json_error_t jerr;
            json_t *rep = json_loadb(ev->representation, ev->representation_len, 0, &jerr);
            if (!rep)
                fail_msg("representation of %s is not JSON: %s", ev->key, jerr.text);
            assert_int_equal(strlen(ev->representation), ev->representation_len);
            assert_true(json_is_object(rep));
            assert_int_equal(json_integer_value(json_object_get(rep, "id")), id_of(ev->key));
            json_t *cats = json_object_get(rep, "categories");
            assert_int_equal(json_array_size(cats), ev->categories_after.count);
            for (uint32_t k = 0; k < ev->categories_after.count; k++)
                assert_int_equal(json_integer_value(json_array_get(cats, k)),
                                 id_of(ev->categories_after.ids[k]));
            const char *price = json_string_value(json_object_get(rep, "price"));
            assert_non_null(price);
            const char *dot = strchr(price, '.');
            assert_true(dot && strlen(dot) == 3);
            size_t nimages = json_array_size(json_object_get(rep, "images"));
            assert_true(nimages >= 1 && nimages <= 4);
            static const char *const keys[] = {"name",     "slug",        "brand",
                                               "currency", "description", "updated_at"};
            for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
                assert_true(json_is_string(json_object_get(rep, keys[k])));
            assert_true(json_is_boolean(json_object_get(rep, "in_stock")));
            json_decref(rep);
        }
        if (ev->type == SHOP_PRODUCT_UPSERTED) {
            switch (ev->change) {
            case SHOP_CHANGE_PRICE:
            case SHOP_CHANGE_UNPUBLISH:
            case SHOP_CHANGE_REPUBLISH:
                assert_true(ids_equal(&ev->categories_before, &ev->categories_after));
                assert_true(terms_equal(&ev->terms_before, &ev->terms_after));
                break;
            case SHOP_CHANGE_NAME:
                assert_true(ids_equal(&ev->categories_before, &ev->categories_after));
                assert_false(terms_equal(&ev->terms_before, &ev->terms_after));
                break;
            case SHOP_CHANGE_PRODUCT_MOVE:
            case SHOP_CHANGE_CASCADE_PRODUCT:
                assert_false(ids_equal(&ev->categories_before, &ev->categories_after));
                assert_true(terms_equal(&ev->terms_before, &ev->terms_after));
                break;
            default:
                break;
            }
            if (ev->change == SHOP_CHANGE_UNPUBLISH)
                assert_null(ev->representation);
            if (ev->change == SHOP_CHANGE_REPUBLISH || ev->initial ||
                ev->change == SHOP_CHANGE_PRODUCT_CREATE)
                assert_non_null(ev->representation);
        }
    }
    assert_true(shop_live_categories(shop) >= 1);
    shop_destroy(shop);
    tracker_free(&t);
}

static void test_model_is_consistent(void **state)
{
    (void)state;
    uint64_t by_change[SHOP_CHANGE_COUNT] = {0};
    /* A small shop, so category deletions find small categories and
     * cascade often enough to be checked. */
    check_run(11, 20, 150, true, 60000, by_change);
    for (int c = 0; c < SHOP_CHANGE_CART_CREATE; c++) { /* the changes of the catalog */
        if (by_change[c] == 0)
            fail_msg("change %s never happened", shop_change_name((enum shop_change)c));
    }
    /* The mix is roughly the documented one. */
    assert_true(by_change[SHOP_CHANGE_PRICE] > by_change[SHOP_CHANGE_IMAGE]);
    assert_true(by_change[SHOP_CHANGE_IMAGE] > by_change[SHOP_CHANGE_NAME]);
    assert_true(by_change[SHOP_CHANGE_CATEGORY_DELETE] < by_change[SHOP_CHANGE_NAME] / 10);
}

static void test_defaults_and_no_initial_are_consistent(void **state)
{
    (void)state;
    check_run(1, 60, 5000, true, 5060 + 5000, NULL);
    /* Without the sync the tracker only learns categories from changes, so
     * check a shop with a single category (always announced by a change)
     * separately from the chaining of versions. */
    struct shop *shop = new_shop(5, 10, 100, false);
    const struct shop_event *ev = next(shop, 0);
    assert_false(ev->initial);
    assert_true(ev->version == 2 || ev->change == SHOP_CHANGE_PRODUCT_CREATE ||
                ev->change == SHOP_CHANGE_CATEGORY_CREATE);
    shop_destroy(shop);
}

static void test_empty_catalog_starts_with_creations(void **state)
{
    (void)state;
    struct tracker t = {0};
    struct shop *shop = new_shop(2, 1, 0, true);
    const struct shop_event *ev = next(shop, 0);
    assert_int_equal(ev->type, SHOP_CATEGORY_UPSERTED);
    assert_true(ev->initial);
    assert_false(ev->has_parent);
    track(&t, ev);
    assert_false(shop_in_initial_sync(shop));
    for (int i = 1; i < 3000; i++)
        track(&t, next(shop, i));
    assert_true(shop_live_products(shop) > 0);
    shop_destroy(shop);
    tracker_free(&t);
}

static void test_bad_config(void **state)
{
    (void)state;
    char err[256] = "";
    struct shop_config cfg = {.seed = 1, .categories = 0, .products = 10, .initial_sync = true};
    assert_null(shop_new(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "categories"));
}

/* ------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------ */

static void assert_string_field(avro_value_t *rec, const char *name, const char *want)
{
    avro_value_t f;
    const char *s;
    size_t size = 0;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        fail_msg("no field %s", name);
    assert_int_equal(avro_value_get_string(&f, &s, &size), 0);
    assert_int_equal(size, strlen(want) + 1);
    assert_string_equal(s, want);
}

static void assert_array_field(avro_value_t *rec, const char *name, const char *base, size_t stride,
                               uint32_t count)
{
    avro_value_t f, item;
    size_t n = 0;
    const char *s;
    size_t size;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        fail_msg("no field %s", name);
    assert_int_equal(avro_value_get_size(&f, &n), 0);
    assert_int_equal(n, count);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(avro_value_get_by_index(&f, i, &item, NULL), 0);
        assert_int_equal(avro_value_get_string(&item, &s, &size), 0);
        assert_string_equal(s, base + i * stride);
    }
}

#define ASSERT_IDS(rec, name, list)                                                                \
    assert_array_field(rec, name, (list).ids[0], SHOP_ID_SIZE, (list).count)
#define ASSERT_TERMS(rec, name, list)                                                              \
    assert_array_field(rec, name, (list).terms[0], SHOP_TERM_SIZE, (list).count)

/* The optional string field: NULL wants null. */
static void assert_optional_field(avro_value_t *rec, const char *name, const char *want)
{
    avro_value_t f, branch;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        fail_msg("no field %s", name);
    assert_int_equal(avro_value_get_current_branch(&f, &branch), 0);
    if (!want) {
        assert_int_equal(avro_value_get_type(&branch), AVRO_NULL);
        return;
    }
    const char *s;
    size_t size = 0;
    assert_int_equal(avro_value_get_string(&branch, &s, &size), 0);
    assert_int_equal(size, strlen(want) + 1);
    assert_string_equal(s, want);
}

static void assert_decodes_to(avro_value_iface_t *iface, const void *datum, size_t len,
                              const struct shop_event *ev)
{
    avro_value_t v, f, body;
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    avro_reader_t reader = avro_reader_memory(datum, (int64_t)len);
    assert_non_null(reader);
    assert_int_equal(avro_value_read(reader, &v), 0);
    size_t size = 0;
    assert_int_equal(avro_value_sizeof(&v, &size), 0);
    assert_int_equal(size, len); /* the datum was read whole */

    assert_string_field(&v, "event_id", ev->event_id);
    int64_t l = 0;
    assert_int_equal(avro_value_get_by_name(&v, "version", &f, NULL), 0);
    assert_int_equal(avro_value_get_long(&f, &l), 0);
    assert_int_equal(l, ev->version);
    assert_int_equal(avro_value_get_by_name(&v, "occurred_at", &f, NULL), 0);
    assert_int_equal(avro_value_get_long(&f, &l), 0);
    assert_int_equal(l, ev->occurred_at);
    assert_int_equal(avro_value_get_by_name(&v, "body", &f, NULL), 0);
    assert_int_equal(avro_value_get_current_branch(&f, &body), 0);
    assert_string_equal(avro_schema_name(avro_value_get_schema(&body)),
                        shop_event_type_name(ev->type));

    switch (ev->type) {
    case SHOP_PRODUCT_UPSERTED:
        assert_string_field(&body, "product_id", ev->key);
        ASSERT_IDS(&body, "categories_before", ev->categories_before);
        ASSERT_IDS(&body, "categories_after", ev->categories_after);
        ASSERT_TERMS(&body, "search_terms_before", ev->terms_before);
        ASSERT_TERMS(&body, "search_terms_after", ev->terms_after);
        assert_optional_field(&body, "representation", ev->representation);
        break;
    case SHOP_PRODUCT_DELETED:
        assert_string_field(&body, "product_id", ev->key);
        ASSERT_IDS(&body, "categories_before", ev->categories_before);
        ASSERT_TERMS(&body, "search_terms_before", ev->terms_before);
        break;
    case SHOP_PRODUCT_RELATED_CHANGED:
        assert_string_field(&body, "product_id", ev->key);
        assert_string_field(&body, "related_model", ev->related_model);
        assert_string_field(&body, "related_id", ev->related_id);
        break;
    case SHOP_CATEGORY_UPSERTED: {
        int32_t i = 0;
        int b = 0;
        assert_string_field(&body, "category_id", ev->key);
        assert_optional_field(&body, "parent_id", ev->has_parent ? ev->parent_id : NULL);
        assert_string_field(&body, "name", ev->name);
        assert_string_field(&body, "slug", ev->slug);
        assert_int_equal(avro_value_get_by_name(&body, "position", &f, NULL), 0);
        assert_int_equal(avro_value_get_int(&f, &i), 0);
        assert_int_equal(i, ev->position);
        assert_int_equal(avro_value_get_by_name(&body, "visible", &f, NULL), 0);
        assert_int_equal(avro_value_get_boolean(&f, &b), 0);
        assert_int_equal(b != 0, ev->visible);
        break;
    }
    case SHOP_CATEGORY_DELETED:
        assert_string_field(&body, "category_id", ev->key);
        break;
    default:
        fail();
    }
    avro_reader_free(reader);
    avro_value_decref(&v);
}

static void test_datums_decode_back(void **state)
{
    (void)state;
    struct shop *shop = new_shop(21, 20, 150, true);
    struct sim_encoder *enc = new_encoder(SIM_FRAMING_PLAIN);
    avro_value_iface_t *iface = avro_generic_class_from_schema(sim_encoder_schema(enc));
    assert_non_null(iface);
    int seen[SHOP_EVENT_TYPE_COUNT] = {0};
    for (int i = 0; i < 30000; i++) {
        const struct shop_event *ev = next(shop, i);
        const void *data;
        size_t len;
        encode(enc, ev, &data, &len);
        assert_decodes_to(iface, data, len, ev);
        seen[ev->type]++;
    }
    for (int t = 0; t < SHOP_EVENT_TYPE_COUNT; t++)
        assert_int_equal(seen[t] > 0,
                         shop_event_type_topic((enum shop_event_type)t) == SHOP_TOPIC_PRODUCTS);
    avro_value_iface_decref(iface);
    sim_encoder_destroy(enc);
    shop_destroy(shop);
}

static void test_framing(void **state)
{
    (void)state;
    avro_schema_t schema;
    int32_t schema_id;
    char err[512];
    assert_int_equal(sim_schema_load(cf_test_schemas_dir(), "products.avsc", &schema, &schema_id,
                                     err, sizeof(err)),
                     0);
    avro_schema_decref(schema);
    assert_true(schema_id >= 0);

    struct shop *a = new_shop(4, 10, 20, true);
    struct shop *b = new_shop(4, 10, 20, true);
    struct sim_encoder *confluent = new_encoder(SIM_FRAMING_CONFLUENT);
    struct sim_encoder *plain = new_encoder(SIM_FRAMING_PLAIN);
    assert_int_equal(sim_encoder_schema_id(confluent), schema_id);
    for (int i = 0; i < 200; i++) {
        const void *cd, *pd;
        size_t cl, pl;
        encode(confluent, next(a, i), &cd, &cl);
        encode(plain, next(b, i), &pd, &pl);
        const unsigned char *c = cd;
        assert_int_equal(cl, pl + SIM_CONFLUENT_HEADER);
        assert_int_equal(c[0], 0x00);
        uint32_t id = (uint32_t)c[1] << 24 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 8 | c[4];
        assert_int_equal(id, (uint32_t)schema_id);
        assert_memory_equal(c + SIM_CONFLUENT_HEADER, pd, pl);
        /* The plain datum starts with the event id's length (zig-zag varint)
         * and the id itself. */
        const unsigned char *p = pd;
        assert_int_equal(p[0], SIM_UUID_LEN * 2);
    }
    sim_encoder_destroy(confluent);
    sim_encoder_destroy(plain);
    shop_destroy(a);
    shop_destroy(b);

    enum sim_framing f;
    assert_int_equal(sim_framing_parse("confluent", &f), 0);
    assert_int_equal(f, SIM_FRAMING_CONFLUENT);
    assert_int_equal(sim_framing_parse("plain", &f), 0);
    assert_int_equal(f, SIM_FRAMING_PLAIN);
    assert_int_equal(sim_framing_parse("avro", &f), -1);
}

/* A schema without the id works plain and is refused for Confluent framing;
 * a broken schema names its file. */
static void test_schema_errors(void **state)
{
    (void)state;
    char dir[512], path[600], err[512];
    cf_test_tmpdir("sim", dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/products.avsc", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"type\":\"record\",\"name\":\"E\",\"fields\":["
          "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"long\"},"
          "{\"name\":\"occurred_at\",\"type\":\"long\"},{\"name\":\"body\",\"type\":["
          "{\"type\":\"record\",\"name\":\"CategoryDeleted\",\"fields\":["
          "{\"name\":\"category_id\",\"type\":\"string\"}]}]}]}",
          f);
    fclose(f);
    struct sim_encoder *enc =
        sim_encoder_new(dir, "products.avsc", SIM_FRAMING_CONFLUENT, err, sizeof(err));
    assert_null(enc);
    assert_non_null(strstr(err, "cachefleet.schema_id"));
    enc = sim_encoder_new(dir, "products.avsc", SIM_FRAMING_PLAIN, err, sizeof(err));
    assert_non_null(enc);
    assert_int_equal(sim_encoder_schema_id(enc), -1);
    sim_encoder_destroy(enc);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"type\":\"record\",", f);
    fclose(f);
    assert_null(sim_encoder_new(dir, "products.avsc", SIM_FRAMING_PLAIN, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_null(sim_encoder_new(dir, "missing.avsc", SIM_FRAMING_PLAIN, err, sizeof(err)));
    assert_non_null(strstr(err, "missing.avsc"));
    cf_test_rmtree(dir);
}

/* ------------------------------------------------------------------------
 * Event log
 * ------------------------------------------------------------------------ */

static void test_event_log_has_every_field(void **state)
{
    (void)state;
    struct shop *shop = new_shop(9, 20, 100, true);
    struct sim_encoder *enc = new_encoder(SIM_FRAMING_CONFLUENT);
    avro_schema_t body_schema = avro_schema_record_field_get(sim_encoder_schema(enc), "body");
    char err[512];
    for (int i = 0; i < 3000; i++) {
        const struct shop_event *ev = next(shop, i);
        const void *data;
        size_t len;
        encode(enc, ev, &data, &len);
        json_t *line = sim_eventlog_line("shop.products", ev->key, 3, sim_encoder_value(enc), err,
                                         sizeof(err));
        if (!line)
            fail_msg("eventlog: %s", err);
        /* Round trip through text, as the oracle reads it. */
        char *text = json_dumps(line, JSON_COMPACT);
        json_decref(line);
        assert_non_null(text);
        assert_null(strchr(text, '\n'));
        line = json_loads(text, 0, NULL);
        free(text);
        assert_non_null(line);

        assert_string_equal(json_string_value(json_object_get(line, "topic")), "shop.products");
        assert_string_equal(json_string_value(json_object_get(line, "key")), ev->key);
        assert_int_equal(json_integer_value(json_object_get(line, "partition")), 3);
        assert_string_equal(json_string_value(json_object_get(line, "event_id")), ev->event_id);
        assert_int_equal(json_integer_value(json_object_get(line, "version")), ev->version);
        assert_int_equal(json_integer_value(json_object_get(line, "occurred_at")), ev->occurred_at);
        const char *type = json_string_value(json_object_get(line, "type"));
        assert_string_equal(type, shop_event_type_name(ev->type));
        json_t *fields = json_object_get(line, "fields");
        assert_true(json_is_object(fields));

        int disc = -1;
        avro_schema_t rec = avro_schema_union_branch_by_name(body_schema, &disc, type);
        assert_non_null(rec);
        size_t n = avro_schema_record_size(rec);
        assert_int_equal(json_object_size(fields), n);
        for (size_t k = 0; k < n; k++)
            assert_non_null(json_object_get(fields, avro_schema_record_field_name(rec, (int)k)));
        if (ev->type == SHOP_PRODUCT_UPSERTED) {
            json_t *rep = json_object_get(fields, "representation");
            if (ev->representation)
                assert_string_equal(json_string_value(rep), ev->representation);
            else
                assert_true(json_is_null(rep));
            assert_int_equal(json_array_size(json_object_get(fields, "categories_after")),
                             ev->categories_after.count);
        }
        json_decref(line);
    }
    sim_encoder_destroy(enc);
    shop_destroy(shop);
}

static void test_event_log_file(void **state)
{
    (void)state;
    char dir[512], path[600], err[512];
    cf_test_tmpdir("sim", dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/events.jsonl", dir);
    struct sim_eventlog *log = sim_eventlog_open(path, err, sizeof(err));
    assert_non_null(log);
    struct shop *shop = new_shop(9, 5, 5, true);
    struct sim_encoder *enc = new_encoder(SIM_FRAMING_CONFLUENT);
    for (int i = 0; i < 50; i++) {
        const struct shop_event *ev = next(shop, i);
        const void *data;
        size_t len;
        encode(enc, ev, &data, &len);
        assert_int_equal(sim_eventlog_write(log, "shop.products", ev->key, -1,
                                            sim_encoder_value(enc), err, sizeof(err)),
                         0);
    }
    assert_int_equal(sim_eventlog_close(log, err, sizeof(err)), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192];
    int lines = 0;
    while (fgets(line, sizeof(line), f)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "partition")), -1);
        json_decref(j);
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, 50);
    sim_encoder_destroy(enc);
    shop_destroy(shop);
    cf_test_rmtree(dir);

    assert_null(sim_eventlog_open("/nonexistent-dir/x.jsonl", err, sizeof(err)));
    assert_non_null(strstr(err, "--log-events"));
}

/* ------------------------------------------------------------------------
 * All five topics
 * ------------------------------------------------------------------------ */

static struct shop *new_world(uint64_t seed, uint32_t products, uint32_t users, uint32_t topics,
                              bool initial)
{
    char err[256];
    struct shop_config cfg = {.seed = seed,
                              .categories = 20,
                              .products = products,
                              .initial_sync = initial,
                              .topics = topics,
                              .users = users};
    struct shop *shop = shop_new(&cfg, err, sizeof(err));
    if (!shop)
        fail_msg("shop_new: %s", err);
    return shop;
}

struct encoders {
    struct sim_encoder *enc[SHOP_TOPIC_COUNT];
    avro_value_iface_t *iface[SHOP_TOPIC_COUNT];
};

static void encoders_new(struct encoders *e, enum sim_framing framing)
{
    char err[512];
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
        e->enc[t] =
            sim_encoder_new(cf_test_schemas_dir(), sim_topic_schema_file((enum shop_topic)t),
                            framing, err, sizeof(err));
        if (!e->enc[t])
            fail_msg("sim_encoder_new %s: %s", sim_topic_schema_file((enum shop_topic)t), err);
        e->iface[t] = avro_generic_class_from_schema(sim_encoder_schema(e->enc[t]));
        assert_non_null(e->iface[t]);
    }
}

static void encoders_free(struct encoders *e)
{
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
        avro_value_iface_decref(e->iface[t]);
        sim_encoder_destroy(e->enc[t]);
    }
}

static void encode_any(struct encoders *e, const struct shop_event *ev, const void **data,
                       size_t *len)
{
    char err[512];
    if (sim_encode_event(e->enc[ev->topic], ev, data, len, err, sizeof(err)) < 0)
        fail_msg("encode %s %s: %s", shop_event_type_name(ev->type), ev->key, err);
}

/* A safe key part: [A-Za-z0-9._-], 1 to 128 bytes. */
static bool safe_key(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void assert_safe_key(const char *s, const char *what)
{
    if (!safe_key(s))
        fail_msg("%s \"%s\" is not a safe key part", what, s);
}

static bool session_key_ok(const char *s)
{
    if (strlen(s) != SHOP_SESSION_KEY_LEN)
        return false;
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    }
    return true;
}

/* "129.90" -> 12990; -1 when it is not a decimal amount with 2 decimals. */
static long long money_cents(const char *s)
{
    const char *dot = s ? strchr(s, '.') : NULL;
    if (!dot || dot == s || strlen(dot) != 3)
        return -1;
    long long units = 0;
    for (const char *p = s; p < dot; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        units = units * 10 + (*p - '0');
    }
    if (dot[1] < '0' || dot[1] > '9' || dot[2] < '0' || dot[2] > '9')
        return -1;
    return units * 100 + (dot[1] - '0') * 10 + (dot[2] - '0');
}

/* Reads the datum back with the topic's schema and compares it with ev
 * through the event log's decoder (every field of the body record). */
static void assert_datum_matches(struct encoders *e, const struct shop_event *ev, const void *data,
                                 size_t len)
{
    char err[512];
    avro_value_t v, f, body;
    assert_int_equal(avro_generic_value_new(e->iface[ev->topic], &v), 0);
    avro_reader_t reader = avro_reader_memory(data, (int64_t)len);
    assert_non_null(reader);
    assert_int_equal(avro_value_read(reader, &v), 0);
    size_t size = 0;
    assert_int_equal(avro_value_sizeof(&v, &size), 0);
    assert_int_equal(size, len);
    assert_string_field(&v, "event_id", ev->event_id);
    int64_t l = -1;
    assert_int_equal(avro_value_get_by_name(&v, "version", &f, NULL), 0);
    assert_int_equal(avro_value_get_long(&f, &l), 0);
    assert_int_equal(l, ev->version);
    assert_true(l >= 1);
    assert_int_equal(avro_value_get_by_name(&v, "body", &f, NULL), 0);
    assert_int_equal(avro_value_get_current_branch(&f, &body), 0);
    assert_string_equal(avro_schema_name(avro_value_get_schema(&body)),
                        shop_event_type_name(ev->type));
    json_t *j = sim_avro_to_json(&body, err, sizeof(err));
    if (!j)
        fail_msg("decode %s: %s", shop_event_type_name(ev->type), err);
#define FIELD_STR(name) json_string_value(json_object_get(j, name))
    switch (ev->type) {
    case SHOP_CART_UPDATED:
        assert_string_equal(FIELD_STR("cart_id"), ev->key);
        assert_string_equal(FIELD_STR("change"), shop_cart_change_symbol(ev->cart_change));
        assert_string_equal(FIELD_STR("cart"), ev->cart);
        if (ev->has_user)
            assert_string_equal(FIELD_STR("user_id"), ev->user_id);
        else
            assert_true(json_is_null(json_object_get(j, "user_id")));
        break;
    case SHOP_CART_DELETED:
        assert_string_equal(FIELD_STR("cart_id"), ev->key);
        break;
    case SHOP_CART_MERGED:
        assert_string_equal(FIELD_STR("target_cart_id"), ev->key);
        assert_string_equal(FIELD_STR("source_cart_id"), ev->source_cart_id);
        assert_string_equal(FIELD_STR("user_id"), ev->user_id);
        assert_string_equal(FIELD_STR("cart"), ev->cart);
        break;
    case SHOP_ORDER_COMPLETED:
        assert_string_equal(FIELD_STR("order_id"), ev->key);
        assert_string_equal(FIELD_STR("cart_id"), ev->cart_id);
        assert_string_equal(FIELD_STR("total"), ev->total);
        assert_string_equal(FIELD_STR("currency"), ev->currency);
        if (ev->has_user)
            assert_string_equal(FIELD_STR("user_id"), ev->user_id);
        else
            assert_true(json_is_null(json_object_get(j, "user_id")));
        break;
    case SHOP_USER_ROLES_CHANGED: {
        assert_string_equal(FIELD_STR("user_id"), ev->key);
        json_t *before = json_object_get(j, "roles_before"),
               *after = json_object_get(j, "roles_after");
        assert_int_equal(json_array_size(before), ev->roles_before.count);
        assert_int_equal(json_array_size(after), ev->roles_after.count);
        for (uint32_t i = 0; i < ev->roles_before.count; i++)
            assert_string_equal(json_string_value(json_array_get(before, i)),
                                ev->roles_before.names[i]);
        for (uint32_t i = 0; i < ev->roles_after.count; i++)
            assert_string_equal(json_string_value(json_array_get(after, i)),
                                ev->roles_after.names[i]);
        json_t *perms = json_object_get(j, "permissions");
        if (!ev->has_permissions) {
            assert_true(json_is_null(perms));
            break;
        }
        assert_int_equal(json_array_size(perms), ev->permissions.count);
        for (uint32_t i = 0; i < ev->permissions.count; i++)
            assert_string_equal(json_string_value(json_array_get(perms, i)),
                                ev->permissions.names[i]);
        break;
    }
    case SHOP_ROLE_PERMISSIONS_CHANGED: {
        assert_string_equal(FIELD_STR("role_id"), ev->key);
        json_t *perms = json_object_get(j, "permissions");
        assert_int_equal(json_array_size(perms), ev->permissions.count);
        for (uint32_t i = 0; i < ev->permissions.count; i++)
            assert_string_equal(json_string_value(json_array_get(perms, i)),
                                ev->permissions.names[i]);
        break;
    }
    case SHOP_USER_LOGGED_IN:
    case SHOP_USER_LOGGED_OUT:
        assert_string_equal(FIELD_STR("user_id"), ev->key);
        assert_string_equal(FIELD_STR("session_key"), ev->session_key);
        break;
    case SHOP_USER_LOGGED_OUT_EVERYWHERE:
    case SHOP_USER_PASSWORD_CHANGED:
    case SHOP_USER_DEACTIVATED:
        assert_string_equal(FIELD_STR("user_id"), ev->key);
        break;
    case SHOP_STOCK_MOVED:
        assert_string_equal(FIELD_STR("sku"), ev->key);
        assert_string_equal(FIELD_STR("product_id"), ev->product_id);
        assert_string_equal(FIELD_STR("kind"), shop_movement_symbol(ev->movement));
        assert_int_equal(json_integer_value(json_object_get(j, "quantity_delta")),
                         ev->quantity_delta);
        assert_int_equal(json_integer_value(json_object_get(j, "on_hand")), ev->on_hand);
        break;
    default:
        /* Products: the products tests check them field by field. */
        assert_int_equal(ev->topic, SHOP_TOPIC_PRODUCTS);
        break;
    }
#undef FIELD_STR
    json_decref(j);
    avro_reader_free(reader);
    avro_value_decref(&v);
}

static void test_topics_parse(void **state)
{
    (void)state;
    char err[256];
    uint32_t m = 0;
    assert_int_equal(shop_topics_parse("products,carts,orders,access,stock", &m, err, sizeof(err)),
                     0);
    assert_int_equal(m, SHOP_TOPICS_ALL);
    assert_int_equal(shop_topics_parse(" stock , carts", &m, err, sizeof(err)), 0);
    assert_int_equal(m, SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK) | SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS));
    assert_int_equal(shop_topics_parse("products", &m, err, sizeof(err)), 0);
    assert_int_equal(m, SHOP_TOPIC_BIT(SHOP_TOPIC_PRODUCTS));
    m = 77;
    assert_int_equal(shop_topics_parse("products,", &m, err, sizeof(err)), -1);
    assert_int_equal(m, 77);
    assert_int_equal(shop_topics_parse("", &m, err, sizeof(err)), -1);
    assert_int_equal(shop_topics_parse("cart", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "\"cart\""));
    assert_int_equal(shop_topics_parse("stock,stock", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(shop_topics_parse("sto ck", &m, err, sizeof(err)), -1);
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++) {
        assert_int_equal(
            shop_topics_parse(shop_topic_name((enum shop_topic)t), &m, err, sizeof(err)), 0);
        assert_int_equal(m, SHOP_TOPIC_BIT(t));
    }
    for (int type = 0; type < SHOP_EVENT_TYPE_COUNT; type++)
        assert_true(shop_event_type_topic((enum shop_event_type)type) < SHOP_TOPIC_COUNT);

    /* Carts, orders and stock need something to sell. */
    struct shop_config cfg = {.seed = 1,
                              .categories = 3,
                              .products = 0,
                              .initial_sync = true,
                              .topics = SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK)};
    assert_null(shop_new(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "products"));
    cfg.topics = SHOP_TOPIC_BIT(SHOP_TOPIC_ACCESS);
    struct shop *shop = shop_new(&cfg, err, sizeof(err));
    assert_non_null(shop);
    shop_destroy(shop);
    cfg.topics = 1u << SHOP_TOPIC_COUNT;
    assert_null(shop_new(&cfg, err, sizeof(err)));
}

/* Same seed, same bytes on every topic; another seed, other bytes. */
static struct recording run_world(uint64_t seed, int events)
{
    struct recording r = {0};
    struct shop *shop = new_world(seed, 300, 200, SHOP_TOPICS_ALL, true);
    struct encoders e;
    encoders_new(&e, SIM_FRAMING_CONFLUENT);
    for (int i = 0; i < events; i++) {
        const struct shop_event *ev = next(shop, i);
        const void *data;
        size_t len;
        encode_any(&e, ev, &data, &len);
        unsigned char topic = (unsigned char)ev->topic;
        record(&r, &topic, 1);
        record(&r, ev->key, strlen(ev->key));
        record(&r, data, len);
    }
    encoders_free(&e);
    shop_destroy(shop);
    return r;
}

static void test_all_topics_same_seed_same_bytes(void **state)
{
    (void)state;
    struct recording a = run_world(7, 20000);
    struct recording b = run_world(7, 20000);
    struct recording c = run_world(8, 20000);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.bytes, b.bytes, a.len);
    assert_true(a.len != c.len || memcmp(a.bytes, c.bytes, a.len) != 0);
    free(a.bytes);
    free(b.bytes);
    free(c.bytes);
}

/* Skipping the sync of every topic changes event ids only. */
static void test_all_topics_no_initial_keeps_the_changes(void **state)
{
    (void)state;
    struct shop *with = new_world(3, 200, 150, SHOP_TOPICS_ALL, true);
    struct shop *without = new_world(3, 200, 150, SHOP_TOPICS_ALL, false);
    int sync = 0;
    uint32_t sync_topics = 0;
    while (shop_in_initial_sync(with)) {
        const struct shop_event *ev = next(with, sync++);
        assert_true(ev->initial);
        assert_int_equal(ev->version, 1);
        sync_topics |= SHOP_TOPIC_BIT(ev->topic);
    }
    /* Orders and carts have nothing to sync. */
    assert_int_equal(sync_topics, SHOP_TOPIC_BIT(SHOP_TOPIC_PRODUCTS) |
                                      SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK) |
                                      SHOP_TOPIC_BIT(SHOP_TOPIC_ACCESS));
    assert_true(sync > 20 + 200 + 200 + 5 + 150);
    for (int i = 0; i < 20000; i++) {
        const struct shop_event *a = next(with, i);
        struct shop_event copy = *a;
        const struct shop_event *b = next(without, i);
        assert_false(copy.initial);
        assert_false(b->initial);
        assert_int_equal(copy.topic, b->topic);
        assert_int_equal(copy.type, b->type);
        assert_int_equal(copy.change, b->change);
        assert_string_equal(copy.key, b->key);
        assert_int_equal(copy.version, b->version);
        assert_int_equal(copy.on_hand, b->on_hand);
        assert_string_equal(copy.session_key, b->session_key);
        /* The ids of a topic with a sync moved on; carts and orders have none. */
        if (sync_topics & SHOP_TOPIC_BIT(copy.topic))
            assert_string_not_equal(copy.event_id, b->event_id);
        else
            assert_string_equal(copy.event_id, b->event_id);
    }
    shop_destroy(with);
    shop_destroy(without);
}

/* The catalog's decisions do not depend on the other topics: the products
 * events of a five-topic run are those of a products-only run (only the
 * availability in representations may differ, and the event ids match). */
static void test_products_stream_unchanged_by_other_topics(void **state)
{
    (void)state;
    struct shop *alone = new_world(5, 300, 200, SHOP_TOPIC_BIT(SHOP_TOPIC_PRODUCTS), true);
    struct shop *all = new_world(5, 300, 200, SHOP_TOPICS_ALL, true);
    int products = 0;
    for (int i = 0; products < 5000; i++) {
        const struct shop_event *b = next(all, i);
        if (b->topic != SHOP_TOPIC_PRODUCTS)
            continue;
        struct shop_event copy = *b;
        const struct shop_event *a = next(alone, products++);
        assert_int_equal(a->topic, SHOP_TOPIC_PRODUCTS);
        assert_int_equal(a->type, copy.type);
        assert_int_equal(a->change, copy.change);
        assert_string_equal(a->key, copy.key);
        assert_int_equal(a->version, copy.version);
        assert_string_equal(a->event_id, copy.event_id);
        assert_true(ids_equal(&a->categories_after, &copy.categories_after));
        assert_true(terms_equal(&a->terms_after, &copy.terms_after));
        assert_int_equal(a->representation == NULL, copy.representation == NULL);
    }
    shop_destroy(alone);
    shop_destroy(all);
}

/* ---- the world tracker: what the events of every topic said ---- */

#define ROLES_MAX 16

struct w_product {
    bool seen, alive, published;
};

struct w_cart {
    bool seen, gone;
    int64_t version;
    bool has_user;
    char user[SHOP_KEY_SIZE];
    json_t *items; /* of the last cart JSON */
    long long total;
};

struct w_sku {
    bool seen;
    int64_t version, on_hand;
    bool hit_zero, back; /* reached 0 in a change, and came back after */
};

struct w_user {
    bool seen, deactivated, roles_known;
    int64_t version;
    struct shop_name_list roles; /* names point into the static tables of the model */
    char (*sessions)[SHOP_SESSION_KEY_LEN + 1];
    size_t nsessions, cap;
};

struct w_role {
    char id[SHOP_KEY_SIZE];
    int64_t version;
    struct shop_name_list permissions;
};

struct pending_purchase {
    char sku[SHOP_KEY_SIZE];
    long long quantity;
};

struct world {
    struct w_product *products;
    size_t nproducts;
    struct w_cart *carts;
    size_t ncarts;
    struct w_sku *skus; /* [product * 4 + n] */
    size_t nskus;
    struct w_user *users;
    size_t nusers;
    struct w_role roles[ROLES_MAX];
    size_t nroles;
    bool *orders;
    size_t norders;
    struct pending_purchase pending[16];
    size_t npending, pending_head;
    const struct shop_event *prev; /* copy of the previous event */
    struct shop_event prev_copy;
    bool have_prev;
    uint32_t emitted; /* topics handed out */
    uint64_t sold_out, came_back, merges, fixes, guest_orders, user_orders, logins_merged;
    uint64_t by_topic[SHOP_TOPIC_COUNT];
};

static size_t num_id(const char *key)
{
    char *end = NULL;
    unsigned long v = strtoul(key, &end, 10);
    if (!end || *end != '\0' || v == 0)
        fail_msg("\"%s\" is not a decimal id", key);
    return v;
}

static struct w_product *w_product(struct world *w, const char *key)
{
    size_t id = num_id(key);
    w->products = grow(w->products, &w->nproducts, sizeof(*w->products), id);
    return &w->products[id];
}

static struct w_cart *w_cart(struct world *w, const char *key)
{
    size_t id = num_id(key);
    w->carts = grow(w->carts, &w->ncarts, sizeof(*w->carts), id);
    return &w->carts[id];
}

static struct w_user *w_user(struct world *w, const char *key)
{
    size_t id = num_id(key);
    w->users = grow(w->users, &w->nusers, sizeof(*w->users), id);
    return &w->users[id];
}

/* "SKU-<product>-<n>": its tracker; *product gets the product id. */
static struct w_sku *w_sku(struct world *w, const char *sku, size_t *product)
{
    unsigned long p = 0, n = 0;
    char *end = NULL;
    bool ok = strncmp(sku, "SKU-", 4) == 0 && sku[4] >= '1' && sku[4] <= '9';
    if (ok) {
        p = strtoul(sku + 4, &end, 10);
        ok = *end == '-' && end[1] >= '1' && end[1] <= '3' && end[2] == '\0';
        n = ok ? (unsigned long)(end[1] - '0') : 0;
    }
    if (!ok)
        fail_msg("\"%s\" is not a SKU of the model", sku);
    *product = p;
    size_t i = p * 4 + n;
    w->skus = grow(w->skus, &w->nskus, sizeof(*w->skus), i);
    return &w->skus[i];
}

static struct w_role *w_role(struct world *w, const char *id)
{
    for (size_t i = 0; i < w->nroles; i++) {
        if (strcmp(w->roles[i].id, id) == 0)
            return &w->roles[i];
    }
    assert_true(w->nroles < ROLES_MAX);
    struct w_role *r = &w->roles[w->nroles++];
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", id);
    return r;
}

static void world_free(struct world *w)
{
    for (size_t i = 0; i < w->ncarts; i++)
        json_decref(w->carts[i].items);
    for (size_t i = 0; i < w->nusers; i++)
        free(w->users[i].sessions);
    free(w->products);
    free(w->carts);
    free(w->skus);
    free(w->users);
    free(w->orders);
}

/* A version check: the first event of an entity is version 1 (or 2 for
 * an entity the skipped sync would have announced), then +1 each time. */
static void w_version(bool *seen, int64_t *version, const struct shop_event *ev,
                      bool may_start_late)
{
    if (*seen) {
        if (ev->version != *version + 1)
            fail_msg("%s %s: version %lld after %lld", shop_event_type_name(ev->type), ev->key,
                     (long long)ev->version, (long long)*version);
    } else {
        assert_true(ev->version == 1 || (may_start_late && ev->version == 2));
    }
    *seen = true;
    *version = ev->version;
}

/* Checks a cart JSON against the event, the catalog and the cart's last
 * state; records it as the cart's state. */
static void w_cart_json(struct world *w, struct w_cart *c, const struct shop_event *ev, bool merged)
{
    json_error_t jerr;
    assert_non_null(ev->cart);
    assert_int_equal(strlen(ev->cart), ev->cart_len);
    assert_true(ev->cart_len < 4096);
    json_t *cart = json_loadb(ev->cart, ev->cart_len, 0, &jerr);
    if (!cart)
        fail_msg("cart %s is not JSON: %s", ev->key, jerr.text);
    assert_string_equal(json_string_value(json_object_get(cart, "id")), ev->key);
    json_t *user = json_object_get(cart, "user_id");
    if (ev->has_user)
        assert_string_equal(json_string_value(user), ev->user_id);
    else
        assert_true(json_is_null(user));
    assert_int_equal(strlen(json_string_value(json_object_get(cart, "currency"))), 3);
    assert_true(json_is_string(json_object_get(cart, "updated_at")));
    json_t *items = json_object_get(cart, "items");
    size_t n = json_array_size(items);
    assert_true(n >= 1 && n <= 8);
    long long total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        const char *pid = json_string_value(json_object_get(it, "product_id"));
        const char *sku = json_string_value(json_object_get(it, "sku"));
        assert_non_null(pid);
        assert_non_null(sku);
        assert_safe_key(pid, "product_id");
        assert_safe_key(sku, "sku");
        size_t product = 0;
        w_sku(w, sku, &product);
        assert_int_equal(product, num_id(pid));
        assert_true(strlen(json_string_value(json_object_get(it, "name"))) > 0);
        json_int_t q = json_integer_value(json_object_get(it, "quantity"));
        assert_true(q >= 1 && q <= 10);
        long long price = money_cents(json_string_value(json_object_get(it, "unit_price")));
        assert_true(price > 0);
        total += q * price;
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(
                json_string_value(json_object_get(json_array_get(items, k), "sku")),
                sku); /* one line per SKU */
        /* No new line of a product gone from the catalog: a line of one is
         * one the cart had already (and a merge drops them all). */
        struct w_product *p = w_product(w, pid);
        if (p->seen && (!p->alive || !p->published)) {
            assert_false(merged);
            bool had = false;
            for (size_t k = 0; c->items && k < json_array_size(c->items); k++)
                had |=
                    strcmp(json_string_value(json_object_get(json_array_get(c->items, k), "sku")),
                           sku) == 0;
            if (!had)
                fail_msg("cart %s got a new line of product %s, which is gone", ev->key, pid);
        }
    }
    assert_int_equal(money_cents(json_string_value(json_object_get(cart, "total"))), total);
    json_decref(c->items);
    c->items = json_incref(items);
    c->total = total;
    c->has_user = ev->has_user;
    snprintf(c->user, sizeof(c->user), "%s", ev->user_id);
    json_decref(cart);
}

static bool w_session_live(const struct w_user *u, const char *key)
{
    for (size_t i = 0; i < u->nsessions; i++) {
        if (strcmp(u->sessions[i], key) == 0)
            return true;
    }
    return false;
}

static bool w_user_online(struct world *w, const char *user)
{
    return w_user(w, user)->nsessions > 0;
}

/* The permissions a user with roles has, from the roles' last lists;
 * false when a role's list is unknown (no sync). */
static bool w_expected_permissions(struct world *w, const struct shop_name_list *roles,
                                   const char **out, uint32_t *count)
{
    *count = 0;
    for (uint32_t i = 0; i < roles->count; i++) {
        struct w_role *r = w_role(w, roles->names[i]);
        if (r->version == 0)
            return false;
        for (uint32_t k = 0; k < r->permissions.count; k++) {
            bool dup = false;
            for (uint32_t m = 0; m < *count; m++)
                dup |= strcmp(out[m], r->permissions.names[k]) == 0;
            if (!dup)
                out[(*count)++] = r->permissions.names[k];
        }
    }
    /* Sorted, as the model lists codenames. */
    for (uint32_t i = 1; i < *count; i++) {
        for (uint32_t k = i; k > 0 && strcmp(out[k - 1], out[k]) > 0; k--) {
            const char *t = out[k];
            out[k] = out[k - 1];
            out[k - 1] = t;
        }
    }
    return true;
}

static void w_track(struct world *w, const struct shop_event *ev)
{
    assert_int_equal(strlen(ev->event_id), SIM_UUID_LEN);
    assert_int_equal(shop_event_type_topic(ev->type), ev->topic);
    assert_true(w->emitted & SHOP_TOPIC_BIT(ev->topic));
    assert_safe_key(ev->key, "key");
    if (ev->has_user)
        assert_safe_key(ev->user_id, "user_id");
    if (ev->type == SHOP_STOCK_MOVED)
        assert_safe_key(ev->product_id, "product_id");
    if (ev->representation) {
        json_t *rep = json_loadb(ev->representation, ev->representation_len, 0, NULL);
        assert_true(json_is_object(rep));
        json_decref(rep);
    }
    w->by_topic[ev->topic]++;
    bool late = !ev->initial; /* without the sync, an old entity's first change is 2 */

    /* The purchases of an order follow it at once, line by line. */
    if (w->npending > 0) {
        struct pending_purchase *pp = &w->pending[w->pending_head];
        if (ev->type != SHOP_STOCK_MOVED || ev->movement != SHOP_MOVEMENT_PURCHASE)
            fail_msg("%s %s came before the purchase of %s", shop_event_type_name(ev->type),
                     ev->key, pp->sku);
        assert_string_equal(ev->key, pp->sku);
        assert_int_equal(ev->quantity_delta, -pp->quantity);
        w->pending_head++;
        w->npending--;
    } else if (ev->type == SHOP_STOCK_MOVED && (w->emitted & SHOP_TOPIC_BIT(SHOP_TOPIC_ORDERS)) &&
               (w->emitted & SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS))) {
        assert_int_not_equal(ev->movement, SHOP_MOVEMENT_PURCHASE); /* only after an order */
    }

    switch (ev->type) {
    case SHOP_PRODUCT_UPSERTED: {
        struct w_product *p = w_product(w, ev->key);
        p->seen = p->alive = true;
        p->published = ev->representation != NULL;
        break;
    }
    case SHOP_PRODUCT_DELETED: {
        struct w_product *p = w_product(w, ev->key);
        p->seen = true;
        p->alive = false;
        break;
    }
    case SHOP_PRODUCT_RELATED_CHANGED:
    case SHOP_CATEGORY_UPSERTED:
    case SHOP_CATEGORY_DELETED:
        break;

    case SHOP_CART_UPDATED:
    case SHOP_CART_MERGED: {
        struct w_cart *c = w_cart(w, ev->key);
        assert_false(c->gone); /* ordered, deleted or merged away: never again */
        bool was_seen = c->seen;
        w_version(&c->seen, &c->version, ev, false);
        if (ev->type == SHOP_CART_UPDATED)
            assert_true(was_seen ? ev->cart_change != SHOP_CART_CREATED
                                 : ev->cart_change == SHOP_CART_CREATED);
        if (was_seen)
            assert_int_equal(c->has_user, ev->has_user); /* a cart keeps its owner */
        if (ev->has_user && (w->emitted & SHOP_TOPIC_BIT(SHOP_TOPIC_ACCESS)) &&
            !w_user_online(w, ev->user_id))
            fail_msg("cart %s of user %s changed while the user is offline", ev->key, ev->user_id);
        if (ev->change == SHOP_CHANGE_CART_FIX)
            w->fixes++;
        if (ev->type == SHOP_CART_MERGED) {
            assert_true(ev->has_user);
            assert_safe_key(ev->source_cart_id, "source_cart_id");
            assert_string_not_equal(ev->source_cart_id, ev->key);
            struct w_cart *s = w_cart(w, ev->source_cart_id);
            assert_true(s->seen && !s->gone && !s->has_user); /* a visitor's cart */
            s->gone = true;
            json_decref(s->items);
            s->items = NULL;
            w->merges++;
            /* The user logged in just before. */
            if (w->emitted & SHOP_TOPIC_BIT(SHOP_TOPIC_ACCESS)) {
                assert_true(w->have_prev && w->prev_copy.type == SHOP_USER_LOGGED_IN);
                assert_string_equal(w->prev_copy.key, ev->user_id);
                w->logins_merged++;
            }
        }
        w_cart_json(w, c, ev, ev->type == SHOP_CART_MERGED);
        break;
    }
    case SHOP_CART_DELETED: {
        struct w_cart *c = w_cart(w, ev->key);
        assert_false(c->gone);
        w_version(&c->seen, &c->version, ev, false);
        c->gone = true;
        json_decref(c->items);
        c->items = NULL;
        break;
    }
    case SHOP_ORDER_COMPLETED: {
        size_t id = num_id(ev->key);
        w->orders = grow(w->orders, &w->norders, sizeof(*w->orders), id);
        assert_false(w->orders[id]); /* one event per order */
        w->orders[id] = true;
        assert_int_equal(ev->version, 1);
        assert_safe_key(ev->cart_id, "cart_id");
        assert_true(money_cents(ev->total) > 0);
        assert_int_equal(strlen(ev->currency), 3);
        if (w->emitted & SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS)) {
            struct w_cart *c = w_cart(w, ev->cart_id);
            if (!c->seen || c->gone || !c->items)
                fail_msg("order %s of cart %s, which %s", ev->key, ev->cart_id,
                         c->seen ? "is gone" : "was never announced");
            assert_true(json_array_size(c->items) > 0); /* the cart had items */
            assert_int_equal(money_cents(ev->total), c->total);
            assert_int_equal(ev->has_user, c->has_user);
            if (ev->has_user)
                assert_string_equal(ev->user_id, c->user);
            /* Sold within stock, of live products; the purchases follow. */
            w->pending_head = 0;
            w->npending = 0;
            for (size_t k = 0; k < json_array_size(c->items); k++) {
                json_t *it = json_array_get(c->items, k);
                struct w_product *p =
                    w_product(w, json_string_value(json_object_get(it, "product_id")));
                assert_true(!p->seen || (p->alive && p->published));
                size_t product;
                struct w_sku *s = w_sku(w, json_string_value(json_object_get(it, "sku")), &product);
                if (s->seen)
                    assert_true(s->on_hand >= json_integer_value(json_object_get(it, "quantity")));
                if (w->emitted & SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK)) {
                    struct pending_purchase *pp = &w->pending[w->npending++];
                    snprintf(pp->sku, sizeof(pp->sku), "%s",
                             json_string_value(json_object_get(it, "sku")));
                    pp->quantity = json_integer_value(json_object_get(it, "quantity"));
                }
            }
            c->gone = true; /* emptied: never used again */
            json_decref(c->items);
            c->items = NULL;
        }
        if (ev->has_user)
            w->user_orders++;
        else
            w->guest_orders++;
        break;
    }

    case SHOP_USER_ROLES_CHANGED: {
        struct w_user *u = w_user(w, ev->key);
        bool was_seen = u->seen;
        w_version(&u->seen, &u->version, ev, late && ev->change != SHOP_CHANGE_SIGNUP);
        assert_false(u->deactivated);
        if (!was_seen && ev->version == 1)
            assert_int_equal(ev->roles_before.count, 0); /* from no roles */
        if (!was_seen && ev->version == 1)
            u->roles_known = true;
        if (u->roles_known) { /* before = the previous after */
            assert_int_equal(ev->roles_before.count, u->roles.count);
            for (uint32_t i = 0; i < u->roles.count; i++)
                assert_string_equal(ev->roles_before.names[i], u->roles.names[i]);
        }
        u->roles = ev->roles_after;
        u->roles_known = true;
        for (uint32_t i = 0; i < ev->roles_after.count; i++)
            assert_safe_key(ev->roles_after.names[i], "role id");
        if (ev->initial)
            assert_true(ev->has_permissions);
        if (ev->has_permissions) {
            const char *want[SHOP_MAX_PERMISSIONS];
            uint32_t n = 0;
            if (w_expected_permissions(w, &ev->roles_after, want, &n)) {
                assert_int_equal(ev->permissions.count, n);
                for (uint32_t i = 0; i < n; i++)
                    assert_string_equal(ev->permissions.names[i], want[i]);
            }
        }
        break;
    }
    case SHOP_ROLE_PERMISSIONS_CHANGED: {
        struct w_role *r = w_role(w, ev->key);
        bool seen = r->version > 0;
        w_version(&seen, &r->version, ev, late);
        assert_true(ev->has_permissions && ev->permissions.count >= 1);
        for (uint32_t i = 0; i < ev->permissions.count; i++) {
            const char *dot = strchr(ev->permissions.names[i], '.');
            assert_true(dot && dot != ev->permissions.names[i] && dot[1] != '\0');
            if (i > 0)
                assert_true(strcmp(ev->permissions.names[i - 1], ev->permissions.names[i]) < 0);
        }
        r->permissions = ev->permissions;
        break;
    }
    case SHOP_USER_LOGGED_IN:
    case SHOP_USER_LOGGED_OUT:
    case SHOP_USER_LOGGED_OUT_EVERYWHERE:
    case SHOP_USER_PASSWORD_CHANGED:
    case SHOP_USER_DEACTIVATED: {
        struct w_user *u = w_user(w, ev->key);
        w_version(&u->seen, &u->version, ev, late);
        assert_false(u->deactivated); /* nothing happens to a deactivated user */
        if (ev->type == SHOP_USER_LOGGED_IN) {
            assert_true(session_key_ok(ev->session_key));
            assert_false(w_session_live(u, ev->session_key));
            if (u->nsessions == u->cap) {
                u->cap = u->cap ? u->cap * 2 : 4;
                u->sessions = realloc(u->sessions, u->cap * sizeof(*u->sessions));
                assert_non_null(u->sessions);
            }
            memcpy(u->sessions[u->nsessions++], ev->session_key, SHOP_SESSION_KEY_LEN + 1);
        } else if (ev->type == SHOP_USER_LOGGED_OUT) {
            assert_true(session_key_ok(ev->session_key));
            if (!w_session_live(u, ev->session_key))
                fail_msg("user %s logged out of %s, which is not a live session", ev->key,
                         ev->session_key);
            for (size_t i = 0; i < u->nsessions; i++) {
                if (strcmp(u->sessions[i], ev->session_key) == 0) {
                    memmove(u->sessions[i], u->sessions[i + 1],
                            (u->nsessions - i - 1) * sizeof(*u->sessions));
                    u->nsessions--;
                    break;
                }
            }
        } else {
            u->nsessions = 0; /* every session ends */
            if (ev->type == SHOP_USER_DEACTIVATED)
                u->deactivated = true;
        }
        break;
    }

    case SHOP_STOCK_MOVED: {
        size_t product = 0;
        struct w_sku *s = w_sku(w, ev->key, &product);
        assert_int_equal(num_id(ev->product_id), product);
        bool was_seen = s->seen;
        w_version(&s->seen, &s->version, ev, late);
        assert_true(ev->on_hand >= 0);
        if (was_seen)
            assert_int_equal(ev->on_hand - ev->quantity_delta, s->on_hand); /* chains */
        else if (ev->version == 1)
            assert_int_equal(ev->on_hand - ev->quantity_delta, 0); /* from nothing */
        if (ev->initial) {
            assert_int_equal(ev->movement, SHOP_MOVEMENT_ADJUSTMENT);
        } else {
            assert_int_not_equal(ev->quantity_delta, 0);
            struct w_product *p = w_product(w, ev->product_id);
            if (p->seen)
                assert_true(p->alive); /* a deleted product's SKUs never move */
        }
        switch (ev->movement) {
        case SHOP_MOVEMENT_PURCHASE:
            assert_true(ev->quantity_delta < 0);
            break;
        case SHOP_MOVEMENT_RESTOCK:
        case SHOP_MOVEMENT_RETURN:
            assert_true(ev->quantity_delta > 0);
            break;
        case SHOP_MOVEMENT_ADJUSTMENT:
            break;
        default:
            fail();
        }
        if (!ev->initial && ev->on_hand == 0 && !s->hit_zero) {
            s->hit_zero = true;
            w->sold_out++;
        }
        if (s->hit_zero && !s->back && ev->on_hand > 0) {
            s->back = true;
            w->came_back++;
        }
        s->on_hand = ev->on_hand;
        break;
    }
    default:
        fail();
    }
    w->prev_copy = *ev;
    w->prev_copy.representation = NULL; /* owned by the shop */
    w->prev_copy.cart = NULL;
    w->have_prev = true;
}

/* Runs a shop of the given topics, checking every event: decoded with its
 * schema, fields valid, and coherent with everything said before. */
static void check_world(uint64_t seed, uint32_t products, uint32_t users, uint32_t topics,
                        bool initial, int events, struct world *w)
{
    struct shop *shop = new_world(seed, products, users, topics, initial);
    assert_int_equal(shop_topics(shop), topics);
    struct encoders e;
    encoders_new(&e, SIM_FRAMING_PLAIN);
    memset(w, 0, sizeof(*w));
    w->emitted = topics;
    for (int i = 0; i < events; i++) {
        const struct shop_event *ev = next(shop, i);
        const void *data;
        size_t len;
        encode_any(&e, ev, &data, &len);
        assert_datum_matches(&e, ev, data, len);
        w_track(w, ev);
    }
    encoders_free(&e);
    shop_destroy(shop);
}

static void test_all_topics_are_coherent(void **state)
{
    (void)state;
    struct world w;
    /* A small shop, so carts meet deleted products and SKUs sell out. */
    check_world(11, 300, 200, SHOP_TOPICS_ALL, true, 150000, &w);
    for (int t = 0; t < SHOP_TOPIC_COUNT; t++)
        assert_true(w.by_topic[t] > 0);
    assert_true(w.merges > 0 && w.logins_merged == w.merges);
    assert_true(w.fixes > 0);
    assert_true(w.guest_orders > 0 && w.user_orders > 0);
    assert_true(w.sold_out > 0);  /* stock reaches 0 ... */
    assert_true(w.came_back > 0); /* ... and comes back */
    world_free(&w);
}

static void test_all_topics_defaults_without_sync(void **state)
{
    (void)state;
    struct world w;
    check_world(1, 5000, SHOP_DEFAULT_USERS, SHOP_TOPICS_ALL, false, 60000, &w);
    assert_true(w.merges > 0);
    world_free(&w);
}

/* A subset of topics is the same shop seen through fewer topics: stock
 * alone still has purchases (orders run unseen), carts without access
 * still merge, orders alone reference carts nobody announced. */
static void test_topic_subsets(void **state)
{
    (void)state;
    static const uint32_t subsets[] = {
        SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK),
        SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS) | SHOP_TOPIC_BIT(SHOP_TOPIC_ORDERS),
        SHOP_TOPIC_BIT(SHOP_TOPIC_ORDERS),
        SHOP_TOPIC_BIT(SHOP_TOPIC_ACCESS),
        SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS) | SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK),
    };
    for (size_t k = 0; k < sizeof(subsets) / sizeof(subsets[0]); k++) {
        struct world w;
        check_world(4, 200, 100, subsets[k], true, 15000, &w);
        for (int t = 0; t < SHOP_TOPIC_COUNT; t++)
            assert_int_equal(w.by_topic[t] > 0, (subsets[k] & SHOP_TOPIC_BIT(t)) != 0);
        if (subsets[k] & SHOP_TOPIC_BIT(SHOP_TOPIC_CARTS))
            assert_true(w.merges > 0);
        world_free(&w);
    }
    struct shop *stock = new_world(4, 200, 100, SHOP_TOPIC_BIT(SHOP_TOPIC_STOCK), true);
    assert_int_equal(shop_topics_running(stock),
                     SHOP_TOPICS_ALL & ~SHOP_TOPIC_BIT(SHOP_TOPIC_PRODUCTS));
    shop_destroy(stock);
}

/* The documented topic mix, roughly: carts first, then stock, access,
 * products, orders. */
static void test_topic_mix(void **state)
{
    (void)state;
    struct shop *shop = new_world(2, 5000, SHOP_DEFAULT_USERS, SHOP_TOPICS_ALL, false);
    uint64_t n[SHOP_TOPIC_COUNT] = {0};
    uint64_t changes[SHOP_CHANGE_COUNT] = {0};
    const int events = 100000;
    for (int i = 0; i < events; i++) {
        const struct shop_event *ev = next(shop, i);
        n[ev->topic]++;
        changes[ev->change]++;
    }
    assert_true(n[SHOP_TOPIC_CARTS] > n[SHOP_TOPIC_STOCK]);
    assert_true(n[SHOP_TOPIC_STOCK] > n[SHOP_TOPIC_ACCESS]);
    assert_true(n[SHOP_TOPIC_ACCESS] > n[SHOP_TOPIC_PRODUCTS]);
    assert_true(n[SHOP_TOPIC_PRODUCTS] > n[SHOP_TOPIC_ORDERS]);
    assert_true(n[SHOP_TOPIC_CARTS] + n[SHOP_TOPIC_STOCK] > events / 2);
    assert_true(n[SHOP_TOPIC_ORDERS] > events / 50);
    /* Every change of the new topics happens (the sync ones were skipped). */
    for (int c = SHOP_CHANGE_CART_CREATE; c < SHOP_CHANGE_COUNT; c++) {
        if (c == SHOP_CHANGE_SYNC_ROLE || c == SHOP_CHANGE_SYNC_USER || c == SHOP_CHANGE_SYNC_STOCK)
            continue;
        if (changes[c] == 0)
            fail_msg("change %s never happened", shop_change_name((enum shop_change)c));
    }
    assert_true(shop_live_carts(shop) > 100);
    assert_true(shop_users(shop) >= SHOP_DEFAULT_USERS);
    shop_destroy(shop);
}

/* Every topic's event log line holds every field of its record. */
static void test_event_log_all_topics(void **state)
{
    (void)state;
    struct shop *shop = new_world(9, 100, 50, SHOP_TOPICS_ALL, true);
    struct encoders e;
    encoders_new(&e, SIM_FRAMING_CONFLUENT);
    char err[512];
    int seen[SHOP_EVENT_TYPE_COUNT] = {0};
    for (int i = 0; i < 20000; i++) {
        const struct shop_event *ev = next(shop, i);
        const void *data;
        size_t len;
        encode_any(&e, ev, &data, &len);
        const char *topic = shop_topic_name(ev->topic);
        json_t *line = sim_eventlog_line(topic, ev->key, 1, sim_encoder_value(e.enc[ev->topic]),
                                         err, sizeof(err));
        if (!line)
            fail_msg("eventlog: %s", err);
        assert_string_equal(json_string_value(json_object_get(line, "topic")), topic);
        assert_string_equal(json_string_value(json_object_get(line, "key")), ev->key);
        assert_string_equal(json_string_value(json_object_get(line, "event_id")), ev->event_id);
        assert_int_equal(json_integer_value(json_object_get(line, "version")), ev->version);
        const char *type = json_string_value(json_object_get(line, "type"));
        assert_string_equal(type, shop_event_type_name(ev->type));
        json_t *fields = json_object_get(line, "fields");
        avro_schema_t body =
            avro_schema_record_field_get(sim_encoder_schema(e.enc[ev->topic]), "body");
        int disc = -1;
        avro_schema_t rec = avro_schema_union_branch_by_name(body, &disc, type);
        assert_non_null(rec);
        size_t n = avro_schema_record_size(rec);
        assert_int_equal(json_object_size(fields), n);
        for (size_t k = 0; k < n; k++)
            assert_non_null(json_object_get(fields, avro_schema_record_field_name(rec, (int)k)));
        if (ev->type == SHOP_CART_UPDATED)
            assert_string_equal(json_string_value(json_object_get(fields, "cart")), ev->cart);
        if (ev->type == SHOP_STOCK_MOVED)
            assert_int_equal(json_integer_value(json_object_get(fields, "on_hand")), ev->on_hand);
        seen[ev->type]++;
        json_decref(line);
    }
    for (int t = 0; t < SHOP_EVENT_TYPE_COUNT; t++) {
        if (!seen[t])
            fail_msg("no %s in 20000 events", shop_event_type_name((enum shop_event_type)t));
    }
    /* An event handed to another topic's encoder is refused. */
    const struct shop_event *ev = next(shop, 20000);
    const void *data;
    size_t len;
    enum shop_topic other = (enum shop_topic)((ev->topic + 1) % SHOP_TOPIC_COUNT);
    assert_int_equal(sim_encode_event(e.enc[other], ev, &data, &len, err, sizeof(err)), -1);
    encoders_free(&e);
    shop_destroy(shop);
}

/* ------------------------------------------------------------------------
 * Words and numbers
 * ------------------------------------------------------------------------ */

static void test_normalisation(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(sim_words_normalise("Café", out, sizeof(out)), 4);
    assert_string_equal(out, "cafe");
    sim_words_normalise("Kids'", out, sizeof(out));
    assert_string_equal(out, "kids");
    sim_words_normalise("X-200", out, sizeof(out));
    assert_string_equal(out, "x200");
    assert_int_equal(sim_words_normalise("&", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    sim_words_normalise("Kestrel & Co.", out, sizeof(out));
    assert_string_equal(out, "kestrelco");
    sim_words_normalise("Kōbō", out, sizeof(out)); /* not Latin-1: dropped */
    assert_string_equal(out, "kb");
    sim_words_normalise("Crème Brûlée", out, 6);
    assert_string_equal(out, "creme");
    sim_words_slug("Home & Décor", out, sizeof(out));
    assert_string_equal(out, "home-decor");
    sim_words_slug("  Men's   Footwear ", out, sizeof(out));
    assert_string_equal(out, "mens-footwear");
    sim_words_slug("alpha beta", out, 8);
    assert_string_equal(out, "alpha"); /* cut at a word boundary */

    /* Every word of every list normalises to something, and is UTF-8. */
    for (int l = 0; l < SIM_WORDS_LIST_COUNT; l++) {
        for (uint32_t i = 0; i < sim_words_count((enum sim_wordlist)l); i++) {
            const char *w = sim_words_get((enum sim_wordlist)l, i);
            json_t *j = json_string(w);
            if (!j)
                fail_msg("word %s is not UTF-8", w);
            json_decref(j);
            sim_words_slug(w, out, sizeof(out));
            assert_true(out[0] != '\0');
        }
    }
}

static void test_rng(void **state)
{
    (void)state;
    struct sim_rng a, b, c;
    sim_rng_seed(&a, 42, 1);
    sim_rng_seed(&b, 42, 1);
    sim_rng_seed(&c, 42, 2);
    bool differs = false;
    for (int i = 0; i < 100; i++) {
        uint64_t x = sim_rng_next(&a);
        assert_int_equal(x, sim_rng_next(&b));
        differs |= x != sim_rng_next(&c);
    }
    assert_true(differs);
    int hist[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint32_t v = sim_rng_below(&a, 10);
        assert_true(v < 10);
        hist[v]++;
        int64_t r = sim_rng_range(&a, -3, 3);
        assert_true(r >= -3 && r <= 3);
        double u = sim_rng_unit(&a);
        assert_true(u >= 0.0 && u < 1.0);
    }
    for (int i = 0; i < 10; i++)
        assert_true(hist[i] > 9000 && hist[i] < 11000);
    char uuid[SIM_UUID_LEN + 1];
    sim_rng_uuid(&a, uuid);
    assert_int_equal(strlen(uuid), SIM_UUID_LEN);
    assert_true(uuid[8] == '-' && uuid[13] == '-' && uuid[18] == '-' && uuid[23] == '-');
    assert_int_equal(uuid[14], '4');
    assert_non_null(strchr("89ab", uuid[19]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_no_initial_keeps_the_changes),
        cmocka_unit_test(test_model_is_consistent),
        cmocka_unit_test(test_defaults_and_no_initial_are_consistent),
        cmocka_unit_test(test_empty_catalog_starts_with_creations),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_datums_decode_back),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_event_log_has_every_field),
        cmocka_unit_test(test_event_log_file),
        cmocka_unit_test(test_topics_parse),
        cmocka_unit_test(test_all_topics_same_seed_same_bytes),
        cmocka_unit_test(test_all_topics_no_initial_keeps_the_changes),
        cmocka_unit_test(test_products_stream_unchanged_by_other_topics),
        cmocka_unit_test(test_all_topics_are_coherent),
        cmocka_unit_test(test_all_topics_defaults_without_sync),
        cmocka_unit_test(test_topic_subsets),
        cmocka_unit_test(test_topic_mix),
        cmocka_unit_test(test_event_log_all_topics),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_rng),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
