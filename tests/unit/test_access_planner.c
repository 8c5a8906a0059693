/* test_access_planner.c - the access consumer's slice rules
 * (consumers/access/planner.c) as a pure function: one event in, the exact
 * list of cache operations out, or a rejection with its reason.
 *
 * Every trigger of seed sections 4 (user sessions) and 6 (permissions),
 * that is every row of DESIGN.md's cache contract that topic shop.access
 * feeds, is a row of a table below.  An accepted row lists every operation
 * the planner must append, each rendered as one line with every field it
 * carries, e.g.
 *
 *   A :1:cf:role:admin member=42 v=7 ttl=0
 *   T :1:perms:42 v=7 ts=1000 ttl=3600000 value=["shop.view_order"] guards=...
 *   F :1:cf:role:admin ts=2000 prefix=:1:perms:
 *   P :1:cf:sessions:42 prefix=:1:django.contrib.sessions.cache v=7
 *
 * and a field an operation does not use is rendered as "!field=..." when it
 * is not zero, so an F that carried a version would fail its row.  A
 * rejected row gives the start of the reason ("invalid-field: "), and may
 * name bytes the reason must never repeat; the planner checks every field
 * before it appends anything, so a rejected event must have appended
 * nothing at all (before the runtime's rollback).
 *
 * Every row runs against a plan that already holds an earlier event's
 * operations, with a scratch buffer holding an earlier event's bytes.  The
 * event's strings are copied into heap blocks of exactly their length and
 * freed as soon as the planner returns, so AddressSanitizer sees a read
 * past a view's length, and any operation still pointing into the event.
 *
 * Then coalescing of the planner's output (one batch, several events: two
 * logins then a purge; a fan-out, a member added, another fan-out), a role
 * with thousands of members (one fan-out operation whatever the count),
 * rollback, the limits at and beyond their bounds, and the settings check.
 */
#include "testutil.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The paths, not just "planner.h": every consumer has a planner.h and the
 * tests link every consumer's library (and so see every include dir). */
#include "../../consumers/access/access.h"
#include "../../consumers/access/planner.h"
#include "plan.h"
#include "plantest.h"

/* ------------------------------------------------------------------------
 * Fixtures
 * ------------------------------------------------------------------------ */

/* clang-format off */
#define STR(lit) {(lit), sizeof(lit) - 1}
#define LIST(...)                                                                                  \
    {(struct cf_str[]){__VA_ARGS__}, sizeof((struct cf_str[]){__VA_ARGS__}) / sizeof(struct cf_str), \
     sizeof((struct cf_str[]){__VA_ARGS__}) / sizeof(struct cf_str)}
/* clang-format on */

#define MAX_ID      128
#define REASON_SIZE 256

static char django_prefix[] = "django.contrib.sessions.cache";
static const struct access_settings settings = {
    .perms_ttl_s = 3600,
    .session_index_ttl_s = 1209600,
    .session_key_prefix = django_prefix,
    .revoke_sessions_on_role_revoke = 0,
    .max_roles = 1000,
    .max_permissions = 10000,
};
static const struct access_settings revoking = {
    .perms_ttl_s = 3600,
    .session_index_ttl_s = 1209600,
    .session_key_prefix = django_prefix,
    .revoke_sessions_on_role_revoke = 1,
    .max_roles = 1000,
    .max_permissions = 10000,
};

/* Django session keys: 32 characters of [a-z0-9]. */
#define K1 "0123456789abcdefghijklmnopqrstuv"
#define K2 "wxyz0123456789abcdefghijklmnopqr"

/* ------------------------------------------------------------------------
 * Calling the planner on exact-size heap copies of the event's strings
 * ------------------------------------------------------------------------ */

/* access_plan() on a copy of ev whose every string is a heap block of
 * exactly its length, freed before this returns. */
static int plan_event(const struct access_settings *cfg, const struct access_event *ev,
                      size_t max_id, struct cf_plan *plan, struct cf_buf *scratch, char *reason,
                      size_t reason_size)
{
    struct cf_pt_owned o = {0};
    struct access_event copy = *ev;
    copy.id = cf_pt_dup_str(&o, ev->id);
    copy.roles_before = cf_pt_dup_strs(&o, ev->roles_before);
    copy.roles_after = cf_pt_dup_strs(&o, ev->roles_after);
    copy.permissions = cf_pt_dup_strs(&o, ev->permissions);
    copy.session_key = cf_pt_dup_str(&o, ev->session_key);
    int rc = access_plan(cfg, &copy, max_id, plan, scratch, reason, reason_size);
    cf_pt_owned_free(&o);
    return rc;
}

/* An earlier event in the same batch: the plan every row starts from. */
static void plan_earlier_event(struct cf_plan *plan, struct cf_buf *scratch)
{
    struct access_event ev = {
        .type = ACCESS_USER_ROLES_CHANGED,
        .version = 1,
        .occurred_at_us = 10,
        .id = STR("1"),
        .roles_after = LIST(STR("r9")),
        .has_permissions = true,
        .permissions = LIST(STR("earlier.perm")),
    };
    char reason[REASON_SIZE] = "";
    int rc = plan_event(&settings, &ev, MAX_ID, plan, scratch, reason, sizeof(reason));
    if (rc != 0)
        print_error("earlier event rejected: %s\n", reason);
    assert_int_equal(rc, 0);
}

static const char *const earlier_ops[] = {
    "A :1:cf:role:r9 member=1 v=1 ttl=0",
    "T :1:perms:1 v=1 ts=10 ttl=3600000 value=[\"earlier.perm\"] guards=:1:cf:role:r9",
    NULL,
};

/* ------------------------------------------------------------------------
 * One event: the table
 * ------------------------------------------------------------------------ */

struct row {
    const char *name;
    const struct access_settings *cfg; /* NULL: settings */
    struct access_event ev;
    const char *reason; /* NULL: accepted; else how the reason starts */
    const char *secret; /* bytes a reason must never repeat */
    const char *ops[16];
};

/* The tables are laid out by hand, one case per paragraph. */
/* clang-format off */
#define ROLES   ACCESS_USER_ROLES_CHANGED
#define ROLE_PERMS ACCESS_ROLE_PERMISSIONS_CHANGED
#define ROLE_DEL ACCESS_ROLE_DELETED
#define LOGIN   ACCESS_USER_LOGGED_IN
#define LOGOUT  ACCESS_USER_LOGGED_OUT
#define EVERYWHERE ACCESS_USER_LOGGED_OUT_EVERYWHERE
#define PASSWORD ACCESS_USER_PASSWORD_CHANGED
#define DEACTIVATED ACCESS_USER_DEACTIVATED

/* User 42 logs in or out with session key k. */
#define SESSION(t, k)                                                                              \
    {.type = (t), .version = 3, .occurred_at_us = 1000, .id = STR("42"), .session_key = STR(k)}
/* An event about user (or role) idlit alone. */
#define USER(t, idlit) {.type = (t), .version = 3, .occurred_at_us = 1000, .id = STR(idlit)}
/* User 42 gets role "staff" and the permission codename c. */
#define PERMS(c)                                                                                   \
    {.type = ROLES, .version = 7, .occurred_at_us = 1000, .id = STR("42"),                         \
     .roles_after = LIST(STR("staff")), .has_permissions = true, .permissions = LIST(STR(c))}

