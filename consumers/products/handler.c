/* handler.c - the products consumer's handler and definition.
 *
 * What it owns: the mapping from a decoded shop.products event (the reader
 * schema schemas/products.avsc) onto struct products_event, the consumer's
 * settings (section "products"), and the struct cf_consumer_def that main.c
 * hands to the runtime.
 *
 * DESIGN
 * Field positions are resolved by name once, from the reader schema, when
 * the handler is made; the event struct and its lists are reused for every
 * event.  Then the pure planner (planner.c) does the rest.
 */
#include "products.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "keys.h"
#include "planner.h"

#define S(field) offsetof(struct products_settings, field)

static const struct cf_setting products_settings_table[] = {
    {"products.product_ttl_s", CF_SETTING_INT, S(product_ttl_s), "3600", 1, 2592000, NULL, 0,
     "TTL of product:{id}, the product detail (seed section 1)."},
    {"products.menu_ttl_s", CF_SETTING_INT, S(menu_ttl_s), "86400", 60, 2592000, NULL, 0,
     "TTL of menu:{name}, the navigation menu (seed section 3)."},
    {"products.menu_name", CF_SETTING_STRING, S(menu_name), "main", 0, 0, NULL, 0,
     "Name of the menu key: menu:{name}."},
    {"products.max_categories", CF_SETTING_INT, S(max_categories), "256", 1, 100000, NULL, 0,
     "Most categories in one list of an event."},
    {"products.max_terms", CF_SETTING_INT, S(max_terms), "256", 1, 100000, NULL, 0,
     "Most search terms in one list of an event."},
};

/* Field positions in the reader schema, per event type. */
struct fields {
    int product_id, categories_before, categories_after, terms_before, terms_after, repr;
    int related_model, related_id;
    int category_id, parent_id, name, slug, position, visible;
};

struct handler {
    const struct products_settings *cfg;
    struct cf_envelope_schema env;
    int branch_type[CF_MAX_BRANCHES]; /* union branch -> enum products_event_type, -1 unknown */
    struct fields f[PRODUCTS_EVENT_TYPES];
    struct products_event ev;
    struct cf_buf scratch;
};

static const char *const branch_names[PRODUCTS_EVENT_TYPES] = {
    "ProductUpserted", "ProductDeleted", "ProductRelatedChanged", "CategoryUpserted",
    "CategoryDeleted",
};

static int check_settings(const void *settings, char *errstr, size_t errstr_size)
{
    const struct products_settings *cfg = settings;
    char why[200];
    if (cf_key_part_check("menu name", cfg->menu_name, strlen(cfg->menu_name), 128, CF_KEY_ASCII,
                          why, sizeof(why)) < 0) {
        snprintf(errstr, errstr_size, "setting products.menu_name: %s", why);
        return -1;
    }
    return 0;
}

static int64_t max_ttl_ms(const void *settings)
{
    const struct products_settings *cfg = settings;
    long long ttl = cfg->product_ttl_s > cfg->menu_ttl_s ? cfg->product_ttl_s : cfg->menu_ttl_s;
    return ttl * 1000;
}

static void handler_destroy(void *p)
{
    struct handler *h = p;
    if (!h)
        return;
    cf_strs_free(&h->ev.categories_before);
    cf_strs_free(&h->ev.categories_after);
    cf_strs_free(&h->ev.terms_before);
    cf_strs_free(&h->ev.terms_after);
    cf_buf_free(&h->scratch);
    free(h);
}

/* Resolves a field of branch type t; -1 when absent (errstr set). */
#define FIELD(t, member, name)                                                                    \
    ((h->f[t].member = cf_avro_field_index(h->env.branches[b[t]], name, errstr, errstr_size)) < 0)

static void *handler_new(const void *settings, avro_schema_t reader, char *errstr,
                         size_t errstr_size)
{
    struct handler *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    h->cfg = settings;
    if (cf_envelope_schema_init(&h->env, reader, errstr, errstr_size) < 0)
        goto fail;
    int b[PRODUCTS_EVENT_TYPES];
    for (int i = 0; i < CF_MAX_BRANCHES; i++)
        h->branch_type[i] = -1;
    for (int t = 0; t < PRODUCTS_EVENT_TYPES; t++) {
        b[t] = cf_envelope_branch(&h->env, branch_names[t]);
        if (b[t] < 0) {
            snprintf(errstr, errstr_size, "reader schema: body has no %s", branch_names[t]);
            goto fail;
        }
        h->branch_type[b[t]] = t;
    }
    enum products_event_type U = PRODUCTS_PRODUCT_UPSERTED, D = PRODUCTS_PRODUCT_DELETED,
                             R = PRODUCTS_PRODUCT_RELATED_CHANGED, CU = PRODUCTS_CATEGORY_UPSERTED,
                             CD = PRODUCTS_CATEGORY_DELETED;
    if (FIELD(U, product_id, "product_id") || FIELD(U, categories_before, "categories_before") ||
        FIELD(U, categories_after, "categories_after") ||
        FIELD(U, terms_before, "search_terms_before") ||
        FIELD(U, terms_after, "search_terms_after") || FIELD(U, repr, "representation") ||
        FIELD(D, product_id, "product_id") || FIELD(D, categories_before, "categories_before") ||
        FIELD(D, terms_before, "search_terms_before") || FIELD(R, product_id, "product_id") ||
        FIELD(R, related_model, "related_model") || FIELD(R, related_id, "related_id") ||
        FIELD(CU, category_id, "category_id") || FIELD(CU, parent_id, "parent_id") ||
        FIELD(CU, name, "name") || FIELD(CU, slug, "slug") || FIELD(CU, position, "position") ||
        FIELD(CU, visible, "visible") || FIELD(CD, category_id, "category_id"))
        goto fail;
    return h;

fail:
    handler_destroy(h);
    return NULL;
}

