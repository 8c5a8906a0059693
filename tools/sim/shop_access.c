/* shop_access.c - the shop's users, roles and sessions: the shop.access
 * topic (see shop_internal.h).
 *
 * What it owns: the roles and the permission codenames each grants, the
 * users with their roles, whether they are active, their live sessions
 * (Django session keys), and the access events: UserRolesChanged,
 * RolePermissionsChanged, UserLoggedIn, UserLoggedOut,
 * UserLoggedOutEverywhere, UserPasswordChanged, UserDeactivated.  What it
 * does not: carts (at a login it asks shop_carts.c for a visitor's cart
 * and queues the merge as a step, which shop_carts.c plays).
 *
 * DESIGN
 * Five roles with fixed ids ("customer", "staff", "editor", "admin",
 * "support") and a pool of 22 codenames ("app_label.codename", sorted),
 * so a role's permissions are a bit mask and a user's effective
 * permissions are the union of their roles' masks, listed in pool order.
 * Roles are listed in the order above.  Users are ids 1..n in an array
 * that grows with sign-ups; a user's version grows with every event about
 * the user (roles, logins, logouts, ...), a role's with every change of
 * its permissions.  A user holds at most 3 live sessions: a fourth login
 * lets the oldest expire silently (Django drops expired sessions without
 * telling anyone).  Users with a live session are listed for O(1) random
 * choice; they are "online", and only they touch their carts.  A
 * deactivated user never logs in again and loses every session.
 *
 * Initial roles: customer (90 %), none (3 %), customer and support (3 %),
 * staff and editor (2 %), staff and support (1.5 %), staff and admin
 * (0.5 %).
 *
 * THE ACCESS MIX, per 1000 access changes:
 *   480 login             UserLoggedIn of a random active user, new
 *                         session key; when carts run, 35 % of logins come
 *                         from a visitor with a cart, which is then merged
 *                         into the user's cart (a CartMerged step)
 *   380 logout            UserLoggedOut of a random session of a random
 *                         online user; nobody online: a login
 *    60 role change       UserRolesChanged of a random active user: half
 *                         the time one of their roles revoked, else one
 *                         they lack granted (customer 20, staff 25, editor
 *                         20, admin 10, support 25 in 100 among those)
 *    20 sign-up           UserRolesChanged of a new user (version 1), from
 *                         no roles to customer
 *    25 password changed  UserPasswordChanged, every session ends; an
 *                         online user 7 times in 10 when there is one
 *    20 logged out everywhere  UserLoggedOutEverywhere of an online user,
 *                         every session ends; nobody online: a password
 *                         change
 *    10 deactivated       UserDeactivated of a random active user, every
 *                         session ends; fewer than 10 active users: a
 *                         sign-up
 *     5 role permissions  RolePermissionsChanged: one codename added to or
 *                         taken from a random role (never left empty)
 * UserRolesChanged carries the effective permissions 9 times in 10 and
 * null otherwise (always in the initial sync).
 *
 * Thread: the thread of the struct shop.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shop_internal.h"

#define NROLES       5
#define MAX_SESSIONS 3
#define PICK_TRIES   8
#define MIN_ACTIVE   10

static const char *const codenames[] = {
    "accounts.change_own_profile", /*  0 */
    "accounts.change_role",        /*  1 */
    "accounts.change_user",        /*  2 */
    "accounts.view_user",          /*  3 */
    "admin.access_admin",          /*  4 */
    "carts.change_own_cart",       /*  5 */
    "carts.view_cart",             /*  6 */
    "catalog.add_category",        /*  7 */
    "catalog.add_product",         /*  8 */
    "catalog.change_category",     /*  9 */
    "catalog.change_product",      /* 10 */
    "catalog.delete_category",     /* 11 */
    "catalog.delete_product",      /* 12 */
    "catalog.view_product",        /* 13 */
    "orders.change_order",         /* 14 */
    "orders.refund_order",         /* 15 */
    "orders.view_order",           /* 16 */
    "orders.view_own_order",       /* 17 */
    "stock.add_stockmovement",     /* 18 */
    "stock.view_stockmovement",    /* 19 */
    "support.change_ticket",       /* 20 */
    "support.view_ticket",         /* 21 */
};
#define NCODENAMES (sizeof(codenames) / sizeof(codenames[0]))

