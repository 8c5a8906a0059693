/* planner.c - the access consumer's slices: the rules, as a pure function.
 *
 * DESIGN
 * Every field of an event is checked before the first operation is
 * appended, so a rejected event leaves a clean reason and nothing behind
 * (the runtime rolls back to its mark anyway).
 *
 * Role membership.  The web tier caches a user's effective permissions; a
 * change of a role's permissions must drop the cache of every member.  The
 * consumer needs no database for that: UserRolesChanged carries the roles
 * before and after, and the difference is applied to one Redis set per
 * role (cf:role:{role}, no expiry: membership does not age).  A role
 * change is then one fan-out operation, whatever the member count: Redis
 * walks the set inside the function call (functions.lua 'F'), and each
 * member's perms key gets a cross-entity invalidation at the role event's
 * time, so a warm computed before the role changed is refused afterwards
 * and one computed after it is kept.
 *
 * Versions.  Every index add, remove and purge carries the event's
 * version, the user's (all of a user's events, role changes, logins,
 * logouts and purges, share one sequence): Redis keeps the version of
 * each member's last add or remove and of the last purge, and refuses an
 * older one (functions.lua, {<set>}:m).  A replayed login after the
 * logout does not put the session back in the index, a replayed older
 * role change does not put the user back in a role's set, and a replayed
 * older remove or purge does not drop a member a newer event added, which
 * would let a session escape a deactivation or a user's permissions
 * escape a role's fan-out.
 *
 * Sessions.  Django stores a cache-backend session at
 * <cache prefix>django.contrib.sessions.cache<session_key>.  The consumer
 * keeps each user's session keys in cf:sessions:{user} from the login and
 * logout events, and a purge deletes <cache prefix><session prefix><key>
 * for every key in it (but one logged in after the purge's event) and
 * removes it from the index.  The session key ends a key Django
 * reads, so it is held to Django's own alphabet, not just to "safe key
 * part": a key with '-' or '.' can never be one of Django's sessions.
 *
 * The permission list is composed in the caller's scratch buffer (it keeps
 * its capacity, so no allocation per event once warmed) with the one JSON
 * string writer of the fleet (cf_json_quote), in the event's order: the
 * value is what the publisher computed, byte for byte after quoting.
 *
 * Set differences are computed by linear search (cf_strs_contains): the
 * lists are bounded by max_roles and are a handful of roles in practice.
 */
#include "planner.h"

#include <stdio.h>
#include <string.h>

#include "json.h"
#include "keys.h"

const char *const access_event_names[] = {
    "user_roles_changed",    "role_permissions_changed", "role_deleted",
    "user_logged_in",        "user_logged_out",          "user_logged_out_everywhere",
    "user_password_changed", "user_deactivated",         NULL,
};

#define KIND_PERMS    "perms:"
#define KIND_ROLE     "cf:role:"
#define KIND_SESSIONS "cf:sessions:"

#define SESSION_KEY_PREFIX_MAX_BYTES 256

/* ------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------ */

static int check_role_list(const char *field, const struct cf_strs *roles, long long max,
                           size_t max_id, char *reason, size_t reason_size)
{
    if ((long long)roles->n > max)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                         "%s has %zu items, more than %lld", field, roles->n, max);
    for (size_t i = 0; i < roles->n; i++) {
        if (cf_key_part_check(field, roles->items[i].ptr, roles->items[i].len, max_id, CF_KEY_ASCII,
                              reason, reason_size) < 0)
            return -1;
    }
    return 0;
}

static int check_session_key(struct cf_str key, char *reason, size_t reason_size)
{
    if (key.len == 0 || key.len > ACCESS_SESSION_KEY_MAX_BYTES)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                         "session_key is %zu bytes, not 1 to %d", key.len,
                         ACCESS_SESSION_KEY_MAX_BYTES);
    for (size_t i = 0; i < key.len; i++) {
        char c = key.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                             "session_key has a byte other than [a-z0-9] at byte %zu", i);
    }
    return 0;
}

static int check_permission_count(const struct cf_strs *perms, long long max, char *reason,
                                  size_t reason_size)
{
    if ((long long)perms->n > max)
        return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                         "permissions has %zu items, more than %lld", perms->n, max);
    return 0;
}

