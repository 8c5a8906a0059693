/* handler.c - the carts consumer's handler and definition.
 *
 * What it owns: the mapping from a decoded shop.carts event (the reader
 * schema schemas/carts.avsc) onto struct carts_event, the consumer's
 * settings (section "carts"), and the struct cf_consumer_def that main.c
 * hands to the runtime.
 *
 * What it does not own: the rules (planner.c) or any I/O (the runtime).
 *
 * DESIGN
 * Field positions are resolved by name once, from the reader schema, when
 * the handler is made; the event struct is reused for every event.  The
 * log-only fields (user_id, change) are read like the others, so an event
 * whose log fields have the wrong type is rejected like any other broken
 * contract, but they never reach a key or a value.  The order of the
 * CartChange symbols is checked against enum carts_change at start, so a
 * reordered schema fails loudly instead of mislabelling changes.
 *
 * Thread: the runtime's consume loop (one thread).
 */
#include "carts.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "keys.h"
#include "planner.h"

#define S(field) offsetof(struct carts_settings, field)

static const struct cf_setting carts_settings_table[] = {
    {"carts.cart_ttl_s", CF_SETTING_INT, S(cart_ttl_s), "2592000", 60, 31536000, NULL, 0,
     "TTL of cart:{cart_id}, the shopping cart (seed section 5): 30 days by default."},
    {"carts.max_cart_bytes", CF_SETTING_INT, S(max_cart_bytes), "262144", 2, 16777216, NULL, 0,
     "Largest cart document cached; a larger one is dead-lettered (a message is also bounded by "
     "cache.max_payload_bytes)."},
};

/* Field positions in the reader schema, per event type. */
struct fields {
    int cart_id, user_id, change, cart; /* CartUpdated, CartDeleted (cart_id) */
    int source_cart_id, target_cart_id; /* CartMerged (and user_id, cart) */
};

struct handler {
    const struct carts_settings *cfg;
    struct cf_envelope_schema env;
    int branch_type[CF_MAX_BRANCHES]; /* union branch -> enum carts_event_type, -1 unknown */
    struct fields f[CARTS_EVENT_TYPES];
    struct carts_event ev;
};

static const char *const branch_names[CARTS_EVENT_TYPES] = {
    "CartUpdated",
    "CartDeleted",
    "CartMerged",
};

static int64_t max_ttl_ms(const void *settings)
{
    const struct carts_settings *cfg = settings;
    return cfg->cart_ttl_s * 1000;
}

static void handler_destroy(void *p)
{
    free(p);
}

/* Checks that the CartChange enum of the reader schema (field idx of the
 * CartUpdated record rec) lists carts_change_names, in that order. */
static int check_change_symbols(avro_schema_t rec, int idx, char *errstr, size_t errstr_size)
{
    avro_schema_t e = avro_schema_record_field_get_by_index(rec, idx);
    if (!e || avro_typeof(e) != AVRO_ENUM) {
        snprintf(errstr, errstr_size, "reader schema: CartUpdated.change is not an enum");
        return -1;
    }
    if (avro_schema_enum_number_of_symbols(e) != CARTS_CHANGES) {
        snprintf(errstr, errstr_size, "reader schema: CartUpdated.change has %d symbols, not %d",
                 avro_schema_enum_number_of_symbols(e), CARTS_CHANGES);
        return -1;
    }
    for (int i = 0; i < CARTS_CHANGES; i++) {
        const char *sym = avro_schema_enum_get(e, i);
        if (!sym || strcmp(sym, carts_change_names[i]) != 0) {
            snprintf(errstr, errstr_size, "reader schema: CartUpdated.change symbol %d is not %s",
                     i, carts_change_names[i]);
            return -1;
        }
    }
    return 0;
}