#define P(i) (UINT32_C(1) << (i))

enum { ROLE_CUSTOMER, ROLE_STAFF, ROLE_EDITOR, ROLE_ADMIN, ROLE_SUPPORT };

static const struct {
    const char *id;
    uint32_t grant_weight; /* per 100 role changes */
    uint32_t permissions;  /* at the start */
} roles[NROLES] = {
    {"customer", 20, P(0) | P(5) | P(17)},
    {"staff", 25, P(4) | P(13) | P(16) | P(19)},
    {"editor", 20, P(7) | P(8) | P(9) | P(10) | P(12) | P(13)},
    {"admin", 10, P(1) | P(2) | P(3) | P(4) | P(11) | P(15) | P(18)},
    {"support", 25, P(3) | P(6) | P(14) | P(16) | P(20) | P(21)},
};

struct user {
    int64_t version;
    uint32_t online_pos; /* index in online while nsessions > 0 */
    uint8_t roles;       /* bit r: roles[r] */
    uint8_t nsessions;   /* oldest first */
    bool active;
    char sessions[MAX_SESSIONS][SHOP_SESSION_KEY_LEN + 1];
};

struct shop_access {
    struct sim_rng rng;
    int64_t role_version[NROLES];
    uint32_t role_permissions[NROLES];
    struct user *users; /* [id - 1] */
    uint32_t nusers, cap_users, nactive;
    uint32_t *online; /* user ids; capacity cap_users */
    uint32_t nonline;
    uint32_t sync_users; /* users at the start: the sync publishes them */
};

/* ------------------------------------------------------------------------
 * Storage
 * ------------------------------------------------------------------------ */

static struct user *user_get(struct shop_access *access, uint32_t id)
{
    assert(id >= 1 && id <= access->nusers);
    return &access->users[id - 1];
}

/* Appends a new active user with roles (version 0).  Returns its id, or 0
 * when out of memory. */
static uint32_t user_add(struct shop_access *access, uint8_t role_mask)
{
    if (access->nusers == access->cap_users) {
        uint32_t cap = access->cap_users ? access->cap_users * 2 : 1024;
        struct user *users = realloc(access->users, cap * sizeof(*users));
        if (!users)
            return 0;
        access->users = users;
        uint32_t *online = realloc(access->online, cap * sizeof(*online));
        if (!online)
            return 0;
        access->online = online;
        access->cap_users = cap;
    }
    uint32_t id = ++access->nusers;
    struct user *u = user_get(access, id);
    memset(u, 0, sizeof(*u));
    u->roles = role_mask;
    u->active = true;
    access->nactive++;
    return id;
}

static uint8_t initial_roles(struct shop_access *access)
{
    uint32_t r = sim_rng_below(&access->rng, 1000);
    uint8_t c = 1u << ROLE_CUSTOMER, s = 1u << ROLE_STAFF;
    if (r < 900)
        return c;
    if (r < 930)
        return 0;
    if (r < 960)
        return c | (1u << ROLE_SUPPORT);
    if (r < 980)
        return s | (1u << ROLE_EDITOR);
    if (r < 995)
        return s | (1u << ROLE_SUPPORT);
    return s | (1u << ROLE_ADMIN);
}

struct shop_access *shop_access_new(uint64_t seed, uint32_t users)
{
    struct shop_access *access = calloc(1, sizeof(*access));
    if (!access)
        return NULL;
    sim_rng_seed(&access->rng, seed, SHOP_STREAM_ACCESS);
    for (int r = 0; r < NROLES; r++) {
        access->role_version[r] = 1;
        access->role_permissions[r] = roles[r].permissions;
    }
    for (uint32_t i = 0; i < users; i++) {
        uint32_t id = user_add(access, initial_roles(access));
        if (!id) {
            shop_access_destroy(access);
            return NULL;
        }
        user_get(access, id)->version = 1;
    }
    access->sync_users = users;
    return access;
}

void shop_access_destroy(struct shop_access *access)
{
    if (!access)
        return;
    free(access->users);
    free(access->online);
    free(access);
}