#define PURGE42(v) "P :1:cf:sessions:42 prefix=:1:django.contrib.sessions.cache v=" #v
#define ADD(role, user, v) "A :1:cf:role:" role " member=" user " v=" #v " ttl=0"
#define REM(role, user, v) "R :1:cf:role:" role " member=" user " v=" #v

static struct row accepted[] = {
    /* --- permissions (seed 6): roles changed --- */
    {.name = "roles changed with permissions: A for the added role, W the JSON array",
     .ev = {.type = ROLES, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .roles_before = LIST(STR("staff")), .roles_after = LIST(STR("staff"), STR("admin")),
            .has_permissions = true,
            .permissions = LIST(STR("shop.view_order"), STR("shop.change_order"))},
     .ops = {ADD("admin", "42", 7),
             "T :1:perms:42 v=7 ts=1000 ttl=3600000 "
             "value=[\"shop.view_order\",\"shop.change_order\"] guards=:1:cf:role:staff,:1:cf:role:admin"}},
    {.name = "roles changed without permissions (null): index ops, then D perms",
     .ev = {.type = ROLES, .version = 8, .occurred_at_us = 2000, .id = STR("42"),
            .roles_before = LIST(STR("staff"), STR("buyer")),
            .roles_after = LIST(STR("admin"), STR("staff")), .has_permissions = false,
            .permissions = LIST(STR("ignored.when_null"))},
     .ops = {ADD("admin", "42", 8), REM("buyer", "42", 8), "D :1:perms:42 v=8 ts=2000"}},
    {.name = "first roles of a new user: A for each, in the event's order",
     .ev = {.type = ROLES, .version = 1, .occurred_at_us = 500, .id = STR("u-1"),
            .roles_after = LIST(STR("b"), STR("a"), STR("c")), .has_permissions = true,
            .permissions = LIST(STR("z.z"), STR("a.a"))},
     .ops = {ADD("b", "u-1", 1), ADD("a", "u-1", 1), ADD("c", "u-1", 1),
             "T :1:perms:u-1 v=1 ts=500 ttl=3600000 value=[\"z.z\",\"a.a\"] guards=:1:cf:role:b,:1:cf:role:a,:1:cf:role:c"}},
    {.name = "every role removed, no permission left: W of an empty array",
     .ev = {.type = ROLES, .version = 9, .occurred_at_us = 3000, .id = STR("42"),
            .roles_before = LIST(STR("staff")), .has_permissions = true},
     .ops = {REM("staff", "42", 9), "T :1:perms:42 v=9 ts=3000 ttl=3600000 value=[] guards="}},
    {.name = "same roles in another order: no index op, only the perms",
     .ev = {.type = ROLES, .version = 10, .occurred_at_us = 4000, .id = STR("42"),
            .roles_before = LIST(STR("a"), STR("b")), .roles_after = LIST(STR("b"), STR("a")),
            .has_permissions = true, .permissions = LIST(STR("x.y"))},
     .ops = {"T :1:perms:42 v=10 ts=4000 ttl=3600000 value=[\"x.y\"] guards=:1:cf:role:b,:1:cf:role:a"}},
    {.name = "codenames JSON-quoted (quote, backslash, tab, control, UTF-8 kept raw)",
     .ev = PERMS("a\"b\\c\td\x01" "e\xc3\xa9\xf0\x9f\x94\x91/\x7f"),
     .ops = {ADD("staff", "42", 7),
             "T :1:perms:42 v=7 ts=1000 ttl=3600000 "
             "value=[\"a\\\"b\\\\c\\td\\u0001e\xc3\xa9\xf0\x9f\x94\x91/\\x7f\"] "
             "guards=:1:cf:role:staff"}},
    {.name = "codename with a NUL byte: written as \\u0000",
     .ev = PERMS("a\0b"),
     .ops = {ADD("staff", "42", 7), "T :1:perms:42 v=7 ts=1000 ttl=3600000 value=[\"a\\u0000b\"] guards=:1:cf:role:staff"}},
    {.name = "duplicate codenames kept as sent",
     .ev = {.type = ROLES, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .has_permissions = true, .permissions = LIST(STR("a.b"), STR("a.b"))},
     .ops = {"T :1:perms:42 v=7 ts=1000 ttl=3600000 value=[\"a.b\",\"a.b\"] guards="}},
    {.name = "largest version and time are carried whole",
     .ev = {.type = ROLES, .version = UINT64_MAX, .occurred_at_us = INT64_MAX, .id = STR("42"),
            .has_permissions = true},
     .ops = {"T :1:perms:42 v=18446744073709551615 ts=9223372036854775807 ttl=3600000 value=[] guards="}},

    /* --- role revocation and sessions (seed 4) --- */
    {.name = "role revoked, revoke setting off: R and perms, sessions kept",
     .ev = {.type = ROLES, .version = 11, .occurred_at_us = 5000, .id = STR("42"),
            .roles_before = LIST(STR("admin"), STR("staff")), .roles_after = LIST(STR("staff")),
            .has_permissions = true, .permissions = LIST(STR("shop.view_order"))},
     .ops = {REM("admin", "42", 11),
             "T :1:perms:42 v=11 ts=5000 ttl=3600000 value=[\"shop.view_order\"] guards=:1:cf:role:staff"}},
    {.name = "role revoked, revoke setting on: R, perms, then P of the sessions",
     .cfg = &revoking,
     .ev = {.type = ROLES, .version = 11, .occurred_at_us = 5000, .id = STR("42"),
            .roles_before = LIST(STR("admin"), STR("staff")), .roles_after = LIST(STR("staff")),
            .has_permissions = true, .permissions = LIST(STR("shop.view_order"))},
     .ops = {REM("admin", "42", 11),
             "T :1:perms:42 v=11 ts=5000 ttl=3600000 value=[\"shop.view_order\"] guards=:1:cf:role:staff", PURGE42(11)}},
    {.name = "role swapped (one revoked, one granted), revoke setting on: P",
     .cfg = &revoking,
     .ev = {.type = ROLES, .version = 12, .occurred_at_us = 6000, .id = STR("42"),
            .roles_before = LIST(STR("admin")), .roles_after = LIST(STR("staff")),
            .has_permissions = false},
     .ops = {ADD("staff", "42", 12), REM("admin", "42", 12), "D :1:perms:42 v=12 ts=6000", PURGE42(12)}},
    {.name = "roles only granted, revoke setting on: no P",
     .cfg = &revoking,
     .ev = {.type = ROLES, .version = 13, .occurred_at_us = 7000, .id = STR("42"),
            .roles_before = LIST(STR("staff")), .roles_after = LIST(STR("staff"), STR("admin")),
            .has_permissions = false},
     .ops = {ADD("admin", "42", 13), "D :1:perms:42 v=13 ts=7000"}},
    {.name = "roles unchanged, revoke setting on: no P",
     .cfg = &revoking,
     .ev = {.type = ROLES, .version = 14, .occurred_at_us = 8000, .id = STR("42"),
            .roles_before = LIST(STR("staff")), .roles_after = LIST(STR("staff")),
            .has_permissions = true},
     .ops = {"T :1:perms:42 v=14 ts=8000 ttl=3600000 value=[] guards=:1:cf:role:staff"}},

