/* handler.c - the access consumer's handler and definition.
 *
 * What it owns: the mapping from a decoded shop.access event (the reader
 * schema schemas/access.avsc) onto struct access_event, the consumer's
 * settings (section "access"), and the struct cf_consumer_def that main.c
 * hands to the runtime.
 *
 * DESIGN
 * Field positions are resolved by name once, from the reader schema, when
 * the handler is made; the event struct and its lists are reused for every
 * event.  Then the pure planner (planner.c) does the rest.  Lists are read
 * with their limits (access.max_roles, access.max_permissions), so an
 * oversized list is refused before its items are looked at.
 *
 * Thread: the runtime's consume loop, one handler per program.
 */
#include "access.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "keys.h"
#include "planner.h"

#define S(field) offsetof(struct access_settings, field)

static const struct cf_setting access_settings_table[] = {
    {"access.perms_ttl_s", CF_SETTING_INT, S(perms_ttl_s), "3600", 1, 2592000, NULL, 0,
     "TTL of perms:{user_id}, the user's permission codenames (seed section 6)."},
    {"access.session_index_ttl_s", CF_SETTING_INT, S(session_index_ttl_s), "1209600", 60, 315360000,
     NULL, 0,
     "TTL of cf:sessions:{user_id}, the index of a user's sessions, renewed by every login: "
     "at least Django's SESSION_COOKIE_AGE."},
    {"access.session_key_prefix", CF_SETTING_STRING, S(session_key_prefix),
     "django.contrib.sessions.cache", 0, 0, NULL, 0,
     "Django's key of a session, less the cache prefix and the session key: "
     "django.contrib.sessions.cache (cache backend), django.contrib.sessions.cached_db "
     "(cached_db backend)."},
    {"access.revoke_sessions_on_role_revoke", CF_SETTING_BOOL, S(revoke_sessions_on_role_revoke),
     "false", 0, 0, NULL, 0,
     "Also delete every session of a user who lost a role (seed section 4)."},
    {"access.max_roles", CF_SETTING_INT, S(max_roles), "1000", 1, 100000, NULL, 0,
     "Most roles in one list of an event."},
    {"access.max_permissions", CF_SETTING_INT, S(max_permissions), "10000", 1, 1000000, NULL, 0,
     "Most permission codenames in one event."},
};

/* Field positions in the reader schema, per event type. */
struct fields {
    int user_id, role_id, roles_before, roles_after, permissions, session_key;
};

struct handler {
    const struct access_settings *cfg;
    struct cf_envelope_schema env;
    int branch_type[CF_MAX_BRANCHES]; /* union branch -> enum access_event_type, -1 unknown */
    struct fields f[ACCESS_EVENT_TYPES];
    struct access_event ev;
    struct cf_buf scratch;
};

static const char *const branch_names[ACCESS_EVENT_TYPES] = {
    "UserRolesChanged", "RolePermissionsChanged",  "RoleDeleted",         "UserLoggedIn",
    "UserLoggedOut",    "UserLoggedOutEverywhere", "UserPasswordChanged", "UserDeactivated",
};

static int check_settings(const void *settings, char *errstr, size_t errstr_size)
{
    const struct access_settings *cfg = settings;
    char why[200];
    if (access_session_key_prefix_check(cfg->session_key_prefix, why, sizeof(why)) < 0) {
        snprintf(errstr, errstr_size, "setting access.session_key_prefix: %s", why);
        return -1;
    }
    return 0;
}

/* The runtime keeps a version marker put back after a refusal for this
 * long plus the tombstone TTL: it must outlive any value the consumer
 * writes with a marker.  perms:{user_id} is the only such value; the
 * index sets (sessions, role members) carry no marker. */
static int64_t max_ttl_ms(const void *settings)
{
    const struct access_settings *cfg = settings;
    return cfg->perms_ttl_s * 1000;
}