uint32_t shop_access_users(const struct shop_access *access)
{
    return access->nusers;
}

bool shop_access_online(const struct shop_access *access, uint32_t user)
{
    return user >= 1 && user <= access->nusers && access->users[user - 1].nsessions > 0;
}

uint32_t shop_access_pick_online(const struct shop_access *access, struct sim_rng *rng)
{
    if (access->nonline == 0)
        return 0;
    return access->online[sim_rng_below(rng, access->nonline)];
}

static void online_add(struct shop_access *access, uint32_t id)
{
    user_get(access, id)->online_pos = access->nonline;
    access->online[access->nonline++] = id;
}

static void online_remove(struct shop_access *access, uint32_t id)
{
    uint32_t pos = user_get(access, id)->online_pos;
    assert(pos < access->nonline && access->online[pos] == id);
    uint32_t last = access->online[--access->nonline];
    access->online[pos] = last;
    user_get(access, last)->online_pos = pos;
}

/* Ends every session of user id (no event of its own). */
static void end_sessions(struct shop_access *access, uint32_t id)
{
    struct user *u = user_get(access, id);
    if (u->nsessions > 0)
        online_remove(access, id);
    u->nsessions = 0;
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

static void roles_list(uint8_t mask, struct shop_name_list *out)
{
    out->count = 0;
    for (int r = 0; r < NROLES; r++) {
        if (mask & (1u << r))
            out->names[out->count++] = roles[r].id;
    }
}

static void permissions_list(uint32_t mask, struct shop_name_list *out)
{
    out->count = 0;
    for (size_t i = 0; i < NCODENAMES; i++) {
        if (mask & P(i))
            out->names[out->count++] = codenames[i];
    }
}

static uint32_t user_permissions(const struct shop_access *access, uint8_t role_mask)
{
    uint32_t mask = 0;
    for (int r = 0; r < NROLES; r++) {
        if (role_mask & (1u << r))
            mask |= access->role_permissions[r];
    }
    return mask;
}

/* Starts an event about user id, whose version has been bumped. */
static struct shop_event *user_event(struct shop_access *access, struct shop *shop, uint32_t id,
                                     enum shop_event_type type, enum shop_change change,
                                     int64_t now_us)
{
    struct shop_event *ev =
        shop_event_start(shop, type, change, user_get(access, id)->version, now_us);
    snprintf(ev->key, sizeof(ev->key), "%" PRIu32, id);
    return ev;
}

/* Emits UserRolesChanged for user id, whose roles went from before to
 * its current ones; with_permissions: the effective permissions, else null. */
static void emit_roles_changed(struct shop_access *access, struct shop *shop, uint32_t id,
                               uint8_t before, enum shop_change change, bool with_permissions,
                               int64_t now_us)
{
    const struct user *u = user_get(access, id);
    struct shop_event *ev = user_event(access, shop, id, SHOP_USER_ROLES_CHANGED, change, now_us);
    roles_list(before, &ev->roles_before);
    roles_list(u->roles, &ev->roles_after);
    ev->has_permissions = with_permissions;
    if (with_permissions)
        permissions_list(user_permissions(access, u->roles), &ev->permissions);
}

static void emit_role_permissions(struct shop_access *access, struct shop *shop, int r,
                                  enum shop_change change, int64_t now_us)
{
    struct shop_event *ev = shop_event_start(shop, SHOP_ROLE_PERMISSIONS_CHANGED, change,
                                             access->role_version[r], now_us);
    snprintf(ev->key, sizeof(ev->key), "%s", roles[r].id);
    ev->has_permissions = true;
    permissions_list(access->role_permissions[r], &ev->permissions);
}

uint32_t shop_access_sync_count(const struct shop_access *access)
{
    return NROLES + access->sync_users;
}

void shop_access_emit_sync(struct shop_access *access, struct shop *shop, uint32_t i,
                           int64_t now_us)
{
    assert(i < shop_access_sync_count(access));
    if (i < NROLES) {
        assert(access->role_version[i] == 1);
        emit_role_permissions(access, shop, (int)i, SHOP_CHANGE_SYNC_ROLE, now_us);
        return;
    }
    uint32_t id = i - NROLES + 1;
    assert(user_get(access, id)->version == 1);
    emit_roles_changed(access, shop, id, 0, SHOP_CHANGE_SYNC_USER, true, now_us);
}

/* ------------------------------------------------------------------------
 * Changes: each returns 1 when it emitted an event, -1 when out of memory
 * ------------------------------------------------------------------------ */

/* A random active user, or 0 when none was found. */
static uint32_t pick_active(struct shop_access *access)
{
    for (int tries = 0; tries < PICK_TRIES && access->nusers > 0; tries++) {
        uint32_t id = 1 + sim_rng_below(&access->rng, access->nusers);
        if (user_get(access, id)->active)
            return id;
    }
    return 0;
}

static bool with_permissions(struct shop_access *access)
{
    return sim_rng_chance(&access->rng, 900);
}

static int change_signup(struct shop_access *access, struct shop *shop, int64_t now_us)
{
    uint32_t id = user_add(access, 1u << ROLE_CUSTOMER);
    if (!id)
        return -1;
    user_get(access, id)->version = 1;
    emit_roles_changed(access, shop, id, 0, SHOP_CHANGE_SIGNUP, with_permissions(access), now_us);
    return 1;
}

static int change_login(struct shop_access *access, struct shop *shop, int64_t now_us)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint32_t id = pick_active(access);
    if (!id)
        return change_signup(access, shop, now_us);
    struct user *u = user_get(access, id);
    if (u->nsessions == MAX_SESSIONS) {
        /* The oldest expires silently (Django's session expiry). */
        memmove(u->sessions[0], u->sessions[1], (MAX_SESSIONS - 1) * sizeof(u->sessions[0]));
        u->nsessions--;
    } else if (u->nsessions == 0) {
        online_add(access, id);
    }
    char *key = u->sessions[u->nsessions++];
    for (int k = 0; k < SHOP_SESSION_KEY_LEN; k++)
        key[k] = alphabet[sim_rng_below(&access->rng, sizeof(alphabet) - 1)];
    key[SHOP_SESSION_KEY_LEN] = '\0';
    u->version++;
    struct shop_event *ev =
        user_event(access, shop, id, SHOP_USER_LOGGED_IN, SHOP_CHANGE_LOGIN, now_us);
    memcpy(ev->session_key, key, sizeof(ev->session_key));

    struct shop_carts *carts = shop_get_carts(shop);
    if (carts && sim_rng_chance(&access->rng, 350)) {
        uint32_t cart = shop_carts_pick_visitor(carts, shop, &access->rng);
        if (cart && shop_step_push(shop, SHOP_STEP_CART_MERGE, cart, id) < 0)
            return -1;
    }
    return 1;
}