int access_session_key_prefix_check(const char *prefix, char *reason, size_t reason_size)
{
    size_t len = strlen(prefix);
    if (len == 0 || len > SESSION_KEY_PREFIX_MAX_BYTES) {
        snprintf(reason, reason_size, "is %zu bytes, not 1 to %d", len,
                 SESSION_KEY_PREFIX_MAX_BYTES);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)prefix[i];
        const char *what = NULL;
        if (c < 0x20 || c == 0x7f)
            what = "a control byte";
        else if (c == ' ')
            what = "a space";
        else if (c == '{' || c == '}')
            what = "a brace";
        else if (c == '*' || c == '?' || c == '[' || c == ']')
            what = "a glob character";
        if (what) {
            snprintf(reason, reason_size, "has %s at byte %zu", what, i);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------ */

/* The permission list as a JSON array of strings, into b (emptied first).
 * Returns 0, or -1 with a reason naming the first bad codename by index. */
static int permissions_json(const struct cf_strs *perms, struct cf_buf *b, char *reason,
                            size_t reason_size)
{
    b->len = 0;
    cf_buf_put(b, "[", 1);
    for (size_t i = 0; i < perms->n; i++) {
        struct cf_str s = perms->items[i];
        if (s.len == 0 || s.len > ACCESS_CODENAME_MAX_BYTES)
            return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                             "permissions item %zu is %zu bytes, not 1 to %d", i, s.len,
                             ACCESS_CODENAME_MAX_BYTES);
        long need = cf_json_quote(s.ptr, s.len, NULL, 0);
        if (need < 0)
            return cf_reason(reason, reason_size, CF_REASON_INVALID_FIELD,
                             "permissions item %zu is not UTF-8", i);
        if (i)
            cf_buf_put(b, ",", 1);
        cf_buf_reserve(b, (size_t)need + 1);
        cf_json_quote(s.ptr, s.len, b->data + b->len, (size_t)need + 1);
        b->len += (size_t)need;
    }
    cf_buf_put(b, "]", 1);
    return 0;
}

/* ------------------------------------------------------------------------
 * Operations
 * ------------------------------------------------------------------------ */

static void purge_sessions(const struct access_settings *cfg, const struct access_event *ev,
                           struct cf_plan *plan)
{
    cf_plan_purge(plan, KIND_SESSIONS, ev->id.ptr, ev->id.len, cfg->session_key_prefix,
                  ev->version);
}

/* Some role of roles_before missing from roles_after? */
static bool role_revoked(const struct access_event *ev)
{
    for (size_t i = 0; i < ev->roles_before.n; i++) {
        if (!cf_strs_contains(&ev->roles_after, ev->roles_before.items[i]))
            return true;
    }
    return false;
}

static int plan_roles_changed(const struct access_settings *cfg, const struct access_event *ev,
                              size_t max_id, struct cf_plan *plan, struct cf_buf *scratch,
                              char *reason, size_t reason_size)
{
    const struct cf_str *user = &ev->id;
    if (check_role_list("roles_before", &ev->roles_before, cfg->max_roles, max_id, reason,
                        reason_size) < 0 ||
        check_role_list("roles_after", &ev->roles_after, cfg->max_roles, max_id, reason,
                        reason_size) < 0)
        return -1;
    if (ev->has_permissions) {
        if (check_permission_count(&ev->permissions, cfg->max_permissions, reason, reason_size) <
                0 ||
            permissions_json(&ev->permissions, scratch, reason, reason_size) < 0)
            return -1;
    }

    for (size_t i = 0; i < ev->roles_after.n; i++) {
        struct cf_str r = ev->roles_after.items[i];
        if (!cf_strs_contains(&ev->roles_before, r))
            cf_plan_index_add(plan, KIND_ROLE, r.ptr, r.len, user->ptr, user->len, ev->version, 0);
    }
    for (size_t i = 0; i < ev->roles_before.n; i++) {
        struct cf_str r = ev->roles_before.items[i];
        if (!cf_strs_contains(&ev->roles_after, r))
            cf_plan_index_remove(plan, KIND_ROLE, r.ptr, r.len, user->ptr, user->len, ev->version);
    }
    if (ev->has_permissions) {
        /* Guarded by the roles held: permissions computed before one of
         * them changed (its fan-out may have run first, from another
         * partition) must not be cached. */
        cf_plan_warm_guarded(plan, KIND_PERMS, user->ptr, user->len, ev->version,
                             ev->occurred_at_us, cfg->perms_ttl_s * 1000, scratch->data,
                             scratch->len);
        for (size_t i = 0; i < ev->roles_after.n; i++)
            cf_plan_guard(plan, KIND_ROLE, ev->roles_after.items[i].ptr,
                          ev->roles_after.items[i].len);
    } else
        cf_plan_invalidate(plan, KIND_PERMS, user->ptr, user->len, ev->version, ev->occurred_at_us);
    if (cfg->revoke_sessions_on_role_revoke && role_revoked(ev))
        purge_sessions(cfg, ev, plan);
    return 0;
}

int access_plan(const struct access_settings *cfg, const struct access_event *ev,
                size_t max_id_bytes, struct cf_plan *plan, struct cf_buf *scratch, char *reason,
                size_t reason_size)
{
    if ((int)ev->type < 0 || ev->type >= ACCESS_EVENT_TYPES)
        return cf_reason(reason, reason_size, CF_REASON_UNKNOWN_TYPE, "event type %d",
                         (int)ev->type);
    bool role_event =
        ev->type == ACCESS_ROLE_PERMISSIONS_CHANGED || ev->type == ACCESS_ROLE_DELETED;
    if (cf_key_part_check(role_event ? "role_id" : "user_id", ev->id.ptr, ev->id.len, max_id_bytes,
                          CF_KEY_ASCII, reason, reason_size) < 0)
        return -1;
    int64_t ts = ev->occurred_at_us;

    switch (ev->type) {
    case ACCESS_USER_ROLES_CHANGED:
        return plan_roles_changed(cfg, ev, max_id_bytes, plan, scratch, reason, reason_size);

    case ACCESS_ROLE_PERMISSIONS_CHANGED:
        if (check_permission_count(&ev->permissions, cfg->max_permissions, reason, reason_size) < 0)
            return -1;
        cf_plan_fanout(plan, KIND_ROLE, ev->id.ptr, ev->id.len, KIND_PERMS, ts);
        return 0;

    case ACCESS_ROLE_DELETED:
        /* The members' permissions go.  The member set stays: a purge is
         * versioned by the members' own (users') versions, which a role's
         * event does not carry, so it could neither refuse an older
         * membership nor spare a newer one; the users' own role changes
         * empty the set. */
        cf_plan_fanout(plan, KIND_ROLE, ev->id.ptr, ev->id.len, KIND_PERMS, ts);
        return 0;

    case ACCESS_USER_LOGGED_IN:
        if (check_session_key(ev->session_key, reason, reason_size) < 0)
            return -1;
        cf_plan_index_add(plan, KIND_SESSIONS, ev->id.ptr, ev->id.len, ev->session_key.ptr,
                          ev->session_key.len, ev->version, cfg->session_index_ttl_s * 1000);
        return 0;

    case ACCESS_USER_LOGGED_OUT:
        if (check_session_key(ev->session_key, reason, reason_size) < 0)
            return -1;
        cf_plan_index_remove(plan, KIND_SESSIONS, ev->id.ptr, ev->id.len, ev->session_key.ptr,
                             ev->session_key.len, ev->version);
        return 0;

    case ACCESS_USER_LOGGED_OUT_EVERYWHERE:
    case ACCESS_USER_PASSWORD_CHANGED:
        purge_sessions(cfg, ev, plan);
        return 0;

    case ACCESS_USER_DEACTIVATED:
        purge_sessions(cfg, ev, plan);
        cf_plan_invalidate(plan, KIND_PERMS, ev->id.ptr, ev->id.len, ev->version, ts);
        return 0;

    case ACCESS_EVENT_TYPES:
        break;
    }
    return cf_reason(reason, reason_size, CF_REASON_UNKNOWN_TYPE, "event type %d", (int)ev->type);
}
