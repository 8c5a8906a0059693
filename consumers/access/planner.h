/* planner.h - the access consumer's slices: the rules, as a pure function.
 *
 * What it owns: seed sections 4 and 6 (user sessions, permissions), that
 * is the rows of DESIGN.md's cache contract that topic shop.access feeds:
 *
 *   event                     operations (every index add, remove and
 *                             purge at the event's version, the user's)
 *   UserRolesChanged          index add cf:role:{r} member {user} (no
 *                             expiry) for r in roles_after, not before;
 *                             index remove it for r in roles_before, not
 *                             after; then
 *     + permissions           guarded warm perms:{user} = JSON array of
 *                             the codenames, in the event's order
 *                             (version: the user's; TTL perms_ttl_s),
 *                             guarded by cf:role:{r} for r in roles_after:
 *                             refused if one of those roles changed after
 *                             the event (its fan-out came first); not by
 *                             the key's own cross-entity time, which may
 *                             come from a role the user has left
 *     no permissions (null)   invalidate perms:{user} (versioned)
 *     a role revoked and      purge cf:sessions:{user} (every session of
 *     revoke_sessions_on_     the user not logged in after the event)
 *     role_revoke
 *   RolePermissionsChanged    fan-out cf:role:{role} -> perms:{member}:
 *                             every member's perms deleted, the role's
 *                             time recorded for the guarded warms (ONE
 *                             operation: Redis walks the set)
 *   RoleDeleted               the same fan-out (the set stays: a purge
 *                             would need the members' versions)
 *   UserLoggedIn              index add cf:sessions:{user} member
 *                             {session_key} (TTL session_index_ttl_s)
 *   UserLoggedOut             index remove {session_key} from
 *                             cf:sessions:{user} (Django deleted the session)
 *   UserLoggedOutEverywhere   purge cf:sessions:{user} with member kind
 *   UserPasswordChanged       session_key_prefix: deletes
 *                             <prefix><session_key_prefix><key> for every
 *                             indexed key not logged in after the event,
 *                             i.e. Django's cache session
 *                             ":1:django.contrib.sessions.cache<key>", and
 *                             removes it from the index
 *   UserDeactivated           the purge above, then invalidate perms:{user}
 *
 * Rejected (the event goes to the dead-letter topic): a user or role id
 * that is not a safe key part ("unsafe-id: "); a session key that is not
 * Django's format, 1 to 64 bytes of [a-z0-9], stricter than a key part
 * because it ends a key that Django reads ("invalid-field: "); more than
 * max_roles roles in a list or max_permissions codenames; a codename that
 * is empty, longer than 255 bytes or not UTF-8 ("invalid-field: ").
 *
 * What it does not own: Avro (handler.c maps the decoded value onto struct
 * access_event) or any I/O.  The role -> members and user -> sessions
 * indexes live in Redis and are kept from the events alone: the consumer
 * reads no database.  What the operations do in Redis is functions.lua's.
 */
#ifndef ACCESS_PLANNER_H
#define ACCESS_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "plan.h"

/* The longest permission codename: Django's Permission.codename is a
 * CharField(max_length=100) and the app label another 100; 255 leaves room. */
#define ACCESS_CODENAME_MAX_BYTES 255
/* Django's session keys are 32 characters of [a-z0-9]
 * (get_random_string(32, VALID_KEY_CHARS)); 64 leaves room. */
#define ACCESS_SESSION_KEY_MAX_BYTES 64

struct access_settings {
    long long perms_ttl_s;              /* TTL of perms:{user_id} */
    long long session_index_ttl_s;      /* TTL of cf:sessions:{user_id}, reset on a login */
    char *session_key_prefix;           /* Django's cache session key, less the cache prefix */
    int revoke_sessions_on_role_revoke; /* bool */
    long long max_roles;                /* per list in one event */
    long long max_permissions;          /* codenames in one event */
};

enum access_event_type {
    ACCESS_USER_ROLES_CHANGED,
    ACCESS_ROLE_PERMISSIONS_CHANGED,
    ACCESS_ROLE_DELETED,
    ACCESS_USER_LOGGED_IN,
    ACCESS_USER_LOGGED_OUT,
    ACCESS_USER_LOGGED_OUT_EVERYWHERE,
    ACCESS_USER_PASSWORD_CHANGED,
    ACCESS_USER_DEACTIVATED,
    ACCESS_EVENT_TYPES
};

/* The metrics names of the types above, in order, NULL-terminated. */
extern const char *const access_event_names[];

struct access_event {
    enum access_event_type type;
    uint64_t version; /* the user's for user events, the role's for role events */
    int64_t occurred_at_us;
    struct cf_str id; /* user_id, or role_id for the two role events */

    /* UserRolesChanged */
    struct cf_strs roles_before, roles_after;
    bool has_permissions;
    struct cf_strs permissions; /* also RolePermissionsChanged's (only counted) */

    /* UserLoggedIn, UserLoggedOut */
    struct cf_str session_key;
};

/* Appends the operations for ev to plan.  scratch is a buffer the planner
 * may use (kept by the caller between events; its content on entry is
 * ignored).  max_id_bytes bounds user and role ids.
 * Every field is checked before the first operation is appended.
 * Returns 0, or -1 with a "<code>: <detail>" reason (the caller rolls the
 * plan back to its mark either way). */
int access_plan(const struct access_settings *cfg, const struct access_event *ev,
                size_t max_id_bytes, struct cf_plan *plan, struct cf_buf *scratch, char *reason,
                size_t reason_size);

/* Checks a session key prefix setting: non-empty, at most 256 bytes, no
 * space, brace, glob character or control byte (it is glued to every
 * indexed session key to name the key Django reads).  Returns 0, or -1
 * with a reason that describes the problem without repeating the value. */
int access_session_key_prefix_check(const char *prefix, char *reason, size_t reason_size);

#endif