/* Resolves a field of branch type t; -1 when absent (errstr set). */
#define FIELD(t, member, name)                                                                     \
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
    int b[CARTS_EVENT_TYPES];
    for (int i = 0; i < CF_MAX_BRANCHES; i++)
        h->branch_type[i] = -1;
    for (int t = 0; t < CARTS_EVENT_TYPES; t++) {
        b[t] = cf_envelope_branch(&h->env, branch_names[t]);
        if (b[t] < 0) {
            snprintf(errstr, errstr_size, "reader schema: body has no %s", branch_names[t]);
            goto fail;
        }
        h->branch_type[b[t]] = t;
    }
    enum carts_event_type U = CARTS_CART_UPDATED, D = CARTS_CART_DELETED, M = CARTS_CART_MERGED;
    if (FIELD(U, cart_id, "cart_id") || FIELD(U, user_id, "user_id") ||
        FIELD(U, change, "change") || FIELD(U, cart, "cart") || FIELD(D, cart_id, "cart_id") ||
        FIELD(M, source_cart_id, "source_cart_id") || FIELD(M, target_cart_id, "target_cart_id") ||
        FIELD(M, user_id, "user_id") || FIELD(M, cart, "cart"))
        goto fail;
    if (check_change_symbols(h->env.branches[b[U]], h->f[U].change, errstr, errstr_size) < 0)
        goto fail;
    return h;

fail:
    handler_destroy(h);
    return NULL;
}

static int handle(void *p, const avro_value_t *value, struct cf_event *out, struct cf_plan *plan)
{
    struct handler *h = p;
    struct carts_event *ev = &h->ev;
    struct cf_envelope env;
    char *r = out->reason;
    size_t rs = sizeof(out->reason);

    if (cf_envelope_read(&h->env, value, &env, r, rs) < 0)
        return -1;
    int t = h->branch_type[env.branch];
    if (t < 0)
        return cf_reason(r, rs, CF_REASON_UNKNOWN_TYPE, "%s", h->env.branch_names[env.branch]);
    out->type = carts_event_names[t];
    memset(ev, 0, sizeof(*ev));
    ev->type = (enum carts_event_type)t;
    ev->version = env.version;
    ev->occurred_at_us = env.occurred_at_us;
    ev->change = CARTS_CHANGE_OTHER;

    const struct fields *f = &h->f[t];
    const avro_value_t *body = &env.body;
    int change = CARTS_CHANGE_OTHER;
    int rc = 0;
    switch (ev->type) {
    case CARTS_CART_UPDATED:
        rc = cf_avro_str(body, f->cart_id, "cart_id", &ev->cart_id, r, rs) ||
             cf_avro_opt_str(body, f->user_id, "user_id", &ev->has_user, &ev->user_id, r, rs) ||
             cf_avro_enum(body, f->change, "change", &change, NULL, r, rs) ||
             cf_avro_str(body, f->cart, "cart", &ev->cart, r, rs);
        /* The symbols were checked at start: an index is one of ours. */
        ev->change =
            change >= 0 && change < CARTS_CHANGES ? (enum carts_change)change : CARTS_CHANGE_OTHER;
        break;
    case CARTS_CART_DELETED:
        rc = cf_avro_str(body, f->cart_id, "cart_id", &ev->cart_id, r, rs);
        break;
    case CARTS_CART_MERGED:
        rc = cf_avro_str(body, f->source_cart_id, "source_cart_id", &ev->source_cart_id, r, rs) ||
             cf_avro_str(body, f->target_cart_id, "target_cart_id", &ev->cart_id, r, rs) ||
             cf_avro_opt_str(body, f->user_id, "user_id", &ev->has_user, &ev->user_id, r, rs) ||
             cf_avro_str(body, f->cart, "cart", &ev->cart, r, rs);
        break;
    case CARTS_EVENT_TYPES:
        break;
    }
    if (rc)
        return -1;
    return carts_plan(h->cfg, ev, out->max_id_bytes, plan, r, rs);
}

const struct cf_consumer_def carts_consumer = {
    .name = "carts",
    .topic = "shop.carts",
    .schema_file = "carts.avsc",
    .event_types = carts_event_names,
    .settings = carts_settings_table,
    .nsettings = sizeof(carts_settings_table) / sizeof(carts_settings_table[0]),
    .settings_size = sizeof(struct carts_settings),
    .check_settings = NULL,
    .max_ttl_ms = max_ttl_ms,
    .handler_new = handler_new,
    .handler_destroy = handler_destroy,
    .handle = handle,
};