static int handle(void *p, const avro_value_t *value, struct cf_event *out, struct cf_plan *plan)
{
    struct handler *h = p;
    struct products_event *ev = &h->ev;
    struct cf_envelope env;
    char *r = out->reason;
    size_t rs = sizeof(out->reason);

    if (cf_envelope_read(&h->env, value, &env, r, rs) < 0)
        return -1;
    int t = h->branch_type[env.branch];
    if (t < 0)
        return cf_reason(r, rs, CF_REASON_UNKNOWN_TYPE, "%s", h->env.branch_names[env.branch]);
    out->type = products_event_names[t];
    ev->type = (enum products_event_type)t;
    ev->version = env.version;
    ev->occurred_at_us = env.occurred_at_us;
    ev->categories_before.n = ev->categories_after.n = 0;
    ev->terms_before.n = ev->terms_after.n = 0;
    ev->has_representation = ev->has_parent = false;

    const struct fields *f = &h->f[t];
    const avro_value_t *body = &env.body;
    size_t maxc = (size_t)h->cfg->max_categories, maxt = (size_t)h->cfg->max_terms;
    int rc = 0;
    switch (ev->type) {
    case PRODUCTS_PRODUCT_UPSERTED:
        rc = cf_avro_str(body, f->product_id, "product_id", &ev->id, r, rs) ||
             cf_avro_strs(body, f->categories_before, "categories_before", maxc,
                          &ev->categories_before, r, rs) ||
             cf_avro_strs(body, f->categories_after, "categories_after", maxc,
                          &ev->categories_after, r, rs) ||
             cf_avro_strs(body, f->terms_before, "search_terms_before", maxt, &ev->terms_before,
                          r, rs) ||
             cf_avro_strs(body, f->terms_after, "search_terms_after", maxt, &ev->terms_after, r,
                          rs) ||
             cf_avro_opt_str(body, f->repr, "representation", &ev->has_representation,
                             &ev->representation, r, rs);
        break;
    case PRODUCTS_PRODUCT_DELETED:
        rc = cf_avro_str(body, f->product_id, "product_id", &ev->id, r, rs) ||
             cf_avro_strs(body, f->categories_before, "categories_before", maxc,
                          &ev->categories_before, r, rs) ||
             cf_avro_strs(body, f->terms_before, "search_terms_before", maxt, &ev->terms_before,
                          r, rs);
        break;
    case PRODUCTS_PRODUCT_RELATED_CHANGED:
        rc = cf_avro_str(body, f->product_id, "product_id", &ev->id, r, rs) ||
             cf_avro_str(body, f->related_model, "related_model", &ev->related_model, r, rs) ||
             cf_avro_str(body, f->related_id, "related_id", &ev->related_id, r, rs);
        break;
    case PRODUCTS_CATEGORY_UPSERTED:
        rc = cf_avro_str(body, f->category_id, "category_id", &ev->id, r, rs) ||
             cf_avro_opt_str(body, f->parent_id, "parent_id", &ev->has_parent, &ev->parent_id, r,
                             rs) ||
             cf_avro_str(body, f->name, "name", &ev->name, r, rs) ||
             cf_avro_str(body, f->slug, "slug", &ev->slug, r, rs) ||
             cf_avro_int(body, f->position, "position", &ev->position, r, rs) ||
             cf_avro_bool(body, f->visible, "visible", &ev->visible, r, rs);
        break;
    case PRODUCTS_CATEGORY_DELETED:
        rc = cf_avro_str(body, f->category_id, "category_id", &ev->id, r, rs);
        break;
    case PRODUCTS_EVENT_TYPES:
        break;
    }
    if (rc)
        return -1;
    return products_plan(h->cfg, ev, out->max_id_bytes, plan, &h->scratch, r, rs);
}

const struct cf_consumer_def products_consumer = {
    .name = "products",
    .topic = "shop.products",
    .schema_file = "products.avsc",
    .event_types = products_event_names,
    .settings = products_settings_table,
    .nsettings = sizeof(products_settings_table) / sizeof(products_settings_table[0]),
    .settings_size = sizeof(struct products_settings),
    .check_settings = check_settings,
    .max_ttl_ms = max_ttl_ms,
    .handler_new = handler_new,
    .handler_destroy = handler_destroy,
    .handle = handle,
};
