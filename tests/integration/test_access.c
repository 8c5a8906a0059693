/* test_access.c - cachefleet-access end to end: Avro events into the
 * project's broker over TCP, the real consumer program, a real
 * redis-server; the assertions read Redis the way the web tier does
 * (perms:{user_id} with cache.get) and the way Django's cache session
 * backend does (":1:django.contrib.sessions.cache<session_key>").
 *
 * The servers and the consumer start once for the whole program (a new
 * group member waits about 3 s for its first assignment in the loopback
 * broker).  The last case stops that consumer and starts a second one, in
 * the same group, with access.revoke_sessions_on_role_revoke = true: two
 * consumer starts in all.  Every case uses its own user and role ids.
 * Each consumer is stopped with SIGTERM and must exit 0.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "encode.h"
#include "fleet.h"
#include "httpget.h"
#include "json.h"

#define TOPIC          "shop.access"
#define SESSION_PREFIX ":1:django.contrib.sessions.cache"
#define MEMBERS        5000

struct fixture {
    struct cf_fleet fleet;
    struct cf_consumer_proc consumer;
    struct sim_encoder *framed, *plain;
    int seq;
    int keyseq;
};

/* ------------------------------------------------------------------------
 * Producing events
 * ------------------------------------------------------------------------ */

struct list {
    const char *const *items;
    size_t n;
};
#define LIST(...)                                                                                  \
    ((struct list){(const char *const[]){__VA_ARGS__},                                             \
                   sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)})
#define NONE ((struct list){NULL, 0})

