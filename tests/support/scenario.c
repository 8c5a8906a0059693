/* scenario.c - a whole fleet under a fault, judged by the oracle. */
#include "scenario.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

#define PARTITIONS 8

const char *const cf_consumer_names[CF_NCONSUMERS] = {"products", "carts", "orders", "access",
                                                      "stock"};

void cf_scenario_start(struct cf_scenario *sc, const char *tag, int brokers,
                       const char *extra_redis_conf, char *const extra_env[])
{
    memset(sc, 0, sizeof(*sc));
    cf_test_tmpdir(tag, sc->fleet.dir, sizeof(sc->fleet.dir));
    if (cf_redis_start(&sc->fleet.redis, sc->fleet.dir, extra_redis_conf) < 0)
        fail_msg("redis did not start");
    if (cf_broker_start(&sc->fleet.broker, sc->fleet.dir, brokers, PARTITIONS, NULL) < 0)
        fail_msg("the broker did not start");
    sc->fleet.rc = cf_redis_connect(&sc->fleet.redis);
    if (!sc->fleet.rc)
        fail_msg("cannot connect to redis");
    sc->fleet.tp = cf_test_producer_new(sc->fleet.broker.bootstrap);
    for (int i = 0; i < CF_NCONSUMERS; i++) {
        cf_consumer_spawn(&sc->consumers[i], &sc->fleet, cf_consumer_names[i], extra_env);
        sc->running[i] = 1;
    }
    for (int i = 0; i < CF_NCONSUMERS; i++)
        cf_consumer_wait_ready(&sc->consumers[i]);
}

void cf_scenario_stop(struct cf_scenario *sc)
{
    if (sc->sim.started && !sc->sim.reaped)
        cf_proc_stop(&sc->sim, 5000);
    for (int i = 0; i < CF_NCONSUMERS; i++) {
        if (sc->running[i])
            cf_consumer_stop(&sc->consumers[i]);
        sc->running[i] = 0;
    }
    cf_fleet_stop(&sc->fleet);
}

void cf_scenario_sim_start(struct cf_scenario *sc, long events, long rate, long seed)
{
    char prog[PATH_MAX], brokers[PATH_MAX], schemas[PATH_MAX], ev[32], rt[32], sd[32];
    snprintf(brokers, sizeof(brokers), "%s", sc->fleet.broker.bootstrap_file);
    snprintf(schemas, sizeof(schemas), "%s", cf_test_schemas_dir());
    snprintf(ev, sizeof(ev), "%ld", events);
    snprintf(rt, sizeof(rt), "%ld", rate);
    snprintf(sd, sizeof(sd), "%ld", seed);
    snprintf(sc->sim_log, sizeof(sc->sim_log), "%s/sim-%ld.out", sc->fleet.dir, seed);
    char *const argv[] = {cf_test_program("cachefleet-sim", prog, sizeof(prog)),
                          "--brokers-file", brokers, "--schemas", schemas, "--events", ev,
                          "--rate", rt, "--seed", sd, "--products", "500", "--categories", "30",
                          "--users", "300", "--quiet", NULL};
    if (cf_proc_spawn(&sc->sim, argv, NULL, sc->sim_log) < 0)
        fail_msg("cannot start the simulator");
}

void cf_scenario_sim_wait(struct cf_scenario *sc, int timeout_ms)
{
    int status = -1;
    if (cf_proc_wait(&sc->sim, timeout_ms, &status) < 0 || status != 0) {
        cf_print_log_tail("simulator", sc->sim_log, 2000);
        fail_msg("the simulator did not finish cleanly (status %d)", status);
    }
    /* The summary is the last line of its output. */
    FILE *f = fopen(sc->sim_log, "r");
    assert_non_null(f);
    char line[8192], last[8192] = "";
    while (fgets(line, sizeof(line), f))
        if (line[0] == '{')
            memcpy(last, line, sizeof(last));
    fclose(f);
    json_t *j = json_loads(last, 0, NULL);
    if (!j)
        fail_msg("no summary from the simulator");
    sc->sim_events = (long)json_integer_value(json_object_get(j, "delivered"));
    json_decref(j);
    assert_true(sc->sim_events > 0);
}

long cf_scenario_group_behind(const char *bootstrap, const char *group, const char *topic)
{
    char err[512];
    return cf_oracle_group_behind(bootstrap, group, topic, 5000, err, sizeof(err));
}

void cf_scenario_wait_caught_up(struct cf_scenario *sc, int timeout_ms)
{
    cf_test_producer_flush(sc->fleet.tp, 10000);
    int64_t deadline = cf_mono_ms() + timeout_ms;
    long behind = 0;
    while (cf_mono_ms() < deadline) {
        behind = 0;
        for (int i = 0; i < CF_NCONSUMERS && behind >= 0; i++) {
            char group[64], topic[64];
            snprintf(group, sizeof(group), "cachefleet-%s", cf_consumer_names[i]);
            snprintf(topic, sizeof(topic), "shop.%s", cf_consumer_names[i]);
            long b = cf_scenario_group_behind(sc->fleet.broker.bootstrap, group, topic);
            behind = b < 0 ? -1 : behind + b;
        }
        if (behind == 0)
            return;
        usleep(200000);
    }
    for (int i = 0; i < CF_NCONSUMERS; i++)
        if (sc->running[i])
            cf_print_log_tail(cf_consumer_names[i], sc->consumers[i].log, 1500);
    fail_msg("the consumer groups are %ld events behind after %d ms", behind, timeout_ms);
}

void cf_scenario_judge(struct cf_scenario *sc, const char *fault, int64_t since_us,
                       struct cf_oracle_report *report)
{
    char err[512], summary[512];
    struct cf_oracle *o = cf_oracle_new(cf_test_schemas_dir(), ":1:", err, sizeof(err));
    if (!o)
        fail_msg("oracle: %s", err);
    if (cf_oracle_read_kafka(o, sc->fleet.broker.bootstrap, NULL, 30000, err, sizeof(err)) < 0)
        fail_msg("oracle: %s", err);
    if (cf_oracle_check(o, sc->fleet.rc, cf_wall_us(), since_us, report, err, sizeof(err)) < 0)
        fail_msg("oracle: %s", err);
    cf_oracle_destroy(o);
    cf_oracle_report_summary(report, summary, sizeof(summary));
    print_message("fault: %s; events produced %ld; %s\n", fault, sc->sim_events, summary);
    if (!cf_oracle_report_ok(report)) {
        cf_oracle_report_print(report, stderr);
        fail_msg("the cache is not right after: %s", fault);
    }
    assert_int_equal(report->missing, 0);
    assert_int_equal(report->stale, 0);
    assert_true(report->keys_checked > 0);
    assert_true(report->events >= (uint64_t)sc->sim_events);
}

int cf_scenario_log_count(const struct cf_scenario *sc, enum cf_consumer_id id, const char *text)
{
    FILE *f = fopen(sc->consumers[id].log, "r");
    if (!f)
        return -1;
    char line[16384];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, text) != NULL;
    fclose(f);
    return n;
}
