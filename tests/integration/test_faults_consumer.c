/* test_faults_consumer.c - consumers killed, stopped and scaled under a
 * running fleet.  Ends with the oracle's figures: 0 missing, 0 stale.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "httpget.h"
#include "scenario.h"

/* A consumer killed with SIGKILL in the middle of the stream (mid-batch:
 * it applies a batch every few milliseconds) and started again: the
 * events after its last commit are read again and applied again, which
 * leaves the cache right. */
static void test_consumer_killed_and_restarted(void **state)
{
    (void)state;
    struct cf_scenario sc;
    cf_scenario_start(&sc, "fault-kill", 1, NULL, NULL);
    cf_scenario_sim_start(&sc, 6000, 1500, 31);
    sleep(3);
    for (int i = 0; i < CF_NCONSUMERS; i++) {
        if (i != CF_STOCK && i != CF_CARTS)
            continue;
        assert_int_equal(cf_proc_signal(&sc.consumers[i].proc, SIGKILL), 0);
        int status = 0;
        assert_int_equal(cf_proc_wait(&sc.consumers[i].proc, 5000, &status), 0);
        assert_int_equal(status, 128 + SIGKILL);
        sc.running[i] = 0;
    }
    sleep(1);
    cf_consumer_spawn(&sc.consumers[CF_STOCK], &sc.fleet, "stock", NULL);
    cf_consumer_spawn(&sc.consumers[CF_CARTS], &sc.fleet, "carts", NULL);
    sc.running[CF_STOCK] = sc.running[CF_CARTS] = 1;
    cf_consumer_wait_ready(&sc.consumers[CF_STOCK]);
    cf_consumer_wait_ready(&sc.consumers[CF_CARTS]);
    cf_scenario_sim_wait(&sc, 60000);
    cf_scenario_wait_caught_up(&sc, 60000);
    struct cf_oracle_report rep;
    cf_scenario_judge(&sc, "stock and carts consumers SIGKILLed mid-stream, restarted 1 s later",
                      0, &rep);
    cf_scenario_stop(&sc);
}

/* Two instances of one consumer in one group: the second starts in the
 * middle of the stream and takes half the partitions, the first stops
 * later and hands them all over.  Nothing is lost and no older version
 * overwrites a newer one. */
static void test_two_instances(void **state)
{
    (void)state;
    struct cf_scenario sc;
    cf_scenario_start(&sc, "fault-pair", 1, NULL, NULL);
    cf_scenario_sim_start(&sc, 8000, 1000, 32);
    sleep(2);
    struct cf_consumer_proc second;
    cf_consumer_spawn(&second, &sc.fleet, "products", NULL);
    /* Joining a busy group takes a rebalance round of the loopback broker:
     * a few seconds, much longer under the sanitizers on two shared cores. */
    char body[256] = "";
    for (int64_t deadline = cf_mono_ms() + 90000;
         cf_http_get(second.http_port, "/readyz", body, sizeof(body), 1000) != 200;
         usleep(100000)) {
        if (cf_mono_ms() > deadline || !cf_proc_alive(&second.proc)) {
            cf_print_log_tail("products (second)", second.log, 4000);
            cf_proc_stop(&second.proc, 5000);
            fail_msg("the second products instance did not get partitions: %s", body);
        }
    }
    /* Both products instances hold partitions now (readiness of the second
     * means it holds some; the first gives them up cooperatively). */
    double a = 0, b = 0;
    for (int64_t deadline = cf_mono_ms() + 30000;; usleep(200000)) {
        a = cf_consumer_metric(&sc.consumers[CF_PRODUCTS], "cachefleet_assigned_partitions{");
        b = cf_consumer_metric(&second, "cachefleet_assigned_partitions{");
        if (a >= 1 && b >= 1 && a + b == 8)
            break;
        if (cf_mono_ms() > deadline)
            fail_msg("partitions after the second instance joined: %.0f + %.0f", a, b);
    }
    sleep(2); /* both apply for a while */
    /* The first one stops (SIGTERM: applies and commits what it holds,
     * leaves the group). */
    cf_consumer_stop(&sc.consumers[CF_PRODUCTS]);
    sc.running[CF_PRODUCTS] = 0;
    /* The survivor gets them all (a rebalance of the loopback broker takes
     * a few seconds). */
    int64_t deadline = cf_mono_ms() + 30000;
    while (cf_consumer_metric(&second, "cachefleet_assigned_partitions{") != 8) {
        if (cf_mono_ms() > deadline)
            fail_msg("the remaining instance holds %.0f partitions, not 8",
                     cf_consumer_metric(&second, "cachefleet_assigned_partitions{"));
        usleep(200000);
    }
    cf_scenario_sim_wait(&sc, 60000);
    cf_scenario_wait_caught_up(&sc, 60000);
    struct cf_oracle_report rep;
    cf_scenario_judge(&sc,
                      "second products instance joined mid-stream, the first left 3 s later",
                      0, &rep);
    sc.consumers[CF_PRODUCTS] = second;
    sc.running[CF_PRODUCTS] = 1;
    cf_scenario_stop(&sc);
}