static void send_event(struct fixture *fx, struct sim_encoder *enc, const char *key)
{
    const void *data;
    size_t len;
    char err[256];
    if (sim_encoder_finish(enc, &data, &len, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    cf_fleet_produce(&fx->fleet, TOPIC, key, data, len);
}

/* Starts an event; both framings are used, alternately. */
static avro_value_t begin(struct fixture *fx, struct sim_encoder **enc, const char *type,
                          int64_t version, int64_t ts)
{
    char event_id[32], err[256];
    avro_value_t body;
    *enc = (fx->seq % 2) ? fx->plain : fx->framed;
    snprintf(event_id, sizeof(event_id), "test-%d", ++fx->seq);
    if (sim_encoder_begin(*enc, event_id, version, ts, type, &body, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
    return body;
}

static void set_list(avro_value_t *body, const char *field, struct list l)
{
    char err[256];
    if (sim_avro_set_string_array(body, field, l.items, l.n, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

static void set_str(avro_value_t *body, const char *field, const char *s)
{
    char err[256];
    if (sim_avro_set_string(body, field, s, err, sizeof(err)) < 0)
        fail_msg("encode: %s", err);
}

/* ["null", array of strings]: perms NULL selects null. */
static void set_opt_list(avro_value_t *body, const char *field, const struct list *l)
{
    avro_value_t f, branch, item;
    assert_int_equal(avro_value_get_by_name(body, field, &f, NULL), 0);
    if (!l) {
        assert_int_equal(avro_value_set_branch(&f, 0, &branch), 0);
        assert_int_equal(avro_value_set_null(&branch), 0);
        return;
    }
    assert_int_equal(avro_value_set_branch(&f, 1, &branch), 0);
    assert_int_equal(avro_value_reset(&branch), 0);
    for (size_t i = 0; i < l->n; i++) {
        assert_int_equal(avro_value_append(&branch, &item, NULL), 0);
        assert_int_equal(avro_value_set_string(&item, l->items[i]), 0);
    }
}

static void roles_changed(struct fixture *fx, const char *user, int64_t version, int64_t ts,
                          struct list before, struct list after, const struct list *perms)
{
    struct sim_encoder *enc;
    avro_value_t body = begin(fx, &enc, "UserRolesChanged", version, ts);
    set_str(&body, "user_id", user);
    set_list(&body, "roles_before", before);
    set_list(&body, "roles_after", after);
    set_opt_list(&body, "permissions", perms);
    send_event(fx, enc, user);
}

/* RolePermissionsChanged (with perms) or RoleDeleted (type). */
static void role_event(struct fixture *fx, const char *type, const char *role, int64_t version,
                       int64_t ts, struct list perms)
{
    struct sim_encoder *enc;
    avro_value_t body = begin(fx, &enc, type, version, ts);
    set_str(&body, "role_id", role);
    if (strcmp(type, "RolePermissionsChanged") == 0)
        set_list(&body, "permissions", perms);
    send_event(fx, enc, role);
}

/* UserLoggedIn or UserLoggedOut. */
static void session_event(struct fixture *fx, const char *type, const char *user, int64_t version,
                          const char *session_key)
{
    struct sim_encoder *enc;
    avro_value_t body = begin(fx, &enc, type, version, cf_wall_us());
    set_str(&body, "user_id", user);
    set_str(&body, "session_key", session_key);
    send_event(fx, enc, user);
}

/* UserLoggedOutEverywhere, UserPasswordChanged or UserDeactivated. */
static void user_event(struct fixture *fx, const char *type, const char *user, int64_t version)
{
    struct sim_encoder *enc;
    avro_value_t body = begin(fx, &enc, type, version, cf_wall_us());
    set_str(&body, "user_id", user);
    send_event(fx, enc, user);
}

/* ------------------------------------------------------------------------
 * Django's side, and reading back
 * ------------------------------------------------------------------------ */

/* A fresh Django-shaped session key: 32 characters of [a-z0-9]. */
static void new_session_key(struct fixture *fx, char key[33])
{
    snprintf(key, 33, "s%031d", ++fx->keyseq);
}

/* The key Django's cache session backend stores session key k at. */
static void django_key(const char *k, char *out, size_t size)
{
    snprintf(out, size, "%s%s", SESSION_PREFIX, k);
}

/* What Django does at login: the session saved in the cache. */
static void django_save_session(struct fixture *fx, const char *k)
{
    char key[128];
    django_key(k, key, sizeof(key));
    redisReply *r =
        redisCommand(fx->fleet.rc, "SET %s %s EX %d", key, "{\"_auth_user_id\":\"1\"}", 1209600);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
}

/* A user logs in: Django saves the session, the event follows. */
static void login(struct fixture *fx, const char *user, int64_t version, char key[33])
{
    new_session_key(fx, key);
    django_save_session(fx, key);
    session_event(fx, "UserLoggedIn", user, version, key);
}

static long long integer(struct fixture *fx, const char *fmt, const char *a, const char *b)
{
    redisReply *r = redisCommand(fx->fleet.rc, fmt, a, b);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("%s: %s", fmt, r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static bool session_exists(struct fixture *fx, const char *k)
{
    char key[128];
    django_key(k, key, sizeof(key));
    return integer(fx, "EXISTS %s", key, NULL) == 1;
}

static long long index_size(struct fixture *fx, const char *kind, const char *id)
{
    char key[256];
    snprintf(key, sizeof(key), ":1:%s%s", kind, id);
    return integer(fx, "SCARD %s", key, NULL);
}

static bool index_has(struct fixture *fx, const char *kind, const char *id, const char *member)
{
    char key[256];
    snprintf(key, sizeof(key), ":1:%s%s", kind, id);
    return integer(fx, "SISMEMBER %s %s", key, member) == 1;
}

static void expect_perms(struct fixture *fx, const char *user, const char *want)
{
    char key[256];
    snprintf(key, sizeof(key), ":1:perms:%s", user);
    cf_fleet_expect(&fx->fleet, key, want);
}

static double metric(struct fixture *fx, const char *prefix)
{
    return cf_consumer_metric(&fx->consumer, prefix);
}

static void wait_all_handled(struct fixture *fx)
{
    struct cf_consumer_proc *const consumers[] = {&fx->consumer};
    cf_fleet_wait_handled(&fx->fleet, consumers, 1);
}

/* The web tier's fill of key, as Django code calls it.  1 stored, 0
 * refused. */
static long long fill(struct fixture *fx, const char *key, const char *value, const char *version,
                      int64_t read_us)
{
    char read[32];
    snprintf(read, sizeof(read), "%" PRId64, read_us);
    const char *a[] = {"FCALL", "cachefleet_fill", "1", key, value, "60000", version, read};
    size_t lens[sizeof(a) / sizeof(a[0])];
    for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
        lens[i] = strlen(a[i]);
    redisReply *r = redisCommandArgv(fx->fleet.rc, (int)(sizeof(a) / sizeof(a[0])), a, lens);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("fill: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* How many of the perms keys of users <stem>0 .. <stem>n-1 exist, in one
 * EXISTS. */
static long long perms_existing(struct fixture *fx, const char *stem, size_t n)
{
    enum { KEY_MAX = 64 };
    const char **argv = calloc(n + 1, sizeof(*argv));
    size_t *lens = calloc(n + 1, sizeof(*lens));
    char *keys = calloc(n, KEY_MAX);
    assert_non_null(argv);
    assert_non_null(lens);
    assert_non_null(keys);
    argv[0] = "EXISTS";
    lens[0] = 6;
    for (size_t i = 0; i < n; i++) {
        char *key = keys + i * KEY_MAX;
        int len = snprintf(key, KEY_MAX, ":1:perms:%s%zu", stem, i);
        assert_true(len > 0 && len < KEY_MAX);
        argv[i + 1] = key;
        lens[i + 1] = (size_t)len;
    }
    redisReply *r = redisCommandArgv(fx->fleet.rc, (int)(n + 1), argv, lens);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    free(keys);
    free(lens);
    free(argv);
    return v;
}

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[256];
    assert_non_null(fx);
    cf_fleet_start(&fx->fleet, "access", 1, 4);
    fx->framed = sim_encoder_new(cf_test_schemas_dir(), "access.avsc", SIM_FRAMING_CONFLUENT, err,
                                 sizeof(err));
    if (!fx->framed)
        fail_msg("encoder: %s", err);
    fx->plain =
        sim_encoder_new(cf_test_schemas_dir(), "access.avsc", SIM_FRAMING_PLAIN, err, sizeof(err));
    if (!fx->plain)
        fail_msg("encoder: %s", err);
    cf_consumer_start(&fx->consumer, &fx->fleet, "access", NULL);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    cf_consumer_stop(&fx->consumer);
    sim_encoder_destroy(fx->framed);
    sim_encoder_destroy(fx->plain);
    cf_fleet_stop(&fx->fleet);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------------
 * Permissions (seed 6)
 * ------------------------------------------------------------------------ */

static void test_perms_warmed_with_ttl(void **state)
{
    struct fixture *fx = *state;
    const struct list perms = LIST("shop.view_order", "shop.change_order", "caf\xc3\xa9.\"x\"");
    roles_changed(fx, "u-100", 1, cf_wall_us(), NONE, LIST("staff", "buyer"), &perms);
    wait_all_handled(fx);
    const char *want = "[\"shop.view_order\",\"shop.change_order\",\"caf\xc3\xa9.\\\"x\\\"\"]";
    expect_perms(fx, "u-100", want);
    assert_int_equal(cf_json_validate(want, strlen(want), 4, NULL, 0), 0);
    long long ttl = cf_fleet_ttl(&fx->fleet, ":1:perms:u-100");
    assert_true(ttl > 3500 && ttl <= 3600);
    /* The role -> members index, without expiry. */
    assert_true(index_has(fx, "cf:role:", "staff", "u-100"));
    assert_true(index_has(fx, "cf:role:", "buyer", "u-100"));
    assert_int_equal(cf_fleet_ttl(&fx->fleet, ":1:cf:role:staff"), -1);
    assert_true(metric(fx, "cachefleet_events_applied_total{consumer=\"access\","
                           "type=\"user_roles_changed\"}") >= 1);

    /* An empty permission list is cached as [] (the user has none). */
    const struct list none = NONE;
    roles_changed(fx, "u-100", 2, cf_wall_us(), LIST("staff", "buyer"), NONE, &none);
    wait_all_handled(fx);
    expect_perms(fx, "u-100", "[]");
    assert_false(index_has(fx, "cf:role:", "staff", "u-100"));
    assert_false(index_has(fx, "cf:role:", "buyer", "u-100"));
}

static void test_perms_invalidated_without_permissions(void **state)
{
    struct fixture *fx = *state;
    const struct list perms = LIST("a.b");
    roles_changed(fx, "u-101", 1, cf_wall_us(), NONE, LIST("staff"), &perms);
    wait_all_handled(fx);
    expect_perms(fx, "u-101", "[\"a.b\"]");
    roles_changed(fx, "u-101", 2, cf_wall_us(), LIST("staff"), LIST("admin"), NULL);
    wait_all_handled(fx);
    expect_perms(fx, "u-101", NULL);
    assert_false(index_has(fx, "cf:role:", "staff", "u-101"));
    assert_true(index_has(fx, "cf:role:", "admin", "u-101"));
}

static void test_older_roles_event_does_not_overwrite(void **state)
{
    struct fixture *fx = *state;
    int64_t now = cf_wall_us();
    double refused = metric(fx, "cachefleet_ops_refused_total{");
    const struct list newer = LIST("shop.new"), older = LIST("shop.old");
    roles_changed(fx, "u-102", 5, now, NONE, LIST("staff"), &newer);
    wait_all_handled(fx);
    roles_changed(fx, "u-102", 3, now - 1000, NONE, LIST("staff"), &older);
    wait_all_handled(fx);
    expect_perms(fx, "u-102", "[\"shop.new\"]");
    assert_true(metric(fx, "cachefleet_ops_refused_total{") >= refused + 1);
    /* A late invalidation (lower version) does not drop it either. */
    roles_changed(fx, "u-102", 4, now - 500, LIST("staff"), LIST("staff"), NULL);
    wait_all_handled(fx);
    expect_perms(fx, "u-102", "[\"shop.new\"]");
}

/* One RolePermissionsChanged drops the perms of every one of 5,000
 * members, made through UserRolesChanged events, and of no one else. */
static void test_role_fanout_to_thousands_of_members(void **state)
{
    struct fixture *fx = *state;
    const struct list perms = LIST("shop.view");
    char user[32];
    for (size_t i = 0; i < MEMBERS; i++) {
        snprintf(user, sizeof(user), "bulk-%zu", i);
        roles_changed(fx, user, 1, cf_wall_us(), NONE, LIST("bulk"), &perms);
    }
    roles_changed(fx, "outsider-1", 1, cf_wall_us(), NONE, LIST("other"), &perms);
    roles_changed(fx, "outsider-2", 1, cf_wall_us(), NONE, LIST("deleted-role"), &perms);
    wait_all_handled(fx);
    assert_int_equal(index_size(fx, "cf:role:", "bulk"), MEMBERS);
    assert_int_equal(perms_existing(fx, "bulk-", MEMBERS), MEMBERS);
    double planned = metric(fx, "cachefleet_ops_planned_total{");

    int64_t before_change = cf_wall_us();
    role_event(fx, "RolePermissionsChanged", "bulk", 2, cf_wall_us(),
               LIST("shop.view", "shop.edit"));
    wait_all_handled(fx);
    assert_int_equal(perms_existing(fx, "bulk-", MEMBERS), 0);
    expect_perms(fx, "outsider-1", "[\"shop.view\"]");
    expect_perms(fx, "outsider-2", "[\"shop.view\"]");
    /* One operation for the whole role. */
    assert_true(metric(fx, "cachefleet_ops_planned_total{") == planned + 1);
    /* The members stay members. */
    assert_int_equal(index_size(fx, "cf:role:", "bulk"), MEMBERS);
    /* A web-tier fill that read the permissions before the change is
     * refused; one that read them after is stored. */
    assert_int_equal(fill(fx, ":1:perms:bulk-7", "[\"shop.view\"]", "1", before_change - 1), 0);
    expect_perms(fx, "bulk-7", NULL);
    assert_int_equal(
        fill(fx, ":1:perms:bulk-7", "[\"shop.view\",\"shop.edit\"]", "1", cf_wall_us()), 1);

    /* A deleted role does the same for its members. */
    role_event(fx, "RoleDeleted", "deleted-role", 3, cf_wall_us(), NONE);
    wait_all_handled(fx);
    expect_perms(fx, "outsider-2", NULL);
    expect_perms(fx, "outsider-1", "[\"shop.view\"]");
    assert_true(metric(fx, "cachefleet_events_applied_total{consumer=\"access\","
                           "type=\"role_deleted\"}") >= 1);
}

/* ------------------------------------------------------------------------
 * Sessions (seed 4)
 * ------------------------------------------------------------------------ */

/* Two sessions of a user, one of another user; the first user is deleted
 * everywhere by type, perms too when deactivated. */
static void purge_case(struct fixture *fx, const char *type, const char *user, const char *other,
                       bool drops_perms)
{
    char k1[33], k2[33], k3[33];
    const struct list perms = LIST("shop.view");
    roles_changed(fx, user, 1, cf_wall_us(), NONE, LIST("staff"), &perms);
    login(fx, user, 2, k1);
    login(fx, user, 3, k2);
    login(fx, other, 1, k3);
    wait_all_handled(fx);
    assert_true(session_exists(fx, k1));
    assert_true(session_exists(fx, k2));
    assert_int_equal(index_size(fx, "cf:sessions:", user), 2);
    char index[128];
    snprintf(index, sizeof(index), ":1:cf:sessions:%s", user);
    long long ttl = cf_fleet_ttl(&fx->fleet, index);
    assert_true(ttl > 1209500 && ttl <= 1209600);

    user_event(fx, type, user, 4);
    wait_all_handled(fx);
    assert_false(session_exists(fx, k1));
    assert_false(session_exists(fx, k2));
    assert_int_equal(integer(fx, "EXISTS %s", index, NULL), 0);
    /* The other user's session and index are untouched. */
    assert_true(session_exists(fx, k3));
    assert_true(index_has(fx, "cf:sessions:", other, k3));
    expect_perms(fx, user, drops_perms ? NULL : "[\"shop.view\"]");
}

static void test_deactivated_purges_sessions_and_perms(void **state)
{
    purge_case(*state, "UserDeactivated", "s-1", "s-1-other", true);
}

static void test_password_changed_purges_sessions(void **state)
{
    purge_case(*state, "UserPasswordChanged", "s-2", "s-2-other", false);
}

static void test_logged_out_everywhere_purges_sessions(void **state)
{
    purge_case(*state, "UserLoggedOutEverywhere", "s-3", "s-3-other", false);
}

static void test_logout_removes_one_key(void **state)
{
    struct fixture *fx = *state;
    char k1[33], k2[33];
    login(fx, "s-4", 1, k1);
    login(fx, "s-4", 2, k2);
    wait_all_handled(fx);
    assert_int_equal(index_size(fx, "cf:sessions:", "s-4"), 2);
    session_event(fx, "UserLoggedOut", "s-4", 3, k1);
    wait_all_handled(fx);
    assert_int_equal(index_size(fx, "cf:sessions:", "s-4"), 1);
    assert_false(index_has(fx, "cf:sessions:", "s-4", k1));
    assert_true(index_has(fx, "cf:sessions:", "s-4", k2));
    assert_true(session_exists(fx, k2));
}

/* A purge of a user with no session: applied, nothing created. */
static void test_purge_without_sessions(void **state)
{
    struct fixture *fx = *state;
    double applied = metric(fx, "cachefleet_events_applied_total{consumer=\"access\","
                                "type=\"user_password_changed\"}");
    user_event(fx, "UserPasswordChanged", "s-5", 1);
    user_event(fx, "UserDeactivated", "s-5", 2);
    wait_all_handled(fx);
    assert_true(metric(fx, "cachefleet_events_applied_total{consumer=\"access\","
                           "type=\"user_password_changed\"}") == applied + 1);
    assert_int_equal(integer(fx, "EXISTS %s", ":1:cf:sessions:s-5", NULL), 0);
}

/* With access.revoke_sessions_on_role_revoke off (the default), losing a
 * role leaves the sessions alone. */
static void test_revocation_keeps_sessions_by_default(void **state)
{
    struct fixture *fx = *state;
    char k1[33];
    login(fx, "s-6", 1, k1);
    roles_changed(fx, "s-6", 2, cf_wall_us(), NONE, LIST("admin", "staff"), NULL);
    roles_changed(fx, "s-6", 3, cf_wall_us(), LIST("admin", "staff"), LIST("staff"), NULL);
    wait_all_handled(fx);
    assert_true(session_exists(fx, k1));
    assert_true(index_has(fx, "cf:sessions:", "s-6", k1));
    assert_false(index_has(fx, "cf:role:", "admin", "s-6"));
}

/* Replays (a redelivery, a producer's retry, a rewound partition) of a
 * user's older events after newer ones: the index keeps the newer state.
 * Index add, remove and purge carry the user's version. */
static void test_replayed_login_after_logout(void **state)
{
    struct fixture *fx = *state;
    char k1[33];
    double refused = metric(fx, "cachefleet_ops_refused_total{");
    login(fx, "v-1", 1, k1);
    wait_all_handled(fx);
    assert_true(index_has(fx, "cf:sessions:", "v-1", k1));
    session_event(fx, "UserLoggedOut", "v-1", 2, k1);
    wait_all_handled(fx);
    assert_false(index_has(fx, "cf:sessions:", "v-1", k1));

    /* The login replayed: the session is not back in the index. */
    session_event(fx, "UserLoggedIn", "v-1", 1, k1);
    wait_all_handled(fx);
    assert_false(index_has(fx, "cf:sessions:", "v-1", k1));
    assert_int_equal(integer(fx, "EXISTS %s", ":1:cf:sessions:v-1", NULL), 0);
    assert_true(metric(fx, "cachefleet_ops_refused_total{") >= refused + 1);

    /* The same for a role: joined at 3, left at 4, the join replayed. */
    const struct list perms = LIST("shop.view");
    const struct list none = NONE;
    roles_changed(fx, "v-1", 3, cf_wall_us(), NONE, LIST("replayed-role"), &perms);
    roles_changed(fx, "v-1", 4, cf_wall_us(), LIST("replayed-role"), NONE, &none);
    wait_all_handled(fx);
    roles_changed(fx, "v-1", 3, cf_wall_us() - 1000000, NONE, LIST("replayed-role"), &perms);
    wait_all_handled(fx);
    assert_false(index_has(fx, "cf:role:", "replayed-role", "v-1"));
    expect_perms(fx, "v-1", "[]");
    /* So the role's next change leaves the user's permissions alone. */
    role_event(fx, "RolePermissionsChanged", "replayed-role", 2, cf_wall_us(), LIST("shop.x"));
    wait_all_handled(fx);
    expect_perms(fx, "v-1", "[]");
}

/* A deactivation replayed after a newer login: the newer session stays,
 * in Django's cache and in the index (the next purge still finds it). */
static void test_replayed_deactivation_spares_newer_session(void **state)
{
    struct fixture *fx = *state;
    char k1[33], k2[33];
    login(fx, "v-2", 1, k1);
    user_event(fx, "UserDeactivated", "v-2", 2);
    wait_all_handled(fx);
    assert_false(session_exists(fx, k1));
    login(fx, "v-2", 3, k2);
    wait_all_handled(fx);
    assert_true(session_exists(fx, k2));

    user_event(fx, "UserDeactivated", "v-2", 2);
    wait_all_handled(fx);
    assert_true(session_exists(fx, k2));
    assert_true(index_has(fx, "cf:sessions:", "v-2", k2));
    /* An older login replayed after it does not come back either. */
    session_event(fx, "UserLoggedIn", "v-2", 1, k1);
    wait_all_handled(fx);
    assert_false(index_has(fx, "cf:sessions:", "v-2", k1));
    assert_int_equal(index_size(fx, "cf:sessions:", "v-2"), 1);

    /* A newer purge still takes the newer session. */
    user_event(fx, "UserPasswordChanged", "v-2", 4);
    wait_all_handled(fx);
    assert_false(session_exists(fx, k2));
    assert_int_equal(integer(fx, "EXISTS %s", ":1:cf:sessions:v-2", NULL), 0);
}

/* ------------------------------------------------------------------------
 * Bad input
 * ------------------------------------------------------------------------ */

struct dlq_seen {
    int count;
    char reasons[8][256];
    char origin_topic[8][64];
};

static void on_dlq(const struct cf_test_msg *msg, void *opaque)
{
    struct dlq_seen *seen = opaque;
    if (seen->count >= 8)
        return;
    const void *v;
    size_t len;
    int i = seen->count++;
    if (rd_kafka_header_get_last(msg->headers, "cachefleet.reason", &v, &len) == 0)
        snprintf(seen->reasons[i], sizeof(seen->reasons[i]), "%.*s", (int)len, (const char *)v);
    if (rd_kafka_header_get_last(msg->headers, "cachefleet.topic", &v, &len) == 0)
        snprintf(seen->origin_topic[i], sizeof(seen->origin_topic[i]), "%.*s", (int)len,
                 (const char *)v);
}

static void test_poison_goes_to_dead_letter_and_stream_goes_on(void **state)
{
    struct fixture *fx = *state;
    const char garbage[] = "\x07not avro at all";
    cf_fleet_produce(&fx->fleet, TOPIC, "bad", garbage, sizeof(garbage) - 1);
    user_event(fx, "UserPasswordChanged", "bad id", 1);
    session_event(fx, "UserLoggedIn", "p-1", 1, "NOT-A-DJANGO-KEY");
    const struct list empty_codename = LIST("shop.view", "");
    roles_changed(fx, "p-2", 1, cf_wall_us(), NONE, LIST("staff"), &empty_codename);
    role_event(fx, "RoleDeleted", "role:1", 1, cf_wall_us(), NONE);
    const struct list perms = LIST("shop.after_poison");
    roles_changed(fx, "p-3", 1, cf_wall_us(), NONE, LIST("staff"), &perms);
    wait_all_handled(fx);
    expect_perms(fx, "p-3", "[\"shop.after_poison\"]");
    expect_perms(fx, "p-2", NULL);
    assert_int_equal(integer(fx, "EXISTS %s", ":1:cf:sessions:p-1", NULL), 0);
    assert_false(index_has(fx, "cf:role:", "staff", "p-2"));

    struct dlq_seen seen;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(
        cf_test_consume_all(fx->fleet.broker.bootstrap, TOPIC ".dlq", 5, 20000, on_dlq, &seen), 5);
    int undecodable = 0, user_id = 0, session_key = 0, codename = 0, role_id = 0;
    for (int i = 0; i < seen.count; i++) {
        const char *r = seen.reasons[i];
        undecodable += strncmp(r, "undecodable: ", 13) == 0;
        user_id += strcmp(r, "unsafe-id: user_id has a space at byte 3") == 0;
        session_key += strncmp(r, "invalid-field: session_key has a byte other than", 48) == 0;
        codename += strncmp(r, "invalid-field: permissions item 1 is 0 bytes", 44) == 0;
        role_id += strcmp(r, "unsafe-id: role_id has a colon at byte 4") == 0;
        assert_null(strstr(r, "NOT-A-DJANGO-KEY"));
        assert_string_equal(seen.origin_topic[i], TOPIC);
    }
    if (undecodable != 1 || user_id != 1 || session_key != 1 || codename != 1 || role_id != 1) {
        for (int i = 0; i < seen.count; i++)
            print_error("dead letter %d: %s\n", i, seen.reasons[i]);
        fail_msg("unexpected dead-letter reasons");
    }
    assert_true(metric(fx, "cachefleet_deadletter_reasons_total{consumer=\"access\","
                           "reason=\"invalid-field\"}") >= 2);
    assert_true(metric(fx, "cachefleet_deadletter_reasons_total{consumer=\"access\","
                           "reason=\"unsafe-id\"}") >= 2);
}

/* ------------------------------------------------------------------------
 * A second run: sessions purged on a role revocation
 * ------------------------------------------------------------------------ */

static void test_revoke_setting_purges_sessions(void **state)
{
    struct fixture *fx = *state;
    /* Everything produced so far is handled and committed by the first
     * consumer (it commits when it stops); the second one, in the same
     * group, starts from there, and its counters start from zero. */
    cf_consumer_stop(&fx->consumer);
    fx->fleet.produced = 0;
    char *const env[] = {"CACHEFLEET_ACCESS_REVOKE_SESSIONS_ON_ROLE_REVOKE=true", NULL};
    cf_consumer_start(&fx->consumer, &fx->fleet, "access", env);

    char k1[33], k2[33], k3[33];
    login(fx, "r-1", 1, k1);
    login(fx, "r-1", 2, k2);
    login(fx, "r-2", 1, k3);
    roles_changed(fx, "r-1", 3, cf_wall_us(), NONE, LIST("admin", "staff"), NULL);
    roles_changed(fx, "r-2", 2, cf_wall_us(), NONE, LIST("staff"), NULL);
    wait_all_handled(fx);
    assert_true(session_exists(fx, k1));
    assert_true(session_exists(fx, k2));

    /* r-1 loses admin: every session goes; r-2 only gains one: kept. */
    const struct list perms = LIST("shop.view");
    roles_changed(fx, "r-1", 4, cf_wall_us(), LIST("admin", "staff"), LIST("staff"), &perms);
    roles_changed(fx, "r-2", 3, cf_wall_us(), LIST("staff"), LIST("staff", "admin"), &perms);
    wait_all_handled(fx);
    assert_false(session_exists(fx, k1));
    assert_false(session_exists(fx, k2));
    assert_int_equal(integer(fx, "EXISTS %s", ":1:cf:sessions:r-1", NULL), 0);
    assert_true(session_exists(fx, k3));
    assert_true(index_has(fx, "cf:sessions:", "r-2", k3));
    expect_perms(fx, "r-1", "[\"shop.view\"]");
    assert_false(index_has(fx, "cf:role:", "admin", "r-1"));
    assert_true(index_has(fx, "cf:role:", "admin", "r-2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perms_warmed_with_ttl),
        cmocka_unit_test(test_perms_invalidated_without_permissions),
        cmocka_unit_test(test_older_roles_event_does_not_overwrite),
        cmocka_unit_test(test_role_fanout_to_thousands_of_members),
        cmocka_unit_test(test_deactivated_purges_sessions_and_perms),
        cmocka_unit_test(test_password_changed_purges_sessions),
        cmocka_unit_test(test_logged_out_everywhere_purges_sessions),
        cmocka_unit_test(test_logout_removes_one_key),
        cmocka_unit_test(test_purge_without_sessions),
        cmocka_unit_test(test_revocation_keeps_sessions_by_default),
        cmocka_unit_test(test_replayed_login_after_logout),
        cmocka_unit_test(test_replayed_deactivation_spares_newer_session),
        cmocka_unit_test(test_poison_goes_to_dead_letter_and_stream_goes_on),
        /* Last: it replaces the consumer. */
        cmocka_unit_test(test_revoke_setting_purges_sessions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
