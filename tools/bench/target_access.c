/* target_access.c - the access consumer in the benchmark's table.
 *
 * What it owns: the access workload (the simulator's shop seen through
 * shop.access: sign-ups, role grants and revokes with the user's
 * permissions, role permission changes fanned out to their members,
 * logins, logouts, password changes, deactivations), the key the plain SET
 * baseline writes (perms:{user} with the permissions array), and the
 * synthetic workload of the "role members" scaling table.  The sample
 * check is the model's (check.h): perms values, their markers, and the
 * role and session index sets.
 *
 * DESIGN
 * Role members: the cost of a RolePermissionsChanged grows with the
 * members of the role (one fan-out operation; Redis walks the set and
 * writes every member's marker).  The synthetic workload first puts
 * `members` users into role "bench" (UserRolesChanged with their
 * permissions) among at least SYNTH_JOINS_PER_FANOUT joins per fan-out (the
 * rest into other roles, so the rate of the joins is measured on enough
 * events), then cfg->events RolePermissionsChanged of "bench".  The report derives
 * the time of one fan-out from the difference with the 1-member point.
 *
 * Thread: the main thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "clock.h"
#include "encode.h"
#include "rng.h"
#include "targets.h"

#define PERMS_KEY_PREFIX       ":1:perms:"
#define SYNTH_JOINS_PER_FANOUT 100 /* joins at least, per fan-out */
#define SYNTH_OTHER_ROLES      500

static int access_describe(const struct shop_event *ev, const void *data, size_t len,
                           struct bench_event *meta, char *errstr, size_t errstr_size)
{
    (void)ev;
    (void)data;
    (void)len;
    (void)errstr;
    (void)errstr_size;
    return 0;
}

/* The permissions a UserRolesChanged carries, as the JSON array the
 * consumer caches (the codenames are plain ASCII words: no escaping). */
static int access_side_value(const struct shop_event *ev, struct bench_events *es, char *errstr,
                             size_t errstr_size)
{
    if (ev->type != SHOP_USER_ROLES_CHANGED || !ev->has_permissions)
        return 0;
    char json[SHOP_MAX_PERMISSIONS * 80 + 3];
    size_t len = 0;
    json[len++] = '[';
    for (uint32_t i = 0; i < ev->permissions.count; i++) {
        int n = snprintf(json + len, sizeof(json) - len, "%s\"%s\"", i ? "," : "",
                         ev->permissions.names[i]);
        if (n < 0 || (size_t)n >= sizeof(json) - len - 1) {
            snprintf(errstr, errstr_size, "access: a permissions array over %zu bytes",
                     sizeof(json));
            return -1;
        }
        len += (size_t)n;
    }
    json[len++] = ']';
    bench_events_set_side_value(es, json, len);
    return 0;
}

static int access_generate(const char *schemas_dir, uint64_t seed, size_t n,
                           struct bench_events *out, char *errstr, size_t errstr_size)
{
    /* The simulator's default shop of 2,000 users: its roles' fan-outs
     * walk up to that many members (the "role members" table measures
     * more).  With 50,000 users (one per twenty events) the fleet's
     * functions fell to ~3,100 events/s here, 0.5% of the events being
     * role changes that each walk most users. */
    (void)n;
    size_t users = SHOP_DEFAULT_USERS;
    const struct bench_shop_workload w = {
        .name = "access",
        .topic = SHOP_TOPIC_ACCESS,
        .categories = 60,
        .products = 1000,
        .users = (uint32_t)users,
        .describe = access_describe,
        .side_value = access_side_value,
    };
    return bench_shop_generate(&w, schemas_dir, seed, n, out, errstr, errstr_size);
}