static int change_logout(struct shop_access *access, struct shop *shop, int64_t now_us)
{
    uint32_t id = shop_access_pick_online(access, &access->rng);
    if (!id)
        return change_login(access, shop, now_us);
    struct user *u = user_get(access, id);
    uint32_t k = sim_rng_below(&access->rng, u->nsessions);
    u->version++;
    struct shop_event *ev =
        user_event(access, shop, id, SHOP_USER_LOGGED_OUT, SHOP_CHANGE_LOGOUT, now_us);
    memcpy(ev->session_key, u->sessions[k], sizeof(ev->session_key));
    memmove(u->sessions[k], u->sessions[k + 1], (u->nsessions - k - 1) * sizeof(u->sessions[0]));
    if (--u->nsessions == 0)
        online_remove(access, id);
    return 1;
}

static uint32_t count_bits(uint8_t mask)
{
    uint32_t n = 0;
    for (; mask; mask &= (uint8_t)(mask - 1))
        n++;
    return n;
}

static int change_roles(struct shop_access *access, struct shop *shop, int64_t now_us)
{
    uint32_t id = pick_active(access);
    if (!id)
        return change_signup(access, shop, now_us);
    struct user *u = user_get(access, id);
    uint8_t before = u->roles;
    uint8_t held = u->roles, lacking = (uint8_t)(~u->roles & ((1u << NROLES) - 1));
    uint32_t role = 0;
    if (held && (!lacking || sim_rng_chance(&access->rng, 500))) {
        /* Revoke one of the roles held, uniformly. */
        uint32_t k = sim_rng_below(&access->rng, count_bits(held));
        for (role = 0; role < NROLES; role++) {
            if ((held & (1u << role)) && k-- == 0)
                break;
        }
    } else {
        /* Grant one of the roles lacking, by weight. */
        uint32_t total = 0;
        for (uint32_t q = 0; q < NROLES; q++)
            total += (lacking & (1u << q)) ? roles[q].grant_weight : 0;
        uint32_t w = sim_rng_below(&access->rng, total);
        for (role = 0; role < NROLES; role++) {
            if (!(lacking & (1u << role)))
                continue;
            if (w < roles[role].grant_weight)
                break;
            w -= roles[role].grant_weight;
        }
    }
    assert(role < NROLES);
    u->roles ^= (uint8_t)(1u << role);
    u->version++;
    enum shop_change change =
        (u->roles & (1u << role)) ? SHOP_CHANGE_ROLE_GRANT : SHOP_CHANGE_ROLE_REVOKE;
    emit_roles_changed(access, shop, id, before, change, with_permissions(access), now_us);
    return 1;
}