static void handler_destroy(void *p)
{
    struct handler *h = p;
    if (!h)
        return;
    cf_strs_free(&h->ev.roles_before);
    cf_strs_free(&h->ev.roles_after);
    cf_strs_free(&h->ev.permissions);
    cf_buf_free(&h->scratch);
    free(h);
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
    int b[ACCESS_EVENT_TYPES];
    for (int i = 0; i < CF_MAX_BRANCHES; i++)
        h->branch_type[i] = -1;
    for (int t = 0; t < ACCESS_EVENT_TYPES; t++) {
        b[t] = cf_envelope_branch(&h->env, branch_names[t]);
        if (b[t] < 0) {
            snprintf(errstr, errstr_size, "reader schema: body has no %s", branch_names[t]);
            goto fail;
        }
        h->branch_type[b[t]] = t;
    }
    enum access_event_type RC = ACCESS_USER_ROLES_CHANGED, RP = ACCESS_ROLE_PERMISSIONS_CHANGED,
                           RD = ACCESS_ROLE_DELETED, LI = ACCESS_USER_LOGGED_IN,
                           LO = ACCESS_USER_LOGGED_OUT, LE = ACCESS_USER_LOGGED_OUT_EVERYWHERE,
                           PC = ACCESS_USER_PASSWORD_CHANGED, DA = ACCESS_USER_DEACTIVATED;
    if (FIELD(RC, user_id, "user_id") || FIELD(RC, roles_before, "roles_before") ||
        FIELD(RC, roles_after, "roles_after") || FIELD(RC, permissions, "permissions") ||
        FIELD(RP, role_id, "role_id") || FIELD(RP, permissions, "permissions") ||
        FIELD(RD, role_id, "role_id") || FIELD(LI, user_id, "user_id") ||
        FIELD(LI, session_key, "session_key") || FIELD(LO, user_id, "user_id") ||
        FIELD(LO, session_key, "session_key") || FIELD(LE, user_id, "user_id") ||
        FIELD(PC, user_id, "user_id") || FIELD(DA, user_id, "user_id"))
        goto fail;
    return h;

fail:
    handler_destroy(h);
    return NULL;
}

static int handle(void *p, const avro_value_t *value, struct cf_event *out, struct cf_plan *plan)
{
    struct handler *h = p;
    struct access_event *ev = &h->ev;
    struct cf_envelope env;
    char *r = out->reason;
    size_t rs = sizeof(out->reason);

    if (cf_envelope_read(&h->env, value, &env, r, rs) < 0)
        return -1;
    int t = h->branch_type[env.branch];
    if (t < 0)
        return cf_reason(r, rs, CF_REASON_UNKNOWN_TYPE, "%s", h->env.branch_names[env.branch]);
    out->type = access_event_names[t];
    ev->type = (enum access_event_type)t;
    ev->version = env.version;
    ev->occurred_at_us = env.occurred_at_us;
    ev->roles_before.n = ev->roles_after.n = ev->permissions.n = 0;
    ev->has_permissions = false;
    ev->session_key.ptr = NULL;
    ev->session_key.len = 0;

    const struct fields *f = &h->f[t];
    const avro_value_t *body = &env.body;
    size_t maxr = (size_t)h->cfg->max_roles, maxp = (size_t)h->cfg->max_permissions;
    int rc = 0;
    switch (ev->type) {
    case ACCESS_USER_ROLES_CHANGED:
        rc = cf_avro_str(body, f->user_id, "user_id", &ev->id, r, rs) ||
             cf_avro_strs(body, f->roles_before, "roles_before", maxr, &ev->roles_before, r, rs) ||
             cf_avro_strs(body, f->roles_after, "roles_after", maxr, &ev->roles_after, r, rs) ||
             cf_avro_opt_strs(body, f->permissions, "permissions", maxp, &ev->has_permissions,
                              &ev->permissions, r, rs);
        break;
    case ACCESS_ROLE_PERMISSIONS_CHANGED:
        rc = cf_avro_str(body, f->role_id, "role_id", &ev->id, r, rs) ||
             cf_avro_strs(body, f->permissions, "permissions", maxp, &ev->permissions, r, rs);
        break;
    case ACCESS_ROLE_DELETED:
        rc = cf_avro_str(body, f->role_id, "role_id", &ev->id, r, rs);
        break;
    case ACCESS_USER_LOGGED_IN:
    case ACCESS_USER_LOGGED_OUT:
        rc = cf_avro_str(body, f->user_id, "user_id", &ev->id, r, rs) ||
             cf_avro_str(body, f->session_key, "session_key", &ev->session_key, r, rs);
        break;
    case ACCESS_USER_LOGGED_OUT_EVERYWHERE:
    case ACCESS_USER_PASSWORD_CHANGED:
    case ACCESS_USER_DEACTIVATED:
        rc = cf_avro_str(body, f->user_id, "user_id", &ev->id, r, rs);
        break;
    case ACCESS_EVENT_TYPES:
        break;
    }
    if (rc)
        return -1;
    return access_plan(h->cfg, ev, out->max_id_bytes, plan, &h->scratch, r, rs);
}

const struct cf_consumer_def access_consumer = {
    .name = "access",
    .topic = "shop.access",
    .schema_file = "access.avsc",
    .event_types = access_event_names,
    .settings = access_settings_table,
    .nsettings = sizeof(access_settings_table) / sizeof(access_settings_table[0]),
    .settings_size = sizeof(struct access_settings),
    .check_settings = check_settings,
    .max_ttl_ms = max_ttl_ms,
    .handler_new = handler_new,
    .handler_destroy = handler_destroy,
    .handle = handle,
};