static size_t access_cache_key(const struct bench_event *ev, char *buf, size_t size)
{
    int n = snprintf(buf, size, PERMS_KEY_PREFIX "%s", ev->key);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* ------------------------------------------------------------------------
 * Synthetic workload: the members of a role whose permissions change
 * ------------------------------------------------------------------------ */

static int access_synthesize(const char *schemas_dir, uint64_t seed, const struct bench_synth *cfg,
                             struct bench_events *out, char *errstr, size_t errstr_size)
{
    static const char *const perms[] = {"shop.view_order", "shop.change_order",
                                        "catalog.view_product", "catalog.change_product"};
    static const char *const perms_json =
        "[\"shop.view_order\",\"shop.change_order\",\"catalog.view_product\","
        "\"catalog.change_product\"]";
    int rc = -1;
    char why[512];
    struct sim_encoder *enc =
        sim_encoder_new(schemas_dir, "access.avsc", SIM_FRAMING_CONFLUENT, why, sizeof(why));
    if (!enc) {
        snprintf(errstr, errstr_size, "access: encoder: %s", why);
        return -1;
    }
    size_t joins = SYNTH_JOINS_PER_FANOUT * cfg->events;
    if (joins < cfg->members)
        joins = cfg->members;
    size_t fanouts = cfg->events;
    struct sim_rng rng;
    sim_rng_seed(&rng, seed, 17);
    int64_t t0 = cf_wall_us();
    for (size_t i = 0; i < joins + fanouts; i++) {
        int64_t ts = t0 + (int64_t)i;
        char event_id[SIM_UUID_LEN + 1], id[32], role[32];
        sim_rng_uuid(&rng, event_id);
        struct bench_event meta;
        memset(&meta, 0, sizeof(meta));
        avro_value_t body;
        int bad;
        if (i < joins) {
            /* User i+1 joins "bench" (the first `members`) or another role. */
            snprintf(id, sizeof(id), "%zu", i + 1);
            if (i < cfg->members)
                snprintf(role, sizeof(role), "bench");
            else
                snprintf(role, sizeof(role), "other%zu", i % SYNTH_OTHER_ROLES);
            const char *roles[1] = {role};
            meta.version = 1;
            bad = sim_encoder_begin(enc, event_id, 1, ts, "UserRolesChanged", &body, why,
                                    sizeof(why)) < 0 ||
                  sim_avro_set_string(&body, "user_id", id, why, sizeof(why)) < 0 ||
                  sim_avro_set_string_array(&body, "roles_before", NULL, 0, why, sizeof(why)) < 0 ||
                  sim_avro_set_string_array(&body, "roles_after", roles, 1, why, sizeof(why)) < 0 ||
                  sim_avro_set_optional_string_array(&body, "permissions", true, perms, 4, why,
                                                     sizeof(why)) < 0;
            meta.type = SHOP_USER_ROLES_CHANGED;
        } else {
            snprintf(id, sizeof(id), "bench");
            meta.version = (uint64_t)(i - joins + 1);
            bad = sim_encoder_begin(enc, event_id, (int64_t)meta.version, ts,
                                    "RolePermissionsChanged", &body, why, sizeof(why)) < 0 ||
                  sim_avro_set_string(&body, "role_id", id, why, sizeof(why)) < 0 ||
                  sim_avro_set_string_array(&body, "permissions", perms, 4, why, sizeof(why)) < 0;
            meta.type = SHOP_ROLE_PERMISSIONS_CHANGED;
        }
        const void *data;
        size_t len;
        if (bad || sim_encoder_finish(enc, &data, &len, why, sizeof(why)) < 0) {
            snprintf(errstr, errstr_size, "access: synthetic event: %s", why);
            goto fail;
        }
        meta.entity = bench_parse_id(id);
        meta.ts_us = ts;
        snprintf(meta.key, sizeof(meta.key), "%s", id);
        bench_events_add(out, data, len, &meta);
        if (i < joins)
            bench_events_set_side_value(out, perms_json, strlen(perms_json));
    }
    rc = 0;

fail:
    sim_encoder_destroy(enc);
    return rc;
}

/* Fan-outs per point: enough to time at 100,000 members, few enough that
 * the largest point stays within seconds. */
#define SYNTH_FANOUTS 50

static const struct bench_synth_point access_points[] = {
    {"role members", "1", "members1", {SYNTH_FANOUTS, 0, 0, 1}, 5},
    {"role members", "100", "members100", {SYNTH_FANOUTS, 0, 0, 100}, 0},
    {"role members", "10,000", "members10k", {SYNTH_FANOUTS, 0, 0, 10000}, 0},
    {"role members", "100,000", "members100k", {SYNTH_FANOUTS, 0, 0, 100000}, 0},
};

const struct bench_target bench_target_access = {
    .name = "access",
    .topic = "shop.access",
    .program = "cachefleet-access",
    .def = &access_consumer,
    .phases = BENCH_TARGET_AGE,
    .age_from_start = 1,
    .compression = 1.5,
    .value_note = "SET perms:{user} to the permissions array (sessions and role sets "
                  "are SADD/SREM in the consumer)",
    .generate = access_generate,
    .synthesize = access_synthesize,
    .synth_points = access_points,
    .nsynth_points = sizeof(access_points) / sizeof(access_points[0]),
    .cache_key = access_cache_key,
};