    /* --- permissions (seed 6): a role's permissions changed or role deleted --- */
    {.name = "role permissions changed: ONE fan-out over the role's members",
     .ev = {.type = ROLE_PERMS, .version = 4, .occurred_at_us = 9000, .id = STR("admin"),
            .permissions = LIST(STR("shop.view_order"), STR("shop.delete_order"))},
     .ops = {"F :1:cf:role:admin ts=9000 prefix=:1:perms:"}},
    {.name = "role permissions changed to none: the same fan-out",
     .ev = {.type = ROLE_PERMS, .version = 5, .occurred_at_us = 9100, .id = STR("admin")},
     .ops = {"F :1:cf:role:admin ts=9100 prefix=:1:perms:"}},
    {.name = "role deleted: the same fan-out",
     .ev = {.type = ROLE_DEL, .version = 6, .occurred_at_us = 9200, .id = STR("r.1_x-2")},
     .ops = {"F :1:cf:role:r.1_x-2 ts=9200 prefix=:1:perms:"}},

    /* --- user sessions (seed 4) --- */
    {.name = "logged in: A the session key to the user's index, TTL of Django's sessions",
     .ev = SESSION(LOGIN, K1),
     .ops = {"A :1:cf:sessions:42 member=" K1 " v=3 ttl=1209600000"}},
    {.name = "logged in with a 1-byte and a digits-only key",
     .ev = SESSION(LOGIN, "7"),
     .ops = {"A :1:cf:sessions:42 member=7 v=3 ttl=1209600000"}},
    {.name = "logged in with a 64-byte key",
     .ev = SESSION(LOGIN, K1 K2),
     .ops = {"A :1:cf:sessions:42 member=" K1 K2 " v=3 ttl=1209600000"}},
    {.name = "logged out at the largest version: the user's version carried whole",
     .ev = {.type = LOGOUT, .version = UINT64_MAX, .occurred_at_us = 1000, .id = STR("42"),
            .session_key = STR(K1)},
     .ops = {"R :1:cf:sessions:42 member=" K1 " v=18446744073709551615"}},
    {.name = "password changed at version 99: the purge carries it",
     .ev = {.type = PASSWORD, .version = 99, .occurred_at_us = 1000, .id = STR("42")},
     .ops = {PURGE42(99)}},
    {.name = "logged out: R the session key (Django deleted the session)",
     .ev = SESSION(LOGOUT, K2),
     .ops = {"R :1:cf:sessions:42 member=" K2 " v=3"}},
    {.name = "logged out everywhere: P every session (at the event's version)",
     .ev = USER(EVERYWHERE, "42"), .ops = {PURGE42(3)}},
    {.name = "password changed: P every session (at the event's version)",
     .ev = USER(PASSWORD, "42"), .ops = {PURGE42(3)}},
    {.name = "deactivated: P every session, then D perms",
     .ev = USER(DEACTIVATED, "42"), .ops = {PURGE42(3), "D :1:perms:42 v=3 ts=1000"}},
    {.name = "deactivated with the revoke setting on: the same",
     .cfg = &revoking,
     .ev = USER(DEACTIVATED, "42"), .ops = {PURGE42(3), "D :1:perms:42 v=3 ts=1000"}},
    {.name = "user id with every allowed character class",
     .ev = USER(PASSWORD, "Ab-9_z.x"),
     .ops = {"P :1:cf:sessions:Ab-9_z.x prefix=:1:django.contrib.sessions.cache v=3"}},
};

#define SECRET_KEY "SECRETKEY"

static struct row rejected[] = {
    /* --- user ids --- */
    {.name = "roles changed: user id with a space", .ev = USER(ROLES, "4 2"),
     .reason = "unsafe-id: user_id has a space"},
    {.name = "roles changed: user id with a colon (would forge {key}:v)",
     .ev = USER(ROLES, "42:v"), .reason = "unsafe-id: "},
    {.name = "roles changed: user id never in the reason", .ev = USER(ROLES, "SECRET-ID*"),
     .reason = "unsafe-id: ", .secret = "SECRET-ID"},
    {.name = "logged in: user id with a brace",
     .ev = {.type = LOGIN, .version = 1, .occurred_at_us = 1, .id = STR("{42}"),
            .session_key = STR(K1)},
     .reason = "unsafe-id: user_id"},
    {.name = "logged out: user id empty",
     .ev = {.type = LOGOUT, .version = 1, .occurred_at_us = 1, .id = STR(""),
            .session_key = STR(K1)},
     .reason = "unsafe-id: user_id is"},
    {.name = "logged out everywhere: user id with a glob character",
     .ev = USER(EVERYWHERE, "4*"), .reason = "unsafe-id: "},
    {.name = "password changed: user id with a newline", .ev = USER(PASSWORD, "4\n2"),
     .reason = "unsafe-id: "},
    {.name = "deactivated: user id with a NUL", .ev = USER(DEACTIVATED, "4\0002"),
     .reason = "unsafe-id: "},
    {.name = "deactivated: user id not ASCII", .ev = USER(DEACTIVATED, "caf\xc3\xa9"),
     .reason = "unsafe-id: "},

    /* --- role ids --- */
    {.name = "role permissions changed: role id with a colon", .ev = USER(ROLE_PERMS, "a:b"),
     .reason = "unsafe-id: role_id has a colon"},
    {.name = "role deleted: role id with a brace", .ev = USER(ROLE_DEL, "{r}"),
     .reason = "unsafe-id: role_id"},
    {.name = "role deleted: role id never in the reason", .ev = USER(ROLE_DEL, "SECRET-ROLE?"),
     .reason = "unsafe-id: ", .secret = "SECRET-ROLE"},
    {.name = "roles changed: unsafe role in roles_before",
     .ev = {.type = ROLES, .version = 1, .occurred_at_us = 1, .id = STR("42"),
            .roles_before = LIST(STR("ok"), STR("SECRET-ROLE x")), .has_permissions = true},
     .reason = "unsafe-id: roles_before has a space", .secret = "SECRET-ROLE"},
    {.name = "roles changed: unsafe role in roles_after",
     .ev = {.type = ROLES, .version = 1, .occurred_at_us = 1, .id = STR("42"),
            .roles_after = LIST(STR("a:b"))},
     .reason = "unsafe-id: roles_after has a colon"},
    {.name = "roles changed: empty role in roles_after",
     .ev = {.type = ROLES, .version = 1, .occurred_at_us = 1, .id = STR("42"),
            .roles_after = LIST(STR("ok"), STR(""))},
     .reason = "unsafe-id: roles_after is"},

    /* --- session keys: Django's format only --- */
    {.name = "session key empty", .ev = SESSION(LOGIN, ""), .reason = "invalid-field: session_key"},
    {.name = "session key of 65 bytes", .ev = SESSION(LOGIN, K1 K2 "a"),
     .reason = "invalid-field: session_key is 65 bytes"},
    {.name = "session key in upper case, never in the reason", .ev = SESSION(LOGIN, SECRET_KEY),
     .reason = "invalid-field: session_key", .secret = SECRET_KEY},
    {.name = "session key with '-' (a safe key part, not Django's)",
     .ev = SESSION(LOGIN, "abc-def"), .reason = "invalid-field: session_key"},
    {.name = "session key with '.'", .ev = SESSION(LOGIN, "abc.def"),
     .reason = "invalid-field: session_key"},
    {.name = "session key with '_'", .ev = SESSION(LOGIN, "abc_def"),
     .reason = "invalid-field: session_key"},
    {.name = "session key with a colon", .ev = SESSION(LOGIN, "abc:v"),
     .reason = "invalid-field: session_key"},
    {.name = "session key with a space", .ev = SESSION(LOGIN, "abc def"),
     .reason = "invalid-field: session_key"},
    {.name = "session key with a glob character", .ev = SESSION(LOGIN, "abc*"),
     .reason = "invalid-field: session_key"},
    {.name = "session key with a brace", .ev = SESSION(LOGIN, "{abc}"),
     .reason = "invalid-field: session_key"},
    {.name = "session key with a NUL", .ev = SESSION(LOGIN, "abc\0def"),
     .reason = "invalid-field: session_key"},
    {.name = "session key not ASCII", .ev = SESSION(LOGIN, "caf\xc3\xa9"),
     .reason = "invalid-field: session_key"},
    {.name = "logged out with a bad session key", .ev = SESSION(LOGOUT, "a/b"),
     .reason = "invalid-field: session_key"},
    {.name = "user id checked before the session key",
     .ev = {.type = LOGIN, .version = 1, .occurred_at_us = 1, .id = STR("4 2"),
            .session_key = STR("BAD")},
     .reason = "unsafe-id: user_id"},

