/* handler.c - the stock consumer's handler and definition.
 *
 * What it owns: the mapping from a decoded shop.stock event (the reader
 * schema schemas/stock.avsc) onto struct stock_event, the consumer's
 * settings (section "stock"), and the struct cf_consumer_def that main.c
 * hands to the runtime.
 *
 * DESIGN
 * Field positions are resolved by name once, from the reader schema, when
 * the handler is made, and so is the meaning of each symbol of the
 * MovementKind enum (by name, not by position: a reader schema that adds
 * a symbol maps it to OTHER instead of shifting the others).  The event
 * struct is reused for every event.  Then the pure planner (planner.c)
 * does the rest.
 */
#include "stock.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "keys.h"
#include "planner.h"

#define S(field) offsetof(struct stock_settings, field)

static const struct cf_setting stock_settings_table[] = {
    {"stock.ttl_s", CF_SETTING_INT, S(ttl_s), "60", 30, 120, NULL, 0,
     "TTL of stock:{sku}, the on-hand count (seed section 7: 30 s to 2 min)."},
    {"stock.max_quantity", CF_SETTING_INT, S(max_quantity), "1000000000000", 1,
     9223372036854775807LL, NULL, 0,
     "Largest magnitude of on_hand and quantity_delta accepted; beyond it an event is "
     "dead-lettered."},
};

/* Symbols of the reader's MovementKind beyond this count read as OTHER. */
#define MAX_KIND_SYMBOLS 64

struct fields {
    int sku, product_id, kind, quantity_delta, on_hand;
};

struct handler {
    const struct stock_settings *cfg;
    struct cf_envelope_schema env;
    int branch_type[CF_MAX_BRANCHES]; /* union branch -> enum stock_event_type, -1 unknown */
    struct fields f;
    enum stock_kind kind_of_symbol[MAX_KIND_SYMBOLS]; /* reader symbol index -> kind */
    struct stock_event ev;
};

static const char *const branch_names[STOCK_EVENT_TYPES] = {"StockMoved"};

static int64_t max_ttl_ms(const void *settings)
{
    const struct stock_settings *cfg = settings;
    return cfg->ttl_s * 1000;
}

static void handler_destroy(void *p)
{
    free(p);
}

/* Fills h->kind_of_symbol from the reader's enum of field kind. */
static int resolve_kinds(struct handler *h, avro_schema_t rec, char *errstr, size_t errstr_size)
{
    avro_schema_t e = avro_schema_record_field_get_by_index(rec, h->f.kind);
    if (!e || !is_avro_enum(e)) {
        snprintf(errstr, errstr_size, "reader schema: StockMoved.kind is not an enum");
        return -1;
    }
    /* avro_schema_enum_get() is only defined for an index below the
     * count: past it, it returns an uninitialised pointer. */
    int count = avro_schema_enum_number_of_symbols(e);
    for (int i = 0; i < MAX_KIND_SYMBOLS; i++) {
        const char *sym = i < count ? avro_schema_enum_get(e, i) : NULL;
        h->kind_of_symbol[i] = STOCK_KIND_OTHER;
        for (int k = 0; sym && k < STOCK_KINDS; k++)
            if (strcmp(sym, stock_kind_names[k]) == 0)
                h->kind_of_symbol[i] = (enum stock_kind)k;
    }
    return 0;
}

static void *handler_new(const void *settings, avro_schema_t reader, char *errstr,
                         size_t errstr_size)
{
    struct handler *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    h->cfg = settings;
    if (cf_envelope_schema_init(&h->env, reader, errstr, errstr_size) < 0)
        goto fail;
    for (int i = 0; i < CF_MAX_BRANCHES; i++)
        h->branch_type[i] = -1;
    int b = cf_envelope_branch(&h->env, branch_names[STOCK_MOVED]);
    if (b < 0) {
        snprintf(errstr, errstr_size, "reader schema: body has no %s", branch_names[STOCK_MOVED]);
        goto fail;
    }
    h->branch_type[b] = STOCK_MOVED;
    avro_schema_t rec = h->env.branches[b];
    if ((h->f.sku = cf_avro_field_index(rec, "sku", errstr, errstr_size)) < 0 ||
        (h->f.product_id = cf_avro_field_index(rec, "product_id", errstr, errstr_size)) < 0 ||
        (h->f.kind = cf_avro_field_index(rec, "kind", errstr, errstr_size)) < 0 ||
        (h->f.quantity_delta = cf_avro_field_index(rec, "quantity_delta", errstr, errstr_size)) <
            0 ||
        (h->f.on_hand = cf_avro_field_index(rec, "on_hand", errstr, errstr_size)) < 0)
        goto fail;
    if (resolve_kinds(h, rec, errstr, errstr_size) < 0)
        goto fail;
    return h;

fail:
    handler_destroy(h);
    return NULL;
}

static int handle(void *p, const avro_value_t *value, struct cf_event *out, struct cf_plan *plan)
{
    struct handler *h = p;
    struct stock_event *ev = &h->ev;
    struct cf_envelope env;
    char *r = out->reason;
    size_t rs = sizeof(out->reason);

    if (cf_envelope_read(&h->env, value, &env, r, rs) < 0)
        return -1;
    int t = h->branch_type[env.branch];
    if (t < 0)
        return cf_reason(r, rs, CF_REASON_UNKNOWN_TYPE, "%s", h->env.branch_names[env.branch]);
    out->type = stock_event_names[t];
    ev->type = (enum stock_event_type)t;
    ev->version = env.version;
    ev->occurred_at_us = env.occurred_at_us;

    const avro_value_t *body = &env.body;
    int symbol = 0;
    if (cf_avro_str(body, h->f.sku, "sku", &ev->sku, r, rs) ||
        cf_avro_str(body, h->f.product_id, "product_id", &ev->product_id, r, rs) ||
        cf_avro_enum(body, h->f.kind, "kind", &symbol, NULL, r, rs) ||
        cf_avro_long(body, h->f.quantity_delta, "quantity_delta", &ev->quantity_delta, r, rs) ||
        cf_avro_long(body, h->f.on_hand, "on_hand", &ev->on_hand, r, rs))
        return -1;
    ev->kind =
        symbol >= 0 && symbol < MAX_KIND_SYMBOLS ? h->kind_of_symbol[symbol] : STOCK_KIND_OTHER;
    return stock_plan(h->cfg, ev, out->max_id_bytes, plan, r, rs);
}

const struct cf_consumer_def stock_consumer = {
    .name = "stock",
    .topic = "shop.stock",
    .schema_file = "stock.avsc",
    .event_types = stock_event_names,
    .settings = stock_settings_table,
    .nsettings = sizeof(stock_settings_table) / sizeof(stock_settings_table[0]),
    .settings_size = sizeof(struct stock_settings),
    .check_settings = NULL,
    .max_ttl_ms = max_ttl_ms,
    .handler_new = handler_new,
    .handler_destroy = handler_destroy,
    .handle = handle,
};
