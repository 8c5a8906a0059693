/* test_sim_model.c - the simulator's shop model and Avro encoder
 * (tools/sim/shop.c, encode.c, eventlog.c, words.c, rng.c).
 *
 * Every test drives the model with a fixed clock (so runs are comparable
 * byte for byte) and checks what a consumer relies on: determinism, valid
 * representations, versions +1 per entity, before/after lists that chain,
 * a category tree that stays consistent, datums that decode back to the
 * same values, framing bytes, and an event log line with every field.
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
    for (int c = 0; c < SHOP_CHANGE_COUNT; c++) {
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
        assert_true(seen[t] > 0);
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
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_rng),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