    /* --- permission codenames --- */
    {.name = "codename empty", .ev = PERMS(""), .reason = "invalid-field: permissions item 0"},
    {.name = "codename not UTF-8, never in the reason", .ev = PERMS("SECRET-PERM\xff"),
     .reason = "invalid-field: permissions item 0 is not", .secret = "SECRET-PERM"},
    {.name = "codename with truncated UTF-8", .ev = PERMS("caf\xc3"),
     .reason = "invalid-field: permissions"},
    {.name = "codename with overlong UTF-8", .ev = PERMS("\xc0\xaf"),
     .reason = "invalid-field: permissions"},
    {.name = "codename with a surrogate in UTF-8", .ev = PERMS("a\xed\xa0\x80"),
     .reason = "invalid-field: permissions"},
    {.name = "second codename bad: named by its index",
     .ev = {.type = ROLES, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .roles_after = LIST(STR("staff")), .has_permissions = true,
            .permissions = LIST(STR("a.b"), STR("\xff"))},
     .reason = "invalid-field: permissions item 1"},
    {.name = "bad codename rejected even with good roles before and after (nothing appended)",
     .cfg = &revoking,
     .ev = {.type = ROLES, .version = 7, .occurred_at_us = 1000, .id = STR("42"),
            .roles_before = LIST(STR("admin")), .roles_after = LIST(STR("staff")),
            .has_permissions = true, .permissions = LIST(STR("ok.perm"), STR(""))},
     .reason = "invalid-field: permissions item 1"},

    /* --- the rest --- */
    {.name = "unknown event type", .ev = USER(ACCESS_EVENT_TYPES, "42"),
     .reason = "unknown-type: "},
    {.name = "unknown event type beyond the enum", .ev = USER(ACCESS_EVENT_TYPES + 3, "42"),
     .reason = "unknown-type: "},
};

/* clang-format on */

static void test_row(void **state)
{
    const struct row *r = *state;
    const struct access_settings *cfg = r->cfg ? r->cfg : &settings;
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    char reason[REASON_SIZE] = "untouched";

    plan_earlier_event(plan, &scratch);
    /* Left over from an earlier event: must not leak into this one. */
    cf_buf_puts(&scratch, "[\"stale\"]");
    size_t mark = cf_plan_mark(plan);
    assert_int_equal(mark, cf_pt_count_lines(earlier_ops));

    int rc = plan_event(cfg, &r->ev, MAX_ID, plan, &scratch, reason, sizeof(reason));
    if (r->reason) {
        cf_pt_expect_rejected(rc, reason, r->reason, r->secret);
        /* Every field is checked before the first append. */
        assert_int_equal(cf_plan_count(plan), mark);
        cf_plan_rollback(plan, mark);
        assert_int_equal(cf_plan_count(plan), mark);
    } else {
        if (rc != 0)
            print_error("rejected: %s\n", reason);
        assert_int_equal(rc, 0);
        cf_pt_expect_ops(plan, mark, cf_plan_count(plan), false, r->ops);
    }
    cf_pt_expect_ops(plan, 0, mark, false, earlier_ops);

    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
}

/* ------------------------------------------------------------------------
 * One batch: the planner's output coalesced
 * ------------------------------------------------------------------------ */

struct batch_row {
    const char *name;
    const struct access_settings *cfg; /* NULL: settings */
    size_t nev;
    struct access_event ev[6];
    const char *live[16]; /* after cf_plan_coalesce(), in plan order */
};

/* clang-format off */
#define LOGIN_AT(k, v, ts)                                                                         \
    {.type = LOGIN, .version = (v), .occurred_at_us = (ts), .id = STR("42"), .session_key = STR(k)}
#define LOGOUT_AT(k, v, ts)                                                                        \
    {.type = LOGOUT, .version = (v), .occurred_at_us = (ts), .id = STR("42"), .session_key = STR(k)}
/* An event about user 42 alone at version v (a purge). */
#define USER_AT(t, v) {.type = (t), .version = (v), .occurred_at_us = 1000 + (v), .id = STR("42")}
#define FANOUT(t, role, ts) {.type = (t), .version = 1, .occurred_at_us = (ts), .id = STR(role)}
#define JOIN(user, role, v, ts)                                                                    \
    {.type = ROLES, .version = (v), .occurred_at_us = (ts), .id = STR(user),                       \
     .roles_after = LIST(STR(role))}
#define SESSIONS_ADD(k, v) "A :1:cf:sessions:42 member=" k " v=" #v " ttl=1209600000"