/* The offsets a group has committed on topic, summed (a fresh group's
 * topic starts at 0). */
static long committed_sum(struct cf_scenario *sc, const char *group, const char *topic)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", sc->fleet.broker.bootstrap, err,
                                       sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (int p = 0; p < 8; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p);
    assert_int_equal(rd_kafka_committed(rk, parts, 5000), 0);
    long sum = 0;
    for (int p = 0; p < 8; p++)
        sum += parts->elems[p].offset > 0 ? (long)parts->elems[p].offset : 0;
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return sum;
}

/* The last "stopped" log line's field. */
static long stopped_field(const char *log, const char *field)
{
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[16384];
    long v = -1;
    while (fgets(line, sizeof(line), f)) {
        if (!strstr(line, "\"msg\":\"stopped\""))
            continue;
        json_t *j = json_loads(line, 0, NULL);
        if (j)
            v = (long)json_integer_value(json_object_get(j, field));
        json_decref(j);
    }
    fclose(f);
    return v;
}

/* SIGTERM while busy: the batch in hand is applied and committed, the
 * group is left, and the program exits 0 within a few seconds.  What it
 * applied is exactly what it committed; a second instance goes on from
 * there and the cache ends right. */
static void test_sigterm_applies_commits_and_leaves(void **state)
{
    (void)state;
    struct cf_scenario sc;
    cf_scenario_start(&sc, "fault-term", 1, NULL, NULL);
    cf_scenario_sim_start(&sc, 30000, 0, 33); /* a backlog: the stock consumer is busy */
    sleep(3);
    int64_t t0 = cf_mono_ms();
    assert_int_equal(cf_proc_signal(&sc.consumers[CF_STOCK].proc, SIGTERM), 0);
    int status = -1;
    assert_int_equal(cf_proc_wait(&sc.consumers[CF_STOCK].proc, 10000, &status), 0);
    int64_t took = cf_mono_ms() - t0;
    sc.running[CF_STOCK] = 0;
    assert_int_equal(status, 0);
    print_message("SIGTERM to exit: %lld ms\n", (long long)took);
    assert_true(took < 5000);

    long applied = stopped_field(sc.consumers[CF_STOCK].log, "events_applied");
    long lettered = stopped_field(sc.consumers[CF_STOCK].log, "events_deadlettered");
    long committed = committed_sum(&sc, "cachefleet-stock", "shop.stock");
    print_message("stock consumer: applied %ld, dead-lettered %ld, committed %ld\n", applied,
                  lettered, committed);
    assert_true(applied > 0);
    assert_int_equal(applied + lettered, committed);
    assert_int_equal(cf_scenario_log_count(&sc, CF_STOCK, "partitions revoked"), 1);

    cf_consumer_start(&sc.consumers[CF_STOCK], &sc.fleet, "stock", NULL);
    sc.running[CF_STOCK] = 1;
    cf_scenario_sim_wait(&sc, 90000);
    cf_scenario_wait_caught_up(&sc, 90000);
    struct cf_oracle_report rep;
    cf_scenario_judge(&sc, "stock consumer SIGTERMed while busy, another started after", 0, &rep);
    cf_scenario_stop(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consumer_killed_and_restarted),
        cmocka_unit_test(test_two_instances),
        cmocka_unit_test(test_sigterm_applies_commits_and_leaves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
