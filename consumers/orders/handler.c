/* handler.c - the orders consumer's handler and definition.
 *
 * What it owns: the mapping from a decoded shop.orders event (the reader
 * schema schemas/orders.avsc) onto struct orders_event, and the struct
 * cf_consumer_def that main.c hands to the runtime.  The consumer has no
 * settings of its own (planner.h says why).
 *
 * What it does not own: the rule (planner.c) or any I/O (the runtime).
 *
 * DESIGN
 * Field positions are resolved by name once, from the reader schema, when
 * the handler is made; the event struct is reused for every event.  The
 * log-only fields (user_id, total, currency) are read like the others, so
 * an event whose log fields have the wrong type is rejected like any other
 * broken contract, but they never reach a key.
 *
 * Thread: the runtime's consume loop (one thread).
 */
#include "orders.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "keys.h"
#include "planner.h"

/* Field positions in the reader schema, per event type. */
struct fields {
    int order_id, cart_id, user_id, total, currency;
};

struct handler {
    struct cf_envelope_schema env;
    int branch_type[CF_MAX_BRANCHES]; /* union branch -> enum orders_event_type, -1 unknown */
    struct fields f[ORDERS_EVENT_TYPES];
    struct orders_event ev;
};

static const char *const branch_names[ORDERS_EVENT_TYPES] = {
    "OrderCompleted",
};

static void handler_destroy(void *p)
{
    free(p);
}

/* Resolves a field of branch type t; -1 when absent (errstr set). */
#define FIELD(t, member, name)                                                                     \
    ((h->f[t].member = cf_avro_field_index(h->env.branches[b[t]], name, errstr, errstr_size)) < 0)

static void *handler_new(const void *settings, avro_schema_t reader, char *errstr,
                         size_t errstr_size)
{
    (void)settings; /* none */
    struct handler *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    if (cf_envelope_schema_init(&h->env, reader, errstr, errstr_size) < 0)
        goto fail;
    int b[ORDERS_EVENT_TYPES];
    for (int i = 0; i < CF_MAX_BRANCHES; i++)
        h->branch_type[i] = -1;
    for (int t = 0; t < ORDERS_EVENT_TYPES; t++) {
        b[t] = cf_envelope_branch(&h->env, branch_names[t]);
        if (b[t] < 0) {
            snprintf(errstr, errstr_size, "reader schema: body has no %s", branch_names[t]);
            goto fail;
        }
        h->branch_type[b[t]] = t;
    }
    enum orders_event_type C = ORDERS_ORDER_COMPLETED;
    if (FIELD(C, order_id, "order_id") || FIELD(C, cart_id, "cart_id") ||
        FIELD(C, user_id, "user_id") || FIELD(C, total, "total") || FIELD(C, currency, "currency"))
        goto fail;
    return h;

fail:
    handler_destroy(h);
    return NULL;
}

static int handle(void *p, const avro_value_t *value, struct cf_event *out, struct cf_plan *plan)
{
    struct handler *h = p;
    struct orders_event *ev = &h->ev;
    struct cf_envelope env;
    char *r = out->reason;
    size_t rs = sizeof(out->reason);

    if (cf_envelope_read(&h->env, value, &env, r, rs) < 0)
        return -1;
    int t = h->branch_type[env.branch];
    if (t < 0)
        return cf_reason(r, rs, CF_REASON_UNKNOWN_TYPE, "%s", h->env.branch_names[env.branch]);
    out->type = orders_event_names[t];
    memset(ev, 0, sizeof(*ev));
    ev->type = (enum orders_event_type)t;
    ev->version = env.version;
    ev->occurred_at_us = env.occurred_at_us;

    const struct fields *f = &h->f[t];
    const avro_value_t *body = &env.body;
    int rc = 0;
    switch (ev->type) {
    case ORDERS_ORDER_COMPLETED:
        rc = cf_avro_str(body, f->order_id, "order_id", &ev->order_id, r, rs) ||
             cf_avro_str(body, f->cart_id, "cart_id", &ev->cart_id, r, rs) ||
             cf_avro_opt_str(body, f->user_id, "user_id", &ev->has_user, &ev->user_id, r, rs) ||
             cf_avro_str(body, f->total, "total", &ev->total, r, rs) ||
             cf_avro_str(body, f->currency, "currency", &ev->currency, r, rs);
        break;
    case ORDERS_EVENT_TYPES:
        break;
    }
    if (rc)
        return -1;
    return orders_plan(ev, out->max_id_bytes, plan, r, rs);
}

const struct cf_consumer_def orders_consumer = {
    .name = "orders",
    .topic = "shop.orders",
    .schema_file = "orders.avsc",
    .event_types = orders_event_names,
    .settings = NULL,
    .nsettings = 0,
    .settings_size = 0,
    .check_settings = NULL,
    .max_ttl_ms = NULL, /* writes no value: an xinval's marker lives cache.tombstone_ttl_s */
    .handler_new = handler_new,
    .handler_destroy = handler_destroy,
    .handle = handle,
};