static struct batch_row batches[] = {
    {.name = "two logins then a purge: both A kept, the P after them",
     .nev = 3, .ev = {LOGIN_AT(K1, 1, 100), LOGIN_AT(K2, 2, 200), USER_AT(PASSWORD, 3)},
     .live = {SESSIONS_ADD(K1, 1), SESSIONS_ADD(K2, 2), PURGE42(3)}},
    {.name = "login, purge, login: all three kept, in order (the last session survives)",
     .nev = 3, .ev = {LOGIN_AT(K1, 1, 100), USER_AT(EVERYWHERE, 2), LOGIN_AT(K2, 3, 300)},
     .live = {SESSIONS_ADD(K1, 1), PURGE42(2), SESSIONS_ADD(K2, 3)}},
    {.name = "two purges with nothing between: one P",
     .nev = 2, .ev = {USER_AT(EVERYWHERE, 4), USER_AT(PASSWORD, 5)},
     .live = {PURGE42(5)}},
    {.name = "a purge, then an older one replayed: one P, the newer version, last position",
     .nev = 3, .ev = {USER_AT(EVERYWHERE, 5), FANOUT(ROLE_PERMS, "admin", 100),
                      USER_AT(PASSWORD, 4)},
     .live = {"F :1:cf:role:admin ts=100 prefix=:1:perms:", PURGE42(5)}},
    {.name = "purge, login, purge: both P kept (membership changed in between)",
     .nev = 3, .ev = {USER_AT(EVERYWHERE, 1), LOGIN_AT(K1, 2, 200), USER_AT(PASSWORD, 3)},
     .live = {PURGE42(1), SESSIONS_ADD(K1, 2), PURGE42(3)}},
    {.name = "login then logout of one session: only the R",
     .nev = 2, .ev = {LOGIN_AT(K1, 1, 100), LOGOUT_AT(K1, 2, 200)},
     .live = {"R :1:cf:sessions:42 member=" K1 " v=2"}},
    {.name = "logout, then its login replayed: only the R (the newer version)",
     .nev = 2, .ev = {LOGOUT_AT(K1, 2, 200), LOGIN_AT(K1, 1, 100)},
     .live = {"R :1:cf:sessions:42 member=" K1 " v=2"}},
    {.name = "login, then an older logout replayed: only the A, with its TTL",
     .nev = 2, .ev = {LOGIN_AT(K1, 5, 500), LOGOUT_AT(K1, 4, 400)},
     .live = {SESSIONS_ADD(K1, 5)}},
    {.name = "fan-out, member added, fan-out: both fan-outs survive",
     .nev = 3,
     .ev = {FANOUT(ROLE_PERMS, "admin", 100), JOIN("7", "admin", 2, 150),
            FANOUT(ROLE_PERMS, "admin", 200)},
     .live = {"F :1:cf:role:admin ts=100 prefix=:1:perms:", ADD("admin", "7", 2),
              "D :1:perms:7 v=2 ts=150", "F :1:cf:role:admin ts=200 prefix=:1:perms:"}},
    {.name = "fan-out, member removed, fan-out: both fan-outs survive",
     .nev = 3,
     .ev = {FANOUT(ROLE_PERMS, "admin", 100),
            {.type = ROLES, .version = 3, .occurred_at_us = 150, .id = STR("7"),
             .roles_before = LIST(STR("admin"))},
            FANOUT(ROLE_PERMS, "admin", 200)},
     .live = {"F :1:cf:role:admin ts=100 prefix=:1:perms:", REM("admin", "7", 3),
              "D :1:perms:7 v=3 ts=150", "F :1:cf:role:admin ts=200 prefix=:1:perms:"}},
    {.name = "two fan-outs of one role, nothing between: one F, latest time, last position",
     .nev = 3,
     .ev = {FANOUT(ROLE_PERMS, "admin", 200), JOIN("7", "staff", 2, 150),
            FANOUT(ROLE_PERMS, "admin", 100)},
     .live = {ADD("staff", "7", 2), "D :1:perms:7 v=2 ts=150",
              "F :1:cf:role:admin ts=200 prefix=:1:perms:"}},
    {.name = "fan-outs of two roles: both kept",
     .nev = 2, .ev = {FANOUT(ROLE_PERMS, "admin", 100), FANOUT(ROLE_PERMS, "staff", 100)},
     .live = {"F :1:cf:role:admin ts=100 prefix=:1:perms:",
              "F :1:cf:role:staff ts=100 prefix=:1:perms:"}},
    {.name = "roles v5 then a replayed v3: one A (v5), the W of v5",
     .nev = 2,
     .ev = {{.type = ROLES, .version = 5, .occurred_at_us = 1000, .id = STR("7"),
             .roles_after = LIST(STR("a")), .has_permissions = true,
             .permissions = LIST(STR("new.perm"))},
            {.type = ROLES, .version = 3, .occurred_at_us = 900, .id = STR("7"),
             .roles_after = LIST(STR("a")), .has_permissions = true,
             .permissions = LIST(STR("old.perm"))}},
     .live = {ADD("a", "7", 5), "T :1:perms:7 v=5 ts=1000 ttl=3600000 value=[\"new.perm\"] guards=:1:cf:role:a"}},
    {.name = "a role left at v5, the join replayed at v3: only the R (v5), the D of v5",
     .nev = 2,
     .ev = {{.type = ROLES, .version = 5, .occurred_at_us = 1000, .id = STR("7"),
             .roles_before = LIST(STR("a"))},
            JOIN("7", "a", 3, 900)},
     .live = {REM("a", "7", 5), "D :1:perms:7 v=5 ts=1000"}},
    {.name = "roles changed then deactivated: the D of the deactivation wins",
     .nev = 2,
     .ev = {{.type = ROLES, .version = 5, .occurred_at_us = 1000, .id = STR("42"),
             .roles_after = LIST(STR("a")), .has_permissions = true,
             .permissions = LIST(STR("x.y"))},
            {.type = DEACTIVATED, .version = 6, .occurred_at_us = 2000, .id = STR("42")}},
     .live = {ADD("a", "42", 5), PURGE42(6), "D :1:perms:42 v=6 ts=2000"}},
    {.name = "login, then a revocation with the revoke setting on: A, R, D, P in order",
     .cfg = &revoking, .nev = 2,
     .ev = {LOGIN_AT(K1, 1, 100),
            {.type = ROLES, .version = 4, .occurred_at_us = 200, .id = STR("42"),
             .roles_before = LIST(STR("admin"))}},
     .live = {SESSIONS_ADD(K1, 1), REM("admin", "42", 4), "D :1:perms:42 v=4 ts=200", PURGE42(4)}},
};

/* clang-format on */

static void test_batch(void **state)
{
    const struct batch_row *r = *state;
    const struct access_settings *cfg = r->cfg ? r->cfg : &settings;
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    char reason[REASON_SIZE] = "";
    for (size_t i = 0; i < r->nev; i++) {
        int rc = plan_event(cfg, &r->ev[i], MAX_ID, plan, &scratch, reason, sizeof(reason));
        if (rc != 0)
            print_error("event %zu rejected: %s\n", i, reason);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(cf_plan_coalesce(plan), cf_pt_count_lines(r->live));
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), true, r->live);
    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
}

/* ------------------------------------------------------------------------
 * A role with thousands of members
 * ------------------------------------------------------------------------ */

/* Members join role "bulk" through UserRolesChanged events; then the
 * role's permissions change.  Whatever the member count, that event plans
 * exactly one operation (the fan-out runs inside Redis), and coalescing
 * keeps it after every join. */