static int change_password(struct shop_access *access, struct shop *shop, int64_t now_us)
{
    uint32_t id = 0;
    if (access->nonline > 0 && sim_rng_chance(&access->rng, 700))
        id = shop_access_pick_online(access, &access->rng);
    else
        id = pick_active(access);
    if (!id)
        return change_signup(access, shop, now_us);
    end_sessions(access, id);
    user_get(access, id)->version++;
    user_event(access, shop, id, SHOP_USER_PASSWORD_CHANGED, SHOP_CHANGE_PASSWORD, now_us);
    return 1;
}

static int change_logout_everywhere(struct shop_access *access, struct shop *shop, int64_t now_us)
{
    uint32_t id = shop_access_pick_online(access, &access->rng);
    if (!id)
        return change_password(access, shop, now_us);
    end_sessions(access, id);
    user_get(access, id)->version++;
    user_event(access, shop, id, SHOP_USER_LOGGED_OUT_EVERYWHERE, SHOP_CHANGE_LOGOUT_EVERYWHERE,
               now_us);
    return 1;
}

static int change_deactivate(struct shop_access *access, struct shop *shop, int64_t now_us)
{
    uint32_t id = access->nactive >= MIN_ACTIVE ? pick_active(access) : 0;
    if (!id)
        return change_signup(access, shop, now_us);
    end_sessions(access, id);
    struct user *u = user_get(access, id);
    u->active = false;
    access->nactive--;
    u->version++;
    user_event(access, shop, id, SHOP_USER_DEACTIVATED, SHOP_CHANGE_DEACTIVATE, now_us);
    return 1;
}

static int change_role_permissions(struct shop_access *access, struct shop *shop, int64_t now_us)
{
    int r = (int)sim_rng_below(&access->rng, NROLES);
    uint32_t i = sim_rng_below(&access->rng, (uint32_t)NCODENAMES);
    if (access->role_permissions[r] == P(i)) /* its last one: add another instead */
        i = (i + 1 + sim_rng_below(&access->rng, (uint32_t)NCODENAMES - 1)) % (uint32_t)NCODENAMES;
    access->role_permissions[r] ^= P(i);
    access->role_version[r]++;
    emit_role_permissions(access, shop, r, SHOP_CHANGE_ROLE_PERMISSIONS, now_us);
    return 1;
}

int shop_access_change(struct shop_access *access, struct shop *shop, int64_t now_us)
{
    uint32_t r = sim_rng_below(&access->rng, 1000);
    if (r < 480)
        return change_login(access, shop, now_us);
    if (r < 860)
        return change_logout(access, shop, now_us);
    if (r < 920)
        return change_roles(access, shop, now_us);
    if (r < 940)
        return change_signup(access, shop, now_us);
    if (r < 965)
        return change_password(access, shop, now_us);
    if (r < 985)
        return change_logout_everywhere(access, shop, now_us);
    if (r < 995)
        return change_deactivate(access, shop, now_us);
    return change_role_permissions(access, shop, now_us);
}