static void test_role_with_thousands_of_members(void **state)
{
    (void)state;
    const size_t counts[] = {0, 1, 5000};
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        struct cf_plan *plan = cf_plan_new(":1:");
        struct cf_buf scratch = {0};
        char reason[REASON_SIZE] = "";
        char id[16];
        for (size_t i = 0; i < counts[c]; i++) {
            int n = snprintf(id, sizeof(id), "m%zu", i);
            struct access_event join = {.type = ROLES,
                                        .version = 1,
                                        .occurred_at_us = 1000,
                                        .id = {id, (size_t)n},
                                        .roles_after = LIST(STR("bulk")),
                                        .has_permissions = true,
                                        .permissions = LIST(STR("shop.view"))};
            assert_int_equal(
                plan_event(&settings, &join, MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
        }
        size_t mark = cf_plan_mark(plan);
        assert_int_equal(mark, 2 * counts[c]);
        struct access_event change = {.type = ROLE_PERMS,
                                      .version = 2,
                                      .occurred_at_us = 2000,
                                      .id = STR("bulk"),
                                      .permissions = LIST(STR("shop.view"), STR("shop.edit"))};
        assert_int_equal(
            plan_event(&settings, &change, MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
        const char *const one[] = {"F :1:cf:role:bulk ts=2000 prefix=:1:perms:", NULL};
        cf_pt_expect_ops(plan, mark, cf_plan_count(plan), false, one);

        /* Every join is a different member: all kept, the fan-out last. */
        assert_int_equal(cf_plan_coalesce(plan), 2 * counts[c] + 1);
        const struct cf_op *last = cf_plan_op(plan, cf_plan_count(plan) - 1);
        assert_int_equal(last->code, CF_OP_FANOUT);
        assert_false(last->dead);
        cf_plan_destroy(plan);
        cf_buf_free(&scratch);
    }
}

/* ------------------------------------------------------------------------
 * Rollback (the runtime's side of a rejection)
 * ------------------------------------------------------------------------ */

/* A plan holding earlier events: a rejected event, and an accepted one the
 * runtime drops, both rolled back, leave it byte for byte as it was, and
 * the next event appends after it. */
static void test_rollback_keeps_earlier_events(void **state)
{
    (void)state;
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    struct cf_buf before = {0}, after = {0};
    char reason[REASON_SIZE] = "";

    plan_earlier_event(plan, &scratch);
    struct access_event login = SESSION(LOGIN, K1);
    assert_int_equal(plan_event(&settings, &login, MAX_ID, plan, &scratch, reason, sizeof(reason)),
                     0);
    size_t mark = cf_plan_mark(plan);
    assert_int_equal(mark, 3);
    cf_pt_render_plan(&before, plan, 0, mark, false);
    const struct cf_op *w = cf_plan_op(plan, 1);
    assert_int_equal(w->code, CF_OP_WARM_GUARDED);
    assert_memory_equal(cf_plan_bytes(plan, w->a), "[\"earlier.perm\"]", w->a.len);

    /* Rejected at its last codename, after good roles and a first good
     * codename were written into the scratch buffer. */
    struct access_event bad = {
        .type = ROLES,
        .version = 3,
        .occurred_at_us = 20,
        .id = STR("2"),
        .roles_before = LIST(STR("a")),
        .roles_after = LIST(STR("b")),
        .has_permissions = true,
        .permissions = LIST(STR("good.one"), STR("bad\xff")),
    };
    int rc = plan_event(&revoking, &bad, MAX_ID, plan, &scratch, reason, sizeof(reason));
    cf_pt_expect_rejected(rc, reason, "invalid-field: ", NULL);
    cf_plan_rollback(plan, mark);
    assert_int_equal(cf_plan_count(plan), mark);
    cf_pt_render_plan(&after, plan, 0, cf_plan_count(plan), false);
    assert_string_equal(after.data, before.data);

    /* Accepted, then dropped by the runtime: the arena is cut back too. */
    struct access_event dropped = {
        .type = ROLES,
        .version = 4,
        .occurred_at_us = 30,
        .id = STR("3"),
        .roles_before = LIST(STR("x")),
        .has_permissions = true,
        .permissions = LIST(STR("dropped.perm")),
    };
    assert_int_equal(
        plan_event(&revoking, &dropped, MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
    assert_int_equal(cf_plan_count(plan), mark + 3);
    uint32_t dropped_at = cf_plan_op(plan, mark)->key.off;
    cf_plan_rollback(plan, mark);
    assert_int_equal(cf_plan_count(plan), mark);
    cf_pt_render_plan(&after, plan, 0, cf_plan_count(plan), false);
    assert_string_equal(after.data, before.data);

    /* The next event lands after the earlier ones, whose bytes are intact. */
    struct access_event next = USER(DEACTIVATED, "4");
    assert_int_equal(plan_event(&settings, &next, MAX_ID, plan, &scratch, reason, sizeof(reason)),
                     0);
    const char *const want[] = {
        earlier_ops[0],
        earlier_ops[1],
        SESSIONS_ADD(K1, 3),
        "P :1:cf:sessions:4 prefix=:1:django.contrib.sessions.cache v=3",
        "D :1:perms:4 v=3 ts=1000",
        NULL,
    };
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);
    /* ... in the bytes the dropped event had: the arena was cut back. */
    assert_int_equal(cf_plan_op(plan, mark)->key.off, dropped_at);

    /* Nothing of the dropped events survives coalescing either. */
    assert_int_equal(cf_plan_coalesce(plan), 5);
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), true, want);

    cf_buf_free(&before);
    cf_buf_free(&after);
    cf_buf_free(&scratch);
    cf_plan_destroy(plan);
}

/* ------------------------------------------------------------------------
 * Limits, at and beyond their bounds
 * ------------------------------------------------------------------------ */

/* Plans ev alone on a fresh plan; returns the rc, reason in reason. */
static int plan_alone(const struct access_settings *cfg, const struct access_event *ev,
                      size_t *nops, char *reason, size_t reason_size)
{
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    int rc = plan_event(cfg, ev, MAX_ID, plan, &scratch, reason, reason_size);
    *nops = cf_plan_count(plan);
    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
    return rc;
}

/* 128 bytes are a user or role id, 129 and 10 KB are not; the same for a
 * role in a list. */
static void test_id_length(void **state)
{
    (void)state;
    char reason[REASON_SIZE];
    size_t nops;
    char *id = cf_pt_repeat('a', 10 * 1024);
    const enum access_event_type types[] = {ROLES,  ROLE_PERMS, ROLE_DEL, LOGIN,
                                            LOGOUT, EVERYWHERE, PASSWORD, DEACTIVATED};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        struct access_event ev = {.type = types[t],
                                  .version = 1,
                                  .occurred_at_us = 1,
                                  .id = {id, MAX_ID},
                                  .session_key = STR(K1)};
        assert_int_equal(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), 0);
        assert_true(nops >= 1);
        ev.id.len = MAX_ID + 1;
        cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                        "unsafe-id: ", "aaaa");
        assert_int_equal(nops, 0);
        ev.id.len = 10 * 1024;
        cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                        "unsafe-id: ", "aaaa");
        assert_true(strlen(reason) < 100);
    }

    /* The key of the longest user id holds it whole. */
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    struct access_event pw = {
        .type = PASSWORD, .version = 1, .occurred_at_us = 1, .id = {id, MAX_ID}};
    assert_int_equal(plan_event(&settings, &pw, MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
    const struct cf_op *op = cf_plan_op(plan, 0);
    assert_int_equal(op->key.len, strlen(":1:cf:sessions:") + MAX_ID);
    assert_memory_equal(cf_plan_bytes(plan, op->key), ":1:cf:sessions:", 15);
    assert_memory_equal(cf_plan_bytes(plan, op->key) + 15, id, MAX_ID);
    cf_plan_destroy(plan);
    cf_buf_free(&scratch);

    /* A role in either list. */
    struct cf_str item = {id, MAX_ID};
    struct access_event ev = {.type = ROLES, .version = 1, .occurred_at_us = 1, .id = STR("42")};
    ev.roles_after = (struct cf_strs){&item, 1, 1};
    assert_int_equal(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), 0);
    assert_int_equal(nops, 2);
    item.len = MAX_ID + 1;
    cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                    "unsafe-id: roles_after", "aaaa");
    ev.roles_after.n = 0;
    ev.roles_before = (struct cf_strs){&item, 1, 1};
    cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                    "unsafe-id: roles_before", "aaaa");
    item.len = MAX_ID;
    assert_int_equal(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), 0);

    free(id);
}

/* access.max_roles roles in a list are planned (one index op each); one
 * more is refused, in either list. */
static void test_role_list_sizes(void **state)
{
    (void)state;
    enum { N = 1001 };
    static char ids[N][8];
    static struct cf_str items[N];
    for (size_t i = 0; i < N; i++) {
        int n = snprintf(ids[i], sizeof(ids[i]), "r%zu", i);
        items[i] = (struct cf_str){ids[i], (size_t)n};
    }
    char reason[REASON_SIZE];
    size_t nops;
    for (int list = 0; list < 2; list++) {
        struct access_event ev = {
            .type = ROLES, .version = 1, .occurred_at_us = 1, .id = STR("42")};
        struct cf_strs *l = list == 0 ? &ev.roles_before : &ev.roles_after;
        l->items = items;
        l->n = l->cap = 1000;
        int rc = plan_alone(&settings, &ev, &nops, reason, sizeof(reason));
        if (rc != 0)
            print_error("list %d: %s\n", list, reason);
        assert_int_equal(rc, 0);
        assert_int_equal(nops, 1000 + 1);
        l->n = l->cap = 1001;
        cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                        list == 0 ? "invalid-field: roles_before has 1001 items"
                                  : "invalid-field: roles_after has 1001 items",
                        NULL);
        assert_int_equal(nops, 0);
    }
}

/* access.max_permissions codenames are warmed, one more is refused (in
 * both events that carry a list); a codename of 255 bytes is kept whole,
 * 256 bytes are refused. */
static void test_permission_limits(void **state)
{
    (void)state;
    enum { N = 10001 };
    char(*ids)[8] = malloc(N * sizeof(*ids));
    struct cf_str *items = malloc(N * sizeof(*items));
    assert_non_null(ids);
    assert_non_null(items);
    for (size_t i = 0; i < N; i++) {
        int n = snprintf(ids[i], sizeof(ids[i]), "p%zu", i);
        items[i] = (struct cf_str){ids[i], (size_t)n};
    }
    char reason[REASON_SIZE];
    size_t nops;
    struct access_event ev = {.type = ROLES,
                              .version = 1,
                              .occurred_at_us = 1,
                              .id = STR("42"),
                              .has_permissions = true,
                              .permissions = {items, 10000, 10000}};
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    assert_int_equal(plan_event(&settings, &ev, MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
    const struct cf_op *op = cf_plan_op(plan, 0);
    assert_int_equal(op->code, CF_OP_WARM_GUARDED);
    struct cf_buf want = {0};
    cf_buf_puts(&want, "[");
    for (size_t i = 0; i < 10000; i++)
        cf_pt_put_fmt(&want, "%s\"%s\"", i ? "," : "", ids[i]);
    cf_buf_puts(&want, "]");
    assert_int_equal(op->a.len, want.len);
    assert_memory_equal(cf_plan_bytes(plan, op->a), want.data, want.len);
    cf_buf_free(&want);
    cf_plan_destroy(plan);
    cf_buf_free(&scratch);

    ev.permissions.n = ev.permissions.cap = 10001;
    cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: permissions has 10001 items", NULL);
    assert_int_equal(nops, 0);

    struct access_event role = {.type = ROLE_PERMS,
                                .version = 1,
                                .occurred_at_us = 1,
                                .id = STR("admin"),
                                .permissions = {items, 10000, 10000}};
    assert_int_equal(plan_alone(&settings, &role, &nops, reason, sizeof(reason)), 0);
    assert_int_equal(nops, 1);
    role.permissions.n = role.permissions.cap = 10001;
    cf_pt_expect_rejected(plan_alone(&settings, &role, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: permissions has 10001 items", NULL);

    /* One codename at and beyond 255 bytes. */
    char *name = cf_pt_repeat('n', 256);
    struct cf_str one = {name, 255};
    ev.permissions = (struct cf_strs){&one, 1, 1};
    plan = cf_plan_new(":1:");
    assert_int_equal(plan_event(&settings, &ev, MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
    op = cf_plan_op(plan, 0);
    assert_int_equal(op->a.len, 255 + 4);
    assert_memory_equal(cf_plan_bytes(plan, op->a), "[\"", 2);
    assert_memory_equal(cf_plan_bytes(plan, op->a) + 2, name, 255);
    assert_memory_equal(cf_plan_bytes(plan, op->a) + 257, "\"]", 2);
    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
    one.len = 256;
    cf_pt_expect_rejected(plan_alone(&settings, &ev, &nops, reason, sizeof(reason)), reason,
                    "invalid-field: permissions item 0 is 256 bytes", "nnnn");

    free(name);
    free(items);
    free(ids);
}

/* The settings, not literals, make the keys, TTLs and the purge's member
 * prefix; the cache prefix is the plan's. */
static void test_settings_shape_the_ops(void **state)
{
    (void)state;
    char sess[] = "sess.";
    const struct access_settings other = {.perms_ttl_s = 60,
                                          .session_index_ttl_s = 600,
                                          .session_key_prefix = sess,
                                          .revoke_sessions_on_role_revoke = 1,
                                          .max_roles = 1,
                                          .max_permissions = 1};
    struct cf_plan *plan = cf_plan_new("shop:2:");
    struct cf_buf scratch = {0};
    char reason[REASON_SIZE] = "";
    struct access_event events[] = {
        {.type = ROLES,
         .version = 7,
         .occurred_at_us = 1000,
         .id = STR("42"),
         .roles_before = LIST(STR("a")),
         .roles_after = LIST(STR("b")),
         .has_permissions = true,
         .permissions = LIST(STR("x.y"))},
        SESSION(LOGIN, K1),
        USER(DEACTIVATED, "42"),
        FANOUT(ROLE_PERMS, "b", 5000),
    };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        assert_int_equal(
            plan_event(&other, &events[i], MAX_ID, plan, &scratch, reason, sizeof(reason)), 0);
    const char *const want[] = {
        "A shop:2:cf:role:b member=42 v=7 ttl=0",
        "R shop:2:cf:role:a member=42 v=7",
        "T shop:2:perms:42 v=7 ts=1000 ttl=60000 value=[\"x.y\"] guards=shop:2:cf:role:b",
        "P shop:2:cf:sessions:42 prefix=shop:2:sess. v=7",
        "A shop:2:cf:sessions:42 member=" K1 " v=3 ttl=600000",
        "P shop:2:cf:sessions:42 prefix=shop:2:sess. v=3",
        "D shop:2:perms:42 v=3 ts=1000",
        "F shop:2:cf:role:b ts=5000 prefix=shop:2:perms:",
        NULL,
    };
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);

    /* max_roles 1 and max_permissions 1: two are too many. */
    struct access_event two_roles = {.type = ROLES,
                                     .version = 8,
                                     .occurred_at_us = 1,
                                     .id = STR("42"),
                                     .roles_after = LIST(STR("a"), STR("b"))};
    struct access_event two_perms = {.type = ROLES,
                                     .version = 8,
                                     .occurred_at_us = 1,
                                     .id = STR("42"),
                                     .has_permissions = true,
                                     .permissions = LIST(STR("a.a"), STR("b.b"))};
    size_t mark = cf_plan_mark(plan);
    cf_pt_expect_rejected(plan_event(&other, &two_roles, MAX_ID, plan, &scratch, reason, sizeof(reason)),
                    reason, "invalid-field: roles_after", NULL);
    cf_pt_expect_rejected(plan_event(&other, &two_perms, MAX_ID, plan, &scratch, reason, sizeof(reason)),
                    reason, "invalid-field: permissions", NULL);
    assert_int_equal(cf_plan_count(plan), mark);
    cf_pt_expect_ops(plan, 0, cf_plan_count(plan), false, want);

    /* max_id_bytes is the caller's: 2 bytes make "42" fine and "420" not. */
    struct access_event pw = USER(PASSWORD, "42");
    assert_int_equal(plan_event(&other, &pw, 2, plan, &scratch, reason, sizeof(reason)), 0);
    pw.id = (struct cf_str)STR("420");
    cf_pt_expect_rejected(plan_event(&other, &pw, 2, plan, &scratch, reason, sizeof(reason)), reason,
                    "unsafe-id: ", NULL);

    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
}

/* A short reason buffer is filled, cut and terminated, never overrun. */
static void test_short_reason_buffer(void **state)
{
    (void)state;
    char reason[16];
    memset(reason, '#', sizeof(reason));
    struct access_event ev = SESSION(LOGIN, "NOT-A-KEY");
    struct cf_plan *plan = cf_plan_new(":1:");
    struct cf_buf scratch = {0};
    assert_int_equal(plan_event(&settings, &ev, MAX_ID, plan, &scratch, reason, 6), -1);
    assert_string_equal(reason, "inval");
    for (size_t i = 6; i < sizeof(reason); i++)
        assert_int_equal(reason[i], '#');
    assert_int_equal(cf_plan_count(plan), 0);
    cf_plan_destroy(plan);
    cf_buf_free(&scratch);
}

/* ------------------------------------------------------------------------
 * The consumer's definition: settings check, event names
 * ------------------------------------------------------------------------ */

static int check_prefix(const char *prefix, char *err, size_t err_size)
{
    struct access_settings s = settings;
    char *copy = strdup(prefix);
    assert_non_null(copy);
    s.session_key_prefix = copy;
    err[0] = '\0';
    int rc = access_consumer.check_settings(&s, err, err_size);
    free(copy);
    return rc;
}

static void test_session_key_prefix_setting(void **state)
{
    (void)state;
    char err[256];
    const char *good[] = {"django.contrib.sessions.cache", "django.contrib.sessions.cached_db",
                          "sessions:", "s", NULL};
    for (size_t i = 0; good[i]; i++) {
        int rc = check_prefix(good[i], err, sizeof(err));
        if (rc != 0)
            print_error("\"%s\" refused: %s\n", good[i], err);
        assert_int_equal(rc, 0);
    }
    const struct {
        const char *prefix, *detail;
    } bad[] = {
        {"", "is 0 bytes"},
        {"SECRET sessions", "has a space at byte 6"},
        {"SECRET{x}", "has a brace at byte 6"},
        {"SECRET}", "has a brace at byte 6"},
        {"SECRET\tx", "has a control byte at byte 6"},
        {"SECRET\nx", "has a control byte at byte 6"},
        {"SECRET\x7f", "has a control byte at byte 6"},
        {"SECRET*", "has a glob character at byte 6"},
        {"SECRET[x]", "has a glob character at byte 6"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(check_prefix(bad[i].prefix, err, sizeof(err)), -1);
        const char *setting = "setting access.session_key_prefix: ";
        if (strncmp(err, setting, strlen(setting)) != 0 || !strstr(err, bad[i].detail) ||
            strstr(err, "SECRET")) {
            print_error("prefix %zu: got \"%s\", want \"%s%s\"\n", i, err, setting, bad[i].detail);
            fail();
        }
    }
    /* Length: 256 bytes are a prefix, 257 are not. */
    char *p = cf_pt_repeat('s', 257);
    assert_int_equal(check_prefix(p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is 257 bytes"));
    p[256] = '\0';
    assert_int_equal(check_prefix(p, err, sizeof(err)), 0);
    free(p);

    /* The planner-side check agrees, and its reason fits a short buffer. */
    char small[8];
    assert_int_equal(access_session_key_prefix_check("a b", small, sizeof(small)), -1);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_consumer_definition(void **state)
{
    (void)state;
    const char *const want[] = {"user_roles_changed",    "role_permissions_changed",
                                "role_deleted",          "user_logged_in",
                                "user_logged_out",       "user_logged_out_everywhere",
                                "user_password_changed", "user_deactivated"};
    for (size_t i = 0; i < ACCESS_EVENT_TYPES; i++)
        assert_string_equal(access_event_names[i], want[i]);
    assert_null(access_event_names[ACCESS_EVENT_TYPES]);
    assert_ptr_equal(access_consumer.event_types, access_event_names);
    assert_string_equal(access_consumer.name, "access");
    assert_string_equal(access_consumer.topic, "shop.access");
    assert_string_equal(access_consumer.schema_file, "access.avsc");
    assert_int_equal(access_consumer.settings_size, sizeof(struct access_settings));
    /* The marker keep time covers the perms TTL, the only versioned value. */
    assert_int_equal(access_consumer.max_ttl_ms(&settings), 3600000);

    /* Every setting of the brief, with its default. */
    const struct {
        const char *path, *def;
    } expected[] = {
        {"access.perms_ttl_s", "3600"},
        {"access.session_index_ttl_s", "1209600"},
        {"access.session_key_prefix", "django.contrib.sessions.cache"},
        {"access.revoke_sessions_on_role_revoke", "false"},
        {"access.max_roles", "1000"},
        {"access.max_permissions", "10000"},
    };
    assert_int_equal(access_consumer.nsettings, sizeof(expected) / sizeof(expected[0]));
    for (size_t i = 0; i < access_consumer.nsettings; i++) {
        assert_string_equal(access_consumer.settings[i].path, expected[i].path);
        assert_string_equal(access_consumer.settings[i].def, expected[i].def);
    }
}

/* ------------------------------------------------------------------------
 * main: one cmocka test per table row, named by the row
 * ------------------------------------------------------------------------ */

#define NACCEPTED (sizeof(accepted) / sizeof(accepted[0]))
#define NREJECTED (sizeof(rejected) / sizeof(rejected[0]))
#define NBATCHES  (sizeof(batches) / sizeof(batches[0]))

static const struct CMUnitTest fixed_tests[] = {
    cmocka_unit_test(test_role_with_thousands_of_members),
    cmocka_unit_test(test_rollback_keeps_earlier_events),
    cmocka_unit_test(test_id_length),
    cmocka_unit_test(test_role_list_sizes),
    cmocka_unit_test(test_permission_limits),
    cmocka_unit_test(test_settings_shape_the_ops),
    cmocka_unit_test(test_short_reason_buffer),
    cmocka_unit_test(test_session_key_prefix_setting),
    cmocka_unit_test(test_consumer_definition),
};
#define NFIXED (sizeof(fixed_tests) / sizeof(fixed_tests[0]))

static struct CMUnitTest tests[NACCEPTED + NREJECTED + NBATCHES + NFIXED];
static char names[NACCEPTED + NREJECTED + NBATCHES][200];

static void add(size_t *n, const char *kind, const char *name, CMUnitTestFunction f, void *row)
{
    size_t i = *n;
    snprintf(names[i], sizeof(names[i]), "%s: %s", kind, name);
    tests[i] = (struct CMUnitTest){names[i], f, NULL, NULL, row};
    *n = i + 1;
}

int main(void)
{
    size_t n = 0;
    for (size_t i = 0; i < NACCEPTED; i++)
        add(&n, "accepted", accepted[i].name, test_row, &accepted[i]);
    for (size_t i = 0; i < NREJECTED; i++)
        add(&n, "rejected", rejected[i].name, test_row, &rejected[i]);
    for (size_t i = 0; i < NBATCHES; i++)
        add(&n, "batch", batches[i].name, test_batch, &batches[i]);
    for (size_t i = 0; i < NFIXED; i++)
        tests[n++] = fixed_tests[i];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
